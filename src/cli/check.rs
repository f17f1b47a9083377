//! `keepsake check [--quiet] [--connect]`: the configuration as TOML with
//! secrets as `***`; with `--connect`, also whether each job's database
//! lets keepsake in and has a pg_dump that fits it, so that a package
//! that is not set up yet fails at start instead of at the first backup.

use std::path::Path;
use std::sync::Arc;

use super::select_jobs;
use crate::config::{self, Config, JobConfig};
use crate::pg::tools::{self, PgTool, ToolError};

/// What `--connect` found for one job.
#[derive(Debug, PartialEq, Eq)]
enum Reach {
    /// Connected, and a fitting pg_dump exists: what to print.
    Ready(String),
    /// The server answered and refused (role, password, database, pg_hba),
    /// or no pg_dump fits it: a setup problem that waiting does not fix.
    Refused(String),
    /// The server could not be reached now (down, starting, no route):
    /// a warning, since it may come up before the first backup.
    Unreachable(String),
}

/// Where people find how to create the role and grant it.
const ROLE_HINT: &str = "keepsake needs a PostgreSQL role that can log in and read everything \
     (GRANT pg_read_all_data), reached by peer authentication over the Unix socket for a local \
     server, or with a password (password_file, ~/.pgpass) for a remote one; see \"Database role\" \
     in /usr/share/doc/keepsake/README.md";

/// Fragments of libpq's messages for a server that is not there (yet).
/// A Unix socket that does not exist is not among them: the unit starts
/// after a local PostgreSQL, so a missing socket means none listens there
/// (not installed, or another port), which waiting does not fix.
const UNREACHABLE: &[&str] = &[
    "Connection refused",
    "could not translate host name",
    "timeout expired",
    "Connection timed out",
    "No route to host",
    "Network is unreachable",
    "Connection reset by peer",
    "server closed the connection unexpectedly",
    "could not receive data from server",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
    "too many clients",
    "remaining connection slots are reserved",
];

/// Whether psql's error says the server was not reached (rather than
/// that it refused).
fn unreachable(message: &str) -> bool {
    UNREACHABLE.iter().any(|m| message.contains(m))
}

/// `keepsake check`: exit 0 when the configuration is valid (and, with
/// `connect`, every database let keepsake in), 1 when one refused.
pub async fn check(config: &Config, quiet: bool, connect: bool) -> u8 {
    if !quiet {
        print!("{}", config::view::render_toml(config));
    }
    for warning in config::advice(config) {
        eprintln!("keepsake: warning: {warning}");
    }
    if !connect {
        return 0;
    }
    let locks = check_locks(config).await;
    let Some(jobs) = select_jobs(config, &[]) else {
        return 1;
    };
    // The client programs are found once; then every job is probed at
    // once: a pre-start check must not add up connect timeouts (systemd
    // gives the start 90 s).
    let psql = match tools::newest("psql").await {
        Ok(psql) => psql.path,
        Err(e) => {
            eprintln!("keepsake: {e}");
            return 1;
        }
    };
    let dumps = Arc::new(tools::discover("pg_dump").await);
    let probes: Vec<_> = jobs
        .iter()
        .map(|job| {
            let (job, psql, dumps) = ((*job).clone(), psql.clone(), Arc::clone(&dumps));
            tokio::spawn(async move { reach(&job, &psql, &dumps).await })
        })
        .collect();
    let mut reached = Vec::with_capacity(probes.len());
    for probe in probes {
        reached.push(
            probe
                .await
                .unwrap_or_else(|e| Reach::Refused(e.to_string())),
        );
    }
    let mut refused = 0;
    for (job, reach) in jobs.iter().zip(reached) {
        match reach {
            Reach::Ready(what) if !quiet => println!("jobs.{}: {what}", job.name),
            Reach::Ready(_) => {}
            Reach::Unreachable(why) => eprintln!(
                "keepsake: warning: jobs.{}: the database cannot be reached now ({why}); \
                 backups will fail until it can",
                job.name
            ),
            Reach::Refused(why) => {
                refused += 1;
                eprintln!("keepsake: jobs.{}: {why}", job.name);
            }
        }
    }
    if refused > 0 {
        eprintln!("keepsake: {ROLE_HINT}");
    }
    if refused > 0 || !locks { 1 } else { 0 }
}

/// Whether every storage with `object_lock` is a bucket with Object Lock
/// enabled; the others are printed.
async fn check_locks(config: &Config) -> bool {
    let mut sound = true;
    for (name, settings) in &config.storage {
        let config::StorageConfig::S3(s3) = settings else {
            continue;
        };
        if s3.object_lock.is_none() {
            continue;
        }
        let storage = crate::storage::open(settings).await;
        if let Err(e) = storage.preflight().await {
            eprintln!("keepsake: storage.{name}: {e}");
            sound = false;
        }
    }
    sound
}

/// Whether `job`'s server lets `psql` in, and one of `dumps` fits it.
async fn reach(job: &JobConfig, psql: &Path, dumps: &[PgTool]) -> Reach {
    let server = match tools::server_version(psql, &job.connection).await {
        Ok(v) => v,
        Err(ToolError::ServerVersion(message)) if unreachable(&message) => {
            return Reach::Unreachable(message);
        }
        // libpq names the socket in every error over it; only a missing
        // socket file means nobody listens there.
        Err(ToolError::ServerVersion(message))
            if message.contains("on socket") && message.contains("No such file or directory") =>
        {
            return Reach::Refused(format!(
                "no PostgreSQL listens on that socket (not installed, not started, or on \
                 another port or socket directory): {message}"
            ));
        }
        Err(e) => return Reach::Refused(format!("PostgreSQL refused keepsake: {e}")),
    };
    match tools::choose(dumps, server, "pg_dump") {
        Ok(dump) => Reach::Ready(format!(
            "connected to PostgreSQL {server}; pg_dump {} ({}) fits",
            dump.version,
            dump.path.display()
        )),
        Err(e) => Reach::Refused(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_is_down_is_told_from_one_that_refuses() {
        for down in [
            "psql: error: connection to server at \"127.0.0.1\", port 5999 failed: Connection refused",
            "psql: error: could not translate host name \"db\" to address: Name or service not known",
            "FATAL:  the database system is starting up",
        ] {
            assert!(unreachable(down), "{down}");
        }
        assert!(unreachable(
            "psql: error: connection to server at \"10.0.0.5\", port 5432 failed: FATAL:  the database system is not yet accepting connections"
        ));
        for refused in [
            "psql: error: connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory",
            "FATAL:  role \"keepsake\" does not exist",
            "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  role \"keepsake\" does not exist",
            "FATAL:  Peer authentication failed for user \"keepsake\"",
            "fe_sendauth: no password supplied",
            "FATAL:  password authentication failed for user \"app\"",
            "FATAL:  database \"shop\" does not exist",
            "FATAL:  no pg_hba.conf entry for host \"10.0.0.2\"",
        ] {
            assert!(!unreachable(refused), "{refused}");
        }
    }
}
