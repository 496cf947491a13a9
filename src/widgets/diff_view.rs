//! `QcsDiffView`: a diff, unified or side by side, with wrapped lines, hidden
//! characters as tokens, and per-hunk Accept/Reject toggles.
//!
//! The rows and their markup are computed on a worker thread; only the widgets are made
//! on the UI thread. A newer diff supersedes a rebuild still in flight.

use std::cell::{Cell, RefCell};

use adw::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};
use qcs_client::types::DiffView;

use crate::model::diff_rows::{self, Layout, Row};
use crate::model::markup::Palette;
use crate::model::review::{HunkDecision, LineKind};

type DecisionHandler = Box<dyn Fn(usize, HunkDecision)>;

/// Rows made per main-loop turn while a diff is shown.
const ROWS_PER_TURN: usize = 200;

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/diff_view.ui")]
    pub struct QcsDiffView {
        #[template_child]
        pub stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub scroller: TemplateChild<gtk::ScrolledWindow>,
        #[template_child]
        pub grid: TemplateChild<gtk::Grid>,
        #[template_child]
        pub empty_label: TemplateChild<gtk::Label>,
        pub diff: RefCell<Option<DiffView>>,
        pub layout: Cell<Layout>,
        pub decisions_enabled: Cell<bool>,
        pub decisions: RefCell<Vec<HunkDecision>>,
        /// Bumped on every rebuild; a worker result for an older one is dropped.
        pub generation: Cell<u64>,
        /// Per rendered line: the widgets showing it (for scrolling and highlighting).
        pub line_widgets: RefCell<Vec<Vec<gtk::Widget>>>,
        /// Per hunk: its (accept, reject) toggles.
        pub hunk_toggles: RefCell<Vec<(gtk::ToggleButton, gtk::ToggleButton)>>,
        pub on_decision: RefCell<Option<DecisionHandler>>,
        pub plain_rows: RefCell<Vec<String>>,
        pub highlighted: RefCell<Option<usize>>,
    }

    impl std::fmt::Debug for QcsDiffView {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("QcsDiffView").finish_non_exhaustive()
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsDiffView {
        const NAME: &'static str = "QcsDiffView";
        type Type = super::QcsDiffView;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsDiffView {
        fn constructed(&self) {
            self.parent_constructed();
            // The palette follows the style: rebuild when it switches.
            adw::StyleManager::default().connect_dark_notify(glib::clone!(
                #[weak(rename_to = view)]
                self.obj(),
                move |_| view.rebuild()
            ));
        }
    }
    impl WidgetImpl for QcsDiffView {}
    impl BoxImpl for QcsDiffView {}
}

glib::wrapper! {
    pub struct QcsDiffView(ObjectSubclass<imp::QcsDiffView>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for QcsDiffView {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl QcsDiffView {
    /// Show `diff` (`None`: the empty message). With `decisions`, every hunk header gets
    /// Accept/Reject toggles, all starting undecided.
    pub fn set_diff(&self, diff: Option<DiffView>, decisions: bool) {
        let imp = self.imp();
        let hunks = diff.as_ref().map_or(0, |d| d.hunks.len());
        imp.decisions.replace(vec![HunkDecision::Undecided; hunks]);
        imp.decisions_enabled.set(decisions);
        imp.highlighted.replace(None);
        imp.diff.replace(diff);
        self.rebuild();
    }

    /// The message shown when there is no diff.
    pub fn set_empty_message(&self, message: &str) {
        self.imp().empty_label.set_label(message);
    }

    pub fn set_layout(&self, layout: Layout) {
        if self.imp().layout.replace(layout) != layout {
            self.rebuild();
        }
    }

    pub fn layout(&self) -> Layout {
        self.imp().layout.get()
    }

    /// Called when the user toggles a hunk's decision.
    pub fn connect_decision<F: Fn(usize, HunkDecision) + 'static>(&self, handler: F) {
        self.imp().on_decision.replace(Some(Box::new(handler)));
    }

    /// Set a hunk's decision from outside (e.g. "mark all"); the handler is told too.
    pub fn set_decision(&self, hunk: usize, decision: HunkDecision) {
        let imp = self.imp();
        if let Some(slot) = imp.decisions.borrow_mut().get_mut(hunk) {
            *slot = decision;
        }
        let toggles = imp.hunk_toggles.borrow().get(hunk).cloned();
        if let Some((accept, reject)) = toggles {
            accept.set_active(decision == HunkDecision::Accept);
            reject.set_active(decision == HunkDecision::Reject);
        }
    }

    /// Per hunk: its (accept, reject) toggles, when decisions are enabled.
    pub fn hunk_toggles(&self) -> Vec<(gtk::ToggleButton, gtk::ToggleButton)> {
        self.imp().hunk_toggles.borrow().clone()
    }

    /// The text of every shown row, tokens as `⟦label⟧` (for tests and screen readers).
    pub fn rendered_rows(&self) -> Vec<String> {
        self.imp().plain_rows.borrow().clone()
    }

    /// The rendered line marked by [`Self::show_line`], if its widgets carry the mark.
    pub fn highlighted_line(&self) -> Option<usize> {
        let imp = self.imp();
        let line = (*imp.highlighted.borrow())?;
        let widgets = imp.line_widgets.borrow();
        let marked = widgets.get(line)?;
        (!marked.is_empty()
            && marked
                .iter()
                .all(|w| w.has_css_class("diff-finding-target")))
        .then_some(line)
    }

    /// Whether the last rebuild has reached the widgets.
    pub fn is_ready(&self) -> bool {
        let imp = self.imp();
        imp.diff.borrow().is_none() || imp.stack.visible_child_name().as_deref() == Some("diff")
    }

    /// Scroll to a rendered line and mark it (a finding's line).
    pub fn show_line(&self, line: usize) {
        let imp = self.imp();
        if let Some(old) = imp.highlighted.replace(Some(line)) {
            for widget in imp.line_widgets.borrow().get(old).into_iter().flatten() {
                widget.remove_css_class("diff-finding-target");
            }
        }
        let widgets = imp
            .line_widgets
            .borrow()
            .get(line)
            .cloned()
            .unwrap_or_default();
        for widget in &widgets {
            widget.add_css_class("diff-finding-target");
        }
        if let Some(first) = widgets.first() {
            let grid = imp.grid.get();
            let adjustment = imp.scroller.vadjustment();
            if let Some(point) = first.compute_point(&grid, &gtk::graphene::Point::new(0.0, 0.0)) {
                let target = (f64::from(point.y()) - adjustment.page_size() / 3.0).max(0.0);
                adjustment.set_value(target);
            }
        }
    }

    fn rebuild(&self) {
        let imp = self.imp();
        let generation = imp.generation.get() + 1;
        imp.generation.set(generation);
        let Some(diff) = imp.diff.borrow().clone() else {
            self.clear_grid();
            imp.plain_rows.replace(Vec::new());
            imp.stack.set_visible_child_name("empty");
            return;
        };
        if diff.lines.is_empty() {
            self.clear_grid();
            imp.plain_rows.replace(Vec::new());
            imp.stack.set_visible_child_name("empty");
            return;
        }
        imp.stack.set_visible_child_name("loading");
        let layout = imp.layout.get();
        let palette = Palette::for_dark(adw::StyleManager::default().is_dark());
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = view)]
            self,
            async move {
                let result =
                    gio::spawn_blocking(move || diff_rows::rows(&diff, layout, palette)).await;
                if view.imp().generation.get() != generation {
                    return;
                }
                match result {
                    Ok(rows) => view.fill(rows, generation).await,
                    Err(_) => {
                        view.imp()
                            .empty_label
                            .set_label(&gettextrs::gettext("The diff could not be prepared."));
                        view.imp().stack.set_visible_child_name("empty");
                    }
                }
            }
        ));
    }

    fn clear_grid(&self) {
        let grid = self.imp().grid.get();
        while let Some(child) = grid.first_child() {
            grid.remove(&child);
        }
    }

    /// Make the widgets, a batch per main-loop turn so a long diff never freezes the
    /// window; a newer rebuild abandons this one.
    async fn fill(&self, rows: Vec<Row>, generation: u64) {
        let imp = self.imp();
        self.clear_grid();
        let line_count = imp.diff.borrow().as_ref().map_or(0, |d| d.lines.len());
        let mut line_widgets: Vec<Vec<gtk::Widget>> = vec![Vec::new(); line_count];
        let mut toggles = Vec::new();
        let mut plain = Vec::with_capacity(rows.len());
        let grid = imp.grid.get();
        for (y, row) in rows.into_iter().enumerate() {
            if y > 0 && y % ROWS_PER_TURN == 0 {
                glib::timeout_future(std::time::Duration::ZERO).await;
                if imp.generation.get() != generation {
                    return;
                }
            }
            let y = i32::try_from(y).unwrap_or(i32::MAX);
            match row {
                Row::Header {
                    line,
                    hunk,
                    markup,
                    plain: text,
                } => {
                    let header = gtk::Box::new(gtk::Orientation::Horizontal, 6);
                    header.add_css_class("diff-hunk-header");
                    // Expansion inside the header must not spread to the grid's number
                    // columns (a spanning child's expand goes to every column it spans).
                    header.set_hexpand(false);
                    let label = text_label(&markup);
                    label.set_hexpand(true);
                    header.append(&label);
                    if let (Some(hunk), true) = (hunk, imp.decisions_enabled.get()) {
                        let (accept, reject) = self.hunk_toggle_pair(hunk, &header);
                        header.append(&accept);
                        header.append(&reject);
                        toggles.push((accept, reject));
                    }
                    grid.attach(&header, 0, y, 4, 1);
                    if let Some(slot) = line_widgets.get_mut(line) {
                        slot.push(header.upcast());
                    }
                    plain.push(text);
                }
                Row::Unified {
                    old_number,
                    new_number,
                    cell,
                } => {
                    let class = kind_class(cell.kind);
                    let old = number_label(&old_number, class);
                    let new = number_label(&new_number, class);
                    let text =
                        text_label(&format!("{} {}", diff_rows::sign(cell.kind), cell.markup));
                    text.add_css_class("diff-line");
                    text.add_css_class(class);
                    text.set_hexpand(true);
                    grid.attach(&old, 0, y, 1, 1);
                    grid.attach(&new, 1, y, 1, 1);
                    grid.attach(&text, 2, y, 2, 1);
                    if let Some(slot) = line_widgets.get_mut(cell.line) {
                        slot.push(text.upcast());
                    }
                    plain.push(format!("{} {}", diff_rows::sign(cell.kind), cell.plain));
                }
                Row::Split { left, right } => {
                    let mut texts = Vec::new();
                    for (column, cell) in [(0, left), (2, right)] {
                        match cell {
                            Some(cell) => {
                                let class = kind_class(cell.kind);
                                let number = number_label(&cell.number, class);
                                let text = text_label(&cell.markup);
                                text.add_css_class("diff-line");
                                text.add_css_class(class);
                                text.set_hexpand(true);
                                grid.attach(&number, column, y, 1, 1);
                                grid.attach(&text, column + 1, y, 1, 1);
                                if let Some(slot) = line_widgets.get_mut(cell.line) {
                                    slot.push(text.upcast());
                                }
                                texts.push(cell.plain);
                            }
                            None => {
                                let filler = gtk::Box::new(gtk::Orientation::Horizontal, 0);
                                filler.add_css_class("diff-empty");
                                filler.set_hexpand(true);
                                grid.attach(&filler, column, y, 2, 1);
                                texts.push(String::new());
                            }
                        }
                    }
                    plain.push(texts.join(" │ "));
                }
            }
        }
        imp.line_widgets.replace(line_widgets);
        imp.hunk_toggles.replace(toggles);
        imp.plain_rows.replace(plain);
        imp.stack.set_visible_child_name("diff");
        let highlighted = *imp.highlighted.borrow();
        if let Some(line) = highlighted {
            self.show_line(line);
        }
    }

    fn hunk_toggle_pair(
        &self,
        hunk: usize,
        header: &gtk::Box,
    ) -> (gtk::ToggleButton, gtk::ToggleButton) {
        let current = self
            .imp()
            .decisions
            .borrow()
            .get(hunk)
            .copied()
            .unwrap_or(HunkDecision::Undecided);
        let accept = gtk::ToggleButton::with_mnemonic(&gettextrs::gettext("Accept"));
        let reject = gtk::ToggleButton::with_mnemonic(&gettextrs::gettext("Reject"));
        accept.set_active(current == HunkDecision::Accept);
        reject.set_active(current == HunkDecision::Reject);
        accept.set_tooltip_text(Some(&gettextrs::gettext("Take this change into the store")));
        reject.set_tooltip_text(Some(&gettextrs::gettext("Leave this change out")));
        for button in [&accept, &reject] {
            button.add_css_class("flat");
            button.set_valign(gtk::Align::Center);
        }
        let update = glib::clone!(
            #[weak(rename_to = view)]
            self,
            #[weak]
            header,
            #[weak]
            accept,
            #[weak]
            reject,
            move || {
                let decision = if accept.is_active() {
                    HunkDecision::Accept
                } else if reject.is_active() {
                    HunkDecision::Reject
                } else {
                    HunkDecision::Undecided
                };
                header.remove_css_class("hunk-accepted");
                header.remove_css_class("hunk-rejected");
                match decision {
                    HunkDecision::Accept => header.add_css_class("hunk-accepted"),
                    HunkDecision::Reject => header.add_css_class("hunk-rejected"),
                    HunkDecision::Undecided => {}
                }
                let changed = {
                    let mut decisions = view.imp().decisions.borrow_mut();
                    match decisions.get_mut(hunk) {
                        Some(slot) if *slot != decision => {
                            *slot = decision;
                            true
                        }
                        _ => false,
                    }
                };
                if changed && let Some(handler) = view.imp().on_decision.borrow().as_ref() {
                    handler(hunk, decision);
                }
            }
        );
        let update = std::rc::Rc::new(update);
        accept.connect_toggled(glib::clone!(
            #[weak]
            reject,
            #[strong]
            update,
            move |accept| {
                if accept.is_active() {
                    reject.set_active(false);
                }
                update();
            }
        ));
        reject.connect_toggled(glib::clone!(
            #[weak]
            accept,
            #[strong]
            update,
            move |reject| {
                if reject.is_active() {
                    accept.set_active(false);
                }
                update();
            }
        ));
        update();
        (accept, reject)
    }
}

fn kind_class(kind: LineKind) -> &'static str {
    match kind {
        LineKind::Added => "diff-added",
        LineKind::Removed => "diff-removed",
        LineKind::HunkHeader => "diff-hunk-header",
        LineKind::Context => "diff-context",
    }
}

fn number_label(text: &str, class: &str) -> gtk::Label {
    let label = gtk::Label::new(Some(text));
    label.set_xalign(1.0);
    label.set_yalign(0.0);
    label.set_width_chars(4);
    label.add_css_class("diff-number");
    label.add_css_class(class);
    label
}

/// A wrapping label: long lines wrap at any character, never scroll out of sight.
fn text_label(markup: &str) -> gtk::Label {
    let label = gtk::Label::new(None);
    label.set_markup(markup);
    label.set_wrap(true);
    label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
    label.set_xalign(0.0);
    label.set_yalign(0.0);
    label.set_width_chars(1);
    label.set_max_width_chars(1);
    label
}
