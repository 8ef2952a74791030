//! IP-layer evasion cases (issue 10, items 1 and 4): a CPU STOP (S7comm PLC Stop
//! 0x29 "P_PROGRAM") hidden in IPv4 or IPv6 fragments the way Ptacek & Newsham
//! (1998) and Novak ("Target-Based Fragmentation Reassembly", 2005) describe,
//! one case per technique, and benign twins that fragment legitimately.
//!
//! In every attack case the PLC answers the STOP with a success Ack_Data: the
//! target reassembled the version carrying the STOP. Where the two copies of
//! overlapping bytes differ, the TCP checksum is the one of the STOP version
//! (what an attacker aiming at that target sends).

use super::hosts::{ATTACKER, ATTACKER_V6, HMI, HMI_V6, PLC1, PLC1_V6};
use super::session::Session;
use super::{finish, Builder, Case, Texts};
use crate::net::{self, Ipv4Header, Ipv6Ext, Ipv6Frag};
use crate::pcap::{Format, LinkType};
use crate::rng::SplitMix64;
use crate::s7::{self, AnyItem};
use crate::trace::{ipv4_header, ttl_for, Dir, Trace};
use std::net::IpAddr;

/// The IP evasion cases, in index order.
pub const CASES: &[(&str, Builder)] = &[
    ("evasion_ip_overlap_last_copy", evasion_ip_overlap_last_copy),
    ("evasion_ip_overlap_first_copy", evasion_ip_overlap_first_copy),
    ("evasion_ip_overlap_both_valid", evasion_ip_overlap_both_valid),
    ("evasion_ip_tcp_header_overwrite", evasion_ip_tcp_header_overwrite),
    ("evasion_ip_length_conflict", evasion_ip_length_conflict),
    ("evasion_ip_ipv6_fragments", evasion_ip_ipv6_fragments),
    ("evasion_ip_ipv6_ext_headers", evasion_ip_ipv6_ext_headers),
    ("evasion_ip_out_of_order", evasion_ip_out_of_order),
    ("evasion_ip_fragment_timeout", evasion_ip_fragment_timeout),
    ("evasion_ip_fragment_flood", evasion_ip_fragment_flood),
    ("evasion_ip_twin_pmtu", evasion_ip_twin_pmtu),
    ("evasion_ip_twin_ipv6_pmtu", evasion_ip_twin_ipv6_pmtu),
];

/// The attacker's connection up to the STOP: handshake, COTP CR/CC (PG TSAPs),
/// Setup Communication and its Ack_Data.
fn attacker(tr: &mut Trace, v6: bool, port: u16, seed: u64) -> Session {
    let (c, p) = if v6 { (ATTACKER_V6, PLC1_V6) } else { (ATTACKER, PLC1) };
    let mut s = Session::new(c, port, p, seed);
    let a = tr.next_no();
    s.open(tr, 1);
    s.setup(tr, 1, 480);
    tr.note(
        a,
        format!(
            "attacker {c} → PLC {p}:102: TCP handshake, COTP CR/CC (PG TSAPs), Setup Communication and its Ack_Data"
        ),
    );
    tr.wait_ms(150);
    s
}

/// The STOP job and the PLC's success Ack_Data (one PDU reference).
fn stop_frames(s: &mut Session) -> (Vec<u8>, Vec<u8>, u16) {
    let r = s.next_ref();
    (s7::job(r, &s7::plc_stop_param(), &[]), s7::ack_data(r, &[0x29], &[]), r)
}

/// A Read SZL request (module identification) as long as the STOP job: the decoy copy.
fn decoy_frame(s: &mut Session, pdu_ref: u16, len: usize) -> Vec<u8> {
    let seq = s.next_seq();
    let d = s7::szl_req(pdu_ref, seq, 0x0011, 0x0000);
    assert_eq!(d.len(), len, "the decoy must be as long as the STOP job");
    d
}

/// The TCP segment carrying `payload` from the client, as the PLC reassembles it;
/// advances the client's sequence number.
fn client_segment(s: &mut Session, payload: &[u8]) -> Vec<u8> {
    let seq = s.c.next(Dir::C2S);
    let seg = s.c.segment_bytes(Dir::C2S, seq, net::PSH | net::ACK, payload);
    s.c.skip(Dir::C2S, payload.len());
    seg
}

/// IPv4 header fields shared by the fragments of one datagram from `src`.
fn v4_base(tr: &mut Trace, src: IpAddr, dst: IpAddr) -> Ipv4Header {
    ipv4_header(tr, src, dst, net::IPPROTO_TCP, false, 0)
}

/// Push IPv4 fragments `(offset, more, bytes)` of one datagram, in the order given.
fn push_v4(tr: &mut Trace, base: &Ipv4Header, frags: &[(usize, bool, &[u8])]) {
    let (src, dst) = (IpAddr::from(base.src), IpAddr::from(base.dst));
    for &(off, more, piece) in frags {
        tr.push_ip(&[], src, dst, &net::ipv4_fragment(base, off, more, piece));
    }
}

/// IPv6 fragment fields for one datagram from `src`.
fn v6_base(src: IpAddr, dst: IpAddr, id: u32, next: u8) -> Ipv6Frag {
    Ipv6Frag { src: net::ip16(src), dst: net::ip16(dst), hop: ttl_for(src), id, next }
}

/// Push IPv6 fragments `(offset, more, bytes)` with the unfragmentable headers `exts`.
fn push_v6(tr: &mut Trace, h: &Ipv6Frag, exts: &[Ipv6Ext], frags: &[(usize, bool, &[u8])]) {
    let (src, dst) = (IpAddr::from(h.src), IpAddr::from(h.dst));
    for &(off, more, piece) in frags {
        tr.push_ip(&[], src, dst, &net::ipv6_fragment(h, exts, off, more, piece));
    }
}

/// The PLC's Ack_Data for the STOP, then the attacker closes with FIN.
fn answer_and_close(tr: &mut Trace, s: &mut Session, ack: &[u8]) {
    let a = tr.next_no();
    s.answer(tr, ack);
    tr.note(a, "the PLC answers the STOP with a success Ack_Data (function 0x29, error 0x0000): it executed it");
    let a = tr.next_no();
    tr.wait_ms(200);
    s.close_fin(tr);
    tr.note(a, "TCP FIN close");
}

/// Set the 16-bit word at even offset `at` of `fake` so that its one's-complement
/// sum (RFC 1071) equals `real`'s: the same TCP checksum is right for both.
fn compensate(fake: &mut [u8], real: &[u8], at: usize) {
    fake[at..at + 2].copy_from_slice(&[0, 0]);
    let fold = |mut a: u32| {
        while a > 0xFFFF {
            a = (a & 0xFFFF) + (a >> 16);
        }
        a
    };
    let (want, have) = (fold(net::sum16(0, real)), fold(net::sum16(0, fake)));
    let x = fold(want + (!have & 0xFFFF)) as u16;
    fake[at..at + 2].copy_from_slice(&x.to_be_bytes());
    debug_assert_eq!(fold(net::sum16(0, fake)) % 0xFFFF, want % 0xFFFF);
}

/// Overlapping fragments, STOP and decoy in the order given by `stop_last`;
/// with `both_valid` the decoy's bytes are adjusted so that the TCP checksum
/// is right for both copies.
fn overlap_case(name: &'static str, stop_last: bool, both_valid: bool, seed: u64, texts: Texts) -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, false, 40_701 + u16::from(stop_last), seed);
    let (job, ack, r) = stop_frames(&mut s);
    let decoy = decoy_frame(&mut s, r, job.len());
    let real = client_segment(&mut s, &job);
    let mut fake = real.clone();
    fake[20..].copy_from_slice(&decoy);
    if both_valid {
        // Bytes 50-51: the low byte of the SZL id and the high byte of its index.
        compensate(&mut fake, &real, 50);
    }
    let base = v4_base(&mut tr, s.c.client, s.c.server);
    let (first, second) = if stop_last { (&fake, &real) } else { (&real, &fake) };
    let a = tr.next_no();
    push_v4(&mut tr, &base, &[(24, false, &first[24..]), (24, false, &second[24..]), (0, true, &real[..24])]);
    let (f, l) =
        if stop_last { ("a Read SZL request", "the STOP job") } else { ("the STOP job", "a Read SZL request") };
    tr.note(
        a,
        format!(
            "the STOP's TCP segment (53 bytes: TCP header and 33 bytes of TPKT/COTP/S7) in IPv4 fragments of one datagram: bytes 24–53 twice, first as {f}, then as {l} of the same length (same PDU reference; {}), then bytes 0–24 (TCP header, TPKT header), which complete the datagram. A target keeping the {} copy executes the STOP",
            if both_valid {
                "the SZL id and index chosen so that the TCP checksum is right for both copies"
            } else {
                "TCP checksum of the STOP version"
            },
            if stop_last { "last" } else { "first" }
        ),
    );
    answer_and_close(&mut tr, &mut s, &ack);
    finish(name, &tr, Format::CLASSIC, texts)
}

fn evasion_ip_overlap_last_copy() -> Case {
    overlap_case(
        "evasion_ip_overlap_last_copy",
        true,
        false,
        0xE1,
        Texts {
            what: "IPv4 fragments overlapping with different bytes: a Read SZL first, the STOP in the last copy (last-copy targets)",
            expected: "evasion.ip_overlap_conflict (both copies in the evidence); only the last copy has a valid TCP checksum, so it is the one decoded: control.cpu_stop, confirmed by the PLC's Ack_Data; crash_pattern.ip_fragment",
            tshark: "reassembles the datagram in frame 10 keeping the first copy of the overlapping bytes (\"Conflicting data in fragment overlap: True\") and decodes the Read SZL request there; the STOP is never shown, only its Ack_Data (frame 11).",
        },
    )
}

fn evasion_ip_overlap_first_copy() -> Case {
    overlap_case(
        "evasion_ip_overlap_first_copy",
        false,
        false,
        0xE2,
        Texts {
            what: "IPv4 fragments overlapping with different bytes: the STOP in the first copy, a Read SZL in the last (first-copy targets)",
            expected: "evasion.ip_overlap_conflict; only the first copy (the STOP) has a valid TCP checksum: control.cpu_stop, confirmed; crash_pattern.ip_fragment",
            tshark: "reassembles the datagram in frame 10 keeping the first copy (\"Conflicting data in fragment overlap: True\") and decodes the STOP there; frame 11 the Ack_Data.",
        },
    )
}

fn evasion_ip_overlap_both_valid() -> Case {
    overlap_case(
        "evasion_ip_overlap_both_valid",
        true,
        true,
        0xED,
        Texts {
            what: "IPv4 fragments overlapping with different bytes, a Read SZL first and the STOP last, the TCP checksum right for both copies (no checksum to tell them apart)",
            expected: "evasion.ip_overlap_conflict; the first copy (the Read SZL) feeds the stream and the last copy is decoded too: control.cpu_stop, confirmed by the Ack_Data; crash_pattern.ip_fragment",
            tshark: "reassembles the datagram in frame 10 keeping the first copy (\"Conflicting data in fragment overlap: True\") and decodes a Read SZL request (SZL id and index as adjusted) there; the STOP is never shown, only its Ack_Data (frame 11).",
        },
    )
}

fn evasion_ip_tcp_header_overwrite() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, false, 40_705, 0xE3);
    let (job, ack, _) = stop_frames(&mut s);
    let real = client_segment(&mut s, &job);
    // First copy of bytes 8..16: data offset 13 (a 52-byte header that swallows the TPKT).
    let mut head = real[..16].to_vec();
    head[12] = 13 << 4;
    let base = v4_base(&mut tr, s.c.client, s.c.server);
    let a = tr.next_no();
    push_v4(&mut tr, &base, &[(0, true, &head), (8, false, &real[8..])]);
    tr.note(
        a,
        "the STOP's TCP segment in two IPv4 fragments: bytes 0–16 (a tiny first fragment) with data offset 13, then bytes 8–53 at fragment offset 8 (RFC 1858 \"FO=1\") giving the data offset its real value 5. A first-copy reassembly sees a 52-byte TCP header and 1 byte of data; a last-copy target sees the STOP",
    );
    answer_and_close(&mut tr, &mut s, &ack);
    finish(
        "evasion_ip_tcp_header_overwrite",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "a later IPv4 fragment rewrites the TCP data offset of the first (RFC 1858 overlapping-fragment attack) to hide the STOP",
            expected: "evasion.ip_tiny_fragment, evasion.ip_tcp_header_overlap naming data_offset; only the last copy has a valid TCP checksum: control.cpu_stop (confirmed by the Ack_Data); crash_pattern.ip_fragment",
            tshark: "reassembles the datagram in frame 9 keeping the first copy: a 52-byte TCP header and 1 byte of data (\"TPKT Continuation\"), no S7comm; only the Ack_Data (frame 10) decodes.",
        },
    )
}

fn evasion_ip_length_conflict() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, false, 40_707, 0xE4);
    let (job, ack, r) = stop_frames(&mut s);
    let decoy = decoy_frame(&mut s, r, job.len());
    let real = client_segment(&mut s, &job);
    let mut fake = real.clone();
    fake[20..].copy_from_slice(&decoy);
    let base = v4_base(&mut tr, s.c.client, s.c.server);
    let a = tr.next_no();
    push_v4(&mut tr, &base, &[(24, false, &fake[24..40]), (24, false, &real[24..]), (0, true, &real[..24])]);
    tr.note(
        a,
        "the STOP's TCP segment in IPv4 fragments sent last first: a \"last\" fragment with bytes 24–40 of a Read SZL request (the datagram would end at 40), another \"last\" fragment with bytes 24–53 of the STOP (it would end at 53), then bytes 0–24. A target keeping the first end reassembles 40 bytes of junk; one keeping the latest end and copy, the STOP",
    );
    answer_and_close(&mut tr, &mut s, &ack);
    finish(
        "evasion_ip_length_conflict",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "two \"last\" IPv4 fragments with different ends (40 and 53 bytes) and different bytes, the STOP in the later one",
            expected: "evasion.ip_length_conflict, evasion.ip_overlap_conflict; only the last copy (53 bytes) has a valid TCP checksum: control.cpu_stop, confirmed; crash_pattern.ip_fragment",
            tshark: "reassembles 40 bytes in frame 10 (first end and first copy): a TPKT cut short (\"TCP segment of a reassembled PDU\"), no S7comm; only the Ack_Data (frame 11) decodes.",
        },
    )
}

fn evasion_ip_ipv6_fragments() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, true, 40_709, 0xE5);
    let (job, ack, _) = stop_frames(&mut s);
    let seg = client_segment(&mut s, &job);
    let h = v6_base(s.c.client, s.c.server, 0x5eed_0001, net::IPPROTO_TCP);
    let pieces: Vec<(usize, bool, &[u8])> =
        seg.chunks(8).enumerate().map(|(i, c)| (i * 8, (i + 1) * 8 < seg.len(), c)).collect();
    let a = tr.next_no();
    push_v6(&mut tr, &h, &[], &pieces);
    tr.note(a, "the STOP's TCP segment in 7 IPv6 fragments of 8 bytes (fragment header id 0x5eed0001): the first carries only the TCP ports and sequence number");
    answer_and_close(&mut tr, &mut s, &ack);
    finish(
        "evasion_ip_ipv6_fragments",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "the STOP over IPv6 in 8-byte fragments (a sensor that does not reassemble IPv6 misses it)",
            expected: "control.cpu_stop (confirmed) from the reassembled IPv6 datagram, evasion.ip_tiny_fragment, crash_pattern.ip_fragment",
            tshark: "reassembles the IPv6 datagram in frame 14 and decodes the STOP there; frame 15 the Ack_Data.",
        },
    )
}

fn evasion_ip_ipv6_ext_headers() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, true, 40_711, 0xE6);
    let (job, ack, _) = stop_frames(&mut s);
    let seg = client_segment(&mut s, &job);
    // Fragmentable part: destination options (16 bytes), then the TCP segment.
    let mut part = Vec::new();
    net::push_ipv6_exts(&mut part, &[Ipv6Ext::dest_opts(1)], net::IPPROTO_TCP);
    part.extend_from_slice(&seg);
    let h = v6_base(s.c.client, s.c.server, 0x5eed_0002, net::IPV6_DEST_OPTS);
    let exts = [Ipv6Ext::hop_by_hop(), Ipv6Ext::routing_done(), Ipv6Ext::dest_opts(0)];
    let a = tr.next_no();
    push_v6(&mut tr, &h, &exts, &[(48, false, &part[48..]), (0, true, &part[..8]), (8, true, &part[8..48])]);
    tr.note(
        a,
        "the STOP's TCP segment over IPv6 behind hop-by-hop options, a routing header (segments left 0) and destination options in every fragment; the fragmentable part starts with 16 bytes of destination options; three fragments sent last first, the first carrying only 8 bytes of the destination options (the header chain continues in the next fragment, RFC 7112)",
    );
    answer_and_close(&mut tr, &mut s, &ack);
    finish(
        "evasion_ip_ipv6_ext_headers",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "the STOP over IPv6 with extension headers before and after the fragment header, the header chain split across fragments, fragments out of order",
            expected: "control.cpu_stop (confirmed), evasion.ip_tiny_fragment (header chain not in the first fragment), crash_pattern.ip_fragment",
            tshark: "reassembles the IPv6 datagram in frame 10 and decodes the STOP there; frame 11 the Ack_Data.",
        },
    )
}

fn evasion_ip_out_of_order() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, false, 40_713, 0xE7);
    let (job, ack, _) = stop_frames(&mut s);
    let seg = client_segment(&mut s, &job);
    let base = v4_base(&mut tr, s.c.client, s.c.server);
    let a = tr.next_no();
    push_v4(
        &mut tr,
        &base,
        &[(48, false, &seg[48..]), (24, true, &seg[24..48]), (24, true, &seg[24..48]), (0, true, &seg[..24])],
    );
    tr.note(
        a,
        "the STOP's TCP segment in IPv4 fragments of 24 bytes sent last first, the middle one twice (identical bytes)",
    );
    answer_and_close(&mut tr, &mut s, &ack);
    finish(
        "evasion_ip_out_of_order",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "the STOP in IPv4 fragments sent in reverse order with a duplicate fragment",
            expected: "control.cpu_stop (confirmed) and crash_pattern.ip_fragment; no evasion alert: reordered and duplicated fragments with identical bytes are legal and reassemble the same everywhere",
            tshark: "reassembles the datagram in frame 11 and decodes the STOP there; frame 12 the Ack_Data.",
        },
    )
}

fn evasion_ip_fragment_timeout() -> Case {
    let mut bg = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49_230, PLC1, 0xE8 ^ 0x55);
    let a = bg.next_no();
    h.connect(&mut bg, 2);
    for i in 0..22 {
        bg.wait_ms(5_000);
        h.poll(&mut bg, i);
    }
    bg.note(a, "background: HMI 10.10.2.20 polls PLC 10.10.1.10 every 5 s");
    let mut tr = Trace::at(LinkType::Ethernet, 2_000);
    let mut s = attacker(&mut tr, false, 40_715, 0xE8);
    let (job, ack, _) = stop_frames(&mut s);
    let seg = client_segment(&mut s, &job);
    let base = v4_base(&mut tr, s.c.client, s.c.server);
    let a = tr.next_no();
    push_v4(&mut tr, &base, &[(0, true, &seg[..24]), (24, true, &seg[24..48])]);
    tr.note(a, "the first two IPv4 fragments of the STOP's TCP segment");
    tr.wait_ms(90_000);
    let a = tr.next_no();
    push_v4(&mut tr, &base, &[(48, false, &seg[48..])]);
    tr.note(a, "90 s later, the last fragment: beyond the sensor's 60 s reassembly timeout, within a target's that keeps fragments longer");
    answer_and_close(&mut tr, &mut s, &ack);
    let tr = Trace::merge(vec![bg, tr]);
    finish(
        "evasion_ip_fragment_timeout",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "the STOP's last IPv4 fragment sent 90 s after the others (fragment-timeout evasion)",
            expected: "evasion.ip_datagram_incomplete 60 s after the first fragment, evasion.ip_late_fragment when the last one arrives (the earlier bytes were kept), control.cpu_stop (confirmed); crash_pattern.ip_fragment",
            tshark: "reassembles the datagram when the last fragment arrives in frame 59 (tshark has no reassembly timeout) and decodes the STOP there; frame 60 the Ack_Data.",
        },
    )
}

fn evasion_ip_fragment_flood() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = attacker(&mut tr, false, 40_717, 0xE9);
    let mut rng = SplitMix64::new(0xEA);
    let a = tr.next_no();
    for i in 0..1_100u32 {
        let mut first = rng.bytes(24);
        first[0..2].copy_from_slice(&(41_000 + (i % 1000) as u16).to_be_bytes());
        first[2..4].copy_from_slice(&102u16.to_be_bytes());
        first[12] = 0x50;
        let base = Ipv4Header { id: 0x8000 | i as u16, ..v4_base(&mut tr, s.c.client, s.c.server) };
        push_v4(&mut tr, &base, &[(0, true, &first)]);
        tr.wait_us(200);
    }
    tr.note(
        a,
        "1 100 first fragments of datagrams that never complete (24 bytes each, to port 102, one every 0.24 ms): more than the 1 024 datagrams the sensor holds",
    );
    let (job, ack, _) = stop_frames(&mut s);
    let seg = client_segment(&mut s, &job);
    let base = v4_base(&mut tr, s.c.client, s.c.server);
    let a = tr.next_no();
    push_v4(&mut tr, &base, &[(0, true, &seg[..24]), (24, true, &seg[24..48]), (48, false, &seg[48..])]);
    tr.note(a, "the STOP's TCP segment in three IPv4 fragments");
    answer_and_close(&mut tr, &mut s, &ack);
    finish(
        "evasion_ip_fragment_flood",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "a flood of never-completed fragmented datagrams to fill the sensor's reassembly table, then the STOP in fragments",
            expected: "evasion.ip_reassembly_cap (the oldest flood datagram given up for each new one beyond 1 024, oldest first), control.cpu_stop (confirmed: the STOP's datagram gets room), evasion.ip_datagram_incomplete for the flood at the end; crash_pattern.ip_fragment",
            tshark: "the flood fragments stay \"Fragmented IP protocol\"; reassembles the STOP's datagram in frame 1110 and decodes it; frame 1111 the Ack_Data.",
        },
    )
}

fn evasion_ip_twin_pmtu() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49_232, PLC1, 0xEB);
    let a = tr.next_no();
    s.open(&mut tr, 2);
    s.setup(&mut tr, 1, 960);
    tr.note(a, "HMI 10.10.2.20 → PLC 10.10.1.10: handshake, CR/CC, Setup Communication (PDU 960)");
    tr.wait_ms(100);
    let values = s.values(900);
    let (req, resp) = s.write_frames(&[AnyItem::db_bytes(1, 0, 900)], &[&values]);
    let seg = client_segment(&mut s, &req);
    let base = v4_base(&mut tr, s.c.client, s.c.server);
    let a = tr.next_no();
    push_v4(&mut tr, &base, &[(0, true, &seg[..552]), (0, true, &seg[..552]), (552, false, &seg[552..])]);
    tr.note(
        a,
        "a Write Var of 900 bytes (DB1.DBB0) whose 947-byte TCP segment a router with a 576-byte MTU fragmented (DF clear): 552 + 395 bytes; the SPAN port saw the first fragment twice",
    );
    let a = tr.next_no();
    s.answer(&mut tr, &resp);
    tr.note(a, "the PLC's Write Var Ack_Data");
    let a = tr.next_no();
    tr.wait_ms(200);
    s.close_fin(&mut tr);
    tr.note(a, "TCP FIN close");
    finish(
        "evasion_ip_twin_pmtu",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "benign twin: an HMI write fragmented by a router with a small MTU, one fragment duplicated by the SPAN port",
            expected: "crash_pattern.ip_fragment only (medium: fragments toward a PLC stay the CVE-2024-23814 exposure); no evasion alert (a duplicate with identical bytes is no conflict)",
            tshark: "reassembles the datagram in frame 10 and decodes the Write Var there; frame 11 its Ack_Data.",
        },
    )
}

fn evasion_ip_twin_ipv6_pmtu() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI_V6, 49_234, PLC1_V6, 0xEC);
    let a = tr.next_no();
    s.open(&mut tr, 2);
    s.setup(&mut tr, 2, 960);
    tr.note(a, "HMI fd00:10:10:2::20 → PLC fd00:10:10:1::10: handshake, CR/CC, Setup Communication (AmQ 2, PDU 960)");
    tr.wait_ms(100);
    let (v1, v2) = (s.values(900), s.values(900));
    let (r1, a1) = s.write_frames(&[AnyItem::db_bytes(1, 0, 900)], &[&v1]);
    let (r2, a2) = s.write_frames(&[AnyItem::db_bytes(1, 900, 900)], &[&v2]);
    let both: Vec<u8> = r1.iter().chain(&r2).copied().collect();
    let seg = client_segment(&mut s, &both);
    let h = v6_base(s.c.client, s.c.server, 0x0001_0203, net::IPPROTO_TCP);
    let a = tr.next_no();
    push_v6(&mut tr, &h, &[], &[(0, true, &seg[..1232]), (1232, false, &seg[1232..])]);
    tr.note(
        a,
        "two pipelined Write Var jobs of 900 bytes in one 1 894-byte TCP segment, which the HMI's stack fragments for a 1 280-byte path MTU: 1 232 + 662 bytes",
    );
    let a = tr.next_no();
    s.answer(&mut tr, &[a1, a2].concat());
    tr.note(a, "the PLC's two Write Var Ack_Data in one segment");
    let a = tr.next_no();
    tr.wait_ms(200);
    s.close_fin(&mut tr);
    tr.note(a, "TCP FIN close");
    finish(
        "evasion_ip_twin_ipv6_pmtu",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "benign twin: an IPv6 HMI fragments a segment of two pipelined writes for a 1 280-byte path MTU",
            expected: "crash_pattern.ip_fragment only (medium, as for IPv4); no evasion alert",
            tshark: "reassembles the IPv6 datagram in frame 9 and decodes both Write Var jobs there; frame 10 the two Ack_Data.",
        },
    )
}
