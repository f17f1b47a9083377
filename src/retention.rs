//! Retention planning, pure: given a policy, a job's listed backups and a
//! pass (`now`, the time zone, the backup this run just made), decide for
//! every listed object whether it is kept (and why) or deleted.
//!
//! The rules count only usable backups taken before `now`. A backup dated
//! in the future (copied from a host with a wrong clock) is kept and never
//! counted, so it cannot push new backups out; the backup a run has just
//! made is never deleted by that run; the newest backup is always kept.
//! Incomplete objects (no manifest) are not backups: kept while they may
//! still be finishing, deleted once abandoned.

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
    /// Taken by the run applying retention.
    JustTaken,
    /// Dated after `now`: kept, reported, never counted.
    Future,
    /// Incomplete, but younger than `abandoned_upload_after`.
    Unfinished,
    /// Due for deletion, but S3 Object Lock holds it until then (found
    /// by the storage, after the plan).
    Locked(Timestamp),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Reason::Locked(until) = self {
            return write!(f, "locked until {until}");
        }
        f.write_str(match self {
            Reason::NoRules => "no retention rule",
            Reason::NewestComplete => "newest complete backup",
            Reason::Last => "keep_last",
            Reason::Days => "keep_days",
            Reason::Daily => "keep_daily",
            Reason::Weekly => "keep_weekly",
            Reason::Monthly => "keep_monthly",
            Reason::JustTaken => "taken by this run",
            Reason::Future => "dated in the future",
            Reason::Unfinished => "incomplete, younger than abandoned_upload_after",
            Reason::Locked(_) => unreachable!("written above"),
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

/// What one retention pass knows besides the policy and the listing.
#[derive(Debug, Clone)]
pub struct Pass<'a> {
    pub now: Timestamp,
    /// Where the daily, weekly and monthly rules count calendar periods.
    pub tz: &'a TimeZone,
    /// The key of the backup this run has just made.
    pub just_taken: Option<&'a str>,
    /// Incomplete objects older than this are deleted.
    pub abandoned_after: SignedDuration,
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

/// `now - span`, or the beginning of time when that is before it (a
/// "keep forever" number of days).
fn before(now: Timestamp, span: SignedDuration) -> Timestamp {
    now.checked_sub(span).unwrap_or(Timestamp::MIN)
}

/// Decides, newest first, what `policy` keeps of `backups` in `pass`.
pub fn plan(policy: &Retention, backups: &[Backup], pass: &Pass) -> Vec<Decision> {
    let mut sorted = backups.to_vec();
    catalog::newest_first(&mut sorted);
    let abandoned = before(pass.now, pass.abandoned_after);
    let mut decisions: Vec<Decision> = sorted
        .into_iter()
        .map(|backup| {
            let mut keep = Vec::new();
            if !backup.usable() {
                if backup.written_or_taken() > abandoned {
                    keep.push(Reason::Unfinished);
                }
            } else if backup.name.at > pass.now {
                keep.push(Reason::Future);
            }
            if pass.just_taken == Some(backup.key.as_str()) {
                keep.push(Reason::JustTaken);
            }
            Decision { backup, keep }
        })
        .collect();
    let counted: Vec<&mut Decision> = decisions
        .iter_mut()
        .filter(|d| d.backup.usable() && d.backup.name.at <= pass.now)
        .collect();
    apply_rules(policy, counted, pass);
    decisions
}

/// The keep rules over the backups they count, newest first.
fn apply_rules(policy: &Retention, mut counted: Vec<&mut Decision>, pass: &Pass) {
    if !policy.has_rules() {
        counted
            .iter_mut()
            .for_each(|d| d.keep.push(Reason::NoRules));
        return;
    }
    // The newest with a manifest, or, when none has one (backups written
    // by the tool keepsake replaces), the newest of all.
    let newest = counted
        .iter()
        .position(|d| d.backup.has_manifest())
        .or((!counted.is_empty()).then_some(0));
    if let Some(i) = newest {
        counted[i].keep.push(Reason::NewestComplete);
    }
    if let Some(n) = policy.keep_last {
        counted
            .iter_mut()
            .take(n as usize)
            .for_each(|d| d.keep.push(Reason::Last));
    }
    if let Some(days) = policy.keep_days {
        let cutoff = before(pass.now, SignedDuration::from_hours(24 * i64::from(days)));
        counted
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
        for d in counted.iter_mut() {
            if kept == count {
                break;
            }
            let b = period_of(d.backup.name.at, pass.tz, period);
            if last != Some(b) {
                d.keep.push(reason);
                last = Some(b);
                kept += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    use crate::catalog::State;
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
                encrypted: false,
            },
            size: 1,
            state: State::Complete,
            written: None,
        }
    }

    /// A pass at `now` with a day's grace for incomplete objects.
    fn pass<'a>(now: &str, tz: &'a TimeZone) -> Pass<'a> {
        Pass {
            now: at(now),
            tz,
            just_taken: None,
            abandoned_after: SignedDuration::from_hours(24),
        }
    }

    fn kept(policy: Retention, backups: &[Backup], now: &str, tz: &TimeZone) -> Vec<String> {
        let mut out: Vec<String> = plan(&policy, backups, &pass(now, tz))
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
            &pass("2030-01-01T00:00:00Z", &TimeZone::UTC),
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
        backups[1].state = State::Legacy;
        let policy = Retention {
            keep_days: Some(1),
            ..Default::default()
        };
        let plan = plan(
            &policy,
            &backups,
            &pass("2027-01-01T00:00:00Z", &TimeZone::UTC),
        );
        let kept: Vec<_> = plan.iter().filter(|d| !d.deleted()).collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].backup.name.at, at("2026-01-01T03:00:00Z"));
        assert_eq!(kept[0].keep, [Reason::NewestComplete]);
    }

    #[test]
    fn without_any_manifest_the_newest_backup_survives() {
        let mut backups = daily(&["2026-01-01", "2026-01-02"]);
        backups.iter_mut().for_each(|b| b.state = State::Legacy);
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
            &pass("2026-01-04T00:00:00Z", &TimeZone::UTC),
        );
        assert_eq!(
            plan[0].keep,
            [Reason::NewestComplete, Reason::Last, Reason::Monthly]
        );
        assert!(plan[1].deleted() && plan[2].deleted());
    }

    #[test]
    fn incomplete_objects_are_not_counted_and_removed_once_abandoned() {
        // Two leftovers of failed runs beside three backups.
        let mut backups = daily(&[
            "2026-01-01",
            "2026-01-02",
            "2026-01-03",
            "2026-01-04",
            "2026-01-05",
        ]);
        backups[3].state = State::Incomplete;
        backups[4].state = State::Incomplete;
        let policy = Retention {
            keep_last: Some(2),
            ..Default::default()
        };
        assert_eq!(
            kept(
                policy.clone(),
                &backups,
                "2026-01-05T12:00:00Z",
                &TimeZone::UTC
            ),
            [
                "2026-01-02T03:00:00Z",
                "2026-01-03T03:00:00Z",
                // Younger than a day: it may still be finishing.
                "2026-01-05T03:00:00Z",
            ]
        );
        // Without rules, abandoned ones go all the same.
        assert_eq!(
            kept(
                Retention::default(),
                &backups,
                "2026-01-05T12:00:00Z",
                &TimeZone::UTC
            )
            .len(),
            4
        );
    }

    #[test]
    fn a_future_backup_is_kept_and_never_counted_as_the_newest() {
        let backups = daily(&["2026-01-01", "2026-01-02", "2026-01-03", "2099-01-01"]);
        let policy = Retention {
            keep_last: Some(2),
            ..Default::default()
        };
        let plan = plan(
            &policy,
            &backups,
            &pass("2026-01-03T12:00:00Z", &TimeZone::UTC),
        );
        assert_eq!(plan[0].keep, [Reason::Future]);
        assert_eq!(plan[1].keep, [Reason::NewestComplete, Reason::Last]);
        assert_eq!(plan[2].keep, [Reason::Last]);
        assert!(plan[3].deleted());
    }

    #[test]
    fn the_backup_just_taken_survives_its_own_run() {
        let backups = daily(&["2026-01-01", "2026-01-02"]);
        // keep_days = 1 at a `now` two days on keeps only the newest.
        let policy = Retention {
            keep_days: Some(1),
            ..Default::default()
        };
        let utc = TimeZone::UTC;
        let mut pass = pass("2026-01-05T00:00:00Z", &utc);
        pass.just_taken = Some("k-2026-01-01T03:00:00Z");
        let plan = plan(&policy, &backups, &pass);
        assert!(plan.iter().all(|d| !d.deleted()), "{plan:?}");
        assert_eq!(plan[1].keep, [Reason::JustTaken]);
    }

    #[test]
    fn in_one_second_keep_last_keeps_the_last_taken() {
        let mut backups = daily(&["2026-01-01", "2026-01-01", "2026-01-01"]);
        for (i, b) in backups.iter_mut().enumerate() {
            b.name.seq = i as u32;
            b.key = format!("k-{i}");
        }
        let policy = Retention {
            keep_last: Some(1),
            ..Default::default()
        };
        let plan = plan(
            &policy,
            &backups,
            &pass("2026-01-02T00:00:00Z", &TimeZone::UTC),
        );
        let kept: Vec<&str> = plan
            .iter()
            .filter(|d| !d.deleted())
            .map(|d| d.backup.key.as_str())
            .collect();
        assert_eq!(kept, ["k-2"]);
    }
}
