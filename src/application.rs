//! `QcsApplication`: start-up (actions, accelerators), the main window, the tray and
//! notifications for new proposals.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gettextrs::gettext;
use gtk::{gio, glib};
use qcs_client::types::ProposalSummaryView;

use crate::config::{APP_ID, RESOURCE_BASE};
use crate::i18n::gettext_f;
use crate::tray::{TrayCommand, TrayController};
use crate::window::QcsWindow;

/// How the app was started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The backend's bus (the demo's private bus); `None`: the session bus.
    pub bus_address: Option<String>,
    /// Start without a window (autostart): the tray and notifications only.
    pub start_hidden: bool,
    /// Do not start the tray (tests).
    pub no_tray: bool,
}

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct QcsApplication {
        pub options: RefCell<Options>,
        pub window: glib::WeakRef<QcsWindow>,
        pub tray: RefCell<Option<TrayController>>,
        /// Proposal ids already announced (or present at start).
        pub known: RefCell<Option<BTreeSet<i64>>>,
        pub hold: RefCell<Option<gio::ApplicationHoldGuard>>,
        pub started: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsApplication {
        const NAME: &'static str = "QcsApplication";
        type Type = super::QcsApplication;
        type ParentType = adw::Application;
    }

    impl ObjectImpl for QcsApplication {}

    impl ApplicationImpl for QcsApplication {
        fn startup(&self) {
            self.parent_startup();
            let app = self.obj();
            app.setup_actions();
        }

        fn activate(&self) {
            self.parent_activate();
            let app = self.obj();
            let first = !self.started.replace(true);
            let window = app.main_window();
            if first {
                app.connect_backend(&window);
                if self.options.borrow().start_hidden {
                    // Autostart: stay alive for the tray without a window.
                    self.hold.replace(Some(app.hold()));
                    return;
                }
            }
            window.present();
        }
    }

    impl GtkApplicationImpl for QcsApplication {}
    impl AdwApplicationImpl for QcsApplication {}
}

glib::wrapper! {
    pub struct QcsApplication(ObjectSubclass<imp::QcsApplication>)
        @extends adw::Application, gtk::Application, gio::Application,
        @implements gio::ActionGroup, gio::ActionMap;
}

impl QcsApplication {
    pub fn new(options: Options, unique: bool) -> QcsApplication {
        let flags = if unique {
            gio::ApplicationFlags::empty()
        } else {
            gio::ApplicationFlags::NON_UNIQUE
        };
        let app: QcsApplication = glib::Object::builder()
            .property("application-id", APP_ID)
            .property("flags", flags)
            .property("resource-base-path", RESOURCE_BASE)
            .build();
        app.imp().options.replace(options);
        app
    }

    /// The main window, made on first use (hidden until presented).
    pub fn main_window(&self) -> QcsWindow {
        if let Some(window) = self.imp().window.upgrade() {
            return window;
        }
        let window = QcsWindow::new(self);
        self.imp().window.set(Some(&window));
        window
    }

    fn setup_actions(&self) {
        let quit = gio::ActionEntry::builder("quit")
            .activate(|app: &QcsApplication, _, _| {
                app.imp().hold.replace(None);
                app.quit();
            })
            .build();
        let about = gio::ActionEntry::builder("about")
            .activate(|app: &QcsApplication, _, _| app.show_about())
            .build();
        let open = gio::ActionEntry::builder("open")
            .activate(|app: &QcsApplication, _, _| app.main_window().present())
            .build();
        let review = gio::ActionEntry::builder("review")
            .parameter_type(Some(glib::VariantTy::INT64))
            .activate(|app: &QcsApplication, _, parameter| {
                let window = app.main_window();
                window.present();
                match parameter.and_then(i64::from_variant) {
                    Some(id) => window.open_proposal(id),
                    None => {
                        let _ = WidgetExt::activate_action(&window, "win.next-proposal", None);
                    }
                }
            })
            .build();
        self.add_action_entries([quit, about, open, review]);
        for (action, accels) in [
            ("app.quit", &["<Control>q"][..]),
            ("win.refresh", &["<Control>r", "F5"][..]),
            ("win.plan-push", &["<Control>p"][..]),
            ("win.cancel-job", &["<Control>period"][..]),
            ("win.qube-settings", &["<Control>comma"][..]),
            ("win.save-file", &["<Control>s"][..]),
            ("win.next-proposal", &["<Control>n"][..]),
            ("win.toggle-diff-layout", &["<Control>d"][..]),
            ("win.primary", &["<Control>Return"][..]),
            ("win.show-help-overlay", &["<Control>question"][..]),
        ] {
            self.set_accels_for_action(action, accels);
        }
    }

    fn show_about(&self) {
        let about = adw::AboutWindow::builder()
            .application_name(gettext("Config Sync"))
            .application_icon("emblem-synchronizing-symbolic")
            .developer_name(gettext("The Qubes OS Project"))
            .version(env!("CARGO_PKG_VERSION"))
            .license_type(gtk::License::Gpl20)
            .website("https://github.com/QubesOS/qubes-config-sync")
            .comments(gettext(
                "Keep dotfiles in sync across qubes, with review of every change",
            ))
            .build();
        if let Some(window) = self.imp().window.upgrade() {
            about.set_transient_for(Some(&window));
        }
        about.present();
    }

    fn connect_backend(&self, window: &QcsWindow) {
        let options = self.imp().options.borrow().clone();
        if !options.no_tray {
            let (tray, commands) = TrayController::start();
            self.imp().tray.replace(Some(tray));
            glib::spawn_future_local(glib::clone!(
                #[weak(rename_to = app)]
                self,
                async move {
                    while let Ok(command) = commands.recv().await {
                        match command {
                            TrayCommand::Review => app.activate_action("review", None),
                            TrayCommand::Open => app.activate_action("open", None),
                        }
                    }
                }
            ));
        }
        window.connect_pending_changed(glib::clone!(
            #[weak(rename_to = app)]
            self,
            move |window| app.pending_changed(&window.pending_proposals())
        ));
        window.connect(options.bus_address.clone());
    }

    /// The tray follows the count; a proposal not seen before is announced.
    fn pending_changed(&self, pending: &[ProposalSummaryView]) {
        let imp = self.imp();
        if let Some(tray) = imp.tray.borrow().as_ref() {
            tray.set_count(u32::try_from(pending.len()).unwrap_or(u32::MAX));
        }
        let ids: BTreeSet<i64> = pending.iter().map(|p| p.id).collect();
        let previous = imp.known.replace(Some(ids.clone()));
        // Proposals already waiting at start are not news; later ones are.
        let Some(previous) = previous else { return };
        for proposal in pending.iter().filter(|p| !previous.contains(&p.id)) {
            // Names through the safe renderer (look-alike characters marked as text).
            let name = crate::model::markup::name_plain;
            let notification = gio::Notification::new(&gettext_f(
                "New proposal from {qube}",
                &[("qube", &name(&proposal.source_qube))],
            ));
            // Notification servers may render body markup (xfce4-notifyd does), and the
            // path came from a qube: escape it.
            notification.set_body(Some(&gettext_f(
                "{path} (profile {profile}) waits for your review",
                &[
                    ("path", &glib::markup_escape_text(&name(&proposal.path))),
                    (
                        "profile",
                        &glib::markup_escape_text(&name(&proposal.profile)),
                    ),
                ],
            )));
            notification.set_priority(gio::NotificationPriority::High);
            notification
                .set_default_action_and_target_value("app.review", Some(&proposal.id.to_variant()));
            notification.add_button_with_target_value(
                &gettext("Review"),
                "app.review",
                Some(&proposal.id.to_variant()),
            );
            self.send_notification(Some(&format!("proposal-{}", proposal.id)), &notification);
        }
        for gone in previous.difference(&ids) {
            self.withdraw_notification(&format!("proposal-{gone}"));
        }
    }

    /// Whether the tray item is registered (tests).
    pub fn tray_shown(&self) -> bool {
        self.imp()
            .tray
            .borrow()
            .as_ref()
            .is_some_and(TrayController::is_shown)
    }
}
