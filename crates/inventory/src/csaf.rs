//! Loading CSAF 2.0 advisories into flat product entries.
//!
//! Parsing is lenient: unknown members are ignored and optional members may be
//! missing. A member the correlation relies on that has the wrong type (a
//! branch that is not an object, a product without `product_id`, a score that
//! is not a number, …), a missing `/document/tracking/id`, or a file that is not
//! JSON rejects that one document with a [`LoadError`] naming the file and the
//! JSON pointer of the problem; [`load_dir`] goes on with the other files.

use crate::order::{extract_order_numbers, family_in_product_name, normalize_order_number, FamilyRef};
use crate::version::{Version, VersionRange};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Why a document could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {}", .file.display(), pointer_part(.pointer), .message)]
pub struct LoadError {
    /// The file (or directory) concerned.
    pub file: PathBuf,
    /// JSON pointer (RFC 6901) of the offending member, e.g.
    /// `/product_tree/branches/0/branches/2`; empty when the problem is not at
    /// one place (unreadable file, invalid JSON: then the message gives line and
    /// column).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

fn pointer_part(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(": {pointer}")
    }
}

/// The status a vulnerability gives a product (`/vulnerabilities[]/product_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// `known_affected`, `first_affected`, `last_affected`.
    Affected,
    /// `under_investigation`: treated as "possibly affected".
    UnderInvestigation,
    /// `fixed`, `first_fixed`.
    Fixed,
    /// `known_not_affected`.
    NotAffected,
}

impl ProductStatus {
    fn from_csaf(key: &str) -> Option<ProductStatus> {
        Some(match key {
            "known_affected" | "first_affected" | "last_affected" => ProductStatus::Affected,
            "under_investigation" => ProductStatus::UnderInvestigation,
            "fixed" | "first_fixed" => ProductStatus::Fixed,
            "known_not_affected" => ProductStatus::NotAffected,
            _ => return None,
        })
    }

    /// Whether this status reports the product as (possibly) vulnerable.
    pub fn is_affected(self) -> bool {
        matches!(self, ProductStatus::Affected | ProductStatus::UnderInvestigation)
    }
}

/// What the vendor offers for a product (`/vulnerabilities[]/remediations`;
/// mitigations and workarounds are not kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "category", rename_all = "snake_case")]
pub enum Remediation {
    /// `vendor_fix`, with the fixed version when the text names one
    /// (`Update to V3.1.0 or later version` → `V3.1.0`).
    VendorFix {
        /// The version that fixes it, as written in the advisory.
        fixed_in: Option<String>,
    },
    /// `no_fix_planned`.
    NoFixPlanned,
    /// `none_available`.
    NoneAvailable,
}

impl Remediation {
    /// Whether the vendor says there is no fix (planned or available).
    pub fn is_no_fix(&self) -> bool {
        matches!(self, Remediation::NoFixPlanned | Remediation::NoneAvailable)
    }

    /// Preference when several remediations cover one product: a fix with a
    /// version, then "no fix planned", "none available", a fix without version.
    fn rank(&self) -> u8 {
        match self {
            Remediation::VendorFix { fixed_in: Some(_) } => 3,
            Remediation::NoFixPlanned => 2,
            Remediation::NoneAvailable => 1,
            Remediation::VendorFix { fixed_in: None } => 0,
        }
    }
}

/// One vulnerability of an advisory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vulnerability {
    /// The CVE id, if any.
    pub cve: Option<String>,
    /// A name for it: the CVE, else the first `ids[].text`, else `title`, else
    /// `vulnerability #n`.
    pub label: String,
    /// Highest CVSS v3 base score given for it.
    pub cvss: Option<f64>,
}

/// What one vulnerability says about one product entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryVulnerability {
    /// Index into [`Advisory::vulnerabilities`].
    pub vulnerability: usize,
    /// The product's status for it.
    pub status: ProductStatus,
    /// Highest CVSS v3 base score of the score entries naming this product
    /// (else the vulnerability's highest).
    pub cvss: Option<f64>,
    /// The remediation for this product, if the advisory gives one.
    pub remediation: Option<Remediation>,
}

/// One product of an advisory's product tree, flattened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductEntry {
    /// The CSAF product id.
    pub product_id: String,
    /// The full product name as written.
    pub name: String,
    /// Order numbers found in the name (or the product's
    /// `product_identification_helper.model_numbers` / `skus`, or an enclosing
    /// `product_name` branch), canonical (see
    /// [`normalize_order_number`](crate::normalize_order_number)), possibly with
    /// `x` / `*` wildcards.
    pub order_numbers: Vec<String>,
    /// Set when the entry names a whole family instead of order numbers.
    pub family: Option<FamilyRef>,
    /// The versions the entry covers.
    pub version: VersionRange,
    /// The version text as written (`product_version` / `product_version_range`
    /// branch name), if any.
    pub version_text: Option<String>,
    /// Overall status: affected if any vulnerability lists it as affected, else
    /// under investigation, fixed, not affected; `None` if no vulnerability
    /// mentions it.
    pub status: Option<ProductStatus>,
    /// Overall remediation for the vulnerabilities affecting it: "no fix" if any
    /// of them has none, else the highest fixed version.
    pub remediation: Option<Remediation>,
    /// Per-vulnerability status, score and remediation.
    pub vulnerabilities: Vec<EntryVulnerability>,
}

/// A loaded CSAF advisory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advisory {
    /// `/document/tracking/id`, e.g. `ICSA-23-348-09`.
    pub tracking_id: String,
    /// `/document/title`.
    pub title: String,
    /// The file it came from.
    pub source: PathBuf,
    /// `/document/tracking/current_release_date`.
    pub current_release_date: Option<String>,
    /// `/document/tracking/version`.
    pub revision: Option<String>,
    /// The CVE ids of its vulnerabilities.
    pub cves: Vec<String>,
    /// Highest CVSS v3 base score over all its vulnerabilities.
    pub cvss: Option<f64>,
    /// Its vulnerabilities, in document order.
    pub vulnerabilities: Vec<Vulnerability>,
    /// Its products, flattened, in document order.
    pub products: Vec<ProductEntry>,
}

/// Loads one CSAF document.
pub fn load_file(path: impl AsRef<Path>) -> Result<Advisory, LoadError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| LoadError {
        file: path.to_path_buf(),
        pointer: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    parse_advisory(&bytes, path)
}

/// Files in a CSAF provider directory that are not advisories.
const NOT_ADVISORIES: &[&str] = &["provider-metadata.json", "aggregator.json", "service.json"];

/// Loads every `*.json` file under `dir` (recursively, in path order; hidden
/// entries and CSAF provider metadata files skipped; other files ignored).
///
/// Returns the advisories that loaded and one error per file that did not.
/// When several files carry the same tracking id, the one with the latest
/// `current_release_date` (then `tracking/version`) is kept.
pub fn load_dir(dir: impl AsRef<Path>) -> (Vec<Advisory>, Vec<LoadError>) {
    let dir = dir.as_ref();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    collect_json_files(dir, &mut files, &mut errors);
    files.sort();
    let mut advisories: Vec<Advisory> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for file in files {
        match load_file(&file) {
            Ok(adv) => match by_id.get(&adv.tracking_id) {
                Some(&i) => {
                    if newer(&adv, &advisories[i]) {
                        advisories[i] = adv;
                    }
                }
                None => {
                    by_id.insert(adv.tracking_id.clone(), advisories.len());
                    advisories.push(adv);
                }
            },
            Err(e) => errors.push(e),
        }
    }
    (advisories, errors)
}

fn newer(a: &Advisory, b: &Advisory) -> bool {
    let rev = |x: &Advisory| x.revision.as_deref().and_then(Version::parse);
    (&a.current_release_date, rev(a)) > (&b.current_release_date, rev(b))
}

fn collect_json_files(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<LoadError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(LoadError {
                file: dir.to_path_buf(),
                pointer: String::new(),
                message: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else { continue };
        // Real directories only: a symlinked directory could loop.
        if file_type.is_dir() {
            collect_json_files(&path, files, errors);
        } else if (file_type.is_file() || path.is_file())
            && name.to_ascii_lowercase().ends_with(".json")
            && !NOT_ADVISORIES.contains(&name.as_ref())
        {
            files.push(path);
        }
    }
}

/// Parses one CSAF document from bytes; `source` names it in errors.
pub fn parse_advisory(json: &[u8], source: impl AsRef<Path>) -> Result<Advisory, LoadError> {
    let source = source.as_ref();
    let cx = Cx { file: source };
    let root: Value = serde_json::from_slice(json).map_err(|e| cx.err("", format!("not valid JSON: {e}")))?;
    let root = cx.obj(&root, "")?;

    let document = cx.req_obj(root, "document", "")?;
    let tracking = cx.req_obj(document, "tracking", "/document")?;
    let tracking_id = cx.req_str(tracking, "id", "/document/tracking")?.trim().to_string();
    if tracking_id.is_empty() {
        return Err(cx.err("/document/tracking/id", "is empty"));
    }
    let title = cx.opt_str(document, "title", "/document")?.unwrap_or_default().to_string();
    let current_release_date = cx.opt_str(tracking, "current_release_date", "/document/tracking")?.map(str::to_string);
    let revision = cx.opt_str(tracking, "version", "/document/tracking")?.map(str::to_string);

    let mut tree = Tree::default();
    if let Some(pt) = root.get("product_tree") {
        let pt = cx.obj(pt, "/product_tree")?;
        tree.read(&cx, pt)?;
    }

    let mut vulnerabilities = Vec::new();
    // product id -> per-vulnerability facts
    let mut facts: HashMap<String, Vec<EntryVulnerability>> = HashMap::new();
    for (vi, v) in cx.opt_arr(root, "vulnerabilities", "")?.iter().enumerate() {
        let vp = format!("/vulnerabilities/{vi}");
        let vo = cx.obj(v, &vp)?;
        let (vuln, per_product) = read_vulnerability(&cx, vo, &vp, vi, &tree.groups)?;
        vulnerabilities.push(vuln);
        for (pid, ev) in per_product {
            facts.entry(pid).or_default().push(ev);
        }
    }

    let mut cves: Vec<String> = Vec::new();
    for v in &vulnerabilities {
        if let Some(c) = &v.cve {
            if !cves.contains(c) {
                cves.push(c.clone());
            }
        }
    }
    let cvss = max_score(vulnerabilities.iter().filter_map(|v| v.cvss));

    let products = tree
        .entries
        .into_iter()
        .map(|mut e| {
            e.vulnerabilities = facts.remove(&e.product_id).unwrap_or_default();
            e.vulnerabilities.sort_by_key(|ev| ev.vulnerability);
            e.status = e.vulnerabilities.iter().map(|ev| ev.status).min();
            let affecting: Vec<&Remediation> = e
                .vulnerabilities
                .iter()
                .filter(|ev| ev.status.is_affected())
                .filter_map(|ev| ev.remediation.as_ref())
                .collect();
            e.remediation = overall_remediation(&affecting);
            e
        })
        .collect();

    Ok(Advisory {
        tracking_id,
        title,
        source: source.to_path_buf(),
        current_release_date,
        revision,
        cves,
        cvss,
        vulnerabilities,
        products,
    })
}

pub(crate) fn max_score(it: impl Iterator<Item = f64>) -> Option<f64> {
    it.fold(None, |m, s| Some(m.map_or(s, |m: f64| m.max(s))))
}

/// "No fix" if any remediation says so, else the highest fixed version, else a
/// fix without version.
fn overall_remediation(rs: &[&Remediation]) -> Option<Remediation> {
    if let Some(r) = rs.iter().find(|r| r.is_no_fix()) {
        return Some((*r).clone());
    }
    let best = highest_version(rs.iter().filter_map(|r| match r {
        Remediation::VendorFix { fixed_in } => fixed_in.as_deref(),
        _ => None,
    }));
    match best {
        Some(v) => Some(Remediation::VendorFix { fixed_in: Some(v.to_string()) }),
        None => rs.first().map(|_| Remediation::VendorFix { fixed_in: None }),
    }
}

/// The highest of several version strings (unparsable ones lose to parsable
/// ones; among unparsable ones the first wins).
pub(crate) fn highest_version<'a>(it: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, Option<Version>)> = None;
    for s in it {
        let v = Version::parse(s);
        let better = match &best {
            None => true,
            Some((_, bv)) => match (&v, bv) {
                (Some(a), Some(b)) => a > b,
                (Some(_), None) => true,
                _ => false,
            },
        };
        if better {
            best = Some((s, v));
        }
    }
    best.map(|(s, _)| s)
}

fn read_vulnerability(
    cx: &Cx<'_>,
    vo: &Map<String, Value>,
    vp: &str,
    index: usize,
    groups: &HashMap<String, Vec<String>>,
) -> Result<(Vulnerability, Vec<(String, EntryVulnerability)>), LoadError> {
    let cve = cx.opt_str(vo, "cve", vp)?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut other_id = None;
    for (i, id) in cx.opt_arr(vo, "ids", vp)?.iter().enumerate() {
        let ip = format!("{vp}/ids/{i}");
        let io = cx.obj(id, &ip)?;
        if other_id.is_none() {
            other_id = cx.opt_str(io, "text", &ip)?.map(str::to_string);
        }
    }
    let title = cx.opt_str(vo, "title", vp)?.map(str::to_string);
    let label = cve.clone().or(other_id).or(title).unwrap_or_else(|| format!("vulnerability #{}", index + 1));

    // Scores: per product, and overall.
    let mut product_score: HashMap<&str, f64> = HashMap::new();
    let mut all_scores = Vec::new();
    for (si, s) in cx.opt_arr(vo, "scores", vp)?.iter().enumerate() {
        let sp = format!("{vp}/scores/{si}");
        let so = cx.obj(s, &sp)?;
        let Some(c3) = so.get("cvss_v3") else { continue };
        let c3p = format!("{sp}/cvss_v3");
        let c3 = cx.obj(c3, &c3p)?;
        let score = match c3.get("baseScore") {
            None => continue,
            Some(b) => b.as_f64().ok_or_else(|| cx.err(&format!("{c3p}/baseScore"), "expected a number"))?,
        };
        all_scores.push(score);
        for pid in cx.str_list(so, "products", &sp)? {
            let e = product_score.entry(pid).or_insert(score);
            *e = e.max(score);
        }
    }
    let cvss = max_score(all_scores.into_iter());

    // Statuses.
    let mut status: BTreeMap<String, ProductStatus> = BTreeMap::new();
    if let Some(ps) = vo.get("product_status") {
        let pp = format!("{vp}/product_status");
        let ps = cx.obj(ps, &pp)?;
        for (key, _) in ps.iter() {
            let Some(st) = ProductStatus::from_csaf(key) else { continue };
            for pid in cx.str_list(ps, key, &pp)? {
                let e = status.entry(pid.to_string()).or_insert(st);
                // Conflicting lists: the more alarming status wins.
                *e = (*e).min(st);
            }
        }
    }

    // Remediations.
    let mut remediation: HashMap<String, Remediation> = HashMap::new();
    for (ri, r) in cx.opt_arr(vo, "remediations", vp)?.iter().enumerate() {
        let rp = format!("{vp}/remediations/{ri}");
        let ro = cx.obj(r, &rp)?;
        let category = cx.req_str(ro, "category", &rp)?;
        let details = cx.opt_str(ro, "details", &rp)?.unwrap_or_default();
        let rem = match category {
            "vendor_fix" => Remediation::VendorFix { fixed_in: fixed_version_in_text(details) },
            "no_fix_planned" => Remediation::NoFixPlanned,
            "none_available" => Remediation::NoneAvailable,
            _ => continue,
        };
        let mut pids: Vec<String> = cx.str_list(ro, "product_ids", &rp)?.into_iter().map(str::to_string).collect();
        for g in cx.str_list(ro, "group_ids", &rp)? {
            pids.extend(groups.get(g).into_iter().flatten().cloned());
        }
        for pid in pids {
            match remediation.get_mut(&pid) {
                Some(cur) => {
                    let replace = match (&rem, &*cur) {
                        (
                            Remediation::VendorFix { fixed_in: Some(a) },
                            Remediation::VendorFix { fixed_in: Some(b) },
                        ) => highest_version([b.as_str(), a.as_str()].into_iter()) == Some(a.as_str()) && a != b,
                        _ => rem.rank() > cur.rank(),
                    };
                    if replace {
                        *cur = rem.clone();
                    }
                }
                None => {
                    remediation.insert(pid, rem.clone());
                }
            }
        }
    }

    let per_product = status
        .into_iter()
        .map(|(pid, st)| {
            let ev = EntryVulnerability {
                vulnerability: index,
                status: st,
                cvss: product_score.get(pid.as_str()).copied().or(cvss),
                remediation: remediation.get(&pid).cloned(),
            };
            (pid, ev)
        })
        .collect();
    Ok((Vulnerability { cve, label, cvss }, per_product))
}

/// Finds the fixed version in a vendor_fix text: `Update to V3.1.0 or later
/// version` → `V3.1.0`, `Update to 5.2 SP3 HF13 or later version` →
/// `5.2 SP3 HF13`, `Update to V4.3 - Download: …` → `V4.3`. `None` when the
/// text names no version (`Protect network access to port 102/tcp`).
pub fn fixed_version_in_text(details: &str) -> Option<String> {
    let lower = details.to_ascii_lowercase();
    if !lower.contains("update") && !lower.contains("upgrade") {
        return None;
    }
    let b = lower.as_bytes();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("to ") {
        let at = from + pos;
        from = at + 3;
        if at > 0 && b[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let mut rest = &details[at + 3..];
        for skip in ["firmware version ", "version ", "firmware "] {
            if rest.len() >= skip.len() && rest[..skip.len()].eq_ignore_ascii_case(skip) {
                rest = &rest[skip.len()..];
                break;
            }
        }
        if let Some(v) = version_token(rest) {
            return Some(v);
        }
    }
    None
}

/// Reads the longest firmware-version token at the start of `s`.
fn version_token(s: &str) -> Option<String> {
    let starts_v = s.starts_with(['V', 'v']) && s[1..].starts_with(|c: char| c.is_ascii_digit());
    if !starts_v && !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    // Candidate ends: after the numbers, then after each "SP n" / "HF n" / "Update n".
    let b = s.as_bytes();
    let mut end = usize::from(starts_v);
    while end < b.len()
        && (b[end].is_ascii_digit() || (b[end] == b'.' && b.get(end + 1).is_some_and(u8::is_ascii_digit)))
    {
        end += 1;
    }
    let mut best = end;
    loop {
        let tail = &s[best..];
        let trimmed = tail.trim_start();
        let ws = tail.len() - trimmed.len();
        let word_len = trimmed.bytes().take_while(u8::is_ascii_alphabetic).count();
        let word = trimmed[..word_len].to_ascii_uppercase();
        if !matches!(word.as_str(), "SP" | "HF" | "UPD" | "UPDATE") {
            break;
        }
        let after = &trimmed[word_len..];
        let after_trim = after.trim_start();
        let digits = after_trim.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            break;
        }
        best += ws + word_len + (after.len() - after_trim.len()) + digits;
    }
    let token = &s[..best];
    let v = Version::parse(token)?;
    // A bare number without a dot ("to 102") is not a version.
    if !starts_v && v.numbers().len() < 2 {
        return None;
    }
    Some(token.to_string())
}

/// Context for error reporting.
struct Cx<'a> {
    file: &'a Path,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Cx<'_> {
    fn err(&self, pointer: &str, message: impl Into<String>) -> LoadError {
        LoadError { file: self.file.to_path_buf(), pointer: pointer.to_string(), message: message.into() }
    }

    fn obj<'v>(&self, v: &'v Value, ptr: &str) -> Result<&'v Map<String, Value>, LoadError> {
        v.as_object().ok_or_else(|| {
            let at = if ptr.is_empty() { "/" } else { ptr };
            self.err(at, format!("expected an object, found {}", kind(v)))
        })
    }

    fn req_obj<'v>(
        &self,
        m: &'v Map<String, Value>,
        key: &str,
        ptr: &str,
    ) -> Result<&'v Map<String, Value>, LoadError> {
        let p = format!("{ptr}/{}", escape(key));
        match m.get(key) {
            Some(v) => self.obj(v, &p),
            None => Err(self.err(&p, "missing required member")),
        }
    }

    fn req_str<'v>(&self, m: &'v Map<String, Value>, key: &str, ptr: &str) -> Result<&'v str, LoadError> {
        let p = format!("{ptr}/{}", escape(key));
        match m.get(key) {
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(self.err(&p, format!("expected a string, found {}", kind(v)))),
            None => Err(self.err(&p, "missing required member")),
        }
    }

    fn opt_str<'v>(&self, m: &'v Map<String, Value>, key: &str, ptr: &str) -> Result<Option<&'v str>, LoadError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => {
                Err(self.err(&format!("{ptr}/{}", escape(key)), format!("expected a string, found {}", kind(v))))
            }
        }
    }

    fn opt_arr<'v>(&self, m: &'v Map<String, Value>, key: &str, ptr: &str) -> Result<&'v [Value], LoadError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(v) => {
                Err(self.err(&format!("{ptr}/{}", escape(key)), format!("expected an array, found {}", kind(v))))
            }
        }
    }

    fn str_list<'v>(&self, m: &'v Map<String, Value>, key: &str, ptr: &str) -> Result<Vec<&'v str>, LoadError> {
        let p = format!("{ptr}/{}", escape(key));
        self.opt_arr(m, key, ptr)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or_else(|| self.err(&format!("{p}/{i}"), format!("expected a string, found {}", kind(v))))
            })
            .collect()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What the enclosing branches say about a product.
#[derive(Clone, Default)]
struct Inherited {
    /// Names of enclosing `product_name` branches, innermost last.
    product_names: Vec<String>,
    /// Innermost enclosing version branch: (category is exact, name).
    version: Option<(bool, String)>,
}

#[derive(Default)]
struct Tree {
    entries: Vec<ProductEntry>,
    seen: HashSet<String>,
    groups: HashMap<String, Vec<String>>,
}

impl Tree {
    fn read(&mut self, cx: &Cx<'_>, pt: &Map<String, Value>) -> Result<(), LoadError> {
        for (i, b) in cx.opt_arr(pt, "branches", "/product_tree")?.iter().enumerate() {
            self.branch(cx, b, &format!("/product_tree/branches/{i}"), &Inherited::default())?;
        }
        for (i, fpn) in cx.opt_arr(pt, "full_product_names", "/product_tree")?.iter().enumerate() {
            let p = format!("/product_tree/full_product_names/{i}");
            let fo = cx.obj(fpn, &p)?;
            let entry = product_entry(cx, fo, &p, &Inherited::default())?;
            self.push(entry);
        }
        for (i, rel) in cx.opt_arr(pt, "relationships", "/product_tree")?.iter().enumerate() {
            let p = format!("/product_tree/relationships/{i}");
            let ro = cx.obj(rel, &p)?;
            let fpn = cx.req_obj(ro, "full_product_name", &p)?;
            let mut entry = product_entry(cx, fpn, &format!("{p}/full_product_name"), &Inherited::default())?;
            let reference = cx.opt_str(ro, "product_reference", &p)?;
            let relates = cx.opt_str(ro, "relates_to_product_reference", &p)?;
            let find = |id: Option<&str>| id.and_then(|id| self.entries.iter().find(|e| e.product_id == id)).cloned();
            // The combined product carries the order numbers of both parts and
            // the version of the component (else of the product it belongs to).
            for part in [find(reference), find(relates)].into_iter().flatten() {
                for o in part.order_numbers {
                    if !entry.order_numbers.contains(&o) {
                        entry.order_numbers.push(o);
                    }
                }
                if entry.family.is_none() && entry.order_numbers.is_empty() {
                    entry.family = part.family;
                }
                if entry.version.is_any() && !part.version.is_any() {
                    entry.version = part.version;
                    entry.version_text = part.version_text;
                }
            }
            if !entry.order_numbers.is_empty() {
                entry.family = None;
            }
            self.push(entry);
        }
        for (i, g) in cx.opt_arr(pt, "product_groups", "/product_tree")?.iter().enumerate() {
            let p = format!("/product_tree/product_groups/{i}");
            let go = cx.obj(g, &p)?;
            let id = cx.req_str(go, "group_id", &p)?;
            let ids = cx.str_list(go, "product_ids", &p)?.into_iter().map(str::to_string).collect();
            self.groups.insert(id.to_string(), ids);
        }
        Ok(())
    }

    fn push(&mut self, entry: ProductEntry) {
        // A product id defined twice: the first definition counts.
        if self.seen.insert(entry.product_id.clone()) {
            self.entries.push(entry);
        }
    }

    fn branch(&mut self, cx: &Cx<'_>, b: &Value, ptr: &str, inh: &Inherited) -> Result<(), LoadError> {
        let bo = cx.obj(b, ptr)?;
        let category = cx.opt_str(bo, "category", ptr)?.unwrap_or_default();
        let name = cx.opt_str(bo, "name", ptr)?.unwrap_or_default();
        let mut inh = inh.clone();
        match category {
            "product_name" => inh.product_names.push(name.to_string()),
            "product_version" => inh.version = Some((true, name.to_string())),
            "product_version_range" => inh.version = Some((false, name.to_string())),
            _ => {}
        }
        if let Some(p) = bo.get("product") {
            let pp = format!("{ptr}/product");
            let po = cx.obj(p, &pp)?;
            let entry = product_entry(cx, po, &pp, &inh)?;
            self.push(entry);
        }
        for (i, child) in cx.opt_arr(bo, "branches", ptr)?.iter().enumerate() {
            self.branch(cx, child, &format!("{ptr}/branches/{i}"), &inh)?;
        }
        Ok(())
    }
}

/// Builds an entry from a `full_product_name` object and what its branches say.
fn product_entry(cx: &Cx<'_>, po: &Map<String, Value>, ptr: &str, inh: &Inherited) -> Result<ProductEntry, LoadError> {
    let product_id = cx.req_str(po, "product_id", ptr)?.to_string();
    let name = cx.opt_str(po, "name", ptr)?.unwrap_or_default().to_string();

    let mut order_numbers = extract_order_numbers(&name);
    if let Some(h) = po.get("product_identification_helper") {
        let hp = format!("{ptr}/product_identification_helper");
        let ho = cx.obj(h, &hp)?;
        for key in ["model_numbers", "skus"] {
            for s in cx.str_list(ho, key, &hp)? {
                for o in normalize_order_number(s).into_iter().chain(extract_order_numbers(s)) {
                    if !order_numbers.contains(&o) {
                        order_numbers.push(o);
                    }
                }
            }
        }
    }
    if order_numbers.is_empty() {
        if let Some(o) = inh.product_names.iter().rev().map(|n| extract_order_numbers(n)).find(|o| !o.is_empty()) {
            order_numbers = o;
        }
    }
    let family = if order_numbers.is_empty() {
        family_in_product_name(&name).or_else(|| inh.product_names.last().and_then(|n| family_in_product_name(n)))
    } else {
        None
    };
    let (version, version_text) = match &inh.version {
        Some((true, v)) => (VersionRange::exact(v), Some(v.clone())),
        Some((false, r)) => (VersionRange::parse(r), Some(r.clone())),
        None => (VersionRange::Any, None),
    };
    Ok(ProductEntry {
        product_id,
        name,
        order_numbers,
        family,
        version,
        version_text,
        status: None,
        remediation: None,
        vulnerabilities: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_versions_from_remediation_text() {
        let f = fixed_version_in_text;
        assert_eq!(f("Update to V3.1.0 or later version").as_deref(), Some("V3.1.0"));
        assert_eq!(
            f("Update to V4.3 - Download: https://support.industry.siemens.com/cs/us/en/view/109763919").as_deref(),
            Some("V4.3")
        );
        assert_eq!(f("Update to V5.2 SP 3 HF 13 or later version").as_deref(), Some("V5.2 SP 3 HF 13"));
        assert_eq!(f("Update to 5.2 SP3 HF13 or later version").as_deref(), Some("5.2 SP3 HF13"));
        assert_eq!(f("Update to V4.0 SP1 or later version").as_deref(), Some("V4.0 SP1"));
        assert_eq!(f("Update to V30.0 or later version").as_deref(), Some("V30.0"));
        assert_eq!(f("Update SIMATIC S7-1500 firmware to version V3.1.0.").as_deref(), Some("V3.1.0"));
        assert_eq!(f("Protect network access to port 102/tcp of affected devices"), None);
        assert_eq!(f("Update to the latest version"), None);
        assert_eq!(f("Currently no fix is planned"), None);
    }

    #[test]
    fn error_display_names_file_and_pointer() {
        let e = LoadError {
            file: PathBuf::from("icsa-x.json"),
            pointer: "/product_tree/branches/0/branches/2".into(),
            message: "expected an object, found a string".into(),
        };
        assert_eq!(
            e.to_string(),
            "icsa-x.json: /product_tree/branches/0/branches/2: expected an object, found a string"
        );
        let e = LoadError { file: PathBuf::from("a.json"), pointer: String::new(), message: "not valid JSON".into() };
        assert_eq!(e.to_string(), "a.json: not valid JSON");
    }
}
