//! One backup of one job, start to end: pick a pg_dump that fits the
//! server, stream source -> pipeline -> every destination, and commit only
//! when pg_dump exited 0 and every byte arrived; otherwise leave nothing.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

use crate::config::JobConfig;
use crate::destination::{Store, StoreError, Upload};
use crate::manifest::{MANIFEST_VERSION, Manifest};
use crate::naming::{self, BackupName, Layout};
use crate::pgtools::{self, PgVersion, ToolError};
use crate::pipeline::{self, ChunkSink, Summary, Tally};
use crate::source::{PgDump, SourceError};

/// Chunks buffered between the compressor and the uploads.
const CHANNEL_DEPTH: usize = 4;
/// How long a failed backup waits for the dump reader to stop.
const STAGE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// How many `-N` suffixes to try before giving up on a free key.
const MAX_SEQ: u32 = 1000;

/// A storage opened for a job, by its configured name.
pub struct Target {
    pub name: String,
    pub store: Arc<Store>,
}

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("pg_dump produced no output; nothing was stored")]
    Empty,
    #[error("reading or compressing the dump failed: {0}")]
    Pipeline(std::io::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("no free key for this backup after {MAX_SEQ} tries under {0}")]
    NoFreeKey(String),
    #[error("the pipeline thread failed: {0}")]
    Panicked(String),
    #[error("cancelled by shutdown; nothing was stored")]
    Cancelled,
    #[error("the new backup failed verification: {0}")]
    Verify(#[from] crate::verify::VerifyError),
}

/// One stored copy of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBackup {
    pub storage: String,
    pub key: String,
}

/// What a successful backup produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub stored: Vec<StoredBackup>,
    pub summary: Summary,
    pub duration_ms: u128,
}

/// The versions that decided which pg_dump ran.
struct Tools {
    pg_dump: pgtools::PgTool,
    server: PgVersion,
}

async fn pick_tools(job: &JobConfig) -> Result<Tools, BackupError> {
    let psql = pgtools::newest("psql").await?;
    let server = pgtools::server_version(&psql.path, &job.connection).await?;
    let dumps = pgtools::discover("pg_dump").await;
    let pg_dump = pgtools::choose(&dumps, server, "pg_dump")?.clone();
    Ok(Tools { pg_dump, server })
}

fn layout<'a>(job: &'a JobConfig, target: &'a Target) -> Layout<'a> {
    Layout {
        prefix: target.store.prefix(),
        naming: job.naming,
        job: &job.name,
    }
}

/// The first name of `now` whose key (and manifest) is free in every target:
/// an existing backup is never overwritten.
async fn free_name(
    job: &JobConfig,
    targets: &[Target],
    now: Timestamp,
) -> Result<BackupName, BackupError> {
    let mut name = naming::new_name(now, job.format, job.compression);
    'next: while name.seq < MAX_SEQ {
        for target in targets {
            let key = layout(job, target).key(&name);
            let taken = target.store.exists(&key).await?
                || target.store.exists(&naming::manifest_key(&key)).await?;
            if taken {
                name.seq += 1;
                continue 'next;
            }
        }
        return Ok(name);
    }
    let first = targets
        .first()
        .map(|t| t.store.describe())
        .unwrap_or_default();
    Err(BackupError::NoFreeKey(first))
}

/// Hashes every chunk and streams it to every upload; stops at the first
/// failure.
async fn forward(
    mut rx: mpsc::Receiver<Bytes>,
    uploads: &mut [Upload],
    tally: &mut Tally,
) -> Result<(), StoreError> {
    while let Some(chunk) = rx.recv().await {
        tally.update(&chunk);
        for upload in uploads.iter_mut() {
            upload.write(chunk.clone()).await?;
        }
    }
    Ok(())
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

/// Runs one backup of `job` to `targets`, named after `now`. When `cancel`
/// fires, pg_dump is killed and every upload aborted.
pub async fn run_once(
    job: &JobConfig,
    targets: &[Target],
    now: Timestamp,
    cancel: &CancellationToken,
) -> Result<Outcome, BackupError> {
    let started = Instant::now();
    tracing::info!(job = %job.name, database = %job.database_display, "backup started");
    let tools = unless_cancelled(cancel, async {
        for target in targets {
            target.store.preflight().await?;
        }
        pick_tools(job).await
    })
    .await?;
    tracing::info!(
        job = %job.name,
        server_version = %tools.server,
        pg_dump_version = %tools.pg_dump.version,
        pg_dump = %tools.pg_dump.path.display(),
        "dumping with the oldest pg_dump that fits the server"
    );
    let name = unless_cancelled(cancel, free_name(job, targets, now)).await?;
    let keys: Vec<String> = targets.iter().map(|t| layout(job, t).key(&name)).collect();

    let (mut source, stdout) = PgDump::spawn(&tools.pg_dump, job)?;
    let mut uploads: Vec<Upload> = targets
        .iter()
        .zip(&keys)
        .map(|(t, k)| t.store.begin(k))
        .collect();
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let compression = job.compression;
    let mut input = SyncIoBridge::new(stdout);
    let stage = tokio::task::spawn_blocking(move || {
        pipeline::run(&mut input, compression, ChunkSink::new(tx))
    });

    let mut tally = Tally::default();
    let streamed = unless_cancelled(cancel, async {
        forward(rx, &mut uploads, &mut tally)
            .await
            .map_err(BackupError::Store)
    })
    .await;
    let staged = if streamed.is_err() {
        source.kill().await;
        // The thread ends when the pipe closes; a child of pg_dump that
        // kept it open must not hold the failure (or a shutdown) hostage.
        match tokio::time::timeout(STAGE_GRACE, stage).await {
            Ok(joined) => joined,
            Err(_) => {
                tracing::warn!(job = %job.name, "the dump reader did not stop; leaving it behind");
                Ok(Err(std::io::Error::other("abandoned")))
            }
        }
    } else {
        stage.await
    };
    let exited = source.finish().await;

    let verdict = match (streamed, staged, exited) {
        (Err(e), _, _) => Err(e),
        (Ok(()), _, Err(source)) => Err(BackupError::Source(source)),
        (Ok(()), Err(join), Ok(())) => Err(BackupError::Panicked(join.to_string())),
        (Ok(()), Ok(Err(io)), Ok(())) => Err(BackupError::Pipeline(io)),
        (Ok(()), Ok(Ok(0)), Ok(())) => Err(BackupError::Empty),
        (Ok(()), Ok(Ok(raw_bytes)), Ok(())) => {
            let (stored_bytes, sha256) = tally.finish();
            Ok(Summary {
                raw_bytes,
                stored_bytes,
                sha256,
            })
        }
    };
    let summary = match verdict {
        Ok(summary) => summary,
        Err(e) => {
            for upload in uploads {
                upload.abort().await;
            }
            return Err(e);
        }
    };
    let stored = commit(job, targets, &keys, uploads, &summary, &tools, now).await?;
    let duration_ms = started.elapsed().as_millis();
    for s in &stored {
        tracing::info!(
            job = %job.name,
            storage = %s.storage,
            key = %s.key,
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
        stored,
        summary,
        duration_ms,
    })
}

/// One scheduled or requested run: the backup, then, only if it fully
/// succeeded, retention in every storage it was written to.
pub async fn run_job(
    job: &JobConfig,
    targets: &[Target],
    now: Timestamp,
    cancel: &CancellationToken,
) -> Result<Outcome, BackupError> {
    let outcome = run_once(job, targets, now, cancel).await?;
    if job.verify_after_backup {
        verify_new(job, targets, &outcome).await?;
    }
    if job.retention.has_rules() {
        for target in targets {
            match crate::prune::prune(job, &target.name, &target.store, Timestamp::now(), false)
                .await
            {
                Ok(report) => tracing::info!(
                    job = %job.name,
                    storage = %target.name,
                    kept = report.decisions.len() - report.deleted - report.failed,
                    deleted = report.deleted,
                    failed = report.failed,
                    "retention applied"
                ),
                Err(e) => {
                    tracing::error!(job = %job.name, storage = %target.name, error = %e, "retention could not list the backups")
                }
            }
        }
    }
    Ok(outcome)
}

/// Verifies the copies a backup just wrote; logged like a backup.
async fn verify_new(
    job: &JobConfig,
    targets: &[Target],
    outcome: &Outcome,
) -> Result<(), BackupError> {
    for (target, stored) in targets.iter().zip(&outcome.stored) {
        // The backup was just written: describe it from its key instead of
        // listing the whole storage again.
        let name = layout(job, target)
            .parse(&stored.key)
            .expect("a key this job just wrote parses with its own layout");
        let backup = crate::catalog::Backup {
            key: stored.key.clone(),
            at: name.at,
            size: outcome.summary.stored_bytes,
            format: name.format,
            compression: name.compression,
            complete: true,
        };
        match crate::verify::verify(&target.store, &backup, job.verify_restore_into.as_ref()).await
        {
            Ok(report) => tracing::info!(
                job = %job.name,
                storage = %target.name,
                key = %report.key,
                tables = report.restored.map(|r| r.0),
                rows = report.restored.map(|r| r.1),
                "verification passed"
            ),
            Err(e) => {
                tracing::error!(job = %job.name, storage = %target.name, error = %e, "verification failed");
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Completes every upload, then writes its manifest. A copy whose manifest
/// cannot be written is removed: a backup is its data and its manifest.
async fn commit(
    job: &JobConfig,
    targets: &[Target],
    keys: &[String],
    uploads: Vec<Upload>,
    summary: &Summary,
    tools: &Tools,
    started: Timestamp,
) -> Result<Vec<StoredBackup>, BackupError> {
    let mut stored = Vec::new();
    let mut first_error = None;
    for ((target, key), upload) in targets.iter().zip(keys).zip(uploads) {
        let manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            job: job.name.clone(),
            key: key.clone(),
            started_at: started.to_string(),
            finished_at: Timestamp::now().to_string(),
            format: job.format,
            compression: job.compression.kind,
            size: summary.stored_bytes,
            raw_size: summary.raw_bytes,
            sha256: summary.sha256.clone(),
            server_version: tools.server.full(),
            pg_dump_version: tools.pg_dump.version.full(),
            keepsake_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let result = async {
            upload.finish().await?;
            let body = Bytes::from(manifest.to_json());
            if let Err(e) = target.store.put(&naming::manifest_key(key), body).await {
                if let Err(cleanup) = target.store.delete(key).await {
                    tracing::error!(key = %key, error = %cleanup, "cannot remove a backup whose manifest failed");
                }
                return Err(e);
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => stored.push(StoredBackup {
                storage: target.name.clone(),
                key: key.clone(),
            }),
            Err(e) => {
                tracing::error!(job = %job.name, storage = %target.name, error = %e, "storing the backup failed");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(BackupError::Store(e)),
        None => Ok(stored),
    }
}
