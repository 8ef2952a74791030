//! The capture readers: this crate's stream reader against libpcap on every
//! capture of the project, the two-interface pcapng, compressed captures and a
//! rotated set, each compared packet by packet (bytes, time, link type) with
//! the same packets read as one plain capture.

use s7sentry_capture::open::{kind_of_file, open_stream, CaptureFile, Compression, Kind};
use s7sentry_capture::set::CaptureSet;
use s7sentry_capture::{CaptureError, FileSource, LinkType, PacketSource, Timestamp};
use s7sentry_pcapgen::cases::readers;
use s7sentry_pcapgen::pcap::Format;
use std::path::{Path, PathBuf};

/// Owned copy of a packet: (frame, time, link type, bytes, length on the wire).
type Rec = (u64, Timestamp, LinkType, Vec<u8>, u32);

/// Every packet of a source, and how it ended (`None` clean, `Some(after_frame)` on an error).
fn drain(src: &mut dyn PacketSource) -> (Vec<Rec>, Option<u64>) {
    let mut v = Vec::new();
    loop {
        match src.next_packet() {
            Ok(Some(p)) => v.push((p.frame, p.ts, p.linktype, p.data.to_vec(), p.orig_len)),
            Ok(None) => return (v, None),
            Err(CaptureError::Read { after_frame, .. }) => return (v, Some(after_frame)),
            Err(e) => panic!("{e}"),
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pcaps() -> PathBuf {
    root().join("pcaps")
}

fn ts(ns: u64) -> Timestamp {
    Timestamp { secs: (ns / 1_000_000_000) as i64, nanos: (ns % 1_000_000_000) as u32 }
}

/// Every capture libpcap reads: ours and the shared public and generated ones.
fn libpcap_captures() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(pcaps()).unwrap().flatten() {
        for n in ["capture.pcap", "capture.pcapng"] {
            let p = e.path().join(n);
            if p.exists() {
                v.push(p);
            }
        }
    }
    let shared = std::env::var_os("S7SENTRY_SHARED").map(PathBuf::from).unwrap_or_else(|| root().join("../shared"));
    for sub in ["pcaps/public", "pcaps/generated"] {
        if let Ok(rd) = std::fs::read_dir(shared.join(sub)) {
            for e in rd.flatten() {
                let p = e.path();
                if matches!(p.extension().and_then(|x| x.to_str()), Some("pcap" | "pcapng")) {
                    v.push(p);
                }
            }
        }
    }
    v.sort();
    v
}

#[test]
fn stream_reader_reads_what_libpcap_reads() {
    let files = libpcap_captures();
    assert!(files.len() > 60, "captures found: {}", files.len());
    let mut records = 0;
    for f in &files {
        let Ok(mut lib) = FileSource::open_libpcap(f) else {
            // Not a capture (decode_notpcap): both refuse it.
            assert!(open_stream(f).is_err(), "{}: libpcap refuses it, the stream reader opens it", f.display());
            continue;
        };
        let (want, want_end) = drain(&mut lib);
        let (mut ours, _) = open_stream(f).unwrap_or_else(|e| panic!("{e}"));
        let (got, got_end) = drain(&mut ours);
        assert_eq!(got.len(), want.len(), "{}: record count", f.display());
        for (g, w) in got.iter().zip(&want) {
            assert!(g == w, "{} frame {}: {:?} vs libpcap {:?}", f.display(), w.0, (g.1, g.2, g.4), (w.1, w.2, w.4));
        }
        assert_eq!(got_end, want_end, "{}: how the file ends", f.display());
        records += got.len();
    }
    assert!(records > 90_000, "records compared: {records}");
}

#[test]
fn two_interfaces_of_different_link_types() {
    let path = pcaps().join("read_multi_interface/multi_interface.pcapng");
    let want = readers::multi_interface();
    let mut f = CaptureFile::open(&path).unwrap();
    assert!(!f.is_libpcap());
    let (got, end) = drain(&mut f);
    assert_eq!(end, None);
    assert_eq!(got.len(), want.len());
    for (k, (g, (iface, t, data))) in got.iter().zip(&want).enumerate() {
        let link = if *iface == 0 { LinkType::ETHERNET } else { LinkType::NULL };
        assert_eq!(
            (g.0, g.1, g.2, &g.3, g.4),
            (k as u64 + 1, ts(*t), link, data, data.len() as u32),
            "packet {}",
            k + 1
        );
    }
    assert!(got.iter().any(|g| g.2 == LinkType::NULL) && got.iter().any(|g| g.2 == LinkType::ETHERNET));
    // libpcap stops at the second interface description (before any packet here).
    let mut lib = FileSource::open_libpcap(&path).unwrap();
    let mut n = 0;
    let err = loop {
        match lib.next_packet() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("libpcap read the whole file"),
            Err(e) => break e.to_string(),
        }
    };
    assert_eq!(n, 0, "{err}");
    assert!(err.contains("different from the type of the first interface"), "{err}");
}

#[test]
fn compressed_captures_equal_the_plain_ones() {
    let dir = pcaps().join("read_compressed");
    let plain = pcaps().join("attack_cpu_stop/capture.pcap");
    let (want, _) = drain(&mut FileSource::open(&plain).unwrap());
    let (want_multi, _) =
        drain(&mut CaptureFile::open(&pcaps().join("read_multi_interface/multi_interface.pcapng")).unwrap());
    for (name, c, want) in [
        ("attack_cpu_stop.pcap.gz", Compression::Gzip, &want),
        ("attack_cpu_stop.pcap.zst", Compression::Zstd, &want),
        ("multi_interface.pcapng.gz", Compression::Gzip, &want_multi),
    ] {
        let p = dir.join(name);
        assert_eq!(kind_of_file(&p).unwrap(), Kind::Compressed(c));
        let mut f = CaptureFile::open(&p).unwrap();
        assert_eq!(f.compression(), c);
        let (got, end) = drain(&mut f);
        assert_eq!(end, None, "{name}");
        assert!(&got == want, "{name}: packets differ from the plain capture");
    }
    // By magic, not by name: the zstd file under a .pcap name, the gzip one under .zst.
    let tmp = std::env::temp_dir().join(format!("s7sentry-readers-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (from, to) in [("attack_cpu_stop.pcap.zst", "misnamed.pcap"), ("attack_cpu_stop.pcap.gz", "misnamed.zst")] {
        std::fs::copy(dir.join(from), tmp.join(to)).unwrap();
        let (got, _) = drain(&mut CaptureFile::open(&tmp.join(to)).unwrap());
        assert!(got == want, "{to}");
    }
    // A truncated compressed capture: everything before the damage, then an error.
    let gz = std::fs::read(dir.join("attack_cpu_stop.pcap.gz")).unwrap();
    std::fs::write(tmp.join("cut.pcap.gz"), &gz[..gz.len() / 2]).unwrap();
    let (got, end) = drain(&mut CaptureFile::open(&tmp.join("cut.pcap.gz")).unwrap());
    assert!(end.is_some(), "a cut gzip file ends with an error");
    assert!(!got.is_empty() && got.len() < want.len());
    assert!(got.iter().zip(want.iter()).all(|(g, w)| g == w));
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn rotated_set_reads_as_one_capture() {
    let dir = pcaps().join("read_rotated");
    let (whole, counts) = readers::rotated();
    let tmp = std::env::temp_dir().join(format!("s7sentry-rotated-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let plain = tmp.join("whole.pcap");
    std::fs::write(&plain, whole.to_bytes(Format::CLASSIC).unwrap()).unwrap();
    let (want, _) = drain(&mut FileSource::open(&plain).unwrap());
    let mut names: Vec<PathBuf> = readers::rotated_files().iter().map(|(n, _)| dir.join(n)).collect();
    names.reverse(); // given in the wrong order: the set orders by first timestamp
    for input in [names.clone(), vec![dir.clone()]] {
        let mut set = CaptureSet::open(&input).unwrap();
        let order: Vec<String> =
            set.members().iter().map(|m| m.path.file_name().unwrap().to_string_lossy().to_string()).collect();
        let expected: Vec<String> = readers::rotated_files().into_iter().map(|f| f.0).collect();
        assert_eq!(order, expected);
        let mut k = 0usize;
        let mut file_of = Vec::new();
        while let Some(p) = set.next_packet().unwrap() {
            let w = &want[k];
            assert_eq!((p.ts, p.linktype, p.data, p.orig_len), (w.1, w.2, &w.3[..], w.4), "packet {}", k + 1);
            let rec = p.frame;
            file_of.push((set.current(), rec));
            k += 1;
            assert_eq!(set.sequence(), k as u64);
            assert_eq!(set.locate(k as u64), Some((set.current(), rec)));
            assert_eq!(set.name(), set.current_path().display().to_string());
        }
        assert_eq!(k, want.len());
        let mut expect = Vec::new();
        for (f, n) in counts.iter().enumerate() {
            expect.extend((1..=*n as u64).map(|r| (f, r)));
        }
        assert_eq!(file_of, expect, "each packet names its file and its record in it");
        assert_eq!(set.time_regressions(), 0);
        if input.len() == 1 {
            assert_eq!(set.skipped(), [dir.join("README.md")], "non-captures in a directory are skipped");
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn damaged_member_is_reported_and_the_set_goes_on() {
    let tmp = std::env::temp_dir().join(format!("s7sentry-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let files = readers::rotated_files();
    for (k, (n, b)) in files.iter().enumerate() {
        let b = if k == 1 { &b[..b.len() - 7] } else { &b[..] };
        std::fs::write(tmp.join(n), b).unwrap();
    }
    let mut set = CaptureSet::open(std::slice::from_ref(&tmp)).unwrap();
    let mut ok = 0;
    let mut errors = Vec::new();
    loop {
        match set.next_packet() {
            Ok(Some(_)) => ok += 1,
            Ok(None) => break,
            Err(e) => errors.push(e.to_string()),
        }
    }
    let (_, counts) = readers::rotated();
    assert_eq!(ok, counts[0] + counts[1] - 1 + counts[2]);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains(&files[1].0) && errors[0].contains("truncated"), "{}", errors[0]);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn pcapng_options_time_resolution_offset_and_sections() {
    // Hand-built pcapng: section 1 with a 2^-10 s interface and if_tsoffset 100 s; a
    // second section (big-endian) whose interface 0 is raw IP with the default microseconds.
    fn block(be: bool, t: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len()) as u32;
        let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut b = w(t).to_vec();
        b.extend_from_slice(&w(len));
        b.extend_from_slice(body);
        b.extend_from_slice(&w(len));
        b
    }
    let mut f = Vec::new();
    let shb = |be: bool| {
        let mut b = if be { 0x1A2B_3C4Du32.to_be_bytes() } else { 0x1A2B_3C4Du32.to_le_bytes() }.to_vec();
        b.extend_from_slice(&if be { [0, 1, 0, 0] } else { [1, 0, 0, 0] });
        b.extend_from_slice(&[0xff; 8]);
        b
    };
    f.extend(block(false, 0x0A0D_0D0A, &shb(false)));
    let mut idb = vec![1, 0, 0, 0, 0, 0, 0, 0]; // Ethernet, snaplen 0 (unlimited)
    idb.extend_from_slice(&[9, 0, 1, 0, 0x8a, 0, 0, 0]); // if_tsresol 2^-10
    idb.extend_from_slice(&[14, 0, 8, 0]);
    idb.extend_from_slice(&100i64.to_le_bytes()); // if_tsoffset
    idb.extend_from_slice(&[0, 0, 0, 0]);
    f.extend(block(false, 1, &idb));
    let mut epb = vec![0, 0, 0, 0, 0, 0, 0, 0];
    epb.extend_from_slice(&(1024u32 * 5 + 512).to_le_bytes()); // 5.5 s in 2^-10 units
    epb.extend_from_slice(&[3, 0, 0, 0, 60, 0, 0, 0, 1, 2, 3, 0]);
    f.extend(block(false, 6, &epb));
    f.extend(block(false, 5, &[0; 8])); // interface statistics: skipped
    f.extend(block(true, 0x0A0D_0D0A, &shb(true)));
    f.extend(block(true, 1, &[0, 101, 0, 0, 0, 0, 0, 4]));
    let mut spb = 6u32.to_be_bytes().to_vec();
    spb.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0]);
    f.extend(block(true, 3, &spb)); // simple packet: 6 bytes on the wire, snaplen 4
    let tmp = std::env::temp_dir().join(format!("s7sentry-opts-{}.pcapng", std::process::id()));
    std::fs::write(&tmp, &f).unwrap();
    let (mut r, _) = open_stream(&tmp).unwrap();
    let (got, end) = drain(&mut r);
    std::fs::remove_file(&tmp).unwrap();
    assert_eq!(end, None);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], (1, Timestamp { secs: 105, nanos: 500_000_000 }, LinkType::ETHERNET, vec![1, 2, 3], 60));
    assert_eq!(got[1], (2, Timestamp { secs: 0, nanos: 0 }, LinkType(12), vec![0x45, 0, 0, 0], 6));
}
