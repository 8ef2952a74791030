//! Signals, the same for `replay` and `live`: SIGTERM / SIGINT ask the run to
//! stop (it then finishes: pending timers, aggregated follow-ups, the
//! inventory save, the summary); a second one exits at once with status 130.
//! SIGHUP asks to reopen the alert file (log rotation) and, in `live`, to reload
//! the configuration (see `crate::live`'s `Reload`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Flags set by signals, polled by the run.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// SIGTERM or SIGINT arrived.
    pub stop: Arc<AtomicBool>,
    /// SIGHUP arrived and the alert file was not reopened since.
    pub reopen: Arc<AtomicBool>,
    /// SIGHUPs received so far (a configuration reload is due when it moved).
    pub hups: Arc<AtomicU64>,
}

impl Signals {
    /// Install the handlers (a small thread with a tokio signal loop).
    pub fn install() -> Signals {
        let s = Signals::default();
        let (stop, reopen, hups) = (s.stop.clone(), s.reopen.clone(), s.hups.clone());
        let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
                    (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
                else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                        _ = hup.recv() => {
                            reopen.store(true, Ordering::Relaxed);
                            hups.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                    if stop.swap(true, Ordering::Relaxed) {
                        std::process::exit(130);
                    }
                }
            });
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch for signals: {e}");
        }
        s
    }

    /// Whether a stop was asked for.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Whether a reopen was asked for (and clear the request).
    pub fn take_reopen(&self) -> bool {
        self.reopen.swap(false, Ordering::Relaxed)
    }
}
