//! Family `loss_of_communication`: the outcome signal.
//!
//! Siemens never published the bytes behind the S7-1500 crash advisories
//! (CVE-2023-46156, CVE-2021-37185/37204/37205, CVE-2021-40365); what a
//! crash leaves on the wire is a PLC that stops answering. A PLC that was
//! answering and then leaves requests unanswered beyond the response timeout,
//! while clients keep trying (further jobs, retransmissions, SYNs without
//! SYN-ACK, CRs without CC), raises one alert per outage, listing the suspect
//! packets that reached it in the preceding window. Any answer ends the
//! outage with a `plc_recovered` record carrying its duration.
//!
//! Answers are measured at the S7 layer: a COTP TPDU (Connect Confirm, DR,
//! data), an S7comm or S7comm-plus answer, or TLS from the PLC. A SYN-ACK
//! answers only a SYN: once an S7 request (CR, job, userdata or S7comm-plus
//! request, retransmitted data) waits, a SYN-ACK does not end the wait — a PLC
//! whose TCP stack still accepts connections while its S7 service is silent
//! (the hang the crash advisories describe: clients reconnect, their CRs get
//! no CC) is reported, with the SYN-ACKs it sent in the evidence.

use super::catalog::*;
use super::ctx::{Ctx, PlcTable};
use super::{ev, Core, Raise};
use crate::event::{tcp_flags, Direction, Event, Meta};
use crate::time::Ts;
use s7sentry_proto::cotp::TpduCode;
use s7sentry_proto::s7comm::Rosctr;
use s7sentry_proto::s7plus::Opcode;
use serde_json::json;
use std::net::IpAddr;

/// Clients an outage lists (the rest counted in `Cap::ClientsTrying`).
const MAX_CLIENTS_TRYING: usize = 16;

/// A request reached the PLC: `s7` when it is an S7-layer request (not a SYN).
fn request(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, s7: bool) {
    let port = meta.server().1;
    let client = meta.client();
    let caps = &mut d.caps;
    let p = cx.plc(caps);
    match p.pending_since {
        None => {
            p.pending_since = Some((meta.ts, meta.frame));
            p.tries = 0;
            p.s7_waiting = 0;
            p.syn_acks = 0;
            p.clients_trying.clear();
        }
        Some(_) => p.tries += 1,
    }
    if s7 {
        p.s7_waiting += 1;
    }
    p.last_client = Some(client);
    if !p.clients_trying.contains(&client.0) {
        if p.clients_trying.len() < MAX_CLIENTS_TRYING {
            p.clients_trying.push(client.0);
        } else {
            caps[super::Cap::ClientsTrying] += 1;
        }
    }
    let _ = port;
}

/// The PLC's TCP stack accepted a connection (SYN-ACK): answers the SYNs
/// waiting, not an S7 request.
fn syn_ack(d: &mut Core, cx: &mut Ctx<'_>) {
    let p = cx.plc(&mut d.caps);
    if p.pending_since.is_none() {
        return;
    }
    if p.s7_waiting == 0 {
        p.pending_since = None;
        p.tries = 0;
        p.clients_trying.clear();
    } else {
        p.syn_acks += 1;
    }
}

/// The PLC answered at the S7 layer.
fn answered(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta) {
    let (plc, port) = meta.server();
    let p = cx.plc(&mut d.caps);
    p.answered_ever = true;
    p.last_answer = meta.ts;
    p.pending_since = None;
    p.tries = 0;
    p.s7_waiting = 0;
    p.syn_acks = 0;
    p.clients_trying.clear();
    if let Some((since, _alerted)) = p.outage.take() {
        let secs = meta.ts.secs_since(since);
        let msg = format!("PLC {plc}:{port} answers again after {secs:.1} s without answering");
        let e = ev(&[
            ("outage_seconds", json!((secs * 1000.0).round() / 1000.0)),
            ("outage_start", json!(since.to_string())),
        ]);
        d.emit(cx, Raise::new(LOSS_RECOVERED, meta, msg, e));
    }
}

/// Handle one event.
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    match *e {
        Event::Tcp { meta, flags, payload_len, retransmission, .. } => {
            if meta.flow == 0 && flags & tcp_flags::SYN == 0 {
                return;
            }
            let syn = flags & tcp_flags::SYN != 0;
            let ack = flags & tcp_flags::ACK != 0;
            match meta.dir {
                Direction::ToServer if syn && !ack => request(d, cx, &meta, false),
                Direction::ToServer if retransmission && payload_len > 1 => request(d, cx, &meta, true),
                Direction::ToClient if syn && ack => syn_ack(d, cx),
                _ => {}
            }
        }
        Event::Cotp { meta, cotp } => match meta.dir {
            Direction::ToServer if cotp.code == TpduCode::CR => request(d, cx, &meta, true),
            Direction::ToServer => {}
            Direction::ToClient => answered(d, cx, &meta),
        },
        Event::S7 { meta, pdu, .. } => match meta.dir {
            Direction::ToServer => {
                let is_request = pdu.header.rosctr == Rosctr::JOB || pdu.userdata().is_some_and(|u| u.is_request());
                if is_request {
                    request(d, cx, &meta, true);
                }
            }
            Direction::ToClient => answered(d, cx, &meta),
        },
        Event::S7Plus { meta, message, .. } => match meta.dir {
            Direction::ToServer => {
                if message.is_some_and(|m| m.frame.opcode == Some(Opcode::REQUEST)) {
                    request(d, cx, &meta, true)
                }
            }
            Direction::ToClient => answered(d, cx, &meta),
        },
        Event::Tls { meta, .. } if meta.dir == Direction::ToClient => answered(d, cx, &meta),
        _ => {}
    }
}

/// Timer: declare outages.
pub(crate) fn check(d: &mut Core, plcs: &mut PlcTable, now: Ts) {
    let t = &d.cfg.thresholds;
    let (timeout, retries, window) = (t.response_timeout_ms, t.retries_before_outage, t.suspect_window_seconds);
    let mut due: Vec<IpAddr> = plcs
        .iter()
        .filter(|(_, p)| {
            p.answered_ever
                && p.outage.is_none()
                && p.tries >= retries
                && p.pending_since.is_some_and(|(t0, _)| now.ms_since(t0) >= timeout)
        })
        .map(|(ip, _)| *ip)
        .collect();
    due.sort();
    for plc in due {
        let frame = d.last_frame;
        let Some(p) = plcs.get_mut(&plc) else {
            continue;
        };
        let Some((t0, frame0)) = p.pending_since else {
            continue;
        };
        p.outage = Some((t0, now));
        let (client, cport) = p.last_client.unwrap_or((plc, 0));
        let since_ms = now.ms_since(t0);
        let from = t0.plus_ms(0).0 - (window as i64) * 1_000_000_000;
        let suspects: Vec<_> = p.suspects.iter().filter(|s| s.ts.0 >= from && s.ts <= now).cloned().collect();
        let tries = p.tries + 1;
        let syn_acks = p.syn_acks;
        let clients = p.clients_trying.len();
        let silent_for = now.secs_since(p.last_answer);
        let list: Vec<serde_json::Value> = suspects
            .iter()
            .map(|s| json!({"ts": s.ts.to_string(), "frame": s.frame, "src": s.src.to_string(), "rule": s.rule, "count": s.count}))
            .collect();
        let msg = if syn_acks > 0 {
            format!(
                "PLC {plc}:102 S7 service stopped answering while its TCP stack still accepts connections ({syn_acks} SYN-ACK(s)): {tries} request(s) from {clients} client(s) unanswered for {:.1} s{}",
                since_ms as f64 / 1000.0,
                if suspects.is_empty() { String::new() } else { format!(" after suspect traffic ({})", suspect_names(&suspects)) }
            )
        } else if suspects.is_empty() {
            format!(
                "PLC {plc}:102 stopped answering: {tries} request(s) from {clients} client(s) unanswered for {:.1} s; no suspect traffic preceded it",
                since_ms as f64 / 1000.0
            )
        } else {
            format!(
                "PLC {plc}:102 stopped answering after suspect traffic ({}): {tries} request(s) from {clients} client(s) unanswered for {:.1} s — probable crash",
                suspect_names(&suspects),
                since_ms as f64 / 1000.0
            )
        };
        let e = ev(&[
            ("first_unanswered_frame", json!(frame0)),
            ("first_unanswered_ts", json!(t0.to_string())),
            ("unanswered_requests", json!(tries)),
            ("clients_trying", json!(clients)),
            ("silent_seconds", json!((silent_for * 1000.0).round() / 1000.0)),
            ("probable_crash", json!(!suspects.is_empty())),
            ("tcp_alive", json!(syn_acks > 0)),
            ("syn_acks_while_silent", json!(syn_acks)),
            ("suspects", json!(list)),
        ]);
        let meta = Meta {
            frame,
            ts: now,
            src: client,
            sport: cport,
            dst: plc,
            dport: 102,
            flow: 0,
            flow_start: Ts(0),
            dir: Direction::ToServer,
        };
        d.emit(plcs, Raise::new(LOSS_UNRESPONSIVE, &meta, msg, e));
    }
}

/// The first suspects, by rule and source.
fn suspect_names(suspects: &[super::Suspect]) -> String {
    let mut names: Vec<String> = suspects.iter().map(|s| format!("{} from {}", s.rule, s.src)).collect();
    names.dedup();
    names.truncate(4);
    names.join(", ")
}
