//! COTP and S7 dispatch for one flow: TPKT payload -> COTP TPDU -> (DT EOT
//! reassembly) -> S7comm / S7comm-plus / TLS.

use crate::config::EngineConfig;
use crate::event::{Event, EventSink, Meta, UdFragment};
use crate::stats::Stats;
use s7sentry_proto::cotp::{self, TpduCode};
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
    /// The connection switched to TLS (payloads are no longer S7comm-plus).
    pub tls: bool,
    /// At least one S7 / S7comm-plus PDU was decoded.
    pub carried_pdus: bool,
}

/// COTP state of one direction.
#[derive(Debug, Default)]
pub struct CotpDir {
    frag: Vec<u8>,
    frag_overflow: bool,
    plus_continuation: bool,
    ud: UserdataReassembly,
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
        self.frag.capacity() + self.ud.buf.capacity()
    }
    /// Release buffers.
    pub fn release(&mut self) {
        self.frag = Vec::new();
        self.ud.buf = Vec::new();
    }
    /// Drop a partial reassembly (after a TCP gap).
    pub fn reset(&mut self) {
        self.frag.clear();
        self.frag_overflow = false;
        self.plus_continuation = false;
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
            TpduCode::CC => flags.saw_cc = true,
            _ => {}
        }
        sink.on_event(&Event::Cotp { meta, cotp: &c });
        return;
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
                dispatch(stats, flags, &mut dir.plus_continuation, &mut dir.ud, meta, &pdu, sink);
                dir.frag = pdu;
                dir.frag.clear();
            }
        }
        return;
    }
    dispatch(stats, flags, &mut dir.plus_continuation, &mut dir.ud, meta, c.user_data, sink);
}

fn finding(stats: &mut Stats, sink: &mut dyn EventSink, meta: Meta, f: Finding, bytes: &[u8]) {
    stats.findings += 1;
    sink.on_event(&Event::Finding { meta, finding: f, bytes });
}

/// Dispatch one reassembled COTP DT payload.
fn dispatch(
    stats: &mut Stats,
    flags: &mut FlowFlags,
    plus_cont: &mut bool,
    ud: &mut UserdataReassembly,
    meta: Meta,
    pdu: &[u8],
    sink: &mut dyn EventSink,
) {
    let Some(&first) = pdu.first() else { return };
    if flags.tls || (flags.init_ssl && (0x14..=0x17).contains(&first)) {
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
                        sink.on_event(&Event::S7 { meta, pdu: &p, raw: pdu, fragment: UdFragment::More });
                    }
                    Some((g, sf, dref, _)) if ud.key == Some((g, sf, dref)) => {
                        if ud.buf.len() + p.data.len() <= MAX_USERDATA_REASSEMBLY {
                            ud.buf.extend_from_slice(p.data.get(4..).unwrap_or(&[]));
                        }
                        ud.key = None;
                        let joined = std::mem::take(&mut ud.buf);
                        let view = s7comm::S7Pdu { data: &joined, ..p };
                        sink.on_event(&Event::S7 { meta, pdu: &view, raw: pdu, fragment: UdFragment::Last });
                        ud.buf = joined;
                        ud.buf.clear();
                    }
                    _ => sink.on_event(&Event::S7 { meta, pdu: &p, raw: pdu, fragment: UdFragment::None }),
                }
                if let Some(f) = p.finding {
                    finding(stats, sink, meta, f, pdu);
                }
            }
            Err(f) => finding(stats, sink, meta, f, pdu),
        },
        s7plus::PROTOCOL_ID => match s7plus::parse_s7plus(pdu) {
            Ok(mut fr) => {
                stats.s7plus_frames += 1;
                flags.carried_pdus = true;
                let continuation = *plus_cont;
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
                }
                let keepalive = fr.version == s7plus::Version::KEEP_ALIVE;
                if !keepalive && fr.finding.is_none() {
                    *plus_cont = !fr.has_trailer;
                }
                if fr.function == Some(s7plus::PlusFunction::INIT_SSL) {
                    flags.init_ssl = true;
                }
                sink.on_event(&Event::S7Plus { meta, frame: &fr, raw: pdu, continuation });
                if let Some(f) = fr.finding {
                    finding(stats, sink, meta, f, pdu);
                }
            }
            Err(f) => finding(stats, sink, meta, f, pdu),
        },
        _ => finding(stats, sink, meta, Finding::new(Layer::S7comm, FindingKind::UnknownProtocol, 0), pdu),
    }
}
