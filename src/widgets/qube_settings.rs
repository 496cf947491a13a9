//! `QcsQubeSettings`: the per-qube settings dialog — assigned profiles, may-propose
//! profiles, apply on start, and the persistence of each path with its fix (through
//! the Admin API when allowed, otherwise the dom0 command to copy). After every change
//! it stored (a profile assigned, a path fixed) it reads the qube again, so the
//! persistence tab shows what the backend says now. It tells the window through its
//! `changed` signal.

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;
use gtk::glib::subclass::Signal;
use qcs_client::types::QubeView;

use crate::backend::Backend;
use crate::i18n::gettext_f;
use crate::model::qube;

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/qube_settings.ui")]
    pub struct QcsQubeSettings {
        #[template_child]
        pub assigned_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub propose_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub auto_apply_switch: TemplateChild<gtk::Switch>,
        #[template_child]
        pub persistence_group: TemplateChild<adw::PreferencesGroup>,
        pub backend: RefCell<Option<Backend>>,
        pub qube: RefCell<String>,
        pub assigned: RefCell<Vec<(String, gtk::Switch)>>,
        pub may_propose: RefCell<Vec<(String, gtk::Switch)>>,
        pub fix_buttons: RefCell<Vec<(String, gtk::Button)>>,
        /// The rows of the persistence tab with (path, verdict as shown).
        pub persistence_rows: RefCell<Vec<(gtk::Widget, String, String)>>,
        /// Bumped on every reload; an older reload's answer is dropped.
        pub reloads: Cell<u64>,
        /// Set while the switches are filled in, so filling is not taken as a change.
        pub loading: Cell<bool>,
    }

    impl std::fmt::Debug for QcsQubeSettings {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("QcsQubeSettings").finish_non_exhaustive()
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsQubeSettings {
        const NAME: &'static str = "QcsQubeSettings";
        type Type = super::QcsQubeSettings;
        type ParentType = adw::PreferencesWindow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsQubeSettings {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("changed").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            self.auto_apply_switch.connect_active_notify(glib::clone!(
                #[weak]
                obj,
                move |_| obj.save()
            ));
        }
    }
    impl WidgetImpl for QcsQubeSettings {}
    impl WindowImpl for QcsQubeSettings {}
    impl AdwWindowImpl for QcsQubeSettings {}
    impl PreferencesWindowImpl for QcsQubeSettings {}
}

glib::wrapper! {
    pub struct QcsQubeSettings(ObjectSubclass<imp::QcsQubeSettings>)
        @extends adw::PreferencesWindow, adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native, gtk::Root,
            gtk::ShortcutManager;
}

impl QcsQubeSettings {
    /// A dialog for `view`'s qube; `profiles` is every profile of the store.
    pub fn new(
        parent: &impl IsA<gtk::Window>,
        backend: Backend,
        view: &QubeView,
        profiles: &[(String, String, u64)],
    ) -> QcsQubeSettings {
        let dialog: QcsQubeSettings = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        dialog.set_title(Some(&gettext_f(
            "Settings of {qube}",
            &[("qube", &view.name)],
        )));
        let imp = dialog.imp();
        imp.backend.replace(Some(backend));
        imp.qube.replace(view.name.clone());
        imp.loading.set(true);
        let mut assigned = Vec::new();
        let mut may_propose = Vec::new();
        let mut propose_rows = Vec::new();
        for (id, description, _) in profiles {
            for (group, selected, list, proposes) in [
                (&imp.assigned_group, &view.assigned, &mut assigned, false),
                (
                    &imp.propose_group,
                    &view.may_propose,
                    &mut may_propose,
                    true,
                ),
            ] {
                let row = crate::widgets::plain_action_row();
                row.set_title(id);
                row.set_subtitle(description);
                let switch = gtk::Switch::new();
                switch.set_valign(gtk::Align::Center);
                switch.set_active(selected.contains(id));
                switch.connect_active_notify(glib::clone!(
                    #[weak]
                    dialog,
                    move |_| dialog.save()
                ));
                row.add_suffix(&switch);
                row.set_activatable_widget(Some(&switch));
                group.add(&row);
                if proposes {
                    propose_rows.push((id.clone(), description.clone(), row.clone()));
                }
                list.push((id.clone(), switch));
            }
        }
        if profiles.is_empty() {
            let row = crate::widgets::plain_action_row();
            row.set_title(&gettextrs::gettext("The store has no profile yet."));
            imp.assigned_group.add(&row);
        }
        imp.assigned.replace(assigned);
        imp.may_propose.replace(may_propose);
        imp.auto_apply_switch.set_active(view.auto_apply);
        dialog.show_new_path_globs(propose_rows);
        dialog.fill_persistence(view);
        imp.loading.set(false);
        dialog
    }

    /// `changed`: the backend stored a change of this qube's settings or persistence.
    pub fn connect_changed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "changed",
            false,
            glib::closure_local!(move |dialog: &Self| f(dialog)),
        )
    }

    /// A change went through: tell the window, and show the qube as it is now.
    fn changed(&self) {
        self.emit_by_name::<()>("changed", &[]);
        self.reload();
    }

    /// Read the qube again and refill the persistence tab (a profile just assigned
    /// brings its paths; a fixed path is no longer lost at restart).
    fn reload(&self) {
        let imp = self.imp();
        let Some(backend) = imp.backend.borrow().clone() else {
            return;
        };
        let reload = imp.reloads.get() + 1;
        imp.reloads.set(reload);
        let name = imp.qube.borrow().clone();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let result = backend.qube(&name).await;
                if dialog.imp().reloads.get() != reload {
                    return;
                }
                match result.map(|list| list.qubes.into_iter().find(|q| q.name == name)) {
                    Ok(Some(view)) => dialog.fill_persistence(&view),
                    Ok(None) => {}
                    Err(e) => dialog.add_toast(crate::widgets::plain_toast(&e.to_string())),
                }
            }
        ));
    }

    /// The persistence tab as shown: (path, verdict) per row.
    pub fn persistence_shown(&self) -> Vec<(String, String)> {
        self.imp()
            .persistence_rows
            .borrow()
            .iter()
            .map(|(_, path, verdict)| (path.clone(), verdict.clone()))
            .collect()
    }

    /// Next to each may-propose switch: which new files the profile lets qubes propose
    /// (its allowlist of new paths), loaded from the backend.
    fn show_new_path_globs(&self, rows: Vec<(String, String, adw::ActionRow)>) {
        let Some(backend) = self.imp().backend.borrow().clone() else {
            return;
        };
        glib::spawn_future_local(async move {
            for (id, description, row) in rows {
                let Ok(profile) = backend.profile(&id).await else {
                    continue;
                };
                let new_files = if profile.new_path_globs.is_empty() {
                    gettextrs::gettext("only its files")
                } else {
                    gettext_f(
                        "also new files matching {globs}",
                        &[("globs", &profile.new_path_globs.join(", "))],
                    )
                };
                row.set_subtitle(&if description.is_empty() {
                    new_files
                } else {
                    format!("{description} · {new_files}")
                });
            }
        });
    }

    fn fill_persistence(&self, view: &QubeView) {
        let imp = self.imp();
        for (row, _, _) in imp.persistence_rows.take() {
            imp.persistence_group.remove(&row);
        }
        imp.fix_buttons.borrow_mut().clear();
        if view.persistence.is_empty() {
            let row = crate::widgets::plain_action_row();
            row.set_title(&gettextrs::gettext("No managed files."));
            imp.persistence_group.add(&row);
            imp.persistence_rows
                .borrow_mut()
                .push((row.upcast(), String::new(), String::new()));
        }
        for path in &view.persistence {
            let row = crate::widgets::plain_expander_row();
            row.set_title(&path.path);
            let verdict = qube::persistence_label(path.verdict);
            row.set_subtitle(&verdict);
            imp.persistence_rows.borrow_mut().push((
                row.clone().upcast(),
                path.path.clone(),
                verdict,
            ));
            let detail = crate::widgets::plain_action_row();
            detail.set_title(&crate::reasons::text(&path.detail));
            detail.set_title_lines(4);
            row.add_row(&detail);
            if let Some(command) = &path.fix_command {
                let fix = gtk::Button::with_mnemonic(&gettextrs::gettext("_Fix"));
                fix.set_valign(gtk::Align::Center);
                fix.add_css_class("suggested-action");
                fix.set_tooltip_text(Some(&gettextrs::gettext(
                    "Add a custom-persist entry for this path through the Admin API",
                )));
                row.add_action(&fix);
                let command_row = crate::widgets::plain_action_row();
                command_row.set_title(&gettextrs::gettext("Or run in dom0"));
                let label = gtk::Label::new(Some(command));
                label.set_selectable(true);
                label.set_wrap(true);
                label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
                label.set_xalign(0.0);
                label.add_css_class("command");
                command_row.add_suffix(&label);
                let copy = gtk::Button::from_icon_name("edit-copy-symbolic");
                copy.set_valign(gtk::Align::Center);
                copy.set_tooltip_text(Some(&gettextrs::gettext("Copy the command")));
                copy.add_css_class("flat");
                let text = command.clone();
                copy.connect_clicked(glib::clone!(
                    #[weak(rename_to = dialog)]
                    self,
                    move |button| {
                        button.clipboard().set_text(&text);
                        dialog.add_toast(crate::widgets::plain_toast(&gettextrs::gettext(
                            "Command copied",
                        )));
                    }
                ));
                command_row.add_suffix(&copy);
                row.add_row(&command_row);
                self.imp()
                    .fix_buttons
                    .borrow_mut()
                    .push((path.path.clone(), fix.clone()));
                let qube = view.name.clone();
                let target = path.path.clone();
                fix.connect_clicked(glib::clone!(
                    #[weak(rename_to = dialog)]
                    self,
                    move |button| dialog.fix(button, &qube, &target)
                ));
                row.set_expanded(true);
            }
            imp.persistence_group.add(&row);
        }
    }

    fn fix(&self, button: &gtk::Button, qube: &str, path: &str) {
        let Some(backend) = self.imp().backend.borrow().clone() else {
            return;
        };
        button.set_sensitive(false);
        let (qube, path) = (qube.to_owned(), path.to_owned());
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            #[weak]
            button,
            async move {
                let message = match backend.fix_persistence(&qube, &path).await {
                    Ok((true, _)) => {
                        dialog.changed();
                        gettext_f("{path} now persists", &[("path", &path)])
                    }
                    Ok((false, command)) => {
                        button.set_sensitive(true);
                        gettext_f(
                            "Not permitted from here: run “{command}” in dom0",
                            &[("command", &command)],
                        )
                    }
                    Err(e) => {
                        button.set_sensitive(true);
                        e.to_string()
                    }
                };
                dialog.add_toast(crate::widgets::plain_toast(&message));
            }
        ));
    }

    fn selected(list: &RefCell<Vec<(String, gtk::Switch)>>) -> Vec<String> {
        list.borrow()
            .iter()
            .filter(|(_, switch)| switch.is_active())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Store the whole settings (the backend replaces them as one).
    fn save(&self) {
        let imp = self.imp();
        if imp.loading.get() {
            return;
        }
        let Some(backend) = imp.backend.borrow().clone() else {
            return;
        };
        let qube = imp.qube.borrow().clone();
        let assigned = Self::selected(&imp.assigned);
        let may_propose = Self::selected(&imp.may_propose);
        let auto_apply = imp.auto_apply_switch.is_active();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                match backend
                    .set_qube_settings(&qube, &assigned, &may_propose, auto_apply)
                    .await
                {
                    Ok(()) => dialog.changed(),
                    Err(e) => dialog.add_toast(crate::widgets::plain_toast(&e.to_string())),
                }
            }
        ));
    }

    /// The Fix button of a path that does not persist.
    pub fn fix_button(&self, path: &str) -> Option<gtk::Button> {
        self.imp()
            .fix_buttons
            .borrow()
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
    }

    /// The switch of a profile in the assigned (`true`) or may-propose group.
    pub fn profile_switch(&self, profile: &str, assigned: bool) -> Option<gtk::Switch> {
        let imp = self.imp();
        let list = if assigned {
            &imp.assigned
        } else {
            &imp.may_propose
        };
        list.borrow()
            .iter()
            .find(|(id, _)| id == profile)
            .map(|(_, s)| s.clone())
    }
}
