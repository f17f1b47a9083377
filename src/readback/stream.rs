//! The read-back stream: stored bytes -> SHA-256 and size -> decrypt ->
//! decompress -> chunks for a consumer. The last chunk is held back until the whole
//! object has proved sound, so a consumer that commits only at the end of
//! its input (`psql --single-transaction`, `pg_restore --single-transaction`)
//! never commits a corrupt or truncated backup.

use std::io::{self, Read};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::io::SyncIoBridge;

use crate::config::CompressionKind;
use crate::encryption::Identities;
use crate::pipeline::{CHUNK_SIZE, Summary, Tally};
use crate::storage::ObjectReader;

/// What the manifest promises about the stored object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

/// How the stored bytes become the dump.
#[derive(Debug, Clone)]
pub enum Unseal {
    /// They are the (compressed) dump.
    Clear,
    /// They are sealed with age; these keys open them.
    Age(Identities),
    /// They are sealed and no key is at hand: only their size and checksum
    /// are checked, nothing reaches the consumer.
    Opaque,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(
        "{key}: checksum mismatch: the manifest says {expected}, the object hashes to {actual}"
    )]
    Checksum {
        key: String,
        expected: String,
        actual: String,
    },
    #[error("{key}: size mismatch: the manifest says {expected} bytes, the object has {actual}")]
    Size {
        key: String,
        expected: u64,
        actual: u64,
    },
    #[error("{key}: cannot decompress ({compression:?}): {message}")]
    Decode {
        key: String,
        compression: CompressionKind,
        message: String,
    },
    #[error("{key}: cannot decrypt: {message}")]
    Open { key: String, message: String },
    #[error("{key}: reading from storage failed: {message}")]
    Read { key: String, message: String },
    #[error("the restore stopped reading")]
    ConsumerGone,
}

/// Counts and hashes what is read through it; remembers a read error of
/// the storage itself, to tell it apart from a decoding error.
struct Hashing<R> {
    inner: R,
    tally: Tally,
    failed: Option<String>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.tally.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                self.failed = Some(e.to_string());
                Err(e)
            }
        }
    }
}

/// Fills `buf` as far as the reader allows; the count read.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What is read, and how.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The object's key, for errors.
    pub key: String,
    pub compression: CompressionKind,
    pub expect: Expect,
    pub unseal: Unseal,
}

/// Starts reading `reader` as `reading` says on a blocking thread,
/// sending decrypted, decompressed chunks to `tx`.
pub fn start(
    reader: ObjectReader,
    reading: Reading,
    tx: mpsc::Sender<Bytes>,
) -> JoinHandle<Result<Summary, ReadError>> {
    let bridge = SyncIoBridge::new(reader);
    tokio::task::spawn_blocking(move || read_all(bridge, &reading, &tx))
}

/// Where the dump's compressed bytes come from: the stored bytes, or
/// what decrypting them yields.
fn opened<'a, R: Read>(
    hashed: &'a mut Hashing<R>,
    unseal: &Unseal,
    key: &str,
) -> Result<Option<Box<dyn Read + 'a>>, ReadError> {
    match unseal {
        Unseal::Clear => Ok(Some(Box::new(hashed))),
        Unseal::Opaque => Ok(None),
        Unseal::Age(identities) => match identities.open(hashed) {
            Ok(reader) => Ok(Some(Box::new(reader))),
            Err(e) => Err(ReadError::Open {
                key: key.to_string(),
                message: e.to_string(),
            }),
        },
    }
}

fn read_all<R: Read>(
    reader: R,
    reading: &Reading,
    tx: &mpsc::Sender<Bytes>,
) -> Result<Summary, ReadError> {
    let Reading {
        key,
        compression,
        expect,
        unseal,
    } = reading;
    let (key, compression) = (key.as_str(), *compression);
    let mut hashed = Hashing {
        inner: reader,
        tally: Tally::default(),
        failed: None,
    };
    let mut raw_bytes = 0u64;
    let mut held: Option<Bytes> = None;
    let mut sealed_open = Ok(());
    let decoded = (|| -> io::Result<()> {
        let source = match opened(&mut hashed, unseal, key) {
            Ok(Some(source)) => source,
            Ok(None) => return Ok(()),
            Err(e) => {
                sealed_open = Err(e);
                return Ok(());
            }
        };
        let mut decoder: Box<dyn Read + '_> = match compression {
            CompressionKind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(source)),
            CompressionKind::Zstd => Box::new(zstd::stream::read::Decoder::new(source)?),
            CompressionKind::None => source,
        };
        loop {
            let mut buf = vec![0u8; CHUNK_SIZE];
            let n = fill(&mut decoder, &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            buf.truncate(n);
            raw_bytes += n as u64;
            if let Some(previous) = held.replace(Bytes::from(buf)) {
                tx.blocking_send(previous)
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "consumer gone"))?;
            }
        }
    })();
    if let Some(message) = hashed.failed.take() {
        return Err(ReadError::Read {
            key: key.to_string(),
            message,
        });
    }
    // Nobody is listening any more: reading on would only delay them.
    if matches!(&decoded, Err(e) if e.kind() == io::ErrorKind::BrokenPipe) {
        return Err(ReadError::ConsumerGone);
    }
    // Bytes after the end of the compressed stream count too.
    let _ = io::copy(&mut hashed, &mut io::sink());
    if let Some(message) = hashed.failed.take() {
        return Err(ReadError::Read {
            key: key.to_string(),
            message,
        });
    }
    let (stored_bytes, sha256) = hashed.tally.finish();
    if let Some(expected) = &expect.sha256
        && *expected != sha256
    {
        return Err(ReadError::Checksum {
            key: key.to_string(),
            expected: expected.clone(),
            actual: sha256,
        });
    }
    if let Some(expected) = expect.size
        && expected != stored_bytes
    {
        return Err(ReadError::Size {
            key: key.to_string(),
            expected,
            actual: stored_bytes,
        });
    }
    sealed_open?;
    match decoded {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Err(ReadError::ConsumerGone),
        Err(e) => {
            return Err(ReadError::Decode {
                key: key.to_string(),
                compression,
                message: e.to_string(),
            });
        }
        Ok(()) => {}
    }
    if let Some(last) = held {
        tx.blocking_send(last)
            .map_err(|_| ReadError::ConsumerGone)?;
    }
    Ok(Summary {
        stored_bytes,
        raw_bytes,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(kind: CompressionKind, data: &[u8]) -> (Vec<u8>, Expect) {
        let (_, out) = crate::pipeline::tests::compress(kind, 1, data);
        let mut tally = crate::pipeline::Tally::default();
        tally.update(&out);
        let (size, sha256) = tally.finish();
        let expect = Expect {
            sha256: Some(sha256),
            size: Some(size),
        };
        (out, expect)
    }

    /// Reads `object` back, returning what reached the consumer.
    fn read(
        object: Vec<u8>,
        kind: CompressionKind,
        expect: &Expect,
    ) -> (Result<Summary, ReadError>, Vec<u8>) {
        let (tx, mut rx) = mpsc::channel(1024);
        let reading = Reading {
            key: "k".into(),
            compression: kind,
            expect: expect.clone(),
            unseal: Unseal::Clear,
        };
        let result = read_all(&object[..], &reading, &tx);
        drop(tx);
        let mut got = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            got.extend_from_slice(&chunk);
        }
        (result, got)
    }

    fn sample() -> Vec<u8> {
        (0..3_000_000u32).map(|i| (i % 253) as u8).collect()
    }

    #[test]
    fn a_sound_object_is_delivered_whole_and_verified() {
        for kind in [
            CompressionKind::Gzip,
            CompressionKind::Zstd,
            CompressionKind::None,
        ] {
            let data = sample();
            let (object, expect) = stored(kind, &data);
            let (result, got) = read(object, kind, &expect);
            let summary = result.unwrap();
            assert_eq!(Some(&summary.sha256), expect.sha256.as_ref());
            assert_eq!(Some(summary.stored_bytes), expect.size);
            assert_eq!(summary.raw_bytes, data.len() as u64);
            assert_eq!(got, data, "{kind:?}");
        }
    }

    #[test]
    fn a_flipped_byte_is_caught_and_the_end_is_never_delivered() {
        for kind in [
            CompressionKind::Gzip,
            CompressionKind::Zstd,
            CompressionKind::None,
        ] {
            let data = sample();
            let (mut object, expect) = stored(kind, &data);
            let middle = object.len() / 2;
            object[middle] ^= 0x40;
            let (result, got) = read(object, kind, &expect);
            assert!(
                matches!(result, Err(ReadError::Checksum { .. })),
                "{kind:?}: {result:?}"
            );
            assert!(
                got.len() < data.len(),
                "{kind:?}: the consumer must not see the end"
            );
        }
    }

    #[test]
    fn a_truncated_object_is_caught() {
        let data = sample();
        let (mut object, expect) = stored(CompressionKind::Gzip, &data);
        object.truncate(object.len() - 100);
        let (result, got) = read(object, CompressionKind::Gzip, &expect);
        assert!(
            matches!(result, Err(ReadError::Checksum { .. })),
            "{result:?}"
        );
        assert!(got.len() < data.len());
        // Without a manifest, decoding itself still fails.
        let (mut object, _) = stored(CompressionKind::Zstd, &data);
        object.truncate(object.len() / 2);
        let (result, _) = read(object, CompressionKind::Zstd, &Expect::default());
        assert!(
            matches!(result, Err(ReadError::Decode { .. })),
            "{result:?}"
        );
    }
}
