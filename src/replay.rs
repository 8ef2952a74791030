//! `s7sentry replay`: run the detection engine over capture files.

use crate::output::{Alerts, Progress};
use crate::signals::Signals;
use crate::summary::Summary;
use crate::{settings, ReplayArgs, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE};
use s7sentry_engine::rules::{DetectConfig, Detector};
use s7sentry_engine::EngineConfig;
use s7sentry_sensor::{run, run_sharded, worker_config, Assets, Ended, NoExtra, Pipeline, Totals};
use std::io::IsTerminal;
use std::time::Instant;

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
    src: &mut s7sentry_capture::FileSource,
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
    let mut out = match Alerts::open(a.alerts.as_deref().unwrap_or("-"), None, signals.clone()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    // The inventory: loaded from --state, handed from file to file, saved after each.
    let mut assets = match Assets::open(a.state.state.as_deref(), a.state.learn, false) {
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
    for path in &a.files {
        if signals.stopped() {
            break;
        }
        let Some(mut src) = crate::input::open(path, &mut status) else { continue };
        out.progress = progress.then(|| Progress::new(path));
        let name = path.display().to_string();
        let ended = replay_file(&mut src, &name, &cfg, usize::from(a.threads), &mut assets, &mut out, &mut totals);
        if progress {
            Progress::clear();
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
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
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
