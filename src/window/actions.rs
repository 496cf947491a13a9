//! The window's actions (`win.*`): what each one does; the accelerators are set by
//! the application (application.rs) and listed in the shortcuts window
//! (resources/gtk/help-overlay.ui). Must not hold state: actions call the window.

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use super::QcsWindow;

impl QcsWindow {
    pub(super) fn setup_actions(&self) {
        let action = |name: &str, handler: fn(&QcsWindow)| {
            let action = gio::SimpleAction::new(name, None);
            action.connect_activate(glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |_, _| handler(&window)
            ));
            self.add_action(&action);
        };
        action("refresh", |w| w.refresh());
        action("plan-push", |w| w.plan_push(Vec::new()));
        action("plan-push-qube", |w| {
            if let Some(qube) = w.imp().qube_page.qube_name() {
                w.plan_push(vec![qube]);
            }
        });
        action("push-selection", |w| {
            w.push_selection();
        });
        action("snapshot-qube", |w| w.snapshot_qube());
        // (qube, profile): push one profile into one qube ("" = every qube it goes to).
        let pair = <(String, String) as glib::variant::StaticVariantType>::static_variant_type();
        let push_profile = gio::SimpleAction::new("plan-push-profile", Some(&pair));
        push_profile.connect_activate(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, target| {
                if let Some((qube, profile)) = target.and_then(|t| t.get::<(String, String)>()) {
                    window.plan_push_profile(qube, profile);
                }
            }
        ));
        self.add_action(&push_profile);
        action("new-profile", |w| {
            w.new_profile();
        });
        action("adopt-file", |w| {
            let qubes: Vec<String> = w
                .imp()
                .qubes
                .borrow()
                .iter()
                .map(|q| q.name.clone())
                .collect();
            crate::widgets::targets::adopt_dialog(w, &qubes);
        });
        action("qube-settings", |w| {
            w.open_settings();
        });
        action("save-file", |w| {
            if w.visible_page().as_deref() == Some("profile") {
                w.imp().profile_editor.save();
            }
        });
        action("execute-plan", |w| w.imp().push_plan.execute());
        action("cancel-job", |w| w.imp().push_plan.cancel());
        action("next-proposal", |w| {
            let next = w.imp().proposals.borrow().first().map(|p| p.id);
            if let Some(id) = next {
                w.open_proposal(id);
            }
        });
        action("toggle-diff-layout", |w| {
            if w.visible_page().as_deref() == Some("review") {
                w.imp().review_pane.toggle_layout();
            }
        });
        action("primary", |w| match w.visible_page().as_deref() {
            Some("review") => w.imp().review_pane.accept(),
            Some("plan") => w.imp().push_plan.execute(),
            _ => {}
        });
    }

    pub(super) fn action_set_enabled_state(&self, name: &str, enabled: bool) {
        if let Some(action) = self
            .lookup_action(name)
            .and_then(|a| a.downcast::<gio::SimpleAction>().ok())
        {
            action.set_enabled(enabled);
        }
    }
}
