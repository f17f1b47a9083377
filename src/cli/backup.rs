//! `keepsake backup` and `keepsake prune`: the commands that write to the
//! storages.

use jiff::Timestamp;

use super::{EXIT_BACKUP_FAILED, select_jobs};
use crate::config::{Config, JobConfig};
use crate::monitor::Monitor;
use crate::monitor::report::Status;
use crate::storage::{self, NamedStorage};

/// `keepsake backup [--job NAME]...`: each job's whole run (backup, then
/// verification and retention), notified like the agent's runs; exit 4
/// when any run did not fully succeed (retention included); SIGTERM or
/// SIGINT aborts cleanly.
pub async fn backup(config: &Config, names: &[String]) -> u8 {
    let Some(jobs) = select_jobs(config, names) else {
        return 1;
    };
    let opened = storage::for_jobs(config, &jobs).await;
    let cancel = crate::shutdown::on_signal("backup");
    let monitor = Monitor::new(config);
    let mut failed = 0;
    for job in &jobs {
        let storages = storage::of_job(job, &opened);
        let report = monitor.run(job, &storages, Timestamp::now(), &cancel).await;
        if report.status == Status::Failure {
            failed += 1;
        }
    }
    // Pings and webhooks of the runs go out before the process ends.
    monitor.notifier.flush(monitor.notifier.longest()).await;
    if failed > 0 {
        tracing::error!(failed, total = jobs.len(), "not every backup succeeded");
        EXIT_BACKUP_FAILED
    } else {
        0
    }
}

/// `keepsake prune [--job NAME]... [--dry-run]`: prints, per job (per
/// part of a cluster job) and storage, every backup with KEEP (and why) or
/// DELETE.
pub async fn prune(config: &Config, names: &[String], dry_run: bool) -> u8 {
    let Some(jobs) = select_jobs(config, names) else {
        return 1;
    };
    let opened = storage::for_jobs(config, &jobs).await;
    let mut failed = false;
    for configured in &jobs {
        for s in storage::of_job(configured, &opened) {
            match crate::cluster::stored_parts(configured, s.storage.as_ref()).await {
                Ok(parts) => {
                    for job in &parts {
                        failed |= !prune_one(job, &s, dry_run).await;
                    }
                }
                Err(e) => {
                    tracing::error!(job = %configured.name, storage = %s.name, error = %e, "cannot list the backups");
                    failed = true;
                }
            }
        }
    }
    if failed { EXIT_BACKUP_FAILED } else { 0 }
}

/// Applies (or, dry, shows) retention to `job`'s backups in `s`; whether
/// every due deletion happened.
async fn prune_one(job: &JobConfig, s: &NamedStorage, dry_run: bool) -> bool {
    let when = crate::prune::When {
        now: Timestamp::now(),
        just_taken: None,
        abandoned_after: crate::backup::abandoned_after(job),
    };
    match crate::prune::prune(job, &s.name, s.storage.as_ref(), when, dry_run).await {
        Ok(pruned) => {
            println!(
                "job {} in storage {} ({}):",
                job.name,
                s.name,
                s.storage.describe()
            );
            for d in &pruned.decisions {
                if d.deleted() {
                    let verb = if dry_run { "would delete" } else { "DELETE" };
                    println!("  {verb:<12} {}", d.backup.key);
                } else {
                    let why: Vec<String> = d.keep.iter().map(ToString::to_string).collect();
                    println!("  {:<12} {} ({})", "KEEP", d.backup.key, why.join(", "));
                }
            }
            if pruned.decisions.is_empty() {
                println!("  (no backups)");
            }
            pruned.failed == 0
        }
        Err(e) => {
            tracing::error!(job = %job.name, storage = %s.name, error = %e, "cannot list the backups");
            false
        }
    }
}
