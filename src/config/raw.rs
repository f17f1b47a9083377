//! The configuration as written: structs that mirror the TOML file and
//! the environment, filled field by field by [`super::extract`], with every
//! field optional so validation can report all missing settings at once.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// `format = "plain" | "custom"`: the pg_dump output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// SQL text, restored with `psql`.
    Plain,
    /// pg_dump's archive format, restored with `pg_restore`.
    Custom,
}

/// `compression = "gzip" | "zstd" | "none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionKind {
    Gzip,
    Zstd,
    None,
}

/// How a job names its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    /// `{prefix}/{job}/{job}-{timestamp}.{ext}`
    Job,
    /// `{prefix}/postgres-backup-{timestamp}.{ext}`, as the tool keepsake replaces.
    Legacy,
}

/// `[log]`
#[derive(Debug, Default)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
    pub progress_interval: Option<String>,
}

/// `[agent]`: how the daemon runs its jobs.
#[derive(Debug, Default)]
pub struct RawAgent {
    pub max_concurrent: Option<u32>,
    pub shutdown_timeout: Option<String>,
    pub abandoned_upload_after: Option<String>,
    pub timezone: Option<String>,
}

/// `[http]`
#[derive(Debug, Default)]
pub struct RawHttp {
    pub listen: Option<String>,
}

/// Notification targets, as `[notify]` and a job may give them.
#[derive(Debug, Default)]
pub struct RawTargets {
    pub healthcheck_url: Option<SecretString>,
    pub healthcheck_url_file: Option<PathBuf>,
    pub webhook_url: Option<SecretString>,
    pub webhook_url_file: Option<PathBuf>,
}

/// `[notify]`
#[derive(Debug, Default)]
pub struct RawNotify {
    pub targets: RawTargets,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
}

/// `[storage.NAME]`, selected by its `type` key.
// A handful of these live for the length of a config load: boxing the
// larger variant would only make the many places that build one noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum RawStorage {
    S3(RawS3),
    Local(RawLocal),
}

/// `[storage.NAME]` with `type = "s3"`.
#[derive(Debug, Default)]
pub struct RawS3 {
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: Option<bool>,
    pub upload_concurrency: Option<u32>,
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub storage_class: Option<String>,
    pub object_lock: Option<RawObjectLock>,
    pub access_key_id: Option<SecretString>,
    pub access_key_id_file: Option<PathBuf>,
    pub secret_access_key: Option<SecretString>,
    pub secret_access_key_file: Option<PathBuf>,
}

/// `object_lock = { mode = "...", days = N }` of an S3 storage.
#[derive(Debug, Default)]
pub struct RawObjectLock {
    pub mode: Option<String>,
    pub days: Option<u32>,
}

/// `[storage.NAME]` with `type = "local"`.
#[derive(Debug, Default)]
pub struct RawLocal {
    pub path: Option<PathBuf>,
    pub prefix: Option<String>,
}

/// `[jobs.NAME]`
#[derive(Debug, Default)]
pub struct RawJob {
    pub database: Option<SecretString>,
    pub database_file: Option<PathBuf>,
    pub password: Option<SecretString>,
    pub password_file: Option<PathBuf>,
    pub schedule: Option<String>,
    pub storage: Option<Vec<String>>,
    pub format: Option<DumpFormat>,
    pub compression: Option<CompressionKind>,
    pub compression_level: Option<i32>,
    pub compression_threads: Option<u32>,
    pub pg_dump_args: Option<Vec<String>>,
    pub retention: Option<RawRetention>,
    pub naming: Option<Naming>,
    pub timezone: Option<String>,
    pub run_on_start: Option<bool>,
    pub verify_after_backup: Option<bool>,
    pub verify_restore_into: Option<SecretString>,
    pub stale_after: Option<String>,
    pub notify: RawTargets,
    pub encrypt_to: Option<Words>,
    pub recipients_file: Option<PathBuf>,
    pub databases: Option<Words>,
    pub exclude: Option<Words>,
    pub globals: Option<bool>,
    pub globals_with_passwords: Option<bool>,
}

/// A list given as a TOML array or as one string (an environment
/// variable), its items separated by commas or white space.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Words {
    One(String),
    Many(Vec<String>),
}

impl Words {
    /// The items, a string split on commas and white space.
    pub fn items(&self) -> Vec<String> {
        match self {
            Words::One(text) => text
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect(),
            Words::Many(items) => items.clone(),
        }
    }
}

/// `retention = { ... }` of a job. No rule at all means keep every backup.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RawRetention {
    pub keep_days: Option<u32>,
    pub keep_last: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
}

impl RawRetention {
    /// True when at least one rule is set (none: keep every backup).
    pub fn has_rules(&self) -> bool {
        [
            self.keep_days,
            self.keep_last,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
        ]
        .iter()
        .any(Option::is_some)
    }
}
