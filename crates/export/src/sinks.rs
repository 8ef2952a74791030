//! Alert sinks: JSON lines to a file (reopened on demand, for log rotation) or
//! stdout, and syslog (RFC 5424) over UDP, a Unix datagram socket, or TCP with
//! RFC 6587 octet counting.
//!
//! Syslog over TCP never blocks the capture loop and never grows without bound:
//! [`Syslog::send`] puts the line in a bounded queue ([`SyslogOptions::queue`]
//! lines) that one sender thread empties; a full queue drops the line and counts
//! it. The sender connects on demand, reconnects with exponential backoff
//! (0.1 s doubling to 30 s) and notices a collector that closed the connection
//! before writing to it. Lines dropped at a full queue, lost to a write error
//! or still queued when the sensor stops are counted in
//! [`Syslog::undelivered`] (exported as `s7sentry_syslog_undelivered_total`).
//!
//! TLS is not built in: the TLS stacks available (rustls with ring or aws-lc,
//! OpenSSL bindings) would add a C/assembly build or a system library to every
//! build for one optional output. Send to a local rsyslog over TCP or
//! `unix:///dev/log` and let it forward with TLS (`omfwd` with
//! `StreamDriver="gtls"`), or put stunnel in front of the collector.

use crate::soc::{json_string, AlertContext};
use s7sentry_engine::rules::{Alert, Severity};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where JSON lines go.
pub enum JsonSink {
    /// Standard output.
    Stdout(BufWriter<std::io::Stdout>),
    /// A file opened for appending.
    File {
        /// Path (reopened by [`JsonSink::reopen`]).
        path: PathBuf,
        /// Writer.
        w: BufWriter<File>,
    },
}

impl JsonSink {
    /// `-` for stdout, else a file path (created if missing, appended to).
    pub fn open(spec: &str) -> std::io::Result<JsonSink> {
        if spec == "-" {
            return Ok(JsonSink::Stdout(BufWriter::new(std::io::stdout())));
        }
        let path = PathBuf::from(spec);
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(JsonSink::File { path, w: BufWriter::new(f) })
    }

    /// Write one alert as a JSON line (the alert's own keys only; with the SOC
    /// fields: [`crate::soc::write_json`] into [`JsonSink::writer`]).
    pub fn write(&mut self, a: &Alert) -> std::io::Result<()> {
        let w = self.writer();
        serde_json::to_writer(&mut *w, a).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    }

    /// The buffered writer, for any line format.
    pub fn writer(&mut self) -> &mut dyn Write {
        match self {
            JsonSink::Stdout(w) => w,
            JsonSink::File { w, .. } => w,
        }
    }

    /// Whether lines go to standard output.
    pub fn is_stdout(&self) -> bool {
        matches!(self, JsonSink::Stdout(_))
    }

    /// Flush buffered lines.
    pub fn flush(&mut self) -> std::io::Result<()> {
        match self {
            JsonSink::Stdout(w) => w.flush(),
            JsonSink::File { w, .. } => w.flush(),
        }
    }

    /// Close and reopen the file (after logrotate moved it; SIGHUP).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        if let JsonSink::File { path, w } = self {
            w.flush()?;
            let f = OpenOptions::new().create(true).append(true).open(&*path)?;
            *w = BufWriter::new(f);
        }
        Ok(())
    }
}

/// Longest RFC 5424 MSGID (characters).
pub const MSGID_MAX: usize = 32;

/// MSGIDs of the rules whose id is longer than [`MSGID_MAX`]; every other rule
/// uses its id. Fixed once given (operators filter on them).
pub const SHORT_MSGIDS: &[(&str, &str)] = &[
    ("control.s7plus_engineering_operation", "control.s7plus_engineering_op"),
    ("loss_of_communication.plc_unresponsive", "loss.plc_unresponsive"),
    ("loss_of_communication.plc_recovered", "loss.plc_recovered"),
    ("control.confirmed_without_request", "control.confirmed_no_request"),
];

/// RFC 5424 MSGID of a rule: its id, or its short form from [`SHORT_MSGIDS`];
/// a longer id missing from the table is cut to [`MSGID_MAX`] characters.
pub fn msgid(rule: &'static str) -> &'static str {
    if let Some((_, m)) = SHORT_MSGIDS.iter().find(|(r, _)| *r == rule) {
        return m;
    }
    rule.get(..MSGID_MAX).unwrap_or(rule)
}

/// Syslog facility codes by name (RFC 5424 §6.2.1).
const FACILITIES: [(&str, u8); 24] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("ntp", 12),
    ("security", 13),
    ("console", 14),
    ("solaris-cron", 15),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// A facility by name (`local0`, `daemon`, ...) or number (0-23).
pub fn parse_facility(s: &str) -> Option<u8> {
    let s = s.trim().to_ascii_lowercase();
    FACILITIES.iter().find(|(n, _)| *n == s).map(|(_, c)| *c).or_else(|| s.parse::<u8>().ok().filter(|c| *c <= 23))
}

fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

/// Syslog settings beyond the target.
#[derive(Debug, Clone)]
pub struct SyslogOptions {
    /// Facility code (default 16, local0).
    pub facility: u8,
    /// TCP: lines held while the collector is slow or away (default 10 000).
    pub queue: usize,
    /// Sensor name and interface added to each alert's JSON (default: host name, no interface).
    pub context: AlertContext,
}

impl Default for SyslogOptions {
    fn default() -> Self {
        SyslogOptions { facility: 16, queue: 10_000, context: AlertContext::new(None, None) }
    }
}

/// RFC 5424 syslog sender.
pub struct Syslog {
    target: SyslogTarget,
    hostname: String,
    pid: u32,
    facility: u8,
    context: AlertContext,
    undelivered: Arc<AtomicU64>,
    delivered: Arc<AtomicU64>,
}

enum SyslogTarget {
    Udp(UdpSocket, String),
    Unix(UnixDatagram, PathBuf),
    Tcp(TcpSender),
}

struct TcpSender {
    tx: Option<SyncSender<Vec<u8>>>,
    closing: Arc<AtomicBool>,
    done: Receiver<()>,
}

/// First and longest wait between two connection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Connect and write timeouts: a collector that accepts and then stalls costs
/// at most this per line, while the queue absorbs (and then drops) new lines.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

impl Syslog {
    /// `udp://host:port`, `tcp://host:port` or `unix:///dev/log`, facility local0.
    pub fn open(spec: &str) -> Result<Syslog, String> {
        Syslog::open_with(spec, SyslogOptions::default())
    }

    /// Like [`Syslog::open`] with options.
    pub fn open_with(spec: &str, opts: SyslogOptions) -> Result<Syslog, String> {
        if opts.facility > 23 {
            return Err(format!("syslog facility {} out of range 0-23", opts.facility));
        }
        let hostname = crate::soc::host_name();
        let undelivered = Arc::new(AtomicU64::new(0));
        let delivered = Arc::new(AtomicU64::new(0));
        let target = if let Some(addr) = spec.strip_prefix("udp://") {
            let sock = UdpSocket::bind(if addr.starts_with('[') { "[::]:0" } else { "0.0.0.0:0" })
                .map_err(|e| format!("syslog {spec}: {e}"))?;
            SyslogTarget::Udp(sock, addr.to_string())
        } else if let Some(path) = spec.strip_prefix("unix://") {
            let sock = UnixDatagram::unbound().map_err(|e| format!("syslog {spec}: {e}"))?;
            SyslogTarget::Unix(sock, PathBuf::from(path))
        } else if let Some(addr) = spec.strip_prefix("tcp://") {
            if addr.to_socket_addrs().is_err() && !addr.contains(':') {
                return Err(format!("syslog '{spec}': use tcp://HOST:PORT"));
            }
            SyslogTarget::Tcp(TcpSender::start(addr.to_string(), opts.queue.max(1), &undelivered, &delivered)?)
        } else {
            return Err(format!("syslog '{spec}': use udp://HOST:PORT, tcp://HOST:PORT or unix:///PATH"));
        };
        Ok(Syslog {
            target,
            hostname,
            pid: std::process::id(),
            facility: opts.facility,
            context: opts.context,
            undelivered,
            delivered,
        })
    }

    /// The RFC 5424 line for an alert: `<PRI>1 TIMESTAMP HOST s7sentry PID MSGID - JSON`
    /// (MSGID from [`msgid`], JSON as [`crate::soc::write_json`] writes it).
    pub fn format(&self, a: &Alert) -> String {
        let pri = u16::from(self.facility) * 8 + u16::from(syslog_severity(a.severity));
        let json = json_string(a, &self.context);
        format!("<{pri}>1 {} {} s7sentry {} {} - {json}", a.ts, self.hostname, self.pid, msgid(a.rule))
    }

    /// Send one alert, best effort: a syslog outage must not stop the sensor.
    /// UDP and Unix: an error is returned (and counted). TCP: the line is
    /// queued; a full queue drops it, counts it and returns an error.
    pub fn send(&self, a: &Alert) -> std::io::Result<()> {
        let line = self.format(a);
        let r = match &self.target {
            SyslogTarget::Udp(s, addr) => s.send_to(line.as_bytes(), addr.as_str()).map(|_| ()),
            SyslogTarget::Unix(s, p) => s.send_to(line.as_bytes(), p).map(|_| ()),
            SyslogTarget::Tcp(t) => return t.queue(line, &self.undelivered),
        };
        match &r {
            Ok(()) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.undelivered.fetch_add(1, Ordering::Relaxed),
        };
        r
    }

    /// Lines not delivered so far (queue full, write errors, still queued at close).
    pub fn undelivered(&self) -> u64 {
        self.undelivered.load(Ordering::Relaxed)
    }

    /// Lines handed to the socket so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Stop: TCP waits up to `timeout` for the queue to drain; what is left is
    /// counted as undelivered. Returns the final undelivered count.
    pub fn close(mut self, timeout: Duration) -> u64 {
        if let SyslogTarget::Tcp(t) = &mut self.target {
            t.tx = None; // the sender sees the end of the queue after the lines in it
            if t.done.recv_timeout(timeout).is_err() {
                t.closing.store(true, Ordering::Relaxed);
                let _ = t.done.recv_timeout(IO_TIMEOUT + Duration::from_secs(1));
            }
        }
        self.undelivered()
    }
}

impl Drop for TcpSender {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
    }
}

impl TcpSender {
    fn start(
        addr: String,
        cap: usize,
        undelivered: &Arc<AtomicU64>,
        delivered: &Arc<AtomicU64>,
    ) -> Result<TcpSender, String> {
        let (tx, rx) = sync_channel::<Vec<u8>>(cap);
        let (done_tx, done) = sync_channel::<()>(1);
        let closing = Arc::new(AtomicBool::new(false));
        let (c, u, d) = (closing.clone(), undelivered.clone(), delivered.clone());
        std::thread::Builder::new()
            .name("s7sentry-syslog".into())
            .spawn(move || {
                tcp_loop(&addr, &rx, &c, &u, &d);
                let _ = done_tx.send(());
            })
            .map_err(|e| format!("syslog tcp://{}: {e}", "sender thread"))?;
        Ok(TcpSender { tx: Some(tx), closing, done })
    }

    /// Octet-counted frame (RFC 6587 §3.4.1): `LEN SP MSG`.
    fn queue(&self, line: String, undelivered: &AtomicU64) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(line.len() + 8);
        frame.extend_from_slice(line.len().to_string().as_bytes());
        frame.push(b' ');
        frame.extend_from_slice(line.as_bytes());
        let Some(tx) = &self.tx else {
            undelivered.fetch_add(1, Ordering::Relaxed);
            return Err(std::io::Error::other("syslog closed"));
        };
        match tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                undelivered.fetch_add(1, Ordering::Relaxed);
                Err(std::io::Error::new(std::io::ErrorKind::WouldBlock, "syslog queue full (collector slow or away)"))
            }
            Err(TrySendError::Disconnected(_)) => {
                undelivered.fetch_add(1, Ordering::Relaxed);
                Err(std::io::Error::other("syslog sender stopped"))
            }
        }
    }
}

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::other(format!("{addr}: no address"));
    for sa in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, IO_TIMEOUT) {
            Ok(s) => {
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Whether the collector closed the connection (or reset it): a non-blocking
/// read sees end of file or an error. Collectors send nothing on this stream.
fn peer_gone(s: &mut TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let mut b = [0u8; 64];
    let gone = match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    gone || s.set_nonblocking(false).is_err()
}

/// Sleep `d` in short steps; false when asked to stop meanwhile.
fn pause(d: Duration, closing: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if closing.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20).min(end.saturating_duration_since(Instant::now())));
    }
    !closing.load(Ordering::Relaxed)
}

fn tcp_loop(addr: &str, rx: &Receiver<Vec<u8>>, closing: &AtomicBool, undelivered: &AtomicU64, delivered: &AtomicU64) {
    let mut conn: Option<TcpStream> = None;
    let mut backoff = BACKOFF_MIN;
    'lines: while let Ok(frame) = rx.recv() {
        loop {
            if closing.load(Ordering::Relaxed) {
                undelivered.fetch_add(1, Ordering::Relaxed);
                break 'lines;
            }
            if conn.as_mut().is_some_and(peer_gone) {
                conn = None;
            }
            let s = match conn.as_mut() {
                Some(s) => s,
                None => match connect(addr) {
                    Ok(s) => {
                        backoff = BACKOFF_MIN;
                        conn.insert(s)
                    }
                    Err(_) => {
                        if !pause(backoff, closing) {
                            undelivered.fetch_add(1, Ordering::Relaxed);
                            break 'lines;
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                },
            };
            match s.write_all(&frame) {
                Ok(()) => {
                    delivered.fetch_add(1, Ordering::Relaxed);
                    continue 'lines;
                }
                // The line is sent again, whole, on the next connection.
                Err(_) => conn = None,
            }
        }
    }
    // Stopped early: whatever is still queued is lost.
    while rx.try_recv().is_ok() {
        undelivered.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s7sentry_engine::rules::catalog::RULES;

    #[test]
    fn msgids_fit_rfc5424_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in RULES {
            let m = msgid(r.id);
            assert!(m.len() <= MSGID_MAX && !m.is_empty(), "{}: {m}", r.id);
            assert!(m.bytes().all(|b| (33..=126).contains(&b)), "{}: MSGID must be printable US-ASCII", r.id);
            assert!(seen.insert(m), "MSGID {m} used twice");
            if r.id.len() <= MSGID_MAX {
                assert_eq!(m, r.id);
            }
        }
        assert_eq!(RULES.iter().filter(|r| r.id.len() > MSGID_MAX).count(), SHORT_MSGIDS.len());
    }

    #[test]
    fn facilities() {
        assert_eq!(parse_facility("local0"), Some(16));
        assert_eq!(parse_facility("LOCAL7"), Some(23));
        assert_eq!(parse_facility("daemon"), Some(3));
        assert_eq!(parse_facility("4"), Some(4));
        assert_eq!(parse_facility("24"), None);
        assert_eq!(parse_facility("nope"), None);
        assert!(Syslog::open_with("udp://127.0.0.1:9", SyslogOptions { facility: 24, ..Default::default() }).is_err());
    }

    #[test]
    fn line_format_pri_msgid_and_json() {
        let opts = SyslogOptions {
            facility: 3,
            context: AlertContext::new(Some("sensor-a".into()), None),
            ..Default::default()
        };
        let s = Syslog::open_with("udp://127.0.0.1:9", opts).unwrap();
        let mut a =
            crate::soc::tests::alert("loss_of_communication.plc_unresponsive", Severity::High, s7sentry_engine::Ts(0));
        a.message = "silent".into();
        let l = s.format(&a);
        assert!(l.starts_with("<27>1 2026-01-01T00:00:00.123456Z "), "{l}");
        let parts: Vec<&str> = l.splitn(8, ' ').collect();
        assert_eq!(parts[3], "s7sentry");
        assert_eq!(parts[5], "loss.plc_unresponsive");
        assert_eq!(parts[6], "-");
        let v: serde_json::Value = serde_json::from_str(parts[7]).unwrap();
        assert_eq!(v["rule"], "loss_of_communication.plc_unresponsive");
        assert_eq!(v["sensor"], "sensor-a");
        assert_eq!(v["event_type"], "alert");
    }

    #[test]
    fn dead_collector_never_blocks_and_counts_every_line() {
        // A port nobody listens on: connections are refused, the sender backs off.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let opts = SyslogOptions { queue: 8, ..Default::default() };
        let s = Syslog::open_with(&format!("tcp://127.0.0.1:{port}"), opts).unwrap();
        let a = crate::soc::tests::alert("control.cpu_stop", Severity::Critical, s7sentry_engine::Ts(0));
        let mut refused = 0;
        for _ in 0..1000 {
            if s.send(&a).is_err() {
                refused += 1;
            }
        }
        // At most the queue plus the line the sender holds are pending; every other line was refused.
        assert!(refused >= 1000 - 9, "{refused}");
        assert_eq!(s.undelivered(), refused);
        let total = s.close(Duration::from_millis(0));
        assert_eq!(total, 1000, "every line counted as undelivered");
    }
}
