//! What the outside learns of the runs: per run a [`report::RunReport`],
//! turned into [`metrics`] (served by [`http`] with health checks) and
//! [`notify`] messages (healthchecks.io pings, webhooks). [`Monitor::run`]
//! is a job's run as both the agent and `keepsake backup` make it.

pub mod http;
pub mod metrics;
pub mod notify;
pub mod report;

use std::sync::Arc;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::backup::{self, BackupError};
use crate::config::{Config, JobConfig};
use crate::storage::NamedStorage;
use metrics::Metrics;
use notify::Notifier;
use report::{RunReport, Status};

/// Where runs are reported.
#[derive(Clone)]
pub struct Monitor {
    pub metrics: Arc<Metrics>,
    pub notifier: Arc<Notifier>,
}

impl Monitor {
    /// A monitor for `config`'s jobs, started now.
    pub fn new(config: &Config) -> Monitor {
        let now = Timestamp::now();
        let metrics = Arc::new(Metrics::new());
        metrics.set_jobs(config, now);
        let notifier = Notifier::new(config.notify.delivery, Some(Arc::clone(&metrics)));
        Monitor { metrics, notifier }
    }

    /// Takes over a reloaded configuration.
    pub fn reconfigure(&self, config: &Config) {
        self.metrics.set_jobs(config, Timestamp::now());
        self.notifier.set_delivery(config.notify.delivery);
    }

    /// A job's whole run (backup, verification, leftovers, retention; see
    /// [`backup::back_up_verify_prune`]), announced, logged, counted and
    /// notified; its report.
    pub async fn run(
        &self,
        job: &JobConfig,
        storages: &[NamedStorage],
        now: Timestamp,
        cancel: &CancellationToken,
    ) -> RunReport {
        let started = Timestamp::now();
        self.metrics.run_started(&job.name, started);
        let notices = self.notifier.run_started(&job.name, &job.notify);
        // Its own task, so that a panic in it is still reported (counted,
        // notified) as the run's failure.
        let (owned_job, owned_storages, owned_cancel) =
            (job.clone(), storages.to_vec(), cancel.clone());
        let result = contained(async move {
            backup::back_up_verify_prune(&owned_job, &owned_storages, now, &owned_cancel).await
        })
        .await;
        let report = RunReport::new(&job.name, started, Timestamp::now(), &result);
        log(&report, &result);
        self.metrics.run_finished(&report);
        self.notifier.run_finished(notices, &report);
        report
    }
}

/// Runs `run` as its own task: a panic in it becomes the run's error.
async fn contained<F>(run: F) -> Result<backup::Outcome, BackupError>
where
    F: Future<Output = Result<backup::Outcome, BackupError>> + Send + 'static,
{
    match tokio::spawn(run).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(BackupError::RunPanicked(panic_message(e.into_panic()))),
        Err(_) => Err(BackupError::Cancelled),
    }
}

/// What a panic said, for people.
pub fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The run's outcome in the log (a success was logged by the backup).
fn log(report: &RunReport, result: &Result<backup::Outcome, BackupError>) {
    let job = &report.job;
    match result {
        Err(BackupError::Cancelled) => {
            tracing::warn!(job = %job, "backup cancelled by shutdown; nothing was stored")
        }
        Err(e) => tracing::error!(job = %job, error = %e, "backup failed"),
        Ok(_) if report.status == Status::Failure => tracing::error!(
            job = %job,
            error = report.error.as_deref().unwrap_or_default(),
            "the run failed after the backup was stored"
        ),
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_run_is_a_failed_run_with_the_panic_said() {
        let result = contained(async { panic!("index out of bounds") }).await;
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("keepsake panicked") && error.contains("index out of bounds"),
            "{error}"
        );
        let report = RunReport::new(
            "shop",
            Timestamp::now(),
            Timestamp::now(),
            &Err(BackupError::RunPanicked("x".into())),
        );
        assert_eq!(report.status, Status::Failure);
    }
}
