//! # s7sentry-export (reserved)
//!
//! Will hold the Prometheus registry, the `/metrics` and `/healthz` endpoints
//! and the alert sinks of `s7sentry live` (issue 4). Only this crate will know
//! Prometheus; the engine emits typed events and counters.
#![forbid(unsafe_code)]
