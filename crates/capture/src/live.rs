//! Live capture through libpcap: promiscuous, a snap length bounded to the
//! largest frame a SPAN port delivers, a kernel ring sized for bursts,
//! non-blocking reads (libpcap's blocking read may never return on an idle
//! link, see TOOLCHAIN.md).

pub use crate::Polled;
use crate::{CaptureError, LinkType, Packet, PacketSource, Timestamp};

/// The part of the default filter that works on every link type: TCP port
/// 102, IPv4 fragments (any fragment: later fragments carry no ports), and IPv6
/// packets whose first header after the fixed one is an extension header that
/// can precede a fragment header or TCP (hop-by-hop 0, routing 43, fragment 44,
/// destination options 60, authentication 51): libpcap's `tcp port` does not
/// walk IPv6 extension headers, so a STOP behind them would never reach the
/// engine (the engine walks the chain and keeps only port-102 traffic).
/// Hop-by-hop followed directly by ICMPv6 (MLD reports, which every IPv6 host
/// sends) is left out.
pub const BASE_FILTER: &str = "tcp port 102 or (ip[6:2] & 0x3fff != 0) or \
     (ip6 and ((ip6[6] == 0 and ip6[40] != 58) or ip6[6] == 43 or ip6[6] == 44 or ip6[6] == 60 or ip6[6] == 51))";

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
    /// Snap length: longer frames are cut (and counted, [`LiveStats::truncated`]).
    pub snaplen: i32,
    /// libpcap immediate mode (TPACKET_V2, one ring slot of the snap length per
    /// packet) instead of TPACKET_V3 blocks holding packets back to back.
    pub immediate: bool,
    /// TPACKET_V3 block timeout in milliseconds: a block reaches the sensor when
    /// full or this long after its first packet.
    pub timeout_ms: i32,
}

/// Default snap length: the largest frame a SPAN port delivers, a 9 000-byte
/// jumbo payload with Ethernet, two VLAN tags and the FCS (9 000 + 14 + 8 + 4),
/// rounded up. Only frames merged by GRO/LRO on the capturing host are longer.
pub const DEFAULT_SNAPLEN: i32 = 9_216;

/// Default block timeout (ms).
pub const DEFAULT_TIMEOUT_MS: i32 = 10;

impl LiveOptions {
    /// Defaults for `interface`: default filter, a 64 MiB ring, [`DEFAULT_SNAPLEN`],
    /// TPACKET_V3 blocks with a [`DEFAULT_TIMEOUT_MS`] timeout.
    pub fn new(interface: &str) -> LiveOptions {
        LiveOptions {
            interface: interface.to_string(),
            bpf: None,
            buffer_bytes: 64 << 20,
            snaplen: DEFAULT_SNAPLEN,
            immediate: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
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
    /// Delivered cut to the snap length (longer than any SPAN frame: GRO/LRO on the capturing host).
    pub truncated: u64,
}

/// A live capture handle.
pub struct LiveSource {
    cap: pcap::Capture<pcap::Active>,
    name: String,
    frame: u64,
    linktype: LinkType,
    filter: String,
    stats_base: LiveStats,
    truncated: u64,
    /// The packet [`PacketSource::next_packet`] returned last.
    copy: Vec<u8>,
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

/// Compile `bpf` for Ethernet without an interface: a bad filter is found
/// before the interface exists (a sensor waiting for its interface).
pub fn check_filter(bpf: Option<&str>) -> Result<(), CaptureError> {
    let Some(f) = bpf else { return Ok(()) };
    let bad = |e: pcap::Error| CaptureError::Filter(format!("bad BPF expression '{f}': {e} (see pcap-filter(7))"));
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).map_err(bad)?;
    dead.compile(f, true).map(|_| ()).map_err(bad)
}

impl LiveSource {
    /// Open `opts.interface` and apply the filter.
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, CaptureError> {
        let iface = &opts.interface;
        let inactive = pcap::Capture::from_device(iface.as_str()).map_err(|e| friendly(iface, &e))?;
        let cap = inactive
            .promisc(true)
            .snaplen(opts.snaplen.max(256))
            .buffer_size(opts.buffer_bytes)
            .immediate_mode(opts.immediate)
            .timeout(opts.timeout_ms.max(1))
            .open()
            .map_err(|e| friendly(iface, &e))?;
        let mut cap = cap.setnonblock().map_err(|e| friendly(iface, &e))?;
        let linktype = LinkType(cap.get_datalink().0);
        let filter = opts.bpf.clone().unwrap_or_else(|| default_filter(linktype));
        cap.filter(&filter, true).map_err(|e| {
            CaptureError::Filter(format!(
                "bad BPF expression '{filter}' for interface '{iface}': {e} (see pcap-filter(7))"
            ))
        })?;
        Ok(LiveSource {
            cap,
            name: iface.clone(),
            frame: 0,
            linktype,
            filter,
            stats_base: LiveStats::default(),
            truncated: 0,
            copy: Vec::new(),
        })
    }

    /// The filter in use.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Link type of the interface.
    pub fn linktype(&self) -> LinkType {
        self.linktype
    }

    /// Continue frame numbering and statistics from a previous handle (after a reopen).
    pub fn continue_from(&mut self, frames: u64, stats: LiveStats) {
        self.frame = frames;
        self.stats_base = stats;
        self.truncated = stats.truncated;
    }

    /// Frames delivered so far.
    pub fn frames(&self) -> u64 {
        self.frame
    }

    /// libpcap's counters (since the first handle when reopened).
    pub fn stats(&mut self) -> LiveStats {
        let b = self.stats_base;
        match self.cap.stats() {
            Ok(s) => LiveStats {
                received: b.received + u64::from(s.received),
                dropped: b.dropped + u64::from(s.dropped),
                if_dropped: b.if_dropped + u64::from(s.if_dropped),
                truncated: self.truncated,
            },
            Err(_) => LiveStats { truncated: self.truncated, ..b },
        }
    }

    /// The copied packet of [`PacketSource::next_packet`].
    fn copied(&mut self, ts: Timestamp, orig_len: u32) -> Packet<'_> {
        self.frame += 1;
        if orig_len as usize > self.copy.len() {
            self.truncated += 1;
        }
        Packet { frame: self.frame, ts, linktype: self.linktype, data: &self.copy, orig_len }
    }

    /// Raw file descriptor, to wait for readability (poll(2)) instead of spinning.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.cap.as_raw_fd()
    }
}

impl PacketSource for LiveSource {
    /// Waits for the next packet (sleeping 1 ms at a time while there is none);
    /// never ends by itself. The packet is copied (runs use [`PacketSource::poll`],
    /// which is not).
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        let (ts, orig_len) = loop {
            match self.cap.next_packet() {
                Ok(p) => {
                    self.copy.clear();
                    self.copy.extend_from_slice(p.data);
                    break (to_ts(p.header.ts.tv_sec, p.header.ts.tv_usec), p.header.len);
                }
                Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => return Err(friendly(&self.name, &e)),
            }
        };
        Ok(Some(self.copied(ts, orig_len)))
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// Read one packet without blocking.
    fn poll(&mut self) -> Result<Polled<'_>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                let (ts, orig_len, data) = (p.header.ts, p.header.len, p.data);
                self.frame += 1;
                if orig_len as usize > data.len() {
                    self.truncated += 1;
                }
                Ok(Polled::Packet(Packet {
                    frame: self.frame,
                    ts: to_ts(ts.tv_sec, ts.tv_usec),
                    linktype: self.linktype,
                    data,
                    orig_len,
                }))
            }
            Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => Ok(Polled::Idle),
            Err(e) => Err(friendly(&self.name, &e)),
        }
    }

    fn is_live(&self) -> bool {
        true
    }
}

/// libpcap's microsecond packet time.
fn to_ts(secs: i64, micros: i64) -> Timestamp {
    Timestamp { secs, nanos: (micros.clamp(0, 999_999) as u32) * 1000 }
}
