//! Test helpers: the services that scripts/test.sh starts (a private
//! PostgreSQL cluster and an S3 server), a sample database, restores, and the
//! keepsake binary with a clean environment. Every test makes its own
//! database and bucket, so tests run in parallel.
#![allow(dead_code)]

pub mod agent;
pub mod cluster;
pub mod proxy;
pub mod receiver;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};

/// The password of the role that must authenticate for real (scram).
pub const PW_ROLE: &str = "keepsake_pw";
pub const PW_SECRET: &str = "sEcr3t-Pa55word";
pub const S3_KEY: &str = "test-access-key";
pub const S3_SECRET: &str = "test-s3-secret-DO-NOT-LOG";

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with scripts/test.sh, which starts PostgreSQL and S3"
        )
    })
}

pub fn pg_host() -> String {
    var("KS_PGHOST")
}

pub fn pg_port() -> String {
    var("KS_PGPORT")
}

pub fn s3_url() -> String {
    var("KS_S3_URL")
}

/// A name no other test uses: lowercase letters, digits and '-'.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs SQL as the superuser in `db` (on `port`), returning its output.
pub fn psql_at(port: &str, db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(pg_host())
        .args(["-p", port, "-U", "postgres", "-d", db, "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn psql(db: &str, sql: &str) -> String {
    psql_at(&pg_port(), db, sql)
}

/// Creates an empty database with a name of its own.
pub fn create_db(prefix: &str) -> String {
    let name = unique(prefix).replace('-', "_");
    psql("postgres", &format!("CREATE DATABASE {name}"));
    name
}

/// The password role exists once per cluster; creating it twice is fine.
pub fn ensure_password_role() {
    psql(
        "postgres",
        &format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PW_ROLE}') THEN
                 CREATE ROLE {PW_ROLE} LOGIN SUPERUSER PASSWORD '{PW_SECRET}';
               END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$"
        ),
    );
}

/// Tables of many types, a view, an index, a sequence, quotes and unicode.
pub const SAMPLE_SQL: &str = "
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
INSERT INTO customers (name, email)
  SELECT 'name ' || g, 'user' || g || '@example.com' FROM generate_series(1, 500) g;
CREATE TABLE orders (
  id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id),
  amount numeric(10,2), note text, payload jsonb, raw bytea, at timestamptz);
INSERT INTO orders (customer_id, amount, note, payload, raw, at)
  SELECT (g % 500) + 1, g * 1.25,
         CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ''quoted'' ' || g || ' ünïcødé' END,
         jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)),
         decode(md5(g::text), 'hex'),
         timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour'
  FROM generate_series(1, 2000) g;
CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;
CREATE INDEX orders_customer ON orders (customer_id);
";

/// A new database holding [`SAMPLE_SQL`].
pub fn sample_db(prefix: &str) -> String {
    let db = create_db(prefix);
    psql(&db, SAMPLE_SQL);
    db
}

/// Adds `rows` rows of incompressible text (about 100 bytes each).
pub fn add_bulk(db: &str, rows: u32) {
    psql(
        db,
        &format!(
            "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS t
             FROM generate_series(1, {rows}) g"
        ),
    );
}

/// What a database holds, to compare a restore with its source.
pub fn fingerprint(db: &str) -> String {
    fingerprint_at(&pg_port(), db)
}

/// [`fingerprint`] of a database on the cluster at `port`.
pub fn fingerprint_at(port: &str, db: &str) -> String {
    let psql = |db: &str, sql: &str| psql_at(port, db, sql);
    let tables = psql(
        db,
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    let mut parts = vec![format!("tables={tables}")];
    for table in tables.split(',').filter(|t| !t.is_empty()) {
        parts.push(psql(
            db,
            &format!("SELECT '{table}:' || count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"),
        ));
    }
    parts.push(psql(
        db,
        "SELECT 'views=' || count(*) FROM pg_views WHERE schemaname = 'public'",
    ));
    parts.push(psql(
        db,
        "SELECT 'indexes=' || string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'",
    ));
    parts.push(psql(
        db,
        "SELECT 'sequences=' || coalesce(string_agg(sequencename || ':' || coalesce(last_value, 0), ',' ORDER BY sequencename), '') FROM pg_sequences WHERE schemaname = 'public'",
    ));
    parts.join("\n")
}

/// `postgres://` URL of `db` as the superuser (no password needed).
pub fn db_url(db: &str) -> String {
    format!("postgres://postgres@{}:{}/{db}", pg_host(), pg_port())
}

/// `postgres://` URL of `db` as the password role, password included.
pub fn db_url_with_password(db: &str) -> String {
    format!(
        "postgres://{PW_ROLE}:{PW_SECRET}@{}:{}/{db}",
        pg_host(),
        pg_port()
    )
}

// ---------- S3 ----------

pub fn s3_client() -> Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(s3_url())
        .force_path_style(true)
        .credentials_provider(Credentials::new(S3_KEY, S3_SECRET, None, None, "tests"))
        // As keepsake does: radosgw refuses the newer default checksums.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(config)
}

/// A new, empty bucket.
pub async fn bucket(prefix: &str) -> String {
    let name = unique(prefix);
    s3_client()
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create bucket");
    name
}

/// Puts one object.
pub async fn put_object(bucket: &str, key: &str, body: Vec<u8>) {
    s3_client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .expect("put object");
}

/// Puts one object with the mark keepsake gives what it writes (as a run
/// that died after the object landed would leave it).
pub async fn put_marked(bucket: &str, key: &str, body: Vec<u8>) {
    s3_client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .metadata("keepsake-run", "a-run-that-died")
        .body(body.into())
        .send()
        .await
        .expect("put object");
}

/// Puts small objects at `keys`, 32 at a time.
pub async fn put_many(bucket: &str, keys: Vec<String>, body: &'static [u8]) {
    let client = s3_client();
    let mut puts = tokio::task::JoinSet::new();
    for key in keys {
        let (client, bucket) = (client.clone(), bucket.to_string());
        puts.spawn(async move {
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(body.to_vec().into())
                .send()
                .await
                .expect("put object");
        });
        while puts.len() >= 32 {
            puts.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = puts.join_next().await {
        r.unwrap();
    }
}

/// Every key in `bucket`, sorted.
pub async fn keys(bucket: &str) -> Vec<String> {
    let client = s3_client();
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list objects");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    keys.sort();
    keys
}

/// Multipart uploads started and neither completed nor aborted.
pub async fn open_uploads(bucket: &str) -> usize {
    let out = s3_client()
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list multipart uploads");
    out.uploads().len()
}

pub async fn get(bucket: &str, key: &str) -> Vec<u8> {
    let out = s3_client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object");
    out.body
        .collect()
        .await
        .expect("read body")
        .into_bytes()
        .to_vec()
}

pub async fn etag(bucket: &str, key: &str) -> String {
    head(bucket, key)
        .await
        .e_tag()
        .unwrap_or_default()
        .to_string()
}

// ---------- restore ----------

/// Undoes the compression named by the key's extension.
pub fn decompress(key: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if key.ends_with(".gz") {
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
    } else if key.ends_with(".zst") {
        zstd::stream::read::Decoder::new(data)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
    } else {
        out.extend_from_slice(data);
    }
    out
}

fn feed(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn restore tool");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// `program` (psql, pg_restore) connected to `db` as the superuser.
pub fn pg_client(program: &str, db: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.args([
        "-h",
        &pg_host(),
        "-p",
        &pg_port(),
        "-U",
        "postgres",
        "-d",
        db,
    ]);
    cmd
}

/// Restores a stored backup (named by `key`) into a new database; returns it.
pub fn restore(key: &str, stored: &[u8]) -> String {
    let target = create_db("restored");
    let dump = decompress(key, stored);
    let plain = key.contains(".sql");
    let mut cmd = pg_client(if plain { "psql" } else { "pg_restore" }, &target);
    if plain {
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
    } else {
        cmd.arg("--exit-on-error");
    }
    let out = feed(cmd, &dump);
    assert!(
        out.status.success(),
        "restore of {key} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    target
}

// ---------- the binary ----------

/// The keepsake binary with an empty environment but PATH (and `path_first`
/// before it, for wrapper scripts).
pub fn keepsake(path_first: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keepsake"));
    let system_path = "/usr/local/bin:/usr/bin:/bin";
    let path = match path_first {
        Some(dir) => format!("{}:{system_path}", dir.display()),
        None => system_path.to_string(),
    };
    cmd.env_clear()
        .env("PATH", path)
        .env("HOME", "/nonexistent");
    cmd
}

/// The environment of the seed tool for `db` and `bucket`.
pub fn seed_env(cmd: &mut Command, database_url: &str, bucket: &str, path: &str) {
    cmd.env("POSTGRES_CONNECTION_STRING", database_url)
        .env("S3_BUCKET", bucket)
        .env("S3_PATH", path)
        .env("S3_URL", s3_url())
        .env("S3_ACCESS_KEY", S3_KEY)
        .env("S3_SECRET_KEY", S3_SECRET)
        .env("BACKUP_INTERVAL", "0 3 * * *");
}

/// Writes `text` as `keepsake.toml` in `dir`; its path.
pub fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("keepsake.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `keepsake -c CONFIG ARGS...`: (exit code, stdout, stderr).
pub fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(config).args(args);
    run(cmd)
}

/// HeadObject of `key`.
pub async fn head(bucket: &str, key: &str) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
    s3_client()
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head object")
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().expect("run keepsake");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes an executable script `name` into `dir`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The real pg_dump of the installed PostgreSQL 15.
pub fn real_pg_dump() -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            "ls -d /usr/lib/postgresql/*/bin/pg_dump | sort -V | tail -1",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A `[storage.NAME]` entry for `bucket` under the prefix `prod`, reached
/// at `endpoint` (the test S3 server, or a proxy to it).
pub fn s3_storage_toml(name: &str, bucket: &str, endpoint: &str) -> String {
    format!(
        r#"
[storage.{name}]
type = "s3"
bucket = "{bucket}"
prefix = "prod"
endpoint = "{endpoint}"
access_key_id = "{S3_KEY}"
secret_access_key = "{S3_SECRET}"
"#
    )
}

/// A TOML config for one job `job` to an S3 bucket, with extra job lines.
pub fn toml_job(db_url: &str, bucket: &str, job_extra: &str) -> String {
    format!(
        "[log]\nlevel = \"debug\"\n{storage}\n[jobs.shop]\ndatabase = \"{db_url}\"\nstorage = [\"s3\"]\n{job_extra}\n",
        storage = s3_storage_toml("s3", bucket, &s3_url())
    )
}
