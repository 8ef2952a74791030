//! Family `crash_pattern`: structures tied to published crash causes.
//!
//! * COTP DR with extra bytes, or before any CC — CVE-2025-40944 (ICSA-26-015-04):
//!   a crafted Disconnect Request takes ET 200 interface modules down until power-cycled.
//! * TCP data offset < 5 toward port 102 — CVE-2022-25622 (SSA-446448).
//! * IP fragments toward a PLC — CVE-2024-23814 (SSA-725549): fragment reassembly exhausts memory.
//! * Read/Write Var with item count 0, more items than the PDU holds, or requests far
//!   beyond the negotiated PDU size — the malformed-request class behind S7 stack crashes.
//! * Setup Communication with an absurd PDU size or AmQ.

use super::catalog::*;
use super::ctx::Ctx;
use super::{ev, hex, Core, Later, Raise};
use crate::event::{Direction, Event};
use s7sentry_proto::cotp::TpduCode;
use s7sentry_proto::s7comm::{Function, Rosctr};
use s7sentry_proto::{FindingKind, Layer};
use serde_json::json;

fn fragment_msg(meta: &crate::event::Meta, offset: u64, more: u64) -> String {
    format!("IP fragment (offset {offset}, more fragments: {}) from {} toward PLC {}", more != 0, meta.src, meta.dst)
}

/// Handle one event.
#[inline]
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    match *e {
        Event::Finding { meta, finding, bytes } => match (finding.layer, finding.kind) {
            (Layer::Tcp, FindingKind::BadTcpHeader) => {
                let off = crate::link::tcp_data_offset(bytes).unwrap_or(0);
                let msg = format!(
                    "TCP segment {}:{} -> {}:{} with data offset {off} (header {} bytes, minimum 20)",
                    meta.src,
                    meta.sport,
                    meta.dst,
                    meta.dport,
                    u32::from(off) * 4
                );
                let evidence = ev(&[
                    ("layer", json!("tcp")),
                    ("offset", json!(12)),
                    ("data_offset", json!(off)),
                    ("hex", json!(hex(bytes))),
                ]);
                d.emit(cx, Raise::new(CRASH_TCP_SHORT, &meta, msg, evidence));
            }
            (Layer::Cotp, FindingKind::TrailingBytes) if TpduCode::of_tpdu(bytes) == Some(TpduCode::DR) => {
                let extra = &bytes[finding.offset.min(bytes.len())..];
                let msg = format!(
                    "COTP Disconnect Request from {} to {}:{} carries {} byte(s) beyond its header",
                    meta.src,
                    meta.dst,
                    meta.dport,
                    extra.len()
                );
                let evidence =
                    ev(&[("layer", json!("cotp")), ("offset", json!(finding.offset)), ("hex", json!(hex(bytes)))]);
                if extra == [0] {
                    // python-snap7 (3.x) closes every connection with a DR padded by one zero
                    // byte (see ../shared/pcaps/generated): still reported, but graded low.
                    let msg = format!("{msg} (a single zero byte, as python-snap7 sends)");
                    d.emit(
                        cx,
                        Raise::new(CRASH_COTP_DR, &meta, msg, evidence)
                            .category(super::Category::CrashPattern)
                            .severity(super::Severity::Low),
                    );
                } else {
                    d.emit(cx, Raise::new(CRASH_COTP_DR, &meta, msg, evidence));
                }
            }
            _ => {}
        },
        Event::Cotp { meta, cotp } if cotp.code == TpduCode::DR => {
            let saw_cc = cx.flow_if().is_some_and(|f| f.saw_cc);
            if !saw_cc {
                let msg = format!(
                    "COTP Disconnect Request from {} to {}:{} before any Connect Confirm on the connection",
                    meta.src, meta.dst, meta.dport
                );
                let evidence = ev(&[("layer", json!("cotp")), ("tpdu", json!("DR")), ("before_cc", json!(true))]);
                d.emit(cx, Raise::new(CRASH_COTP_DR, &meta, msg, evidence));
            }
        }
        Event::IpFragment { meta, offset, more } => {
            let to_plc = cx.is_plc(&d.cfg, meta.dst)
                || d.cfg.known_plcs.iter().any(|c| c.contains(meta.dst))
                || meta.dport == 102;
            if to_plc {
                // Fragment floods: the text and the evidence are built only for an
                // occurrence that is shown, not for those folded into the follow-up.
                let evidence = move || {
                    ev(&[("layer", json!("ip")), ("fragment_offset", json!(offset)), ("more_fragments", json!(more))])
                };
                let msg = super::Msg::Lazy(fragment_msg, u64::from(offset), u64::from(more));
                d.emit(cx, Raise::new(CRASH_IP_FRAG, &meta, msg, Later(evidence)));
            }
        }
        Event::S7 { meta, pdu, raw, .. } if meta.dir == Direction::ToServer && pdu.header.rosctr == Rosctr::JOB => {
            let t = &d.cfg.thresholds;
            match pdu.function() {
                Some(Function::SETUP_COMM) => {
                    if let Some(sc) = pdu.setup_comm() {
                        let absurd_pdu = sc.pdu_length > t.max_sane_pdu_size || sc.pdu_length < 64;
                        let absurd_amq = sc.max_amq_calling == 0
                            || sc.max_amq_called == 0
                            || sc.max_amq_calling > t.max_sane_amq
                            || sc.max_amq_called > t.max_sane_amq;
                        if absurd_pdu || absurd_amq {
                            let msg = format!(
                                "Setup Communication from {} to {} asks for PDU size {} and AmQ {}/{} (S7 CPUs offer 240..960 and a few parallel jobs)",
                                meta.src, meta.dst, sc.pdu_length, sc.max_amq_calling, sc.max_amq_called
                            );
                            let evidence = ev(&[
                                ("layer", json!("s7comm")),
                                ("function", json!("setup_comm")),
                                ("pdu_size", json!(sc.pdu_length)),
                                ("amq_calling", json!(sc.max_amq_calling)),
                                ("amq_called", json!(sc.max_amq_called)),
                                ("hex", json!(hex(raw))),
                            ]);
                            d.emit(cx, Raise::new(CRASH_SETUP, &meta, msg, evidence));
                        }
                    }
                }
                Some(f @ (Function::READ_VAR | Function::WRITE_VAR)) => {
                    let Some(count) = pdu.item_count() else {
                        return;
                    };
                    let pdu_size = cx.flow_if().and_then(|s| s.pdu_size).unwrap_or(960);
                    // Header (10) + function and count (2) + 12 bytes per S7ANY item must fit the PDU.
                    let max_items = (usize::from(pdu_size).saturating_sub(10 + 2)) / 12;
                    let factor = u64::from(t.var_request_factor);
                    // The bytes requested are summed (every item walked) only where they are judged.
                    let why = if count == 0 {
                        Some("item count 0".to_string())
                    } else if usize::from(count) > max_items.max(1) {
                        Some(format!("{count} items, more than a {pdu_size}-byte PDU can carry ({max_items})"))
                    } else if f == Function::READ_VAR && pdu.requested_bytes() > factor * u64::from(pdu_size) {
                        Some(format!(
                            "{} bytes requested with a negotiated PDU size of {pdu_size}",
                            pdu.requested_bytes()
                        ))
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        let requested = pdu.requested_bytes();
                        let name = f.name().unwrap_or("var");
                        let msg = format!("{name} job from {} to {}: {why}", meta.src, meta.dst);
                        let evidence = ev(&[
                            ("layer", json!("s7comm")),
                            ("function", json!(name)),
                            ("item_count", json!(count)),
                            ("requested_bytes", json!(requested)),
                            ("pdu_size", json!(pdu_size)),
                            ("hex", json!(hex(raw))),
                        ]);
                        d.emit(cx, Raise::new(CRASH_VAR_ITEMS, &meta, msg, evidence));
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}
