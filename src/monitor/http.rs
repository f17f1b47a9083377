//! The agent's HTTP endpoint (`[http] listen`, off by default):
//! `/metrics` (Prometheus text format), `/healthz` (200 while the agent
//! runs: for liveness probes and container health checks) and `/readyz`
//! (503 naming the jobs whose newest backup is older than their
//! `stale_after`: for alerting and readiness). It serves no secret.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;

/// The content type of the Prometheus text format.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds `addr`; an error names the address and the cause.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (http.listen / HTTP_LISTEN): {e}"))
}

/// Serves the endpoint on `listener` until `stop`.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, stop: CancellationToken) {
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %address, "serving /metrics, /healthz and /readyz");
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(index))
        .with_state(metrics);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::error!(address = %address, error = %e, "the HTTP endpoint stopped");
    }
}

async fn metrics_page(State(metrics): State<Arc<Metrics>>) -> Response {
    let text = metrics.render(Timestamp::now());
    ([(header::CONTENT_TYPE, METRICS_TYPE)], text).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(metrics): State<Arc<Metrics>>) -> Response {
    let stale = metrics.stale_jobs(Timestamp::now());
    let status = if stale.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "ready": stale.is_empty(), "stale": stale });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

async fn index() -> &'static str {
    "keepsake: /metrics, /healthz, /readyz\n"
}
