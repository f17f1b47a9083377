//! `list`, `restore` and `verify`: the commands that read backups back.

use std::sync::Arc;

use crate::catalog::{self, Pick};
use crate::config::{Config, JobConfig};
use crate::conninfo;
use crate::destination::Store;

use super::{EXIT_BACKUP_FAILED, PickArgs, VerifyPick, open_targets, select_jobs};

/// The storage to read for `job`: the named one, else its first.
async fn open_storage(
    config: &Config,
    job: &JobConfig,
    name: Option<&str>,
) -> Option<(String, Store)> {
    let name = match name {
        Some(n) if job.storage.iter().any(|s| s == n) => n.to_string(),
        Some(n) => {
            tracing::error!(job = %job.name, storage = n, uses = ?job.storage, "the job does not use that storage");
            return None;
        }
        None => job.storage.first()?.clone(),
    };
    let store = Store::open(&config.storage[&name]).await;
    Some((name, store))
}

/// `keepsake list [--job NAME]... [--json]`
pub async fn list(config: &Config, names: &[String], json: bool) -> u8 {
    let Some(jobs) = select_jobs(config, names) else {
        return 1;
    };
    let stores = open_targets(config, &jobs).await;
    let mut failed = false;
    let mut rows = Vec::new();
    for job in jobs {
        for storage in &job.storage {
            let store = &stores[storage];
            match catalog::backups(job, store).await {
                Ok(backups) => {
                    if !json {
                        println!(
                            "job {} in storage {} ({}): {} backups",
                            job.name,
                            storage,
                            store.describe(),
                            backups.len()
                        );
                        for b in &backups {
                            let checksum = if b.complete { "sha256" } else { "none" };
                            println!(
                                "  {}  {:>14}  {:?}/{:?}  checksum:{checksum}  {}",
                                b.at, b.size, b.format, b.compression, b.key
                            );
                        }
                    }
                    rows.extend(backups.into_iter().map(|b| {
                        serde_json::json!({
                            "job": job.name,
                            "storage": storage,
                            "key": b.key,
                            "time": b.at.to_string(),
                            "size": b.size,
                            "format": b.format,
                            "compression": b.compression,
                            "checksum": b.complete,
                        })
                    }));
                }
                Err(e) => {
                    tracing::error!(job = %job.name, storage, error = %e, "cannot list the backups");
                    failed = true;
                }
            }
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(rows));
    }
    if failed { EXIT_BACKUP_FAILED } else { 0 }
}

fn pick_of(args: &PickArgs) -> Result<Pick, String> {
    if let Some(at) = &args.at {
        return catalog::parse_time(at).map(Pick::At);
    }
    if let Some(key) = &args.key {
        return Ok(Pick::Key(key.clone()));
    }
    Ok(Pick::Latest)
}

/// `keepsake restore --job NAME (--latest | --at TIME | --key KEY) --to URL`
pub async fn restore(
    config: &Config,
    job: &str,
    pick: &PickArgs,
    to: &str,
    create: bool,
    clean: bool,
    storage: Option<&str>,
) -> u8 {
    let Some(jobs) = select_jobs(config, &[job.to_string()]) else {
        return 1;
    };
    let job = jobs[0];
    let pick = match pick_of(pick) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "--at");
            return 1;
        }
    };
    let target = match conninfo::parse(to) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "--to");
            return 1;
        }
    };
    let Some((_, store)) = open_storage(config, job, storage).await else {
        return 1;
    };
    match crate::restore::restore(job, &store, &pick, &target, create, clean).await {
        Ok(report) => {
            println!("restored {} into {}", report.key, conninfo::redact(to));
            0
        }
        Err(e) => {
            tracing::error!(job = %job.name, target = %conninfo::redact(to), error = %e, "restore failed");
            EXIT_BACKUP_FAILED
        }
    }
}

/// `keepsake verify --job NAME (--latest | --all | --key KEY) [--restore-into URL]`
pub async fn verify(
    config: &Config,
    job: &str,
    pick: &VerifyPick,
    restore_into: Option<&str>,
    storage: Option<&str>,
) -> u8 {
    let Some(jobs) = select_jobs(config, &[job.to_string()]) else {
        return 1;
    };
    let job = jobs[0];
    let server = match restore_into.map(conninfo::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "--restore-into");
            return 1;
        }
    };
    let Some((storage, store)) = open_storage(config, job, storage).await else {
        return 1;
    };
    let store = Arc::new(store);
    let backups = match catalog::backups(job, &store).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(job = %job.name, storage, error = %e, "cannot list the backups");
            return EXIT_BACKUP_FAILED;
        }
    };
    let chosen: Vec<&catalog::Backup> = if pick.all {
        backups.iter().collect()
    } else {
        let p = match &pick.key {
            Some(k) => Pick::Key(k.clone()),
            None => Pick::Latest,
        };
        match catalog::pick(&backups, &p) {
            Ok(b) => vec![b],
            Err(e) => {
                tracing::error!(job = %job.name, error = %e, "nothing to verify");
                return EXIT_BACKUP_FAILED;
            }
        }
    };
    if chosen.is_empty() {
        tracing::error!(job = %job.name, "the job has no backup to verify");
        return EXIT_BACKUP_FAILED;
    }
    let mut bad = 0;
    for backup in &chosen {
        match crate::verify::verify(&store, backup, server.as_ref()).await {
            Ok(report) => {
                let restored = match report.restored {
                    Some((tables, rows)) => format!(", restored {tables} tables, {rows} rows"),
                    None => String::new(),
                };
                println!(
                    "OK    {} ({} bytes, sha256 {}{restored})",
                    report.key, report.summary.stored_bytes, report.summary.sha256
                );
            }
            Err(e) => {
                println!("BAD   {}: {e}", backup.key);
                tracing::error!(job = %job.name, key = %backup.key, error = %e, "verification failed");
                bad += 1;
            }
        }
    }
    if bad > 0 { EXIT_BACKUP_FAILED } else { 0 }
}
