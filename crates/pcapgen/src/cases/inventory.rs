//! Inventory cases (issue 6): PLCs that identify themselves (SZL 0x0011 / 0x001C,
//! S7comm-plus CreateObject answers), a firmware change across a restart, and new
//! talkers and functions after a learning period.
//!
//! The order numbers and firmware versions are chosen against the CSAF advisories in
//! `../shared/csaf/`: 6ES7 511-1AK02-0AB0 V2.9.2 is affected (ICSA-23-348-09 names all
//! versions of it; ICSA-22-041-01 the S7-1500 family from V2.9.2 below V2.9.4;
//! ICSA-23-257-01 below V2.9.7), 6ES7 511-1AL03-0AB0 V3.1.0 is the fixed V3-hardware
//! CPU (ICSA-23-348-09 below V3.1.0, ICSA-23-257-01 below V3.0.3), the S7-300
//! 6ES7 315-2EH14-0AB0 V3.2.17 is below the V3.2.19 fix of ICSA-22-104-06, and the
//! S7-1200 6ES7 214-1AG40-0XB0 V4.4 is below the V4.5.2 fix of ICSA-22-041-01.

use super::hosts::{ES, HMI, HMI2, PLC1, PLC2, PLC3, PLC4};
use super::session::{Session, POLL_ITEMS};
use super::{finish, Builder, Case, Texts};
use crate::pcap::{Format, LinkType};
use crate::s7::{self, block};
use crate::s7plus;
use crate::trace::{Dir, Trace};

/// The inventory cases, in index order.
pub const CASES: &[(&str, Builder)] = &[
    ("inventory_fleet", inventory_fleet),
    ("inventory_firmware_change", inventory_firmware_change),
    ("inventory_new_talker", inventory_new_talker),
];

const CLEAN: &str = "decodes every S7comm frame with no malformed marker (the S7comm-plus frames show as COTP data: no S7comm-plus dissector in 4.0.17); the two-unit SZL 0x001C answer is reassembled in the closing unit.";

/// The S7-1500 CPU 1511-1 PN with an affected firmware.
const CPU_1511_OLD: &str = "6ES7 511-1AK02-0AB0";
/// The S7-1500 CPU 1511-1 PN (V3 hardware) with a fixed firmware.
const CPU_1511_NEW: &str = "6ES7 511-1AL03-0AB0";
/// The S7-300 CPU 315-2 PN/DP.
const CPU_315: &str = "6ES7 315-2EH14-0AB0";
/// How the S7-1200 names itself in its CreateObject answer.
const CPU_1214_IDENT: &str = "1;6ES7 214-1AG40-0XB0 ;V4.4";

/// SZL 0x001C records: 1 station, 2 module, 3 plant, 4 copyright, 5 serial, 7 module type,
/// plus (with `long`) 8 memory card serial and the empty 9, 10, 11 of an S7-300.
fn components(station: &str, module: &str, plant: &str, serial: &str, type_name: &str, long: bool) -> Vec<Vec<u8>> {
    let mut v = s7::szl_001c_records(station, module, plant, serial, type_name);
    if long {
        for (idx, text) in [(8u16, "MMC 2B7F31C9"), (9, ""), (10, ""), (11, "")] {
            let mut r = idx.to_be_bytes().to_vec();
            let mut t = text.as_bytes().to_vec();
            t.resize(32, 0);
            r.extend(t);
            v.push(r);
        }
    }
    v
}

/// HMI visit of one S7comm PLC: handshake, CR/CC to rack 0 / `slot`, setup, SZL 0x0011
/// and 0x001C, `polls` read cycles (a write every fifth), DR/DC and FIN.
#[allow(clippy::too_many_arguments)]
fn hmi_visit(
    tr: &mut Trace,
    s: &mut Session,
    slot: u8,
    pdu: u16,
    order: &str,
    fw: (u8, u8, u8),
    comps: &[Vec<u8>],
    split: Option<usize>,
    polls: usize,
) {
    let (c, p) = (s.c.client, s.c.server);
    let a = tr.next_no();
    s.handshake(tr);
    s.cotp_connect_slot(tr, 2, 0, slot);
    s.setup_ask(tr, (1, 1, 960), (1, 1, pdu));
    tr.note(a, format!("HMI {c} → PLC {p}: TCP handshake, COTP CR/CC (called TSAP 02 0{slot}: rack 0, slot {slot}), Setup Communication (PDU {pdu} granted)"));
    let a = tr.next_no();
    s.szl_0011_as(tr, order, fw);
    tr.note(a, format!("Read SZL 0x0011 and its answer: order number {order}, firmware V{}.{}.{}", fw.0, fw.1, fw.2));
    let a = tr.next_no();
    s.szl_001c_as(tr, comps, split);
    let how = if split.is_some() {
        "answered in two data units (first unit \"last data unit: no\", the HMI's follow-up request, closing unit)"
    } else {
        "answered in one unit"
    };
    tr.note(a, format!("Read SZL 0x001C (component identification), {how}"));
    let a = tr.next_no();
    for i in 0..polls {
        tr.wait_ms(100);
        s.poll(tr, i);
    }
    tr.note(a, format!("{polls} poll cycles (Read Var DB1.DBB0 + MB0, a Write Var DB1.DBW4 in the fifth)"));
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_dr(tr);
    tr.note(a, "COTP DR/DC and TCP FIN close");
}

fn inventory_fleet() -> Case {
    // PLC A: S7-1500 CPU 1511-1 PN, affected firmware V2.9.2.
    let mut ta = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49401, PLC1, 0xE1);
    let comps = components("S7-1500 station_1", "PLC_A1", "Line 1 / Press", "S V-K1A234562019", "CPU 1511-1 PN", false);
    hmi_visit(&mut ta, &mut s, 1, 960, CPU_1511_OLD, (2, 9, 2), &comps, None, 5);

    // PLC B: S7-1500 CPU 1511-1 PN (V3 hardware), fixed firmware V3.1.0.
    let mut tb = Trace::at(LinkType::Ethernet, 400);
    let mut s = Session::new(HMI, 49402, PLC2, 0xE2);
    let comps = components("S7-1500 station_2", "PLC_B1", "Line 2 / Oven", "S V-P7B987652023", "CPU 1511-1 PN", false);
    hmi_visit(&mut tb, &mut s, 1, 960, CPU_1511_NEW, (3, 1, 0), &comps, None, 5);

    // PLC C: S7-300 CPU 315-2 PN/DP, PDU 240, the long 0x001C list in two units.
    let mut tc = Trace::at(LinkType::Ethernet, 800);
    let mut s = Session::new(HMI, 49403, PLC3, 0xE3);
    let comps =
        components("S7300/ET200M station_1", "PLC_C1", "Utilities", "S C-H4K558212011", "CPU 315-2 PN/DP", true);
    hmi_visit(&mut tc, &mut s, 2, 240, CPU_315, (3, 2, 17), &comps, Some(214), 5);

    // PLC D: S7-1200 over S7comm-plus.
    let mut td = Trace::at(LinkType::Ethernet, 1_200);
    let mut s = Session::new(HMI, 49404, PLC4, 0xE4);
    let a = td.next_no();
    s.open_plus(&mut td, "SIMATIC-ROOT-HMI");
    td.note(a, "HMI 10.10.2.20 → PLC 10.10.1.13: TCP handshake, COTP CR (called TSAP \"SIMATIC-ROOT-HMI\") and CC");
    let a = td.next_no();
    s.create_object_ident(&mut td, "HMI-PANEL-01", CPU_1214_IDENT);
    td.note(a, format!("S7comm-plus CreateObject and its answer naming the CPU: attribute 319 \"{CPU_1214_IDENT}\""));
    let a = td.next_no();
    for i in 0..3u16 {
        td.wait_ms(100);
        let seq = s.next_plus_seq();
        let (d1, d2) = (s.digest(), s.digest());
        let req = s7plus::get_multi_v3_req(seq, s.plus_session, &d1, &[(0x8A0E_0001, 0)]);
        let resp = s7plus::get_multi_v3_resp(seq, &d2, &[100 + i]);
        s.xchg(&mut td, &req, &resp);
    }
    td.note(a, "three V3 GetMultiVariables and their answers");
    let a = td.next_no();
    td.wait_ms(100);
    let seq = s.next_plus_seq();
    let (d1, d2, sess) = (s.digest(), s.digest(), s.plus_session);
    s.xchg(&mut td, &s7plus::delete_object_req(seq, sess, &d1), &s7plus::delete_object_resp(seq, &d2));
    s.close_fin(&mut td);
    td.note(a, "DeleteObject of the session, TCP FIN close");

    // The engineering station downloads FC 10 to the S7-300.
    let mut te = Trace::at(LinkType::Ethernet, 2_000);
    let mut s = Session::new(ES, 50401, PLC3, 0xE5);
    let a = te.next_no();
    s.handshake(&mut te);
    s.cotp_connect_slot(&mut te, 1, 0, 2);
    s.setup_ask(&mut te, (1, 1, 480), (1, 1, 240));
    te.note(a, "engineering station 10.10.3.30 → PLC 10.10.1.12: TCP handshake, COTP CR/CC (PG TSAP 01 02), Setup Communication (PDU 240)");
    let a = te.next_no();
    s.szl_0011_as(&mut te, CPU_315, (3, 2, 17));
    te.note(a, "Read SZL 0x0011 (same module identification as the HMI saw)");
    let file = s7::block_file(block::FC, 10, 'P');
    let a = te.next_no();
    te.wait_ms(100);
    s.job(&mut te, &s7::request_download_param(&file, 160, 64), &[0x1A]);
    for i in 0..2 {
        let r = s.plc_ref;
        s.plc_ref += 1;
        let d = s.delay();
        te.wait_us(d);
        s.c.send(&mut te, Dir::S2C, &s7::job(r, &s7::download_block_param(&file), &[]));
        te.wait_us(800);
        let bytes = s.values(80);
        s.c.send(
            &mut te,
            Dir::C2S,
            &s7::ack_data(r, &[0x1B, if i == 0 { 0x01 } else { 0x00 }], &s7::block_data(&bytes)),
        );
    }
    let r = s.plc_ref;
    s.plc_ref += 1;
    te.wait_us(900);
    s.c.send(&mut te, Dir::S2C, &s7::job(r, &s7::download_ended_param(&file), &[]));
    te.wait_us(800);
    s.c.send(&mut te, Dir::C2S, &s7::ack_data(r, &[0x1C], &[]));
    te.note(a, "block download of FC 10: Request Download (0x1A) and Ack_Data, two Download Block (0x1B) jobs from the PLC answered with 80 bytes each, Download Ended (0x1C)");
    let a = te.next_no();
    te.wait_ms(100);
    s.job(&mut te, &s7::pi_param(&s7::pi_blocks_arg(&[(block::FC, 10)]), b"_INSE"), &[0x28]);
    te.note(a, "PI-Service _INSE activating FC 10 and its Ack_Data");
    let a = te.next_no();
    te.wait_ms(100);
    s.close_dr(&mut te);
    te.note(a, "COTP DR/DC and TCP FIN close");

    let tr = Trace::merge(vec![ta, tb, tc, td, te]);
    finish(
        "inventory_fleet",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "four PLCs identify themselves to an HMI: S7-1500 6ES7 511-1AK02-0AB0 V2.9.2 (affected), 6ES7 511-1AL03-0AB0 V3.1.0 (fixed), S7-300 6ES7 315-2EH14-0AB0 V3.2.17 (two-unit SZL 0x001C), S7-1200 6ES7 214-1AG40-0XB0 V4.4 (S7comm-plus); the engineering station downloads FC 10 to the S7-300",
            expected: "replayed with asset tracking on (tests/golden_cases.toml): PLCs 10.10.1.10-13 with those order numbers, firmware, serials and TSAPs; HMI 10.10.2.20 (role hmi: setup, SZL, read, write, S7comm-plus get/set), engineering station 10.10.3.30 (block download, PI service); alerts: the download and _INSE as control_operation (info) from the configured engineering station, nothing else",
            tshark: CLEAN,
        },
    )
}

fn inventory_firmware_change() -> Case {
    // The HMI reads the identity, leaves; the ES stops and restarts the CPU (after a
    // firmware update done offline); the HMI comes back and reads the new identity.
    let comps = components("S7-1500 station_1", "PLC_A1", "Line 1 / Press", "S V-K1A234562019", "CPU 1511-1 PN", false);
    let mut t1 = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49411, PLC1, 0xE6);
    hmi_visit(&mut t1, &mut s, 1, 960, CPU_1511_OLD, (2, 9, 2), &comps, None, 5);

    let mut t2 = Trace::at(LinkType::Ethernet, 2_000);
    let mut s = Session::new(ES, 50411, PLC1, 0xE7);
    let a = t2.next_no();
    s.handshake(&mut t2);
    s.cotp_connect_slot(&mut t2, 1, 0, 1);
    s.setup_ask(&mut t2, (1, 1, 480), (1, 1, 480));
    t2.note(a, "engineering station 10.10.3.30 → PLC 10.10.1.10: TCP handshake, COTP CR/CC (PG TSAP 01 01), Setup Communication");
    let a = t2.next_no();
    t2.wait_ms(100);
    s.job(&mut t2, &s7::plc_stop_param(), &[0x29]);
    t2.note(a, "PLC Stop (0x29 P_PROGRAM) and its success Ack_Data");
    let a = t2.next_no();
    t2.wait_ms(6_000);
    s.job(&mut t2, &s7::pi_param(&[], b"P_PROGRAM"), &[0x28]);
    t2.note(a, "6 s later (the firmware was updated meanwhile): PI-Service P_PROGRAM (start) and its success Ack_Data");
    let a = t2.next_no();
    t2.wait_ms(100);
    s.close_dr(&mut t2);
    t2.note(a, "COTP DR/DC and TCP FIN close");

    let mut t3 = Trace::at(LinkType::Ethernet, 10_000);
    let mut s = Session::new(HMI, 49412, PLC1, 0xE8);
    hmi_visit(&mut t3, &mut s, 1, 960, CPU_1511_OLD, (2, 9, 4), &comps, None, 5);

    let tr = Trace::merge(vec![t1, t2, t3]);
    finish(
        "inventory_firmware_change",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "PLC 10.10.1.10 (6ES7 511-1AK02-0AB0) reports firmware V2.9.2 to the HMI, the engineering station stops and restarts it, and it then reports V2.9.4 (same serial)",
            expected: "CPU STOP and START from the configured engineering station as control_operation (info), both confirmed (the inventory records them as state changes by 10.10.3.30); with asset tracking on (tests/golden_cases.toml), baseline.asset_change (high) on the SZL 0x0011 answer carrying V2.9.4: firmware V2.9.2 → V2.9.4",
            tshark: CLEAN,
        },
    )
}

fn inventory_new_talker() -> Case {
    // Baseline: the HMI polls PLC1 for 30 s (setup, SZL 0x0011, read, write).
    let mut t1 = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49421, PLC1, 0xE9);
    let a = t1.next_no();
    h.handshake(&mut t1);
    h.cotp_connect_slot(&mut t1, 2, 0, 1);
    h.setup(&mut t1, 1, 480);
    h.szl_0011_as(&mut t1, CPU_1511_OLD, (2, 9, 2));
    t1.note(a, "HMI 10.10.2.20 → PLC 10.10.1.10: TCP handshake, COTP CR/CC, Setup Communication, Read SZL 0x0011");
    let a = t1.next_no();
    for i in 0..25 {
        t1.wait_ms(1_000);
        h.poll(&mut t1, i);
    }
    t1.note(a, "25 poll cycles, one per second (Read Var; Write Var DB1.DBW4 every fifth): the learned baseline");
    let a = t1.next_no();
    t1.wait_ms(500);
    h.clock_read(&mut t1);
    t1.note(a, "at 25.6 s, after the baseline froze at 20 s: the HMI reads the PLC clock (a function it never used)");
    let a = t1.next_no();
    t1.wait_ms(200);
    let (r, q) = (h.next_ref(), h.next_seq());
    let time = s7::s7_time(2026, 1, 1, 0, 0, 26, 700, 5);
    h.xchg(&mut t1, &s7::clock_set_req(r, q, &time), &s7::clock_set_resp(r, q));
    t1.note(a, "then sets it (set clock, a control function it never used) and the PLC confirms");
    let a = t1.next_no();
    for i in 25..29 {
        t1.wait_ms(1_000);
        h.poll(&mut t1, i);
    }
    t1.wait_ms(100);
    h.close_dr(&mut t1);
    t1.note(a, "four more poll cycles, then COTP DR/DC and TCP FIN close");

    // After the baseline froze: a host never seen reads from PLC1.
    let mut t2 = Trace::at(LinkType::Ethernet, 23_000);
    let mut s = Session::new(HMI2, 49422, PLC1, 0xEA);
    let a = t2.next_no();
    s.handshake(&mut t2);
    s.cotp_connect_slot(&mut t2, 2, 0, 1);
    s.setup(&mut t2, 1, 480);
    t2.note(
        a,
        "at 23 s: host 10.10.2.21, never seen before, → PLC 10.10.1.10: TCP handshake, COTP CR/CC, Setup Communication",
    );
    let a = t2.next_no();
    for _ in 0..3 {
        t2.wait_ms(200);
        s.read(&mut t2, &POLL_ITEMS);
    }
    t2.wait_ms(100);
    s.close_dr(&mut t2);
    t2.note(a, "three Read Var jobs and answers, COTP DR/DC, TCP FIN close");

    // The known HMI opens a connection to a PLC that was not in the baseline.
    let mut t3 = Trace::at(LinkType::Ethernet, 28_000);
    let mut s = Session::new(HMI, 49423, PLC2, 0xEB);
    let a = t3.next_no();
    s.handshake(&mut t3);
    s.cotp_connect_slot(&mut t3, 2, 0, 1);
    s.setup(&mut t3, 1, 480);
    s.read(&mut t3, &POLL_ITEMS);
    t3.wait_ms(100);
    s.close_dr(&mut t3);
    t3.note(a, "at 28 s: HMI 10.10.2.20 → PLC 10.10.1.11 (never seen answering before): handshake, CR/CC, setup, one Read Var, DR/DC, FIN close");

    let tr = Trace::merge(vec![t1, t2, t3]);
    finish(
        "inventory_new_talker",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "learn-then-enforce: the HMI polls PLC 10.10.1.10 (baseline learned for 20 s), then a new host reads from it, the HMI reads and sets the PLC clock, and the HMI connects to a PLC never seen",
            expected: "replayed with asset tracking and a 20 s learning period (tests/golden_cases.toml), the baseline freezes at 20 s; then baseline.new_talker (high) for 10.10.2.21 → 10.10.1.10; baseline.new_function clock_read (low) and clock_set (high) for the HMI, besides control.clock_set (unauthorized_control, medium); baseline.new_talker graded medium for the new PLC 10.10.1.11",
            tshark: "decodes every frame as TPKT/COTP/S7comm with no malformed marker.",
        },
    )
}
