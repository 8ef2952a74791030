//! Decode cases (issue 2): benign S7 traffic in every framing, segmentation and
//! encapsulation the sensor must handle.

use super::hosts::{ES, HMI, HMI_V6, PLC1, PLC1_V6, PLC2};
use super::session::{Session, POLL_ITEMS};
use super::{finish, Builder, Case, Texts};
use crate::net::{VlanTag, PSH};
use crate::pcap::{Endian, Format, LinkType, TsResolution};
use crate::s7::{self, AnyItem};
use crate::s7plus;
use crate::trace::{Dir, Piece, Trace};

/// The decode cases, in index order.
pub const CASES: &[(&str, Builder)] = &[
    ("decode_basic", decode_basic),
    ("decode_segmented", decode_segmented),
    ("decode_retrans_ooo", decode_retrans_ooo),
    ("decode_gap", decode_gap),
    ("decode_midstream", decode_midstream),
    ("decode_vlan", decode_vlan),
    ("decode_sll", decode_sll),
    ("decode_sll2", decode_sll2),
    ("decode_rawip", decode_rawip),
    ("decode_ipv6", decode_ipv6),
    ("decode_nanosecond_be", decode_nanosecond_be),
    ("decode_pcapng", decode_pcapng),
    ("decode_ipfrag", decode_ipfrag),
    ("decode_truncated", decode_truncated),
    ("decode_notpcap", decode_notpcap),
    ("s7plus_basic", s7plus_basic),
    ("s7plus_tls", s7plus_tls),
];

const CLEAN: &str = "decodes every frame as TPKT/COTP/S7comm with no expert warning and no malformed marker.";

/// Handshake, CR/CC (OP TSAPs), Setup Communication, `cycles` polls every `interval_ms`,
/// optional SZL 0x0011 + 0x001C reads, DR/DC and FIN close; with notes.
pub(super) fn hmi_session(tr: &mut Trace, s: &mut Session, cycles: usize, interval_ms: u64, szl: bool) {
    let (c, p, cp) = (s.c.client, s.c.server, s.c.cport);
    let a = tr.next_no();
    s.handshake(tr);
    tr.note(a, format!("TCP handshake {c}:{cp} → {p}:102"));
    let a = tr.next_no();
    s.cotp_connect(tr, 2);
    tr.note(a, "COTP CR (calling TSAP 02 00, called 02 01, TPDU size 1024) and CC");
    let a = tr.next_no();
    s.setup(tr, 1, 480);
    tr.note(a, "S7 Setup Communication job and Ack_Data (AmQ 1/1, PDU 480)");
    let a = tr.next_no();
    for i in 0..cycles {
        tr.wait_ms(interval_ms);
        s.poll(tr, i);
    }
    tr.note(
        a,
        format!(
            "{cycles} poll cycles every {interval_ms} ms, each a Read Var job (DB1.DBB0 32 bytes + MB0 4 bytes) and its \
             Ack_Data, with a Write Var DB1.DBW4 job/Ack_Data in every fifth cycle ({} {})",
            cycles / 5,
            if cycles / 5 == 1 { "write" } else { "writes" }
        ),
    );
    if szl {
        let a = tr.next_no();
        tr.wait_ms(interval_ms);
        s.szl_0011(tr);
        tr.note(
            a,
            "userdata Read SZL 0x0011 index 0 and its response (order number 6ES7 516-3AN01-0AB0, firmware V2.9.4)",
        );
        let a = tr.next_no();
        s.szl_001c(tr);
        tr.note(a, "Read SZL 0x001C (component identification: station, module PLC_1, plant id, serial number)");
    }
    let a = tr.next_no();
    tr.wait_ms(interval_ms);
    s.close_dr(tr);
    tr.note(a, "COTP DR (reason 0x80 normal) from the HMI, DC from the PLC, TCP FIN/FIN/ACK");
}

fn decode_basic() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49201, PLC1, 0xB1);
    hmi_session(&mut tr, &mut s, 20, 100, true);
    finish(
        "decode_basic",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "HMI polling a PLC: CR/CC, setup, 20 read/write cycles, SZL 0x0011 and 0x001C, DR/FIN close (Ethernet, pcap µs LE)",
            expected: "one flow; 27 S7 requests (1 Setup Communication, 20 Read Var, 4 Write Var, 2 Read SZL), each paired with its response, plus COTP CR/CC and DR/DC; no finding, no alert",
            tshark: CLEAN,
        },
    )
}

fn short_session(tr: &mut Trace, seed: u64, client: std::net::IpAddr, plc: std::net::IpAddr) {
    let mut s = Session::new(client, 49301, plc, seed);
    hmi_session(tr, &mut s, 5, 100, true);
}

fn decode_segmented() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49202, PLC1, 0xB2);
    let a = tr.next_no();
    s.handshake(&mut tr);
    tr.note(a, "TCP handshake");
    let (calling, called) = ([2u8, 0], s7::tsap(2, 0, 1));
    let cr = s7::cr(s.cotp_client, &calling, &called);
    let cc = s7::cc(s.cotp_client, s.cotp_plc, &calling, &called);
    let a = tr.next_no();
    s.c.send_cut(&mut tr, Dir::C2S, &cr, &[1]);
    tr.wait_us(900);
    s.c.send_cut(&mut tr, Dir::S2C, &cc, &[2]);
    tr.note(a, "COTP CR split after TPKT byte 1 (2 segments), CC split after TPKT byte 2 (2 segments)");
    let r = s.next_ref();
    let job = s7::job(r, &s7::setup_comm_param(3, 3, 480), &[]);
    let ack = s7::ack_data(r, &s7::setup_comm_param(3, 3, 480), &[]);
    let a = tr.next_no();
    s.c.send_cut(&mut tr, Dir::C2S, &job, &[3]);
    tr.wait_us(1500);
    s.c.send_cut(&mut tr, Dir::S2C, &ack, &[4]);
    tr.note(a, "Setup Communication (AmQ 3/3, PDU 480) split after TPKT byte 3; its Ack_Data split between TPKT and COTP (after byte 4)");
    let (req, resp) = s.read_frames(&POLL_ITEMS);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send_cut(&mut tr, Dir::C2S, &req, &[9, 12]);
    tr.wait_us(1500);
    s.c.send_cut(&mut tr, Dir::S2C, &resp, &[1, 2, 3]);
    tr.note(
        a,
        "Read Var job split inside the S7 header (after bytes 9 and 12: 3 segments); its Ack_Data sent as 1+1+1+rest bytes (4 segments)",
    );
    // Three jobs coalesced into one segment, three answers into one segment.
    let a = tr.next_no();
    tr.wait_ms(100);
    let mut jobs = Vec::new();
    let mut acks = Vec::new();
    for _ in 0..3 {
        let (q, p) = s.read_frames(&POLL_ITEMS);
        jobs.extend(q);
        acks.extend(p);
    }
    s.c.send(&mut tr, Dir::C2S, &jobs);
    tr.wait_us(2500);
    s.c.send(&mut tr, Dir::S2C, &acks);
    tr.note(a, "three Read Var jobs coalesced in one segment, the three Ack_Data coalesced in one segment");
    // Two TPKTs whose boundary falls inside a segment.
    let a = tr.next_no();
    tr.wait_ms(100);
    let (q1, p1) = s.read_frames(&POLL_ITEMS);
    let (q2, p2) = s.write_frames(&[AnyItem::db_word(1, 4)], &[&[0x00, 0x2A]]);
    let mut q = q1.clone();
    q.extend(&q2);
    let mut p = p1.clone();
    p.extend(&p2);
    s.c.send_cut(&mut tr, Dir::C2S, &q, &[q1.len() + 10]);
    tr.wait_us(2500);
    s.c.send_cut(&mut tr, Dir::S2C, &p, &[p1.len() + 2]);
    tr.note(
        a,
        "Read Var + Write Var jobs in two segments, the first ending 10 bytes into the second TPKT; their two Ack_Data likewise, the cut 2 bytes into the second TPKT",
    );
    // One S7 PDU in three COTP DT TPDUs.
    let big = [AnyItem::db_bytes(2, 0, 200)];
    let r = s.next_ref();
    let vals = s.values(200);
    let mut data = Vec::new();
    s7::data_item(&mut data, 0xFF, s7::dsize::BYTE_WORD_DWORD, &vals, true);
    let pdu = s7::s7_pdu(s7::ACK_DATA, r, &[0x04, 0x01], &data, 0);
    let frags = s7::dt_fragmented(&pdu, &[80, 160]);
    let l1 = 7 + 80;
    let l2 = 7 + 80;
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send(&mut tr, Dir::C2S, &s7::read_var_job(r, &big));
    tr.wait_us(3000);
    s.c.send_cut(&mut tr, Dir::S2C, &frags, &[l1, l1 + l2]);
    tr.note(
        a,
        "Read Var DB2.DBB0 200 bytes; the Ack_Data PDU (218 bytes) comes in three COTP DT TPDUs (80 + 80 + 58 bytes of S7 PDU, EOT only on the third), one per segment",
    );
    let r = s.next_ref();
    let vals = s.values(200);
    let mut data = Vec::new();
    s7::data_item(&mut data, 0xFF, s7::dsize::BYTE_WORD_DWORD, &vals, true);
    let pdu = s7::s7_pdu(s7::ACK_DATA, r, &[0x04, 0x01], &data, 0);
    let frags = s7::dt_fragmented(&pdu, &[80, 160]);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send(&mut tr, Dir::C2S, &s7::read_var_job(r, &big));
    tr.wait_us(3000);
    s.c.send_cut(&mut tr, Dir::S2C, &frags, &[l1 + 40]);
    tr.note(
        a,
        "the same read again; the three DT TPDUs of the answer now travel in two segments, the cut inside the second TPDU's S7 data",
    );
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_dr(&mut tr);
    tr.note(a, "DR/DC and FIN close");
    finish(
        "decode_segmented",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "the same PDUs split at every awkward position: inside the TPKT header, between TPKT and COTP, inside the S7 header; TPKTs coalesced; one PDU in 3 COTP DT TPDUs",
            expected: "identical decode to an unsegmented session: 9 S7 jobs paired with 9 Ack_Data, the 3-TPDU answers reassembled into single 218-byte PDUs; no finding, no alert",
            tshark: "reassembles the TPKTs across segments (the partial segments show as \"[TCP segment of a reassembled PDU]\") and decodes every S7 PDU, the coalesced ones as several PDUs in one frame; the COTP DT fragments show as \"DT TPDU (n) [COTP fragment, 80 bytes]\" and the reassembled Ack_Data appears in the frame holding the EOT TPDU. No malformed marker.",
        },
    )
}

fn decode_retrans_ooo() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49203, PLC1, 0xB3);
    let a = tr.next_no();
    s.connect(&mut tr, 2);
    tr.note(a, "handshake, CR/CC, Setup Communication");
    let a = tr.next_no();
    for i in 0..2 {
        tr.wait_ms(100);
        s.poll(&mut tr, i);
    }
    tr.note(a, "two normal poll cycles");
    // Identical retransmission of a job.
    let (req, resp) = s.read_frames(&POLL_ITEMS);
    let a = tr.next_no();
    tr.wait_ms(100);
    let base = s.c.c_next;
    s.c.send(&mut tr, Dir::C2S, &req);
    tr.wait_ms(300);
    s.c.segment_at(&mut tr, Dir::C2S, base, PSH | crate::net::ACK, &req);
    tr.wait_us(2000);
    s.c.send(&mut tr, Dir::S2C, &resp);
    tr.note(a, "Read Var job, the same segment retransmitted 300 ms later with identical bytes, then the Ack_Data");
    // Out-of-order answer.
    let (req, resp) = s.read_frames(&POLL_ITEMS);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send(&mut tr, Dir::C2S, &req);
    tr.wait_us(2000);
    s.c.send_plan(&mut tr, Dir::S2C, &resp, &[Piece::seg(20, resp.len()), Piece::seg(0, 20)]);
    tr.note(a, "Read Var job; its Ack_Data in two segments delivered out of order (bytes 20.. first, then 0..20)");
    // Overlap with identical bytes.
    let (req, resp) = s.read_frames(&POLL_ITEMS);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send_plan(&mut tr, Dir::C2S, &req, &[Piece::seg(0, 20), Piece::seg(10, req.len())]);
    tr.wait_us(2000);
    s.c.send(&mut tr, Dir::S2C, &resp);
    tr.note(
        a,
        "Read Var job in two segments overlapping by 10 bytes (bytes 10..20 sent twice, identical), then the Ack_Data",
    );
    // Duplicate answer.
    let (req, resp) = s.read_frames(&POLL_ITEMS);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send(&mut tr, Dir::C2S, &req);
    tr.wait_us(2000);
    s.c.send_plan(&mut tr, Dir::S2C, &resp, &[Piece::seg(0, resp.len()), Piece::seg(0, resp.len())]);
    tr.note(a, "Read Var job; its Ack_Data segment sent twice with identical bytes (PLC-side retransmission)");
    // Overlap with different bytes (evasion).
    let (req, resp) = s.write_frames(&[AnyItem::db_word(1, 4)], &[&[0x00, 0x01]]);
    let n = req.len();
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send_plan(
        &mut tr,
        Dir::C2S,
        &req,
        &[
            Piece::seg(0, n),
            Piece::alt(n - 6, {
                let mut v = req[n - 6..].to_vec();
                v[4] = 0x7F;
                v[5] = 0xFF;
                v
            }),
        ],
    );
    tr.wait_us(2000);
    s.c.send(&mut tr, Dir::S2C, &resp);
    tr.note(
        a,
        "Write Var DB1.DBW4 := 0x0001 job, then a segment overlapping its last 6 bytes whose value bytes differ (0x7FFF): a conflicting overlap, the evasion pattern; then the Ack_Data",
    );
    let a = tr.next_no();
    for i in 0..3 {
        tr.wait_ms(100);
        s.poll(&mut tr, i);
    }
    tr.note(a, "three normal poll cycles");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_dr(&mut tr);
    tr.note(a, "DR/DC and FIN close");
    finish(
        "decode_retrans_ooo",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "identical retransmissions, out-of-order segments, an identical overlap and one overlap with DIFFERENT bytes",
            expected: "every PDU decoded exactly once (duplicates and identical overlaps dropped, reordering fixed); one TCP finding/alert for the conflicting overlap toward 102 (bytes differ in the retransmitted Write Var value)",
            tshark: "flags the identical duplicates and the conflicting overlap as \"TCP Retransmission\" (it does not compare overlapping bytes by default) and the reordered and overlapping segments as \"TCP Previous segment not captured\" / \"TCP Out-Of-Order\"; with out-of-order reassembly off (the default) the reordered Ack_Data stays undecoded (\"TPKT Continuation\"), every other S7 PDU decodes. No malformed marker.",
        },
    )
}

fn decode_gap() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49204, PLC1, 0xB4);
    let a = tr.next_no();
    s.connect(&mut tr, 2);
    tr.note(a, "handshake, CR/CC, Setup Communication");
    let a = tr.next_no();
    for i in 0..3 {
        tr.wait_ms(100);
        s.poll(&mut tr, i);
    }
    tr.note(a, "three poll cycles");
    let (req, resp) = s.read_frames(&POLL_ITEMS);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send(&mut tr, Dir::C2S, &req);
    tr.wait_us(2000);
    s.c.send_plan(&mut tr, Dir::S2C, &resp, &[Piece::gap(0, resp.len())]);
    tr.note(a, "Read Var job whose Ack_Data segment (PLC → HMI) is missing from the capture");
    let a = tr.next_no();
    for i in 0..2 {
        tr.wait_ms(100);
        s.poll(&mut tr, i);
    }
    tr.note(a, "two poll cycles; the HMI's next segment acknowledges the missing bytes");
    let (req, resp) = s.read_frames(&POLL_ITEMS);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send_plan(&mut tr, Dir::C2S, &req, &[Piece::gap(0, req.len())]);
    tr.wait_us(2000);
    s.c.send(&mut tr, Dir::S2C, &resp);
    tr.note(
        a,
        "Ack_Data from the PLC whose Read Var job (HMI → PLC) is missing from the capture (the PLC acknowledges it)",
    );
    let a = tr.next_no();
    for i in 0..3 {
        tr.wait_ms(100);
        s.poll(&mut tr, i);
    }
    tr.note(a, "three poll cycles after the gaps");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_dr(&mut tr);
    tr.note(a, "DR/DC and FIN close");
    finish(
        "decode_gap",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "one PLC→HMI and one HMI→PLC segment missing from the capture; later segments acknowledge them",
            expected: "two capture gaps reported (one per direction), one unanswered-looking job and one orphan Ack_Data; every PDU after each gap decoded; no attack alert (a gap is a capture fact, not PLC silence)",
            tshark: "decodes every captured S7 PDU; marks \"TCP ACKed unseen segment\" after the missing PLC segment and \"Previous segment not captured\" at the Ack_Data whose job is missing. No malformed marker.",
        },
    )
}

fn decode_midstream() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49205, PLC1, 0xB5);
    s.c = s.c.clone().established();
    s.c.c_next = s.c.c_next.wrapping_add(4321);
    s.c.s_next = s.c.s_next.wrapping_add(9876);
    let (req, resp) = s.read_frames(&POLL_ITEMS);
    let a = tr.next_no();
    s.c.send_plan(&mut tr, Dir::C2S, &req, &[Piece::gap(0, req.len())]);
    tr.wait_us(2000);
    s.c.send_plan(&mut tr, Dir::S2C, &resp, &[Piece::gap(0, 10), Piece::seg(10, resp.len())]);
    tr.note(
        a,
        "the capture starts inside an established connection (no handshake, no CR, no setup): the first segment is bytes 10.. of a Read Var Ack_Data (it begins inside the S7 header)",
    );
    let a = tr.next_no();
    for i in 0..10 {
        tr.wait_ms(100);
        s.poll(&mut tr, i);
    }
    tr.note(a, "10 normal poll cycles (Read Var, and Write Var DB1.DBW4 in cycles 5 and 10)");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_fin(&mut tr);
    tr.note(a, "TCP FIN close");
    finish(
        "decode_midstream",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "capture starts mid-connection, first segment starts in the middle of a TPKT",
            expected: "the flow is picked up without a handshake; the partial TPKT at the start is skipped (resync on the next segment that starts with 03 00); the 12 following jobs are decoded and paired; no malformed finding for the cut-off start",
            tshark: "the first frame shows as \"TPKT Continuation\" (tshark cannot frame it); all later S7 PDUs decode. No malformed marker.",
        },
    )
}

fn decode_vlan() -> Case {
    let mut t1 = Trace::new(LinkType::Ethernet);
    let mut s1 = Session::new(HMI, 49206, PLC1, 0xB6);
    s1.c = s1.c.clone().with_tags(vec![VlanTag::dot1q(10, 0)]);
    let a = t1.next_no();
    hmi_session(&mut t1, &mut s1, 5, 100, false);
    t1.note(a, "connection 1 (HMI → PLC 10.10.1.10, interleaved with connection 2), every frame 802.1Q-tagged VLAN 10");
    let mut t2 = Trace::at(LinkType::Ethernet, 250);
    let mut s2 = Session::new(ES, 50001, PLC2, 0xB7);
    s2.c = s2.c.clone().with_tags(vec![VlanTag::dot1ad(100, 0), VlanTag::dot1q(20, 0)]);
    let a = t2.next_no();
    hmi_session(&mut t2, &mut s2, 5, 90, true);
    t2.note(a, "connection 2 (engineering station → PLC 10.10.1.11), every frame QinQ-tagged (outer 802.1ad 0x88a8 VLAN 100, inner 802.1Q VLAN 20)");
    let mut tr = Trace::merge(vec![t1, t2]);
    // The per-connection notes are too fine-grained once interleaved: keep the two summaries
    // and the ones of connection 2's SZL reads.
    tr.notes.retain(|n| n.text.starts_with("connection") || n.text.contains("SZL"));
    finish(
        "decode_vlan",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "two interleaved connections, one 802.1Q-tagged (VLAN 10), one QinQ-tagged (100/20)",
            expected: "both flows decoded like untagged traffic (VLAN id kept as flow metadata); no finding, no alert",
            tshark: "shows 802.1Q Virtual LAN (and 802.1ad for the outer tag) and decodes S7comm on both connections. No malformed marker.",
        },
    )
}

fn linktype_case(
    name: &'static str,
    link: LinkType,
    fmt: Format,
    seed: u64,
    what: &'static str,
    tshark: &'static str,
) -> Case {
    let mut tr = Trace::new(link);
    tr.local = vec![HMI];
    short_session(&mut tr, seed, HMI, PLC1);
    finish(
        name,
        &tr,
        fmt,
        Texts {
            what,
            expected: "one flow decoded exactly as in decode_basic (setup, 5 reads, 1 write, 2 SZL reads, COTP connect/disconnect); no finding, no alert",
            tshark,
        },
    )
}

fn decode_sll() -> Case {
    linktype_case(
        "decode_sll",
        LinkType::LinuxSll,
        Format::CLASSIC,
        0xC1,
        "short HMI session captured as Linux cooked v1 (LINKTYPE_LINUX_SLL 113), capture taken on the HMI",
        "\"Linux cooked capture v1\", packet type \"Sent by us\"/\"Unicast to us\"; S7comm decoded. No malformed marker.",
    )
}

fn decode_sll2() -> Case {
    linktype_case(
        "decode_sll2",
        LinkType::LinuxSll2,
        Format::CLASSIC,
        0xC2,
        "short HMI session captured as Linux cooked v2 (LINKTYPE_LINUX_SLL2 276)",
        "\"Linux cooked capture v2\" (interface index 2); S7comm decoded. No malformed marker.",
    )
}

fn decode_rawip() -> Case {
    linktype_case(
        "decode_rawip",
        LinkType::RawIp,
        Format::CLASSIC,
        0xC3,
        "short HMI session with no link layer (LINKTYPE_RAW 101, packets start with the IPv4 header)",
        "\"Raw packet data\"; S7comm decoded. No malformed marker.",
    )
}

fn decode_ipv6() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    short_session(&mut tr, 0xC4, HMI_V6, PLC1_V6);
    finish(
        "decode_ipv6",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "short HMI session over IPv6 (fd00:10:10:2::20 → fd00:10:10:1::10) on Ethernet",
            expected: "one IPv6 flow decoded like decode_basic's first part; no finding, no alert",
            tshark: "IPv6 + TCP with correct checksums; S7comm decoded. No malformed marker.",
        },
    )
}

fn decode_nanosecond_be() -> Case {
    linktype_case(
        "decode_nanosecond_be",
        LinkType::Ethernet,
        Format::Pcap(Endian::Big, TsResolution::Nano),
        0xC5,
        "short HMI session in a big-endian pcap with nanosecond timestamps (magic a1 b2 3c 4d)",
        "reads the file (\"Wireshark/tcpdump/... - pcap (nanosecond)\"), nanosecond timestamps; S7comm decoded. No malformed marker.",
    )
}

fn decode_pcapng() -> Case {
    linktype_case(
        "decode_pcapng",
        LinkType::Ethernet,
        Format::Pcapng,
        0xC6,
        "short HMI session in pcapng (SHB, one IDB with if_tsresol 9, EPBs)",
        "reads the pcapng (interface eth0, nanosecond resolution); S7comm decoded. No malformed marker.",
    )
}

fn decode_ipfrag() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49207, PLC1, 0xB8);
    let a = tr.next_no();
    s.connect(&mut tr, 2);
    tr.note(a, "handshake, CR/CC, Setup Communication");
    let a = tr.next_no();
    for i in 0..2 {
        tr.wait_ms(100);
        s.poll(&mut tr, i);
    }
    tr.note(a, "two poll cycles");
    let vals = s.values(64);
    let (req, resp) = s.write_frames(&[AnyItem::db_bytes(1, 100, 64)], &[&vals]);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send_ip_fragmented(&mut tr, Dir::C2S, &req, 48);
    tr.note(a, "a Write Var DB1.DBB100 (64 bytes) job toward PLC port 102 carried in 3 IPv4 fragments (48 + 48 + 23 bytes of IP payload, same IP id, MF on the first two)");
    let a = tr.next_no();
    s.answer(&mut tr, &resp);
    tr.note(a, "its Ack_Data (unfragmented)");
    let (req, resp) = s.read_frames(&POLL_ITEMS);
    let a = tr.next_no();
    tr.wait_ms(100);
    s.c.send_ip_fragmented(&mut tr, Dir::C2S, &req, 8);
    tr.note(a, "a Read Var job in 8-byte IPv4 fragments (tiny fragments: the first carries only the TCP ports and sequence number)");
    let a = tr.next_no();
    s.answer(&mut tr, &resp);
    tr.note(a, "its Ack_Data");
    let a = tr.next_no();
    for i in 0..2 {
        tr.wait_ms(100);
        s.poll(&mut tr, i);
    }
    tr.note(a, "two poll cycles");
    let a = tr.next_no();
    tr.wait_ms(100);
    s.close_dr(&mut tr);
    tr.note(a, "DR/DC and FIN close");
    finish(
        "decode_ipfrag",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "IPv4 fragments toward PLC port 102 (a write in 3 fragments, a read in 8-byte fragments)",
            expected: "IP fragments toward the PLC counted and reported (2 fragmented datagrams in 11 fragments; the second uses tiny 8-byte fragments); S7 decode continues around them (whether the fragmented jobs are reassembled is up to the sensor; the answers decode either way)",
            tshark: "shows the leading fragments as \"Fragmented IP protocol (proto=TCP 6, off=…)\", reassembles each datagram in its last fragment and decodes the Write Var and Read Var jobs there. No malformed marker.",
        },
    )
}

fn decode_truncated() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    short_session(&mut tr, 0xC7, HMI, PLC1);
    let mut c = finish(
        "decode_truncated",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "pcap whose last record is cut short: the file ends 30 bytes into the last frame's data",
            expected: "all complete records decode as in a short HMI session; the cut last record is reported as a truncated capture file (an error/warning from the reader), not a crash",
            tshark: "decodes all frames before the last, then reports \"The file … appears to have been cut short in the middle of a packet\". Intended.",
        },
    );
    let last = tr.frames.last().map_or(0, |f| f.data.len());
    let cut = last - 30;
    c.bytes.truncate(c.bytes.len() - cut);
    c.frames -= 1;
    c.detail.push_str(&format!(
        " The record header of frame {} says {} bytes, but the file ends after 30 of them, so {} frames are complete.",
        tr.frames.len(),
        last,
        tr.frames.len() - 1
    ));
    c
}

fn decode_notpcap() -> Case {
    let text = "This is not a packet capture.\n\
                It is a plain text file placed where a capture is expected, so that the sensor's\n\
                file reader can be checked to fail cleanly (a clear error naming the file, exit code\n\
                non-zero, no panic) instead of decoding garbage.\n";
    Case {
        name: "decode_notpcap",
        file: "not_a_capture.txt",
        bytes: text.as_bytes().to_vec(),
        frames: 0,
        what: "a text file instead of a capture",
        expected: "the reader refuses the file with a clear error (unknown file format); no packets, no crash",
        tshark: "\"The file … isn't a capture file in a format TShark understands.\" Intended.",
        detail: "No frames: four lines of ASCII text.".to_string(),
    }
}

fn s7plus_basic() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49208, PLC1, 0xB9);
    let a = tr.next_no();
    s.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    tr.note(a, "TCP handshake, then COTP CR (calling TSAP 06 00, called TSAP \"SIMATIC-ROOT-HMI\") and CC");
    let a = tr.next_no();
    s.create_object(&mut tr, "HMI-PANEL-01");
    tr.note(a, "S7comm-plus V1 CreateObject request (session 288, ServerSession in container 285) and response with the new session id");
    let a = tr.next_no();
    for i in 0..4u16 {
        tr.wait_ms(200);
        let seq = s.next_plus_seq();
        let (d1, d2) = (s.digest(), s.digest());
        let req = s7plus::get_multi_v3_req(seq, s.plus_session, &d1, &[(0x8A0E_0001, 0), (0x8A0E_0001, 4)]);
        let resp = s7plus::get_multi_v3_resp(seq, &d2, &[i * 10, 500 + i]);
        s.xchg(&mut tr, &req, &resp);
    }
    tr.note(a, "four V3 GetMultiVariables requests and responses, each with a 32-byte integrity digest");
    let a = tr.next_no();
    tr.wait_ms(500);
    s.send(&mut tr, &s7plus::keep_alive(1));
    s.c.ack(&mut tr, Dir::S2C);
    tr.note(a, "keep-alive 72 FF from the HMI, pure ACK from the PLC");
    let a = tr.next_no();
    tr.wait_ms(200);
    let seq = s.next_plus_seq();
    let (d1, d2) = (s.digest(), s.digest());
    let sess = s.plus_session;
    s.xchg(&mut tr, &s7plus::delete_object_req(seq, sess, &d1), &s7plus::delete_object_resp(seq, &d2));
    tr.note(a, "V3 DeleteObject of the session and its response");
    let a = tr.next_no();
    s.close_fin(&mut tr);
    tr.note(a, "TCP FIN close");
    finish(
        "s7plus_basic",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "S7comm-plus session: CR to SIMATIC-ROOT-HMI, V1 CreateObject, V3 GetMultiVariables with 32-byte digests, keep-alive, DeleteObject, close",
            expected: "S7comm-plus decoded: versions V1/V3/keep-alive, functions CreateObject, GetMultiVariables x4, DeleteObject, each request paired with its response, digest length 32; no finding, no alert",
            tshark: "tshark 4.0.17 has no S7comm-plus dissector: CR/CC decode as COTP with the TSAP text, the 0x72 payloads show as COTP data (the S7comm heuristic does not claim them). No malformed marker.",
        },
    )
}

fn s7plus_tls() -> Case {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49209, PLC1, 0xBA);
    let a = tr.next_no();
    s.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    tr.note(a, "TCP handshake, COTP CR to \"SIMATIC-ROOT-HMI\" and CC");
    let a = tr.next_no();
    let seq = s.next_plus_seq();
    s.xchg(&mut tr, &s7plus::init_ssl_req(seq), &s7plus::init_ssl_resp(seq));
    tr.note(a, "S7comm-plus V1 InitSSL (function 0x05B3) request and response");
    let a = tr.next_no();
    let mut hello = vec![0x01, 0x00, 0x00, 0xC0, 0x03, 0x03];
    hello.extend(s.values(0xC0 - 2));
    s.send(&mut tr, &s7plus::tls_record(0x16, &hello));
    let mut sh = vec![0x02, 0x00, 0x02, 0x5C, 0x03, 0x03];
    sh.extend(s.values(0x25C - 2));
    let sh = s7plus::tls_record(0x16, &sh);
    s.answer(&mut tr, &sh);
    let mut kx = vec![0x10, 0x00, 0x00, 0x42];
    kx.extend(s.values(0x42));
    let mut flight = s7plus::tls_record(0x16, &kx);
    flight.extend(s7plus::tls_record(0x14, &[0x01]));
    flight.extend(s7plus::tls_record(0x16, &s.values(40)));
    tr.wait_ms(2);
    s.send(&mut tr, &flight);
    let mut fin = s7plus::tls_record(0x14, &[0x01]);
    fin.extend(s7plus::tls_record(0x16, &s.values(40)));
    s.answer(&mut tr, &fin);
    tr.note(a, "TLS 1.2 handshake records (16 03 03 …: ClientHello, ServerHello flight, key exchange + ChangeCipherSpec + Finished both ways), each record in its own COTP DT");
    let a = tr.next_no();
    for _ in 0..6 {
        tr.wait_ms(200);
        let q = s.values(0x60);
        let p = s.values(0x90);
        s.xchg(&mut tr, &s7plus::tls_record(0x17, &q), &s7plus::tls_record(0x17, &p));
    }
    tr.note(a, "six exchanges of TLS application data records (17 03 03 …) in COTP DT");
    let a = tr.next_no();
    tr.wait_ms(200);
    let alert = s.values(26);
    s.send(&mut tr, &s7plus::tls_record(0x15, &alert));
    s.close_fin(&mut tr);
    tr.note(a, "TLS alert record (close_notify, encrypted) and TCP FIN close");
    finish(
        "s7plus_tls",
        &tr,
        Format::CLASSIC,
        Texts {
            what: "S7comm-plus InitSSL, then TLS records inside COTP DT",
            expected: "InitSSL decoded, then the connection reported as TLS / uninspectable (the DT payloads start with 0x16/0x14/0x17, not 0x32/0x72) without a bad-protocol-id finding for each record; no alert",
            tshark: "COTP CR/CC and DT decode; having no S7comm-plus dissector and not trying TLS on COTP, tshark hands the DT payloads to its ISO 8327 session (SES/PRES) dissector, which reports several TLS records as \"Malformed SES\" / \"Malformed PRES\". That is a tshark artefact: the bytes are TLS records, not OSI session PDUs. Intended.",
        },
    )
}
