//! Progress of long runs (dumps, restores, verifications): the bytes read
//! and stored, the rate and the time elapsed. In logs, a line every
//! `log.progress_interval`; when a person runs `backup`, `restore` or
//! `verify` in a terminal, a live line at the bottom instead, with the
//! log lines written above it ([`LogWriter`]).

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanDuration, MultiProgress, ProgressBar, ProgressStyle};

static INTERVAL: OnceLock<Duration> = OnceLock::new();

/// The live lines, when stderr is a terminal and a command asked for them.
static TERMINAL: OnceLock<MultiProgress> = OnceLock::new();

/// How often a live line is redrawn.
const LIVE_EVERY: Duration = Duration::from_millis(200);

/// Shows progress as live lines from now on, if stderr is a terminal
/// (for commands a person runs; the agent logs).
pub fn live_if_terminal() {
    if std::io::stderr().is_terminal() {
        let _ = TERMINAL.set(MultiProgress::new());
    }
}

/// Where log lines go: stderr, around the live lines when there are any.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match TERMINAL.get() {
            Some(lines) => lines.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Sets the interval for the whole process (from `log.progress_interval`).
pub fn set_interval(every: Duration) {
    let _ = INTERVAL.set(every);
}

fn interval() -> Duration {
    *INTERVAL.get_or_init(|| crate::config::defaults::PROGRESS_INTERVAL)
}

/// One run's progress reports.
pub struct Progress {
    what: &'static str,
    key: String,
    started: Instant,
    last: Instant,
    every: Duration,
    /// The live line, in a terminal.
    live: Option<ProgressBar>,
}

impl Progress {
    /// `what` names the run in the line: "backup", "restore", ...
    pub fn new(what: &'static str, key: &str) -> Progress {
        let now = Instant::now();
        let live = TERMINAL.get().map(|lines| {
            let bar = lines.add(ProgressBar::new_spinner());
            let style = ProgressStyle::with_template("{spinner} {prefix}: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(format!("{what} {key}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            what,
            key: key.to_string(),
            started: now,
            // The first live line is due at once, log lines after `every`.
            last: match live {
                Some(_) => now.checked_sub(LIVE_EVERY).unwrap_or(now),
                None => now,
            },
            every: if live.is_some() {
                LIVE_EVERY
            } else {
                interval()
            },
            live,
        }
    }

    /// How often a line is due.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// Logs a line when one is due: `read` bytes of the dump (raw, as
    /// pg_dump wrote it or the client receives it) and, when known,
    /// `stored` bytes of the object.
    pub fn update(&mut self, read: u64, stored: Option<u64>) {
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        if let Some(bar) = &self.live {
            bar.set_message(live_line(read, stored, self.started.elapsed()));
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = format!("{:.1}", read as f64 / elapsed / 1_048_576.0);
        let (key, what, elapsed_s) = (&self.key, self.what, elapsed as u64);
        match stored {
            Some(stored) => tracing::info!(
                key = %key,
                bytes_read = read,
                bytes_stored = stored,
                mib_per_s = rate,
                elapsed_s,
                "{what} in progress"
            ),
            None => tracing::info!(
                key = %key,
                bytes_read = read,
                mib_per_s = rate,
                elapsed_s,
                "{what} in progress"
            ),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.live {
            bar.finish_and_clear();
        }
    }
}

/// The live line's text: `12.0 MiB read, 3.1 MiB stored, 4.0 MiB/s, 3 seconds`.
fn live_line(read: u64, stored: Option<u64>, elapsed: Duration) -> String {
    let rate = (read as f64 / elapsed.as_secs_f64().max(0.001)) as u64;
    let stored = stored
        .map(|s| format!(", {} stored", HumanBytes(s)))
        .unwrap_or_default();
    format!(
        "{} read{stored}, {}/s, {}",
        HumanBytes(read),
        HumanBytes(rate),
        HumanDuration(elapsed)
    )
}

/// Counts the bytes read through it, for another thread to see.
pub struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> Counting<R> {
    pub fn new(inner: R) -> (Counting<R>, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            inner,
            count: Arc::clone(&count),
        };
        (counting, count)
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_line_says_read_stored_rate_and_time() {
        let line = live_line(8 * 1_048_576, Some(1_048_576), Duration::from_secs(2));
        assert_eq!(
            line,
            "8.00 MiB read, 1.00 MiB stored, 4.00 MiB/s, 2 seconds"
        );
        let line = live_line(1024, None, Duration::from_secs(1));
        assert_eq!(line, "1.00 KiB read, 1.00 KiB/s, 1 second");
    }

    #[test]
    fn counting_sees_every_byte_read() {
        let data = vec![7u8; 100_000];
        let (mut reader, count) = Counting::new(&data[..]);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(count.load(Ordering::Relaxed), 100_000);
        assert_eq!(out, data);
    }
}
