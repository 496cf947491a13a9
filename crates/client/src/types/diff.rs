//! Diff and three-way wire types: line and region kinds, hunks, and rendered lines as
//! safe [`Segment`]s. The token class of a hidden character is the `class` of
//! [`Segment::Token`].
//!
//! It must not expose raw text from a qube: everything shown goes through segments.

use serde::{Deserialize, Serialize};

use super::Severity;

/// What one version of a three-way view is. `Unknown` is shown without a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreeWaySide {
    /// What we last pushed into the qube.
    LastPushed,
    /// The store's current content.
    Store,
    /// The qube's current content.
    Qube,
    /// The version a proposal was made against.
    ProposalBase,
    /// The proposed content.
    Proposal,
    #[serde(other)]
    Unknown,
}

impl ThreeWaySide {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreeWaySide::LastPushed => "last-pushed",
            ThreeWaySide::Store => "store",
            ThreeWaySide::Qube => "qube",
            ThreeWaySide::ProposalBase => "proposal-base",
            ThreeWaySide::Proposal => "proposal",
            ThreeWaySide::Unknown => "unknown",
        }
    }
}

/// The kind of a rendered diff line. `Unknown` is drawn as a change (added): a line
/// this client cannot place must draw attention, not pass as context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineKind {
    HunkHeader,
    Context,
    Removed,
    Added,
    #[serde(other)]
    Unknown,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::HunkHeader => "hunk-header",
            LineKind::Context => "context",
            LineKind::Removed => "removed",
            LineKind::Added => "added",
            LineKind::Unknown => "unknown",
        }
    }
}

/// What happened to a region of a three-way view since the base. `Unknown` is shown
/// as a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionKind {
    /// No side changed it.
    Unchanged,
    /// Only the store changed it.
    Ours,
    /// Only the qube (or the proposal) changed it.
    Theirs,
    /// Both changed it the same way.
    Both,
    /// Both changed it differently.
    Conflict,
    #[serde(other)]
    Unknown,
}

impl RegionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RegionKind::Unchanged => "unchanged",
            RegionKind::Ours => "ours",
            RegionKind::Theirs => "theirs",
            RegionKind::Both => "both",
            RegionKind::Conflict => "conflict",
            RegionKind::Unknown => "unknown",
        }
    }
}

/// A three-way view (diff3 over lines): the base and two sides that both changed it.
/// Every line is rendered as safe segments (hidden characters are tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreeWayView {
    /// What each side is (a UI shows its own translated headings): `last-pushed` /
    /// `store` / `qube` for a plan conflict, `proposal-base` / `store` / `proposal` for a
    /// proposal.
    pub base_label: ThreeWaySide,
    pub ours_label: ThreeWaySide,
    pub theirs_label: ThreeWaySide,
    /// Regions in file order; together they cover every line of the three versions.
    pub regions: Vec<ThreeWayRegionView>,
    /// Number of `conflict` regions.
    pub conflicts: u32,
}

/// One region of a [`ThreeWayView`]. All three sides are always filled (for an
/// `unchanged` region they are the same lines), so a client can render three columns
/// without knowing the kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreeWayRegionView {
    pub kind: RegionKind,
    pub base: ThreeWaySideView,
    pub ours: ThreeWaySideView,
    pub theirs: ThreeWaySideView,
}

/// The lines of one side of a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreeWaySideView {
    /// 1-based number of the first line in that version (where the region starts, even
    /// when the side has no line in it).
    pub first_line: u64,
    /// One entry per line, without the line terminator.
    pub lines: Vec<Vec<Segment>>,
}

/// A diff with its hunks (ids for per-hunk decisions) and its safe rendering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffView {
    pub hunks: Vec<HunkView>,
    /// Rendered lines (hunk headers, context, removed, added), every hidden character a
    /// token: what a UI shows.
    pub lines: Vec<RenderedLineView>,
    /// False when the diff deadline was hit (still correct, coarser).
    pub minimal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HunkView {
    pub id: String,
    /// 1-based first old line and count, as in `@@ -a,b +c,d @@`.
    pub old_start: u64,
    pub old_lines: u64,
    pub new_start: u64,
    pub new_lines: u64,
    pub whitespace_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedLineView {
    pub kind: LineKind,
    pub old_number: Option<u64>,
    pub new_number: Option<u64>,
    pub segments: Vec<Segment>,
}

/// Why a character is shown as a token (`qcs_core::render::TokenClass` on the wire).
/// `Unknown` (a class this client does not know) is drawn the most visible way: it
/// may be something new that hides text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenClass {
    /// Bidi override, embedding, isolate or mark.
    Bidi,
    /// Zero-width, format or filler character.
    Invisible,
    /// Unicode tag character.
    Tag,
    VariationSelector,
    /// Space-like character other than U+0020.
    OddSpace,
    /// C0/C1 control.
    Control,
    /// Byte that is not valid UTF-8.
    InvalidByte,
    /// Tab, or a blank at the end of a line: visible, quieter.
    Whitespace,
    /// Anything else not known to display as itself.
    Other,
    /// A marker the renderer adds (no newline at end of file).
    Marker,
    #[serde(other)]
    Unknown,
}

/// A piece of a rendered line (`qcs_core::render::Segment` on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Segment {
    /// Plain visible text (only characters known to display as themselves).
    Text { text: String, changed: bool },
    /// A visible stand-in for a hidden or confusing character; show `label`.
    Token {
        class: TokenClass,
        label: String,
        changed: bool,
    },
    /// A finding applies at the end of this line: index into the findings list.
    FindingAnchor { finding: u32, severity: Severity },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_classes_are_an_enum_with_a_fallback() {
        let known = [
            ("bidi", TokenClass::Bidi),
            ("invisible", TokenClass::Invisible),
            ("tag", TokenClass::Tag),
            ("variation-selector", TokenClass::VariationSelector),
            ("odd-space", TokenClass::OddSpace),
            ("control", TokenClass::Control),
            ("invalid-byte", TokenClass::InvalidByte),
            ("whitespace", TokenClass::Whitespace),
            ("other", TokenClass::Other),
            ("marker", TokenClass::Marker),
        ];
        for (wire, class) in known {
            let json = format!("\"{wire}\"");
            assert_eq!(serde_json::from_str::<TokenClass>(&json).unwrap(), class);
            assert_eq!(serde_json::to_string(&class).unwrap(), json);
        }
        // A class from a newer (or broken) backend still decodes, as Unknown: the
        // segment is shown, never dropped.
        let segment: Segment = serde_json::from_str(
            r#"{"type":"token","class":"Bidi ","label":"U+202E RLO","changed":false}"#,
        )
        .unwrap();
        assert_eq!(
            segment,
            Segment::Token {
                class: TokenClass::Unknown,
                label: "U+202E RLO".into(),
                changed: false
            }
        );
    }
}
