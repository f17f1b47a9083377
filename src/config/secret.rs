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
}
