//! Evasion cases at the S7 session layer (issue 10, item 2 and 3): a control
//! operation dressed so that a sensor which takes the bytes at face value misses
//! it, while the PLC (or a PLC emulator) still executes it — and the benign twins
//! that must stay quiet. Where the PLC's behaviour had to be assumed (it routes a
//! userdata request by group whatever its type nibble, it matches a PI service by
//! name, it accepts a write whose address list the sensor cannot decode), the
//! case's text says so; the python-snap7 and s7commplus emulators behave that way.

use super::hosts::{ATTACKER, ES, HMI, PLC1};
use super::session::{Session, POLL_ITEMS};
use super::{finish, Builder, Case, Texts};
use crate::pcap::{Format, LinkType};
use crate::s7::{self, AnyItem};
use crate::s7plus;
use crate::trace::{Dir, Piece, Trace};
use std::net::IpAddr;

/// The session-layer evasion cases and their benign twins, in index order.
pub const CASES: &[(&str, Builder)] = &[
    ("evasion_s7_plus_split_stop", evasion_s7_plus_split_stop),
    ("evasion_s7_plus_setmulti_stop", evasion_s7_plus_setmulti_stop),
    ("evasion_s7_tls_refused", evasion_s7_tls_refused),
    ("evasion_s7_userdata_type0", evasion_s7_userdata_type0),
    ("evasion_s7_snap7_dele", evasion_s7_snap7_dele),
    ("evasion_s7_tpdu_oversize", evasion_s7_tpdu_oversize),
    ("evasion_s7_stop_in_gap", evasion_s7_stop_in_gap),
    ("evasion_s7_stop_decoy_ref", evasion_s7_stop_decoy_ref),
    ("evasion_s7_plus_unexplained_write", evasion_s7_plus_unexplained_write),
    ("evasion_s7_benign_tls_accepted", evasion_s7_benign_tls_accepted),
    ("evasion_s7_benign_es", evasion_s7_benign_es),
    ("evasion_s7_benign_reads", evasion_s7_benign_reads),
];

const TSHARK_PLUS: &str = "COTP CR/CC decode (TSAP text); the S7comm-plus frames show as COTP data (no S7comm-plus dissector in 4.0.17). No malformed marker.";

/// Offset of the userdata type/group byte in a TPKT frame: TPKT 4 + COTP DT 3 + S7 header 10 + 5.
const UD_TYPE_GROUP_AT: usize = 22;

/// S7comm-plus connection to `SIMATIC-ROOT-ES` with a CreateObject from `who`.
fn plus_session(tr: &mut Trace, ip: IpAddr, port: u16, seed: u64, who: &str) -> Session {
    let mut s = Session::new(ip, port, PLC1, seed);
    let a = tr.next_no();
    s.open_plus(tr, "SIMATIC-ROOT-ES");
    tr.note(a, format!("{ip}:{port} → PLC 10.10.1.10:102: TCP handshake, COTP CR (called \"SIMATIC-ROOT-ES\") and CC"));
    let a = tr.next_no();
    s.create_object(tr, who);
    tr.note(a, format!("S7comm-plus V1 CreateObject (client name \"{who}\") and response with the session id"));
    tr.wait_ms(300);
    s
}

/// Classic PG connection (CR/CC, Setup Communication) from `ip:port`.
fn pg_session(tr: &mut Trace, ip: IpAddr, port: u16, seed: u64) -> Session {
    let mut s = Session::new(ip, port, PLC1, seed);
    let a = tr.next_no();
    s.connect(tr, 1);
    tr.note(a, format!("{ip}:{port} → PLC 10.10.1.10:102: TCP handshake, COTP CR/CC (PG TSAPs), Setup Communication"));
    tr.wait_ms(200);
    s
}

/// The client sends every frame of `frames` in its own segment, then the PLC answers `resp`.
fn send_frames(s: &mut Session, tr: &mut Trace, frames: &[Vec<u8>], resp: &[u8]) {
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            tr.wait_us(300);
        }
        s.send(tr, f);
    }
    s.answer(tr, resp);
}

fn close(s: &mut Session, tr: &mut Trace) {
    let a = tr.next_no();
    tr.wait_ms(200);
    s.close_fin(tr);
    tr.note(a, "TCP FIN close");
}

/// A split STOP: the header and the object id in the first frame, the address 2167 and the value in the next.
fn split_stop(s: &mut Session, tr: &mut Trace, value: u8) {
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    let data = s7plus::set_variable_data(seq, sess, s7plus::CPU_EXEC_UNIT, s7plus::OPERATING_STATE_REQ, value);
    let frames = s7plus::fragments(s7plus::V2, &data, &[18]);
    send_frames(s, tr, &frames, &s7plus::set_variable_resp(seq));
}

fn evasion_s7_plus_split_stop() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = plus_session(&mut tr, ATTACKER, 40_501, 0xE101, "LAPTOP-7QK3ZP");
    let a = tr.next_no();
    split_stop(&mut s, &mut tr, 1);
    tr.note(a, "SetVariable object 52 attribute 2167 := 1 (STOP) split over two S7comm-plus frames: the first (no trailer) holds the request header and the object id 00000034, the second (with the trailer) the address count, attribute 90 77 (2167) and the value DInt 1; the PLC answers success");
    tr.wait_ms(2_000);
    let a = tr.next_no();
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    let data = s7plus::set_variable_data(seq, sess, s7plus::CPU_EXEC_UNIT, s7plus::OPERATING_STATE_REQ, 3);
    let frames = s7plus::fragments(s7plus::V2, &data, &[16, 20, 23]);
    send_frames(&mut s, &mut tr, &frames, &s7plus::set_variable_resp(seq));
    tr.note(a, "2 s later the same write := 3 (RUN) in four frames, cut inside the object id, inside the attribute VLQ and before the value; answered");
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_plus_split_stop",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "evasion: S7comm-plus operating-state write (STOP, then RUN) split over continuation frames",
            expected: "the continuation frames are joined into one SetVariable: alert control.s7plus_operating_state STOP (critical, answered by the PLC) at the frame that completes the message, then the RUN folded into a follow-up; control.engineering_session for the CR to SIMATIC-ROOT-ES",
            tshark: TSHARK_PLUS,
        },
    )
}

fn evasion_s7_plus_setmulti_stop() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = plus_session(&mut tr, ATTACKER, 40_502, 0xE102, "LAPTOP-7QK3ZP");
    let a = tr.next_no();
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    // Item 1 is a harmless session attribute (a WString), item 2 the operating state as USInt 1.
    let name: &[u8] = &[0x00, 0x15, 0x04, b'T', b'E', b'S', b'T'];
    let stop: &[u8] = &[0x00, 0x02, 0x01];
    let data =
        s7plus::set_multi_data(seq, sess, s7plus::CPU_EXEC_UNIT, &[(233, name), (s7plus::OPERATING_STATE_REQ, stop)]);
    s.xchg(&mut tr, &s7plus::frame(s7plus::V2, &data), &s7plus::set_multi_resp(seq));
    tr.note(a, "SetMultiVariables (0x0542) on object 52 with two items: attribute 233 := WString \"TEST\", attribute 2167 := USInt 1 (STOP); the PLC answers success");
    tr.wait_ms(2_000);
    let a = tr.next_no();
    let seq = s.next_plus_seq();
    let run: &[u8] = &[0x00, 0x04, 0x80, 0x03];
    let data =
        s7plus::set_multi_addressed_data(seq, sess, &[(s7plus::CPU_EXEC_UNIT, s7plus::OPERATING_STATE_REQ, &[], run)]);
    s.xchg(&mut tr, &s7plus::frame(s7plus::V2, &data), &s7plus::set_multi_resp(seq));
    tr.note(a, "SetMultiVariables with object id 0 and an item address (symbol CRC 0, access area 52, sub-area 2167) := UDInt 3 written as the padded VLQ 80 03 (RUN); answered");
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_plus_setmulti_stop",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "evasion: operating-state writes through SetMultiVariables (second item, USInt; item-address form, padded UDInt)",
            expected: "alert control.s7plus_operating_state STOP (critical, answered) for the SetMultiVariables, the RUN through the item address folded into a follow-up; control.engineering_session",
            tshark: TSHARK_PLUS,
        },
    )
}

fn evasion_s7_tls_refused() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_503, PLC1, 0xE103);
    let a = tr.next_no();
    s.open_plus(&mut tr, "SIMATIC-ROOT-ES");
    tr.note(a, "attacker 10.10.9.99 → PLC 10.10.1.10: TCP handshake, COTP CR (\"SIMATIC-ROOT-ES\") and CC");
    let a = tr.next_no();
    let seq = s.next_plus_seq();
    s.xchg(&mut tr, &s7plus::init_ssl_req(seq), &s7plus::init_ssl_resp_refused(seq, 0x8104));
    tr.note(a, "InitSSL request; the PLC refuses it (return value 0x8104, not 0)");
    let a = tr.next_no();
    tr.wait_ms(5);
    let fake = s.values(48);
    s.send(&mut tr, &s7plus::tls_record(0x17, &fake));
    tr.note(a, "one COTP DT that merely starts like a TLS application-data record (17 03 03 00 30 and 48 random bytes): no handshake, and TLS was refused");
    tr.wait_ms(20);
    let a = tr.next_no();
    s.create_object(&mut tr, "LAPTOP-7QK3ZP");
    tr.wait_ms(100);
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    s.xchg(&mut tr, &s7plus::set_operating_state(seq, sess, 1), &s7plus::set_variable_resp(seq));
    tr.note(a, "in clear text: CreateObject, then SetVariable object 52 attribute 2167 := 1 (STOP), answered");
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_tls_refused",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "evasion: refused InitSSL, a fake TLS-looking DT, then a clear-text S7comm-plus STOP",
            expected: "no switch to TLS (no uninspectable.tls): malformed.unknown_protocol (low) for the fake record, control.s7plus_operating_state STOP (critical, answered), control.engineering_session",
            tshark: "COTP CR/CC decode; the S7comm-plus frames and the fake 17 03 03 record show as COTP data. No malformed marker.",
        },
    )
}

fn evasion_s7_userdata_type0() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = pg_session(&mut tr, ATTACKER, 40_504, 0xE104);
    let a = tr.next_no();
    let (r, q) = (s.next_ref(), s.next_seq());
    let t = s7::s7_time(2031, 6, 1, 3, 0, 0, 0, 1);
    let mut req = s7::clock_set_req(r, q, &t);
    req[UD_TYPE_GROUP_AT] = 0x07;
    s.xchg(&mut tr, &req, &s7::clock_set_resp(r, q));
    tr.note(a, "set clock (group 7, subfunction 2) to 2031-06-01 with the type nibble 0 (parameter byte 5 = 0x07, not 0x47); the PLC answers it as a request (response 0x87, error 0)");
    tr.wait_ms(300);
    let a = tr.next_no();
    let (r, q) = (s.next_ref(), s.next_seq());
    let mut req = s7::password_req(r, q, "admin");
    req[UD_TYPE_GROUP_AT] = 0x05;
    s.xchg(&mut tr, &req, &s7::password_resp(r, q, 0));
    tr.note(a, "PLC password (group 5, subfunction 1) with the type nibble 0 (0x05); accepted (error 0)");
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_userdata_type0",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "evasion: userdata set-clock and password requests sent with type nibble 0 instead of 4 (answered, as the python-snap7 server emulator does; a PLC is assumed to route by group the same way)",
            expected: "both requests classified by group and subfunction: control.clock_set (medium, succeeded) and control.password (high, succeeded); malformed.s7comm (unexpected_type) for the first odd nibble, the second folded into a follow-up",
            tshark: "decodes both userdata PDUs; 4.0.17 names the type nibble 0 \"Push-Req\" (function group 7 / 5, subfunctions set clock / PLC password). No malformed marker.",
        },
    )
}

fn evasion_s7_snap7_dele() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = pg_session(&mut tr, ATTACKER, 40_505, 0xE105);
    let a = tr.next_no();
    // python-snap7 3.3 S7Protocol.build_delete_block_request(0x41, 1).
    let mut param = vec![0x28, 0, 0, 0, 0, 0, 8, 5, 0];
    param.extend_from_slice(b"4100001P_DELE");
    s.job(&mut tr, &param, &[0x28]);
    tr.note(a, "PI service _DELE of DB1 in python-snap7's layout (28, five zero bytes, block length 8, name length 5, 00, \"4100001P\", \"_DELE\"), where Wireshark expects a 7-byte head and a 2-byte block length; the PLC answers Ack_Data 0x28 with success");
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_snap7_dele",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "evasion: a block delete in the PI layout python-snap7 uses, answered with success",
            expected: "the service is recognised by name: control.block_delete (critical, DB1, succeeded, layout compact), and malformed.s7comm for the non-standard layout",
            tshark: "decodes the Job as PI-Service but reads the parameter-block length from the wrong bytes (\"[Malformed Packet]\"); the Ack_Data decodes.",
        },
    )
}

fn evasion_s7_tpdu_oversize() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_506, PLC1, 0xE106);
    let a = tr.next_no();
    s.handshake(&mut tr);
    let calling = [0x01, 0x00];
    let called = s7::tsap(1, 0, 1);
    let p = [
        (s7::param::TPDU_SIZE, &[0x08u8][..]),
        (s7::param::CALLING_TSAP, &calling[..]),
        (s7::param::CALLED_TSAP, &called[..]),
    ];
    let cr = s7::tpkt(&s7::cotp_connect(0xE0, 0, s.cotp_client, 0, &p));
    let cc = s7::tpkt(&s7::cotp_connect(0xD0, s.cotp_client, s.cotp_plc, 0, &p));
    s.xchg(&mut tr, &cr, &cc);
    tr.note(a, "TCP handshake, COTP CR and CC negotiating TPDU size 256 (parameter C0 01 08)");
    let a = tr.next_no();
    s.setup(&mut tr, 1, 480);
    tr.note(a, "Setup Communication (PDU 480)");
    let a = tr.next_no();
    let v = s.values(400);
    s.write(&mut tr, &[AnyItem::db_bytes(1, 0, 400)], &[&v]);
    tr.note(
        a,
        "Write Var DB1.DBB0 (400 bytes) in a single DT TPDU of 3 + 432 bytes: longer than the 256 negotiated; answered",
    );
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_tpdu_oversize",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "evasion: a TPKT/TPDU longer than the TPDU size the COTP CR/CC negotiated",
            expected: "the Write Var is decoded all the same, and the oversize TPDU is a finding: malformed.cotp (tpdu_too_long)",
            tshark: "decodes every frame (tshark does not check the negotiated TPDU size). No malformed marker.",
        },
    )
}

fn evasion_s7_stop_in_gap() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = pg_session(&mut tr, ATTACKER, 40_507, 0xE107);
    let a = tr.next_no();
    s.read(&mut tr, &POLL_ITEMS);
    tr.note(a, "a Read Var and its answer");
    tr.wait_ms(300);
    let a = tr.next_no();
    let r = s.next_ref();
    let stop = s7::job(r, &s7::plc_stop_param(), &[]);
    s.c.send_plan(&mut tr, Dir::C2S, &stop, &[Piece::gap(0, stop.len())]);
    s.answer(&mut tr, &s7::ack_data(r, &[0x29], &[]));
    tr.note(a, "the attacker's PLC Stop job is missing from the capture (the PLC got it); the PLC's Ack_Data 0x29 (success, same PDU reference) acknowledges bytes the sensor never saw");
    tr.wait_ms(300);
    let a = tr.next_no();
    s.read(&mut tr, &POLL_ITEMS);
    tr.note(a, "another Read Var and its answer");
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_stop_in_gap",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "evasion: a CPU STOP whose job the sensor did not see (capture gap), acknowledged by the PLC",
            expected: "alert control.confirmed_without_request (high): PLC 10.10.1.10 acknowledged a CPU STOP that no request on the wire explains (the stream engine notices the gap itself only at the client's next segment, after the answer)",
            tshark: "decodes the Read Vars and the Ack_Data 0x29 (\"TCP ACKed unseen segment\"), and the gap at the client's next segment (\"Previous segment not captured\"). No malformed marker.",
        },
    )
}

fn evasion_s7_stop_decoy_ref() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = pg_session(&mut tr, ATTACKER, 40_508, 0xE108);
    let a = tr.next_no();
    let r = s.next_ref();
    let (read, read_ack) = {
        let (q, p) = s.read_frames(&POLL_ITEMS);
        // Same PDU reference as the STOP that follows.
        (patch_ref(&q, r), patch_ref(&p, r))
    };
    s.send(&mut tr, &read);
    tr.wait_us(400);
    let stop = s7::job(r, &s7::plc_stop_param(), &[]);
    s.c.send_plan(&mut tr, Dir::C2S, &stop, &[Piece::gap(0, stop.len())]);
    s.answer(&mut tr, &read_ack);
    tr.wait_us(800);
    s.c.send(&mut tr, Dir::S2C, &s7::ack_data(r, &[0x29], &[]));
    tr.note(a, "a decoy Read Var job with PDU reference R, then a PLC Stop job with the same reference R that the capture lost; the PLC answers the read (Ack_Data 0x04, reference R) and the STOP (Ack_Data 0x29, reference R, success)");
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_stop_decoy_ref",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "evasion: a decoy request with the STOP's PDU reference but another function; the STOP itself unseen, its Ack_Data seen",
            expected: "requests and answers pair by reference and function, so the read does not explain the STOP's answer: alert control.confirmed_without_request (high) for the Ack_Data 0x29",
            tshark: "decodes the Read Var, both Ack_Data and marks the lost segment. No malformed marker.",
        },
    )
}

/// The same frame with PDU reference `r` (S7 header bytes 4..6 after TPKT 4 + COTP 3).
fn patch_ref(frame: &[u8], r: u16) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[11..13].copy_from_slice(&r.to_be_bytes());
    f
}

fn evasion_s7_plus_unexplained_write() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = plus_session(&mut tr, ATTACKER, 40_509, 0xE109, "LAPTOP-7QK3ZP");
    let a = tr.next_no();
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    let mut data = s7plus::req_header(s7plus::func::SET_VARIABLE, seq, sess, 0x34);
    data.extend_from_slice(&52u32.to_be_bytes());
    // An address count of 2^21 + 2167: the sensor cannot walk it; an emulator that reads only the low bits would.
    data.extend_from_slice(&[0x81, 0x80, 0x90, 0x77, 0x90, 0x77, 0x00, 0x08, 0x01]);
    data.extend_from_slice(&[0, 0, 0, 0, 0]);
    s.xchg(&mut tr, &s7plus::frame(s7plus::V2, &data), &s7plus::set_variable_resp(seq));
    tr.note(a, "SetVariable on object 52 whose address count (VLQ 81 80 90 77) the sensor cannot decode; the PLC answers success (assumed: a stack that reads the count differently executes the write)");
    tr.wait_ms(500);
    let a = tr.next_no();
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    let stop = s7plus::set_operating_state(seq, sess, 1);
    s.c.send_plan(&mut tr, Dir::C2S, &stop, &[Piece::gap(0, stop.len())]);
    s.answer(&mut tr, &s7plus::set_variable_resp(seq));
    tr.note(a, "a SetVariable STOP missing from the capture; its response (success, same sequence number) is seen");
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_plus_unexplained_write",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "evasion: S7comm-plus write successes whose requests the sensor could not decode, or did not see",
            expected: "alert control.confirmed_without_request (high) for the first response (request not understood), the second (no request seen, capture gap in the client's direction) folded into a follow-up; control.engineering_session",
            tshark: TSHARK_PLUS,
        },
    )
}

fn evasion_s7_benign_tls_accepted() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49_301, PLC1, 0xE10A);
    let a = tr.next_no();
    s.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    tr.note(a, "HMI 10.10.2.20: TCP handshake, COTP CR (\"SIMATIC-ROOT-HMI\") and CC");
    let a = tr.next_no();
    let seq = s.next_plus_seq();
    s.xchg(&mut tr, &s7plus::init_ssl_req(seq), &s7plus::init_ssl_resp(seq));
    tr.note(a, "InitSSL request and the PLC's acceptance (return value 0)");
    let a = tr.next_no();
    let mut hello = vec![0x01, 0x00, 0x00, 0xC0, 0x03, 0x03];
    hello.extend(s.values(0xC0 - 2));
    s.send(&mut tr, &s7plus::tls_record(0x16, &hello));
    let mut sh = vec![0x02, 0x00, 0x01, 0x20, 0x03, 0x03];
    sh.extend(s.values(0x120 - 2));
    let sh = s7plus::tls_record(0x16, &sh);
    s.answer(&mut tr, &sh);
    tr.note(a, "TLS ClientHello (16 03 03) and ServerHello");
    let a = tr.next_no();
    for _ in 0..4 {
        tr.wait_ms(200);
        let q = s.values(0x60);
        let p = s.values(0x90);
        s.xchg(&mut tr, &s7plus::tls_record(0x17, &q), &s7plus::tls_record(0x17, &p));
    }
    tr.note(a, "four exchanges of TLS application data");
    close(&mut s, &mut tr);
    finish(
        "evasion_s7_benign_tls_accepted",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "benign twin of evasion_s7_tls_refused: InitSSL accepted, a real TLS handshake follows",
            expected: "the connection switches to TLS at the ClientHello: uninspectable.tls (info) only",
            tshark: "COTP CR/CC decode; tshark hands the TLS handshake records to its ISO 8327 session / presentation dissectors (\"PRES DATA TRANSFER (DT) SPDU\"): a tshark artefact; the application data shows as COTP data. No malformed marker.",
        },
    )
}

fn evasion_s7_benign_es() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = plus_session(&mut tr, ES, 50_301, 0xE10B, "ENG-WS-01");
    let a = tr.next_no();
    split_stop(&mut s, &mut tr, 1);
    tr.note(a, "the engineering station's SetVariable 52/2167 := 1 (STOP) in two frames, answered");
    tr.wait_ms(1_000);
    let a = tr.next_no();
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    let run: &[u8] = &[0x00, 0x08, 0x03];
    let data = s7plus::set_multi_data(seq, sess, s7plus::CPU_EXEC_UNIT, &[(s7plus::OPERATING_STATE_REQ, run)]);
    s.xchg(&mut tr, &s7plus::frame(s7plus::V2, &data), &s7plus::set_multi_resp(seq));
    tr.note(a, "SetMultiVariables 52/2167 := DInt 3 (RUN), answered");
    close(&mut s, &mut tr);
    tr.wait_ms(500);
    let mut c = pg_session(&mut tr, ES, 50_302, 0xE10C);
    let a = tr.next_no();
    c.job(&mut tr, &s7::plc_stop_param(), &[0x29]);
    tr.note(a, "PLC Stop job and its Ack_Data (success)");
    tr.wait_ms(300);
    let a = tr.next_no();
    let (r, q) = (c.next_ref(), c.next_seq());
    let t = s7::s7_time(2026, 1, 1, 0, 1, 0, 0, 5);
    c.xchg(&mut tr, &s7::clock_set_req(r, q, &t), &s7::clock_set_resp(r, q));
    tr.note(a, "set clock (type nibble 4), answered");
    tr.wait_ms(300);
    let a = tr.next_no();
    let del = s7::pi_param(&s7::pi_blocks_arg(&[(s7::block::DB, 1)]), b"_DELE");
    c.job(&mut tr, &del, &[0x28]);
    tr.note(a, "PI service _DELE of DB1 in the standard layout, answered");
    close(&mut c, &mut tr);
    finish(
        "evasion_s7_benign_es",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "benign twin: the engineering station 10.10.3.30 does the same operations in their ordinary form (split S7comm-plus STOP, SetMultiVariables RUN, PLC Stop, set clock, _DELE)",
            expected: "control_operation records (info) only: engineering session, operating-state writes, CPU STOP, clock set, block delete; no confirmed_without_request (every answer pairs with its request)",
            tshark: "S7comm-plus frames as COTP data; the classic jobs decode. No malformed marker.",
        },
    )
}

fn evasion_s7_benign_reads() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49_302, PLC1, 0xE10D);
    let a = tr.next_no();
    h.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    h.create_object(&mut tr, "HMI-PANEL-01");
    tr.note(a, "HMI 10.10.2.20: S7comm-plus CR/CC to SIMATIC-ROOT-HMI and CreateObject");
    let a = tr.next_no();
    for i in 0..3u16 {
        tr.wait_ms(200);
        let seq = h.next_plus_seq();
        let (d1, d2) = (h.digest(), h.digest());
        let req = s7plus::get_multi_v3_req(seq, h.plus_session, &d1, &[(0x8A0E_0001, 0)]);
        let resp = s7plus::get_multi_v3_resp(seq, &d2, &[i]);
        h.xchg(&mut tr, &req, &resp);
    }
    tr.note(a, "three V3 GetMultiVariables and their responses");
    let a = tr.next_no();
    let seq = h.next_plus_seq();
    let mut hmi_write = s7plus::req_header(s7plus::func::SET_VARIABLE, seq, h.plus_session, 0x34);
    hmi_write.extend_from_slice(&[0x8A, 0x0E, 0x00, 0x01, 0x01, 0x93, 0x76, 0x00, 0x03, 0x00, 0x2A]);
    hmi_write.extend_from_slice(&[0, 0, 0, 0, 0]);
    let frames = s7plus::fragments(s7plus::V2, &hmi_write, &[14]);
    send_frames(&mut h, &mut tr, &frames, &s7plus::set_variable_resp(seq));
    tr.note(a, "an ordinary HMI write (SetVariable on DB1, attribute 2550, UInt 42) split over two frames; answered");
    close(&mut h, &mut tr);
    tr.wait_ms(300);
    // A classic HMI connection picked up mid-stream: its first frame is a PLC answer.
    let mut m = Session::new(HMI, 49_303, PLC1, 0xE10E);
    m.c = m.c.clone().established();
    let a = tr.next_no();
    let (_, resp) = m.read_frames(&POLL_ITEMS);
    m.c.send(&mut tr, Dir::S2C, &resp);
    for i in 0..3 {
        tr.wait_ms(200);
        m.poll(&mut tr, i);
    }
    tr.note(a, "a classic HMI connection already open when the capture starts: first a Read Var answer to a request before the capture, then three poll cycles");
    let a = tr.next_no();
    let (req, resp) = m.read_frames(&POLL_ITEMS);
    tr.wait_ms(200);
    m.c.send_plan(&mut tr, Dir::C2S, &req, &[Piece::gap(0, req.len())]);
    m.answer(&mut tr, &resp);
    tr.note(a, "a Read Var lost to the capture and its answer (a read: nothing to confirm)");
    let a = tr.next_no();
    tr.wait_ms(200);
    m.poll(&mut tr, 3);
    m.close_fin(&mut tr);
    tr.note(a, "one more poll, TCP FIN close");
    finish(
        "evasion_s7_benign_reads",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "benign twin: HMI reads and an HMI write over S7comm-plus (one write fragmented), a classic HMI connection picked up mid-stream, a read lost to the capture",
            expected: "no alert: reads and HMI writes are explained by their requests; answers before the connection is in step and answers to reads are not judged",
            tshark: "S7comm-plus frames as COTP data; the classic reads decode, tshark marks the lost segment. No malformed marker.",
        },
    )
}
