//! Passive asset inventory: what the sensor learns about each S7 host from the
//! traffic it sees (issue 6).
//!
//! This module holds the *data model* shared by the engine (which fills it from
//! [`Event`](crate::Event)s), the inventory store (which persists it) and the
//! reports (which read it). It is plain data: every type is `serde`
//! serialisable and owns its strings, because an inventory outlives packets.
//!
//! Sizes are bounded: [`MAX_DEVICES`] hosts, [`MAX_TALKERS`] talkers per PLC,
//! [`MAX_FUNCTIONS`] functions per talker, [`MAX_STATE_CHANGES`] remembered
//! operating-state changes per PLC. What does not fit is counted in
//! [`Fleet::evicted`], never silently dropped.

use crate::time::Ts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Most hosts kept in one inventory.
pub const MAX_DEVICES: usize = 4096;
/// Most talkers kept per PLC.
pub const MAX_TALKERS: usize = 256;
/// Most distinct functions kept per (talker, PLC).
pub const MAX_FUNCTIONS: usize = 64;
/// Most operating-state changes kept per PLC (the oldest are dropped first).
pub const MAX_STATE_CHANGES: usize = 32;

/// What a host is, inferred from what it does on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Nothing conclusive seen yet.
    #[default]
    Unknown,
    /// Answers on the ISO-on-TCP port (server side of S7 connections).
    Plc,
    /// Client that reads/writes variables, subscribes to alarms, reads SZL.
    Hmi,
    /// Client that performs engineering operations (download, upload, PI
    /// services, operating-state changes, S7comm-plus engineering sessions),
    /// or that the configuration names as an engineering station.
    EngineeringStation,
}

impl Role {
    /// Stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Unknown => "unknown",
            Role::Plc => "plc",
            Role::Hmi => "hmi",
            Role::EngineeringStation => "engineering_station",
        }
    }
}

/// Identity of a device as reported by the device itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// Order number (MLFB) as sent, e.g. `6ES7 511-1AK02-0AB0`.
    pub order_number: Option<String>,
    /// Firmware version, e.g. `V2.9.2` (SZL 0x0011 index 7, or the
    /// S7comm-plus `;V…` suffix).
    pub firmware: Option<String>,
    /// Hardware version (SZL 0x0011 index 6 / module record), when present.
    pub hardware: Option<String>,
    /// Serial number (SZL 0x001C index 5).
    pub serial: Option<String>,
    /// PLC name (SZL 0x001C index 1).
    pub plc_name: Option<String>,
    /// Module name (SZL 0x001C index 2).
    pub module_name: Option<String>,
    /// Plant identification (SZL 0x001C index 3).
    pub plant_id: Option<String>,
    /// Module type name (SZL 0x001C index 7), e.g. `CPU 315-2 PN/DP`.
    pub module_type: Option<String>,
    /// Where the identity came from: `"szl"`, `"s7comm-plus"`.
    pub source: Option<String>,
    /// When the identity was last confirmed by the device.
    pub seen: Option<Ts>,
}

/// One identity field that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityChange {
    /// Field name: `"order_number"`, `"firmware"` or `"serial"`.
    pub field: String,
    /// Value before.
    pub old: String,
    /// Value after.
    pub new: String,
    /// When the new value was first seen.
    pub ts: Ts,
    /// Capture record that carried it.
    pub frame: u64,
}

/// An operating-state change of a PLC seen on the wire (a confirmed STOP/START
/// request, an S7comm-plus operating-state write, or a CPU state message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// When.
    pub ts: Ts,
    /// `"stop"`, `"start"`, ...
    pub state: String,
    /// Host that requested it, when known.
    pub by: Option<IpAddr>,
}

/// One function a talker used towards a PLC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSeen {
    /// First use.
    pub first_seen: Ts,
    /// Latest use.
    pub last_seen: Ts,
    /// Uses counted.
    pub count: u64,
    /// Part of the learned / frozen baseline.
    pub baseline: bool,
}

/// A host talking to a PLC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Talker {
    /// First packet seen between the two.
    pub first_seen: Ts,
    /// Latest packet.
    pub last_seen: Ts,
    /// Part of the learned / frozen baseline.
    pub baseline: bool,
    /// Functions used, by stable name (`read_var`, `write_var`, `szl_read`,
    /// `cpu_stop`, `block_download`, `s7plus_set_variable`, ...).
    pub functions: BTreeMap<String, FunctionSeen>,
}

/// Connection parameters seen for a PLC.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Connection {
    /// Destination TSAPs seen in COTP CRs (hex, e.g. `"0102"`: rack 0 slot 2).
    pub tsaps: Vec<String>,
    /// Negotiated PDU size (latest setup communication answer).
    pub pdu_size: Option<u16>,
    /// Negotiated max AmQ calling / called (latest answer).
    pub amq: Option<(u16, u16)>,
    /// S7comm seen.
    pub s7comm: bool,
    /// S7comm-plus seen.
    pub s7comm_plus: bool,
    /// A connection switched to TLS.
    pub tls: bool,
}

/// Everything known about one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// IP address (the key).
    pub address: IpAddr,
    /// Inferred role.
    pub role: Role,
    /// Self-reported identity (PLCs).
    pub identity: Identity,
    /// Identity changes seen (old → new), oldest first.
    pub changes: Vec<IdentityChange>,
    /// Connection parameters (PLCs).
    pub connection: Connection,
    /// First packet seen.
    pub first_seen: Ts,
    /// Latest packet seen.
    pub last_seen: Ts,
    /// Part of the learned / frozen baseline.
    pub baseline: bool,
    /// Hosts talking to this PLC (PLCs only), by address.
    pub talkers: BTreeMap<IpAddr, Talker>,
    /// Operating-state changes seen (PLCs only), oldest first, at most [`MAX_STATE_CHANGES`].
    pub state_changes: Vec<StateChange>,
}

impl Device {
    /// A device first seen at `ts`.
    pub fn new(address: IpAddr, ts: Ts) -> Device {
        Device {
            address,
            role: Role::Unknown,
            identity: Identity::default(),
            changes: Vec::new(),
            connection: Connection::default(),
            first_seen: ts,
            last_seen: ts,
            baseline: false,
            talkers: BTreeMap::new(),
            state_changes: Vec::new(),
        }
    }
}

/// Baseline mode: learn (no `new_*` alerts) until a time, or enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Baseline {
    /// No baseline: everything is learned, `new_talker` / `new_function` never raised.
    #[default]
    Off,
    /// Learning until packet time `until` (set from `--learn DURATION` at the
    /// first packet); then the baseline freezes.
    Learning {
        /// End of the learning period.
        until: Ts,
    },
    /// Frozen at `since`: anything not in the baseline raises `new_talker` /
    /// `new_function` once, then is remembered (with `baseline: false`).
    Frozen {
        /// When the baseline was frozen.
        since: Ts,
    },
}

/// The inventory: every device seen, keyed by address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Fleet {
    /// Devices by address.
    pub devices: BTreeMap<IpAddr, Device>,
    /// Baseline mode.
    pub baseline: Baseline,
    /// Entries dropped because a cap was reached (devices, talkers, functions, state changes).
    pub evicted: u64,
}
