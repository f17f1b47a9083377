//! The agent (`keepsake run`): one schedule loop per job, at most
//! `max_concurrent` backups at once, a job never overlapping itself;
//! reloads that keep untouched jobs running; a graceful stop.
//!
//! - [`daemon`]: the process around the agent: signals, config file
//!   changes, reloads, the stop;
//! - [`watch`]: noticing that the config file changed;
//! - [`diff`]: what a reload changes, by job name, pure;
//! - [`job_loop`]: a job's schedule loop and its runs;
//! - [`systemd`]: readiness, reload, stop and watchdog notifications.

pub mod daemon;
pub mod diff;
pub mod job_loop;
pub mod systemd;
pub mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog;
use crate::clock::Clock;
use crate::config::{Config, JobConfig, StorageConfig};
use crate::monitor::Monitor;
use crate::storage::{self, NamedStorage, Storage};
use diff::Fingerprint;
use job_loop::{ScheduledJob, Shared};

/// A scheduled job.
struct Slot {
    print: Fingerprint,
    stop: CancellationToken,
    schedule: JoinHandle<()>,
    running: Arc<AtomicBool>,
}

/// How long aborted runs get to clean up after `shutdown_timeout`.
const ABORT_GRACE: std::time::Duration = std::time::Duration::from_secs(15);
/// How long a stopping agent waits for notifications still in flight.
/// With ABORT_GRACE and the HTTP endpoint's 2 s, a stop takes at most
/// `shutdown_timeout` + 22 s: runtimes' grace must exceed it (README,
/// "Stop grace").
const NOTIFY_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The running agent.
pub struct Agent {
    config: Config,
    slots: BTreeMap<String, Slot>,
    /// Opened storages by name, with the fingerprint of their settings.
    storages: BTreeMap<String, (Fingerprint, Arc<dyn Storage>)>,
    shared: Arc<Shared>,
}

impl Agent {
    /// Starts every job of `config`, reporting to `monitor`; jobs with
    /// `run_on_start` run now.
    pub async fn start(config: Config, clock: Arc<dyn Clock>, monitor: Monitor) -> Agent {
        let shared = Arc::new(Shared {
            permits: Arc::new(Semaphore::new(config.agent.max_concurrent)),
            max_concurrent: config.agent.max_concurrent,
            tracker: TaskTracker::new(),
            abort_backups: CancellationToken::new(),
            clock,
            monitor,
        });
        let mut agent = Agent {
            config: config.clone(),
            slots: BTreeMap::new(),
            storages: BTreeMap::new(),
            shared,
        };
        agent.open_storages().await;
        agent.take_stock();
        agent.remove_leftovers();
        agent.find_newest(&config.jobs);
        let names: Vec<String> = config.jobs.iter().map(|j| j.name.clone()).collect();
        for name in names {
            agent.schedule(&name, true, None);
        }
        tracing::info!(
            jobs = agent.slots.len(),
            max_concurrent = agent.config.agent.max_concurrent,
            "keepsake agent started"
        );
        agent
    }

    /// Says what the configuration does that may not be meant, and checks,
    /// in the background, that every storage with `object_lock` is a
    /// bucket with Object Lock (its backups fail until it is).
    fn take_stock(&self) {
        for warning in crate::config::advice(&self.config) {
            tracing::warn!("{warning}");
        }
        let locked: Vec<(String, Arc<dyn Storage>)> = self
            .config
            .storage
            .iter()
            .filter(|(_, s)| matches!(s, StorageConfig::S3(s3) if s3.object_lock.is_some()))
            .map(|(name, _)| (name.clone(), Arc::clone(&self.storages[name].1)))
            .collect();
        self.shared.tracker.spawn(async move {
            for (name, storage) in locked {
                match storage.preflight().await {
                    Ok(()) => tracing::info!(storage = %name, "the bucket has Object Lock enabled"),
                    Err(e) => tracing::error!(storage = %name, error = %e, "backups to this storage will fail"),
                }
            }
        });
    }

    /// Removes, in the background, what runs that died left in every
    /// job's storages (see [`crate::leftovers`]); a shutdown stops it.
    fn remove_leftovers(&self) {
        let work = self.job_storages(&self.config.jobs);
        let stop = self.shared.abort_backups.clone();
        self.shared.tracker.spawn(async move {
            for (job, s) in work {
                let removed = tokio::select! {
                    removed = crate::leftovers::remove(
                        &job,
                        &s.name,
                        s.storage.as_ref(),
                        jiff::Timestamp::now(),
                        crate::backup::abandoned_after(&job),
                    ) => removed,
                    _ = stop.cancelled() => return,
                };
                if let Err(e) = removed {
                    tracing::error!(job = %job.name, storage = %s.name, error = %e, "cannot look for leftovers of stopped runs");
                }
            }
        });
    }

    /// Reads, in the background, the newest complete backup of each of
    /// `jobs` in each storage, so the metrics and `/readyz` know it.
    fn find_newest(&self, jobs: &[JobConfig]) {
        let work = self.job_storages(jobs);
        let metrics = Arc::clone(&self.shared.monitor.metrics);
        let stop = self.shared.abort_backups.clone();
        self.shared.tracker.spawn(async move {
            for (job, s) in work {
                let listed = tokio::select! {
                    listed = crate::cluster::all_backups(&job, s.storage.as_ref()) => listed,
                    _ = stop.cancelled() => return,
                };
                match listed {
                    Ok(backups) => {
                        let now = jiff::Timestamp::now();
                        let newest = catalog::pick(&backups, &catalog::Pick::Latest, now).ok();
                        if let Some(b) = newest {
                            metrics.found_backup(&job.name, &s.name, b.name.at, b.size);
                        }
                    }
                    Err(e) => {
                        tracing::error!(job = %job.name, storage = %s.name, error = %e, "cannot list the backups")
                    }
                }
            }
        });
    }

    /// Each of `jobs` with each of its storages.
    fn job_storages(&self, jobs: &[JobConfig]) -> Vec<(JobConfig, NamedStorage)> {
        jobs.iter()
            .flat_map(|job| {
                job.storage.iter().map(|s| {
                    let named = NamedStorage {
                        name: s.clone(),
                        storage: Arc::clone(&self.storages[s].1),
                    };
                    (job.clone(), named)
                })
            })
            .collect()
    }

    /// Opens storages that are new or whose settings changed.
    async fn open_storages(&mut self) {
        let mut storages = BTreeMap::new();
        for (name, settings) in &self.config.storage {
            let print = diff::fingerprint_storage(settings);
            let opened = match self.storages.get(name) {
                Some((old, opened)) if *old == print => Arc::clone(opened),
                _ => storage::open(settings).await,
            };
            storages.insert(name.clone(), (print, opened));
        }
        self.storages = storages;
    }

    /// Starts the schedule loop of job `name` from the current config.
    fn schedule(&mut self, name: &str, run_on_start: bool, running: Option<Arc<AtomicBool>>) {
        let Some(job) = self.config.job(name).cloned() else {
            return;
        };
        let storages = job
            .storage
            .iter()
            .map(|s| NamedStorage {
                name: s.clone(),
                storage: Arc::clone(&self.storages[s].1),
            })
            .collect();
        let running = running.unwrap_or_default();
        let stop = CancellationToken::new();
        let run = ScheduledJob {
            job: Arc::new(job.clone()),
            storages: Arc::new(storages),
            running: Arc::clone(&running),
            shared: Arc::clone(&self.shared),
        };
        let run_now = run_on_start && job.run_on_start;
        let schedule = tokio::spawn(job_loop::schedule_loop(run, stop.clone(), run_now));
        let print = diff::fingerprint(&job, &self.config);
        self.slots.insert(
            name.to_string(),
            Slot {
                print,
                stop,
                schedule,
                running,
            },
        );
    }

    /// Stops scheduling job `name`; a backup of it that runs goes on.
    fn unschedule(&mut self, name: &str) -> Option<Arc<AtomicBool>> {
        let slot = self.slots.remove(name)?;
        slot.stop.cancel();
        slot.schedule.abort();
        Some(slot.running)
    }

    /// Takes over a new, already validated configuration: unchanged jobs
    /// keep running untouched; changed jobs are rescheduled; removed jobs
    /// stop being scheduled; new jobs start. A running backup always
    /// finishes.
    pub async fn apply(&mut self, new: Config) {
        let restart = diff::needs_restart(&self.config, &new);
        if !restart.is_empty() {
            tracing::warn!(settings = ?restart, "these settings change only when keepsake restarts");
        }
        let old: BTreeMap<String, Fingerprint> = self
            .slots
            .iter()
            .map(|(n, s)| (n.clone(), s.print))
            .collect();
        let d = diff::diff(&old, &diff::fingerprints(&new));
        let mut kept = new;
        kept.log = self.config.log.clone();
        kept.agent.max_concurrent = self.config.agent.max_concurrent;
        kept.http = self.config.http;
        self.config = kept;
        self.open_storages().await;
        self.take_stock();
        self.shared.monitor.reconfigure(&self.config);
        let fresh: Vec<JobConfig> = d
            .added
            .iter()
            .chain(&d.changed)
            .filter_map(|name| self.config.job(name).cloned())
            .collect();
        self.find_newest(&fresh);
        for name in &d.removed {
            self.unschedule(name);
        }
        for name in &d.changed {
            let running = self.unschedule(name);
            self.schedule(name, false, running);
        }
        for name in &d.added {
            self.schedule(name, true, None);
        }
        tracing::info!(
            added = ?d.added,
            changed = ?d.changed,
            removed = ?d.removed,
            unchanged = d.unchanged.len(),
            "configuration reloaded"
        );
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Stops scheduling, lets running backups finish within
    /// `shutdown_timeout`, then aborts the rest (pg_dump killed, uploads
    /// aborted) and waits until they have cleaned up.
    pub async fn shutdown(mut self) {
        let names: Vec<String> = self.slots.keys().cloned().collect();
        for name in names {
            self.unschedule(&name);
        }
        let tracker = self.shared.tracker.clone();
        tracker.close();
        let timeout = self.config.agent.shutdown_timeout;
        if !tracker.is_empty() {
            tracing::info!(
                running = tracker.len(),
                timeout = %humantime::format_duration(timeout),
                "waiting for running backups to finish"
            );
        }
        if tokio::time::timeout(timeout, tracker.wait()).await.is_err() {
            tracing::warn!(
                running = tracker.len(),
                "backups still running at the shutdown timeout; aborting them"
            );
            self.shared.abort_backups.cancel();
            // Aborting kills clients and removes uploads; bounded too.
            if tokio::time::timeout(ABORT_GRACE, tracker.wait())
                .await
                .is_err()
            {
                tracing::error!(
                    running = tracker.len(),
                    "runs still stopping after the abort grace; exiting anyway (their leftovers are removed at the next start)"
                );
            }
        }
        // The runs' last notifications (a cancelled run's too) go out,
        // within a budget that keeps the stop inside every runtime's grace.
        self.shared.monitor.notifier.flush(NOTIFY_GRACE).await;
        tracing::info!("keepsake agent stopped");
    }
}
