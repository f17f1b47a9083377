//! Object names, both ways: a job's backup key from (prefix, job, unit,
//! time, sequence, extension), and back, so that only keys a job itself
//! wrote are ever taken for its backups. A job that backs up several
//! databases keeps each in a directory of its own (the database's name,
//! [`encode`]d), and the cluster's globals beside them.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::config::{CompressionKind, DumpFormat, Naming};

/// The timestamp layout in every key, in UTC: `2026-11-28_03-00-00`.
const TIME_FORMAT: &str = "%Y-%m-%d_%H-%M-%S";
const TIME_LEN: usize = "2026-11-28_03-00-00".len();
/// The fixed stem of legacy names.
const LEGACY_STEM: &str = "postgres-backup-";
/// Appended to a backup's key to name its manifest.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";

/// What a key says about the backup it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupName {
    pub at: Timestamp,
    /// 0 for the first backup in a second, then 1, 2, ... (`-1` in the key).
    pub seq: u32,
    pub format: DumpFormat,
    pub compression: CompressionKind,
    /// Sealed with age: `.age` ends the key.
    pub encrypted: bool,
}

/// What one backup object of a job holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Unit {
    /// The database the job's connection names (a job of one database).
    #[default]
    Whole,
    /// One database of a job that names several (or all).
    Database(String),
    /// The cluster's roles, memberships and tablespaces (`pg_dumpall
    /// --globals-only`).
    Globals,
}

impl Unit {
    /// For people: `shop`, `globals`, or the job's own database.
    pub fn label(&self) -> String {
        match self {
            Unit::Whole => "the database".into(),
            Unit::Database(name) => format!("database {name}"),
            Unit::Globals => "globals".into(),
        }
    }
}

/// Where one job keeps its backups (of one unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout<'a> {
    /// The storage prefix, without slashes at either end; may be empty.
    pub prefix: &'a str,
    pub naming: Naming,
    pub job: &'a str,
    pub unit: &'a Unit,
}

/// The stem of the globals' keys, after the job's (or the legacy) stem.
const GLOBALS: &str = "globals-";

/// A database name as one segment of a key: letters, digits, `_` and `-`
/// as they are, every other byte as `%XX`, so that no name can add a
/// directory, be `.` or `..`, or look like another's.
pub fn encode(name: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The database name a key segment stands for, if [`encode`] made it.
pub fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(out).ok()?;
    (encode(&name) == segment && !name.is_empty()).then_some(name)
}

/// `sql`, `sql.gz`, `dump.zst`, `sql.gz.age`, ...
pub fn extension(name: &BackupName) -> String {
    let base = match name.format {
        DumpFormat::Plain => "sql",
        DumpFormat::Custom => "dump",
    };
    let mut ext = match name.compression {
        CompressionKind::Gzip => format!("{base}.gz"),
        CompressionKind::Zstd => format!("{base}.zst"),
        CompressionKind::None => base.to_string(),
    };
    if name.encrypted {
        ext.push('.');
        ext.push_str(crate::encryption::EXTENSION);
    }
    ext
}

/// (format, compression, encrypted) of an extension.
fn parse_extension(ext: &str) -> Option<(DumpFormat, CompressionKind, bool)> {
    let sealed = ext
        .strip_suffix(crate::encryption::EXTENSION)
        .and_then(|e| e.strip_suffix('.'));
    let (ext, encrypted) = match sealed {
        Some(inner) => (inner, true),
        None => (ext, false),
    };
    let (base, compression) = match ext.rsplit_once('.') {
        Some((base, "gz")) => (base, CompressionKind::Gzip),
        Some((base, "zst")) => (base, CompressionKind::Zstd),
        _ => (ext, CompressionKind::None),
    };
    let format = match base {
        "sql" => DumpFormat::Plain,
        "dump" => DumpFormat::Custom,
        _ => return None,
    };
    Some((format, compression, encrypted))
}

impl Layout<'_> {
    /// The directory part every key of this job starts with (may be empty,
    /// else ends with `/`).
    pub fn dir(&self) -> String {
        let mut dir = self.job_dir();
        if let Unit::Database(name) = self.unit {
            dir.push_str(&encode(name));
            dir.push('/');
        }
        dir
    }

    /// The directory of the job's whole-database backups and globals,
    /// where the directories of its databases are.
    pub fn job_dir(&self) -> String {
        let mut dir = String::new();
        if !self.prefix.is_empty() {
            dir.push_str(self.prefix);
            dir.push('/');
        }
        if self.naming == Naming::Job {
            dir.push_str(self.job);
            dir.push('/');
        }
        dir
    }

    fn stem(&self) -> String {
        let own = match (self.naming, self.unit) {
            (Naming::Legacy, _) => LEGACY_STEM.to_string(),
            (Naming::Job, Unit::Database(name)) => format!("{}-", encode(name)),
            (Naming::Job, _) => format!("{}-", self.job),
        };
        match self.unit {
            Unit::Globals => format!("{own}{GLOBALS}"),
            _ => own,
        }
    }

    /// The key of a backup taken at `name.at`.
    pub fn key(&self, name: &BackupName) -> String {
        let time = name.at.strftime(TIME_FORMAT);
        let seq = if name.seq == 0 {
            String::new()
        } else {
            format!("-{}", name.seq)
        };
        let ext = extension(name);
        format!("{}{}{time}{seq}.{ext}", self.dir(), self.stem())
    }

    /// The backup a key names, if and only if this layout produced it.
    pub fn parse(&self, key: &str) -> Option<BackupName> {
        let rest = key.strip_prefix(&self.dir())?;
        let rest = rest.strip_prefix(&self.stem())?;
        let time = rest.get(..TIME_LEN)?;
        let at = DateTime::strptime(TIME_FORMAT, time)
            .ok()?
            .to_zoned(TimeZone::UTC)
            .ok()?
            .timestamp();
        let rest = &rest[TIME_LEN..];
        let (seq, ext) = match rest.strip_prefix('-') {
            Some(tail) => {
                let (digits, ext) = tail.split_once('.')?;
                let valid = !digits.is_empty()
                    && !digits.starts_with('0')
                    && digits.bytes().all(|b| b.is_ascii_digit());
                (valid.then(|| digits.parse().ok()).flatten()?, ext)
            }
            None => (0, rest.strip_prefix('.')?),
        };
        let (format, compression, encrypted) = parse_extension(ext)?;
        let name = BackupName {
            at,
            seq,
            format,
            compression,
            encrypted,
        };
        (self.key(&name) == key).then_some(name)
    }
}

/// The first backup name of `at` (seconds precision).
pub fn new_name(
    at: Timestamp,
    format: DumpFormat,
    compression: CompressionKind,
    encrypted: bool,
) -> BackupName {
    let at = Timestamp::from_second(at.as_second()).expect("whole seconds of a valid time");
    BackupName {
        at,
        seq: 0,
        format,
        compression,
        encrypted,
    }
}

/// The manifest written beside the backup at `key`.
pub fn manifest_key(key: &str) -> String {
    format!("{key}{MANIFEST_SUFFIX}")
}

/// The backup a manifest's key belongs to; None for other keys.
pub fn data_key(manifest_key: &str) -> Option<&str> {
    manifest_key.strip_suffix(MANIFEST_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn name(seq: u32, format: DumpFormat, compression: CompressionKind) -> BackupName {
        BackupName {
            at: at("2026-11-28T03:00:00Z"),
            seq,
            format,
            compression,
            encrypted: false,
        }
    }

    fn sealed(name: BackupName) -> BackupName {
        BackupName {
            encrypted: true,
            ..name
        }
    }

    const LEGACY: Layout = Layout {
        prefix: "nightly",
        naming: Naming::Legacy,
        job: "default",
        unit: &Unit::Whole,
    };
    const JOB: Layout = Layout {
        prefix: "prod",
        naming: Naming::Job,
        job: "shop",
        unit: &Unit::Whole,
    };

    #[test]
    fn keys_follow_the_documented_shapes() {
        let cases = [
            (
                &LEGACY,
                name(0, DumpFormat::Plain, CompressionKind::Gzip),
                "nightly/postgres-backup-2026-11-28_03-00-00.sql.gz",
            ),
            (
                &LEGACY,
                name(2, DumpFormat::Plain, CompressionKind::Gzip),
                "nightly/postgres-backup-2026-11-28_03-00-00-2.sql.gz",
            ),
            (
                &JOB,
                name(0, DumpFormat::Custom, CompressionKind::Zstd),
                "prod/shop/shop-2026-11-28_03-00-00.dump.zst",
            ),
            (
                &JOB,
                name(0, DumpFormat::Custom, CompressionKind::None),
                "prod/shop/shop-2026-11-28_03-00-00.dump",
            ),
            (
                &Layout {
                    prefix: "",
                    ..LEGACY
                },
                name(0, DumpFormat::Plain, CompressionKind::None),
                "postgres-backup-2026-11-28_03-00-00.sql",
            ),
            (
                &Layout { prefix: "", ..JOB },
                name(1, DumpFormat::Plain, CompressionKind::Zstd),
                "shop/shop-2026-11-28_03-00-00-1.sql.zst",
            ),
            (
                &LEGACY,
                sealed(name(0, DumpFormat::Plain, CompressionKind::Gzip)),
                "nightly/postgres-backup-2026-11-28_03-00-00.sql.gz.age",
            ),
            (
                &JOB,
                sealed(name(3, DumpFormat::Custom, CompressionKind::None)),
                "prod/shop/shop-2026-11-28_03-00-00-3.dump.age",
            ),
        ];
        for (layout, name, key) in cases {
            assert_eq!(layout.key(&name), key);
            assert_eq!(layout.parse(key), Some(name), "{key}");
        }
    }

    #[test]
    fn foreign_keys_are_not_ours() {
        for key in [
            "nightly/postgres-backup-2026-11-28_03-00-00.sql.gz.manifest.json",
            "nightly/postgres-backup-2026-11-28_03-00-00.sql.bz2",
            "nightly/postgres-backup-2026-11-28_03-00-00.sql.gz.age.age",
            "nightly/postgres-backup-2026-11-28_03-00-00.age",
            "nightly/postgres-backup-2026-11-28_03-00-00.sql.gzage",
            "nightly/postgres-backup-2026-11-28_03-00-00-01.sql.gz",
            "nightly/postgres-backup-2026-11-28_03-00-00-.sql.gz",
            "nightly/postgres-backup-2026-13-28_03-00-00.sql.gz",
            "nightly/sub/postgres-backup-2026-11-28_03-00-00.sql.gz",
            "nightly2/postgres-backup-2026-11-28_03-00-00.sql.gz",
            "postgres-backup-2026-11-28_03-00-00.sql.gz",
            "nightly/postgres-backup-latest.sql.gz",
            "nightly/notes.txt",
        ] {
            assert_eq!(LEGACY.parse(key), None, "{key}");
        }
        // Another job sharing the prefix, or a job whose name extends ours.
        let other = Layout {
            job: "shop2",
            ..JOB
        };
        let key = other.key(&name(0, DumpFormat::Plain, CompressionKind::Gzip));
        assert_eq!(JOB.parse(&key), None);
        assert_eq!(JOB.parse("prod/shop/shop-2-2026-11-28_03-00-00.sql"), None);
    }

    #[test]
    fn new_names_drop_subseconds() {
        let n = new_name(
            at("2026-11-28T03:00:00.987Z"),
            DumpFormat::Plain,
            CompressionKind::Gzip,
            false,
        );
        assert_eq!(n.at, at("2026-11-28T03:00:00Z"));
        assert_eq!(manifest_key("a/b.sql"), "a/b.sql.manifest.json");
    }

    #[test]
    fn units_of_a_cluster_job_have_keys_of_their_own() {
        let plain = name(0, DumpFormat::Plain, CompressionKind::Gzip);
        let shop = Unit::Database("shop".into());
        let odd = Unit::Database("Ünï/../x y".into());
        let cases = [
            (
                &JOB,
                &shop,
                "prod/shop/shop/shop-2026-11-28_03-00-00.sql.gz",
            ),
            (
                &JOB,
                &Unit::Globals,
                "prod/shop/shop-globals-2026-11-28_03-00-00.sql.gz",
            ),
            (
                &JOB,
                &odd,
                "prod/shop/%C3%9Cn%C3%AF%2F%2E%2E%2Fx%20y/%C3%9Cn%C3%AF%2F%2E%2E%2Fx%20y-2026-11-28_03-00-00.sql.gz",
            ),
            (
                &LEGACY,
                &shop,
                "nightly/shop/postgres-backup-2026-11-28_03-00-00.sql.gz",
            ),
            (
                &LEGACY,
                &Unit::Globals,
                "nightly/postgres-backup-globals-2026-11-28_03-00-00.sql.gz",
            ),
        ];
        let all_units = [Unit::Whole, shop.clone(), odd.clone(), Unit::Globals];
        for (base, unit, key) in cases {
            let layout = Layout {
                unit,
                ..base.clone()
            };
            assert_eq!(layout.key(&plain), key);
            assert_eq!(layout.parse(key), Some(plain.clone()), "{key}");
            // No other unit of the same job takes it for its own.
            for other in all_units.iter().filter(|u| *u != unit) {
                let theirs = Layout {
                    unit: other,
                    ..base.clone()
                };
                assert_eq!(theirs.parse(key), None, "{key} as {other:?}");
            }
        }
    }

    #[test]
    fn database_names_encode_to_one_safe_segment_and_back() {
        for name in ["shop", "Shop_2-x", "a.b", "..", "a/b", "ü", "%41", " "] {
            let segment = encode(name);
            assert!(
                segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-%".contains(&b)),
                "{segment}"
            );
            assert_eq!(decode(&segment).as_deref(), Some(name));
        }
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%41"), None, "not how encode spells A");
        assert_eq!(decode(""), None);
    }
}
