//! Server-side encryption and storage class (issue 12): every object
//! keepsake writes, the backup (multipart here) and its manifest, carries
//! `sse = "aws:kms"` with the configured key and the storage class, and
//! restores as any other. The key `testkey-1` is one radosgw's test KMS
//! backend knows (scripts/rgw/start.sh); moto accepts any.

mod common;

use common::*;

#[tokio::test]
async fn every_object_is_written_encrypted_in_the_configured_class() {
    let db = sample_db("sse");
    add_bulk(&db, 120_000);
    let bucket = bucket("sse").await;
    let dir = tempfile::tempdir().unwrap();
    let storage = s3_storage_toml("s3", &bucket, &s3_url()).replace(
        "prefix = \"prod\"",
        "prefix = \"prod\"\nsse = \"aws:kms\"\nsse_kms_key_id = \"testkey-1\"\nstorage_class = \"STANDARD_IA\"",
    );
    let text = format!(
        "{storage}\n[jobs.shop]\ndatabase = \"{}\"\ncompression = \"none\"\n",
        db_url(&db)
    );
    let config = config_file(dir.path(), &text);
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");

    let keys = keys(&bucket).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let client = s3_client();
    for key in &keys {
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption().map(|s| s.as_str()),
            Some("aws:kms"),
            "{key}"
        );
        assert_eq!(
            head.storage_class().map(|s| s.as_str()),
            Some("STANDARD_IA"),
            "{key}"
        );
    }
    let data = keys.iter().find(|k| k.ends_with(".sql")).unwrap();
    let head = client
        .head_object()
        .bucket(&bucket)
        .key(data)
        .send()
        .await
        .unwrap();
    assert!(
        head.content_length().unwrap() > 6 * 1024 * 1024,
        "multipart: {head:?}"
    );

    let target = create_db("sse_to");
    let mut cmd = keepsake(None);
    cmd.arg("-c")
        .arg(&config)
        .args(["restore", "--job", "shop", "--latest", "--to"])
        .arg(db_url(&target));
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fingerprint(&target), fingerprint(&db));
}

#[test]
fn archived_classes_and_unknown_encryption_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = s3_storage_toml("s3", "any-bucket", &s3_url()).replace(
        "prefix = \"prod\"",
        "prefix = \"prod\"\nsse = \"rot13\"\nstorage_class = \"DEEP_ARCHIVE\"",
    );
    let config = config_file(
        dir.path(),
        &format!("{storage}\n[jobs.shop]\ndatabase = \"shop\"\n"),
    );
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("check");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("storage.s3.sse") && stderr.contains("\"AES256\" or \"aws:kms\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("storage.s3.storage_class") && stderr.contains("must be restored before"),
        "{stderr}"
    );
}
