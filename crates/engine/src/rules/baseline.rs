//! Family `baseline`: the passive asset inventory (issue 6) and the alerts it
//! raises when the fleet changes.
//!
//! Off by default: the [`Detector`](super::Detector) holds no tracker until
//! [`Detector::enable_assets`](super::Detector::enable_assets) hands it a [`Fleet`] (empty, or loaded from the
//! inventory store), so detection without an inventory pays one `Option`
//! check per event. With tracking on, the tracker fills the fleet from the
//! events the other rules see:
//!
//! * **PLCs** are the server side of ISO-on-TCP connections that *answer*
//!   (COTP, S7comm, S7comm-plus or TLS from port 102); nothing is recorded for
//!   a connection until the server answered, so scans and spoofed requests
//!   create no device. Requests seen before the first answer are kept (up to
//!   [`MAX_PENDING`] distinct functions) and recorded when it comes.
//! * **Identity** (see [`Identity`](crate::assets::Identity)): SZL answers to reads of module
//!   identification (SZL xy11: order number of record 1, hardware version of
//!   record 6 or 1, firmware `V x.y.z` of record 7) and component
//!   identification (SZL xy1C: PLC name 1, module name 2, plant id 3, serial
//!   number 5, module type 7), fragmented answers reassembled by the engine;
//!   an answer is used only when the connection asked for that SZL (or when no
//!   request was seen, for captures that start mid-connection). S7comm-plus
//!   CreateObject answers carry `order number ;V<firmware>`.
//! * **Connection facts**: the destination TSAP of each COTP CR the PLC
//!   confirmed (rack/slot, or `SIMATIC-ROOT-ES` / `SIMATIC-ROOT-HMI`), PDU size
//!   and AmQ of the latest Setup Communication answer, S7comm / S7comm-plus /
//!   TLS use.
//! * **Talkers** and their **functions** ([`FunctionKind`]; the same
//!   classification the `control` rules use), first and last seen, counts.
//!   New things are recorded at once; last-seen times and use counts of a
//!   connection reach the fleet at most once a second of packet time, and
//!   exactly when the connection ends.
//! * **Roles** of clients (see the module documentation of
//!   [`crate::assets`]).
//! * **Operating-state changes**: STOP / START requests (S7comm and
//!   S7comm-plus) the PLC confirmed, and the mode-transition messages a PLC
//!   pushes (`stop`, `startup`, `run`, `hold`).
//!
//! ## Rules
//!
//! * `baseline.asset_change`: a device reports a firmware version, order
//!   number or serial number different from the one it reported before
//!   (whenever tracking is on). `V2.9` (S7comm-plus) and `V2.9.2` (SZL) agree;
//!   the more precise value is kept.
//! * `baseline.new_talker` (only while the baseline is frozen): a host talks to
//!   a PLC it never talked to before, or a new PLC answers (graded at most
//!   medium).
//! * `baseline.new_function` (only while frozen): a talker of the baseline uses
//!   a function it never used towards that PLC, or any talker uses a control
//!   function it never used. Control functions get the rule's severity, writes
//!   at most medium, everything else at most low.
//!
//! Each is raised once per new thing, which is then remembered (with
//! `baseline: false`), and never aggregated. With `--learn DURATION`
//! ([`Detector::set_learning`](super::Detector::set_learning)) the baseline learns from the first packet for
//! that long (packet time) and then freezes on its own.

use super::catalog::{ASSET_CHANGE, NEW_FUNCTION, NEW_TALKER};
use super::classify::{cotp_function, plus_request_function};
use super::ctx::Ctx;
use super::{ev, Category, Core, FastMap, Raise, Severity};
use crate::assets::{
    talker_entry, versions_agree, Baseline, Device, Fleet, FunctionKind, IdentityChange, Role, StateChange,
    MAX_CHANGES, MAX_STATE_CHANGES, MAX_TSAPS,
};
use crate::event::{Direction, Event, Meta, UdFragment};
use crate::time::Ts;
use s7sentry_proto::cotp::TpduCode;
use s7sentry_proto::s7comm::{Function, Rosctr, S7Pdu};
use s7sentry_proto::s7plus::PlusFrame;
use serde_json::json;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Distinct functions remembered per connection before the server first answers.
pub const MAX_PENDING: usize = 8;

/// Longest TSAP remembered from a CR (longer ones are not recorded).
const MAX_TSAP_LEN: usize = 32;

/// SZL requests seen on a connection (bits of [`TrackFlow::szl_asked`]).
const SZL_ANY: u8 = 1;
const SZL_MODULE: u8 = 2;
const SZL_COMPONENT: u8 = 4;

/// The inventory observer owned by the [`Detector`](super::Detector) while tracking is on.
#[derive(Debug)]
pub(crate) struct AssetTracker {
    pub(crate) fleet: Fleet,
    /// Bumped on every change, last-seen times and counters included.
    pub(crate) generation: u64,
    /// Bumped on changes other than times and counters.
    pub(crate) revision: u64,
    flows: FastMap<u64, TrackFlow>,
}

/// Per-connection tracking state.
#[derive(Debug)]
struct TrackFlow {
    client: IpAddr,
    server: IpAddr,
    /// First event of the connection (preferably a client request).
    first: Meta,
    first_is_request: bool,
    answered: bool,
    /// The talker could not be stored (caps): nothing more is recorded for this connection.
    dropped: bool,
    /// Functions requested before the first answer: (function, frame, time);
    /// their packets are `first` with this frame and time.
    pending: [Option<(FunctionKind, u64, Ts)>; MAX_PENDING],
    tsap: [u8; MAX_TSAP_LEN],
    tsap_len: usize,
    szl_asked: u8,
    /// Last-seen times of the PLC, the client and the talker are refreshed at
    /// most once per [`TOUCH_EVERY_MS`] (and at the end of the connection).
    next_touch: Ts,
    /// Functions already recorded for this connection's talker, with the uses
    /// counted since the last refresh (added to the fleet by the next one).
    uses: [Option<Use>; MAX_PENDING],
    /// Connection facts already written to the PLC's entry (`NOTED_*`).
    noted: u8,
}

/// Uses of one function on a connection not yet added to the fleet.
#[derive(Debug, Clone, Copy)]
struct Use {
    kind: FunctionKind,
    count: u64,
    last: Ts,
}

const NOTED_S7COMM: u8 = 1;
const NOTED_S7PLUS: u8 = 2;
const NOTED_TLS: u8 = 4;

/// Granularity of last-seen times while a connection lasts.
const TOUCH_EVERY_MS: u64 = 1_000;

impl AssetTracker {
    pub(crate) fn new(fleet: Fleet) -> AssetTracker {
        AssetTracker { fleet, generation: 1, revision: 1, flows: FastMap::default() }
    }

    fn changed(&mut self) {
        self.revision += 1;
        self.generation += 1;
    }
}

/// Text of a small value built on the stack (no allocation unless stored).
struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    fn new() -> Self {
        StackStr { buf: [0; N], len: 0 }
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> core::fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let b = s.as_bytes();
        let end = self.len + b.len();
        if end > N {
            return Err(core::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

/// Learning → frozen transitions at packet time `ts`; the learning period
/// (`learn`, taken on the first call) starts at the first packet seen with
/// tracking on.
pub(crate) fn advance(t: &mut AssetTracker, learn: &mut Option<std::time::Duration>, ts: Ts) {
    if let Some(dur) = learn.take() {
        if t.fleet.baseline == Baseline::Off {
            let ns = i64::try_from(dur.as_nanos()).unwrap_or(i64::MAX);
            t.fleet.baseline = Baseline::Learning { until: Ts(ts.0.saturating_add(ns)) };
            t.changed();
        }
    }
    if let Baseline::Learning { until } = t.fleet.baseline {
        if ts >= until {
            t.fleet.freeze(until);
            t.changed();
        }
    }
}

/// Handle one event (tracking on).
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    let Some(mut t) = d.assets.take() else { return };
    if let Some(m) = meta_of(e) {
        advance(&mut t, &mut d.learn, m.ts);
    }
    handle(d, cx, &mut t, e);
    // A connection not answered yet whose first event this was: its first
    // answer raises the baseline alerts at this packet (the alert floor stays below it).
    let first = meta_of(e).filter(|m| unanswered_since(&t, m.flow) == Some((m.ts, m.frame))).copied();
    d.assets = Some(t);
    if let Some(m) = first {
        d.wait(&m, super::Waiting::Unanswered(m.flow));
    }
}

/// (ts, frame) of the first event (preferably request) of connection `flow`
/// while it is tracked and not answered yet: new-talker and new-function
/// alerts raised at its first answer carry it or a later request.
pub(crate) fn unanswered_since(t: &AssetTracker, flow: u64) -> Option<(Ts, u64)> {
    t.flows.get(&flow).filter(|f| !f.answered && !f.dropped).map(|f| (f.first.ts, f.first.frame))
}

fn meta_of<'m>(e: &'m Event<'_>) -> Option<&'m Meta> {
    match e {
        Event::Cotp { meta, .. } | Event::S7 { meta, .. } | Event::S7Plus { meta, .. } | Event::Tls { meta, .. } => {
            Some(meta)
        }
        _ => None,
    }
}

fn handle(d: &mut Core, cx: &mut Ctx<'_>, t: &mut AssetTracker, e: &Event<'_>) {
    match *e {
        Event::Cotp { meta, cotp } => match meta.dir {
            Direction::ToServer => {
                let fl = flow(t, &meta, true);
                if cotp.code == TpduCode::CR {
                    if let Some(ts) = cotp.dst_tsap().filter(|ts| !ts.0.is_empty() && ts.0.len() <= MAX_TSAP_LEN) {
                        fl.tsap[..ts.0.len()].copy_from_slice(ts.0);
                        fl.tsap_len = ts.0.len();
                    }
                }
                if let Some(k) = cotp_function(cotp) {
                    use_function(d, cx, t, &meta, k);
                } else {
                    touch_answered(d, cx, t, &meta);
                }
            }
            Direction::ToClient => {
                if !answer(d, cx, t, &meta) {
                    return;
                }
                if cotp.code == TpduCode::CC {
                    record_tsap(t, &meta);
                }
            }
        },
        Event::S7 { meta, pdu, fragment, .. } => match meta.dir {
            Direction::ToServer => {
                if let Some(r) = pdu.szl().filter(|_| pdu.userdata().is_some_and(|u| u.is_request())) {
                    let fl = flow(t, &meta, true);
                    fl.szl_asked |= SZL_ANY
                        | match r.partial_list() {
                            0x11 => SZL_MODULE,
                            0x1C => SZL_COMPONENT,
                            _ => 0,
                        };
                }
                // Classified once per PDU by the detector before the families run.
                match d.s7_kind {
                    Some(k) => use_function(d, cx, t, &meta, k),
                    None => {
                        touch_answered(d, cx, t, &meta);
                    }
                }
            }
            Direction::ToClient => {
                if !answer(d, cx, t, &meta) {
                    return;
                }
                s7_answer(d, cx, t, &meta, pdu, fragment);
            }
        },
        Event::S7Plus { meta, message, .. } => match meta.dir {
            Direction::ToServer => match message.and_then(|m| plus_request_function(m.frame)) {
                Some(k) => use_function(d, cx, t, &meta, k),
                None => {
                    touch_answered(d, cx, t, &meta);
                }
            },
            Direction::ToClient => {
                if !answer(d, cx, t, &meta) {
                    return;
                }
                note(t, &meta, NOTED_S7PLUS);
                if let Some(m) = message {
                    plus_identity(d, cx, t, &meta, m.frame);
                }
            }
        },
        Event::Tls { meta, .. } => {
            let answered = match meta.dir {
                Direction::ToClient => answer(d, cx, t, &meta),
                Direction::ToServer => touch_answered(d, cx, t, &meta),
            };
            if answered {
                note(t, &meta, NOTED_TLS);
            }
        }
        Event::FlowEnd { meta, .. } => {
            // Exact last-seen times at the end of the connection.
            if let Some(fl) = t.flows.get_mut(&meta.flow) {
                if fl.answered && !fl.dropped {
                    fl.next_touch = Ts(i64::MIN);
                    touch(d, cx, t, &meta);
                }
            }
            t.flows.remove(&meta.flow);
        }
        _ => {}
    }
}

/// The tracking state of the event's connection (created on first use).
fn flow<'t>(t: &'t mut AssetTracker, meta: &Meta, request: bool) -> &'t mut TrackFlow {
    let fl = t.flows.entry(meta.flow).or_insert_with(|| TrackFlow {
        client: meta.client().0,
        server: meta.server().0,
        first: *meta,
        first_is_request: request,
        answered: false,
        dropped: false,
        pending: [None; MAX_PENDING],
        tsap: [0; MAX_TSAP_LEN],
        tsap_len: 0,
        szl_asked: 0,
        next_touch: Ts(i64::MIN),
        uses: [None; MAX_PENDING],
        noted: 0,
    });
    if request && !fl.first_is_request && !fl.answered {
        fl.first = *meta;
        fl.first_is_request = true;
    }
    fl
}

/// Write a connection fact (`NOTED_*`) to the PLC's entry, once per connection.
fn note(t: &mut AssetTracker, meta: &Meta, what: u8) {
    let Some(fl) = t.flows.get_mut(&meta.flow) else { return };
    if fl.noted & what != 0 {
        return;
    }
    fl.noted |= what;
    let Some(p) = t.fleet.devices.get_mut(&meta.server().0) else { return };
    let flag = match what {
        NOTED_S7COMM => &mut p.connection.s7comm,
        NOTED_S7PLUS => &mut p.connection.s7comm_plus,
        _ => &mut p.connection.tls,
    };
    if !*flag {
        *flag = true;
        t.changed();
    }
}

fn plc_mut(t: &mut AssetTracker, ip: IpAddr) -> Option<&mut Device> {
    t.fleet.devices.get_mut(&ip)
}

/// A server-side event: the connection is answered. Records the PLC, the
/// client and the talker on the first answer (and the functions requested
/// before it), then updates last-seen times. Returns whether the connection
/// is tracked.
fn answer(d: &mut Core, cx: &mut Ctx<'_>, t: &mut AssetTracker, meta: &Meta) -> bool {
    let fl = flow(t, meta, false);
    if fl.dropped {
        return false;
    }
    if fl.answered {
        return touch(d, cx, t, meta);
    }
    fl.answered = true;
    // It no longer waits (see `unanswered_since`): the alert floor may move up.
    d.floor = None;
    let pending = std::mem::replace(&mut fl.pending, [None; MAX_PENDING]);
    if !touch(d, cx, t, meta) {
        return false;
    }
    let first = t.flows.get(&meta.flow).map(|f| f.first);
    for (k, frame, ts) in pending.into_iter().flatten() {
        if let Some(m) = first {
            record_function(d, cx, t, &Meta { frame, ts, ..m }, k);
        }
    }
    true
}

/// A client-side event on a connection: update last-seen times when it is tracked.
fn touch_answered(d: &mut Core, cx: &mut Ctx<'_>, t: &mut AssetTracker, meta: &Meta) -> bool {
    match t.flows.get(&meta.flow) {
        Some(fl) if fl.answered && !fl.dropped => touch(d, cx, t, meta),
        _ => false,
    }
}

/// A client request performing `k`.
fn use_function(d: &mut Core, cx: &mut Ctx<'_>, t: &mut AssetTracker, meta: &Meta, k: FunctionKind) {
    let fl = flow(t, meta, true);
    if fl.dropped {
        return;
    }
    if !fl.answered {
        if !fl.pending.iter().flatten().any(|(p, _, _)| *p == k) {
            if let Some(slot) = fl.pending.iter_mut().find(|p| p.is_none()) {
                *slot = Some((k, meta.frame, meta.ts));
            }
        }
        return;
    }
    // Steady state: a function this connection already used is only counted here.
    if let Some(u) = fl.uses.iter_mut().flatten().find(|u| u.kind == k) {
        u.count += 1;
        u.last = meta.ts;
        touch(d, cx, t, meta);
        return;
    }
    if touch(d, cx, t, meta) {
        record_function(d, cx, t, meta, k);
        if let Some(fl) = t.flows.get_mut(&meta.flow) {
            if let Some(slot) = fl.uses.iter_mut().find(|u| u.is_none()) {
                *slot = Some(Use { kind: k, count: 0, last: meta.ts });
            }
        }
    }
}

/// Make sure the PLC, the client and the talker exist; update their last-seen
/// times. Raises `new_talker` for new ones while the baseline is frozen.
/// Returns false when the connection cannot be tracked (caps).
fn touch(d: &mut Core, cx: &mut Ctx<'_>, t: &mut AssetTracker, meta: &Meta) -> bool {
    let Some(fl) = t.flows.get_mut(&meta.flow) else { return false };
    if meta.ts < fl.next_touch {
        return true;
    }
    fl.next_touch = meta.ts.plus_ms(TOUCH_EVERY_MS);
    let uses = fl.uses;
    for u in fl.uses.iter_mut().flatten() {
        u.count = 0;
    }
    let (server, client, first, ts) = (fl.server, fl.client, fl.first, meta.ts);
    t.generation += 1;
    let frozen = t.fleet.is_frozen();

    // The PLC.
    let mut plc_new = false;
    if !t.fleet.devices.contains_key(&server) {
        if t.fleet.device_entry(server, first.ts).is_none() {
            return drop_flow(t, meta);
        }
        plc_new = true;
        t.changed();
    }
    let Some(plc) = t.fleet.devices.get_mut(&server) else { return drop_flow(t, meta) };
    let became_plc = plc.role != Role::Plc;
    if became_plc {
        plc.role = Role::Plc;
        t.revision += 1;
    }
    if ts > plc.last_seen {
        plc.last_seen = ts;
    }
    let plc_known = plc.baseline && !became_plc;

    // The talker.
    let Some((tk, tk_new)) = talker_entry(plc, client, first.ts, &mut t.fleet.evicted) else {
        return drop_flow(t, meta);
    };
    if ts > tk.last_seen {
        tk.last_seen = ts;
    }
    for u in uses.iter().flatten().filter(|u| u.count > 0) {
        if let Some(f) = tk.functions.get_mut(u.kind.name()) {
            f.count += u.count;
            if u.last > f.last_seen {
                f.last_seen = u.last;
            }
        }
    }
    if tk_new {
        t.revision += 1;
    }

    // The client.
    let mut client_new = false;
    if !t.fleet.devices.contains_key(&client) {
        if t.fleet.device_entry(client, first.ts).is_none() {
            // The talker is kept; the client host itself did not fit.
            t.changed();
        } else {
            client_new = true;
            t.changed();
        }
    }
    if let Some(c) = t.fleet.devices.get_mut(&client) {
        if ts > c.last_seen {
            c.last_seen = ts;
        }
        if c.role.rank() < Role::EngineeringStation.rank() && d.cfg.is_engineering(client) {
            c.role = Role::EngineeringStation;
            t.revision += 1;
        }
    }

    if frozen && (plc_new || became_plc || tk_new) {
        let since = match t.fleet.baseline {
            Baseline::Frozen { since } => since,
            _ => ts,
        };
        let alert_meta = if fl_first_is_request(t, meta) { first } else { *meta };
        if (plc_new || became_plc) && !plc_known {
            let msg = format!(
                "New PLC {server} answers on port 102 (first client {client}); it is not in the baseline frozen at {since}"
            );
            let e = ev(&[
                ("plc", json!(server.to_string())),
                ("talker", json!(client.to_string())),
                ("new_plc", json!(true)),
                ("first_frame", json!(first.frame)),
                ("baseline_since", json!(since.to_string())),
            ]);
            let sev = d.severity[NEW_TALKER].min(Severity::Medium);
            d.emit(cx, Raise::new(NEW_TALKER, &alert_meta, msg, e).category(Category::Baseline).severity(sev));
        } else if tk_new {
            let known = !client_new && t.fleet.devices.get(&client).is_some_and(|c| c.baseline);
            let what = if client_new {
                "a host never seen before".to_string()
            } else if known {
                let role = t.fleet.devices.get(&client).map_or("unknown", |c| c.role.name());
                format!("a known {} that never talked to this PLC", role.replace('_', " "))
            } else {
                "a host first seen after the baseline was frozen".to_string()
            };
            let msg = format!(
                "New talker: {client} ({what}) connected to PLC {server}; not in the baseline frozen at {since}"
            );
            let e = ev(&[
                ("plc", json!(server.to_string())),
                ("talker", json!(client.to_string())),
                ("new_plc", json!(false)),
                ("known_host", json!(known)),
                ("first_frame", json!(first.frame)),
                ("baseline_since", json!(since.to_string())),
            ]);
            d.emit(cx, Raise::new(NEW_TALKER, &alert_meta, msg, e));
        }
    }
    true
}

fn fl_first_is_request(t: &AssetTracker, meta: &Meta) -> bool {
    t.flows.get(&meta.flow).is_some_and(|f| f.first_is_request)
}

fn drop_flow(t: &mut AssetTracker, meta: &Meta) -> bool {
    if let Some(fl) = t.flows.get_mut(&meta.flow) {
        fl.dropped = true;
    }
    t.changed();
    false
}

/// Count one use of `k` by the connection's client towards its PLC (the talker exists).
fn record_function(d: &mut Core, cx: &mut Ctx<'_>, t: &mut AssetTracker, meta: &Meta, k: FunctionKind) {
    let Some(fl) = t.flows.get(&meta.flow) else { return };
    let (server, client) = (fl.server, fl.client);
    let frozen = t.fleet.is_frozen();
    let since = match t.fleet.baseline {
        Baseline::Frozen { since } => since,
        _ => meta.ts,
    };
    let Some(plc) = t.fleet.devices.get_mut(&server) else { return };
    let Some(tk) = plc.talkers.get_mut(&client) else { return };
    let talker_baseline = tk.baseline;
    let new = match tk.use_function(k, meta.ts, &mut t.fleet.evicted) {
        Some(n) => n,
        None => {
            t.changed();
            return;
        }
    };
    if !new {
        return;
    }
    t.changed();
    if let Some(c) = t.fleet.devices.get_mut(&client) {
        let r = c.role.max(Role::of_class(k.class()));
        if r != c.role {
            c.role = r;
        }
    }
    if frozen && (talker_baseline || k.is_control()) {
        let conf = d.severity[NEW_FUNCTION];
        let sev = if k.is_control() {
            conf
        } else if k.is_write() {
            conf.min(Severity::Medium)
        } else {
            conf.min(Severity::Low)
        };
        let who = if talker_baseline { "a talker of the baseline" } else { "a new talker" };
        let msg = format!(
            "New function: {client} ({who}) used {} on PLC {server} for the first time; not in the baseline frozen at {since}",
            k.name()
        );
        let e = ev(&[
            ("plc", json!(server.to_string())),
            ("talker", json!(client.to_string())),
            ("function", json!(k.name())),
            ("control", json!(k.is_control())),
            ("talker_in_baseline", json!(talker_baseline)),
            ("baseline_since", json!(since.to_string())),
        ]);
        d.emit(cx, Raise::new(NEW_FUNCTION, meta, msg, e).category(Category::Baseline).severity(sev));
    }
}

/// The CR's destination TSAP, confirmed by the PLC's CC.
fn record_tsap(t: &mut AssetTracker, meta: &Meta) {
    let Some(fl) = t.flows.get(&meta.flow) else { return };
    if fl.tsap_len == 0 {
        return;
    }
    let b = &fl.tsap[..fl.tsap_len];
    let mut s = StackStr::<{ 2 * MAX_TSAP_LEN }>::new();
    let text = b.len() > 2 && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ');
    if text {
        let _ = s.write_str(core::str::from_utf8(b).unwrap_or(""));
    } else {
        for x in b {
            let _ = write!(s, "{x:02x}");
        }
    }
    let Some(p) = t.fleet.devices.get_mut(&fl.server) else { return };
    let tsaps = &mut p.connection.tsaps;
    if tsaps.iter().any(|x| x == s.as_str()) {
        return;
    }
    if tsaps.len() >= MAX_TSAPS {
        t.fleet.evicted += 1;
    } else {
        tsaps.push(s.as_str().to_string());
    }
    t.changed();
}

/// What a PLC's S7comm answer tells about it.
fn s7_answer(d: &mut Core, cx: &mut Ctx<'_>, t: &mut AssetTracker, meta: &Meta, pdu: &S7Pdu<'_>, fragment: UdFragment) {
    let plc = meta.server().0;
    note(t, meta, NOTED_S7COMM);
    let setup = pdu.header.rosctr == Rosctr::ACK_DATA
        && pdu.function() == Some(Function::SETUP_COMM)
        && pdu.error_code().is_none();
    let mut changed = false;
    if setup {
        let Some(p) = plc_mut(t, plc) else { return };
        if let Some(s) = pdu.setup_comm() {
            let amq = Some((s.max_amq_calling, s.max_amq_called));
            if p.connection.pdu_size != Some(s.pdu_length) || p.connection.amq != amq {
                p.connection.pdu_size = Some(s.pdu_length);
                p.connection.amq = amq;
                changed = true;
            }
        }
    }
    if let Some(mode) = pdu.mode_transition() {
        let state = match mode.0 {
            0 => Some("stop"),
            1 | 3 | 6 => Some("startup"),
            2 => Some("run"),
            4 => Some("hold"),
            _ => None,
        };
        if let Some(s) = state {
            push_state(t, plc, meta.ts, s, None);
        }
    }
    if changed {
        t.changed();
    }
    if fragment != UdFragment::More {
        szl_identity(d, cx, t, meta, pdu);
    }
}

/// Identity from a read-SZL answer (module or component identification).
fn szl_identity(d: &mut Core, cx: &mut Ctx<'_>, t: &mut AssetTracker, meta: &Meta, pdu: &S7Pdu<'_>) {
    let Some(r) = pdu.szl_response() else { return };
    let bit = match r.szl_ref().partial_list() {
        0x11 => SZL_MODULE,
        0x1C => SZL_COMPONENT,
        _ => return,
    };
    let asked = t.flows.get(&meta.flow).map_or(0, |f| f.szl_asked);
    if asked & SZL_ANY != 0 && asked & bit == 0 {
        return;
    }
    let mut fields: [(Field, StackStr<40>); 8] = Default::default();
    let mut n = 0;
    let mut put = |f: Field, v: &str| {
        if n < fields.len() && !v.is_empty() && v.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
            let mut s = StackStr::new();
            if s.write_str(v).is_ok() {
                fields[n] = (f, s);
                n += 1;
            }
        }
    };
    if bit == SZL_MODULE {
        let mut hw: Option<(u16, u16)> = None;
        for m in r.module_ids() {
            match m.index {
                0x0001 => {
                    if let Some(o) = m.order_number_str() {
                        put(Field::OrderNumber, o);
                    }
                    if hw.is_none() {
                        hw = Some((m.ausbg, m.ausbe));
                    }
                }
                0x0006 => hw = Some((m.ausbg, m.ausbe)),
                0x0007 => {
                    if let Some(v) = m.version().filter(|v| v.letter == b'V') {
                        let mut s = StackStr::<40>::new();
                        let _ = write!(s, "V{}.{}.{}", v.major, v.minor, v.patch);
                        put(Field::Firmware, s.as_str());
                    }
                }
                _ => {}
            }
        }
        if let Some((ausbg, _)) = hw {
            let mut s = StackStr::<40>::new();
            let [l, _] = ausbg.to_be_bytes();
            if l.is_ascii_alphabetic() {
                let [_, maj] = ausbg.to_be_bytes();
                let _ = write!(s, "{}{maj}", l as char);
            } else {
                let _ = write!(s, "{ausbg}");
            }
            put(Field::Hardware, s.as_str());
        }
    } else {
        for c in r.components() {
            let f = match c.index {
                1 => Field::PlcName,
                2 => Field::ModuleName,
                3 => Field::PlantId,
                5 => Field::Serial,
                7 => Field::ModuleType,
                _ => continue,
            };
            if let Some(text) = c.text() {
                put(f, text);
            }
        }
    }
    if n > 0 {
        apply_identity(d, cx, t, meta, &fields[..n], "szl");
    }
}

/// Identity from an S7comm-plus answer carrying `order number ;V<firmware>`.
fn plus_identity(d: &mut Core, cx: &mut Ctx<'_>, t: &mut AssetTracker, meta: &Meta, fr: &PlusFrame<'_>) {
    let Some(o) = fr.order_number() else { return };
    let mut fields: [(Field, StackStr<40>); 2] = Default::default();
    let mut n = 0;
    let mut s = StackStr::new();
    if s.write_str(o.order_number.trim()).is_ok() {
        fields[n] = (Field::OrderNumber, s);
        n += 1;
    }
    if let Some(fw) = o.firmware {
        let mut s = StackStr::new();
        if s.write_str(fw).is_ok() {
            fields[n] = (Field::Firmware, s);
            n += 1;
        }
    }
    apply_identity(d, cx, t, meta, &fields[..n], "s7comm-plus");
}

/// An identity field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Field {
    #[default]
    OrderNumber,
    Firmware,
    Hardware,
    Serial,
    PlcName,
    ModuleName,
    PlantId,
    ModuleType,
}

impl Field {
    const fn name(self) -> &'static str {
        match self {
            Field::OrderNumber => "order_number",
            Field::Firmware => "firmware",
            Field::Hardware => "hardware",
            Field::Serial => "serial",
            Field::PlcName => "plc_name",
            Field::ModuleName => "module_name",
            Field::PlantId => "plant_id",
            Field::ModuleType => "module_type",
        }
    }
    /// Whether a change raises `asset_change`.
    const fn watched(self) -> bool {
        matches!(self, Field::OrderNumber | Field::Firmware | Field::Serial)
    }
    fn slot(self, id: &mut crate::assets::Identity) -> &mut Option<String> {
        match self {
            Field::OrderNumber => &mut id.order_number,
            Field::Firmware => &mut id.firmware,
            Field::Hardware => &mut id.hardware,
            Field::Serial => &mut id.serial,
            Field::PlcName => &mut id.plc_name,
            Field::ModuleName => &mut id.module_name,
            Field::PlantId => &mut id.plant_id,
            Field::ModuleType => &mut id.module_type,
        }
    }
}

impl<const N: usize> Default for StackStr<N> {
    fn default() -> Self {
        StackStr::new()
    }
}

/// Store identity fields reported by the PLC of `meta`; raise `asset_change`
/// for a watched field whose value differs from the one known.
fn apply_identity(
    d: &mut Core,
    cx: &mut Ctx<'_>,
    t: &mut AssetTracker,
    meta: &Meta,
    fields: &[(Field, StackStr<40>)],
    source: &str,
) {
    let plc = meta.server().0;
    let client = meta.client().0;
    let Some(p) = t.fleet.devices.get_mut(&plc) else { return };
    let prev_seen = p.identity.seen;
    let mut changed = false;
    let mut alerts: Vec<(Field, String, String)> = Vec::new();
    for (f, v) in fields {
        let v = v.as_str();
        let slot = f.slot(&mut p.identity);
        match slot.as_deref() {
            None => {
                *slot = Some(v.to_string());
                changed = true;
            }
            Some(old) if old == v => {}
            Some(old) if *f == Field::Firmware && versions_agree(old, v) => {
                // Same version at the precision both give: keep the more precise one.
                if v.split('.').count() > old.split('.').count() {
                    *slot = Some(v.to_string());
                    changed = true;
                }
            }
            Some(old) if *f == Field::OrderNumber && crate::assets::order_numbers_agree(old, v) => {}
            Some(old) => {
                if f.watched() {
                    alerts.push((*f, old.to_string(), v.to_string()));
                }
                *slot = Some(v.to_string());
                changed = true;
            }
        }
    }
    if p.identity.source.as_deref() != Some(source) {
        p.identity.source = Some(source.to_string());
        changed = true;
    }
    p.identity.seen = Some(meta.ts);
    for (f, old, new) in &alerts {
        if p.changes.len() >= MAX_CHANGES {
            p.changes.remove(0);
            t.fleet.evicted += 1;
        }
        p.changes.push(IdentityChange {
            field: f.name().to_string(),
            old: old.clone(),
            new: new.clone(),
            ts: meta.ts,
            frame: meta.frame,
        });
    }
    t.generation += 1;
    if changed {
        t.changed();
    }
    for (f, old, new) in alerts {
        let what = match f {
            Field::Firmware => "firmware",
            Field::OrderNumber => "order number",
            _ => "serial number",
        };
        let when = prev_seen.map(|s| format!(", last reported {s}")).unwrap_or_default();
        let via = if source == "szl" { "SZL answer" } else { "S7comm-plus session answer" };
        let msg = format!("PLC {plc} now reports {what} {new} (was {old}{when}) in its {via} to {client}");
        let mut e = ev(&[
            ("field", json!(f.name())),
            ("old", json!(old)),
            ("new", json!(new)),
            ("source", json!(source)),
            ("plc", json!(plc.to_string())),
        ]);
        if let Some(s) = prev_seen {
            e.insert("previous_seen".into(), json!(s.to_string()));
        }
        d.emit(cx, Raise::new(ASSET_CHANGE, meta, msg, e));
    }
}

/// Remember an operating-state change of `plc` (deduplicated against the
/// latest one), oldest dropped beyond [`MAX_STATE_CHANGES`].
fn push_state(t: &mut AssetTracker, plc: IpAddr, ts: Ts, state: &'static str, by: Option<IpAddr>) {
    let Some(p) = t.fleet.devices.get_mut(&plc) else { return };
    // A confirmed request and the mode-transition messages it causes are one change.
    let class = |s: &str| {
        if s == "stop" {
            0
        } else if matches!(s, "start" | "startup" | "run") {
            1
        } else {
            2
        }
    };
    if let Some(last) = p.state_changes.last() {
        let same = last.state == state || (class(&last.state) == class(state) && class(state) < 2);
        if same && (by.is_none() || last.by == by) && ts.ms_since(last.ts) < 10_000 {
            return;
        }
    }
    if p.state_changes.len() >= MAX_STATE_CHANGES {
        p.state_changes.remove(0);
        t.fleet.evicted += 1;
    }
    p.state_changes.push(StateChange { ts, state: state.to_string(), by });
    t.changed();
}

/// A STOP / START request that `plc` confirmed (called by the control rules).
pub(crate) fn state_change(d: &mut Core, plc: IpAddr, state: &'static str, by: IpAddr, ts: Ts) {
    if let Some(t) = d.assets.as_mut() {
        push_state(t, plc, ts, state, Some(by));
    }
}

#[cfg(test)]
mod tests;
