//! A campaign of backups through a proxy that injects faults at random
//! (500s, 503 SlowDown, resets before and after forwarding, delays), from
//! a fixed seed. Whatever each run reported, afterwards: every run that
//! exited 0 has its backup listed as complete, every complete backup
//! verifies (size and SHA-256 from its manifest), and the newest restores
//! to the same data. No byte of a reported backup is lost. The figures go
//! to stdout (`--nocapture`).

mod common;

use common::proxy::Proxy;
use common::*;

const RUNS: usize = 12;
/// Faults per thousand requests: most runs meet several, some fail.
const PER_MILLE: u64 = 250;

/// The key a successful `keepsake backup` logged.
fn finished_key(stderr: &str) -> Option<String> {
    let line = stderr.lines().find(|l| l.contains("backup finished"))?;
    let key = line.split(" key=").nth(1)?.split_whitespace().next()?;
    Some(key.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reported_backup_is_lost_under_random_faults() {
    let db = sample_db("campaign");
    add_bulk(&db, 150_000);
    let bucket = bucket("campaign").await;
    let proxy = Proxy::start().await;
    proxy.chaos(0x6b65_6570_7361_6b65, PER_MILLE);
    let mut reported = Vec::new();
    let mut failed = 0;
    for _ in 0..RUNS {
        let mut cmd = keepsake(None);
        seed_env(&mut cmd, &db_url(&db), &bucket, "c");
        cmd.env("S3_URL", &proxy.url)
            .env("KEEPSAKE_JOBS__DEFAULT__COMPRESSION", "none")
            .arg("backup");
        let (code, _, stderr) = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
        match code {
            0 => reported.push(finished_key(&stderr).expect("the key is logged")),
            4 => failed += 1,
            other => panic!("exit {other}: {stderr}"),
        }
    }

    // Read back directly, without faults.
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), &bucket, "c");
    cmd.args(["list", "--json"]);
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let complete: Vec<&str> = listed
        .iter()
        .filter(|b| b["state"] == "complete")
        .map(|b| b["key"].as_str().unwrap())
        .collect();
    for key in &reported {
        assert!(complete.contains(&key.as_str()), "{key} lost: {listed:?}");
    }
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), &bucket, "c");
    cmd.args(["verify", "--job", "default", "--all"]);
    let (_, stdout, stderr) = run(cmd);
    let verified = stdout.matches("OK ").count();
    for key in &complete {
        assert!(
            stdout.contains(&format!("OK    {key}")),
            "{key} does not verify:\n{stdout}\n{stderr}"
        );
    }
    let target = create_db("campaign-target");
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), &bucket, "c");
    cmd.args(["restore", "--job", "default", "--latest", "--to"])
        .arg(db_url(&target));
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fingerprint(&target), fingerprint(&db));
    println!(
        "fault campaign: {RUNS} runs, {} requests, {} faults injected; {} reported stored, \
         {failed} reported failed; {} complete backups listed, {verified} verified, {} incomplete \
         objects left (never picked); 0 reported backups lost",
        proxy.requests().len(),
        proxy.injected(),
        reported.len(),
        complete.len(),
        listed.len() - complete.len(),
    );
}
