//! One backup of one job, start to end: pick a pg_dump that fits the
//! server, stream dump -> pipeline -> every storage, and commit only when
//! pg_dump exited 0 and every byte arrived; otherwise leave nothing.
//!
//! - [`back_up`]: the backup alone (`keepsake backup` runs the next one);
//! - [`back_up_verify_prune`]: a job's whole run: the backup, then, only
//!   if it fully succeeded, its verification and retention;
//! - [`store`]: the part after pg_dump started, for any dump and storage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

use crate::catalog::{self, Backup};
use crate::config::JobConfig;
use crate::naming::{self, BackupName};
use crate::pg::dump::{DumpError, DumpProcess, PgDump};
use crate::pg::tools::{self, PgVersion, ToolError};
use crate::pipeline::{self, ChunkSink, Summary, Tally};
use crate::progress::{Counting, Progress};
use crate::storage::{NamedStorage, StorageError};
use commit::{Commit, Copy};
pub use run::{abandoned_after, back_up_verify_prune};

mod commit;
mod run;

/// Chunks buffered between the compressor and the uploads.
const CHANNEL_DEPTH: usize = 4;
/// How long a failed backup waits for the dump reader to stop.
const STAGE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// How many `-N` suffixes to try before giving up on a free key.
const MAX_SEQ: u32 = 1000;

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error("pg_dump produced no output; nothing was stored")]
    Empty,
    #[error("reading or compressing the dump failed: {0}")]
    Pipeline(std::io::Error),
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("no free key for this backup after {MAX_SEQ} tries under {0}")]
    NoFreeKey(String),
    #[error("the pipeline thread failed: {0}")]
    Panicked(String),
    #[error("keepsake panicked (please report it): {0}; the job runs again at its next time")]
    RunPanicked(String),
    #[error("cancelled by shutdown; nothing was stored")]
    Cancelled,
    #[error("cannot list the server's databases: {0}")]
    Discovery(String),
    #[error("{}failed: {}", stored_prefix(.stored), .failed.join("; "))]
    Units {
        /// The parts stored (each fully: verified, tidied).
        stored: Vec<String>,
        /// The parts that failed, each with its cause.
        failed: Vec<String>,
    },
    #[error("the new backup failed verification: {0}")]
    Verify(#[from] crate::verify::VerifyError),
    #[error("stored in {}, but not in {}", .stored.join(", "), describe_failures(.failures))]
    Partly {
        stored: Vec<String>,
        failures: Vec<CopyFailure>,
    },
}

fn stored_prefix(stored: &[String]) -> String {
    match stored.is_empty() {
        true => String::new(),
        false => format!("stored {}; ", stored.join(", ")),
    }
}

fn describe_failures(failures: &[CopyFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{} ({})", f.storage, f.error))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One stored copy of a new backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCopy {
    /// The storage's configured name.
    pub storage: String,
    pub backup: Backup,
}

/// A storage that did not get its copy of a new backup.
#[derive(Debug)]
pub struct CopyFailure {
    pub storage: String,
    pub error: StorageError,
}

/// What a backup produced: stored in at least one storage.
#[derive(Debug)]
pub struct Outcome {
    pub copies: Vec<StoredCopy>,
    /// The storages that failed; the run is a failure if any did.
    pub failures: Vec<CopyFailure>,
    pub summary: Summary,
    pub duration_ms: u128,
    /// What the run's tidying did in each storage (empty until then).
    pub tidied: Vec<Tidied>,
}

impl Outcome {
    /// What went wrong after the backup was stored (leftovers, retention):
    /// the backup counts, the run does not fully succeed.
    pub fn problems(&self) -> Vec<&str> {
        self.tidied
            .iter()
            .flat_map(|t| t.problems.iter().map(String::as_str))
            .collect()
    }
}

/// The removal of leftovers and retention in one storage after a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tidied {
    pub storage: String,
    /// Backups retention deleted.
    pub deleted: u64,
    /// What failed, for people; empty when all went well.
    pub problems: Vec<String>,
}

/// The versions that decided which pg_dump ran, for the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub server: PgVersion,
    pub pg_dump: PgVersion,
}

/// A dump being taken: its bytes, and what judges them once they end.
pub struct Dump {
    pub output: Box<dyn AsyncRead + Send + Unpin>,
    pub process: Box<dyn DumpProcess>,
}

/// Picks the oldest `program` (pg_dump, pg_dumpall) at least as new as
/// the job's server.
async fn pick_pg_dump(
    job: &JobConfig,
    program: &str,
) -> Result<(tools::PgTool, PgVersion), BackupError> {
    let psql = tools::newest("psql").await?;
    let server = tools::server_version(&psql.path, &job.connection).await?;
    let dumps = tools::discover(program).await;
    let pg_dump = tools::choose(&dumps, server, program)?.clone();
    Ok((pg_dump, server))
}

/// The first name of `now` whose key (and manifest) is free in every
/// storage: an existing backup is never overwritten.
async fn free_name(
    job: &JobConfig,
    storages: &[NamedStorage],
    now: Timestamp,
) -> Result<BackupName, BackupError> {
    let mut name = naming::new_name(
        now,
        job.format,
        job.compression.kind,
        job.encrypt_to.is_some(),
    );
    'next: while name.seq < MAX_SEQ {
        for s in storages {
            let key = catalog::layout(job, s.storage.as_ref()).key(&name);
            let taken = s.storage.exists(&key).await?
                || s.storage.exists(&naming::manifest_key(&key)).await?;
            if taken {
                name.seq += 1;
                continue 'next;
            }
        }
        return Ok(name);
    }
    let first = storages
        .first()
        .map(|s| s.storage.describe())
        .unwrap_or_default();
    Err(BackupError::NoFreeKey(first))
}

/// A unique id for one run, recorded with every object it writes.
fn run_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        Timestamp::now().as_nanosecond(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Hashes every chunk and streams it to every upload that has not failed:
/// a failing storage is aborted and the others go on. Fails only when
/// every storage has.
async fn forward(
    job: &JobConfig,
    storages: &[NamedStorage],
    mut rx: mpsc::Receiver<Bytes>,
    copies: &mut [Copy],
    tally: &mut Tally,
    watched: Watched<'_>,
) -> Result<(), StorageError> {
    let mut stored = 0u64;
    // Reports come on time even while nothing arrives (a stalled dump).
    let mut tick = tokio::time::interval(watched.progress.every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let chunk = tokio::select! {
            chunk = rx.recv() => chunk,
            _ = tick.tick() => {
                let read = watched.raw.load(Ordering::Relaxed);
                watched.progress.update(read, Some(stored));
                continue;
            }
        };
        let Some(chunk) = chunk else { break };
        tally.update(&chunk);
        stored += chunk.len() as u64;
        for (copy, s) in copies.iter_mut().zip(storages) {
            let Some(upload) = copy.upload.as_mut() else {
                continue;
            };
            if let Err(e) = upload.write(chunk.clone()).await {
                tracing::error!(job = %job.name, storage = %s.name, error = %e, "storing the backup failed; the other storages go on");
                if let Some(upload) = copy.upload.take() {
                    upload.abort().await;
                }
                copy.failed = Some(e);
            }
        }
        if copies.iter().all(|c| c.upload.is_none()) {
            let first = copies.iter_mut().find_map(|c| c.failed.take());
            return Err(first.expect("every copy failed"));
        }
    }
    Ok(())
}

/// How far the dump is: raw bytes read (counted on the pipeline's
/// thread), and the reports.
struct Watched<'a> {
    raw: &'a AtomicU64,
    progress: &'a mut Progress,
}

/// Runs `fut` unless `cancel` fires first.
async fn unless_cancelled<T>(
    cancel: &CancellationToken,
    fut: impl Future<Output = Result<T, BackupError>>,
) -> Result<T, BackupError> {
    tokio::select! {
        out = fut => out,
        _ = cancel.cancelled() => Err(BackupError::Cancelled),
    }
}

/// Runs one backup of `job` to `storages`, named after `now`. When
/// `cancel` fires, pg_dump is killed and every upload aborted.
pub async fn back_up(
    job: &JobConfig,
    storages: &[NamedStorage],
    now: Timestamp,
    cancel: &CancellationToken,
) -> Result<Outcome, BackupError> {
    let globals = job.unit == Some(crate::naming::Unit::Globals);
    let program = if globals { "pg_dumpall" } else { "pg_dump" };
    tracing::info!(job = %job.name, database = %job.connection.display(), globals, "backup started");
    let (pg_dump, server) = unless_cancelled(cancel, async {
        for s in storages {
            s.storage.preflight().await?;
        }
        pick_pg_dump(job, program).await
    })
    .await?;
    tracing::info!(
        job = %job.name,
        server_version = %server,
        pg_dump_version = %pg_dump.version,
        pg_dump = %pg_dump.path.display(),
        "dumping with the oldest pg_dump that fits the server"
    );
    if job.format == crate::config::DumpFormat::Custom
        && let Some(problem) = crate::restore::archive_problem(pg_dump.version, server)
    {
        tracing::warn!(job = %job.name, "these backups cannot be restored into the server they come from: {problem}; or use format = \"plain\"");
    }
    let versions = Versions {
        server,
        pg_dump: pg_dump.version,
    };
    store(job, storages, versions, now, cancel, || {
        let (process, stdout) = match globals {
            true => PgDump::spawn_globals(&pg_dump, job)?,
            false => PgDump::spawn(&pg_dump, job)?,
        };
        Ok(Dump {
            output: Box::new(stdout),
            process: Box::new(process),
        })
    })
    .await
}

/// Names the backup, starts the dump with `start`, streams it through the
/// pipeline to every storage and commits each copy with its manifest. A
/// failing dump stores nothing anywhere; a failing storage loses only its
/// own copy (see [`Outcome::failures`]).
pub async fn store(
    job: &JobConfig,
    storages: &[NamedStorage],
    versions: Versions,
    now: Timestamp,
    cancel: &CancellationToken,
    start: impl FnOnce() -> Result<Dump, DumpError>,
) -> Result<Outcome, BackupError> {
    let started = Instant::now();
    let name = unless_cancelled(cancel, free_name(job, storages, now)).await?;
    let keys: Vec<String> = storages
        .iter()
        .map(|s| catalog::layout(job, s.storage.as_ref()).key(&name))
        .collect();

    let Dump {
        output,
        mut process,
    } = start()?;
    let run = run_id();
    let mut copies: Vec<Copy> = storages
        .iter()
        .zip(&keys)
        .map(|(s, k)| Copy {
            upload: Some(s.storage.begin_upload(k, &run)),
            failed: None,
        })
        .collect();
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let compression = job.compression;
    let recipients = job.encrypt_to.clone();
    let (mut input, raw) = Counting::new(SyncIoBridge::new(output));
    let stage = tokio::task::spawn_blocking(move || {
        let sink = ChunkSink::new(tx);
        pipeline::run(&mut input, compression, recipients.as_ref(), sink)
    });

    let mut tally = Tally::default();
    let mut progress = Progress::new("backup", keys.first().map_or("", String::as_str));
    let streamed = unless_cancelled(cancel, async {
        let watched = Watched {
            raw: &raw,
            progress: &mut progress,
        };
        forward(job, storages, rx, &mut copies, &mut tally, watched)
            .await
            .map_err(BackupError::Storage)
    })
    .await;
    let staged = if streamed.is_err() {
        process.kill().await;
        // The thread ends when the pipe closes; a child of pg_dump that
        // kept it open must not hold the failure (or a shutdown) hostage.
        match tokio::time::timeout(STAGE_GRACE, stage).await {
            Ok(joined) => joined.map_err(|e| e.to_string()),
            Err(_) => {
                tracing::warn!(job = %job.name, "the dump reader did not stop; leaving it behind");
                Ok(Err(std::io::Error::other("abandoned")))
            }
        }
    } else {
        stage.await.map_err(|e| e.to_string())
    };
    let exited = process.finish().await;

    let summary = match verdict(streamed, staged, exited, tally) {
        Ok(summary) => summary,
        Err(e) => {
            for upload in copies.iter_mut().filter_map(|c| c.upload.take()) {
                upload.abort().await;
            }
            return Err(e);
        }
    };
    let committed = Commit {
        job,
        name: &name,
        summary: &summary,
        versions,
        started: now,
        run: &run,
    };
    let (stored, failures) = committed.all(storages, &keys, copies).await;
    if stored.is_empty() {
        let first = failures.into_iter().next().expect("no copy and no failure");
        return Err(BackupError::Storage(first.error));
    }
    let copies = stored;
    let duration_ms = started.elapsed().as_millis();
    for copy in &copies {
        tracing::info!(
            job = %job.name,
            storage = %copy.storage,
            key = %copy.backup.key,
            bytes_raw = summary.raw_bytes,
            bytes_stored = summary.stored_bytes,
            ratio = format!("{:.2}", summary.raw_bytes as f64 / summary.stored_bytes.max(1) as f64),
            duration_ms,
            sha256 = %summary.sha256,
            peak_rss_kib = crate::resources::peak_rss_kib(),
            disk_write_bytes = crate::resources::disk_write_bytes(),
            "backup finished"
        );
    }
    Ok(Outcome {
        copies,
        failures,
        summary,
        duration_ms,
        tidied: Vec::new(),
    })
}

/// The judgement of a streamed dump: whole only if the uploads took every
/// chunk, the pipeline read the dump to its end and pg_dump exited 0, and
/// the dump was not empty. The first failure in that order is the cause.
fn verdict(
    streamed: Result<(), BackupError>,
    staged: Result<std::io::Result<u64>, String>,
    exited: Result<(), DumpError>,
    tally: Tally,
) -> Result<Summary, BackupError> {
    streamed?;
    exited?;
    let raw_bytes = staged
        .map_err(BackupError::Panicked)?
        .map_err(BackupError::Pipeline)?;
    if raw_bytes == 0 {
        return Err(BackupError::Empty);
    }
    let (stored_bytes, sha256) = tally.finish();
    Ok(Summary {
        raw_bytes,
        stored_bytes,
        sha256,
    })
}

#[cfg(test)]
mod tests;
