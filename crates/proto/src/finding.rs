//! Structural findings: what a parser returns instead of panicking or dropping bytes.
//!
//! A finding names the [`Layer`] it was found in, a [`FindingKind`] from a closed,
//! bounded vocabulary (safe as a Prometheus label value), and the byte offset of
//! the offending field, counted from the first byte of that layer.

use core::fmt;

/// Protocol layer a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Layer {
    /// Capture file / link layer (Ethernet, SLL, VLAN tags).
    Link,
    /// IPv4 / IPv6.
    Ip,
    /// TCP segment and stream reassembly.
    Tcp,
    /// RFC 1006 TPKT framing.
    Tpkt,
    /// ISO 8073 COTP.
    Cotp,
    /// S7comm (protocol id 0x32).
    S7comm,
    /// S7comm-plus (protocol id 0x72).
    S7commPlus,
}

impl Layer {
    /// Stable lower-case name, used in JSON output and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Link => "link",
            Layer::Ip => "ip",
            Layer::Tcp => "tcp",
            Layer::Tpkt => "tpkt",
            Layer::Cotp => "cotp",
            Layer::S7comm => "s7comm",
            Layer::S7commPlus => "s7comm-plus",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! finding_kinds {
    ($( $(#[$m:meta])* $v:ident => $s:literal, )*) => {
        /// Kind of structural violation. A closed set so it can label metrics.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum FindingKind { $( $(#[$m])* $v, )* }
        impl FindingKind {
            /// Every kind, for metric pre-registration and documentation.
            pub const ALL: &'static [FindingKind] = &[ $(FindingKind::$v,)* ];
            /// Stable snake_case name.
            pub const fn name(self) -> &'static str {
                match self { $(FindingKind::$v => $s,)* }
            }
        }
    };
}

finding_kinds! {
    /// Fewer bytes than the structure requires (inside a length-bounded body).
    Truncated => "truncated",
    /// A version field holds an unsupported value (TPKT version != 3, S7comm-plus version unknown).
    BadVersion => "bad_version",
    /// A reserved field that must be zero is not.
    BadReserved => "bad_reserved",
    /// A length field is below the protocol minimum.
    LengthTooShort => "length_too_short",
    /// A length field points beyond the enclosing unit.
    LengthBeyondEnd => "length_beyond_end",
    /// Declared lengths disagree with the bytes actually present.
    LengthMismatch => "length_mismatch",
    /// Unknown protocol identifier after COTP (neither 0x32 nor 0x72).
    UnknownProtocol => "unknown_protocol",
    /// Unknown COTP TPDU code.
    UnknownTpdu => "unknown_tpdu",
    /// COTP length indicator wrong for the TPDU type.
    BadLengthIndicator => "bad_length_indicator",
    /// A COTP variable parameter runs past the header.
    BadParameter => "bad_parameter",
    /// CR/CC without calling or called TSAP.
    MissingTsap => "missing_tsap",
    /// TSAP longer than any real S7 endpoint uses.
    OversizedTsap => "oversized_tsap",
    /// DR/DC carries bytes beyond its fixed part and parameters.
    TrailingBytes => "trailing_bytes",
    /// Unknown S7 ROSCTR.
    UnknownRosctr => "unknown_rosctr",
    /// Unknown S7 function code.
    UnknownFunction => "unknown_function",
    /// An item count that promises more items than the parameter holds.
    ItemCountMismatch => "item_count_mismatch",
    /// A variable item / data item whose fields are inconsistent.
    BadItem => "bad_item",
    /// S7comm-plus frame without the trailer that must close the last fragment.
    BadTrailer => "bad_trailer",
    /// S7comm-plus integrity digest length != 32.
    BadDigestLength => "bad_digest_length",
    /// A COTP DT reassembly exceeded its cap.
    FragmentOverflow => "fragment_overflow",
    /// A TPKT was still incomplete when the stream closed or stalled.
    IncompleteAtClose => "incomplete_at_close",
    /// A retransmitted TCP segment, or an overlapping IP fragment, carries different bytes than the original.
    OverlapConflict => "overlap_conflict",
    /// TCP bytes were lost (capture gap); the stream was resynchronised.
    StreamGap => "stream_gap",
    /// Bytes skipped while searching for the next plausible TPKT header.
    Resync => "resync",
    /// TCP header shorter than 20 bytes (data offset < 5).
    BadTcpHeader => "bad_tcp_header",
    /// IPv4 fragment.
    IpFragment => "ip_fragment",
    /// Link / IP header could not be sliced.
    BadHeader => "bad_header",
    /// A PDU whose type does not fit its direction (a client's userdata request
    /// not typed "request").
    UnexpectedType => "unexpected_type",
    /// A COTP TPDU longer than the TPDU size the Connect Confirm negotiated.
    TpduTooLong => "tpdu_too_long",
    /// A first IP fragment that does not carry the whole TCP header (or IPv6 header chain).
    TinyFragment => "tiny_fragment",
    /// IP fragments that disagree on where the datagram ends.
    FragmentLengthConflict => "fragment_length_conflict",
    /// A fragmented IP datagram still incomplete after the reassembly timeout or at the end of the input.
    FragmentIncomplete => "fragment_incomplete",
    /// An IP fragment for a datagram already declared incomplete or given up.
    LateFragment => "late_fragment",
    /// An IP fragment not held for reassembly because a cap was hit.
    FragmentRefused => "fragment_refused",
    /// A partly reassembled IP datagram given up to make room.
    DatagramDropped => "datagram_dropped",
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A structural violation: layer, kind and byte offset within that layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Finding {
    /// Layer the violation was found in.
    pub layer: Layer,
    /// What is wrong.
    pub kind: FindingKind,
    /// Offset of the offending field, from the first byte of `layer`'s unit.
    pub offset: usize,
}

impl Finding {
    /// Build a finding.
    pub const fn new(layer: Layer, kind: FindingKind, offset: usize) -> Self {
        Finding { layer, kind, offset }
    }

    /// The same finding, with `base` added to its offset (to re-base an inner layer's offset).
    pub const fn shifted(self, base: usize) -> Self {
        Finding { offset: self.offset + base, ..self }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} at offset {}", self.layer, self.kind, self.offset)
    }
}

impl std::error::Error for Finding {}
