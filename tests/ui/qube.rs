//! Steps about one qube: its page (files and their state) and its settings dialog
//! (profiles, may-propose, the persistence tab and its Fix).

use super::*;

/// A qube's page: files and their state.
pub(crate) fn qube_page(ui: &Ui) {
    let window = ui.window.clone();
    // Open a qube.
    window.open_qube("vault");
    wait_until("the toasts to time out", || window.toasts_on_show() == 0);
    assert_eq!(window.current_page().as_deref(), Some("qube"));
    assert_eq!(window.qube_page().qube_name().as_deref(), Some("vault"));
    // Sync state per file, from the profile's files.
    wait_until("vault's files", || {
        window.qube_page().file_rows().len() == 2
    });
    let mut files = window.qube_page().file_rows();
    files.sort();
    assert_eq!(
        files,
        [
            (
                "git:.config/git/ignore".to_owned(),
                "Never pushed".to_owned()
            ),
            ("git:.gitconfig".to_owned(), "Never pushed".to_owned()),
        ]
    );
    screenshot(&window, "main-window.png");
}

/// Its settings: let it propose vim changes; the backend stores it.
pub(crate) fn qube_settings(ui: &Ui) {
    let window = ui.window.clone();
    let address = ui.address;
    let dialog = window.open_settings().expect("the settings dialog opens");
    wait_until("the dialog", || dialog.is_mapped());
    screenshot(&dialog, "qube-settings.png");
    dialog.set_visible_page_name("persistence");
    screenshot(&dialog, "qube-settings-persistence.png");
    dialog.set_visible_page_name("profiles");
    let switch = dialog
        .profile_switch("vim", false)
        .expect("a may-propose switch for vim");
    assert!(!switch.is_active());
    switch.activate();
    wait_until("the new settings in the backend", || {
        let (_, may_propose, _) = backend(address, async |p| {
            p.get_qube_settings("vault").await.expect("GetQubeSettings")
        });
        may_propose == ["vim"]
    });
    // A profile just assigned: its paths appear in the persistence tab at once.
    let shown = |dialog: &qubes_config_sync::widgets::QcsQubeSettings, path: &str| {
        dialog
            .persistence_shown()
            .into_iter()
            .find(|(p, _)| p == path)
            .map(|(_, verdict)| verdict)
    };
    assert_eq!(shown(&dialog, ".vimrc"), None);
    dialog
        .profile_switch("vim", true)
        .expect("an assign switch for vim")
        .activate();
    wait_until("vim's path in the persistence tab", || {
        shown(&dialog, ".vimrc").as_deref() == Some("Lost at restart")
    });
    // Persistence: Fix the path that would be lost at restart.
    assert_eq!(
        shown(&dialog, ".config/git/ignore").as_deref(),
        Some("Lost at restart")
    );
    let fix = dialog
        .fix_button(".config/git/ignore")
        .expect("a Fix button for the lost path");
    fix.emit_clicked();
    wait_until("the fix through the backend", || {
        let vault = qube_list(address)
            .qubes
            .into_iter()
            .find(|q| q.name == "vault")
            .expect("vault");
        vault
            .persistence
            .iter()
            .any(|p| p.path == ".config/git/ignore" && p.verdict.as_str() == "persistent")
    });
    // The dialog says so too: no "lost at restart", no Fix button any more.
    wait_until("the fixed path in the persistence tab", || {
        shown(&dialog, ".config/git/ignore").as_deref() == Some("Persistent")
    });
    assert!(dialog.fix_button(".config/git/ignore").is_none());
    // Unassigned again: its path leaves the tab.
    dialog
        .profile_switch("vim", true)
        .expect("the assign switch for vim")
        .activate();
    wait_until("vim's path gone from the persistence tab", || {
        shown(&dialog, ".vimrc").is_none() && shown(&dialog, ".gitconfig").is_some()
    });
    let (assigned, _, _) = backend(address, async |p| {
        p.get_qube_settings("vault").await.expect("GetQubeSettings")
    });
    assert_eq!(assigned, ["git"]);
    dialog.close();
}

/// Issue 15 item 1 (the Variables page, now a `.ui` template): work's own variables and
/// those from its profiles' defaults, each with its value; one set from the page reaches
/// the backend, a bad name is refused in words, and the row's button removes it.
pub(crate) fn qube_variables(ui: &Ui) {
    let window = ui.window.clone();
    let address = ui.address;
    window.open_qube("work");
    wait_until("work's page", || {
        window.qube_page().qube_name().as_deref() == Some("work") && !window.is_busy()
    });
    let dialog = window.open_settings().expect("the settings dialog opens");
    wait_until("the dialog", || dialog.is_mapped());
    dialog.set_visible_page_name("variables-page");
    let page = find::<qubes_config_sync::widgets::variables::QcsVariablesPage>(dialog.upcast_ref())
        .expect("the Variables page");
    let has = |scope: &str, name: &str, value: &str| {
        page.shown()
            .iter()
            .any(|(s, n, v)| s == scope && n == name && v == value)
    };
    wait_until("work's variables", || {
        has("qube", "email", "alice@work.example") && has("profile", "email", "alice@example.org")
    });
    let stored = |address: &str| {
        let json = backend(address, async |p| {
            let templates = qcs_client::variables::templates_proxy(p)
                .await
                .expect("Templates");
            templates
                .list_variables("work")
                .await
                .expect("ListVariables")
        });
        serde_json::from_str::<qcs_client::variables::VariableList>(&json).expect("VariableList")
    };
    page.set_typed("editor", "vim");
    wait_until("the new variable in the backend and on the page", || {
        stored(address)
            .variables
            .iter()
            .any(|v| v.name == "editor" && v.value == "vim")
            && has("qube", "editor", "vim")
    });
    let count = stored(address).variables.len();
    page.set_typed("no such name!", "x");
    // The refusal is shown and the list loaded again (its rows are rebuilt).
    wait_until("the refusal in words and the list again", || {
        page.status_text().is_some() && has("qube", "editor", "vim")
    });
    let sentence = page.status_text().expect("a sentence");
    assert!(sentence.contains("no such name!"), "{sentence}");
    assert_eq!(stored(address).variables.len(), count, "nothing stored");
    page.remove_button("editor")
        .expect("the remove button of editor")
        .emit_clicked();
    wait_until("the variable removed", || {
        !stored(address).variables.iter().any(|v| v.name == "editor")
            && !has("qube", "editor", "vim")
    });
    dialog.close();
    settle();
}
