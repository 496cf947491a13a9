//! Adding a folder of the config qube to the profile shown in `QcsProfileEditor` as a
//! directory entry (e.g. `~/.config/nvim/` → `.config/nvim/…`): a folder chooser, the
//! tree read with `qcs_core::dirtree` on a worker thread (no symlink inside followed;
//! symlinks, devices, FIFOs and sockets refused; the protocol's limits), then one
//! `PutDirectory` call — one generation, or nothing.
//!
//! It must not send anything when the tree is refused (nothing is ever half-added), and
//! must not follow or copy a symlink. Refusals are `dir.*` reason codes shown as
//! translated sentences through `failed`.

use std::path::{Path, PathBuf};

use adw::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};
use qcs_client::{Code, Reason};
use qcs_core::dirtree::{self, TreeError};
use qcs_protocol::path::validate_relative_path;

use super::QcsProfileEditor;
use crate::i18n::ngettext_f;

/// The reason of a refused tree, with its arguments (as the CLI reports it).
pub fn tree_reason(error: &TreeError) -> Reason {
    let first = Reason::new(Code::from_wire(error.code()));
    error
        .args()
        .into_iter()
        .fold(first, |reason, (name, value)| reason.arg(name, value))
}

/// Where a chosen folder goes in the profile: the typed path, or else the folder's own
/// path inside `home`; `None` when neither names one.
pub fn entry_path(typed: &str, folder: &Path, home: &Path) -> Option<String> {
    let typed = typed.trim().trim_end_matches('/');
    if !typed.is_empty() {
        return Some(typed.to_owned());
    }
    let inside = folder.strip_prefix(home).ok()?;
    let text = inside.to_str()?.trim_end_matches('/');
    (!text.is_empty()).then(|| text.to_owned())
}

impl QcsProfileEditor {
    pub(super) fn setup_add_dir(&self) {
        self.imp().add_dir_button.connect_clicked(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            move |_| editor.choose_folder()
        ));
    }

    /// Open the folder chooser; its choice is added with [`Self::add_directory_from`].
    fn choose_folder(&self) {
        if self.profile_id().is_none() {
            return;
        }
        let parent = self.root().and_downcast::<gtk::Window>();
        let chooser = gtk::FileChooserNative::new(
            Some(&gettextrs::gettext("Add a Folder to the Profile")),
            parent.as_ref(),
            gtk::FileChooserAction::SelectFolder,
            Some(&gettextrs::gettext("_Add")),
            Some(&gettextrs::gettext("_Cancel")),
        );
        chooser.set_modal(true);
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            move |chooser, response| {
                let folder = chooser.file().and_then(|f| f.path());
                editor.imp().dir_chooser.replace(None);
                if response == gtk::ResponseType::Accept
                    && let Some(folder) = folder
                {
                    editor.add_directory_from(folder);
                }
            }
        ));
        chooser.show();
        self.imp().dir_chooser.replace(Some(chooser));
    }

    /// The folder chooser on show, if any.
    pub fn folder_chooser(&self) -> Option<gtk::FileChooserNative> {
        self.imp().dir_chooser.borrow().clone()
    }

    /// Read `folder` and store it as a directory entry of the shown profile: at the path
    /// typed in the new-file entry, or else at the folder's own path in the home
    /// directory. A refused tree sends nothing.
    pub fn add_directory_from(&self, folder: PathBuf) {
        let imp = self.imp();
        let (Some(backend), Some(profile)) = (imp.backend.borrow().clone(), self.profile_id())
        else {
            return;
        };
        let typed = imp.new_path_entry.text().to_string();
        let Some(path) = entry_path(&typed, &folder, &glib::home_dir()) else {
            self.changed(Err(crate::reasons::text(
                &Reason::new(Code::PathInvalid)
                    .arg("path", folder.display())
                    .arg(
                        "detail",
                        gettextrs::gettext(
                            "the folder is not inside the home directory: type the path it should have in the qubes first",
                        ),
                    ),
            )));
            return;
        };
        let entry = match validate_relative_path(&path) {
            Ok(entry) => entry,
            Err(e) => {
                self.changed(Err(crate::reasons::text(
                    &Reason::new(Code::PathInvalid)
                        .arg("path", &path)
                        .arg("detail", e),
                )));
                return;
            }
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = editor)]
            self,
            async move {
                let read = gio::spawn_blocking(move || dirtree::read_tree(&folder, &entry)).await;
                let tree = match read {
                    Ok(Ok(tree)) => tree,
                    Ok(Err(e)) => {
                        editor.changed(Err(crate::reasons::text(&tree_reason(&e))));
                        return;
                    }
                    Err(_) => {
                        editor.changed(Err(crate::reasons::text(
                            &Reason::new(Code::DirUnreadable)
                                .arg("path", &path)
                                .arg("detail", "the reading thread panicked"),
                        )));
                        return;
                    }
                };
                let files: Vec<(String, Vec<u8>, u32)> = tree
                    .files
                    .into_iter()
                    .map(|f| (f.path.as_str().to_owned(), f.content, f.mode))
                    .collect();
                let n = u32::try_from(files.len()).unwrap_or(u32::MAX);
                let first = files.first().map(|(p, _, _)| p.clone());
                let left_out = tree.never_sync.len();
                let result = backend.put_directory(&profile, &path, &files).await;
                if result.is_ok() {
                    editor.imp().new_path_entry.set_text("");
                }
                editor
                    .after_change(
                        &backend,
                        &profile,
                        first,
                        result.map(|(generation, removed)| {
                            let mut text = ngettext_f(
                                "Added {path}: {n} file, generation {generation}",
                                "Added {path}: {n} files, generation {generation}",
                                n,
                                &[("path", &path), ("generation", &generation.to_string())],
                            );
                            if removed > 0 {
                                text.push(' ');
                                text.push_str(&ngettext_f(
                                    "({n} file no longer in the folder removed)",
                                    "({n} files no longer in the folder removed)",
                                    removed,
                                    &[],
                                ));
                            }
                            if left_out > 0 {
                                text.push(' ');
                                text.push_str(&ngettext_f(
                                    "({n} file on the never-sync list left out)",
                                    "({n} files on the never-sync list left out)",
                                    u32::try_from(left_out).unwrap_or(u32::MAX),
                                    &[],
                                ));
                            }
                            text
                        }),
                    )
                    .await;
            }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_is_the_typed_path_or_the_folder_inside_home() {
        let home = Path::new("/home/user");
        assert_eq!(
            entry_path("", Path::new("/home/user/.config/nvim"), home).as_deref(),
            Some(".config/nvim")
        );
        assert_eq!(
            entry_path(" .vim/ ", Path::new("/tmp/x"), home).as_deref(),
            Some(".vim")
        );
        assert_eq!(entry_path("", Path::new("/tmp/x"), home), None);
        assert_eq!(entry_path("", home, home), None);
    }
}
