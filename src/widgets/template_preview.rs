//! The template marker and per-qube preview of the profile editor: a switch that marks
//! the open file as a template (rendered per qube from the qube's facts and variables),
//! and, for a template, what it renders for a chosen qube — or why it cannot be rendered
//! (the reason a push would give) — with the variables it uses and where each value comes
//! from.
//!
//! The qubes offered are every qube the profile reaches as a push would — assigned one
//! by one or covered now by an assignment rule — as the backend reports them
//! (`ListQubes`, per profile with its sources); it never evaluates rules itself and never
//! offers dom0 or the config qube (the backend refuses both as targets anyway).
//!
//! It shows the backend's rendering (`PreviewTemplate`) as text made from the safe
//! segments (hidden characters as ⟦NAME⟧ tokens), never markup, and renders nothing
//! itself. `QcsTemplatePreview` is built from resources/ui/template_preview.ui.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::{ProfileView, QubeList, Segment};
use qcs_client::variables::{TemplatePreview, TemplatesProxy, VariableScope, templates_proxy};

use crate::backend::{Backend, BackendError};
use crate::i18n::gettext_f;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/template_preview.ui")]
    pub struct QcsTemplatePreview {
        #[template_child]
        pub switch: TemplateChild<gtk::Switch>,
        #[template_child]
        pub qubes: TemplateChild<gtk::DropDown>,
        #[template_child]
        pub status: TemplateChild<gtk::Label>,
        #[template_child]
        pub variables: TemplateChild<gtk::Label>,
        #[template_child]
        pub output: TemplateChild<gtk::TextView>,
        #[template_child]
        pub output_window: TemplateChild<gtk::ScrolledWindow>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsTemplatePreview {
        const NAME: &'static str = "QcsTemplatePreview";
        type Type = super::QcsTemplatePreview;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsTemplatePreview {}
    impl WidgetImpl for QcsTemplatePreview {}
    impl BoxImpl for QcsTemplatePreview {}
}

glib::wrapper! {
    /// The template marker and preview of one file (one per editor, replaced per file).
    pub struct QcsTemplatePreview(ObjectSubclass<imp::QcsTemplatePreview>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl QcsTemplatePreview {
    /// Whether the file is marked as a template.
    pub fn is_template(&self) -> bool {
        self.imp().switch.is_active()
    }

    /// The line above the preview ("What work gets:", or why nothing is written).
    pub fn status_text(&self) -> String {
        self.imp().status.label().to_string()
    }

    /// The rendered text shown.
    pub fn output_text(&self) -> String {
        let buffer = self.imp().output.buffer();
        buffer
            .text(&buffer.start_iter(), &buffer.end_iter(), false)
            .to_string()
    }

    /// Choose the qube to preview for (false: not in the list).
    pub fn choose_qube(&self, qube: &str) -> bool {
        let Some(model) = self.imp().qubes.model().and_downcast::<gtk::StringList>() else {
            return false;
        };
        for i in 0..model.n_items() {
            if model.string(i).as_deref() == Some(qube) {
                self.imp().qubes.set_selected(i);
                return true;
            }
        }
        false
    }
}

/// The preview shown next to `anchor`'s, if any.
pub fn shown(anchor: &impl IsA<gtk::Widget>) -> Option<QcsTemplatePreview> {
    let parent = anchor.parent()?;
    let mut child = parent.first_child();
    while let Some(widget) = child {
        if let Ok(found) = widget.clone().downcast::<QcsTemplatePreview>() {
            return Some(found);
        }
        child = widget.next_sibling();
    }
    None
}

struct State {
    backend: Backend,
    profile: String,
    path: String,
    switch: gtk::Switch,
    qubes: gtk::DropDown,
    /// The qubes the profile reaches now (as the backend reports them), in list order.
    qube_names: RefCell<Vec<String>>,
    /// Why no qube is offered when the list could not be read (else the hint to assign).
    qubes_error: RefCell<Option<String>>,
    status: gtk::Label,
    variables: gtk::Label,
    output: gtk::TextView,
    output_window: gtk::ScrolledWindow,
    /// Set while the switch is set from the backend (not a user's change).
    loading: Cell<bool>,
}

/// Shows the marker and preview for `path` of `profile` below `anchor` (the editor's
/// provenance line), replacing the one shown for the previous file.
pub fn attach(
    anchor: &gtk::Label,
    backend: Option<Backend>,
    profile: Option<&ProfileView>,
    path: &str,
) {
    let Some(parent) = anchor.parent().and_then(|p| p.downcast::<gtk::Box>().ok()) else {
        return;
    };
    let mut child = parent.first_child();
    while let Some(widget) = child {
        child = widget.next_sibling();
        if widget.is::<QcsTemplatePreview>() {
            parent.remove(&widget);
        }
    }
    let (Some(backend), Some(profile)) = (backend, profile) else {
        return;
    };
    let preview = build(backend, profile, path);
    parent.insert_child_after(&preview, Some(anchor));
}

fn build(backend: Backend, profile: &ProfileView, path: &str) -> QcsTemplatePreview {
    let root: QcsTemplatePreview = glib::Object::new();
    let imp = root.imp();
    imp.qubes.set_model(Some(&gtk::StringList::new(&[])));
    let (switch, qubes) = (imp.switch.get(), imp.qubes.get());
    let (status, variables) = (imp.status.get(), imp.variables.get());
    let (output, output_window) = (imp.output.get(), imp.output_window.get());
    let state = Rc::new(State {
        backend,
        profile: profile.id.clone(),
        path: path.to_owned(),
        switch: switch.clone(),
        qubes: qubes.clone(),
        qube_names: RefCell::new(Vec::new()),
        qubes_error: RefCell::new(None),
        status,
        variables,
        output,
        output_window,
        loading: Cell::new(true),
    });
    switch.connect_active_notify({
        let state = Rc::clone(&state);
        move |switch| {
            if state.loading.get() {
                return;
            }
            let state = Rc::clone(&state);
            let on = switch.is_active();
            glib::spawn_future_local(async move { mark(&state, on).await });
        }
    });
    qubes.connect_selected_notify({
        let state = Rc::clone(&state);
        move |_| {
            if state.loading.get() {
                return;
            }
            let state = Rc::clone(&state);
            glib::spawn_future_local(async move { refresh(&state).await });
        }
    });
    let initial = Rc::clone(&state);
    glib::spawn_future_local(async move { load(&initial).await });
    root
}

async fn proxy(state: &State) -> Result<TemplatesProxy<'static>, BackendError> {
    templates_proxy(state.backend.proxy())
        .await
        .map_err(|e| BackendError::Reason(qcs_client::error::bus_reason(&e)))
}

/// The qubes `profile` reaches now, as the backend evaluated them for a push: each
/// qube whose effective profiles (direct assignments and rules) include it. dom0 and
/// administrative qubes are never offered, whatever the list says.
fn reached_qubes(list: &QubeList, profile: &str) -> Vec<String> {
    list.qubes
        .iter()
        .filter(|q| q.name != "dom0" && q.class != "AdminVM")
        .filter(|q| q.profiles.iter().any(|p| p.profile == profile))
        .map(|q| q.name.clone())
        .collect()
}

/// Whether the file is a template now and the qubes it reaches, then the preview.
async fn load(state: &Rc<State>) {
    let templated = async {
        let list = proxy(state).await?.templated_files(&state.profile).await?;
        Ok::<_, BackendError>(list.contains(&state.path))
    }
    .await;
    let qubes = state.backend.qubes().await;
    state.loading.set(true);
    match templated {
        Ok(on) => state.switch.set_active(on),
        Err(e) => state.status.set_label(&e.to_string()),
    }
    let names = match qubes {
        Ok(list) => {
            let names = reached_qubes(&list, &state.profile);
            let error = list.admin_error.as_ref().map(crate::reasons::text);
            state
                .qubes_error
                .replace(error.filter(|_| names.is_empty()));
            names
        }
        Err(e) => {
            state.qubes_error.replace(Some(e.to_string()));
            Vec::new()
        }
    };
    let shown: Vec<&str> = names.iter().map(String::as_str).collect();
    state.qubes.set_model(Some(&gtk::StringList::new(&shown)));
    state.qube_names.replace(names);
    state.loading.set(false);
    refresh(state).await;
}

/// Marks or unmarks the file (a new generation), then shows the preview again.
async fn mark(state: &Rc<State>, on: bool) {
    let result = async {
        proxy(state)
            .await?
            .set_file_template(&state.profile, &state.path, on)
            .await?;
        Ok::<_, BackendError>(())
    }
    .await;
    if let Err(e) = result {
        state.loading.set(true);
        state.switch.set_active(!on);
        state.loading.set(false);
        state.status.set_label(&e.to_string());
        return;
    }
    refresh(state).await;
}

/// A line of safe segments as plain text (tabs as tabs, other tokens as ⟦NAME⟧).
fn line_text(line: &[Segment]) -> String {
    line.iter()
        .map(|s| match s {
            Segment::Text { text, .. } => text.clone(),
            Segment::Token { label, .. } if label == "TAB" => "\t".to_owned(),
            Segment::Token { label, .. } => format!("⟦{label}⟧"),
            Segment::FindingAnchor { .. } => String::new(),
        })
        .collect()
}

fn scope_text(scope: Option<VariableScope>, target: Option<&str>) -> String {
    let target = target.unwrap_or_default();
    match scope {
        Some(VariableScope::Qube) => gettextrs::gettext("set for the qube"),
        Some(VariableScope::Tag) => gettext_f("from tag {tag}", &[("tag", target)]),
        Some(VariableScope::Profile) => {
            gettext_f("default of profile {profile}", &[("profile", target)])
        }
        _ => gettextrs::gettext("not set"),
    }
}

/// The preview for the chosen qube (nothing when the file is not a template).
async fn refresh(state: &Rc<State>) {
    let on = state.switch.is_active();
    state.qubes.set_sensitive(on);
    state.output_window.set_visible(on);
    state.variables.set_visible(on);
    if !on {
        state.status.set_label("");
        return;
    }
    let selected = state
        .qube_names
        .borrow()
        .get(usize::try_from(state.qubes.selected()).unwrap_or(usize::MAX))
        .cloned();
    let Some(qube) = selected else {
        let why = state.qubes_error.borrow().clone().unwrap_or_else(|| {
            gettextrs::gettext("Assign the profile to a qube to preview what it gets.")
        });
        state.status.set_label(&why);
        state.output.buffer().set_text("");
        return;
    };
    let preview: Result<TemplatePreview, BackendError> = async {
        let json = proxy(state)
            .await?
            .preview_template(&state.profile, &state.path, &qube)
            .await?;
        Ok(serde_json::from_str(&json)?)
    }
    .await;
    let preview = match preview {
        Ok(p) => p,
        Err(e) => {
            state.status.set_label(&e.to_string());
            state.output.buffer().set_text("");
            return;
        }
    };
    let used: Vec<String> = preview
        .variables
        .iter()
        .map(|v| {
            let value = if v.ambiguous {
                gettextrs::gettext("(the qube's tags disagree)")
            } else {
                v.value
                    .clone()
                    .unwrap_or_else(|| gettextrs::gettext("(not set)"))
            };
            format!(
                "var.{} = {value} · {}",
                v.name,
                scope_text(v.scope, v.target.as_deref())
            )
        })
        .collect();
    state.variables.set_label(&used.join("\n"));
    match &preview.error {
        Some(reason) => {
            state.status.set_label(&gettext_f(
                "A push writes nothing to {qube}: {reason}",
                &[("qube", &qube), ("reason", &crate::reasons::text(reason))],
            ));
            state.status.add_css_class("error");
            state.output.buffer().set_text("");
        }
        None => {
            state.status.remove_css_class("error");
            state
                .status
                .set_label(&gettext_f("What {qube} gets:", &[("qube", &qube)]));
            let text: Vec<String> = preview.lines.iter().map(|l| line_text(l)).collect();
            state.output.buffer().set_text(&text.join("\n"));
        }
    }
}
