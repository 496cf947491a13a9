//! End to end: the real `qubes-config-syncd` on a private `dbus-daemon`, a simulated
//! dom0 (the sim's qubesd) and qubes running the real agent, driven through the D-Bus
//! API and the `qvm-config-sync` CLI (issue 6, item 4).
//!
//! `harness = false`: the binary is also the agent inside the simulated qubes
//! (`support::dispatch`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use qcs_daemon::client::types::{
    PlanAction, ProposalList, ProposalView, PushPlan, QubeList, Segment, SnapshotResult, SyncState,
    ThreeWayRegionView, ThreeWaySideView, ThreeWayView,
};
use qcs_daemon::client::{ConfigSyncProxy, Error as ApiError};
use qcs_sim::world::QubeSpec;
use support::{Env, EnvOptions, PATIENCE, managed, wait_job};

fn main() -> std::process::ExitCode {
    support::dispatch();
    support::run_all(&[
        (
            "introspection_matches_checked_in_xml",
            introspection_matches_checked_in_xml,
        ),
        ("full_review_flow", full_review_flow),
        ("three_way_view_of_a_conflict", three_way_view_of_a_conflict),
        (
            "a_qube_that_never_answers_does_not_stall_others",
            a_qube_that_never_answers_does_not_stall_others,
        ),
        (
            "cli_profile_and_settings_commands",
            cli_profile_and_settings_commands,
        ),
        (
            "backend_exits_when_its_bus_goes_away",
            backend_exits_when_its_bus_goes_away,
        ),
        ("persistence_fix_when_allowed", persistence_fix_when_allowed),
        (
            "rollback_to_an_earlier_generation",
            rollback_to_an_earlier_generation,
        ),
        (
            "propose_through_qrexec_then_accept",
            propose_through_qrexec_then_accept,
        ),
        (
            "disposable_gets_profiles_on_start",
            disposable_gets_profiles_on_start,
        ),
        (
            "killed_mid_push_then_restarted",
            killed_mid_push_then_restarted,
        ),
        (
            "flood_of_proposals_held_by_quota",
            flood_of_proposals_held_by_quota,
        ),
        (
            "hostile_input_gets_errors_not_panics",
            hostile_input_gets_errors_not_panics,
        ),
    ])
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    zbus::block_on(f)
}

/// (kind, member) → ordered list of (arg name, type, direction) plus property types,
/// from introspection XML, for our interface only.
fn interface_members(xml: &str) -> BTreeSet<String> {
    let start = xml
        .find("<interface name=\"org.qubes.ConfigSync1\"")
        .expect("our interface in the XML");
    let end = xml[start..].find("</interface>").expect("interface end") + start;
    let body = &xml[start..end];
    let mut members = BTreeSet::new();
    let mut current = String::new();
    let mut args = Vec::new();
    let attr = |tag: &str, name: &str| -> String {
        let key = format!("{name}=\"");
        tag.find(&key)
            .map(|i| {
                let rest = &tag[i + key.len()..];
                rest[..rest.find('"').unwrap_or(rest.len())].to_owned()
            })
            .unwrap_or_default()
    };
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("tag end") + open;
        let tag = &rest[open..=close];
        rest = &rest[close + 1..];
        if tag.starts_with("<!--") {
            continue;
        }
        if tag.starts_with("<method") || tag.starts_with("<signal") {
            let kind = if tag.starts_with("<method") {
                "method"
            } else {
                "signal"
            };
            current = format!("{kind} {}", attr(tag, "name"));
            args.clear();
            if tag.ends_with("/>") {
                members.insert(format!("{current}()"));
                current.clear();
            }
        } else if tag.starts_with("<arg") {
            let dir = attr(tag, "direction");
            let dir = if dir.is_empty() && current.starts_with("method") {
                "in".to_owned()
            } else {
                dir
            };
            args.push(format!(
                "{}:{}:{}",
                attr(tag, "name"),
                attr(tag, "type"),
                dir
            ));
        } else if tag.starts_with("</method") || tag.starts_with("</signal") {
            members.insert(format!("{current}({})", args.join(",")));
            current.clear();
        } else if tag.starts_with("<property") {
            members.insert(format!(
                "property {}:{}:{}",
                attr(tag, "name"),
                attr(tag, "type"),
                attr(tag, "access")
            ));
        }
    }
    members
}

fn introspection_matches_checked_in_xml() {
    let env = Env::start(vec![], EnvOptions::default());
    let (conn, _proxy) = env.client();
    let xml: String = block(async {
        let proxy = zbus::fdo::IntrospectableProxy::builder(&conn)
            .destination(qcs_daemon::client::BUS_NAME)?
            .path(qcs_daemon::client::OBJECT_PATH)?
            .build()
            .await?;
        proxy.introspect().await.map_err(zbus::Error::from)
    })
    .expect("introspect");
    let checked_in = include_str!("../data/org.qubes.ConfigSync1.xml");
    let live = interface_members(&xml);
    let file = interface_members(checked_in);
    assert!(live.len() > 30, "too few members parsed: {live:?}");
    let only_live: Vec<_> = live.difference(&file).collect();
    let only_file: Vec<_> = file.difference(&live).collect();
    assert!(
        only_live.is_empty() && only_file.is_empty(),
        "introspection differs from data/org.qubes.ConfigSync1.xml\nonly in the running backend: {only_live:#?}\nonly in the file: {only_file:#?}"
    );
}

const GITCONFIG: &str = "[user]\n\tname = Alice\n\temail = alice@example.org\n[color]\n\tui = auto\n[alias]\n\tst = status\n\tco = checkout\n\tbr = branch\n\tlg = log --oneline\n[pull]\n\trebase = true\n";

fn plan(proxy: &ConfigSyncProxy<'static>, qubes: &[&str], overwrite: &[(&str, &str)]) -> PushPlan {
    let json = block(proxy.plan_push(qubes, &[], overwrite)).expect("PlanPush");
    serde_json::from_str(&json).expect("plan JSON")
}

fn item_action(plan: &PushPlan, qube: &str, path: &str) -> PlanAction {
    let q = plan
        .qubes
        .iter()
        .find(|q| q.qube == qube)
        .unwrap_or_else(|| panic!("{qube} not in the plan: {plan:?}"));
    assert!(q.error.is_none(), "{qube}: {:?}", q.error);
    q.items
        .iter()
        .find(|i| i.path == path)
        .unwrap_or_else(|| panic!("{path} not planned for {qube}"))
        .action
}

fn execute(
    proxy: &ConfigSyncProxy<'static>,
    plan: &PushPlan,
) -> (bool, qcs_daemon::client::types::JobSummary) {
    let mut finished = block(proxy.receive_job_finished()).expect("subscribe");
    let job = block(proxy.execute_plan(&plan.plan_id)).expect("ExecutePlan");
    wait_job(&mut finished, job)
}

fn sync_state(proxy: &ConfigSyncProxy<'static>, qube: &str, profile: &str) -> SyncState {
    let list: QubeList =
        serde_json::from_str(&block(proxy.get_qube(qube)).expect("GetQube")).expect("JSON");
    list.qubes[0]
        .profiles
        .iter()
        .find(|p| p.profile == profile)
        .expect("profile state")
        .state
}

/// assign → plan → push → local edit in the qube → drift → conflict → import as a
/// proposal → review with findings → accept chosen hunks → push.
fn full_review_flow() {
    let env = Env::start(
        vec![managed(
            QubeSpec::app("work", "fedora").label("blue").running(),
        )],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "git settings")).expect("CreateProfile");
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).expect("PutFile");
    let (code, _, err) = env.cli(&["assign", "work", "git"]);
    assert_eq!(code, 0, "assign: {err}");

    // Plan and push through the CLI.
    let (code, out, err) = env.cli(&["push", "work", "--yes"]);
    assert_eq!(code, 0, "push: {out}\n{err}");
    assert!(out.contains("create"), "{out}");
    let written =
        std::fs::read_to_string(env.home("work").join(".gitconfig")).expect("pushed file");
    assert_eq!(written, GITCONFIG);
    assert_eq!(sync_state(&proxy, "work", "git"), SyncState::InSync);
    let (code, out, _) = env.cli(&["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("work") && out.contains("in-sync"), "{out}");

    // A local edit inside the qube: one harmless change, one hostile one far apart.
    let edited = GITCONFIG.replace("Alice\n", "Alice Liddell\n").replace(
        "\trebase = true\n",
        "\trebase = true\n[core]\n\tfsmonitor = /home/user/.cache/x.sh\n",
    );
    std::fs::write(env.home("work").join(".gitconfig"), &edited).expect("local edit");

    // The plan shows the conflict, and the snapshot it took shows the drift.
    let p = plan(&proxy, &["work"], &[]);
    assert_eq!(item_action(&p, "work", ".gitconfig"), PlanAction::Conflict);
    assert_eq!(sync_state(&proxy, "work", "git"), SyncState::Drifted);
    // Executing that plan writes nothing.
    let (success, summary) = execute(&proxy, &p);
    assert!(!success);
    assert_eq!(summary.qubes[0].files[0].outcome.as_str(), "conflict");
    assert_eq!(
        std::fs::read_to_string(env.home("work").join(".gitconfig")).unwrap(),
        edited
    );

    // Import as a proposal.
    let snap: SnapshotResult =
        serde_json::from_str(&block(proxy.snapshot("work", &[])).expect("Snapshot")).unwrap();
    assert_eq!(snap.proposal_ids.len(), 1, "{snap:?}");
    let id = snap.proposal_ids[0];

    // Review: findings, hunks, critical acknowledgement required.
    let view: ProposalView =
        serde_json::from_str(&block(proxy.get_proposal(id)).expect("GetProposal")).unwrap();
    assert_eq!(view.summary.source_qube, "work");
    assert!(
        view.findings
            .iter()
            .any(|f| f.rule.contains("fsmonitor") && f.severity.as_str() == "critical"),
        "{:?}",
        view.findings
    );
    assert!(!view.must_acknowledge.is_empty());
    assert_eq!(view.diff.hunks.len(), 2, "{:?}", view.diff.hunks);
    let (code, out, _) = env.cli(&["proposals", "show", &id.to_string()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("fsmonitor") && out.contains("critical"),
        "{out}"
    );
    // The CLI shows each finding's id and the review digest that accept binds to.
    assert!(
        out.contains(&format!("review digest: {}", view.digest)),
        "{out}"
    );
    for id in &view.must_acknowledge {
        assert!(out.contains(&format!("id {id}")), "{id} missing in {out}");
    }
    // A bare rule id for a rule with no gated finding in the chosen hunk is an error
    // listing the ids, and accepts nothing.
    let (code, out, _) = env.cli(&[
        "proposals",
        "accept",
        &id.to_string(),
        "--hunk",
        &view.diff.hunks[0].id,
        "--ack",
        "git.core.fsmonitor",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("git.core.fsmonitor@.gitconfig:"), "{out}");

    // Accepting everything without acknowledging is refused, and changes nothing.
    let refused = block(proxy.accept_proposal(id, &view.digest, &[], &[], ""));
    let Err(ApiError::ReviewRefused(message)) = refused else {
        panic!("{refused:?}");
    };
    let refusal = qcs_daemon::client::types::ReviewRefusal::parse(&message);
    assert_eq!(refusal.code.as_str(), "review.unacknowledged");
    assert_eq!(refusal.ids, view.must_acknowledge);
    let (code, out, _) = env.cli(&["proposals", "accept", &id.to_string()]);
    assert_eq!(code, 1, "{out}");
    let (content, _, _) = block(proxy.get_file("git", ".gitconfig")).unwrap();
    assert_eq!(content, GITCONFIG.as_bytes());

    // Accept only the harmless hunk: no critical finding in what is stored, no ack needed.
    let first = view.diff.hunks[0].id.clone();
    let generation =
        block(proxy.accept_proposal(id, &view.digest, &[first.as_str()], &[], "name only"))
            .expect("accept chosen hunk");
    let (content, _, _) = block(proxy.get_file("git", ".gitconfig")).unwrap();
    let accepted = GITCONFIG.replace("Alice\n", "Alice Liddell\n");
    assert_eq!(String::from_utf8(content).unwrap(), accepted);
    assert!(generation >= 2);

    // Push again: still a conflict until the user chooses to overwrite this file.
    let p = plan(&proxy, &["work"], &[]);
    assert_eq!(item_action(&p, "work", ".gitconfig"), PlanAction::Conflict);
    let p = plan(&proxy, &["work"], &[("work", ".gitconfig")]);
    assert_eq!(item_action(&p, "work", ".gitconfig"), PlanAction::Update);
    let (success, summary) = execute(&proxy, &p);
    assert!(success, "{summary:?}");
    assert_eq!(
        std::fs::read_to_string(env.home("work").join(".gitconfig")).unwrap(),
        accepted
    );
    assert_eq!(sync_state(&proxy, "work", "git"), SyncState::InSync);

    // The qube view through the Admin API (with the shipped least-privilege policy).
    let list: QubeList = serde_json::from_str(&block(proxy.get_qube("work")).unwrap()).unwrap();
    let work = &list.qubes[0];
    assert_eq!(
        (work.class.as_str(), work.label.as_str()),
        ("AppVM", "blue")
    );
    assert_eq!(work.power_state, "Running");
    assert_eq!(
        work.persistence[0].verdict.as_str(),
        "persistent",
        "{:?}",
        work.persistence
    );
    // The shipped policy grants no feature writes: the fix is the dom0 command.
    let (applied, command) = block(proxy.fix_persistence("work", ".gitconfig")).unwrap();
    assert!(!applied);
    assert!(
        command.starts_with("qvm-features work custom-persist.qcs-gitconfig"),
        "{command}"
    );
    let (code, out, _) = env.cli(&["policy", "print"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("qubes.ConfigApply") && out.contains("+git") && out.contains("work"),
        "{out}"
    );

    // The shipped dom0 policy passes the checker (works without the backend too).
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy/policy.d");
    let (code, out, err) = env.cli(&["policy", "check", shipped]);
    assert_eq!(code, 0, "{out} {err}");

    // Every decision and push is in the audit log.
    let audit: qcs_daemon::client::types::AuditView =
        serde_json::from_str(&block(proxy.audit_log(0, 1000)).unwrap()).unwrap();
    let actions: Vec<&str> = audit.entries.iter().map(|e| e.action.as_str()).collect();
    for wanted in [
        "push",
        "proposal-received",
        "proposal-accepted",
        "qube-settings",
    ] {
        assert!(
            actions.contains(&wanted),
            "{wanted} missing from {actions:?}"
        );
    }
    let pending: ProposalList =
        serde_json::from_str(&block(proxy.list_proposals("pending")).unwrap()).unwrap();
    assert!(pending.proposals.is_empty());
    let _ = (Instant::now(), PATIENCE);
}

/// Runs `qubes-config-propose PROFILE FILE…` (the agent's client) as a user in `qube`,
/// through the simulated qrexec; returns (exit code, stdout, stderr).
/// A side's lines as text, tokens as `<label>` (what a UI shows).
fn side_text(side: &ThreeWaySideView) -> Vec<String> {
    side.lines
        .iter()
        .map(|line| {
            line.iter()
                .map(|seg| match seg {
                    Segment::Text { text, .. } => text.clone(),
                    Segment::Token { label, .. } => format!("<{label}>"),
                    Segment::FindingAnchor { .. } => String::new(),
                })
                .collect()
        })
        .collect()
}

fn regions_of<'a>(view: &'a ThreeWayView, kind: &str) -> Vec<&'a ThreeWayRegionView> {
    view.regions
        .iter()
        .filter(|r| r.kind.as_str() == kind)
        .collect()
}

/// push → the store changes one line, the qube another (with a hidden character) and
/// both the same line differently → the plan's conflict carries a three-way view with
/// the store's change as ours, the qube's as theirs and one conflict region; the
/// imported proposal (based on what we pushed, older than the store) carries one too.
fn three_way_view_of_a_conflict() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "git settings")).expect("CreateProfile");
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).expect("PutFile");
    block(proxy.assign("work", "git", true)).expect("Assign");
    let (success, summary) = execute(&proxy, &plan(&proxy, &["work"], &[]));
    assert!(success, "{summary:?}");

    let store_version = GITCONFIG
        .replace("Alice\n", "Alice Store\n")
        .replace("ui = auto", "ui = always");
    block(proxy.put_file("git", ".gitconfig", store_version.as_bytes(), 0o644))
        .expect("store edit");
    // A right-to-left override hides in the qube's change: it must arrive as a token.
    let qube_version = GITCONFIG
        .replace("Alice\n", "Alice Qube\n")
        .replace("lg = log --oneline", "lg = log \u{202E}--graph");
    std::fs::write(env.home("work").join(".gitconfig"), &qube_version).expect("local edit");

    let p = plan(&proxy, &["work"], &[]);
    assert_eq!(item_action(&p, "work", ".gitconfig"), PlanAction::Conflict);
    let item = &p.qubes[0].items[0];
    let view = item
        .three_way
        .as_ref()
        .expect("a conflict carries a three-way view");
    assert_eq!(
        (
            view.base_label.as_str(),
            view.ours_label.as_str(),
            view.theirs_label.as_str()
        ),
        ("last-pushed", "store", "qube")
    );
    assert_eq!(view.conflicts, 1, "{view:?}");

    let conflict = regions_of(view, "conflict");
    assert_eq!(side_text(&conflict[0].base), ["<TAB>name = Alice"]);
    assert_eq!(side_text(&conflict[0].ours), ["<TAB>name = Alice Store"]);
    assert_eq!(side_text(&conflict[0].theirs), ["<TAB>name = Alice Qube"]);
    assert_eq!(conflict[0].base.first_line, 2);

    let ours = regions_of(view, "ours");
    assert_eq!(ours.len(), 1, "{view:?}");
    assert_eq!(side_text(&ours[0].ours), ["<TAB>ui = always"]);
    assert_eq!(side_text(&ours[0].theirs), ["<TAB>ui = auto"]);

    let theirs = regions_of(view, "theirs");
    assert_eq!(theirs.len(), 1, "{view:?}");
    assert_eq!(
        side_text(&theirs[0].theirs),
        ["<TAB>lg = log <U+202E RLO>--graph"]
    );
    assert_eq!(side_text(&theirs[0].ours), ["<TAB>lg = log --oneline"]);
    assert!(
        theirs[0].theirs.lines[0]
            .iter()
            .any(|s| matches!(s, Segment::Token { class, .. } if *class == qcs_client::types::TokenClass::Bidi)),
        "the override is a token: {:?}",
        theirs[0].theirs.lines
    );
    // No segment anywhere carries the raw control character.
    let json = serde_json::to_string(view).unwrap();
    assert!(!json.contains('\u{202E}'), "{json}");
    // Every line of every version is covered once.
    let count = |f: fn(&ThreeWayRegionView) -> &ThreeWaySideView| {
        view.regions.iter().map(|r| f(r).lines.len()).sum::<usize>()
    };
    assert_eq!(count(|r| &r.base), GITCONFIG.lines().count());
    assert_eq!(count(|r| &r.ours), store_version.lines().count());
    assert_eq!(count(|r| &r.theirs), qube_version.lines().count());

    // A plan item that is not a conflict has none.
    let forced = plan(&proxy, &["work"], &[("work", ".gitconfig")]);
    assert_eq!(
        item_action(&forced, "work", ".gitconfig"),
        PlanAction::Update
    );
    assert!(forced.qubes[0].items[0].three_way.is_none());

    // Imported, the qube's version is a proposal based on what we pushed; the store has
    // moved on since, so the review gets the same three-way view, labelled for a proposal.
    let snap: SnapshotResult =
        serde_json::from_str(&block(proxy.snapshot("work", &[])).expect("Snapshot")).unwrap();
    assert_eq!(snap.proposal_ids.len(), 1, "{snap:?}");
    let proposal: ProposalView = serde_json::from_str(
        &block(proxy.get_proposal(snap.proposal_ids[0])).expect("GetProposal"),
    )
    .unwrap();
    let view = proposal
        .three_way
        .expect("the store changed since the base");
    assert_eq!(view.theirs_label.as_str(), "proposal");
    assert_eq!(view.conflicts, 1);
    assert_eq!(
        side_text(&regions_of(&view, "conflict")[0].theirs),
        ["<TAB>name = Alice Qube"]
    );
    assert_eq!(
        side_text(&regions_of(&view, "ours")[0].ours),
        ["<TAB>ui = always"]
    );

    // Once the store is back at the proposal's base, there is nothing three-way to show.
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    let proposal: ProposalView = serde_json::from_str(
        &block(proxy.get_proposal(snap.proposal_ids[0])).expect("GetProposal"),
    )
    .unwrap();
    assert!(proposal.three_way.is_none());
}

fn propose_from(env: &Env, qube: &str, profile: &str, files: &[&str]) -> (i32, String, String) {
    let exe = std::env::current_exe().unwrap();
    let (client, _log) =
        support::qrexec_program(env.dir.path(), &env.world_dir, &env.socket(), qube, 0);
    let out = std::process::Command::new(&exe)
        .arg("agent")
        .arg("propose")
        .arg(profile)
        .args(files)
        .env("HOME", env.home(qube))
        .env("QUBES_CONFIG_SYNC_QREXEC_CLIENT", &client)
        .current_dir(env.home(qube))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Lets `qube` propose `profile`: the store's whitelist, the generated dom0 policy
/// installed, and dom0's prompt answered with "allow".
fn let_propose(env: &Env, proxy: &ConfigSyncProxy<'static>, qube: &str, profile: &str) {
    block(proxy.allow_proposals(qube, profile, true)).unwrap();
    env.install_generated_policy(proxy);
    env.answer_ask(
        &format!("qubes.ConfigPropose+{profile} {qube} @default"),
        "allow",
    );
}

fn pending(
    proxy: &ConfigSyncProxy<'static>,
) -> Vec<qcs_daemon::client::types::ProposalSummaryView> {
    let list: ProposalList =
        serde_json::from_str(&block(proxy.list_proposals("pending")).unwrap()).unwrap();
    list.proposals
}

/// Propose from a qube through qrexec → spool → ProposalsChanged → accept; a qube not on
/// the whitelist is refused at intake and audited.
fn propose_through_qrexec_then_accept() {
    use futures_lite::StreamExt;
    let env = Env::start(
        vec![
            managed(QubeSpec::app("personal", "fedora").running()),
            managed(QubeSpec::app("untrusted", "fedora").label("red").running()),
        ],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    let_propose(&env, &proxy, "personal", "git");
    let mut changed = block(proxy.receive_proposals_changed()).unwrap();
    let mut property = block(proxy.receive_pending_proposals_changed());

    let proposed = GITCONFIG.replace("auto", "always");
    std::fs::write(env.home("personal").join(".gitconfig"), &proposed).unwrap();
    let (code, out, err) = propose_from(&env, "personal", "git", &[".gitconfig"]);
    assert_eq!(code, 0, "propose: {out} {err}");

    // The backend notices the spool file and announces it.
    let count = block(async {
        futures_lite::future::or(
            async { changed.next().await.map(|s| s.args().unwrap().pending) },
            async {
                async_io::Timer::after(PATIENCE).await;
                None
            },
        )
        .await
    })
    .expect("ProposalsChanged never came");
    assert_eq!(count, 1);
    // PropertiesChanged for PendingProposals came too (the first item is the value
    // cached when the stream was made, 0).
    let announced = block(async {
        loop {
            let next = futures_lite::future::or(async { property.next().await }, async {
                async_io::Timer::after(PATIENCE).await;
                None
            })
            .await
            .expect("PendingProposals never changed");
            let value = next.get().await.unwrap();
            if value != 0 {
                return value;
            }
        }
    });
    assert_eq!(announced, 1);
    let list = pending(&proxy);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].source_qube, "personal");
    let id = list[0].id;
    let (code, out, _) = env.cli(&["proposals", "accept", &id.to_string(), "--note", "ok"]);
    assert_eq!(code, 0, "{out}");
    let (content, _, _) = block(proxy.get_file("git", ".gitconfig")).unwrap();
    assert_eq!(content, proposed.as_bytes());

    // A qube that may not propose git: dom0 policy refuses the call…
    std::fs::write(
        env.home("untrusted").join(".gitconfig"),
        "[core]\n\tpager = evil\n",
    )
    .unwrap();
    let (code, _, _) = propose_from(&env, "untrusted", "git", &[".gitconfig"]);
    assert_eq!(
        code, 4,
        "dom0 policy must deny a proposal that is not whitelisted"
    );
    // …and if a policy of the user's let it through anyway, the backend refuses it at
    // intake, audits it and empties the spool.
    support::spool_flood(&env.spool, "untrusted", 1);
    let ingested = block(proxy.ingest_spool()).unwrap();
    assert_eq!(ingested, 0);
    assert!(pending(&proxy).is_empty());
    let audit: qcs_daemon::client::types::AuditView =
        serde_json::from_str(&block(proxy.audit_log(0, 1000)).unwrap()).unwrap();
    assert!(
        audit
            .entries
            .iter()
            .any(|e| e.action == "proposal-refused" && e.qube.as_deref() == Some("untrusted")),
        "refusal not audited"
    );
    let spool_left: Vec<_> = std::fs::read_dir(env.spool.join("untrusted"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    assert!(spool_left.is_empty(), "refused proposal left in the spool");
}

/// A disposable with auto-apply gets its profiles when it starts; an auto-apply qube
/// whose file changed locally is not overwritten, the change goes to review.
fn disposable_gets_profiles_on_start() {
    let env = Env::start(
        vec![
            QubeSpec::dvm_template("dvm", "fedora"),
            managed(QubeSpec::disposable("disp42", "dvm")),
            managed(QubeSpec::app("work", "fedora").running()),
        ],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    block(proxy.set_qube_settings("disp42", &["git"], &[], true)).unwrap();
    block(proxy.set_qube_settings("work", &["git"], &[], true)).unwrap();
    // work had the profile pushed once, then the user changed it there.
    let p = plan(&proxy, &["work"], &[]);
    assert!(execute(&proxy, &p).0);
    std::fs::write(
        env.home("work").join(".gitconfig"),
        "[user]\n\tname = Mallory\n",
    )
    .unwrap();

    let power = |proxy: &ConfigSyncProxy<'static>, qube: &str| {
        let list: QubeList = serde_json::from_str(&block(proxy.get_qube(qube)).unwrap()).unwrap();
        list.qubes[0].power_state.clone()
    };
    // The view is cached from here on; admin.Events keeps it current.
    assert_eq!(power(&proxy, "disp42"), "Halted");
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    env.start_qube("disp42");
    let (success, summary) = next_job_for(&mut finished, "disp42");
    assert!(success, "{summary:?}");
    assert_eq!(summary.kind, qcs_daemon::client::types::JobKind::AutoApply);
    assert_eq!(power(&proxy, "disp42"), "Running");
    assert_eq!(
        std::fs::read_to_string(env.home("disp42").join(".gitconfig")).unwrap(),
        GITCONFIG
    );

    // A restart of work (the push above ran while it was running).
    env.shutdown_qube("work");
    env.start_qube("work");
    let (success, summary) = next_job_for(&mut finished, "work");
    assert!(!success, "a conflict is not a clean apply");
    assert_eq!(summary.qubes[0].files[0].outcome.as_str(), "conflict");
    assert_eq!(
        std::fs::read_to_string(env.home("work").join(".gitconfig")).unwrap(),
        "[user]\n\tname = Mallory\n",
        "a local change was overwritten"
    );
    let list = pending(&proxy);
    assert_eq!(list.len(), 1, "the conflict did not go to review");
    assert_eq!(list[0].source_qube, "work");
}

fn next_job_for(
    stream: &mut qcs_daemon::client::JobFinishedStream,
    qube: &str,
) -> (bool, qcs_daemon::client::types::JobSummary) {
    use futures_lite::StreamExt;
    block(async {
        loop {
            let signal = futures_lite::future::or(async { stream.next().await }, async {
                async_io::Timer::after(PATIENCE).await;
                None
            })
            .await
            .unwrap_or_else(|| panic!("no job finished for {qube}"));
            let args = signal.args().unwrap();
            let summary: qcs_daemon::client::types::JobSummary =
                serde_json::from_str(args.summary_json).unwrap();
            if summary.qubes.iter().any(|q| q.qube == qube) {
                return (args.success, summary);
            }
        }
    })
}

/// The backend is killed (SIGKILL) in the middle of a push and started again: the store
/// is intact, a pending proposal is still there, and planning again gives a clean plan
/// that finishes the push.
fn killed_mid_push_then_restarted() {
    use futures_lite::StreamExt;
    let names: Vec<String> = (0..12).map(|i| format!("q{i:02}")).collect();
    let mut env = Env::start(
        names
            .iter()
            .map(|n| managed(QubeSpec::app(n, "fedora").running()))
            .collect(),
        EnvOptions {
            latency_ms: 300,
            max_parallel: 2,
            ..Default::default()
        },
    );
    let (conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    block(proxy.put_file("git", ".config/git/ignore", b"*.swp\n", 0o644)).unwrap();
    for n in &names {
        block(proxy.assign(n, "git", true)).unwrap();
    }
    let_propose(&env, &proxy, "q00", "git");
    std::fs::write(env.home("q00").join(".gitconfig"), "[user]\n\tname = Q\n").unwrap();
    let (code, _, err) = propose_from(&env, "q00", "git", &[".gitconfig"]);
    assert_eq!(code, 0, "{err}");
    block(proxy.ingest_spool()).unwrap();
    std::fs::remove_file(env.home("q00").join(".gitconfig")).unwrap();
    assert_eq!(pending(&proxy).len(), 1);

    let p = plan(&proxy, &[], &[]);
    assert_eq!(p.qubes.len(), names.len());
    let mut progress = block(proxy.receive_job_progress()).unwrap();
    block(proxy.execute_plan(&p.plan_id)).unwrap();
    // Kill as soon as the first qube is done: the others are in flight or waiting.
    block(async { progress.next().await }).expect("JobProgress");
    env.kill_daemon();
    drop(proxy);
    drop(conn);
    let written_before: usize = names
        .iter()
        .filter(|n| env.home(n).join(".gitconfig").exists())
        .count();
    assert!(written_before < names.len(), "the push was not interrupted");

    env.start_daemon();
    let (_conn, proxy) = env.client();
    assert_eq!(pending(&proxy).len(), 1, "the pending proposal was lost");
    let (content, _, _) = block(proxy.get_file("git", ".gitconfig")).unwrap();
    assert_eq!(content, GITCONFIG.as_bytes());
    let p = plan(&proxy, &[], &[]);
    for q in &p.qubes {
        assert!(q.error.is_none(), "{}: {:?}", q.qube, q.error);
        for item in &q.items {
            assert!(
                matches!(item.action, PlanAction::Create | PlanAction::Unchanged),
                "{} {}: {:?} {:?}",
                q.qube,
                item.path,
                item.action,
                item.reason
            );
        }
    }
    // A job can be cancelled: the qubes not started yet are skipped, nothing is lost.
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    let job = block(proxy.execute_plan(&p.plan_id)).unwrap();
    block(proxy.cancel_job(job)).unwrap();
    let (success, summary) = wait_job(&mut finished, job);
    assert!(!success && summary.cancelled, "{summary:?}");
    assert!(
        summary
            .qubes
            .iter()
            .flat_map(|q| &q.files)
            .any(|f| f.outcome.as_str() == "skipped"),
        "{summary:?}"
    );
    let p = plan(&proxy, &[], &[]);
    let (success, summary) = execute(&proxy, &p);
    assert!(success, "{summary:?}");
    for n in &names {
        assert_eq!(
            std::fs::read_to_string(env.home(n).join(".gitconfig")).unwrap(),
            GITCONFIG
        );
        assert_eq!(sync_state(&proxy, n, "git"), SyncState::InSync);
    }
}

/// The profile and settings commands of `qvm-config-sync`, their errors and exit codes.
fn cli_profile_and_settings_commands() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let local = env.dir.path().join("ssh_config");
    std::fs::write(&local, "Host *\n\tHashKnownHosts yes\n").unwrap();
    let local = local.to_str().unwrap();
    let ok = |args: &[&str]| {
        let (code, out, err) = env.cli(args);
        assert_eq!(code, 0, "{args:?}: {out} {err}");
        out
    };
    ok(&["profile", "create", "ssh", "--description", "ssh client"]);
    ok(&[
        "profile",
        "add-file",
        "ssh",
        ".ssh/config",
        "--from",
        local,
        "--mode",
        "0600",
    ]);
    assert!(ok(&["profile", "list"]).contains("ssh"));
    let shown = ok(&["profile", "show", "ssh"]);
    assert!(
        shown.contains(".ssh/config") && shown.contains("0600"),
        "{shown}"
    );
    let content = ok(&["profile", "show", "ssh", "--content", ".ssh/config"]);
    assert!(content.contains("HashKnownHosts"), "{content}");
    // Edit with the user's editor.
    let (code, out, err) = env.cli_env(
        &["profile", "edit", "ssh", ".ssh/config"],
        &[("EDITOR", "sed -i s/yes/no/"), ("VISUAL", "")],
    );
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        ok(&["profile", "show", "ssh", "--content", ".ssh/config"]).contains("HashKnownHosts no")
    );
    // Secrets never enter a profile; errors exit 2 with a message.
    let (code, _, err) = env.cli(&[
        "profile",
        "add-file",
        "ssh",
        ".ssh/id_ed25519",
        "--from",
        local,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("never-sync"), "{err}");
    ok(&["profile", "remove-file", "ssh", ".ssh/config"]);
    assert!(!ok(&["profile", "show", "ssh"]).contains(".ssh/config"));
    ok(&["profile", "revert", "ssh", "2"]);
    assert!(
        ok(&["profile", "show", "ssh", "--content", ".ssh/config"]).contains("HashKnownHosts no")
    );

    ok(&["assign", "work", "ssh"]);
    ok(&["allow-propose", "work", "ssh"]);
    ok(&["auto-apply", "work", "on"]);
    let (_conn, proxy) = env.client();
    let (assigned, may, auto) = block(proxy.get_qube_settings("work")).unwrap();
    assert_eq!(
        (assigned, may, auto),
        (vec!["ssh".to_owned()], vec!["ssh".to_owned()], true)
    );
    ok(&["assign", "work", "ssh", "--unassign"]);
    ok(&["allow-propose", "work", "ssh", "--deny"]);
    let (assigned, may, _) = block(proxy.get_qube_settings("work")).unwrap();
    assert!(assigned.is_empty() && may.is_empty());

    // A snapshot of a file that differs from the store becomes a proposal; reject it.
    std::fs::create_dir_all(env.home("work").join(".ssh")).unwrap();
    std::fs::write(env.home("work").join(".ssh/config"), "Host x\n").unwrap();
    let out = ok(&["snapshot", "work", "--profile", "ssh"]);
    assert!(
        out.contains("imported") && out.contains("proposal #"),
        "{out}"
    );
    let id = pending(&proxy)[0].id.to_string();
    ok(&["proposals", "reject", &id, "--note", "no"]);
    assert!(pending(&proxy).is_empty());
    assert!(ok(&["proposals", "list", "--status", "all"]).contains("rejected"));

    // No backend: a clear error, exit 2.
    let (code, _, err) = env.cli_env(
        &["status"],
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("cannot reach the backend"), "{err}");
    // Usage errors exit 2 too, and scan still works without any backend.
    assert_eq!(env.cli(&["push", "--overwrite", "no-colon"]).0, 2);
    let (code, out, _) = env.cli_env(
        &["scan", local, "--as", ".ssh/config"],
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    );
    assert!(code == 0 || code == 1, "{out}");
}

/// A compromised qube whose service never answers is stopped after the call timeout;
/// the other qubes of the push are written.
fn a_qube_that_never_answers_does_not_stall_others() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::start(
        vec![
            managed(QubeSpec::app("stuck", "fedora").running()),
            managed(QubeSpec::app("fine", "fedora").running()),
        ],
        EnvOptions {
            max_parallel: 1,
            call_timeout_secs: 2,
            ..Default::default()
        },
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    block(proxy.assign("stuck", "git", true)).unwrap();
    block(proxy.assign("fine", "git", true)).unwrap();
    let p = plan(&proxy, &[], &[]);
    // Now the qube's apply service hangs (holding its pipes open).
    let service = env.world_dir.join("qubes/stuck/rpc/qubes.ConfigApply");
    std::fs::write(&service, "#!/bin/sh\nsleep 600\n").unwrap();
    std::fs::set_permissions(&service, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (success, summary) = execute(&proxy, &p);
    assert!(!success);
    let stuck = summary.qubes.iter().find(|q| q.qube == "stuck").unwrap();
    assert!(
        stuck
            .error
            .as_ref()
            .is_some_and(|e| e.code == qcs_daemon::client::Code::ServiceTimeout),
        "{stuck:?}"
    );
    let fine = summary.qubes.iter().find(|q| q.qube == "fine").unwrap();
    assert!(
        fine.error.is_none() && fine.files[0].outcome.as_str() == "written",
        "{fine:?}"
    );
    assert_eq!(
        std::fs::read_to_string(env.home("fine").join(".gitconfig")).unwrap(),
        GITCONFIG
    );
}

/// Without its bus the backend has no clients: it exits (1) so the service manager can
/// start it again, instead of lingering.
fn backend_exits_when_its_bus_goes_away() {
    let mut env = Env::start(vec![], EnvOptions::default());
    env.bus.kill();
    assert_eq!(env.wait_daemon_exit(), Some(1));
}

/// custom-persist: a path that would be lost at restart is reported with the dom0
/// command; once the user opts in to feature writes in dom0 policy, the backend sets the
/// feature itself and the path is persistent.
fn persistence_fix_when_allowed() {
    let env = Env::start(
        vec![managed(
            QubeSpec::app("vault", "fedora")
                .label("black")
                .feature("service.custom-persist", "1")
                .running(),
        )],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o600)).unwrap();
    block(proxy.assign("vault", "git", true)).unwrap();
    let verdict = |proxy: &ConfigSyncProxy<'static>| {
        let list: QubeList =
            serde_json::from_str(&block(proxy.get_qube("vault")).unwrap()).unwrap();
        list.qubes[0].persistence[0].clone()
    };
    let before = verdict(&proxy);
    assert_eq!(before.verdict.as_str(), "lost-at-restart", "{before:?}");
    let (code, out, _) = env.cli(&["persistence", "vault"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("qvm-features vault custom-persist."), "{out}");

    // Denied by the shipped policy: the dom0 command, nothing set.
    let (applied, command) = block(proxy.fix_persistence("vault", ".gitconfig")).unwrap();
    assert!(!applied);
    assert_eq!(Some(command.clone()), before.fix_command);

    // The user opts in (dom0 policy), and the backend sets the feature itself.
    let include = env.world_dir.join("policy/include/config-sync-admin-write");
    std::fs::write(
        &include,
        "@tag:qubes-config-sync-manager  @tag:qubes-config-sync-managed  allow target=dom0\n",
    )
    .unwrap();
    let (applied, _) = block(proxy.fix_persistence("vault", ".gitconfig")).unwrap();
    assert!(applied);
    let after = verdict(&proxy);
    assert_eq!(after.verdict.as_str(), "persistent", "{after:?}");
    let world = env.server.as_ref().unwrap().world();
    let features = &world.qube("vault").unwrap().features;
    let value = features
        .iter()
        .find(|(k, _)| k.starts_with("custom-persist.qcs-gitconfig"))
        .map(|(_, v)| v.clone());
    assert_eq!(
        value.as_deref(),
        Some("file:user:user:0600:/home/user/.gitconfig")
    );
}

/// Rollback of a profile to an earlier generation: a new generation (the store moves on
/// to the old content, audited), then a confirmed push writes it (base = what we pushed);
/// a file changed in the qube is a conflict, kept; the next push does not undo it.
fn rollback_to_an_earlier_generation() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    let g1 = block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    block(proxy.assign("work", "git", true)).unwrap();
    assert!(execute(&proxy, &plan(&proxy, &["work"], &[])).0);
    let v2 = GITCONFIG.replace("rebase = true", "rebase = false");
    block(proxy.put_file("git", ".gitconfig", v2.as_bytes(), 0o644)).unwrap();
    assert!(execute(&proxy, &plan(&proxy, &["work"], &[])).0);
    let file = env.home("work").join(".gitconfig");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), v2);

    // Asked and not confirmed (no terminal answers "y"): nothing changes anywhere.
    let (code, out, _) = env.cli(&["rollback", "git", &g1.to_string()]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not rolled back"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), v2);

    let (code, out, err) = env.cli(&["rollback", "git", &g1.to_string(), "-y"]);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), GITCONFIG);
    // The store has the rollback too: the qube is in sync, the next push keeps it.
    assert_eq!(sync_state(&proxy, "work", "git"), SyncState::InSync);
    let audit: qcs_daemon::client::types::AuditView =
        serde_json::from_str(&block(proxy.audit_log(0, 1000)).unwrap()).unwrap();
    assert!(
        audit
            .entries
            .iter()
            .any(|e| e.action == "revert" && e.detail["to_generation"] == g1)
    );

    // Changed in the qube since: the rollback's push does not overwrite it.
    block(proxy.put_file("git", ".gitconfig", v2.as_bytes(), 0o644)).unwrap();
    assert!(execute(&proxy, &plan(&proxy, &["work"], &[])).0);
    std::fs::write(&file, "mine\n").unwrap();
    let (code, out, _) = env.cli(&["rollback", "git", &g1.to_string(), "-y"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CONFLICT"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine\n");
    // A generation that does not exist is an error.
    assert!(matches!(
        block(proxy.revert_profile("git", 99)),
        Err(ApiError::NotFound(_))
    ));
}

/// 10 000 proposals from one qube (spooled while the backend was down): the store keeps
/// at most its per-qube quota, the rest are refused and audited, the spool is emptied,
/// and earlier data (profiles, another qube's proposal) is intact.
fn flood_of_proposals_held_by_quota() {
    const FLOOD: usize = 10_000;
    let shm = std::path::Path::new("/dev/shm");
    let mut env = Env::start(
        vec![
            managed(QubeSpec::app("work", "fedora").running()),
            managed(QubeSpec::app("flood", "fedora").running()),
        ],
        EnvOptions {
            // Heavy small-file I/O: keep it in memory where there is a tmpfs.
            tmp_in: shm.is_dir().then(|| shm.to_path_buf()),
            ..Default::default()
        },
    );
    let (conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    let_propose(&env, &proxy, "work", "git");
    block(proxy.allow_proposals("flood", "git", true)).unwrap();
    std::fs::write(env.home("work").join(".gitconfig"), "[user]\n\tname = W\n").unwrap();
    assert_eq!(propose_from(&env, "work", "git", &[".gitconfig"]).0, 0);
    block(proxy.ingest_spool()).unwrap();
    let before = pending(&proxy);
    assert_eq!(before.len(), 1);
    env.kill_daemon();
    drop(proxy);
    drop(conn);

    support::spool_flood(&env.spool, "flood", FLOOD);
    env.start_daemon();
    let (_conn, proxy) = env.client();
    let list = pending(&proxy);
    let from_flood = list.iter().filter(|p| p.source_qube == "flood").count();
    assert_eq!(from_flood, qcs_core::store::MAX_PENDING_PROPOSALS_PER_QUBE);
    let work: Vec<_> = list.iter().filter(|p| p.source_qube == "work").collect();
    assert_eq!(work.len(), 1);
    // The inbox's risk marker is filled in by the review warmer whenever it gets to it:
    // the proposal itself must be unchanged.
    let unmarked = |p: &qcs_daemon::client::types::ProposalSummaryView| {
        let mut p = p.clone();
        p.risk = None;
        p
    };
    assert_eq!(
        unmarked(work[0]),
        unmarked(&before[0]),
        "earlier proposal changed"
    );
    let (content, _, _) = block(proxy.get_file("git", ".gitconfig")).unwrap();
    assert_eq!(content, GITCONFIG.as_bytes());
    let left = std::fs::read_dir(env.spool.join("flood"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert_eq!(left, 0, "spool not emptied");
    let audit: qcs_daemon::client::types::AuditView =
        serde_json::from_str(&block(proxy.audit_log(0, 10_000)).unwrap()).unwrap();
    // Refusals are audited once per qube × reason × hour and counted, not one row each.
    let rows = audit
        .entries
        .iter()
        .filter(|e| e.action == "proposal-refused" && e.qube.as_deref() == Some("flood"))
        .count();
    assert!((1..=2).contains(&rows), "{rows} audit rows for the flood");
    let counted: u64 = qcs_core::store::Store::open(&env.store)
        .unwrap()
        .intake_refusals(Some(&qcs_protocol::validate_vm_name("flood").unwrap()))
        .unwrap()
        .iter()
        .map(|r| r.count)
        .sum();
    assert_eq!(
        counted as usize,
        FLOOD - qcs_core::store::MAX_PENDING_PROPOSALS_PER_QUBE,
        "refusals not counted"
    );
}

/// Hostile or wrong input through D-Bus gets typed errors, never a crash; hostile content
/// never reaches the terminal raw.
fn hostile_input_gets_errors_not_panics() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    let cases: Vec<(&str, Result<(), ApiError>)> = vec![
        (
            "path traversal",
            block(proxy.put_file("git", "../.bashrc", b"x", 0o644)).map(|_| ()),
        ),
        (
            "absolute path",
            block(proxy.put_file("git", "/etc/passwd", b"x", 0o644)).map(|_| ()),
        ),
        (
            "never-sync",
            block(proxy.put_file("git", ".ssh/id_ed25519", b"x", 0o600)).map(|_| ()),
        ),
        (
            "setuid mode",
            block(proxy.put_file("git", ".x", b"x", 0o4755)).map(|_| ()),
        ),
        ("bad profile", block(proxy.create_profile("../x", ""))),
        ("bad qube", block(proxy.assign("dom0; rm", "git", true))),
        ("no profile", block(proxy.assign("work", "nope", true))),
        ("no proposal", block(proxy.reject_proposal(424242, ""))),
        ("no plan", block(proxy.execute_plan("999999")).map(|_| ())),
        (
            "junk plan id",
            block(proxy.execute_plan("x\u{202e}")).map(|_| ()),
        ),
        (
            "bad status",
            block(proxy.list_proposals("evil")).map(|_| ()),
        ),
        ("no job", block(proxy.cancel_job(77)).map(|_| ())),
        (
            "huge file",
            block(proxy.put_file("git", ".big", &vec![b'a'; 300 * 1024], 0o644)).map(|_| ()),
        ),
        (
            "bad generation",
            block(proxy.revert_profile("git", 99)).map(|_| ()),
        ),
        (
            "bad persistence path",
            block(proxy.fix_persistence("work", "../../etc/shadow")).map(|_| ()),
        ),
    ];
    for (name, result) in cases {
        match result {
            Err(ApiError::ZBus(e)) => panic!("{name}: not a typed error: {e}"),
            Err(ApiError::Failed(m)) | Err(ApiError::Store(m)) => {
                panic!("{name}: generic error {m}")
            }
            Err(_) => {}
            Ok(()) => panic!("{name}: accepted"),
        }
    }
    // The backend is still there.
    assert!(block(proxy.list_profiles()).is_ok());

    // Terminal escapes and bidi controls in a proposal never reach the terminal raw.
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    let_propose(&env, &proxy, "work", "git");
    let hostile = "[user]\n\tname = A\u{202e}\u{2066}lice\x1b]0;owned\x07\x1b[2J\n";
    std::fs::write(env.home("work").join(".gitconfig"), hostile).unwrap();
    let (code, _, err) = propose_from(&env, "work", "git", &[".gitconfig"]);
    assert_eq!(code, 0, "{err}");
    block(proxy.ingest_spool()).unwrap();
    let id = pending(&proxy)[0].id;
    let (code, out, _) = env.cli(&["proposals", "show", &id.to_string(), "--color", "never"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains('\x1b') && !out.contains('\x07'),
        "raw escape in output: {out:?}"
    );
    assert!(
        !out.contains('\u{202e}') && !out.contains('\u{2066}'),
        "raw bidi in output"
    );
    assert!(
        out.contains("U+202E"),
        "bidi control not shown as a token: {out}"
    );
}
