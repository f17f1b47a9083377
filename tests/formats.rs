//! Every dump format with every compression, configured from a TOML file:
//! the stored backup restores (psql or pg_restore) to the same data.

mod common;

use common::*;

async fn roundtrip(format: &str, compression: &str, ext: &str) {
    let db = sample_db(&format!("fmt-{format}-{compression}"));
    let bucket = bucket("fmt").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepsake.toml");
    let extra = format!("format = \"{format}\"\ncompression = \"{compression}\"");
    std::fs::write(&config, toml_job(&db_url(&db), &bucket, &extra)).unwrap();
    let mut cmd = keepsake(None);
    cmd.args(["--config"])
        .arg(&config)
        .args(["backup", "--job", "shop"]);
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let keys = keys(&bucket).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let key = &keys[0];
    assert!(key.starts_with("prod/shop/shop-"), "{key}");
    assert!(
        key.ends_with(&format!(".{ext}")),
        "{key} should end with .{ext}"
    );
    let restored = restore(key, &get(&bucket, key).await);
    assert_eq!(
        fingerprint(&restored),
        fingerprint(&db),
        "{format}/{compression}"
    );
}

#[tokio::test]
async fn plain_gzip() {
    roundtrip("plain", "gzip", "sql.gz").await;
}

#[tokio::test]
async fn plain_zstd() {
    roundtrip("plain", "zstd", "sql.zst").await;
}

#[tokio::test]
async fn plain_none() {
    roundtrip("plain", "none", "sql").await;
}

#[tokio::test]
async fn custom_gzip() {
    roundtrip("custom", "gzip", "dump.gz").await;
}

#[tokio::test]
async fn custom_zstd() {
    roundtrip("custom", "zstd", "dump.zst").await;
}

#[tokio::test]
async fn custom_none() {
    roundtrip("custom", "none", "dump").await;
}
