//! The assignment rules of the profile shown in `QcsProfileEditor`: "every qube with tag
//! T / on template T / of class C gets this profile", listed with the qubes each covers
//! now, added from the kind drop-down and the value entry, removed from a row's button.
//!
//! It must not evaluate a rule or check a value itself beyond "not empty": the backend
//! does both (live from the Admin API; dom0 and the config qube are never covered), and a
//! refusal is its reason code shown as a translated sentence through `failed`.

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::rules::{RuleView, SourceKind};

use super::QcsProfileEditor;
use crate::i18n::gettext_f;

/// The kinds in the drop-down's order.
pub const RULE_KINDS: [SourceKind; 3] = [SourceKind::Tag, SourceKind::Template, SourceKind::Class];

/// "tag dev", "template fedora-40", "class DispVM", translated.
pub fn rule_title(kind: SourceKind, value: &str) -> String {
    match kind {
        SourceKind::Tag => gettext_f("tag {value}", &[("value", value)]),
        SourceKind::Template => gettext_f("template {value}", &[("value", value)]),
        SourceKind::Class => gettext_f("class {value}", &[("value", value)]),
        _ => gettext_f("unknown rule {value}", &[("value", value)]),
    }
}

impl QcsProfileEditor {
    pub(super) fn setup_rules(&self) {
        let imp = self.imp();
        imp.add_rule_button.connect_clicked(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            move |_| editor.add_typed_rule()
        ));
        imp.rule_value.connect_activate(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            move |_| editor.add_typed_rule()
        ));
    }

    fn add_typed_rule(&self) {
        let imp = self.imp();
        let index = usize::try_from(imp.rule_kind.selected()).unwrap_or(0);
        let kind = RULE_KINDS.get(index).copied().unwrap_or(SourceKind::Tag);
        let value = imp.rule_value.text().trim().to_owned();
        if !value.is_empty() {
            self.change_rule(kind, &value, true);
        }
    }

    /// Fill in the kind and value fields as a user types them (for tests and the
    /// keyboard): `kind` must be one of [`RULE_KINDS`].
    pub fn type_rule(&self, kind: SourceKind, value: &str) {
        let imp = self.imp();
        if let Some(index) = RULE_KINDS.iter().position(|k| *k == kind) {
            imp.rule_kind
                .set_selected(u32::try_from(index).unwrap_or(0));
        }
        imp.rule_value.set_text(value);
        imp.add_rule_button.emit_clicked();
    }

    /// Adds or removes a rule for the shown profile (the backend checks the value).
    pub fn change_rule(&self, kind: SourceKind, value: &str, add: bool) {
        let imp = self.imp();
        let (Some(backend), Some(profile)) = (imp.backend.borrow().clone(), self.profile_id())
        else {
            return;
        };
        let value = value.to_owned();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            async move {
                let result = backend.set_rule(kind, &value, &profile, add).await;
                if result.is_ok() && add {
                    editor.imp().rule_value.set_text("");
                }
                let title = rule_title(kind, &value);
                let select = editor.current_path();
                editor
                    .after_change(
                        &backend,
                        &profile,
                        select,
                        result.map(|_| {
                            if add {
                                gettext_f(
                                    "Every qube of {rule} now gets {profile}",
                                    &[("rule", &title), ("profile", &profile)],
                                )
                            } else {
                                gettext_f(
                                    "The rule {rule} for {profile} is removed",
                                    &[("rule", &title), ("profile", &profile)],
                                )
                            }
                        }),
                    )
                    .await;
            }
        ));
    }

    /// Fetch the rules and show those of the shown profile.
    pub(super) fn refresh_rules(&self) {
        let (Some(backend), Some(profile)) =
            (self.imp().backend.borrow().clone(), self.profile_id())
        else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            async move {
                match backend.rules().await {
                    Ok(list) => {
                        // Another profile may be shown by now.
                        if editor.profile_id().as_deref() == Some(profile.as_str()) {
                            let mine: Vec<RuleView> = list
                                .rules
                                .into_iter()
                                .filter(|r| r.profile == profile)
                                .collect();
                            editor.fill_rules(&mine);
                        }
                    }
                    Err(e) => editor.changed(Err(e.to_string())),
                }
            }
        ));
    }

    fn fill_rules(&self, rules: &[RuleView]) {
        let imp = self.imp();
        let list = &imp.rule_list;
        while let Some(child) = list.first_child() {
            list.remove(&child);
        }
        if rules.is_empty() {
            let row = crate::widgets::plain_action_row();
            row.set_title(&gettextrs::gettext("None: only qubes assigned one by one"));
            list.append(&row);
        }
        let mut buttons = Vec::new();
        for rule in rules {
            let row = crate::widgets::plain_action_row();
            let title = rule_title(rule.kind, &rule.value);
            row.set_title(&title);
            row.set_subtitle(&if rule.covers.is_empty() {
                gettextrs::gettext("covers no qube now")
            } else {
                gettext_f("covers {qubes}", &[("qubes", &rule.covers.join(", "))])
            });
            let remove = gtk::Button::from_icon_name("list-remove-symbolic");
            remove.set_valign(gtk::Align::Center);
            remove.add_css_class("flat");
            remove.set_tooltip_text(Some(&gettext_f(
                "Remove the rule {rule}",
                &[("rule", &title)],
            )));
            let (kind, value) = (rule.kind, rule.value.clone());
            remove.connect_clicked(glib::clone!(
                #[weak(rename_to = editor)]
                self,
                move |_| editor.change_rule(kind, &value, false)
            ));
            row.add_suffix(&remove);
            list.append(&row);
            buttons.push(remove);
        }
        imp.rule_buttons.replace(buttons);
        imp.rules.replace(
            rules
                .iter()
                .map(|r| (r.kind, r.value.clone(), r.covers.clone()))
                .collect(),
        );
    }

    /// The remove button of the rule `kind` `value` as shown.
    pub fn rule_remove_button(&self, kind: SourceKind, value: &str) -> Option<gtk::Button> {
        let imp = self.imp();
        let index = imp
            .rules
            .borrow()
            .iter()
            .position(|(k, v, _)| *k == kind && v == value)?;
        imp.rule_buttons.borrow().get(index).cloned()
    }

    /// The rules shown for this profile: (kind, value, qubes covered).
    pub fn shown_rules(&self) -> Vec<(SourceKind, String, Vec<String>)> {
        self.imp().rules.borrow().clone()
    }
}
