//! Where each job's backups go, compared across jobs: two jobs whose keys
//! would land in the same place (however the place is spelled) are
//! refused, since each one's retention would delete the other's backups;
//! and a job whose longest key the storage cannot hold is refused before
//! its first backup fails.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use jiff::Timestamp;

use super::Checker;
use super::storage::NAME_MAX;
use crate::config::error::ErrorKind;
use crate::config::model::*;
use crate::naming::{BackupName, Layout, MANIFEST_SUFFIX, Unit};

/// What the checks across jobs need of one job, valid or not.
#[derive(Debug, Clone)]
pub(super) struct Outline {
    pub name: String,
    pub naming: Naming,
    pub format: DumpFormat,
    pub compression: CompressionKind,
    /// Whether its keys end in `.age`.
    pub encrypted: bool,
    /// Whether it backs up several databases (each in a directory).
    pub cluster: bool,
    /// The storages it writes to; those that do not exist are skipped.
    pub storages: Vec<String>,
}

/// The longest object key S3 takes, in bytes of UTF-8.
const S3_KEY_MAX: usize = 1024;
/// The longest path Linux takes (PATH_MAX, with its terminating NUL).
const PATH_MAX: usize = 4096 - 1;

const fn digits(mut n: u64) -> usize {
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

/// What local storage adds to a file's name while writing it:
/// `.{name}.partial-{pid}-{counter}` (see `storage::local`), the process id
/// a `u32` and the counter a `u64` at their longest.
const LOCAL_TEMP_EXTRA: usize =
    ".".len() + ".partial-".len() + digits(u32::MAX as u64) + "-".len() + digits(u64::MAX);

/// Checks every (job, storage) pair: key lengths, and that no two pairs
/// write the same keys.
pub(super) fn check(c: &mut Checker, jobs: &[Outline], storage: &BTreeMap<String, StorageConfig>) {
    let mut seen: BTreeMap<String, (&Outline, &str)> = BTreeMap::new();
    for job in jobs {
        for name in &job.storages {
            let Some(s) = storage.get(name) else {
                continue;
            };
            check_lengths(c, job, name, s);
            let at = location(job, s);
            match seen.get(&at) {
                None => {
                    seen.insert(at, (job, name));
                }
                Some((other, other_storage)) => {
                    clash(c, (other, other_storage), (job, name), &shown_root(s));
                }
            }
        }
    }
    check_cluster_folders(c, jobs, storage);
}

/// Refuses a job whose keys would lie inside the folder where a job of
/// several databases keeps one folder per database: that job's listing
/// (and so its retention) would take them for a database's.
fn check_cluster_folders(
    c: &mut Checker,
    jobs: &[Outline],
    storage: &BTreeMap<String, StorageConfig>,
) {
    let pairs = || {
        jobs.iter().flat_map(|job| {
            job.storages
                .iter()
                .filter_map(move |name| Some((job, storage.get(name)?)))
        })
    };
    for (cluster, s) in pairs().filter(|(job, _)| job.cluster) {
        let folder = format!("{}/{}", root(s), layout(cluster, s).job_dir());
        for (other, t) in pairs().filter(|(job, _)| job.name != cluster.name) {
            let dir = format!("{}/{}", root(t), layout(other, t).dir());
            if dir.starts_with(&folder) && dir != folder {
                c.err(
                    ErrorKind::Invalid,
                    &format!("jobs.{}.storage", other.name),
                    format!(
                        "its backups would lie in {}, inside the folder where job {:?} keeps                          a folder per database; its retention could take them for a                          database's: give it another prefix",
                        shown_root(t),
                        cluster.name
                    ),
                );
            }
        }
    }
}

/// Reports that `b` would write where `a` does.
fn clash(c: &mut Checker, a: (&Outline, &str), b: (&Outline, &str), root: &str) {
    let ((a, a_storage), (b, b_storage)) = (a, b);
    if a.name == b.name {
        let message = if a_storage == b_storage {
            format!("lists storage {a_storage:?} twice")
        } else {
            format!(
                "storages {a_storage:?} and {b_storage:?} are the same place ({root}); \
                 each backup would be written there twice"
            )
        };
        c.err(
            ErrorKind::Invalid,
            &format!("jobs.{}.storage", b.name),
            message,
        );
        return;
    }
    let both_legacy = a.naming == Naming::Legacy && b.naming == Naming::Legacy;
    let key = format!(
        "jobs.{}.{}",
        b.name,
        if both_legacy { "naming" } else { "storage" }
    );
    let via = if a_storage == b_storage {
        format!("storage {a_storage:?}")
    } else {
        format!("storages {a_storage:?} and {b_storage:?}, the same place")
    };
    c.err(
        ErrorKind::Invalid,
        &key,
        format!(
            "jobs {:?} and {:?} would write the same keys under {root} ({via}); their \
             backups could not be told apart and each one's retention would delete \
             the other's",
            a.name, b.name
        ),
    );
}

/// Refuses a job whose longest key `storage` cannot hold.
fn check_lengths(c: &mut Checker, job: &Outline, storage_name: &str, storage: &StorageConfig) {
    let longest = longest_key(job, storage);
    let job_name = match job.naming {
        Naming::Job => format!(", the job's name {} bytes", job.name.len()),
        Naming::Legacy => String::new(),
    };
    let shorten = match job.naming {
        Naming::Job => "shorten the job's name or the storage's prefix",
        Naming::Legacy => "shorten the storage's prefix",
    };
    let key = format!("jobs.{}", job.name);
    match storage {
        StorageConfig::S3(s3) => {
            if longest.len() > S3_KEY_MAX {
                c.err(
                    ErrorKind::Invalid,
                    &key,
                    format!(
                        "its longest key in storage {storage_name:?} would be {} bytes \
                         (the prefix {} bytes{job_name}), more than the {S3_KEY_MAX} S3 \
                         takes; {shorten}",
                        longest.len(),
                        s3.prefix.len(),
                    ),
                );
            }
        }
        StorageConfig::Local(local) => {
            let file = longest.rsplit('/').next().unwrap_or_default();
            let file_len = file.len() + LOCAL_TEMP_EXTRA;
            if file_len > NAME_MAX {
                let over = file_len - NAME_MAX;
                c.err(
                    ErrorKind::Invalid,
                    &key,
                    format!(
                        "its longest file name in storage {storage_name:?} would be \
                         {file_len} bytes (a manifest being written{job_name}), more \
                         than the {NAME_MAX} a file name takes; shorten the job's name \
                         by {over} bytes"
                    ),
                );
            }
            let path_len = local.path.as_os_str().len() + 1 + longest.len() + LOCAL_TEMP_EXTRA;
            if path_len > PATH_MAX {
                c.err(
                    ErrorKind::Invalid,
                    &key,
                    format!(
                        "its longest path in storage {storage_name:?} would be {path_len} \
                         bytes (the path {} bytes, the prefix {}{job_name}), more than the \
                         {PATH_MAX} Linux takes; {shorten} or path",
                        local.path.as_os_str().len(),
                        local.prefix.len(),
                    ),
                );
            }
        }
    }
}

/// The longest key `job` can write to `storage`: the highest same-second
/// sequence number a key can hold, and the manifest beside the backup.
fn longest_key(job: &Outline, storage: &StorageConfig) -> String {
    let name = BackupName {
        at: Timestamp::UNIX_EPOCH,
        seq: u32::MAX,
        format: job.format,
        compression: job.compression,
        encrypted: job.encrypted,
    };
    // The longest database name PostgreSQL takes (63 bytes) of letters:
    // a name of other characters, spelled %XX in keys, can be longer; a
    // storage refusing it fails that database's backup, naming the cause.
    let longest_db = Unit::Database("d".repeat(63));
    let mut layout = layout(job, storage);
    if job.cluster {
        layout.unit = &longest_db;
    }
    let key = layout.key(&name);
    format!("{key}{MANIFEST_SUFFIX}")
}

fn layout<'a>(job: &'a Outline, storage: &'a StorageConfig) -> Layout<'a> {
    let prefix = match storage {
        StorageConfig::S3(s3) => &s3.prefix,
        StorageConfig::Local(local) => &local.prefix,
    };
    Layout {
        prefix,
        naming: job.naming,
        job: &job.name,
        unit: &Unit::Whole,
    }
}

/// Where `job`'s keys go in `storage`, spelled one way: two jobs whose
/// locations are equal write (and list, and prune) the same keys. The
/// layout's directory and stem decide it, so one sample key stands for all.
fn location(job: &Outline, storage: &StorageConfig) -> String {
    let sample = BackupName {
        at: Timestamp::UNIX_EPOCH,
        seq: 0,
        format: DumpFormat::Plain,
        compression: CompressionKind::None,
        encrypted: false,
    };
    format!("{}/{}", root(storage), layout(job, storage).key(&sample))
}

/// The bucket or directory of a storage, spelled one way: an S3 endpoint
/// as lower-case scheme, host and port (the default port made explicit)
/// and its path without a trailing '/', AWS's by its region when none is
/// set; a local path with '.', '..' and repeated '/' resolved (symbolic
/// links are not followed: validation reads no file system).
fn root(storage: &StorageConfig) -> String {
    match storage {
        StorageConfig::S3(s3) => {
            let endpoint = match &s3.endpoint {
                None => format!("aws:{}", s3.region.to_ascii_lowercase()),
                Some(text) => normal_endpoint(text),
            };
            format!("s3 {endpoint} {}", s3.bucket)
        }
        StorageConfig::Local(local) => format!("file {}", normal_path(&local.path)),
    }
}

fn normal_endpoint(text: &str) -> String {
    match url::Url::parse(text.trim()) {
        Ok(u) => format!(
            "{}://{}:{}{}",
            u.scheme().to_ascii_lowercase(),
            u.host_str().unwrap_or_default().to_ascii_lowercase(),
            u.port_or_known_default().unwrap_or_default(),
            u.path().trim_end_matches('/')
        ),
        Err(_) => text.trim().trim_end_matches('/').to_ascii_lowercase(),
    }
}

/// `path` with its components resolved; the root is the empty string, so
/// that joining with '/' never doubles it.
fn normal_path(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for part in path.components() {
        match part {
            Component::Prefix(_) | Component::RootDir => parts.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
        }
    }
    parts.iter().map(|p| format!("/{p}")).collect()
}

/// A storage's bucket or directory and prefix, for messages.
fn shown_root(storage: &StorageConfig) -> String {
    match storage {
        StorageConfig::S3(s3) => {
            let at = s3
                .endpoint
                .as_deref()
                .map_or_else(|| format!("AWS {}", s3.region), str::to_string);
            format!("s3://{}/{} at {at}", s3.bucket, s3.prefix)
        }
        StorageConfig::Local(local) => {
            format!("{}/{}", normal_path(&local.path), local.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_compared_as_urls() {
        for (a, b) in [
            ("http://H:9000", "http://h:9000/"),
            ("HTTP://Minio:9000//", "http://minio:9000"),
            ("https://s3.example.com", "https://s3.example.com:443"),
            ("http://minio", "http://minio:80/"),
            (" http://minio:9000", "http://minio:9000"),
        ] {
            assert_eq!(normal_endpoint(a), normal_endpoint(b), "{a} = {b}");
        }
        for (a, b) in [
            ("http://minio:9000", "https://minio:9000"),
            ("http://minio:9000", "http://minio:9001"),
            ("http://minio:9000/a", "http://minio:9000/b"),
            ("http://minio", "http://minio2"),
        ] {
            assert_ne!(normal_endpoint(a), normal_endpoint(b), "{a} != {b}");
        }
    }

    #[test]
    fn paths_are_compared_with_dots_and_slashes_resolved() {
        for (path, normal) in [
            ("/var/backups", "/var/backups"),
            ("/var//backups/", "/var/backups"),
            ("/var/./backups", "/var/backups"),
            ("/var/x/../backups", "/var/backups"),
            ("/", ""),
            ("/..", ""),
        ] {
            assert_eq!(normal_path(Path::new(path)), normal, "{path}");
        }
    }

    #[test]
    fn the_temp_suffix_is_as_long_as_local_storage_makes_it() {
        let longest = format!(".{}.partial-{}-{}", "", u32::MAX, u64::MAX);
        assert_eq!(LOCAL_TEMP_EXTRA, longest.len());
    }
}
