//! Fuzz harness bodies, one function per fuzz target.
//!
//! This file is the single copy of the logic: the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` include it with `#[path = "../harness.rs"]`, the
//! stable corpus replay test (`tests/fuzz_corpus.rs`) and the allocation test
//! (`tests/no_alloc.rs`) include it with `#[path = "../fuzz/harness.rs"]`.
//! It only uses the public APIs of `s7sentry-proto`, `s7sentry-engine` and
//! `s7sentry-sensor` (its `Pipeline`, the per-frame step `replay` and `live`
//! run; the fuzz crate takes it without default features, so without libpcap,
//! SQLite or Prometheus), plus `serde_json`.
//!
//! Besides "must not panic", the harnesses assert contracts the parsers
//! document: returned slices borrow from the input, findings name the parser's
//! layer and an offset inside the unit, encoders round-trip what the decoders
//! read, and the engine stays within its configured caps.
//!
//! Input formats of the two engine targets:
//!
//! The `config` byte of both engine targets: bits 0-1 flow-table size, bit 2
//! small buffers, bit 3 text decode format ([`engine_config`]), bits 4-5 asset
//! tracking ([`pipeline`]: off, on, on with a 2 s learning period, on
//! with a frozen baseline).
//!
//! * [`engine_frames`]: `config` byte, then records
//!   `sel | len (u16 LE) | len bytes`; `sel & 3` picks the link type among
//!   1 (Ethernet), 101 (raw IP), 113 (Linux SLL), 276 (Linux SLL2), `sel >> 2`
//!   the time step (62: one second back, 63: 400 s forward, else `n * 37` ms).
//! * [`engine_stream`]: `config` byte, `options` byte, then chunks
//!   `ctl | seq offset (i8) | len | len bytes` turned into Ethernet/IPv4/TCP
//!   frames of up to four connections to port 102 (see [`StreamBuilder`]).

use s7sentry_engine::assets::{self, Fleet};
use s7sentry_engine::record::{DecodeWriter, Format};
use s7sentry_engine::rules::{Alert, DetectConfig, Detector};
use s7sentry_engine::{EngineConfig, Event, EventSink, Frame, Ts};
use s7sentry_proto::cotp::{self, Cotp, Tsap};
use s7sentry_proto::s7comm::{
    self, codes, items, BlockControl, BlockName, BlockType, ComponentRecord, DataItem, FileName, ModuleIdRecord,
    Params, PiArgs, PiService, S7AnyAddress, S7Pdu, S7Timestamp, SzlResponse, UserdataData, UserdataGroup,
    UserdataHeader, VarItem,
};
use s7sentry_proto::s7plus::{self, PlusFrame, PlusValue, PlusWrite, SetVariable};
use s7sentry_proto::{tpkt, Finding, FindingKind, Layer};
use s7sentry_sensor::{Extra, Output, Pipeline};
use std::hint::black_box;
use std::io;

// ---------------------------------------------------------------------------
// Helpers.

/// Whether `inner` is empty or lies inside `outer` (zero-copy contract).
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

/// A finding names `layer` and an offset inside the `len`-byte unit (or its end).
///
/// Known tolerance: `ItemCountMismatch` may point one byte past the end. When
/// the last item present has an odd length, the item checkers
/// (`s7comm::items::check_var_items` / `check_data_items`) skip the fill byte
/// that would separate it from the next item and report the missing item
/// there (e.g. a Read Var job announcing 2 items whose parameter holds one
/// 11-byte item: offset 24 in a 23-byte PDU). Reported, left to the parser's owners.
fn check_finding(f: &Finding, layer: Layer, len: usize) {
    assert_eq!(f.layer, layer, "finding {f} from the wrong layer");
    let slack = usize::from(f.kind == FindingKind::ItemCountMismatch);
    assert!(f.offset <= len + slack, "finding {f} beyond the {len}-byte unit");
    black_box(f.kind.name());
}

/// Fold an optional static name into the accumulator.
fn name(n: Option<&'static str>) -> u64 {
    n.map_or(0, |s| s.len() as u64)
}

/// Fold an optional byte slice.
fn bytes(b: Option<&[u8]>) -> u64 {
    b.map_or(0, |s| s.len() as u64)
}

// ---------------------------------------------------------------------------
// TPKT.

/// Target `tpkt`: frame a byte stream into TPKTs the way the engine's framer does.
pub fn tpkt(data: &[u8]) {
    let mut rest = data;
    loop {
        match tpkt::parse_tpkt(rest) {
            Ok((r, t)) => {
                assert_eq!(usize::from(t.header.length), t.payload.len() + 4);
                assert!(t.header.length >= tpkt::MIN_LEN);
                assert_eq!(r.len() + usize::from(t.header.length), rest.len());
                assert!(within(rest, t.payload));
                // The resync heuristic accepts every whole TPKT that carries a known COTP TPDU.
                assert!(tpkt::plausible_start(rest, u16::MAX) || rest.len() < 6 || !is_known_tpdu(t.payload));
                rest = r;
            }
            // Incomplete: wait for more bytes. Error/Failure: a finding.
            Err(e) => {
                if !e.is_incomplete() {
                    let _ = e.map(|f| check_finding(&f, Layer::Tpkt, rest.len()));
                }
                break;
            }
        }
    }
    for max in [7u16, 300, 1024, u16::MAX] {
        black_box(tpkt::plausible_start(data, max));
    }
    black_box(tpkt::parse_tpkt_header(data).is_ok());
}

/// Whether a TPKT payload starts with a COTP header `plausible_start` accepts
/// (LI >= 2 that fits, a known TPDU code).
fn is_known_tpdu(p: &[u8]) -> bool {
    p.len() >= 2 && p[0] >= 2 && usize::from(p[0]) < p.len() && cotp::TpduCode::from_byte(p[1]).name().is_some()
}

// ---------------------------------------------------------------------------
// COTP.

/// Target `cotp`: parse a TPKT payload and read every accessor.
pub fn cotp(data: &[u8]) {
    match cotp::parse_cotp(data) {
        Ok(c) => {
            assert!(within(data, c.params));
            assert!(within(data, c.user_data));
            assert_eq!(c.user_data.len() + 1 + usize::from(c.li), data.len());
            black_box(touch_cotp(&c));
        }
        Err(f) => check_finding(&f, Layer::Cotp, data.len()),
    }
}

/// Read every field and accessor of a COTP TPDU; returns a checksum.
pub fn touch_cotp(c: &Cotp<'_>) -> u64 {
    let mut acc = u64::from(c.li) + u64::from(c.cdt) + name(c.code.name());
    acc += match c.fixed {
        cotp::Fixed::Connection { dst_ref, src_ref, class_option } => {
            u64::from(dst_ref) + u64::from(src_ref) + u64::from(class_option)
        }
        cotp::Fixed::DisconnectRequest { dst_ref, src_ref, reason } => {
            u64::from(dst_ref) + u64::from(src_ref) + u64::from(reason)
        }
        cotp::Fixed::DisconnectConfirm { dst_ref, src_ref } => u64::from(dst_ref) + u64::from(src_ref),
        cotp::Fixed::Data { eot, nr } => u64::from(eot) + u64::from(nr),
        cotp::Fixed::Numbered { dst_ref, nr } => u64::from(dst_ref) + u64::from(nr),
        cotp::Fixed::Error { dst_ref, cause } => u64::from(dst_ref) + u64::from(cause),
    };
    for p in c.params() {
        assert!(within(c.params, p.value));
        acc += u64::from(p.code) + p.value.len() as u64;
    }
    for code in [
        cotp::param::TPDU_SIZE,
        cotp::param::CALLING_TSAP,
        cotp::param::CALLED_TSAP,
        cotp::param::CHECKSUM,
        cotp::param::VERSION,
        cotp::param::PREFERRED_TPDU_SIZE,
        cotp::param::INACTIVITY_TIMER,
    ] {
        acc += bytes(c.param(code));
    }
    for t in [c.src_tsap(), c.dst_tsap()].into_iter().flatten() {
        acc += touch_tsap(&t);
    }
    acc += u64::from(c.tpdu_size().unwrap_or(0));
    acc += u64::from(c.is_connection()) + u64::from(c.eot().unwrap_or(false));
    if let Some(f) = c.lint() {
        check_finding(&f, Layer::Cotp, 1 + usize::from(c.li) + c.user_data.len());
        acc += f.offset as u64;
    }
    acc
}

fn touch_tsap(t: &Tsap<'_>) -> u64 {
    let mut acc = u64::from(t.as_u16().unwrap_or(0));
    acc += t.as_text().map_or(0, |s| s.len() as u64);
    if let Some((kind, rack, slot)) = t.rack_slot() {
        assert!(rack < 8 && slot < 32);
        acc += u64::from(kind) + u64::from(rack) + u64::from(slot);
    }
    acc
}

// ---------------------------------------------------------------------------
// S7comm.

/// Target `s7comm`: parse one S7 PDU, read every accessor and iterator, and
/// run the standalone sub-decoders over the raw input.
pub fn s7comm(data: &[u8]) {
    match s7comm::parse_s7comm(data) {
        Ok(pdu) => {
            assert!(within(data, pdu.param) && within(data, pdu.data));
            let h = pdu.header;
            let whole = pdu.param.len() == usize::from(h.param_len)
                && pdu.data.len() == usize::from(h.data_len)
                && h.len() + pdu.param.len() + pdu.data.len() == data.len();
            if whole {
                assert_eq!(pdu.check(), pdu.finding, "finding differs from check()");
            } else {
                assert!(pdu.finding.is_some(), "length mismatch without finding");
            }
            let (b, n) = h.to_bytes();
            assert_eq!(&b[..n], &data[..n], "S7Header::to_bytes round trip");
            black_box(touch_s7(&pdu));
        }
        Err(f) => check_finding(&f, Layer::S7comm, data.len()),
    }
    black_box(s7_raw(data));
}

/// Read every field, accessor and iterator of an S7comm PDU; returns a checksum.
/// Also used on the PDUs the engine emits (reassembled userdata included).
pub fn touch_s7(pdu: &S7Pdu<'_>) -> u64 {
    let h = &pdu.header;
    let mut acc = u64::from(h.rosctr.0) + name(h.rosctr.name()) + u64::from(h.rosctr.has_error());
    acc += u64::from(h.redundancy_id) + u64::from(h.pdu_ref) + h.len() as u64;
    acc += u64::from(h.is_empty());
    if let Some(c) = h.error_class() {
        acc += name(c.name());
    }
    if let Some(e) = h.error_code() {
        acc += touch_error_code(e);
    }
    let plen = h.len() + pdu.param.len() + pdu.data.len();
    if let Some(f) = pdu.finding {
        check_finding(&f, Layer::S7comm, plen);
    }
    if let Some(f) = pdu.check() {
        check_finding(&f, Layer::S7comm, plen);
    }
    acc += (pdu.param_offset() + pdu.data_offset()) as u64;
    if let Some(f) = pdu.function() {
        acc += u64::from(f.0) + name(f.name());
    }
    acc += u64::from(pdu.item_count().unwrap_or(0));
    if let Some(u) = pdu.userdata() {
        acc += touch_userdata_header(&u, pdu.param);
    }
    if let Some(d) = pdu.userdata_data() {
        acc += touch_userdata_data(&d);
    }
    if let Some(s) = pdu.szl() {
        acc += u64::from(s.id) + u64::from(s.index) + u64::from(s.partial_list());
        acc += u64::from(s.is_module_identification()) + u64::from(s.is_component_identification());
    }
    if let Some(r) = pdu.szl_response() {
        acc += touch_szl_response(&r);
    }
    acc += touch_params(&pdu.params());
    for item in pdu.var_items() {
        acc += touch_var_item(&item);
    }
    for item in pdu.data_items() {
        acc += touch_data_item(&item);
    }
    for rc in pdu.write_results() {
        acc += u64::from(rc.0) + name(rc.name()) + u64::from(rc.carries_data());
    }
    acc = acc.wrapping_add(pdu.requested_bytes());
    if let Some(s) = pdu.setup_comm() {
        let b = s.to_bytes();
        assert_eq!(&b[..], &pdu.param[..8], "SetupComm::to_bytes round trip");
        acc += u64::from(s.pdu_length) + u64::from(s.max_amq_called) + u64::from(s.max_amq_calling);
    }
    if let Some(pi) = pdu.pi_service() {
        acc += touch_pi(&pi);
    }
    if let Some(bc) = pdu.block_control() {
        acc += touch_block_control(&bc);
    }
    if let Some(b) = pdu.block() {
        acc += touch_block_name(&b);
    }
    acc += bytes(pdu.block_data());
    if let Some(e) = pdu.error_code() {
        acc += touch_error_code(e);
    }
    let group = pdu.param.get(5).map_or(0, |b| b & 0x3F);
    let sub = pdu.param.get(6).copied().unwrap_or(0);
    acc += u64::from(pdu.is_userdata(UserdataGroup(group), sub));
    acc += u64::from(pdu.is_memory_reset()) + u64::from(pdu.is_clock_set());
    acc += u64::from(pdu.is_password()) + u64::from(pdu.is_read_szl());
    if let Some(t) = pdu.clock() {
        acc += touch_timestamp(&t);
    }
    if let Some(m) = pdu.mode_transition() {
        acc += u64::from(m.0) + name(m.name());
    }
    acc
}

fn touch_error_code(e: codes::ErrorCode) -> u64 {
    u64::from(e.0) + name(e.name()) + name(e.class().name()) + u64::from(e.is_error())
}

fn touch_userdata_header(u: &UserdataHeader, param: &[u8]) -> u64 {
    let (b, n) = u.to_bytes();
    assert!(n == 8 || n == 12);
    assert_eq!(&b[3..n], &param[3..n], "UserdataHeader::to_bytes round trip");
    let mut acc = u64::from(u.param_head_len) + u64::from(u.method) + u64::from(u.seq);
    acc += name(u.user_type().name()) + name(u.function_group().name());
    acc += name(u.function_group().subfunction_name(u.subfunction));
    acc += name(u.subfunction_name()) + name(codes::subfunction_name(u.group, u.subfunction));
    acc += u64::from(u.is_request()) + u64::from(u.is_response()) + u64::from(u.is_push());
    acc += u64::from(u.more_units()) + u64::from(u.is_continuation());
    acc += u64::from(u.legacy_type()) + u64::from(u.legacy_group());
    acc += u64::from(u.data_unit_ref.unwrap_or(0)) + u64::from(u.last_unit.unwrap_or(0));
    acc += u64::from(u.error_code.unwrap_or(0));
    if let Some(e) = u.error() {
        acc += touch_error_code(e);
    }
    acc
}

fn touch_userdata_data(d: &UserdataData<'_>) -> u64 {
    let mut acc = name(d.return_code.name()) + u64::from(d.return_code.carries_data());
    acc += name(d.transport_size.name()) + u64::from(d.transport_size.length_in_bits());
    acc += d.transport_size.byte_len(d.length) as u64 + d.payload.len() as u64;
    acc
}

fn touch_szl_response(r: &SzlResponse<'_>) -> u64 {
    let s = r.szl_ref();
    let mut acc = u64::from(s.id) + u64::from(s.index) + u64::from(r.record_count);
    let mut n = 0usize;
    for rec in r.records() {
        assert_eq!(rec.len(), usize::from(r.record_len));
        assert!(within(r.records, rec));
        n += 1;
    }
    assert!(n <= usize::from(r.record_count));
    acc += n as u64;
    for m in r.module_ids() {
        acc += touch_module_id(&m);
    }
    for c in r.components() {
        acc += touch_component(&c);
    }
    acc
}

fn touch_module_id(m: &ModuleIdRecord<'_>) -> u64 {
    let mut acc = u64::from(m.index) + u64::from(m.module_type) + u64::from(m.ausbg);
    acc += u64::from(m.ausbe) + m.order_number.len() as u64;
    acc += m.order_number_str().map_or(0, |s| s.len() as u64) + name(m.kind());
    if let Some(v) = m.version() {
        acc += u64::from(v.letter) + u64::from(v.major) + u64::from(v.minor) + u64::from(v.patch);
    }
    acc
}

fn touch_component(c: &ComponentRecord<'_>) -> u64 {
    u64::from(c.index) + name(c.kind()) + c.text().map_or(0, |s| s.len() as u64)
}

fn touch_timestamp(t: &S7Timestamp) -> u64 {
    u64::from(t.year)
        + u64::from(t.month)
        + u64::from(t.day)
        + u64::from(t.hour)
        + u64::from(t.minute)
        + u64::from(t.second)
        + u64::from(t.millisecond)
        + u64::from(t.weekday)
}

fn touch_params(p: &Params<'_>) -> u64 {
    let mut acc = match p {
        Params::None => 1,
        Params::SetupComm(s) => u64::from(s.reserved) + u64::from(s.pdu_length),
        Params::ReadVar { item_count, items } | Params::WriteVar { item_count, items } => {
            let n = items.clone().map(|i| touch_var_item(&i)).sum::<u64>();
            n + u64::from(*item_count)
        }
        Params::RequestDownload(b)
        | Params::DownloadBlock(b)
        | Params::DownloadEnded(b)
        | Params::StartUpload(b)
        | Params::Upload(b)
        | Params::EndUpload(b) => touch_block_control(b),
        Params::PiService(pi) => touch_pi(pi),
        Params::PlcStop(s) => s.service.len() as u64,
        Params::Userdata(u) => u64::from(u.subfunction),
        Params::Unknown(raw) => raw.len() as u64,
    };
    if let Some(b) = p.block_control() {
        acc += touch_block_control(b);
    }
    acc
}

fn touch_block_control(b: &BlockControl<'_>) -> u64 {
    let mut acc = u64::from(b.status.unwrap_or(0)) + u64::from(b.upload_id.unwrap_or(0));
    if let Some(e) = b.error_code {
        acc += touch_error_code(e);
    }
    if let Some(f) = b.file_name {
        acc += touch_file_name(&f);
    }
    acc += bytes(b.load_memory_len) + bytes(b.mc7_len) + bytes(b.block_len);
    if let Some(n) = b.block() {
        acc += touch_block_name(&n);
    }
    acc + u64::from(b.more_data()) + u64::from(b.status_error())
}

fn touch_file_name(f: &FileName<'_>) -> u64 {
    let mut acc = f.as_bytes().len() as u64 + f.as_str().map_or(0, |s| s.len() as u64);
    if let Some(b) = f.block() {
        acc += touch_block_name(&b);
    }
    acc + u64::from(f.ident().unwrap_or(0))
}

fn touch_block_name(b: &BlockName) -> u64 {
    u64::from(b.block_type.0) + name(b.block_type.name()) + u64::from(b.number.unwrap_or(0)) + u64::from(b.filesys)
}

fn touch_pi(pi: &PiService<'_>) -> u64 {
    let mut acc = u64::from(pi.status.unwrap_or(0)) + pi.param_block.len() as u64 + pi.layout as u64;
    acc += pi.service_str().map_or(0, |s| s.len() as u64) + name(pi.description());
    acc += name(codes::pi_service_description(pi.service));
    match pi.args() {
        PiArgs::None => {}
        PiArgs::Blocks(blocks) => {
            for b in blocks {
                acc += touch_block_name(&b);
            }
        }
        PiArgs::Argument(a) | PiArgs::Raw(a) => {
            assert!(within(pi.param_block, a));
            acc += a.len() as u64;
        }
        PiArgs::Strings(strings) => {
            for s in strings {
                assert!(within(pi.param_block, s));
                acc += s.len() as u64;
            }
        }
    }
    acc
}

fn touch_var_item(item: &VarItem<'_>) -> u64 {
    let sid = item.syntax_id();
    let mut acc = u64::from(sid.0) + name(sid.name());
    if let Some(a) = item.any() {
        acc += touch_any(a);
    }
    if let VarItem::Other { raw, .. } = item {
        acc += raw.len() as u64;
    }
    acc
}

fn touch_any(a: &S7AnyAddress) -> u64 {
    let b = a.to_item_bytes();
    assert_eq!(S7AnyAddress::from_bytes(&b[3..]), Some(*a), "S7ANY round trip");
    let mut acc = u64::from(a.byte_offset()) + u64::from(a.bit_offset()) + u64::from(a.db);
    acc += u64::from(a.byte_len().unwrap_or(0)) + u64::from(a.length);
    acc += name(a.area.name()) + name(a.transport_size.name());
    acc + u64::from(a.transport_size.element_size().unwrap_or(0))
}

fn touch_data_item(d: &DataItem<'_>) -> u64 {
    if d.return_code.carries_data() {
        assert_eq!(d.data.len(), d.transport_size.byte_len(d.length));
    } else {
        assert!(d.data.is_empty());
    }
    let mut acc = name(d.return_code.name()) + name(d.transport_size.name());
    acc += u64::from(d.transport_size.length_in_bits()) + u64::from(d.length);
    acc + d.data.len() as u64
}

/// The standalone sub-decoders of the s7comm module over raw bytes.
fn s7_raw(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let count = data.first().copied().unwrap_or(0);
    let rest = data.get(1..).unwrap_or(&[]);
    for f in [
        items::check_var_items(rest, count, 1),
        items::check_data_items(rest, count, 1),
        items::check_return_codes(rest, count, 1),
    ]
    .into_iter()
    .flatten()
    {
        check_finding(&f, Layer::S7comm, data.len());
    }
    for item in s7comm::VarItems::new(rest, count) {
        acc += touch_var_item(&item);
    }
    for item in s7comm::DataItems::new(rest, count) {
        acc += touch_data_item(&item);
    }
    for rc in s7comm::ReturnCodes::new(rest, count) {
        acc += u64::from(rc.0);
    }
    if let Some(u) = UserdataHeader::from_param(data) {
        acc += touch_userdata_header(&u, data);
    }
    if let Some(d) = UserdataData::from_data(data) {
        acc += touch_userdata_data(&d);
    }
    if let Some(r) = SzlResponse::from_payload(data) {
        acc += touch_szl_response(&r);
    }
    if let Some(m) = ModuleIdRecord::from_bytes(data) {
        acc += touch_module_id(&m);
    }
    if let Some(c) = ComponentRecord::from_bytes(data) {
        acc += touch_component(&c);
    }
    if let Some(t) = S7Timestamp::from_bytes(data) {
        acc += touch_timestamp(&t);
    }
    if let Some(b) = BlockName::from_bytes(data) {
        acc += touch_block_name(&b);
    }
    if let Some(a) = S7AnyAddress::from_bytes(data) {
        acc += touch_any(&a);
    }
    acc += touch_file_name(&FileName(data));
    acc += name(codes::pi_service_description(data));
    if data.len() >= 2 {
        acc += name(BlockType::from_ascii([data[0], data[1]]).name());
        acc += name(BlockType::from_subblock(data[0]).and_then(BlockType::name));
        acc += name(codes::subfunction_name(data[0], data[1]));
    }
    acc
}

// ---------------------------------------------------------------------------
// S7comm-plus.

/// Target `s7plus`: parse one S7comm-plus frame, read every accessor, and run
/// the standalone decoders (VLQ, SetVariable, values, order numbers) over the input.
pub fn s7plus(data: &[u8]) {
    match s7plus::parse_s7plus(data) {
        Ok(f) => {
            assert!(within(data, f.data) && within(data, f.body));
            assert!(within(f.data, f.body));
            if let Some(d) = f.digest {
                assert_eq!(d.len(), usize::from(s7plus::DIGEST_LEN));
                assert!(within(f.data, d));
            }
            black_box(touch_plus(&f, data.len()));
        }
        Err(e) => check_finding(&e, Layer::S7commPlus, data.len()),
    }
    black_box(plus_raw(data));
}

/// Read every field and accessor of an S7comm-plus frame parsed from
/// `raw_len` bytes; returns a checksum.
pub fn touch_plus(f: &PlusFrame<'_>, raw_len: usize) -> u64 {
    let mut acc = u64::from(f.version.0) + name(f.version.name()) + u64::from(f.data_len);
    acc += f.data.len() as u64 + f.body.len() as u64 + u64::from(f.has_trailer);
    if let Some(o) = f.opcode {
        acc += name(o.name());
    }
    if let Some(func) = f.function {
        acc += u64::from(func.0) + name(func.name());
    }
    acc += u64::from(f.seq.unwrap_or(0)) + u64::from(f.session_id.unwrap_or(0));
    acc += u64::from(f.digest_len.unwrap_or(0)) + u64::from(f.transport_flags.unwrap_or(0));
    acc += bytes(f.digest);
    if let Some(e) = f.finding {
        check_finding(&e, Layer::S7commPlus, raw_len);
    }
    acc += u64::from(f.is_keep_alive()) + u64::from(f.is_system_event());
    acc += u64::from(f.is_fragment()) + u64::from(f.is_init_ssl());
    if let Some(p) = f.payload() {
        assert!(within(f.body, p));
        acc += p.len() as u64;
    }
    black_box((f.return_value(), f.error_code()));
    if let Some(sv) = f.set_variable() {
        acc += touch_set_variable(&sv);
    }
    black_box(f.operating_state_request());
    acc += touch_write(f.write(), f.payload());
    if let Some(o) = f.order_number() {
        acc += o.order_number.len() as u64 + o.firmware.map_or(0, |s| s.len() as u64);
    }
    if let Some((id, digest)) = f.v2_integrity() {
        assert_eq!(digest.len(), usize::from(s7plus::DIGEST_LEN));
        acc += u64::from(id);
    }
    acc
}

/// What a write request writes; its value lies inside the request payload.
fn touch_write(w: Option<PlusWrite<'_>>, payload: Option<&[u8]>) -> u64 {
    match w {
        Some(PlusWrite::OperatingState { value: Some(v) }) => {
            assert!(payload.is_some_and(|p| within(p, v.raw)), "operating-state value outside the payload");
            black_box(v.integer());
            1 + touch_value(&v)
        }
        Some(PlusWrite::OperatingState { value: None }) => 2,
        Some(PlusWrite::Other) => 3,
        Some(PlusWrite::Undecoded) => 4,
        None => 0,
    }
}

fn touch_set_variable(sv: &SetVariable<'_>) -> u64 {
    let mut acc = u64::from(sv.object_id) + u64::from(sv.address_count);
    acc += u64::from(sv.attribute_id);
    acc + touch_value(&sv.value)
}

fn touch_value(v: &PlusValue<'_>) -> u64 {
    let acc = u64::from(v.flags) + u64::from(v.datatype) + name(v.datatype_name());
    black_box((v.as_i64(), v.integer()));
    acc + v.raw.len() as u64
}

/// The standalone decoders of the s7plus module over raw bytes, with the VLQ
/// encoders checked against the decoders.
fn plus_raw(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    if let Some((v, n)) = s7plus::read_vlq_u32(data) {
        assert!((1..=5).contains(&n));
        let mut out = [0u8; 5];
        let m = s7plus::write_vlq_u32(v, &mut out);
        assert_eq!(s7plus::read_vlq_u32(&out[..m]), Some((v, m)), "VLQ u32 round trip");
        acc += u64::from(v);
    }
    if let Some((v, n)) = s7plus::read_vlq_i32(data) {
        assert!((1..=5).contains(&n));
        let mut out = [0u8; 5];
        let m = s7plus::write_vlq_i32(v, &mut out);
        assert_eq!(s7plus::read_vlq_i32(&out[..m]), Some((v, m)), "VLQ i32 round trip");
        black_box(v);
    }
    if let Some((v, n)) = s7plus::read_vlq_u64(data) {
        assert!((1..=9).contains(&n));
        black_box(v);
    }
    if let Some((v, n)) = s7plus::read_vlq_i64(data) {
        assert!((1..=9).contains(&n));
        black_box(v);
    }
    if let Some(sv) = SetVariable::from_payload(data) {
        acc += touch_set_variable(&sv);
    }
    if let Some(v) = PlusValue::from_bytes(data) {
        assert!(within(data, v.raw));
        acc += touch_value(&v);
    }
    if let Some(n) = s7plus::value_len(data) {
        assert!((2..=data.len()).contains(&n), "value length {n} outside the {}-byte input", data.len());
        acc += n as u64;
    }
    // The bytes as the joined body of a fragmented message.
    let m = PlusFrame::message(s7plus::Version::V3, data);
    assert!(within(data, m.body));
    acc += touch_write(m.write(), m.payload());
    if let Some(o) = s7plus::find_order_number(data) {
        assert_eq!(o.order_number.len(), 19);
        acc += o.firmware.map_or(0, |s| s.len() as u64);
    }
    acc
}

// ---------------------------------------------------------------------------
// Engine.

/// Engine configuration chosen by a fuzz byte: small tables and buffers make
/// the caps (eviction, buffer limits) reachable with short inputs.
pub fn engine_config(b: u8) -> EngineConfig {
    let mut cfg = EngineConfig { max_flows: [2, 8, 64, 32_768][usize::from(b & 3)], ..EngineConfig::default() };
    if b & 4 != 0 {
        cfg.max_tpkt_buffer = 300;
        cfg.max_ooo_bytes = 600;
        cfg.max_ooo_segments = 3;
        cfg.overlap_history = 64;
        cfg.max_cotp_reassembly = 500;
        cfg.max_s7plus_reassembly = 200;
        cfg.max_total_buffered = 2_000;
    }
    cfg
}

/// What rides along with the engine and the detector in the sensor pipeline:
/// the decode writer, and a reader of every decoded field (so accessors run on
/// reassembled PDUs too).
pub struct Checks<W: io::Write> {
    /// The decode writer.
    pub decode: DecodeWriter<W>,
    /// Checksum of what was read.
    pub acc: u64,
    /// S7comm and S7comm-plus PDUs seen (proves an input reached the S7 layer).
    pub pdus: u64,
    /// S7comm-plus messages joined from several frames (proves an input reached the message reassembly).
    pub joined: u64,
}

impl<W: io::Write> EventSink for Checks<W> {
    fn on_event(&mut self, ev: &Event<'_>) {
        self.acc = self.acc.wrapping_add(touch_event(ev));
        if let Event::S7Plus { message: Some(m), .. } = ev {
            self.joined += u64::from(m.fragments > 1);
        }
        if matches!(ev, Event::S7 { .. } | Event::S7Plus { .. }) {
            self.pdus += 1;
        }
        self.decode.on_event(ev);
    }
}

impl<W: io::Write> Extra for Checks<W> {}

/// The pipeline the harness runs: engine + detector + [`Checks`].
pub type Run = Pipeline<Checks<io::Sink>>;

/// Alerts are serialised (and dropped).
struct SerialiseAlerts;

impl Output for SerialiseAlerts {
    fn alert(&mut self, a: &Alert) -> io::Result<()> {
        serde_json::to_writer(io::sink(), a).expect("alert serialises");
        Ok(())
    }
}

/// The sensor pipeline over `engine_config(conf)`: a detector (asset tracking
/// chosen by bits 4-5 of `conf`: 0 off, 1 on, 2 on with a 2 s learning period
/// — the baseline freezes during the input —, 3 on with a frozen baseline,
/// where every new talker and function alerts), and decode records in the
/// text format when bit 3 is set.
pub fn pipeline(conf: u8) -> Run {
    let mut detector = Detector::new(DetectConfig::default());
    detector.set_source("fuzz");
    match (conf >> 4) & 3 {
        0 => {}
        1 => detector.enable_assets(Fleet::default()),
        2 => {
            detector.enable_assets(Fleet::default());
            detector.set_learning(std::time::Duration::from_secs(2));
        }
        _ => {
            let mut f = Fleet::default();
            f.freeze(Ts(0));
            detector.enable_assets(f);
        }
    }
    let format = if conf & 8 != 0 { Format::Text } else { Format::Jsonl };
    let checks = Checks { decode: DecodeWriter::new(io::sink(), format), acc: 0, pdus: 0, joined: 0 };
    Pipeline::new(engine_config(conf), Some(detector), checks)
}

/// The fleet stays within its caps and serialises.
pub fn check_fleet(det: &Detector) {
    let f = det.fleet();
    assert!(f.devices.len() <= assets::MAX_DEVICES, "devices over the cap");
    for d in f.devices.values() {
        assert!(d.talkers.len() <= assets::MAX_TALKERS, "talkers over the cap");
        assert!(d.state_changes.len() <= assets::MAX_STATE_CHANGES, "state changes over the cap");
        assert!(d.changes.len() <= assets::MAX_CHANGES, "identity changes over the cap");
        assert!(d.connection.tsaps.len() <= assets::MAX_TSAPS, "TSAPs over the cap");
        assert!(d.first_seen <= d.last_seen, "first seen after last seen");
        for t in d.talkers.values() {
            assert!(t.functions.len() <= assets::MAX_FUNCTIONS, "functions over the cap");
            assert!(t.functions.keys().all(|k| assets::FunctionKind::from_name(k).is_some()), "unknown function name");
        }
    }
    serde_json::to_writer(io::sink(), f).expect("fleet serialises");
}

/// Read what an event carries; returns a checksum.
pub fn touch_event(ev: &Event<'_>) -> u64 {
    match ev {
        Event::S7 { pdu, raw, .. } => touch_s7(pdu) + raw.len() as u64,
        Event::S7Plus { frame, raw, message, continuation, .. } => {
            let mut acc = touch_plus(frame, raw.len()) + raw.len() as u64 + u64::from(*continuation);
            if let Some(m) = message {
                // A message of one frame is that frame; a joined one has a trailer by construction.
                assert!(m.fragments >= 1 && (m.fragments > 1 || std::ptr::eq(m.frame, *frame)));
                assert!(m.frame.has_trailer || m.fragments == 1);
                assert!(m.fragments == 1 || m.frame.finding.is_none());
                let len = if m.fragments == 1 { raw.len() } else { m.frame.data.len() };
                acc += touch_plus(m.frame, len) + u64::from(m.fragments) + u64::from(m.truncated);
            }
            acc
        }
        Event::Cotp { cotp, .. } => touch_cotp(cotp),
        Event::Finding { finding, bytes, .. } => {
            finding.offset as u64 + bytes.len() as u64 + name(Some(finding.kind.name()))
        }
        Event::Tcp { payload_len, .. } => *payload_len as u64,
        Event::Tls { len, .. } => *len as u64,
        Event::IpFragment { offset, .. } => u64::from(*offset),
        Event::IpDefrag { report, .. } => report.offset as u64 + name(Some(report.kind().name())),
        Event::Stream { issue, .. } => format!("{issue:?}").len() as u64,
        Event::FlowEnd { carried_pdus, .. } => u64::from(*carried_pdus),
        Event::Tick { ts, .. } => ts.0 as u64,
    }
}

/// Process one frame (the sensor's per-frame step) and check the engine's caps.
fn step(run: &mut Run, fr: &Frame<'_>) {
    run.process(fr, &mut SerialiseAlerts).expect("alerts serialise");
    let engine = run.engine();
    let cfg = engine.config();
    assert!(engine.active_flows() <= cfg.max_flows, "flow table over its cap");
    assert!(engine.buffered_bytes() <= cfg.max_total_buffered, "buffered bytes over the global cap");
    assert!(engine.fragment_bytes() <= s7sentry_engine::defrag::MAX_TOTAL, "fragment bytes over their cap");
}

/// End of input: end all flows, flush the detector, check nothing is left.
fn finish(run: &mut Run) {
    run.finish(&mut SerialiseAlerts).expect("alerts serialise");
    if let Some(d) = run.detector() {
        check_fleet(d);
    }
    let engine = run.engine();
    assert_eq!(engine.active_flows(), 0, "flows left after finish()");
    assert_eq!(engine.buffered_bytes(), 0, "buffered bytes left after finish()");
    assert_eq!(engine.fragment_bytes(), 0, "fragment bytes left after finish()");
    black_box(engine.stats());
}

/// Link types the `engine_frames` selector picks from.
pub const LINKTYPES: [i32; 4] = [1, 101, 113, 276];

/// Target `engine_frames`: arbitrary frames of the four link types through
/// Engine + Detector + DecodeWriter.
pub fn engine_frames(data: &[u8]) {
    black_box(run_frames(data).extra().acc);
}

/// [`engine_frames`], returning the pipeline.
pub fn run_frames(data: &[u8]) -> Run {
    let Some((&conf, mut rest)) = data.split_first() else {
        return pipeline(0);
    };
    let mut run = pipeline(conf);
    let mut ts = Ts::new(1_767_225_600, 0);
    let mut frame = 0u64;
    while rest.len() >= 3 {
        let sel = rest[0];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let bytes = &rest[3..3 + len];
        rest = &rest[3 + len..];
        ts = match sel >> 2 {
            62 => Ts(ts.0 - 1_000_000_000),
            63 => ts.plus_ms(400_000),
            n => ts.plus_ms(u64::from(n) * 37),
        };
        frame += 1;
        let fr = Frame { frame, ts, linktype: LINKTYPES[usize::from(sel & 3)], data: bytes };
        step(&mut run, &fr);
    }
    finish(&mut run);
    run
}

/// Encode frames in the `engine_frames` input format (for seeding the corpus).
pub fn encode_frames(conf: u8, frames: &[(i32, &[u8])]) -> Vec<u8> {
    let mut out = vec![conf];
    for (lt, f) in frames {
        let sel = LINKTYPES.iter().position(|x| x == lt).unwrap_or(0) as u8 | (1 << 2);
        let len = f.len().min(usize::from(u16::MAX));
        out.push(sel);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&f[..len]);
    }
    out
}

/// Builds Ethernet/IPv4/TCP frames of up to four client connections to one
/// server on port 102, tracking each side's sequence number.
///
/// Chunk control byte `ctl`: bit 0 direction (0 client to server), bit 1 wrap
/// the payload in TPKT + COTP DT (EOT), bits 2-3 extra flag (none, FIN, RST,
/// SYN), bits 4-5 connection index, bit 6 acknowledge 1000 bytes more than
/// the peer sent (a capture gap), bit 7 advance time by 40 s. The sequence
/// offset is added to the side's next sequence number (negative: overlap or
/// retransmission, positive: gap; +-127 mean +-70 000). A side's next
/// sequence number advances to the end of the highest byte sent.
pub struct StreamBuilder {
    conns: usize,
    vlan: bool,
    /// `[conn][side]` next sequence number (side 0 client, 1 server).
    next: [[u32; 2]; 4],
    ts: Ts,
    frame: u64,
    buf: Vec<u8>,
}

const SERVER_IP: [u8; 4] = [10, 10, 1, 10];
const SERVER_PORT: u16 = 102;
/// TCP flag bits.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

impl StreamBuilder {
    /// `conns` connections (1..=4), optionally with an 802.1Q tag.
    pub fn new(conns: usize, vlan: bool) -> Self {
        let mut next = [[0u32; 2]; 4];
        for (i, n) in next.iter_mut().enumerate() {
            // Start near the wrap-around of the sequence space for connection 1.
            let base = if i == 1 { 0xFFFF_FF00 } else { 1000 * (i as u32 + 1) };
            *n = [base, base.wrapping_mul(7).wrapping_add(12_345)];
        }
        StreamBuilder {
            conns: conns.clamp(1, 4),
            vlan,
            next,
            ts: Ts::new(1_767_225_600, 0),
            frame: 0,
            buf: Vec::with_capacity(2048),
        }
    }

    /// Build one frame into the internal buffer and return it.
    pub fn frame(&mut self, conn: usize, dir: usize, flags: u8, seq: u32, payload: &[u8], ack_skew: u32) -> Frame<'_> {
        let conn = conn % self.conns;
        let client_ip = [10, 10, 2, 20 + conn as u8];
        let client_port = 49_152 + conn as u16;
        let (sip, dip, sp, dp) = if dir == 0 {
            (client_ip, SERVER_IP, client_port, SERVER_PORT)
        } else {
            (SERVER_IP, client_ip, SERVER_PORT, client_port)
        };
        let ack = self.next[conn][1 - dir].wrapping_add(ack_skew);
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(&[0x00, 0x1b, 0x1b, 0x00, 0x00, 0x01]);
        b.extend_from_slice(&[0x00, 0x0c, 0x29, 0x00, 0x00, 0x02]);
        if self.vlan {
            b.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        }
        b.extend_from_slice(&[0x08, 0x00]);
        let ip_len = (20 + 20 + payload.len()) as u16;
        let ip_start = b.len();
        b.extend_from_slice(&[0x45, 0x00]);
        b.extend_from_slice(&ip_len.to_be_bytes());
        b.extend_from_slice(&[0x00, 0x01, 0x40, 0x00, 64, 6, 0, 0]);
        b.extend_from_slice(&sip);
        b.extend_from_slice(&dip);
        let mut sum = 0u32;
        for w in b[ip_start..ip_start + 20].chunks(2) {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        let csum = !(sum as u16);
        b[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());
        b.extend_from_slice(&sp.to_be_bytes());
        b.extend_from_slice(&dp.to_be_bytes());
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ack.to_be_bytes());
        let flags = if flags & SYN != 0 && dir == 0 { flags & !ACK } else { flags };
        b.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        b.extend_from_slice(payload);
        self.frame += 1;
        Frame { frame: self.frame, ts: self.ts, linktype: 1, data: &self.buf }
    }
}

/// Target `engine_stream`: fuzz-chosen payload chunks, flags and sequence
/// offsets inside well-formed Ethernet/IPv4/TCP frames to port 102, so TCP
/// reassembly, TPKT framing and COTP reassembly get deep coverage.
///
/// `options` byte: bit 0 open every connection with a three-way handshake,
/// bit 1 close with FIN from both sides, bit 2 close with RST, bit 3 VLAN tag,
/// bits 4-5 number of connections minus one.
pub fn engine_stream(data: &[u8]) {
    black_box(run_stream(data).extra().acc);
}

/// [`engine_stream`], returning the pipeline.
pub fn run_stream(data: &[u8]) -> Run {
    let [conf, opts, rest @ ..] = data else {
        return pipeline(0);
    };
    let (conf, opts) = (*conf, *opts);
    let mut run = pipeline(conf);
    let conns = 1 + usize::from((opts >> 4) & 3);
    let mut sb = StreamBuilder::new(conns, opts & 8 != 0);
    let mut wrapped = Vec::with_capacity(300);
    if opts & 1 != 0 {
        for c in 0..conns {
            for (dir, flags) in [(0, SYN), (1, SYN | ACK), (0, ACK)] {
                let seq = sb.next[c][dir];
                if flags & SYN != 0 {
                    sb.next[c][dir] = seq.wrapping_add(1);
                }
                sb.ts = sb.ts.plus_ms(1);
                let fr = sb.frame(c, dir, flags, seq, &[], 0);
                step(&mut run, &fr);
            }
        }
    }
    let mut rest = rest;
    while rest.len() >= 3 {
        let (ctl, off, len) = (rest[0], rest[1] as i8, usize::from(rest[2]));
        let len = len.min(rest.len() - 3);
        let chunk = &rest[3..3 + len];
        rest = &rest[3 + len..];
        let dir = usize::from(ctl & 1);
        let conn = usize::from((ctl >> 4) & 3) % conns;
        let payload: &[u8] = if ctl & 2 != 0 {
            wrapped.clear();
            let tl = (4 + 3 + chunk.len()) as u16;
            wrapped.extend_from_slice(&[3, 0]);
            wrapped.extend_from_slice(&tl.to_be_bytes());
            wrapped.extend_from_slice(&[2, 0xf0, 0x80]);
            wrapped.extend_from_slice(chunk);
            &wrapped
        } else {
            chunk
        };
        let extra = [0, FIN, RST, SYN][usize::from((ctl >> 2) & 3)];
        let delta: i64 = match off {
            127 => 70_000,
            -127 => -70_000,
            o => i64::from(o),
        };
        let seq = sb.next[conn][dir].wrapping_add(delta as u32);
        let end = seq.wrapping_add(payload.len() as u32).wrapping_add(u32::from(extra & (SYN | FIN) != 0));
        // Advance the side's next sequence number if this segment reaches beyond it.
        if (end.wrapping_sub(sb.next[conn][dir]) as i32) > 0 {
            sb.next[conn][dir] = end;
        }
        let skew = if ctl & 64 != 0 { 1000 } else { 0 };
        sb.ts = if ctl & 128 != 0 { sb.ts.plus_ms(40_000) } else { sb.ts.plus_ms(1) };
        let flags = ACK | if payload.is_empty() { 0 } else { PSH } | extra;
        let fr = sb.frame(conn, dir, flags, seq, payload, skew);
        step(&mut run, &fr);
    }
    if opts & 6 != 0 {
        let flags = if opts & 4 != 0 { RST | ACK } else { FIN | ACK };
        for c in 0..conns {
            for dir in [0, 1] {
                let seq = sb.next[c][dir];
                sb.next[c][dir] = seq.wrapping_add(u32::from(flags & FIN != 0));
                sb.ts = sb.ts.plus_ms(1);
                let fr = sb.frame(c, dir, flags, seq, &[], 0);
                step(&mut run, &fr);
            }
        }
    }
    finish(&mut run);
    run
}

/// Encode a TCP conversation (direction, payload) in the `engine_stream`
/// input format: handshake, in-order chunks of at most 255 bytes, FIN close.
pub fn encode_stream(conf: u8, segments: &[(usize, &[u8])]) -> Vec<u8> {
    let mut out = vec![conf, 0x03];
    for (dir, p) in segments {
        for c in p.chunks(255) {
            out.extend_from_slice(&[(*dir as u8) & 1, 0, c.len() as u8]);
            out.extend_from_slice(c);
        }
    }
    out
}
