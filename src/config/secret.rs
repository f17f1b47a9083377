//! How secrets serialise: as `***` wherever people may see them (`check`,
//! logs), and as their SHA-256 while a fingerprint is taken, so that a
//! changed password changes the fingerprint of every job that uses it
//! while no serialisation ever holds the secret itself.

use std::cell::Cell;

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// What a secret shows as.
pub const HIDDEN: &str = "***";

thread_local! {
    static FINGERPRINTING: Cell<bool> = const { Cell::new(false) };
}

/// The SHA-256 of `value`'s serialisation, secrets included (as digests).
pub fn fingerprint<T: Serialize + ?Sized>(value: &T) -> [u8; 32] {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            FINGERPRINTING.with(|f| f.set(false));
        }
    }
    FINGERPRINTING.with(|f| f.set(true));
    let _reset = Reset;
    let bytes = serde_json::to_vec(value).expect("the configuration always serialises");
    Sha256::digest(&bytes).into()
}

/// True while [`fingerprint`] serialises.
pub fn fingerprinting() -> bool {
    FINGERPRINTING.with(Cell::get)
}

/// What `secret` serialises as now.
pub fn shown(secret: &SecretString) -> String {
    if fingerprinting() {
        crate::pipeline::hex(&Sha256::digest(secret.expose_secret().as_bytes()))
    } else {
        HIDDEN.to_string()
    }
}

/// `serialize_with` for a secret.
pub fn serialize<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    shown(secret).serialize(s)
}

/// What a secret URL shows as: its scheme and host, the rest hidden
/// (`https://hc-ping.com/***`), so people can tell which service it is.
pub fn shown_url(url: &SecretString) -> String {
    if fingerprinting() {
        return shown(url);
    }
    match url::Url::parse(url.expose_secret()) {
        Ok(u) => match u.host_str() {
            Some(host) => match u.port() {
                Some(port) => format!("{}://{host}:{port}/{HIDDEN}", u.scheme()),
                None => format!("{}://{host}/{HIDDEN}", u.scheme()),
            },
            None => HIDDEN.to_string(),
        },
        Err(_) => HIDDEN.to_string(),
    }
}

/// `serialize_with` for an optional secret URL.
pub fn serialize_url_option<S: Serializer>(
    url: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => shown_url(url).serialize(s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Holder {
        #[serde(serialize_with = "serialize")]
        password: SecretString,
    }

    #[test]
    fn secrets_show_as_stars_and_fingerprint_by_digest() {
        let a = Holder {
            password: SecretString::from("hunter2"),
        };
        let b = Holder {
            password: SecretString::from("hunter3"),
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"password":"***"}"#);
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), fingerprint(&a));
        assert!(!fingerprinting(), "reset after a fingerprint");
    }

    #[test]
    fn urls_show_their_host_only() {
        let url = |s: &str| SecretString::from(s.to_string());
        let shown = shown_url(&url("https://user:pw@hc-ping.com/5f3a-token?x=1"));
        assert_eq!(shown, "https://hc-ping.com/***");
        let shown = shown_url(&url("http://127.0.0.1:8080/hook/token"));
        assert_eq!(shown, "http://127.0.0.1:8080/***");
        assert_eq!(shown_url(&url("not a url token")), HIDDEN);
    }
}
