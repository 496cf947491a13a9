//! `QcsQubePage`: the selected qube — label, class, state, its assigned profiles with
//! their sync state, and the persistence of each managed file.

use std::cell::RefCell;

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::QubeView;

use crate::backend::Backend;
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
        pub backend: RefCell<Option<Backend>>,
        /// Bumped on every `show`; file lists fetched for an older one are dropped.
        pub generation: std::cell::Cell<u64>,
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

/// The style class marking a file's row under its profile (the rows are found by it).
const FILE_ROW: &str = "file-row";

fn clear(list: &gtk::ListBox) {
    while let Some(child) = list.first_child() {
        list.remove(&child);
    }
}

/// The qube view narrowed to one profile (for that profile's badge).
fn single_profile(view: &QubeView, profile: &qcs_client::types::ProfileSync) -> QubeView {
    QubeView {
        profiles: vec![profile.clone()],
        persistence: Vec::new(),
        pending_proposals: 0,
        ..view.clone()
    }
}

/// The (path, state) of the file rows inside an expander row.
fn expander_files(expander: &adw::ExpanderRow) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![expander.clone().upcast::<gtk::Widget>()];
    while let Some(widget) = stack.pop() {
        if let Some(row) = widget.downcast_ref::<adw::ActionRow>() {
            if row.has_css_class(FILE_ROW) {
                out.push((
                    row.title().to_string(),
                    row.subtitle().unwrap_or_default().to_string(),
                ));
            }
            continue;
        }
        let mut child = widget.last_child();
        while let Some(c) = child {
            stack.push(c.clone());
            child = c.prev_sibling();
        }
    }
    out
}

fn placeholder_row(text: &str) -> adw::ActionRow {
    let row = crate::widgets::plain_action_row();
    row.set_title(text);
    row.add_css_class("dim-label");
    row
}

impl QcsQubePage {
    pub fn set_backend(&self, backend: Backend) {
        self.imp().backend.replace(Some(backend));
    }

    /// (path, state) rows shown under each profile, for tests and screen readers.
    pub fn file_rows(&self) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        let mut child = self.imp().profiles_list.first_child();
        while let Some(widget) = child {
            if let Some(expander) = widget.downcast_ref::<adw::ExpanderRow>() {
                let profile = expander.title().to_string();
                for (path, state) in expander_files(expander) {
                    rows.push((format!("{profile}:{path}"), state));
                }
            }
            child = widget.next_sibling();
        }
        rows
    }

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
        let generation = imp.generation.get() + 1;
        imp.generation.set(generation);
        for profile in &view.profiles {
            let row = crate::widgets::plain_expander_row();
            row.set_title(&profile.profile);
            let subtitle = format!(
                "{} · {}",
                qube::sync_state_label(profile.state),
                match profile.pushed_generation {
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
                }
            );
            row.set_subtitle(
                &match crate::widgets::targets::sources_label(&profile.sources) {
                    Some(by) => format!("{subtitle} · {by}"),
                    None => subtitle,
                },
            );
            row.add_action(&crate::widgets::targets::push_profile_button(
                &view.name,
                &profile.profile,
            ));
            let icon = gtk::Image::from_icon_name(
                qube::badges(&single_profile(&view, profile), false)
                    .first()
                    .map_or("emblem-ok-symbolic", |b| b.icon_name()),
            );
            row.add_prefix(&icon);
            imp.profiles_list.append(&row);
            self.fill_files(&row, profile.clone(), generation);
        }

        clear(&imp.persistence_list);
        if view.persistence.is_empty() {
            imp.persistence_list
                .append(&placeholder_row(&gettextrs::gettext("No managed files.")));
        }
        for path in &view.persistence {
            let row = crate::widgets::plain_action_row();
            row.set_title(&path.path);
            // The backend's detail (a reason) names the verdict and why.
            row.set_subtitle(&crate::reasons::text(&path.detail));
            row.set_subtitle_lines(4);
            let lost = matches!(
                path.verdict,
                qcs_client::types::Verdict::LostAtRestart | qcs_client::types::Verdict::Unknown
            );
            let icon = gtk::Image::from_icon_name(if lost {
                "dialog-warning-symbolic"
            } else {
                "emblem-ok-symbolic"
            });
            icon.add_css_class(if lost {
                "badge-not-persistent"
            } else {
                "badge-in-sync"
            });
            row.add_prefix(&icon);
            imp.persistence_list.append(&row);
        }
        imp.qube.replace(Some(view));
    }

    /// Fetch the profile's files and add a row per file with its state in the qube.
    fn fill_files(
        &self,
        row: &adw::ExpanderRow,
        sync: qcs_client::types::ProfileSync,
        generation: u64,
    ) {
        let Some(backend) = self.imp().backend.borrow().clone() else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = page)]
            self,
            #[weak]
            row,
            async move {
                let result = backend.profile(&sync.profile).await;
                if page.imp().generation.get() != generation {
                    return;
                }
                match result {
                    Ok(profile) => {
                        let files: Vec<(String, u64)> = profile
                            .files
                            .iter()
                            .map(|f| (f.path.clone(), f.generation))
                            .collect();
                        for (path, state) in qube::file_states(&sync, &files) {
                            let file = crate::widgets::plain_action_row();
                            file.add_css_class(FILE_ROW);
                            file.set_title(&path);
                            file.set_subtitle(&state.label());
                            let badge = state.badge();
                            let icon = gtk::Image::from_icon_name(badge.icon_name());
                            icon.add_css_class(badge.css_class());
                            file.add_prefix(&icon);
                            row.add_row(&file);
                        }
                        row.set_expanded(true);
                    }
                    Err(e) => {
                        let error = crate::widgets::plain_action_row();
                        error.set_title(&e.to_string());
                        row.add_row(&error);
                    }
                }
            }
        ));
    }
}
