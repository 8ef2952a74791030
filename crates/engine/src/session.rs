//! COTP and S7 dispatch for one flow: TPKT payload -> COTP TPDU -> (DT EOT
//! reassembly) -> S7comm / S7comm-plus (message reassembly) / TLS.
//!
//! What this layer holds on to, per connection:
//!
//! * the TPDU size the Connect Confirm negotiated: a DT longer than it is a
//!   `tpdu_too_long` finding (the PLC may refuse what the sensor decodes, or the
//!   reverse);
//! * S7comm-plus messages split over several frames (no trailer until the last):
//!   joined and handed on as one message with the last frame ([`PlusMessage`]).
//!   Bounded by [`EngineConfig::max_s7plus_reassembly`]: the head of a longer
//!   message is kept (header, addresses and the first values: all any rule
//!   reads), the rest counted in `s7plus_cap_hits` and dropped; a cut message is
//!   marked truncated, and a write cut before its addresses could be read is a
//!   `fragment_overflow` finding (program transfers of several hundred KiB are
//!   cut without one: nothing in them is inspected);
//! * InitSSL: the connection switches to TLS only once the PLC accepted the
//!   InitSSL request (its response's return value is 0) *and* a TLS handshake
//!   record follows; a refused InitSSL, or a payload that merely starts like a
//!   TLS record, changes nothing;
//! * the client's userdata requests must be typed "request": any other type nibble
//!   is an `unexpected_type` finding (the PDU is still decoded and classified by
//!   its group and subfunction).

use crate::config::EngineConfig;
use crate::event::{Direction, Event, EventSink, Meta, PlusMessage, UdFragment};
use crate::stats::Stats;
use s7sentry_proto::cotp::{self, TpduCode};
use s7sentry_proto::s7plus::{Opcode, PlusFrame, PlusFunction, PlusWrite, Version};
use s7sentry_proto::{s7comm, s7plus, tpkt, Finding, FindingKind, Layer};

/// Flow-wide protocol facts.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlowFlags {
    /// A COTP CR was seen.
    pub saw_cr: bool,
    /// A COTP CC was seen.
    pub saw_cc: bool,
    /// An S7comm-plus InitSSL request was seen.
    pub init_ssl: bool,
    /// Sequence number of the last InitSSL request.
    pub init_ssl_seq: Option<u16>,
    /// The PLC answered that InitSSL request with success (return value 0).
    pub init_ssl_accepted: bool,
    /// The connection switched to TLS (payloads are no longer S7comm-plus).
    pub tls: bool,
    /// At least one S7 / S7comm-plus PDU was decoded.
    pub carried_pdus: bool,
    /// TPDU size (bytes) the Connect Confirm carried.
    pub tpdu_size: Option<u32>,
}

/// COTP state of one direction.
#[derive(Debug, Default)]
pub struct CotpDir {
    frag: Vec<u8>,
    frag_overflow: bool,
    plus: PlusReassembly,
    ud: UserdataReassembly,
}

/// An S7comm-plus message in progress: the first fragment's body (header and
/// payload after the integrity part), then each later fragment's body.
#[derive(Debug, Default)]
struct PlusReassembly {
    buf: Vec<u8>,
    /// A first fragment was seen and no trailer yet.
    active: bool,
    version: u8,
    fragments: u32,
    /// The cap was hit: the rest of the message is dropped.
    truncated: bool,
}

impl PlusReassembly {
    fn clear(&mut self) {
        self.buf.clear();
        self.active = false;
        self.fragments = 0;
        self.truncated = false;
    }

    /// Append `body` up to `cap` bytes in all; returns true when this call hit the cap.
    fn push(&mut self, body: &[u8], cap: usize) -> bool {
        let room = cap.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&body[..body.len().min(room)]);
        self.fragments += 1;
        let hit = body.len() > room && !self.truncated;
        self.truncated |= body.len() > room;
        hit
    }
}

/// S7comm userdata fragments ("last data unit: no"), joined the way S7 peers
/// do: the first fragment's data part whole, then each later fragment's data
/// without its 4-byte return-code/transport-size/length head.
#[derive(Debug, Default)]
struct UserdataReassembly {
    buf: Vec<u8>,
    key: Option<(u8, u8, u8)>,
}

/// Most bytes one userdata reassembly may hold (SZL answers stay far below).
const MAX_USERDATA_REASSEMBLY: usize = 65_536;

impl CotpDir {
    /// Bytes held.
    pub fn held(&self) -> usize {
        self.frag.capacity() + self.ud.buf.capacity() + self.plus.buf.capacity()
    }
    /// Release buffers.
    pub fn release(&mut self) {
        self.frag = Vec::new();
        self.ud.buf = Vec::new();
        self.plus.buf = Vec::new();
    }
    /// Back to [`CotpDir::default`]: the buffers are freed (in place, nothing
    /// to free, when they never held a byte).
    pub fn clear(&mut self) {
        if self.frag.capacity() | self.ud.buf.capacity() | self.plus.buf.capacity() != 0 {
            *self = CotpDir::default();
            return;
        }
        let CotpDir { frag: _, frag_overflow, plus, ud } = self;
        *frag_overflow = false;
        let PlusReassembly { buf: _, active, version, fragments, truncated } = plus;
        *active = false;
        *version = 0;
        *fragments = 0;
        *truncated = false;
        let UserdataReassembly { buf: _, key } = ud;
        *key = None;
    }

    /// Drop a partial reassembly (after a TCP gap).
    pub fn reset(&mut self) {
        self.frag.clear();
        self.frag_overflow = false;
        self.plus.clear();
        self.ud.buf.clear();
        self.ud.key = None;
    }
}

/// Handle one whole TPKT (header included).
pub fn on_tpkt(
    cfg: &EngineConfig,
    stats: &mut Stats,
    flags: &mut FlowFlags,
    dir: &mut CotpDir,
    meta: Meta,
    tpkt_bytes: &[u8],
    sink: &mut dyn EventSink,
) {
    let payload = &tpkt_bytes[tpkt::HEADER_LEN..];
    let c = match cotp::parse_cotp(payload) {
        Ok(c) => c,
        Err(f) => {
            finding(stats, sink, meta, f, payload);
            return;
        }
    };
    if let Some(f) = c.lint() {
        finding(stats, sink, meta, f, payload);
    }
    if c.code != TpduCode::DT {
        match c.code {
            TpduCode::CR => flags.saw_cr = true,
            TpduCode::CC => {
                flags.saw_cc = true;
                flags.tpdu_size = c.tpdu_size();
            }
            _ => {}
        }
        sink.on_event(&Event::Cotp { meta, cotp: &c });
        return;
    }
    if flags.tpdu_size.is_some_and(|max| payload.len() > max as usize) {
        // Longer than negotiated: the PLC may drop what the sensor decodes (or
        // the reverse). Decoded all the same, and flagged.
        finding(stats, sink, meta, Finding::new(Layer::Cotp, FindingKind::TpduTooLong, 0), payload);
    }
    let eot = c.eot().unwrap_or(true);
    if !eot || !dir.frag.is_empty() || dir.frag_overflow {
        stats.cotp_fragments += u64::from(!eot);
        if !dir.frag_overflow {
            if dir.frag.len() + c.user_data.len() > cfg.max_cotp_reassembly {
                stats.cotp_cap_hits += 1;
                dir.frag_overflow = true;
                dir.frag.clear();
                let f = Finding::new(Layer::Cotp, FindingKind::FragmentOverflow, 0);
                finding(stats, sink, meta, f, payload);
            } else {
                dir.frag.extend_from_slice(c.user_data);
            }
        }
        if eot {
            if dir.frag_overflow {
                dir.frag_overflow = false;
            } else {
                let pdu = std::mem::take(&mut dir.frag);
                dispatch(cfg, stats, flags, &mut dir.plus, &mut dir.ud, meta, &pdu, sink);
                dir.frag = pdu;
                dir.frag.clear();
            }
        }
        return;
    }
    dispatch(cfg, stats, flags, &mut dir.plus, &mut dir.ud, meta, c.user_data, sink);
}

fn finding(stats: &mut Stats, sink: &mut dyn EventSink, meta: Meta, f: Finding, bytes: &[u8]) {
    stats.findings += 1;
    sink.on_event(&Event::Finding { meta, finding: f, bytes });
}

/// Dispatch one reassembled COTP DT payload.
#[allow(clippy::too_many_arguments)]
fn dispatch(
    cfg: &EngineConfig,
    stats: &mut Stats,
    flags: &mut FlowFlags,
    plus: &mut PlusReassembly,
    ud: &mut UserdataReassembly,
    meta: Meta,
    pdu: &[u8],
    sink: &mut dyn EventSink,
) {
    let Some(&first) = pdu.first() else { return };
    if flags.tls || (flags.init_ssl_accepted && s7plus::is_tls_handshake_record(pdu)) {
        let was = flags.tls;
        flags.tls = true;
        stats.tls_payloads += 1;
        sink.on_event(&Event::Tls { meta, len: pdu.len(), first: !was });
        return;
    }
    match first {
        s7comm::PROTOCOL_ID => match s7comm::parse_s7comm(pdu) {
            Ok(p) => {
                stats.s7comm_pdus += 1;
                flags.carried_pdus = true;
                s7comm_pdu(stats, ud, meta, &p, pdu, sink);
            }
            Err(f) => finding(stats, sink, meta, f, pdu),
        },
        s7plus::PROTOCOL_ID => match s7plus::parse_s7plus(pdu) {
            Ok(fr) => {
                stats.s7plus_frames += 1;
                flags.carried_pdus = true;
                s7plus_frame(cfg, stats, flags, plus, meta, fr, pdu, sink);
            }
            Err(f) => finding(stats, sink, meta, f, pdu),
        },
        _ => finding(stats, sink, meta, Finding::new(Layer::S7comm, FindingKind::UnknownProtocol, 0), pdu),
    }
}

/// One S7comm PDU: userdata fragments joined, the PDU handed on, its findings after it.
fn s7comm_pdu(
    stats: &mut Stats,
    ud: &mut UserdataReassembly,
    meta: Meta,
    p: &s7comm::S7Pdu<'_>,
    pdu: &[u8],
    sink: &mut dyn EventSink,
) {
    match p.userdata().and_then(|u| Some((u.group, u.subfunction, u.data_unit_ref?, u.last_unit?))) {
        Some((g, sf, dref, last)) if last != 0 => {
            // A fragment with more to come: keep its data.
            let key = (g, sf, dref);
            if ud.key != Some(key) {
                ud.buf.clear();
                ud.buf.extend_from_slice(p.data);
            } else if ud.buf.len() + p.data.len() <= MAX_USERDATA_REASSEMBLY {
                ud.buf.extend_from_slice(p.data.get(4..).unwrap_or(&[]));
            }
            ud.key = Some(key);
            sink.on_event(&Event::S7 { meta, pdu: p, raw: pdu, fragment: UdFragment::More });
        }
        Some((g, sf, dref, _)) if ud.key == Some((g, sf, dref)) => {
            if ud.buf.len() + p.data.len() <= MAX_USERDATA_REASSEMBLY {
                ud.buf.extend_from_slice(p.data.get(4..).unwrap_or(&[]));
            }
            ud.key = None;
            let joined = std::mem::take(&mut ud.buf);
            // The joined view has no finding of its own: the last fragment's finding
            // (offsets into that fragment, not into the joined data) is reported below.
            let view = s7comm::S7Pdu { data: &joined, finding: None, ..*p };
            sink.on_event(&Event::S7 { meta, pdu: &view, raw: pdu, fragment: UdFragment::Last });
            ud.buf = joined;
            ud.buf.clear();
        }
        _ => sink.on_event(&Event::S7 { meta, pdu: p, raw: pdu, fragment: UdFragment::None }),
    }
    if let Some(f) = p.finding {
        finding(stats, sink, meta, f, pdu);
    }
    // A client's userdata PDU must be a request (type nibble 4); the rules still
    // classify it by group and subfunction, as a PLC that ignores the type would.
    if meta.dir == Direction::ToServer && p.userdata().is_some_and(|u| !u.is_request()) {
        let f = Finding::new(Layer::S7comm, FindingKind::UnexpectedType, p.param_offset() + 5);
        finding(stats, sink, meta, f, pdu);
    }
}

/// One S7comm-plus frame: continuation fragments joined into messages, InitSSL
/// followed, the frame handed on (with the message it completes), its findings after it.
#[allow(clippy::too_many_arguments)]
fn s7plus_frame(
    cfg: &EngineConfig,
    stats: &mut Stats,
    flags: &mut FlowFlags,
    plus: &mut PlusReassembly,
    meta: Meta,
    mut fr: PlusFrame<'_>,
    pdu: &[u8],
    sink: &mut dyn EventSink,
) {
    // Keep-alives and system events stand alone: they neither start, continue nor end a message.
    let standalone = fr.is_keep_alive() || fr.is_system_event();
    let continuation = plus.active && !standalone;
    if continuation {
        // A continuation fragment carries no header of its own.
        fr.opcode = None;
        fr.function = None;
        fr.seq = None;
        fr.session_id = None;
        fr.digest_len = None;
        if fr.finding.is_some_and(|f| f.kind != FindingKind::BadVersion) {
            fr.finding = None;
        }
        stats.s7plus_fragments += 1;
        stats.s7plus_cap_hits += u64::from(plus.push(fr.body, cfg.max_s7plus_reassembly));
        if !fr.has_trailer {
            sink.on_event(&Event::S7Plus { meta, frame: &fr, raw: pdu, continuation, message: None });
        } else {
            let joined = std::mem::take(&mut plus.buf);
            let m = PlusFrame::message(Version(plus.version), &joined);
            init_ssl(flags, meta, &m);
            let message = Some(PlusMessage { frame: &m, fragments: plus.fragments, truncated: plus.truncated });
            sink.on_event(&Event::S7Plus { meta, frame: &fr, raw: pdu, continuation, message });
            if plus.truncated && m.write().is_some_and(|w| w == PlusWrite::Undecoded) {
                // A write cut before its addresses: what it writes is lost with the bytes.
                let f = Finding::new(Layer::S7commPlus, FindingKind::FragmentOverflow, 0);
                finding(stats, sink, meta, f, pdu);
            }
            plus.buf = joined;
            plus.clear();
        }
    } else if !standalone && fr.finding.is_none() && !fr.has_trailer {
        // First fragment: the message continues in the next frame(s).
        plus.clear();
        plus.active = true;
        plus.version = fr.version.0;
        stats.s7plus_cap_hits += u64::from(plus.push(fr.body, cfg.max_s7plus_reassembly));
        sink.on_event(&Event::S7Plus { meta, frame: &fr, raw: pdu, continuation, message: None });
    } else {
        init_ssl(flags, meta, &fr);
        let message = Some(PlusMessage { frame: &fr, fragments: 1, truncated: false });
        sink.on_event(&Event::S7Plus { meta, frame: &fr, raw: pdu, continuation, message });
    }
    if let Some(f) = fr.finding {
        finding(stats, sink, meta, f, pdu);
    }
}

/// Follow InitSSL: the client's request, then the PLC's answer to it.
fn init_ssl(flags: &mut FlowFlags, meta: Meta, m: &PlusFrame<'_>) {
    if m.function != Some(PlusFunction::INIT_SSL) {
        return;
    }
    match (meta.dir, m.opcode) {
        (Direction::ToServer, Some(Opcode::REQUEST)) => {
            flags.init_ssl = true;
            flags.init_ssl_seq = m.seq;
            flags.init_ssl_accepted = false;
        }
        (Direction::ToClient, Some(Opcode::RESPONSE | Opcode::RESPONSE2)) => {
            flags.init_ssl_accepted =
                flags.init_ssl && m.seq.is_some() && m.seq == flags.init_ssl_seq && m.return_value() == Some(0);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
