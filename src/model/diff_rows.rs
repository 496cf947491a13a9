//! The rows a diff widget shows, with their markup, computed off the UI thread.

use qcs_client::types::DiffView;

use super::markup::{self, Palette, Side};
use super::review::{LineKind, SideBySideRow, hunk_of_lines, side_by_side};

/// Unified (one column) or side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    #[default]
    Unified,
    SideBySide,
}

/// One cell of text with its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Index of the rendered line in the diff.
    pub line: usize,
    pub kind: LineKind,
    pub number: String,
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

fn cell(diff: &DiffView, index: usize, palette: &Palette, left: bool) -> Cell {
    let line = &diff.lines[index];
    let kind = LineKind::from_wire(&line.kind);
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
    Cell {
        line: index,
        kind,
        number: number(n),
        markup: markup::segments(&line.segments, side, palette),
        plain: markup::plain(&line.segments),
    }
}

/// Rows for a diff in the given layout.
pub fn rows(diff: &DiffView, layout: Layout, palette: &Palette) -> Vec<Row> {
    let hunks = hunk_of_lines(diff);
    let header = |index: usize| {
        let line = &diff.lines[index];
        Row::Header {
            line: index,
            hunk: hunks[index].filter(|h| *h < diff.hunks.len()),
            markup: markup::segments(&line.segments, Side::Neutral, palette),
            plain: markup::plain(&line.segments),
        }
    };
    match layout {
        Layout::Unified => diff
            .lines
            .iter()
            .enumerate()
            .map(|(index, line)| {
                if LineKind::from_wire(&line.kind) == LineKind::HunkHeader {
                    header(index)
                } else {
                    Row::Unified {
                        old_number: number(line.old_number),
                        new_number: number(line.new_number),
                        cell: cell(diff, index, palette, false),
                    }
                }
            })
            .collect(),
        Layout::SideBySide => side_by_side(&diff.lines)
            .into_iter()
            .map(|row| match row {
                SideBySideRow::Header(index) => header(index),
                SideBySideRow::Pair { left, right } => Row::Split {
                    left: left.map(|i| cell(diff, i, palette, true)),
                    right: right.map(|i| cell(diff, i, palette, false)),
                },
            })
            .collect(),
    }
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
    fn a_header_without_a_matching_hunk_has_no_decision() {
        let mut d = diff();
        d.hunks.clear();
        let rows = rows(&d, Layout::Unified, &Palette::LIGHT);
        assert!(matches!(&rows[0], Row::Header { hunk: None, .. }));
    }
}
