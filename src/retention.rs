//! Retention planning, pure: given a policy, a job's listed backups and
//! `now`, decide for every backup whether it is kept (and by which rules)
//! or deleted. A backup survives if any rule keeps it; with no rule at all
//! every backup is kept; the newest complete backup is always kept.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::catalog::{self, Backup};
use crate::config::Retention;

/// Why a backup is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NoRules,
    NewestComplete,
    Last,
    Days,
    Daily,
    Weekly,
    Monthly,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reason::NoRules => "no retention rule",
            Reason::NewestComplete => "newest complete backup",
            Reason::Last => "keep_last",
            Reason::Days => "keep_days",
            Reason::Daily => "keep_daily",
            Reason::Weekly => "keep_weekly",
            Reason::Monthly => "keep_monthly",
        })
    }
}

/// The verdict on one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub backup: Backup,
    /// Empty means delete.
    pub keep: Vec<Reason>,
}

impl Decision {
    pub fn deleted(&self) -> bool {
        self.keep.is_empty()
    }
}

/// The calendar periods of the daily, weekly and monthly rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    Month,
}

/// Which period of its kind `at` falls in, in `tz`: (year, number).
fn period_of(at: Timestamp, tz: &TimeZone, period: Period) -> (i32, i32) {
    let date = at.to_zoned(tz.clone()).date();
    match period {
        Period::Day => (date.year() as i32, date.day_of_year() as i32),
        Period::Week => {
            let week = date.iso_week_date();
            (week.year() as i32, week.week() as i32)
        }
        Period::Month => (date.year() as i32, date.month() as i32),
    }
}

/// Decides, newest first, what `policy` keeps of `backups` at `now`; the
/// daily, weekly and monthly rules count calendar periods in `tz`.
pub fn plan(
    policy: &Retention,
    backups: &[Backup],
    now: Timestamp,
    tz: &TimeZone,
) -> Vec<Decision> {
    let mut sorted = backups.to_vec();
    catalog::newest_first(&mut sorted);
    let mut decisions: Vec<Decision> = sorted
        .into_iter()
        .map(|backup| Decision {
            backup,
            keep: Vec::new(),
        })
        .collect();
    if !policy.has_rules() {
        decisions
            .iter_mut()
            .for_each(|d| d.keep.push(Reason::NoRules));
        return decisions;
    }
    // The newest complete backup, or, when none has a manifest (backups
    // written by the tool keepsake replaces), the newest of all.
    let newest = decisions
        .iter()
        .position(|d| d.backup.complete)
        .or((!decisions.is_empty()).then_some(0));
    if let Some(i) = newest {
        decisions[i].keep.push(Reason::NewestComplete);
    }
    if let Some(n) = policy.keep_last {
        decisions
            .iter_mut()
            .take(n as usize)
            .for_each(|d| d.keep.push(Reason::Last));
    }
    if let Some(days) = policy.keep_days {
        // A window reaching past the earliest representable time (keep_days
        // in the millions) keeps everything instead of overflowing.
        let window = SignedDuration::from_hours(24 * i64::from(days));
        let cutoff = now.checked_sub(window).unwrap_or(Timestamp::MIN);
        decisions
            .iter_mut()
            .filter(|d| d.backup.name.at >= cutoff)
            .for_each(|d| d.keep.push(Reason::Days));
    }
    for (count, reason, period) in [
        (policy.keep_daily, Reason::Daily, Period::Day),
        (policy.keep_weekly, Reason::Weekly, Period::Week),
        (policy.keep_monthly, Reason::Monthly, Period::Month),
    ] {
        let Some(count) = count else { continue };
        let mut last = None;
        let mut kept = 0;
        for d in decisions.iter_mut() {
            if kept == count {
                break;
            }
            let b = period_of(d.backup.name.at, tz, period);
            if last != Some(b) {
                d.keep.push(reason);
                last = Some(b);
                kept += 1;
            }
        }
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    use crate::config::{CompressionKind, DumpFormat};
    use crate::naming::BackupName;

    fn backup(s: &str) -> Backup {
        Backup {
            key: format!("k-{s}"),
            name: BackupName {
                at: at(s),
                seq: 0,
                format: DumpFormat::Plain,
                compression: CompressionKind::Gzip,
            },
            size: 1,
            complete: true,
        }
    }

    fn kept(policy: Retention, backups: &[Backup], now: &str, tz: &TimeZone) -> Vec<String> {
        let mut out: Vec<String> = plan(&policy, backups, at(now), tz)
            .into_iter()
            .filter(|d| !d.deleted())
            .map(|d| d.backup.key.trim_start_matches("k-").to_string())
            .collect();
        out.sort();
        out
    }

    fn daily(days: &[&str]) -> Vec<Backup> {
        days.iter()
            .map(|d| backup(&format!("{d}T03:00:00Z")))
            .collect()
    }

    #[test]
    fn no_rule_keeps_everything() {
        let backups = daily(&["2026-01-01", "2026-01-02"]);
        let plan = plan(
            &Retention::default(),
            &backups,
            at("2030-01-01T00:00:00Z"),
            &TimeZone::UTC,
        );
        assert!(plan.iter().all(|d| d.keep == [Reason::NoRules]));
    }

    #[test]
    fn keep_last_keeps_the_newest_n() {
        let backups = daily(&["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]);
        let policy = Retention {
            keep_last: Some(2),
            ..Default::default()
        };
        assert_eq!(
            kept(policy, &backups, "2026-01-05T00:00:00Z", &TimeZone::UTC),
            ["2026-01-03T03:00:00Z", "2026-01-04T03:00:00Z"]
        );
    }

    #[test]
    fn keep_days_counts_back_from_now() {
        let backups = daily(&["2026-01-01", "2026-01-02", "2026-01-03"]);
        let policy = Retention {
            keep_days: Some(2),
            ..Default::default()
        };
        // now - 2 days = 2026-01-02T03:00 exactly: inclusive.
        assert_eq!(
            kept(policy, &backups, "2026-01-04T03:00:00Z", &TimeZone::UTC),
            ["2026-01-02T03:00:00Z", "2026-01-03T03:00:00Z"]
        );
    }

    #[test]
    fn keep_days_beyond_the_calendar_keeps_everything() {
        let backups = daily(&["0001-01-02", "2026-01-01"]);
        for days in [3_000_000, u32::MAX] {
            let policy = Retention {
                keep_days: Some(days),
                ..Default::default()
            };
            assert_eq!(
                kept(policy, &backups, "2026-01-02T00:00:00Z", &TimeZone::UTC).len(),
                2,
                "keep_days = {days}"
            );
        }
    }

    #[test]
    fn the_newest_complete_backup_survives_every_rule() {
        let mut backups = daily(&["2026-01-01", "2026-01-02"]);
        backups[1].complete = false;
        let policy = Retention {
            keep_days: Some(1),
            ..Default::default()
        };
        let plan = plan(
            &policy,
            &backups,
            at("2027-01-01T00:00:00Z"),
            &TimeZone::UTC,
        );
        let kept: Vec<_> = plan.iter().filter(|d| !d.deleted()).collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].backup.name.at, at("2026-01-01T03:00:00Z"));
        assert_eq!(kept[0].keep, [Reason::NewestComplete]);
    }

    #[test]
    fn without_any_manifest_the_newest_backup_survives() {
        let mut backups = daily(&["2026-01-01", "2026-01-02"]);
        backups.iter_mut().for_each(|b| b.complete = false);
        let policy = Retention {
            keep_days: Some(1),
            ..Default::default()
        };
        assert_eq!(
            kept(policy, &backups, "2027-01-01T00:00:00Z", &TimeZone::UTC),
            ["2026-01-02T03:00:00Z"]
        );
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day() {
        let backups = [
            backup("2026-01-03T23:00:00Z"),
            backup("2026-01-03T01:00:00Z"),
            backup("2026-01-02T12:00:00Z"),
            backup("2026-01-01T12:00:00Z"),
        ];
        let policy = Retention {
            keep_daily: Some(2),
            ..Default::default()
        };
        assert_eq!(
            kept(policy, &backups, "2026-01-04T00:00:00Z", &TimeZone::UTC),
            ["2026-01-02T12:00:00Z", "2026-01-03T23:00:00Z"]
        );
    }

    #[test]
    fn days_follow_the_jobs_time_zone() {
        // 23:30 UTC on the 2nd is already the 3rd in Berlin.
        let backups = [
            backup("2026-01-02T23:30:00Z"),
            backup("2026-01-02T12:00:00Z"),
        ];
        let policy = Retention {
            keep_daily: Some(2),
            ..Default::default()
        };
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            kept(policy.clone(), &backups, "2026-01-04T00:00:00Z", &berlin).len(),
            2
        );
        // In UTC both fall on the 2nd: one day, one backup.
        assert_eq!(
            kept(policy, &backups, "2026-01-04T00:00:00Z", &TimeZone::UTC).len(),
            1
        );
    }

    #[test]
    fn daily_across_the_autumn_dst_change_counts_calendar_days() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // 03:00 local each day; 25 October has 25 hours.
        let backups = [
            backup("2026-10-24T01:00:00Z"),
            backup("2026-10-25T02:00:00Z"),
            backup("2026-10-26T02:00:00Z"),
        ];
        let policy = Retention {
            keep_daily: Some(2),
            ..Default::default()
        };
        assert_eq!(
            kept(policy, &backups, "2026-10-27T00:00:00Z", &berlin),
            ["2026-10-25T02:00:00Z", "2026-10-26T02:00:00Z"]
        );
    }

    #[test]
    fn weekly_and_monthly_buckets_cross_year_and_month_boundaries() {
        let backups = daily(&[
            "2025-12-29", // ISO week 1 of 2026
            "2026-01-04", // same ISO week
            "2026-01-31", // Saturday of ISO week 5
            "2026-02-01", // Sunday of the same week
            "2026-02-28",
        ]);
        let weekly = Retention {
            keep_weekly: Some(10),
            ..Default::default()
        };
        assert_eq!(
            kept(weekly, &backups, "2026-03-01T00:00:00Z", &TimeZone::UTC),
            [
                "2026-01-04T03:00:00Z",
                "2026-02-01T03:00:00Z",
                "2026-02-28T03:00:00Z"
            ]
        );
        let monthly = Retention {
            keep_monthly: Some(2),
            ..Default::default()
        };
        assert_eq!(
            kept(monthly, &backups, "2026-03-01T00:00:00Z", &TimeZone::UTC),
            ["2026-01-31T03:00:00Z", "2026-02-28T03:00:00Z"]
        );
    }

    #[test]
    fn rules_combine_and_reasons_are_all_given() {
        let backups = daily(&["2026-01-01", "2026-01-02", "2026-01-03"]);
        let policy = Retention {
            keep_last: Some(1),
            keep_monthly: Some(1),
            ..Default::default()
        };
        let plan = plan(
            &policy,
            &backups,
            at("2026-01-04T00:00:00Z"),
            &TimeZone::UTC,
        );
        assert_eq!(
            plan[0].keep,
            [Reason::NewestComplete, Reason::Last, Reason::Monthly]
        );
        assert!(plan[1].deleted() && plan[2].deleted());
    }
}
