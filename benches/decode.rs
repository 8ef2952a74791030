//! Whole-pipeline throughput over in-memory captures, in packets/s and bytes/s:
//!
//! * `decode`: link/IP/TCP slicing, flow table, reassembly, TPKT/COTP/S7
//!   parsing, with a sink that only counts events;
//! * `detect`: the same feeding `rules::Detector` (the `replay` command's work
//!   minus reading the file and writing alerts).
//!
//! Captures: the public libnodave bench capture (10 171 frames) and generated
//! benign plant traffic, 1 000 000 frames (100 HMI connections; written to
//! `target/bench/benign_1m.pcap` on first use by the project's generator,
//! see `benches/common/mod.rs`; `S7SENTRY_BENCH_FRAMES=N` picks another size,
//! `0` skips it). Every iteration starts a fresh engine and detector.
//!
//! `cargo bench --bench decode`; `scripts/bench` also times `s7sentry replay`.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use s7sentry_capture::MemorySource;
use s7sentry_engine::rules::{DetectConfig, Detector};
use s7sentry_engine::{EngineConfig, Event, EventSink};
use s7sentry_sensor::{run, Extra, NoExtra, Pipeline};
use std::hint::black_box;
use std::time::Duration;

/// Counts events, nothing else.
#[derive(Default)]
struct Count(u64);

impl EventSink for Count {
    fn on_event(&mut self, ev: &Event<'_>) {
        if !matches!(ev, Event::Tick { .. }) {
            self.0 += 1;
        }
    }
}

impl Extra for Count {}

/// Run every frame of `src` through `pipe` (the replay loop), alerts into memory;
/// returns the packets processed and the alerts.
fn replay<S: Extra>(src: &mut MemorySource, mut pipe: Pipeline<S>) -> (u64, usize, S) {
    src.rewind();
    let mut alerts = Vec::new();
    let _ = run(src, &mut pipe, &mut alerts);
    let _ = pipe.finish(&mut alerts);
    (pipe.stats().packets, alerts.len(), pipe.into_extra())
}

fn pipeline(c: &mut Criterion) {
    let mut caps = vec![("libnodave_10k", common::load(&common::libnodave_bench()))];
    let frames = std::env::var("S7SENTRY_BENCH_FRAMES").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(1_000_000);
    if frames > 0 {
        let p = common::generated_benign(frames);
        caps.push((if frames == 1_000_000 { "benign_1m" } else { "benign_generated" }, common::load(&p)));
    }
    for (name, mut src) in caps {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::ElementsAndBytes { elements: src.len() as u64, bytes: src.bytes() });
        if src.len() > 100_000 {
            // Whole seconds per iteration: ten flat samples of one iteration each.
            g.sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(100));
        }
        g.bench_function("decode", |b| {
            b.iter(|| {
                let (n, _, count) = replay(&mut src, Pipeline::new(EngineConfig::default(), None, Count::default()));
                black_box(n);
                count.0
            })
        });
        g.bench_function("detect", |b| {
            b.iter(|| {
                let det = Detector::new(DetectConfig::default());
                let (n, alerts, _) = replay(&mut src, Pipeline::new(EngineConfig::default(), Some(det), NoExtra));
                black_box(n);
                alerts
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = pipeline
}
criterion_main!(benches);
