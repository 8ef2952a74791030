//! TCP-layer evasion cases (issue 10, items 1 and 4): a CPU STOP (S7comm PLC
//! Stop 0x29) hidden with the stream tricks of Ptacek & Newsham (1998) and
//! Handley, Paxson & Kreibich (2001) — overlaps resolved by another copy,
//! hold-cap overflow, mid-stream pickup, SYN/RST injection (RFC 5961), decoys
//! the PLC drops (bad checksum, TTL 1, out of window) — one case per
//! technique, and benign twins (retransmissions, keep-alives, duplicate ACKs,
//! checksum offload on the capturing host, reconnect churn) that stay quiet.
//!
//! In every attack case the PLC answers the STOP with a success Ack_Data: it
//! executed the STOP.

use super::hosts::{ATTACKER, HMI, PLC1};
use super::session::Session;
use super::{finish, Builder, Case, Texts};
use crate::net::{self, ACK, PSH, RST, SYN};
use crate::pcap::{Format, LinkType};
use crate::s7;
use crate::trace::{ip_packet, ipv4_header, Dir, Trace};

/// The TCP evasion cases, in index order.
pub const CASES: &[(&str, Builder)] = &[
    ("evasion_tcp_equal_seq_held_decoy", evasion_tcp_equal_seq_held_decoy),
    ("evasion_tcp_hold_cap", evasion_tcp_hold_cap),
    ("evasion_tcp_midstream_out_of_order", evasion_tcp_midstream_out_of_order),
    ("evasion_tcp_midstream_one_byte", evasion_tcp_midstream_one_byte),
    ("evasion_tcp_syn_inject", evasion_tcp_syn_inject),
    ("evasion_tcp_rst_inject", evasion_tcp_rst_inject),
    ("evasion_tcp_checksum_decoy", evasion_tcp_checksum_decoy),
    ("evasion_tcp_window_decoy", evasion_tcp_window_decoy),
    ("evasion_tcp_ttl_decoy", evasion_tcp_ttl_decoy),
    ("evasion_tcp_combined", evasion_tcp_combined),
    ("evasion_tcp_twin_retransmissions", evasion_tcp_twin_retransmissions),
    ("evasion_tcp_twin_offload", evasion_tcp_twin_offload),
    ("evasion_tcp_twin_reconnect", evasion_tcp_twin_reconnect),
];

/// The attacker's connection up to the STOP: handshake, COTP CR/CC, Setup Communication.
fn attacker(tr: &mut Trace, port: u16, seed: u64) -> Session {
    let mut s = Session::new(ATTACKER, port, PLC1, seed);
    let a = tr.next_no();
    s.open(tr, 1);
    s.setup(tr, 1, 480);
    tr.note(a, "attacker → PLC: TCP handshake, COTP CR/CC (PG TSAPs), Setup Communication and its Ack_Data");
    tr.wait_ms(150);
    s
}

/// The STOP job, the PLC's success Ack_Data, and a Read SZL decoy as long as the job.
fn stop_and_decoy(s: &mut Session) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let r = s.next_ref();
    let job = s7::job(r, &s7::plc_stop_param(), &[]);
    let ack = s7::ack_data(r, &[0x29], &[]);
    let seq = s.next_seq();
    let decoy = s7::szl_req(r, seq, 0x0011, 0x0000);
    assert_eq!(decoy.len(), job.len(), "the decoy must be as long as the STOP job");
    (job, ack, decoy)
}

/// Push a client segment at `seq` with `payload`; `mangle` edits the TCP bytes, `ttl` overrides the TTL.
fn push_client(tr: &mut Trace, s: &Session, seq: u32, flags: u8, payload: &[u8], bad_checksum: bool, ttl: Option<u8>) {
    let mut seg = s.c.segment_bytes(Dir::C2S, seq, flags, payload);
    if bad_checksum {
        seg[16] ^= 0x5A;
    }
    let (src, dst) = (s.c.client, s.c.server);
    let ip = match ttl {
        Some(t) => {
            let mut h = ipv4_header(tr, src, dst, net::IPPROTO_TCP, true, seg.len());
            h.ttl = t;
            let mut p = Vec::new();
            net::push_ipv4(&mut p, &h);
            p.extend_from_slice(&seg);
            p
        }
        None => ip_packet(tr, src, dst, net::IPPROTO_TCP, &seg),
    };
    tr.push_ip(&[], src, dst, &ip);
}

/// The PLC's Ack_Data for the STOP, then FIN close.
fn answer_and_close(tr: &mut Trace, s: &mut Session, ack: &[u8]) {
    let a = tr.next_no();
    s.answer(tr, ack);
    tr.note(a, "the PLC answers the STOP with a success Ack_Data (function 0x29): it executed it");
    tr.wait_ms(200);
    let a = tr.next_no();
    s.close_fin(tr);
    tr.note(a, "TCP FIN close");
}

fn done(name: &'static str, tr: &Trace, t: Texts) -> Case {
    finish(name, tr, Format::CLASSIC, t)
}

fn evasion_tcp_equal_seq_held_decoy() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, 40_801, 0xF1);
    let (job, ack, decoy) = stop_and_decoy(&mut s);
    let base = s.c.next(Dir::C2S);
    let k = 10;
    let a = tr.next_no();
    push_client(&mut tr, &s, base.wrapping_add(k as u32), PSH | ACK, &job[k..], false, None);
    tr.wait_us(60);
    push_client(&mut tr, &s, base.wrapping_add(k as u32), PSH | ACK, &decoy[k..], false, None);
    tr.note(a, "the rest of the STOP job out of order, then a segment with the same sequence number carrying the rest of a Read SZL: both held before the hole fills; the PLC keeps the first");
    tr.wait_us(60);
    let a = tr.next_no();
    push_client(&mut tr, &s, base, ACK, &job[..k], false, None);
    tr.note(a, "the first bytes fill the hole");
    s.c.skip(Dir::C2S, job.len());
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_equal_seq_held_decoy",
        &tr,
        Texts {
            what: "two held out-of-order segments with the same sequence number and different bytes (STOP first, Read SZL second)",
            expected: "first copy wins among held data: control.cpu_stop; malformed.tcp_overlap for the second copy",
            tshark: "marks the second copy as a retransmission and decodes the STOP once the hole fills (first copy).",
        },
    )
}

fn evasion_tcp_hold_cap() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, 40_802, 0xF2);
    let (job, ack, decoy) = stop_and_decoy(&mut s);
    // A Read SZL, then the STOP: more bytes than the sensor holds out-of-order segments.
    let bytes: Vec<u8> = decoy.iter().chain(job.iter()).copied().collect();
    let base = s.c.next(Dir::C2S);
    let a = tr.next_no();
    for k in (1..bytes.len()).rev() {
        push_client(&mut tr, &s, base.wrapping_add(k as u32), ACK, &bytes[k..k + 1], false, None);
        tr.wait_us(20);
    }
    tr.note(a, "a Read SZL and the STOP job back to back, bytes 1.. as 1-byte segments, last first: more than the 32 segments the sensor holds");
    let a = tr.next_no();
    push_client(&mut tr, &s, base, PSH | ACK, &bytes[..1], false, None);
    tr.note(a, "byte 0 fills the hole the sensor already gave up");
    s.c.skip(Dir::C2S, bytes.len());
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_hold_cap",
        &tr,
        Texts {
            what: "a Read SZL and the STOP job as 1-byte segments in reverse order, more than the out-of-order hold cap",
            expected: "evasion.hold_cap (bytes given up), evasion.stream_late_data (byte 0 after the hole was given up), control.confirmed_without_request from the PLC's Ack_Data",
            tshark: "reassembles the job from the 1-byte segments and decodes the STOP.",
        },
    )
}

/// A session already established before the capture starts (no handshake, no CR seen).
fn midstream_session(seed: u64) -> Session {
    let mut s = Session::new(ATTACKER, 40_803 + seed as u16 % 7, PLC1, seed);
    s.c = s.c.clone().established();
    s
}

fn evasion_tcp_midstream_out_of_order() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = midstream_session(0xF3);
    let (job, ack, _) = stop_and_decoy(&mut s);
    let base = s.c.next(Dir::C2S);
    let k = 12;
    let a = tr.next_no();
    push_client(&mut tr, &s, base.wrapping_add(k as u32), PSH | ACK, &job[k..], false, None);
    tr.wait_us(80);
    push_client(&mut tr, &s, base, ACK, &job[..k], false, None);
    tr.note(a, "capture starts mid-connection: the STOP job's second segment first, then its first");
    s.c.skip(Dir::C2S, job.len());
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_midstream_out_of_order",
        &tr,
        Texts {
            what: "mid-stream pickup whose first data segment arrives out of order",
            expected: "held until the PLC's ACK anchors the direction: control.cpu_stop",
            tshark: "reassembles the two segments and decodes the STOP.",
        },
    )
}

fn evasion_tcp_midstream_one_byte() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = midstream_session(0xF4);
    let (job, ack, _) = stop_and_decoy(&mut s);
    let base = s.c.next(Dir::C2S);
    let a = tr.next_no();
    push_client(&mut tr, &s, base, ACK, &job[..1], false, None);
    tr.wait_us(80);
    push_client(&mut tr, &s, base.wrapping_add(1), PSH | ACK, &job[1..], false, None);
    tr.note(
        a,
        "capture starts mid-connection with a 1-byte segment (the TPKT version byte), then the rest of the STOP job",
    );
    s.c.skip(Dir::C2S, job.len());
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_midstream_one_byte",
        &tr,
        Texts {
            what: "mid-stream pickup whose first segment carries 1 byte of the STOP job",
            expected: "not a keep-alive (not just below the peer's ACK): control.cpu_stop",
            tshark: "reassembles the job and decodes the STOP.",
        },
    )
}

fn evasion_tcp_syn_inject() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, 40_804, 0xF5);
    let (job, ack, _) = stop_and_decoy(&mut s);
    let far = s.c.next(Dir::C2S).wrapping_add(0x8000_0000);
    let a = tr.next_no();
    s.c.raw_segment(&mut tr, Dir::C2S, far, 0, SYN, &[], 5);
    tr.wait_us(150);
    s.c.segment_at(&mut tr, Dir::S2C, s.c.next(Dir::S2C), ACK, &[]);
    tr.note(a, "a SYN with a sequence number 2 GiB away on the established connection, and the PLC's challenge ACK (RFC 5961 §4)");
    tr.wait_ms(5);
    let a = tr.next_no();
    s.send(&mut tr, &job);
    tr.note(a, "the STOP job");
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_syn_inject",
        &tr,
        Texts {
            what: "a SYN injected into the established connection before the STOP",
            expected: "evasion.tcp_syn_on_established (low); the stream goes on: control.cpu_stop",
            tshark: "shows the SYN and the challenge ACK, then decodes the STOP.",
        },
    )
}

fn evasion_tcp_rst_inject() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, 40_805, 0xF6);
    let (job, ack, _) = stop_and_decoy(&mut s);
    let next = s.c.next(Dir::C2S);
    let peer = s.c.next(Dir::S2C);
    let a = tr.next_no();
    s.c.raw_segment(&mut tr, Dir::C2S, next.wrapping_add(0x4000_0000), peer, RST | ACK, &[], 5);
    tr.wait_us(100);
    s.c.raw_segment(&mut tr, Dir::C2S, next.wrapping_add(100), peer, RST | ACK, &[], 5);
    tr.wait_us(100);
    s.c.segment_at(&mut tr, Dir::S2C, peer, ACK, &[]);
    tr.note(a, "an RST 1 GiB out of window, an RST 100 bytes inside the window (not exact), and the PLC's challenge ACK (RFC 5961 §3)");
    tr.wait_ms(5);
    let a = tr.next_no();
    s.send(&mut tr, &job);
    tr.note(a, "the STOP job");
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_rst_inject",
        &tr,
        Texts {
            what: "RSTs injected before the STOP: one out of window, one in the window but not at the next sequence number",
            expected: "evasion.tcp_rst_ignored twice (low); the connection goes on: control.cpu_stop",
            tshark: "shows both RSTs, then decodes the STOP.",
        },
    )
}

fn evasion_tcp_checksum_decoy() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, 40_806, 0xF7);
    let (job, ack, decoy) = stop_and_decoy(&mut s);
    let base = s.c.next(Dir::C2S);
    let a = tr.next_no();
    push_client(&mut tr, &s, base, PSH | ACK, &decoy, true, None);
    tr.note(a, "a Read SZL at the STOP's sequence number with a bad TCP checksum (the PLC drops it)");
    tr.wait_us(60);
    let a = tr.next_no();
    push_client(&mut tr, &s, base, PSH | ACK, &job, false, None);
    tr.note(a, "the STOP job with a valid checksum");
    s.c.skip(Dir::C2S, job.len());
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_checksum_decoy",
        &tr,
        Texts {
            what: "a bad-checksum decoy at the same sequence number before the real STOP",
            expected: "the decoy never enters the stream: evasion.tcp_checksum_conflict, control.cpu_stop",
            tshark: "flags the bad checksum only when checksum validation is on; by default decodes the decoy and calls the STOP a retransmission.",
        },
    )
}

fn evasion_tcp_window_decoy() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, 40_807, 0xF8);
    let (job, ack, decoy) = stop_and_decoy(&mut s);
    let base = s.c.next(Dir::C2S);
    let a = tr.next_no();
    push_client(&mut tr, &s, base.wrapping_add(0x4000_0000), PSH | ACK, &decoy, false, None);
    tr.note(a, "a Read SZL 1 GiB outside the receive window (the PLC drops it)");
    tr.wait_us(60);
    let a = tr.next_no();
    push_client(&mut tr, &s, base, PSH | ACK, &job, false, None);
    tr.note(a, "the STOP job");
    s.c.skip(Dir::C2S, job.len());
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_window_decoy",
        &tr,
        Texts {
            what: "a decoy segment 1 GiB outside the receive window before the STOP",
            expected: "evasion.tcp_out_of_window; control.cpu_stop",
            tshark: "shows the far segment as unseen/out-of-order data and decodes the STOP.",
        },
    )
}

fn evasion_tcp_ttl_decoy() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, 40_808, 0xF9);
    let (job, ack, decoy) = stop_and_decoy(&mut s);
    let base = s.c.next(Dir::C2S);
    let a = tr.next_no();
    push_client(&mut tr, &s, base, PSH | ACK, &decoy, false, Some(1));
    tr.note(a, "a Read SZL at the STOP's sequence number with TTL 1: it dies at the router before the PLC");
    tr.wait_us(60);
    let a = tr.next_no();
    push_client(&mut tr, &s, base, PSH | ACK, &job, false, None);
    tr.note(a, "the STOP job");
    s.c.skip(Dir::C2S, job.len());
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_ttl_decoy",
        &tr,
        Texts {
            what: "a TTL-1 decoy at the same sequence number before the real STOP (insertion the sensor cannot rule out from one segment)",
            expected: "first copy wins (the decoy), malformed.tcp_overlap; the conflicting copy is whole TPKTs and is decoded too: control.cpu_stop",
            tshark: "decodes the decoy (Read SZL) and calls the STOP a retransmission.",
        },
    )
}

fn evasion_tcp_combined() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, 40_809, 0xFA);
    let (job, ack, decoy) = stop_and_decoy(&mut s);
    let base = s.c.next(Dir::C2S);
    let peer = s.c.next(Dir::S2C);
    let a = tr.next_no();
    s.c.raw_segment(&mut tr, Dir::C2S, base.wrapping_add(0x7000_0000), 0, SYN, &[], 5);
    tr.wait_us(50);
    s.c.raw_segment(&mut tr, Dir::C2S, base.wrapping_add(0x4000_0000), peer, RST | ACK, &[], 5);
    tr.wait_us(50);
    push_client(&mut tr, &s, base.wrapping_add(8), PSH | ACK, &decoy[8..], true, None);
    tr.wait_us(50);
    push_client(&mut tr, &s, base.wrapping_add(8), PSH | ACK, &job[8..], false, None);
    tr.wait_us(50);
    push_client(&mut tr, &s, base, ACK, &job[..8], false, None);
    tr.note(a, "an injected SYN, an out-of-window RST, a bad-checksum decoy of the job's tail, the real tail out of order, then its head");
    s.c.skip(Dir::C2S, job.len());
    answer_and_close(&mut tr, &mut s, &ack);
    done(
        "evasion_tcp_combined",
        &tr,
        Texts {
            what: "SYN and RST injection, a bad-checksum decoy and reordering around one STOP",
            expected: "evasion.tcp_syn_on_established, evasion.tcp_rst_ignored, evasion.tcp_checksum_conflict, control.cpu_stop",
            tshark: "decodes the STOP after reassembly.",
        },
    )
}

/// An HMI's session: handshake, CR/CC, Setup Communication.
fn hmi(tr: &mut Trace, port: u16, seed: u64) -> Session {
    let mut s = Session::new(HMI, port, PLC1, seed);
    s.open(tr, 2);
    s.setup(tr, 1, 480);
    s
}

fn evasion_tcp_twin_retransmissions() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let a = tr.next_no();
    let mut s = hmi(&mut tr, 40_900, 0xFB);
    tr.note(a, "HMI → PLC: handshake, CR/CC, Setup Communication");
    for round in 0..3 {
        let (req, resp) = s.read_frames(&super::session::POLL_ITEMS);
        let base = s.c.next(Dir::C2S);
        let a = tr.next_no();
        push_client(&mut tr, &s, base, PSH | ACK, &req, false, None);
        tr.wait_ms(200);
        push_client(&mut tr, &s, base, PSH | ACK, &req, false, None);
        s.c.skip(Dir::C2S, req.len());
        tr.note(a, format!("Read Var job {round} and its identical retransmission"));
        s.answer(&mut tr, &resp);
        // Duplicate ACKs and a keep-alive from the HMI.
        let a = tr.next_no();
        s.c.ack(&mut tr, Dir::C2S);
        s.c.ack(&mut tr, Dir::C2S);
        tr.wait_ms(500);
        let next = s.c.next(Dir::C2S);
        push_client(&mut tr, &s, next.wrapping_sub(1), ACK, &[0], false, None);
        s.c.ack(&mut tr, Dir::S2C);
        tr.note(a, "duplicate ACKs, a keep-alive (1 byte just below the next sequence number) and its ACK");
        tr.wait_ms(300);
    }
    let a = tr.next_no();
    s.close_fin(&mut tr);
    tr.note(a, "TCP FIN close");
    done(
        "evasion_tcp_twin_retransmissions",
        &tr,
        Texts {
            what: "benign: an HMI's reads with identical retransmissions, duplicate ACKs and keep-alives",
            expected: "nothing",
            tshark: "marks retransmissions, duplicate ACKs and keep-alives; decodes each Read Var once.",
        },
    )
}

fn evasion_tcp_twin_offload() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 40_901, PLC1, 0xFC);
    // Captured on the HMI with checksum offload: every segment it sends has a bad checksum.
    let a = tr.next_no();
    let isn = s.c.next(Dir::C2S);
    push_client(&mut tr, &s, isn, SYN, &[], true, None);
    s.c = s.c.clone().established();
    s.c.segment_at(&mut tr, Dir::S2C, s.c.next(Dir::S2C).wrapping_sub(1), SYN | ACK, &[]);
    push_client(&mut tr, &s, s.c.next(Dir::C2S), ACK, &[], true, None);
    tr.note(a, "captured on the HMI with checksum offload: the HMI's segments all carry a bad TCP checksum (the NIC fills it in), the PLC's are valid");
    for _ in 0..4 {
        let (req, resp) = s.read_frames(&super::session::POLL_ITEMS);
        let a = tr.next_no();
        push_client(&mut tr, &s, s.c.next(Dir::C2S), PSH | ACK, &req, true, None);
        s.c.skip(Dir::C2S, req.len());
        s.answer(&mut tr, &resp);
        tr.note(a, "Read Var job (bad checksum: offload) and the PLC's answer");
        tr.wait_ms(300);
    }
    let a = tr.next_no();
    push_client(&mut tr, &s, s.c.next(Dir::C2S), net::FIN | ACK, &[], true, None);
    tr.note(a, "the HMI's FIN");
    done(
        "evasion_tcp_twin_offload",
        &tr,
        Texts {
            what: "benign: capture on an HMI with TCP checksum offload (all of its segments have bad checksums)",
            expected: "nothing: offload learned for the HMI, its segments decoded",
            tshark: "decodes every Read Var (checksum validation off by default).",
        },
    )
}

fn evasion_tcp_twin_reconnect() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    for k in 0..4u64 {
        let a = tr.next_no();
        let mut s = hmi(&mut tr, 40_950, 0x100 + k);
        s.poll(&mut tr, 1);
        if k % 2 == 0 {
            s.close_fin(&mut tr);
        } else {
            s.c.rst(&mut tr, Dir::C2S);
        }
        tr.note(
            a,
            format!(
                "connection {k} from the same client port: handshake, CR/CC, Setup, a poll, {}",
                if k % 2 == 0 { "FIN close" } else { "RST close" }
            ),
        );
        tr.wait_ms(400);
    }
    done(
        "evasion_tcp_twin_reconnect",
        &tr,
        Texts {
            what: "benign: an HMI reconnecting four times from the same port (FIN and RST closes)",
            expected: "nothing",
            tshark: "shows four connections (port reuse) and decodes every PDU.",
        },
    )
}
