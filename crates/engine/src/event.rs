//! Events: what the engine observed, borrowed from the packet or a reassembly
//! buffer for the duration of one [`EventSink::on_event`] call.

use crate::defrag::Report;
use crate::time::Ts;
use s7sentry_proto::cotp::Cotp;
use s7sentry_proto::s7comm::S7Pdu;
use s7sentry_proto::s7plus::PlusFrame;
use s7sentry_proto::Finding;
use std::net::IpAddr;

/// Direction of a packet within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (the side that is not the ISO-on-TCP port) to the server (PLC).
    ToServer,
    /// From the server (PLC) to the client.
    ToClient,
}

/// Where and when: the packet that completed what the event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// 1-based capture record number.
    pub frame: u64,
    /// Capture time of that record.
    pub ts: Ts,
    /// Source address.
    pub src: IpAddr,
    /// Source port (0 when not TCP).
    pub sport: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port (0 when not TCP).
    pub dport: u16,
    /// Flow id (unique for the life of the engine; 0 when no flow).
    pub flow: u64,
    /// Capture time of the flow's first packet (`Ts(0)` when no flow). With the
    /// flow's addresses and ports it names the connection the same way in every
    /// engine (one thread or sharded): exports derive a stable flow id from it.
    pub flow_start: Ts,
    /// Direction within the flow.
    pub dir: Direction,
}

impl Meta {
    /// The same packet context seen from the other direction (addresses swapped).
    pub fn reversed(&self) -> Meta {
        Meta {
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
            dir: match self.dir {
                Direction::ToServer => Direction::ToClient,
                Direction::ToClient => Direction::ToServer,
            },
            ..*self
        }
    }

    /// Address of the server (PLC) side.
    pub fn server(&self) -> (IpAddr, u16) {
        match self.dir {
            Direction::ToServer => (self.dst, self.dport),
            Direction::ToClient => (self.src, self.sport),
        }
    }
    /// Address of the client side.
    pub fn client(&self) -> (IpAddr, u16) {
        match self.dir {
            Direction::ToServer => (self.src, self.sport),
            Direction::ToClient => (self.dst, self.dport),
        }
    }
}

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// FIN seen from both sides.
    Fin,
    /// RST seen.
    Rst,
    /// Idle longer than the configured timeout.
    Idle,
    /// Evicted because the flow table was full.
    Evicted,
    /// End of the capture.
    EndOfCapture,
}

impl EndReason {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Idle => "idle",
            EndReason::Evicted => "evicted",
            EndReason::EndOfCapture => "end_of_capture",
        }
    }
}

/// Place of a userdata PDU in a fragmented answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdFragment {
    /// Not fragmented.
    None,
    /// A fragment with more to come (its data is held for reassembly).
    More,
    /// The last fragment; the PDU's data is the reassembled whole.
    Last,
}

/// A whole S7comm-plus message: one unfragmented frame, or the frames of a
/// fragmented message joined (first fragment's header and payload, then each
/// later fragment's data after its integrity part).
#[derive(Debug, Clone, Copy)]
pub struct PlusMessage<'a> {
    /// The message (for a joined message, [`PlusFrame::message`] over the joined bytes).
    pub frame: &'a PlusFrame<'a>,
    /// Number of frames it came in (1 when not fragmented).
    pub fragments: u32,
    /// The joined bytes hit the reassembly cap: the message is cut at the cap
    /// (its header and the start of its payload are there, the rest is lost).
    pub truncated: bool,
}

/// Something the engine observed.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A TCP segment on an ISO-on-TCP port (every one, before reassembly):
    /// flags, payload length and whether it was a retransmission.
    Tcp {
        /// Where.
        meta: Meta,
        /// Flag bits ([`tcp_flags`]).
        flags: u8,
        /// TCP payload length.
        payload_len: usize,
        /// Sequence number.
        seq: u32,
        /// All of the payload had been seen before.
        retransmission: bool,
    },
    /// A COTP TPDU other than DT (CR, CC, DR, DC, ER, ED, AK, EA, RJ).
    Cotp {
        /// Where.
        meta: Meta,
        /// The TPDU.
        cotp: &'a Cotp<'a>,
    },
    /// A complete S7comm PDU (after COTP reassembly).
    S7 {
        /// Where.
        meta: Meta,
        /// The PDU.
        pdu: &'a S7Pdu<'a>,
        /// Raw PDU bytes.
        raw: &'a [u8],
        /// Userdata fragmentation: for [`UdFragment::Last`], `pdu.data` is the
        /// data of all fragments joined.
        fragment: UdFragment,
    },
    /// An S7comm-plus frame.
    S7Plus {
        /// Where.
        meta: Meta,
        /// The frame (opcode/function absent for continuation fragments).
        frame: &'a PlusFrame<'a>,
        /// Raw frame bytes.
        raw: &'a [u8],
        /// This frame continues a previous one that had no trailer.
        continuation: bool,
        /// The whole message this frame completes: `Some` for an unfragmented
        /// frame (the frame itself) and for the last fragment of a fragmented
        /// one (all fragments joined); `None` for first and inner fragments.
        /// Rules read messages, never fragments.
        message: Option<PlusMessage<'a>>,
    },
    /// A COTP DT payload on a connection that switched to TLS after InitSSL.
    Tls {
        /// Where.
        meta: Meta,
        /// Payload length.
        len: usize,
        /// First TLS payload of this flow.
        first: bool,
    },
    /// A structural finding. `bytes` holds the unit the offset refers to (may be empty).
    Finding {
        /// Where.
        meta: Meta,
        /// What.
        finding: Finding,
        /// The bytes of the unit the finding's offset is relative to.
        bytes: &'a [u8],
    },
    /// An IP fragment (IPv4 MF/offset or IPv6 fragment header). Ports are 0 unless
    /// this is a first fragment carrying a TCP/UDP header.
    IpFragment {
        /// Where.
        meta: Meta,
        /// Fragment offset in bytes.
        offset: u32,
        /// More-fragments flag.
        more: bool,
    },
    /// Something IP reassembly has to report ([`crate::defrag`]): fragments
    /// overlapping with different bytes, tiny first fragments, conflicting
    /// ends, datagrams incomplete after the timeout, late fragments, caps.
    /// Addresses are the datagram's; ports are its first fragment's (0 when
    /// not seen); `flow` is the TCP flow when it is known.
    IpDefrag {
        /// Where (the packet that caused the report, or the timer's packet).
        meta: Meta,
        /// What.
        report: &'a Report,
    },
    /// Something the TCP stream layer reports ([`crate::stream::StreamIssue`]):
    /// bytes given up (and why), late bytes for a lost hole, out-of-window
    /// data, an invalid-checksum copy conflicting with a valid one, an ignored
    /// SYN or RST. Direction and addresses are those of the affected byte stream.
    Stream {
        /// Where (the packet that caused it; a held segment's when delivered later).
        meta: Meta,
        /// What.
        issue: crate::stream::StreamIssue,
    },
    /// A flow was removed from the table.
    FlowEnd {
        /// Last packet's meta (direction as of that packet).
        meta: Meta,
        /// Why.
        reason: EndReason,
        /// Whether any S7 / S7comm-plus PDU was seen on it.
        carried_pdus: bool,
    },
    /// Packet time advanced (once per packet, after its other events); rules
    /// use it to run timers.
    Tick {
        /// Current packet time.
        ts: Ts,
        /// Record number of the packet (0 at end of input or on a wall-clock tick);
        /// alerts raised by timers at this tick name it.
        frame: u64,
    },
}

/// Receiver of events.
pub trait EventSink {
    /// Called for each event, in packet order.
    fn on_event(&mut self, ev: &Event<'_>);
}

impl<F: FnMut(&Event<'_>)> EventSink for F {
    fn on_event(&mut self, ev: &Event<'_>) {
        self(ev)
    }
}
