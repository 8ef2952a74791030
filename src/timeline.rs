//! `s7sentry timeline`: per PLC, in time order, what happened.
//!
//! No packet loop of its own: the captures go through the sensor pipeline
//! (`s7sentry_sensor::run`, the engine and the rules `replay` runs) with one
//! extra sink that keeps the connection events (COTP connect, accept, refuse;
//! end of the TCP connection), and an output that keeps the alerts. Control
//! operations, their outcome (from the PLC's answer, as the control rules
//! confirm it), CPU state changes and outages are read from the alerts.

use crate::input::{SharedTap, Tap};
use crate::replay::{open_unit, units};
use crate::{settings, TimelineArgs, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE};
use s7sentry_capture::PacketSource;
use s7sentry_engine::assets::Fleet;
use s7sentry_engine::rules::{Alert, Detector};
use s7sentry_engine::{EngineConfig, Event, EventSink, Ts};
use s7sentry_export::soc::{community_id, flow_id, PROTO_TCP};
use s7sentry_proto::cotp::TpduCode;
use s7sentry_sensor::{run, Ended, Extra, Output, Pipeline};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Entries kept at most (connections and alerts together); further ones are
/// counted and reported.
pub const MAX_ENTRIES: usize = 1_000_000;

/// One line of a PLC's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Time (RFC 3339, as in alerts).
    #[serde(serialize_with = "rfc3339")]
    pub ts: Ts,
    /// `connection` (COTP connect), `closed` (FIN, RST, idle, evicted), `open` (still
    /// open at the end of the capture), `control`, `state`, `outage`, `recovered`, `asset`, `alert`.
    pub kind: &'static str,
    /// The other end (client address and port), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// What happened.
    pub message: String,
    /// Rule of an alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    /// Severity of an alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<&'static str>,
    /// Control operations: `succeeded` / `answered` / `failed` / `unanswered`; connections: `accepted` / `refused` / `no answer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
    /// Capture file of the packet.
    pub pcap: String,
    /// Record number in that file (0: the end of the capture; `state` entries,
    /// which come from the detector's inventory, have none).
    pub frame: u64,
    /// Flow id of the connection (as in alerts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<u64>,
    /// Community ID of the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// Evidence pcap of the alert, if one was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_pcap: Option<String>,
    /// Order of arrival (ties in time keep it).
    #[serde(skip)]
    order: u64,
    /// PLC the entry belongs to.
    #[serde(skip)]
    plc: IpAddr,
}

fn rfc3339<S: serde::Serializer>(ts: &Ts, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(ts)
}

fn endpoint(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}:{port}"),
        IpAddr::V6(_) => format!("[{ip}]:{port}"),
    }
}

/// Connection events from the engine.
#[derive(Default)]
struct Connections {
    entries: Vec<Entry>,
    /// Open connections with a COTP connect: engine flow -> index of its entry.
    open: HashMap<u64, usize>,
    order: u64,
    dropped: u64,
}

impl Connections {
    fn push(&mut self, e: Entry) -> Option<usize> {
        if self.entries.len() >= MAX_ENTRIES {
            self.dropped += 1;
            return None;
        }
        self.entries.push(e);
        Some(self.entries.len() - 1)
    }
}

impl EventSink for Connections {
    fn on_event(&mut self, e: &Event<'_>) {
        match e {
            Event::Cotp { meta, cotp } => {
                let (server, _) = meta.server();
                let (client, cport) = meta.client();
                match cotp.code {
                    TpduCode::CR if !self.open.contains_key(&meta.flow) => {
                        self.order += 1;
                        let fid = flow_id(meta.src, meta.sport, meta.dst, meta.dport, meta.flow_start);
                        let entry = Entry {
                            ts: meta.ts,
                            kind: "connection",
                            peer: Some(endpoint(client, cport)),
                            message: format!("COTP connection from {}", endpoint(client, cport)),
                            rule: None,
                            severity: None,
                            result: Some("no answer"),
                            pcap: String::new(),
                            frame: meta.frame,
                            flow_id: Some(fid),
                            community_id: community_id(meta.src, meta.sport, meta.dst, meta.dport, PROTO_TCP, 0),
                            evidence_pcap: None,
                            order: self.order,
                            plc: server,
                        };
                        if let Some(i) = self.push(entry) {
                            self.open.insert(meta.flow, i);
                        }
                    }
                    TpduCode::CC => {
                        if let Some(&i) = self.open.get(&meta.flow) {
                            self.entries[i].result = Some("accepted");
                        }
                    }
                    TpduCode::DR | TpduCode::ER => {
                        if let Some(&i) = self.open.get(&meta.flow) {
                            if self.entries[i].result == Some("no answer") {
                                self.entries[i].result = Some("refused");
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::FlowEnd { meta, reason, carried_pdus } => {
                let Some(i) = self.open.remove(&meta.flow) else { return };
                let start = &self.entries[i];
                let (plc, peer, fid, cid, t0) =
                    (start.plc, start.peer.clone(), start.flow_id, start.community_id.clone(), start.ts);
                self.order += 1;
                let how = match reason.name() {
                    "fin" => "closed (FIN)",
                    "rst" => "reset (RST)",
                    "idle" => "idle, forgotten",
                    "evicted" => "evicted (flow table full)",
                    _ => "still open at the end of the capture",
                };
                let kind = if *reason == s7sentry_engine::event::EndReason::EndOfCapture { "open" } else { "closed" };
                let entry = Entry {
                    ts: meta.ts,
                    kind,
                    message: format!(
                        "connection from {} {how} after {:.1} s{}",
                        peer.as_deref().unwrap_or("?"),
                        meta.ts.secs_since(t0).max(0.0),
                        if *carried_pdus { "" } else { ", no S7 PDU" }
                    ),
                    peer,
                    rule: None,
                    severity: None,
                    result: None,
                    pcap: String::new(),
                    frame: meta.frame,
                    flow_id: fid,
                    community_id: cid,
                    evidence_pcap: None,
                    order: self.order,
                    plc,
                };
                self.push(entry);
            }
            _ => {}
        }
    }
}

impl Extra for Connections {}

/// Alerts as they come (frame numbers as the engine gave them).
struct Kept {
    alerts: Vec<(u64, Alert)>,
    order: u64,
    dropped: u64,
}

impl Output for Kept {
    fn alert(&mut self, a: &Alert) -> std::io::Result<()> {
        self.order += 1;
        if self.alerts.len() >= MAX_ENTRIES {
            self.dropped += 1;
        } else {
            self.alerts.push((self.order, a.clone()));
        }
        Ok(())
    }
}

/// The normalised result of a control operation's outcome text.
fn control_result(outcome: &str) -> &'static str {
    if outcome.starts_with("failed") || outcome.contains("error") {
        "failed"
    } else if outcome.starts_with("unconfirmed") || outcome.contains("no answer") {
        "unanswered"
    } else if outcome == "succeeded" {
        "succeeded"
    } else {
        "answered"
    }
}

/// `state` entries of a PLC from the inventory the detector kept: every CPU
/// state change the PLC confirmed (an answered STOP / START, also when its
/// alert was folded into an aggregated follow-up) or announced itself.
fn state_entries(fleet: &Fleet, order: &mut u64, name: &str) -> Vec<Entry> {
    let mut v = Vec::new();
    for d in fleet.devices.values() {
        for sc in &d.state_changes {
            *order += 1;
            let message = match sc.by {
                Some(by) => format!("CPU -> {} (ordered by {by}, confirmed by the PLC)", sc.state.to_uppercase()),
                None => format!("CPU reports {} (mode transition)", sc.state.to_uppercase()),
            };
            v.push(Entry {
                ts: sc.ts,
                kind: "state",
                peer: sc.by.map(|b| b.to_string()),
                message,
                rule: None,
                severity: None,
                result: None,
                pcap: name.to_string(),
                frame: 0,
                flow_id: None,
                community_id: None,
                evidence_pcap: None,
                order: *order,
                plc: d.address,
            });
        }
    }
    v
}

/// The entry of one alert.
fn alert_entry(order: u64, a: &Alert, ports: &[u16]) -> Entry {
    let plc = if ports.contains(&a.dport) || !ports.contains(&a.sport) { a.dst } else { a.src };
    let peer = (a.sport != 0 || a.dport != 0).then(|| {
        if plc == a.dst {
            endpoint(a.src, a.sport)
        } else {
            endpoint(a.dst, a.dport)
        }
    });
    let outcome = a.evidence.get("outcome").and_then(|v| v.as_str());
    let (kind, result) = match a.rule {
        "loss_of_communication.plc_unresponsive" => ("outage", None),
        "loss_of_communication.plc_recovered" => ("recovered", None),
        "baseline.asset_change" => ("asset", None),
        r if r.starts_with("control.") => ("control", outcome.map(control_result)),
        _ => ("alert", None),
    };
    Entry {
        ts: a.ts,
        kind,
        peer,
        message: a.message.chars().map(|c| if c.is_control() { '?' } else { c }).collect(),
        rule: Some(a.rule),
        severity: Some(a.severity.name()),
        result,
        pcap: a.pcap.clone(),
        frame: a.frame,
        flow_id: s7sentry_export::soc::alert_flow_id(a),
        community_id: s7sentry_export::soc::alert_community_id(a),
        evidence_pcap: a.evidence.get("evidence_pcap").and_then(|v| v.as_str()).map(str::to_string),
        order,
        plc,
    }
}

/// One PLC's timeline.
#[derive(Debug, Serialize)]
pub struct PlcTimeline {
    /// PLC address.
    pub plc: IpAddr,
    /// Entries in time order.
    pub entries: Vec<Entry>,
}

/// Sort `entries` into one timeline per PLC, PLCs in address order.
pub fn by_plc(entries: Vec<Entry>) -> Vec<PlcTimeline> {
    let mut m: BTreeMap<IpAddr, Vec<Entry>> = BTreeMap::new();
    for e in entries {
        m.entry(e.plc).or_default().push(e);
    }
    m.into_iter()
        .map(|(plc, mut entries)| {
            entries.sort_by_key(|e| (e.ts, e.order));
            PlcTimeline { plc, entries }
        })
        .collect()
}

/// The text view.
pub fn render_text(t: &[PlcTimeline]) -> String {
    let mut s = String::new();
    for p in t {
        let (first, last) = (p.entries.first().map(|e| e.ts), p.entries.last().map(|e| e.ts));
        let _ = writeln!(s, "PLC {} ({} entries", p.plc, p.entries.len());
        s.pop();
        if let (Some(f), Some(l)) = (first, last) {
            let _ = write!(s, ", {f} .. {l}");
        }
        s.push_str(")\n");
        for e in &p.entries {
            let _ = write!(s, "  {} {:<10} ", e.ts, e.kind);
            s.push_str(&e.message);
            if let Some(r) = e.result.filter(|_| e.kind == "connection") {
                let _ = write!(s, ": {r}");
            }
            if let (Some(rule), Some(sev)) = (e.rule, e.severity) {
                let _ = write!(s, " [{rule}, {sev}]");
            }
            match e.frame {
                0 if e.kind == "state" => {}
                0 => {
                    let _ = write!(s, " ({}, end)", e.pcap);
                }
                f => {
                    let _ = write!(s, " ({} #{f})", e.pcap);
                }
            }
            if let Some(p) = &e.evidence_pcap {
                let _ = write!(s, " evidence: {p}");
            }
            s.push('\n');
        }
        s.push('\n');
    }
    s
}

/// Run `timeline`; returns the exit status.
pub fn run_timeline(a: &TimelineArgs) -> u8 {
    let cfg = match settings::load(&a.detection) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let ports = EngineConfig::default().ports;
    let tap: SharedTap = std::rc::Rc::new(std::cell::RefCell::new(Tap::default()));
    let mut status = EXIT_OK;
    let mut entries = Vec::new();
    let mut dropped = 0u64;
    for unit in units(&a.input.files, a.input.continuous) {
        let Some(mut src) = open_unit(&unit, &tap, &mut status) else { continue };
        let name = src.name().to_string();
        let mut det = Detector::new(cfg.clone());
        det.set_source(&name);
        // Asset tracking (learning, never enforcing: no new_talker / new_function
        // alerts) records every confirmed CPU state change with its time and requester.
        det.enable_assets(Fleet::default());
        let mut pipe = Pipeline::new(EngineConfig::default(), Some(det), Connections::default());
        let mut kept = Kept { alerts: Vec::new(), order: 0, dropped: 0 };
        if let Ended::Unreadable(e) = run(&mut src, &mut pipe, &mut kept) {
            eprintln!("s7sentry: {e}");
            status = status.max(EXIT_PARTIAL);
        }
        let _ = pipe.finish(&mut kept);
        if !std::mem::take(&mut tap.borrow_mut().damaged).is_empty() {
            status = status.max(EXIT_PARTIAL);
        }
        let fleet = pipe.detector_mut().and_then(Detector::take_fleet).unwrap_or_default();
        let conns = pipe.into_extra();
        dropped += conns.dropped + kept.dropped;
        let files = &tap.borrow().files;
        let place = |frame: u64| match files.locate(frame) {
            Some((f, r)) => (f.to_string(), r),
            None => (name.clone(), frame),
        };
        // Connection entries come first at equal times: a connection precedes what it carries.
        for mut e in conns.entries {
            (e.pcap, e.frame) = place(e.frame);
            entries.push(e);
        }
        let mut order = conns.order;
        for (k, mut al) in kept.alerts {
            if files.is_set() {
                (al.pcap, al.frame) = place(al.frame);
            }
            entries.push(alert_entry(order + k, &al, &ports));
        }
        order += kept.order;
        entries.extend(state_entries(&fleet, &mut order, &name));
    }
    if let Some(plc) = a.plc {
        entries.retain(|e| e.plc == plc);
    }
    let t = by_plc(entries);
    let text = if a.json {
        let mut s = serde_json::to_string_pretty(&t).unwrap_or_default();
        s.push('\n');
        s
    } else {
        render_text(&t)
    };
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if dropped > 0 {
        eprintln!("s7sentry: timeline cut: {dropped} entries beyond {MAX_ENTRIES} not kept");
        status = status.max(EXIT_PARTIAL);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_results() {
        assert_eq!(control_result("succeeded"), "succeeded");
        assert_eq!(control_result("answered by the PLC"), "answered");
        assert_eq!(control_result("failed, PLC answered error 0x8104 (x)"), "failed");
        assert_eq!(control_result("unconfirmed (no answer within 5.0 s)"), "unanswered");
    }
}
