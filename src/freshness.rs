//! Whether a job's backups are fresh, pure: its newest complete backup is
//! younger than its `stale_after`, by default twice the longest gap
//! between its schedule's next occurrences (so a weekday-only schedule is
//! not stale every Monday).

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::schedule::{self, Schedule};

/// Occurrences looked at for the longest gap of a schedule.
const OCCURRENCES: usize = 16;

/// A job's state in one storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// The newest backup is older than `stale_after`.
    Stale,
    /// Not one complete backup.
    NoBackup,
}

impl Freshness {
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::NoBackup => "no backup",
        }
    }
}

/// The longest gap between the next occurrences of `schedule` after `now`.
pub fn longest_gap(schedule: &Schedule, tz: &TimeZone, now: Timestamp) -> Option<SignedDuration> {
    let mut at = now;
    let mut times = Vec::with_capacity(OCCURRENCES);
    for _ in 0..OCCURRENCES {
        at = schedule::next_after(schedule, tz, at)?.timestamp();
        times.push(at);
    }
    times.windows(2).map(|w| w[1].duration_since(w[0])).max()
}

/// How old the newest backup may be: the job's `stale_after`, else twice
/// its schedule's longest gap; None for a job with neither.
pub fn stale_after(
    explicit: Option<std::time::Duration>,
    schedule: Option<&Schedule>,
    tz: &TimeZone,
    now: Timestamp,
) -> Option<SignedDuration> {
    match explicit {
        Some(d) => SignedDuration::try_from(d).ok(),
        None => longest_gap(schedule?, tz, now).map(|gap| gap * 2),
    }
}

/// The verdict on a newest backup taken at `newest`. Without a limit, any
/// backup is fresh.
pub fn judge(
    newest: Option<Timestamp>,
    stale_after: Option<SignedDuration>,
    now: Timestamp,
) -> Freshness {
    match (newest, stale_after) {
        (None, _) => Freshness::NoBackup,
        (Some(taken), Some(limit)) if now.duration_since(taken) > limit => Freshness::Stale,
        (Some(_), _) => Freshness::Fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_limit_is_twice_the_longest_gap() {
        let daily = schedule::parse("0 3 * * *").unwrap();
        let now = at("2026-11-29T12:00:00Z");
        let limit = stale_after(None, Some(&daily), &TimeZone::UTC, now);
        assert_eq!(limit, Some(SignedDuration::from_hours(48)));
        // Weekdays only: the weekend gap of three days counts.
        let weekdays = schedule::parse("0 3 * * 1-5").unwrap();
        let limit = stale_after(None, Some(&weekdays), &TimeZone::UTC, now);
        assert_eq!(limit, Some(SignedDuration::from_hours(6 * 24)));
        let explicit = Some(std::time::Duration::from_secs(3600));
        let limit = stale_after(explicit, Some(&daily), &TimeZone::UTC, now);
        assert_eq!(limit, Some(SignedDuration::from_hours(1)));
        assert_eq!(stale_after(None, None, &TimeZone::UTC, now), None);
    }

    #[test]
    fn fresh_stale_and_none() {
        let now = at("2026-11-29T12:00:00Z");
        let day = Some(SignedDuration::from_hours(24));
        let judge_at = |taken: &str| judge(Some(at(taken)), day, now);
        assert_eq!(judge_at("2026-11-29T03:00:00Z"), Freshness::Fresh);
        assert_eq!(judge_at("2026-11-28T12:00:00Z"), Freshness::Fresh);
        assert_eq!(judge_at("2026-11-28T11:59:59Z"), Freshness::Stale);
        assert_eq!(judge(None, day, now), Freshness::NoBackup);
        assert_eq!(
            judge(Some(at("2020-01-01T00:00:00Z")), None, now),
            Freshness::Fresh
        );
    }
}
