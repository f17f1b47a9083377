//! The `keepsake` binary: parse the command line, load the configuration,
//! set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser;
use keepsake::cli::{self, Cli, Command};

fn main() -> ExitCode {
    keepsake::allocator::tune();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { cli::EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let source = cli::Source::of(&cli);
    let config = match source.load() {
        Ok(config) => config,
        Err(errors) => {
            eprint!("keepsake: {errors}");
            return ExitCode::from(errors.exit_code());
        }
    };
    if let Command::Check = cli.command {
        return ExitCode::from(cli::check(&config));
    }
    let _guard = keepsake::logging::init(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keepsake: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async {
        match &cli.command {
            Command::Run => cli::run(config, &source).await,
            Command::Backup { jobs } => cli::backup(&config, jobs).await,
            Command::Prune { jobs, dry_run } => cli::prune(&config, jobs, *dry_run).await,
            Command::List { jobs, json } => cli::inspect::list(&config, jobs, *json).await,
            Command::Restore {
                job,
                pick,
                to,
                create,
                clean,
                storage,
            } => {
                cli::inspect::restore(&config, job, pick, to, *create, *clean, storage.as_deref())
                    .await
            }
            Command::Verify {
                job,
                pick,
                restore_into,
                storage,
            } => {
                cli::inspect::verify(
                    &config,
                    job,
                    pick,
                    restore_into.as_deref(),
                    storage.as_deref(),
                )
                .await
            }
            Command::Check => unreachable!("handled above"),
        }
    });
    ExitCode::from(code)
}
