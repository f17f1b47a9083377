//! Every example shipped in config/ is valid.

use std::collections::BTreeMap;
use std::path::Path;

use keepsake::config::{self, EnvVars};

#[test]
fn every_toml_example_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("config")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let loaded = config::load(Some(&path), &EnvVars::new());
            assert!(
                loaded.is_ok(),
                "{}: {}",
                path.display(),
                loaded.unwrap_err()
            );
            seen += 1;
        }
    }
    assert!(seen >= 2, "expected the example files in config/");
}

#[test]
fn the_env_file_example_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/env-only.env");
    let text = std::fs::read_to_string(path).unwrap();
    let vars: EnvVars = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>();
    let config = config::load(None, &vars).unwrap();
    let job = config.job("default").unwrap();
    assert_eq!(job.schedule.as_ref().unwrap().expr, "0 3 * * *");
    assert_eq!(job.retention.keep_days, Some(14));
}

#[test]
fn the_packaged_config_validates_once_its_placeholders_are_filled() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/keepsake.toml");
    let loaded = config::load(Some(&path), &EnvVars::new());
    assert!(loaded.is_ok(), "{}", loaded.unwrap_err());
}
