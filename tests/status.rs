//! `keepsake status`, read from the storages without an agent: exit 0 when
//! every job is fresh, 5 when one is stale or has no backup, 4 when a
//! storage cannot be read; one line per job and storage, or JSON.

mod common;

use common::*;

fn status(config: &std::path::Path, json: bool) -> (i32, String, String) {
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(config).arg("status");
    if json {
        cmd.arg("--json");
    }
    run(cmd)
}

#[tokio::test]
async fn status_exit_codes_for_empty_fresh_and_stale() {
    let db = sample_db("status");
    let bucket = bucket("status").await;
    let dir = tempfile::tempdir().unwrap();
    let text = toml_job(
        &db_url(&db),
        &bucket,
        "schedule = \"0 3 * * *\"\nstale_after = \"26h\"",
    );
    let config = config_file(dir.path(), &text);

    // No backup yet.
    let (code, stdout, stderr) = status(&config, false);
    assert_eq!(code, 5, "{stdout}{stderr}");
    assert!(
        stdout.starts_with(
            "NO BACKUP shop in s3: no complete backup; stale after 1day 2h; next run "
        ),
        "{stdout}"
    );

    // A backup now: fresh.
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = status(&config, true);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["state"], "fresh");
    assert_eq!(rows[0]["stale_after_seconds"], 26 * 3600);
    assert!(rows[0]["age_seconds"].as_i64().unwrap() < 3600, "{stdout}");
    let key = rows[0]["newest_key"].as_str().unwrap().to_string();
    assert_eq!(rows[0]["size"], get(&bucket, &key).await.len());

    // Only an old backup (the new one gone): stale.
    let old = "prod/shop/shop-2026-01-01_03-00-00.sql.gz";
    put_object(&bucket, old, get(&bucket, &key).await).await;
    let manifest = get(&bucket, &format!("{key}.manifest.json")).await;
    put_object(&bucket, &format!("{old}.manifest.json"), manifest).await;
    for k in [key.clone(), format!("{key}.manifest.json")] {
        s3_client()
            .delete_object()
            .bucket(&bucket)
            .key(k)
            .send()
            .await
            .unwrap();
    }
    let (code, stdout, stderr) = status(&config, false);
    assert_eq!(code, 5, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("STALE     shop in s3: newest 2026-01-01T03:00:00Z"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_storage_that_cannot_be_read_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    // A bucket that does not exist.
    let text = toml_job(&db_url("postgres"), &unique("missing"), "");
    let config = config_file(dir.path(), &text);
    let (code, stdout, stderr) = status(&config, false);
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(stdout.starts_with("ERROR     shop in s3"), "{stdout}");
    assert!(stderr.contains("cannot list the backups"), "{stderr}");
}
