//! `QcsReviewPane`: one proposal from a qube — its findings first (most severe first,
//! each linked to its line), its diff (unified or side by side), per-hunk decisions,
//! and Accept. Nothing can be decided before the whole diff is laid out; Accept then
//! waits for every gated finding to be acknowledged, each by itself, and one accepted
//! hunk. Names from the qube go through the safe renderer; when the proposal or the
//! store changes under the pane it says so and offers to reload.
//!
//! Layout: the findings sit above the diff in a vertical `GtkPaned` (drag the handle;
//! the pane keeps the height chosen for the next proposal, and neither side can be
//! dragged to nothing); control rows wrap onto more lines and button labels wrap, so
//! the pane fits a 360 px window with every control inside it.

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

use adw::prelude::*;
use gtk::glib::subclass::Signal;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};
use qcs_client::types::{DiffView, ProposalStatus, ProposalView};

use crate::backend::{Backend, BackendError};
use crate::i18n::{gettext_f, ngettext_f};
use crate::model::diff_rows::Layout;
use crate::model::markup::{self, Palette, Side};
use crate::model::review::{
    HunkDecision, ReviewState, ThreeWayContext, lines_of_findings, refusal_words,
};
use crate::model::{Severity, SeverityExt};
use crate::widgets::diff_view::IndexModel;
use crate::widgets::{QcsDiffView, QcsFindingRow, QcsThreeWayView, QcsWrapBox};

/// One file of a multi-file submission, as the pane lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFile {
    pub id: i64,
    pub path: String,
    /// The most severe finding of the file, if any.
    pub severity: Option<Severity>,
}

/// The most severe finding of a proposal, if any.
pub fn riskiest(proposal: &ProposalView) -> Option<Severity> {
    proposal
        .findings
        .iter()
        .map(|f| f.severity)
        .max_by_key(|s| s.order())
}

/// Order a submission's files for review: most severe first, then by id.
pub fn riskiest_first(files: &mut [BatchFile]) {
    files.sort_by_key(|f| (std::cmp::Reverse(f.severity.map(Severity::order)), f.id));
}

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
            // Long labels (and German ones) wrap inside their buttons rather than
            // widen the window.
            for button in [
                self.unified_toggle.upcast_ref::<gtk::Button>(),
                self.split_toggle.upcast_ref(),
                self.three_way_toggle.upcast_ref(),
                self.accept_all_button.upcast_ref(),
                self.reject_all_button.upcast_ref(),
                self.reject_button.upcast_ref(),
                self.accept_button.upcast_ref(),
            ] {
                wrap_label_of(button);
            }
            // A move of the handle at an unchanged height is the user's choice (a
            // resize of the window clamps it without being one).
            self.findings_paned.connect_position_notify(glib::clone!(
                #[weak]
                obj,
                move |paned| {
                    let imp = obj.imp();
                    let height = paned.height();
                    let same = imp.paned_height.replace(height) == height;
                    if same && height > 0 && !imp.placing.get() && paned.is_position_set() {
                        imp.findings_chosen.set(Some(paned.position()));
                    }
                }
            ));
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

    /// Give the findings their room above the diff: where the user put the handle, or
    /// else as much as the list needs up to its cap (GtkPaned alone would give them
    /// only their smallest height). Once laid out, in an idle turn.
    fn place_findings(&self) {
        if self.imp().findings_chosen.get().is_some() {
            return;
        }
        glib::idle_add_local_once(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move || {
                let imp = pane.imp();
                if imp.findings_chosen.get().is_some() {
                    return;
                }
                let width = imp.findings_box.width();
                if width <= 0 {
                    return;
                }
                let (_, natural, _, _) =
                    imp.findings_box.measure(gtk::Orientation::Vertical, width);
                // Within what the paned allows, so it need not clamp (which would look
                // like a move by the user).
                let paned = &imp.findings_paned;
                let position = natural.min(paned.max_position()).max(paned.min_position());
                imp.placing.set(true);
                paned.set_position(position);
                imp.placing.set(false);
            }
        ));
    }

    fn setup_batch_dropdown(&self) {
        let imp = self.imp();
        // Paths may be 4 000 bytes: the list and the button cut them to fit.
        let factory = gtk::SignalListItemFactory::new();
        factory.connect_setup(|_, item| {
            if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                let label = gtk::Label::new(None);
                label.set_xalign(0.0);
                label.set_ellipsize(gtk::pango::EllipsizeMode::Middle);
                label.set_max_width_chars(40);
                label.set_width_chars(12);
                item.set_child(Some(&label));
            }
        });
        factory.connect_bind(|_, item| {
            if let Some(item) = item.downcast_ref::<gtk::ListItem>()
                && let (Some(label), Some(text)) = (
                    item.child().and_downcast::<gtk::Label>(),
                    item.item().and_downcast::<gtk::StringObject>(),
                )
            {
                label.set_label(&text.string());
            }
        });
        imp.batch_dropdown.set_factory(Some(&factory));
        imp.batch_dropdown.connect_selected_notify(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move |dropdown| {
                if pane.imp().batch_syncing.get() {
                    return;
                }
                let id = pane
                    .imp()
                    .batch
                    .borrow()
                    .get(dropdown.selected() as usize)
                    .map(|f| f.id);
                if let Some(id) = id
                    && Some(id) != pane.proposal_id()
                {
                    pane.open_file(id);
                }
            }
        ));
    }

    /// Review the files of one submission as a unit: `files` riskiest first (see
    /// [`riskiest_first`]); fewer than two hide the list.
    pub fn set_batch(&self, files: Vec<BatchFile>) {
        let imp = self.imp();
        let labels: Vec<String> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let marker = f.severity.map_or("·", Severity::symbol);
                format!(
                    "{}/{} {marker} #{} · {}",
                    i + 1,
                    files.len(),
                    f.id,
                    markup::name_plain(&f.path)
                )
            })
            .collect();
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        imp.batch_syncing.set(true);
        imp.batch_dropdown
            .set_model(Some(&gtk::StringList::new(&refs)));
        imp.batch_dropdown.set_visible(files.len() > 1);
        imp.batch.replace(files);
        self.sync_batch_selection();
        imp.batch_syncing.set(false);
    }

    /// The submission's files as listed, riskiest first.
    pub fn batch(&self) -> Vec<BatchFile> {
        self.imp().batch.borrow().clone()
    }

    fn sync_batch_selection(&self) {
        let imp = self.imp();
        let id = self.proposal_id();
        if let Some(index) = imp.batch.borrow().iter().position(|f| Some(f.id) == id) {
            let was = imp.batch_syncing.replace(true);
            imp.batch_dropdown
                .set_selected(u32::try_from(index).unwrap_or(u32::MAX));
            imp.batch_syncing.set(was);
        }
    }

    /// Open another file of the submission on show.
    pub fn open_file(&self, id: i64) {
        let Some(backend) = self.imp().backend.borrow().clone() else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            async move {
                match backend.proposal(id).await {
                    Ok(view) => pane.show(view),
                    Err(e) => pane.done(Err(e.to_string())),
                }
            }
        ));
    }

    /// Say that the shown review is out of date (`message`, in words), close the gate
    /// and offer to reload.
    pub fn mark_stale(&self, message: &str) {
        let imp = self.imp();
        imp.stale.set(true);
        imp.stale_label.set_label(message);
        imp.stale_revealer.set_reveal_child(true);
        imp.reload_button.set_visible(true);
        self.update_gate();
    }

    /// The proposal was decided elsewhere: say so; there is nothing to reload.
    pub fn mark_gone(&self, message: &str) {
        self.mark_stale(message);
        self.imp().reload_button.set_visible(false);
    }

    /// The stale message on show, if any.
    pub fn stale_message(&self) -> Option<String> {
        let imp = self.imp();
        imp.stale.get().then(|| imp.stale_label.label().to_string())
    }

    /// Fetch the proposal again and show it as it is now.
    pub fn reload(&self) {
        let imp = self.imp();
        let (Some(backend), Some(id)) = (imp.backend.borrow().clone(), self.proposal_id()) else {
            return;
        };
        imp.busy.set(true);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            async move {
                let result = backend.proposal(id).await;
                pane.imp().busy.set(false);
                match result {
                    Ok(view) if view.summary.status == ProposalStatus::Pending => pane.show(view),
                    Ok(_) => pane.mark_gone(&gettextrs::gettext(
                        "This proposal was decided elsewhere (accepted or rejected); there is nothing left to review.",
                    )),
                    Err(e) => pane.mark_gone(&gettext_f(
                        "This proposal cannot be opened any more: {error}",
                        &[("error", &e.to_string())],
                    )),
                }
            }
        ));
    }

    /// Whether `newer` (fetched now) is what the pane shows; when not, the pane says
    /// so and shows `newer` from its top (scroll positions and decisions reset).
    pub fn refresh_from(&self, newer: ProposalView) -> bool {
        let same = self
            .imp()
            .proposal
            .borrow()
            .as_ref()
            .is_some_and(|shown| same_review(shown, &newer));
        if !same && !self.imp().busy.get() {
            self.show(newer);
            self.mark_stale(&gettextrs::gettext(
                "The proposal or the store changed while you were reviewing: the review was opened again as it is now. Decisions and acknowledgements start over.",
            ));
            self.imp().reload_button.set_visible(false);
        }
        same
    }

    fn fill_findings(&self, proposal: &ProposalView, state: &ReviewState) {
        let imp = self.imp();
        let mut order: Vec<usize> = (0..proposal.findings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(proposal.findings[i].severity.order()));
        // Every finding is in the list's model at once, the most severe first; the list
        // makes rows for the findings on screen only, so thousands of findings (a
        // hidden character on every line) cost no widget each.
        let lines = lines_of_findings(&proposal.diff, &proposal.findings);
        let rows: Vec<(usize, bool, Option<usize>)> = order
            .into_iter()
            .map(|index| (index, state.is_blocking(index), lines[index]))
            .collect();
        // The rows read the proposal and the review state: the model takes the
        // findings once both are the new ones (`list_findings`).
        if let Some(model) = imp.findings_model.borrow().as_ref() {
            model.set_len(0);
        }
        imp.finding_rows.borrow_mut().clear();
        imp.finding_order.replace(rows);

        let mut counts = [0u32; 5];
        for finding in &proposal.findings {
            counts[usize::from(finding.severity.order())] += 1;
        }
        let parts: Vec<String> = [
            (Severity::Critical, "{n} critical", "{n} critical"),
            (Severity::High, "{n} high", "{n} high"),
            (Severity::Medium, "{n} medium", "{n} medium"),
            (Severity::Low, "{n} low", "{n} low"),
            (Severity::Info, "{n} info", "{n} info"),
        ]
        .into_iter()
        .filter(|(s, _, _)| counts[usize::from(s.order())] > 0)
        .map(|(s, one, many)| ngettext_f(one, many, counts[usize::from(s.order())], &[]))
        .collect();
        imp.findings_heading.set_label(&if parts.is_empty() {
            gettextrs::gettext("No findings")
        } else {
            gettext_f("Findings: {list}", &[("list", &parts.join(" · "))])
        });
    }

    /// Put every finding into the findings list's model (the proposal and its review
    /// state are the pane's).
    fn list_findings(&self) {
        let imp = self.imp();
        let count = u32::try_from(imp.finding_order.borrow().len()).unwrap_or(u32::MAX);
        if let Some(model) = imp.findings_model.borrow().as_ref() {
            model.set_len(count);
        }
    }

    /// The findings list: a `GtkListView` over one position per finding, its rows
    /// made for the findings on screen and bound to the finding at their position.
    fn setup_findings_list(&self) {
        let imp = self.imp();
        let model = IndexModel::default();
        imp.findings_list
            .set_model(Some(&gtk::NoSelection::new(Some(model.clone()))));
        imp.findings_model.replace(Some(model));
        let factory = gtk::SignalListItemFactory::new();
        factory.connect_setup(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move |_, item| {
                if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                    item.set_child(Some(&pane.finding_row()));
                    item.set_activatable(false);
                    item.set_selectable(false);
                }
            }
        ));
        factory.connect_bind(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move |_, item| {
                if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                    pane.bind_finding_row(item);
                }
            }
        ));
        factory.connect_unbind(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move |_, item| {
                if let Some(row) = item
                    .downcast_ref::<gtk::ListItem>()
                    .and_then(|item| item.child().and_downcast::<QcsFindingRow>())
                {
                    pane.imp()
                        .finding_rows
                        .borrow_mut()
                        .retain(|_, r| *r != row);
                }
            }
        ));
        imp.findings_list.set_factory(Some(&factory));
    }

    /// A finding row (bound to a finding later): its check box acknowledges the
    /// finding it shows, its line button shows that finding's line.
    fn finding_row(&self) -> QcsFindingRow {
        let row = QcsFindingRow::new();
        row.ack_check().connect_toggled(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            #[weak]
            row,
            move |check| {
                if pane.imp().acks_syncing.get() {
                    return;
                }
                let Some((index, _)) = row.finding() else {
                    check.set_active(false);
                    return;
                };
                let taken = pane
                    .imp()
                    .state
                    .borrow_mut()
                    .as_mut()
                    .is_some_and(|state| state.set_acknowledged(index, check.is_active()));
                if check.is_active() && !taken {
                    // Refused (not shown yet): the box shows the state.
                    pane.sync_finding_row(&row);
                    return;
                }
                pane.sync_finding_row(&row);
                pane.update_gate();
            }
        ));
        row.line_button().connect_clicked(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            #[weak]
            row,
            move |_| {
                if let Some((_, Some(line))) = row.finding() {
                    pane.imp().diff_view.show_line(line);
                }
            }
        ));
        row
    }

    fn bind_finding_row(&self, item: &gtk::ListItem) {
        let imp = self.imp();
        let Some(row) = item.child().and_downcast::<QcsFindingRow>() else {
            return;
        };
        let position = item.position();
        let Some((index, blocking, line)) = usize::try_from(position)
            .ok()
            .and_then(|p| imp.finding_order.borrow().get(p).copied())
        else {
            return;
        };
        {
            let proposal = imp.proposal.borrow();
            let Some(finding) = proposal.as_ref().and_then(|p| p.findings.get(index)) else {
                return;
            };
            row.bind(finding, index, blocking, line);
        }
        self.sync_finding_row(&row);
        imp.finding_rows.borrow_mut().insert(position, row);
    }

    /// Set a finding row's check box from the review state and whether decisions are
    /// open now.
    fn sync_finding_row(&self, row: &QcsFindingRow) {
        let imp = self.imp();
        let acknowledged = row.finding().is_some_and(|(index, _)| {
            imp.state
                .borrow()
                .as_ref()
                .is_some_and(|state| state.is_acknowledged(index))
        });
        imp.acks_syncing.set(true);
        row.ack_check().set_active(acknowledged);
        row.ack_check().set_sensitive(self.decisions_open());
        imp.acks_syncing.set(false);
        if acknowledged {
            row.add_css_class("finding-acknowledged");
        } else {
            row.remove_css_class("finding-acknowledged");
        }
    }

    /// Mark every hunk; refused (false) until the diff is laid out, so "mark all" can
    /// never decide hunks no row shows yet.
    pub fn decide_all(&self, decision: HunkDecision) -> bool {
        let imp = self.imp();
        if imp.stale.get() || imp.three_way_toggle.is_active() {
            return false;
        }
        imp.diff_view.decide_all(decision)
    }

    /// Whether the pane takes decisions now: the diff laid out, the review current.
    fn decisions_open(&self) -> bool {
        let imp = self.imp();
        imp.diff_view.laid_out() && !imp.stale.get() && imp.proposal.borrow().is_some()
    }

    fn gate(&self) -> Option<Result<(), crate::model::review::Blocked>> {
        let imp = self.imp();
        let laid_out = self.decisions_open();
        let decisions = imp.diff_view.decisions();
        imp.state
            .borrow()
            .as_ref()
            .map(|s| s.accept_gate(laid_out, &decisions))
    }

    fn update_gate(&self) {
        let imp = self.imp();
        let open = self.decisions_open();
        let per_hunk = open && !imp.three_way_toggle.is_active();
        imp.accept_all_button.set_sensitive(per_hunk);
        imp.reject_all_button.set_sensitive(per_hunk);
        for row in imp.finding_rows.borrow().values() {
            row.ack_check().set_sensitive(open);
        }
        let gate = self.gate();
        match gate {
            Some(Ok(())) => {
                let decisions = imp.diff_view.decisions();
                let accepted = decisions
                    .iter()
                    .filter(|d| **d == HunkDecision::Accept)
                    .count();
                imp.gate_label.set_label(&gettext_f(
                    "{accepted} of {total} changes marked to accept",
                    &[
                        ("accepted", &accepted.to_string()),
                        ("total", &decisions.len().to_string()),
                    ],
                ));
                imp.accept_button.set_sensitive(!imp.busy.get());
                imp.accept_button.set_tooltip_text(None);
            }
            Some(Err(blocked)) => {
                let why = if imp.stale.get() {
                    gettextrs::gettext("Reload the proposal first")
                } else {
                    blocked.explain()
                };
                imp.gate_label.set_label(&why);
                imp.accept_button.set_sensitive(false);
                imp.accept_button.set_tooltip_text(Some(&why));
            }
            None => {
                imp.gate_label.set_label("");
                imp.accept_button.set_sensitive(false);
            }
        }
        imp.reject_button
            .set_sensitive(gate.is_some() && !imp.stale.get() && !imp.busy.get());
    }

    /// Whether Accept is enabled.
    pub fn can_accept(&self) -> bool {
        self.imp().accept_button.is_sensitive()
    }

    /// Accept the marked hunks (no-op while the gate is closed: the shortcut and the
    /// button check the same gate).
    pub fn accept(&self) {
        let imp = self.imp();
        if imp.busy.get() || !matches!(self.gate(), Some(Ok(()))) {
            return;
        }
        let (Some(backend), Some(id)) = (imp.backend.borrow().clone(), self.proposal_id()) else {
            return;
        };
        let decisions = imp.diff_view.decisions();
        let (digest, hunks, acknowledged) = match imp.state.borrow().as_ref() {
            Some(state) => (
                state.digest().to_owned(),
                state.accepted_hunks(&decisions),
                state.acknowledgements(),
            ),
            None => return,
        };
        imp.busy.set(true);
        self.update_gate();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            async move {
                let result = backend
                    .accept_proposal(id, &digest, &hunks, &acknowledged)
                    .await;
                pane.imp().busy.set(false);
                match result {
                    Ok(generation) => pane.done(Ok(gettext_f(
                        "Proposal #{id} accepted: the profile is now at generation {generation}",
                        &[
                            ("id", &id.to_string()),
                            ("generation", &generation.to_string()),
                        ],
                    ))),
                    Err(e) => pane.refused(&e),
                }
                pane.update_gate();
            }
        ));
    }

    /// The backend refused an accept: say why in words (from its reason code, never
    /// its English message), close the gate and offer to reload.
    fn refused(&self, error: &BackendError) {
        let words = match error {
            BackendError::Review(refusal) => {
                refusal_words(refusal.code.as_str(), refusal.ids.len())
            }
            other => gettext_f(
                "Not accepted: {error}. Reload to review the proposal again.",
                &[("error", &other.to_string())],
            ),
        };
        self.mark_stale(&words);
        self.done(Err(words));
    }

    /// Reject the whole proposal.
    pub fn reject(&self) {
        let imp = self.imp();
        if imp.busy.get() {
            return;
        }
        let (Some(backend), Some(id)) = (imp.backend.borrow().clone(), self.proposal_id()) else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            async move {
                let result = backend.reject_proposal(id).await;
                pane.done(match result {
                    Ok(()) => Ok(gettext_f(
                        "Proposal #{id} rejected",
                        &[("id", &id.to_string())],
                    )),
                    Err(e) => Err(e.to_string()),
                });
            }
        ));
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

    /// The finding rows in display order, with the finding index each shows.
    pub fn finding_rows(&self) -> Vec<(usize, QcsFindingRow)> {
        self.imp()
            .finding_rows
            .borrow()
            .values()
            .filter_map(|row| row.finding().map(|(index, _)| (index, row.clone())))
            .collect()
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

    pub fn findings_scroller(&self) -> gtk::ScrolledWindow {
        self.imp().findings_scroller.get()
    }

    pub fn reload_button(&self) -> gtk::Button {
        self.imp().reload_button.get()
    }

    /// The handle between the findings (above) and the diff (below).
    pub fn findings_paned(&self) -> gtk::Paned {
        self.imp().findings_paned.get()
    }

    /// The rows of controls that wrap in a narrow window: the view toggles with the
    /// "mark all" buttons, and the gate's words with Reject and Accept.
    pub fn wrapping_rows(&self) -> [QcsWrapBox; 2] {
        let imp = self.imp();
        [imp.diff_controls.get(), imp.decision_bar.get()]
    }

    /// The buttons of the pane's control rows, for checks: view toggles, mark all,
    /// Reject and Accept (the three-way toggle only when shown).
    pub fn controls(&self) -> Vec<gtk::Widget> {
        let imp = self.imp();
        let mut controls: Vec<gtk::Widget> = vec![
            imp.unified_toggle.get().upcast(),
            imp.split_toggle.get().upcast(),
            imp.accept_all_button.get().upcast(),
            imp.reject_all_button.get().upcast(),
            imp.reject_button.get().upcast(),
            imp.accept_button.get().upcast(),
            imp.path_button.get().upcast(),
        ];
        if imp.three_way_toggle.is_visible() {
            controls.push(imp.three_way_toggle.get().upcast());
        }
        controls
    }

    pub fn findings_heading(&self) -> String {
        self.imp().findings_heading.label().to_string()
    }
}

/// Let a button's own label wrap between words (centred), so its narrowest width is
/// its longest word.
fn wrap_label_of(button: &gtk::Button) {
    if let Some(label) = button.child().and_downcast::<gtk::Label>() {
        label.set_wrap(true);
        label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
        label.set_justify(gtk::Justification::Center);
        // Pango would draw a hyphen that is not in the text where it breaks a word.
        let attributes = gtk::pango::AttrList::new();
        attributes.insert(gtk::pango::AttrInt::new_insert_hyphens(false));
        label.set_attributes(Some(&attributes));
    }
}

/// Whether two fetches of a proposal show the same review: the backend's digest covers
/// the version, base, hunks, findings and rules; a decided proposal is no longer the
/// review that was open.
fn same_review(a: &ProposalView, b: &ProposalView) -> bool {
    a.summary.id == b.summary.id
        && a.summary.status == b.summary.status
        && !a.digest.is_empty()
        && a.digest == b.digest
}
