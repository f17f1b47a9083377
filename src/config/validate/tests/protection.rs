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

fn cluster(databases: Option<Words>, exclude: Option<Words>) -> RawJob {
    RawJob {
        databases,
        exclude,
        ..raw_job()
    }
}

fn words(items: &[&str]) -> Option<Words> {
    Some(Words::Many(items.iter().map(|s| s.to_string()).collect()))
}

#[test]
fn databases_are_all_or_a_list_from_toml_or_the_environment() {
    use crate::config::model::{Databases, Globals};
    let job = |raw| accepted(one_job(raw)).jobs.remove(0);
    let all = job(cluster(
        Some(Words::One("all".into())),
        words(&["template*", "tmp_*"]),
    ));
    assert_eq!(all.databases, Databases::All);
    assert_eq!(all.exclude, ["template*", "tmp_*"]);
    let listed = job(cluster(Some(Words::One("shop, crm".into())), None));
    assert_eq!(
        listed.databases,
        Databases::Listed(vec!["shop".into(), "crm".into()])
    );
    assert!(listed.runs_as_units());
    let one = job(raw_job());
    assert_eq!(
        (one.databases.clone(), one.globals),
        (Databases::One, Globals::Off)
    );
    assert!(!one.runs_as_units());
    let globals = job(RawJob {
        globals: Some(true),
        ..raw_job()
    });
    assert_eq!(globals.globals, Globals::WithoutPasswords);
    assert!(globals.runs_as_units());
}

#[test]
fn database_lists_that_cannot_mean_anything_are_refused() {
    for (raw, key) in [
        (cluster(None, words(&["tmp_*"])), "jobs.app.exclude"),
        (
            cluster(words(&["shop"]), words(&["tmp_*"])),
            "jobs.app.exclude",
        ),
        (cluster(words(&["all", "shop"]), None), "jobs.app.databases"),
        (
            cluster(words(&["shop", "shop"]), None),
            "jobs.app.databases",
        ),
        (cluster(words(&[]), None), "jobs.app.databases"),
        (
            cluster(words(&[&"x".repeat(64)]), None),
            "jobs.app.databases",
        ),
        (
            RawJob {
                globals_with_passwords: Some(true),
                ..raw_job()
            },
            "jobs.app.globals_with_passwords",
        ),
    ] {
        assert_eq!(problems(one_job(raw)), want(&[(key, Invalid)]), "{key}");
    }
}
