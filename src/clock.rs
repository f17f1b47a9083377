//! The wall clock, behind a trait so that schedules can be tested in
//! tokio's paused time instead of real minutes.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that starts at a given time and advances with tokio's clock, so
/// that `tokio::time::pause` makes days pass in microseconds.
pub struct TokioClock {
    start: Timestamp,
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(start: Timestamp) -> TokioClock {
        TokioClock {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed =
            SignedDuration::try_from(self.origin.elapsed()).unwrap_or(SignedDuration::MAX);
        self.start.saturating_add(elapsed).unwrap_or(self.start)
    }
}

/// The longest single sleep: the wall clock is checked again at least this
/// often, so a clock step (NTP, suspend) delays a run by at most this much.
const MAX_NAP: Duration = Duration::from_secs(60);

/// Sleeps until `clock` reads `deadline` or later.
pub async fn sleep_until(clock: &dyn Clock, deadline: Timestamp) {
    loop {
        let left = deadline.duration_since(clock.now());
        if left <= SignedDuration::ZERO {
            return;
        }
        let left = Duration::try_from(left).unwrap_or(MAX_NAP);
        tokio::time::sleep(left.min(MAX_NAP)).await;
    }
}
