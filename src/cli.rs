//! The command line: `run`, `backup`, `check`, and what each does with a
//! loaded configuration. Returns the process exit code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

pub mod inspect;

use crate::config::{self, Config, ConfigErrors};
use crate::destination::Store;
use crate::job::{self, Target};
use tokio_util::sync::CancellationToken;

/// Exit code when a backup did not fully succeed.
pub const EXIT_BACKUP_FAILED: u8 = 4;
/// Exit code for a wrong command line (clap's own errors).
pub const EXIT_USAGE: u8 = 64;

/// keepsake: PostgreSQL backups to S3-compatible storage, on a schedule.
#[derive(Debug, Parser)]
#[command(name = "keepsake", version, about, long_about = None)]
pub struct Cli {
    /// Config file (TOML). Default: /etc/keepsake/keepsake.toml when it
    /// exists, else the environment alone.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "KEEPSAKE_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: every job on its schedule until SIGTERM or SIGINT;
    /// the config file is reloaded when it changes and on SIGHUP.
    Run,
    /// Back up now; exits 0 only if every backup fully succeeded.
    Backup {
        /// Back up only this job (repeatable). Default: every job.
        #[arg(long = "job", value_name = "NAME")]
        jobs: Vec<String>,
    },
    /// Apply the retention rules now, or show what they would delete.
    Prune {
        /// Only this job (repeatable). Default: every job.
        #[arg(long = "job", value_name = "NAME")]
        jobs: Vec<String>,
        /// Print the plan; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate the configuration and print it, secrets shown as ***.
    Check,
    /// List every backup of each job, newest first.
    List {
        /// Only this job (repeatable). Default: every job.
        #[arg(long = "job", value_name = "NAME")]
        jobs: Vec<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into a database.
    Restore {
        #[arg(long, value_name = "NAME")]
        job: String,
        #[command(flatten)]
        pick: PickArgs,
        /// The target database (URL or conninfo; a password in it is passed
        /// to psql/pg_restore through the environment).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Create the target database if it does not exist.
        #[arg(long)]
        create: bool,
        /// Drop the target's objects first (refused without it when the
        /// target is not empty).
        #[arg(long)]
        clean: bool,
        /// Which of the job's storages to read (default: its first).
        #[arg(long, value_name = "NAME")]
        storage: Option<String>,
    },
    /// Check backups: checksum, size, decompression and structure, and
    /// optionally a real restore into a scratch database.
    Verify {
        #[arg(long, value_name = "NAME")]
        job: String,
        #[command(flatten)]
        pick: VerifyPick,
        /// Also restore into a scratch database on this server (created
        /// and dropped by keepsake) and count tables and rows.
        #[arg(long, value_name = "URL")]
        restore_into: Option<String>,
        /// Which of the job's storages to read (default: its first).
        #[arg(long, value_name = "NAME")]
        storage: Option<String>,
    },
}

/// Which backup: exactly one of these.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct PickArgs {
    /// The newest backup.
    #[arg(long)]
    pub latest: bool,
    /// The newest backup taken at or before TIME (RFC 3339, or
    /// 2026-11-28_03-00-00 in UTC as in the keys).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// This exact key.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
}

/// Which backups to verify: exactly one of these.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct VerifyPick {
    /// The newest backup.
    #[arg(long)]
    pub latest: bool,
    /// Every backup of the job.
    #[arg(long)]
    pub all: bool,
    /// This exact key.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
}

/// Where the configuration comes from: a file (maybe) and the environment.
pub struct Source {
    pub file: Option<PathBuf>,
    pub env: config::EnvVars,
}

impl Source {
    /// The CLI's file and the process environment.
    pub fn of(cli: &Cli) -> Source {
        let env = config::process_env();
        let file = config::choose_file(cli.config.as_deref(), &env);
        Source { file, env }
    }

    pub fn load(&self) -> Result<Config, ConfigErrors> {
        config::load(self.file.as_deref(), &self.env)
    }
}

/// `keepsake check`
pub fn check(config: &Config) -> u8 {
    print!("{}", config::show::render(config));
    0
}

/// Opens every storage the given jobs use, once each.
pub(crate) async fn open_targets(
    config: &Config,
    jobs: &[&config::JobConfig],
) -> BTreeMap<String, Arc<Store>> {
    let mut stores = BTreeMap::new();
    for name in jobs.iter().flat_map(|j| j.storage.iter()) {
        if !stores.contains_key(name) {
            let store = Store::open(&config.storage[name]).await;
            stores.insert(name.clone(), Arc::new(store));
        }
    }
    stores
}

/// The named jobs (all when none is named), or None after logging the
/// unknown names.
pub(crate) fn select_jobs<'a>(
    config: &'a Config,
    names: &[String],
) -> Option<Vec<&'a config::JobConfig>> {
    let unknown: Vec<&String> = names.iter().filter(|n| config.job(n).is_none()).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = config.jobs.iter().map(|j| j.name.as_str()).collect();
        tracing::error!(unknown = ?unknown, known = ?known, "no such job");
        return None;
    }
    Some(
        config
            .jobs
            .iter()
            .filter(|j| names.is_empty() || names.contains(&j.name))
            .collect(),
    )
}

fn targets_of(job: &config::JobConfig, stores: &BTreeMap<String, Arc<Store>>) -> Vec<Target> {
    job.storage
        .iter()
        .map(|name| Target {
            name: name.clone(),
            store: Arc::clone(&stores[name]),
        })
        .collect()
}

/// `keepsake backup [--job NAME]...`: SIGTERM or SIGINT aborts cleanly.
pub async fn backup(config: &Config, names: &[String]) -> u8 {
    let Some(jobs) = select_jobs(config, names) else {
        return 1;
    };
    let stores = open_targets(config, &jobs).await;
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if let Ok(signal) = wait_for_signal().await {
            tracing::warn!(signal, "aborting the backup");
            on_signal.cancel();
        }
    });
    let mut failed = 0;
    for job in &jobs {
        let targets = targets_of(job, &stores);
        if let Err(e) = job::run_job(job, &targets, jiff::Timestamp::now(), &cancel).await {
            tracing::error!(job = %job.name, error = %e, "backup failed");
            failed += 1;
        }
    }
    if failed > 0 {
        tracing::error!(failed, total = jobs.len(), "not every backup succeeded");
        EXIT_BACKUP_FAILED
    } else {
        0
    }
}

/// `keepsake prune [--job NAME]... [--dry-run]`: prints, per job and
/// storage, every backup with KEEP (and why) or DELETE.
pub async fn prune(config: &Config, names: &[String], dry_run: bool) -> u8 {
    let Some(jobs) = select_jobs(config, names) else {
        return 1;
    };
    let stores = open_targets(config, &jobs).await;
    let mut failed = false;
    for job in &jobs {
        for target in targets_of(job, &stores) {
            let now = jiff::Timestamp::now();
            match crate::prune::prune(job, &target.name, &target.store, now, dry_run).await {
                Ok(report) => {
                    println!(
                        "job {} in storage {} ({}):",
                        job.name,
                        target.name,
                        target.store.describe()
                    );
                    for d in &report.decisions {
                        if d.deleted() {
                            let verb = if dry_run { "would delete" } else { "DELETE" };
                            println!("  {verb:<12} {}", d.backup.key);
                        } else {
                            let why: Vec<String> = d.keep.iter().map(ToString::to_string).collect();
                            println!("  {:<12} {} ({})", "KEEP", d.backup.key, why.join(", "));
                        }
                    }
                    if report.decisions.is_empty() {
                        println!("  (no backups)");
                    }
                    failed |= report.failed > 0;
                }
                Err(e) => {
                    tracing::error!(job = %job.name, storage = %target.name, error = %e, "cannot list the backups");
                    failed = true;
                }
            }
        }
    }
    if failed { EXIT_BACKUP_FAILED } else { 0 }
}

/// Logs what the agent runs, secrets redacted.
fn log_effective_config(config: &Config) {
    for (name, storage) in &config.storage {
        match storage {
            config::StorageConfig::S3(s3) => tracing::info!(
                storage = %name,
                bucket = %s3.bucket,
                prefix = %s3.prefix,
                endpoint = s3.endpoint.as_deref().unwrap_or("(AWS)"),
                region = %s3.region,
                credentials = if s3.credentials.is_some() { "static keys" } else { "AWS credential chain" },
                "storage configured"
            ),
            config::StorageConfig::Local(local) => tracing::info!(
                storage = %name,
                path = %local.path.display(),
                prefix = %local.prefix,
                "storage configured"
            ),
        }
    }
    for job in &config.jobs {
        tracing::info!(
            job = %job.name,
            database = %job.database_display,
            schedule = job.schedule.as_ref().map_or("(on demand)", |s| s.expr.as_str()),
            timezone = %job.timezone.name,
            storage = ?job.storage,
            format = ?job.format,
            compression = ?job.compression.kind,
            "job configured"
        );
    }
}

/// `keepsake run`: the agent, until SIGTERM or SIGINT; reloads the config
/// file when it changes and on SIGHUP.
pub async fn run(config: Config, source: &Source) -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    log_effective_config(&config);
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
    let mut watch = match &source.file {
        Some(file) => match crate::reload::ConfigWatch::start(file) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot watch the config file; reload with SIGHUP");
                None
            }
        },
        None => None,
    };
    let mut agent = crate::agent::Agent::start(config, Arc::new(crate::clock::SystemClock)).await;
    loop {
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
        };
        tracing::info!(reason = why, "reloading the configuration");
        match source.load() {
            Ok(new) => {
                log_effective_config(&new);
                agent.apply(new).await;
            }
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!(problem = %e, "the new configuration is invalid; the running one stays");
                }
            }
        }
    }
    tracing::info!("stopping: no new backups start");
    agent.shutdown().await;
    0
}

async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => Ok("SIGTERM"),
        _ = int.recv() => Ok("SIGINT"),
    }
}
