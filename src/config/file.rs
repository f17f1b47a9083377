//! The config file as a figment provider: read once, its TOML syntax
//! checked first so that an error gives the line, column and key but never
//! the line's text, which may hold a secret (the toml crate's message
//! quotes it).

use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map};
use figment::{Error, Metadata, Profile, Provider, Source};

use super::error::{ConfigError, ErrorKind};

/// A TOML config file, parsed.
pub struct TomlFile {
    path: PathBuf,
    data: Map<Profile, Dict>,
}

/// Reads and parses the file at `path`.
pub fn read(path: &Path) -> Result<TomlFile, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            ErrorKind::Invalid,
            "config file",
            origin.clone(),
            format!("cannot be read: {e}"),
        )
    })?;
    if let Err(e) = text.parse::<toml::Table>() {
        return Err(syntax_error(&text, &e, origin));
    }
    // Valid TOML always makes figment data; its error would quote the text.
    let data = Toml::string(&text).data().map_err(|_| {
        ConfigError::new(
            ErrorKind::Invalid,
            "(file)",
            origin.clone(),
            "is TOML that figment cannot read",
        )
    })?;
    Ok(TomlFile {
        path: path.to_path_buf(),
        data,
    })
}

impl Provider for TomlFile {
    fn metadata(&self) -> Metadata {
        Metadata::from("TOML file", Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        Ok(self.data.clone())
    }
}

/// `KEY (FILE): TOML syntax error at line L, column C: WHAT`, without the
/// text of the line.
fn syntax_error(text: &str, e: &toml::de::Error, origin: String) -> ConfigError {
    let at = e.span().map_or(0, |s| s.start).min(text.len());
    let at = (0..=at)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..at].matches('\n').count() + 1;
    let column = text[line_start..at].chars().count() + 1;
    let what = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let key = key_at(text, line_start).unwrap_or_else(|| "(file)".to_string());
    ConfigError::new(
        ErrorKind::Invalid,
        key,
        origin,
        format!("TOML syntax error at line {line}, column {column}: {what}"),
    )
}

/// Marks where a key written on the broken line would land.
const PROBE: &str = "__keepsake_probe__";

/// The full key set on the line starting at `line_start`, when the text
/// before it is sound TOML (not inside an open string or array) and the
/// line starts with `key =`.
fn key_at(text: &str, line_start: usize) -> Option<String> {
    let before = &text[..line_start];
    let probed: toml::Table = format!("{before}\n{PROBE} = 0\n").parse().ok()?;
    let mut path = table_holding_probe(&probed)?;
    let line = text[line_start..].lines().next()?;
    let (written, _) = line.split_once('=')?;
    let mut table: toml::Table = format!("{written} = 0").parse().ok()?;
    loop {
        let (name, value) = table.into_iter().next()?;
        path.push(name);
        match value {
            toml::Value::Table(inner) => table = inner,
            _ => return Some(path.join(".")),
        }
    }
}

/// The path of the table that holds [`PROBE`].
fn table_holding_probe(table: &toml::Table) -> Option<Vec<String>> {
    if table.contains_key(PROBE) {
        return Some(Vec::new());
    }
    table.iter().find_map(|(name, value)| {
        let tables: Vec<&toml::Table> = match value {
            toml::Value::Table(t) => vec![t],
            toml::Value::Array(items) => items.iter().filter_map(|i| i.as_table()).collect(),
            _ => Vec::new(),
        };
        tables.into_iter().find_map(|t| {
            let mut path = table_holding_probe(t)?;
            path.insert(0, name.clone());
            Some(path)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error for `text` as `check` shows it.
    fn error_of(text: &str) -> ConfigError {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepsake.toml");
        std::fs::write(&path, text).unwrap();
        match read(&path) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_syntax_error_never_shows_the_line() {
        let cases = [
            (
                "[storage.main]\ntype = \"s3\"\nsecret_access_key = \"SUPERSECRET\n",
                "storage.main.secret_access_key",
                "line 3, column 33",
                "SUPERSECRET",
            ),
            (
                "[jobs.shop]\npassword = \"Pw-one\" \"Pw-two\"\n",
                "jobs.shop.password",
                "line 2, column 21",
                "Pw-",
            ),
            (
                "[jobs.shop]\ndatabase = 'postgres://u:Hunter2@db/x\n",
                "jobs.shop.database",
                "line 2",
                "Hunter2",
            ),
            (
                "[jobs.shop.retention]\nkeep_days = 7\n[storage.s]\nx.y = Secret-bare\n",
                "storage.s.x.y",
                "line 4, column 7",
                "Secret-bare",
            ),
        ];
        for (text, key, at, secret) in cases {
            let e = error_of(text);
            let shown = e.to_string();
            assert_eq!(e.key, key, "{shown}");
            assert!(shown.contains(at), "{shown}");
            assert!(shown.contains("keepsake.toml"), "{shown}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
    }

    #[test]
    fn a_key_is_named_only_where_one_starts_a_line() {
        // Inside an open multi-line string the next lines are the secret's.
        let e = error_of("[jobs.a]\npassword = \"\"\"abc\nuser=Secret-tail\n");
        assert_eq!(e.key, "(file)", "{e}");
        assert!(!e.to_string().contains("Secret-tail"), "{e}");
        let e = error_of("[jobs.shop\ndatabase = 1\n");
        assert_eq!(e.key, "(file)", "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = error_of("[jobs.a]\nx = 1\nx = 2\n");
        assert!(e.to_string().contains("duplicate key"), "{e}");
    }

    #[test]
    fn a_sound_file_keeps_its_path_as_the_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, "[jobs.a]\ndatabase = \"a\"\n").unwrap();
        let file = read(&path).unwrap();
        assert_eq!(file.metadata().source, Some(Source::File(path)));
        assert!(file.data().unwrap()[&Profile::Default].contains_key("jobs"));
        let Err(e) = read(&dir.path().join("missing.toml")) else {
            panic!("read a missing file")
        };
        assert!(e.to_string().contains("cannot be read"), "{e}");
    }
}
