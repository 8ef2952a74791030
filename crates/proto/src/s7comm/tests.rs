//! Unit tests with vectors from real captures (capture and frame named on
//! each), round-trip and never-panic properties, and the tshark differential
//! helper.

use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace() && *c != '|').collect();
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn parse(s: &str) -> (Vec<u8>, S7Header, Option<Finding>) {
    let b = hex(s);
    let p = parse_s7comm(&b).unwrap();
    let (h, f) = (p.header, p.finding);
    (b, h, f)
}

fn hdr(rosctr: u8, pdu_ref: u16, param_len: u16, data_len: u16, error: Option<(u8, u8)>) -> S7Header {
    S7Header { rosctr: Rosctr(rosctr), redundancy_id: 0, pdu_ref, param_len, data_len, error }
}

/// gymgit__snap7_s300_stop.pcap frame 1 (S7 part of the CPU STOP job).
const STOP: &str = "32 01 0000 0600 0010 0000 | 29 0000000000 09 505f50524f4752414d";

/// gymgit__snap7_s300_setupCommunication.pcap frames 1 and 2.
const SETUP_JOB: &str = "32 01 0000 ffff 0008 0000 | f0 00 0001 0001 0780";
const SETUP_ACK: &str = "32 03 0000 ffff 0008 0000 0000 | f0 00 0001 0001 00f0";

/// gymgit__snap7_s300_readVar.pcap frames 1 and 2: read DB1.DBB0 BYTE 64, answered "object does not exist".
const READ_JOB: &str = "32 01 0000 0000 000e 0000 | 04 01 | 12 0a 10 02 0040 0001 84 000000";
const READ_ACK: &str = "32 03 0000 0000 0002 0004 0000 | 04 01 | 0a 00 0000";

/// wireshark-wiki__s7comm_varservice_libnodavedemo.pcap frames 15 and 16: write MB0..3.
const WRITE_JOB: &str = "32 01 0000 0002 000e 0008 | 05 01 | 12 0a 10 02 0004 0000 83 000000 | 00 04 0020 a9100001";
const WRITE_ACK: &str = "32 03 0000 0002 0002 0001 0000 | 05 01 | ff";

/// icsnpp__s7ident.pcap frame 32: five items answered "object does not exist".
const READ_ACK_5ERR: &str = "32 03 0000 0a00 0002 0014 0000 | 04 05 | 0a000004 0a000004 0a000004 0a000004 0a000004";

/// gymgit__step7_s300_copyRamToRom.pcap frames 1 and 2: PI service _MODU("EP").
const PI_MODU: &str = "32 01 0000 0a00 0012 0000 | 28 000000000000fd 0002 4550 05 5f4d4f4455";
const PI_MODU_ACK: &str = "32 03 0000 0a00 0001 0000 0000 | 28";

/// wireshark-wiki__s7comm_downloading_block_db1.pcap frame 58: PI service _INSE(DB1).
const PI_INSE: &str = "32 01 0000 0f00 001a 0000 | 28 000000000000fd 000a 0100 3041303030303150 05 5f494e5345";

/// gymgit__step7_s300_download.pcap frames 87 and 88: request download of DB1.
const REQ_DOWNLOAD: &str =
    "32 01 0000 8300 0020 0000 | 1a 00 0100 00000000 09 5f3041303030303150 0d 31 303030323136 303030303838";
const REQ_DOWNLOAD_ACK: &str = "32 03 0000 8300 0001 0000 0000 | 1a";

/// gymgit__snap7_s300_everything.pcap frame 21: end upload, upload id 7.
const END_UPLOAD: &str = "32 01 0000 0a00 0008 0000 | 1f 00 0000 00000007";

/// gymgit__snap7_s300_everything.pcap frame 44: Ack with error class 0xd2 code 0x0c.
const ACK_ERROR: &str = "32 02 0000 1500 0000 0000 d20c";

/// gymgit__snap7_s300_everything.pcap frames 3 and 4: read SZL 0x0011 and its answer.
const SZL_REQ: &str = "32 07 0000 0100 0008 0008 | 0001120411440100 | ff09 0004 0011 0000";
const SZL_RESP: &str = "32 07 0000 0100 000c 007c | 000112081284010200000000 | ff09 0078 | 0011 0000 001c 0004
    0001 36455337203331352d32454831342d304142302000c0 0003 0001
    0006 36455337203331352d32454831342d304142302000c0 0003 0001
    0007 2020202020202020202020202020202020202020 00c0 5603 0207
    0081 426f6f74204c6f616465722020202020202020200000 4120 0909";

/// wireshark-wiki__s7comm_reading_setting_plc_time.pcap frames 43 (set clock) and 26 (read clock answer).
const SET_CLOCK: &str = "32 07 0000 0c00 0008 000e | 0001120411470200 | ff09 000a 0019140820115933 0400";
const READ_CLOCK_RESP: &str = "32 07 0000 0700 000c 000e | 000112081287010100000000 | ff09 000a 0019140820115943 9124";

/// gymgit__wincc_s400_production.pcap frame 84: change-driven cyclic push, 1 item.
const CYCLIC_PUSH: &str =
    "32 07 0000 0000 000c 0015 | 000112081202050300000000 | ff09 0011 0001 ff09000b ff000000000000ff000000";

/// gen_snap7_stop_start.pcap frame 10: python-snap7's CPU-state probe, a Read Var
/// job with parameter length 1 (no item count). Malformed.
const READ_NO_COUNT: &str = "32 01 0000 0002 0001 0000 | 04";

/// gen_nmap_s7info.pcap frame 15: the emulator's SZL 0x0011 answer with 26-byte records. Malformed.
const SZL_26: &str = "32 07 0000 0000 000c 0026 | 000112081284010000000000 | ff09 0022 | 0011 0001 001a 0001
    0001 36455337203331352d32454831342d3041423000 00 0303 00";

#[test]
fn plc_stop() {
    let (b, h, f) = parse(STOP);
    assert_eq!(h, hdr(1, 0x0600, 16, 0, None));
    assert_eq!(f, None);
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.function(), Some(Function::PLC_STOP));
    assert_eq!(p.item_count(), None);
    assert_eq!(p.params(), Params::PlcStop(PlcStop { service: b"P_PROGRAM" }));
    assert_eq!(p.param_offset(), 10);
}

#[test]
fn setup_comm() {
    let (b, h, f) = parse(SETUP_JOB);
    assert_eq!((h, f), (hdr(1, 0xffff, 8, 0, None), None));
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(
        p.setup_comm(),
        Some(SetupComm { reserved: 0, max_amq_calling: 1, max_amq_called: 1, pdu_length: 1920 })
    );
    assert_eq!((p.function(), p.item_count()), (Some(Function::SETUP_COMM), None));
    let (b, h, f) = parse(SETUP_ACK);
    assert_eq!((h, f), (hdr(3, 0xffff, 8, 0, Some((0, 0))), None));
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.setup_comm().map(|s| s.pdu_length), Some(240));
    assert_eq!(p.error_code(), None);
}

#[test]
fn read_var() {
    let (b, h, f) = parse(READ_JOB);
    assert_eq!((h, f), (hdr(1, 0, 14, 0, None), None));
    let p = parse_s7comm(&b).unwrap();
    let a = S7AnyAddress { transport_size: TransportSize::BYTE, length: 64, db: 1, area: Area::DB, address: 0 };
    assert_eq!(p.var_items().collect::<Vec<_>>(), [VarItem::Any(a)]);
    assert_eq!(p.item_count(), Some(1));
    assert_eq!(p.requested_bytes(), 64);
    match p.params() {
        Params::ReadVar { item_count: 1, items } => assert_eq!(items.count(), 1),
        other => panic!("{other:?}"),
    }
    let (b, h, f) = parse(READ_ACK);
    assert_eq!((h, f), (hdr(3, 0, 2, 4, Some((0, 0))), None));
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.item_count(), Some(1));
    let items: Vec<_> = p.data_items().collect();
    assert_eq!(
        items,
        [DataItem {
            return_code: ReturnCode::OBJECT_MISSING,
            transport_size: DataTransportSize::NULL,
            length: 0,
            data: &[]
        }]
    );
    assert_eq!(p.var_items().count(), 0);
    let b = hex(READ_ACK_5ERR);
    let p = parse_s7comm(&b).unwrap();
    assert_eq!((p.finding, p.data_items().count(), p.item_count()), (None, 5, Some(5)));
}

#[test]
fn write_var() {
    let (b, h, f) = parse(WRITE_JOB);
    assert_eq!((h, f), (hdr(1, 2, 14, 8, None), None));
    let p = parse_s7comm(&b).unwrap();
    let a = S7AnyAddress { transport_size: TransportSize::BYTE, length: 4, db: 0, area: Area::FLAGS, address: 0 };
    assert_eq!(p.var_items().collect::<Vec<_>>(), [VarItem::Any(a)]);
    let d: Vec<_> = p.data_items().collect();
    assert_eq!(
        d,
        [DataItem {
            return_code: ReturnCode::RESERVED,
            transport_size: DataTransportSize::BYTE_WORD_DWORD,
            length: 32,
            data: &[0xa9, 0x10, 0x00, 0x01]
        }]
    );
    let (b, _, f) = parse(WRITE_ACK);
    assert_eq!(f, None);
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.write_results().collect::<Vec<_>>(), [ReturnCode::SUCCESS]);
    assert_eq!(p.item_count(), Some(1));
}

#[test]
fn pi_services() {
    let (b, h, f) = parse(PI_MODU);
    assert_eq!((h, f), (hdr(1, 0x0a00, 18, 0, None), None));
    let p = parse_s7comm(&b).unwrap();
    let pi = p.pi_service().unwrap();
    assert_eq!(pi, PiService { status: None, param_block: b"EP", service: b"_MODU", layout: PiLayout::Standard });
    assert_eq!((pi.service_str(), pi.description()), (Some("_MODU"), Some("copy RAM to ROM")));
    assert_eq!(pi.args(), PiArgs::Argument(b"EP"));
    let (b, _, f) = parse(PI_MODU_ACK);
    assert_eq!(f, None);
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(
        p.params(),
        Params::PiService(PiService { status: None, param_block: &[], service: &[], layout: PiLayout::Standard })
    );
    let (b, _, f) = parse(PI_INSE);
    assert_eq!(f, None);
    let pi = parse_s7comm(&b).unwrap().pi_service().unwrap();
    let PiArgs::Blocks(blocks) = pi.args() else { panic!("{pi:?}") };
    assert_eq!(blocks.collect::<Vec<_>>(), [BlockName { block_type: BlockType::DB, number: Some(1), filesys: b'P' }]);
}

#[test]
fn block_functions() {
    let (b, h, f) = parse(REQ_DOWNLOAD);
    assert_eq!((h, f), (hdr(1, 0x8300, 32, 0, None), None));
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(
        p.params(),
        Params::RequestDownload(BlockControl {
            status: Some(0),
            error_code: None,
            upload_id: None,
            file_name: Some(FileName(b"_0A00001P")),
            load_memory_len: Some(b"000216"),
            mc7_len: Some(b"000088"),
            block_len: None,
        })
    );
    assert_eq!(p.block(), Some(BlockName { block_type: BlockType::DB, number: Some(1), filesys: b'P' }));
    let (b, _, f) = parse(REQ_DOWNLOAD_ACK);
    assert_eq!(f, None);
    assert_eq!(parse_s7comm(&b).unwrap().block_control(), Some(BlockControl::default()));
    let (b, _, f) = parse(END_UPLOAD);
    assert_eq!(f, None);
    let bc = parse_s7comm(&b).unwrap().block_control().unwrap();
    assert_eq!((bc.status, bc.error_code, bc.upload_id, bc.file_name), (Some(0), Some(ErrorCode(0)), Some(7), None));
}

#[test]
fn ack_error() {
    let (b, h, f) = parse(ACK_ERROR);
    assert_eq!((h, f), (hdr(2, 0x1500, 0, 0, Some((0xd2, 0x0c))), None));
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.function(), None);
    assert_eq!(p.error_code(), Some(ErrorCode(0xd20c)));
    assert_eq!(p.params(), Params::None);
    assert_eq!(ErrorCode(0xd602).name(), Some("wrong password"));
}

#[test]
fn szl_request_and_module_identification() {
    let (b, h, f) = parse(SZL_REQ);
    assert_eq!((h, f), (hdr(7, 0x0100, 8, 8, None), None));
    let p = parse_s7comm(&b).unwrap();
    let u = p.userdata().unwrap();
    assert_eq!(
        u,
        UserdataHeader {
            param_head_len: 4,
            method: 0x11,
            ud_type: 1,
            group: 4,
            subfunction: 1,
            seq: 0,
            data_unit_ref: None,
            last_unit: None,
            error_code: None
        }
    );
    assert_eq!((p.function(), p.item_count()), (None, None));
    assert_eq!(p.szl(), Some(SzlRef { id: 0x0011, index: 0 }));
    assert!(p.is_read_szl());
    let (b, h, f) = parse(SZL_RESP);
    assert_eq!((h, f), (hdr(7, 0x0100, 12, 124, None), None));
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.szl(), Some(SzlRef { id: 0x0011, index: 0 }));
    let s = p.szl_response().unwrap();
    assert_eq!((s.id, s.index, s.record_len, s.record_count, s.records.len()), (0x11, 0, 28, 4, 112));
    let m: Vec<_> = s.module_ids().collect();
    assert_eq!(m.len(), 4);
    assert_eq!(
        (m[0].index, m[0].order_number_str(), m[0].module_type, m[0].ausbg, m[0].ausbe),
        (1, Some("6ES7 315-2EH14-0AB0"), 0xc0, 3, 1)
    );
    assert_eq!(m[2].version(), Some(ModuleVersion { letter: b'V', major: 3, minor: 2, patch: 7 }));
    assert_eq!(m[3].order_number_str(), Some("Boot Loader"));
    assert_eq!(m[3].kind(), Some("firmware extension"));
    assert_eq!(s.components().count(), 0);
}

#[test]
fn clock() {
    let (b, _, f) = parse(SET_CLOCK);
    assert_eq!(f, None);
    let p = parse_s7comm(&b).unwrap();
    assert!(p.is_clock_set());
    let t = p.clock().unwrap();
    assert_eq!((t.year, t.month, t.day, t.hour, t.minute, t.second, t.millisecond), (2014, 8, 20, 11, 59, 33, 40));
    let (b, _, f) = parse(READ_CLOCK_RESP);
    assert_eq!(f, None);
    let p = parse_s7comm(&b).unwrap();
    assert!(!p.is_clock_set());
    assert_eq!(p.clock().map(|t| (t.second, t.millisecond, t.weekday)), Some((43, 912, 4)));
    assert_eq!(p.userdata().and_then(|u| u.subfunction_name()), Some("read clock"));
}

#[test]
fn cyclic_item_count() {
    let (b, _, f) = parse(CYCLIC_PUSH);
    assert_eq!(f, None);
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.item_count(), Some(1));
    assert_eq!(p.userdata().map(|u| (u.ud_type, u.group, u.subfunction)), Some((0, 2, 5)));
}

#[test]
fn malformed_emulator_frames() {
    let (b, h, f) = parse(READ_NO_COUNT);
    assert_eq!(h, hdr(1, 2, 1, 0, None));
    assert_eq!(f, Some(Finding::new(Layer::S7comm, FindingKind::Truncated, 11)));
    let p = parse_s7comm(&b).unwrap();
    // tshark shows the function but no item count.
    assert_eq!((p.function(), p.item_count(), p.var_items().count()), (Some(Function::READ_VAR), None, 0));
    let (b, _, f) = parse(SZL_26);
    assert_eq!(f, Some(Finding::new(Layer::S7comm, FindingKind::BadItem, 30)));
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.szl(), Some(SzlRef { id: 0x0011, index: 1 }));
    assert_eq!(p.szl_response().map(|s| s.module_ids().count()), Some(0));
}

#[test]
fn findings_inside_items() {
    // Item count 2, one item present.
    let b = hex("32 01 0000 0000 000e 0000 | 04 02 | 12 0a 10 02 0040 0001 84 000000");
    assert_eq!(
        parse_s7comm(&b).unwrap().finding,
        Some(Finding::new(Layer::S7comm, FindingKind::ItemCountMismatch, 24))
    );
    // S7ANY item with length 9.
    let b = hex("32 01 0000 0000 000d 0000 | 04 01 | 12 09 10 02 0040 0001 84 0000");
    assert_eq!(parse_s7comm(&b).unwrap().finding, Some(Finding::new(Layer::S7comm, FindingKind::BadItem, 12)));
    // Unknown function.
    let b = hex("32 01 0000 0000 0002 0000 | 42 00");
    assert_eq!(parse_s7comm(&b).unwrap().finding, Some(Finding::new(Layer::S7comm, FindingKind::UnknownFunction, 10)));
    // Unknown ROSCTR.
    let b = hex("32 05 0000 0000 0000 0000");
    let p = parse_s7comm(&b).unwrap();
    assert_eq!((p.finding, p.function()), (Some(Finding::new(Layer::S7comm, FindingKind::UnknownRosctr, 1)), None));
    // Read response data item that runs past the end.
    let b = hex("32 03 0000 0000 0002 0006 0000 | 04 01 | ff 04 0020 0102");
    assert_eq!(parse_s7comm(&b).unwrap().finding, Some(Finding::new(Layer::S7comm, FindingKind::BadItem, 14)));
    // Non-S7ANY items are kept raw.
    let b = hex("32 01 0000 0000 000e 0000 | 04 01 | 12 0a b2 ff 8a0e 0001 11223344");
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.finding, None);
    assert_eq!(
        p.var_items().collect::<Vec<_>>(),
        [VarItem::Other {
            syntax_id: SyntaxId::SYM_1200,
            raw: &[0xff, 0x8a, 0x0e, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44]
        }]
    );
    // Header lengths larger than the bytes present: header kept, parts cut.
    let b = hex("32 01 0000 0000 000e 0000 | 04 01 | 12 0a");
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(
        (p.finding, p.param.len(), p.item_count()),
        (Some(Finding::new(Layer::S7comm, FindingKind::LengthMismatch, 6)), 4, Some(1))
    );
}

#[test]
fn truncated_prefixes_of_real_pdus() {
    for s in [STOP, SETUP_ACK, READ_JOB, WRITE_JOB, PI_INSE, REQ_DOWNLOAD, SZL_RESP, SET_CLOCK, CYCLIC_PUSH] {
        let b = hex(s);
        for n in 0..b.len() {
            match parse_s7comm(&b[..n]) {
                Err(f) => assert!(n < HEADER_LEN_ACK, "{s} prefix {n}: {f}"),
                Ok(p) => {
                    assert!(p.finding.is_some(), "{s} prefix {n}");
                    touch(&p);
                }
            }
        }
    }
}

/// Call every accessor and drain every iterator.
fn touch(p: &S7Pdu<'_>) {
    let _ = (p.function(), p.item_count(), p.userdata(), p.userdata_data(), p.szl(), p.check());
    let _ = (p.var_items().count(), p.data_items().count(), p.write_results().count(), p.requested_bytes());
    let _ = (p.setup_comm(), p.block_control(), p.block(), p.block_data(), p.error_code(), p.clock());
    let _ = (p.mode_transition(), p.is_memory_reset(), p.is_clock_set(), p.is_password(), p.is_read_szl());
    if let Some(pi) = p.pi_service() {
        let _ = (pi.service_str(), pi.description());
        match pi.args() {
            PiArgs::Blocks(b) => {
                let _ = b.count();
            }
            PiArgs::Strings(s) => {
                let _ = s.count();
            }
            _ => {}
        }
    }
    if let Some(s) = p.szl_response() {
        let _ = s.records().count();
        s.module_ids().for_each(|m| {
            let _ = (m.order_number_str(), m.version(), m.kind());
        });
        s.components().for_each(|c| {
            let _ = (c.text(), c.kind());
        });
    }
    if let Some(u) = p.userdata() {
        let _ = (u.subfunction_name(), u.legacy_group(), u.legacy_type(), u.error(), u.is_continuation());
    }
    let _ = p.params().block_control().map(|b| b.more_data());
}

fn any_address() -> impl Strategy<Value = S7AnyAddress> {
    (any::<u8>(), any::<u16>(), any::<u16>(), any::<u8>(), 0u32..0x0100_0000).prop_map(
        |(t, length, db, area, address)| S7AnyAddress {
            transport_size: TransportSize(t),
            length,
            db,
            area: Area(area),
            address,
        },
    )
}

fn build(rosctr: u8, pdu_ref: u16, error: Option<(u8, u8)>, param: &[u8], data: &[u8]) -> Vec<u8> {
    let h = S7Header {
        rosctr: Rosctr(rosctr),
        redundancy_id: 0,
        pdu_ref,
        param_len: param.len() as u16,
        data_len: data.len() as u16,
        error,
    };
    let (hb, n) = h.to_bytes();
    let mut v = hb[..n].to_vec();
    v.extend_from_slice(param);
    v.extend_from_slice(data);
    v
}

proptest! {
    #[test]
    fn setup_comm_roundtrip(calling in any::<u16>(), called in any::<u16>(), pdu in any::<u16>(), r in any::<u16>(), ack in any::<bool>()) {
        let s = SetupComm { reserved: 0, max_amq_calling: calling, max_amq_called: called, pdu_length: pdu };
        let (rosctr, err) = if ack { (3, Some((0, 0))) } else { (1, None) };
        let b = build(rosctr, r, err, &s.to_bytes(), &[]);
        let p = parse_s7comm(&b).unwrap();
        prop_assert_eq!(p.header, hdr(rosctr, r, 8, 0, err));
        prop_assert_eq!(p.finding, None);
        prop_assert_eq!(p.setup_comm(), Some(s));
        prop_assert_eq!(p.function(), Some(Function::SETUP_COMM));
    }

    #[test]
    fn read_var_items_roundtrip(addrs in proptest::collection::vec(any_address(), 0..20), r in any::<u16>()) {
        let mut param = vec![0x04, addrs.len() as u8];
        for a in &addrs {
            param.extend_from_slice(&a.to_item_bytes());
        }
        let b = build(1, r, None, &param, &[]);
        let p = parse_s7comm(&b).unwrap();
        prop_assert_eq!(p.finding, None);
        prop_assert_eq!(p.item_count(), Some(addrs.len() as u8));
        let got: Vec<_> = p.var_items().collect();
        let want: Vec<_> = addrs.iter().copied().map(VarItem::Any).collect();
        prop_assert_eq!(got, want);
        let sum: u64 = addrs.iter().filter_map(|a| a.byte_len()).map(u64::from).sum();
        prop_assert_eq!(p.requested_bytes(), sum);
    }

    #[test]
    fn userdata_head_roundtrip(ud_type in 0u8..3, group in 0u8..0x40, sub in any::<u8>(), seq in any::<u8>(),
                               ext in proptest::option::of((any::<u8>(), 0u8..2, any::<u16>()))) {
        let h = UserdataHeader {
            param_head_len: if ext.is_some() { 8 } else { 4 },
            method: if ext.is_some() { 0x12 } else { 0x11 },
            ud_type, group, subfunction: sub, seq,
            data_unit_ref: ext.map(|e| e.0),
            last_unit: ext.map(|e| e.1),
            error_code: ext.map(|e| e.2),
        };
        let (pb, n) = h.to_bytes();
        let b = build(7, 1, None, &pb[..n], &[0x0a, 0x00, 0x00, 0x00]);
        let p = parse_s7comm(&b).unwrap();
        prop_assert_eq!(p.userdata(), Some(h));
        prop_assert_eq!(p.finding, None);
        prop_assert_eq!(p.function(), None);
        prop_assert_eq!(p.params(), Params::Userdata(h));
    }

    #[test]
    fn never_panics_random(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = parse_s7comm(&b) {
            touch(&p);
        }
    }

    #[test]
    fn never_panics_structured(rosctr in prop::sample::select(vec![1u8, 2, 3, 7, 4, 9]),
                               func in prop::sample::select(vec![0x00u8, 0x01, 0x04, 0x05, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x28, 0x29, 0xf0, 0x77]),
                               param in proptest::collection::vec(any::<u8>(), 0..60),
                               data in proptest::collection::vec(any::<u8>(), 0..120),
                               ud_group in 0u8..8, err in any::<(u8, u8)>()) {
        let mut param = param;
        if rosctr == 7 && param.len() >= 8 {
            param[..3].copy_from_slice(&[0, 1, 0x12]);
            param[3] = (param.len() - 4) as u8;
            param[5] = (param[5] & 0xC0) | ud_group;
        } else if let Some(f) = param.first_mut() {
            *f = func;
        }
        let e = Rosctr(rosctr).has_error().then_some(err);
        let b = build(rosctr, 0, e, &param, &data);
        let p = parse_s7comm(&b).unwrap();
        touch(&p);
    }
}

/// Differential helper for the tshark comparison: when `S7_DIFF_IN` names a
/// file of lines `key|hex,hex,...` (one S7 PDU per hex string), writes
/// `key|fields;fields...` to `S7_DIFF_OUT` with the accessor values formatted
/// like `tshark -T fields`. Does nothing without the variable.
#[test]
fn diff_against_tshark_dump() {
    use std::fmt::Write as _;
    let (Ok(inp), Ok(out)) = (std::env::var("S7_DIFF_IN"), std::env::var("S7_DIFF_OUT")) else {
        return;
    };
    let text = std::fs::read_to_string(inp).unwrap();
    let detail = std::env::var("S7_DIFF_DETAIL").ok();
    let mut o = String::new();
    let mut det = String::new();
    let mut reasm: std::collections::HashMap<(String, u8, u8, u8), Vec<u8>> = Default::default();
    for line in text.lines() {
        let Some((key, pdus)) = line.split_once('|') else {
            continue;
        };
        let mut cols: [String; 13] = Default::default();
        for hex in pdus.split(',') {
            let b: Vec<u8> =
                (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
            let mut vals: [Option<String>; 13] = Default::default();
            match parse_s7comm(&b) {
                Ok(raw) => {
                    // Emulate the engine's userdata reassembly (first unit's data
                    // + later payloads), keyed by file, group, subfunction, data unit ref.
                    let file = key.split(':').next().unwrap_or("").to_string();
                    let mut joined: Option<Vec<u8>> = None;
                    if let Some(u) = raw.userdata() {
                        let k = (file, u.group, u.subfunction, u.data_unit_ref.unwrap_or(0));
                        if u.more_units() {
                            let e = reasm.entry(k).or_default();
                            if e.is_empty() {
                                e.extend_from_slice(raw.data)
                            } else {
                                e.extend_from_slice(raw.data.get(4..).unwrap_or(&[]))
                            }
                        } else if let Some(mut buf) = reasm.remove(&k) {
                            buf.extend_from_slice(raw.data.get(4..).unwrap_or(&[]));
                            joined = Some(buf);
                        }
                    }
                    let p = match &joined {
                        Some(buf) => S7Pdu { data: buf, ..raw },
                        None => raw,
                    };
                    let h = p.header;
                    vals[0] = Some(h.rosctr.0.to_string());
                    vals[1] = Some(h.pdu_ref.to_string());
                    vals[2] = Some(h.param_len.to_string());
                    vals[3] = Some(h.data_len.to_string());
                    vals[4] = h.error.map(|e| format!("0x{:02x}", e.0));
                    vals[5] = h.error.map(|e| format!("0x{:02x}", e.1));
                    vals[6] = p.function().map(|f| format!("0x{:02x}", f.0));
                    vals[7] = p.item_count().map(|c| c.to_string());
                    vals[8] = p.userdata().map(|u| u.group.to_string());
                    vals[9] = p.userdata().map(|u| u.subfunction.to_string());
                    vals[10] = p.szl().map(|s| format!("0x{:04x}", s.id));
                    vals[11] = p.szl().map(|s| format!("0x{:04x}", s.index));
                    vals[12] = p.finding.map(|f| format!("{}@{}", f.kind, f.offset));
                    // Exercise every accessor and iterator.
                    let _ = (p.params(), p.var_items().count(), p.data_items().count(), p.write_results().count());
                    let _ = (p.requested_bytes(), p.setup_comm(), p.pi_service().map(|x| x.args()), p.block());
                    let _ = (p.block_data(), p.error_code(), p.clock(), p.mode_transition(), p.userdata_data());
                    if let Some(s) = p.szl_response() {
                        let _ = (s.records().count(), s.module_ids().count(), s.components().count());
                    }
                    if detail.is_some() {
                        let _ = writeln!(
                            det,
                            "{key} {:?} items={:?} data={:?} err={:?}",
                            p.params(),
                            p.var_items().collect::<Vec<_>>(),
                            p.data_items().map(|d| (d.return_code.0, d.data.len())).collect::<Vec<_>>(),
                            p.error_code()
                        );
                        if let Some(pi) = p.pi_service() {
                            let _ = writeln!(
                                det,
                                "{key}   PI {:?} {:?} {:?}",
                                pi.service_str(),
                                pi.description(),
                                pi.args()
                            );
                        }
                        if let Some(b) = p.block() {
                            let _ = writeln!(det, "{key}   BLOCK {:?} {:?}", b.block_type.name(), b.number);
                        }
                        if let Some(s) = p.szl_response() {
                            for m in s.module_ids() {
                                let _ = writeln!(
                                    det,
                                    "{key}   MODID {:04x} {:?} {:04x} {:?}",
                                    m.index,
                                    m.order_number_str(),
                                    m.module_type,
                                    m.version()
                                );
                            }
                            for c in s.components() {
                                let _ = writeln!(det, "{key}   COMP {:04x} {:?} {:?}", c.index, c.kind(), c.text());
                            }
                        }
                        if let Some(c) = p.clock() {
                            let _ = writeln!(det, "{key}   CLOCK {c:?}");
                        }
                    }
                }
                Err(f) => vals[12] = Some(format!("ERR:{}@{}", f.kind, f.offset)),
            }
            for (c, v) in cols.iter_mut().zip(vals) {
                if let Some(v) = v {
                    if !c.is_empty() {
                        c.push(',');
                    }
                    c.push_str(&v);
                }
            }
        }
        let _ = writeln!(o, "{key}|{}", cols.join("|"));
    }
    std::fs::write(out, o).unwrap();
    if let Some(d) = detail {
        std::fs::write(d, det).unwrap();
    }
}

/// gymgit__snap7_s300_everything.pcap frames 59, 61 and 63: the C snap7 client's
/// copy RAM to ROM (`_MODU`, argument `EP`), compress (`_GARB`) and cold start
/// (`P_PROGRAM`, argument `C `), all in the standard layout.
const SNAP7_MODU: &str = "32 01 0000 1d00 0012 0000 | 28 000000000000fd 0002 4550 05 5f4d4f4455";
const SNAP7_GARB: &str = "32 01 0000 1e00 0010 0000 | 28 000000000000fd 0000 05 5f47415242";
const SNAP7_COLD: &str = "32 01 0000 1f00 0016 0000 | 28 000000000000fd 0002 4320 09 505f50524f4752414d";
/// The C snap7 hot start (`TReqFunPlcHotStart` in snap7 `s7_types.h`; python-snap7
/// 3.3 `_HOT_START_PARAMS` sends the same bytes).
const SNAP7_HOT: &str = "32 01 0000 2000 0014 0000 | 28 000000000000fd 0000 09 505f50524f4752414d";
/// The C snap7 `_DELE` and `_INSE` of DB1 (`TReqControlBlockParams` in `s7_types.h`:
/// block count 1, 00, '0', type 'A', "00001", file system 'B' for delete / 'P' for insert).
const SNAP7_DELE: &str = "32 01 0000 2100 001a 0000 | 28 000000000000fd 000a 0100 3041303030303142 05 5f44454c45";
const SNAP7_INSE: &str = "32 01 0000 2200 001a 0000 | 28 000000000000fd 000a 0100 3041303030303150 05 5f494e5345";
/// python-snap7 3.3 `S7Protocol.build_delete_block_request(0x41, 1)` (pure Python, no C
/// library): `28`, five zero bytes, block-spec length 8, service length 5, `00`, the
/// spec `f"{type:02X}{number:05d}P"` = `4100001P`, then `_DELE`.
const PYSNAP7_DELE: &str = "32 01 0000 0005 0016 0000 | 28 0000000000 08 05 00 3431303030303150 5f44454c45";

#[test]
fn snap7_pi_jobs_are_recognised() {
    let blocks = |s: &str| -> (PiService<'static>, Vec<BlockName>, Option<Finding>) {
        let b: &'static [u8] = Box::leak(hex(s).into_boxed_slice());
        let p = parse_s7comm(b).unwrap();
        let pi = p.pi_service().unwrap();
        let v = match pi.args() {
            PiArgs::Blocks(x) => x.collect(),
            _ => Vec::new(),
        };
        (pi, v, p.finding)
    };
    let db1 = |fs| BlockName { block_type: BlockType::DB, number: Some(1), filesys: fs };
    for (s, name, arg) in [
        (SNAP7_MODU, &b"_MODU"[..], &b"EP"[..]),
        (SNAP7_GARB, b"_GARB", b""),
        (SNAP7_COLD, b"P_PROGRAM", b"C "),
        (SNAP7_HOT, b"P_PROGRAM", b""),
    ] {
        let (pi, _, f) = blocks(s);
        assert_eq!((pi.service, pi.layout, f), (name, PiLayout::Standard, None), "{s}");
        assert_eq!(pi.args(), PiArgs::Argument(arg));
    }
    let (pi, v, f) = blocks(SNAP7_DELE);
    assert_eq!((pi.service, pi.layout, f, v), (&b"_DELE"[..], PiLayout::Standard, None, vec![db1(b'B')]));
    let (pi, v, f) = blocks(SNAP7_INSE);
    assert_eq!((pi.service, pi.layout, f, v), (&b"_INSE"[..], PiLayout::Standard, None, vec![db1(b'P')]));
    // python-snap7's compact layout: the service and its block are recognised, and
    // the job still carries the finding the standard layout raises (offset 18: the
    // u16 block length reads 00 34 and runs past the end).
    let (pi, v, f) = blocks(PYSNAP7_DELE);
    assert_eq!((pi.service, pi.layout), (&b"_DELE"[..], PiLayout::Compact));
    assert_eq!(v, vec![db1(b'P')]);
    assert_eq!(f, Some(Finding::new(Layer::S7comm, FindingKind::LengthBeyondEnd, 18)));
    assert_eq!(pi.description(), Some("delete a block"));
}

#[test]
fn pi_service_name_found_in_any_layout() {
    // An unknown layout that still names P_PROGRAM: recognised by the name alone.
    let b = hex("32 01 0000 0007 0012 0000 | 28 00 ff 09 ff 01 02 505f50524f4752414d");
    let p = parse_s7comm(&b).unwrap();
    let pi = p.pi_service().unwrap();
    assert_eq!((pi.service, pi.layout, pi.args()), (&b"P_PROGRAM"[..], PiLayout::NameOnly, PiArgs::None));
    assert!(p.finding.is_some());
    // A standard job naming an unknown service stays standard (no scan).
    let b = hex("32 01 0000 0008 0010 0000 | 28 000000000000fd 0000 05 5f58595a5a");
    let p = parse_s7comm(&b).unwrap();
    let pi = p.pi_service().unwrap();
    assert_eq!((pi.service, pi.layout, p.finding), (&b"_XYZZ"[..], PiLayout::Standard, None));
    // Garbage without a known name: undecoded, as before.
    let b = hex("32 01 0000 0009 000b 0000 | 28 00 01 02 03 04 05 06 07 08 09");
    let p = parse_s7comm(&b).unwrap();
    assert_eq!(p.pi_service(), None);
    assert!(p.finding.is_some());
}
