//! The rows a diff widget shows, with their markup, computed off the UI thread.
//!
//! A line longer than [`PIECE_CHARS`] shown characters ([`SPLIT_PIECE_CHARS`] side by
//! side) becomes several rows (its pieces; the later ones are marked as continued), so
//! every row is one line of text of a known height and no label has to lay out more
//! than a short piece of a 256 KiB line; words that mix look-alike scripts get their
//! mark here, in the line itself.

use qcs_client::types::{DiffView, Segment};

use super::markup::{self, Palette, Side};
use super::review::{LineKind, SideBySideRow, hunk_of_lines, side_by_side};

/// Unified (one column) or side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    #[default]
    Unified,
    SideBySide,
}

/// Shown characters per unified row at most: a longer line continues on the next rows.
///
/// Rows do not wrap (wrapping made Pango shape a long run without spaces again for
/// every candidate break, and GTK measures a row several times per layout: a single
/// 256 KiB line stalled the window for a second). A piece is one line of monospace
/// text, so every row is equally tall; 100 characters fit the diff of a window of
/// 1 360 pixels, and a narrower window scrolls the diff sideways (never the window).
pub const PIECE_CHARS: usize = 100;

/// Shown characters per side of a side-by-side row at most (two halves side by side).
pub const SPLIT_PIECE_CHARS: usize = 50;

/// One cell of text with its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Index of the rendered line in the diff.
    pub line: usize,
    pub kind: LineKind,
    /// The line number (empty on a continued piece).
    pub number: String,
    /// A later piece of a long line.
    pub continued: bool,
    pub markup: String,
    /// The text with tokens, for tests and screen readers.
    pub plain: String,
}

/// One row of the diff widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A hunk header; `hunk` indexes the diff's hunks.
    Header {
        line: usize,
        hunk: Option<usize>,
        markup: String,
        plain: String,
    },
    /// Unified layout: old and new numbers and one text cell.
    Unified {
        old_number: String,
        new_number: String,
        cell: Cell,
    },
    /// Side by side: old on the left, new on the right (`None`: blank filler).
    Split {
        left: Option<Cell>,
        right: Option<Cell>,
    },
}

fn number(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

/// The cells of one line: its pieces, each marked and escaped.
fn cells(diff: &DiffView, index: usize, palette: &Palette, left: bool, width: usize) -> Vec<Cell> {
    let line = &diff.lines[index];
    let kind = LineKind::from_wire(line.kind);
    let side = match kind {
        LineKind::Removed => Side::Removed,
        LineKind::Added => Side::Added,
        _ => Side::Neutral,
    };
    let n = if left {
        line.old_number
    } else {
        line.new_number
    };
    pieces(&line.segments, width)
        .into_iter()
        .enumerate()
        .map(|(i, piece)| Cell {
            line: index,
            kind,
            number: if i == 0 { number(n) } else { "⋯".to_owned() },
            continued: i > 0,
            markup: markup::segments(&piece, side, palette),
            plain: markup::plain(&piece),
        })
        .collect()
}

fn pieces(segments: &[Segment], width: usize) -> Vec<Vec<markup::Piece>> {
    markup::split_long(&markup::mark_mixed_scripts(segments), width)
}

impl Row {
    /// The rendered line a row shows (the left one of a side-by-side pair first).
    pub fn line(&self) -> Option<usize> {
        match self {
            Row::Header { line, .. } => Some(*line),
            Row::Unified { cell, .. } => Some(cell.line),
            Row::Split { left, right } => left.as_ref().or(right.as_ref()).map(|c| c.line),
        }
    }

    /// Whether the row shows (a piece of) rendered line `line`.
    pub fn shows_line(&self, line: usize) -> bool {
        match self {
            Row::Header { line: l, .. } => *l == line,
            Row::Unified { cell, .. } => cell.line == line,
            Row::Split { left, right } => {
                [left, right].into_iter().flatten().any(|c| c.line == line)
            }
        }
    }

    /// Whether the row is a later piece of a long line.
    pub fn is_continued(&self) -> bool {
        match self {
            Row::Header { .. } => false,
            Row::Unified { cell, .. } => cell.continued,
            Row::Split { left, right } => [left, right].into_iter().flatten().all(|c| c.continued),
        }
    }
}

/// Rows for a diff in the given layout.
pub fn rows(diff: &DiffView, layout: Layout, palette: &Palette) -> Vec<Row> {
    let hunks = hunk_of_lines(diff);
    let header = |index: usize| {
        let line = &diff.lines[index];
        // A header is ours; it is cut only so it stays one row.
        let segments = pieces(&line.segments, PIECE_CHARS)
            .into_iter()
            .next()
            .unwrap_or_default();
        Row::Header {
            line: index,
            hunk: hunks[index].filter(|h| *h < diff.hunks.len()),
            markup: markup::segments(&segments, Side::Neutral, palette),
            plain: markup::plain(&segments),
        }
    };
    let mut rows = Vec::with_capacity(diff.lines.len());
    match layout {
        Layout::Unified => {
            for (index, line) in diff.lines.iter().enumerate() {
                if LineKind::from_wire(line.kind) == LineKind::HunkHeader {
                    rows.push(header(index));
                    continue;
                }
                for cell in cells(diff, index, palette, false, PIECE_CHARS) {
                    let (old_number, new_number) = if cell.continued {
                        (String::new(), "⋯".to_owned())
                    } else {
                        (number(line.old_number), number(line.new_number))
                    };
                    rows.push(Row::Unified {
                        old_number,
                        new_number,
                        cell,
                    });
                }
            }
        }
        Layout::SideBySide => {
            for row in side_by_side(&diff.lines) {
                match row {
                    SideBySideRow::Header(index) => rows.push(header(index)),
                    SideBySideRow::Pair { left, right } => {
                        let cells_of = |i: Option<usize>, left: bool| {
                            i.map_or_else(Vec::new, |i| {
                                cells(diff, i, palette, left, SPLIT_PIECE_CHARS)
                            })
                        };
                        let left = cells_of(left, true);
                        let right = cells_of(right, false);
                        let n = left.len().max(right.len());
                        let mut left = left.into_iter();
                        let mut right = right.into_iter();
                        for _ in 0..n {
                            rows.push(Row::Split {
                                left: left.next(),
                                right: right.next(),
                            });
                        }
                    }
                }
            }
        }
    }
    rows
}

/// The sign shown before a unified line.
pub fn sign(kind: LineKind) -> &'static str {
    match kind {
        LineKind::Added => "+",
        LineKind::Removed => "−",
        _ => " ",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcs_client::types::{HunkView, RenderedLineView, Segment};

    fn line(kind: &str, old: Option<u64>, new: Option<u64>, text: &str) -> RenderedLineView {
        RenderedLineView {
            kind: kind.into(),
            old_number: old,
            new_number: new,
            segments: vec![Segment::Text {
                text: text.into(),
                changed: false,
            }],
        }
    }

    fn diff() -> DiffView {
        DiffView {
            hunks: vec![HunkView {
                id: "h".into(),
                old_start: 1,
                old_lines: 2,
                new_start: 1,
                new_lines: 2,
                whitespace_only: false,
            }],
            lines: vec![
                line("hunk-header", None, None, "@@ -1,2 +1,2 @@"),
                line("context", Some(1), Some(1), "[user]"),
                line("removed", Some(2), None, "name = A"),
                line("added", None, Some(2), "name = <B>"),
            ],
            minimal: true,
        }
    }

    #[test]
    fn unified_rows_keep_every_line_with_both_numbers() {
        let rows = rows(&diff(), Layout::Unified, &Palette::LIGHT);
        assert_eq!(rows.len(), 4);
        assert!(
            matches!(&rows[0], Row::Header { hunk: Some(0), plain, .. } if plain == "@@ -1,2 +1,2 @@")
        );
        let Row::Unified {
            old_number,
            new_number,
            cell,
        } = &rows[3]
        else {
            panic!("{:?}", rows[3]);
        };
        assert_eq!((old_number.as_str(), new_number.as_str()), ("", "2"));
        assert_eq!(cell.markup, "name = &lt;B&gt;");
    }

    #[test]
    fn side_by_side_rows_put_old_numbers_left_and_new_numbers_right() {
        let rows = rows(&diff(), Layout::SideBySide, &Palette::LIGHT);
        assert_eq!(rows.len(), 3);
        let Row::Split {
            left: Some(left),
            right: Some(right),
        } = &rows[2]
        else {
            panic!("{:?}", rows[2]);
        };
        assert_eq!((left.number.as_str(), left.kind), ("2", LineKind::Removed));
        assert_eq!((right.number.as_str(), right.kind), ("2", LineKind::Added));
    }

    #[test]
    fn a_long_line_continues_on_rows_of_its_own_and_mixed_scripts_are_marked() {
        let mut d = diff();
        d.lines[3] = line("added", None, Some(2), &"x".repeat(2 * PIECE_CHARS + 5));
        d.lines[1] = line("context", Some(1), Some(1), "ѕshCommand = x");
        let unified = rows(&d, Layout::Unified, &Palette::LIGHT);
        assert_eq!(unified.len(), 6);
        assert!(unified[3..].iter().all(|r| r.shows_line(3)));
        assert!(!unified[3].is_continued() && unified[5].is_continued());
        let Row::Unified { cell, .. } = &unified[1] else {
            panic!()
        };
        assert!(
            cell.plain.contains("⟦mixed scripts U+0455⟧"),
            "{}",
            cell.plain
        );
        // Side by side: the removed line beside the first piece, fillers after; the
        // halves are cut narrower.
        let split = rows(&d, Layout::SideBySide, &Palette::LIGHT);
        let pieces = (2 * PIECE_CHARS + 5).div_ceil(SPLIT_PIECE_CHARS);
        assert_eq!(split.len(), 2 + pieces);
        assert!(
            matches!(split.last(), Some(Row::Split { left: None, right: Some(c) }) if c.continued)
        );
        // Every character is shown, in pieces no wider than the limit.
        for (layout, width) in [
            (Layout::Unified, PIECE_CHARS),
            (Layout::SideBySide, SPLIT_PIECE_CHARS),
        ] {
            let texts: Vec<String> = rows(&d, layout, &Palette::LIGHT)
                .iter()
                .filter_map(|r| match r {
                    Row::Unified { cell, .. } => Some(cell.plain.clone()),
                    Row::Split { right: Some(c), .. } => Some(c.plain.clone()),
                    _ => None,
                })
                .filter(|t| t.starts_with('x'))
                .collect();
            assert!(texts.iter().all(|t| t.chars().count() <= width));
            assert_eq!(texts.concat(), "x".repeat(2 * PIECE_CHARS + 5));
        }
    }

    #[test]
    fn a_header_without_a_matching_hunk_has_no_decision() {
        let mut d = diff();
        d.hunks.clear();
        let rows = rows(&d, Layout::Unified, &Palette::LIGHT);
        assert!(matches!(&rows[0], Row::Header { hunk: None, .. }));
    }
}
