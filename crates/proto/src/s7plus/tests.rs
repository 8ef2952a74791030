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
