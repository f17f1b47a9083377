//! Numbers at their edges: every numeric setting at its type's extremes is
//! refused with its key or accepted, never a panic.

use super::*;

#[test]
fn keep_days_beyond_a_century_is_refused_with_a_way_to_keep_everything() {
    let job = |days| RawJob {
        retention: Some(RawRetention {
            keep_days: Some(days),
            ..Default::default()
        }),
        ..raw_job()
    };
    assert_eq!(
        accepted(one_job(job(36_500))).jobs[0].retention.keep_days,
        Some(36_500)
    );
    for days in [36_501, 9_999_999, u32::MAX] {
        let errors = validate_with(one_job(job(days)), no_origin).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].key, "jobs.app.retention.keep_days");
        assert!(
            errors[0].message.contains("leave keep_days out"),
            "{errors:#?}"
        );
    }
}

#[test]
fn counts_at_their_maximum_are_accepted() {
    let all = RawRetention {
        keep_days: None,
        keep_last: Some(u32::MAX),
        keep_daily: Some(u32::MAX),
        keep_weekly: Some(u32::MAX),
        keep_monthly: Some(u32::MAX),
    };
    let job = RawJob {
        retention: Some(all.clone()),
        ..raw_job()
    };
    assert_eq!(accepted(one_job(job)).jobs[0].retention, all);
}

#[test]
fn thread_and_concurrency_counts_have_a_ceiling() {
    let threads = |n| RawJob {
        compression: Some(CompressionKind::Zstd),
        compression_threads: Some(n),
        ..raw_job()
    };
    assert_eq!(
        accepted(one_job(threads(64))).jobs[0].compression.threads,
        64
    );
    for n in [65, u32::MAX] {
        assert_eq!(
            problems(one_job(threads(n))),
            want(&[("jobs.app.compression_threads", Invalid)]),
            "{n}"
        );
    }
    for n in [1025, u32::MAX] {
        let mut raw = one_job(raw_job());
        raw.agent.max_concurrent = Some(n);
        assert_eq!(
            problems(raw),
            want(&[("agent.max_concurrent", Invalid)]),
            "{n}"
        );
    }
    let mut raw = one_job(raw_job());
    raw.agent.max_concurrent = Some(1024);
    assert_eq!(accepted(raw).agent.max_concurrent, 1024);
    for n in [17, u32::MAX] {
        let raw = with_s3(RawS3 {
            upload_concurrency: Some(n),
            ..s3("backups")
        });
        assert_eq!(
            problems(raw),
            want(&[("storage.s3.upload_concurrency", S3)])
        );
    }
}

#[test]
fn compression_levels_at_the_extremes_are_refused() {
    for kind in [CompressionKind::Gzip, CompressionKind::Zstd] {
        for level in [i32::MIN, i32::MAX] {
            let job = RawJob {
                compression: Some(kind),
                compression_level: Some(level),
                ..raw_job()
            };
            assert_eq!(
                problems(one_job(job)),
                want(&[("jobs.app.compression_level", Invalid)]),
                "{kind:?} {level}"
            );
        }
    }
}

#[test]
fn durations_too_long_to_hold_are_refused_and_long_ones_kept() {
    let timeout = |text: &str| {
        let mut raw = one_job(raw_job());
        raw.agent.shutdown_timeout = Some(text.into());
        outcome(raw)
    };
    for text in [
        "99999999999999999999s",
        "999999999999y",
        "18446744073709551616ns",
    ] {
        assert_eq!(
            timeout(text).unwrap_err(),
            want(&[("agent.shutdown_timeout", Invalid)]),
            "{text}"
        );
    }
    // As long as a Duration holds: tokio's timeout saturates it.
    let config = timeout("500000000000y").unwrap();
    assert!(config.agent.shutdown_timeout.as_secs() > 10_u64.pow(18));
}
