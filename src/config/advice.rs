//! What a valid configuration does that its author may not mean: warnings
//! (not errors) that `check` prints and the agent logs at start and on
//! reload. Pure.

use super::model::{Config, StorageConfig};

/// Every warning for `config`, each naming its job and storage.
pub fn advice(config: &Config) -> Vec<String> {
    let mut found = Vec::new();
    for job in &config.jobs {
        for name in &job.storage {
            let Some(StorageConfig::S3(s3)) = config.storage.get(name) else {
                continue;
            };
            let Some(lock) = s3.object_lock else {
                continue;
            };
            if let Some(days) = job.retention.keep_days
                && days < lock.days
            {
                found.push(format!(
                    "jobs.{}: retention keep_days = {days}, but storage.{name} locks every \
                     backup for {} days: older backups stay (listed as locked) until their \
                     lock ends, and retention deletes them then",
                    job.name, lock.days
                ));
            }
            if !job.retention.has_rules() {
                found.push(format!(
                    "jobs.{}: no retention rule, so nothing is ever deleted from storage.{name}; \
                     its object lock ({} days) only keeps backups from being deleted early",
                    job.name, lock.days
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::from_toml;

    fn config(retention: &str) -> Config {
        from_toml(&format!(
            "[storage.vault]\ntype = \"s3\"\nbucket = \"backups\"\nobject_lock = {{ mode = \"compliance\", days = 30 }}\n\
             [jobs.shop]\ndatabase = \"postgres://db/shop\"\n{retention}\n"
        ))
    }

    #[test]
    fn a_lock_longer_than_the_keep_rule_is_said() {
        let found = advice(&config("retention = { keep_days = 7 }"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("keep_days = 7") && found[0].contains("30 days"));
        assert!(advice(&config("retention = { keep_days = 30 }")).is_empty());
        assert!(advice(&config("retention = { keep_last = 3 }")).is_empty());
        assert_eq!(advice(&config("")).len(), 1);
    }
}
