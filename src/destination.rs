//! Destinations: where backups are stored. A closed set (S3, local
//! directory) behind one small interface: check a key, stream an upload
//! that is either committed whole or leaves nothing, put and delete small
//! objects.
//!
//! - [`s3`]: S3-compatible object storage, streaming multipart uploads;
//! - [`local`]: a directory, written by temp file, fsync and link;
//! - [`parts`]: the multipart part-size schedule, pure.

pub mod local;
pub mod parts;
pub mod s3;

use bytes::Bytes;

use crate::config::StorageConfig;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{store}: {op}{}: {message}", if key.is_empty() { String::new() } else { format!(" {key}") })]
pub struct StoreError {
    /// `s3://bucket` or `file:///path`.
    pub store: String,
    pub op: &'static str,
    pub key: String,
    pub message: String,
}

/// One object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// The bytes of a stored object, as they arrive.
pub type ObjectReader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// An opened destination.
pub enum Store {
    S3(s3::S3Store),
    Local(local::LocalStore),
}

/// An upload in progress: [`Upload::finish`] makes the object appear whole,
/// [`Upload::abort`] (or dropping it) leaves nothing behind.
pub enum Upload {
    S3(s3::S3Upload),
    Local(local::LocalUpload),
}

impl Store {
    /// Opens the destination a storage entry describes.
    pub async fn open(config: &StorageConfig) -> Store {
        match config {
            StorageConfig::S3(c) => Store::S3(s3::S3Store::connect(c).await),
            StorageConfig::Local(c) => Store::Local(local::LocalStore::new(c)),
        }
    }

    /// The key prefix of this storage, without slashes at the ends.
    pub fn prefix(&self) -> &str {
        match self {
            Store::S3(s) => s.prefix(),
            Store::Local(l) => l.prefix(),
        }
    }

    /// `s3://bucket` or `file:///path`, for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            Store::S3(s) => s.describe(),
            Store::Local(l) => l.describe(),
        }
    }

    /// Checks that the destination can be used, before a dump starts.
    pub async fn preflight(&self) -> Result<(), StoreError> {
        match self {
            Store::S3(s) => s.preflight().await,
            Store::Local(l) => l.preflight().await,
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self {
            Store::S3(s) => s.exists(key).await,
            Store::Local(l) => l.exists(key).await,
        }
    }

    /// Starts a streaming upload to `key`.
    pub fn begin(&self, key: &str) -> Upload {
        match self {
            Store::S3(s) => Upload::S3(s.begin(key)),
            Store::Local(l) => Upload::Local(l.begin(key)),
        }
    }

    /// Stores a small object whole.
    pub async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        match self {
            Store::S3(s) => s.put(key, body).await,
            Store::Local(l) => l.put(key, body).await,
        }
    }

    /// Every key under `prefix` (ending in `/`, or empty for all), however
    /// many pages the listing takes.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        match self {
            Store::S3(s) => s.list(prefix).await,
            Store::Local(l) => l.list(prefix).await,
        }
    }

    /// Streams the object at `key`.
    pub async fn get(&self, key: &str) -> Result<ObjectReader, StoreError> {
        match self {
            Store::S3(s) => s.get(key).await,
            Store::Local(l) => l.get(key).await,
        }
    }

    /// Reads a small object (a manifest) whole; None when it does not exist.
    pub async fn get_small(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        use tokio::io::AsyncReadExt;
        if !self.exists(key).await? {
            return Ok(None);
        }
        let mut reader = self.get(key).await?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.map_err(|e| StoreError {
            store: self.describe(),
            op: "read",
            key: key.to_string(),
            message: e.to_string(),
        })?;
        Ok(Some(out))
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::S3(s) => s.delete(key).await,
            Store::Local(l) => l.delete(key).await,
        }
    }
}

impl Upload {
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        match self {
            Upload::S3(u) => u.write(chunk).await,
            Upload::Local(u) => u.write(chunk).await,
        }
    }

    /// Commits the upload; on error nothing is left behind.
    pub async fn finish(self) -> Result<(), StoreError> {
        match self {
            Upload::S3(u) => u.finish().await,
            Upload::Local(u) => u.finish().await,
        }
    }

    /// Abandons the upload and removes what it wrote.
    pub async fn abort(self) {
        match self {
            Upload::S3(u) => u.abort().await,
            Upload::Local(u) => u.abort().await,
        }
    }
}
