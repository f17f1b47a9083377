//! Restoring a backup: pick it, read its manifest, stream it from storage
//! through checksum and decompression into `psql` (plain) or `pg_restore`
//! (custom), inside one transaction that commits only after the whole
//! object proved sound.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::mpsc;

use crate::catalog::{self, Backup, Pick};
use crate::child::{self, StderrTail};
use crate::config::{DumpFormat, JobConfig};
use crate::conninfo::Connection;
use crate::destination::{Store, StoreError};
use crate::manifest::Manifest;
use crate::naming;
use crate::pgtools::{self, PgVersion, ToolError};
use crate::readback::{self, Expect, ReadError};
use crate::target;

/// How often a long restore logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}")]
    Pick(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: the manifest cannot be read: {message}")]
    Manifest { key: String, message: String },
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("the target database: {0}")]
    Target(String),
    #[error(
        "the target database is not empty ({0} tables, views or sequences); \
         restore into an empty database, or add --clean to drop its objects first"
    )]
    NotEmpty(u64),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{program} failed ({status}){}", child::tail_text(.stderr))]
    Client {
        program: &'static str,
        status: String,
        stderr: Vec<String>,
    },
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Report {
    pub key: String,
    pub summary: readback::Summary,
    pub duration_ms: u128,
}

/// The manifest beside `key`, if there is one.
pub async fn manifest(store: &Store, key: &str) -> Result<Option<Manifest>, RestoreError> {
    let Some(bytes) = store.get_small(&naming::manifest_key(key)).await? else {
        return Ok(None);
    };
    Manifest::from_json(&bytes)
        .map(Some)
        .map_err(|e| RestoreError::Manifest {
            key: key.to_string(),
            message: e.to_string(),
        })
}

/// What the manifest promises.
pub fn expect(manifest: Option<&Manifest>) -> Expect {
    Expect {
        sha256: manifest.map(|m| m.sha256.clone()),
        size: manifest.map(|m| m.size),
    }
}

/// The client that applies `backup`: psql for plain dumps, pg_restore for
/// archives, the oldest one at least as new as the pg_dump that wrote it.
pub async fn client_for(
    backup: &Backup,
    manifest: Option<&Manifest>,
) -> Result<(&'static str, PathBuf), RestoreError> {
    let program = match backup.format {
        DumpFormat::Plain => "psql",
        DumpFormat::Custom => "pg_restore",
    };
    let tools = pgtools::discover(program).await;
    let written_by = manifest.and_then(|m| PgVersion::parse(&m.pg_dump_version));
    let tool = match written_by {
        Some(version) => pgtools::choose(&tools, version, program).map_err(|e| match e {
            ToolError::TooOld { newest, path, .. } => ToolError::ArchiveTooNew {
                tool: program.into(),
                archive: version,
                newest,
                path,
            },
            other => other,
        })?,
        None => tools
            .iter()
            .max_by_key(|t| t.version)
            .ok_or(ToolError::NotFound {
                tool: program.into(),
            })?,
    };
    Ok((program, tool.path.clone()))
}

/// The newest psql, for the statements around a restore.
pub async fn newest_psql() -> Result<PathBuf, RestoreError> {
    Ok(pgtools::newest("psql").await?.path)
}

/// `keepsake restore`: picks a backup of `job` in `store` and restores it
/// into `target`, creating the database when `create`, dropping its
/// objects first when `clean`; refuses a non-empty target otherwise.
pub async fn restore(
    job: &JobConfig,
    store: &Store,
    pick: &Pick,
    target: &Connection,
    create: bool,
    clean: bool,
) -> Result<Report, RestoreError> {
    let backups = catalog::backups(job, store).await?;
    let backup = catalog::pick(&backups, pick)
        .map_err(RestoreError::Pick)?
        .clone();
    let manifest = manifest(store, &backup.key).await?;
    if manifest.is_none() {
        tracing::warn!(key = %backup.key, "no manifest: the checksum cannot be checked, only the decompression");
    }
    let (program, tool) = client_for(&backup, manifest.as_ref()).await?;
    let psql = newest_psql().await?;
    if create
        && target::create_database(&psql, target)
            .await
            .map_err(RestoreError::Target)?
    {
        tracing::info!("target database created");
    }
    let relations = target::user_relations(&psql, target)
        .await
        .map_err(RestoreError::Target)?;
    if relations > 0 && !clean {
        return Err(RestoreError::NotEmpty(relations));
    }
    tracing::info!(
        job = %job.name,
        key = %backup.key,
        taken = %backup.at,
        bytes = backup.size,
        client = %tool.display(),
        "restore started"
    );
    let started = Instant::now();
    let summary = apply(
        store,
        &backup,
        &expect(manifest.as_ref()),
        program,
        &tool,
        target,
        clean,
    )
    .await?;
    let duration_ms = started.elapsed().as_millis();
    tracing::info!(
        key = %backup.key,
        bytes_stored = summary.stored_bytes,
        bytes_raw = summary.raw_bytes,
        checksum_verified = summary.verified,
        duration_ms,
        "restore finished"
    );
    Ok(Report {
        key: backup.key,
        summary,
        duration_ms,
    })
}

/// Streams `backup` into `program` on `conn`, in one transaction that
/// commits only when the whole object was read and matched its manifest.
pub async fn apply(
    store: &Store,
    backup: &Backup,
    expect: &Expect,
    program: &'static str,
    tool: &Path,
    conn: &Connection,
    clean: bool,
) -> Result<readback::Summary, RestoreError> {
    let mut cmd = pgtools::command(tool, conn);
    match backup.format {
        DumpFormat::Plain => {
            cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]);
        }
        DumpFormat::Custom => {
            cmd.args(["--single-transaction", "--exit-on-error"]);
            if clean {
                cmd.args(["--clean", "--if-exists"]);
            }
        }
    }
    cmd.arg("--dbname")
        .arg(&conn.conninfo)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut client = cmd
        .spawn()
        .map_err(|e| RestoreError::Target(format!("cannot run {}: {e}", tool.display())))?;
    let stderr = StderrTail::start(
        client.stderr.take().expect("stderr is piped"),
        program,
        String::new(),
    );
    let mut stdin = client.stdin.take().expect("stdin is piped");
    let reader = store.get(&backup.key).await?;
    let (tx, mut rx) = mpsc::channel(4);
    let reading = readback::start(
        reader,
        backup.key.clone(),
        backup.compression,
        expect.clone(),
        tx,
    );
    let mut fed = Ok(());
    if clean && backup.format == DumpFormat::Plain {
        fed = stdin.write_all(target::clean_sql().as_bytes()).await;
    }
    if fed.is_ok() {
        fed = feed(&mut stdin, &mut rx, &backup.key).await;
    }
    drop(rx);
    let read = reading
        .await
        .map_err(|e| RestoreError::Target(format!("the reader failed: {e}")))?;
    let summary = match read {
        Ok(summary) if fed.is_ok() => summary,
        Err(e) if !matches!(e, ReadError::ConsumerGone) => {
            // The transaction never commits: the target stays as it was.
            let _ = client.kill().await;
            let _ = stderr.finish().await;
            return Err(RestoreError::Read(e));
        }
        _ => {
            drop(stdin);
            let status = client
                .wait()
                .await
                .map_err(|e| RestoreError::Target(e.to_string()))?;
            return Err(RestoreError::Client {
                program,
                status: child::describe(status),
                stderr: stderr.finish().await,
            });
        }
    };
    drop(stdin);
    let status = client
        .wait()
        .await
        .map_err(|e| RestoreError::Target(e.to_string()))?;
    let lines = stderr.finish().await;
    if !status.success() {
        return Err(RestoreError::Client {
            program,
            status: child::describe(status),
            stderr: lines,
        });
    }
    Ok(summary)
}

/// Writes every chunk to the client, logging progress now and then.
async fn feed(
    stdin: &mut ChildStdin,
    rx: &mut mpsc::Receiver<Bytes>,
    key: &str,
) -> std::io::Result<()> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut bytes = 0u64;
    while let Some(chunk) = rx.recv().await {
        stdin.write_all(&chunk).await?;
        bytes += chunk.len() as u64;
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(0.001);
            tracing::info!(
                key,
                bytes_restored = bytes,
                mib_per_s = format!("{:.1}", bytes as f64 / secs / 1_048_576.0),
                "restore in progress"
            );
        }
    }
    Ok(())
}
