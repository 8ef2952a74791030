//! One way to raise an alert: a [`Raise`] value handed to [`Core::emit`](super::Core::emit).
//!
//! A raise carries everything that decides the alert: the rule, the packet it
//! is about, the message (formatted now or lazily, see [`Msg`]), the evidence
//! (built now or only when the occurrence is shown, see [`Evidence`]), an
//! optional category and severity override, and the aggregation key (the
//! packet's (src, dst) unless [`Raise::keyed`] names another pair). The
//! severity override travels with the raise into its aggregation window, so a
//! follow-up is graded like the occurrences it folds.
//!

use super::catalog::RuleId;
use super::{Category, Severity};
use crate::event::Meta;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// An alert message, formatted now or only when needed: an occurrence folded
/// into an aggregation window is shown only if it is the last one, so the
/// hot flood rules keep the numbers and format the text at flush time.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Formatted.
    Text(String),
    /// Formatter over the packet context and two numbers.
    Lazy(fn(&Meta, u64, u64) -> String, u64, u64),
}

impl Msg {
    /// The text of the message about `meta`.
    pub(crate) fn render(self, meta: &Meta) -> String {
        match self {
            Msg::Text(s) => s,
            Msg::Lazy(f, a, b) => f(meta, a, b),
        }
    }
}

impl From<String> for Msg {
    fn from(s: String) -> Msg {
        Msg::Text(s)
    }
}

/// Evidence of an alert: a map built already, or a closure building it only
/// when the occurrence is shown (not folded into an aggregation window).
pub(crate) trait Evidence {
    /// The evidence map.
    fn build(self) -> Map<String, Value>;
}

impl Evidence for Map<String, Value> {
    fn build(self) -> Map<String, Value> {
        self
    }
}

/// Evidence built on demand (see [`Evidence`]).
pub(crate) struct Later<F>(pub F);

impl<F: FnOnce() -> Map<String, Value>> Evidence for Later<F> {
    fn build(self) -> Map<String, Value> {
        (self.0)()
    }
}

/// One occurrence of a rule, ready for [`super::Core::emit`].
pub(crate) struct Raise<'m, E: Evidence = Map<String, Value>> {
    /// Rule raised.
    pub rule: RuleId,
    /// Packet the alert is about (src/dst as on the wire).
    pub meta: &'m Meta,
    /// Message.
    pub message: Msg,
    /// Evidence.
    pub evidence: E,
    /// Category override (None: the rule's category).
    pub category: Option<Category>,
    /// Severity override (None: the rule's configured severity).
    pub severity: Option<Severity>,
    /// Aggregation key (src, dst).
    pub key: (IpAddr, IpAddr),
}

impl<'m, E: Evidence> Raise<'m, E> {
    /// Rule `rule` about the packet `meta`, aggregated per (src, dst) of `meta`.
    pub(crate) fn new(rule: RuleId, meta: &'m Meta, message: impl Into<Msg>, evidence: E) -> Self {
        Raise {
            rule,
            meta,
            message: message.into(),
            evidence,
            category: None,
            severity: None,
            key: (meta.src, meta.dst),
        }
    }

    /// With an explicit category (control rules: engineering hosts get `control_operation`).
    pub(crate) fn category(mut self, category: Category) -> Self {
        self.category = Some(category);
        self
    }

    /// With an explicit severity (e.g. a refused upload is recorded at `info`).
    pub(crate) fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    /// Aggregated on the pair (`src`, `dst`) instead of the packet's.
    pub(crate) fn keyed(mut self, src: IpAddr, dst: IpAddr) -> Self {
        self.key = (src, dst);
        self
    }
}
