//! S3 Object Lock: every object keepsake writes gets a retain-until date
//! (`object_lock = { mode, days }`), so that nobody, keepsake and a thief
//! with its keys included, can delete or overwrite it before then.
//!
//! - a single PutObject carries the lock and the Content-MD5 that stores
//!   require with it;
//! - a multipart upload asks for the lock when it starts and, since some
//!   stores (Ceph, moto) drop it on completion, sets it on the completed
//!   version with PutObjectRetention;
//! - a bucket without Object Lock is refused before anything is written;
//! - deleting (retention, leftovers) removes every version of a key, not
//!   just hides it behind a delete marker, and a version still locked is
//!   reported as [`ErrorKind::Locked`] with its date.

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    ObjectLockEnabled, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
};
use base64::Engine as _;
use jiff::Timestamp;
use md5::{Digest, Md5};

use super::S3Storage;
use super::errors::sdk_message;
use crate::config::{LockMode, ObjectLock};
use crate::storage::{ErrorKind, StorageError};

/// The date an object written at `now` is locked until.
fn retain_until(lock: &ObjectLock, now: Timestamp) -> Timestamp {
    let span = jiff::SignedDuration::from_hours(24 * i64::from(lock.days));
    now.checked_add(span).unwrap_or(Timestamp::MAX)
}

fn sdk_time(at: Timestamp) -> DateTime {
    DateTime::from_secs(at.as_second())
}

/// The retain-until date of an object written now, as the SDK takes it.
pub(super) fn until_from_now(lock: &ObjectLock) -> DateTime {
    sdk_time(retain_until(lock, Timestamp::now()))
}

fn from_sdk(at: &DateTime) -> Option<Timestamp> {
    Timestamp::from_second(at.secs()).ok()
}

pub(super) fn mode(lock: &ObjectLock) -> ObjectLockMode {
    match lock.mode {
        LockMode::Governance => ObjectLockMode::Governance,
        LockMode::Compliance => ObjectLockMode::Compliance,
    }
}

fn retention_mode(lock: &ObjectLock) -> ObjectLockRetentionMode {
    match lock.mode {
        LockMode::Governance => ObjectLockRetentionMode::Governance,
        LockMode::Compliance => ObjectLockRetentionMode::Compliance,
    }
}

/// Content-MD5 of `body`: S3 wants it (or a checksum) with a lock.
pub(super) fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

impl S3Storage {
    /// Fails unless the bucket has Object Lock enabled.
    pub(super) async fn check_lock_enabled(&self) -> Result<(), StorageError> {
        let result = self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await;
        let refused = |why: String| {
            self.error(
                "GetObjectLockConfiguration",
                "",
                format!(
                    "object_lock is set, but {why}: create the bucket with Object Lock enabled \
                     (aws s3api create-bucket --object-lock-enabled-for-bucket), or remove object_lock"
                ),
            )
        };
        match result {
            Ok(out) => {
                let enabled = out
                    .object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    == Some(&ObjectLockEnabled::Enabled);
                if enabled {
                    Ok(())
                } else {
                    Err(refused(
                        "the bucket does not have Object Lock enabled".into(),
                    ))
                }
            }
            Err(e)
                if super::errors::code_of(&e) == Some("ObjectLockConfigurationNotFoundError") =>
            {
                Err(refused(
                    "the bucket does not have Object Lock enabled".into(),
                ))
            }
            Err(e) => Err(refused(format!(
                "its lock configuration cannot be read ({})",
                sdk_message(&e)
            ))),
        }
    }

    /// Locks the current version of `key` until `lock.days` from now.
    pub(super) async fn lock_object(
        &self,
        lock: &ObjectLock,
        key: &str,
    ) -> Result<(), StorageError> {
        let head = self.head(key).await?.ok_or_else(|| {
            self.error("PutObjectRetention", key, "the object is not there".into())
        })?;
        // Always from now, even when the store kept the lock asked for at
        // the upload's start: the data is then locked at least as long as
        // its manifest, written before the upload completed.
        let retention = ObjectLockRetention::builder()
            .mode(retention_mode(lock))
            .retain_until_date(until_from_now(lock))
            .build();
        self.client
            .put_object_retention()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(head.version_id().map(str::to_string))
            .retention(retention)
            .send()
            .await
            .map_err(|e| {
                self.error(
                    "PutObjectRetention",
                    key,
                    format!("stored, but it could not be locked: {}", sdk_message(&e)),
                )
            })?;
        Ok(())
    }

    /// When the newest version of `key` is locked until, if it is locked
    /// past `now`.
    pub(super) async fn lock_of(
        &self,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StorageError> {
        let Some(head) = self.head(key).await? else {
            return Ok(None);
        };
        Ok(head
            .object_lock_retain_until_date()
            .and_then(from_sdk)
            .filter(|until| *until > now))
    }

    /// Deletes every version and delete marker of `key` (exactly that
    /// key); a version still locked stops it with [`ErrorKind::Locked`].
    pub(super) async fn delete_versions(&self, key: &str) -> Result<(), StorageError> {
        let mut versions = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(key)
                .set_key_marker(markers.0.take())
                .set_version_id_marker(markers.1.take())
                .send()
                .await
                .map_err(|e| self.error("ListObjectVersions", key, sdk_message(&e)))?;
            let found = page
                .versions()
                .iter()
                .filter(|v| v.key() == Some(key))
                .filter_map(|v| v.version_id())
                .chain(
                    page.delete_markers()
                        .iter()
                        .filter(|m| m.key() == Some(key))
                        .filter_map(|m| m.version_id()),
                );
            versions.extend(found.map(str::to_string));
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            markers = (
                page.next_key_marker().map(str::to_string),
                page.next_version_id_marker().map(str::to_string),
            );
            // A truncated page without a place to go on from: stop rather
            // than list the first page forever.
            if markers.0.is_none() && markers.1.is_none() {
                break;
            }
        }
        for version in &versions {
            let deleted = self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .version_id(version)
                .send()
                .await;
            if let Err(e) = deleted {
                let message = sdk_message(&e);
                return Err(match self.version_lock(key, version).await {
                    Some(until) => self
                        .error("DELETE", key, format!("locked until {until}"))
                        .with_kind(ErrorKind::Locked(until)),
                    None => self.error("DELETE", key, message),
                });
            }
        }
        Ok(())
    }

    /// When a version is locked until, if it is still locked.
    async fn version_lock(&self, key: &str, version: &str) -> Option<Timestamp> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version)
            .send()
            .await
            .ok()?;
        head.object_lock_retain_until_date()
            .and_then(from_sdk)
            .filter(|until| *until > Timestamp::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_lasts_its_days_from_the_write() {
        let lock = ObjectLock {
            mode: LockMode::Compliance,
            days: 30,
        };
        let now: Timestamp = "2026-11-29T03:00:00Z".parse().unwrap();
        assert_eq!(
            retain_until(&lock, now),
            "2026-12-29T03:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(mode(&lock), ObjectLockMode::Compliance);
        // RFC 1864: the MD5 of the empty body.
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }
}
