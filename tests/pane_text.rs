//! The text of the review pane's views as Pango lays it out, under Xvfb: what is drawn
//! is what is in the file. The three-way view wraps a long word without drawing a
//! hyphen that is not in it; the diff never wraps (one line per row, every byte shown,
//! a wide row scrolls inside the view and the window does not grow).
//!
//! Without a display the test runs itself again under `xvfb-run -a`.

use std::process::Command;
use std::time::{Duration, Instant};

use gtk::glib;
use gtk::prelude::*;
use qcs_client::types::{
    DiffView, HunkView, RenderedLineView, Segment, ThreeWayRegionView, ThreeWaySide,
    ThreeWaySideView, ThreeWayView,
};
use qubes_config_sync::model::diff_rows::PIECE_CHARS;
use qubes_config_sync::model::review::ThreeWayContext;
use qubes_config_sync::widgets::{QcsDiffView, QcsThreeWayView};

const INNER: &str = "QCS_PANE_TEXT_INNER";

/// 520 letters without a space or a hyphen: Pango can only break it inside the word.
fn long_word() -> String {
    "abcdefghijklmnopqrstuvwxyz".repeat(20)
}

fn text(text: &str) -> Vec<Segment> {
    vec![Segment::Text {
        text: text.to_owned(),
        changed: false,
    }]
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let context = glib::MainContext::default();
    let limit = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < limit, "gave up waiting for {what}");
        context.iteration(false);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Let a few frames pass (layout and drawing).
fn settle() {
    let end = Instant::now() + Duration::from_millis(300);
    wait_until("a few frames", || Instant::now() >= end);
}

/// Every label under `root` carrying the CSS class `class`.
fn labels_with_class(root: &gtk::Widget, class: &str) -> Vec<gtk::Label> {
    let mut found = Vec::new();
    let mut child = root.first_child();
    while let Some(widget) = child {
        if let Some(label) = widget.downcast_ref::<gtk::Label>()
            && label.has_css_class(class)
        {
            found.push(label.clone());
        }
        found.extend(labels_with_class(&widget, class));
        child = widget.next_sibling();
    }
    found
}

/// Per laid-out line of a label: (glyphs drawn, characters of the text). A hyphen Pango
/// inserts at a break inside a word is a glyph with no character behind it.
fn glyphs_and_chars(label: &gtk::Label) -> Vec<(i32, i32)> {
    let layout = label.layout();
    layout
        .lines_readonly()
        .iter()
        .map(|line| {
            line.runs().iter().fold((0, 0), |(glyphs, chars), run| {
                (
                    glyphs + run.glyph_string().num_glyphs(),
                    chars + run.item().num_chars(),
                )
            })
        })
        .collect()
}

fn window_with(child: &impl IsA<gtk::Widget>, width: i32) -> gtk::Window {
    let window = gtk::Window::new();
    window.set_default_size(width, 500);
    window.set_child(Some(child));
    window.present();
    wait_until("the window mapped", || window.is_mapped());
    window
}

fn three_way_wraps_without_hyphens() {
    let word = long_word();
    let side = |lines: &[&str]| ThreeWaySideView {
        first_line: 1,
        lines: lines.iter().map(|l| text(l)).collect(),
    };
    let view = ThreeWayView {
        base_label: ThreeWaySide::ProposalBase,
        ours_label: ThreeWaySide::Store,
        theirs_label: ThreeWaySide::Proposal,
        regions: vec![ThreeWayRegionView {
            kind: "conflict".into(),
            base: side(&["a"]),
            ours: side(&["b"]),
            theirs: side(&[&word]),
        }],
        conflicts: 1,
    };
    let widget = QcsThreeWayView::default();
    let window = window_with(&widget, 600);
    widget.set_view(Some(view), ThreeWayContext::Proposal);
    wait_until("the three-way view", || widget.is_ready());
    settle();
    let labels = labels_with_class(widget.upcast_ref(), "diff-line");
    let long = labels
        .iter()
        .find(|l| l.text() == word)
        .expect("the long line is shown whole");
    let lines = glyphs_and_chars(long);
    assert!(lines.len() > 1, "the long line wraps: {lines:?}");
    let drawn: i32 = lines.iter().map(|(g, _)| g).sum();
    assert_eq!(
        usize::try_from(drawn).ok(),
        Some(word.len()),
        "glyphs drawn per line (glyphs, characters): {lines:?} — a glyph without a character is an inserted hyphen"
    );
    for (glyphs, chars) in lines {
        assert_eq!(
            glyphs, chars,
            "a line shows a glyph that is not in the file"
        );
    }
    window.destroy();
}

fn diff_rows_are_one_line_each_and_scroll_sideways() {
    let word = long_word();
    let diff = DiffView {
        hunks: vec![HunkView {
            id: "h".into(),
            old_start: 1,
            old_lines: 1,
            new_start: 1,
            new_lines: 1,
            whitespace_only: false,
        }],
        lines: vec![
            RenderedLineView {
                kind: "hunk-header".into(),
                old_number: None,
                new_number: None,
                segments: text("@@ -1,1 +1,1 @@"),
            },
            RenderedLineView {
                kind: "removed".into(),
                old_number: Some(1),
                new_number: None,
                segments: text("short"),
            },
            RenderedLineView {
                kind: "added".into(),
                old_number: None,
                new_number: Some(1),
                segments: text(&word),
            },
        ],
        minimal: true,
    };
    let view = QcsDiffView::default();
    let window = window_with(&view, 500);
    view.set_diff(Some(diff), true);
    wait_until("the diff laid out", || view.laid_out());
    settle();
    let labels = labels_with_class(view.upcast_ref(), "diff-line");
    assert!(!labels.is_empty());
    let mut shown = String::new();
    for label in &labels {
        let lines = glyphs_and_chars(label);
        assert_eq!(lines.len(), 1, "a diff row wrapped: {:?}", label.text());
        assert_eq!(lines[0].0, lines[0].1, "a glyph not in the text");
        let text = label.text();
        let content = text.trim_start_matches(['+', '−', '↪', ' ']);
        assert!(content.chars().count() <= PIECE_CHARS, "{content}");
        if content.starts_with(|c: char| c.is_ascii_lowercase()) && content != "short" {
            shown.push_str(content);
        }
    }
    assert_eq!(
        shown, word,
        "every byte of the long line, in pieces, in order"
    );
    assert!(
        window.width() <= 500,
        "the window grew to {}",
        window.width()
    );
    let (minimum, _, _, _) = window.measure(gtk::Orientation::Horizontal, -1);
    assert!(minimum <= 500, "minimum width {minimum}");
    let scroller = labels[0]
        .ancestor(gtk::ScrolledWindow::static_type())
        .and_downcast::<gtk::ScrolledWindow>()
        .expect("the rows are in a scrolled window");
    let h = scroller.hadjustment();
    assert!(
        h.upper() > h.page_size(),
        "a row wider than the view scrolls sideways: upper {} page {}",
        h.upper(),
        h.page_size()
    );
    // The hunk's toggles come first in its row: in view before any sideways scroll.
    let (accept, _) = view.hunk_toggles(0).expect("the header is on screen");
    let bounds = accept
        .compute_bounds(&scroller)
        .expect("the toggle is inside the view");
    assert!(bounds.x() >= 0.0 && bounds.x() + bounds.width() <= scroller.width() as f32);
    window.destroy();
}

#[test]
fn pane_text_is_what_is_in_the_file() {
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !has_display && std::env::var_os(INNER).is_none() {
        let exe = std::env::current_exe().expect("test executable path");
        let status = Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1600x1000x24"])
            .arg(exe)
            .args(["--exact", "pane_text_is_what_is_in_the_file", "--nocapture"])
            .env(INNER, "1")
            .status()
            .expect("xvfb-run runs (install xvfb and xauth)");
        assert!(status.success(), "under xvfb-run: {status}");
        return;
    }
    // SAFETY: GTK is not initialised yet and this test is the only one in its process.
    unsafe {
        std::env::set_var("GSETTINGS_BACKEND", "memory");
        std::env::set_var("NO_AT_BRIDGE", "1");
        std::env::set_var("GTK_A11Y", "none");
        std::env::set_var("GSK_RENDERER", "cairo");
    }
    qubes_config_sync::init();
    gtk::init().expect("GTK initialises on the display");
    adw::init().expect("libadwaita initialises");
    three_way_wraps_without_hyphens();
    diff_rows_are_one_line_each_and_scroll_sideways();
}
