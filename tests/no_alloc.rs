//! No heap allocation per packet in the steady state, through the sensor
//! pipeline's per-frame step (`s7sentry_sensor::Pipeline::process`, the one
//! `replay` and `live` run): decoding (engine plus a sink that reads every
//! decoded field) and detection (engine plus `rules::Detector`, alerts
//! delivered in canonical order).
//!
//! Method. A counting `#[global_allocator]` wraps `System`; it counts only
//! while the current thread's switch is on, and the switch is on only around
//! `Pipeline::process` calls of the measured frames, so the test harness, the capture
//! loading and the bookkeeping below are never counted (and tests running in
//! parallel threads do not disturb each other).
//!
//! Steady state means: later packets of connections that already exist. Each
//! capture is loaded into memory (`MemorySource`); the first 20 % of its
//! frames warm the engine up (flows, reassembly buffers, per-flow and per-PLC
//! detector state get created) without counting. Of the remaining 80 %, a
//! frame is *steady* when its TCP connection was open at the end of the
//! warm-up and the frame carries no SYN, FIN or RST; the allocations of those
//! frames must be zero. Frames of connections opened later, handshakes and
//! closes are processed too (so the state stays right) and their allocations
//! are counted separately and printed for information: creating and ending a
//! flow may allocate.
//!
//! On failure the message names the first frames that allocated and groups
//! the allocations by site (the innermost `s7sentry` stack frame), with one
//! full backtrace per site (captured with counting switched off).
//!
//! Captures: the public libnodave bench capture (one connection, ~10 000 S7
//! PDUs), the public STEP 7 status-reading capture (userdata and SZL reads,
//! the requests the control rules used to build evidence for) and
//! `pcaps/benign_plant` (two HMI connections polling for 60 s, an
//! engineering-station visit in between). Neither raises an alert, which the
//! detector tests assert: alerts legitimately allocate (message text, evidence).
//! The detector runs twice: as the benchmark runs it (asset tracking off) and
//! with asset tracking on, where only a new device, talker or function may
//! allocate (during the warm-up here).

// A `GlobalAlloc` implementation is unsafe by definition; it only forwards to `System`.
#![allow(unsafe_code)]

mod common;

#[allow(dead_code)]
#[path = "../fuzz/harness.rs"]
mod harness;

use s7sentry_capture::{MemorySource, PacketSource};
use s7sentry_engine::rules::{Alert, DetectConfig, Detector};
use s7sentry_engine::{EngineConfig, Event, EventSink, Frame, Ts};
use s7sentry_sensor::{Extra, Pipeline};
use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------
// The counting allocator.

struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Most backtraces kept per thread (captured unresolved; resolved only for the report).
const MAX_TRACES: usize = 20_000;

thread_local! {
    /// Count allocations of this thread now.
    static ON: Cell<bool> = const { Cell::new(false) };
    /// Allocations counted on this thread.
    static COUNT: Cell<u64> = const { Cell::new(0) };
    /// Frame being processed (for the report).
    static FRAME: Cell<u64> = const { Cell::new(0) };
    /// First allocations: frame, size, backtrace.
    static TRACES: RefCell<Vec<(u64, usize, Backtrace)>> = const { RefCell::new(Vec::new()) };
}

fn note(size: usize) {
    let _ = ON.try_with(|on| {
        if !on.get() {
            return;
        }
        // Off while recording: the backtrace and the vector allocate themselves.
        on.set(false);
        COUNT.with(|c| c.set(c.get() + 1));
        TRACES.with(|t| {
            let mut t = t.borrow_mut();
            if t.len() < MAX_TRACES {
                t.push((FRAME.with(Cell::get), size, Backtrace::force_capture()));
            }
        });
        on.set(true);
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Run `f` with counting on; returns its result and the allocations it made.
fn counted<R>(frame: u64, f: impl FnOnce() -> R) -> (R, u64) {
    FRAME.with(|c| c.set(frame));
    let before = COUNT.with(Cell::get);
    ON.with(|on| on.set(true));
    let r = f();
    ON.with(|on| on.set(false));
    (r, COUNT.with(Cell::get) - before)
}

// ---------------------------------------------------------------------------
// Sinks.

/// A no-op sink that reads every decoded field (the fuzz harness's accessors).
#[derive(Default)]
struct Touch {
    acc: u64,
    s7: u64,
}

impl EventSink for Touch {
    fn on_event(&mut self, ev: &Event<'_>) {
        if matches!(ev, Event::S7 { .. } | Event::S7Plus { .. }) {
            self.s7 += 1;
        }
        self.acc = self.acc.wrapping_add(harness::touch_event(ev));
    }
}

impl Extra for Touch {}

/// Counts the PDUs the detector saw (it rides along with it).
#[derive(Default)]
struct Detect {
    s7: u64,
}

impl EventSink for Detect {
    fn on_event(&mut self, ev: &Event<'_>) {
        if matches!(ev, Event::S7 { .. } | Event::S7Plus { .. }) {
            self.s7 += 1;
        }
    }
}

impl Extra for Detect {}

// ---------------------------------------------------------------------------
// Frames and their connections.

struct Captured {
    linktype: i32,
    ts: Ts,
    data: Vec<u8>,
}

fn load(path: &Path) -> Vec<Captured> {
    let mut src = MemorySource::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut v = Vec::with_capacity(src.len());
    while let Some(p) = src.next_packet().expect("memory source") {
        let f = s7sentry_sensor::frame(&p);
        v.push(Captured { linktype: f.linktype, ts: f.ts, data: f.data.to_vec() });
    }
    v
}

/// A TCP connection: the two (address, port) ends, lower one first.
type ConnKey = ([u8; 4], u16, [u8; 4], u16);

/// Canonical TCP connection of an Ethernet (optionally VLAN-tagged) IPv4 frame and its flags.
fn connection(c: &Captured) -> Option<(ConnKey, u8)> {
    if c.linktype != 1 {
        return None;
    }
    let f = &c.data;
    let mut i = 12;
    while f.get(i..i + 2)? == [0x81, 0x00] {
        i += 4;
    }
    if f.get(i..i + 2)? != [0x08, 0x00] {
        return None;
    }
    let ip = f.get(i + 2..)?;
    if ip.len() < 20 || ip[9] != 6 {
        return None;
    }
    let t = ip.get(usize::from(ip[0] & 15) * 4..)?;
    if t.len() < 14 {
        return None;
    }
    let a = ([ip[12], ip[13], ip[14], ip[15]], u16::from_be_bytes([t[0], t[1]]));
    let b = ([ip[16], ip[17], ip[18], ip[19]], u16::from_be_bytes([t[2], t[3]]));
    let key = if a <= b { (a.0, a.1, b.0, b.1) } else { (b.0, b.1, a.0, a.1) };
    Some((key, t[13]))
}

const SYN_FIN_RST: u8 = 0x02 | 0x01 | 0x04;

/// Result of one run.
#[derive(Debug, Default)]
struct Report {
    frames: usize,
    steady_frames: usize,
    steady_allocs: u64,
    other_frames: usize,
    other_allocs: u64,
    pdus_measured: u64,
    /// Steady frames that allocated: (frame number, allocations).
    offenders: Vec<(u64, u64)>,
    /// Allocation sites of steady frames, grouped (see [`sites`]).
    sites: String,
}

/// Group the recorded allocations by their innermost `s7sentry` stack frame;
/// one full backtrace per site.
fn sites() -> String {
    let traces = TRACES.with(|t| std::mem::take(&mut *t.borrow_mut()));
    let mut by_site: Vec<(String, u64, String)> = Vec::new();
    for (frame, size, bt) in &traces {
        let text = bt.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let site = lines
            .iter()
            .position(|l| l.contains("s7sentry_"))
            .map(|i| {
                let at = lines.get(i + 1).filter(|l| l.trim_start().starts_with("at ")).map_or("", |l| l.trim());
                format!("{} {at}", lines[i].trim())
            })
            .unwrap_or_else(|| "(no s7sentry frame)".to_string());
        match by_site.iter_mut().find(|(s, _, _)| *s == site) {
            Some(e) => e.1 += 1,
            None => by_site.push((site, 1, format!("first at frame {frame} ({size} bytes):\n{text}"))),
        }
    }
    let mut out = String::new();
    for (site, n, first) in &by_site {
        out.push_str(&format!("=== {n} allocation(s) at {site}\n{first}\n"));
    }
    out
}

/// A sink that counts the S7 / S7comm-plus PDUs it received.
trait PduSink: Extra {
    fn pdus(&self) -> u64;
}

impl PduSink for Touch {
    fn pdus(&self) -> u64 {
        self.s7
    }
}

impl PduSink for Detect {
    fn pdus(&self) -> u64 {
        self.s7
    }
}

/// Warm up on the first 20 % of `frames`, then count allocations per frame.
fn run(frames: &[Captured], pipe: &mut Pipeline<impl PduSink>) -> Report {
    let mut alerts: Vec<Alert> = Vec::with_capacity(16);
    let warm = frames.len() / 5;
    let mut open = HashSet::new();
    let mut closed = HashSet::new();
    let mut rep = Report { frames: frames.len(), ..Report::default() };
    TRACES.with(|t| t.borrow_mut().clear());
    for (i, c) in frames.iter().enumerate() {
        let n = i as u64 + 1;
        let fr = Frame { frame: n, ts: c.ts, linktype: c.linktype, data: &c.data };
        let conn = connection(c);
        if i == warm {
            rep.pdus_measured = pipe.extra().pdus();
        }
        if i < warm {
            if let Some((k, flags)) = conn {
                if flags & (0x01 | 0x04) != 0 {
                    open.remove(&k);
                } else {
                    open.insert(k);
                }
            }
            pipe.process(&fr, &mut alerts).expect("alerts into memory");
            continue;
        }
        let steady = match conn {
            Some((k, flags)) => {
                let s = open.contains(&k) && !closed.contains(&k) && flags & SYN_FIN_RST == 0;
                if flags & SYN_FIN_RST != 0 {
                    closed.insert(k);
                }
                s
            }
            None => false,
        };
        let kept = TRACES.with(|t| t.borrow().len());
        let (r, a) = counted(n, || pipe.process(&fr, &mut alerts));
        r.expect("alerts into memory");
        if !steady {
            // Only steady frames' allocations are reported by site.
            TRACES.with(|t| t.borrow_mut().truncate(kept));
        }
        if steady {
            rep.steady_frames += 1;
            rep.steady_allocs += a;
            if a > 0 && rep.offenders.len() < 20 {
                rep.offenders.push((n, a));
            }
        } else {
            rep.other_frames += 1;
            rep.other_allocs += a;
        }
    }
    rep.pdus_measured = pipe.extra().pdus() - rep.pdus_measured;
    assert!(
        alerts.is_empty(),
        "the capture must raise no alert, got {:?}",
        alerts.iter().map(|a| a.rule).collect::<Vec<_>>()
    );
    rep.sites = sites();
    rep
}

fn libnodave() -> PathBuf {
    common::shared_dir().join("pcaps/public/wireshark-wiki__s7comm_varservice_libnodavedemo_bench.pcap")
}

/// STEP 7 reading a CPU's status: 71 userdata requests, 66 of them read SZL
/// (the requests the control rules used to build evidence for on every one);
/// raises no alert. Its SZL answers first carry the identity after the warm-up,
/// so with asset tracking on they legitimately allocate (new identity facts):
/// only the decoder and the detector without tracking are measured here.
fn plc_status() -> PathBuf {
    common::shared_dir().join("pcaps/public/wireshark-wiki__s7comm_reading_plc_status.pcap")
}

fn benign_plant() -> PathBuf {
    common::own_pcap("benign_plant/capture.pcap")
}

fn check(name: &str, rep: &Report, min_pdus: u64) {
    let pdus = rep.pdus_measured;
    eprintln!(
        "{name}: {} frames, {} steady frames measured ({} S7 PDUs seen in the measured part): {} allocations; \
         {} other frames (new connections, handshakes, closes): {} allocations",
        rep.frames, rep.steady_frames, pdus, rep.steady_allocs, rep.other_frames, rep.other_allocs
    );
    // The test must be able to fail: it really measured a steady state.
    assert!(pdus >= min_pdus, "{name}: only {pdus} PDUs in the measured part");
    assert!(rep.steady_frames * 2 >= rep.frames, "{name}: only {} steady frames", rep.steady_frames);
    assert!(
        rep.steady_allocs == 0,
        "{name}: {} allocations in {} steady frames; first offenders (frame, allocations): {:?}\n\
         allocation sites:\n{}",
        rep.steady_allocs,
        rep.steady_frames,
        rep.offenders,
        rep.sites
    );
}

fn decode(path: &Path, name: &str, min_pdus: u64) {
    let frames = load(path);
    let mut pipe = Pipeline::new(EngineConfig::default(), None, Touch::default());
    let rep = run(&frames, &mut pipe);
    std::hint::black_box(pipe.extra().acc);
    check(name, &rep, min_pdus);
}

fn detect(path: &Path, name: &str, min_pdus: u64) {
    detect_with(path, name, min_pdus, false);
}

fn detect_with(path: &Path, name: &str, min_pdus: u64, assets: bool) {
    let frames = load(path);
    let mut det = Detector::new(DetectConfig::default());
    if assets {
        det.enable_assets(s7sentry_engine::assets::Fleet::default());
    }
    let mut pipe = Pipeline::new(EngineConfig::default(), Some(det), Detect::default());
    let rep = run(&frames, &mut pipe);
    let det = pipe.detector_mut().expect("detector");
    let alerts: Vec<String> = det.drain().map(|a| format!("{} {}", a.rule, a.message)).collect();
    assert!(alerts.is_empty(), "{name}: the capture must raise no alert, got {alerts:?}");
    if assets {
        let f = det.fleet();
        assert!(f.plcs().any(|p| !p.talkers.is_empty()), "{name}: the tracker found no PLC with talkers");
    }
    check(name, &rep, min_pdus);
}

#[test]
fn decode_libnodave_bench_steady_state_allocates_nothing() {
    decode(&libnodave(), "decode libnodave_bench", 7_000);
}

#[test]
fn decode_benign_plant_steady_state_allocates_nothing() {
    decode(&benign_plant(), "decode benign_plant", 250);
}

#[test]
fn detect_libnodave_bench_steady_state_allocates_nothing() {
    detect(&libnodave(), "detect libnodave_bench", 7_000);
}

#[test]
fn detect_benign_plant_steady_state_allocates_nothing() {
    detect(&benign_plant(), "detect benign_plant", 250);
}

#[test]
fn detect_with_assets_libnodave_bench_steady_state_allocates_nothing() {
    detect_with(&libnodave(), "detect+assets libnodave_bench", 7_000, true);
}

#[test]
fn detect_with_assets_benign_plant_steady_state_allocates_nothing() {
    detect_with(&benign_plant(), "detect+assets benign_plant", 250, true);
}

#[test]
fn decode_userdata_and_szl_steady_state_allocates_nothing() {
    decode(&plc_status(), "decode reading_plc_status", 100);
}

#[test]
fn detect_userdata_and_szl_steady_state_allocates_nothing() {
    detect(&plc_status(), "detect reading_plc_status", 100);
}

/// The allocator really counts (a test that cannot fail is a defect).
#[test]
fn counting_allocator_sees_allocations() {
    let (v, a) = counted(0, || std::hint::black_box(vec![1u8; 100]));
    assert_eq!(v.len(), 100);
    assert!(a >= 1, "the counting allocator missed a Vec allocation");
    let ((), b) = counted(0, || std::hint::black_box(()));
    assert_eq!(b, 0);
}
