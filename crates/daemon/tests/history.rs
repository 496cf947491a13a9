//! History end to end (issue 14, item 4), through the real backend on a private bus, the
//! simulator's dom0 and the real agent in the qubes: generations listed by the CLI (who,
//! when, which files); a rollback is a new generation pushed after the plan, and the next
//! push keeps it; a file removed from a profile is removed in the qube that has it (with
//! a backup), a file the qube changed is a conflict until the user chooses otherwise;
//! `undo QUBE PROFILE` restores what the last push replaced in one qube (planned by a
//! dry run, confirmed), and the qube then shows as drifted from the store.
//!
//! `harness = false`: the binary is also the agent and the CLI (`support::dispatch`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use qcs_core::store::Store;
use qcs_daemon::client::ConfigSyncProxy;
use qcs_daemon::client::history::{GenerationAuthor, GenerationList, UndoPlan};
use qcs_daemon::client::types::{
    FileOutcome, JobSummary, PlanAction, PushPlan, QubeList, SyncState,
};
use qcs_sim::world::QubeSpec;
use support::{Env, EnvOptions, managed, wait_job};

fn main() -> std::process::ExitCode {
    support::dispatch();
    support::run_all(&[
        (
            "generations_and_a_rollback_the_next_push_keeps",
            generations_and_a_rollback_the_next_push_keeps,
        ),
        (
            "a_file_removed_from_a_profile_is_removed_where_it_was_pushed",
            a_file_removed_from_a_profile_is_removed_where_it_was_pushed,
        ),
        (
            "undo_restores_the_last_push_in_one_qube_and_shows_drift",
            undo_restores_the_last_push_in_one_qube_and_shows_drift,
        ),
    ])
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    zbus::block_on(f)
}

fn plan(proxy: &ConfigSyncProxy<'static>, overwrite: &[(&str, &str)]) -> PushPlan {
    serde_json::from_str(&block(proxy.plan_push(&["work"], &[], overwrite)).unwrap()).unwrap()
}

fn execute(proxy: &ConfigSyncProxy<'static>, plan: &PushPlan) -> (bool, JobSummary) {
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    let job = block(proxy.execute_plan(&plan.plan_id)).unwrap();
    wait_job(&mut finished, job)
}

fn read(env: &Env, path: &str) -> Option<String> {
    std::fs::read_to_string(env.home("work").join(path)).ok()
}

fn setup() -> (Env, zbus::Connection, ConfigSyncProxy<'static>) {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.assign("work", "git", true)).unwrap();
    (env, conn, proxy)
}

/// Two edits pushed; `generations` lists them; `rollback git 1 -y` makes generation 3
/// equal to 1 and pushes it; a plain push afterwards changes nothing.
fn generations_and_a_rollback_the_next_push_keeps() {
    let (env, _conn, proxy) = setup();
    block(proxy.put_file("git", ".gitconfig", b"one\n", 0o644)).unwrap();
    assert!(execute(&proxy, &plan(&proxy, &[])).0);
    block(proxy.put_file("git", ".gitconfig", b"two\n", 0o644)).unwrap();
    block(proxy.put_file("git", ".inputrc", b"set bell-style none\n", 0o644)).unwrap();
    assert!(execute(&proxy, &plan(&proxy, &[])).0);
    assert_eq!(read(&env, ".gitconfig").as_deref(), Some("two\n"));

    let (code, out, err) = env.cli(&["generations", "git"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("   3  ") && out.contains("local edit (current)"),
        "{out}"
    );
    assert!(
        out.contains("+ .inputrc") && out.contains("~ .gitconfig"),
        "{out}"
    );

    // Unknown profile, unknown generation: a sentence, exit ≠ 0, nothing changed.
    let (code, _, err) = env.cli(&["generations", "nosuch"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("nosuch") && !err.contains("org.qubes"),
        "{err}"
    );
    let (code, _, err) = env.cli(&["rollback", "git", "9", "-y"]);
    assert_ne!(code, 0);
    assert!(err.contains("no generation 9"), "{err}");

    let (code, out, err) = env.cli(&["rollback", "git", "1", "-y"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("generation 4 (rollback to generation 1)"),
        "{out}"
    );
    assert!(out.contains("update") && out.contains("remove"), "{out}");
    assert_eq!(read(&env, ".gitconfig").as_deref(), Some("one\n"));
    assert_eq!(
        read(&env, ".inputrc"),
        None,
        "the rollback removed .inputrc"
    );

    let list: GenerationList =
        serde_json::from_str(&block(proxy.generations("git")).unwrap()).unwrap();
    assert_eq!(list.current, 4);
    assert_eq!(
        list.generations.last().unwrap().author,
        GenerationAuthor::Rollback { to: 1 }
    );
    let (code, json, _) = env.cli(&["generations", "git", "--json"]);
    assert_eq!(code, 0);
    let again: GenerationList = serde_json::from_str(&json).unwrap();
    assert_eq!(again, list);

    // The next push does not undo it.
    let next = plan(&proxy, &[]);
    assert!(
        next.qubes[0]
            .items
            .iter()
            .all(|i| i.action == PlanAction::Unchanged),
        "{next:?}"
    );
    let (code, out, _) = env.cli(&["push", "work", "-y"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(read(&env, ".gitconfig").as_deref(), Some("one\n"));

    // Rolling back to what the profile already has is refused, not a silent no-op.
    let (code, _, err) = env.cli(&["rollback", "git", "1", "-y"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("already has the content of generation 1"),
        "{err}"
    );
    // Audited as a rollback.
    let store = Store::open(&env.store).unwrap();
    assert!(
        store
            .audit_log(0, 10_000)
            .unwrap()
            .iter()
            .any(|e| e.action == "revert" && e.generation == Some(4))
    );
}

/// `.gitignore` pushed, then removed from the profile: the plan says `remove`, the push
/// removes it with a backup, and the record is cleared. `.inputrc`, changed in the qube,
/// is a conflict and stays until the user chooses to remove it anyway.
fn a_file_removed_from_a_profile_is_removed_where_it_was_pushed() {
    let (env, _conn, proxy) = setup();
    block(proxy.put_file("git", ".gitconfig", b"one\n", 0o644)).unwrap();
    block(proxy.put_file("git", ".gitignore", b"*.o\n", 0o644)).unwrap();
    block(proxy.put_file("git", ".inputrc", b"set bell-style none\n", 0o644)).unwrap();
    assert!(execute(&proxy, &plan(&proxy, &[])).0);
    std::fs::write(env.home("work").join(".inputrc"), b"mine\n").unwrap();
    block(proxy.remove_file("git", ".gitignore")).unwrap();
    block(proxy.remove_file("git", ".inputrc")).unwrap();

    let (code, out, _) = env.cli(&["diff", "work"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("remove    git      .gitignore"), "{out}");
    assert!(out.contains("a backup is kept in the qube"), "{out}");
    assert!(
        out.contains("CONFLICT  git      .inputrc") && out.contains("--overwrite work:.inputrc"),
        "{out}"
    );

    // A push of another profile neither removes nor reports them.
    block(proxy.create_profile("vim", "")).unwrap();
    block(proxy.put_file("vim", ".vimrc", b"set nu\n", 0o644)).unwrap();
    block(proxy.assign("work", "vim", true)).unwrap();
    let other: PushPlan =
        serde_json::from_str(&block(proxy.plan_push(&["work"], &["vim"], &[])).unwrap()).unwrap();
    assert!(
        other.qubes[0].items.iter().all(|i| i.profile == "vim"),
        "{other:?}"
    );
    let first = plan(&proxy, &[]);
    let item = |p: &PushPlan, path: &str| {
        p.qubes[0]
            .items
            .iter()
            .find(|i| i.path == path)
            .cloned()
            .unwrap()
    };
    assert_eq!(item(&first, ".gitignore").action, PlanAction::Remove);
    assert_eq!(
        item(&first, ".gitignore")
            .reason
            .as_ref()
            .unwrap()
            .code
            .as_str(),
        "plan.remove"
    );
    assert_eq!(item(&first, ".inputrc").action, PlanAction::Conflict);
    let (success, summary) = execute(&proxy, &first);
    assert!(!success, "a conflict is not a success");
    let outcome = |s: &JobSummary, path: &str| {
        s.qubes[0]
            .files
            .iter()
            .find(|f| f.path == path)
            .unwrap()
            .outcome
    };
    assert_eq!(outcome(&summary, ".gitignore"), FileOutcome::Removed);
    assert_eq!(outcome(&summary, ".inputrc"), FileOutcome::Conflict);
    assert_eq!(read(&env, ".gitignore"), None);
    assert_eq!(read(&env, ".inputrc").as_deref(), Some("mine\n"));
    // The removed file is in an agent backup.
    let backups = env
        .home("work")
        .join(".local/state/qubes-config-sync/backups");
    let kept = std::fs::read_dir(&backups)
        .unwrap()
        .filter_map(|e| std::fs::read(e.unwrap().path().join("manifest.json")).ok())
        .any(|m| String::from_utf8_lossy(&m).contains(".gitignore"));
    assert!(kept, "no backup names .gitignore");

    // Removed is ours no more: the next plan has no removal of it.
    let second = plan(&proxy, &[]);
    assert!(second.qubes[0].items.iter().all(|i| i.path != ".gitignore"));
    // The user chooses to remove the changed file anyway.
    let forced = plan(&proxy, &[("work", ".inputrc")]);
    assert_eq!(item(&forced, ".inputrc").action, PlanAction::Remove);
    assert!(item(&forced, ".inputrc").forced);
    let (success, summary) = execute(&proxy, &forced);
    assert!(success, "{summary:?}");
    assert_eq!(read(&env, ".inputrc"), None);
    let store = Store::open(&env.store).unwrap();
    let removes = store
        .audit_log(0, 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "push-remove")
        .count();
    assert_eq!(removes, 2);
    let (code, out, _) = env.cli(&["push", "work", "-y"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to write"), "{out}");
}

fn sync_state(proxy: &ConfigSyncProxy<'static>) -> SyncState {
    let list: QubeList = serde_json::from_str(&block(proxy.get_qube("work")).unwrap()).unwrap();
    list.qubes[0]
        .profiles
        .iter()
        .find(|p| p.profile == "git")
        .unwrap()
        .state
}

/// v1 pushed over a file the user had, then v2: `undo work git` shows (dry run: nothing
/// changes) and, confirmed, restores v1; the store keeps v2, the qube is drifted, and
/// the next push shows a conflict instead of rewriting it. Undone once, not twice.
fn undo_restores_the_last_push_in_one_qube_and_shows_drift() {
    let (env, _conn, proxy) = setup();
    assert!(matches!(
        block(proxy.plan_undo("work", "git"))
            .unwrap_err()
            .reason()
            .code,
        qcs_daemon::client::Code::UndoNothing
    ));
    block(proxy.put_file("git", ".gitconfig", b"one\n", 0o644)).unwrap();
    assert!(execute(&proxy, &plan(&proxy, &[])).0);
    block(proxy.put_file("git", ".gitconfig", b"two\n", 0o644)).unwrap();
    block(proxy.put_file("git", ".inputrc", b"new\n", 0o644)).unwrap();
    assert!(execute(&proxy, &plan(&proxy, &[])).0);

    let planned: UndoPlan =
        serde_json::from_str(&block(proxy.plan_undo("work", "git")).unwrap()).unwrap();
    let outcome = |path: &str| {
        planned
            .files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.outcome)
    };
    assert_eq!(
        outcome(".gitconfig"),
        Some(FileOutcome::Written),
        "{planned:?}"
    );
    assert_eq!(
        outcome(".inputrc"),
        Some(FileOutcome::Removed),
        "{planned:?}"
    );
    // The plan is a dry run: nothing changed.
    assert_eq!(read(&env, ".gitconfig").as_deref(), Some("two\n"));
    assert_eq!(read(&env, ".inputrc").as_deref(), Some("new\n"));
    // Not confirmed: nothing changes.
    let (code, out, _) = env.cli(&["undo", "work", "git"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("restore   .gitconfig") && out.contains("not undone"),
        "{out}"
    );
    assert_eq!(read(&env, ".gitconfig").as_deref(), Some("two\n"));

    let (code, out, err) = env.cli(&["undo", "work", "git", "-y"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(&env, ".gitconfig").as_deref(), Some("one\n"));
    assert_eq!(read(&env, ".inputrc"), None);
    // The store still has generation 3 (two, new): the qube differs, and says so.
    assert_eq!(sync_state(&proxy), SyncState::Drifted);
    let next = plan(&proxy, &[]);
    let action = |path: &str| {
        next.qubes[0]
            .items
            .iter()
            .find(|i| i.path == path)
            .map(|i| i.action)
    };
    assert_eq!(action(".gitconfig"), Some(PlanAction::Conflict), "{next:?}");
    assert_eq!(action(".inputrc"), Some(PlanAction::Conflict), "{next:?}");
    // Undone once: the same backup is not undone again, nor an older one reached.
    assert!(matches!(
        block(proxy.plan_undo("work", "git"))
            .unwrap_err()
            .reason()
            .code,
        qcs_daemon::client::Code::UndoNothing
    ));
    // Its backup id is not accepted again either.
    assert!(matches!(
        block(proxy.undo("work", "git", &planned.backup))
            .unwrap_err()
            .reason()
            .code,
        qcs_daemon::client::Code::UndoNothing
    ));
    let store = Store::open(&env.store).unwrap();
    assert!(
        store
            .audit_log(0, 10_000)
            .unwrap()
            .iter()
            .any(|e| e.action == "undo" && e.detail["backup"] == planned.backup.as_str())
    );
}
