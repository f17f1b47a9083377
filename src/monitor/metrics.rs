//! The agent's numbers: per job, what its runs did (kept across reloads
//! for jobs that stay, dropped with jobs that go), rendered in the
//! Prometheus text format at each scrape; and which jobs are stale.

use std::collections::BTreeMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};
use serde::Serialize;

use super::report::{RunReport, Status};
use crate::config::{Config, JobConfig};
use crate::freshness::{self, Freshness};

/// What the agent knows of one job.
#[derive(Debug, Default, Clone)]
struct JobState {
    /// How old its newest backup may be (None: no limit).
    stale_after: Option<SignedDuration>,
    storages: Vec<String>,
    last_success: Option<Timestamp>,
    last_attempt: Option<Timestamp>,
    last_duration: Option<f64>,
    last_raw_size: Option<u64>,
    last_size: BTreeMap<String, u64>,
    runs: BTreeMap<&'static str, u64>,
    in_progress: bool,
    deleted: BTreeMap<String, u64>,
    notifications_failed: BTreeMap<&'static str, u64>,
    /// Newest complete backup per storage, read from the storage at start.
    found: BTreeMap<String, Timestamp>,
    /// Since when the agent has this job: without any backup, its age
    /// counts from here.
    known_since: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct State {
    jobs: BTreeMap<String, JobState>,
    reloads: BTreeMap<&'static str, u64>,
    /// Notifications of the agent itself (a refused reload) that failed.
    agent_notifications_failed: BTreeMap<&'static str, u64>,
}

/// A job whose newest backup is too old, as `/readyz` names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaleJob {
    pub job: String,
    /// "stale", or "no backup" once the agent ran longer than the limit.
    pub state: &'static str,
    pub newest_backup: Option<String>,
    pub age_seconds: Option<i64>,
    pub stale_after_seconds: i64,
}

/// The agent's metrics; shared by the runs, the reloads and the endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<State>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere must not silence the metrics.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes over the jobs of `config`: new ones appear, removed ones and
    /// their series disappear, the others keep their values.
    pub fn set_jobs(&self, config: &Config, now: Timestamp) {
        let mut state = self.state();
        state.jobs.retain(|name, _| config.job(name).is_some());
        for job in &config.jobs {
            let entry = state.jobs.entry(job.name.clone()).or_default();
            entry.known_since.get_or_insert(now);
            entry.stale_after = limit(job, now);
            if entry.storages != job.storage {
                // A new storage has none of the job's backups yet: the
                // last success is found again (the agent lists them).
                entry.last_success = None;
                entry.found.clear();
            }
            entry.storages = job.storage.clone();
            entry.last_size.retain(|s, _| job.storage.contains(s));
            entry.deleted.retain(|s, _| job.storage.contains(s));
            entry.found.retain(|s, _| job.storage.contains(s));
        }
    }

    /// The newest complete backup of `job` found in `storage`, taken at
    /// `taken` (at start, so that a restart does not look like a lost
    /// backup).
    pub fn found_backup(&self, job: &str, storage: &str, taken: Timestamp, size: u64) {
        let mut state = self.state();
        let Some(j) = state.jobs.get_mut(job) else {
            return;
        };
        j.found.insert(storage.to_string(), taken);
        j.last_size.entry(storage.to_string()).or_insert(size);
        // The job's last success: when every storage had a backup.
        if j.storages.iter().all(|s| j.found.contains_key(s)) {
            let oldest_newest = j.storages.iter().filter_map(|s| j.found.get(s)).min();
            if let Some(&at) = oldest_newest {
                j.last_success = Some(j.last_success.map_or(at, |t| t.max(at)));
            }
        }
    }

    pub fn run_started(&self, job: &str, at: Timestamp) {
        if let Some(j) = self.state().jobs.get_mut(job) {
            j.in_progress = true;
            j.last_attempt = Some(at);
        }
    }

    pub fn run_finished(&self, report: &RunReport) {
        let mut state = self.state();
        let Some(j) = state.jobs.get_mut(&report.job) else {
            return;
        };
        j.in_progress = false;
        j.last_duration = Some(report.duration_seconds);
        *j.runs.entry(report.status.as_str()).or_default() += 1;
        for copy in &report.copies {
            j.last_size.insert(copy.storage.clone(), copy.size);
        }
        if report.raw_size.is_some() {
            j.last_raw_size = report.raw_size;
        }
        for (storage, n) in &report.deleted {
            *j.deleted.entry(storage.clone()).or_default() += n;
        }
        // Stored everywhere (and verified): the backup is there even if
        // retention failed afterwards.
        let everywhere = j
            .storages
            .iter()
            .all(|s| report.copies.iter().any(|c| &c.storage == s));
        if report.status == Status::Success || (report.backup_stored && everywhere) {
            j.last_success = report.taken.or(Some(report.finished));
        }
    }

    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        *self.state().reloads.entry(result).or_default() += 1;
    }

    /// A notification that could not be delivered; `job` None: the agent's.
    pub fn notification_failed(&self, job: Option<&str>, kind: &'static str) {
        let mut state = self.state();
        let counts = match job {
            Some(job) => match state.jobs.get_mut(job) {
                Some(j) => &mut j.notifications_failed,
                None => return,
            },
            None => &mut state.agent_notifications_failed,
        };
        *counts.entry(kind).or_default() += 1;
    }

    /// The jobs whose newest backup is older than their limit at `now`; a
    /// job without any counts from the agent's start.
    pub fn stale_jobs(&self, now: Timestamp) -> Vec<StaleJob> {
        let state = self.state();
        state
            .jobs
            .iter()
            .filter_map(|(name, j)| {
                let limit = j.stale_after?;
                let since = j.last_success.or(j.known_since)?;
                (freshness::judge(Some(since), Some(limit), now) == Freshness::Stale).then(|| {
                    StaleJob {
                        job: name.clone(),
                        state: if j.last_success.is_some() {
                            Freshness::Stale.as_str()
                        } else {
                            Freshness::NoBackup.as_str()
                        },
                        newest_backup: j.last_success.map(|t| t.to_string()),
                        age_seconds: j.last_success.map(|t| now.duration_since(t).as_secs()),
                        stale_after_seconds: limit.as_secs(),
                    }
                })
            })
            .collect()
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn render(&self, now: Timestamp) -> String {
        let stale: Vec<String> = self.stale_jobs(now).into_iter().map(|s| s.job).collect();
        let state = self.state();
        let registry = Registry::new();
        let f = Families::register(&registry);
        f.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        for (result, n) in &state.reloads {
            f.reloads.with_label_values(&[result]).inc_by(*n);
        }
        for (kind, n) in &state.agent_notifications_failed {
            f.notifications_failed
                .with_label_values(&["", kind])
                .inc_by(*n);
        }
        for (name, j) in &state.jobs {
            f.fill_job(name, j, stale.contains(name));
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .expect("the text encoder writes to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// The job's staleness limit, as `status` computes it.
fn limit(job: &JobConfig, now: Timestamp) -> Option<SignedDuration> {
    freshness::stale_after(
        job.stale_after,
        job.schedule.as_ref(),
        &job.timezone.tz,
        now,
    )
}

/// The metric families, made afresh for each scrape from [`State`].
struct Families {
    build_info: GaugeVec,
    reloads: IntCounterVec,
    last_success: GaugeVec,
    last_attempt: GaugeVec,
    last_duration: GaugeVec,
    last_size: GaugeVec,
    last_raw_size: GaugeVec,
    runs: IntCounterVec,
    in_progress: GaugeVec,
    deleted: IntCounterVec,
    stale: GaugeVec,
    stale_after: GaugeVec,
    notifications_failed: IntCounterVec,
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("a valid metric definition");
    registry
        .register(Box::new(g.clone()))
        .expect("each name is registered once");
    g
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric definition");
    registry
        .register(Box::new(c.clone()))
        .expect("each name is registered once");
    c
}

impl Families {
    fn register(r: &Registry) -> Families {
        let job = &["job"];
        let job_storage = &["job", "storage"];
        Families {
            build_info: gauge(
                r,
                "keepsake_build_info",
                "keepsake's version (always 1)",
                &["version"],
            ),
            reloads: counter(
                r,
                "keepsake_config_reloads_total",
                "Configuration reloads, applied (success) or refused (failure)",
                &["result"],
            ),
            last_success: gauge(
                r,
                "keepsake_backup_last_success_timestamp_seconds",
                "When the job's newest backup stored in all its storages was taken (Unix time; recovered from the storages at start)",
                job,
            ),
            last_attempt: gauge(
                r,
                "keepsake_backup_last_attempt_timestamp_seconds",
                "When the job's last run started (Unix time)",
                job,
            ),
            last_duration: gauge(
                r,
                "keepsake_backup_last_duration_seconds",
                "How long the job's last run took",
                job,
            ),
            last_size: gauge(
                r,
                "keepsake_backup_last_size_bytes",
                "Bytes stored by the job's newest backup in the storage (compressed)",
                job_storage,
            ),
            last_raw_size: gauge(
                r,
                "keepsake_backup_last_raw_size_bytes",
                "Bytes pg_dump wrote for the job's newest backup (uncompressed)",
                job,
            ),
            runs: counter(
                r,
                "keepsake_backup_runs_total",
                "Runs of the job since the agent started, by result",
                &["job", "result"],
            ),
            in_progress: gauge(
                r,
                "keepsake_backup_in_progress",
                "1 while a run of the job is going on",
                job,
            ),
            deleted: counter(
                r,
                "keepsake_retention_deleted_total",
                "Backups retention deleted since the agent started",
                job_storage,
            ),
            stale: gauge(
                r,
                "keepsake_backup_stale",
                "1 when the job's newest backup is older than its stale_after (as /readyz)",
                job,
            ),
            stale_after: gauge(
                r,
                "keepsake_backup_stale_after_seconds",
                "How old the job's newest backup may be",
                job,
            ),
            notifications_failed: counter(
                r,
                "keepsake_notifications_failed_total",
                "Notifications that could not be delivered after every retry (job empty: the agent's own)",
                &["job", "kind"],
            ),
        }
    }

    fn fill_job(&self, name: &str, j: &JobState, stale: bool) {
        let seconds = |t: Timestamp| t.as_millisecond() as f64 / 1000.0;
        let job = &[name];
        if let Some(t) = j.last_success {
            self.last_success.with_label_values(job).set(seconds(t));
        }
        if let Some(t) = j.last_attempt {
            self.last_attempt.with_label_values(job).set(seconds(t));
        }
        if let Some(d) = j.last_duration {
            self.last_duration.with_label_values(job).set(d);
        }
        if let Some(n) = j.last_raw_size {
            self.last_raw_size.with_label_values(job).set(n as f64);
        }
        for (storage, n) in &j.last_size {
            self.last_size
                .with_label_values(&[name, storage])
                .set(*n as f64);
        }
        for result in [Status::Success.as_str(), Status::Failure.as_str()] {
            let n = j.runs.get(result).copied().unwrap_or(0);
            self.runs.with_label_values(&[name, result]).inc_by(n);
        }
        self.in_progress
            .with_label_values(job)
            .set(f64::from(u8::from(j.in_progress)));
        for storage in &j.storages {
            let n = j.deleted.get(storage).copied().unwrap_or(0);
            self.deleted.with_label_values(&[name, storage]).inc_by(n);
        }
        self.stale
            .with_label_values(job)
            .set(f64::from(u8::from(stale)));
        if let Some(limit) = j.stale_after {
            self.stale_after
                .with_label_values(job)
                .set(limit.as_secs_f64());
        }
        for (kind, n) in &j.notifications_failed {
            self.notifications_failed
                .with_label_values(&[name, kind])
                .inc_by(*n);
        }
    }
}

#[cfg(test)]
mod tests;
