//! A local directory as storage. Each object is written to a hidden temp
//! file beside its final name, fsynced, then linked into place (which never
//! replaces an existing file) and the directory fsynced.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::fs::{self, File};
use tokio::io::AsyncWriteExt;

use async_trait::async_trait;

use super::{ErrorKind, ObjectInfo, ObjectReader, Storage, StorageError, Unfinished, Upload};
use crate::config::LocalConfig;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);
/// Temp files this process is writing: never removed as leftovers, even
/// when a dead process of the same pid (PID 1 in a container) left
/// others.
static OPEN_TEMPS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn track_temp(path: &Path, open: bool) {
    let mut paths = OPEN_TEMPS.lock().expect("open temps lock");
    paths.retain(|p| p != path);
    if open {
        paths.push(path.to_path_buf());
    }
}

#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
    prefix: String,
}

impl LocalStorage {
    pub fn new(config: &LocalConfig) -> LocalStorage {
        LocalStorage {
            root: config.path.clone(),
            prefix: config.prefix.clone(),
        }
    }

    fn error(&self, op: &'static str, key: &str, err: impl std::fmt::Display) -> StorageError {
        StorageError::new(self.describe(), op, key, err.to_string())
    }

    /// The files (not directories) in the directory `prefix` names, with
    /// their metadata; none when it does not exist.
    async fn files_in(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, std::fs::Metadata)>, StorageError> {
        let path = self.dir_of(prefix)?;
        let mut entries = match fs::read_dir(&path).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("list", prefix, e)),
        };
        let mut files = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| self.error("list", prefix, e))?
        {
            let (Ok(name), Ok(meta)) = (entry.file_name().into_string(), entry.metadata().await)
            else {
                continue;
            };
            if meta.is_file() {
                files.push((name, meta));
            }
        }
        Ok(files)
    }

    /// The directory of the keys under `prefix` (which ends in `/` or is
    /// empty).
    fn dir_of(&self, prefix: &str) -> Result<PathBuf, StorageError> {
        let dir = prefix.trim_end_matches('/');
        if dir.is_empty() {
            Ok(self.root.clone())
        } else {
            self.path_of(dir)
        }
    }

    /// The file of `key`; keys never climb out of the root.
    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        let bad = key.is_empty()
            || key.starts_with('/')
            || key
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..");
        if bad {
            return Err(self.error("resolve", key, "not a valid relative key"));
        }
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl Storage for LocalStorage {
    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Creates the directory if needed, so a bad path fails before a dump.
    async fn preflight(&self) -> Result<(), StorageError> {
        private_dirs(&self.root)
            .await
            .map_err(|e| self.error("mkdir", "", e))
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        let path = self.path_of(key)?;
        fs::try_exists(&path)
            .await
            .map_err(|e| self.error("stat", key, e))
    }

    /// A file's writer is not recorded: linking a finished file either
    /// happens or fails, no answer is ever lost.
    async fn written_by(&self, _key: &str) -> Result<Option<String>, StorageError> {
        Ok(None)
    }

    /// Temp files (`.NAME.partial-PID-N`) in the directory `prefix` names.
    async fn unfinished(&self, prefix: &str) -> Result<Vec<Unfinished>, StorageError> {
        let mut found: Vec<Unfinished> = self
            .files_in(prefix)
            .await?
            .into_iter()
            .filter_map(|(file, meta)| {
                let (name, _) = parse_temp_name(&file)?;
                let id = format!("{prefix}{file}");
                let ours = OPEN_TEMPS
                    .lock()
                    .expect("open temps lock")
                    .contains(&self.root.join(&id));
                Some(Unfinished {
                    key: format!("{prefix}{name}"),
                    id,
                    started: modified(&meta),
                    ours,
                })
            })
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    async fn discard(&self, unfinished: &Unfinished) -> Result<(), StorageError> {
        let path = self.path_of(&unfinished.id)?;
        match fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error("delete", &unfinished.id, e)),
        }
    }

    fn begin_upload(&self, key: &str, _run: &str) -> Box<dyn Upload> {
        Box::new(LocalUpload {
            store: self.clone(),
            key: key.to_string(),
            temp: None,
            file: None,
        })
    }

    async fn put(&self, key: &str, body: Bytes, run: &str) -> Result<(), StorageError> {
        let mut upload = self.begin_upload(key, run);
        upload.write(body).await?;
        upload.finish().await
    }

    /// Files directly in the directory `prefix` names (keys never nest
    /// deeper than their job's directory); temp files are not keys.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let mut keys: Vec<ObjectInfo> = self
            .files_in(prefix)
            .await?
            .into_iter()
            .filter(|(name, _)| !name.starts_with('.'))
            .map(|(name, meta)| ObjectInfo {
                key: format!("{prefix}{name}"),
                size: meta.len(),
                modified: modified(&meta),
            })
            .collect();
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let path = self.path_of(key)?;
        let file = File::open(&path)
            .await
            .map_err(|e| self.error("open", key, e))?;
        Ok(Box::new(file))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        match fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error("delete", key, e)),
        }
    }
}

/// A file being written under a temp name.
pub struct LocalUpload {
    store: LocalStorage,
    key: String,
    temp: Option<PathBuf>,
    file: Option<File>,
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("backup");
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}{PARTIAL}{}-{n}", std::process::id()))
}

/// When a file was last written.
fn modified(meta: &std::fs::Metadata) -> Option<jiff::Timestamp> {
    let at = meta.modified().ok()?;
    jiff::Timestamp::try_from(at).ok()
}

/// Backups hold every row of a database: their files are for keepsake's
/// user alone (0600, directories 0700), whatever the umask says.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents as 0700; existing ones are left
/// as they are (the operator's choice).
async fn private_dirs(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .await
}

/// Creates a new file readable and writable by its owner only: created
/// 0600 (a umask can only take bits away) and set to 0600 once open (so a
/// umask cannot take away the owner's either).
async fn create_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::PermissionsExt;
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .await?;
    file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
        .await?;
    Ok(file)
}

/// What marks a temp file, between the final name and `PID-N`.
const PARTIAL: &str = ".partial-";

/// The final name and the writer's pid of a temp file's name.
fn parse_temp_name(file: &str) -> Option<(&str, u32)> {
    let (name, rest) = file.strip_prefix('.')?.rsplit_once(PARTIAL)?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u64>().ok()?;
    Some((name, pid.parse().ok()?))
}

impl LocalUpload {
    async fn open(&mut self) -> Result<&mut File, StorageError> {
        if self.file.is_none() {
            let path = self.store.path_of(&self.key)?;
            if let Some(dir) = path.parent() {
                private_dirs(dir)
                    .await
                    .map_err(|e| self.store.error("mkdir", &self.key, e))?;
            }
            let temp = temp_name(&path);
            let file = create_private(&temp)
                .await
                .map_err(|e| self.store.error("create", &self.key, e))?;
            track_temp(&temp, true);
            self.temp = Some(temp);
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("file was just opened"))
    }

    async fn try_finish(&mut self) -> Result<(), StorageError> {
        let file = self.open().await?;
        let synced = async {
            file.flush().await?;
            file.sync_all().await
        };
        if let Err(e) = synced.await {
            return Err(self.store.error("fsync", &self.key, e));
        }
        self.file = None;
        let final_path = self.store.path_of(&self.key)?;
        let temp = self.temp.clone().expect("opened above");
        fs::hard_link(&temp, &final_path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                self.store
                    .error(
                        "link",
                        &self.key,
                        "the file already exists; it is never replaced",
                    )
                    .with_kind(ErrorKind::AlreadyExists)
            } else {
                self.store.error("link", &self.key, e)
            }
        })?;
        // The link is durable once the directory is synced.
        if let Some(dir) = final_path.parent()
            && let Ok(d) = File::open(dir).await
        {
            let _ = d.sync_all().await;
        }
        Ok(())
    }

    async fn remove_temp(&mut self) {
        self.file = None;
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(&temp).await;
            track_temp(&temp, false);
        }
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let file = self.open().await?;
        if let Err(e) = file.write_all(&chunk).await {
            return Err(self.store.error("write", &self.key, e));
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<(), StorageError> {
        let result = self.try_finish().await;
        self.remove_temp().await;
        result
    }

    async fn abort(mut self: Box<Self>) {
        self.remove_temp().await;
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = std::fs::remove_file(&temp);
            track_temp(&temp, false);
        }
    }
}
