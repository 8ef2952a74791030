//! Fields that join an alert to the rest of a SOC's data: `event_type`,
//! `flow_id`, `community_id`, `sensor`, `in_iface`; the alert JSON line with
//! those fields added; and the one-line text view of an alert.
//!
//! * `community_id`: Community ID v1 (Corelight's specification, seed 0):
//!   `1:` + base64(SHA-1(seed, addresses, protocol, pad, ports)) with the
//!   endpoints ordered so both directions give the same value. Zeek, Suricata,
//!   Arkime and Elastic compute the same string for the same connection.
//! * `flow_id`: a positive 63-bit integer (as Suricata's), derived from the
//!   connection itself — a keyed SHA-1 of the ordered 5-tuple and the capture
//!   time of the connection's first packet — so it is the same for every alert
//!   of a connection, in one run, with `replay --threads N` (each worker has its
//!   own engine and its own internal flow numbers) and on a second replay of
//!   the same capture. A reused port pair is a new connection (new first-packet
//!   time, new id).
//!
//! Alerts not tied to a tracked connection (SYN floods from spoofed sources,
//! outages raised by a timer, aggregated follow-ups of such) carry no
//! `flow_id`; alerts without ports (IP fragments without a transport header)
//! carry no `community_id`.

use s7sentry_engine::rules::{Alert, Severity};
use s7sentry_engine::Ts;
use serde::Serialize;
use sha1::{Digest, Sha1};
use std::io::Write;
use std::net::IpAddr;

/// IP protocol number of TCP: every alert is about ISO-on-TCP traffic.
pub const PROTO_TCP: u8 = 6;

/// Key of the flow-id hash (domain separation, fixed so ids are reproducible).
const FLOW_ID_KEY: &[u8] = b"s7sentry flow_id v1";

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// The two endpoints in Community ID order: the smaller address first (bytes
/// in network order), the smaller port first when the addresses are equal.
fn ordered(a: (IpAddr, u16), b: (IpAddr, u16)) -> ((IpAddr, u16), (IpAddr, u16)) {
    let (ka, kb) = ((ip_bytes(&a.0), a.1), (ip_bytes(&b.0), b.1));
    if ka <= kb {
        (a, b)
    } else {
        (b, a)
    }
}

/// Standard base64 (RFC 4648 §4, with padding).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                s.push(char::from(T[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Community ID v1 of a connection with ports (TCP, UDP, SCTP): `1:` + base64
/// of the SHA-1 of seed (2 bytes), both addresses, protocol, one zero byte and
/// both ports, endpoints ordered. Mixed address families give `None`.
pub fn community_id(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8, seed: u16) -> Option<String> {
    if src.is_ipv4() != dst.is_ipv4() {
        return None;
    }
    let ((a, ap), (b, bp)) = ordered((src, sport), (dst, dport));
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(ip_bytes(&a));
    h.update(ip_bytes(&b));
    h.update([proto, 0]);
    h.update(ap.to_be_bytes());
    h.update(bp.to_be_bytes());
    Some(format!("1:{}", base64(&h.finalize())))
}

/// Stable flow id of a TCP connection: the first 8 bytes of a keyed SHA-1 of
/// the ordered 5-tuple and the capture time of its first packet (nanoseconds),
/// as a positive 63-bit integer (never 0).
pub fn flow_id(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, flow_start: Ts) -> u64 {
    let ((a, ap), (b, bp)) = ordered((src, sport), (dst, dport));
    let mut h = Sha1::new();
    h.update(FLOW_ID_KEY);
    h.update(ip_bytes(&a));
    h.update(ap.to_be_bytes());
    h.update(ip_bytes(&b));
    h.update(bp.to_be_bytes());
    h.update([PROTO_TCP]);
    h.update(flow_start.0.to_be_bytes());
    let d = h.finalize();
    let v = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]) & (u64::MAX >> 1);
    v.max(1)
}

/// The host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `-`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "-".into())
}

/// Run-level facts every alert of a run carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertContext {
    /// Name of this sensor (configurable; default the host name).
    pub sensor: String,
    /// Capture interface (`live` only; `None` for replays).
    pub in_iface: Option<String>,
}

impl AlertContext {
    /// Context with `sensor` (the host name when `None`) and the live interface.
    pub fn new(sensor: Option<String>, in_iface: Option<String>) -> AlertContext {
        AlertContext { sensor: sensor.filter(|s| !s.is_empty()).unwrap_or_else(host_name), in_iface }
    }
}

/// The fields added to every alert line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocFields<'a> {
    /// Always `alert` (EVE's and ECS's event type).
    pub event_type: &'static str,
    /// Stable connection id ([`flow_id`]); absent when the alert is not tied to a connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<u64>,
    /// Community ID v1 ([`community_id`]); absent when the alert has no ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// Sensor name.
    pub sensor: &'a str,
    /// Live capture interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_iface: Option<&'a str>,
}

impl<'a> SocFields<'a> {
    /// The fields of alert `a` in context `ctx`.
    pub fn of(a: &Alert, ctx: &'a AlertContext) -> SocFields<'a> {
        SocFields {
            event_type: "alert",
            flow_id: alert_flow_id(a),
            community_id: alert_community_id(a),
            sensor: &ctx.sensor,
            in_iface: ctx.in_iface.as_deref(),
        }
    }
}

/// [`flow_id`] of the alert's connection (`None` when it has none).
pub fn alert_flow_id(a: &Alert) -> Option<u64> {
    (a.flow_start != Ts(0)).then(|| flow_id(a.src, a.sport, a.dst, a.dport, a.flow_start))
}

/// [`community_id`] of the alert's addresses and ports (`None` without ports).
pub fn alert_community_id(a: &Alert) -> Option<String> {
    if a.sport == 0 && a.dport == 0 {
        return None;
    }
    community_id(a.src, a.sport, a.dst, a.dport, PROTO_TCP, 0)
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    alert: &'a Alert,
    #[serde(flatten)]
    soc: SocFields<'a>,
}

/// Write alert `a` as one JSON line: today's keys unchanged, in the same order,
/// followed by `event_type`, `flow_id`, `community_id`, `sensor`, `in_iface`.
pub fn write_json(w: &mut dyn Write, a: &Alert, ctx: &AlertContext) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, &Line { alert: a, soc: SocFields::of(a, ctx) }).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

/// [`write_json`] into a string (without the newline).
pub fn json_string(a: &Alert, ctx: &AlertContext) -> String {
    serde_json::to_string(&Line { alert: a, soc: SocFields::of(a, ctx) }).unwrap_or_default()
}

/// ANSI colour of a severity on a terminal.
fn colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[36m",
        Severity::Info => "\x1b[2m",
    }
}

fn endpoint(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}:{port}"),
        IpAddr::V6(_) => format!("[{ip}]:{port}"),
    }
}

/// One line per alert for a terminal (`replay --format text`):
/// `TIME SEVERITY RULE SRC -> DST MESSAGE [pcap #frame]`. Control characters in
/// the message (it may quote device strings) are shown as `?`; `colour` adds
/// ANSI colours to the severity (only when writing to a terminal).
pub fn text_line(a: &Alert, colour_on: bool) -> String {
    let sev = a.severity.name().to_uppercase();
    let sev = if colour_on { format!("{}{sev:<8}\x1b[0m", colour(a.severity)) } else { format!("{sev:<8}") };
    let msg: String = a.message.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    format!(
        "{} {sev} {} {} -> {} {msg} [{} #{}]",
        a.ts,
        a.rule,
        endpoint(a.src, a.sport),
        endpoint(a.dst, a.dport),
        a.pcap,
        a.frame
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use s7sentry_engine::rules::Category;

    /// An alert for tests.
    pub(crate) fn alert(rule: &'static str, sev: Severity, flow_start: Ts) -> Alert {
        Alert {
            ts: Ts::new(1_767_225_600, 123_456_789),
            frame: 7,
            pcap: "x.pcap".into(),
            rule,
            category: Category::UnauthorizedControl,
            severity: sev,
            src: "10.10.9.99".parse().unwrap(),
            sport: 49152,
            dst: "10.10.1.10".parse().unwrap(),
            dport: 102,
            message: "PLC Stop\u{7} sent".into(),
            cve: &["CVE-2018-13815"],
            evidence: serde_json::Map::new(),
            flow_start,
        }
    }

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")]
        {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    /// Test vectors of the Community ID specification (TCP/UDP, seed 0 and 1,
    /// IPv4 and IPv6), also what the reference implementation (`communityid`
    /// 1.5 on PyPI) computes for them.
    #[test]
    fn community_id_spec_vectors() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases = [
            ("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
            ("5.6.7.8", 3344, "1.2.3.4", 1122, 6, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
            ("1.2.3.4", 1122, "5.6.7.8", 3344, 17, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
            ("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
            (
                "fe80::200:86ff:fe05:80da",
                34855,
                "fe80::260:97ff:fe07:69ea",
                102,
                6,
                0,
                "1:kpC+H68tMb+ekgHX3i7+3C7p598=",
            ),
            ("10.10.1.10", 102, "10.10.1.10", 49152, 6, 0, "1:lKkC35TbzJkSfhJnoRCqeatlB5o="),
        ];
        for (s, sp, d, dp, proto, seed, want) in cases {
            assert_eq!(community_id(ip(s), sp, ip(d), dp, proto, seed).as_deref(), Some(want), "{s}:{sp} {d}:{dp}");
        }
        assert_eq!(community_id(ip("1.2.3.4"), 1, ip("::1"), 2, 6, 0), None);
    }

    #[test]
    fn flow_id_is_direction_free_positive_and_depends_on_start() {
        let (a, b) = ("10.10.9.99".parse().unwrap(), "10.10.1.10".parse().unwrap());
        let t = Ts::new(1_767_225_600, 5);
        let x = flow_id(a, 49152, b, 102, t);
        assert_eq!(x, flow_id(b, 102, a, 49152, t));
        assert!(x > 0 && x <= i64::MAX as u64);
        assert_ne!(x, flow_id(a, 49152, b, 102, Ts(t.0 + 1)), "a reused port pair is a new connection");
        assert_ne!(x, flow_id(a, 49153, b, 102, t));
        // Fixed key: the value is reproducible across runs, builds and machines.
        assert_eq!(x, flow_id(a, 49152, b, 102, t));
    }

    #[test]
    fn json_line_keeps_todays_keys_first_and_adds_soc_fields() {
        let ctx = AlertContext::new(Some("sensor-a".into()), Some("eth1".into()));
        let a = alert("control.cpu_stop", Severity::Critical, Ts::new(1_767_225_600, 0));
        let mut out = Vec::new();
        write_json(&mut out, &a, &ctx).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let order = [
            "ts",
            "frame",
            "pcap",
            "rule",
            "category",
            "severity",
            "src",
            "sport",
            "dst",
            "dport",
            "message",
            "cve",
            "evidence",
            "event_type",
            "flow_id",
            "community_id",
            "sensor",
            "in_iface",
        ];
        let at: Vec<usize> = order.iter().map(|k| text.find(&format!("\"{k}\":")).expect(k)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "key order: {text}");
        assert_eq!(v.as_object().unwrap().len(), order.len());
        let old = serde_json::to_value(&a).unwrap();
        for (k, val) in old.as_object().unwrap() {
            assert_eq!(&v[k], val, "{k} unchanged");
        }
        assert_eq!(v["event_type"], "alert");
        assert_eq!(v["flow_id"].as_u64(), alert_flow_id(&a));
        assert_eq!(v["community_id"].as_str(), community_id(a.src, 49152, a.dst, 102, 6, 0).as_deref());
        assert_eq!(v["sensor"], "sensor-a");
        assert_eq!(v["in_iface"], "eth1");
        // Replay: no interface; an alert without a connection: no flow id.
        let ctx = AlertContext::new(Some("s".into()), None);
        let v: serde_json::Value =
            serde_json::from_str(&json_string(&alert("flood.syn", Severity::High, Ts(0)), &ctx)).unwrap();
        assert!(v.get("in_iface").is_none() && v.get("flow_id").is_none());
        assert!(v["community_id"].is_string());
    }

    #[test]
    fn default_sensor_is_the_host_name() {
        assert_eq!(AlertContext::new(None, None).sensor, host_name());
        assert_eq!(AlertContext::new(Some(String::new()), None).sensor, host_name());
        assert!(!host_name().is_empty());
    }

    #[test]
    fn text_line_is_one_readable_line() {
        let a = alert("control.cpu_stop", Severity::Critical, Ts(0));
        let l = text_line(&a, false);
        assert_eq!(
            l,
            "2026-01-01T00:00:00.123456Z CRITICAL control.cpu_stop 10.10.9.99:49152 -> 10.10.1.10:102 PLC Stop? sent [x.pcap #7]"
        );
        assert!(!l.contains('\n'));
        let c = text_line(&a, true);
        assert!(c.contains("\x1b[1;31mCRITICAL\x1b[0m"), "{c:?}");
        let mut b = alert("flood.syn", Severity::Info, Ts(0));
        b.src = "fe80::1".parse().unwrap();
        assert!(text_line(&b, false).contains(" INFO     flood.syn [fe80::1]:49152 -> "));
    }
}
