//! Applying retention to one job in one storage: a fresh, complete listing
//! (no local state), the pure plan, then deletions, each logged; a failed
//! deletion is logged and the rest go on.

use jiff::Timestamp;

use crate::config::JobConfig;
use crate::destination::{Store, StoreError};
use crate::naming::{self, Layout};
use crate::retention::{self, Decision, Listed};

/// What one prune did.
#[derive(Debug, Clone)]
pub struct Report {
    pub storage: String,
    pub decisions: Vec<Decision>,
    pub deleted: usize,
    pub failed: usize,
}

/// The job's backups in `store`: only keys its own naming produced.
pub async fn listing(job: &JobConfig, store: &Store) -> Result<Vec<Listed>, StoreError> {
    let layout = Layout {
        prefix: store.prefix(),
        naming: job.naming,
        job: &job.name,
    };
    let keys = store.list(&layout.dir()).await?;
    let all: std::collections::BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    Ok(keys
        .iter()
        .filter_map(|key| {
            let name = layout.parse(key)?;
            Some(Listed {
                key: key.clone(),
                at: name.at,
                complete: all.contains(naming::manifest_key(key).as_str()),
            })
        })
        .collect())
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
    let listed = listing(job, store).await?;
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
