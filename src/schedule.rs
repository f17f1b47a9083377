//! Cron expressions: 5 fields (crontab), 6 with a leading seconds field, or
//! an `@daily`-style nickname, parsed once at validation; one that never
//! fires (`0 3 31 2 *`) is refused there rather than idling silently.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};

/// A parsed cron expression with the text it came from.
#[derive(Clone)]
pub struct Schedule {
    pub expr: String,
    pub cron: Cron,
}

/// A schedule shows as the expression it was written as.
impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expr)
    }
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schedule({:?})", self.expr)
    }
}

/// Why a text is not a cron expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expr:?}: {reason}")]
pub struct ScheduleError {
    pub expr: String,
    pub reason: String,
}

/// The Gregorian calendar repeats every 400 years (146,097 days, a whole
/// number of weeks), and an expression has no year field: one that does
/// not fire within 400 years of some time never fires at all.
const CALENDAR_CYCLE_YEARS: i64 = 400;

/// Any time will do as the start of the cycle searched; a fixed one keeps
/// [`parse`] pure.
const CYCLE_START: &str = "2000-01-01T00:00:00Z";

/// Parses `expr`, or says why it is not a cron expression or why it would
/// never fire.
pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
    let error = |reason: String| ScheduleError {
        expr: expr.to_string(),
        reason,
    };
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build();
    let cron = parser.parse(expr).map_err(|e| error(e.to_string()))?;
    let schedule = Schedule {
        expr: expr.trim().to_string(),
        cron,
    };
    let start: Timestamp = CYCLE_START.parse().expect("a valid constant time");
    if fires_within(&schedule, &TimeZone::UTC, start, CALENDAR_CYCLE_YEARS).is_none() {
        return Err(error(
            "it never fires: no date in the calendar matches it (e.g. 30 February)".to_string(),
        ));
    }
    Ok(schedule)
}

/// The first time `schedule` fires after `after` and no more than `years`
/// later, in `tz`; a horizon past the end of the calendar is no limit.
pub fn fires_within(
    schedule: &Schedule,
    tz: &TimeZone,
    after: Timestamp,
    years: i64,
) -> Option<Zoned> {
    let until = Span::new()
        .try_years(years)
        .ok()
        .and_then(|span| after.to_zoned(tz.clone()).checked_add(span).ok());
    next_after(schedule, tz, after)
        .filter(|next| until.is_none_or(|until| next.timestamp() <= until.timestamp()))
}

/// The first time after `after` that `schedule` fires, in `tz`. Each
/// occurrence is computed afresh in the zone, so daylight saving changes
/// never shift a schedule. None when the expression never fires again.
pub fn next_after(schedule: &Schedule, tz: &TimeZone, after: Timestamp) -> Option<Zoned> {
    let start = after.to_zoned(tz.clone());
    schedule.cron.find_next_occurrence(&start, false).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn runs(expr: &str, tz: &TimeZone, from: &str, n: usize) -> Vec<String> {
        let schedule = parse(expr).unwrap();
        let mut at: Timestamp = from.parse().unwrap();
        let mut out = Vec::new();
        for _ in 0..n {
            let next = next_after(&schedule, tz, at).unwrap();
            out.push(next.strftime("%Y-%m-%d %H:%M:%S %:z").to_string());
            at = next.timestamp();
        }
        out
    }

    #[test]
    fn daily_job_stays_at_local_time_across_autumn_change() {
        // Clocks go back on 2026-10-25 in Berlin: +02:00 -> +01:00.
        let got = runs("0 3 * * *", &berlin(), "2026-10-23T12:00:00Z", 4);
        assert_eq!(
            got,
            [
                "2026-10-24 03:00:00 +02:00",
                "2026-10-25 03:00:00 +01:00",
                "2026-10-26 03:00:00 +01:00",
                "2026-10-27 03:00:00 +01:00",
            ]
        );
    }

    #[test]
    fn daily_job_stays_at_local_time_across_spring_change() {
        // Clocks go forward on 2026-03-29 in Berlin: +01:00 -> +02:00.
        let got = runs("0 3 * * *", &berlin(), "2026-03-27T12:00:00Z", 3);
        assert_eq!(
            got,
            [
                "2026-03-28 03:00:00 +01:00",
                "2026-03-29 03:00:00 +02:00",
                "2026-03-30 03:00:00 +02:00",
            ]
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_runs_once_that_day() {
        // 02:30 does not exist on 2026-03-29 in Berlin.
        let got = runs("30 2 * * *", &berlin(), "2026-03-27T12:00:00Z", 3);
        assert_eq!(got[0], "2026-03-28 02:30:00 +01:00");
        assert_eq!(
            got[1], "2026-03-29 03:00:00 +02:00",
            "the first time after the gap"
        );
        assert_eq!(got[2], "2026-03-30 02:30:00 +02:00");
    }

    #[test]
    fn a_time_in_the_autumn_repeat_runs_once() {
        // 02:30 happens twice on 2026-10-25 in Berlin.
        let got = runs("30 2 * * *", &berlin(), "2026-10-24T12:00:00Z", 2);
        assert_eq!(
            got,
            ["2026-10-25 02:30:00 +02:00", "2026-10-26 02:30:00 +01:00"]
        );
    }

    #[test]
    fn day_of_month_and_weekday_follow_crontabs_or_rule() {
        // The 1st of the month OR any Monday.
        let got = runs("0 0 1 * MON", &TimeZone::UTC, "2026-11-28T00:00:00Z", 3);
        assert_eq!(
            got,
            [
                "2026-11-30 00:00:00 +00:00",
                "2026-12-01 00:00:00 +00:00",
                "2026-12-07 00:00:00 +00:00"
            ]
        );
    }

    #[test]
    fn six_fields_have_seconds() {
        let got = runs("*/20 * * * * *", &TimeZone::UTC, "2026-11-28T00:00:05Z", 3);
        assert_eq!(
            got,
            [
                "2026-11-28 00:00:20 +00:00",
                "2026-11-28 00:00:40 +00:00",
                "2026-11-28 00:01:00 +00:00"
            ]
        );
    }

    #[test]
    fn accepts_five_six_fields_and_nicknames() {
        for ok in [
            "0 3 * * *",
            "*/5 * * * * *",
            "@daily",
            "@hourly",
            "0 0 1 * MON",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn expressions_that_never_fire_are_refused() {
        for never in [
            "0 3 31 2 *",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
            "0 0 31W 2 *",
            "0 0 0 30 2 *",
        ] {
            let err = parse(never).unwrap_err();
            assert!(err.reason.contains("never fires"), "{never}: {err}");
            assert!(err.to_string().contains(&format!("{never:?}")), "{err}");
        }
        // Rare is not never: 29 February, and a fifth Monday of February
        // (leap years whose February starts on a Monday, 28 years apart).
        for rare in ["0 0 29 2 *", "0 0 * 2 MON#5", "0 0 L 2 *"] {
            assert!(parse(rare).is_ok(), "{rare}");
        }
    }

    #[test]
    fn fires_within_looks_no_further_than_asked() {
        let leap_day = parse("0 0 29 2 *").unwrap();
        let from: Timestamp = "2097-01-01T00:00:00Z".parse().unwrap();
        // 2100 is no leap year: the next 29 February is in 2104.
        assert!(fires_within(&leap_day, &TimeZone::UTC, from, 6).is_none());
        let next = fires_within(&leap_day, &TimeZone::UTC, from, 8).unwrap();
        assert_eq!(next.strftime("%Y-%m-%d").to_string(), "2104-02-29");
        let daily = parse("@daily").unwrap();
        assert!(fires_within(&daily, &berlin(), from, 0).is_none());
        assert!(fires_within(&daily, &berlin(), from, i64::MAX).is_some());
    }

    #[test]
    fn odd_expressions_never_panic() {
        for odd in [
            "*/0 * * * *",
            "0 0 1#9 * *",
            "0 0 * * MON#0",
            "1-99999999999 * * * *",
            "*/4294967296 * * * *",
            "0 0 32W * *",
            "0 0 LW * *",
            "0 0 * * 5L",
            "0 0 ? * ?",
            "59-0 * * * *",
            "0 0 29 2 MON#5",
        ] {
            let _ = parse(odd);
        }
    }

    #[test]
    fn rejects_garbage_with_the_expression_named() {
        for bad in ["", "0 3 * *", "61 * * * *", "every day", "0 0 0 1 1 * 2030"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
