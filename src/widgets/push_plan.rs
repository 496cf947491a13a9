//! `QcsPushPlan`: what a push would do per qube × file, the diff of the selected
//! item, and the push itself as a backend job with progress and cancel. A qube that
//! was halted when planned gets a "Start and push" switch (off: it is skipped); the
//! push starts only the qubes switched on.
//!
//! It tells the window through signals — `planned` (the qubes with a conflict),
//! `finished` (the summary sentence and whether every qube succeeded), `failed` (a
//! sentence) — and its `running` property (a push job runs).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use adw::prelude::*;
use gtk::glib;
use gtk::glib::subclass::Signal;
use gtk::subclass::prelude::*;
use qcs_client::types::{JobSummary, PlanAction, PlanPower, PushPlan, QubePlanView};

use crate::backend::Backend;
use crate::i18n::{gettext_f, ngettext_f};
use crate::model::plan::{self, PlanTotals};
use crate::model::review::ThreeWayContext;
use crate::widgets::{QcsDiffView, QcsThreeWayView};

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/push_plan.ui")]
    pub struct QcsPushPlan {
        #[template_child]
        pub totals_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub cancel_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub execute_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub progress_bar: TemplateChild<gtk::ProgressBar>,
        #[template_child]
        pub status_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub item_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub diff_view: TemplateChild<QcsDiffView>,
        #[template_child]
        pub view_switch: TemplateChild<gtk::Box>,
        #[template_child]
        pub conflict_hint: TemplateChild<gtk::Label>,
        #[template_child]
        pub three_way_toggle: TemplateChild<gtk::ToggleButton>,
        #[template_child]
        pub changes_toggle: TemplateChild<gtk::ToggleButton>,
        #[template_child]
        pub view_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub three_way_view: TemplateChild<QcsThreeWayView>,
        pub backend: RefCell<Option<Backend>>,
        pub plan: RefCell<Option<PushPlan>>,
        /// The qubes the plan was made for (empty: all with assignments).
        pub scope: RefCell<Vec<String>>,
        /// Only these profiles (empty: every assigned one).
        pub profile_scope: RefCell<Vec<String>>,
        pub overwrite: RefCell<Vec<(String, String)>>,
        /// Halted qubes of the plan the user switched to "Start and push".
        pub start: RefCell<BTreeSet<String>>,
        pub job: Cell<Option<u64>>,
        /// The backend accepted the cancel request of the running job.
        pub cancel_sent: Cell<bool>,
        pub last_summary: RefCell<Option<JobSummary>>,
    }

    impl std::fmt::Debug for QcsPushPlan {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("QcsPushPlan").finish_non_exhaustive()
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsPushPlan {
        const NAME: &'static str = "QcsPushPlan";
        type Type = super::QcsPushPlan;
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

    impl ObjectImpl for QcsPushPlan {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    Signal::builder("planned")
                        .param_types([<Vec<String>>::static_type()])
                        .build(),
                    Signal::builder("finished")
                        .param_types([String::static_type(), bool::static_type()])
                        .build(),
                    Signal::builder("failed")
                        .param_types([String::static_type()])
                        .build(),
                ]
            })
        }

        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: OnceLock<Vec<glib::ParamSpec>> = OnceLock::new();
            PROPERTIES.get_or_init(|| {
                vec![
                    glib::ParamSpecBoolean::builder("running")
                        .read_only()
                        .build(),
                ]
            })
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            match pspec.name() {
                "running" => self.job.get().is_some().to_value(),
                other => unreachable!("QcsPushPlan has no property {other}"),
            }
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            self.diff_view.set_empty_message(&gettextrs::gettext(
                "Select an item to see what it changes in the qube.",
            ));
            self.item_list.connect_row_selected(glib::clone!(
                #[weak]
                obj,
                move |_, row| obj.select_item(row.map(|r| r.index()))
            ));
            self.three_way_toggle.connect_toggled(glib::clone!(
                #[weak]
                obj,
                move |_| obj.show_chosen_view()
            ));
        }
    }
    impl WidgetImpl for QcsPushPlan {}
    impl BoxImpl for QcsPushPlan {}
}

glib::wrapper! {
    pub struct QcsPushPlan(ObjectSubclass<imp::QcsPushPlan>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl QcsPushPlan {
    pub fn set_backend(&self, backend: Backend) {
        self.imp().backend.replace(Some(backend));
    }

    /// `planned`: a plan is on show; the qubes in which it found a conflict.
    pub fn connect_planned<F: Fn(&Self, Vec<String>) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "planned",
            false,
            glib::closure_local!(move |page: &Self, conflicts: Vec<String>| f(page, conflicts)),
        )
    }

    /// `finished`: a push ended; its summary sentence and whether every qube succeeded.
    pub fn connect_finished<F: Fn(&Self, String, bool) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "finished",
            false,
            glib::closure_local!(move |page: &Self, text: String, success: bool| f(
                page, text, success
            )),
        )
    }

    /// `failed`: planning, starting or cancelling was refused (a sentence).
    pub fn connect_failed<F: Fn(&Self, String) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "failed",
            false,
            glib::closure_local!(move |page: &Self, error: String| f(page, error)),
        )
    }

    fn fail(&self, error: String) {
        self.emit_by_name::<()>("failed", &[&error]);
    }

    fn set_job(&self, job: Option<u64>) {
        if self.imp().job.replace(job).is_some() != job.is_some() {
            self.notify("running");
        }
    }

    pub fn is_running(&self) -> bool {
        self.imp().job.get().is_some()
    }

    /// Overwrite the qube's changed copy of `path` (it keeps a backup): plan again with
    /// that decision.
    pub fn choose_overwrite(&self, qube: &str, path: &str) {
        if self.is_running() {
            return;
        }
        self.imp()
            .overwrite
            .borrow_mut()
            .push((qube.to_owned(), path.to_owned()));
        self.replan();
    }

    /// Whether Cancel is offered (a push runs and no cancel is under way).
    pub fn can_cancel(&self) -> bool {
        let imp = self.imp();
        imp.cancel_button.is_visible() && imp.cancel_button.is_sensitive()
    }

    /// Whether the backend accepted a cancel request for the running push.
    pub fn cancel_sent(&self) -> bool {
        self.imp().cancel_sent.get()
    }

    /// The progress bar's fraction and text while a push runs.
    pub fn progress(&self) -> Option<(f64, String)> {
        let bar = &self.imp().progress_bar;
        bar.is_visible().then(|| {
            (
                bar.fraction(),
                bar.text().map(|t| t.to_string()).unwrap_or_default(),
            )
        })
    }

    /// The sentence under the progress bar (the last push's summary).
    pub fn status_text(&self) -> String {
        self.imp().status_label.label().to_string()
    }

    pub fn plan_data(&self) -> Option<PushPlan> {
        self.imp().plan.borrow().clone()
    }

    pub fn last_summary(&self) -> Option<JobSummary> {
        self.imp().last_summary.borrow().clone()
    }

    /// Plan a push into `qubes` (empty: every qube with an assignment).
    pub fn plan(&self, qubes: Vec<String>) {
        let imp = self.imp();
        if self.is_running() {
            return;
        }
        imp.scope.replace(qubes);
        imp.profile_scope.replace(Vec::new());
        imp.overwrite.replace(Vec::new());
        self.replan();
    }

    /// Plan a push of only `profiles` into `qubes` (see [`QcsPushPlan::plan`]).
    pub fn plan_profiles(&self, qubes: Vec<String>, profiles: Vec<String>) {
        self.plan(qubes);
        self.imp().profile_scope.replace(profiles);
        self.replan();
    }

    fn replan(&self) {
        let imp = self.imp();
        let Some(backend) = imp.backend.borrow().clone() else {
            return;
        };
        let qubes = imp.scope.borrow().clone();
        let overwrite = imp.overwrite.borrow().clone();
        let profiles = imp.profile_scope.borrow().clone();
        imp.plan.replace(None);
        imp.execute_button.set_sensitive(false);
        imp.totals_label
            .set_label(&gettextrs::gettext("Reading the qubes' files…"));
        imp.status_label.set_label("");
        imp.progress_bar.set_visible(false);
        self.clear_items();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = page)]
            self,
            async move {
                match backend.plan_push(&qubes, &profiles, &overwrite).await {
                    Ok(plan) => page.show(plan),
                    Err(e) => {
                        page.imp()
                            .totals_label
                            .set_label(&gettextrs::gettext("The push could not be planned."));
                        page.fail(e.to_string());
                    }
                }
            }
        ));
    }

    fn clear_items(&self) {
        let imp = self.imp();
        while let Some(child) = imp.item_list.first_child() {
            imp.item_list.remove(&child);
        }
        imp.diff_view.set_diff(None, false);
        imp.three_way_view
            .set_view(None, ThreeWayContext::PlanConflict);
        imp.view_switch.set_visible(false);
        self.show_chosen_view();
    }

    fn show(&self, plan: PushPlan) {
        let imp = self.imp();
        self.clear_items();
        imp.start.borrow_mut().clear();
        let totals = PlanTotals::of(&plan);
        let mut parts = vec![
            ngettext_f(
                "{n} file to write",
                "{n} files to write",
                count(totals.writes),
                &[],
            ),
            ngettext_f(
                "{n} unchanged",
                "{n} unchanged",
                count(totals.unchanged),
                &[],
            ),
        ];
        if totals.conflicts > 0 {
            parts.push(ngettext_f(
                "{n} conflict",
                "{n} conflicts",
                count(totals.conflicts),
                &[],
            ));
        }
        if totals.refused > 0 {
            parts.push(ngettext_f(
                "{n} refused",
                "{n} refused",
                count(totals.refused),
                &[],
            ));
        }
        if totals.failed_qubes > 0 {
            parts.push(ngettext_f(
                "{n} qube not reachable",
                "{n} qubes not reachable",
                count(totals.failed_qubes),
                &[],
            ));
        }
        let halted = plan.qubes.iter().filter(|q| q.can_start()).count();
        if halted > 0 {
            parts.push(ngettext_f(
                "{n} halted qube",
                "{n} halted qubes",
                count(halted),
                &[],
            ));
        }
        imp.totals_label.set_label(&parts.join(" · "));
        imp.execute_button.set_sensitive(totals.can_push());

        for qube in &plan.qubes {
            if let Some(error) = &qube.error {
                let row = crate::widgets::plain_action_row();
                row.set_title(&qube.qube);
                row.set_subtitle(&crate::reasons::text(error));
                row.add_css_class("plan-refused");
                imp.item_list.append(&row);
            } else if qube.power == PlanPower::Halted {
                imp.item_list.append(&self.halted_row(&qube.qube));
            } else if qube.power != PlanPower::Running {
                let row = crate::widgets::plain_action_row();
                row.set_title(&qube.qube);
                row.set_subtitle(&gettextrs::gettext(
                    "Power state unknown: not planned, not pushed.",
                ));
                row.add_css_class("plan-refused");
                imp.item_list.append(&row);
            }
            for item in &qube.items {
                let row = crate::widgets::plain_action_row();
                row.set_title(&format!("{} — {}", qube.qube, item.path));
                let mut subtitle = gettext_f("profile {profile}", &[("profile", &item.profile)]);
                if let Some(reason) = &item.reason {
                    subtitle.push_str(" · ");
                    subtitle.push_str(&crate::reasons::text(reason));
                }
                if item.forced {
                    subtitle.push_str(" · ");
                    subtitle.push_str(&gettextrs::gettext("overwrite chosen"));
                }
                row.set_subtitle(&subtitle);
                row.set_subtitle_lines(3);
                row.set_activatable(true);
                if item.action == PlanAction::Conflict && item.can_overwrite {
                    let overwrite = gtk::Button::with_mnemonic(&gettextrs::gettext("_Overwrite"));
                    overwrite.set_valign(gtk::Align::Center);
                    overwrite.set_tooltip_text(Some(&gettextrs::gettext(
                        "Replace the qube's version with the store's (the qube keeps a backup)",
                    )));
                    let pair = (qube.qube.clone(), item.path.clone());
                    overwrite.connect_clicked(glib::clone!(
                        #[weak(rename_to = page)]
                        self,
                        move |_| page.choose_overwrite(&pair.0, &pair.1)
                    ));
                    row.add_suffix(&overwrite);
                }
                let action = gtk::Label::new(Some(&plan::action_label(item.action)));
                action.add_css_class(plan::action_css_class(item.action));
                action.add_css_class("heading");
                row.add_suffix(&action);
                imp.item_list.append(&row);
            }
        }
        let conflicts = plan::qubes_with_conflicts(&plan);
        imp.plan.replace(Some(plan));
        // Show the first item that writes something.
        let first_write = self.items().iter().position(|(_, action)| {
            matches!(
                action,
                PlanAction::Create | PlanAction::Update | PlanAction::Conflict
            )
        });
        if let Some(row) = first_write
            .and_then(|i| i32::try_from(i).ok())
            .and_then(|i| imp.item_list.row_at_index(i + self.error_rows_before(i)))
        {
            imp.item_list.select_row(Some(&row));
        }
        self.emit_by_name::<()>("planned", &[&conflicts]);
    }

    /// The row of a qube that was halted when planned: nothing was read from it, and
    /// its switch decides whether the push starts it (off by default: skipped).
    fn halted_row(&self, qube: &str) -> adw::ActionRow {
        let row = crate::widgets::plain_action_row();
        row.set_title(qube);
        row.set_subtitle(&gettextrs::gettext(
            "Halted. Planning never starts a qube, so its files are not known yet. Switch on to start it and push to it; otherwise it is skipped.",
        ));
        row.set_subtitle_lines(3);
        let label = gtk::Label::new(Some(&gettextrs::gettext("Start and push")));
        label.add_css_class("dim-label");
        let switch = gtk::Switch::new();
        switch.set_valign(gtk::Align::Center);
        switch.set_tooltip_text(Some(&gettext_f(
            "Start {qube} and push to it",
            &[("qube", qube)],
        )));
        let name = qube.to_owned();
        switch.connect_active_notify(glib::clone!(
            #[weak(rename_to = page)]
            self,
            move |switch| page.choose_start(&name, switch.is_active())
        ));
        row.add_suffix(&label);
        row.add_suffix(&switch);
        row.set_activatable_widget(Some(&switch));
        row.add_css_class("plan-halted");
        row
    }

    /// Records the user's "Start and push" choice for a halted qube.
    pub fn choose_start(&self, qube: &str, start: bool) {
        let imp = self.imp();
        {
            let mut chosen = imp.start.borrow_mut();
            if start {
                chosen.insert(qube.to_owned());
            } else {
                chosen.remove(qube);
            }
        }
        if !self.is_running() {
            imp.execute_button.set_sensitive(self.can_execute());
        }
    }

    /// The "Start and push" switch in the row of a halted qube, if the plan has one.
    pub fn start_switch(&self, qube: &str) -> Option<gtk::Switch> {
        let mut child = self.imp().item_list.first_child();
        while let Some(widget) = child {
            if let Some(row) = widget.downcast_ref::<adw::ActionRow>()
                && row.title() == qube
                && let Some(switch) = find_switch(&widget)
            {
                return Some(switch);
            }
            child = widget.next_sibling();
        }
        None
    }

    /// Whether "Push Now" can be pressed.
    pub fn can_execute_now(&self) -> bool {
        self.imp().execute_button.is_sensitive()
    }

    /// The halted qubes switched to "Start and push".
    pub fn chosen_starts(&self) -> Vec<String> {
        self.imp().start.borrow().iter().cloned().collect()
    }

    /// Something to do: files to write, or a halted qube to start and push.
    fn can_execute(&self) -> bool {
        self.plan_data()
            .is_some_and(|plan| PlanTotals::of(&plan).can_push())
            || !self.imp().start.borrow().is_empty()
    }

    /// (qube, action) per plan item, in list order (without qube error rows).
    fn items(&self) -> Vec<(String, PlanAction)> {
        self.imp()
            .plan
            .borrow()
            .as_ref()
            .map(|plan| {
                plan.qubes
                    .iter()
                    .flat_map(|q| q.items.iter().map(|i| (q.qube.clone(), i.action)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Rows are errors and items interleaved per qube; map a list index to an item.
    fn row_to_item(&self, row: i32) -> Option<(usize, usize)> {
        let plan = self.imp().plan.borrow();
        let plan = plan.as_ref()?;
        let mut index = 0;
        for (q, qube) in plan.qubes.iter().enumerate() {
            if has_qube_row(qube) {
                if index == row {
                    return None;
                }
                index += 1;
            }
            for i in 0..qube.items.len() {
                if index == row {
                    return Some((q, i));
                }
                index += 1;
            }
        }
        None
    }

    fn error_rows_before(&self, item: i32) -> i32 {
        let plan = self.imp().plan.borrow();
        let Some(plan) = plan.as_ref() else { return 0 };
        let mut seen_items = 0;
        let mut errors = 0;
        for qube in &plan.qubes {
            if has_qube_row(qube) {
                errors += 1;
            }
            for _ in &qube.items {
                if seen_items == item {
                    return errors;
                }
                seen_items += 1;
            }
        }
        errors
    }

    fn select_item(&self, row: Option<i32>) {
        let imp = self.imp();
        let item = row
            .and_then(|row| self.row_to_item(row))
            .and_then(|(q, i)| {
                imp.plan
                    .borrow()
                    .as_ref()
                    .and_then(|p| p.qubes.get(q)?.items.get(i).cloned())
            });
        // A conflict says what the user can do about it — choosing a side only where
        // the row has the control for it (Overwrite).
        let hint = item
            .as_ref()
            .filter(|i| i.action == PlanAction::Conflict)
            .map(|i| plan::conflict_hint(i.can_overwrite));
        imp.conflict_hint.set_visible(hint.is_some());
        imp.conflict_hint.set_label(hint.as_deref().unwrap_or(""));
        let (diff, three_way) = match item {
            Some(item) => (item.diff, item.three_way),
            None => (None, None),
        };
        // A conflict opens on its three-way view; the switch is there only for one.
        let has_three_way = three_way.is_some();
        imp.view_switch.set_visible(has_three_way);
        if has_three_way {
            imp.three_way_toggle.set_active(true);
        }
        imp.three_way_view
            .set_view(three_way, ThreeWayContext::PlanConflict);
        imp.diff_view.set_diff(diff, false);
        self.show_chosen_view();
    }

    fn show_chosen_view(&self) {
        let imp = self.imp();
        let three_way = imp.view_switch.is_visible() && imp.three_way_toggle.is_active();
        imp.view_stack
            .set_visible_child_name(if three_way { "three-way" } else { "diff" });
    }

    /// The three-way view shown for a selected conflict.
    pub fn three_way_view(&self) -> QcsThreeWayView {
        self.imp().three_way_view.get()
    }

    /// The line above a selected conflict's view (what the user can do), when shown.
    pub fn conflict_hint(&self) -> Option<String> {
        let label = &self.imp().conflict_hint;
        label.is_visible().then(|| label.label().to_string())
    }

    /// Whether the three-way view (rather than the diff) is what is shown.
    pub fn shows_three_way(&self) -> bool {
        self.imp().view_stack.visible_child_name().as_deref() == Some("three-way")
    }

    /// Select the plan row of `qube` × `path`, as a click would.
    pub fn select_path(&self, qube: &str, path: &str) -> bool {
        let imp = self.imp();
        let position = {
            let plan = imp.plan.borrow();
            let Some(plan) = plan.as_ref() else {
                return false;
            };
            (0..).take(4096).find(|row: &i32| {
                self.row_to_item(*row).is_some_and(|(q, i)| {
                    plan.qubes.get(q).is_some_and(|qp| {
                        qp.qube == qube && qp.items.get(i).is_some_and(|it| it.path == path)
                    })
                })
            })
        };
        match position.and_then(|p| imp.item_list.row_at_index(p)) {
            Some(row) => {
                imp.item_list.select_row(Some(&row));
                true
            }
            None => false,
        }
    }

    /// Start the push of the current plan.
    pub fn execute(&self) {
        let imp = self.imp();
        if self.is_running() {
            return;
        }
        let (Some(backend), Some(plan)) = (imp.backend.borrow().clone(), self.plan_data()) else {
            return;
        };
        if !self.can_execute() {
            return;
        }
        imp.execute_button.set_sensitive(false);
        imp.progress_bar.set_visible(true);
        imp.progress_bar.set_fraction(0.0);
        imp.progress_bar
            .set_text(Some(&gettextrs::gettext("Starting…")));
        imp.status_label.set_label("");
        imp.last_summary.replace(None);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = page)]
            self,
            async move { page.run_job(backend, plan).await }
        ));
    }

    async fn run_job(&self, backend: Backend, plan: PushPlan) {
        let imp = self.imp();
        // Subscribe before starting, so no signal of a fast job is missed (the client
        // crate's one job follower: monotonic progress, decoded summary).
        let proxy = backend.proxy().clone();
        let watch = match qcs_client::job::JobWatch::subscribe(&proxy).await {
            Ok(watch) => watch,
            Err(e) => {
                self.fail(
                    crate::backend::BackendError::from(qcs_client::Error::ZBus(e)).to_string(),
                );
                imp.progress_bar.set_visible(false);
                return;
            }
        };
        let start = self.chosen_starts();
        let job = match backend.execute_plan(&plan.plan_id, &start).await {
            Ok(job) => job,
            Err(e) => {
                imp.progress_bar.set_visible(false);
                self.fail(e.to_string());
                return;
            }
        };
        self.set_job(Some(job));
        imp.cancel_sent.set(false);
        imp.cancel_button.set_sensitive(true);
        imp.cancel_button.set_visible(true);
        let result = watch
            .follow(job, |p| {
                imp.progress_bar
                    .set_fraction(plan::fraction(p.done, p.total));
                imp.progress_bar.set_text(Some(&gettext_f(
                    "{done} of {total} qubes · {qube} done",
                    &[
                        ("done", &p.done.to_string()),
                        ("total", &p.total.to_string()),
                        ("qube", &p.qube),
                    ],
                )));
            })
            .await;
        self.set_job(None);
        imp.cancel_button.set_visible(false);
        imp.progress_bar.set_fraction(1.0);
        match result {
            Ok(summary) => {
                let unplanned: Vec<(String, String)> = plan
                    .qubes
                    .iter()
                    .filter_map(|q| {
                        q.error
                            .as_ref()
                            .map(|e| (q.qube.clone(), crate::reasons::text(e)))
                    })
                    .collect();
                // A toast of success unless a qube failed: a qube the user's cancel
                // stopped did not fail, and a cancel that stopped nothing changed nothing.
                let success = unplanned.is_empty()
                    && summary
                        .failed_qubes()
                        .iter()
                        .all(|q| plan::stopped_by_cancel(q));
                let text = describe(&summary, &unplanned);
                imp.status_label.set_label(&text);
                let stopped = !plan::cancelled_qubes(&summary).is_empty();
                imp.progress_bar.set_text(Some(&if stopped {
                    gettextrs::gettext("Cancelled")
                } else {
                    gettextrs::gettext("Finished")
                }));
                imp.last_summary.replace(Some(summary));
                self.emit_by_name::<()>("finished", &[&text, &success]);
            }
            Err(e) => {
                let text = crate::reasons::text(&e.reason());
                imp.status_label.set_label(&text);
                self.emit_by_name::<()>("finished", &[&text, &false]);
            }
        }
    }

    /// Ask the backend to stop the running push.
    pub fn cancel(&self) {
        let imp = self.imp();
        let (Some(backend), Some(job)) = (imp.backend.borrow().clone(), imp.job.get()) else {
            return;
        };
        imp.cancel_button.set_sensitive(false);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = page)]
            self,
            async move {
                match backend.cancel_job(job).await {
                    Ok(()) => {
                        page.imp().cancel_sent.set(true);
                        page.imp().status_label.set_label(&gettextrs::gettext(
                            "Cancelling: the qubes already started finish, the others are skipped…",
                        ));
                    }
                    Err(e) => {
                        page.imp().cancel_button.set_sensitive(true);
                        page.fail(e.to_string());
                    }
                }
            }
        ));
    }

    pub fn diff_view(&self) -> QcsDiffView {
        self.imp().diff_view.get()
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// About a finished push: files per outcome, then every qube that failed — by its
/// error, by the files it did not write, or because it could not be planned
/// (`unplanned`: qube and translated reason) — each named.
pub fn describe(summary: &JobSummary, unplanned: &[(String, String)]) -> String {
    let mut outcomes: BTreeMap<qcs_client::types::FileOutcome, usize> = BTreeMap::new();
    let mut errors = Vec::new();
    for qube in &summary.qubes {
        // Skipped on purpose (halted, not chosen): not a failure, but named.
        if let Some(why) = &qube.skipped {
            errors.push(gettext_f(
                "{qube}: {reason}",
                &[("qube", &qube.qube), ("reason", &crate::reasons::text(why))],
            ));
        }
        if let Some(error) = &qube.error {
            errors.push(gettext_f(
                "{qube}: {reason}",
                &[
                    ("qube", &qube.qube),
                    ("reason", &crate::reasons::text(error)),
                ],
            ));
        } else if !qube.is_success() {
            let files: Vec<&str> = qube
                .files
                .iter()
                .filter(|f| !f.outcome.is_success())
                .map(|f| f.path.as_str())
                .collect();
            errors.push(gettext_f(
                "{qube}: not written: {files}",
                &[("qube", &qube.qube), ("files", &files.join(", "))],
            ));
        }
        for file in &qube.files {
            *outcomes.entry(file.outcome).or_default() += 1;
        }
    }
    for (qube, reason) in unplanned {
        errors.push(gettext_f(
            "{qube}: {reason}",
            &[("qube", qube), ("reason", reason)],
        ));
    }
    // What the backend says happened: a cancel that stopped no qube came too late, and
    // the push is described as finished.
    let stopped = plan::cancelled_qubes(summary).len();
    let failed = (summary.failed_qubes().len() + unplanned.len()).saturating_sub(stopped);
    let mut text = if stopped > 0 {
        ngettext_f(
            "Push cancelled: {n} qube was not pushed to.",
            "Push cancelled: {n} qubes were not pushed to.",
            count(stopped),
            &[],
        )
    } else if summary.cancelled {
        gettextrs::gettext("The cancel came too late: the push had reached every qube.")
    } else {
        gettextrs::gettext("Push finished.")
    };
    if failed > 0 {
        text.push(' ');
        text.push_str(&ngettext_f(
            "{n} qube failed.",
            "{n} qubes failed.",
            count(failed),
            &[],
        ));
    }
    for (outcome, n) in outcomes {
        text.push(' ');
        text.push_str(&plan::outcome_count(outcome, n));
    }
    for error in errors {
        text.push('\n');
        text.push_str(&error);
    }
    text
}

/// Whether a qube has a row of its own before its items: an error, or a power state
/// other than running (halted, with its switch; or unknown).
fn has_qube_row(qube: &QubePlanView) -> bool {
    qube.error.is_some() || qube.power != PlanPower::Running
}

fn find_switch(widget: &gtk::Widget) -> Option<gtk::Switch> {
    if let Some(switch) = widget.downcast_ref::<gtk::Switch>() {
        return Some(switch.clone());
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        if let Some(switch) = find_switch(&c) {
            return Some(switch);
        }
        child = c.next_sibling();
    }
    None
}

#[cfg(test)]
mod tests {
    use qcs_client::types::{
        API_VERSION, FileOutcome, FileOutcomeView, JobKind, JobSummary, QubeOutcome,
    };
    use qcs_client::{Code, Reason};

    use super::describe;

    #[test]
    fn the_summary_names_every_failed_qube_also_those_not_planned() {
        let summary = JobSummary {
            version: API_VERSION,
            kind: JobKind::Push,
            cancelled: false,
            qubes: vec![
                QubeOutcome {
                    qube: "work".into(),
                    error: None,
                    skipped: None,
                    files: vec![FileOutcomeView {
                        profile: "git".into(),
                        path: ".gitconfig".into(),
                        outcome: FileOutcome::Written,
                        detail: None,
                    }],
                },
                QubeOutcome {
                    qube: "noapply".into(),
                    error: Some(
                        Reason::new(Code::QrexecNoService)
                            .arg("qube", "noapply")
                            .arg("service", "qubes.ConfigApply"),
                    ),
                    skipped: None,
                    files: Vec::new(),
                },
                QubeOutcome {
                    qube: "odd".into(),
                    error: None,
                    skipped: None,
                    files: vec![FileOutcomeView {
                        profile: "git".into(),
                        path: ".vimrc".into(),
                        outcome: FileOutcome::from("teleported"),
                        detail: None,
                    }],
                },
            ],
        };
        let text = describe(&summary, &[("noagent".into(), "no agent".into())]);
        assert!(text.starts_with("Push finished. 3 qubes failed."), "{text}");
        assert!(
            text.contains("noapply: noapply does not offer qubes.ConfigApply"),
            "{text}"
        );
        assert!(text.contains("odd: not written: .vimrc"), "{text}");
        assert!(text.contains("noagent: no agent"), "{text}");
        assert!(text.contains("1 file written."), "{text}");
    }

    #[test]
    fn a_cancel_is_reported_as_what_it_stopped() {
        let written = |qube: &str| QubeOutcome {
            qube: qube.into(),
            error: None,
            skipped: None,
            files: vec![FileOutcomeView {
                profile: "vim".into(),
                path: ".vimrc".into(),
                outcome: FileOutcome::Written,
                detail: None,
            }],
        };
        // The cancel came after the only qube had started: everything was written.
        let mut summary = JobSummary {
            version: API_VERSION,
            kind: JobKind::Push,
            cancelled: true,
            qubes: vec![written("untrusted")],
        };
        let text = describe(&summary, &[]);
        assert!(
            text.starts_with("The cancel came too late: the push had reached every qube."),
            "{text}"
        );
        assert!(
            !text.contains("cancelled") && !text.contains("failed"),
            "{text}"
        );
        assert!(text.contains("1 file written."), "{text}");
        // A cancel that kept two qubes from being pushed to: named, and not failures.
        summary.qubes.push(QubeOutcome {
            qube: "mail".into(),
            error: None,
            skipped: Some(Reason::new(Code::JobCancelled)),
            files: Vec::new(),
        });
        summary.qubes.push(QubeOutcome {
            qube: "work".into(),
            error: None,
            skipped: None,
            files: vec![FileOutcomeView {
                profile: "git".into(),
                path: ".gitconfig".into(),
                outcome: FileOutcome::Skipped,
                detail: Some(Reason::new(Code::JobCancelled)),
            }],
        });
        let text = describe(&summary, &[]);
        assert!(
            text.starts_with("Push cancelled: 2 qubes were not pushed to."),
            "{text}"
        );
        assert!(!text.contains("failed"), "{text}");
        assert!(
            text.contains("mail: Cancelled before this qube was started"),
            "{text}"
        );
    }
}
