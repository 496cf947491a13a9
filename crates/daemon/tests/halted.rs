//! Planning never starts a qube (issue 14, item 3), through the real backend, the
//! simulator's dom0 (its qubesd and qrexec policy, with the shipped policy files) and
//! the real agent: a halted qube is planned as halted without any call into it; a push
//! skips it and says so unless the user chose to start it; when chosen it is started,
//! planned and written. The shipped policy's `autostart=no` is checked on its own: a
//! call the backend makes into a halted qube is refused, and the qube stays halted.
//!
//! `harness = false`: the binary is also the agent inside the simulated qubes
//! (`support::dispatch`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use qcs_daemon::client::types::{JobSummary, PlanPower, PushPlan, QubeOutcome};
use qcs_daemon::client::{Code, ConfigSyncProxy};
use qcs_sim::world::QubeSpec;
use support::{Env, EnvOptions, managed, wait_job};

fn main() -> std::process::ExitCode {
    support::dispatch();
    support::run_all(&[
        (
            "planning_a_halted_qube_starts_nothing",
            planning_a_halted_qube_starts_nothing,
        ),
        (
            "a_push_not_choosing_a_halted_qube_skips_and_reports_it",
            a_push_not_choosing_a_halted_qube_skips_and_reports_it,
        ),
        (
            "a_push_choosing_a_halted_qube_starts_and_writes_it",
            a_push_choosing_a_halted_qube_starts_and_writes_it,
        ),
        (
            "only_halted_qubes_of_the_plan_can_be_chosen",
            only_halted_qubes_of_the_plan_can_be_chosen,
        ),
        (
            "calls_into_a_halted_qube_are_refused_not_autostarted",
            calls_into_a_halted_qube_are_refused_not_autostarted,
        ),
        (
            "planning_starts_nothing_even_where_policy_would_autostart",
            planning_starts_nothing_even_where_policy_would_autostart,
        ),
        ("cli_push_of_a_halted_qube", cli_push_of_a_halted_qube),
    ])
}

const GITCONFIG: &str = "[user]\n\tname = Alice\n";

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    zbus::block_on(f)
}

/// `work` runs, `vault` and `untrusted` are halted; `git` is assigned to all three.
fn setup() -> (Env, zbus::Connection, ConfigSyncProxy<'static>) {
    let env = Env::start(
        vec![
            managed(QubeSpec::app("work", "fedora").running()),
            managed(QubeSpec::app("vault", "fedora")),
            managed(QubeSpec::app("untrusted", "fedora")),
        ],
        EnvOptions::default(),
    );
    let (conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    for qube in ["work", "vault", "untrusted"] {
        block(proxy.assign(qube, "git", true)).unwrap();
    }
    env.install_generated_policy(&proxy);
    (env, conn, proxy)
}

/// The power state as the simulated dom0 has it (not the backend's view).
fn power(env: &Env, qube: &str) -> String {
    let app = qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(env.socket()));
    let vms = app.domains().unwrap();
    let vm = vms.iter().find(|vm| vm.name() == qube).unwrap();
    format!("{:?}", vm.power_state())
}

fn plan(proxy: &ConfigSyncProxy<'static>, qubes: &[&str]) -> PushPlan {
    serde_json::from_str(&block(proxy.plan_push(qubes, &[], &[])).unwrap()).unwrap()
}

fn outcome<'a>(summary: &'a JobSummary, qube: &str) -> &'a QubeOutcome {
    summary
        .qubes
        .iter()
        .find(|q| q.qube == qube)
        .unwrap_or_else(|| panic!("{qube} not in {summary:?}"))
}

fn planning_a_halted_qube_starts_nothing() {
    let (env, _conn, proxy) = setup();
    env.clear_calls();
    let p = plan(&proxy, &[]);
    let view = |qube: &str| p.qubes.iter().find(|q| q.qube == qube).unwrap();
    assert_eq!(view("work").power, PlanPower::Running);
    assert_eq!(view("work").items.len(), 1, "{p:?}");
    for qube in ["vault", "untrusted"] {
        let v = view(qube);
        assert_eq!(v.power, PlanPower::Halted, "{v:?}");
        assert!(v.error.is_none() && v.items.is_empty(), "{v:?}");
        assert!(v.can_start());
        assert_eq!(power(&env, qube), "Halted");
    }
    // Not one qrexec call went into a halted qube.
    let calls = env.calls_per_qube();
    assert!(calls.contains_key("work"), "{calls:?}");
    assert!(!calls.contains_key("vault") && !calls.contains_key("untrusted"));
}

fn a_push_not_choosing_a_halted_qube_skips_and_reports_it() {
    let (env, _conn, proxy) = setup();
    let p = plan(&proxy, &[]);
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    let job = block(proxy.execute_plan(&p.plan_id)).unwrap();
    let (success, summary) = wait_job(&mut finished, job);
    // Skipped is not a failure, and it is said.
    assert!(success, "{summary:?}");
    for qube in ["vault", "untrusted"] {
        let o = outcome(&summary, qube);
        assert!(o.error.is_none() && o.files.is_empty(), "{o:?}");
        let skipped = o.skipped.as_ref().expect("reported as skipped");
        assert_eq!(skipped.code, Code::JobHaltedSkipped);
        assert!(skipped.english().contains(qube), "{}", skipped.english());
        assert_eq!(power(&env, qube), "Halted");
        assert!(!env.home(qube).join(".gitconfig").exists());
    }
    assert!(outcome(&summary, "work").skipped.is_none());
    assert_eq!(
        std::fs::read_to_string(env.home("work").join(".gitconfig")).unwrap(),
        GITCONFIG
    );
}

fn a_push_choosing_a_halted_qube_starts_and_writes_it() {
    let (env, _conn, proxy) = setup();
    // A file the user had there before: a conflict, never overwritten, although the
    // user saw none of vault's items.
    std::fs::create_dir_all(env.home("untrusted")).unwrap();
    // vault re-applies on start too: the push that starts it writes it, and no second
    // job races it into a conflict.
    block(proxy.set_qube_settings("vault", &["git"], &[], true)).unwrap();
    let p = plan(&proxy, &[]);
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    let job = block(proxy.execute_plan_starting(&p.plan_id, &["vault"])).unwrap();
    let (success, summary) = wait_job(&mut finished, job);
    assert!(success, "{summary:?}");
    let vault = outcome(&summary, "vault");
    assert!(
        vault.error.is_none() && vault.skipped.is_none(),
        "{vault:?}"
    );
    assert_eq!(vault.files.len(), 1, "{vault:?}");
    assert_eq!(vault.files[0].outcome.as_str(), "written");
    assert_eq!(power(&env, "vault"), "Running");
    assert_eq!(
        std::fs::read_to_string(env.home("vault").join(".gitconfig")).unwrap(),
        GITCONFIG
    );
    // The one not chosen stays halted.
    assert_eq!(power(&env, "untrusted"), "Halted");
    assert!(outcome(&summary, "untrusted").skipped.is_some());

    // A chosen qube's own file is still a conflict, not overwritten.
    std::fs::write(env.home("untrusted").join(".gitconfig"), "mine\n").unwrap();
    let p = plan(&proxy, &["untrusted"]);
    let job = block(proxy.execute_plan_starting(&p.plan_id, &["untrusted"])).unwrap();
    let (success, summary) = wait_job(&mut finished, job);
    assert!(!success, "a conflict is not a clean push: {summary:?}");
    let o = outcome(&summary, "untrusted");
    assert_eq!(o.files[0].outcome.as_str(), "conflict", "{o:?}");
    assert_eq!(
        std::fs::read_to_string(env.home("untrusted").join(".gitconfig")).unwrap(),
        "mine\n"
    );
}

fn only_halted_qubes_of_the_plan_can_be_chosen() {
    let (env, _conn, proxy) = setup();
    let p = plan(&proxy, &["work", "vault"]);
    for wrong in [
        "work",
        "untrusted",
        "nosuchqube",
        "dom0",
        "vault\nwork",
        &"x".repeat(5000),
    ] {
        let error = block(proxy.execute_plan_starting(&p.plan_id, &["vault", wrong])).unwrap_err();
        assert_eq!(error.reason().code, Code::PlanStartNotHalted, "{wrong:?}");
    }
    assert_eq!(power(&env, "vault"), "Halted");
    assert_eq!(power(&env, "untrusted"), "Halted");
    assert!(!env.home("work").join(".gitconfig").exists());
    // The refused choices lost nothing: the plan is still there.
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    let job = block(proxy.execute_plan(&p.plan_id)).unwrap();
    let (success, _) = wait_job(&mut finished, job);
    assert!(success);
    assert!(env.home("work").join(".gitconfig").exists());
    assert_eq!(power(&env, "vault"), "Halted");
}

/// Defence in depth: a call the backend makes without a plan (import a snapshot) goes to
/// qrexec, whose policy (autostart=no) refuses it for a halted qube; the reason says the
/// qube is halted, and it stays halted. A rollback is a new generation and a push plan,
/// which plans a halted qube as halted without calling it.
fn calls_into_a_halted_qube_are_refused_not_autostarted() {
    let (env, _conn, proxy) = setup();
    let error = block(proxy.snapshot("vault", &["git"])).unwrap_err();
    assert_eq!(error.reason().code, Code::QubeHalted, "{error:?}");
    assert_eq!(power(&env, "vault"), "Halted");
    block(proxy.put_file("git", ".gitconfig", b"two\n", 0o644)).unwrap();
    block(proxy.revert_profile("git", 1)).unwrap();
    let plan: PushPlan =
        serde_json::from_str(&block(proxy.plan_push(&["vault"], &["git"], &[])).unwrap()).unwrap();
    assert_eq!(plan.qubes[0].power, PlanPower::Halted, "{plan:?}");
    assert_eq!(power(&env, "vault"), "Halted");
    let calls = env.calls_per_qube();
    // Refused by policy before reaching the qube: the call log has them, the qube ran nothing.
    assert!(!env.home("vault").join(".gitconfig").exists(), "{calls:?}");
}

/// The other layer on its own: a user policy in dom0 that lets our services autostart
/// (read before ours, so it wins) does not make planning start a qube, because the
/// backend reads the power states and never calls a halted qube.
fn planning_starts_nothing_even_where_policy_would_autostart() {
    let (env, _conn, proxy) = setup();
    std::fs::write(
        env.world_dir.join("policy").join("30-user.policy"),
        "qubes.ConfigSnapshot * @tag:qubes-config-sync-manager @tag:qubes-config-sync-managed allow\n\
         qubes.ConfigApply * @tag:qubes-config-sync-manager @tag:qubes-config-sync-managed allow\n",
    )
    .unwrap();
    // The policy does autostart now: an import of untrusted's files starts it...
    block(proxy.snapshot("untrusted", &["git"])).unwrap();
    assert_eq!(power(&env, "untrusted"), "Running");
    env.clear_calls();
    // ...but planning does not.
    let p = plan(&proxy, &[]);
    let vault = p.qubes.iter().find(|q| q.qube == "vault").unwrap();
    assert_eq!(vault.power, PlanPower::Halted);
    assert_eq!(power(&env, "vault"), "Halted");
    assert!(!env.calls_per_qube().contains_key("vault"));
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    let job = block(proxy.execute_plan(&p.plan_id)).unwrap();
    let (success, summary) = wait_job(&mut finished, job);
    assert!(success, "{summary:?}");
    assert!(outcome(&summary, "vault").skipped.is_some());
    assert_eq!(power(&env, "vault"), "Halted");
}

fn cli_push_of_a_halted_qube() {
    let (env, _conn, _proxy) = setup();
    // -y alone: the halted qube is shown and skipped, never started.
    let (code, out, err) = env.cli(&["push", "vault", "-y"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("vault") && out.contains("halted"), "{out}");
    assert!(out.contains("skipped"), "{out}");
    assert_eq!(power(&env, "vault"), "Halted");
    // diff reads nothing from a halted qube either: it cannot be compared (exit 1).
    let (code, out, err) = env.cli(&["diff", "vault"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("halted"), "{out}");
    assert_eq!(power(&env, "vault"), "Halted");
    // A running qube with -y keeps working.
    let (code, out, err) = env.cli(&["push", "work", "-y"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(env.home("work").join(".gitconfig").exists());
    // Chosen: started and written.
    let (code, out, err) = env.cli(&["push", "vault", "untrusted", "-y", "--start", "vault"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(power(&env, "vault"), "Running");
    assert_eq!(power(&env, "untrusted"), "Halted");
    assert!(env.home("vault").join(".gitconfig").exists());
    // --start of a qube that is not halted in the plan is a usage error; nothing runs.
    let (code, out, err) = env.cli(&["push", "untrusted", "-y", "--start", "work"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("work"), "{err}");
    assert_eq!(power(&env, "untrusted"), "Halted");
    // --start-halted: every halted qube of the plan.
    let (code, out, err) = env.cli(&["push", "untrusted", "-y", "--start-halted"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(power(&env, "untrusted"), "Running");
}
