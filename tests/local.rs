//! The local directory destination, and the rule that no backup is ever
//! overwritten, driven through the library with a fixed clock.

mod common;

use common::*;
use keepsake::backup;
use keepsake::config::{self, EnvVars};
use keepsake::storage::{self, NamedStorage};
use tokio_util::sync::CancellationToken;

fn load(toml: &str) -> config::Config {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), toml);
    config::load(Some(&path), &EnvVars::new()).unwrap()
}

async fn storages(config: &config::Config) -> Vec<NamedStorage> {
    let job = &config.jobs[0];
    let opened = storage::for_jobs(config, &[job]).await;
    storage::of_job(job, &opened)
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
    let storages = storages(&config).await;
    let now: jiff::Timestamp = "2026-11-28T03:00:00.250Z".parse().unwrap();
    let first = backup::back_up(&config.jobs[0], &storages, now, &CancellationToken::new())
        .await
        .unwrap();
    let second = backup::back_up(&config.jobs[0], &storages, now, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        first.copies[0].backup.key,
        "pg/shop/shop-2026-11-28_03-00-00.dump.zst"
    );
    assert_eq!(
        second.copies[0].backup.key,
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
    let data = std::fs::read(root.path().join(&first.copies[0].backup.key)).unwrap();
    assert_eq!(data.len() as u64, first.summary.stored_bytes);
    let restored = restore(&first.copies[0].backup.key, &data);
    assert_eq!(fingerprint(&restored), fingerprint(&db));
}

/// pg_dump writes part of a dump, waits until keepsake has its temp file
/// open, then fails: neither the temp file nor a backup may remain.
#[test]
fn a_dump_failing_mid_stream_leaves_no_file() {
    let db = create_db("localfail");
    add_bulk(&db, 20_000);
    let root = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let seen = bin.path().join("seen-partial");
    let body = format!(
        "case \"$1\" in --version) exec {real} \"$@\";; esac\n\
         {real} \"$@\" | head -c 1000000\n\
         for i in $(seq 200); do\n\
           if find {root} -name '.*partial*' | grep -q .; then touch {seen}; break; fi\n\
           sleep 0.05\n\
         done\n\
         echo 'pg_dump: error: simulated failure mid-stream' >&2\n\
         exit 1",
        real = real_pg_dump(),
        root = root.path().display(),
        seen = seen.display(),
    );
    script(bin.path(), "pg_dump", &body);
    let config = config_file(
        bin.path(),
        &format!(
            "[storage.disk]\ntype = \"local\"\npath = \"{}\"\n\
             [jobs.shop]\ndatabase = \"{}\"\ncompression = \"none\"\n",
            root.path().display(),
            db_url(&db)
        ),
    );
    let mut cmd = keepsake(Some(bin.path()));
    cmd.args(["--config", config.to_str().unwrap(), "backup"]);
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("simulated failure mid-stream"), "{stderr}");
    assert!(
        seen.exists(),
        "the temp file must have existed while pg_dump ran:\n{stderr}"
    );
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
    let storages = storages(&config).await;
    let outcome = backup::back_up(
        &config.jobs[0],
        &storages,
        jiff::Timestamp::now(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(outcome.copies.len(), 2);
    let on_disk = std::fs::read(root.path().join(&outcome.copies[0].backup.key)).unwrap();
    let in_s3 = get(&bucket, &outcome.copies[1].backup.key).await;
    assert_eq!(on_disk, in_s3, "both destinations hold the same bytes");
}

/// Backups hold every row: files 0600 and new directories 0700, even
/// under a umask that lets everyone read (000).
#[test]
fn local_backups_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let db = sample_db("modes");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    let config = config_file(
        dir.path(),
        &format!(
            "[storage.disk]\ntype = \"local\"\npath = \"{}\"\nprefix = \"nightly\"\n\
             [jobs.shop]\ndatabase = \"{}\"\n",
            root.display(),
            db_url(&db)
        ),
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .args(["-c", "umask 000 && exec \"$0\" -c \"$1\" backup"])
        .arg(env!("CARGO_BIN_EXE_keepsake"))
        .arg(&config);
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let files = walk(&root);
    assert_eq!(files.len(), 2, "backup and manifest: {files:?}");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    for d in [
        root.clone(),
        root.join("nightly"),
        root.join("nightly/shop"),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
}
