//! # s7sentry-proto: zero-copy parsers for the Siemens S7 protocol stack
//!
//! Pure functions over `&[u8]`, no I/O, no allocation. One module per layer:
//!
//! | layer | module | spec |
//! |---|---|---|
//! | TPKT | [`tpkt`] | RFC 1006 §6 |
//! | COTP | [`cotp`] | ISO 8073 / X.224 class 0 |
//! | S7comm (0x32) | [`s7comm`] | Siemens S7 "classic"; field meanings after Wireshark's `packet-s7comm.c` |
//! | S7comm-plus (0x72) | [`s7plus`] | S7-1200/1500; field meanings after the s7commwireshark plug-in |
//!
//! Framing (TPKT) is parsed with *streaming* semantics: a short input yields
//! [`nom::Err::Incomplete`] and the caller must wait for more bytes. Everything
//! inside the length that TPKT announces is parsed *complete*: a short body is a
//! structural violation, reported as a [`Finding`] naming the layer, the kind
//! of violation and the byte offset (relative to the start of that layer).
//!
//! Protocol code points are open newtypes ([`cotp::TpduCode`], [`s7comm::Rosctr`],
//! [`s7comm::Function`], ...) with a `name()` method, so an unknown value is
//! carried to the rules intact instead of failing the parse.
//!
//! ```
//! use s7sentry_proto::{tpkt, cotp, s7comm};
//! // CPU STOP as sent by libnodave / ISF (research/advisories-and-wire-format.md §2.3).
//! let frame = b"\x03\x00\x00\x21\x02\xf0\x80\x32\x01\x00\x00\x06\x00\x00\x10\x00\x00\
//!               \x29\x00\x00\x00\x00\x00\x09P_PROGRAM";
//! let (_rest, t) = tpkt::parse_tpkt(frame).unwrap();
//! let c = cotp::parse_cotp(t.payload).unwrap();
//! let pdu = s7comm::parse_s7comm(c.user_data).unwrap();
//! assert_eq!(pdu.header.rosctr, s7comm::Rosctr::JOB);
//! assert_eq!(pdu.function(), Some(s7comm::Function::PLC_STOP));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cotp;
pub mod finding;
pub mod s7comm;
pub mod s7plus;
pub mod tpkt;
mod util;

pub use finding::{Finding, FindingKind, Layer};
