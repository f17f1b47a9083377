//! Committing the copies of one backup: the manifest is written first, as
//! the claim on the key, then the upload completed; a write that failed
//! although the store applied it counts when the object there carries the
//! run's mark.

use bytes::Bytes;
use jiff::Timestamp;

use super::{CopyFailure, StoredCopy, Versions};
use crate::catalog::{Backup, State};
use crate::config::JobConfig;
use crate::manifest::{MANIFEST_VERSION, Manifest, Sealed};
use crate::naming::{self, BackupName};
use crate::pipeline::Summary;
use crate::storage::{ErrorKind, NamedStorage, Storage, StorageError, Upload};

/// One storage's copy while the dump streams: its upload until it fails.
pub(super) struct Copy {
    pub upload: Option<Box<dyn Upload>>,
    pub failed: Option<StorageError>,
}

/// What every copy of one backup is committed with.
pub(super) struct Commit<'a> {
    pub job: &'a JobConfig,
    pub name: &'a BackupName,
    pub summary: &'a Summary,
    pub versions: Versions,
    pub started: Timestamp,
    pub run: &'a str,
}

impl Commit<'_> {
    /// Commits every copy still uploading; the stored ones and the
    /// failures (including those of the stream).
    pub(super) async fn all(
        &self,
        storages: &[NamedStorage],
        keys: &[String],
        copies: Vec<Copy>,
    ) -> (Vec<StoredCopy>, Vec<CopyFailure>) {
        let mut stored = Vec::new();
        let mut failures = Vec::new();
        for ((s, key), copy) in storages.iter().zip(keys).zip(copies) {
            let result = match (copy.upload, copy.failed) {
                (_, Some(e)) => Err(e),
                (Some(upload), None) => self.one(s, key, upload).await,
                (None, None) => unreachable!("a copy without upload has failed"),
            };
            match result {
                Ok(()) => stored.push(StoredCopy {
                    storage: s.name.clone(),
                    backup: Backup {
                        key: key.clone(),
                        name: self.name.clone(),
                        size: self.summary.stored_bytes,
                        state: State::Complete,
                        written: None,
                    },
                }),
                Err(error) => failures.push(CopyFailure {
                    storage: s.name.clone(),
                    error,
                }),
            }
        }
        (stored, failures)
    }

    /// Claims the key by writing the manifest (a conditional PutObject,
    /// which stores honour more widely than a conditional
    /// CompleteMultipartUpload), then completes the upload: a key another
    /// writer holds is never replaced, and a backup is its data and its
    /// manifest. A request that failed although the store applied it (the
    /// answer was lost, or a retry found the run's own object) counts as
    /// done when what is there was written by this run.
    async fn one(
        &self,
        s: &NamedStorage,
        key: &str,
        upload: Box<dyn Upload>,
    ) -> Result<(), StorageError> {
        let job = self.job;
        let storage = s.storage.as_ref();
        let manifest_key = naming::manifest_key(key);
        let body = Bytes::from(self.manifest(key).to_json());
        if let Err(e) = storage.put(&manifest_key, body, self.run).await
            && !landed_anyway(storage, &manifest_key, self.run, &e).await
        {
            tracing::error!(job = %job.name, storage = %s.name, error = %e, "writing the manifest failed; nothing is stored");
            upload.abort().await;
            return Err(e);
        }
        let finished = upload.finish().await;
        if let Err(e) = &finished
            && e.kind == ErrorKind::NotLocked
        {
            // Whole and with its manifest, so a backup; but not as
            // protected as configured: the copy fails, the backup stays.
            tracing::error!(job = %job.name, storage = %s.name, error = %e, "the backup is stored but could not be locked");
            return finished;
        }
        if let Err(e) = finished
            && !landed_anyway(storage, key, self.run, &e).await
        {
            tracing::error!(job = %job.name, storage = %s.name, error = %e, "storing the backup failed");
            if let Err(cleanup) = storage.delete(&manifest_key).await {
                tracing::error!(key = %manifest_key, error = %cleanup, "cannot remove the manifest of a failed backup; it is removed as a leftover later");
            }
            return Err(e);
        }
        Ok(())
    }

    fn manifest(&self, key: &str) -> Manifest {
        Manifest {
            manifest_version: MANIFEST_VERSION,
            job: self.job.name.clone(),
            key: key.to_string(),
            started_at: self.started.to_string(),
            finished_at: Timestamp::now().to_string(),
            format: self.job.format,
            compression: self.job.compression.kind,
            size: self.summary.stored_bytes,
            raw_size: self.summary.raw_bytes,
            sha256: self.summary.sha256.clone(),
            server_version: self.versions.server.full(),
            pg_dump_version: self.versions.pg_dump.full(),
            keepsake_version: env!("CARGO_PKG_VERSION").to_string(),
            encryption: self.job.encrypt_to.as_ref().map(|r| Sealed {
                scheme: "age".into(),
                recipients: r.shown(),
            }),
        }
    }
}

/// Whether the write to `key` that failed with `error` was applied all
/// the same: the object there carries this run's mark. Anything else there
/// belongs to another writer and is left alone.
async fn landed_anyway(storage: &dyn Storage, key: &str, run: &str, error: &StorageError) -> bool {
    match storage.written_by(key).await {
        Ok(Some(writer)) if writer == run => {
            tracing::warn!(storage = %storage.describe(), key, error = %error, "the request failed, but the store applied it: the object is this run's and whole");
            true
        }
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(key, error = %e, "cannot check whether the failed request was applied; counted as failed");
            false
        }
    }
}
