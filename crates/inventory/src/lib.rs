//! # s7sentry-inventory: advisory correlation for the passive PLC inventory
//!
//! Loads vendor advisories in CSAF 2.0 JSON and tells which of them apply to a
//! device known by its order number, firmware version and/or family (issue 6).
//!
//! ```no_run
//! let (advisories, errors) = s7sentry_inventory::load_dir("/var/lib/s7sentry/csaf");
//! for e in &errors {
//!     eprintln!("skipped: {e}"); // "dir/icsa-x.json: /product_tree/branches/0: expected an object, …"
//! }
//! let hits = s7sentry_inventory::match_device(&advisories, Some("6ES7 511-1AK02-0AB0"), Some("V2.9.2"), None);
//! for m in hits {
//!     println!("{} {:?} cvss={:?} fixed_in={:?}", m.tracking_id, m.cves, m.cvss, m.fixed_in);
//! }
//! ```
//!
//! ## Where operators get the advisories
//!
//! The project does not ship advisories. Put CSAF 2.0 JSON files in one
//! directory (subdirectories are read too), for example:
//! - Siemens ProductCERT: <https://cert-portal.siemens.com/productcert/csaf/>
//!   (`ssa-*.json`; index in `provider-metadata.json`);
//! - CISA ICS advisories: <https://github.com/cisagov/CSAF>, folder
//!   `csaf_files/OT/white/<year>/` (`icsa-*.json`).
//!
//! Any CSAF trusted provider or aggregator mirror works the same way.
//!
//! ## Pieces
//! - [`load_dir`] / [`load_file`] / [`parse_advisory`]: CSAF → [`Advisory`] with
//!   flattened [`ProductEntry`]s; a malformed document gives a [`LoadError`]
//!   naming the file and the JSON pointer of the problem.
//! - [`normalize_order_number`], [`extract_order_numbers`], [`family_of`],
//!   [`family_from_hint`] and the family table [`FAMILIES`].
//! - [`Version`] and [`VersionRange`]: S7 firmware versions and CSAF/vers ranges.
//! - [`match_device`]: the advisories that apply to one device, as [`Match`]es.
#![forbid(unsafe_code)]

pub mod baseline;
mod csaf;
mod matching;
mod order;
pub mod report;
pub mod store;
mod version;

pub use csaf::{
    fixed_version_in_text, load_dir, load_file, parse_advisory, Advisory, EntryVulnerability, LoadError, ProductEntry,
    ProductStatus, Remediation, Vulnerability,
};
pub use matching::{match_device, Match, MatchedBy};
pub use order::{
    extract_order_numbers, family_from_hint, family_in_product_name, family_of, normalize_order_number,
    order_number_matches, Family, FamilyRef, FAMILIES,
};
pub use store::{SaveStats, Saved, Store, StoreError};
pub use version::{Comparator, Constraint, Version, VersionRange};
