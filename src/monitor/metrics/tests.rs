use super::*;
use crate::config::testing::from_toml;
use crate::monitor::report::CopyReport;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Two jobs: `shop` daily on two storages, `crm` hourly on one.
fn config(with_crm: bool) -> Config {
    let crm = if with_crm {
        "[jobs.crm]\ndatabase = \"crm\"\nschedule = \"0 * * * *\"\nstorage = [\"a\"]\n"
    } else {
        ""
    };
    from_toml(&format!(
        "[storage.a]\ntype = \"local\"\npath = \"/a\"\n\
         [storage.b]\ntype = \"local\"\npath = \"/b\"\n\
         [jobs.shop]\ndatabase = \"shop\"\nschedule = \"0 3 * * *\"\nstorage = [\"a\", \"b\"]\n{crm}"
    ))
}

fn report(job: &str, status: Status, finished: &str, storages: &[&str]) -> RunReport {
    let finished = at(finished);
    RunReport {
        job: job.into(),
        status,
        started: finished - SignedDuration::from_secs(4),
        finished,
        duration_seconds: 4.0,
        key: None,
        taken: None,
        size: Some(100),
        raw_size: Some(400),
        copies: storages
            .iter()
            .map(|s| CopyReport {
                storage: s.to_string(),
                key: format!("{job}/k"),
                size: 100,
            })
            .collect(),
        deleted: storages.iter().map(|s| (s.to_string(), 1)).collect(),
        error: None,
        backup_stored: status == Status::Success,
    }
}

/// The value of the sample starting with `series` in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[test]
fn runs_show_as_metrics_with_the_required_names() {
    let now = at("2026-11-29T12:00:00Z");
    let m = Metrics::new();
    m.set_jobs(&config(true), now);
    m.run_started("shop", at("2026-11-29T03:00:00Z"));
    m.run_finished(&report(
        "shop",
        Status::Success,
        "2026-11-29T03:00:04Z",
        &["a", "b"],
    ));
    m.run_started("crm", at("2026-11-29T11:00:00Z"));
    m.run_finished(&report("crm", Status::Failure, "2026-11-29T11:00:04Z", &[]));
    m.reloaded(true);
    m.reloaded(false);
    m.notification_failed(Some("crm"), "webhook");
    let text = m.render(now);
    let shop = |name: &str| sample(&text, &format!("{name}{{job=\"shop\"}}"));
    assert_eq!(
        shop("keepsake_backup_last_success_timestamp_seconds"),
        Some(at("2026-11-29T03:00:04Z").as_second() as f64)
    );
    assert_eq!(
        shop("keepsake_backup_last_attempt_timestamp_seconds"),
        Some(at("2026-11-29T03:00:00Z").as_second() as f64)
    );
    assert_eq!(shop("keepsake_backup_last_duration_seconds"), Some(4.0));
    assert_eq!(shop("keepsake_backup_last_raw_size_bytes"), Some(400.0));
    assert_eq!(shop("keepsake_backup_in_progress"), Some(0.0));
    assert_eq!(shop("keepsake_backup_stale"), Some(0.0));
    assert_eq!(shop("keepsake_backup_stale_after_seconds"), Some(172800.0));
    let series = [
        (
            "keepsake_backup_last_size_bytes{job=\"shop\",storage=\"b\"}",
            100.0,
        ),
        (
            "keepsake_backup_runs_total{job=\"shop\",result=\"success\"}",
            1.0,
        ),
        (
            "keepsake_backup_runs_total{job=\"shop\",result=\"failure\"}",
            0.0,
        ),
        (
            "keepsake_backup_runs_total{job=\"crm\",result=\"failure\"}",
            1.0,
        ),
        (
            "keepsake_retention_deleted_total{job=\"shop\",storage=\"a\"}",
            1.0,
        ),
        ("keepsake_config_reloads_total{result=\"success\"}", 1.0),
        ("keepsake_config_reloads_total{result=\"failure\"}", 1.0),
        (
            "keepsake_notifications_failed_total{job=\"crm\",kind=\"webhook\"}",
            1.0,
        ),
        ("keepsake_build_info{version=\"0.1.0\"}", 1.0),
    ];
    for (series, value) in series {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    // crm never succeeded: no last-success sample rather than a zero.
    assert!(!text.contains("keepsake_backup_last_success_timestamp_seconds{job=\"crm\"}"));
}

#[test]
fn a_reload_keeps_values_of_remaining_jobs_and_drops_removed_ones() {
    let now = at("2026-11-29T12:00:00Z");
    let m = Metrics::new();
    m.set_jobs(&config(true), now);
    m.run_finished(&report(
        "shop",
        Status::Success,
        "2026-11-29T03:00:04Z",
        &["a", "b"],
    ));
    m.run_finished(&report(
        "crm",
        Status::Success,
        "2026-11-29T11:00:04Z",
        &["a"],
    ));
    m.set_jobs(&config(false), now);
    let text = m.render(now);
    assert!(!text.contains("job=\"crm\""), "{text}");
    let series = "keepsake_backup_runs_total{job=\"shop\",result=\"success\"}";
    assert_eq!(sample(&text, series), Some(1.0));
}

#[test]
fn the_last_success_is_recovered_once_every_storage_was_read() {
    let now = at("2026-11-29T12:00:00Z");
    let m = Metrics::new();
    m.set_jobs(&config(false), now);
    m.found_backup("shop", "a", at("2026-11-29T03:00:05Z"), 10);
    let series = "keepsake_backup_last_success_timestamp_seconds{job=\"shop\"}";
    assert_eq!(sample(&m.render(now), series), None, "b not read yet");
    m.found_backup("shop", "b", at("2026-11-28T03:00:05Z"), 10);
    // Stored everywhere only since the older of the two newest backups.
    let expected = at("2026-11-28T03:00:05Z").as_second() as f64;
    assert_eq!(sample(&m.render(now), series), Some(expected));
}

#[test]
fn jobs_turn_stale_past_their_limit_and_fresh_after_a_success() {
    let start = at("2026-11-29T12:00:00Z");
    let m = Metrics::new();
    m.set_jobs(&config(false), start);
    // Right after the start, a job without backups is not stale yet.
    assert_eq!(m.stale_jobs(start), []);
    // crm, added by a reload at 12:00, runs hourly (limit 2h): three
    // hours on, it is stale (shop, daily, is not: 48 h).
    m.set_jobs(&config(true), start);
    let later = at("2026-11-29T15:00:00Z");
    let stale = m.stale_jobs(later);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].job, "crm");
    assert_eq!(stale[0].state, "no backup");
    assert_eq!(stale[0].stale_after_seconds, 7200);
    m.run_finished(&report(
        "crm",
        Status::Success,
        "2026-11-29T14:59:00Z",
        &["a"],
    ));
    assert_eq!(m.stale_jobs(later), []);
    let much_later = at("2026-11-29T17:00:00Z");
    let stale = m.stale_jobs(much_later);
    assert_eq!(stale[0].state, "stale");
    assert_eq!(stale[0].age_seconds, Some(2 * 3600 + 60));
    assert!(
        m.render(much_later)
            .contains("keepsake_backup_stale{job=\"crm\"} 1")
    );
}

#[test]
fn a_job_added_later_counts_from_then_and_a_new_storage_forgets_the_last_success() {
    let start = at("2026-11-19T12:00:00Z");
    let m = Metrics::new();
    m.set_jobs(&config(false), start);
    m.run_finished(&report(
        "shop",
        Status::Success,
        "2026-11-29T03:00:04Z",
        &["a", "b"],
    ));
    // crm arrives ten days after the start: not stale at once.
    let now = at("2026-11-29T12:00:00Z");
    m.set_jobs(&config(true), now);
    assert_eq!(m.stale_jobs(now), []);
    // shop gains a storage: its last success is unknown until listed.
    let three = from_toml(
        "[storage.a]\ntype = \"local\"\npath = \"/a\"\n[storage.b]\ntype = \"local\"\npath = \"/b\"\n\
         [storage.c]\ntype = \"local\"\npath = \"/c\"\n\
         [jobs.shop]\ndatabase = \"shop\"\nschedule = \"0 3 * * *\"\nstorage = [\"a\", \"b\", \"c\"]\n",
    );
    m.set_jobs(&three, now);
    let series = "keepsake_backup_last_success_timestamp_seconds{job=\"shop\"}";
    assert_eq!(sample(&m.render(now), series), None);
}
