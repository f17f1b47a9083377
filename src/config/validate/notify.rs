//! `[http]`, `[notify]` and a job's own notification targets.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::Checker;
use crate::config::defaults;
use crate::config::error::ErrorKind;
use crate::config::model::{Delivery, HttpSettings, NotifySettings, NotifyTargets};
use crate::config::raw::{RawHttp, RawNotify, RawTargets};

/// The longest `notify.timeout`: a notification must never hold much up.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// The most `notify.retries`.
const MAX_RETRIES: u32 = 10;

pub(super) fn check_http(c: &mut Checker, raw: &RawHttp) -> HttpSettings {
    let listen = raw.listen.as_deref().and_then(|text| {
        let text = text.trim();
        let parsed = match text.strip_prefix("localhost:") {
            Some(port) => format!("127.0.0.1:{port}").parse::<SocketAddr>(),
            None => text.parse::<SocketAddr>(),
        };
        parsed
            .map_err(|_| {
                c.err(
                    ErrorKind::Invalid,
                    "http.listen",
                    format!(
                        "{text:?} is not an address and port like \"127.0.0.1:9187\", \
                         \"0.0.0.0:9187\" or \"[::1]:9187\""
                    ),
                );
            })
            .ok()
    });
    HttpSettings { listen }
}

pub(super) fn check_notify(c: &mut Checker, raw: RawNotify) -> NotifySettings {
    let targets = targets(c, "notify", raw.targets, &NotifyTargets::default());
    let timeout = match raw.timeout.as_deref() {
        None => defaults::NOTIFY_TIMEOUT,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d >= Duration::from_millis(100) && d <= MAX_TIMEOUT => d,
            Ok(_) => {
                c.err(
                    ErrorKind::Invalid,
                    "notify.timeout",
                    format!("{text:?} is outside 100ms to 5m"),
                );
                defaults::NOTIFY_TIMEOUT
            }
            Err(e) => {
                c.err(
                    ErrorKind::Invalid,
                    "notify.timeout",
                    format!("{text:?} is not a duration like \"10s\": {e}"),
                );
                defaults::NOTIFY_TIMEOUT
            }
        },
    };
    let retries = match raw.retries {
        Some(n) if n > MAX_RETRIES => {
            c.err(
                ErrorKind::Invalid,
                "notify.retries",
                format!("{n} is more than {MAX_RETRIES}"),
            );
            defaults::NOTIFY_RETRIES
        }
        Some(n) => n,
        None => defaults::NOTIFY_RETRIES,
    };
    NotifySettings {
        targets,
        delivery: Delivery { timeout, retries },
    }
}

/// The targets of `section` (`notify` or `jobs.NAME`): each URL given
/// there, else the one of `inherited`; an empty URL turns one off.
pub(super) fn targets(
    c: &mut Checker,
    section: &str,
    raw: RawTargets,
    inherited: &NotifyTargets,
) -> NotifyTargets {
    let healthcheck_url = url(
        c,
        &format!("{section}.healthcheck_url"),
        raw.healthcheck_url,
        raw.healthcheck_url_file.as_deref(),
    )
    .unwrap_or_else(|| inherited.healthcheck_url.clone());
    let webhook_url = url(
        c,
        &format!("{section}.webhook_url"),
        raw.webhook_url,
        raw.webhook_url_file.as_deref(),
    )
    .unwrap_or_else(|| inherited.webhook_url.clone());
    NotifyTargets {
        healthcheck_url,
        webhook_url,
    }
}

/// A URL given directly or in a file: `None` when neither is set (or a
/// problem was reported), `Some(None)` when it is empty (turned off).
fn url(
    c: &mut Checker,
    key: &str,
    value: Option<SecretString>,
    file: Option<&Path>,
) -> Option<Option<SecretString>> {
    let given = c.secret(key, value, file, ErrorKind::Invalid).ok()??;
    let text = given.expose_secret().trim();
    if text.is_empty() {
        return Some(None);
    }
    // The value is never quoted: monitoring services put a token in it.
    let problem = match url::Url::parse(text) {
        Err(e) => Some(format!(
            "is not a URL ({e}); the value is not shown: it may hold a token"
        )),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => Some(format!(
            "must be an http:// or https:// URL, not {}:",
            u.scheme()
        )),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("has no host".to_string()),
        Ok(_) => None,
    };
    match problem {
        Some(problem) => {
            c.err(ErrorKind::Invalid, key, problem);
            None
        }
        None => Some(Some(SecretString::from(text.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use crate::config::testing::{from_toml, load_with};

    const BASE: &str = "[storage.a]\ntype = \"local\"\npath = \"/a\"\n";

    fn url(s: &Option<secrecy::SecretString>) -> Option<&str> {
        s.as_ref().map(|u| u.expose_secret())
    }

    #[test]
    fn jobs_inherit_notify_targets_unless_they_set_or_empty_their_own() {
        let config = from_toml(&format!(
            "[notify]\nhealthcheck_url = \"https://hc-ping.com/all\"\n\
             webhook_url = \"https://hooks.example/all\"\ntimeout = \"3s\"\nretries = 0\n{BASE}\
             [jobs.inherits]\ndatabase = \"a\"\n\
             [jobs.own]\ndatabase = \"b\"\nhealthcheck_url = \"https://hc-ping.com/own\"\n\
             [jobs.quiet]\ndatabase = \"c\"\nwebhook_url = \"\"\n"
        ));
        let job = |name| &config.job(name).unwrap().notify;
        assert_eq!(
            url(&job("inherits").healthcheck_url),
            Some("https://hc-ping.com/all")
        );
        assert_eq!(
            url(&job("own").healthcheck_url),
            Some("https://hc-ping.com/own")
        );
        assert_eq!(
            url(&job("own").webhook_url),
            Some("https://hooks.example/all")
        );
        assert_eq!(url(&job("quiet").webhook_url), None);
        assert_eq!(
            config.notify.delivery.timeout,
            std::time::Duration::from_secs(3)
        );
        assert_eq!(config.notify.delivery.retries, 0);
    }

    #[test]
    fn the_environment_sets_the_endpoint_and_the_targets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hook");
        std::fs::write(&file, "https://hooks.example/from-file\n").unwrap();
        let config = load_with(
            &[
                ("POSTGRES_CONNECTION_STRING", "postgres://app@db/shop"),
                ("S3_BUCKET", "backups"),
                ("HTTP_LISTEN", "0.0.0.0:9187"),
                ("HEALTHCHECK_URL", "https://hc-ping.com/env"),
                ("WEBHOOK_URL_FILE", file.to_str().unwrap()),
            ],
            None,
        )
        .unwrap();
        assert_eq!(config.http.listen, Some("0.0.0.0:9187".parse().unwrap()));
        let job = &config.jobs[0].notify;
        assert_eq!(url(&job.healthcheck_url), Some("https://hc-ping.com/env"));
        assert_eq!(
            url(&job.webhook_url),
            Some("https://hooks.example/from-file")
        );
    }

    #[test]
    fn bad_values_are_named_and_urls_never_quoted() {
        let errors = load_with(
            &[],
            Some(&format!(
                "[http]\nlisten = \"everywhere\"\n\
                 [notify]\nwebhook_url = \"ftp://hooks.example/sekrit-token\"\ntimeout = \"1h\"\nretries = 99\n{BASE}\
                 [jobs.j]\ndatabase = \"a\"\nhealthcheck_url = \"not a url sekrit-token\"\n"
            )),
        )
        .unwrap_err()
        .to_string();
        for key in [
            "http.listen",
            "notify.webhook_url",
            "notify.timeout",
            "notify.retries",
            "jobs.j.healthcheck_url",
        ] {
            assert!(errors.contains(key), "{key} in\n{errors}");
        }
        assert!(!errors.contains("sekrit-token"), "{errors}");
        let localhost = from_toml(&format!(
            "[http]\nlisten = \"localhost:9187\"\n{BASE}[jobs.j]\ndatabase = \"a\"\n"
        ));
        assert_eq!(
            localhost.http.listen,
            Some("127.0.0.1:9187".parse().unwrap())
        );
    }
}
