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
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError;
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::{Bytes, BytesMut};
use secrecy::ExposeSecret;
use tokio::task::JoinSet;

use super::parts::{MAX_PARTS, part_size};
use super::{ErrorKind, ObjectInfo, ObjectReader, Storage, StorageError, Unfinished, Upload};
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

/// Renders an SDK error: the HTTP status, the S3 error code and message,
/// and a hint for the common ones; or, without an answer, the whole cause
/// chain (never credentials).
fn sdk_message<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let Some(raw) = err.raw_response() else {
        return cause_chain(err);
    };
    let status = raw.status().as_u16();
    let (code, message) = match err.as_service_error() {
        Some(service) => (service.code(), service.message()),
        None => (None, None),
    };
    let mut text = format!("HTTP {status}");
    if let Some(code) = code {
        text.push(' ');
        text.push_str(code);
    }
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        text.push_str(": ");
        text.push_str(message);
    }
    if let Some(hint) = hint(status, code) {
        text.push_str(" (");
        text.push_str(hint);
        text.push(')');
    }
    text
}

/// What to check for the failures people meet most.
fn hint(status: u16, code: Option<&str>) -> Option<&'static str> {
    Some(match (status, code) {
        (_, Some("SignatureDoesNotMatch")) => "the secret key is wrong",
        (_, Some("InvalidAccessKeyId")) => "the access key id is unknown to this store",
        (_, Some("NoSuchBucket")) => "the bucket does not exist",
        (301 | 307, _) | (_, Some("PermanentRedirect" | "AuthorizationHeaderMalformed")) => {
            "the bucket is in another region: set region"
        }
        (403, _) => "check the access keys and the bucket policy",
        (412, _) => "the key exists already; keepsake never replaces an object",
        (503, _) | (_, Some("SlowDown")) => "the store is throttling requests",
        _ => return None,
    })
}

/// The status of a failed request, when the store answered.
fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// A conditional write found the key taken (412), or another conditional
/// write to it in progress (409).
fn key_taken<E>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(status_of(err), Some(412 | 409))
}

/// The store does not implement conditional writes.
fn no_conditional_writes<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(status_of(err), Some(501))
        || err
            .as_service_error()
            .is_some_and(|e| e.code() == Some("NotImplemented"))
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
            .body(ByteStream::from(body));
        if conditional {
            request = request.if_none_match("*");
        }
        request.send().await.map(|_| ())
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
        let result = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match result {
            Ok(head) => Ok(head.metadata().and_then(|m| m.get(RUN_METADATA)).cloned()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(self.error("HEAD", key, sdk_message(&e))),
        }
    }

    /// DeleteObjects, a thousand keys at a time; a batch whose request
    /// fails counts every key in it as failed.
    async fn delete_many(&self, keys: &[String]) -> Vec<StorageError> {
        let mut failures = Vec::new();
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

    fn begin_upload(&self, key: &str, run: &str) -> Box<dyn Upload> {
        Box::new(S3Upload {
            store: self.clone(),
            key: key.to_string(),
            run: run.to_string(),
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
    /// Recorded with the object (see [`Storage::written_by`]).
    run: String,
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
                    .metadata(RUN_METADATA, &self.run)
                    .send()
                    .await
                    .map_err(|e| {
                        self.store
                            .error("CreateMultipartUpload", &self.key, sdk_message(&e))
                    })?;
                let id = created.upload_id().unwrap_or_default().to_string();
                track_upload(&id, true);
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
            self.store.put(&self.key, body, &self.run).await?;
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
        let mut result = self.complete(parts.clone(), true).await;
        if let Err(e) = &result
            && no_conditional_writes(e)
        {
            self.store.warn_unconditional();
            result = self.complete(parts, false).await;
        }
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
                return Err(self
                    .store
                    .write_error("CompleteMultipartUpload", &self.key, &e));
            }
        }
        self.settled = true;
        if let Some(id) = &self.upload_id {
            track_upload(id, false);
        }
        Ok(())
    }

    /// CompleteMultipartUpload, with `If-None-Match: *` if `conditional`.
    async fn complete(
        &self,
        parts: Vec<CompletedPart>,
        conditional: bool,
    ) -> Result<(), SdkError<CompleteMultipartUploadError, HttpResponse>> {
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let mut request = self
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
            );
        if conditional {
            request = request.if_none_match("*");
        }
        request.send().await.map(|_| ())
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
            track_upload(&id, false);
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
            handle.spawn(async move {
                store.abort_upload(&key, &id).await;
                track_upload(&id, false);
            });
        }
    }
}
