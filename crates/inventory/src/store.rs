//! The inventory store: one SQLite file (the `--state FILE` of `replay`,
//! `live`, `inventory` and `baseline`) holding a [`Fleet`] across restarts.
//!
//! ## Safety against crashes
//! Every [`Store::save`] is one SQLite transaction in WAL mode with
//! `synchronous=FULL`: a process killed (or a machine losing power) in the
//! middle of a save leaves the file as the previous committed save left it.
//! `PRAGMA integrity_check` is available as [`Store::integrity_check`].
//!
//! ## Schema
//! The schema version is `PRAGMA user_version` (and `meta.schema_version`);
//! `PRAGMA application_id` marks the file as an s7sentry state file.
//! [`Store::open`] creates a new file, migrates an older schema forward
//! (one step per version, each in a transaction), and refuses a newer schema,
//! a file that is not SQLite, and an SQLite database of another program, each
//! with an error naming the file. Tables (version 1):
//!
//! | table | one row per | columns |
//! |---|---|---|
//! | `meta` | key | `application`, `schema_version`, `created`, `sensor` (name of the sensor writing it), `learned_quirks` (JSON object: talker address → structural rule ids learned as its quirks; absent when none), `learned_storm_rates` (JSON array of `{talker, plc, write, read, other}`: the request rates per second each (talker, PLC) pair held while the baseline learned; absent when none) |
//! | `fleet` | (single row) | baseline `mode` (`off` / `learning` / `frozen`), `mode_ts` (until / since, ns), `evicted`, `generation`, `baseline_epoch` |
//! | `devices` | host | `address`, `role`, `first_seen`, `last_seen`, `baseline`, connection (`tsaps` JSON array, `pdu_size`, `amq_calling`, `amq_called`, `s7comm`, `s7comm_plus`, `tls`) |
//! | `identity` | host | `order_number`, `firmware`, `hardware`, `serial`, `plc_name`, `module_name`, `plant_id`, `module_type`, `source`, `seen` |
//! | `identity_changes` | change | `address`, `seq`, `field`, `old`, `new`, `ts`, `frame` |
//! | `talkers` | (PLC, talker) | `first_seen`, `last_seen`, `baseline` |
//! | `functions` | (PLC, talker, function) | `first_seen`, `last_seen`, `count`, `baseline` |
//! | `state_changes` | change | `address`, `seq`, `ts`, `state`, `by` |
//!
//! Times are [`Ts`] nanoseconds since the Unix epoch; addresses are text
//! (`10.0.0.1`, `fd00::1`); unsigned counters are stored as their 64-bit
//! pattern in SQLite's signed integers.
//!
//! ## Incremental saves
//! The store remembers what it last committed and writes only the rows that
//! differ (a changed `last_seen` rewrites one device row, not the device). It
//! checks a generation counter in the file first: if another process wrote
//! the file since, the save rewrites everything.
//!
//! ## Baseline commands while a sensor runs
//! `s7sentry baseline freeze|learn` writes the file with
//! [`Store::save_baseline_change`], which bumps `baseline_epoch`. A running
//! sensor's next [`Store::save`] sees the new epoch, writes nothing and returns
//! [`Saved::BaselineChanged`] with the new mode, so that the sensor applies it
//! to its own fleet and saves again, instead of overwriting the operator's
//! decision.

use rusqlite::{params, Connection as Db, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use s7sentry_engine::assets::{
    Baseline, Connection, Device, Fleet, FunctionSeen, Identity, IdentityChange, LearnedRate, Role, StateChange, Talker,
};
use s7sentry_engine::Ts;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// `PRAGMA application_id` of s7sentry state files (`"S7st"`).
pub const APPLICATION_ID: i32 = 0x5337_7374;

/// How long a save waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The 16 bytes every SQLite 3 database file starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Why the state file could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file does not exist (commands that only read the state).
    #[error("{}: no such state file (it is created by `s7sentry replay --state FILE` or `live --state FILE`)", .path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but is not an SQLite database.
    #[error("{}: not an s7sentry state file: not an SQLite database ({})", .path.display(), .detail)]
    NotSqlite {
        /// The file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// An SQLite database, but not one s7sentry wrote.
    #[error("{}: not an s7sentry state file: an SQLite database of another program ({})", .path.display(), .detail)]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Written by a newer s7sentry.
    #[error(
        "{}: state schema version {found} is newer than this s7sentry supports ({supported}); \
         run a newer s7sentry or use another --state file",
        .path.display()
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this build reads.
        supported: i64,
    },
    /// Written by an older s7sentry, opened read-only (a read-only command never migrates).
    #[error(
        "{}: state schema version {found} is older than this s7sentry's ({newest}); read-only commands \
         never write: open it once with `s7sentry replay --state FILE` (or let the sensor run) to migrate it",
        .path.display()
    )]
    OlderSchema {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// This build's version.
        newest: i64,
    },
    /// A value in the file that cannot be right (edited by hand, or damaged).
    #[error("{}: corrupt state: {detail}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Table, row and value.
        detail: String,
    },
    /// `PRAGMA integrity_check` reported problems.
    #[error("{}: integrity check failed: {}", .path.display(), .problems.join("; "))]
    Integrity {
        /// The file.
        path: PathBuf,
        /// SQLite's messages.
        problems: Vec<String>,
    },
    /// The file could not be read or inspected.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// SQLite refused an operation.
    #[error("{}: {context}: {source}", .path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What was being done (`open`, `save`, ...).
        context: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

/// What [`Store::save`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    /// The fleet was committed.
    Written(SaveStats),
    /// Nothing was written: a `baseline` command changed the baseline in the
    /// file since this store last loaded or saved it. Apply this mode to the
    /// fleet (for `Frozen`, mark everything known as baseline) and save again.
    BaselineChanged(Baseline),
}

/// Numbers about one committed save.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SaveStats {
    /// Rows inserted, updated or deleted (cascades not counted).
    pub rows: usize,
    /// Devices whose rows changed (including added and removed ones).
    pub devices_changed: usize,
    /// Whether everything was rewritten (first save, or another writer since).
    pub full: bool,
    /// Wall-clock time of the transaction, commit included.
    pub elapsed: Duration,
}

/// An open state file.
pub struct Store {
    db: Db,
    path: PathBuf,
    /// Last committed fleet as this store knows it (None: unknown → full rewrite).
    saved: Option<Fleet>,
    /// `fleet.generation` after our last load / save.
    generation: i64,
    /// `fleet.baseline_epoch` after our last load / save.
    epoch: i64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("generation", &self.generation).finish()
    }
}

const SCHEMA_V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE fleet (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    mode           TEXT NOT NULL CHECK (mode IN ('off', 'learning', 'frozen')),
    mode_ts        INTEGER,
    evicted        INTEGER NOT NULL,
    generation     INTEGER NOT NULL,
    baseline_epoch INTEGER NOT NULL
);
CREATE TABLE devices (
    address     TEXT PRIMARY KEY NOT NULL,
    role        TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    baseline    INTEGER NOT NULL,
    tsaps       TEXT NOT NULL,
    pdu_size    INTEGER,
    amq_calling INTEGER,
    amq_called  INTEGER,
    s7comm      INTEGER NOT NULL,
    s7comm_plus INTEGER NOT NULL,
    tls         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE identity (
    address      TEXT PRIMARY KEY NOT NULL REFERENCES devices (address) ON DELETE CASCADE,
    order_number TEXT,
    firmware     TEXT,
    hardware     TEXT,
    serial       TEXT,
    plc_name     TEXT,
    module_name  TEXT,
    plant_id     TEXT,
    module_type  TEXT,
    source       TEXT,
    seen         INTEGER
) WITHOUT ROWID;
CREATE TABLE identity_changes (
    address TEXT NOT NULL REFERENCES devices (address) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    field   TEXT NOT NULL,
    old     TEXT NOT NULL,
    new     TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    frame   INTEGER NOT NULL,
    PRIMARY KEY (address, seq)
) WITHOUT ROWID;
CREATE TABLE talkers (
    plc        TEXT NOT NULL REFERENCES devices (address) ON DELETE CASCADE,
    talker     TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    baseline   INTEGER NOT NULL,
    PRIMARY KEY (plc, talker)
) WITHOUT ROWID;
CREATE TABLE functions (
    plc        TEXT NOT NULL,
    talker     TEXT NOT NULL,
    function   TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    baseline   INTEGER NOT NULL,
    PRIMARY KEY (plc, talker, function),
    FOREIGN KEY (plc, talker) REFERENCES talkers (plc, talker) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE state_changes (
    address TEXT NOT NULL REFERENCES devices (address) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    ts      INTEGER NOT NULL,
    state   TEXT NOT NULL,
    by      TEXT,
    PRIMARY KEY (address, seq)
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('application', 's7sentry'), ('schema_version', '1');
INSERT INTO fleet (id, mode, mode_ts, evicted, generation, baseline_epoch) VALUES (1, 'off', NULL, 0, 0, 0);
";

/// One schema step: the SQL that turns version `to - 1` into version `to`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub(crate) to: i64,
    pub(crate) sql: &'static str,
}

/// Every schema step, oldest first. Version 0 is an empty database.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration { to: 1, sql: SCHEMA_V1 }];

/// Device rows in the order they are written.
const DEVICE_UPSERT: &str = "INSERT INTO devices (address, role, first_seen, last_seen, baseline, tsaps, pdu_size, \
     amq_calling, amq_called, s7comm, s7comm_plus, tls) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
     ON CONFLICT (address) DO UPDATE SET role = excluded.role, first_seen = excluded.first_seen, \
     last_seen = excluded.last_seen, baseline = excluded.baseline, tsaps = excluded.tsaps, \
     pdu_size = excluded.pdu_size, amq_calling = excluded.amq_calling, amq_called = excluded.amq_called, \
     s7comm = excluded.s7comm, s7comm_plus = excluded.s7comm_plus, tls = excluded.tls";
const IDENTITY_UPSERT: &str = "INSERT INTO identity (address, order_number, firmware, hardware, serial, plc_name, \
     module_name, plant_id, module_type, source, seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
     ON CONFLICT (address) DO UPDATE SET order_number = excluded.order_number, firmware = excluded.firmware, \
     hardware = excluded.hardware, serial = excluded.serial, plc_name = excluded.plc_name, \
     module_name = excluded.module_name, plant_id = excluded.plant_id, module_type = excluded.module_type, \
     source = excluded.source, seen = excluded.seen";
const CHANGE_INSERT: &str =
    "INSERT INTO identity_changes (address, seq, field, old, new, ts, frame) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const TALKER_UPSERT: &str = "INSERT INTO talkers (plc, talker, first_seen, last_seen, baseline) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (plc, talker) DO UPDATE SET first_seen = excluded.first_seen, \
     last_seen = excluded.last_seen, baseline = excluded.baseline";
const FUNCTION_UPSERT: &str = "INSERT INTO functions (plc, talker, function, first_seen, last_seen, count, baseline) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (plc, talker, function) DO UPDATE SET \
     first_seen = excluded.first_seen, last_seen = excluded.last_seen, count = excluded.count, \
     baseline = excluded.baseline";
const STATE_INSERT: &str = "INSERT INTO state_changes (address, seq, ts, state, by) VALUES (?1, ?2, ?3, ?4, ?5)";

/// u64 ↔ SQLite integer: the same 64 bits.
fn to_db(v: u64) -> i64 {
    v as i64
}
fn from_db(v: i64) -> u64 {
    v as u64
}

fn role_from(s: &str) -> Option<Role> {
    [Role::Unknown, Role::Plc, Role::Hmi, Role::EngineeringStation].into_iter().find(|r| r.name() == s)
}

fn baseline_cols(b: Baseline) -> (&'static str, Option<i64>) {
    match b {
        Baseline::Off => ("off", None),
        Baseline::Learning { until } => ("learning", Some(until.0)),
        Baseline::Frozen { since } => ("frozen", Some(since.0)),
    }
}

impl Store {
    /// Opens the state file at `path`, creating it (and an empty fleet) when it
    /// does not exist, and migrating an older schema. Sets WAL journal,
    /// `synchronous=FULL`, foreign keys and a busy timeout of [`BUSY_TIMEOUT`].
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_inner(path.as_ref(), true, MIGRATIONS)
    }

    /// Like [`Store::open`], but the file must already exist
    /// ([`StoreError::Missing`] otherwise): for commands that only read or
    /// adjust a state a sensor wrote.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_inner(path.as_ref(), false, MIGRATIONS)
    }

    /// Opens an existing state file read-only (`inventory`, `baseline show`):
    /// nothing is ever written to it — no schema migration, no journal-mode
    /// change, and an empty (0-byte) or non-SQLite file is an error that leaves
    /// it as it is. A state of an older schema must be opened read-write once
    /// (a sensor or `replay --state` migrates it).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        let p = || path.to_path_buf();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Err(StoreError::NotSqlite { path: p(), detail: "it is a directory".into() }),
            Ok(m) if m.len() == 0 => {
                return Err(StoreError::NotSqlite { path: p(), detail: "the file is empty (0 bytes)".into() })
            }
            Ok(_) => check_header(path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::Missing { path: p() }),
            Err(e) => return Err(StoreError::Io { path: p(), source: e }),
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let (db, version, app, newest) = open_db(path, flags, MIGRATIONS)?;
        if app != APPLICATION_ID {
            return Err(StoreError::Foreign {
                path: p(),
                detail: format!("application_id {app:#x}, user_version {version}"),
            });
        }
        if version < newest {
            return Err(StoreError::OlderSchema { path: p(), found: version, newest });
        }
        let mut store = Store { db, path: p(), saved: None, generation: 0, epoch: 0 };
        store.check_meta()?;
        let (generation, epoch) = store.counters()?;
        store.generation = generation;
        store.epoch = epoch;
        Ok(store)
    }

    pub(crate) fn open_inner(path: &Path, create: bool, migrations: &[Migration]) -> Result<Store, StoreError> {
        let p = || path.to_path_buf();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(StoreError::NotSqlite { path: p(), detail: "it is a directory".into() });
            }
            Ok(m) if m.len() > 0 => check_header(path)?,
            // An empty file is not a state a sensor wrote: never turn it into one.
            Ok(_) if !create => {
                return Err(StoreError::NotSqlite { path: p(), detail: "the file is empty (0 bytes)".into() })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => {
                return Err(StoreError::Missing { path: p() })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io { path: p(), source: e }),
        }
        let flags = if create {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let sq = |context: &'static str| move |source: rusqlite::Error| classify(path, context, source);
        let (db, version, app, _) = open_db(path, flags, migrations)?;
        if app != APPLICATION_ID {
            let tables: i64 =
                db.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(sq("read schema"))?;
            if app != 0 || version != 0 || tables != 0 {
                return Err(StoreError::Foreign {
                    path: p(),
                    detail: format!("application_id {app:#x}, user_version {version}, {tables} schema objects"),
                });
            }
        }
        let mode: String =
            db.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0)).map_err(sq("set WAL journal"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sqlite {
                path: p(),
                context: "set WAL journal",
                source: rusqlite::Error::InvalidQuery,
            });
        }
        db.pragma_update(None, "synchronous", "FULL").map_err(sq("set synchronous=FULL"))?;
        db.pragma_update(None, "foreign_keys", true).map_err(sq("enable foreign keys"))?;
        let mut store = Store { db, path: p(), saved: None, generation: 0, epoch: 0 };
        store.migrate(version, migrations)?;
        store.check_meta()?;
        let (generation, epoch) = store.counters()?;
        store.generation = generation;
        store.epoch = epoch;
        Ok(store)
    }

    /// Runs the migrations after `from`, each in its own transaction.
    pub(crate) fn migrate(&mut self, from: i64, migrations: &[Migration]) -> Result<(), StoreError> {
        let path = &self.path.clone();
        let sq = |context: &'static str| move |source: rusqlite::Error| classify(path, context, source);
        for m in migrations.iter().filter(|m| m.to > from) {
            let tx = self.db.transaction_with_behavior(TransactionBehavior::Exclusive).map_err(sq("migrate"))?;
            // Another process may have migrated meanwhile.
            let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sq("migrate"))?;
            if now >= m.to {
                continue;
            }
            tx.execute_batch(m.sql).map_err(sq("migrate schema"))?;
            tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)", [m.to.to_string()])
                .map_err(sq("migrate schema"))?;
            tx.pragma_update(None, "user_version", m.to).map_err(sq("migrate schema"))?;
            tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(sq("migrate schema"))?;
            tx.commit().map_err(sq("migrate schema"))?;
        }
        Ok(())
    }

    fn check_meta(&self) -> Result<(), StoreError> {
        let get = |k: &str| -> Result<Option<String>, StoreError> {
            self.db
                .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                .optional()
                .map_err(|e| classify(&self.path, "read meta", e))
        };
        let version: i64 = self.pragma_i64("user_version")?;
        match (get("application")?, get("schema_version")?) {
            (Some(a), Some(v)) if a == "s7sentry" && v == version.to_string() => Ok(()),
            (a, v) => Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!(
                    "meta table says application {a:?} schema_version {v:?}, PRAGMA user_version is {version}"
                ),
            }),
        }
    }

    fn pragma_i64(&self, name: &str) -> Result<i64, StoreError> {
        self.db.pragma_query_value(None, name, |r| r.get(0)).map_err(|e| classify(&self.path, "read pragma", e))
    }

    fn counters(&self) -> Result<(i64, i64), StoreError> {
        self.db
            .query_row("SELECT generation, baseline_epoch FROM fleet WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| classify(&self.path, "read fleet row", e))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Name of the sensor that writes this state (`None`: not recorded, an
    /// older state or one written without a sensor name).
    pub fn sensor_name(&self) -> Result<Option<String>, StoreError> {
        self.db
            .query_row("SELECT value FROM meta WHERE key = 'sensor'", [], |r| r.get(0))
            .optional()
            .map_err(|e| classify(&self.path, "read meta", e))
    }

    /// Record the name of the sensor that writes this state (`inventory`
    /// merging several states names each device's sensors with it).
    pub fn set_sensor_name(&mut self, name: &str) -> Result<(), StoreError> {
        if self.sensor_name()?.as_deref() == Some(name) {
            return Ok(());
        }
        self.db
            .execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('sensor', ?1)", [name])
            .map(|_| ())
            .map_err(|e| classify(&self.path, "write meta", e))
    }

    /// Schema version of the open file (after migration: [`SCHEMA_VERSION`]).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.pragma_i64("user_version")
    }

    /// Number of committed saves since the file was created.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Runs `PRAGMA integrity_check`; `Err(Integrity)` lists the problems.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let mut stmt =
            self.db.prepare("PRAGMA integrity_check").map_err(|e| classify(&self.path, "integrity check", e))?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(|it| it.collect())
            .map_err(|e| classify(&self.path, "integrity check", e))?;
        if rows.len() == 1 && rows[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Integrity { path: self.path.clone(), problems: rows })
        }
    }

    /// Reads the whole fleet (the last committed save).
    pub fn load(&mut self) -> Result<Fleet, StoreError> {
        let path = self.path.clone();
        let tx =
            self.db.transaction_with_behavior(TransactionBehavior::Deferred).map_err(|e| classify(&path, "load", e))?;
        let fleet = read_fleet(&tx, &path)?;
        let (generation, epoch) = tx
            .query_row("SELECT generation, baseline_epoch FROM fleet WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| classify(&path, "load", e))?;
        tx.finish().map_err(|e| classify(&path, "load", e))?;
        self.generation = generation;
        self.epoch = epoch;
        self.saved = Some(fleet.clone());
        Ok(fleet)
    }

    /// Commits `fleet` in one transaction (incrementally against the last load
    /// or save), unless a `baseline` command changed the file's baseline
    /// meanwhile: then nothing is written and [`Saved::BaselineChanged`] says
    /// which mode to apply before saving again.
    pub fn save(&mut self, fleet: &Fleet) -> Result<Saved, StoreError> {
        self.save_inner(fleet, false)
    }

    /// Commits `fleet` as a baseline decision of the operator (`s7sentry
    /// baseline freeze|learn`): always written, and a sensor running on the
    /// same file adopts its baseline at its next save.
    pub fn save_baseline_change(&mut self, fleet: &Fleet) -> Result<SaveStats, StoreError> {
        match self.save_inner(fleet, true)? {
            Saved::Written(s) => Ok(s),
            // save_inner(force = true) never reports a baseline change.
            Saved::BaselineChanged(_) => Ok(SaveStats::default()),
        }
    }

    fn save_inner(&mut self, fleet: &Fleet, baseline_command: bool) -> Result<Saved, StoreError> {
        let started = Instant::now();
        let path = self.path.clone();
        let sq = |source: rusqlite::Error| classify(&path, "save", source);
        let tx = self.db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sq)?;
        let (generation, epoch): (i64, i64) = tx
            .query_row("SELECT generation, baseline_epoch FROM fleet WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sq)?;
        if epoch != self.epoch && !baseline_command {
            let (mode, ts): (String, Option<i64>) = tx
                .query_row("SELECT mode, mode_ts FROM fleet WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sq)?;
            let b = baseline_from(&mode, ts).ok_or_else(|| StoreError::Corrupt {
                path: path.clone(),
                detail: format!("fleet.mode {mode:?} mode_ts {ts:?}"),
            })?;
            drop(tx);
            self.epoch = epoch;
            // The command rewrote rows: our picture of the file is stale.
            self.saved = None;
            return Ok(Saved::BaselineChanged(b));
        }
        let snapshot = if generation == self.generation { self.saved.as_ref() } else { None };
        let full = snapshot.is_none();
        let mut w = Writer::new(&tx).map_err(sq)?;
        let mut changed: Vec<IpAddr> = Vec::new();
        match snapshot {
            None => {
                for t in ["functions", "talkers", "state_changes", "identity_changes", "identity", "devices"] {
                    tx.execute(&format!("DELETE FROM {t}"), []).map_err(sq)?;
                }
                for d in fleet.devices.values() {
                    w.insert_device(d).map_err(sq)?;
                }
                changed.extend(fleet.devices.keys());
            }
            Some(old) => {
                for (ip, d) in &fleet.devices {
                    match old.devices.get(ip) {
                        None => w.insert_device(d).map_err(sq)?,
                        Some(o) if o == d => continue,
                        Some(o) => w.update_device(o, d).map_err(sq)?,
                    }
                    changed.push(*ip);
                }
                for ip in old.devices.keys().filter(|ip| !fleet.devices.contains_key(ip)) {
                    w.rows += tx.execute("DELETE FROM devices WHERE address = ?1", [ip.to_string()]).map_err(sq)?;
                    changed.push(*ip);
                }
            }
        }
        let rows = w.rows;
        drop(w);
        let (mode, ts) = baseline_cols(fleet.baseline);
        let new_epoch = if baseline_command { epoch + 1 } else { epoch };
        tx.execute(
            "UPDATE fleet SET mode = ?1, mode_ts = ?2, evicted = ?3, generation = ?4, baseline_epoch = ?5 WHERE id = 1",
            params![mode, ts, to_db(fleet.evicted), generation + 1, new_epoch],
        )
        .map_err(sq)?;
        // Learned quirks: one JSON value in `meta`, rewritten only when they changed.
        if full || snapshot.is_some_and(|o| o.quirks != fleet.quirks) {
            if fleet.quirks.is_empty() {
                tx.execute("DELETE FROM meta WHERE key = 'learned_quirks'", []).map_err(sq)?;
            } else {
                let q = serde_json::to_string(&fleet.quirks).unwrap_or_else(|_| "{}".into());
                tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('learned_quirks', ?1)", [q])
                    .map_err(sq)?;
            }
        }
        // Learned storm rates: likewise.
        if full || snapshot.is_some_and(|o| o.storm_rates != fleet.storm_rates) {
            if fleet.storm_rates.is_empty() {
                tx.execute("DELETE FROM meta WHERE key = 'learned_storm_rates'", []).map_err(sq)?;
            } else {
                let list: Vec<LearnedRate> = fleet
                    .storm_rates
                    .iter()
                    .map(|(&(talker, plc), &rates)| LearnedRate { talker, plc, rates })
                    .collect();
                let v = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
                tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('learned_storm_rates', ?1)", [v])
                    .map_err(sq)?;
            }
        }
        tx.commit().map_err(sq)?;
        self.generation = generation + 1;
        self.epoch = new_epoch;
        // Bring our picture of the file up to date.
        match (&mut self.saved, full) {
            (Some(s), false) => {
                for ip in &changed {
                    match fleet.devices.get(ip) {
                        Some(d) => {
                            s.devices.insert(*ip, d.clone());
                        }
                        None => {
                            s.devices.remove(ip);
                        }
                    }
                }
                s.baseline = fleet.baseline;
                s.evicted = fleet.evicted;
                s.quirks.clone_from(&fleet.quirks);
                s.storm_rates.clone_from(&fleet.storm_rates);
            }
            _ => self.saved = Some(fleet.clone()),
        }
        Ok(Saved::Written(SaveStats {
            rows: rows + 1,
            devices_changed: changed.len(),
            full,
            elapsed: started.elapsed(),
        }))
    }
}

fn baseline_from(mode: &str, ts: Option<i64>) -> Option<Baseline> {
    match (mode, ts) {
        ("off", _) => Some(Baseline::Off),
        ("learning", Some(t)) => Some(Baseline::Learning { until: Ts(t) }),
        ("frozen", Some(t)) => Some(Baseline::Frozen { since: Ts(t) }),
        _ => None,
    }
}

/// Checks the 16-byte SQLite header of a non-empty file.
fn check_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(path).map_err(|e| StoreError::Io { path: path.to_path_buf(), source: e })?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StoreError::Io { path: path.to_path_buf(), source: e }),
        }
    }
    if &head[..n] == SQLITE_MAGIC.as_slice() {
        return Ok(());
    }
    let shown: String =
        head[..n].iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect();
    Err(StoreError::NotSqlite { path: path.to_path_buf(), detail: format!("it starts with {shown:?}") })
}

/// Opens `path` with `flags` and reads its header: (connection, `user_version`,
/// `application_id`, newest version of `migrations`); a file of a newer schema
/// is refused.
fn open_db(path: &Path, flags: OpenFlags, migrations: &[Migration]) -> Result<(Db, i64, i32, i64), StoreError> {
    let sq = |context: &'static str| move |source: rusqlite::Error| classify(path, context, source);
    let db = Db::open_with_flags(path, flags).map_err(sq("open"))?;
    db.busy_timeout(BUSY_TIMEOUT).map_err(sq("set busy timeout"))?;
    // Reading the header page: fails here on a file SQLite cannot use.
    let version: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sq("read schema version"))?;
    let app: i32 = db.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(sq("read application id"))?;
    let newest = migrations.last().map_or(0, |m| m.to);
    if version > newest {
        return Err(StoreError::NewerSchema { path: path.to_path_buf(), found: version, supported: newest });
    }
    Ok((db, version, app, newest))
}

/// Names the typical SQLite failures in words.
fn classify(path: &Path, context: &'static str, source: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(e, _) = &source {
        if e.code == rusqlite::ErrorCode::NotADatabase {
            return StoreError::NotSqlite { path: path.to_path_buf(), detail: source.to_string() };
        }
    }
    StoreError::Sqlite { path: path.to_path_buf(), context, source }
}

/// Prepared statements of one save.
struct Writer<'t> {
    tx: &'t Transaction<'t>,
    device: rusqlite::Statement<'t>,
    identity: rusqlite::Statement<'t>,
    change: rusqlite::Statement<'t>,
    talker: rusqlite::Statement<'t>,
    function: rusqlite::Statement<'t>,
    state: rusqlite::Statement<'t>,
    rows: usize,
}

impl<'t> Writer<'t> {
    fn new(tx: &'t Transaction<'t>) -> rusqlite::Result<Writer<'t>> {
        Ok(Writer {
            tx,
            device: tx.prepare(DEVICE_UPSERT)?,
            identity: tx.prepare(IDENTITY_UPSERT)?,
            change: tx.prepare(CHANGE_INSERT)?,
            talker: tx.prepare(TALKER_UPSERT)?,
            function: tx.prepare(FUNCTION_UPSERT)?,
            state: tx.prepare(STATE_INSERT)?,
            rows: 0,
        })
    }

    fn device_row(&mut self, d: &Device) -> rusqlite::Result<()> {
        let c = &d.connection;
        let tsaps = serde_json::to_string(&c.tsaps).unwrap_or_else(|_| "[]".into());
        self.rows += self.device.execute(params![
            d.address.to_string(),
            d.role.name(),
            d.first_seen.0,
            d.last_seen.0,
            d.baseline,
            tsaps,
            c.pdu_size,
            c.amq.map(|a| a.0),
            c.amq.map(|a| a.1),
            c.s7comm,
            c.s7comm_plus,
            c.tls
        ])?;
        Ok(())
    }

    fn identity_row(&mut self, a: &str, i: &Identity) -> rusqlite::Result<()> {
        self.rows += self.identity.execute(params![
            a,
            i.order_number,
            i.firmware,
            i.hardware,
            i.serial,
            i.plc_name,
            i.module_name,
            i.plant_id,
            i.module_type,
            i.source,
            i.seen.map(|t| t.0)
        ])?;
        Ok(())
    }

    fn change_rows(&mut self, a: &str, changes: &[IdentityChange], from: usize) -> rusqlite::Result<()> {
        for (seq, c) in changes.iter().enumerate().skip(from) {
            self.rows += self.change.execute(params![a, seq as i64, c.field, c.old, c.new, c.ts.0, to_db(c.frame)])?;
        }
        Ok(())
    }

    fn state_rows(&mut self, a: &str, changes: &[StateChange]) -> rusqlite::Result<()> {
        for (seq, s) in changes.iter().enumerate() {
            self.rows += self.state.execute(params![a, seq as i64, s.ts.0, s.state, s.by.map(|b| b.to_string())])?;
        }
        Ok(())
    }

    fn talker_row(&mut self, a: &str, t: &str, v: &Talker) -> rusqlite::Result<()> {
        self.rows += self.talker.execute(params![a, t, v.first_seen.0, v.last_seen.0, v.baseline])?;
        Ok(())
    }

    fn function_row(&mut self, a: &str, t: &str, name: &str, f: &FunctionSeen) -> rusqlite::Result<()> {
        self.rows +=
            self.function.execute(params![a, t, name, f.first_seen.0, f.last_seen.0, to_db(f.count), f.baseline])?;
        Ok(())
    }

    fn insert_device(&mut self, d: &Device) -> rusqlite::Result<()> {
        let a = d.address.to_string();
        self.device_row(d)?;
        self.identity_row(&a, &d.identity)?;
        self.change_rows(&a, &d.changes, 0)?;
        self.state_rows(&a, &d.state_changes)?;
        for (ip, t) in &d.talkers {
            let ts = ip.to_string();
            self.talker_row(&a, &ts, t)?;
            for (name, f) in &t.functions {
                self.function_row(&a, &ts, name, f)?;
            }
        }
        Ok(())
    }

    /// Writes what differs between `o` (committed) and `d` (same address).
    fn update_device(&mut self, o: &Device, d: &Device) -> rusqlite::Result<()> {
        let a = d.address.to_string();
        if (o.role, o.first_seen, o.last_seen, o.baseline, &o.connection)
            != (d.role, d.first_seen, d.last_seen, d.baseline, &d.connection)
        {
            self.device_row(d)?;
        }
        if o.identity != d.identity {
            self.identity_row(&a, &d.identity)?;
        }
        if o.changes != d.changes {
            if d.changes.starts_with(&o.changes) {
                self.change_rows(&a, &d.changes, o.changes.len())?;
            } else {
                self.rows += self.tx.execute("DELETE FROM identity_changes WHERE address = ?1", [&a])?;
                self.change_rows(&a, &d.changes, 0)?;
            }
        }
        if o.state_changes != d.state_changes {
            self.rows += self.tx.execute("DELETE FROM state_changes WHERE address = ?1", [&a])?;
            self.state_rows(&a, &d.state_changes)?;
        }
        if o.talkers != d.talkers {
            for (ip, t) in &d.talkers {
                let old = o.talkers.get(ip);
                if old == Some(t) {
                    continue;
                }
                let ts = ip.to_string();
                if old
                    .is_none_or(|x| (x.first_seen, x.last_seen, x.baseline) != (t.first_seen, t.last_seen, t.baseline))
                {
                    self.talker_row(&a, &ts, t)?;
                }
                for (name, f) in &t.functions {
                    if old.and_then(|x| x.functions.get(name)) != Some(f) {
                        self.function_row(&a, &ts, name, f)?;
                    }
                }
                if let Some(x) = old {
                    for name in x.functions.keys().filter(|n| !t.functions.contains_key(*n)) {
                        self.rows += self.tx.execute(
                            "DELETE FROM functions WHERE plc = ?1 AND talker = ?2 AND function = ?3",
                            params![a, ts, name],
                        )?;
                    }
                }
            }
            for ip in o.talkers.keys().filter(|ip| !d.talkers.contains_key(ip)) {
                self.rows += self
                    .tx
                    .execute("DELETE FROM talkers WHERE plc = ?1 AND talker = ?2", params![a, ip.to_string()])?;
            }
        }
        Ok(())
    }
}

/// Reads every table into a fleet.
fn read_fleet(tx: &Transaction<'_>, path: &Path) -> Result<Fleet, StoreError> {
    let sq = |source: rusqlite::Error| classify(path, "load", source);
    let corrupt = |detail: String| StoreError::Corrupt { path: path.to_path_buf(), detail };
    let ip = |table: &str, col: &str, s: &str| -> Result<IpAddr, StoreError> {
        s.parse().map_err(|_| corrupt(format!("{table}.{col} {s:?} is not an IP address")))
    };
    let (mode, ts, evicted): (String, Option<i64>, i64) = tx
        .query_row("SELECT mode, mode_ts, evicted FROM fleet WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(sq)?;
    let baseline = baseline_from(&mode, ts).ok_or_else(|| corrupt(format!("fleet.mode {mode:?} mode_ts {ts:?}")))?;
    let mut devices: BTreeMap<IpAddr, Device> = BTreeMap::new();

    type DeviceRow = (String, String, i64, i64, bool, String, Option<u16>, Option<u16>, Option<u16>, bool, bool, bool);
    let mut stmt = tx
        .prepare(
            "SELECT address, role, first_seen, last_seen, baseline, tsaps, pdu_size, amq_calling, amq_called, \
             s7comm, s7comm_plus, tls FROM devices",
        )
        .map_err(sq)?;
    let rows: Vec<DeviceRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
            ))
        })
        .and_then(|it| it.collect())
        .map_err(sq)?;
    for (addr, role, first, last, base, tsaps, pdu, amq_a, amq_b, s7, s7p, tls) in rows {
        let address = ip("devices", "address", &addr)?;
        let role = role_from(&role).ok_or_else(|| corrupt(format!("devices.role {role:?} of {addr}")))?;
        let tsaps: Vec<String> = serde_json::from_str(&tsaps)
            .map_err(|e| corrupt(format!("devices.tsaps of {addr} is not a JSON list of strings: {e}")))?;
        let amq = match (amq_a, amq_b) {
            (Some(x), Some(y)) => Some((x, y)),
            (None, None) => None,
            _ => return Err(corrupt(format!("devices.amq_calling/amq_called of {addr}: only one is set"))),
        };
        let mut d = Device::new(address, Ts(first));
        d.role = role;
        d.last_seen = Ts(last);
        d.baseline = base;
        d.connection = Connection { tsaps, pdu_size: pdu, amq, s7comm: s7, s7comm_plus: s7p, tls };
        devices.insert(address, d);
    }
    drop(stmt);

    let get_dev = |table: &str, addr: &str| -> Result<IpAddr, StoreError> {
        let a = ip(table, "address", addr)?;
        if devices.contains_key(&a) {
            Ok(a)
        } else {
            Err(corrupt(format!("{table} row for {addr}, which is not in devices")))
        }
    };
    let mut identities: Vec<(IpAddr, Identity)> = Vec::new();
    let mut stmt = tx
        .prepare(
            "SELECT address, order_number, firmware, hardware, serial, plc_name, module_name, plant_id, \
             module_type, source, seen FROM identity",
        )
        .map_err(sq)?;
    let mut rows = stmt.query([]).map_err(sq)?;
    while let Some(r) = rows.next().map_err(sq)? {
        let addr: String = r.get(0).map_err(sq)?;
        let seen: Option<i64> = r.get(10).map_err(sq)?;
        let i = Identity {
            order_number: r.get(1).map_err(sq)?,
            firmware: r.get(2).map_err(sq)?,
            hardware: r.get(3).map_err(sq)?,
            serial: r.get(4).map_err(sq)?,
            plc_name: r.get(5).map_err(sq)?,
            module_name: r.get(6).map_err(sq)?,
            plant_id: r.get(7).map_err(sq)?,
            module_type: r.get(8).map_err(sq)?,
            source: r.get(9).map_err(sq)?,
            seen: seen.map(Ts),
        };
        identities.push((get_dev("identity", &addr)?, i));
    }
    drop(rows);
    drop(stmt);

    let mut changes: Vec<(IpAddr, IdentityChange)> = Vec::new();
    let mut stmt = tx
        .prepare("SELECT address, field, old, new, ts, frame FROM identity_changes ORDER BY address, seq")
        .map_err(sq)?;
    let mut rows = stmt.query([]).map_err(sq)?;
    while let Some(r) = rows.next().map_err(sq)? {
        let addr: String = r.get(0).map_err(sq)?;
        let c = IdentityChange {
            field: r.get(1).map_err(sq)?,
            old: r.get(2).map_err(sq)?,
            new: r.get(3).map_err(sq)?,
            ts: Ts(r.get(4).map_err(sq)?),
            frame: from_db(r.get(5).map_err(sq)?),
        };
        changes.push((get_dev("identity_changes", &addr)?, c));
    }
    drop(rows);
    drop(stmt);

    let mut states: Vec<(IpAddr, StateChange)> = Vec::new();
    let mut stmt = tx.prepare("SELECT address, ts, state, by FROM state_changes ORDER BY address, seq").map_err(sq)?;
    let mut rows = stmt.query([]).map_err(sq)?;
    while let Some(r) = rows.next().map_err(sq)? {
        let addr: String = r.get(0).map_err(sq)?;
        let by: Option<String> = r.get(3).map_err(sq)?;
        let by = by.map(|b| ip("state_changes", "by", &b)).transpose()?;
        let s = StateChange { ts: Ts(r.get(1).map_err(sq)?), state: r.get(2).map_err(sq)?, by };
        states.push((get_dev("state_changes", &addr)?, s));
    }
    drop(rows);
    drop(stmt);

    let mut talkers: Vec<(IpAddr, IpAddr, Talker)> = Vec::new();
    let mut stmt = tx.prepare("SELECT plc, talker, first_seen, last_seen, baseline FROM talkers").map_err(sq)?;
    let mut rows = stmt.query([]).map_err(sq)?;
    while let Some(r) = rows.next().map_err(sq)? {
        let plc: String = r.get(0).map_err(sq)?;
        let t: String = r.get(1).map_err(sq)?;
        let v = Talker {
            first_seen: Ts(r.get(2).map_err(sq)?),
            last_seen: Ts(r.get(3).map_err(sq)?),
            baseline: r.get(4).map_err(sq)?,
            functions: BTreeMap::new(),
        };
        talkers.push((get_dev("talkers", &plc)?, ip("talkers", "talker", &t)?, v));
    }
    drop(rows);
    drop(stmt);

    let mut functions: Vec<(IpAddr, IpAddr, String, FunctionSeen)> = Vec::new();
    let mut stmt = tx
        .prepare("SELECT plc, talker, function, first_seen, last_seen, count, baseline FROM functions")
        .map_err(sq)?;
    let mut rows = stmt.query([]).map_err(sq)?;
    while let Some(r) = rows.next().map_err(sq)? {
        let plc: String = r.get(0).map_err(sq)?;
        let t: String = r.get(1).map_err(sq)?;
        let f = FunctionSeen {
            first_seen: Ts(r.get(3).map_err(sq)?),
            last_seen: Ts(r.get(4).map_err(sq)?),
            count: from_db(r.get(5).map_err(sq)?),
            baseline: r.get(6).map_err(sq)?,
        };
        functions.push((get_dev("functions", &plc)?, ip("functions", "talker", &t)?, r.get(2).map_err(sq)?, f));
    }
    drop(rows);
    drop(stmt);

    for (a, i) in identities {
        if let Some(d) = devices.get_mut(&a) {
            d.identity = i;
        }
    }
    for (a, c) in changes {
        if let Some(d) = devices.get_mut(&a) {
            d.changes.push(c);
        }
    }
    for (a, s) in states {
        if let Some(d) = devices.get_mut(&a) {
            d.state_changes.push(s);
        }
    }
    for (a, t, v) in talkers {
        if let Some(d) = devices.get_mut(&a) {
            d.talkers.insert(t, v);
        }
    }
    for (a, t, name, f) in functions {
        let talker = devices.get_mut(&a).and_then(|d| d.talkers.get_mut(&t));
        match talker {
            Some(x) => {
                x.functions.insert(name, f);
            }
            None => return Err(corrupt(format!("functions row for {a} / {t}, which is not in talkers"))),
        }
    }
    let quirks: Option<String> =
        tx.query_row("SELECT value FROM meta WHERE key = 'learned_quirks'", [], |r| r.get(0)).optional().map_err(sq)?;
    let quirks = match quirks {
        Some(q) => serde_json::from_str(&q).map_err(|e| corrupt(format!("meta.learned_quirks: {e}")))?,
        None => BTreeMap::new(),
    };
    let mut fleet = Fleet { devices, baseline, evicted: from_db(evicted), quirks, ..Fleet::default() };
    let rates: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = 'learned_storm_rates'", [], |r| r.get(0))
        .optional()
        .map_err(sq)?;
    if let Some(v) = rates {
        let list: Vec<LearnedRate> =
            serde_json::from_str(&v).map_err(|e| corrupt(format!("meta.learned_storm_rates: {e}")))?;
        // Through the fleet's cap (a pair beyond it is counted in `evicted`).
        for e in list {
            let _ = fleet.learn_storm_rates(e.talker, e.plc, e.rates);
        }
    }
    Ok(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("s7sentry-store-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("state.db")
    }

    fn fleet() -> Fleet {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mut d = Device::new(a, Ts(1));
        d.role = Role::Plc;
        d.identity.firmware = Some("V2.9.2".into());
        Fleet {
            devices: [(a, d)].into_iter().collect(),
            baseline: Baseline::Frozen { since: Ts(5) },
            evicted: 1,
            quirks: [(a, vec!["malformed.cotp".to_string()])].into_iter().collect(),
            ..Fleet::default()
        }
    }

    /// A future schema step: version 1 files open in a build that knows
    /// version 2, keep their data, and then refuse the version-1 build.
    #[test]
    fn older_schema_is_migrated_and_then_refused_by_the_older_build() {
        let path = tmp("migrate");
        let v2 = [MIGRATIONS[0], Migration { to: 2, sql: "ALTER TABLE devices ADD COLUMN note TEXT;" }];
        {
            let mut s = Store::open_inner(&path, true, MIGRATIONS).unwrap();
            assert_eq!(s.schema_version().unwrap(), 1);
            assert!(matches!(s.save(&fleet()).unwrap(), Saved::Written(_)));
        }
        {
            let mut s = Store::open_inner(&path, false, &v2).unwrap();
            assert_eq!(s.schema_version().unwrap(), 2);
            assert_eq!(s.load().unwrap(), fleet());
            let meta: String =
                s.db.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).unwrap();
            assert_eq!(meta, "2");
            let cols: i64 = s
                .db
                .query_row("SELECT count(*) FROM pragma_table_info('devices') WHERE name = 'note'", [], |r| r.get(0))
                .unwrap();
            assert_eq!(cols, 1);
            s.integrity_check().unwrap();
        }
        match Store::open_inner(&path, false, MIGRATIONS) {
            Err(StoreError::NewerSchema { found: 2, supported: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn u64_bit_patterns_round_trip() {
        for v in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(from_db(to_db(v)), v);
        }
    }
}
