//! Bad configuration gets a clear error that names the key and where it came
//! from, every problem at once, with the seed tool's exit codes:
//! 1 missing or invalid setting, 2 invalid cron expression, 3 invalid S3
//! settings.

mod common;

use common::*;

fn check_with(env: &[(&str, &str)], config: Option<&str>) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = keepsake(None);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(text) = config {
        let path = dir.path().join("keepsake.toml");
        std::fs::write(&path, text).unwrap();
        cmd.arg("--config").arg(&path);
    }
    cmd.arg("check");
    run(cmd)
}

const GOOD_ENV: &[(&str, &str)] = &[
    ("POSTGRES_CONNECTION_STRING", "postgres://app:pw@db/shop"),
    ("S3_BUCKET", "backups"),
    ("BACKUP_INTERVAL", "0 3 * * *"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = GOOD_ENV
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .copied()
        .collect();
    env.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
    env
}

#[test]
fn nothing_configured_exits_1_and_says_what_to_set() {
    let (code, _, stderr) = check_with(&[], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("POSTGRES_CONNECTION_STRING") && stderr.contains("[jobs.NAME]"),
        "{stderr}"
    );
}

#[test]
fn missing_database_exits_1_naming_the_variable() {
    let (code, _, stderr) = check_with(&with(&[("POSTGRES_CONNECTION_STRING", "")]), None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("jobs.default.database"), "{stderr}");
    assert!(
        stderr.contains("set POSTGRES_CONNECTION_STRING"),
        "{stderr}"
    );
}

#[test]
fn missing_bucket_exits_1() {
    let (code, _, stderr) = check_with(&with(&[("S3_BUCKET", "")]), None);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("storage.default.bucket") && stderr.contains("set S3_BUCKET"),
        "{stderr}"
    );
}

#[test]
fn invalid_cron_exits_2_naming_the_variable() {
    let (code, _, stderr) = check_with(&with(&[("BACKUP_INTERVAL", "every night")]), None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("BACKUP_INTERVAL") && stderr.contains("\"every night\""),
        "{stderr}"
    );
}

#[test]
fn invalid_s3_settings_exit_3() {
    let (code, _, stderr) = check_with(&with(&[("S3_URL", "minio:9000")]), None);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("S3_URL") && stderr.contains("http://"),
        "{stderr}"
    );
    let (code, _, stderr) = check_with(&with(&[("S3_ACCESS_KEY", "only-the-id")]), None);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("secret_access_key"), "{stderr}");
    assert!(!stderr.contains("only-the-id"), "{stderr}");
    let (code, _, stderr) = check_with(&with(&[("S3_BUCKET", "no/slashes")]), None);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("S3_BUCKET"), "{stderr}");
    for bad in ["0", "17"] {
        let env = with(&[("KEEPSAKE_STORAGE__DEFAULT__UPLOAD_CONCURRENCY", bad)]);
        let (code, _, stderr) = check_with(&env, None);
        assert_eq!(code, 3, "{stderr}");
        assert!(
            stderr.contains("KEEPSAKE_STORAGE__DEFAULT__UPLOAD_CONCURRENCY")
                && stderr.contains("between 1 and 16"),
            "{stderr}"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let env = with(&[
        ("BACKUP_INTERVAL", "nope"),
        ("S3_URL", "ftp://x"),
        ("LOG_LEVEL", "loud"),
    ]);
    let (code, _, stderr) = check_with(&env, None);
    assert_eq!(
        code, 1,
        "a missing/invalid setting wins over cron and S3:\n{stderr}"
    );
    for needle in ["3 problems", "BACKUP_INTERVAL", "S3_URL", "LOG_LEVEL"] {
        assert!(stderr.contains(needle), "{needle} not in:\n{stderr}");
    }
}

#[test]
fn conflicting_aliases_are_refused() {
    let (code, _, stderr) = check_with(&with(&[("S3_PATH", "a"), ("S3_PREFIX", "b")]), None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("S3_PATH and S3_PREFIX"), "{stderr}");
    let (code, _, _) = check_with(&with(&[("S3_PATH", "a"), ("S3_PREFIX", "a")]), None);
    assert_eq!(code, 0, "the same value under two names is fine");
}

#[test]
fn unreadable_secret_file_names_the_file_not_a_secret() {
    let (code, _, stderr) = check_with(
        &with(&[
            ("S3_ACCESS_KEY", "id"),
            ("S3_SECRET_KEY_FILE", "/nonexistent/s3"),
        ]),
        None,
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("/nonexistent/s3") && stderr.contains("secret_access_key_file"),
        "{stderr}"
    );
}

#[test]
fn value_and_file_together_are_refused() {
    let (code, _, stderr) = check_with(
        &with(&[
            ("POSTGRES_PASSWORD", "x"),
            ("POSTGRES_PASSWORD_FILE", "/tmp/x"),
        ]),
        None,
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("password_file"), "{stderr}");
}

#[test]
fn unknown_toml_key_names_the_file_and_key() {
    let config = r#"
[storage.main]
type = "s3"
bucket = "backups"

[jobs.shop]
database = "postgres://db/shop"
schedul = "0 3 * * *"
"#;
    let (code, _, stderr) = check_with(&[], Some(config));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("jobs.shop") && stderr.contains("schedul"),
        "{stderr}"
    );
    assert!(stderr.contains("keepsake.toml"), "{stderr}");
}

#[test]
fn toml_errors_in_several_sections_are_reported_together() {
    let config = r#"
[storage.main]
type = "s3"
bucket = "backups"
endpoint = "not a url"

[storage.disk]
type = "local"
path = "relative/dir"

[jobs.shop]
database = "postgres://db/shop"
schedule = "0 25 * * *"
storage = ["main", "nowhere"]

[jobs.old]
database = "postgres://db/old"
format = "directory"

[jobs.crm]
database = "postgres://db/crm"
storage = ["main"]
compression = "zstd"
compression_level = 99
pg_dump_args = ["--file=/tmp/x"]
retention = { keep_last = 0 }
"#;
    let (code, _, stderr) = check_with(&[], Some(config));
    assert_eq!(code, 1, "{stderr}");
    for needle in [
        "storage.main.endpoint",
        "storage.disk.path",
        "jobs.shop.schedule",
        "\"nowhere\"",
        "jobs.old.format",
        "directory",
        "jobs.crm.compression_level",
        "jobs.crm.pg_dump_args",
        "jobs.crm.retention.keep_last",
    ] {
        assert!(stderr.contains(needle), "{needle} not in:\n{stderr}");
    }
}

#[test]
fn toml_syntax_error_names_the_line() {
    let (code, _, stderr) = check_with(&[], Some("[jobs.shop\ndatabase = 1\n"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
}

#[test]
fn stray_keepsake_variable_is_named() {
    let (code, _, stderr) = check_with(
        &with(&[("KEEPSAKE_JOBS__DEFAULT__SCHEDUEL", "@daily")]),
        None,
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("KEEPSAKE_JOBS__DEFAULT__SCHEDUEL") || stderr.contains("scheduel"),
        "{stderr}"
    );
}

#[test]
fn missing_config_file_is_an_error() {
    let mut cmd = keepsake(None);
    cmd.args(["--config", "/nonexistent/keepsake.toml", "check"]);
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/keepsake.toml"), "{stderr}");
}

#[test]
fn environment_overrides_the_file() {
    let config = r#"
[storage.main]
type = "s3"
bucket = "from-file"

[jobs.shop]
database = "postgres://db/shop"
schedule = "0 3 * * *"
"#;
    let env = [
        ("KEEPSAKE_STORAGE__MAIN__BUCKET", "123"),
        ("KEEPSAKE_STORAGE__MAIN__PATH_STYLE", "true"),
        ("KEEPSAKE_STORAGE__MAIN__UPLOAD_CONCURRENCY", "4"),
        ("KEEPSAKE_JOBS__SHOP__SCHEDULE", "*/30 * * * * *"),
    ];
    let (code, stdout, stderr) = check_with(&env, Some(config));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(r#"bucket = "123""#), "{stdout}");
    // Storage sections are tagged by `type`: numbers and booleans given as
    // text must still be read as such.
    assert!(stdout.contains("path_style = true"), "{stdout}");
    assert!(stdout.contains("upload_concurrency = 4"), "{stdout}");
    assert!(
        stdout.contains(r#"schedule = "*/30 * * * * *""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"storage = ["main"]"#),
        "a single storage is the default:\n{stdout}"
    );
}

#[test]
fn usage_errors_exit_64() {
    let mut cmd = keepsake(None);
    cmd.arg("frobnicate");
    let (code, _, _) = run(cmd);
    assert_eq!(code, 64);
    let mut cmd = keepsake(None);
    cmd.arg("--version");
    let (code, stdout, _) = run(cmd);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("keepsake "), "{stdout}");
}

#[test]
fn storage_values_given_as_text_must_parse() {
    let env = with(&[("KEEPSAKE_STORAGE__DEFAULT__PATH_STYLE", "maybe")]);
    let (code, _, stderr) = check_with(&env, None);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("storage.default") && stderr.contains(r#"path_style = "maybe""#),
        "{stderr}"
    );
}
