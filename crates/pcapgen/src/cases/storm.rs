//! Request storms judged over time (issue 12, detection error 3): a write flood
//! below the one-second threshold held for a minute, a benchmark's short peak, a
//! talker writing ten times its learned rate, and fast but steady HMI polling.

use super::hosts::{ATTACKER, HMI, HMI2, PLC1};
use super::session::{Session, POLL_ITEMS};
use super::{finish, Builder, Case, Texts};
use crate::pcap::{Format, LinkType};
use crate::s7::{area, AnyItem};
use crate::trace::{Trace, START_NS};

/// The storm cases, in index order.
pub const CASES: &[(&str, Builder)] = &[
    ("attack_write_flood_sustained", attack_write_flood_sustained),
    ("benign_write_burst", benign_write_burst),
    ("attack_write_above_learned", attack_write_above_learned),
    ("benign_hmi_fast_polling", benign_hmi_fast_polling),
];

const CLEAN_S7: &str = "decodes every frame as TPKT/COTP/S7comm with no malformed marker.";

/// `rate` exchanges per second for `secs` seconds starting at `at_ns` (packet time):
/// exchange `i` starts at `at_ns + i / rate` s (or when the previous one ended).
pub fn paced(tr: &mut Trace, at_ns: u64, rate: u64, secs: u64, mut f: impl FnMut(&mut Trace, u64)) {
    let period = 1_000_000_000 / rate.max(1);
    for i in 0..rate * secs {
        let target = at_ns + i * period;
        if tr.now_ns < target {
            tr.now_ns = target;
        }
        f(tr, i);
    }
}

/// A session whose PLC answers within 0.3–0.9 ms (fast enough for 240 jobs/s).
fn fast(client: std::net::IpAddr, port: u16, seed: u64) -> Session {
    let mut s = Session::new(client, port, PLC1, seed);
    s.delay_us = (300, 900);
    s
}

/// The HMI polling PLC1 every 250 ms for `secs` seconds from time 0.
fn hmi_polling(secs: u64, seed: u64) -> Trace {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut h = fast(HMI, 49_220, seed);
    let a = t.next_no();
    h.connect(&mut t, 2);
    paced(&mut t, START_NS + 100_000_000, 4, secs, |t, i| h.poll(t, i as usize));
    t.note(a, format!("background: HMI 10.10.2.20 connects to PLC 10.10.1.10 and polls it every 250 ms for {secs} s (Read Var, Write Var every fifth cycle)"));
    t
}

fn attack_write_flood_sustained() -> Case {
    let bg = hmi_polling(26, 0x5701);
    let mut t = Trace::at(LinkType::Ethernet, 1_000);
    let mut s = fast(ATTACKER, 43_400, 0x5702);
    let a = t.next_no();
    s.connect(&mut t, 1);
    t.note(a, "unknown host 10.10.9.99: handshake, CR/CC, Setup Communication");
    let a = t.next_no();
    let v = [0x00, 0x2A];
    paced(&mut t, START_NS + 2_000_000_000, 200, 22, |t, _| s.write(t, &[AnyItem::db_word(1, 4)], &[&v]));
    t.note(a, "4 400 Write Var jobs DB1.DBW4 := 0x002A, 200 per second for 22 s, each answered (slower than the benchmark twin's 240/s: only the duration tells them apart)");
    let a = t.next_no();
    t.wait_ms(50);
    s.close_fin(&mut t);
    t.note(a, "FIN close");
    let tr = Trace::merge(vec![bg, t]);
    finish("attack_write_flood_sustained", &tr, Format::CLASSIC, Texts {
        what: "unknown host writing the same value to DB1.DBW4 200 times a second for 22 s beside HMI polling",
        expected: "one flood.requests (high) 20 s into the flood: basis repetition, class write, window_s 20, rate 200, distinct_items 1 (below the one-second threshold of 300 writes/s, which stays quiet); nothing about the HMI",
        tshark: CLEAN_S7,
    })
}

/// Benign twin of `attack_write_flood_sustained`, shaped like the public libnodave
/// benchmark capture (wireshark-wiki `s7comm_varservice_libnodavedemo_bench`): 240
/// reads/s for 12 s (10 s here, to keep the bundled capture under 1 MB), then the same item and value written 240 times a second for 9 s
/// (243 in its busiest second).
fn benign_write_burst() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = fast(HMI2, 49_400, 0x5703);
    let a = t.next_no();
    s.connect(&mut t, 1);
    t.note(a, "benchmark client 10.10.2.21: handshake, CR/CC, Setup Communication");
    let a = t.next_no();
    paced(&mut t, START_NS + 500_000_000, 240, 10, |t, _| s.read(t, &[AnyItem::db_bytes(1, 0, 4)]));
    t.note(a, "read benchmark: 2 400 Read Var DB1.DBB0 x4, 240 per second for 10 s");
    let a = t.next_no();
    let v = [0x3B];
    let item = AnyItem::area_bytes(area::FLAGS, 0, 1);
    let mut at = START_NS + 12_800_000_000;
    for (rate, secs) in [(240, 4), (243, 1), (240, 4)] {
        paced(&mut t, at, rate, secs, |t, _| s.write(t, &[item], &[&v]));
        at += secs * 1_000_000_000;
    }
    t.note(a, "write benchmark: 2 163 Write Var MB0 := 0x3B (the same item and value every time), 240 per second for 9 s, 243 in the fifth second");
    let a = t.next_no();
    t.wait_ms(100);
    s.close_dr(&mut t);
    t.note(a, "DR/DC and FIN close");
    finish("benign_write_burst", &t, Format::CLASSIC, Texts {
        what: "libnodave-benchmark-like client: 240 reads/s for 10 s, then the same write 240 times a second for 9 s (243 at the peak)",
        expected: "no alert: 243 writes/s is below the one-second threshold (300), and 9 s of writes (or 10 s of reads) is not a storm (storm_seconds 20)",
        tshark: CLEAN_S7,
    })
}

fn attack_write_above_learned() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = fast(HMI2, 49_600, 0x5704);
    let a = t.next_no();
    s.connect(&mut t, 2);
    t.note(a, "HMI 10.10.2.21: handshake, CR/CC, Setup Communication");
    let a = t.next_no();
    paced(&mut t, START_NS + 200_000_000, 15, 31, |t, i| {
        if i % 3 == 0 {
            let v = (i as u16).to_be_bytes();
            s.write(t, &[AnyItem::db_word(1, 8)], &[&v]);
        } else {
            s.read(t, &POLL_ITEMS);
        }
    });
    t.note(a, "31 s of polling, 15 jobs per second: 10 Read Var and 5 Write Var DB1.DBW8 each second (the baseline learns the first 30 s)");
    let a = t.next_no();
    paced(&mut t, START_NS + 32_000_000_000, 50, 22, |t, i| {
        let v = (i as u16).to_be_bytes();
        s.write(t, &[AnyItem::db_word(1, 8 + (i as u32 % 4) * 2)], &[&v]);
    });
    t.note(a, "after the freeze: 1 100 Write Var jobs to DB1.DBW8..DBW14 with changing values, 50 per second (10 times the learned rate) for 22 s");
    let a = t.next_no();
    t.wait_ms(100);
    s.close_dr(&mut t);
    t.note(a, "DR/DC and FIN close");
    finish("attack_write_above_learned", &t, Format::CLASSIC, Texts {
        what: "a talker writing 5 times a second while the baseline learns (30 s), then 50 times a second for 22 s",
        expected: "with a 30 s learning period (tests/golden_cases.toml): one flood.requests (high) 20 s into the fast writes, basis learned_rate, learned_rate 5, threshold 20 (4 x 5, at least 20), rate 50; without a baseline nothing (50/s is below the plant default of 100 writes/s held, and 4 distinct items and changing values are not repetition)",
        tshark: CLEAN_S7,
    })
}

fn benign_hmi_fast_polling() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = fast(HMI, 49_500, 0x5705);
    let a = t.next_no();
    s.connect(&mut t, 2);
    t.note(a, "HMI 10.10.2.20: handshake, CR/CC, Setup Communication");
    let a = t.next_no();
    paced(&mut t, START_NS + 500_000_000, 100, 24, |t, _| s.read(t, &POLL_ITEMS));
    t.note(a, "2 400 Read Var jobs (DB1.DBB0 x32, MB0 x4), 100 per second for 24 s (longer than storm_seconds), each answered");
    let a = t.next_no();
    t.wait_ms(100);
    s.close_dr(&mut t);
    t.note(a, "DR/DC and FIN close");
    finish(
        "benign_hmi_fast_polling",
        &t,
        Format::CLASSIC,
        Texts {
            what: "an HMI polling at a steady 100 reads per second for 24 s",
            expected: "no alert: 100 reads/s held is a quarter of the plant default for read storms (400/s)",
            tshark: CLEAN_S7,
        },
    )
}
