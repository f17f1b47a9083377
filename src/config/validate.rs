//! Raw configuration -> [`Config`]: pure checks that collect every problem
//! at once, each naming its key and where the value came from.
//!
//! - `storage`: the `storage.NAME` sections (S3 and local);
//! - `job`: the `jobs.NAME` sections (`encryption`: their recipients;
//!   `cluster`: their databases and globals);
//! - `place`: across jobs and storages, where the keys go and how long
//!   they get.

mod cluster;
mod encryption;
mod job;
mod notify;
mod place;
mod storage;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use secrecy::SecretString;

use super::defaults;
use super::env::seed_hint;
use super::error::{ConfigError, ErrorKind};
use super::model::*;
use super::raw::{RawAgent, RawHttp, RawJob, RawLog, RawNotify, RawStorage};

/// What validation needs from the world: where a key's value came from,
/// how to read a secret file, and how many cores compression may use.
pub struct Context<'a> {
    pub origin: &'a dyn Fn(&str) -> String,
    pub read_file: &'a dyn Fn(&Path) -> io::Result<String>,
    pub cores: u32,
}

/// The raw sections, each already extracted on its own.
#[derive(Debug, Default)]
pub struct RawSections {
    pub log: RawLog,
    pub agent: RawAgent,
    pub http: RawHttp,
    pub notify: RawNotify,
    pub storage: BTreeMap<String, RawStorage>,
    pub jobs: BTreeMap<String, RawJob>,
    /// Every storage named in the file, valid or not, so that a job naming
    /// a broken storage is not also told that it does not exist.
    pub storage_names: Vec<String>,
    /// How many jobs the sources declare, extracted or not.
    pub declared_jobs: usize,
}

/// A problem was found and already recorded.
pub(super) struct Reported;

pub(super) struct Checker<'a> {
    ctx: &'a Context<'a>,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    pub(super) fn err(&mut self, kind: ErrorKind, key: &str, message: impl Into<String>) {
        let origin = (self.ctx.origin)(key);
        self.errors
            .push(ConfigError::new(kind, key, origin, message));
    }

    pub(super) fn missing(&mut self, key: &str) {
        let section = key.rsplit_once('.').map_or(key, |(s, _)| s);
        let origin = (self.ctx.origin)(section);
        let mut message = "required setting is missing".to_string();
        if let Some(hint) = seed_hint(key) {
            message = format!("{message}; {hint}");
        }
        self.errors
            .push(ConfigError::new(ErrorKind::Missing, key, origin, message));
    }

    /// A secret given directly or as a file (`*_file`), not both. `Err`
    /// means a problem was reported; `Ok(None)` that neither is set.
    pub(super) fn secret(
        &mut self,
        key: &str,
        value: Option<SecretString>,
        file: Option<&Path>,
        kind: ErrorKind,
    ) -> Result<Option<SecretString>, Reported> {
        match (value, file) {
            (Some(_), Some(_)) => {
                self.err(
                    kind,
                    key,
                    format!("set either {key} or {key}_file, not both"),
                );
                Err(Reported)
            }
            (Some(v), None) => Ok(Some(v)),
            (None, Some(path)) => match (self.ctx.read_file)(path) {
                Ok(text) => Ok(Some(SecretString::from(
                    text.trim_end_matches(['\r', '\n']).to_string(),
                ))),
                Err(e) => {
                    let key = format!("{key}_file");
                    self.err(kind, &key, format!("cannot read {}: {e}", path.display()));
                    Err(Reported)
                }
            },
            (None, None) => Ok(None),
        }
    }
}

/// Validates the raw sections into a [`Config`], or returns every problem.
pub fn validate(raw: RawSections, ctx: &Context<'_>) -> Result<Config, Vec<ConfigError>> {
    let mut c = Checker {
        ctx,
        errors: Vec::new(),
    };
    let log = check_log(&mut c, &raw.log);
    let agent = check_agent(&mut c, &raw.agent);
    let http = notify::check_http(&mut c, &raw.http);
    let notify = notify::check_notify(&mut c, raw.notify);
    let mut storage = BTreeMap::new();
    for (name, s) in raw.storage {
        if let Some(checked) = storage::check_storage(&mut c, &name, s) {
            storage.insert(name, checked);
        }
    }
    let mut storage_names = raw.storage_names;
    storage_names.extend(storage.keys().cloned());
    storage_names.sort();
    storage_names.dedup();
    let mut jobs = Vec::new();
    let cores = ctx.cores;
    if raw.jobs.is_empty() && raw.declared_jobs == 0 {
        c.errors.push(ConfigError::new(
            ErrorKind::Missing,
            "jobs",
            "",
            "no backup job is configured: set POSTGRES_CONNECTION_STRING and S3_BUCKET, \
             or add a [jobs.NAME] section to the config file",
        ));
    }
    let outlines: Vec<place::Outline> = raw
        .jobs
        .iter()
        .map(|(name, j)| job::outline(name, j, &storage_names))
        .collect();
    for (name, j) in raw.jobs {
        let defaults = job::JobDefaults {
            storages: &storage_names,
            zone: &agent.timezone,
            cores,
            abandoned_upload_after: agent.abandoned_upload_after,
            notify: &notify.targets,
        };
        if let Some(job) = job::check_job(&mut c, &name, j, &defaults) {
            jobs.push(job);
        }
    }
    place::check(&mut c, &outlines, &storage);
    if c.errors.is_empty() {
        Ok(Config {
            log,
            agent,
            http,
            notify,
            storage,
            jobs,
        })
    } else {
        Err(c.errors)
    }
}

fn check_log(c: &mut Checker, raw: &RawLog) -> LogSettings {
    let level = raw
        .level
        .as_deref()
        .unwrap_or(defaults::LOG_LEVEL)
        .to_ascii_lowercase();
    let level = if level == "warning" {
        "warn".to_string()
    } else {
        level
    };
    if !["trace", "debug", "info", "warn", "error", "off"].contains(&level.as_str()) {
        c.err(
            ErrorKind::Invalid,
            "log.level",
            format!("unknown log level {level:?}; use trace, debug, info, warn, error or off"),
        );
    }
    let format = match raw
        .format
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            c.err(
                ErrorKind::Invalid,
                "log.format",
                format!("unknown log format {other:?}; use text or json"),
            );
            LogFormat::Text
        }
    };
    let progress_interval = match raw.progress_interval.as_deref() {
        None => defaults::PROGRESS_INTERVAL,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d >= std::time::Duration::from_secs(1) => d,
            Ok(_) => {
                c.err(
                    ErrorKind::Invalid,
                    "log.progress_interval",
                    format!("{text:?} is less than a second"),
                );
                defaults::PROGRESS_INTERVAL
            }
            Err(e) => {
                c.err(
                    ErrorKind::Invalid,
                    "log.progress_interval",
                    format!("{text:?} is not a duration like \"30s\" or \"5m\": {e}"),
                );
                defaults::PROGRESS_INTERVAL
            }
        },
    };
    LogSettings {
        level,
        format,
        progress_interval,
    }
}

/// More backups at once than any machine runs; a bound also keeps the
/// semaphore below its limit on 32-bit targets.
const MAX_CONCURRENT: u32 = 1024;
/// The shortest `agent.abandoned_upload_after`; anything shorter than the
/// longest backup is a mistake, but the tests use a few seconds.
const MIN_ABANDONED: std::time::Duration = std::time::Duration::from_secs(1);

fn check_agent(c: &mut Checker, raw: &RawAgent) -> AgentSettings {
    let max_concurrent = match raw.max_concurrent {
        Some(0) => {
            c.err(
                ErrorKind::Invalid,
                "agent.max_concurrent",
                "must be at least 1",
            );
            1
        }
        Some(n) if n > MAX_CONCURRENT => {
            c.err(
                ErrorKind::Invalid,
                "agent.max_concurrent",
                format!("{n} is more than {MAX_CONCURRENT} backups at once"),
            );
            1
        }
        Some(n) => n as usize,
        None => defaults::MAX_CONCURRENT as usize,
    };
    let shutdown_timeout = match raw.shutdown_timeout.as_deref() {
        None => defaults::SHUTDOWN_TIMEOUT,
        Some(text) => humantime::parse_duration(text).unwrap_or_else(|e| {
            c.err(
                ErrorKind::Invalid,
                "agent.shutdown_timeout",
                format!("{text:?} is not a duration like \"30s\" or \"2m\": {e}"),
            );
            defaults::SHUTDOWN_TIMEOUT
        }),
    };
    let abandoned_upload_after = match raw.abandoned_upload_after.as_deref() {
        None => defaults::ABANDONED_UPLOAD_AFTER,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d >= MIN_ABANDONED => d,
            Ok(_) => {
                c.err(
                    ErrorKind::Invalid,
                    "agent.abandoned_upload_after",
                    format!("{text:?} is too short: a backup still uploading could be taken for a leftover; use more than the longest backup"),
                );
                defaults::ABANDONED_UPLOAD_AFTER
            }
            Err(e) => {
                c.err(
                    ErrorKind::Invalid,
                    "agent.abandoned_upload_after",
                    format!("{text:?} is not a duration like \"24h\" or \"2d\": {e}"),
                );
                defaults::ABANDONED_UPLOAD_AFTER
            }
        },
    };
    let timezone = match raw.timezone.as_deref() {
        None => Zone::utc(),
        Some(name) => zone(c, "agent.timezone", name),
    };
    AgentSettings {
        max_concurrent,
        shutdown_timeout,
        abandoned_upload_after,
        timezone,
    }
}

/// An IANA zone name (`Europe/Berlin`), or a POSIX TZ string.
pub(super) fn zone(c: &mut Checker, key: &str, name: &str) -> Zone {
    let found = jiff::tz::TimeZone::get(name).or_else(|_| jiff::tz::TimeZone::posix(name));
    match found {
        Ok(tz) => Zone {
            name: name.to_string(),
            tz,
        },
        Err(_) => {
            c.err(
                ErrorKind::Invalid,
                key,
                format!("unknown time zone {name:?}; use an IANA name such as \"Europe/Berlin\" or \"UTC\""),
            );
            Zone::utc()
        }
    }
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

#[cfg(test)]
mod tests;
