//! `s7sentry-pcapgen`: write the test captures of `pcaps/` or stream a benchmark capture.
//!
//! ```text
//! s7sentry-pcapgen all --out pcaps/                 every small case + pcaps/README.md
//! s7sentry-pcapgen case NAME --out DIR              one small case into DIR/NAME/
//! s7sentry-pcapgen list                             case names with frame counts
//! s7sentry-pcapgen big --kind benign|mixed|synflood|ooo-flood [--frames N] [--flows N --segments N --size BYTES] [--pcapng] --out FILE
//! ```

use s7sentry_pcapgen::big::{self, Kind};
use s7sentry_pcapgen::cases;
use s7sentry_pcapgen::pcap::{AnyWriter, Format, LinkType};
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage:
  s7sentry-pcapgen all --out DIR
  s7sentry-pcapgen case NAME --out DIR
  s7sentry-pcapgen list
  s7sentry-pcapgen big --kind benign|mixed|synflood|ooo-flood [--frames N] [--pcapng] --out FILE
      ooo-flood: [--flows N (2000)] [--segments N (40)] [--size BYTES (1000)]";

fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn run(args: &[String]) -> Result<(), String> {
    let cmd = args.first().map(String::as_str).ok_or_else(|| USAGE.to_string())?;
    let err = |e: std::io::Error| e.to_string();
    match cmd {
        "all" => {
            let out = PathBuf::from(opt(args, "--out").ok_or("all: --out DIR is required")?);
            let cs = cases::write_all(&out).map_err(err)?;
            let total: usize = cs.iter().map(|c| c.bytes.len()).sum();
            eprintln!("wrote {} cases ({} bytes of captures) to {}", cs.len(), total, out.display());
            Ok(())
        }
        "case" => {
            let name = args.get(1).ok_or("case: NAME is required")?;
            let out = PathBuf::from(opt(args, "--out").ok_or("case: --out DIR is required")?);
            let (_, b) = cases::registry()
                .into_iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| format!("unknown case {name} (see `s7sentry-pcapgen list`)"))?;
            let c = b();
            let d = out.join(c.name);
            std::fs::create_dir_all(&d).map_err(err)?;
            std::fs::write(d.join(c.file), &c.bytes).map_err(err)?;
            std::fs::write(d.join("README.md"), cases::case_readme(&c)).map_err(err)?;
            eprintln!("wrote {} ({} frames)", d.join(c.file).display(), c.frames);
            Ok(())
        }
        "list" => {
            for c in cases::all() {
                println!("{:32} {:6} frames  {}", c.name, c.frames, c.what);
            }
            Ok(())
        }
        "big" => {
            let kind = opt(args, "--kind").ok_or("big: --kind benign|mixed|synflood|ooo-flood is required")?;
            let kind = Kind::parse(&kind).ok_or_else(|| format!("big: unknown kind {kind}"))?;
            let mut ooo = big::OooFlood::default();
            if let Some(n) = opt(args, "--flows") {
                ooo.flows = n.parse().map_err(|e| format!("big: --flows: {e}"))?;
            }
            if let Some(n) = opt(args, "--segments") {
                ooo.segments = n.parse().map_err(|e| format!("big: --segments: {e}"))?;
            }
            if let Some(n) = opt(args, "--size") {
                ooo.size = n.parse().map_err(|e| format!("big: --size: {e}"))?;
            }
            let frames = match opt(args, "--frames") {
                Some(n) => n.parse::<u64>().map_err(|e| format!("big: --frames: {e}"))?,
                None if kind == Kind::OooFlood => ooo.frames(),
                None => kind.default_frames(),
            };
            let out = PathBuf::from(opt(args, "--out").ok_or("big: --out FILE is required")?);
            let fmt = if args.iter().any(|a| a == "--pcapng") { Format::Pcapng } else { Format::CLASSIC };
            let file = std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            let t0 = Instant::now();
            let mut w =
                AnyWriter::new(BufWriter::with_capacity(1 << 20, file), LinkType::Ethernet, fmt).map_err(err)?;
            let n = if kind == Kind::OooFlood {
                big::ooo_flood(&mut w, ooo, frames)
            } else {
                big::generate(&mut w, kind, frames)
            }
            .map_err(err)?;
            w.into_inner().map_err(err)?;
            eprintln!("wrote {n} frames to {} in {:.2} s", out.display(), t0.elapsed().as_secs_f64());
            Ok(())
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s7sentry-pcapgen: {e}");
            ExitCode::FAILURE
        }
    }
}
