//! The seed tool's users: one database, environment only. A backup with the
//! old variables lands under the old name and restores to equal data; no
//! secret reaches the logs, `check` output or pg_dump's command line.

mod common;

use common::*;

#[tokio::test]
async fn env_only_backup_restores_to_the_same_data() {
    ensure_password_role();
    let db = sample_db("envsrc");
    let bucket = bucket("env").await;
    let dir = tempfile::tempdir().unwrap();
    let argv_log = dir.path().join("argv.log");
    // A pg_dump that records its arguments, then runs the real one.
    script(
        dir.path(),
        "pg_dump",
        &format!(
            "printf '%s\\n' \"$@\" >> '{}'\nexec {} \"$@\"",
            argv_log.display(),
            real_pg_dump()
        ),
    );
    let mut cmd = keepsake(Some(dir.path()));
    seed_env(&mut cmd, &db_url_with_password(&db), &bucket, "nightly");
    cmd.env("LOG_LEVEL", "debug").arg("backup");
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "backup failed:\n{stderr}");

    let keys = keys(&bucket).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let data_key = &keys[0];
    let name = data_key
        .strip_prefix("nightly/postgres-backup-")
        .and_then(|k| k.strip_suffix(".sql.gz"))
        .unwrap_or_else(|| panic!("unexpected key {data_key}"));
    assert_eq!(name.len(), "2026-11-28_03-00-00".len(), "{data_key}");
    assert_eq!(keys[1], format!("{data_key}.manifest.json"));

    let stored = get(&bucket, data_key).await;
    let restored = restore(data_key, &stored);
    assert_eq!(fingerprint(&restored), fingerprint(&db));

    // The password authenticated for real, yet appears nowhere visible.
    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(argv.contains(&format!("{PW_ROLE}@")), "{argv}");
    for secret in [PW_SECRET, S3_SECRET] {
        assert!(!argv.contains(secret), "secret in pg_dump argv:\n{argv}");
        assert!(!stderr.contains(secret), "secret in logs:\n{stderr}");
        assert!(!stdout.contains(secret), "secret on stdout:\n{stdout}");
    }
    assert!(stderr.contains("backup finished"), "{stderr}");
    assert!(
        stderr.contains(data_key.as_str()),
        "the log names the key:\n{stderr}"
    );
}

#[tokio::test]
async fn manifest_records_the_checksum_and_size_of_the_object() {
    let db = sample_db("manifest");
    let bucket = bucket("manifest").await;
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), &bucket, "");
    cmd.arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let keys = keys(&bucket).await;
    assert!(
        keys[0].starts_with("postgres-backup-"),
        "empty S3_PATH means no prefix: {keys:?}"
    );
    let data = get(&bucket, &keys[0]).await;
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(&bucket, &keys[1]).await).unwrap();
    use sha2::Digest;
    let digest = keepsake::pipeline::hex(&sha2::Sha256::digest(&data));
    assert_eq!(manifest["sha256"], digest.as_str());
    assert_eq!(manifest["size"], data.len() as u64);
    assert_eq!(manifest["key"], keys[0].as_str());
    assert_eq!(manifest["format"], "plain");
    assert_eq!(manifest["compression"], "gzip");
    let raw = decompress(&keys[0], &data);
    assert_eq!(manifest["raw_size"], raw.len() as u64);
    assert!(String::from_utf8_lossy(&raw).contains("PostgreSQL database dump complete"));
}

#[test]
fn check_prints_the_config_with_secrets_hidden() {
    let mut cmd = keepsake(None);
    seed_env(
        &mut cmd,
        "postgres://app:hunter2-db@db.internal:5432/shop",
        "backups",
        "nightly/",
    );
    cmd.arg("check");
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(r#"database = "postgres://app:***@db.internal:5432/shop""#),
        "{stdout}"
    );
    assert!(stdout.contains(r#"prefix = "nightly""#), "{stdout}");
    assert!(stdout.contains(r#"schedule = "0 3 * * *""#), "{stdout}");
    assert!(stdout.contains(r#"naming = "legacy""#), "{stdout}");
    for secret in ["hunter2-db", S3_SECRET, S3_KEY] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} shown:\n{stdout}"
        );
    }
}

#[test]
fn aliases_from_other_tools_work_and_secrets_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("s3-secret");
    std::fs::write(&secret_file, "from-a-file\n").unwrap();
    let pw_file = dir.path().join("pg-password");
    std::fs::write(&pw_file, "pg-from-file\n").unwrap();
    let mut cmd = keepsake(None);
    cmd.env("POSTGRES_HOST", "db")
        .env("POSTGRES_PORT", "5433")
        .env("POSTGRES_USER", "app")
        .env("POSTGRES_DATABASE", "shop")
        .env("POSTGRES_PASSWORD_FILE", &pw_file)
        .env("S3_BUCKET", "b123")
        .env("S3_ENDPOINT", "http://minio:9000")
        .env("S3_PREFIX", "daily")
        .env("S3_ACCESS_KEY_ID", "id")
        .env("S3_SECRET_ACCESS_KEY_FILE", &secret_file)
        .env("SCHEDULE", "@daily")
        .env("BACKUP_KEEP_DAYS", "7")
        .arg("check");
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            r#"database = "host='db' port='5433' user='app' dbname='shop' password=***""#
        ),
        "the password from its file is set and hidden:\n{stdout}"
    );
    assert!(
        stdout.contains(r#"endpoint = "http://minio:9000""#),
        "{stdout}"
    );
    assert!(stdout.contains(r#"prefix = "daily""#), "{stdout}");
    assert!(stdout.contains("keep_days = 7"), "{stdout}");
    assert!(!stdout.contains("from-a-file") && !stdout.contains("pg-from-file"));
}

/// A dump that pauses half-way: the backup says how far it is every
/// `log.progress_interval`, and is whole in the end.
#[tokio::test]
async fn a_long_backup_reports_its_progress() {
    let db = sample_db("progress");
    add_bulk(&db, 20_000);
    let bucket = bucket("progress").await;
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("dump.sql");
    script(
        dir.path(),
        "pg_dump",
        &format!(
            "case \"$1\" in --version) exec {real} \"$@\";; esac\n\
             {real} \"$@\" > {whole} || exit $?\n\
             head -c 300000 {whole}\nsleep 2.5\ntail -c +300001 {whole}",
            real = real_pg_dump(),
            whole = whole.display(),
        ),
    );
    let mut cmd = keepsake(Some(dir.path()));
    seed_env(&mut cmd, &db_url(&db), &bucket, "p");
    cmd.env("KEEPSAKE_LOG__PROGRESS_INTERVAL", "1s")
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("backup in progress"))
        .unwrap_or_else(|| panic!("no progress line:\n{stderr}"));
    // Logged during the pause: what pg_dump wrote so far.
    assert!(
        line.contains("bytes_read=300000")
            && line.contains("bytes_stored=")
            && line.contains("elapsed_s="),
        "{line}"
    );
    let keys = keys(&bucket).await;
    let restored = restore(&keys[0], &get(&bucket, &keys[0]).await);
    assert_eq!(fingerprint(&restored), fingerprint(&db));
}
