//! `s7sentry live`: the SPAN-port sensor.
//!
//! Threads: the capture loop (libpcap, engine, detector, metrics counting) on
//! the main thread; a small tokio runtime serving `/metrics` and `/healthz`
//! and turning SIGTERM/SIGINT/SIGHUP into flags the loop polls.

use crate::inventory::{self, Assets};
use crate::{settings, LiveArgs, EXIT_OK, EXIT_USAGE};
use s7sentry_capture::live::{LiveOptions, LiveSource, LiveStats, Polled};
use s7sentry_engine::rules::Detector;
use s7sentry_engine::{Engine, EngineConfig, Event, EventSink, Frame, Ts};
use s7sentry_export::http::{router, Health};
use s7sentry_export::sinks::{JsonSink, Syslog};
use s7sentry_export::{Metrics, MetricsSink};
use s7sentry_inventory::report::Correlator;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default HTTP listen address: loopback, port 19102. The exporter range 9100-9999 of
/// Prometheus' default port allocations is taken; 19102 is outside it and outside the
/// list's "outside the standard range" section, not in /etc/services, and below the
/// Linux ephemeral range.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:19102";

/// Exit status when the capture cannot be opened or the port cannot be bound.
const EXIT_RUNTIME: u8 = 3;

struct Tee<'a> {
    metrics: &'a mut MetricsSink,
    det: &'a mut Detector,
}

impl EventSink for Tee<'_> {
    fn on_event(&mut self, e: &Event<'_>) {
        self.metrics.on_event(e);
        self.det.on_event(e);
    }
}

struct Outputs {
    json: JsonSink,
    syslog: Option<Syslog>,
    syslog_errors: u64,
}

impl Outputs {
    fn emit(&mut self, det: &mut Detector, metrics: &Metrics) {
        for a in det.drain() {
            metrics.alert(&a);
            if let Err(e) = self.json.write(&a) {
                tracing::error!("cannot write alert: {e}");
            }
            if let Some(s) = &self.syslog {
                if let Err(e) = s.send(&a) {
                    self.syslog_errors += 1;
                    if self.syslog_errors == 1 || self.syslog_errors.is_power_of_two() {
                        tracing::warn!("syslog send failed ({} times): {e}", self.syslog_errors);
                    }
                }
            }
        }
    }
}

fn now_ts() -> Ts {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ts::new(d.as_secs() as i64, d.subsec_nanos())
}

/// The inventory side of the capture loop: periodic saves and metrics.
struct Inventory {
    assets: Assets,
    correlator: Correlator,
    interval: Duration,
    last_save: Instant,
    errors: u64,
}

impl Inventory {
    /// Save when due and changed (or when `force`), then publish the inventory metrics.
    /// Returns whether the state was written.
    fn tick(&mut self, det: &mut Detector, msink: &mut MetricsSink, force: bool) -> bool {
        if !force && self.last_save.elapsed() < self.interval {
            return false;
        }
        self.last_save = Instant::now();
        if !force && !self.assets.dirty(det) {
            return false;
        }
        let mut written = false;
        match self.assets.save(det) {
            Ok(Some(st)) => {
                written = true;
                tracing::debug!(rows = st.rows, ms = st.elapsed.as_millis() as u64, "inventory saved");
            }
            Ok(None) => {}
            Err(e) => {
                self.errors += 1;
                if self.errors == 1 || self.errors.is_power_of_two() {
                    eprintln!("s7sentry: cannot save the inventory ({} times): {e}", self.errors);
                }
            }
        }
        self.publish(det, msink);
        written
    }

    fn publish(&mut self, det: &Detector, msink: &mut MetricsSink) {
        if let Some(fleet) = self.assets.fleet(det) {
            let vulnerable = inventory::vulnerable(fleet, &mut self.correlator);
            msink.set_inventory(fleet, &vulnerable);
        }
    }
}

/// Keep only the capabilities a capture needs (to reopen after an interface
/// goes down): CAP_NET_RAW and CAP_NET_ADMIN. Everything else is dropped from
/// the effective, permitted, inheritable, ambient and bounding sets.
fn drop_privileges() {
    use caps::{CapSet, Capability, CapsHashSet};
    let keep: CapsHashSet = [Capability::CAP_NET_RAW, Capability::CAP_NET_ADMIN].into_iter().collect();
    let _ = caps::clear(None, CapSet::Ambient);
    let _ = caps::clear(None, CapSet::Inheritable);
    if let Ok(all) = caps::read(None, CapSet::Bounding) {
        for c in all.difference(&keep) {
            let _ = caps::drop(None, CapSet::Bounding, *c);
        }
    }
    if let Ok(p) = caps::read(None, CapSet::Permitted) {
        let k: CapsHashSet = p.intersection(&keep).copied().collect();
        let _ = caps::set(None, CapSet::Effective, &k);
        let _ = caps::set(None, CapSet::Permitted, &k);
    }
}

/// Run `live`; returns the exit status.
pub fn run(a: &LiveArgs) -> u8 {
    let cfg = match settings::load(&a.detection) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    // The inventory state and advisories: configuration-like errors, exit 2.
    let assets = match Assets::open(&a.state, a.csaf.is_some()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let correlator = match inventory::load_csaf(a.csaf.as_deref()) {
        Ok((c, _)) => c,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let mut inv = assets.map(|assets| Inventory {
        assets,
        correlator,
        interval: Duration::from_secs(a.save_interval),
        last_save: Instant::now(),
        errors: 0,
    });
    let l = &cfg.live;
    let Some(interface) = a.interface.clone().or_else(|| l.interface.clone()) else {
        eprintln!(
            "s7sentry: live needs an interface: --interface IFACE (or interface = \"...\" under [live] in the config)"
        );
        return EXIT_USAGE;
    };
    let listen = a.listen.clone().or_else(|| l.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let alerts_spec = a.alerts.clone().or_else(|| l.alerts.clone()).unwrap_or_else(|| "-".to_string());
    let syslog_spec = a.syslog.clone().or_else(|| l.syslog.clone());
    let buffer_mb = a.buffer_mb.or(l.buffer_mb).unwrap_or(32);
    let bpf = a.bpf.clone().or_else(|| l.bpf.clone());

    // 1. The HTTP port: bind first so a clash is reported before anything else starts.
    let listener = match std::net::TcpListener::bind(&listen) {
        Ok(s) => s,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                "address already in use: another s7sentry or service holds it; choose another with --listen ADDR:PORT"
            } else {
                "choose another with --listen ADDR:PORT"
            };
            eprintln!("s7sentry: cannot listen on {listen}: {e} ({hint})");
            return EXIT_RUNTIME;
        }
    };
    let _ = listener.set_nonblocking(true);
    // 2. The capture.
    let opts = LiveOptions { interface: interface.clone(), bpf, buffer_bytes: (buffer_mb.min(2047) as i32) << 20 };
    let mut src = match LiveSource::open(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_RUNTIME;
        }
    };
    // 3. Outputs.
    let json = match JsonSink::open(&alerts_spec) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("s7sentry: --alerts {alerts_spec}: {e}");
            return EXIT_USAGE;
        }
    };
    let syslog = match syslog_spec.as_deref().map(Syslog::open).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    drop_privileges();
    tracing::info!(interface = %interface, filter = %src.filter(), listen = %listen, "s7sentry live started");
    eprintln!("s7sentry: capturing on {interface} (filter: {}); metrics on http://{listen}/metrics", src.filter());

    // 4. HTTP server and signals on a small tokio runtime.
    let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
    let health = Arc::new(Health::default());
    health.beat();
    let shutdown = Arc::new(AtomicBool::new(false));
    let reopen = Arc::new(AtomicBool::new(false));
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("s7sentry: cannot start the HTTP runtime: {e}");
            return EXIT_RUNTIME;
        }
    };
    {
        let app = router(metrics.clone(), health.clone());
        let sd = shutdown.clone();
        rt.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    let _ = axum::serve(l, app)
                        .with_graceful_shutdown(async move {
                            while !sd.load(Ordering::Relaxed) {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        })
                        .await;
                }
                Err(e) => tracing::error!("HTTP listener: {e}"),
            }
        });
        let (sd, ro) = (shutdown.clone(), reopen.clone());
        rt.spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
                (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
            else {
                return;
            };
            loop {
                tokio::select! {
                    _ = term.recv() => { sd.store(true, Ordering::Relaxed); }
                    _ = int.recv() => { sd.store(true, Ordering::Relaxed); }
                    _ = hup.recv() => { ro.store(true, Ordering::Relaxed); }
                }
            }
        });
    }

    // 5. The capture loop.
    // Configured single-host PLCs get their metric labels first.
    let known: Vec<IpAddr> = cfg.known_plcs.iter().filter_map(|c| c.single_host()).collect();
    let mut msink = MetricsSink::new(metrics.clone(), &known);
    let mut engine = Engine::new(EngineConfig::default());
    let mut det = Detector::new(cfg.clone());
    det.set_source(&interface);
    if let Some(i) = inv.as_mut() {
        i.assets.attach(&mut det);
        i.publish(&det, &mut msink);
    }
    let mut out = Outputs { json, syslog, syslog_errors: 0 };
    let mut last_flush = Instant::now();
    let mut last_tick = Instant::now();
    loop {
        if shutdown.load(Ordering::Relaxed) {
            break;
        }
        let mut idle = false;
        match src.poll() {
            Ok(Polled::Packet(p)) => {
                let f =
                    Frame { frame: p.frame, ts: Ts::new(p.ts.secs, p.ts.nanos), linktype: p.linktype.0, data: p.data };
                engine.process(&f, &mut Tee { metrics: &mut msink, det: &mut det });
                if det.has_alerts() {
                    out.emit(&mut det, &metrics);
                }
            }
            Ok(Polled::Idle) => idle = true,
            Err(e) => {
                // The interface went away: report, keep serving metrics, retry.
                eprintln!("s7sentry: {e}; retrying every second");
                health.interface_down.store(true, Ordering::Relaxed);
                let last_stats: LiveStats = src.stats();
                let frames = src.frames();
                loop {
                    if shutdown.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    health.beat();
                    match LiveSource::open(&opts) {
                        Ok(mut s) => {
                            s.continue_from(frames, last_stats);
                            src = s;
                            health.interface_down.store(false, Ordering::Relaxed);
                            eprintln!("s7sentry: capturing on {interface} again");
                            break;
                        }
                        Err(e) => tracing::debug!("reopen failed: {e}"),
                    }
                }
                continue;
            }
        }
        if idle {
            if last_tick.elapsed() >= Duration::from_millis(100) {
                // Timers advance with wall-clock time while the link is quiet.
                last_tick = Instant::now();
                det.on_event(&Event::Tick { ts: now_ts(), frame: 0 });
                if det.has_alerts() {
                    out.emit(&mut det, &metrics);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if last_flush.elapsed() >= Duration::from_secs(1) {
            last_flush = Instant::now();
            let st = src.stats();
            metrics.capture_stats(st.received, st.dropped, st.if_dropped);
            msink.flush(engine.stats(), engine.active_flows(), engine.buffered_bytes(), &mut det);
            if let Some(i) = inv.as_mut() {
                let _ = i.tick(&mut det, &mut msink, false);
            }
            let _ = out.json.flush();
            health.beat();
            if reopen.swap(false, Ordering::Relaxed) {
                if let Err(e) = out.json.reopen() {
                    eprintln!("s7sentry: cannot reopen the alert file: {e}");
                }
            }
        }
    }
    // Shutdown: end every flow, evaluate timers, write and flush every alert.
    engine.finish(&mut Tee { metrics: &mut msink, det: &mut det });
    det.finish();
    out.emit(&mut det, &metrics);
    let _ = out.json.flush();
    let st = src.stats();
    metrics.capture_stats(st.received, st.dropped, st.if_dropped);
    msink.flush(engine.stats(), engine.active_flows(), engine.buffered_bytes(), &mut det);
    if let Some(i) = inv.as_mut() {
        let written = i.tick(&mut det, &mut msink, true);
        if let (true, Some(p), Some(f)) = (written, i.assets.path(), i.assets.fleet(&det)) {
            eprintln!("s7sentry: inventory of {} devices saved to {}", f.devices.len(), p.display());
        }
    }
    let s = engine.stats();
    eprintln!(
        "s7sentry: stopped; packets {} (libpcap received {}, dropped {} kernel / {} interface), PDUs s7comm {} s7comm-plus {}",
        s.packets, st.received, st.dropped, st.if_dropped, s.s7comm_pdus, s.s7plus_frames
    );
    rt.shutdown_timeout(Duration::from_millis(300));
    EXIT_OK
}
