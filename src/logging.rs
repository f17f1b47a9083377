//! Logging setup: text or JSON lines on stderr through a non-blocking
//! writer; `RUST_LOG` overrides the configured level.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Lines queued for the writer thread. The crate's default (128,000) is a
/// channel allocated and touched up front: 4 MiB of an idle agent's RSS.
const QUEUED_LINES: usize = 4096;

/// Installs the global subscriber. Keep the guard alive until exit so that
/// buffered lines are written.
pub fn init(settings: &LogSettings) -> WorkerGuard {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,keepsake={}", settings.level)));
    // Not lossy: when stderr is slow, logging waits rather than dropping the
    // line an operator may need.
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(false)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let installed = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(e) = installed {
        eprintln!("keepsake: logging was already set up: {e}");
    }
    guard
}
