//! Reading a backup back, for `restore` and `verify` alike: its manifest,
//! what the manifest promises, the client program that can apply it, and
//! the stream ([`stream`]) that checks every byte against those promises.

pub mod plain;
pub mod stream;

use std::path::PathBuf;

use crate::catalog::Backup;
use crate::config::DumpFormat;
use crate::encryption::Identities;
use crate::manifest::Manifest;
use crate::naming;
use crate::pg::tools::{self, PgVersion, ToolError};
use crate::storage::{self, Storage, StorageError};

pub use stream::{Expect, ReadError, Reading, Unseal};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{key}: the manifest cannot be read: {message}")]
    Unreadable { key: String, message: String },
}

/// The manifest beside `key`, if there is one.
pub async fn manifest(storage: &dyn Storage, key: &str) -> Result<Option<Manifest>, ManifestError> {
    let Some(bytes) = storage::read_small(storage, &naming::manifest_key(key)).await? else {
        return Ok(None);
    };
    Manifest::from_json(&bytes)
        .map(Some)
        .map_err(|e| ManifestError::Unreadable {
            key: key.to_string(),
            message: e.to_string(),
        })
}

/// What the manifest promises about the stored object.
pub fn expect(manifest: Option<&Manifest>) -> Expect {
    Expect {
        sha256: manifest.map(|m| m.sha256.clone()),
        size: manifest.map(|m| m.size),
    }
}

/// An encrypted backup and the keys at hand do not fit.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "{key} is encrypted (age, to {recipients}): give the private key with \
         --identity FILE or AGE_IDENTITY_FILE"
    )]
    NeedsIdentity { key: String, recipients: String },
    #[error("{key} is encrypted to {recipients}, and no key in the identity file is one of them")]
    WrongIdentity { key: String, recipients: String },
}

/// How to read `backup`: what its manifest promises and, when it is
/// encrypted, how to open it. Without `identities` an encrypted backup is
/// read [`Unseal::Opaque`]: checksum and size only (the caller decides
/// whether that is enough). Keys that the manifest says cannot open it are
/// refused before a byte is read.
pub fn reading(
    backup: &Backup,
    manifest: Option<&Manifest>,
    identities: Option<&Identities>,
) -> Result<Reading, SealError> {
    let recipients = manifest
        .and_then(|m| m.encryption.as_ref())
        .map(|e| &e.recipients);
    let unseal = match (backup.name.encrypted, identities) {
        (false, _) => Unseal::Clear,
        (true, None) => Unseal::Opaque,
        (true, Some(ids)) => match recipients {
            Some(r) if !ids.opens(r) => {
                return Err(SealError::WrongIdentity {
                    key: backup.key.clone(),
                    recipients: shown_recipients(manifest),
                });
            }
            _ => Unseal::Age(ids.clone()),
        },
    };
    Ok(Reading {
        key: backup.key.clone(),
        compression: backup.name.compression,
        expect: expect(manifest),
        unseal,
    })
}

/// The error for reading `backup` opaque where its content is needed.
pub fn needs_identity(backup: &Backup, manifest: Option<&Manifest>) -> SealError {
    SealError::NeedsIdentity {
        key: backup.key.clone(),
        recipients: shown_recipients(manifest),
    }
}

/// The recipients a manifest names, for people.
fn shown_recipients(manifest: Option<&Manifest>) -> String {
    manifest
        .and_then(|m| m.encryption.as_ref())
        .map_or("unknown recipients".into(), |e| e.recipients.join(", "))
}

/// The program that applies a backup: psql for plain dumps, pg_restore
/// for archives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub program: &'static str,
    pub path: PathBuf,
    pub version: PgVersion,
}

/// The client for `backup`: the oldest one at least as new as the pg_dump
/// that wrote it (per its manifest), else the newest installed.
pub async fn client_for(backup: &Backup, manifest: Option<&Manifest>) -> Result<Client, ToolError> {
    let program = match backup.name.format {
        DumpFormat::Plain => "psql",
        DumpFormat::Custom => "pg_restore",
    };
    let installed = tools::discover(program).await;
    let written_by = manifest.and_then(|m| PgVersion::parse(&m.pg_dump_version));
    let tool = match written_by {
        Some(version) => tools::choose(&installed, version, program).map_err(|e| match e {
            ToolError::TooOld { newest, path, .. } => ToolError::ArchiveTooNew {
                tool: program.into(),
                archive: version,
                newest,
                path,
            },
            other => other,
        })?,
        None => installed
            .iter()
            .max_by_key(|t| t.version)
            .ok_or(ToolError::NotFound {
                tool: program.into(),
            })?,
    };
    Ok(Client {
        program,
        path: tool.path.clone(),
        version: tool.version,
    })
}
