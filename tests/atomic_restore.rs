//! A restore is all or nothing, whatever ends it: keepsake killed mid-stream
//! (SIGKILL, or SIGTERM which it handles), a download cut off, a backup
//! without a manifest whose dump was cut short before compression, a plain
//! dump that would commit on its own. In every case the target keeps
//! exactly what it held.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::proxy::{Fault, Proxy};
use common::*;

/// A database whose contents a failed restore must leave alone.
fn precious_target(prefix: &str) -> (String, String) {
    let name = create_db(prefix);
    psql(
        &name,
        "CREATE TABLE precious (id int PRIMARY KEY, note text);
         INSERT INTO precious SELECT g, 'row ' || g FROM generate_series(1, 500) g;",
    );
    let before = fingerprint(&name);
    (name, before)
}

/// `restore --latest --clean` of the job in `config` into `target`.
fn restore_clean(config: &std::path::Path, target: &str) -> (i32, String, String) {
    let mut cmd = keepsake(None);
    cmd.arg("-c")
        .arg(config)
        .args(["restore", "--job", "shop", "--latest", "--clean", "--to"])
        .arg(db_url(target));
    run(cmd)
}

/// Polls `check` until it holds or 30 s passed; whether it held.
fn poll(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Polls `check` until it holds; panics with `what` after 30 s.
fn wait_for(what: &str, check: impl FnMut() -> bool) {
    assert!(poll(check), "timed out waiting for {what}");
}

/// Whether another session holds an exclusive lock in `db`: the restore's
/// transaction has dropped the old objects (uncommitted).
fn restore_has_dropped_objects(db: &str) -> bool {
    psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
             WHERE d.datname = '{db}' AND l.mode = 'AccessExclusiveLock' AND l.granted"
        ),
    ) != "0"
}

fn sessions_on(db: &str) -> u32 {
    psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"),
    )
    .parse()
    .unwrap()
}

/// Backs up a bulky database in `format` and starts `restore --clean` of it
/// into a target with data, through a proxy that passes on only the first
/// MiB of the backup and then stalls; returns once the restore's
/// transaction has dropped the target's objects.
async fn restore_stalled_mid_stream(format: &str) -> (Child, String, String) {
    let db = sample_db(&format!("kill-{format}"));
    add_bulk(&db, 300_000);
    let bucket = bucket("kill").await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("format = \"{format}\"");
    let config = config_file(dir.path(), &toml_job(&db_url(&db), &bucket, &extra));
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");

    let proxy = Proxy::start().await;
    proxy.inject("GET", "/prod/shop/", 1, Fault::Stall(1 << 20));
    let through = toml_job(&db_url(&db), &bucket, &extra).replace(&s3_url(), &proxy.url);
    let config = config_file(dir.path(), &through);
    let (target, before) = precious_target(&format!("kill-target-{format}"));
    let mut cmd = keepsake(None);
    cmd.arg("-c")
        .arg(&config)
        .args(["restore", "--job", "shop", "--latest", "--clean", "--to"])
        .arg(db_url(&target))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let watched = target.clone();
    let dropped =
        tokio::task::spawn_blocking(move || poll(|| restore_has_dropped_objects(&watched)))
            .await
            .unwrap();
    if !dropped {
        kill(&child, "-KILL");
        let out = child.wait_with_output().unwrap();
        panic!(
            "the restore never dropped the target's objects: {}\nrequests: {:?}",
            String::from_utf8_lossy(&out.stderr),
            proxy.requests()
        );
    }
    assert_eq!(proxy.injected(), 1, "the download stalled");
    assert!(
        child.try_wait().unwrap().is_none(),
        "keepsake is still restoring when it is killed"
    );
    std::mem::forget(dir);
    (child, target, before)
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// After keepsake is gone, the restore's session ends and its transaction
/// is rolled back: the target holds what it held.
fn assert_untouched(target: &str, before: &str) {
    wait_for("the restore's session to end", || sessions_on(target) == 0);
    assert_eq!(fingerprint(target), before, "the target changed");
}

async fn sigkill_mid_restore_leaves_the_target_as_it_was(format: &str) {
    let (mut child, target, before) = restore_stalled_mid_stream(format).await;
    kill(&child, "-KILL");
    child.wait().unwrap();
    assert_untouched(&target, &before);
}

#[tokio::test]
async fn sigkill_mid_restore_of_a_plain_dump_leaves_the_target_as_it_was() {
    sigkill_mid_restore_leaves_the_target_as_it_was("plain").await;
}

#[tokio::test]
async fn sigkill_mid_restore_of_an_archive_leaves_the_target_as_it_was() {
    sigkill_mid_restore_leaves_the_target_as_it_was("custom").await;
}

#[tokio::test]
async fn sigterm_mid_restore_stops_the_client_and_fails() {
    let (child, target, before) = restore_stalled_mid_stream("plain").await;
    kill(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("aborting the restore"), "{stderr}");
    assert!(stderr.contains("nothing was restored"), "{stderr}");
    assert_untouched(&target, &before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_off_or_slowed_down_never_half_restores() {
    let db = sample_db("cutoff");
    add_bulk(&db, 100_000);
    let bucket = bucket("cutoff").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &toml_job(&db_url(&db), &bucket, ""));
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let proxy = Proxy::start().await;
    // Every download of the backup stops after 256 KiB.
    proxy.inject(
        "GET",
        "/prod/shop/",
        usize::MAX,
        Fault::Truncate(256 * 1024),
    );
    let through = toml_job(&db_url(&db), &bucket, "").replace(&s3_url(), &proxy.url);
    let config = config_file(dir.path(), &through);
    let (target, before) = precious_target("cutoff-target");
    let (code, _, stderr) = restore_clean(&config, &target);
    assert_eq!(code, 4, "{stderr}");
    assert!(proxy.injected() >= 1);
    assert_untouched(&target, &before);

    // Slowed down instead, it completes.
    let proxy = Proxy::start().await;
    proxy.inject(
        "GET",
        "/prod/shop/",
        2,
        Fault::Delay(std::time::Duration::from_secs(2)),
    );
    let through = toml_job(&db_url(&db), &bucket, "").replace(&s3_url(), &proxy.url);
    let config = config_file(dir.path(), &through);
    let (code, _, stderr) = restore_clean(&config, &target);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(proxy.injected(), 2);
    assert_eq!(fingerprint(&target), fingerprint(&db));
}

/// SIGTERM after the whole backup reached the client, while the client
/// still works through it (blocked here by a lock another session holds on
/// the target): the client is stopped before it can commit.
async fn sigterm_after_the_last_byte_rolls_back(format: &str) {
    // Small (the whole dump fits in the pipe to the client), and holding a
    // table the restore must drop first.
    let db = create_db(&format!("late-{format}"));
    psql(
        &db,
        "CREATE TABLE precious (id int PRIMARY KEY, note text);
         INSERT INTO precious VALUES (1, 'from the backup');",
    );
    let bucket = bucket("late").await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("format = \"{format}\"");
    let config = config_file(dir.path(), &toml_job(&db_url(&db), &bucket, &extra));
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let (target, before) = precious_target(&format!("late-target-{format}"));
    // Another session holds a lock that --clean must wait for.
    let app = unique("locker");
    let mut locker = pg_client("psql", &target)
        .env("PGAPPNAME", &app)
        .arg("-X")
        .args([
            "-c",
            "BEGIN; LOCK TABLE precious IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the lock", || {
        psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' AND wait_event = 'PgSleep'"
            ),
        ) == "1"
    });
    let mut cmd = keepsake(None);
    cmd.arg("-c")
        .arg(&config)
        .args(["restore", "--job", "shop", "--latest", "--clean", "--to"])
        .arg(db_url(&target))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = String::new();
    let sent = poll(|| {
        while let Ok(line) = lines.try_recv() {
            log.push_str(&line);
            log.push('\n');
        }
        log.contains("is sent; waiting for")
    });
    assert!(sent, "the restore never sent the whole backup:\n{log}");
    kill(&child, "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4), "{log}");
    psql(
        "postgres",
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'"
        ),
    );
    locker.wait().unwrap();
    assert_untouched(&target, &before);
}

#[tokio::test]
async fn sigterm_after_the_last_byte_of_a_plain_dump_rolls_back() {
    sigterm_after_the_last_byte_rolls_back("plain").await;
}

#[tokio::test]
async fn sigterm_after_the_last_byte_of_an_archive_rolls_back() {
    sigterm_after_the_last_byte_rolls_back("custom").await;
}

/// A plain dump of `db`, as pg_dump wrote it.
fn plain_dump(db: &str) -> String {
    let out = Command::new(real_pg_dump())
        .args(["--dbname", &db_url(db)])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn a_dump_cut_short_before_compression_is_refused_without_a_manifest() {
    let db = sample_db("cut");
    add_bulk(&db, 20_000);
    let dump = plain_dump(&db);
    let cut = dump[..dump.len() / 2].rfind('\n').unwrap() + 1;
    let bucket = bucket("cut").await;
    // The replaced tool's name, which never had a manifest.
    let key = "old/postgres-backup-2026-01-01_03-00-00.sql.gz";
    put_object(&bucket, key, gzip(&dump.as_bytes()[..cut])).await;
    let (target, before) = precious_target("cut-target");

    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), &bucket, "old");
    cmd.args(["restore", "--job", "default", "--latest", "--clean", "--to"])
        .arg(db_url(&target));
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("completion marker"), "{stderr}");
    assert!(stderr.contains(key), "{stderr}");
    assert_untouched(&target, &before);

    // The whole dump, under a newer name, restores.
    let whole = "old/postgres-backup-2026-01-02_03-00-00.sql.gz";
    put_object(&bucket, whole, gzip(dump.as_bytes())).await;
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), &bucket, "old");
    cmd.args(["restore", "--job", "default", "--latest", "--clean", "--to"])
        .arg(db_url(&target));
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(whole), "{stdout}");
    assert_eq!(fingerprint(&target), fingerprint(&db));
}

#[tokio::test]
async fn a_plain_dump_that_commits_on_its_own_is_refused_and_rolled_back() {
    let db = sample_db("lobs");
    psql(&db, "SELECT lo_from_bytea(0, '\\xdeadbeef'::bytea);");
    let bucket = bucket("lobs").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        &toml_job(&db_url(&db), &bucket, "format = \"plain\""),
    );
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let (target, before) = precious_target("lobs-target");
    let (code, _, stderr) = restore_clean(&config, &target);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("commits on its own"), "{stderr}");
    assert_untouched(&target, &before);
    let objects = psql(&target, "SELECT count(*) FROM pg_largeobject_metadata");
    assert_eq!(objects, "0");
}
