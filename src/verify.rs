//! Verifying a backup: download it, check the manifest's size and SHA-256,
//! decrypt (with an identity) and decompress it whole, and check its
//! structure (a plain dump's header and completion marker; an archive's
//! table of contents with `pg_restore --list`); optionally restore it into
//! a scratch database and count what arrived. An encrypted backup without
//! an identity is checked by size and checksum only.

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::catalog::Backup;
use crate::config::DumpFormat;
use crate::encryption::Identities;
use crate::pg::conninfo::{self, Connection};
use crate::pg::database::{self, DatabaseError};
use crate::pg::stderr::{self, StderrTail};
use crate::pg::tools::{self, ToolError};
use crate::pipeline::Summary;
use crate::progress::Progress;
use crate::readback::plain::Edges;
use crate::readback::{self, Client, ManifestError, ReadError, Reading, SealError, Unseal};
use crate::restore::{self, RestoreError};
use crate::storage::{Storage, StorageError};

/// What a sound backup showed.
#[derive(Debug, Clone)]
pub struct Verified {
    pub summary: Summary,
    /// Tables and rows, when it was restored into a scratch database.
    pub restored: Option<(u64, u64)>,
    /// Whether its content was checked; false for an encrypted backup
    /// verified without an identity (checksum and size only).
    pub opened: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}: no manifest, so its checksum and size cannot be checked")]
    NoManifest(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Sealed(#[from] SealError),
    #[error("the backup reader failed: {0}")]
    Reader(String),
    #[error("the scratch database: {0}")]
    Database(#[from] DatabaseError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("stopped by a signal")]
    Cancelled,
    #[error("{key}: {problem}")]
    Structure { key: String, problem: String },
}

/// Verifies `backup` in `storage`; with `restore_into`, also restores it into
/// a scratch database on that server (created and dropped here). An
/// encrypted backup is opened with `identities`; without them only its
/// size and checksum are checked, and it cannot be restored.
pub async fn verify(
    storage: &dyn Storage,
    backup: &Backup,
    restore_into: Option<&Connection>,
    identities: Option<&Identities>,
    cancel: &CancellationToken,
) -> Result<Verified, VerifyError> {
    let manifest = readback::manifest(storage, &backup.key)
        .await?
        .ok_or_else(|| VerifyError::NoManifest(backup.key.clone()))?;
    let reading = readback::reading(backup, Some(&manifest), identities)?;
    let opened = !matches!(reading.unseal, Unseal::Opaque);
    if !opened && restore_into.is_some() {
        return Err(readback::needs_identity(backup, Some(&manifest)).into());
    }
    let client = readback::client_for(backup, Some(&manifest)).await?;
    let (summary, restored) = match restore_into {
        Some(server) => {
            let (summary, counts) =
                scratch_restore(storage, backup, &reading, &client, server, cancel).await?;
            (summary, Some(counts))
        }
        None => {
            let checked = tokio::select! {
                checked = check_structure(storage, backup, &reading, &client) => checked?,
                _ = cancel.cancelled() => return Err(VerifyError::Cancelled),
            };
            (checked, None)
        }
    };
    Ok(Verified {
        summary,
        restored,
        opened,
    })
}

/// Restores into a fresh database beside `server`'s and counts tables and
/// rows; the database is dropped afterwards, whatever happened.
async fn scratch_restore(
    storage: &dyn Storage,
    backup: &Backup,
    reading: &Reading,
    client: &Client,
    server: &Connection,
    cancel: &CancellationToken,
) -> Result<(Summary, (u64, u64)), VerifyError> {
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
    let psql = tools::newest("psql").await?.path;
    let version = tools::server_version(&psql, &database::maintenance(server)).await?;
    database::create_database(&psql, &scratch).await?;
    tracing::info!(database = %name, "scratch database created");
    let result = async {
        let target = restore::Target {
            conn: &scratch,
            version,
        };
        let summary = restore::apply(
            storage,
            backup,
            reading,
            client,
            &target,
            &Default::default(),
            cancel,
        )
        .await?;
        let counts = database::tables_and_rows(&psql, &scratch).await?;
        Ok::<_, VerifyError>((summary, counts))
    }
    .await;
    match database::drop_database(&psql, server, &name).await {
        Ok(()) => tracing::info!(database = %name, "scratch database dropped"),
        Err(e) => tracing::error!(database = %name, error = %e, "cannot drop the scratch database"),
    }
    result
}

/// Reads the whole backup and checks its structure (an opaque one: only
/// its size and checksum).
async fn check_structure(
    storage: &dyn Storage,
    backup: &Backup,
    how: &Reading,
    client: &Client,
) -> Result<Summary, VerifyError> {
    let reader = storage.get(&backup.key).await?;
    let (tx, rx) = mpsc::channel(4);
    let reading = readback::stream::start(reader, how.clone(), tx);
    let problem = match (&how.unseal, backup.name.format) {
        (Unseal::Opaque, _) => {
            drain(rx).await;
            None
        }
        (_, DumpFormat::Plain) => plain_edges(rx, &backup.key).await,
        (_, DumpFormat::Custom) => archive_listing(rx, &client.path, &backup.key).await,
    };
    let summary = reading
        .await
        .map_err(|e| VerifyError::Reader(e.to_string()))??;
    match problem {
        None => Ok(summary),
        Some(problem) => Err(VerifyError::Structure {
            key: backup.key.clone(),
            problem,
        }),
    }
}

/// Waits for a reader that sends nothing (an opaque read) to end.
async fn drain(mut rx: mpsc::Receiver<Bytes>) {
    while rx.recv().await.is_some() {}
}

/// Drains the dump, checking its first and last lines; a problem, if any.
async fn plain_edges(mut rx: mpsc::Receiver<Bytes>, key: &str) -> Option<String> {
    let mut edges = Edges::default();
    let mut progress = Progress::new("verification", key);
    let mut read = 0u64;
    while let Some(chunk) = rx.recv().await {
        edges.update(&chunk);
        read += chunk.len() as u64;
        progress.update(read, None);
    }
    edges.problem().map(str::to_string)
}

/// Feeds the archive to `pg_restore --list`, draining whatever it does not
/// read; its stdout and stderr are read all along, so a chatty client can
/// never wedge the pipe. A problem, if any.
async fn archive_listing(
    mut rx: mpsc::Receiver<Bytes>,
    tool: &std::path::Path,
    key: &str,
) -> Option<String> {
    let mut cmd = tools::bare(tool);
    cmd.arg("--list")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Some(format!("cannot run {}: {e}", tool.display())),
    };
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let stderr = StderrTail::start(
        child.stderr.take().expect("stderr is piped"),
        "pg_restore",
        String::new(),
    );
    let listing = tokio::spawn(async move {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out).await;
        out
    });
    let mut progress = Progress::new("verification", key);
    let mut read = 0u64;
    while let Some(chunk) = rx.recv().await {
        if let Some(pipe) = stdin.as_mut()
            && pipe.write_all(&chunk).await.is_err()
        {
            stdin = None;
        }
        read += chunk.len() as u64;
        progress.update(read, None);
    }
    drop(stdin);
    let status = child.wait().await;
    let listing = listing.await.unwrap_or_default();
    let lines = stderr.finish().await;
    match status {
        Ok(status)
            if status.success()
                && listing
                    .lines()
                    .any(|l| !l.starts_with(';') && !l.trim().is_empty()) =>
        {
            None
        }
        Ok(status) => Some(format!(
            "pg_restore --list failed ({}){}",
            stderr::describe(status),
            stderr::tail_text(&lines)
        )),
        Err(e) => Some(format!("pg_restore --list: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A pg_restore that writes a lot to stderr before it reads its input:
    /// keepsake must read stderr while it feeds stdin, or both block.
    #[tokio::test]
    async fn a_chatty_client_never_wedges_the_listing() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("pg_restore");
        std::fs::write(
            &tool,
            "#!/bin/sh\n\
             i=0; while [ $i -lt 4000 ]; do echo 'pg_restore: warning: a line of chatter' >&2; i=$((i+1)); done\n\
             cat > /dev/null\n\
             echo '1; 2615 2200 SCHEMA - public postgres'\n",
        )
        .unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (tx, rx) = mpsc::channel(4);
        let feeding = tokio::spawn(async move {
            for _ in 0..64 {
                tx.send(Bytes::from(vec![b'x'; 64 * 1024])).await.unwrap();
            }
        });
        let listed = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            archive_listing(rx, &tool, "k"),
        )
        .await
        .expect("the listing finished");
        assert_eq!(listed, None);
        feeding.await.unwrap();
    }
}
