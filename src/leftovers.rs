//! What runs that died leave behind, and its removal: uploads never
//! finished (an open S3 multipart upload, a local temp file), manifests
//! whose backup is gone, and incomplete backups (an object without its
//! manifest). Only what carries the job's own names, only once older than
//! `abandoned_upload_after`, never an upload this process has in flight;
//! each removal is logged. Runs at agent start and before each retention
//! pass.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use crate::catalog::{self, State};
use crate::config::JobConfig;
use crate::naming;
use crate::storage::{Storage, StorageError, Unfinished};

/// What one pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub uploads: usize,
    pub manifests: usize,
    pub incomplete: usize,
    pub failed: usize,
}

/// What a pass would remove: found in one listing, decided purely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub uploads: Vec<Unfinished>,
    /// Manifests whose backup is not there.
    pub manifests: Vec<String>,
    /// Objects without a manifest where keepsake writes one.
    pub incomplete: Vec<String>,
}

/// Finds the leftovers of `job` in `storage` abandoned before `now -
/// abandoned_after`.
pub async fn find(
    job: &JobConfig,
    storage: &dyn Storage,
    now: Timestamp,
    abandoned_after: SignedDuration,
) -> Result<Found, StorageError> {
    let layout = catalog::layout(job, storage);
    let dir = layout.dir();
    let cutoff = now.checked_sub(abandoned_after).unwrap_or(Timestamp::MIN);
    let abandoned = |at: Timestamp| at <= cutoff;
    let uploads = storage
        .unfinished(&dir)
        .await?
        .into_iter()
        .filter(|u| !u.ours)
        .filter(|u| match layout.parse(&u.key) {
            Some(name) => abandoned(u.started.unwrap_or(name.at)),
            None => false,
        })
        .collect();
    let objects = storage.list(&dir).await?;
    // An object's age is the time it was written (a manifest is written
    // just before its backup completes, however long the dump took), else
    // the time in its name.
    let keys: BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let manifests = objects
        .iter()
        .filter_map(|o| {
            let data = naming::data_key(&o.key)?;
            let name = layout.parse(data)?;
            let orphan = !keys.contains(data);
            (orphan && abandoned(o.modified.unwrap_or(name.at))).then(|| o.key.clone())
        })
        .collect();
    let incomplete = catalog::backups_in(job, storage, &objects)
        .await?
        .into_iter()
        .filter(|b| b.state == State::Incomplete && abandoned(b.written_or_taken()))
        .map(|b| b.key)
        .collect();
    Ok(Found {
        uploads,
        manifests,
        incomplete,
    })
}

/// Removes the leftovers of `job` in `storage` (called `name` in logs).
pub async fn remove(
    job: &JobConfig,
    name: &str,
    storage: &dyn Storage,
    now: Timestamp,
    abandoned_after: SignedDuration,
) -> Result<Removed, StorageError> {
    let found = find(job, storage, now, abandoned_after).await?;
    let mut removed = Removed::default();
    for upload in &found.uploads {
        match storage.discard(upload).await {
            Ok(()) => {
                removed.uploads += 1;
                tracing::info!(job = %job.name, storage = name, key = %upload.key, started = ?upload.started.map(|t| t.to_string()), "removed an upload a stopped run left unfinished");
            }
            Err(e) => {
                removed.failed += 1;
                tracing::error!(job = %job.name, storage = name, key = %upload.key, error = %e, "cannot remove an unfinished upload");
            }
        }
    }
    for (keys, what, count) in [
        (
            &found.manifests,
            "removed a manifest whose backup is gone",
            &mut removed.manifests,
        ),
        (
            &found.incomplete,
            "removed an incomplete backup (no manifest) a failed run left",
            &mut removed.incomplete,
        ),
    ] {
        let failures = storage.delete_many(keys).await;
        for key in keys {
            match failures.iter().find(|f| f.key == *key) {
                // S3 Object Lock holds it: removed on a run after that date.
                Some(e) if matches!(e.kind, crate::storage::ErrorKind::Locked(_)) => {
                    tracing::debug!(job = %job.name, storage = name, key = %key, error = %e, "a leftover is locked; it goes once its lock ends");
                }
                Some(e) => {
                    removed.failed += 1;
                    tracing::error!(job = %job.name, storage = name, key = %key, error = %e, "cannot remove a leftover");
                }
                None => {
                    *count += 1;
                    tracing::info!(job = %job.name, storage = name, key = %key, "{what}");
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::{MemoryStorage, Op};

    fn job() -> JobConfig {
        crate::config::testing::test_job("")
    }

    const DAY: SignedDuration = SignedDuration::from_hours(24);

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A finished backup, an orphan manifest, an incomplete backup and an
    /// unfinished upload, all from early November; and another job's.
    fn storage() -> MemoryStorage {
        let m = MemoryStorage::new("a", "p");
        let whole = "p/shop/shop-2026-11-01_03-00-00.sql.gz";
        m.insert(whole, "dump");
        m.insert(&naming::manifest_key(whole), "{}");
        m.insert(
            &naming::manifest_key("p/shop/shop-2026-11-02_03-00-00.sql.gz"),
            "{}",
        );
        m.insert("p/shop/shop-2026-11-03_03-00-00.sql.gz", "half a run");
        m.leave_upload(
            "p/shop/shop-2026-11-04_03-00-00.sql.gz",
            at("2026-11-04T03:00:00Z"),
        );
        m.insert("p/shop/notes.txt", "not ours");
        m.insert(&naming::manifest_key("p/shop/notes.txt"), "not ours either");
        m.leave_upload("p/shop/other-upload", at("2026-11-01T00:00:00Z"));
        m
    }

    #[tokio::test]
    async fn removes_only_the_jobs_own_abandoned_leftovers() {
        let m = storage();
        let removed = remove(&job(), "a", &m, at("2026-11-10T00:00:00Z"), DAY)
            .await
            .unwrap();
        assert_eq!(
            removed,
            Removed {
                uploads: 1,
                manifests: 1,
                incomplete: 1,
                failed: 0
            }
        );
        assert_eq!(
            m.keys(),
            [
                "p/shop/notes.txt",
                "p/shop/notes.txt.manifest.json",
                "p/shop/shop-2026-11-01_03-00-00.sql.gz",
                "p/shop/shop-2026-11-01_03-00-00.sql.gz.manifest.json",
            ]
        );
        assert_eq!(m.open_uploads(), ["p/shop/other-upload"]);
    }

    #[tokio::test]
    async fn leftovers_younger_than_the_grace_stay() {
        let m = storage();
        let found = find(&job(), &m, at("2026-11-04T12:00:00Z"), DAY)
            .await
            .unwrap();
        assert!(found.uploads.is_empty(), "{found:?}");
        assert_eq!(found.manifests.len(), 1);
        assert_eq!(found.incomplete.len(), 1);
    }

    #[tokio::test]
    async fn an_upload_in_flight_here_is_never_removed() {
        let m = MemoryStorage::new("a", "p");
        let upload = m.begin_upload("p/shop/shop-2026-11-01_03-00-00.sql.gz", "run");
        let found = find(&job(), &m, at("2030-01-01T00:00:00Z"), DAY)
            .await
            .unwrap();
        assert!(found.uploads.is_empty());
        upload.abort().await;
    }

    #[tokio::test]
    async fn a_leftover_ages_from_when_it_was_written_not_from_its_name() {
        // A long backup's manifest, written just now under a name from
        // days ago: its backup is completing, not abandoned.
        let m = MemoryStorage::new("a", "p");
        let key = "p/shop/shop-2026-11-01_03-00-00.sql.gz";
        m.put(&naming::manifest_key(key), bytes::Bytes::new(), "run")
            .await
            .unwrap();
        let found = find(&job(), &m, Timestamp::now(), DAY).await.unwrap();
        assert!(found.manifests.is_empty(), "{found:?}");
        let found = find(&job(), &m, Timestamp::now() + DAY * 2, DAY)
            .await
            .unwrap();
        assert_eq!(found.manifests.len(), 1);
    }

    #[tokio::test]
    async fn a_failed_removal_is_counted_and_the_rest_go_on() {
        let m = storage();
        m.fail(Op::Delete, "2026-11-02");
        let removed = remove(&job(), "a", &m, at("2026-11-10T00:00:00Z"), DAY)
            .await
            .unwrap();
        assert_eq!((removed.failed, removed.incomplete), (1, 1));
    }
}
