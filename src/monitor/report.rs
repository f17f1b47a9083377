//! What one run of a job did, as one value that notifications and
//! metrics are made from, pure.

use jiff::Timestamp;
use serde::Serialize;

use crate::backup::{BackupError, Outcome};

/// How a run ended. Only a run whose backup was stored everywhere,
/// verified (when configured) and tidied is a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Failure,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failure => "failure",
        }
    }
}

/// One stored copy of the run's backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    pub storage: String,
    pub key: String,
    /// Bytes stored.
    pub size: u64,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    pub job: String,
    pub status: Status,
    #[serde(serialize_with = "rfc3339")]
    pub started: Timestamp,
    #[serde(serialize_with = "rfc3339")]
    pub finished: Timestamp,
    pub duration_seconds: f64,
    /// The key of the first stored copy.
    pub key: Option<String>,
    /// When the backup was taken (the time in its name).
    #[serde(serialize_with = "rfc3339_option")]
    pub taken: Option<Timestamp>,
    /// Bytes stored (the compressed dump), the same in every copy.
    pub size: Option<u64>,
    /// Bytes pg_dump wrote.
    pub raw_size: Option<u64>,
    pub copies: Vec<CopyReport>,
    /// Backups retention deleted, per storage.
    pub deleted: Vec<(String, u64)>,
    /// Why the run is a failure; never holds a secret.
    pub error: Option<String>,
    /// True when the backup was stored and verified everywhere, even if
    /// the run failed afterwards (retention): the backup counts.
    pub backup_stored: bool,
}

fn rfc3339<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

fn rfc3339_option<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

impl RunReport {
    /// The report of a run of `job` from `started` to `finished`.
    pub fn new(
        job: &str,
        started: Timestamp,
        finished: Timestamp,
        result: &Result<Outcome, BackupError>,
    ) -> RunReport {
        let duration_seconds = finished.duration_since(started).as_secs_f64().max(0.0);
        let mut report = RunReport {
            job: job.to_string(),
            status: Status::Failure,
            started,
            finished,
            duration_seconds,
            key: None,
            taken: None,
            size: None,
            raw_size: None,
            copies: Vec::new(),
            deleted: Vec::new(),
            error: None,
            backup_stored: false,
        };
        match result {
            Ok(outcome) => {
                report.copies = outcome
                    .copies
                    .iter()
                    .map(|c| CopyReport {
                        storage: c.storage.clone(),
                        key: c.backup.key.clone(),
                        size: c.backup.size,
                    })
                    .collect();
                report.key = report.copies.first().map(|c| c.key.clone());
                report.taken = outcome.copies.first().map(|c| c.backup.name.at);
                report.size = Some(outcome.summary.stored_bytes);
                report.raw_size = Some(outcome.summary.raw_bytes);
                report.deleted = outcome
                    .tidied
                    .iter()
                    .map(|t| (t.storage.clone(), t.deleted))
                    .collect();
                report.backup_stored = true;
                let problems = outcome.problems();
                if problems.is_empty() {
                    report.status = Status::Success;
                } else {
                    report.error =
                        Some(format!("the backup is stored, but {}", problems.join("; ")));
                }
            }
            Err(e) => report.error = Some(e.to_string()),
        }
        report
    }

    /// One line for people: chat messages and the body of a success ping.
    pub fn summary(&self) -> String {
        let job = &self.job;
        // One backup has one file name in every storage (the prefixes
        // may differ); a cluster job's parts have one each.
        let objects: std::collections::BTreeSet<&str> = self
            .copies
            .iter()
            .map(|c| c.key.rsplit('/').next().unwrap_or(&c.key))
            .collect();
        match (self.status, &self.key, &self.error) {
            // A cluster job: its globals and each database.
            (Status::Success, Some(_), _) if objects.len() > 1 => format!(
                "keepsake: backup of {job} succeeded: {} objects ({} bytes) in {:.1}s",
                objects.len(),
                self.size.unwrap_or(0),
                self.duration_seconds
            ),
            (Status::Success, Some(key), _) => format!(
                "keepsake: backup of {job} succeeded: {key} ({} bytes) in {:.1}s",
                self.size.unwrap_or(0),
                self.duration_seconds
            ),
            (_, _, Some(error)) => format!("keepsake: backup of {job} FAILED: {error}"),
            _ => format!("keepsake: backup of {job} {}", self.status.as_str()),
        }
    }

    /// The webhook's JSON document: the report, an `event` name and a
    /// `text` line (which Slack- and Mattermost-style hooks display).
    pub fn webhook_body(&self) -> serde_json::Value {
        let mut body = serde_json::to_value(self).expect("a report serialises");
        body["event"] = "backup".into();
        body["text"] = self.summary().into();
        body
    }
}

/// The last `max` bytes of `text`, cut at a character boundary: the part
/// of a long error that says what finally went wrong.
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::{StoredCopy, Tidied};
    use crate::catalog::Backup;
    use crate::pipeline::Summary;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn outcome(problems: Vec<String>) -> Outcome {
        let key = "shop/shop-2026-11-29_03-00-00.sql.gz";
        Outcome {
            copies: vec![StoredCopy {
                storage: "s3".into(),
                backup: Backup {
                    key: key.into(),
                    name: crate::naming::new_name(
                        at("2026-11-29T03:00:00Z"),
                        crate::config::DumpFormat::Plain,
                        crate::config::CompressionKind::Gzip,
                        false,
                    ),
                    size: 1234,
                    state: crate::catalog::State::Complete,
                    written: None,
                },
            }],
            failures: Vec::new(),
            summary: Summary {
                raw_bytes: 9000,
                stored_bytes: 1234,
                sha256: "00".into(),
            },
            duration_ms: 1500,
            tidied: vec![Tidied {
                storage: "s3".into(),
                deleted: 2,
                problems,
            }],
        }
    }

    #[test]
    fn a_run_of_several_parts_counts_its_objects_not_its_copies() {
        let run = |keys: &[&str]| {
            let mut done = outcome(Vec::new());
            let copy = done.copies[0].clone();
            done.copies = keys
                .iter()
                .map(|k| {
                    let mut c = copy.clone();
                    c.backup.key = k.to_string();
                    c
                })
                .collect();
            let (start, end) = (at("2026-11-29T03:00:00Z"), at("2026-11-29T03:00:01Z"));
            RunReport::new("cluster", start, end, &Ok(done)).summary()
        };
        // One backup in two storages with different prefixes.
        let one = run(&["a/shop/shop-t.sql.gz", "b/shop/shop-t.sql.gz"]);
        assert!(one.contains("succeeded: a/shop/shop-t.sql.gz"), "{one}");
        let parts = run(&[
            "p/c/c-globals-t.sql.gz",
            "p/c/shop/shop-t.sql.gz",
            "p/c/crm/crm-t.sql.gz",
        ]);
        assert!(parts.contains("succeeded: 3 objects"), "{parts}");
    }

    #[test]
    fn a_clean_run_is_a_success_with_sizes_and_deletions() {
        let r = RunReport::new(
            "shop",
            at("2026-11-29T03:00:00Z"),
            at("2026-11-29T03:00:02.5Z"),
            &Ok(outcome(Vec::new())),
        );
        assert_eq!(r.status, Status::Success);
        assert_eq!(r.duration_seconds, 2.5);
        assert_eq!(r.size, Some(1234));
        assert_eq!(r.raw_size, Some(9000));
        assert_eq!(r.deleted, vec![("s3".to_string(), 2)]);
        assert!(r.summary().contains("succeeded"), "{}", r.summary());
        let body = r.webhook_body();
        assert_eq!(body["status"], "success");
        assert_eq!(body["job"], "shop");
        assert_eq!(body["started"], "2026-11-29T03:00:00Z");
        assert_eq!(body["key"], "shop/shop-2026-11-29_03-00-00.sql.gz");
        assert_eq!(body["error"], serde_json::Value::Null);
    }

    #[test]
    fn a_stored_backup_whose_retention_failed_is_a_failed_run() {
        let problems = vec!["retention in s3: cannot list the backups: timeout".to_string()];
        let r = RunReport::new(
            "shop",
            at("2026-11-29T03:00:00Z"),
            at("2026-11-29T03:00:01Z"),
            &Ok(outcome(problems)),
        );
        assert_eq!(r.status, Status::Failure);
        assert!(r.backup_stored);
        let error = r.error.as_deref().unwrap();
        assert!(
            error.starts_with("the backup is stored, but retention in s3"),
            "{error}"
        );
    }

    #[test]
    fn a_failed_backup_carries_its_error() {
        let r = RunReport::new(
            "shop",
            at("2026-11-29T03:00:00Z"),
            at("2026-11-29T03:00:01Z"),
            &Err(BackupError::Empty),
        );
        assert_eq!(r.status, Status::Failure);
        assert!(!r.backup_stored);
        assert_eq!(r.key, None);
        assert!(r.summary().contains("FAILED: pg_dump produced no output"));
    }

    #[test]
    fn tails_cut_at_character_boundaries() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("aéb", 2), "b");
    }
}
