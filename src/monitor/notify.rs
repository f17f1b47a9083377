//! Notifications: a healthchecks.io-style ping (`/start`, success,
//! `/fail`) and a webhook document for each run, and for the agent's own
//! failures (a refused reload). They are delivered in the background,
//! each attempt within `notify.timeout`, retried `notify.retries` times:
//! a notification never holds up a backup nor changes its outcome, and a
//! failed one is a WARN line and a metric. Their URLs are secrets: logs
//! name only the host.

mod deliver;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use super::metrics::Metrics;
use super::report::{RunReport, Status, tail};
use crate::config::{Delivery, NotifyTargets};
pub use deliver::describe as describe_error;
use deliver::{Body, Message};

/// The most of an error a failure ping carries (healthchecks.io keeps
/// the first 100 kB of a body; the end of an error says the most).
const FAIL_BODY: usize = 10_000;

/// Sends every notification of a process.
pub struct Notifier {
    client: Option<reqwest::Client>,
    delivery: Mutex<Delivery>,
    tracker: TaskTracker,
    metrics: Option<Arc<Metrics>>,
}

/// The notifications of one run: its start ping, which the end's follow.
pub struct RunNotices {
    job: String,
    targets: NotifyTargets,
    start: Option<JoinHandle<()>>,
}

impl Notifier {
    /// Failed deliveries are counted in `metrics` when given.
    pub fn new(delivery: Delivery, metrics: Option<Arc<Metrics>>) -> Arc<Notifier> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("keepsake/", env!("CARGO_PKG_VERSION")))
            .build()
            .inspect_err(|e| {
                tracing::error!(error = %deliver::describe(e), "cannot set up the HTTP client: no notification will be sent");
            })
            .ok();
        Arc::new(Notifier {
            client,
            delivery: Mutex::new(delivery),
            tracker: TaskTracker::new(),
            metrics,
        })
    }

    /// Takes over new delivery settings (a reload).
    pub fn set_delivery(&self, delivery: Delivery) {
        *self.delivery.lock().unwrap_or_else(|p| p.into_inner()) = delivery;
    }

    fn delivery(&self) -> Delivery {
        *self.delivery.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run of `job` begins: pings `<healthcheck_url>/start`.
    pub fn run_started(self: &Arc<Self>, job: &str, targets: &NotifyTargets) -> RunNotices {
        let start = targets.healthcheck_url.as_ref().map(|url| {
            let message = Message::ping(url, Some("start"), Body::Empty);
            self.send(Some(job), message, None)
        });
        RunNotices {
            job: job.to_string(),
            targets: targets.clone(),
            start,
        }
    }

    /// The run ended: pings `<healthcheck_url>` (success) or
    /// `<healthcheck_url>/fail` (with the error's end), and posts the
    /// report to `webhook_url`; after the start ping, never before.
    pub fn run_finished(self: &Arc<Self>, notices: RunNotices, report: &RunReport) {
        let RunNotices {
            job,
            targets,
            start,
        } = notices;
        if let Some(url) = &targets.healthcheck_url {
            let message = match report.status {
                Status::Success => Message::ping(url, None, Body::Text(report.summary())),
                Status::Failure => {
                    let error = report.error.as_deref().unwrap_or("failed");
                    Message::ping(url, Some("fail"), Body::Text(tail(error, FAIL_BODY).into()))
                }
            };
            // The end ping follows its start ping; the webhook, another
            // service, waits for neither.
            self.send(Some(&job), message, start);
        }
        if let Some(url) = &targets.webhook_url {
            let message = Message::webhook(url, report.webhook_body());
            self.send(Some(&job), message, None);
        }
    }

    /// The agent itself failed at `event` (e.g. `config_reload`): told to
    /// `[notify]`'s targets as a failure.
    pub fn agent_failed(self: &Arc<Self>, targets: &NotifyTargets, event: &str, error: &str) {
        let text = format!("keepsake: {} failed: {error}", event.replace('_', " "));
        if let Some(url) = &targets.healthcheck_url {
            let body = Body::Text(tail(&text, FAIL_BODY).into());
            self.send(None, Message::ping(url, Some("fail"), body), None);
        }
        if let Some(url) = &targets.webhook_url {
            let body = serde_json::json!({
                "event": event,
                "status": "failure",
                "error": error,
                "text": text,
            });
            self.send(None, Message::webhook(url, body), None);
        }
    }

    /// Delivers `message` in the background, after `after` is done.
    fn send(
        self: &Arc<Self>,
        job: Option<&str>,
        message: Option<Message>,
        after: Option<JoinHandle<()>>,
    ) -> JoinHandle<()> {
        let this = Arc::clone(self);
        let job = job.map(str::to_string);
        let delivery = self.delivery();
        self.tracker.spawn(async move {
            if let Some(before) = after {
                let _ = before.await;
            }
            let Some(message) = message else {
                return;
            };
            let result = match &this.client {
                Some(client) => deliver::deliver(client, &message, delivery).await,
                None => Err("no HTTP client".to_string()),
            };
            if let Err(error) = result {
                tracing::warn!(
                    job = job.as_deref().unwrap_or(""),
                    kind = message.kind,
                    url = %message.shown,
                    error = %error,
                    attempts = delivery.retries + 1,
                    "notification not delivered"
                );
                if let Some(metrics) = &this.metrics {
                    metrics.notification_failed(job.as_deref(), message.kind);
                }
            }
        })
    }

    /// The longest the notifications of a run may take to be delivered:
    /// its end ping waits for its start ping.
    pub fn longest(&self) -> Duration {
        deliver::longest(self.delivery()) * 2
    }

    /// Waits for the notifications in flight, at most `budget`; for a
    /// process about to exit.
    pub async fn flush(&self, budget: Duration) {
        self.tracker.close();
        if tokio::time::timeout(budget, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                waited = %humantime::format_duration(budget),
                "notifications still in flight at exit are dropped"
            );
        }
        self.tracker.reopen();
    }
}
