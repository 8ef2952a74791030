//! The bundled captures in `pcaps/` must be exactly what the generator writes, and every
//! generated capture must re-parse: record count, monotonic time, IPv4 and TCP checksums.

use s7sentry_pcapgen::cases;
use s7sentry_pcapgen::net;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

fn pcaps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pcaps")
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn bundled_captures_match_generator() {
    let tmp = std::env::temp_dir().join(format!("s7sentry-pcapgen-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    cases::write_all(&tmp).unwrap();
    let bundled = pcaps_dir();
    let generated = list(&tmp);
    for rel in &generated {
        let a = std::fs::read(tmp.join(rel)).unwrap();
        let b = std::fs::read(bundled.join(rel))
            .unwrap_or_else(|e| panic!("pcaps/{}: {e}; regenerate with `{}`", rel.display(), cases::REGEN));
        assert!(
            a == b,
            "pcaps/{} differs from the generator's output; regenerate with `{}`",
            rel.display(),
            cases::REGEN
        );
    }
    // Every case folder in pcaps/ must come from the generator (other files, such as
    // expected-output files kept next to a capture, are allowed inside a case folder).
    let mut names: Vec<&str> = cases::registry().iter().map(|(n, _)| *n).collect();
    let sets = cases::readers::sets();
    names.extend(sets.iter().map(|s| s.name));
    for e in std::fs::read_dir(&bundled).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            assert!(names.contains(&n.as_str()), "pcaps/{n} is not a generator case (stale?)");
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn generation_is_deterministic() {
    let a = cases::all();
    let b = cases::all();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.bytes, y.bytes, "{} differs between two runs", x.name);
    }
}

#[test]
fn size_budget() {
    let cs = cases::all();
    let total: usize = cs.iter().map(|c| c.bytes.len()).sum();
    for c in &cs {
        assert!(c.bytes.len() < 1_000_000, "{} is {} bytes", c.name, c.bytes.len());
    }
    assert!(total < 5_000_000, "all captures together are {total} bytes");
}

/// Records of a capture file: (timestamp ns, link type, data).
fn records(bytes: &[u8]) -> Option<Vec<(u64, u32, Vec<u8>)>> {
    let magic = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let mut out = Vec::new();
    if magic == 0x0A0D_0D0A {
        let mut off = 0;
        let mut link = 0;
        while off + 12 <= bytes.len() {
            let t = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
            let len = u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
            let b = &bytes[off..off + len];
            if t == 1 {
                link = u32::from(u16::from_le_bytes([b[8], b[9]]));
            } else if t == 6 {
                let ts = (u64::from(u32::from_le_bytes(b[12..16].try_into().unwrap())) << 32)
                    | u64::from(u32::from_le_bytes(b[16..20].try_into().unwrap()));
                let cap = u32::from_le_bytes(b[20..24].try_into().unwrap()) as usize;
                out.push((ts, link, b[28..28 + cap].to_vec()));
            }
            off += len;
        }
        return Some(out);
    }
    let (le, nano) = match bytes.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return None,
    };
    let u32at = |o: usize| {
        let a: [u8; 4] = bytes[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let link = u32at(20);
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let sec = u64::from(u32at(off));
        let frac = u64::from(u32at(off + 4));
        let cap = u32at(off + 8) as usize;
        if off + 16 + cap > bytes.len() {
            break; // truncated last record
        }
        let ts = sec * 1_000_000_000 + if nano { frac } else { frac * 1000 };
        out.push((ts, link, bytes[off + 16..off + 16 + cap].to_vec()));
        off += 16 + cap;
    }
    Some(out)
}

/// IP packet inside a link-layer frame.
fn ip_of(link: u32, d: &[u8]) -> &[u8] {
    match link {
        1 => {
            let mut o = 12;
            while matches!(u16::from_be_bytes([d[o], d[o + 1]]), 0x8100 | 0x88a8) {
                o += 4;
            }
            &d[o + 2..]
        }
        101 => d,
        113 => &d[16..],
        276 => &d[20..],
        _ => panic!("link type {link}"),
    }
}

/// Cases whose bad TCP checksums are deliberate: decoys the PLC drops, and a
/// capture taken on a host with checksum offload. Their other checks still run.
const BAD_TCP_CHECKSUMS: &[&str] = &["evasion_tcp_checksum_decoy", "evasion_tcp_combined", "evasion_tcp_twin_offload"];

#[test]
fn every_capture_reparses_with_valid_checksums() {
    for c in cases::all() {
        let Some(recs) = records(&c.bytes) else {
            assert_eq!(c.name, "decode_notpcap");
            continue;
        };
        assert_eq!(recs.len(), c.frames, "{}: record count", c.name);
        let mut last = 0;
        for (i, (ts, link, d)) in recs.iter().enumerate() {
            assert!(*ts >= last, "{} frame {}: time goes back", c.name, i + 1);
            last = *ts;
            let ip = ip_of(*link, d);
            let (src, dst, l4, frag) = match ip[0] >> 4 {
                4 => {
                    assert_eq!(net::checksum(&ip[..20]), 0, "{} frame {}: IPv4 checksum", c.name, i + 1);
                    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
                    assert_eq!(total, ip.len(), "{} frame {}: IPv4 total length", c.name, i + 1);
                    let ff = u16::from_be_bytes([ip[6], ip[7]]);
                    let s: [u8; 4] = ip[12..16].try_into().unwrap();
                    let t: [u8; 4] = ip[16..20].try_into().unwrap();
                    (IpAddr::from(Ipv4Addr::from(s)), IpAddr::from(Ipv4Addr::from(t)), &ip[20..], ff & 0x3FFF != 0)
                }
                6 => {
                    let s: [u8; 16] = ip[8..24].try_into().unwrap();
                    let t: [u8; 16] = ip[24..40].try_into().unwrap();
                    // Extension headers (hop-by-hop, routing, destination options) up to
                    // TCP or a fragment header.
                    let (mut next, mut at) = (ip[6], 40);
                    while matches!(next, 0 | 43 | 60) {
                        next = ip[at];
                        at += (usize::from(ip[at + 1]) + 1) * 8;
                    }
                    (IpAddr::from(Ipv6Addr::from(s)), IpAddr::from(Ipv6Addr::from(t)), &ip[at..], next == 44)
                }
                v => panic!("{} frame {}: IP version {v}", c.name, i + 1),
            };
            if !frag && !BAD_TCP_CHECKSUMS.contains(&c.name) {
                let acc = net::sum16(net::pseudo_sum(src, dst, 6, l4.len() as u32), l4);
                assert_eq!(net::fold(acc), 0, "{} frame {}: TCP checksum", c.name, i + 1);
            }
        }
    }
}
