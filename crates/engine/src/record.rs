//! `s7sentry decode` records: one per decoded PDU, connection TPDU or finding.
//!
//! The JSON keys are a stable interface (operators script against them); see
//! the README's "decode output" table. Numbers are JSON numbers; a key is
//! absent when the PDU has no such field.

use crate::event::{Event, EventSink, Meta};
use crate::time::Ts;
use serde::{Serialize, Serializer};
use std::io::Write;
use std::net::IpAddr;

fn ts_str<S: Serializer>(ts: &Ts, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(ts)
}

/// A TSAP as tshark prints it: ASCII text when printable, else `0x` + hex.
#[derive(Debug, Clone, Copy)]
pub struct TsapStr<'a>(pub &'a [u8]);

impl Serialize for TsapStr<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Display for TsapStr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = s7sentry_proto::cotp::Tsap(self.0);
        if let Some(txt) = t.as_text() {
            return f.write_str(txt);
        }
        f.write_str("0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// One decode record. Field meanings: see the README.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// Capture file (only with several input files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<&'a str>,
    /// 1-based capture record completing the PDU.
    pub frame: u64,
    /// Capture time, RFC 3339 UTC, microseconds.
    #[serde(serialize_with = "ts_str")]
    pub ts: Ts,
    /// Source address.
    pub src: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// `s7comm`, `s7comm-plus`, `cotp`, `tls`, `finding`.
    pub proto: &'static str,
    /// S7comm ROSCTR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rosctr: Option<u8>,
    /// ROSCTR name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rosctr_name: Option<&'static str>,
    /// PDU reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdu_ref: Option<u16>,
    /// Parameter length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param_len: Option<u16>,
    /// Data length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_len: Option<u16>,
    /// Error class (Ack / Ack_Data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<u8>,
    /// Error code (Ack / Ack_Data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u8>,
    /// Function code (S7comm: first parameter byte; S7comm-plus: 16-bit function).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<u16>,
    /// Function name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_name: Option<&'static str>,
    /// Read/Write Var item count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_count: Option<u8>,
    /// Userdata type (0 push, 1 request, 2 response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ud_type: Option<u8>,
    /// Userdata function group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ud_group: Option<u8>,
    /// Userdata subfunction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ud_subfunction: Option<u8>,
    /// Userdata sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ud_seq: Option<u8>,
    /// SZL id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub szl_id: Option<u16>,
    /// SZL index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub szl_index: Option<u16>,
    /// S7comm-plus protocol version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    /// S7comm-plus opcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opcode: Option<u8>,
    /// S7comm-plus sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u16>,
    /// S7comm-plus session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<u32>,
    /// S7comm-plus integrity digest length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_len: Option<u8>,
    /// S7comm-plus continuation fragment.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub continuation: bool,
    /// S7comm-plus: number of frames of the fragmented message this frame completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragments: Option<u32>,
    /// S7comm-plus: function of the fragmented message this frame completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_function: Option<u16>,
    /// Name of that function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_function_name: Option<&'static str>,
    /// S7comm-plus: sequence number of the fragmented message this frame completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_seq: Option<u16>,
    /// S7comm-plus: the fragmented message hit the reassembly cap and was cut.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub message_truncated: bool,
    /// COTP TPDU name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpdu: Option<&'static str>,
    /// COTP calling TSAP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_tsap: Option<TsapStr<'a>>,
    /// COTP called TSAP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_tsap: Option<TsapStr<'a>>,
    /// COTP negotiated TPDU size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpdu_size: Option<u32>,
    /// Finding layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<&'static str>,
    /// Finding kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Finding offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Payload length (TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len: Option<usize>,
}

impl<'a> Record<'a> {
    fn base(meta: &Meta, proto: &'static str) -> Record<'a> {
        Record {
            pcap: None,
            frame: meta.frame,
            ts: meta.ts,
            src: meta.src,
            sport: meta.sport,
            dst: meta.dst,
            dport: meta.dport,
            proto,
            rosctr: None,
            rosctr_name: None,
            pdu_ref: None,
            param_len: None,
            data_len: None,
            error_class: None,
            error_code: None,
            function: None,
            function_name: None,
            item_count: None,
            ud_type: None,
            ud_group: None,
            ud_subfunction: None,
            ud_seq: None,
            szl_id: None,
            szl_index: None,
            version: None,
            opcode: None,
            seq: None,
            session_id: None,
            digest_len: None,
            continuation: false,
            fragments: None,
            message_function: None,
            message_function_name: None,
            message_seq: None,
            message_truncated: false,
            tpdu: None,
            src_tsap: None,
            dst_tsap: None,
            tpdu_size: None,
            layer: None,
            kind: None,
            offset: None,
            len: None,
        }
    }

    /// The record for an event, if the event is one that `decode` prints.
    pub fn from_event(ev: &Event<'a>) -> Option<Record<'a>> {
        Some(match *ev {
            Event::S7 { meta, pdu, fragment, .. } => {
                let mut r = Record::base(&meta, "s7comm");
                let h = &pdu.header;
                r.rosctr = Some(h.rosctr.0);
                r.rosctr_name = h.rosctr.name();
                r.pdu_ref = Some(h.pdu_ref);
                r.param_len = Some(h.param_len);
                r.data_len = Some(h.data_len);
                if let Some((c, k)) = h.error {
                    r.error_class = Some(c);
                    r.error_code = Some(k);
                }
                if let Some(f) = pdu.function() {
                    r.function = Some(u16::from(f.0));
                    r.function_name = f.name();
                }
                r.item_count = pdu.item_count();
                if let Some(u) = pdu.userdata() {
                    r.ud_type = Some(u.ud_type);
                    r.ud_group = Some(u.group);
                    r.ud_subfunction = Some(u.subfunction);
                    r.ud_seq = Some(u.seq);
                }
                if let Some(z) = pdu.szl().filter(|_| fragment != crate::event::UdFragment::More) {
                    r.szl_id = Some(z.id);
                    r.szl_index = Some(z.index);
                }
                r
            }
            Event::S7Plus { meta, frame, continuation, message, .. } => {
                let mut r = Record::base(&meta, "s7comm-plus");
                r.version = Some(frame.version.0);
                r.opcode = frame.opcode.map(|o| o.0);
                r.function = frame.function.map(|f| f.0);
                r.function_name = frame.function.and_then(|f| f.name());
                r.seq = frame.seq;
                r.session_id = frame.session_id;
                r.digest_len = frame.digest_len;
                r.continuation = continuation;
                if let Some(m) = message.filter(|m| m.fragments > 1) {
                    r.fragments = Some(m.fragments);
                    r.message_function = m.frame.function.map(|f| f.0);
                    r.message_function_name = m.frame.function.and_then(|f| f.name());
                    r.message_seq = m.frame.seq;
                    r.message_truncated = m.truncated;
                }
                r
            }
            Event::Cotp { meta, cotp } => {
                let mut r = Record::base(&meta, "cotp");
                r.tpdu = cotp.code.name();
                r.src_tsap = cotp.src_tsap().map(|t| TsapStr(t.0));
                r.dst_tsap = cotp.dst_tsap().map(|t| TsapStr(t.0));
                r.tpdu_size = cotp.tpdu_size();
                r
            }
            Event::Tls { meta, len, first } => {
                if !first {
                    return None;
                }
                let mut r = Record::base(&meta, "tls");
                r.len = Some(len);
                r
            }
            Event::Finding { meta, finding, .. } => {
                let mut r = Record::base(&meta, "finding");
                r.layer = Some(finding.layer.name());
                r.kind = Some(finding.kind.name());
                r.offset = Some(finding.offset);
                r
            }
            Event::IpDefrag { meta, report } => {
                let mut r = Record::base(&meta, "finding");
                r.layer = Some("ip");
                r.kind = Some(report.kind().name());
                r.offset = Some(report.offset);
                r
            }
            Event::IpFragment { meta, offset, .. } => {
                let mut r = Record::base(&meta, "finding");
                r.layer = Some("ip");
                r.kind = Some(s7sentry_proto::FindingKind::IpFragment.name());
                r.offset = Some(offset as usize);
                r
            }
            _ => return None,
        })
    }

    /// One line for people, like tshark's summary column.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = format!(
            "{:>6} {} {}:{} -> {}:{} {}",
            self.frame, self.ts, self.src, self.sport, self.dst, self.dport, self.proto
        );
        let mut kv = |k: &str, v: &dyn std::fmt::Display| {
            let _ = write!(s, " {k}={v}");
        };
        if let Some(n) = self.rosctr_name {
            kv("rosctr", &n);
        } else if let Some(r) = self.rosctr {
            kv("rosctr", &r);
        }
        if let Some(v) = self.version {
            kv("version", &v);
        }
        if let Some(v) = self.opcode {
            kv("opcode", &format_args!("0x{v:02x}"));
        }
        if let Some(v) = self.pdu_ref {
            kv("pdu_ref", &v);
        }
        if let Some(n) = self.function_name {
            kv("function", &n);
        } else if let Some(f) = self.function {
            kv("function", &format_args!("0x{f:02x}"));
        }
        if let Some(v) = self.item_count {
            kv("items", &v);
        }
        if let (Some(g), Some(sf)) = (self.ud_group, self.ud_subfunction) {
            kv("group", &g);
            kv("sub", &sf);
        }
        if let Some(v) = self.szl_id {
            kv("szl", &format_args!("0x{v:04x}/0x{:04x}", self.szl_index.unwrap_or(0)));
        }
        if let (Some(c), Some(k)) = (self.error_class, self.error_code) {
            if c != 0 || k != 0 {
                kv("error", &format_args!("0x{c:02x}{k:02x}"));
            }
        }
        if let Some(v) = self.seq {
            kv("seq", &v);
        }
        if let Some(v) = self.session_id {
            kv("session", &format_args!("0x{v:08x}"));
        }
        if self.continuation {
            kv("continuation", &true);
        }
        if let Some(v) = self.tpdu {
            kv("tpdu", &v);
        }
        if let Some(v) = &self.src_tsap {
            kv("src_tsap", v);
        }
        if let Some(v) = &self.dst_tsap {
            kv("dst_tsap", v);
        }
        if let (Some(l), Some(k), Some(o)) = (self.layer, self.kind, self.offset) {
            kv("finding", &format_args!("{l}/{k}@{o}"));
        }
        if let Some(v) = self.len {
            kv("len", &v);
        }
        s
    }
}

/// Output format of `decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// One human-readable line per record.
    Text,
}

/// An [`EventSink`] that writes decode records.
pub struct DecodeWriter<W: Write> {
    out: W,
    format: Format,
    pcap: Option<String>,
    /// Records written.
    pub records: u64,
    /// First write error (the sink stops writing after it, e.g. on a closed pipe).
    pub error: Option<std::io::Error>,
}

impl<W: Write> DecodeWriter<W> {
    /// Write to `out` in `format`.
    pub fn new(out: W, format: Format) -> Self {
        DecodeWriter { out, format, pcap: None, records: 0, error: None }
    }
    /// Tag following records with a file name (multi-file runs).
    pub fn set_pcap(&mut self, name: Option<String>) {
        self.pcap = name;
    }
    /// Flush and return the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> EventSink for DecodeWriter<W> {
    fn on_event(&mut self, ev: &Event<'_>) {
        if self.error.is_some() {
            return;
        }
        let Some(mut r) = Record::from_event(ev) else {
            return;
        };
        r.pcap = self.pcap.as_deref();
        let res = match self.format {
            Format::Jsonl => serde_json::to_writer(&mut self.out, &r)
                .map_err(std::io::Error::other)
                .and_then(|_| self.out.write_all(b"\n")),
            Format::Text => writeln!(self.out, "{}", r.text()),
        };
        match res {
            Ok(()) => self.records += 1,
            Err(e) => self.error = Some(e),
        }
    }
}
