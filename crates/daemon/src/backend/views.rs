//! Conversions from `qcs_core` values to the wire types of [`crate::client::types`].

use base64::Engine as _;
use qcs_core::diff::{FileDiff, Region, ThreeWay};
use qcs_core::render::{self, LineKind, TokenClass};
use qcs_core::review::ReviewFinding;
use qcs_core::risk::Finding;
use qcs_core::store::{ProposalSummary, Provenance};
use qcs_protocol::{ProfileId, RelativePath, VmName};

use super::{BackendError, Result};
use crate::client::types::{
    DiffView, FindingChange, FindingSide, FindingView, HunkView, LineKind as WireLineKind,
    LocationView, MessageArgView, MessageView, ProposalSummaryView, RegionKind, RenderedLineView,
    Segment, ThreeWayRegionView, ThreeWaySide, ThreeWaySideView, ThreeWayView,
};
use crate::client::{Code, Reason};

// Parsers of the strings a client sends, used by the D-Bus methods before anything
// reaches the backend or the store: the error names the argument (escaped, bounded) and
// the rule it broke.

/// A client's text in an error message: at most 64 characters, escaped by `{:?}`.
fn shown(text: &str) -> String {
    format!("{:?}", text.chars().take(64).collect::<String>())
}

/// The argument's text as a reason argument.
fn invalid(code: Code, name: &str, text: &str, detail: impl std::fmt::Display) -> BackendError {
    BackendError::InvalidArgument(
        Reason::new(code)
            .arg(name, shown(text))
            .arg("detail", detail),
    )
}

pub fn profile_id(text: &str) -> Result<ProfileId> {
    qcs_protocol::profile::validate_profile_id(text)
        .map_err(|e| invalid(Code::ProfileInvalidId, "profile", text, e))
}

pub fn qube_name(text: &str) -> Result<VmName> {
    qcs_protocol::validate_vm_name(text)
        .map_err(|e| invalid(Code::QubeInvalidName, "qube", text, e))
}

pub fn relative_path(text: &str) -> Result<RelativePath> {
    qcs_protocol::path::validate_relative_path(text)
        .map_err(|e| invalid(Code::PathInvalid, "path", text, e))
}

/// Each of `texts` as a profile id; the first invalid one is the error.
pub fn profile_ids(texts: &[String]) -> Result<Vec<ProfileId>> {
    texts.iter().map(|t| profile_id(t)).collect()
}

/// Each of `texts` as a qube name; the first invalid one is the error.
pub fn qube_names(texts: &[String]) -> Result<Vec<VmName>> {
    texts.iter().map(|t| qube_name(t)).collect()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn mode_text(mode: u32) -> String {
    format!("{mode:04o}")
}

pub fn provenance(p: &Provenance) -> Reason {
    match p {
        Provenance::LocalEdit => Reason::new(Code::ProvenanceLocalEdit),
        Provenance::AcceptedProposal { qube, proposal_id } => Reason::new(Code::ProvenanceAccepted)
            .arg("qube", qube)
            .arg("id", proposal_id),
    }
}

/// A core severity on the wire.
pub fn severity(s: qcs_core::risk::Severity) -> crate::client::types::Severity {
    use crate::client::types::Severity as W;
    use qcs_core::risk::Severity as S;
    match s {
        S::Info => W::Info,
        S::Low => W::Low,
        S::Medium => W::Medium,
        S::High => W::High,
        S::Critical => W::Critical,
    }
}

fn token_class(class: TokenClass) -> qcs_client::types::TokenClass {
    use qcs_client::types::TokenClass as W;
    match class {
        TokenClass::Bidi => W::Bidi,
        TokenClass::Invisible => W::Invisible,
        TokenClass::Tag => W::Tag,
        TokenClass::VariationSelector => W::VariationSelector,
        TokenClass::OddSpace => W::OddSpace,
        TokenClass::Control => W::Control,
        TokenClass::InvalidByte => W::InvalidByte,
        TokenClass::Whitespace => W::Whitespace,
        TokenClass::Other => W::Other,
        TokenClass::Marker => W::Marker,
    }
}

pub fn segments(segments: &[render::Segment]) -> Vec<Segment> {
    segments
        .iter()
        .map(|s| match s {
            render::Segment::Text { text, changed } => Segment::Text {
                text: text.clone(),
                changed: *changed,
            },
            render::Segment::Token {
                class,
                label,
                changed,
                ..
            } => Segment::Token {
                class: token_class(*class),
                label: label.clone(),
                changed: *changed,
            },
            render::Segment::FindingAnchor { finding, severity } => Segment::FindingAnchor {
                finding: u32::try_from(*finding).unwrap_or(u32::MAX),
                severity: self::severity(*severity),
            },
        })
        .collect()
}

/// Untrusted text (a note, a path) as safe segments.
pub fn text_segments(text: &[u8]) -> Vec<Segment> {
    segments(&render::render_line(text))
}

pub fn diff_view(diff: &FileDiff, findings: &[Finding]) -> DiffView {
    let hunks = diff
        .hunks
        .iter()
        .map(|h| {
            let before = h.context_before.len();
            let after = h.context_after.len();
            HunkView {
                id: h.id.0.clone(),
                old_start: (h.old_range.start.saturating_sub(before) + 1) as u64,
                old_lines: (h.old_range.len() + before + after) as u64,
                new_start: (h.new_range.start.saturating_sub(before) + 1) as u64,
                new_lines: (h.new_range.len() + before + after) as u64,
                whitespace_only: h.is_whitespace_only(),
            }
        })
        .collect();
    let lines = render::render_diff(diff, findings)
        .iter()
        .map(|l| RenderedLineView {
            kind: match l.kind {
                LineKind::HunkHeader => WireLineKind::HunkHeader,
                LineKind::Context => WireLineKind::Context,
                LineKind::Removed => WireLineKind::Removed,
                LineKind::Added => WireLineKind::Added,
            },
            old_number: l.old_number.map(|n| n as u64),
            new_number: l.new_number.map(|n| n as u64),
            segments: segments(&l.segments),
        })
        .collect();
    DiffView {
        hunks,
        lines,
        minimal: diff.minimal,
    }
}

/// What the three versions of a [`ThreeWay`] are (codes; clients name them).
pub struct ThreeWayLabels {
    pub base: ThreeWaySide,
    pub ours: ThreeWaySide,
    pub theirs: ThreeWaySide,
}

/// A plan conflict: base = last pushed, ours = the store, theirs = the qube.
pub const PLAN_THREE_WAY: ThreeWayLabels = ThreeWayLabels {
    base: ThreeWaySide::LastPushed,
    ours: ThreeWaySide::Store,
    theirs: ThreeWaySide::Qube,
};

/// A proposal made against an older version: base = that version, ours = the store's
/// current content, theirs = the proposal.
pub const PROPOSAL_THREE_WAY: ThreeWayLabels = ThreeWayLabels {
    base: ThreeWaySide::ProposalBase,
    ours: ThreeWaySide::Store,
    theirs: ThreeWaySide::Proposal,
};

/// The three-way view with every line rendered as safe segments.
pub fn three_way_view(three_way: &ThreeWay, labels: &ThreeWayLabels) -> ThreeWayView {
    // Next 1-based line number in base, ours, theirs.
    let mut next = [1u64; 3];
    let mut side = |index: usize, lines: &[Vec<u8>]| {
        let first_line = next[index];
        next[index] += lines.len() as u64;
        ThreeWaySideView {
            first_line,
            lines: lines
                .iter()
                .map(|l| segments(&render::render_line(l)))
                .collect(),
        }
    };
    let mut conflicts = 0u32;
    let regions = three_way
        .regions
        .iter()
        .map(|region| {
            let (kind, base, ours, theirs) = match region {
                Region::Unchanged(lines) => (RegionKind::Unchanged, lines, lines, lines),
                Region::Ours { base, ours } => (RegionKind::Ours, base, ours, base),
                Region::Theirs { base, theirs } => (RegionKind::Theirs, base, base, theirs),
                Region::Both { base, result } => (RegionKind::Both, base, result, result),
                Region::Conflict { base, ours, theirs } => {
                    conflicts = conflicts.saturating_add(1);
                    (RegionKind::Conflict, base, ours, theirs)
                }
            };
            ThreeWayRegionView {
                kind,
                base: side(0, base),
                ours: side(1, ours),
                theirs: side(2, theirs),
            }
        })
        .collect();
    ThreeWayView {
        base_label: labels.base,
        ours_label: labels.ours,
        theirs_label: labels.theirs,
        regions,
        conflicts,
    }
}

/// A finding's message template and arguments on the wire.
fn message_view(m: &qcs_core::risk::Message) -> MessageView {
    MessageView {
        template: m.template.clone(),
        args: m
            .args
            .iter()
            .map(|a| MessageArgView {
                name: a.name.clone(),
                value: a.value.clone(),
                translate: a.translate,
            })
            .collect(),
        more: m.more.iter().map(message_view).collect(),
    }
}

/// The engine's side of a finding on the wire.
fn finding_side(side: qcs_core::risk::Side) -> FindingSide {
    match side {
        qcs_core::risk::Side::Proposed => FindingSide::Proposed,
        qcs_core::risk::Side::Base => FindingSide::Base,
    }
}

/// A finding outside a review (no id, no hunks); `gated` by severity.
pub fn finding_view(f: &Finding) -> FindingView {
    FindingView {
        id: String::new(),
        rule: f.rule.clone(),
        path: f.path.clone(),
        related: f
            .related
            .iter()
            .map(|r| LocationView {
                path: r.path.clone(),
                side: finding_side(r.side),
                line: r.line,
            })
            .collect(),
        hunks: Vec::new(),
        gated: f.severity >= qcs_core::review::GATE_SEVERITY,
        severity: severity(f.severity),
        side: finding_side(f.side),
        change: match f.change {
            qcs_core::risk::Change::Added => FindingChange::Added,
            qcs_core::risk::Change::Changed => FindingChange::Changed,
            qcs_core::risk::Change::Removed => FindingChange::Removed,
        },
        line: f.line,
        span: f.span.map(|s| (s.start as u64, s.end as u64)),
        message: f.message.clone(),
        text: Some(message_view(&f.text)),
        why: f.why.clone(),
        reference: f.reference.clone(),
    }
}

/// A finding of a review, with its id, gate flag and the hunks of proposal
/// `proposal` it lies in.
pub fn review_finding_view(f: &ReviewFinding, proposal: i64) -> FindingView {
    FindingView {
        id: f.id.clone(),
        hunks: f
            .hunks
            .iter()
            .filter(|(p, _)| *p == proposal)
            .map(|(_, h)| h.0.clone())
            .collect(),
        gated: f.gated,
        ..finding_view(&f.finding)
    }
}

pub fn proposal_summary(p: &ProposalSummary) -> ProposalSummaryView {
    ProposalSummaryView {
        id: p.id,
        source_qube: p.source_qube.to_string(),
        profile: p.profile.as_str().to_owned(),
        path: p.path.as_str().to_owned(),
        size: p.size as u64,
        sha256: p.sha256.clone(),
        received_at: p.received_at,
        status: match p.status {
            qcs_core::store::ProposalStatus::Pending => {
                crate::client::types::ProposalStatus::Pending
            }
            qcs_core::store::ProposalStatus::Accepted => {
                crate::client::types::ProposalStatus::Accepted
            }
            qcs_core::store::ProposalStatus::Rejected => {
                crate::client::types::ProposalStatus::Rejected
            }
        },
        batch: p.batch,
        risk: None,
    }
}

/// JSON of a value of ours; our types always serialize.
pub fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(BackendError::failed)
}
