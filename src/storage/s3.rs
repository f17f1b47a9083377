//! S3-compatible storage. A stream is buffered into parts of growing size
//! and uploaded while the dump goes on (`upload_concurrency` parts at once,
//! one more filling); a stream smaller than one part becomes a single
//! PutObject. Any failure aborts the multipart upload, so no partial object
//! ever appears.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, ServerSideEncryption, StorageClass};
use bytes::Bytes;
use secrecy::ExposeSecret;

use super::{ErrorKind, ObjectInfo, ObjectReader, Storage, StorageError, Unfinished, Upload};
use crate::config::{ObjectLock, S3Config, Sse};
use errors::{key_taken, no_conditional_writes, sdk_message};
pub use upload::S3Upload;

mod errors;
mod lock;
mod upload;

/// Attempts per request (the SDK backs off exponentially between them).
const MAX_ATTEMPTS: u32 = 5;

/// A bucket and prefix with a client for them.
#[derive(Clone)]
pub struct S3Storage {
    client: Client,
    bucket: String,
    prefix: String,
    /// Parts uploading at once (`upload_concurrency`).
    parts_in_flight: usize,
    /// Server-side encryption and storage class of every object written.
    writes: WriteOptions,
    /// Object Lock of every object written, if set.
    lock: Option<ObjectLock>,
}

/// What every object keepsake writes asks of the store.
#[derive(Debug, Clone, Default)]
struct WriteOptions {
    sse: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
    storage_class: Option<StorageClass>,
}

impl WriteOptions {
    fn of(config: &S3Config) -> WriteOptions {
        WriteOptions {
            sse: config.sse.map(|sse| match sse {
                Sse::Aes256 => ServerSideEncryption::Aes256,
                Sse::Kms => ServerSideEncryption::AwsKms,
            }),
            kms_key_id: config.sse_kms_key_id.clone(),
            storage_class: config.storage_class.as_deref().map(StorageClass::from),
        }
    }
}

/// The metadata key that names the run that wrote an object.
const RUN_METADATA: &str = "keepsake-run";
/// Keys per DeleteObjects request (S3's limit).
const DELETE_BATCH: usize = 1000;

/// Multipart uploads this process has open, by upload id: never removed
/// as leftovers.
static OPEN_UPLOADS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn track_upload(id: &str, open: bool) {
    let mut ids = OPEN_UPLOADS.lock().expect("open uploads lock");
    ids.retain(|known| known != id);
    if open {
        ids.push(id.to_string());
    }
}

fn upload_is_ours(id: &str) -> bool {
    OPEN_UPLOADS
        .lock()
        .expect("open uploads lock")
        .iter()
        .any(|known| known == id)
}

impl S3Storage {
    /// Builds a client for `config`: custom endpoint, path-style addressing,
    /// static keys or the default credential chain, retries with backoff.
    pub async fn connect(config: &S3Config) -> S3Storage {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()));
        if let Some(keys) = &config.credentials {
            loader = loader.credentials_provider(Credentials::new(
                keys.access_key_id.expose_secret(),
                keys.secret_access_key.expose_secret(),
                None,
                None,
                "keepsake configuration",
            ));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.path_style)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .build(),
            )
            // Many S3-compatible stores reject the newer default checksums.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        S3Storage {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
            parts_in_flight: config.upload_concurrency.max(1),
            writes: WriteOptions::of(config),
            lock: config.object_lock,
        }
    }

    /// HeadObject: what the store says of `key`, None when it is absent.
    async fn head(&self, key: &str) -> Result<Option<HeadObjectOutput>, StorageError> {
        let result = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match result {
            Ok(head) => Ok(Some(head)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(self.error("HEAD", key, sdk_message(&e))),
        }
    }

    fn error(&self, op: &'static str, key: &str, message: String) -> StorageError {
        StorageError::new(self.describe(), op, key, message)
    }

    /// The error of a write that must not replace an object.
    fn write_error<E>(
        &self,
        op: &'static str,
        key: &str,
        err: &SdkError<E, HttpResponse>,
    ) -> StorageError
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        let error = self.error(op, key, sdk_message(err));
        if key_taken(err) {
            error.with_kind(ErrorKind::AlreadyExists)
        } else {
            error
        }
    }

    /// Warns, once per process, that the store ignores `If-None-Match`.
    fn warn_unconditional(&self) {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(storage = %self.describe(), "the store does not implement conditional writes (If-None-Match); keepsake checks that a key is free before writing, but two processes writing the same key in the same second could replace one another's backup");
        });
    }

    async fn put_once(
        &self,
        key: &str,
        body: Bytes,
        run: &str,
        conditional: bool,
    ) -> Result<(), SdkError<PutObjectError, HttpResponse>> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .metadata(RUN_METADATA, run)
            .set_server_side_encryption(self.writes.sse.clone())
            .set_ssekms_key_id(self.writes.kms_key_id.clone())
            .set_storage_class(self.writes.storage_class.clone());
        if conditional {
            request = request.if_none_match("*");
        }
        if let Some(lock) = &self.lock {
            request = request
                .object_lock_mode(lock::mode(lock))
                .object_lock_retain_until_date(lock::until_from_now(lock))
                .content_md5(lock::content_md5(&body));
        }
        request
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) {
        let result = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
        match result {
            Ok(_) => tracing::info!(storage = %self.describe(), key, "multipart upload aborted"),
            Err(e) => tracing::error!(
                storage = %self.describe(),
                key,
                upload_id,
                error = %sdk_message(&e),
                "cannot abort the multipart upload; remove it by hand or with a lifecycle rule"
            ),
        }
    }
}

#[async_trait]
impl Storage for S3Storage {
    fn prefix(&self) -> &str {
        &self.prefix
    }

    fn describe(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.head(key).await?.is_some())
    }

    /// Fails fast when the bucket does not exist, before any dump starts.
    /// A store that forbids HeadBucket is given the benefit of the doubt.
    async fn preflight(&self) -> Result<(), StorageError> {
        let found = match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                Err(self.error("HeadBucket", "", "the bucket does not exist".to_string()))
            }
            Err(e) if e.raw_response().is_some() => {
                tracing::debug!(storage = %self.describe(), error = %sdk_message(&e), "HeadBucket refused; going on");
                Ok(())
            }
            Err(e) => Err(self.error("HeadBucket", "", sdk_message(&e))),
        };
        found?;
        match &self.lock {
            Some(_) => self.check_lock_enabled().await,
            None => Ok(()),
        }
    }

    async fn locked_until(
        &self,
        key: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<jiff::Timestamp>, StorageError> {
        match &self.lock {
            Some(_) => self.lock_of(key, now).await,
            None => Ok(None),
        }
    }

    /// A PutObject with `If-None-Match: *`; a store that does not
    /// implement it gets a plain one.
    async fn put(&self, key: &str, body: Bytes, run: &str) -> Result<(), StorageError> {
        match self.put_once(key, body.clone(), run, true).await {
            Ok(()) => Ok(()),
            Err(e) if no_conditional_writes(&e) => {
                self.warn_unconditional();
                self.put_once(key, body, run, false)
                    .await
                    .map_err(|e| self.write_error("PUT", key, &e))
            }
            Err(e) => Err(self.write_error("PUT", key, &e)),
        }
    }

    async fn written_by(&self, key: &str) -> Result<Option<String>, StorageError> {
        let head = self.head(key).await?;
        Ok(head.and_then(|h| h.metadata()?.get(RUN_METADATA).cloned()))
    }

    /// DeleteObjects, a thousand keys at a time; a batch whose request
    /// fails counts every key in it as failed.
    async fn delete_many(&self, keys: &[String]) -> Vec<StorageError> {
        let mut failures = Vec::new();
        if self.lock.is_some() {
            for key in keys {
                if let Err(e) = self.delete_versions(key).await {
                    failures.push(e);
                }
            }
            return failures;
        }
        for batch in keys.chunks(DELETE_BATCH) {
            let objects: Vec<ObjectIdentifier> = batch
                .iter()
                .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
                .collect();
            let delete = match Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
            {
                Ok(delete) => delete,
                Err(e) => {
                    failures.extend(
                        batch
                            .iter()
                            .map(|k| self.error("DeleteObjects", k, e.to_string())),
                    );
                    continue;
                }
            };
            let result = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await;
            match result {
                Ok(out) => failures.extend(out.errors().iter().map(|e| {
                    let message = format!(
                        "{}: {}",
                        e.code().unwrap_or("error"),
                        e.message().unwrap_or_default()
                    );
                    self.error("DeleteObjects", e.key().unwrap_or_default(), message)
                })),
                Err(e) => {
                    let message = sdk_message(&e);
                    failures.extend(
                        batch
                            .iter()
                            .map(|k| self.error("DeleteObjects", k, message.clone())),
                    );
                }
            }
        }
        failures
    }

    async fn unfinished(&self, prefix: &str) -> Result<Vec<Unfinished>, StorageError> {
        let mut found = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(markers.0.take())
                .set_upload_id_marker(markers.1.take())
                .send()
                .await
                .map_err(|e| self.error("ListMultipartUploads", prefix, sdk_message(&e)))?;
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                found.push(Unfinished {
                    key: key.to_string(),
                    id: id.to_string(),
                    started: upload
                        .initiated()
                        .and_then(|t| jiff::Timestamp::from_second(t.secs()).ok()),
                    ours: upload_is_ours(id),
                });
            }
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            markers = (
                page.next_key_marker().map(str::to_string),
                page.next_upload_id_marker().map(str::to_string),
            );
            if markers.0.is_none() && markers.1.is_none() {
                break;
            }
        }
        Ok(found)
    }

    async fn discard(&self, unfinished: &Unfinished) -> Result<(), StorageError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&unfinished.key)
            .upload_id(&unfinished.id)
            .send()
            .await
            .map_err(|e| self.error("AbortMultipartUpload", &unfinished.key, sdk_message(&e)))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("LIST", prefix, sdk_message(&e)))?;
            keys.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectInfo {
                    key: o.key()?.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified: o
                        .last_modified()
                        .and_then(|t| jiff::Timestamp::from_second(t.secs()).ok()),
                })
            }));
        }
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("GET", key, sdk_message(&e)))?;
        Ok(Box::new(out.body.into_async_read()))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        if self.lock.is_some() {
            return self.delete_versions(key).await;
        }
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("DELETE", key, sdk_message(&e)))?;
        Ok(())
    }

    fn begin_upload(&self, key: &str, run: &str) -> Box<dyn Upload> {
        Box::new(S3Upload::new(self.clone(), key, run))
    }
}

/// Why S3 cannot be used on this system, if it cannot: the S3 client needs
/// the system's CA certificates (even for an http:// endpoint) and would
/// panic without them.
pub fn trust_store_problem() -> Option<String> {
    let found = rustls_native_certs::load_native_certs();
    found.certs.is_empty().then(|| {
        "no CA certificates were found on this system (on Debian: install the \
         ca-certificates package); keepsake needs them to talk to S3"
            .to_string()
    })
}
