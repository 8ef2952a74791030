//! `replay --threads N`: flow-sharded workers over one capture file.
//!
//! The reading thread (this one) reads records with libpcap, copies them into
//! batches and chooses each record's worker with [`Sharder`] (the PLC address of
//! its flow). Every worker receives every batch: it processes its own records
//! ([`Engine::process`]) and only advances time for the others
//! ([`Engine::advance`]), so timers fire at the same packets as in one engine.
//! Alerts come back tagged with the index of the record that raised them and are
//! written in record order (ties in a canonical order), which makes the output
//! equal to a single-threaded replay's.

use crate::replay::{add_into, canonical_order, Tee};
use s7sentry_capture::{FileSource, PacketSource};
use s7sentry_engine::assets::Fleet;
use s7sentry_engine::rules::{Alert, DetectConfig, Detector};
use s7sentry_engine::shard::Sharder;
use s7sentry_engine::{Engine, EngineConfig, Frame, Stats, Ts};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Duration;

/// Records per batch handed to the workers.
const BATCH: usize = 4096;
/// Batches queued per worker before the reader waits.
const QUEUE: usize = 4;

struct Rec {
    off: usize,
    len: usize,
    frame: u64,
    ts: Ts,
    linktype: i32,
    worker: u16,
}

struct Batch {
    seq: u64,
    first: u64,
    data: Vec<u8>,
    recs: Vec<Rec>,
}

/// What one worker hands back at the end.
struct WorkerEnd {
    fleet: Option<Fleet>,
    stats: Stats,
    findings: [u64; 7],
    counts: Vec<u64>,
    alerts: Vec<Alert>,
}

/// Totals of one file replayed by several workers.
pub struct FileOutcome {
    /// Engine counters, summed over workers.
    pub stats: Stats,
    /// Findings by layer.
    pub findings: [u64; 7],
    /// Alerts per rule (catalogue order).
    pub counts: Vec<u64>,
    /// Reading stopped at an unreadable record (its message).
    pub unreadable: Option<String>,
    /// The inventory, merged from the workers (when tracking was on).
    pub fleet: Option<Fleet>,
}

/// What a sharded replay of one file needs besides the capture.
pub struct Run<'a> {
    /// Name written into the alerts' `pcap` field.
    pub source: &'a str,
    /// Detection configuration (each worker gets a copy).
    pub det_cfg: &'a DetectConfig,
    /// Number of workers (at least 2 to be useful).
    pub workers: usize,
    /// Asset tracking, when on.
    pub tracking: Option<Tracking>,
    /// Set by SIGINT / SIGTERM: stop reading (the workers finish what they have).
    pub interrupt: Option<&'a AtomicBool>,
}

/// Asset tracking for a sharded replay: the fleet every worker starts from,
/// and the learning period to start at the first packet.
pub struct Tracking {
    /// Starting fleet (loaded from `--state`, or empty).
    pub fleet: Fleet,
    /// `--learn DURATION`.
    pub learn: Option<Duration>,
}

fn worker(
    me: u16,
    engine_cfg: EngineConfig,
    det_cfg: DetectConfig,
    source: String,
    tracking: Option<(Fleet, Option<Duration>)>,
    rx: Receiver<Arc<Batch>>,
    tx: mpsc::Sender<(u64, Vec<(u64, Alert)>)>,
) -> WorkerEnd {
    let mut engine = Engine::new(engine_cfg);
    let mut det = Detector::new(det_cfg);
    det.set_source(&source);
    if let Some((fleet, learn)) = tracking {
        det.enable_assets(fleet);
        if let Some(d) = learn {
            det.set_learning(d);
        }
    }
    let mut tee = Tee::new(&mut det);
    for b in rx {
        let mut out = Vec::new();
        for (k, r) in b.recs.iter().enumerate() {
            let f = Frame { frame: r.frame, ts: r.ts, linktype: r.linktype, data: &b.data[r.off..r.off + r.len] };
            if r.worker == me {
                engine.process(&f, &mut tee);
            } else {
                engine.advance(&f, &mut tee);
            }
            if tee.det.has_alerts() {
                out.extend(tee.det.drain().map(|a| (b.first + k as u64, a)));
            }
        }
        // The merger waits for every worker's answer to every batch.
        if tx.send((b.seq, out)).is_err() {
            break;
        }
    }
    engine.finish(&mut tee);
    tee.det.finish();
    let findings = tee.findings;
    let alerts: Vec<Alert> = det.drain().collect();
    let fleet = det.take_fleet();
    WorkerEnd { fleet, stats: engine.stats().clone(), findings, counts: det.counts.clone(), alerts }
}

/// Puts the workers' per-batch answers back in record order.
struct Merger {
    workers: usize,
    next: u64,
    pending: BTreeMap<u64, (usize, Vec<(u64, Alert)>)>,
}

impl Merger {
    fn add(&mut self, seq: u64, mut alerts: Vec<(u64, Alert)>, emit: &mut dyn FnMut(&Alert) -> bool) -> bool {
        let e = self.pending.entry(seq).or_insert((0, Vec::new()));
        e.0 += 1;
        e.1.append(&mut alerts);
        while let Some((n, _)) = self.pending.get(&self.next) {
            if *n < self.workers {
                break;
            }
            let (_, mut v) = self.pending.remove(&self.next).unwrap_or_default();
            self.next += 1;
            v.sort_by(|(i, a), (j, b)| i.cmp(j).then_with(|| canonical_order(a, b)));
            for (_, a) in &v {
                if !emit(a) {
                    return false;
                }
            }
        }
        true
    }
}

/// Replay one open capture with `workers` workers; `emit` writes one alert and
/// returns false when output failed (the replay then stops).
pub fn replay_file(
    src: &mut FileSource,
    run: Run<'_>,
    emit: &mut dyn FnMut(&Alert) -> bool,
    progress: &mut dyn FnMut(u64, u64),
) -> FileOutcome {
    let Run { source, det_cfg, workers, tracking, interrupt } = run;
    let mut engine_cfg = EngineConfig::default();
    // The caps are shared out: N workers together hold what one engine would.
    engine_cfg.max_flows = (engine_cfg.max_flows / workers).max(1024);
    engine_cfg.max_total_buffered = (engine_cfg.max_total_buffered / workers).max(1 << 20);
    let mut sharder = Sharder::new(&engine_cfg.ports, workers);
    let (res_tx, res_rx) = mpsc::channel::<(u64, Vec<(u64, Alert)>)>();
    let mut merger = Merger { workers, next: 0, pending: BTreeMap::new() };
    let mut unreadable = None;
    let mut ok = true;
    let ends: Vec<WorkerEnd> = std::thread::scope(|s| {
        let mut txs: Vec<SyncSender<Arc<Batch>>> = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for me in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Arc<Batch>>(QUEUE);
            txs.push(tx);
            let (ec, dc, name, rtx) = (engine_cfg.clone(), det_cfg.clone(), source.to_string(), res_tx.clone());
            let tr = tracking.as_ref().map(|t| (t.fleet.clone(), t.learn));
            handles.push(
                std::thread::Builder::new()
                    .name(format!("s7sentry-w{me}"))
                    .spawn_scoped(s, move || worker(me as u16, ec, dc, name, tr, rx, rtx))
                    .expect("spawning a worker thread"),
            );
        }
        drop(res_tx);
        let mut seq = 0u64;
        let mut index = 0u64;
        let new_batch = |seq: u64, first: u64| Batch {
            seq,
            first,
            data: Vec::with_capacity(BATCH * 128),
            recs: Vec::with_capacity(BATCH),
        };
        let mut batch = new_batch(0, 0);
        let mut read_bytes = 0u64;
        let mut send = |batch: Batch, merger: &mut Merger, ok: &mut bool| {
            let b = Arc::new(batch);
            for tx in &txs {
                // A worker only stops early if the merger stopped listening.
                let _ = tx.send(Arc::clone(&b));
            }
            while let Ok((sq, v)) = res_rx.try_recv() {
                if *ok && !merger.add(sq, v, emit) {
                    *ok = false;
                }
            }
        };
        loop {
            match src.next_packet() {
                Ok(Some(p)) => {
                    if interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
                        break;
                    }
                    read_bytes += p.data.len() as u64 + 16;
                    let off = batch.data.len();
                    batch.data.extend_from_slice(p.data);
                    batch.recs.push(Rec {
                        off,
                        len: p.data.len(),
                        frame: p.frame,
                        ts: Ts::new(p.ts.secs, p.ts.nanos),
                        linktype: p.linktype.0,
                        worker: sharder.worker(p.linktype.0, p.data) as u16,
                    });
                    index += 1;
                    if batch.recs.len() == BATCH {
                        seq += 1;
                        let full = std::mem::replace(&mut batch, new_batch(seq, index));
                        send(full, &mut merger, &mut ok);
                        if !ok {
                            break;
                        }
                        progress(index, read_bytes);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    unreadable = Some(e.to_string());
                    break;
                }
            }
        }
        if !batch.recs.is_empty() {
            send(batch, &mut merger, &mut ok);
        }
        drop(txs);
        for (sq, v) in res_rx.iter() {
            if ok && !merger.add(sq, v, emit) {
                ok = false;
            }
        }
        handles.into_iter().map(|h| h.join().expect("worker thread panicked")).collect()
    });
    let mut out = FileOutcome {
        stats: Stats::default(),
        findings: [0; 7],
        counts: vec![0; s7sentry_engine::rules::catalog::RULES.len()],
        unreadable,
        fleet: None,
    };
    let mut tail = Vec::new();
    let mut fleets = Vec::new();
    for e in ends {
        fleets.extend(e.fleet);
        out.stats.merge(&e.stats);
        add_into(&mut out.findings, &e.findings);
        add_into(&mut out.counts, &e.counts);
        tail.extend(e.alerts);
    }
    if let Some(t) = &tracking {
        out.fleet = Some(s7sentry_engine::assets::merge_shards(&t.fleet, fleets));
    }
    tail.sort_by(canonical_order);
    if ok {
        for a in &tail {
            if !emit(a) {
                break;
            }
        }
    }
    out
}
