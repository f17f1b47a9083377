//! A backup that did not fully succeed is never stored: whatever fails
//! (the database, pg_dump, the store), no object and no open multipart
//! upload remain, and the exit code says so.

mod common;

use common::*;

async fn assert_nothing_stored(bucket: &str) {
    assert_eq!(
        keys(bucket).await,
        Vec::<String>::new(),
        "objects were left behind"
    );
    assert_eq!(
        open_uploads(bucket).await,
        0,
        "a multipart upload was left open"
    );
}

fn backup_env(
    database_url: &str,
    bucket: &str,
    path_first: Option<&std::path::Path>,
) -> std::process::Command {
    let mut cmd = keepsake(path_first);
    seed_env(&mut cmd, database_url, bucket, "nightly");
    cmd.arg("backup");
    cmd
}

#[tokio::test]
async fn missing_database_fails_and_stores_nothing() {
    let bucket = bucket("nodb").await;
    let (code, _, stderr) = run(backup_env(&db_url("no_such_database_here"), &bucket, None));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("no_such_database_here") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert_nothing_stored(&bucket).await;
}

#[tokio::test]
async fn server_down_fails_and_stores_nothing() {
    let bucket = bucket("down").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let (code, _, stderr) = run(backup_env(&url, &bucket, None));
    assert_eq!(code, 4, "{stderr}");
    // libpq: `connection to server at "127.0.0.1", port N failed: Connection
    // refused` (before PostgreSQL 14: `could not connect to server:
    // Connection refused ... TCP/IP connections on port N?`).
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(
        stderr.contains(&format!("port {port}")),
        "the cause names the port:\n{stderr}"
    );
    assert_nothing_stored(&bucket).await;
}

#[tokio::test]
async fn wrong_password_fails_without_showing_it() {
    ensure_password_role();
    let bucket = bucket("badpw").await;
    let url = format!(
        "postgres://{PW_ROLE}:not-the-Password-42@{}:{}/postgres",
        pg_host(),
        pg_port()
    );
    let (code, _, stderr) = run(backup_env(&url, &bucket, None));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-Password-42"), "{stderr}");
    assert_nothing_stored(&bucket).await;
}

/// pg_dump writes a whole dump (several parts' worth) and then exits 1:
/// the multipart upload must be aborted, not completed.
#[tokio::test]
async fn pg_dump_failing_after_its_output_aborts_the_multipart_upload() {
    let db = create_db("lateexit");
    add_bulk(&db, 250_000);
    let bucket = bucket("lateexit").await;
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "case \"$1\" in --version) exec {real} \"$@\";; esac\n{real} \"$@\"\necho 'pg_dump: error: simulated late failure' >&2\nexit 1",
        real = real_pg_dump()
    );
    script(dir.path(), "pg_dump", &body);
    let mut cmd = backup_env(&db_url(&db), &bucket, Some(dir.path()));
    cmd.env("KEEPSAKE_JOBS__DEFAULT__COMPRESSION", "none")
        .env("LOG_LEVEL", "debug");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("exit status 1") && stderr.contains("simulated late failure"),
        "{stderr}"
    );
    assert!(
        stderr.contains("part uploaded"),
        "the test must reach the multipart path:\n{stderr}"
    );
    assert!(stderr.contains("multipart upload aborted"), "{stderr}");
    assert_nothing_stored(&bucket).await;
}

#[tokio::test]
async fn pg_dump_killed_mid_stream_stores_nothing() {
    let db = create_db("killed");
    add_bulk(&db, 50_000);
    let bucket = bucket("killed").await;
    let dir = tempfile::tempdir().unwrap();
    // Emits part of a real dump, then dies by a signal.
    let body = format!(
        "case \"$1\" in --version) exec {real} \"$@\";; esac\n{real} \"$@\" | head -c 100000\nkill -9 $$",
        real = real_pg_dump()
    );
    script(dir.path(), "pg_dump", &body);
    let (code, _, stderr) = run(backup_env(&db_url(&db), &bucket, Some(dir.path())));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("killed by signal 9"), "{stderr}");
    assert_nothing_stored(&bucket).await;
}

#[tokio::test]
async fn empty_dump_is_a_failure() {
    let db = create_db("empty");
    let bucket = bucket("empty").await;
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "case \"$1\" in --version) exec {} \"$@\";; esac\nexit 0",
        real_pg_dump()
    );
    script(dir.path(), "pg_dump", &body);
    let (code, _, stderr) = run(backup_env(&db_url(&db), &bucket, Some(dir.path())));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("pg_dump produced no output"), "{stderr}");
    assert_nothing_stored(&bucket).await;
}

#[tokio::test]
async fn missing_bucket_fails_with_the_cause() {
    let db = sample_db("nobucket");
    let bucket = unique("never-created");
    let (code, _, stderr) = run(backup_env(&db_url(&db), &bucket, None));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("NoSuchBucket") || stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&bucket),
        "the error names the bucket:\n{stderr}"
    );
}

#[tokio::test]
async fn unreachable_store_fails_with_the_cause() {
    let db = sample_db("nos3");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), "some-bucket", "nightly");
    cmd.env("S3_URL", format!("http://127.0.0.1:{port}"))
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("backup failed") && stderr.contains("s3://some-bucket"),
        "{stderr}"
    );
    assert!(!stderr.contains(S3_SECRET), "{stderr}");
}
