//! Issue 15's scenario end to end, all parts together, through the real CLI against the
//! real backend (a private `dbus-daemon`, the simulated dom0 and qubes running the real
//! agent): one `.gitconfig` template (aliases and colours shared, `user.email` per qube)
//! assigned by a tag rule to three qubes, each with its own email (per qube and per
//! tag); a fourth qube that gains the tag later gets its own email at the next push; a
//! fifth tagged qube without an email is a plan error naming it, with nothing written
//! there and the others fine; a proposal from one qube against the templated file is
//! reviewed against that qube's rendering and cannot be accepted (the template stays);
//! a directory profile and an adopted file in the same world.
//!
//! The other tests check each part alone (templates.rs, targets.rs); this one checks
//! that they work together (facts and profile defaults of rule-covered qubes, tag
//! events feeding both the rule and the rendering).
//!
//! `harness = false`: the binary is also the agent inside the simulated qubes and the
//! CLI (`support::dispatch`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use qcs_daemon::client::rules::{RuleList, SourceKind};
use qcs_daemon::client::types::{ProposalList, ProposalView, QubeList, SyncState};
use qcs_daemon::client::variables::VariableList;
use qcs_daemon::client::{Code, Error as ApiError, Reason};
use qcs_sim::world::QubeSpec;
use support::{Env, EnvOptions, managed};

fn main() -> std::process::ExitCode {
    support::dispatch();
    support::run_all(&[(
        "one_gitconfig_an_email_per_qube_by_tag",
        one_gitconfig_an_email_per_qube_by_tag,
    )])
}

const TEMPLATE: &str = "[user]\n\tname = {{ var.name }}\n\temail = {{ var.email }}\n\
[alias]\n\tst = status\n\tlg = log --oneline --graph\n\
[color]\n\tui = auto\n";

/// What the template renders with `email` (and the profile's default name).
fn rendered(email: &str) -> String {
    format!(
        "[user]\n\tname = Alice\n\temail = {email}\n\
[alias]\n\tst = status\n\tlg = log --oneline --graph\n\
[color]\n\tui = auto\n"
    )
}

fn ok(env: &Env, args: &[&str]) -> String {
    let (code, out, err) = env.cli(args);
    assert_eq!(code, 0, "{args:?}: {out} {err}");
    out
}

fn gitconfig(env: &Env, qube: &str) -> Option<String> {
    std::fs::read_to_string(env.home(qube).join(".gitconfig")).ok()
}

fn tag(env: &Env, qube: &str, tag: &str) {
    qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(env.socket()))
        .qubesd_call(qube, "admin.vm.tag.Set", tag, b"")
        .expect("admin.vm.tag.Set");
}

fn covers(env: &Env) -> Vec<String> {
    let list: RuleList = serde_json::from_str(&ok(env, &["rules", "--json"])).unwrap();
    list.rules
        .iter()
        .find(|r| r.profile == "git")
        .map(|r| r.covers.clone())
        .unwrap_or_default()
}

/// Waits (bounded) until the backend's view, fed by Admin API events, shows `check`.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn one_gitconfig_an_email_per_qube_by_tag() {
    let env = Env::start(
        vec![
            managed(QubeSpec::app("work", "fedora").tag("dev").running()),
            managed(QubeSpec::app("personal", "fedora").tag("dev").running()),
            managed(
                QubeSpec::app("vault", "fedora")
                    .tag("dev")
                    .tag("offline")
                    .running(),
            ),
            managed(QubeSpec::app("late", "fedora").running()),
            managed(QubeSpec::app("guest", "fedora").running()),
            managed(QubeSpec::app("other", "fedora").running()),
        ],
        EnvOptions::default(),
    );
    let src = env.dir.path().join("gitconfig.tmpl");
    std::fs::write(&src, TEMPLATE).unwrap();

    // The scenario's commands, as in the user guide.
    ok(&env, &["profile", "create", "git"]);
    ok(
        &env,
        &[
            "profile",
            "add-file",
            "git",
            ".gitconfig",
            "--from",
            src.to_str().unwrap(),
            "--template",
        ],
    );
    ok(&env, &["var", "set", "--profile", "git", "name", "Alice"]);
    let out = ok(&env, &["assign", "--tag", "dev", "git"]);
    assert!(out.contains("covers now: personal, vault, work"), "{out}");
    ok(&env, &["var", "set", "work", "email", "alice@work.example"]);
    ok(
        &env,
        &["var", "set", "personal", "email", "alice@home.example"],
    );
    ok(
        &env,
        &[
            "var",
            "set",
            "--tag",
            "offline",
            "email",
            "alice@vault.example",
        ],
    );

    // A rule-covered qube sees the profile's default among its variables.
    let list: VariableList =
        serde_json::from_str(&ok(&env, &["var", "list", "work", "--json"])).unwrap();
    assert_eq!(list.profiles, ["git"], "{list:?}");
    let effective: Vec<(&str, &str)> = list
        .variables
        .iter()
        .filter(|v| v.effective == Some(true))
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(
        effective,
        [("email", "alice@work.example"), ("name", "Alice")],
        "{list:?}"
    );
    // The preview for a covered qube renders its email.
    let preview = ok(&env, &["var", "preview", "git", ".gitconfig", "vault"]);
    assert!(preview.contains("email = alice@vault.example"), "{preview}");

    // One push: each qube its own email, the same aliases and colours.
    let out = ok(&env, &["push", "-y"]);
    for (qube, email) in [
        ("work", "alice@work.example"),
        ("personal", "alice@home.example"),
        ("vault", "alice@vault.example"),
    ] {
        assert_eq!(
            gitconfig(&env, qube).as_deref(),
            Some(rendered(email).as_str()),
            "{qube}: {out}"
        );
    }
    for qube in ["late", "guest", "other"] {
        assert_eq!(gitconfig(&env, qube), None, "{qube} was written");
    }
    let status: QubeList = serde_json::from_str(&ok(&env, &["status", "--json"])).unwrap();
    let work = status.qubes.iter().find(|q| q.name == "work").unwrap();
    assert_eq!(work.profiles[0].sources[0].kind, SourceKind::Tag);
    for qube in ["work", "personal", "vault"] {
        let q = status.qubes.iter().find(|q| q.name == qube).unwrap();
        assert_eq!(q.profiles[0].state, SyncState::InSync, "{qube}");
    }

    // A fourth qube gains the tag (an Admin API event) with its own email: the next
    // push covers it and leaves the others unchanged.
    ok(&env, &["var", "set", "late", "email", "alice@late.example"]);
    tag(&env, "late", "dev");
    eventually("late is covered", || {
        covers(&env).contains(&"late".to_owned())
    });
    let out = ok(&env, &["push", "-y"]);
    assert_eq!(
        gitconfig(&env, "late").as_deref(),
        Some(rendered("alice@late.example").as_str()),
        "{out}"
    );
    assert_eq!(
        gitconfig(&env, "work").as_deref(),
        Some(rendered("alice@work.example").as_str())
    );

    // A fifth qube gains the tag without an email: a plan error for it alone, nothing
    // written there, exit 1 naming it; the others are fine.
    tag(&env, "guest", "dev");
    eventually("guest is covered", || {
        covers(&env).contains(&"guest".to_owned())
    });
    let (code, out, err) = env.cli(&["push", "-y"]);
    assert_eq!(code, 1, "{out} {err}");
    let both = format!("{out}{err}");
    assert!(
        both.contains(
            ".gitconfig of git cannot be rendered for guest: var.email is not set \
             (line 3, column 10); nothing is written to guest"
        ),
        "{both}"
    );
    assert!(!both.contains("rendered for work"), "{both}");
    assert_eq!(gitconfig(&env, "guest"), None, "written despite the error");
    for (qube, email) in [
        ("work", "alice@work.example"),
        ("personal", "alice@home.example"),
        ("vault", "alice@vault.example"),
        ("late", "alice@late.example"),
    ] {
        assert_eq!(
            gitconfig(&env, qube).as_deref(),
            Some(rendered(email).as_str()),
            "{qube}"
        );
    }
    assert_eq!(gitconfig(&env, "other"), None);
    let status: QubeList = serde_json::from_str(&ok(&env, &["status", "--json"])).unwrap();
    for (qube, state) in [
        ("guest", SyncState::NeverPushed),
        ("late", SyncState::InSync),
        ("work", SyncState::InSync),
    ] {
        let q = status.qubes.iter().find(|q| q.name == qube).unwrap();
        assert_eq!(q.profiles[0].state, state, "{qube}");
    }

    // A proposal from personal against the templated file: reviewed against
    // personal's rendering, accept refused, the template unchanged.
    let edited = rendered("alice@home.example").replace("[color]\n", "\tco = checkout\n[color]\n");
    std::fs::write(env.home("personal").join(".gitconfig"), &edited).unwrap();
    let out = ok(&env, &["snapshot", "personal", "--profile", "git"]);
    assert!(out.contains("imported as a proposal"), "{out}");
    let (_c, proxy) = env.client();
    let pending: ProposalList =
        serde_json::from_str(&zbus::block_on(proxy.list_proposals("pending")).unwrap()).unwrap();
    assert_eq!(pending.proposals.len(), 1);
    let id = pending.proposals[0].id;
    assert_eq!(pending.proposals[0].source_qube, "personal");
    let view: ProposalView =
        serde_json::from_str(&zbus::block_on(proxy.get_proposal(id)).unwrap()).unwrap();
    let base = base64::engine::general_purpose::STANDARD
        .decode(view.base_b64.as_deref().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(base).unwrap(),
        rendered("alice@home.example"),
        "the base is personal's rendering"
    );
    let shown = ok(&env, &["proposals", "show", &id.to_string()]);
    assert!(shown.contains("co = checkout"), "{shown}");
    assert!(shown.contains("email = {{ var.email }}"), "{shown}");
    assert!(shown.contains("is a template"), "{shown}");
    let (code, out, err) = env.cli(&["proposals", "accept", &id.to_string()]);
    assert_ne!(code, 0, "accepted: {out}");
    assert!(
        format!("{out}{err}").contains("a proposal cannot be accepted into it"),
        "{out} {err}"
    );
    match zbus::block_on(proxy.accept_proposal(id, &view.digest, &[], &[], "")).unwrap_err() {
        ApiError::Refused(m) => {
            assert_eq!(Reason::from_message(&m).code, Code::ProposalTemplatedFile)
        }
        other => panic!("accept was not refused: {other:?}"),
    }
    assert_eq!(ok(&env, &["cat", "git", ".gitconfig"]), TEMPLATE);

    // A directory profile pushed to one qube of the same world.
    let nvim = env.dir.path().join("nvim");
    std::fs::create_dir_all(nvim.join("lua")).unwrap();
    std::fs::write(nvim.join("init.lua"), "vim.o.number = true\n").unwrap();
    std::fs::write(nvim.join("lua/keys.lua"), "-- keys\n").unwrap();
    ok(&env, &["profile", "create", "nvim"]);
    ok(
        &env,
        &[
            "profile",
            "add-dir",
            "nvim",
            ".config/nvim",
            "--from",
            nvim.to_str().unwrap(),
        ],
    );
    ok(&env, &["assign", "work", "nvim"]);
    ok(&env, &["push", "work", "-y"]);
    assert_eq!(
        std::fs::read_to_string(env.home("work").join(".config/nvim/lua/keys.lua")).unwrap(),
        "-- keys\n"
    );
    assert_eq!(
        gitconfig(&env, "work").as_deref(),
        Some(rendered("alice@work.example").as_str())
    );

    // Adopting an existing file from a tagged qube: one step to a reviewed proposal.
    std::fs::write(env.home("vault").join(".tmux.conf"), "set -g mouse on\n").unwrap();
    let out = ok(&env, &["adopt", "vault", ".tmux.conf", "--profile", "tmux"]);
    assert!(out.contains("imported as a proposal"), "{out}");
    let pending: ProposalList =
        serde_json::from_str(&zbus::block_on(proxy.list_proposals("pending")).unwrap()).unwrap();
    let adopted = pending
        .proposals
        .iter()
        .find(|p| p.path == ".tmux.conf")
        .unwrap()
        .id;
    ok(
        &env,
        &[
            "proposals",
            "accept",
            &adopted.to_string(),
            "--ack",
            "meta.new-path",
        ],
    );
    assert_eq!(
        ok(&env, &["cat", "tmux", ".tmux.conf"]),
        "set -g mouse on\n"
    );
    // The template is still unchanged and the templated proposal still pending.
    assert_eq!(ok(&env, &["cat", "git", ".gitconfig"]), TEMPLATE);
    let pending: ProposalList =
        serde_json::from_str(&zbus::block_on(proxy.list_proposals("pending")).unwrap()).unwrap();
    assert!(pending.proposals.iter().any(|p| p.id == id));
}
