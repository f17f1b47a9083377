//! Connection strings: read a PostgreSQL URL, a `key=value` conninfo or a
//! bare database name as libpq does, split the password out so that it
//! reaches the client through its environment, never its command line, and
//! refuse anything else without repeating any of it.
//!
//! keepsake hands the client a string it wrote itself from what it parsed,
//! never the input: whatever it did not understand cannot slip through.
//! libpq matches keywords case-sensitively (`conninfo_find` in
//! `src/interfaces/libpq/fe-connect.c` uses `strcmp`), so `PASSWORD=x` is
//! not a password to libpq but an invalid option, and it would still sit on
//! the command line; keepsake therefore refuses every keyword it does not
//! know, in any case. URL schemes are matched case-insensitively and written
//! back in lower case (libpq itself wants them lower case).

mod uri;

use secrecy::{ExposeSecret, SecretString};

/// A connection with its password held apart.
#[derive(Clone)]
pub struct Connection {
    /// What the client gets as `--dbname`: written by keepsake, no password.
    pub conninfo: String,
    /// The password from the string itself, if it had one.
    pub password: Option<SecretString>,
}

impl Connection {
    /// The connection as people may see it: its password, if any, as `***`.
    pub fn display(&self) -> String {
        if self.password.is_none() {
            return self.conninfo.clone();
        }
        if let Some(Ok((uri, _))) = uri::split_scheme(&self.conninfo).map(uri::parse) {
            return uri.to_string_masked();
        }
        if self.conninfo.is_empty() {
            "password=***".to_string()
        } else {
            format!("{} password=***", self.conninfo)
        }
    }
}

/// People see [`Connection::display`]; a fingerprint also sees a digest of
/// the password (see [`crate::config::secret`]).
impl serde::Serialize for Connection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.password {
            Some(pw) if crate::config::secret::fingerprinting() => {
                let shown = crate::config::secret::shown(pw);
                format!("{} password={shown}", self.conninfo).serialize(s)
            }
            _ => self.display().serialize(s),
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("conninfo", &self.conninfo)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Why a connection string was refused. Never carries any part of the
/// string, which may hold a password: only positions (characters counted
/// from 1) and keepsake's own names.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnInfoError {
    #[error("the connection string is empty")]
    Empty,
    #[error("unterminated quoted value in key=value connection string")]
    Unterminated,
    #[error(
        "expected `key=value` at character {0} of the connection string \
         (quote a value that holds spaces: key='a b')"
    )]
    MissingEquals(usize),
    #[error("the keyword at character {at} is not one keepsake knows{}", hint_text(*.hint))]
    UnknownKeyword {
        at: usize,
        /// The known keyword it spells in another case.
        hint: Option<&'static str>,
    },
    #[error(
        "`{0}` would put a secret on the client's command line; keepsake can \
         pass only `password` safely (through the environment)"
    )]
    SecretKeyword(&'static str),
    #[error("the database name is itself a connection string; give that string directly")]
    Nested,
    #[error("not a valid PostgreSQL URL: {0}")]
    BadUrl(&'static str),
    #[error("only postgresql:// and postgres:// URLs are understood")]
    UnsupportedScheme,
    #[error(
        "this looks like a URL without its scheme; write postgresql://user:password@host/dbname"
    )]
    MissingScheme,
    #[error(
        "not a connection string keepsake understands: give a postgresql:// URL, \
         key=value settings or a plain database name"
    )]
    NotUnderstood,
}

fn hint_text(hint: Option<&'static str>) -> String {
    match hint {
        Some(known) => format!(" (keywords are lower case: did you mean `{known}`?)"),
        None => " (if it is part of a value with spaces, quote the value: key='a b')".to_string(),
    }
}

/// libpq's connection keywords (PostgreSQL 15 to 18) that carry no secret.
const KEYWORDS: &[&str] = &[
    "service",
    "user",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslkeylogfile",
    "requirepeer",
    "require_auth",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "min_protocol_version",
    "max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "replication",
    "target_session_attrs",
    "load_balance_hosts",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_scope",
];

/// Keywords whose value is a secret that has no environment variable: it
/// could only travel on the command line, so they are refused.
const SECRETS: &[&str] = &[
    "sslpassword",
    "scram_client_key",
    "scram_server_key",
    "oauth_client_secret",
];

/// What a keyword is to keepsake.
enum Keyword {
    Password,
    Setting,
}

/// Checks one `key=value` (from a conninfo or a URL's query); `at` is
/// where the key starts, for the error.
fn keyword(key: &str, value: &str, at: usize) -> Result<Keyword, ConnInfoError> {
    if key == "password" {
        return Ok(Keyword::Password);
    }
    if let Some(secret) = SECRETS.iter().find(|s| **s == key) {
        return Err(ConnInfoError::SecretKeyword(secret));
    }
    if !KEYWORDS.contains(&key) {
        let hint = KEYWORDS
            .iter()
            .chain(SECRETS)
            .chain(&["password"])
            .find(|k| k.eq_ignore_ascii_case(key))
            .copied();
        return Err(ConnInfoError::UnknownKeyword { at, hint });
    }
    if key == "dbname" && looks_like_connection(value) {
        return Err(ConnInfoError::Nested);
    }
    Ok(Keyword::Setting)
}

/// What libpq would expand as a connection string where a name is due.
fn looks_like_connection(value: &str) -> bool {
    value.contains('=') || uri::split_scheme(value).is_some()
}

/// Splits the password out of a URL (`postgres://user:pw@host/db`), a
/// conninfo (`host=h password=pw dbname=db`) or a bare database name, and
/// refuses anything else.
pub fn parse(input: &str) -> Result<Connection, ConnInfoError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(ConnInfoError::Empty);
    }
    if let Some(split) = uri::split_scheme(input) {
        let (uri, password) = uri::parse(split)?;
        return Ok(Connection {
            conninfo: uri.to_string(),
            password: password.map(SecretString::from),
        });
    }
    if uri::has_other_scheme(input) {
        return Err(ConnInfoError::UnsupportedScheme);
    }
    if input.contains('=') {
        return parse_keywords(input);
    }
    if is_plain_name(input) {
        return Ok(Connection {
            conninfo: format!("dbname={}", quote(input)),
            password: None,
        });
    }
    if input.contains('@') {
        return Err(ConnInfoError::MissingScheme);
    }
    Err(ConnInfoError::NotUnderstood)
}

/// A database name that cannot be mistaken for anything else.
fn is_plain_name(input: &str) -> bool {
    input
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
}

fn parse_keywords(input: &str) -> Result<Connection, ConnInfoError> {
    let mut kept = Vec::new();
    let mut password = None;
    for pair in keyword_pairs(input)? {
        match keyword(&pair.key, &pair.value, pair.at)? {
            Keyword::Password => password = Some(SecretString::from(pair.value)),
            Keyword::Setting => kept.push(format!("{}={}", pair.key, quote(&pair.value))),
        }
    }
    Ok(Connection {
        conninfo: kept.join(" "),
        password,
    })
}

/// One `key=value` of a conninfo; `at` is where the key starts.
struct Pair {
    key: String,
    value: String,
    at: usize,
}

/// Splits `key = value key2='quoted \' value'` into pairs as libpq's
/// `conninfo_parse` does: white space around `=` is allowed, a backslash
/// takes the next character literally, a quoted value ends at an unescaped
/// `'`.
fn keyword_pairs(input: &str) -> Result<Vec<Pair>, ConnInfoError> {
    let mut pairs = Vec::new();
    let mut chars = input.chars().enumerate().peekable();
    let blank = |c: &(usize, char)| c.1.is_whitespace();
    loop {
        while chars.next_if(blank).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Ok(pairs);
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|&(_, c)| c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(blank).is_some() {}
        if chars.next_if(|&(_, c)| c == '=').is_none() {
            return Err(ConnInfoError::MissingEquals(start + 1));
        }
        while chars.next_if(blank).is_some() {}
        let mut value = String::new();
        if chars.next_if(|&(_, c)| c == '\'').is_some() {
            loop {
                match chars.next().map(|(_, c)| c) {
                    None => return Err(ConnInfoError::Unterminated),
                    Some('\'') => break,
                    Some('\\') => {
                        let (_, c) = chars.next().ok_or(ConnInfoError::Unterminated)?;
                        value.push(c);
                    }
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|c| !blank(c)) {
                if c == '\\' {
                    // As libpq: a backslash at the very end is dropped.
                    if let Some((_, next)) = chars.next() {
                        value.push(next);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push(Pair {
            key,
            value,
            at: start + 1,
        });
    }
}

/// The database a conninfo written by [`parse`] names.
pub fn dbname(conninfo: &str) -> Option<String> {
    if let Some(split) = uri::split_scheme(conninfo) {
        return uri::parse(split).ok()?.0.dbname;
    }
    keyword_pairs(conninfo)
        .ok()?
        .into_iter()
        .rev()
        .find(|p| p.key == "dbname")
        .map(|p| p.value)
}

/// The same connection (a conninfo written by [`parse`]) to another
/// database on the same server.
pub fn with_dbname(conninfo: &str, name: &str) -> String {
    if let Some(split) = uri::split_scheme(conninfo)
        && let Ok((mut uri, _)) = uri::parse(split)
    {
        uri.dbname = Some(name.to_string());
        return uri.to_string();
    }
    let mut pairs: Vec<String> = keyword_pairs(conninfo)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.key != "dbname")
        .map(|p| format!("{}={}", p.key, quote(&p.value)))
        .collect();
    pairs.push(format!("dbname={}", quote(name)));
    pairs.join(" ")
}

/// Quotes a conninfo value: `'...'` with `\` and `'` escaped.
pub fn quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

/// The connection string for people to read: whatever [`parse`] takes for
/// a password replaced by `***`, and nothing of a string it refuses.
pub fn redact(input: &str) -> String {
    match parse(input) {
        Ok(conn) => conn.display(),
        Err(_) => "*** (unreadable connection string)".to_string(),
    }
}

/// The password, for the child's environment only.
pub fn expose(password: &SecretString) -> &str {
    password.expose_secret()
}

#[cfg(test)]
mod tests;
