//! The Variables page of a qube's settings: the template variables set for the qube
//! (editable: add, change, remove) and those it gets from its tags and its profiles'
//! defaults (read-only, with where each comes from and whether it is the value used).
//!
//! It talks to `org.qubes.ConfigSync1.Templates` only; names and values are checked by
//! the backend (its refusal is shown as a translated sentence). Values are shown as plain
//! text, never markup. `QcsVariablesPage` is built from resources/ui/variables.ui.

use std::cell::RefCell;
use std::rc::Rc;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;
use qcs_client::variables::{VariableList, VariableScope, VariableView, templates_proxy};

use crate::backend::{Backend, BackendError};
use crate::i18n::gettext_f;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/variables.ui")]
    pub struct QcsVariablesPage {
        #[template_child]
        pub own: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub inherited: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub name_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub value_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub set_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub status: TemplateChild<gtk::Label>,
        pub state: RefCell<Option<Rc<super::State>>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsVariablesPage {
        const NAME: &'static str = "QcsVariablesPage";
        type Type = super::QcsVariablesPage;
        type ParentType = adw::PreferencesPage;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsVariablesPage {}
    impl WidgetImpl for QcsVariablesPage {}
    impl PreferencesPageImpl for QcsVariablesPage {}
}

glib::wrapper! {
    /// The Variables page of one qube's settings.
    pub struct QcsVariablesPage(ObjectSubclass<imp::QcsVariablesPage>)
        @extends adw::PreferencesPage, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

/// The page's state, shared by its callbacks.
#[derive(Debug)]
pub struct State {
    backend: Backend,
    qube: String,
    own: adw::PreferencesGroup,
    inherited: adw::PreferencesGroup,
    status: gtk::Label,
    /// Rows added by the last load (removed before the next one).
    rows: RefCell<Vec<(adw::PreferencesGroup, gtk::Widget)>>,
}

/// A page for the settings dialog of `qube`.
pub fn variables_page(backend: Backend, qube: &str) -> QcsVariablesPage {
    let page: QcsVariablesPage = glib::Object::new();
    let imp = page.imp();
    let state = Rc::new(State {
        backend,
        qube: qube.to_owned(),
        own: imp.own.get(),
        inherited: imp.inherited.get(),
        status: imp.status.get(),
        rows: RefCell::new(Vec::new()),
    });
    imp.state.replace(Some(Rc::clone(&state)));
    let submit = {
        let state = Rc::clone(&state);
        let (name_row, value_row) = (imp.name_row.get(), imp.value_row.get());
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
    imp.set_button.connect_clicked({
        let submit = Rc::clone(&submit);
        move |_| submit()
    });
    imp.value_row.connect_entry_activated(move |_| submit());
    let loading = Rc::clone(&state);
    glib::spawn_future_local(async move { reload(&loading).await });
    page
}

impl QcsVariablesPage {
    /// Type a variable's name and value and press Set, as a user does.
    pub fn set_typed(&self, name: &str, value: &str) {
        let imp = self.imp();
        imp.name_row.set_text(name);
        imp.value_row.set_text(value);
        imp.set_button.emit_clicked();
    }

    /// The rows shown: (scope, name, value) with the scope as on the wire.
    pub fn shown(&self) -> Vec<(String, String, String)> {
        let Some(state) = self.imp().state.borrow().clone() else {
            return Vec::new();
        };
        state
            .rows
            .borrow()
            .iter()
            .filter_map(|(_, row)| {
                let row = row.downcast_ref::<adw::ActionRow>()?;
                let scope = row.widget_name().strip_prefix("variable-")?.to_owned();
                let (scope, _) = scope.split_once('-')?;
                Some((
                    scope.to_owned(),
                    row.title().to_string(),
                    row.subtitle().map(|s| s.to_string()).unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// The remove button of the qube's own variable `name`.
    pub fn remove_button(&self, name: &str) -> Option<gtk::Button> {
        let state = self.imp().state.borrow().clone()?;
        let rows = state.rows.borrow();
        let row = rows
            .iter()
            .map(|(_, r)| r)
            .find(|r| r.widget_name() == format!("variable-qube-{name}").as_str())?;
        let mut stack = vec![row.clone()];
        while let Some(widget) = stack.pop() {
            if let Ok(button) = widget.clone().downcast::<gtk::Button>() {
                return Some(button);
            }
            let mut child = widget.first_child();
            while let Some(c) = child {
                child = c.next_sibling();
                stack.push(c);
            }
        }
        None
    }

    /// The refusal on show, if any.
    pub fn status_text(&self) -> Option<String> {
        let status = &self.imp().status;
        status.is_visible().then(|| status.label().to_string())
    }
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
