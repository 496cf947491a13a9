//! `QcsPushPlan`: what a push would do per qube × file, the diff of the selected
//! item, and the push itself as a backend job with progress and cancel. A qube that
//! was halted when planned gets a "Start and push" switch (off: it is skipped); the
//! push starts only the qubes switched on.
//!
//! It tells the window through signals — `planned` (the qubes with a conflict),
//! `finished` (the summary sentence and whether every qube succeeded), `failed` (a
//! sentence) — and its `running` property (a push job runs).
//!
//! The plan's rows and the selected item's view are in `rows`, the push job with progress
//! and cancel in `job`, the summary sentence in `summary`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::sync::OnceLock;

use adw::prelude::*;
use gtk::glib;
use gtk::glib::subclass::Signal;
use gtk::subclass::prelude::*;
use qcs_client::types::{JobSummary, PushPlan};

use crate::backend::Backend;

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
}

mod job;
mod rows;
mod summary;

pub use summary::describe;
