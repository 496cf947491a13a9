//! `QcsQubePage`: the selected qube — label, class, state, its assigned profiles with
//! their sync state, and the persistence of each managed file.

use std::cell::RefCell;

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_daemon::client::types::QubeView;

use crate::i18n::gettext_f;
use crate::model::qube;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/qube_page.ui")]
    pub struct QcsQubePage {
        #[template_child]
        pub label_swatch: TemplateChild<gtk::Box>,
        #[template_child]
        pub title_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub subtitle_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub profiles_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub persistence_list: TemplateChild<gtk::ListBox>,
        pub qube: RefCell<Option<QubeView>>,
        pub swatch_class: RefCell<Option<&'static str>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsQubePage {
        const NAME: &'static str = "QcsQubePage";
        type Type = super::QcsQubePage;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsQubePage {}
    impl WidgetImpl for QcsQubePage {}
    impl BoxImpl for QcsQubePage {}
}

glib::wrapper! {
    pub struct QcsQubePage(ObjectSubclass<imp::QcsQubePage>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

fn clear(list: &gtk::ListBox) {
    while let Some(child) = list.first_child() {
        list.remove(&child);
    }
}

fn placeholder_row(text: &str) -> adw::ActionRow {
    let row = adw::ActionRow::new();
    row.set_title(text);
    row.add_css_class("dim-label");
    row
}

impl QcsQubePage {
    pub fn qube_name(&self) -> Option<String> {
        self.imp().qube.borrow().as_ref().map(|q| q.name.clone())
    }

    pub fn show(&self, view: QubeView) {
        let imp = self.imp();
        if let Some(old) = imp
            .swatch_class
            .replace(Some(qube::label_css_class(&view.label)))
        {
            imp.label_swatch.remove_css_class(old);
        }
        imp.label_swatch
            .add_css_class(qube::label_css_class(&view.label));
        imp.title_label.set_label(&view.name);
        let mut parts = vec![
            qube::class_label(&view.class),
            qube::power_state_label(&view.power_state),
        ];
        if let Some(template) = &view.template {
            parts.push(gettext_f("template {template}", &[("template", template)]));
        }
        if view.auto_apply {
            parts.push(gettextrs::gettext("applied on start"));
        }
        imp.subtitle_label.set_label(&parts.join(" · "));

        clear(&imp.profiles_list);
        if view.profiles.is_empty() {
            imp.profiles_list
                .append(&placeholder_row(&gettextrs::gettext(
                    "No profile assigned. Assign one in the settings.",
                )));
        }
        for profile in &view.profiles {
            let row = adw::ActionRow::new();
            row.set_title(&profile.profile);
            let mut subtitle = qube::sync_state_label(profile.state);
            if !profile.drifted_paths.is_empty() {
                subtitle.push_str(" — ");
                subtitle.push_str(&profile.drifted_paths.join(", "));
            }
            row.set_subtitle(&subtitle);
            row.set_subtitle_lines(3);
            let generation = gtk::Label::new(Some(&match profile.pushed_generation {
                Some(pushed) => gettext_f(
                    "generation {pushed} of {current}",
                    &[
                        ("pushed", &pushed.to_string()),
                        ("current", &profile.generation.to_string()),
                    ],
                ),
                None => gettext_f(
                    "store at generation {current}",
                    &[("current", &profile.generation.to_string())],
                ),
            }));
            generation.add_css_class("dim-label");
            row.add_suffix(&generation);
            imp.profiles_list.append(&row);
        }

        clear(&imp.persistence_list);
        if view.persistence.is_empty() {
            imp.persistence_list
                .append(&placeholder_row(&gettextrs::gettext("No managed files.")));
        }
        for path in &view.persistence {
            let row = adw::ActionRow::new();
            row.set_title(&path.path);
            // The backend's detail already names the verdict and the reason.
            row.set_subtitle(
                if path.detail.is_empty() {
                    qube::persistence_label(&path.verdict)
                } else {
                    path.detail.clone()
                }
                .as_str(),
            );
            row.set_subtitle_lines(4);
            let icon = gtk::Image::from_icon_name(if path.verdict == "lost-at-restart" {
                "dialog-warning-symbolic"
            } else {
                "emblem-ok-symbolic"
            });
            icon.add_css_class(if path.verdict == "lost-at-restart" {
                "badge-not-persistent"
            } else {
                "badge-in-sync"
            });
            row.add_prefix(&icon);
            imp.persistence_list.append(&row);
        }
        imp.qube.replace(Some(view));
    }
}
