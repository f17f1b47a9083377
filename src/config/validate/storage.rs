//! `[storage.NAME]`: S3 and local directory settings.

use super::{Checker, Reported, valid_name};
use crate::config::defaults;
use crate::config::error::ErrorKind;
use crate::config::model::*;
use crate::config::raw::{RawLocal, RawS3, RawStorage};

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

/// Trims slashes so that `nightly/`, `/nightly` and `nightly` are one prefix.
fn normalize_prefix(prefix: Option<String>) -> String {
    prefix.unwrap_or_default().trim_matches('/').to_string()
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
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => c.err(
                ErrorKind::S3,
                &key("endpoint"),
                format!("{endpoint:?} is not an http:// or https:// URL with a host"),
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
    (c.errors.len() == before).then(|| S3Config {
        bucket,
        prefix: normalize_prefix(raw.prefix),
        path_style: raw.path_style.unwrap_or(raw.endpoint.is_some()),
        upload_concurrency: upload_concurrency as usize,
        endpoint: raw.endpoint,
        region,
        credentials,
    })
}

fn check_local(c: &mut Checker, section: &str, raw: RawLocal) -> Option<LocalConfig> {
    let key = format!("{section}.path");
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
        Some(path) => Some(LocalConfig {
            path,
            prefix: normalize_prefix(raw.prefix),
        }),
    }
}
