//! Configuration errors: each names the key, where it came from (file or
//! environment variable) and what is wrong; together they pick the exit code.

/// What kind of problem a setting has; it decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// A required setting is absent (exit 1).
    Missing,
    /// A setting has a wrong value or type, or is unknown (exit 1).
    Invalid,
    /// A cron expression does not parse (exit 2).
    Cron,
    /// An S3 setting is unusable (exit 3).
    S3,
}

impl ErrorKind {
    /// The exit code the seed tool used for this kind of problem.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Missing | ErrorKind::Invalid => 1,
            ErrorKind::Cron => 2,
            ErrorKind::S3 => 3,
        }
    }
}

/// One problem with one setting: `key (origin): message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}{}: {message}", origin_text(origin))]
pub struct ConfigError {
    pub kind: ErrorKind,
    /// The config key, e.g. `jobs.shop.schedule`.
    pub key: String,
    /// Where the value came from, e.g. `environment variable S3_BUCKET` or
    /// `/etc/keepsake/keepsake.toml`.
    pub origin: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(
        kind: ErrorKind,
        key: impl Into<String>,
        origin: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            kind,
            key: key.into(),
            origin: origin.into(),
            message: message.into(),
        }
    }
}

/// ` (origin)`, or nothing when the origin is unknown.
fn origin_text(origin: &str) -> String {
    if origin.is_empty() {
        String::new()
    } else {
        format!(" ({origin})")
    }
}

/// Every problem found in one configuration, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", list(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Exit code: a missing or invalid setting (1) before a bad cron
    /// expression (2) before bad S3 settings (3).
    pub fn exit_code(&self) -> u8 {
        self.0
            .iter()
            .map(|e| e.kind)
            .min()
            .map_or(1, ErrorKind::exit_code)
    }
}

/// The heading and one line per problem.
fn list(errors: &[ConfigError]) -> String {
    use std::fmt::Write as _;
    let n = errors.len();
    let mut out = format!(
        "invalid configuration ({n} problem{}):\n",
        if n == 1 { "" } else { "s" }
    );
    for e in errors {
        let _ = writeln!(out, "  - {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_prefers_missing_then_cron_then_s3() {
        let e = |k| ConfigError::new(k, "k", "", "m");
        let codes = |ks: &[ErrorKind]| ConfigErrors(ks.iter().map(|k| e(*k)).collect()).exit_code();
        assert_eq!(codes(&[ErrorKind::S3, ErrorKind::Cron]), 2);
        assert_eq!(codes(&[ErrorKind::S3]), 3);
        assert_eq!(codes(&[ErrorKind::S3, ErrorKind::Missing]), 1);
        assert_eq!(codes(&[ErrorKind::Cron, ErrorKind::Invalid]), 1);
    }

    #[test]
    fn display_names_key_and_origin() {
        let e = ConfigError::new(
            ErrorKind::Cron,
            "jobs.default.schedule",
            "environment variable BACKUP_INTERVAL",
            "bad",
        );
        assert_eq!(
            e.to_string(),
            "jobs.default.schedule (environment variable BACKUP_INTERVAL): bad"
        );
    }
}
