//! Passive inventory on real and generated captures (issue 6).

mod common;

use s7sentry_capture::{MemorySource, PacketSource};
use s7sentry_engine::assets::Fleet;
use s7sentry_engine::rules::{Alert, DetectConfig, Detector};
use s7sentry_engine::{Engine, EngineConfig, Frame, Ts};
use std::path::Path;

/// Replay `path` through Engine + Detector with asset tracking on.
fn replay(path: &Path, cfg: DetectConfig, setup: impl FnOnce(&mut Detector)) -> (Fleet, Vec<Alert>) {
    let mut src = MemorySource::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut engine = Engine::new(EngineConfig::default());
    let mut det = Detector::new(cfg);
    det.enable_assets(Fleet::default());
    setup(&mut det);
    let mut alerts = Vec::new();
    let mut n = 0u64;
    while let Some(p) = src.next_packet().expect("memory source") {
        n += 1;
        let fr = Frame { frame: n, ts: Ts::new(p.ts.secs, p.ts.nanos), linktype: p.linktype.0, data: p.data };
        engine.process(&fr, &mut det);
        alerts.extend(det.drain());
    }
    engine.finish(&mut det);
    det.finish();
    alerts.extend(det.drain());
    (det.take_fleet().expect("tracking on"), alerts)
}

#[test]
fn dump() {
    let Ok(list) = std::env::var("INV_DUMP") else { return };
    for f in list.split(',') {
        let p = if f.contains('/') {
            std::path::PathBuf::from(f)
        } else {
            common::shared_dir().join("pcaps/public").join(f)
        };
        let (fleet, alerts) = replay(&p, DetectConfig::default(), |_| {});
        println!("== {f}");
        if std::env::var_os("INV_JSON").is_some() {
            println!("{}", serde_json::to_string_pretty(&fleet).unwrap());
        }
        for d in fleet.devices.values() {
            let i = &d.identity;
            println!(
                "  {} {:?} order={:?} fw={:?} hw={:?} serial={:?} type={:?} name={:?}/{:?}/{:?} src={:?} tsaps={:?} pdu={:?} amq={:?} s7={} plus={} tls={} states={:?} changes={:?}",
                d.address, d.role, i.order_number, i.firmware, i.hardware, i.serial, i.module_type, i.plc_name,
                i.module_name, i.plant_id, i.source, d.connection.tsaps, d.connection.pdu_size, d.connection.amq,
                d.connection.s7comm, d.connection.s7comm_plus, d.connection.tls,
                d.state_changes.iter().map(|s| format!("{}@{:?}", s.state, s.by)).collect::<Vec<_>>(), d.changes
            );
            for (a, t) in &d.talkers {
                println!("     talker {a}: {:?}", t.functions.keys().collect::<Vec<_>>());
            }
        }
        for a in alerts.iter().filter(|a| a.rule.starts_with("baseline")) {
            println!("ALERT {} {} {}", a.frame, a.rule, a.message);
        }
    }
}
