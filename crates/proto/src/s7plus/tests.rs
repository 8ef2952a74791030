//! Unit tests with frames from real captures (file and frame named on each),
//! VLQ round trips and never-panic properties.

use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace() && *c != '|').collect();
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

/// agentcarter1__s71200_OnlineStopStart.pcapng frame 71: TIA Portal stops an
/// S7-1200 (V3, digest, SetVariable on object 52 attribute 2167, value 1).
const STOP_V3: &str = "72030056 20 55f3c3a2762bea7b89f5d378cafa9dbbdb91b347e4205804c29f41d14a824c54
    31 0000 04f2 0000 003a 00000394 34 | 00000034 01 9077 00 08 01 | 000004e8 8969 0012 00000000 896a 0013 00 896b 0004 00 00
    00 0e 00000000 | 72030000";

/// Same capture, frame 277: the matching start (value 3).
const START_V3: &str = "72030056206d842a7c70a6305aa666d526d6f7c13c63af7bc87fa82c14ba679a369037c8f331000004f200000046000003943400000034019077000803000004e88969001200000000896a001300896b0004000000150000000072030000";

/// ISF's S7-1200 stop frame (research/advisories-and-wire-format.md §2.4), V2 without integrity.
const STOP_ISF: &str = "72020034 31 0000 04f2 0000 0001 00000394 34 00000034 01 9077 00 08 01
    000004e8 8969 0012 00000000 896a 0013 00 896b 0004 00 00 00 00000000 72020000";

/// agentcarter1__S71200_StartupGoOnline.pcapng frame 116: CreateObject response (V1)
/// carrying `1;6ES7 215-1AG40-0XB0 ;V4.3`.
const CREATE_RESP_V1: &str = "720100c832000004ca0000000136000287148715a100000120821f0000a3816900151330313a42443432364230393146303837333141a3822b00048280808002a3822d0015104f4d53502e52454c2e383038392e3236a3822f1002147baf3cc82cf9eac8172088dec98c58ae267e54ada3823200170000013a823b00048400823c00048400823d00048480c201823e00048480c200823f00151b313b36455337203231352d31414734302d30584230203b56342e338240001506323b3130383482410003000300a20000000072010000";

/// s7commwireshark__S7-1511_db3_var1_HMI.pcap frame 1: GetMultiVariables (V2) with
/// the integrity part at the end (id 13, digest length 32).
const GETMULTI_V2: &str = "7202005b310000054c0000001300000388340000000001058acdf1cd6688d0b880030293760a000004e88969001200000000896a001300896b000400000d207620c0877933317ba6c26045bbf355f109b98fab19a7ad831ad7c2369bf7e7fc72020000";

/// gen_s7commplus_v1.pcap frames 8 and 9: InitSSL request and response.
const INIT_SSL_REQ: &str = "7201001231000005b30000000000000000300000000072010000";
const INIT_SSL_RESP: &str = "7201000f32000005b30000000000000000000072010000";

/// agentcarter1__1.pcapng frame 457: system event (no trailer).
const SYS_EVENT: &str = "72fe001000000000003becd50000000000000000";

#[test]
fn stop_v3() {
    let b = hex(STOP_V3);
    let f = parse_s7plus(&b).unwrap();
    assert_eq!(f.version, Version::V3);
    assert_eq!(f.data_len, 0x56);
    assert!(f.has_trailer);
    assert_eq!(f.digest_len, Some(32));
    assert_eq!(f.digest.map(<[u8]>::len), Some(32));
    assert_eq!(f.opcode, Some(Opcode::REQUEST));
    assert_eq!(f.function, Some(PlusFunction::SET_VARIABLE));
    assert_eq!(f.seq, Some(0x3a));
    assert_eq!(f.session_id, Some(0x394));
    assert_eq!(f.transport_flags, Some(0x34));
    assert_eq!(f.finding, None);
    let sv = f.set_variable().unwrap();
    assert_eq!(sv.object_id, ids::CPU_EXEC_UNIT);
    assert_eq!(sv.address_count, 1);
    assert_eq!(sv.attribute_id, ids::OPERATING_STATE_REQ);
    assert_eq!(sv.value, PlusValue { flags: 0, datatype: 0x08, raw: &[0x01] });
    assert_eq!(sv.value.datatype_name(), Some("DInt"));
    assert_eq!(f.operating_state_request(), Some(OPERATING_STATE_STOP));
    let s = hex(START_V3);
    assert_eq!(parse_s7plus(&s).unwrap().operating_state_request(), Some(OPERATING_STATE_RUN));
}

#[test]
fn stop_isf_v2() {
    let b = hex(STOP_ISF);
    let f = parse_s7plus(&b).unwrap();
    assert_eq!((f.version, f.data_len, f.has_trailer, f.finding), (Version::V2, 0x34, true, None));
    assert_eq!(f.digest_len, None);
    assert_eq!(f.operating_state_request(), Some(1));
    assert_eq!(f.v2_integrity(), None);
}

#[test]
fn create_object_response_order_number() {
    let b = hex(CREATE_RESP_V1);
    let f = parse_s7plus(&b).unwrap();
    assert_eq!(f.opcode, Some(Opcode::RESPONSE));
    assert_eq!(f.function, Some(PlusFunction::CREATE_OBJECT));
    assert_eq!(f.session_id, None);
    assert_eq!(f.finding, None);
    assert_eq!(f.order_number(), Some(OrderNumber { order_number: "6ES7 215-1AG40-0XB0", firmware: Some("V4.3") }));
    assert_eq!(
        find_order_number(b"x6ES7 512-1DM03-0AB0;V4.1\0"),
        Some(OrderNumber { order_number: "6ES7 512-1DM03-0AB0", firmware: Some("V4.1") })
    );
    assert_eq!(
        find_order_number(b"6ES7 512-1DM03-0AB0"),
        Some(OrderNumber { order_number: "6ES7 512-1DM03-0AB0", firmware: None })
    );
    assert_eq!(find_order_number(b"6ES7 51-1DM03-0AB0;V4.1"), None);
}

#[test]
fn v2_integrity_at_end() {
    let b = hex(GETMULTI_V2);
    let f = parse_s7plus(&b).unwrap();
    assert_eq!((f.function, f.finding), (Some(PlusFunction::GET_MULTI_VARIABLES), None));
    let (id, digest) = f.v2_integrity().unwrap();
    assert_eq!(id, 13);
    assert_eq!(digest.len(), 32);
    assert_eq!(digest[0], 0x76);
}

#[test]
fn init_ssl() {
    for (s, op) in [(INIT_SSL_REQ, Opcode::REQUEST), (INIT_SSL_RESP, Opcode::RESPONSE)] {
        let b = hex(s);
        let f = parse_s7plus(&b).unwrap();
        assert_eq!((f.version, f.opcode, f.finding), (Version::V1, Some(op), None));
        assert!(f.is_init_ssl());
    }
}

#[test]
fn system_event_and_keep_alive() {
    let b = hex(SYS_EVENT);
    let f = parse_s7plus(&b).unwrap();
    assert!(f.is_system_event());
    assert_eq!((f.data.len(), f.has_trailer, f.finding, f.opcode), (16, false, None, None));
    let k = parse_s7plus(&[0x72, 0xff, 0x05, 0x00]).unwrap();
    assert!(k.is_keep_alive());
    assert_eq!(k.finding, None);
}

#[test]
fn fragments_and_findings() {
    // First fragment of a V3 message: no trailer, no finding.
    let b = hex(STOP_V3);
    let first = &b[..b.len() - 4];
    let f = parse_s7plus(first).unwrap();
    assert!(f.is_fragment());
    assert_eq!(f.finding, None);
    // Data length beyond the end.
    let f = parse_s7plus(&b[..40]).unwrap();
    assert_eq!(f.finding, Some(Finding::new(Layer::S7commPlus, FindingKind::LengthBeyondEnd, 2)));
    // Wrong trailer version.
    let mut w = b.clone();
    let n = w.len();
    w[n - 3] = 0x02;
    assert_eq!(parse_s7plus(&w).unwrap().finding.map(|f| (f.kind, f.offset)), Some((FindingKind::BadTrailer, n - 4)));
    // Two trailer bytes only.
    assert_eq!(parse_s7plus(&b[..n - 2]).unwrap().finding.map(|f| f.kind), Some(FindingKind::BadTrailer));
    // Extra bytes after the trailer.
    let mut x = b.clone();
    x.extend_from_slice(&[0, 0]);
    assert_eq!(parse_s7plus(&x).unwrap().finding.map(|f| f.kind), Some(FindingKind::LengthMismatch));
    // V3 digest length not 32.
    let mut d = b.clone();
    d[4] = 0x10;
    assert_eq!(
        parse_s7plus(&d).unwrap().finding,
        Some(Finding::new(Layer::S7commPlus, FindingKind::BadDigestLength, 4))
    );
    // V3 without digest (old firmware): header directly.
    let v2 = hex(STOP_ISF);
    let mut v3 = v2.clone();
    v3[1] = 3;
    let l = v3.len();
    v3[l - 3] = 3;
    let f = parse_s7plus(&v3).unwrap();
    assert_eq!((f.finding, f.digest_len, f.operating_state_request()), (None, None, Some(1)));
    // Unknown version.
    assert_eq!(parse_s7plus(&[0x72, 0x07, 0, 0]).unwrap().finding.map(|f| f.kind), Some(FindingKind::BadVersion));
    // Errors.
    assert_eq!(parse_s7plus(&[]).unwrap_err().kind, FindingKind::UnknownProtocol);
    assert_eq!(parse_s7plus(&[0x72, 0x02]).unwrap_err().kind, FindingKind::Truncated);
}

#[test]
fn truncated_prefixes() {
    for s in [STOP_V3, CREATE_RESP_V1, GETMULTI_V2, INIT_SSL_REQ] {
        let b = hex(s);
        for n in 0..b.len() {
            match parse_s7plus(&b[..n]) {
                Err(_) => assert!(n < 4),
                // Every proper prefix either lacks the trailer (a fragment) or is flagged.
                Ok(f) => assert!(f.finding.is_some() || !f.has_trailer, "prefix {n} of {s}"),
            }
        }
    }
}

#[test]
fn vlq_known_values() {
    assert_eq!(read_vlq_u32(&[0x90, 0x77]), Some((2167, 2)));
    assert_eq!(read_vlq_u32(&[0x89, 0x69]), Some((1257, 2)));
    assert_eq!(read_vlq_u32(&[0x90]), None);
    assert_eq!(read_vlq_i32(&[0x01]), Some((1, 1)));
    assert_eq!(read_vlq_i32(&[0x7f]), Some((-1, 1)));
    assert_eq!(read_vlq_i32(&[0xff, 0x1c]), Some((-100, 2)));
    let mut o = [0u8; 5];
    let n = write_vlq_u32(2167, &mut o);
    assert_eq!(&o[..n], &[0x90, 0x77]);
}

proptest! {
    #[test]
    fn vlq_u32_roundtrip(v in any::<u32>()) {
        let mut o = [0u8; 5];
        let n = write_vlq_u32(v, &mut o);
        prop_assert_eq!(read_vlq_u32(&o[..n]), Some((v, n)));
    }

    #[test]
    fn vlq_i32_roundtrip(v in any::<i32>()) {
        let mut o = [0u8; 5];
        let n = write_vlq_i32(v, &mut o);
        prop_assert_eq!(read_vlq_i32(&o[..n]), Some((v, n)));
    }

    #[test]
    fn set_variable_roundtrip(obj in any::<u32>(), attr in 1u32..=u32::MAX, val in any::<i32>(), seq in any::<u16>(), sess in any::<u32>()) {
        let mut payload = obj.to_be_bytes().to_vec();
        payload.push(1);
        let mut o = [0u8; 5];
        let n = write_vlq_u32(attr, &mut o);
        payload.extend_from_slice(&o[..n]);
        payload.extend_from_slice(&[0x00, 0x08]);
        let n = write_vlq_i32(val, &mut o);
        payload.extend_from_slice(&o[..n]);
        payload.extend_from_slice(&[0, 0, 0, 0]);
        let mut data = vec![0x31, 0, 0, 0x04, 0xf2, 0, 0];
        data.extend_from_slice(&seq.to_be_bytes());
        data.extend_from_slice(&sess.to_be_bytes());
        data.push(0x34);
        data.extend_from_slice(&payload);
        let mut frame = vec![0x72, 0x02];
        frame.extend_from_slice(&(data.len() as u16).to_be_bytes());
        frame.extend_from_slice(&data);
        frame.extend_from_slice(&[0x72, 0x02, 0, 0]);
        let f = parse_s7plus(&frame).unwrap();
        prop_assert_eq!(f.finding, None);
        prop_assert_eq!((f.seq, f.session_id), (Some(seq), Some(sess)));
        let sv = f.set_variable().unwrap();
        prop_assert_eq!((sv.object_id, sv.attribute_id, sv.value.as_i64()), (obj, attr, Some(i64::from(val))));
        prop_assert_eq!(f.operating_state_request().is_some(), obj == 52 && attr == 2167);
    }

    #[test]
    fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..300), v in 0u8..5) {
        let mut b = b;
        if b.len() > 1 && v < 4 {
            b[0] = 0x72;
            b[1] = [1, 2, 3, 0xfe][usize::from(v)];
        }
        if let Ok(f) = parse_s7plus(&b) {
            let _ = (f.payload(), f.set_variable(), f.operating_state_request(), f.order_number(), f.v2_integrity());
            let _ = (f.is_fragment(), f.is_init_ssl(), f.is_keep_alive(), f.is_system_event());
        }
        let _ = (find_order_number(&b), read_vlq_u32(&b), read_vlq_u64(&b), read_vlq_i32(&b), read_vlq_i64(&b));
        let _ = PlusValue::from_bytes(&b).map(|v| (v.as_i64(), v.datatype_name()));
        let _ = SetVariable::from_payload(&b);
    }
}

/// Helper for checking real captures: when `S7P_IN` names a file of lines
/// `key|hex` (one COTP-reassembled S7comm-plus frame per line), writes one
/// summary line per frame to `S7P_OUT`. Does nothing without the variables.
#[test]
fn dump_frames_from_env() {
    use std::fmt::Write as _;
    let (Ok(inp), Ok(out)) = (std::env::var("S7P_IN"), std::env::var("S7P_OUT")) else {
        return;
    };
    let mut o = String::new();
    for line in std::fs::read_to_string(inp).unwrap().lines() {
        let Some((key, h)) = line.split_once('|') else {
            continue;
        };
        let b = hex(h);
        match parse_s7plus(&b) {
            Ok(f) => {
                let _ = writeln!(
                    o,
                    "{key}|v{}|trl={}|op={:?}|fn={:?}|seq={:?}|sess={:?}|dig={:?}|find={:?}|opstate={:?}|order={:?}|v2int={:?}|ret={:?}",
                    f.version.0,
                    f.has_trailer,
                    f.opcode.map(|x| x.0),
                    f.function.and_then(|x| x.name()),
                    f.seq,
                    f.session_id,
                    f.digest_len,
                    f.finding.map(|x| (x.kind.name(), x.offset)),
                    f.operating_state_request(),
                    f.order_number(),
                    f.v2_integrity().map(|x| x.0),
                    f.error_code()
                );
            }
            Err(e) => {
                let _ = writeln!(o, "{key}|ERR {e}");
            }
        }
    }
    std::fs::write(out, o).unwrap();
}

/// s7commwireshark__S7-1511_db3_var1_HMI.pcap frame 15: SetMultiVariables (V2) on the
/// session object 0x388 with three items (ServerSessionVersion 306 as a struct,
/// 305 as an address array of UInt, 1830 as a struct with nested structs and a blob).
const SETMULTI_SESSION_V2: &str = "7202019b3100000542000000020000038834000003880303823282318e260100170000013a823b00048240823c00048240823d000484818040823e000484818040823f001500824000151a313b36455337203531312d31414b30302d304142303b56312e3082410003000300022003010002030017000007088e090004008e0a0002008e0b0017000007218e2200058c86efb0c29fa296948e2300048480108e24000400008e0c0017000007218e220005b6f9e288cbc5949be88e2300048480018e24000400008e0d0014008134addee1feb40000000100000001000000e81b4a718910e76d01000000000000009416d147087b1b18100000000000000088d651fd87d1d596d5b44b19e8d5850a32c0651505881b41aa33422a3bbd1ce33cb9dd896bd732231b353202845dcc0a37fcae072d143c9ed3988cd57f579974c8f942071be24ff574c761e658cd7919917f42879dac5c1026981a9abbfdba3de66ec211b00382a6a3c0bad7b42e100dc8e23c08973b6c78acd53455380435e8b7c014f10000000004e88969001200000000896a001300896b000400000000000072020000";

/// emreekin__cotp.pcap frame 13: SetMultiVariables (V3, digest) writing a Bool in the
/// M area through an item address (symbol CRC 0, area 82, sub-area 3736, four LIDs).
const SETMULTI_ITEM_ADDRESS_V3: &str = "72030063205e4b4c6a53a9c1e0ba5d8da1ce0f8b2bac02fd59c34f4ea60437d3e10e07b3903100000542000000760000039b340000000001080052059d18030001040100010100000004e88969001200000000896a001300896b00040000040000000072030000";

/// s7commwireshark__s7-1200-hmi.pcap frame 61: SetMultiVariables (V2) writing a
/// 256-element USInt array into DB3 (item address with a 5-byte symbol CRC).
const SETMULTI_ARRAY_V2: &str =
    "31000005420000000a000003be340000000001078efaa6a85c88d0b880030493760e0082000110028200fe034d4d4d";

fn frame_of(version: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x72, version];
    f.extend_from_slice(&(data.len() as u16).to_be_bytes());
    f.extend_from_slice(data);
    f.extend_from_slice(&[0x72, version, 0, 0]);
    f
}

/// A V2 request frame with header `function` and `payload` after the transport flags.
fn request(function: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0x31, 0, 0];
    d.extend_from_slice(&function.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 7, 0, 0, 3, 0x94, 0x34]);
    d.extend_from_slice(payload);
    frame_of(2, &d)
}

#[test]
fn set_multi_variables_real_frames_are_understood() {
    let b = hex(SETMULTI_SESSION_V2);
    let f = parse_s7plus(&b).unwrap();
    assert_eq!((f.function, f.finding, f.has_trailer), (Some(PlusFunction::SET_MULTI_VARIABLES), None, true));
    assert_eq!(f.write(), Some(PlusWrite::Other));
    assert_eq!(f.operating_state_request(), None);
    let b = hex(SETMULTI_ITEM_ADDRESS_V3);
    let f = parse_s7plus(&b).unwrap();
    assert_eq!((f.digest_len, f.finding), (Some(32), None));
    assert_eq!(f.write(), Some(PlusWrite::Other));
    let b = frame_of(2, &hex(SETMULTI_ARRAY_V2));
    assert_eq!(parse_s7plus(&b).unwrap().write(), Some(PlusWrite::Other));
    // Reads are not writes; responses neither.
    let (g, r) = (hex(GETMULTI_V2), hex(INIT_SSL_RESP));
    assert_eq!(parse_s7plus(&g).unwrap().write(), None);
    assert_eq!(parse_s7plus(&r).unwrap().write(), None);
}

#[test]
fn set_multi_variables_walks_real_values_to_the_operating_state_item() {
    // The real three-item frame, retargeted at object 52 with one of its ids made
    // 2167 (same VLQ length): the value walk must cross the real struct and
    // address-array encodings to reach the item.
    let orig = hex(SETMULTI_SESSION_V2);
    let payload_at = 4 + 14;
    let mut b = orig.clone();
    b[payload_at..payload_at + 4].copy_from_slice(&52u32.to_be_bytes());
    // ids at payload + 6: 82 32 | 82 31 | 8e 26
    b[payload_at + 6 + 2..payload_at + 6 + 4].copy_from_slice(&[0x90, 0x77]);
    let f = parse_s7plus(&b).unwrap();
    let w = f.write().unwrap();
    let PlusWrite::OperatingState { value: Some(v) } = w else { panic!("{w:?}") };
    // Item 2 is an address array of UInt holding 2.
    assert_eq!((v.flags, v.datatype), (FLAG_ADDRESS_ARRAY, 0x03));
    assert_eq!(f.operating_state_request(), Some(2));
    // Item 3 (after two structs and the array) is a struct: located, not an integer.
    let mut b = orig.clone();
    b[payload_at..payload_at + 4].copy_from_slice(&52u32.to_be_bytes());
    b[payload_at + 6 + 4..payload_at + 6 + 6].copy_from_slice(&[0x90, 0x77]);
    let f = parse_s7plus(&b).unwrap();
    let PlusWrite::OperatingState { value: Some(v) } = f.write().unwrap() else { panic!() };
    assert_eq!(v.datatype, 0x17);
    assert_eq!(f.operating_state_request(), None);
    // On another object the same ids are not the operating state.
    let mut b = orig;
    b[payload_at + 6 + 4..payload_at + 6 + 6].copy_from_slice(&[0x90, 0x77]);
    assert_eq!(parse_s7plus(&b).unwrap().write(), Some(PlusWrite::Other));
}

#[test]
fn value_len_follows_real_encodings() {
    // Item 1 of SETMULTI_SESSION_V2: the ServerSessionVersion struct (id 0x13a, UDInt
    // and WString elements, a UInt) ends right before item number 2.
    let b = hex(SETMULTI_SESSION_V2);
    let v1 = 4 + 14 + 4 + 2 + 6 + 1;
    let n = value_len(&b[v1..]).unwrap();
    assert_eq!(&b[v1 + n..v1 + n + 2], &[0x02, 0x20], "item 2 starts after the struct");
    let v2 = v1 + n + 1;
    assert_eq!(value_len(&b[v2..]), Some(5));
    let v3 = v2 + 5 + 1;
    let n3 = value_len(&b[v3..]).unwrap();
    // After the last item: the 00 list end and the object qualifier 00 00 04 e8.
    assert_eq!(&b[v3 + n3..v3 + n3 + 5], &[0x00, 0x00, 0x00, 0x04, 0xe8]);
    // Cut anywhere inside, the length is unknown rather than wrong.
    for cut in v3..v3 + n3 {
        assert_eq!(value_len(&b[v3..cut]), None, "cut at {cut}");
    }
    assert_eq!(value_len(&[0x00, 0x16, 0x00]), None, "Variant has no known length");
    assert_eq!(value_len(&[0x10, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]), Some(7), "array of Null");
}

#[test]
fn operating_state_in_every_integer_encoding() {
    // SetVariable on object 52 attribute 2167 (the ISF frame's layout) with the
    // value written in each type an integer can take; STOP is 1 in all of them.
    let cases: &[(&[u8], Option<i64>)] = &[
        (&[0x00, 0x02, 0x01], Some(1)),                         // USInt
        (&[0x00, 0x03, 0x00, 0x01], Some(1)),                   // UInt
        (&[0x00, 0x04, 0x01], Some(1)),                         // UDInt VLQ
        (&[0x00, 0x04, 0x80, 0x80, 0x01], Some(1)),             // UDInt, padded VLQ
        (&[0x00, 0x05, 0x80, 0x80, 0x80, 0x80, 0x01], Some(1)), // ULInt, padded VLQ
        (&[0x00, 0x06, 0x01], Some(1)),                         // SInt
        (&[0x00, 0x07, 0x00, 0x01], Some(1)),                   // Int
        (&[0x00, 0x08, 0x01], Some(1)),                         // DInt VLQ
        (&[0x00, 0x08, 0x80, 0x01], Some(1)),                   // DInt, padded VLQ
        (&[0x00, 0x09, 0x80, 0x80, 0x01], Some(1)),             // LInt
        (&[0x00, 0x0A, 0x01], Some(1)),                         // Byte
        (&[0x00, 0x0B, 0x00, 0x01], Some(1)),                   // Word
        (&[0x00, 0x0C, 0x00, 0x00, 0x00, 0x01], Some(1)),       // DWord
        (&[0x00, 0x0D, 0, 0, 0, 0, 0, 0, 0, 0x01], Some(1)),    // LWord
        (&[0x00, 0x0E, 0x3f, 0x80, 0x00, 0x00], Some(1)),       // Real 1.0
        (&[0x00, 0x0F, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0], Some(1)), // LReal 1.0
        (&[0x10, 0x08, 0x02, 0x01, 0x03], Some(1)),             // DInt array [1, 3]
        (&[0x20, 0x03, 0x01, 0x00, 0x01], Some(1)),             // UInt address array [1]
        (&[0x40, 0x04, 0x01, 0x01, 0x00], Some(1)),             // UDInt sparse array {1: 1}
        (&[0x00, 0x08, 0x03], Some(3)),                         // DInt 3: RUN
        (&[0x00, 0x0E, 0x3f, 0xc0, 0x00, 0x00], None),          // Real 1.5
        (&[0x00, 0x15, 0x01, b'1'], None),                      // WString "1"
        (&[0x10, 0x08, 0x00], None),                            // empty array
    ];
    for (value, want) in cases {
        let mut p = vec![0, 0, 0, 52, 0x01, 0x90, 0x77];
        p.extend_from_slice(value);
        p.extend_from_slice(&[0, 0, 0, 0x04, 0xe8, 0, 0, 0, 0]);
        let b = request(0x04f2, &p);
        let f = parse_s7plus(&b).unwrap();
        assert!(f.write().unwrap().is_operating_state(), "{value:02x?}");
        assert_eq!(f.operating_state_request(), *want, "{value:02x?}");
        // The same value through SetMultiVariables on object 52 ...
        let mut m = vec![0, 0, 0, 52, 0x01, 0x01, 0x90, 0x77, 0x01];
        m.extend_from_slice(value);
        m.extend_from_slice(&[0x00, 0, 0, 0x04, 0xe8, 0, 0, 0, 0]);
        let b = request(0x0542, &m);
        assert_eq!(parse_s7plus(&b).unwrap().operating_state_request(), *want, "SetMultiVariables {value:02x?}");
        // ... and through an item address (CRC 0, area 52, one LID 2167).
        let mut a = vec![0, 0, 0, 0, 0x01, 0x05, 0x00, 0x34, 0x02, 0x00, 0x90, 0x77, 0x01];
        a.extend_from_slice(value);
        a.extend_from_slice(&[0x00, 0, 0, 0x04, 0xe8, 0, 0, 0, 0]);
        let b = request(0x0542, &a);
        assert_eq!(parse_s7plus(&b).unwrap().operating_state_request(), *want, "item address {value:02x?}");
    }
}

#[test]
fn writes_that_cannot_be_decoded_say_so() {
    // Header only: the payload is missing.
    let w = |b: &[u8]| parse_s7plus(b).unwrap().write().map(|w| w == PlusWrite::Undecoded);
    assert_eq!(w(&request(0x04f2, &[])), Some(true));
    // Address count promising more ids than present.
    assert_eq!(w(&request(0x0542, &[0, 0, 0, 52, 0x02, 0x05, 0x90, 0x77])), Some(true));
    // An absurd item count.
    assert_eq!(w(&request(0x0542, &[0, 0, 0, 52, 0x8f, 0xff, 0x7f, 0x01])), Some(true));
    // Operating-state address whose value list is cut: still the operating state.
    let b = request(0x0542, &[0, 0, 0, 52, 0x01, 0x01, 0x90, 0x77]);
    assert_eq!(parse_s7plus(&b).unwrap().write(), Some(PlusWrite::OperatingState { value: None }));
}

#[test]
fn message_from_reassembled_body() {
    // STOP_V3 cut after the object id: the rest arrives in a second fragment.
    let b = hex(STOP_V3);
    let f = parse_s7plus(&b).unwrap();
    let body = f.body;
    let m = PlusFrame::message(Version::V3, body);
    assert_eq!((m.opcode, m.function, m.seq, m.session_id), (f.opcode, f.function, f.seq, f.session_id));
    assert_eq!(m.operating_state_request(), Some(1));
    // Header, object id and the address: the operating state, value still unknown.
    let part = PlusFrame::message(Version::V3, &body[..21]);
    assert_eq!(part.write(), Some(PlusWrite::OperatingState { value: None }));
}
