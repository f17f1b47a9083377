//! Faults injected between keepsake and the S3 server: a small proxy on
//! loopback answers chosen requests with a 500 instead of passing them on.
//! A transient failure is retried and the backup succeeds; a persistent one
//! fails the backup and aborts the multipart upload.

mod common;

use common::proxy::{Fault, Proxy};
use common::*;

/// A proxy that answers the first `failures` part uploads numbered 2 with
/// a 500.
async fn failing_part_two(failures: usize) -> Proxy {
    let proxy = Proxy::start().await;
    proxy.inject(
        "PUT",
        "partNumber=2",
        failures,
        Fault::Status(500, "InternalError"),
    );
    proxy
}

fn backup_through(proxy: &str, db: &str, bucket: &str) -> std::process::Command {
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(db), bucket, "faults");
    cmd.env("S3_URL", proxy)
        .env("LOG_LEVEL", "debug")
        .env("KEEPSAKE_JOBS__DEFAULT__COMPRESSION", "none")
        .arg("backup");
    cmd
}

#[tokio::test]
async fn a_transient_part_failure_is_retried_and_the_backup_succeeds() {
    let db = create_db("transient");
    add_bulk(&db, 250_000);
    let bucket = bucket("transient").await;
    let proxy = failing_part_two(2).await;
    let cmd = backup_through(&proxy.url, &db, &bucket);
    let (code, _, stderr) = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        proxy.injected(),
        2,
        "both failures were injected and retried"
    );
    let keys = keys(&bucket).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let data = get(&bucket, &keys[0]).await;
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(&bucket, &keys[1]).await).unwrap();
    assert_eq!(manifest["size"], data.len() as u64);
    let restored = restore(&keys[0], &data);
    assert_eq!(fingerprint(&restored), fingerprint(&db));
}

#[tokio::test]
async fn a_persistent_part_failure_fails_the_backup_and_aborts_the_upload() {
    let db = create_db("persistent");
    add_bulk(&db, 250_000);
    let bucket = bucket("persistent").await;
    let proxy = failing_part_two(usize::MAX).await;
    let cmd = backup_through(&proxy.url, &db, &bucket);
    let (code, _, stderr) = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    assert_eq!(code, 4, "{stderr}");
    assert!(proxy.injected() >= 5, "every attempt was made");
    assert!(
        stderr.contains("UploadPart") && stderr.contains("InternalError"),
        "{stderr}"
    );
    assert!(stderr.contains("multipart upload aborted"), "{stderr}");
    assert_eq!(keys(&bucket).await, Vec::<String>::new());
    assert_eq!(open_uploads(&bucket).await, 0);
}
