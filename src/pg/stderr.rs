//! Helpers for the PostgreSQL programs keepsake runs: their stderr is
//! logged line by line and its last lines kept for the error message; an
//! exit status is described as people read it.

use std::collections::VecDeque;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;

/// Lines of stderr kept for the error message.
const TAIL_LINES: usize = 20;

/// A child's stderr, being logged and remembered.
pub struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    task: JoinHandle<()>,
}

impl StderrTail {
    /// Reads `stderr` to its end; lines with `error:`/`FATAL` are logged as
    /// errors, others as warnings (they are warnings, not failures: the exit
    /// status decides).
    pub fn start(
        stderr: impl AsyncRead + Send + Unpin + 'static,
        program: &'static str,
        job: String,
    ) -> Self {
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        let kept = Arc::clone(&lines);
        let task = tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if line.contains("error:") || line.contains("ERROR:") || line.contains("FATAL") {
                    tracing::error!(job = %job, "{program}: {line}");
                } else {
                    tracing::warn!(job = %job, "{program}: {line}");
                }
                let mut tail = kept.lock().expect("stderr tail lock");
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        StderrTail { lines, task }
    }

    /// Waits for stderr to end (the child has exited) and returns its last lines.
    pub async fn finish(self) -> Vec<String> {
        let _ = self.task.await;
        self.lines
            .lock()
            .expect("stderr tail lock")
            .iter()
            .cloned()
            .collect()
    }
}

/// `exit status 1`, `killed by signal 9`.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// `: line | line` for an error message, or nothing.
pub fn tail_text(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!(": {}", lines.join(" | "))
    }
}
