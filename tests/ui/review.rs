//! Steps about reviewing proposals: findings, acknowledgements, one hunk accepted,
//! side by side, reject, and names from a qube shown as text.

use super::*;

/// Open the proposal: findings, hidden characters as tokens, Accept gated.
pub(crate) fn review(ui: &Ui) {
    let app = ui.app.clone();
    let window = ui.window.clone();
    let address = ui.address;
    let first = window
        .pending_proposals()
        .iter()
        .find(|p| p.source_qube == "work")
        .map(|p| p.id)
        .expect("the proposal from work");
    window.open_proposal(first);
    let review = window.review_pane();
    wait_until("the review pane", || {
        window.current_page().as_deref() == Some("review")
            && review.proposal_id().is_some()
            && review.diff_view().is_ready()
    });
    let heading = review.findings_heading();
    assert!(heading.contains("critical"), "{heading}");
    let rows = review.diff_view().rendered_rows();
    assert!(
        rows.iter().any(|r| r.contains("⟦U+202E")),
        "the RLO is a visible token: {rows:#?}"
    );
    assert!(rows.iter().any(|r| r.contains("⟦U+200B")), "{rows:#?}");
    assert!(
        !rows.iter().any(|r| r.contains('\u{202E}')),
        "no raw bidi control reaches a label"
    );
    assert!(!review.accept_button().is_sensitive());
    // Point at a finding's line, as a user clicking "Line N" does.
    let finding_rows = review.finding_rows();
    if let Some((_, row)) = finding_rows
        .iter()
        .find(|(_, r)| r.line_button().is_sensitive())
    {
        row.line_button().emit_clicked();
        wait_until("the finding's line on screen and marked", || {
            review.diff_view().highlighted_line().is_some()
        });
        let line = review
            .diff_view()
            .highlighted_line()
            .expect("a line is marked");
        // The finding is on an added line.
        let rows = review.diff_view().rendered_rows();
        let marked = &rows[review.diff_view().row_of_line(line).expect("its row")];
        assert!(
            marked.starts_with("+ "),
            "line {line}: {marked} in {rows:#?}"
        );
    }
    wait_until("the toasts to time out", || window.toasts_on_show() == 0);
    screenshot(&window, "review-pane.png");
    // The dark style: the same pane, for the palette of the dark variant.
    adw::StyleManager::default().set_color_scheme(adw::ColorScheme::ForceDark);
    wait_until("the diff in the dark palette", || {
        review.diff_view().is_ready()
    });
    screenshot(&window, "review-pane-dark.png");
    adw::StyleManager::default().set_color_scheme(adw::ColorScheme::ForceLight);
    wait_until("the diff in the light palette", || {
        review.diff_view().is_ready()
    });

    // Acknowledge every critical finding; Accept still waits for a hunk.
    let blocking: Vec<_> = finding_rows
        .iter()
        .filter(|(_, r)| r.ack_check().is_visible())
        .collect();
    assert!(blocking.len() >= 2, "{} blocking findings", blocking.len());
    for (i, (_, row)) in blocking.iter().enumerate() {
        assert!(!review.accept_button().is_sensitive());
        row.ack_check().activate();
        assert!(row.ack_check().is_active());
        if i + 1 < blocking.len() {
            assert!(!review.accept_button().is_sensitive());
        }
    }
    assert!(
        !review.accept_button().is_sensitive(),
        "no hunk accepted yet"
    );
    // Accept only the first hunk (the name line).
    assert!(review.diff_view().decisions().len() >= 3);
    review.diff_view().scroll_to(0.0);
    wait_until("the first hunk's header on screen", || {
        review.diff_view().hunk_toggles(0).is_some()
    });
    let (accept_first, _) = review.diff_view().hunk_toggles(0).expect("toggles");
    accept_first.emit_clicked();
    assert!(review.accept_button().is_sensitive());
    // Ctrl+Return: the window's primary action accepts on the review page.
    WidgetExt::activate_action(&window, "win.primary", None).expect("win.primary");
    wait_until("the proposal to leave the inbox", || {
        window.pending_proposals().len() == 1 && !window.is_busy()
    });

    // The store changed, by that hunk only.
    // The editor marks the accepted bidi controls instead of showing them raw.
    window.open_profile_file("git", Some(".gitconfig"));
    wait_until("the editor's warning", || {
        window.profile_editor().current_path().as_deref() == Some(".gitconfig")
            && window
                .profile_editor()
                .hidden_warning()
                .is_some_and(|w| w.contains("line 2: U+202E RLO"))
    });
    wait_until("the toasts to time out", || window.toasts_on_show() == 0);
    screenshot(&window, "profile-editor.png");
    let (content, _, _) = backend(address, async |p| {
        p.get_file("git", ".gitconfig").await.expect("GetFile")
    });
    let content = String::from_utf8(content).expect("UTF-8");
    assert_ne!(content, GITCONFIG);
    assert!(content.contains("\tname = Alice\u{202E}"), "{content:?}");
    assert!(!content.contains("fsmonitor"), "{content:?}");
    assert!(!content.contains("insteadOf"), "{content:?}");
    // One proposal still waits: the tray stays.
    assert!(app.tray_shown());
}

/// Side by side, reject, hostile names; the id of the hostile proposal, left open.
pub(crate) fn side_by_side(ui: &Ui, second: i64) -> i64 {
    let app = ui.app.clone();
    let window = ui.window.clone();
    let address = ui.address;
    let world = ui.world;
    let seen = ui.seen;
    let review = window.review_pane();
    // Side by side, then reject the other proposal with the keyboard's action.
    window.open_proposal(second);
    wait_until("the second proposal", || {
        review.proposal_id() == Some(second) && review.diff_view().is_ready()
    });
    WidgetExt::activate_action(&window, "win.toggle-diff-layout", None).expect("toggle");
    wait_until("the side-by-side diff", || review.diff_view().is_ready());
    let rows = review.diff_view().rendered_rows();
    assert!(
        rows.iter().any(|r| r
            .split_once(" │ ")
            .is_some_and(|(old, new)| old == "set modelines=0" && new.starts_with("set modeline"))),
        "{rows:#?}"
    );
    review.reject();
    wait_until("an empty inbox", || {
        window.pending_proposals().is_empty() && !window.is_busy()
    });
    let pending = backend(address, async |p| {
        p.list_proposals("pending").await.expect("ListProposals")
    });
    assert!(pending.contains("\"proposals\":[]"), "{pending}");
    // Nothing pending: the item is gone from the bus.
    wait_until("the tray item to go", || {
        !app.tray_shown() && fake_desktop::live_items(address).is_empty()
    });

    // New paths reach the inbox only through the profile's allowlist.
    backend(address, async |p| {
        p.allow_new_paths("vim", &[".vim/**", "00p*/**"], true)
            .await
            .expect("AllowNewPaths vim");
        p.allow_new_paths("git", &[".g*"], true)
            .await
            .expect("AllowNewPaths git");
    });
    // A path from a qube is text, never markup: a proposal of a new file whose name
    // holds markup is listed as written.
    let hostile = ".vim/<b>big</b>&amp;.vim";
    // (A new file reaches the inbox only through the profile's allowlist of new paths.)
    backend(address, async |p| {
        p.allow_new_paths("vim", &[".vim/**"], true)
            .await
            .expect("AllowNewPaths")
    });
    demo::spool_proposal(
        &world.join("spool"),
        "personal",
        "vim",
        hostile,
        b"set hlsearch\n",
        "<span size='50000'>look</span>",
    )
    .expect("spool the hostile name");
    backend(address, async |p| {
        p.ingest_spool().await.expect("IngestSpool")
    });
    wait_until("the hostile proposal", || {
        window.pending_proposals().len() == 1
    });
    let id = window.pending_proposals()[0].id;
    assert_eq!(
        window.proposal_row_titles(),
        [format!("#{id} · {hostile}")],
        "the row shows the name as it is"
    );
    // The notification body is escaped too (servers may render body markup).
    wait_until("the notification of the hostile name", || {
        seen.notifications()
            .iter()
            .any(|(_, body)| body.contains(".vim/&lt;b&gt;big&lt;/b&gt;&amp;amp;.vim"))
    });
    window.open_proposal(id);
    wait_until("its review", || {
        review.proposal_id() == Some(id) && review.diff_view().is_ready()
    });
    assert!(review.title().contains(hostile), "{}", review.title());
    id
}

/// Issue 15 item 1 (the template side, now a `.ui` template): a proposal from work
/// against the templated `.config/git/config` shows, beside its diff, why it cannot be
/// accepted and the template's source; a proposal of a plain file shows none.
pub(crate) fn proposal_against_a_template(ui: &Ui) {
    let window = ui.window.clone();
    let address = ui.address;
    backend(address, async |p| {
        p.allow_proposals("work", "git-identity", true)
            .await
            .expect("AllowProposals")
    });
    let before: Vec<i64> = window.pending_proposals().iter().map(|p| p.id).collect();
    demo::spool_proposal(
        &ui.world.join("spool"),
        "work",
        "git-identity",
        ".config/git/config",
        b"[user]\n\temail = someone-else@example.com\n",
        "my email",
    )
    .expect("spool a proposal");
    backend(address, async |p| {
        p.ingest_spool().await.expect("IngestSpool")
    });
    wait_until("the proposal against the template", || {
        window
            .pending_proposals()
            .iter()
            .any(|p| !before.contains(&p.id) && p.path == ".config/git/config")
    });
    let id = window
        .pending_proposals()
        .iter()
        .find(|p| !before.contains(&p.id) && p.path == ".config/git/config")
        .map(|p| p.id)
        .expect("its id");
    window.open_proposal(id);
    let review = window.review_pane();
    let side = || {
        find::<qubes_config_sync::widgets::proposal_template::QcsProposalTemplate>(
            review.upcast_ref(),
        )
    };
    wait_until("the template side", || {
        review.proposal_id() == Some(id) && side().is_some_and(|s| s.banner_text().is_some())
    });
    let side = side().expect("the template side");
    let banner = side.banner_text().expect("the banner");
    assert!(
        banner.contains(".config/git/config") && banner.contains("work"),
        "{banner}"
    );
    let source = side.source_text();
    assert!(source.contains("{{"), "the template's source: {source}");
    assert!(
        !source.contains("someone-else"),
        "the qube's text never shows as the template: {source}"
    );
    backend(address, async |p| {
        p.reject_proposal(id, "test").await.expect("reject")
    });
    wait_until("the proposal gone", || {
        !window.pending_proposals().iter().any(|p| p.id == id)
    });
}
