//! Steps about profiles in the editor: a new profile, unsaved edits never lost, saving
//! a file and the allowlist of new files.

use super::*;

/// A new profile, through its dialog.
pub(crate) fn new_profile(ui: &Ui) {
    let window = ui.window.clone();
    let address = ui.address;
    let dialog = window.new_profile();
    wait_until("the new-profile dialog", || dialog.is_mapped());
    let entries = entries_of(dialog.upcast_ref());
    assert_eq!(entries.len(), 2);
    entries[0].set_text("bash");
    entries[1].set_text("Shell settings");
    dialog.response("create");
    wait_until("the new profile in the editor", || {
        window.current_page().as_deref() == Some("profile")
            && window.profile_editor().profile_id().as_deref() == Some("bash")
    });
    let profiles = backend(address, async |p| {
        p.list_profiles().await.expect("ListProfiles")
    });
    assert!(
        profiles
            .iter()
            .any(|(id, d, _)| id == "bash" && d == "Shell settings")
    );
    let bash = SidebarItem::Profile("bash".to_owned());
    wait_until("the new profile marked in the sidebar", || {
        window.marked_items() == [bash.clone()] && !window.is_busy()
    });
}

/// Issue 14: unsaved edits in the profile editor are never dropped without asking —
/// another profile (cancel keeps them), a qube (save stores them), another profile
/// again (discard drops them, the store keeps the saved text).
pub(crate) fn unsaved_edits(window: &QcsWindow, address: &str) {
    let editor = window.profile_editor();
    assert_eq!(editor.profile_id().as_deref(), Some("bash"));
    editor.add_path(".bashrc");
    wait_until("the new .bashrc open", || {
        editor.current_path().as_deref() == Some(".bashrc") && !window.is_busy()
    });
    let first = "alias ll='ls -l'\n";
    editor.set_content(first);
    assert!(editor.has_unsaved());
    let bash = SidebarItem::Profile("bash".to_owned());

    // Another profile, as a click in the sidebar: asked; Cancel keeps everything.
    assert!(window.click_in_sidebar(&SidebarItem::Profile("vim".to_owned())));
    wait_until("the save question", || editor.unsaved_dialog().is_some());
    let dialog = editor.unsaved_dialog().expect("the dialog");
    screenshot(&dialog, "unsaved-edits.png");
    assert_eq!(window.marked_items(), std::slice::from_ref(&bash));
    dialog.response("cancel");
    settle();
    assert!(editor.unsaved_dialog().is_none());
    assert_eq!(window.current_page().as_deref(), Some("profile"));
    assert_eq!(editor.profile_id().as_deref(), Some("bash"));
    assert!(editor.has_unsaved(), "cancel keeps the edits");
    assert_eq!(window.marked_items(), [bash]);

    // A qube: asked; Save stores the edits, then the qube opens.
    assert!(window.click_in_sidebar(&SidebarItem::Qube("work".to_owned())));
    wait_until("the save question again", || {
        editor.unsaved_dialog().is_some()
    });
    editor
        .unsaved_dialog()
        .expect("the dialog")
        .response("save");
    wait_until("the qube page after the save", || {
        window.current_page().as_deref() == Some("qube")
            && window.qube_page().qube_name().as_deref() == Some("work")
    });
    let stored = |address: &str| {
        let (content, _, _) = backend(address, async |p| {
            p.get_file("bash", ".bashrc").await.expect("GetFile")
        });
        String::from_utf8(content).expect("UTF-8")
    };
    assert_eq!(stored(address), first);
    assert_eq!(
        window.marked_items(),
        [SidebarItem::Qube("work".to_owned())]
    );

    // Back in the editor, more edits; Push… asks too; Discard drops them.
    window.open_profile_file("bash", Some(".bashrc"));
    wait_until("the saved .bashrc", || {
        window.current_page().as_deref() == Some("profile")
            && !window.is_busy()
            && editor.current_path().as_deref() == Some(".bashrc")
            && !editor.has_unsaved()
    });
    editor.set_content("rm -rf ~\n");
    window.plan_push(vec!["work".to_owned()]);
    wait_until("the question before the plan", || {
        editor.unsaved_dialog().is_some()
    });
    assert_eq!(window.current_page().as_deref(), Some("profile"));
    editor
        .unsaved_dialog()
        .expect("the dialog")
        .response("discard");
    wait_until("the plan after the discard", || {
        window.current_page().as_deref() == Some("plan") && window.push_plan().plan_data().is_some()
    });
    assert_eq!(
        stored(address),
        first,
        "discarded edits never reach the store"
    );
    assert!(!editor.has_unsaved());

    // Inside the editor: another file of the profile asks too.
    window.open_profile_file("bash", Some(".bashrc"));
    wait_until("the profile again", || {
        window.current_page().as_deref() == Some("profile")
            && !window.is_busy()
            && editor.current_path().as_deref() == Some(".bashrc")
    });
    editor.add_path(".profile");
    wait_until("the new .profile open", || {
        editor.current_path().as_deref() == Some(".profile") && !window.is_busy()
    });
    editor.set_content("export EDITOR=vim\n");
    assert!(editor.click_file(".bashrc"));
    wait_until("the question before the other file", || {
        editor.unsaved_dialog().is_some()
    });
    editor
        .unsaved_dialog()
        .expect("the dialog")
        .response("cancel");
    settle();
    assert_eq!(editor.current_path().as_deref(), Some(".profile"));
    assert_eq!(editor.selected_file().as_deref(), Some(".profile"));
    assert!(editor.has_unsaved());
    assert!(editor.click_file(".bashrc"));
    wait_until("the question again", || editor.unsaved_dialog().is_some());
    editor
        .unsaved_dialog()
        .expect("the dialog")
        .response("discard");
    wait_until("the other file", || {
        editor.current_path().as_deref() == Some(".bashrc") && !editor.has_unsaved()
    });
}

/// Edit a profile: .vimrc gets a line, saved as a new generation.
pub(crate) fn edit_profile(ui: &Ui) {
    let window = ui.window.clone();
    let address = ui.address;
    window.open_profile_file("vim", Some(".vimrc"));
    let editor = window.profile_editor();
    wait_until("the open .vimrc", || {
        editor.current_path().as_deref() == Some(".vimrc")
    });
    let edited = "set nocompatible\nset modelines=0\nset nomodeline\nsyntax on\nset number\nset relativenumber\n";
    editor.set_content(edited);
    WidgetExt::activate_action(&window, "win.save-file", None).expect("win.save-file");
    wait_until("the saved .vimrc in the store", || {
        let (content, _, _) = backend(address, async |p| {
            p.get_file("vim", ".vimrc").await.expect("GetFile")
        });
        content == edited.as_bytes()
    });

    // The profile's allowlist of new files, through the editor: added, then removed.
    editor.change_glob(".vim/after/**", true);
    let globs = |address: &str| {
        let json = backend(address, async |p| {
            p.get_profile("vim").await.expect("GetProfile")
        });
        serde_json::from_str::<qcs_client::types::ProfileView>(&json)
            .expect("ProfileView")
            .new_path_globs
    };
    wait_until("the glob in the store and the editor", || {
        globs(address) == [".vim/after/**"] && editor.shown_globs() == [".vim/after/**"]
    });
    editor.change_glob(".vim/after/**", false);
    wait_until("the glob removed", || {
        globs(address).is_empty() && editor.shown_globs().is_empty()
    });
}

/// Issue 15 item 1 (the template marker and preview, now a `.ui` template): the
/// templated `.config/git/config` of git-identity opens with its switch on, and the
/// preview offers the qubes the profile reaches by its tag rule `dev` (work and
/// personal, neither assigned one by one) and shows what each gets, with its own email;
/// never dom0, the config qube or a qube the profile does not reach.
pub(crate) fn template_preview(ui: &Ui) {
    let window = ui.window.clone();
    let address = ui.address;
    // work and personal get git-identity only through the rule (no single assignment).
    for qube in ["work", "personal"] {
        let list = qube_list(address);
        let view = list.qubes.iter().find(|q| q.name == qube).expect(qube);
        assert!(!view.assigned.iter().any(|p| p == "git-identity"), "{qube}");
        let sync = view.profiles.iter().find(|p| p.profile == "git-identity");
        assert!(
            sync.is_some_and(|s| s
                .sources
                .iter()
                .all(|s| s.kind == qcs_client::rules::SourceKind::Tag)),
            "{qube}: {sync:?}"
        );
    }
    window.open_profile_file("git-identity", Some(".config/git/config"));
    let editor = window.profile_editor();
    let preview = || {
        find::<qubes_config_sync::widgets::template_preview::QcsTemplatePreview>(
            editor.upcast_ref(),
        )
    };
    wait_until("the template's preview for a rule-covered qube", || {
        editor.current_path().as_deref() == Some(".config/git/config")
            && preview().is_some_and(|p| p.is_template() && p.choose_qube("work"))
    });
    let shown = preview().expect("the preview");
    wait_until("the preview for work", || {
        shown.output_text().contains("alice@work.example")
    });
    let output = shown.output_text();
    assert!(output.contains("# Written for work "), "{output}");
    assert!(!output.contains("{{"), "rendered, not the source: {output}");
    assert_eq!(shown.status_text(), "What work gets:");
    assert!(shown.choose_qube("personal"), "covered by the rule too");
    wait_until("the preview for personal", || {
        shown.output_text().contains("alice@home.example")
            && shown.status_text() == "What personal gets:"
    });
    for other in ["dom0", qubes_config_sync::demo::CONFIG_QUBE, "vault"] {
        assert!(
            !shown.choose_qube(other),
            "only the qubes the profile reaches: {other}"
        );
    }
}
