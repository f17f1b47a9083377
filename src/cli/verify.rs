//! `keepsake verify`: prove backups sound, one, the newest or all, of a
//! job or of each part of a cluster job.

use crate::catalog::{self, Backup, Pick};
use crate::cluster;
use crate::config::{Config, JobConfig};
use crate::encryption::Identities;
use crate::pg::conninfo::{self, Connection};
use crate::storage::NamedStorage;

use super::restore::{identities, open_storage};
use super::{EXIT_BACKUP_FAILED, ReadFrom, VerifyPick, select_jobs};

/// The parts of `job` to verify in `source`: those the flags name, else
/// every part it has backups of; None after logging why not.
async fn parts(job: &JobConfig, from: &ReadFrom, source: &NamedStorage) -> Option<Vec<JobConfig>> {
    match cluster::chosen(job, from.database.as_deref(), from.globals) {
        Err(e) => {
            tracing::error!(error = %e, "--database/--globals");
            None
        }
        Ok(Some(units)) => Some(units.iter().map(|u| cluster::unit_job(job, u)).collect()),
        Ok(None) => match cluster::stored_parts(job, source.storage.as_ref()).await {
            Ok(parts) => Some(parts),
            Err(e) => {
                tracing::error!(job = %job.name, storage = %source.name, error = %e, "cannot list the backups");
                None
            }
        },
    }
}

/// The backups of `part` that `pick` means; None after logging why none.
async fn chosen(part: &JobConfig, source: &NamedStorage, pick: &VerifyPick) -> Option<Vec<Backup>> {
    let backups = match catalog::backups(part, source.storage.as_ref()).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(job = %part.name, storage = %source.name, error = %e, "cannot list the backups");
            return None;
        }
    };
    if pick.all {
        // Incomplete objects are not backups (list shows them).
        let usable: Vec<Backup> = backups.into_iter().filter(|b| b.usable()).collect();
        if usable.is_empty() {
            tracing::error!(job = %part.name, "the job has no backup to verify");
            return None;
        }
        return Some(usable);
    }
    let p = match &pick.key {
        Some(k) => Pick::Key(k.clone()),
        None => Pick::Latest,
    };
    match catalog::pick(&backups, &p, jiff::Timestamp::now()) {
        Ok(b) => Some(vec![b.clone()]),
        Err(e) => {
            tracing::error!(job = %part.name, error = %e, "nothing to verify");
            None
        }
    }
}

/// `keepsake verify --job NAME (--latest | --all | --key KEY) [--restore-into URL]`
pub async fn verify(
    config: &Config,
    job: &str,
    pick: &VerifyPick,
    restore_into: Option<&str>,
    from: &ReadFrom,
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
    let Ok(identities) = identities(from) else {
        return 1;
    };
    let Some(source) = open_storage(config, job, from.storage.as_deref()).await else {
        return 1;
    };
    let Some(parts) = parts(job, from, &source).await else {
        return EXIT_BACKUP_FAILED;
    };
    let mut chosen_all = Vec::new();
    let mut missing = 0;
    for part in &parts {
        match chosen(part, &source, pick).await {
            Some(backups) => chosen_all.extend(backups.into_iter().map(|b| (part, b))),
            // --key names one object: the part that has it.
            None if pick.key.is_some() && parts.len() > 1 => {}
            // A part without a backup to verify is a finding; the others
            // are verified all the same.
            None => missing += 1,
        }
    }
    if chosen_all.is_empty() {
        tracing::error!(job = %job.name, "the job has no backup to verify");
        return EXIT_BACKUP_FAILED;
    }
    if missing > 0 {
        tracing::error!(job = %job.name, parts = missing, "some parts of the job have no backup to verify");
    }
    let cancel = crate::shutdown::on_signal("verification");
    let mut bad = 0;
    for (part, backup) in &chosen_all {
        if cancel.is_cancelled() {
            return EXIT_BACKUP_FAILED;
        }
        // A test restore is of a database, never of the globals.
        let into = server
            .as_ref()
            .filter(|_| part.unit != Some(crate::naming::Unit::Globals));
        if !one(&source, backup, into, identities.as_ref(), &cancel).await {
            tracing::error!(job = %job.name, key = %backup.key, "verification failed");
            bad += 1;
        }
    }
    if bad + missing > 0 {
        EXIT_BACKUP_FAILED
    } else {
        0
    }
}

/// Verifies one backup and prints `OK` or `BAD`; whether it is sound.
async fn one(
    source: &NamedStorage,
    backup: &Backup,
    restore_into: Option<&Connection>,
    identities: Option<&Identities>,
    cancel: &tokio_util::sync::CancellationToken,
) -> bool {
    let storage = source.storage.as_ref();
    match crate::verify::verify(storage, backup, restore_into, identities, cancel).await {
        Ok(verified) => {
            let restored = match verified.restored {
                Some((tables, rows)) => format!(", restored {tables} tables, {rows} rows"),
                None if !verified.opened => {
                    ", encrypted: checksum and size only, no --identity".to_string()
                }
                None => String::new(),
            };
            println!(
                "OK    {} ({} bytes, sha256 {}{restored})",
                backup.key, verified.summary.stored_bytes, verified.summary.sha256
            );
            true
        }
        Err(e) => {
            println!("BAD   {}: {e}", backup.key);
            tracing::debug!(key = %backup.key, error = %e, "verification failed");
            false
        }
    }
}
