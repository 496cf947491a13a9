//! `QcsReviewPane`: one proposal from a qube — its findings, its diff (unified or side
//! by side), per-hunk decisions, and Accept, which stays disabled until every critical
//! finding is acknowledged and at least one hunk is marked to accept.

use std::cell::RefCell;

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::ProposalView;

use crate::backend::Backend;
use crate::i18n::{gettext_f, ngettext_f};
use crate::model::Severity;
use crate::model::diff_rows::Layout;
use crate::model::markup::{self, Palette, Side};
use crate::model::review::{HunkDecision, ReviewState, ThreeWayContext, line_of_finding};
use crate::widgets::{QcsDiffView, QcsFindingRow, QcsThreeWayView};

/// Told when a proposal was accepted or rejected (with a message for a toast), or a
/// call failed (with the error).
type DoneHandler = Box<dyn Fn(Result<String, String>)>;

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/review_pane.ui")]
    pub struct QcsReviewPane {
        #[template_child]
        pub title_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub subtitle_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub note_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub findings_heading: TemplateChild<gtk::Label>,
        #[template_child]
        pub findings_list: TemplateChild<gtk::ListBox>,
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
        pub finding_rows: RefCell<Vec<(usize, QcsFindingRow)>>,
        pub on_done: RefCell<Option<DoneHandler>>,
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
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsReviewPane {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
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
                    let imp = obj.imp();
                    imp.view_stack
                        .set_visible_child_name(if toggle.is_active() {
                            "three-way"
                        } else {
                            "diff"
                        });
                    // Per-hunk decisions are made in the diff.
                    imp.accept_all_button.set_sensitive(!toggle.is_active());
                    imp.reject_all_button.set_sensitive(!toggle.is_active());
                }
            ));
            self.diff_view.connect_decision(glib::clone!(
                #[weak]
                obj,
                move |hunk, decision| {
                    if let Some(state) = obj.imp().state.borrow_mut().as_mut() {
                        state.set_decision(hunk, decision);
                    }
                    obj.update_gate();
                }
            ));
            self.accept_all_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.decide_all(HunkDecision::Accept)
            ));
            self.reject_all_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.decide_all(HunkDecision::Reject)
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

    pub fn connect_done<F: Fn(Result<String, String>) + 'static>(&self, handler: F) {
        self.imp().on_done.replace(Some(Box::new(handler)));
    }

    fn done(&self, result: Result<String, String>) {
        if let Some(handler) = self.imp().on_done.borrow().as_ref() {
            handler(result);
        }
    }

    /// The proposal on show, if any.
    pub fn proposal_id(&self) -> Option<i64> {
        self.imp().proposal.borrow().as_ref().map(|p| p.summary.id)
    }

    /// Show a proposal fetched from the backend.
    pub fn show(&self, proposal: ProposalView) {
        let imp = self.imp();
        let summary = &proposal.summary;
        let id = summary.id.to_string();
        imp.title_label.set_label(&gettext_f(
            "Proposal #{id} · {path}",
            &[("id", &id), ("path", &summary.path)],
        ));
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
        imp.subtitle_label.set_label(&gettext_f(
            "From {qube} · profile {profile} · mode {mode} · received {time} · {base}",
            &[
                ("qube", &summary.source_qube),
                ("profile", &summary.profile),
                ("mode", &mode),
                ("time", &received),
                ("base", &base),
            ],
        ));
        // The note came from the qube: shown only through its rendered segments.
        if proposal.note.is_empty() {
            imp.note_label.set_visible(false);
        } else {
            let palette = Palette::for_dark(adw::StyleManager::default().is_dark());
            let note = markup::segments(&proposal.note, Side::Neutral, palette);
            imp.note_label.set_markup(&format!(
                "<i>{}</i> {note}",
                markup::escape(&gettextrs::gettext("Note:"))
            ));
            imp.note_label.set_visible(true);
        }

        let state = ReviewState::new(&proposal);
        self.fill_findings(&proposal, &state);
        imp.state.replace(Some(state));
        imp.diff_view.set_diff(Some(proposal.diff.clone()), true);
        // The three-way toggle is offered only when the store moved on since the base.
        let has_three_way = proposal.three_way.is_some();
        if !has_three_way && imp.three_way_toggle.is_active() {
            imp.unified_toggle.set_active(true);
        }
        imp.three_way_toggle.set_visible(has_three_way);
        imp.three_way_view
            .set_view(proposal.three_way.clone(), ThreeWayContext::Proposal);
        imp.proposal.replace(Some(proposal));
        self.update_gate();
    }

    fn fill_findings(&self, proposal: &ProposalView, state: &ReviewState) {
        let imp = self.imp();
        while let Some(child) = imp.findings_list.first_child() {
            imp.findings_list.remove(&child);
        }
        let mut order: Vec<usize> = (0..proposal.findings.len()).collect();
        order.sort_by_key(|&i| {
            std::cmp::Reverse(Severity::from_wire(&proposal.findings[i].severity))
        });
        let mut rows = Vec::new();
        for index in order {
            let finding = &proposal.findings[index];
            let line = line_of_finding(&proposal.diff, finding);
            let row = QcsFindingRow::new(finding, state.is_blocking(index), line.is_some());
            row.ack_check().connect_toggled(glib::clone!(
                #[weak(rename_to = pane)]
                self,
                #[weak]
                row,
                move |check| {
                    if let Some(state) = pane.imp().state.borrow_mut().as_mut() {
                        state.set_acknowledged(index, check.is_active());
                    }
                    if check.is_active() {
                        row.add_css_class("finding-acknowledged");
                    } else {
                        row.remove_css_class("finding-acknowledged");
                    }
                    pane.update_gate();
                }
            ));
            if let Some(line) = line {
                row.line_button().connect_clicked(glib::clone!(
                    #[weak(rename_to = pane)]
                    self,
                    move |_| pane.imp().diff_view.show_line(line)
                ));
            }
            imp.findings_list.append(&row);
            rows.push((index, row));
        }
        imp.finding_rows.replace(rows);

        let mut counts = [0u32; 4];
        for finding in &proposal.findings {
            counts[Severity::from_wire(&finding.severity) as usize] += 1;
        }
        let parts: Vec<String> = [
            (Severity::Critical, "{n} critical", "{n} critical"),
            (Severity::High, "{n} high", "{n} high"),
            (Severity::Medium, "{n} medium", "{n} medium"),
            (Severity::Info, "{n} info", "{n} info"),
        ]
        .into_iter()
        .filter(|(s, _, _)| counts[*s as usize] > 0)
        .map(|(s, one, many)| ngettext_f(one, many, counts[s as usize], &[]))
        .collect();
        imp.findings_heading.set_label(&if parts.is_empty() {
            gettextrs::gettext("No findings")
        } else {
            gettext_f("Findings: {list}", &[("list", &parts.join(" · "))])
        });
    }

    fn decide_all(&self, decision: HunkDecision) {
        let count = self
            .imp()
            .state
            .borrow()
            .as_ref()
            .map_or(0, ReviewState::hunk_count);
        for hunk in 0..count {
            self.imp().diff_view.set_decision(hunk, decision);
        }
        if let Some(state) = self.imp().state.borrow_mut().as_mut() {
            state.decide_all(decision);
        }
        self.update_gate();
    }

    fn update_gate(&self) {
        let imp = self.imp();
        let gate = imp.state.borrow().as_ref().map(ReviewState::accept_gate);
        match gate {
            Some(Ok(())) => {
                let (accepted, total) = imp
                    .state
                    .borrow()
                    .as_ref()
                    .map_or((0, 0), |s| (s.accepted_hunks().len(), s.hunk_count()));
                imp.gate_label.set_label(&gettext_f(
                    "{accepted} of {total} changes marked to accept",
                    &[
                        ("accepted", &accepted.to_string()),
                        ("total", &total.to_string()),
                    ],
                ));
                imp.accept_button.set_sensitive(true);
                imp.accept_button.set_tooltip_text(None);
            }
            Some(Err(blocked)) => {
                let why = blocked.explain();
                imp.gate_label.set_label(&why);
                imp.accept_button.set_sensitive(false);
                imp.accept_button.set_tooltip_text(Some(&why));
            }
            None => {
                imp.gate_label.set_label("");
                imp.accept_button.set_sensitive(false);
            }
        }
        imp.reject_button.set_sensitive(gate.is_some());
    }

    /// Whether Accept is enabled.
    pub fn can_accept(&self) -> bool {
        self.imp().accept_button.is_sensitive()
    }

    /// Accept the marked hunks (no-op while the gate is closed).
    pub fn accept(&self) {
        let imp = self.imp();
        let Some(Ok(())) = imp.state.borrow().as_ref().map(ReviewState::accept_gate) else {
            return;
        };
        let (Some(backend), Some(id)) = (imp.backend.borrow().clone(), self.proposal_id()) else {
            return;
        };
        let (digest, hunks, acknowledged) = match imp.state.borrow().as_ref() {
            Some(state) => (
                state.digest().to_owned(),
                state.accepted_hunks(),
                state.acknowledged_ids(),
            ),
            None => return,
        };
        imp.accept_button.set_sensitive(false);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            async move {
                let result = backend
                    .accept_proposal(id, &digest, &hunks, &acknowledged)
                    .await;
                pane.update_gate();
                pane.done(match result {
                    Ok(generation) => Ok(gettext_f(
                        "Proposal #{id} accepted: the profile is now at generation {generation}",
                        &[
                            ("id", &id.to_string()),
                            ("generation", &generation.to_string()),
                        ],
                    )),
                    Err(e) => Err(e.to_string()),
                });
            }
        ));
    }

    /// Reject the whole proposal.
    pub fn reject(&self) {
        let imp = self.imp();
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
        self.imp().finding_rows.borrow().clone()
    }

    pub fn accept_button(&self) -> gtk::Button {
        self.imp().accept_button.get()
    }

    /// The title line, as shown.
    pub fn title(&self) -> String {
        self.imp().title_label.label().to_string()
    }

    pub fn findings_heading(&self) -> String {
        self.imp().findings_heading.label().to_string()
    }
}
