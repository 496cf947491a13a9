//! The rows of the three-way view (base / store / qube or proposal), computed off the UI
//! thread from the backend's [`ThreeWayView`]. Lines arrive as rendered segments and
//! leave as escaped Pango markup, every hidden character a token.

use qcs_client::types::{
    RegionKind as WireRegionKind, ThreeWayRegionView, ThreeWaySideView, ThreeWayView,
};

use super::markup::{self, Palette, Side};

/// Unchanged regions longer than this are folded to their first and last lines.
const FOLD_ABOVE: usize = 6;
/// Lines kept at each end of a folded unchanged region.
const FOLD_KEEP: usize = 2;

/// What happened to a region since the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionKind {
    Unchanged,
    /// Only the store changed it.
    Ours,
    /// Only the qube (or the proposal) changed it.
    Theirs,
    /// Both changed it the same way.
    Both,
    /// Both changed it differently.
    Conflict,
}

impl RegionKind {
    /// The backend's kind. Anything unknown is shown as a conflict: an unknown
    /// region must draw attention, not blend in.
    pub fn from_wire(kind: WireRegionKind) -> RegionKind {
        match kind {
            WireRegionKind::Unchanged => RegionKind::Unchanged,
            WireRegionKind::Ours => RegionKind::Ours,
            WireRegionKind::Theirs => RegionKind::Theirs,
            WireRegionKind::Both => RegionKind::Both,
            WireRegionKind::Conflict | WireRegionKind::Unknown => RegionKind::Conflict,
        }
    }

    /// Whether the side at `column` (0 base, 1 ours, 2 theirs) differs from the base.
    pub fn changed(self, column: usize) -> bool {
        match self {
            RegionKind::Unchanged => false,
            RegionKind::Ours => column == 1,
            RegionKind::Theirs => column == 2,
            RegionKind::Both | RegionKind::Conflict => column != 0,
        }
    }

    /// CSS class of the region's changed cells and heading.
    pub fn css_class(self) -> &'static str {
        match self {
            RegionKind::Unchanged => "three-way-unchanged",
            RegionKind::Ours => "three-way-ours",
            RegionKind::Theirs => "three-way-theirs",
            RegionKind::Both => "three-way-both",
            RegionKind::Conflict => "three-way-conflict",
        }
    }
}

/// One line of one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub number: String,
    pub markup: String,
    /// The text with tokens, for tests and screen readers.
    pub plain: String,
}

/// One row of the three-way widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// Starts a changed region (`index` counts regions from 0).
    Heading { index: usize, kind: RegionKind },
    /// A line of each side: base, ours, theirs — always three (`None`: that side has
    /// fewer lines here).
    Lines {
        kind: RegionKind,
        cells: Vec<Option<Cell>>,
    },
    /// Unchanged lines left out of a long unchanged region.
    Folded { lines: usize },
}

fn cell(side: &ThreeWaySideView, line: usize, palette: &Palette) -> Option<Cell> {
    let segments = markup::pieces(side.lines.get(line)?);
    Some(Cell {
        number: side.first_line.saturating_add(line as u64).to_string(),
        markup: markup::segments(&segments, Side::Neutral, palette),
        plain: markup::plain(&segments),
    })
}

fn line_rows(
    region: &ThreeWayRegionView,
    kind: RegionKind,
    lines: std::ops::Range<usize>,
    palette: &Palette,
    out: &mut Vec<Row>,
) {
    for line in lines {
        out.push(Row::Lines {
            kind,
            cells: vec![
                cell(&region.base, line, palette),
                cell(&region.ours, line, palette),
                cell(&region.theirs, line, palette),
            ],
        });
    }
}

/// Rows for a three-way view: each changed region under its heading with all three
/// sides; long unchanged regions folded to their ends.
pub fn rows(view: &ThreeWayView, palette: &Palette) -> Vec<Row> {
    let mut out = Vec::new();
    for (index, region) in view.regions.iter().enumerate() {
        let kind = RegionKind::from_wire(region.kind);
        let height = region
            .base
            .lines
            .len()
            .max(region.ours.lines.len())
            .max(region.theirs.lines.len());
        if kind == RegionKind::Unchanged {
            if height > FOLD_ABOVE {
                let first = index == 0;
                let last = index + 1 == view.regions.len();
                // The file's first and last region keep only the lines next to a change.
                let head = if first { 0 } else { FOLD_KEEP };
                let tail = if last { 0 } else { FOLD_KEEP };
                line_rows(region, kind, 0..head, palette, &mut out);
                out.push(Row::Folded {
                    lines: height - head - tail,
                });
                line_rows(region, kind, height - tail..height, palette, &mut out);
            } else {
                line_rows(region, kind, 0..height, palette, &mut out);
            }
        } else {
            out.push(Row::Heading { index, kind });
            line_rows(region, kind, 0..height, palette, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcs_client::types::Segment;

    fn side(first_line: u64, lines: &[&str]) -> ThreeWaySideView {
        ThreeWaySideView {
            first_line,
            lines: lines
                .iter()
                .map(|l| {
                    vec![Segment::Text {
                        text: (*l).to_owned(),
                        changed: false,
                    }]
                })
                .collect(),
        }
    }

    fn region(kind: &str, base: &[&str], ours: &[&str], theirs: &[&str]) -> ThreeWayRegionView {
        ThreeWayRegionView {
            kind: kind.into(),
            base: side(1, base),
            ours: side(1, ours),
            theirs: side(1, theirs),
        }
    }

    fn texts(row: &Row) -> [String; 3] {
        match row {
            Row::Lines { cells, .. } => {
                let text = |i: usize| {
                    cells[i]
                        .as_ref()
                        .map(|c| c.plain.clone())
                        .unwrap_or_default()
                };
                [text(0), text(1), text(2)]
            }
            other => panic!("not a line row: {other:?}"),
        }
    }

    #[test]
    fn conflict_under_a_heading_with_all_three_sides_and_fillers() {
        let view = ThreeWayView {
            base_label: qcs_client::types::ThreeWaySide::LastPushed,
            ours_label: qcs_client::types::ThreeWaySide::Store,
            theirs_label: qcs_client::types::ThreeWaySide::Qube,
            regions: vec![
                region("unchanged", &["[user]"], &["[user]"], &["[user]"]),
                region("conflict", &["a"], &["b"], &["c", "d"]),
            ],
            conflicts: 1,
        };
        let rows = rows(&view, Palette::for_dark(false));
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert_eq!(
            texts(&rows[0]),
            ["[user]", "[user]", "[user]"].map(String::from)
        );
        assert_eq!(
            rows[1],
            Row::Heading {
                index: 1,
                kind: RegionKind::Conflict
            }
        );
        assert_eq!(texts(&rows[2]), ["a", "b", "c"].map(String::from));
        // The qube's extra line has no base or store line beside it.
        match &rows[3] {
            Row::Lines { cells, kind } => {
                assert_eq!(*kind, RegionKind::Conflict);
                assert!(cells[0].is_none() && cells[1].is_none());
                assert_eq!(cells[2].as_ref().map(|c| c.number.as_str()), Some("2"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_unchanged_regions_fold_to_the_lines_next_to_a_change() {
        let ten: Vec<String> = (1..=10).map(|n| format!("line {n}")).collect();
        let ten: Vec<&str> = ten.iter().map(String::as_str).collect();
        let view = ThreeWayView {
            base_label: qcs_client::types::ThreeWaySide::Unknown,
            ours_label: qcs_client::types::ThreeWaySide::Unknown,
            theirs_label: qcs_client::types::ThreeWaySide::Unknown,
            regions: vec![
                region("unchanged", &ten, &ten, &ten),
                region("theirs", &["x"], &["x"], &["y"]),
                region("unchanged", &ten, &ten, &ten),
                region("ours", &["p"], &["q"], &["p"]),
                region("unchanged", &ten, &ten, &ten),
            ],
            conflicts: 0,
        };
        let rows = rows(&view, Palette::for_dark(true));
        let folded: Vec<usize> = rows
            .iter()
            .filter_map(|r| match r {
                Row::Folded { lines } => Some(*lines),
                _ => None,
            })
            .collect();
        // First region: only its last 2 lines; middle: 2 + 2; last: its first 2.
        assert_eq!(folded, [8, 6, 8]);
        assert_eq!(texts(&rows[1])[0], "line 9");
        let line_rows = rows
            .iter()
            .filter(|r| matches!(r, Row::Lines { .. }))
            .count();
        assert_eq!(line_rows, 2 + 1 + 4 + 1 + 2);
    }

    #[test]
    fn hidden_characters_are_tokens_and_markup_is_escaped() {
        let mut theirs = side(3, &[]);
        theirs.lines.push(vec![
            Segment::Text {
                text: "<b>x</b>".into(),
                changed: false,
            },
            Segment::Token {
                class: qcs_client::types::TokenClass::Bidi,
                label: "U+202E RLO".into(),
                changed: false,
            },
        ]);
        let view = ThreeWayView {
            base_label: qcs_client::types::ThreeWaySide::Unknown,
            ours_label: qcs_client::types::ThreeWaySide::Unknown,
            theirs_label: qcs_client::types::ThreeWaySide::Unknown,
            regions: vec![ThreeWayRegionView {
                kind: "theirs".into(),
                base: side(3, &[]),
                ours: side(3, &[]),
                theirs,
            }],
            conflicts: 0,
        };
        let rows = rows(&view, Palette::for_dark(false));
        let Row::Lines { cells, .. } = &rows[1] else {
            panic!("{rows:?}")
        };
        let cell = cells[2].as_ref().expect("the qube's line");
        assert_eq!(cell.number, "3");
        assert!(cell.plain.contains("U+202E RLO"), "{}", cell.plain);
        assert!(!cell.markup.contains("<b>"), "{}", cell.markup);
        assert!(!cell.markup.contains('\u{202E}'));
    }

    #[test]
    fn which_sides_changed() {
        assert!(!RegionKind::Ours.changed(2) && RegionKind::Ours.changed(1));
        assert!(RegionKind::Theirs.changed(2) && !RegionKind::Theirs.changed(0));
        assert!(RegionKind::Conflict.changed(1) && RegionKind::Conflict.changed(2));
        assert_eq!(RegionKind::from_wire("bogus".into()), RegionKind::Conflict);
    }
}
