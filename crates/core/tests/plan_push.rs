//! Push planning: a table of cases, a property-style sweep over generated states proving
//! that no silent overwrite is ever planned, explicit overwrite decisions, refusals, and the
//! planner fed from a real store.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use qcs_core::plan::{
    Action, Actual, ConflictReason, DesiredFile, LastPushed, QubeInput, RefusalReason, plan,
    plan_qube,
};
use qcs_core::store::{PushedFile, Store};
use qcs_protocol::mode::{FileMode, validate_mode};
use qcs_protocol::path::validate_relative_path;
use qcs_protocol::profile::validate_profile_id;
use qcs_protocol::sha256_hex;

fn mode(bits: u32) -> FileMode {
    validate_mode(bits).unwrap()
}

fn desired(path: &str, content: &[u8], bits: u32) -> DesiredFile {
    DesiredFile {
        profile: validate_profile_id("git").unwrap(),
        path: rp(path),
        content: content.to_vec(),
        sha256: sha256_hex(content),
        mode: mode(bits),
        generation: 7,
    }
}

fn pushed(content: &[u8], bits: u32) -> LastPushed {
    LastPushed {
        sha256: sha256_hex(content),
        mode: mode(bits),
        generation: 6,
        content: Some(content.to_vec()),
    }
}

fn regular(content: &[u8], bits: u32) -> Actual {
    Actual::Regular {
        sha256: sha256_hex(content),
        mode: bits,
        content: Some(content.to_vec()),
    }
}

fn one(
    file: DesiredFile,
    last: Option<LastPushed>,
    actual: Option<Actual>,
    overwrite: bool,
) -> qcs_core::plan::PlanItem {
    let path = file.path.clone();
    let input = QubeInput {
        qube: vm("work"),
        desired: vec![file],
        last_pushed: last.map(|l| (path.clone(), l)).into_iter().collect(),
        snapshot: actual.map(|a| (path.clone(), a)).into_iter().collect(),
        removed: Vec::new(),
    };
    let chosen: BTreeSet<qcs_protocol::RelativePath> = if overwrite {
        [path].into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let mut plan = plan_qube(&input, &chosen);
    assert_eq!(plan.items.len(), 1);
    plan.items.remove(0)
}

const NEW: &[u8] = b"[user]\n\tname = New\n";
const OLD: &[u8] = b"[user]\n\tname = Old\n";
const LOCAL: &[u8] = b"[user]\n\tname = Local\n";

/// Name, last pushed, what the snapshot saw, expected action, content the base hash is of.
type Case = (
    &'static str,
    Option<LastPushed>,
    Option<Actual>,
    Action,
    Option<Vec<u8>>,
);

#[test]
fn table_of_cases() {
    use Action::*;
    use ConflictReason::*;
    let cases: Vec<Case> = vec![
        (
            "absent, never pushed",
            None,
            Some(Actual::Absent),
            Create,
            None,
        ),
        (
            "ours, unchanged since push",
            Some(pushed(OLD, 0o644)),
            Some(regular(OLD, 0o644)),
            Update,
            Some(OLD.to_vec()),
        ),
        (
            "already the desired content",
            Some(pushed(OLD, 0o644)),
            Some(regular(NEW, 0o644)),
            Unchanged,
            Some(NEW.to_vec()),
        ),
        (
            "identical pre-existing file",
            None,
            Some(regular(NEW, 0o644)),
            Unchanged,
            Some(NEW.to_vec()),
        ),
        (
            "changed locally since push",
            Some(pushed(OLD, 0o644)),
            Some(regular(LOCAL, 0o644)),
            Conflict(ChangedSinceLastPush),
            None,
        ),
        (
            "mode changed locally since push",
            Some(pushed(OLD, 0o644)),
            Some(regular(OLD, 0o600)),
            Conflict(ChangedSinceLastPush),
            None,
        ),
        (
            "deleted locally since push",
            Some(pushed(OLD, 0o644)),
            Some(Actual::Absent),
            Conflict(ChangedSinceLastPush),
            None,
        ),
        (
            "pre-existing file never written by us",
            None,
            Some(regular(LOCAL, 0o644)),
            Conflict(PreExisting),
            None,
        ),
        (
            "right content, wrong mode, never pushed",
            None,
            Some(regular(NEW, 0o600)),
            Conflict(PreExisting),
            None,
        ),
        (
            "a symlink in place",
            Some(pushed(OLD, 0o644)),
            Some(Actual::Other {
                kind: "symlink".into(),
            }),
            Conflict(NotRegularFile {
                kind: "symlink".into(),
            }),
            None,
        ),
        (
            "no snapshot entry",
            Some(pushed(OLD, 0o644)),
            None,
            Conflict(StateUnknown),
            None,
        ),
    ];
    for (name, last, actual, expected, base_content) in cases {
        let item = one(desired(".gitconfig", NEW, 0o644), last, actual, false);
        assert_eq!(item.action, expected, "{name}");
        assert!(!item.forced, "{name}");
        assert_eq!(
            item.base_sha256,
            base_content.map(|c| sha256_hex(&c)),
            "{name}"
        );
    }
}

#[test]
fn updates_and_creates_carry_a_reviewable_diff() {
    let item = one(
        desired(".gitconfig", NEW, 0o644),
        Some(pushed(OLD, 0o644)),
        Some(regular(OLD, 0o644)),
        false,
    );
    let diff = item.diff.unwrap();
    assert_eq!(diff.hunks.len(), 1);
    assert_eq!(diff.hunks[0].removed[0].bytes, b"\tname = Old\n");
    assert_eq!(diff.hunks[0].added[0].bytes, b"\tname = New\n");

    let item = one(
        desired(".gitconfig", NEW, 0o644),
        None,
        Some(Actual::Absent),
        false,
    );
    assert_eq!(item.diff.unwrap().new_lines, 2);

    // A conflict shows what would be overwritten, and the three-way view when the base
    // content is still known.
    let item = one(
        desired(".gitconfig", NEW, 0o644),
        Some(pushed(OLD, 0o644)),
        Some(regular(LOCAL, 0o644)),
        false,
    );
    assert!(item.diff.is_some());
    assert!(item.three_way.unwrap().has_conflicts());
}

#[test]
fn overwrite_turns_a_conflict_into_a_forced_update_based_on_the_current_hash() {
    let item = one(
        desired(".gitconfig", NEW, 0o644),
        Some(pushed(OLD, 0o644)),
        Some(regular(LOCAL, 0o644)),
        true,
    );
    assert_eq!(item.action, Action::Update);
    assert!(item.forced);
    assert_eq!(item.overridden, Some(ConflictReason::ChangedSinceLastPush));
    assert_eq!(item.base_sha256, Some(sha256_hex(LOCAL)));
    assert_eq!(item.write_policy(), qcs_protocol::WritePolicy::Overwrite);

    let item = one(
        desired(".gitconfig", NEW, 0o644),
        None,
        Some(regular(LOCAL, 0o644)),
        true,
    );
    assert_eq!(item.action, Action::Update);
    assert_eq!(item.base_sha256, Some(sha256_hex(LOCAL)));

    // Deleted locally: the forced write is a create that expects the file to be absent.
    let item = one(
        desired(".gitconfig", NEW, 0o644),
        Some(pushed(OLD, 0o644)),
        Some(Actual::Absent),
        true,
    );
    assert_eq!(item.action, Action::Create);
    assert!(item.forced);
    assert_eq!(item.base_sha256, None);

    // Never over a non-regular file or an unknown state, whatever the decision.
    for actual in [
        Some(Actual::Other {
            kind: "directory".into(),
        }),
        None,
    ] {
        let item = one(
            desired(".gitconfig", NEW, 0o644),
            Some(pushed(OLD, 0o644)),
            actual,
            true,
        );
        assert!(matches!(item.action, Action::Conflict(_)), "{item:?}");
        assert!(!item.forced);
    }

    // The decision is per item: it does not leak to another path or qube.
    let input = QubeInput {
        qube: vm("work"),
        desired: vec![desired(".a", NEW, 0o644), desired(".b", NEW, 0o644)],
        last_pushed: BTreeMap::new(),
        snapshot: [
            (rp(".a"), regular(LOCAL, 0o644)),
            (rp(".b"), regular(LOCAL, 0o644)),
        ]
        .into_iter()
        .collect(),
        removed: Vec::new(),
    };
    let mut other = input.clone();
    other.qube = vm("personal");
    let decisions: BTreeSet<_> = [(vm("work"), rp(".a"))].into_iter().collect();
    let plans = plan(&[input, other], &decisions);
    let actions: Vec<Vec<bool>> = plans
        .iter()
        .map(|p| p.items.iter().map(|i| i.forced).collect())
        .collect();
    assert_eq!(actions, vec![vec![true, false], vec![false, false]]);
}

#[test]
fn never_sync_and_doubly_provided_paths_are_refused() {
    // An invalid path cannot be planned at all: `DesiredFile.path` is a `RelativePath`.
    for path in ["../.bashrc", "/etc/passwd", "a//b", "x\u{202e}y", ""] {
        assert!(validate_relative_path(path).is_err(), "{path:?}");
    }
    for path in [
        ".ssh/id_ed25519",
        ".bash_history",
        ".git/config",
        "x/.git/hooks/pre-commit",
    ] {
        let item = one(desired(path, NEW, 0o644), None, Some(Actual::Absent), true);
        assert_eq!(
            item.action,
            Action::Refused(RefusalReason::NeverSync),
            "{path}"
        );
    }
    assert_eq!(
        one(
            desired(".ssh/id_ed25519.pub", NEW, 0o644),
            None,
            Some(Actual::Absent),
            false
        )
        .action,
        Action::Create
    );

    let mut second = desired(".gitconfig", OLD, 0o644);
    second.profile = validate_profile_id("work-git").unwrap();
    let input = QubeInput {
        qube: vm("work"),
        desired: vec![desired(".gitconfig", NEW, 0o644), second],
        last_pushed: BTreeMap::new(),
        snapshot: [(rp(".gitconfig"), Actual::Absent)].into_iter().collect(),
        removed: Vec::new(),
    };
    let plan = plan_qube(&input, &BTreeSet::new());
    for item in &plan.items {
        assert!(matches!(
            item.action,
            Action::Refused(RefusalReason::ProvidedByTwoProfiles { .. })
        ));
    }
}

use qcs_protocol::literal::{pid, rp, vm};
/// xorshift64*, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64Star as Rng;

#[test]
fn no_generated_state_ever_plans_a_silent_overwrite() {
    const CONTENTS: [&[u8]; 3] = [b"a\n", b"b\n", b"c\n"];
    const MODES: [u32; 2] = [0o644, 0o600];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut seen_actions = BTreeSet::new();
    for _ in 0..20_000 {
        let want = desired(
            ".f",
            CONTENTS[rng.below_u64(3) as usize],
            MODES[rng.below_u64(2) as usize],
        );
        let last = match rng.below_u64(3) {
            0 => None,
            _ => Some(pushed(
                CONTENTS[rng.below_u64(3) as usize],
                MODES[rng.below_u64(2) as usize],
            )),
        };
        let actual = match rng.below_u64(6) {
            0 => None,
            1 => Some(Actual::Absent),
            2 => Some(Actual::Other {
                kind: "symlink".into(),
            }),
            _ => Some(regular(
                CONTENTS[rng.below_u64(3) as usize],
                [0o644, 0o600, 0o4755][rng.below_u64(3) as usize],
            )),
        };
        let overwrite = rng.below_u64(2) == 0;
        let item = one(want.clone(), last.clone(), actual.clone(), overwrite);
        seen_actions.insert(format!(
            "{:?}/{}",
            std::mem::discriminant(&item.action),
            item.forced
        ));

        let current = match &actual {
            Some(Actual::Regular { sha256, mode, .. }) => Some((sha256.clone(), *mode)),
            _ => None,
        };
        let last_state = last.as_ref().map(|l| (l.sha256.clone(), l.mode.bits()));
        let desired_state = Some((want.sha256.clone(), want.mode.bits()));
        match &item.action {
            Action::Update if !item.forced => {
                // The heart of invariant 4: we only ever update what we last wrote.
                assert!(current.is_some());
                assert_eq!(current, last_state, "{item:?}");
            }
            Action::Create if !item.forced => {
                assert_eq!(actual, Some(Actual::Absent));
                assert!(last.is_none(), "{item:?}");
            }
            Action::Update | Action::Create => {
                assert!(overwrite, "forced without a decision: {item:?}");
                assert!(item.overridden.as_ref().unwrap().can_overwrite());
            }
            Action::Unchanged => assert_eq!(current, desired_state),
            Action::Conflict(_) => {
                assert_ne!(current, desired_state);
                assert!(!item.forced);
            }
            Action::Refused(_) => panic!("valid path refused: {item:?}"),
            Action::Remove => panic!("a desired file planned as a removal: {item:?}"),
        }
        if item.writes() {
            // Every write is conditional on exactly the state we saw.
            assert_eq!(item.base_sha256, current.map(|c| c.0), "{item:?}");
            assert!(matches!(
                actual,
                Some(Actual::Absent) | Some(Actual::Regular { .. })
            ));
        }
    }
    // Every outcome was reached.
    assert_eq!(seen_actions.len(), 6, "{seen_actions:?}");
}

#[test]
fn planning_from_a_real_store_then_recording_the_push_converges() {
    let mut store = Store::open_in_memory().unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    store
        .put_file(&pid("git"), &rp(".gitconfig"), OLD, 0o644)
        .unwrap();
    store
        .put_file(&pid("git"), &rp(".config/git/ignore"), b"*.o\n", 0o600)
        .unwrap();
    store.assign(&vm("work"), &pid("git")).unwrap();

    // First push: nothing there yet.
    let snapshot: BTreeMap<qcs_protocol::RelativePath, Actual> = [
        (rp(".gitconfig"), Actual::Absent),
        (rp(".config/git/ignore"), Actual::Absent),
    ]
    .into_iter()
    .collect();
    let input = store.plan_input(&vm("work"), snapshot).unwrap();
    let plan = plan_qube(&input, &BTreeSet::new());
    assert!(plan.items.iter().all(|i| i.action == Action::Create));
    let profile = validate_profile_id("git").unwrap();
    let request = plan.apply_request(&profile).unwrap().unwrap();
    assert_eq!(request.files.len(), 2);
    assert!(request.files.iter().all(|f| f.base_sha256.is_none()));
    let pushed_files: Vec<PushedFile> = plan
        .items
        .iter()
        .map(|i| PushedFile {
            profile: i.profile.clone(),
            path: i.path.clone(),
            sha256: i.new_sha256.clone(),
            mode: i.new_mode,
            generation: i.generation,
        })
        .collect();
    store
        .record_push(&vm("work"), &pushed_files, serde_json::Value::Null)
        .unwrap();

    // The store changes; the qube still has what we wrote: an update based on it.
    store
        .put_file(&pid("git"), &rp(".gitconfig"), NEW, 0o644)
        .unwrap();
    let snapshot: BTreeMap<qcs_protocol::RelativePath, Actual> = [
        (rp(".gitconfig"), regular(OLD, 0o644)),
        (rp(".config/git/ignore"), regular(b"*.o\n", 0o600)),
    ]
    .into_iter()
    .collect();
    let input = store.plan_input(&vm("work"), snapshot.clone()).unwrap();
    assert_eq!(
        input.last_pushed[".gitconfig"].content.as_deref(),
        Some(OLD)
    );
    let plan = plan_qube(&input, &BTreeSet::new());
    let by_path: BTreeMap<&str, &Action> = plan
        .items
        .iter()
        .map(|i| (i.path.as_str(), &i.action))
        .collect();
    assert_eq!(by_path[".gitconfig"], &Action::Update);
    assert_eq!(by_path[".config/git/ignore"], &Action::Unchanged);
    let request = plan.apply_request(&profile).unwrap().unwrap();
    assert_eq!(request.files.len(), 1);
    assert_eq!(
        request.files[0]
            .base_sha256
            .as_ref()
            .map(|h| h.as_str().to_owned()),
        Some(sha256_hex(OLD))
    );

    // But if the user edited it in the qube meanwhile: conflict, with the three-way view.
    let mut edited = snapshot;
    edited.insert(rp(".gitconfig"), regular(LOCAL, 0o644));
    let input = store.plan_input(&vm("work"), edited).unwrap();
    let plan = plan_qube(&input, &BTreeSet::new());
    let item = plan
        .items
        .iter()
        .find(|i| i.path.as_str() == ".gitconfig")
        .unwrap();
    assert_eq!(
        item.action,
        Action::Conflict(ConflictReason::ChangedSinceLastPush)
    );
    assert!(item.three_way.is_some());
    assert!(plan.apply_request(&profile).unwrap().is_none());
}

#[test]
fn snapshot_entries_map_to_planner_states() {
    use qcs_protocol::{Content, FileRefusal, ObservedMode, PathState, Sha256Hex, SnapshotEntry};
    let entry = |path: &str, state: PathState| SnapshotEntry {
        path: validate_relative_path(path).unwrap(),
        state,
    };
    let file = |hardlinked: bool, content: Option<&[u8]>| PathState::File {
        mode: ObservedMode::new(0o100644),
        size: 3,
        sha256: Sha256Hex::of(b"abc"),
        hardlinked,
        content: content.map(|c| Content::new(c.to_vec()).unwrap()),
    };
    let map = qcs_core::plan::snapshot_map(&[
        entry(".a", PathState::Missing),
        entry(".b", file(false, Some(b"abc"))),
        entry(".c", file(false, None)),
        entry(".d", file(true, Some(b"abc"))),
        entry(".e", PathState::Symlink),
        entry(
            ".f",
            PathState::Refused {
                reason: FileRefusal::Symlink,
                detail: "parent".into(),
            },
        ),
    ]);
    assert_eq!(map[".a"], Actual::Absent);
    assert_eq!(map[".b"], regular(b"abc", 0o644));
    assert_eq!(
        map[".c"],
        Actual::Regular {
            sha256: sha256_hex(b"abc"),
            mode: 0o644,
            content: None
        }
    );
    // A hard-linked file is never written by the agent: not a regular target for us either.
    for path in [".d", ".e", ".f"] {
        assert!(matches!(map[path], Actual::Other { .. }), "{path}");
    }
    // Without content the plan still classifies, it only lacks the diff.
    let item = one(
        desired(".c", NEW, 0o644),
        Some(LastPushed {
            sha256: sha256_hex(b"abc"),
            mode: mode(0o644),
            generation: 1,
            content: None,
        }),
        Some(map[".c"].clone()),
        false,
    );
    assert_eq!(item.action, Action::Update);
    assert!(item.diff.is_none());
}
