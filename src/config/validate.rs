//! Raw configuration -> [`Config`]: pure checks that collect every problem
//! at once, each naming its key and where the value came from.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::env::seed_hint;
use super::error::{ConfigError, ErrorKind};
use super::model::*;
use super::raw::{RawAgent, RawJob, RawLocal, RawLog, RawS3, RawStorage};
use crate::conninfo;

/// What validation needs from the world: where a key's value came from,
/// and how to read a secret file.
pub struct Context<'a> {
    pub origin: &'a dyn Fn(&str) -> String,
    pub read_file: &'a dyn Fn(&Path) -> io::Result<String>,
}

/// The raw sections, each already extracted on its own.
#[derive(Debug, Default)]
pub struct RawSections {
    pub log: RawLog,
    pub agent: RawAgent,
    pub storage: BTreeMap<String, RawStorage>,
    pub jobs: BTreeMap<String, RawJob>,
    /// Every storage named in the file, valid or not, so that a job naming
    /// a broken storage is not also told that it does not exist.
    pub storage_names: Vec<String>,
    /// How many jobs the sources declare, extracted or not.
    pub declared_jobs: usize,
}

/// pg_dump options that keepsake sets itself or that would break the stream.
const RESERVED_ARGS: &[&str] = &[
    "-f",
    "--file",
    "-F",
    "--format",
    "-d",
    "--dbname",
    "-W",
    "--password",
    "-Z",
    "--compress",
    "-j",
    "--jobs",
];

/// A problem was found and already recorded.
struct Reported;

struct Checker<'a> {
    ctx: &'a Context<'a>,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn err(&mut self, kind: ErrorKind, key: &str, message: impl Into<String>) {
        let origin = (self.ctx.origin)(key);
        self.errors
            .push(ConfigError::new(kind, key, origin, message));
    }

    fn missing(&mut self, key: &str) {
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
    fn secret(
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
    let mut storage = BTreeMap::new();
    for (name, s) in raw.storage {
        if let Some(checked) = check_storage(&mut c, &name, s) {
            storage.insert(name, checked);
        }
    }
    let mut storage_names = raw.storage_names;
    storage_names.extend(storage.keys().cloned());
    storage_names.sort();
    storage_names.dedup();
    let mut jobs = Vec::new();
    if raw.jobs.is_empty() && raw.declared_jobs == 0 {
        c.errors.push(ConfigError::new(
            ErrorKind::Missing,
            "jobs",
            "",
            "no backup job is configured: set POSTGRES_CONNECTION_STRING and S3_BUCKET, \
             or add a [jobs.NAME] section to the config file",
        ));
    }
    for (name, j) in raw.jobs {
        if let Some(job) = check_job(&mut c, &name, j, &storage_names, &agent.timezone) {
            jobs.push(job);
        }
    }
    check_shared_legacy_names(&mut c, &jobs, &storage);
    if c.errors.is_empty() {
        Ok(Config {
            log,
            agent,
            storage,
            jobs,
        })
    } else {
        Err(c.errors)
    }
}

fn check_log(c: &mut Checker, raw: &RawLog) -> LogSettings {
    let level = raw.level.as_deref().unwrap_or("info").to_ascii_lowercase();
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
    LogSettings { level, format }
}

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
        Some(n) => n as usize,
        None => 1,
    };
    let shutdown_timeout = match raw.shutdown_timeout.as_deref() {
        None => std::time::Duration::from_secs(30),
        Some(text) => humantime::parse_duration(text).unwrap_or_else(|e| {
            c.err(
                ErrorKind::Invalid,
                "agent.shutdown_timeout",
                format!("{text:?} is not a duration like \"30s\" or \"2m\": {e}"),
            );
            std::time::Duration::from_secs(30)
        }),
    };
    let timezone = match raw.timezone.as_deref() {
        None => Zone::utc(),
        Some(name) => zone(c, "agent.timezone", name),
    };
    AgentSettings {
        max_concurrent,
        shutdown_timeout,
        timezone,
    }
}

/// An IANA zone name (`Europe/Berlin`), or a POSIX TZ string.
fn zone(c: &mut Checker, key: &str, name: &str) -> Zone {
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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

fn check_storage(c: &mut Checker, name: &str, raw: RawStorage) -> Option<StorageConfig> {
    let section = format!("storage.{name}");
    if !valid_name(name) {
        c.err(
            ErrorKind::Invalid,
            &section,
            "storage names may use only letters, digits, '-' and '_'",
        );
    }
    match raw {
        RawStorage::S3(s3) => check_s3(c, &section, s3).map(StorageConfig::S3),
        RawStorage::Local(local) => check_local(c, &section, local).map(StorageConfig::Local),
    }
}

/// Trims slashes so that `nightly/`, `/nightly` and `nightly` are one prefix.
fn normalize_prefix(prefix: Option<String>) -> String {
    prefix.unwrap_or_default().trim_matches('/').to_string()
}

fn valid_bucket(bucket: &str) -> bool {
    let ok_chars = bucket
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_'));
    let ends_ok = bucket.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        && bucket.ends_with(|ch: char| ch.is_ascii_alphanumeric());
    (3..=255).contains(&bucket.len()) && ok_chars && ends_ok
}

fn check_s3(c: &mut Checker, section: &str, raw: RawS3) -> Option<S3Config> {
    let key = |k: &str| format!("{section}.{k}");
    let before = c.errors.len();
    let bucket = raw.bucket.unwrap_or_default();
    if bucket.is_empty() {
        c.missing(&key("bucket"));
    } else if !valid_bucket(&bucket) {
        c.err(
            ErrorKind::S3,
            &key("bucket"),
            format!("{bucket:?} is not a valid bucket name (3-255 letters, digits, '.', '-', '_')"),
        );
    }
    if let Some(endpoint) = &raw.endpoint {
        match url::Url::parse(endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => c.err(
                ErrorKind::S3,
                &key("endpoint"),
                format!("{endpoint:?} is not an http:// or https:// URL with a host"),
            ),
        }
    }
    let region = raw.region.unwrap_or_else(|| "us-east-1".to_string());
    if region.is_empty()
        || !region
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
    {
        c.err(
            ErrorKind::S3,
            &key("region"),
            format!("{region:?} is not a region name"),
        );
    }
    let id = c.secret(
        &key("access_key_id"),
        raw.access_key_id,
        raw.access_key_id_file.as_deref(),
        ErrorKind::S3,
    );
    let secret = c.secret(
        &key("secret_access_key"),
        raw.secret_access_key,
        raw.secret_access_key_file.as_deref(),
        ErrorKind::S3,
    );
    let credentials = match (id, secret) {
        (Err(Reported), _) | (_, Err(Reported)) => None,
        (Ok(Some(access_key_id)), Ok(Some(secret_access_key))) => Some(StaticCredentials {
            access_key_id,
            secret_access_key,
        }),
        (Ok(None), Ok(None)) => None,
        (Ok(Some(_)), Ok(None)) => {
            c.err(
                ErrorKind::S3,
                &key("secret_access_key"),
                "an access key id is set but no secret access key",
            );
            None
        }
        (Ok(None), Ok(Some(_))) => {
            c.err(
                ErrorKind::S3,
                &key("access_key_id"),
                "a secret access key is set but no access key id",
            );
            None
        }
    };
    (c.errors.len() == before).then(|| S3Config {
        bucket,
        prefix: normalize_prefix(raw.prefix),
        path_style: raw.path_style.unwrap_or(raw.endpoint.is_some()),
        endpoint: raw.endpoint,
        region,
        credentials,
    })
}

fn check_local(c: &mut Checker, section: &str, raw: RawLocal) -> Option<LocalConfig> {
    let key = format!("{section}.path");
    match raw.path {
        None => {
            c.missing(&key);
            None
        }
        Some(path) if !path.is_absolute() => {
            c.err(
                ErrorKind::Invalid,
                &key,
                format!("{} is not an absolute path", path.display()),
            );
            None
        }
        Some(path) => Some(LocalConfig {
            path,
            prefix: normalize_prefix(raw.prefix),
        }),
    }
}

fn check_job(
    c: &mut Checker,
    name: &str,
    raw: RawJob,
    storages: &[String],
    default_zone: &Zone,
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
    let mut database_display = String::new();
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
                database_display = conninfo::redact(db.expose_secret());
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
                c.err(ErrorKind::Cron, &key("schedule"), e);
                None
            }
        },
    };
    let storage = check_job_storage(c, &key("storage"), raw.storage, storages);
    let format = raw.format.unwrap_or(DumpFormat::Plain);
    let compression = check_compression(
        c,
        &key("compression_level"),
        raw.compression,
        raw.compression_level,
    );
    let pg_dump_args = raw.pg_dump_args.unwrap_or_default();
    for arg in &pg_dump_args {
        let flag = arg.split('=').next().unwrap_or(arg);
        let short_with_value = RESERVED_ARGS
            .iter()
            .any(|r| r.len() == 2 && flag.starts_with(r) && !flag.starts_with("--"));
        if RESERVED_ARGS.contains(&flag) || short_with_value {
            c.err(
                ErrorKind::Invalid,
                &key("pg_dump_args"),
                format!("{flag:?} is set by keepsake itself (see format, compression, database)"),
            );
        }
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
    let naming = raw.naming.unwrap_or(Naming::Job);
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
        None => default_zone.clone(),
        Some(tz) => zone(c, &key("timezone"), tz),
    };
    (c.errors.len() == before).then(|| JobConfig {
        name: name.to_string(),
        connection: connection.expect("no error means a connection"),
        database_display,
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
    })
}

fn check_job_storage(
    c: &mut Checker,
    key: &str,
    raw: Option<Vec<String>>,
    storages: &[String],
) -> Vec<String> {
    let names = match raw {
        Some(names) if !names.is_empty() => names,
        _ if storages.len() == 1 => return storages.to_vec(),
        Some(_) | None => {
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

fn check_compression(
    c: &mut Checker,
    key: &str,
    kind: Option<CompressionKind>,
    level: Option<i32>,
) -> Compression {
    let kind = kind.unwrap_or(CompressionKind::Gzip);
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
    Compression { kind, level }
}

/// Two legacy-named jobs in one place would read each other's backups as
/// their own; retention would then delete the other job's dumps.
fn check_shared_legacy_names(
    c: &mut Checker,
    jobs: &[JobConfig],
    storage: &BTreeMap<String, StorageConfig>,
) {
    let mut seen: BTreeMap<(String, String), &str> = BTreeMap::new();
    for job in jobs.iter().filter(|j| j.naming == Naming::Legacy) {
        for s in &job.storage {
            let prefix = match storage.get(s) {
                Some(StorageConfig::S3(s3)) => format!("s3://{}/{}", s3.bucket, s3.prefix),
                Some(StorageConfig::Local(l)) => format!("{}/{}", l.path.display(), l.prefix),
                None => continue,
            };
            if let Some(other) = seen.insert((s.clone(), prefix.clone()), &job.name) {
                c.err(
                    ErrorKind::Invalid,
                    &format!("jobs.{}.naming", job.name),
                    format!(
                        "jobs {other:?} and {:?} both use legacy naming under {prefix}; \
                         their backups could not be told apart",
                        job.name
                    ),
                );
            }
        }
    }
}
