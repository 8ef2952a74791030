//! Detector caps: every table or buffer the detector bounds, one [`Cap`]
//! each, counted in [`CapCounters`].

/// Declares [`Cap`] and everything derived from it: one line per cap.
macro_rules! caps {
    ($($(#[$m:meta])* $v:ident = $name:literal, $help:literal;)*) => {
        /// A detector cap: a table or buffer the detector bounds. Each hit is
        /// counted in [`CapCounters`] (also in the metrics,
        /// `s7sentry_detector_cap_hits_total{cap}`, and in the replay summary).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Cap {
            $(#[doc = $help] $(#[$m])* $v,)*
        }

        impl Cap {
            /// Every cap, in the order of the metric series and the summary.
            pub const ALL: &'static [Cap] = &[$(Cap::$v),*];

            /// The `cap` label value (also the summary's name).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Cap::$v => $name,)*
                }
            }

            /// What a hit means.
            pub const fn help(self) -> &'static str {
                match self {
                    $(Cap::$v => $help,)*
                }
            }
        }
    };
}

caps! {
    TransactionsPerFlow = "transactions_per_flow",
        "Open transactions forgotten because a connection had `txn::MAX_TXNS_PER_FLOW` open ones.";
    Plcs = "plcs", "PLC entries forgotten because the PLC table was full.";
    AggregationWindows = "aggregation_windows", "Aggregation windows closed early because the table was full.";
    SourcesPerPlc = "sources_per_plc",
        "(PLC, source) connection counters forgotten because a PLC had 256 sources.";
    PendingOperations = "pending_operations",
        "Control operations reported unconfirmed because a connection had `MAX_PENDING_OPS` waiting for answers.";
    LatencySamples = "latency_samples",
        "Latency samples dropped because more than `MAX_LATENCY_SAMPLES` answers arrived between two exporter flushes.";
    StateChanges = "state_changes",
        "Operating-state changes not handed to the exporter because more than `MAX_LATENCY_SAMPLES` arrived between two flushes.";
    Suspects = "suspects",
        "Suspect packets forgotten (oldest first) because a PLC had 32 remembered for loss-of-communication correlation.";
    ClientsTrying = "clients_trying", "Clients not listed in an outage because 16 already were.";
    Quirks = "quirks", "(talker, rule) pairs not learned as quirks because the table held `policy::MAX_QUIRKS`.";
    StormTalkers = "storm_talkers",
        "(talker, PLC) pairs whose request rates were forgotten because `storm::MAX_STORM_TALKERS` were followed, \
         or whose learned rates were not kept in the fleet because it held that many.";
    HeldAlerts = "held_alerts",
        "Alerts a replay released before their turn (out of packet-time order) because `s7sentry_sensor::hold::MAX_HELD` were held waiting for a follow-up's window to close.";
}

impl Cap {
    /// Number of caps.
    pub const COUNT: usize = Cap::ALL.len();
}

/// Detector caps hit, per [`Cap`]: every table or buffer the detector bounds,
/// counted each time the bound forgets or refuses something. The inventory's
/// own caps are counted in [`crate::assets::Fleet::evicted`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapCounters([u64; Cap::COUNT]);

impl std::ops::Index<Cap> for CapCounters {
    type Output = u64;
    fn index(&self, c: Cap) -> &u64 {
        &self.0[c as usize]
    }
}

impl std::ops::IndexMut<Cap> for CapCounters {
    fn index_mut(&mut self, c: Cap) -> &mut u64 {
        &mut self.0[c as usize]
    }
}

impl CapCounters {
    /// The `cap` label values, in the order of [`CapCounters::named`].
    pub const NAMES: [&'static str; Cap::COUNT] = {
        let mut a = [""; Cap::COUNT];
        let mut i = 0;
        while i < Cap::COUNT {
            a[i] = Cap::ALL[i].name();
            i += 1;
        }
        a
    };

    /// Each counter with its `cap` label value.
    pub fn named(&self) -> [(&'static str, u64); Cap::COUNT] {
        std::array::from_fn(|i| (Cap::ALL[i].name(), self.0[i]))
    }

    /// Add `o` (sum over workers / files).
    pub fn merge(&mut self, o: &CapCounters) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a += b;
        }
    }

    /// Sum of all counters.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}
