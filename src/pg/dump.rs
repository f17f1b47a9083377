//! `pg_dump` as a child process. Its stdout is the dump; its stderr is
//! logged and kept; its exit status decides, after stdout ends, whether
//! the dump is whole. [`DumpProcess`] is that contract, so a backup can be
//! tested with a dump that is not a child.

use std::process::Stdio;

use async_trait::async_trait;
use tokio::process::{Child, ChildStdout};

use crate::config::{DumpFormat, JobConfig};
use crate::pg::stderr::{self, StderrTail};
use crate::pg::tools::{self, PgTool};

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("pg_dump failed ({status}){}", stderr::tail_text(.stderr))]
    Failed { status: String, stderr: Vec<String> },
    #[error("cannot wait for pg_dump: {0}")]
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

/// A running pg_dump.
pub struct PgDump {
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

impl PgDump {
    /// Starts pg_dump for `job`; the password goes in its environment.
    pub fn spawn(tool: &PgTool, job: &JobConfig) -> Result<(PgDump, ChildStdout), DumpError> {
        let mut cmd = tools::command(&tool.path, &job.connection);
        cmd.args(arguments(job))
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
        let stderr = StderrTail::start(stderr_pipe, "pg_dump", job.name.clone());
        Ok((PgDump { child, stderr }, stdout))
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
                status: stderr::describe(status),
                stderr,
            })
        }
    }
}
