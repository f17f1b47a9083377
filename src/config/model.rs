//! The validated configuration the program runs on: every default applied,
//! every secret read, every name resolved.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;

pub use super::raw::{CompressionKind, DumpFormat, Naming, RawRetention as Retention};
use crate::conninfo::Connection;
use crate::schedule::Schedule;

/// Everything keepsake needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub log: LogSettings,
    pub agent: AgentSettings,
    pub storage: BTreeMap<String, StorageConfig>,
    /// Sorted by name.
    pub jobs: Vec<JobConfig>,
}

impl Config {
    /// The job called `name`.
    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

/// `[agent]`
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// Backups that may run at once; more wait their turn.
    pub max_concurrent: usize,
    /// How long running backups may take to finish on SIGTERM/SIGINT.
    pub shutdown_timeout: std::time::Duration,
    /// The zone of schedules that name none.
    pub timezone: Zone,
}

/// A time zone with the name it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub tz: jiff::tz::TimeZone,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// A tracing level name: trace, debug, info, warn, error or off.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub enum StorageConfig {
    S3(S3Config),
    Local(LocalConfig),
}

#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub path_style: bool,
    /// Parts uploading at once while the next one fills. Memory held for
    /// parts is this plus one, times the part size (6 MiB at first).
    pub upload_concurrency: usize,
    /// None: the default AWS credential chain (env, profile, IAM role).
    pub credentials: Option<StaticCredentials>,
}

#[derive(Debug, Clone)]
pub struct StaticCredentials {
    pub access_key_id: SecretString,
    pub secret_access_key: SecretString,
}

#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub path: PathBuf,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    pub kind: CompressionKind,
    /// None: the codec's default (gzip 6, zstd 3).
    pub level: Option<i32>,
    /// zstd worker threads; 1 compresses on the pipeline's own thread, 0
    /// means one per core (up to 4).
    pub threads: u32,
}

#[derive(Debug, Clone)]
pub struct JobConfig {
    pub name: String,
    pub connection: Connection,
    /// The connection string as people may see it.
    pub database_display: String,
    /// None: the job runs only on demand (`keepsake backup`).
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
    pub verify_restore_into: Option<Connection>,
}
