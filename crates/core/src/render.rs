//! The rendering model shared by the GUI and the CLI: a line becomes a sequence of
//! segments — plain text, visible tokens for every hidden or confusing character,
//! and anchors for risk findings — plus a terminal renderer.
//!
//! Review the bytes, not their rendering (DESIGN invariant 7): bidi controls,
//! zero-width and format characters, tag characters, variation selectors, odd spaces,
//! C0/C1 controls, ESC, CR, NUL and invalid UTF-8 bytes never reach a text widget or
//! a terminal raw; whitespace changes stay visible (tabs and trailing blanks are
//! tokens too). Text is an allowlist: what is not known to be a plain visible
//! character becomes a token. This module must not decide risk (that is `risk`).

pub use crate::characters::{TokenClass, classify};
use crate::diff::{ChangedSpan, DiffLine, FileDiff};
use crate::findings::{Finding, Severity, Side};

/// What a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    /// A decoded character.
    Char(char),
    /// A byte that is not part of valid UTF-8.
    Byte(u8),
    /// The file's last line has no terminator.
    NoFinalNewline,
}

/// A piece of a rendered line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Plain visible text: only characters known to display as themselves.
    Text {
        /// The text.
        text: String,
        /// Inside a word-level change.
        changed: bool,
    },
    /// A visible stand-in for a hidden or confusing character.
    Token {
        /// What it stands for.
        raw: Raw,
        /// Why it is a token.
        class: TokenClass,
        /// Short label, e.g. `U+202E RLO`, `NUL`, `0xFF`, `TAB`.
        label: String,
        /// Inside a word-level change.
        changed: bool,
    },
    /// Where a finding applies (end of its line).
    FindingAnchor {
        /// Index into the findings list the line was rendered with.
        finding: usize,
        /// Its severity.
        severity: Severity,
    },
}

/// Kind of a rendered line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `@@ -a,b +c,d @@` separator before each hunk.
    HunkHeader,
    /// Unchanged line.
    Context,
    /// Line only in the old content.
    Removed,
    /// Line only in the new content.
    Added,
}

/// One line of a rendered file or diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedLine {
    /// Kind of line.
    pub kind: LineKind,
    /// 1-based line number in the old content.
    pub old_number: Option<usize>,
    /// 1-based line number in the new content.
    pub new_number: Option<usize>,
    /// The segments.
    pub segments: Vec<Segment>,
}

/// Renders one line. A final `\n` is the terminator and not shown; a `\r` before
/// it is shown (`CR`), as is every other hidden character.
pub fn render_line(bytes: &[u8]) -> Vec<Segment> {
    render_line_with_changes(bytes, &[])
}

/// Like [`render_line`], marking the byte ranges in `changed` (word-level diff).
pub fn render_line_with_changes(bytes: &[u8], changed: &[ChangedSpan]) -> Vec<Segment> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    // Trailing blanks (before a CR, if any) are tokens so a changed value is visible.
    let content_end = body.strip_suffix(b"\r").map_or(body.len(), <[u8]>::len);
    let trailing_from = body[..content_end]
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(0, |i| i + 1);
    let is_changed = |offset: usize| changed.iter().any(|s| s.start <= offset && offset < s.end);

    let mut out: Vec<Segment> = Vec::new();
    let push_text = |out: &mut Vec<Segment>, c: char, flag: bool| match out.last_mut() {
        Some(Segment::Text { text, changed }) if *changed == flag => text.push(c),
        _ => out.push(Segment::Text {
            text: c.to_string(),
            changed: flag,
        }),
    };
    let mut offset = 0;
    for chunk in body.utf8_chunks() {
        for c in chunk.valid().chars() {
            let flag = is_changed(offset);
            let trailing = offset >= trailing_from && offset < content_end;
            // A trailing blank, or a blank inside a word-level change, is a token so
            // a whitespace-only change can be seen.
            if c == ' ' && (trailing || flag) {
                out.push(Segment::Token {
                    raw: Raw::Char(c),
                    class: TokenClass::Whitespace,
                    label: "SP".into(),
                    changed: flag,
                });
            } else if let Some((class, label)) = classify(c) {
                out.push(Segment::Token {
                    raw: Raw::Char(c),
                    class,
                    label,
                    changed: flag,
                });
            } else {
                push_text(&mut out, c, flag);
            }
            offset += c.len_utf8();
        }
        for b in chunk.invalid() {
            out.push(Segment::Token {
                raw: Raw::Byte(*b),
                class: TokenClass::InvalidByte,
                label: format!("0x{b:02X}"),
                changed: is_changed(offset),
            });
            offset += 1;
        }
    }
    out
}

fn no_final_newline() -> Segment {
    Segment::Token {
        raw: Raw::NoFinalNewline,
        class: TokenClass::Marker,
        label: "no newline at end of file".into(),
        changed: false,
    }
}

/// Findings by (side, line), so anchoring is one lookup per rendered line.
struct AnchorIndex(std::collections::HashMap<(bool, usize), Vec<(usize, Severity)>>);

impl AnchorIndex {
    fn new(findings: &[Finding]) -> Self {
        let mut map: std::collections::HashMap<_, Vec<_>> = std::collections::HashMap::new();
        for (i, f) in findings.iter().enumerate() {
            if let Some(line) = f.line {
                map.entry((f.side == Side::Base, line as usize))
                    .or_default()
                    .push((i, f.severity));
            }
        }
        AnchorIndex(map)
    }

    fn anchors(&self, side: Side, line: usize) -> impl Iterator<Item = Segment> + '_ {
        self.0
            .get(&(side == Side::Base, line))
            .into_iter()
            .flatten()
            .map(|&(finding, severity)| Segment::FindingAnchor { finding, severity })
    }
}

fn line_segments(line: &[u8], changed: &[ChangedSpan], is_last: bool) -> Vec<Segment> {
    let mut segments = render_line_with_changes(line, changed);
    if is_last && !line.ends_with(b"\n") {
        segments.push(no_final_newline());
    }
    segments
}

/// Renders a whole file (every line as context), with anchors for the findings
/// on the proposed side. File-level findings (no line) have no anchor: the review
/// pane lists them above the file.
pub fn render_file(content: &[u8], findings: &[Finding]) -> Vec<RenderedLine> {
    let lines = crate::diff::split_lines(content);
    let count = lines.len();
    let index = AnchorIndex::new(findings);
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let mut segments = line_segments(l, &[], i + 1 == count);
            segments.extend(index.anchors(Side::Proposed, i + 1));
            RenderedLine {
                kind: LineKind::Context,
                old_number: Some(i + 1),
                new_number: Some(i + 1),
                segments,
            }
        })
        .collect()
}

/// `start,count` as in unified diffs: an empty range names the line before it.
fn header_range(range: &std::ops::Range<usize>) -> String {
    if range.is_empty() {
        format!("{},0", range.start)
    } else {
        format!("{},{}", range.start + 1, range.len())
    }
}

/// Renders a diff: per hunk a header, context, removed and added lines with their
/// word-level changes, and finding anchors (base-side findings on removed lines).
pub fn render_diff(diff: &FileDiff, findings: &[Finding]) -> Vec<RenderedLine> {
    let mut out = Vec::new();
    let index = AnchorIndex::new(findings);
    for h in &diff.hunks {
        out.push(RenderedLine {
            kind: LineKind::HunkHeader,
            old_number: Some(h.old_range.start + 1),
            new_number: Some(h.new_range.start + 1),
            segments: vec![Segment::Text {
                text: format!(
                    "@@ -{} +{} @@",
                    header_range(&h.old_range),
                    header_range(&h.new_range)
                ),
                changed: false,
            }],
        });
        let context = |out: &mut Vec<RenderedLine>, lines: &[DiffLine], shift: isize| {
            for l in lines {
                let new_number = (l.number as isize + shift) as usize;
                let mut segments = line_segments(&l.bytes, &[], l.number == diff.old_lines);
                segments.extend(index.anchors(Side::Proposed, new_number));
                out.push(RenderedLine {
                    kind: LineKind::Context,
                    old_number: Some(l.number),
                    new_number: Some(new_number),
                    segments,
                });
            }
        };
        let shift_before = h.new_range.start as isize - h.old_range.start as isize;
        let shift_after = h.new_range.end as isize - h.old_range.end as isize;
        context(&mut out, &h.context_before, shift_before);
        for l in &h.removed {
            let mut segments = line_segments(&l.bytes, &l.changed, l.number == diff.old_lines);
            segments.extend(index.anchors(Side::Base, l.number));
            out.push(RenderedLine {
                kind: LineKind::Removed,
                old_number: Some(l.number),
                new_number: None,
                segments,
            });
        }
        for l in &h.added {
            let mut segments = line_segments(&l.bytes, &l.changed, l.number == diff.new_lines);
            segments.extend(index.anchors(Side::Proposed, l.number));
            out.push(RenderedLine {
                kind: LineKind::Added,
                old_number: None,
                new_number: Some(l.number),
                segments,
            });
        }
        context(&mut out, &h.context_after, shift_after);
    }
    out
}

/// Plain-terminal rendering. Every escape sequence in the output comes from the
/// fixed table below; content can only ever produce printable characters.
pub mod terminal {
    use super::{LineKind, RenderedLine, Segment, TokenClass};
    use crate::findings::Severity;

    /// The only escape sequences this renderer emits (SGR colours and reset).
    pub const SGR: [&str; 7] = [
        "\x1b[0m",    // reset
        "\x1b[31m",   // red: removed
        "\x1b[32m",   // green: added
        "\x1b[36m",   // cyan: hunk header
        "\x1b[7m",    // reverse: token
        "\x1b[1m",    // bold: changed words
        "\x1b[1;31m", // bold red: critical/high anchor
    ];
    const RESET: &str = SGR[0];
    const RED: &str = SGR[1];
    const GREEN: &str = SGR[2];
    const CYAN: &str = SGR[3];
    const REVERSE: &str = SGR[4];
    const BOLD: &str = SGR[5];
    const ALERT: &str = SGR[6];

    /// Output options.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Options {
        /// Emit SGR colour sequences.
        pub colour: bool,
    }

    /// Replaces anything that is not safe for a terminal; text segments are already
    /// filtered, this is a second line of defence in case a segment was built by hand.
    fn safe_text(out: &mut String, text: &str) {
        for c in text.chars() {
            if c == ' ' || super::classify(c).is_none() {
                out.push(c);
            } else {
                out.push('\u{FFFD}');
            }
        }
    }

    fn safe_label(out: &mut String, label: &str) {
        for c in label.chars() {
            if c.is_ascii_graphic() || c == ' ' {
                out.push(c);
            } else {
                out.push('?');
            }
        }
    }

    /// Renders segments to one terminal line (no newline added).
    pub fn segments(segments: &[Segment], opts: Options) -> String {
        let mut out = String::new();
        for s in segments {
            match s {
                Segment::Text { text, changed } => {
                    if opts.colour && *changed {
                        out.push_str(BOLD);
                    }
                    safe_text(&mut out, text);
                    if opts.colour && *changed {
                        out.push_str(RESET);
                    }
                }
                Segment::Token {
                    class, label, raw, ..
                } => {
                    if opts.colour {
                        out.push_str(REVERSE);
                    }
                    match (class, raw) {
                        (TokenClass::Whitespace, super::Raw::Char('\t')) => out.push_str("→   "),
                        (TokenClass::Whitespace, _) => out.push('·'),
                        _ => {
                            out.push('⟦');
                            safe_label(&mut out, label);
                            out.push('⟧');
                        }
                    }
                    if opts.colour {
                        out.push_str(RESET);
                    }
                }
                Segment::FindingAnchor { finding, severity } => {
                    let alert = matches!(severity, Severity::Critical | Severity::High);
                    if opts.colour && alert {
                        out.push_str(ALERT);
                    }
                    out.push_str(&format!(
                        "  ◀ finding {} ({})",
                        finding + 1,
                        severity.as_str()
                    ));
                    if opts.colour && alert {
                        out.push_str(RESET);
                    }
                }
            }
        }
        out
    }

    /// Renders lines with a gutter (`-`/`+`/space and line numbers), one per row.
    pub fn lines(lines: &[RenderedLine], opts: Options) -> String {
        let mut out = String::new();
        for l in lines {
            let (mark, colour) = match l.kind {
                LineKind::HunkHeader => ("", CYAN),
                LineKind::Context => (" ", ""),
                LineKind::Removed => ("-", RED),
                LineKind::Added => ("+", GREEN),
            };
            if l.kind != LineKind::HunkHeader {
                let number = match l.kind {
                    LineKind::Removed => l.old_number,
                    _ => l.new_number,
                };
                out.push_str(&format!(
                    "{:>6} ",
                    number.map(|n| n.to_string()).unwrap_or_default()
                ));
            }
            if opts.colour && !colour.is_empty() {
                out.push_str(colour);
            }
            out.push_str(mark);
            out.push_str(&segments(&l.segments, opts));
            if opts.colour && !colour.is_empty() {
                out.push_str(RESET);
            }
            out.push('\n');
        }
        out
    }

    /// Renders one raw line of content safely (terminator not shown).
    pub fn line(bytes: &[u8], opts: Options) -> String {
        segments(&super::render_line(bytes), opts)
    }
}
