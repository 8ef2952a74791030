//! Persistence under SIGKILL: a child process (this test binary re-executed
//! with `S7SENTRY_STORE_WRITER` set) saves large fleets in a loop; the parent
//! kills it at random moments, several times, and after each kill checks that
//! the file passes `PRAGMA integrity_check` and holds exactly one of the
//! committed fleets — the last one the child reported, or the one it was
//! committing when it died — never an older one, never a mixture.

mod common;

use common::{big_fleet, TempDir};
use s7sentry_inventory::{Saved, Store};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ENV: &str = "S7SENTRY_STORE_WRITER";
/// PLCs per fleet: 2 000 PLCs, about 20 000 rows on a full save.
const PLCS: u32 = 2000;

/// The child: resumes from the committed version and keeps saving the next
/// ones. Prints `begin N` before and `commit N` after each save.
#[test]
fn writer_child() {
    let Some(path) = std::env::var_os(ENV) else { return };
    let mut store = Store::open(&path).expect("child: open");
    let loaded = store.load().expect("child: load");
    let mut v = if loaded.devices.is_empty() { 0 } else { loaded.evicted + 1 };
    let mut out = std::io::stdout().lock();
    loop {
        writeln!(out, "begin {v}").unwrap();
        out.flush().unwrap();
        // Every fourth version is saved through a fresh handle: a full rewrite.
        if v % 4 == 2 {
            store = Store::open(&path).expect("child: reopen");
        }
        match store.save(&big_fleet(PLCS, v)).expect("child: save") {
            Saved::Written(_) => {}
            Saved::BaselineChanged(b) => panic!("child: unexpected baseline change {b:?}"),
        }
        writeln!(out, "commit {v}").unwrap();
        out.flush().unwrap();
        v += 1;
    }
}

/// xorshift64*: kill delays without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[derive(Debug, Default)]
struct Seen {
    last_begin: Option<u64>,
    last_commit: Option<u64>,
}

#[test]
fn sigkill_mid_write_loses_nothing_committed() {
    let dir = TempDir::new("kill");
    let path = dir.file("state.db");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().unwrap();
    let mut kills = 0;
    let mut mid_write = 0;
    let mut highest_commit: Option<u64> = None;
    let started = Instant::now();
    while kills < 6 || (mid_write < 3 && kills < 40) {
        let mut child = Command::new(&exe)
            .args(["writer_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Let it commit at least once, then kill after a random 0-300 ms.
        let mut seen = Seen::default();
        let record = |line: &str, seen: &mut Seen| {
            if let Some(n) = line.strip_prefix("begin ") {
                seen.last_begin = n.parse().ok();
            } else if let Some(n) = line.strip_prefix("commit ") {
                seen.last_commit = n.parse().ok();
            }
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.last_commit.is_none() {
            let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("child commits");
            record(&line, &mut seen);
        }
        std::thread::sleep(Duration::from_millis(rng.next() % 300));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        for line in rx.try_iter() {
            record(&line, &mut seen);
        }
        kills += 1;
        let committed = seen.last_commit.unwrap();
        let in_flight = seen.last_begin.filter(|b| *b > committed);
        if in_flight.is_some() {
            mid_write += 1;
        }

        // The file: intact, and exactly the last committed fleet or the one in flight.
        let mut s = Store::open(&path).expect("reopen after kill");
        s.integrity_check().expect("integrity after kill");
        let fleet = s.load().expect("load after kill");
        let v = fleet.evicted;
        assert!(
            v == committed || Some(v) == in_flight,
            "kill {kills}: file holds version {v}, child reported commit {committed}, in flight {in_flight:?}"
        );
        assert_eq!(fleet, big_fleet(PLCS, v), "kill {kills}: version {v} differs from what was saved");
        assert!(highest_commit.is_none_or(|h| v >= h), "kill {kills}: went back from {highest_commit:?} to {v}");
        highest_commit = Some(v);
        assert!(started.elapsed() < Duration::from_secs(600), "took too long");
    }
    eprintln!("{kills} kills, {mid_write} during a save, last version {highest_commit:?}");
    assert!(mid_write >= 1, "no kill landed during a save ({kills} kills)");
}
