//! Flow sharding: which worker processes a frame when several engines run in
//! parallel.
//!
//! The key is the **server (PLC) address** of the packet's ISO-on-TCP flow, so
//! every flow of one PLC — and therefore all per-PLC detection state (SYN and
//! connection counts, loss of communication, request rates) — lives on one
//! worker, and each flow is always on the same worker. Each worker also sees
//! the time of every packet ([`crate::Engine::advance`]), so timers fire at the
//! same packets as in a single engine, and the merged alerts equal a single
//! engine's alerts.
//!
//! Where the server cannot be told from the packet the key is the destination
//! address: IPv4 and IPv6 fragments (all fragments of one datagram share it; a
//! fragmented datagram sent *by* a PLC is therefore reassembled on its
//! client's worker), and traffic not on an ISO-on-TCP port. An IPv6 atomic
//! fragment (offset 0, no more fragments) is keyed like the packet it carries. Results can also differ from one
//! engine when caps bind, because each worker has its share of the caps.

use crate::link::{self, Sliced};
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;

/// Most PLC addresses given a worker of their own choosing; beyond it new
/// addresses are placed by hash (never moved: a PLC stays on its worker).
pub const MAX_ASSIGNED: usize = 65_536;

/// Chooses the worker of each frame. Deterministic: the same capture gives the
/// same assignment on every run.
///
/// A new server address goes to the worker that holds the fewest addresses so
/// far (round robin in order of first appearance), which spreads a handful of
/// PLCs evenly; after [`MAX_ASSIGNED`] addresses, new ones are placed by hash.
#[derive(Debug, Clone)]
pub struct Sharder {
    /// Bit p set when TCP port p carries ISO-on-TCP.
    ports: Vec<u64>,
    /// The last address placed and its worker (consecutive frames mostly share a PLC).
    last: Option<(IpAddr, u16)>,
    workers: usize,
    hasher: ahash::RandomState,
    assigned: std::collections::HashMap<IpAddr, u16, ahash::RandomState>,
    held: Vec<u32>,
}

impl Sharder {
    /// A sharder over `workers` workers (at least 1) for ISO-on-TCP `ports`.
    pub fn new(ports: &[u16], workers: usize) -> Sharder {
        let mut bits = vec![0u64; 1024];
        for &p in ports {
            bits[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        Sharder {
            ports: bits,
            last: None,
            workers: workers.max(1),
            // Fixed keys: the same frame goes to the same worker on every run.
            hasher: ahash::RandomState::with_seeds(0x5337, 0x7365, 0x6e74, 0x7279),
            assigned: std::collections::HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
            held: vec![0; workers.max(1)],
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    #[inline]
    fn is_iso_port(&self, p: u16) -> bool {
        self.ports.get(usize::from(p >> 6)).is_some_and(|w| w >> (p & 63) & 1 != 0)
    }

    /// The address the frame is sharded on (`None` when not IP).
    pub fn key(&self, linktype: i32, data: &[u8]) -> Option<IpAddr> {
        // Fast path: untagged Ethernet, IPv4 without fragmentation, TCP. Everything
        // else takes the engine's full slicer.
        if linktype == 1 && data.len() >= 14 + 20 + 4 && data[12] == 0x08 && data[13] == 0x00 {
            let ip = &data[14..];
            let ihl = usize::from(ip[0] & 0x0F) * 4;
            let unfragmented = ip[6] & 0x3F == 0 && ip[7] == 0;
            if ip[0] >> 4 == 4 && ihl >= 20 && unfragmented && ip[9] == 6 && ip.len() >= ihl + 4 {
                let src = IpAddr::from([ip[12], ip[13], ip[14], ip[15]]);
                let dst = IpAddr::from([ip[16], ip[17], ip[18], ip[19]]);
                let sport = u16::from_be_bytes([ip[ihl], ip[ihl + 1]]);
                let dport = u16::from_be_bytes([ip[ihl + 2], ip[ihl + 3]]);
                let iso = |p: u16| self.is_iso_port(p);
                return Some(if iso(sport) && !iso(dport) { src } else { dst });
            }
        }
        let Sliced::Ip(ip) = link::slice(linktype, data) else {
            return None;
        };
        let (proto, payload) = match ip.fragment {
            None => (ip.proto, ip.payload),
            // An IPv6 atomic fragment is decoded on its own, like any packet.
            Some((0, false)) if ip.src.is_ipv6() => match link::ipv6_upper(ip.proto, ip.payload) {
                Ok((p, at)) => (p, &ip.payload[at..]),
                Err(_) => return Some(ip.dst),
            },
            Some(_) => return Some(ip.dst),
        };
        if proto != 6 || payload.len() < 4 {
            return Some(ip.dst);
        }
        let sport = u16::from_be_bytes([payload[0], payload[1]]);
        let dport = u16::from_be_bytes([payload[2], payload[3]]);
        let iso = |p: u16| self.is_iso_port(p);
        // The same choice of server side as the engine's flow table.
        if iso(sport) && !iso(dport) {
            Some(ip.src)
        } else {
            Some(ip.dst)
        }
    }

    /// Worker index (`0..workers`) of a frame. Frames that are not IP go to worker 0.
    pub fn worker(&mut self, linktype: i32, data: &[u8]) -> usize {
        if self.workers == 1 {
            return 0;
        }
        let Some(a) = self.key(linktype, data) else {
            return 0;
        };
        if let Some((la, w)) = self.last {
            if la == a {
                return usize::from(w);
            }
        }
        if let Some(&w) = self.assigned.get(&a) {
            self.last = Some((a, w));
            return usize::from(w);
        }
        if self.assigned.len() >= MAX_ASSIGNED {
            let mut h = self.hasher.build_hasher();
            a.hash(&mut h);
            let w = (std::hash::Hasher::finish(&h) % self.workers as u64) as usize;
            self.last = Some((a, w as u16));
            return w;
        }
        let w = (0..self.workers).min_by_key(|&w| self.held[w]).unwrap_or(0);
        self.held[w] += 1;
        self.assigned.insert(a, w as u16);
        self.last = Some((a, w as u16));
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        f.extend_from_slice(&ip);
        let mut tcp = vec![0u8; 20];
        tcp[..2].copy_from_slice(&sport.to_be_bytes());
        tcp[2..4].copy_from_slice(&dport.to_be_bytes());
        tcp[12] = 0x50;
        f.extend_from_slice(&tcp);
        f
    }

    #[test]
    fn both_directions_and_all_clients_of_a_plc_share_a_worker() {
        let mut s = Sharder::new(&[102], 4);
        let plc = [10, 0, 0, 1];
        let w = s.worker(1, &eth_tcp([10, 0, 0, 50], plc, 40000, 102));
        assert_eq!(s.worker(1, &eth_tcp(plc, [10, 0, 0, 50], 102, 40000)), w);
        for c in 2..60u8 {
            assert_eq!(s.worker(1, &eth_tcp([10, 0, 1, c], plc, 1024 + u16::from(c), 102)), w);
            assert_eq!(s.worker(1, &eth_tcp(plc, [10, 0, 1, c], 102, 1024 + u16::from(c))), w);
        }
        assert_eq!(s.key(1, &eth_tcp(plc, [10, 0, 0, 50], 102, 40000)), Some(IpAddr::from(plc)));
    }

    #[test]
    fn plcs_spread_over_workers_and_non_ip_goes_to_zero() {
        let mut s = Sharder::new(&[102], 2);
        let used: std::collections::BTreeSet<usize> =
            (1..40u8).map(|p| s.worker(1, &eth_tcp([10, 0, 0, 50], [10, 0, 9, p], 40000, 102))).collect();
        assert_eq!(used.len(), 2);
        assert_eq!(s.held, vec![20, 19], "new PLCs go to the worker holding fewest");
        assert_eq!(s.worker(1, &[0u8; 10]), 0);
        assert_eq!(Sharder::new(&[102], 1).worker(1, &eth_tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 102)), 0);
    }

    #[test]
    fn ipv6_fragments_go_by_destination_and_atomic_ones_by_server() {
        use s7sentry_pcapgen::net::{ipv6_fragment, push_ethernet, Ipv6Ext, Ipv6Frag, ETHERTYPE_IPV6};
        let s = Sharder::new(&[102], 2);
        let (plc, hmi): (IpAddr, IpAddr) = ("fd00::10".parse().unwrap(), "fd00::20".parse().unwrap());
        let frame = |src: IpAddr, dst: IpAddr, off: usize, more: bool, piece: &[u8]| {
            let h = Ipv6Frag {
                src: s7sentry_pcapgen::net::ip16(src),
                dst: s7sentry_pcapgen::net::ip16(dst),
                hop: 64,
                id: 1,
                next: 6,
            };
            let mut f = Vec::new();
            push_ethernet(&mut f, [0; 6], [0; 6], &[], ETHERTYPE_IPV6);
            f.extend(ipv6_fragment(&h, &[Ipv6Ext::hop_by_hop()], off, more, piece));
            f
        };
        // From the PLC: port 102 -> 40000 in the first bytes, which a later fragment does not have.
        let mut tcp = [0u8; 20];
        tcp[..4].copy_from_slice(&[0, 102, 0x9c, 0x40]);
        assert_eq!(s.key(1, &frame(plc, hmi, 0, true, &tcp)), Some(hmi));
        assert_eq!(s.key(1, &frame(plc, hmi, 8, false, &tcp)), Some(hmi));
        // An atomic fragment is the PLC's packet: keyed on the PLC.
        assert_eq!(s.key(1, &frame(plc, hmi, 0, false, &tcp)), Some(plc));
    }

    #[test]
    fn fast_path_agrees_with_the_full_slicer() {
        let s = Sharder::new(&[102], 2);
        for f in [
            eth_tcp([10, 0, 0, 50], [10, 0, 0, 1], 40000, 102),
            eth_tcp([10, 0, 0, 1], [10, 0, 0, 50], 102, 40000),
            eth_tcp([10, 0, 0, 1], [10, 0, 0, 50], 102, 102),
            eth_tcp([10, 0, 0, 1], [10, 0, 0, 50], 80, 443),
        ] {
            // A VLAN tag forces the slow path; the key must not change.
            let mut tagged = f[..12].to_vec();
            tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
            tagged.extend_from_slice(&f[12..]);
            assert_eq!(s.key(1, &f), s.key(1, &tagged));
            assert!(s.key(1, &f).is_some());
        }
    }
}
