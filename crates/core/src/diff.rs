//! Line diff over raw bytes, word-level changes inside changed lines, hunks with
//! stable ids for per-hunk decisions, applying a chosen subset of hunks, and the
//! three-way view (base = last pushed, ours = store, theirs = qube).
//!
//! Inputs are untrusted: the diff is always Myers with a deadline (never Histogram
//! or Patience, whose worst cases a hostile qube can craft), works on bytes so
//! invalid UTF-8 is neither lost nor a panic, and never normalises whitespace or
//! line endings — a line is compared with its terminator, so a changed CRLF or a
//! missing final newline is a change like any other.

use std::ops::Range;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use similar::{Algorithm, DiffOp, capture_diff_slices_deadline};

/// Lines of unchanged context shown around each hunk.
pub const CONTEXT_LINES: usize = 3;
/// Time allowed for the line diff; past it Myers falls back to a coarser but valid
/// edit script, so a crafted input costs at most this much.
pub const LINE_DIFF_DEADLINE: Duration = Duration::from_millis(250);
/// Word-level refinement is skipped for a line pair longer than this (the whole
/// line is then marked changed, which hides nothing).
pub const MAX_INLINE_LINE_BYTES: usize = 16 * 1024;

/// Errors of [`apply_hunks`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiffError {
    /// The diff was not computed from these inputs.
    #[error("the diff does not belong to these contents (line {line} differs)")]
    Mismatch {
        /// 1-based old line where the mismatch was seen.
        line: usize,
    },
    /// A hunk id that is not part of the diff was accepted.
    #[error("hunk {0} is not part of this diff")]
    UnknownHunk(HunkId),
}

/// Stable identity of a hunk: a hash of its old position and of its old and new
/// lines, so the same inputs always give the same ids (decisions can be stored).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HunkId(pub String);

impl std::fmt::Display for HunkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A byte range inside a line that the word-level pass marked as changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangedSpan {
    /// Start byte offset in the line.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
}

/// One line of a hunk, with its terminator (`\n`, `\r\n` or none at end of file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// 1-based line number on its side (old for context and removed lines,
    /// new for added lines).
    pub number: usize,
    /// The raw bytes, terminator included.
    pub bytes: Vec<u8>,
    /// Changed byte ranges inside the line (word level). Empty for context lines,
    /// and for removed/added lines without word-level detail (no counterpart line,
    /// too long, or past the deadline): then the whole line is the change.
    pub changed: Vec<ChangedSpan>,
}

/// A contiguous change: old lines replaced by new lines, with context around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// Stable id for per-hunk decisions.
    pub id: HunkId,
    /// 0-based range of old lines this hunk replaces.
    pub old_range: Range<usize>,
    /// 0-based range of new lines that replace them.
    pub new_range: Range<usize>,
    /// Unchanged lines before the change (at most [`CONTEXT_LINES`]).
    pub context_before: Vec<DiffLine>,
    /// Lines removed from old.
    pub removed: Vec<DiffLine>,
    /// Lines added in new.
    pub added: Vec<DiffLine>,
    /// Unchanged lines after the change (at most [`CONTEXT_LINES`]).
    pub context_after: Vec<DiffLine>,
}

impl Hunk {
    /// True when the only differences are in whitespace or line endings; such a
    /// hunk is shown with a badge, never hidden.
    pub fn is_whitespace_only(&self) -> bool {
        let squash = |lines: &[DiffLine]| -> Vec<u8> {
            lines
                .iter()
                .flat_map(|l| l.bytes.iter().copied())
                .filter(|b| !b.is_ascii_whitespace())
                .collect()
        };
        squash(&self.removed) == squash(&self.added)
    }
}

/// The diff of one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileDiff {
    /// The changes, in file order.
    pub hunks: Vec<Hunk>,
    /// Number of old lines.
    pub old_lines: usize,
    /// Number of new lines.
    pub new_lines: usize,
    /// False when the deadline was hit and the edit script is coarser than minimal
    /// (still correct: applying every hunk gives the new content).
    pub minimal: bool,
}

impl FileDiff {
    /// True when old and new are byte-identical.
    pub fn is_unchanged(&self) -> bool {
        self.hunks.is_empty()
    }

    /// Ids of all hunks, in order.
    pub fn hunk_ids(&self) -> Vec<HunkId> {
        self.hunks.iter().map(|h| h.id.clone()).collect()
    }
}

/// Splits into lines, each keeping its terminator; the last line may lack one.
pub fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::with_capacity(bytes.len() / 32 + 1);
    let mut start = 0;
    for i in memchr::memchr_iter(b'\n', bytes) {
        lines.push(&bytes[start..=i]);
        start = i + 1;
    }
    if start < bytes.len() {
        lines.push(&bytes[start..]);
    }
    lines
}

/// Diffs two contents line by line (Myers with [`LINE_DIFF_DEADLINE`]) and
/// refines changed lines word by word.
pub fn diff(old: &[u8], new: &[u8]) -> FileDiff {
    let old_lines = split_lines(old);
    let new_lines = split_lines(new);
    let start = Instant::now();
    let deadline = start + LINE_DIFF_DEADLINE;
    let ops =
        capture_diff_slices_deadline(Algorithm::Myers, &old_lines, &new_lines, Some(deadline));
    let minimal = Instant::now() <= deadline;

    // Merge adjacent non-equal ops into change blocks.
    let mut blocks: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    for op in &ops {
        if matches!(op, DiffOp::Equal { .. }) {
            continue;
        }
        let (o, n) = (op.old_range(), op.new_range());
        match blocks.last_mut() {
            Some((lo, ln)) if lo.end == o.start && ln.end == n.start => {
                lo.end = o.end;
                ln.end = n.end;
            }
            _ => blocks.push((o, n)),
        }
    }

    let mut hunks = Vec::with_capacity(blocks.len());
    for (i, (o, n)) in blocks.iter().enumerate() {
        // Context never repeats lines: it starts after the previous hunk's trailing
        // context and stops before the next change.
        let prev_context_end = match i {
            0 => 0,
            _ => (blocks[i - 1].0.end + CONTEXT_LINES).min(o.start),
        };
        let next_old_start = blocks.get(i + 1).map_or(old_lines.len(), |b| b.0.start);
        let ctx_start = o.start.saturating_sub(CONTEXT_LINES).max(prev_context_end);
        let ctx_end = (o.end + CONTEXT_LINES).min(next_old_start);
        let mk = |range: Range<usize>, lines: &[&[u8]]| -> Vec<DiffLine> {
            range
                .map(|k| DiffLine {
                    number: k + 1,
                    bytes: lines[k].to_vec(),
                    changed: Vec::new(),
                })
                .collect()
        };
        let mut removed = mk(o.clone(), &old_lines);
        let mut added = mk(n.clone(), &new_lines);
        refine_words(&mut removed, &mut added, deadline);
        hunks.push(Hunk {
            id: hunk_id(o, &old_lines[o.clone()], &new_lines[n.clone()]),
            old_range: o.clone(),
            new_range: n.clone(),
            context_before: mk(ctx_start..o.start, &old_lines),
            removed,
            added,
            context_after: mk(o.end..ctx_end, &old_lines),
        });
    }
    FileDiff {
        hunks,
        old_lines: old_lines.len(),
        new_lines: new_lines.len(),
        minimal,
    }
}

fn hunk_id(old_range: &Range<usize>, removed: &[&[u8]], added: &[&[u8]]) -> HunkId {
    let mut h = Sha256::new();
    h.update((old_range.start as u64).to_le_bytes());
    h.update((old_range.end as u64).to_le_bytes());
    for (tag, lines) in [(b'-', removed), (b'+', added)] {
        for l in lines {
            h.update([tag]);
            h.update((l.len() as u64).to_le_bytes());
            h.update(l);
        }
    }
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(24);
    for b in &digest[..12] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    HunkId(id)
}

/// Word tokens: runs of word bytes, runs of blanks, or a single other byte. Bytes
/// ≥ 0x80 count as word bytes so a multi-byte character is never split.
fn tokenize(line: &[u8], tokens: &mut Vec<Range<usize>>) {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Word,
        Blank,
        Other,
    }
    let class = |b: u8| {
        if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 {
            Class::Word
        } else if b == b' ' || b == b'\t' {
            Class::Blank
        } else {
            Class::Other
        }
    };
    tokens.clear();
    let mut i = 0;
    while i < line.len() {
        let c = class(line[i]);
        let mut j = i + 1;
        if c != Class::Other {
            while j < line.len() && class(line[j]) == c {
                j += 1;
            }
        }
        tokens.push(i..j);
        i = j;
    }
}

/// Marks changed words in paired removed/added lines. Unpaired lines, and pairs
/// too long or reached after the deadline, keep no spans (the whole line is the
/// change), which also keeps a huge hunk from allocating per line.
fn refine_words(removed: &mut [DiffLine], added: &mut [DiffLine], deadline: Instant) {
    let pairs = removed.len().min(added.len());
    // Token buffers reused from pair to pair.
    let (mut ot, mut nt) = (Vec::new(), Vec::new());
    for i in 0..pairs {
        let (old, new) = (&removed[i].bytes, &added[i].bytes);
        let too_long = old.len() > MAX_INLINE_LINE_BYTES || new.len() > MAX_INLINE_LINE_BYTES;
        if too_long || Instant::now() > deadline {
            continue;
        }
        tokenize(old, &mut ot);
        tokenize(new, &mut nt);
        let same = |a: &Range<usize>, b: &Range<usize>| old[a.clone()] == new[b.clone()];
        let mut old_spans = Vec::new();
        let mut new_spans = Vec::new();
        // Tokens equal at both ends are unchanged (Myers keeps them too). When what
        // is left is empty on one side, or one token on each, that is the whole
        // edit script: no need to run Myers on it (the usual one-word edit).
        let prefix = ot.iter().zip(&nt).take_while(|(a, b)| same(a, b)).count();
        let suffix = ot[prefix..]
            .iter()
            .rev()
            .zip(nt[prefix..].iter().rev())
            .take_while(|(a, b)| same(a, b))
            .count();
        let (om, nm) = (prefix..ot.len() - suffix, prefix..nt.len() - suffix);
        if om.is_empty() || nm.is_empty() || (om.len() == 1 && nm.len() == 1) {
            push_span(&mut old_spans, &ot, om);
            push_span(&mut new_spans, &nt, nm);
        } else {
            let ow: Vec<&[u8]> = ot[om.clone()].iter().map(|r| &old[r.clone()]).collect();
            let nw: Vec<&[u8]> = nt[nm.clone()].iter().map(|r| &new[r.clone()]).collect();
            let ops = capture_diff_slices_deadline(Algorithm::Myers, &ow, &nw, Some(deadline));
            for op in ops {
                if matches!(op, DiffOp::Equal { .. }) {
                    continue;
                }
                let (o, n) = (op.old_range(), op.new_range());
                push_span(&mut old_spans, &ot, o.start + prefix..o.end + prefix);
                push_span(&mut new_spans, &nt, n.start + prefix..n.end + prefix);
            }
        }
        removed[i].changed = old_spans;
        added[i].changed = new_spans;
    }
}

fn push_span(spans: &mut Vec<ChangedSpan>, tokens: &[Range<usize>], range: Range<usize>) {
    if range.is_empty() {
        return;
    }
    let (start, end) = (tokens[range.start].start, tokens[range.end - 1].end);
    match spans.last_mut() {
        Some(last) if last.end == start => last.end = end,
        _ => spans.push(ChangedSpan { start, end }),
    }
}

/// Builds the content that results from accepting only the hunks in `accepted`
/// (every other hunk keeps the old lines). All hunks give `new`, none gives `old`.
pub fn apply_hunks(
    old: &[u8],
    new: &[u8],
    diff: &FileDiff,
    accepted: &[HunkId],
) -> Result<Vec<u8>, DiffError> {
    let old_lines = split_lines(old);
    let new_lines = split_lines(new);
    if old_lines.len() != diff.old_lines || new_lines.len() != diff.new_lines {
        return Err(DiffError::Mismatch { line: 0 });
    }
    if let Some(unknown) = accepted
        .iter()
        .find(|id| !diff.hunks.iter().any(|h| &h.id == *id))
    {
        return Err(DiffError::UnknownHunk(unknown.clone()));
    }
    let mut out = Vec::with_capacity(old.len().max(new.len()));
    let mut pos = 0;
    for h in &diff.hunks {
        let in_bounds = h.old_range.start >= pos
            && h.old_range.end <= old_lines.len()
            && h.new_range.end <= new_lines.len();
        if !in_bounds {
            return Err(DiffError::Mismatch {
                line: h.old_range.start + 1,
            });
        }
        // The hunk must describe exactly these bytes, or applying it would mix
        // contents that were never reviewed together.
        let same_old = h.removed.len() == h.old_range.len()
            && h.removed
                .iter()
                .zip(&old_lines[h.old_range.clone()])
                .all(|(l, o)| l.bytes == *o);
        let same_new = h.added.len() == h.new_range.len()
            && h.added
                .iter()
                .zip(&new_lines[h.new_range.clone()])
                .all(|(l, n)| l.bytes == *n);
        if !same_old || !same_new {
            return Err(DiffError::Mismatch {
                line: h.old_range.start + 1,
            });
        }
        for l in &old_lines[pos..h.old_range.start] {
            out.extend_from_slice(l);
        }
        let chosen = if accepted.contains(&h.id) {
            &new_lines[h.new_range.clone()]
        } else {
            &old_lines[h.old_range.clone()]
        };
        for l in chosen {
            out.extend_from_slice(l);
        }
        pos = h.old_range.end;
    }
    for l in &old_lines[pos..] {
        out.extend_from_slice(l);
    }
    Ok(out)
}

/// One region of a three-way view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Region {
    /// The same in base, ours and theirs.
    Unchanged(Vec<Vec<u8>>),
    /// Only ours (the store) changed it since base.
    Ours {
        /// Lines in base.
        base: Vec<Vec<u8>>,
        /// Lines in ours.
        ours: Vec<Vec<u8>>,
    },
    /// Only theirs (the qube) changed it since base.
    Theirs {
        /// Lines in base.
        base: Vec<Vec<u8>>,
        /// Lines in theirs.
        theirs: Vec<Vec<u8>>,
    },
    /// Both changed it in the same way.
    Both {
        /// Lines in base.
        base: Vec<Vec<u8>>,
        /// Lines in ours and theirs.
        result: Vec<Vec<u8>>,
    },
    /// Both changed it differently: the user must choose.
    Conflict {
        /// Lines in base.
        base: Vec<Vec<u8>>,
        /// Lines in ours.
        ours: Vec<Vec<u8>>,
        /// Lines in theirs.
        theirs: Vec<Vec<u8>>,
    },
}

/// Three-way view: base = last pushed, ours = store, theirs = qube.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreeWay {
    /// Regions in file order.
    pub regions: Vec<Region>,
}

impl ThreeWay {
    /// True when at least one region needs a choice.
    pub fn has_conflicts(&self) -> bool {
        self.regions
            .iter()
            .any(|r| matches!(r, Region::Conflict { .. }))
    }

    /// The merged content when there is no conflict (both sides' changes taken).
    pub fn merged(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for r in &self.regions {
            let lines = match r {
                Region::Unchanged(l) => l,
                Region::Ours { ours, .. } => ours,
                Region::Theirs { theirs, .. } => theirs,
                Region::Both { result, .. } => result,
                Region::Conflict { .. } => return None,
            };
            for l in lines {
                out.extend_from_slice(l);
            }
        }
        Some(out)
    }
}

/// For each line of `base`, the index of the line it is matched to in `other`.
fn base_matches(base: &[&[u8]], other: &[&[u8]], deadline: Instant) -> Vec<Option<usize>> {
    let mut map = vec![None; base.len()];
    for op in capture_diff_slices_deadline(Algorithm::Myers, base, other, Some(deadline)) {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            for k in 0..len {
                map[old_index + k] = Some(new_index + k);
            }
        }
    }
    map
}

/// Computes the three-way view (diff3 over lines, Myers with a deadline).
pub fn three_way(base: &[u8], ours: &[u8], theirs: &[u8]) -> ThreeWay {
    let b = split_lines(base);
    let o = split_lines(ours);
    let t = split_lines(theirs);
    let deadline = Instant::now() + LINE_DIFF_DEADLINE;
    let mo = base_matches(&b, &o, deadline);
    let mt = base_matches(&b, &t, deadline);
    let own = |lines: &[&[u8]]| lines.iter().map(|l| l.to_vec()).collect::<Vec<_>>();

    let mut regions: Vec<Region> = Vec::new();
    let (mut bi, mut oi, mut ti) = (0, 0, 0);
    while bi < b.len() || oi < o.len() || ti < t.len() {
        if bi < b.len() && mo[bi] == Some(oi) && mt[bi] == Some(ti) {
            match regions.last_mut() {
                Some(Region::Unchanged(lines)) => lines.push(b[bi].to_vec()),
                _ => regions.push(Region::Unchanged(vec![b[bi].to_vec()])),
            }
            bi += 1;
            oi += 1;
            ti += 1;
            continue;
        }
        // The unstable chunk ends at the next base line matched on both sides.
        let mut j = bi;
        while j < b.len() && !(mo[j].is_some() && mt[j].is_some()) {
            j += 1;
        }
        let (oe, te) = if j < b.len() {
            (mo[j].unwrap_or(o.len()), mt[j].unwrap_or(t.len()))
        } else {
            (o.len(), t.len())
        };
        let (bc, oc, tc) = (&b[bi..j], &o[oi..oe], &t[ti..te]);
        let region = if oc == bc {
            Region::Theirs {
                base: own(bc),
                theirs: own(tc),
            }
        } else if tc == bc {
            Region::Ours {
                base: own(bc),
                ours: own(oc),
            }
        } else if oc == tc {
            Region::Both {
                base: own(bc),
                result: own(oc),
            }
        } else {
            Region::Conflict {
                base: own(bc),
                ours: own(oc),
                theirs: own(tc),
            }
        };
        regions.push(region);
        bi = j;
        oi = oe;
        ti = te;
    }
    ThreeWay { regions }
}
