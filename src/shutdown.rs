//! SIGTERM and SIGINT, for the commands that must stop cleanly on them:
//! a token that fires on the first one.

use tokio_util::sync::CancellationToken;

/// Waits for SIGTERM or SIGINT; which one arrived.
pub async fn signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => Ok("SIGTERM"),
        _ = int.recv() => Ok("SIGINT"),
    }
}

/// A token cancelled on the first SIGTERM or SIGINT, which is logged as
/// aborting `what`.
pub fn on_signal(what: &'static str) -> CancellationToken {
    let cancel = CancellationToken::new();
    let fired = cancel.clone();
    tokio::spawn(async move {
        if let Ok(signal) = signal().await {
            tracing::warn!(signal, "aborting the {what}");
            fired.cancel();
        }
    });
    cancel
}
