//! Several destinations: one failing does not take the others down, and
//! retention runs only where the backup was stored. Retention deletes in
//! batches; a failed batch is reported, and nothing is lost. Every S3
//! failure names its HTTP status and S3 code, with a hint.

mod common;

use std::path::Path;

use common::proxy::{Fault, Proxy};
use common::*;

/// A job writing to S3 through `endpoint` ("offsite") and to `root`
/// ("disk"), keeping the last backup.
fn config(dir: &Path, db: &str, bucket: &str, endpoint: &str, root: &Path) -> std::path::PathBuf {
    let text = s3_storage_toml("offsite", bucket, endpoint)
        + &format!(
            r#"
[storage.disk]
type = "local"
path = "{root}"

[jobs.shop]
database = "{db_url}"
storage = ["offsite", "disk"]
retention = {{ keep_last = 1 }}
"#,
            root = root.display(),
            db_url = db_url(db),
        );
    // One file per endpoint: a test uses the store directly and through
    // a proxy.
    let name = endpoint.rsplit(':').next().unwrap_or("direct");
    let path = dir.join(format!("keepsake-{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn files(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("shop"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_outage_keeps_the_local_copy_and_fails_the_run() {
    let db = sample_db("dest");
    let bucket = bucket("dest").await;
    let root = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let direct = config(dir.path(), &db, &bucket, &s3_url(), root.path());
    let (code, _, stderr) = cli(&direct, &["backup"]);
    assert_eq!(code, 0, "{stderr}");
    let first_s3 = keys(&bucket).await;
    assert_eq!(first_s3.len(), 2, "{first_s3:?}");

    // The S3 store throttles every write from now on.
    let proxy = Proxy::start().await;
    proxy.inject("PUT", "/prod/", usize::MAX, Fault::Status(503, "SlowDown"));
    proxy.inject("POST", "/prod/", usize::MAX, Fault::Status(503, "SlowDown"));
    let through = config(dir.path(), &db, &bucket, &proxy.url, root.path());
    let (code, _, stderr) = cli(&through, &["backup"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("HTTP 503 SlowDown") && stderr.contains("throttling"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stored in disk, but not in offsite"),
        "{stderr}"
    );
    // The local copy is stored and retention ran there only.
    let local = files(root.path());
    assert_eq!(local.len(), 2, "one backup and its manifest: {local:?}");
    assert!(stderr.contains("retention applied") && stderr.contains("storage=disk"));
    assert!(
        !stderr.contains("retention applied storage=offsite"),
        "{stderr}"
    );
    assert_eq!(
        keys(&bucket).await,
        first_s3,
        "offsite kept its only backup"
    );
    assert_eq!(open_uploads(&bucket).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_delete_is_reported_and_loses_nothing() {
    let db = sample_db("batch");
    let bucket = bucket("batch").await;
    let root = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let direct = config(dir.path(), &db, &bucket, &s3_url(), root.path());
    for _ in 0..2 {
        let (code, _, stderr) = cli(&direct, &["backup", "--job", "shop"]);
        assert_eq!(code, 0, "{stderr}");
    }
    // keep_last = 1 ran after each backup; add three old ones to prune.
    for day in 1..=3 {
        let key = format!("prod/shop/shop-2026-01-0{day}_03-00-00.sql.gz");
        put_object(&bucket, &key, b"old".to_vec()).await;
        put_object(&bucket, &format!("{key}.manifest.json"), b"{}".to_vec()).await;
    }
    let before = keys(&bucket).await;
    assert_eq!(before.len(), 8);

    let proxy = Proxy::start().await;
    proxy.inject(
        "POST",
        "?delete",
        usize::MAX,
        Fault::Status(500, "InternalError"),
    );
    let through = config(dir.path(), &db, &bucket, &proxy.url, root.path());
    let (code, stdout, stderr) = cli(&through, &["prune"]);
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(proxy.injected() >= 1, "DeleteObjects was used");
    assert_eq!(
        stderr
            .matches("retention could not delete a backup")
            .count(),
        3,
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 500 InternalError"), "{stderr}");
    assert_eq!(keys(&bucket).await, before, "nothing was lost");

    // Through a working store, one batch deletes the three.
    let (code, _, stderr) = cli(&direct, &["prune"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(keys(&bucket).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_request_names_its_status_and_what_to_check() {
    let db = sample_db("forbidden");
    let bucket = bucket("forbidden").await;
    let root = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start().await;
    proxy.inject(
        "HEAD",
        "/prod/",
        usize::MAX,
        Fault::Status(403, "AccessDenied"),
    );
    let through = config(dir.path(), &db, &bucket, &proxy.url, root.path());
    let (code, _, stderr) = cli(&through, &["backup"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("HTTP 403")
            && stderr.contains("check the access keys and the bucket policy"),
        "{stderr}"
    );
}
