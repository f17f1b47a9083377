//! Notifications of real runs (`keepsake backup` against PostgreSQL and
//! S3) to a local receiver: healthchecks.io pings (`/start`, success,
//! `/fail` with the error) and webhook documents; a receiver that fails
//! or hangs neither changes a backup's outcome nor holds it up beyond the
//! notification timeout; the URLs' tokens never reach the log.

mod common;

use std::time::{Duration, Instant};

use common::receiver::{Answer, Receiver};
use common::*;

/// A token as monitoring services put in their URLs.
const TOKEN: &str = "tok-5f3a9c1e";

fn backup(config: &std::path::Path) -> (i32, String, String) {
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(config).arg("backup");
    run(cmd)
}

#[tokio::test]
async fn a_success_and_a_failure_are_pinged_and_posted() {
    let db = sample_db("notify");
    let bucket = bucket("notify").await;
    let rx = Receiver::start(Answer::Ok);
    let dir = tempfile::tempdir().unwrap();
    let url = &rx.url;
    let text = format!(
        "[notify]\nwebhook_url = \"{url}/hook/{TOKEN}\"\n{storage}\n\
         [jobs.shop]\ndatabase = \"{good}\"\nhealthcheck_url = \"{url}/hc/shop-{TOKEN}\"\n\
         [jobs.broken]\ndatabase = \"{bad}\"\nhealthcheck_url = \"{url}/hc/broken-{TOKEN}\"\n",
        storage = s3_storage_toml("s3", &bucket, &s3_url()),
        good = db_url(&db),
        bad = db_url("no_such_database_for_notify"),
    );
    let config = config_file(dir.path(), &text);
    let (code, _, stderr) = backup(&config);
    assert_eq!(code, 4, "one job failed:\n{stderr}");
    // Every notification was delivered before the process ended.
    let hits = rx.hits();
    assert_eq!(hits.len(), 6, "{hits:#?}");
    assert!(hits.iter().all(|h| h.method == "POST"), "{hits:#?}");

    let shop = format!("/hc/shop-{TOKEN}");
    let paths: Vec<&str> = hits
        .iter()
        .filter(|h| h.path.starts_with(&shop))
        .map(|h| h.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [format!("{shop}/start"), shop.clone()],
        "start first"
    );
    let done = &rx.to(&shop)[0];
    let key = keys(&bucket)
        .await
        .into_iter()
        .find(|k| k.ends_with(".sql.gz"))
        .unwrap();
    assert!(
        done.body.contains("succeeded") && done.body.contains(&key),
        "{}",
        done.body
    );

    let broken = format!("/hc/broken-{TOKEN}");
    assert_eq!(rx.to(&format!("{broken}/start")).len(), 1);
    let fail = &rx.to(&format!("{broken}/fail"))[0];
    assert!(
        fail.body.contains("no_such_database_for_notify"),
        "{}",
        fail.body
    );

    let posts = rx.to(&format!("/hook/{TOKEN}"));
    assert_eq!(posts.len(), 2);
    let docs: Vec<serde_json::Value> = posts
        .iter()
        .map(|p| serde_json::from_str(&p.body).unwrap())
        .collect();
    let ok = docs.iter().find(|d| d["job"] == "shop").unwrap();
    assert_eq!(ok["status"], "success");
    assert_eq!(ok["event"], "backup");
    assert_eq!(ok["key"], key);
    assert_eq!(ok["size"], get(&bucket, &key).await.len());
    assert!(ok["raw_size"].as_u64().unwrap() > ok["size"].as_u64().unwrap());
    assert!(ok["duration_seconds"].as_f64().unwrap() > 0.0);
    assert!(ok["started"].as_str().unwrap() <= ok["finished"].as_str().unwrap());
    assert_eq!(ok["error"], serde_json::Value::Null);
    let bad = docs.iter().find(|d| d["job"] == "broken").unwrap();
    assert_eq!(bad["status"], "failure");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("no_such_database_for_notify")
    );
    assert!(bad["text"].as_str().unwrap().contains("FAILED"));
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

/// A config whose one job notifies `rx` with a short timeout.
fn hurried(rx: &Receiver, db: &str, bucket: &str, retries: u32) -> String {
    format!(
        "[notify]\ntimeout = \"1s\"\nretries = {retries}\n\
         healthcheck_url = \"{url}/hc/{TOKEN}\"\nwebhook_url = \"{url}/hook/{TOKEN}\"\n{storage}\n\
         [jobs.shop]\ndatabase = \"{db}\"\n",
        url = rx.url,
        storage = s3_storage_toml("s3", bucket, &s3_url()),
        db = db_url(db),
    )
}

#[tokio::test]
async fn a_hanging_receiver_delays_nothing_beyond_its_timeout() {
    let db = sample_db("notifyhang");
    let bucket = bucket("notifyhang").await;
    let rx = Receiver::start(Answer::Hang);
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &hurried(&rx, &db, &bucket, 1));
    let began = Instant::now();
    let (code, _, stderr) = backup(&config);
    let took = began.elapsed();
    assert_eq!(code, 0, "the backup succeeded:\n{stderr}");
    assert_eq!(keys(&bucket).await.len(), 2, "backup and manifest stored");
    // The receiver would hang for an hour: the run ended on the timeouts
    // (start ping, then the end ping and the webhook: 2 attempts of 1s
    // and a 1s pause each), far from it.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(stderr.contains("notification not delivered"), "{stderr}");
    assert!(
        stderr.contains("no answer within 1s") || stderr.contains("timed out"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_and_the_backup_still_counts() {
    let db = sample_db("notify500");
    let bucket = bucket("notify500").await;
    let rx = Receiver::start(Answer::Status(500));
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &hurried(&rx, &db, &bucket, 2));
    let (code, _, stderr) = backup(&config);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(keys(&bucket).await.len(), 2);
    // Three attempts for each of the three notifications.
    assert_eq!(rx.to(&format!("/hc/{TOKEN}/start")).len(), 3);
    assert_eq!(rx.to(&format!("/hc/{TOKEN}")).len(), 3);
    assert_eq!(rx.to(&format!("/hook/{TOKEN}")).len(), 3);
    assert!(stderr.contains("the server answered HTTP 500"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

#[tokio::test]
async fn the_environment_alone_sets_the_ping_and_the_webhook() {
    let db = sample_db("notifyenv");
    let bucket = bucket("notifyenv").await;
    let rx = Receiver::start(Answer::Ok);
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), &bucket, "env");
    cmd.env("HEALTHCHECK_URL", format!("{}/hc/{TOKEN}", rx.url))
        .env("WEBHOOK_URL", format!("{}/hook/{TOKEN}", rx.url))
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rx.to(&format!("/hc/{TOKEN}/start")).len(), 1);
    assert_eq!(rx.to(&format!("/hc/{TOKEN}")).len(), 1);
    let hook = &rx.to(&format!("/hook/{TOKEN}"))[0];
    let doc: serde_json::Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(doc["job"], "default");
    assert_eq!(doc["status"], "success");
    // `check` shows which service, never the token.
    let mut check = keepsake(None);
    seed_env(&mut check, &db_url(&db), &bucket, "env");
    check
        .env("HEALTHCHECK_URL", format!("{}/hc/{TOKEN}", rx.url))
        .arg("check");
    let (code, stdout, _) = run(check);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("healthcheck_url = \"{}/***\"", rx.url)),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));
}
