//! The validated configuration the program runs on: every default applied,
//! every secret read, every name resolved. It serialises, with secrets as
//! `***`, into what `check` prints and the agent logs, and (secrets as
//! digests) into the fingerprints that decide what a reload changes: one
//! definition, so no field can be left out of either.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Serialize, Serializer};

pub use super::raw::{CompressionKind, DumpFormat, Naming, RawRetention as Retention};
use super::secret;
use crate::encryption::Recipients;
use crate::naming::Unit;
use crate::pg::conninfo::Connection;
use crate::schedule::Schedule;

/// Everything keepsake needs to run.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub log: LogSettings,
    pub agent: AgentSettings,
    pub http: HttpSettings,
    pub notify: NotifySettings,
    pub storage: BTreeMap<String, StorageConfig>,
    /// Sorted by name; shown as `[jobs.NAME]` tables.
    #[serde(serialize_with = "jobs_by_name")]
    pub jobs: Vec<JobConfig>,
}

impl Config {
    /// The job called `name`.
    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

fn jobs_by_name<S: Serializer>(jobs: &[JobConfig], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(jobs.iter().map(|j| (&j.name, j)))
}

/// `[agent]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSettings {
    /// Backups that may run at once; more wait their turn.
    pub max_concurrent: usize,
    /// How long running backups may take to finish on SIGTERM/SIGINT.
    #[serde(serialize_with = "humantime_duration")]
    pub shutdown_timeout: std::time::Duration,
    /// How old the leftovers of a run that died must be before they are
    /// removed; longer than the longest backup.
    #[serde(serialize_with = "humantime_duration")]
    pub abandoned_upload_after: std::time::Duration,
    /// The zone of schedules that name none.
    pub timezone: Zone,
}

fn humantime_duration<S: Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}

fn humantime_option<S: Serializer>(
    d: &Option<std::time::Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => humantime_duration(d, s),
        None => s.serialize_none(),
    }
}

/// A time zone with the name it was given; serialises as the name.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub tz: jiff::tz::TimeZone,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: super::defaults::TIMEZONE.into(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

/// `[http]`: the agent's endpoint for metrics and health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct HttpSettings {
    /// None: no endpoint (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<std::net::SocketAddr>,
}

/// `[notify]`: how notifications are delivered, where jobs that name no
/// target of their own report, and where the agent's own failures (a
/// refused reload) go.
#[derive(Debug, Clone, Serialize)]
pub struct NotifySettings {
    #[serde(flatten)]
    pub targets: NotifyTargets,
    #[serde(flatten)]
    pub delivery: Delivery,
}

/// How a notification is sent: each attempt within `timeout`, then up to
/// `retries` more after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Delivery {
    #[serde(serialize_with = "humantime_duration")]
    pub timeout: std::time::Duration,
    pub retries: u32,
}

/// Where runs are reported. The URLs are secrets (monitoring services put
/// their token in the path): they show as `https://host/***`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NotifyTargets {
    /// healthchecks.io protocol: `/start`, success, `/fail`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "secret::serialize_url_option"
    )]
    pub healthcheck_url: Option<SecretString>,
    /// A JSON document per run.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "secret::serialize_url_option"
    )]
    pub webhook_url: Option<SecretString>,
}

impl NotifyTargets {
    pub fn is_empty(&self) -> bool {
        self.healthcheck_url.is_none() && self.webhook_url.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogSettings {
    /// A tracing level name: trace, debug, info, warn, error or off.
    pub level: String,
    pub format: LogFormat,
    /// How often long backups, restores and verifications log progress.
    #[serde(serialize_with = "humantime_duration")]
    pub progress_interval: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StorageConfig {
    S3(S3Config),
    Local(LocalConfig),
}

#[derive(Debug, Clone, Serialize)]
pub struct S3Config {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub region: String,
    pub path_style: bool,
    /// Parts uploading at once while the next one fills. Memory held for
    /// parts is this plus one, times the part size (6 MiB at first).
    pub upload_concurrency: usize,
    /// None: the default AWS credential chain (env, profile, IAM role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<StaticCredentials>,
    /// Server-side encryption of every object keepsake writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sse: Option<Sse>,
    /// The KMS key of `sse = "aws:kms"` (an id or ARN, not a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sse_kms_key_id: Option<String>,
    /// The storage class of every object keepsake writes (`STANDARD_IA`,
    /// `GLACIER_IR`, ...); None: the bucket's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// S3 Object Lock: every object written is locked this long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLock>,
}

/// `object_lock = { mode = "governance" | "compliance", days = N }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ObjectLock {
    pub mode: LockMode,
    /// Every object keepsake writes cannot be deleted or overwritten for
    /// this many days after it was written.
    pub days: u32,
}

/// Who may lift a lock before its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// Users with `s3:BypassGovernanceRetention` (never keepsake).
    Governance,
    /// Nobody, the account's root user included.
    Compliance,
}

/// `sse = "AES256" | "aws:kms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Sse {
    /// Keys the store manages (SSE-S3).
    #[serde(rename = "AES256")]
    Aes256,
    /// A KMS key: `sse_kms_key_id`, else the account's default `aws/s3`.
    #[serde(rename = "aws:kms")]
    Kms,
}

#[derive(Debug, Clone, Serialize)]
pub struct StaticCredentials {
    #[serde(serialize_with = "secret::serialize")]
    pub access_key_id: SecretString,
    #[serde(serialize_with = "secret::serialize")]
    pub secret_access_key: SecretString,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocalConfig {
    pub path: PathBuf,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

/// How a job's dump is compressed, defaults resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Compression {
    pub kind: CompressionKind,
    /// The codec's level (0 for `none`).
    pub level: i32,
    /// Compression threads, gzip and zstd alike; 1 compresses on the
    /// pipeline's own thread.
    pub threads: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobConfig {
    /// The key of its `[jobs.NAME]` table.
    #[serde(skip)]
    pub name: String,
    /// The connection; its password, if any, shows as `***`.
    #[serde(rename = "database")]
    pub connection: Connection,
    /// None: the job runs only on demand (`keepsake backup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Names of entries in [`Config::storage`], at least one.
    pub storage: Vec<String>,
    pub format: DumpFormat,
    pub compression: Compression,
    pub pg_dump_args: Vec<String>,
    pub retention: Retention,
    pub naming: Naming,
    /// The zone the schedule and daily/weekly/monthly retention follow.
    pub timezone: Zone,
    /// Run once when the agent starts.
    pub run_on_start: bool,
    /// Verify each new backup (checksum, decompression, structure).
    pub verify_after_backup: bool,
    /// And restore it into a scratch database on this server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_restore_into: Option<Connection>,
    /// When its newest backup is this old, `status` calls the job stale;
    /// None: twice the longest gap of its schedule.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "humantime_option"
    )]
    pub stale_after: Option<std::time::Duration>,
    /// Where its runs are reported: its own URLs, else `[notify]`'s.
    #[serde(flatten)]
    pub notify: NotifyTargets,
    /// The age public keys its backups are encrypted to; None: stored as
    /// compressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypt_to: Option<Recipients>,
    /// Which databases of the server it backs up, each its own object.
    #[serde(skip_serializing_if = "Databases::is_one")]
    pub databases: Databases,
    /// Patterns (`*`, `?`) of databases `databases = "all"` leaves out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Whether it also backs up the cluster's globals (shown as the keys
    /// that set it: `globals`, `globals_with_passwords`).
    #[serde(flatten)]
    pub globals: Globals,
    /// Set on the job one unit of a cluster job runs as (see
    /// [`crate::cluster`]); None on a job as configured.
    #[serde(skip)]
    pub unit: Option<Unit>,
    /// `agent.abandoned_upload_after`, for the job's leftovers.
    #[serde(skip)]
    pub abandoned_upload_after: std::time::Duration,
}

/// `databases = ...` of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Databases {
    /// The one its connection names (the key left out).
    One,
    /// These, in this order.
    Listed(Vec<String>),
    /// Every database of the server that accepts connections and is not a
    /// template, found at each run, but those the job's `exclude` matches.
    All,
}

impl Serialize for Databases {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Databases::One => s.serialize_none(),
            Databases::Listed(names) => s.collect_seq(names),
            Databases::All => s.serialize_str("all"),
        }
    }
}

impl Databases {
    pub fn is_one(&self) -> bool {
        *self == Databases::One
    }
}

/// `globals = true`, `globals_with_passwords = true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Globals {
    Off,
    /// Roles without their password hashes (`--no-role-passwords`).
    WithoutPasswords,
    /// Roles with their password hashes: the object holds secrets.
    WithPasswords,
}

impl Serialize for Globals {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("globals", &(*self != Globals::Off))?;
        if *self == Globals::WithPasswords {
            map.serialize_entry("globals_with_passwords", &true)?;
        }
        map.end()
    }
}

impl JobConfig {
    /// Whether a run of this job is several backups (its databases, its
    /// globals), each a unit; false for a unit itself.
    pub fn runs_as_units(&self) -> bool {
        self.unit.is_none() && (!self.databases.is_one() || self.globals != Globals::Off)
    }
}
