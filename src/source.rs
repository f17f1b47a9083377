//! The source stage: `pg_dump` as a child process. Its stdout is the dump;
//! its stderr is logged and kept; its exit status decides, after stdout
//! ends, whether the dump is whole.

use std::process::Stdio;

use tokio::process::{Child, ChildStdout};

use crate::child::{self, StderrTail};
use crate::config::{DumpFormat, JobConfig};
use crate::pgtools::{self, PgTool};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("pg_dump failed ({status}){}", child::tail_text(.stderr))]
    Failed { status: String, stderr: Vec<String> },
    #[error("cannot wait for pg_dump: {0}")]
    Wait(std::io::Error),
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
    pub fn spawn(tool: &PgTool, job: &JobConfig) -> Result<(PgDump, ChildStdout), SourceError> {
        let mut cmd = pgtools::command(&tool.path, &job.connection);
        cmd.args(arguments(job))
            .arg("--dbname")
            .arg(&job.connection.conninfo)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| SourceError::Spawn {
            program: tool.path.display().to_string(),
            source,
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");
        let stderr = StderrTail::start(stderr_pipe, "pg_dump", job.name.clone());
        Ok((PgDump { child, stderr }, stdout))
    }

    /// Stops pg_dump at once (the backup is being abandoned).
    pub async fn kill(&mut self) {
        if let Err(e) = self.child.kill().await {
            tracing::debug!(error = %e, "pg_dump had already exited");
        }
    }

    /// Waits for pg_dump to exit; anything but exit status 0 is a failure.
    pub async fn finish(mut self) -> Result<(), SourceError> {
        let status = self.child.wait().await.map_err(SourceError::Wait)?;
        // stderr ends when pg_dump exits; take every line before judging.
        let stderr = self.stderr.finish().await;
        if status.success() {
            Ok(())
        } else {
            Err(SourceError::Failed {
                status: child::describe(status),
                stderr,
            })
        }
    }
}
