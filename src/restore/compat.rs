//! Restoring into a server older than the pg_dump that wrote the dump
//! (a 16 server backed up with pg_dump 18 because no pg_dump 16 was
//! installed). pg_dump 17 and newer start every dump with
//! `SET transaction_timeout = 0;`, a setting older servers do not have:
//! psql would stop at that line. In a plain dump keepsake turns that one
//! line of the header into a comment; pg_restore sends it on its own
//! connection, so an archive is refused up front, naming the fix.

use bytes::Bytes;

use crate::pg::tools::PgVersion;

/// The first major whose servers know `transaction_timeout`.
const TIMEOUT_SINCE: u32 = 1700;

/// The header line older servers refuse.
const TIMEOUT_LINE: &[u8] = b"SET transaction_timeout = 0;\n";

/// How far into a plain dump its header lines go (the SETs come right
/// after the few comment lines at the top).
const HEADER: usize = 4096;

/// Whether a server of `target` lacks `transaction_timeout`.
pub fn lacks_transaction_timeout(target: PgVersion) -> bool {
    target.major() < TIMEOUT_SINCE
}

/// Why an archive read by `pg_restore` of `client` cannot go into a server
/// of `target`, if it cannot.
pub fn archive_problem(client: PgVersion, target: PgVersion) -> Option<String> {
    (client.major() >= TIMEOUT_SINCE && lacks_transaction_timeout(target)).then(|| {
        format!(
            "this archive needs pg_restore {client} (it was written by a pg_dump that new), which \
             sets transaction_timeout, a setting PostgreSQL {target} does not have; restore it \
             into PostgreSQL 17 or newer, and back this server up with the pg_dump of its own \
             major (install the PostgreSQL {target} client programs: keepsake then uses it)"
        )
    })
}

/// The first chunk of a plain dump with the `transaction_timeout` line of
/// its header turned into a comment; other chunks, and dumps without the
/// line, pass unchanged.
pub fn plain_header(first: Bytes) -> Bytes {
    let head = &first[..first.len().min(HEADER)];
    let Some(at) = head
        .windows(TIMEOUT_LINE.len())
        .position(|w| w == TIMEOUT_LINE)
    else {
        return first;
    };
    // Only a whole line of the header, never text inside data.
    if at > 0 && first[at - 1] != b'\n' {
        return first;
    }
    let mut out = Vec::with_capacity(first.len() + 3);
    out.extend_from_slice(&first[..at]);
    out.extend_from_slice(b"-- ");
    out.extend_from_slice(&first[at..]);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 16.4\n\
        -- Dumped by pg_dump version 18.1\n\nSET statement_timeout = 0;\nSET lock_timeout = 0;\n\
        SET transaction_timeout = 0;\nSET client_encoding = 'UTF8';\n";

    #[test]
    fn the_header_line_becomes_a_comment_and_nothing_else_changes() {
        let out = plain_header(Bytes::from(format!("{HEAD}CREATE TABLE t ();\n")));
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(
            text.contains("\n-- SET transaction_timeout = 0;\nSET client_encoding"),
            "{text}"
        );
        assert_eq!(text.len(), HEAD.len() + "CREATE TABLE t ();\n".len() + 3);
        let without = Bytes::from_static(b"--\nSET lock_timeout = 0;\nCREATE TABLE t ();\n");
        assert_eq!(plain_header(without.clone()), without);
        let inside = Bytes::from_static(b"INSERT 'xSET transaction_timeout = 0;\n");
        assert_eq!(plain_header(inside.clone()), inside);
    }

    #[test]
    fn archives_from_pg_dump_17_up_cannot_go_into_older_servers() {
        let v = |major: u32| PgVersion(major * 10_000);
        assert!(archive_problem(v(18), v(16)).is_some());
        assert!(archive_problem(v(17), v(14)).is_some());
        assert_eq!(archive_problem(v(18), v(17)), None);
        assert_eq!(archive_problem(v(16), v(16)), None);
        assert_eq!(archive_problem(v(15), v(14)), None);
        let text = archive_problem(v(18), v(16)).unwrap();
        assert!(text.contains("PostgreSQL 16 does not have"), "{text}");
    }
}
