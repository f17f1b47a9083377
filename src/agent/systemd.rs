//! Telling systemd (a `Type=notify` unit) how the agent is: READY=1 once
//! the configuration is loaded and every schedule set, RELOADING=1 and
//! READY=1 around a reload, STOPPING=1 on a stop, and WATCHDOG=1 from the
//! agent's own loop, so a wedged agent stops pinging and is restarted.
//! Without systemd (no NOTIFY_SOCKET) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

pub fn ready(jobs: usize) {
    let status = format!("running {jobs} jobs");
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to ping the watchdog: half its timeout (`WatchdogSec=`);
/// None when systemd asked for no watchdog.
pub fn watchdog_every() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| (timeout / 2).max(Duration::from_millis(100)))
}
