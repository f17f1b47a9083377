//! What a killed keepsake leaves behind is cleaned up: an open multipart
//! upload (S3), a temp file (local) and a manifest whose backup never
//! landed are removed when the agent starts, once older than
//! `abandoned_upload_after`; other jobs' and foreign keys are untouched.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::agent::Agent;
use common::*;

/// A job writing to S3 and to `root`, with the config's extra lines.
fn config(dir: &Path, db: &str, bucket: &str, root: &Path) -> std::path::PathBuf {
    let text = s3_storage_toml("s3", bucket, &s3_url())
        + &format!(
            r#"
[agent]
abandoned_upload_after = "1s"

[storage.disk]
type = "local"
path = "{root}"

[jobs.shop]
database = "{db_url}"
storage = ["s3", "disk"]
compression = "none"
schedule = "0 3 * * *"
"#,
            root = root.display(),
            db_url = db_url(db),
        );
    let path = dir.join("keepsake.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn temp_files(root: &Path) -> Vec<String> {
    let dir = root.join("shop");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".partial-"))
        .collect()
}

#[tokio::test]
async fn a_killed_backup_leaves_nothing_once_the_agent_starts() {
    let db = create_db("leftover");
    add_bulk(&db, 200_000);
    let bucket = bucket("leftover").await;
    let root = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &db, &bucket, root.path());
    // pg_dump writes more than one part, then hangs until told to stop.
    let stop = dir.path().join("stop");
    let body = format!(
        "case \"$1\" in --version) exec {real} \"$@\";; esac\n\
         {real} \"$@\" | head -c 8000000\n\
         for i in $(seq 1200); do [ -e {stop} ] && exit 1; sleep 0.05; done\n\
         exit 1",
        real = real_pg_dump(),
        stop = stop.display(),
    );
    script(dir.path(), "pg_dump", &body);
    let mut cmd = keepsake(Some(dir.path()));
    cmd.arg("-c")
        .arg(&config)
        .arg("backup")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while open_uploads(&bucket).await == 0 || temp_files(root.path()).is_empty() {
        assert!(Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::write(&stop, "").unwrap();
    assert_eq!(open_uploads(&bucket).await, 1);
    assert_eq!(temp_files(root.path()).len(), 1);
    // And a manifest whose backup never landed, and what is not ours.
    let orphan = "prod/shop/shop-2026-01-01_03-00-00.sql.manifest.json";
    put_object(&bucket, orphan, b"{}".to_vec()).await;
    let foreign = [
        "prod/other/other-2026-01-01_03-00-00.sql",
        "prod/shop/notes.manifest.json",
    ];
    for key in foreign {
        put_object(&bucket, key, b"not keepsake's".to_vec()).await;
    }

    // The leftovers must be older than the grace of 1 s (whole seconds):
    // the wait is the condition itself.
    std::thread::sleep(Duration::from_millis(2100));
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config);
    let mut agent = Agent::spawn(cmd);
    agent.wait_for("the leftovers to be removed", 30, |a| {
        a.count("removed an upload a stopped run left unfinished") == 2
            && a.count("removed a manifest whose backup is gone") == 1
    });
    assert_eq!(agent.stop(30), Some(0));
    assert_eq!(open_uploads(&bucket).await, 0);
    assert!(temp_files(root.path()).is_empty());
    let left = keys(&bucket).await;
    assert_eq!(left, foreign.map(String::from).to_vec(), "{left:?}");
}
