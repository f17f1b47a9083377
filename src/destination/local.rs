//! A local directory as storage. Each object is written to a hidden temp
//! file beside its final name, fsynced, then linked into place (which never
//! replaces an existing file) and the directory fsynced.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::fs::{self, File};
use tokio::io::AsyncWriteExt;

use super::{ObjectInfo, ObjectReader, StoreError};
use crate::config::LocalConfig;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    prefix: String,
}

impl LocalStore {
    pub fn new(config: &LocalConfig) -> LocalStore {
        LocalStore {
            root: config.path.clone(),
            prefix: config.prefix.clone(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn error(&self, op: &'static str, key: &str, err: impl std::fmt::Display) -> StoreError {
        StoreError {
            store: self.describe(),
            op,
            key: key.to_string(),
            message: err.to_string(),
        }
    }

    /// The file of `key`; keys never climb out of the root.
    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
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

    /// Creates the directory if needed, so a bad path fails before a dump.
    pub async fn preflight(&self) -> Result<(), StoreError> {
        fs::create_dir_all(&self.root)
            .await
            .map_err(|e| self.error("mkdir", "", e))
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path_of(key)?;
        fs::try_exists(&path)
            .await
            .map_err(|e| self.error("stat", key, e))
    }

    pub fn begin(&self, key: &str) -> LocalUpload {
        LocalUpload {
            store: self.clone(),
            key: key.to_string(),
            temp: None,
            file: None,
        }
    }

    pub async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        let mut upload = self.begin(key);
        upload.write(body).await?;
        upload.finish().await
    }

    /// Files directly in the directory `prefix` names (keys never nest
    /// deeper than their job's directory); temp files are not keys.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let dir = prefix.trim_end_matches('/');
        let path = if dir.is_empty() {
            self.root.clone()
        } else {
            self.path_of(dir)?
        };
        let mut entries = match fs::read_dir(&path).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("list", prefix, e)),
        };
        let mut keys = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| self.error("list", prefix, e))?
        {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            if meta.is_file() && !name.starts_with('.') {
                keys.push(ObjectInfo {
                    key: format!("{prefix}{name}"),
                    size: meta.len(),
                });
            }
        }
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(keys)
    }

    pub async fn get(&self, key: &str) -> Result<ObjectReader, StoreError> {
        let path = self.path_of(key)?;
        let file = File::open(&path)
            .await
            .map_err(|e| self.error("open", key, e))?;
        Ok(Box::new(file))
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
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
    store: LocalStore,
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
    path.with_file_name(format!(".{name}.partial-{}-{n}", std::process::id()))
}

impl LocalUpload {
    async fn open(&mut self) -> Result<&mut File, StoreError> {
        if self.file.is_none() {
            let path = self.store.path_of(&self.key)?;
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)
                    .await
                    .map_err(|e| self.store.error("mkdir", &self.key, e))?;
            }
            let temp = temp_name(&path);
            let file = File::create_new(&temp)
                .await
                .map_err(|e| self.store.error("create", &self.key, e))?;
            self.temp = Some(temp);
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("file was just opened"))
    }

    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let file = self.open().await?;
        if let Err(e) = file.write_all(&chunk).await {
            return Err(self.store.error("write", &self.key, e));
        }
        Ok(())
    }

    pub async fn finish(mut self) -> Result<(), StoreError> {
        let result = self.try_finish().await;
        self.remove_temp().await;
        result
    }

    async fn try_finish(&mut self) -> Result<(), StoreError> {
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
                self.store.error(
                    "link",
                    &self.key,
                    "the file already exists; it is never replaced",
                )
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

    pub async fn abort(mut self) {
        self.remove_temp().await;
    }

    async fn remove_temp(&mut self) {
        self.file = None;
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(&temp).await;
        }
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
}
