//! Table tests of [`validate`]: raw sections built by hand, a fake file
//! system for secret files, no environment. Each case names the key and kind
//! of every problem it expects; none means the configuration is accepted.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::*;
use crate::config::error::{ConfigError, ConfigErrors, ErrorKind};
use crate::config::model::{CompressionKind, Config, DumpFormat, Naming, StorageConfig};
use crate::config::raw::{RawAgent, RawJob, RawLocal, RawLog, RawRetention, RawS3, RawStorage};

use ErrorKind::{Cron, Invalid, Missing, S3};

// ---------- helpers ----------

const DB: &str = "postgres://backup@db:5432/app";
/// A valid age public key (its private key was thrown away).
const RECIPIENT: &str = "age196a4pcfxumr4gd65dgsksws98ly9ftfx0lv2u5wrfvvkc64tlcxsm2gh93";

/// Secret files of the fake file system; every other path is unreadable.
fn fake_read(path: &Path) -> io::Result<String> {
    match path.to_str() {
        Some("/run/secrets/id") => Ok("AKIDFROMFILE\n".to_string()),
        Some("/run/secrets/key") => Ok("key-from-file\r\n".to_string()),
        Some("/run/secrets/db") => Ok(format!("{DB}\n")),
        Some("/etc/keepsake/recipients.txt") => Ok(format!("# ops\n{RECIPIENT}\n")),
        _ => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "permission denied",
        )),
    }
}

fn no_origin(_key: &str) -> String {
    String::new()
}

fn named_origin(key: &str) -> String {
    format!("origin of {key}")
}

fn validate_with(raw: RawSections, origin: fn(&str) -> String) -> Result<Config, Vec<ConfigError>> {
    let ctx = Context {
        origin: &origin,
        read_file: &fake_read,
        cores: 4,
    };
    validate(raw, &ctx)
}

type Problems = Vec<(String, ErrorKind)>;

/// The config, or the key and kind of every problem, sorted (duplicates
/// kept: two bad arguments are two problems).
fn outcome(raw: RawSections) -> Result<Config, Problems> {
    validate_with(raw, no_origin).map_err(|errors| {
        let mut found: Problems = errors.into_iter().map(|e| (e.key, e.kind)).collect();
        found.sort();
        found
    })
}

/// The problems of `raw`; empty when it is accepted.
fn problems(raw: RawSections) -> Problems {
    outcome(raw).err().unwrap_or_default()
}

fn want(expected: &[(&str, ErrorKind)]) -> Problems {
    let mut want: Problems = expected
        .iter()
        .map(|(key, kind)| (key.to_string(), *kind))
        .collect();
    want.sort();
    want
}

#[track_caller]
fn accepted(raw: RawSections) -> Config {
    validate_with(raw, no_origin).unwrap_or_else(|errors| panic!("refused: {errors:#?}"))
}

fn secret(text: &str) -> Option<SecretString> {
    Some(SecretString::from(text))
}

fn raw_job() -> RawJob {
    RawJob {
        database: secret(DB),
        ..Default::default()
    }
}

fn local(path: &str) -> RawStorage {
    RawStorage::Local(RawLocal {
        path: Some(PathBuf::from(path)),
        ..Default::default()
    })
}

fn s3(bucket: &str) -> RawS3 {
    RawS3 {
        bucket: Some(bucket.to_string()),
        ..Default::default()
    }
}

/// Sections holding `storage` and `jobs`, every one of them declared, as
/// the loader builds them when each section extracted.
fn sections(storage: Vec<(&str, RawStorage)>, jobs: Vec<(&str, RawJob)>) -> RawSections {
    let storage: BTreeMap<String, RawStorage> = storage
        .into_iter()
        .map(|(name, s)| (name.to_string(), s))
        .collect();
    let jobs: BTreeMap<String, RawJob> = jobs
        .into_iter()
        .map(|(name, j)| (name.to_string(), j))
        .collect();
    RawSections {
        log: RawLog::default(),
        agent: RawAgent::default(),
        http: Default::default(),
        notify: Default::default(),
        storage_names: storage.keys().cloned().collect(),
        declared_jobs: jobs.len(),
        storage,
        jobs,
    }
}

/// Job `app` and the one local storage `disk` it uses by default.
fn one_job(job: RawJob) -> RawSections {
    sections(vec![("disk", local("/var/backups"))], vec![("app", job)])
}

/// Job `app` and the one S3 storage `s3` it uses by default.
fn with_s3(s3: RawS3) -> RawSections {
    sections(vec![("s3", RawStorage::S3(s3))], vec![("app", raw_job())])
}

#[track_caller]
fn s3_of<'a>(config: &'a Config, name: &str) -> &'a crate::config::model::S3Config {
    match &config.storage[name] {
        StorageConfig::S3(s3) => s3,
        other => panic!("storage {name} is not S3: {other:?}"),
    }
}

fn args(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|a| a.to_string()).collect())
}

// ---------- jobs: pg_dump arguments ----------

const ARGS: &str = "jobs.app.pg_dump_args";

#[test]
fn reserved_pg_dump_flags_are_refused_in_every_spelling() {
    let refused: &[&[&str]] = &[
        &["-f", "x"],
        &["-fx"],
        &["--file=x"],
        &["--file", "x"],
        &["-Fc"],
        &["-F", "c"],
        &["--format", "custom"],
        &["--format=c"],
        &["-d", "postgres://h/db"],
        &["--dbname=postgres://h/db"],
        &["-Z9"],
        &["-Z", "9"],
        &["--compress", "9"],
        &["--compress=zstd:3"],
        &["-j4"],
        &["-j", "4"],
        &["--jobs", "4"],
        &["--jobs=4"],
        &["-W"],
        &["--password"],
        // getopt_long abbreviations and bundles that a denylist missed
        &["--fil=/tmp/x"],
        &["--form=c"],
        &["-aFc"],
        &["-vf/tmp/x"],
        &["-xZ9"],
        &["--comp", "9"],
        &["-V"],
        &["-c"],
        &["shop"],
        &["--frobnicate"],
    ];
    for list in refused {
        let job = RawJob {
            pg_dump_args: args(list),
            ..raw_job()
        };
        assert_eq!(problems(one_job(job)), want(&[(ARGS, Invalid)]), "{list:?}");
    }
}

#[test]
fn harmless_pg_dump_flags_are_accepted() {
    let harmless: &[&[&str]] = &[
        &["--no-owner"],
        &["-n", "public"],
        &["--schema=app"],
        &["--exclude-table=x"],
        &["--exclude-table", "audit_*"],
        &["--exclude-table-data=audit_log"],
        &["-w"],
        &["-v", "--no-privileges"],
        &["-T", "foo"],
        &["--lock-wait-timeout=10s", "--no-comments"],
        &["-c", "--if-exists"],
    ];
    for list in harmless {
        let job = RawJob {
            pg_dump_args: args(list),
            ..raw_job()
        };
        assert_eq!(problems(one_job(job)), want(&[]), "{list:?}");
    }
}

#[test]
fn each_reserved_pg_dump_flag_is_its_own_problem() {
    let job = RawJob {
        pg_dump_args: args(&["-Fc", "--no-owner", "-Z9", "--jobs=2"]),
        ..raw_job()
    };
    assert_eq!(
        problems(one_job(job)),
        want(&[(ARGS, Invalid), (ARGS, Invalid), (ARGS, Invalid)])
    );
}

// ---------- jobs: compression ----------

const LEVEL: &str = "jobs.app.compression_level";
const THREADS: &str = "jobs.app.compression_threads";

#[test]
fn compression_levels_and_threads_follow_the_codec() {
    use CompressionKind::{Gzip, Zstd};
    let off = Some(CompressionKind::None);
    #[allow(clippy::type_complexity)]
    let cases: &[(
        Option<CompressionKind>,
        Option<i32>,
        Option<u32>,
        &[(&str, ErrorKind)],
    )] = &[
        (None, None, None, &[]),
        (Some(Gzip), Some(0), None, &[]),
        (Some(Gzip), Some(9), None, &[]),
        (Some(Gzip), Some(-1), None, &[(LEVEL, Invalid)]),
        (Some(Gzip), Some(10), None, &[(LEVEL, Invalid)]),
        // gzip is the default codec, with its range
        (None, Some(10), None, &[(LEVEL, Invalid)]),
        (Some(Zstd), Some(-7), None, &[]),
        (Some(Zstd), Some(22), None, &[]),
        (Some(Zstd), Some(-8), None, &[(LEVEL, Invalid)]),
        (Some(Zstd), Some(23), None, &[(LEVEL, Invalid)]),
        (off, Some(0), None, &[(LEVEL, Invalid)]),
        (off, Some(6), None, &[(LEVEL, Invalid)]),
        (off, None, None, &[]),
        (off, None, Some(1), &[]),
        (off, None, Some(2), &[(THREADS, Invalid)]),
        (Some(Zstd), None, Some(0), &[(THREADS, Invalid)]),
        (Some(Gzip), None, Some(0), &[(THREADS, Invalid)]),
        (Some(Zstd), None, Some(4), &[]),
        (Some(Gzip), None, Some(4), &[]),
        (
            Some(Zstd),
            Some(30),
            Some(0),
            &[(LEVEL, Invalid), (THREADS, Invalid)],
        ),
        (
            off,
            Some(3),
            Some(2),
            &[(LEVEL, Invalid), (THREADS, Invalid)],
        ),
    ];
    for &(kind, level, threads, expected) in cases {
        let job = RawJob {
            compression: kind,
            compression_level: level,
            compression_threads: threads,
            ..raw_job()
        };
        let case = format!("{kind:?} level {level:?} threads {threads:?}");
        match outcome(one_job(job)) {
            Ok(config) => {
                assert_eq!(want(expected), want(&[]), "{case}: accepted");
                assert_eq!(
                    config.jobs[0].compression.kind,
                    kind.unwrap_or(Gzip),
                    "{case}"
                );
            }
            Err(found) => assert_eq!(found, want(expected), "{case}"),
        }
    }
}

#[test]
fn compression_keys_are_built_from_the_section_whatever_the_job_is_called() {
    let job = RawJob {
        compression_level: Some(99),
        compression_threads: Some(0),
        ..raw_job()
    };
    let raw = sections(
        vec![("disk", local("/b"))],
        vec![("compression_level", job)],
    );
    assert_eq!(
        problems(raw),
        want(&[
            ("jobs.compression_level.compression_level", Invalid),
            ("jobs.compression_level.compression_threads", Invalid),
        ])
    );
}

// ---------- storage: S3 ----------

const BUCKET: &str = "storage.s3.bucket";

#[test]
fn bucket_names() {
    let cases: &[(&str, &[(&str, ErrorKind)])] = &[
        ("backups", &[]),
        ("abc", &[]),
        ("123", &[]),
        ("my.backups-2026", &[]),
        ("legacy_bucket", &[]),
        ("", &[(BUCKET, Missing)]),
        ("ab", &[(BUCKET, S3)]),
        ("no/slashes", &[(BUCKET, S3)]),
        ("with space", &[(BUCKET, S3)]),
        ("ünïcødé", &[(BUCKET, S3)]),
        ("back:ups", &[(BUCKET, S3)]),
        ("-backups", &[(BUCKET, S3)]),
        ("backups-", &[(BUCKET, S3)]),
        (".backups", &[(BUCKET, S3)]),
        ("backups.", &[(BUCKET, S3)]),
        ("_backups", &[(BUCKET, S3)]),
    ];
    for &(bucket, expected) in cases {
        match outcome(with_s3(s3(bucket))) {
            Ok(config) => {
                assert_eq!(want(expected), want(&[]), "{bucket:?}: accepted");
                assert_eq!(s3_of(&config, "s3").bucket, bucket);
            }
            Err(found) => assert_eq!(found, want(expected), "{bucket:?}"),
        }
    }
    assert_eq!(problems(with_s3(s3(&"b".repeat(255)))), want(&[]));
    assert_eq!(
        problems(with_s3(s3(&"b".repeat(256)))),
        want(&[(BUCKET, S3)])
    );
    let none = RawS3 {
        bucket: None,
        ..s3("")
    };
    assert_eq!(problems(with_s3(none)), want(&[(BUCKET, Missing)]));
}

#[test]
fn endpoint_must_be_an_http_url_with_a_host() {
    const ENDPOINT: &str = "storage.s3.endpoint";
    let cases: &[(&str, &[(&str, ErrorKind)])] = &[
        ("http://minio:9000", &[]),
        ("https://s3.example.net", &[]),
        ("minio:9000", &[(ENDPOINT, S3)]),
        ("s3.example.net", &[(ENDPOINT, S3)]),
        ("ftp://x", &[(ENDPOINT, S3)]),
        ("not a url", &[(ENDPOINT, S3)]),
        ("http://", &[(ENDPOINT, S3)]),
    ];
    for &(endpoint, expected) in cases {
        let raw = RawS3 {
            endpoint: Some(endpoint.to_string()),
            ..s3("backups")
        };
        match outcome(with_s3(raw)) {
            Ok(config) => {
                assert_eq!(want(expected), want(&[]), "{endpoint:?}: accepted");
                assert!(
                    s3_of(&config, "s3").path_style,
                    "{endpoint}: a custom endpoint implies path-style addressing"
                );
            }
            Err(found) => assert_eq!(found, want(expected), "{endpoint:?}"),
        }
    }
}

#[test]
fn path_style_defaults_to_whether_an_endpoint_is_set() {
    let cases = [
        (None, None, false),
        (Some("http://minio:9000"), None, true),
        (Some("http://minio:9000"), Some(false), false),
        (None, Some(true), true),
    ];
    for (endpoint, path_style, expected) in cases {
        let raw = RawS3 {
            endpoint: endpoint.map(str::to_string),
            path_style,
            ..s3("backups")
        };
        let config = accepted(with_s3(raw));
        assert_eq!(
            s3_of(&config, "s3").path_style,
            expected,
            "endpoint {endpoint:?}, path_style {path_style:?}"
        );
    }
}

#[test]
fn upload_concurrency_is_between_1_and_16() {
    const KEY: &str = "storage.s3.upload_concurrency";
    let cases: &[(u32, &[(&str, ErrorKind)])] = &[
        (0, &[(KEY, S3)]),
        (1, &[]),
        (16, &[]),
        (17, &[(KEY, S3)]),
        (u32::MAX, &[(KEY, S3)]),
    ];
    for &(n, expected) in cases {
        let raw = RawS3 {
            upload_concurrency: Some(n),
            ..s3("backups")
        };
        assert_eq!(problems(with_s3(raw)), want(expected), "{n}");
    }
}

#[test]
fn region_names() {
    const REGION: &str = "storage.s3.region";
    let cases: &[(&str, &[(&str, ErrorKind)])] = &[
        ("eu-central-1", &[]),
        ("us-east-1", &[]),
        ("garage", &[]),
        ("", &[(REGION, S3)]),
        ("eu central 1", &[(REGION, S3)]),
        ("us_east_1", &[(REGION, S3)]),
        ("eu-central-1/", &[(REGION, S3)]),
    ];
    for &(region, expected) in cases {
        let raw = RawS3 {
            region: Some(region.to_string()),
            ..s3("backups")
        };
        match outcome(with_s3(raw)) {
            Ok(config) => {
                assert_eq!(want(expected), want(&[]), "{region:?}: accepted");
                assert_eq!(s3_of(&config, "s3").region, region);
            }
            Err(found) => assert_eq!(found, want(expected), "{region:?}"),
        }
    }
    let config = accepted(with_s3(s3("backups")));
    assert_eq!(s3_of(&config, "s3").region, "us-east-1", "the default");
}

#[test]
fn prefix_loses_its_slashes() {
    for (prefix, expected) in [
        (None, ""),
        (Some("nightly"), "nightly"),
        (Some("/nightly/"), "nightly"),
        (Some("/prod/db/"), "prod/db"),
    ] {
        let raw = RawS3 {
            prefix: prefix.map(str::to_string),
            ..s3("backups")
        };
        let config = accepted(with_s3(raw));
        assert_eq!(s3_of(&config, "s3").prefix, expected, "{prefix:?}");
    }
}

#[test]
fn access_keys_come_in_pairs_and_in_one_place_each() {
    const ID: &str = "storage.s3.access_key_id";
    const ID_FILE: &str = "storage.s3.access_key_id_file";
    const KEY: &str = "storage.s3.secret_access_key";
    const KEY_FILE: &str = "storage.s3.secret_access_key_file";
    // (access_key_id, access_key_id_file, secret_access_key, secret_access_key_file)
    #[allow(clippy::type_complexity)]
    let cases: &[(
        Option<&str>,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        &[(&str, ErrorKind)],
    )] = &[
        (None, None, None, None, &[]),
        (Some("AKID"), None, Some("key"), None, &[]),
        (
            None,
            Some("/run/secrets/id"),
            None,
            Some("/run/secrets/key"),
            &[],
        ),
        (Some("AKID"), None, None, Some("/run/secrets/key"), &[]),
        (Some("AKID"), None, None, None, &[(KEY, S3)]),
        (None, Some("/run/secrets/id"), None, None, &[(KEY, S3)]),
        (None, None, Some("key"), None, &[(ID, S3)]),
        (None, None, None, Some("/run/secrets/key"), &[(ID, S3)]),
        (
            Some("AKID"),
            Some("/run/secrets/id"),
            Some("key"),
            None,
            &[(ID, S3)],
        ),
        (
            Some("AKID"),
            None,
            Some("key"),
            Some("/run/secrets/key"),
            &[(KEY, S3)],
        ),
        (
            Some("AKID"),
            None,
            None,
            Some("/nonexistent/key"),
            &[(KEY_FILE, S3)],
        ),
        (
            None,
            Some("/nonexistent/id"),
            Some("key"),
            None,
            &[(ID_FILE, S3)],
        ),
        (
            Some("AKID"),
            Some("/run/secrets/id"),
            Some("key"),
            Some("/run/secrets/key"),
            &[(ID, S3), (KEY, S3)],
        ),
    ];
    for &(id, id_file, key, key_file, expected) in cases {
        let raw = RawS3 {
            access_key_id: id.and_then(secret),
            access_key_id_file: id_file.map(PathBuf::from),
            secret_access_key: key.and_then(secret),
            secret_access_key_file: key_file.map(PathBuf::from),
            ..s3("backups")
        };
        assert_eq!(
            problems(with_s3(raw)),
            want(expected),
            "id {id:?}, id file {id_file:?}, key {key:?}, key file {key_file:?}"
        );
    }
}

#[test]
fn an_unreadable_secret_file_names_the_file_key_never_a_secret() {
    let raw = RawS3 {
        access_key_id: secret("AKID-unique-7731"),
        secret_access_key_file: Some(PathBuf::from("/nonexistent/s3-secret")),
        ..s3("backups")
    };
    let errors = validate_with(with_s3(raw), no_origin).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, "storage.s3.secret_access_key_file");
    assert_eq!(errors[0].kind, S3);
    let text = format!("{errors:?} {}", ConfigErrors(errors.clone()));
    assert!(text.contains("/nonexistent/s3-secret"), "{text}");
    assert!(!text.contains("AKID-unique-7731"), "{text}");

    let job = RawJob {
        database: None,
        database_file: Some(PathBuf::from("/nonexistent/db")),
        password: secret("Pw-unique-4411"),
        ..Default::default()
    };
    let errors = validate_with(one_job(job), no_origin).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key, "jobs.app.database_file");
    assert_eq!(errors[0].kind, Invalid);
    let text = format!("{errors:?} {}", ConfigErrors(errors.clone()));
    assert!(text.contains("/nonexistent/db"), "{text}");
    assert!(!text.contains("Pw-unique-4411"), "{text}");
}

#[test]
fn database_and_password_come_from_one_place_each() {
    let file = |path: &str| Some(PathBuf::from(path));
    let cases: [(RawJob, &[(&str, ErrorKind)]); 6] = [
        (
            RawJob {
                database: None,
                database_file: file("/run/secrets/db"),
                ..Default::default()
            },
            &[],
        ),
        (
            RawJob {
                database_file: file("/run/secrets/db"),
                ..raw_job()
            },
            &[("jobs.app.database", Invalid)],
        ),
        (
            RawJob {
                password: secret("pw"),
                password_file: file("/run/secrets/pw"),
                ..raw_job()
            },
            &[("jobs.app.password", Invalid)],
        ),
        (
            RawJob {
                database: secret("postgres://app:pw@db/app"),
                password: secret("other"),
                ..Default::default()
            },
            &[("jobs.app.password", Invalid)],
        ),
        (
            RawJob {
                database: None,
                ..Default::default()
            },
            &[("jobs.app.database", Missing)],
        ),
        (
            RawJob {
                database: secret("host='unterminated"),
                ..Default::default()
            },
            &[("jobs.app.database", Invalid)],
        ),
    ];
    for (i, (job, expected)) in cases.into_iter().enumerate() {
        assert_eq!(problems(one_job(job)), want(expected), "case {i}");
    }
}

// ---------- storage: local ----------

#[test]
fn local_storage_needs_an_absolute_path() {
    const PATH: &str = "storage.disk.path";
    type Expected = &'static [(&'static str, ErrorKind)];
    let cases: &[(Option<&str>, Expected)] = &[
        (Some("/var/backups"), &[]),
        (None, &[(PATH, Missing)]),
        (Some("relative/dir"), &[(PATH, Invalid)]),
        (Some("./backups"), &[(PATH, Invalid)]),
        (Some(""), &[(PATH, Invalid)]),
    ];
    for &(path, expected) in cases {
        let disk = RawStorage::Local(RawLocal {
            path: path.map(PathBuf::from),
            ..Default::default()
        });
        let raw = sections(vec![("disk", disk)], vec![("app", raw_job())]);
        assert_eq!(problems(raw), want(expected), "{path:?}");
    }
}

// ---------- names and references ----------

#[test]
fn job_and_storage_names_use_letters_digits_dash_and_underscore() {
    for (name, ok) in [
        ("shop", true),
        ("shop-2_eu", true),
        ("SHOP", true),
        ("bad name", false),
        ("shop.eu", false),
        ("shop/eu", false),
        ("ünï", false),
    ] {
        let job_key = format!("jobs.{name}");
        let storage_key = format!("storage.{name}");
        let (job_expected, storage_expected) = if ok {
            (want(&[]), want(&[]))
        } else {
            (
                want(&[(job_key.as_str(), Invalid)]),
                want(&[(storage_key.as_str(), Invalid)]),
            )
        };
        let raw = sections(
            vec![("disk", local("/var/backups"))],
            vec![(name, raw_job())],
        );
        assert_eq!(problems(raw), job_expected, "job {name:?}");
        let raw = sections(
            vec![(name, local("/var/backups"))],
            vec![("app", raw_job())],
        );
        assert_eq!(problems(raw), storage_expected, "storage {name:?}");
    }
}

#[test]
fn a_job_names_known_storages_or_uses_the_only_one() {
    const STORAGE: &str = "jobs.app.storage";
    let names = |list: &[&str]| Some(list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    // (storages defined, job's storage, problems, storages used when accepted)
    #[allow(clippy::type_complexity)]
    let cases: &[(&[&str], Option<&[&str]>, &[(&str, ErrorKind)], &[&str])] = &[
        (&["a"], None, &[], &["a"]),
        (&["a"], Some(&["a"]), &[], &["a"]),
        (&["a", "b"], Some(&["b"]), &[], &["b"]),
        (&["a", "b"], Some(&["a", "b"]), &[], &["a", "b"]),
        (&["a", "b"], None, &[(STORAGE, Missing)], &[]),
        (&["a", "b"], Some(&[]), &[(STORAGE, Missing)], &[]),
        (&[], None, &[(STORAGE, Missing)], &[]),
        (&[], Some(&["a"]), &[(STORAGE, Invalid)], &[]),
        (&["a"], Some(&["nowhere"]), &[(STORAGE, Invalid)], &[]),
        (
            &["a", "b"],
            Some(&["a", "nowhere", "elsewhere"]),
            &[(STORAGE, Invalid), (STORAGE, Invalid)],
            &[],
        ),
    ];
    for &(defined, used, expected, resolved) in cases {
        let storage: Vec<(&str, RawStorage)> = defined
            .iter()
            .map(|name| (*name, local(&format!("/var/backups/{name}"))))
            .collect();
        let job = RawJob {
            storage: used.and_then(names),
            ..raw_job()
        };
        let case = format!("defined {defined:?}, job names {used:?}");
        match outcome(sections(storage, vec![("app", job)])) {
            Ok(config) => {
                assert_eq!(want(expected), want(&[]), "{case}: accepted");
                assert_eq!(config.jobs[0].storage, resolved, "{case}");
            }
            Err(found) => assert_eq!(found, want(expected), "{case}"),
        }
    }
}

#[test]
fn a_job_naming_a_broken_storage_is_not_told_it_does_not_exist() {
    // `bad` fails validation; `lost` failed extraction (the loader lists it
    // in storage_names only). Neither makes `jobs.app.storage` a problem.
    let job = RawJob {
        storage: Some(vec!["bad".into(), "good".into(), "lost".into()]),
        ..raw_job()
    };
    let mut raw = sections(
        vec![
            ("bad", RawStorage::S3(s3("-bad-"))),
            ("good", local("/var/backups")),
        ],
        vec![("app", job)],
    );
    raw.storage_names.push("lost".into());
    assert_eq!(problems(raw), want(&[("storage.bad.bucket", S3)]));
}

#[test]
fn no_job_at_all_is_a_missing_jobs_section() {
    let raw = sections(vec![("disk", local("/var/backups"))], vec![]);
    assert_eq!(problems(raw), want(&[("jobs", Missing)]));
    assert_eq!(problems(RawSections::default()), want(&[("jobs", Missing)]));

    // A declared job that failed to extract was reported by the loader.
    let mut raw = sections(vec![("disk", local("/var/backups"))], vec![]);
    raw.declared_jobs = 1;
    assert!(
        !problems(raw).iter().any(|(key, _)| key == "jobs"),
        "a declared job is not missing"
    );
}

// ---------- retention, schedule, zones ----------

#[test]
fn retention_rules_of_zero_are_refused() {
    let zero = |rule: &str| {
        let mut r = RawRetention::default();
        match rule {
            "keep_days" => r.keep_days = Some(0),
            "keep_last" => r.keep_last = Some(0),
            "keep_daily" => r.keep_daily = Some(0),
            "keep_weekly" => r.keep_weekly = Some(0),
            "keep_monthly" => r.keep_monthly = Some(0),
            other => panic!("no rule {other}"),
        }
        r
    };
    for rule in [
        "keep_days",
        "keep_last",
        "keep_daily",
        "keep_weekly",
        "keep_monthly",
    ] {
        let job = RawJob {
            retention: Some(zero(rule)),
            ..raw_job()
        };
        let key = format!("jobs.app.retention.{rule}");
        assert_eq!(
            problems(one_job(job)),
            want(&[(key.as_str(), Invalid)]),
            "{rule}"
        );
    }

    let all_zero = RawRetention {
        keep_days: Some(0),
        keep_last: Some(0),
        keep_daily: Some(0),
        keep_weekly: Some(0),
        keep_monthly: Some(0),
    };
    let job = RawJob {
        retention: Some(all_zero),
        ..raw_job()
    };
    assert_eq!(problems(one_job(job)).len(), 5);

    let ones = RawRetention {
        keep_days: Some(1),
        keep_last: Some(1),
        keep_daily: Some(1),
        keep_weekly: Some(1),
        keep_monthly: Some(1),
    };
    let job = RawJob {
        retention: Some(ones.clone()),
        ..raw_job()
    };
    assert_eq!(accepted(one_job(job)).jobs[0].retention, ones);
    let config = accepted(one_job(raw_job()));
    assert_eq!(
        config.jobs[0].retention,
        RawRetention::default(),
        "no rule: keep every backup"
    );
}

#[test]
fn schedules_are_cron_expressions() {
    const SCHEDULE: &str = "jobs.app.schedule";
    let cases: &[(&str, &[(&str, ErrorKind)])] = &[
        ("0 3 * * *", &[]),
        ("*/30 * * * * *", &[]),
        ("@daily", &[]),
        ("30 */6 * * 1-5", &[]),
        ("every night", &[(SCHEDULE, Cron)]),
        ("0 25 * * *", &[(SCHEDULE, Cron)]),
        ("61 * * * *", &[(SCHEDULE, Cron)]),
        ("* * * *", &[(SCHEDULE, Cron)]),
        ("0 0 3 * * * 2026", &[(SCHEDULE, Cron)]),
        ("", &[(SCHEDULE, Cron)]),
    ];
    for &(schedule, expected) in cases {
        let job = RawJob {
            schedule: Some(schedule.to_string()),
            ..raw_job()
        };
        assert_eq!(problems(one_job(job)), want(expected), "{schedule:?}");
    }
}

#[test]
fn time_zones_are_iana_names_or_posix_strings() {
    let cases: &[(&str, bool)] = &[
        ("Europe/Berlin", true),
        ("UTC", true),
        ("EST5EDT,M3.2.0,M11.1.0", true),
        ("Mars/Olympus", false),
        ("Europe/Berln", false),
    ];
    for &(zone, ok) in cases {
        let job = RawJob {
            timezone: Some(zone.to_string()),
            ..raw_job()
        };
        let expected: &[(&str, ErrorKind)] = if ok {
            &[]
        } else {
            &[("jobs.app.timezone", Invalid)]
        };
        assert_eq!(problems(one_job(job)), want(expected), "job {zone:?}");

        let mut raw = one_job(raw_job());
        raw.agent.timezone = Some(zone.to_string());
        let expected: &[(&str, ErrorKind)] = if ok {
            &[]
        } else {
            &[("agent.timezone", Invalid)]
        };
        assert_eq!(problems(raw), want(expected), "agent {zone:?}");
    }
}

// ---------- log and agent ----------

#[test]
fn log_level_and_format() {
    #[allow(clippy::type_complexity)]
    let cases: &[(Option<&str>, Option<&str>, &[(&str, ErrorKind)])] = &[
        (None, None, &[]),
        (Some("debug"), Some("json"), &[]),
        (Some("WARNING"), Some("JSON"), &[]),
        (Some("Off"), Some("text"), &[]),
        (Some("loud"), None, &[("log.level", Invalid)]),
        (Some(""), None, &[("log.level", Invalid)]),
        (None, Some("xml"), &[("log.format", Invalid)]),
        (
            Some("loud"),
            Some("xml"),
            &[("log.level", Invalid), ("log.format", Invalid)],
        ),
    ];
    for &(level, format, expected) in cases {
        let mut raw = one_job(raw_job());
        raw.log = RawLog {
            level: level.map(str::to_string),
            format: format.map(str::to_string),
            progress_interval: None,
        };
        assert_eq!(problems(raw), want(expected), "{level:?} {format:?}");
    }
}

#[test]
fn agent_settings() {
    #[allow(clippy::type_complexity)]
    let cases: &[(Option<u32>, Option<&str>, &[(&str, ErrorKind)])] = &[
        (None, None, &[]),
        (Some(1), Some("30s"), &[]),
        (Some(4), Some("2m"), &[]),
        (Some(0), None, &[("agent.max_concurrent", Invalid)]),
        (None, Some("soon"), &[("agent.shutdown_timeout", Invalid)]),
        (None, Some("30"), &[("agent.shutdown_timeout", Invalid)]),
        (
            Some(0),
            Some("-1s"),
            &[
                ("agent.max_concurrent", Invalid),
                ("agent.shutdown_timeout", Invalid),
            ],
        ),
    ];
    for &(max_concurrent, shutdown_timeout, expected) in cases {
        let mut raw = one_job(raw_job());
        raw.agent = RawAgent {
            max_concurrent,
            shutdown_timeout: shutdown_timeout.map(str::to_string),
            ..RawAgent::default()
        };
        assert_eq!(
            problems(raw),
            want(expected),
            "{max_concurrent:?} {shutdown_timeout:?}"
        );
    }
}

#[test]
fn abandoned_upload_after_is_a_duration_of_a_second_or_more() {
    for (text, expected) in [
        (None, Ok(std::time::Duration::from_secs(24 * 3600))),
        (
            Some("2d"),
            Ok(std::time::Duration::from_secs(2 * 24 * 3600)),
        ),
        (Some("0s"), Err(())),
        (Some("soon"), Err(())),
    ] {
        let mut raw = one_job(raw_job());
        raw.agent.abandoned_upload_after = text.map(str::to_string);
        let got = validate_with(raw, no_origin)
            .map(|c| {
                (
                    c.agent.abandoned_upload_after,
                    c.jobs[0].abandoned_upload_after,
                )
            })
            .map_err(|errors| {
                assert_eq!(errors[0].key, "agent.abandoned_upload_after", "{text:?}");
            });
        assert_eq!(got, expected.map(|d| (d, d)), "{text:?}");
    }
}

// ---------- whole configurations ----------

#[test]
fn every_problem_is_reported_at_once() {
    let mut raw = sections(
        vec![
            (
                "offsite",
                RawStorage::S3(RawS3 {
                    endpoint: Some("ftp://x".into()),
                    region: Some("eu central".into()),
                    upload_concurrency: Some(17),
                    access_key_id: secret("AKIDONLY"),
                    ..s3("-bad")
                }),
            ),
            ("disk", local("relative/dir")),
        ],
        vec![
            (
                "shop",
                RawJob {
                    schedule: Some("0 25 * * *".into()),
                    storage: Some(vec!["offsite".into(), "nowhere".into()]),
                    compression: Some(CompressionKind::Zstd),
                    compression_level: Some(99),
                    compression_threads: Some(0),
                    pg_dump_args: args(&["--file=/tmp/x", "--no-owner", "-Fc"]),
                    retention: Some(RawRetention {
                        keep_last: Some(0),
                        ..Default::default()
                    }),
                    timezone: Some("Nowhere/Land".into()),
                    ..raw_job()
                },
            ),
            (
                "crm",
                RawJob {
                    password: secret("pw"),
                    password_file: Some(PathBuf::from("/run/secrets/pw")),
                    compression: Some(CompressionKind::None),
                    compression_level: Some(3),
                    compression_threads: Some(2),
                    retention: Some(RawRetention {
                        keep_monthly: Some(0),
                        ..Default::default()
                    }),
                    verify_restore_into: secret(""),
                    ..Default::default()
                },
            ),
        ],
    );
    raw.log = RawLog {
        level: Some("loud".into()),
        format: Some("xml".into()),
        progress_interval: Some("0s".into()),
    };
    raw.agent = RawAgent {
        max_concurrent: Some(0),
        shutdown_timeout: Some("soon".into()),
        abandoned_upload_after: None,
        timezone: Some("Mars/Olympus".into()),
    };
    let errors = validate_with(raw, no_origin).unwrap_err();
    let mut found: Problems = errors.iter().map(|e| (e.key.clone(), e.kind)).collect();
    found.sort();
    assert_eq!(
        found,
        want(&[
            ("agent.max_concurrent", Invalid),
            ("agent.shutdown_timeout", Invalid),
            ("agent.timezone", Invalid),
            ("jobs.crm.compression_level", Invalid),
            ("jobs.crm.compression_threads", Invalid),
            ("jobs.crm.database", Missing),
            ("jobs.crm.password", Invalid),
            ("jobs.crm.retention.keep_monthly", Invalid),
            ("jobs.crm.storage", Missing),
            ("jobs.crm.verify_restore_into", Invalid),
            ("jobs.shop.compression_level", Invalid),
            ("jobs.shop.compression_threads", Invalid),
            ("jobs.shop.pg_dump_args", Invalid),
            ("jobs.shop.pg_dump_args", Invalid),
            ("jobs.shop.retention.keep_last", Invalid),
            ("jobs.shop.schedule", Cron),
            ("jobs.shop.storage", Invalid),
            ("jobs.shop.timezone", Invalid),
            ("log.format", Invalid),
            ("log.level", Invalid),
            ("log.progress_interval", Invalid),
            ("storage.disk.path", Invalid),
            ("storage.offsite.bucket", S3),
            ("storage.offsite.endpoint", S3),
            ("storage.offsite.region", S3),
            ("storage.offsite.secret_access_key", S3),
            ("storage.offsite.upload_concurrency", S3),
        ]),
        "{errors:#?}"
    );
    assert_eq!(
        ConfigErrors(errors.clone()).exit_code(),
        1,
        "a missing or invalid setting wins over cron and S3"
    );
    let text = ConfigErrors(errors).to_string();
    assert!(!text.contains("AKIDONLY"), "{text}");
}

#[test]
fn a_valid_configuration_keeps_what_was_written() {
    let mut raw = sections(
        vec![
            (
                "offsite",
                RawStorage::S3(RawS3 {
                    prefix: Some("/postgres/prod/".into()),
                    region: Some("eu-central-1".into()),
                    access_key_id_file: Some(PathBuf::from("/run/secrets/id")),
                    secret_access_key_file: Some(PathBuf::from("/run/secrets/key")),
                    ..s3("company-backups")
                }),
            ),
            (
                "minio",
                RawStorage::S3(RawS3 {
                    endpoint: Some("http://minio:9000".into()),
                    ..s3("backups")
                }),
            ),
            ("disk", local("/var/lib/keepsake/backups")),
        ],
        vec![
            (
                "shop",
                RawJob {
                    schedule: Some("0 3 * * *".into()),
                    storage: Some(vec!["offsite".into(), "disk".into()]),
                    format: Some(DumpFormat::Custom),
                    compression: Some(CompressionKind::Zstd),
                    compression_level: Some(3),
                    pg_dump_args: args(&["--exclude-table-data=audit_log"]),
                    retention: Some(RawRetention {
                        keep_daily: Some(7),
                        keep_weekly: Some(4),
                        keep_monthly: Some(12),
                        ..Default::default()
                    }),
                    ..raw_job()
                },
            ),
            (
                "crm",
                RawJob {
                    database: secret("host=db2 port=5432 user=backup dbname=crm"),
                    storage: Some(vec!["minio".into()]),
                    compression: Some(CompressionKind::None),
                    naming: Some(Naming::Legacy),
                    retention: Some(RawRetention {
                        keep_days: Some(14),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
        ],
    );
    raw.agent.timezone = Some("Europe/Berlin".into());
    let config = accepted(raw);

    let names: Vec<&str> = config.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["crm", "shop"], "jobs are sorted by name");
    let storages: Vec<&str> = config.storage.keys().map(String::as_str).collect();
    assert_eq!(storages, ["disk", "minio", "offsite"]);

    let shop = config.job("shop").unwrap();
    assert_eq!(shop.storage, ["offsite", "disk"]);
    assert_eq!(shop.format, DumpFormat::Custom);
    assert_eq!(shop.compression.kind, CompressionKind::Zstd);
    assert_eq!(shop.naming, Naming::Job, "the default");
    assert_eq!(
        shop.retention,
        RawRetention {
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_monthly: Some(12),
            ..Default::default()
        }
    );

    let crm = config.job("crm").unwrap();
    assert_eq!(crm.storage, ["minio"]);
    assert_eq!(crm.format, DumpFormat::Plain, "the default");
    assert_eq!(crm.compression.kind, CompressionKind::None);
    assert_eq!(crm.naming, Naming::Legacy);
    assert_eq!(crm.retention.keep_days, Some(14));

    let offsite = s3_of(&config, "offsite");
    assert_eq!(offsite.bucket, "company-backups");
    assert_eq!(offsite.prefix, "postgres/prod");
    assert_eq!(offsite.region, "eu-central-1");
    assert!(!offsite.path_style);
    let minio = s3_of(&config, "minio");
    assert_eq!(minio.bucket, "backups");
    assert_eq!(minio.prefix, "");
    assert_eq!(minio.region, "us-east-1");
    assert!(minio.path_style);
}

#[test]
fn legacy_names_may_not_share_a_place() {
    // (storage of job a, naming of a, storage of job b, naming of b, problems)
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, Naming, &str, Naming, &[(&str, ErrorKind)])] = &[
        (
            "disk",
            Naming::Legacy,
            "disk",
            Naming::Legacy,
            &[("jobs.b.naming", Invalid)],
        ),
        (
            "s3",
            Naming::Legacy,
            "s3",
            Naming::Legacy,
            &[("jobs.b.naming", Invalid)],
        ),
        ("disk", Naming::Legacy, "disk", Naming::Job, &[]),
        ("disk", Naming::Job, "disk", Naming::Job, &[]),
        ("disk", Naming::Legacy, "s3", Naming::Legacy, &[]),
    ];
    for &(a_storage, a_naming, b_storage, b_naming, expected) in cases {
        let job = |storage: &str, naming| RawJob {
            storage: Some(vec![storage.to_string()]),
            naming: Some(naming),
            ..raw_job()
        };
        let raw = sections(
            vec![
                ("disk", local("/var/backups")),
                ("s3", RawStorage::S3(s3("backups"))),
            ],
            vec![
                ("a", job(a_storage, a_naming)),
                ("b", job(b_storage, b_naming)),
            ],
        );
        assert_eq!(
            problems(raw),
            want(expected),
            "a: {a_storage} {a_naming:?}, b: {b_storage} {b_naming:?}"
        );
    }
}

#[test]
fn errors_name_where_the_value_came_from() {
    let errors = validate_with(with_s3(s3("ab")), named_origin).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].origin, "origin of storage.s3.bucket");
    // A missing key has no origin of its own: its section's is named.
    let errors = validate_with(with_s3(s3("")), named_origin).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].origin, "origin of storage.s3");
}

mod numbers;
mod places;
mod prefixes;
mod protection;
