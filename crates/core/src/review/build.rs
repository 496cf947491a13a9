//! Building a [`Review`]: diffs and three-way views, the scan of the state after
//! accept, the placement of each finding in hunks, finding ids and the digest.
//!
//! It must not read the store (see `load`) nor decide an accept (see `gate`).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::identity::{Fields, digest_hex, finding_id_of, rules_fingerprint};
use super::{ContextFile, ProposedFile, Review, ReviewFile, ReviewFinding};
use crate::diff::{self, Hunk, HunkId, split_lines};
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

/// The indices of the hunks of `file` that a location lies in: the hunk containing the
/// line on its side, or every hunk of the file for a file-level location or an
/// unchanged line. `sorted`: the file's hunk ranges on that side are in order (as the
/// diff makes them), so the containing ones are found by binary search.
fn hunks_at(file: &ReviewFile, sorted: bool, side: Side, line: Option<u32>) -> Vec<usize> {
    let hunks = &file.diff.hunks;
    let all = || (0..hunks.len()).collect();
    let Some(i) = line.map(|l| (l as usize).wrapping_sub(1)) else {
        return all();
    };
    let range = |h: &Hunk| match side {
        Side::Proposed => h.new_range.clone(),
        Side::Base => h.old_range.clone(),
    };
    let containing: Vec<usize> = if sorted {
        // Ends and starts both ascend: the hunks with end > i and start <= i.
        let first = hunks.partition_point(|h| range(h).end <= i);
        let last = hunks.partition_point(|h| range(h).start <= i);
        (first..last.max(first)).collect()
    } else {
        hunks
            .iter()
            .enumerate()
            .filter(|(_, h)| range(h).contains(&i))
            .map(|(n, _)| n)
            .collect()
    };
    if containing.is_empty() {
        all()
    } else {
        containing
    }
}

/// Whether the ranges of `hunks` on `side` ascend (starts and ends).
fn ascending(hunks: &[Hunk], side: Side) -> bool {
    let range = |h: &Hunk| match side {
        Side::Proposed => h.new_range.clone(),
        Side::Base => h.old_range.clone(),
    };
    hunks.windows(2).all(|w| {
        let (a, b) = (range(&w[0]), range(&w[1]));
        a.start <= b.start && a.end <= b.end
    })
}

/// Gives each finding its id, hunks and gate flag; sorted worst first, then by path
/// and line. Ids that would coincide (two hits of one rule on one line) get `~2`, `~3`.
///
/// Linear in the findings and the hunks they lie in: each content is split into lines
/// once, each hunk is found by binary search, and a finding's hunks are deduplicated
/// through a set (a file-level finding of a 10 000-hunk file lies in every hunk).
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
    let sorted: Vec<[bool; 2]> = files
        .iter()
        .map(|f| {
            [
                ascending(&f.diff.hunks, Side::Proposed),
                ascending(&f.diff.hunks, Side::Base),
            ]
        })
        .collect();
    let by_path: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i))
        .collect();
    // The lines of each content (by its address), split on first use.
    let mut lines: HashMap<(usize, usize), Vec<&[u8]>> = HashMap::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut placed = Vec::with_capacity(findings.len());
    for finding in findings {
        let mut hunks: Vec<(i64, HunkId)> = Vec::new();
        let mut taken: HashSet<(usize, usize)> = HashSet::new();
        let own = std::iter::once((finding.path.as_str(), finding.side, finding.line));
        let related = finding
            .related
            .iter()
            .map(|r| (r.path.as_str(), r.side, r.line));
        for (path, side, line) in own.chain(related) {
            if let Some(&index) = by_path.get(path) {
                let file = &files[index];
                let sorted = sorted[index][usize::from(side == Side::Base)];
                for h in hunks_at(file, sorted, side, line) {
                    if taken.insert((index, h)) {
                        hunks.push((file.proposal, file.diff.hunks[h].id.clone()));
                    }
                }
            }
        }
        let content = content_at(files, context, &finding.path, finding.side);
        let located = match finding.line {
            None => content,
            Some(n) => lines
                .entry((content.as_ptr() as usize, content.len()))
                .or_insert_with(|| split_lines(content))
                .get((n as usize).wrapping_sub(1))
                .copied()
                .unwrap_or_default(),
        };
        let mut id = finding_id_of(&finding, located);
        let n = seen.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            id = format!("{id}~{n}");
        }
        placed.push(ReviewFinding {
            id,
            gated: finding.severity >= GATE_SEVERITY,
            finding,
            hunks,
        });
    }
    placed
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

    #[test]
    fn placing_by_binary_search_matches_a_scan_of_every_hunk() {
        // One changed line in eight, a removal in every other hunk: lines inside,
        // between and past the hunks, on both sides, and file-level findings.
        let base: String = (0..400).map(|i| format!("l{i}\n")).collect();
        let new: String = (0..400)
            .filter(|i| i % 16 != 12)
            .map(|i| {
                if i % 8 == 4 {
                    format!("x{i}\n")
                } else {
                    format!("l{i}\n")
                }
            })
            .collect();
        let f = file(1, ".vimrc", base.as_bytes(), new.as_bytes());
        assert!(f.diff.hunks.len() > 20, "{}", f.diff.hunks.len());
        let mut findings = Vec::new();
        for line in (0..=402).map(Some).chain([None]) {
            for side in [Side::Proposed, Side::Base] {
                let mut x = finding(".vimrc", line, Vec::new());
                x.side = side;
                findings.push(x);
            }
        }
        let files = vec![f];
        let placed = place(&files, &[], findings.clone());
        assert_eq!(placed.len(), findings.len());
        for p in &placed {
            let x = &p.finding;
            let index = x.line.map(|l| (l as usize).wrapping_sub(1));
            let mut expected: Vec<(i64, HunkId)> = files[0]
                .diff
                .hunks
                .iter()
                .filter(|h| {
                    index.is_some_and(|i| match x.side {
                        Side::Proposed => h.new_range.contains(&i),
                        Side::Base => h.old_range.contains(&i),
                    })
                })
                .map(|h| (1, h.id.clone()))
                .collect();
            if expected.is_empty() {
                expected = files[0]
                    .diff
                    .hunk_ids()
                    .into_iter()
                    .map(|h| (1, h))
                    .collect();
            }
            assert_eq!(p.hunks, expected, "{:?} {:?}", x.side, x.line);
            let content = content_at(&files, &[], &x.path, x.side);
            let id = crate::review::finding_id(x, content);
            assert!(
                p.id == id || p.id.starts_with(&format!("{id}~")),
                "{} {id}",
                p.id
            );
        }
    }
}
