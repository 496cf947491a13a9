//! Steps about the sidebar and the inbox: qubes with badges, the tray item, a new
//! proposal's notification and count.

use super::*;

/// The sidebar fills from the backend: every qube, with badges.
pub(crate) fn sidebar_fills(ui: &Ui) {
    let app = ui.app.clone();
    let window = ui.window.clone();
    let address = ui.address;
    let seen = ui.seen;
    wait_until("the qubes and the proposal", || {
        window.qube_rows().len() >= 9 && window.pending_proposals().len() == 1
    });
    assert_eq!(window.proposal_count_label(), "1");
    let rows = window.qube_rows();
    let badges = |name: &str| {
        rows.iter()
            .find(|r| r.qube_name() == name)
            .unwrap_or_else(|| panic!("no row for {name}"))
            .badges()
    };
    assert!(
        badges("vault").contains(&Badge::NotPersistent),
        "{:?}",
        badges("vault")
    );
    assert!(badges("work").contains(&Badge::ProposalPending));
    assert!(badges("work").contains(&Badge::Outdated));
    // A proposal is pending: the tray item is registered with the host.
    wait_until("the tray item", || {
        app.tray_shown() && !fake_desktop::live_items(address).is_empty()
    });
    assert_eq!(seen.items().len(), 1, "{:?}", seen.items());
    // It was pending at start: not news, no notification.
    assert!(
        seen.notifications().is_empty(),
        "{:?}",
        seen.notifications()
    );
    // Each badge is an icon of the theme (not a missing-icon glyph), and "changed in
    // the qube" is not the question mark that reads as the replacement character.
    let theme = gtk::IconTheme::for_display(&gtk::prelude::WidgetExt::display(&window));
    for badge in [
        Badge::InSync,
        Badge::Outdated,
        Badge::Drifted,
        Badge::Conflict,
        Badge::ProposalPending,
        Badge::NotPersistent,
    ] {
        assert!(
            theme.has_icon(badge.icon_name()),
            "{badge:?}: no icon {} in the theme",
            badge.icon_name()
        );
    }
    assert!(!Badge::Drifted.icon_name().starts_with("dialog-question"));
}

/// A second proposal arrives: notification and count; its id.
pub(crate) fn new_proposal(ui: &Ui) -> i64 {
    let window = ui.window.clone();
    let address = ui.address;
    let world = ui.world;
    let seen = ui.seen;
    // A second proposal arrives (personal may propose vim): notification, count 2.
    demo::spool_proposal(
        &world.join("spool"),
        "personal",
        "vim",
        ".vimrc",
        b"set nocompatible\nset modeline\nsyntax on\n",
        "modelines back on",
    )
    .expect("spool a proposal");
    backend(address, async |p| {
        p.ingest_spool().await.expect("IngestSpool")
    });
    wait_until("the notification of the new proposal", || {
        window.pending_proposals().len() == 2
            && seen
                .notifications()
                .iter()
                .any(|(summary, body)| summary.contains("personal") && body.contains(".vimrc"))
    });
    assert_eq!(window.proposal_count_label(), "2");
    assert_eq!(seen.notifications().len(), 1, "{:?}", seen.notifications());

    window
        .pending_proposals()
        .iter()
        .find(|p| p.source_qube == "personal")
        .map(|p| p.id)
        .expect("the proposal from personal")
}
