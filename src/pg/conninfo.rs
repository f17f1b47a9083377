//! Connection strings: split the password out of a PostgreSQL URL or
//! `key=value` conninfo so that it reaches pg_dump through its environment,
//! never its command line, and show the rest with the password redacted.

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// A connection with its password held apart.
#[derive(Clone)]
pub struct Connection {
    /// What pg_dump gets as `--dbname`: the input without any password.
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
        if self.conninfo.contains("://")
            && let Ok(mut url) = Url::parse(&self.conninfo)
            && !url.username().is_empty()
            && url.set_password(Some("***")).is_ok()
        {
            return url.to_string();
        }
        format!("{} password=***", self.conninfo)
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

/// Why a connection string could not be read. Never carries the string
/// itself, which may hold a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnInfoError {
    #[error("not a valid PostgreSQL URL ({0})")]
    BadUrl(String),
    #[error("unterminated quoted value in key=value connection string")]
    Unterminated,
    #[error("expected `key=value` in connection string, found `{0}`")]
    MissingEquals(String),
    #[error("the connection string is empty")]
    Empty,
}

/// Splits the password out of a URL (`postgres://user:pw@host/db`), a
/// conninfo (`host=h password=pw dbname=db`) or a bare database name.
pub fn parse(input: &str) -> Result<Connection, ConnInfoError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(ConnInfoError::Empty);
    }
    if input.starts_with("postgres://") || input.starts_with("postgresql://") {
        parse_url(input)
    } else if input.contains('=') {
        parse_keywords(input)
    } else {
        Ok(Connection {
            conninfo: format!("dbname={}", quote(input)),
            password: None,
        })
    }
}

fn parse_url(input: &str) -> Result<Connection, ConnInfoError> {
    let mut url = Url::parse(input).map_err(|e| ConnInfoError::BadUrl(e.to_string()))?;
    let mut password = url.password().map(|p| {
        let decoded = percent_decode(p);
        SecretString::from(decoded)
    });
    if password.is_some() {
        url.set_password(None)
            .map_err(|_| ConnInfoError::BadUrl("cannot remove the password".into()))?;
    }
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if query.iter().any(|(k, _)| k == "password") {
        let kept: Vec<_> = query.iter().filter(|(k, _)| k != "password").collect();
        if let Some((_, p)) = query.iter().find(|(k, _)| k == "password") {
            password = Some(SecretString::from(p.clone()));
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Ok(Connection {
        conninfo: url.to_string(),
        password,
    })
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn parse_keywords(input: &str) -> Result<Connection, ConnInfoError> {
    let mut kept = Vec::new();
    let mut password = None;
    for (key, value) in keyword_pairs(input)? {
        if key == "password" {
            password = Some(SecretString::from(value));
        } else {
            kept.push(format!("{key}={}", quote(&value)));
        }
    }
    Ok(Connection {
        conninfo: kept.join(" "),
        password,
    })
}

/// Splits `key = value key2='quoted \' value'` into pairs, as libpq does.
fn keyword_pairs(input: &str) -> Result<Vec<(String, String)>, ConnInfoError> {
    let mut pairs = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(ConnInfoError::MissingEquals(key));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(ConnInfoError::Unterminated),
                    Some('\'') => break,
                    Some('\\') => value.push(chars.next().ok_or(ConnInfoError::Unterminated)?),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().ok_or(ConnInfoError::Unterminated)?);
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// The database a password-free conninfo (as [`parse`] returns) names.
pub fn dbname(conninfo: &str) -> Option<String> {
    if conninfo.contains("://") {
        let url = Url::parse(conninfo).ok()?;
        let name = url.path().trim_start_matches('/');
        return (!name.is_empty()).then(|| percent_decode(name));
    }
    keyword_pairs(conninfo)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "dbname")
        .map(|(_, v)| v)
}

/// The same connection to another database on the same server.
pub fn with_dbname(conninfo: &str, name: &str) -> String {
    if conninfo.contains("://")
        && let Ok(mut url) = Url::parse(conninfo)
    {
        url.set_path(&format!("/{name}"));
        return url.to_string();
    }
    let mut pairs: Vec<String> = keyword_pairs(conninfo)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "dbname")
        .map(|(k, v)| format!("{k}={}", quote(&v)))
        .collect();
    pairs.push(format!("dbname={}", quote(name)));
    pairs.join(" ")
}

/// Quotes a conninfo value: `'...'` with `\` and `'` escaped.
pub fn quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

/// The connection string for people to read: any password replaced by `***`.
pub fn redact(input: &str) -> String {
    const UNREADABLE: &str = "*** (unreadable connection string)";
    let input = input.trim();
    if input.contains("://") {
        return redact_url(input).unwrap_or_else(|| UNREADABLE.to_string());
    }
    match parse(input) {
        Ok(conn) if conn.password.is_some() => format!("{} password=***", conn.conninfo),
        Ok(conn) => conn.conninfo,
        Err(_) => UNREADABLE.to_string(),
    }
}

fn redact_url(input: &str) -> Option<String> {
    let mut url = Url::parse(input).ok()?;
    if url.password().is_some() {
        url.set_password(Some("***")).ok()?;
    }
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if query.iter().any(|(k, _)| k == "password") {
        let redacted = query.into_iter().map(|(k, v)| {
            let v = if k == "password" {
                "***".to_string()
            } else {
                v
            };
            (k, v)
        });
        let pairs: Vec<_> = redacted.collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Some(url.to_string())
}

/// The password, for the child's environment only.
pub fn expose(password: &SecretString) -> &str {
    password.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(c: &Connection) -> Option<String> {
        c.password.as_ref().map(|p| p.expose_secret().to_string())
    }

    #[test]
    fn url_password_is_split_out() {
        let c = parse("postgres://app:s%40cret@db:5432/shop?sslmode=disable").unwrap();
        assert_eq!(c.conninfo, "postgres://app@db:5432/shop?sslmode=disable");
        assert_eq!(pw(&c).as_deref(), Some("s@cret"));
    }

    #[test]
    fn url_query_password_is_split_out() {
        let c = parse("postgresql://db/shop?password=pw&sslmode=require").unwrap();
        assert_eq!(c.conninfo, "postgresql://db/shop?sslmode=require");
        assert_eq!(pw(&c).as_deref(), Some("pw"));
        let c = parse("postgresql://db/shop?password=pw").unwrap();
        assert_eq!(c.conninfo, "postgresql://db/shop");
    }

    #[test]
    fn url_without_password_is_unchanged() {
        let c = parse("postgres://app@db/shop").unwrap();
        assert_eq!(c.conninfo, "postgres://app@db/shop");
        assert!(c.password.is_none());
    }

    #[test]
    fn keyword_password_is_split_out() {
        let c = parse(r"host=db password='it\'s secret' dbname = shop").unwrap();
        assert_eq!(c.conninfo, "host='db' dbname='shop'");
        assert_eq!(pw(&c).as_deref(), Some("it's secret"));
    }

    #[test]
    fn bare_name_is_a_database() {
        let c = parse("shop").unwrap();
        assert_eq!(c.conninfo, "dbname='shop'");
    }

    #[test]
    fn bad_input_is_reported_without_echoing_it() {
        assert!(matches!(parse("  "), Err(ConnInfoError::Empty)));
        let err = parse("host='db password=x").unwrap_err();
        assert_eq!(err, ConnInfoError::Unterminated);
        assert!(!err.to_string().contains("password=x"));
        assert!(matches!(
            parse("host=db port"),
            Err(ConnInfoError::MissingEquals(_))
        ));
    }

    #[test]
    fn database_names_are_read_and_replaced() {
        let url = parse("postgres://u:p@h:5432/shop?sslmode=disable")
            .unwrap()
            .conninfo;
        assert_eq!(dbname(&url).as_deref(), Some("shop"));
        assert_eq!(
            with_dbname(&url, "postgres"),
            "postgres://u@h:5432/postgres?sslmode=disable"
        );
        let kw = parse("host=h dbname=shop user=u").unwrap().conninfo;
        assert_eq!(dbname(&kw).as_deref(), Some("shop"));
        assert_eq!(
            with_dbname(&kw, "postgres"),
            "host='h' user='u' dbname='postgres'"
        );
        assert_eq!(dbname(&parse("host=h").unwrap().conninfo), None);
    }

    #[test]
    fn redaction_hides_every_password_form() {
        assert_eq!(redact("postgres://a:pw@h/d"), "postgres://a:***@h/d");
        assert_eq!(
            redact("postgres://h/d?password=pw"),
            "postgres://h/d?password=***"
        );
        assert_eq!(redact("host=h password=pw"), "host='h' password=***");
        assert_eq!(redact("postgres://h/d"), "postgres://h/d");
        assert!(!redact("host='h password=pw").contains("pw"));
    }
}
