//! PostgreSQL client programs: find every installed pg_dump (psql, ...),
//! ask the server its version, pick the oldest client that can dump it, and
//! start it with a scrubbed environment.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::pg::child_env::child_env;
use crate::pg::conninfo::{self, Connection};

/// A PostgreSQL version as `server_version_num` writes it (150018 = 15.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PgVersion(pub u32);

impl PgVersion {
    /// The major release as a comparable number: 1500 for 15.x, 906 for 9.6.
    pub fn major(self) -> u32 {
        if self.0 >= 100_000 {
            self.0 / 10_000 * 100
        } else {
            self.0 / 100
        }
    }

    /// Parses the version a program prints, e.g. `15.18`, `9.6.24`, `18beta1`.
    pub fn parse(text: &str) -> Option<PgVersion> {
        let mut parts = text.split('.').map(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        let major = parts.next()??;
        let minor = parts.next().flatten().unwrap_or(0);
        if major >= 10 {
            Some(PgVersion(major * 10_000 + minor))
        } else {
            let patch = parts.next().flatten().unwrap_or(0);
            Some(PgVersion(major * 10_000 + minor * 100 + patch))
        }
    }
}

impl PgVersion {
    /// The whole version: `15.18`, `9.6.24`.
    pub fn full(self) -> String {
        if self.0 >= 100_000 {
            format!("{}.{}", self.0 / 10_000, self.0 % 10_000)
        } else {
            format!(
                "{}.{}.{}",
                self.0 / 10_000,
                self.0 / 100 % 100,
                self.0 % 100
            )
        }
    }
}

/// Shows the major release: `15`, `9.6`.
impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let major = self.major();
        if major >= 1000 {
            write!(f, "{}", major / 100)
        } else {
            write!(f, "{}.{}", major / 100, major % 100)
        }
    }
}

/// One installed client program and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTool {
    pub path: PathBuf,
    pub version: PgVersion,
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "no {tool} found (looked in PATH, /usr/lib/postgresql/*/bin, /usr/libexec/postgresql*, \
         /usr/pgsql-*/bin); install the PostgreSQL client programs"
    )]
    NotFound { tool: String },
    #[error(
        "the server runs PostgreSQL {server} but the newest {tool} found is {newest} ({path}); \
         install the PostgreSQL {server} client programs (a {tool} at least as new as the server)"
    )]
    TooOld {
        tool: String,
        server: PgVersion,
        newest: PgVersion,
        path: String,
    },
    #[error(
        "the backup was written by pg_dump {archive} but the newest {tool} found is {newest} ({path}); \
         install the PostgreSQL {archive} client programs to restore it"
    )]
    ArchiveTooNew {
        tool: String,
        archive: PgVersion,
        newest: PgVersion,
        path: String,
    },
    #[error("cannot connect to the database: {0}")]
    ServerVersion(String),
}

/// The version in `pg_dump --version` output: `pg_dump (PostgreSQL) 15.18 (Debian ...)`.
pub fn parse_version_output(output: &str) -> Option<PgVersion> {
    let after = output.split_once(')')?.1.trim_start();
    PgVersion::parse(after.split_whitespace().next()?)
}

/// The oldest tool whose major is at least the server's.
pub fn choose<'a>(
    tools: &'a [PgTool],
    server: PgVersion,
    tool: &str,
) -> Result<&'a PgTool, ToolError> {
    let fitting = tools
        .iter()
        .filter(|t| t.version.major() >= server.major())
        .min_by_key(|t| (t.version.major(), std::cmp::Reverse(t.version)));
    if let Some(found) = fitting {
        return Ok(found);
    }
    match tools.iter().max_by_key(|t| t.version) {
        None => Err(ToolError::NotFound { tool: tool.into() }),
        Some(newest) => Err(ToolError::TooOld {
            tool: tool.into(),
            server,
            newest: newest.version,
            path: newest.path.display().to_string(),
        }),
    }
}

/// Every place a `tool` may be installed, existing ones only, without duplicates.
pub fn candidates(tool: &str, path_var: Option<&str>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    for pattern in ["/usr/lib/postgresql", "/usr/libexec", "/usr"] {
        let Ok(entries) = std::fs::read_dir(pattern) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?.to_string();
                match pattern {
                    "/usr/lib/postgresql" => Some(p.join("bin")),
                    "/usr/libexec" if name.starts_with("postgresql") => Some(p),
                    "/usr" if name.starts_with("pgsql-") => Some(p.join("bin")),
                    _ => None,
                }
            })
            .collect();
        found.sort();
        dirs.extend(found);
    }
    let mut seen = BTreeSet::new();
    dirs.into_iter()
        .map(|d| d.join(tool))
        .filter(|p| p.is_file())
        .filter(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())))
        .collect()
}

/// Runs `--version` on every candidate; those that do not answer are
/// skipped. The directories are searched on a blocking thread.
pub async fn discover(tool: &str) -> Vec<PgTool> {
    let path_var = std::env::var("PATH").ok();
    let name = tool.to_string();
    let found = tokio::task::spawn_blocking(move || candidates(&name, path_var.as_deref()))
        .await
        .unwrap_or_default();
    let mut tools = Vec::new();
    for path in found {
        let output = bare(&path).arg("--version").output().await;
        let Ok(output) = output else { continue };
        let text = String::from_utf8_lossy(&output.stdout);
        if let Some(version) = parse_version_output(&text) {
            tools.push(PgTool { path, version });
        } else {
            tracing::debug!(path = %path.display(), "ignoring a program whose --version is not PostgreSQL's");
        }
    }
    tools
}

/// The newest installed `tool` (any psql can ask a version or run SQL).
pub async fn newest(tool: &str) -> Result<PgTool, ToolError> {
    discover(tool)
        .await
        .into_iter()
        .max_by_key(|t| t.version)
        .ok_or(ToolError::NotFound { tool: tool.into() })
}

/// A client program with the [`child_env`] of keepsake's environment and
/// no stdin, killed if dropped; no connection yet.
pub fn bare(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .envs(child_env(std::env::vars_os()))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// A client command for `conn`: the password travels in `PGPASSWORD`,
/// never on the command line; no prompt can ever block.
pub fn command(program: &Path, conn: &Connection) -> Command {
    let mut cmd = bare(program);
    cmd.arg("--no-password");
    if let Some(password) = &conn.password {
        cmd.env("PGPASSWORD", conninfo::expose(password));
    }
    cmd
}

/// Asks the server for `server_version_num` with `psql`.
pub async fn server_version(psql: &Path, conn: &Connection) -> Result<PgVersion, ToolError> {
    let output = command(psql, conn)
        // Messages in English: `check --connect` tells a refusal (a missing
        // role) from a server that is down by them. (Messages the server
        // itself sends come in its own lc_messages.)
        .env("LC_ALL", "C")
        .env_remove("LANGUAGE")
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "show server_version_num",
            "--dbname",
        ])
        .arg(&conn.conninfo)
        .output()
        .await
        .map_err(|e| ToolError::ServerVersion(format!("cannot run {}: {e}", psql.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ToolError::ServerVersion(stderr.trim().to_string()));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse::<u32>()
        .map(PgVersion)
        .map_err(|_| ToolError::ServerVersion(format!("unexpected answer {:?}", text.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(path: &str, num: u32) -> PgTool {
        PgTool {
            path: path.into(),
            version: PgVersion(num),
        }
    }

    #[test]
    fn versions_parse_from_program_output() {
        let cases = [
            (
                "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
                150018,
                "15",
            ),
            ("pg_dump (PostgreSQL) 18.1", 180001, "18"),
            ("pg_dump (PostgreSQL) 9.6.24", 90624, "9.6"),
            ("pg_dump (PostgreSQL) 19.0devel", 190000, "19"),
        ];
        for (text, num, shown) in cases {
            let v = parse_version_output(text).unwrap();
            assert_eq!(v, PgVersion(num), "{text}");
            assert_eq!(v.to_string(), shown);
            assert!(text.contains(&v.full()), "{text} vs {}", v.full());
        }
        assert_eq!(parse_version_output("something else"), None);
    }

    #[test]
    fn picks_the_oldest_major_not_older_than_the_server() {
        let tools = [
            tool("/a/14", 140010),
            tool("/b/16", 160002),
            tool("/c/16", 160004),
            tool("/d/18", 180001),
        ];
        assert_eq!(
            choose(&tools, PgVersion(150004), "pg_dump").unwrap().path,
            Path::new("/c/16")
        );
        assert_eq!(
            choose(&tools, PgVersion(140000), "pg_dump").unwrap().path,
            Path::new("/a/14")
        );
        assert_eq!(
            choose(&tools, PgVersion(180000), "pg_dump").unwrap().path,
            Path::new("/d/18")
        );
        assert_eq!(
            choose(&tools, PgVersion(90624), "pg_dump").unwrap().path,
            Path::new("/a/14")
        );
    }

    #[test]
    fn explains_when_nothing_fits() {
        let tools = [tool("/usr/bin/pg_dump", 150018)];
        let err = choose(&tools, PgVersion(180001), "pg_dump")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PostgreSQL 18") && err.contains("is 15 (/usr/bin/pg_dump)"),
            "{err}"
        );
        let err = choose(&[], PgVersion(180001), "pg_dump")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no pg_dump found"), "{err}");
    }

    fn inherited(name: &str) -> bool {
        child_env([(name.into(), "x".into())])
            .iter()
            .any(|(n, _)| n == name)
    }

    #[test]
    fn the_connection_password_replaces_an_inherited_one() {
        let conn = Connection {
            conninfo: "host='db'".into(),
            password: Some("from-config".to_string().into()),
        };
        let cmd = command(Path::new("psql"), &conn);
        let envs: Vec<_> = cmd.as_std().get_envs().collect();
        let password: Vec<_> = envs.iter().filter(|(k, _)| *k == "PGPASSWORD").collect();
        assert_eq!(password.len(), 1);
        assert_eq!(password[0].1, Some("from-config".as_ref()));
        for (name, _) in &envs {
            let name = name.to_str().unwrap();
            assert!(inherited(name), "{name} reaches the child");
        }
        let args: Vec<_> = cmd.as_std().get_args().collect();
        assert_eq!(args, ["--no-password"]);
    }

    #[tokio::test]
    async fn a_real_child_sees_only_the_scrubbed_environment() {
        let out = bare(Path::new("env")).output().await.unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(n, _)| n)
            .collect();
        // cargo gives this test CARGO_* variables: they must stay behind.
        assert!(names.contains(&"PGCONNECT_TIMEOUT"), "{names:?}");
        for name in names {
            assert!(inherited(name), "{name} reaches the child");
        }
    }
}
