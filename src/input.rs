//! Opening capture files for `decode` and `replay`.

use crate::EXIT_USAGE;
use s7sentry_capture::FileSource;
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
