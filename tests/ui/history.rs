//! The history window, from the profile editor: the generations listed as the backend
//! has them (author, time, files), a rollback asked, confirmed, and the new generation
//! seen; the push plan opens next (nothing is written into a qube before it).

use super::*;
use qcs_client::history::{GenerationAuthor, GenerationList};

fn generations(address: &str, profile: &str) -> GenerationList {
    let json = backend(address, async |p| {
        p.generations(profile).await.expect("Generations")
    });
    serde_json::from_str(&json).expect("GenerationList")
}

/// Issue 14: History from the editor of vim, checked row by row, then a rollback.
pub(crate) fn history_and_rollback(ui: &Ui) {
    let window = ui.window.clone();
    let address = ui.address;
    window.open_profile("vim");
    let editor = window.profile_editor();
    wait_until("vim in the editor", || {
        window.current_page().as_deref() == Some("profile")
            && editor.profile_id().as_deref() == Some("vim")
            && !window.is_busy()
    });
    let list = generations(address, "vim");
    assert!(list.generations.len() >= 3, "{list:?}");
    editor.history_button().emit_clicked();
    wait_until("the history window", || {
        editor
            .shown_history()
            .is_some_and(|h| h.is_mapped() && h.shown().len() == list.generations.len())
    });
    let history = editor.shown_history().expect("the history");
    let shown = history.shown();
    // Newest first; each row as the backend has it.
    for (row, generation) in shown.iter().zip(list.generations.iter().rev()) {
        assert_eq!(row.number, generation.number);
        let when = glib::DateTime::from_unix_local(generation.at)
            .and_then(|t| t.format("%Y-%m-%d %H:%M"))
            .expect("a time")
            .to_string();
        assert!(
            row.title.contains(&generation.number.to_string()),
            "{}",
            row.title
        );
        assert!(row.title.contains(&when), "{} has not {when}", row.title);
        assert_eq!(
            row.title.contains("current"),
            generation.number == list.current,
            "{}",
            row.title
        );
        let author = match &generation.author {
            GenerationAuthor::LocalEdit => "Local edit".to_owned(),
            GenerationAuthor::Import => "Import".to_owned(),
            GenerationAuthor::Proposal { qube, proposal_id } => {
                format!("Accepted proposal from {qube} #{proposal_id}")
            }
            GenerationAuthor::Rollback { to } => format!("Rollback to generation {to}"),
            GenerationAuthor::Unknown => "Unknown author".to_owned(),
        };
        assert_eq!(row.author, author);
        let paths: Vec<&str> = generation.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(row.files.len(), paths.len(), "{:?}", row.files);
        for (line, path) in row.files.iter().zip(&paths) {
            assert!(line.ends_with(path), "{line} for {path}");
        }
        // Only an earlier generation can be rolled back to.
        assert_eq!(row.roll_back.is_some(), generation.number < list.current);
    }
    // The local edit of .vimrc from the editor step is listed as a change of .vimrc.
    assert!(
        shown
            .iter()
            .any(|r| r.author == "Local edit" && r.files.iter().any(|f| f == "~ .vimrc")),
        "{shown:?}"
    );

    // Roll back to the first generation: asked first; Cancel changes nothing.
    let target = shown.last().expect("the first generation");
    let button = target.roll_back.clone().expect("Roll Back… on the first");
    button.emit_clicked();
    wait_until("the rollback question", || {
        history.question().is_some_and(|d| d.is_mapped())
    });
    history.question().expect("question").response("cancel");
    wait_until("the question gone", || history.question().is_none());
    assert_eq!(generations(address, "vim").current, list.current);
    button.emit_clicked();
    wait_until("the rollback question again", || {
        history.question().is_some_and(|d| d.is_mapped())
    });
    history.question().expect("question").response("rollback");
    wait_until("the new generation in the store", || {
        generations(address, "vim").current == list.current + 1
    });
    let after = generations(address, "vim");
    let newest = after.generations.last().expect("the new generation");
    assert_eq!(
        newest.author,
        GenerationAuthor::Rollback { to: target.number }
    );
    // The push plan opens (nothing written before it is confirmed).
    wait_until("the push plan after the rollback", || {
        window.current_page().as_deref() == Some("plan")
    });

    // History again: the new generation on top, current, by the rollback.
    window.open_profile("vim");
    wait_until("vim in the editor again", || {
        window.current_page().as_deref() == Some("profile") && !window.is_busy()
    });
    let again = editor.open_history().expect("the history again");
    wait_until("the new generation listed", || {
        again.shown().len() == after.generations.len()
    });
    let top = &again.shown()[0];
    assert_eq!(top.number, list.current + 1);
    assert!(top.title.contains("current"), "{}", top.title);
    assert_eq!(
        top.author,
        format!("Rollback to generation {}", target.number)
    );
    if let Some(own) = again.root().and_downcast::<gtk::Window>() {
        own.close();
    }
    settle();
}
