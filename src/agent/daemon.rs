//! The process around the agent (`keepsake run`): start it, then wait for
//! SIGTERM/SIGINT (stop), SIGHUP or a changed config file (reload: a valid
//! new config is applied, an invalid one is logged and the running one
//! stays), and stop it gracefully.

use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};

use super::Agent;
use super::watch::ConfigWatch;
use crate::config::{Config, ConfigSource};

/// Why an agent whose jobs have no schedule does not run: it would idle,
/// silently, forever.
const NOTHING_SCHEDULED: &str = "no job has a schedule, so the agent would never back anything up: \
     set BACKUP_INTERVAL (environment) or jobs.NAME.schedule (config file); \
     `keepsake backup` runs jobs on demand";

fn schedules_something(config: &Config) -> bool {
    config.jobs.iter().any(|j| j.schedule.is_some())
}

/// Runs the agent until SIGTERM or SIGINT; the exit code.
pub async fn run(config: Config, source: &ConfigSource) -> u8 {
    crate::config::view::log_effective(&config);
    if !schedules_something(&config) {
        tracing::error!("{NOTHING_SCHEDULED}");
        return 1;
    }
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            tracing::error!("cannot listen for signals");
            return 1;
        }
    };
    let mut watch = match &source.file {
        Some(file) => match ConfigWatch::start(file).await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot watch the config file; reload with SIGHUP");
                None
            }
        },
        None => None,
    };
    let mut agent = Agent::start(config, Arc::new(crate::clock::SystemClock)).await;
    loop {
        let changed = async {
            match watch.as_mut() {
                Some(w) => w.changed().await,
                None => std::future::pending().await,
            }
        };
        let why = tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => "SIGHUP",
            _ = changed => "the config file changed",
        };
        tracing::info!(reason = why, "reloading the configuration");
        match source.load_off_runtime().await {
            Ok(new) if !schedules_something(&new) => {
                tracing::error!("{NOTHING_SCHEDULED}; the running configuration stays");
            }
            Ok(new) => {
                crate::config::view::log_effective(&new);
                agent.apply(new).await;
            }
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!(problem = %e, "the new configuration is invalid; the running one stays");
                }
            }
        }
    }
    tracing::info!("stopping: no new backups start");
    agent.shutdown().await;
    0
}
