//! Per-layer parser throughput on real frames, in PDUs/s (and bytes/s).
//!
//! * `tpkt`: frame every TPKT in the TCP payloads of the libnodave bench capture;
//! * `cotp`: parse each TPKT payload of that capture;
//! * `s7comm`: parse each S7 PDU of that capture, alone and with the accessors
//!   the engine and the rules read (function, item count, items, userdata,
//!   SZL, error code), and the same over the S7 PDUs of every public capture
//!   (jobs, acks, userdata, SZL, block functions);
//! * `s7plus`: parse each S7comm-plus frame of every public capture, alone and
//!   with its accessors.
//!
//! `cargo bench --bench parsers` (captures from `../shared/pcaps/public` or `$S7SENTRY_SHARED`).

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use s7sentry_proto::s7comm::{self, S7Pdu};
use s7sentry_proto::s7plus::{self, PlusFrame};
use s7sentry_proto::{cotp, tpkt};
use std::hint::black_box;
use std::time::Duration;

/// What the engine and the rules typically read from an S7comm PDU.
fn s7_accessors(p: &S7Pdu<'_>) -> u64 {
    let mut acc = u64::from(p.function().map_or(0, |f| f.0));
    acc += u64::from(p.item_count().unwrap_or(0));
    acc += p.var_items().count() as u64 + p.data_items().count() as u64 + p.write_results().count() as u64;
    acc += p.userdata().map_or(0, |u| u64::from(u.subfunction));
    acc += p.szl().map_or(0, |s| u64::from(s.id));
    acc += p.szl_response().map_or(0, |r| r.records().count() as u64);
    acc += p.error_code().map_or(0, |e| u64::from(e.0));
    acc += p.setup_comm().map_or(0, |s| u64::from(s.pdu_length));
    acc += p.pi_service().map_or(0, |s| s.service.len() as u64);
    acc += p.block().map_or(0, |b| u64::from(b.block_type.0));
    acc + p.clock().map_or(0, |c| u64::from(c.second))
}

fn plus_accessors(f: &PlusFrame<'_>) -> u64 {
    let mut acc = u64::from(f.function.map_or(0, |x| x.0)) + u64::from(f.seq.unwrap_or(0));
    acc += f.payload().map_or(0, |p| p.len() as u64);
    acc += f.return_value().unwrap_or(0) & 0xFFFF;
    acc += f.operating_state_request().unwrap_or(0).unsigned_abs();
    acc += f.order_number().map_or(0, |o| o.order_number.len() as u64);
    acc + f.v2_integrity().map_or(0, |(id, _)| u64::from(id))
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn parsers(c: &mut Criterion) {
    let nodave = common::layers(&[common::libnodave_bench()]);
    let public = common::layers(&common::public_captures());
    assert!(nodave.s7comm.len() > 9_000 && !public.s7plus.is_empty(), "captures not found or empty");

    let mut g = c.benchmark_group("parse");
    let tpkts = nodave.tpdus.len() as u64;
    g.throughput(Throughput::ElementsAndBytes { elements: tpkts, bytes: common::total_len(&nodave.tcp_payloads) });
    g.bench_function("tpkt/libnodave", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for p in &nodave.tcp_payloads {
                let mut rest = black_box(&p[..]);
                while let Ok((r, t)) = tpkt::parse_tpkt(rest) {
                    n += t.payload.len() as u64;
                    rest = r;
                }
            }
            n
        })
    });

    g.throughput(Throughput::ElementsAndBytes { elements: tpkts, bytes: common::total_len(&nodave.tpdus) });
    g.bench_function("cotp/libnodave", |b| {
        b.iter(|| {
            nodave
                .tpdus
                .iter()
                .filter_map(|t| cotp::parse_cotp(black_box(t)).ok())
                .map(|c| c.user_data.len())
                .sum::<usize>()
        })
    });

    for (name, set) in [("libnodave", &nodave.s7comm), ("public", &public.s7comm)] {
        g.throughput(Throughput::ElementsAndBytes { elements: set.len() as u64, bytes: common::total_len(set) });
        g.bench_function(format!("s7comm/{name}"), |b| {
            b.iter(|| {
                set.iter().filter_map(|p| s7comm::parse_s7comm(black_box(p)).ok()).map(|p| p.param.len()).sum::<usize>()
            })
        });
        g.bench_function(format!("s7comm+accessors/{name}"), |b| {
            b.iter(|| {
                set.iter()
                    .filter_map(|p| s7comm::parse_s7comm(black_box(p)).ok())
                    .map(|p| s7_accessors(&p))
                    .sum::<u64>()
            })
        });
    }

    let set = &public.s7plus;
    g.throughput(Throughput::ElementsAndBytes { elements: set.len() as u64, bytes: common::total_len(set) });
    g.bench_function("s7plus/public", |b| {
        b.iter(|| {
            set.iter().filter_map(|p| s7plus::parse_s7plus(black_box(p)).ok()).map(|f| f.data.len()).sum::<usize>()
        })
    });
    g.bench_function("s7plus+accessors/public", |b| {
        b.iter(|| {
            set.iter().filter_map(|p| s7plus::parse_s7plus(black_box(p)).ok()).map(|f| plus_accessors(&f)).sum::<u64>()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = parsers
}
criterion_main!(benches);
