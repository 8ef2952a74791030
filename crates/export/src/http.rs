//! `/metrics` (Prometheus text format) and `/healthz`, served with axum on tokio.
//!
//! `/healthz` (liveness) answers 200 with the capture loss so far in its body
//! while the capture loop runs, 503 when the loop stalled for more than 5 s.
//! `/readyz` (readiness) also answers 503 while the capture interface is down
//! or not there yet.

use crate::Metrics;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Health shared with the capture loop: it stores the wall-clock second of
/// its last iteration (`/healthz` and `/readyz` answer 503 when that is older
/// than 5 s) and whether the interface is down (`/readyz` 503).
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

/// How long the capture loop may go without a heartbeat before it counts as stalled.
pub const STALL_SECS: u64 = 5;

impl Health {
    /// Liveness: `None` while the capture loop runs (it beats at least every
    /// second, also while the interface is down), else why not.
    pub fn alive(&self) -> Option<String> {
        let age = now_secs().saturating_sub(self.heartbeat.load(Ordering::Relaxed));
        (age > STALL_SECS).then(|| format!("capture loop stalled for {age} s\n"))
    }

    /// Readiness: `None` when packets can be captured (alive and the interface
    /// open), else why not.
    pub fn ready(&self) -> Option<String> {
        if self.interface_down.load(Ordering::Relaxed) {
            return Some("capture interface down or not there (retrying every second)\n".into());
        }
        self.alive()
    }

    fn body(&self, head: &str) -> String {
        // Loss is not a health failure (a restart would lose more): it is
        // stated in the body, and counted in s7sentry_capture_dropped_total.
        let (k, i, t) = (
            self.kernel_dropped.load(Ordering::Relaxed),
            self.interface_dropped.load(Ordering::Relaxed),
            self.truncated.load(Ordering::Relaxed),
        );
        format!(
            "{head}\ncapture loss since start: {k} packets dropped by the kernel, {i} by the interface, {t} truncated\n"
        )
    }
}

/// The router: `/metrics`, `/healthz` (liveness) and `/readyz` (readiness).
///
/// * `/healthz`: 200 while the capture loop runs, also while the capture
///   interface is down (the body says so): restarting the process would not
///   bring a NIC back. 503 when the loop stalled for more than [`STALL_SECS`].
/// * `/readyz`: 200 when packets are being captured; 503 while the interface
///   is down or missing (the sensor retries every second) or the loop stalled.
///   For Kubernetes' readinessProbe: a sensor without its SPAN NIC is NotReady,
///   not restarted.
pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    let ready = health.clone();
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
                    match h.alive() {
                        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
                        None if h.ready().is_some() => {
                            (StatusCode::OK, h.body("ok (alive; capture interface down, see /readyz)")).into_response()
                        }
                        None => (StatusCode::OK, h.body("ok")).into_response(),
                    }
                }
            }),
        )
        .route(
            "/readyz",
            get(move || {
                let h = ready.clone();
                async move {
                    match h.ready() {
                        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
                        None => (StatusCode::OK, h.body("ready")).into_response(),
                    }
                }
            }),
        )
}
