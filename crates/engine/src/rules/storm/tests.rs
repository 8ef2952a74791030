//! Storms: request rates held over time, repetition and learned rates, with
//! traffic built by the project's generator and run through the engine.

use crate::assets::Fleet;
use crate::rules::{Alert, DetectConfig, Detector};
use crate::{Engine, EngineConfig, EventSink, Frame, Ts};
use s7sentry_pcapgen::cases::hosts::{ATTACKER, HMI, HMI2, PLC1};
use s7sentry_pcapgen::cases::session::{Session, POLL_ITEMS};
use s7sentry_pcapgen::pcap::LinkType;
use s7sentry_pcapgen::s7::AnyItem;
use s7sentry_pcapgen::trace::{Trace, START_NS};

/// Run `tr` through an engine and `det`; `reload_at` (frame) reconfigures the
/// detector with the default configuration there, as a SIGHUP does.
fn run_with(tr: &Trace, mut det: Detector, reload_at: Option<u64>) -> Vec<Alert> {
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for (i, f) in tr.frames.iter().enumerate() {
        let no = i as u64 + 1;
        if reload_at == Some(no) {
            det.reconfigure(DetectConfig::default());
        }
        let fr = Frame { frame: no, ts: Ts(f.ts_ns as i64), linktype: 1, data: &f.data };
        engine.process(&fr, &mut det as &mut dyn EventSink);
        out.extend(det.drain());
    }
    engine.finish(&mut det as &mut dyn EventSink);
    det.finish();
    out.extend(det.drain());
    out
}

fn run(tr: &Trace) -> Vec<Alert> {
    run_with(tr, Detector::new(DetectConfig::default()), None)
}

/// A detector learning the baseline for `secs` s of packet time.
fn learning(secs: u64) -> Detector {
    let mut d = Detector::new(DetectConfig::default());
    d.enable_assets(Fleet::default());
    d.set_learning(std::time::Duration::from_secs(secs));
    d
}

fn storms(alerts: &[Alert]) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.rule == "flood.requests" && a.evidence.contains_key("basis")).collect()
}

/// `rate` exchanges per second for `secs` seconds from `at_ns` (packet time), each
/// written by `f` (request and answer).
fn paced(tr: &mut Trace, at_ns: u64, rate: u64, secs: u64, mut f: impl FnMut(&mut Trace, u64)) {
    let period = 1_000_000_000 / rate;
    for i in 0..rate * secs {
        let target = at_ns + i * period;
        if tr.now_ns < target {
            tr.now_ns = target;
        }
        f(tr, i);
    }
}

fn session(client: std::net::IpAddr, port: u16, seed: u64) -> Session {
    let mut s = Session::new(client, port, PLC1, seed);
    s.delay_us = (300, 800);
    s
}

/// The HMI polling every 250 ms for `secs` seconds.
fn hmi_polling(secs: u64) -> Trace {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut h = session(HMI, 49_220, 0x51);
    h.connect(&mut t, 2);
    paced(&mut t, START_NS + 100_000_000, 4, secs, |t, i| h.poll(t, i as usize));
    t
}

#[test]
fn the_same_write_at_240_per_second_for_a_minute_is_one_repetition_storm() {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = session(ATTACKER, 43_300, 0x52);
    s.connect(&mut t, 1);
    let v = [0x12, 0x34];
    paced(&mut t, START_NS + 2_000_000_000, 240, 70, |t, _| s.write(t, &[AnyItem::db_word(1, 4)], &[&v]));
    s.close_fin(&mut t);
    let tr = Trace::merge(vec![hmi_polling(75), t]);
    let alerts = run(&tr);
    let st = storms(&alerts);
    assert_eq!(st.len(), 1, "{alerts:#?}");
    let a = st[0];
    assert_eq!((a.src, a.dst), (ATTACKER, PLC1));
    assert_eq!(a.evidence["basis"], "repetition");
    assert_eq!(a.evidence["class"], "write");
    assert_eq!(a.evidence["window_s"], 20);
    assert_eq!(a.evidence["distinct_items"], 1);
    let rate = a.evidence["rate"].as_u64().unwrap();
    assert!((230..=250).contains(&rate), "{rate}");
    // Judged after 20 s of flood, not at its first second.
    let start = Ts((START_NS + 2_000_000_000) as i64);
    assert!(a.ts.ms_since(start) >= 19_000 && a.ts.ms_since(start) < 21_000, "{}", a.ts);
    // Nothing about the HMI, and no one-second flood (240 < 300).
    assert!(alerts.iter().all(|a| a.src != HMI), "{alerts:#?}");
    assert!(
        alerts
            .iter()
            .filter(|a| a.rule == "flood.requests")
            .all(|a| a.evidence.contains_key("basis") || a.evidence.contains_key("aggregated")),
        "{alerts:#?}"
    );
}

#[test]
fn changing_writes_at_150_per_second_are_a_sustained_storm() {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = session(ATTACKER, 43_301, 0x53);
    s.connect(&mut t, 1);
    paced(&mut t, START_NS + 1_000_000_000, 150, 25, |t, i| {
        let v = (i as u16).to_be_bytes();
        s.write(t, &[AnyItem::db_word(1, (i % 50) as u32 * 2)], &[&v]);
    });
    let alerts = run(&t);
    let st = storms(&alerts);
    assert_eq!(st.len(), 1, "{alerts:#?}");
    assert_eq!(st[0].evidence["basis"], "sustained");
    assert_eq!(st[0].evidence["threshold"], 100);
    assert_eq!(st[0].evidence["distinct_items"], 8);
    assert_eq!(st[0].evidence["distinct_items_more"], true);
}

/// The public libnodave benchmark's shape: 240 reads/s for 12 s, then the same
/// item and value written 240 times a second for 9 s.
fn benchmark(write_secs: u64) -> Trace {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = session(HMI2, 49_400, 0x54);
    s.connect(&mut t, 1);
    paced(&mut t, START_NS + 1_000_000_000, 240, 12, |t, _| s.read(t, &[AnyItem::db_bytes(1, 0, 4)]));
    let v = [0x3B];
    let item = AnyItem::area_bytes(s7sentry_pcapgen::s7::area::FLAGS, 0, 1);
    paced(&mut t, START_NS + 13_000_000_000, 240, write_secs, |t, _| s.write(t, &[item], &[&v]));
    t
}

#[test]
fn a_benchmark_writing_the_same_item_at_240_per_second_for_9_s_is_quiet() {
    let alerts = run(&benchmark(9));
    assert!(alerts.iter().all(|a| a.rule != "flood.requests"), "{alerts:#?}");
    // The same writes held for 25 s are a storm: duration alone tells them apart.
    let alerts = run(&benchmark(25));
    let st = storms(&alerts);
    assert_eq!(st.len(), 1, "{alerts:#?}");
    assert_eq!(st[0].evidence["basis"], "repetition");
}

#[test]
fn fast_hmi_polling_at_100_reads_per_second_is_quiet() {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = session(HMI, 49_500, 0x55);
    s.connect(&mut t, 2);
    paced(&mut t, START_NS + 500_000_000, 100, 60, |t, _| s.read(t, &POLL_ITEMS));
    let alerts = run(&t);
    assert!(alerts.iter().all(|a| a.rule != "flood.requests"), "{alerts:#?}");
}

#[test]
fn a_read_storm_at_500_per_second_is_sustained() {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = session(ATTACKER, 43_302, 0x56);
    s.delay_us = (100, 300);
    s.connect(&mut t, 2);
    paced(&mut t, START_NS + 500_000_000, 500, 22, |t, _| s.read(t, &POLL_ITEMS));
    let alerts = run(&t);
    let st = storms(&alerts);
    assert_eq!(st.len(), 1, "{alerts:#?}");
    assert_eq!((st[0].evidence["basis"].as_str(), st[0].evidence["class"].as_str()), (Some("sustained"), Some("read")));
    assert!(!st[0].evidence.contains_key("distinct_items"));
}

/// HMI2 polls (5 writes and 10 reads per second) for 40 s while the baseline learns
/// for 30 s, then writes `after` changing values per second for 25 s; an unknown host
/// writes 50 changing values per second at the same time.
fn learned_case(after: u64, reload_at: Option<u64>) -> Vec<Alert> {
    let mut t = Trace::new(LinkType::Ethernet);
    let mut s = session(HMI2, 49_600, 0x57);
    s.connect(&mut t, 2);
    paced(&mut t, START_NS + 200_000_000, 15, 40, |t, i| {
        if i % 3 == 0 {
            let v = (i as u16).to_be_bytes();
            s.write(t, &[AnyItem::db_word(1, 8)], &[&v]);
        } else {
            s.read(t, &POLL_ITEMS);
        }
    });
    paced(&mut t, START_NS + 41_000_000_000, after, 25, |t, i| {
        let v = (i as u16).to_be_bytes();
        s.write(t, &[AnyItem::db_word(1, 8 + (i % 4) as u32 * 2)], &[&v]);
    });
    let mut u = Trace::new(LinkType::Ethernet);
    u.now_ns = START_NS + 35_000_000_000;
    let mut x = session(ATTACKER, 43_303, 0x58);
    x.connect(&mut u, 1);
    paced(&mut u, START_NS + 41_000_000_000, 50, 25, |t, i| {
        let v = (i as u16).to_be_bytes();
        x.write(t, &[AnyItem::db_word(2, (i % 16) as u32 * 2)], &[&v]);
    });
    let tr = Trace::merge(vec![t, u]);
    run_with(&tr, learning(30), reload_at)
}

#[test]
fn a_known_talker_writing_ten_times_its_learned_rate_is_a_storm() {
    let alerts = learned_case(50, None);
    let st = storms(&alerts);
    assert_eq!(st.len(), 1, "{alerts:#?}");
    let a = st[0];
    // HMI2, judged by its learned rate; the unknown host at the same 50 writes/s is
    // judged by the plant default (100/s) and stays quiet.
    assert_eq!((a.src, a.evidence["basis"].as_str()), (HMI2, Some("learned_rate")));
    assert_eq!(a.evidence["learned_rate"], 5);
    assert_eq!(a.evidence["threshold"], 20);
    assert_eq!(a.evidence["rate"], 50);
    assert!(a.ts >= Ts((START_NS + 60_000_000_000) as i64), "{}", a.ts);
}

#[test]
fn a_known_talker_at_its_learned_rate_is_quiet() {
    let alerts = learned_case(5, None);
    assert!(storms(&alerts).is_empty(), "{alerts:#?}");
}

#[test]
fn learned_rates_survive_a_reload() {
    let plain = learned_case(50, None);
    // Reconfigured in the middle of the learning period and again after the freeze.
    let reloaded = learned_case(50, Some(2_000));
    let (a, b) = (storms(&plain), storms(&reloaded));
    assert_eq!(b.len(), 1, "{reloaded:#?}");
    assert_eq!((a[0].frame, &a[0].evidence), (b[0].frame, &b[0].evidence));
}

#[test]
fn the_talker_table_is_bounded_and_counts_what_it_forgets() {
    let mut d = Detector::new(DetectConfig::default());
    for i in 0..super::MAX_STORM_TALKERS as u32 + 10 {
        let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i));
        if d.storms.talkers.len() >= super::MAX_STORM_TALKERS {
            super::evict(&mut d);
        }
        d.storms.talkers.entry((ip, PLC1)).or_default().last = Ts(i64::from(i));
    }
    assert_eq!(d.storms.talkers.len(), super::MAX_STORM_TALKERS + 10 - super::MAX_STORM_TALKERS / 16);
    assert_eq!(d.caps()[crate::rules::Cap::StormTalkers], super::MAX_STORM_TALKERS as u64 / 16);
    // The oldest went first.
    let oldest = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000));
    assert!(!d.storms.talkers.contains_key(&(oldest, PLC1)));
}

/// Feeds `tr` (frames numbered from `first`) through `engine` and `det`.
fn feed(engine: &mut Engine, det: &mut Detector, tr: &Trace, first: u64, out: &mut Vec<Alert>) {
    for (i, f) in tr.frames.iter().enumerate() {
        let fr = Frame { frame: first + i as u64, ts: Ts(f.ts_ns as i64), linktype: 1, data: &f.data };
        engine.process(&fr, det as &mut dyn EventSink);
        out.extend(det.drain());
    }
}

/// HMI2 polling PLC1 (5 writes and 10 reads per second) for 40 s from `at_ns`.
fn polling_hmi2(at_ns: u64) -> Trace {
    let mut t = Trace::new(LinkType::Ethernet);
    t.now_ns = at_ns;
    let mut s = session(HMI2, 49_600, 0x57);
    s.connect(&mut t, 2);
    paced(&mut t, at_ns + 200_000_000, 15, 40, |t, i| {
        if i % 3 == 0 {
            let v = (i as u16).to_be_bytes();
            s.write(t, &[AnyItem::db_word(1, 8)], &[&v]);
        } else {
            s.read(t, &POLL_ITEMS);
        }
    });
    s.close_fin(&mut t);
    t
}

/// A new connection of HMI2 from `at_ns` writing `rate` changing values per second for 25 s.
fn hmi2_writes(at_ns: u64, rate: u64) -> Trace {
    let mut t = Trace::new(LinkType::Ethernet);
    t.now_ns = at_ns;
    let mut s = session(HMI2, 49_700, 0x59);
    s.connect(&mut t, 2);
    paced(&mut t, at_ns + 1_000_000_000, rate, 25, |t, i| {
        let v = (i as u16).to_be_bytes();
        s.write(t, &[AnyItem::db_word(1, 8 + (i % 4) as u32 * 2)], &[&v]);
    });
    s.close_fin(&mut t);
    t
}

/// The fleet after learning HMI2's polling for 30 s (then frozen).
fn learned_fleet() -> Fleet {
    let mut det = learning(30);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    feed(&mut engine, &mut det, &polling_hmi2(START_NS), 1, &mut out);
    engine.finish(&mut det as &mut dyn EventSink);
    det.finish();
    let fleet = det.take_fleet().expect("tracking on");
    assert!(fleet.is_frozen());
    fleet
}

/// Runs `tr` through a detector tracking `fleet` (as after a restart from `--state`).
fn restarted(fleet: Fleet, tr: &Trace) -> Vec<Alert> {
    let mut det = Detector::new(DetectConfig::default());
    det.enable_assets(fleet);
    run_with(tr, det, None)
}

#[test]
fn learned_rates_are_recorded_in_the_fleet_and_judge_the_talker_after_a_restart() {
    let fleet = learned_fleet();
    let rates: Vec<_> = fleet.storm_rates.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(rates, vec![((HMI2, PLC1), crate::assets::StormRates { write: 5, read: 10, other: 0 })]);
    let later = START_NS + 3_600_000_000_000;
    // 50 writes/s: 10 times the learned rate.
    let alerts = restarted(fleet.clone(), &hmi2_writes(later, 50));
    let st = storms(&alerts);
    assert_eq!(st.len(), 1, "{alerts:#?}");
    assert_eq!(st[0].evidence["basis"], "learned_rate");
    assert_eq!((st[0].evidence["learned_rate"].as_u64(), st[0].evidence["threshold"].as_u64()), (Some(5), Some(20)));
    // 15 writes/s: under 4 x 5 (and the floor of 20).
    assert!(storms(&restarted(fleet.clone(), &hmi2_writes(later, 15))).is_empty());
    // Without the learned rates (the same fleet, frozen, but none kept) the plant default
    // (100/s held) applies: 50/s stays quiet.
    let forgotten = Fleet { storm_rates: Default::default(), ..fleet };
    let alerts = restarted(forgotten, &hmi2_writes(later, 50));
    assert!(storms(&alerts).is_empty(), "{alerts:#?}");
}

#[test]
fn pairs_already_followed_adopt_the_rates_of_a_fleet_enabled_later() {
    let fleet = learned_fleet();
    let later = START_NS + 3_600_000_000_000;
    let tr = hmi2_writes(later, 50);
    // The pair enters the table with tracking off, the fleet comes in after 100 frames.
    let mut det = Detector::new(DetectConfig::default());
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    let (head, tail) = tr.frames.split_at(100);
    let part = |frames: &[s7sentry_pcapgen::trace::Frame]| {
        let mut t = Trace::new(LinkType::Ethernet);
        t.frames = frames.to_vec();
        t
    };
    feed(&mut engine, &mut det, &part(head), 1, &mut out);
    assert!(det.storms.talkers.contains_key(&(HMI2, PLC1)));
    det.enable_assets(fleet);
    feed(&mut engine, &mut det, &part(tail), 101, &mut out);
    let st = storms(&out);
    assert_eq!(st.len(), 1, "{out:#?}");
    assert_eq!(st[0].evidence["basis"], "learned_rate");
}

#[test]
fn learned_pairs_beyond_the_cap_are_not_recorded_and_are_counted() {
    let mut fleet = Fleet { baseline: crate::assets::Baseline::Learning { until: Ts(i64::MAX) }, ..Fleet::default() };
    for i in 0..super::MAX_STORM_TALKERS as u32 {
        let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i));
        assert_eq!(fleet.learn_storm_rates(ip, PLC1, Default::default()), Some(true));
    }
    let mut det = Detector::new(DetectConfig::default());
    det.enable_assets(fleet);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    feed(&mut engine, &mut det, &polling_hmi2(START_NS), 1, &mut out);
    let f = det.fleet();
    assert_eq!(f.storm_rates.len(), super::MAX_STORM_TALKERS);
    assert!(!f.storm_rates.contains_key(&(HMI2, PLC1)));
    assert!(f.evicted >= 1);
    assert!(det.caps()[crate::rules::Cap::StormTalkers] >= 1);
    assert_eq!(det.caps()[crate::rules::Cap::StormTalkers], det.fleet().evicted);
}
