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
    /// IP fragments seen (IPv4, and IPv6 fragment headers other than atomic fragments).
    pub ip_fragments: u64,
    /// IP datagrams (IPv4 and IPv6) reassembled from fragments (and then decoded).
    pub ip_reassembled: u64,
    /// IP fragments not held for reassembly because a cap was hit (datagram
    /// beyond 64 KiB, or the room could not be made: see [`crate::defrag`]).
    pub ip_fragments_refused: u64,
    /// IP datagrams declared incomplete after the 60 s reassembly timeout
    /// (their bytes are kept a while longer for late fragments).
    pub ip_datagrams_expired: u64,
    /// IP datagrams still incomplete when the input ended.
    pub ip_datagrams_incomplete_at_end: u64,
    /// Partly reassembled IP datagrams given up: to make room (1 024
    /// datagrams, 8 MiB), or at the end of their grace period.
    pub ip_datagrams_dropped: u64,
    /// IP fragments that overlapped held bytes with different content.
    pub ip_overlap_conflicts: u64,
    /// IP fragments for datagrams already declared incomplete or given up.
    pub ip_late_fragments: u64,
    /// Fragmented datagrams whose first fragment does not carry the whole TCP header.
    pub ip_tiny_fragments: u64,
    /// IP fragments that disagree with the datagram's end.
    pub ip_length_conflicts: u64,
    /// IP fragments repeating part of a datagram completed shortly before (duplicates; not held).
    pub ip_duplicate_fragments: u64,
    /// IPv6 atomic fragments (offset 0, no more fragments), decoded in isolation.
    pub ip_atomic_fragments: u64,
    /// Reassembled datagrams whose last-copy reassembly differed and was decoded too.
    pub ip_alternative_decodes: u64,
    /// Reassembled datagrams whose two reassemblies differed and only one had a
    /// valid TCP checksum (that one was decoded, the other dropped).
    pub ip_overlaps_resolved_by_checksum: u64,
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
    /// TCP segments with an invalid checksum from a direction whose checksums are validated (never entered the stream).
    pub checksum_invalid: u64,
    /// Invalid-checksum copies whose bytes differ from a valid copy of the same range.
    pub checksum_conflicts: u64,
    /// Flow directions taken to be captured on a host with checksum offload (only invalid checksums): not validated.
    pub checksum_offload_dirs: u64,
    /// Hosts taken to offload checksums (new flows from them are not validated).
    pub checksum_offload_hosts: u64,
    /// Conflicting TCP copies decoded on their own (whole TPKTs the first copy replaced).
    pub tcp_alternative_decodes: u64,
    /// Data segments far outside the receive window (dropped).
    pub out_of_window: u64,
    /// Bytes that arrived for a hole already declared lost (not inspected).
    pub late_fill_bytes: u64,
    /// Holes given up that the peer had acknowledged (capture loss).
    pub gaps_peer_acked: u64,
    /// Holes given up because a hold cap was hit.
    pub gaps_hold_cap: u64,
    /// Holes given up at close that nobody acknowledged.
    pub gaps_unacked: u64,
    /// SYNs on an established connection, ignored (RFC 5961).
    pub syn_ignored: u64,
    /// Challenge ACKs answering an ignored SYN (RFC 5961).
    pub challenge_acks: u64,
    /// RSTs inside the window but not at the next expected byte, ignored (RFC 5961 challenge ACK).
    pub rst_ignored_in_window: u64,
    /// RSTs outside the window, ignored.
    pub rst_ignored_out_of_window: u64,
    /// Findings emitted.
    pub findings: u64,
}

impl Stats {
    /// The TCP stream engine's event counters, by the `kind` label of
    /// `s7sentry_stream_events_total` (names stable: operators script against them).
    pub fn stream_events(&self) -> [(&'static str, u64); 20] {
        [
            ("retransmission", self.retransmissions),
            ("keepalive", self.keepalives),
            ("overlap_conflict", self.overlap_conflicts),
            ("alternative_decode", self.tcp_alternative_decodes),
            ("out_of_order_held", self.ooo_segments),
            ("hold_cap_hit", self.ooo_cap_hits),
            ("total_buffer_cap_hit", self.total_buffer_cap_hits),
            ("gap", self.gaps),
            ("gap_peer_acked", self.gaps_peer_acked),
            ("gap_hold_cap", self.gaps_hold_cap),
            ("gap_unacked", self.gaps_unacked),
            ("out_of_window", self.out_of_window),
            ("checksum_invalid", self.checksum_invalid),
            ("checksum_conflict", self.checksum_conflicts),
            ("checksum_offload_direction", self.checksum_offload_dirs),
            ("checksum_offload_host", self.checksum_offload_hosts),
            ("syn_ignored", self.syn_ignored),
            ("challenge_ack", self.challenge_acks),
            ("rst_ignored_in_window", self.rst_ignored_in_window),
            ("rst_ignored_out_of_window", self.rst_ignored_out_of_window),
        ]
    }

    /// The TCP stream engine's byte counters, by the `kind` label of
    /// `s7sentry_stream_bytes_total`: bytes given up in holes, bytes that came
    /// for a hole already given up, bytes skipped to find a TPKT header again.
    pub fn stream_bytes(&self) -> [(&'static str, u64); 3] {
        [("lost", self.gap_bytes), ("late", self.late_fill_bytes), ("resync_skipped", self.resync_bytes)]
    }

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
            ip_datagrams_incomplete_at_end,
            ip_datagrams_dropped,
            ip_overlap_conflicts,
            ip_late_fragments,
            ip_tiny_fragments,
            ip_length_conflicts,
            ip_duplicate_fragments,
            ip_atomic_fragments,
            ip_alternative_decodes,
            ip_overlaps_resolved_by_checksum,
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
            checksum_invalid,
            checksum_conflicts,
            checksum_offload_dirs,
            checksum_offload_hosts,
            tcp_alternative_decodes,
            out_of_window,
            late_fill_bytes,
            gaps_peer_acked,
            gaps_hold_cap,
            gaps_unacked,
            syn_ignored,
            challenge_acks,
            rst_ignored_in_window,
            rst_ignored_out_of_window,
            findings
        );
    }
}
