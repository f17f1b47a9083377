//! A job's whole run: the backup, then its verification, the removal of
//! dead runs' leftovers and retention, in every storage that received it.

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use super::{BackupError, Outcome, StoredCopy, Tidied, back_up};
use crate::config::JobConfig;
use crate::storage::NamedStorage;

/// A job's whole run: the backup, then its verification (when
/// configured), the removal of dead runs' leftovers and retention, in
/// every storage the backup was written to; for a job of several
/// databases or with globals, that for each ([`crate::cluster::run`]). A storage that failed makes
/// the run a failure, after the others were tidied. Cancellation stops
/// every step; once the backup is stored it is reported as such.
pub async fn back_up_verify_prune(
    job: &JobConfig,
    storages: &[NamedStorage],
    now: Timestamp,
    cancel: &CancellationToken,
) -> Result<Outcome, BackupError> {
    if job.runs_as_units() {
        return Box::pin(crate::cluster::run(job, storages, now, cancel)).await;
    }
    let mut outcome = back_up(job, storages, now, cancel).await?;
    let stored: Vec<(&NamedStorage, &StoredCopy)> = outcome
        .copies
        .iter()
        .filter_map(|c| Some((storages.iter().find(|s| s.name == c.storage)?, c)))
        .collect();
    if job.verify_after_backup {
        verify_copies(job, &stored, cancel).await?;
    }
    for (s, copy) in &stored {
        let tidied = match cancel.is_cancelled() {
            true => None,
            false => tokio::select! {
                tidied = tidy(job, s, &copy.backup.key) => Some(tidied),
                _ = cancel.cancelled() => None,
            },
        };
        let tidied = tidied.unwrap_or_else(|| {
            // The backup is stored; only the tidying waits for next time,
            // and the run is not a full success.
            tracing::warn!(job = %job.name, storage = %s.name, "shutdown: leftovers and retention are left for the next run; the backup is stored");
            Tidied {
                storage: s.name.clone(),
                deleted: 0,
                problems: vec![format!(
                    "a shutdown came before leftovers and retention in {}",
                    s.name
                )],
            }
        });
        outcome.tidied.push(tidied);
    }
    if !outcome.failures.is_empty() {
        return Err(BackupError::Partly {
            stored: outcome.copies.iter().map(|c| c.storage.clone()).collect(),
            failures: std::mem::take(&mut outcome.failures),
        });
    }
    Ok(outcome)
}

/// How old a dead run's leftovers must be to be removed.
pub fn abandoned_after(job: &JobConfig) -> SignedDuration {
    SignedDuration::try_from(job.abandoned_upload_after).unwrap_or(SignedDuration::MAX)
}

/// After a backup to `s` as `just_taken`: removes dead runs' leftovers,
/// then applies retention (if the job has rules); failures are logged and
/// returned, the backup stays stored.
async fn tidy(job: &JobConfig, s: &NamedStorage, just_taken: &str) -> Tidied {
    let storage = s.storage.as_ref();
    let abandoned_after = abandoned_after(job);
    let now = Timestamp::now();
    let mut tidied = Tidied {
        storage: s.name.clone(),
        deleted: 0,
        problems: Vec::new(),
    };
    if let Err(e) = crate::leftovers::remove(job, &s.name, storage, now, abandoned_after).await {
        tracing::error!(job = %job.name, storage = %s.name, error = %e, "cannot look for leftovers of stopped runs");
        tidied
            .problems
            .push(format!("looking for leftovers in {}: {e}", s.name));
    }
    if !job.retention.has_rules() {
        return tidied;
    }
    let when = crate::prune::When {
        now,
        just_taken: Some(just_taken),
        abandoned_after,
    };
    match crate::prune::prune(job, &s.name, storage, when, false).await {
        Ok(pruned) => {
            tracing::info!(
                job = %job.name,
                storage = %s.name,
                kept = pruned.kept(),
                deleted = pruned.deleted,
                failed = pruned.failed,
                "retention applied"
            );
            tidied.deleted = pruned.deleted as u64;
            if pruned.failed > 0 {
                tidied.problems.push(format!(
                    "retention in {}: {} backups due for deletion could not be deleted",
                    s.name, pruned.failed
                ));
            }
        }
        Err(e) => {
            tracing::error!(job = %job.name, storage = %s.name, error = %e, "retention could not list the backups");
            tidied.problems.push(format!(
                "retention in {}: cannot list the backups: {e}",
                s.name
            ));
        }
    }
    tidied
}

/// Verifies the copies a backup just wrote; logged like a backup.
async fn verify_copies(
    job: &JobConfig,
    stored: &[(&NamedStorage, &StoredCopy)],
    cancel: &CancellationToken,
) -> Result<(), BackupError> {
    for (s, copy) in stored {
        let result = crate::verify::verify(
            s.storage.as_ref(),
            &copy.backup,
            job.verify_restore_into.as_ref(),
            None,
            cancel,
        )
        .await;
        match result {
            Ok(verified) => tracing::info!(
                job = %job.name,
                storage = %s.name,
                key = %copy.backup.key,
                tables = verified.restored.map(|r| r.0),
                rows = verified.restored.map(|r| r.1),
                content_checked = verified.opened,
                "verification passed"
            ),
            Err(e) => {
                tracing::error!(job = %job.name, storage = %s.name, error = %e, "verification failed");
                return Err(e.into());
            }
        }
    }
    Ok(())
}
