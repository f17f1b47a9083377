//! A job's age recipients: `encrypt_to` and `recipients_file` (env
//! `AGE_RECIPIENTS`, `AGE_RECIPIENTS_FILE`), together.

use std::path::Path;

use super::Checker;
use crate::config::error::ErrorKind;
use crate::config::raw::Words;
use crate::encryption::Recipients;

/// The recipients of the job at `section`; None when it sets neither key
/// (or a problem was reported).
pub(super) fn recipients(
    c: &mut Checker,
    section: &str,
    encrypt_to: Option<&Words>,
    file: Option<&Path>,
) -> Option<Recipients> {
    let mut given = Vec::new();
    let mut key = format!("{section}.encrypt_to");
    if let Some(words) = encrypt_to {
        given.extend(words.items());
    }
    if let Some(path) = file {
        key = format!("{section}.recipients_file");
        match (c.ctx.read_file)(path) {
            Ok(text) => given.push(text),
            Err(e) => {
                c.err(
                    ErrorKind::Invalid,
                    &key,
                    format!("cannot read {}: {e}", path.display()),
                );
                return None;
            }
        }
    }
    if encrypt_to.is_none() && file.is_none() {
        return None;
    }
    match Recipients::parse(given.iter().map(String::as_str)) {
        Ok(recipients) => Some(recipients),
        Err(problem) => {
            c.err(ErrorKind::Invalid, &key, problem);
            None
        }
    }
}
