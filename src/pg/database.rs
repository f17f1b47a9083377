//! The database a restore writes into: create it, check it is empty,
//! count what it holds, drop a scratch one. Every statement runs through
//! `psql` with the password in its environment; names travel as psql
//! variables, never spliced into SQL.

use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::pg::conninfo::{self, Connection};
use crate::pg::tools;

/// Why a statement on the database failed.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("psql stopped reading: {0}")]
    Write(std::io::Error),
    #[error("cannot wait for psql: {0}")]
    Wait(std::io::Error),
    #[error("{0}")]
    Failed(String),
    #[error("unexpected answer {0:?}")]
    Unexpected(String),
    #[error("the connection names no database (dbname)")]
    NoDatabaseName,
}

/// Runs `script` with `psql` on `conn`; `vars` become psql variables
/// (`:'name'` quotes a literal, `:"name"` an identifier). Returns stdout.
pub async fn psql(
    psql: &Path,
    conn: &Connection,
    script: &str,
    vars: &[(&str, &str)],
) -> Result<String, DatabaseError> {
    let mut cmd = tools::command(psql, conn);
    cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]);
    for (name, value) in vars {
        cmd.arg("-v").arg(format!("{name}={value}"));
    }
    cmd.arg("--dbname")
        .arg(&conn.conninfo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| DatabaseError::Spawn {
        program: psql.display().to_string(),
        source,
    })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(script.as_bytes())
        .await
        .map_err(DatabaseError::Write)?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .await
        .map_err(DatabaseError::Wait)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(DatabaseError::Failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// The same server's maintenance database, to create or drop others.
pub fn maintenance(conn: &Connection) -> Connection {
    Connection {
        conninfo: conninfo::with_dbname(&conn.conninfo, "postgres"),
        password: conn.password.clone(),
    }
}

/// Creates the database `conn` names unless it exists; true if created.
pub async fn create_database(psql_bin: &Path, conn: &Connection) -> Result<bool, DatabaseError> {
    let name = conninfo::dbname(&conn.conninfo).ok_or(DatabaseError::NoDatabaseName)?;
    let admin = maintenance(conn);
    let exists = psql(
        psql_bin,
        &admin,
        "SELECT count(*) FROM pg_database WHERE datname = :'name';",
        &[("name", &name)],
    )
    .await?;
    if exists == "1" {
        return Ok(false);
    }
    psql(
        psql_bin,
        &admin,
        "CREATE DATABASE :\"name\";",
        &[("name", &name)],
    )
    .await?;
    Ok(true)
}

/// Drops the database `name` on the server of `conn`, ending the sessions
/// still in it first (a killed client's backend may still be running its
/// last statement).
pub async fn drop_database(
    psql_bin: &Path,
    conn: &Connection,
    name: &str,
) -> Result<(), DatabaseError> {
    let admin = maintenance(conn);
    psql(
        psql_bin,
        &admin,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = :'name' AND pid <> pg_backend_pid();\n\
         DROP DATABASE IF EXISTS :\"name\";",
        &[("name", name)],
    )
    .await
    .map(|_| ())
}

const USER_SCHEMAS: &str = "nspname NOT IN ('pg_catalog', 'information_schema') \
     AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%'";

/// Tables, views, sequences and other relations outside the system schemas.
pub async fn user_relations(psql_bin: &Path, conn: &Connection) -> Result<u64, DatabaseError> {
    let sql = format!(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {USER_SCHEMAS};"
    );
    let out = psql(psql_bin, conn, &sql, &[]).await?;
    out.parse().map_err(|_| DatabaseError::Unexpected(out))
}

/// SQL that drops every user schema (and so every object in them) and
/// leaves an empty `public`, for `restore --clean` of a plain dump.
pub fn clean_sql() -> String {
    format!(
        "DO $keepsake$ DECLARE s text; BEGIN \
           FOR s IN SELECT nspname FROM pg_namespace WHERE {USER_SCHEMAS} LOOP \
             EXECUTE format('DROP SCHEMA %I CASCADE', s); \
           END LOOP; \
         END $keepsake$;\nCREATE SCHEMA IF NOT EXISTS public;\n"
    )
}

/// Tables and rows in the user schemas (exact counts).
pub async fn tables_and_rows(
    psql_bin: &Path,
    conn: &Connection,
) -> Result<(u64, u64), DatabaseError> {
    let sql = "SELECT count(*) || ' ' || coalesce(sum((xpath('/row/c/text()', \
                 query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), \
                 false, true, '')))[1]::text::bigint), 0) \
               FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema');";
    let out = psql(psql_bin, conn, sql, &[]).await?;
    let mut parts = out.split_whitespace().map(str::parse::<u64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(tables)), Some(Ok(rows))) => Ok((tables, rows)),
        _ => Err(DatabaseError::Unexpected(out)),
    }
}
