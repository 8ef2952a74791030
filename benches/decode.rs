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
use s7sentry_capture::{MemorySource, PacketSource};
use s7sentry_engine::rules::{DetectConfig, Detector};
use s7sentry_engine::{Engine, EngineConfig, Event, EventSink, Frame, Ts};
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

/// Run every frame of `src` through a fresh engine into `sink`.
fn run(src: &mut MemorySource, sink: &mut dyn EventSink) -> u64 {
    let mut e = Engine::new(EngineConfig::default());
    src.rewind();
    while let Some(p) = src.next_packet().expect("memory source") {
        let fr = Frame { frame: p.frame, ts: Ts::new(p.ts.secs, p.ts.nanos), linktype: p.linktype.0, data: p.data };
        e.process(&fr, sink);
    }
    e.finish(sink);
    e.stats().packets
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
                let mut sink = Count::default();
                black_box(run(&mut src, &mut sink));
                sink.0
            })
        });
        g.bench_function("detect", |b| {
            b.iter(|| {
                let mut det = Detector::new(DetectConfig::default());
                black_box(run(&mut src, &mut det));
                det.finish();
                det.drain().count()
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
