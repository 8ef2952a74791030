//! Family `flood`: floods and resource exhaustion.
//!
//! * SYN rate and half-open connections per PLC, concurrent and new ISO-on-TCP
//!   connections per PLC and per source — connection-resource exhaustion,
//!   CVE-2018-13815 (SSA-584286).
//! * Setup-communication floods, more parallel jobs than the AmQ the PLC granted,
//!   job / write floods per connection, RST storms (CVE-2025-40820 class).
//!
//! PLC-wide alerts aggregate per PLC (spoofed sources do not multiply them).

use super::catalog::*;
use super::ctx::{Ctx, FlowTable, PlcLookup, PlcTable};
use super::txn::{Outcome, PairKey};
use super::CapCounters;
use super::{ev, Category, Core, Later, Msg, Raise};
use crate::event::{tcp_flags, Direction, Event, Meta};
use crate::time::Ts;
use s7sentry_proto::cotp::TpduCode;
use s7sentry_proto::s7comm::{Function, Rosctr};
use s7sentry_proto::{FindingKind, Layer};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

/// Raise a PLC-wide alert: aggregated per PLC, whatever the (possibly spoofed) source.
fn raise_plc(
    d: &mut Core,
    cx: &mut Ctx<'_>,
    rule: RuleId,
    meta: &Meta,
    msg: String,
    e: serde_json::Map<String, serde_json::Value>,
) {
    let m = *meta;
    // The alert names the packet that crossed the threshold; the aggregation key uses the
    // unspecified address as source so that 5 000 spoofed sources give one alert.
    d.emit(cx, Raise::new(rule, &m, msg, e).keyed(IpAddr::V4(Ipv4Addr::UNSPECIFIED), m.dst));
}

/// Raise a PLC-wide alert whose message is formatted only if it is shown.
fn raise_plc_lazy(
    d: &mut Core,
    cx: &mut Ctx<'_>,
    rule: RuleId,
    meta: &Meta,
    msg: fn(&Meta, u64, u64) -> String,
    (a, b): (u64, u64),
    evidence: impl FnOnce() -> serde_json::Map<String, serde_json::Value>,
) {
    let m = *meta;
    d.emit(
        cx,
        Raise::new(rule, &m, Msg::Lazy(msg, a, b), Later(evidence)).keyed(IpAddr::V4(Ipv4Addr::UNSPECIFIED), m.dst),
    );
}

fn syn_msg(m: &Meta, n: u64, threshold: u64) -> String {
    format!("SYN flood toward PLC {}:102: {n} SYNs within one second (threshold {threshold})", m.server().0)
}

fn half_open_msg(m: &Meta, half: u64, threshold: u64) -> String {
    format!("{half} half-open connections to PLC {}:102 (threshold {threshold})", m.server().0)
}

fn rst_msg(m: &Meta, n: u64, threshold: u64) -> String {
    format!("RST storm on PLC {}:102: {n} resets within one second (threshold {threshold})", m.server().0)
}

/// Handle one event.
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    // Ticks and flow ends (two of the three events of a SYN flood's packet) concern no rule here.
    if !matches!(e, Event::Tcp { .. } | Event::Cotp { .. } | Event::S7 { .. } | Event::Finding { .. }) {
        return;
    }
    // The thresholds each arm reads are copied out (a few integers), not the whole table.
    match *e {
        Event::Tcp { meta, flags, payload_len, .. } => {
            let syn = flags & tcp_flags::SYN != 0 && flags & tcp_flags::ACK == 0;
            if meta.dir == Direction::ToServer && syn && meta.flow != 0 {
                let f = cx.flow();
                let first = !f.syn;
                f.syn = true;
                if first {
                    f.embryonic = true;
                }
                let p = cx.plc(&mut d.caps);
                let n = p.syn.hit(meta.ts, 1);
                if first {
                    p.half_open += 1;
                }
                let half = p.half_open;
                let t = &d.cfg.thresholds;
                let (syn_per_second, half_open_per_plc) = (t.syn_per_second, t.half_open_per_plc);
                if n > syn_per_second {
                    let nums = (u64::from(n), u64::from(syn_per_second));
                    raise_plc_lazy(d, cx, FLOOD_SYN, &meta, syn_msg, nums, || ev(&[("syn_per_second", json!(n))]));
                }
                if first && half > half_open_per_plc {
                    let nums = (u64::from(half), u64::from(half_open_per_plc));
                    raise_plc_lazy(d, cx, FLOOD_HALF_OPEN, &meta, half_open_msg, nums, || {
                        ev(&[("half_open", json!(half))])
                    });
                }
            }
            if payload_len > 0 && meta.flow != 0 {
                data_seen(d, cx);
            }
            if flags & tcp_flags::RST != 0 {
                let n = cx.plc(&mut d.caps).rst.hit(meta.ts, 1);
                let rst_per_second = d.cfg.thresholds.rst_per_second;
                if n > rst_per_second {
                    let nums = (u64::from(n), u64::from(rst_per_second));
                    raise_plc_lazy(d, cx, FLOOD_RST, &meta, rst_msg, nums, || ev(&[("rst_per_second", json!(n))]));
                }
            }
        }
        Event::Cotp { meta, cotp } if meta.dir == Direction::ToServer && cotp.code == TpduCode::CR => {
            let f = cx.flow();
            if f.iso_counted {
                return;
            }
            f.iso_counted = true;
            let t = &d.cfg.thresholds;
            let (per_source, new_per_10s, per_plc) =
                (t.connections_per_source, t.new_connections_per_10s, t.connections_per_plc);
            let (plc, _) = meta.server();
            let client = meta.client().0;
            let caps = &mut d.caps;
            let p = cx.plc(caps);
            p.iso_conns += 1;
            let total = p.iso_conns;
            let s = p.source(client, &mut caps[super::Cap::SourcesPerPlc]);
            s.conns += 1;
            let (conns, new) = (s.conns, s.new.hit(meta.ts, 10));
            if conns > per_source {
                let msg = format!(
                    "{conns} concurrent ISO-on-TCP connections from {client} to PLC {plc} (threshold {per_source})"
                );
                d.emit(cx, Raise::new(FLOOD_CONN, &meta, msg, ev(&[("concurrent_from_source", json!(conns))])));
            } else if new > new_per_10s {
                let msg = format!(
                    "{new} new ISO-on-TCP connections from {client} to PLC {plc} within 10 s (threshold {new_per_10s})"
                );
                d.emit(cx, Raise::new(FLOOD_CONN, &meta, msg, ev(&[("new_in_10s", json!(new))])));
            }
            if total > per_plc {
                let msg = format!("{total} concurrent ISO-on-TCP connections to PLC {plc} (threshold {per_plc})");
                raise_plc(d, cx, FLOOD_CONN, &meta, msg, ev(&[("concurrent_to_plc", json!(total))]));
            }
        }
        Event::S7 { meta, pdu, .. } => {
            let (plc, _) = meta.server();
            if meta.dir == Direction::ToServer {
                // Rates held over time, repetition and learned rates (`storm`).
                super::storm::on_request(d, cx, &meta, pdu);
            }
            if meta.dir == Direction::ToServer && pdu.header.rosctr == Rosctr::JOB {
                let func = pdu.function();
                if func == Some(Function::SETUP_COMM) {
                    let n = cx.plc(&mut d.caps).setup.hit(meta.ts, 10);
                    let setup_comm_per_10s = d.cfg.thresholds.setup_comm_per_10s;
                    if n > setup_comm_per_10s {
                        let msg = format!(
                            "{n} Setup Communication jobs to PLC {plc} within 10 s (threshold {setup_comm_per_10s})"
                        );
                        raise_plc(d, cx, FLOOD_SETUP, &meta, msg, ev(&[("setup_comm_in_10s", json!(n))]));
                    }
                }
                let t = &d.cfg.thresholds;
                let (response_timeout_ms, amq_slack, amq_gross_factor) =
                    (t.response_timeout_ms, t.amq_slack, t.amq_gross_factor);
                let (writes_per_second, jobs_per_second) = (t.writes_per_second, t.jobs_per_second);
                let f = cx.flow();
                let jobs = f.jobs.hit(meta.ts, 1);
                let writes = if func == Some(Function::WRITE_VAR) { f.writes.hit(meta.ts, 1) } else { 0 };
                // Parallel jobs beyond the granted AmQ (answers older than the response timeout are
                // assumed lost, not outstanding).
                let horizon = Ts(meta.ts.0.saturating_sub((response_timeout_ms as i64) * 1_000_000));
                let parallel = f.txns.outstanding_jobs(horizon);
                if let Some(a) = f.amq.map(u32::from).filter(|&a| parallel > a + amq_slack) {
                    let gross = parallel > a.saturating_mul(amq_gross_factor).saturating_add(amq_slack);
                    match f.amq_watch.as_mut() {
                        _ if f.amq_alerted => {}
                        _ if gross => {
                            // Gross excess: a flood whatever the PLC answers.
                            let w = AmqWatch { meta, parallel, amq: a };
                            f.amq_alerted = true;
                            if f.amq_watch.take().is_some() {
                                d.amq_watching -= 1;
                            }
                            amq_verdict(d, cx, w, Verdict::Gross);
                        }
                        Some(w) => w.parallel = w.parallel.max(parallel),
                        None => {
                            f.amq_watch = Some(AmqWatch { meta, parallel, amq: a });
                            d.amq_watching += 1;
                            d.wait(&meta, super::Waiting::Amq(meta.flow));
                        }
                    }
                }
                if writes > writes_per_second {
                    let msg = format!(
                        "Write flood: {writes} write jobs within one second from {} to PLC {plc} (threshold {writes_per_second})",
                        meta.src
                    );
                    d.emit(cx, Raise::new(FLOOD_REQ, &meta, msg, ev(&[("writes_per_second", json!(writes))])));
                } else if jobs > jobs_per_second {
                    let msg = format!(
                        "Request flood: {jobs} jobs within one second from {} to PLC {plc} (threshold {jobs_per_second})",
                        meta.src
                    );
                    d.emit(cx, Raise::new(FLOOD_REQ, &meta, msg, ev(&[("jobs_per_second", json!(jobs))])));
                }
            } else if meta.dir == Direction::ToClient && matches!(pdu.header.rosctr, Rosctr::ACK | Rosctr::ACK_DATA) {
                // Only a Setup Communication answer carries parameters read here (no
                // parameter decoding for the other answers).
                let setup = if pdu.function() == Some(Function::SETUP_COMM) { pdu.setup_comm() } else { None };
                // Latency of the job this answer closed (see `txn`).
                let closed = d.closed.filter(|c| matches!(c.txn.key, PairKey::Job(..)));
                let latency = closed.map(|c| c.latency);
                let f = cx.flow();
                let f = if f.amq_watch.is_some() {
                    let verdict = match closed.map(|c| c.outcome) {
                        Some(Outcome::S7(Some(e))) => Some(Verdict::Refused(e.0)),
                        _ if f.txns.outstanding_jobs(Ts(i64::MIN)) == 0 => Some(Verdict::Answered),
                        _ => None,
                    };
                    if let Some(v) = verdict {
                        if let Some(w) = f.amq_watch.take() {
                            f.amq_alerted = true;
                            d.amq_watching -= 1;
                            amq_verdict(d, cx, w, v);
                        }
                    }
                    cx.flow()
                } else {
                    f
                };
                if let Some(sc) = setup {
                    f.pdu_size = Some(sc.pdu_length);
                    f.amq = Some(sc.max_amq_calling);
                }
                if let Some(l) = latency {
                    d.observe_latency(plc, l);
                }
            }
        }
        Event::Finding { meta, finding, .. }
            if finding.layer == Layer::Tcp && finding.kind == FindingKind::StreamGap =>
        {
            // Answers may have been lost with the gap: do not count their jobs as parallel.
            if let Some(f) = cx.flow_if() {
                f.txns.gap(meta.ts);
            }
        }
        _ => {}
    }
    let _ = Category::Flood;
}

/// Data on the event's connection (flow id not 0): it is no longer half-open.
#[inline]
fn data_seen(d: &mut Core, cx: &mut Ctx<'_>) {
    if let Some(f) = cx.flow_if() {
        if f.embryonic {
            f.embryonic = false;
            let p = cx.plc(&mut d.caps);
            p.half_open = p.half_open.saturating_sub(1);
        }
    }
}

/// Parallel jobs above the granted AmQ, waiting for the PLC's answers to be judged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AmqWatch {
    /// The job that went above the AmQ.
    meta: Meta,
    /// Most jobs in parallel seen.
    parallel: u32,
    amq: u32,
}

impl AmqWatch {
    /// (ts, frame) of the job that went above the AmQ (the verdict carries it).
    pub(crate) fn at(&self) -> (Ts, u64) {
        (self.meta.ts, self.meta.frame)
    }
}

/// How a PLC dealt with jobs above its AmQ.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// Far above the AmQ: a flood at once.
    Gross,
    /// Every job answered without error: client pipelining (info).
    Answered,
    /// The PLC refused a job (its error code).
    Refused(u16),
    /// Jobs still unanswered after the response timeout, or when the connection ended.
    Unanswered(u32),
}

fn amq_verdict(d: &mut Core, cx: &mut (impl PlcLookup + ?Sized), w: AmqWatch, v: Verdict) {
    // The watch ended: the alert floor may move up.
    d.floor = None;
    let (parallel, a, src, plc) = (w.parallel, w.amq, w.meta.src, w.meta.dst);
    let head = format!("{parallel} jobs in parallel from {src} to PLC {plc}, above the AmQ of {a} the PLC granted");
    let (msg, verdict) = match v {
        Verdict::Gross => (
            format!(
                "{parallel} unanswered jobs in parallel from {src} to PLC {plc}, above the AmQ of {a} the PLC granted"
            ),
            "gross",
        ),
        Verdict::Answered => {
            (format!("{head}; the PLC answered every one (client pipelining, not a flood)"), "answered")
        }
        Verdict::Refused(e) => (format!("{head}; the PLC refused a job (error 0x{e:04x})"), "refused"),
        Verdict::Unanswered(n) => (format!("{head}; {n} of them left unanswered by the PLC"), "unanswered"),
    };
    let e = ev(&[("parallel_jobs", json!(parallel)), ("amq", json!(a)), ("verdict", json!(verdict))]);
    if matches!(v, Verdict::Answered) {
        d.emit(cx, Raise::new(FLOOD_AMQ, &w.meta, msg, e).category(Category::Flood).severity(super::Severity::Info));
    } else {
        d.emit(cx, Raise::new(FLOOD_AMQ, &w.meta, msg, e));
    }
}

/// [`data_seen`] for a plain TCP segment, which the detector handles without a
/// context: data on connection `meta.flow` (flow id not 0).
#[inline]
pub(crate) fn data_seen_tables(flows: &mut FlowTable, plcs: &mut PlcTable, caps: &mut CapCounters, meta: &Meta) {
    if let Some(f) = flows.get_mut(&meta.flow) {
        if f.embryonic {
            f.embryonic = false;
            let p = plcs.plc_for(meta.server().0, caps);
            p.half_open = p.half_open.saturating_sub(1);
        }
    }
}

/// Timer: judge AmQ excesses whose jobs are still unanswered after the
/// response timeout (all of them at the end of input).
pub(crate) fn amq_timers(d: &mut Core, flows: &mut FlowTable, plcs: &mut PlcTable, now: Ts, end: bool) {
    if d.amq_watching == 0 {
        return;
    }
    let timeout = d.cfg.thresholds.response_timeout_ms;
    let mut due: Vec<(AmqWatch, u32)> = Vec::new();
    for f in flows.values_mut() {
        if let Some(w) = f.amq_watch.filter(|w| end || now.ms_since(w.meta.ts) >= timeout) {
            f.amq_watch = None;
            f.amq_alerted = true;
            due.push((w, f.txns.outstanding_jobs(Ts(i64::MIN))));
        }
    }
    due.sort_by_key(|(w, _)| (w.meta.ts, w.meta.frame, w.meta.flow));
    for (w, open) in due {
        d.amq_watching -= 1;
        amq_verdict(d, plcs, w, if open == 0 { Verdict::Answered } else { Verdict::Unanswered(open) });
    }
}

/// A flow ended: release its share of the per-PLC counts.
pub(crate) fn flow_end(d: &mut Core, cx: &mut Ctx<'_>) {
    if let Some(f) = cx.flow_if() {
        if let Some(w) = f.amq_watch.take() {
            f.amq_alerted = true;
            let open = f.txns.outstanding_jobs(Ts(i64::MIN));
            d.amq_watching -= 1;
            amq_verdict(d, cx, w, if open == 0 { Verdict::Answered } else { Verdict::Unanswered(open) });
        }
    }
    let Some(f) = cx.flow_if() else {
        return;
    };
    let (embryonic, iso) = (f.embryonic && f.syn, f.iso_counted);
    let Some(server) = f.server else { return };
    let client = f.client.map(|c| c.0);
    let Some(p) = cx.plc_if(server.0) else {
        return;
    };
    if embryonic {
        p.half_open = p.half_open.saturating_sub(1);
    }
    if iso {
        p.iso_conns = p.iso_conns.saturating_sub(1);
        if let Some(c) = client {
            if let Some(s) = p.sources.iter_mut().find(|s| s.ip == c) {
                s.conns = s.conns.saturating_sub(1);
            }
        }
    }
}
