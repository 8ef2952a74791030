//! Family `evasion`, IP layer (`evasion.ip_*`): what IP fragment reassembly
//! reports ([`crate::defrag`], [`Event::IpDefrag`]) about fragments built to
//! make the sensor and the PLC see different bytes, and about bytes the sensor
//! had to give up on.
//!
//! * Overlapping fragments with different bytes — Ptacek & Newsham 1998 §4;
//!   Novak, "Target-Based Fragmentation Reassembly" (2005): targets resolve
//!   overlaps by different policies, RFC 5722 stacks drop the datagram. When
//!   the differing bytes fall on the TCP header it is the overlapping-fragment
//!   attack of RFC 1858 §4 / RFC 3128 (its own rule). Evidence: both copies.
//! * Tiny first fragments (RFC 1858 §3, RFC 7112), conflicting ends.
//! * Datagrams incomplete after the 60 s timeout or at the end of the input,
//!   fragments arriving after it (fragment-timeout evasion), and every cap hit:
//!   bytes never inspected are always an alert naming the addresses and the
//!   byte counts.
//!
//! Only datagrams to or from a PLC (configured, or seen serving ISO-on-TCP)
//! or port 102 alert; cap hits always do (what was given up cannot be told).

use super::catalog::*;
use super::ctx::Ctx;
use super::{ev, hex, Core, Later, Msg, Raise};
use crate::defrag::{Issue, Report, TcpFields};
use crate::event::{Event, Meta};
use serde_json::{json, Map, Value};

/// Whether a datagram concerns a PLC or port 102.
fn concerns_plc(d: &Core, cx: &Ctx<'_>, meta: &Meta) -> bool {
    let plc = |ip| cx.is_plc(&d.cfg, ip) || d.cfg.known_plcs.iter().any(|c| c.contains(ip));
    meta.dport == 102 || meta.sport == 102 || plc(meta.dst) || plc(meta.src)
}

/// `10.0.0.1 -> 10.0.0.2:102` (ports only when the first fragment was seen).
fn who(meta: &Meta) -> String {
    if meta.sport == 0 && meta.dport == 0 {
        format!("{} -> {}", meta.src, meta.dst)
    } else {
        format!("{}:{} -> {}:{}", meta.src, meta.sport, meta.dst, meta.dport)
    }
}

/// Evidence every report carries.
fn base(r: &Report) -> Map<String, Value> {
    ev(&[
        ("layer", json!("ip")),
        ("kind", json!(r.kind().name())),
        ("ip_version", json!(if r.key.src.is_ipv6() { 6 } else { 4 })),
        ("ip_id", json!(r.key.id)),
        ("protocol", json!(r.proto)),
        ("fragment_offset", json!(r.offset)),
    ])
}

/// `span` is `start << 32 | end` of the differing bytes, `tcp` the [`TcpFields`] bits.
fn conflict_msg(meta: &Meta, span: u64, tcp: u64) -> String {
    let fields: Vec<&str> = TcpFields(tcp as u16).names().collect();
    let what = if fields.is_empty() {
        String::new()
    } else {
        format!(", rewriting TCP header field(s) {}", fields.join(", "))
    };
    format!(
        "IP fragments of datagram {} overlap with different bytes at {}..{}{what}: a target keeping the last copy, or dropping the datagram, sees another request than one keeping the first; the sensor decodes the copy with a valid TCP checksum, both when both are valid (both copies in the evidence)",
        who(meta),
        span >> 32,
        span & 0xFFFF_FFFF
    )
}

fn tiny_msg(meta: &Meta, have: u64, needed: u64) -> String {
    let why = if needed == 0 {
        "its IPv6 extension headers run past the first fragment (RFC 7112)".to_string()
    } else {
        format!("its first fragment carries {have} of the {needed} bytes of the TCP header (RFC 1858 tiny fragment)")
    };
    format!("fragmented IP datagram {}: {why}; the sensor inspects it after reassembly", who(meta))
}

fn length_msg(meta: &Meta, end_before: u64, end_now: u64) -> String {
    format!(
        "IP fragments of datagram {} disagree on its end ({end_before} vs {end_now} bytes): targets keep either end or drop the datagram; the sensor keeps {end_before}",
        who(meta)
    )
}

/// `missing` is `u64::MAX` when the datagram's end was never seen.
fn missing_text(missing: u64) -> String {
    if missing == u64::MAX {
        "its end never seen".to_string()
    } else {
        format!("{missing} missing")
    }
}

fn incomplete_msg(meta: &Meta, held: u64, missing: u64) -> String {
    format!(
        "fragmented IP datagram {} still incomplete ({held} bytes received, {}): its bytes were never inspected",
        who(meta),
        missing_text(missing)
    )
}

fn refused_msg(meta: &Meta, len: u64, _: u64) -> String {
    format!(
        "IP fragment {} ({len} bytes) not held: a reassembly cap was hit, these bytes cannot be inspected",
        who(meta)
    )
}

fn dropped_msg(meta: &Meta, held: u64, missing: u64) -> String {
    format!(
        "partly reassembled IP datagram {} given up to make room ({held} bytes received, {}): it cannot be inspected",
        who(meta),
        missing_text(missing)
    )
}

fn late_kept_msg(meta: &Meta, after_ms: u64, len: u64) -> String {
    format!(
        "IP fragment {} ({len} bytes) arrived {:.1} s after its datagram was declared incomplete (sensor timeout {} s): a target with a longer reassembly timeout reassembles it (fragment-timeout evasion); the sensor still held the earlier bytes and decodes the datagram",
        who(meta),
        after_ms as f64 / 1000.0,
        crate::defrag::TIMEOUT_MS / 1000
    )
}

fn late_lost_msg(meta: &Meta, after_ms: u64, len: u64) -> String {
    format!(
        "IP fragment {} ({len} bytes) arrived {:.1} s after the sensor gave its datagram up: a target with a longer reassembly timeout reassembles it (fragment-timeout evasion); the datagram cannot be inspected",
        who(meta),
        after_ms as f64 / 1000.0
    )
}

/// Handle one event.
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    let Event::IpDefrag { meta, report } = *e else {
        return;
    };
    let r = *report;
    let always = matches!(r.issue, Issue::Refused { .. } | Issue::Dropped { .. });
    if !always && !concerns_plc(d, cx, &meta) {
        return;
    }
    match r.issue {
        Issue::Conflict { start, end, kept, new, tcp } => {
            let rule = if tcp.is_empty() { EVA_IP_OVERLAP } else { EVA_IP_TCP_HEADER };
            let evidence = move || {
                let mut m = base(&r);
                m.insert("overlap_start".into(), json!(start));
                m.insert("overlap_end".into(), json!(end));
                m.insert("first_copy_hex".into(), json!(hex(kept.as_bytes())));
                m.insert("last_copy_hex".into(), json!(hex(new.as_bytes())));
                m.insert("tcp_fields".into(), json!(tcp.names().collect::<Vec<_>>()));
                m.insert(
                    "policy".into(),
                    json!("the copy with a valid TCP checksum is decoded; both (first copy into the stream) when both are valid"),
                );
                m
            };
            let span = (start as u64) << 32 | end as u64;
            d.emit(cx, Raise::new(rule, &meta, Msg::Lazy(conflict_msg, span, u64::from(tcp.0)), Later(evidence)));
        }
        Issue::Tiny { have, needed } => {
            let evidence = move || {
                let mut m = base(&r);
                m.insert("transport_bytes".into(), json!(have));
                m.insert("transport_header_bytes".into(), json!(needed));
                m
            };
            d.emit(
                cx,
                Raise::new(EVA_IP_TINY, &meta, Msg::Lazy(tiny_msg, have as u64, needed as u64), Later(evidence)),
            );
        }
        Issue::LengthConflict { end_before, end_now } => {
            let evidence = move || {
                let mut m = base(&r);
                m.insert("end_kept".into(), json!(end_before));
                m.insert("end_other".into(), json!(end_now));
                m
            };
            let msg = Msg::Lazy(length_msg, end_before as u64, end_now as u64);
            d.emit(cx, Raise::new(EVA_IP_LENGTH, &meta, msg, Later(evidence)));
        }
        Issue::Incomplete { held, missing, end_known, age_ms, end_of_capture } => {
            let evidence = move || {
                let mut m = base(&r);
                m.insert("held_bytes".into(), json!(held));
                m.insert("missing_bytes".into(), json!(missing));
                m.insert("end_known".into(), json!(end_known));
                m.insert("age_ms".into(), json!(age_ms));
                m.insert("reason".into(), json!(if end_of_capture { "end_of_capture" } else { "timeout" }));
                m
            };
            let missing = if end_known { missing as u64 } else { u64::MAX };
            let msg = Msg::Lazy(incomplete_msg, held as u64, missing);
            d.emit(cx, Raise::new(EVA_IP_INCOMPLETE, &meta, msg, Later(evidence)));
        }
        Issue::Late { after_ms, len, kept } => {
            let evidence = move || {
                let mut m = base(&r);
                m.insert("after_ms".into(), json!(after_ms));
                m.insert("fragment_bytes".into(), json!(len));
                m.insert("earlier_bytes_kept".into(), json!(kept));
                m
            };
            let f = if kept { late_kept_msg } else { late_lost_msg };
            d.emit(cx, Raise::new(EVA_IP_LATE, &meta, Msg::Lazy(f, after_ms, len as u64), Later(evidence)));
        }
        Issue::Refused { len, cap } => {
            let evidence = move || {
                let mut m = base(&r);
                m.insert("cap".into(), json!(cap.name()));
                m.insert("bytes_given_up".into(), json!(len));
                m
            };
            d.emit(cx, Raise::new(EVA_IP_CAP, &meta, Msg::Lazy(refused_msg, len as u64, 0), Later(evidence)));
        }
        Issue::Dropped { held, missing, end_known, cap } => {
            let evidence = move || {
                let mut m = base(&r);
                m.insert("cap".into(), json!(cap.name()));
                m.insert("bytes_given_up".into(), json!(held));
                m.insert("missing_bytes".into(), json!(missing));
                m.insert("end_known".into(), json!(end_known));
                m
            };
            let missing = if end_known { missing as u64 } else { u64::MAX };
            let msg = Msg::Lazy(dropped_msg, held as u64, missing);
            d.emit(cx, Raise::new(EVA_IP_CAP, &meta, msg, Later(evidence)));
        }
    }
}
