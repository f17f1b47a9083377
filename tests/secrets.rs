//! Secrets stay secret: pg_dump, psql and pg_restore get a scrubbed
//! environment (libpq's variables and the password keepsake hands over,
//! nothing of keepsake's own settings) and never a password on their
//! command line, whatever the spelling of the connection string; a string
//! keepsake cannot read is refused without being echoed.

mod common;

use std::path::Path;

use common::*;

/// A pg_dump (and psql) that records its environment and arguments in
/// `dir`, every run after the last, then runs the real one.
fn recording_clients(dir: &Path) {
    for tool in ["pg_dump", "psql"] {
        let real = real_pg_dump().replace("pg_dump", tool);
        let body = format!(
            "env >> {dir}/{tool}.env\necho \"$@\" >> {dir}/{tool}.args\nexec {real} \"$@\"",
            dir = dir.display(),
        );
        script(dir, tool, &body);
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

#[tokio::test]
async fn clients_see_only_libpqs_variables_and_the_password() {
    ensure_password_role();
    let db = sample_db("scrub");
    let bucket = bucket("scrub").await;
    let bin = tempfile::tempdir().unwrap();
    recording_clients(bin.path());
    // An upper-case scheme, as libpq's users write it at times.
    let url = db_url_with_password(&db).replacen("postgres://", "POSTGRES://", 1);
    let mut cmd = keepsake(Some(bin.path()));
    seed_env(&mut cmd, &url, &bucket, "s");
    cmd.env("PGAPPNAME", "nightly")
        .env("KEEPSAKE_LOG__LEVEL", "info")
        .env("AWS_SECRET_ACCESS_KEY", "aws-secret-from-env-0815")
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    for tool in ["pg_dump", "psql"] {
        let env = read(bin.path(), &format!("{tool}.env"));
        let args = read(bin.path(), &format!("{tool}.args"));
        assert!(!env.is_empty(), "{tool} ran");
        assert!(env.contains("PGAPPNAME=nightly"), "{tool}: {env}");
        for secret in [S3_SECRET, S3_KEY, "aws-secret-from-env-0815"] {
            assert!(!env.contains(secret), "{tool} got {secret}: {env}");
        }
        for variable in ["POSTGRES_CONNECTION_STRING", "S3_", "KEEPSAKE_", "AWS_"] {
            assert!(
                !env.lines().any(|l| l.starts_with(variable)),
                "{tool} got {variable}: {env}"
            );
        }
        assert!(!args.contains(PW_SECRET), "{tool} args: {args}");
    }
    // The dump itself authenticated with the password keepsake handed over.
    let dump_env = read(bin.path(), "pg_dump.env");
    assert!(
        dump_env.contains(&format!("PGPASSWORD={PW_SECRET}")),
        "{dump_env}"
    );
    assert!(!stderr.contains(PW_SECRET), "{stderr}");
}

#[test]
fn a_connection_string_keepsake_cannot_read_is_refused_unechoed() {
    for url in [
        format!("{PW_ROLE}:{PW_SECRET}@{}:{}/postgres", pg_host(), pg_port()),
        format!("host={} PASSWORD={PW_SECRET} dbname=postgres", pg_host()),
        format!("host={} password={PW_SECRET} sslpassword=x", pg_host()),
    ] {
        let mut cmd = keepsake(None);
        seed_env(&mut cmd, &url, "unused-bucket", "s");
        cmd.arg("check");
        let (code, stdout, stderr) = run(cmd);
        assert_eq!(code, 1, "{url}: {stderr}");
        assert!(stderr.contains("POSTGRES_CONNECTION_STRING"), "{stderr}");
        assert!(
            !stderr.contains(PW_SECRET) && !stdout.contains(PW_SECRET),
            "{url}: {stdout}{stderr}"
        );
    }
}
