//! Live capture through libpcap: promiscuous, full snap length, a kernel
//! buffer sized for bursts, immediate delivery, non-blocking reads (libpcap's
//! blocking read may never return on an idle link, see TOOLCHAIN.md).

use crate::{CaptureError, LinkType, Packet, Timestamp};

/// The part of the default filter that works on every link type: TCP port
/// 102, IPv4 fragments (any fragment: later fragments carry no ports) and IPv6
/// packets whose first extension header is a fragment header.
pub const BASE_FILTER: &str = "tcp port 102 or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)";

/// Default BPF filter for a link type. On Ethernet it also matches one and two
/// VLAN tags (802.1Q / QinQ); `vlan` is not allowed on Linux cooked captures.
pub fn default_filter(linktype: LinkType) -> String {
    if linktype == LinkType::ETHERNET {
        format!("{BASE_FILTER} or (vlan and ({BASE_FILTER} or (vlan and ({BASE_FILTER}))))")
    } else {
        BASE_FILTER.to_string()
    }
}

/// Options for [`LiveSource::open`].
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Interface name.
    pub interface: String,
    /// BPF filter; `None` = [`default_filter`].
    pub bpf: Option<String>,
    /// Kernel buffer in bytes.
    pub buffer_bytes: i32,
}

/// What a non-blocking read gave.
pub enum Polled<'a> {
    /// A packet.
    Packet(Packet<'a>),
    /// Nothing right now.
    Idle,
}

/// libpcap statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Packets received by the filter (ps_recv).
    pub received: u64,
    /// Dropped by the kernel for lack of buffer space (ps_drop).
    pub dropped: u64,
    /// Dropped by the interface or driver (ps_ifdrop).
    pub if_dropped: u64,
}

/// A live capture handle.
pub struct LiveSource {
    cap: pcap::Capture<pcap::Active>,
    name: String,
    frame: u64,
    linktype: LinkType,
    filter: String,
    stats_base: LiveStats,
}

fn friendly(iface: &str, e: &pcap::Error) -> CaptureError {
    let msg = e.to_string();
    let low = msg.to_lowercase();
    let text = if low.contains("no such device") || low.contains("doesn't exist") {
        format!("interface '{iface}' does not exist (list interfaces with `ip link`): {msg}")
    } else if low.contains("permission") || low.contains("not permitted") {
        format!(
            "no permission to capture on '{iface}': run as root, or grant the capabilities once with \
             `setcap cap_net_raw,cap_net_admin=eip $(command -v s7sentry)` (libpcap: {msg})"
        )
    } else if low.contains("network is down") || low.contains("went down") {
        format!("interface '{iface}' is down (bring it up with `ip link set {iface} up`): {msg}")
    } else {
        format!("cannot capture on '{iface}': {msg}")
    };
    CaptureError::Live(text)
}

impl LiveSource {
    /// Open `opts.interface` and apply the filter.
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, CaptureError> {
        let iface = &opts.interface;
        let inactive = pcap::Capture::from_device(iface.as_str()).map_err(|e| friendly(iface, &e))?;
        let cap = inactive
            .promisc(true)
            .snaplen(65_535)
            .buffer_size(opts.buffer_bytes)
            .immediate_mode(true)
            .timeout(100)
            .open()
            .map_err(|e| friendly(iface, &e))?;
        let mut cap = cap.setnonblock().map_err(|e| friendly(iface, &e))?;
        let linktype = LinkType(cap.get_datalink().0);
        let filter = opts.bpf.clone().unwrap_or_else(|| default_filter(linktype));
        cap.filter(&filter, true).map_err(|e| {
            CaptureError::Live(format!(
                "bad BPF expression '{filter}' for interface '{iface}': {e} (see pcap-filter(7))"
            ))
        })?;
        Ok(LiveSource { cap, name: iface.clone(), frame: 0, linktype, filter, stats_base: LiveStats::default() })
    }

    /// The filter in use.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Link type of the interface.
    pub fn linktype(&self) -> LinkType {
        self.linktype
    }

    /// Interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Continue frame numbering and statistics from a previous handle (after a reopen).
    pub fn continue_from(&mut self, frames: u64, stats: LiveStats) {
        self.frame = frames;
        self.stats_base = stats;
    }

    /// Frames delivered so far.
    pub fn frames(&self) -> u64 {
        self.frame
    }

    /// Read one packet without blocking.
    pub fn poll(&mut self) -> Result<Polled<'_>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.frame += 1;
                let tv = p.header.ts;
                Ok(Polled::Packet(Packet {
                    frame: self.frame,
                    ts: Timestamp { secs: tv.tv_sec, nanos: (tv.tv_usec.clamp(0, 999_999) as u32) * 1000 },
                    linktype: self.linktype,
                    data: p.data,
                    orig_len: p.header.len,
                }))
            }
            Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => Ok(Polled::Idle),
            Err(e) => Err(friendly(&self.name, &e)),
        }
    }

    /// libpcap's counters (since the first handle when reopened).
    pub fn stats(&mut self) -> LiveStats {
        let b = self.stats_base;
        match self.cap.stats() {
            Ok(s) => LiveStats {
                received: b.received + u64::from(s.received),
                dropped: b.dropped + u64::from(s.dropped),
                if_dropped: b.if_dropped + u64::from(s.if_dropped),
            },
            Err(_) => b,
        }
    }

    /// Raw file descriptor, to wait for readability (poll(2)) instead of spinning.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.cap.as_raw_fd()
    }
}
