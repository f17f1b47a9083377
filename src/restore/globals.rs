//! Restoring a cluster's globals (`pg_dumpall --globals-only`: roles,
//! memberships, tablespaces) onto a server, all or nothing. The object is
//! small: it is read whole and proved sound (checksum, pg_dumpall's
//! completion line) before a statement runs, then run by psql in one
//! transaction that keepsake commits.
//!
//! Two things of a globals dump cannot run as written in a transaction
//! onto a server that already has roles: pg_dumpall creates every role,
//! the one restoring included, expecting some `CREATE ROLE` to fail; each
//! is made to leave an existing role alone (its attributes are still set
//! by the `ALTER ROLE` after it). And `CREATE TABLESPACE` cannot run in a
//! transaction and needs a directory on the new server: tablespace
//! statements are held out and handed to the operator ([`prepare`]).

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{RestoreError, Restored, judge};
use crate::catalog::{self, Pick};
use crate::config::JobConfig;
use crate::encryption::Identities;
use crate::pg::conninfo::Connection;
use crate::pg::stderr::StderrTail;
use crate::pg::tools;
use crate::readback::plain::Edges;
use crate::readback::{self, Unseal};
use crate::storage::Storage;

/// The largest globals object read into memory: far beyond any cluster's
/// roles (a thousand roles take about 200 KiB).
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// A globals dump made ready to run in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// What psql runs between keepsake's `BEGIN` and `COMMIT`.
    pub sql: String,
    /// Tablespace statements left out, in order, for the operator.
    pub held_out: Vec<String>,
}

/// Whether a statement of a globals dump is about a tablespace.
fn tablespace_statement(line: &str) -> bool {
    line.starts_with("CREATE TABLESPACE ")
        || line.starts_with("ALTER TABLESPACE ")
        || line.starts_with("COMMENT ON TABLESPACE ")
        || line.starts_with("SECURITY LABEL ") && line.contains(" ON TABLESPACE ")
        || (line.starts_with("GRANT ") || line.starts_with("REVOKE "))
            && line.contains(" ON TABLESPACE ")
}

/// A `CREATE ROLE name;` line that leaves an existing role alone, or
/// None when the line is not one (pg_dumpall writes exactly that line per
/// role, the attributes follow in `ALTER ROLE`).
fn tolerant_create_role(line: &str) -> Option<String> {
    let name = line.strip_prefix("CREATE ROLE ")?.strip_suffix(';')?;
    let simple = !name.contains("$keepsake$") && !name.is_empty();
    simple.then(|| {
        format!(
            "DO $keepsake$ BEGIN CREATE ROLE {name}; \
             EXCEPTION WHEN duplicate_object THEN \
             RAISE NOTICE 'keepsake: role % exists; its attributes are set next', {literal}; \
             END $keepsake$;",
            literal = quote_literal(name),
        )
    })
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Makes a globals dump ready for one transaction: every `CREATE ROLE`
/// tolerant of an existing role, tablespace statements held out.
/// Statements of pg_dumpall's globals are one line each.
pub fn prepare(dump: &str) -> Prepared {
    let mut sql = String::with_capacity(dump.len() + 1024);
    let mut held_out = Vec::new();
    for line in dump.lines() {
        if tablespace_statement(line) {
            held_out.push(line.to_string());
            continue;
        }
        match tolerant_create_role(line) {
            Some(tolerant) => sql.push_str(&tolerant),
            None => sql.push_str(line),
        }
        sql.push('\n');
    }
    Prepared { sql, held_out }
}

/// Picks a globals backup of `job` (the globals unit of a cluster job) in
/// `storage` and restores it onto the server of `target`.
pub async fn restore(
    job: &JobConfig,
    storage: &dyn Storage,
    pick: &Pick,
    target: &Connection,
    identities: Option<&Identities>,
    cancel: &CancellationToken,
) -> Result<(Restored, Prepared), RestoreError> {
    let backups = catalog::backups(job, storage).await?;
    let backup = catalog::pick(&backups, pick, jiff::Timestamp::now())?.clone();
    let manifest = readback::manifest(storage, &backup.key).await?;
    let reading = readback::reading(&backup, manifest.as_ref(), identities)?;
    if matches!(reading.unseal, Unseal::Opaque) {
        return Err(readback::needs_identity(&backup, manifest.as_ref()).into());
    }
    let client = readback::client_for(&backup, manifest.as_ref()).await?;
    tracing::info!(job = %job.name, key = %backup.key, taken = %backup.name.at, "restoring the cluster's globals");

    // Read and prove the whole object before anything runs.
    let reader = storage.get(&backup.key).await?;
    let (tx, mut rx) = mpsc::channel(4);
    let reading = readback::stream::start(reader, reading, tx);
    let mut dump = Vec::new();
    let mut edges = Edges::default();
    while let Some(chunk) = rx.recv().await {
        edges.update(&chunk);
        dump.extend_from_slice(&chunk);
        if dump.len() as u64 > MAX_BYTES {
            return Err(RestoreError::Reader(format!(
                "{} is larger than {MAX_BYTES} bytes: not a globals dump",
                backup.key
            )));
        }
    }
    let summary = match reading.await {
        Ok(result) => result?,
        Err(e) => return Err(RestoreError::Reader(e.to_string())),
    };
    if let Some(problem) = edges.problem() {
        let key = backup.key.clone();
        return Err(RestoreError::Incomplete { key, problem });
    }
    if !edges.is_cluster_dump() {
        return Err(RestoreError::Flags(format!(
            "{} is a database's dump, not a cluster's globals",
            backup.key
        )));
    }
    let prepared = prepare(&String::from_utf8_lossy(&dump));
    run(&client.path, target, &prepared.sql, cancel).await?;
    tracing::info!(key = %backup.key, held_out = prepared.held_out.len(), "globals restored");
    Ok((Restored { backup, summary }, prepared))
}

/// Runs `sql` with psql on `target` in one transaction; killed before its
/// commit (a signal, keepsake's death), the server rolls it back.
async fn run(
    psql: &std::path::Path,
    target: &Connection,
    sql: &str,
    cancel: &CancellationToken,
) -> Result<(), RestoreError> {
    let mut cmd = tools::command(psql, target);
    // Terse errors: no `LINE 1: ...` echo of a statement, which could
    // hold a password hash (globals_with_passwords).
    cmd.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-v",
        "VERBOSITY=terse",
        "--dbname",
    ])
    .arg(&target.conninfo)
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| RestoreError::Spawn {
        program: psql.display().to_string(),
        source,
    })?;
    let stderr = StderrTail::start(
        child.stderr.take().expect("stderr is piped"),
        "psql",
        String::new(),
    );
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let script = format!("BEGIN;\n{sql}\nCOMMIT;\n");
    let fed = tokio::select! {
        fed = stdin.write_all(script.as_bytes()) => Some(fed),
        _ = cancel.cancelled() => None,
    };
    drop(stdin);
    if fed.is_none() {
        let _ = child.kill().await;
        let _ = stderr.finish().await;
        return Err(RestoreError::Cancelled);
    }
    let status = tokio::select! {
        status = child.wait() => status,
        _ = cancel.cancelled() => {
            let _ = child.kill().await;
            let _ = stderr.finish().await;
            return Err(RestoreError::Cancelled);
        }
    };
    judge(status, stderr, "psql").await
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "--\n-- PostgreSQL database cluster dump\n--\n\n\
        SET default_transaction_read_only = off;\n\n\
        CREATE ROLE app;\n\
        ALTER ROLE app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN;\n\
        CREATE ROLE \"Odd 'name'\";\n\
        ALTER ROLE \"Odd 'name'\" WITH NOLOGIN;\n\
        CREATE ROLE postgres;\n\
        GRANT app TO \"Odd 'name'\" WITH INHERIT TRUE GRANTED BY postgres;\n\
        CREATE TABLESPACE fast OWNER app LOCATION '/srv/fast';\n\
        GRANT CREATE ON TABLESPACE fast TO app;\n\
        COMMENT ON TABLESPACE fast IS 'ssd';\n\
        --\n-- PostgreSQL database cluster dump complete\n--\n";

    #[test]
    fn roles_are_created_unless_they_exist_and_tablespaces_held_out() {
        let prepared = prepare(DUMP);
        assert_eq!(
            prepared.held_out,
            [
                "CREATE TABLESPACE fast OWNER app LOCATION '/srv/fast';",
                "GRANT CREATE ON TABLESPACE fast TO app;",
                "COMMENT ON TABLESPACE fast IS 'ssd';",
            ]
        );
        assert!(!prepared.sql.contains("TABLESPACE"));
        assert!(!prepared.sql.lines().any(|l| l.starts_with("CREATE ROLE")));
        assert!(prepared.sql.contains(
            "DO $keepsake$ BEGIN CREATE ROLE \"Odd 'name'\"; EXCEPTION WHEN duplicate_object"
        ));
        assert!(
            prepared.sql.contains("'\"Odd ''name''\"'"),
            "{}",
            prepared.sql
        );
        assert!(prepared.sql.contains("ALTER ROLE app WITH"));
        assert!(prepared.sql.contains("GRANT app TO"));
        assert!(
            prepared
                .sql
                .contains("-- PostgreSQL database cluster dump complete")
        );
    }

    #[test]
    fn only_whole_create_role_lines_are_rewritten() {
        assert_eq!(tolerant_create_role("CREATE ROLE app WITH LOGIN"), None);
        assert_eq!(tolerant_create_role("CREATE ROLE ;"), None);
        assert_eq!(tolerant_create_role("CREATE ROLE x$keepsake$;"), None);
        assert!(tolerant_create_role("CREATE ROLE app;").is_some());
    }
}
