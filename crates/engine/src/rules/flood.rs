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
use super::txn::PairKey;
use super::{ev, Category, Detector, Msg};
use crate::event::{tcp_flags, Direction, Event, Meta};
use crate::time::Ts;
use s7sentry_proto::cotp::TpduCode;
use s7sentry_proto::s7comm::{Function, Rosctr};
use s7sentry_proto::{FindingKind, Layer};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

/// Raise a PLC-wide alert: aggregated per PLC, whatever the (possibly spoofed) source.
fn raise_plc(d: &mut Detector, rule: RuleId, meta: &Meta, msg: String, e: serde_json::Map<String, serde_json::Value>) {
    let m = *meta;
    // The alert names the packet that crossed the threshold; the aggregation key uses the
    // unspecified address as source so that 5 000 spoofed sources give one alert.
    let keyed = Meta { src: IpAddr::V4(Ipv4Addr::UNSPECIFIED), ..m };
    d.raise_keyed(rule, None, &m, &keyed, msg, e);
}

/// Raise a PLC-wide alert whose message is formatted only if it is shown.
fn raise_plc_lazy(
    d: &mut Detector,
    rule: RuleId,
    meta: &Meta,
    msg: fn(&Meta, u64, u64) -> String,
    (a, b): (u64, u64),
    evidence: impl FnOnce() -> serde_json::Map<String, serde_json::Value>,
) {
    let m = *meta;
    let keyed = Meta { src: IpAddr::V4(Ipv4Addr::UNSPECIFIED), ..m };
    d.raise_msg(rule, None, &m, &keyed, Msg::Lazy(msg, a, b), evidence);
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
pub(crate) fn on_event(d: &mut Detector, e: &Event<'_>) {
    let t = d.cfg.thresholds.clone();
    match *e {
        Event::Tcp { meta, flags, payload_len, .. } => {
            let (plc, _) = meta.server();
            let syn = flags & tcp_flags::SYN != 0 && flags & tcp_flags::ACK == 0;
            if meta.dir == Direction::ToServer && syn && meta.flow != 0 {
                let f = d.flow(&meta);
                let first = !f.syn;
                f.syn = true;
                if first {
                    f.embryonic = true;
                }
                let p = d.plc(plc);
                let n = p.syn.hit(meta.ts, 1);
                if first {
                    p.half_open += 1;
                }
                let half = p.half_open;
                if n > t.syn_per_second {
                    let nums = (u64::from(n), u64::from(t.syn_per_second));
                    raise_plc_lazy(d, FLOOD_SYN, &meta, syn_msg, nums, || ev(&[("syn_per_second", json!(n))]));
                }
                if first && half > t.half_open_per_plc {
                    let nums = (u64::from(half), u64::from(t.half_open_per_plc));
                    raise_plc_lazy(d, FLOOD_HALF_OPEN, &meta, half_open_msg, nums, || {
                        ev(&[("half_open", json!(half))])
                    });
                }
            }
            if payload_len > 0 && meta.flow != 0 {
                if let Some(f) = d.flows.get_mut(&meta.flow) {
                    if f.embryonic {
                        f.embryonic = false;
                        let p = d.plc(plc);
                        p.half_open = p.half_open.saturating_sub(1);
                    }
                }
            }
            if flags & tcp_flags::RST != 0 {
                let n = d.plc(plc).rst.hit(meta.ts, 1);
                if n > t.rst_per_second {
                    let nums = (u64::from(n), u64::from(t.rst_per_second));
                    raise_plc_lazy(d, FLOOD_RST, &meta, rst_msg, nums, || ev(&[("rst_per_second", json!(n))]));
                }
            }
        }
        Event::Cotp { meta, cotp } if meta.dir == Direction::ToServer && cotp.code == TpduCode::CR => {
            let f = d.flow(&meta);
            if f.iso_counted {
                return;
            }
            f.iso_counted = true;
            let (plc, _) = meta.server();
            let client = meta.client().0;
            let p = d.plc(plc);
            p.iso_conns += 1;
            let total = p.iso_conns;
            let s = p.source(client);
            s.conns += 1;
            let (conns, new) = (s.conns, s.new.hit(meta.ts, 10));
            if conns > t.connections_per_source {
                let msg = format!(
                    "{conns} concurrent ISO-on-TCP connections from {client} to PLC {plc} (threshold {})",
                    t.connections_per_source
                );
                d.raise(FLOOD_CONN, &meta, msg, ev(&[("concurrent_from_source", json!(conns))]));
            } else if new > t.new_connections_per_10s {
                let msg = format!(
                    "{new} new ISO-on-TCP connections from {client} to PLC {plc} within 10 s (threshold {})",
                    t.new_connections_per_10s
                );
                d.raise(FLOOD_CONN, &meta, msg, ev(&[("new_in_10s", json!(new))]));
            }
            if total > t.connections_per_plc {
                let msg = format!(
                    "{total} concurrent ISO-on-TCP connections to PLC {plc} (threshold {})",
                    t.connections_per_plc
                );
                raise_plc(d, FLOOD_CONN, &meta, msg, ev(&[("concurrent_to_plc", json!(total))]));
            }
        }
        Event::S7 { meta, pdu, .. } => {
            let (plc, _) = meta.server();
            if meta.dir == Direction::ToServer && pdu.header.rosctr == Rosctr::JOB {
                let func = pdu.function();
                if func == Some(Function::SETUP_COMM) {
                    let n = d.plc(plc).setup.hit(meta.ts, 10);
                    if n > t.setup_comm_per_10s {
                        let msg = format!(
                            "{n} Setup Communication jobs to PLC {plc} within 10 s (threshold {})",
                            t.setup_comm_per_10s
                        );
                        raise_plc(d, FLOOD_SETUP, &meta, msg, ev(&[("setup_comm_in_10s", json!(n))]));
                    }
                }
                let f = d.flow(&meta);
                let jobs = f.jobs.hit(meta.ts, 1);
                let writes = if func == Some(Function::WRITE_VAR) { f.writes.hit(meta.ts, 1) } else { 0 };
                // Parallel jobs beyond the granted AmQ (answers older than the response timeout are
                // assumed lost, not outstanding).
                let horizon = Ts(meta.ts.0.saturating_sub((t.response_timeout_ms as i64) * 1_000_000));
                let parallel = f.txns.outstanding_jobs(horizon);
                let amq = f.amq.map(u32::from);
                let amq_hit = amq.is_some_and(|a| parallel > a + t.amq_slack) && !f.amq_alerted;
                if amq_hit {
                    f.amq_alerted = true;
                    let a = amq.unwrap_or(0);
                    let msg = format!("{parallel} unanswered jobs in parallel from {} to PLC {plc}, above the AmQ of {a} the PLC granted", meta.src);
                    d.raise(FLOOD_AMQ, &meta, msg, ev(&[("parallel_jobs", json!(parallel)), ("amq", json!(a))]));
                }
                if writes > t.writes_per_second {
                    let msg = format!(
                        "Write flood: {writes} write jobs within one second from {} to PLC {plc} (threshold {})",
                        meta.src, t.writes_per_second
                    );
                    d.raise(FLOOD_REQ, &meta, msg, ev(&[("writes_per_second", json!(writes))]));
                } else if jobs > t.jobs_per_second {
                    let msg = format!(
                        "Request flood: {jobs} jobs within one second from {} to PLC {plc} (threshold {})",
                        meta.src, t.jobs_per_second
                    );
                    d.raise(FLOOD_REQ, &meta, msg, ev(&[("jobs_per_second", json!(jobs))]));
                }
            } else if meta.dir == Direction::ToClient && matches!(pdu.header.rosctr, Rosctr::ACK | Rosctr::ACK_DATA) {
                let setup = pdu.setup_comm();
                // Latency of the job this answer closed (see `txn`).
                let latency = d.closed.filter(|c| matches!(c.txn.key, PairKey::Job(..))).map(|c| c.latency);
                let f = d.flow(&meta);
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
            if let Some(f) = d.flows.get_mut(&meta.flow) {
                f.txns.gap(meta.ts);
            }
        }
        _ => {}
    }
    let _ = Category::Flood;
}

/// A flow ended: release its share of the per-PLC counts.
pub(crate) fn flow_end(d: &mut Detector, meta: &Meta) {
    let Some(f) = d.flows.get(&meta.flow) else {
        return;
    };
    let (embryonic, iso) = (f.embryonic && f.syn, f.iso_counted);
    let Some(server) = f.server else { return };
    let client = f.client.map(|c| c.0);
    let Some(p) = d.plcs.get_mut(&server.0) else {
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
