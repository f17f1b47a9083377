//! Restoring onto a server that lacks the dump's roles (issue: a restore
//! onto a new server failed on ownership): `--no-owner` and
//! `--no-privileges` leave them out of an archive, `--role` restores as a
//! given role, and a plain dump refuses the archive-only flags before it
//! touches anything. Source: the PostgreSQL 15 cluster; target: the 17
//! server, where the owner role does not exist.

mod common;

use common::*;

fn port17() -> String {
    std::env::var("KS_PG17_PORT").expect("KS_PG17_PORT: run the tests with scripts/test.sh")
}

fn url17(db: &str) -> String {
    format!("postgres://postgres@{}:{}/{db}", pg_host(), port17())
}

/// A database on the 15 cluster whose table belongs to (and is granted
/// to) a role of its own; its name and the role's.
fn owned_db() -> (String, String) {
    let db = unique("owned").replace('-', "_");
    let role = format!("{db}_owner");
    psql("postgres", &format!("CREATE ROLE {role} NOLOGIN"));
    psql("postgres", &format!("CREATE DATABASE {db}"));
    psql(
        &db,
        &format!(
            "CREATE TABLE orders (id int PRIMARY KEY, note text);
             INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 300) g;
             ALTER TABLE orders OWNER TO {role};
             GRANT SELECT ON orders TO {role};"
        ),
    );
    (db, role)
}

/// A role on the 17 server and a database there that it owns; their names.
fn owned_by_new_role(prefix: &str) -> (String, String) {
    let role = format!("{prefix}_restorer");
    let db = format!("{prefix}_owned");
    psql_at(
        &port17(),
        "postgres",
        &format!("CREATE ROLE {role} NOLOGIN"),
    );
    psql_at(
        &port17(),
        "postgres",
        &format!("CREATE DATABASE {db} OWNER {role}"),
    );
    (role, db)
}

fn restore(config: &std::path::Path, target: &str, flags: &[&str]) -> (i32, String) {
    let mut cmd = keepsake(None);
    cmd.arg("-c")
        .arg(config)
        .args([
            "restore", "--job", "shop", "--latest", "--create", "--to", target,
        ])
        .args(flags);
    let (code, _, stderr) = run(cmd);
    (code, stderr)
}

#[tokio::test]
async fn an_archive_restores_without_its_roles_and_as_a_chosen_role() {
    let (db, role) = owned_db();
    let bucket = bucket("roles").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        &toml_job(&db_url(&db), &bucket, "format = \"custom\""),
    );
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    let owner_of = |target: &str| {
        psql_at(
            &port17(),
            target,
            "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'",
        )
    };

    // As it is: the owner role does not exist there; nothing is restored.
    let plain_target = format!("{db}_as_is");
    let (code, stderr) = restore(&config, &url17(&plain_target), &[]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(&format!("role \"{role}\" does not exist")),
        "{stderr}"
    );
    assert_eq!(owner_of(&plain_target), "", "rolled back");

    // Without owners and privileges: the restoring user owns the table.
    let free = format!("{db}_free");
    let (code, stderr) = restore(&config, &url17(&free), &["--no-owner", "--no-privileges"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(owner_of(&free), "postgres");
    assert_eq!(
        psql_at(&port17(), &free, "SELECT count(*) FROM orders"),
        "300"
    );

    // As a chosen role, into a database it owns.
    let (restorer, owned) = owned_by_new_role(&format!("{db}_a"));
    let flags = ["--no-owner", "--no-privileges", "--role", restorer.as_str()];
    let (code, stderr) = restore(&config, &url17(&owned), &flags);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(owner_of(&owned), restorer);
}

#[tokio::test]
async fn a_plain_dump_refuses_the_archive_only_flags_and_takes_a_role() {
    let (db, _role) = owned_db();
    let bucket = bucket("rolesplain").await;
    let dir = tempfile::tempdir().unwrap();
    // Taken without owners: a plain dump restores as any role then.
    let job = "format = \"plain\"\npg_dump_args = [\"--no-owner\", \"--no-privileges\"]";
    let config = config_file(dir.path(), &toml_job(&db_url(&db), &bucket, job));
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config).arg("backup");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");

    let refused = format!("{db}_refused");
    let (code, stderr) = restore(&config, &url17(&refused), &["--no-owner"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("--no-owner works with archives"),
        "{stderr}"
    );
    let exists = format!("SELECT count(*) FROM pg_database WHERE datname = '{refused}'");
    assert_eq!(
        psql_at(&port17(), "postgres", &exists),
        "0",
        "refused before --create"
    );

    let (restorer, owned) = owned_by_new_role(&format!("{db}_p"));
    let (code, stderr) = restore(&config, &url17(&owned), &["--role", restorer.as_str()]);
    assert_eq!(code, 0, "{stderr}");
    let owner = psql_at(
        &port17(),
        &owned,
        "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'",
    );
    assert_eq!(owner, restorer);
    assert_eq!(
        psql_at(&port17(), &owned, "SELECT count(*) FROM orders"),
        "300"
    );
}
