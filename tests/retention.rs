//! Retention only ever touches backups its own job wrote under its own
//! prefix, never the newest good one, and never after a failed backup.
//! Listing is paginated, so it sees past 1,000 objects.

mod common;

use common::*;

async fn put_all(bucket: &str, keys: &[&str]) {
    put_many(
        bucket,
        keys.iter().map(|k| k.to_string()).collect(),
        b"not a real dump",
    )
    .await;
}

const FOREIGN: &[&str] = &[
    "shared/notes.txt",
    "shared/postgres-backup-latest.sql.gz",
    "shared/postgres-backup-2026-01-01_03-00-00.sql.gz.bak",
    "shared/sub/postgres-backup-2026-01-01_03-00-00.sql.gz",
    "shared/other/other-2026-01-01_03-00-00.sql.gz",
    "shared/other/other-2026-01-01_03-00-00.sql.gz.manifest.json",
    "postgres-backup-2026-01-01_03-00-00.sql.gz",
    "sharedx/postgres-backup-2026-01-01_03-00-00.sql.gz",
];

/// The replaced tool's backup (no manifest, no keepsake mark), two of
/// keepsake's, and two objects of keepsake runs whose last answer was lost
/// (no manifest, keepsake's mark, see `LEFTOVERS`): incomplete, never
/// counted.
const OWN_OLD: &[&str] = &[
    "shared/postgres-backup-2026-01-01_03-00-00.sql.gz",
    "shared/postgres-backup-2026-01-02_03-00-00.sql.gz",
    "shared/postgres-backup-2026-01-02_03-00-00.sql.gz.manifest.json",
    "shared/postgres-backup-2026-01-03_03-00-00.sql.gz",
    "shared/postgres-backup-2026-01-03_03-00-00.sql.gz.manifest.json",
];
const LEFTOVERS: &[&str] = &[
    "shared/postgres-backup-2026-01-04_03-00-00.sql.gz",
    "shared/postgres-backup-2026-01-05_03-00-00.sql.gz",
];

fn env_backup(db: &str, bucket: &str, prefix: &str) -> std::process::Command {
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(db), bucket, prefix);
    cmd.env("KEEPSAKE_JOBS__DEFAULT__RETENTION__KEEP_LAST", "2");
    cmd
}

#[tokio::test]
async fn keep_last_deletes_only_this_jobs_old_backups() {
    let db = sample_db("ret");
    let bucket = bucket("ret").await;
    put_all(&bucket, FOREIGN).await;
    put_all(&bucket, OWN_OLD).await;
    for key in LEFTOVERS {
        put_marked(&bucket, key, b"half a run".to_vec()).await;
    }

    // The plan first: nothing is deleted by a dry run.
    let mut cmd = env_backup(&db, &bucket, "shared");
    cmd.args(["prune", "--dry-run"]);
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("would delete shared/postgres-backup-2026-01-01_03-00-00.sql.gz"),
        "{stdout}"
    );
    // Written just now: they may still be finishing; never counted.
    for day in ["04", "05"] {
        let line = format!(
            "KEEP         shared/postgres-backup-2026-01-{day}_03-00-00.sql.gz (incomplete, younger than abandoned_upload_after)"
        );
        assert!(stdout.contains(&line), "{stdout}");
    }
    assert!(stdout.contains("KEEP         shared/postgres-backup-2026-01-03_03-00-00.sql.gz (newest complete backup, keep_last)"), "{stdout}");
    assert!(
        stdout
            .contains("KEEP         shared/postgres-backup-2026-01-02_03-00-00.sql.gz (keep_last)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("notes.txt") && !stdout.contains("other-"),
        "{stdout}"
    );
    assert_eq!(
        keys(&bucket).await.len(),
        FOREIGN.len() + OWN_OLD.len() + LEFTOVERS.len()
    );

    let mut cmd = env_backup(&db, &bucket, "shared");
    cmd.arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    // keep_last counts the new backup and 01-03, and deletes 01-02 and the
    // old tool's 01-01; the two leftovers are not counted.
    assert!(
        stderr.contains("retention applied") && stderr.contains("deleted=2"),
        "{stderr}"
    );

    let after = keys(&bucket).await;
    for key in FOREIGN {
        assert!(
            after.contains(&key.to_string()),
            "foreign {key} was touched: {after:?}"
        );
    }
    let own: Vec<&String> = after
        .iter()
        .filter(|k| k.starts_with("shared/postgres-backup-2") && !FOREIGN.contains(&k.as_str()))
        .collect();
    assert_eq!(
        own.len(),
        6,
        "two backups with their manifests, two leftovers: {own:?}"
    );
    assert!(
        own[0].starts_with("shared/postgres-backup-2026-01-03_03-00-00.sql.gz"),
        "{own:?}"
    );
    for key in OWN_OLD.iter().filter(|k| !k.contains("2026-01-03")) {
        assert!(
            !after.contains(&key.to_string()),
            "{key} remains: {after:?}"
        );
    }
}

#[tokio::test]
async fn an_empty_prefix_never_reaches_beyond_the_jobs_own_names() {
    let db = sample_db("retroot");
    let bucket = bucket("retroot").await;
    let foreign = [
        "important.sql.gz",
        "app/uploads/photo.jpg",
        "postgres-backup-final.sql.gz",
        "nightly/postgres-backup-2026-01-01_03-00-00.sql.gz",
    ];
    put_all(&bucket, &foreign).await;
    put_all(
        &bucket,
        &[
            "postgres-backup-2025-06-01_03-00-00.sql.gz",
            "postgres-backup-2025-06-02_03-00-00.sql.gz",
        ],
    )
    .await;
    let mut cmd = env_backup(&db, &bucket, "");
    cmd.env("KEEPSAKE_JOBS__DEFAULT__RETENTION__KEEP_LAST", "1")
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let after = keys(&bucket).await;
    for key in foreign {
        assert!(
            after.contains(&key.to_string()),
            "{key} was touched: {after:?}"
        );
    }
    assert_eq!(
        after.len(),
        foreign.len() + 2,
        "only the new backup and its manifest remain of ours: {after:?}"
    );
}

#[tokio::test]
async fn a_failed_backup_never_runs_retention() {
    let bucket = bucket("retfail").await;
    put_all(&bucket, OWN_OLD).await;
    let mut cmd = env_backup("no_such_db_for_retention", &bucket, "shared");
    cmd.env("KEEPSAKE_JOBS__DEFAULT__RETENTION__KEEP_LAST", "1")
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 4, "{stderr}");
    assert!(!stderr.contains("retention applied"), "{stderr}");
    assert_eq!(keys(&bucket).await.len(), OWN_OLD.len());
}

#[tokio::test]
async fn listing_is_complete_past_a_thousand_objects() {
    let db = sample_db("retmany");
    let bucket = bucket("retmany").await;
    // 1,100 old backups of this job (one a minute on one day).
    let keys_to_put: Vec<String> = (0..1100)
        .map(|i| {
            format!(
                "many/postgres-backup-2025-01-01_{:02}-{:02}-00.sql.gz",
                i / 60,
                i % 60
            )
        })
        .collect();
    put_many(&bucket, keys_to_put, b"x").await;
    let mut cmd = env_backup(&db, &bucket, "many");
    cmd.env("KEEPSAKE_JOBS__DEFAULT__RETENTION__KEEP_LAST", "1")
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("deleted=1100"), "{stderr}");
    assert_eq!(
        keys(&bucket).await.len(),
        2,
        "the new backup and its manifest"
    );
}
