//! The manifest stored beside each backup: what it is, how big, and its
//! SHA-256, so that a later `verify` or `restore` can prove it whole.

use serde::{Deserialize, Serialize};

use crate::config::{CompressionKind, DumpFormat};

/// Version of the manifest layout.
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub job: String,
    /// The backup's key in its storage.
    pub key: String,
    /// When the backup started (RFC 3339, UTC).
    pub started_at: String,
    /// When the data was committed (RFC 3339, UTC).
    pub finished_at: String,
    pub format: DumpFormat,
    pub compression: CompressionKind,
    /// Bytes of the stored object.
    pub size: u64,
    /// Bytes of the dump before compression.
    pub raw_size: u64,
    /// SHA-256 of the stored object, lowercase hex.
    pub sha256: String,
    pub server_version: String,
    pub pg_dump_version: String,
    pub keepsake_version: String,
    /// How the stored object is encrypted; absent: it is not. Size and
    /// checksum are of the stored (encrypted) bytes, so they can be
    /// checked without a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Sealed>,
}

/// The encryption of a backup, as its manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// `age`, the only one so far.
    pub scheme: String,
    /// The public keys it is encrypted to: one of their identities opens it.
    pub recipients: Vec<String>,
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        out.push(b'\n');
        out
    }

    pub fn from_json(bytes: &[u8]) -> Result<Manifest, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_roundtrips_through_json() {
        let m = Manifest {
            manifest_version: MANIFEST_VERSION,
            job: "shop".into(),
            key: "prod/shop/shop-2026-11-28_03-00-00.sql.gz".into(),
            started_at: "2026-11-28T03:00:00Z".into(),
            finished_at: "2026-11-28T03:00:09Z".into(),
            format: DumpFormat::Plain,
            compression: CompressionKind::Gzip,
            size: 10,
            raw_size: 100,
            sha256: "ab".repeat(32),
            server_version: "15".into(),
            pg_dump_version: "15".into(),
            keepsake_version: "0.1.0".into(),
            encryption: None,
        };
        let json = m.to_json();
        assert!(String::from_utf8_lossy(&json).contains("\"compression\": \"gzip\""));
        assert_eq!(Manifest::from_json(&json).unwrap(), m);
        assert!(!String::from_utf8_lossy(&json).contains("encryption"));
        let sealed = Manifest {
            encryption: Some(Sealed {
                scheme: "age".into(),
                recipients: vec!["age1abc".into()],
            }),
            ..m
        };
        assert_eq!(Manifest::from_json(&sealed.to_json()).unwrap(), sealed);
    }
}
