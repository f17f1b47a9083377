//! One job's life in the agent: a loop that sleeps until the next cron
//! occurrence in the job's zone and triggers a run; a run that never
//! overlaps the job's previous one and waits for a free slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{self, Clock};
use crate::config::JobConfig;
use crate::schedule::{self, Schedule};
use crate::storage::NamedStorage;
use jiff::Zoned;
use jiff::tz::TimeZone;

/// What every job task shares with the agent.
pub struct Shared {
    /// One permit per backup allowed to run at once.
    pub permits: Arc<Semaphore>,
    pub max_concurrent: usize,
    /// Every running backup, so that shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Fired when shutdown stops waiting: running backups abort.
    pub abort_backups: CancellationToken,
    pub clock: Arc<dyn Clock>,
    /// Where runs are counted and notified.
    pub monitor: crate::monitor::Monitor,
}

/// A job as the agent schedules it: its settings, its storages, and the
/// flag that keeps two of its runs from overlapping.
#[derive(Clone)]
pub struct ScheduledJob {
    pub job: Arc<JobConfig>,
    pub storages: Arc<Vec<NamedStorage>>,
    /// Set while a backup of this job runs; kept across reschedules so a
    /// changed job never overlaps its own earlier run.
    pub running: Arc<AtomicBool>,
    pub shared: Arc<Shared>,
}

/// Sleeps until each next occurrence and triggers a run, until `stop`.
pub async fn schedule_loop(run: ScheduledJob, stop: CancellationToken, run_now: bool) {
    let job = &run.job;
    if run_now {
        tracing::info!(job = %job.name, "running once at start");
        trigger(&run);
    }
    let Some(schedule) = &job.schedule else {
        tracing::info!(job = %job.name, "no schedule: this job runs only with `keepsake backup`");
        return;
    };
    let clock = run.shared.clock.as_ref();
    tick_loop(
        schedule,
        &job.timezone.tz,
        clock,
        &stop,
        |next| {
            tracing::info!(job = %job.name, next_run = %next, "next run scheduled");
        },
        || trigger(&run),
    )
    .await;
    tracing::debug!(job = %job.name, "schedule stopped");
}

/// The timing core of a job: for each occurrence of `schedule` in `tz`,
/// announce it, sleep until `clock` reaches it, then fire. Each occurrence
/// is computed afresh from the clock, so DST changes never shift it.
pub async fn tick_loop(
    schedule: &Schedule,
    tz: &TimeZone,
    clock: &dyn Clock,
    stop: &CancellationToken,
    mut announce: impl FnMut(&Zoned),
    mut fire: impl FnMut(),
) {
    let mut after = clock.now();
    loop {
        let Some(next) = schedule::next_after(schedule, tz, after) else {
            tracing::warn!(schedule = %schedule.expr, "the schedule never fires again");
            return;
        };
        announce(&next);
        tokio::select! {
            _ = clock::sleep_until(clock, next.timestamp()) => {}
            _ = stop.cancelled() => return,
        }
        fire();
        // Strictly after this occurrence, even if the clock reads earlier.
        after = clock.now().max(next.timestamp());
    }
}

/// Starts a backup of the job unless one is already running.
pub fn trigger(run: &ScheduledJob) {
    let name = &run.job.name;
    if run.running.swap(true, Ordering::SeqCst) {
        tracing::warn!(job = %name, "the previous backup is still running; this run is skipped");
        return;
    }
    let owned = run.clone();
    let work = async move { execute(&owned).await };
    spawn_run(&run.shared.tracker, Arc::clone(&run.running), name, work);
}

/// Clears a job's "running" flag however its run ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Runs `work` as the job's run, tracked for shutdown; a panic in it is
/// reported as the run's failure, and the job's slot is freed whatever
/// happens, so its next run is never skipped.
fn spawn_run(
    tracker: &TaskTracker,
    running: Arc<AtomicBool>,
    job: &str,
    work: impl Future<Output = ()> + Send + 'static,
) {
    let job = job.to_string();
    tracker.spawn(async move {
        let _running = Running(running);
        if let Err(e) = tokio::spawn(work).await
            && e.is_panic()
        {
            let message = crate::monitor::panic_message(e.into_panic());
            tracing::error!(job = %job, error = %message, "backup failed: keepsake panicked (please report it); the job runs again at its next time");
        }
    });
}

/// Waits for a slot, then runs the job (backup, verification, retention),
/// reported to the monitor.
async fn execute(run: &ScheduledJob) {
    let shared = &run.shared;
    let name = &run.job.name;
    let permit = match shared.permits.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            tracing::info!(job = %name, max_concurrent = shared.max_concurrent, "waiting for a free backup slot");
            tokio::select! {
                permit = shared.permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
                _ = shared.abort_backups.cancelled() => {
                    tracing::warn!(job = %name, "shutdown before a slot was free; this run is skipped");
                    return;
                }
            }
        }
    };
    let now = shared.clock.now();
    shared
        .monitor
        .run(&run.job, &run.storages, now, &shared.abort_backups)
        .await;
    drop(permit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;

    /// Two weeks of a daily 03:00 Berlin job in one loop, across the autumn
    /// change, in paused time.
    #[tokio::test(start_paused = true)]
    async fn one_long_running_loop_fires_at_local_time_across_dst() {
        let clock = TokioClock::starting_at("2026-10-20T12:00:00Z".parse().unwrap());
        let schedule = schedule::parse("0 3 * * *").unwrap();
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let stop = CancellationToken::new();
        let mut fired = Vec::new();
        let mut announced = Vec::new();
        tick_loop(
            &schedule,
            &berlin,
            &clock,
            &stop,
            |next| announced.push(next.clone()),
            || {
                fired.push(clock.now().to_zoned(berlin.clone()));
                if fired.len() == 14 {
                    stop.cancel();
                }
            },
        )
        .await;
        assert_eq!(fired.len(), 14);
        for (at, planned) in fired.iter().zip(&announced) {
            assert_eq!((at.hour(), at.minute()), (3, 0), "{at}");
            assert_eq!(at.timestamp(), planned.timestamp());
        }
        assert_eq!(fired[3].strftime("%F %:z").to_string(), "2026-10-24 +02:00");
        assert_eq!(fired[4].strftime("%F %:z").to_string(), "2026-10-25 +01:00");
    }

    #[tokio::test]
    async fn a_panicking_run_is_reported_and_frees_the_jobs_slot() {
        let tracker = TaskTracker::new();
        let running = Arc::new(AtomicBool::new(true));
        spawn_run(&tracker, Arc::clone(&running), "shop", async {
            panic!("boom");
        });
        tracker.close();
        tracker.wait().await;
        assert!(!running.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_ends_the_loop_without_firing() {
        let clock = TokioClock::starting_at("2026-10-20T12:00:00Z".parse().unwrap());
        let schedule = schedule::parse("0 3 * * *").unwrap();
        let stop = CancellationToken::new();
        stop.cancel();
        let mut fired = 0;
        tick_loop(
            &schedule,
            &TimeZone::UTC,
            &clock,
            &stop,
            |_| {},
            || fired += 1,
        )
        .await;
        assert_eq!(fired, 0);
    }
}
