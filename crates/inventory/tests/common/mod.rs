//! Fleets built by hand for the store and report tests.
#![allow(dead_code)]

use s7sentry_engine::assets::{
    Baseline, Connection, Device, Fleet, FunctionSeen, Identity, IdentityChange, Role, StateChange, StormRates, Talker,
};
use s7sentry_engine::Ts;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("s7sentry-inv-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// 2026-01-01T00:00:00Z plus `s` seconds.
pub fn t(s: i64) -> Ts {
    Ts::new(1_767_225_600 + s, 0)
}

pub fn func(first: i64, last: i64, count: u64, baseline: bool) -> FunctionSeen {
    FunctionSeen { first_seen: t(first), last_seen: t(last), count, baseline }
}

pub fn talker(first: i64, last: i64, baseline: bool, fns: &[(&str, FunctionSeen)]) -> Talker {
    Talker {
        first_seen: t(first),
        last_seen: t(last),
        baseline,
        functions: fns.iter().map(|(n, f)| (n.to_string(), f.clone())).collect(),
    }
}

/// Every field of every type set to something other than its default.
pub fn sample_fleet() -> Fleet {
    let plc = ip("10.0.0.10");
    let hmi = ip("10.0.0.20");
    let eng = ip("10.0.0.30");
    let v6 = ip("fd00::1:2");
    let mut devices = BTreeMap::new();
    let mut d = Device::new(plc, Ts::new(1_767_225_600, 123_456_789));
    d.role = Role::Plc;
    d.identity = Identity {
        order_number: Some("6ES7 511-1AK02-0AB0".into()),
        firmware: Some("V2.9.2".into()),
        hardware: Some("2".into()),
        serial: Some("S C-X4U421302009".into()),
        plc_name: Some("Line 1 \"press\"".into()),
        module_name: Some("PLC_1".into()),
        plant_id: Some("plant, west".into()),
        module_type: Some("CPU 1511-1 PN".into()),
        source: Some("szl".into()),
        seen: Some(t(50)),
    };
    d.changes = vec![
        IdentityChange { field: "firmware".into(), old: "V2.8.3".into(), new: "V2.9.2".into(), ts: t(40), frame: 7 },
        IdentityChange {
            field: "serial".into(),
            old: "A".into(),
            new: "S C-X4U421302009".into(),
            ts: t(41),
            frame: u64::MAX,
        },
    ];
    d.connection = Connection {
        tsaps: vec!["0102".into(), "0301".into()],
        pdu_size: Some(480),
        amq: Some((3, 65535)),
        s7comm: true,
        s7comm_plus: true,
        tls: true,
    };
    d.last_seen = t(3600);
    d.baseline = true;
    d.talkers.insert(
        hmi,
        talker(1, 3600, true, &[("read_var", func(1, 3600, 36_000, true)), ("szl_read", func(2, 2, 1, false))]),
    );
    d.talkers.insert(eng, talker(100, 200, false, &[("cpu_stop", func(100, 100, 1, false))]));
    d.talkers.insert(v6, talker(5, 6, false, &[]));
    d.state_changes = vec![
        StateChange { ts: t(100), state: "stop".into(), by: Some(eng) },
        StateChange { ts: t(160), state: "start".into(), by: None },
    ];
    devices.insert(plc, d);
    for (a, role) in [(hmi, Role::Hmi), (eng, Role::EngineeringStation), (v6, Role::Unknown)] {
        let mut c = Device::new(a, t(1));
        c.role = role;
        c.last_seen = t(3600);
        devices.insert(a, c);
    }
    let storm_rates = [
        ((hmi, plc), StormRates { write: 5, read: 10, other: 1 }),
        ((v6, plc), StormRates { write: 0, read: 400, other: 0 }),
        ((eng, v6), StormRates::default()),
    ]
    .into_iter()
    .collect();
    Fleet {
        devices,
        baseline: Baseline::Learning { until: t(7 * 86_400) },
        evicted: 3,
        quirks: [(hmi, vec!["crash_pattern.cotp_dr".to_string()])].into_iter().collect(),
        storm_rates,
    }
}

/// A fleet of `plcs` PLCs with 3 talkers each (2 HMIs and one engineering
/// station, shared), and `version` folded into what changes between saves:
/// some devices' last_seen and counts, one device less or more, a new talker,
/// an identity change, the baseline mode and the eviction counter.
pub fn big_fleet(plcs: u32, version: u64) -> Fleet {
    let mut devices = BTreeMap::new();
    let hmis = [ip("10.1.0.1"), ip("10.1.0.2")];
    let eng = ip("10.1.0.100");
    let v = version as i64;
    for i in 0..plcs {
        // Every 97th PLC comes and goes with the version's parity.
        if i % 97 == 5 && version % 2 == 1 {
            continue;
        }
        let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a02_0000 + i));
        let mut d = Device::new(a, t(i64::from(i)));
        d.role = Role::Plc;
        // A tenth of the fleet is active in each version.
        let active = u64::from(i) % 10 == version % 10;
        d.last_seen = t(if active { 10_000 + v } else { 5_000 });
        d.identity = Identity {
            order_number: Some(format!("6ES7 511-1AK0{}-0AB0", i % 3)),
            firmware: Some(if i % 50 == 0 && version >= 3 { "V2.9.7".into() } else { "V2.9.2".into() }),
            serial: Some(format!("S C-{i:08}")),
            module_type: Some("CPU 1511-1 PN".into()),
            source: Some("szl".into()),
            seen: Some(t(10)),
            ..Default::default()
        };
        if i % 50 == 0 && version >= 3 {
            d.changes.push(IdentityChange {
                field: "firmware".into(),
                old: "V2.9.2".into(),
                new: "V2.9.7".into(),
                ts: t(9_000),
                frame: 42,
            });
        }
        d.connection = Connection {
            tsaps: vec!["0102".into()],
            pdu_size: Some(480),
            amq: Some((3, 3)),
            s7comm: true,
            ..Default::default()
        };
        let count = if active { 1_000 + version } else { 1_000 };
        for h in hmis {
            d.talkers.insert(
                h,
                talker(
                    0,
                    5_000,
                    true,
                    &[("read_var", func(0, 5_000, count, true)), ("write_var", func(0, 5_000, 10, true))],
                ),
            );
        }
        d.talkers.insert(eng, talker(0, 100, true, &[("block_upload", func(0, 100, 2, true))]));
        if version % 7 == 3 && i % 13 == 0 {
            let newcomer = IpAddr::from(std::net::Ipv4Addr::new(10, 9, (version % 200) as u8, 1));
            d.talkers.insert(newcomer, talker(v, v, false, &[("cpu_stop", func(v, v, 1, false))]));
        }
        devices.insert(a, d);
    }
    for h in hmis {
        let mut d = Device::new(h, t(0));
        d.role = Role::Hmi;
        devices.insert(h, d);
    }
    let mut d = Device::new(eng, t(0));
    d.role = Role::EngineeringStation;
    devices.insert(eng, d);
    let baseline =
        if version % 5 == 4 { Baseline::Frozen { since: t(v) } } else { Baseline::Learning { until: t(86_400) } };
    // Learned storm rates of the HMIs towards the first PLCs, rising with the version.
    let storm_rates = (0..plcs.min(40))
        .flat_map(|i| {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a02_0000 + i));
            hmis.map(|h| ((h, a), StormRates { write: (version as u32 + i) % 7, read: 10 + i, other: 0 }))
        })
        .collect();
    Fleet { devices, baseline, evicted: version, storm_rates, ..Default::default() }
}
