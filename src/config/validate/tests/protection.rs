//! Encryption settings: recipients from a list, a string (the
//! environment) or a file, each problem named by its key.

use super::*;
use crate::config::raw::Words;

fn encrypted(encrypt_to: Option<Words>, file: Option<&str>) -> RawJob {
    RawJob {
        encrypt_to,
        recipients_file: file.map(PathBuf::from),
        ..raw_job()
    }
}

#[test]
fn recipients_come_from_a_list_a_string_or_a_file() {
    let shown = |job| {
        accepted(one_job(job)).jobs[0]
            .encrypt_to
            .as_ref()
            .map(|r| r.shown())
    };
    assert_eq!(shown(raw_job()), None);
    let list = Words::Many(vec![RECIPIENT.into()]);
    assert_eq!(
        shown(encrypted(Some(list), None)),
        Some(vec![RECIPIENT.into()])
    );
    let env = Words::One(format!(" {RECIPIENT} , {RECIPIENT}"));
    assert_eq!(
        shown(encrypted(Some(env), None)),
        Some(vec![RECIPIENT.into()])
    );
    let file = Some("/etc/keepsake/recipients.txt");
    assert_eq!(shown(encrypted(None, file)), Some(vec![RECIPIENT.into()]));
}

#[test]
fn bad_recipients_are_named_by_their_key() {
    let not_a_key = Words::Many(vec!["age1nope".into()]);
    assert_eq!(
        problems(one_job(encrypted(Some(not_a_key), None))),
        want(&[("jobs.app.encrypt_to", Invalid)])
    );
    let empty = Words::One(String::new());
    assert_eq!(
        problems(one_job(encrypted(Some(empty), None))),
        want(&[("jobs.app.encrypt_to", Invalid)])
    );
    let unreadable = Some("/etc/keepsake/missing.txt");
    assert_eq!(
        problems(one_job(encrypted(None, unreadable))),
        want(&[("jobs.app.recipients_file", Invalid)])
    );
}

#[test]
fn an_encrypted_job_cannot_restore_its_own_backups() {
    let job = RawJob {
        verify_restore_into: secret("postgres://db/scratch"),
        ..encrypted(Some(Words::Many(vec![RECIPIENT.into()])), None)
    };
    assert_eq!(
        problems(one_job(job)),
        want(&[("jobs.app.verify_restore_into", Invalid)])
    );
}
