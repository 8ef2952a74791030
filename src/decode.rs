//! `s7sentry decode`.

use crate::{DecodeArgs, OutFormat, EXIT_OK, EXIT_PARTIAL};
use s7sentry_capture::PacketSource;
use s7sentry_engine::record::{DecodeWriter, Format};
use s7sentry_engine::{Engine, EngineConfig};
use std::io::{BufWriter, Write};

/// Run `decode`; returns the exit status.
pub fn run(a: &DecodeArgs) -> u8 {
    let stdout = std::io::stdout().lock();
    let fmt = match a.format {
        OutFormat::Jsonl => Format::Jsonl,
        OutFormat::Text => Format::Text,
    };
    let mut w = DecodeWriter::new(BufWriter::with_capacity(1 << 16, stdout), fmt);
    let mut status = EXIT_OK;
    let multi = a.files.len() > 1;
    for path in &a.files {
        let Some(mut src) = crate::input::open(path, &mut status) else { continue };
        w.set_pcap(multi.then(|| path.display().to_string()));
        let mut engine = Engine::new(EngineConfig::default());
        loop {
            match src.next_packet() {
                Ok(Some(p)) => {
                    let f = crate::input::frame(&p);
                    engine.process(&f, &mut w);
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("s7sentry: {e}");
                    status = status.max(EXIT_PARTIAL);
                    break;
                }
            }
            if w.error.is_some() {
                break;
            }
        }
        engine.finish(&mut w);
        if a.stats {
            eprintln!("{}: {:?}", path.display(), engine.stats());
        }
        if w.error.is_some() {
            break;
        }
    }
    match w.finish() {
        Ok(mut out) => {
            let _ = out.flush();
        }
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("s7sentry: cannot write output: {e}");
            status = status.max(EXIT_PARTIAL);
        }
    }
    status
}
