//! Client-side encryption with age, end to end: a backup encrypted to a
//! public key is stored as `.age`, opened by the `age` CLI by hand,
//! verified without the key (checksum and size, which still catch a
//! changed byte) and with it (content), refused for restore without the
//! key or with the wrong one before the target is touched, and restored
//! with it. The environment-only mode takes `AGE_RECIPIENTS` and
//! `AGE_IDENTITY_FILE`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A new age key pair in `dir` (by `age-keygen`, as an operator makes
/// one): the identity file and the public key.
fn key_pair(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen (Debian package age): run the tests with scripts/test.sh");
    assert!(out.status.success(), "{out:?}");
    let public = Command::new("age-keygen")
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    let public = String::from_utf8(public.stdout).unwrap().trim().to_string();
    assert!(public.starts_with("age1"), "{public}");
    (path, public)
}

fn keepsake_with(config: &Path, args: &[&str], identity: Option<&Path>) -> (i32, String, String) {
    let mut all = args.to_vec();
    if let Some(path) = identity {
        all.extend(["--identity", path.to_str().expect("a UTF-8 path")]);
    }
    cli(config, &all)
}

fn database_exists(db: &str) -> bool {
    psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
    ) == "1"
}

#[tokio::test]
async fn an_encrypted_backup_opens_with_its_identity_only() {
    let db = sample_db("sealed");
    add_bulk(&db, 20_000);
    let bucket = bucket("sealed").await;
    let dir = tempfile::tempdir().unwrap();
    let (identity, public) = key_pair(dir.path(), "key.txt");
    let (stranger, _) = key_pair(dir.path(), "other.txt");
    let config = config_file(
        dir.path(),
        &toml_job(
            &db_url(&db),
            &bucket,
            &format!("encrypt_to = [\"{public}\"]"),
        ),
    );
    let (code, _, stderr) = keepsake_with(&config, &["backup"], None);
    assert_eq!(code, 0, "{stderr}");

    let stored = keys(&bucket).await;
    let key = stored
        .iter()
        .find(|k| k.ends_with(".sql.gz.age"))
        .unwrap_or_else(|| panic!("no .sql.gz.age key in {stored:?}"))
        .clone();
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(&bucket, &format!("{key}.manifest.json")).await).unwrap();
    assert_eq!(manifest["encryption"]["scheme"], "age");
    assert_eq!(manifest["encryption"]["recipients"][0], public.as_str());
    let sealed = get(&bucket, &key).await;
    assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
    assert_eq!(manifest["size"], sealed.len() as u64);

    // By hand, with the age CLI, then gunzip.
    let sealed_file = dir.path().join("backup.sql.gz.age");
    std::fs::write(&sealed_file, &sealed).unwrap();
    let opened = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&identity)
        .arg(&sealed_file)
        .output()
        .unwrap();
    assert!(opened.status.success(), "{opened:?}");
    let dump = String::from_utf8(decompress("x.gz", &opened.stdout)).unwrap();
    assert!(dump.contains("PostgreSQL database dump complete"));
    assert!(dump.contains("CREATE TABLE public.bulk"));

    // Verify: without the key, the stored bytes; with it, the content.
    let (code, stdout, stderr) =
        keepsake_with(&config, &["verify", "--job", "shop", "--latest"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("checksum and size only"), "{stdout}");
    let verify = ["verify", "--job", "shop", "--latest"];
    let (code, stdout, stderr) = keepsake_with(&config, &verify, Some(&identity));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("OK") && !stdout.contains("only"),
        "{stdout}"
    );
    let (code, stdout, _) = keepsake_with(&config, &verify, Some(&stranger));
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("no key in the identity file"), "{stdout}");

    // Restore: refused before anything is created without the right key.
    let target = format!("{db}_back");
    let restore = [
        "restore",
        "--job",
        "shop",
        "--latest",
        "--create",
        "--to",
        &db_url(&target),
    ];
    let (code, _, stderr) = keepsake_with(&config, &restore, None);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("--identity"), "{stderr}");
    let (code, _, stderr) = keepsake_with(&config, &restore, Some(&stranger));
    assert_eq!(code, 4, "{stderr}");
    assert!(!database_exists(&target), "refused before --create");
    let (code, _, stderr) = keepsake_with(&config, &restore, Some(&identity));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fingerprint(&target), fingerprint(&db));

    // One changed byte: verify without the key still catches it.
    let mut altered = sealed.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x01;
    put_object(&bucket, &key, altered).await;
    let (code, stdout, _) = keepsake_with(&config, &["verify", "--job", "shop", "--latest"], None);
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("checksum mismatch"), "{stdout}");
}

#[tokio::test]
async fn an_archive_is_encrypted_from_the_environment_and_verified_after_backup() {
    let db = sample_db("sealedenv");
    let bucket = bucket("sealedenv").await;
    let dir = tempfile::tempdir().unwrap();
    let (identity, public) = key_pair(dir.path(), "key.txt");
    let (_, second) = key_pair(dir.path(), "second.txt");
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), &bucket, "env");
    cmd.env("AGE_RECIPIENTS", format!("{public},{second}"))
        .env("KEEPSAKE_JOBS__DEFAULT__FORMAT", "custom")
        .env("KEEPSAKE_JOBS__DEFAULT__COMPRESSION", "zstd")
        .env("KEEPSAKE_JOBS__DEFAULT__VERIFY_AFTER_BACKUP", "true")
        .arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("content_checked=false"), "{stderr}");
    let stored = keys(&bucket).await;
    assert!(
        stored
            .iter()
            .any(|k| k.starts_with("env/postgres-backup-") && k.ends_with(".dump.zst.age")),
        "{stored:?}"
    );

    let target = format!("{db}_back");
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(&db), &bucket, "env");
    cmd.env("AGE_IDENTITY_FILE", &identity).args([
        "restore",
        "--job",
        "default",
        "--latest",
        "--create",
        "--to",
        &db_url(&target),
    ]);
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fingerprint(&target), fingerprint(&db));
}
