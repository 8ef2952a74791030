//! Where alerts go in `replay` and `live`: JSON lines (stdout, or appended to
//! `--alerts FILE`, reopened on SIGHUP), optionally syslog and the alert
//! counter of the metrics; the count and worst severity for the summary and
//! `--fail-on`; the progress line of `replay` on a terminal.

use crate::signals::Signals;
use s7sentry_engine::rules::{Alert, Severity};
use s7sentry_export::sinks::{JsonSink, Syslog};
use s7sentry_export::Metrics;
use s7sentry_sensor::Output;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The progress line of `replay` on a terminal: packets read and the share of the file.
pub struct Progress {
    /// File being read.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    last: Instant,
}

impl Progress {
    /// Progress over `path`.
    pub fn new(path: &std::path::Path) -> Progress {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Progress { path: path.to_owned(), size, last: Instant::now() }
    }

    fn show(&mut self, packets: u64, read_bytes: u64) {
        if self.last.elapsed().as_millis() <= 250 {
            return;
        }
        self.last = Instant::now();
        let pct = (read_bytes * 100).checked_div(self.size).unwrap_or(0).min(100);
        eprint!("\r{}: {packets} packets ({pct}%)   ", self.path.display());
    }

    /// Clear the line.
    pub fn clear() {
        eprint!("\r\x1b[K");
    }
}

/// The alert outputs of a run.
pub struct Alerts {
    json: JsonSink,
    syslog: Option<Syslog>,
    syslog_errors: u64,
    metrics: Option<Arc<Metrics>>,
    signals: Signals,
    /// Write errors are reported and the run goes on (live) instead of ending it (replay).
    keep_going: bool,
    write_errors: u64,
    /// Alerts written.
    pub count: u64,
    /// Highest severity written.
    pub worst: Option<Severity>,
    /// The progress line, while a file is read on a terminal.
    pub progress: Option<Progress>,
}

impl Alerts {
    /// Open `spec` (`-` for stdout, else a file appended to) and `syslog` (a URL).
    /// Errors are one line naming the option.
    pub fn open(spec: &str, syslog: Option<&str>, signals: Signals) -> Result<Alerts, String> {
        let json = JsonSink::open(spec).map_err(|e| format!("--alerts {spec}: {e}"))?;
        let syslog = syslog.map(Syslog::open).transpose()?;
        Ok(Alerts {
            json,
            syslog,
            syslog_errors: 0,
            metrics: None,
            signals,
            keep_going: false,
            write_errors: 0,
            count: 0,
            worst: None,
            progress: None,
        })
    }

    /// Live: count alerts in `metrics`, and report write errors instead of stopping.
    pub fn live(mut self, metrics: Arc<Metrics>) -> Alerts {
        self.metrics = Some(metrics);
        self.keep_going = true;
        self
    }

    /// Flush the JSON lines.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.json.flush()
    }

    /// SIGHUP: reopen the alert file.
    fn maybe_reopen(&mut self) {
        if self.signals.take_reopen() {
            if let Err(e) = self.json.reopen() {
                eprintln!("s7sentry: cannot reopen the alert file: {e}");
            }
        }
    }
}

impl Output for Alerts {
    fn alert(&mut self, a: &Alert) -> std::io::Result<()> {
        if let Some(m) = &self.metrics {
            m.alert(a);
            m.alert_delay((s7sentry_sensor::wall_clock().0 - a.ts.0) as f64 / 1e9);
        }
        if let Some(s) = &self.syslog {
            if let Err(e) = s.send(a) {
                self.syslog_errors += 1;
                if self.syslog_errors == 1 || self.syslog_errors.is_power_of_two() {
                    tracing::warn!("syslog send failed ({} times): {e}", self.syslog_errors);
                }
            }
        }
        self.count += 1;
        if self.worst.is_none_or(|w| a.severity > w) {
            self.worst = Some(a.severity);
        }
        match self.json.write(a) {
            Err(e) if self.keep_going => {
                self.write_errors += 1;
                if self.write_errors == 1 || self.write_errors.is_power_of_two() {
                    eprintln!("s7sentry: cannot write alert ({} times): {e}", self.write_errors);
                }
                Ok(())
            }
            r => r,
        }
    }

    fn stop_requested(&self) -> bool {
        self.signals.stopped()
    }

    fn progress(&mut self, packets: u64, bytes: u64) {
        self.maybe_reopen();
        if let Some(p) = self.progress.as_mut() {
            p.show(packets, bytes);
        }
    }

    fn periodic(&mut self) {
        let _ = self.json.flush();
        self.maybe_reopen();
    }
}
