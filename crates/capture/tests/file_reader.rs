//! The buffered reader of classic pcap files yields exactly what libpcap
//! yields: same records, times, lengths, and the same error at the same frame
//! for damaged files (it hands those over to libpcap).

use s7sentry_capture::{CaptureError, FileSource, PacketSource};
use std::path::{Path, PathBuf};

/// Deterministic bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

struct Pcap {
    big: bool,
    bytes: Vec<u8>,
}

impl Pcap {
    fn new(big: bool, nano: bool, snaplen: u32, linktype: u32) -> Pcap {
        let mut p = Pcap { big, bytes: Vec::new() };
        p.u32(if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        p.u16(2);
        p.u16(4);
        p.u32(0);
        p.u32(0);
        p.u32(snaplen);
        p.u32(linktype);
        p
    }
    fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&if self.big { v.to_be_bytes() } else { v.to_le_bytes() });
    }
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&if self.big { v.to_be_bytes() } else { v.to_le_bytes() });
    }
    fn record(&mut self, secs: u32, frac: u32, caplen: u32, len: u32, data: &[u8]) {
        self.u32(secs);
        self.u32(frac);
        self.u32(caplen);
        self.u32(len);
        self.bytes.extend_from_slice(data);
    }
    /// `n` records of random lengths (0..1600 bytes) and increasing times.
    fn records(&mut self, rng: &mut Rng, n: usize, frac_max: u32) {
        for k in 0..n {
            let len = (rng.next() % 1600) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let frac = (rng.next() % u64::from(frac_max)) as u32;
            self.record(1_700_000_000 + k as u32, frac, len as u32, len as u32 + 4, &data);
        }
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write capture");
    p
}

type Rec = (u64, i64, u32, Vec<u8>, u32);

/// Every record, then the error that ended the file (if any).
fn read_all(mut s: FileSource) -> (Vec<Rec>, Option<String>) {
    let mut out = Vec::new();
    loop {
        match s.next_packet() {
            Ok(Some(p)) => out.push((p.frame, p.ts.secs, p.ts.nanos, p.data.to_vec(), p.orig_len)),
            Ok(None) => return (out, None),
            Err(e @ CaptureError::Read { .. }) => return (out, Some(e.to_string())),
            Err(e) => panic!("{e}"),
        }
    }
}

fn same_as_libpcap(path: &Path, expect_fast: bool) -> (usize, Option<String>) {
    let fast = FileSource::open(path).expect("open");
    assert_eq!(fast.is_fast(), expect_fast, "{}", path.display());
    let slow = FileSource::open_libpcap(path).expect("open");
    assert!(!slow.is_fast());
    let (a, ea) = read_all(fast);
    let (b, eb) = read_all(slow);
    assert_eq!(a.len(), b.len(), "{}", path.display());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "{}", path.display());
    }
    assert_eq!(ea, eb, "{}", path.display());
    (a.len(), ea)
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("s7sentry-capture-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn whole_files_both_byte_orders_and_precisions() {
    let dir = tmp("whole");
    let mut rng = Rng(7);
    for (big, nano) in [(false, false), (false, true), (true, false), (true, true)] {
        // 3 000 records of up to 1.6 kB: several read blocks, records straddling them.
        let mut p = Pcap::new(big, nano, 65_535, 1);
        p.records(&mut rng, 3_000, if nano { 1_000_000_000 } else { 1_000_000 });
        let f = write(&dir, &format!("w_{big}_{nano}.pcap"), &p.bytes);
        let (n, err) = same_as_libpcap(&f, true);
        assert_eq!((n, err), (3_000, None));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_files_end_with_libpcaps_error() {
    let dir = tmp("trunc");
    let mut rng = Rng(11);
    let mut p = Pcap::new(false, false, 65_535, 1);
    p.records(&mut rng, 800, 1_000_000);
    // Cuts inside the file header's end, a record header and record data, and at a boundary.
    let mut cuts: Vec<usize> = (0..40).map(|_| 24 + (rng.next() as usize) % (p.bytes.len() - 24)).collect();
    cuts.extend([24, 30, 39, 40, p.bytes.len() - 1, p.bytes.len()]);
    for (k, cut) in cuts.into_iter().enumerate() {
        let f = write(&dir, &format!("t{k}.pcap"), &p.bytes[..cut]);
        same_as_libpcap(&f, true);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unusual_records_are_handed_to_libpcap() {
    let dir = tmp("odd");
    let data = [0xAAu8; 300];
    // Longer than the snapshot length (libpcap cuts it), beyond the sane maximum
    // (libpcap stops), a time past 2038 and a fraction out of range.
    let cases: [(u32, u32, u32, u32); 4] = [
        (1_700_000_000, 5, 200, 250),
        (1_700_000_000, 5, 300_000, 300_000),
        (0x8000_0001, 5, 60, 60),
        (1, 2_000_000, 60, 60),
    ];
    for (k, (secs, frac, caplen, len)) in cases.into_iter().enumerate() {
        let mut p = Pcap::new(false, false, 100, 1);
        p.record(1, 1, 60, 60, &data[..60]);
        p.record(2, 2, 40, 40, &data[..40]);
        let n = (caplen as usize).min(data.len());
        p.record(secs, frac, caplen, len, &data[..n]);
        p.record(3, 3, 50, 50, &data[..50]);
        let f = write(&dir, &format!("o{k}.pcap"), &p.bytes);
        let (n, _) = same_as_libpcap(&f, true);
        assert!(n >= 2, "case {k}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn other_formats_stay_with_libpcap() {
    let dir = tmp("other");
    let mut rng = Rng(3);
    // Linux cooked capture in the other byte order (libpcap may rewrite its CAN headers).
    let mut p = Pcap::new(cfg!(target_endian = "little"), false, 65_535, 113);
    p.records(&mut rng, 50, 1_000_000);
    same_as_libpcap(&write(&dir, "sll_swapped.pcap", &p.bytes), false);
    // The same in the host's byte order is read by the buffered reader.
    let mut p = Pcap::new(cfg!(target_endian = "big"), false, 65_535, 113);
    p.records(&mut rng, 50, 1_000_000);
    same_as_libpcap(&write(&dir, "sll.pcap", &p.bytes), true);
    // A link type the engine does not decode.
    let mut p = Pcap::new(false, false, 65_535, 147);
    p.records(&mut rng, 20, 1_000_000);
    same_as_libpcap(&write(&dir, "user0.pcap", &p.bytes), false);
    let _ = std::fs::remove_dir_all(&dir);
}
