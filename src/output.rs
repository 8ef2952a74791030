//! Where alerts go in `replay` and `live`: lines on stdout or appended to
//! `--alerts FILE` (reopened on SIGHUP) in the `--alert-format` (JSON with the
//! SOC fields, Suricata EVE, or one text line per alert), optionally syslog
//! and the alert counter of the metrics; evidence pcaps; the count and worst
//! severity for the summary and `--fail-on`; the progress line of `replay` on
//! a terminal.

use crate::input::SharedTap;
use crate::signals::Signals;
use crate::AlertFormat;
use s7sentry_engine::rules::{Alert, Severity};
use s7sentry_engine::Ts;
use s7sentry_export::sinks::{JsonSink, Syslog, SyslogOptions};
use s7sentry_export::soc::AlertContext;
use s7sentry_export::Metrics;
use s7sentry_sensor::Output;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The progress line of `replay` on a terminal: packets read and the share of the file(s).
pub struct Progress {
    /// What is being read.
    pub label: String,
    /// Size in bytes of the files (compressed files: their compressed size).
    pub size: u64,
    last: Instant,
}

impl Progress {
    /// Progress over `files`, shown as `label`.
    pub fn new(label: &str, files: &[PathBuf]) -> Progress {
        let size = files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        Progress { label: label.to_string(), size, last: Instant::now() }
    }

    fn show(&mut self, packets: u64, read_bytes: u64) {
        if self.last.elapsed().as_millis() <= 250 {
            return;
        }
        self.last = Instant::now();
        let pct = (read_bytes * 100).checked_div(self.size).unwrap_or(0).min(100);
        eprint!("\r{}: {packets} packets ({pct}%)   ", self.label);
    }

    /// Clear the line.
    pub fn clear() {
        eprint!("\r\x1b[K");
    }
}

/// Text lines held for sorting by time (`replay --alert-format text`) at most;
/// beyond, what is held is written (sorted) and holding starts again.
pub const TEXT_HOLD: usize = 200_000;

/// Evidence pcaps written in one run at most (disk is bounded too); further
/// alerts get none, counted and reported.
pub const EVIDENCE_MAX_FILES: u64 = 10_000;

/// How alerts are written.
pub struct AlertOptions {
    /// `-` for stdout, else a file appended to.
    pub spec: String,
    /// Line format.
    pub format: AlertFormat,
    /// Sensor name and live interface.
    pub context: AlertContext,
    /// Syslog URL.
    pub syslog: Option<String>,
    /// Syslog facility code.
    pub facility: u8,
    /// Text lines are sorted by time before they are written (replay).
    pub sort_text: bool,
}

/// The alert outputs of a run.
pub struct Alerts {
    json: JsonSink,
    format: AlertFormat,
    context: AlertContext,
    colour: bool,
    /// Text lines waiting to be sorted by time (replay, text format).
    held: Option<Vec<(Ts, u64, String)>>,
    held_seq: u64,
    syslog: Option<Syslog>,
    syslog_errors: u64,
    metrics: Option<Arc<Metrics>>,
    tap: Option<SharedTap>,
    signals: Signals,
    /// Write errors are reported and the run goes on (live) instead of ending it (replay).
    keep_going: bool,
    write_errors: u64,
    /// Evidence files not written because [`EVIDENCE_MAX_FILES`] were.
    pub evidence_skipped: u64,
    /// Alerts written.
    pub count: u64,
    /// Highest severity written.
    pub worst: Option<Severity>,
    /// The progress line, while a file is read on a terminal.
    pub progress: Option<Progress>,
}

impl Alerts {
    /// Open the outputs of `o`. Errors are one line naming the option.
    pub fn open(o: &AlertOptions, signals: Signals) -> Result<Alerts, String> {
        let spec = o.spec.as_str();
        let json = JsonSink::open(spec).map_err(|e| format!("--alerts {spec}: {e}"))?;
        let syslog = o
            .syslog
            .as_deref()
            .map(|url| {
                let opts = SyslogOptions { facility: o.facility, context: o.context.clone(), ..Default::default() };
                Syslog::open_with(url, opts).map_err(|e| format!("--syslog: {e}"))
            })
            .transpose()?;
        // Colours only for people: text on a terminal, and not when NO_COLOR is set.
        let colour = o.format == AlertFormat::Text
            && json.is_stdout()
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none();
        let held = (o.format == AlertFormat::Text && o.sort_text).then(Vec::new);
        Ok(Alerts {
            json,
            format: o.format,
            context: o.context.clone(),
            colour,
            held,
            held_seq: 0,
            syslog,
            syslog_errors: 0,
            metrics: None,
            tap: None,
            signals,
            keep_going: false,
            write_errors: 0,
            evidence_skipped: 0,
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

    /// Map set-wide packet numbers to files and attach evidence pcaps, from `tap`.
    pub fn with_tap(mut self, tap: SharedTap) -> Alerts {
        self.tap = Some(tap);
        self
    }

    /// Write the held text lines (sorted by time, then arrival) and flush.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.write_held()?;
        self.json.flush()
    }

    fn write_held(&mut self) -> std::io::Result<()> {
        let Some(held) = self.held.as_mut() else { return Ok(()) };
        held.sort();
        let w = self.json.writer();
        for (_, _, line) in held.drain(..) {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// End of the run: flush, close the evidence files still open and the
    /// syslog output (TCP: up to 2 s to deliver what is queued). Returns the
    /// lines syslog could not deliver.
    pub fn finish(&mut self) -> std::io::Result<u64> {
        if let Some(t) = &self.tap {
            if let Some(e) = t.borrow_mut().evidence.as_mut() {
                e.finish();
            }
        }
        let r = self.flush();
        let undelivered = self.syslog.take().map_or(0, |s| s.close(Duration::from_secs(2)));
        if let Some(m) = &self.metrics {
            m.syslog_undelivered(undelivered);
        }
        r.map(|_| undelivered)
    }

    /// One line for the summary about evidence pcaps (`None` without `--evidence`).
    pub fn evidence_summary(&self) -> Option<String> {
        let t = self.tap.as_ref()?.borrow();
        let e = t.evidence.as_ref()?;
        let s = e.stats();
        Some(format!(
            "evidence: {} pcap files ({} packets); not written: {} (open-file cap), {} (run cap {EVIDENCE_MAX_FILES}), {} write errors; connections evicted {}",
            s.files, s.packets_written, s.open_cap_hits, self.evidence_skipped, s.write_errors, s.flows_evicted
        ))
    }

    /// SIGHUP: reopen the alert file.
    fn maybe_reopen(&mut self) {
        if self.signals.take_reopen() {
            if let Err(e) = self.json.reopen() {
                eprintln!("s7sentry: cannot reopen the alert file: {e}");
            }
        }
    }

    /// The alert as written: file and record of a continuous set, evidence pcap.
    fn resolve(&mut self, a: &Alert) -> Option<Alert> {
        let tap = self.tap.as_ref()?;
        let mut t = tap.borrow_mut();
        let located = t.files.locate(a.frame).map(|(n, r)| (n.to_string(), r));
        if located.is_none() && t.evidence.is_none() {
            return None;
        }
        let mut a = a.clone();
        if let Some((name, rec)) = located {
            a.pcap = name;
            a.frame = rec;
        }
        if let Some(e) = t.evidence.as_mut() {
            if e.stats().files >= EVIDENCE_MAX_FILES {
                if e.would_attach(&a) {
                    self.evidence_skipped += 1;
                    if self.evidence_skipped == 1 {
                        eprintln!(
                            "s7sentry: warning: {EVIDENCE_MAX_FILES} evidence pcaps written; no more in this run"
                        );
                    }
                }
            } else {
                e.attach(&mut a);
            }
        }
        Some(a)
    }

    fn write_line(&mut self, a: &Alert) -> std::io::Result<()> {
        match self.format {
            AlertFormat::Json => s7sentry_export::soc::write_json(self.json.writer(), a, &self.context),
            AlertFormat::Eve => s7sentry_export::eve::write_eve(self.json.writer(), a, &self.context),
            AlertFormat::Text => {
                let line = s7sentry_export::soc::text_line(a, self.colour);
                if let Some(held) = self.held.as_mut() {
                    self.held_seq += 1;
                    held.push((a.ts, self.held_seq, line));
                    if held.len() >= TEXT_HOLD {
                        self.write_held()?;
                    }
                    return Ok(());
                }
                let w = self.json.writer();
                w.write_all(line.as_bytes())?;
                w.write_all(b"\n")
            }
        }
    }
}

impl Output for Alerts {
    fn alert(&mut self, a: &Alert) -> std::io::Result<()> {
        let resolved = self.resolve(a);
        let a = resolved.as_ref().unwrap_or(a);
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
        match self.write_line(a) {
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
        if let (Some(m), Some(s)) = (&self.metrics, &self.syslog) {
            m.syslog_undelivered(s.undelivered());
        }
    }
}
