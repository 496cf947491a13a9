//! `qvm-config-sync` against the real backend (a private `dbus-daemon`, the simulated
//! dom0 and qubes running the real agent): qube names checked before anything is
//! stored, phantom entries removable, exit codes and named failures of a push, `--json`
//! documents, the read-only `diff`, `cat` printing the stored bytes, help texts and
//! errors as sentences (never a D-Bus error name) — issue 14, items 1, 2 and 6.
//!
//! `harness = false`: the binary is also the agent inside the simulated qubes and the
//! CLI (`support::dispatch`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use qcs_daemon::client::types::AuditView;
use qcs_sim::world::QubeSpec;
use support::{CONFIG_QUBE, Env, EnvOptions, managed};

fn main() -> std::process::ExitCode {
    support::dispatch();
    support::run_all(&[
        (
            "names_are_checked_before_anything_is_stored",
            names_are_checked_before_anything_is_stored,
        ),
        (
            "phantom_entries_can_be_removed_and_policy_print_skips_them",
            phantom_entries_can_be_removed_and_policy_print_skips_them,
        ),
        (
            "push_with_a_failed_qube_exits_1_and_names_it",
            push_with_a_failed_qube_exits_1_and_names_it,
        ),
        (
            "json_outputs_parse_diff_writes_nothing_cat_is_exact",
            json_outputs_parse_diff_writes_nothing_cat_is_exact,
        ),
        ("every_argument_has_help", every_argument_has_help),
        (
            "policy_check_prints_one_line_per_problem",
            policy_check_prints_one_line_per_problem,
        ),
        (
            "a_hostile_refusal_reaches_people_escaped",
            a_hostile_refusal_reaches_people_escaped,
        ),
    ])
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    zbus::block_on(f)
}

/// The CLI with raw stdout bytes (for `cat`), through `--bus-address`.
fn cli_raw(env: &Env, args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("qvm-config-sync")
        .arg("--bus-address")
        .arg(&env.bus.address)
        .args(args)
        // The session bus is somewhere else: only --bus-address can reach the backend.
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts an error exit with a sentence, and no D-Bus error name anywhere.
fn refused(env: &Env, args: &[&str], sentence: &str) {
    let (code, out, err) = env.cli(args);
    assert_ne!(code, 0, "{args:?} succeeded: {out}");
    assert!(err.contains(sentence), "{args:?}: {err}");
    assert!(
        !err.contains("org.qubes") && !out.contains("org.qubes"),
        "{args:?}: a D-Bus name is shown: {err} {out}"
    );
}

fn git_profile(env: &Env) {
    let local = env.dir.path().join("gitconfig");
    std::fs::write(&local, "[user]\n\tname = A\n").unwrap();
    let (code, out, err) = env.cli(&["profile", "create", "git"]);
    assert_eq!(code, 0, "{out} {err}");
    let (code, out, err) = env.cli(&[
        "profile",
        "add-file",
        "git",
        ".gitconfig",
        "--from",
        local.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out} {err}");
}

fn settings_of(env: &Env, qube: &str) -> (Vec<String>, Vec<String>, bool) {
    let (_c, proxy) = env.client();
    block(proxy.get_qube_settings(qube)).unwrap()
}

fn names_are_checked_before_anything_is_stored() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    git_profile(&env);
    let unknown = "there is no qube named";
    refused(&env, &["assign", "nosuchqube", "git"], unknown);
    refused(&env, &["auto-apply", "typo", "on"], unknown);
    refused(&env, &["allow-propose", "typo2", "git"], unknown);
    refused(&env, &["snapshot", "nosuch"], unknown);
    refused(&env, &["assign", "dom0", "git"], "is dom0");
    refused(&env, &["allow-propose", "dom0", "git"], "is dom0");
    refused(
        &env,
        &["assign", CONFIG_QUBE, "git"],
        "the config qube itself",
    );
    // The CLI parses names before calling (clap's usage error, exit 2).
    refused(&env, &["assign", "Bad Name!", "git"], "not a qube name");
    refused(
        &env,
        &["assign", "work", "nosuchprofile"],
        "there is no profile",
    );
    // Nothing of it was stored: no settings, no qube in the list, nothing in the policy.
    for name in ["nosuchqube", "typo", "typo2", "nosuch", "dom0", CONFIG_QUBE] {
        assert_eq!(settings_of(&env, name), (vec![], vec![], false), "{name}");
    }
    assert_eq!(settings_of(&env, "work"), (vec![], vec![], false));
    let (code, out, _) = env.cli(&["status", "--json"]);
    assert_eq!(code, 0);
    for name in ["nosuchqube", "typo", "typo2", "nosuch"] {
        assert!(!out.contains(name), "{name} in {out}");
    }
    let (code, policy, err) = env.cli(&["policy", "print"]);
    assert_eq!(code, 0, "{err}");
    assert!(!policy.contains("nosuchqube") && !policy.contains("typo"));

    // No-ops that look like actions are errors; the real ones work.
    let ok = |args: &[&str]| {
        let (code, out, err) = env.cli(args);
        assert_eq!(code, 0, "{args:?}: {out} {err}");
    };
    refused(
        &env,
        &["assign", "work", "git", "--unassign"],
        "is not assigned",
    );
    refused(
        &env,
        &["auto-apply", "work", "on"],
        "no profile is assigned",
    );
    ok(&["assign", "work", "git"]);
    refused(&env, &["assign", "work", "git"], "already assigned");
    ok(&["auto-apply", "work", "on"]);
    refused(&env, &["auto-apply", "work", "on"], "already on");
    refused(&env, &["allow-propose", "work", "git", "--deny"], "anyway");
    ok(&["assign", "work", "git", "--unassign"]);
    // Unassigning the last profile turns auto-apply off (there is nothing to apply).
    assert_eq!(settings_of(&env, "work"), (vec![], vec![], false));
    // `push` to an unknown qube plans nothing for it and exits 1 naming it.
    let (code, out, _) = env.cli(&["push", "nosuch", "-y"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("nosuch") && out.contains(unknown) && !out.contains("nothing to write"),
        "{out}"
    );
    // Nothing assigned anywhere: a push is an error, not a silent no-op.
    refused(&env, &["push", "-y"], "nothing to push");
}

/// Entries stored before names were checked (a qube since removed, dom0) are left out of
/// the generated policy with a note, and `--unassign` / `--deny` remove them.
fn phantom_entries_can_be_removed_and_policy_print_skips_them() {
    let mut env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    git_profile(&env);
    let (code, _, err) = env.cli(&["assign", "work", "git"]);
    assert_eq!(code, 0, "{err}");
    env.kill_daemon();
    // The bus is there, the backend is not: a sentence, no D-Bus error name.
    let (code, out, err) = env.cli(&["status"]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("cannot reach the backend"), "{err}");
    assert!(
        !err.contains("DBus.Error") && !err.contains("ConfigSync1.Error"),
        "{err}"
    );
    {
        let mut store = qcs_core::store::Store::open(&env.store).unwrap();
        for phantom in ["gone", "dom0"] {
            let git = qcs_protocol::profile::validate_profile_id("git").unwrap();
            store
                .set_qube_settings(&qcs_core::store::QubeSettings {
                    qube: qcs_protocol::validate_vm_name(phantom).unwrap(),
                    assigned: vec![git.clone()],
                    may_propose: vec![git],
                    auto_apply: false,
                })
                .unwrap();
        }
    }
    env.start_daemon();
    let (code, policy, err) = env.cli(&["policy", "print"]);
    assert_eq!(code, 0, "one bad entry must not stop the policy: {err}");
    assert!(
        policy.contains("work") && policy.contains("+git"),
        "{policy}"
    );
    assert!(policy.contains("# Left out"), "{policy}");
    let rules: Vec<&str> = policy
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        rules
            .iter()
            .all(|l| !l.contains("gone") && !l.contains("dom0 ")),
        "{rules:?}"
    );
    for phantom in ["gone", "dom0"] {
        for args in [
            vec!["assign", phantom, "git", "--unassign"],
            vec!["allow-propose", phantom, "git", "--deny"],
        ] {
            let (code, out, err) = env.cli(&args);
            assert_eq!(code, 0, "{args:?}: {out} {err}");
        }
        assert_eq!(settings_of(&env, phantom), (vec![], vec![], false));
    }
    let (_, policy, _) = env.cli(&["policy", "print"]);
    assert!(!policy.contains("# Left out"), "{policy}");
}

fn push_with_a_failed_qube_exits_1_and_names_it() {
    let env = Env::start(
        vec![
            managed(QubeSpec::app("work", "fedora").running()),
            // Managed, but the agent's apply service is missing: planned, then fails.
            managed(QubeSpec::app("noapply", "fedora").running()),
            // Managed, but no agent at all: cannot even be planned.
            managed(QubeSpec::app("noagent", "fedora").running()),
        ],
        EnvOptions::default(),
    );
    let rpc = |qube: &str, service: &str| {
        env.world_dir
            .join("qubes")
            .join(qube)
            .join("rpc")
            .join(service)
    };
    std::fs::remove_file(rpc("noapply", "qubes.ConfigApply")).unwrap();
    for service in ["qubes.ConfigApply", "qubes.ConfigSnapshot"] {
        std::fs::remove_file(rpc("noagent", service)).unwrap();
    }
    git_profile(&env);
    for qube in ["work", "noapply", "noagent"] {
        let (code, _, err) = env.cli(&["assign", qube, "git"]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = env.cli(&["push", "-y"]);
    assert_eq!(code, 1, "{out} {err}");
    // Both failures are named, each with why; neither is "denied by dom0 policy".
    assert!(
        out.contains("noagent does not offer qubes.ConfigSnapshot")
            && out.contains("noapply does not offer qubes.ConfigApply"),
        "{out}"
    );
    assert!(out.contains("failed: 1 of 2 qube(s): noapply"), "{out}");
    assert!(out.contains("not planned: noagent"), "{out}");
    assert!(!out.contains("denied"), "{out}");
    assert!(out.contains("1 written"), "{out}");
    assert!(env.home("work").join(".gitconfig").exists());
    // Every qube failed: exit 1 and the failure named, not "nothing to write".
    let (code, out, _) = env.cli(&["push", "noagent", "-y"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("nothing written: 1 qube(s) failed: noagent"),
        "{out}"
    );
    assert!(!out.contains("nothing to write"), "{out}");
    // The same in the JSON of `diff`: the error is a reason code with arguments.
    let (code, out, _) = env.cli(&["diff", "noagent", "--json"]);
    assert_eq!(code, 1);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["qubes"][0]["error"]["code"], "qrexec.no-service");
    assert_eq!(plan["qubes"][0]["error"]["args"]["qube"], "noagent");
    // A qube the config qube may not see (no managed tag) is unknown, and says why.
    refused(&env, &["assign", "fedora", "git"], "may see");
}

fn json_outputs_parse_diff_writes_nothing_cat_is_exact() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    git_profile(&env);
    // Bytes a terminal renderer would change: an escape, no final newline, not UTF-8.
    let bytes: &[u8] = b"[core]\n\tpager = less\x1b[2J\n\xff\xfe tail";
    let local = env.dir.path().join("raw");
    std::fs::write(&local, bytes).unwrap();
    let (code, _, err) = env.cli(&[
        "profile",
        "add-file",
        "git",
        ".config/raw",
        "--from",
        local.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, printed, err) = cli_raw(&env, &["cat", "git", ".config/raw"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(printed, bytes);
    let (code, _, err) = cli_raw(&env, &["cat", "git", ".nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("profile git has no file .nope"), "{err}");
    let (code, _, err) = env.cli(&["assign", "work", "git"]);
    assert_eq!(code, 0, "{err}");

    // `diff` shows what a push would write and writes nothing.
    let (_c, proxy) = env.client();
    let audit_before: AuditView =
        serde_json::from_str(&block(proxy.audit_log(0, 1000)).unwrap()).unwrap();
    let (code, out, err) = env.cli(&["diff", "work"]);
    assert_eq!(code, 1, "{out} {err}");
    assert!(
        out.contains("create") && out.contains(".gitconfig") && out.contains("pager"),
        "{out}"
    );
    assert!(!env.home("work").join(".gitconfig").exists());
    assert!(!env.home("work").join(".config/raw").exists());
    let audit_after: AuditView =
        serde_json::from_str(&block(proxy.audit_log(0, 1000)).unwrap()).unwrap();
    assert!(
        audit_after.entries[audit_before.entries.len()..]
            .iter()
            .all(|e| e.action != "push"),
        "diff pushed"
    );
    let (code, out, err) = env.cli(&["push", "work", "-y"]);
    assert_eq!(code, 0, "{out} {err}");
    let (code, out, _) = env.cli(&["diff", "work"]);
    assert_eq!(code, 0, "nothing differs after the push: {out}");

    // Every list and show command's --json is one JSON document with its version.
    let version = qcs_daemon::client::types::API_VERSION;
    for args in [
        vec!["status", "--json"],
        vec!["profile", "list", "--json"],
        vec!["profile", "show", "git", "--json"],
        vec!["profile", "files", "git", "--json"],
        vec!["proposals", "list", "--json", "--status", "all"],
        vec!["settings", "work", "--json"],
        vec!["diff", "--json"],
    ] {
        let (code, out, err) = env.cli(&args);
        assert!(code == 0 || code == 1, "{args:?}: {err}");
        let doc: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        assert_eq!(doc["version"], version, "{args:?}: {out}");
    }
    let (_, out, _) = env.cli(&["settings", "work", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["assigned"][0], "git");
    let (_, out, _) = env.cli(&["status", "--json"]);
    let list: qcs_daemon::client::types::QubeList = serde_json::from_str(&out).unwrap();
    assert!(list.qubes.iter().any(|q| q.name == "work"));
    let (_, out, _) = env.cli(&["profile", "files", "git", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["files"][0]["provenance"]["code"],
        "provenance.local-edit"
    );
}

/// Every argument and option of every subcommand has a description in `--help`.
fn every_argument_has_help() {
    let commands: &[&[&str]] = &[
        &["status"],
        &["profile", "list"],
        &["profile", "show"],
        &["profile", "files"],
        &["profile", "create"],
        &["profile", "describe"],
        &["profile", "add-file"],
        &["profile", "edit"],
        &["profile", "remove-file"],
        &["profile", "revert"],
        &["profile", "allow-new"],
        &["cat"],
        &["settings"],
        &["assign"],
        &["allow-propose"],
        &["auto-apply"],
        &["push"],
        &["diff"],
        &["proposals", "list"],
        &["proposals", "show"],
        &["proposals", "accept"],
        &["proposals", "reject"],
        &["snapshot"],
        &["rollback"],
        &["persistence"],
        &["policy", "print"],
        &["policy", "check"],
        &["scan"],
    ];
    for command in commands {
        let mut args = vec!["qvm-config-sync"];
        args.extend_from_slice(command);
        args.push("--help");
        let out = Command::new(std::env::current_exe().unwrap())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{command:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        // Lines that name an argument or option (`  <X>` / `  -x, --y`) must say more
        // than the name: a description on the same line or the next, indented deeper.
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if indent != 2 || !(trimmed.starts_with('<') || trimmed.starts_with('-')) {
                continue;
            }
            let name_end = trimmed.find("  ").unwrap_or(trimmed.len());
            let same_line = trimmed[name_end..].trim();
            let next_line = lines.get(i + 1).is_some_and(|next| {
                let t = next.trim_start();
                next.len() - t.len() > indent && !t.is_empty()
            });
            assert!(
                !same_line.is_empty() || next_line,
                "{command:?}: `{trimmed}` has no description:\n{help}"
            );
        }
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["qvm-config-sync", "proposals", "accept", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("The proposal's number"), "{help}");
    assert!(help.contains("Accept only this hunk"), "{help}");
    assert!(help.contains("Acknowledge a finding"), "{help}");
}

/// Two bad rules: two lines and a summary, not a report of thousands of lines.
fn policy_check_prints_one_line_per_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("policy.d");
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy/policy.d");
    let copied = Command::new("cp")
        .args(["-R", shipped])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::write(
        dir.join("10-bad.policy"),
        "qubes.ConfigApply * @anyvm @anyvm allow\n\
         qubes.ConfigSnapshot * @anyvm @anyvm allow\n",
    )
    .unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["qvm-config-sync", "policy", "check"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].contains("10-bad.policy:1") && lines[1].contains("10-bad.policy:2"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("2 problem(s): 2 rule(s) over-grant"),
        "{text}"
    );
    let verbose = Command::new(std::env::current_exe().unwrap())
        .args(["qvm-config-sync", "policy", "check", "--verbose"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&verbose.stdout).lines().count() > lines.len());
}

/// A compromised qube answers the apply with a refusal whose message carries a terminal
/// escape, a bidi override and markup: the reason's detail arrives bounded and escaped,
/// the CLI prints no raw control character, and the JSON keeps it as an argument (data),
/// never as the sentence.
fn a_hostile_refusal_reaches_people_escaped() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    git_profile(&env);
    let (code, _, err) = env.cli(&["assign", "work", "git"]);
    assert_eq!(code, 0, "{err}");
    let service = env
        .world_dir
        .join("qubes")
        .join("work")
        .join("rpc")
        .join("qubes.ConfigApply");
    let version = qcs_protocol::PROTOCOL_VERSION;
    std::fs::write(
        &service,
        format!(
            "#!/bin/sh\ncat >/dev/null\nprintf '%s' '{{\"refused\":{{\"version\":{version},\
             \"code\":\"schema\",\"message\":\"\\u001b[2J<b>pwn</b>\\u202etxt.exe {{qube}}\"}}}}'\nexit 1\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&service, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, out, err) = env.cli(&["push", "work", "-y"]);
    assert_eq!(code, 1, "{out} {err}");
    assert!(out.contains("work: error [service.refused]"), "{out}");
    for raw in ['\u{1b}', '\u{202e}'] {
        assert!(
            !out.contains(raw) && !err.contains(raw),
            "raw {raw:?}: {out:?}"
        );
    }
    // The value is data: `{qube}` inside it was not expanded into the qube's name.
    assert!(out.contains("{qube}"), "{out}");
    let (_c, proxy) = env.client();
    let plan: qcs_daemon::client::types::PushPlan =
        serde_json::from_str(&block(proxy.plan_push(&["work"], &[], &[])).unwrap()).unwrap();
    let job = block(async {
        qcs_daemon::client::job::run(&proxy, proxy.execute_plan(&plan.plan_id), |_| {}).await
    })
    .unwrap();
    let error = job.qubes[0].error.clone().unwrap();
    assert_eq!(error.code, qcs_daemon::client::Code::ServiceRefused);
    let detail = error.get("detail");
    assert!(
        !detail.contains('\u{1b}') && !detail.contains('\u{202e}') && detail.contains("pwn"),
        "{detail:?}"
    );
    assert!(!job.is_success());
}
