//! The push of a plan on show as a backend job: started (with the halted qubes the user
//! chose to start), followed with progress, cancelled on request, and summed up.
//!
//! It must not decide what is pushed: the plan is the backend's, the starts the user's.

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::PushPlan;

use super::{QcsPushPlan, describe};
use crate::backend::Backend;
use crate::i18n::gettext_f;
use crate::model::plan;
use crate::widgets::QcsDiffView;

impl QcsPushPlan {
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

    pub(super) async fn run_job(&self, backend: Backend, plan: PushPlan) {
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
