//! `/metrics` (Prometheus text format) and `/healthz`, served with axum on tokio.

use crate::Metrics;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Liveness shared with the capture loop: it stores the wall-clock second of
/// its last iteration; `/healthz` answers 503 when that is older than 5 s.
#[derive(Debug, Default)]
pub struct Health {
    /// Unix seconds of the capture loop's last iteration.
    pub heartbeat: AtomicU64,
    /// Set while the capture interface is down (reopening).
    pub interface_down: std::sync::atomic::AtomicBool,
}

impl Health {
    /// Record a heartbeat now.
    pub fn beat(&self) {
        self.heartbeat.store(now_secs(), Ordering::Relaxed);
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The router: `/metrics` and `/healthz`.
pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], m.render()) }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let h = health.clone();
                async move {
                    let age = now_secs().saturating_sub(h.heartbeat.load(Ordering::Relaxed));
                    if h.interface_down.load(Ordering::Relaxed) {
                        (StatusCode::SERVICE_UNAVAILABLE, "capture interface down\n").into_response()
                    } else if age > 5 {
                        (StatusCode::SERVICE_UNAVAILABLE, format!("capture loop stalled for {age} s\n")).into_response()
                    } else {
                        (StatusCode::OK, "ok\n").into_response()
                    }
                }
            }),
        )
}
