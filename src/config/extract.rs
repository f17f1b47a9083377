//! The merged figment -> [`RawSections`], one field at a time: serde stops
//! a struct at its first bad value or unknown key, so every section is read
//! field by field instead, and every bad value and every unknown key is
//! reported, each with its full key and the file or variable it came from.

use std::collections::BTreeSet;

use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Profile, Source};
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use super::error::{ConfigError, ErrorKind};
use super::raw::{
    RawAgent, RawHttp, RawJob, RawLocal, RawLog, RawNotify, RawObjectLock, RawRetention, RawS3,
    RawStorage, RawTargets,
};
use super::validate::RawSections;

/// Reads every section of `figment`; `None` when its data cannot be had at
/// all (the problem is in `errors`).
pub fn sections(figment: &Figment, errors: &mut Vec<ConfigError>) -> Option<RawSections> {
    let top = match figment.find_value("") {
        Ok(Value::Dict(_, top)) => top,
        Ok(_) => Dict::new(),
        Err(e) => {
            errors.extend(from_figment(e, ""));
            return None;
        }
    };
    let mut raw = RawSections::default();
    let mut s = Section::new(figment, "", &top, errors);
    if let Some(log) = s.table("log", read_log) {
        raw.log = log;
    }
    if let Some(agent) = s.table("agent", read_agent) {
        raw.agent = agent;
    }
    if let Some(http) = s.table("http", read_http) {
        raw.http = http;
    }
    if let Some(notify) = s.table("notify", read_notify) {
        raw.notify = notify;
    }
    for (name, storage) in s.tables("storage") {
        raw.storage_names.push(name.clone());
        if let Some(storage) = storage {
            raw.storage.insert(name, storage);
        }
    }
    let jobs = s.tables("jobs");
    raw.declared_jobs = jobs.len();
    for (name, job) in jobs {
        if let Some(job) = job {
            raw.jobs.insert(name, job);
        }
    }
    s.finish();
    Some(raw)
}

/// What a `[...]` section is read into.
trait Read: Sized {
    /// What the sections are called in messages: `storage`, `job`.
    const WHAT: &'static str;
    fn read(s: &mut Section) -> Option<Self>;
}

impl Read for RawStorage {
    const WHAT: &'static str = "storage";
    fn read(s: &mut Section) -> Option<Self> {
        read_storage(s)
    }
}

impl Read for RawJob {
    const WHAT: &'static str = "job";
    fn read(s: &mut Section) -> Option<Self> {
        Some(read_job(s))
    }
}

fn read_log(s: &mut Section) -> RawLog {
    RawLog {
        level: s.get("level"),
        format: s.get("format"),
        progress_interval: s.get("progress_interval"),
    }
}

fn read_agent(s: &mut Section) -> RawAgent {
    RawAgent {
        max_concurrent: s.get("max_concurrent"),
        shutdown_timeout: s.get("shutdown_timeout"),
        abandoned_upload_after: s.get("abandoned_upload_after"),
        timezone: s.get("timezone"),
    }
}

fn read_http(s: &mut Section) -> RawHttp {
    RawHttp {
        listen: s.get("listen"),
    }
}

fn read_notify(s: &mut Section) -> RawNotify {
    RawNotify {
        targets: read_targets(s),
        timeout: s.get("timeout"),
        retries: s.get("retries"),
    }
}

fn read_targets(s: &mut Section) -> RawTargets {
    RawTargets {
        healthcheck_url: s.secret("healthcheck_url"),
        healthcheck_url_file: s.get("healthcheck_url_file"),
        webhook_url: s.secret("webhook_url"),
        webhook_url_file: s.get("webhook_url_file"),
    }
}

fn read_storage(s: &mut Section) -> Option<RawStorage> {
    let kind: Option<String> = s.get("type");
    match kind.as_deref() {
        Some("s3") => Some(RawStorage::S3(RawS3 {
            bucket: s.get("bucket"),
            prefix: s.get("prefix"),
            endpoint: s.get("endpoint"),
            region: s.get("region"),
            path_style: s.get("path_style"),
            upload_concurrency: s.get("upload_concurrency"),
            sse: s.get("sse"),
            sse_kms_key_id: s.get("sse_kms_key_id"),
            storage_class: s.get("storage_class"),
            object_lock: s.table("object_lock", read_object_lock),
            access_key_id: s.secret("access_key_id"),
            access_key_id_file: s.get("access_key_id_file"),
            secret_access_key: s.secret("secret_access_key"),
            secret_access_key_file: s.get("secret_access_key_file"),
        })),
        Some("local") => Some(RawStorage::Local(RawLocal {
            path: s.get("path"),
            prefix: s.get("prefix"),
        })),
        other => {
            // Which keys belong depends on the type: none is judged.
            s.skip_rest();
            let key = s.key("type");
            let section = s.path.clone();
            match other {
                None if !s.has("type") => s.error(
                    ErrorKind::Missing,
                    &key,
                    &section,
                    "required setting is missing: type = \"s3\" or type = \"local\"",
                ),
                None => {}
                Some(other) => s.error(
                    ErrorKind::Invalid,
                    &key,
                    &key,
                    format!("unknown storage type {other:?}; use \"s3\" or \"local\""),
                ),
            }
            None
        }
    }
}

fn read_job(s: &mut Section) -> RawJob {
    RawJob {
        database: s.secret("database"),
        database_file: s.get("database_file"),
        password: s.secret("password"),
        password_file: s.get("password_file"),
        schedule: s.get("schedule"),
        storage: s.get("storage"),
        format: s.get("format"),
        compression: s.get("compression"),
        compression_level: s.get("compression_level"),
        compression_threads: s.get("compression_threads"),
        pg_dump_args: s.get("pg_dump_args"),
        retention: s.table("retention", read_retention),
        naming: s.get("naming"),
        timezone: s.get("timezone"),
        run_on_start: s.get("run_on_start"),
        verify_after_backup: s.get("verify_after_backup"),
        verify_restore_into: s.secret("verify_restore_into"),
        stale_after: s.get("stale_after"),
        notify: read_targets(s),
        encrypt_to: s.get("encrypt_to"),
        recipients_file: s.get("recipients_file"),
        databases: s.get("databases"),
        exclude: s.get("exclude"),
        globals: s.get("globals"),
        globals_with_passwords: s.get("globals_with_passwords"),
    }
}

fn read_object_lock(s: &mut Section) -> RawObjectLock {
    RawObjectLock {
        mode: s.get("mode"),
        days: s.count("days"),
    }
}

fn read_retention(s: &mut Section) -> RawRetention {
    RawRetention {
        keep_days: s.count("keep_days"),
        keep_last: s.count("keep_last"),
        keep_daily: s.count("keep_daily"),
        keep_weekly: s.count("keep_weekly"),
        keep_monthly: s.count("keep_monthly"),
    }
}

/// One table being read: which of its keys were asked for, so that the
/// others can be reported as unknown.
struct Section<'a> {
    figment: &'a Figment,
    /// Its dotted key; empty for the top level.
    path: String,
    table: &'a Dict,
    known: BTreeSet<&'static str>,
    /// Set when the keys cannot be judged (a storage of unknown type).
    skip_rest: bool,
    errors: &'a mut Vec<ConfigError>,
}

impl<'a> Section<'a> {
    fn new(
        figment: &'a Figment,
        path: &str,
        table: &'a Dict,
        errors: &'a mut Vec<ConfigError>,
    ) -> Self {
        Section {
            figment,
            path: path.to_string(),
            table,
            known: BTreeSet::new(),
            skip_rest: false,
            errors,
        }
    }

    fn key(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    fn has(&self, field: &str) -> bool {
        self.table.contains_key(field)
    }

    /// Records a problem; its origin is that of `origin_key`'s value.
    fn error(&mut self, kind: ErrorKind, key: &str, origin_key: &str, message: impl Into<String>) {
        let origin = origin_of(self.figment, origin_key);
        self.errors
            .push(ConfigError::new(kind, key, origin, message));
    }

    /// The value of `field`, read as a `T` (text read as a number or a
    /// boolean where one is expected: environment variables are text).
    fn get<T: DeserializeOwned>(&mut self, field: &'static str) -> Option<T> {
        self.known.insert(field);
        if !self.has(field) {
            return None;
        }
        let key = self.key(field);
        match self.figment.extract_inner_lossy::<T>(&key) {
            Ok(value) => Some(value),
            Err(e) => {
                self.errors.extend(from_figment(e, &key));
                None
            }
        }
    }

    /// As [`Section::get`], for a secret: a wrong type is reported without
    /// the value (serde's message would quote a number).
    fn secret(&mut self, field: &'static str) -> Option<SecretString> {
        self.known.insert(field);
        if !self.has(field) {
            return None;
        }
        let key = self.key(field);
        match self.figment.extract_inner_lossy::<SecretString>(&key) {
            Ok(value) => Some(value),
            Err(_) => {
                let message = "must be a string (the value is not shown: it is a secret)";
                self.error(ErrorKind::Invalid, &key, &key, message);
                None
            }
        }
    }

    /// A retention count: more than a `u32` holds gets its own advice.
    fn count(&mut self, field: &'static str) -> Option<u32> {
        let n: u64 = self.get(field)?;
        u32::try_from(n).ok().or_else(|| {
            let key = self.key(field);
            let message = format!("{n} is too large; to keep every backup, leave the rule out");
            self.error(ErrorKind::Invalid, &key, &key, message);
            None
        })
    }

    /// The table at `field`, read by `read`; an error when it is no table.
    fn table<T>(&mut self, field: &'static str, read: fn(&mut Section) -> T) -> Option<T> {
        self.known.insert(field);
        let key = self.key(field);
        match self.table.get(field)? {
            Value::Dict(_, table) => {
                let mut inner = Section::new(self.figment, &key, table, self.errors);
                let value = read(&mut inner);
                inner.finish();
                Some(value)
            }
            _ => {
                let message = format!("must be a table: [{key}] with its settings");
                self.error(ErrorKind::Invalid, &key, &key, message);
                None
            }
        }
    }

    /// The `[field.NAME]` tables, each read as a `T` (`None` when it could
    /// not be); every declared name is listed, read or not.
    fn tables<T: Read>(&mut self, field: &'static str) -> Vec<(String, Option<T>)> {
        self.known.insert(field);
        let key = self.key(field);
        let Some(value) = self.table.get(field) else {
            return Vec::new();
        };
        let Value::Dict(_, tables) = value else {
            let message = format!("must hold tables: [{key}.NAME] with each one's settings");
            self.error(ErrorKind::Invalid, &key, &key, message);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, value) in tables {
            let path = format!("{key}.{name}");
            let read = match value {
                // A dotted name cannot be looked up by its key; validation
                // would refuse it anyway.
                _ if name.contains('.') => {
                    let message = format!(
                        "{} names may use only letters, digits, '-' and '_'",
                        T::WHAT
                    );
                    self.error(
                        ErrorKind::Invalid,
                        &format!("{key}.\"{name}\""),
                        &key,
                        message,
                    );
                    None
                }
                Value::Dict(_, table) => {
                    let mut inner = Section::new(self.figment, &path, table, self.errors);
                    let read = T::read(&mut inner);
                    inner.finish();
                    read
                }
                _ => {
                    let message = format!("must be a table: [{path}] with its settings");
                    self.error(ErrorKind::Invalid, &path, &path, message);
                    None
                }
            };
            out.push((name.clone(), read));
        }
        out
    }

    /// Takes every key as known: their meaning cannot be judged.
    fn skip_rest(&mut self) {
        self.skip_rest = true;
    }

    /// Reports every key that no one asked for.
    fn finish(self) {
        let unknown: Vec<&String> = self
            .table
            .keys()
            .filter(|k| !self.known.contains(k.as_str()))
            .collect();
        if unknown.is_empty() || self.skip_rest {
            return;
        }
        let known: Vec<&str> = self.known.iter().copied().collect();
        let place = if self.path.is_empty() {
            "the top level".to_string()
        } else {
            format!("[{}]", self.path)
        };
        for name in unknown {
            let key = self.key(name);
            let origin = origin_of(self.figment, &key);
            let message = match known.iter().find(|k| close(name, k)) {
                Some(meant) => format!("unknown key; did you mean {meant}?"),
                None => format!("unknown key; {place} knows {}", known.join(", ")),
            };
            self.errors
                .push(ConfigError::new(ErrorKind::Invalid, key, origin, message));
        }
    }
}

/// True when `a` is `b` misspelt: at most two letters added, dropped,
/// changed or swapped, and not a different short word.
fn close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let limit = if a.len().min(b.len()) < 5 { 1 } else { 2 };
    if a.len().abs_diff(b.len()) > limit {
        return false;
    }
    // Optimal string alignment distance, rows of the table kept as needed.
    let mut before: Vec<usize> = Vec::new();
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let change = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + change);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut last, row);
    }
    last[b.len()] <= limit
}

/// Where the value at `key` came from, for error messages.
pub fn origin_of(figment: &Figment, key: &str) -> String {
    let path: Vec<&str> = key.split('.').collect();
    figment
        .find_metadata(key)
        .map(|md| describe(md, &path))
        .unwrap_or_default()
}

fn describe<K: AsRef<str>>(md: &Metadata, path: &[K]) -> String {
    match &md.source {
        Some(Source::File(file)) => file.display().to_string(),
        _ if md.name.contains("environment") => {
            format!("environment: {}", md.interpolate(&Profile::Default, path))
        }
        _ => md.name.to_string(),
    }
}

/// Converts figment's errors; `at` is the key the value was extracted
/// from, which figment appends to the path instead of prepending it.
fn from_figment(error: figment::Error, at: &str) -> Vec<ConfigError> {
    let at: Vec<String> = at
        .split('.')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    error
        .into_iter()
        .map(|mut e| {
            if !at.is_empty() && e.path.ends_with(&at) {
                e.path.rotate_right(at.len());
            }
            let kind = match e.kind {
                figment::error::Kind::MissingField(_) => ErrorKind::Missing,
                _ => ErrorKind::Invalid,
            };
            let key = if e.path.is_empty() {
                "(top level)".to_string()
            } else {
                e.path.join(".")
            };
            let origin = e
                .metadata
                .as_ref()
                .map(|md| describe(md, &e.path))
                .unwrap_or_default();
            ConfigError::new(kind, key, origin, e.kind.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::close;

    #[test]
    fn misspellings_are_close_other_words_are_not() {
        for (typo, meant) in [
            ("schedul", "schedule"),
            ("shedule", "schedule"),
            ("scheduel", "schedule"),
            ("keep_dayz", "keep_days"),
            ("bukcet", "bucket"),
            ("typ", "type"),
        ] {
            assert!(close(typo, meant), "{typo} ~ {meant}");
        }
        for (other, key) in [
            ("foo", "log"),
            ("bogus", "jobs"),
            ("keep_dayz", "keep_daily"),
            ("prefix", "region"),
            ("", "log"),
        ] {
            assert!(!close(other, key), "{other} !~ {key}");
        }
    }
}
