//! The loop: packets from a [`PacketSource`] through a [`Pipeline`] to an [`Output`].

use crate::pipeline::{Extra, Output, Pipeline};
use s7sentry_capture::{Packet, PacketSource, Polled};
use s7sentry_engine::{Frame, Ts};
use std::time::{Duration, Instant};

/// The engine's view of a captured packet.
#[inline]
pub fn frame<'a>(p: &Packet<'a>) -> Frame<'a> {
    Frame { frame: p.frame, ts: Ts::new(p.ts.secs, p.ts.nanos), linktype: p.linktype.0, data: p.data }
}

/// Packets between two [`Output::progress`] calls.
pub const PROGRESS_EVERY: u64 = 65_536;

/// Wall-clock period of [`Output::periodic`] and [`Extra::periodic`] in live runs.
pub const PERIOD: Duration = Duration::from_secs(1);

/// Wall-clock period of idle ticks in live runs.
pub const TICK_EVERY: Duration = Duration::from_millis(100);

/// How far idle ticks stay behind the wall clock. Packets reach the sensor
/// in TPACKET_V3 blocks up to the block timeout after their capture time; a
/// tick must not move packet time past packets still in the kernel's ring, or
/// a timer (an answer deadline, a silence) could fire before the packet that
/// stops it. 250 ms covers the 10 ms block timeout with a wide margin; timers
/// are seconds long.
pub const TICK_LAG: Duration = Duration::from_millis(250);

/// How a run ended.
#[derive(Debug)]
pub enum Ended {
    /// The source was read to its end.
    End,
    /// [`Output::stop_requested`] said so (SIGTERM, Ctrl-C).
    Stopped,
    /// A record could not be read (the source's message); what came before was processed.
    Unreadable(String),
    /// Writing an alert failed, or the extra sink failed for good.
    OutputFailed(Option<std::io::Error>),
}

impl Ended {
    /// Whether the run went through the whole source, or was stopped on request.
    pub fn is_ok(&self) -> bool {
        matches!(self, Ended::End | Ended::Stopped)
    }
}

/// The wall clock as a packet timestamp.
pub fn wall_clock() -> Ts {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ts::new(d.as_secs() as i64, d.subsec_nanos())
}

/// Packet time of an idle tick now: the wall clock minus [`TICK_LAG`].
pub fn idle_tick_time() -> Ts {
    Ts(wall_clock().0.saturating_sub(TICK_LAG.as_nanos() as i64))
}

/// Live-run timing on the reading thread: when the next idle tick and the next
/// periodic call are due.
pub(crate) struct Clock {
    live: bool,
    last_tick: Instant,
    last_period: Instant,
}

impl Clock {
    pub(crate) fn new(live: bool) -> Clock {
        Clock { live, last_tick: Instant::now(), last_period: Instant::now() }
    }

    /// An idle tick is due (live runs, 100 ms apart).
    pub(crate) fn tick_due(&mut self) -> Option<Ts> {
        if !self.live || self.last_tick.elapsed() < TICK_EVERY {
            return None;
        }
        self.last_tick = Instant::now();
        Some(idle_tick_time())
    }

    /// The periodic housekeeping is due (live runs, once a second).
    pub(crate) fn period_due(&mut self) -> bool {
        if !self.live || self.last_period.elapsed() < PERIOD {
            return false;
        }
        self.last_period = Instant::now();
        true
    }
}

/// While a live source is idle: sleep this long between polls.
pub(crate) const IDLE_SLEEP: Duration = Duration::from_millis(1);

/// Run `src` through `pipe` on this thread until the source ends, the output
/// asks to stop (checked while the source is idle and every 1 024 packets), or
/// output fails. Alerts go to `out` in canonical order: a replay holds them
/// until no earlier one can come ([`crate::hold`]), a live source delivers
/// them frame by frame. Does not finish the pipeline ([`Pipeline::finish`]): several
/// sources may feed one pipeline, and a stopped live run still finishes.
///
/// A live source ([`PacketSource::is_live`]) also gets idle ticks (packet time
/// follows the wall clock, [`idle_tick_time`], while the link is quiet) and a
/// [`Output::periodic`] / [`Extra::periodic`] call about once a second.
pub fn run<Src: PacketSource + ?Sized, S: Extra>(src: &mut Src, pipe: &mut Pipeline<S>, out: &mut dyn Output) -> Ended {
    let mut clock = Clock::new(src.is_live());
    // Replays hold alerts for packet-time order; live delivers them at once.
    pipe.set_holding(!src.is_live());
    let mut packets = 0u64;
    let mut bytes = 0u64;
    if out.stop_requested() {
        return Ended::Stopped;
    }
    loop {
        match src.poll() {
            Ok(Polled::Packet(p)) => {
                packets += 1;
                bytes += p.data.len() as u64 + 16;
                if let Err(e) = pipe.process(&frame(&p), out) {
                    return Ended::OutputFailed(Some(e));
                }
                if pipe.failed() {
                    return Ended::OutputFailed(None);
                }
                if packets.is_multiple_of(PROGRESS_EVERY) {
                    out.progress(packets, bytes);
                }
                if !packets.is_multiple_of(1024) {
                    continue;
                }
            }
            Ok(Polled::Idle) => {
                if let Some(ts) = clock.tick_due() {
                    if let Err(e) = pipe.idle_tick(ts, out) {
                        return Ended::OutputFailed(Some(e));
                    }
                }
                std::thread::sleep(IDLE_SLEEP);
            }
            Ok(Polled::End) => return Ended::End,
            Err(e) => return Ended::Unreadable(e.to_string()),
        }
        // Here while the source is idle, and every 1 024 packets.
        if out.stop_requested() {
            return Ended::Stopped;
        }
        if clock.period_due() {
            pipe.periodic();
            out.periodic();
        }
    }
}
