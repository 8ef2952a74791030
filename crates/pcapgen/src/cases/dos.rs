//! Resource-exhaustion floods, their busy-but-benign twin, and the loss-of-communication
//! cases (research note §5 C and D).

use super::hosts::{self, ATTACKER, HMI, HMI2, HMI3, PLC1};
use super::session::{Session, POLL_ITEMS};
use super::{finish, Builder, Case, Texts};
use crate::net;
use crate::pcap::{Format, LinkType};
use crate::rng::SplitMix64;
use crate::s7::{self, AnyItem};
use crate::trace::{Dir, TcpConn, Trace};

/// The flood and loss-of-communication cases, in index order.
pub const CASES: &[(&str, Builder)] = &[
    ("attack_syn_flood", attack_syn_flood),
    ("attack_conn_exhaustion", attack_conn_exhaustion),
    ("attack_setup_comm_flood", attack_setup_comm_flood),
    ("attack_amq_exceeded", attack_amq_exceeded),
    ("attack_write_flood", attack_write_flood),
    ("attack_rst_storm", attack_rst_storm),
    ("benign_busy_hmi", benign_busy_hmi),
    ("attack_plc_crash", attack_plc_crash),
    ("benign_plc_slow", benign_plc_slow),
    ("benign_hmi_stops", benign_hmi_stops),
    ("attack_s7_service_hang", attack_s7_service_hang),
    ("benign_hmi_reconnects", benign_hmi_reconnects),
    ("attack_amq_refused", attack_amq_refused),
    ("benign_amq_pipelining", benign_amq_pipelining),
    ("attack_mixed", attack_mixed),
];

const CLEAN_S7: &str = "decodes every frame as TPKT/COTP/S7comm with no malformed marker.";

/// Background HMI polling PLC1 every `period_ms` for `cycles` cycles, from time 0.
fn background(seed: u64, period_ms: u64, cycles: usize) -> Trace {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49220, PLC1, seed);
    let a = t.next_no();
    h.connect(&mut t, 2);
    for i in 0..cycles {
        t.wait_ms(period_ms);
        h.poll(&mut t, i);
    }
    t.note(
        a,
        format!("background: HMI 10.10.2.20 connects to PLC 10.10.1.10 and polls it every {period_ms} ms ({cycles} Read Var cycles, Write Var every fifth)"),
    );
    t
}

fn attack_syn_flood() -> Case {
    let bg = background(0xF1, 250, 16);
    let mut t = Trace::at(LinkType::Ethernet, 1_000);
    let mut rng = SplitMix64::new(0xF2);
    let a = t.next_no();
    let mut answered = 0;
    for i in 0..5000u32 {
        t.now_ns = crate::trace::START_NS + 1_000_000_000 + u64::from(i) * 400_000;
        let src = hosts::spoofed(rng.next_u32());
        let sport = rng.range(1024, 65535) as u16;
        let mut c = TcpConn::new(src, sport, PLC1, 102, rng.next_u32(), rng.next_u32());
        c.c_win = 512;
        c.syn(&mut t);
        if i < 2000 && i % 4 == 0 {
            t.wait_us(90);
            c.syn_ack(&mut t);
            answered += 1;
        }
    }
    t.note(
        a,
        format!(
            "SYN flood: 5000 SYNs to 10.10.1.10:102 from random spoofed sources in 198.18.0.0/15 within 2 s (one every 400 µs); \
             the PLC answers {answered} of them with SYN-ACK (every fourth SYN during the first 0.8 s, then none); no handshake completes"
        ),
    );
    let tr = Trace::merge(vec![bg, t]);
    finish("attack_syn_flood", &tr, Format::CLASSIC, Texts {
        what: "5000 spoofed SYNs to PLC:102 in 2 s, some SYN-ACKs, nothing completes",
        expected: "SYN-flood alert on 10.10.1.10:102 (5000 SYNs / 2 s from 4927 distinct sources, 500 answered with SYN-ACK and left half-open, 0 completed); the background HMI flow keeps working",
        tshark: "5000 TCP SYNs and 500 SYN-ACKs (no expert errors beyond the usual \"Connection establish request\" notes); the background S7comm decodes. No malformed marker.",
    })
}

fn attack_conn_exhaustion() -> Case {
    let bg = background(0xF3, 500, 10);
    let mut t = Trace::at(LinkType::Ethernet, 1_000);
    let mut rng = SplitMix64::new(0xF4);
    let a = t.next_no();
    for i in 0..64u16 {
        t.now_ns = crate::trace::START_NS + 1_000_000_000 + u64::from(i) * 46_000_000;
        let mut s = Session::new(ATTACKER, 42_000 + i, PLC1, rng.next_u64());
        s.open(&mut t, 1);
    }
    t.note(a, "one attacker (10.10.9.99) opens 64 TCP connections to 10.10.1.10:102 in 3 s (one every 46 ms), each with a COTP CR/CC, and never closes them");
    let tr = Trace::merge(vec![bg, t]);
    finish("attack_conn_exhaustion", &tr, Format::CLASSIC, Texts {
        what: "one attacker opens 64 COTP connections (TCP + CR/CC) in 3 s and keeps them open",
        expected: "connection-exhaustion alert (CVE-2018-13815 class): 64 concurrent COTP connections from 10.10.9.99 to 10.10.1.10 within 3 s, none used for S7 traffic",
        tshark: CLEAN_S7,
    })
}

fn attack_setup_comm_flood() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 43_000, PLC1, 0xF5);
    let a = tr.next_no();
    s.open(&mut tr, 1);
    tr.note(a, "attacker: handshake and CR/CC");
    let a = tr.next_no();
    s.delay_us = (500, 900);
    for _ in 0..150 {
        tr.wait_us(5_500);
        s.setup(&mut tr, 1, 480);
    }
    tr.note(a, "150 Setup Communication jobs on this one connection within 1 s, each answered");
    let mut rng = SplitMix64::new(0xF6);
    let a = tr.next_no();
    for i in 0..30u16 {
        let mut c = Session::new(ATTACKER, 43_100 + i, PLC1, rng.next_u64());
        c.delay_us = (500, 900);
        tr.wait_us(2_000);
        c.open(&mut tr, 1);
        for _ in 0..5 {
            tr.wait_us(1_500);
            c.setup(&mut tr, 1, 480);
        }
        c.c.rst(&mut tr, Dir::C2S);
    }
    tr.note(a, "30 further connections within the next ~1 s, each: handshake, CR/CC, 5 Setup Communication jobs answered, RST from the attacker (150 more jobs; 300 in total in about 2 s)");
    finish("attack_setup_comm_flood", &tr, Format::CLASSIC, Texts {
        what: "300 Setup Communication jobs in ~2 s: 150 on one connection, 150 over 30 short connections",
        expected: "setup-communication flood alert from 10.10.9.99 (300 setup jobs in ~2 s; repeated setup on an already set-up connection)",
        tshark: CLEAN_S7,
    })
}

fn attack_amq_exceeded() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 43_200, PLC1, 0xF7);
    let a = tr.next_no();
    s.connect(&mut tr, 1);
    tr.note(a, "attacker: handshake, CR/CC, Setup Communication negotiating AmQ calling 1 / called 1");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.read(&mut tr, &POLL_ITEMS);
    tr.note(a, "one normal Read Var and Ack_Data");
    let mut resps = Vec::new();
    let a = tr.next_no();
    tr.wait_ms(100);
    for _ in 0..8 {
        let (q, p) = s.read_frames(&POLL_ITEMS);
        s.send(&mut tr, &q);
        tr.wait_us(150);
        resps.push(p);
    }
    tr.note(a, "8 Read Var jobs sent back to back (one segment each, 150 µs apart) before any answer: 8 outstanding with AmQ 1");
    let a = tr.next_no();
    for p in resps {
        s.answer(&mut tr, &p);
    }
    tr.note(a, "the PLC answers them one after the other");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_fin(&mut tr);
    tr.note(a, "FIN close");
    finish(
        "attack_amq_exceeded",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "AmQ calling 1 negotiated, then 8 jobs in flight before any answer",
            expected:
                "AmQ-exceeded alert: 8 outstanding jobs on a flow whose negotiated AmQ is 1 (10.10.9.99 → 10.10.1.10)",
            tshark: CLEAN_S7,
        },
    )
}

fn attack_write_flood() -> Case {
    let bg = background(0xF8, 250, 14);
    let mut t = Trace::at(LinkType::Ethernet, 800);
    let mut s = Session::new(ATTACKER, 43_300, PLC1, 0xF9);
    s.delay_us = (700, 1_000);
    let a = t.next_no();
    s.connect(&mut t, 1);
    t.note(a, "second client 10.10.9.99: handshake, CR/CC, Setup Communication");
    let a = t.next_no();
    for _ in 0..500 {
        t.wait_us(1_100);
        let v = s.values(2);
        s.write(&mut t, &[AnyItem::db_word(1, 4)], &[&v]);
    }
    t.note(a, "500 Write Var DB1.DBW4 jobs with changing values in about 1 s, each answered");
    let a = t.next_no();
    t.wait_ms(50);
    s.close_fin(&mut t);
    t.note(a, "FIN close");
    let tr = Trace::merge(vec![bg, t]);
    finish("attack_write_flood", &tr, Format::CLASSIC, Texts {
        what: "HMI polling every 250 ms while a second client writes DB1.DBW4 500 times in ~1 s",
        expected: "write-flood alert: 500 writes to the same address DB1.DBW4 in ~1 s from 10.10.9.99 (the HMI's own writes, one every 1.25 s, stay below any threshold)",
        tshark: CLEAN_S7,
    })
}

fn attack_rst_storm() -> Case {
    let bg = background(0xFA, 250, 12);
    let mut t = Trace::at(LinkType::Ethernet, 500);
    let mut rng = SplitMix64::new(0xFB);
    let a = t.next_no();
    for i in 0..2000u32 {
        t.now_ns = crate::trace::START_NS + 500_000_000 + u64::from(i) * 1_000_000;
        let port = rng.range(49152, 65535) as u16;
        let c = TcpConn::new(HMI, port, PLC1, 102, rng.next_u32(), rng.next_u32());
        let d = if i % 2 == 0 { Dir::C2S } else { Dir::S2C };
        let seq = rng.next_u32();
        c.raw_segment(&mut t, d, seq, 0, net::RST, &[], 5);
    }
    t.note(a, "RST storm: 2000 RSTs in 2 s (one per ms) with random ports and sequence numbers, alternating spoofed 10.10.2.20 → 10.10.1.10:102 and spoofed 10.10.1.10:102 → 10.10.2.20");
    let tr = Trace::merge(vec![bg, t]);
    finish("attack_rst_storm", &tr, Format::CLASSIC, Texts {
        what: "2000 RSTs toward and from PLC:102 in 2 s while an HMI polls",
        expected: "RST-storm alert on 10.10.1.10:102 (2000 RSTs / 2 s, none matching the live flow's sequence space); the real HMI flow is not torn down",
        tshark: "2000 RST segments (\"Connection reset (RST)\" notes); the background S7comm decodes. No malformed marker.",
    })
}

fn benign_busy_hmi() -> Case {
    let mut parts = Vec::new();
    let hmis = [(HMI, 0xE5u64), (HMI2, 0xE6), (HMI3, 0xE7)];
    for (k, (ip, seed)) in hmis.iter().enumerate() {
        let mut t = Trace::at(LinkType::Ethernet, 37 * k as u64);
        let mut rng = SplitMix64::new(*seed);
        let a = t.next_no();
        for round in 0..3u16 {
            let mut s = Session::new(*ip, 49300 + 10 * k as u16 + round, PLC1, rng.next_u64());
            s.connect(&mut t, 2);
            for i in 0..195 {
                t.wait_ms(100);
                s.poll(&mut t, i);
            }
            t.wait_ms(100);
            s.close_dr(&mut t);
        }
        t.note(
            a,
            format!("HMI {ip} polls PLC 10.10.1.10 every 100 ms for 60 s (Read Var, Write Var every fifth cycle) and reconnects every ~20 s (DR/DC, FIN, new handshake, CR/CC, setup)"),
        );
        parts.push(t);
    }
    let tr = Trace::merge(parts);
    finish("benign_busy_hmi", &tr, Format::CLASSIC, Texts {
        what: "3 HMIs polling PLC 10.10.1.10 every 100 ms for 60 s with a reconnect every 20 s",
        expected: "no alert: ~36 jobs/s in total but steady, every job answered, only 9 connections in 60 s, no repeated setup on a live connection",
        tshark: CLEAN_S7,
    })
}

fn attack_plc_crash() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49230, PLC1, 0xC1);
    let a = t.next_no();
    h.connect(&mut t, 2);
    let mut cycles = 0;
    while t.now_ns < crate::trace::START_NS + 19_800_000_000 {
        t.wait_ms(200);
        h.poll(&mut t, cycles);
        cycles += 1;
    }
    t.note(a, format!("HMI 10.10.2.20 connects and polls PLC 10.10.1.10 every 200 ms for 20 s ({cycles} cycles), every job answered"));
    // The attack, interleaved in time via a second trace.
    let mut at = Trace::at(LinkType::Ethernet, 20_050);
    let mut s = Session::new(ATTACKER, 44_000, PLC1, 0xC2);
    let a = at.next_no();
    s.connect(&mut at, 1);
    at.note(a, "at 20.05 s attacker 10.10.9.99: handshake, CR/CC, Setup Communication (answered)");
    let a = at.next_no();
    at.wait_ms(30);
    let r = s.next_ref();
    s.send(&mut at, &s7::job(r, &[0x04, 0x00], &[]));
    at.wait_ms(20);
    let junk = s.values(24);
    s.send(&mut at, &s7::dr(s.cotp_plc, s.cotp_client, 0x80, &[0xE0, 0x02, 0xFF, 0xFF], &junk));
    at.note(a, "the attacker sends a Read Var with item count 0 and a COTP DR with extra parameter and data bytes: crash pattern; the PLC never answers again on this connection");
    let a = at.next_no();
    at.wait_ms(3_000);
    s.c.fin(&mut at, Dir::C2S);
    at.note(a, "3 s later the attacker sends FIN, unanswered");
    // The HMI side after the crash: one job unanswered, retransmitted with back-off.
    t.wait_ms(200);
    t.now_ns = t.now_ns.max(crate::trace::START_NS + 20_150_000_000);
    let (q, _) = h.read_frames(&POLL_ITEMS);
    let a = t.next_no();
    let base = h.c.c_next;
    h.c.send(&mut t, Dir::C2S, &q);
    let mut rto = 300;
    for _ in 0..5 {
        t.wait_ms(rto);
        h.c.segment_at(&mut t, Dir::C2S, base, net::PSH | net::ACK, &q);
        rto *= 2;
    }
    t.wait_ms(rto);
    h.c.rst(&mut t, Dir::C2S);
    t.note(a, "from 20.15 s the HMI's next Read Var is not answered: 5 retransmissions with doubling back-off (0.3 … 4.8 s), then the HMI gives up with RST (~18.8 s later)");
    // Reconnect attempts for 30 s: SYN + 2 retransmissions every attempt, nothing answers.
    let a = t.next_no();
    let start = t.now_ns;
    let mut port = 49231;
    while t.now_ns < start + 30_000_000_000 {
        let mut c = Session::new(HMI, port, PLC1, 0xC300 + u64::from(port));
        t.wait_ms(500);
        c.c.syn(&mut t);
        t.wait_ms(1_000);
        c.c.syn(&mut t);
        t.wait_ms(2_000);
        c.c.syn(&mut t);
        t.wait_ms(2_500);
        port += 1;
    }
    t.note(a, "30 s of reconnect attempts: every 6 s a new connection whose SYN is retransmitted after 1 s and 2 s more, no SYN-ACK ever");
    let a = t.next_no();
    let mut h2 = Session::new(HMI, port, PLC1, 0xC4);
    t.wait_ms(500);
    h2.connect(&mut t, 2);
    for i in 0..10 {
        t.wait_ms(200);
        h2.poll(&mut t, i);
    }
    t.note(
        a,
        "the PLC is back: SYN-ACK, COTP CC, Setup Communication Ack_Data, and 10 answered poll cycles (recovery)",
    );
    let tr = Trace::merge(vec![t, at]);
    finish("attack_plc_crash", &tr, Format::CLASSIC, Texts {
        what: "HMI polls every 200 ms; attacker sends a crash pattern; the PLC goes silent (retransmissions, unanswered SYNs for 30 s), then recovers",
        expected: "crash-pattern alerts (read var item count 0, COTP DR with extra bytes) from 10.10.9.99, then plc_unresponsive for 10.10.1.10 (unanswered job + retransmissions, SYNs without SYN-ACK) naming the attacker's last PDUs as suspects, then a recovery event when the PLC answers again",
        tshark: "S7comm decodes; the HMI's retransmissions show as \"TCP Retransmission\" and the unanswered SYNs as retransmitted SYNs. No malformed marker.",
    })
}

fn benign_plc_slow() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49240, PLC1, 0xC5);
    let a = t.next_no();
    h.connect(&mut t, 2);
    t.note(a, "HMI 10.10.2.20: handshake, CR/CC, Setup Communication");
    let a = t.next_no();
    let mut rng = SplitMix64::new(0xC6);
    let mut slow = 0;
    for i in 0..100 {
        let cycle_start = t.now_ns;
        let (q, p) = h.read_frames(&POLL_ITEMS);
        h.send(&mut t, &q);
        let d = if i % 3 == 0 { rng.range(150_000, 500_000) } else { rng.range(1_500, 6_000) };
        if d > 100_000 {
            slow += 1;
            t.wait_us(40_000);
            h.c.ack(&mut t, Dir::S2C);
            t.wait_us(d - 40_000);
        } else {
            t.wait_us(d);
        }
        h.c.send(&mut t, Dir::S2C, &p);
        let next = cycle_start + 200_000_000;
        t.now_ns = t.now_ns.max(next);
    }
    t.note(
        a,
        format!("100 Read Var cycles (every 200 ms or as soon as the previous answer came); {slow} answers are delayed 150–500 ms (the PLC ACKs the job after 40 ms, then answers), the rest within 6 ms; none is missing"),
    );
    let a = t.next_no();
    t.wait_ms(200);
    h.close_dr(&mut t);
    t.note(a, "DR/DC and FIN close");
    finish(
        "benign_plc_slow",
        &t,
        Format::CLASSIC,
        Texts {
            what: "a slow PLC: a third of the answers delayed 150–500 ms, none missing",
            expected:
                "no plc_unresponsive alert (every job answered; at most a latency metric/warning), no attack alert",
            tshark: CLEAN_S7,
        },
    )
}

fn benign_hmi_stops() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49250, PLC1, 0xC7);
    let a = t.next_no();
    h.connect(&mut t, 2);
    for i in 0..50 {
        t.wait_ms(200);
        h.poll(&mut t, i);
    }
    t.note(a, "HMI 10.10.2.20 connects and polls PLC 10.10.1.10 every 200 ms for 10 s");
    let a = t.next_no();
    t.wait_ms(200);
    h.close_dr(&mut t);
    t.note(a, "the HMI stops polling and closes cleanly: COTP DR/DC, FIN/FIN/ACK");
    let a = t.next_no();
    t.wait_ms(20_000);
    let mut es = Session::new(hosts::ES, 50_120, PLC1, 0xC8);
    es.connect(&mut t, 1);
    es.szl_0011(&mut t);
    t.wait_ms(200);
    es.close_dr(&mut t);
    t.note(a, "20 s of silence, then the engineering station connects, reads SZL 0x0011 (answered at once) and disconnects: the PLC is alive");
    finish("benign_hmi_stops", &t, Format::CLASSIC, Texts {
        what: "the HMI stops polling and closes cleanly; the PLC is not at fault",
        expected: "no plc_unresponsive alert (the polling flow ended with DR and FIN, no job was left unanswered; the PLC answers the later SZL read)",
        tshark: CLEAN_S7,
    })
}

fn attack_mixed() -> Case {
    let mut parts = Vec::new();
    let mut bg = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49260, PLC1, 0xA0);
    let a = bg.next_no();
    h.connect(&mut bg, 2);
    for i in 0..60 {
        bg.wait_ms(500);
        h.poll(&mut bg, i);
    }
    bg.note(a, "background: HMI 10.10.2.20 polls PLC 10.10.1.10 every 500 ms for 30 s");
    parts.push(bg);
    let mut bg2 = Trace::at(LinkType::Ethernet, 170);
    let mut h2 = Session::new(HMI2, 49261, hosts::PLC2, 0xA1);
    let a = bg2.next_no();
    h2.connect(&mut bg2, 2);
    for i in 0..30 {
        bg2.wait_ms(1000);
        h2.poll(&mut bg2, i);
    }
    bg2.note(a, "background: HMI 10.10.2.21 polls PLC 10.10.1.11 every second");
    parts.push(bg2);

    let mut t = Trace::at(LinkType::Ethernet, 3_000);
    let mut es = Session::new(hosts::ES, 50_130, hosts::PLC2, 0xA2);
    let a = t.next_no();
    es.connect(&mut t, 1);
    es.clock_read(&mut t);
    es.close_dr(&mut t);
    t.note(a, "at 3 s the engineering station reads the clock of PLC 10.10.1.11 (benign)");
    parts.push(t);

    let mut t = Trace::at(LinkType::Ethernet, 5_000);
    let mut s = Session::new(ATTACKER, 44_100, PLC1, 0xA3);
    let a = t.next_no();
    s.connect(&mut t, 1);
    s.szl_0011(&mut t);
    s.szl_001c(&mut t);
    s.close_fin(&mut t);
    t.note(a, "at 5 s the attacker connects to 10.10.1.10 and reads SZL 0x0011 and 0x001C (reconnaissance)");
    parts.push(t);

    let mut t = Trace::at(LinkType::Ethernet, 8_000);
    let mut s = Session::new(ATTACKER, 44_101, PLC1, 0xA4);
    let a = t.next_no();
    s.connect(&mut t, 1);
    s.job(&mut t, &s7::plc_stop_param(), &[0x29]);
    s.close_fin(&mut t);
    t.note(a, "at 8 s the attacker stops the CPU of 10.10.1.10 (PLC Stop 0x29 \"P_PROGRAM\", success)");
    parts.push(t);

    let mut t = Trace::at(LinkType::Ethernet, 12_000);
    let mut s = Session::new(ATTACKER, 44_102, PLC1, 0xA5);
    let a = t.next_no();
    s.connect(&mut t, 1);
    for pw in ["admin", "123456", "siemens"] {
        let (r, q) = (s.next_ref(), s.next_seq());
        s.xchg(&mut t, &s7::password_req(r, q, pw), &s7::password_resp(r, q, 0xD602));
        t.wait_ms(100);
    }
    s.close_fin(&mut t);
    t.note(a, "at 12 s the attacker tries three passwords on 10.10.1.10, all rejected with 0xD602");
    parts.push(t);

    let mut t = Trace::at(LinkType::Ethernet, 16_000);
    let mut rng = SplitMix64::new(0xA6);
    let a = t.next_no();
    for i in 0..300u64 {
        t.now_ns = crate::trace::START_NS + 16_000_000_000 + i * 1_000_000;
        let mut c = TcpConn::new(
            hosts::spoofed(rng.next_u32()),
            rng.range(1024, 65535) as u16,
            PLC1,
            102,
            rng.next_u32(),
            rng.next_u32(),
        );
        c.syn(&mut t);
        if i % 10 == 0 {
            t.wait_us(80);
            c.syn_ack(&mut t);
        }
    }
    t.note(a, "at 16 s a burst of 300 spoofed SYNs to 10.10.1.10:102 in 0.3 s (30 SYN-ACKs)");
    parts.push(t);

    let mut t = Trace::at(LinkType::Ethernet, 20_000);
    let mut s = Session::new(ATTACKER, 44_103, PLC1, 0xA7);
    let a = t.next_no();
    s.handshake(&mut t);
    let payload = s7::cr(0x0051, &[1, 0], &[1, 1]);
    s.c.raw_segment(&mut t, Dir::C2S, s.c.c_next, s.c.s_next, net::PSH | net::ACK, &payload[..8], 4);
    t.wait_ms(100);
    s.c.rst(&mut t, Dir::C2S);
    t.note(a, "at 20 s a TCP segment with data offset 4 toward 10.10.1.10:102 (CVE-2022-25622 pattern), then RST");
    parts.push(t);

    let mut t = Trace::at(LinkType::Ethernet, 24_000);
    let mut s = Session::new(ATTACKER, 44_104, hosts::PLC2, 0xA8);
    let a = t.next_no();
    s.open_plus(&mut t, "SIMATIC-ROOT-ES");
    s.create_object(&mut t, "LAPTOP-7QK3ZP");
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    s.xchg(&mut t, &crate::s7plus::set_operating_state(seq, sess, 1), &crate::s7plus::set_variable_resp(seq));
    s.close_fin(&mut t);
    t.note(a, "at 24 s the attacker stops 10.10.1.11 over S7comm-plus (CreateObject, SetVariable object 52 attribute 2167 := 1)");
    parts.push(t);

    let tr = Trace::merge(parts);
    finish("attack_mixed", &tr, Format::CLASSIC, Texts {
        what: "30 s plant capture with recon, CPU stop, password guessing, SYN burst, short TCP header and an S7comm-plus stop woven in",
        expected: "alerts in time order: SZL reconnaissance (5 s), CPU STOP 0x29 (8 s), 3 wrong passwords 0xD602 (12 s), SYN burst (16 s), TCP data offset 4 (20 s), S7comm-plus operating-state STOP (24 s), all from 10.10.9.99; nothing for the HMIs or the engineering station's clock read",
        tshark: "S7comm decodes; the short-header segment raises \"Bogus TCP header length\" (intended); S7comm-plus shows as COTP data.",
    })
}

/// The S7 service hangs while the TCP stack still answers: every SYN gets its
/// SYN-ACK, every CR and job its TCP ACK, nothing at the S7 layer answers.
fn attack_s7_service_hang() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49260, PLC1, 0xC8);
    let a = t.next_no();
    h.connect(&mut t, 2);
    for i in 0..50 {
        t.wait_ms(200);
        h.poll(&mut t, i);
    }
    t.note(a, "HMI 10.10.2.20 connects and polls PLC 10.10.1.10 every 200 ms for 10 s, every job answered");
    let a = t.next_no();
    t.wait_ms(200);
    let (q, _) = h.read_frames(&POLL_ITEMS);
    h.send(&mut t, &q);
    t.wait_ms(1);
    h.c.ack(&mut t, Dir::S2C);
    t.wait_ms(5_000);
    h.c.rst(&mut t, Dir::C2S);
    t.note(
        a,
        "the S7 service hangs: the next Read Var gets a TCP ACK and no answer; the HMI gives up after 5 s with RST",
    );
    let a = t.next_no();
    for port in 49261..49266u16 {
        let mut c = Session::new(HMI, port, PLC1, 0xC900 + u64::from(port));
        t.wait_ms(500);
        c.handshake(&mut t);
        let req = s7::cr(c.cotp_client, &[0x02, 0x00], &s7::tsap(0x02, 0, 1));
        c.send(&mut t, &req);
        t.wait_ms(1);
        c.c.ack(&mut t, Dir::S2C);
        t.wait_ms(2_500);
        c.c.rst(&mut t, Dir::C2S);
    }
    t.note(
        a,
        "15 s of reconnects: every 3 s a new connection; SYN-ACK and TCP ACK of the COTP CR come back, the CC never does; the HMI resets after 2.5 s",
    );
    finish(
        "attack_s7_service_hang",
        &t,
        Format::CLASSIC,
        Texts {
            what: "HMI polls for 10 s, then the PLC's S7 service hangs while its TCP stack still accepts connections (SYN-ACK, ACK) for ~20 s",
            expected: "plc_unresponsive for 10.10.1.10 saying the TCP stack still accepts connections while the S7 service is silent (tcp_alive, SYN-ACK count in the evidence); no recovery",
            tshark: CLEAN_S7,
        },
    )
}

/// Benign twin of `attack_s7_service_hang`: an HMI that reconnects every few
/// seconds (every CR gets its CC) and a monitoring host checking TCP port 102
/// (SYN, SYN-ACK, RST) while nothing else talks to the PLC.
fn benign_hmi_reconnects() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let a = t.next_no();
    for (round, port) in (49270..49275u16).enumerate() {
        let mut h = Session::new(HMI, port, PLC1, 0xCA00 + u64::from(port));
        h.connect(&mut t, 2);
        for i in 0..10 {
            t.wait_ms(200);
            h.poll(&mut t, round * 10 + i);
        }
        t.wait_ms(100);
        h.c.rst(&mut t, Dir::C2S);
        t.wait_ms(1_000);
    }
    t.note(a, "HMI 10.10.2.20: five sessions of 2 s (CR/CC, Setup Communication, 10 answered poll cycles), each ended with RST, 1 s apart");
    let mut m = Trace::at(LinkType::Ethernet, 16_000);
    let a = m.next_no();
    for k in 0..8u16 {
        let mut c = Session::new(HMI2, 50_000 + k, PLC1, 0xCB00 + u64::from(k));
        c.handshake(&mut m);
        m.wait_ms(1);
        c.c.rst(&mut m, Dir::C2S);
        m.wait_ms(2_000);
    }
    m.note(a, "from 16 s, with the PLC otherwise idle: monitoring host 10.10.2.21 checks TCP port 102 every 2 s (SYN, SYN-ACK, ACK, RST), 8 times");
    let tr = Trace::merge(vec![t, m]);
    finish(
        "benign_hmi_reconnects",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "an HMI reconnecting every 3 s (each CR answered by a CC), then TCP port checks (SYN, SYN-ACK, RST) on an otherwise idle PLC",
            expected: "no alert: every S7 request is answered; a SYN answered by a SYN-ACK with no S7 request waiting is not silence",
            tshark: CLEAN_S7,
        },
    )
}

/// `n` Read Var jobs sent back to back on `s`, then the PLC's answers
/// (`refuse`: from the second answer on, Ack_Data with error 0x8500).
fn pipelined_reads(s: &mut Session, tr: &mut Trace, n: usize, refuse: bool) {
    let mut answers = Vec::new();
    for k in 0..n {
        let r = s.pdu_ref;
        let (q, p) = s.read_frames(&POLL_ITEMS);
        s.send(tr, &q);
        tr.wait_us(200);
        answers.push(if refuse && k > 0 { s7::ack_data_err(r, 0x85, 0x00, &[0x04, 0x00], &[]) } else { p });
    }
    for p in answers {
        s.answer(tr, &p);
    }
}

/// Benign twin of `attack_amq_refused`: a Siemens-style client subscribing
/// cyclic data pipelines 3 Read Var jobs on AmQ 1; the PLC answers them all.
fn benign_amq_pipelining() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49280, PLC1, 0xCC);
    let a = t.next_no();
    s.connect(&mut t, 2);
    t.note(a, "HMI 10.10.2.20: handshake, CR/CC, Setup Communication granting AmQ calling 1 / called 1");
    let a = t.next_no();
    for _ in 0..20 {
        t.wait_ms(250);
        pipelined_reads(&mut s, &mut t, 3, false);
    }
    t.note(a, "20 cycles, every 250 ms: 3 Read Var jobs sent back to back (3 outstanding on AmQ 1), then the PLC's 3 answers, all successful");
    let a = t.next_no();
    t.wait_ms(100);
    s.close_dr(&mut t);
    t.note(a, "DR/DC and FIN close");
    finish(
        "benign_amq_pipelining",
        &t,
        Format::CLASSIC,
        Texts {
            what: "a client pipelining 3 jobs on AmQ 1 every 250 ms, every job answered",
            expected:
                "one flood.amq_exceeded at info (verdict answered: client pipelining, not a flood); nothing above info",
            tshark: CLEAN_S7,
        },
    )
}

/// The same excess as `benign_amq_pipelining`, but the PLC refuses the jobs beyond its AmQ.
fn attack_amq_refused() -> Case {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 43_210, PLC1, 0xCD);
    let a = t.next_no();
    s.connect(&mut t, 1);
    t.note(a, "attacker 10.10.9.99: handshake, CR/CC, Setup Communication granting AmQ calling 1 / called 1");
    let a = t.next_no();
    t.wait_ms(100);
    pipelined_reads(&mut s, &mut t, 3, true);
    t.note(a, "3 Read Var jobs back to back (3 outstanding on AmQ 1); the PLC answers the first and refuses the other two (Ack_Data error 0x8500)");
    let a = t.next_no();
    t.wait_ms(100);
    s.close_fin(&mut t);
    t.note(a, "FIN close");
    finish(
        "attack_amq_refused",
        &t,
        Format::CLASSIC,
        Texts {
            what: "3 jobs in parallel on AmQ 1; the PLC refuses the two beyond its AmQ",
            expected: "flood.amq_exceeded (medium, verdict refused) at the third job, emitted when the refusal arrives",
            tshark: CLEAN_S7,
        },
    )
}
