//! Conversions from `qcs_core` values to the wire types of [`crate::client::types`].

use base64::Engine as _;
use qcs_core::diff::{FileDiff, Region, ThreeWay};
use qcs_core::render::{self, LineKind, TokenClass};
use qcs_core::review::ReviewFinding;
use qcs_core::risk::Finding;
use qcs_core::store::{ProposalSummary, Provenance};
use qcs_protocol::profile::ProfileId;

use super::{BackendError, Result};
use crate::client::types::{
    DiffView, FindingView, HunkView, LocationView, ProposalSummaryView, RenderedLineView, Segment,
    ThreeWayRegionView, ThreeWaySideView, ThreeWayView,
};

pub fn profile_id(text: &str) -> Result<ProfileId> {
    qcs_protocol::profile::validate_profile_id(text).map_err(|e| {
        BackendError::InvalidArgument(format!(
            "invalid profile id {:?}: {e}",
            text.chars().take(64).collect::<String>()
        ))
    })
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn mode_text(mode: u32) -> String {
    format!("{mode:04o}")
}

pub fn provenance(p: &Provenance) -> String {
    match p {
        Provenance::LocalEdit => "local edit".to_owned(),
        Provenance::AcceptedProposal { qube, proposal_id } => {
            format!("accepted proposal from {qube} #{proposal_id}")
        }
    }
}

fn token_class(class: TokenClass) -> &'static str {
    match class {
        TokenClass::Bidi => "bidi",
        TokenClass::Invisible => "invisible",
        TokenClass::Tag => "tag",
        TokenClass::VariationSelector => "variation-selector",
        TokenClass::OddSpace => "odd-space",
        TokenClass::Control => "control",
        TokenClass::InvalidByte => "invalid-byte",
        TokenClass::Whitespace => "whitespace",
        TokenClass::Other => "other",
        TokenClass::Marker => "marker",
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
                class: token_class(*class).to_owned(),
                label: label.clone(),
                changed: *changed,
            },
            render::Segment::FindingAnchor { finding, severity } => Segment::FindingAnchor {
                finding: u32::try_from(*finding).unwrap_or(u32::MAX),
                severity: severity.as_str().to_owned(),
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
                LineKind::HunkHeader => "hunk-header",
                LineKind::Context => "context",
                LineKind::Removed => "removed",
                LineKind::Added => "added",
            }
            .to_owned(),
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

/// What the three versions of a [`ThreeWay`] are, in English (for the wire).
pub struct ThreeWayLabels {
    pub base: &'static str,
    pub ours: &'static str,
    pub theirs: &'static str,
}

/// A plan conflict: base = last pushed, ours = the store, theirs = the qube.
pub const PLAN_THREE_WAY: ThreeWayLabels = ThreeWayLabels {
    base: "last pushed",
    ours: "store",
    theirs: "qube",
};

/// A proposal made against an older version: base = that version, ours = the store's
/// current content, theirs = the proposal.
pub const PROPOSAL_THREE_WAY: ThreeWayLabels = ThreeWayLabels {
    base: "the proposal's base",
    ours: "store",
    theirs: "proposal",
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
                Region::Unchanged(lines) => ("unchanged", lines, lines, lines),
                Region::Ours { base, ours } => ("ours", base, ours, base),
                Region::Theirs { base, theirs } => ("theirs", base, base, theirs),
                Region::Both { base, result } => ("both", base, result, result),
                Region::Conflict { base, ours, theirs } => {
                    conflicts = conflicts.saturating_add(1);
                    ("conflict", base, ours, theirs)
                }
            };
            ThreeWayRegionView {
                kind: kind.to_owned(),
                base: side(0, base),
                ours: side(1, ours),
                theirs: side(2, theirs),
            }
        })
        .collect();
    ThreeWayView {
        base_label: labels.base.to_owned(),
        ours_label: labels.ours.to_owned(),
        theirs_label: labels.theirs.to_owned(),
        regions,
        conflicts,
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
                side: r.side.as_str().to_owned(),
                line: r.line,
            })
            .collect(),
        hunks: Vec::new(),
        gated: f.severity >= qcs_core::review::GATE_SEVERITY,
        severity: f.severity.as_str().to_owned(),
        side: f.side.as_str().to_owned(),
        change: f.change.as_str().to_owned(),
        line: f.line,
        span: f.span.map(|s| (s.start as u64, s.end as u64)),
        message: f.message.clone(),
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
        source_qube: p.source_qube.clone(),
        profile: p.profile.as_str().to_owned(),
        path: p.path.as_str().to_owned(),
        size: p.size as u64,
        sha256: p.sha256.clone(),
        received_at: p.received_at,
        status: p.status.as_str().to_owned(),
        batch: p.batch,
    }
}

/// JSON of a value of ours; our types always serialize.
pub fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| BackendError::Failed(format!("cannot encode the reply: {e}")))
}
