//! Attack cases (issue 3) with their benign twins, malformed-protocol cases and the
//! published crash patterns (research note §1, §3 and §5 A/B).

use super::hosts::{ATTACKER, ES, HMI, HMI2, PLC1, PLC2};
use super::session::Session;
use super::{finish, Builder, Case, Texts};
use crate::net::{self, Ipv4Header};
use crate::pcap::{Format, LinkType};
use crate::rng::SplitMix64;
use crate::s7::{self, block, AnyItem};
use crate::s7plus;
use crate::trace::{Dir, Piece, Trace};
use std::net::IpAddr;

/// The attack, twin, malformed and crash-pattern cases, in index order.
pub const CASES: &[(&str, Builder)] = &[
    ("attack_cpu_stop", attack_cpu_stop),
    ("benign_cpu_stop_from_es", benign_cpu_stop_from_es),
    ("attack_cpu_start", attack_cpu_start),
    ("benign_cpu_start_from_es", benign_cpu_start_from_es),
    ("attack_pi_services", attack_pi_services),
    ("benign_pi_services_from_es", benign_pi_services_from_es),
    ("attack_block_download", attack_block_download),
    ("benign_block_download_from_es", benign_block_download_from_es),
    ("attack_block_upload", attack_block_upload),
    ("benign_block_upload_from_es", benign_block_upload_from_es),
    ("attack_memory_reset", attack_memory_reset),
    ("benign_memory_reset_from_es", benign_memory_reset_from_es),
    ("attack_programmer_force", attack_programmer_force),
    ("benign_programmer_force_from_es", benign_programmer_force_from_es),
    ("attack_clock_set", attack_clock_set),
    ("benign_clock_set_from_es", benign_clock_set_from_es),
    ("attack_password", attack_password),
    ("benign_password_from_es", benign_password_from_es),
    ("attack_s7plus_stop", attack_s7plus_stop),
    ("benign_s7plus_stop_from_es", benign_s7plus_stop_from_es),
    ("attack_malformed_tpkt", attack_malformed_tpkt),
    ("attack_malformed_cotp", attack_malformed_cotp),
    ("attack_malformed_s7", attack_malformed_s7),
    ("attack_malformed_s7plus", attack_malformed_s7plus),
    ("attack_incomplete_tpkt", attack_incomplete_tpkt),
    ("attack_overlap", attack_overlap),
    ("attack_cotp_dr", attack_cotp_dr),
    ("attack_tcp_short_header", attack_tcp_short_header),
    ("attack_ip_fragments", attack_ip_fragments),
    ("attack_var_items", attack_var_items),
    ("attack_setup_comm", attack_setup_comm),
    ("benign_plant", benign_plant),
];

const CLEAN_S7: &str = "decodes every frame as TPKT/COTP/S7comm with no malformed marker.";

/// Who runs an engineering action: the attacker (10.10.9.99) or the engineering station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Attacker,
    Es,
}

impl Actor {
    fn ip(self) -> IpAddr {
        match self {
            Actor::Attacker => ATTACKER,
            Actor::Es => ES,
        }
    }
    fn port(self) -> u16 {
        match self {
            Actor::Attacker => 40_417,
            Actor::Es => 50_112,
        }
    }
    fn label(self) -> &'static str {
        match self {
            Actor::Attacker => "attacker 10.10.9.99",
            Actor::Es => "engineering station 10.10.3.30",
        }
    }
}

/// Expected-finding text of a twin.
const TWIN: &str = "same decode as the attack twin, but from the allow-listed engineering station 10.10.3.30: no alert (at most an informational engineering-action event)";

/// Shared shape of the engineering-action cases: an HMI polls PLC1 in the background for
/// the whole capture while `actor` connects (PG TSAPs), runs `body`, and disconnects.
fn engineering_case(
    name: &'static str,
    actor: Actor,
    seed: u64,
    body: fn(&mut Trace, &mut Session, Actor),
    texts: Texts,
) -> Case {
    let mut bg = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49210, PLC1, seed ^ 0x55);
    let a = bg.next_no();
    h.connect(&mut bg, 2);
    for i in 0..12 {
        bg.wait_ms(500);
        h.poll(&mut bg, i);
    }
    bg.note(a, "background: HMI 10.10.2.20 connects to PLC 10.10.1.10 and polls it every 500 ms (Read Var, Write Var DB1.DBW4 every fifth cycle) for the whole capture");
    let mut t = Trace::at(LinkType::Ethernet, 1_200);
    let mut s = Session::new(actor.ip(), actor.port(), PLC1, seed);
    let a = t.next_no();
    s.open(&mut t, 1);
    t.note(
        a,
        format!("{} → PLC 10.10.1.10:102: TCP handshake, COTP CR (PG TSAPs 01 00 → 01 01) and CC", actor.label()),
    );
    let a = t.next_no();
    s.setup_ask(&mut t, (1, 1, 480), (1, 1, 480));
    t.note(a, "Setup Communication job/Ack_Data (AmQ 1/1, PDU 480)");
    t.wait_ms(150);
    body(&mut t, &mut s, actor);
    let a = t.next_no();
    t.wait_ms(200);
    if actor == Actor::Es {
        s.close_dr(&mut t);
        t.note(a, "COTP DR/DC and TCP FIN close");
    } else {
        s.close_fin(&mut t);
        t.note(a, "TCP FIN close (no COTP DR)");
    }
    let tr = Trace::merge(vec![bg, t]);
    finish(name, &tr, Format::CLASSIC, texts)
}

fn cpu_stop_body(t: &mut Trace, s: &mut Session, _a: Actor) {
    let a = t.next_no();
    s.job(t, &s7::plc_stop_param(), &[0x29]);
    t.note(a, "S7 Job PLC Stop (function 0x29, \"P_PROGRAM\") and the PLC's Ack_Data (error 0x0000: success)");
}

fn attack_cpu_stop() -> Case {
    engineering_case("attack_cpu_stop", Actor::Attacker, 0xA1, cpu_stop_body, Texts {
        what: "attacker: CR, setup, S7 PLC Stop 0x29 P_PROGRAM, success Ack_Data",
        expected: "alert CPU STOP (function 0x29 \"P_PROGRAM\") from non-engineering host 10.10.9.99 to 10.10.1.10, confirmed by a success Ack_Data",
        tshark: "decodes the job as \"Function: PLC Stop\" with PI service \"P_PROGRAM\" and the Ack_Data. No malformed marker.",
    })
}

fn benign_cpu_stop_from_es() -> Case {
    engineering_case(
        "benign_cpu_stop_from_es",
        Actor::Es,
        0xA2,
        cpu_stop_body,
        Texts {
            what: "engineering station stops the CPU (same PDUs as attack_cpu_stop)",
            expected: TWIN,
            tshark: CLEAN_S7,
        },
    )
}

fn cpu_start_body(t: &mut Trace, s: &mut Session, _a: Actor) {
    let a = t.next_no();
    s.job(t, &s7::pi_param(&[], b"P_PROGRAM"), &[0x28]);
    t.note(a, "S7 Job PI-Service (0x28) \"P_PROGRAM\" (start / warm restart) and its Ack_Data");
}

fn attack_cpu_start() -> Case {
    engineering_case("attack_cpu_start", Actor::Attacker, 0xA3, cpu_start_body, Texts {
        what: "attacker: PI-Service 0x28 P_PROGRAM (CPU start)",
        expected: "alert PI-Service P_PROGRAM (CPU start) from non-engineering host 10.10.9.99, confirmed by success Ack_Data",
        tshark: "decodes \"Function: PI-Service\", PI service \"P_PROGRAM\". No malformed marker.",
    })
}

fn benign_cpu_start_from_es() -> Case {
    engineering_case(
        "benign_cpu_start_from_es",
        Actor::Es,
        0xA4,
        cpu_start_body,
        Texts { what: "engineering station starts the CPU (PI P_PROGRAM)", expected: TWIN, tshark: CLEAN_S7 },
    )
}

fn pi_body(t: &mut Trace, s: &mut Session, _a: Actor) {
    let a = t.next_no();
    s.job(t, &s7::pi_param(b"EP", b"_MODU"), &[0x28]);
    t.note(a, "PI-Service \"_MODU\" (copy RAM to ROM, argument \"EP\") and Ack_Data");
    t.wait_ms(300);
    let a = t.next_no();
    s.job(t, &s7::pi_param(&[], b"_GARB"), &[0x28]);
    t.note(a, "PI-Service \"_GARB\" (compress memory) and Ack_Data");
    t.wait_ms(300);
    let a = t.next_no();
    s.job(t, &s7::pi_param(&s7::pi_blocks_arg(&[(block::FC, 10)]), b"_INSE"), &[0x28]);
    t.note(a, "PI-Service \"_INSE\" with block argument 01 00 \"0C00010P\" (activate FC 10) and Ack_Data");
    t.wait_ms(300);
    let a = t.next_no();
    s.job(t, &s7::pi_param(&s7::pi_blocks_arg(&[(block::DB, 5)]), b"_DELE"), &[0x28]);
    t.note(a, "PI-Service \"_DELE\" with block argument \"0A00005P\" (delete DB 5) and Ack_Data");
}

fn attack_pi_services() -> Case {
    engineering_case("attack_pi_services", Actor::Attacker, 0xA5, pi_body, Texts {
        what: "attacker: PI services _MODU, _GARB, _INSE (FC 10), _DELE (DB 5)",
        expected: "four alerts program/memory change (PI _MODU, _GARB, _INSE block FC10, _DELE block DB5) from 10.10.9.99, each confirmed by success Ack_Data",
        tshark: "decodes each as \"PI-Service\" with the service names and, for _INSE/_DELE, the block list (FC 10, DB 5). No malformed marker.",
    })
}

fn benign_pi_services_from_es() -> Case {
    engineering_case(
        "benign_pi_services_from_es",
        Actor::Es,
        0xA6,
        pi_body,
        Texts { what: "engineering station runs _MODU, _GARB, _INSE, _DELE", expected: TWIN, tshark: CLEAN_S7 },
    )
}

fn download_body(t: &mut Trace, s: &mut Session, _a: Actor) {
    let file = s7::block_file(block::FC, 10, 'P');
    let a = t.next_no();
    s.job(t, &s7::request_download_param(&file, 256, 128), &[0x1A]);
    t.note(
        a,
        "Request Download (0x1A) job for \"_0C00010P\" (FC 10, load memory 256 bytes, MC7 128 bytes) and its Ack_Data",
    );
    let a = t.next_no();
    let sizes = [100usize, 100, 56];
    for (i, n) in sizes.iter().enumerate() {
        let r = s.plc_ref;
        s.plc_ref += 1;
        let d = s.delay();
        t.wait_us(d);
        s.c.send(t, Dir::S2C, &s7::job(r, &s7::download_block_param(&file), &[]));
        t.wait_us(800);
        let status = if i + 1 < sizes.len() { 0x01 } else { 0x00 };
        let bytes = s.values(*n);
        s.c.send(t, Dir::C2S, &s7::ack_data(r, &[0x1B, status], &s7::block_data(&bytes)));
    }
    t.note(a, "the PLC pulls the block: three Download Block (0x1B) jobs PLC → client, each answered by an Ack_Data carrying 100, 100 and 56 bytes (function status \"more data\" on the first two)");
    let a = t.next_no();
    let r = s.plc_ref;
    s.plc_ref += 1;
    let d = s.delay();
    t.wait_us(d);
    s.c.send(t, Dir::S2C, &s7::job(r, &s7::download_ended_param(&file), &[]));
    t.wait_us(800);
    s.c.send(t, Dir::C2S, &s7::ack_data(r, &[0x1C], &[]));
    t.note(a, "Download Ended (0x1C) job PLC → client and its Ack_Data");
    t.wait_ms(100);
    let a = t.next_no();
    s.job(t, &s7::pi_param(&s7::pi_blocks_arg(&[(block::FC, 10)]), b"_INSE"), &[0x28]);
    t.note(a, "PI-Service \"_INSE\" activating FC 10, Ack_Data");
}

fn attack_block_download() -> Case {
    engineering_case("attack_block_download", Actor::Attacker, 0xA7, download_body, Texts {
        what: "attacker downloads FC 10: Request Download, 3 Download Block, Download Ended, PI _INSE",
        expected: "alert block download (Request Download of _0C00010P / FC 10) and program change (PI _INSE FC 10) from 10.10.9.99; the three Download Block jobs come from the PLC",
        tshark: "decodes Request download / Download block / Download ended with \"Block:[FC 10]\" file names and the PI-Service _INSE. No malformed marker.",
    })
}

fn benign_block_download_from_es() -> Case {
    engineering_case(
        "benign_block_download_from_es",
        Actor::Es,
        0xA8,
        download_body,
        Texts { what: "engineering station downloads FC 10 (same PDUs)", expected: TWIN, tshark: CLEAN_S7 },
    )
}

fn upload_body(t: &mut Trace, s: &mut Session, _a: Actor) {
    let file = s7::block_file(block::OB, 1, 'A');
    let id = 7;
    let a = t.next_no();
    s.job(t, &s7::start_upload_param(&file), &s7::start_upload_ack_param(id, 312));
    t.note(a, "Start Upload (0x1D) job for \"_0800001A\" (OB 1 from the active file system) and its Ack_Data (upload id 7, block length \"0000312\")");
    let a = t.next_no();
    let sizes = [120usize, 120, 72];
    for (i, n) in sizes.iter().enumerate() {
        let r = s.next_ref();
        let status = if i + 1 < sizes.len() { 0x01 } else { 0x00 };
        let bytes = s.values(*n);
        s.xchg(t, &s7::job(r, &s7::upload_param(id), &[]), &s7::ack_data(r, &[0x1E, status], &s7::block_data(&bytes)));
    }
    t.note(a, "three Upload (0x1E) jobs, answered with 120, 120 and 72 bytes of the block");
    let a = t.next_no();
    s.job(t, &s7::end_upload_param(id), &[0x1F]);
    t.note(a, "End Upload (0x1F) job and Ack_Data");
}

fn attack_block_upload() -> Case {
    engineering_case(
        "attack_block_upload",
        Actor::Attacker,
        0xA9,
        upload_body,
        Texts {
            what: "attacker uploads (steals) OB 1: Start Upload, 3 Upload, End Upload",
            expected: "alert block upload (OB 1, 312 bytes) from 10.10.9.99",
            tshark: "decodes Start upload / Upload / End upload with \"Block:[OB 1]\". No malformed marker.",
        },
    )
}

fn benign_block_upload_from_es() -> Case {
    engineering_case(
        "benign_block_upload_from_es",
        Actor::Es,
        0xAA,
        upload_body,
        Texts { what: "engineering station uploads OB 1 (same PDUs)", expected: TWIN, tshark: CLEAN_S7 },
    )
}

fn reset_body(t: &mut Trace, s: &mut Session, _a: Actor) {
    let a = t.next_no();
    let (r, q) = (s.next_ref(), s.next_seq());
    s.xchg(t, &s7::memory_reset_req(r, q), &s7::memory_reset_resp(r, q));
    t.note(a, "Userdata request group 1 (programmer commands) subfunction 0x0C (memory reset) and its response (error 0x0000)");
}

fn attack_memory_reset() -> Case {
    engineering_case("attack_memory_reset", Actor::Attacker, 0xAB, reset_body, Texts {
        what: "attacker: userdata programmer command 0x0C (memory reset)",
        expected: "alert memory reset (userdata group 1 subfunction 0x0C) from 10.10.9.99",
        tshark: "decodes Userdata \"[Programmer commands] -> [Memory reset]\" request and response. No malformed marker.",
    })
}

fn benign_memory_reset_from_es() -> Case {
    engineering_case(
        "benign_memory_reset_from_es",
        Actor::Es,
        0xAC,
        reset_body,
        Texts { what: "engineering station resets memory (same PDUs)", expected: TWIN, tshark: CLEAN_S7 },
    )
}

fn force_body(t: &mut Trace, s: &mut Session, _a: Actor) {
    let a = t.next_no();
    let (r, q) = (s.next_ref(), s.next_seq());
    s.xchg(t, &s7::programmer_req(r, q, 0x09), &s7::programmer_resp(r, q, 0x09));
    t.note(
        a,
        "Userdata request group 1 (programmer commands) subfunction 0x09 (force) and its response (error 0x0000)",
    );
}

fn attack_programmer_force() -> Case {
    engineering_case(
        "attack_programmer_force",
        Actor::Attacker,
        0xB7,
        force_body,
        Texts {
            what: "attacker: userdata programmer command 0x09 (force)",
            expected: "alert programmer command 'force' (userdata group 1 subfunction 0x09) from 10.10.9.99",
            tshark: "decodes Userdata \"[Programmer commands] -> [Force]\" request and response.",
        },
    )
}

fn benign_programmer_force_from_es() -> Case {
    engineering_case(
        "benign_programmer_force_from_es",
        Actor::Es,
        0xB8,
        force_body,
        Texts {
            what: "engineering station forces (same PDUs)",
            expected: TWIN,
            tshark: "decodes Userdata \"[Programmer commands] -> [Force]\" request and response.",
        },
    )
}

fn clock_body(t: &mut Trace, s: &mut Session, a: Actor) {
    let n = t.next_no();
    s.clock_read(t);
    t.note(n, "Userdata read clock (group 7 subfunction 1) and response");
    t.wait_ms(200);
    let n = t.next_no();
    let time = if a == Actor::Attacker {
        s7::s7_time(2019, 5, 1, 3, 0, 0, 0, 4)
    } else {
        s7::s7_time(2026, 1, 1, 0, 0, 2, 0, 5)
    };
    let (r, q) = (s.next_ref(), s.next_seq());
    s.xchg(t, &s7::clock_set_req(r, q, &time), &s7::clock_set_resp(r, q));
    let what = if a == Actor::Attacker {
        "Userdata set clock (group 7 subfunction 2) to 2019-05-01 03:00:00 and its response"
    } else {
        "Userdata set clock (group 7 subfunction 2) to 2026-01-01 00:00:02 (time sync) and its response"
    };
    t.note(n, what);
}

fn attack_clock_set() -> Case {
    engineering_case(
        "attack_clock_set",
        Actor::Attacker,
        0xAD,
        clock_body,
        Texts {
            what: "attacker reads the clock, then sets it to 2019-05-01",
            expected: "alert clock set (userdata group 7 subfunction 2) from 10.10.9.99",
            tshark: "decodes \"Time functions\" read clock / set clock with the BCD timestamps. No malformed marker.",
        },
    )
}

fn benign_clock_set_from_es() -> Case {
    engineering_case(
        "benign_clock_set_from_es",
        Actor::Es,
        0xAE,
        clock_body,
        Texts { what: "engineering station reads and syncs the clock", expected: TWIN, tshark: CLEAN_S7 },
    )
}

fn password_body(t: &mut Trace, s: &mut Session, a: Actor) {
    let tries: &[(&str, u16)] = if a == Actor::Attacker {
        &[("admin", 0xD602), ("123456", 0xD602), ("siemens", 0xD602), ("password", 0xD602), ("Pl4nt#1", 0)]
    } else {
        &[("Pl4nt#1", 0)]
    };
    for (pw, err) in tries {
        t.wait_ms(120);
        let n = t.next_no();
        let (r, q) = (s.next_ref(), s.next_seq());
        s.xchg(t, &s7::password_req(r, q, pw), &s7::password_resp(r, q, *err));
        let res = if *err == 0 { "accepted (error 0x0000)" } else { "rejected with error 0xD602 (wrong password)" };
        t.note(n, format!("Userdata PLC password (group 5 subfunction 1, \"{pw}\" encoded) and the response: {res}"));
    }
}

fn attack_password() -> Case {
    engineering_case("attack_password", Actor::Attacker, 0xAF, password_body, Texts {
        what: "attacker guesses the PLC password: 4 answers 0xD602 (wrong password), the fifth accepted",
        expected: "4 failed password attempts (0xD602) then a success from 10.10.9.99: alert password guessing / brute force and a successful legitimation by a non-engineering host",
        tshark: "decodes \"Security\" / PLC password requests and responses; the rejected ones show error code 0xd602. No malformed marker.",
    })
}

fn benign_password_from_es() -> Case {
    engineering_case(
        "benign_password_from_es",
        Actor::Es,
        0xB0,
        password_body,
        Texts { what: "engineering station enters the right password once", expected: TWIN, tshark: CLEAN_S7 },
    )
}

fn plus_stop_case(name: &'static str, actor: Actor, seed: u64, texts: Texts) -> Case {
    let mut bg = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI2, 49211, PLC2, seed ^ 0x55);
    let a = bg.next_no();
    h.connect(&mut bg, 2);
    for i in 0..16 {
        bg.wait_ms(500);
        h.poll(&mut bg, i);
    }
    bg.note(a, "background: HMI 10.10.2.21 polls PLC 10.10.1.11 every 500 ms");
    let mut t = Trace::at(LinkType::Ethernet, 1_100);
    let mut s = Session::new(actor.ip(), actor.port(), PLC2, seed);
    let a = t.next_no();
    s.open_plus(&mut t, "SIMATIC-ROOT-ES");
    t.note(
        a,
        format!(
            "{} → PLC 10.10.1.11: TCP handshake, COTP CR (calling 06 00, called \"SIMATIC-ROOT-ES\") and CC",
            actor.label()
        ),
    );
    let a = t.next_no();
    let who = if actor == Actor::Attacker { "LAPTOP-7QK3ZP" } else { "ENG-WS-01" };
    s.create_object(&mut t, who);
    t.note(a, format!("S7comm-plus V1 CreateObject (client name \"{who}\") and response with the session id"));
    t.wait_ms(300);
    let a = t.next_no();
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    s.xchg(&mut t, &s7plus::set_operating_state(seq, sess, 1), &s7plus::set_variable_resp(seq));
    t.note(a, "V2 SetVariable (0x04F2) object 52 attribute 2167 (90 77, CPUexecUnit.OperatingStateREQ) := 1 (STOP), and its response");
    t.wait_ms(5_000);
    let a = t.next_no();
    let seq = s.next_plus_seq();
    s.xchg(&mut t, &s7plus::set_operating_state(seq, sess, 3), &s7plus::set_variable_resp(seq));
    t.note(a, "5 s later: SetVariable object 52 attribute 2167 := 3 (RUN), and its response");
    let a = t.next_no();
    t.wait_ms(200);
    s.close_fin(&mut t);
    t.note(a, "TCP FIN close");
    let tr = Trace::merge(vec![bg, t]);
    finish(name, &tr, Format::CLASSIC, texts)
}

fn attack_s7plus_stop() -> Case {
    plus_stop_case("attack_s7plus_stop", Actor::Attacker, 0xB1, Texts {
        what: "attacker: S7comm-plus session to SIMATIC-ROOT-ES, CreateObject, SetVariable obj 52 attr 2167 := 1 (stop), later := 3 (start)",
        expected: "alert S7comm-plus operating-state write STOP (value 1) and then START (value 3) from 10.10.9.99 to 10.10.1.11",
        tshark: "COTP CR/CC decode (TSAP \"SIMATIC-ROOT-ES\"); the S7comm-plus frames show as COTP data (no S7comm-plus dissector in 4.0.17); the background S7comm polling decodes. No malformed marker.",
    })
}

fn benign_s7plus_stop_from_es() -> Case {
    plus_stop_case(
        "benign_s7plus_stop_from_es",
        Actor::Es,
        0xB2,
        Texts {
            what: "engineering station stops and restarts the CPU over S7comm-plus",
            expected: TWIN,
            tshark: "as attack_s7plus_stop. No malformed marker.",
        },
    )
}

/// What precedes the malformed bytes on a malformed-case connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pre {
    /// TCP handshake only.
    Tcp,
    /// Handshake and COTP CR/CC.
    Cotp,
    /// Handshake, CR/CC and Setup Communication.
    Setup,
    /// Handshake and S7comm-plus CR/CC to SIMATIC-ROOT-HMI.
    Plus,
}

/// One short attacker connection: `pre`, then `bytes` from the attacker, then the PLC resets.
fn malformed_conn(tr: &mut Trace, port: u16, seed: u64, pre: Pre, bytes: &[u8], text: &str) {
    tr.wait_ms(400);
    let mut s = Session::new(ATTACKER, port, PLC1, seed);
    let a = tr.next_no();
    match pre {
        Pre::Tcp => s.handshake(tr),
        Pre::Cotp => s.open(tr, 1),
        Pre::Setup => s.connect(tr, 1),
        Pre::Plus => s.open_plus(tr, "SIMATIC-ROOT-HMI"),
    }
    let pre_text = match pre {
        Pre::Tcp => "handshake",
        Pre::Cotp => "handshake, CR/CC",
        Pre::Setup => "handshake, CR/CC, Setup Communication",
        Pre::Plus => "handshake, S7comm-plus CR/CC",
    };
    tr.note(a, format!("connection from port {port}: {pre_text}"));
    let a = tr.next_no();
    tr.wait_ms(50);
    s.send(tr, bytes);
    let d = s.delay();
    tr.wait_us(d);
    s.c.rst(tr, Dir::S2C);
    tr.note(a, format!("{text}; the PLC answers with RST"));
}

fn attack_malformed_tpkt() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut rng = SplitMix64::new(0xD1);
    let good = s7::read_var_job(0x0500, &[AnyItem::db_bytes(1, 0, 8)]);
    let mut v2 = good.clone();
    v2[0] = 2;
    malformed_conn(&mut tr, 40_501, rng.next_u64(), Pre::Setup, &v2, "a Read Var job whose TPKT version byte is 0x02");
    let mut r1 = good.clone();
    r1[1] = 1;
    malformed_conn(&mut tr, 40_502, rng.next_u64(), Pre::Setup, &r1, "a Read Var job whose TPKT reserved byte is 0x01");
    malformed_conn(
        &mut tr,
        40_503,
        rng.next_u64(),
        Pre::Setup,
        &s7::tpkt_raw(3, 0, 5, &[0x02]),
        "a TPKT with length 5 (03 00 00 05 02: below the 7-byte minimum for a COTP DT)",
    );
    finish("attack_malformed_tpkt", &tr, Format::CLASSIC, Texts {
        what: "three connections carrying TPKT version 2, TPKT reserved 1, TPKT length 5",
        expected: "three TPKT findings (bad_version, bad_reserved, length_too_short) toward 10.10.1.10:102, each an alert malformed TPKT from 10.10.9.99",
        tshark: "the version-2 frame is not taken as TPKT (\"TPKT Continuation\"); tshark 4.0.17 ignores the reserved byte and decodes the reserved-1 frame as an ordinary Read Var; the length-5 TPKT is \"[Malformed Packet]\" (COTP). Intended.",
    })
}

fn attack_malformed_cotp() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut rng = SplitMix64::new(0xD2);
    let setup = s7::s7_pdu(s7::JOB, 0x0600, &s7::setup_comm_param(1, 1, 480), &[], 0);
    malformed_conn(
        &mut tr,
        40_511,
        rng.next_u64(),
        Pre::Cotp,
        &s7::tpkt(&[0x1F, 0xF0, 0x80, 0x32, 0x01, 0x00]),
        "a COTP TPDU whose LI (31) runs beyond the 6 bytes the TPKT holds",
    );
    let mut unk = vec![0x02, 0x30, 0x80];
    unk.extend(&setup);
    malformed_conn(
        &mut tr,
        40_512,
        rng.next_u64(),
        Pre::Cotp,
        &s7::tpkt(&unk),
        "a COTP TPDU with the unknown code 0x30 (carrying a Setup Communication)",
    );
    let mut li4 = vec![0x04, 0xF0, 0x80, 0x00, 0x00];
    li4.extend(&setup);
    malformed_conn(
        &mut tr,
        40_513,
        rng.next_u64(),
        Pre::Cotp,
        &s7::tpkt(&li4),
        "a COTP DT with LI 4 instead of 2 (two extra header bytes before the S7 PDU)",
    );
    let no_tsap = s7::tpkt(&s7::cotp_connect(0xE0, 0, 0x0031, 0, &[(s7::param::TPDU_SIZE, &[0x0A])]));
    malformed_conn(
        &mut tr,
        40_514,
        rng.next_u64(),
        Pre::Tcp,
        &no_tsap,
        "a COTP CR without calling/called TSAP (only C0 TPDU size)",
    );
    let big: Vec<u8> = (0..200u32).map(|i| b'A' + (i % 26) as u8).collect();
    let big_tsap = s7::tpkt(&s7::cotp_connect(
        0xE0,
        0,
        0x0032,
        0,
        &[(s7::param::TPDU_SIZE, &[0x0A]), (s7::param::CALLING_TSAP, &[0x01, 0x00]), (s7::param::CALLED_TSAP, &big)],
    ));
    malformed_conn(
        &mut tr,
        40_515,
        rng.next_u64(),
        Pre::Tcp,
        &big_tsap,
        "a COTP CR whose called TSAP is 200 bytes long (LI 215)",
    );
    finish("attack_malformed_cotp", &tr, Format::CLASSIC, Texts {
        what: "five connections: COTP LI beyond TPKT, unknown TPDU code 0x30, DT with LI 4, CR without TSAPs, CR with a 200-byte TSAP",
        expected: "five COTP findings/alerts from 10.10.9.99: LI beyond end, unknown TPDU code, DT LI != 2, CR without TSAPs, oversized TSAP",
        tshark: "shows the LI-beyond-TPKT frame as an empty TPKT (no COTP), code 0x30 as \"Unknown TPDU type (0x3)\", the LI-4 DT as a class-2 style \"DT TPDU (0) dst-ref: 0x8000 [COTP fragment]\" without S7 decode, and decodes both CRs (the 200-byte called TSAP in full). Intended.",
    })
}

fn attack_malformed_s7() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut rng = SplitMix64::new(0xD3);
    let p = s7::setup_comm_param(1, 1, 480);
    let bad_len = s7::dt_pdu(&s7::s7_pdu_lens(s7::JOB, 0x0700, 8, 8, &p, &[], 0));
    malformed_conn(
        &mut tr,
        40_521,
        rng.next_u64(),
        Pre::Cotp,
        &bad_len,
        "a Setup Communication job declaring data length 8 with no data bytes (parameter + data length ≠ what remains)",
    );
    let ros5 = s7::dt_pdu(&s7::s7_pdu(0x05, 0x0701, &s7::var_param(0x04, &[AnyItem::db_bytes(1, 0, 4)]), &[], 0));
    malformed_conn(
        &mut tr,
        40_522,
        rng.next_u64(),
        Pre::Setup,
        &ros5,
        "an S7comm PDU with ROSCTR 0x05 (not 1, 2, 3 or 7)",
    );
    let mut pr = vec![0x04, 0x0A];
    pr.extend_from_slice(&AnyItem::db_bytes(1, 0, 4).bytes());
    let cnt10 = s7::job(0x0702, &pr, &[]);
    malformed_conn(
        &mut tr,
        40_523,
        rng.next_u64(),
        Pre::Setup,
        &cnt10,
        "a Read Var job announcing 10 items but carrying 1",
    );
    let p45 = s7::dt_pdu(&[
        0x45, 0x01, 0x00, 0x00, 0x07, 0x03, 0x00, 0x08, 0x00, 0x00, 0xF0, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0xE0,
    ]);
    malformed_conn(
        &mut tr,
        40_524,
        rng.next_u64(),
        Pre::Setup,
        &p45,
        "a COTP DT whose user data starts with protocol id 0x45 (neither 0x32 nor 0x72)",
    );
    finish("attack_malformed_s7", &tr, Format::CLASSIC, Texts {
        what: "four connections: S7 parameter+data length ≠ remaining, ROSCTR 0x05, Read Var item count 10 with 1 item, protocol id 0x45",
        expected: "four S7 findings/alerts from 10.10.9.99: length mismatch, unknown ROSCTR, item count beyond parameter, unknown protocol id",
        tshark: "does not check the length mismatch (it decodes the first frame as a Setup Communication); shows \"ROSCTR:[Unknown: 0x05]\"; flags the 10-item Read Var \"[Malformed Packet]\"; leaves the 0x45 payload as COTP data (\"DT TPDU (0) EOT\"). Intended.",
    })
}

fn attack_malformed_s7plus() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut rng = SplitMix64::new(0xD4);
    let mut d = s7plus::req_header(s7plus::func::CREATE_OBJECT, 1, s7plus::NULL_SERVER_SESSION, 0x36);
    d.extend_from_slice(&[0, 0, 1, 0x1D, 0, 4, 0, 0, 0, 0, 0]);
    let v7 = s7::dt_pdu(&s7plus::pdu(0x07, &d, true));
    malformed_conn(&mut tr, 40_531, rng.next_u64(), Pre::Plus, &v7, "an S7comm-plus frame with version 0x07");
    let long = s7::dt_pdu(&s7plus::pdu_raw(s7plus::V1, d.len() as u16 + 200, &d, Some(s7plus::V1)));
    malformed_conn(
        &mut tr,
        40_532,
        rng.next_u64(),
        Pre::Plus,
        &long,
        "an S7comm-plus V1 frame whose data length is 200 bytes beyond the end of the TPDU",
    );
    let mut d3 = vec![20u8];
    d3.extend(rng.bytes(20));
    d3.extend(s7plus::req_header(s7plus::func::GET_MULTI_VARIABLES, 2, 0x0380, 0x34));
    d3.extend_from_slice(&[0, 0, 0, 0, 1, 4, 4, 0x8A, 0x8E, 0x80, 0x01, 0x0A, 0, 2, 0, 0, 0, 0]);
    let v3 = s7plus::frame(s7plus::V3, &d3);
    malformed_conn(
        &mut tr,
        40_533,
        rng.next_u64(),
        Pre::Plus,
        &v3,
        "a V3 GetMultiVariables whose integrity digest length is 20 instead of 32",
    );
    finish("attack_malformed_s7plus", &tr, Format::CLASSIC, Texts {
        what: "three S7comm-plus connections: version 0x07, data length beyond end, V3 digest length 20",
        expected: "three S7comm-plus findings/alerts from 10.10.9.99: bad version, length beyond end, digest length ≠ 32",
        tshark: "COTP decodes; the 0x72 payloads show as COTP data (no S7comm-plus dissector in 4.0.17), so tshark raises nothing. Intended.",
    })
}

fn attack_incomplete_tpkt() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_541, PLC1, 0xD5);
    let a = tr.next_no();
    s.connect(&mut tr, 1);
    tr.note(a, "attacker: handshake, CR/CC, Setup Communication");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.read(&mut tr, &[AnyItem::db_bytes(1, 0, 8)]);
    tr.note(a, "one complete Read Var job and Ack_Data");
    let (req, _) = s.read_frames(&[AnyItem::db_bytes(1, 0, 8)]);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send(&mut tr, Dir::C2S, &req[..12]);
    tr.wait_us(300);
    s.c.ack(&mut tr, Dir::S2C);
    tr.note(a, format!("the first 12 bytes of a {}-byte TPKT (Read Var job), ACKed by the PLC", req.len()));
    let a = tr.next_no();
    tr.wait_ms(1_000);
    s.close_fin(&mut tr);
    tr.note(a, "1 s later the attacker closes with FIN while the TPKT is still incomplete; FIN/ACK from the PLC");
    finish("attack_incomplete_tpkt", &tr, Format::CLASSIC, Texts {
        what: "connection closed with FIN while a TPKT is half sent",
        expected: "TPKT finding incomplete-at-close (12 of 31 bytes buffered when the FIN arrived) on the flow from 10.10.9.99",
        tshark: "the 12-byte segment stays \"[TCP segment of a reassembled PDU]\" and is never completed. Intended.",
    })
}

fn attack_overlap() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_551, PLC1, 0xD6);
    let a = tr.next_no();
    s.connect(&mut tr, 1);
    tr.note(a, "attacker: handshake, CR/CC, Setup Communication");
    let (req, resp) = s.write_frames(&[AnyItem::db_word(1, 4)], &[&[0x00, 0x00]]);
    let n = req.len();
    let mut alt = req.clone();
    alt[n - 2] = 0x7F;
    alt[n - 1] = 0xFF;
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send_plan(&mut tr, Dir::C2S, &req, &[Piece::seg(0, n), Piece::alt(0, alt)]);
    s.answer(&mut tr, &resp);
    tr.note(a, "Write Var DB1.DBW4 := 0x0000, then a full retransmission of the same sequence range whose value bytes say 0x7FFF; Ack_Data");
    let (req, resp) = s.write_frames(&[AnyItem::db_word(1, 6)], &[&[0x00, 0x10]]);
    let n = req.len();
    let mut alt = req[15..].to_vec();
    alt[n - 15 - 9] ^= 0x01; // DB number low byte inside the S7ANY item: DB1 -> DB0
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send_plan(&mut tr, Dir::C2S, &req, &[Piece::seg(0, 25), Piece::alt(15, alt), Piece::seg(25, n)]);
    s.answer(&mut tr, &resp);
    tr.note(a, "Write Var DB1.DBW6: bytes 0..25, then a segment from byte 15 whose bytes differ inside the S7ANY address, then bytes 25..; Ack_Data");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_fin(&mut tr);
    tr.note(a, "FIN close");
    finish("attack_overlap", &tr, Format::CLASSIC, Texts {
        what: "conflicting TCP overlaps (same sequence range, different bytes) toward PLC port 102",
        expected: "two TCP overlap-conflict findings/alerts on the flow 10.10.9.99 → 10.10.1.10:102 (an IDS-evasion pattern)",
        tshark: "marks the conflicting copies as \"TCP Retransmission\" / \"TCP Out-Of-Order\" (it does not compare overlapping bytes by default) and decodes the first copy of each Write Var. Intended.",
    })
}

fn attack_cotp_dr() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_561, PLC1, 0xD7);
    let a = tr.next_no();
    s.connect(&mut tr, 1);
    tr.note(a, "connection 1: handshake, CR/CC, Setup Communication");
    let a = tr.next_no();
    tr.wait_ms(100);
    let junk = s.values(24);
    let dr = s7::dr(s.cotp_plc, s.cotp_client, 0x80, &[0xE0, 0x04, 0xDE, 0xAD, 0xBE, 0xEF], &junk);
    s.send(&mut tr, &dr);
    let d = s.delay();
    tr.wait_us(d);
    s.c.rst(&mut tr, Dir::S2C);
    tr.note(a, "COTP DR with a 6-byte clearing-info parameter (LI 12) and 24 extra user-data bytes after the header; the PLC resets");
    let mut s2 = Session::new(ATTACKER, 40_562, PLC1, 0xD8);
    let a = tr.next_no();
    tr.wait_ms(300);
    s2.handshake(&mut tr);
    tr.note(a, "connection 2: handshake");
    let a = tr.next_no();
    tr.wait_ms(20);
    s2.send(&mut tr, &s7::dr(0, s2.cotp_client, 0x80, &[], &[]));
    let d = s2.delay();
    tr.wait_us(d);
    s2.c.rst(&mut tr, Dir::S2C);
    tr.note(a, "a COTP DR (LI 6) sent before any CR/CC; the PLC resets");
    finish("attack_cotp_dr", &tr, Format::CLASSIC, Texts {
        what: "COTP DR with extra parameter and data bytes, and a DR before any CC (CVE-2025-40944 class)",
        expected: "two COTP DR alerts toward 10.10.1.10:102 from 10.10.9.99: DR with extra bytes (LI 12 + 24 trailing bytes) and DR before CC",
        tshark: "decodes both as \"DR TPDU\" without complaint (the extra parameter and trailing bytes are not flagged), the PLC's RSTs as notes. Intended.",
    })
}

fn attack_tcp_short_header() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_571, PLC1, 0xD9);
    let a = tr.next_no();
    s.handshake(&mut tr);
    tr.note(a, "attacker: TCP handshake to 10.10.1.10:102");
    let a = tr.next_no();
    let payload = s7::cr(0x0041, &[1, 0], &[1, 1]);
    for (i, doff) in [4u8, 4, 4, 2].iter().enumerate() {
        tr.wait_ms(50);
        let seq = s.c.c_next.wrapping_add(i as u32 * 8);
        s.c.raw_segment(&mut tr, Dir::C2S, seq, s.c.s_next, net::PSH | net::ACK, &payload[..8], *doff);
    }
    tr.note(a, "four segments toward port 102 whose TCP data offset is 4, 4, 4 and 2 words (header length 16 and 8 bytes, below the 20-byte minimum), each followed by 8 bytes");
    let a = tr.next_no();
    tr.wait_ms(500);
    s.c.rst(&mut tr, Dir::C2S);
    tr.note(a, "RST from the attacker");
    finish("attack_tcp_short_header", &tr, Format::CLASSIC, Texts {
        what: "TCP segments with data offset 4 (and 2) toward port 102 (CVE-2022-25622)",
        expected: "four TCP short-header findings/alerts (data offset < 5) toward 10.10.1.10:102 from 10.10.9.99",
        tshark: "shows \", bogus TCP header length (16, must be at least 20)\" (8 for the last) in the Info column of frames 4–7 and dissects nothing past the 20 bytes. Intended.",
    })
}

fn attack_ip_fragments() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_581, PLC1, 0xDA);
    let a = tr.next_no();
    s.open(&mut tr, 1);
    tr.note(a, "attacker: handshake, CR/CC");
    let r = s.next_ref();
    let job = s7::job(r, &s7::setup_comm_param(1, 1, 480), &[]);
    let a = tr.next_no();
    tr.wait_ms(50);
    s.c.send_ip_fragmented(&mut tr, Dir::C2S, &job, 8);
    tr.note(a, "a Setup Communication job in 8-byte IPv4 fragments (tiny fragments)");
    let a = tr.next_no();
    s.answer(&mut tr, &s7::ack_data(r, &s7::setup_comm_param(1, 1, 480), &[]));
    tr.note(a, "its Ack_Data");
    let mut rng = SplitMix64::new(0xDB);
    let a = tr.next_no();
    for i in 0..60u16 {
        tr.wait_us(16_000);
        let sport = 41_000 + i;
        let mut seg = Vec::new();
        let h = net::TcpHeader {
            sport,
            dport: 102,
            seq: rng.next_u32(),
            ack: 0,
            flags: net::SYN,
            window: 1024,
            data_offset: 5,
        };
        let body = rng.bytes(52);
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (ATTACKER, PLC1) else { unreachable!() };
        net::push_tcp(&mut seg, ATTACKER, PLC1, &h, &body);
        let base = Ipv4Header {
            src: src.octets(),
            dst: dst.octets(),
            id: 0x4000 + i,
            ttl: 64,
            protocol: net::IPPROTO_TCP,
            df: false,
            mf: false,
            frag_offset: 0,
            payload_len: 0,
        };
        let frags = net::ipv4_fragments(&base, &seg, 24);
        for f in frags.iter().take(2) {
            tr.push_ip(&[], ATTACKER, PLC1, f);
        }
    }
    tr.note(a, "60 fragmented datagrams toward 10.10.1.10:102 within 1 s, each 72 bytes of IP payload in 24-byte fragments of which only the first two are sent: the last fragment never arrives (120 frames, reassembly can never complete)");
    finish("attack_ip_fragments", &tr, Format::CLASSIC, Texts {
        what: "tiny IPv4 fragments and 60 never-completed fragmented datagrams toward the PLC (CVE-2024-23814 class)",
        expected: "IP-fragment alert toward 10.10.1.10 from 10.10.9.99 (fragment burst: 126 fragments in about 1 s, 60 incomplete datagrams, tiny 8-byte fragments)",
        tshark: "reassembles the tiny-fragment Setup Communication (6 fragments); the 60 incomplete datagrams stay \"Fragmented IP protocol (proto=TCP 6, off=0/24)\" and are never reassembled. No malformed marker.",
    })
}

fn attack_var_items() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_591, PLC1, 0xDC);
    let a = tr.next_no();
    s.open(&mut tr, 1);
    s.setup(&mut tr, 1, 240);
    tr.note(a, "attacker: handshake, CR/CC, Setup Communication negotiating PDU size 240");
    let a = tr.next_no();
    tr.wait_ms(100);
    let r = s.next_ref();
    s.xchg(&mut tr, &s7::job(r, &[0x04, 0x00], &[]), &s7::ack_data_err(r, 0x81, 0x04, &[0x04, 0x00], &[]));
    tr.note(a, "Read Var job with item count 0; the PLC answers Ack_Data error class 0x81 code 0x04");
    let a = tr.next_no();
    tr.wait_ms(100);
    let r = s.next_ref();
    s.xchg(
        &mut tr,
        &s7::read_var_job(r, &[AnyItem::db_bytes(1, 0, 1000)]),
        &s7::ack_data_err(r, 0x85, 0x00, &[0x04, 0x01], &[]),
    );
    tr.note(a, "Read Var job asking for DB1.DBB0 1000 bytes (answer would exceed the PDU size 240); the PLC answers error class 0x85 code 0x00");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_fin(&mut tr);
    tr.note(a, "FIN close");
    finish("attack_var_items", &tr, Format::CLASSIC, Texts {
        what: "Read Var with item count 0, and Read Var asking 1000 bytes with a negotiated PDU of 240",
        expected: "two S7 conformance alerts from 10.10.9.99: read var with zero items, read var whose response would exceed the negotiated PDU (1000 > 240); both answered with errors",
        tshark: "decodes both jobs (item count 0; one item of 1000 BYTE) and the error Ack_Data (\"Errorcode:[0x8104]\", \"Errorcode:[0x8500]\"). No malformed marker.",
    })
}

fn attack_setup_comm() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_601, PLC1, 0xDD);
    let a = tr.next_no();
    s.open(&mut tr, 1);
    tr.note(a, "attacker: handshake, CR/CC");
    let a = tr.next_no();
    s.setup_ask(&mut tr, (65535, 65535, 65535), (3, 3, 960));
    tr.note(a, "Setup Communication asking AmQ 65535/65535 and PDU 65535; the PLC grants AmQ 3/3, PDU 960");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.read(&mut tr, &[AnyItem::db_bytes(1, 0, 16)]);
    tr.note(a, "one Read Var job and Ack_Data");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_fin(&mut tr);
    tr.note(a, "FIN close");
    finish("attack_setup_comm", &tr, Format::CLASSIC, Texts {
        what: "Setup Communication asking PDU 65535 and AmQ 65535",
        expected: "S7 conformance alert: setup communication with out-of-range values (PDU 65535, AmQ 65535/65535) from 10.10.9.99; the negotiated values (3/3/960) become the flow's limits",
        tshark: "decodes the Setup Communication job (Max AmQ 65535, PDU length 65535) and the Ack_Data. No malformed marker.",
    })
}

fn benign_plant() -> Case {
    let mut t1 = Trace::new(LinkType::Ethernet);
    let mut h1 = Session::new(HMI, 49212, PLC1, 0xE1);
    let a = t1.next_no();
    h1.connect(&mut t1, 2);
    for i in 0..120 {
        t1.wait_ms(500);
        h1.poll(&mut t1, i);
    }
    t1.note(a, "HMI 10.10.2.20 connects to PLC 10.10.1.10 and polls it every 500 ms for 60 s (120 Read Var, 24 Write Var DB1.DBW4)");
    let mut t2 = Trace::at(LinkType::Ethernet, 230);
    let mut h2 = Session::new(HMI2, 49213, PLC2, 0xE2);
    let a = t2.next_no();
    h2.connect(&mut t2, 2);
    for _ in 0..60 {
        t2.wait_ms(1000);
        h2.read(
            &mut t2,
            &[
                AnyItem::db_bytes(3, 0, 64),
                AnyItem::area_bytes(s7::area::INPUTS, 0, 8),
                AnyItem::area_bytes(s7::area::OUTPUTS, 0, 8),
            ],
        );
    }
    t2.note(
        a,
        "HMI 10.10.2.21 connects to PLC 10.10.1.11 and reads DB3 (64 bytes), IB0 and QB0 (8 bytes each) every second",
    );
    let mut t3 = Trace::at(LinkType::Ethernet, 20_000);
    let mut es = Session::new(ES, 50_113, PLC1, 0xE3);
    let a = t3.next_no();
    es.connect(&mut t3, 1);
    es.szl_0011(&mut t3);
    es.clock_read(&mut t3);
    t3.wait_ms(300);
    es.close_dr(&mut t3);
    t3.note(a, "at 20 s the engineering station 10.10.3.30 connects to PLC 10.10.1.10, reads SZL 0x0011 and the clock, and disconnects (DR/DC, FIN)");
    let tr = Trace::merge(vec![t1, t2, t3]);
    finish("benign_plant", &tr, Format::CLASSIC, Texts {
        what: "normal plant for ~60 s: two HMIs polling two PLCs with sane sizes, one engineering-station diagnostic visit",
        expected: "no alert: all requests answered within a few ms, PDU/AmQ within negotiated limits, no engineering action from a non-engineering host",
        tshark: CLEAN_S7,
    })
}
