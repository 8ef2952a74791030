//! Family `malformed`: violations of TPKT / COTP / S7comm / S7comm-plus
//! structure, reported by the parsers as findings. The crash bugs of
//! SSA-592380 (CVE-2023-46156), SSA-838121 (CVE-2021-37185/37204/37205) and
//! SSA-382653 (CVE-2021-40365) were never published as bytes: a structural
//! violation toward a PLC is the best evidence a passive sensor gets.

use super::catalog::*;
use super::ctx::Ctx;
use super::{ev, hex, Core, Raise};
use crate::event::Event;
use s7sentry_proto::cotp::TpduCode;
use s7sentry_proto::{FindingKind, Layer};
use serde_json::json;

/// Map a finding to its malformed rule (None: not a malformed finding).
pub(crate) fn rule_for(layer: Layer, kind: FindingKind, bytes: &[u8]) -> Option<RuleId> {
    Some(match (layer, kind) {
        // Reported by crash_pattern instead.
        (_, FindingKind::BadTcpHeader) | (_, FindingKind::IpFragment) => return None,
        // Capture loss and resync are not attacks: counted, never alerted.
        (_, FindingKind::StreamGap) | (_, FindingKind::Resync) => return None,
        (Layer::Tcp, FindingKind::OverlapConflict) => MAL_OVERLAP,
        (Layer::Tpkt, FindingKind::IncompleteAtClose) => MAL_INCOMPLETE,
        (Layer::Tpkt, _) => MAL_TPKT,
        // A DR with trailing bytes is the CVE-2025-40944 pattern (crash_pattern).
        (Layer::Cotp, FindingKind::TrailingBytes) if TpduCode::of_tpdu(bytes) == Some(TpduCode::DR) => return None,
        (Layer::Cotp, _) => MAL_COTP,
        (Layer::S7comm, FindingKind::UnknownProtocol) => MAL_UNKNOWN_PROTO,
        (Layer::S7comm, _) => MAL_S7,
        (Layer::S7commPlus, _) => MAL_S7PLUS,
        _ => return None,
    })
}

/// Handle one event.
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    let Event::Finding { meta, finding, bytes } = e else {
        return;
    };
    let Some(rule) = rule_for(finding.layer, finding.kind, bytes) else {
        return;
    };
    let msg = format!(
        "{} {} at byte {} of the {} unit from {} to {}:{}",
        finding.layer,
        finding.kind.name().replace('_', " "),
        finding.offset,
        finding.layer,
        meta.src,
        meta.dst,
        meta.dport
    );
    let evidence = ev(&[
        ("layer", json!(finding.layer.name())),
        ("kind", json!(finding.kind.name())),
        ("offset", json!(finding.offset)),
        ("hex", json!(hex(bytes))),
    ]);
    d.emit(cx, Raise::new(rule, meta, msg, evidence));
}
