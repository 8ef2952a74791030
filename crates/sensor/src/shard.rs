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
//! the index of the record that raised them, with the records at which the
//! worker's alert floor ([`Pipeline::alert_floor`]) moved; a replay's reader
//! holds the alerts and releases them by the smallest floor over the workers
//! at each record, as one pipeline holds by its own ([`crate::hold`]), live
//! delivers them in record order (ties in canonical order). Either way the
//! output equals a single pipeline's.

use crate::hold::{Hold, NO_FLOOR};
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

/// A worker's answer to a batch: batch number, worker, alerts by record index,
/// and (replays) the record indexes at which the worker's alert floor moved.
struct Answer {
    seq: u64,
    worker: u16,
    alerts: Vec<(u64, Alert)>,
    floors: Vec<(u64, (Ts, u64))>,
}

fn worker<S: Extra>(
    me: u16,
    mut pipe: Pipeline<S>,
    live: bool,
    rx: Receiver<Arc<Batch>>,
    tx: Sender<Answer>,
) -> Pipeline<S> {
    let mut scratch = Vec::new();
    let mut last_period = Instant::now();
    let mut floor = NO_FLOOR;
    for b in rx {
        let mut out = Vec::new();
        let mut floors = Vec::new();
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
            if !live {
                let f = pipe.alert_floor();
                if f != floor {
                    floor = f;
                    floors.push((b.first + k as u64, f));
                }
            }
        }
        if live && last_period.elapsed() >= crate::run::PERIOD {
            last_period = Instant::now();
            pipe.periodic();
        }
        // The merger waits for every worker's answer to every batch.
        if tx.send(Answer { seq: b.seq, worker: me, alerts: out, floors }).is_err() {
            break;
        }
    }
    // End of input: end every flow and run the last timers here, in parallel
    // with the other workers (the alerts stay in the detector for the reader).
    pipe.finish_only();
    pipe
}

/// One batch's answers gathered so far: how many, alerts, floor moves (record, worker, floor).
type Gathered = (usize, Vec<(u64, Alert)>, Vec<(u64, u16, (Ts, u64))>);

/// Puts the workers' per-batch answers back in record order.
struct Merger {
    workers: usize,
    next: u64,
    pending: BTreeMap<u64, Gathered>,
    failed: Option<std::io::Error>,
    /// Replays: alerts held until the smallest floor over the workers passes them.
    holding: bool,
    hold: Hold,
    /// Each worker's floor as of the last merged record.
    floors: Vec<(Ts, u64)>,
}

impl Merger {
    fn new(workers: usize, holding: bool) -> Merger {
        Merger {
            workers,
            next: 0,
            pending: BTreeMap::new(),
            failed: None,
            holding,
            hold: Hold::default(),
            floors: vec![NO_FLOOR; workers],
        }
    }

    fn add(&mut self, a: Answer, out: &mut dyn Output) {
        let Answer { seq, worker, mut alerts, floors } = a;
        let e = self.pending.entry(seq).or_insert((0, Vec::new(), Vec::new()));
        e.0 += 1;
        e.1.append(&mut alerts);
        e.2.extend(floors.into_iter().map(|(rec, f)| (rec, worker, f)));
        while let Some((n, _, _)) = self.pending.get(&self.next) {
            if *n < self.workers {
                break;
            }
            let (_, mut v, mut moves) = self.pending.remove(&self.next).unwrap_or_default();
            self.next += 1;
            if self.failed.is_some() {
                continue;
            }
            v.sort_by(|(i, a), (j, b)| i.cmp(j).then_with(|| canonical_order(a, b)));
            if let Err(e) = if self.holding { self.hold_batch(v, &mut moves, out) } else { deliver(&v, out) } {
                self.failed = Some(e);
            }
        }
    }

    /// Record by record, as one pipeline does after each frame: the record's
    /// floor moves, its alerts into the hold, release by the smallest floor.
    fn hold_batch(
        &mut self,
        v: Vec<(u64, Alert)>,
        moves: &mut [(u64, u16, (Ts, u64))],
        out: &mut dyn Output,
    ) -> std::io::Result<()> {
        moves.sort_unstable_by_key(|m| (m.0, m.1));
        let mut alerts = v.into_iter().peekable();
        let mut moves = moves.iter().peekable();
        loop {
            let rec = match (alerts.peek(), moves.peek()) {
                (Some((i, _)), Some((j, _, _))) => (*i).min(*j),
                (Some((i, _)), None) => *i,
                (None, Some((j, _, _))) => *j,
                (None, None) => return Ok(()),
            };
            while let Some((_, w, f)) = moves.next_if(|m| m.0 == rec) {
                self.floors[usize::from(*w)] = *f;
            }
            while let Some((_, a)) = alerts.next_if(|(i, _)| *i == rec) {
                self.hold.push(a, out)?;
            }
            let floor = self.floors.iter().copied().min().unwrap_or(NO_FLOOR);
            self.hold.release(floor, out)?;
        }
    }
}

fn deliver(v: &[(u64, Alert)], out: &mut dyn Output) -> std::io::Result<()> {
    for (_, a) in v {
        out.alert(a)?;
    }
    Ok(())
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
    let mut merger = Merger::new(workers, !live);
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
            while let Ok(a) = res_rx.try_recv() {
                merger.add(a, out);
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
                while let Ok(a) = res_rx.try_recv() {
                    merger.add(a, out);
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
        for a in res_rx.iter() {
            merger.add(a, out);
        }
        handles.into_iter().map(|h| h.join().expect("worker thread panicked")).collect()
    });
    // The end: every worker ended its flows and ran its timers (in its
    // thread); the last alerts of all workers and the held ones in canonical order.
    let mut tail = Vec::new();
    for p in &mut pipes {
        p.take_alerts(&mut tail);
    }
    tail.sort_by(canonical_order);
    if merger.failed.is_none() {
        let res =
            tail.into_iter().try_for_each(|a| merger.hold.push(a, out)).and_then(|()| merger.hold.release_all(out));
        if let Err(e) = res {
            merger.failed = Some(e);
        }
    }
    if let Some(p) = pipes.first_mut() {
        p.add_held_released_early(merger.hold.released_early);
    }
    if let Some(e) = merger.failed {
        ended = Ended::OutputFailed(Some(e));
    }
    (ended, pipes)
}
