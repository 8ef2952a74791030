//! Evidence pcaps: for each alert at or above a severity, a pcap file with the
//! packets of that alert's connection around it — like Suricata's conditional
//! pcap logging (`pcap-log` with `conditional: alerts`), but bounded before
//! and after the alert in packets and bytes, and one file per alert.
//!
//! The writer keeps, per ISO-on-TCP connection, a ring of its most recent
//! packets ([`EvidenceConfig::before_packets`] / `before_bytes`). When an alert
//! comes ([`EvidenceWriter::attach`]) it writes the ring to a new pcap, adds the
//! file name to the alert's evidence (`evidence_pcap`), and goes on appending
//! that connection's next packets until [`EvidenceConfig::after_packets`] /
//! `after_bytes` are reached. File names start with the alert's time, rule and
//! flow id, so an analyst finds the file from the alert and the alert from the
//! file: `20260101T000000.123456Z_control.cpu_stop_flow123_frame7.pcap`.
//!
//! Memory is bounded: at most [`EvidenceConfig::max_flows`] rings (the least
//! recently used connection's ring is reused, counted in
//! [`EvidenceStats::flows_evicted`]), each with fixed capacities allocated once
//! when the slot is first used, and at most [`EvidenceConfig::max_open`] files
//! being completed at once (a further alert gets no file, counted). In the
//! steady state a packet costs a slice, a hash lookup and a copy into the
//! ring; nothing is allocated.

use crate::soc::alert_flow_id;
use s7sentry_engine::link::{parse_tcp, slice, Sliced};
use s7sentry_engine::rules::{Alert, Severity};
use s7sentry_engine::Ts;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;

/// Settings.
#[derive(Debug, Clone)]
pub struct EvidenceConfig {
    /// Folder of the files (created if missing).
    pub dir: PathBuf,
    /// Lowest severity that gets a file.
    pub min_severity: Severity,
    /// Packets kept before the alert (per connection).
    pub before_packets: usize,
    /// Bytes kept before the alert (per connection).
    pub before_bytes: usize,
    /// Packets written after the alert.
    pub after_packets: usize,
    /// Bytes written after the alert.
    pub after_bytes: usize,
    /// Connections with a ring.
    pub max_flows: usize,
    /// Files being completed (after-packets pending) at once.
    pub max_open: usize,
    /// ISO-on-TCP ports.
    pub ports: Vec<u16>,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            dir: PathBuf::from("evidence"),
            min_severity: Severity::High,
            before_packets: 64,
            before_bytes: 64 * 1024,
            after_packets: 64,
            after_bytes: 64 * 1024,
            max_flows: 1024,
            max_open: 64,
            ports: vec![102],
        }
    }
}

/// Counters (cap hits included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceStats {
    /// Files written.
    pub files: u64,
    /// Packets written into files.
    pub packets_written: u64,
    /// Rings taken over from the least recently used connection.
    pub flows_evicted: u64,
    /// Alerts at or above the severity that got no file because `max_open` files were open.
    pub open_cap_hits: u64,
    /// Packets cut to the ring's byte capacity.
    pub truncated: u64,
    /// Files that could not be created or written.
    pub write_errors: u64,
}

type Key = ((IpAddr, u16), (IpAddr, u16));

fn key(a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Rec {
    at: usize,
    len: usize,
    orig_len: u32,
    ts: Ts,
}

/// The recent packets of one connection: a circular byte arena and a circular
/// list of records, both of fixed capacity.
struct Ring {
    key: Option<Key>,
    last_use: u64,
    linktype: i32,
    data: Vec<u8>,
    recs: Vec<Rec>,
    head: usize,
    count: usize,
    write_at: usize,
    used: usize,
}

impl Ring {
    fn new(packets: usize, bytes: usize) -> Ring {
        Ring {
            key: None,
            last_use: 0,
            linktype: 1,
            data: vec![0; bytes.max(1)],
            recs: vec![Rec::default(); packets.max(1)],
            head: 0,
            count: 0,
            write_at: 0,
            used: 0,
        }
    }

    fn clear(&mut self) {
        (self.head, self.count, self.write_at, self.used) = (0, 0, 0, 0);
    }

    fn drop_oldest(&mut self) {
        let r = self.recs[self.head];
        self.used -= r.len;
        self.head = (self.head + 1) % self.recs.len();
        self.count -= 1;
    }

    /// Append (the oldest packets make room); returns whether the packet was cut.
    fn push(&mut self, ts: Ts, data: &[u8], orig_len: u32) -> bool {
        let cap = self.data.len();
        let len = data.len().min(cap);
        while self.count > 0 && (self.count == self.recs.len() || self.used + len > cap) {
            self.drop_oldest();
        }
        let at = self.write_at;
        let first = len.min(cap - at);
        self.data[at..at + first].copy_from_slice(&data[..first]);
        self.data[..len - first].copy_from_slice(&data[first..len]);
        self.write_at = (at + len) % cap;
        let slot = (self.head + self.count) % self.recs.len();
        self.recs[slot] = Rec { at, len, orig_len, ts };
        self.count += 1;
        self.used += len;
        len < data.len()
    }

    fn write_to(&self, w: &mut dyn Write) -> std::io::Result<u64> {
        let cap = self.data.len();
        for k in 0..self.count {
            let r = self.recs[(self.head + k) % self.recs.len()];
            let first = r.len.min(cap - r.at);
            record_header(w, r.ts, r.len, r.orig_len)?;
            w.write_all(&self.data[r.at..r.at + first])?;
            w.write_all(&self.data[..r.len - first])?;
        }
        Ok(self.count as u64)
    }
}

fn record_header(w: &mut dyn Write, ts: Ts, len: usize, orig_len: u32) -> std::io::Result<()> {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&(ts.secs() as u32).to_le_bytes());
    h[4..8].copy_from_slice(&ts.subsec_nanos().to_le_bytes());
    h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    h[12..16].copy_from_slice(&orig_len.max(len as u32).to_le_bytes());
    w.write_all(&h)
}

/// Classic pcap header, little-endian, nanosecond timestamps.
fn file_header(w: &mut dyn Write, linktype: i32) -> std::io::Result<()> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xA1B2_3C4Du32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&262_144u32.to_le_bytes());
    h.extend_from_slice(&(linktype as u32).to_le_bytes());
    w.write_all(&h)
}

struct Open {
    key: Key,
    w: BufWriter<File>,
    packets_left: usize,
    bytes_left: usize,
}

/// The writer.
pub struct EvidenceWriter {
    cfg: EvidenceConfig,
    rings: Vec<Ring>,
    index: HashMap<Key, usize>,
    clock: u64,
    open: Vec<Open>,
    stats: EvidenceStats,
}

impl EvidenceWriter {
    /// A writer with `cfg` (the folder is created at the first file).
    pub fn new(cfg: EvidenceConfig) -> EvidenceWriter {
        let mut index = HashMap::new();
        index.reserve(cfg.max_flows.max(1));
        let open = Vec::with_capacity(cfg.max_open);
        EvidenceWriter {
            rings: Vec::with_capacity(cfg.max_flows.max(1)),
            index,
            clock: 0,
            open,
            stats: Default::default(),
            cfg,
        }
    }

    /// The folder of the files.
    pub fn dir(&self) -> &std::path::Path {
        &self.cfg.dir
    }

    /// Counters.
    pub fn stats(&self) -> &EvidenceStats {
        &self.stats
    }

    /// Feed one captured packet (call for every packet, before the engine
    /// sees it, so an alert it raises finds it in the ring).
    pub fn packet(&mut self, linktype: i32, ts: Ts, data: &[u8], orig_len: u32) {
        let Sliced::Ip(ip) = slice(linktype, data) else { return };
        if ip.proto != 6 || ip.fragment.is_some() {
            return;
        }
        // A segment whose TCP header the engine refuses (crash_pattern.tcp_short_header)
        // is evidence too: its ports are the first four bytes, whatever follows.
        let (sport, dport) = match (parse_tcp(ip.payload), ip.payload) {
            (Ok(t), _) => (t.sport, t.dport),
            (Err(_), [a, b, c, d, ..]) => (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])),
            (Err(_), _) => return,
        };
        if !self.cfg.ports.contains(&sport) && !self.cfg.ports.contains(&dport) {
            return;
        }
        let k = key((ip.src, sport), (ip.dst, dport));
        self.clock += 1;
        let slot = match self.index.get(&k) {
            Some(&s) => s,
            None => self.take_slot(k),
        };
        let r = &mut self.rings[slot];
        r.last_use = self.clock;
        r.linktype = linktype;
        if r.push(ts, data, orig_len) {
            self.stats.truncated += 1;
        }
        let mut i = 0;
        while i < self.open.len() {
            let o = &mut self.open[i];
            if o.key == k {
                let len = data.len().min(o.bytes_left);
                let ok = record_header(&mut o.w, ts, len, orig_len).and_then(|_| o.w.write_all(&data[..len]));
                if ok.is_err() {
                    self.stats.write_errors += 1;
                }
                self.stats.packets_written += 1;
                o.packets_left = o.packets_left.saturating_sub(1);
                o.bytes_left -= len;
                if o.packets_left == 0 || o.bytes_left == 0 {
                    let mut done = self.open.swap_remove(i);
                    if done.w.flush().is_err() {
                        self.stats.write_errors += 1;
                    }
                    continue;
                }
            }
            i += 1;
        }
    }

    fn take_slot(&mut self, k: Key) -> usize {
        let slot = if self.rings.len() < self.cfg.max_flows.max(1) {
            self.rings.push(Ring::new(self.cfg.before_packets, self.cfg.before_bytes));
            self.rings.len() - 1
        } else {
            let victim = (0..self.rings.len()).min_by_key(|&s| self.rings[s].last_use).unwrap_or(0);
            if let Some(old) = self.rings[victim].key.take() {
                self.index.remove(&old);
            }
            self.stats.flows_evicted += 1;
            self.rings[victim].clear();
            victim
        };
        self.rings[slot].key = Some(k);
        self.index.insert(k, slot);
        slot
    }

    /// File name of the evidence of alert `a`.
    pub fn file_name(a: &Alert) -> String {
        let t = a.ts.to_string().replace(['-', ':'], "");
        let flow = alert_flow_id(a).map(|f| format!("flow{f}")).unwrap_or_else(|| "noflow".into());
        format!("{t}_{}_{flow}_frame{}.pcap", a.rule, a.frame)
    }

    /// Whether [`EvidenceWriter::attach`] would write a file for `a` (at or
    /// above the severity, with packets of its connection kept).
    pub fn would_attach(&self, a: &Alert) -> bool {
        a.severity >= self.cfg.min_severity && self.index.contains_key(&key((a.src, a.sport), (a.dst, a.dport)))
    }

    /// For an alert at or above the severity: write its connection's recent
    /// packets to a new file, keep adding the next ones, and put the file's
    /// path in the alert's evidence (`evidence_pcap`). Returns the path.
    pub fn attach(&mut self, a: &mut Alert) -> Option<PathBuf> {
        if a.severity < self.cfg.min_severity {
            return None;
        }
        let k = key((a.src, a.sport), (a.dst, a.dport));
        let slot = *self.index.get(&k)?;
        if self.open.len() >= self.cfg.max_open {
            self.stats.open_cap_hits += 1;
            return None;
        }
        let path = self.cfg.dir.join(Self::file_name(a));
        let ring = &self.rings[slot];
        let made = std::fs::create_dir_all(&self.cfg.dir).and_then(|_| File::create(&path)).and_then(|f| {
            let mut w = BufWriter::new(f);
            file_header(&mut w, ring.linktype)?;
            let n = ring.write_to(&mut w)?;
            Ok((w, n))
        });
        let Ok((w, n)) = made else {
            self.stats.write_errors += 1;
            return None;
        };
        self.stats.files += 1;
        self.stats.packets_written += n;
        self.open.push(Open { key: k, w, packets_left: self.cfg.after_packets, bytes_left: self.cfg.after_bytes });
        if self.cfg.after_packets == 0 || self.cfg.after_bytes == 0 {
            self.finish_open();
        }
        a.evidence.insert("evidence_pcap".into(), serde_json::Value::String(path.display().to_string()));
        Some(path)
    }

    fn finish_open(&mut self) {
        for mut o in self.open.drain(..) {
            if o.w.flush().is_err() {
                self.stats.write_errors += 1;
            }
        }
    }

    /// Close every file still waiting for packets (end of input).
    pub fn finish(&mut self) {
        self.finish_open();
    }

    /// Close every file and forget every connection (the next input is
    /// unrelated: a replay of another file). Rings keep their memory.
    pub fn reset(&mut self) {
        self.finish_open();
        for r in &mut self.rings {
            r.key = None;
            r.last_use = 0;
            r.clear();
        }
        self.index.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s7sentry_capture::{FileSource, PacketSource};
    use s7sentry_pcapgen::pcap::LinkType;
    use s7sentry_pcapgen::trace::{Dir, TcpConn, Trace};

    /// A connection of `n` data segments client -> PLC (bytes 0..n as payload tags).
    fn frames(n: usize, cport: u16) -> Vec<(u64, Vec<u8>)> {
        let mut t = Trace::new(LinkType::Ethernet);
        let mut c = TcpConn::new("10.10.9.99".parse().unwrap(), cport, "10.10.1.10".parse().unwrap(), 102, 1, 2);
        c.handshake(&mut t, 100);
        for i in 0..n {
            c.send(&mut t, Dir::C2S, &[i as u8; 20]);
        }
        t.frames.into_iter().map(|f| (f.ts_ns, f.data)).collect()
    }

    fn alert_at(ts_ns: u64, frame: u64, cport: u16) -> Alert {
        let mut a = crate::soc::tests::alert("control.cpu_stop", Severity::Critical, Ts(1));
        a.ts = Ts(ts_ns as i64);
        a.frame = frame;
        a.sport = cport;
        a
    }

    fn read(p: &std::path::Path) -> Vec<(i64, Vec<u8>)> {
        let mut s = FileSource::open(p).unwrap();
        let mut v = Vec::new();
        while let Some(p) = s.next_packet().unwrap() {
            v.push((p.ts.secs * 1_000_000_000 + i64::from(p.ts.nanos), p.data.to_vec()));
        }
        v
    }

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("s7sentry-evidence-{name}-{}", std::process::id()))
    }

    #[test]
    fn before_and_after_bounded_in_packets() {
        let dir = tmp("packets");
        let cfg = EvidenceConfig { dir: dir.clone(), before_packets: 4, after_packets: 3, ..Default::default() };
        let mut w = EvidenceWriter::new(cfg);
        let fr = frames(20, 49152);
        let mut path = None;
        for (i, (ts, d)) in fr.iter().enumerate() {
            w.packet(1, Ts(*ts as i64), d, d.len() as u32);
            if i == 9 {
                let mut a = alert_at(*ts, 10, 49152);
                path = w.attach(&mut a);
                assert_eq!(a.evidence["evidence_pcap"], path.as_ref().unwrap().display().to_string());
            }
        }
        w.finish();
        let path = path.unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.starts_with("20260101T000000")
                && name.contains("_control.cpu_stop_flow")
                && name.ends_with("_frame10.pcap"),
            "{name}"
        );
        let got = read(&path);
        let want: Vec<(i64, Vec<u8>)> = fr[6..13].iter().map(|(t, d)| (*t as i64, d.clone())).collect();
        assert_eq!(got, want, "4 packets up to the alert's, then 3 after");
        assert_eq!(w.stats().files, 1);
        assert_eq!(w.stats().packets_written, 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn byte_caps_severity_threshold_and_other_connections() {
        let dir = tmp("bytes");
        let one = frames(1, 1).pop().unwrap().1.len();
        let cfg = EvidenceConfig {
            dir: dir.clone(),
            before_packets: 100,
            before_bytes: 3 * one,
            after_packets: 100,
            after_bytes: 2 * one,
            ..Default::default()
        };
        let mut w = EvidenceWriter::new(cfg);
        let a_fr = frames(10, 40000);
        let b_fr = frames(10, 40001);
        let mut low = alert_at(a_fr[0].0, 1, 40000);
        low.severity = Severity::Medium;
        let mut path = None;
        for i in 0..a_fr.len() {
            for (f, port) in [(&a_fr, 40000u16), (&b_fr, 40001)] {
                let (ts, d) = &f[i];
                w.packet(1, Ts(*ts as i64), d, d.len() as u32);
                if i == 7 && port == 40000 {
                    assert!(w.attach(&mut low).is_none(), "below the severity");
                    path = w.attach(&mut alert_at(*ts, 15, 40000));
                }
            }
        }
        w.finish();
        let got = read(&path.unwrap());
        // Frames of equal size: 3 fit before (the alert's included), 2 after; none of the other connection.
        let want: Vec<(i64, Vec<u8>)> = a_fr[5..10].iter().map(|(t, d)| (*t as i64, d.clone())).collect();
        assert_eq!(got, want);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flow_and_open_file_caps_are_counted() {
        let dir = tmp("caps");
        let cfg = EvidenceConfig { dir: dir.clone(), max_flows: 2, max_open: 1, ..Default::default() };
        let mut w = EvidenceWriter::new(cfg);
        for port in [1000u16, 1001, 1002] {
            for (ts, d) in frames(2, port) {
                w.packet(1, Ts(ts as i64), &d, d.len() as u32);
            }
        }
        assert_eq!(w.stats().flows_evicted, 1);
        assert_eq!(w.rings.len(), 2, "rings are bounded");
        assert!(w.attach(&mut alert_at(0, 1, 1000)).is_none(), "evicted connection: no ring");
        assert!(w.attach(&mut alert_at(0, 1, 1002)).is_some());
        assert!(w.attach(&mut alert_at(0, 2, 1001)).is_none());
        assert_eq!(w.stats().open_cap_hits, 1);
        w.finish();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ring_wraps_around_its_byte_arena() {
        let mut r = Ring::new(3, 10);
        for k in 0..7u8 {
            r.push(Ts(i64::from(k)), &[k; 4], 4);
        }
        let mut out = Vec::new();
        assert_eq!(r.write_to(&mut out).unwrap(), 2, "10 bytes hold two 4-byte packets");
        assert_eq!(&out[16..20], &[5; 4]);
        assert_eq!(&out[36..40], &[6; 4]);
        assert!(r.push(Ts(9), &[9; 25], 25), "cut to the arena");
        assert_eq!(r.count, 1);
    }
}
