//! Verifying a backup: download it, check the manifest's size and SHA-256,
//! decompress it whole, and check its structure (a plain dump's header and
//! completion marker; an archive's table of contents with `pg_restore
//! --list`); optionally restore it into a scratch database and count what
//! arrived.

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::catalog::Backup;
use crate::config::DumpFormat;
use crate::conninfo::{self, Connection};
use crate::destination::Store;
use crate::readback;
use crate::restore::{self, RestoreError};
use crate::target;

/// What a sound backup showed.
#[derive(Debug, Clone)]
pub struct Report {
    pub key: String,
    pub summary: readback::Summary,
    /// Tables and rows, when it was restored into a scratch database.
    pub restored: Option<(u64, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}: no manifest, so its checksum and size cannot be checked")]
    NoManifest(String),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("{key}: {problem}")]
    Structure { key: String, problem: String },
}

/// A plain dump begins and ends with these lines.
const PLAIN_HEADER: &str = "-- PostgreSQL database dump";
const PLAIN_FOOTER: &str = "-- PostgreSQL database dump complete";
/// Bytes kept from each end of a plain dump to look for them.
const EDGE: usize = 8192;

/// Verifies `backup` in `store`; with `restore_into`, also restores it into
/// a scratch database on that server (created and dropped here).
pub async fn verify(
    store: &Store,
    backup: &Backup,
    restore_into: Option<&Connection>,
) -> Result<Report, VerifyError> {
    let manifest = restore::manifest(store, &backup.key)
        .await?
        .ok_or_else(|| VerifyError::NoManifest(backup.key.clone()))?;
    let expect = restore::expect(Some(&manifest));
    let (program, tool) = restore::client_for(backup, Some(&manifest)).await?;
    let (summary, restored) = match restore_into {
        Some(server) => {
            let (summary, counts) =
                scratch_restore(store, backup, &expect, program, &tool, server).await?;
            (summary, Some(counts))
        }
        None => (check_structure(store, backup, &expect, &tool).await?, None),
    };
    Ok(Report {
        key: backup.key.clone(),
        summary,
        restored,
    })
}

/// Restores into a fresh database beside `server`'s and counts tables and
/// rows; the database is dropped afterwards, whatever happened.
async fn scratch_restore(
    store: &Store,
    backup: &Backup,
    expect: &readback::Expect,
    program: &'static str,
    tool: &std::path::Path,
    server: &Connection,
) -> Result<(readback::Summary, (u64, u64)), VerifyError> {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "keepsake_verify_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let scratch = Connection {
        conninfo: conninfo::with_dbname(&server.conninfo, &name),
        password: server.password.clone(),
    };
    let psql = restore::newest_psql().await?;
    target::create_database(&psql, &scratch)
        .await
        .map_err(RestoreError::Target)?;
    let result = async {
        let summary = restore::apply(store, backup, expect, program, tool, &scratch, false).await?;
        let counts = target::tables_and_rows(&psql, &scratch)
            .await
            .map_err(RestoreError::Target)?;
        Ok::<_, VerifyError>((summary, counts))
    }
    .await;
    if let Err(e) = target::drop_database(&psql, server, &name).await {
        tracing::error!(database = %name, error = %e, "cannot drop the scratch database");
    }
    result
}

/// Reads the whole backup and checks its structure.
async fn check_structure(
    store: &Store,
    backup: &Backup,
    expect: &readback::Expect,
    tool: &std::path::Path,
) -> Result<readback::Summary, VerifyError> {
    let reader = store.get(&backup.key).await.map_err(RestoreError::from)?;
    let (tx, rx) = mpsc::channel(4);
    let reading = readback::start(
        reader,
        backup.key.clone(),
        backup.compression,
        expect.clone(),
        tx,
    );
    let problem = match backup.format {
        DumpFormat::Plain => plain_edges(rx).await,
        DumpFormat::Custom => archive_listing(rx, tool).await,
    };
    let summary = reading
        .await
        .map_err(|e| RestoreError::Target(format!("the reader failed: {e}")))?
        .map_err(RestoreError::from)?;
    match problem {
        None => Ok(summary),
        Some(problem) => Err(VerifyError::Structure {
            key: backup.key.clone(),
            problem,
        }),
    }
}

/// Drains the dump, keeping its first and last bytes; a problem, if any.
async fn plain_edges(mut rx: mpsc::Receiver<Bytes>) -> Option<String> {
    let mut head = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    while let Some(chunk) = rx.recv().await {
        if head.len() < EDGE {
            let take = (EDGE - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        tail.extend_from_slice(&chunk);
        if tail.len() > EDGE {
            tail.drain(..tail.len() - EDGE);
        }
    }
    if !String::from_utf8_lossy(&head).contains(PLAIN_HEADER) {
        return Some("it does not begin like a pg_dump plain dump".into());
    }
    if !String::from_utf8_lossy(&tail).contains(PLAIN_FOOTER) {
        return Some("it lacks pg_dump's completion marker: the dump is truncated".into());
    }
    None
}

/// Feeds the archive to `pg_restore --list`, draining whatever it does not
/// read; a problem, if any.
async fn archive_listing(mut rx: mpsc::Receiver<Bytes>, tool: &std::path::Path) -> Option<String> {
    let mut cmd = tokio::process::Command::new(tool);
    cmd.arg("--list")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Some(format!("cannot run {}: {e}", tool.display())),
    };
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let listing = tokio::spawn(async move {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out).await;
        out
    });
    while let Some(chunk) = rx.recv().await {
        if let Some(pipe) = stdin.as_mut()
            && pipe.write_all(&chunk).await.is_err()
        {
            stdin = None;
        }
    }
    drop(stdin);
    let out = child.wait_with_output().await;
    let listing = listing.await.unwrap_or_default();
    match out {
        Ok(out)
            if out.status.success()
                && listing
                    .lines()
                    .any(|l| !l.starts_with(';') && !l.trim().is_empty()) =>
        {
            None
        }
        Ok(out) => Some(format!(
            "pg_restore --list failed ({}): {}",
            crate::child::describe(out.status),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("pg_restore --list: {e}")),
    }
}
