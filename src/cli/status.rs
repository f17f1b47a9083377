//! `keepsake status`: per job and storage, the newest complete backup, its
//! age and size, the next scheduled run, and whether it is fresh; read
//! from the storages, so it works without a running agent.

use jiff::{SignedDuration, Timestamp};

use super::{EXIT_BACKUP_FAILED, select_jobs};
use crate::catalog;
use crate::config::{Config, JobConfig};
use crate::freshness::{self, Freshness};
use crate::schedule;
use crate::storage::{self, NamedStorage};

/// Exit code when a job's newest backup is stale, or it has none.
pub const EXIT_STALE: u8 = 5;

/// What status says of one job in one storage.
#[derive(Debug, serde::Serialize)]
struct Row {
    job: String,
    storage: String,
    state: &'static str,
    newest_key: Option<String>,
    newest_taken: Option<String>,
    age_seconds: Option<i64>,
    size: Option<u64>,
    stale_after_seconds: Option<i64>,
    next_run: Option<String>,
}

/// `keepsake status [--job NAME]... [--json]`: 0 when every job is fresh
/// everywhere, 5 when one is stale or has no backup, 4 when a storage
/// cannot be read.
pub async fn status(config: &Config, names: &[String], json: bool) -> u8 {
    let Some(jobs) = select_jobs(config, names) else {
        return 1;
    };
    let opened = storage::for_jobs(config, &jobs).await;
    let now = Timestamp::now();
    let mut rows = Vec::new();
    for job in jobs {
        for s in storage::of_job(job, &opened) {
            let row = row(job, &s, now).await;
            if !json {
                println!("{}", line(&row));
            }
            rows.push(row);
        }
    }
    if json {
        println!("{}", serde_json::to_string(&rows).expect("rows serialise"));
    }
    // 4 (unreadable) outranks 5 (stale): what is unknown may be worse.
    if rows.iter().any(|r| r.state == "error") {
        EXIT_BACKUP_FAILED
    } else if rows.iter().any(|r| r.state != Freshness::Fresh.as_str()) {
        EXIT_STALE
    } else {
        0
    }
}

async fn row(job: &JobConfig, s: &NamedStorage, now: Timestamp) -> Row {
    let tz = &job.timezone.tz;
    let limit = freshness::stale_after(job.stale_after, job.schedule.as_ref(), tz, now);
    let next = job
        .schedule
        .as_ref()
        .and_then(|sched| schedule::next_after(sched, tz, now));
    let mut row = Row {
        job: job.name.clone(),
        storage: s.name.clone(),
        state: "error",
        newest_key: None,
        newest_taken: None,
        age_seconds: None,
        size: None,
        stale_after_seconds: limit.map(|d| d.as_secs()),
        next_run: next.map(|z| z.to_string()),
    };
    let backups = match crate::cluster::all_backups(job, s.storage.as_ref()).await {
        Ok(backups) => backups,
        Err(e) => {
            tracing::error!(job = %job.name, storage = %s.name, error = %e, "cannot list the backups");
            return row;
        }
    };
    let newest = catalog::pick(&backups, &catalog::Pick::Latest, now).ok();
    row.state = freshness::judge(newest.map(|b| b.name.at), limit, now).as_str();
    if let Some(b) = newest {
        row.newest_key = Some(b.key.clone());
        row.newest_taken = Some(b.name.at.to_string());
        row.age_seconds = Some(now.duration_since(b.name.at).as_secs());
        row.size = Some(b.size);
    }
    row
}

/// One line for people.
fn line(row: &Row) -> String {
    let span = |secs: i64| {
        let rounded = SignedDuration::from_secs(secs - secs % 60);
        humantime::format_duration(rounded.unsigned_abs()).to_string()
    };
    let newest = match (&row.newest_taken, row.age_seconds, row.size) {
        (Some(taken), Some(age), Some(size)) => {
            format!("newest {taken} ({} ago, {size} bytes)", span(age))
        }
        _ => "no complete backup".to_string(),
    };
    let limit = row
        .stale_after_seconds
        .map(|s| format!("stale after {}", span(s)))
        .unwrap_or_else(|| "no staleness limit".into());
    let next = row
        .next_run
        .as_deref()
        .map(|n| format!("next run {n}"))
        .unwrap_or_else(|| "no schedule".into());
    let state = if row.state == Freshness::Fresh.as_str() {
        "FRESH".to_string()
    } else {
        row.state.to_uppercase()
    };
    format!(
        "{state:<9} {} in {}: {newest}; {limit}; {next}",
        row.job, row.storage
    )
}
