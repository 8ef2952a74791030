//! # s7sentry-pcapgen: deterministic S7 test-capture generator
//!
//! Writes the test captures under `pcaps/` and streams large benchmark captures.
//! Every byte comes from this crate's own builders, following the protocol facts in
//! `research/advisories-and-wire-format.md` §2: there is no capture library and no
//! copied frame.
//!
//! | layer | module |
//! |---|---|
//! | pcap / pcapng files | [`pcap`] |
//! | Ethernet, VLAN, SLL, SLL2, IPv4 (+ fragments), IPv6, TCP, checksums | [`net`] |
//! | in-memory traces and TCP connections with sequence bookkeeping | [`trace`] |
//! | TPKT, COTP, S7comm | [`s7`] |
//! | S7comm-plus, TLS records after InitSSL | [`s7plus`] |
//! | the small cases of `pcaps/` | [`cases`] |
//! | seeded evasion mutations of one conversation (property tests) | [`mutate`] |
//! | streamed benchmark captures | [`big`] |
//! | seeded random numbers | [`rng`] |
//!
//! ```
//! use s7sentry_pcapgen::{pcap::{Format, LinkType}, s7, trace::{Dir, TcpConn, Trace}};
//! let mut tr = Trace::new(LinkType::Ethernet);
//! let mut c = TcpConn::new("10.10.2.20".parse().unwrap(), 49152, "10.10.1.10".parse().unwrap(), 102, 1, 2);
//! c.handshake(&mut tr, 300);
//! c.send(&mut tr, Dir::C2S, &s7::job(1, &s7::plc_stop_param(), &[]));
//! let bytes = tr.to_bytes(Format::CLASSIC).unwrap();
//! assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
//! assert_eq!(tr.frames.len(), 4);
//! ```
#![forbid(unsafe_code)]

pub mod big;
pub mod cases;
pub mod mutate;
pub mod net;
pub mod pcap;
pub mod rng;
pub mod s7;
pub mod s7plus;
pub mod trace;
