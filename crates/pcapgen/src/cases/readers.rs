//! Capture files as analysts bring them, for the readers of `s7sentry-capture`:
//! a Windows-style pcapng with two interfaces of different link types, a
//! rotated set cut in the middle of a connection, and compressed copies.
//!
//! These are file sets ([`FileSet`]), not single-capture cases: each folder
//! holds several files and no `capture.pcap`, so the golden replays (one
//! capture per case) do not take them.

use super::hosts::{ATTACKER, HMI, PLC1};
use super::session::Session;
use crate::pcap::{Format, LinkType, PcapngMultiWriter};
use crate::s7;
use crate::trace::{Dir, Trace};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};

/// A folder of several capture files.
#[derive(Debug, Clone)]
pub struct FileSet {
    /// Folder name under `pcaps/`.
    pub name: &'static str,
    /// `(file name, bytes)` in the folder.
    pub files: Vec<(String, Vec<u8>)>,
    /// The folder's README.md.
    pub readme: String,
}

/// One packet of the multi-interface capture: interface id, time (ns), bytes.
pub type IfacePacket = (u32, u64, Vec<u8>);

/// Interfaces of [`multi_interface`]: Ethernet with microsecond timestamps and
/// the Npcap loopback adapter (LINKTYPE_NULL) with nanosecond timestamps.
pub const MULTI_INTERFACES: [(LinkType, &str, u8); 2] =
    [(LinkType::Ethernet, "\\Device\\NPF_{6B3C1B1E-0001}", 6), (LinkType::Null, "\\Device\\NPF_Loopback", 9)];

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The packets of the two-interface capture, in capture order: an HMI polling
/// PLC 10.10.1.10 on the Ethernet adapter while, on the same Windows host, an
/// engineering tool stops a simulated PLC (PLCSIM Advanced on 127.0.0.1:102)
/// over the loopback adapter. Times are cut to each interface's resolution.
pub fn multi_interface() -> Vec<IfacePacket> {
    let mut eth = Trace::new(LinkType::Ethernet);
    let mut h = Session::new(HMI, 49230, PLC1, 0x3301);
    h.connect(&mut eth, 2);
    for i in 0..6 {
        eth.wait_ms(250);
        h.poll(&mut eth, i);
    }
    let mut lo = Trace::at(LinkType::Null, 400);
    let mut s = Session::new(LOOPBACK, 50412, LOOPBACK, 0x3302);
    s.connect(&mut lo, 1);
    lo.wait_ms(100);
    s.job(&mut lo, &s7::plc_stop_param(), &[0x29]);
    lo.wait_ms(100);
    s.close_fin(&mut lo);
    let mut all: Vec<IfacePacket> = Vec::new();
    for (iface, tr) in [(0u32, &eth), (1, &lo)] {
        let res = MULTI_INTERFACES[iface as usize].2;
        let unit = 10u64.pow(9 - u32::from(res));
        for f in &tr.frames {
            all.push((iface, f.ts_ns / unit * unit, f.data.clone()));
        }
    }
    all.sort_by_key(|p| p.1); // stable: equal times keep interface order
    all
}

/// The multi-interface capture as pcapng bytes.
pub fn multi_interface_pcapng() -> Vec<u8> {
    let mut w = PcapngMultiWriter::new(Vec::new(), &MULTI_INTERFACES).expect("memory");
    for (iface, ts, data) in multi_interface() {
        w.write_packet_on(iface, ts, &data).expect("memory");
    }
    w.into_inner().expect("memory")
}

/// The rotated set: one attacker connection to PLC 10.10.1.10 (handshake,
/// COTP, setup, reads), whose S7 PLC Stop job is cut by the rotation: its
/// first TCP segment (10 bytes of the TPKT) is the last record of the first
/// file, the rest opens the second file with the PLC's Ack_Data; more reads;
/// the third file has the last reads and the close. Returns the whole trace
/// and the record counts of the three files.
pub fn rotated() -> (Trace, [usize; 3]) {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 50102, PLC1, 0x3303);
    let a = t.next_no();
    s.connect(&mut t, 1);
    t.note(a, "attacker 10.10.9.99 → PLC 10.10.1.10:102: TCP handshake, COTP CR/CC, Setup Communication");
    let a = t.next_no();
    for i in 0..3 {
        t.wait_ms(300);
        s.poll(&mut t, i);
    }
    t.note(a, "three Read Var polls");
    t.wait_ms(300);
    let a = t.next_no();
    let r = s.next_ref();
    s.c.send_cut(&mut t, Dir::C2S, &s7::job(r, &s7::plc_stop_param(), &[]), &[10]);
    let first = t.last_no() - 1;
    s.answer(&mut t, &s7::ack_data(r, &[0x29], &[]));
    t.note(a, "S7 PLC Stop job (0x29 P_PROGRAM) in two TCP segments, cut by the rotation after the first; the PLC's success Ack_Data");
    let a = t.next_no();
    for i in 3..6 {
        t.wait_ms(300);
        s.poll(&mut t, i);
    }
    let second = t.last_no() - first;
    t.wait_ms(300);
    s.poll(&mut t, 6);
    s.close_fin(&mut t);
    t.note(a, "more polls, then the client closes with FIN");
    let third = t.last_no() - first - second;
    (t, [first, second, third])
}

/// dumpcap-style names of the rotated files (`prefix_NNNNN_YYYYmmddHHMMSS.pcap`).
fn rotated_name(k: usize, ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let sod = secs % 86_400;
    format!("s7_{:05}_20260101{:02}{:02}{:02}.pcap", k + 1, sod / 3600, sod / 60 % 60, sod % 60)
}

/// The rotated files: `(name, bytes)` in rotation order.
pub fn rotated_files() -> Vec<(String, Vec<u8>)> {
    let (t, counts) = rotated();
    let mut out = Vec::new();
    let mut at = 0;
    for (k, n) in counts.into_iter().enumerate() {
        let mut part = Trace::new(LinkType::Ethernet);
        part.frames = t.frames[at..at + n].to_vec();
        out.push((rotated_name(k, part.frames[0].ts_ns), part.to_bytes(Format::CLASSIC).expect("memory")));
        at += n;
    }
    out
}

/// gzip with a fixed header (no name, time 0), so the output is reproducible.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).expect("memory");
    e.finish().expect("memory")
}

/// Zstandard, level 3, with a content checksum (as the `zstd` tool writes).
pub fn zstd(data: &[u8]) -> Vec<u8> {
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("memory");
    e.include_checksum(true).expect("memory");
    e.write_all(data).expect("memory");
    e.finish().expect("memory")
}

/// Every file set.
pub fn sets() -> Vec<FileSet> {
    let multi = multi_interface_pcapng();
    let lo = multi_interface().iter().filter(|p| p.0 == 1).count();
    let total = multi_interface().len();
    let mut rd = String::new();
    let _ = writeln!(rd, "# read_multi_interface\n");
    let _ = writeln!(
        rd,
        "`multi_interface.pcapng` ({total} packets): what Wireshark on Windows writes when it captures an Ethernet \
         adapter (interface 0, LINKTYPE_ETHERNET, microsecond timestamps) and the Npcap loopback adapter \
         (interface 1, LINKTYPE_NULL, nanosecond timestamps) at once. On Ethernet an HMI 10.10.2.20 polls PLC \
         10.10.1.10; on loopback ({lo} packets) an engineering tool on the same host connects to a simulated PLC at \
         127.0.0.1:102 and sends an S7 PLC Stop (0x29 P_PROGRAM), acknowledged with success, then closes.\n"
    );
    let _ = writeln!(
        rd,
        "libpcap 1.10 refuses the file at the first loopback packet (\"an interface has a type 0 different from the \
         type of the first interface\"); tshark reads it. s7sentry-capture's reader yields every packet with its \
         own interface's link type. Made by `s7sentry-pcapgen` (`{}`; `crates/pcapgen/src/cases/readers.rs`).",
        super::REGEN
    );
    let mut rr = String::new();
    let (t, counts) = rotated();
    let _ = writeln!(rr, "# read_rotated\n");
    let _ = writeln!(
        rr,
        "One connection written as a rotated set of three classic pcap files named as `dumpcap -b` names them \
         ({} + {} + {} records). {}\n",
        counts[0],
        counts[1],
        counts[2],
        super::detail_of(&t)
    );
    let _ = writeln!(
        rr,
        "The rotation cuts the S7 PLC Stop job: its first TCP segment is the last record of the first file, the \
         rest is the first record of the second. Read file by file, the second file starts in the middle of a TPKT \
         and the stop is lost; read as one set (files ordered by first timestamp, state carried across the \
         boundary) the stop is decoded in the second file's record 1 and the alert `control.cpu_stop` names that \
         file and record. Made by `s7sentry-pcapgen` (`{}`; `crates/pcapgen/src/cases/readers.rs`).",
        super::REGEN
    );
    let stop = super::registry().into_iter().find(|(n, _)| *n == "attack_cpu_stop").map(|(_, b)| b().bytes);
    let stop = stop.unwrap_or_default();
    let mut rc = String::new();
    let _ = writeln!(rc, "# read_compressed\n");
    let _ = writeln!(
        rc,
        "Compressed copies: `attack_cpu_stop.pcap.gz` (gzip) and `attack_cpu_stop.pcap.zst` (Zstandard) of \
         `pcaps/attack_cpu_stop/capture.pcap`, and `multi_interface.pcapng.gz` of \
         `pcaps/read_multi_interface/multi_interface.pcapng`. Readers recognise the compression by its magic \
         number, not by the name. Made by `s7sentry-pcapgen` (`{}`; `crates/pcapgen/src/cases/readers.rs`).",
        super::REGEN
    );
    vec![
        FileSet {
            name: "read_multi_interface",
            files: vec![("multi_interface.pcapng".into(), multi.clone())],
            readme: rd,
        },
        FileSet { name: "read_rotated", files: rotated_files(), readme: rr },
        FileSet {
            name: "read_compressed",
            files: vec![
                ("attack_cpu_stop.pcap.gz".into(), gzip(&stop)),
                ("attack_cpu_stop.pcap.zst".into(), zstd(&stop)),
                ("multi_interface.pcapng.gz".into(), gzip(&multi)),
            ],
            readme: rc,
        },
    ]
}
