//! Where keys go, across jobs and storages: the same place spelled two
//! ways is one place, and keys must fit the storage.

use super::*;

fn s3_at(endpoint: Option<&str>, bucket: &str, prefix: &str) -> RawStorage {
    RawStorage::S3(RawS3 {
        endpoint: endpoint.map(str::to_string),
        prefix: Some(prefix.to_string()),
        ..s3(bucket)
    })
}

fn local_at(path: &str, prefix: Option<&str>) -> RawStorage {
    RawStorage::Local(RawLocal {
        path: Some(PathBuf::from(path)),
        prefix: prefix.map(str::to_string),
    })
}

fn job_on(storage: &[&str], naming: Naming) -> RawJob {
    RawJob {
        storage: Some(storage.iter().map(|s| s.to_string()).collect()),
        naming: Some(naming),
        ..raw_job()
    }
}

/// Two legacy jobs `a` on storage `x` and `b` on storage `y`.
fn two_legacy_jobs(x: RawStorage, y: RawStorage) -> Problems {
    problems(sections(
        vec![("x", x), ("y", y)],
        vec![
            ("a", job_on(&["x"], Naming::Legacy)),
            ("b", job_on(&["y"], Naming::Legacy)),
        ],
    ))
}

#[test]
fn one_place_spelled_two_ways_is_one_place() {
    let clash = want(&[("jobs.b.naming", Invalid)]);
    let minio = Some("http://minio:9000");
    for (x, y) in [
        (s3_at(minio, "bkt", "p"), s3_at(minio, "bkt", "/p/")),
        (s3_at(minio, "bkt", "p"), s3_at(minio, "bkt", "p//")),
        (
            s3_at(Some("http://H:9000"), "bkt", "p"),
            s3_at(Some("http://h:9000/"), "bkt", "p"),
        ),
        (
            s3_at(Some("https://s3.example.com"), "bkt", ""),
            s3_at(Some("https://S3.example.com:443/"), "bkt", "/"),
        ),
        (s3_at(None, "bkt", "p"), s3_at(None, "bkt", "/p")),
        (local_at("/var/b", Some("p")), local_at("/var/b/p/", None)),
        (
            local_at("/var/./b//", None),
            local_at("/var/x/../b", Some("/")),
        ),
    ] {
        assert_eq!(two_legacy_jobs(x, y), clash);
    }
}

#[test]
fn different_places_are_different() {
    let minio = Some("http://minio:9000");
    for (x, y) in [
        (s3_at(minio, "bkt", "p"), s3_at(minio, "bkt", "q")),
        (s3_at(minio, "bkt", "p"), s3_at(minio, "bkt", "p/q")),
        (s3_at(minio, "bkt", "p"), s3_at(minio, "other", "p")),
        (
            s3_at(minio, "bkt", "p"),
            s3_at(Some("http://minio:9001"), "bkt", "p"),
        ),
        (
            s3_at(minio, "bkt", "p"),
            s3_at(Some("https://minio:9000"), "bkt", "p"),
        ),
        (s3_at(minio, "bkt", "p"), s3_at(None, "bkt", "p")),
        (local_at("/var/b", Some("p")), local_at("/var/b", Some("q"))),
        (local_at("/var/b", None), s3_at(None, "bkt", "")),
    ] {
        assert_eq!(two_legacy_jobs(x, y), want(&[]));
    }
}

#[test]
fn jobs_named_apart_may_share_a_place() {
    let raw = sections(
        vec![
            ("x", s3_at(None, "bkt", "p")),
            ("y", s3_at(None, "bkt", "/p/")),
        ],
        vec![
            ("a", job_on(&["x"], Naming::Job)),
            ("b", job_on(&["y"], Naming::Job)),
            ("c", job_on(&["y"], Naming::Legacy)),
        ],
    );
    assert!(problems(raw).is_empty());
}

#[test]
fn a_job_whose_name_is_the_legacy_stem_clashes_with_legacy_naming() {
    // prefix/postgres-backup/postgres-backup-TIME.sql.gz, both ways.
    let raw = sections(
        vec![
            ("x", s3_at(None, "bkt", "p")),
            ("y", s3_at(None, "bkt", "p/postgres-backup")),
        ],
        vec![
            ("postgres-backup", job_on(&["x"], Naming::Job)),
            ("z", job_on(&["y"], Naming::Legacy)),
        ],
    );
    assert_eq!(problems(raw), want(&[("jobs.z.storage", Invalid)]));
}

#[test]
fn one_job_may_not_write_one_place_twice() {
    let raw = sections(
        vec![
            ("x", local_at("/var/b", Some("p"))),
            ("y", local_at("/var/b/p", None)),
        ],
        vec![("a", job_on(&["x", "y"], Naming::Job))],
    );
    let errors = validate_with(raw, no_origin).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, "jobs.a.storage");
    assert!(errors[0].message.contains("same place"), "{errors:#?}");
    let raw = sections(
        vec![("x", local_at("/var/b", None))],
        vec![("a", job_on(&["x", "x"], Naming::Job))],
    );
    assert_eq!(problems(raw), want(&[("jobs.a.storage", Invalid)]));
}

#[test]
fn a_clash_is_found_even_when_a_job_has_other_problems() {
    let mut bad = job_on(&["x"], Naming::Legacy);
    bad.compression_level = Some(99);
    let raw = sections(
        vec![("x", local_at("/var/b", None))],
        vec![("a", job_on(&["x"], Naming::Legacy)), ("b", bad)],
    );
    assert_eq!(
        problems(raw),
        want(&[
            ("jobs.b.compression_level", Invalid),
            ("jobs.b.naming", Invalid)
        ])
    );
}

/// The longest file local storage writes for job `name`: the manifest of
/// the highest sequence number, under its temporary name.
fn longest_local_file(name: &str) -> String {
    format!(
        ".{name}-2026-11-28_03-00-00-{}.sql.gz.manifest.json.partial-{}-{}",
        u32::MAX,
        u32::MAX,
        u64::MAX
    )
}

#[test]
fn job_names_must_fit_a_local_file_name() {
    let fits = (1..300)
        .take_while(|n| longest_local_file(&"j".repeat(*n)).len() <= 255)
        .last()
        .unwrap();
    let job = |n: usize| {
        let name = "j".repeat(n);
        sections(
            vec![("disk", local_at("/var/b", Some("prefix")))],
            vec![(name.as_str(), raw_job())],
        )
    };
    assert!(problems(job(fits)).is_empty(), "{fits} bytes fit");
    let errors = validate_with(job(fits + 1), no_origin).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, format!("jobs.{}", "j".repeat(fits + 1)));
    assert!(
        errors[0].message.contains("256 bytes") && errors[0].message.contains("by 1 bytes"),
        "{errors:#?}"
    );
}

#[test]
fn keys_must_fit_s3() {
    // 1024 bytes: prefix, '/', job, '/', job, '-', time, seq, ext, manifest.
    let name = "shop";
    let rest = format!(
        "/{name}/{name}-2026-11-28_03-00-00-{}.sql.gz.manifest.json",
        u32::MAX
    )
    .len();
    let job = |prefix_len: usize| {
        let prefix = "é".repeat(prefix_len / 2) + &"p".repeat(prefix_len % 2);
        sections(
            vec![("s3", s3_at(None, "bkt", &prefix))],
            vec![(name, raw_job())],
        )
    };
    assert!(problems(job(1024 - rest)).is_empty());
    let errors = validate_with(job(1024 - rest + 1), no_origin).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, "jobs.shop");
    assert!(
        errors[0].message.contains("1025 bytes") && errors[0].message.contains("1024"),
        "{errors:#?}"
    );
    // Legacy names hold no job name: the prefix is what to shorten.
    let legacy = sections(
        vec![("s3", s3_at(None, "bkt", &"p".repeat(1010)))],
        vec![(name, job_on(&["s3"], Naming::Legacy))],
    );
    let errors = validate_with(legacy, no_origin).unwrap_err();
    assert!(
        errors[0].message.contains("shorten the storage's prefix"),
        "{errors:#?}"
    );
}

#[test]
fn local_paths_must_fit_path_max() {
    let deep = format!("/{}", vec!["d".repeat(250); 16].join("/"));
    let raw = sections(
        vec![("disk", local_at(&deep, None))],
        vec![("a", raw_job())],
    );
    let errors = validate_with(raw, no_origin).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].message.contains("4095"), "{errors:#?}");
}

#[test]
fn no_job_may_keep_its_backups_inside_a_cluster_jobs_folder() {
    use crate::config::raw::Words;
    let cluster = |naming| RawJob {
        databases: Some(Words::One("all".into())),
        ..job_on(&["x"], naming)
    };
    // Legacy: the cluster job's folder is the whole prefix `p`.
    let raw = sections(
        vec![
            ("x", s3_at(None, "bkt", "p")),
            ("y", s3_at(None, "bkt", "p/shop")),
        ],
        vec![
            ("a", cluster(Naming::Legacy)),
            ("b", job_on(&["y"], Naming::Legacy)),
        ],
    );
    assert_eq!(problems(raw), want(&[("jobs.b.storage", Invalid)]));
    // Job naming: `p/a/` is the folder; `p/a/b/` lies inside it.
    let raw = sections(
        vec![
            ("x", s3_at(None, "bkt", "p")),
            ("y", s3_at(None, "bkt", "p/a")),
        ],
        vec![
            ("a", cluster(Naming::Job)),
            ("b", job_on(&["y"], Naming::Job)),
        ],
    );
    assert_eq!(problems(raw), want(&[("jobs.b.storage", Invalid)]));
    // Beside it is fine, and so is the same folder for a job of one database.
    let raw = sections(
        vec![
            ("x", s3_at(None, "bkt", "p")),
            ("y", s3_at(None, "bkt", "q")),
        ],
        vec![
            ("a", cluster(Naming::Legacy)),
            ("b", job_on(&["y"], Naming::Legacy)),
        ],
    );
    assert_eq!(problems(raw), want(&[]));
}
