//! Packet time.

use core::fmt;

/// A capture timestamp in nanoseconds since the Unix epoch (UTC).
///
/// Serialises as the integer number of nanoseconds (records and alerts format
/// it as RFC 3339 text themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Ts(pub i64);

impl Ts {
    /// From seconds and nanoseconds.
    pub const fn new(secs: i64, nanos: u32) -> Ts {
        Ts(secs * 1_000_000_000 + nanos as i64)
    }
    /// Whole seconds.
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }
    /// Sub-second nanoseconds.
    pub const fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }
    /// `self + ms` milliseconds.
    pub const fn plus_ms(self, ms: u64) -> Ts {
        Ts(self.0 + ms as i64 * 1_000_000)
    }
    /// Milliseconds from `earlier` to `self` (0 when negative).
    pub fn ms_since(self, earlier: Ts) -> u64 {
        (self.0 - earlier.0).max(0) as u64 / 1_000_000
    }
    /// Seconds (float) from `earlier` to `self`.
    pub fn secs_since(self, earlier: Ts) -> f64 {
        (self.0 - earlier.0) as f64 / 1e9
    }
}

/// RFC 3339 UTC with microseconds, e.g. `2026-01-01T00:00:00.123456Z`.
impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.secs();
        let micros = self.subsec_nanos() / 1000;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(f, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z", sod / 3600, (sod / 60) % 60, sod % 60)
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn rfc3339() {
        assert_eq!(Ts::new(0, 0).to_string(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(Ts::new(1_767_225_600, 123_456_789).to_string(), "2026-01-01T00:00:00.123456Z");
        assert_eq!(Ts::new(951_782_400, 0).to_string(), "2000-02-29T00:00:00.000000Z");
        assert_eq!(Ts::new(1_709_164_799, 999_999_999).to_string(), "2024-02-28T23:59:59.999999Z");
    }
}
