//! The effective configuration for people: TOML for `keepsake check`, and
//! one log line per storage and job when the agent starts or reloads. Both
//! are the model's own serialisation, with every secret as `***`.

use super::model::Config;

/// `config` as TOML, secrets as `***`.
pub fn render_toml(config: &Config) -> String {
    toml::to_string(config).unwrap_or_else(|e| format!("# cannot render the configuration: {e}\n"))
}

/// One value as compact JSON, secrets as `***`.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("(cannot render: {e})"))
}

/// Logs every storage and job the agent runs with.
pub fn log_effective(config: &Config) {
    for (name, storage) in &config.storage {
        tracing::info!(storage = %name, settings = %json(storage), "storage configured");
    }
    for job in &config.jobs {
        tracing::info!(job = %job.name, settings = %json(job), "job configured");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_shows_every_setting_and_no_secret() {
        let vars: crate::config::EnvVars = [
            (
                "POSTGRES_CONNECTION_STRING",
                "postgres://app:hunter2@db/shop",
            ),
            ("S3_BUCKET", "backups"),
            ("S3_ACCESS_KEY", "AKIDSECRETID"),
            ("S3_SECRET_KEY", "SECRETKEYVALUE"),
            ("BACKUP_INTERVAL", "0 3 * * *"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = crate::config::load(None, &vars).unwrap();
        let text = render_toml(&config);
        for secret in ["hunter2", "AKIDSECRETID", "SECRETKEYVALUE"] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
        for shown in [
            "database = \"postgres://app:***@db/shop\"",
            "schedule = \"0 3 * * *\"",
            "region = \"us-east-1\"",
            "shutdown_timeout = \"30s\"",
            "access_key_id = \"***\"",
            "level = 6",
            "[jobs.default",
        ] {
            assert!(text.contains(shown), "{shown} missing from\n{text}");
        }
        let parsed: toml::Value = toml::from_str(&text).expect("check prints valid TOML");
        assert!(parsed.get("jobs").is_some());
    }
}
