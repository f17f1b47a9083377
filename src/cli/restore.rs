//! `keepsake restore` and `keepsake verify`: the commands that read a
//! backup back, into a database or to prove it sound.

use crate::catalog::{self, Pick, PickError};
use crate::config::{Config, JobConfig};
use crate::pg::conninfo;
use crate::restore::RestoreFlags;
use crate::storage::{self, NamedStorage};

use super::{EXIT_BACKUP_FAILED, PickArgs, ReadFrom, VerifyPick, select_jobs};
use crate::encryption::Identities;

/// The identities `--identity` names; Err after logging why they cannot
/// be read.
fn identities(from: &ReadFrom) -> Result<Option<Identities>, ()> {
    let Some(path) = &from.identity else {
        return Ok(None);
    };
    Identities::load(path).map(Some).map_err(|e| {
        tracing::error!(error = %e, "--identity");
    })
}

/// The storage to read for `job`: the named one, else its first.
async fn open_storage(
    config: &Config,
    job: &JobConfig,
    name: Option<&str>,
) -> Option<NamedStorage> {
    let name = match name {
        Some(n) if job.storage.iter().any(|s| s == n) => n.to_string(),
        Some(n) => {
            tracing::error!(job = %job.name, storage = n, uses = ?job.storage, "the job does not use that storage");
            return None;
        }
        None => job.storage.first()?.clone(),
    };
    let storage = storage::open(&config.storage[&name]).await;
    Some(NamedStorage { name, storage })
}

fn pick_of(args: &PickArgs) -> Result<Pick, PickError> {
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
    mut flags: RestoreFlags,
    from: &ReadFrom,
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
    let Ok(identities) = identities(from) else {
        return 1;
    };
    flags.identities = identities;
    let Some(source) = open_storage(config, job, from.storage.as_deref()).await else {
        return 1;
    };
    let cancel = crate::shutdown::on_signal("restore");
    let result =
        crate::restore::restore(job, source.storage.as_ref(), &pick, &target, flags, &cancel).await;
    match result {
        Ok(restored) => {
            println!(
                "restored {} into {}",
                restored.backup.key,
                conninfo::redact(to)
            );
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
    let backups = match catalog::backups(job, source.storage.as_ref()).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(job = %job.name, storage = %source.name, error = %e, "cannot list the backups");
            return EXIT_BACKUP_FAILED;
        }
    };
    let chosen: Vec<&catalog::Backup> = if pick.all {
        // Incomplete objects are not backups (list shows them).
        backups.iter().filter(|b| b.usable()).collect()
    } else {
        let p = match &pick.key {
            Some(k) => Pick::Key(k.clone()),
            None => Pick::Latest,
        };
        match catalog::pick(&backups, &p, jiff::Timestamp::now()) {
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
    let cancel = crate::shutdown::on_signal("verification");
    let mut bad = 0;
    for backup in &chosen {
        if cancel.is_cancelled() {
            return EXIT_BACKUP_FAILED;
        }
        let verified = crate::verify::verify(
            source.storage.as_ref(),
            backup,
            server.as_ref(),
            identities.as_ref(),
            &cancel,
        );
        match verified.await {
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
