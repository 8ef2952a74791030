//! Detector policy cases (issue 12, detection error 5): structural quirks of
//! benign clients silenced per host by the configuration (`[[policy]]`), or
//! learned per talker during the baseline's learning period.

use super::hosts::{ATTACKER, HMI, HMI2, HMI3, PLC1};
use super::session::{Session, POLL_ITEMS};
use super::{finish, Builder, Case, Texts};
use crate::pcap::{Format, LinkType};
use crate::s7;
use crate::trace::Trace;

/// The policy cases, in index order.
pub const CASES: &[(&str, Builder)] =
    &[("detector_policy_quirk", detector_policy_quirk), ("detector_learned_quirk", detector_learned_quirk)];

/// COTP DR from the client with one trailing byte after its fixed part (what two
/// widely used client libraries send on every disconnect), the PLC's DC, TCP FIN close.
fn close_dr_trailing(s: &mut Session, tr: &mut Trace) {
    let dr = s7::dr(s.cotp_plc, s.cotp_client, 0x80, &[], &[0x00]);
    let dc = s7::dc(s.cotp_client, s.cotp_plc);
    s.xchg(tr, &dr, &dc);
    s.close_fin(tr);
}

/// A Read Var job whose parameter is the function code alone (no item count byte),
/// answered by the PLC with an Ack_Data error.
fn read_var_without_count(s: &mut Session, tr: &mut Trace) {
    let r = s.next_ref();
    s.xchg(tr, &s7::job(r, &[0x04], &[]), &s7::ack_data_err(r, 0x85, 0x00, &[0x04, 0x00], &[]));
}

/// A polling session: handshake, CR/CC, setup, `polls` Read Var cycles 200 ms apart.
fn poll_session(tr: &mut Trace, s: &mut Session, polls: usize) {
    s.open(tr, 2);
    s.setup(tr, 1, 480);
    for _ in 0..polls {
        tr.wait_ms(200);
        s.read(tr, &POLL_ITEMS);
    }
    tr.wait_ms(100);
}

fn detector_policy_quirk() -> Case {
    let mut t1 = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49_611, PLC1, 0x5101);
    let a = t1.next_no();
    poll_session(&mut t1, &mut s, 3);
    close_dr_trailing(&mut s, &mut t1);
    t1.note(a, "HMI 10.10.2.20 → PLC 10.10.1.10: handshake, CR/CC, setup, three Read Var, then a COTP DR with one trailing byte (its library's habit), DC, FIN close");

    let mut t2 = Trace::at(LinkType::Ethernet, 2_000);
    let mut s = Session::new(HMI2, 49_612, PLC1, 0x5102);
    let a = t2.next_no();
    poll_session(&mut t2, &mut s, 1);
    read_var_without_count(&mut s, &mut t2);
    t2.wait_ms(100);
    s.close_dr(&mut t2);
    t2.note(a, "at 2 s: HMI 10.10.2.21 → PLC: handshake, CR/CC, setup, one Read Var, then a Read Var job with no item count byte (answered with an error), DR/DC, FIN close");

    let mut t3 = Trace::at(LinkType::Ethernet, 4_000);
    let mut s = Session::new(HMI3, 49_613, PLC1, 0x5103);
    let a = t3.next_no();
    poll_session(&mut t3, &mut s, 1);
    close_dr_trailing(&mut s, &mut t3);
    t3.note(a, "at 4 s: HMI 10.10.2.22 → PLC: the same DR with one trailing byte, from a host no policy names");

    let mut t4 = Trace::at(LinkType::Ethernet, 6_000);
    let mut s = Session::new(ATTACKER, 40_611, PLC1, 0x5104);
    let a = t4.next_no();
    s.open(&mut t4, 1);
    s.setup(&mut t4, 1, 480);
    t4.wait_ms(100);
    s.job(&mut t4, &s7::plc_stop_param(), &[0x29]);
    t4.wait_ms(100);
    close_dr_trailing(&mut s, &mut t4);
    t4.note(a, "at 6 s: 10.10.9.99 (a pen-test box every structural alert of which a broad policy suppresses) → PLC: CPU STOP (answered), then the DR with one trailing byte");

    let tr = Trace::merge(vec![t1, t2, t3, t4]);
    finish(
        "detector_policy_quirk",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "per-host policy: a client library's DR quirk suppressed for one HMI, a Read Var without item count regraded for another, the same quirk from an unnamed host still alerting, and a broad suppress that cannot silence a CPU STOP",
            expected: "replayed with tests/golden_policy.toml (tests/golden_cases.toml): no crash_pattern.cotp_dr for 10.10.2.20 (suppressed) nor for 10.10.9.99 (suppressed by its `rule = \"*\"` entry); the Read Var without item count from 10.10.2.21 regraded to low; crash_pattern.cotp_dr high for 10.10.2.22; control.cpu_stop critical for 10.10.9.99 (a broad pattern never touches control rules)",
            tshark: "decodes every S7comm frame; the Read Var job without item count is flagged malformed; the DRs' trailing byte is not flagged.",
        },
    )
}

fn detector_learned_quirk() -> Case {
    // During learning (the first 20 s): the quirks are shown and recorded.
    let mut t1 = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49_621, PLC1, 0x5201);
    let a = t1.next_no();
    poll_session(&mut t1, &mut s, 3);
    close_dr_trailing(&mut s, &mut t1);
    t1.note(a, "learning: HMI 10.10.2.20 → PLC 10.10.1.10 polls and disconnects with a COTP DR with one trailing byte");

    let mut t2 = Trace::at(LinkType::Ethernet, 2_000);
    let mut s = Session::new(HMI2, 49_622, PLC1, 0x5202);
    let a = t2.next_no();
    poll_session(&mut t2, &mut s, 1);
    read_var_without_count(&mut s, &mut t2);
    t2.wait_ms(100);
    s.close_dr(&mut t2);
    t2.note(a, "learning, at 2 s: HMI 10.10.2.21 polls and sends a Read Var job without item count, DR/DC");

    let mut t3 = Trace::at(LinkType::Ethernet, 4_000);
    let mut s = Session::new(HMI3, 49_623, PLC1, 0x5203);
    let a = t3.next_no();
    poll_session(&mut t3, &mut s, 2);
    s.close_dr(&mut t3);
    t3.note(a, "learning, at 4 s: HMI 10.10.2.22 polls and disconnects cleanly (known talker, no quirk)");

    // After the freeze at 20 s, and after the 60 s aggregation windows of the first
    // alerts closed (so each alert below is a first occurrence, not a follow-up):
    // the same quirks again, and from a third talker.
    let mut t4 = Trace::at(LinkType::Ethernet, 75_000);
    let mut s = Session::new(HMI, 49_624, PLC1, 0x5204);
    let a = t4.next_no();
    poll_session(&mut t4, &mut s, 2);
    close_dr_trailing(&mut s, &mut t4);
    t4.note(a, "at 75 s, after the freeze (and after the 60 s aggregation window of the first alerts): HMI 10.10.2.20 reconnects, polls and disconnects with the same DR quirk");

    let mut t5 = Trace::at(LinkType::Ethernet, 77_000);
    let mut s = Session::new(HMI2, 49_625, PLC1, 0x5205);
    let a = t5.next_no();
    poll_session(&mut t5, &mut s, 1);
    read_var_without_count(&mut s, &mut t5);
    t5.wait_ms(100);
    s.close_dr(&mut t5);
    t5.note(a, "at 77 s: HMI 10.10.2.21 again sends a Read Var job without item count");

    let mut t6 = Trace::at(LinkType::Ethernet, 79_000);
    let mut s = Session::new(HMI3, 49_626, PLC1, 0x5206);
    let a = t6.next_no();
    poll_session(&mut t6, &mut s, 1);
    close_dr_trailing(&mut s, &mut t6);
    t6.note(a, "at 79 s: HMI 10.10.2.22, which never showed the quirk while learning, disconnects with the DR with one trailing byte");

    let tr = Trace::merge(vec![t1, t2, t3, t4, t5, t6]);
    finish(
        "detector_learned_quirk",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "learned quirks: two HMIs show client-library quirks (DR with one trailing byte, Read Var without item count) while the baseline learns; after the freeze their quirks are info, the same DR quirk from a third known HMI still alerts",
            expected: "replayed with asset tracking and a 20 s learning period (tests/golden_cases.toml): during learning crash_pattern.cotp_dr (high) for 10.10.2.20 and the Read Var alert for 10.10.2.21 at their rule severity; after the freeze the same alerts graded info (evidence learned_quirk) for those two talkers, and crash_pattern.cotp_dr high for 10.10.2.22",
            tshark: "decodes every S7comm frame; the Read Var jobs without item count are flagged malformed; the DRs' trailing byte is not flagged.",
        },
    )
}
