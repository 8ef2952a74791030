//! # s7sentry-engine: from captured frames to S7 events
//!
//! The path of one packet:
//!
//! 1. [`link`]: link layer (Ethernet with up to three VLAN tags, Linux SLL/SLL2,
//!    raw IP) and IP (v4/v6) are sliced with etherparse; the TCP header is read
//!    by hand so that a header shorter than 20 bytes (CVE-2022-25622) is seen,
//!    not rejected.
//! 2. [`flow`]: a bounded flow table keyed by the 5-tuple (both directions share
//!    one entry), with idle expiry and eviction when full.
//! 3. [`stream`]: per-direction TCP reassembly: in-order bytes are framed in
//!    place (zero copy); only a TPKT split across segments, out-of-order data
//!    and a small retransmission history are copied, all under caps.
//! 4. [`session`]: TPKT framing, COTP parsing, COTP DT (EOT) reassembly, and
//!    dispatch of each S7 PDU to the S7comm or S7comm-plus parser.
//! 5. Everything observed becomes an [`Event`] handed to an [`EventSink`]:
//!    decoders print them, the rule engine turns them into alerts, the
//!    exporter counts them. The engine itself never logs or counts metrics.
//!
//! Time is the packets' own time: the engine has no clock, so replaying a
//! capture at any speed gives the same events.
#![forbid(unsafe_code)]

pub mod assets;
pub mod config;
pub mod defrag;
pub mod engine;
pub mod event;
pub mod flow;
pub mod link;
pub mod record;
pub mod rules;
pub mod session;
pub mod shard;
pub mod stats;
pub mod stream;
pub mod time;

pub use config::EngineConfig;
pub use engine::{Engine, Frame};
pub use event::{Direction, Event, EventSink, Meta, PlusMessage, UdFragment};
pub use stats::Stats;
pub use time::Ts;
