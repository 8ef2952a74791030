//! Engine caps and timeouts. Every cap has a counter in [`crate::Stats`] that
//! counts how often it was hit.

/// Limits on the state the engine keeps. Defaults suit one control VLAN.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// TCP ports that carry ISO-on-TCP. Default `[102]`.
    pub ports: Vec<u16>,
    /// Most flows tracked at once; the oldest idle flow is evicted beyond it.
    /// Default 32 768: a control VLAN rarely has more than a few hundred
    /// connections on port 102; the rest of the headroom absorbs SYN floods.
    pub max_flows: usize,
    /// A flow idle this long is expired (ms). Default 300 000 (5 min), longer than
    /// HMI poll gaps and S7comm-plus keep-alives.
    pub flow_idle_ms: u64,
    /// A flow that never carried data (SYN-only, half-open) expires after this (ms).
    /// Default 30 000, so a SYN flood cannot pin the table.
    pub embryonic_idle_ms: u64,
    /// Bytes of one unfinished TPKT kept per direction. Default 65 540
    /// (largest TPKT plus one header).
    pub max_tpkt_buffer: usize,
    /// Out-of-order bytes held per direction before declaring a gap. Default 65 536.
    pub max_ooo_bytes: usize,
    /// Out-of-order segments held per direction before declaring a gap. Default 32.
    pub max_ooo_segments: usize,
    /// Retransmission history per direction, to compare overlapping bytes. Default 2 048;
    /// [`crate::Engine::new`] rounds it up to a power of two (a ring indexed by sequence
    /// number modulo its size stays consistent across the sequence wrap), 0 turns it off.
    pub overlap_history: usize,
    /// COTP DT reassembly cap per direction. Default 65 536 (S7 PDUs are at most 960 bytes,
    /// S7comm-plus frames stay well below this).
    pub max_cotp_reassembly: usize,
    /// S7comm-plus message reassembly cap per direction: bytes of one fragmented
    /// message kept (its header and the start of its payload, where every rule
    /// looks); beyond it the rest is counted (`s7plus_cap_hits`) and dropped, and
    /// the message is handed on marked truncated (a write cut before its
    /// addresses is a `fragment_overflow` finding). Default 65 536.
    pub max_s7plus_reassembly: usize,
    /// Total buffered bytes across all flows (reassembly, out-of-order, COTP); beyond
    /// it new buffering is refused and counted. Default 256 MiB.
    pub max_total_buffered: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            ports: vec![102],
            max_flows: 32_768,
            flow_idle_ms: 300_000,
            embryonic_idle_ms: 30_000,
            max_tpkt_buffer: 65_540,
            max_ooo_bytes: 65_536,
            max_ooo_segments: 32,
            overlap_history: 2_048,
            max_cotp_reassembly: 65_536,
            max_s7plus_reassembly: 65_536,
            max_total_buffered: 256 << 20,
        }
    }
}
