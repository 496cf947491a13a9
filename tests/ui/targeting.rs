//! Steps about what a profile reaches, from the profile editor: assignment rules (every
//! qube with a tag, on a template, of a class) added, refused in words and removed; and
//! a folder of the config qube added as a directory entry in one generation, with
//! symlinks and special files inside refused in words and nothing half-added.

use super::*;
use qcs_client::rules::{RuleList, SourceKind};

fn rules(address: &str) -> RuleList {
    let json = backend(address, async |p| {
        p.list_assignment_rules()
            .await
            .expect("ListAssignmentRules")
    });
    serde_json::from_str(&json).expect("RuleList")
}

fn profile(address: &str, id: &str) -> qcs_client::types::ProfileView {
    let json = backend(address, async |p| {
        p.get_profile(id).await.expect("GetProfile")
    });
    serde_json::from_str(&json).expect("ProfileView")
}

/// Open `id` in the editor and wait until it is shown.
fn open_profile(window: &QcsWindow, id: &str) -> qubes_config_sync::widgets::QcsProfileEditor {
    window.open_profile(id);
    let editor = window.profile_editor();
    wait_until("the profile in the editor", || {
        window.current_page().as_deref() == Some("profile")
            && editor.profile_id().as_deref() == Some(id)
            && !window.is_busy()
    });
    editor
}

/// Issue 15 item 2, from the app: a rule "every qube on template debian-12-minimal gets
/// bash" covers vault but never the config qube (on the same template) nor dom0; a value
/// the backend refuses is a sentence and changes nothing; the row's button removes it.
pub(crate) fn assignment_rules(ui: &Ui) {
    let window = ui.window.clone();
    let address = ui.address;
    let editor = open_profile(&window, "bash");
    let before = rules(address).rules.len();
    let template = "debian-12-minimal";
    editor.type_rule(SourceKind::Template, template);
    let is_ours = |r: &qcs_client::rules::RuleView| {
        r.kind == SourceKind::Template && r.value == template && r.profile == "bash"
    };
    wait_until("the rule in the store and in the editor", || {
        rules(address).rules.iter().any(is_ours)
            && editor.shown_rules().iter().any(|(k, v, covers)| {
                *k == SourceKind::Template && v == template && !covers.is_empty()
            })
    });
    let rule = rules(address)
        .rules
        .into_iter()
        .find(is_ours)
        .expect("the rule");
    assert!(rule.covers.iter().any(|q| q == "vault"), "{rule:?}");
    assert!(
        !rule
            .covers
            .iter()
            .any(|q| q == demo::CONFIG_QUBE || q == "dom0"),
        "a rule never covers the config qube or dom0: {rule:?}"
    );
    let shown = editor
        .shown_rules()
        .into_iter()
        .find(|(k, v, _)| *k == SourceKind::Template && v == template)
        .expect("the rule shown");
    assert_eq!(shown.2, rule.covers);
    // vault now has bash, brought by the rule.
    let vault = qube_list(address)
        .qubes
        .into_iter()
        .find(|q| q.name == "vault")
        .expect("vault");
    let bash = vault
        .profiles
        .iter()
        .find(|p| p.profile == "bash")
        .expect("bash on vault through the rule");
    assert!(
        bash.sources
            .iter()
            .any(|s| s.kind == SourceKind::Template && s.value == template),
        "{:?}",
        bash.sources
    );

    // A value the backend refuses: a sentence, nothing stored, the typed value kept.
    let failures_before = editor.last_failure();
    editor.type_rule(SourceKind::Tag, "no spaces <b>here</b>");
    wait_until("the refusal in words", || {
        editor.last_failure() != failures_before
    });
    let sentence = editor.last_failure().expect("a sentence");
    assert!(
        sentence.contains("no spaces <b>here</b>") && sentence.contains("not a valid"),
        "{sentence}"
    );
    assert!(
        !sentence.contains("rule.invalid"),
        "a code, not a sentence: {sentence}"
    );
    assert_eq!(rules(address).rules.len(), before + 1);

    // Removed from its row.
    editor
        .rule_remove_button(SourceKind::Template, template)
        .expect("the rule's remove button")
        .emit_clicked();
    wait_until("the rule gone from the store and the editor", || {
        !rules(address).rules.iter().any(is_ours)
            && !editor
                .shown_rules()
                .iter()
                .any(|(k, v, _)| *k == SourceKind::Template && v == template)
    });
    assert_eq!(rules(address).rules.len(), before);
}

/// Issue 15 item 3, from the app: a folder becomes a directory entry of bash in one
/// generation; a folder holding a symlink (to a secret outside it) or a FIFO is refused
/// in words, and nothing of it reaches the store.
pub(crate) fn add_a_folder(ui: &Ui) {
    let window = ui.window.clone();
    let address = ui.address;
    let editor = open_profile(&window, "bash");
    let files_of = |address: &str| -> Vec<String> {
        profile(address, "bash")
            .files
            .into_iter()
            .map(|f| f.path)
            .collect()
    };

    // The button opens a folder chooser (closed again: the test picks the folder).
    editor.add_dir_button().emit_clicked();
    let chooser = editor.folder_chooser().expect("a folder chooser");
    assert_eq!(chooser.action(), gtk::FileChooserAction::SelectFolder);
    chooser.hide();

    let source = ui.world.join("app15-folders");
    let good = source.join("fish");
    std::fs::create_dir_all(good.join("functions")).expect("mkdir");
    std::fs::write(good.join("config.fish"), "set -g fish_greeting\n").expect("write");
    std::fs::write(
        good.join("functions/ll.fish"),
        "function ll; ls -l $argv; end\n",
    )
    .expect("write");
    // Hostile: a symlink to a secret outside the folder, and a FIFO.
    let linked = source.join("linked");
    std::fs::create_dir_all(&linked).expect("mkdir");
    std::fs::write(linked.join("ok.conf"), "ok\n").expect("write");
    std::os::unix::fs::symlink("/etc/shadow", linked.join("secret")).expect("symlink");
    let fifo = source.join("fifo");
    std::fs::create_dir_all(&fifo).expect("mkdir");
    std::fs::write(fifo.join("ok.conf"), "ok\n").expect("write");
    let status = Command::new("mkfifo")
        .arg(fifo.join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(status.success());

    let generation = profile(address, "bash").generation;
    for (folder, entry, words) in [
        (&linked, ".config/linked", "symbolic link"),
        (&fifo, ".config/fifo", "regular files only"),
    ] {
        let failures_before = editor.last_failure();
        editor.new_path_entry().set_text(entry);
        editor.add_directory_from(folder.clone());
        wait_until("the refusal of the folder", || {
            editor.last_failure() != failures_before
        });
        let sentence = editor.last_failure().expect("a sentence");
        assert!(sentence.contains(words), "{sentence}");
        assert!(
            !sentence.contains("dir."),
            "a code, not a sentence: {sentence}"
        );
        let view = profile(address, "bash");
        assert_eq!(view.generation, generation, "nothing half-added");
        assert!(
            !view.files.iter().any(|f| f.path.starts_with(entry)),
            "{:?}",
            view.files
        );
    }

    // The good folder: one generation, every file, and the first one opened.
    editor.new_path_entry().set_text(".config/fish/");
    editor.add_directory_from(good.clone());
    wait_until("the folder in the store and the editor", || {
        let files = files_of(address);
        files.contains(&".config/fish/config.fish".to_owned())
            && files.contains(&".config/fish/functions/ll.fish".to_owned())
            && editor
                .current_path()
                .is_some_and(|p| p.starts_with(".config/fish/"))
    });
    assert_eq!(profile(address, "bash").generation, generation + 1);
    let (content, mode, _) = backend(address, async |p| {
        p.get_file("bash", ".config/fish/functions/ll.fish")
            .await
            .expect("GetFile")
    });
    assert_eq!(content, b"function ll; ls -l $argv; end\n");
    assert_eq!(mode & 0o777, 0o644);
    assert!(editor.new_path_entry().text().is_empty());
}
