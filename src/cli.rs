//! The command line: clap's definitions, and [`dispatch`] to what each
//! command does with a loaded configuration. Every command returns the
//! process exit code.
//!
//! - [`backup`]: `backup` and `prune`, which write to the storages;
//! - [`list`]: `list`, and [`status`]: `status`, which only read;
//! - [`restore`]: `restore` and `verify`, which read a backup back;
//! - [`check`]: `check`, the configuration (and `--connect`);
//! - [`health`]: `health`, which asks a running agent;
//! - [`generate`]: `completions` and `manual`, which need no configuration;
//! - `run` is the agent ([`crate::agent::daemon`]).

pub mod backup;
pub mod check;
pub mod generate;
pub mod health;
pub mod list;
pub mod restore;
pub mod status;
pub mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, ConfigSource};

/// Exit code when a backup did not fully succeed.
pub const EXIT_BACKUP_FAILED: u8 = 4;
/// Exit code for a wrong command line (clap's own errors).
pub const EXIT_USAGE: u8 = 64;

/// keepsake: PostgreSQL backups to S3-compatible storage, on a schedule.
#[derive(Debug, Parser)]
#[command(name = "keepsake", version, about, long_about = None)]
pub struct Cli {
    /// Config file (TOML); also KEEPSAKE_CONFIG (empty counts as unset).
    /// Default: /etc/keepsake/keepsake.toml when it exists and the
    /// environment does not describe a job of its own, else the
    /// environment alone.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
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
    Check {
        /// Print nothing when all is well (for a service's pre-start check).
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Also connect to each job's database and find a pg_dump that
        /// fits it; exit 1 when a server refuses keepsake (a missing role,
        /// a wrong password), a warning when it cannot be reached now.
        #[arg(long)]
        connect: bool,
    },
    /// Ask the running agent's /healthz (http.listen); exit 0 when healthy.
    Health,
    /// Print the shell completion script for SHELL.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages into DIR (for packaging).
    #[command(hide = true)]
    Manual {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// List every backup of each job, newest first.
    List {
        /// Only this job (repeatable). Default: every job.
        #[arg(long = "job", value_name = "NAME")]
        jobs: Vec<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Per job and storage: the newest complete backup, its age, the next
    /// run, and fresh or stale (exit 5 when any is stale or has none).
    Status {
        /// Only this job (repeatable). Default: every job.
        #[arg(long = "job", value_name = "NAME")]
        jobs: Vec<String>,
        /// One JSON document instead of lines.
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
        /// Do not restore who owns each object: the restoring role owns
        /// everything (archives only; for a server without the dump's roles).
        #[arg(long)]
        no_owner: bool,
        /// Do not restore GRANTs and REVOKEs (archives only).
        #[arg(long)]
        no_privileges: bool,
        /// Restore as this role (SET ROLE); the connecting user must be a
        /// member of it.
        #[arg(long, value_name = "NAME")]
        role: Option<String>,
        #[command(flatten)]
        from: ReadFrom,
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
        #[command(flatten)]
        from: ReadFrom,
    },
}

/// Where stored backups are read from, and the key that opens them.
#[derive(Debug, clap::Args)]
pub struct ReadFrom {
    /// Which of the job's storages to read (default: its first).
    #[arg(long, value_name = "NAME")]
    pub storage: Option<String>,
    /// An age identity file (the private key, as age-keygen writes it)
    /// for encrypted backups. Without it, verify checks an encrypted
    /// backup's checksum and size only.
    #[arg(long, value_name = "FILE", env = "AGE_IDENTITY_FILE")]
    pub identity: Option<PathBuf>,
    /// Of a job of several databases: this database's backups.
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Of a job with `globals = true`: its globals (roles, memberships,
    /// tablespaces). With --database, restore restores the globals first.
    #[arg(long)]
    pub globals: bool,
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

/// Runs the command `cli` names with `config` (loaded from `source`).
pub async fn dispatch(cli: &Cli, config: Config, source: &ConfigSource) -> u8 {
    match &cli.command {
        Command::Run => crate::agent::daemon::run(config, source).await,
        Command::Check { quiet, connect } => check::check(&config, *quiet, *connect).await,
        Command::Health => health::health(&config).await,
        Command::Completions { shell } => generate::completions(*shell),
        Command::Manual { dir } => generate::manual(dir),
        Command::Backup { jobs } => backup::backup(&config, jobs).await,
        Command::Prune { jobs, dry_run } => backup::prune(&config, jobs, *dry_run).await,
        Command::List { jobs, json } => list::list(&config, jobs, *json).await,
        Command::Status { jobs, json } => status::status(&config, jobs, *json).await,
        Command::Restore {
            job,
            pick,
            to,
            create,
            clean,
            no_owner,
            no_privileges,
            role,
            from,
        } => {
            let flags = crate::restore::RestoreFlags {
                create: *create,
                clean: *clean,
                no_owner: *no_owner,
                no_privileges: *no_privileges,
                role: role.clone(),
                identities: None,
            };
            restore::restore(&config, job, pick, to, flags, from).await
        }
        Command::Verify {
            job,
            pick,
            restore_into,
            from,
        } => verify::verify(&config, job, pick, restore_into.as_deref(), from).await,
    }
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
