//! Restoring a backup: pick it, read its manifest, stream it from storage
//! through checksum and decompression into `psql` (plain) or `pg_restore`
//! (custom), inside one transaction that commits only after the whole
//! object proved sound ([`transaction`]); into a server older than the
//! dump's pg_dump as far as that can work ([`compat`]).

mod compat;
pub mod globals;
mod transaction;

pub use compat::archive_problem;

use std::process::Stdio;
use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::catalog::{self, Backup, Pick, PickError};
use crate::config::{DumpFormat, JobConfig};
use crate::pg::conninfo::Connection;
use crate::pg::database::{self, DatabaseError};
use crate::pg::stderr::{self, StderrTail};
use crate::pg::tools::{self, ToolError};
use crate::pipeline::Summary;
use crate::progress::Progress;
use crate::readback::plain::Edges;
use crate::readback::{self, Client, ManifestError, ReadError, Reading, SealError, Unseal};
use crate::storage::{Storage, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Pick(#[from] PickError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("the target database: {0}")]
    Database(#[from] DatabaseError),
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cannot wait for {program}: {source}")]
    Wait {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("the backup reader failed: {0}")]
    Reader(String),
    #[error(
        "the target database is not empty ({0} tables, views or sequences); \
         restore into an empty database, or add --clean to drop its objects first"
    )]
    NotEmpty(u64),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{0}; nothing was restored")]
    Sealed(#[from] SealError),
    #[error("{key}: {problem}; nothing was restored")]
    Incomplete { key: String, problem: &'static str },
    #[error(
        "the dump commits on its own (plain dumps of databases with large objects do), \
         so it cannot be restored all or nothing; nothing was restored. Restore it by hand \
         with psql, and back such databases up with format = \"custom\""
    )]
    CommitsItself,
    #[error("stopped by a signal; nothing was restored")]
    Cancelled,
    #[error("{0}; nothing was restored")]
    OlderTarget(String),
    #[error("{0}; nothing was restored")]
    Flags(String),
    #[error("{program} failed ({status}){}", stderr::tail_text(.stderr))]
    Client {
        program: &'static str,
        status: String,
        stderr: Vec<String>,
    },
}

/// What a restore may do to its target besides restoring.
#[derive(Debug, Clone, Default)]
pub struct RestoreFlags {
    /// Create the database if it does not exist.
    pub create: bool,
    /// Drop the target's objects first; without it a target that is not
    /// empty is refused.
    pub clean: bool,
    /// Leave out who owns each object: everything belongs to the role
    /// restoring (archives only; for a server without the dump's roles).
    pub no_owner: bool,
    /// Leave out GRANTs and REVOKEs (archives only; they name roles too).
    pub no_privileges: bool,
    /// Restore as this role (`SET ROLE`): it owns what the dump does not
    /// give to another role.
    pub role: Option<String>,
    /// The private keys for encrypted backups.
    pub identities: Option<crate::encryption::Identities>,
}

impl RestoreFlags {
    /// Why these flags cannot restore a backup of `format`, if they cannot.
    fn problem_with(&self, format: DumpFormat) -> Option<String> {
        let plain_only = [
            (self.no_owner, "--no-owner"),
            (self.no_privileges, "--no-privileges"),
        ];
        let refused: Vec<&str> = plain_only
            .iter()
            .filter(|(set, _)| *set && format == DumpFormat::Plain)
            .map(|(_, flag)| *flag)
            .collect();
        (!refused.is_empty()).then(|| {
            format!(
                "{} works with archives (format = \"custom\") only: a plain dump's ownership \
                 and privilege statements cannot be told from data safely. Back such databases \
                 up with format = \"custom\", or with pg_dump_args = [\"--no-owner\", \
                 \"--no-privileges\"]",
                refused.join(" and ")
            )
        })
    }
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub backup: Backup,
    pub summary: Summary,
}

/// `keepsake restore`: picks a backup of `job` in `storage` and restores it
/// into `target` as `flags` allow.
pub async fn restore(
    job: &JobConfig,
    storage: &dyn Storage,
    pick: &Pick,
    target: &Connection,
    flags: RestoreFlags,
    cancel: &CancellationToken,
) -> Result<Restored, RestoreError> {
    let backups = catalog::backups(job, storage).await?;
    let backup = catalog::pick(&backups, pick, jiff::Timestamp::now())?.clone();
    let manifest = readback::manifest(storage, &backup.key).await?;
    if manifest.is_none() {
        tracing::warn!(key = %backup.key, "no manifest: the checksum cannot be checked, only the decompression");
    }
    if let Some(problem) = flags.problem_with(backup.name.format) {
        return Err(RestoreError::Flags(problem));
    }
    let reading = readback::reading(&backup, manifest.as_ref(), flags.identities.as_ref())?;
    if matches!(reading.unseal, Unseal::Opaque) {
        return Err(readback::needs_identity(&backup, manifest.as_ref()).into());
    }
    let client = readback::client_for(&backup, manifest.as_ref()).await?;
    let psql = tools::newest("psql").await?.path;
    // Before the target is touched: can the client restore into it at all?
    let target_version = tools::server_version(&psql, &database::maintenance(target)).await?;
    if backup.name.format == DumpFormat::Custom
        && let Some(problem) = compat::archive_problem(client.version, target_version)
    {
        return Err(RestoreError::OlderTarget(problem));
    }
    if flags.create && database::create_database(&psql, target).await? {
        tracing::info!("target database created");
    }
    let relations = database::user_relations(&psql, target).await?;
    if relations > 0 && !flags.clean {
        return Err(RestoreError::NotEmpty(relations));
    }
    tracing::info!(
        job = %job.name,
        key = %backup.key,
        taken = %backup.name.at,
        bytes = backup.size,
        client = %client.path.display(),
        "restore started"
    );
    let started = Instant::now();
    let into = Target {
        conn: target,
        version: target_version,
    };
    let summary = apply(storage, &backup, &reading, &client, &into, &flags, cancel).await?;
    tracing::info!(
        key = %backup.key,
        bytes_stored = summary.stored_bytes,
        bytes_raw = summary.raw_bytes,
        checksum_verified = reading.expect.sha256.is_some(),
        decrypted = backup.name.encrypted,
        duration_ms = started.elapsed().as_millis(),
        "restore finished"
    );
    Ok(Restored { backup, summary })
}

/// The database a restore goes into, and its server's version.
pub struct Target<'a> {
    pub conn: &'a Connection,
    pub version: tools::PgVersion,
}

/// Streams `backup` into its client on `target`, in one transaction that
/// commits only when the whole object was read, matched its manifest and
/// (plain) ended like a whole dump. Cancelled, or failing anywhere, the
/// client is stopped before it can commit: the target stays as it was.
pub async fn apply(
    storage: &dyn Storage,
    backup: &Backup,
    reading: &Reading,
    client: &Client,
    target: &Target<'_>,
    flags: &RestoreFlags,
    cancel: &CancellationToken,
) -> Result<Summary, RestoreError> {
    let program = client.program;
    let clean = flags.clean;
    let plain = backup.name.format == DumpFormat::Plain;
    let conn = target.conn;
    if !plain && let Some(problem) = compat::archive_problem(client.version, target.version) {
        return Err(RestoreError::OlderTarget(problem));
    }
    // An older server than pg_dump's: one header line is commented out.
    let old_target = plain && compat::header_needs_filter(client.version, target.version);
    let mut cmd = tools::command(&client.path, conn);
    if plain {
        // No --single-transaction: psql would commit at the end of its
        // input, even an input cut short. See `transaction`.
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
    } else {
        // pg_restore commits only after reading the whole archive.
        cmd.args(["--single-transaction", "--exit-on-error"]);
        if clean {
            cmd.args(["--clean", "--if-exists"]);
        }
        if flags.no_owner {
            cmd.arg("--no-owner");
        }
        if flags.no_privileges {
            cmd.arg("--no-privileges");
        }
        if let Some(role) = &flags.role {
            cmd.arg(format!("--role={role}"));
        }
    }
    cmd.arg("--dbname")
        .arg(&conn.conninfo)
        .stdin(Stdio::piped())
        .stdout(if plain { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| RestoreError::Spawn {
        program: client.path.display().to_string(),
        source,
    })?;
    let stderr = StderrTail::start(
        child.stderr.take().expect("stderr is piped"),
        program,
        String::new(),
    );
    let marker = transaction::marker();
    let mut synced = child
        .stdout
        .take()
        .map(|stdout| transaction::watch_for(stdout, marker.clone()));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let reader = storage.get(&backup.key).await?;
    let (tx, rx) = mpsc::channel(4);
    let reading = readback::stream::start(reader, reading.clone(), tx);
    let preamble = plain.then(|| transaction::begin(clean, flags.role.as_deref()));
    // Cancelled or failed, the client is killed at once; the reader ends
    // on its own when it finds nobody listening.
    let fed = tokio::select! {
        fed = feed(&mut stdin, rx, preamble, &backup.key, old_target) => Some(fed),
        _ = cancel.cancelled() => None,
    };
    let edges = match fed {
        None => return abort(child, stderr, RestoreError::Cancelled).await,
        Some(Ok(edges)) => edges,
        // The client stopped reading: its exit and stderr say why.
        Some(Err(_)) => {
            drop(stdin);
            let status = child.wait().await;
            judge(status, stderr, program).await?;
            return Err(RestoreError::Reader("the client stopped reading".into()));
        }
    };
    let summary = match reading.await {
        Ok(Ok(summary)) => summary,
        Ok(Err(e)) => return abort(child, stderr, RestoreError::Read(e)).await,
        Err(e) => return abort(child, stderr, RestoreError::Reader(e.to_string())).await,
    };
    if let Some(synced) = synced.as_mut() {
        if let Some(problem) = edges.problem() {
            let key = backup.key.clone();
            return abort(child, stderr, RestoreError::Incomplete { key, problem }).await;
        }
        // Wait until psql has run every statement, still able to stop it,
        // then commit: a stop after this point cannot undo the restore.
        let _ = stdin.write_all(transaction::sync(&marker).as_bytes()).await;
        tracing::debug!(key = %backup.key, "the whole dump is sent; waiting for psql to run it before committing");
        let ready = tokio::select! {
            seen = synced => seen.is_ok(),
            _ = cancel.cancelled() => return abort(child, stderr, RestoreError::Cancelled).await,
        };
        if ready {
            let _ = stdin.write_all(transaction::COMMIT.as_bytes()).await;
        }
        drop(stdin);
        let status = child.wait().await;
        judge(status, stderr, program).await?;
        if !ready {
            return Err(RestoreError::Reader(
                "psql ended before the restore could commit".into(),
            ));
        }
        return Ok(summary);
    }
    // pg_restore goes on after its input ends (indexes, constraints) and
    // commits at its very end: until then a stop rolls it back.
    drop(stdin);
    tracing::debug!(key = %backup.key, "the whole archive is sent; waiting for pg_restore to finish");
    let status = tokio::select! {
        status = child.wait() => Some(status),
        _ = cancel.cancelled() => None,
    };
    match status {
        None => abort(child, stderr, RestoreError::Cancelled).await,
        Some(status) => judge(status, stderr, program).await.map(|()| summary),
    }
}

/// Kills the client before it could commit, so the server rolls back.
async fn abort(
    mut child: Child,
    stderr: StderrTail,
    error: RestoreError,
) -> Result<Summary, RestoreError> {
    let _ = child.kill().await;
    let _ = stderr.finish().await;
    Err(error)
}

/// The client's exit: an error unless it succeeded.
async fn judge(
    status: std::io::Result<std::process::ExitStatus>,
    stderr: StderrTail,
    program: &'static str,
) -> Result<(), RestoreError> {
    let status = status.map_err(|source| RestoreError::Wait { program, source })?;
    let lines = stderr.finish().await;
    if transaction::committed_early(&lines) {
        return Err(RestoreError::CommitsItself);
    }
    if !status.success() {
        return Err(RestoreError::Client {
            program,
            status: stderr::describe(status),
            stderr: lines,
        });
    }
    Ok(())
}

/// Writes the preamble, then every chunk to the client, logging progress
/// now and then; the edges of what it wrote.
async fn feed(
    stdin: &mut ChildStdin,
    mut rx: mpsc::Receiver<Bytes>,
    preamble: Option<String>,
    key: &str,
    old_target: bool,
) -> std::io::Result<Edges> {
    if let Some(sql) = preamble {
        stdin.write_all(sql.as_bytes()).await?;
    }
    let mut progress = Progress::new("restore", key);
    let mut bytes = 0u64;
    let mut edges = Edges::default();
    let mut first = true;
    while let Some(mut chunk) = rx.recv().await {
        if std::mem::take(&mut first) && old_target {
            chunk = compat::plain_header(chunk);
        }
        stdin.write_all(&chunk).await?;
        edges.update(&chunk);
        bytes += chunk.len() as u64;
        progress.update(bytes, None);
    }
    Ok(edges)
}
