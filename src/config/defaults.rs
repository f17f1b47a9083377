//! Every default of the configuration, in one place; validation applies
//! them, so `keepsake check` shows the values a run will use.

use std::time::Duration;

use super::raw::{CompressionKind, DumpFormat, Naming};

/// `log.level`
pub const LOG_LEVEL: &str = "info";
/// `log.progress_interval`: how often long runs say how far they are.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(30);
/// `agent.max_concurrent`: backups at once.
pub const MAX_CONCURRENT: u32 = 1;
/// `agent.shutdown_timeout`: how long running backups may finish on a stop.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// `agent.abandoned_upload_after`: how old a dead run's leftovers must be
/// before they are removed; longer than the longest backup.
pub const ABANDONED_UPLOAD_AFTER: Duration = Duration::from_secs(24 * 3600);
/// `notify.timeout`: how long one attempt to deliver a notification may take.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// `notify.retries`: attempts after the first one failed.
pub const NOTIFY_RETRIES: u32 = 2;
/// `agent.timezone` and a job's `timezone`.
pub const TIMEZONE: &str = "UTC";
/// `storage.NAME.region` of S3 storage.
pub const REGION: &str = "us-east-1";
/// `storage.NAME.upload_concurrency`: one part uploads while the next
/// fills; on this project's benchmark as fast as two, and 6 MiB less
/// memory. Links with high latency want more.
pub const UPLOAD_CONCURRENCY: u32 = 1;
/// `gzip` level when `compression_level` is not set.
pub const GZIP_LEVEL: i32 = 6;
/// `zstd` level when `compression_level` is not set.
pub const ZSTD_LEVEL: i32 = 3;
/// `compression_threads` when not set: one per core, at most this many.
pub const MAX_AUTO_THREADS: u32 = 4;
/// A job's `format`: SQL text, as the tool keepsake replaces wrote.
pub const FORMAT: DumpFormat = DumpFormat::Plain;
/// A job's `compression`.
pub const COMPRESSION: CompressionKind = CompressionKind::Gzip;
/// A job's `naming` in a config file (the seed variables set `legacy`).
pub const NAMING: Naming = Naming::Job;
