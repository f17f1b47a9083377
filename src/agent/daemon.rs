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
    let mut watch = watch_file(source).await;
    let monitor = Monitor::new(&config);
    let http = match Endpoint::start(config.http.listen, &monitor).await {
        Ok(http) => http,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
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
        reload(&mut agent, source, &monitor, why).await;
    }
    tracing::info!("stopping: no new backups start");
    super::systemd::stopping();
    agent.shutdown().await;
    http.stop().await;
    0
}

/// Watches the config file, if there is one; a file that cannot be
/// watched still reloads on SIGHUP.
async fn watch_file(source: &ConfigSource) -> Option<ConfigWatch> {
    let file = source.file.as_ref()?;
    match ConfigWatch::start(file).await {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "cannot watch the config file; reload with SIGHUP");
            None
        }
    }
}

/// Loads the configuration again and applies it; a refused one (invalid,
/// or scheduling nothing) leaves the running one, and is counted and
/// notified as the agent's failure.
async fn reload(agent: &mut Agent, source: &ConfigSource, monitor: &Monitor, why: &str) {
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

/// The HTTP endpoint while the agent runs (none without `http.listen`).
struct Endpoint {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// How long the exit waits for the endpoint's open connections (a
/// scraper holding one open must not hold the exit).
const ENDPOINT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

impl Endpoint {
    /// Binds `listen` and serves the monitor's metrics; an error names
    /// the address and the cause.
    async fn start(
        listen: Option<std::net::SocketAddr>,
        monitor: &Monitor,
    ) -> Result<Endpoint, String> {
        let stop = CancellationToken::new();
        let task = match listen {
            Some(addr) => {
                let listener = crate::monitor::http::bind(addr).await?;
                let metrics = Arc::clone(&monitor.metrics);
                Some(tokio::spawn(crate::monitor::http::serve(
                    listener,
                    metrics,
                    stop.clone(),
                )))
            }
            None => None,
        };
        Ok(Endpoint { stop, task })
    }

    async fn stop(self) {
        self.stop.cancel();
        if let Some(task) = self.task {
            let _ = tokio::time::timeout(ENDPOINT_GRACE, task).await;
        }
    }
}
