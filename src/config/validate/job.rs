//! `[jobs.NAME]`: the database, schedule, storages, dump settings,
//! retention and verification of one job.

use secrecy::ExposeSecret;

use super::place::Outline;
use super::{Checker, Reported, valid_name, zone};
use crate::config::defaults;
use crate::config::error::ErrorKind;
use crate::config::model::*;
use crate::config::raw::RawJob;
use crate::pg::{conninfo, dump_args};

/// What a job takes from the rest of the configuration and the machine.
pub(super) struct JobDefaults<'a> {
    /// Every storage name, so a job's `storage` can be checked.
    pub storages: &'a [String],
    /// `agent.timezone`.
    pub zone: &'a Zone,
    /// Cores, for `compression_threads` left out.
    pub cores: u32,
    /// `agent.abandoned_upload_after`.
    pub abandoned_upload_after: std::time::Duration,
    /// `[notify]`'s targets, for URLs the job does not set.
    pub notify: &'a NotifyTargets,
}

pub(super) fn check_job(
    c: &mut Checker,
    name: &str,
    raw: RawJob,
    defaults: &JobDefaults,
) -> Option<JobConfig> {
    let section = format!("jobs.{name}");
    let key = |k: &str| format!("{section}.{k}");
    let before = c.errors.len();
    if !valid_name(name) {
        c.err(
            ErrorKind::Invalid,
            &section,
            "job names may use only letters, digits, '-' and '_'",
        );
    }
    let database = c.secret(
        &key("database"),
        raw.database,
        raw.database_file.as_deref(),
        ErrorKind::Invalid,
    );
    let password = c.secret(
        &key("password"),
        raw.password,
        raw.password_file.as_deref(),
        ErrorKind::Invalid,
    );
    let mut connection = None;
    let password = password.unwrap_or(None);
    match &database {
        Err(Reported) => {}
        Ok(None) => c.missing(&key("database")),
        Ok(Some(db)) => match conninfo::parse(db.expose_secret()) {
            Err(e) => c.err(ErrorKind::Invalid, &key("database"), e.to_string()),
            Ok(conn) if conn.password.is_some() && password.is_some() => c.err(
                ErrorKind::Invalid,
                &key("password"),
                "the database connection string already holds a password; give it in one place",
            ),
            Ok(mut conn) => {
                if password.is_some() {
                    conn.password = password;
                }
                connection = Some(conn);
            }
        },
    }
    let schedule = match raw.schedule.as_deref() {
        None => None,
        Some(expr) => match crate::schedule::parse(expr) {
            Ok(s) => Some(s),
            Err(e) => {
                c.err(ErrorKind::Cron, &key("schedule"), e.to_string());
                None
            }
        },
    };
    let storage = check_job_storage(c, &key("storage"), raw.storage, defaults.storages);
    let format = raw.format.unwrap_or(defaults::FORMAT);
    let compression = check_compression(
        c,
        &section,
        raw.compression,
        raw.compression_level,
        raw.compression_threads,
        defaults.cores,
    );
    let pg_dump_args = raw.pg_dump_args.unwrap_or_default();
    for problem in dump_args::check(&pg_dump_args) {
        c.err(
            ErrorKind::Invalid,
            &key("pg_dump_args"),
            problem.to_string(),
        );
    }
    let retention = raw.retention.unwrap_or_default();
    for (rule, value) in [
        ("keep_days", retention.keep_days),
        ("keep_last", retention.keep_last),
        ("keep_daily", retention.keep_daily),
        ("keep_weekly", retention.keep_weekly),
        ("keep_monthly", retention.keep_monthly),
    ] {
        if value == Some(0) {
            c.err(
                ErrorKind::Invalid,
                &key(&format!("retention.{rule}")),
                "must be at least 1 (leave it out to keep every backup)",
            );
        }
    }
    if let Some(days) = retention.keep_days.filter(|d| *d > MAX_KEEP_DAYS) {
        c.err(
            ErrorKind::Invalid,
            &key("retention.keep_days"),
            format!(
                "{days} days is more than {} years; to keep every backup, leave keep_days \
                 out (with no retention rule at all nothing is deleted)",
                MAX_KEEP_DAYS / 365
            ),
        );
    }
    let naming = raw.naming.unwrap_or(defaults::NAMING);
    let verify_restore_into = match raw.verify_restore_into {
        None => None,
        Some(url) => match conninfo::parse(url.expose_secret()) {
            Ok(conn) => Some(conn),
            Err(e) => {
                c.err(
                    ErrorKind::Invalid,
                    &key("verify_restore_into"),
                    e.to_string(),
                );
                None
            }
        },
    };
    let timezone = match raw.timezone.as_deref() {
        None => defaults.zone.clone(),
        Some(tz) => zone(c, &key("timezone"), tz),
    };
    let stale_after =
        raw.stale_after
            .as_deref()
            .and_then(|text| match humantime::parse_duration(text) {
                Ok(d) if !d.is_zero() => Some(d),
                Ok(_) => {
                    c.err(
                        ErrorKind::Invalid,
                        &key("stale_after"),
                        "0s would call every backup stale",
                    );
                    None
                }
                Err(e) => {
                    c.err(
                        ErrorKind::Invalid,
                        &key("stale_after"),
                        format!("{text:?} is not a duration like \"26h\" or \"2d\": {e}"),
                    );
                    None
                }
            });
    let notify = super::notify::targets(c, &section, raw.notify, defaults.notify);
    let encrypt_to = super::encryption::recipients(
        c,
        &section,
        raw.encrypt_to.as_ref(),
        raw.recipients_file.as_deref(),
    );
    let (databases, exclude) =
        super::cluster::databases(c, &section, raw.databases.as_ref(), raw.exclude.as_ref());
    let globals = super::cluster::globals(c, &section, raw.globals, raw.globals_with_passwords);
    if encrypt_to.is_some() && verify_restore_into.is_some() {
        c.err(
            ErrorKind::Invalid,
            &key("verify_restore_into"),
            "the job's backups are encrypted and the agent holds only public keys, so it \
             cannot restore them; verify_after_backup checks their checksum, and \
             `keepsake verify --restore-into URL --identity FILE` restores one elsewhere",
        );
    }
    (c.errors.len() == before).then(|| JobConfig {
        name: name.to_string(),
        connection: connection.expect("no error means a connection"),
        schedule,
        storage,
        format,
        compression,
        pg_dump_args,
        retention,
        naming,
        timezone,
        run_on_start: raw.run_on_start.unwrap_or(false),
        verify_after_backup: raw.verify_after_backup.unwrap_or(false)
            || verify_restore_into.is_some(),
        verify_restore_into,
        stale_after,
        notify,
        encrypt_to,
        databases,
        exclude,
        globals,
        unit: None,
        abandoned_upload_after: defaults.abandoned_upload_after,
    })
}

/// The storages a job names, or the only one there is; none when it names
/// none and there are several.
fn chosen_storages(raw: Option<&[String]>, storages: &[String]) -> Option<Vec<String>> {
    match raw {
        Some(names) if !names.is_empty() => Some(names.to_vec()),
        _ if storages.len() == 1 => Some(storages.to_vec()),
        _ => None,
    }
}

/// What the checks across jobs need of one job, valid or not: where it
/// writes and how its keys are made.
pub(super) fn outline(name: &str, raw: &RawJob, storages: &[String]) -> Outline {
    Outline {
        name: name.to_string(),
        naming: raw.naming.unwrap_or(defaults::NAMING),
        format: raw.format.unwrap_or(defaults::FORMAT),
        compression: raw.compression.unwrap_or(defaults::COMPRESSION),
        encrypted: raw.encrypt_to.is_some() || raw.recipients_file.is_some(),
        cluster: raw.databases.is_some(),
        storages: chosen_storages(raw.storage.as_deref(), storages).unwrap_or_default(),
    }
}

fn check_job_storage(
    c: &mut Checker,
    key: &str,
    raw: Option<Vec<String>>,
    storages: &[String],
) -> Vec<String> {
    let names = match (chosen_storages(raw.as_deref(), storages), raw) {
        (Some(names), Some(raw)) if !raw.is_empty() => names,
        (Some(only), _) => return only,
        (None, _) => {
            c.missing(key);
            return Vec::new();
        }
    };
    for name in &names {
        if !storages.contains(name) {
            let known = if storages.is_empty() {
                "none is defined".to_string()
            } else {
                format!("defined: {}", storages.join(", "))
            };
            c.err(
                ErrorKind::Invalid,
                key,
                format!("unknown storage {name:?} ({known})"),
            );
        }
    }
    names
}

/// `keep_days` above this (100 years) is a way of writing "forever", which
/// leaving the rule out says plainly.
const MAX_KEEP_DAYS: u32 = 36_500;

/// One dump stream never keeps more compression threads busy; zstd itself
/// takes at most 64 workers on 32-bit targets, and gzip spawns what it is
/// told.
const MAX_COMPRESSION_THREADS: u32 = 64;

fn check_compression(
    c: &mut Checker,
    section: &str,
    kind: Option<CompressionKind>,
    level: Option<i32>,
    threads: Option<u32>,
    cores: u32,
) -> Compression {
    let kind = kind.unwrap_or(defaults::COMPRESSION);
    let key = &format!("{section}.compression_level");
    let range = match kind {
        CompressionKind::Gzip => Some(0..=9),
        CompressionKind::Zstd => Some(-7..=22),
        CompressionKind::None => None,
    };
    match (level, range) {
        (Some(l), Some(r)) if !r.contains(&l) => c.err(
            ErrorKind::Invalid,
            key,
            format!(
                "{l} is out of range {}..={} for {kind:?}",
                r.start(),
                r.end()
            ),
        ),
        (Some(_), None) => c.err(
            ErrorKind::Invalid,
            key,
            "compression is none; a level makes no sense",
        ),
        _ => {}
    }
    let threads_key = format!("{section}.compression_threads");
    match threads {
        Some(0) => c.err(
            ErrorKind::Invalid,
            &threads_key,
            "must be at least 1 (leave it out for one per core)",
        ),
        Some(n) if n > MAX_COMPRESSION_THREADS => c.err(
            ErrorKind::Invalid,
            &threads_key,
            format!("{n} is more than {MAX_COMPRESSION_THREADS} threads"),
        ),
        Some(n) if n > 1 && kind == CompressionKind::None => c.err(
            ErrorKind::Invalid,
            &threads_key,
            "compression is none; there is nothing to spread over threads",
        ),
        _ => {}
    }
    let threads = match (threads, kind) {
        (Some(n), _) => n.max(1),
        (None, CompressionKind::None) => 1,
        (None, _) => cores.clamp(1, defaults::MAX_AUTO_THREADS),
    };
    let level = level.unwrap_or(match kind {
        CompressionKind::Gzip => defaults::GZIP_LEVEL,
        CompressionKind::Zstd => defaults::ZSTD_LEVEL,
        CompressionKind::None => 0,
    });
    Compression {
        kind,
        level,
        threads,
    }
}
