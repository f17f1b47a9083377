//! Storage prefixes are names joined by '/', and an endpoint holds no
//! credentials.

use super::*;

fn local_with_prefix(prefix: &str) -> RawSections {
    let disk = RawStorage::Local(RawLocal {
        path: Some(PathBuf::from("/var/backups")),
        prefix: Some(prefix.to_string()),
    });
    sections(vec![("disk", disk)], vec![("app", raw_job())])
}

fn s3_with_prefix(prefix: &str) -> RawSections {
    with_s3(RawS3 {
        prefix: Some(prefix.to_string()),
        ..s3("backups")
    })
}

#[test]
fn slashes_at_either_end_are_trimmed_inside_they_separate_names() {
    for (prefix, normal) in [
        ("p", "p"),
        ("/p/", "p"),
        ("p//", "p"),
        ("//p", "p"),
        ("/", ""),
        ("a/b.c/..d/.e", "a/b.c/..d/.e"),
    ] {
        let config = accepted(s3_with_prefix(prefix));
        assert_eq!(s3_of(&config, "s3").prefix, normal, "{prefix:?}");
        let config = accepted(local_with_prefix(prefix));
        let StorageConfig::Local(local) = &config.storage["disk"] else {
            panic!()
        };
        assert_eq!(local.prefix, normal, "{prefix:?}");
    }
}

#[test]
fn empty_dot_and_dot_dot_segments_are_refused_naming_the_prefix() {
    for prefix in ["a//b", "./x", "x/../y", "..", ".", "/a/./", "a/b/.."] {
        assert_eq!(
            problems(s3_with_prefix(prefix)),
            want(&[("storage.s3.prefix", S3)]),
            "{prefix:?}"
        );
        let errors = validate_with(local_with_prefix(prefix), no_origin).unwrap_err();
        assert_eq!(errors.len(), 1, "{prefix:?}: {errors:#?}");
        assert_eq!(errors[0].key, "storage.disk.prefix");
        assert_eq!(errors[0].kind, Invalid);
        assert!(errors[0].message.contains("segment"), "{errors:#?}");
    }
}

#[test]
fn a_local_prefix_segment_is_a_file_name() {
    let long = "x".repeat(256);
    let errors = validate_with(local_with_prefix(&format!("ok/{long}")), no_origin).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].message.contains("256 bytes"), "{errors:#?}");
    assert!(problems(local_with_prefix(&"x".repeat(255))).is_empty());
    assert_eq!(
        problems(local_with_prefix("a\0b")),
        want(&[("storage.disk.prefix", Invalid)])
    );
    // S3 keys have no segment limit of their own.
    assert!(problems(s3_with_prefix(&long)).is_empty());
}

#[test]
fn credentials_in_the_endpoint_are_refused_without_being_shown() {
    for endpoint in [
        "https://AKIDINURL:SecretInUrl@s3.example.com",
        "http://AKIDINURL@minio:9000",
        "https://AKIDINURL:SecretInUrl@",
        "AKIDINURL:SecretInUrl@minio:9000",
    ] {
        let raw = with_s3(RawS3 {
            endpoint: Some(endpoint.into()),
            ..s3("backups")
        });
        let errors = validate_with(raw, no_origin).unwrap_err();
        assert_eq!(errors.len(), 1, "{endpoint}: {errors:#?}");
        assert_eq!(errors[0].key, "storage.s3.endpoint");
        let text = ConfigErrors(errors).to_string();
        assert!(
            !text.contains("AKIDINURL") && !text.contains("SecretInUrl"),
            "{text}"
        );
    }
    let raw = with_s3(RawS3 {
        endpoint: Some("https://AKIDINURL:SecretInUrl@s3.example.com".into()),
        ..s3("backups")
    });
    let text = ConfigErrors(validate_with(raw, no_origin).unwrap_err()).to_string();
    assert!(
        text.contains("access_key_id and secret_access_key"),
        "{text}"
    );
}
