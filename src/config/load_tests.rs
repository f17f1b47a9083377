//! Bad configuration gets a clear error that names the key and where it came
//! from, every problem at once, with the seed tool's exit codes (1 missing
//! or invalid, 2 cron, 3 S3): [`load`] called as `keepsake check` calls it,
//! with the file in a temp dir and the environment as a map. The binary
//! itself is tested in `tests/config_errors.rs`, once per exit code.

use std::path::Path;

use super::testing::load_with as check_with;
use super::*;

/// The exit code and error text (as `keepsake check` prints it) of a
/// configuration that must be refused.
#[track_caller]
fn refused(env: &[(&str, &str)], config: Option<&str>) -> (u8, String) {
    match check_with(env, config) {
        Ok(config) => panic!("accepted:\n{}", view::render_toml(&config)),
        Err(errors) => (errors.exit_code(), errors.to_string()),
    }
}

const GOOD_ENV: &[(&str, &str)] = &[
    ("POSTGRES_CONNECTION_STRING", "postgres://app:pw@db/shop"),
    ("S3_BUCKET", "backups"),
    ("BACKUP_INTERVAL", "0 3 * * *"),
];

/// [`GOOD_ENV`] with `extra` added or replacing; an empty value unsets.
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
fn the_good_environment_is_accepted() {
    // Every case below changes one thing in it.
    let result = check_with(GOOD_ENV, None);
    assert!(result.is_ok(), "{}", result.unwrap_err());
}

#[test]
fn nothing_configured_exits_1_and_says_what_to_set() {
    let (code, text) = refused(&[], None);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("POSTGRES_CONNECTION_STRING") && text.contains("[jobs.NAME]"),
        "{text}"
    );
}

#[test]
fn missing_bucket_exits_1() {
    let (code, text) = refused(&with(&[("S3_BUCKET", "")]), None);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("storage.default.bucket") && text.contains("set S3_BUCKET"),
        "{text}"
    );
}

#[test]
fn invalid_s3_settings_exit_3() {
    let (code, text) = refused(&with(&[("S3_ACCESS_KEY", "only-the-id")]), None);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("secret_access_key"), "{text}");
    assert!(!text.contains("only-the-id"), "{text}");
    let (code, text) = refused(&with(&[("S3_BUCKET", "no/slashes")]), None);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("S3_BUCKET"), "{text}");
    for bad in ["0", "17"] {
        let env = with(&[("KEEPSAKE_STORAGE__DEFAULT__UPLOAD_CONCURRENCY", bad)]);
        let (code, text) = refused(&env, None);
        assert_eq!(code, 3, "{text}");
        assert!(
            text.contains("KEEPSAKE_STORAGE__DEFAULT__UPLOAD_CONCURRENCY")
                && text.contains("between 1 and 16"),
            "{text}"
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
    let (code, text) = refused(&env, None);
    assert_eq!(
        code, 1,
        "a missing/invalid setting wins over cron and S3:\n{text}"
    );
    for needle in ["3 problems", "BACKUP_INTERVAL", "S3_URL", "LOG_LEVEL"] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
}

#[test]
fn conflicting_aliases_are_refused() {
    let (code, text) = refused(&with(&[("S3_PATH", "a"), ("S3_PREFIX", "b")]), None);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("S3_PATH and S3_PREFIX"), "{text}");
    let same = check_with(&with(&[("S3_PATH", "a"), ("S3_PREFIX", "a")]), None);
    assert!(
        same.is_ok(),
        "the same value under two names is fine: {}",
        same.unwrap_err()
    );
}

#[test]
fn unreadable_secret_file_names_the_file_not_a_secret() {
    let (code, text) = refused(
        &with(&[
            ("S3_ACCESS_KEY", "id"),
            ("S3_SECRET_KEY_FILE", "/nonexistent/s3"),
        ]),
        None,
    );
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("/nonexistent/s3") && text.contains("secret_access_key_file"),
        "{text}"
    );
}

#[test]
fn value_and_file_together_are_refused() {
    let (code, text) = refused(
        &with(&[
            ("POSTGRES_PASSWORD", "x"),
            ("POSTGRES_PASSWORD_FILE", "/tmp/x"),
        ]),
        None,
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("password_file"), "{text}");
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
    let (code, text) = refused(&[], Some(config));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("jobs.shop") && text.contains("schedul"),
        "{text}"
    );
    assert!(text.contains("keepsake.toml"), "{text}");
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
    let (code, text) = refused(&[], Some(config));
    assert_eq!(code, 1, "{text}");
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
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
}

#[test]
fn toml_syntax_error_names_the_line() {
    let (code, text) = refused(&[], Some("[jobs.shop\ndatabase = 1\n"));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("line 1"), "{text}");
}

#[test]
fn stray_keepsake_variable_is_named() {
    let (code, text) = refused(
        &with(&[("KEEPSAKE_JOBS__DEFAULT__SCHEDUEL", "@daily")]),
        None,
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("KEEPSAKE_JOBS__DEFAULT__SCHEDUEL") || text.contains("scheduel"),
        "{text}"
    );
}

#[test]
fn missing_config_file_is_an_error() {
    let errors = load(
        Some(Path::new("/nonexistent/keepsake.toml")),
        &EnvVars::new(),
    )
    .unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.exit_code(), 1, "{text}");
    assert!(text.contains("/nonexistent/keepsake.toml"), "{text}");
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
    let config = check_with(&env, Some(config)).unwrap_or_else(|e| panic!("{e}"));
    // What `keepsake check` prints.
    let shown = view::render_toml(&config);
    assert!(shown.contains(r#"bucket = "123""#), "{shown}");
    // Storage sections are tagged by `type`: numbers and booleans given as
    // text must still be read as such.
    assert!(shown.contains("path_style = true"), "{shown}");
    assert!(shown.contains("upload_concurrency = 4"), "{shown}");
    assert!(shown.contains(r#"schedule = "*/30 * * * * *""#), "{shown}");
    assert!(
        shown.contains(r#"storage = ["main"]"#),
        "a single storage is the default:\n{shown}"
    );
}

#[test]
fn storage_values_given_as_text_must_parse() {
    let env = with(&[("KEEPSAKE_STORAGE__DEFAULT__PATH_STYLE", "maybe")]);
    let (code, text) = refused(&env, None);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "storage.default.path_style (environment: KEEPSAKE_STORAGE__DEFAULT__PATH_STYLE)"
        ) && text.contains(r#""maybe""#),
        "{text}"
    );
}

#[test]
fn a_variable_that_names_no_key_is_refused_by_name() {
    for name in ["KEEPSAKE_", "KEEPSAKE___X", "KEEPSAKE_JOBS__"] {
        let (code, text) = refused(&with(&[(name, "x")]), None);
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains(&format!("{name} (environment variable)")),
            "{text}"
        );
    }
}

/// The line of `text` about `key`, which must name its origin.
#[track_caller]
fn line_about<'a>(text: &'a str, key: &str, origin: &str) -> &'a str {
    let head = format!("  - {key} (");
    let line = text
        .lines()
        .find(|l| l.starts_with(&head))
        .unwrap_or_else(|| panic!("{key} not in:\n{text}"));
    assert!(line.contains(origin), "{key} without {origin}: {line}");
    line
}

#[test]
fn every_mistake_in_every_section_is_reported_at_once() {
    // Two or more mistakes in each section, which serde would stop at the
    // first of; wrong types and unknown keys side by side.
    let config = r#"
bogus_top = 1

[log]
level = "loud"
colour = true

[agent]
max_concurrent = "many"
shutdown_timout = "1m"

[storage.main]
type = "s3"
bucket = "b"
bogus = 1
upload_concurrency = "lots"
path_style = 3

[storage.disk]
type = "local"
path = "relative"
nope = 1

[storage.untyped]
path = "/x"

[jobs.shop]
database = 12345
schedul = "0 3 * * *"
compression_level = "x"
storage = ["main", 3]
retention = { keep_dayz = 1, keep_last = "x", keep_days = 99999999999 }

[jobs.crm]
database = "crm"
storage = ["disk"]
format = "directory"
other = 3
"#;
    let env = [("KEEPSAKE_JOBS__CRM__SHEDULE", "@daily")];
    let (code, text) = refused(&env, Some(config));
    assert_eq!(code, 1, "{text}");
    let file = "keepsake.toml";
    for key in [
        "bogus_top",
        "log.level",
        "log.colour",
        "agent.max_concurrent",
        "agent.shutdown_timout",
        "storage.main.bogus",
        "storage.main.upload_concurrency",
        "storage.main.path_style",
        "storage.main.bucket",
        "storage.disk.path",
        "storage.disk.nope",
        "storage.untyped.type",
        "jobs.shop.database",
        "jobs.shop.schedul",
        "jobs.shop.compression_level",
        "jobs.shop.storage.1",
        "jobs.shop.retention.keep_dayz",
        "jobs.shop.retention.keep_last",
        "jobs.shop.retention.keep_days",
        "jobs.crm.format",
        "jobs.crm.other",
    ] {
        line_about(&text, key, file);
    }
    line_about(
        &text,
        "jobs.crm.shedule",
        "environment: KEEPSAKE_JOBS__CRM__SHEDULE",
    );
    assert!(
        line_about(&text, "jobs.shop.schedul", file).contains("did you mean schedule?"),
        "{text}"
    );
    assert!(
        line_about(&text, "jobs.shop.retention.keep_days", file).contains("leave the rule out"),
        "{text}"
    );
    assert!(
        !text.contains("12345"),
        "a secret of the wrong type is not shown:\n{text}"
    );
    assert_eq!(
        text.matches("  - jobs.shop.database (").count(),
        1,
        "a value that could not be read is not also reported missing:\n{text}"
    );
    assert!(text.contains("22 problems"), "{text}");
}

#[test]
fn unknown_keys_are_named_in_full_with_their_file_in_every_section() {
    let config = r#"
top_typo = 1
[log]
levle = "info"
[agent]
timezon = "UTC"
[storage.s]
type = "s3"
bucket = "backups"
regoin = "eu-west-1"
[storage.d]
type = "local"
path = "/d"
prefx = "x"
[jobs.a]
database = "a"
storage = ["s"]
retention = { keep_lastt = 1 }
[jobs.b]
database = "b"
storage = ["d"]
[jobs.b.retention]
keep_daily = 1
keep_mothly = 1
"#;
    let (code, text) = refused(&[], Some(config));
    assert_eq!(code, 1, "{text}");
    for key in [
        "top_typo",
        "log.levle",
        "agent.timezon",
        "storage.s.regoin",
        "storage.d.prefx",
        "jobs.a.retention.keep_lastt",
        "jobs.b.retention.keep_mothly",
    ] {
        let line = line_about(&text, key, "keepsake.toml");
        assert!(line.contains("unknown key"), "{line}");
    }
    assert!(text.contains("7 problems"), "{text}");
}

#[test]
fn sections_of_the_wrong_shape_are_named() {
    let (_, text) = refused(&[], Some("storage = 1\njobs = [1]\n"));
    line_about(&text, "storage", "keepsake.toml");
    line_about(&text, "jobs", "keepsake.toml");
    let (_, text) = refused(&[], Some("[jobs.a]\ndatabase = \"a\"\nretention = 5\n"));
    line_about(&text, "jobs.a.retention", "keepsake.toml");
    let (_, text) = refused(
        &[],
        Some("[storage.x]\ntype = \"ftp\"\n[jobs.a]\ndatabase = \"a\"\n"),
    );
    assert!(
        line_about(&text, "storage.x.type", "keepsake.toml").contains("\"s3\" or \"local\""),
        "{text}"
    );
    assert!(
        !text.contains("unknown storage \"x\""),
        "a job is not told a broken storage does not exist:\n{text}"
    );
}
