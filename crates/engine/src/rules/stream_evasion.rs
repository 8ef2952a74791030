//! Family `evasion`, TCP layer: what the stream engine ([`crate::stream`],
//! [`Event::Stream`]) reports about bytes it had to give up and about segments
//! built to make the sensor and the PLC see different streams.
//!
//! * Bytes given up (`evasion.stream_gap`, `evasion.hold_cap`) and bytes that
//!   arrive for a hole already given up (`evasion.stream_late_data`): a blind
//!   spot is never silent. A hole the receiver acknowledged is capture loss
//!   (low); one nobody acknowledged (medium) or one forced by the hold cap
//!   (high) is what an attacker produces.
//! * Insertion (Ptacek & Newsham 1998 §3): data far outside the window, an
//!   invalid-checksum copy that differs from the valid one.
//! * RFC 5961: SYN on an established connection, RST not at the next expected
//!   byte — the PLC keeps the connection, so does the sensor; reported low.
//!
//! Overlaps with different bytes stay `malformed.tcp_overlap` (its name is
//! scripted against).

use super::alert::{Category, Severity};
use super::catalog::*;
use super::ctx::Ctx;
use super::{ev, Core, Raise};
use crate::event::{Direction, Event, Meta};
use crate::stream::{GapCause, StreamIssue};
use serde_json::json;

/// `10.0.0.1:40000 -> 10.10.1.10:102 (client to PLC)`.
fn who(meta: &Meta) -> String {
    let dir = match meta.dir {
        Direction::ToServer => "client to PLC",
        Direction::ToClient => "PLC to client",
    };
    format!("{}:{} -> {}:{} ({dir})", meta.src, meta.sport, meta.dst, meta.dport)
}

fn dir_name(meta: &Meta) -> &'static str {
    match meta.dir {
        Direction::ToServer => "to_server",
        Direction::ToClient => "to_client",
    }
}

/// Handle one event.
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    let Event::Stream { meta, issue } = *e else {
        return;
    };
    let base =
        |kind: &str| ev(&[("layer", json!("tcp")), ("kind", json!(kind)), ("direction", json!(dir_name(&meta)))]);
    match issue {
        StreamIssue::Gap { lost, cause: GapCause::HoldCap } => {
            let msg = format!(
                "TCP stream {}: {lost} bytes given up because the out-of-order hold cap was hit (forced by the sender's out-of-order data, not acknowledged capture loss): they were never inspected",
                who(&meta)
            );
            let mut evd = base("hold_cap");
            evd.insert("bytes_lost".into(), json!(lost));
            evd.insert("cause".into(), json!(GapCause::HoldCap.name()));
            d.emit(cx, Raise::new(EVA_HOLD_CAP, &meta, msg, evd));
        }
        StreamIssue::Gap { lost, cause } => {
            let (sev, why) = match cause {
                GapCause::PeerAcked => (
                    Severity::Info,
                    "the receiver acknowledged them (capture loss: the PLC side got them, the sensor did not)",
                ),
                _ => (Severity::Medium, "nobody acknowledged them before the connection closed or ended"),
            };
            let msg = format!("TCP stream {}: {lost} bytes given up, {why}: they were never inspected", who(&meta));
            let mut evd = base("stream_gap");
            evd.insert("bytes_lost".into(), json!(lost));
            evd.insert("cause".into(), json!(cause.name()));
            d.emit(cx, Raise::new(EVA_STREAM_GAP, &meta, msg, evd).category(Category::Evasion).severity(sev));
        }
        StreamIssue::LateFill { bytes } => {
            let msg = format!(
                "TCP stream {}: {bytes} bytes arrived for a hole the sensor had already declared lost: a PLC that waited for them executes them, the sensor cannot inspect them",
                who(&meta)
            );
            let mut evd = base("late_data");
            evd.insert("bytes".into(), json!(bytes));
            d.emit(cx, Raise::new(EVA_LATE_DATA, &meta, msg, evd));
        }
        StreamIssue::OutOfWindow { len, distance } => {
            let msg = format!(
                "TCP stream {}: a {len}-byte segment {distance} bytes away from the next expected byte, outside the receive window: the PLC drops it, so does the sensor (insertion attempt?)",
                who(&meta)
            );
            let mut evd = base("out_of_window");
            evd.insert("payload_len".into(), json!(len));
            evd.insert("distance".into(), json!(distance));
            d.emit(cx, Raise::new(EVA_OUT_OF_WINDOW, &meta, msg, evd));
        }
        StreamIssue::ChecksumConflict { offset, len } => {
            let msg = format!(
                "TCP stream {}: a {len}-byte segment with an invalid TCP checksum carries other bytes (from byte {offset}) than the valid copy of the same range: an insertion decoy the PLC drops; the sensor keeps the valid copy",
                who(&meta)
            );
            let mut evd = base("checksum_conflict");
            evd.insert("offset".into(), json!(offset));
            evd.insert("invalid_copy_len".into(), json!(len));
            d.emit(cx, Raise::new(EVA_CHECKSUM, &meta, msg, evd));
        }
        StreamIssue::SynIgnored { distance } => {
            let msg = format!(
                "TCP stream {}: SYN on an established connection ({distance} bytes from the next expected byte), not answered with a SYN-ACK: the PLC answers with a challenge ACK and keeps the connection (RFC 5961), so does the sensor",
                who(&meta)
            );
            let mut evd = base("syn_on_established");
            evd.insert("distance".into(), json!(distance));
            d.emit(cx, Raise::new(EVA_SYN, &meta, msg, evd));
        }
        StreamIssue::RstIgnored { in_window, distance } => {
            let what = if in_window {
                "inside the window but not at the next expected byte: the PLC answers with a challenge ACK"
            } else {
                "outside the window: the PLC drops it"
            };
            let msg = format!(
                "TCP stream {}: RST {distance} bytes from the next expected byte, {what} (RFC 5961); the connection goes on and the sensor keeps following it",
                who(&meta)
            );
            let mut evd = base("rst_ignored");
            evd.insert("distance".into(), json!(distance));
            evd.insert("in_window".into(), json!(in_window));
            d.emit(cx, Raise::new(EVA_RST, &meta, msg, evd));
        }
    }
}
