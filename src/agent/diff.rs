//! What changed between two configurations, by job name, pure. A job's
//! fingerprint covers everything that shapes its runs, secrets and the
//! storages it writes to included, so any edit to them counts as a change.

use std::collections::BTreeMap;

use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::{Config, JobConfig, StorageConfig};

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

fn storage_text(s: &StorageConfig) -> String {
    match s {
        StorageConfig::S3(s3) => {
            let keys = s3.credentials.as_ref().map(|c| {
                (
                    c.access_key_id.expose_secret().to_string(),
                    c.secret_access_key.expose_secret().to_string(),
                )
            });
            format!(
                "s3|{}|{}|{:?}|{}|{}|{}|{:?}",
                s3.bucket,
                s3.prefix,
                s3.endpoint,
                s3.region,
                s3.path_style,
                s3.upload_concurrency,
                keys
            )
        }
        StorageConfig::Local(l) => format!("local|{}|{}", l.path.display(), l.prefix),
    }
}

/// The fingerprint of one storage's settings.
pub fn fingerprint_storage(s: &StorageConfig) -> Fingerprint {
    Sha256::digest(storage_text(s).as_bytes()).into()
}

/// The fingerprint of `job` with the storages it uses.
pub fn fingerprint(job: &JobConfig, config: &Config) -> Fingerprint {
    let mut h = Sha256::new();
    let password = job
        .connection
        .password
        .as_ref()
        .map(|p| p.expose_secret().to_string());
    let text = format!(
        "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}|{}|{:?}",
        job.name,
        job.connection.conninfo,
        password,
        job.schedule.as_ref().map(|s| &s.expr),
        job.format,
        job.compression,
        job.pg_dump_args,
        job.retention,
        job.naming,
        job.storage,
        job.timezone.name,
        job.run_on_start,
        job.verify_after_backup,
        job.verify_restore_into.as_ref().map(|c| {
            (
                &c.conninfo,
                c.password.as_ref().map(|p| p.expose_secret().to_string()),
            )
        }),
    );
    h.update(text.as_bytes());
    for name in &job.storage {
        if let Some(s) = config.storage.get(name) {
            h.update(storage_text(s).as_bytes());
        }
    }
    h.finalize().into()
}

/// The fingerprints of every job in `config`.
pub fn fingerprints(config: &Config) -> BTreeMap<String, Fingerprint> {
    config
        .jobs
        .iter()
        .map(|j| (j.name.clone(), fingerprint(j, config)))
        .collect()
}

/// Settings a running agent cannot take over: (key, old, new) for each.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.log != new.log {
        keys.push("log");
    }
    if old.agent.max_concurrent != new.agent.max_concurrent {
        keys.push("agent.max_concurrent");
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

    fn config(toml: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, toml).unwrap();
        crate::config::load(Some(&path), &Default::default()).unwrap()
    }

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
}
