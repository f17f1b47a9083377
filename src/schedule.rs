//! Cron expressions: 5 fields (crontab), 6 with a leading seconds field, or
//! an `@daily`-style nickname, parsed once at validation.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

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

/// Parses `expr`, or says why it is not a cron expression.
pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build();
    let cron = parser.parse(expr).map_err(|e| ScheduleError {
        expr: expr.to_string(),
        reason: e.to_string(),
    })?;
    Ok(Schedule {
        expr: expr.trim().to_string(),
        cron,
    })
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
    fn rejects_garbage_with_the_expression_named() {
        for bad in ["", "0 3 * *", "61 * * * *", "every day", "0 0 0 1 1 * 2030"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
