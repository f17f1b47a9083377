//! Applying retention to one job in one storage: a fresh, complete listing
//! (no local state), the pure plan, then deletions, each logged; a failed
//! deletion is logged and the rest go on.

use jiff::Timestamp;

use crate::config::JobConfig;
use crate::destination::{Store, StoreError};
use crate::naming;
use crate::retention::{self, Decision, Listed};

/// What one prune did.
#[derive(Debug, Clone)]
pub struct Report {
    pub storage: String,
    pub decisions: Vec<Decision>,
    pub deleted: usize,
    pub failed: usize,
}

/// Plans retention for `job` in `store` and, unless `dry_run`, deletes what
/// the plan drops (each backup with its manifest).
pub async fn prune(
    job: &JobConfig,
    storage: &str,
    store: &Store,
    now: Timestamp,
    dry_run: bool,
) -> Result<Report, StoreError> {
    let listed: Vec<Listed> = crate::catalog::backups(job, store)
        .await?
        .into_iter()
        .map(|b| Listed {
            key: b.key,
            at: b.at,
            complete: b.complete,
        })
        .collect();
    let decisions = retention::plan(&job.retention, &listed, now, &job.timezone.tz);
    let mut report = Report {
        storage: storage.to_string(),
        decisions,
        deleted: 0,
        failed: 0,
    };
    if dry_run {
        return Ok(report);
    }
    for decision in report.decisions.iter().filter(|d| d.deleted()) {
        let key = &decision.backup.key;
        let result = async {
            store.delete(key).await?;
            if decision.backup.complete {
                store.delete(&naming::manifest_key(key)).await?;
            }
            Ok::<(), StoreError>(())
        }
        .await;
        match result {
            Ok(()) => {
                report.deleted += 1;
                tracing::info!(job = %job.name, storage, key = %key, "retention deleted an old backup");
            }
            Err(e) => {
                report.failed += 1;
                tracing::error!(job = %job.name, storage, key = %key, error = %e, "retention could not delete a backup");
            }
        }
    }
    Ok(report)
}
