//! A job's reach over its server: `databases` (a list, or `"all"` with
//! `exclude`) and `globals` (env `POSTGRES_DATABASES`,
//! `POSTGRES_DATABASES_EXCLUDE`, `BACKUP_GLOBALS`).

use super::Checker;
use crate::config::error::ErrorKind;
use crate::config::model::{Databases, Globals};
use crate::config::raw::Words;

/// The longest database name PostgreSQL takes, in bytes.
const NAME_MAX: usize = 63;

/// `databases` and `exclude` of the job at `section`.
pub(super) fn databases(
    c: &mut Checker,
    section: &str,
    databases: Option<&Words>,
    exclude: Option<&Words>,
) -> (Databases, Vec<String>) {
    let key = format!("{section}.databases");
    let exclude_key = format!("{section}.exclude");
    let exclude = exclude.map(Words::items).unwrap_or_default();
    let Some(databases) = databases else {
        if !exclude.is_empty() {
            c.err(
                ErrorKind::Invalid,
                &exclude_key,
                "exclude works with databases = \"all\"",
            );
        }
        return (Databases::One, Vec::new());
    };
    let names = databases.items();
    if names.iter().any(|n| n == "all") {
        if names.len() > 1 {
            c.err(
                ErrorKind::Invalid,
                &key,
                "\"all\" stands alone: databases = \"all\", or a list of names",
            );
        }
        if exclude.iter().any(String::is_empty) {
            c.err(ErrorKind::Invalid, &exclude_key, "an empty pattern");
        }
        return (Databases::All, exclude);
    }
    if !exclude.is_empty() {
        c.err(
            ErrorKind::Invalid,
            &exclude_key,
            "exclude works with databases = \"all\"; leave the names out of the list instead",
        );
    }
    if names.is_empty() {
        c.err(
            ErrorKind::Invalid,
            &key,
            "no database named; leave the key out to back up the connection's database",
        );
    }
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() || name.len() > NAME_MAX || name.contains('\0') {
            c.err(
                ErrorKind::Invalid,
                &key,
                format!("{name:?} is not a database name (1 to {NAME_MAX} bytes)"),
            );
        } else if names[..i].contains(name) {
            c.err(ErrorKind::Invalid, &key, format!("{name:?} is named twice"));
        }
    }
    (Databases::Listed(names), Vec::new())
}

/// `globals` and `globals_with_passwords` of the job at `section`.
pub(super) fn globals(
    c: &mut Checker,
    section: &str,
    globals: Option<bool>,
    with_passwords: Option<bool>,
) -> Globals {
    match (globals.unwrap_or(false), with_passwords.unwrap_or(false)) {
        (false, false) => Globals::Off,
        (true, false) => Globals::WithoutPasswords,
        (true, true) => Globals::WithPasswords,
        (false, true) => {
            c.err(
                ErrorKind::Invalid,
                &format!("{section}.globals_with_passwords"),
                "needs globals = true",
            );
            Globals::Off
        }
    }
}
