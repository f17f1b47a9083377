//! What `list`, `--latest` and retention see is only what was finished,
//! whatever happens between keepsake and its store: a final request the
//! store applied but whose answer was lost, a run that cannot even tell,
//! two processes backing up one job in the same second, a backup dated in
//! the future.

mod common;

use std::process::{Command, Stdio};

use common::proxy::{Fault, Proxy};
use common::*;

/// `keepsake` in env mode for `db` and `bucket` under `prefix`, through
/// `endpoint`, uncompressed so that a bulky database needs several parts.
fn env_cmd(endpoint: &str, db: &str, bucket: &str, prefix: &str) -> Command {
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(db), bucket, prefix);
    cmd.env("S3_URL", endpoint)
        .env("KEEPSAKE_JOBS__DEFAULT__COMPRESSION", "none");
    cmd
}

fn list_json(db: &str, bucket: &str, prefix: &str) -> Vec<serde_json::Value> {
    let mut cmd = env_cmd(&s3_url(), db, bucket, prefix);
    cmd.args(["list", "--json"]);
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<serde_json::Value>(&stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// `restore --latest` into a new database.
fn restore_latest(db: &str, bucket: &str, prefix: &str) -> (i32, String, String) {
    let target = create_db(&format!("{prefix}-target"));
    let mut cmd = env_cmd(&s3_url(), db, bucket, prefix);
    cmd.args(["restore", "--job", "default", "--latest", "--to"])
        .arg(db_url(&target));
    run(cmd)
}

fn verify_all(db: &str, bucket: &str, prefix: &str) -> (i32, String) {
    let mut cmd = env_cmd(&s3_url(), db, bucket, prefix);
    cmd.args(["verify", "--job", "default", "--all"]);
    let (code, stdout, stderr) = run(cmd);
    (code, format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn a_lost_answer_to_the_final_request_still_makes_a_whole_backup() {
    let db = create_db("lost");
    add_bulk(&db, 250_000);
    for (method, target) in [("POST", "uploadId="), ("PUT", ".manifest.json")] {
        let bucket = bucket("lost").await;
        let proxy = Proxy::start().await;
        // Every attempt reaches the store; no answer comes back.
        proxy.inject(method, target, usize::MAX, Fault::ResetAfter);
        let mut cmd = env_cmd(&proxy.url, &db, &bucket, "n");
        cmd.arg("backup");
        let (code, _, stderr) = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
        assert!(proxy.injected() >= 1, "{method} {target}");
        // The object there is this run's: the backup is whole and counts.
        assert_eq!(code, 0, "{method} {target}: {stderr}");
        assert!(stderr.contains("the store applied it"), "{stderr}");
        let listed = list_json(&db, &bucket, "n");
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["state"], "complete");
        let (code, out) = verify_all(&db, &bucket, "n");
        assert_eq!(code, 0, "{out}");
        assert_eq!(open_uploads(&bucket).await, 0);
    }
}

#[tokio::test]
async fn an_object_left_without_manifest_is_never_a_backup_and_is_removed_later() {
    let db = create_db("orphan");
    add_bulk(&db, 250_000);
    let bucket = bucket("orphan").await;
    let proxy = Proxy::start().await;
    // CompleteMultipartUpload is applied, its answer lost; the HEAD that
    // would tell whose object landed fails too (the first HEAD of the key
    // is the free-name check before the dump).
    proxy.inject("POST", "uploadId=", usize::MAX, Fault::ResetAfter);
    proxy.inject_after(1, "HEAD", ".sql$", usize::MAX, Fault::ResetBefore);
    let mut cmd = env_cmd(&proxy.url, &db, &bucket, "o");
    cmd.arg("backup");
    let (code, _, stderr) = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    assert_eq!(code, 4, "{stderr}");
    let stored = keys(&bucket).await;
    assert_eq!(
        stored.len(),
        1,
        "the data, without its manifest: {stored:?}"
    );

    // Listed as incomplete, never picked.
    let listed = list_json(&db, &bucket, "o");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "incomplete");
    let (code, _, stderr) = restore_latest(&db, &bucket, "o");
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("no backup"), "{stderr}");

    // The next run, once the object is older than a grace of 1 s (names
    // count whole seconds: the wait is the condition itself), removes it.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let mut cmd = env_cmd(&s3_url(), &db, &bucket, "o");
    cmd.env("KEEPSAKE_AGENT__ABANDONED_UPLOAD_AFTER", "1s")
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("removed an incomplete backup (no manifest) a failed run left"),
        "{stderr}"
    );
    let listed = list_json(&db, &bucket, "o");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["state"], "complete");
}

#[tokio::test]
async fn two_processes_in_one_second_never_replace_each_others_backup() {
    let db = sample_db("twins");
    let bucket = bucket("twins").await;
    let mut succeeded = 0;
    for _ in 0..3 {
        let start = || {
            let mut cmd = env_cmd(&s3_url(), &db, &bucket, "t");
            cmd.arg("backup")
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        };
        let (a, b) = (start(), start());
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) => succeeded += 1,
                Some(4) => assert!(stderr.contains("never replace"), "{stderr}"),
                other => panic!("{other:?}: {stderr}"),
            }
        }
    }
    // Every success is its own whole backup; no failure left anything.
    let listed = list_json(&db, &bucket, "t");
    assert_eq!(listed.len(), succeeded, "{listed:?}");
    assert!(
        listed.iter().all(|b| b["state"] == "complete"),
        "{listed:?}"
    );
    let (code, out) = verify_all(&db, &bucket, "t");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("OK ").count(), succeeded, "{out}");
    assert_eq!(open_uploads(&bucket).await, 0);
}

#[tokio::test]
async fn a_backup_dated_in_the_future_is_kept_but_never_the_newest() {
    let db = sample_db("future");
    let bucket = bucket("future").await;
    let backup = || {
        let mut cmd = env_cmd(&s3_url(), &db, &bucket, "f");
        cmd.env("KEEPSAKE_JOBS__DEFAULT__RETENTION__KEEP_LAST", "1")
            .arg("backup");
        let (code, _, stderr) = run(cmd);
        assert_eq!(code, 0, "{stderr}");
        stderr
    };
    backup();
    // A copy from a host whose clock ran years ahead.
    let real = keys(&bucket).await;
    let future = "f/postgres-backup-2099-01-01_03-00-00.sql";
    put_object(&bucket, future, get(&bucket, &real[0]).await).await;
    let manifest = String::from_utf8(get(&bucket, &real[1]).await)
        .unwrap()
        .replace(&real[0], future);
    put_object(
        &bucket,
        &format!("{future}.manifest.json"),
        manifest.into_bytes(),
    )
    .await;

    let stderr = backup();
    assert!(stderr.contains("dated in the future"), "{stderr}");
    let listed = list_json(&db, &bucket, "f");
    let keys_now: Vec<&str> = listed.iter().map(|b| b["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys_now.len(),
        2,
        "the new backup and the future one: {keys_now:?}"
    );
    assert!(keys_now.contains(&future));
    let newest = keys_now.iter().find(|k| **k != future).unwrap().to_string();
    assert_ne!(newest, real[0], "keep_last = 1 kept the new one");

    let (code, stdout, stderr) = restore_latest(&db, &bucket, "f");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&newest), "{stdout}");
}
