//! S3 Object Lock, against stores that implement it (moto; radosgw in
//! the second pass of scripts/test.sh): every object keepsake writes,
//! single PutObject or multipart, is locked for the configured days; the
//! keys keepsake holds cannot delete a locked backup; retention keeps
//! locked backups (listed as "locked until"), runs green, and once a
//! lock has passed deletes every version, not just hides it; a bucket
//! without Object Lock is refused before anything is written.

mod common;

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::ObjectLockMode;
use base64::Engine as _;
use common::*;
use md5::{Digest, Md5};

/// A new bucket with Object Lock enabled (and so versioning).
async fn locked_bucket(prefix: &str) -> String {
    let name = unique(prefix);
    s3_client()
        .create_bucket()
        .bucket(&name)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create a bucket with Object Lock");
    name
}

fn lock_job(db: &str, bucket: &str, extra: &str) -> String {
    toml_job(&db_url(db), bucket, extra).replace(
        "prefix = \"prod\"",
        "prefix = \"prod\"\nobject_lock = { mode = \"governance\", days = 1 }",
    )
}

/// The lock on the current version of `key`: its mode and until when.
async fn lock_of(bucket: &str, key: &str) -> (Option<ObjectLockMode>, Option<jiff::Timestamp>) {
    let head = head(bucket, key).await;
    let until = head
        .object_lock_retain_until_date()
        .map(|d| jiff::Timestamp::from_second(d.secs()).unwrap());
    (head.object_lock_mode().cloned(), until)
}

/// Every version (and delete marker) of `key`.
async fn versions(bucket: &str, key: &str) -> Vec<String> {
    let out = s3_client()
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .expect("list object versions");
    out.versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .filter_map(|v| v.version_id().map(str::to_string))
        .chain(
            out.delete_markers()
                .iter()
                .filter(|m| m.key() == Some(key))
                .filter_map(|m| m.version_id().map(str::to_string)),
        )
        .collect()
}

/// Puts `key` locked (governance) until `until`, as a backup keepsake
/// wrote then would be.
async fn put_locked(bucket: &str, key: &str, body: &[u8], until: jiff::Timestamp) {
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body));
    s3_client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .content_md5(md5)
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(until.as_second()))
        .send()
        .await
        .expect("put a locked object");
}

#[tokio::test]
async fn every_object_written_is_locked_and_retention_keeps_it_green() {
    let db = sample_db("locked");
    add_bulk(&db, 80_000);
    let bucket = locked_bucket("locked").await;
    let dir = tempfile::tempdir().unwrap();
    // Uncompressed: about 8 MB, a multipart upload.
    let extra = "compression = \"none\"\nretention = { keep_last = 1 }";
    let config = config_file(dir.path(), &lock_job(&db, &bucket, extra));
    for _ in 0..2 {
        let (code, _, stderr) = cli(&config, &["backup"]);
        assert_eq!(code, 0, "{stderr}");
    }
    let stored = keys(&bucket).await;
    let data: Vec<&String> = stored.iter().filter(|k| k.ends_with(".sql")).collect();
    assert_eq!(
        data.len(),
        2,
        "the older one is locked, so kept: {stored:?}"
    );
    let now = jiff::Timestamp::now();
    for key in stored.iter() {
        let (mode, until) = lock_of(&bucket, key).await;
        assert_eq!(mode, Some(ObjectLockMode::Governance), "{key}");
        let left = until.expect("a retain-until date").duration_since(now);
        let hours = left.as_secs() / 3600;
        assert!((23..=24).contains(&hours), "{key} locked for {left:?}");
    }

    // keepsake's own keys cannot delete a locked version.
    let versions = versions(&bucket, data[0]).await;
    let refused = s3_client()
        .delete_object()
        .bucket(&bucket)
        .key(data[0])
        .version_id(&versions[0])
        .send()
        .await;
    assert!(refused.is_err(), "a locked version was deleted");

    let (code, stdout, stderr) = cli(&config, &["prune", "--job", "shop", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("locked until"), "{stdout}");
}

#[tokio::test]
async fn once_its_lock_has_passed_retention_deletes_every_version() {
    let db = sample_db("unlocked");
    let bucket = locked_bucket("unlocked").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        &lock_job(&db, &bucket, "retention = { keep_last = 1 }"),
    );
    // Two old backups: one whose lock ends in seconds, one locked a day.
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(4);
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let expiring = "prod/shop/shop-2020-01-01_00-00-00.sql.gz";
    let held = "prod/shop/shop-2020-01-02_00-00-00.sql.gz";
    for (key, until) in [(expiring, soon), (held, later)] {
        put_locked(&bucket, key, b"old dump", until).await;
        put_locked(&bucket, &format!("{key}.manifest.json"), b"{}", until).await;
    }
    // Wait for the known date, with a deadline: the lock must have passed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while jiff::Timestamp::now() <= soon + jiff::SignedDuration::from_secs(1) {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (code, _, stderr) = cli(&config, &["backup"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("retention applied"), "{stderr}");
    assert!(
        versions(&bucket, expiring).await.is_empty(),
        "every version of the expired backup goes"
    );
    assert!(
        versions(&bucket, &format!("{expiring}.manifest.json"))
            .await
            .is_empty(),
        "and of its manifest"
    );
    let stored = keys(&bucket).await;
    assert!(stored.contains(&held.to_string()), "{stored:?}");
    assert!(
        stored.contains(&format!("{held}.manifest.json")),
        "{stored:?}"
    );
}

#[tokio::test]
async fn a_bucket_without_object_lock_is_refused_before_a_dump() {
    let db = sample_db("nolock");
    let bucket = bucket("nolock").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &lock_job(&db, &bucket, ""));
    let (code, _, stderr) = cli(&config, &["backup"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("does not have Object Lock enabled"),
        "{stderr}"
    );
    assert!(keys(&bucket).await.is_empty());
    let (code, _, stderr) = cli(&config, &["check", "--quiet", "--connect"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("storage.s3") && stderr.contains("Object Lock"),
        "{stderr}"
    );
}

#[test]
fn a_lock_mode_must_be_governance_or_compliance() {
    let dir = tempfile::tempdir().unwrap();
    let text = toml_job("postgres://db/x", "backups", "").replace(
        "prefix = \"prod\"",
        "prefix = \"prod\"\nobject_lock = { mode = \"forever\", days = 0 }",
    );
    let config = config_file(dir.path(), &text);
    let (code, _, stderr) = cli(&config, &["check"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("(2 problems)"), "{stderr}");
    assert!(stderr.contains("storage.s3.object_lock.mode"), "{stderr}");
    assert!(stderr.contains("storage.s3.object_lock.days"), "{stderr}");
}

// Several threads: the proxy serves while the test waits for keepsake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_could_not_be_locked_fails_the_run_and_stays() {
    use common::proxy::{Fault, Proxy};
    let db = sample_db("notlocked");
    add_bulk(&db, 80_000);
    let bucket = locked_bucket("notlocked").await;
    let proxy = Proxy::start().await;
    // PutObjectRetention: the lock set on a completed multipart upload.
    proxy.inject(
        "PUT",
        "retention",
        usize::MAX,
        Fault::Status(403, "AccessDenied"),
    );
    let dir = tempfile::tempdir().unwrap();
    let text = lock_job(&db, &bucket, "compression = \"none\"").replace(&s3_url(), &proxy.url);
    let config = config_file(dir.path(), &text);
    let (code, _, stderr) = cli(&config, &["backup"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("could not be locked"), "{stderr}");
    assert!(proxy.injected() > 0);
    let stored = keys(&bucket).await;
    assert!(
        stored.iter().any(|k| k.ends_with(".sql"))
            && stored.iter().any(|k| k.ends_with(".sql.manifest.json")),
        "the whole backup stays: {stored:?}"
    );
}
