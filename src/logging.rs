//! Logging setup: text or JSON lines on stderr through a non-blocking
//! writer; `RUST_LOG` overrides the configured level, but never opens the
//! debug output of the crates that sign and send S3 requests.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::config::{LogFormat, LogSettings};

/// Lines queued for the writer thread. The crate's default (128,000) is a
/// channel allocated and touched up front: 4 MiB of an idle agent's RSS.
const QUEUED_LINES: usize = 4096;

/// Target prefixes whose debug and trace events can hold credentials:
/// the AWS SDK (`aws_sigv4` logs the canonical request and the credential
/// scope, which carry the access key id and any session token; the
/// credential providers and the orchestrator log what they load and send)
/// and the HTTP stack under it (request headers, `Authorization` too).
/// Targets match by prefix: `aws_` covers `aws_smithy_runtime`,
/// `aws_config`, ...
const CAPPED_TARGETS: &[&str] = &["aws_", "hyper", "h2"];

/// The most a capped target may log unless it is named.
const CAP: LevelFilter = LevelFilter::INFO;

/// Installs the global subscriber. Keep the guard alive until exit so that
/// buffered lines are written.
pub fn init(settings: &LogSettings) -> WorkerGuard {
    crate::progress::set_interval(settings.progress_interval);
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = level_filter(rust_log.as_deref(), &settings.level)
        .and(credential_caps(rust_log.as_deref()));
    // Not lossy: when stderr is slow, logging waits rather than dropping the
    // line an operator may need.
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(false)
        .finish(crate::progress::LogWriter);
    let layer = fmt::layer()
        .with_writer(writer)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let registry = tracing_subscriber::registry();
    let installed = match settings.format {
        LogFormat::Text => registry.with(layer.with_filter(filter)).try_init(),
        LogFormat::Json => registry
            .with(layer.json().flatten_event(true).with_filter(filter))
            .try_init(),
    };
    if let Err(e) = installed {
        eprintln!("keepsake: logging was already set up: {e}");
    }
    guard
}

/// What is logged: `RUST_LOG` when it is set and valid, else `warn` for
/// every crate and the configured level for keepsake's own lines.
fn level_filter(rust_log: Option<&str>, level: &str) -> EnvFilter {
    rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("warn,keepsake={level}")))
}

/// A ceiling combined with [`level_filter`] (both must let an event
/// through, so it only ever lowers a level): [`CAPPED_TARGETS`] log at
/// most at [`CAP`], whatever `LOG_LEVEL` or a blanket `RUST_LOG=trace`
/// says. The configured level never reaches them anyway (it applies to
/// keepsake's target only).
///
/// Decision: a `RUST_LOG` directive that names a capped crate itself
/// (`RUST_LOG=aws_sigv4=trace`, `hyper_util=debug`) is an operator
/// debugging that crate on purpose, and gets what it asks for; a prefix of
/// one (`aws=trace`) or a bare level does not count. Such output may show
/// the access key id and session token: it is for a terminal, not for
/// logs that are kept.
fn credential_caps(rust_log: Option<&str>) -> Targets {
    let mut caps = Targets::new().with_default(LevelFilter::TRACE);
    for target in CAPPED_TARGETS {
        caps = caps.with_target(*target, CAP);
    }
    for target in rust_log.map(named_targets).unwrap_or_default() {
        if CAPPED_TARGETS.iter().any(|c| target.starts_with(c)) {
            caps = caps.with_target(target, LevelFilter::TRACE);
        }
    }
    caps
}

/// The targets `RUST_LOG` directives name: `a=debug`, `a[span]=trace` and a
/// bare `a` name `a`; a bare level names none.
fn named_targets(rust_log: &str) -> Vec<String> {
    rust_log
        .split(',')
        .filter_map(|directive| {
            let (target, has_level) = match directive.split_once('=') {
                Some((target, _)) => (target, true),
                None => (directive, false),
            };
            let target = target.split('[').next().unwrap_or_default().trim();
            let is_level = !has_level && target.parse::<LevelFilter>().is_ok();
            (!target.is_empty() && !is_level).then(|| target.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::Level;
    use tracing_subscriber::layer::Context;

    use super::*;

    /// Records `target level` of every event that reaches it.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let meta = event.metadata();
            let line = format!("{} {}", meta.target(), meta.level());
            self.0.lock().unwrap().push(line);
        }
    }

    /// What gets through with `RUST_LOG` and `LOG_LEVEL` as given, of one
    /// event per target at debug and one at trace.
    fn passed(rust_log: Option<&str>, level: &str) -> Vec<String> {
        let seen = Seen::default();
        let filter = level_filter(rust_log, level).and(credential_caps(rust_log));
        let subscriber = tracing_subscriber::registry().with(seen.clone().with_filter(filter));
        tracing::subscriber::with_default(subscriber, || {
            tracing::event!(target: "aws_sigv4::sign", Level::TRACE, "canonical request");
            tracing::event!(target: "aws_sigv4::sign", Level::DEBUG, "string to sign");
            tracing::event!(target: "aws_sigv4::sign", Level::INFO, "info");
            tracing::event!(target: "aws_smithy_runtime::client", Level::DEBUG, "request");
            tracing::event!(target: "aws_config::default_provider", Level::DEBUG, "creds");
            tracing::event!(target: "hyper_util::client", Level::TRACE, "headers");
            tracing::event!(target: "keepsake::backup", Level::TRACE, "ours");
            tracing::event!(target: "keepsake::backup", Level::DEBUG, "ours");
        });
        let mut lines = seen.0.lock().unwrap().clone();
        lines.sort();
        lines
    }

    #[test]
    fn the_configured_level_is_for_keepsake_only() {
        assert_eq!(
            passed(None, "trace"),
            ["keepsake::backup DEBUG", "keepsake::backup TRACE"]
        );
        assert!(passed(None, "info").is_empty());
    }

    #[test]
    fn a_blanket_rust_log_never_opens_the_sdks_debug_output() {
        let ours = ["keepsake::backup DEBUG", "keepsake::backup TRACE"];
        for (blanket, keepsake) in [
            ("trace", &ours[..]),
            ("TRACE", &ours[..]),
            ("debug", &ours[..1]),
            ("aws=trace", &[][..]),
            ("trace,aws=trace", &ours[..]),
        ] {
            let mut want = vec!["aws_sigv4::sign INFO"];
            want.extend(keepsake);
            assert_eq!(passed(Some(blanket), "info"), want, "RUST_LOG={blanket}");
        }
    }

    #[test]
    fn the_cap_never_raises_a_level() {
        assert!(passed(Some("error"), "trace").is_empty());
        assert!(passed(Some("off"), "info").is_empty());
    }

    #[test]
    fn naming_a_capped_crate_opens_that_crate_only() {
        assert_eq!(
            passed(Some("warn,aws_sigv4=trace"), "info"),
            [
                "aws_sigv4::sign DEBUG",
                "aws_sigv4::sign INFO",
                "aws_sigv4::sign TRACE"
            ]
        );
        assert_eq!(
            passed(Some("trace,hyper_util[conn]=trace"), "info")
                .into_iter()
                .filter(|l| !l.starts_with("keepsake"))
                .collect::<Vec<_>>(),
            ["aws_sigv4::sign INFO", "hyper_util::client TRACE"]
        );
    }

    #[test]
    fn directives_name_targets_not_levels() {
        assert_eq!(
            named_targets("info,aws_sigv4=trace, hyper[span{a=1}]=debug,h2,WARN,,=x"),
            ["aws_sigv4", "hyper", "h2"]
        );
    }

    #[test]
    fn an_invalid_rust_log_falls_back_to_the_configured_level() {
        assert_eq!(
            passed(Some("aws_sigv4=loud"), "debug"),
            ["keepsake::backup DEBUG"]
        );
    }
}
