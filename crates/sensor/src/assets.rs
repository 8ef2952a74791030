//! The inventory state of a run (`--state FILE`, `--learn DURATION`): opened
//! at the start, handed to the detector(s) while packets flow, taken back,
//! merged from shards, saved.
//!
//! Who owns the fleet when: [`Assets`] holds it between runs ("parked");
//! [`Assets::attach`] moves it into a detector (which fills it from the
//! traffic) and [`Assets::detach`] takes it back; a sharded run gives every
//! worker a copy ([`Assets::attach_shards`]) and [`Assets::detach_shards`]
//! merges the copies back into one fleet. [`Assets::save`] writes the fleet
//! wherever it is at the moment.

use s7sentry_engine::assets::{merge_shards, Baseline, Fleet};
use s7sentry_engine::rules::Detector;
use s7sentry_export::VulnerableDevice;
use s7sentry_inventory::report::{self, Correlator};
use s7sentry_inventory::{baseline, SaveStats, Saved, Store};
use std::path::Path;
use std::time::Duration;

/// The inventory of a `replay` or `live` run: the state file (if any) and the
/// fleet while no detector holds it.
pub struct Assets {
    store: Option<Store>,
    parked: Option<Fleet>,
    /// The fleet the shards started from (sharded runs, until they are merged).
    shard_base: Option<Fleet>,
    learn: Option<Duration>,
    saved_generation: u64,
    saved_once: bool,
}

/// Applies a baseline decision made by `s7sentry baseline` to a fleet.
fn apply_baseline(fleet: &mut Fleet, b: Baseline) {
    match b {
        Baseline::Frozen { since } => baseline::freeze(fleet, since),
        Baseline::Learning { until } => baseline::learn(fleet, Some(until)),
        Baseline::Off => baseline::learn(fleet, None),
    }
}

impl Assets {
    /// Opens the state file `state` (creating it) and loads the fleet. `None`
    /// when neither a state file nor a learning period is given and `always`
    /// is false: then the run keeps no inventory. Errors are one line naming
    /// the file.
    pub fn open(state: Option<&Path>, learn: Option<Duration>, always: bool) -> Result<Option<Assets>, String> {
        if state.is_none() && learn.is_none() && !always {
            return Ok(None);
        }
        let (store, fleet) = match state {
            Some(path) => {
                let mut store = Store::open(path).map_err(|e| format!("--state {e}"))?;
                let fleet = store.load().map_err(|e| format!("--state {e}"))?;
                (Some(store), fleet)
            }
            None => (None, Fleet::default()),
        };
        Ok(Some(Assets { store, parked: Some(fleet), shard_base: None, learn, saved_generation: 0, saved_once: false }))
    }

    /// Record `name` as the sensor writing the state file (no-op without one).
    /// Errors are one line naming the file.
    pub fn set_sensor(&mut self, name: &str) -> Result<(), String> {
        match self.store.as_mut() {
            Some(s) => s.set_sensor_name(name).map_err(|e| format!("--state {e}")),
            None => Ok(()),
        }
    }

    /// The state file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.store.as_ref().map(Store::path)
    }

    /// Gives the fleet to `det` (the first time, with the learning period).
    pub fn attach(&mut self, det: &mut Detector) {
        if let Some(fleet) = self.parked.take() {
            det.enable_assets(fleet);
        }
        if let Some(d) = self.learn.take() {
            det.set_learning(d);
        }
    }

    /// Gives each of `dets` (the workers of a sharded run) a copy of the fleet
    /// and the learning period; take them back with [`Assets::detach_shards`].
    pub fn attach_shards<'a>(&mut self, dets: impl IntoIterator<Item = &'a mut Detector>) {
        let Some(fleet) = self.parked.take() else { return };
        let learn = self.learn.take();
        for det in dets {
            det.enable_assets(fleet.clone());
            if let Some(d) = learn {
                det.set_learning(d);
            }
        }
        self.shard_base = Some(fleet);
    }

    /// Merges the workers' fleets back into one and keeps it until the next run or save.
    pub fn detach_shards<'a>(&mut self, dets: impl IntoIterator<Item = &'a mut Detector>) {
        let Some(base) = self.shard_base.take() else { return };
        let parts: Vec<Fleet> = dets.into_iter().filter_map(Detector::take_fleet).collect();
        self.parked = Some(merge_shards(&base, parts));
    }

    /// Takes the fleet back from a detector that is done with its input.
    pub fn detach(&mut self, det: &mut Detector) {
        if let Some(f) = det.take_fleet() {
            self.parked = Some(f);
        }
    }

    /// The fleet, from the detector or parked here.
    pub fn fleet<'a>(&'a self, det: Option<&'a Detector>) -> Option<&'a Fleet> {
        match det {
            Some(d) if d.assets_enabled() => Some(d.fleet()),
            _ => self.parked.as_ref(),
        }
    }

    /// Whether the fleet changed since the last save (always true before the first).
    pub fn dirty(&self, det: Option<&Detector>) -> bool {
        !self.saved_once || det.map_or(0, Detector::fleet_generation) != self.saved_generation
    }

    /// Saves the fleet, from `det` or parked here (no-op without a state file).
    /// When an operator changed the baseline in the file meanwhile, applies that
    /// decision to the fleet and saves again. Errors are one line naming the file.
    pub fn save(&mut self, mut det: Option<&mut Detector>) -> Result<Option<SaveStats>, String> {
        let generation = det.as_deref().map_or(0, Detector::fleet_generation);
        let Some(store) = self.store.as_mut() else { return Ok(None) };
        for _ in 0..3 {
            let fleet = match det.as_deref() {
                Some(d) if d.assets_enabled() => d.fleet(),
                _ => match self.parked.as_ref() {
                    Some(f) => f,
                    None => return Ok(None),
                },
            };
            match store.save(fleet).map_err(|e| e.to_string())? {
                Saved::Written(stats) => {
                    self.saved_generation = generation;
                    self.saved_once = true;
                    return Ok(Some(stats));
                }
                Saved::BaselineChanged(b) => {
                    tracing::info!(baseline = ?b, "baseline changed by `s7sentry baseline`; adopting it");
                    let f = match det.as_deref_mut().and_then(Detector::fleet_mut) {
                        Some(f) => Some(f),
                        None => self.parked.as_mut(),
                    };
                    if let Some(f) = f {
                        apply_baseline(f, b);
                    }
                }
            }
        }
        Err(format!("{}: the baseline keeps changing under this sensor; not saved", store.path().display()))
    }
}

/// Devices to which loaded advisories certainly apply (for the metrics).
pub fn vulnerable(fleet: &Fleet, correlator: &mut Correlator) -> Vec<VulnerableDevice> {
    if correlator.advisories().is_empty() {
        return Vec::new();
    }
    fleet
        .devices
        .values()
        .filter_map(|d| {
            let certain: Vec<_> = correlator.matches(&d.identity).iter().filter(|m| !m.possibly_affected).collect();
            if certain.is_empty() {
                return None;
            }
            Some(VulnerableDevice {
                address: d.address,
                severity: report::severity_band(certain.iter().filter_map(|m| m.cvss).reduce(f64::max)),
            })
        })
        .collect()
}
