//! Storages: where backups are kept. One small trait, [`Storage`] (check,
//! list, get, put, stream an upload, delete), and its implementations, a
//! closed set chosen by the config's `type`:
//!
//! - [`s3`]: S3-compatible object storage, streaming multipart uploads
//!   (part sizes from [`parts`], pure);
//! - [`local`]: a directory, written by temp file, fsync and link;
//! - [`memory`]: objects in a map, with injectable faults, for unit tests
//!   of the rules that sit above storage.
//!
//! Every storage is opened by [`open`]; a job's storages by [`for_jobs`]
//! and [`of_job`].

pub mod local;
pub mod memory;
pub mod parts;
pub mod s3;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::config::{Config, JobConfig, StorageConfig};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{storage}: {op}{}: {message}", if key.is_empty() { String::new() } else { format!(" {key}") })]
pub struct StorageError {
    /// `s3://bucket`, `file:///path` or `memory://name`.
    pub storage: String,
    pub op: &'static str,
    pub key: String,
    pub message: String,
    pub kind: ErrorKind,
}

/// What the callers of a storage tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    #[default]
    Other,
    /// A write found its key taken: it never replaces an object.
    AlreadyExists,
    /// A deletion refused: S3 Object Lock holds the object until then.
    Locked(jiff::Timestamp),
    /// Stored whole, but the Object Lock asked for could not be set.
    NotLocked,
}

impl StorageError {
    pub fn new(storage: String, op: &'static str, key: &str, message: impl Into<String>) -> Self {
        StorageError {
            storage,
            op,
            key: key.to_string(),
            message: message.into(),
            kind: ErrorKind::Other,
        }
    }

    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }
}

/// An upload that was started and neither finished nor aborted: what a
/// killed process leaves (an open S3 multipart upload, a temp file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// The key it was meant for.
    pub key: String,
    /// What the storage needs to remove it (upload id, file name).
    pub id: String,
    /// When it was started, if the storage knows.
    pub started: Option<jiff::Timestamp>,
    /// Whether this process started it (it may be in flight).
    pub ours: bool,
}

/// One object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// When it was written, if the storage says.
    pub modified: Option<jiff::Timestamp>,
}

/// The bytes of a stored object, as they arrive.
pub type ObjectReader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// A place that holds objects by key.
#[async_trait]
pub trait Storage: Send + Sync {
    /// `s3://bucket` or `file:///path`, for logs and errors.
    fn describe(&self) -> String;

    /// The key prefix of this storage, without slashes at the ends.
    fn prefix(&self) -> &str;

    /// Checks that the storage can be used, before a dump starts.
    async fn preflight(&self) -> Result<(), StorageError>;

    async fn exists(&self, key: &str) -> Result<bool, StorageError>;

    /// Every key under `prefix` (ending in `/`, or empty for all), however
    /// many pages the listing takes.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError>;

    /// Streams the object at `key`.
    async fn get(&self, key: &str) -> Result<ObjectReader, StorageError>;

    /// Stores a small object whole, marked as written by `run`; never
    /// replaces one (a taken key fails with [`ErrorKind::AlreadyExists`]).
    async fn put(&self, key: &str, body: Bytes, run: &str) -> Result<(), StorageError>;

    /// Starts a streaming upload to `key`, marked as written by `run`:
    /// nothing appears under `key` until [`Upload::finish`] succeeds, and
    /// it never replaces an object.
    fn begin_upload(&self, key: &str, run: &str) -> Box<dyn Upload>;

    /// The run that wrote `key`, when the object exists and the storage
    /// records it. A run whose last request failed uses it to remove what
    /// may have landed anyway (the answer was lost), and nothing else.
    async fn written_by(&self, key: &str) -> Result<Option<String>, StorageError>;

    /// Removes `key`; a key that is already gone is no error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Removes every key in `keys`, in batches where the storage can; the
    /// failures, one per key that may remain.
    async fn delete_many(&self, keys: &[String]) -> Vec<StorageError> {
        let mut failures = Vec::new();
        for key in keys {
            if let Err(e) = self.delete(key).await {
                failures.push(e);
            }
        }
        failures
    }

    /// When `key` is locked (S3 Object Lock) until, if it is locked past
    /// `now`; stores without locks never are.
    async fn locked_until(
        &self,
        _key: &str,
        _now: jiff::Timestamp,
    ) -> Result<Option<jiff::Timestamp>, StorageError> {
        Ok(None)
    }

    /// Uploads under `prefix` (a directory, ending in `/`) that were
    /// started and never finished or aborted.
    async fn unfinished(&self, prefix: &str) -> Result<Vec<Unfinished>, StorageError>;

    /// Removes an unfinished upload and what it stored.
    async fn discard(&self, unfinished: &Unfinished) -> Result<(), StorageError>;
}

/// An upload in progress: [`Upload::finish`] makes the object appear whole,
/// [`Upload::abort`] (or dropping it) leaves nothing behind.
#[async_trait]
pub trait Upload: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;

    /// Commits the upload; on error nothing is left behind.
    async fn finish(self: Box<Self>) -> Result<(), StorageError>;

    /// Abandons the upload and removes what it wrote.
    async fn abort(self: Box<Self>);
}

/// Reads a small object (a manifest) whole; None when it does not exist.
pub async fn read_small(storage: &dyn Storage, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
    if !storage.exists(key).await? {
        return Ok(None);
    }
    let mut reader = storage.get(key).await?;
    let mut out = Vec::new();
    reader
        .read_to_end(&mut out)
        .await
        .map_err(|e| StorageError::new(storage.describe(), "read", key, e.to_string()))?;
    Ok(Some(out))
}

/// Opens the storage a `[storage.NAME]` entry describes.
pub async fn open(config: &StorageConfig) -> Arc<dyn Storage> {
    match config {
        StorageConfig::S3(c) => Arc::new(s3::S3Storage::connect(c).await),
        StorageConfig::Local(c) => Arc::new(local::LocalStorage::new(c)),
    }
}

/// A storage as one job uses it: its configured name and the opened storage.
#[derive(Clone)]
pub struct NamedStorage {
    pub name: String,
    pub storage: Arc<dyn Storage>,
}

/// Opens every storage the given jobs use, once each, by name.
pub async fn for_jobs(config: &Config, jobs: &[&JobConfig]) -> BTreeMap<String, Arc<dyn Storage>> {
    let mut opened = BTreeMap::new();
    for name in jobs.iter().flat_map(|j| j.storage.iter()) {
        if !opened.contains_key(name) {
            opened.insert(name.clone(), open(&config.storage[name]).await);
        }
    }
    opened
}

/// The storages of `job`, in its configured order, from those `opened`.
pub fn of_job(job: &JobConfig, opened: &BTreeMap<String, Arc<dyn Storage>>) -> Vec<NamedStorage> {
    job.storage
        .iter()
        .map(|name| NamedStorage {
            name: name.clone(),
            storage: Arc::clone(&opened[name]),
        })
        .collect()
}
