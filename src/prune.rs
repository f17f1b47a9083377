//! Applying retention to one job in one storage: a fresh, complete listing
//! (no local state), the pure plan, then deletions, each logged; a failed
//! deletion is logged and the rest go on.

use jiff::Timestamp;

use crate::config::JobConfig;
use crate::naming;
use crate::retention::{self, Decision};
use crate::storage::{Storage, StorageError};

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

/// Plans retention for `job` in `storage` (called `name` in logs) and,
/// unless `dry_run`, deletes what the plan drops: each backup with its
/// manifest.
pub async fn prune(
    job: &JobConfig,
    name: &str,
    storage: &dyn Storage,
    now: Timestamp,
    dry_run: bool,
) -> Result<Pruned, StorageError> {
    let backups = crate::catalog::backups(job, storage).await?;
    let decisions = retention::plan(&job.retention, &backups, now, &job.timezone.tz);
    let mut pruned = Pruned {
        decisions,
        deleted: 0,
        failed: 0,
    };
    if dry_run {
        return Ok(pruned);
    }
    for decision in pruned.decisions.iter().filter(|d| d.deleted()) {
        let key = &decision.backup.key;
        let result = async {
            storage.delete(key).await?;
            if decision.backup.complete {
                storage.delete(&naming::manifest_key(key)).await?;
            }
            Ok::<(), StorageError>(())
        }
        .await;
        match result {
            Ok(()) => {
                pruned.deleted += 1;
                tracing::info!(job = %job.name, storage = name, key = %key, "retention deleted an old backup");
            }
            Err(e) => {
                pruned.failed += 1;
                tracing::error!(job = %job.name, storage = name, key = %key, error = %e, "retention could not delete a backup");
            }
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

    fn now() -> Timestamp {
        "2026-11-05T00:00:00Z".parse().unwrap()
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
