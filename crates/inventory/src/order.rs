//! Siemens order numbers (MLFB, "Bestellnummer") and controller families.
//!
//! An order number such as `6ES7 511-1AK02-0AB0` is written by Siemens with or
//! without the space after the four-character prefix, and by people in any case.
//! [`normalize_order_number`] turns all of those into one canonical form: no
//! space, upper case, e.g. `6ES7511-1AK02-0AB0`.
//!
//! Advisories sometimes name a set of order numbers with wildcards, e.g.
//! `6ES7511-1AKxx-0AB0`. In the canonical form a wildcard for one character is a
//! lower-case `x` (a lower-case `x` in a string that otherwise carries upper-case
//! letters, or a CSAF `?`), and `*` stands for any run of characters (CSAF
//! model-number wildcard). An upper-case `X` is always a literal: real order
//! numbers contain it (`6ES7 215-1AG40-0XB0`).

/// A controller family known to the matcher.
///
/// All family knowledge lives in [`FAMILIES`]: which order numbers belong to
/// which family, which words name the family in advisories, and which CPU model
/// numbers (as in a module name like `CPU 1511-1 PN`) identify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// Canonical family name, as returned by [`family_of`], e.g. `S7-1500`.
    pub name: &'static str,
    /// Canonical order-number prefixes of the family's CPUs (no space),
    /// including SIPLUS variants (`6AG1…`, `6AG2…`).
    pub order_prefixes: &'static [&'static str],
    /// Words that name the family in product names and hints (matched case
    /// insensitively, as a whole word).
    pub names: &'static [&'static str],
    /// CPU model-number prefixes with the model number's digit count, as they
    /// appear after `CPU ` in a module name (`CPU 1511-1 PN` → `151`, 4 digits).
    pub cpu_models: &'static [(&'static str, usize)],
}

/// The controller families, in one place.
///
/// | family | CPU order numbers | examples |
/// |---|---|---|
/// | S7-1500 | `6ES7 51x-…` (incl. ET 200SP / ET 200pro CPUs), SIPLUS `6AG1 51x`, `6AG2 51x` | `6ES7 511-1AK02-0AB0` (CPU 1511-1 PN) |
/// | S7-1200 | `6ES7 21x-…`, SIPLUS `6AG1 21x`, `6AG2 21x` | `6ES7 215-1AG40-0XB0` (CPU 1215C) |
/// | S7-300 | `6ES7 31x-…`, SIPLUS `6AG1 31x`, `6AG2 31x` | `6ES7 315-2EH14-0AB0` (CPU 315-2 PN/DP) |
/// | S7-400 | `6ES7 41x-…` except `6ES7 410`, SIPLUS `6AG1 41x` | `6ES7 414-5HM06-0AB0` (CPU 414-5H) |
/// | S7-410 | `6ES7 410-…`, SIPLUS `6AG1 410` (PCS 7 controller; advisories list it apart from S7-400) | `6ES7 410-5HX08-0AB0` |
/// | Drive Controller | `6ES7 615-…` (SIMATIC Drive Controller CPU 1504D/1507D) | `6ES7 615-4DF10-0AB0` |
///
/// [`family_of`] picks the longest matching prefix, so `6ES7 410` is S7-410
/// even though `6ES7 41` is S7-400.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "S7-1500",
        order_prefixes: &["6ES751", "6AG151", "6AG251"],
        names: &["S7-1500"],
        cpu_models: &[("151", 4)],
    },
    Family {
        name: "S7-1200",
        order_prefixes: &["6ES721", "6AG121", "6AG221"],
        names: &["S7-1200"],
        cpu_models: &[("121", 4)],
    },
    Family {
        name: "S7-300",
        order_prefixes: &["6ES731", "6AG131", "6AG231"],
        names: &["S7-300"],
        cpu_models: &[("31", 3)],
    },
    Family { name: "S7-400", order_prefixes: &["6ES741", "6AG141"], names: &["S7-400"], cpu_models: &[("41", 3)] },
    Family { name: "S7-410", order_prefixes: &["6ES7410", "6AG1410"], names: &["S7-410"], cpu_models: &[("410", 3)] },
    Family {
        name: "Drive Controller",
        order_prefixes: &["6ES7615"],
        names: &["Drive Controller"],
        cpu_models: &[("150", 4)],
    },
];

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Characters allowed inside an order-number group: letters, digits, and the
/// CSAF single-character wildcard `?`.
fn is_group_char(b: u8) -> bool {
    is_alnum(b) || b == b'?'
}

/// Parses an order number starting at `i`. Returns the raw groups and the
/// index just past it. The number must end at a word boundary.
fn parse_at(b: &[u8], i: usize) -> Option<(Vec<&[u8]>, usize)> {
    let group = |start: usize, len: usize| -> Option<&[u8]> {
        let g = b.get(start..start + len)?;
        g.iter().all(|&c| is_group_char(c)).then_some(g)
    };
    if b.get(i) != Some(&b'6') {
        return None;
    }
    let prefix = group(i, 4)?;
    // The prefix is letters and digits only, e.g. 6ES7, 6AG1, 6GK7.
    if !prefix.iter().all(|&c| is_alnum(c)) || !prefix[1].is_ascii_alphabetic() {
        return None;
    }
    let mut j = i + 4;
    if b.get(j) == Some(&b' ') {
        j += 1;
    }
    let model = group(j, 3)?;
    j += 3;
    if b.get(j) != Some(&b'-') {
        return None;
    }
    let second = group(j + 1, 5)?;
    j += 6;
    let mut groups = vec![prefix, model, second];
    if b.get(j) == Some(&b'-') {
        if let Some(third) = group(j + 1, 4) {
            if !b.get(j + 5).is_some_and(|&c| is_group_char(c)) {
                groups.push(third);
                j += 5;
            }
        }
    }
    if b.get(j).is_some_and(|&c| is_group_char(c)) {
        return None;
    }
    Some((groups, j))
}

/// Builds the canonical string from raw groups (see the module docs for the
/// wildcard rule).
fn canonical(groups: &[&[u8]]) -> String {
    let mixed = groups.iter().flat_map(|g| g.iter()).any(|c| c.is_ascii_uppercase());
    let mut out = String::with_capacity(18);
    for (n, g) in groups.iter().enumerate() {
        if n >= 2 {
            out.push('-');
        }
        for &c in g.iter() {
            let ch = match c {
                b'?' => 'x',
                b'x' if mixed => 'x',
                other => other.to_ascii_uppercase() as char,
            };
            out.push(ch);
        }
    }
    out
}

/// Normalises one order number to the canonical form: no space after the
/// prefix, upper case (wildcards as described in the module docs).
///
/// `6ES7 511-1AK02-0AB0`, `6ES7511-1AK02-0AB0` and `6es7 511-1ak02-0ab0` all
/// give `Some("6ES7511-1AK02-0AB0")`. Surrounding whitespace (SZL fields are
/// space-padded) is ignored. Anything that is not exactly one order number gives
/// `None`. Order numbers without the last group (`6GK1411-1AC00`) are accepted.
pub fn normalize_order_number(s: &str) -> Option<String> {
    let t = s.trim();
    let b = t.as_bytes();
    match parse_at(b, 0) {
        Some((groups, end)) if end == b.len() => Some(canonical(&groups)),
        _ => normalize_glob(t),
    }
}

/// Accepts a CSAF model-number pattern that uses `*` (e.g. `6ES7511-1AK*`).
fn normalize_glob(t: &str) -> Option<String> {
    if !t.contains('*') || !t.starts_with('6') || t.len() < 5 {
        return None;
    }
    let ok = t.bytes().all(|c| is_alnum(c) || matches!(c, b'-' | b'*' | b'?' | b' '));
    if !ok || t.bytes().filter(|&c| c == b' ').count() > 1 {
        return None;
    }
    let compact: Vec<u8> = t.bytes().filter(|&c| c != b' ').collect();
    let mixed = compact.iter().any(|c| c.is_ascii_uppercase());
    Some(
        compact
            .iter()
            .map(|&c| match c {
                b'?' => 'x',
                b'x' if mixed => 'x',
                other => other.to_ascii_uppercase() as char,
            })
            .collect(),
    )
}

/// Finds every order number in a free text such as a CSAF product name
/// (`SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK02-0AB0)`), in canonical form,
/// without duplicates, in order of appearance.
pub fn extract_order_numbers(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let at_boundary = i == 0 || !is_group_char(b[i - 1]);
        if b[i] == b'6' && at_boundary {
            if let Some((groups, end)) = parse_at(b, i) {
                let c = canonical(&groups);
                if !out.contains(&c) {
                    out.push(c);
                }
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Whether a canonical order-number `pattern` (possibly with `x` / `*`
/// wildcards) matches a canonical device order number.
pub fn order_number_matches(pattern: &str, device: &str) -> bool {
    fn glob(p: &[u8], d: &[u8]) -> bool {
        match p.split_first() {
            None => d.is_empty(),
            Some((b'*', rest)) => (0..=d.len()).any(|k| glob(rest, &d[k..])),
            Some((&pc, rest)) => match d.split_first() {
                Some((&dc, drest)) => {
                    let one = if pc == b'x' { dc != b'-' } else { pc == dc.to_ascii_uppercase() };
                    one && glob(rest, drest)
                }
                None => false,
            },
        }
    }
    glob(pattern.as_bytes(), device.as_bytes())
}

/// The family whose CPUs carry this order number (see [`FAMILIES`]), or `None`
/// for order numbers of other devices. The input need not be normalised.
///
/// `family_of("6ES7 511-1AK02-0AB0") == Some("S7-1500")`,
/// `family_of("6ES7215-1AG40-0XB0") == Some("S7-1200")`.
pub fn family_of(order_number: &str) -> Option<&'static str> {
    let canon = normalize_order_number(order_number)?;
    family_entry_of(&canon).map(|f| f.name)
}

fn family_entry_of(canon: &str) -> Option<&'static Family> {
    FAMILIES
        .iter()
        .filter_map(|f| {
            f.order_prefixes.iter().filter(|p| canon.starts_with(**p)).map(|p| (p.len(), f)).max_by_key(|(n, _)| *n)
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, f)| f)
}

/// Finds `word` in `text` as a whole word, case-insensitively; returns the byte
/// offset just after it.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let hay = text.to_ascii_lowercase();
    let needle = word.to_ascii_lowercase();
    let hb = hay.as_bytes();
    let mut from = 0;
    while let Some(pos) = hay[from..].find(&needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = start == 0 || !is_alnum(hb[start - 1]);
        let after_ok = end == hb.len() || !is_alnum(hb[end]);
        if before_ok && after_ok {
            return Some(end);
        }
        from = start + 1;
    }
    None
}

/// The family named by a free-text hint: a family word (`S7-1500`,
/// `SIMATIC S7-1200`, `s7-300`) or a CPU module name (`CPU 1511-1 PN` →
/// S7-1500, `CPU 1214C DC/DC/DC` → S7-1200, `CPU 315-2 PN/DP` → S7-300,
/// `CPU 414-3` → S7-400, `CPU 410-5H` → S7-410).
pub fn family_from_hint(hint: &str) -> Option<&'static str> {
    // The longest family word wins (S7-410 before S7-400 cannot clash as
    // whole words, but keep it deterministic).
    let by_word = FAMILIES
        .iter()
        .filter(|f| f.names.iter().any(|n| find_word(hint, n).is_some()))
        .max_by_key(|f| f.names.iter().map(|n| n.len()).max().unwrap_or(0));
    if let Some(f) = by_word {
        return Some(f.name);
    }
    let end = find_word(hint, "CPU")?;
    let rest = hint[end..].trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    FAMILIES
        .iter()
        .filter_map(|f| {
            f.cpu_models
                .iter()
                .filter(|(p, n)| digits.len() == *n && digits.starts_with(p))
                .map(|(p, _)| (p.len(), f))
                .max_by_key(|(n, _)| *n)
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, f)| f.name)
}

/// A product entry that names a whole family rather than order numbers, e.g.
/// `SIMATIC S7-1500 CPU family (incl. related ET200 CPUs and SIPLUS variants)`
/// or `SIMATIC S7-400 H V6 CPU family (incl. SIPLUS variants)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FamilyRef {
    /// Canonical family name (a [`Family::name`]).
    pub name: &'static str,
    /// Firmware generation the entry is limited to (`V6` in
    /// `S7-400 H V6 CPU family`): the device's firmware major version must equal it.
    pub generation: Option<u32>,
    /// `Some(true)` for redundant (H) CPUs only (`S7-400 H …`), `Some(false)` for
    /// standard CPUs only (`S7-400 PN/DP …`); checked on the order number
    /// (`6ES7 414-5HM06-0AB0`: an `H` right after the first digit of the second group).
    pub redundant: Option<bool>,
    /// The entry includes SIPLUS variants (`6AG1…` / `6AG2…` order numbers).
    pub siplus: bool,
}

/// Recognises a family entry in a product name: the name must contain the
/// word `family` and one of the family words of [`FAMILIES`].
///
/// `SIMATIC S7-1500 Software Controller` is not a family entry (no `family`
/// word); neither is a name with an order number in it (callers check that).
pub fn family_in_product_name(name: &str) -> Option<FamilyRef> {
    find_word(name, "family")?;
    let (family, end) =
        FAMILIES.iter().find_map(|f| f.names.iter().find_map(|n| find_word(name, n)).map(|end| (f, end)))?;
    // Qualifiers between the family word and "family": "H", "PN/DP", "V6".
    let family_at = find_word(name, "family").unwrap_or(name.len());
    let between = if family_at > end { &name[end..family_at] } else { "" };
    let mut generation = None;
    let mut redundant = None;
    for tok in between.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
        if tok.eq_ignore_ascii_case("H") {
            redundant = Some(true);
        } else if tok.eq_ignore_ascii_case("PN/DP") && redundant.is_none() {
            redundant = Some(false);
        } else if let Some(n) = tok.strip_prefix(['V', 'v']).and_then(|d| d.parse::<u32>().ok()) {
            generation = Some(n);
        }
    }
    Some(FamilyRef { name: family.name, generation, redundant, siplus: name.to_ascii_uppercase().contains("SIPLUS") })
}

/// Whether a canonical order number denotes a redundant (H) CPU: the character
/// after the first digit of the second group is `H` (`6ES7414-5HM06-0AB0`).
pub(crate) fn is_redundant_cpu(canon: &str) -> bool {
    canon.as_bytes().get(9) == Some(&b'H')
}

/// Whether a canonical order number is a SIPLUS variant (`6AG…`).
pub(crate) fn is_siplus(canon: &str) -> bool {
    canon.starts_with("6AG")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_spacing_and_case() {
        for s in ["6ES7 511-1AK02-0AB0", "6ES7511-1AK02-0AB0", "6es7 511-1ak02-0ab0", "  6ES7 511-1AK02-0AB0 "] {
            assert_eq!(normalize_order_number(s).as_deref(), Some("6ES7511-1AK02-0AB0"), "{s}");
        }
        assert_eq!(normalize_order_number("6ES7 215-1AG40-0XB0").as_deref(), Some("6ES7215-1AG40-0XB0"));
        assert_eq!(normalize_order_number("6GK1411-1AC00").as_deref(), Some("6GK1411-1AC00"));
        assert_eq!(normalize_order_number("6ES7511-1AKxx-0AB0").as_deref(), Some("6ES7511-1AKxx-0AB0"));
        assert_eq!(normalize_order_number("6ES7511-1AK??-0AB0").as_deref(), Some("6ES7511-1AKxx-0AB0"));
        assert_eq!(normalize_order_number("6ES7511-1AK*").as_deref(), Some("6ES7511-1AK*"));
        for bad in ["", "S7-1500", "6ES7 511", "6ES7511-1AK02-0AB0 extra", "CPU 1511-1 PN", "6ES7  511-1AK02-0AB0"] {
            assert_eq!(normalize_order_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn extracts_from_product_names() {
        assert_eq!(
            extract_order_numbers("SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK02-0AB0)"),
            vec!["6ES7511-1AK02-0AB0"]
        );
        assert_eq!(
            extract_order_numbers("CPU 1511 (6ES7 511-1AK02-0AB0, 6AG1511-1AK02-2AB0; 6ES7511-1AK02-0AB0)"),
            vec!["6ES7511-1AK02-0AB0", "6AG1511-1AK02-2AB0"]
        );
        assert_eq!(extract_order_numbers("SIMATIC Cloud Connect 7 CC712 (6GK1411-1AC00)"), vec!["6GK1411-1AC00"]);
        assert!(extract_order_numbers("SIMATIC S7-1500 CPU family (incl. SIPLUS variants)").is_empty());
        assert!(extract_order_numbers("SIMATIC S7-400 H V6 CPU family").is_empty());
        assert!(extract_order_numbers("x16ES7511-1AK02-0AB0").is_empty());
    }

    #[test]
    fn wildcards_match_but_upper_case_x_is_literal() {
        assert!(order_number_matches("6ES7511-1AKxx-0AB0", "6ES7511-1AK02-0AB0"));
        assert!(!order_number_matches("6ES7511-1AKxx-0AB0", "6ES7511-1AL03-0AB0"));
        assert!(order_number_matches("6ES7511-1AK*", "6ES7511-1AK02-0AB0"));
        assert!(order_number_matches("6ES7215-1AG40-0XB0", "6ES7215-1AG40-0XB0"));
        assert!(!order_number_matches("6ES7215-1AG40-0XB0", "6ES7215-1AG40-0AB0"));
        assert!(!order_number_matches("6ES7511-1AK02-0AB0", "6ES7511-1AK02-0AB1"));
    }

    #[test]
    fn families_by_order_number() {
        assert_eq!(family_of("6ES7 511-1AK02-0AB0"), Some("S7-1500"));
        assert_eq!(family_of("6ES7510-1DJ01-0AB0"), Some("S7-1500"));
        assert_eq!(family_of("6AG1511-1AK02-2AB0"), Some("S7-1500"));
        assert_eq!(family_of("6ES7 215-1AG40-0XB0"), Some("S7-1200"));
        assert_eq!(family_of("6ES7315-2EH14-0AB0"), Some("S7-300"));
        assert_eq!(family_of("6ES7414-5HM06-0AB0"), Some("S7-400"));
        assert_eq!(family_of("6ES7410-5HX08-0AB0"), Some("S7-410"));
        assert_eq!(family_of("6ES7615-4DF10-0AB0"), Some("Drive Controller"));
        assert_eq!(family_of("6ES7521-1BL00-0AB0"), None, "an S7-1500 input module is no CPU");
        assert_eq!(family_of("6GK7543-1MX00-0XE0"), None);
        assert_eq!(family_of("not an order number"), None);
    }

    #[test]
    fn families_by_hint() {
        assert_eq!(family_from_hint("S7-1500"), Some("S7-1500"));
        assert_eq!(family_from_hint("SIMATIC s7-1200 station"), Some("S7-1200"));
        assert_eq!(family_from_hint("CPU 1511-1 PN"), Some("S7-1500"));
        assert_eq!(family_from_hint("CPU 1214C DC/DC/DC"), Some("S7-1200"));
        assert_eq!(family_from_hint("CPU 315-2 PN/DP"), Some("S7-300"));
        assert_eq!(family_from_hint("CPU 414-3 PN/DP"), Some("S7-400"));
        assert_eq!(family_from_hint("CPU 410-5H"), Some("S7-410"));
        assert_eq!(family_from_hint("S7-15000"), None);
        assert_eq!(family_from_hint("HMI panel"), None);
    }

    #[test]
    fn family_entries() {
        let f = family_in_product_name("SIMATIC S7-1500 CPU family (incl. related ET200 CPUs and SIPLUS variants)");
        assert_eq!(f, Some(FamilyRef { name: "S7-1500", generation: None, redundant: None, siplus: true }));
        let f = family_in_product_name("SIMATIC S7-400 H V6 CPU family (incl. SIPLUS variants)").unwrap();
        assert_eq!((f.name, f.generation, f.redundant), ("S7-400", Some(6), Some(true)));
        let f = family_in_product_name("SIMATIC S7-400 PN/DP V7 CPU family (incl. SIPLUS variants)").unwrap();
        assert_eq!((f.name, f.generation, f.redundant), ("S7-400", Some(7), Some(false)));
        let f = family_in_product_name("SIMATIC S7-410 V10 CPU family (incl. SIPLUS variants)").unwrap();
        assert_eq!((f.name, f.generation), ("S7-410", Some(10)));
        assert_eq!(family_in_product_name("SIMATIC Drive Controller family").unwrap().name, "Drive Controller");
        assert_eq!(family_in_product_name("SIMATIC S7-1500 Software Controller"), None);
        assert_eq!(family_in_product_name("SIMATIC ET200SP IM155-6 PN HF (incl. SIPLUS variants)"), None);
        assert!(is_redundant_cpu("6ES7414-5HM06-0AB0"));
        assert!(!is_redundant_cpu("6ES7416-3ES07-0AB0"));
    }
}
