//! Client-side encryption with age: a backup's compressed stream is sealed
//! to public keys (recipients) on its way to the storages, and opened with
//! a private key (an identity) on its way back. The agent needs only the
//! recipients, so a stolen configuration cannot read a single backup.
//!
//! - [`Recipients`]: parsed from `encrypt_to`, a recipients file or
//!   `AGE_RECIPIENTS`; shown as the `age1...` strings they came from;
//! - [`Sealing`]: the pipeline stage between compressor and chunks;
//! - [`Identities`]: an identity file (`age-keygen` output) read for
//!   `restore`/`verify --identity`; never shown, only counted.

use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use age::x25519;
use serde::{Serialize, Serializer};

/// Appended to the key of an encrypted backup, as the `age` CLI expects.
pub const EXTENSION: &str = "age";

/// The public keys a job's backups are encrypted to.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipients(Vec<x25519::Recipient>);

impl Recipients {
    /// Parses recipients given one per item, or several per item separated
    /// by commas or white space; `#` starts a comment (as in a recipients
    /// file). An error names the offending entry (public keys are not
    /// secrets) and says which keys are accepted.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Recipients, String> {
        let mut keys = Vec::new();
        for item in items {
            for line in item.lines() {
                let line = line.split('#').next().unwrap_or_default();
                for word in line.split(|c: char| c == ',' || c.is_whitespace()) {
                    if word.is_empty() {
                        continue;
                    }
                    let key = x25519::Recipient::from_str(word).map_err(|_| {
                        format!(
                            "{word:?} is not an age recipient; keepsake takes X25519 public \
                             keys (\"age1...\", from age-keygen)"
                        )
                    })?;
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
        }
        if keys.is_empty() {
            return Err("no recipient given: nobody could read these backups".into());
        }
        Ok(Recipients(keys))
    }

    /// The `age1...` strings, in the order given.
    pub fn shown(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.shown()).finish()
    }
}

impl Serialize for Recipients {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.shown())
    }
}

/// The encryption stage: age's streaming format (64 KiB chunks, each
/// authenticated, the last one marked), or the bytes as they are.
pub enum Sealing<W: Write> {
    Clear(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> Sealing<W> {
    /// Seals to `recipients`, if any; writes age's header at once.
    pub fn new(recipients: Option<&Recipients>, inner: W) -> io::Result<Self> {
        let Some(recipients) = recipients else {
            return Ok(Sealing::Clear(inner));
        };
        let keys = recipients.0.iter().map(|r| r as &dyn age::Recipient);
        let encryptor = age::Encryptor::with_recipients(keys).map_err(io::Error::other)?;
        Ok(Sealing::Age(encryptor.wrap_output(inner)?))
    }

    /// Writes the final chunk (without it, age refuses the stream as
    /// truncated) and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Sealing::Clear(w) => Ok(w),
            Sealing::Age(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Sealing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sealing::Clear(w) => w.write(buf),
            Sealing::Age(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sealing::Clear(w) => w.flush(),
            Sealing::Age(w) => w.flush(),
        }
    }
}

/// Private keys that open backups. Debug shows only how many.
#[derive(Clone)]
pub struct Identities(Arc<Vec<x25519::Identity>>);

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the identity file {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error(
        "{path}, line {line}: not an age identity; keepsake takes X25519 secret keys \
         (\"AGE-SECRET-KEY-1...\", from age-keygen)"
    )]
    Invalid { path: String, line: usize },
    #[error("{path} holds no identity")]
    Empty { path: String },
}

impl Identities {
    /// Reads an identity file: one `AGE-SECRET-KEY-1...` per line, blank
    /// lines and `#` comments (age-keygen writes both) skipped.
    pub fn load(path: &Path) -> Result<Identities, IdentityError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| IdentityError::Read {
            path: shown.clone(),
            source,
        })?;
        Identities::parse(&text, &shown)
    }

    /// Parses the text of an identity file named `path` (for errors).
    pub fn parse(text: &str, path: &str) -> Result<Identities, IdentityError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = x25519::Identity::from_str(line).map_err(|_| IdentityError::Invalid {
                path: path.to_string(),
                line: n + 1,
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(IdentityError::Empty { path: path.into() });
        }
        Ok(Identities(Arc::new(keys)))
    }

    /// Whether one of these keys opens what is sealed to `recipients`
    /// (their `age1...` strings, as a manifest records them).
    pub fn opens(&self, recipients: &[String]) -> bool {
        self.0
            .iter()
            .any(|k| recipients.contains(&k.to_public().to_string()))
    }

    /// Opens an age stream; fails on a header that is not age's or that
    /// none of these keys opens. The reader then fails on any chunk that
    /// was altered, and on a stream cut short.
    pub fn open<R: Read>(&self, input: R) -> io::Result<age::stream::StreamReader<R>> {
        let decryptor = age::Decryptor::new(input).map_err(opening_error)?;
        let keys = self.0.iter().map(|k| k as &dyn age::Identity);
        decryptor.decrypt(keys).map_err(opening_error)
    }
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} keys)", self.0.len())
    }
}

fn opening_error(e: age::DecryptError) -> io::Error {
    match e {
        age::DecryptError::Io(e) => e,
        age::DecryptError::NoMatchingKeys => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "none of the given identities opens this backup",
        ),
        other => io::Error::new(io::ErrorKind::InvalidData, format!("age: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_pair() -> (x25519::Identity, String) {
        let identity = x25519::Identity::generate();
        let public = identity.to_public().to_string();
        (identity, public)
    }

    fn seal(recipients: &Recipients, data: &[u8]) -> Vec<u8> {
        let mut sealing = Sealing::new(Some(recipients), Vec::new()).unwrap();
        for chunk in data.chunks(10_000) {
            sealing.write_all(chunk).unwrap();
        }
        sealing.finish().unwrap()
    }

    fn identities_of(key: &x25519::Identity) -> Identities {
        use secrecy::ExposeSecret;
        Identities::parse(key.to_string().expose_secret(), "test").unwrap()
    }

    #[test]
    fn what_is_sealed_to_a_recipient_opens_with_its_identity_only() {
        let (key, public) = key_pair();
        let (other, _) = key_pair();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
        let sealed = seal(&Recipients::parse([public.as_str()]).unwrap(), &data);
        assert_ne!(&sealed[..data.len().min(sealed.len())], &data[..]);
        let mut opened = Vec::new();
        identities_of(&key)
            .open(&sealed[..])
            .unwrap()
            .read_to_end(&mut opened)
            .unwrap();
        assert_eq!(opened, data);
        let refused = identities_of(&other).open(&sealed[..]).err().unwrap();
        assert_eq!(refused.kind(), io::ErrorKind::PermissionDenied);
        assert!(identities_of(&key).opens(std::slice::from_ref(&public)));
        assert!(!identities_of(&other).opens(&[public]));
    }

    #[test]
    fn a_cut_or_altered_stream_fails_to_open() {
        let (key, public) = key_pair();
        let data = vec![42u8; 300_000];
        let sealed = seal(&Recipients::parse([public.as_str()]).unwrap(), &data);
        let read = |bytes: &[u8]| -> io::Result<Vec<u8>> {
            let mut out = Vec::new();
            identities_of(&key).open(bytes)?.read_to_end(&mut out)?;
            Ok(out)
        };
        // Cut at a chunk boundary: every chunk left is sound, the end is
        // missing. Chunks are 64 KiB of data plus a 16-byte tag.
        let chunk = 65_536 + 16;
        let payload = sealed.len() - (data.len() / 65_536) * chunk - (data.len() % 65_536 + 16);
        let cut = payload + 2 * chunk;
        assert!(read(&sealed[..cut]).is_err());
        let mut altered = sealed.clone();
        let middle = altered.len() / 2;
        altered[middle] ^= 1;
        assert!(read(&altered).is_err());
        assert_eq!(read(&sealed).unwrap(), data);
    }

    #[test]
    fn recipients_parse_lists_files_and_say_what_is_wrong() {
        let (_, a) = key_pair();
        let (_, b) = key_pair();
        let file = format!("# backups\n{a}\n\n{b} # ops team\n");
        let parsed = Recipients::parse([file.as_str()]).unwrap();
        assert_eq!(parsed.shown(), [a.clone(), b.clone()]);
        let env = format!("{a}, {b},{a}");
        assert_eq!(Recipients::parse([env.as_str()]).unwrap().shown(), [a, b]);
        let err = Recipients::parse(["ssh-ed25519"]).unwrap_err();
        assert!(
            err.contains("\"ssh-ed25519\"") && err.contains("age1"),
            "{err}"
        );
        assert!(
            Recipients::parse(["# nobody"])
                .unwrap_err()
                .contains("no recipient")
        );
    }

    #[test]
    fn identity_files_are_parsed_and_never_shown() {
        use secrecy::ExposeSecret;
        let (key, _) = key_pair();
        let secret = key.to_string().expose_secret().to_string();
        let file = format!("# created: today\n# public key: age1...\n{secret}\n");
        let ids = Identities::parse(&file, "key.txt").unwrap();
        assert_eq!(format!("{ids:?}"), "Identities(1 keys)");
        let err = Identities::parse("# c\nAGE-SECRET-KEY-1NOPE\n", "key.txt")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("key.txt, line 2"), "{err}");
        assert!(!err.contains("NOPE"), "{err}");
        assert!(matches!(
            Identities::parse("# only comments\n", "k"),
            Err(IdentityError::Empty { .. })
        ));
    }
}
