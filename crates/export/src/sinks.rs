//! Alert sinks: JSON lines to a file (reopened on demand, for log rotation) or
//! stdout, and syslog (RFC 5424) over UDP or a Unix datagram socket.

use s7sentry_engine::rules::{Alert, Severity};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

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

    /// Write one alert as a JSON line.
    pub fn write(&mut self, a: &Alert) -> std::io::Result<()> {
        let w: &mut dyn Write = match self {
            JsonSink::Stdout(w) => w,
            JsonSink::File { w, .. } => w,
        };
        serde_json::to_writer(&mut *w, a).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
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

/// RFC 5424 syslog sender.
pub struct Syslog {
    target: SyslogTarget,
    hostname: String,
    pid: u32,
}

enum SyslogTarget {
    Udp(UdpSocket, String),
    Unix(UnixDatagram, PathBuf),
}

/// Facility local0.
const FACILITY: u8 = 16;

fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

impl Syslog {
    /// `udp://host:port` or `unix:///dev/log`.
    pub fn open(spec: &str) -> Result<Syslog, String> {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "-".into());
        let target = if let Some(addr) = spec.strip_prefix("udp://") {
            let sock = UdpSocket::bind(if addr.starts_with('[') { "[::]:0" } else { "0.0.0.0:0" })
                .map_err(|e| format!("syslog {spec}: {e}"))?;
            SyslogTarget::Udp(sock, addr.to_string())
        } else if let Some(path) = spec.strip_prefix("unix://") {
            let sock = UnixDatagram::unbound().map_err(|e| format!("syslog {spec}: {e}"))?;
            SyslogTarget::Unix(sock, PathBuf::from(path))
        } else {
            return Err(format!("syslog '{spec}': use udp://HOST:PORT or unix:///PATH"));
        };
        Ok(Syslog { target, hostname, pid: std::process::id() })
    }

    /// The RFC 5424 line for an alert: `<PRI>1 TIMESTAMP HOST s7sentry PID RULE - JSON`.
    pub fn format(&self, a: &Alert) -> String {
        let pri = FACILITY * 8 + syslog_severity(a.severity);
        let json = serde_json::to_string(a).unwrap_or_default();
        format!("<{pri}>1 {} {} s7sentry {} {} - {json}", a.ts, self.hostname, self.pid, a.rule)
    }

    /// Send one alert (best effort: a syslog outage must not stop the sensor).
    pub fn send(&self, a: &Alert) -> std::io::Result<()> {
        let line = self.format(a);
        match &self.target {
            SyslogTarget::Udp(s, addr) => s.send_to(line.as_bytes(), addr.as_str()).map(|_| ()),
            SyslogTarget::Unix(s, p) => s.send_to(line.as_bytes(), p).map(|_| ()),
        }
    }
}
