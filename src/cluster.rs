//! Whole clusters: a job that names several databases (`databases = [...]`
//! or `"all"`) or the cluster's globals (`globals = true`) runs as units,
//! one after the other: the globals first, then each database. Each unit
//! is a job of its own for the rest of keepsake ([`unit_job`]): its own
//! object and manifest (the database's name in the key, see
//! [`crate::naming::Unit`]), its own verification, leftovers and retention.
//! A run succeeds only when every unit did.
//!
//! - [`units`]: what a run backs up, discovered on the server for `"all"`;
//! - [`select`] and [`glob_matches`]: which discovered databases count, pure;
//! - [`run`]: every unit through [`crate::backup::back_up_verify_prune`];
//! - [`stored_units`]: the units a storage holds backups of, for `list`,
//!   `status` and `verify`.

use std::collections::BTreeSet;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::backup::{self, BackupError, Outcome};
use crate::catalog;
use crate::config::{Databases, DumpFormat, Globals, JobConfig};
use crate::naming::{self, Layout, Unit};
use crate::pg::{conninfo, database, tools};
use crate::pipeline::Summary;
use crate::storage::{NamedStorage, ObjectInfo, Storage, StorageError};

/// Lists the databases a server lets one back up: not templates, and
/// accepting connections. Names travel hex-encoded, so that none can be
/// mistaken for two.
const DISCOVER_SQL: &str = "SELECT encode(convert_to(datname, 'UTF8'), 'hex') FROM pg_database \
     WHERE datallowconn AND NOT datistemplate ORDER BY datname;";

/// Whether `name` matches `pattern`: `*` any run of characters, `?` one.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Databases `"all"` never means: the scratch databases of `verify
/// --restore-into` (dropped when it ends, left behind if it was killed).
const NEVER: &[&str] = &["keepsake_verify_*"];

/// The discovered databases `exclude` leaves in, in order.
pub fn select(found: Vec<String>, exclude: &[String]) -> Vec<String> {
    let patterns: Vec<&str> = exclude
        .iter()
        .map(String::as_str)
        .chain(NEVER.iter().copied())
        .collect();
    found
        .into_iter()
        .filter(|name| !patterns.iter().any(|p| glob_matches(p, name)))
        .collect()
}

/// Asks `job`'s server (through the database its connection names) for
/// the databases `"all"` means.
async fn discover(job: &JobConfig) -> Result<Vec<String>, BackupError> {
    let psql = tools::newest("psql").await?.path;
    let listed = database::psql(&psql, &job.connection, DISCOVER_SQL, &[])
        .await
        .map_err(|e| BackupError::Discovery(e.to_string()))?;
    listed
        .lines()
        .filter(|l| !l.is_empty())
        .map(|hex| {
            from_hex(hex)
                .ok_or_else(|| BackupError::Discovery(format!("unexpected answer {hex:?}")))
        })
        .collect()
}

fn from_hex(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// What a run of `job` backs up now: its globals (if asked) first, then
/// each database. A job of one database without globals is one unit.
pub async fn units(job: &JobConfig) -> Result<Vec<Unit>, BackupError> {
    let mut units = Vec::new();
    if job.globals != Globals::Off {
        units.push(Unit::Globals);
    }
    match &job.databases {
        Databases::One => units.push(Unit::Whole),
        Databases::Listed(names) => units.extend(names.iter().cloned().map(Unit::Database)),
        Databases::All => {
            let found = select(discover(job).await?, &job.exclude);
            if found.is_empty() {
                return Err(BackupError::Discovery(
                    "no database to back up: every one is a template, refuses connections \
                     or is excluded"
                        .into(),
                ));
            }
            units.extend(found.into_iter().map(Unit::Database));
        }
    }
    Ok(units)
}

/// The job one unit of `job` runs as: the same settings, its own keys;
/// a database's connection names that database; the globals are a plain
/// dump, verified without a test restore.
pub fn unit_job(job: &JobConfig, unit: &Unit) -> JobConfig {
    let mut one = job.clone();
    match unit {
        Unit::Whole => {}
        Unit::Database(name) => {
            one.connection.conninfo = conninfo::with_dbname(&job.connection.conninfo, name);
        }
        Unit::Globals => {
            one.format = DumpFormat::Plain;
            one.verify_restore_into = None;
        }
    }
    one.unit = Some(unit.clone());
    one
}

/// A run of a job of several units: each in turn, through the whole run
/// of a backup (verification, leftovers, retention). Every unit is tried;
/// the run fails if one did, naming each. The outcome gathers every copy.
pub async fn run(
    job: &JobConfig,
    storages: &[NamedStorage],
    now: Timestamp,
    cancel: &CancellationToken,
) -> Result<Outcome, BackupError> {
    let units = units(job).await?;
    tracing::info!(job = %job.name, units = ?units.iter().map(Unit::label).collect::<Vec<_>>(), "backing up the cluster's parts one after the other");
    let started = std::time::Instant::now();
    let mut gathered = Outcome {
        copies: Vec::new(),
        failures: Vec::new(),
        summary: Summary {
            raw_bytes: 0,
            stored_bytes: 0,
            sha256: String::new(),
        },
        duration_ms: 0,
        tidied: Vec::new(),
    };
    let mut stored = Vec::new();
    let mut failed = Vec::new();
    for unit in &units {
        if cancel.is_cancelled() {
            return Err(BackupError::Cancelled);
        }
        let one = unit_job(job, unit);
        match backup::back_up_verify_prune(&one, storages, now, cancel).await {
            Ok(outcome) => {
                stored.push(unit.label());
                gathered.summary.raw_bytes += outcome.summary.raw_bytes;
                gathered.summary.stored_bytes += outcome.summary.stored_bytes;
                gathered.copies.extend(outcome.copies);
                gathered.tidied.extend(outcome.tidied);
            }
            Err(BackupError::Cancelled) => return Err(BackupError::Cancelled),
            Err(e) => {
                tracing::error!(job = %job.name, unit = %unit.label(), error = %e, "this part of the cluster failed; the others go on");
                failed.push(format!("{} ({e})", unit.label()));
            }
        }
    }
    gathered.duration_ms = started.elapsed().as_millis();
    if !failed.is_empty() {
        return Err(BackupError::Units { stored, failed });
    }
    Ok(gathered)
}

/// The listing of `job`'s folder: its whole-database backups and globals,
/// and the folders of its databases.
async fn listing(job: &JobConfig, storage: &dyn Storage) -> Result<Vec<ObjectInfo>, StorageError> {
    storage.list(&catalog::layout(job, storage).job_dir()).await
}

/// The units whose keys `objects` (a listing of `job`'s folder) holds:
/// its globals and whole database, and each database folder with a key
/// of that database's layout in it.
fn units_in(job: &JobConfig, storage: &dyn Storage, objects: &[ObjectInfo]) -> Vec<Unit> {
    let base = catalog::layout(job, storage);
    let dir = base.job_dir();
    let mut units = BTreeSet::new();
    for object in objects {
        let key = object.key.as_str();
        let database = key
            .strip_prefix(&dir)
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(segment, _)| naming::decode(segment))
            .map(Unit::Database);
        for unit in [Unit::Globals, Unit::Whole].into_iter().chain(database) {
            let layout = Layout {
                unit: &unit,
                ..base.clone()
            };
            if layout.parse(key).is_some() {
                units.insert(unit);
            }
        }
    }
    units.into_iter().collect()
}

/// The units `job` has backups of in `storage`: its globals and whole
/// database (when their keys are there) and each database folder under
/// its own.
pub async fn stored_units(
    job: &JobConfig,
    storage: &dyn Storage,
) -> Result<Vec<Unit>, StorageError> {
    Ok(units_in(job, storage, &listing(job, storage).await?))
}

/// The parts of `job` a command means with `--database` and `--globals`
/// (pure). `None` for neither: every part (`verify`), or an error naming
/// the choices for a job of several databases (`restore`).
pub fn chosen(
    job: &JobConfig,
    database: Option<&str>,
    globals: bool,
) -> Result<Option<Vec<Unit>>, String> {
    if !job.runs_as_units() && (database.is_some() || globals) {
        return Err(format!(
            "job {} backs up one database without its globals: --database and --globals \
             are for jobs with `databases` or `globals = true`",
            job.name
        ));
    }
    let mut units = Vec::new();
    if globals {
        units.push(Unit::Globals);
    }
    match (database, &job.databases) {
        (None, _) => {}
        (Some(name), Databases::One) => {
            let own = conninfo::dbname(&job.connection.conninfo);
            if own.as_deref() != Some(name) {
                return Err(format!(
                    "job {} backs up only the database of its connection ({})",
                    job.name,
                    own.as_deref().unwrap_or("the user's")
                ));
            }
            units.push(Unit::Whole);
        }
        (Some(name), _) => units.push(Unit::Database(name.to_string())),
    }
    Ok((!units.is_empty()).then_some(units))
}

/// The jobs to read `job`'s backups in `storage` as: itself, or each part
/// it has backups of there.
pub async fn stored_parts(
    job: &JobConfig,
    storage: &dyn Storage,
) -> Result<Vec<JobConfig>, StorageError> {
    if !job.runs_as_units() {
        return Ok(vec![job.clone()]);
    }
    let units = stored_units(job, storage).await?;
    Ok(units.iter().map(|u| unit_job(job, u)).collect())
}

/// Every backup of `job` in `storage`, of every part, newest first: one
/// listing of the job's folder serves every part.
pub async fn all_backups(
    job: &JobConfig,
    storage: &dyn Storage,
) -> Result<Vec<catalog::Backup>, StorageError> {
    if !job.runs_as_units() {
        return catalog::backups(job, storage).await;
    }
    let objects = listing(job, storage).await?;
    let mut backups = Vec::new();
    for unit in units_in(job, storage, &objects) {
        let part = unit_job(job, &unit);
        backups.extend(catalog::backups_in(&part, storage, &objects).await?);
    }
    catalog::newest_first(&mut backups);
    Ok(backups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        for (pattern, name, expect) in [
            ("template*", "template0", true),
            ("template*", "mytemplate", false),
            ("scratch_*", "scratch_", true),
            ("scratch_*", "scratch", false),
            ("*_test", "shop_test", true),
            ("shop", "shop", true),
            ("shop", "shop2", false),
            ("s?op", "shop", true),
            ("s?op", "sop", false),
            ("*a*b*", "xaybz", true),
            ("*a*b", "xaybz", false),
            ("*", "", true),
            ("ü*", "über", true),
        ] {
            assert_eq!(glob_matches(pattern, name), expect, "{pattern} {name}");
        }
    }

    #[test]
    fn select_keeps_the_order_and_drops_the_excluded() {
        let found = [
            "crm",
            "keepsake_verify_7_0",
            "scratch_1",
            "shop",
            "shop_test",
        ]
        .map(String::from)
        .to_vec();
        let exclude = ["scratch_*", "*_test"].map(String::from);
        assert_eq!(select(found, &exclude), ["crm", "shop"]);
    }

    #[test]
    fn hex_names_decode_exactly() {
        assert_eq!(from_hex("73686f70").as_deref(), Some("shop"));
        assert_eq!(from_hex("c3bc").as_deref(), Some("ü"));
        assert_eq!(from_hex("7"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
