//! libpq's connection URIs,
//! `postgresql://[user[:password]@][host[:port],...][/dbname][?key=value&...]`,
//! read as `conninfo_uri_parse` in libpq's fe-connect.c reads them and
//! written back percent-encoded, without the password.

use super::{ConnInfoError, Keyword, keyword};

/// A URL with its password taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Uri {
    /// `postgresql` or `postgres`, as written (in lower case).
    pub scheme: &'static str,
    pub user: Option<String>,
    /// At least one; the host may be empty (libpq's default).
    pub hosts: Vec<Host>,
    pub dbname: Option<String>,
    /// Query parameters other than `password` and `dbname`.
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Host {
    pub name: String,
    /// Written in brackets: `[::1]`.
    pub ipv6: bool,
    pub port: Option<String>,
}

/// The scheme (lower case) and the rest, when `input` starts with
/// `postgresql://` or `postgres://` in any case.
pub(super) fn split_scheme(input: &str) -> Option<(&'static str, &str)> {
    ["postgresql", "postgres"].into_iter().find_map(|scheme| {
        let head = input.get(..scheme.len() + 3)?;
        let matches = head.eq_ignore_ascii_case(&format!("{scheme}://"));
        matches.then(|| (scheme, &input[head.len()..]))
    })
}

/// `something://` before any `=` or white space: a URL of another kind.
pub(super) fn has_other_scheme(input: &str) -> bool {
    input.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | ':'))
    })
}

/// Reads a URL after its scheme; returns it and its password, if any (a
/// query `password` overrides the one before `@`, as in libpq).
pub(super) fn parse(
    (scheme, rest): (&'static str, &str),
) -> Result<(Uri, Option<String>), ConnInfoError> {
    let whole = rest;
    let mut password = None;
    let mut user = None;
    let mut rest = rest;
    // libpq looks for `@` up to the first `/` only.
    if let Some(at) = rest.find(['@', '/'])
        && rest[at..].starts_with('@')
    {
        let userinfo = &rest[..at];
        let (name, pw) = match userinfo.split_once(':') {
            Some((name, pw)) => (name, Some(pw)),
            None => (userinfo, None),
        };
        let name = decode(name)?;
        user = (!name.is_empty()).then_some(name);
        password = pw.map(decode).transpose()?;
        rest = &rest[at + 1..];
    }
    let (hosts, after) = hosts(rest)?;
    let (path, query) = match after.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (after, None),
    };
    let mut dbname = match path.strip_prefix('/') {
        Some(name) => Some(decode(name)?).filter(|n| !n.is_empty()),
        None => None,
    };
    if dbname.as_deref().is_some_and(super::looks_like_connection) {
        return Err(ConnInfoError::Nested);
    }
    let mut params = Vec::new();
    if let Some(query) = query {
        let mut start = whole.len() - query.len();
        for param in query.split('&') {
            // Where the parameter starts, in characters of the input.
            let at = scheme.len() + 3 + whole[..start].chars().count() + 1;
            start += param.len() + 1;
            if param.is_empty() {
                continue;
            }
            let (key, value) = param
                .split_once('=')
                .ok_or(ConnInfoError::BadUrl("a query parameter has no `=`"))?;
            let (mut key, mut value) = (decode(key)?, decode(value)?);
            if key == "ssl" && value == "true" {
                // As libpq, for JDBC-style URLs.
                (key, value) = ("sslmode".into(), "require".into());
            }
            match keyword(&key, &value, at)? {
                Keyword::Password => password = Some(value),
                Keyword::Setting if key == "dbname" => dbname = Some(value),
                Keyword::Setting => params.push((key, value)),
            }
        }
    }
    let uri = Uri {
        scheme,
        user,
        hosts,
        dbname,
        params,
    };
    Ok((uri, password))
}

/// `host[:port],...` up to the path or query; returns the rest.
fn hosts(mut rest: &str) -> Result<(Vec<Host>, &str), ConnInfoError> {
    let mut hosts = Vec::new();
    loop {
        let (name, ipv6);
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner
                .find(']')
                .ok_or(ConnInfoError::BadUrl("an IPv6 address lacks its `]`"))?;
            let address = &inner[..end];
            if address.is_empty()
                || !address
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return Err(ConnInfoError::BadUrl("not an IPv6 address in `[...]`"));
            }
            (name, ipv6) = (address.to_string(), true);
            rest = &inner[end + 1..];
            if !rest.is_empty() && !rest.starts_with([':', '/', '?', ',']) {
                return Err(ConnInfoError::BadUrl(
                    "unexpected text after an IPv6 address",
                ));
            }
        } else {
            let end = rest.find([':', '/', '?', ',']).unwrap_or(rest.len());
            (name, ipv6) = (decode(&rest[..end])?, false);
            if name.contains('@') {
                return Err(ConnInfoError::BadUrl(
                    "a host holds `@` (write `@` in a password as %40)",
                ));
            }
            rest = &rest[end..];
        }
        let mut port = None;
        if let Some(after) = rest.strip_prefix(':') {
            let end = after.find(['/', '?', ',']).unwrap_or(after.len());
            let text = decode(&after[..end])?;
            if !text.chars().all(|c| c.is_ascii_digit()) {
                return Err(ConnInfoError::BadUrl("a port is not a number"));
            }
            port = Some(text);
            rest = &after[end..];
        }
        hosts.push(Host { name, ipv6, port });
        match rest.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok((hosts, rest)),
        }
    }
}

/// Percent-decoding as libpq does it (`+` is a plus sign); `%00` and
/// anything that is not UTF-8 are refused.
fn decode(text: &str) -> Result<String, ConnInfoError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(ConnInfoError::BadUrl("invalid percent-encoding"))?;
            if hex == 0 {
                return Err(ConnInfoError::BadUrl("%00 is not allowed"));
            }
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ConnInfoError::BadUrl("percent-encoding that is not UTF-8"))
}

/// Everything but unreserved characters percent-encoded: libpq decodes
/// every part it reads, so this means exactly what was parsed.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Uri {
    /// The URL with `***` where its password was.
    pub fn to_string_masked(&self) -> String {
        self.write(true)
    }

    fn write(&self, masked: bool) -> String {
        let mut out = format!("{}://", self.scheme);
        if let Some(user) = &self.user {
            out.push_str(&encode(user));
            if masked {
                out.push_str(":***");
            }
            out.push('@');
        }
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                let name = if h.ipv6 {
                    format!("[{}]", h.name)
                } else {
                    encode(&h.name)
                };
                match &h.port {
                    Some(port) => format!("{name}:{}", encode(port)),
                    None => name,
                }
            })
            .collect();
        out.push_str(&hosts.join(","));
        if let Some(name) = &self.dbname {
            out.push('/');
            out.push_str(&encode(name));
        }
        let mut params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        if masked && self.user.is_none() {
            params.push("password=***".to_string());
        }
        if !params.is_empty() {
            out.push('?');
            out.push_str(&params.join("&"));
        }
        out
    }
}

/// The URL without its password, as the client gets it.
impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.write(false))
    }
}
