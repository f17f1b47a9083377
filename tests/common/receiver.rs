//! A local HTTP server that records every request (healthcheck pings,
//! webhook bodies) and answers as told: 200, another status, or never.
//! It runs on its own thread and runtime, so blocking tests can use it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};

/// How the receiver answers.
#[derive(Clone, Copy)]
pub enum Answer {
    Ok,
    Status(u16),
    /// Accepts the request and never answers.
    Hang,
}

/// One request received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub body: String,
}

pub struct Receiver {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    pub fn start(answer: Answer) -> Receiver {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&hits);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let handler = move |method: Method, uri: Uri, body: Bytes| {
                    let record = Arc::clone(&record);
                    async move {
                        record.lock().unwrap().push(Hit {
                            method: method.to_string(),
                            path: uri.path().to_string(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        match answer {
                            Answer::Ok => StatusCode::OK,
                            Answer::Status(code) => StatusCode::from_u16(code).unwrap(),
                            Answer::Hang => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                StatusCode::OK
                            }
                        }
                    }
                };
                let app = axum::Router::new().fallback(handler);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Receiver {
            url: format!("http://{addr}"),
            hits,
        }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The requests to `path`.
    pub fn to(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.path == path).collect()
    }

    /// Polls until `count` requests arrived, failing after `secs`.
    pub fn wait_for(&self, count: usize, secs: u64) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let hits = self.hits();
            if hits.len() >= count {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} requests after {secs}s: {hits:#?}",
                hits.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}
