//! What the sidebar and the qube page show about a qube: label colour, class, power
//! state and badges.

use gettextrs::{gettext, pgettext};
use qcs_client::types::{ProfileSync, QubeView, SyncState, Verdict};

/// A badge on a qube row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Badge {
    /// Every assigned profile is what we last pushed.
    InSync,
    /// Assigned profiles not pushed yet, or the store has a newer generation.
    Outdated,
    /// A file changed in the qube since we pushed it.
    Drifted,
    /// The last push plan found a conflict in this qube.
    Conflict,
    /// The qube sent proposals that wait for review.
    ProposalPending,
    /// A managed path does not survive a restart of the qube.
    NotPersistent,
}

impl Badge {
    /// Symbolic icon name (Adwaita icon theme).
    pub fn icon_name(self) -> &'static str {
        match self {
            Badge::InSync => "emblem-ok-symbolic",
            Badge::Outdated => "view-refresh-symbolic",
            Badge::Drifted => "document-edit-symbolic",
            Badge::Conflict => "dialog-warning-symbolic",
            Badge::ProposalPending => "mail-unread-symbolic",
            Badge::NotPersistent => "edit-delete-symbolic",
        }
    }

    /// CSS class (style.css colours it).
    pub fn css_class(self) -> &'static str {
        match self {
            Badge::InSync => "badge-in-sync",
            Badge::Outdated => "badge-outdated",
            Badge::Drifted => "badge-drifted",
            Badge::Conflict => "badge-conflict",
            Badge::ProposalPending => "badge-proposal",
            Badge::NotPersistent => "badge-not-persistent",
        }
    }

    /// Translated text for the tooltip and screen readers.
    pub fn label(self) -> String {
        match self {
            Badge::InSync => gettext("In sync"),
            Badge::Outdated => gettext("Not pushed yet"),
            Badge::Drifted => gettext("Changed in the qube"),
            Badge::Conflict => gettext("Conflict"),
            Badge::ProposalPending => gettext("Proposal pending"),
            Badge::NotPersistent => gettext("Not persistent"),
        }
    }
}

/// The badges of a qube, most important last-to-first sorted (stable order).
/// `has_conflict` comes from the last push plan (the backend's qube view has no
/// conflict state of its own: a conflict is known only when a push is planned).
pub fn badges(qube: &QubeView, has_conflict: bool) -> Vec<Badge> {
    let mut badges = Vec::new();
    if !qube.profiles.is_empty() {
        if qube.profiles.iter().all(|p| p.state == SyncState::InSync) {
            badges.push(Badge::InSync);
        }
        if qube
            .profiles
            .iter()
            .any(|p| matches!(p.state, SyncState::Outdated | SyncState::NeverPushed))
        {
            badges.push(Badge::Outdated);
        }
        if qube.profiles.iter().any(|p| p.state == SyncState::Drifted) {
            badges.push(Badge::Drifted);
        }
    }
    if has_conflict {
        badges.push(Badge::Conflict);
    }
    if qube.pending_proposals > 0 {
        badges.push(Badge::ProposalPending);
    }
    if qube
        .persistence
        .iter()
        .any(|p| matches!(p.verdict, Verdict::LostAtRestart | Verdict::Unknown))
    {
        badges.push(Badge::NotPersistent);
    }
    badges
}

/// CSS class for a Qubes label colour. Only the labels Qubes ships are known; anything
/// else (a custom label) gets the neutral class rather than a class named by the qube.
pub fn label_css_class(label: &str) -> &'static str {
    match label {
        "red" => "qube-label-red",
        "orange" => "qube-label-orange",
        "yellow" => "qube-label-yellow",
        "green" => "qube-label-green",
        "gray" => "qube-label-gray",
        "blue" => "qube-label-blue",
        "purple" => "qube-label-purple",
        "black" => "qube-label-black",
        _ => "qube-label-unknown",
    }
}

/// Translated qube class, as qube manager names them.
pub fn class_label(class: &str) -> String {
    match class {
        "AppVM" => pgettext("qube class", "App qube"),
        "DispVM" => pgettext("qube class", "Disposable"),
        "TemplateVM" => pgettext("qube class", "Template"),
        "StandaloneVM" => pgettext("qube class", "Standalone"),
        "AdminVM" => pgettext("qube class", "Admin qube"),
        "" => pgettext("qube class", "Unknown class"),
        other => other.to_owned(),
    }
}

/// Translated power state.
pub fn power_state_label(state: &str) -> String {
    match state {
        "Running" => pgettext("power state", "Running"),
        "Halted" => pgettext("power state", "Halted"),
        "Paused" => pgettext("power state", "Paused"),
        "Transient" => pgettext("power state", "Starting"),
        "Halting" => pgettext("power state", "Halting"),
        "Dying" => pgettext("power state", "Dying"),
        "Crashed" => pgettext("power state", "Crashed"),
        "Suspended" => pgettext("power state", "Suspended"),
        "" => pgettext("power state", "Unknown"),
        other => other.to_owned(),
    }
}

/// Translated sync state of one profile.
pub fn sync_state_label(state: SyncState) -> String {
    match state {
        SyncState::InSync => gettext("In sync"),
        SyncState::NeverPushed => gettext("Never pushed"),
        SyncState::Outdated => gettext("Newer version in the store"),
        SyncState::Drifted => gettext("Changed in the qube"),
        SyncState::Unknown => gettext("Unknown state"),
    }
}

/// Sync state of one file of an assigned profile in a qube.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    InSync,
    NeverPushed,
    /// The store changed the file after the qube's last push.
    Outdated,
    /// The qube's copy differs from what we pushed.
    Drifted,
}

impl FileState {
    pub fn label(self) -> String {
        match self {
            FileState::InSync => gettext("In sync"),
            FileState::NeverPushed => gettext("Never pushed"),
            FileState::Outdated => gettext("Newer version in the store"),
            FileState::Drifted => gettext("Changed in the qube"),
        }
    }

    pub fn badge(self) -> Badge {
        match self {
            FileState::InSync => Badge::InSync,
            FileState::NeverPushed | FileState::Outdated => Badge::Outdated,
            FileState::Drifted => Badge::Drifted,
        }
    }
}

/// Per file of a profile (path, generation it last changed in): its state in the qube.
/// A drifted path is drifted whatever else; a profile never pushed is never pushed; a
/// file changed after the oldest pushed generation is outdated; the rest is in sync.
pub fn file_states(sync: &ProfileSync, files: &[(String, u64)]) -> Vec<(String, FileState)> {
    files
        .iter()
        .map(|(path, generation)| {
            let state = if sync.drifted_paths.contains(path) {
                FileState::Drifted
            } else {
                match sync.pushed_generation {
                    None => FileState::NeverPushed,
                    Some(pushed) if *generation > pushed => FileState::Outdated,
                    Some(_) if sync.state == SyncState::NeverPushed => FileState::NeverPushed,
                    Some(_) => FileState::InSync,
                }
            };
            (path.clone(), state)
        })
        .collect()
}

/// Translated persistence verdict.
pub fn persistence_label(verdict: Verdict) -> String {
    match verdict {
        Verdict::Persistent => gettext("Persistent"),
        Verdict::Volatile => gettext("Volatile: applied again at every start"),
        Verdict::LostAtRestart => gettext("Lost at restart"),
        Verdict::NotSupported => gettext("No custom-persist on this Qubes release"),
        Verdict::Unknown => gettext("Unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcs_client::types::PathPersistence;

    fn qube(states: &[SyncState]) -> QubeView {
        QubeView {
            name: "work".into(),
            class: "AppVM".into(),
            power_state: "Running".into(),
            label: "blue".into(),
            template: None,
            auto_apply: false,
            assigned: vec![],
            may_propose: vec![],
            profiles: states
                .iter()
                .map(|s| ProfileSync {
                    profile: "git".into(),
                    state: *s,
                    generation: 1,
                    pushed_generation: None,
                    drifted_paths: vec![],
                    sources: vec![],
                })
                .collect(),
            persistence: vec![],
            pending_proposals: 0,
        }
    }

    #[test]
    fn badges_follow_sync_state_plan_proposals_and_persistence() {
        assert_eq!(badges(&qube(&[]), false), []);
        assert_eq!(
            badges(&qube(&[SyncState::InSync, SyncState::InSync]), false),
            [Badge::InSync]
        );
        assert_eq!(
            badges(&qube(&[SyncState::InSync, SyncState::Drifted]), true),
            [Badge::Drifted, Badge::Conflict]
        );
        let mut q = qube(&[SyncState::NeverPushed]);
        q.pending_proposals = 2;
        q.persistence.push(PathPersistence {
            path: ".gitconfig".into(),
            verdict: Verdict::LostAtRestart,
            detail: qcs_client::Reason::new(qcs_client::Code::PersistLost),
            fix_command: None,
        });
        assert_eq!(
            badges(&q, false),
            [
                Badge::Outdated,
                Badge::ProposalPending,
                Badge::NotPersistent
            ]
        );
    }

    #[test]
    fn file_states_follow_drift_and_the_pushed_generation() {
        let files = vec![
            (".gitconfig".to_owned(), 3),
            (".config/git/ignore".to_owned(), 1),
            (".gitattributes".to_owned(), 2),
        ];
        let mut sync = ProfileSync {
            profile: "git".into(),
            state: SyncState::Outdated,
            generation: 3,
            pushed_generation: Some(2),
            drifted_paths: vec![".config/git/ignore".into()],
            sources: vec![],
        };
        assert_eq!(
            file_states(&sync, &files),
            [
                (".gitconfig".to_owned(), FileState::Outdated),
                (".config/git/ignore".to_owned(), FileState::Drifted),
                (".gitattributes".to_owned(), FileState::InSync),
            ]
        );
        sync.pushed_generation = None;
        sync.drifted_paths.clear();
        sync.state = SyncState::NeverPushed;
        assert!(
            file_states(&sync, &files)
                .iter()
                .all(|(_, s)| *s == FileState::NeverPushed)
        );
    }

    #[test]
    fn label_classes_come_from_an_allowlist() {
        assert_eq!(label_css_class("red"), "qube-label-red");
        assert_eq!(label_css_class("red qube-label-x"), "qube-label-unknown");
        assert_eq!(label_css_class(""), "qube-label-unknown");
    }
}
