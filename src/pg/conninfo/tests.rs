//! Table tests of [`super::parse`] and friends: every form libpq reads,
//! every refusal, and that a password never shows anywhere but in
//! `Connection::password`.

use secrecy::ExposeSecret;

use super::*;

fn pw(c: &Connection) -> Option<String> {
    c.password.as_ref().map(|p| p.expose_secret().to_string())
}

#[track_caller]
fn accepted(input: &str) -> (String, Option<String>) {
    let c = parse(input).unwrap_or_else(|e| panic!("{input:?} refused: {e}"));
    (c.conninfo.clone(), pw(&c))
}

#[test]
fn urls_are_rewritten_without_their_password() {
    // (input, conninfo, password)
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "postgres://app:s%40cret@db:5432/shop?sslmode=disable",
            "postgres://app@db:5432/shop?sslmode=disable",
            Some("s@cret"),
        ),
        ("postgres://app@db/shop", "postgres://app@db/shop", None),
        ("POSTGRES://u:pw@h/db", "postgres://u@h/db", Some("pw")),
        ("PostgreSQL://u:pw@h/db", "postgresql://u@h/db", Some("pw")),
        (
            "postgresql://db/shop?password=pw&sslmode=require",
            "postgresql://db/shop?sslmode=require",
            Some("pw"),
        ),
        (
            "postgresql://db/shop?password=pw",
            "postgresql://db/shop",
            Some("pw"),
        ),
        // The query's password wins, as in libpq.
        (
            "postgresql://u:first@h/d?password=second",
            "postgresql://u@h/d",
            Some("second"),
        ),
        (
            "postgresql://app:pw@h1:5432,h2:5433/shop?target_session_attrs=read-write",
            "postgresql://app@h1:5432,h2:5433/shop?target_session_attrs=read-write",
            Some("pw"),
        ),
        (
            "postgresql://[::1]:5432,[fe80::1]/db",
            "postgresql://[::1]:5432,[fe80::1]/db",
            None,
        ),
        (
            "postgresql://%2Fvar%2Frun%2Fpostgresql/db",
            "postgresql://%2Fvar%2Frun%2Fpostgresql/db",
            None,
        ),
        (
            "postgresql://a%20b:p+w@h/caf%C3%A9",
            "postgresql://a%20b@h/caf%C3%A9",
            Some("p+w"),
        ),
        ("postgresql:///shop", "postgresql:///shop", None),
        ("postgresql://", "postgresql://", None),
        ("postgresql://u:@h/d", "postgresql://u@h/d", Some("")),
        (
            "postgresql://h/d?ssl=true",
            "postgresql://h/d?sslmode=require",
            None,
        ),
        (
            "postgresql://h/path?dbname=other",
            "postgresql://h/other",
            None,
        ),
        (
            "postgresql://app@/shop?host=/tmp&port=5433",
            "postgresql://app@/shop?host=%2Ftmp&port=5433",
            None,
        ),
        ("postgresql://h/a#b", "postgresql://h/a%23b", None),
    ];
    for (input, conninfo, password) in cases {
        let (got, got_pw) = accepted(input);
        assert_eq!(got, *conninfo, "{input}");
        assert_eq!(got_pw.as_deref(), *password, "{input}");
        // What keepsake writes, it reads back the same.
        assert_eq!(accepted(&got), (got.clone(), None), "{input}");
    }
}

#[test]
fn keyword_strings_are_rewritten_without_their_password() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            r"host=db password='it\'s secret' dbname = shop",
            "host='db' dbname='shop'",
            Some("it's secret"),
        ),
        ("  password  =  'a b'  host=h", "host='h'", Some("a b")),
        (r"password=a\ b host=h", "host='h'", Some("a b")),
        (r"host='C:\\x' port=5432", r"host='C:\\x' port='5432'", None),
        ("dbname=a dbname=b", "dbname='a' dbname='b'", None),
        ("password=", "", Some("")),
        (
            "sslmode=verify-full sslrootcert=system",
            "sslmode='verify-full' sslrootcert='system'",
            None,
        ),
    ];
    for (input, conninfo, password) in cases {
        let (got, got_pw) = accepted(input);
        assert_eq!(got, *conninfo, "{input}");
        assert_eq!(got_pw.as_deref(), *password, "{input}");
    }
}

#[test]
fn a_bare_name_must_be_a_plain_database_name() {
    assert_eq!(accepted("shop").0, "dbname='shop'");
    assert_eq!(accepted(" shop_2024-eu.v2 ").0, "dbname='shop_2024-eu.v2'");
    assert_eq!(
        parse("user:pw@host/db").unwrap_err(),
        ConnInfoError::MissingScheme
    );
    assert_eq!(
        parse("host:5432/db").unwrap_err(),
        ConnInfoError::NotUnderstood
    );
    assert_eq!(parse("my db").unwrap_err(), ConnInfoError::NotUnderstood);
}

#[test]
fn what_keepsake_does_not_understand_is_refused() {
    use ConnInfoError::*;
    let cases: &[(&str, ConnInfoError)] = &[
        ("  ", Empty),
        ("host='db password=x", Unterminated),
        (r"host='db\", Unterminated),
        ("host=db port", MissingEquals(9)),
        ("password=a b", MissingEquals(12)),
        (
            "host=h PASSWORD=x",
            UnknownKeyword {
                at: 8,
                hint: Some("password"),
            },
        ),
        (
            "Host=h",
            UnknownKeyword {
                at: 1,
                hint: Some("host"),
            },
        ),
        ("password=a b=c", UnknownKeyword { at: 12, hint: None }),
        ("requiressl=1", UnknownKeyword { at: 1, hint: None }),
        ("host=h sslpassword=x", SecretKeyword("sslpassword")),
        (
            "oauth_client_secret=x",
            SecretKeyword("oauth_client_secret"),
        ),
        (
            "postgresql://h/d?scram_client_key=x",
            SecretKeyword("scram_client_key"),
        ),
        (
            "postgresql://h/d?sslmode=require&PASSWORD=x",
            UnknownKeyword {
                at: 34,
                hint: Some("password"),
            },
        ),
        (
            "postgresql://h/d?sslmode",
            BadUrl("a query parameter has no `=`"),
        ),
        ("dbname='postgresql://u:p@h/db'", Nested),
        ("dbname='host=h'", Nested),
        ("postgresql://h/?dbname=host%3Dx", Nested),
        ("postgresql://h/host=x", Nested),
        ("mysql://u:p@h/db", UnsupportedScheme),
        ("jdbc:postgresql://u:p@h/db", UnsupportedScheme),
        (
            "postgresql://u:p@ss@h/db",
            BadUrl("a host holds `@` (write `@` in a password as %40)"),
        ),
        (
            "postgresql://u:pa/ss@h/db",
            BadUrl("a port is not a number"),
        ),
        (
            "postgresql://[::1/db",
            BadUrl("an IPv6 address lacks its `]`"),
        ),
        (
            "postgresql://[]/db",
            BadUrl("not an IPv6 address in `[...]`"),
        ),
        (
            "postgresql://[::1]x/db",
            BadUrl("unexpected text after an IPv6 address"),
        ),
        ("postgresql://h/db%zz", BadUrl("invalid percent-encoding")),
        ("postgresql://h/db%00", BadUrl("%00 is not allowed")),
        (
            "postgresql://h/db%ff",
            BadUrl("percent-encoding that is not UTF-8"),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            parse(input).as_ref().map(|c| &c.conninfo),
            Err(want),
            "{input}"
        );
    }
}

#[test]
fn a_password_never_shows_outside_its_secret() {
    // (input, strings that are part of the password)
    let cases: &[(&str, &[&str])] = &[
        ("POSTGRES://u:Sekr3t@h/db", &["Sekr3t"]),
        ("PostgreSQL://u:Sekr3t@h/db?sslmode=require", &["Sekr3t"]),
        ("postgresql://u:Sekr%33t@h/db", &["Sekr3t", "Sekr%33t"]),
        (
            "postgresql://h/db?password=Sekr3t&sslmode=require",
            &["Sekr3t"],
        ),
        (
            "postgresql://u:Sekr3t@h1:1,h2:2/db?password=Other9",
            &["Sekr3t", "Other9"],
        ),
        ("postgresql://u:Sekr3t@h@x/db", &["Sekr3t"]),
        ("postgresql://u:Zq9x/Wv7k@h/db", &["Zq9x", "Wv7k"]),
        ("postgresql://u:Zq9x?Wv7k@h/db", &["Zq9x", "Wv7k"]),
        ("postgresql://u:Sekr3t@[::1/db", &["Sekr3t"]),
        (
            "postgresql://u:Sekr3t@h/db?PASSWORD=Other9",
            &["Sekr3t", "Other9"],
        ),
        ("user:Sekr3t@host/db", &["Sekr3t"]),
        ("mysql://u:Sekr3t@h/db", &["Sekr3t"]),
        ("jdbc:postgresql://u:Sekr3t@h/db", &["Sekr3t"]),
        ("host=h PASSWORD=Sekr3t", &["Sekr3t"]),
        ("host=h Password = 'Sekr3t'", &["Sekr3t"]),
        ("password=Zq9x Wv7k host=h", &["Zq9x", "Wv7k"]),
        ("password=Zq9x Wv7k=Qp4m", &["Zq9x", "Wv7k", "Qp4m"]),
        ("host='h password=Sekr3t", &["Sekr3t"]),
        ("host=h sslpassword=Sekr3t", &["Sekr3t"]),
        ("dbname='postgresql://u:Sekr3t@h/db'", &["Sekr3t"]),
        ("  password  =  'Sekr3t'  host=h", &["Sekr3t"]),
        (r"password='Sek\'r3t' host=h", &["Sek'r3t", "r3t"]),
    ];
    for (input, secrets) in cases {
        let shown = match parse(input) {
            Ok(c) => {
                assert!(c.password.is_some(), "{input}: no password found");
                vec![
                    c.conninfo.clone(),
                    c.display(),
                    format!("{c:?}"),
                    redact(input),
                ]
            }
            Err(e) => vec![e.to_string(), format!("{e:?}"), redact(input)],
        };
        for text in &shown {
            for secret in *secrets {
                assert!(!text.contains(secret), "{input}: {secret:?} in {text:?}");
            }
        }
    }
}

#[test]
fn database_names_are_read_and_replaced() {
    let url = accepted("postgres://u:p@h:5432/shop?sslmode=disable").0;
    assert_eq!(dbname(&url).as_deref(), Some("shop"));
    assert_eq!(
        with_dbname(&url, "postgres"),
        "postgres://u@h:5432/postgres?sslmode=disable"
    );
    let multi = accepted("postgresql://h1,h2:5433/").0;
    assert_eq!(dbname(&multi), None);
    assert_eq!(with_dbname(&multi, "a b"), "postgresql://h1,h2:5433/a%20b");
    assert_eq!(dbname(&with_dbname(&multi, "a b")).as_deref(), Some("a b"));
    let kw = accepted("host=h dbname=shop user=u").0;
    assert_eq!(dbname(&kw).as_deref(), Some("shop"));
    assert_eq!(
        with_dbname(&kw, "postgres"),
        "host='h' user='u' dbname='postgres'"
    );
    assert_eq!(dbname(&accepted("host=h").0), None);
    assert_eq!(
        dbname(&accepted("dbname=a dbname=b").0).as_deref(),
        Some("b")
    );
}

#[test]
fn redaction_hides_every_password_form() {
    let cases = [
        ("postgres://a:pw@h/d", "postgres://a:***@h/d"),
        ("POSTGRES://a:pw@h/d", "postgres://a:***@h/d"),
        ("postgres://h/d?password=pw", "postgres://h/d?password=***"),
        ("postgres://a@h/d?password=pw", "postgres://a:***@h/d"),
        ("host=h password=pw", "host='h' password=***"),
        ("password=pw", "password=***"),
        ("postgres://h/d", "postgres://h/d"),
        ("host=h PASSWORD=pw", "*** (unreadable connection string)"),
        ("host='h password=pw", "*** (unreadable connection string)"),
    ];
    for (input, want) in cases {
        assert_eq!(redact(input), want, "{input}");
    }
}
