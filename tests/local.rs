//! The local directory destination, and the rule that no backup is ever
//! overwritten, driven through the library with a fixed clock.

mod common;

use std::sync::Arc;

use common::*;
use keepsake::config::{self, EnvVars};
use keepsake::destination::Store;
use keepsake::job::{self, Target};
use tokio_util::sync::CancellationToken;

fn load(toml: &str) -> config::Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepsake.toml");
    std::fs::write(&path, toml).unwrap();
    config::load(Some(&path), &EnvVars::new()).unwrap()
}

async fn targets(config: &config::Config) -> Vec<Target> {
    let job = &config.jobs[0];
    let mut out = Vec::new();
    for name in &job.storage {
        out.push(Target {
            name: name.clone(),
            store: Arc::new(Store::open(&config.storage[name]).await),
        });
    }
    out
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        out.push(entry.strip_prefix(dir).unwrap().display().to_string());
    }
    out.sort();
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn local_backups_restore_and_never_overwrite_each_other() {
    let db = sample_db("local");
    let root = tempfile::tempdir().unwrap();
    let config = load(&format!(
        r#"
[storage.disk]
type = "local"
path = "{}"
prefix = "pg"

[jobs.shop]
database = "{}"
format = "custom"
compression = "zstd"
"#,
        root.path().display(),
        db_url(&db)
    ));
    let targets = targets(&config).await;
    let now: jiff::Timestamp = "2026-11-28T03:00:00.250Z".parse().unwrap();
    let first = job::run_once(&config.jobs[0], &targets, now, &CancellationToken::new())
        .await
        .unwrap();
    let second = job::run_once(&config.jobs[0], &targets, now, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        first.stored[0].key,
        "pg/shop/shop-2026-11-28_03-00-00.dump.zst"
    );
    assert_eq!(
        second.stored[0].key,
        "pg/shop/shop-2026-11-28_03-00-00-1.dump.zst"
    );
    assert_eq!(
        files_under(root.path()),
        [
            "pg/shop/shop-2026-11-28_03-00-00-1.dump.zst",
            "pg/shop/shop-2026-11-28_03-00-00-1.dump.zst.manifest.json",
            "pg/shop/shop-2026-11-28_03-00-00.dump.zst",
            "pg/shop/shop-2026-11-28_03-00-00.dump.zst.manifest.json",
        ],
        "no temp files may remain"
    );
    let data = std::fs::read(root.path().join(&first.stored[0].key)).unwrap();
    assert_eq!(data.len() as u64, first.summary.stored_bytes);
    let restored = restore(&first.stored[0].key, &data);
    assert_eq!(fingerprint(&restored), fingerprint(&db));
}

#[tokio::test]
async fn a_failed_local_backup_leaves_no_file() {
    let root = tempfile::tempdir().unwrap();
    let config = load(&format!(
        r#"
[storage.disk]
type = "local"
path = "{}"

[jobs.gone]
database = "{}"
"#,
        root.path().display(),
        db_url("database_that_does_not_exist")
    ));
    let targets = targets(&config).await;
    let err = job::run_once(
        &config.jobs[0],
        &targets,
        jiff::Timestamp::now(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(files_under(root.path()), Vec::<String>::new());
}

#[tokio::test]
async fn one_dump_fans_out_to_s3_and_a_directory() {
    let db = sample_db("fanout");
    let bucket = bucket("fanout").await;
    let root = tempfile::tempdir().unwrap();
    let config = load(&format!(
        r#"
[storage.disk]
type = "local"
path = "{root}"

[storage.s3]
type = "s3"
bucket = "{bucket}"
endpoint = "{endpoint}"
access_key_id = "{S3_KEY}"
secret_access_key = "{S3_SECRET}"

[jobs.shop]
database = "{url}"
storage = ["disk", "s3"]
"#,
        root = root.path().display(),
        endpoint = s3_url(),
        url = db_url(&db)
    ));
    let targets = targets(&config).await;
    let outcome = job::run_once(
        &config.jobs[0],
        &targets,
        jiff::Timestamp::now(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(outcome.stored.len(), 2);
    let on_disk = std::fs::read(root.path().join(&outcome.stored[0].key)).unwrap();
    let in_s3 = get(&bucket, &outcome.stored[1].key).await;
    assert_eq!(on_disk, in_s3, "both destinations hold the same bytes");
}
