//! Alert policy: per-host and per-pair suppression and regrading from the
//! configuration (`[[policy]]`, the equivalent of Suricata's `threshold.config`
//! suppress and Zeek's `Notice::policy`), and learned quirks.
//!
//! ```toml
//! [[policy]]
//! rule = "crash_pattern.cotp_dr"   # a rule id, or a glob over ids ("malformed.*", "*")
//! src = "10.10.2.20"               # address or CIDR of the alert's source (optional)
//! dst = "10.10.1.0/24"             # address or CIDR of the alert's destination (optional)
//! action = "suppress"              # drop the alert (counted per rule)
//! comment = "HMI library sends a DR with one trailing byte on every disconnect"
//!
//! [[policy]]
//! category = "malformed"           # or match a category (as written in the alert)
//! src = "10.10.2.0/24"
//! regrade = "low"                  # write it with this severity instead
//! ```
//!
//! An entry needs `rule` or `category` (both: both must match) and exactly one of
//! `action = "suppress"` and `regrade = "<severity>"`. The first entry that matches
//! an alert decides; later entries are not consulted. A suppressed alert is not
//! written but counted per rule ([`Policy::suppressed`]: the summary, `decode
//! --stats`-style outputs and the metrics show it); a regraded one carries
//! `regraded_from` (the severity it had) and `policy` (the entry's comment, or its
//! number) in its evidence. Policies act on the alerts as they are written, so an
//! aggregated follow-up is treated like the alert it follows.
//!
//! **Control operations** (`control.*`, category `unauthorized_control` /
//! `control_operation`) must never be silenced by a typo or a broad pattern: an
//! entry acts on a control rule only when it is *about* control rules (every rule
//! its `rule` / `category` selects is a control rule) *and* its `src` is one exact
//! host (a /32 or /128). An entry about control rules without an exact `src` is
//! a configuration error; a broad entry (`"*"`, `category = "malformed"`, ...)
//! never touches control rules, and `check-config` warns when its pattern would
//! have matched some. A plant can silence its known maintenance laptop; it cannot
//! silence STOP from a whole subnet.
//!
//! **Learned quirks.** While the baseline learns (asset tracking with
//! `--learn`), every structural rule ([`learnable`]) a talker (the alert's source
//! address) raises is recorded in the fleet ([`crate::assets::Fleet::quirks`],
//! saved with the baseline in `--state`). After the freeze those rules are graded
//! `info` for that talker, with `learned_quirk: true` and `regraded_from` in the
//! evidence; the same finding from any other talker keeps its severity. A
//! `[[policy]]` entry that matches takes precedence over a learned quirk. The table
//! holds at most [`MAX_QUIRKS`] (talker, rule) pairs; pairs beyond it are not
//! learned and counted ([`Policy::quirks_dropped`] and the fleet's `evicted`).

use super::alert::{Alert, Category, Severity};
use super::catalog::{self, RuleId, RULES};
use super::cidr::Cidr;
use crate::assets::{Baseline, Fleet};
use serde::Deserialize;
use serde_json::json;

/// Learned-quirk pairs (talker, rule) kept at most.
pub const MAX_QUIRKS: usize = 4096;

/// What a `[[policy]]` entry does (the `action` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionName {
    /// Drop the alert (counted).
    Suppress,
}

/// One `[[policy]]` entry as written in the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    /// Rule id or glob over rule ids (`*` matches any run of characters).
    pub rule: Option<String>,
    /// Alert category (`malformed`, `flood`, ...).
    pub category: Option<String>,
    /// Source address or CIDR range of the alert.
    pub src: Option<Cidr>,
    /// Destination address or CIDR range of the alert.
    pub dst: Option<Cidr>,
    /// `suppress`.
    pub action: Option<ActionName>,
    /// Write the alert with this severity.
    pub regrade: Option<Severity>,
    /// Why (shown by `check-config` and in the evidence of regraded alerts).
    pub comment: Option<String>,
}

/// What a compiled entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Drop the alert.
    Suppress,
    /// Replace the severity.
    Regrade(Severity),
}

/// One compiled entry.
#[derive(Debug, Clone)]
struct Compiled {
    /// Rules the entry acts on (catalogue order).
    rules: Vec<bool>,
    category: Option<Category>,
    src: Option<Cidr>,
    dst: Option<Cidr>,
    action: Action,
    /// Comment, or "policy N" (1-based).
    label: String,
    /// One line for `check-config`.
    summary: String,
}

/// The compiled policy and its counters.
#[derive(Debug, Clone)]
pub struct Policy {
    entries: Vec<Compiled>,
    /// Alerts suppressed by a `[[policy]]` entry, per rule (catalogue order).
    pub suppressed: Vec<u64>,
    /// Alerts regraded by a `[[policy]]` entry, per rule.
    pub regraded: Vec<u64>,
    /// Alerts graded `info` as a learned quirk of their talker, per rule.
    pub quirk_graded: Vec<u64>,
    /// (talker, rule) pairs not learned because the table held [`MAX_QUIRKS`].
    pub quirks_dropped: u64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            entries: Vec::new(),
            suppressed: vec![0; RULES.len()],
            regraded: vec![0; RULES.len()],
            quirk_graded: vec![0; RULES.len()],
            quirks_dropped: 0,
        }
    }
}

/// Whether rule `r` is a control rule (a control operation).
fn is_control(r: RuleId) -> bool {
    RULES[r].category == Category::UnauthorizedControl
}

/// Structural rules a talker's quirk can explain: the malformed family (but not
/// TCP overlap conflicts, an evasion technique rather than a client's habit),
/// a COTP DR with trailing bytes, and a Read/Write Var with a bad item count.
pub fn learnable(r: RuleId) -> bool {
    (RULES[r].category == Category::Malformed && r != catalog::MAL_OVERLAP)
        || r == catalog::CRASH_COTP_DR
        || r == catalog::CRASH_VAR_ITEMS
}

/// How rule `r` can be suppressed or regraded (the `suppression` key of `s7sentry rules`).
pub fn suppression(r: RuleId) -> &'static str {
    if is_control(r) {
        "[[policy]] suppress or regrade only for one exact src host, in an entry naming control rules only \
         (rule = \"control...\" or category = \"unauthorized_control\"); broad patterns never match it"
    } else if learnable(r) {
        "[[policy]] suppress or regrade by rule, category, src and/or dst; learned quirk: graded info for a \
         talker that raised it while the baseline was learning"
    } else {
        "[[policy]] suppress or regrade by rule, category, src and/or dst"
    }
}

/// Whether `pattern` (with `*` wildcards) matches `id`.
pub fn glob(pattern: &str, id: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == id;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !id.starts_with(first) || id.len() < first.len() + last.len() || !id.ends_with(last) {
        return false;
    }
    let mut rest = &id[first.len()..id.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

fn category_named(name: &str) -> Option<Category> {
    Category::ALL.into_iter().find(|c| c.name() == name)
}

impl Policy {
    /// Compile `[[policy]]` entries. Errors name the entry (`policy[N]`, 1-based)
    /// and the key; warnings are for `check-config`.
    pub fn compile(entries: &[PolicyEntry]) -> Result<(Policy, Vec<String>), String> {
        let mut p = Policy::default();
        let mut warnings = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let n = i + 1;
            let at = format!("policy[{n}]");
            let action = match (e.action, e.regrade) {
                (Some(ActionName::Suppress), None) => Action::Suppress,
                (None, Some(s)) => Action::Regrade(s),
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{at}: give either action = \"suppress\" or regrade = \"<severity>\", not both"
                    ))
                }
                (None, None) => {
                    return Err(format!("{at}: needs action = \"suppress\" or regrade = \"<severity>\""));
                }
            };
            if e.rule.is_none() && e.category.is_none() {
                return Err(format!(
                    "{at}: needs rule = \"<id or glob>\" or category = \"<name>\" (an entry matching every alert is refused)"
                ));
            }
            let category = match e.category.as_deref() {
                Some(c) => Some(category_named(c).ok_or_else(|| {
                    let names: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
                    format!("{at}.category: no category \"{c}\" (one of {})", names.join(", "))
                })?),
                None => None,
            };
            let mut rules: Vec<bool> = match e.rule.as_deref() {
                Some(pat) => RULES.iter().map(|r| glob(pat, r.id)).collect(),
                None => vec![true; RULES.len()],
            };
            if let Some(c) = category {
                let control_cat = matches!(c, Category::UnauthorizedControl | Category::ControlOperation);
                for (k, m) in rules.iter_mut().enumerate() {
                    *m &= RULES[k].category == c || (control_cat && is_control(k));
                }
            }
            if !rules.iter().any(|&m| m) {
                let what = match (&e.rule, &e.category) {
                    (Some(r), Some(c)) => format!("rule = \"{r}\" with category = \"{c}\""),
                    (Some(r), None) => format!("rule = \"{r}\""),
                    (None, Some(c)) => format!("category = \"{c}\""),
                    (None, None) => String::new(),
                };
                return Err(format!("{at}: {what} matches no rule (see `s7sentry rules`)"));
            }
            let controls = rules.iter().enumerate().filter(|&(k, &m)| m && is_control(k)).count();
            let selected = rules.iter().filter(|&&m| m).count();
            let exact_src = e.src.and_then(|c| c.single_host());
            if controls > 0 && controls == selected {
                let Some(host) = exact_src else {
                    return Err(format!(
                        "{at}: acts on control rules, so src must be one exact host (an address, /32 or /128): \
                         control operations are never {} for a range or for everyone",
                        if action == Action::Suppress { "suppressed" } else { "regraded" }
                    ));
                };
                warnings.push(format!(
                    "{at}: control operations from {host} are {} ({} control rule(s)){}",
                    match action {
                        Action::Suppress => "suppressed".to_string(),
                        Action::Regrade(s) => format!("regraded to {}", s.name()),
                    },
                    controls,
                    e.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
                ));
            } else if controls > 0 {
                for (k, m) in rules.iter_mut().enumerate() {
                    if is_control(k) {
                        *m = false;
                    }
                }
                warnings.push(format!(
                    "{at}: the pattern also matches {controls} control rule(s); they are left out \
                     (name control rules in an entry of their own, with an exact src)"
                ));
            }
            if action == Action::Suppress && e.src.is_none() && e.dst.is_none() {
                warnings.push(format!(
                    "{at}: suppresses for every host; [rules.\"<id>\"] enabled = false says the same more plainly"
                ));
            }
            let label = e.comment.clone().unwrap_or_else(|| format!("policy {n}"));
            let summary = format!(
                "{n}. {} {} ({} rule(s)) from {} to {}{}",
                match action {
                    Action::Suppress => "suppress".to_string(),
                    Action::Regrade(s) => format!("regrade to {}", s.name()),
                },
                match (&e.rule, &e.category) {
                    (Some(r), Some(c)) => format!("{r} in category {c}"),
                    (Some(r), None) => r.clone(),
                    (None, Some(c)) => format!("category {c}"),
                    (None, None) => String::new(),
                },
                rules.iter().filter(|&&m| m).count(),
                e.src.map_or("any".to_string(), |c| c.to_string()),
                e.dst.map_or("any".to_string(), |c| c.to_string()),
                e.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
            );
            p.entries.push(Compiled { rules, category, src: e.src, dst: e.dst, action, label, summary });
        }
        Ok((p, warnings))
    }

    /// One line per entry: action, pattern, number of rules, src, dst, comment.
    pub fn summaries(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.summary.as_str())
    }

    /// Number of compiled entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keep the counters of `old` (a reload replaces the entries, not the history).
    pub fn keep_counters(&mut self, old: &Policy) {
        self.suppressed.clone_from(&old.suppressed);
        self.regraded.clone_from(&old.regraded);
        self.quirk_graded.clone_from(&old.quirk_graded);
        self.quirks_dropped = old.quirks_dropped;
    }

    /// Apply the policy to `alert` of rule `rule` just before it is queued;
    /// `fleet` is the inventory while asset tracking is on (learned quirks).
    /// Returns whether to keep the alert, and whether the fleet changed (a
    /// quirk was learned, or one was dropped at the cap).
    pub fn apply(&mut self, rule: RuleId, alert: &mut Alert, fleet: Option<&mut Fleet>) -> (bool, bool) {
        for e in &self.entries {
            if !e.rules[rule]
                || e.category.is_some_and(|c| c != alert.category)
                || e.src.is_some_and(|c| !c.contains(alert.src))
                || e.dst.is_some_and(|c| !c.contains(alert.dst))
            {
                continue;
            }
            match e.action {
                Action::Suppress => {
                    self.suppressed[rule] += 1;
                    return (false, false);
                }
                Action::Regrade(s) => {
                    self.regraded[rule] += 1;
                    if s != alert.severity {
                        alert.evidence.insert("regraded_from".into(), json!(alert.severity.name()));
                        alert.severity = s;
                    }
                    alert.evidence.insert("policy".into(), json!(e.label));
                    return (true, false);
                }
            }
        }
        let Some(fleet) = fleet else { return (true, false) };
        if !learnable(rule) {
            return (true, false);
        }
        let id = RULES[rule].id;
        match fleet.baseline {
            Baseline::Off => (true, false),
            Baseline::Learning { .. } => {
                if fleet.quirks.get(&alert.src).is_some_and(|v| v.iter().any(|r| r == id)) {
                    return (true, false);
                }
                let total: usize = fleet.quirks.values().map(Vec::len).sum();
                if total >= MAX_QUIRKS {
                    self.quirks_dropped += 1;
                    fleet.evicted += 1;
                    return (true, true);
                }
                fleet.quirks.entry(alert.src).or_default().push(id.to_string());
                (true, true)
            }
            Baseline::Frozen { .. } => {
                if fleet.quirks.get(&alert.src).is_some_and(|v| v.iter().any(|r| r == id)) {
                    self.quirk_graded[rule] += 1;
                    if alert.severity != Severity::Info {
                        alert.evidence.insert("regraded_from".into(), json!(alert.severity.name()));
                        alert.severity = Severity::Info;
                    }
                    alert.evidence.insert("learned_quirk".into(), json!(true));
                }
                (true, false)
            }
        }
    }
}

/// [`Policy::apply`] on the detector's policy and fleet: whether to queue `alert`.
pub(crate) fn apply(d: &mut super::Core, rule: RuleId, alert: &mut Alert) -> bool {
    let Some(t) = d.assets.as_deref_mut() else {
        return d.policy.apply(rule, alert, None).0;
    };
    let (keep, learned) = d.policy.apply(rule, alert, Some(&mut t.fleet));
    if learned {
        t.revision += 1;
        t.generation += 1;
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Ts;
    use std::net::IpAddr;

    fn entries(toml_text: &str) -> Vec<PolicyEntry> {
        #[derive(Deserialize)]
        struct W {
            policy: Vec<PolicyEntry>,
        }
        toml::from_str::<W>(toml_text).unwrap().policy
    }

    fn alert(rule: RuleId, src: &str, dst: &str) -> Alert {
        Alert {
            ts: Ts(0),
            frame: 1,
            pcap: String::new(),
            rule: RULES[rule].id,
            category: RULES[rule].category,
            severity: RULES[rule].severity,
            src: src.parse().unwrap(),
            sport: 40000,
            dst: dst.parse().unwrap(),
            dport: 102,
            message: String::new(),
            cve: &[],
            evidence: serde_json::Map::new(),
            flow_start: Ts(0),
        }
    }

    #[test]
    fn globs() {
        assert!(glob("malformed.*", "malformed.cotp"));
        assert!(glob("*", "control.cpu_stop"));
        assert!(glob("*.cotp*", "malformed.cotp"));
        assert!(glob("crash_pattern.cotp_dr", "crash_pattern.cotp_dr"));
        assert!(!glob("crash_pattern.cotp", "crash_pattern.cotp_dr"));
        assert!(!glob("malformed.*", "flood.syn"));
        assert!(!glob("a*b*a", "aa"));
        assert!(glob("a*b*a", "abba"));
    }

    #[test]
    fn suppress_and_regrade_match_pair_and_rule() {
        let (mut p, _) = Policy::compile(&entries(
            r#"
            [[policy]]
            rule = "crash_pattern.cotp_dr"
            src = "10.0.0.5"
            action = "suppress"
            [[policy]]
            category = "malformed"
            src = "10.0.0.0/24"
            dst = "10.0.1.1"
            regrade = "low"
            comment = "old HMI"
            "#,
        ))
        .unwrap();
        let mut a = alert(catalog::CRASH_COTP_DR, "10.0.0.5", "10.0.1.1");
        assert_eq!(p.apply(catalog::CRASH_COTP_DR, &mut a, None), (false, false));
        assert_eq!(p.suppressed[catalog::CRASH_COTP_DR], 1);
        // Another source: kept at its severity.
        let mut a = alert(catalog::CRASH_COTP_DR, "10.0.0.6", "10.0.1.1");
        assert!(p.apply(catalog::CRASH_COTP_DR, &mut a, None).0);
        assert_eq!(a.severity, Severity::High);
        let mut a = alert(catalog::MAL_COTP, "10.0.0.6", "10.0.1.1");
        assert!(p.apply(catalog::MAL_COTP, &mut a, None).0);
        assert_eq!(a.severity, Severity::Low);
        assert_eq!(a.evidence["regraded_from"], "medium");
        assert_eq!(a.evidence["policy"], "old HMI");
        // The pair does not match (other PLC): untouched.
        let mut a = alert(catalog::MAL_COTP, "10.0.0.6", "10.0.1.2");
        assert!(p.apply(catalog::MAL_COTP, &mut a, None).0);
        assert_eq!(a.severity, Severity::Medium);
        assert!(a.evidence.is_empty());
    }

    #[test]
    fn control_rules_need_an_exact_host_and_broad_patterns_skip_them() {
        let e =
            Policy::compile(&entries("[[policy]]\nrule = \"control.*\"\nsrc = \"10.0.0.0/24\"\naction = \"suppress\""))
                .unwrap_err();
        assert!(e.contains("policy[1]") && e.contains("exact host"), "{e}");
        let e = Policy::compile(&entries("[[policy]]\ncategory = \"unauthorized_control\"\naction = \"suppress\""))
            .unwrap_err();
        assert!(e.contains("exact host"), "{e}");
        let (mut p, w) =
            Policy::compile(&entries("[[policy]]\nrule = \"*\"\nsrc = \"10.0.0.5\"\naction = \"suppress\"")).unwrap();
        assert!(w.iter().any(|w| w.contains("control rule")), "{w:?}");
        let mut a = alert(catalog::CTL_STOP, "10.0.0.5", "10.0.1.1");
        assert!(p.apply(catalog::CTL_STOP, &mut a, None).0, "a broad pattern must not silence STOP");
        let mut a = alert(catalog::MAL_TPKT, "10.0.0.5", "10.0.1.1");
        assert!(!p.apply(catalog::MAL_TPKT, &mut a, None).0);
        // The maintenance laptop, named exactly: allowed, with a warning.
        let (mut p, w) =
            Policy::compile(&entries("[[policy]]\nrule = \"control.*\"\nsrc = \"10.0.0.7\"\naction = \"suppress\""))
                .unwrap();
        assert!(w.iter().any(|w| w.contains("control operations from 10.0.0.7")), "{w:?}");
        let mut a = alert(catalog::CTL_STOP, "10.0.0.7", "10.0.1.1");
        assert!(!p.apply(catalog::CTL_STOP, &mut a, None).0);
        let mut a = alert(catalog::CTL_STOP, "10.0.0.8", "10.0.1.1");
        assert!(p.apply(catalog::CTL_STOP, &mut a, None).0);
    }

    #[test]
    fn config_errors_name_the_entry_and_key() {
        let e = Policy::compile(&entries("[[policy]]\nrule = \"malformed.nope*\"\naction = \"suppress\"")).unwrap_err();
        assert!(e.contains("policy[1]") && e.contains("malformed.nope*"), "{e}");
        let e = Policy::compile(&entries("[[policy]]\nsrc = \"10.0.0.1\"\naction = \"suppress\"")).unwrap_err();
        assert!(e.contains("rule"), "{e}");
        let e = Policy::compile(&entries("[[policy]]\nrule = \"*\"\naction = \"suppress\"\nregrade = \"low\""))
            .unwrap_err();
        assert!(e.contains("not both"), "{e}");
        let e = Policy::compile(&entries("[[policy]]\ncategory = \"malformd\"\nregrade = \"low\"")).unwrap_err();
        assert!(e.contains("policy[1].category") && e.contains("malformd"), "{e}");
        let e = Policy::compile(&entries("[[policy]]\nrule = \"*\"\nsrc = \"10.0.0.1\"")).unwrap_err();
        assert!(e.contains("action"), "{e}");
    }

    #[test]
    fn quirks_learned_then_graded_info_for_that_talker_only() {
        let mut p = Policy::default();
        let mut fleet = Fleet { baseline: Baseline::Learning { until: Ts(10) }, ..Default::default() };
        let mut a = alert(catalog::CRASH_COTP_DR, "10.0.0.5", "10.0.1.1");
        assert_eq!(p.apply(catalog::CRASH_COTP_DR, &mut a, Some(&mut fleet)), (true, true));
        assert_eq!(a.severity, Severity::High, "learning does not regrade");
        // Not structural: not learned.
        let mut a = alert(catalog::CTL_STOP, "10.0.0.5", "10.0.1.1");
        assert_eq!(p.apply(catalog::CTL_STOP, &mut a, Some(&mut fleet)), (true, false));
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(fleet.quirks[&ip], vec!["crash_pattern.cotp_dr".to_string()]);
        fleet.freeze(Ts(10));
        let mut a = alert(catalog::CRASH_COTP_DR, "10.0.0.5", "10.0.1.1");
        assert!(p.apply(catalog::CRASH_COTP_DR, &mut a, Some(&mut fleet)).0);
        assert_eq!(a.severity, Severity::Info);
        assert_eq!(a.evidence["learned_quirk"], true);
        assert_eq!(a.evidence["regraded_from"], "high");
        let mut a = alert(catalog::CRASH_COTP_DR, "10.0.0.6", "10.0.1.1");
        assert!(p.apply(catalog::CRASH_COTP_DR, &mut a, Some(&mut fleet)).0);
        assert_eq!(a.severity, Severity::High);
        assert_eq!(p.quirk_graded[catalog::CRASH_COTP_DR], 1);
    }

    #[test]
    fn quirk_table_is_capped_and_counted() {
        let mut p = Policy::default();
        let mut fleet = Fleet { baseline: Baseline::Learning { until: Ts(10) }, ..Default::default() };
        for i in 0..MAX_QUIRKS as u32 + 5 {
            let src = std::net::Ipv4Addr::from(0x0A00_0000 + i).to_string();
            let mut a = alert(catalog::MAL_COTP, &src, "10.0.1.1");
            p.apply(catalog::MAL_COTP, &mut a, Some(&mut fleet));
        }
        assert_eq!(fleet.quirks.len(), MAX_QUIRKS);
        assert_eq!(p.quirks_dropped, 5);
        assert_eq!(fleet.evicted, 5);
    }
}
