//! Matching one device against loaded advisories.

use crate::csaf::{highest_version, max_score, Advisory, ProductEntry, ProductStatus, Remediation};
use crate::order::{
    family_from_hint, family_of, is_redundant_cpu, is_siplus, normalize_order_number, order_number_matches,
};
use crate::version::Version;
use serde::Serialize;

/// How a device was tied to an advisory's product entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The device's order number equals one in the entry (`"order_number"`).
    OrderNumber,
    /// The entry names the device's whole family (`"family"`).
    Family,
}

impl MatchedBy {
    /// `"order_number"` or `"family"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::OrderNumber => "order_number",
            MatchedBy::Family => "family",
        }
    }
}

/// An advisory that applies to a device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The advisory's tracking id, e.g. `ICSA-23-348-09`.
    pub tracking_id: String,
    /// The advisory's title.
    pub title: String,
    /// The vulnerabilities (CVE ids, else their labels) that affect the device.
    pub cves: Vec<String>,
    /// Highest CVSS v3 base score of those vulnerabilities for the matched products.
    pub cvss: Option<f64>,
    /// The firmware version that fixes all of them, when the advisory names one
    /// for every one of them.
    pub fixed_in: Option<String>,
    /// The advisory says that for at least one of them no fix is planned or
    /// available.
    pub no_fix: bool,
    /// `order_number` if an entry with the device's order number matched, else `family`.
    pub matched_by: MatchedBy,
    /// No vulnerability is certain to apply, only possible: the firmware is
    /// unknown (or unreadable) and the entries limit versions, or an entry's range
    /// could not be parsed, or a family qualifier could not be checked, or the
    /// status is `under_investigation`.
    pub possibly_affected: bool,
    /// Names of the product entries that matched (to explain the match).
    pub products: Vec<String>,
}

/// Whether something is certain or only possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Certainty {
    Certain,
    Possible,
}

/// What the device is, normalised once.
struct Device {
    order: Option<String>,
    family: Option<&'static str>,
    firmware: Option<Version>,
}

/// Per-vulnerability evidence within one advisory.
#[derive(Default, Clone)]
struct Evidence {
    certain: bool,
    possible: bool,
    by_order: bool,
    cvss: Option<f64>,
    remediations: Vec<Remediation>,
    /// A matching entry with status fixed / not affected covers the firmware,
    /// by order number (`.0`) or by family (`.1`).
    excluded: (bool, bool),
    products: Vec<String>,
}

/// Finds the advisories that apply to a device.
///
/// * `order_number`: as read from the device, any spacing or case
///   (`6ES7 511-1AK02-0AB0`).
/// * `firmware`: as read from the device (`V2.9.2`); `None` or unreadable →
///   entries that limit versions only make the device "possibly affected".
/// * `family_hint`: a family word or module name (`S7-1500`, `CPU 1511-1 PN`),
///   used when the order number does not give the family.
///
/// Rules, per product entry of each advisory:
/// 1. Identity. An entry with order numbers matches when one of them equals the
///    device's (after normalisation; `x` / `*` wildcards allowed). An entry
///    without order numbers that names a family (`S7-1500 CPU family`) matches a
///    device of that family ([`family_of`] on the order number, else
///    [`family_from_hint`]); a SIPLUS device (`6AG…`) only if the entry includes
///    SIPLUS variants; an entry limited to a firmware generation (`V6`) only if
///    the firmware's major version is that; an entry for H (or PN/DP) CPUs only a
///    redundant (or standard) CPU by order number. Other entries never match.
/// 2. Version. The firmware must lie in the entry's range (`Any` always does;
///    unknown firmware or an unparsable range → possible).
/// 3. Status. Per vulnerability, the device is affected when a matching entry
///    in range is `known_affected` (or first/last affected; `under_investigation`
///    → possible) — unless a matching entry whose range certainly covers the
///    firmware is `fixed` / `known_not_affected` for it. A fixed entry matched by
///    family does not cancel an affected entry matched by order number.
/// 4. An advisory applies when at least one vulnerability affects the device.
///
/// Results are sorted: certain before possible, then by CVSS (highest first),
/// then by tracking id.
pub fn match_device(
    advisories: &[Advisory],
    order_number: Option<&str>,
    firmware: Option<&str>,
    family_hint: Option<&str>,
) -> Vec<Match> {
    let order = order_number.and_then(normalize_order_number);
    let family = order.as_deref().and_then(family_of).or_else(|| family_hint.and_then(family_from_hint));
    let device = Device { order, family, firmware: firmware.and_then(Version::parse) };
    let mut out: Vec<Match> = advisories.iter().filter_map(|a| match_advisory(a, &device)).collect();
    out.sort_by(|a, b| {
        a.possibly_affected
            .cmp(&b.possibly_affected)
            .then(b.cvss.unwrap_or(0.0).total_cmp(&a.cvss.unwrap_or(0.0)))
            .then(a.tracking_id.cmp(&b.tracking_id))
    });
    out
}

/// Ties a device to an entry: how, and whether certainly.
fn identify(entry: &ProductEntry, dev: &Device) -> Option<(MatchedBy, Certainty)> {
    if !entry.order_numbers.is_empty() {
        let order = dev.order.as_deref()?;
        return entry
            .order_numbers
            .iter()
            .any(|p| order_number_matches(p, order))
            .then_some((MatchedBy::OrderNumber, Certainty::Certain));
    }
    let fam = entry.family.as_ref()?;
    if dev.family? != fam.name {
        return None;
    }
    let mut certainty = Certainty::Certain;
    if let Some(order) = dev.order.as_deref() {
        if is_siplus(order) && !fam.siplus {
            return None;
        }
    }
    if let Some(redundant) = fam.redundant {
        match dev.order.as_deref() {
            Some(order) if is_redundant_cpu(order) != redundant => return None,
            Some(_) => {}
            None => certainty = Certainty::Possible,
        }
    }
    if let Some(generation) = fam.generation {
        match &dev.firmware {
            Some(v) if v.major() != generation => return None,
            Some(_) => {}
            None => certainty = Certainty::Possible,
        }
    }
    Some((MatchedBy::Family, certainty))
}

fn match_advisory(adv: &Advisory, dev: &Device) -> Option<Match> {
    let mut evidence: Vec<Evidence> = vec![Evidence::default(); adv.vulnerabilities.len()];
    for entry in &adv.products {
        let Some((by, identity)) = identify(entry, dev) else { continue };
        let in_range = match &dev.firmware {
            Some(v) => entry.version.contains(v),
            None if entry.version.is_any() => Some(true),
            None => None,
        };
        if in_range == Some(false) {
            continue;
        }
        let certain = in_range == Some(true) && identity == Certainty::Certain;
        for ev in &entry.vulnerabilities {
            let Some(e) = evidence.get_mut(ev.vulnerability) else { continue };
            match ev.status {
                ProductStatus::Affected | ProductStatus::UnderInvestigation => {
                    if certain && ev.status == ProductStatus::Affected {
                        e.certain = true;
                    } else {
                        e.possible = true;
                    }
                    e.by_order |= by == MatchedBy::OrderNumber;
                    e.cvss = max_score(e.cvss.into_iter().chain(ev.cvss));
                    e.remediations.extend(ev.remediation.clone());
                    if !e.products.contains(&entry.name) {
                        e.products.push(entry.name.clone());
                    }
                }
                ProductStatus::Fixed | ProductStatus::NotAffected if certain => match by {
                    MatchedBy::OrderNumber => e.excluded.0 = true,
                    MatchedBy::Family => e.excluded.1 = true,
                },
                _ => {}
            }
        }
    }

    let affecting: Vec<(usize, &Evidence)> = evidence
        .iter()
        .enumerate()
        // A fixed / not-affected entry by order number cancels everything; one by
        // family cancels only family evidence.
        .filter(|(_, e)| (e.certain || e.possible) && !e.excluded.0 && (e.by_order || !e.excluded.1))
        .collect();
    if affecting.is_empty() {
        return None;
    }

    let mut cves = Vec::new();
    let mut products: Vec<String> = Vec::new();
    let mut fixes: Vec<&str> = Vec::new();
    let mut all_fixed = true;
    let mut no_fix = false;
    for (i, e) in &affecting {
        cves.push(adv.vulnerabilities[*i].label.clone());
        for p in &e.products {
            if !products.contains(p) {
                products.push(p.clone());
            }
        }
        let fix = highest_version(e.remediations.iter().filter_map(|r| match r {
            Remediation::VendorFix { fixed_in } => fixed_in.as_deref(),
            _ => None,
        }));
        match fix {
            Some(f) => fixes.push(f),
            None => {
                all_fixed = false;
                no_fix |= e.remediations.iter().any(Remediation::is_no_fix);
            }
        }
    }
    let by_order = affecting.iter().any(|(_, e)| e.by_order);
    Some(Match {
        tracking_id: adv.tracking_id.clone(),
        title: adv.title.clone(),
        cves,
        cvss: max_score(affecting.iter().filter_map(|(_, e)| e.cvss)),
        fixed_in: if all_fixed { highest_version(fixes.into_iter()).map(str::to_string) } else { None },
        no_fix,
        matched_by: if by_order { MatchedBy::OrderNumber } else { MatchedBy::Family },
        possibly_affected: !affecting.iter().any(|(_, e)| e.certain),
        products,
    })
}
