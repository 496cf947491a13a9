//! `QcsThreeWayView`: a conflict's three versions in three labelled columns — base,
//! store, qube (or proposal) — region by region, conflicts highlighted, long lines
//! wrapped (at any character, never with a hyphen that is not in the file), hidden
//! characters as tokens, long unchanged stretches folded.
//!
//! Rows and markup are computed on a worker thread (`model::three_way`); the widgets
//! are made on the UI thread in batches, and a newer view supersedes one in flight.

use std::cell::{Cell, RefCell};

use adw::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};
use qcs_client::types::ThreeWayView;

use crate::model::markup::Palette;
use crate::model::review::{ThreeWayContext, three_way_text};
use crate::model::three_way::{self, RegionKind, Row};

/// Rows made per main-loop turn.
const ROWS_PER_TURN: usize = 150;
/// Grid columns: one per side (each cell holds its line number and text), equally wide.
const COLUMNS: i32 = 3;

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/three_way_view.ui")]
    pub struct QcsThreeWayView {
        #[template_child]
        pub summary_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub empty_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub loading_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub grid: TemplateChild<gtk::Grid>,
        pub view: RefCell<Option<ThreeWayView>>,
        pub context: Cell<Option<ThreeWayContext>>,
        /// Bumped on every rebuild; a worker result for an older one is dropped.
        pub generation: Cell<u64>,
        pub plain_rows: RefCell<Vec<String>>,
        pub region_kinds: RefCell<Vec<RegionKind>>,
    }

    impl std::fmt::Debug for QcsThreeWayView {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("QcsThreeWayView").finish_non_exhaustive()
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsThreeWayView {
        const NAME: &'static str = "QcsThreeWayView";
        type Type = super::QcsThreeWayView;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsThreeWayView {
        fn constructed(&self) {
            self.parent_constructed();
            self.empty_label.set_label(&three_way_text::empty());
            self.loading_label.set_label(&three_way_text::loading());
            // The palette follows the style: rebuild when it switches.
            adw::StyleManager::default().connect_dark_notify(glib::clone!(
                #[weak(rename_to = view)]
                self.obj(),
                move |_| view.rebuild()
            ));
        }
    }
    impl WidgetImpl for QcsThreeWayView {}
    impl BoxImpl for QcsThreeWayView {}
}

glib::wrapper! {
    pub struct QcsThreeWayView(ObjectSubclass<imp::QcsThreeWayView>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for QcsThreeWayView {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl QcsThreeWayView {
    /// Show `view` with the column headings of `context` (`None`: the empty message).
    pub fn set_view(&self, view: Option<ThreeWayView>, context: ThreeWayContext) {
        let imp = self.imp();
        imp.context.set(Some(context));
        imp.view.replace(view);
        self.rebuild();
    }

    /// The text of every shown row, columns joined by ` │ `, tokens as `⟦label⟧`,
    /// region headings as `== heading ==` (for tests and screen readers).
    pub fn rendered_rows(&self) -> Vec<String> {
        self.imp().plain_rows.borrow().clone()
    }

    /// The kinds of the regions shown under a heading (the changed ones), in order.
    pub fn changed_regions(&self) -> Vec<RegionKind> {
        self.imp().region_kinds.borrow().clone()
    }

    /// Whether the last rebuild has reached the widgets.
    pub fn is_ready(&self) -> bool {
        let imp = self.imp();
        imp.view.borrow().is_none() || imp.stack.visible_child_name().as_deref() == Some("view")
    }

    fn rebuild(&self) {
        let imp = self.imp();
        let generation = imp.generation.get() + 1;
        imp.generation.set(generation);
        let context = imp.context.get().unwrap_or(ThreeWayContext::PlanConflict);
        let Some(view) = imp.view.borrow().clone() else {
            self.clear_grid();
            imp.plain_rows.replace(Vec::new());
            imp.region_kinds.replace(Vec::new());
            imp.summary_label.set_visible(false);
            imp.stack.set_visible_child_name("empty");
            return;
        };
        let changed = view
            .regions
            .iter()
            .filter(|r| RegionKind::from_wire(r.kind) != RegionKind::Unchanged)
            .count();
        imp.summary_label
            .set_label(&three_way_text::summary(view.conflicts, changed));
        imp.summary_label.set_visible(true);
        imp.stack.set_visible_child_name("loading");
        let palette = Palette::for_dark(adw::StyleManager::default().is_dark());
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = widget)]
            self,
            async move {
                let result = gio::spawn_blocking(move || three_way::rows(&view, palette)).await;
                if widget.imp().generation.get() != generation {
                    return;
                }
                match result {
                    Ok(rows) => widget.fill(rows, context, generation).await,
                    Err(_) => {
                        let imp = widget.imp();
                        imp.empty_label.set_label(&three_way_text::empty());
                        imp.stack.set_visible_child_name("empty");
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

    async fn fill(&self, rows: Vec<Row>, context: ThreeWayContext, generation: u64) {
        let imp = self.imp();
        self.clear_grid();
        let grid = imp.grid.get();
        let mut plain = Vec::with_capacity(rows.len() + 1);
        let mut kinds = Vec::new();

        let headings = three_way_text::headings(context);
        for (column, heading) in headings.iter().enumerate() {
            let label = gtk::Label::new(Some(heading));
            label.set_xalign(0.0);
            label.set_wrap(true);
            label.add_css_class("heading");
            label.add_css_class("three-way-column-heading");
            grid.attach(&label, column as i32, 0, 1, 1);
        }
        plain.push(headings.join(" │ "));

        for (index, row) in rows.into_iter().enumerate() {
            if index > 0 && index % ROWS_PER_TURN == 0 {
                glib::timeout_future(std::time::Duration::ZERO).await;
                if imp.generation.get() != generation {
                    return;
                }
            }
            let y = i32::try_from(index + 1).unwrap_or(i32::MAX);
            match row {
                Row::Heading { kind, .. } => {
                    let text = three_way_text::region(kind, context);
                    let label = gtk::Label::new(Some(&text));
                    label.set_xalign(0.0);
                    label.set_wrap(true);
                    label.add_css_class("three-way-region-heading");
                    label.add_css_class(kind.css_class());
                    grid.attach(&label, 0, y, COLUMNS, 1);
                    plain.push(format!("== {text} =="));
                    kinds.push(kind);
                }
                Row::Folded { lines } => {
                    let label = gtk::Label::new(Some(&three_way_text::folded(lines)));
                    label.set_xalign(0.5);
                    label.add_css_class("three-way-folded");
                    grid.attach(&label, 0, y, COLUMNS, 1);
                    plain.push(three_way_text::folded(lines));
                }
                Row::Lines { kind, cells } => {
                    let mut texts = Vec::with_capacity(3);
                    for (column, cell) in cells.into_iter().enumerate() {
                        let x = column as i32;
                        let class = if kind.changed(column) {
                            kind.css_class()
                        } else if kind == RegionKind::Unchanged {
                            "three-way-unchanged"
                        } else {
                            "three-way-base"
                        };
                        let boxed = gtk::Box::new(gtk::Orientation::Horizontal, 0);
                        boxed.set_hexpand(true);
                        match cell {
                            Some(cell) => {
                                boxed.add_css_class(class);
                                let number = gtk::Label::new(Some(&cell.number));
                                number.set_xalign(1.0);
                                number.set_yalign(0.0);
                                number.set_width_chars(4);
                                number.add_css_class("diff-number");
                                let text = text_label(&cell.markup);
                                text.add_css_class("diff-line");
                                text.set_hexpand(true);
                                boxed.append(&number);
                                boxed.append(&text);
                                texts.push(cell.plain);
                            }
                            None => {
                                boxed.add_css_class("diff-empty");
                                texts.push(String::new());
                            }
                        }
                        grid.attach(&boxed, x, y, 1, 1);
                    }
                    plain.push(texts.join(" │ "));
                }
            }
        }
        imp.plain_rows.replace(plain);
        imp.region_kinds.replace(kinds);
        imp.stack.set_visible_child_name("view");
    }
}

/// A wrapping label: long lines wrap at any character, never scroll out of sight.
/// Pango draws a hyphen where it breaks inside a word; that hyphen is not in the file,
/// so it is turned off (the attributes are merged with the markup's).
fn text_label(markup: &str) -> gtk::Label {
    let label = gtk::Label::new(None);
    label.set_markup(markup);
    let attributes = gtk::pango::AttrList::new();
    attributes.insert(gtk::pango::AttrInt::new_insert_hyphens(false));
    label.set_attributes(Some(&attributes));
    label.set_wrap(true);
    label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
    label.set_xalign(0.0);
    label.set_yalign(0.0);
    label.set_width_chars(1);
    label.set_max_width_chars(1);
    label
}
