//! `s7sentry replay`: run the detection engine over capture files.

use crate::input::{Input, SharedTap, Tap};
use crate::output::{Alerts, Progress};
use crate::signals::Signals;
use crate::summary::Summary;
use crate::{settings, ReplayArgs, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE};
use s7sentry_capture::PacketSource;
use s7sentry_engine::rules::{DetectConfig, Detector};
use s7sentry_engine::EngineConfig;
use s7sentry_sensor::{run, run_sharded, worker_config, Assets, Ended, NoExtra, Pipeline, Totals};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

/// What one pipeline reads: a file, or a set of files read as one stream.
pub enum Unit {
    /// One capture file.
    File(PathBuf),
    /// A rotated set (a directory, or every argument with --continuous).
    Set(Vec<PathBuf>),
}

/// The units of `files`: all of them as one set with `continuous`, else one
/// unit per argument (a directory being a set).
pub fn units(files: &[PathBuf], continuous: bool) -> Vec<Unit> {
    if continuous {
        return vec![Unit::Set(files.to_vec())];
    }
    files.iter().map(|p| if p.is_dir() { Unit::Set(vec![p.clone()]) } else { Unit::File(p.clone()) }).collect()
}

/// Open a unit, or report the one-line error and raise `status` to 2.
pub fn open_unit(u: &Unit, tap: &SharedTap, status: &mut u8) -> Option<Input> {
    match u {
        Unit::File(p) => crate::input::open(p, status).map(|f| Input::file(f, tap.clone())),
        Unit::Set(paths) => match Input::set(paths, tap.clone()) {
            Ok(i) => Some(i),
            Err(e) => {
                eprintln!("s7sentry: {e}");
                *status = (*status).max(EXIT_USAGE);
                None
            }
        },
    }
}

/// Save the inventory after a file: `saved` gets (devices, milliseconds) for the
/// summary; a failure is reported and raises `status`.
fn save(x: &mut Assets, saved: &mut Option<(usize, f64)>, status: &mut u8) {
    match x.save(None) {
        Ok(Some(st)) => {
            let n = x.fleet(None).map_or(0, |f| f.devices.len());
            *saved = Some((n, st.elapsed.as_secs_f64() * 1e3));
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("s7sentry: cannot save the inventory: {e}");
            *status = (*status).max(EXIT_PARTIAL);
        }
    }
}

/// One file through one pipeline, or through `threads` sharded pipelines.
/// Returns how reading ended.
fn replay_file(
    src: &mut Input,
    name: &str,
    cfg: &DetectConfig,
    threads: usize,
    assets: &mut Option<Assets>,
    out: &mut Alerts,
    totals: &mut Totals,
) -> Ended {
    let detector = || {
        let mut det = Detector::new(cfg.clone());
        det.set_source(name);
        det
    };
    if threads > 1 {
        let mut pipes: Vec<Pipeline<NoExtra>> =
            (0..threads).map(|_| Pipeline::new(worker_config(threads), Some(detector()), NoExtra)).collect();
        if let Some(x) = assets.as_mut() {
            x.attach_shards(pipes.iter_mut().filter_map(Pipeline::detector_mut));
        }
        let (ended, mut pipes) = run_sharded(src, pipes, out);
        for p in &pipes {
            totals.add(p);
        }
        if let Some(x) = assets.as_mut() {
            x.detach_shards(pipes.iter_mut().filter_map(Pipeline::detector_mut));
        }
        return ended;
    }
    let mut pipe = Pipeline::new(EngineConfig::default(), Some(detector()), NoExtra);
    if let Some(x) = assets.as_mut() {
        if let Some(d) = pipe.detector_mut() {
            x.attach(d);
        }
    }
    let mut ended = run(src, &mut pipe, out);
    if let Err(e) = pipe.finish(out) {
        ended = Ended::OutputFailed(Some(e));
    }
    totals.add(&pipe);
    if let (Some(x), Some(d)) = (assets.as_mut(), pipe.detector_mut()) {
        x.detach(d);
    }
    ended
}

/// Run `replay`; returns the exit status.
pub fn run_replay(a: &ReplayArgs) -> u8 {
    let cfg = match settings::load(&a.detection) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let signals = Signals::install();
    let spec = a.alerts.clone().unwrap_or_else(|| "-".into());
    let opened = settings::alert_options(&a.out, spec, &cfg, false, None).and_then(|o| {
        let out = Alerts::open(&o, signals.clone())?;
        Ok((out, settings::evidence(&a.out, &cfg, false)?, o.context.sensor))
    });
    let (out, evidence, sensor) = match opened {
        Ok(x) => x,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let tap: SharedTap = std::rc::Rc::new(std::cell::RefCell::new(Tap { evidence, ..Default::default() }));
    let mut out = out.with_tap(tap.clone());
    // The inventory: loaded from --state, handed from file to file, saved after each.
    let opened = Assets::open(a.state.state.as_deref(), a.state.learn, false).and_then(|mut x| {
        if let Some(x) = x.as_mut() {
            x.set_sensor(&sensor)?;
        }
        Ok(x)
    });
    let mut assets = match opened {
        Ok(x) => x,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let mut saved: Option<(usize, f64)> = None;
    let progress = std::io::stderr().is_terminal() && !a.quiet;
    let mut status = EXIT_OK;
    let mut totals = Totals::default();
    let mut unreadable = 0u64;
    let started = Instant::now();
    for unit in units(&a.input.files, a.input.continuous) {
        if signals.stopped() {
            break;
        }
        let Some(mut src) = open_unit(&unit, &tap, &mut status) else { continue };
        let name = src.name().to_string();
        out.progress = progress.then(|| Progress::new(&name, &src.files()));
        let ended = replay_file(&mut src, &name, &cfg, usize::from(a.threads), &mut assets, &mut out, &mut totals);
        if progress {
            Progress::clear();
        }
        let damaged = std::mem::take(&mut tap.borrow_mut().damaged).len() as u64;
        if damaged > 0 {
            unreadable += damaged;
            status = status.max(EXIT_PARTIAL);
        }
        if src.time_regressions() > 0 {
            eprintln!(
                "s7sentry: warning: {name}: {} file(s) start before the previous one ended (overlapping captures, not a rotated set); read in order of first timestamp",
                src.time_regressions()
            );
        }
        if let Some(e) = tap.borrow_mut().evidence.as_mut() {
            e.reset();
        }
        match ended {
            Ended::End | Ended::Stopped => {}
            Ended::Unreadable(e) => {
                eprintln!("s7sentry: {e}");
                unreadable += 1;
                status = status.max(EXIT_PARTIAL);
            }
            Ended::OutputFailed(e) => {
                if let Some(e) = e {
                    eprintln!("s7sentry: cannot write alerts: {e}");
                }
                return EXIT_PARTIAL;
            }
        }
        if let Some(x) = assets.as_mut() {
            save(x, &mut saved, &mut status);
        }
    }
    match out.finish() {
        Ok(0) => {}
        Ok(n) => {
            eprintln!("s7sentry: {n} alert(s) could not be delivered to syslog");
            status = status.max(EXIT_PARTIAL);
        }
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("s7sentry: cannot write alerts: {e}");
            status = status.max(EXIT_PARTIAL);
        }
    }
    if !a.quiet {
        let s = Summary { totals: &totals, alerts: out.count, unreadable, elapsed: started.elapsed() };
        eprint!("{}", s.render("replay"));
        if let (Some((n, ms)), Some(p)) = (saved, assets.as_ref().and_then(|x| x.path())) {
            eprintln!("  inventory: {n} devices saved to {} ({ms:.0} ms)", p.display());
        }
        eprint!("{}", s.render_counts());
        if let Some(l) = out.evidence_summary() {
            eprintln!("  {l}");
        }
    }
    if signals.stopped() {
        let what = if saved.is_some() { "; the inventory state was saved" } else { "" };
        eprintln!("s7sentry: interrupted{what}");
        status = status.max(EXIT_PARTIAL);
    }
    if let (Some(th), Some(w)) = (a.fail_on, out.worst) {
        if w >= th.into() && status == EXIT_OK {
            return EXIT_PARTIAL;
        }
    }
    status
}
