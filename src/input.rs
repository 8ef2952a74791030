//! Shared by `decode` and `replay`: opening capture files and handing their
//! packets to the engine.

use crate::EXIT_USAGE;
use s7sentry_capture::{FileSource, Packet};
use s7sentry_engine::{Frame, Ts};
use std::path::Path;

/// Open a capture, or report the one-line error and raise `status` to 2.
pub fn open(path: &Path, status: &mut u8) -> Option<FileSource> {
    match FileSource::open(path) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("s7sentry: {e}");
            *status = (*status).max(EXIT_USAGE);
            None
        }
    }
}

/// The engine's view of a captured packet.
pub fn frame<'a>(p: &Packet<'a>) -> Frame<'a> {
    Frame { frame: p.frame, ts: Ts::new(p.ts.secs, p.ts.nanos), linktype: p.linktype.0, data: p.data }
}
