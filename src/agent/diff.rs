//! What changed between two configurations, by job name, pure. A job's
//! fingerprint covers everything that shapes its runs, secrets and the
//! storages it writes to included, so any edit to them counts as a change.

use std::collections::BTreeMap;

use crate::config::{Config, JobConfig, StorageConfig, secret};

/// A job's fingerprint (a SHA-256; never logged).
pub type Fingerprint = [u8; 32];

/// Jobs by what happened to them, each list sorted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Compares two sets of job fingerprints.
pub fn diff(old: &BTreeMap<String, Fingerprint>, new: &BTreeMap<String, Fingerprint>) -> Diff {
    let mut d = Diff::default();
    for (name, print) in new {
        match old.get(name) {
            None => d.added.push(name.clone()),
            Some(before) if before == print => d.unchanged.push(name.clone()),
            Some(_) => d.changed.push(name.clone()),
        }
    }
    d.removed = old
        .keys()
        .filter(|n| !new.contains_key(*n))
        .cloned()
        .collect();
    d
}

/// The fingerprint of one storage's settings.
pub fn fingerprint_storage(s: &StorageConfig) -> Fingerprint {
    secret::fingerprint(s)
}

/// The fingerprint of `job` with the storages it uses: the job's whole
/// serialisation, so no setting can be left out of it.
pub fn fingerprint(job: &JobConfig, config: &Config) -> Fingerprint {
    let storages: Vec<(&String, Option<&StorageConfig>)> = job
        .storage
        .iter()
        .map(|name| (name, config.storage.get(name)))
        .collect();
    secret::fingerprint(&(&job.name, job, storages))
}

/// The fingerprints of every job in `config`.
pub fn fingerprints(config: &Config) -> BTreeMap<String, Fingerprint> {
    config
        .jobs
        .iter()
        .map(|j| (j.name.clone(), fingerprint(j, config)))
        .collect()
}

/// The keys of the settings that changed but that a running agent cannot
/// take over.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.log != new.log {
        keys.push("log");
    }
    if old.agent.max_concurrent != new.agent.max_concurrent {
        keys.push("agent.max_concurrent");
    }
    if old.agent.abandoned_upload_after != new.agent.abandoned_upload_after {
        keys.push("agent.abandoned_upload_after");
    }
    if old.http != new.http {
        keys.push("http.listen");
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prints(pairs: &[(&str, u8)]) -> BTreeMap<String, Fingerprint> {
        pairs
            .iter()
            .map(|(n, b)| (n.to_string(), [*b; 32]))
            .collect()
    }

    #[test]
    fn jobs_are_sorted_into_added_changed_removed_unchanged() {
        let old = prints(&[("a", 1), ("b", 2), ("c", 3)]);
        let new = prints(&[("a", 1), ("b", 9), ("d", 4)]);
        assert_eq!(
            diff(&old, &new),
            Diff {
                added: vec!["d".into()],
                changed: vec!["b".into()],
                removed: vec!["c".into()],
                unchanged: vec!["a".into()],
            }
        );
    }

    use crate::config::testing::from_toml as config;

    const BASE: &str = r#"
[storage.s]
type = "s3"
bucket = "bkt"
access_key_id = "id"
secret_access_key = "one"
[jobs.a]
database = "a"
schedule = "0 3 * * *"
[jobs.b]
database = "b"
"#;

    #[test]
    fn a_secret_or_a_shared_storage_change_touches_the_jobs_using_it() {
        let before = fingerprints(&config(BASE));
        let secret = fingerprints(&config(&BASE.replace("\"one\"", "\"two\"")));
        let d = diff(&before, &secret);
        assert_eq!(d.changed, ["a", "b"]);
        let schedule = fingerprints(&config(&BASE.replace("0 3 * * *", "0 4 * * *")));
        let d = diff(&before, &schedule);
        assert_eq!(
            (d.changed.as_slice(), d.unchanged.as_slice()),
            (&["a".to_string()][..], &["b".to_string()][..])
        );
    }

    #[test]
    fn log_and_concurrency_need_a_restart() {
        let a = config(BASE);
        let b = config(&format!(
            "[log]\nlevel = \"debug\"\n[agent]\nmax_concurrent = 2\n{BASE}"
        ));
        assert_eq!(needs_restart(&a, &b), ["log", "agent.max_concurrent"]);
        assert!(needs_restart(&a, &a).is_empty());
    }

    /// A job with every setting given, on two storages.
    const FULL: &str = r#"
[storage.s]
type = "s3"
bucket = "bkt"
endpoint = "http://s3.local:9000"
access_key_id = "id"
secret_access_key = "one"
[storage.d]
type = "local"
path = "/backups"
[jobs.a]
database = "postgres://app@db/shop"
password = "pw-one"
schedule = "0 3 * * *"
storage = ["s", "d"]
format = "plain"
compression = "zstd"
compression_level = 3
compression_threads = 2
pg_dump_args = ["--no-owner"]
retention = { keep_days = 7, keep_last = 3, keep_daily = 7, keep_weekly = 4, keep_monthly = 6 }
naming = "job"
timezone = "Europe/Berlin"
run_on_start = false
verify_after_backup = true
verify_restore_into = "postgres://postgres@db/postgres"
databases = "all"
exclude = ["tmp_*"]
globals = false
"#;

    /// One edit per setting of a job (dotted as the job serialises), and
    /// one per storage setting the job depends on.
    const EDITS: &[(&str, &str, &str)] = &[
        (
            "database",
            "postgres://app@db/shop",
            "postgres://app@db/crm",
        ),
        ("database", "\"pw-one\"", "\"pw-two\""),
        ("schedule", "0 3 * * *", "0 4 * * *"),
        ("storage", "[\"s\", \"d\"]", "[\"s\"]"),
        ("format", "format = \"plain\"", "format = \"custom\""),
        (
            "compression.kind",
            "compression = \"zstd\"",
            "compression = \"gzip\"",
        ),
        (
            "compression.level",
            "compression_level = 3",
            "compression_level = 4",
        ),
        (
            "compression.threads",
            "compression_threads = 2",
            "compression_threads = 3",
        ),
        ("pg_dump_args", "--no-owner", "--no-acl"),
        ("retention.keep_days", "keep_days = 7", "keep_days = 8"),
        ("retention.keep_last", "keep_last = 3", "keep_last = 4"),
        ("retention.keep_daily", "keep_daily = 7", "keep_daily = 8"),
        (
            "retention.keep_weekly",
            "keep_weekly = 4",
            "keep_weekly = 5",
        ),
        (
            "retention.keep_monthly",
            "keep_monthly = 6",
            "keep_monthly = 7",
        ),
        ("naming", "naming = \"job\"", "naming = \"legacy\""),
        ("timezone", "Europe/Berlin", "Europe/Paris"),
        (
            "run_on_start",
            "run_on_start = false",
            "run_on_start = true",
        ),
        // verify_restore_into implies verify_after_backup: drop both.
        (
            "verify_after_backup",
            "verify_after_backup = true\nverify_restore_into = \"postgres://postgres@db/postgres\"",
            "verify_after_backup = false",
        ),
        (
            "verify_restore_into",
            "postgres://postgres@db/postgres",
            "postgres://postgres@db/scratch",
        ),
        (
            "databases",
            "databases = \"all\"\nexclude = [\"tmp_*\"]",
            "databases = [\"x\"]",
        ),
        ("exclude", "\"tmp_*\"", "\"old_*\""),
        ("globals", "globals = false", "globals = true"),
        ("storage.s", "\"one\"", "\"two\""),
        ("storage.s", "s3.local", "s3.other"),
        ("storage.d", "/backups", "/elsewhere"),
    ];

    /// Every leaf of a serialised value, dotted: `compression.level`.
    fn leaves(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(v, &key, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn every_setting_of_a_job_changes_its_fingerprint() {
        let base = config(FULL);
        let job = base.job("a").unwrap();
        let before = fingerprint(job, &base);
        let mut settings = Vec::new();
        leaves(&serde_json::to_value(job).unwrap(), "", &mut settings);
        for setting in &settings {
            assert!(
                EDITS.iter().any(|(key, _, _)| key == setting),
                "no edit in this test changes {setting}: add one"
            );
        }
        for (key, from, to) in EDITS {
            assert_eq!(FULL.matches(from).count(), 1, "{from} must be unique");
            let edited = config(&FULL.replace(from, to));
            let after = fingerprint(edited.job("a").unwrap(), &edited);
            assert_ne!(
                before, after,
                "editing {key} ({from} -> {to}) went unnoticed"
            );
        }
    }
}
