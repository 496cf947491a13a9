//! `QcsHistory`: a profile's generations — number, time, who (a local edit, an accepted
//! proposal from a qube, a rollback) and the files each changed — with "Roll back…" on
//! the earlier ones. A rollback is confirmed first, makes a new generation in the store
//! (the backend's), then opens the push plan (`win.plan-push`), so nothing reaches a
//! qube before the user has seen and confirmed the plan. Reached from the profile
//! editor's History button, in its own window ([`present`]).
//!
//! Below the title, per qube the profile is assigned to, "Undo Last Push…": the undo of
//! the last push into that qube from the qube's backup, shown first (the backend's dry
//! run in the qube: nothing changes), then confirmed; the store keeps its generation.
//!
//! It must not write into qubes, and shows paths and qube names as plain text only.

use std::cell::RefCell;

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::history::{FileChange, GenerationAuthor, GenerationList, GenerationView, UndoPlan};
use qcs_client::types::FileOutcome;

use crate::backend::Backend;
use crate::i18n::gettext_f;

/// Who made a generation, translated.
pub fn author_text(author: &GenerationAuthor) -> String {
    match author {
        GenerationAuthor::LocalEdit => gettextrs::gettext("Local edit"),
        GenerationAuthor::Import => gettextrs::gettext("Import"),
        GenerationAuthor::Proposal { qube, proposal_id } => gettext_f(
            "Accepted proposal from {qube} #{id}",
            &[("qube", qube), ("id", &proposal_id.to_string())],
        ),
        GenerationAuthor::Rollback { to } => gettext_f(
            "Rollback to generation {generation}",
            &[("generation", &to.to_string())],
        ),
        GenerationAuthor::Unknown => gettextrs::gettext("Unknown author"),
    }
}

/// One changed file as a line: a sign and the path.
pub fn file_line(path: &str, change: FileChange) -> String {
    let sign = match change {
        FileChange::Added => "+",
        FileChange::Changed => "~",
        FileChange::Removed => "−",
        FileChange::Unknown => "?",
    };
    format!("{sign} {path}")
}

/// One line per file of an undo plan: what the undo would do there.
pub fn undo_lines(plan: &UndoPlan) -> Vec<String> {
    plan.files
        .iter()
        .map(|f| {
            let what = match f.outcome {
                FileOutcome::Written => gettextrs::gettext("restore"),
                FileOutcome::Removed => gettextrs::gettext("remove"),
                FileOutcome::Unchanged => gettextrs::gettext("unchanged"),
                FileOutcome::Conflict => gettextrs::gettext("conflict, kept"),
                _ => gettextrs::gettext("refused"),
            };
            format!("{what}: {}", f.path)
        })
        .collect()
}

/// Whether a generation can be rolled back to: an earlier one (the current one is what
/// the profile already has).
pub fn can_roll_back_to(list: &GenerationList, generation: &GenerationView) -> bool {
    generation.number < list.current
}

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/history.ui")]
    pub struct QcsHistory {
        #[template_child]
        pub title_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub status_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub generation_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub undo_list: TemplateChild<gtk::ListBox>,
        pub backend: RefCell<Option<Backend>>,
        pub profile: RefCell<Option<String>>,
        /// The generations as listed, newest first.
        pub shown: RefCell<Vec<super::ShownGeneration>>,
        /// The question on show (rollback or undo), if any.
        pub question: RefCell<Option<adw::MessageDialog>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsHistory {
        const NAME: &'static str = "QcsHistory";
        type Type = super::QcsHistory;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsHistory {}
    impl WidgetImpl for QcsHistory {}
    impl BoxImpl for QcsHistory {}
}

glib::wrapper! {
    pub struct QcsHistory(ObjectSubclass<imp::QcsHistory>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for QcsHistory {
    fn default() -> Self {
        glib::Object::new()
    }
}

/// One generation as the list shows it.
#[derive(Debug, Clone)]
pub struct ShownGeneration {
    pub number: u64,
    /// "Generation N · time" (and "current").
    pub title: String,
    /// Who made it.
    pub author: String,
    /// One line per changed file ("+ path", "~ path", "− path").
    pub files: Vec<String>,
    /// "Roll Back…", for an earlier generation.
    pub roll_back: Option<gtk::Button>,
}

/// Opens the history of `profile` in a window over `parent`'s; its rollback opens the
/// push plan in `parent`'s window. Returns the history shown.
pub fn present(parent: &impl IsA<gtk::Widget>, backend: Backend, profile: &str) -> QcsHistory {
    let history = QcsHistory::default();
    let window = adw::Window::builder()
        .title(gettext_f("History of {profile}", &[("profile", profile)]))
        .default_width(520)
        .default_height(560)
        .modal(true)
        .build();
    if let Some(root) = parent.root().and_downcast::<gtk::Window>() {
        window.set_transient_for(Some(&root));
    }
    let header = adw::HeaderBar::new();
    let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
    content.append(&header);
    content.append(&history);
    window.set_content(Some(&content));
    history.load(backend, profile);
    window.present();
    history
}

impl QcsHistory {
    /// Loads and shows the generations of `profile`.
    pub fn load(&self, backend: Backend, profile: &str) {
        let imp = self.imp();
        imp.backend.replace(Some(backend.clone()));
        imp.profile.replace(Some(profile.to_owned()));
        imp.title_label.set_text(&gettext_f(
            "Generations of {profile}",
            &[("profile", profile)],
        ));
        let profile = profile.to_owned();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = history)]
            self,
            async move {
                match backend.generations(&profile).await {
                    Ok(list) => history.show(&list),
                    Err(e) => history.status(&e.to_string()),
                }
                if let Ok(view) = backend.profile(&profile).await {
                    history.show_undo(&view.assigned_to);
                }
            }
        ));
    }

    /// One "Undo Last Push…" row per qube the profile is assigned to.
    fn show_undo(&self, qubes: &[String]) {
        let list = &self.imp().undo_list;
        while let Some(row) = list.row_at_index(0) {
            list.remove(&row);
        }
        for qube in qubes {
            let row = super::plain_action_row();
            row.set_title(qube);
            row.set_subtitle(&gettextrs::gettext(
                "Restore what the last push replaced in this qube (from its backup)",
            ));
            let button = gtk::Button::with_mnemonic(&gettextrs::gettext("_Undo Last Push…"));
            button.set_valign(gtk::Align::Center);
            let name = qube.clone();
            button.connect_clicked(glib::clone!(
                #[weak(rename_to = history)]
                self,
                move |_| history.plan_undo(&name)
            ));
            row.add_suffix(&button);
            list.append(&row);
        }
        list.set_visible(!qubes.is_empty());
    }

    fn plan_undo(&self, qube: &str) {
        let imp = self.imp();
        let (Some(backend), Some(profile)) =
            (imp.backend.borrow().clone(), imp.profile.borrow().clone())
        else {
            return;
        };
        let qube = qube.to_owned();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = history)]
            self,
            async move {
                match backend.plan_undo(&qube, &profile).await {
                    Ok(plan) => history.confirm_undo(plan),
                    Err(e) => history.status(&e.to_string()),
                }
            }
        ));
    }

    fn confirm_undo(&self, plan: UndoPlan) {
        let mut body = undo_lines(&plan).join("\n");
        body.push_str("\n\n");
        body.push_str(&gettextrs::gettext(
            "The store keeps the profile's current generation: the qube then shows as drifted, and the next push shows these files as conflicts.",
        ));
        let dialog = adw::MessageDialog::new(
            self.root().and_downcast_ref::<gtk::Window>(),
            Some(&gettext_f(
                "Undo the last push of {profile} into {qube}?",
                &[("profile", &plan.profile), ("qube", &plan.qube)],
            )),
            Some(&body),
        );
        dialog.add_response("cancel", &gettextrs::gettext("_Cancel"));
        dialog.add_response("undo", &gettextrs::gettext("_Undo"));
        dialog.set_response_appearance("undo", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        self.imp().question.replace(Some(dialog.clone()));
        dialog.connect_response(
            None,
            glib::clone!(
                #[weak(rename_to = history)]
                self,
                move |_, response| {
                    history.imp().question.replace(None);
                    if response == "undo" {
                        history.undo(&plan);
                    }
                }
            ),
        );
        dialog.present();
    }

    fn undo(&self, plan: &UndoPlan) {
        let Some(backend) = self.imp().backend.borrow().clone() else {
            return;
        };
        let plan = plan.clone();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = history)]
            self,
            async move {
                match backend.undo(&plan.qube, &plan.profile, &plan.backup).await {
                    Ok(summary) if summary.is_success() => history.status(&gettext_f(
                        "The last push into {qube} was undone.",
                        &[("qube", &plan.qube)],
                    )),
                    Ok(summary) => {
                        let mut text =
                            gettext_f("The undo in {qube} had problems:", &[("qube", &plan.qube)]);
                        for q in &summary.qubes {
                            if let Some(e) = &q.error {
                                text.push(' ');
                                text.push_str(&crate::reasons::text(e));
                            }
                            for f in q.files.iter().filter(|f| !f.outcome.is_success()) {
                                text.push_str(&format!(" {}", f.path));
                            }
                        }
                        history.status(&text);
                    }
                    Err(e) => history.status(&e.to_string()),
                }
            }
        ));
    }

    fn status(&self, text: &str) {
        let label = &self.imp().status_label;
        label.set_text(text);
        label.set_visible(!text.is_empty());
    }

    /// Fills the list, newest first.
    pub fn show(&self, list: &GenerationList) {
        let imp = self.imp();
        while let Some(row) = imp.generation_list.row_at_index(0) {
            imp.generation_list.remove(&row);
        }
        self.status("");
        let mut shown = Vec::new();
        if list.generations.is_empty() {
            self.status(&gettextrs::gettext(
                "No generations yet: the profile has no files.",
            ));
            return;
        }
        for generation in list.generations.iter().rev() {
            let row = super::plain_expander_row();
            let when = glib::DateTime::from_unix_local(generation.at)
                .and_then(|t| t.format("%Y-%m-%d %H:%M"))
                .map(|t| t.to_string())
                .unwrap_or_default();
            let mut title = gettext_f(
                "Generation {generation} · {time}",
                &[
                    ("generation", &generation.number.to_string()),
                    ("time", &when),
                ],
            );
            if generation.number == list.current {
                title.push_str(" · ");
                title.push_str(&gettextrs::gettext("current"));
            }
            row.set_title(&title);
            let author = author_text(&generation.author);
            row.set_subtitle(&author);
            let mut files = Vec::new();
            for file in &generation.files {
                let line = super::plain_action_row();
                let text = file_line(&file.path, file.change);
                line.set_title(&text);
                row.add_row(&line);
                files.push(text);
            }
            let mut roll_back = None;
            if can_roll_back_to(list, generation) {
                let button = gtk::Button::with_mnemonic(&gettextrs::gettext("_Roll Back…"));
                button.set_valign(gtk::Align::Center);
                button.set_tooltip_text(Some(&gettextrs::gettext(
                    "Make a new generation with these files, then review the push",
                )));
                let number = generation.number;
                button.connect_clicked(glib::clone!(
                    #[weak(rename_to = history)]
                    self,
                    move |_| history.confirm_rollback(number)
                ));
                row.add_action(&button);
                roll_back = Some(button);
            }
            imp.generation_list.append(&row);
            shown.push(ShownGeneration {
                number: generation.number,
                title,
                author,
                files,
                roll_back,
            });
        }
        imp.shown.replace(shown);
    }

    /// The generations as listed, newest first.
    pub fn shown(&self) -> Vec<ShownGeneration> {
        self.imp().shown.borrow().clone()
    }

    /// The rollback or undo question on show, if any.
    pub fn question(&self) -> Option<adw::MessageDialog> {
        self.imp().question.borrow().clone()
    }

    /// The status line (after a rollback: the generation made), `""` when hidden.
    pub fn status_text(&self) -> String {
        let label = &self.imp().status_label;
        if label.is_visible() {
            label.text().to_string()
        } else {
            String::new()
        }
    }

    fn confirm_rollback(&self, generation: u64) {
        let Some(profile) = self.imp().profile.borrow().clone() else {
            return;
        };
        let dialog = adw::MessageDialog::new(
            self.root().and_downcast_ref::<gtk::Window>(),
            Some(&gettext_f(
                "Roll {profile} back to generation {generation}?",
                &[
                    ("profile", &profile),
                    ("generation", &generation.to_string()),
                ],
            )),
            Some(&gettextrs::gettext(
                "A new generation with the files of that generation is made (the history keeps everything). Nothing is written into a qube until you confirm the push plan that opens next.",
            )),
        );
        dialog.add_response("cancel", &gettextrs::gettext("_Cancel"));
        dialog.add_response("rollback", &gettextrs::gettext("_Roll Back"));
        dialog.set_response_appearance("rollback", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        self.imp().question.replace(Some(dialog.clone()));
        dialog.connect_response(
            None,
            glib::clone!(
                #[weak(rename_to = history)]
                self,
                move |_, response| {
                    history.imp().question.replace(None);
                    if response == "rollback" {
                        history.roll_back(generation);
                    }
                }
            ),
        );
        dialog.present();
    }

    fn roll_back(&self, generation: u64) {
        let imp = self.imp();
        let (Some(backend), Some(profile)) =
            (imp.backend.borrow().clone(), imp.profile.borrow().clone())
        else {
            return;
        };
        // The main window's actions, reached from this window's transient parent.
        let main = self
            .root()
            .and_downcast::<gtk::Window>()
            .and_then(|w| w.transient_for());
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = history)]
            self,
            async move {
                match backend.rollback_profile(&profile, generation).await {
                    Ok(new) => {
                        if let Ok(list) = backend.generations(&profile).await {
                            history.show(&list);
                        }
                        history.status(&gettext_f(
                                "Generation {new} made (rollback to generation {generation}). Review the push plan to write it into the qubes.",
                                &[
                                    ("new", &new.to_string()),
                                    ("generation", &generation.to_string()),
                            ],
                        ));
                        if let Some(main) = main {
                            let _ = main.activate_action("win.plan-push", None);
                            if let Some(own) = history.root().and_downcast::<gtk::Window>() {
                                own.close();
                            }
                        }
                    }
                    Err(e) => history.status(&e.to_string()),
                }
            }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(number: u64, author: GenerationAuthor) -> GenerationView {
        GenerationView {
            number,
            at: 0,
            author,
            files: Vec::new(),
        }
    }

    #[test]
    fn authors_files_and_which_generations_roll_back() {
        assert_eq!(
            author_text(&GenerationAuthor::Proposal {
                qube: "work".into(),
                proposal_id: 7
            }),
            "Accepted proposal from work #7"
        );
        assert_eq!(
            author_text(&GenerationAuthor::Rollback { to: 2 }),
            "Rollback to generation 2"
        );
        assert_eq!(file_line(".gitignore", FileChange::Removed), "− .gitignore");
        let list = GenerationList {
            version: 3,
            profile: "git".into(),
            current: 2,
            generations: vec![
                generation(1, GenerationAuthor::LocalEdit),
                generation(2, GenerationAuthor::LocalEdit),
            ],
        };
        assert!(can_roll_back_to(&list, &list.generations[0]));
        let undo = UndoPlan {
            version: 3,
            qube: "work".into(),
            profile: "git".into(),
            backup: "b".into(),
            files: vec![qcs_client::types::FileOutcomeView {
                profile: "git".into(),
                path: ".gitconfig".into(),
                outcome: FileOutcome::Written,
                detail: None,
            }],
        };
        assert_eq!(undo_lines(&undo), vec!["restore: .gitconfig".to_owned()]);
        assert!(!can_roll_back_to(&list, &list.generations[1]));
    }
}
