//! The review pane's state: which findings are acknowledged and whether "Accept" may be
//! pressed; plus the layouts of the diff (unified rows and side-by-side pairs) and the
//! link from findings to their lines.
//!
//! The gate (DESIGN §6): Accept stays disabled until the whole diff has been laid out,
//! every gated finding in the accepted part (severity high or critical, or one the
//! backend marks `gated` or lists in `must_acknowledge`) is acknowledged — each by its
//! finding id, never by its rule — and at least one hunk is accepted. A gated finding
//! whose hunks are all rejected needs nothing, as in core::review's gate. The hunk
//! decisions are not kept here: the diff widget owns them and its rows render them, so
//! no decision exists that no row shows; the gate reads them from there. The backend
//! checks the same again against the review's digest, which the accept carries.

use std::collections::BTreeSet;

use qcs_client::types::{
    DiffView, FindingView, LineKind as WireLineKind, ProposalView, RenderedLineView,
};

use super::{Severity, SeverityExt};

/// A hunk's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HunkDecision {
    Undecided,
    Accept,
    Reject,
}

/// Acknowledgements taken in the review pane for one proposal.
#[derive(Debug, Clone)]
pub struct ReviewState {
    /// Digest of the review shown; the accept request carries it.
    digest: String,
    findings: Vec<FindingView>,
    /// Per finding: must it be acknowledged before accepting?
    blocking: Vec<bool>,
    /// Per finding: has it been shown (its row and the line it points at laid out)?
    shown: Vec<bool>,
    acknowledged: Vec<bool>,
    hunk_ids: Vec<String>,
}

/// A finding with its message and reason in the user's language: the template and the
/// rule texts through gettext, filled by the client (text from the file stays as sent).
fn translated(f: &FindingView) -> FindingView {
    let tr = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            gettextrs::gettext(s)
        }
    };
    FindingView {
        message: f.message_with(&tr),
        why: tr(&f.why),
        ..f.clone()
    }
}

impl ReviewState {
    pub fn new(proposal: &ProposalView) -> ReviewState {
        let must: BTreeSet<&str> = proposal
            .must_acknowledge
            .iter()
            .map(String::as_str)
            .collect();
        let blocking = proposal
            .findings
            .iter()
            .map(|f| {
                f.severity.order() >= Severity::High.order()
                    || f.gated
                    || must.contains(f.id.as_str())
            })
            .collect();
        ReviewState {
            digest: proposal.digest.clone(),
            findings: proposal.findings.iter().map(translated).collect(),
            blocking,
            shown: vec![false; proposal.findings.len()],
            acknowledged: vec![false; proposal.findings.len()],
            hunk_ids: proposal.diff.hunks.iter().map(|h| h.id.clone()).collect(),
        }
    }

    pub fn findings(&self) -> &[FindingView] {
        &self.findings
    }

    pub fn is_blocking(&self, finding: usize) -> bool {
        self.blocking.get(finding).copied().unwrap_or(false)
    }

    pub fn is_acknowledged(&self, finding: usize) -> bool {
        self.acknowledged.get(finding).copied().unwrap_or(false)
    }

    /// Every finding's row and line are on screen now (the diff is laid out).
    pub fn mark_all_shown(&mut self) {
        self.shown.fill(true);
    }

    pub fn is_shown(&self, finding: usize) -> bool {
        self.shown.get(finding).copied().unwrap_or(false)
    }

    /// Acknowledge (or withdraw the acknowledgement of) one finding. A finding not shown
    /// yet cannot be acknowledged; out of range is ignored. Returns the state now.
    pub fn set_acknowledged(&mut self, finding: usize, acknowledged: bool) -> bool {
        let shown = self.is_shown(finding);
        if let Some(slot) = self.acknowledged.get_mut(finding) {
            *slot = acknowledged && shown;
            return *slot;
        }
        false
    }

    /// Blocking findings in the part `decisions` accepts that are not acknowledged yet.
    /// A finding lies in the accepted part when one of its hunks is accepted; one that
    /// names no hunk of this diff always does (fail closed).
    pub fn unacknowledged_blocking(&self, decisions: &[HunkDecision]) -> usize {
        (0..self.findings.len())
            .filter(|&i| self.is_blocking(i) && !self.is_acknowledged(i))
            .filter(|&i| self.in_accepted_part(i, decisions))
            .count()
    }

    /// Whether finding `finding` is brought into the store by the accepted hunks.
    fn in_accepted_part(&self, finding: usize, decisions: &[HunkDecision]) -> bool {
        let Some(f) = self.findings.get(finding) else {
            return false;
        };
        let mut named = false;
        for hunk in &f.hunks {
            if let Some(index) = self.hunk_ids.iter().position(|id| id == hunk) {
                named = true;
                if decisions.get(index) == Some(&HunkDecision::Accept) {
                    return true;
                }
            }
        }
        !named
    }

    pub fn blocking_count(&self) -> usize {
        self.blocking.iter().filter(|b| **b).count()
    }

    pub fn hunk_count(&self) -> usize {
        self.hunk_ids.len()
    }

    /// Ids of the hunks `decisions` accepts, in file order.
    pub fn accepted_hunks(&self, decisions: &[HunkDecision]) -> Vec<String> {
        self.hunk_ids
            .iter()
            .zip(decisions)
            .filter(|(_, d)| **d == HunkDecision::Accept)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Indices of the acknowledged findings, each one by itself.
    pub fn acknowledged_findings(&self) -> Vec<usize> {
        (0..self.findings.len())
            .filter(|&i| self.is_acknowledged(i))
            .collect()
    }

    /// What the backend is told: the finding ids of the acknowledged findings (sorted,
    /// each once) — never rule ids, so one acknowledgement covers one finding.
    pub fn acknowledgements(&self) -> Vec<String> {
        let ids: BTreeSet<&str> = self
            .acknowledged_findings()
            .into_iter()
            .map(|i| self.findings[i].id.as_str())
            .collect();
        ids.into_iter().map(str::to_owned).collect()
    }

    /// Digest of the review these decisions were taken on.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Whether "Accept" may be pressed with these hunk decisions, and if not, why.
    pub fn accept_gate(&self, laid_out: bool, decisions: &[HunkDecision]) -> Result<(), Blocked> {
        if !laid_out || decisions.len() != self.hunk_ids.len() {
            return Err(Blocked::NotShownYet);
        }
        let open = self.unacknowledged_blocking(decisions);
        if open > 0 {
            return Err(Blocked::Unacknowledged(open));
        }
        if !decisions.contains(&HunkDecision::Accept) {
            return Err(Blocked::NoHunkAccepted);
        }
        Ok(())
    }
}

/// Why "Accept" is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// The diff is still being laid out: nothing can be decided on unseen rows.
    NotShownYet,
    /// This many gated findings still need an acknowledgement.
    Unacknowledged(usize),
    /// No hunk is marked to accept.
    NoHunkAccepted,
}

impl Blocked {
    /// A translated explanation for the tooltip and the status line.
    pub fn explain(self) -> String {
        match self {
            Blocked::NotShownYet => gettextrs::gettext("Wait until the whole proposal is shown"),
            Blocked::Unacknowledged(n) => crate::i18n::ngettext_f(
                "Acknowledge the finding that needs it first",
                "Acknowledge the {n} findings that need it first",
                u32::try_from(n).unwrap_or(u32::MAX),
                &[],
            ),
            Blocked::NoHunkAccepted => gettextrs::gettext("Mark at least one change to accept"),
        }
    }
}

/// Why the backend's gate refused an accept, in words, from its reason code (the
/// backend's English message is never shown). `ids` are the findings or hunks the
/// refusal names; only their number is shown.
pub fn refusal_words(code: &str, ids: usize) -> String {
    use gettextrs::gettext;
    let n = u32::try_from(ids).unwrap_or(u32::MAX);
    match code {
        "review.stale" => gettext(
            "Not accepted: the proposal or the store changed since this review was opened (or the proposal was decided elsewhere), so it no longer shows what would be stored. Reload to review it as it is now.",
        ),
        "review.unacknowledged" => crate::i18n::ngettext_f(
            "Not accepted: a finding in the accepted changes was not acknowledged. Reload and review it.",
            "Not accepted: {n} findings in the accepted changes were not acknowledged. Reload and review them.",
            n,
            &[],
        ),
        "review.unreviewed" => gettext(
            "Not accepted: the chosen changes together raise findings this review did not show. Accept other changes or all of them.",
        ),
        "review.unknown-finding" | "review.unknown-hunk" | "review.duplicate-hunk" => gettext(
            "Not accepted: the decision names something this review does not contain. Reload to review the proposal again.",
        ),
        "review.nothing-accepted" => {
            gettext("Not accepted: no change was marked to accept. Reject the proposal instead.")
        }
        "review.apply" => gettext(
            "Not accepted: the chosen changes do not apply to the stored file. Reload to review the proposal again.",
        ),
        _ => gettext(
            "Not accepted: the backend refused for a reason this app does not know. Reload to review the proposal again.",
        ),
    }
}

/// Whose versions a three-way view compares (the headings of its columns differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreeWayContext {
    /// A push plan's conflict: last pushed / store / qube.
    PlanConflict,
    /// A proposal made against an older version: its base / store / proposal.
    Proposal,
}

/// Translated texts of the three-way view. They live here, with the review's other
/// strings, so the translation catalogue already covers them.
pub mod three_way_text {
    use super::ThreeWayContext;
    use crate::i18n::ngettext_f;
    use crate::model::three_way::RegionKind;
    use gettextrs::gettext;

    /// Column headings: base, ours, theirs.
    pub fn headings(context: ThreeWayContext) -> [String; 3] {
        match context {
            ThreeWayContext::PlanConflict => [
                gettext("Base (last pushed)"),
                gettext("Store"),
                gettext("Qube (now)"),
            ],
            ThreeWayContext::Proposal => [
                gettext("Base (the proposal’s)"),
                gettext("Store (now)"),
                gettext("Proposal"),
            ],
        }
    }

    /// The heading of a changed region.
    pub fn region(kind: RegionKind, context: ThreeWayContext) -> String {
        match (kind, context) {
            (RegionKind::Conflict, _) => gettext("Conflict: both sides changed these lines"),
            (RegionKind::Ours, _) => gettext("Changed in the store only"),
            (RegionKind::Theirs, ThreeWayContext::PlanConflict) => {
                gettext("Changed in the qube only")
            }
            (RegionKind::Theirs, ThreeWayContext::Proposal) => {
                gettext("Changed by the proposal only")
            }
            (RegionKind::Both, _) => gettext("Changed the same way on both sides"),
            (RegionKind::Unchanged, _) => gettext("Unchanged"),
        }
    }

    /// The row standing for unchanged lines left out.
    pub fn folded(lines: usize) -> String {
        ngettext_f(
            "⋯ {n} unchanged line",
            "⋯ {n} unchanged lines",
            u32::try_from(lines).unwrap_or(u32::MAX),
            &[],
        )
    }

    /// The line above the view.
    pub fn summary(conflicts: u32, changed_regions: usize) -> String {
        if conflicts == 0 {
            ngettext_f(
                "{n} changed region, no conflict: both sides’ changes fit together",
                "{n} changed regions, no conflict: both sides’ changes fit together",
                u32::try_from(changed_regions).unwrap_or(u32::MAX),
                &[],
            )
        } else {
            ngettext_f(
                "{n} conflicting region (highlighted)",
                "{n} conflicting regions (highlighted)",
                conflicts,
                &[],
            )
        }
    }

    /// Shown when there is nothing three-way to show.
    pub fn empty() -> String {
        gettext("No three-way view: the last pushed version is not known.")
    }

    /// Shown while the rows are prepared.
    pub fn loading() -> String {
        gettext("Preparing the three-way view…")
    }
}

/// The kind of a rendered line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    HunkHeader,
    Context,
    Removed,
    Added,
}

impl LineKind {
    /// The backend's kind. A kind this client does not know is drawn as a change
    /// (added): it must draw attention, not pass as context.
    pub fn from_wire(kind: WireLineKind) -> LineKind {
        match kind {
            WireLineKind::HunkHeader => LineKind::HunkHeader,
            WireLineKind::Context => LineKind::Context,
            WireLineKind::Removed => LineKind::Removed,
            WireLineKind::Added | WireLineKind::Unknown => LineKind::Added,
        }
    }
}

/// For each line, the index of the hunk it belongs to (lines before the first header:
/// `None`). The n-th hunk header starts hunk n.
pub fn hunk_of_lines(diff: &DiffView) -> Vec<Option<usize>> {
    let mut current: Option<usize> = None;
    diff.lines
        .iter()
        .map(|line| {
            if LineKind::from_wire(line.kind) == LineKind::HunkHeader {
                current = Some(current.map_or(0, |h| h + 1));
            }
            current
        })
        .collect()
}

/// One row of the side-by-side view: indices into the diff's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideBySideRow {
    /// A hunk header spanning both columns.
    Header(usize),
    /// Old line on the left, new line on the right (context: the same line twice).
    Pair {
        left: Option<usize>,
        right: Option<usize>,
    },
}

/// Pair each run of removed lines with the run of added lines that follows it, so a
/// changed line sits beside its replacement; context lines appear on both sides.
pub fn side_by_side(lines: &[RenderedLineView]) -> Vec<SideBySideRow> {
    let mut rows = Vec::new();
    let mut removed: Vec<usize> = Vec::new();
    let mut added: Vec<usize> = Vec::new();
    let flush =
        |rows: &mut Vec<SideBySideRow>, removed: &mut Vec<usize>, added: &mut Vec<usize>| {
            let n = removed.len().max(added.len());
            for i in 0..n {
                rows.push(SideBySideRow::Pair {
                    left: removed.get(i).copied(),
                    right: added.get(i).copied(),
                });
            }
            removed.clear();
            added.clear();
        };
    for (index, line) in lines.iter().enumerate() {
        match LineKind::from_wire(line.kind) {
            LineKind::Removed => {
                if !added.is_empty() {
                    flush(&mut rows, &mut removed, &mut added);
                }
                removed.push(index);
            }
            LineKind::Added => added.push(index),
            LineKind::HunkHeader => {
                flush(&mut rows, &mut removed, &mut added);
                rows.push(SideBySideRow::Header(index));
            }
            LineKind::Context => {
                flush(&mut rows, &mut removed, &mut added);
                rows.push(SideBySideRow::Pair {
                    left: Some(index),
                    right: Some(index),
                });
            }
        }
    }
    flush(&mut rows, &mut removed, &mut added);
    rows
}

/// [`line_of_finding`] for every finding, in one pass over the diff's lines (thousands
/// of findings on a file of thousands of lines must not cost their product on the UI
/// thread).
pub fn lines_of_findings(diff: &DiffView, findings: &[FindingView]) -> Vec<Option<usize>> {
    use std::collections::HashMap;
    // (base side, number) -> first line showing it.
    let mut wanted: HashMap<(bool, u64), Option<usize>> = findings
        .iter()
        .filter_map(|f| Some(((f.side.is_base(), u64::from(f.line?)), None)))
        .collect();
    if !wanted.is_empty() {
        for (index, line) in diff.lines.iter().enumerate() {
            let kind = LineKind::from_wire(line.kind);
            if kind == LineKind::HunkHeader {
                continue;
            }
            let sides = [
                (
                    true,
                    (kind != LineKind::Added)
                        .then_some(line.old_number)
                        .flatten(),
                ),
                (
                    false,
                    (kind != LineKind::Removed)
                        .then_some(line.new_number)
                        .flatten(),
                ),
            ];
            for (base, number) in sides {
                if let Some(number) = number
                    && let Some(slot) = wanted.get_mut(&(base, number))
                    && slot.is_none()
                {
                    *slot = Some(index);
                }
            }
        }
    }
    findings
        .iter()
        .map(|f| {
            let key = (f.side.is_base(), u64::from(f.line?));
            wanted.get(&key).copied().flatten()
        })
        .collect()
}

/// The line a finding points at: a proposed-side finding at the line with that new
/// number, a base-side one at the line with that old number. File-level findings and
/// lines outside the shown hunks give `None`.
pub fn line_of_finding(diff: &DiffView, finding: &FindingView) -> Option<usize> {
    let number = u64::from(finding.line?);
    let base_side = finding.side.is_base();
    diff.lines.iter().position(|line| {
        let kind = LineKind::from_wire(line.kind);
        // A hunk header may carry the numbers of its first lines; it is not a line.
        if kind == LineKind::HunkHeader {
            return false;
        }
        if base_side {
            kind != LineKind::Added && line.old_number == Some(number)
        } else {
            kind != LineKind::Removed && line.new_number == Some(number)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcs_client::types::{HunkView, ProposalSummaryView, Segment};

    fn line(kind: &str, old: Option<u64>, new: Option<u64>) -> RenderedLineView {
        RenderedLineView {
            kind: kind.into(),
            old_number: old,
            new_number: new,
            segments: vec![Segment::Text {
                text: "x".into(),
                changed: false,
            }],
        }
    }

    fn finding(rule: &str, severity: &str, side: &str, line: Option<u32>) -> FindingView {
        FindingView {
            id: format!("{rule}@.gitconfig:p{}#00000000", line.unwrap_or(0)),
            rule: rule.into(),
            path: ".gitconfig".into(),
            related: vec![],
            hunks: vec![],
            gated: false,
            severity: severity.into(),
            side: side.into(),
            change: "added".into(),
            line,
            span: None,
            message: String::new(),
            text: None,
            why: String::new(),
            reference: String::new(),
        }
    }

    fn hunk(id: &str) -> HunkView {
        HunkView {
            id: id.into(),
            old_start: 1,
            old_lines: 1,
            new_start: 1,
            new_lines: 1,
            whitespace_only: false,
        }
    }

    fn proposal(findings: Vec<FindingView>, must: &[&str]) -> ProposalView {
        ProposalView {
            version: 1,
            summary: ProposalSummaryView {
                id: 1,
                source_qube: "work".into(),
                profile: "git".into(),
                path: ".gitconfig".into(),
                size: 1,
                sha256: String::new(),
                received_at: 0,
                status: "pending".into(),
                batch: 1,
                risk: None,
            },
            mode: None,
            note: vec![],
            base_b64: None,
            base_sha256: None,
            proposed_b64: String::new(),
            diff: DiffView {
                hunks: vec![hunk("h1"), hunk("h2")],
                lines: vec![
                    // Headers may carry the numbers of the hunk's first lines.
                    line("hunk-header", Some(1), Some(1)),
                    line("context", Some(1), Some(1)),
                    line("removed", Some(2), None),
                    line("added", None, Some(2)),
                    line("added", None, Some(3)),
                    line("hunk-header", None, None),
                    line("removed", Some(9), None),
                ],
                minimal: true,
            },
            findings,
            must_acknowledge: must.iter().map(|s| s.to_string()).collect(),
            digest: "d1".into(),
            three_way: None,
        }
    }

    use HunkDecision::{Accept, Reject, Undecided};

    #[test]
    fn an_unknown_line_kind_is_drawn_as_a_change() {
        let unknown = line("moved", Some(1), Some(1));
        assert_eq!(LineKind::from_wire(unknown.kind), LineKind::Added);
        assert_eq!(
            LineKind::from_wire(line("context", Some(1), Some(1)).kind),
            LineKind::Context
        );
    }

    #[test]
    fn accept_waits_for_layout_every_gated_acknowledgement_and_one_accepted_hunk() {
        let p = proposal(
            vec![
                finding("bidi", "critical", "proposed", Some(2)),
                finding("fsmonitor", "critical", "proposed", Some(3)),
                finding("insteadof", "high", "proposed", Some(3)),
                finding("comment", "medium", "proposed", Some(3)),
            ],
            &[],
        );
        let mut state = ReviewState::new(&p);
        assert_eq!(state.blocking_count(), 3, "high gates too");
        // Nothing shown yet: no acknowledgement takes, no accept.
        assert!(!state.set_acknowledged(0, true));
        assert_eq!(
            state.accept_gate(false, &[Accept, Accept]),
            Err(Blocked::NotShownYet)
        );
        assert_eq!(
            state.accept_gate(true, &[Accept]),
            Err(Blocked::NotShownYet)
        );
        state.mark_all_shown();
        assert_eq!(
            state.accept_gate(true, &[Accept, Undecided]),
            Err(Blocked::Unacknowledged(3))
        );
        assert!(state.set_acknowledged(0, true));
        assert_eq!(
            state.accept_gate(true, &[Accept, Undecided]),
            Err(Blocked::Unacknowledged(2))
        );
        // Acknowledging the medium finding stands in for nothing.
        state.set_acknowledged(3, true);
        assert_eq!(
            state.accept_gate(true, &[Accept, Undecided]),
            Err(Blocked::Unacknowledged(2))
        );
        state.set_acknowledged(1, true);
        state.set_acknowledged(2, true);
        assert_eq!(state.accept_gate(true, &[Accept, Undecided]), Ok(()));
        assert_eq!(
            state.accept_gate(false, &[Accept, Undecided]),
            Err(Blocked::NotShownYet)
        );
        // Withdrawing an acknowledgement closes the gate again.
        state.set_acknowledged(1, false);
        assert_eq!(
            state.accept_gate(true, &[Accept, Undecided]),
            Err(Blocked::Unacknowledged(1))
        );
        state.set_acknowledged(1, true);
        assert_eq!(
            state.accept_gate(true, &[Reject, Undecided]),
            Err(Blocked::NoHunkAccepted)
        );
        assert_eq!(state.accepted_hunks(&[Reject, Accept]), ["h2"]);
        assert_eq!(state.acknowledged_findings(), [0, 1, 2, 3]);
        assert_eq!(
            state.acknowledgements(),
            [
                "bidi@.gitconfig:p2#00000000",
                "comment@.gitconfig:p3#00000000",
                "fsmonitor@.gitconfig:p3#00000000",
                "insteadof@.gitconfig:p3#00000000"
            ]
        );
        assert_eq!(state.digest(), "d1");
        // Out-of-range indices change nothing.
        assert!(!state.set_acknowledged(99, true));
        assert_eq!(state.accept_gate(true, &[Accept, Accept]), Ok(()));
    }

    #[test]
    fn rules_the_backend_requires_block_whatever_their_severity() {
        let p = proposal(
            vec![
                finding("odd", "info", "proposed", None),
                finding("weird", "surprising", "proposed", None),
                finding("fine", "low", "proposed", None),
            ],
            &["odd@.gitconfig:p0#00000000"],
        );
        let mut state = ReviewState::new(&p);
        state.mark_all_shown();
        assert_eq!(state.blocking_count(), 2);
        assert_eq!(
            state.accept_gate(true, &[Accept, Accept]),
            Err(Blocked::Unacknowledged(2))
        );
        assert_eq!(state.accepted_hunks(&[Accept, Accept]), ["h1", "h2"]);
    }

    #[test]
    fn one_acknowledgement_covers_one_finding_not_its_rule() {
        // Two findings of the same rule: the file-level one on every hunk, and one on
        // the second hunk only. Acknowledging the first does not cover the second.
        let mut blanket = finding("vim.exec", "critical", "proposed", None);
        blanket.hunks = vec!["h1".into(), "h2".into()];
        let mut line = finding("vim.exec", "critical", "proposed", Some(9));
        line.hunks = vec!["h2".into()];
        let p = proposal(vec![blanket, line], &[]);
        let mut state = ReviewState::new(&p);
        state.mark_all_shown();
        assert!(state.set_acknowledged(0, true));
        assert_eq!(
            state.acknowledgements(),
            ["vim.exec@.gitconfig:p0#00000000"]
        );
        assert_eq!(
            state.accept_gate(true, &[Accept, Accept]),
            Err(Blocked::Unacknowledged(1))
        );
        // With the second finding's only hunk rejected it is not in the accepted part.
        assert_eq!(state.accept_gate(true, &[Accept, Reject]), Ok(()));
        assert!(state.set_acknowledged(1, true));
        assert_eq!(state.accept_gate(true, &[Accept, Accept]), Ok(()));
        assert_eq!(
            state.acknowledgements(),
            [
                "vim.exec@.gitconfig:p0#00000000",
                "vim.exec@.gitconfig:p9#00000000"
            ]
        );
    }

    #[test]
    fn a_finding_naming_no_hunk_of_the_diff_always_gates() {
        let mut f = finding("odd", "high", "proposed", None);
        f.hunks = vec!["elsewhere".into()];
        let p = proposal(vec![f], &[]);
        let mut state = ReviewState::new(&p);
        state.mark_all_shown();
        assert_eq!(
            state.accept_gate(true, &[Reject, Accept]),
            Err(Blocked::Unacknowledged(1))
        );
    }

    #[test]
    fn a_proposal_without_hunks_cannot_be_accepted() {
        let mut p = proposal(vec![], &[]);
        p.diff.hunks.clear();
        let state = ReviewState::new(&p);
        assert_eq!(state.accept_gate(true, &[]), Err(Blocked::NoHunkAccepted));
    }

    #[test]
    fn lines_belong_to_the_hunk_of_the_header_above_them() {
        let p = proposal(vec![], &[]);
        assert_eq!(
            hunk_of_lines(&p.diff),
            [
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                Some(1),
                Some(1)
            ]
        );
    }

    #[test]
    fn side_by_side_pairs_removed_with_following_added_lines() {
        let p = proposal(vec![], &[]);
        use SideBySideRow::*;
        assert_eq!(
            side_by_side(&p.diff.lines),
            [
                Header(0),
                Pair {
                    left: Some(1),
                    right: Some(1)
                },
                Pair {
                    left: Some(2),
                    right: Some(3)
                },
                Pair {
                    left: None,
                    right: Some(4)
                },
                Header(5),
                Pair {
                    left: Some(6),
                    right: None
                },
            ]
        );
    }

    #[test]
    fn findings_link_to_the_line_of_their_side() {
        let p = proposal(vec![], &[]);
        let on_new = finding("r", "high", "proposed", Some(2));
        let on_old = finding("r", "high", "base", Some(2));
        let file_level = finding("r", "high", "proposed", None);
        let outside = finding("r", "high", "proposed", Some(40));
        assert_eq!(line_of_finding(&p.diff, &on_new), Some(3));
        let on_first = finding("r", "high", "proposed", Some(1));
        assert_eq!(
            line_of_finding(&p.diff, &on_first),
            Some(1),
            "not the header"
        );
        assert_eq!(line_of_finding(&p.diff, &on_old), Some(2));
        assert_eq!(line_of_finding(&p.diff, &file_level), None);
        assert_eq!(line_of_finding(&p.diff, &outside), None);
        // All at once, in one pass: the same answers.
        let all = [on_new, on_first, on_old, file_level, outside];
        assert_eq!(
            lines_of_findings(&p.diff, &all),
            all.iter()
                .map(|f| line_of_finding(&p.diff, f))
                .collect::<Vec<_>>()
        );
    }
}
