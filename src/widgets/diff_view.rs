//! `QcsDiffView`: a diff, unified or side by side, long lines in pieces, hidden
//! characters as tokens, and per-hunk Accept/Reject toggles.
//!
//! The rows and their markup are computed on a worker thread; the list model
//! ([`IndexModel`]) then holds all of them at once, making the object of a row only when
//! the list asks for it, and a `GtkListView` makes widgets only for the rows on
//! screen, so a 256 KiB file, a single 256 KiB line (cut into pieces) or 10 000 hunks
//! (90 000 rows) never stall the window: no object per row, no batches. A row never wraps: each is one line of
//! monospace text (every byte shown, nothing elided), so rows are equally tall and
//! cheap to measure; a row wider than the view scrolls sideways inside the view. The view owns the hunk decisions — the one
//! model its header rows render — and takes none until every row is in the model:
//! the `laid-out` property says when. A newer diff supersedes a rebuild in flight.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::glib::subclass::Signal;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};
use qcs_client::types::DiffView;

use crate::model::diff_rows::{self, Layout, Row};
use crate::model::markup::Palette;
use crate::model::review::{HunkDecision, LineKind};

/// Frames a new diff is kept at its top after it is laid out (its first rows measured).
const PIN_FRAMES_AFTER_LAYOUT: u32 = 3;

/// The widgets of a header row on screen.
#[derive(Debug, Clone)]
pub struct HeaderWidgets {
    row: gtk::Box,
    accept: gtk::ToggleButton,
    reject: gtk::ToggleButton,
}

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(resource = "/org/qubes/ConfigSync/ui/diff_view.ui")]
    #[properties(wrapper_type = super::QcsDiffView)]
    pub struct QcsDiffView {
        #[template_child]
        pub stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub scroller: TemplateChild<gtk::ScrolledWindow>,
        #[template_child]
        pub list: TemplateChild<gtk::ListView>,
        #[template_child]
        pub empty_label: TemplateChild<gtk::Label>,
        /// Every row of the diff has reached the model (and so can be shown).
        #[property(get)]
        pub laid_out: Cell<bool>,
        pub store: RefCell<Option<super::IndexModel>>,
        /// Shared with the worker that makes the rows (never copied).
        pub diff: RefCell<Option<Arc<DiffView>>>,
        pub layout: Cell<Layout>,
        pub decisions_enabled: Cell<bool>,
        /// The hunk decisions: the one model the header rows render.
        pub decisions: RefCell<Vec<HunkDecision>>,
        /// Bumped on every rebuild; a worker result for an older one is dropped.
        pub generation: Cell<u64>,
        /// All rows (the model holds their positions as objects).
        pub rows: RefCell<Arc<Vec<Row>>>,
        /// Per rendered line: the first row showing it.
        pub first_row: RefCell<Vec<Option<u32>>>,
        /// Header rows on screen, per hunk.
        pub headers: RefCell<HashMap<usize, HeaderWidgets>>,
        /// Rows on screen, per position.
        pub bound: RefCell<HashMap<u32, gtk::Box>>,
        /// Set while toggles are set from the model (not a user's decision).
        pub syncing: Cell<bool>,
        pub highlighted: Cell<Option<usize>>,
        /// Set by a new diff, cleared when the reviewer scrolls or a finding is shown:
        /// while set, the view is kept at its top (GTK 4.8's list anchors the bottom
        /// of its first row, so the top drifts when that row's height changes).
        pub pin_top: Cell<bool>,
        /// Frames the view is still kept at its top once laid out.
        pub pin_frames: Cell<u32>,
        /// Set while the per-frame check of `pin_top` runs.
        pub pin_ticking: Cell<bool>,
        /// The longest main-loop turn the last fill took (for the benchmark).
        pub longest_turn: Cell<Duration>,
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

    #[glib::derived_properties]
    impl ObjectImpl for QcsDiffView {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("decisions-changed").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.setup_list();
            // The palette follows the style: rebuild when it switches.
            adw::StyleManager::default().connect_dark_notify(glib::clone!(
                #[weak]
                obj,
                move |_| obj.rebuild()
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
    fn setup_list(&self) {
        let imp = self.imp();
        let unpin = glib::clone!(
            #[weak(rename_to = view)]
            self,
            move || view.imp().pin_top.set(false)
        );
        let scroll = gtk::EventControllerScroll::new(gtk::EventControllerScrollFlags::VERTICAL);
        scroll.set_propagation_phase(gtk::PropagationPhase::Capture);
        let unpin_scroll = unpin.clone();
        scroll.connect_scroll_begin(move |_| unpin_scroll());
        let unpin_wheel = unpin.clone();
        scroll.connect_scroll(move |_, _, _| {
            unpin_wheel();
            glib::Propagation::Proceed
        });
        imp.scroller.add_controller(scroll);
        let click = gtk::GestureClick::new();
        click.set_propagation_phase(gtk::PropagationPhase::Capture);
        let unpin_click = unpin.clone();
        click.connect_pressed(move |_, _, _, _| unpin_click());
        imp.scroller.add_controller(click);
        let keys = gtk::EventControllerKey::new();
        keys.set_propagation_phase(gtk::PropagationPhase::Capture);
        keys.connect_key_pressed(move |_, _, _, _| {
            unpin();
            glib::Propagation::Proceed
        });
        imp.scroller.add_controller(keys);
        let store = IndexModel::default();
        imp.list
            .set_model(Some(&gtk::NoSelection::new(Some(store.clone()))));
        imp.store.replace(Some(store));
        let factory = gtk::SignalListItemFactory::new();
        factory.connect_setup(|_, item| {
            let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
                return;
            };
            let row = gtk::Box::new(gtk::Orientation::Horizontal, 0);
            item.set_child(Some(&row));
            item.set_activatable(false);
            item.set_selectable(false);
        });
        factory.connect_bind(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_, item| {
                if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                    view.bind_row(item);
                }
            }
        ));
        factory.connect_unbind(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_, item| {
                if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                    view.unbind_row(item);
                }
            }
        ));
        imp.list.set_factory(Some(&factory));
    }

    /// Show `diff` (`None`: the empty message). With `decisions`, every hunk header gets
    /// Accept/Reject toggles, all starting undecided. The view scrolls back to the top.
    pub fn set_diff(&self, diff: Option<DiffView>, decisions: bool) {
        let imp = self.imp();
        let hunks = diff.as_ref().map_or(0, |d| d.hunks.len());
        imp.decisions.replace(vec![HunkDecision::Undecided; hunks]);
        imp.decisions_enabled.set(decisions);
        imp.highlighted.set(None);
        // The diff shown before may be large: freed on a worker thread.
        let previous = imp.diff.replace(diff.map(Arc::new));
        drop_elsewhere(previous);
        imp.scroller.vadjustment().set_value(0.0);
        self.pin_to_top();
        self.rebuild();
    }

    /// Keep the view at its top, once per frame, until a few frames after it is laid
    /// out or the reviewer scrolls (a frame callback, not a layout handler: setting the
    /// value there makes at most one new layout per frame).
    fn pin_to_top(&self) {
        let imp = self.imp();
        imp.pin_top.set(true);
        imp.pin_frames.set(PIN_FRAMES_AFTER_LAYOUT);
        if imp.pin_ticking.replace(true) {
            return;
        }
        self.add_tick_callback(|view, _| {
            let imp = view.imp();
            let adjustment = imp.scroller.vadjustment();
            if imp.pin_top.get() && adjustment.value() != 0.0 {
                adjustment.set_value(0.0);
            }
            if imp.pin_top.get() && imp.laid_out.get() {
                let left = imp.pin_frames.get().saturating_sub(1);
                imp.pin_frames.set(left);
                if left == 0 {
                    imp.pin_top.set(false);
                }
            }
            if imp.pin_top.get() {
                glib::ControlFlow::Continue
            } else {
                imp.pin_ticking.set(false);
                glib::ControlFlow::Break
            }
        });
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

    /// `decisions-changed`: the hunk decisions changed (by a row's toggle or "mark all").
    pub fn connect_decisions_changed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "decisions-changed",
            false,
            glib::closure_local!(move |view: &Self| f(view)),
        )
    }

    /// The hunk decisions, as the rows show them.
    pub fn decisions(&self) -> Vec<HunkDecision> {
        self.imp().decisions.borrow().clone()
    }

    /// Decide one hunk; refused (false) until the diff is laid out.
    pub fn set_decision(&self, hunk: usize, decision: HunkDecision) -> bool {
        let imp = self.imp();
        if !imp.laid_out.get() || !imp.decisions_enabled.get() {
            return false;
        }
        {
            let mut decisions = imp.decisions.borrow_mut();
            let Some(slot) = decisions.get_mut(hunk) else {
                return false;
            };
            if *slot == decision {
                return true;
            }
            *slot = decision;
        }
        self.sync_header(hunk);
        self.changed();
        true
    }

    /// Decide every hunk at once; refused (false) until the diff is laid out, so a
    /// decision can never exist before the rows that show it.
    pub fn decide_all(&self, decision: HunkDecision) -> bool {
        let imp = self.imp();
        if !imp.laid_out.get() || !imp.decisions_enabled.get() {
            return false;
        }
        imp.decisions.borrow_mut().fill(decision);
        let hunks: Vec<usize> = imp.headers.borrow().keys().copied().collect();
        for hunk in hunks {
            self.sync_header(hunk);
        }
        self.changed();
        true
    }

    fn changed(&self) {
        self.emit_by_name::<()>("decisions-changed", &[]);
    }

    /// The (accept, reject) toggles of a hunk whose header is on screen.
    pub fn hunk_toggles(&self, hunk: usize) -> Option<(gtk::ToggleButton, gtk::ToggleButton)> {
        self.imp()
            .headers
            .borrow()
            .get(&hunk)
            .map(|h| (h.accept.clone(), h.reject.clone()))
    }

    /// The hunks whose header row is on screen (bound), in order.
    pub fn bound_hunks(&self) -> Vec<usize> {
        let mut hunks: Vec<usize> = self.imp().headers.borrow().keys().copied().collect();
        hunks.sort_unstable();
        hunks
    }

    /// The text of every row, tokens as `⟦label⟧` (for tests and screen readers).
    pub fn rendered_rows(&self) -> Vec<String> {
        self.imp().rows.borrow().iter().map(plain_of).collect()
    }

    /// The text of every rendered line, its pieces joined, tokens as `⟦label⟧` (for
    /// tests and screen readers); empty until the rows are made.
    pub fn rendered_lines(&self) -> Vec<String> {
        let imp = self.imp();
        let count = imp.diff.borrow().as_ref().map_or(0, |d| d.lines.len());
        let mut lines = vec![String::new(); count];
        let mut put = |line: usize, text: &str| {
            if let Some(slot) = lines.get_mut(line) {
                slot.push_str(text);
            }
        };
        for row in imp.rows.borrow().iter() {
            match row {
                Row::Header { line, plain, .. } => put(*line, plain),
                Row::Unified { cell, .. } => put(cell.line, &cell.plain),
                Row::Split { left, right } => {
                    for cell in [left, right].into_iter().flatten() {
                        put(cell.line, &cell.plain);
                    }
                }
            }
        }
        lines
    }

    /// The first row showing rendered line `line`.
    pub fn row_of_line(&self, line: usize) -> Option<usize> {
        let row = (*self.imp().first_row.borrow())
            .get(line)
            .copied()
            .flatten()?;
        usize::try_from(row).ok()
    }

    /// The rendered line marked by [`Self::show_line`], once a row on screen carries
    /// the mark.
    pub fn highlighted_line(&self) -> Option<usize> {
        let imp = self.imp();
        let line = imp.highlighted.get()?;
        let row = u32::try_from(self.row_of_line(line)?).ok()?;
        imp.bound
            .borrow()
            .get(&row)
            .is_some_and(|w| w.has_css_class("diff-finding-target"))
            .then_some(line)
    }

    /// Whether the last rebuild has reached the model.
    pub fn is_ready(&self) -> bool {
        let imp = self.imp();
        imp.laid_out.get()
            || imp
                .diff
                .borrow()
                .as_ref()
                .is_none_or(|d| d.lines.is_empty())
    }

    /// The longest main-loop turn the last fill took.
    pub fn longest_turn(&self) -> Duration {
        self.imp().longest_turn.get()
    }

    /// The list's vertical adjustment (scroll position); scroll with [`Self::scroll_to`].
    pub fn vadjustment(&self) -> gtk::Adjustment {
        self.imp().scroller.vadjustment()
    }

    /// Scroll to `value` (pixels from the top) as the reviewer would: from then on the
    /// view no longer keeps to its top.
    pub fn scroll_to(&self, value: f64) {
        let imp = self.imp();
        imp.pin_top.set(false);
        imp.scroller.vadjustment().set_value(value);
    }

    /// Scroll a hunk's header into view.
    pub fn show_hunk(&self, hunk: usize) {
        let imp = self.imp();
        imp.pin_top.set(false);
        let position = imp
            .rows
            .borrow()
            .iter()
            .position(|r| matches!(r, Row::Header { hunk: Some(h), .. } if *h == hunk));
        if let Some(position) = position.and_then(|p| u32::try_from(p).ok()) {
            let _ = imp
                .list
                .activate_action("list.scroll-to-item", Some(&position.to_variant()));
        }
    }

    /// Scroll to a rendered line and mark it (a finding's line).
    pub fn show_line(&self, line: usize) {
        let imp = self.imp();
        imp.pin_top.set(false);
        imp.highlighted.set(Some(line));
        let rows = imp.rows.borrow().clone();
        for (position, widget) in imp.bound.borrow().iter() {
            let shows = usize::try_from(*position)
                .ok()
                .and_then(|p| rows.get(p))
                .is_some_and(|r| r.shows_line(line));
            mark(widget, shows);
        }
        if let Some(row) = self.row_of_line(line).and_then(|r| u32::try_from(r).ok()) {
            // GTK 4.8 has no `ListView::scroll_to`; its list action does the same.
            let _ = imp
                .list
                .activate_action("list.scroll-to-item", Some(&row.to_variant()));
        }
    }

    fn set_laid_out(&self, laid_out: bool) {
        if self.imp().laid_out.replace(laid_out) != laid_out {
            for header in self.imp().headers.borrow().values() {
                header.accept.set_sensitive(laid_out);
                header.reject.set_sensitive(laid_out);
            }
            self.notify_laid_out();
        }
    }

    fn rebuild(&self) {
        let imp = self.imp();
        let generation = imp.generation.get() + 1;
        imp.generation.set(generation);
        self.set_laid_out(false);
        if let Some(store) = imp.store.borrow().as_ref() {
            store.set_len(0);
        }
        drop_elsewhere(imp.rows.replace(Arc::new(Vec::new())));
        imp.first_row.replace(Vec::new());
        let Some(diff) = imp.diff.borrow().clone() else {
            imp.stack.set_visible_child_name("empty");
            return;
        };
        if diff.lines.is_empty() {
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
                let result = gio::spawn_blocking(move || {
                    let rows = diff_rows::rows(&diff, layout, palette);
                    let first_row = first_rows(&rows, diff.lines.len());
                    (rows, first_row)
                })
                .await;
                if view.imp().generation.get() != generation {
                    return;
                }
                match result {
                    Ok((rows, first_row)) => view.fill(rows, first_row),
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

    /// Put the rows into the model, all at once: the model makes a row's object only
    /// when the list asks for it (the rows on screen), so this turn is short however
    /// many rows there are.
    fn fill(&self, rows: Vec<Row>, first_row: Vec<Option<u32>>) {
        let imp = self.imp();
        let Some(store) = imp.store.borrow().clone() else {
            return;
        };
        let started = Instant::now();
        let count = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        drop_elsewhere(imp.rows.replace(Arc::new(rows)));
        imp.first_row.replace(first_row);
        imp.stack.set_visible_child_name("diff");
        imp.scroller.vadjustment().set_value(0.0);
        store.set_len(count);
        imp.longest_turn.set(started.elapsed());
        self.set_laid_out(true);
    }

    fn bind_row(&self, item: &gtk::ListItem) {
        let imp = self.imp();
        let (Some(root), Some(object)) = (
            item.child().and_downcast::<gtk::Box>(),
            item.item().and_downcast::<glib::BoxedAnyObject>(),
        ) else {
            return;
        };
        while let Some(child) = root.first_child() {
            root.remove(&child);
        }
        for class in root.css_classes() {
            root.remove_css_class(&class);
        }
        let index = *object.borrow::<usize>();
        let rows = imp.rows.borrow().clone();
        let Some(row) = rows.get(index) else {
            return;
        };
        match row {
            Row::Header { hunk, markup, .. } => {
                root.add_css_class("diff-hunk-header");
                root.set_homogeneous(false);
                // The toggles come first: they stay in view when the rows are wider
                // than the view.
                if let (Some(hunk), true) = (*hunk, imp.decisions_enabled.get()) {
                    let header = self.header_toggles(hunk, &root);
                    root.append(&header.accept);
                    root.append(&header.reject);
                    imp.headers.borrow_mut().insert(hunk, header);
                    self.sync_header(hunk);
                }
                let label = text_label(markup);
                label.set_hexpand(true);
                root.append(&label);
            }
            Row::Unified {
                old_number,
                new_number,
                cell,
            } => {
                root.set_homogeneous(false);
                let class = kind_class(cell.kind);
                root.append(&number_label(old_number, class));
                root.append(&number_label(new_number, class));
                let sign = if cell.continued {
                    "↪"
                } else {
                    diff_rows::sign(cell.kind)
                };
                let text = text_label(&format!("{sign} {}", cell.markup));
                text.add_css_class("diff-line");
                text.add_css_class(class);
                text.set_hexpand(true);
                root.append(&text);
            }
            Row::Split { left, right } => {
                // Equal halves, each as wide as the wider one needs.
                root.set_homogeneous(true);
                for cell in [left, right] {
                    let half = gtk::Box::new(gtk::Orientation::Horizontal, 0);
                    half.set_hexpand(true);
                    match cell {
                        Some(cell) => {
                            let class = kind_class(cell.kind);
                            half.append(&number_label(&cell.number, class));
                            let text = text_label(&cell.markup);
                            text.add_css_class("diff-line");
                            text.add_css_class(class);
                            text.set_hexpand(true);
                            half.append(&text);
                        }
                        None => half.add_css_class("diff-empty"),
                    }
                    root.append(&half);
                }
            }
        }
        let position = item.position();
        if let Some(line) = imp.highlighted.get() {
            mark(&root, row.shows_line(line));
        }
        imp.bound.borrow_mut().insert(position, root);
    }

    fn unbind_row(&self, item: &gtk::ListItem) {
        let imp = self.imp();
        let Some(root) = item.child().and_downcast::<gtk::Box>() else {
            return;
        };
        imp.bound.borrow_mut().retain(|_, w| *w != root);
        imp.headers.borrow_mut().retain(|_, h| h.row != root);
        while let Some(child) = root.first_child() {
            root.remove(&child);
        }
    }

    /// Set a shown header's toggles from the model.
    fn sync_header(&self, hunk: usize) {
        let imp = self.imp();
        let Some(header) = imp.headers.borrow().get(&hunk).cloned() else {
            return;
        };
        let decision = imp
            .decisions
            .borrow()
            .get(hunk)
            .copied()
            .unwrap_or(HunkDecision::Undecided);
        imp.syncing.set(true);
        header.accept.set_active(decision == HunkDecision::Accept);
        header.reject.set_active(decision == HunkDecision::Reject);
        imp.syncing.set(false);
        header.row.remove_css_class("hunk-accepted");
        header.row.remove_css_class("hunk-rejected");
        match decision {
            HunkDecision::Accept => header.row.add_css_class("hunk-accepted"),
            HunkDecision::Reject => header.row.add_css_class("hunk-rejected"),
            HunkDecision::Undecided => {}
        }
    }

    fn header_toggles(&self, hunk: usize, row: &gtk::Box) -> HeaderWidgets {
        let accept = gtk::ToggleButton::with_mnemonic(&gettextrs::gettext("Accept"));
        let reject = gtk::ToggleButton::with_mnemonic(&gettextrs::gettext("Reject"));
        accept.set_tooltip_text(Some(&gettextrs::gettext("Take this change into the store")));
        reject.set_tooltip_text(Some(&gettextrs::gettext("Leave this change out")));
        let laid_out = self.imp().laid_out.get();
        for (button, decision) in [
            (&accept, HunkDecision::Accept),
            (&reject, HunkDecision::Reject),
        ] {
            button.add_css_class("flat");
            button.set_valign(gtk::Align::Center);
            button.set_sensitive(laid_out);
            button.connect_toggled(glib::clone!(
                #[weak(rename_to = view)]
                self,
                move |button| {
                    if view.imp().syncing.get() {
                        return;
                    }
                    let wanted = if button.is_active() {
                        decision
                    } else {
                        HunkDecision::Undecided
                    };
                    // Refused before layout: put the toggles back as the model says.
                    if !view.set_decision(hunk, wanted) {
                        view.sync_header(hunk);
                    }
                }
            ));
        }
        HeaderWidgets {
            row: row.clone(),
            accept,
            reject,
        }
    }
}

/// Per rendered line (of `line_count`): the first row showing it.
fn first_rows(rows: &[Row], line_count: usize) -> Vec<Option<u32>> {
    let mut first_row = vec![None; line_count];
    for (position, row) in rows.iter().enumerate() {
        let Ok(position) = u32::try_from(position) else {
            break;
        };
        let right = match row {
            Row::Split {
                left: Some(_),
                right: Some(right),
            } => Some(right.line),
            _ => None,
        };
        for line in [row.line(), right].into_iter().flatten() {
            if let Some(slot) = first_row.get_mut(line)
                && slot.is_none()
            {
                *slot = Some(position);
            }
        }
    }
    first_row
}

mod model {
    use super::*;

    /// A list model of `len` positions, each item made when asked for (a
    /// `BoxedAnyObject` holding its position: into the view's rows, or the review
    /// pane's findings), so a list of 90 000 rows costs no object per row.
    #[derive(Debug, Default)]
    pub struct IndexModel {
        pub len: Cell<u32>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for IndexModel {
        const NAME: &'static str = "QcsIndexModel";
        type Type = super::IndexModel;
        type Interfaces = (gio::ListModel,);
    }

    impl ObjectImpl for IndexModel {}

    impl ListModelImpl for IndexModel {
        fn item_type(&self) -> glib::Type {
            glib::BoxedAnyObject::static_type()
        }

        fn n_items(&self) -> u32 {
            self.len.get()
        }

        fn item(&self, position: u32) -> Option<glib::Object> {
            let position = usize::try_from(position).ok()?;
            (position < self.len.get() as usize)
                .then(|| glib::BoxedAnyObject::new(position).upcast())
        }
    }
}

glib::wrapper! {
    /// A lazy list model of positions (see [`model::IndexModel`]).
    pub struct IndexModel(ObjectSubclass<model::IndexModel>) @implements gio::ListModel;
}

impl Default for IndexModel {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl IndexModel {
    /// Now `len` positions: one change of the whole model.
    pub(crate) fn set_len(&self, len: u32) {
        let old = self.imp().len.replace(len);
        if old != 0 || len != 0 {
            self.items_changed(0, old, len);
        }
    }
}

/// Free a large value on a worker thread, not in the main loop's turn.
fn drop_elsewhere<T: Send + 'static>(value: T) {
    drop(gio::spawn_blocking(move || drop(value)));
}

fn plain_of(row: &Row) -> String {
    match row {
        Row::Header { plain, .. } => plain.clone(),
        Row::Unified { cell, .. } => {
            let sign = if cell.continued {
                "↪"
            } else {
                diff_rows::sign(cell.kind)
            };
            format!("{sign} {}", cell.plain)
        }
        Row::Split { left, right } => format!(
            "{} │ {}",
            left.as_ref().map_or("", |c| c.plain.as_str()),
            right.as_ref().map_or("", |c| c.plain.as_str())
        ),
    }
}

fn mark(widget: &gtk::Box, marked: bool) {
    if marked {
        widget.add_css_class("diff-finding-target");
    } else {
        widget.remove_css_class("diff-finding-target");
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
    label.set_width_chars(5);
    label.add_css_class("diff-number");
    label.add_css_class(class);
    label
}

/// A one-line label: no wrapping, no ellipsis (a piece is short; every byte shows).
fn text_label(markup: &str) -> gtk::Label {
    let label = gtk::Label::new(None);
    label.set_markup(markup);
    label.set_single_line_mode(true);
    label.set_wrap(false);
    label.set_ellipsize(gtk::pango::EllipsizeMode::None);
    label.set_xalign(0.0);
    label.set_yalign(0.0);
    label
}
