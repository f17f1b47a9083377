//! Faults injected between keepsake and the S3 server: a small proxy on
//! loopback answers chosen requests with a 500 instead of passing them on.
//! A transient failure is retried and the backup succeeds; a persistent one
//! fails the backup and aborts the multipart upload.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts a proxy to the S3 server that fails the first `failures` requests
/// whose request line contains `needle`; returns its URL and the count of
/// failures it injected.
async fn faulty_proxy(needle: &'static str, failures: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = s3_url().trim_start_matches("http://").to_string();
    let injected = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&injected);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let _ = serve(client, &upstream, needle, failures, &count).await;
            });
        }
    });
    (url, injected)
}

/// One connection: read the request head; fail it or pass everything on.
async fn serve(
    mut client: TcpStream,
    upstream: &str,
    needle: &str,
    failures: usize,
    count: &AtomicUsize,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let first_line = text.lines().next().unwrap_or_default().to_string();
    let matches = first_line.contains(needle);
    if matches && count.fetch_add(1, Ordering::SeqCst) < failures {
        let length = text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        client.read_exact(&mut body).await?;
        let xml = "<?xml version=\"1.0\"?><Error><Code>InternalError</Code><Message>injected</Message></Error>";
        let response = format!(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        );
        client.write_all(response.as_bytes()).await?;
        return client.shutdown().await;
    }
    if matches {
        count.fetch_sub(1, Ordering::SeqCst);
    }
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&head).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

fn backup_through(proxy: &str, db: &str, bucket: &str) -> std::process::Command {
    let mut cmd = keepsake(None);
    seed_env(&mut cmd, &db_url(db), bucket, "faults");
    cmd.env("S3_URL", proxy)
        .env("LOG_LEVEL", "debug")
        .env("KEEPSAKE_JOBS__DEFAULT__COMPRESSION", "none")
        .arg("backup");
    cmd
}

#[tokio::test]
async fn a_transient_part_failure_is_retried_and_the_backup_succeeds() {
    let db = create_db("transient");
    add_bulk(&db, 250_000);
    let bucket = bucket("transient").await;
    let (proxy, injected) = faulty_proxy("partNumber=2", 2).await;
    let cmd = backup_through(&proxy, &db, &bucket);
    let (code, _, stderr) = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        injected.load(Ordering::SeqCst),
        2,
        "both failures were injected and retried"
    );
    let keys = keys(&bucket).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let data = get(&bucket, &keys[0]).await;
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(&bucket, &keys[1]).await).unwrap();
    assert_eq!(manifest["size"], data.len() as u64);
    let restored = restore(&keys[0], &data);
    assert_eq!(fingerprint(&restored), fingerprint(&db));
}

#[tokio::test]
async fn a_persistent_part_failure_fails_the_backup_and_aborts_the_upload() {
    let db = create_db("persistent");
    add_bulk(&db, 250_000);
    let bucket = bucket("persistent").await;
    let (proxy, injected) = faulty_proxy("partNumber=2", usize::MAX).await;
    let cmd = backup_through(&proxy, &db, &bucket);
    let (code, _, stderr) = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    assert_eq!(code, 4, "{stderr}");
    assert!(
        injected.load(Ordering::SeqCst) >= 5,
        "every attempt was made"
    );
    assert!(
        stderr.contains("UploadPart") && stderr.contains("InternalError"),
        "{stderr}"
    );
    assert!(stderr.contains("multipart upload aborted"), "{stderr}");
    assert_eq!(keys(&bucket).await, Vec::<String>::new());
    assert_eq!(open_uploads(&bucket).await, 0);
}
