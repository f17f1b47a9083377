//! `keepsake completions SHELL` and the hidden `keepsake manual DIR`:
//! shell completions and man pages, made from the command line's own
//! definitions (the package installs both).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> u8 {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "keepsake", &mut script);
    // A closed pipe (`| head`) is no error worth a panic.
    match std::io::stdout().write_all(&script) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("keepsake: cannot write the completion script: {e}");
            1
        }
    }
}

/// Writes `keepsake.1` and one page per command (`keepsake-backup.1`,
/// ...) into `dir`.
pub fn manual(dir: &Path) -> u8 {
    let written =
        std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(Cli::command(), dir));
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!(
                "keepsake: cannot write the man pages into {}: {e}",
                dir.display()
            );
            1
        }
    }
}
