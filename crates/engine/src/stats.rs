//! Engine counters. Plain integers; the exporter turns them into metrics.

/// Counters kept by the engine itself (per-event counts are the sinks' job).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Frames handed to the engine.
    pub packets: u64,
    /// Captured bytes handed to the engine.
    pub bytes: u64,
    /// Frames whose link type is not supported.
    pub unsupported_link: u64,
    /// Frames that are not IP (ARP, LLDP, PROFINET, ...).
    pub non_ip: u64,
    /// IP frames that are not TCP.
    pub non_tcp: u64,
    /// TCP segments not on an ISO-on-TCP port.
    pub other_tcp: u64,
    /// TCP segments on an ISO-on-TCP port.
    pub iso_segments: u64,
    /// Frames whose link/IP/TCP headers could not be sliced.
    pub bad_headers: u64,
    /// IP fragments seen.
    pub ip_fragments: u64,
    /// IPv4 datagrams reassembled from fragments (and then decoded).
    pub ip_reassembled: u64,
    /// IPv4 fragments not held for reassembly because a cap was hit (datagram
    /// beyond 64 KiB, 1 024 datagrams in flight, 8 MiB held).
    pub ip_fragments_refused: u64,
    /// Incomplete IPv4 datagrams dropped after the 30 s reassembly timeout.
    pub ip_datagrams_expired: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows ended by FIN/RST.
    pub flows_closed: u64,
    /// Flows expired for idleness.
    pub flows_expired: u64,
    /// Flows evicted because the table was full (cap hit).
    pub flows_evicted: u64,
    /// Segments wholly retransmitted.
    pub retransmissions: u64,
    /// TCP keep-alive probes (one byte just below the next sequence number).
    pub keepalives: u64,
    /// Overlaps whose bytes differ from the first copy (first copy kept).
    pub overlap_conflicts: u64,
    /// Capture gaps (lost segments) after which the stream was resynchronised.
    pub gaps: u64,
    /// Bytes missing in those gaps.
    pub gap_bytes: u64,
    /// Bytes skipped while resynchronising on a TPKT header.
    pub resync_bytes: u64,
    /// Out-of-order segments buffered.
    pub ooo_segments: u64,
    /// Times a per-flow out-of-order cap forced a gap.
    pub ooo_cap_hits: u64,
    /// Times a TPKT buffer cap was hit (data discarded, stream resynchronised).
    pub tpkt_buffer_cap_hits: u64,
    /// Times the COTP reassembly cap was hit.
    pub cotp_cap_hits: u64,
    /// Times the global buffered-bytes cap refused buffering.
    pub total_buffer_cap_hits: u64,
    /// TPKTs framed.
    pub tpkts: u64,
    /// COTP DT fragments (EOT clear) buffered.
    pub cotp_fragments: u64,
    /// S7comm PDUs decoded.
    pub s7comm_pdus: u64,
    /// S7comm-plus frames decoded.
    pub s7plus_frames: u64,
    /// S7comm-plus continuation frames joined to a message.
    pub s7plus_fragments: u64,
    /// Times the S7comm-plus message reassembly cap was hit (message cut).
    pub s7plus_cap_hits: u64,
    /// TLS payloads skipped (uninspectable).
    pub tls_payloads: u64,
    /// Findings emitted.
    pub findings: u64,
}

impl Stats {
    /// Add `other`'s counters into `self` (used to merge worker shards).
    pub fn merge(&mut self, o: &Stats) {
        // The pattern names every field: a counter added later cannot be forgotten here.
        macro_rules! add { ($($f:ident),*) => { let Stats { $($f),* } = o; $( self.$f += $f; )* } }
        add!(
            packets,
            bytes,
            unsupported_link,
            non_ip,
            non_tcp,
            other_tcp,
            iso_segments,
            bad_headers,
            ip_fragments,
            ip_reassembled,
            ip_fragments_refused,
            ip_datagrams_expired,
            flows_created,
            flows_closed,
            flows_expired,
            flows_evicted,
            retransmissions,
            keepalives,
            overlap_conflicts,
            gaps,
            gap_bytes,
            resync_bytes,
            ooo_segments,
            ooo_cap_hits,
            tpkt_buffer_cap_hits,
            cotp_cap_hits,
            total_buffer_cap_hits,
            tpkts,
            cotp_fragments,
            s7comm_pdus,
            s7plus_frames,
            s7plus_fragments,
            s7plus_cap_hits,
            tls_payloads,
            findings
        );
    }
}
