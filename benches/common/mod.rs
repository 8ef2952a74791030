//! Captures for the benchmarks: the public libnodave bench capture, every public
//! capture, and generated benign plant traffic (made on first use).
#![allow(dead_code)]

use s7sentry_capture::{MemorySource, PacketSource};
use s7sentry_engine::link::{self, Sliced};
use s7sentry_pcapgen::big::{self, Kind};
use s7sentry_pcapgen::pcap::{AnyWriter, Format, LinkType};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `../shared` beside the checkout, or `$S7SENTRY_SHARED`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("S7SENTRY_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// The public libnodave bench capture (one connection, 10 171 frames, ~10 000 S7 PDUs).
pub fn libnodave_bench() -> PathBuf {
    shared_dir().join("pcaps/public/wireshark-wiki__s7comm_varservice_libnodavedemo_bench.pcap")
}

/// Every public capture.
pub fn public_captures() -> Vec<PathBuf> {
    let dir = shared_dir().join("pcaps/public");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set S7SENTRY_SHARED)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

/// `target/bench/benign_<n>.pcap`, generated with `s7sentry-pcapgen`'s
/// `big --kind benign --frames <n>` generator when missing (about 1 s per
/// million frames). Same bytes as
/// `cargo run -p s7sentry-pcapgen --release -- big --kind benign --frames <n> --out <that path>`.
pub fn generated_benign(frames: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let name = if frames.is_multiple_of(1_000_000) {
        format!("benign_{}m.pcap", frames / 1_000_000)
    } else {
        format!("benign_{frames}.pcap")
    };
    let path = dir.join(name);
    if !path.exists() {
        std::fs::create_dir_all(&dir).expect("create target/bench");
        let tmp = path.with_extension("pcap.tmp");
        let t0 = Instant::now();
        let file = std::fs::File::create(&tmp).expect("create capture");
        let mut w = AnyWriter::new(BufWriter::with_capacity(1 << 20, file), LinkType::Ethernet, Format::CLASSIC)
            .expect("pcap header");
        let n = big::generate(&mut w, Kind::Benign, frames).expect("generate");
        w.into_inner().expect("flush");
        std::fs::rename(&tmp, &path).expect("rename");
        eprintln!("generated {n} frames into {} in {:.1} s", path.display(), t0.elapsed().as_secs_f64());
    }
    path
}

/// A capture held in memory.
pub fn load(path: &Path) -> MemorySource {
    MemorySource::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The layers of the S7 PDUs found in some captures, as owned byte strings.
#[derive(Default)]
pub struct Layers {
    /// TCP payloads on port 102 that hold one or more whole TPKTs.
    pub tcp_payloads: Vec<Vec<u8>>,
    /// Every whole TPKT's payload (a COTP TPDU).
    pub tpdus: Vec<Vec<u8>>,
    /// COTP DT user data starting with 0x32 (S7comm PDUs).
    pub s7comm: Vec<Vec<u8>>,
    /// COTP DT user data starting with 0x72 (S7comm-plus frames).
    pub s7plus: Vec<Vec<u8>>,
}

/// Split the frames of `paths` into their layers.
pub fn layers(paths: &[PathBuf]) -> Layers {
    let mut l = Layers::default();
    for path in paths {
        let mut src = load(path);
        while let Some(p) = src.next_packet().expect("memory source") {
            let Sliced::Ip(ip) = link::slice(p.linktype.0, p.data) else { continue };
            if ip.proto != 6 || ip.fragment.is_some() {
                continue;
            }
            let Ok(seg) = link::parse_tcp(ip.payload) else { continue };
            if seg.sport != 102 && seg.dport != 102 {
                continue;
            }
            let mut rest = seg.payload;
            let mut whole = false;
            while rest.len() >= 7 && rest[0] == 3 && rest[1] == 0 {
                let n = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
                if n < 7 || n > rest.len() {
                    break;
                }
                let tpdu = &rest[4..n];
                whole = true;
                l.tpdus.push(tpdu.to_vec());
                let li = usize::from(tpdu[0]);
                if tpdu[1] & 0xF0 == 0xF0 && li < tpdu.len() {
                    let ud = &tpdu[li + 1..];
                    match ud.first() {
                        Some(0x32) => l.s7comm.push(ud.to_vec()),
                        Some(0x72) => l.s7plus.push(ud.to_vec()),
                        _ => {}
                    }
                }
                rest = &rest[n..];
            }
            if whole {
                l.tcp_payloads.push(seg.payload.to_vec());
            }
        }
    }
    l
}

/// Total length of some byte strings.
pub fn total_len(v: &[Vec<u8>]) -> u64 {
    v.iter().map(|b| b.len() as u64).sum()
}
