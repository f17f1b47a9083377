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
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use secrecy::ExposeSecret;
use tokio::task::JoinSet;

use super::parts::{MAX_PARTS, part_size};
use super::{ObjectInfo, ObjectReader, Storage, StorageError, Upload};
use crate::config::S3Config;

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
}

/// Renders an SDK error with its whole cause chain (never credentials).
fn sdk_message<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    match err.as_service_error() {
        Some(service) => {
            let code = service.code().unwrap_or("error");
            let message = service.message().unwrap_or("");
            format!("{code}: {message}")
                .trim_end_matches([':', ' '])
                .to_string()
        }
        None => cause_chain(err),
    }
}

/// An HTTP 200 whose body could not be decoded: the request may well have
/// succeeded. Errors the server reported (with a code) are never this.
fn answered_ok_but_unreadable<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() == 200 && service.err().code().is_none()
        }
        _ => false,
    }
}

/// `outer: inner: innermost`, skipping a cause whose text its parent already holds.
fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = cause.source();
    }
    text
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
        }
    }

    fn error(&self, op: &'static str, key: &str, message: String) -> StorageError {
        StorageError {
            storage: self.describe(),
            op,
            key: key.to_string(),
            message,
        }
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
        let result = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(self.error("HEAD", key, sdk_message(&e))),
        }
    }

    /// Fails fast when the bucket does not exist, before any dump starts.
    /// A store that forbids HeadBucket is given the benefit of the doubt.
    async fn preflight(&self) -> Result<(), StorageError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                Err(self.error("HeadBucket", "", "the bucket does not exist".to_string()))
            }
            Err(e) if e.raw_response().is_some() => {
                tracing::debug!(storage = %self.describe(), error = %sdk_message(&e), "HeadBucket refused; going on");
                Ok(())
            }
            Err(e) => Err(self.error("HeadBucket", "", sdk_message(&e))),
        }
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("PUT", key, sdk_message(&e)))?;
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
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("DELETE", key, sdk_message(&e)))?;
        Ok(())
    }

    fn begin_upload(&self, key: &str) -> Box<dyn Upload> {
        Box::new(S3Upload {
            store: self.clone(),
            key: key.to_string(),
            buf: BytesMut::new(),
            next_part: 1,
            upload_id: None,
            in_flight: JoinSet::new(),
            done: Vec::new(),
            sent: 0,
            settled: false,
        })
    }
}

/// A streaming upload to one key.
pub struct S3Upload {
    store: S3Storage,
    key: String,
    buf: BytesMut,
    next_part: u32,
    upload_id: Option<String>,
    in_flight: JoinSet<Result<CompletedPart, StorageError>>,
    done: Vec<CompletedPart>,
    /// Bytes handed to the store so far.
    sent: u64,
    /// Completed or aborted: nothing is left to clean up.
    settled: bool,
}

impl S3Upload {
    async fn send_part(&mut self, body: Bytes) -> Result<(), StorageError> {
        if self.next_part > MAX_PARTS {
            return Err(self.store.error(
                "UploadPart",
                &self.key,
                format!("the dump needs more than {MAX_PARTS} parts"),
            ));
        }
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .store
                    .client
                    .create_multipart_upload()
                    .bucket(&self.store.bucket)
                    .key(&self.key)
                    .send()
                    .await
                    .map_err(|e| {
                        self.store
                            .error("CreateMultipartUpload", &self.key, sdk_message(&e))
                    })?;
                let id = created.upload_id().unwrap_or_default().to_string();
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= self.store.parts_in_flight {
            self.settle_one().await?;
        }
        let number = self.next_part;
        self.next_part += 1;
        let store = self.store.clone();
        let key = self.key.clone();
        self.in_flight.spawn(async move {
            let size = body.len();
            let out = store
                .client
                .upload_part()
                .bucket(&store.bucket)
                .key(&key)
                .upload_id(upload_id)
                .part_number(number as i32)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| {
                    store.error(
                        "UploadPart",
                        &key,
                        format!("part {number}: {}", sdk_message(&e)),
                    )
                })?;
            tracing::debug!(key, part = number, bytes = size, "part uploaded");
            Ok(CompletedPart::builder()
                .set_e_tag(out.e_tag().map(str::to_string))
                .part_number(number as i32)
                .build())
        });
        Ok(())
    }

    /// Waits for one in-flight part.
    async fn settle_one(&mut self) -> Result<(), StorageError> {
        match self.in_flight.join_next().await {
            None => Ok(()),
            Some(Ok(Ok(part))) => {
                self.done.push(part);
                Ok(())
            }
            Some(Ok(Err(e))) => Err(e),
            Some(Err(join)) => Err(self.store.error("UploadPart", &self.key, join.to_string())),
        }
    }

    async fn try_finish(&mut self) -> Result<(), StorageError> {
        if self.upload_id.is_none() {
            let body = self.buf.split().freeze();
            self.store.put(&self.key, body).await?;
            self.settled = true;
            return Ok(());
        }
        if !self.buf.is_empty() {
            let last = self.buf.split().freeze();
            self.send_part(last).await?;
        }
        while !self.in_flight.is_empty() {
            self.settle_one().await?;
        }
        let mut parts = std::mem::take(&mut self.done);
        parts.sort_by_key(|p| p.part_number());
        let count = parts.len();
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let result = self
            .store
            .client
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e) if answered_ok_but_unreadable(&e) => {
                // Some S3-compatible servers answer 200 with a body the SDK
                // cannot read. Trust the object only if it is there, whole.
                self.verify_completed(count).await.map_err(|why| {
                    self.store.error(
                        "CompleteMultipartUpload",
                        &self.key,
                        format!("{}; {why}", sdk_message(&e)),
                    )
                })?;
                tracing::warn!(key = %self.key, "the store answered CompleteMultipartUpload with a body the SDK cannot read; the object was checked by HEAD and is complete");
            }
            Err(e) => {
                return Err(self.store.error(
                    "CompleteMultipartUpload",
                    &self.key,
                    sdk_message(&e),
                ));
            }
        }
        self.settled = true;
        Ok(())
    }

    /// Checks by HEAD that the object exists with every byte sent, as an
    /// upload of `parts` parts.
    async fn verify_completed(&self, parts: usize) -> Result<(), String> {
        let head = self
            .store
            .client
            .head_object()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .send()
            .await
            .map_err(|e| format!("HEAD after it failed: {}", sdk_message(&e)))?;
        let size = head.content_length().unwrap_or(-1);
        if size != self.sent as i64 {
            return Err(format!(
                "the object holds {size} bytes, not the {} sent",
                self.sent
            ));
        }
        let etag = head.e_tag().unwrap_or_default().trim_matches('"');
        match etag.rsplit_once('-') {
            Some((_, n)) if n != parts.to_string() => {
                Err(format!("ETag {etag} is not of a {parts}-part upload"))
            }
            _ => Ok(()),
        }
    }

    async fn abort_now(&mut self) {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        if let Some(id) = self.upload_id.take() {
            self.store.abort_upload(&self.key, &id).await;
        }
        self.settled = true;
    }
}

#[async_trait]
impl Upload for S3Upload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        if self.buf.is_empty() && self.buf.capacity() < part_size(self.next_part) {
            self.buf.reserve(part_size(self.next_part));
        }
        self.sent += chunk.len() as u64;
        self.buf.extend_from_slice(&chunk);
        while self.buf.len() >= part_size(self.next_part) {
            let size = part_size(self.next_part);
            let part = self.buf.split_to(size).freeze();
            self.send_part(part).await?;
        }
        Ok(())
    }

    /// Uploads what is left and completes the object.
    async fn finish(mut self: Box<Self>) -> Result<(), StorageError> {
        let result = self.try_finish().await;
        if result.is_err() {
            self.abort_now().await;
        }
        result
    }

    /// Abandons the upload: stops parts in flight and aborts it.
    async fn abort(mut self: Box<Self>) {
        self.abort_now().await;
    }
}

impl Drop for S3Upload {
    /// An upload dropped half-way (its task was cancelled) still aborts.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Some(id) = self.upload_id.take() else {
            return;
        };
        self.in_flight.abort_all();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let store = self.store.clone();
            let key = std::mem::take(&mut self.key);
            handle.spawn(async move { store.abort_upload(&key, &id).await });
        }
    }
}
