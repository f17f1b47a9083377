//! `keepsake run` starts, logs its redacted configuration, and stops
//! cleanly (exit 0) on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn run_logs_the_config_and_stops_on_sigterm() {
    let mut cmd = keepsake(None);
    seed_env(
        &mut cmd,
        "postgres://app:Agent-Pw-77@db:5432/shop",
        "backups",
        "nightly",
    );
    cmd.env("BACKUP_RETENTION_DAYS", "7")
        .arg("run")
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log
        .iter()
        .any(|l: &String| l.contains("keepsake agent started"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => panic!("the agent did not start:\n{}", log.join("\n")),
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        log.push(line);
    }
    let log = log.join("\n");
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("job configured") && log.contains("storage configured"),
        "{log}"
    );
    assert!(log.contains("postgres://app:***@db:5432/shop"), "{log}");
    assert!(
        log.contains("retention rules are validated but not applied"),
        "{log}"
    );
    assert!(log.contains("stopping"), "{log}");
    for secret in ["Agent-Pw-77", S3_SECRET] {
        assert!(!log.contains(secret), "{secret} logged:\n{log}");
    }
}
