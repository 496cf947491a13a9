//! Building a [`Review`]: diffs and three-way views, the scan of the state after
//! accept, the placement of each finding in hunks, finding ids and the digest.
//!
//! It must not read the store (see `load`) nor decide an accept (see `gate`).

use std::collections::{BTreeSet, HashMap};

use super::identity::{Fields, digest_hex, finding_id, rules_fingerprint};
use super::{ContextFile, ProposedFile, Review, ReviewFile, ReviewFinding};
use crate::diff::{self, HunkId};
use crate::risk::{Engine, FileKind, Finding, ScanInput, Severity, Side};

/// Why a set of proposals cannot be reviewed together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Nothing to review.
    #[error("a review needs at least one proposal")]
    Empty,
    /// Two proposals of the review change the same path.
    #[error("two proposals of one review change {0}")]
    SamePath(String),
    /// A proposal id appears twice.
    #[error("proposal #{0} is named twice")]
    SameProposal(i64),
}

/// Severity from which a finding must be acknowledged (DESIGN §6).
pub const GATE_SEVERITY: Severity = Severity::High;

impl<'e> Review<'e> {
    /// Builds the review of `files` (proposals of one profile) with the profile's
    /// other current files as `context` (a context file with the path of a proposed
    /// file is ignored: the proposal's base stands for it).
    pub fn build(
        engine: &'e Engine,
        files: Vec<ProposedFile>,
        context: Vec<ContextFile>,
    ) -> Result<Review<'e>, BuildError> {
        if files.is_empty() {
            return Err(BuildError::Empty);
        }
        let mut paths = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for f in &files {
            if !paths.insert(f.path.clone()) {
                return Err(BuildError::SamePath(f.path.clone()));
            }
            if !ids.insert(f.proposal) {
                return Err(BuildError::SameProposal(f.proposal));
            }
        }
        let context: Vec<ContextFile> = context
            .into_iter()
            .filter(|c| !paths.contains(&c.path))
            .collect();
        let files: Vec<ReviewFile> = files.into_iter().map(review_file).collect();
        let scanned = scan_after_accept(engine, &files, &context, None);
        let findings = place(&files, &context, scanned);
        let digest = digest(engine, &files, &context, &findings);
        Ok(Review {
            files,
            findings,
            digest,
            context,
            engine,
        })
    }
}

fn review_file(f: ProposedFile) -> ReviewFile {
    let base = f.base.as_ref().map_or(&[][..], |b| b.bytes.as_slice());
    let diff = diff::diff(base, &f.proposed);
    let three_way = f
        .qube_base
        .as_deref()
        .map(|qube_base| diff::three_way(qube_base, base, &f.proposed));
    ReviewFile {
        proposal: f.proposal,
        pending: f.pending,
        path: f.path,
        base: f.base,
        proposed: f.proposed,
        proposed_sha256: f.proposed_sha256,
        mode: f.mode,
        diff,
        three_way,
    }
}

/// Scans the state after accept: each file with `content(file)` as what it would hold
/// (the proposal, or `accepted[i]` when given: `None` there means the file is not
/// accepted and keeps its base), the context files unchanged. Returns the findings
/// that concern a changed file: its own, and a context file's that relate to it.
pub(super) fn scan_after_accept(
    engine: &Engine,
    files: &[ReviewFile],
    context: &[ContextFile],
    accepted: Option<&[Option<Vec<u8>>]>,
) -> Vec<Finding> {
    let mut inputs: Vec<ScanInput<'_>> = Vec::with_capacity(files.len() + context.len());
    let mut changed: Vec<&str> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let content = match accepted {
            None => Some(f.proposed.as_slice()),
            Some(a) => a.get(i).and_then(|c| c.as_deref()),
        };
        match (content, &f.base) {
            (Some(content), base) => {
                changed.push(f.path.as_str());
                inputs.push(ScanInput {
                    path: &f.path,
                    content,
                    base: base.as_ref().map(|b| b.bytes.as_slice()),
                    mode: f.mode,
                    kind: FileKind::Regular,
                });
            }
            // Not accepted: the store keeps its version, which takes part unchanged.
            (None, Some(base)) => inputs.push(ScanInput {
                path: &f.path,
                content: &base.bytes,
                base: Some(&base.bytes),
                mode: f.mode,
                kind: FileKind::Regular,
            }),
            (None, None) => {}
        }
    }
    for c in context {
        inputs.push(ScanInput {
            path: &c.path,
            content: &c.bytes,
            base: Some(&c.bytes),
            mode: c.mode,
            kind: FileKind::Regular,
        });
    }
    let is_changed = |path: &str| changed.contains(&path);
    engine
        .scan_proposal(&inputs)
        .into_iter()
        .zip(&inputs)
        .flat_map(|(findings, input)| {
            let own = is_changed(input.path);
            findings.into_iter().filter(move |f| {
                // An unchanged file raises nothing of its own; it counts only as the
                // other part of a combination with a changed file.
                own || f.related.iter().any(|r| is_changed(&r.path))
            })
        })
        .collect()
}

/// The content a finding's location refers to.
pub(super) fn content_at<'a>(
    files: &'a [ReviewFile],
    context: &'a [ContextFile],
    path: &str,
    side: Side,
) -> &'a [u8] {
    if let Some(f) = files.iter().find(|f| f.path == path) {
        return match side {
            Side::Proposed => &f.proposed,
            Side::Base => f.base_bytes(),
        };
    }
    context
        .iter()
        .find(|c| c.path == path)
        .map_or(&[][..], |c| c.bytes.as_slice())
}

/// The hunks of `file` that a location lies in: the hunk containing the line on its
/// side, or every hunk of the file for a file-level location or an unchanged line.
fn hunks_at(file: &ReviewFile, side: Side, line: Option<u32>) -> Vec<HunkId> {
    let index = line.map(|l| (l as usize).wrapping_sub(1));
    let containing: Vec<HunkId> = match index {
        None => Vec::new(),
        Some(i) => file
            .diff
            .hunks
            .iter()
            .filter(|h| match side {
                Side::Proposed => h.new_range.contains(&i),
                Side::Base => h.old_range.contains(&i),
            })
            .map(|h| h.id.clone())
            .collect(),
    };
    if containing.is_empty() {
        file.diff.hunk_ids()
    } else {
        containing
    }
}

/// Gives each finding its id, hunks and gate flag; sorted worst first, then by path
/// and line. Ids that would coincide (two hits of one rule on one line) get `~2`, `~3`.
fn place(
    files: &[ReviewFile],
    context: &[ContextFile],
    mut findings: Vec<Finding>,
) -> Vec<ReviewFinding> {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.line.cmp(&b.line))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    let mut seen: HashMap<String, u32> = HashMap::new();
    findings
        .into_iter()
        .map(|finding| {
            let mut hunks: Vec<(i64, HunkId)> = Vec::new();
            let own = std::iter::once((finding.path.as_str(), finding.side, finding.line));
            let related = finding
                .related
                .iter()
                .map(|r| (r.path.as_str(), r.side, r.line));
            for (path, side, line) in own.chain(related) {
                if let Some(file) = files.iter().find(|f| f.path == path) {
                    for h in hunks_at(file, side, line) {
                        if !hunks.iter().any(|(p, id)| *p == file.proposal && *id == h) {
                            hunks.push((file.proposal, h));
                        }
                    }
                }
            }
            let content = content_at(files, context, &finding.path, finding.side);
            let mut id = finding_id(&finding, content);
            let n = seen.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                id = format!("{id}~{n}");
            }
            ReviewFinding {
                id,
                gated: finding.severity >= GATE_SEVERITY,
                finding,
                hunks,
            }
        })
        .collect()
}

/// Digest over the proposal ids and their hashes and states, each file's base hash,
/// the hunk ids, the other files of the profile, the finding ids and the rule set.
fn digest(
    engine: &Engine,
    files: &[ReviewFile],
    context: &[ContextFile],
    findings: &[ReviewFinding],
) -> String {
    let mut h = Fields::new("qcs-review/1");
    for f in files {
        h.put(f.proposal.to_string().as_bytes())
            .put(if f.pending { b"pending" } else { b"decided" })
            .put(f.path.as_bytes())
            .put(f.proposed_sha256.as_bytes())
            .put(f.base.as_ref().map_or(&b"-"[..], |b| b.sha256.as_bytes()))
            .put(f.mode.map(|m| m.to_string()).unwrap_or_default().as_bytes());
        for hunk in &f.diff.hunks {
            h.put(hunk.id.0.as_bytes());
        }
    }
    h.put(b"context");
    for c in context {
        h.put(c.path.as_bytes()).put(c.sha256.as_bytes());
    }
    h.put(b"findings");
    for f in findings {
        h.put(f.id.as_bytes())
            .put(if f.gated { b"gated" } else { b"shown" });
    }
    h.put(rules_fingerprint(engine).as_bytes());
    digest_hex(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Base;
    use crate::risk::{Change, Location};

    fn file(id: i64, path: &str, base: &[u8], new: &[u8]) -> ReviewFile {
        review_file(ProposedFile {
            proposal: id,
            pending: true,
            path: path.to_owned(),
            proposed: new.to_vec(),
            proposed_sha256: String::new(),
            mode: None,
            base: Some(Base {
                bytes: base.to_vec(),
                sha256: String::new(),
            }),
            qube_base: None,
        })
    }

    fn finding(path: &str, line: Option<u32>, related: Vec<Location>) -> Finding {
        Finding {
            rule: "git.attributes.drivers".to_owned(),
            path: path.to_owned(),
            related,
            severity: Severity::Critical,
            side: Side::Proposed,
            change: Change::Added,
            line,
            span: None,
            message: String::new(),
            text: Default::default(),
            why: String::new(),
            reference: String::new(),
        }
    }

    #[test]
    fn a_combination_lies_in_the_hunks_of_every_part_of_the_review() {
        let attrs = file(1, ".config/git/attributes", b"", b"* filter=x\n");
        let config = file(
            2,
            ".gitconfig",
            b"[a]\n\tb = c\n",
            b"[a]\n\tb = c\n[filter \"x\"]\n\tclean = evil\n",
        );
        let related = vec![Location {
            path: ".gitconfig".to_owned(),
            side: Side::Proposed,
            line: Some(4),
        }];
        let files = vec![attrs, config];
        let placed = place(
            &files,
            &[],
            vec![finding(".config/git/attributes", Some(1), related)],
        );
        let hunks = &placed[0].hunks;
        assert_eq!(hunks.len(), 2, "{hunks:?}");
        assert_eq!(hunks[0], (1, files[0].diff.hunks[0].id.clone()));
        assert_eq!(hunks[1], (2, files[1].diff.hunks[0].id.clone()));
        assert!(placed[0].gated);
    }

    #[test]
    fn a_part_outside_the_review_adds_no_hunk_and_same_line_findings_get_distinct_ids() {
        let attrs = file(1, ".config/git/attributes", b"", b"* filter=x\n");
        let ctx = vec![ContextFile {
            path: ".gitconfig".to_owned(),
            bytes: b"[filter \"x\"]\n\tclean = evil\n".to_vec(),
            sha256: String::new(),
            mode: None,
        }];
        let related = vec![Location {
            path: ".gitconfig".to_owned(),
            side: Side::Proposed,
            line: Some(2),
        }];
        let files = vec![attrs];
        let twice = vec![
            finding(".config/git/attributes", Some(1), related.clone()),
            finding(".config/git/attributes", Some(1), related),
        ];
        let placed = place(&files, &ctx, twice);
        assert_eq!(
            placed[0].hunks,
            vec![(1, files[0].diff.hunks[0].id.clone())]
        );
        assert_ne!(placed[0].id, placed[1].id);
        assert!(placed[1].id.ends_with("~2"));
    }
}
