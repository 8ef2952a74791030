//! `s7sentry decode`.

use crate::{DecodeArgs, OutFormat, EXIT_OK, EXIT_PARTIAL};
use s7sentry_engine::record::{DecodeWriter, Format};
use s7sentry_engine::EngineConfig;
use s7sentry_sensor::{run, Ended, Pipeline};
use std::io::{BufWriter, Write};

/// Run `decode`; returns the exit status.
pub fn run_decode(a: &DecodeArgs) -> u8 {
    let stdout = std::io::stdout().lock();
    let fmt = match a.format {
        OutFormat::Jsonl => Format::Jsonl,
        OutFormat::Text => Format::Text,
    };
    let mut w = Some(DecodeWriter::new(BufWriter::with_capacity(1 << 16, stdout), fmt));
    let mut status = EXIT_OK;
    let multi = a.files.len() > 1;
    for path in &a.files {
        let Some(mut src) = crate::input::open(path, &mut status) else { continue };
        let Some(mut writer) = w.take() else { break };
        writer.set_pcap(multi.then(|| path.display().to_string()));
        // Decoding only: no detector, the writer rides along as the extra sink.
        let mut pipe = Pipeline::new(EngineConfig::default(), None, writer);
        let mut none = Vec::new();
        if let Ended::Unreadable(e) = run(&mut src, &mut pipe, &mut none) {
            eprintln!("s7sentry: {e}");
            status = status.max(EXIT_PARTIAL);
        }
        let _ = pipe.finish(&mut none);
        if a.stats {
            eprintln!("{}", stats_json(&path.display().to_string(), pipe.stats()));
        }
        let writer = pipe.into_extra();
        let failed = writer.error.is_some();
        w = Some(writer);
        if failed {
            break;
        }
    }
    match w.map(DecodeWriter::finish) {
        Some(Ok(mut out)) => {
            let _ = out.flush();
        }
        Some(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Some(Err(e)) => {
            eprintln!("s7sentry: cannot write output: {e}");
            status = status.max(EXIT_PARTIAL);
        }
        None => {}
    }
    status
}

/// One JSON object: the file, then the engine's counters (`decode --stats`).
fn stats_json(file: &str, stats: &s7sentry_engine::Stats) -> String {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        file: &'a str,
        #[serde(flatten)]
        stats: &'a s7sentry_engine::Stats,
    }
    serde_json::to_string(&Line { file, stats }).unwrap_or_default()
}
