//! A streaming upload to one key: the stream is buffered into parts of
//! growing size, uploaded while the dump goes on, and completed with
//! `If-None-Match: *`; any failure aborts the multipart upload, so no
//! partial object ever appears.

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

use super::errors::{answered_ok_but_unreadable, no_conditional_writes, sdk_message};
use super::{RUN_METADATA, S3Storage, lock, track_upload};
use crate::storage::parts::{MAX_PARTS, part_size};
use crate::storage::{ErrorKind, Storage, StorageError, Upload};

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
    pub(super) fn new(store: S3Storage, key: &str, run: &str) -> S3Upload {
        S3Upload {
            store,
            key: key.to_string(),
            run: run.to_string(),
            buf: BytesMut::new(),
            next_part: 1,
            upload_id: None,
            in_flight: JoinSet::new(),
            done: Vec::new(),
            sent: 0,
            settled: false,
        }
    }

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
                    .set_server_side_encryption(self.store.writes.sse.clone())
                    .set_ssekms_key_id(self.store.writes.kms_key_id.clone())
                    .set_storage_class(self.store.writes.storage_class.clone())
                    .set_object_lock_mode(self.store.lock.as_ref().map(lock::mode))
                    .set_object_lock_retain_until_date(
                        self.store.lock.as_ref().map(lock::until_from_now),
                    )
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
        // Some stores drop the lock asked for at the start of the upload.
        if let Some(lock) = &self.store.lock {
            self.store
                .lock_object(lock, &self.key)
                .await
                .map_err(|e| e.with_kind(ErrorKind::NotLocked))?;
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
        // Completed (the lock that followed failed): nothing to abort.
        if self.settled {
            return;
        }
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
