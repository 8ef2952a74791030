//! The engine: one call per captured frame.

use crate::config::EngineConfig;
use crate::event::{tcp_flags, Direction, EndReason, Event, EventSink, Meta};
use crate::flow::{FlowKey, FlowTable};
use crate::link::{self, Sliced, TcpError};
use crate::session;
use crate::stats::Stats;
use crate::stream::{gap_finding, Checksums, Chunk, Framed, StreamIssue, TcpDir};
use crate::time::Ts;
use s7sentry_proto::{Finding, FindingKind, Layer};

/// One captured frame handed to the engine.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based record number in its capture.
    pub frame: u64,
    /// Capture time.
    pub ts: Ts,
    /// Link type (`LINKTYPE_*`).
    pub linktype: i32,
    /// Captured bytes.
    pub data: &'a [u8],
}

/// Decoding engine: flow table, reassembly and dispatch. Single-threaded; shard
/// flows across several engines for parallelism.
pub struct Engine {
    cfg: EngineConfig,
    stats: Stats,
    table: FlowTable,
    total_buffered: usize,
    next_sweep: Ts,
    last_ts: Ts,
    scratch: Vec<usize>,
    defrag: crate::defrag::Defrag,
    /// Reports taken from `defrag` (kept for its capacity).
    report_buf: Vec<crate::defrag::Report>,
    /// Bit p set when TCP port p carries ISO-on-TCP (`cfg.ports`).
    iso_ports: Vec<u64>,
    /// Slot of the flow of the previous segment: consecutive segments often
    /// belong to one connection (request, answer), which saves the hash lookup.
    last_slot: usize,
    /// (time, frame, slot, flow id) of TCP segments held out of order when
    /// they were held, smallest first; entries of segments since decoded or
    /// given up are dropped when they reach the top (see [`Engine::alert_floor`]),
    /// and all at once when the heap reaches `held_prune_at`.
    held_lasts: std::collections::BinaryHeap<std::cmp::Reverse<(Ts, u64, usize, u64)>>,
    held_prune_at: usize,
    /// Hosts taken to offload TCP checksums (bounded by [`MAX_OFFLOAD_HOSTS`]).
    offload_hosts: std::collections::HashSet<std::net::IpAddr, ahash::RandomState>,
}

/// Most hosts remembered as offloading checksums; beyond, each flow learns on its own.
pub const MAX_OFFLOAD_HOSTS: usize = 4096;

impl Engine {
    /// A new engine.
    pub fn new(mut cfg: EngineConfig) -> Engine {
        // The overlap history is a ring indexed by sequence number modulo its
        // size: only a power of two divides 2^32, so bytes on both sides of the
        // sequence wrap never share a slot.
        if cfg.overlap_history > 0 {
            cfg.overlap_history = cfg.overlap_history.next_power_of_two();
        }
        let table = FlowTable::new(cfg.max_flows);
        let mut iso_ports = vec![0u64; 1024];
        for &p in &cfg.ports {
            iso_ports[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        Engine {
            cfg,
            stats: Stats::default(),
            table,
            total_buffered: 0,
            next_sweep: Ts(i64::MIN),
            last_ts: Ts(0),
            defrag: Default::default(),
            report_buf: Vec::new(),
            scratch: Vec::new(),
            iso_ports,
            last_slot: usize::MAX,
            held_lasts: Default::default(),
            held_prune_at: HELD_PRUNE_MIN,
            offload_hosts: Default::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Flows tracked now.
    pub fn active_flows(&self) -> usize {
        self.table.len()
    }

    /// Bytes held in out-of-order buffers across all flows.
    pub fn buffered_bytes(&self) -> usize {
        self.total_buffered
    }

    /// Bytes held by IP fragment reassembly (at most [`crate::defrag::MAX_TOTAL`]).
    pub fn fragment_bytes(&self) -> usize {
        self.defrag.held()
    }

    /// Configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Time of the last frame processed.
    pub fn last_ts(&self) -> Ts {
        self.last_ts
    }

    /// The earliest (time, frame) an event from now on can carry that is not
    /// the packet being processed (nor, at the end, a later one): the smaller
    /// of the IP reassembly's ([`crate::defrag::Defrag::alert_floor`]: a
    /// datagram still incomplete when the input ends is reported at its
    /// latest fragment) and the earliest TCP segment held out of order (its
    /// bytes are decoded under its own frame once the hole fills, or at the
    /// flow's end). `None`: none. A replay holds the alerts at or after it,
    /// with the detector's floor (`s7sentry_sensor::Pipeline::alert_floor`).
    /// O(1) while nothing is held; amortized O(log segments) per held segment.
    #[inline]
    pub fn alert_floor(&mut self) -> Option<(Ts, u64)> {
        let frag = self.defrag.alert_floor();
        if self.held_lasts.is_empty() {
            return frag;
        }
        let held = self.held_floor();
        match (frag, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest (time, frame) of a TCP segment still held out of order.
    #[inline(never)]
    fn held_floor(&mut self) -> Option<(Ts, u64)> {
        while let Some(&std::cmp::Reverse((ts, frame, slot, id))) = self.held_lasts.peek() {
            if still_held(&self.table, ts, frame, slot, id) {
                return Some((ts, frame));
            }
            self.held_lasts.pop();
        }
        None
    }

    /// Segments of flow `slot` were held in this frame: remember every
    /// segment it holds (the new ones among them; segments delivered in the
    /// same frame are gone, segments held before come again and are deduplicated
    /// when the heap is pruned).
    #[cold]
    #[inline(never)]
    fn note_held(&mut self, slot: usize) {
        let Some(f) = self.table.get(slot) else { return };
        let id = f.id;
        for d in &f.dirs {
            for (ts, frame) in d.tcp.held_origins() {
                self.held_lasts.push(std::cmp::Reverse((ts, frame, slot, id)));
            }
        }
        if self.held_lasts.len() > self.held_prune_at {
            let table = &self.table;
            let mut v = std::mem::take(&mut self.held_lasts).into_vec();
            v.sort_unstable();
            v.dedup();
            v.retain(|&std::cmp::Reverse((ts, frame, slot, id))| still_held(table, ts, frame, slot, id));
            self.held_prune_at = (2 * v.len()).max(HELD_PRUNE_MIN);
            self.held_lasts = v.into();
        }
    }

    #[inline]
    fn is_iso_port(&self, p: u16) -> bool {
        self.iso_ports.get(usize::from(p >> 6)).is_some_and(|w| w >> (p & 63) & 1 != 0)
    }

    /// Process one frame; events go to `sink` in order.
    pub fn process(&mut self, fr: &Frame<'_>, sink: &mut dyn EventSink) {
        self.stats.packets += 1;
        self.stats.bytes += fr.data.len() as u64;
        if fr.ts > self.last_ts {
            self.last_ts = fr.ts;
        }
        self.fragment_timers(fr, sink);
        self.process_inner(fr, sink);
        if fr.ts >= self.next_sweep {
            self.sweep(fr, sink);
            self.next_sweep = fr.ts.plus_ms(1000);
        }
        sink.on_event(&Event::Tick { ts: fr.ts, frame: fr.frame });
    }

    fn process_inner(&mut self, fr: &Frame<'_>, sink: &mut dyn EventSink) {
        let ip = match link::slice(fr.linktype, fr.data) {
            Sliced::Ip(ip) => ip,
            Sliced::NonIp => {
                self.stats.non_ip += 1;
                return;
            }
            Sliced::UnsupportedLink => {
                self.stats.unsupported_link += 1;
                return;
            }
            Sliced::Bad(_) => {
                self.stats.bad_headers += 1;
                return;
            }
        };
        let meta = Meta {
            frame: fr.frame,
            ts: fr.ts,
            src: ip.src,
            sport: 0,
            dst: ip.dst,
            dport: 0,
            flow: 0,
            flow_start: Ts(0),
            dir: Direction::ToServer,
        };
        if let Some((offset, more)) = ip.fragment {
            self.process_fragment(fr, ip, offset, more, meta, sink);
            return;
        }
        self.process_ip(fr, ip, meta, sink);
    }

    fn process_ip(&mut self, fr: &Frame<'_>, ip: link::IpPacket<'_>, mut meta: Meta, sink: &mut dyn EventSink) {
        if ip.proto != 6 {
            self.stats.non_tcp += 1;
            return;
        }
        let seg = match link::parse_tcp(ip.payload) {
            Ok(s) => s,
            Err(TcpError::ShortHeader { sport, dport, .. }) => {
                self.stats.bad_headers += 1;
                if self.is_iso_port(sport) || self.is_iso_port(dport) {
                    meta.sport = sport;
                    meta.dport = dport;
                    if !self.is_iso_port(dport) {
                        meta.dir = Direction::ToClient;
                    }
                    self.stats.findings += 1;
                    let f = Finding::new(Layer::Tcp, FindingKind::BadTcpHeader, 12);
                    sink.on_event(&Event::Finding { meta, finding: f, bytes: &ip.payload[..ip.payload.len().min(20)] });
                }
                return;
            }
            Err(_) => {
                self.stats.bad_headers += 1;
                return;
            }
        };
        meta.sport = seg.sport;
        meta.dport = seg.dport;
        let to_server = self.is_iso_port(seg.dport);
        if !to_server && !self.is_iso_port(seg.sport) {
            self.stats.other_tcp += 1;
            return;
        }
        self.stats.iso_segments += 1;
        meta.dir = if to_server { Direction::ToServer } else { Direction::ToClient };
        let key = if to_server {
            FlowKey { client: (ip.src, seg.sport), server: (ip.dst, seg.dport) }
        } else {
            FlowKey { client: (ip.dst, seg.dport), server: (ip.src, seg.sport) }
        };
        let syn = seg.flags & tcp_flags::SYN != 0;
        let fin = seg.flags & tcp_flags::FIN != 0;
        let rst = seg.flags & tcp_flags::RST != 0;
        let has_ack = seg.flags & tcp_flags::ACK != 0;
        // One hash per frame: the lookup's hash serves the insert of a new flow.
        let cached = (self.table.key_at(self.last_slot) == Some(&key)).then_some(self.last_slot);
        let mut hash = 0;
        let slot = match cached.or_else(|| {
            hash = self.table.hash(&key);
            self.table.find_hashed(hash, &key)
        }) {
            Some(s) => s,
            None if (syn && !rst) || !seg.payload.is_empty() => {
                if self.table.is_full() {
                    let protect = self.cfg.embryonic_idle_ms;
                    if let Some(v) = self.table.victim(fr.ts, protect) {
                        self.stats.flows_evicted += 1;
                        self.end_flow(v, EndReason::Evicted, fr, sink);
                    }
                }
                self.stats.flows_created += 1;
                self.table.maintain();
                self.table.insert(key, hash, fr.ts)
            }
            None => {
                sink.on_event(&Event::Tcp {
                    meta,
                    flags: seg.flags,
                    payload_len: 0,
                    seq: seg.seq,
                    retransmission: false,
                });
                return;
            }
        };
        self.last_slot = slot;
        let ooo_before = self.stats.ooo_segments;
        let cfg = &self.cfg;
        let stats = &mut self.stats;
        let total = &mut self.total_buffered;
        let offload_hosts = &mut self.offload_hosts;
        let Some(flow) = self.table.get_mut(slot) else {
            return;
        };
        meta.flow = flow.id;
        meta.flow_start = flow.created;
        flow.last_seen = fr.ts;
        let d = usize::from(!to_server);
        let flags = &mut flow.flags;
        let [c2s, s2c] = &mut flow.dirs;
        let (ds, other) = if d == 0 { (c2s, s2c) } else { (s2c, c2s) };
        let data_seq = if syn { seg.seq.wrapping_add(1) } else { seg.seq };

        // 1. TCP checksum (`checksum-validation: auto`): an invalid segment never
        //    enters the stream, once the direction has shown a valid one. Checked
        //    where it matters (data, SYN, RST, FIN, and ACKs that acknowledge
        //    bytes the sensor did not see or that the other direction waits on);
        //    a pure ACK of bytes seen changes nothing and costs no checksum.
        let pure_ack = seg.payload.is_empty() && !syn && !fin && !rst;
        let harmless = pure_ack && (!has_ack || other.tcp.ack_is_harmless(seg.ack));
        if !harmless && !checksum_accepts(stats, offload_hosts, &mut ds.tcp, &ip) {
            let crate::flow::DirState { tcp, framer, cotp } = ds;
            tcp.invalid_copy(stats, data_seq, seg.payload, &mut |chunk, stats| {
                feed_chunk(cfg, stats, framer, cotp, flags, meta, chunk, sink)
            });
            return;
        }

        // 2. RST only at the next expected byte; SYN on an established connection
        //    ignored unless the peer answers it (RFC 5961 §3, §4).
        let mut ignored: Option<crate::stream::StreamIssue> = None;
        if rst {
            if let Some((in_window, distance)) = ds.tcp.rst_verdict(seg.seq) {
                if in_window {
                    stats.rst_ignored_in_window += 1;
                } else {
                    stats.rst_ignored_out_of_window += 1;
                }
                ignored = Some(crate::stream::StreamIssue::RstIgnored { in_window, distance });
            }
        } else if syn {
            match syn_verdict(ds, other, seg.seq, has_ack.then_some(seg.ack)) {
                SynVerdict::Retransmitted => {}
                SynVerdict::New { answers_peer } => {
                    if let Some(isn) = answers_peer {
                        // The answer to the peer's SYN: a new connection on both sides.
                        other.tcp.release(total);
                        other.tcp.syn(isn);
                        other.framer.reset();
                        other.cotp.reset();
                    }
                    ds.tcp.release(total);
                    ds.tcp.syn(seg.seq);
                    ds.framer.reset();
                    ds.cotp.reset();
                }
                SynVerdict::Ignored => {
                    stats.syn_ignored += 1;
                    ds.tcp.pending_syn = Some(seg.seq);
                    let distance = ds.tcp.distance(data_seq);
                    ignored = Some(crate::stream::StreamIssue::SynIgnored { distance });
                }
            }
        }
        if let Some(issue) = ignored {
            stats.findings += 1;
            sink.on_event(&Event::Stream { meta, issue });
            sink.on_event(&Event::Tcp {
                meta,
                flags: seg.flags,
                payload_len: seg.payload.len(),
                seq: seg.seq,
                retransmission: false,
            });
            return;
        }

        // 3. The acknowledgement: anchors the other direction, proves holes lost.
        if has_ack {
            if other.tcp.pending_syn.is_some() && !syn {
                if other.tcp.pending_syn.is_some_and(|p| seg.ack != p.wrapping_add(1)) {
                    // The challenge ACK answering an ignored SYN (RFC 5961 §4).
                    stats.challenge_acks += 1;
                }
                other.tcp.pending_syn = None;
            }
            if other.tcp.syn_only() && !syn && other.tcp.next_seq() != Some(seg.ack) {
                // A SYN that anchored this flow is contradicted by the peer's
                // acknowledgement (an injected SYN and its challenge ACK): forget it.
                stats.syn_ignored += 1;
                stats.findings += 1;
                let distance = other.tcp.next_seq().map_or(0, |n| {
                    let x = n.wrapping_sub(seg.ack);
                    x.min(x.wrapping_neg())
                });
                other.tcp.unsync();
                let issue = crate::stream::StreamIssue::SynIgnored { distance };
                sink.on_event(&Event::Stream { meta: meta.reversed(), issue });
            }
            other.tcp.peer_acked(seg.ack);
            if other.tcp.needs_settle() {
                // Release what the other direction holds now, under its own frames.
                let m = meta.reversed();
                let crate::flow::DirState { tcp, framer, cotp } = other;
                if !tcp.is_synced() {
                    framer.resync();
                }
                tcp.settle(cfg, stats, total, &mut |chunk, stats| {
                    feed_chunk(cfg, stats, framer, cotp, flags, m, chunk, sink)
                });
            }
        }
        let mut retrans = false;
        if !seg.payload.is_empty() {
            flow.carried_data = true;
            if !ds.tcp.is_synced() {
                ds.framer.resync();
            }
            let crate::flow::DirState { tcp, framer, cotp } = ds;
            retrans = tcp.segment(cfg, stats, total, (fr.frame, fr.ts), data_seq, seg.payload, &mut |chunk, stats| {
                feed_chunk(cfg, stats, framer, cotp, flags, meta, chunk, sink)
            });
        }
        if fin || rst {
            let crate::flow::DirState { tcp, framer, cotp } = ds;
            if fin {
                tcp.fin = true;
            }
            tcp.gap(cfg, stats, total, &mut |chunk, stats| {
                feed_chunk(cfg, stats, framer, cotp, flags, meta, chunk, sink)
            });
            incomplete_at_close(stats, framer, meta, sink);
        }
        sink.on_event(&Event::Tcp {
            meta,
            flags: seg.flags,
            payload_len: seg.payload.len(),
            seq: seg.seq,
            retransmission: retrans,
        });
        let both_fin = flow.dirs[0].tcp.fin && flow.dirs[1].tcp.fin;
        if stats.ooo_segments != ooo_before {
            // Out-of-order segments were held (or given up, or delivered): their frames hold the floor.
            self.note_held(slot);
        }
        if rst || both_fin {
            self.stats.flows_closed += 1;
            self.end_flow(slot, if rst { EndReason::Rst } else { EndReason::Fin }, fr, sink);
        }
    }

    fn sweep(&mut self, fr: &Frame<'_>, sink: &mut dyn EventSink) {
        let budget = (self.table.len() / 16).max(64);
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        self.table.expired(fr.ts, self.cfg.flow_idle_ms, self.cfg.embryonic_idle_ms, budget, &mut out);
        for &slot in &out {
            self.stats.flows_expired += 1;
            self.end_flow(slot, EndReason::Idle, fr, sink);
        }
        self.scratch = out;
    }

    fn end_flow(&mut self, slot: usize, reason: EndReason, fr: &Frame<'_>, sink: &mut dyn EventSink) {
        // The flow is ended in its slot (never moved out), then the slot is freed.
        let Some(f) = self.table.get_mut(slot) else {
            return;
        };
        let meta = Meta {
            frame: fr.frame,
            ts: fr.ts,
            src: f.key.client.0,
            sport: f.key.client.1,
            dst: f.key.server.0,
            dport: f.key.server.1,
            flow: f.id,
            flow_start: f.created,
            dir: Direction::ToServer,
        };
        // A flow that never carried data and holds nothing (a SYN, the SYN-ACK,
        // ACKs: a SYN flood's flows) has nothing to deliver or report.
        if f.carried_data || !f.dirs.iter().all(crate::flow::DirState::is_empty) {
            let cfg = &self.cfg;
            let stats = &mut self.stats;
            let total = &mut self.total_buffered;
            let flags = &mut f.flags;
            for (k, d) in f.dirs.iter_mut().enumerate() {
                // Deliver whatever is still held: nothing buffered is silently dropped.
                let m = if k == 0 { meta } else { meta.reversed() };
                let crate::flow::DirState { tcp, framer, cotp } = d;
                tcp.gap(cfg, stats, total, &mut |chunk, stats| {
                    feed_chunk(cfg, stats, framer, cotp, flags, m, chunk, sink)
                });
                tcp.release(total);
                if reason != EndReason::EndOfCapture {
                    // An unfinished TPKT when the connection closes, idles out or is
                    // evicted, in either direction (a trickled oversized header).
                    incomplete_at_close(stats, framer, m, sink);
                }
            }
        }
        let carried_pdus = f.flags.carried_pdus;
        self.table.remove(slot);
        sink.on_event(&Event::FlowEnd { meta, reason, carried_pdus });
    }

    /// Advance time for a packet that another engine processes (flow-sharded
    /// workers): runs the same idle sweep and emits the same [`Event::Tick`]
    /// as [`Engine::process`] would, without looking at the packet. Every
    /// shard thus sees every packet's time and fires its timers at the same
    /// packets as a single engine would.
    pub fn advance(&mut self, fr: &Frame<'_>, sink: &mut dyn EventSink) {
        if fr.ts > self.last_ts {
            self.last_ts = fr.ts;
        }
        self.fragment_timers(fr, sink);
        if fr.ts >= self.next_sweep {
            self.sweep(fr, sink);
            self.next_sweep = fr.ts.plus_ms(1000);
        }
        sink.on_event(&Event::Tick { ts: fr.ts, frame: fr.frame });
    }

    /// End of input: end every flow (reason `end_of_capture`) and emit a last tick.
    pub fn finish(&mut self, sink: &mut dyn EventSink) {
        let fr = Frame { frame: 0, ts: self.last_ts, linktype: 1, data: &[] };
        self.defrag.finish(fr.ts);
        self.defrag_reports(&fr, sink);
        for slot in self.table.slots() {
            self.end_flow(slot, EndReason::EndOfCapture, &fr, sink);
        }
        sink.on_event(&Event::Tick { ts: self.last_ts, frame: 0 });
    }

    // IP fragments (see `crate::defrag` for the policy).

    /// An IPv4 fragment or an IPv6 packet with a fragment header.
    ///
    /// Atomic IPv6 fragments (offset 0, no more fragments) are decoded on
    /// their own, never merged with held fragments (RFC 6946). Other
    /// fragments are reported ([`Event::IpFragment`], ports only for a first
    /// fragment) and held; a completed datagram is decoded like any packet.
    /// When its last-copy reassembly differs from the first-copy one: if only
    /// one of the two has a valid TCP checksum, that one is decoded (no target
    /// accepts the other); otherwise the first copy is decoded and the last
    /// copy's TCP bytes, when they are on an ISO-on-TCP port and differ, too
    /// ([`Engine::decode_alternative`]).
    fn process_fragment(
        &mut self,
        fr: &Frame<'_>,
        ip: link::IpPacket<'_>,
        offset: u32,
        more: bool,
        mut meta: Meta,
        sink: &mut dyn EventSink,
    ) {
        let v6 = ip.src.is_ipv6();
        if v6 && offset == 0 && !more {
            self.stats.ip_atomic_fragments += 1;
            match link::ipv6_upper(ip.proto, ip.payload) {
                Ok((proto, at)) => {
                    let whole = link::IpPacket { proto, payload: &ip.payload[at..], fragment: None, ..ip };
                    self.process_ip(fr, whole, meta, sink);
                }
                Err(_) => self.stats.bad_headers += 1,
            }
            return;
        }
        self.stats.ip_fragments += 1;
        if offset == 0 {
            if let Some((p, at)) = link::transport_at(v6, ip.proto, ip.payload) {
                if let (6 | 17, Some(b)) = (p, ip.payload.get(at..at + 4)) {
                    meta.sport = u16::from_be_bytes([b[0], b[1]]);
                    meta.dport = u16::from_be_bytes([b[2], b[3]]);
                    if self.is_iso_port(meta.sport) && !self.is_iso_port(meta.dport) {
                        meta.dir = Direction::ToClient;
                    }
                }
            }
        }
        sink.on_event(&Event::IpFragment { meta, offset, more });
        let key =
            crate::defrag::DatagramKey { src: ip.src, dst: ip.dst, proto: if v6 { 0 } else { ip.proto }, id: ip.id };
        let frag = crate::defrag::Fragment { offset: offset as usize, more, proto: ip.proto, data: ip.payload };
        let res = self.defrag.add(fr.ts, fr.frame, key, frag);
        self.defrag_reports(fr, sink);
        let crate::defrag::Added::Complete(r) = res else {
            return;
        };
        self.stats.ip_reassembled += 1;
        let Some((proto, at)) = link::transport_at(v6, r.proto, &r.data) else {
            self.stats.bad_headers += 1;
            return;
        };
        let first = link::IpPacket { proto, payload: &r.data[at..], fragment: None, truncated: false, ..ip };
        let meta = Meta { sport: 0, dport: 0, dir: Direction::ToServer, ..meta };
        // The last-copy reassembly, when it differs and carries TCP.
        let last = r.alt.as_deref().and_then(|a| match link::transport_at(v6, r.proto, a) {
            Some((6, aat)) if proto == 6 => Some(link::IpPacket { payload: &a[aat..], ..first }),
            _ => None,
        });
        match last {
            None => self.process_ip(fr, first, meta, sink),
            Some(last) => {
                // Every stack checks the TCP checksum: when only one copy passes,
                // it is the one a target can have accepted, and the only one decoded.
                let ok = |p: &link::IpPacket<'_>| link::transport_checksum_ok(p.src, p.dst, 6, p.payload);
                match (ok(&first), ok(&last)) {
                    (true, false) => {
                        self.stats.ip_overlaps_resolved_by_checksum += 1;
                        self.process_ip(fr, first, meta, sink);
                    }
                    (false, true) => {
                        self.stats.ip_overlaps_resolved_by_checksum += 1;
                        self.process_ip(fr, last, meta, sink);
                    }
                    _ => {
                        self.process_ip(fr, first, meta, sink);
                        self.decode_alternative(first, last.payload, meta, sink);
                    }
                }
            }
        }
        self.defrag.recycle(key, fr.ts, r.data);
    }

    /// Decode the TCP payload of a datagram's last-copy reassembly on its own,
    /// when it is on an ISO-on-TCP port and carries other bytes (or other
    /// ports or sequence number) than the first-copy reassembly the stream
    /// received. A target that resolves overlaps the other way executes these
    /// bytes. They do not enter the stream (its first copy stands): they are
    /// framed and dispatched with fresh framing and COTP state and the flow's
    /// protocol flags, under the flow's id when the flow is known, so the
    /// detector pairs a request found here with the PLC's answer.
    fn decode_alternative(&mut self, primary: link::IpPacket<'_>, alt: &[u8], meta: Meta, sink: &mut dyn EventSink) {
        let Ok(seg) = link::parse_tcp(alt) else {
            return;
        };
        let same = primary.proto == 6
            && link::parse_tcp(primary.payload)
                .is_ok_and(|p| (p.sport, p.dport, p.seq, p.payload) == (seg.sport, seg.dport, seg.seq, seg.payload));
        let to_server = self.is_iso_port(seg.dport);
        if same || seg.payload.is_empty() || !(to_server || self.is_iso_port(seg.sport)) {
            return;
        }
        self.stats.ip_alternative_decodes += 1;
        let key = if to_server {
            FlowKey { client: (primary.src, seg.sport), server: (primary.dst, seg.dport) }
        } else {
            FlowKey { client: (primary.dst, seg.dport), server: (primary.src, seg.sport) }
        };
        let flow = self.table.find(&key).and_then(|slot| self.table.get_mut(slot));
        let (id, mut flags) = flow.map_or((0, session::FlowFlags::default()), |f| (f.id, f.flags));
        let meta = Meta {
            sport: seg.sport,
            dport: seg.dport,
            flow: id,
            dir: if to_server { Direction::ToServer } else { Direction::ToClient },
            ..meta
        };
        let mut framer = crate::stream::Framer::default();
        let mut cotp = session::CotpDir::default();
        let chunk = Chunk::Data(seg.payload, None);
        feed_chunk(&self.cfg, &mut self.stats, &mut framer, &mut cotp, &mut flags, meta, chunk, sink);
    }

    /// Reassembly timers ([`crate::defrag::Defrag::sweep`]), before the packet is
    /// processed: a fragment arriving after its datagram's timeout finds it
    /// declared incomplete. Runs for every packet, here and in
    /// [`Engine::advance`], so sharded workers report at the same packets.
    #[inline]
    fn fragment_timers(&mut self, fr: &Frame<'_>, sink: &mut dyn EventSink) {
        if self.defrag.due(fr.ts) {
            self.defrag.sweep(fr.ts);
            self.defrag_reports(fr, sink);
        }
    }

    /// Turn the reassembly's reports into events and bring its counters into [`Stats`].
    fn defrag_reports(&mut self, fr: &Frame<'_>, sink: &mut dyn EventSink) {
        let c = self.defrag.counters;
        let st = &mut self.stats;
        st.ip_fragments_refused = c.refused;
        st.ip_datagrams_expired = c.expired;
        st.ip_datagrams_incomplete_at_end = c.incomplete_at_end;
        st.ip_datagrams_dropped = c.dropped;
        st.ip_overlap_conflicts = c.conflicts;
        st.ip_late_fragments = c.late;
        st.ip_tiny_fragments = c.tiny;
        st.ip_length_conflicts = c.length_conflicts;
        st.ip_duplicate_fragments = c.duplicates;
        let mut reps = std::mem::take(&mut self.report_buf);
        self.defrag.take_reports(&mut reps);
        for r in reps.drain(..) {
            let (frame, ts) = r.origin.unwrap_or((fr.frame, fr.ts));
            let (sport, dport) = r.ports.unwrap_or((0, 0));
            let to_client = self.is_iso_port(sport) && !self.is_iso_port(dport);
            let (src, dst) = (r.key.src, r.key.dst);
            let key = if to_client {
                FlowKey { client: (dst, dport), server: (src, sport) }
            } else {
                FlowKey { client: (src, sport), server: (dst, dport) }
            };
            let slot = r.ports.and_then(|_| self.table.find(&key));
            let (flow, flow_start) = slot.and_then(|s| self.table.get_mut(s)).map_or((0, Ts(0)), |f| (f.id, f.created));
            let dir = if to_client { Direction::ToClient } else { Direction::ToServer };
            let meta = Meta { frame, ts, src, sport, dst, dport, flow, dir, flow_start };
            self.stats.findings += 1;
            sink.on_event(&Event::IpDefrag { meta, report: &r });
        }
        self.report_buf = reps;
    }
}

/// [`Engine::held_lasts`] entries below which the heap is never pruned.
const HELD_PRUNE_MIN: usize = 4096;

/// Whether flow `slot` (still flow `id`) holds the segment of `frame` at `ts`.
fn still_held(table: &FlowTable, ts: Ts, frame: u64, slot: usize, id: u64) -> bool {
    table.get(slot).is_some_and(|f| f.id == id && f.dirs.iter().any(|d| d.tcp.holds(ts, frame)))
}

/// Whether `b` is one or more whole TPKTs back to back (plausible headers, lengths adding up).
fn tpkt_aligned(b: &[u8], max: u16) -> bool {
    let mut rest = b;
    while !rest.is_empty() {
        if rest.len() < 6 || !s7sentry_proto::tpkt::plausible_start(rest, max) {
            return false;
        }
        let n = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        match rest.get(n..) {
            Some(r) if n >= 7 => rest = r,
            _ => return false,
        }
    }
    true
}

/// Report an unfinished TPKT of a direction that closed (and forget it).
fn incomplete_at_close(stats: &mut Stats, framer: &mut crate::stream::Framer, meta: Meta, sink: &mut dyn EventSink) {
    if framer.has_partial() {
        stats.findings += 1;
        let f = Finding::new(Layer::Tpkt, FindingKind::IncompleteAtClose, 0);
        sink.on_event(&Event::Finding { meta, finding: f, bytes: &[] });
        framer.reset();
    }
}

/// `checksum-validation: auto` for one segment: whether it may enter the stream.
/// A direction validates once it showed one valid checksum; a direction whose
/// first [`crate::stream::OFFLOAD_AFTER`] checksums are all invalid belongs to
/// the capturing host with checksum offload (remembered per host): not validated.
/// A payload shorter than its header says (snap length, offload length 0) cannot be checked.
fn checksum_accepts(
    stats: &mut Stats,
    hosts: &mut std::collections::HashSet<std::net::IpAddr, ahash::RandomState>,
    tcp: &mut TcpDir,
    ip: &link::IpPacket<'_>,
) -> bool {
    match tcp.checksums {
        Checksums::Offload => true,
        _ if ip.truncated => true,
        Checksums::Validating => link::transport_checksum_ok(ip.src, ip.dst, 6, ip.payload),
        Checksums::Learning => {
            if hosts.contains(&ip.src) {
                tcp.checksums = Checksums::Offload;
                return true;
            }
            if link::transport_checksum_ok(ip.src, ip.dst, 6, ip.payload) {
                tcp.checksums = Checksums::Validating;
                return true;
            }
            tcp.bad_in_row = tcp.bad_in_row.saturating_add(1);
            if tcp.bad_in_row >= crate::stream::OFFLOAD_AFTER {
                tcp.checksums = Checksums::Offload;
                stats.checksum_offload_dirs += 1;
                if hosts.len() < MAX_OFFLOAD_HOSTS && hosts.insert(ip.src) {
                    stats.checksum_offload_hosts += 1;
                }
            }
            true
        }
    }
}

/// What a SYN does to an existing flow.
enum SynVerdict {
    /// The same initial sequence number again: nothing.
    Retransmitted,
    /// A new byte stream in this direction; `answers_peer`: the peer's ignored
    /// SYN this SYN-ACK acknowledges (a new connection on both sides).
    New { answers_peer: Option<u32> },
    /// A SYN on the established connection: the PLC answers with a challenge
    /// ACK and keeps the connection (RFC 5961 §4, RFC 9293 §3.10.7.4).
    Ignored,
}

fn syn_verdict(ds: &crate::flow::DirState, other: &crate::flow::DirState, seq: u32, ack: Option<u32>) -> SynVerdict {
    if ds.tcp.isn() == Some(seq) {
        return SynVerdict::Retransmitted;
    }
    let fresh = !ds.tcp.is_known() && !other.tcp.is_known();
    match ack {
        Some(a) => {
            if let Some(p) = other.tcp.pending_syn.filter(|p| p.wrapping_add(1) == a) {
                return SynVerdict::New { answers_peer: Some(p) };
            }
            let answers_isn = other.tcp.isn().is_some_and(|i| i.wrapping_add(1) == a);
            if fresh || (answers_isn && (!ds.tcp.is_synced() || ds.tcp.syn_only())) {
                SynVerdict::New { answers_peer: None }
            } else {
                SynVerdict::Ignored
            }
        }
        None if fresh || (ds.tcp.syn_only() && !other.tcp.is_known()) => SynVerdict::New { answers_peer: None },
        None => SynVerdict::Ignored,
    }
}

#[allow(clippy::too_many_arguments)]
fn feed_chunk(
    cfg: &EngineConfig,
    stats: &mut Stats,
    framer: &mut crate::stream::Framer,
    cotp: &mut session::CotpDir,
    flags: &mut session::FlowFlags,
    meta: Meta,
    chunk: Chunk<'_>,
    sink: &mut dyn EventSink,
) {
    match chunk {
        Chunk::Data(b, origin) => {
            let meta = match origin {
                Some((frame, ts)) => Meta { frame, ts, ..meta },
                None => meta,
            };
            framer.feed(cfg, stats, b, &mut |fr, stats| match fr {
                Framed::Tpkt(t) => session::on_tpkt(cfg, stats, flags, cotp, meta, t, sink),
                Framed::Bad(f, bytes) => {
                    stats.findings += 1;
                    sink.on_event(&Event::Finding { meta, finding: f, bytes });
                }
            })
        }
        Chunk::Gap { lost, origin, cause } => {
            stats.findings += 1;
            let meta = match origin {
                Some((frame, ts)) => Meta { frame, ts, ..meta },
                None => meta,
            };
            sink.on_event(&Event::Finding { meta, finding: gap_finding(lost), bytes: &[] });
            sink.on_event(&Event::Stream { meta, issue: StreamIssue::Gap { lost, cause } });
            framer.resync();
            cotp.reset();
        }
        Chunk::Issue(issue, origin) => {
            stats.findings += 1;
            let meta = match origin {
                Some((frame, ts)) => Meta { frame, ts, ..meta },
                None => meta,
            };
            sink.on_event(&Event::Stream { meta, issue });
        }
        Chunk::Conflict { offset, payload } => {
            stats.findings += 1;
            let f = Finding::new(Layer::Tcp, FindingKind::OverlapConflict, offset);
            sink.on_event(&Event::Finding { meta, finding: f, bytes: payload });
            // The stream keeps the first copy; a target that kept this one
            // executes it: when it holds whole TPKTs, decode it on its own too
            // (fresh framing and COTP state, the flow's protocol flags), as the
            // IP layer does with the other copy of an overlapping fragment.
            let max = u16::try_from(cfg.max_tpkt_buffer).unwrap_or(u16::MAX);
            if tpkt_aligned(payload, max) {
                stats.tcp_alternative_decodes += 1;
                let mut framer = crate::stream::Framer::default();
                let mut cotp = session::CotpDir::default();
                let mut flags = *flags;
                framer.feed(cfg, stats, payload, &mut |fr, stats| {
                    if let Framed::Tpkt(t) = fr {
                        session::on_tpkt(cfg, stats, &mut flags, &mut cotp, meta, t, sink)
                    }
                });
            }
        }
    }
}
