//! `/metrics` (Prometheus text format) and `/healthz`, served with axum on tokio.
//!
//! `/healthz` answers 200 with the capture loss so far in its body while the
//! capture loop runs, 503 when the loop stalled for more than 5 s or the
//! interface is down.

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
    /// Packets lost before the sensor saw them so far: the kernel's drops (ring full).
    pub kernel_dropped: AtomicU64,
    /// Packets the interface or driver dropped so far.
    pub interface_dropped: AtomicU64,
    /// Packets cut to the snap length so far.
    pub truncated: AtomicU64,
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
                        // Loss is not a liveness failure (a restart would lose more): it is
                        // stated in the body, and counted in s7sentry_capture_dropped_total.
                        let (k, i, t) = (
                            h.kernel_dropped.load(Ordering::Relaxed),
                            h.interface_dropped.load(Ordering::Relaxed),
                            h.truncated.load(Ordering::Relaxed),
                        );
                        let body = format!(
                            "ok\ncapture loss since start: {k} packets dropped by the kernel, {i} by the interface, {t} truncated\n"
                        );
                        (StatusCode::OK, body).into_response()
                    }
                }
            }),
        )
}
