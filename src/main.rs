//! The `keepsake` binary: parse the command line, load the configuration,
//! set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser;
use keepsake::cli::{self, Cli, Command};
use keepsake::config::ConfigSource;

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
    // These need no configuration.
    match &cli.command {
        Command::Completions { shell } => {
            return ExitCode::from(cli::generate::completions(*shell));
        }
        Command::Manual { dir } => return ExitCode::from(cli::generate::manual(dir)),
        _ => {}
    }
    let source = ConfigSource::from_process(cli.config.as_deref());
    let config = match source.load() {
        Ok(config) => config,
        Err(errors) => {
            eprint!("keepsake: {errors}");
            return ExitCode::from(errors.exit_code());
        }
    };
    let uses_s3 = config
        .storage
        .values()
        .any(|s| matches!(s, keepsake::config::StorageConfig::S3(_)));
    if uses_s3 && let Some(problem) = keepsake::storage::s3::trust_store_problem() {
        eprintln!("keepsake: {problem}");
        return ExitCode::from(1);
    }
    // check and health print their own words; no log lines around them.
    let quiet = matches!(cli.command, Command::Check { .. } | Command::Health);
    let by_hand = matches!(
        cli.command,
        Command::Backup { .. } | Command::Restore { .. } | Command::Verify { .. }
    );
    if by_hand && config.log.format == keepsake::config::LogFormat::Text {
        keepsake::progress::live_if_terminal();
    }
    let _guard = (!quiet).then(|| keepsake::logging::init(&config.log));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keepsake: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    ExitCode::from(runtime.block_on(cli::dispatch(&cli, config, &source)))
}
