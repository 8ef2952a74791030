//! The small test captures under `pcaps/`: one function per case, each returning the
//! capture bytes and the text of its README.
//!
//! Every case is deterministic: fixed clock ([`START_NS`](crate::trace::START_NS)),
//! fixed addresses ([`hosts`]) and a seeded [`SplitMix64`](crate::rng::SplitMix64).

mod attack;
mod decode;
mod dos;
mod evasion_ip;
mod evasion_s7;
mod evasion_tcp;
pub mod hosts;
mod inventory;
mod policy;
pub mod readers;
pub mod session;
mod storm;

use crate::pcap::Format;
use crate::trace::Trace;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// One generated case: the capture and what its README says.
#[derive(Debug, Clone)]
pub struct Case {
    /// Folder name under `pcaps/`.
    pub name: &'static str,
    /// File name of the capture inside the folder.
    pub file: &'static str,
    /// File contents.
    pub bytes: Vec<u8>,
    /// Number of complete frames (records) in the capture.
    pub frames: usize,
    /// One-line summary for the index.
    pub what: &'static str,
    /// What the decoder / detector should report.
    pub expected: &'static str,
    /// What tshark 4.0.17 shows for the capture.
    pub tshark: &'static str,
    /// Frame-by-frame description.
    pub detail: String,
}

/// Fixed texts of a case (everything but the bytes and the frame notes).
#[derive(Debug, Clone, Copy)]
pub struct Texts {
    /// One-line summary.
    pub what: &'static str,
    /// Expected decoder / detector report.
    pub expected: &'static str,
    /// tshark's view.
    pub tshark: &'static str,
}

/// Turn the notes of a trace into one paragraph: "Frames 1–3: ...; 4–5: ...".
pub fn detail_of(tr: &Trace) -> String {
    let mut s = String::new();
    for (i, n) in tr.notes.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        let range = if n.first == n.last { format!("{}", n.first) } else { format!("{}–{}", n.first, n.last) };
        let _ = write!(s, "{} {}: {}", if n.first == n.last { "frame" } else { "frames" }, range, n.text);
    }
    if !s.is_empty() {
        s.push('.');
        let mut c = s.chars();
        if let Some(f) = c.next() {
            s = f.to_uppercase().collect::<String>() + c.as_str();
        }
    }
    s
}

/// Serialise a trace as a case.
pub fn finish(name: &'static str, tr: &Trace, fmt: Format, t: Texts) -> Case {
    let file = if fmt == Format::Pcapng { "capture.pcapng" } else { "capture.pcap" };
    Case {
        name,
        file,
        bytes: tr.to_bytes(fmt).expect("writing to memory cannot fail"),
        frames: tr.frames.len(),
        what: t.what,
        expected: t.expected,
        tshark: t.tshark,
        detail: detail_of(tr),
    }
}

/// A case constructor.
pub type Builder = fn() -> Case;

/// Every small case, in index order.
pub fn registry() -> Vec<(&'static str, Builder)> {
    let mut v: Vec<(&'static str, Builder)> = Vec::new();
    v.extend_from_slice(decode::CASES);
    v.extend_from_slice(attack::CASES);
    v.extend_from_slice(dos::CASES);
    v.extend_from_slice(storm::CASES);
    v.extend_from_slice(inventory::CASES);
    v.extend_from_slice(policy::CASES);
    v.extend_from_slice(evasion_s7::CASES);
    v.extend_from_slice(evasion_ip::CASES);
    v.extend_from_slice(evasion_tcp::CASES);
    v
}

/// Build every small case.
pub fn all() -> Vec<Case> {
    registry().into_iter().map(|(_, b)| b()).collect()
}

/// The command that regenerates the bundled captures.
pub const REGEN: &str = "cargo run -p s7sentry-pcapgen --release -- all --out pcaps";

/// README.md of one case folder.
pub fn case_readme(c: &Case) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", c.name);
    let _ = writeln!(s, "{}\n", c.what);
    let _ = writeln!(
        s,
        "`{}` ({} frames). {} Made by `s7sentry-pcapgen` (`{}`; case function `{}` in `crates/pcapgen/src/cases/`); \
         every byte is built by the generator, timestamps start at 2026-01-01T00:00:00Z.\n",
        c.file, c.frames, c.detail, REGEN, c.name
    );
    let _ = writeln!(s, "**Expected:** {}\n", c.expected);
    let _ = writeln!(s, "**tshark 4.0.17:** {}", c.tshark);
    s
}

/// `pcaps/README.md`: index of all cases.
pub fn index_readme(cases: &[Case]) -> String {
    let mut s = String::new();
    s.push_str("# Test captures\n\n");
    s.push_str(
        "Every capture here is written by the deterministic generator in `crates/pcapgen` \
         (package `s7sentry-pcapgen`); nothing is copied from elsewhere. Regenerate them all with\n\n",
    );
    let _ = writeln!(s, "```sh\n{REGEN}\n```\n");
    s.push_str(
        "and the test `bundled_captures_match_generator` in `crates/pcapgen` fails if the files here and the \
         generator ever differ. Large benchmark captures are not kept here; stream them with\n\n\
         ```sh\ncargo run -p s7sentry-pcapgen --release -- big --kind benign|mixed|synflood [--frames N] --out FILE\n```\n\n\
         Hosts: PLCs 10.10.1.10 and 10.10.1.11 (S7-1500, port 102; the inventory cases add the S7-300 \
         10.10.1.12 and the S7-1200 10.10.1.13), HMIs 10.10.2.20–22, engineering station 10.10.3.30, attacker 10.10.9.99; spoofed flood sources come from 198.18.0.0/15. \
         Each folder's README lists the frames one by one and what the decoder and detector should report.\n\n",
    );
    s.push_str("| case | frames | what | expected finding |\n|---|---:|---|---|\n");
    for c in cases {
        let _ = writeln!(s, "| [`{}`]({}/README.md) | {} | {} | {} |", c.name, c.name, c.frames, c.what, c.expected);
    }
    s
}

/// Write every case into `dir/<case>/` plus `dir/README.md`.
pub fn write_all(dir: &Path) -> io::Result<Vec<Case>> {
    let cases = all();
    std::fs::create_dir_all(dir)?;
    for c in &cases {
        let d = dir.join(c.name);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(c.file), &c.bytes)?;
        std::fs::write(d.join("README.md"), case_readme(c))?;
    }
    let sets = readers::sets();
    for set in &sets {
        let d = dir.join(set.name);
        std::fs::create_dir_all(&d)?;
        for (file, bytes) in &set.files {
            std::fs::write(d.join(file), bytes)?;
        }
        std::fs::write(d.join("README.md"), &set.readme)?;
    }
    let mut index = index_readme(&cases);
    index.push_str(
        "\n## Capture files as analysts bring them\n\nFolders of several files for the capture readers (not replayed \
         one by one by the golden test):\n\n",
    );
    for set in &sets {
        let files: Vec<&str> = set.files.iter().map(|f| f.0.as_str()).collect();
        let _ = writeln!(index, "- [`{}`]({}/README.md): {}", set.name, set.name, files.join(", "));
    }
    std::fs::write(dir.join("README.md"), index)?;
    Ok(cases)
}
