//! The agent's HTTP endpoint after real runs: `/metrics` scraped with a
//! real HTTP client (values checked, `promtool check metrics` accepts
//! them), kept across reloads and recovered from the storage after a
//! restart; `/healthz`; `/readyz` turning 503 when a job's newest backup
//! is older than its `stale_after` and 200 again after a run.

mod common;

use std::time::{Duration, Instant};

use common::agent::Agent;
use common::receiver::{Answer, Receiver, free_port};
use common::*;

/// GET `url`: the status and the body.
async fn get_text(url: &str) -> (u16, String) {
    let answer = reqwest::get(url).await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// The value of the sample `series` (name with labels) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// Scrapes `/metrics` until `series` has `value`, failing after `secs`.
async fn wait_metric(agent: &mut Agent, base: &str, series: &str, value: f64, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(answer) = reqwest::get(format!("{base}/metrics")).await {
            let text = answer.text().await.unwrap();
            if sample(&text, series) == Some(value) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{series} never {value}:\n{text}\n{}",
                agent.text()
            );
        } else {
            assert!(Instant::now() < deadline, "no endpoint:\n{}", agent.text());
        }
        if let Some(status) = agent.child.try_wait().unwrap() {
            panic!("the agent exited ({status}):\n{}", agent.text());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn promtool_accepts(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/test.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn agent_config(port: u16, bucket: &str, jobs: &str, notify: &str) -> String {
    format!(
        "[http]\nlisten = \"127.0.0.1:{port}\"\n{notify}\n{storage}\n{jobs}",
        storage = s3_storage_toml("s3", bucket, &s3_url())
    )
}

#[tokio::test]
async fn metrics_count_real_runs_survive_reloads_and_restarts() {
    let db = sample_db("metrics");
    let bucket = bucket("metrics").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let hook = Receiver::start(Answer::Ok);
    let notify = format!("[notify]\nwebhook_url = \"{}/agent\"\n", hook.url);
    let shop = format!(
        "[jobs.shop]\ndatabase = \"{}\"\nschedule = \"0 3 * * *\"\nrun_on_start = true\n",
        db_url(&db)
    );
    let broken = format!(
        "[jobs.broken]\ndatabase = \"{}\"\nschedule = \"0 4 * * *\"\nrun_on_start = true\n",
        db_url("no_such_database_for_metrics")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepsake.toml");
    std::fs::write(
        &path,
        agent_config(port, &bucket, &format!("{shop}{broken}"), &notify),
    )
    .unwrap();
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&path);
    let mut agent = Agent::spawn(cmd);

    let ok = "keepsake_backup_runs_total{job=\"shop\",result=\"success\"}";
    let failed = "keepsake_backup_runs_total{job=\"broken\",result=\"failure\"}";
    wait_metric(&mut agent, &base, ok, 1.0, 60).await;
    let text = wait_metric(&mut agent, &base, failed, 1.0, 60).await;
    promtool_accepts(&text);

    let key = keys(&bucket)
        .await
        .into_iter()
        .find(|k| k.ends_with(".sql.gz"))
        .unwrap();
    let size = get(&bucket, &key).await.len() as f64;
    let shop_metric = |name: &str| sample(&text, &format!("{name}{{job=\"shop\"}}"));
    let now = jiff::Timestamp::now().as_second() as f64;
    let success = shop_metric("keepsake_backup_last_success_timestamp_seconds").unwrap();
    assert!(
        (now - 120.0..=now + 1.0).contains(&success),
        "{success} vs {now}"
    );
    let attempt = shop_metric("keepsake_backup_last_attempt_timestamp_seconds").unwrap();
    // The last success is when the backup was taken (whole seconds, as in
    // its key): within a second of the run's start.
    assert!(
        (attempt - 1.0..=attempt + 5.0).contains(&success),
        "{success} vs {attempt}"
    );
    assert!(shop_metric("keepsake_backup_last_duration_seconds").unwrap() > 0.0);
    assert_eq!(
        sample(
            &text,
            "keepsake_backup_last_size_bytes{job=\"shop\",storage=\"s3\"}"
        ),
        Some(size)
    );
    assert!(shop_metric("keepsake_backup_last_raw_size_bytes").unwrap() > size);
    assert_eq!(shop_metric("keepsake_backup_in_progress"), Some(0.0));
    assert_eq!(
        sample(
            &text,
            "keepsake_backup_runs_total{job=\"shop\",result=\"failure\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "keepsake_retention_deleted_total{job=\"shop\",storage=\"s3\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "keepsake_build_info{version=\"0.1.0\"}"),
        Some(1.0)
    );
    assert!(
        !text.contains("keepsake_backup_last_success_timestamp_seconds{job=\"broken\"}"),
        "a job that never succeeded has no last success:\n{text}"
    );
    assert!(
        !text.contains(S3_SECRET) && !text.contains(&db),
        "no secret, no connection"
    );
    assert_eq!(
        get_text(&format!("{base}/healthz")).await,
        (200, "ok\n".to_string())
    );

    // A broken file is refused: counted, and notified as the agent's failure.
    std::fs::write(&path, "[jobs.shop\n").unwrap();
    let refused = "keepsake_config_reloads_total{result=\"failure\"}";
    wait_metric(&mut agent, &base, refused, 1.0, 30).await;
    // [notify]'s webhook also got both runs (jobs inherit it).
    let posts = hook.wait_for(3, 30);
    let docs: Vec<serde_json::Value> = posts
        .iter()
        .map(|p| serde_json::from_str(&p.body).unwrap())
        .collect();
    let reload = docs.iter().find(|d| d["event"] == "config_reload").unwrap();
    assert_eq!(reload["status"], "failure");
    assert!(
        reload["error"].as_str().unwrap().contains("keepsake.toml"),
        "{reload}"
    );
    assert_eq!(docs.iter().filter(|d| d["event"] == "backup").count(), 2);

    // Without the broken job: its series go, shop's values stay.
    std::fs::write(&path, agent_config(port, &bucket, &shop, &notify)).unwrap();
    let applied = "keepsake_config_reloads_total{result=\"success\"}";
    let text = wait_metric(&mut agent, &base, applied, 1.0, 30).await;
    assert!(!text.contains("job=\"broken\""), "{text}");
    assert_eq!(sample(&text, ok), Some(1.0));
    assert_eq!(agent.stop(60), Some(0), "{}", agent.text());

    // A restart without a run: the last success comes from the storage.
    let quiet = shop.replace("run_on_start = true", "run_on_start = false");
    std::fs::write(&path, agent_config(port, &bucket, &quiet, "")).unwrap();
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&path);
    let mut agent = Agent::spawn(cmd);
    let series = "keepsake_backup_last_success_timestamp_seconds{job=\"shop\"}";
    let deadline = Instant::now() + Duration::from_secs(30);
    let recovered = loop {
        if let Ok(answer) = reqwest::get(format!("{base}/metrics")).await
            && let Some(v) = sample(&answer.text().await.unwrap(), series)
        {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "not recovered:\n{}",
            agent.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The same time, read from the storage's newest backup.
    assert_eq!(recovered, success);
    assert_eq!(get_text(&format!("{base}/readyz")).await.0, 200);
    agent.stop_promptly();
}

#[tokio::test]
async fn readyz_turns_503_past_stale_after_and_200_after_the_next_run() {
    let db = sample_db("readyz");
    let bucket = bucket("readyz").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // Every minute, stale after 3 s: stale between the runs.
    let job = format!(
        "[jobs.shop]\ndatabase = \"{}\"\nschedule = \"* * * * *\"\nrun_on_start = true\nstale_after = \"3s\"\n",
        db_url(&db)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepsake.toml");
    std::fs::write(&path, agent_config(port, &bucket, &job, "")).unwrap();
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&path);
    let mut agent = Agent::spawn(cmd);

    let ok = "keepsake_backup_runs_total{job=\"shop\",result=\"success\"}";
    wait_metric(&mut agent, &base, ok, 1.0, 60).await;
    let readyz = format!("{base}/readyz");
    let (code, body) = get_text(&readyz).await;
    assert_eq!(code, 200, "{body}");
    let runs_then = sample(&get_text(&format!("{base}/metrics")).await.1, ok).unwrap();

    let deadline = Instant::now() + Duration::from_secs(65);
    let stale = loop {
        let (code, body) = get_text(&readyz).await;
        if code == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "never stale:\n{}", agent.text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let doc: serde_json::Value = serde_json::from_str(&stale).unwrap();
    assert_eq!(doc["ready"], false);
    assert_eq!(doc["stale"][0]["job"], "shop");
    assert_eq!(doc["stale"][0]["state"], "stale");
    assert_eq!(doc["stale"][0]["stale_after_seconds"], 3);
    assert!(
        doc["stale"][0]["age_seconds"].as_i64().unwrap() >= 3,
        "{stale}"
    );
    let text = get_text(&format!("{base}/metrics")).await.1;
    assert_eq!(
        sample(&text, "keepsake_backup_stale{job=\"shop\"}"),
        Some(1.0)
    );

    // The next minute's run makes it ready again.
    wait_metric(&mut agent, &base, ok, runs_then + 1.0, 75).await;
    let (code, body) = get_text(&readyz).await;
    assert_eq!(code, 200, "{body}");
    agent.stop_promptly();
}

/// The example alert rules are valid and fire when they should
/// (`promtool test rules` on tests/prometheus/alerts_test.yml).
#[test]
fn the_example_alert_rules_fire_on_stale_and_failed_backups() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for args in [
        vec!["check", "rules", "config/prometheus-alerts.yml"],
        vec!["test", "rules", "tests/prometheus/alerts_test.yml"],
    ] {
        let out = std::process::Command::new("promtool")
            .args(&args)
            .current_dir(root)
            .output()
            .expect("promtool (Debian package prometheus; scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
