//! `s7sentry live`: the SPAN-port sensor.
//!
//! Threads: the capture loop (`s7sentry_sensor::run`, or with `--threads N`
//! one reading thread and N workers, `s7sentry_sensor::run_sharded`); a small
//! tokio runtime serving `/metrics` and `/healthz`; a signal thread turning
//! SIGTERM/SIGINT/SIGHUP into flags the loop polls (`crate::signals`).

use crate::input::{SharedTap, Tap};
use crate::output::Alerts;
use crate::privileges;
use crate::signals::Signals;
use crate::summary::Summary;
use crate::{inventory, settings, LiveArgs, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE};
use s7sentry_capture::live::{LiveOptions, LiveSource, LiveStats};
use s7sentry_capture::{CaptureError, Packet, PacketSource, Polled};
use s7sentry_engine::rules::{DetectConfig, Detector, DetectorSnapshot};
use s7sentry_engine::{Engine, EngineConfig, Event, EventSink};
use s7sentry_export::http::{router, Health};
use s7sentry_export::{Metrics, MetricsSink};
use s7sentry_inventory::report::Correlator;
use s7sentry_sensor::{run, run_sharded, worker_config, Assets, Ended, Extra, Pipeline, Totals};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default HTTP listen address: loopback, port 19102. The exporter range 9100-9999 of
/// Prometheus' default port allocations is taken; 19102 is outside it and outside the
/// list's "outside the standard range" section, not in /etc/services, and below the
/// Linux ephemeral range.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:19102";

/// Default kernel ring (MiB) when neither `--buffer-mb` nor `[live] buffer_mb` is given.
pub const DEFAULT_BUFFER_MB: u32 = 64;

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
        if !force && !self.assets.dirty(Some(det)) {
            return false;
        }
        let mut written = false;
        match self.assets.save(Some(det)) {
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
        if let Some(fleet) = self.assets.fleet(Some(det)) {
            let vulnerable = s7sentry_sensor::vulnerable(fleet, &mut self.correlator);
            msink.set_inventory(fleet, &vulnerable);
        }
    }
}

/// Configuration reload on SIGHUP, shared by every pipeline (one per worker).
/// The first pipeline that notices a new SIGHUP (in its once-a-second
/// `periodic`) reads the configuration again, as at start (`--config` and
/// `--engineering-hosts`); every pipeline then hands the new configuration to its
/// detector with [`Detector::reconfigure`], which keeps flows, timers, pending
/// operations, aggregation windows, the baseline and the counters. An invalid
/// file is reported on stderr and the running configuration stays.
struct Reload {
    args: crate::DetectionArgs,
    hups: Arc<std::sync::atomic::AtomicU64>,
    /// (SIGHUPs handled, configuration generation, the configuration of that generation).
    state: std::sync::Mutex<(u64, u64, Option<Arc<DetectConfig>>)>,
}

impl Reload {
    /// A configuration newer than generation `applied`, if any (and bump `applied`).
    fn newer(&self, applied: &mut u64) -> Option<Arc<DetectConfig>> {
        let hups = self.hups.load(Ordering::Relaxed);
        let mut st = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if st.0 != hups {
            st.0 = hups;
            match settings::load(&self.args) {
                Ok(cfg) => {
                    for w in cfg.warnings() {
                        eprintln!("s7sentry: config reload: warning: {w}");
                    }
                    eprintln!(
                        "s7sentry: configuration reloaded ({} engineering host range(s), {} polic{}); \
                         flows, timers and baseline kept",
                        cfg.engineering_hosts.len(),
                        cfg.policy.len(),
                        if cfg.policy.len() == 1 { "y" } else { "ies" }
                    );
                    tracing::info!("configuration reloaded on SIGHUP");
                    st.1 += 1;
                    st.2 = Some(Arc::new(cfg));
                }
                Err(e) => eprintln!("s7sentry: config reload failed, keeping the running configuration: {e}"),
            }
        }
        if st.1 == *applied {
            return None;
        }
        *applied = st.1;
        st.2.clone()
    }
}

/// What rides along with each engine in live runs: the metrics, the
/// configuration reload, and (one pipeline only) the inventory's periodic saves.
struct LiveExtra {
    metrics: MetricsSink,
    inventory: Option<Inventory>,
    reload: Arc<Reload>,
    /// Configuration generation this pipeline's detector runs with.
    applied: u64,
    /// What the detector hands the metrics at each flush (buffers reused).
    snapshot: DetectorSnapshot,
}

impl EventSink for LiveExtra {
    #[inline]
    fn on_event(&mut self, e: &Event<'_>) {
        self.metrics.on_event(e);
    }
}

impl Extra for LiveExtra {
    fn periodic(&mut self, engine: &Engine, det: Option<&mut Detector>) {
        let Some(det) = det else { return };
        if let Some(cfg) = self.reload.newer(&mut self.applied) {
            det.reconfigure(DetectConfig::clone(&cfg));
        }
        det.snapshot(&mut self.snapshot);
        self.metrics.flush(engine.stats(), engine.active_flows(), engine.buffered_bytes(), &self.snapshot);
        if let Some(i) = self.inventory.as_mut() {
            let _ = i.tick(det, &mut self.metrics, false);
        }
    }
}

/// The live interface as a packet source: publishes libpcap's counters (metrics,
/// `/healthz`) and beats the health check about once a second, and when the
/// interface goes away (or is not there yet, `--wait-for-interface`), reports
/// it, answers idle and reopens it every second. Every packet also goes to the
/// evidence rings.
struct LiveInput {
    /// `None` until the interface could be opened (`--wait-for-interface`).
    src: Option<LiveSource>,
    tap: SharedTap,
    opts: LiveOptions,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    down: Option<(CaptureError, Instant)>,
    polls: u32,
    last_beat: Instant,
    /// Largest frame an interface of this MTU delivers without GRO/LRO.
    max_frame: u32,
    gro_warned: bool,
}

impl LiveInput {
    fn new(
        src: Result<LiveSource, CaptureError>,
        opts: LiveOptions,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        tap: SharedTap,
    ) -> LiveInput {
        let mtu = std::fs::read_to_string(format!("/sys/class/net/{}/mtu", opts.interface))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(9000);
        let (src, down) = match src {
            Ok(s) => (Some(s), None),
            Err(e) => {
                health.interface_down.store(true, Ordering::Relaxed);
                (None, Some((e, Instant::now())))
            }
        };
        LiveInput {
            src,
            tap,
            opts,
            metrics,
            health,
            down,
            polls: 0,
            last_beat: Instant::now(),
            max_frame: mtu + 14 + 8 + 4,
            gro_warned: false,
        }
    }

    fn stats(&mut self) -> LiveStats {
        self.src.as_mut().map(LiveSource::stats).unwrap_or_default()
    }

    /// Publish the capture counters and beat the health check.
    fn publish(&mut self) {
        let st = self.stats();
        self.metrics.capture_stats(st.received, st.dropped, st.if_dropped);
        self.metrics.capture_truncated(st.truncated);
        self.health.kernel_dropped.store(st.dropped, Ordering::Relaxed);
        self.health.interface_dropped.store(st.if_dropped, Ordering::Relaxed);
        self.health.truncated.store(st.truncated, Ordering::Relaxed);
        self.health.beat();
    }

    fn housekeeping(&mut self) {
        self.polls = 0;
        if self.last_beat.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.last_beat = Instant::now();
        match self.down.take() {
            None => self.publish(),
            Some((e, since)) => {
                self.health.beat();
                if since.elapsed() < Duration::from_secs(1) {
                    self.down = Some((e, since));
                    return;
                }
                match LiveSource::open(&self.opts) {
                    Ok(mut s) => {
                        let again = match self.src.as_mut() {
                            Some(old) => {
                                s.continue_from(old.frames(), old.stats());
                                " again"
                            }
                            None => "",
                        };
                        eprintln!("s7sentry: capturing on {}{again} (filter: {})", self.opts.interface, s.filter());
                        self.src = Some(s);
                        self.health.interface_down.store(false, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::debug!("reopen failed: {e}");
                        self.down = Some((e, Instant::now()));
                    }
                }
            }
        }
    }
}

impl PacketSource for LiveInput {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        match self.src.as_mut() {
            Some(s) => s.next_packet(),
            None => Ok(None),
        }
    }

    fn name(&self) -> &str {
        &self.opts.interface
    }

    fn poll(&mut self) -> Result<Polled<'_>, CaptureError> {
        self.polls += 1;
        if self.polls >= 1024 || self.down.is_some() {
            self.housekeeping();
        }
        if self.down.is_some() {
            return Ok(Polled::Idle);
        }
        let gro = self.gro_warned;
        let max = self.max_frame;
        let Some(src) = self.src.as_mut() else { return Ok(Polled::Idle) };
        let (res, big) = match src.poll() {
            Ok(Polled::Packet(p)) => {
                crate::input::feed(&self.tap, &p);
                let big = !gro && p.orig_len > max;
                (Ok(Polled::Packet(p)), big.then_some(p.orig_len))
            }
            Ok(Polled::Idle) => {
                self.polls = 1024;
                (Ok(Polled::Idle), None)
            }
            Ok(Polled::End) => (Ok(Polled::End), None),
            Err(e) => {
                // The interface went away: report, keep serving metrics, retry.
                eprintln!("s7sentry: {e}; retrying every second");
                self.health.interface_down.store(true, Ordering::Relaxed);
                self.down = Some((e, Instant::now()));
                return Ok(Polled::Idle);
            }
        };
        if let Some(len) = big {
            self.gro_warned = true;
            eprintln!("{}", gro_seen_message(&self.opts.interface, len, max));
        }
        res
    }

    fn is_live(&self) -> bool {
        true
    }
}

fn gro_seen_message(iface: &str, len: u32, max: u32) -> String {
    format!(
        "s7sentry: warning: a {len}-byte frame arrived on {iface}, longer than the {max} bytes its MTU allows: \
         the host merges segments (GRO/LRO), so the sensor does not see the packets as they were on the wire. \
         Switch it off: ethtool -K {iface} gro off lro off"
    )
}

/// Receive offloads switched on for `iface` (`ethtool -k`): `gro`, `lro`.
/// Empty when they are off or when ethtool is not installed.
fn receive_offloads(iface: &str) -> Vec<&'static str> {
    let Ok(o) = std::process::Command::new("ethtool").arg("-k").arg(iface).output() else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&o.stdout);
    let on = |name: &str| text.lines().any(|l| l.trim().starts_with(name) && l.contains(": on"));
    let mut v = Vec::new();
    if on("generic-receive-offload:") {
        v.push("gro");
    }
    if on("large-receive-offload:") {
        v.push("lro");
    }
    v
}

/// Bind the HTTP port. Errors: the message and the exit status: 2 for what
/// a restart cannot fix (not an ADDR:PORT, an address this host does not have,
/// a port it may not bind), 3 for the rest (in use: another instance may be stopping).
fn bind(listen: &str) -> Result<std::net::TcpListener, (String, u8)> {
    use std::net::ToSocketAddrs;
    if listen.to_socket_addrs().is_err() {
        return Err((format!("--listen {listen}: not an ADDR:PORT (e.g. 127.0.0.1:19102)"), EXIT_USAGE));
    }
    std::net::TcpListener::bind(listen).map_err(|e| {
        use std::io::ErrorKind as K;
        let (hint, code) = match e.kind() {
            K::AddrInUse => (
                "address already in use: another s7sentry or service holds it; choose another with --listen ADDR:PORT",
                EXIT_RUNTIME,
            ),
            K::AddrNotAvailable => {
                ("this host has no such address; choose another with --listen ADDR:PORT", EXIT_USAGE)
            }
            K::PermissionDenied => {
                ("a port below 1024 needs privileges; choose another with --listen ADDR:PORT", EXIT_USAGE)
            }
            _ => ("choose another with --listen ADDR:PORT", EXIT_RUNTIME),
        };
        (format!("cannot listen on {listen}: {e} ({hint})"), code)
    })
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
pub fn run_live(a: &LiveArgs) -> u8 {
    let cfg = match settings::load(&a.detection) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let threads = usize::from(a.threads);
    if threads > 1 && (a.state.state.is_some() || a.state.learn.is_some()) {
        eprintln!(
            "s7sentry: --threads {threads} with --state/--learn: the live inventory is kept by one thread only; \
             use --threads 1 with --state"
        );
        return EXIT_USAGE;
    }
    // The inventory state and advisories: configuration-like errors, exit 2.
    let assets = match Assets::open(a.state.state.as_deref(), a.state.learn, a.csaf.is_some()) {
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
    let sensor = a.out.sensor.clone().or_else(|| cfg.sensor.clone());
    let sensor = s7sentry_export::soc::AlertContext::new(sensor, None).sensor;
    let mut assets = assets;
    if let Some(Err(e)) = assets.as_mut().map(|x| x.set_sensor(&sensor)) {
        eprintln!("s7sentry: {e}");
        return EXIT_USAGE;
    }
    let inv = assets.map(|assets| Inventory {
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
    let buffer_mb = a.buffer_mb.or(l.buffer_mb).unwrap_or(DEFAULT_BUFFER_MB);
    let user = a.user.clone().or_else(|| l.user.clone());
    let wait = a.wait_for_interface || l.wait_for_interface.unwrap_or(false);
    // Configuration-like errors first (exit 2: restarting will not fix them).
    let alert_opts = match settings::alert_options(&a.out, alerts_spec, &cfg, true, Some(interface.clone())) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let evidence = match settings::evidence(&a.out, &cfg, true) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let user = match user.as_deref().map(privileges::lookup_user).transpose() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };

    // 1. The HTTP port: bind first so a clash is reported before anything else starts.
    let listener = match bind(&listen) {
        Ok(s) => s,
        Err((msg, code)) => {
            eprintln!("s7sentry: {msg}");
            return code;
        }
    };
    let _ = listener.set_nonblocking(true);
    // 2. The capture.
    let mut opts = LiveOptions::new(&interface);
    opts.bpf = a.bpf.clone().or_else(|| l.bpf.clone());
    opts.buffer_bytes = (buffer_mb.clamp(1, 2047) as i32) << 20;
    if let Some(s) = a.snaplen {
        opts.snaplen = s;
    }
    opts.immediate = a.pcap_immediate;
    if let Some(t) = a.pcap_timeout_ms {
        opts.timeout_ms = t;
    }
    let src = match LiveSource::open(&opts) {
        Ok(s) => Ok(s),
        // A filter that does not compile is a configuration error.
        Err(e @ CaptureError::Filter(_)) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
        Err(e) if wait => {
            if let Err(e) = s7sentry_capture::live::check_filter(opts.bpf.as_deref()) {
                eprintln!("s7sentry: {e}");
                return EXIT_USAGE;
            }
            eprintln!("s7sentry: {e}; waiting for it (retrying every second; /readyz answers 503 meanwhile)");
            Err(e)
        }
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_RUNTIME;
        }
    };
    // 3. Outputs.
    let signals = Signals::install();
    let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
    let mut out = match Alerts::open(&alert_opts, signals.clone()) {
        Ok(o) => o.live(metrics.clone()),
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let tap: SharedTap = std::rc::Rc::new(std::cell::RefCell::new(Tap { evidence, ..Default::default() }));
    out = out.with_tap(tap.clone());
    let offloads = receive_offloads(&interface);
    if let Some(u) = &user {
        let evidence_dir = tap.borrow().evidence.as_ref().map(|e| e.dir().to_path_buf());
        let give: Vec<&std::path::Path> = evidence_dir.iter().map(|p| p.as_path()).collect();
        if let Err(e) = privileges::switch_user(u, &give) {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    }
    drop_privileges();
    let filter = src.as_ref().map(|s| s.filter().to_string()).unwrap_or_else(|_| "not yet compiled".into());
    tracing::info!(interface = %interface, filter = %filter, listen = %listen, "s7sentry live started");
    eprintln!(
        "s7sentry: {} {interface} (filter: {filter}; ring {buffer_mb} MiB, snap length {}; {} worker thread{}); \
         metrics on http://{listen}/metrics, liveness /healthz, readiness /readyz",
        if src.is_ok() { "capturing on" } else { "waiting for" },
        opts.snaplen,
        threads,
        if threads == 1 { "" } else { "s" }
    );
    if !offloads.is_empty() {
        eprintln!(
            "s7sentry: warning: receive offload {} switched on for {interface}: the host merges received segments, \
             so the sensor does not see the packets as they were on the wire (wrong segment boundaries, frames cut \
             to the snap length). Switch it off: ethtool -K {interface} gro off lro off",
            offloads.join(" and ").to_uppercase()
        );
    }

    // 4. HTTP server on a small tokio runtime.
    let health = Arc::new(Health::default());
    health.beat();
    let http_stop = Arc::new(AtomicBool::new(false));
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("s7sentry: cannot start the HTTP runtime: {e}");
            return EXIT_RUNTIME;
        }
    };
    {
        let app = router(metrics.clone(), health.clone());
        let sd = http_stop.clone();
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
    }

    // 5. The capture loop.
    // Configured single-host PLCs get their metric labels first.
    let known: Vec<IpAddr> = cfg.known_plcs.iter().filter_map(|c| c.single_host()).collect();
    let mut input = LiveInput::new(src, opts, metrics.clone(), health.clone(), tap);
    let started = Instant::now();
    let detector = || {
        let mut det = Detector::new(cfg.clone());
        det.set_source(&interface);
        det
    };
    let reload = Arc::new(Reload {
        args: a.detection.clone(),
        hups: signals.hups.clone(),
        state: std::sync::Mutex::new((0, 0, None)),
    });
    let extra = |inventory| LiveExtra {
        metrics: MetricsSink::new(metrics.clone(), &known),
        inventory,
        reload: reload.clone(),
        applied: 0,
        snapshot: DetectorSnapshot::default(),
    };
    let mut totals = Totals::default();
    let mut inv_saved = None;
    let ended = if threads > 1 {
        let pipes: Vec<_> =
            (0..threads).map(|_| Pipeline::new(worker_config(threads), Some(detector()), extra(None))).collect();
        let (ended, mut pipes) = run_sharded(&mut input, pipes, &mut out);
        for p in &mut pipes {
            p.periodic();
            totals.add(p);
        }
        ended
    } else {
        let mut pipe = Pipeline::new(EngineConfig::default(), Some(detector()), extra(inv));
        {
            let (_, det, x) = pipe.parts_mut();
            if let (Some(i), Some(det)) = (x.inventory.as_mut(), det) {
                i.assets.attach(det);
                i.publish(det, &mut x.metrics);
            }
        }
        let mut ended = run(&mut input, &mut pipe, &mut out);
        // Shutdown: end every flow, evaluate timers, write every alert.
        if let Err(e) = pipe.finish(&mut out) {
            ended = Ended::OutputFailed(Some(e));
        }
        pipe.periodic();
        let (_, det, x) = pipe.parts_mut();
        if let (Some(i), Some(det)) = (x.inventory.as_mut(), det) {
            let written = i.tick(det, &mut x.metrics, true);
            if let (true, Some(p), Some(f)) = (written, i.assets.path(), i.assets.fleet(Some(det))) {
                inv_saved =
                    Some(format!("s7sentry: inventory of {} devices saved to {}", f.devices.len(), p.display()));
            }
        }
        totals.add(&pipe);
        ended
    };
    let undelivered = out.finish().unwrap_or(0);
    input.publish();
    if undelivered > 0 {
        eprintln!("s7sentry: {undelivered} alert(s) could not be delivered to syslog");
    }
    if let Some(l) = out.evidence_summary() {
        eprintln!("s7sentry: {l}");
    }
    if let Some(m) = inv_saved {
        eprintln!("{m}");
    }
    let st = input.stats();
    let s = &totals.stats;
    eprintln!(
        "s7sentry: stopped; packets {} (libpcap received {}, dropped {} kernel / {} interface, {} truncated), PDUs s7comm {} s7comm-plus {}",
        s.packets, st.received, st.dropped, st.if_dropped, st.truncated, s.s7comm_pdus, s.s7plus_frames
    );
    if st.dropped + st.if_dropped > 0 {
        eprintln!(
            "s7sentry: warning: {} packets were lost before the sensor saw them: alerts may be missing \
             (raise --buffer-mb, or add --threads)",
            st.dropped + st.if_dropped
        );
    }
    let summary = Summary { totals: &totals, alerts: out.count, unreadable: 0, elapsed: started.elapsed() };
    eprint!("{}{}", summary.render("live"), summary.render_counts());
    if let Ended::OutputFailed(Some(e)) = ended {
        eprintln!("s7sentry: cannot write alerts: {e}");
    }
    http_stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_millis(300));
    EXIT_OK
}
