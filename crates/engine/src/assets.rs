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
//! operating-state changes per PLC, [`MAX_CHANGES`] identity changes per
//! device, [`MAX_TSAPS`] TSAPs per PLC. What does not fit is counted in
//! [`Fleet::evicted`], never silently dropped. When the device or talker table
//! is full, the entry seen least recently that is *not* part of the baseline
//! makes room; baseline entries are never evicted (a new entry that finds no
//! room is dropped and counted instead).
//!
//! ## How roles are inferred
//!
//! * **PLC**: the server side of an ISO-on-TCP connection that *answers* (a
//!   COTP CC, an S7comm or S7comm-plus PDU, or TLS from port 102). A host that
//!   only receives requests is not a PLC (a scan or a spoofed packet creates
//!   nothing). A PLC stays a PLC even when it also acts as a client (PUT/GET
//!   between PLCs).
//! * **Engineering station**: a client that the configuration lists in
//!   `engineering_hosts`, or that used any [`FunctionClass::Engineering`]
//!   function (download, upload, delete, PI services, STOP/START, memory reset,
//!   programmer commands and monitoring, S7comm-plus operating-state writes and
//!   program transactions, a COTP connect to `SIMATIC-ROOT-ES`).
//! * **HMI**: a client that used only operator functions (read/write
//!   variables, SZL reads, alarms, cyclic data, clock, S7comm-plus
//!   get/set/subscriptions) and no engineering function.
//! * **Unknown**: a client seen only connecting (COTP, setup communication,
//!   session creation) or using neutral functions.
//!
//! Roles only move up (unknown → HMI → engineering station; anything → PLC):
//! one engineering operation is enough to call a host an engineering station.
//!
//! ## Function names
//!
//! [`FunctionKind`] lists the stable names used as keys of
//! [`Talker::functions`]; the classification is shared with the `control`
//! rules and the confirmation logic (`rules/classify.rs`), so a function is named the same way wherever it
//! is reported.

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
/// Most identity changes kept per device (the oldest are dropped first).
pub const MAX_CHANGES: usize = 32;
/// Most destination TSAPs kept per PLC.
pub const MAX_TSAPS: usize = 16;

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
    /// S7comm-plus `;V…` suffix). SZL gives three parts (`V3.2.6`), S7comm-plus
    /// what the CPU sends (`V4.3`); when both agree at the precision both give
    /// ([`versions_agree`]) the more precise one is kept.
    pub firmware: Option<String>,
    /// Hardware version (SZL 0x0011 index 6 / module record), when present:
    /// the product version number as decimal text, e.g. `3`.
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
    /// `"stop"` / `"start"` for a confirmed request (S7comm PLC Stop, PI
    /// P_PROGRAM, S7comm-plus operating-state write); `"stop"`, `"startup"`,
    /// `"run"`, `"hold"` for a mode-transition message the PLC pushed (`by` is
    /// then `None`).
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
    /// Destination TSAPs seen in COTP CRs the PLC confirmed (hex, e.g.
    /// `"0102"`: rack 0 slot 2; text TSAPs as text, e.g. `"SIMATIC-ROOT-ES"`),
    /// in the order first seen, at most [`MAX_TSAPS`].
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
    /// Entries dropped because a cap was reached (devices, talkers, functions, state changes,
    /// learned quirks).
    pub evicted: u64,
    /// Learned quirks: per talker (the alert's source address), the structural rules
    /// (`malformed.*`, `crash_pattern.cotp_dr`, `crash_pattern.var_item_count`) it raised
    /// while the baseline was learning. After the freeze these rules are graded `info`
    /// for that talker (see `rules::policy`). At most `rules::policy::MAX_QUIRKS` pairs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quirks: BTreeMap<IpAddr, Vec<String>>,
    /// Learned request-storm rates: per (talker, PLC), the peak rate per function
    /// class the talker held for `storm_seconds` while the baseline learned (see
    /// `rules::storm`). After the freeze such a talker is judged against
    /// `storm_learned_factor` times these rates instead of the plant defaults,
    /// also after a restart from the state file. At most
    /// `rules::storm::MAX_STORM_TALKERS` pairs; pairs beyond that are not
    /// learned and counted in [`Fleet::evicted`]. Serialised as a list of
    /// [`LearnedRate`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "learned_rates_list")]
    pub storm_rates: BTreeMap<(IpAddr, IpAddr), StormRates>,
}

/// Peak sustained request rates (requests per second held for `storm_seconds`)
/// of one (talker, PLC) pair per function class, learned while the baseline
/// learned. Zero: the class was not used at a sustained rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StormRates {
    /// Write Var jobs per second.
    #[serde(default)]
    pub write: u32,
    /// Read Var jobs per second.
    #[serde(default)]
    pub read: u32,
    /// Other jobs and userdata requests per second.
    #[serde(default)]
    pub other: u32,
}

impl StormRates {
    /// The larger of the two per class.
    pub fn max(self, o: StormRates) -> StormRates {
        StormRates { write: self.write.max(o.write), read: self.read.max(o.read), other: self.other.max(o.other) }
    }
}

/// One entry of [`Fleet::storm_rates`] as stored (JSON in the state file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedRate {
    /// The client sending the requests.
    pub talker: IpAddr,
    /// The PLC receiving them.
    pub plc: IpAddr,
    /// Its learned rates.
    #[serde(flatten)]
    pub rates: StormRates,
}

/// (De)serialises [`Fleet::storm_rates`] as a list of [`LearnedRate`] (a map
/// keyed by address pairs has no JSON form).
mod learned_rates_list {
    use super::{LearnedRate, StormRates};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    pub(super) fn serialize<S: Serializer>(
        m: &BTreeMap<(IpAddr, IpAddr), StormRates>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let v: Vec<LearnedRate> = m.iter().map(|(&(talker, plc), &rates)| LearnedRate { talker, plc, rates }).collect();
        v.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(IpAddr, IpAddr), StormRates>, D::Error> {
        let v = Vec::<LearnedRate>::deserialize(d)?;
        Ok(v.into_iter().map(|e| ((e.talker, e.plc), e.rates)).collect())
    }
}

impl Role {
    /// Rank used to move roles only upwards: unknown < HMI < engineering station < PLC.
    pub const fn rank(self) -> u8 {
        match self {
            Role::Unknown => 0,
            Role::Hmi => 1,
            Role::EngineeringStation => 2,
            Role::Plc => 3,
        }
    }

    /// The role a client's function points to (`Unknown` for neutral functions).
    pub const fn of_class(c: FunctionClass) -> Role {
        match c {
            FunctionClass::Neutral => Role::Unknown,
            FunctionClass::Operator => Role::Hmi,
            FunctionClass::Engineering => Role::EngineeringStation,
        }
    }

    /// The higher of the two roles (see [`Role::rank`]).
    pub const fn max(self, other: Role) -> Role {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// How a function bears on the role of the host that uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionClass {
    /// Says nothing about the host (connection setup, session objects, browsing).
    Neutral,
    /// What an HMI / SCADA does: read and write process data, SZL, alarms, clock.
    Operator,
    /// What only an engineering tool does: change the program or the CPU state,
    /// monitor blocks, open a TIA Portal engineering session.
    Engineering,
}

macro_rules! functions {
    ($( $(#[$doc:meta])* $v:ident = $name:literal, $class:ident, $control:literal, $write:literal; )*) => {
        /// A function a client used towards a PLC, with its stable snake_case
        /// name (the key of [`Talker::functions`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FunctionKind {
            $( $(#[$doc])* $v, )*
        }

        impl FunctionKind {
            /// Every function, in declaration order.
            pub const ALL: &'static [FunctionKind] = &[$(FunctionKind::$v),*];

            /// Stable snake_case name.
            pub const fn name(self) -> &'static str {
                match self { $(FunctionKind::$v => $name,)* }
            }

            /// How the function bears on the role of the host using it.
            pub const fn class(self) -> FunctionClass {
                match self { $(FunctionKind::$v => FunctionClass::$class,)* }
            }

            /// A control operation (one the `control` rule family reports):
            /// program, CPU state, memory, clock or password changes.
            pub const fn is_control(self) -> bool {
                match self { $(FunctionKind::$v => $control,)* }
            }

            /// Writes process data (Write Var, S7comm-plus SetVariable).
            pub const fn is_write(self) -> bool {
                match self { $(FunctionKind::$v => $write,)* }
            }
        }
    };
}

functions! {
    /// S7comm Setup Communication (function 0xF0).
    SetupCommunication = "setup_communication", Neutral, false, false;
    /// S7comm Read Var (0x04).
    ReadVar = "read_var", Operator, false, false;
    /// S7comm Write Var (0x05).
    WriteVar = "write_var", Operator, false, true;
    /// S7comm CPU services job (0x00).
    CpuServices = "cpu_services", Neutral, false, false;
    /// S7comm block download (Request Download 0x1A; the PLC then pulls the block).
    BlockDownload = "block_download", Engineering, true, false;
    /// S7comm block upload (Start Upload / Upload / End Upload, 0x1D-0x1F).
    BlockUpload = "block_upload", Engineering, true, false;
    /// S7comm PLC Stop (0x29).
    CpuStop = "cpu_stop", Engineering, true, false;
    /// S7comm PI service P_PROGRAM (start).
    CpuStart = "cpu_start", Engineering, true, false;
    /// S7comm PI service _DELE (delete blocks).
    BlockDelete = "block_delete", Engineering, true, false;
    /// S7comm PI service _MODU (copy RAM to ROM).
    CopyRamToRom = "copy_ram_to_rom", Engineering, true, false;
    /// Another S7comm PI service (_INSE, _INS2, _GARB, NC services, ...).
    PiService = "pi_service", Engineering, true, false;
    /// Userdata programmer command memory reset (group 1, subfunction 0x0C).
    MemoryReset = "memory_reset", Engineering, true, false;
    /// Userdata programmer command that changes execution (force, breakpoint, exit HOLD, replace job).
    ProgrammerCommand = "programmer_command", Engineering, true, false;
    /// Other userdata programmer functions: block / variable status, job list, force selection
    /// (what STEP 7 and TIA Portal use to monitor a program).
    ProgrammerMonitor = "programmer_monitor", Engineering, false, false;
    /// Userdata cyclic data (group 2: subscribe, unsubscribe, change-driven).
    CyclicData = "cyclic_data", Operator, false, false;
    /// Userdata block list / list of type (group 3, subfunctions 1 and 2).
    BlockList = "block_list", Neutral, false, false;
    /// Userdata block info (group 3, subfunction 3).
    BlockInfo = "block_info", Neutral, false, false;
    /// Userdata read SZL (group 4, subfunction 1).
    SzlRead = "szl_read", Operator, false, false;
    /// Userdata CPU message and alarm services (group 4, other subfunctions).
    Alarm = "alarm", Operator, false, false;
    /// Userdata PLC password (group 5) or S7comm-plus legitimation.
    Password = "password", Neutral, true, false;
    /// Userdata read clock (group 7, subfunctions 1 and 3).
    ClockRead = "clock_read", Operator, false, false;
    /// Userdata set clock (group 7, subfunctions 2 and 4).
    ClockSet = "clock_set", Operator, true, false;
    /// Userdata BSEND/BRECV (group 6).
    Pbc = "bsend_brecv", Neutral, false, false;
    /// Other userdata groups (data-record routing, NC programming, unknown groups).
    UserdataOther = "userdata_other", Neutral, false, false;
    /// COTP connect to TSAP `SIMATIC-ROOT-ES`: a TIA Portal engineering session.
    EngineeringSession = "engineering_session", Engineering, true, false;
    /// S7comm-plus Explore.
    S7plusExplore = "s7plus_explore", Neutral, false, false;
    /// S7comm-plus GetVariable, GetMultiVariables, GetVarSubStreamed, GetVariablesAddress.
    S7plusGet = "s7plus_get", Operator, false, false;
    /// S7comm-plus SetVariable, SetMultiVariables, SetVarSubStreamed (other than
    /// the operating state and legitimation).
    S7plusSet = "s7plus_set", Operator, false, true;
    /// S7comm-plus CreateObject (session creation and other objects).
    S7plusCreateObject = "s7plus_create_object", Neutral, false, false;
    /// S7comm-plus DeleteObject of a session object.
    S7plusDeleteObject = "s7plus_delete_object", Neutral, false, false;
    /// S7comm-plus Invoke.
    S7plusInvoke = "s7plus_invoke", Neutral, false, false;
    /// S7comm-plus AddLink, RemoveLink, GetLink (subscriptions).
    S7plusLink = "s7plus_link", Operator, false, false;
    /// S7comm-plus InitSSL (the connection then switches to TLS).
    S7plusInitSsl = "s7plus_init_ssl", Neutral, false, false;
    /// S7comm-plus write of the CPU operating state (object 52, attribute 2167).
    S7plusOperatingState = "s7plus_operating_state", Engineering, true, false;
    /// S7comm-plus program transaction: BeginSequence / EndSequence, DeleteObject of a
    /// program-transfer object.
    S7plusEngineeringOperation = "s7plus_engineering_operation", Engineering, true, false;
    /// Another S7comm-plus function (Abort, unknown codes).
    S7plusOther = "s7plus_other", Neutral, false, false;
}

impl FunctionKind {
    /// The function with this stable name.
    pub fn from_name(name: &str) -> Option<FunctionKind> {
        FunctionKind::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// Whether two version strings name the same version at the precision both
/// give: `V2.9` and `V2.9.2` agree (S7comm-plus reports two components, SZL
/// three), `V2.9.2` and `V2.9.4` do not. A leading letter and surrounding
/// spaces are ignored.
pub fn versions_agree(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches(|c: char| c.is_ascii_alphabetic()).trim().to_string();
    let (a, b) = (strip(a), strip(b));
    a.split('.').zip(b.split('.')).all(|(x, y)| x.trim() == y.trim())
}

/// Whether two order numbers are the same, ignoring spaces and case
/// (`6ES7 511-1AK02-0AB0` = `6ES7511-1AK02-0AB0`).
pub fn order_numbers_agree(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> impl Iterator<Item = char> + '_ {
        s.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase())
    }
    norm(a).eq(norm(b))
}

impl Device {
    /// Whether the device answers as a PLC.
    pub fn is_plc(&self) -> bool {
        self.role == Role::Plc
    }
}

impl Fleet {
    /// The device with this address.
    pub fn device(&self, ip: IpAddr) -> Option<&Device> {
        self.devices.get(&ip)
    }

    /// The devices that answer as PLCs, by address.
    pub fn plcs(&self) -> impl Iterator<Item = &Device> {
        self.devices.values().filter(|d| d.is_plc())
    }

    /// Whether the baseline is frozen (new talkers and functions raise alerts).
    pub fn is_frozen(&self) -> bool {
        matches!(self.baseline, Baseline::Frozen { .. })
    }

    /// Records `rates` as learned for the pair (`talker`, `plc`): per class the
    /// larger of these and the rates already known ([`Fleet::storm_rates`]).
    /// Says whether the fleet changed; `None` when a new pair finds no room
    /// (the table holds `rules::storm::MAX_STORM_TALKERS` pairs): it is not
    /// recorded and is counted in [`Fleet::evicted`].
    pub fn learn_storm_rates(&mut self, talker: IpAddr, plc: IpAddr, rates: StormRates) -> Option<bool> {
        if let Some(r) = self.storm_rates.get_mut(&(talker, plc)) {
            let m = r.max(rates);
            let changed = m != *r;
            *r = m;
            return Some(changed);
        }
        if self.storm_rates.len() >= crate::rules::storm::MAX_STORM_TALKERS {
            self.evicted += 1;
            return None;
        }
        self.storm_rates.insert((talker, plc), rates);
        Some(true)
    }

    /// Freeze the baseline at `now`: everything known now (devices, talkers,
    /// functions) becomes part of it, and from now on anything new raises
    /// `baseline.new_talker` / `baseline.new_function` once.
    pub fn freeze(&mut self, now: Ts) {
        self.baseline = Baseline::Frozen { since: now };
        for d in self.devices.values_mut() {
            d.baseline = true;
            for t in d.talkers.values_mut() {
                t.baseline = true;
                for f in t.functions.values_mut() {
                    f.baseline = true;
                }
            }
        }
    }

    /// The device at `ip`, created (first seen at `ts`) when absent. `None`
    /// when the table is full of baseline devices: the new one is dropped and
    /// counted in [`Fleet::evicted`]. The flag says whether it was created.
    pub fn device_entry(&mut self, ip: IpAddr, ts: Ts) -> Option<(&mut Device, bool)> {
        let mut created = false;
        if !self.devices.contains_key(&ip) {
            if self.devices.len() >= MAX_DEVICES {
                // Least recently seen non-baseline device, PLCs last.
                let victim = self
                    .devices
                    .values()
                    .filter(|d| !d.baseline)
                    .min_by_key(|d| (d.is_plc(), d.last_seen, d.address))
                    .map(|d| d.address);
                self.evicted += 1;
                let v = victim?;
                self.devices.remove(&v);
            }
            self.devices.insert(ip, Device::new(ip, ts));
            created = true;
        }
        self.devices.get_mut(&ip).map(|d| (d, created))
    }
}

/// The talker `ip` of `plc`, created (first seen at `ts`) when absent. `None`
/// when the PLC's table is full of baseline talkers (the new one is dropped and
/// counted in `evicted`). The flag says whether it was created.
pub fn talker_entry<'a>(plc: &'a mut Device, ip: IpAddr, ts: Ts, evicted: &mut u64) -> Option<(&'a mut Talker, bool)> {
    let mut created = false;
    if !plc.talkers.contains_key(&ip) {
        if plc.talkers.len() >= MAX_TALKERS {
            let victim = plc
                .talkers
                .iter()
                .filter(|(_, t)| !t.baseline)
                .min_by_key(|(a, t)| (t.last_seen, **a))
                .map(|(a, _)| *a);
            *evicted += 1;
            plc.talkers.remove(&victim?);
        }
        plc.talkers.insert(ip, Talker { first_seen: ts, last_seen: ts, baseline: false, functions: BTreeMap::new() });
        created = true;
    }
    plc.talkers.get_mut(&ip).map(|t| (t, created))
}

impl Talker {
    /// Count one use of `f` at `ts`. Returns `Some(true)` when the function is
    /// new for this talker, `Some(false)` when known, `None` when the talker
    /// already has [`MAX_FUNCTIONS`] functions (dropped, counted in `evicted`).
    /// Allocates only for a new function.
    pub fn use_function(&mut self, f: FunctionKind, ts: Ts, evicted: &mut u64) -> Option<bool> {
        if ts > self.last_seen {
            self.last_seen = ts;
        }
        if let Some(s) = self.functions.get_mut(f.name()) {
            s.count += 1;
            if ts > s.last_seen {
                s.last_seen = ts;
            }
            return Some(false);
        }
        if self.functions.len() >= MAX_FUNCTIONS {
            *evicted += 1;
            return None;
        }
        self.functions
            .insert(f.name().to_string(), FunctionSeen { first_seen: ts, last_seen: ts, count: 1, baseline: false });
        Some(true)
    }
}

/// Merge the fleets of flow-sharded workers that all started from `start`
/// (`replay --threads`). Each PLC's traffic is processed on one worker, so a
/// PLC's talkers, identity and state changes come whole from the worker that
/// saw them; a host seen by several workers (a client of PLCs on different
/// workers) gets the earliest first-seen, the latest last-seen and the highest
/// role. A worker's copy equal to the starting one is ignored (that worker
/// never saw the host). Evictions are summed (counted once for what `start`
/// already had).
pub fn merge_shards(start: &Fleet, parts: Vec<Fleet>) -> Fleet {
    // Every worker sees every packet's time, so all freeze the baseline at the
    // same packet time: compare each copy with the starting fleet after the
    // same transition.
    let mut reference = start.clone();
    if let Some(b) = parts.iter().map(|p| p.baseline).find(|b| *b != start.baseline) {
        if let (Baseline::Frozen { since }, false) = (b, start.is_frozen()) {
            reference.freeze(since);
        }
        reference.baseline = b;
    }
    let mut out = reference.clone();
    let mut touched = std::collections::BTreeSet::new();
    let mut quirks = out.quirks.values().map(Vec::len).sum::<usize>();
    for p in parts {
        out.evicted += p.evicted.saturating_sub(start.evicted);
        // Learned quirks: the union (each worker learned those of its own PLCs' talkers), capped.
        for (ip, rules) in p.quirks {
            for r in rules {
                let have = out.quirks.get(&ip).is_some_and(|v| v.contains(&r));
                if have {
                    continue;
                }
                if quirks >= crate::rules::policy::MAX_QUIRKS {
                    out.evicted += 1;
                    continue;
                }
                out.quirks.entry(ip).or_default().push(r);
                quirks += 1;
            }
        }
        // Learned storm rates: each pair lives in one worker (sharding by PLC); the larger per class, capped.
        for ((talker, plc), r) in p.storm_rates {
            // A full table was counted in `evicted` by `learn_storm_rates`.
            let _ = out.learn_storm_rates(talker, plc, r);
        }
        for (ip, d) in p.devices {
            // A worker that never saw this host hands back the starting copy.
            if reference.devices.get(&ip) == Some(&d) {
                continue;
            }
            if touched.insert(ip) {
                out.devices.insert(ip, d);
            } else if let Some(o) = out.devices.get_mut(&ip) {
                merge_device(o, d);
            }
        }
    }
    out
}

fn merge_device(o: &mut Device, mut d: Device) {
    // The fresher copy is the base; the other only adds what it alone saw.
    if d.last_seen > o.last_seen {
        std::mem::swap(o, &mut d);
    }
    o.first_seen = o.first_seen.min(d.first_seen);
    o.last_seen = o.last_seen.max(d.last_seen);
    o.role = o.role.max(d.role);
    o.baseline |= d.baseline;
    if d.identity.seen > o.identity.seen {
        o.identity = d.identity;
    }
    for c in d.changes {
        if !o.changes.contains(&c) {
            o.changes.push(c);
        }
    }
    o.changes.sort_by_key(|a| (a.ts, a.frame));
    for sc in d.state_changes {
        if !o.state_changes.contains(&sc) {
            o.state_changes.push(sc);
        }
    }
    o.state_changes.sort_by_key(|a| a.ts);
    let excess = o.state_changes.len().saturating_sub(MAX_STATE_CHANGES);
    o.state_changes.drain(..excess);
    let c = &mut o.connection;
    for t in d.connection.tsaps {
        if !c.tsaps.contains(&t) {
            c.tsaps.push(t);
        }
    }
    c.pdu_size = c.pdu_size.or(d.connection.pdu_size);
    c.amq = c.amq.or(d.connection.amq);
    c.s7comm |= d.connection.s7comm;
    c.s7comm_plus |= d.connection.s7comm_plus;
    c.tls |= d.connection.tls;
    for (ip, t) in d.talkers {
        match o.talkers.get(&ip) {
            Some(ot) if ot.last_seen >= t.last_seen => {}
            _ => {
                o.talkers.insert(ip, t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn function_names_are_unique_snake_case_and_round_trip() {
        for (i, f) in FunctionKind::ALL.iter().enumerate() {
            assert_eq!(FunctionKind::from_name(f.name()), Some(*f));
            assert!(f.name().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{f:?}");
            assert!(FunctionKind::ALL[..i].iter().all(|g| g.name() != f.name()));
        }
        assert_eq!(FunctionKind::CpuStop.name(), "cpu_stop");
        assert!(FunctionKind::CpuStop.is_control() && !FunctionKind::ReadVar.is_control());
        assert!(FunctionKind::WriteVar.is_write());
    }

    #[test]
    fn sharded_fleets_merge_their_learned_quirks() {
        let mut start = Fleet::default();
        start.quirks.insert(ip("10.0.0.1"), vec!["malformed.cotp".into()]);
        let mut a = start.clone();
        a.quirks.get_mut(&ip("10.0.0.1")).unwrap().push("crash_pattern.cotp_dr".into());
        let mut b = start.clone();
        b.quirks.insert(ip("10.0.0.2"), vec!["malformed.s7comm".into()]);
        let m = merge_shards(&start, vec![a, b]);
        assert_eq!(m.quirks[&ip("10.0.0.1")], vec!["malformed.cotp".to_string(), "crash_pattern.cotp_dr".to_string()]);
        assert_eq!(m.quirks[&ip("10.0.0.2")], vec!["malformed.s7comm".to_string()]);
        assert_eq!(m.evicted, 0);
    }

    #[test]
    fn sharded_fleets_merge_their_learned_storm_rates() {
        let r = |write, read| StormRates { write, read, other: 0 };
        let (h1, h2, plc) = (ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.1.1"));
        let mut start = Fleet::default();
        start.storm_rates.insert((h1, plc), r(5, 10));
        // Each worker learned its own PLC's pairs; one that never saw a pair hands back the start.
        let mut a = start.clone();
        a.storm_rates.insert((h1, plc), r(7, 10));
        let mut b = start.clone();
        b.storm_rates.insert((h2, plc), r(0, 40));
        let m = merge_shards(&start, vec![a, b]);
        let got: Vec<_> = m.storm_rates.into_iter().collect();
        assert_eq!(got, vec![((h1, plc), r(7, 10)), ((h2, plc), r(0, 40))]);
        assert_eq!(m.evicted, 0);
        // Bounded: a full table takes no new pair, and counts it.
        let cap = crate::rules::storm::MAX_STORM_TALKERS as u32;
        let mut full = Fleet::default();
        for i in 0..cap {
            full.storm_rates.insert((IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i)), plc), r(1, 1));
        }
        let mut c = full.clone();
        c.storm_rates.insert((h2, plc), r(1, 1));
        let m = merge_shards(&full, vec![c]);
        assert_eq!((m.storm_rates.len(), m.evicted), (cap as usize, 1));
    }

    #[test]
    fn roles_only_move_up_and_plc_wins() {
        assert_eq!(Role::Unknown.max(Role::Hmi), Role::Hmi);
        assert_eq!(Role::EngineeringStation.max(Role::Hmi), Role::EngineeringStation);
        assert_eq!(Role::Hmi.max(Role::Plc), Role::Plc);
        assert_eq!(Role::Plc.max(Role::EngineeringStation), Role::Plc);
        assert_eq!(Role::of_class(FunctionClass::Engineering), Role::EngineeringStation);
    }

    #[test]
    fn versions_and_order_numbers_compare_at_common_precision() {
        assert!(versions_agree("V2.9", "V2.9.2"));
        assert!(versions_agree("V2.9.2", "V2.9.2"));
        assert!(!versions_agree("V2.9.2", "V2.9.4"));
        assert!(!versions_agree("V4.2", "V4.3"));
        assert!(order_numbers_agree("6ES7 511-1AK02-0AB0", "6es7511-1AK02-0AB0 "));
        assert!(!order_numbers_agree("6ES7 511-1AK02-0AB0", "6ES7 511-1AL03-0AB0"));
    }

    #[test]
    fn freeze_marks_everything_known() {
        let mut f = Fleet::default();
        let t0 = Ts::new(100, 0);
        let mut ev = 0;
        let (plc, new) = f.device_entry(ip("10.0.0.1"), t0).unwrap();
        assert!(new);
        let (t, _) = talker_entry(plc, ip("10.0.0.2"), t0, &mut ev).unwrap();
        assert_eq!(t.use_function(FunctionKind::ReadVar, t0, &mut ev), Some(true));
        assert_eq!(t.use_function(FunctionKind::ReadVar, Ts::new(101, 0), &mut ev), Some(false));
        f.freeze(Ts::new(200, 0));
        assert!(f.is_frozen());
        let d = f.device(ip("10.0.0.1")).unwrap();
        let t = &d.talkers[&ip("10.0.0.2")];
        assert!(d.baseline && t.baseline && t.functions["read_var"].baseline);
        assert_eq!(t.functions["read_var"].count, 2);
        assert_eq!(t.last_seen, Ts::new(101, 0));
    }

    #[test]
    fn caps_evict_non_baseline_and_never_baseline() {
        let mut f = Fleet::default();
        let t = |s| Ts::new(s, 0);
        for i in 0..MAX_DEVICES {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i as u32));
            f.device_entry(a, t(i as i64)).unwrap();
        }
        f.freeze(t(10_000));
        // Full of baseline devices: the new one is dropped and counted.
        assert!(f.device_entry(ip("192.168.0.1"), t(10_001)).is_none());
        assert_eq!((f.devices.len(), f.evicted), (MAX_DEVICES, 1));
        // One non-baseline device: it makes room.
        f.devices.get_mut(&ip("10.0.0.5")).unwrap().baseline = false;
        assert!(f.device_entry(ip("192.168.0.1"), t(10_002)).is_some());
        assert!(f.device(ip("10.0.0.5")).is_none());
        assert_eq!((f.devices.len(), f.evicted), (MAX_DEVICES, 2));

        let mut plc = Device::new(ip("10.0.0.1"), t(0));
        let mut ev = 0;
        for i in 0..MAX_TALKERS {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i as u32));
            talker_entry(&mut plc, a, t(i as i64), &mut ev).unwrap();
        }
        // The oldest non-baseline talker goes.
        talker_entry(&mut plc, ip("192.168.0.2"), t(1000), &mut ev).unwrap();
        assert!(!plc.talkers.contains_key(&ip("11.0.0.0")));
        assert_eq!((plc.talkers.len(), ev), (MAX_TALKERS, 1));
        let tk = plc.talkers.get_mut(&ip("192.168.0.2")).unwrap();
        for f in FunctionKind::ALL {
            tk.use_function(*f, t(1), &mut ev);
        }
        assert!(tk.functions.len() <= MAX_FUNCTIONS);
    }
}
