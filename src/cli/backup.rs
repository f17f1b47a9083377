//! `keepsake backup` and `keepsake prune`: the commands that write to the
//! storages.

use jiff::Timestamp;

use super::{EXIT_BACKUP_FAILED, select_jobs};
use crate::config::Config;
use crate::monitor::Monitor;
use crate::monitor::report::Status;
use crate::storage;

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

/// `keepsake prune [--job NAME]... [--dry-run]`: prints, per job and
/// storage, every backup with KEEP (and why) or DELETE.
pub async fn prune(config: &Config, names: &[String], dry_run: bool) -> u8 {
    let Some(jobs) = select_jobs(config, names) else {
        return 1;
    };
    let opened = storage::for_jobs(config, &jobs).await;
    let mut failed = false;
    for job in &jobs {
        for s in storage::of_job(job, &opened) {
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
                    failed |= pruned.failed > 0;
                }
                Err(e) => {
                    tracing::error!(job = %job.name, storage = %s.name, error = %e, "cannot list the backups");
                    failed = true;
                }
            }
        }
    }
    if failed { EXIT_BACKUP_FAILED } else { 0 }
}
