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
    PlanAction, ProposalList, ProposalView, PushPlan, QubeList, SnapshotResult, SyncState,
};
use qcs_daemon::client::{ConfigSyncProxy, Error as ApiError};
use qcs_sim::world::QubeSpec;
use support::{Env, EnvOptions, PATIENCE, wait_job};

fn main() -> std::process::ExitCode {
    support::dispatch();
    support::run_all(&[
        (
            "introspection_matches_checked_in_xml",
            introspection_matches_checked_in_xml,
        ),
        ("full_review_flow", full_review_flow),
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
        vec![QubeSpec::app("work", "fedora").label("blue").running()],
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
    assert_eq!(summary.qubes[0].files[0].outcome, "conflict");
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
            .any(|f| f.rule.contains("fsmonitor") && f.severity == "critical"),
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

    // Accepting everything without acknowledging is refused, and changes nothing.
    let refused = block(proxy.accept_proposal(id, &[], &[], ""));
    assert!(
        matches!(refused, Err(ApiError::UnacknowledgedFindings(_))),
        "{refused:?}"
    );
    let (code, out, _) = env.cli(&["proposals", "accept", &id.to_string()]);
    assert_eq!(code, 1, "{out}");
    let (content, _, _) = block(proxy.get_file("git", ".gitconfig")).unwrap();
    assert_eq!(content, GITCONFIG.as_bytes());

    // Accept only the harmless hunk: no critical finding in what is stored, no ack needed.
    let first = view.diff.hunks[0].id.clone();
    let generation = block(proxy.accept_proposal(id, &[first.as_str()], &[], "name only"))
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
