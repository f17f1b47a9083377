//! A job's backups in one storage, as its own naming sees them: listed
//! (paginated, no local state), newest first, and picked by `--latest`,
//! `--at TIME` or `--key KEY`.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::config::JobConfig;
use crate::naming::{self, BackupName, Layout};
use crate::storage::{Storage, StorageError};

/// One backup of a job in one storage: what a listing shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub key: String,
    /// What its key says: time, format, compression.
    pub name: BackupName,
    /// Bytes stored.
    pub size: u64,
    /// Its manifest (with the SHA-256) exists.
    pub complete: bool,
}

/// Why no backup could be picked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    #[error("no backup of this job has the key {0:?}")]
    NoSuchKey(String),
    #[error("the job has no backup")]
    NoBackup,
    #[error("no backup was taken at or before {0}")]
    NoneAtOrBefore(Timestamp),
    #[error(
        "{0:?} is not a time: use RFC 3339 (2026-11-28T03:00:00Z) or 2026-11-28_03-00-00 (UTC)"
    )]
    BadTime(String),
}

/// Where `job` keeps its backups in `storage`.
pub fn layout<'a>(job: &'a JobConfig, storage: &'a dyn Storage) -> Layout<'a> {
    Layout {
        prefix: storage.prefix(),
        naming: job.naming,
        job: &job.name,
    }
}

/// Every backup of `job` in `storage`, newest first: only keys its own
/// naming produced under its own prefix.
pub async fn backups(job: &JobConfig, storage: &dyn Storage) -> Result<Vec<Backup>, StorageError> {
    let layout = layout(job, storage);
    let objects = storage.list(&layout.dir()).await?;
    let keys: BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let mut out: Vec<Backup> = objects
        .iter()
        .filter_map(|o| {
            Some(Backup {
                key: o.key.clone(),
                name: layout.parse(&o.key)?,
                size: o.size,
                complete: keys.contains(naming::manifest_key(&o.key).as_str()),
            })
        })
        .collect();
    newest_first(&mut out);
    Ok(out)
}

/// Sorts newest first; in one second, the later sequence number first.
pub fn newest_first(backups: &mut [Backup]) {
    backups.sort_by(|a, b| (b.name.at, b.name.seq, &b.key).cmp(&(a.name.at, a.name.seq, &a.key)));
}

/// Which backup a command means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    Latest,
    /// The newest backup taken at or before this time.
    At(Timestamp),
    Key(String),
}

/// Parses `--at`: RFC 3339 (`2026-11-28T03:00:00Z`, `...+01:00`) or the
/// timestamp of a key (`2026-11-28_03-00-00`, UTC).
pub fn parse_time(text: &str) -> Result<Timestamp, PickError> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    DateTime::strptime("%Y-%m-%d_%H-%M-%S", text)
        .ok()
        .and_then(|dt| dt.to_zoned(TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| PickError::BadTime(text.to_string()))
}

/// Picks from `backups` (newest first). Backups with a manifest are
/// preferred; only when none has one (backups of the tool keepsake
/// replaces) are the others considered.
pub fn pick<'a>(backups: &'a [Backup], pick: &Pick) -> Result<&'a Backup, PickError> {
    if let Pick::Key(key) = pick {
        return backups
            .iter()
            .find(|b| &b.key == key)
            .ok_or_else(|| PickError::NoSuchKey(key.clone()));
    }
    let any_complete = backups.iter().any(|b| b.complete);
    let mut candidates = backups.iter().filter(|b| b.complete || !any_complete);
    match pick {
        Pick::Latest => candidates.next().ok_or(PickError::NoBackup),
        Pick::At(t) => candidates
            .find(|b| b.name.at <= *t)
            .ok_or(PickError::NoneAtOrBefore(*t)),
        Pick::Key(_) => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::{CompressionKind, DumpFormat};

    fn backup(at: &str, complete: bool) -> Backup {
        Backup {
            key: format!("k-{at}"),
            name: BackupName {
                at: at.parse().unwrap(),
                seq: 0,
                format: DumpFormat::Plain,
                compression: CompressionKind::Gzip,
            },
            size: 1,
            complete,
        }
    }

    fn list() -> Vec<Backup> {
        vec![
            backup("2026-11-28T03:00:00Z", false),
            backup("2026-11-27T03:00:00Z", true),
            backup("2026-11-26T03:00:00Z", true),
        ]
    }

    #[test]
    fn latest_is_the_newest_complete_backup() {
        assert_eq!(
            pick(&list(), &Pick::Latest).unwrap().key,
            "k-2026-11-27T03:00:00Z"
        );
        let old_tool = vec![
            backup("2026-11-28T03:00:00Z", false),
            backup("2026-11-27T03:00:00Z", false),
        ];
        assert_eq!(
            pick(&old_tool, &Pick::Latest).unwrap().key,
            "k-2026-11-28T03:00:00Z"
        );
        assert!(pick(&[], &Pick::Latest).is_err());
    }

    #[test]
    fn at_picks_the_newest_not_after_the_time() {
        let at = |t: &str| pick(&list(), &Pick::At(parse_time(t).unwrap())).map(|b| b.key.clone());
        assert_eq!(
            at("2026-11-27T03:00:00Z").unwrap(),
            "k-2026-11-27T03:00:00Z"
        );
        assert_eq!(
            at("2026-11-27T02:59:59Z").unwrap(),
            "k-2026-11-26T03:00:00Z"
        );
        assert_eq!(at("2026-11-27_12-00-00").unwrap(), "k-2026-11-27T03:00:00Z");
        assert_eq!(
            at("2026-11-27T04:30:00+01:00").unwrap(),
            "k-2026-11-27T03:00:00Z"
        );
        assert!(at("2026-11-01T00:00:00Z").is_err());
    }

    #[test]
    fn key_must_be_one_of_the_jobs_backups() {
        assert!(pick(&list(), &Pick::Key("k-2026-11-28T03:00:00Z".into())).is_ok());
        assert!(pick(&list(), &Pick::Key("other".into())).is_err());
    }

    #[test]
    fn bad_times_are_explained() {
        assert!(
            parse_time("yesterday")
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
    }
}
