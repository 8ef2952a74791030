//! Firmware versions as Siemens writes them, and version ranges as CSAF
//! advisories write them.
//!
//! Versions: `V3.0.1`, `V2.9.7`, `3.1`, `V 2.9.2`, `V1.8.5 HF1`, `V4.0 SP1`,
//! `V5.2 SP 3 HF 13`, `V16 Update 3`. They compare by their dotted numbers
//! (missing trailing parts count as zero: `V3.1` = `V3.1.0`), then service pack,
//! then update, then hotfix.
//!
//! Ranges ([`VersionRange::parse`]): the `vers:` form (`vers:intdot/<3.1.0`,
//! `vers:all/*`, `vers:intdot/>=2.0|<2.9.4`, and the unseparated
//! `vers:all/>=V2.9.2<V2.9.4` found in CISA files), bare constraints (`<V3.1.0`,
//! `>=V2.0 <V2.9.4`), and Siemens prose (`All versions < V4.3`,
//! `All versions >= V4.0 < V4.0 SP1`, `All versions with Ethernet interface`).
//! Containment follows the algorithm of the vers specification.

use serde::{Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

/// A parsed firmware version.
#[derive(Debug, Clone)]
pub struct Version {
    numbers: Vec<u32>,
    service_pack: u32,
    update: u32,
    hotfix: u32,
    text: String,
}

impl Version {
    /// Parses a firmware version; `None` if the text is not one.
    pub fn parse(s: &str) -> Option<Version> {
        let text = s.trim();
        let mut rest = text.strip_prefix(['V', 'v']).unwrap_or(text).trim_start();
        let mut numbers = Vec::new();
        loop {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            numbers.push(rest[..digits].parse().ok()?);
            rest = &rest[digits..];
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
        let (mut service_pack, mut update, mut hotfix) = (0, 0, 0);
        loop {
            rest = rest.trim_start_matches([' ', '-', '_']);
            if rest.is_empty() {
                break;
            }
            let word_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let word = rest[..word_len].to_ascii_uppercase();
            rest = rest[word_len..].trim_start();
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let n: u32 = rest[..digits].parse().ok()?;
            rest = &rest[digits..];
            match word.as_str() {
                "SP" => service_pack = n,
                "UPD" | "UPDATE" => update = n,
                "HF" => hotfix = n,
                _ => return None,
            }
        }
        Some(Version { numbers, service_pack, update, hotfix, text: text.to_string() })
    }

    /// The dotted numbers (`V2.9.7` → `[2, 9, 7]`).
    pub fn numbers(&self) -> &[u32] {
        &self.numbers
    }

    /// The major version (`V2.9.7` → 2).
    pub fn major(&self) -> u32 {
        self.numbers[0]
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn trimmed(&self) -> &[u32] {
        let n = self.numbers.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
        &self.numbers[..n]
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.trimmed()
            .cmp(other.trimmed())
            .then(self.service_pack.cmp(&other.service_pack))
            .then(self.update.cmp(&other.update))
            .then(self.hotfix.cmp(&other.hotfix))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// A comparison operator of a version constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=` (also a bare version)
    Eq,
    /// `!=`
    Ne,
}

impl Comparator {
    fn parse(op: &str) -> Option<Comparator> {
        Some(match op {
            "<" => Comparator::Lt,
            "<=" | "=<" => Comparator::Le,
            ">" => Comparator::Gt,
            ">=" | "=>" => Comparator::Ge,
            "" | "=" | "==" => Comparator::Eq,
            "!=" => Comparator::Ne,
            _ => return None,
        })
    }

    fn symbol(self) -> &'static str {
        match self {
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Eq => "=",
            Comparator::Ne => "!=",
        }
    }
}

/// One constraint: a comparator and a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// The comparator.
    pub op: Comparator,
    /// The version compared with.
    pub version: Version,
}

impl Constraint {
    /// Whether `v` satisfies this single constraint.
    pub fn holds(&self, v: &Version) -> bool {
        match self.op {
            Comparator::Lt => v < &self.version,
            Comparator::Le => v <= &self.version,
            Comparator::Gt => v > &self.version,
            Comparator::Ge => v >= &self.version,
            Comparator::Eq => v == &self.version,
            Comparator::Ne => v != &self.version,
        }
    }
}

/// The versions a product entry covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRange {
    /// All versions (`vers:all/*`, `All versions`, or no version given).
    Any,
    /// Exactly one version (a CSAF `product_version` branch).
    Exact(Version),
    /// A list of constraints, read as the vers specification reads them
    /// (`>=2.0|<2.9.4` is the interval from 2.0 up to, not including, 2.9.4).
    Constraints(Vec<Constraint>),
    /// Text that could not be understood; matching reports "possibly affected".
    Unparsed(String),
}

impl VersionRange {
    /// Parses a range as written in a `product_version_range` branch (see the
    /// module docs for the accepted forms). Never fails: text it cannot read
    /// becomes [`VersionRange::Unparsed`].
    pub fn parse(text: &str) -> VersionRange {
        let t = text.trim();
        let body = if let Some(rest) = strip_prefix_ci(t, "vers:") {
            match rest.split_once('/') {
                Some((_scheme, constraints)) => constraints.trim(),
                None => return VersionRange::Unparsed(t.to_string()),
            }
        } else if let Some(rest) = strip_prefix_ci(t, "all versions") {
            let rest = rest.trim_start_matches([' ', ':']).trim();
            // "All versions" alone, or qualified by hardware ("with Ethernet
            // interface"), covers every firmware version.
            if rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return VersionRange::Any;
            }
            rest
        } else {
            t
        };
        if body == "*" {
            return VersionRange::Any;
        }
        match parse_constraints(body) {
            Some(cs) => VersionRange::Constraints(cs),
            None => VersionRange::Unparsed(t.to_string()),
        }
    }

    /// An exact version (a CSAF `product_version` branch name).
    pub fn exact(text: &str) -> VersionRange {
        match Version::parse(text) {
            Some(v) => VersionRange::Exact(v),
            None => VersionRange::Unparsed(text.trim().to_string()),
        }
    }

    /// Whether this range covers every version.
    pub fn is_any(&self) -> bool {
        matches!(self, VersionRange::Any)
    }

    /// Whether `v` lies in the range; `None` when the range could not be parsed.
    pub fn contains(&self, v: &Version) -> Option<bool> {
        match self {
            VersionRange::Any => Some(true),
            VersionRange::Exact(x) => Some(v == x),
            VersionRange::Unparsed(_) => None,
            VersionRange::Constraints(cs) => Some(vers_contains(cs, v)),
        }
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRange::Any => f.write_str("*"),
            VersionRange::Exact(v) => write!(f, "={v}"),
            VersionRange::Constraints(cs) => {
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    write!(f, "{}{}", c.op.symbol(), c.version)?;
                }
                Ok(())
            }
            VersionRange::Unparsed(s) => f.write_str(s),
        }
    }
}

impl Serialize for VersionRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

fn is_op(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '!')
}

/// Splits `>=V2.9.2<V2.9.4`, `>= V4.0 < V4.0 SP1`, `>=2.0|<2.9.4` into
/// constraints.
fn parse_constraints(body: &str) -> Option<Vec<Constraint>> {
    let mut out = Vec::new();
    for piece in body.split(['|', ',']) {
        let mut segments: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut prev_op = false;
        for c in piece.chars() {
            let op = is_op(c);
            if op && !prev_op && !cur.trim().is_empty() {
                segments.push(std::mem::take(&mut cur));
            }
            cur.push(c);
            if !c.is_whitespace() {
                prev_op = op;
            }
        }
        segments.push(cur);
        for seg in segments {
            let seg = seg.trim();
            if seg.is_empty() {
                continue;
            }
            let op_len = seg.find(|c: char| !is_op(c)).unwrap_or(seg.len());
            let op = Comparator::parse(&seg[..op_len])?;
            let version = Version::parse(&seg[op_len..])?;
            out.push(Constraint { op, version });
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The containment check of the vers specification.
fn vers_contains(cs: &[Constraint], v: &Version) -> bool {
    if let [only] = cs {
        return only.holds(v);
    }
    if cs.iter().any(|c| matches!(c.op, Comparator::Eq | Comparator::Le | Comparator::Ge) && v == &c.version) {
        return true;
    }
    if cs.iter().any(|c| c.op == Comparator::Ne && v == &c.version) {
        return false;
    }
    let mut rest: Vec<&Constraint> = cs.iter().filter(|c| !matches!(c.op, Comparator::Eq | Comparator::Ne)).collect();
    if rest.is_empty() {
        // Only "=" / "!=" constraints: in when there is a "!=" (every other
        // version), out when there are only "=" (none of which matched).
        return cs.iter().any(|c| c.op == Comparator::Ne);
    }
    if let [only] = rest.as_slice() {
        return only.holds(v);
    }
    rest.sort_by(|a, b| a.version.cmp(&b.version));
    let last = rest.len() - 2;
    for (i, pair) in rest.windows(2).enumerate() {
        let (cur, next) = (pair[0], pair[1]);
        let cur_upper = matches!(cur.op, Comparator::Lt | Comparator::Le);
        let cur_lower = matches!(cur.op, Comparator::Gt | Comparator::Ge);
        let next_upper = matches!(next.op, Comparator::Lt | Comparator::Le);
        let next_lower = matches!(next.op, Comparator::Gt | Comparator::Ge);
        if i == 0 && cur_upper && v < &cur.version {
            return true;
        }
        if i == last && next_lower && v > &next.version {
            return true;
        }
        if cur_lower && next_upper && v > &cur.version && v < &next.version {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    fn within(range: &str, version: &str) -> Option<bool> {
        VersionRange::parse(range).contains(&v(version))
    }

    #[test]
    fn parses_s7_firmware_strings() {
        assert_eq!(v("V3.0.1").numbers(), &[3, 0, 1]);
        assert_eq!(v("3.1").numbers(), &[3, 1]);
        assert_eq!(v("V 2.9.2").numbers(), &[2, 9, 2]);
        assert_eq!(v("v21.9.4").major(), 21);
        assert!(v("V1.8.5 HF1") > v("V1.8.5"));
        assert!(v("V1.8.5 HF1") < v("V1.8.6"));
        assert!(v("V4.0 SP1") > v("V4.0"));
        assert_eq!(v("V5.2 SP 3 HF 13"), v("5.2 SP3 HF13"));
        assert!(v("V5.2 SP3 HF12") < v("V5.2 SP3 HF13"));
        assert!(v("V16 Update 3") > v("V16"));
        assert_eq!(v("V3.1"), v("V3.1.0"));
        assert!(v("V2.9.10") > v("V2.9.9"));
        assert!(v("V21.9") > v("V2.9.7"));
        assert_eq!(v("V2.9.2").to_string(), "V2.9.2");
        for bad in ["", "V", "abc", "V2..3", "V2.9.2 beta", "All versions with Ethernet interface", "V2.9.2 HF"] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn vers_ranges() {
        assert_eq!(within("vers:intdot/<3.1.0", "3.0.9"), Some(true));
        assert_eq!(within("vers:intdot/<3.1.0", "V3.1.0"), Some(false));
        assert_eq!(within("vers:intdot/<3.1.0", "3.1"), Some(false));
        assert_eq!(within("vers:all/*", "1.0"), Some(true));
        assert!(VersionRange::parse("vers:all/*").is_any());
        assert_eq!(within("vers:intdot/>=2.0|<2.9.4", "2.0"), Some(true));
        assert_eq!(within("vers:intdot/>=2.0|<2.9.4", "2.9.3"), Some(true));
        assert_eq!(within("vers:intdot/>=2.0|<2.9.4", "2.9.4"), Some(false));
        assert_eq!(within("vers:intdot/>=2.0|<2.9.4", "1.9"), Some(false));
        assert_eq!(within("vers:intdot/<=1.5|>=3.0", "1.5"), Some(true));
        assert_eq!(within("vers:intdot/<=1.5|>=3.0", "2.0"), Some(false));
        assert_eq!(within("vers:intdot/<=1.5|>=3.0", "4.0"), Some(true));
        assert_eq!(within("vers:intdot/1.2.3|>=2.0.0|<5.0.0", "1.2.3"), Some(true));
        assert_eq!(within("vers:intdot/1.2.3|>=2.0.0|<5.0.0", "1.2.4"), Some(false));
        assert_eq!(within("vers:intdot/>=2.0.0|<5.0.0|!=3.0", "3.0"), Some(false));
        assert_eq!(within("vers:intdot/=2.9.2", "2.9.2"), Some(true));
        assert_eq!(within("vers:intdot/!=2.9.2", "2.9.3"), Some(true));
        assert_eq!(within("vers:intdot/>2.0|<=2.5", "2.5"), Some(true));
        assert_eq!(within("vers:intdot/>2.0|<=2.5", "2.0"), Some(false));
    }

    #[test]
    fn ranges_as_found_in_cisa_files() {
        // icsa-22-041-01: no "|" between the two constraints.
        assert_eq!(within("vers:all/>=V2.9.2<V2.9.4", "V2.9.2"), Some(true));
        assert_eq!(within("vers:all/>=V2.9.2<V2.9.4", "V2.9.4"), Some(false));
        assert_eq!(within("vers:all/>=V2.9.2<V2.9.4", "V2.9.1"), Some(false));
        // icsa-23-348-09: bare constraint.
        assert_eq!(within("<V3.1.0", "V3.0.3"), Some(true));
        assert_eq!(within("<V3.1.0", "V3.1.0"), Some(false));
        // icsa-18-317-05 / icsa-22-041-01 / icsa-22-104-06: prose.
        assert_eq!(within("All Versions < V4.3", "V4.2.3"), Some(true));
        assert_eq!(within("All Versions < V4.3", "V4.3"), Some(false));
        assert_eq!(within("All versions >= V4.0 < V4.0 SP1", "V4.0"), Some(true));
        assert_eq!(within("All versions >= V4.0 < V4.0 SP1", "V4.0 SP1"), Some(false));
        assert_eq!(within("All versions with Ethernet interface", "V1.0"), Some(true));
        assert_eq!(within("vers:all/<V5.2 SP 3 HF 13", "V5.2 SP3 HF12"), Some(true));
        assert_eq!(within("All versions < V5.2 SP3 HF13", "V5.2 SP3 HF13"), Some(false));
        assert_eq!(within(">=V2.0 <V2.9.4", "V2.5"), Some(true));
        assert_eq!(within("vers:all/>=4.2", "V4.2"), Some(true));
        assert_eq!(within("vers:all/>=V30.0.0", "V21.9.7"), Some(false));
    }

    #[test]
    fn unparsed_ranges_are_unknown() {
        assert_eq!(within("only with option X", "V1.0"), None);
        assert_eq!(within("vers:all/<soon", "V1.0"), None);
        assert_eq!(within("vers:nonsense", "V1.0"), None);
        assert_eq!(VersionRange::exact("V2.9.2").contains(&v("2.9.2.0")), Some(true));
        assert_eq!(VersionRange::exact("V2.9.2").contains(&v("2.9.3")), Some(false));
        assert_eq!(VersionRange::exact("latest").contains(&v("2.9.3")), None);
        assert_eq!(VersionRange::parse("vers:all/>=V2.9.2<V2.9.4").to_string(), ">=V2.9.2|<V2.9.4");
    }
}
