//! Flow-sharded runs: one thread reads the source, N workers each own the
//! flows of a share of the PLCs.
//!
//! The reading thread (the caller's) reads packets, copies them into batches
//! and chooses each packet's worker with [`Sharder`] (the PLC address of its
//! flow). Every worker receives every batch: it processes its own packets
//! ([`Pipeline::process_only`]) and only advances time for the others
//! ([`Pipeline::advance`]), so timers fire at the same packets as in one
//! pipeline. In live runs the reader also puts idle ticks into the batches,
//! which every worker applies at the same place. Alerts come back tagged with
//! the index of the record that raised them and are delivered in record order
//! (ties in canonical order), which makes the output equal to a single
//! pipeline's.

use crate::pipeline::{canonical_order, Extra, Output, Pipeline};
use crate::run::{frame, Clock, Ended, IDLE_SLEEP, PROGRESS_EVERY};
use s7sentry_capture::{PacketSource, Polled};
use s7sentry_engine::rules::Alert;
use s7sentry_engine::shard::Sharder;
use s7sentry_engine::{EngineConfig, Frame, Ts};
use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::time::Instant;

/// Records per batch handed to the workers.
const BATCH: usize = 4096;
/// Batches queued per worker before the reader waits.
const QUEUE: usize = 4;
/// `Rec::worker` of an idle tick (applied by every worker).
const TICK: u16 = u16::MAX;

/// The engine configuration of each of `workers` workers: the caps are shared
/// out, so that N workers together hold what one engine would.
pub fn worker_config(workers: usize) -> EngineConfig {
    let mut c = EngineConfig::default();
    let n = workers.max(1);
    if n > 1 {
        c.max_flows = (c.max_flows / n).max(1024);
        c.max_total_buffered = (c.max_total_buffered / n).max(1 << 20);
    }
    c
}

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

impl Batch {
    /// A batch sized for `BATCH` records; small when `live` (a live run sends
    /// what it has whenever the link is idle, mostly a few records).
    fn new(seq: u64, first: u64, live: bool) -> Batch {
        let recs = if live { 64 } else { BATCH };
        Batch { seq, first, data: Vec::with_capacity(recs * 128), recs: Vec::with_capacity(recs) }
    }
}

type Answer = (u64, Vec<(u64, Alert)>);

fn worker<S: Extra>(
    me: u16,
    mut pipe: Pipeline<S>,
    live: bool,
    rx: Receiver<Arc<Batch>>,
    tx: Sender<Answer>,
) -> Pipeline<S> {
    let mut scratch = Vec::new();
    let mut last_period = Instant::now();
    for b in rx {
        let mut out = Vec::new();
        for (k, r) in b.recs.iter().enumerate() {
            let f = Frame { frame: r.frame, ts: r.ts, linktype: r.linktype, data: &b.data[r.off..r.off + r.len] };
            if r.worker == me {
                pipe.process_only(&f);
            } else if r.worker != TICK {
                pipe.advance(&f);
            } else {
                pipe.idle_tick_only(r.ts);
            }
            if pipe.has_alerts() {
                pipe.take_alerts(&mut scratch);
                out.extend(scratch.drain(..).map(|a| (b.first + k as u64, a)));
            }
        }
        if live && last_period.elapsed() >= crate::run::PERIOD {
            last_period = Instant::now();
            pipe.periodic();
        }
        // The merger waits for every worker's answer to every batch.
        if tx.send((b.seq, out)).is_err() {
            break;
        }
    }
    // End of input: end every flow and run the last timers here, in parallel
    // with the other workers (the alerts stay in the detector for the reader).
    pipe.finish_only();
    pipe
}

/// Puts the workers' per-batch answers back in record order.
struct Merger {
    workers: usize,
    next: u64,
    pending: BTreeMap<u64, (usize, Vec<(u64, Alert)>)>,
    failed: Option<std::io::Error>,
}

impl Merger {
    fn add(&mut self, seq: u64, mut alerts: Vec<(u64, Alert)>, out: &mut dyn Output) {
        let e = self.pending.entry(seq).or_insert((0, Vec::new()));
        e.0 += 1;
        e.1.append(&mut alerts);
        while let Some((n, _)) = self.pending.get(&self.next) {
            if *n < self.workers {
                break;
            }
            let (_, mut v) = self.pending.remove(&self.next).unwrap_or_default();
            self.next += 1;
            if self.failed.is_some() {
                continue;
            }
            v.sort_by(|(i, a), (j, b)| i.cmp(j).then_with(|| canonical_order(a, b)));
            for (_, a) in &v {
                if let Err(e) = out.alert(a) {
                    self.failed = Some(e);
                    break;
                }
            }
        }
    }
}

/// Run `src` through the pipelines `pipes` (one worker thread each; build them
/// with [`worker_config`]) until the source ends, the output asks to stop, or
/// output fails; then finish every pipeline and deliver the last alerts.
/// Alerts reach `out` on this thread, in the order a single pipeline would
/// give. Returns how the run ended and the finished pipelines (for their
/// counters, detectors and extra sinks), in worker order.
pub fn run_sharded<Src: PacketSource + ?Sized, S: Extra + Send>(
    src: &mut Src,
    pipes: Vec<Pipeline<S>>,
    out: &mut dyn Output,
) -> (Ended, Vec<Pipeline<S>>) {
    let workers = pipes.len().max(1);
    let live = src.is_live();
    let mut sharder = Sharder::new(&EngineConfig::default().ports, workers);
    let (res_tx, res_rx) = mpsc::channel::<Answer>();
    let mut merger = Merger { workers, next: 0, pending: BTreeMap::new(), failed: None };
    let mut ended = Ended::End;
    let mut pipes: Vec<Pipeline<S>> = std::thread::scope(|s| {
        let mut txs: Vec<SyncSender<Arc<Batch>>> = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for (me, pipe) in pipes.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Arc<Batch>>(QUEUE);
            txs.push(tx);
            let rtx = res_tx.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("s7sentry-w{me}"))
                    .spawn_scoped(s, move || worker(me as u16, pipe, live, rx, rtx))
                    .expect("spawning a worker thread"),
            );
        }
        drop(res_tx);
        let mut seq = 0u64;
        let mut index = 0u64;
        let mut batch = Batch::new(0, 0, live);
        let mut bytes = 0u64;
        let mut clock = Clock::new(live);
        let send = |batch: Batch, merger: &mut Merger, out: &mut dyn Output| {
            let b = Arc::new(batch);
            for tx in &txs {
                // A worker only stops early if the merger stopped listening.
                let _ = tx.send(Arc::clone(&b));
            }
            while let Ok((sq, v)) = res_rx.try_recv() {
                merger.add(sq, v, out);
            }
        };
        loop {
            if out.stop_requested() {
                ended = Ended::Stopped;
                break;
            }
            let mut idle = false;
            match src.poll() {
                Ok(Polled::Packet(p)) => {
                    let f = frame(&p);
                    bytes += f.data.len() as u64 + 16;
                    let off = batch.data.len();
                    batch.data.extend_from_slice(f.data);
                    batch.recs.push(Rec {
                        off,
                        len: f.data.len(),
                        frame: f.frame,
                        ts: f.ts,
                        linktype: f.linktype,
                        worker: sharder.worker(f.linktype, f.data) as u16,
                    });
                    index += 1;
                    if index.is_multiple_of(PROGRESS_EVERY) {
                        out.progress(index, bytes);
                    }
                }
                Ok(Polled::Idle) => idle = true,
                Ok(Polled::End) => break,
                Err(e) => {
                    ended = Ended::Unreadable(e.to_string());
                    break;
                }
            }
            if idle {
                if let Some(ts) = clock.tick_due() {
                    batch.recs.push(Rec { off: 0, len: 0, frame: 0, ts, linktype: 0, worker: TICK });
                    index += 1;
                }
            }
            // Full batches go at once; live runs send what they have when the link is idle.
            if batch.recs.len() >= BATCH || (idle && !batch.recs.is_empty()) {
                seq += 1;
                let full = std::mem::replace(&mut batch, Batch::new(seq, index, live));
                send(full, &mut merger, out);
            }
            if merger.failed.is_some() {
                break;
            }
            if idle {
                while let Ok((sq, v)) = res_rx.try_recv() {
                    merger.add(sq, v, out);
                }
                std::thread::sleep(IDLE_SLEEP);
            }
            if (idle || index.is_multiple_of(1024)) && clock.period_due() {
                out.periodic();
            }
        }
        if !batch.recs.is_empty() {
            send(batch, &mut merger, out);
        }
        drop(txs);
        for (sq, v) in res_rx.iter() {
            merger.add(sq, v, out);
        }
        handles.into_iter().map(|h| h.join().expect("worker thread panicked")).collect()
    });
    // The end: every worker ended its flows and ran its timers (in its
    // thread); the last alerts of all workers in canonical order.
    let mut tail = Vec::new();
    for p in &mut pipes {
        p.take_alerts(&mut tail);
    }
    tail.sort_by(canonical_order);
    if merger.failed.is_none() {
        for a in &tail {
            if let Err(e) = out.alert(a) {
                merger.failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = merger.failed {
        ended = Ended::OutputFailed(Some(e));
    }
    (ended, pipes)
}
