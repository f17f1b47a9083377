//! Whole clusters: one job with `databases = "all"` and `globals = true`
//! backs up every database (templates, databases refusing connections and
//! excluded ones left out) and the roles, each its own object; the roles
//! restore first onto a fresh cluster, then each database, with equal data
//! and owners. A job listing databases in env-only mode keeps each in its
//! own directory, and a database that fails fails the run without
//! stopping the others.

mod common;

use common::cluster::Cluster;
use common::*;

/// A cluster with roles, three databases to back up and two to leave out.
fn populated() -> Cluster {
    let src = Cluster::start("src");
    for statement in [
        "CREATE ROLE app_owner LOGIN PASSWORD 'not-in-the-backup'",
        "CREATE ROLE reader NOLOGIN",
        "GRANT reader TO app_owner",
        "CREATE DATABASE shop OWNER app_owner",
        "CREATE DATABASE crm",
        "CREATE DATABASE \"Odd name\"",
        "CREATE DATABASE scratch_tmp",
        "CREATE DATABASE closed",
        "ALTER DATABASE closed ALLOW_CONNECTIONS false",
    ] {
        src.psql("postgres", statement);
    }
    src.psql(
        "shop",
        "SET ROLE app_owner;
         CREATE TABLE orders (id int PRIMARY KEY, note text);
         INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 500) g;
         RESET ROLE;
         GRANT SELECT ON orders TO reader;",
    );
    src.psql(
        "crm",
        "CREATE TABLE contacts AS SELECT g AS id, md5(g::text) AS name FROM generate_series(1, 300) g;",
    );
    src.psql("Odd name", "CREATE TABLE t AS SELECT 1 AS one;");
    src.psql("scratch_tmp", "CREATE TABLE junk (x int);");
    src
}

fn cluster_job(src: &Cluster, bucket: &str) -> String {
    let job = "databases = \"all\"\nexclude = [\"scratch_*\"]\nglobals = true";
    toml_job(&src.url("postgres"), bucket, job).replace("[jobs.shop]", "[jobs.cluster]")
}

#[tokio::test]
async fn a_whole_cluster_restores_onto_a_fresh_one_roles_first() {
    let src = populated();
    let bucket = bucket("cluster").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &cluster_job(&src, &bucket));
    let (code, _, stderr) = cli(&config, &["backup"]);
    assert_eq!(code, 0, "{stderr}");

    let stored = keys(&bucket).await;
    let data: Vec<&String> = stored.iter().filter(|k| k.ends_with(".sql.gz")).collect();
    let mut dirs: Vec<&str> = data.iter().map(|k| k.rsplit_once('/').unwrap().0).collect();
    dirs.sort();
    assert_eq!(
        dirs,
        [
            "prod/cluster",
            "prod/cluster/Odd%20name",
            "prod/cluster/crm",
            "prod/cluster/postgres",
            "prod/cluster/shop"
        ],
        "{stored:?}"
    );
    assert!(
        data.iter()
            .any(|k| k.starts_with("prod/cluster/shop/shop-")),
        "{data:?}"
    );
    for key in &data {
        assert!(stored.contains(&format!("{key}.manifest.json")), "{key}");
    }
    let globals_key = data
        .iter()
        .find(|k| k.starts_with("prod/cluster/cluster-globals-"))
        .expect("the globals");
    let globals =
        String::from_utf8(decompress(globals_key, &get(&bucket, globals_key).await)).unwrap();
    assert!(globals.contains("CREATE ROLE app_owner;"), "{globals}");
    assert!(
        !globals.contains("SCRAM-SHA-256"),
        "no password hashes: {globals}"
    );

    let (code, stdout, stderr) = cli(&config, &["verify", "--job", "cluster", "--latest"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("OK")).count(),
        5,
        "{stdout}"
    );

    // Onto a fresh cluster: a database alone needs choosing.
    let dst = Cluster::start("dst");
    let restore = |args: &[&str]| {
        let mut all = vec!["restore", "--job", "cluster", "--latest"];
        all.extend_from_slice(args);
        cli(&config, &all)
    };
    let (code, _, stderr) = restore(&["--to", &dst.url("shop")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--database NAME") && stderr.contains("shop"),
        "{stderr}"
    );

    let (code, stdout, stderr) = restore(&["--globals", "--to", &dst.url("postgres")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("restored globals"), "{stdout}");
    let roles = "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) \
                 FROM pg_roles WHERE rolname IN ('app_owner', 'reader')";
    assert_eq!(dst.psql("postgres", roles), "app_owner:true,reader:false");
    let member = "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
                  JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = 'reader' AND u.rolname = 'app_owner'";
    assert_eq!(dst.psql("postgres", member), "1");

    let (code, _, stderr) = restore(&["--database", "shop", "--create", "--to", &dst.url("shop")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        fingerprint_at(&dst.port, "shop"),
        fingerprint_at(&src.port, "shop")
    );
    let owner = "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'";
    assert_eq!(dst.psql("shop", owner), "app_owner");

    // Globals again (the roles exist now) and a database, in one command.
    let (code, _, stderr) = restore(&[
        "--globals",
        "--database",
        "crm",
        "--create",
        "--to",
        &dst.url("crm"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        fingerprint_at(&dst.port, "crm"),
        fingerprint_at(&src.port, "crm")
    );
    let (code, _, stderr) = restore(&[
        "--database",
        "Odd name",
        "--create",
        "--to",
        &dst.url("Odd%20name"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(dst.psql("Odd name", "SELECT one FROM t"), "1");
}

#[tokio::test]
async fn listed_databases_from_the_environment_each_fail_or_succeed_alone() {
    let src = populated();
    let bucket = bucket("clusterenv").await;
    let backup = |databases: &str| {
        let mut cmd = keepsake(None);
        seed_env(&mut cmd, &src.url("postgres"), &bucket, "env");
        cmd.env("POSTGRES_DATABASES", databases)
            .env("BACKUP_GLOBALS", "true")
            .arg("backup");
        run(cmd)
    };
    let (code, _, stderr) = backup("shop,crm");
    assert_eq!(code, 0, "{stderr}");
    let stored = keys(&bucket).await;
    for dir in [
        "env/shop/postgres-backup-",
        "env/crm/postgres-backup-",
        "env/postgres-backup-globals-",
    ] {
        assert!(
            stored
                .iter()
                .any(|k| k.starts_with(dir) && k.ends_with(".sql.gz")),
            "{dir} in {stored:?}"
        );
    }

    // A database that is not there: the others are stored, the run fails
    // and says which.
    let (code, _, stderr) = backup("shop,gone");
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("database gone"), "{stderr}");
    assert!(stderr.contains("stored globals, database shop"), "{stderr}");
    let shop_backups = keys(&bucket)
        .await
        .into_iter()
        .filter(|k| k.starts_with("env/shop/") && k.ends_with(".sql.gz"))
        .count();
    assert_eq!(shop_backups, 2);
}
