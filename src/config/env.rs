//! The environment as configuration: `KEEPSAKE_*` variables nested with `__`,
//! and the seed tool's variables (with their well-known aliases) that
//! describe one job named `default`.

use std::collections::BTreeMap;
use std::sync::Arc;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

use super::error::{ConfigError, ErrorKind};

/// The variables of the process, injected so that tests need not touch the
/// real environment.
pub type EnvVars = BTreeMap<String, String>;

/// Reads the process environment, skipping variables that are not UTF-8.
pub fn process_env() -> EnvVars {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Name of the job (and its storage) that the seed variables describe.
pub const SEED_JOB: &str = "default";

/// Prefix of the nested configuration variables.
pub const PREFIX: &str = "KEEPSAKE_";

/// `KEEPSAKE_*` variables that are not configuration keys.
const NOT_KEYS: &[&str] = &["KEEPSAKE_CONFIG"];

/// Where each setting of the seed job comes from: the config key and the
/// variable names that may set it, the seed tool's name first.
const SEED_SETTINGS: &[(&str, &[&str])] = &[
    ("jobs.default.database", &["POSTGRES_CONNECTION_STRING"]),
    (
        "jobs.default.database_file",
        &["POSTGRES_CONNECTION_STRING_FILE"],
    ),
    ("jobs.default.password", &["POSTGRES_PASSWORD"]),
    ("jobs.default.password_file", &["POSTGRES_PASSWORD_FILE"]),
    ("jobs.default.schedule", &["BACKUP_INTERVAL", "SCHEDULE"]),
    (
        "jobs.default.retention.keep_days",
        &["BACKUP_RETENTION_DAYS", "BACKUP_KEEP_DAYS"],
    ),
    ("storage.default.bucket", &["S3_BUCKET"]),
    ("storage.default.endpoint", &["S3_URL", "S3_ENDPOINT"]),
    ("storage.default.prefix", &["S3_PATH", "S3_PREFIX"]),
    ("storage.default.region", &["S3_REGION"]),
    (
        "storage.default.access_key_id",
        &["S3_ACCESS_KEY", "S3_ACCESS_KEY_ID"],
    ),
    (
        "storage.default.access_key_id_file",
        &["S3_ACCESS_KEY_FILE", "S3_ACCESS_KEY_ID_FILE"],
    ),
    (
        "storage.default.secret_access_key",
        &["S3_SECRET_KEY", "S3_SECRET_ACCESS_KEY"],
    ),
    (
        "storage.default.secret_access_key_file",
        &["S3_SECRET_KEY_FILE", "S3_SECRET_ACCESS_KEY_FILE"],
    ),
];

/// Settings that do not describe the job, so they alone do not create it.
const SEED_GLOBALS: &[(&str, &[&str])] = &[
    ("log.level", &["LOG_LEVEL"]),
    ("log.format", &["LOG_FORMAT"]),
    ("agent.timezone", &["TZ"]),
    ("http.listen", &["HTTP_LISTEN"]),
    ("notify.healthcheck_url", &["HEALTHCHECK_URL"]),
    ("notify.healthcheck_url_file", &["HEALTHCHECK_URL_FILE"]),
    ("notify.webhook_url", &["WEBHOOK_URL"]),
    ("notify.webhook_url_file", &["WEBHOOK_URL_FILE"]),
];

/// Settings that change the seed job but alone do not make one.
const SEED_MODIFIERS: &[(&str, &[&str])] = &[
    ("jobs.default.run_on_start", &["BACKUP_ON_START"]),
    ("jobs.default.encrypt_to", &["AGE_RECIPIENTS"]),
    ("jobs.default.recipients_file", &["AGE_RECIPIENTS_FILE"]),
    ("jobs.default.databases", &["POSTGRES_DATABASES"]),
    ("jobs.default.exclude", &["POSTGRES_DATABASES_EXCLUDE"]),
    ("jobs.default.globals", &["BACKUP_GLOBALS"]),
    ("storage.default.object_lock.mode", &["S3_OBJECT_LOCK_MODE"]),
    ("storage.default.object_lock.days", &["S3_OBJECT_LOCK_DAYS"]),
];

/// The split-out connection variables, composed into a libpq conninfo.
const PG_PARTS: &[(&str, &[&str])] = &[
    ("host", &["POSTGRES_HOST"]),
    ("port", &["POSTGRES_PORT"]),
    ("user", &["POSTGRES_USER"]),
    ("dbname", &["POSTGRES_DATABASE", "POSTGRES_DB"]),
];

/// Whether the seed tool's variables describe a job (its database or its
/// storage); log, time zone and start-up settings alone do not.
pub fn describes_a_job(env: &EnvVars) -> bool {
    SEED_SETTINGS
        .iter()
        .chain(PG_PARTS)
        .flat_map(|(_, names)| names.iter())
        .chain(std::iter::once(&EXTRA_OPTS))
        .any(|name| non_empty(env, name).is_some())
}

/// Extra pg_dump arguments, split on white space.
const EXTRA_OPTS: &str = "POSTGRES_EXTRA_OPTS";

/// Hint for a missing setting of the seed job: which variable to set.
pub fn seed_hint(key: &str) -> Option<String> {
    if key == "jobs.default.database" {
        return Some(
            "set POSTGRES_CONNECTION_STRING (or POSTGRES_HOST, POSTGRES_USER, POSTGRES_DATABASE)"
                .to_string(),
        );
    }
    SEED_SETTINGS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, names)| format!("set {}", names[0]))
}

/// Configuration read from environment variables: config key -> (value,
/// the variable(s) it came from), which error messages name.
#[derive(Clone)]
pub struct EnvProvider {
    name: &'static str,
    values: BTreeMap<String, (Value, String)>,
    /// The variable to name for a key that no variable set.
    unknown_origin: fn(&str) -> String,
}

/// The seed tool's variables, resolved to config keys, and the conflicts
/// found among their aliases.
pub fn seed(env: &EnvVars) -> (EnvProvider, Vec<ConfigError>) {
    let mut seed = EnvProvider {
        name: "the seed environment variables",
        values: BTreeMap::new(),
        unknown_origin: str::to_string,
    };
    let mut errors = Vec::new();
    for (key, names) in SEED_SETTINGS
        .iter()
        .chain(SEED_GLOBALS)
        .chain(SEED_MODIFIERS)
    {
        if let Some((name, value)) = pick(env, names, key, &mut errors) {
            seed.insert(key, Value::from(value), name);
        }
    }
    seed.compose_conninfo(env, &mut errors);
    if let Some(opts) = non_empty(env, EXTRA_OPTS) {
        let args = opts
            .split_whitespace()
            .map(|a| Value::from(a.to_string()))
            .collect::<Vec<_>>();
        seed.insert(
            "jobs.default.pg_dump_args",
            Value::from(args),
            EXTRA_OPTS.into(),
        );
    }
    if seed.describes_job() {
        let origin = "the seed environment variables".to_string();
        seed.insert("storage.default.type", Value::from("s3"), origin.clone());
        let store = vec![Value::from(SEED_JOB.to_string())];
        seed.insert("jobs.default.storage", Value::from(store), origin.clone());
        seed.insert("jobs.default.naming", Value::from("legacy"), origin);
    }
    (seed, errors)
}

impl EnvProvider {
    fn insert(&mut self, key: &str, value: Value, origin: String) {
        self.values.insert(key.to_string(), (value, origin));
    }

    /// True when any job setting (not just logging or a modifier) is present.
    pub fn describes_job(&self) -> bool {
        self.values.keys().any(|k| {
            (k.starts_with("jobs.") || k.starts_with("storage."))
                && !SEED_MODIFIERS.iter().any(|(m, _)| m == k)
        })
    }

    fn compose_conninfo(&mut self, env: &EnvVars, errors: &mut Vec<ConfigError>) {
        let mut parts = Vec::new();
        let mut names = Vec::new();
        for (keyword, vars) in PG_PARTS {
            if let Some((name, value)) = pick(env, vars, keyword, errors) {
                parts.push(format!("{keyword}={}", crate::pg::conninfo::quote(&value)));
                names.push(name);
            }
        }
        if parts.is_empty() {
            return;
        }
        let names = names.join(", ");
        if self.values.contains_key("jobs.default.database") {
            errors.push(ConfigError::new(
                ErrorKind::Invalid,
                "jobs.default.database",
                "environment variables POSTGRES_CONNECTION_STRING and ".to_string() + &names,
                "both describe the database; set one or the other",
            ));
            return;
        }
        self.insert("jobs.default.database", Value::from(parts.join(" ")), names);
    }
}

/// The value of the first set variable among `names`; a second name with a
/// different value is a conflict.
fn pick(
    env: &EnvVars,
    names: &[&str],
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<(String, String)> {
    let set: Vec<(&str, &str)> = names
        .iter()
        .filter_map(|n| non_empty(env, n).map(|v| (*n, v)))
        .collect();
    let (first, value) = *set.first()?;
    for (other, other_value) in &set[1..] {
        if other_value != &value {
            errors.push(ConfigError::new(
                ErrorKind::Invalid,
                key,
                format!("environment variables {first} and {other}"),
                "both are set, to different values; set only one",
            ));
        }
    }
    Some((first.to_string(), value.to_string()))
}

/// A variable's value; an empty one counts as unset, as compose files often
/// write `VAR=` for "not set".
fn non_empty<'a>(env: &'a EnvVars, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// `KEEPSAKE_JOBS__SHOP__SCHEDULE` -> `jobs.shop.schedule`. Values stay
/// strings (a `[...]` value is parsed as a list), so a bucket named `123`
/// is not turned into a number. A variable whose name is no key
/// (`KEEPSAKE_`, `KEEPSAKE___X`, `KEEPSAKE_JOBS.X`), or that sets a section
/// another one sets a key inside, is an error naming it.
pub fn prefixed(env: &EnvVars) -> (EnvProvider, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let mut values = BTreeMap::new();
    for (name, v) in env {
        if !name.starts_with(PREFIX) || NOT_KEYS.contains(&name.as_str()) || v.is_empty() {
            continue;
        }
        let key = match key_of(name) {
            Ok(key) => key,
            Err(why) => {
                errors.push(ConfigError::new(
                    ErrorKind::Invalid,
                    name.as_str(),
                    "environment variable",
                    format!("names no configuration key: {why}"),
                ));
                continue;
            }
        };
        let value = if v.trim_start().starts_with('[') {
            v.parse::<Value>()
                .unwrap_or_else(|_| Value::from(v.clone()))
        } else {
            Value::from(v.clone())
        };
        values.insert(key, (value, name.clone()));
    }
    for (key, (_, name)) in &values {
        let inside = format!("{key}.");
        let nested = values
            .range(inside.clone()..)
            .take_while(|(k, _)| k.starts_with(&inside))
            .map(|(_, (_, n))| n.as_str())
            .next();
        if let Some(other) = nested {
            errors.push(ConfigError::new(
                ErrorKind::Invalid,
                key.as_str(),
                format!("environment variables {name} and {other}"),
                "the first sets the whole section the second sets a key in; set only keys",
            ));
        }
    }
    let provider = EnvProvider {
        name: "KEEPSAKE_ environment variables",
        values,
        unknown_origin: |key| format!("{PREFIX}{}", key.to_ascii_uppercase().replace('.', "__")),
    };
    (provider, errors)
}

/// The dotted config key a `KEEPSAKE_*` variable names, or why it names
/// none: each part between `__` must be letters, digits, `-` or `_`.
fn key_of(name: &str) -> Result<String, String> {
    let rest = &name[PREFIX.len()..];
    let parts: Vec<&str> = rest.split("__").collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "a part between {PREFIX}, `__` and the end is empty; \
             write sections and key joined by `__`, e.g. {PREFIX}JOBS__SHOP__SCHEDULE"
        ));
    }
    let valid = |p: &&str| {
        p.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    };
    if !parts.iter().all(valid) {
        return Err(
            "only letters, digits, '-' and '_' may follow the prefix (parts joined by `__`)"
                .to_string(),
        );
    }
    Ok(parts.join(".").to_ascii_lowercase())
}

impl Provider for EnvProvider {
    fn metadata(&self) -> Metadata {
        let origins: Arc<BTreeMap<String, String>> = Arc::new(
            self.values
                .iter()
                .map(|(k, (_, o))| (k.clone(), o.clone()))
                .collect(),
        );
        let unknown = self.unknown_origin;
        Metadata::named(self.name).interpolater(move |_: &Profile, keys: &[&str]| {
            let key = keys.join(".");
            origins.get(&key).cloned().unwrap_or_else(|| unknown(&key))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (key, (value, _)) in &self.values {
            dict = merge_nested(dict, key, value.clone());
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Merges `value` at the dotted `key` into `dict`; a value on the way
/// that is not a table is replaced by one.
fn merge_nested(mut dict: Dict, key: &str, value: Value) -> Dict {
    let value = match key.split_once('.') {
        None => value,
        Some((first, rest)) => {
            let inner = match dict.remove(first) {
                Some(Value::Dict(_, inner)) => inner,
                _ => Dict::new(),
            };
            let merged = merge_nested(inner, rest, value);
            dict.insert(first.to_string(), Value::from(merged));
            return dict;
        }
    };
    dict.insert(key.to_string(), value);
    dict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::env_vars as vars;

    fn value_of(seed: &EnvProvider, key: &str) -> Option<String> {
        seed.values.get(key).map(|(v, _)| match v {
            Value::String(_, s) => s.clone(),
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn seed_variables_map_to_the_default_job() {
        let (seed, errors) = seed(&vars(&[
            ("POSTGRES_CONNECTION_STRING", "postgres://u:p@h/db"),
            ("S3_BUCKET", "123"),
            ("S3_PATH", "nightly"),
            ("BACKUP_INTERVAL", "0 3 * * *"),
        ]));
        assert!(errors.is_empty());
        assert_eq!(value_of(&seed, "storage.default.bucket").unwrap(), "123");
        assert_eq!(
            value_of(&seed, "storage.default.prefix").unwrap(),
            "nightly"
        );
        assert_eq!(value_of(&seed, "jobs.default.naming").unwrap(), "legacy");
        assert!(seed.describes_job());
    }

    #[test]
    fn aliases_agree_or_conflict() {
        let (seed, errors) = seed(&vars(&[
            ("S3_PATH", "a"),
            ("S3_PREFIX", "a"),
            ("BACKUP_INTERVAL", "0 3 * * *"),
            ("SCHEDULE", "0 4 * * *"),
        ]));
        assert_eq!(value_of(&seed, "storage.default.prefix").unwrap(), "a");
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = errors[0].to_string();
        assert!(
            text.contains("BACKUP_INTERVAL") && text.contains("SCHEDULE"),
            "{text}"
        );
    }

    #[test]
    fn alias_alone_is_enough() {
        let (seed, errors) = seed(&vars(&[("S3_ENDPOINT", "http://x:9000")]));
        assert!(errors.is_empty());
        assert_eq!(
            value_of(&seed, "storage.default.endpoint").unwrap(),
            "http://x:9000"
        );
    }

    #[test]
    fn split_connection_variables_compose_a_conninfo() {
        let (seed, errors) = seed(&vars(&[
            ("POSTGRES_HOST", "db"),
            ("POSTGRES_PORT", "5433"),
            ("POSTGRES_USER", "o'brien"),
            ("POSTGRES_DB", "shop"),
        ]));
        assert!(errors.is_empty());
        assert_eq!(
            value_of(&seed, "jobs.default.database").unwrap(),
            r"host='db' port='5433' user='o\'brien' dbname='shop'"
        );
    }

    #[test]
    fn connection_string_and_split_variables_conflict() {
        let (_, errors) = seed(&vars(&[
            ("POSTGRES_CONNECTION_STRING", "postgres://h/db"),
            ("POSTGRES_HOST", "db"),
        ]));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("POSTGRES_HOST"));
    }

    #[test]
    fn logging_alone_does_not_create_a_job() {
        let (seed, _) = seed(&vars(&[
            ("LOG_LEVEL", "debug"),
            ("S3_PATH", ""),
            ("TZ", "Europe/Berlin"),
            ("BACKUP_ON_START", "true"),
        ]));
        assert!(!seed.describes_job());
    }

    #[test]
    fn prefixed_variables_nest_and_keep_strings() {
        let (env, errors) = prefixed(&vars(&[
            ("KEEPSAKE_STORAGE__OFF__BUCKET", "007"),
            ("KEEPSAKE_JOBS__SHOP__STORAGE", "[a, b]"),
            ("KEEPSAKE_CONFIG", "/x.toml"),
        ]));
        assert!(errors.is_empty(), "{errors:?}");
        let keys: Vec<_> = env.values.keys().cloned().collect();
        assert_eq!(keys, ["jobs.shop.storage", "storage.off.bucket"]);
        assert!(
            matches!(env.values["storage.off.bucket"].0, Value::String(_, ref s) if s == "007")
        );
        assert!(matches!(
            env.values["jobs.shop.storage"].0,
            Value::Array(..)
        ));
    }

    #[test]
    fn variables_that_name_no_key_are_errors_not_panics() {
        for name in [
            "KEEPSAKE_",
            "KEEPSAKE___X",
            "KEEPSAKE_JOBS__",
            "KEEPSAKE_JOBS____SHOP",
            "KEEPSAKE_JOBS.SHOP",
            "KEEPSAKE_JOBS__SH OP",
        ] {
            let (env, errors) = prefixed(&vars(&[(name, "1")]));
            assert!(env.values.is_empty(), "{name}");
            assert_eq!(errors.len(), 1, "{name}: {errors:?}");
            assert_eq!(errors[0].key, name);
            assert!(errors[0].to_string().contains("names no configuration key"));
            // The provider still gives its (empty) data.
            assert!(env.data().is_ok());
        }
        let (env, errors) = prefixed(&vars(&[("KEEPSAKE_JOBS___SHOP__SCHEDULE", "@daily")]));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(env.values.contains_key("jobs._shop.schedule"));
    }

    #[test]
    fn a_section_and_a_key_inside_it_conflict() {
        let (env, errors) = prefixed(&vars(&[
            ("KEEPSAKE_JOBS__SHOP", "x"),
            ("KEEPSAKE_JOBS__SHOP__SCHEDULE", "@daily"),
        ]));
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = errors[0].to_string();
        assert!(
            text.contains("KEEPSAKE_JOBS__SHOP and KEEPSAKE_JOBS__SHOP__SCHEDULE"),
            "{text}"
        );
        assert!(env.data().is_ok(), "merging them must not panic either");
    }
}
