//! What an S3 failure says: the HTTP status, the S3 error code and
//! message, and a hint for the common ones; and the failures keepsake tells
//! apart (a key taken by a conditional write, a store without them, an
//! answer that could not be read).

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Renders an SDK error: the HTTP status, the S3 error code and message,
/// and a hint for the common ones; or, without an answer, the whole cause
/// chain (never credentials).
pub(super) fn sdk_message<E>(err: &SdkError<E, HttpResponse>) -> String
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
pub(super) fn hint(status: u16, code: Option<&str>) -> Option<&'static str> {
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
pub(super) fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// A conditional write found the key taken (412), or another conditional
/// write to it in progress (409).
pub(super) fn key_taken<E>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(status_of(err), Some(412 | 409))
}

/// The S3 error code of a failed request, when the store gave one.
pub(super) fn code_of<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

/// The store does not implement conditional writes.
pub(super) fn no_conditional_writes<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> bool {
    matches!(status_of(err), Some(501))
        || err
            .as_service_error()
            .is_some_and(|e| e.code() == Some("NotImplemented"))
}

/// An HTTP 200 whose body could not be decoded: the request may well have
/// succeeded. Errors the server reported (with a code) are never this.
pub(super) fn answered_ok_but_unreadable<E>(err: &SdkError<E, HttpResponse>) -> bool
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
pub(super) fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
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
