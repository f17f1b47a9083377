//! The command line: `run`, `backup`, `check`, and what each does with a
//! loaded configuration. Returns the process exit code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, ConfigErrors};
use crate::destination::Store;
use crate::job::{self, Target};

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
    /// Run the agent (validates the configuration and waits for a signal;
    /// scheduling arrives in a later release).
    Run,
    /// Back up now; exits 0 only if every backup fully succeeded.
    Backup {
        /// Back up only this job (repeatable). Default: every job.
        #[arg(long = "job", value_name = "NAME")]
        jobs: Vec<String>,
    },
    /// Validate the configuration and print it, secrets shown as ***.
    Check,
}

/// Loads the configuration from the CLI's file and the process environment.
pub fn load_config(cli: &Cli) -> Result<Config, ConfigErrors> {
    let env = config::process_env();
    let file = config::choose_file(cli.config.as_deref(), &env);
    config::load(file.as_deref(), &env)
}

/// Says plainly that this release does not delete old backups yet.
fn warn_retention_pending(config: &Config) {
    for job in config.jobs.iter().filter(|j| j.retention.has_rules()) {
        tracing::warn!(
            job = %job.name,
            "retention rules are validated but not applied by this release; no backup is deleted"
        );
    }
}

/// `keepsake check`
pub fn check(config: &Config) -> u8 {
    print!("{}", config::show::render(config));
    0
}

/// Opens every storage the given jobs use, once each.
async fn open_targets(
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

/// `keepsake backup [--job NAME]...`
pub async fn backup(config: &Config, names: &[String]) -> u8 {
    let unknown: Vec<&String> = names.iter().filter(|n| config.job(n).is_none()).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = config.jobs.iter().map(|j| j.name.as_str()).collect();
        tracing::error!(unknown = ?unknown, known = ?known, "no such job");
        return 1;
    }
    let jobs: Vec<&config::JobConfig> = config
        .jobs
        .iter()
        .filter(|j| names.is_empty() || names.contains(&j.name))
        .collect();
    warn_retention_pending(config);
    let stores = open_targets(config, &jobs).await;
    let mut failed = 0;
    for job in &jobs {
        let targets: Vec<Target> = job
            .storage
            .iter()
            .map(|name| Target {
                name: name.clone(),
                store: Arc::clone(&stores[name]),
            })
            .collect();
        if let Err(e) = job::run_once(job, &targets, jiff::Timestamp::now()).await {
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

/// `keepsake run`: for now, log the effective configuration and wait for
/// SIGTERM or SIGINT.
pub async fn run(config: &Config) -> u8 {
    warn_retention_pending(config);
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
            storage = ?job.storage,
            format = ?job.format,
            compression = ?job.compression.kind,
            "job configured"
        );
    }
    tracing::info!(
        jobs = config.jobs.len(),
        "keepsake agent started; waiting for a signal"
    );
    match wait_for_signal().await {
        Ok(signal) => {
            tracing::info!(signal, "stopping");
            0
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for signals");
            1
        }
    }
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
