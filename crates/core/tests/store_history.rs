//! A profile's generations (who, when, which files), rollback as a new generation, and
//! the planning of files removed from a profile in the qubes that have them.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use qcs_core::plan::{Action, Actual, ConflictReason, plan_qube};
use qcs_core::store::{
    Acceptance, FileChange, GenerationAuthor, NewProposal, PushedFile, RemovedInQube, Store,
    StoreError,
};
use qcs_protocol::literal::{pid, rp, vm};
use qcs_protocol::mode::validate_mode;
use qcs_protocol::sha256_hex;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store.sqlite")).unwrap();
    (dir, store)
}

#[test]
fn generations_say_who_made_them_and_which_files_changed() {
    let (_dir, mut store) = temp_store();
    let git = pid("git");
    store.create_profile(&git, "").unwrap();
    assert!(store.generations(&git).unwrap().is_empty());
    store
        .put_file(&git, &rp(".gitconfig"), b"a\n", 0o644)
        .unwrap();
    store
        .put_file(&git, &rp(".gitignore"), b"*.o\n", 0o644)
        .unwrap();
    store.allow_proposals(&vm("work"), &git).unwrap();
    let id = store
        .submit_proposal(&NewProposal {
            source_qube: vm("work"),
            profile: git.clone(),
            path: rp(".gitconfig"),
            content: b"b\n",
            mode: Some(0o644),
            base_sha256: None,
            note: "",
        })
        .unwrap();
    store.accept_proposal(id, Acceptance::default()).unwrap();
    store.remove_file(&git, &rp(".gitignore")).unwrap();
    let rolled = store.rollback_profile(&git, 2).unwrap();
    assert_eq!(rolled, 5);

    let generations = store.generations(&git).unwrap();
    type Summary = (u64, GenerationAuthor, Vec<(String, FileChange)>);
    let summary: Vec<Summary> = generations
        .iter()
        .map(|g| {
            (
                g.number,
                g.author.clone(),
                g.files.iter().map(|(p, c)| (p.to_string(), *c)).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                1,
                GenerationAuthor::LocalEdit,
                vec![(".gitconfig".into(), FileChange::Added)]
            ),
            (
                2,
                GenerationAuthor::LocalEdit,
                vec![(".gitignore".into(), FileChange::Added)]
            ),
            (
                3,
                GenerationAuthor::AcceptedProposal {
                    qube: vm("work"),
                    proposal_id: id
                },
                vec![(".gitconfig".into(), FileChange::Changed)]
            ),
            (
                4,
                GenerationAuthor::LocalEdit,
                vec![(".gitignore".into(), FileChange::Removed)]
            ),
            (
                5,
                GenerationAuthor::Rollback { to: 2 },
                vec![
                    (".gitconfig".into(), FileChange::Changed),
                    (".gitignore".into(), FileChange::Added)
                ]
            ),
        ]
    );
    assert!(generations.iter().all(|g| g.at > 0));
    // The rollback's content is generation 2's.
    let now: Vec<_> = store
        .current_files(&git)
        .unwrap()
        .into_iter()
        .map(|f| (f.path.to_string(), f.bytes))
        .collect();
    let then: Vec<_> = store
        .files_at_generation(&git, 2)
        .unwrap()
        .into_iter()
        .map(|f| (f.path.to_string(), f.bytes))
        .collect();
    assert_eq!(now, then);
    // Rolling back to what the profile already has changes nothing and says so; no
    // generation is labelled a rollback by it.
    assert!(matches!(
        store.rollback_profile(&git, 5),
        Err(StoreError::SameContent { generation: 5, .. })
    ));
    assert!(matches!(
        store.rollback_profile(&git, 2),
        Err(StoreError::SameContent { .. })
    ));
    assert!(matches!(
        store.rollback_profile(&git, 9),
        Err(StoreError::NoSuchGeneration { .. })
    ));
    assert_eq!(store.generations(&git).unwrap().len(), 5);
    assert!(matches!(
        store.generations(&pid("nosuch")),
        Err(StoreError::ProfileNotFound(_))
    ));
    // The rollback is in the audit log with the generation it restored.
    let log = store.audit_log(0, 1000).unwrap();
    assert!(log.iter().any(|e| e.action == "revert"
        && e.path.is_none()
        && e.generation == Some(5)
        && e.detail["to_generation"] == 2));
    assert!(store.verify().unwrap().is_empty());
}

fn pushed(store: &mut Store, qube: &str, path: &str, content: &[u8], generation: u64) {
    store
        .record_push(
            &vm(qube),
            &[PushedFile {
                profile: pid("git"),
                path: rp(path),
                sha256: sha256_hex(content),
                mode: validate_mode(0o644).unwrap(),
                generation,
            }],
            serde_json::json!({}),
        )
        .unwrap();
}

fn regular(content: &[u8]) -> Actual {
    Actual::Regular {
        sha256: sha256_hex(content),
        mode: 0o644,
        content: Some(content.to_vec()),
    }
}

#[test]
fn a_file_removed_from_a_profile_is_planned_as_a_removal_where_it_was_pushed() {
    let (_dir, mut store) = temp_store();
    let git = pid("git");
    store.create_profile(&git, "").unwrap();
    store
        .put_file(&git, &rp(".gitconfig"), b"a\n", 0o644)
        .unwrap();
    store
        .put_file(&git, &rp(".gitignore"), b"i\n", 0o644)
        .unwrap();
    for qube in ["work", "mine", "gone", "never"] {
        store.assign(&vm(qube), &git).unwrap();
    }
    for qube in ["work", "mine", "gone"] {
        pushed(&mut store, qube, ".gitignore", b"i\n", 2);
    }
    // Assigned elsewhere but the profile still has it: nothing to remove.
    assert!(store.removed_since_push(&vm("work")).unwrap().is_empty());
    let generation = store.remove_file(&git, &rp(".gitignore")).unwrap();

    let snapshot = |actual: Option<Actual>| -> BTreeMap<_, _> {
        let mut map: BTreeMap<_, _> = [(rp(".gitconfig"), Actual::Absent)].into();
        if let Some(a) = actual {
            map.insert(rp(".gitignore"), a);
        }
        map
    };
    let item = |store: &Store, qube: &str, actual: Option<Actual>, overwrite: bool| {
        let input = store.plan_input(&vm(qube), snapshot(actual)).unwrap();
        let chosen: BTreeSet<_> = if overwrite {
            [rp(".gitignore")].into()
        } else {
            BTreeSet::new()
        };
        plan_qube(&input, &chosen)
            .items
            .into_iter()
            .find(|i| i.path == rp(".gitignore"))
    };
    // Unchanged since our push: removed, with our hash as the base.
    let remove = item(&store, "work", Some(regular(b"i\n")), false).unwrap();
    assert_eq!(remove.action, Action::Remove);
    assert_eq!(remove.base_sha256, Some(sha256_hex(b"i\n")));
    assert_eq!(remove.generation, generation);
    assert!(remove.writes());
    assert_eq!(remove.diff.as_ref().unwrap().hunks.len(), 1);
    let request = plan_qube(
        &store
            .plan_input(&vm("work"), snapshot(Some(regular(b"i\n"))))
            .unwrap(),
        &BTreeSet::new(),
    )
    .apply_request(&git)
    .unwrap()
    .unwrap();
    assert_eq!(request.removals.len(), 1);
    assert_eq!(request.removals[0].path, rp(".gitignore"));
    assert_eq!(request.removals[0].base_sha256.as_str(), sha256_hex(b"i\n"));
    assert_eq!(request.files.len(), 1);
    // Changed in the qube since our push: a conflict, not removed silently.
    let changed = item(&store, "mine", Some(regular(b"mine\n")), false).unwrap();
    assert_eq!(
        changed.action,
        Action::Conflict(ConflictReason::ChangedSinceLastPush)
    );
    assert!(changed.three_way.is_some());
    // ... unless the user chose to remove it anyway: then the base is what they saw.
    let forced = item(&store, "mine", Some(regular(b"mine\n")), true).unwrap();
    assert_eq!(forced.action, Action::Remove);
    assert!(forced.forced);
    assert_eq!(forced.base_sha256, Some(sha256_hex(b"mine\n")));
    // A symlink or a directory is never removed; an unreported path is unknown.
    let other = item(
        &store,
        "mine",
        Some(Actual::Other {
            kind: "symlink".into(),
        }),
        true,
    )
    .unwrap();
    assert!(matches!(
        other.action,
        Action::Conflict(ConflictReason::NotRegularFile { .. })
    ));
    assert_eq!(
        item(&store, "mine", None, false).unwrap().action,
        Action::Conflict(ConflictReason::StateUnknown)
    );
    // Never pushed there: nothing planned.
    assert!(item(&store, "never", Some(Actual::Absent), false).is_none());

    // After the push removed it, the qube no longer has it as ours: no more removal.
    store
        .record_removed(
            &vm("gone"),
            &[RemovedInQube {
                profile: git.clone(),
                path: rp(".gitignore"),
                generation,
            }],
            serde_json::json!({ "job": 1 }),
        )
        .unwrap();
    assert!(store.removed_since_push(&vm("gone")).unwrap().is_empty());
    assert_eq!(store.removed_since_push(&vm("work")).unwrap().len(), 1);
    let state = store
        .qube_file_states(&vm("gone"))
        .unwrap()
        .into_iter()
        .find(|s| s.path == rp(".gitignore"))
        .unwrap();
    assert!(state.pushed.is_none());
    assert!(
        store
            .audit_log(0, 1000)
            .unwrap()
            .iter()
            .any(|e| e.action == "push-remove" && e.qube.as_deref() == Some("gone"))
    );
    // Unassigned: its files are left alone (unassigning is not removing).
    let mut settings = store.qube_settings(&vm("work")).unwrap();
    settings.assigned.clear();
    store.set_qube_settings(&settings).unwrap();
    assert!(store.removed_since_push(&vm("work")).unwrap().is_empty());
    // Added back to the profile: updated, not removed.
    store
        .put_file(&git, &rp(".gitignore"), b"j\n", 0o644)
        .unwrap();
    assert_eq!(
        item(&store, "mine", Some(regular(b"i\n")), false)
            .unwrap()
            .action,
        Action::Update
    );
    assert!(store.verify().unwrap().is_empty());
}
