//! `[storage.NAME]`: S3 and local directory settings.

use super::{Checker, Reported, valid_name};
use crate::config::defaults;
use crate::config::error::ErrorKind;
use crate::config::model::*;
use crate::config::raw::{RawLocal, RawObjectLock, RawS3, RawStorage};

pub(super) fn check_storage(c: &mut Checker, name: &str, raw: RawStorage) -> Option<StorageConfig> {
    let section = format!("storage.{name}");
    if !valid_name(name) {
        c.err(
            ErrorKind::Invalid,
            &section,
            "storage names may use only letters, digits, '-' and '_'",
        );
    }
    match raw {
        RawStorage::S3(s3) => check_s3(c, &section, s3).map(StorageConfig::S3),
        RawStorage::Local(local) => check_local(c, &section, local).map(StorageConfig::Local),
    }
}

/// The longest file name Linux file systems take (NAME_MAX), in bytes.
pub(super) const NAME_MAX: usize = 255;

/// Trims slashes so that `nightly/`, `/nightly` and `nightly` are one
/// prefix. Inside it, segments must be names: an empty one (`a//b`), `.`
/// or `..` would be the same place spelled another way, or another place
/// (a directory outside the storage's path), or a key S3 servers such as
/// MinIO refuse. A local prefix's segments are also file names.
fn check_prefix(
    c: &mut Checker,
    key: &str,
    kind: ErrorKind,
    local: bool,
    prefix: Option<String>,
) -> String {
    let prefix = prefix.unwrap_or_default().trim_matches('/').to_string();
    let mut problems = Vec::new();
    if prefix.split('/').any(str::is_empty) && !prefix.is_empty() {
        problems.push("an empty segment (two slashes in a row)".to_string());
    }
    for dots in [".", ".."] {
        if prefix.split('/').any(|s| s == dots) {
            problems.push(format!("a {dots:?} segment"));
        }
    }
    if local {
        if prefix.contains('\0') {
            problems.push("a NUL character".to_string());
        }
        if let Some(long) = prefix.split('/').find(|s| s.len() > NAME_MAX) {
            problems.push(format!(
                "a segment of {} bytes (a directory name takes at most {NAME_MAX})",
                long.len()
            ));
        }
    }
    if !problems.is_empty() {
        c.err(
            kind,
            key,
            format!(
                "{prefix:?} has {}; a prefix is names joined by '/'",
                problems.join(" and ")
            ),
        );
    }
    prefix
}

/// `url` for a message, with anything before an `@` (user and password)
/// shown as `***`.
fn without_credentials(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url.rfind('@') {
        Some(at) if at >= start => format!("{}***{}", &url[..start], &url[at..]),
        _ => url.to_string(),
    }
}

fn valid_bucket(bucket: &str) -> bool {
    let ok_chars = bucket
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_'));
    let ends_ok = bucket.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        && bucket.ends_with(|ch: char| ch.is_ascii_alphanumeric());
    (3..=255).contains(&bucket.len()) && ok_chars && ends_ok
}

const MAX_UPLOAD_CONCURRENCY: u32 = 16;

fn check_s3(c: &mut Checker, section: &str, raw: RawS3) -> Option<S3Config> {
    let key = |k: &str| format!("{section}.{k}");
    let before = c.errors.len();
    let bucket = raw.bucket.unwrap_or_default();
    if bucket.is_empty() {
        c.missing(&key("bucket"));
    } else if !valid_bucket(&bucket) {
        c.err(
            ErrorKind::S3,
            &key("bucket"),
            format!("{bucket:?} is not a valid bucket name (3-255 letters, digits, '.', '-', '_')"),
        );
    }
    if let Some(endpoint) = &raw.endpoint {
        match url::Url::parse(endpoint) {
            Ok(u) if !u.username().is_empty() || u.password().is_some() => c.err(
                ErrorKind::S3,
                &key("endpoint"),
                format!(
                    "{:?} holds credentials (user:password@); put the keys in \
                     access_key_id and secret_access_key (or their _file settings)",
                    without_credentials(endpoint)
                ),
            ),
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => c.err(
                ErrorKind::S3,
                &key("endpoint"),
                format!(
                    "{:?} is not an http:// or https:// URL with a host",
                    without_credentials(endpoint)
                ),
            ),
        }
    }
    let upload_concurrency = raw
        .upload_concurrency
        .unwrap_or(defaults::UPLOAD_CONCURRENCY);
    if !(1..=MAX_UPLOAD_CONCURRENCY).contains(&upload_concurrency) {
        c.err(
            ErrorKind::S3,
            &key("upload_concurrency"),
            format!("{upload_concurrency} is not between 1 and {MAX_UPLOAD_CONCURRENCY} (parts uploading at once)"),
        );
    }
    let region = raw.region.unwrap_or_else(|| defaults::REGION.to_string());
    if region.is_empty()
        || !region
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
    {
        c.err(
            ErrorKind::S3,
            &key("region"),
            format!("{region:?} is not a region name"),
        );
    }
    let id = c.secret(
        &key("access_key_id"),
        raw.access_key_id,
        raw.access_key_id_file.as_deref(),
        ErrorKind::S3,
    );
    let secret = c.secret(
        &key("secret_access_key"),
        raw.secret_access_key,
        raw.secret_access_key_file.as_deref(),
        ErrorKind::S3,
    );
    let prefix = check_prefix(c, &key("prefix"), ErrorKind::S3, false, raw.prefix);
    let credentials = match (id, secret) {
        (Err(Reported), _) | (_, Err(Reported)) => None,
        (Ok(Some(access_key_id)), Ok(Some(secret_access_key))) => Some(StaticCredentials {
            access_key_id,
            secret_access_key,
        }),
        (Ok(None), Ok(None)) => None,
        (Ok(Some(_)), Ok(None)) => {
            c.err(
                ErrorKind::S3,
                &key("secret_access_key"),
                "an access key id is set but no secret access key",
            );
            None
        }
        (Ok(None), Ok(Some(_))) => {
            c.err(
                ErrorKind::S3,
                &key("access_key_id"),
                "a secret access key is set but no access key id",
            );
            None
        }
    };
    let sse = check_sse(c, section, raw.sse.as_deref(), raw.sse_kms_key_id.is_some());
    let storage_class = check_storage_class(c, &key("storage_class"), raw.storage_class);
    let object_lock = raw
        .object_lock
        .and_then(|lock| check_object_lock(c, &key("object_lock"), lock));
    (c.errors.len() == before).then(|| S3Config {
        bucket,
        prefix,
        path_style: raw.path_style.unwrap_or(raw.endpoint.is_some()),
        upload_concurrency: upload_concurrency as usize,
        endpoint: raw.endpoint,
        region,
        credentials,
        sse,
        sse_kms_key_id: raw.sse_kms_key_id,
        storage_class,
        object_lock,
    })
}

/// The longest lock accepted: a lock is irrevocable in compliance mode,
/// so a typo of days must not lock a bucket for a century.
const MAX_LOCK_DAYS: u32 = 3650;

fn check_object_lock(c: &mut Checker, key: &str, raw: RawObjectLock) -> Option<ObjectLock> {
    let mode = match raw.mode.as_deref() {
        Some("governance") => Some(LockMode::Governance),
        Some("compliance") => Some(LockMode::Compliance),
        Some(other) => {
            c.err(
                ErrorKind::S3,
                &format!("{key}.mode"),
                format!("{other:?} is not a lock mode; use \"governance\" or \"compliance\""),
            );
            None
        }
        None => {
            c.missing(&format!("{key}.mode"));
            None
        }
    };
    let days = match raw.days {
        Some(days @ 1..=MAX_LOCK_DAYS) => Some(days),
        Some(days) => {
            c.err(
                ErrorKind::S3,
                &format!("{key}.days"),
                format!("{days} days: a lock lasts 1 to {MAX_LOCK_DAYS} days"),
            );
            None
        }
        None => {
            c.missing(&format!("{key}.days"));
            None
        }
    };
    Some(ObjectLock {
        mode: mode?,
        days: days?,
    })
}

fn check_sse(c: &mut Checker, section: &str, sse: Option<&str>, kms_key: bool) -> Option<Sse> {
    let sse = match sse {
        None => None,
        Some("AES256") => Some(Sse::Aes256),
        Some("aws:kms") => Some(Sse::Kms),
        Some(other) => {
            c.err(
                ErrorKind::S3,
                &format!("{section}.sse"),
                format!("{other:?} is not a server-side encryption; use \"AES256\" or \"aws:kms\""),
            );
            return None;
        }
    };
    if kms_key && sse != Some(Sse::Kms) {
        c.err(
            ErrorKind::S3,
            &format!("{section}.sse_kms_key_id"),
            "a KMS key needs sse = \"aws:kms\"",
        );
    }
    sse
}

/// Storage classes whose objects cannot be read without a restore
/// request first: a backup in one could not be restored at 3 a.m.
const ARCHIVED_CLASSES: &[&str] = &["GLACIER", "DEEP_ARCHIVE"];

fn check_storage_class(c: &mut Checker, key: &str, class: Option<String>) -> Option<String> {
    let class = class?;
    let well_formed = !class.is_empty()
        && class
            .chars()
            .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_');
    if !well_formed {
        c.err(
            ErrorKind::S3,
            key,
            format!("{class:?} is not a storage class like \"STANDARD_IA\" or \"GLACIER_IR\""),
        );
        return None;
    }
    if ARCHIVED_CLASSES.contains(&class.as_str()) {
        c.err(
            ErrorKind::S3,
            key,
            format!(
                "{class} objects must be restored before they can be read, so keepsake could not \
                 verify or restore them when needed; use GLACIER_IR, STANDARD_IA or a lifecycle rule"
            ),
        );
        return None;
    }
    Some(class)
}

fn check_local(c: &mut Checker, section: &str, raw: RawLocal) -> Option<LocalConfig> {
    let before = c.errors.len();
    let key = format!("{section}.path");
    let prefix_key = format!("{section}.prefix");
    let prefix = check_prefix(c, &prefix_key, ErrorKind::Invalid, true, raw.prefix);
    match raw.path {
        None => {
            c.missing(&key);
            None
        }
        Some(path) if !path.is_absolute() => {
            c.err(
                ErrorKind::Invalid,
                &key,
                format!("{} is not an absolute path", path.display()),
            );
            None
        }
        Some(path) => (c.errors.len() == before).then_some(LocalConfig { path, prefix }),
    }
}
