//! Restoring into a server older than the pg_dump that wrote the dump
//! (a 16 server backed up with pg_dump 18 because no pg_dump 16 was
//! installed). pg_dump 17 and newer start every dump with
//! `SET transaction_timeout = 0;`, a setting older servers do not have:
//! psql would stop at that line. In such a plain dump keepsake turns that
//! one line of the header (the comments and settings before the first
//! statement) into a comment; pg_restore sends it on its own connection,
//! so an archive is refused before the target is touched, naming the fix.

use bytes::Bytes;

use crate::pg::tools::PgVersion;

/// The first major whose servers know `transaction_timeout`.
const TIMEOUT_SINCE: u32 = 1700;

/// The header line older servers refuse.
const TIMEOUT_LINE: &[u8] = b"SET transaction_timeout = 0;\n";

/// How far into a plain dump its header lines go (the SETs come right
/// after the few comment lines at the top).
const HEADER: usize = 4096;

/// Whether a plain dump read by psql of `client` (as new as the pg_dump
/// that wrote it) may carry the setting a server of `target` lacks.
pub fn header_needs_filter(client: PgVersion, target: PgVersion) -> bool {
    client.major() >= TIMEOUT_SINCE && target.major() < TIMEOUT_SINCE
}

/// Why an archive read by `pg_restore` of `client` cannot go into a server
/// of `target`, if it cannot.
pub fn archive_problem(client: PgVersion, target: PgVersion) -> Option<String> {
    header_needs_filter(client, target).then(|| {
        format!(
            "this archive needs pg_restore {client} (it was written by a pg_dump that new), which \
             sets transaction_timeout, a setting PostgreSQL {target} does not have; restore it \
             into PostgreSQL 17 or newer, and back this server up with the pg_dump of its own \
             major (install the PostgreSQL {target} client programs: keepsake then uses it)"
        )
    })
}

/// Whether `line` belongs to a plain dump's header: comments, blank
/// lines, psql's `\restrict`, and the settings before the first object.
fn header_line(line: &[u8]) -> bool {
    line.is_empty()
        || line.starts_with(b"--")
        || line.starts_with(b"\\restrict ")
        || line.starts_with(b"SET ")
        || line.starts_with(b"SELECT pg_catalog.set_config(")
}

/// The first chunk of a plain dump with the `transaction_timeout` line of
/// its header turned into a comment. Only the header is searched (up to
/// the first line that is not a comment or a setting, within the first
/// 4 KiB; the stream's first chunk is far larger): a line of data or of a
/// function body is never touched. Other chunks pass unchanged.
pub fn plain_header(first: Bytes) -> Bytes {
    let mut start = 0;
    let mut found = None;
    while start < first.len().min(HEADER) {
        let end = first[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(first.len(), |i| start + i);
        let line = &first[start..end];
        if line == &TIMEOUT_LINE[..TIMEOUT_LINE.len() - 1] {
            found = Some(start);
            break;
        }
        if !header_line(line) {
            break;
        }
        start = end + 1;
    }
    let Some(at) = found else {
        return first;
    };
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
        // The same line as data, after the header, stays data.
        let data = Bytes::from_static(
            b"--\nSET lock_timeout = 0;\n\nCOPY public.migrations (sql) FROM stdin;\nSET transaction_timeout = 0;\n\\.\n",
        );
        assert_eq!(plain_header(data.clone()), data);
    }

    #[test]
    fn only_dumps_from_pg_dump_17_up_into_older_servers_are_filtered() {
        let v = |major: u32| PgVersion(major * 10_000);
        assert!(header_needs_filter(v(18), v(16)));
        assert!(!header_needs_filter(v(15), v(15)));
        assert!(!header_needs_filter(v(16), v(14)));
        assert!(!header_needs_filter(v(18), v(17)));
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
