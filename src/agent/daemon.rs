//! The process around the agent (`keepsake run`): start it (and its HTTP
//! endpoint, when configured), then wait for SIGTERM/SIGINT (stop), SIGHUP
//! or a changed config file (reload: a valid new config is applied, an
//! invalid one is logged, counted, notified, and the running one stays),
//! and stop it gracefully.

use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};

use tokio_util::sync::CancellationToken;

use super::Agent;
use super::watch::ConfigWatch;
use crate::config::{Config, ConfigSource};
use crate::monitor::Monitor;

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
    let monitor = Monitor::new(&config);
    let stop_http = CancellationToken::new();
    let http = match config.http.listen {
        Some(addr) => match crate::monitor::http::bind(addr).await {
            Ok(listener) => Some(tokio::spawn(crate::monitor::http::serve(
                listener,
                Arc::clone(&monitor.metrics),
                stop_http.clone(),
            ))),
            Err(e) => {
                tracing::error!("{e}");
                return 1;
            }
        },
        None => None,
    };
    let mut agent =
        Agent::start(config, Arc::new(crate::clock::SystemClock), monitor.clone()).await;
    super::systemd::ready(agent.config().jobs.len());
    // The watchdog is pinged from this loop: if it wedges, pings stop.
    let mut watchdog = super::systemd::watchdog_every().map(tokio::time::interval);
    loop {
        let ping = async {
            match watchdog.as_mut() {
                Some(every) => every.tick().await,
                None => std::future::pending().await,
            }
        };
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
            _ = ping => {
                super::systemd::watchdog();
                continue;
            }
        };
        tracing::info!(reason = why, "reloading the configuration");
        super::systemd::reloading();
        let refused = match source.load_off_runtime().await {
            Ok(new) if !schedules_something(&new) => {
                tracing::error!("{NOTHING_SCHEDULED}; the running configuration stays");
                Some(NOTHING_SCHEDULED.to_string())
            }
            Ok(new) => {
                crate::config::view::log_effective(&new);
                agent.apply(new).await;
                None
            }
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!(problem = %e, "the new configuration is invalid; the running one stays");
                }
                Some(format!(
                    "the new configuration is invalid; the running one stays:\n{errors}"
                ))
            }
        };
        super::systemd::ready(agent.config().jobs.len());
        monitor.metrics.reloaded(refused.is_none());
        if let Some(why) = refused {
            let targets = &agent.config().notify.targets;
            monitor
                .notifier
                .agent_failed(targets, "config_reload", &why);
        }
    }
    tracing::info!("stopping: no new backups start");
    super::systemd::stopping();
    agent.shutdown().await;
    stop_http.cancel();
    if let Some(http) = http {
        // A scraper holding its connection open must not hold the exit.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), http).await;
    }
    0
}
