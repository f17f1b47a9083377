//! Applying retention to one job in one storage: a fresh, complete listing
//! (no local state), the pure plan, then deletions in batches, each logged;
//! a failed deletion is logged and counted, and the rest go on.

use jiff::{SignedDuration, Timestamp};

use crate::catalog::State;
use crate::config::JobConfig;
use crate::naming;
use crate::retention::{self, Decision, Pass, Reason};
use crate::storage::{ErrorKind, Storage, StorageError};

/// What one pass of retention decided and did.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// Every backup, newest first, with its verdict.
    pub decisions: Vec<Decision>,
    pub deleted: usize,
    pub failed: usize,
}

impl Pruned {
    pub fn kept(&self) -> usize {
        self.decisions.iter().filter(|d| !d.deleted()).count()
    }
}

/// When and for which run retention is applied.
#[derive(Debug, Clone, Copy)]
pub struct When<'a> {
    pub now: Timestamp,
    /// The key of the backup the run applying retention has just made.
    pub just_taken: Option<&'a str>,
    /// How old an incomplete object must be to be deleted.
    pub abandoned_after: SignedDuration,
}

/// The date of a deletion refused by a lock.
fn locked(error: &StorageError) -> Option<Timestamp> {
    match error.kind {
        ErrorKind::Locked(until) => Some(until),
        _ => None,
    }
}

/// Keeps the backups due for deletion that S3 Object Lock still holds
/// (the backup or its manifest), saying until when (HEADs only on a
/// storage with locks).
async fn hold_locked(
    decisions: &mut [Decision],
    storage: &dyn Storage,
    now: Timestamp,
) -> Result<(), StorageError> {
    for d in decisions.iter_mut().filter(|d| d.deleted()) {
        let mut until = storage.locked_until(&d.backup.key, now).await?;
        if d.backup.has_manifest() {
            let manifest = naming::manifest_key(&d.backup.key);
            until = until.max(storage.locked_until(&manifest, now).await?);
        }
        if let Some(until) = until {
            tracing::debug!(key = %d.backup.key, locked_until = %until, "due for deletion but locked");
            d.keep.push(Reason::Locked(until));
        }
    }
    Ok(())
}

/// Plans retention for `job` in `storage` (called `name` in logs) and,
/// unless `dry_run`, deletes what the plan drops: each backup with its
/// manifest.
pub async fn prune(
    job: &JobConfig,
    name: &str,
    storage: &dyn Storage,
    when: When<'_>,
    dry_run: bool,
) -> Result<Pruned, StorageError> {
    let backups = crate::catalog::backups(job, storage).await?;
    let pass = Pass {
        now: when.now,
        tz: &job.timezone.tz,
        just_taken: when.just_taken,
        abandoned_after: when.abandoned_after,
    };
    let decisions = retention::plan(&job.retention, &backups, &pass);
    for d in decisions
        .iter()
        .filter(|d| d.keep.contains(&Reason::Future))
    {
        tracing::warn!(job = %job.name, storage = name, key = %d.backup.key, taken = %d.backup.name.at, "a backup is dated in the future (written on a host with a wrong clock?); it is kept and not counted by the keep rules");
    }
    let mut pruned = Pruned {
        decisions,
        deleted: 0,
        failed: 0,
    };
    hold_locked(&mut pruned.decisions, storage, when.now).await?;
    if dry_run {
        return Ok(pruned);
    }
    let doomed: Vec<&Decision> = pruned.decisions.iter().filter(|d| d.deleted()).collect();
    let mut keys = Vec::new();
    for d in &doomed {
        keys.push(d.backup.key.clone());
        if d.backup.has_manifest() {
            keys.push(naming::manifest_key(&d.backup.key));
        }
    }
    let failures = storage.delete_many(&keys).await;
    let mut held = Vec::new();
    for d in &doomed {
        let key = &d.backup.key;
        let manifest = naming::manifest_key(key);
        let failed: Vec<&StorageError> = failures
            .iter()
            .filter(|f| f.key == *key || f.key == manifest)
            .collect();
        if let Some(until) = failed.iter().find_map(|f| locked(f)) {
            // Locked after all (a version the HEAD did not show): kept
            // until then, not a failure.
            tracing::info!(job = %job.name, storage = name, key = %key, locked_until = %until, "retention keeps a backup that is locked until then");
            held.push((key.clone(), until));
        } else if let Some(e) = failed.first() {
            pruned.failed += 1;
            tracing::error!(job = %job.name, storage = name, key = %key, error = %e, "retention could not delete a backup");
        } else if d.backup.state == State::Incomplete {
            pruned.deleted += 1;
            tracing::info!(job = %job.name, storage = name, key = %key, "removed an incomplete backup (no manifest) older than abandoned_upload_after");
        } else {
            pruned.deleted += 1;
            tracing::info!(job = %job.name, storage = name, key = %key, "retention deleted an old backup");
        }
    }
    for (key, until) in held {
        if let Some(d) = pruned.decisions.iter_mut().find(|d| d.backup.key == key) {
            d.keep.push(Reason::Locked(until));
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::{MemoryStorage, Op};

    fn job(retention: &str) -> JobConfig {
        crate::config::testing::test_job(&format!("retention = {{ {retention} }}"))
    }

    /// Four nightly backups with manifests, and objects that are not the job's.
    fn storage() -> MemoryStorage {
        let m = MemoryStorage::new("a", "p");
        for day in 1..=4 {
            let key = format!("p/shop/shop-2026-11-0{day}_03-00-00.sql.gz");
            m.insert(&naming::manifest_key(&key), "{}");
            m.insert(&key, "dump");
        }
        m.insert("p/shop/notes.txt", "not a backup");
        m.insert("p/shop2/shop2-2026-11-01_03-00-00.sql.gz", "another job");
        m
    }

    fn now() -> When<'static> {
        When {
            now: "2026-11-05T00:00:00Z".parse().unwrap(),
            just_taken: None,
            abandoned_after: SignedDuration::from_hours(24),
        }
    }

    #[tokio::test]
    async fn deletes_what_the_plan_drops_with_its_manifest_and_nothing_else() {
        let m = storage();
        let pruned = prune(&job("keep_last = 2"), "a", &m, now(), false)
            .await
            .unwrap();
        assert_eq!((pruned.kept(), pruned.deleted, pruned.failed), (2, 2, 0));
        let keys = m.keys();
        assert_eq!(
            keys,
            [
                "p/shop/notes.txt",
                "p/shop/shop-2026-11-03_03-00-00.sql.gz",
                "p/shop/shop-2026-11-03_03-00-00.sql.gz.manifest.json",
                "p/shop/shop-2026-11-04_03-00-00.sql.gz",
                "p/shop/shop-2026-11-04_03-00-00.sql.gz.manifest.json",
                "p/shop2/shop2-2026-11-01_03-00-00.sql.gz",
            ]
        );
    }

    #[tokio::test]
    async fn a_dry_run_deletes_nothing() {
        let m = storage();
        let before = m.keys();
        let pruned = prune(&job("keep_last = 1"), "a", &m, now(), true)
            .await
            .unwrap();
        assert_eq!(pruned.decisions.iter().filter(|d| d.deleted()).count(), 3);
        assert_eq!(m.keys(), before);
    }

    #[tokio::test]
    async fn a_failed_delete_is_counted_and_the_others_go_on() {
        let m = storage();
        m.fail(Op::Delete, "2026-11-01");
        let pruned = prune(&job("keep_last = 2"), "a", &m, now(), false)
            .await
            .unwrap();
        assert_eq!((pruned.deleted, pruned.failed), (1, 1));
        assert!(m.object("p/shop/shop-2026-11-01_03-00-00.sql.gz").is_some());
        assert!(m.object("p/shop/shop-2026-11-02_03-00-00.sql.gz").is_none());
    }

    #[tokio::test]
    async fn a_listing_that_fails_deletes_nothing() {
        let m = storage();
        let before = m.keys();
        m.fail(Op::List, "");
        assert!(
            prune(&job("keep_last = 1"), "a", &m, now(), false)
                .await
                .is_err()
        );
        assert_eq!(m.keys(), before);
    }
}
