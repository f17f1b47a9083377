//! `keepsake run`, the agent, as a real process against real services: jobs
//! on second-level schedules, no overlap, a concurrency limit, reloads in
//! the running process, and a graceful stop that leaves nothing partial.

mod common;

use std::path::Path;

use common::agent::Agent;
use common::*;

/// Writes `text` to `path` the way editors do: a temp file renamed over it.
fn replace_file(path: &Path, text: &str) {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

fn storage_toml(bucket: &str) -> String {
    format!(
        r#"
[storage.s3]
type = "s3"
bucket = "{bucket}"
endpoint = "{}"
access_key_id = "{S3_KEY}"
secret_access_key = "{S3_SECRET}"
"#,
        s3_url()
    )
}

fn job_toml(name: &str, db: &str, schedule: &str, extra: &str) -> String {
    format!(
        "\n[jobs.{name}]\ndatabase = \"{}\"\nschedule = \"{schedule}\"\n{extra}\n",
        db_url(db)
    )
}

async fn backups_of(bucket: &str, job: &str) -> usize {
    keys(bucket)
        .await
        .iter()
        .filter(|k| k.starts_with(&format!("{job}/")) && k.ends_with(".sql.gz"))
        .count()
}

#[test]
fn run_logs_the_config_and_stops_on_sigterm() {
    let mut cmd = keepsake(None);
    seed_env(
        &mut cmd,
        "postgres://app:Agent-Pw-77@db:5432/shop",
        "backups",
        "nightly",
    );
    let mut agent = Agent::spawn(cmd);
    agent.wait_for("the start", 20, |a| a.count("keepsake agent started") == 1);
    assert_eq!(agent.stop(20), Some(0), "{}", agent.text());
    let log = agent.text();
    assert!(
        log.contains("job configured") && log.contains("storage configured"),
        "{log}"
    );
    assert!(log.contains("postgres://app:***@db:5432/shop"), "{log}");
    assert!(
        log.contains("next run scheduled job=default next_run=2"),
        "{log}"
    );
    assert!(log.contains("keepsake agent stopped"), "{log}");
    for secret in ["Agent-Pw-77", S3_SECRET] {
        assert!(!log.contains(secret), "{secret} logged:\n{log}");
    }
}

#[tokio::test]
async fn two_jobs_on_second_schedules_both_back_up() {
    let db = sample_db("twojobs");
    let bucket = bucket("twojobs").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepsake.toml");
    let text = storage_toml(&bucket)
        + "[agent]\nmax_concurrent = 2\n"
        + &job_toml("fast", &db, "* * * * * *", "")
        + &job_toml("slow", &db, "*/2 * * * * *", "timezone = \"Europe/Berlin\"");
    std::fs::write(&config, text).unwrap();
    let started = jiff::Timestamp::now();
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config);
    let mut agent = Agent::spawn(cmd);
    agent.wait_for("two backups of each job", 60, |a| {
        a.count("backup finished job=fast") >= 2 && a.count("backup finished job=slow") >= 2
    });
    assert_eq!(agent.stop(30), Some(0), "{}", agent.text());
    assert!(backups_of(&bucket, "fast").await >= 2);
    assert!(backups_of(&bucket, "slow").await >= 2);
    // Next runs are shown in the job's zone, with the offset in force then
    // (+01:00 in winter, +02:00 in summer). The runs announced lie between
    // the start and a little after now, so a DST switch during the test
    // may show either offset.
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let offset_at = |t: jiff::Timestamp| t.to_zoned(berlin.clone()).strftime("%:z").to_string();
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(1);
    let shown: Vec<String> = [offset_at(started), offset_at(soon)]
        .iter()
        .map(|offset| format!("{offset}[Europe/Berlin]"))
        .collect();
    let announced = agent.log.lock().unwrap().iter().any(|l| {
        l.contains("next run scheduled job=slow next_run=")
            && shown.iter().any(|s| l.contains(s.as_str()))
    });
    assert!(
        announced,
        "no next run of slow shown as {shown:?}:\n{}",
        agent.text()
    );
    assert_eq!(open_uploads(&bucket).await, 0);
}

/// Every pg_dump run is slower than the schedule; with max_concurrent = 1
/// no two runs, of one job or of two, may ever overlap.
#[tokio::test]
async fn runs_never_overlap_and_respect_max_concurrent() {
    let db = sample_db("overlap");
    let bucket = bucket("overlap").await;
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks.log");
    let body = format!(
        "case \"$1\" in --version) exec {real} \"$@\";; esac\n\
         echo start >> '{m}'\n{real} \"$@\"\nrc=$?\nsleep 1.5\necho end >> '{m}'\nexit $rc",
        real = real_pg_dump(),
        m = marks.display()
    );
    script(dir.path(), "pg_dump", &body);
    let config = dir.path().join("keepsake.toml");
    let text = storage_toml(&bucket)
        + "[agent]\nmax_concurrent = 1\n"
        + &job_toml("a", &db, "* * * * * *", "")
        + &job_toml("b", &db, "* * * * * *", "");
    std::fs::write(&config, text).unwrap();
    let mut cmd = keepsake(Some(dir.path()));
    cmd.arg("-c").arg(&config);
    let mut agent = Agent::spawn(cmd);
    agent.wait_for("three finished backups and a skipped run", 60, |a| {
        a.count("backup finished") >= 3 && a.count("this run is skipped") >= 1
    });
    assert!(
        agent.count("waiting for a free backup slot") >= 1,
        "{}",
        agent.text()
    );
    assert_eq!(agent.stop(30), Some(0), "{}", agent.text());
    let marks = std::fs::read_to_string(&marks).unwrap();
    let lines: Vec<&str> = marks.lines().collect();
    for pair in lines.windows(2) {
        assert_ne!(pair[0], pair[1], "two runs overlapped:\n{marks}");
    }
    assert_eq!(lines.first(), Some(&"start"));
}

#[tokio::test]
async fn reloads_add_change_remove_and_survive_a_broken_file() {
    let db = sample_db("reload");
    let bucket = bucket("reload").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepsake.toml");
    let base = storage_toml(&bucket);
    std::fs::write(
        &config,
        base.clone() + &job_toml("a", &db, "* * * * * *", ""),
    )
    .unwrap();
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config);
    let mut agent = Agent::spawn(cmd);
    agent.wait_for("a backup of a", 30, |a| {
        a.count("backup finished job=a") >= 1
    });

    // Add a job, by rename as editors save.
    replace_file(
        &config,
        &(base.clone()
            + &job_toml("a", &db, "* * * * * *", "")
            + &job_toml("b", &db, "* * * * * *", "")),
    );
    agent.wait_for("b added", 30, |a| a.count(r#"added=["b"]"#) == 1);
    agent.wait_for("a backup of b", 30, |a| {
        a.count("backup finished job=b") >= 1
    });

    // Change a's schedule; b is untouched.
    replace_file(
        &config,
        &(base.clone()
            + &job_toml("a", &db, "*/2 * * * * *", "")
            + &job_toml("b", &db, "* * * * * *", "")),
    );
    agent.wait_for("a changed", 30, |a| {
        a.count(r#"changed=["a"] removed=[] unchanged=1"#) == 1
    });

    // Remove b.
    replace_file(
        &config,
        &(base.clone() + &job_toml("a", &db, "*/2 * * * * *", "")),
    );
    agent.wait_for("b removed", 30, |a| a.count(r#"removed=["b"]"#) == 1);
    // A run of b triggered just before the removal may still start (it
    // waits for the one backup slot, first in line): two runs of a later,
    // it has.
    let a_runs = agent.count("backup finished job=a");
    agent.wait_for("two more runs of a", 30, |a| {
        a.count("backup finished job=a") >= a_runs + 2
    });
    let b_runs = agent.count("backup started job=b");

    // A broken file is refused; a keeps running on the old configuration.
    replace_file(&config, &(base.clone() + "[jobs.a\n"));
    agent.wait_for("the broken file refused", 30, |a| {
        a.count("the new configuration is invalid") >= 1
    });
    let a_before = agent.count("backup finished job=a");
    agent.wait_for("a backs up after the broken file", 30, |a| {
        a.count("backup finished job=a") > a_before
    });
    assert!(
        agent
            .text()
            .contains("TOML syntax error at line 8, column 8"),
        "{}",
        agent.text()
    );

    // SIGHUP reloads too (nothing changed: the file is still broken).
    agent.signal("-HUP");
    agent.wait_for("SIGHUP handled", 30, |a| a.count("reason=\"SIGHUP\"") == 1);

    // Every reload happened in the process that was started: it never
    // exited, and the agent started once.
    assert!(
        matches!(agent.child.try_wait(), Ok(None)),
        "the agent exited during the reloads:\n{}",
        agent.text()
    );
    assert_eq!(
        agent.count("keepsake agent started"),
        1,
        "the agent restarted:\n{}",
        agent.text()
    );
    assert_eq!(agent.stop(30), Some(0), "{}", agent.text());
    assert_eq!(
        agent.count("backup started job=b"),
        b_runs,
        "a removed job is no longer scheduled"
    );
}

/// SIGTERM while a large backup streams: after shutdown_timeout it is
/// aborted, and the store holds no object and no open multipart upload.
#[tokio::test]
async fn sigterm_during_a_large_backup_leaves_nothing_behind() {
    let db = create_db("sigterm");
    add_bulk(&db, 250_000);
    let bucket = bucket("sigterm").await;
    let dir = tempfile::tempdir().unwrap();
    // The whole dump is written, then pg_dump hangs before exiting.
    let body = format!(
        "case \"$1\" in --version) exec {real} \"$@\";; esac\n{real} \"$@\"\nexec sleep 60",
        real = real_pg_dump()
    );
    script(dir.path(), "pg_dump", &body);
    let config = dir.path().join("keepsake.toml");
    let text = storage_toml(&bucket)
        + "[log]\nlevel = \"debug\"\n[agent]\nshutdown_timeout = \"1s\"\n"
        + &job_toml(
            "big",
            &db,
            "0 3 1 1 *",
            "compression = \"none\"\nrun_on_start = true",
        );
    std::fs::write(&config, text).unwrap();
    let mut cmd = keepsake(Some(dir.path()));
    cmd.arg("-c").arg(&config);
    let mut agent = Agent::spawn(cmd);
    agent.wait_for("parts uploaded", 60, |a| a.count("part uploaded") >= 2);
    agent.stop_promptly();
    let log = agent.text();
    assert!(log.contains("aborting them"), "{log}");
    assert!(log.contains("multipart upload aborted"), "{log}");
    assert!(log.contains("backup cancelled by shutdown"), "{log}");
    assert_eq!(keys(&bucket).await, Vec::<String>::new());
    assert_eq!(open_uploads(&bucket).await, 0);
}

/// SIGTERM while a new backup is test-restored into a scratch database:
/// shutdown_timeout bounds the verification too; the client is stopped
/// and the scratch database dropped.
#[tokio::test]
async fn sigterm_during_verification_stops_it_and_drops_the_scratch_database() {
    let db = sample_db("verifystop");
    let bucket = bucket("verifystop").await;
    let dir = tempfile::tempdir().unwrap();
    // pg_restore hangs instead of restoring: only cancellation ends it.
    let real = real_pg_dump().replace("pg_dump", "pg_restore");
    let body = format!("case \"$1\" in --version) exec {real} \"$@\";; esac\nexec sleep 120");
    script(dir.path(), "pg_restore", &body);
    let config = dir.path().join("keepsake.toml");
    let text = storage_toml(&bucket)
        + "[agent]\nshutdown_timeout = \"1s\"\n"
        + &job_toml(
            "checked",
            &db,
            "0 3 1 1 *",
            &format!(
                "format = \"custom\"\nrun_on_start = true\nverify_restore_into = \"{}\"",
                db_url("postgres")
            ),
        );
    std::fs::write(&config, text).unwrap();
    let mut cmd = keepsake(Some(dir.path()));
    cmd.arg("-c").arg(&config);
    let mut agent = Agent::spawn(cmd);
    agent.wait_for("the scratch database", 60, |a| {
        a.count("scratch database created") == 1
    });
    let pid = agent.child.id();
    agent.stop_promptly();
    let log = agent.text();
    assert!(log.contains("scratch database dropped"), "{log}");
    let scratch = psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname LIKE 'keepsake_verify_{pid}_%'"),
    );
    assert_eq!(scratch, "0", "{log}");
}

#[tokio::test]
async fn a_failing_job_keeps_its_schedule_and_the_agent_keeps_running() {
    let bucket = bucket("failing").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepsake.toml");
    let text = storage_toml(&bucket)
        + &job_toml("broken", "database_that_is_not_there", "* * * * * *", "");
    std::fs::write(&config, text).unwrap();
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config);
    let mut agent = Agent::spawn(cmd);
    agent.wait_for("three failed runs", 30, |a| {
        a.count("backup failed job=broken") >= 3
    });
    assert!(
        agent.text().contains("does not exist"),
        "the cause is logged:\n{}",
        agent.text()
    );
    assert_eq!(agent.stop(30), Some(0), "{}", agent.text());
    assert_eq!(keys(&bucket).await, Vec::<String>::new());
}

/// Kubernetes mounts a ConfigMap as `keepsake.toml -> ..data/keepsake.toml`
/// and updates it by swapping the `..data` symlink: the file's own name is
/// never touched.
#[tokio::test]
async fn a_configmap_style_symlink_swap_is_noticed() {
    use std::os::unix::fs::symlink;
    let db = sample_db("configmap");
    let bucket = bucket("configmap").await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write_version = |name: &str, text: &str| {
        std::fs::create_dir(root.join(name)).unwrap();
        std::fs::write(root.join(name).join("keepsake.toml"), text).unwrap();
        let link = root.join("..data_tmp");
        symlink(name, &link).unwrap();
        std::fs::rename(&link, root.join("..data")).unwrap();
    };
    let base = storage_toml(&bucket);
    write_version(
        "..v1",
        &(base.clone() + &job_toml("a", &db, "* * * * * *", "")),
    );
    symlink("..data/keepsake.toml", root.join("keepsake.toml")).unwrap();
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(root.join("keepsake.toml"));
    let mut agent = Agent::spawn(cmd);
    agent.wait_for("the start", 30, |a| a.count("keepsake agent started") == 1);
    write_version(
        "..v2",
        &(base + &job_toml("a", &db, "* * * * * *", "") + &job_toml("b", &db, "* * * * * *", "")),
    );
    agent.wait_for("b added", 30, |a| a.count(r#"added=["b"]"#) == 1);
    assert_eq!(agent.stop(30), Some(0), "{}", agent.text());
}

#[tokio::test]
async fn an_agent_with_nothing_scheduled_refuses_to_start() {
    let bucket = bucket("unscheduled").await;
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url("postgres"), &bucket, "u");
    cmd.env_remove("BACKUP_INTERVAL").arg("run");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("no job has a schedule") && stderr.contains("BACKUP_INTERVAL"),
        "{stderr}"
    );
}
