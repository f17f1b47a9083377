//! Helpers for tests that need a loaded configuration.

use super::{Config, ConfigErrors, EnvVars, JobConfig, load};

/// An environment from `(name, value)` pairs.
pub(crate) fn env_vars(pairs: &[(&str, &str)]) -> EnvVars {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Loads `toml` (written to `keepsake.toml` in a temp dir; none when
/// absent) with the environment `env`, as `keepsake` itself loads.
pub(crate) fn load_with(env: &[(&str, &str)], toml: Option<&str>) -> Result<Config, ConfigErrors> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("keepsake.toml");
    if let Some(text) = toml {
        std::fs::write(&path, text).expect("write the test config");
    }
    load(toml.map(|_| path.as_path()), &env_vars(env))
}

/// Loads `toml` as the config file, with no environment; it must be valid.
pub(crate) fn from_toml(toml: &str) -> Config {
    load_with(&[], Some(toml)).unwrap_or_else(|e| panic!("{e}"))
}

/// A job `shop` on a local storage, with `extra` lines.
pub(crate) fn test_job(extra: &str) -> JobConfig {
    let config = from_toml(&format!(
        "[storage.a]\ntype = \"local\"\npath = \"/unused\"\n\
         [jobs.shop]\ndatabase = \"shop\"\n{extra}\n"
    ));
    config.jobs[0].clone()
}
