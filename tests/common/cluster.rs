//! A PostgreSQL cluster of a test's own: `initdb` (as the `postgres` user,
//! trust authentication) on a free port, stopped and removed when dropped.
//! For tests that back up or restore a whole cluster, where the databases
//! other tests create on the shared cluster must not count.

use std::path::PathBuf;
use std::process::Command;

use super::{psql_at, real_pg_dump};

pub struct Cluster {
    pub port: String,
    dir: PathBuf,
    bindir: PathBuf,
}

fn run_as_postgres(program: &PathBuf, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// A new, empty cluster of the installed PostgreSQL, running.
    pub fn start(name: &str) -> Cluster {
        let bindir = PathBuf::from(real_pg_dump())
            .parent()
            .unwrap()
            .to_path_buf();
        let dir = std::env::temp_dir().join(super::unique(name));
        std::fs::create_dir_all(&dir).unwrap();
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(chown.success());
        let data = dir.join("data");
        let data = data.to_str().unwrap();
        run_as_postgres(
            &bindir.join("initdb"),
            &[
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        let port = super::receiver::free_port().to_string();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        let log = dir.join("log");
        run_as_postgres(
            &bindir.join("pg_ctl"),
            &[
                "-D",
                data,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
        Cluster { port, dir, bindir }
    }

    /// `postgres://` URL of `db` in this cluster as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL as the superuser in `db`.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        psql_at(&self.port, db, sql)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bindir.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
