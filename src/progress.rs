//! Progress of long runs: a line every `log.progress_interval` with the
//! bytes read and stored, the rate and the time elapsed, for dumps,
//! restores and verifications.

use std::io::Read;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static INTERVAL: OnceLock<Duration> = OnceLock::new();

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
}

impl Progress {
    /// `what` names the run in the line: "backup", "restore", ...
    pub fn new(what: &'static str, key: &str) -> Progress {
        let now = Instant::now();
        Progress {
            what,
            key: key.to_string(),
            started: now,
            last: now,
            every: interval(),
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
    fn counting_sees_every_byte_read() {
        let data = vec![7u8; 100_000];
        let (mut reader, count) = Counting::new(&data[..]);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(count.load(Ordering::Relaxed), 100_000);
        assert_eq!(out, data);
    }
}
