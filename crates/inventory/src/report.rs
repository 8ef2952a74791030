//! The fleet report of `s7sentry inventory`: one row per device, correlated
//! with the loaded advisories, sorted by risk, as a table, JSON or CSV.
//!
//! ## Risk order
//! 1. Devices with applicable advisories that non-engineering hosts talk to,
//!    by `risk` = highest CVSS of the applicable advisories × number of such
//!    hosts (`exposure`), highest first;
//! 2. other devices with applicable advisories, by highest CVSS;
//! 3. other PLCs;
//! 4. clients: HMIs, engineering stations, hosts of unknown role.
//!
//! Ties are broken by address. An advisory "applies" when [`match_device`]
//! returns it for the device's order number, firmware and module type: the
//! device runs an affected firmware (or possibly does, when the firmware is
//! unknown: `possible: true`). A fixed version existing does not make the
//! device safe until it runs it.
//!
//! ## JSON
//! `s7sentry inventory --format json` prints an array of [`DeviceRow`]s; the
//! field docs below are the schema.

use crate::csaf::Advisory;
use crate::matching::{match_device, Match};
use s7sentry_engine::assets::{Baseline, Fleet, Identity, Role};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

/// CVSS v3 qualitative severity of a base score (`none` for no score or 0.0).
pub fn severity_band(score: Option<f64>) -> &'static str {
    match score {
        Some(s) if s >= 9.0 => "critical",
        Some(s) if s >= 7.0 => "high",
        Some(s) if s >= 4.0 => "medium",
        Some(s) if s > 0.0 => "low",
        _ => "none",
    }
}

/// (order number, firmware, module type) of a device.
type IdentityKey = (Option<String>, Option<String>, Option<String>);

/// Matches devices against a fixed set of advisories, remembering the result
/// per (order number, firmware, module type): a fleet has few distinct
/// identities, and the live sensor correlates after every save.
#[derive(Debug, Default)]
pub struct Correlator {
    advisories: Vec<Advisory>,
    cache: HashMap<IdentityKey, Vec<Match>>,
}

impl Correlator {
    /// A correlator over `advisories` (from [`crate::load_dir`]).
    pub fn new(advisories: Vec<Advisory>) -> Correlator {
        Correlator { advisories, cache: HashMap::new() }
    }

    /// The advisories loaded.
    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    /// The advisories that apply to a device of this identity (see [`match_device`]).
    pub fn matches(&mut self, identity: &Identity) -> &[Match] {
        let hint = identity.module_type.clone().or_else(|| identity.module_name.clone());
        let key = (identity.order_number.clone(), identity.firmware.clone(), hint);
        if self.advisories.is_empty() {
            return &[];
        }
        if !self.cache.contains_key(&key) {
            if self.cache.len() >= 4096 {
                self.cache.clear();
            }
            let m = match_device(&self.advisories, key.0.as_deref(), key.1.as_deref(), key.2.as_deref());
            self.cache.insert(key.clone(), m);
        }
        self.cache.get(&key).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// One host talking to a PLC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TalkerRow {
    /// Its address.
    pub address: IpAddr,
    /// Its role (`plc`, `hmi`, `engineering_station`, `unknown`).
    pub role: Role,
    /// Whether it is an engineering station.
    pub engineering: bool,
    /// First packet between the two (RFC 3339 UTC).
    pub first_seen: String,
    /// Latest packet between the two.
    pub last_seen: String,
    /// Part of the baseline.
    pub baseline: bool,
    /// Functions it used towards the PLC (stable names, sorted).
    pub functions: Vec<String>,
}

/// One advisory that applies to a device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdvisoryRow {
    /// CSAF tracking id, e.g. `ICSA-23-348-09`.
    pub id: String,
    /// Advisory title.
    pub title: String,
    /// CVE ids (or vulnerability labels) that affect the device.
    pub cves: Vec<String>,
    /// Highest CVSS v3 base score among them.
    pub cvss: Option<f64>,
    /// [`severity_band`] of `cvss`.
    pub severity: &'static str,
    /// Firmware version that fixes them all, or null.
    pub fixed_in: Option<String>,
    /// The advisory says no fix is planned / available for one of them.
    pub no_fix: bool,
    /// Only possibly applies (firmware unknown, range unparsable, ...).
    pub possible: bool,
    /// `order_number` or `family`.
    pub matched_by: &'static str,
    /// Product entries that matched.
    pub products: Vec<String>,
}

/// One identity change (old → new).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRow {
    /// `order_number`, `firmware` or `serial`.
    pub field: String,
    /// Before.
    pub old: String,
    /// After.
    pub new: String,
    /// When the new value was first seen (RFC 3339 UTC).
    pub ts: String,
    /// Capture record that carried it.
    pub frame: u64,
}

/// One operating-state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateRow {
    /// When (RFC 3339 UTC).
    pub ts: String,
    /// `stop`, `start`, ...
    pub state: String,
    /// Host that requested it, when known.
    pub by: Option<IpAddr>,
}

/// Connection parameters seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionRow {
    /// Destination TSAPs (hex).
    pub tsaps: Vec<String>,
    /// Negotiated PDU size.
    pub pdu_size: Option<u16>,
    /// Max AmQ [calling, called].
    pub amq: Option<[u16; 2]>,
    /// S7comm seen.
    pub s7comm: bool,
    /// S7comm-plus seen.
    pub s7comm_plus: bool,
    /// TLS seen.
    pub tls: bool,
}

/// One device of the report (one JSON object of `inventory --format json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceRow {
    /// IP address.
    pub address: IpAddr,
    /// `plc`, `hmi`, `engineering_station` or `unknown`.
    pub role: Role,
    /// Order number (MLFB) as the device reports it.
    pub order_number: Option<String>,
    /// Firmware version.
    pub firmware: Option<String>,
    /// Hardware version.
    pub hardware: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Module type name, e.g. `CPU 1511-1 PN`.
    pub module_type: Option<String>,
    /// PLC name.
    pub plc_name: Option<String>,
    /// Module name.
    pub module_name: Option<String>,
    /// Plant identification.
    pub plant_id: Option<String>,
    /// Where the identity came from (`szl`, `s7comm-plus`).
    pub identity_source: Option<String>,
    /// First packet (RFC 3339 UTC).
    pub first_seen: String,
    /// Latest packet (RFC 3339 UTC).
    pub last_seen: String,
    /// Part of the baseline.
    pub baseline: bool,
    /// Hosts talking to this device (PLCs), by address.
    pub talkers: Vec<TalkerRow>,
    /// PLCs this device talks to (clients), by address.
    pub talks_to: Vec<IpAddr>,
    /// Non-engineering hosts talking to it.
    pub exposure: Vec<IpAddr>,
    /// Applicable advisories, certain before possible, then by CVSS.
    pub advisories: Vec<AdvisoryRow>,
    /// Highest CVSS of the applicable advisories.
    pub max_cvss: Option<f64>,
    /// [`severity_band`] of `max_cvss` (`none` without advisories).
    pub severity: &'static str,
    /// Null without advisories; true when each applicable advisory names a
    /// fixed version; false when one does not.
    pub fix_available: Option<bool>,
    /// `max_cvss` × number of `exposure` hosts (0 without advisories).
    pub risk: f64,
    /// Identity changes seen, oldest first.
    pub identity_changes: Vec<ChangeRow>,
    /// Operating-state changes seen, oldest first.
    pub state_changes: Vec<StateRow>,
    /// Connection parameters.
    pub connection: ConnectionRow,
    /// Sensors whose state lists this device (`inventory --state A --state B`);
    /// empty (and absent from JSON and CSV) for a single state file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sensors: Vec<String>,
}

impl DeviceRow {
    fn group(&self) -> u8 {
        match (self.advisories.is_empty(), self.exposure.is_empty(), self.role) {
            (false, false, _) => 0,
            (false, true, _) => 1,
            (true, _, Role::Plc) => 2,
            _ => 3,
        }
    }
}

fn role_rank(r: Role) -> u8 {
    match r {
        Role::Plc => 0,
        Role::EngineeringStation => 1,
        Role::Hmi => 2,
        Role::Unknown => 3,
    }
}

/// Builds the report rows of `fleet`, sorted by risk (see the module docs).
pub fn build(fleet: &Fleet, correlator: &mut Correlator) -> Vec<DeviceRow> {
    let role_of = |ip: &IpAddr| fleet.devices.get(ip).map_or(Role::Unknown, |d| d.role);
    let mut talks_to: BTreeMap<IpAddr, Vec<IpAddr>> = BTreeMap::new();
    for d in fleet.devices.values() {
        for t in d.talkers.keys() {
            talks_to.entry(*t).or_default().push(d.address);
        }
    }
    let mut rows: Vec<DeviceRow> = fleet
        .devices
        .values()
        .map(|d| {
            let i = &d.identity;
            let talkers: Vec<TalkerRow> = d
                .talkers
                .iter()
                .map(|(a, t)| {
                    let role = role_of(a);
                    TalkerRow {
                        address: *a,
                        role,
                        engineering: role == Role::EngineeringStation,
                        first_seen: t.first_seen.to_string(),
                        last_seen: t.last_seen.to_string(),
                        baseline: t.baseline,
                        functions: t.functions.keys().cloned().collect(),
                    }
                })
                .collect();
            let exposure: Vec<IpAddr> = talkers.iter().filter(|t| !t.engineering).map(|t| t.address).collect();
            let advisories: Vec<AdvisoryRow> = correlator
                .matches(i)
                .iter()
                .map(|m| AdvisoryRow {
                    id: m.tracking_id.clone(),
                    title: m.title.clone(),
                    cves: m.cves.clone(),
                    cvss: m.cvss,
                    severity: severity_band(m.cvss),
                    fixed_in: m.fixed_in.clone(),
                    no_fix: m.no_fix,
                    possible: m.possibly_affected,
                    matched_by: m.matched_by.as_str(),
                    products: m.products.clone(),
                })
                .collect();
            let max_cvss = advisories.iter().filter_map(|a| a.cvss).reduce(f64::max);
            let fix_available =
                if advisories.is_empty() { None } else { Some(advisories.iter().all(|a| a.fixed_in.is_some())) };
            let risk = if advisories.is_empty() { 0.0 } else { max_cvss.unwrap_or(0.0) * exposure.len() as f64 };
            let c = &d.connection;
            DeviceRow {
                address: d.address,
                role: d.role,
                order_number: i.order_number.clone(),
                firmware: i.firmware.clone(),
                hardware: i.hardware.clone(),
                serial: i.serial.clone(),
                module_type: i.module_type.clone(),
                plc_name: i.plc_name.clone(),
                module_name: i.module_name.clone(),
                plant_id: i.plant_id.clone(),
                identity_source: i.source.clone(),
                first_seen: d.first_seen.to_string(),
                last_seen: d.last_seen.to_string(),
                baseline: d.baseline,
                talkers,
                talks_to: talks_to.get(&d.address).cloned().unwrap_or_default(),
                exposure,
                severity: if advisories.is_empty() { "none" } else { severity_band(max_cvss) },
                advisories,
                max_cvss,
                fix_available,
                risk: (risk * 10.0).round() / 10.0,
                identity_changes: d
                    .changes
                    .iter()
                    .map(|c| ChangeRow {
                        field: c.field.clone(),
                        old: c.old.clone(),
                        new: c.new.clone(),
                        ts: c.ts.to_string(),
                        frame: c.frame,
                    })
                    .collect(),
                state_changes: d
                    .state_changes
                    .iter()
                    .map(|s| StateRow { ts: s.ts.to_string(), state: s.state.clone(), by: s.by })
                    .collect(),
                connection: ConnectionRow {
                    tsaps: c.tsaps.clone(),
                    pdu_size: c.pdu_size,
                    amq: c.amq.map(|(a, b)| [a, b]),
                    s7comm: c.s7comm,
                    s7comm_plus: c.s7comm_plus,
                    tls: c.tls,
                },
                sensors: Vec::new(),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        a.group()
            .cmp(&b.group())
            .then(b.risk.total_cmp(&a.risk))
            .then(b.max_cvss.unwrap_or(0.0).total_cmp(&a.max_cvss.unwrap_or(0.0)))
            .then(role_rank(a.role).cmp(&role_rank(b.role)))
            .then(a.address.cmp(&b.address))
    });
    rows
}

/// JSON array, one object per device, pretty-printed, with a final newline.
pub fn to_json(rows: &[DeviceRow]) -> String {
    let mut s = serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

/// Column names of [`to_csv`].
pub const CSV_COLUMNS: [&str; 20] = [
    "address",
    "role",
    "order_number",
    "firmware",
    "hardware",
    "serial",
    "module_type",
    "plc_name",
    "first_seen",
    "last_seen",
    "talkers",
    "exposure",
    "advisories",
    "max_cvss",
    "severity",
    "fix_available",
    "fixed_in",
    "risk",
    "identity_changes",
    "state_changes",
];

/// CSV (RFC 4180, CRLF line ends), a header line then one line per device.
/// Lists inside a cell are separated by `;`: talkers as `ADDRESS ROLE`,
/// advisories as tracking ids (`?` appended when only possible), `fixed_in`
/// as `ID=VERSION` (`ID=none` without a fix), identity changes as
/// `FIELD OLD>NEW TS`, state changes as `STATE TS [by ADDRESS]`. A cell that
/// starts with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` so that a
/// spreadsheet does not run it as a formula (device names come off the wire).
pub fn to_csv(rows: &[DeviceRow]) -> String {
    let mut out = String::new();
    // The sensors column only for a merged report (single-state output unchanged).
    let merged = rows.iter().any(|r| !r.sensors.is_empty());
    out.push_str(&CSV_COLUMNS.join(","));
    if merged {
        out.push_str(",sensors");
    }
    out.push_str("\r\n");
    for r in rows {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        let cells: [String; 20] = [
            r.address.to_string(),
            r.role.name().to_string(),
            o(&r.order_number),
            o(&r.firmware),
            o(&r.hardware),
            o(&r.serial),
            o(&r.module_type),
            o(&r.plc_name),
            r.first_seen.clone(),
            r.last_seen.clone(),
            r.talkers.iter().map(|t| format!("{} {}", t.address, t.role.name())).collect::<Vec<_>>().join(";"),
            r.exposure.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(";"),
            r.advisories
                .iter()
                .map(|a| format!("{}{}", a.id, if a.possible { "?" } else { "" }))
                .collect::<Vec<_>>()
                .join(";"),
            r.max_cvss.map(|c| format!("{c:.1}")).unwrap_or_default(),
            r.severity.to_string(),
            r.fix_available.map(|b| b.to_string()).unwrap_or_default(),
            r.advisories
                .iter()
                .map(|a| format!("{}={}", a.id, a.fixed_in.as_deref().unwrap_or("none")))
                .collect::<Vec<_>>()
                .join(";"),
            format!("{:.1}", r.risk),
            r.identity_changes
                .iter()
                .map(|c| format!("{} {}>{} {}", c.field, c.old, c.new, c.ts))
                .collect::<Vec<_>>()
                .join(";"),
            r.state_changes
                .iter()
                .map(|s| match s.by {
                    Some(b) => format!("{} {} by {b}", s.state, s.ts),
                    None => format!("{} {}", s.state, s.ts),
                })
                .collect::<Vec<_>>()
                .join(";"),
        ];
        let mut line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        if merged {
            line.push(csv_cell(&r.sensors.join(";")));
        }
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_cell(s: &str) -> String {
    let mut v = String::with_capacity(s.len() + 2);
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        v.push('\'');
    }
    v.push_str(s);
    if v.contains([',', '"', '\n', '\r']) || v.starts_with(' ') || v.ends_with(' ') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// Text for a table cell: control characters shown as `?`, `-` for nothing.
fn cell(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.chars().map(|c| if c.is_control() { '?' } else { c }).collect(),
        _ => "-".into(),
    }
}

fn short_role(r: Role) -> &'static str {
    match r {
        Role::Plc => "plc",
        Role::Hmi => "hmi",
        Role::EngineeringStation => "eng",
        Role::Unknown => "?",
    }
}

/// `2026-01-01T00:00:00Z` (seconds) from the full RFC 3339 text.
fn to_seconds(rfc3339: &str) -> String {
    match rfc3339.split_once('.') {
        Some((head, _)) => format!("{head}Z"),
        None => rfc3339.to_string(),
    }
}

/// At most `n` items, then `+K`.
fn first_n(items: Vec<String>, n: usize) -> String {
    let k = items.len();
    let mut s = items.into_iter().take(n).collect::<Vec<_>>().join(", ");
    if k > n {
        let _ = write!(s, ", +{}", k - n);
    }
    s
}

/// The human table: a summary line, one aligned line per device (most at risk
/// first), then each applicable advisory once with its CVEs, score and fix.
pub fn to_table(rows: &[DeviceRow], fleet: &Fleet, advisories_loaded: usize) -> String {
    let mut out = String::new();
    let n = |r: Role| rows.iter().filter(|x| x.role == r).count();
    let vulnerable = rows.iter().filter(|r| !r.advisories.is_empty()).count();
    let mode = match fleet.baseline {
        Baseline::Off => "baseline: off (learning)".to_string(),
        Baseline::Learning { until } => format!("baseline: learning until {}", to_seconds(&until.to_string())),
        Baseline::Frozen { since } => format!("baseline: frozen since {}", to_seconds(&since.to_string())),
    };
    let _ = writeln!(
        out,
        "{} devices: {} PLC, {} HMI, {} engineering, {} unknown; {} with advisories ({} advisories loaded); {}{}",
        rows.len(),
        n(Role::Plc),
        n(Role::Hmi),
        n(Role::EngineeringStation),
        n(Role::Unknown),
        vulnerable,
        advisories_loaded,
        mode,
        if fleet.evicted > 0 { format!("; {} entries evicted at caps", fleet.evicted) } else { String::new() },
    );
    if rows.is_empty() {
        return out;
    }
    out.push('\n');
    let header = [
        "ADDRESS",
        "ROLE",
        "ORDER NUMBER",
        "FIRMWARE",
        "SERIAL",
        "LAST SEEN",
        "TALKERS",
        "EXPOSED",
        "CVSS",
        "ADVISORIES",
        "FIX",
    ];
    let merged = rows.iter().any(|r| !r.sensors.is_empty());
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    if merged {
        table[0].insert(1, "SENSORS".into());
    }
    for r in rows {
        let talkers = if !r.talkers.is_empty() {
            first_n(r.talkers.iter().map(|t| format!("{} {}", t.address, short_role(t.role))).collect(), 3)
        } else if !r.talks_to.is_empty() {
            format!("to {}", first_n(r.talks_to.iter().map(IpAddr::to_string).collect(), 3))
        } else {
            "-".into()
        };
        let advisories = if r.advisories.is_empty() {
            "-".into()
        } else {
            r.advisories
                .iter()
                .map(|a| format!("{}{}", a.id, if a.possible { "?" } else { "" }))
                .collect::<Vec<_>>()
                .join(",")
        };
        let fix = match (r.advisories.iter().filter(|a| a.fixed_in.is_some()).count(), r.advisories.len()) {
            (_, 0) => "-",
            (k, all) if k == all => "yes",
            (0, _) => "no",
            _ => "partial",
        };
        table.push(vec![
            r.address.to_string(),
            short_role(r.role).to_string(),
            cell(r.order_number.as_deref()),
            cell(r.firmware.as_deref()),
            cell(r.serial.as_deref()),
            to_seconds(&r.last_seen),
            talkers,
            if r.talkers.is_empty() { "-".into() } else { r.exposure.len().to_string() },
            r.max_cvss.map(|c| format!("{c:.1}")).unwrap_or_else(|| "-".into()),
            advisories,
            fix.to_string(),
        ]);
        if merged {
            if let Some(row) = table.last_mut() {
                row.insert(1, r.sensors.join(","));
            }
        }
    }
    let widths: Vec<usize> =
        (0..table[0].len()).map(|c| table.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
    for row in &table {
        let mut line = String::new();
        for (c, v) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(v);
            } else {
                let _ = write!(line, "{v:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // Each advisory once.
    let mut seen: BTreeMap<&str, (&AdvisoryRow, Vec<String>)> = BTreeMap::new();
    for r in rows {
        for a in &r.advisories {
            seen.entry(a.id.as_str()).or_insert_with(|| (a, Vec::new())).1.push(r.address.to_string());
        }
    }
    if !seen.is_empty() {
        let mut list: Vec<_> = seen.into_values().collect();
        list.sort_by(|a, b| b.0.cvss.unwrap_or(0.0).total_cmp(&a.0.cvss.unwrap_or(0.0)).then(a.0.id.cmp(&b.0.id)));
        let _ = writeln!(out, "\nAdvisories (? = possibly applies: firmware unknown or range unclear):");
        for (a, devices) in list {
            let fixed = match (&a.fixed_in, a.no_fix) {
                (Some(v), _) => format!("fixed in {v}"),
                (None, true) => "no fix planned".into(),
                (None, false) => "no fixed version named".into(),
            };
            let _ = writeln!(
                out,
                "  {}  CVSS {} {}  {}  {}\n      {}\n      devices: {}",
                a.id,
                a.cvss.map(|c| format!("{c:.1}")).unwrap_or_else(|| "-".into()),
                a.severity,
                fixed,
                cell(Some(&a.title)),
                a.cves.join(", "),
                first_n(devices, 8),
            );
        }
    }
    out
}
