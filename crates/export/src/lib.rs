//! # s7sentry-export: Prometheus metrics, HTTP endpoints, alert sinks
//!
//! Only this crate knows Prometheus. The capture loop feeds it engine events
//! ([`MetricsSink::on_event`], cheap: plain counters in local arrays) and, about
//! once a second, the engine's counters and a snapshot of the detector (caps,
//! suppressions, per-PLC state, latencies: a plain
//! [`s7sentry_engine::rules::DetectorSnapshot`], never the detector itself)
//! ([`MetricsSink::flush`]), which it turns into Prometheus series. Label values
//! come from bounded sets only: code names (unknown codes become `other`), rule
//! ids, and PLC addresses limited to the configured PLCs plus the first
//! [`MAX_PLC_LABELS`] seen (the rest share `plc="other"`).
//!
//! The inventory ([`MetricsSink::set_inventory`], after each save of the
//! state) adds `s7sentry_plc_info` (one series per labelled PLC, with its
//! order number, firmware and module type as the device reports them, cut to
//! [`MAX_INFO_LABEL_LEN`] characters; PLCs beyond the label budget get none),
//! `s7sentry_vulnerable_devices{severity}`, `s7sentry_inventory_devices{role}`
//! and `s7sentry_inventory_evictions_total`.

#![forbid(unsafe_code)]

pub mod eve;
pub mod evidence;
pub mod http;
pub mod sinks;
pub mod soc;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use s7sentry_engine::assets::{Fleet, Role};
use s7sentry_engine::rules::{Alert, DetectorSnapshot};
use s7sentry_engine::{Event, EventSink, Stats};
use s7sentry_proto::s7comm::{Function, Rosctr};
use s7sentry_proto::s7plus::{Opcode, PlusFunction};
use s7sentry_proto::{FindingKind, Layer};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

/// PLC addresses given their own label value beyond the configured ones.
pub const MAX_PLC_LABELS: usize = 64;

/// Longest order number / firmware / module type label value (characters);
/// these come off the wire.
pub const MAX_INFO_LABEL_LEN: usize = 64;

/// CVSS v3 severity bands of `s7sentry_vulnerable_devices`.
pub const SEVERITY_BANDS: [&str; 5] = ["none", "low", "medium", "high", "critical"];

/// Roles of `s7sentry_inventory_devices`.
const ROLES: [Role; 4] = [Role::Plc, Role::Hmi, Role::EngineeringStation, Role::Unknown];

/// A device to which advisories certainly apply, for [`MetricsSink::set_inventory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VulnerableDevice {
    /// The device.
    pub address: IpAddr,
    /// CVSS v3 qualitative band (`none`, `low`, `medium`, `high`, `critical`) of
    /// the highest base score among the advisories that apply
    /// (`s7sentry_inventory::report::severity_band`).
    pub severity: &'static str,
}

const LAYERS: [Layer; 7] =
    [Layer::Link, Layer::Ip, Layer::Tcp, Layer::Tpkt, Layer::Cotp, Layer::S7comm, Layer::S7commPlus];

/// All the series s7sentry exposes.
pub struct Metrics {
    registry: Registry,
    packets_received: IntCounter,
    packets_processed: IntCounter,
    bytes_processed: IntCounter,
    dropped: IntCounterVec,
    last_packet: Gauge,
    lag: Gauge,
    findings: IntCounterVec,
    pdus: IntCounterVec,
    alerts: IntCounterVec,
    flows_active: IntGauge,
    flows_evicted: IntCounter,
    flows_expired: IntCounter,
    reassembly_bytes: IntGauge,
    cap_hits: IntCounterVec,
    detector_cap_hits: IntCounterVec,
    alerts_suppressed: IntCounterVec,
    gaps: IntCounter,
    stream_events: IntCounterVec,
    stream_bytes: IntCounterVec,
    plc_latency: HistogramVec,
    plc_outstanding: IntGaugeVec,
    plc_responding: IntGaugeVec,
    plc_state: IntCounterVec,
    plc_info: IntGaugeVec,
    vulnerable: IntGaugeVec,
    inventory_devices: IntGaugeVec,
    inventory_evictions: IntCounter,
    truncated: IntCounter,
    alert_delay: prometheus::Histogram,
    /// PLC label values, shared by every sink of this registry (one per worker).
    labels: std::sync::Mutex<PlcLabels>,
    /// PLCs labelled `other` that are not responding, summed over sinks.
    other_silent: std::sync::atomic::AtomicI64,
    syslog_undelivered: IntCounter,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone())).expect("metric names are unique");
    c
}

impl Metrics {
    /// Create and register every series (and the process collector).
    pub fn new(version: &str) -> Metrics {
        let r = Registry::new();
        let ic = |n: &str, h: &str| reg(&r, IntCounter::new(n, h).expect("valid"));
        let icv = |n: &str, h: &str, l: &[&str]| reg(&r, IntCounterVec::new(Opts::new(n, h), l).expect("valid"));
        let build = reg(
            &r,
            IntGaugeVec::new(Opts::new("s7sentry_build_info", "Build information (always 1)."), &["version"])
                .expect("valid"),
        );
        build.with_label_values(&[version]).set(1);
        let m = Metrics {
            packets_received: ic("s7sentry_packets_received_total", "Packets libpcap received (ps_recv)."),
            packets_processed: ic("s7sentry_packets_processed_total", "Packets handed to the engine."),
            bytes_processed: ic("s7sentry_bytes_processed_total", "Captured bytes handed to the engine."),
            dropped: icv(
                "s7sentry_capture_dropped_total",
                "Packets dropped before the sensor saw them (libpcap ps_drop: kernel, ps_ifdrop: interface).",
                &["where"],
            ),
            last_packet: reg(
                &r,
                Gauge::new(
                    "s7sentry_last_packet_timestamp_seconds",
                    "Capture time of the last packet processed (Unix seconds).",
                )
                .expect("valid"),
            ),
            lag: reg(
                &r,
                Gauge::new(
                    "s7sentry_processing_lag_seconds",
                    "Wall-clock time minus the capture time of the last packet processed.",
                )
                .expect("valid"),
            ),
            findings: icv("s7sentry_findings_total", "Structure findings by layer and kind.", &["layer", "kind"]),
            pdus: icv(
                "s7sentry_pdus_total",
                "Decoded PDUs by protocol, PDU type and function.",
                &["proto", "rosctr", "function"],
            ),
            alerts: icv(
                "s7sentry_alerts_total",
                "Alerts raised, by rule, category and severity.",
                &["rule", "category", "severity"],
            ),
            flows_active: reg(&r, IntGauge::new("s7sentry_flows_active", "Flows tracked now.").expect("valid")),
            flows_evicted: ic("s7sentry_flows_evicted_total", "Flows evicted because the flow table was full."),
            flows_expired: ic("s7sentry_flows_expired_total", "Flows expired for idleness."),
            reassembly_bytes: reg(
                &r,
                IntGauge::new("s7sentry_reassembly_bytes", "Bytes held in out-of-order TCP buffers.").expect("valid"),
            ),
            alerts_suppressed: icv(
                "s7sentry_alerts_suppressed_total",
                "Alerts not written because a [[policy]] entry suppresses them, by rule.",
                &["rule"],
            ),
            cap_hits: icv(
                "s7sentry_cap_hits_total",
                "Times a state cap was hit (data dropped or state evicted).",
                &["cap"],
            ),
            detector_cap_hits: icv(
                "s7sentry_detector_cap_hits_total",
                "Times a detector cap was hit (a bounded detector table forgot or refused something), by cap \
                 (s7sentry_engine::rules::Cap).",
                &["cap"],
            ),
            gaps: ic("s7sentry_stream_gaps_total", "TCP capture gaps after which a stream was resynchronised."),
            stream_events: icv(
                "s7sentry_stream_events_total",
                "TCP stream engine events by kind (retransmissions, overlap conflicts, held out-of-order segments, hold cap hits, gaps by cause, checksum drops and offload, ignored SYN/RST, ...).",
                &["kind"],
            ),
            stream_bytes: icv(
                "s7sentry_stream_bytes_total",
                "TCP stream bytes by kind: lost (given up in holes), late (arrived for a hole already given up), resync_skipped.",
                &["kind"],
            ),
            plc_latency: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new("s7sentry_plc_response_seconds", "S7 job to answer latency per PLC.")
                        .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
                    &["plc"],
                )
                .expect("valid"),
            ),
            plc_outstanding: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("s7sentry_plc_outstanding_requests", "Jobs sent to the PLC and not yet answered."),
                    &["plc"],
                )
                .expect("valid"),
            ),
            plc_responding: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("s7sentry_plc_responding", "1 while the PLC answers, 0 during a loss of communication."),
                    &["plc"],
                )
                .expect("valid"),
            ),
            plc_state: icv(
                "s7sentry_plc_state_changes_total",
                "CPU STOP / START operations the PLC confirmed.",
                &["plc", "state"],
            ),
            plc_info: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "s7sentry_plc_info",
                        "Identity the PLC reported (always 1): order number, firmware, module type (empty: not read).",
                    ),
                    &["plc", "order_number", "firmware", "module_type"],
                )
                .expect("valid"),
            ),
            vulnerable: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "s7sentry_vulnerable_devices",
                        "Devices to which at least one loaded advisory applies, by the highest CVSS band among them.",
                    ),
                    &["severity"],
                )
                .expect("valid"),
            ),
            inventory_devices: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("s7sentry_inventory_devices", "Hosts in the inventory, by role."),
                    &["role"],
                )
                .expect("valid"),
            ),
            inventory_evictions: ic(
                "s7sentry_inventory_evictions_total",
                "Inventory entries dropped at a cap (devices, talkers, functions, state changes).",
            ),
            truncated: ic(
                "s7sentry_capture_truncated_total",
                "Packets cut to the snap length (longer than any SPAN frame: GRO/LRO on the capturing host).",
            ),
            alert_delay: reg(
                &r,
                prometheus::Histogram::with_opts(
                    HistogramOpts::new(
                        "s7sentry_alert_delay_seconds",
                        "Wall-clock time from the capture of the packet an alert names to the alert's output \
                         (includes waiting for a PLC's answer, and timers).",
                    )
                    .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                )
                .expect("valid"),
            ),
            labels: Default::default(),
            other_silent: Default::default(),
            syslog_undelivered: ic(
                "s7sentry_syslog_undelivered_total",
                "Alert lines the syslog output could not deliver (queue full, send or write error, still queued at exit).",
            ),
            registry: r,
        };
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            let _ = m.registry.register(Box::new(ProcessMetrics(pc)));
        }
        for w in ["kernel", "interface"] {
            m.dropped.with_label_values(&[w]).inc_by(0);
        }
        for b in SEVERITY_BANDS {
            m.vulnerable.with_label_values(&[b]).set(0);
        }
        for role in ROLES {
            m.inventory_devices.with_label_values(&[role.name()]).set(0);
        }
        // Every rule's alert series exists from the start at 0, so the first
        // alert is an increase Prometheus can see (increase() needs two samples).
        for r in s7sentry_engine::rules::catalog::RULES {
            let mut combos = vec![(r.category, r.severity)];
            if r.category == s7sentry_engine::rules::Category::UnauthorizedControl {
                combos
                    .push((s7sentry_engine::rules::Category::ControlOperation, s7sentry_engine::rules::Severity::Info));
            }
            for (c, sev) in combos {
                m.alerts.with_label_values(&[r.id, c.name(), sev.name()]).inc_by(0);
            }
        }
        m
    }

    /// The registry (for tests and custom exposition).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Count one alert.
    pub fn alert(&self, a: &Alert) {
        self.alerts.with_label_values(&[a.rule, a.category.name(), a.severity.name()]).inc();
    }

    /// Record the delay from a packet's capture to its alert's output (seconds).
    pub fn alert_delay(&self, secs: f64) {
        self.alert_delay.observe(secs.max(0.0));
    }

    /// Total of alert lines the syslog output could not deliver so far
    /// ([`sinks::Syslog::undelivered`]); call at each flush.
    pub fn syslog_undelivered(&self, total: u64) {
        bump(&self.syslog_undelivered, total);
    }

    /// libpcap's statistics (totals since the capture opened).
    pub fn capture_stats(&self, received: u64, dropped: u64, if_dropped: u64) {
        bump(&self.packets_received, received);
        bump(&self.dropped.with_label_values(&["kernel"]), dropped);
        bump(&self.dropped.with_label_values(&["interface"]), if_dropped);
    }

    /// Packets cut to the snap length so far (a total).
    pub fn capture_truncated(&self, total: u64) {
        bump(&self.truncated, total);
    }

    /// The `plc` label value of `ip`.
    fn label(&self, ip: IpAddr) -> String {
        self.labels.lock().map(|mut l| l.label(ip)).unwrap_or_else(|_| "other".into())
    }
}

/// The process collector (open fds, memory, threads, start time) with
/// `process_cpu_seconds_total` in hundredths of a second (the kernel's clock
/// ticks) instead of the collector's whole seconds, so rate() over a minute
/// shows a lightly loaded sensor's CPU use.
#[cfg(target_os = "linux")]
struct ProcessMetrics(prometheus::process_collector::ProcessCollector);

#[cfg(target_os = "linux")]
impl prometheus::core::Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut families = self.0.collect();
        if let Some(secs) = cpu_seconds() {
            for f in families.iter_mut().filter(|f| f.name() == "process_cpu_seconds_total") {
                for m in f.mut_metric() {
                    let mut c = prometheus::proto::Counter::default();
                    c.set_value(secs);
                    m.set_counter(c);
                }
            }
        }
        families
    }
}

/// User plus system CPU time of this process (all threads) in seconds, from
/// `/proc/self/stat` (fields 14 and 15, in USER_HZ = 100 ticks per second, the
/// value the kernel fixes for user space on every Linux architecture).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_seconds_of(&stat)
}

fn cpu_seconds_of(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Raise a counter to `total` (counters only go up).
fn bump(c: &IntCounter, total: u64) {
    let now = c.get();
    if total > now {
        c.inc_by(total - now);
    }
}

/// Bounded PLC label values.
#[derive(Debug, Default)]
struct PlcLabels {
    known: HashMap<IpAddr, String>,
}

impl PlcLabels {
    fn label(&mut self, ip: IpAddr) -> String {
        if let Some(s) = self.known.get(&ip) {
            return s.clone();
        }
        if self.known.len() >= MAX_PLC_LABELS {
            return "other".into();
        }
        let s = ip.to_string();
        self.known.insert(ip, s.clone());
        s
    }
}

/// PDU counters keyed by small integers, flushed into Prometheus periodically.
#[derive(Debug, Default)]
struct PduKey {
    proto: &'static str,
    rosctr: &'static str,
    function: &'static str,
}

/// Event sink feeding [`Metrics`]: cheap counting on the packet path, series
/// updates in [`MetricsSink::flush`].
///
/// Several sinks may feed one [`Metrics`] (one per worker of a sharded run,
/// each with its own engine and detector): counters add up, the flow and
/// buffer gauges are sums of every sink's share, per-PLC series come from the
/// sink whose worker holds the PLC, and the `plc` label values are shared.
pub struct MetricsSink {
    metrics: std::sync::Arc<Metrics>,
    pdus: HashMap<(u8, u8, u16), u64>,
    findings: HashMap<(u8, u8), u64>,
    last: Stats,
    /// This sink's share of the gauges summed over sinks: flows, buffered bytes,
    /// outstanding jobs of `other` PLCs, silent `other` PLCs.
    shares: [i64; 4],
    last_ts: f64,
    /// Label values of the plc_info series set last time, by plc label.
    info: HashMap<String, [String; 3]>,
    /// Policy suppressions per rule at the last flush.
    suppressed: Vec<u64>,
    /// Detector caps hit at the last flush.
    caps: s7sentry_engine::rules::CapCounters,
}

fn s7_rosctr(r: u8) -> &'static str {
    match Rosctr(r).name() {
        Some("Job") => "job",
        Some("Ack") => "ack",
        Some("Ack_Data") => "ack_data",
        Some("Userdata") => "userdata",
        _ => "other",
    }
}

impl MetricsSink {
    /// A sink publishing into `metrics`; `known_plcs` get their own label first.
    pub fn new(metrics: std::sync::Arc<Metrics>, known_plcs: &[IpAddr]) -> MetricsSink {
        if let Ok(mut labels) = metrics.labels.lock() {
            for ip in known_plcs {
                labels.known.insert(*ip, ip.to_string());
            }
        }
        MetricsSink {
            metrics,
            pdus: HashMap::new(),
            findings: HashMap::new(),
            shares: [0; 4],
            last: Stats::default(),
            last_ts: 0.0,
            info: HashMap::new(),
            suppressed: Vec::new(),
            caps: Default::default(),
        }
    }

    /// Push everything gathered since the last flush into the Prometheus
    /// series: the engine's counters and the detector's snapshot `det`
    /// ([`s7sentry_engine::rules::Detector::snapshot`]).
    pub fn flush(&mut self, stats: &Stats, active_flows: usize, buffered: usize, det: &DetectorSnapshot) {
        let m = &self.metrics;
        for ((proto, r, f), n) in self.pdus.drain() {
            let key = match proto {
                0 => PduKey {
                    proto: "s7comm",
                    rosctr: s7_rosctr(r),
                    function: Function(f as u8).name().unwrap_or(if r == 7 { "userdata" } else { "other" }),
                },
                1 => PduKey {
                    proto: "s7comm-plus",
                    rosctr: Opcode(r).name().unwrap_or("other"),
                    function: PlusFunction(f).name().unwrap_or("other"),
                },
                2 => PduKey {
                    proto: "cotp",
                    rosctr: "none",
                    function: s7sentry_proto::cotp::TpduCode(r).name().unwrap_or("other"),
                },
                _ => PduKey { proto: "tls", rosctr: "none", function: "none" },
            };
            m.pdus.with_label_values(&[key.proto, key.rosctr, key.function]).inc_by(n);
        }
        for ((l, k), n) in self.findings.drain() {
            let layer = LAYERS.get(usize::from(l)).map(|x| x.name()).unwrap_or("other");
            let kind = FindingKind::ALL.get(usize::from(k)).map(|x| x.name()).unwrap_or("other");
            m.findings.with_label_values(&[layer, kind]).inc_by(n);
        }
        let d = |a: u64, b: u64| a.saturating_sub(b);
        m.packets_processed.inc_by(d(stats.packets, self.last.packets));
        m.bytes_processed.inc_by(d(stats.bytes, self.last.bytes));
        m.flows_evicted.inc_by(d(stats.flows_evicted, self.last.flows_evicted));
        m.flows_expired.inc_by(d(stats.flows_expired, self.last.flows_expired));
        m.gaps.inc_by(d(stats.gaps, self.last.gaps));
        for (cap, a, b) in [
            ("flows", stats.flows_evicted, self.last.flows_evicted),
            ("ooo_segments", stats.ooo_cap_hits, self.last.ooo_cap_hits),
            ("tpkt_buffer", stats.tpkt_buffer_cap_hits, self.last.tpkt_buffer_cap_hits),
            ("cotp_reassembly", stats.cotp_cap_hits, self.last.cotp_cap_hits),
            ("s7plus_reassembly", stats.s7plus_cap_hits, self.last.s7plus_cap_hits),
            ("total_buffered", stats.total_buffer_cap_hits, self.last.total_buffer_cap_hits),
            ("ip_fragments", stats.ip_fragments_refused, self.last.ip_fragments_refused),
        ] {
            m.cap_hits.with_label_values(&[cap]).inc_by(d(a, b));
        }
        for ((kind, a), (_, b)) in stats.stream_events().into_iter().zip(self.last.stream_events()) {
            m.stream_events.with_label_values(&[kind]).inc_by(d(a, b));
        }
        for ((kind, a), (_, b)) in stats.stream_bytes().into_iter().zip(self.last.stream_bytes()) {
            m.stream_bytes.with_label_values(&[kind]).inc_by(d(a, b));
        }
        self.last = stats.clone();
        let (flows, bytes) = (active_flows as i64, buffered as i64);
        m.flows_active.add(flows - self.shares[0]);
        m.reassembly_bytes.add(bytes - self.shares[1]);
        (self.shares[0], self.shares[1]) = (flows, bytes);
        if self.last_ts > 0.0 {
            m.last_packet.set(self.last_ts);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            m.lag.set((now - self.last_ts).max(0.0));
        }
        let caps = det.caps;
        for ((cap, now), (_, last)) in caps.named().into_iter().zip(self.caps.named()) {
            m.detector_cap_hits.with_label_values(&[cap]).inc_by(now.saturating_sub(last));
        }
        self.caps = caps;
        self.suppressed.resize(det.suppressed.len(), 0);
        for (k, (&now, last)) in det.suppressed.iter().zip(self.suppressed.iter_mut()).enumerate() {
            if now > *last {
                let id = s7sentry_engine::rules::catalog::RULES.get(k).map_or("other", |r| r.id);
                m.alerts_suppressed.with_label_values(&[id]).inc_by(now - *last);
            }
            *last = now;
        }
        for &(ip, secs) in &det.observations.latencies {
            let l = m.label(ip);
            m.plc_latency.with_label_values(&[&l]).observe(secs);
        }
        for &(ip, state) in &det.observations.state_changes {
            let l = m.label(ip);
            m.plc_state.with_label_values(&[&l, state]).inc();
        }
        // PLCs beyond the label budget share plc="other": responding is 0 while
        // any of them is silent, outstanding the sum (over every sink).
        let mut other: Option<(i64, i64)> = None;
        for s in &det.plcs {
            let l = m.label(s.ip);
            if l == "other" {
                let o = other.get_or_insert((0, 0));
                o.0 += i64::from(!s.responding);
                o.1 += i64::from(s.outstanding);
                continue;
            }
            m.plc_responding.with_label_values(&[&l]).set(i64::from(s.responding));
            m.plc_outstanding.with_label_values(&[&l]).set(i64::from(s.outstanding));
        }
        if other.is_some() || self.shares[2] != 0 || self.shares[3] != 0 {
            let (silent, outstanding) = other.unwrap_or((0, 0));
            m.plc_outstanding.with_label_values(&["other"]).add(outstanding - self.shares[2]);
            let all_silent =
                m.other_silent.fetch_add(silent - self.shares[3], Ordering::Relaxed) + silent - self.shares[3];
            m.plc_responding.with_label_values(&["other"]).set(i64::from(all_silent == 0));
            (self.shares[2], self.shares[3]) = (outstanding, silent);
        }
    }
}

impl MetricsSink {
    /// Publish the inventory: one `s7sentry_plc_info` series per PLC that has
    /// (or gets) its own `plc` label, the devices by role, the devices to which
    /// advisories apply by severity band, and the evictions. Call after each
    /// save of the state (cheap: a few thousand devices at most).
    pub fn set_inventory(&mut self, fleet: &Fleet, vulnerable: &[VulnerableDevice]) {
        let m = &self.metrics;
        for role in ROLES {
            let n = fleet.devices.values().filter(|d| d.role == role).count();
            m.inventory_devices.with_label_values(&[role.name()]).set(n as i64);
        }
        bump(&m.inventory_evictions, fleet.evicted);
        let mut bands = [0i64; SEVERITY_BANDS.len()];
        for v in vulnerable {
            if let Some(i) = SEVERITY_BANDS.iter().position(|b| *b == v.severity) {
                bands[i] += 1;
            }
        }
        for (b, n) in SEVERITY_BANDS.iter().zip(bands) {
            m.vulnerable.with_label_values(&[b]).set(n);
        }
        let mut now: HashMap<String, [String; 3]> = HashMap::new();
        for d in fleet.devices.values().filter(|d| d.role == Role::Plc) {
            let plc = m.label(d.address);
            if plc == "other" {
                continue;
            }
            let i = &d.identity;
            now.insert(plc, [info_value(&i.order_number), info_value(&i.firmware), info_value(&i.module_type)]);
        }
        for (plc, v) in &self.info {
            if now.get(plc) != Some(v) {
                let _ = m.plc_info.remove_label_values(&[plc, &v[0], &v[1], &v[2]]);
            }
        }
        for (plc, v) in &now {
            m.plc_info.with_label_values(&[plc, &v[0], &v[1], &v[2]]).set(1);
        }
        self.info = now;
    }
}

/// A label value from a device-reported string: at most [`MAX_INFO_LABEL_LEN`]
/// characters, control characters replaced, empty when unknown.
fn info_value(v: &Option<String>) -> String {
    v.as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(MAX_INFO_LABEL_LEN)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl EventSink for MetricsSink {
    fn on_event(&mut self, e: &Event<'_>) {
        match e {
            Event::S7 { pdu, .. } => {
                let f = pdu.function().map(|f| u16::from(f.0)).unwrap_or(u16::MAX);
                *self.pdus.entry((0, pdu.header.rosctr.0, f)).or_insert(0) += 1;
            }
            Event::S7Plus { frame, .. } => {
                let key = (1, frame.opcode.map(|o| o.0).unwrap_or(0), frame.function.map(|f| f.0).unwrap_or(0));
                *self.pdus.entry(key).or_insert(0) += 1;
            }
            Event::Cotp { cotp, .. } => *self.pdus.entry((2, cotp.code.0, 0)).or_insert(0) += 1,
            Event::Tls { first: true, .. } => *self.pdus.entry((3, 0, 0)).or_insert(0) += 1,
            Event::Finding { finding, .. } => {
                let l = LAYERS.iter().position(|x| *x == finding.layer).unwrap_or(255) as u8;
                let k = FindingKind::ALL.iter().position(|x| *x == finding.kind).unwrap_or(255) as u8;
                *self.findings.entry((l, k)).or_insert(0) += 1;
            }
            Event::IpFragment { .. } => {
                let k = FindingKind::ALL.iter().position(|x| *x == FindingKind::IpFragment).unwrap_or(255) as u8;
                *self.findings.entry((1, k)).or_insert(0) += 1;
            }
            Event::IpDefrag { report, .. } => {
                let kind = report.kind();
                let k = FindingKind::ALL.iter().position(|x| *x == kind).unwrap_or(255) as u8;
                *self.findings.entry((1, k)).or_insert(0) += 1;
            }
            Event::Tick { ts, .. } => self.last_ts = ts.0 as f64 / 1e9,
            _ => {}
        }
    }
}

/// Convenience: encode a registry (used by the HTTP handler).
pub fn encode(r: &Registry) -> String {
    let mut buf = Vec::new();
    let _ = TextEncoder::new().encode(&r.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_are_fractional() {
        let stat = "4242 (s7 sentry) (x)) S 1 2 3 4 5 6 7 8 9 10 123 45 0 0 20 0 3 0 100 0 0";
        assert_eq!(cpu_seconds_of(stat), Some(1.68));
        // Burn CPU until this process's total has a fractional part of 0.3-0.7 s:
        // whole seconds (the plain process collector) would then be 0.3 s or more off.
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        let c = loop {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            let c = cpu_seconds().expect("/proc/self/stat");
            if (0.3..0.7).contains(&c.fract()) {
                break c;
            }
            assert!(t0.elapsed().as_secs() < 20, "cpu time did not move: {c}");
        };
        let text = Metrics::new("t").render();
        let line = text.lines().find(|l| l.starts_with("process_cpu_seconds_total ")).expect("cpu line");
        let v: f64 = line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!((v - c).abs() < 0.2, "{line} vs {c} s of CPU");
    }

    #[test]
    fn plc_labels_are_bounded() {
        let mut l = PlcLabels::default();
        l.known.insert("10.0.0.1".parse().unwrap(), "10.0.0.1".into());
        for i in 0..200u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a01_0000 + i));
            let s = l.label(ip);
            if (i as usize) < MAX_PLC_LABELS - 1 {
                assert_eq!(s, ip.to_string());
            } else {
                assert_eq!(s, "other");
            }
        }
        assert_eq!(l.label("10.0.0.1".parse().unwrap()), "10.0.0.1");
    }

    #[test]
    fn policy_suppressions_are_exported_per_rule_as_deltas() {
        use s7sentry_engine::rules::catalog::{CRASH_COTP_DR, MAL_COTP};
        use s7sentry_engine::rules::{DetectConfig, Detector, DetectorSnapshot};
        let m = std::sync::Arc::new(Metrics::new("test"));
        let mut sink = MetricsSink::new(m.clone(), &[]);
        let mut det = Detector::new(DetectConfig::default());
        let mut snap = DetectorSnapshot::default();
        assert!(!m.render().contains("s7sentry_alerts_suppressed_total{"));
        det.policy.suppressed[CRASH_COTP_DR] = 3;
        {
            det.snapshot(&mut snap);
            sink.flush(&Stats::default(), 0, 0, &snap);
        }
        det.policy.suppressed[CRASH_COTP_DR] = 5;
        det.policy.suppressed[MAL_COTP] = 1;
        {
            det.snapshot(&mut snap);
            sink.flush(&Stats::default(), 0, 0, &snap);
        }
        let text = m.render();
        assert!(text.contains("s7sentry_alerts_suppressed_total{rule=\"crash_pattern.cotp_dr\"} 5"), "{text}");
        assert!(text.contains("s7sentry_alerts_suppressed_total{rule=\"malformed.cotp\"} 1"), "{text}");
    }

    #[test]
    fn stream_counters_are_exported_by_kind_as_deltas() {
        use s7sentry_engine::rules::DetectorSnapshot;
        let m = std::sync::Arc::new(Metrics::new("test"));
        let mut sink = MetricsSink::new(m.clone(), &[]);
        let snap = DetectorSnapshot::default();
        let mut st =
            Stats { overlap_conflicts: 2, ooo_cap_hits: 1, gap_bytes: 700, checksum_invalid: 4, ..Stats::default() };
        sink.flush(&st, 0, 0, &snap);
        st.overlap_conflicts = 5;
        st.rst_ignored_out_of_window = 1;
        st.late_fill_bytes = 9;
        sink.flush(&st, 0, 0, &snap);
        let text = m.render();
        for line in [
            "s7sentry_stream_events_total{kind=\"overlap_conflict\"} 5",
            "s7sentry_stream_events_total{kind=\"hold_cap_hit\"} 1",
            "s7sentry_stream_events_total{kind=\"checksum_invalid\"} 4",
            "s7sentry_stream_events_total{kind=\"rst_ignored_out_of_window\"} 1",
            "s7sentry_stream_events_total{kind=\"syn_ignored\"} 0",
            "s7sentry_stream_bytes_total{kind=\"lost\"} 700",
            "s7sentry_stream_bytes_total{kind=\"late\"} 9",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        // Every counter of the stream engine has a series: one per kind.
        let kinds = text.lines().filter(|l| l.starts_with("s7sentry_stream_events_total{")).count();
        assert_eq!(kinds, Stats::default().stream_events().len());
        // The exposition is valid for Prometheus (promtool, where installed: CI's
        // and the developers' machines have it via scripts/deps).
        if let Ok(mut child) = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        {
            use std::io::Write as _;
            child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
            let out = child.wait_with_output().expect("promtool");
            let said = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "promtool check metrics: {said}");
            assert!(!said.contains("s7sentry_stream_"), "promtool on the stream series: {said}");
        }
    }

    #[test]
    fn detector_cap_hits_are_exported_per_cap_as_deltas() {
        use s7sentry_engine::rules::{DetectConfig, Detector, DetectorSnapshot};
        let m = std::sync::Arc::new(Metrics::new("test"));
        let mut sink = MetricsSink::new(m.clone(), &[]);
        let mut det = Detector::new(DetectConfig::default());
        let mut snap = DetectorSnapshot::default();
        det.policy.quirks_dropped = 2;
        {
            det.snapshot(&mut snap);
            sink.flush(&Stats::default(), 0, 0, &snap);
        }
        det.policy.quirks_dropped = 7;
        {
            det.snapshot(&mut snap);
            sink.flush(&Stats::default(), 0, 0, &snap);
        }
        let text = m.render();
        assert!(text.contains("s7sentry_detector_cap_hits_total{cap=\"quirks\"} 7"), "{text}");
        // Every cap has its series from the first flush on.
        for cap in s7sentry_engine::rules::CapCounters::NAMES {
            assert!(text.contains(&format!("s7sentry_detector_cap_hits_total{{cap=\"{cap}\"}}")), "{cap}");
        }
        assert!(text.contains("s7sentry_detector_cap_hits_total{cap=\"plcs\"} 0"), "{text}");
    }

    #[test]
    fn inventory_series() {
        use s7sentry_engine::assets::Device;
        use s7sentry_engine::Ts;
        let m = std::sync::Arc::new(Metrics::new("test"));
        let text = m.render();
        assert!(text.contains("s7sentry_vulnerable_devices{severity=\"critical\"} 0"), "{text}");
        assert!(text.contains("s7sentry_inventory_devices{role=\"plc\"} 0"));
        assert!(text.contains("s7sentry_inventory_evictions_total 0"));
        let mut sink = MetricsSink::new(m.clone(), &[]);
        let mut fleet = Fleet::default();
        for i in 0..(MAX_PLC_LABELS as u32 + 10) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let mut d = Device::new(ip, Ts(0));
            d.role = Role::Plc;
            d.identity.order_number = Some("6ES7 511-1AK02-0AB0".into());
            d.identity.firmware = Some(format!("V2.9.{}\n{}", i % 3, "x".repeat(100)));
            fleet.devices.insert(ip, d);
        }
        let hmi: IpAddr = "10.9.9.9".parse().unwrap();
        let mut d = Device::new(hmi, Ts(0));
        d.role = Role::Hmi;
        fleet.devices.insert(hmi, d);
        fleet.evicted = 7;
        let vulnerable = [
            VulnerableDevice { address: "10.0.0.0".parse().unwrap(), severity: "critical" },
            VulnerableDevice { address: "10.0.0.1".parse().unwrap(), severity: "high" },
            VulnerableDevice { address: "10.0.0.2".parse().unwrap(), severity: "high" },
            VulnerableDevice { address: "10.0.0.3".parse().unwrap(), severity: "none" },
        ];
        sink.set_inventory(&fleet, &vulnerable);
        let text = m.render();
        let info = text.lines().filter(|l| l.starts_with("s7sentry_plc_info{")).count();
        assert_eq!(info, MAX_PLC_LABELS, "bounded by the plc label budget");
        assert!(
            !text.lines().any(|l| l.starts_with("s7sentry_plc_info{") && l.contains("plc=\"other\"")),
            "no info series for plc=other"
        );
        let cut = format!("firmware=\"V2.9.0?{}\"", "x".repeat(MAX_INFO_LABEL_LEN - 7));
        assert!(text.contains(&cut), "firmware label cut and cleaned: {text}");
        for want in [
            "s7sentry_vulnerable_devices{severity=\"critical\"} 1",
            "s7sentry_vulnerable_devices{severity=\"high\"} 2",
            "s7sentry_vulnerable_devices{severity=\"none\"} 1",
            "s7sentry_vulnerable_devices{severity=\"low\"} 0",
            "s7sentry_inventory_devices{role=\"plc\"} 74",
            "s7sentry_inventory_devices{role=\"hmi\"} 1",
            "s7sentry_inventory_evictions_total 7",
        ] {
            assert!(text.contains(want), "{want} missing");
        }
        // A firmware change replaces the PLC's info series instead of adding one.
        let first: IpAddr = "10.0.0.0".parse().unwrap();
        fleet.devices.get_mut(&first).unwrap().identity.firmware = Some("V3.1.0".into());
        sink.set_inventory(&fleet, &[]);
        let text = m.render();
        let mine: Vec<&str> =
            text.lines().filter(|l| l.starts_with("s7sentry_plc_info{") && l.contains("plc=\"10.0.0.0\"")).collect();
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert!(mine[0].contains("firmware=\"V3.1.0\""));
        assert!(text.contains("s7sentry_vulnerable_devices{severity=\"critical\"} 0"));
    }

    #[test]
    fn exposition_has_every_rule_at_zero_and_passes_the_text_format() {
        let m = Metrics::new("test");
        let text = m.render();
        for r in s7sentry_engine::rules::catalog::RULES {
            assert!(text.contains(&format!("rule=\"{}\"", r.id)), "{} missing", r.id);
        }
        assert!(text.contains("s7sentry_build_info{version=\"test\"} 1"));
        assert!(text.contains("s7sentry_capture_dropped_total{where=\"kernel\"} 0"));
        assert!(text.contains("s7sentry_syslog_undelivered_total 0"));
        m.syslog_undelivered(3);
        m.syslog_undelivered(2);
        assert!(m.render().contains("s7sentry_syslog_undelivered_total 3"));
    }
}
