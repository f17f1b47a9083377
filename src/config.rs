//! Loading the configuration: the one figment chain
//! (TOML file <- `KEEPSAKE_*` env <- the seed's variables), then
//! per-section extraction and pure validation that report every problem.
//!
//! - [`raw`]: the sections as written;
//! - [`file`]: the TOML file, whose syntax errors never quote a line;
//! - [`env`]: the environment providers (prefixed and seed variables);
//! - [`extract`]: the merged sources -> [`raw`], field by field, so that
//!   every bad value and unknown key is named;
//! - [`validate`]: raw -> [`Config`], pure, applying [`defaults`];
//! - [`model`]: the validated types;
//! - [`view`]: the effective config for people, secrets as `***`
//!   ([`secret`] decides how a secret serialises);
//! - [`error`]: errors that name the key and its origin, and the exit code.

pub mod advice;
pub mod defaults;
pub mod env;
pub mod error;
pub mod extract;
pub mod file;
pub mod model;
pub mod raw;
pub mod secret;
pub mod validate;
pub mod view;

use std::path::{Path, PathBuf};

use extract::origin_of;
use figment::Figment;

pub use advice::advice;
pub use env::{EnvVars, process_env};
pub use error::{ConfigError, ConfigErrors, ErrorKind};
pub use model::*;
use validate::Context;

/// Used when neither `--config` nor `KEEPSAKE_CONFIG` names a file and it exists.
pub const DEFAULT_PATH: &str = "/etc/keepsake/keepsake.toml";

/// Where the configuration comes from: a file (maybe) and the environment.
#[derive(Clone)]
pub struct ConfigSource {
    pub file: Option<PathBuf>,
    pub env: EnvVars,
}

impl ConfigSource {
    /// The process environment, and the file `--config` names (or the one
    /// [`choose_file`] finds).
    pub fn from_process(cli_file: Option<&Path>) -> ConfigSource {
        let env = process_env();
        let file = choose_file(cli_file, &env);
        ConfigSource { file, env }
    }

    pub fn load(&self) -> Result<Config, ConfigErrors> {
        load(self.file.as_deref(), &self.env)
    }

    /// [`ConfigSource::load`] on a blocking thread: it reads files.
    pub async fn load_off_runtime(&self) -> Result<Config, ConfigErrors> {
        let source = self.clone();
        tokio::task::spawn_blocking(move || source.load())
            .await
            .unwrap_or_else(|e| {
                Err(ConfigErrors(vec![ConfigError::new(
                    ErrorKind::Invalid,
                    "(configuration)",
                    "",
                    format!("loading failed: {e}"),
                )]))
            })
    }
}

/// Which config file to read: `--config`, else `KEEPSAKE_CONFIG` (empty
/// counts as unset), else [`DEFAULT_PATH`] when it exists, unless the
/// environment describes a job of its own (the seed tool's variables): a
/// container or a one-off run on a host with the package installed must
/// not have the host's jobs merged into it. Else none (environment only).
pub fn choose_file(cli: Option<&Path>, env: &EnvVars) -> Option<PathBuf> {
    choose_file_with(cli, env, Path::new(DEFAULT_PATH))
}

fn choose_file_with(cli: Option<&Path>, env: &EnvVars, default: &Path) -> Option<PathBuf> {
    if let Some(path) = cli {
        return Some(path.to_path_buf());
    }
    if let Some(path) = env.get("KEEPSAKE_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    (default.exists() && !env::describes_a_job(env)).then(|| default.to_path_buf())
}

#[cfg(test)]
mod choose_tests {
    use super::*;

    #[test]
    fn the_default_file_is_read_unless_the_environment_describes_a_job() {
        let dir = tempfile::tempdir().unwrap();
        let default = dir.path().join("keepsake.toml");
        std::fs::write(&default, "").unwrap();
        let env = |vars: &[(&str, &str)]| crate::config::testing::env_vars(vars);
        let chosen = |vars: &[(&str, &str)]| choose_file_with(None, &env(vars), &default);
        assert_eq!(chosen(&[]), Some(default.clone()));
        assert_eq!(chosen(&[("LOG_LEVEL", "debug")]), Some(default.clone()));
        assert_eq!(chosen(&[("KEEPSAKE_CONFIG", "")]), Some(default.clone()));
        assert_eq!(chosen(&[("POSTGRES_CONNECTION_STRING", "db")]), None);
        assert_eq!(chosen(&[("S3_BUCKET", "b")]), None);
        assert_eq!(chosen(&[("POSTGRES_HOST", "h")]), None);
        let other = dir.path().join("other.toml");
        let named = env(&[
            ("KEEPSAKE_CONFIG", other.to_str().unwrap()),
            ("S3_BUCKET", "b"),
        ]);
        assert_eq!(
            choose_file_with(None, &named, &default),
            Some(other.clone())
        );
        assert_eq!(
            choose_file_with(Some(&other), &env(&[("S3_BUCKET", "b")]), &default),
            Some(other)
        );
        std::fs::remove_file(&default).unwrap();
        assert_eq!(chosen(&[]), None);
    }
}

/// Loads and validates the configuration from `file` (if any) and `env`.
pub fn load(file: Option<&Path>, env: &EnvVars) -> Result<Config, ConfigErrors> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigErrors(vec![ConfigError::new(
                ErrorKind::Missing,
                "config file",
                path.display().to_string(),
                "does not exist or is not a file",
            )]));
        }
        match file::read(path) {
            Ok(toml) => figment = figment.merge(toml),
            Err(e) => return Err(ConfigErrors(vec![e])),
        }
    }
    let (prefixed, mut errors) = env::prefixed(env);
    figment = figment.merge(prefixed);
    let (seed, seed_errors) = env::seed(env);
    errors.extend(seed_errors);
    figment = figment.merge(seed);

    let Some(sections) = extract::sections(&figment, &mut errors) else {
        return Err(ConfigErrors(errors));
    };
    let origin = |key: &str| origin_of(&figment, key);
    let read_file = |path: &Path| std::fs::read_to_string(path);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let ctx = Context {
        origin: &origin,
        read_file: &read_file,
        cores,
    };
    match validate::validate(sections, &ctx) {
        Ok(config) if errors.is_empty() => Ok(config),
        Ok(_) => Err(ConfigErrors(errors)),
        Err(more) => {
            let more: Vec<ConfigError> =
                more.into_iter().filter(|e| !follows(e, &errors)).collect();
            errors.extend(more);
            Err(ConfigErrors(errors))
        }
    }
}

/// True when `e` says a setting is missing that was there but could not be
/// read: the reading error already said so.
fn follows(e: &ConfigError, read_errors: &[ConfigError]) -> bool {
    e.kind == ErrorKind::Missing
        && read_errors.iter().any(|r| {
            r.key == e.key
                || r.key
                    .strip_prefix(e.key.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
}

#[cfg(test)]
mod load_tests;

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::{env_vars as env, load_with};
    use super::*;

    fn with_file(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        load_with(vars, Some(text))
    }

    const SEED: &[(&str, &str)] = &[
        ("POSTGRES_CONNECTION_STRING", "postgres://app:pw@db/shop"),
        ("S3_BUCKET", "backups"),
        ("S3_URL", "http://minio:9000"),
        ("S3_PATH", "/nightly/"),
    ];

    #[test]
    fn seed_environment_becomes_the_default_job() {
        let config = load(None, &env(SEED)).unwrap();
        let job = config.job("default").unwrap();
        assert_eq!(job.naming, Naming::Legacy);
        assert_eq!(job.storage, ["default"]);
        assert_eq!(job.format, DumpFormat::Plain);
        assert_eq!(job.compression.kind, CompressionKind::Gzip);
        assert!(job.schedule.is_none());
        assert_eq!(job.connection.conninfo, "postgres://app@db/shop");
        let StorageConfig::S3(s3) = &config.storage["default"] else {
            panic!()
        };
        assert_eq!(s3.prefix, "nightly");
        assert_eq!(s3.region, "us-east-1");
        assert!(
            s3.path_style,
            "a custom endpoint implies path-style addressing"
        );
        assert!(s3.credentials.is_none(), "no keys: the default AWS chain");
        assert_eq!(s3.upload_concurrency, 1);
    }

    #[test]
    fn seed_agent_variables_reach_the_job() {
        let mut vars = SEED.to_vec();
        vars.extend([("BACKUP_ON_START", "true"), ("TZ", "Europe/Berlin")]);
        let config = load(None, &env(&vars)).unwrap();
        let job = config.job("default").unwrap();
        assert!(job.run_on_start);
        assert_eq!(job.timezone.name, "Europe/Berlin");
        let mut vars = SEED.to_vec();
        vars.push(("TZ", "Mars/Olympus"));
        let errors = load(None, &env(&vars)).unwrap_err().to_string();
        assert!(
            errors.contains("environment: TZ") && errors.contains("unknown time zone"),
            "{errors}"
        );
    }

    #[test]
    fn precedence_is_file_then_prefixed_env_then_seed() {
        let file = r#"
[storage.default]
type = "s3"
bucket = "from-file"
region = "eu-west-1"

[jobs.default]
database = "postgres://db/file"
compression = "zstd"
"#;
        let config = with_file(
            file,
            &[
                ("KEEPSAKE_STORAGE__DEFAULT__BUCKET", "from-prefixed"),
                ("KEEPSAKE_STORAGE__DEFAULT__REGION", "eu-central-1"),
                ("S3_REGION", "us-west-2"),
            ],
        )
        .unwrap();
        let StorageConfig::S3(s3) = &config.storage["default"] else {
            panic!()
        };
        assert_eq!(s3.bucket, "from-prefixed");
        assert_eq!(s3.region, "us-west-2");
        let job = config.job("default").unwrap();
        assert_eq!(job.compression.kind, CompressionKind::Zstd);
        assert_eq!(job.naming, Naming::Legacy, "the seed variables were used");
    }

    #[test]
    fn file_jobs_and_the_seed_job_live_side_by_side() {
        let file = r#"
[storage.disk]
type = "local"
path = "/var/backups"

[jobs.crm]
database = "crm"
storage = ["disk"]
"#;
        let mut vars = SEED.to_vec();
        vars.push(("BACKUP_INTERVAL", "@daily"));
        let config = with_file(file, &vars).unwrap();
        let names: Vec<_> = config.jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["crm", "default"]);
        assert_eq!(config.job("crm").unwrap().naming, Naming::Job);
        assert_eq!(config.job("default").unwrap().storage, ["default"]);
    }

    #[test]
    fn a_storage_must_be_named_when_there_are_several() {
        let file = r#"
[storage.a]
type = "local"
path = "/a"
[storage.b]
type = "local"
path = "/b"
[jobs.crm]
database = "crm"
"#;
        let errors = with_file(file, &[]).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert_eq!(errors.0[0].key, "jobs.crm.storage");
        assert_eq!(errors.0[0].kind, ErrorKind::Missing);
    }

    #[test]
    fn compression_threads_are_for_codecs_only() {
        let file = |codec: &str, threads: u32| {
            format!(
                "[storage.d]\ntype = \"local\"\npath = \"/d\"\n[jobs.a]\ndatabase = \"a\"\n\
                 compression = \"{codec}\"\ncompression_threads = {threads}\n"
            )
        };
        let config = with_file(&file("zstd", 2), &[]).unwrap();
        assert_eq!(config.jobs[0].compression.threads, 2);
        assert_eq!(config.jobs[0].compression.level, defaults::ZSTD_LEVEL);
        assert_eq!(
            with_file(&file("gzip", 2), &[]).unwrap().jobs[0]
                .compression
                .threads,
            2
        );
        let errors = with_file(&file("none", 2), &[]).unwrap_err();
        assert_eq!(errors.0[0].key, "jobs.a.compression_threads", "{errors}");
        let errors = with_file(&file("zstd", 0), &[]).unwrap_err();
        assert_eq!(errors.0[0].key, "jobs.a.compression_threads", "{errors}");
        let default = with_file(
            &file("zstd", 1).replace("compression_threads = 1\n", ""),
            &[],
        )
        .unwrap();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        assert_eq!(
            default.jobs[0].compression.threads,
            cores.min(defaults::MAX_AUTO_THREADS),
            "unset: one per core, resolved when the config is loaded"
        );
    }

    #[test]
    fn two_legacy_jobs_in_one_place_are_refused() {
        let file = r#"
[storage.disk]
type = "local"
path = "/a"
[jobs.a]
database = "a"
naming = "legacy"
[jobs.b]
database = "b"
naming = "legacy"
"#;
        let errors = with_file(file, &[]).unwrap_err();
        assert!(
            errors.to_string().contains("could not be told apart"),
            "{errors}"
        );
    }

    #[test]
    fn password_in_two_places_is_refused() {
        let mut vars = SEED.to_vec();
        vars.push(("POSTGRES_PASSWORD", "other"));
        let errors = load(None, &env(&vars)).unwrap_err();
        assert!(
            errors.to_string().contains("already holds a password"),
            "{errors}"
        );
        assert!(!errors.to_string().contains("other"));
    }

    #[test]
    fn password_from_its_own_setting_reaches_the_connection() {
        let vars = [
            ("POSTGRES_CONNECTION_STRING", "host=db dbname=shop"),
            ("POSTGRES_PASSWORD", "Pa55-unique"),
            ("S3_BUCKET", "backups"),
        ];
        let config = load(None, &env(&vars)).unwrap();
        let job = config.job("default").unwrap();
        assert!(job.connection.password.is_some());
        assert!(
            !format!("{job:?}").contains("Pa55-unique"),
            "Debug output must not show the password"
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let vars = [
            (
                "POSTGRES_CONNECTION_STRING",
                "postgres://app:hunter2@db/shop",
            ),
            ("S3_BUCKET", "backups"),
            ("S3_ACCESS_KEY", "AKIDSECRETID"),
            ("S3_SECRET_KEY", "SECRETKEYVALUE"),
        ];
        let config = load(None, &env(&vars)).unwrap();
        let debug = format!("{config:?}");
        for secret in ["hunter2", "AKIDSECRETID", "SECRETKEYVALUE"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }
}
