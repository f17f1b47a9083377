//! `keepsake restore`: a backup (of a job's database, of one database of
//! a cluster job, or a cluster's globals first) into a database.

use crate::catalog::{self, Pick, PickError};
use crate::cluster;
use crate::config::{Config, JobConfig};
use crate::naming::Unit;
use crate::pg::conninfo::{self, Connection};
use crate::pg::database;
use crate::restore::RestoreFlags;
use crate::storage::{self, NamedStorage};

use super::{EXIT_BACKUP_FAILED, PickArgs, ReadFrom, select_jobs};
use crate::encryption::Identities;

/// The identities `--identity` names; Err after logging why they cannot
/// be read.
pub(super) fn identities(from: &ReadFrom) -> Result<Option<Identities>, ()> {
    let Some(path) = &from.identity else {
        return Ok(None);
    };
    Identities::load(path).map(Some).map_err(|e| {
        tracing::error!(error = %e, "--identity");
    })
}

/// The storage to read for `job`: the named one, else its first.
pub(super) async fn open_storage(
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

/// What a restore restores: the globals (then maybe a database), or a
/// database; logged and None when the flags do not fit the job.
async fn plan(job: &JobConfig, from: &ReadFrom, source: &NamedStorage) -> Option<Vec<Unit>> {
    match cluster::chosen(job, from.database.as_deref(), from.globals) {
        Err(e) => {
            tracing::error!(error = %e, "--database/--globals");
            None
        }
        Ok(Some(units)) => Some(units),
        // A job of one database (with its globals or not): that database.
        Ok(None) if job.databases.is_one() => Some(vec![Unit::Whole]),
        Ok(None) => {
            let stored = cluster::stored_units(job, source.storage.as_ref())
                .await
                .unwrap_or_default();
            let names: Vec<String> = stored
                .iter()
                .filter_map(|u| match u {
                    Unit::Database(name) => Some(name.clone()),
                    _ => None,
                })
                .collect();
            tracing::error!(job = %job.name, stored = ?names, "the job backs up several databases: name one with --database NAME (and add --globals to restore the roles first)");
            None
        }
    }
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
    let Some(units) = plan(job, from, &source).await else {
        return 1;
    };
    if units.len() > 1 && matches!(pick, Pick::Key(_)) {
        tracing::error!(
            "--key names one object: with --globals and --database, use --latest or --at"
        );
        return 1;
    }
    let cancel = crate::shutdown::on_signal("restore");
    for unit in &units {
        // A job of one database is its own Whole unit.
        let part = cluster::unit_job(job, unit);
        let restored = match unit {
            Unit::Globals => globals(&part, &source, &pick, &target, &flags, &cancel).await,
            _ => database(&part, &source, &pick, &target, flags.clone(), &cancel).await,
        };
        if !restored {
            return EXIT_BACKUP_FAILED;
        }
    }
    0
}

/// Restores the globals onto `target`'s server; whether it did.
async fn globals(
    part: &JobConfig,
    source: &NamedStorage,
    pick: &Pick,
    target: &Connection,
    flags: &RestoreFlags,
    cancel: &tokio_util::sync::CancellationToken,
) -> bool {
    // The server's maintenance database: the target database may not
    // exist yet (--create).
    let server = database::maintenance(target);
    let storage = source.storage.as_ref();
    let ids = flags.identities.as_ref();
    let result = crate::restore::globals::restore(part, storage, pick, &server, ids, cancel).await;
    match result {
        Ok((restored, prepared)) => {
            println!(
                "restored globals {} onto {}",
                restored.backup.key,
                conninfo::redact(&server.conninfo)
            );
            if !prepared.held_out.is_empty() {
                println!(
                    "not run: {} tablespace statements (they need a directory on this server \
                     and cannot run in a transaction); create the directories, then run:",
                    prepared.held_out.len()
                );
                for statement in &prepared.held_out {
                    println!("  {statement}");
                }
            }
            true
        }
        Err(e) => {
            tracing::error!(job = %part.name, error = %e, "restore of the globals failed");
            false
        }
    }
}

/// Restores a database's backup into `target`; whether it did.
async fn database(
    part: &JobConfig,
    source: &NamedStorage,
    pick: &Pick,
    target: &Connection,
    flags: RestoreFlags,
    cancel: &tokio_util::sync::CancellationToken,
) -> bool {
    let storage = source.storage.as_ref();
    let result = crate::restore::restore(part, storage, pick, target, flags, cancel).await;
    let shown = conninfo::redact(&target.conninfo);
    match result {
        Ok(restored) => {
            println!("restored {} into {shown}", restored.backup.key);
            true
        }
        Err(e) => {
            tracing::error!(job = %part.name, target = %shown, error = %e, "restore failed");
            false
        }
    }
}
