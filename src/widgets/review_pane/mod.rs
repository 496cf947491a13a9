//! `QcsReviewPane`: one proposal from a qube — its findings first (most severe first,
//! each linked to its line), its diff (unified or side by side), per-hunk decisions,
//! and Accept. This file holds the widget: its template, state, signals, the wiring
//! of its controls and `show()`, which fills it from a proposal. Names from the qube
//! go through the safe renderer, never into markup as they are; the pane keeps no
//! second copy of the diff. It must not decide, list findings or place the layout
//! itself: that is the job of its parts —
//!
//! * `findings.rs`: the findings list (model, factory, binding of `QcsFindingRow`);
//! * `layout.rs`: the findings/diff handle and the narrow (360 px) layout;
//! * `decision.rs`: the gate, per-hunk marks, Accept and Reject;
//! * `stale.rs`: a proposal or store that changed under the pane, and reload;
//! * `batch.rs`: the files of a multi-file submission.

mod batch;
mod decision;
mod findings;
mod layout;
mod stale;

pub use batch::{BatchFile, riskiest, riskiest_first};

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

use adw::prelude::*;
use gtk::glib::subclass::Signal;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};
use qcs_client::types::{DiffView, ProposalView};

use crate::backend::Backend;
use crate::i18n::gettext_f;
use crate::model::diff_rows::Layout;
use crate::model::markup::{self, Palette, Side};
use crate::model::review::{HunkDecision, ReviewState, ThreeWayContext};
use crate::widgets::diff_view::IndexModel;
use crate::widgets::{QcsDiffView, QcsFindingRow, QcsThreeWayView, QcsWrapBox};

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/review_pane.ui")]
    pub struct QcsReviewPane {
        #[template_child]
        pub stale_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub stale_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub reload_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub title_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub batch_dropdown: TemplateChild<gtk::DropDown>,
        #[template_child]
        pub path_button: TemplateChild<gtk::MenuButton>,
        #[template_child]
        pub path_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub subtitle_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub note_expander: TemplateChild<gtk::Expander>,
        #[template_child]
        pub note_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub findings_paned: TemplateChild<gtk::Paned>,
        #[template_child]
        pub findings_box: TemplateChild<gtk::Box>,
        #[template_child]
        pub diff_controls: TemplateChild<QcsWrapBox>,
        #[template_child]
        pub decision_bar: TemplateChild<QcsWrapBox>,
        #[template_child]
        pub findings_heading: TemplateChild<gtk::Label>,
        #[template_child]
        pub findings_scroller: TemplateChild<gtk::ScrolledWindow>,
        #[template_child]
        pub findings_list: TemplateChild<gtk::ListView>,
        #[template_child]
        pub unified_toggle: TemplateChild<gtk::ToggleButton>,
        #[template_child]
        pub split_toggle: TemplateChild<gtk::ToggleButton>,
        #[template_child]
        pub accept_all_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub reject_all_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub diff_view: TemplateChild<QcsDiffView>,
        #[template_child]
        pub three_way_toggle: TemplateChild<gtk::ToggleButton>,
        #[template_child]
        pub view_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub three_way_view: TemplateChild<QcsThreeWayView>,
        #[template_child]
        pub gate_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub reject_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub accept_button: TemplateChild<gtk::Button>,
        pub backend: RefCell<Option<Backend>>,
        pub proposal: RefCell<Option<ProposalView>>,
        pub state: RefCell<Option<ReviewState>>,
        /// The findings list's model: one position per finding, in display order.
        pub findings_model: RefCell<Option<IndexModel>>,
        /// Per position of the findings list: the finding's index in the proposal,
        /// whether it must be acknowledged, its rendered line.
        pub finding_order: RefCell<Vec<(usize, bool, Option<usize>)>>,
        /// Finding rows on screen (bound), by position.
        pub finding_rows: RefCell<std::collections::BTreeMap<u32, QcsFindingRow>>,
        /// Set while a row's check box is set from the review state (not a user's act).
        pub acks_syncing: Cell<bool>,
        /// Set while the shown review no longer matches the backend's.
        pub stale: Cell<bool>,
        /// A call (accept, reject, reload) is in flight.
        pub busy: Cell<bool>,
        /// The files of the submission on show, riskiest first (empty: one file).
        pub batch: RefCell<Vec<BatchFile>>,
        /// Set while the batch list is set from code (not the user's choice).
        pub batch_syncing: Cell<bool>,
        /// Where the user put the handle between findings and diff (kept for the next
        /// proposal); `None` until they move it.
        pub findings_chosen: Cell<Option<i32>>,
        /// Set while the pane places the handle itself.
        pub placing: Cell<bool>,
        /// The handle's pane height at its last move (a move at another height is the
        /// window's doing, not the user's).
        pub paned_height: Cell<i32>,
    }

    impl std::fmt::Debug for QcsReviewPane {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("QcsReviewPane").finish_non_exhaustive()
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsReviewPane {
        const NAME: &'static str = "QcsReviewPane";
        type Type = super::QcsReviewPane;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            QcsDiffView::ensure_type();
            QcsThreeWayView::ensure_type();
            QcsWrapBox::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsReviewPane {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    Signal::builder("decided")
                        .param_types([String::static_type()])
                        .build(),
                    Signal::builder("failed")
                        .param_types([String::static_type()])
                        .build(),
                ]
            })
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.setup_findings_list();
            obj.setup_layout();
            self.split_toggle.connect_toggled(glib::clone!(
                #[weak]
                obj,
                move |toggle| {
                    if toggle.is_active() {
                        obj.imp().diff_view.set_layout(Layout::SideBySide);
                    }
                }
            ));
            self.unified_toggle.connect_toggled(glib::clone!(
                #[weak]
                obj,
                move |toggle| {
                    if toggle.is_active() {
                        obj.imp().diff_view.set_layout(Layout::Unified);
                    }
                }
            ));
            self.three_way_toggle.connect_toggled(glib::clone!(
                #[weak]
                obj,
                move |toggle| {
                    obj.imp()
                        .view_stack
                        .set_visible_child_name(if toggle.is_active() {
                            "three-way"
                        } else {
                            "diff"
                        });
                    obj.update_gate();
                }
            ));
            self.diff_view.connect_decisions_changed(glib::clone!(
                #[weak]
                obj,
                move |_| obj.update_gate()
            ));
            self.diff_view.connect_laid_out_notify(glib::clone!(
                #[weak]
                obj,
                move |view| {
                    if view.laid_out()
                        && let Some(state) = obj.imp().state.borrow_mut().as_mut()
                    {
                        state.mark_all_shown();
                    }
                    obj.update_gate();
                }
            ));
            self.accept_all_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| {
                    obj.decide_all(HunkDecision::Accept);
                }
            ));
            self.reject_all_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| {
                    obj.decide_all(HunkDecision::Reject);
                }
            ));
            self.accept_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.accept()
            ));
            self.reject_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.reject()
            ));
            self.reload_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.reload()
            ));
            obj.setup_batch_dropdown();
        }
    }
    impl WidgetImpl for QcsReviewPane {}
    impl BoxImpl for QcsReviewPane {}
}

glib::wrapper! {
    pub struct QcsReviewPane(ObjectSubclass<imp::QcsReviewPane>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl QcsReviewPane {
    pub fn set_backend(&self, backend: Backend) {
        self.imp().backend.replace(Some(backend));
    }

    /// `decided`: the proposal on show was accepted or rejected; a message for a toast.
    pub fn connect_decided<F: Fn(&Self, String) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "decided",
            false,
            glib::closure_local!(move |pane: &Self, message: String| f(pane, message)),
        )
    }

    /// `failed`: a call (accept, reject, reload) failed; the error as a sentence.
    pub fn connect_failed<F: Fn(&Self, String) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "failed",
            false,
            glib::closure_local!(move |pane: &Self, error: String| f(pane, error)),
        )
    }

    /// Emit `decided` or `failed` for the outcome of a call.
    fn done(&self, result: Result<String, String>) {
        match result {
            Ok(message) => self.emit_by_name::<()>("decided", &[&message]),
            Err(error) => self.emit_by_name::<()>("failed", &[&error]),
        }
    }

    /// The proposal on show, if any.
    pub fn proposal_id(&self) -> Option<i64> {
        self.imp().proposal.borrow().as_ref().map(|p| p.summary.id)
    }

    /// Show a proposal fetched from the backend, from its top.
    ///
    /// Nothing here walks the diff more than once or copies it: 10 000 hunks are
    /// 90 000 lines, and the findings are drawn in this turn.
    pub fn show(&self, mut proposal: ProposalView) {
        let imp = self.imp();
        let palette = Palette::for_dark(adw::StyleManager::default().is_dark());
        let summary = &proposal.summary;
        // Every name came from a qube (or is about one): through the safe renderer.
        let path = markup::name(&summary.path, palette);
        imp.title_label.set_markup(&gettext_f(
            "Proposal #{id} · {path}",
            &[("id", &summary.id.to_string()), ("path", &path)],
        ));
        imp.path_label.set_markup(&path);
        imp.title_label.set_tooltip_text(Some(&gettextrs::gettext(
            "The path in the qube; ⋯ shows all of it",
        )));
        let received = glib::DateTime::from_unix_local(summary.received_at)
            .and_then(|t| t.format("%Y-%m-%d %H:%M"))
            .map(|s| s.to_string())
            .unwrap_or_default();
        let mode = proposal.mode.clone().unwrap_or_else(|| "—".into());
        let base = if proposal.base_b64.is_some() {
            gettextrs::gettext("changes the store's version")
        } else {
            gettextrs::gettext("a new file")
        };
        imp.subtitle_label.set_markup(&gettext_f(
            "From {qube} · profile {profile} · mode {mode} · received {time} · {base}",
            &[
                ("qube", &markup::name(&summary.source_qube, palette)),
                ("profile", &markup::name(&summary.profile, palette)),
                ("mode", &markup::name(&mode, palette)),
                ("time", &markup::escape(&received)),
                ("base", &markup::escape(&base)),
            ],
        ));
        // The note came from the qube: shown only through its rendered segments, in a
        // collapsible, height-capped box.
        if proposal.note.is_empty() {
            imp.note_expander.set_visible(false);
            imp.note_label.set_label("");
        } else {
            let note = markup::mark_mixed_scripts(&proposal.note);
            imp.note_label
                .set_markup(&markup::segments(&note, Side::Neutral, palette));
            imp.note_expander.set_visible(true);
        }
        // A templated file: its source beside the diff (proposal_template.rs).
        crate::widgets::proposal_template::attach(
            &*imp.note_expander,
            imp.backend.borrow().clone(),
            summary.id,
        );

        let state = ReviewState::new(&proposal);
        self.fill_findings(&proposal, &state);
        imp.state.replace(Some(state));
        imp.findings_scroller.vadjustment().set_value(0.0);
        self.place_findings();
        // The diff view takes the diff (the pane keeps no second copy of it).
        let minimal = proposal.diff.minimal;
        let diff = std::mem::replace(
            &mut proposal.diff,
            DiffView {
                hunks: Vec::new(),
                lines: Vec::new(),
                minimal,
            },
        );
        imp.diff_view.set_diff(Some(diff), true);
        // The three-way toggle is offered only when the store moved on since the base;
        // a proposal always opens on its diff.
        let has_three_way = proposal.three_way.is_some();
        if imp.three_way_toggle.is_active() {
            imp.unified_toggle.set_active(true);
        }
        imp.three_way_toggle.set_visible(has_three_way);
        imp.three_way_view
            .set_view(proposal.three_way.clone(), ThreeWayContext::Proposal);
        // The proposal shown before may be large: freed on a worker thread.
        if let Some(previous) = imp.proposal.replace(Some(proposal)) {
            drop(gio::spawn_blocking(move || drop(previous)));
        }
        self.list_findings();
        self.sync_batch_selection();
        imp.stale.set(false);
        imp.stale_revealer.set_reveal_child(false);
        self.update_gate();
    }

    /// Switch between unified and side by side.
    pub fn toggle_layout(&self) {
        let imp = self.imp();
        if imp.split_toggle.is_active() {
            imp.unified_toggle.set_active(true);
        } else {
            imp.split_toggle.set_active(true);
        }
    }

    pub fn diff_view(&self) -> QcsDiffView {
        self.imp().diff_view.get()
    }

    pub fn three_way_view(&self) -> QcsThreeWayView {
        self.imp().three_way_view.get()
    }

    /// The "Three-way" toggle (shown only for a proposal with a three-way view).
    pub fn three_way_toggle(&self) -> gtk::ToggleButton {
        self.imp().three_way_toggle.get()
    }

    /// Whether the three-way view (rather than the diff) is what is shown.
    pub fn shows_three_way(&self) -> bool {
        self.imp().view_stack.visible_child_name().as_deref() == Some("three-way")
    }

    pub fn accept_button(&self) -> gtk::Button {
        self.imp().accept_button.get()
    }

    /// The title line, as shown (the text after markup).
    pub fn title(&self) -> String {
        self.imp().title_label.text().to_string()
    }

    /// The title and subtitle labels (for layout checks).
    pub fn title_label(&self) -> gtk::Label {
        self.imp().title_label.get()
    }

    pub fn subtitle_label(&self) -> gtk::Label {
        self.imp().subtitle_label.get()
    }

    /// The whole path, as the "⋯" popover shows it.
    pub fn full_path(&self) -> String {
        self.imp().path_label.text().to_string()
    }

    /// The subtitle line, as shown.
    pub fn subtitle(&self) -> String {
        self.imp().subtitle_label.text().to_string()
    }

    /// The note's expander (collapsible) and its label.
    pub fn note(&self) -> (gtk::Expander, gtk::Label) {
        let imp = self.imp();
        (imp.note_expander.get(), imp.note_label.get())
    }

    pub fn reject_button(&self) -> gtk::Button {
        self.imp().reject_button.get()
    }

    pub fn accept_all_button(&self) -> gtk::Button {
        self.imp().accept_all_button.get()
    }

    pub fn reload_button(&self) -> gtk::Button {
        self.imp().reload_button.get()
    }
}
