//! pg_dump must be at least as new as the server. keepsake finds every
//! installed pg_dump, uses the oldest that fits, and otherwise says which
//! versions it found. Runs against the PostgreSQL 18 cluster that
//! scripts/test.sh starts beside the system's PostgreSQL 15.

mod common;

use common::*;

fn pg18_port() -> String {
    std::env::var("KS_PG18_PORT").expect("KS_PG18_PORT: run the tests with scripts/test.sh")
}

fn pg18_bin() -> std::path::PathBuf {
    std::env::var("KS_PG18_BIN")
        .expect("KS_PG18_BIN: run the tests with scripts/test.sh")
        .into()
}

/// A database on the PostgreSQL 18 cluster holding the sample data.
fn pg18_db() -> String {
    let db = unique("v18").replace('-', "_");
    psql_at(&pg18_port(), "postgres", &format!("CREATE DATABASE {db}"));
    psql_at(&pg18_port(), &db, SAMPLE_SQL);
    db
}

fn url18(db: &str) -> String {
    format!("postgres://postgres@{}:{}/{db}", pg_host(), pg18_port())
}

#[tokio::test]
async fn a_server_newer_than_every_pg_dump_is_refused_with_both_versions() {
    let db = pg18_db();
    let bucket = bucket("v18old").await;
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &url18(&db), &bucket, "nightly");
    cmd.arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("the server runs PostgreSQL 18 but the newest pg_dump found is 15"),
        "{stderr}"
    );
    assert_eq!(keys(&bucket).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_fitting_pg_dump_is_found_and_used() {
    let db = pg18_db();
    let bucket = bucket("v18new").await;
    let mut cmd = keepsake(Some(&pg18_bin()));
    seed_env(&mut cmd, &url18(&db), &bucket, "nightly");
    cmd.env("KEEPSAKE_JOBS__DEFAULT__FORMAT", "plain")
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("pg_dump_version=18"), "{stderr}");
    let keys = keys(&bucket).await;
    let dump = decompress(&keys[0], &get(&bucket, &keys[0]).await);
    let text = String::from_utf8_lossy(&dump);
    assert!(
        text.contains("Dumped by pg_dump version 18"),
        "{}",
        &text[..400.min(text.len())]
    );

    // Restore into a fresh database on the same server with its own psql.
    let target = unique("v18r").replace('-', "_");
    psql_at(
        &pg18_port(),
        "postgres",
        &format!("CREATE DATABASE {target}"),
    );
    let mut restore = std::process::Command::new(pg18_bin().join("psql"));
    restore
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &pg_host(),
            "-p",
            &pg18_port(),
            "-U",
            "postgres",
            "-d",
            &target,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = restore.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&dump).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fingerprint_at(&pg18_port(), &target),
        fingerprint_at(&pg18_port(), &db)
    );
}

#[tokio::test]
async fn an_older_server_uses_the_oldest_fitting_pg_dump() {
    // Both 15 and 18 are reachable; a 15 server gets pg_dump 15.
    let db = sample_db("v15");
    let bucket = bucket("v15").await;
    let mut cmd = keepsake(Some(&pg18_bin()));
    seed_env(&mut cmd, &db_url(&db), &bucket, "nightly");
    cmd.arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("server_version=15 pg_dump_version=15"),
        "{stderr}"
    );
}

/// An archive written by pg_dump 18 cannot be read by pg_restore 15: the
/// restore says so instead of failing halfway.
#[tokio::test]
async fn restoring_an_archive_needs_a_new_enough_pg_restore() {
    let db = pg18_db();
    let bucket = bucket("v18restore").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        &toml_job(&url18(&db), &bucket, "format = \"custom\""),
    );
    let mut cmd = keepsake(Some(&pg18_bin()));
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");

    let target = unique("v18dst").replace('-', "_");
    let to = format!("postgres://postgres@{}:{}/{target}", pg_host(), pg18_port());
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).args([
        "restore", "--job", "shop", "--latest", "--create", "--to", &to,
    ]);
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr
            .contains("the backup was written by pg_dump 18 but the newest pg_restore found is 15"),
        "{stderr}"
    );

    let mut cmd = keepsake(Some(&pg18_bin()));
    cmd.arg("-c").arg(&config).args([
        "restore", "--job", "shop", "--latest", "--create", "--to", &to,
    ]);
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        fingerprint_at(&pg18_port(), &target),
        fingerprint_at(&pg18_port(), &db)
    );
}

/// `keepsake restore --latest --create` of job shop into `target`, with
/// the 18 clients reachable: the exit code and the log.
fn restore_latest(config: &std::path::Path, target: &str) -> (i32, String) {
    let mut cmd = keepsake(Some(&pg18_bin()));
    cmd.arg("-c").arg(config).args([
        "restore", "--job", "shop", "--latest", "--create", "--to", target,
    ]);
    let (code, _, stderr) = run(cmd);
    (code, stderr)
}

/// The port of the test server of `major` (scripts/test.sh starts 14 to 18).
fn server_port(major: u32) -> String {
    let var = match major {
        15 => "KS_PGPORT".to_string(),
        _ => format!("KS_PG{major}_PORT"),
    };
    std::env::var(&var).unwrap_or_else(|_| panic!("{var}: run the tests with scripts/test.sh"))
}

/// Every supported server major, backed up with the oldest pg_dump that
/// fits it (15 for 14 and 15, 18 for 16 to 18: the clients installed
/// here) and restored by keepsake with the fitting psql or pg_restore into
/// a new database on the same server, equal to the original. A plain dump
/// of 16 by pg_dump 18 restores into 16 too (keepsake comments out the
/// one header line 16 does not know); an archive cannot (see below).
#[tokio::test]
async fn every_major_from_14_to_18_round_trips_with_the_fitting_client() {
    for (major, client, format) in [
        (14, 15, "custom"),
        (14, 15, "plain"),
        (15, 15, "plain"),
        (16, 18, "plain"),
        (17, 18, "custom"),
        (17, 18, "plain"),
        (18, 18, "custom"),
    ] {
        let port = server_port(major);
        let db = unique(&format!("m{major}")).replace('-', "_");
        psql_at(&port, "postgres", &format!("CREATE DATABASE {db}"));
        psql_at(&port, &db, SAMPLE_SQL);
        let url = |db: &str| format!("postgres://postgres@{}:{port}/{db}", pg_host());
        let bucket = bucket(&format!("m{major}")).await;
        let dir = tempfile::tempdir().unwrap();
        let job = format!("format = \"{format}\"");
        let config = config_file(dir.path(), &toml_job(&url(&db), &bucket, &job));

        let mut cmd = keepsake(Some(&pg18_bin()));
        cmd.arg("-c").arg(&config).arg("backup");
        let (code, _, stderr) = run(cmd);
        assert_eq!(code, 0, "server {major}: {stderr}");
        let chosen = format!("server_version={major} pg_dump_version={client}");
        assert!(stderr.contains(&chosen), "server {major}: {stderr}");

        let target = format!("{db}_r");
        let (code, stderr) = restore_latest(&config, &url(&target));
        assert_eq!(code, 0, "restore on server {major}: {stderr}");
        assert_eq!(
            fingerprint_at(&port, &target),
            fingerprint_at(&port, &db),
            "server {major}"
        );
    }
}

/// An archive of a 16 server written by pg_dump 18 (no pg_dump 16 here)
/// needs pg_restore 18, which sets a parameter 16 lacks: the restore is
/// refused before it touches the target, saying what to do.
#[tokio::test]
async fn an_archive_from_a_newer_pg_dump_is_refused_by_an_older_server_with_the_fix() {
    let port = server_port(16);
    let db = unique("m16c").replace('-', "_");
    psql_at(&port, "postgres", &format!("CREATE DATABASE {db}"));
    psql_at(&port, &db, SAMPLE_SQL);
    let url = |db: &str| format!("postgres://postgres@{}:{port}/{db}", pg_host());
    let bucket = bucket("m16c").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        &toml_job(&url(&db), &bucket, "format = \"custom\""),
    );
    let mut cmd = keepsake(Some(&pg18_bin()));
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("these backups cannot be restored into the server they come from"),
        "warned at backup time: {stderr}"
    );

    // Refused before anything happens: --create makes no database.
    let target = format!("{db}_r");
    let (code, stderr) = restore_latest(&config, &url(&target));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("PostgreSQL 16 does not have")
            && stderr.contains("install the PostgreSQL 16 client programs"),
        "{stderr}"
    );
    let exists = format!("SELECT count(*) FROM pg_database WHERE datname = '{target}'");
    assert_eq!(psql_at(&port, "postgres", &exists), "0");
}
