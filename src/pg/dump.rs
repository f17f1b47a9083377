//! `pg_dump` (or, for a cluster's globals, `pg_dumpall --globals-only`)
//! as a child process. Its stdout is the dump; its stderr is
//! logged and kept; its exit status decides, after stdout ends, whether
//! the dump is whole. [`DumpProcess`] is that contract, so a backup can be
//! tested with a dump that is not a child.

use std::process::Stdio;

use async_trait::async_trait;
use tokio::process::{Child, ChildStdout};

use crate::config::{DumpFormat, Globals, JobConfig};
use crate::pg::conninfo;
use crate::pg::stderr::{self, StderrTail};
use crate::pg::tools::{self, PgTool};

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed ({status}){}", stderr::tail_text(.stderr))]
    Failed {
        program: &'static str,
        status: String,
        stderr: Vec<String>,
    },
    #[error("cannot wait for the dump: {0}")]
    Wait(std::io::Error),
}

/// What produces a dump: it can be stopped, and once its output has
/// ended it says whether that output was whole.
#[async_trait]
pub trait DumpProcess: Send {
    /// Stops the dump at once (the backup is being abandoned).
    async fn kill(&mut self);

    /// Waits for the end; anything but a clean exit is a failure.
    async fn finish(self: Box<Self>) -> Result<(), DumpError>;
}

/// A running pg_dump or pg_dumpall.
pub struct PgDump {
    program: &'static str,
    child: Child,
    stderr: StderrTail,
}

/// The pg_dump arguments for `job`, without the connection.
pub fn arguments(job: &JobConfig) -> Vec<String> {
    let mut args = Vec::new();
    match job.format {
        DumpFormat::Plain => args.push("--format=plain".into()),
        // keepsake compresses the stream itself; pg_dump's own gzip would
        // only make the archive slower to write and impossible to squeeze.
        DumpFormat::Custom => args.extend(["--format=custom".into(), "--compress=0".into()]),
    }
    args.extend(job.pg_dump_args.iter().cloned());
    args
}

/// The pg_dumpall arguments for the globals of `job`: roles (without
/// their password hashes unless asked), memberships, tablespaces.
pub fn globals_arguments(job: &JobConfig) -> Vec<String> {
    let mut args = vec!["--globals-only".to_string()];
    if job.globals != Globals::WithPasswords {
        args.push("--no-role-passwords".into());
    }
    // pg_dumpall ignores the database of a connection string.
    if let Some(db) = conninfo::dbname(&job.connection.conninfo) {
        args.push(format!("--database={db}"));
    }
    args
}

impl PgDump {
    /// Starts pg_dump for `job`; the password goes in its environment.
    pub fn spawn(tool: &PgTool, job: &JobConfig) -> Result<(PgDump, ChildStdout), DumpError> {
        Self::start("pg_dump", tool, job, arguments(job))
    }

    /// Starts `pg_dumpall --globals-only` for `job`'s server.
    pub fn spawn_globals(
        tool: &PgTool,
        job: &JobConfig,
    ) -> Result<(PgDump, ChildStdout), DumpError> {
        Self::start("pg_dumpall", tool, job, globals_arguments(job))
    }

    fn start(
        program: &'static str,
        tool: &PgTool,
        job: &JobConfig,
        args: Vec<String>,
    ) -> Result<(PgDump, ChildStdout), DumpError> {
        let mut cmd = tools::command(&tool.path, &job.connection);
        cmd.args(args)
            .arg("--dbname")
            .arg(&job.connection.conninfo)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| DumpError::Spawn {
            program: tool.path.display().to_string(),
            source,
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");
        let stderr = StderrTail::start(stderr_pipe, program, job.name.clone());
        let dump = PgDump {
            program,
            child,
            stderr,
        };
        Ok((dump, stdout))
    }
}

#[async_trait]
impl DumpProcess for PgDump {
    async fn kill(&mut self) {
        if let Err(e) = self.child.kill().await {
            tracing::debug!(error = %e, "pg_dump had already exited");
        }
    }

    /// Exit status 0 only; stderr is read to its end first.
    async fn finish(mut self: Box<Self>) -> Result<(), DumpError> {
        let status = self.child.wait().await.map_err(DumpError::Wait)?;
        // stderr ends when pg_dump exits; take every line before judging.
        let stderr = self.stderr.finish().await;
        if status.success() {
            Ok(())
        } else {
            Err(DumpError::Failed {
                program: self.program,
                status: stderr::describe(status),
                stderr,
            })
        }
    }
}
