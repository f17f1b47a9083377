//! A job's backups in one storage, as its own naming sees them: listed
//! (paginated, no local state), newest first, and picked by `--latest`,
//! `--at TIME` or `--key KEY`.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::config::{CompressionKind, DumpFormat, JobConfig};
use crate::destination::{Store, StoreError};
use crate::naming::{self, Layout};

/// One backup of a job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Backup {
    pub key: String,
    #[serde(serialize_with = "rfc3339")]
    pub at: Timestamp,
    /// Bytes stored.
    pub size: u64,
    pub format: DumpFormat,
    pub compression: CompressionKind,
    /// Its manifest (with the SHA-256) exists.
    pub complete: bool,
}

fn rfc3339<S: serde::Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_string())
}

/// The job's layout in `store`.
pub fn layout<'a>(job: &'a JobConfig, store: &'a Store) -> Layout<'a> {
    Layout {
        prefix: store.prefix(),
        naming: job.naming,
        job: &job.name,
    }
}

/// Every backup of `job` in `store`, newest first: only keys its own naming
/// produced under its own prefix.
pub async fn backups(job: &JobConfig, store: &Store) -> Result<Vec<Backup>, StoreError> {
    let layout = layout(job, store);
    let objects = store.list(&layout.dir()).await?;
    let keys: BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let mut out: Vec<Backup> = objects
        .iter()
        .filter_map(|o| {
            let name = layout.parse(&o.key)?;
            Some(Backup {
                key: o.key.clone(),
                at: name.at,
                size: o.size,
                format: name.format,
                compression: name.compression,
                complete: keys.contains(naming::manifest_key(&o.key).as_str()),
            })
        })
        .collect();
    out.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.key.cmp(&a.key)));
    Ok(out)
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
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    DateTime::strptime("%Y-%m-%d_%H-%M-%S", text)
        .ok()
        .and_then(|dt| dt.to_zoned(TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            format!("{text:?} is not a time: use RFC 3339 (2026-11-28T03:00:00Z) or 2026-11-28_03-00-00 (UTC)")
        })
}

/// Picks from `backups` (newest first). Backups with a manifest are
/// preferred; only when none has one (backups of the tool keepsake
/// replaces) are the others considered.
pub fn pick<'a>(backups: &'a [Backup], pick: &Pick) -> Result<&'a Backup, String> {
    if let Pick::Key(key) = pick {
        return backups
            .iter()
            .find(|b| &b.key == key)
            .ok_or_else(|| format!("no backup of this job has the key {key:?}"));
    }
    let any_complete = backups.iter().any(|b| b.complete);
    let mut candidates = backups.iter().filter(|b| b.complete || !any_complete);
    match pick {
        Pick::Latest => candidates
            .next()
            .ok_or_else(|| "the job has no backup".to_string()),
        Pick::At(t) => candidates
            .find(|b| b.at <= *t)
            .ok_or_else(|| format!("no backup was taken at or before {t}")),
        Pick::Key(_) => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(at: &str, complete: bool) -> Backup {
        Backup {
            key: format!("k-{at}"),
            at: at.parse().unwrap(),
            size: 1,
            format: DumpFormat::Plain,
            compression: CompressionKind::Gzip,
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
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
