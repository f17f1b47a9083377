//! The environment a PostgreSQL client gets: an allowlist of keepsake's
//! own, so S3 keys, connection strings and other secrets stay behind.

use std::ffi::OsString;

/// Variables a client inherits from keepsake: what any program needs
/// (search path, home for `~/.pgpass` and `~/.postgresql/`, locale, time
/// zone, temporary directory, user), Kerberos and OpenSSL locations for
/// GSSAPI and `sslrootcert=system`, and libpq's own variables (the list in
/// libpq's documentation, "Environment Variables", PostgreSQL 18).
///
/// `PGPASSWORD` is libpq's own and people rely on it, so an inherited one
/// passes; a password from the connection string or the job's `password`
/// replaces it (see [`crate::pg::tools::command`]).
///
/// Everything else stays behind: S3 keys, `AWS_*`, `KEEPSAKE_*`,
/// `POSTGRES_CONNECTION_STRING`, and variables that would change how a
/// client behaves under keepsake (`PG_COLOR` colours its logged stderr,
/// `PGOAUTHDEBUG` may print tokens, `POSIXLY_CORRECT` changes how pg_dump
/// reads its arguments, `LD_*` what it loads).
const INHERITED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "KRB5CCNAME",
    "KRB5_CONFIG",
    "KRB5_CLIENT_KTNAME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGREQUIREAUTH",
    "PGCHANNELBINDING",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSYSCONFDIR",
    "PGLOCALEDIR",
    "PGOPTIONS",
    "PGAPPNAME",
    "PGSSLMODE",
    "PGSSLNEGOTIATION",
    "PGSSLCOMPRESSION",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLCERTMODE",
    "PGSSLROOTCERT",
    "PGSSLCRL",
    "PGSSLCRLDIR",
    "PGSSLSNI",
    "PGREQUIREPEER",
    "PGSSLMINPROTOCOLVERSION",
    "PGSSLMAXPROTOCOLVERSION",
    "PGMINPROTOCOLVERSION",
    "PGMAXPROTOCOLVERSION",
    "PGGSSENCMODE",
    "PGKRBSRVNAME",
    "PGGSSLIB",
    "PGGSSDELEGATION",
    "PGCONNECT_TIMEOUT",
    "PGCLIENTENCODING",
    "PGTARGETSESSIONATTRS",
    "PGLOADBALANCEHOSTS",
    "PGDATESTYLE",
    "PGTZ",
    "PGGEQO",
];

/// How long a client waits to connect unless `PGCONNECT_TIMEOUT` says.
const CONNECT_TIMEOUT_SECONDS: &str = "15";

/// The environment of a client, from keepsake's own (`parent`): only the
/// [`INHERITED`] variables and `LC_*`, plus a connect timeout so that an
/// unreachable server fails instead of hanging.
pub fn child_env(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(name, _)| {
            name.to_str()
                .is_some_and(|n| INHERITED.contains(&n) || n.starts_with("LC_"))
        })
        .collect();
    if !env.iter().any(|(name, _)| name == "PGCONNECT_TIMEOUT") {
        env.push(("PGCONNECT_TIMEOUT".into(), CONNECT_TIMEOUT_SECONDS.into()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn children_inherit_only_what_a_client_needs() {
        use std::os::unix::ffi::OsStringExt;
        let mut parent = vars(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/var/lib/keepsake"),
            ("LC_ALL", "C.UTF-8"),
            ("LANG", "C.UTF-8"),
            ("PGHOST", "db"),
            ("PGSSLMODE", "verify-full"),
            ("PGPASSWORD", "inherited"),
            ("PGPASSFILE", "/run/secrets/pgpass"),
            ("S3_SECRET_KEY", "s3-secret"),
            ("S3_ACCESS_KEY", "s3-key"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
            ("AWS_SESSION_TOKEN", "aws-token"),
            ("POSTGRES_CONNECTION_STRING", "postgres://u:pw@db/shop"),
            ("POSTGRES_PASSWORD", "pw"),
            ("KEEPSAKE_STORAGE__MAIN__SECRET_KEY", "k"),
            ("PG_COLOR", "always"),
            ("POSIXLY_CORRECT", "1"),
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("PGHOST_EXTRA", "x"),
            ("pghost", "x"),
        ]);
        parent.push((OsString::from_vec(b"PG\xffHOST".to_vec()), "x".into()));
        let want = vars(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/var/lib/keepsake"),
            ("LC_ALL", "C.UTF-8"),
            ("LANG", "C.UTF-8"),
            ("PGHOST", "db"),
            ("PGSSLMODE", "verify-full"),
            ("PGPASSWORD", "inherited"),
            ("PGPASSFILE", "/run/secrets/pgpass"),
            ("PGCONNECT_TIMEOUT", "15"),
        ]);
        assert_eq!(child_env(parent), want);
    }

    #[test]
    fn an_inherited_connect_timeout_is_kept() {
        let env = child_env(vars(&[("PGCONNECT_TIMEOUT", "60")]));
        assert_eq!(env, vars(&[("PGCONNECT_TIMEOUT", "60")]));
    }
}
