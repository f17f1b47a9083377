//! A job's backups in one storage, as its own naming sees them: listed
//! (paginated, no local state), newest first, and picked by `--latest`,
//! `--at TIME` or `--key KEY`.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::config::{JobConfig, Naming};
use crate::naming::{self, BackupName, Layout, Unit};
use crate::storage::{ObjectInfo, Storage, StorageError};

/// One backup of a job in one storage: what a listing shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub key: String,
    /// What its key says: time, format, compression.
    pub name: BackupName,
    /// Bytes stored.
    pub size: u64,
    pub state: State,
    /// When the object was written, if the storage says; a leftover's
    /// age counts from it (a long backup's name is older than its object).
    pub written: Option<Timestamp>,
}

impl Backup {
    /// When it was written, or else when its name says it was taken.
    pub fn written_or_taken(&self) -> Timestamp {
        self.written.unwrap_or(self.name.at)
    }
}

/// Whether a listed backup is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Its manifest (with the SHA-256) exists: keepsake finished it.
    Complete,
    /// A backup of the tool keepsake replaces: the legacy name, no
    /// manifest, no keepsake run's mark.
    Legacy,
    /// No manifest where keepsake writes one: a run that failed after the
    /// object landed. Not a backup; removed once abandoned.
    Incomplete,
}

impl Backup {
    /// Whether it counts as a backup: restorable, picked, kept by rules.
    pub fn usable(&self) -> bool {
        self.state != State::Incomplete
    }

    pub fn has_manifest(&self) -> bool {
        self.state == State::Complete
    }
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
        unit: job.unit.as_ref().unwrap_or(&Unit::Whole),
    }
}

/// Every backup of `job` in `storage`, newest first: only keys its own
/// naming produced under its own prefix.
pub async fn backups(job: &JobConfig, storage: &dyn Storage) -> Result<Vec<Backup>, StorageError> {
    let objects = storage.list(&layout(job, storage).dir()).await?;
    backups_in(job, storage, &objects).await
}

/// [`backups`] from a listing of the job's directory already made.
pub async fn backups_in(
    job: &JobConfig,
    storage: &dyn Storage,
    objects: &[ObjectInfo],
) -> Result<Vec<Backup>, StorageError> {
    let layout = layout(job, storage);
    let keys: BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let listed = objects.iter().filter_map(|o| {
        let manifest = keys.contains(naming::manifest_key(&o.key).as_str());
        let mut backup = Backup {
            key: o.key.clone(),
            name: layout.parse(&o.key)?,
            size: o.size,
            state: State::Incomplete,
            written: o.modified,
        };
        if manifest {
            backup.state = State::Complete;
        }
        Some(backup)
    });
    // Under the legacy naming an object without a manifest may be the
    // replaced tool's (in a database's folder too: one container per
    // database, merged into one job): only keepsake's mark makes it a
    // leftover.
    let mut backups = classify(listed.collect(), job.naming);
    unmask_leftovers(storage, &mut backups).await?;
    Ok(backups)
}

/// Legacy-named objects without a manifest are the replaced tool's
/// backups unless they carry a keepsake run's mark: those are keepsake's
/// own leftovers. The replaced tool may have run beside keepsake, before
/// or after it, so every one is asked (one HEAD each, legacy naming only).
async fn unmask_leftovers(
    storage: &dyn Storage,
    backups: &mut [Backup],
) -> Result<(), StorageError> {
    for backup in backups.iter_mut().filter(|b| b.state == State::Legacy) {
        if storage.written_by(&backup.key).await?.is_some() {
            backup.state = State::Incomplete;
        }
    }
    Ok(())
}

/// Gives each listed object without a manifest (state Incomplete) its
/// state, and sorts newest first. Only under the legacy naming can such an
/// object be a backup: one of the replaced tool's (unless, see
/// [`backups`], it carries keepsake's mark).
pub fn classify(mut listed: Vec<Backup>, naming: Naming) -> Vec<Backup> {
    if naming == Naming::Legacy {
        for b in listed.iter_mut().filter(|b| b.state == State::Incomplete) {
            b.state = State::Legacy;
        }
    }
    newest_first(&mut listed);
    listed
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

/// Picks from `backups` (newest first) at `now`. `--latest` and `--at`
/// see only usable backups taken before `now` (one dated in the future
/// came from a host with a wrong clock); `--key` may name any object.
pub fn pick<'a>(
    backups: &'a [Backup],
    pick: &Pick,
    now: Timestamp,
) -> Result<&'a Backup, PickError> {
    if let Pick::Key(key) = pick {
        return backups
            .iter()
            .find(|b| &b.key == key)
            .ok_or_else(|| PickError::NoSuchKey(key.clone()));
    }
    let mut candidates = backups.iter().filter(|b| b.usable() && b.name.at <= now);
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

    fn name(at: &str, seq: u32) -> BackupName {
        BackupName {
            at: at.parse().unwrap(),
            seq,
            format: DumpFormat::Plain,
            compression: CompressionKind::Gzip,
            encrypted: false,
        }
    }

    /// Listed objects: (time, same-second sequence, has a manifest).
    fn listed(objects: &[(&str, u32, bool)], naming: Naming) -> Vec<Backup> {
        let listed = objects
            .iter()
            .map(|&(at, seq, manifest)| Backup {
                key: format!("k-{at}-{seq}"),
                name: name(at, seq),
                size: 1,
                state: if manifest {
                    State::Complete
                } else {
                    State::Incomplete
                },
                written: None,
            })
            .collect();
        classify(listed, naming)
    }

    fn now() -> Timestamp {
        "2026-11-29T00:00:00Z".parse().unwrap()
    }

    fn list() -> Vec<Backup> {
        listed(
            &[
                ("2026-11-28T03:00:00Z", 0, false),
                ("2026-11-27T03:00:00Z", 0, true),
                ("2026-11-26T03:00:00Z", 0, true),
            ],
            Naming::Job,
        )
    }

    fn states(backups: &[Backup]) -> Vec<(String, State)> {
        backups.iter().map(|b| (b.key.clone(), b.state)).collect()
    }

    #[test]
    fn without_a_manifest_a_keepsake_name_is_incomplete() {
        assert_eq!(
            states(&list()),
            [
                ("k-2026-11-28T03:00:00Z-0".into(), State::Incomplete),
                ("k-2026-11-27T03:00:00Z-0".into(), State::Complete),
                ("k-2026-11-26T03:00:00Z-0".into(), State::Complete),
            ]
        );
        // Even when no backup has a manifest.
        let none = listed(&[("2026-11-28T03:00:00Z", 0, false)], Naming::Job);
        assert_eq!(none[0].state, State::Incomplete);
    }

    #[test]
    fn legacy_names_without_manifest_may_be_the_old_tools_whatever_their_date() {
        let backups = listed(
            &[
                ("2026-11-28T03:00:00Z", 0, false),
                ("2026-11-27T03:00:00Z", 0, true),
                ("2026-11-26T03:00:00Z", 0, false),
            ],
            Naming::Legacy,
        );
        let got: Vec<State> = backups.iter().map(|b| b.state).collect();
        assert_eq!(got, [State::Legacy, State::Complete, State::Legacy]);
        let old_tool_only = listed(
            &[
                ("2026-11-28T03:00:00Z", 0, false),
                ("2026-11-27T03:00:00Z", 0, false),
            ],
            Naming::Legacy,
        );
        assert!(old_tool_only.iter().all(|b| b.state == State::Legacy));
    }

    #[tokio::test]
    async fn a_legacy_name_with_keepsakes_mark_is_a_leftover() {
        use crate::storage::memory::MemoryStorage;
        let m = MemoryStorage::new("a", "p");
        let job = crate::config::testing::test_job("naming = \"legacy\"");
        m.insert("p/postgres-backup-2026-01-01_03-00-00.sql.gz", "old tool");
        let leftover = "p/postgres-backup-2026-11-01_03-00-00.sql.gz";
        m.put(leftover, bytes::Bytes::from_static(b"dump"), "run-1")
            .await
            .unwrap();
        // The old tool ran again after keepsake's first backup.
        let finished = "p/postgres-backup-2026-11-02_03-00-00.sql.gz";
        m.put(finished, bytes::Bytes::from_static(b"dump"), "run-2")
            .await
            .unwrap();
        m.insert(&naming::manifest_key(finished), "{}");
        m.insert(
            "p/postgres-backup-2026-11-03_03-00-00.sql.gz",
            "old tool again",
        );
        let got: Vec<State> = backups(&job, &m)
            .await
            .unwrap()
            .iter()
            .map(|b| b.state)
            .collect();
        assert_eq!(
            got,
            [
                State::Legacy,
                State::Complete,
                State::Incomplete,
                State::Legacy
            ]
        );
    }

    #[test]
    fn latest_is_the_newest_usable_backup() {
        assert_eq!(
            pick(&list(), &Pick::Latest, now()).unwrap().key,
            "k-2026-11-27T03:00:00Z-0"
        );
        let old_tool = listed(
            &[
                ("2026-11-28T03:00:00Z", 0, false),
                ("2026-11-27T03:00:00Z", 0, false),
            ],
            Naming::Legacy,
        );
        assert_eq!(
            pick(&old_tool, &Pick::Latest, now()).unwrap().key,
            "k-2026-11-28T03:00:00Z-0"
        );
        assert!(pick(&[], &Pick::Latest, now()).is_err());
        let only_incomplete = listed(&[("2026-11-28T03:00:00Z", 0, false)], Naming::Job);
        assert_eq!(
            pick(&only_incomplete, &Pick::Latest, now()),
            Err(PickError::NoBackup)
        );
    }

    #[test]
    fn latest_in_one_second_is_the_last_taken() {
        let backups = listed(
            &[
                ("2026-11-28T03:00:00Z", 1, true),
                ("2026-11-28T03:00:00Z", 0, true),
                ("2026-11-28T03:00:00Z", 2, true),
            ],
            Naming::Job,
        );
        assert_eq!(
            pick(&backups, &Pick::Latest, now()).unwrap().key,
            "k-2026-11-28T03:00:00Z-2"
        );
    }

    #[test]
    fn a_backup_dated_in_the_future_is_never_the_latest() {
        let backups = listed(
            &[
                ("2031-01-01T00:00:00Z", 0, true),
                ("2026-11-28T03:00:00Z", 0, true),
            ],
            Naming::Job,
        );
        assert_eq!(
            pick(&backups, &Pick::Latest, now()).unwrap().key,
            "k-2026-11-28T03:00:00Z-0"
        );
        let key = Pick::Key("k-2031-01-01T00:00:00Z-0".into());
        assert!(pick(&backups, &key, now()).is_ok());
    }

    #[test]
    fn at_picks_the_newest_not_after_the_time() {
        let at = |t: &str| {
            pick(&list(), &Pick::At(parse_time(t).unwrap()), now()).map(|b| b.key.clone())
        };
        assert_eq!(
            at("2026-11-27T03:00:00Z").unwrap(),
            "k-2026-11-27T03:00:00Z-0"
        );
        assert_eq!(
            at("2026-11-27T02:59:59Z").unwrap(),
            "k-2026-11-26T03:00:00Z-0"
        );
        assert_eq!(
            at("2026-11-27_12-00-00").unwrap(),
            "k-2026-11-27T03:00:00Z-0"
        );
        assert_eq!(
            at("2026-11-27T04:30:00+01:00").unwrap(),
            "k-2026-11-27T03:00:00Z-0"
        );
        // The incomplete one is never picked by time.
        assert_eq!(
            at("2026-11-28T12:00:00Z").unwrap(),
            "k-2026-11-27T03:00:00Z-0"
        );
        assert!(at("2026-11-01T00:00:00Z").is_err());
    }

    #[test]
    fn key_must_be_one_of_the_jobs_backups() {
        let backups = list();
        let key = |k: &str| pick(&backups, &Pick::Key(k.into()), now()).is_ok();
        assert!(key("k-2026-11-28T03:00:00Z-0"));
        assert!(!key("other"));
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
