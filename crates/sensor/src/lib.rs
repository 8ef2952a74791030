//! # s7sentry-sensor: the pipeline, for replay and live alike
//!
//! One loop: packets from any [`s7sentry_capture::PacketSource`] (a file, memory, a live
//! interface) become [`s7sentry_engine::Frame`]s ([`frame`]), go through the engine
//! and the detector (and any [`Extra`] sink riding along: metrics, a decode
//! writer), and the alerts each frame raised reach an [`Output`] in canonical
//! order ([`canonical_order`]).
//!
//! * [`Pipeline`]: one engine, an optional detector, an extra sink; one frame at a time.
//! * [`run()`]: the loop on one thread, for any source; live sources also get
//!   idle ticks (packet time follows the wall clock while the link is quiet) and
//!   periodic housekeeping.
//! * [`run_sharded`]: the same over N worker threads sharded by PLC address;
//!   the alerts are those of one pipeline, in the same order.
//! * [`Assets`]: the inventory state's lifecycle (open, attach, detach, merge, save).
//!
//! Dependencies go one way: the binary uses this crate, this crate uses the
//! engine, capture, export and inventory crates. Features: `capture` (the runs
//! over packet sources) and `inventory` (the state), both on by default; the
//! fuzz harness uses [`Pipeline`] alone (`default-features = false`).
#![forbid(unsafe_code)]

#[cfg(feature = "inventory")]
mod assets;
pub mod hold;
mod pipeline;
#[cfg(feature = "capture")]
mod run;
#[cfg(feature = "capture")]
mod shard;

#[cfg(feature = "inventory")]
pub use assets::{vulnerable, Assets};
pub use pipeline::{canonical_order, Extra, NoExtra, Output, Pipeline, Totals, LAYERS};
#[cfg(feature = "capture")]
pub use run::{frame, idle_tick_time, run, wall_clock, Ended, PERIOD, PROGRESS_EVERY, TICK_EVERY, TICK_LAG};
#[cfg(feature = "capture")]
pub use shard::{run_sharded, worker_config};
