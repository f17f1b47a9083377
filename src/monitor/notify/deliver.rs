//! One notification on the wire: its request, the attempts within the
//! timeout, the pauses between them; errors described without the URL.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::config::Delivery;
use crate::config::secret::shown_url;

/// The pause before the first retry; it doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(8);

/// What a notification carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    Text(String),
    Json(serde_json::Value),
}

/// A notification ready to send. Its `Debug` shows the URL as logs do:
/// the token stays hidden.
pub struct Message {
    /// `healthcheck` or `webhook`, for logs and metrics.
    pub kind: &'static str,
    url: url::Url,
    /// The URL as logs show it (host only).
    pub shown: String,
    body: Body,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("kind", &self.kind)
            .field("url", &self.shown)
            .field("body", &self.body)
            .finish()
    }
}

impl Message {
    /// A healthchecks.io ping to `base` or `base/<suffix>`; None (with
    /// an error logged) when the URL cannot take a suffix.
    pub fn ping(base: &SecretString, suffix: Option<&str>, body: Body) -> Option<Message> {
        let shown = shown_url(base);
        let url = ping_url(base.expose_secret(), suffix);
        if url.is_none() {
            tracing::error!(url = %shown, "the healthcheck URL cannot take a path; no ping is sent");
        }
        url.map(|url| Message {
            kind: "healthcheck",
            url,
            shown,
            body,
        })
    }

    pub fn webhook(url: &SecretString, body: serde_json::Value) -> Option<Message> {
        let shown = shown_url(url);
        url::Url::parse(url.expose_secret())
            .ok()
            .map(|url| Message {
                kind: "webhook",
                url,
                shown,
                body: Body::Json(body),
            })
    }
}

/// `base` with `/suffix` appended to its path, its query kept.
pub fn ping_url(base: &str, suffix: Option<&str>) -> Option<url::Url> {
    let mut url = url::Url::parse(base).ok()?;
    if let Some(suffix) = suffix {
        url.path_segments_mut().ok()?.pop_if_empty().push(suffix);
    }
    Some(url)
}

/// The longest a delivery with `d` may take: every attempt timing out,
/// and the pauses between them.
pub fn longest(d: Delivery) -> Duration {
    let attempts = d.timeout * (d.retries + 1);
    let pauses: Duration = (0..d.retries).map(pause).sum();
    attempts + pauses
}

fn pause(retry: u32) -> Duration {
    FIRST_PAUSE
        .saturating_mul(2u32.saturating_pow(retry))
        .min(MAX_PAUSE)
}

/// Whether an answer with `status` is worth another attempt: server
/// errors, timeouts and throttling are; a wrong URL (404) is not.
fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429
}

/// Sends `message`, retrying as `delivery` says; the last error.
pub async fn deliver(
    client: &reqwest::Client,
    message: &Message,
    delivery: Delivery,
) -> Result<(), String> {
    let url = &message.url;
    let mut last = String::new();
    for attempt in 0..=delivery.retries {
        if attempt > 0 {
            tokio::time::sleep(pause(attempt - 1)).await;
        }
        let request = client.post(url.clone()).timeout(delivery.timeout);
        let request = match &message.body {
            Body::Empty => request,
            Body::Text(text) => request
                .header("content-type", "text/plain; charset=utf-8")
                .body(text.clone()),
            Body::Json(json) => request
                .header("content-type", "application/json")
                .body(json.to_string()),
        };
        // reqwest's own timeout covers the whole exchange; this one also
        // covers a resolver that never answers.
        let sent = tokio::time::timeout(delivery.timeout, request.send()).await;
        match sent {
            Ok(Ok(answer)) if answer.status().is_success() => return Ok(()),
            Ok(Ok(answer)) => {
                last = format!("the server answered HTTP {}", answer.status());
                if !retryable(answer.status()) {
                    break;
                }
            }
            Ok(Err(e)) => last = describe(&e),
            Err(_) => {
                last = format!(
                    "no answer within {}",
                    humantime::format_duration(delivery.timeout)
                )
            }
        }
    }
    Err(last)
}

/// An HTTP client error with its causes, never with the URL (which holds
/// the token).
pub fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_append_their_suffix_and_keep_the_query() {
        let url = |base: &str, suffix| ping_url(base, suffix).unwrap().to_string();
        assert_eq!(
            url("https://hc-ping.com/abc", Some("start")),
            "https://hc-ping.com/abc/start"
        );
        assert_eq!(
            url("https://hc-ping.com/abc/", Some("fail")),
            "https://hc-ping.com/abc/fail"
        );
        assert_eq!(
            url("https://hc-ping.com/key/slug?create=1", Some("fail")),
            "https://hc-ping.com/key/slug/fail?create=1"
        );
        assert_eq!(
            url("https://hc-ping.com/abc", None),
            "https://hc-ping.com/abc"
        );
    }

    #[test]
    fn delivery_is_bounded_by_attempts_and_pauses() {
        let d = Delivery {
            timeout: Duration::from_secs(10),
            retries: 2,
        };
        assert_eq!(longest(d), Duration::from_secs(30 + 1 + 2));
        let once = Delivery {
            timeout: Duration::from_secs(1),
            retries: 0,
        };
        assert_eq!(longest(once), Duration::from_secs(1));
        assert_eq!(pause(10), MAX_PAUSE);
    }

    #[test]
    fn only_server_side_trouble_is_retried() {
        for (code, again) in [
            (500, true),
            (503, true),
            (429, true),
            (408, true),
            (404, false),
            (400, false),
        ] {
            let status = reqwest::StatusCode::from_u16(code).unwrap();
            assert_eq!(retryable(status), again, "{code}");
        }
    }
}
