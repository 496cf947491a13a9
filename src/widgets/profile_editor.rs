//! `QcsProfileEditor`: a profile's files — list, mode, content — edited as local edits
//! (each save is a new generation in the store, made by the backend), and its allowlist
//! of globs for new files qubes may propose. Unsaved edits are never dropped without
//! asking: [`QcsProfileEditor::leave`] asks save / discard / cancel first.
//!
//! It tells the window through signals: `stored` (a message for a toast) after a save,
//! add or remove, `failed` (a sentence) when the backend refused.

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

use adw::prelude::*;
use gtk::glib;
use gtk::glib::subclass::Signal;
use gtk::subclass::prelude::*;
use qcs_client::types::ProfileView;

use crate::backend::Backend;
use crate::i18n::gettext_f;

/// Text tag marking hidden or confusing characters in the content.
const HIDDEN_TAG: &str = "hidden-character";
/// Text tag marking the lines that hold them.
const HIDDEN_LINE_TAG: &str = "hidden-character-line";

/// The modes the agent accepts (DESIGN invariant 3), in the drop-down's order.
pub const MODES: [u32; 4] = [0o600, 0o644, 0o700, 0o755];

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/profile_editor.ui")]
    pub struct QcsProfileEditor {
        #[template_child]
        pub title_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub subtitle_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub history_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub file_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub new_path_entry: TemplateChild<gtk::Entry>,
        #[template_child]
        pub add_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub add_dir_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub rule_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub rule_kind: TemplateChild<gtk::DropDown>,
        #[template_child]
        pub rule_value: TemplateChild<gtk::Entry>,
        #[template_child]
        pub add_rule_button: TemplateChild<gtk::Button>,
        /// The rules of the shown profile, in row order (kind, value, qubes covered).
        pub rules: RefCell<Vec<(qcs_client::rules::SourceKind, String, Vec<String>)>>,
        /// The remove buttons of the rules, in row order.
        pub rule_buttons: RefCell<Vec<gtk::Button>>,
        #[template_child]
        pub glob_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub glob_entry: TemplateChild<gtk::Entry>,
        #[template_child]
        pub allow_glob_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub path_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub mode_dropdown: TemplateChild<gtk::DropDown>,
        #[template_child]
        pub remove_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub save_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub provenance_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub hidden_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub content_view: TemplateChild<gtk::TextView>,
        pub backend: RefCell<Option<Backend>>,
        pub profile: RefCell<Option<ProfileView>>,
        pub path: RefCell<Option<String>>,
        /// The loaded file is not UTF-8 text: shown, never saved from the editor.
        pub binary: Cell<bool>,
        /// The paths of the file list, in row order.
        pub files: RefCell<Vec<String>>,
        /// The open file's text and mode as loaded or last saved (unsaved edits differ).
        pub loaded: RefCell<Option<(String, u32)>>,
        /// Set while the file list is refilled or re-selected: not the user's choice.
        pub selecting: Cell<bool>,
        /// The folder chooser of "Add a folder" while it is on show.
        pub dir_chooser: RefCell<Option<gtk::FileChooserNative>>,
        /// The history window opened from here last.
        pub history: glib::WeakRef<crate::widgets::QcsHistory>,
        /// The last refusal reported through `failed` (the sentence).
        pub last_failure: RefCell<Option<String>>,
        /// The save / discard / cancel question on show.
        pub unsaved_dialog: RefCell<Option<adw::MessageDialog>>,
    }

    impl std::fmt::Debug for QcsProfileEditor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("QcsProfileEditor").finish_non_exhaustive()
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsProfileEditor {
        const NAME: &'static str = "QcsProfileEditor";
        type Type = super::QcsProfileEditor;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsProfileEditor {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    Signal::builder("stored")
                        .param_types([String::static_type()])
                        .build(),
                    Signal::builder("failed")
                        .param_types([String::static_type()])
                        .build(),
                ]
            })
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            self.file_list.connect_row_selected(glib::clone!(
                #[weak]
                obj,
                move |_, row| {
                    if obj.imp().selecting.get() {
                        return;
                    }
                    let path = row.and_then(|r| {
                        let index = usize::try_from(r.index()).ok()?;
                        obj.imp().files.borrow().get(index).cloned()
                    });
                    if let Some(path) = path {
                        obj.choose_file(path);
                    }
                }
            ));
            self.add_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.add_file()
            ));
            self.new_path_entry.connect_activate(glib::clone!(
                #[weak]
                obj,
                move |_| obj.add_file()
            ));
            self.remove_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.remove_file()
            ));
            self.history_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| {
                    obj.open_history();
                }
            ));
            self.allow_glob_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.allow_typed_glob()
            ));
            self.glob_entry.connect_activate(glib::clone!(
                #[weak]
                obj,
                move |_| obj.allow_typed_glob()
            ));
            obj.setup_rules();
            obj.setup_add_dir();
            obj.set_file_controls(false);
            let buffer = self.content_view.buffer();
            buffer.create_tag(
                Some(HIDDEN_TAG),
                &[
                    ("background", &"#c01c28"),
                    ("foreground", &"#ffffff"),
                    ("weight", &700i32),
                ],
            );
            // Zero-width characters take no room to colour: the whole line is marked too.
            buffer.create_tag(
                Some(HIDDEN_LINE_TAG),
                &[("paragraph-background", &"rgba(192,28,40,0.18)")],
            );
            buffer.connect_changed(glib::clone!(
                #[weak]
                obj,
                move |_| obj.mark_hidden()
            ));
        }
    }
    impl WidgetImpl for QcsProfileEditor {}
    impl BoxImpl for QcsProfileEditor {}
}

glib::wrapper! {
    pub struct QcsProfileEditor(ObjectSubclass<imp::QcsProfileEditor>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl QcsProfileEditor {
    pub fn set_backend(&self, backend: Backend) {
        self.imp().backend.replace(Some(backend));
    }

    /// `stored`: a save, add or remove went through (a message for a toast).
    pub fn connect_stored<F: Fn(&Self, String) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "stored",
            false,
            glib::closure_local!(move |editor: &Self, message: String| f(editor, message)),
        )
    }

    /// `failed`: the backend refused (the sentence for the user).
    pub fn connect_failed<F: Fn(&Self, String) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "failed",
            false,
            glib::closure_local!(move |editor: &Self, error: String| f(editor, error)),
        )
    }

    pub(super) fn changed(&self, result: Result<String, String>) {
        match result {
            Ok(message) => self.emit_by_name::<()>("stored", &[&message]),
            Err(error) => {
                self.imp().last_failure.replace(Some(error.clone()));
                self.emit_by_name::<()>("failed", &[&error]);
            }
        }
    }

    /// Open the history of the shown profile in its window (what History does).
    pub fn open_history(&self) -> Option<crate::widgets::QcsHistory> {
        let backend = self.imp().backend.borrow().clone()?;
        let profile = self.profile_id()?;
        let history = crate::widgets::history::present(self, backend, &profile);
        self.imp().history.set(Some(&history));
        Some(history)
    }

    /// The history window opened last, while it exists.
    pub fn shown_history(&self) -> Option<crate::widgets::QcsHistory> {
        self.imp().history.upgrade()
    }

    /// The entry of a new file's (or folder's) path.
    pub fn new_path_entry(&self) -> gtk::Entry {
        self.imp().new_path_entry.get()
    }

    /// The "Add a folder" button.
    pub fn add_dir_button(&self) -> gtk::Button {
        self.imp().add_dir_button.get()
    }

    /// The History button.
    pub fn history_button(&self) -> gtk::Button {
        self.imp().history_button.get()
    }

    /// The last refusal reported through `failed`, as the sentence shown.
    pub fn last_failure(&self) -> Option<String> {
        self.imp().last_failure.borrow().clone()
    }

    /// The edited text and mode as they are now.
    fn edited(&self) -> (String, u32) {
        let imp = self.imp();
        let buffer = imp.content_view.buffer();
        let text = buffer
            .text(&buffer.start_iter(), &buffer.end_iter(), false)
            .to_string();
        let mode = MODES
            .get(imp.mode_dropdown.selected() as usize)
            .copied()
            .unwrap_or(0o644);
        (text, mode)
    }

    /// Whether the open file has edits (text or mode) that are not in the store.
    pub fn has_unsaved(&self) -> bool {
        let imp = self.imp();
        if imp.binary.get() || imp.path.borrow().is_none() {
            return false;
        }
        match imp.loaded.borrow().as_ref() {
            Some(loaded) => *loaded != self.edited(),
            None => false,
        }
    }

    /// Leave the open file: at once when nothing is unsaved; otherwise ask save /
    /// discard / cancel. `then(true)` runs after a save that went through or a
    /// discard, `then(false)` after cancel (or a save that failed: the edits stay).
    pub fn leave(&self, then: impl FnOnce(bool) + 'static) {
        if !self.has_unsaved() {
            then(true);
            return;
        }
        if let Some(old) = self.imp().unsaved_dialog.take() {
            // A second question replaces the first (its answer is no longer wanted).
            old.close();
        }
        let path = self.current_path().unwrap_or_default();
        let parent = self.root().and_downcast::<gtk::Window>();
        let dialog = adw::MessageDialog::new(
            parent.as_ref(),
            Some(&gettextrs::gettext("Save Changes?")),
            Some(&gettext_f(
                "{path} has changes that are not saved. Saved, they become a new generation of the profile; discarded, they are lost.",
                &[("path", &path)],
            )),
        );
        dialog.add_response("cancel", &gettextrs::gettext("_Cancel"));
        dialog.add_response("discard", &gettextrs::gettext("_Discard"));
        dialog.add_response("save", &gettextrs::gettext("_Save"));
        dialog.set_response_appearance("discard", adw::ResponseAppearance::Destructive);
        dialog.set_response_appearance("save", adw::ResponseAppearance::Suggested);
        dialog.set_default_response(Some("save"));
        dialog.set_close_response("cancel");
        let then = RefCell::new(Some(then));
        dialog.connect_response(
            None,
            glib::clone!(
                #[weak(rename_to = editor)]
                self,
                move |dialog, response| {
                    editor
                        .imp()
                        .unsaved_dialog
                        .borrow_mut()
                        .take_if(|d| d == dialog);
                    let Some(then) = then.borrow_mut().take() else {
                        return;
                    };
                    match response {
                        "save" => editor.save_then(then),
                        "discard" => {
                            editor.discard();
                            then(true);
                        }
                        _ => then(false),
                    }
                }
            ),
        );
        self.imp().unsaved_dialog.replace(Some(dialog.clone()));
        dialog.present();
    }

    /// The save / discard / cancel question, while it is on show.
    pub fn unsaved_dialog(&self) -> Option<adw::MessageDialog> {
        self.imp().unsaved_dialog.borrow().clone()
    }

    /// Forget the edits: the open file shows what the store has.
    pub fn discard(&self) {
        let imp = self.imp();
        let loaded = imp.loaded.borrow().clone();
        if let Some((text, mode)) = loaded {
            imp.content_view.buffer().set_text(&text);
            let position = MODES.iter().position(|m| *m == mode).unwrap_or(1);
            imp.mode_dropdown
                .set_selected(u32::try_from(position).unwrap_or(1));
        }
    }

    /// The user chose another file in the list: leave the open one first.
    fn choose_file(&self, path: String) {
        if self.current_path().as_deref() == Some(path.as_str()) {
            return;
        }
        self.leave(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            move |go| {
                if go {
                    editor.open_file(&path);
                } else {
                    // Cancelled: the list shows the file that is still open.
                    editor.select_row_of(editor.current_path().as_deref());
                }
            }
        ));
    }

    /// Select the row of `path` in the file list as a click does (false: no such row).
    pub fn click_file(&self, path: &str) -> bool {
        let imp = self.imp();
        let index = imp.files.borrow().iter().position(|f| f == path);
        match index
            .and_then(|i| i32::try_from(i).ok())
            .and_then(|i| imp.file_list.row_at_index(i))
        {
            Some(row) => {
                imp.file_list.select_row(Some(&row));
                true
            }
            None => false,
        }
    }

    /// The path whose row is selected in the file list.
    pub fn selected_file(&self) -> Option<String> {
        let imp = self.imp();
        let index = usize::try_from(imp.file_list.selected_row()?.index()).ok()?;
        imp.files.borrow().get(index).cloned()
    }

    fn select_row_of(&self, path: Option<&str>) {
        let imp = self.imp();
        let index = path.and_then(|p| imp.files.borrow().iter().position(|f| f == p));
        let row = index
            .and_then(|i| i32::try_from(i).ok())
            .and_then(|i| imp.file_list.row_at_index(i));
        let selecting = imp.selecting.replace(true);
        imp.file_list.select_row(row.as_ref());
        imp.selecting.set(selecting);
    }

    pub fn profile_id(&self) -> Option<String> {
        self.imp().profile.borrow().as_ref().map(|p| p.id.clone())
    }

    pub fn current_path(&self) -> Option<String> {
        self.imp().path.borrow().clone()
    }

    fn set_file_controls(&self, enabled: bool) {
        let imp = self.imp();
        imp.mode_dropdown.set_sensitive(enabled);
        imp.remove_button.set_sensitive(enabled);
        imp.save_button.set_sensitive(enabled);
        imp.content_view.set_sensitive(enabled);
    }

    /// Show a profile; `select` opens one of its files.
    pub fn show(&self, profile: ProfileView, select: Option<&str>) {
        let imp = self.imp();
        imp.title_label
            .set_label(&gettext_f("Profile {id}", &[("id", &profile.id)]));
        let assigned = if profile.assigned_to.is_empty() {
            gettextrs::gettext("not assigned to any qube")
        } else {
            gettext_f(
                "assigned to {qubes}",
                &[("qubes", &profile.assigned_to.join(", "))],
            )
        };
        imp.subtitle_label.set_label(&format!(
            "{} · {} · {}",
            profile.description,
            gettext_f(
                "generation {generation}",
                &[("generation", &profile.generation.to_string())]
            ),
            assigned
        ));
        while let Some(child) = imp.file_list.first_child() {
            imp.file_list.remove(&child);
        }
        let mut paths = Vec::new();
        for file in &profile.files {
            let row = crate::widgets::plain_action_row();
            row.set_title(&file.path);
            row.set_subtitle(&format!(
                "{} · {} B · {}",
                file.mode,
                file.size,
                crate::reasons::text(&file.provenance)
            ));
            row.set_activatable(true);
            imp.file_list.append(&row);
            paths.push(file.path.clone());
        }
        imp.files.replace(paths);
        self.fill_globs(&profile.new_path_globs);
        imp.profile.replace(Some(profile));
        self.refresh_rules();
        imp.path.replace(None);
        imp.loaded.replace(None);
        imp.path_label.set_label("");
        imp.provenance_label.set_label("");
        crate::widgets::template_preview::attach(&imp.provenance_label, None, None, "");
        imp.content_view.buffer().set_text("");
        self.set_file_controls(false);
        self.select_row_of(select);
        if let Some(path) = select.filter(|p| imp.files.borrow().iter().any(|f| f == p)) {
            self.open_file(path);
        }
    }

    /// The allowlist of new paths, one row per glob with a button that removes it.
    fn fill_globs(&self, globs: &[String]) {
        let list = &self.imp().glob_list;
        while let Some(child) = list.first_child() {
            list.remove(&child);
        }
        if globs.is_empty() {
            let row = crate::widgets::plain_action_row();
            row.set_title(&gettextrs::gettext("None: only the files above"));
            list.append(&row);
        }
        for glob in globs {
            let row = crate::widgets::plain_action_row();
            row.set_title(glob);
            let remove = gtk::Button::from_icon_name("list-remove-symbolic");
            remove.set_valign(gtk::Align::Center);
            remove.add_css_class("flat");
            let tip = gettext_f(
                "No longer allow new files matching {glob}",
                &[("glob", glob)],
            );
            remove.set_tooltip_text(Some(&tip));
            remove.connect_clicked(glib::clone!(
                #[weak(rename_to = editor)]
                self,
                #[strong]
                glob,
                move |_| editor.change_glob(&glob, false)
            ));
            row.add_suffix(&remove);
            list.append(&row);
        }
    }

    fn allow_typed_glob(&self) {
        let glob = self.imp().glob_entry.text().trim().to_owned();
        if !glob.is_empty() {
            self.change_glob(&glob, true);
        }
    }

    /// Adds or removes a glob of the allowlist (the backend checks it).
    pub fn change_glob(&self, glob: &str, allowed: bool) {
        let imp = self.imp();
        let (Some(backend), Some(profile)) = (imp.backend.borrow().clone(), self.profile_id())
        else {
            return;
        };
        let glob = glob.to_owned();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            async move {
                let result = backend.allow_new_paths(&profile, &glob, allowed).await;
                if result.is_ok() && allowed {
                    editor.imp().glob_entry.set_text("");
                }
                let select = editor.current_path();
                editor
                    .after_change(
                        &backend,
                        &profile,
                        select,
                        result.map(|_| {
                            if allowed {
                                gettext_f(
                                    "Qubes may now propose new files matching {glob}",
                                    &[("glob", &glob)],
                                )
                            } else {
                                gettext_f(
                                    "New files matching {glob} are refused again",
                                    &[("glob", &glob)],
                                )
                            }
                        }),
                    )
                    .await;
            }
        ));
    }

    /// The allowlist of new paths as shown.
    pub fn shown_globs(&self) -> Vec<String> {
        self.imp()
            .profile
            .borrow()
            .as_ref()
            .map(|p| p.new_path_globs.clone())
            .unwrap_or_default()
    }

    fn open_file(&self, path: &str) {
        let imp = self.imp();
        let (Some(backend), Some(profile)) = (imp.backend.borrow().clone(), self.profile_id())
        else {
            return;
        };
        let provenance = imp
            .profile
            .borrow()
            .as_ref()
            .and_then(|p| p.files.iter().find(|f| f.path == path))
            .map(|f| crate::reasons::text(&f.provenance))
            .unwrap_or_default();
        let path = path.to_owned();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            async move {
                let result = backend.file(&profile, &path).await;
                if editor.profile_id().as_deref() != Some(profile.as_str()) {
                    // Another profile was opened meanwhile.
                    return;
                }
                match result {
                    Ok((content, mode)) => editor.fill_file(&path, &content, mode, &provenance),
                    Err(e) => editor.changed(Err(e.to_string())),
                }
            }
        ));
    }

    fn fill_file(&self, path: &str, content: &[u8], mode: u32, provenance: &str) {
        let imp = self.imp();
        imp.path.replace(Some(path.to_owned()));
        imp.path_label.set_label(path);
        let position = MODES.iter().position(|m| *m == mode).unwrap_or(1);
        imp.mode_dropdown
            .set_selected(u32::try_from(position).unwrap_or(1));
        self.set_file_controls(true);
        match std::str::from_utf8(content) {
            Ok(text) => {
                imp.binary.set(false);
                imp.content_view.buffer().set_text(text);
                imp.provenance_label.set_label(provenance);
                imp.loaded.replace(Some((text.to_owned(), mode)));
            }
            Err(_) => {
                imp.binary.set(true);
                imp.loaded.replace(None);
                imp.content_view.buffer().set_text("");
                imp.content_view.set_sensitive(false);
                imp.save_button.set_sensitive(false);
                imp.provenance_label.set_label(&gettextrs::gettext(
                    "This file is not UTF-8 text and cannot be edited here.",
                ));
            }
        }
        // The template marker and per-qube preview (template_preview.rs).
        let backend = (!imp.binary.get()).then(|| imp.backend.borrow().clone());
        crate::widgets::template_preview::attach(
            &imp.provenance_label,
            backend.flatten(),
            imp.profile.borrow().as_ref(),
            path,
        );
    }

    /// Mark every hidden or confusing character in the text and name them above it:
    /// a text view would show them invisibly (or reorder the line around them).
    fn mark_hidden(&self) {
        let imp = self.imp();
        let buffer = imp.content_view.buffer();
        let (start, end) = buffer.bounds();
        buffer.remove_tag_by_name(HIDDEN_TAG, &start, &end);
        buffer.remove_tag_by_name(HIDDEN_LINE_TAG, &start, &end);
        let text = buffer.text(&start, &end, false);
        let hidden = crate::model::editor::hidden_chars(&text);
        for h in &hidden {
            let Ok(offset) = i32::try_from(h.offset) else {
                break;
            };
            let from = buffer.iter_at_offset(offset);
            let to = buffer.iter_at_offset(offset + 1);
            buffer.apply_tag_by_name(HIDDEN_TAG, &from, &to);
            let mut line_start = from;
            line_start.set_line_offset(0);
            let mut line_end = from;
            if !line_end.ends_line() {
                line_end.forward_to_line_end();
            }
            buffer.apply_tag_by_name(HIDDEN_LINE_TAG, &line_start, &line_end);
        }
        imp.hidden_label.set_visible(!hidden.is_empty());
        if !hidden.is_empty() {
            imp.hidden_label.set_label(&crate::i18n::ngettext_f(
                "{n} hidden or confusing character (marked): {list}",
                "{n} hidden or confusing characters (marked): {list}",
                u32::try_from(hidden.len()).unwrap_or(u32::MAX),
                &[("list", &crate::model::editor::summary(&hidden, 8))],
            ));
        }
    }

    /// The warning about hidden characters, when shown.
    pub fn hidden_warning(&self) -> Option<String> {
        let label = &self.imp().hidden_label;
        label.is_visible().then(|| label.label().to_string())
    }

    /// Replace the edited text (used by keyboard users' paste and by the tests).
    pub fn set_content(&self, text: &str) {
        self.imp().content_view.buffer().set_text(text);
    }

    /// Save the open file as a new generation.
    pub fn save(&self) {
        self.save_then(|_| {});
    }

    /// Save, then `done(true)` when the store took it (`false`: not saved, the edits
    /// stay; the failure was told through `failed`).
    fn save_then(&self, done: impl FnOnce(bool) + 'static) {
        let imp = self.imp();
        if imp.binary.get() {
            return done(false);
        }
        let (Some(backend), Some(profile), Some(path)) = (
            imp.backend.borrow().clone(),
            self.profile_id(),
            self.current_path(),
        ) else {
            return done(false);
        };
        let (text, mode) = self.edited();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            async move {
                let result = backend
                    .put_file(&profile, &path, text.as_bytes(), mode)
                    .await;
                let saved = result.is_ok();
                if saved {
                    editor.imp().loaded.replace(Some((text, mode)));
                }
                editor
                    .after_change(
                        &backend,
                        &profile,
                        Some(path.clone()),
                        result.map(|generation| {
                            gettext_f(
                                "Saved {path}: {profile} is now at generation {generation}",
                                &[
                                    ("path", &path),
                                    ("profile", &profile),
                                    ("generation", &generation.to_string()),
                                ],
                            )
                        }),
                    )
                    .await;
                done(saved);
            }
        ));
    }

    fn add_file(&self) {
        let path = self.imp().new_path_entry.text().trim().to_owned();
        self.add_path(&path);
    }

    /// Add an empty file at `path` (what the Add button does with the typed path).
    pub fn add_path(&self, path: &str) {
        let imp = self.imp();
        let path = path.to_owned();
        if path.is_empty() {
            return;
        }
        let (Some(backend), Some(profile)) = (imp.backend.borrow().clone(), self.profile_id())
        else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            async move {
                let result = backend.put_file(&profile, &path, b"", 0o644).await;
                if result.is_ok() {
                    editor.imp().new_path_entry.set_text("");
                }
                editor
                    .after_change(
                        &backend,
                        &profile,
                        Some(path.clone()),
                        result.map(|_| gettext_f("Added {path}", &[("path", &path)])),
                    )
                    .await;
            }
        ));
    }

    fn remove_file(&self) {
        let imp = self.imp();
        let (Some(backend), Some(profile), Some(path)) = (
            imp.backend.borrow().clone(),
            self.profile_id(),
            self.current_path(),
        ) else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            async move {
                let result = backend.remove_file(&profile, &path).await;
                editor
                    .after_change(
                        &backend,
                        &profile,
                        None,
                        result.map(|_| gettext_f("Removed {path}", &[("path", &path)])),
                    )
                    .await;
            }
        ));
    }

    pub(super) async fn after_change(
        &self,
        backend: &Backend,
        profile: &str,
        select: Option<String>,
        result: Result<String, crate::backend::BackendError>,
    ) {
        match result {
            Ok(message) => {
                if let Ok(view) = backend.profile(profile).await {
                    self.show(view, select.as_deref());
                }
                self.changed(Ok(message));
            }
            Err(e) => self.changed(Err(e.to_string())),
        }
    }
}
