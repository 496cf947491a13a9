//! The gate: [`Review::check`] decides whether a [`Decision`] may be carried out and
//! builds what the store is to hold.
//!
//! Rules (DESIGN §6): the decision must carry the digest of this review (else it was
//! made on something else: `review.stale`); only pending proposals are accepted; every
//! named hunk and acknowledged finding must be part of this review; every gated
//! finding in the accepted part must be acknowledged by its id — a finding lies in the
//! accepted part when one of its hunks is accepted, so a finding only in rejected hunks
//! needs nothing, and a combination counts when any of its parts is accepted. A
//! partial accept is scanned again as it would be stored: a gated finding there that
//! matches no acknowledged finding of the review is refused (`review.unreviewed`).
//!
//! It must not write anything: the caller stores [`Accepted`] while still holding the
//! store it built the review from.

use std::collections::{BTreeSet, HashSet};

use super::build::{content_at, scan_after_accept};
use super::identity::located_bytes;
use super::{Review, ReviewFinding};
use crate::diff::{self, HunkId};
use crate::risk::Side;

/// What the reviewer decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// The digest of the review the reviewer was shown.
    pub digest: String,
    /// `None`: every hunk of every file. Otherwise the accepted hunks as
    /// (proposal, hunk); a file none of whose hunks is named is not accepted.
    pub hunks: Option<Vec<(i64, HunkId)>>,
    /// Ids of the findings the reviewer acknowledged.
    pub acknowledged: Vec<String>,
}

/// One file to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedFile {
    /// The proposal it comes from.
    pub proposal: i64,
    /// Path relative to home.
    pub path: String,
    /// The content to store.
    pub content: Vec<u8>,
    /// True when only some hunks were accepted (`content` is then not the proposal).
    pub partial: bool,
}

/// What passed the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The files to store, in review order (files without an accepted hunk are absent).
    pub files: Vec<AcceptedFile>,
    /// The findings that were acknowledged (ids), for the record.
    pub acknowledged: Vec<String>,
}

/// Why the gate refused; each has a stable reason code ([`GateError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// The decision was made on another review: the store moved on, the proposal was
    /// decided or changed elsewhere, or the rules changed.
    #[error("the review changed since it was shown: {0}; open it again")]
    Stale(String),
    /// A named hunk is not part of this review (`#proposal:hunk`).
    #[error("not a hunk of this review: {}", .0.join(", "))]
    UnknownHunk(Vec<String>),
    /// A hunk is named twice.
    #[error("hunk {0} is named twice")]
    DuplicateHunk(String),
    /// Partial accept with no hunk at all.
    #[error("no hunk is accepted; reject the proposal instead")]
    NothingAccepted,
    /// An acknowledged id is not a finding of this review.
    #[error("not a finding of this review: {}", .0.join(", "))]
    UnknownFinding(Vec<String>),
    /// Gated findings in the accepted part are not acknowledged.
    #[error("these findings must be acknowledged to accept: {}", .0.join(", "))]
    Unacknowledged(Vec<String>),
    /// The chosen hunks together make gated findings the review did not show.
    #[error(
        "the chosen hunks together raise findings the review did not show ({}); accept \
         other hunks or all of them",
        .0.join(", ")
    )]
    Unreviewed(Vec<String>),
    /// The diff does not apply to the contents (an internal inconsistency).
    #[error("the chosen hunks do not apply: {0}")]
    Apply(String),
}

impl GateError {
    /// The reason code: `review.stale`, `review.unknown-hunk`, `review.duplicate-hunk`,
    /// `review.nothing-accepted`, `review.unknown-finding`, `review.unacknowledged`,
    /// `review.unreviewed`, `review.apply`.
    pub fn code(&self) -> &'static str {
        match self {
            GateError::Stale(_) => "review.stale",
            GateError::UnknownHunk(_) => "review.unknown-hunk",
            GateError::DuplicateHunk(_) => "review.duplicate-hunk",
            GateError::NothingAccepted => "review.nothing-accepted",
            GateError::UnknownFinding(_) => "review.unknown-finding",
            GateError::Unacknowledged(_) => "review.unacknowledged",
            GateError::Unreviewed(_) => "review.unreviewed",
            GateError::Apply(_) => "review.apply",
        }
    }

    /// The finding ids (or hunks) the refusal names; empty when it names none.
    pub fn ids(&self) -> &[String] {
        match self {
            GateError::UnknownHunk(ids)
            | GateError::UnknownFinding(ids)
            | GateError::Unacknowledged(ids)
            | GateError::Unreviewed(ids) => ids,
            GateError::DuplicateHunk(id) => std::slice::from_ref(id),
            _ => &[],
        }
    }
}

/// What identifies a finding across a partial rescan (line numbers shift, line bytes
/// do not): rule, path, side and the bytes of its line (`None` for file-level).
type Signature = (String, String, bool, Option<Vec<u8>>);

impl Review<'_> {
    /// True when `finding` lies in the accepted part: `accepted` is `None` (everything)
    /// or holds one of its hunks.
    pub fn in_accepted_part(
        finding: &ReviewFinding,
        accepted: Option<&HashSet<(i64, HunkId)>>,
    ) -> bool {
        match accepted {
            None => true,
            Some(set) => finding.hunks.iter().any(|h| set.contains(h)),
        }
    }

    /// The gate. On success, the contents to store; nothing is written here.
    pub fn check(&self, decision: &Decision) -> Result<Accepted, GateError> {
        if decision.digest != self.digest {
            return Err(GateError::Stale(
                "the digest does not match the current review".to_owned(),
            ));
        }
        if let Some(f) = self.files.iter().find(|f| !f.pending) {
            return Err(GateError::Stale(format!(
                "proposal #{} is already decided",
                f.proposal
            )));
        }
        let accepted = self.accepted_hunks(decision)?;
        let known: HashSet<&str> = self.findings.iter().map(|f| f.id.as_str()).collect();
        let unknown: Vec<String> = unique(
            decision
                .acknowledged
                .iter()
                .filter(|id| !known.contains(id.as_str())),
        );
        if !unknown.is_empty() {
            return Err(GateError::UnknownFinding(unknown));
        }
        let acknowledged: HashSet<&str> =
            decision.acknowledged.iter().map(String::as_str).collect();
        let missing: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.gated && Self::in_accepted_part(f, accepted.as_ref()))
            .filter(|f| !acknowledged.contains(f.id.as_str()))
            .map(|f| f.id.clone())
            .collect();
        if !missing.is_empty() {
            return Err(GateError::Unacknowledged(missing));
        }
        let contents = self.contents(accepted.as_ref())?;
        if contents
            .iter()
            .zip(&self.files)
            .any(|(c, f)| c.as_ref().is_some_and(|c| *c != f.proposed))
        {
            self.check_partial(&contents, &acknowledged)?;
        }
        let files = contents
            .into_iter()
            .zip(&self.files)
            .filter_map(|(content, f)| {
                content.map(|content| AcceptedFile {
                    proposal: f.proposal,
                    path: f.path.clone(),
                    partial: content != f.proposed,
                    content,
                })
            })
            .collect();
        Ok(Accepted {
            files,
            acknowledged: unique(decision.acknowledged.iter()),
        })
    }

    /// The accepted hunks (`None` = all), validated against the review.
    fn accepted_hunks(
        &self,
        decision: &Decision,
    ) -> Result<Option<HashSet<(i64, HunkId)>>, GateError> {
        let Some(chosen) = &decision.hunks else {
            return Ok(None);
        };
        if chosen.is_empty() {
            return Err(GateError::NothingAccepted);
        }
        let mut set = HashSet::new();
        let mut unknown = Vec::new();
        for (proposal, hunk) in chosen {
            let exists = self
                .file(*proposal)
                .is_some_and(|f| f.diff.hunks.iter().any(|h| &h.id == hunk));
            if !exists {
                unknown.push(format!("#{proposal}:{hunk}"));
            } else if !set.insert((*proposal, hunk.clone())) {
                return Err(GateError::DuplicateHunk(format!("#{proposal}:{hunk}")));
            }
        }
        if !unknown.is_empty() {
            return Err(GateError::UnknownHunk(unknown));
        }
        Ok(Some(set))
    }

    /// Per file, the content it would hold after the accept (`None`: not accepted).
    fn contents(
        &self,
        accepted: Option<&HashSet<(i64, HunkId)>>,
    ) -> Result<Vec<Option<Vec<u8>>>, GateError> {
        self.files
            .iter()
            .map(|f| {
                let Some(set) = accepted else {
                    return Ok(Some(f.proposed.clone()));
                };
                let chosen: Vec<HunkId> = f
                    .diff
                    .hunks
                    .iter()
                    .filter(|h| set.contains(&(f.proposal, h.id.clone())))
                    .map(|h| h.id.clone())
                    .collect();
                if chosen.is_empty() {
                    return Ok(None);
                }
                if chosen.len() == f.diff.hunks.len() {
                    return Ok(Some(f.proposed.clone()));
                }
                diff::apply_hunks(f.base_bytes(), &f.proposed, &f.diff, &chosen)
                    .map(Some)
                    .map_err(|e| GateError::Apply(e.to_string()))
            })
            .collect()
    }

    /// Scans the partial state as it would be stored; every gated finding there must
    /// match an acknowledged finding of the review (same rule, path, side and line
    /// bytes; a file-level acknowledged finding of the rule covers the file).
    fn check_partial(
        &self,
        contents: &[Option<Vec<u8>>],
        acknowledged: &HashSet<&str>,
    ) -> Result<(), GateError> {
        let signature = |rule: &str, path: &str, side: Side, line: Option<u32>, content: &[u8]| {
            (
                rule.to_owned(),
                path.to_owned(),
                side == Side::Base,
                line.map(|l| located_bytes(content, Some(l)).to_vec()),
            )
        };
        let mut covered: HashSet<Signature> = HashSet::new();
        let mut whole_file: HashSet<(String, String)> = HashSet::new();
        for f in self
            .findings
            .iter()
            .filter(|f| acknowledged.contains(f.id.as_str()))
        {
            let x = &f.finding;
            let content = content_at(&self.files, &self.context, &x.path, x.side);
            covered.insert(signature(&x.rule, &x.path, x.side, x.line, content));
            if x.line.is_none() {
                whole_file.insert((x.rule.clone(), x.path.clone()));
            }
        }
        let after = scan_after_accept(self.engine, &self.files, &self.context, Some(contents));
        let mut unreviewed = BTreeSet::new();
        for x in after
            .iter()
            .filter(|x| x.severity >= super::build::GATE_SEVERITY)
        {
            let content: &[u8] = match self.files.iter().position(|f| f.path == x.path) {
                Some(i) => match x.side {
                    Side::Proposed => contents[i].as_deref().unwrap_or_default(),
                    Side::Base => self.files[i].base_bytes(),
                },
                None => content_at(&self.files, &self.context, &x.path, x.side),
            };
            let sig = signature(&x.rule, &x.path, x.side, x.line, content);
            if !covered.contains(&sig) && !whole_file.contains(&(x.rule.clone(), x.path.clone())) {
                let line = x.line.map_or_else(|| "-".to_owned(), |l| l.to_string());
                unreviewed.insert(format!("{}@{}:{line}", x.rule, x.path));
            }
        }
        if unreviewed.is_empty() {
            Ok(())
        } else {
            Err(GateError::Unreviewed(unreviewed.into_iter().collect()))
        }
    }
}

/// Each string once, in first-seen order.
fn unique<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = HashSet::new();
    items.filter(|s| seen.insert(s.as_str())).cloned().collect()
}
