//! `keepsake backup` and `restore` run by a person in a terminal show a
//! live progress line (bytes read and stored, rate, time); without a
//! terminal they do not, and the log lines are there either way.

mod common;

use common::*;

/// Runs `command` (a shell line) in a pseudo-terminal: its exit code and
/// everything it drew.
fn in_terminal(command: &str) -> (i32, String) {
    let mut cmd = std::process::Command::new("script");
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", "/nonexistent")
        .env("TERM", "xterm")
        .args(["--quiet", "--return", "--command", command, "/dev/null"]);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn a_terminal_gets_a_live_line_a_pipe_gets_none() {
    let db = sample_db("live");
    add_bulk(&db, 20_000);
    let bucket = bucket("live").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &toml_job(&db_url(&db), &bucket, ""));
    let bin = env!("CARGO_BIN_EXE_keepsake");

    let (code, drawn) = in_terminal(&format!("{bin} -c {} backup", config.display()));
    assert_eq!(code, 0, "{drawn}");
    assert!(
        drawn.contains("backup prod/shop/"),
        "the line names the key:\n{drawn}"
    );
    assert!(
        drawn.contains(" read, ") && drawn.contains(" stored, "),
        "{drawn}"
    );
    assert!(
        drawn.contains("backup finished"),
        "logs still show:\n{drawn}"
    );

    let target = create_db("live_to");
    let restore = format!(
        "{bin} -c {} restore --job shop --latest --clean --to {}",
        config.display(),
        db_url(&target)
    );
    let (code, drawn) = in_terminal(&restore);
    assert_eq!(code, 0, "{drawn}");
    assert!(
        drawn.contains("restore prod/shop/") && drawn.contains(" read, "),
        "{drawn}"
    );
    assert_eq!(fingerprint(&target), fingerprint(&db));

    // Through a pipe: log lines only.
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("backup finished"), "{stderr}");
    assert!(!stderr.contains(" stored, "), "{stderr}");
}
