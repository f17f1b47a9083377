//! `keepsake list`: every backup of each job, read from the storages.

use super::{EXIT_BACKUP_FAILED, select_jobs};
use jiff::Timestamp;

use crate::catalog::State;
use crate::config::Config;
use crate::storage;

/// `keepsake list [--job NAME]... [--json]`
pub async fn list(config: &Config, names: &[String], json: bool) -> u8 {
    let Some(jobs) = select_jobs(config, names) else {
        return 1;
    };
    let opened = storage::for_jobs(config, &jobs).await;
    let mut failed = false;
    let mut rows = Vec::new();
    for job in jobs {
        for s in storage::of_job(job, &opened) {
            let backups = match crate::cluster::all_backups(job, s.storage.as_ref()).await {
                Ok(backups) => backups,
                Err(e) => {
                    tracing::error!(job = %job.name, storage = %s.name, error = %e, "cannot list the backups");
                    failed = true;
                    continue;
                }
            };
            let now = Timestamp::now();
            if !json {
                let usable = backups.iter().filter(|b| b.usable()).count();
                println!(
                    "job {} in storage {} ({}): {usable} backups{}",
                    job.name,
                    s.name,
                    s.storage.describe(),
                    match backups.len() - usable {
                        0 => String::new(),
                        n => format!(", {n} incomplete (no manifest: not restorable by --latest)"),
                    }
                );
                for b in &backups {
                    println!(
                        "  {}  {:>14}  {:?}/{:?}  {:<10}  {}{}",
                        b.name.at,
                        b.size,
                        b.name.format,
                        b.name.compression,
                        state_name(b.state),
                        b.key,
                        if b.name.at > now {
                            "  (dated in the future)"
                        } else {
                            ""
                        }
                    );
                }
            }
            rows.extend(backups.into_iter().map(|b| {
                serde_json::json!({
                    "job": job.name,
                    "storage": s.name,
                    "key": b.key,
                    "time": b.name.at.to_string(),
                    "size": b.size,
                    "format": b.name.format,
                    "compression": b.name.compression,
                    "checksum": b.has_manifest(),
                    "state": state_name(b.state),
                })
            }));
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(rows));
    }
    if failed { EXIT_BACKUP_FAILED } else { 0 }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Complete => "complete",
        State::Legacy => "legacy",
        State::Incomplete => "incomplete",
    }
}
