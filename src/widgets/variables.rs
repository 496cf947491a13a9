//! The Variables page of a qube's settings: the template variables set for the qube
//! (editable: add, change, remove) and those it gets from its tags and its profiles'
//! defaults (read-only, with where each comes from and whether it is the value used).
//!
//! It talks to `org.qubes.ConfigSync1.Templates` only; names and values are checked by
//! the backend (its refusal is shown as a translated sentence). Values are shown as plain
//! text, never markup.

use std::cell::RefCell;
use std::rc::Rc;

use adw::prelude::*;
use gtk::glib;
use qcs_client::variables::{VariableList, VariableScope, VariableView, templates_proxy};

use crate::backend::{Backend, BackendError};
use crate::i18n::gettext_f;

/// The page's state, shared by its callbacks.
struct State {
    backend: Backend,
    qube: String,
    own: adw::PreferencesGroup,
    inherited: adw::PreferencesGroup,
    status: gtk::Label,
    /// Rows added by the last load (removed before the next one).
    rows: RefCell<Vec<(adw::PreferencesGroup, gtk::Widget)>>,
}

/// A page for the settings dialog of `qube`.
pub fn variables_page(backend: Backend, qube: &str) -> adw::PreferencesPage {
    let page = adw::PreferencesPage::new();
    page.set_title(&gettextrs::gettext("Variables"));
    page.set_icon_name(Some("text-x-generic-symbolic"));
    page.set_widget_name("variables-page");
    let own = adw::PreferencesGroup::new();
    own.set_title(&gettextrs::gettext("Set for this qube"));
    own.set_description(Some(&gettextrs::gettext(
        "Templates use them as {{ var.NAME }}. A value set here wins over one set for a tag, which wins over a profile's default.",
    )));
    let inherited = adw::PreferencesGroup::new();
    inherited.set_title(&gettextrs::gettext("From tags and profile defaults"));
    let add = adw::PreferencesGroup::new();
    add.set_title(&gettextrs::gettext("Set a variable"));
    let name_row = adw::EntryRow::new();
    name_row.set_title(&gettextrs::gettext("Name"));
    name_row.set_widget_name("variable-name");
    let value_row = adw::EntryRow::new();
    value_row.set_title(&gettextrs::gettext("Value"));
    value_row.set_widget_name("variable-value");
    let set_button = gtk::Button::with_mnemonic(&gettextrs::gettext("_Set"));
    set_button.set_valign(gtk::Align::Center);
    set_button.add_css_class("suggested-action");
    set_button.set_widget_name("variable-set");
    value_row.add_suffix(&set_button);
    let status = gtk::Label::new(None);
    status.set_wrap(true);
    status.set_xalign(0.0);
    status.set_use_markup(false);
    status.set_visible(false);
    status.add_css_class("error");
    add.add(&name_row);
    add.add(&value_row);
    add.add(&status);
    page.add(&own);
    page.add(&add);
    page.add(&inherited);
    let state = Rc::new(State {
        backend,
        qube: qube.to_owned(),
        own,
        inherited,
        status,
        rows: RefCell::new(Vec::new()),
    });
    let submit = {
        let state = Rc::clone(&state);
        let (name_row, value_row) = (name_row.clone(), value_row.clone());
        move || {
            let name = name_row.text().trim().to_owned();
            let value = value_row.text().to_string();
            if name.is_empty() {
                return;
            }
            let state = Rc::clone(&state);
            let (name_row, value_row) = (name_row.clone(), value_row.clone());
            glib::spawn_future_local(async move {
                let result = change(&state, &name, Some(&value)).await;
                if result.is_ok() {
                    name_row.set_text("");
                    value_row.set_text("");
                }
                show(&state, result).await;
            });
        }
    };
    let submit = Rc::new(submit);
    set_button.connect_clicked({
        let submit = Rc::clone(&submit);
        move |_| submit()
    });
    value_row.connect_entry_activated(move |_| submit());
    let loading = Rc::clone(&state);
    glib::spawn_future_local(async move { reload(&loading).await });
    page
}

/// Sets (`Some`) or removes a variable of the qube.
async fn change(state: &State, name: &str, value: Option<&str>) -> Result<(), BackendError> {
    let proxy = templates_proxy(state.backend.proxy())
        .await
        .map_err(|e| BackendError::Reason(qcs_client::error::bus_reason(&e)))?;
    match value {
        Some(value) => proxy.set_variable("qube", &state.qube, name, value).await?,
        None => proxy.unset_variable("qube", &state.qube, name).await?,
    }
    Ok(())
}

/// Shows the outcome of a change and loads the list again.
async fn show(state: &Rc<State>, result: Result<(), BackendError>) {
    match result {
        Ok(()) => state.status.set_visible(false),
        Err(e) => {
            state.status.set_label(&e.to_string());
            state.status.set_visible(true);
        }
    }
    reload(state).await;
}

fn scope_text(v: &VariableView) -> String {
    match v.scope {
        VariableScope::Qube => gettextrs::gettext("this qube"),
        VariableScope::Tag => gettext_f("tag {tag}", &[("tag", &v.target)]),
        VariableScope::Profile => {
            gettext_f("default of profile {profile}", &[("profile", &v.target)])
        }
        VariableScope::Unknown => gettextrs::gettext("unknown"),
    }
}

/// Loads the qube's variables and fills both groups.
async fn reload(state: &Rc<State>) {
    for (group, row) in state.rows.borrow_mut().drain(..) {
        group.remove(&row);
    }
    let list: Result<VariableList, BackendError> = async {
        let proxy = templates_proxy(state.backend.proxy())
            .await
            .map_err(|e| BackendError::Reason(qcs_client::error::bus_reason(&e)))?;
        let json = proxy.list_variables(&state.qube).await?;
        Ok(serde_json::from_str(&json)?)
    }
    .await;
    let list = match list {
        Ok(list) => list,
        Err(e) => {
            state.status.set_label(&e.to_string());
            state.status.set_visible(true);
            return;
        }
    };
    let mut rows = Vec::new();
    let mut own = 0;
    for v in &list.variables {
        let row = crate::widgets::plain_action_row();
        row.set_title(&v.name);
        row.set_subtitle(&v.value);
        row.set_widget_name(&format!("variable-{}-{}", v.scope.as_str(), v.name));
        if v.scope == VariableScope::Qube {
            own += 1;
            let remove = gtk::Button::from_icon_name("list-remove-symbolic");
            remove.set_valign(gtk::Align::Center);
            remove.add_css_class("flat");
            remove.set_tooltip_text(Some(&gettext_f(
                "Remove {name} from this qube",
                &[("name", &v.name)],
            )));
            let name = v.name.clone();
            let state_for_remove = Rc::clone(state);
            remove.connect_clicked(move |_| {
                let state = Rc::clone(&state_for_remove);
                let name = name.clone();
                glib::spawn_future_local(async move {
                    let result = change(&state, &name, None).await;
                    show(&state, result).await;
                });
            });
            row.add_suffix(&remove);
            state.own.add(&row);
            rows.push((state.own.clone(), row.upcast::<gtk::Widget>()));
        } else {
            let used = if v.ambiguous {
                gettextrs::gettext("the qube's tags disagree: set it for this qube")
            } else if v.effective == Some(true) {
                gettextrs::gettext("used")
            } else {
                gettextrs::gettext("not used: a more specific value wins")
            };
            let label = gtk::Label::new(Some(&format!("{} · {used}", scope_text(v))));
            label.set_use_markup(false);
            label.add_css_class("dim-label");
            label.set_wrap(true);
            row.add_suffix(&label);
            state.inherited.add(&row);
            rows.push((state.inherited.clone(), row.upcast::<gtk::Widget>()));
        }
    }
    if own == 0 {
        let row = crate::widgets::plain_action_row();
        row.set_title(&gettextrs::gettext("None"));
        state.own.add(&row);
        rows.push((state.own.clone(), row.upcast::<gtk::Widget>()));
    }
    if list.variables.len() == own {
        let row = crate::widgets::plain_action_row();
        row.set_title(&gettextrs::gettext("None"));
        state.inherited.add(&row);
        rows.push((state.inherited.clone(), row.upcast::<gtk::Widget>()));
    }
    state.rows.replace(rows);
}
