//! `s7sentry replay`: run the detection engine over capture files.

use crate::{inventory, settings, ReplayArgs, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE};
use s7sentry_capture::PacketSource;
use s7sentry_engine::rules::{catalog::RULES, Alert, Detector, Severity};
use s7sentry_engine::{Engine, EngineConfig, Event, EventSink, Stats};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Counts what the summary reports, then hands every event to the detector.
pub(crate) struct Tee<'a> {
    pub(crate) det: &'a mut Detector,
    pub(crate) findings: [u64; 7],
}

impl<'a> Tee<'a> {
    pub(crate) fn new(det: &'a mut Detector) -> Tee<'a> {
        Tee { det, findings: [0; 7] }
    }
}

/// Order of alerts raised by the same packet (or at the end of a capture):
/// timers may fire for several PLCs at once, and their order must not depend
/// on hash-map iteration or on which worker held which PLC.
pub(crate) fn canonical_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    (a.ts, a.frame, a.rule, a.src, a.sport, a.dst, a.dport, &a.message)
        .cmp(&(b.ts, b.frame, b.rule, b.src, b.sport, b.dst, b.dport, &b.message))
}

impl EventSink for Tee<'_> {
    fn on_event(&mut self, e: &Event<'_>) {
        match e {
            Event::Finding { finding, .. } => self.findings[finding.layer as usize] += 1,
            Event::IpFragment { .. } | Event::IpDefrag { .. } => self.findings[s7sentry_proto::Layer::Ip as usize] += 1,
            _ => {}
        }
        self.det.on_event(e);
    }
}

const LAYERS: [&str; 7] = ["link", "ip", "tcp", "tpkt", "cotp", "s7comm", "s7comm-plus"];

fn write_alerts(
    out: &mut dyn Write,
    det: &mut Detector,
    worst: &mut Option<Severity>,
    n: &mut u64,
) -> std::io::Result<()> {
    let mut v: Vec<Alert> = det.drain().collect();
    v.sort_by(canonical_order);
    for a in v {
        write_alert(out, &a)?;
        *n += 1;
        if worst.is_none_or(|w| a.severity > w) {
            *worst = Some(a.severity);
        }
    }
    Ok(())
}

fn write_alert(out: &mut dyn Write, a: &Alert) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, a).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

/// The progress line on a terminal: packets read and the share of the file.
fn show_progress(path: &std::path::Path, packets: u64, read_bytes: u64, size: u64) {
    let pct = (read_bytes * 100).checked_div(size).unwrap_or(0).min(100);
    eprint!("\r{}: {packets} packets ({pct}%)   ", path.display());
}

/// Add per-layer or per-rule counters of one file (or worker) to the totals.
pub(crate) fn add_into(total: &mut [u64], part: &[u64]) {
    for (t, v) in total.iter_mut().zip(part) {
        *t += v;
    }
}

/// Save the inventory after a file: `saved` gets (devices, milliseconds) for the
/// summary; a failure is reported and raises `status`.
fn save(x: &mut inventory::Assets, det: &mut Detector, saved: &mut Option<(usize, f64)>, status: &mut u8) {
    match x.save(det) {
        Ok(Some(st)) => {
            let n = x.fleet(det).map_or(0, |f| f.devices.len());
            *saved = Some((n, st.elapsed.as_secs_f64() * 1e3));
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("s7sentry: cannot save the inventory: {e}");
            *status = (*status).max(EXIT_PARTIAL);
        }
    }
}

/// Run `replay`; returns the exit status.
pub fn run(a: &ReplayArgs) -> u8 {
    let cfg = match settings::load(&a.detection) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let mut out: Box<dyn Write> = match a.alerts.as_deref() {
        None | Some("-") => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
        Some(p) => match File::create(p) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                eprintln!("s7sentry: --alerts {p}: {e}");
                return EXIT_USAGE;
            }
        },
    };
    // The inventory: loaded from --state, handed from file to file, saved after each.
    let mut assets = match inventory::Assets::open(&a.state, false) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    // With a state file, Ctrl-C stops after saving it.
    let interrupt = assets.as_ref().and_then(|x| x.path()).map(|_| inventory::interrupt_flag());
    let mut interrupted = false;
    let mut saved: Option<(usize, f64)> = None;
    let progress = std::io::stderr().is_terminal() && !a.quiet;
    let mut status = EXIT_OK;
    let mut total = Stats::default();
    let mut findings = [0u64; 7];
    let mut counts = vec![0u64; RULES.len()];
    let mut alerts = 0u64;
    let mut unreadable = 0u64;
    let mut worst: Option<Severity> = None;
    let started = Instant::now();
    for path in &a.files {
        if interrupted {
            break;
        }
        let Some(mut src) = crate::input::open(path, &mut status) else { continue };
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if usize::from(a.threads) > 1 {
            let mut write_err = None;
            let mut emit = |al: &Alert| {
                if let Err(e) = write_alert(&mut out, al) {
                    write_err = Some(e);
                    return false;
                }
                alerts += 1;
                if worst.is_none_or(|w| al.severity > w) {
                    worst = Some(al.severity);
                }
                true
            };
            let mut last_progress = Instant::now();
            let mut show = |n: u64, read_bytes: u64| {
                if progress && last_progress.elapsed().as_millis() > 250 {
                    last_progress = Instant::now();
                    show_progress(path, n, read_bytes, size);
                }
            };
            let tracking = assets.as_mut().and_then(|x| x.take_for_shards());
            let name = path.display().to_string();
            let run = crate::shard::Run {
                source: &name,
                det_cfg: &cfg,
                workers: usize::from(a.threads),
                tracking,
                interrupt: interrupt.as_deref(),
            };
            let r = crate::shard::replay_file(&mut src, run, &mut emit, &mut show);
            if interrupt.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
                interrupted = true;
            }
            if let Some(e) = write_err {
                eprintln!("s7sentry: cannot write alerts: {e}");
                return EXIT_PARTIAL;
            }
            if let Some(e) = r.unreadable {
                eprintln!("s7sentry: {e}");
                unreadable += 1;
                status = status.max(EXIT_PARTIAL);
            }
            add_into(&mut findings, &r.findings);
            add_into(&mut counts, &r.counts);
            total.merge(&r.stats);
            if let (Some(x), Some(fleet)) = (assets.as_mut(), r.fleet) {
                x.park(fleet);
                save(x, &mut Detector::new(cfg.clone()), &mut saved, &mut status);
            }
            if progress {
                eprint!("\r\x1b[K");
            }
            continue;
        }
        let mut engine = Engine::new(EngineConfig::default());
        let mut det = Detector::new(cfg.clone());
        det.set_source(&path.display().to_string());
        if let Some(x) = assets.as_mut() {
            x.attach(&mut det);
        }
        let mut tee = Tee::new(&mut det);
        let mut read_bytes = 0u64;
        let mut last_progress = Instant::now();
        loop {
            match src.next_packet() {
                Ok(Some(p)) => {
                    if interrupt.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
                        interrupted = true;
                        break;
                    }
                    read_bytes += p.data.len() as u64 + 16;
                    let f = crate::input::frame(&p);
                    engine.process(&f, &mut tee);
                    if tee.det.has_alerts() {
                        if let Err(e) = write_alerts(&mut out, tee.det, &mut worst, &mut alerts) {
                            eprintln!("s7sentry: cannot write alerts: {e}");
                            return EXIT_PARTIAL;
                        }
                    }
                    if progress && p.frame % 65536 == 0 && last_progress.elapsed().as_millis() > 250 {
                        last_progress = Instant::now();
                        show_progress(path, p.frame, read_bytes, size);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("s7sentry: {e}");
                    unreadable += 1;
                    status = status.max(EXIT_PARTIAL);
                    break;
                }
            }
        }
        engine.finish(&mut tee);
        tee.det.finish();
        add_into(&mut findings, &tee.findings);
        if let Err(e) = write_alerts(&mut out, &mut det, &mut worst, &mut alerts) {
            eprintln!("s7sentry: cannot write alerts: {e}");
            return EXIT_PARTIAL;
        }
        add_into(&mut counts, &det.counts);
        if let Some(x) = assets.as_mut() {
            save(x, &mut det, &mut saved, &mut status);
            x.detach(&mut det);
        }
        total.merge(engine.stats());
        if progress {
            eprint!("\r\x1b[K");
        }
    }
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("s7sentry: cannot write alerts: {e}");
            status = status.max(EXIT_PARTIAL);
        }
    }
    if !a.quiet {
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        eprintln!("s7sentry replay summary");
        eprintln!(
            "  packets {}  bytes {}  elapsed {:.3} s  {:.0} packets/s",
            total.packets,
            total.bytes,
            secs,
            total.packets as f64 / secs
        );
        eprintln!(
            "  PDUs: s7comm {}  s7comm-plus {}  tls {}  (tpkt {}, iso-on-tcp segments {}, flows {})",
            total.s7comm_pdus,
            total.s7plus_frames,
            total.tls_payloads,
            total.tpkts,
            total.iso_segments,
            total.flows_created
        );
        let f: Vec<String> =
            findings.iter().enumerate().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{} {v}", LAYERS[k])).collect();
        eprintln!("  findings by layer: {}", if f.is_empty() { "none".into() } else { f.join(", ") });
        eprintln!(
            "  capture: unreadable records {unreadable}  gaps {} ({} bytes)  ip fragments {}  flows evicted {}",
            total.gaps, total.gap_bytes, total.ip_fragments, total.flows_evicted
        );
        if let (Some((n, ms)), Some(p)) = (saved, assets.as_ref().and_then(|x| x.path())) {
            eprintln!("  inventory: {n} devices saved to {} ({ms:.0} ms)", p.display());
        }
        eprintln!("  alerts {alerts}");
        for (k, v) in counts.iter().enumerate().filter(|(_, v)| **v > 0) {
            eprintln!("    {:<42} {v}", RULES[k].id);
        }
    }
    if interrupted {
        let what = if saved.is_some() { "; the inventory state was saved" } else { "" };
        eprintln!("s7sentry: interrupted{what}");
        status = status.max(EXIT_PARTIAL);
    }
    if let (Some(th), Some(w)) = (a.fail_on, worst) {
        if w >= th.into() && status == EXIT_OK {
            return EXIT_PARTIAL;
        }
    }
    status
}
