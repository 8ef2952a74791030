//! The SQLite inventory store: round trips, incremental saves, other writers,
//! schema versions, and the files it must refuse.

mod common;

use common::{big_fleet, ip, sample_fleet, TempDir};
use s7sentry_engine::assets::Baseline;
use s7sentry_inventory::baseline::freeze;
use s7sentry_inventory::store::SCHEMA_VERSION;
use s7sentry_inventory::{Saved, Store, StoreError};
use std::time::Instant;

fn written(s: Saved) -> s7sentry_inventory::SaveStats {
    match s {
        Saved::Written(x) => x,
        other => panic!("not written: {other:?}"),
    }
}

#[test]
fn every_field_round_trips() {
    let dir = TempDir::new("roundtrip");
    let path = dir.file("state.db");
    let fleet = sample_fleet();
    {
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.load().unwrap(), Default::default(), "a new file holds an empty fleet");
        let st = written(s.save(&fleet).unwrap());
        assert!(!st.full, "the loaded empty fleet is the snapshot");
        assert_eq!(st.devices_changed, 4);
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.load().unwrap(), fleet);
    s.integrity_check().unwrap();
    // Saving the same fleet again writes only the fleet row.
    assert_eq!(written(s.save(&fleet).unwrap()).rows, 1);
}

#[test]
fn incremental_saves_equal_full_loads() {
    let dir = TempDir::new("incremental");
    let path = dir.file("state.db");
    let mut s = Store::open(&path).unwrap();
    for v in 0..12u64 {
        let f = big_fleet(300, v);
        let st = written(s.save(&f).unwrap());
        assert_eq!(st.full, v == 0, "v{v}: only the first save (no load before) rewrites everything");
        if v > 0 {
            assert!((20..130).contains(&st.devices_changed), "v{v}: {} devices changed", st.devices_changed);
        }
        // A fresh handle reads exactly what was saved.
        assert_eq!(Store::open(&path).unwrap().load().unwrap(), f, "v{v}");
    }
    // Shrinking to nothing deletes every row.
    written(s.save(&Default::default()).unwrap());
    assert_eq!(Store::open(&path).unwrap().load().unwrap(), Default::default());
}

#[test]
fn another_writer_forces_a_full_rewrite() {
    let dir = TempDir::new("writers");
    let path = dir.file("state.db");
    let mut a = Store::open(&path).unwrap();
    let mut b = Store::open(&path).unwrap();
    a.load().unwrap();
    b.load().unwrap();
    written(a.save(&big_fleet(100, 1)).unwrap());
    // b's picture is stale: it must not write a diff against it.
    assert!(written(b.save(&big_fleet(100, 2)).unwrap()).full);
    assert!(written(a.save(&big_fleet(100, 3)).unwrap()).full);
    assert_eq!(Store::open(&path).unwrap().load().unwrap(), big_fleet(100, 3));
}

#[test]
fn baseline_command_while_a_sensor_runs_is_not_overwritten() {
    let dir = TempDir::new("baseline");
    let path = dir.file("state.db");
    let mut sensor = Store::open(&path).unwrap();
    let mut fleet = sample_fleet();
    sensor.load().unwrap();
    written(sensor.save(&fleet).unwrap());

    // The operator freezes the baseline from another process.
    let mut cmd = Store::open_existing(&path).unwrap();
    let mut f = cmd.load().unwrap();
    freeze(&mut f, common::t(5000));
    cmd.save_baseline_change(&f).unwrap();

    // The sensor's next save writes nothing and hands the decision over.
    fleet.evicted += 1;
    match sensor.save(&fleet).unwrap() {
        Saved::BaselineChanged(b) => assert_eq!(b, Baseline::Frozen { since: common::t(5000) }),
        other => panic!("{other:?}"),
    }
    assert_eq!(Store::open(&path).unwrap().load().unwrap(), f, "the command's state is intact");
    // It applies the decision and saves again: a full rewrite.
    freeze(&mut fleet, common::t(5000));
    assert!(written(sensor.save(&fleet).unwrap()).full);
    let got = Store::open(&path).unwrap().load().unwrap();
    assert_eq!(got, fleet);
    assert!(got.devices.values().all(|d| d.baseline && d.talkers.values().all(|t| t.baseline)));
}

fn assert_names_file(e: &StoreError, path: &std::path::Path) {
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
}

#[test]
fn not_sqlite_is_refused_naming_the_file() {
    let dir = TempDir::new("notsqlite");
    let path = dir.file("alerts.jsonl");
    std::fs::write(&path, "{\"rule\":\"control.cpu_stop\"}\n").unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::NotSqlite { .. }), "{e:?}");
    assert_names_file(&e, &path);
    assert!(e.to_string().contains("not an s7sentry state file"), "{e}");
    // Untouched.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"rule\":\"control.cpu_stop\"}\n");

    // A short file too.
    std::fs::write(&path, "SQL").unwrap();
    assert!(matches!(Store::open(&path), Err(StoreError::NotSqlite { .. })));
    // A directory.
    let e = Store::open(&dir.0).unwrap_err();
    assert!(matches!(e, StoreError::NotSqlite { .. }), "{e:?}");
    // A file with the SQLite header and garbage after it.
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 4096));
    std::fs::write(&path, &bytes).unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::NotSqlite { .. } | StoreError::Sqlite { .. }), "{e:?}");
    assert_names_file(&e, &path);
}

#[test]
fn another_programs_database_is_refused() {
    let dir = TempDir::new("foreign");
    let path = dir.file("other.db");
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL);").unwrap();
    }
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Foreign { .. }), "{e:?}");
    assert_names_file(&e, &path);
    // Nothing was added to it.
    let db = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = db.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    let path = dir.file("state.db");
    Store::open(&path).unwrap().save(&sample_fleet()).unwrap();
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    }
    let e = Store::open(&path).unwrap_err();
    match &e {
        StoreError::NewerSchema { found, supported, .. } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
        }
        other => panic!("{other:?}"),
    }
    assert_names_file(&e, &path);
    assert!(e.to_string().contains("newer"), "{e}");
}

#[test]
fn empty_file_becomes_a_state_and_missing_file_is_named() {
    let dir = TempDir::new("empty");
    let path = dir.file("state.db");
    let e = Store::open_existing(&path).unwrap_err();
    assert!(matches!(e, StoreError::Missing { .. }), "{e:?}");
    assert_names_file(&e, &path);
    assert!(!path.exists(), "open_existing must not create the file");
    std::fs::write(&path, b"").unwrap();
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.load().unwrap(), Default::default());
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn corrupt_values_are_named() {
    let dir = TempDir::new("corrupt");
    let path = dir.file("state.db");
    Store::open(&path).unwrap().save(&sample_fleet()).unwrap();
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute("UPDATE devices SET role = 'robot' WHERE address = '10.0.0.10'", []).unwrap();
    }
    let e = Store::open(&path).unwrap().load().unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("devices.role") && msg.contains("robot") && msg.contains("10.0.0.10"), "{msg}");
    assert_names_file(&e, &path);
}

/// Learned storm rates (`meta.learned_storm_rates`): a file without them (written
/// before they were saved) loads with none and the rest intact; missing classes
/// are 0; a damaged value is named; more pairs than the cap are cut to it and
/// counted.
#[test]
fn learned_storm_rates_old_files_partial_entries_damage_and_cap() {
    use s7sentry_engine::assets::StormRates;
    use s7sentry_engine::rules::storm::MAX_STORM_TALKERS;
    let dir = TempDir::new("stormrates");
    let path = dir.file("state.db");
    let fleet = sample_fleet();
    assert!(!fleet.storm_rates.is_empty());
    Store::open(&path).unwrap().save(&fleet).unwrap();
    let set = |v: Option<&str>| {
        let db = rusqlite::Connection::open(&path).unwrap();
        match v {
            Some(v) => {
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('learned_storm_rates', ?1)", [v]).unwrap()
            }
            None => db.execute("DELETE FROM meta WHERE key = 'learned_storm_rates'", []).unwrap(),
        };
    };
    // The value as written: one object per pair.
    let stored: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'learned_storm_rates'", [], |r| r.get(0))
        .unwrap();
    assert!(stored.contains(r#"{"talker":"10.0.0.20","plc":"10.0.0.10","write":5,"read":10,"other":1}"#), "{stored}");

    set(None);
    let old = Store::open(&path).unwrap().load().unwrap();
    assert!(old.storm_rates.is_empty());
    assert_eq!(s7sentry_engine::assets::Fleet { storm_rates: fleet.storm_rates.clone(), ..old }, fleet);

    set(Some(r#"[{"talker":"10.0.0.20","plc":"10.0.0.10","write":7}]"#));
    let f = Store::open(&path).unwrap().load().unwrap();
    let want = StormRates { write: 7, read: 0, other: 0 };
    assert_eq!(f.storm_rates.into_iter().collect::<Vec<_>>(), vec![((ip("10.0.0.20"), ip("10.0.0.10")), want)]);

    set(Some(r#"[{"talker":"10.0.0.999","plc":"10.0.0.10"}]"#));
    let e = Store::open(&path).unwrap().load().unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("meta.learned_storm_rates"), "{e}");

    let n = MAX_STORM_TALKERS + 3;
    let many: Vec<String> =
        (0..n).map(|i| format!(r#"{{"talker":"10.9.{}.{}","plc":"10.0.0.10","write":1}}"#, i / 256, i % 256)).collect();
    set(Some(&format!("[{}]", many.join(","))));
    let f = Store::open(&path).unwrap().load().unwrap();
    assert_eq!(f.storm_rates.len(), MAX_STORM_TALKERS);
    assert_eq!(f.evicted, fleet.evicted + 3);
}

/// 4 096 PLCs (the inventory's cap), about 16 400 talker and 28 700 function rows.
#[test]
fn saving_4096_devices_is_fast() {
    let dir = TempDir::new("speed");
    let path = dir.file("state.db");
    let mut s = Store::open(&path).unwrap();
    s.load().unwrap();
    let f0 = big_fleet(4093, 0);
    assert_eq!(f0.devices.len(), 4096);
    let t = Instant::now();
    let first = written(s.save(&f0).unwrap());
    let first_elapsed = t.elapsed();
    let t = Instant::now();
    let next = written(s.save(&big_fleet(4093, 1)).unwrap());
    let next_elapsed = t.elapsed();
    let unchanged = written(s.save(&big_fleet(4093, 1)).unwrap());
    // Steady state: a tenth of the PLCs active between saves.
    let mut steady: Vec<f64> =
        (2..8u64).map(|v| written(s.save(&big_fleet(4093, v)).unwrap()).elapsed.as_secs_f64() * 1e3).collect();
    steady.sort_by(f64::total_cmp);
    written(s.save(&big_fleet(4093, 1)).unwrap());
    let t = Instant::now();
    let loaded = Store::open(&path).unwrap().load().unwrap();
    let load_elapsed = t.elapsed();
    assert_eq!(loaded, big_fleet(4093, 1));
    eprintln!(
        "4096 devices: first save {first_elapsed:?} ({} rows), next save {next_elapsed:?} ({} rows, {} devices), \
         unchanged {:?}, load {load_elapsed:?}; steady-state saves {steady:.0?} ms",
        first.rows, next.rows, next.devices_changed, unchanged.elapsed
    );
    // Generous bounds: debug build, shared CI machine.
    assert!(first_elapsed.as_secs_f64() < 20.0);
    assert!(next.rows * 10 < first.rows, "an incremental save writes only what changed");
    assert!(!next.full && !first.full);
}
