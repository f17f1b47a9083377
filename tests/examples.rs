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

/// packaging/keepsake.toml is installed as /etc/keepsake/keepsake.toml for
/// people to edit: it loads as shipped, and once its example values (the
/// database, the directory, the schedule) are replaced, they reach the job.
#[test]
fn the_packaged_config_validates_once_its_placeholders_are_filled() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/keepsake.toml");
    let shipped = config::load(Some(&path), &EnvVars::new());
    assert!(shipped.is_ok(), "as shipped: {}", shipped.unwrap_err());

    let mut text = std::fs::read_to_string(&path).unwrap();
    for (placeholder, value) in [
        (
            "host=/var/run/postgresql user=keepsake dbname=postgres",
            "postgres://backup:Filled-Pw-93@db.internal:5433/shop",
        ),
        ("/var/lib/keepsake/backups", "/srv/pg-backups"),
        (r#"schedule = "0 3 * * *""#, r#"schedule = "30 1 * * *""#),
    ] {
        assert_eq!(
            text.matches(placeholder).count(),
            1,
            "packaging/keepsake.toml should hold {placeholder:?} once; update this test"
        );
        text = text.replace(placeholder, value);
    }
    let dir = tempfile::tempdir().unwrap();
    let filled = dir.path().join("keepsake.toml");
    std::fs::write(&filled, &text).unwrap();
    let config = config::load(Some(&filled), &EnvVars::new()).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(config.jobs.len(), 1);
    let job = config.job("main").expect("the packaged job is called main");
    assert_eq!(
        job.connection.conninfo, "postgres://backup@db.internal:5433/shop",
        "pg_dump gets the connection without its password"
    );
    assert!(job.connection.password.is_some());
    assert_eq!(job.schedule.as_ref().unwrap().expr, "30 1 * * *");
    assert_eq!(job.storage, ["local"]);
    let config::StorageConfig::Local(local) = &config.storage["local"] else {
        panic!("storage local is not a directory: {:?}", config.storage);
    };
    assert_eq!(local.path, Path::new("/srv/pg-backups"));
    assert_eq!(job.format, config::DumpFormat::Custom);
    assert_eq!(job.compression.kind, config::CompressionKind::Zstd);
    assert_eq!(job.retention.keep_daily, Some(7));
    assert_eq!(job.retention.keep_weekly, Some(4));
}
