//! A dump larger than one part goes up as a multipart upload, arrives
//! whole, and restores; its manifest checksum matches the object.

mod common;

use common::*;
use keepsake::storage::parts::FIRST_PART_SIZE;

#[tokio::test]
async fn dump_larger_than_one_part_is_uploaded_in_parts_and_restores() {
    multipart_round_trip("multipart", None).await;
}

/// Three parts uploading at once arrive in order, just the same.
#[tokio::test]
async fn parts_uploaded_three_at_once_arrive_in_order() {
    multipart_round_trip("multipart3", Some("3")).await;
}

async fn multipart_round_trip(name: &str, upload_concurrency: Option<&str>) {
    let db = create_db(name);
    psql(&db, SAMPLE_SQL);
    // ~100 bytes a row of incompressible text: over two parts uncompressed.
    add_bulk(&db, 250_000);
    let bucket = bucket(name).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepsake.toml");
    std::fs::write(
        &config,
        toml_job(&db_url(&db), &bucket, "compression = \"none\""),
    )
    .unwrap();
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    if let Some(n) = upload_concurrency {
        cmd.env("KEEPSAKE_STORAGE__S3__UPLOAD_CONCURRENCY", n);
    }
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");

    let keys = keys(&bucket).await;
    let key = &keys[0];
    let data = get(&bucket, key).await;
    let parts = data.len().div_ceil(FIRST_PART_SIZE);
    assert!(
        parts >= 3,
        "the dump ({} bytes) should need 3+ parts",
        data.len()
    );
    let etag = etag(&bucket, key).await;
    assert!(
        etag.trim_matches('"').ends_with(&format!("-{parts}")),
        "ETag {etag} is not of a {parts}-part upload"
    );
    assert_eq!(open_uploads(&bucket).await, 0);

    let manifest: serde_json::Value =
        serde_json::from_slice(&get(&bucket, &keys[1]).await).unwrap();
    use sha2::Digest;
    assert_eq!(
        manifest["sha256"],
        keepsake::pipeline::hex(&sha2::Sha256::digest(&data)).as_str()
    );
    assert_eq!(manifest["size"], data.len() as u64);

    let restored = restore(key, &data);
    assert_eq!(fingerprint(&restored), fingerprint(&db));
}
