//! `keepsake list`, `restore` and `verify` against real services: every
//! format and codec restores to equal data; `--at` and `--latest` pick the
//! right backup (past 1,000 objects); a corrupted or truncated backup is
//! refused with its key named and leaves the target untouched.

mod common;

use common::*;
use keepsake::backup;
use keepsake::config::{self, EnvVars};
use keepsake::storage::{self, NamedStorage};
use tokio_util::sync::CancellationToken;

fn cli(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(config).args(args);
    run(cmd)
}

/// A URL for a database name that does not exist yet.
fn fresh_target(prefix: &str) -> (String, String) {
    let name = unique(prefix).replace('-', "_");
    (name.clone(), db_url(&name))
}

async fn roundtrip(format: &str, compression: &str) {
    let db = sample_db(&format!("rt-{format}-{compression}"));
    let bucket = bucket("rt").await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("format = \"{format}\"\ncompression = \"{compression}\"");
    let config = config_file(dir.path(), &toml_job(&db_url(&db), &bucket, &extra));
    let (code, _, stderr) = cli(&config, &["backup"]);
    assert_eq!(code, 0, "{stderr}");
    let (target, url) = fresh_target("rt_target");
    let (code, stdout, stderr) = cli(
        &config,
        &[
            "restore", "--job", "shop", "--latest", "--to", &url, "--create",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("restored prod/shop/shop-"), "{stdout}");
    assert!(stderr.contains("checksum_verified=true"), "{stderr}");
    assert_eq!(
        fingerprint(&target),
        fingerprint(&db),
        "{format}/{compression}"
    );
}

#[tokio::test]
async fn restore_plain_gzip() {
    roundtrip("plain", "gzip").await;
}

#[tokio::test]
async fn restore_plain_zstd() {
    roundtrip("plain", "zstd").await;
}

#[tokio::test]
async fn restore_plain_none() {
    roundtrip("plain", "none").await;
}

#[tokio::test]
async fn restore_custom_gzip() {
    roundtrip("custom", "gzip").await;
}

#[tokio::test]
async fn restore_custom_zstd() {
    roundtrip("custom", "zstd").await;
}

#[tokio::test]
async fn restore_custom_none() {
    roundtrip("custom", "none").await;
}

/// Three backups at known times, with rows added between them.
async fn three_backups(dir: &std::path::Path, format: &str) -> (std::path::PathBuf, String) {
    let db = create_db("attimes");
    psql(&db, "CREATE TABLE t (id int)");
    let config = config_file(
        dir,
        &format!(
            "[storage.disk]\ntype = \"local\"\npath = \"{}\"\n[jobs.shop]\ndatabase = \"{}\"\nformat = \"{format}\"\n",
            dir.join("disk").display(),
            db_url(&db)
        ),
    );
    let loaded = config::load(Some(&config), &EnvVars::new()).unwrap();
    let storages = [NamedStorage {
        name: "disk".into(),
        storage: storage::open(&loaded.storage["disk"]).await,
    }];
    for (i, at) in [
        "2026-11-01T03:00:00Z",
        "2026-11-02T03:00:00Z",
        "2026-11-03T03:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        psql(
            &db,
            &format!("INSERT INTO t SELECT g FROM generate_series(1, {}) g", 10),
        );
        let now: jiff::Timestamp = at.parse().unwrap();
        backup::back_up(&loaded.jobs[0], &storages, now, &CancellationToken::new())
            .await
            .unwrap_or_else(|e| panic!("backup {i}: {e}"));
    }
    (config, db)
}

fn rows_after_restore(config: &std::path::Path, pick: &[&str]) -> Result<String, String> {
    let (target, url) = fresh_target("at_target");
    let mut args = vec!["restore", "--job", "shop", "--to", &url, "--create"];
    args.extend_from_slice(pick);
    let (code, _, stderr) = cli(config, &args);
    if code != 0 {
        return Err(stderr);
    }
    Ok(psql(&target, "SELECT count(*) FROM t"))
}

#[tokio::test]
async fn at_picks_the_newest_backup_not_after_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = three_backups(dir.path(), "custom").await;
    assert_eq!(
        rows_after_restore(&config, &["--at", "2026-11-02T12:00:00Z"]).unwrap(),
        "20"
    );
    assert_eq!(
        rows_after_restore(&config, &["--at", "2026-11-01_03-00-00"]).unwrap(),
        "10"
    );
    assert_eq!(
        rows_after_restore(&config, &["--at", "2026-11-03T04:00:00+01:00"]).unwrap(),
        "30"
    );
    assert_eq!(rows_after_restore(&config, &["--latest"]).unwrap(), "30");
    assert_eq!(
        rows_after_restore(&config, &["--key", "shop/shop-2026-11-02_03-00-00.dump.gz"]).unwrap(),
        "20"
    );
    let err = rows_after_restore(&config, &["--at", "2026-10-31T00:00:00Z"]).unwrap_err();
    assert!(err.contains("no backup was taken at or before"), "{err}");

    let (code, stdout, _) = cli(&config, &["list", "--json"]);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let times: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["time"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2026-11-03T03:00:00Z",
            "2026-11-02T03:00:00Z",
            "2026-11-01T03:00:00Z"
        ]
    );
    assert_eq!(list[0]["checksum"], true);
    assert_eq!(list[0]["format"], "custom");
}

#[tokio::test]
async fn latest_is_found_past_a_thousand_objects() {
    let db = sample_db("many");
    let bucket = bucket("many").await;
    let keys: Vec<String> = (0..1100)
        .map(|i| {
            format!(
                "prod/shop/shop-2025-01-01_{:02}-{:02}-00.sql.gz",
                i / 60,
                i % 60
            )
        })
        .flat_map(|key| [format!("{key}.manifest.json"), key])
        .collect();
    put_many(&bucket, keys, b"{}").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &toml_job(&db_url(&db), &bucket, ""));
    let (code, _, stderr) = cli(&config, &["backup"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = cli(&config, &["list", "--json"]);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1101);
    let (target, url) = fresh_target("many_target");
    let (code, _, stderr) = cli(
        &config,
        &[
            "restore", "--job", "shop", "--latest", "--to", &url, "--create",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fingerprint(&target), fingerprint(&db));
}

/// One backup of a sample database to a local directory; its file path.
async fn local_backup(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let db = sample_db("corrupt");
    let config = config_file(
        dir,
        &format!(
            "[storage.disk]\ntype = \"local\"\npath = \"{}\"\n[jobs.shop]\ndatabase = \"{}\"\n",
            dir.join("disk").display(),
            db_url(&db)
        ),
    );
    let (code, _, stderr) = cli(&config, &["backup"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, _) = cli(&config, &["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let key = list[0]["key"].as_str().unwrap().to_string();
    (config, dir.join("disk").join(&key), key)
}

fn existing_target_with_data() -> (String, String, String) {
    let db = create_db("keepme");
    psql(
        &db,
        "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('still here')",
    );
    let url = db_url(&db);
    let before = fingerprint(&db);
    (db, url, before)
}

#[tokio::test]
async fn a_flipped_byte_fails_verify_and_restore_and_leaves_the_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (config, file, key) = local_backup(dir.path()).await;
    let (code, stdout, _) = cli(&config, &["verify", "--job", "shop", "--latest"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("OK "), "{stdout}");

    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();

    let (code, stdout, _) = cli(&config, &["verify", "--job", "shop", "--latest"]);
    assert_eq!(code, 4, "{stdout}");
    assert!(
        stdout.contains(&format!("BAD   {key}")) && stdout.contains("checksum mismatch"),
        "{stdout}"
    );

    let (db, url, before) = existing_target_with_data();
    let (code, _, stderr) = cli(
        &config,
        &[
            "restore", "--job", "shop", "--latest", "--to", &url, "--clean",
        ],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(&key) && stderr.contains("checksum mismatch"),
        "{stderr}"
    );
    assert_eq!(fingerprint(&db), before, "the target must be untouched");
}

#[tokio::test]
async fn a_truncated_backup_fails_and_leaves_the_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (config, file, key) = local_backup(dir.path()).await;
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let (code, stdout, _) = cli(&config, &["verify", "--job", "shop", "--all"]);
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains(&key), "{stdout}");
    let (db, url, before) = existing_target_with_data();
    let (code, _, stderr) = cli(
        &config,
        &[
            "restore", "--job", "shop", "--latest", "--to", &url, "--clean",
        ],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains(&key), "{stderr}");
    assert_eq!(fingerprint(&db), before);
}

#[tokio::test]
async fn a_non_empty_target_is_refused_without_clean_and_replaced_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _, _) = local_backup(dir.path()).await;
    let (db, url, before) = existing_target_with_data();
    let (code, _, stderr) = cli(
        &config,
        &["restore", "--job", "shop", "--latest", "--to", &url],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("not empty") && stderr.contains("--clean"),
        "{stderr}"
    );
    assert_eq!(fingerprint(&db), before);
    let (code, _, stderr) = cli(
        &config,
        &[
            "restore", "--job", "shop", "--latest", "--to", &url, "--clean",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let tables = psql(
        &db,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'",
    );
    assert_eq!(
        tables, "customers,orders",
        "--clean dropped what was there before"
    );
}

#[tokio::test]
async fn verify_can_restore_into_a_scratch_database_and_count() {
    let db = sample_db("scratch");
    let bucket = bucket("scratch").await;
    let dir = tempfile::tempdir().unwrap();
    let server = db_url("postgres");
    let extra = format!("format = \"custom\"\nverify_restore_into = \"{server}\"");
    let config = config_file(dir.path(), &toml_job(&db_url(&db), &bucket, &extra));
    let (code, _, stderr) = cli(&config, &["backup"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("verification passed") && stderr.contains("tables=2 rows=2500"),
        "{stderr}"
    );
    let (code, stdout, stderr) = cli(
        &config,
        &[
            "verify",
            "--job",
            "shop",
            "--latest",
            "--restore-into",
            &server,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("restored 2 tables, 2500 rows"), "{stdout}");
    // Only this run's scratch databases: other tests verify at the same time.
    let scratch: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("scratch database created"))
        .filter_map(|l| l.split("database=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or(rest))
        .collect();
    assert_eq!(scratch.len(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("scratch database dropped database={}", scratch[0])),
        "{stderr}"
    );
    let left = psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{}'",
            scratch[0]
        ),
    );
    assert_eq!(left, "0", "the scratch database is dropped");
}
