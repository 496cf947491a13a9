//! Targeting and onboarding in the app: the line that says which rule brought a profile to
//! a qube ("via tag dev"), the first-run page of an empty store (what to do first: create
//! a profile, or adopt a file from a qube), and the one-step "Adopt a file" dialog — a
//! snapshot of that one path that arrives in the inbox as a proposal and is opened for
//! review at once (the qube is as untrusted as ever; nothing enters the store unreviewed).
//!
//! It must not evaluate rules (the backend does) nor accept anything.

use adw::prelude::*;
use gtk::glib;
use qcs_client::rules::{AssignmentSource, SourceKind};

use crate::i18n::gettext_f;
use crate::window::QcsWindow;

/// What brought a profile, for a qube page's subtitle: `None` for a single assignment
/// only; otherwise e.g. "via tag dev" (several joined with commas).
pub fn sources_label(sources: &[AssignmentSource]) -> Option<String> {
    let rules: Vec<String> = sources
        .iter()
        .filter(|s| s.kind != SourceKind::Single)
        .map(|s| match s.kind {
            SourceKind::Tag => gettext_f("tag {value}", &[("value", &s.value)]),
            SourceKind::Template => gettext_f("template {value}", &[("value", &s.value)]),
            SourceKind::Class => gettext_f("class {value}", &[("value", &s.value)]),
            _ => gettext_f("unknown rule {value}", &[("value", &s.value)]),
        })
        .collect();
    if rules.is_empty() {
        return None;
    }
    Some(gettext_f("via {rules}", &[("rules", &rules.join(", "))]))
}

/// A "Push" button for one profile of one qube (`win.plan-push-profile`), for a qube
/// page's profile row.
pub fn push_profile_button(qube: &str, profile: &str) -> gtk::Button {
    let button = gtk::Button::from_icon_name("document-send-symbolic");
    button.set_valign(gtk::Align::Center);
    button.add_css_class("flat");
    button.set_tooltip_text(Some(&gettext_f(
        "Push {profile} to {qube}",
        &[("profile", profile), ("qube", qube)],
    )));
    button.set_action_name(Some("win.plan-push-profile"));
    button.set_action_target_value(Some(&(qube.to_owned(), profile.to_owned()).to_variant()));
    button.set_widget_name("push-profile");
    button
}

/// Sets the window's status page: the first-run guide when the store is empty (no
/// profile, nothing pending), otherwise the usual "select something" page. `shown` is
/// the window's record of which one is on the page (true: the guide); the page is only
/// rebuilt when that changes.
pub fn show_onboarding(
    page: &adw::StatusPage,
    shown: &std::cell::Cell<bool>,
    store_is_empty: bool,
) {
    if !store_is_empty {
        if shown.replace(false) {
            page.set_icon_name(Some("emblem-synchronizing-symbolic"));
            page.set_title(&gettextrs::gettext("Config Sync"));
            page.set_description(Some(&gettextrs::gettext(
                "Select a qube, a profile or a proposal.",
            )));
            page.set_child(gtk::Widget::NONE);
        }
        return;
    }
    if shown.replace(true) {
        return;
    }
    page.set_icon_name(Some("document-new-symbolic"));
    page.set_title(&gettextrs::gettext("Nothing is synced yet"));
    page.set_description(Some(&gettextrs::gettext(
        "Start with a profile — a named set of files such as git or ssh — and add files to it, or adopt a file that already exists in one of your qubes. Whatever comes from a qube is shown for review before it enters the store.",
    )));
    let buttons = gtk::Box::new(gtk::Orientation::Vertical, 12);
    buttons.set_halign(gtk::Align::Center);
    let create = gtk::Button::with_mnemonic(&gettextrs::gettext("_Create a Profile"));
    create.set_action_name(Some("win.new-profile"));
    create.add_css_class("pill");
    create.add_css_class("suggested-action");
    create.set_widget_name("onboarding-create");
    let adopt = gtk::Button::with_mnemonic(&gettextrs::gettext("_Adopt a File From a Qube…"));
    adopt.set_action_name(Some("win.adopt-file"));
    adopt.add_css_class("pill");
    adopt.set_widget_name("onboarding-adopt");
    buttons.append(&create);
    buttons.append(&adopt);
    page.set_child(Some(&buttons));
}

/// The "Adopt a file" dialog: a qube (from `qubes`: names the backend listed, without
/// dom0 and the config qube, which it refuses anyway), a home-relative path and a profile
/// (existing, or a new id; suggested from the path). "Adopt" reads that one file from the
/// qube; the proposal that results is opened for review.
pub fn adopt_dialog(window: &QcsWindow, qubes: &[String]) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        Some(window),
        Some(&gettextrs::gettext("Adopt a File")),
        Some(&gettextrs::gettext(
            "The file is read from the qube and shown for review; it enters the profile only when you accept it. A new profile is created and assigned to the qube.",
        )),
    );
    let fields = adw::PreferencesGroup::new();
    let qube_names: Vec<&str> = qubes.iter().map(String::as_str).collect();
    let qube = gtk::DropDown::from_strings(&qube_names);
    qube.set_widget_name("adopt-qube");
    qube.set_valign(gtk::Align::Center);
    let qube_row = adw::ActionRow::new();
    qube_row.set_title(&gettextrs::gettext("Qube"));
    qube_row.add_suffix(&qube);
    qube_row.set_activatable_widget(Some(&qube));
    let path = adw::EntryRow::new();
    path.set_title(&gettextrs::gettext(
        "Path in the home directory, e.g. .tmux.conf",
    ));
    path.set_widget_name("adopt-path");
    let profile = adw::EntryRow::new();
    profile.set_title(&gettextrs::gettext("Profile (existing or new)"));
    profile.set_widget_name("adopt-profile");
    // Suggest the path's name as a new profile's id until the user types one.
    let suggested = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    path.connect_changed(glib::clone!(
        #[weak]
        profile,
        #[strong]
        suggested,
        move |path| {
            let current = profile.text();
            if current.is_empty() || current == suggested.borrow().as_str() {
                let suggestion = suggested_profile(&path.text());
                suggested.replace(suggestion.clone());
                profile.set_text(&suggestion);
            }
        }
    ));
    fields.add(&qube_row);
    fields.add(&path);
    fields.add(&profile);
    dialog.set_extra_child(Some(&fields));
    dialog.add_response("cancel", &gettextrs::gettext("_Cancel"));
    dialog.add_response("adopt", &gettextrs::gettext("_Adopt"));
    dialog.set_response_appearance("adopt", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("adopt"));
    dialog.set_close_response("cancel");
    let qubes = qubes.to_vec();
    dialog.connect_response(
        None,
        glib::clone!(
            #[weak]
            window,
            #[weak]
            qube,
            #[weak]
            path,
            #[weak]
            profile,
            move |_, response| {
                if response != "adopt" {
                    return;
                }
                let Some(name) = qubes.get(qube.selected() as usize).cloned() else {
                    window.report(Err(gettextrs::gettext("Choose a qube to adopt from.")));
                    return;
                };
                adopt(
                    &window,
                    name,
                    path.text().trim().trim_start_matches("~/").to_owned(),
                    profile.text().trim().to_owned(),
                );
            }
        ),
    );
    dialog.present();
    dialog
}

/// A profile id from a path's last component: `.tmux.conf` → `tmux`.
fn suggested_profile(path: &str) -> String {
    let name = path.rsplit('/').find(|c| !c.is_empty()).unwrap_or("");
    let stem = name.trim_start_matches('.');
    let stem = stem.split('.').next().unwrap_or("");
    stem.chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .take(31)
        .collect()
}

fn adopt(window: &QcsWindow, qube: String, path: String, profile: String) {
    let Some(backend) = window.backend() else {
        return;
    };
    glib::spawn_future_local(glib::clone!(
        #[weak]
        window,
        async move {
            match backend.adopt(&qube, &path, &profile).await {
                Ok(result) => {
                    window.refresh();
                    match result.proposal_ids.first() {
                        Some(id) => window.open_proposal(*id),
                        None => {
                            let status = result
                                .paths
                                .first()
                                .map(|(_, reason)| crate::reasons::text(reason))
                                .unwrap_or_default();
                            window.report(Ok(status));
                        }
                    }
                }
                Err(e) => window.report(Err(e.to_string())),
            }
        }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_sources_are_named_and_single_assignments_are_not() {
        let single = AssignmentSource {
            kind: SourceKind::Single,
            value: String::new(),
        };
        assert_eq!(sources_label(std::slice::from_ref(&single)), None);
        let tag = AssignmentSource {
            kind: SourceKind::Tag,
            value: "dev".into(),
        };
        let class = AssignmentSource {
            kind: SourceKind::Class,
            value: "DispVM".into(),
        };
        assert_eq!(
            sources_label(&[single, tag, class]).as_deref(),
            Some("via tag dev, class DispVM")
        );
    }

    #[test]
    fn a_profile_id_is_suggested_from_the_path() {
        assert_eq!(suggested_profile(".tmux.conf"), "tmux");
        assert_eq!(suggested_profile(".config/nvim/init.lua"), "init");
        assert_eq!(suggested_profile(".gitconfig"), "gitconfig");
        assert_eq!(suggested_profile(".config/Foo_Bar"), "foobar");
        assert_eq!(suggested_profile(""), "");
    }
}
