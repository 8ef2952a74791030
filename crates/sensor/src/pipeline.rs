//! One engine and (optionally) one detector with the sinks that ride along:
//! the per-frame step every run is made of.

use crate::hold::Hold;
use s7sentry_engine::rules::{Alert, Detector};
use s7sentry_engine::{Engine, EngineConfig, Event, EventSink, Frame, Stats, Ts};

/// Layers counted in [`Pipeline::findings`], in index order (the values of `s7sentry_proto::Layer`).
pub const LAYERS: [&str; 7] = ["link", "ip", "tcp", "tpkt", "cotp", "s7comm", "s7comm-plus"];

/// Order of alerts raised by the same frame (or at the end of the input):
/// timers may fire for several PLCs at once, and their order must depend
/// neither on hash-map iteration nor on which worker held which PLC.
pub fn canonical_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    (a.ts, a.frame, a.rule, a.src, a.sport, a.dst, a.dport, &a.message)
        .cmp(&(b.ts, b.frame, b.rule, b.src, b.sport, b.dst, b.dport, &b.message))
}

/// Where alerts go, on the thread that reads the source, in canonical order
/// (see [`canonical_order`]), and what else a run does there.
pub trait Output {
    /// Deliver one alert. An error ends the run ([`crate::Ended::OutputFailed`]).
    fn alert(&mut self, a: &Alert) -> std::io::Result<()>;
    /// Whether the run must stop now (SIGTERM, Ctrl-C). Checked between packets.
    fn stop_requested(&self) -> bool {
        false
    }
    /// Every 65 536 packets read: packets and captured bytes read so far (a progress line).
    fn progress(&mut self, _packets: u64, _bytes: u64) {}
    /// Live runs only: wall-clock housekeeping on the reading thread, about once a
    /// second and while the source is idle (capture statistics, flushing, health).
    fn periodic(&mut self) {}
}

/// Collects the alerts (tests, in-process replays).
impl Output for Vec<Alert> {
    fn alert(&mut self, a: &Alert) -> std::io::Result<()> {
        self.push(a.clone());
        Ok(())
    }
}

/// An event sink that rides along with the engine and the detector (metrics,
/// a decode writer, a fuzz checker).
pub trait Extra: EventSink {
    /// Live runs: called about once a second of wall-clock time by the thread
    /// that owns the pipeline, with its engine and detector (metrics, inventory saves).
    fn periodic(&mut self, _engine: &Engine, _det: Option<&mut Detector>) {}
    /// Whether this sink failed for good (a closed output): the run stops.
    fn failed(&self) -> bool {
        false
    }
}

/// No extra sink.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExtra;

impl EventSink for NoExtra {
    #[inline]
    fn on_event(&mut self, _e: &Event<'_>) {}
}

impl Extra for NoExtra {}

impl<W: std::io::Write> Extra for s7sentry_engine::record::DecodeWriter<W> {
    fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// What the engine's events go through: the findings count, the extra sink, the detector.
struct Core<S> {
    findings: [u64; 7],
    extra: S,
    det: Option<Detector>,
}

impl<S: EventSink> EventSink for Core<S> {
    #[inline]
    fn on_event(&mut self, e: &Event<'_>) {
        match e {
            Event::Finding { finding, .. } => self.findings[finding.layer as usize] += 1,
            Event::IpFragment { .. } | Event::IpDefrag { .. } => self.findings[s7sentry_proto::Layer::Ip as usize] += 1,
            _ => {}
        }
        self.extra.on_event(e);
        if let Some(d) = self.det.as_mut() {
            d.on_event(e);
        }
    }
}

/// An engine, an optional detector and an extra sink: processes one frame at a
/// time and hands the alerts to an [`Output`] in canonical order: held until
/// no later alert can come before them (follow-ups of aggregated repeats carry
/// their last occurrence; see [`crate::hold`]), or each frame's at once when
/// holding is off (live runs, [`Pipeline::set_holding`]).
///
/// Owns the per-flow state (the engine's flow table and reassembly buffers) and
/// the detection state (the detector's per-flow, per-PLC and aggregation
/// tables, and the fleet while asset tracking is on) for as long as it lives.
pub struct Pipeline<S> {
    engine: Engine,
    core: Core<S>,
    /// Alerts of the current frame, sorted before delivery (kept for its capacity).
    batch: Vec<Alert>,
    /// Alerts waiting for the floor ([`Pipeline::alert_floor`]) to pass them.
    hold: Hold,
    /// Whether alerts are held (replays) or delivered at once (live).
    holding: bool,
}

impl<S: Extra> Pipeline<S> {
    /// A pipeline with a fresh engine of `cfg`, the detector `det` (none: decoding only) and `extra`.
    pub fn new(cfg: EngineConfig, det: Option<Detector>, extra: S) -> Pipeline<S> {
        Pipeline {
            engine: Engine::new(cfg),
            core: Core { findings: [0; 7], extra, det },
            batch: Vec::new(),
            hold: Hold::default(),
            holding: true,
        }
    }

    /// Hold alerts until no earlier one can come (on, the default: replays
    /// give alerts in packet-time order), or deliver each frame's at once (off:
    /// live runs, where an analyst must not wait up to `aggregate_seconds` for
    /// a STOP alert). Set before the first frame.
    pub fn set_holding(&mut self, on: bool) {
        self.holding = on;
    }

    /// Process one frame; the alerts that are due go to `out` in canonical order.
    #[inline]
    pub fn process(&mut self, fr: &Frame<'_>, out: &mut dyn Output) -> std::io::Result<()> {
        self.engine.process(fr, &mut self.core);
        if self.has_alerts() || !self.hold.is_empty() {
            return self.deliver(out, false);
        }
        Ok(())
    }

    /// Advance time for a frame another pipeline processes (sharded runs):
    /// idle sweeps and timers run as if this pipeline had processed it.
    /// Alerts stay in the detector (see [`Pipeline::take_alerts`]).
    #[inline]
    pub fn advance(&mut self, fr: &Frame<'_>) {
        self.engine.advance(fr, &mut self.core);
    }

    /// Process one frame and leave its alerts in the detector (sharded workers).
    #[inline]
    pub fn process_only(&mut self, fr: &Frame<'_>) {
        self.engine.process(fr, &mut self.core);
    }

    /// Live runs, link idle: packet time advances to `ts` (wall clock minus
    /// the capture's delivery lag) for the detector's timers. The engine's idle
    /// sweep waits for the next packet, as in a replay.
    pub fn idle_tick(&mut self, ts: Ts, out: &mut dyn Output) -> std::io::Result<()> {
        self.idle_tick_only(ts);
        self.deliver(out, false)
    }

    /// [`Pipeline::idle_tick`] leaving the alerts in the detector (sharded workers).
    pub fn idle_tick_only(&mut self, ts: Ts) {
        if let Some(d) = self.core.det.as_mut() {
            if ts > d.now() {
                d.on_event(&Event::Tick { ts, frame: 0 });
            }
        }
    }

    /// End of input: end every flow, run every pending timer, flush every
    /// aggregation window; the alerts (and every held one) go to `out` in canonical order.
    pub fn finish(&mut self, out: &mut dyn Output) -> std::io::Result<()> {
        self.finish_only();
        self.deliver(out, true)
    }

    /// [`Pipeline::finish`] leaving the alerts in the detector (sharded workers).
    pub fn finish_only(&mut self) {
        self.engine.finish(&mut self.core);
        if let Some(d) = self.core.det.as_mut() {
            d.finish();
        }
    }

    /// Whether alerts are waiting in the detector.
    #[inline]
    pub fn has_alerts(&self) -> bool {
        self.core.det.as_ref().is_some_and(Detector::has_alerts)
    }

    /// Move the waiting alerts into `into` (unsorted).
    pub fn take_alerts(&mut self, into: &mut Vec<Alert>) {
        if let Some(d) = self.core.det.as_mut() {
            into.extend(d.drain());
        }
    }

    /// Sort the waiting alerts and hand them to `out`, through the hold when
    /// holding (out of line: most frames raise none). `end`: release everything.
    #[inline(never)]
    fn deliver(&mut self, out: &mut dyn Output, end: bool) -> std::io::Result<()> {
        let mut batch = std::mem::take(&mut self.batch);
        self.take_alerts(&mut batch);
        batch.sort_by(canonical_order);
        let mut res = Ok(());
        if self.holding {
            for a in batch.drain(..) {
                res = self.hold.push(a, out);
                if res.is_err() {
                    break;
                }
            }
            if res.is_ok() {
                res = if end || self.core.det.is_none() {
                    self.hold.release_all(out)
                } else {
                    let floor = self.alert_floor();
                    self.hold.release(floor, out)
                };
            }
        } else {
            for a in &batch {
                res = out.alert(a);
                if res.is_err() {
                    break;
                }
            }
        }
        batch.clear();
        self.batch = batch;
        res
    }

    /// The earliest (ts, frame) an alert raised from now on can carry, other
    /// than the current packet's: the smaller of the detector's floor
    /// ([`Detector::alert_floor`]: aggregation windows, operations waiting
    /// for answers, ...) and the engine's ([`Engine::alert_floor`]: IP
    /// datagrams that may be reported incomplete at the end, TCP segments
    /// held out of order and decoded later under their own frames);
    /// [`crate::hold::NO_FLOOR`] without a detector. Both are cached: O(1)
    /// per frame while nothing waits.
    #[inline]
    pub fn alert_floor(&mut self) -> (Ts, u64) {
        let Some(d) = self.core.det.as_mut() else { return crate::hold::NO_FLOOR };
        let det = d.alert_floor();
        match self.engine.alert_floor() {
            Some(e) => det.min(e),
            None => det,
        }
    }

    /// Alerts released before their turn because the hold was full (the
    /// detector cap `held_alerts`).
    pub fn held_released_early(&self) -> u64 {
        self.hold.released_early
    }

    /// Count `n` more alerts released early (a sharded run's reader holds for its workers).
    pub(crate) fn add_held_released_early(&mut self, n: u64) {
        self.hold.released_early += n;
    }

    /// Wall-clock housekeeping of the extra sink (live runs).
    pub fn periodic(&mut self) {
        self.core.extra.periodic(&self.engine, self.core.det.as_mut());
    }

    /// Whether the extra sink failed for good.
    #[inline]
    pub fn failed(&self) -> bool {
        self.core.extra.failed()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine's counters.
    pub fn stats(&self) -> &Stats {
        self.engine.stats()
    }

    /// The detector, when there is one.
    pub fn detector(&self) -> Option<&Detector> {
        self.core.det.as_ref()
    }

    /// The detector, mutably.
    pub fn detector_mut(&mut self) -> Option<&mut Detector> {
        self.core.det.as_mut()
    }

    /// Take the detector out (the pipeline decodes only from then on).
    pub fn take_detector(&mut self) -> Option<Detector> {
        self.core.det.take()
    }

    /// The extra sink.
    pub fn extra(&self) -> &S {
        &self.core.extra
    }

    /// The extra sink, mutably.
    pub fn extra_mut(&mut self) -> &mut S {
        &mut self.core.extra
    }

    /// The detector and the extra sink together (e.g. metrics reading the detector).
    pub fn parts_mut(&mut self) -> (&Engine, Option<&mut Detector>, &mut S) {
        (&self.engine, self.core.det.as_mut(), &mut self.core.extra)
    }

    /// Findings and IP fragments by layer (index order of [`LAYERS`]).
    pub fn findings(&self) -> &[u64; 7] {
        &self.core.findings
    }

    /// Alerts raised per rule (catalogue order); zeros without a detector.
    pub fn counts(&self) -> Vec<u64> {
        match self.core.det.as_ref() {
            Some(d) => d.counts.clone(),
            None => vec![0; s7sentry_engine::rules::catalog::RULES.len()],
        }
    }

    /// Consume the pipeline, returning the extra sink.
    pub fn into_extra(self) -> S {
        self.core.extra
    }
}

/// Counters of a run, summed over files and workers (the summary).
#[derive(Debug, Clone)]
pub struct Totals {
    /// Engine counters.
    pub stats: Stats,
    /// Findings by layer (index order of [`LAYERS`]).
    pub findings: [u64; 7],
    /// Alerts per rule (catalogue order).
    pub counts: Vec<u64>,
    /// Alerts suppressed by a `[[policy]]` entry, per rule (catalogue order).
    pub suppressed: Vec<u64>,
    /// Alerts graded `info` as a learned quirk of their talker, per rule.
    pub quirk_graded: Vec<u64>,
    /// Detector caps hit.
    pub detector_caps: s7sentry_engine::rules::CapCounters,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            stats: Stats::default(),
            findings: [0; 7],
            counts: vec![0; s7sentry_engine::rules::catalog::RULES.len()],
            suppressed: vec![0; s7sentry_engine::rules::catalog::RULES.len()],
            quirk_graded: vec![0; s7sentry_engine::rules::catalog::RULES.len()],
            detector_caps: Default::default(),
        }
    }
}

impl Totals {
    /// Add a pipeline's counters.
    pub fn add<S: Extra>(&mut self, p: &Pipeline<S>) {
        self.stats.merge(p.stats());
        add_into(&mut self.findings, p.findings());
        if let Some(d) = p.detector() {
            add_into(&mut self.counts, &d.counts);
            add_into(&mut self.suppressed, &d.policy.suppressed);
            add_into(&mut self.quirk_graded, &d.policy.quirk_graded);
            let mut caps = d.caps();
            caps[s7sentry_engine::rules::Cap::HeldAlerts] += p.held_released_early();
            self.detector_caps.merge(&caps);
        }
    }

    /// Add another total.
    pub fn merge(&mut self, o: &Totals) {
        self.stats.merge(&o.stats);
        add_into(&mut self.findings, &o.findings);
        add_into(&mut self.counts, &o.counts);
        add_into(&mut self.suppressed, &o.suppressed);
        add_into(&mut self.quirk_graded, &o.quirk_graded);
        self.detector_caps.merge(&o.detector_caps);
    }
}

fn add_into(total: &mut [u64], part: &[u64]) {
    for (t, v) in total.iter_mut().zip(part) {
        *t += v;
    }
}
