//! The binary's side of bad configuration: errors go to stderr and pick the
//! seed tool's exit codes (1 missing or invalid setting, 2 invalid cron
//! expression, 3 invalid S3 settings, 64 usage), and `check` prints the
//! effective configuration with secrets as `***`. One test per exit code:
//! the messages themselves are tested on `config::load` in
//! `src/config/load_tests.rs`.

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
fn pg_dump_options_that_could_subvert_the_backup_exit_1_each_named() {
    // An abbreviation of --file, bundled short options hiding -f and -F,
    // and an option pg_dump does not have.
    let (code, _, stderr) = check_with(
        &with(&[("POSTGRES_EXTRA_OPTS", "--fi=/tmp/x -vf/tmp/y -aFc --sneaky")]),
        None,
    );
    assert_eq!(code, 1, "{stderr}");
    // Values are never echoed: a bundle is named by its position.
    for named in ["`--fi`", "`-f` (--file", "`-F` (--format", "`--sneaky`"] {
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
    assert_eq!(
        stderr.matches("jobs.default.pg_dump_args").count(),
        4,
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
fn a_schedule_that_never_fires_exits_2() {
    let (code, _, stderr) = check_with(&with(&[("BACKUP_INTERVAL", "0 3 31 2 *")]), None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("jobs.default.schedule")
            && stderr.contains("BACKUP_INTERVAL")
            && stderr.contains("never fires"),
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
}

#[test]
fn check_prints_the_effective_config_with_secrets_hidden() {
    let config = r#"
[storage.main]
type = "s3"
bucket = "backups"
access_key_id = "AKID-check-4711"
secret_access_key = "s3-secret-check-4711"

[jobs.shop]
database = "postgres://app:Db-Pw-check-4711@db:5432/shop"
schedule = "0 3 * * *"
"#;
    let (code, stdout, stderr) = check_with(&[], Some(config));
    assert_eq!(code, 0, "{stderr}");
    for shown in [
        "[jobs.shop]",
        r#"database = "postgres://app:***@db:5432/shop""#,
        r#"bucket = "backups""#,
        r#"access_key_id = "***""#,
        r#"secret_access_key = "***""#,
    ] {
        assert!(stdout.contains(shown), "{shown} not in:\n{stdout}");
    }
    for secret in [
        "AKID-check-4711",
        "s3-secret-check-4711",
        "Db-Pw-check-4711",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} shown:\n{stdout}\n{stderr}"
        );
    }
}

#[test]
fn a_toml_syntax_error_names_line_and_key_never_the_secret_on_it() {
    for (text, key, secret) in [
        (
            "[storage.main]\ntype = \"s3\"\nsecret_key = \"SUPERSECRET-4711\n",
            "storage.main.secret_key",
            "SUPERSECRET-4711",
        ),
        (
            "[jobs.shop]\npassword = \"Pw-4711-a\" \"Pw-4711-b\"\n",
            "jobs.shop.password",
            "Pw-4711",
        ),
    ] {
        let (code, stdout, stderr) = check_with(&[], Some(text));
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains(key) && stderr.contains("keepsake.toml") && stderr.contains("line "),
            "{stderr}"
        );
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{secret} shown:\n{stdout}\n{stderr}"
        );
    }
}

#[test]
fn an_empty_keepsake_config_counts_as_unset() {
    let mut env = with(&[]);
    env.push(("KEEPSAKE_CONFIG", ""));
    let (code, _, stderr) = check_with(&env, None);
    assert_eq!(code, 0, "{stderr}");
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
