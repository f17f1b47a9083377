//! The transaction a plain dump is restored in. keepsake, not psql, opens
//! and commits it: psql runs without `--single-transaction` (which commits
//! whatever it has read when its input ends), keepsake sends `BEGIN` first
//! and `COMMIT` only after the whole object proved sound. If keepsake dies
//! before that, psql sees the end of its input with the transaction open,
//! exits, and the server rolls everything back.
//!
//! A dump could still commit on its own: pg_dump wraps large objects in
//! `BEGIN;`/`COMMIT;` in plain dumps. A deferred constraint trigger on a
//! temporary table makes every commit fail unless keepsake set
//! `keepsake.restore_complete` just before its own `COMMIT`, so such a dump
//! is rolled back and refused instead of committed by halves.

/// The message the guard raises; found in psql's stderr, it explains the
/// failure.
pub const EARLY_COMMIT: &str = "keepsake: the dump tried to commit before its end";

/// What keepsake sends before the dump: the transaction, its guard and, for
/// `--clean`, the statements that drop the target's objects.
pub fn begin(clean: bool, role: Option<&str>) -> String {
    let mut sql = format!(
        "\\set ON_ERROR_STOP 1\n\
         BEGIN;\n\
         CREATE FUNCTION pg_temp.keepsake_guard() RETURNS trigger LANGUAGE plpgsql AS $keepsake$\n\
         BEGIN\n\
           IF current_setting('keepsake.restore_complete', true) IS DISTINCT FROM 'yes' THEN\n\
             RAISE EXCEPTION '{EARLY_COMMIT}';\n\
           END IF;\n\
           RETURN NULL;\n\
         END $keepsake$;\n\
         CREATE TEMPORARY TABLE keepsake_guard (armed boolean) ON COMMIT DROP;\n\
         CREATE CONSTRAINT TRIGGER keepsake_guard AFTER INSERT ON pg_temp.keepsake_guard \
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE PROCEDURE pg_temp.keepsake_guard();\n\
         INSERT INTO pg_temp.keepsake_guard VALUES (true);\n"
    );
    if clean {
        sql.push_str(&crate::pg::database::clean_sql());
    }
    // After the guard and the cleaning (done as the connecting user): the
    // dump's objects are created as `role`.
    if let Some(role) = role {
        sql.push_str(&format!("SET ROLE {};\n", quote_ident(role)));
    }
    sql
}

/// `name` as an SQL identifier, quoted.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What keepsake sends after the dump, once it proved whole and sound. The
/// newline first ends a last line the dump may have left open.
pub const COMMIT: &str = "\nSET LOCAL keepsake.restore_complete = 'yes';\nCOMMIT;\n";

/// A line psql echoes once it has run every statement before it: unique
/// to this restore, so no dump can print it.
pub fn marker() -> String {
    format!(
        "keepsake-restore-sync-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    )
}

/// What makes psql print `marker` once it has run everything before it.
pub fn sync(marker: &str) -> String {
    format!("\n\\echo {marker}\n")
}

/// Reads psql's output to its end (a full pipe would stall psql); the
/// receiver learns when `marker` went by, or fails if it never does.
pub fn watch_for(
    stdout: impl tokio::io::AsyncRead + Send + Unpin + 'static,
    marker: String,
) -> tokio::sync::oneshot::Receiver<()> {
    use tokio::io::AsyncBufReadExt;
    let (seen, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut seen = Some(seen);
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line == marker
                && let Some(tx) = seen.take()
            {
                let _ = tx.send(());
            }
        }
    });
    rx
}

/// Whether psql's last lines say the guard stopped an early commit.
pub fn committed_early(stderr: &[String]) -> bool {
    stderr.iter().any(|line| line.contains(EARLY_COMMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transaction_opens_before_the_clean_statements() {
        let sql = begin(true, None);
        let begin_at = sql.find("BEGIN;").unwrap();
        let drop_at = sql.find("DROP SCHEMA").unwrap();
        assert!(begin_at < drop_at);
        assert!(sql.starts_with("\\set ON_ERROR_STOP 1\n"));
        assert!(!begin(false, None).contains("DROP SCHEMA"));
    }

    #[test]
    fn only_the_final_statements_mark_the_restore_complete() {
        assert!(!begin(true, None).contains("= 'yes'"));
        assert!(COMMIT.contains("keepsake.restore_complete = 'yes'"));
        assert!(COMMIT.trim_end().ends_with("COMMIT;"));
    }

    #[test]
    fn a_role_is_set_after_the_guard_and_the_cleaning_quoted() {
        let sql = begin(true, Some("ops\"team"));
        let role = sql.find("SET ROLE \"ops\"\"team\";").expect("SET ROLE");
        assert!(sql.find("keepsake_guard VALUES").unwrap() < role);
        assert!(sql.find("DROP SCHEMA").unwrap() < role);
    }
}
