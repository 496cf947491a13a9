//! "Push to Qubes…": a dialog that lists every qube with an assigned profile, each with a
//! check button, and plans one push into the chosen ones (the plan and its summary name
//! each qube, failed ones included).
//!
//! It must not plan or push by itself: it hands the chosen names to the window's
//! `plan_push`, and nothing runs before the user confirms that plan.

use adw::prelude::*;
use gtk::glib;
use qcs_client::types::QubeView;

use crate::i18n::ngettext_f;
use crate::window::QcsWindow;

/// The qubes the dialog offers: those with at least one assigned profile, by name.
pub fn offered(qubes: &[QubeView]) -> Vec<(String, Vec<String>)> {
    let mut offered: Vec<(String, Vec<String>)> = qubes
        .iter()
        .filter(|q| !q.profiles.is_empty())
        .map(|q| {
            (
                q.name.clone(),
                q.profiles.iter().map(|p| p.profile.clone()).collect(),
            )
        })
        .collect();
    offered.sort();
    offered
}

/// Builds and presents the dialog over `window`; "Plan Push" plans the chosen qubes.
pub fn present(window: &QcsWindow, qubes: &[QubeView]) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        Some(window),
        Some(&gettextrs::gettext("Push to Qubes")),
        Some(&gettextrs::gettext(
            "Choose the qubes to push to. The plan shows what would change in each; nothing is written until you confirm it.",
        )),
    );
    let list = gtk::ListBox::new();
    list.set_selection_mode(gtk::SelectionMode::None);
    list.add_css_class("boxed-list");
    let checks: Vec<(String, gtk::CheckButton)> = offered(qubes)
        .into_iter()
        .map(|(name, profiles)| {
            let row = crate::widgets::plain_action_row();
            row.set_title(&name);
            row.set_subtitle(&profiles.join(", "));
            let check = gtk::CheckButton::new();
            check.set_valign(gtk::Align::Center);
            row.add_prefix(&check);
            row.set_activatable_widget(Some(&check));
            list.append(&row);
            (name, check)
        })
        .collect();
    let scrolled = gtk::ScrolledWindow::builder()
        .hscrollbar_policy(gtk::PolicyType::Never)
        .propagate_natural_height(true)
        .max_content_height(360)
        .child(&list)
        .build();
    dialog.set_extra_child(Some(&scrolled));
    dialog.add_response("cancel", &gettextrs::gettext("_Cancel"));
    dialog.add_response("plan", &gettextrs::gettext("_Plan Push"));
    dialog.set_response_appearance("plan", adw::ResponseAppearance::Suggested);
    dialog.set_response_enabled("plan", false);
    dialog.set_default_response(Some("plan"));
    dialog.set_close_response("cancel");
    let chosen = std::rc::Rc::new(checks);
    for (_, check) in chosen.iter() {
        check.connect_toggled(glib::clone!(
            #[weak]
            dialog,
            #[strong]
            chosen,
            move |_| {
                let n = chosen.iter().filter(|(_, c)| c.is_active()).count();
                dialog.set_response_enabled("plan", n > 0);
                dialog.set_response_label(
                    "plan",
                    &ngettext_f(
                        "_Plan Push to {n} Qube",
                        "_Plan Push to {n} Qubes",
                        u32::try_from(n).unwrap_or(u32::MAX),
                        &[],
                    ),
                );
            }
        ));
    }
    dialog.connect_response(
        None,
        glib::clone!(
            #[weak]
            window,
            #[strong]
            chosen,
            move |_, response| {
                if response != "plan" {
                    return;
                }
                let names: Vec<String> = chosen
                    .iter()
                    .filter(|(_, c)| c.is_active())
                    .map(|(n, _)| n.clone())
                    .collect();
                if !names.is_empty() {
                    window.plan_push(names);
                }
            }
        ),
    );
    dialog.present();
    dialog
}

/// The check buttons of a dialog made by [`present`], by qube name.
pub fn choices(dialog: &adw::MessageDialog) -> Vec<(String, gtk::CheckButton)> {
    let mut found = Vec::new();
    let Some(root) = dialog.extra_child() else {
        return found;
    };
    let mut stack = vec![root];
    while let Some(widget) = stack.pop() {
        if let Some(row) = widget.downcast_ref::<adw::ActionRow>()
            && let Some(check) = row
                .activatable_widget()
                .and_then(|w| w.downcast::<gtk::CheckButton>().ok())
        {
            found.push((row.title().to_string(), check));
            continue;
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            child = c.next_sibling();
            stack.push(c);
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}
