//! Crash test (invariant 6): a child process accepts and rejects proposals, edits files and
//! records pushes in a loop against a real SQLite file; the parent SIGKILLs it at random
//! points, reopens the store and checks that nothing committed was lost and nothing is
//! half-written.
//!
//! The child is this test binary itself, re-run with `--exact` and an environment variable
//! that turns the test into the worker — no extra binary. The worker prints a line after each
//! commit returns, so every line the parent reads names state that must survive.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qcs_core::store::{Acceptance, NewProposal, ProposalStatus, PushedFile, Store, action};

const TEST_NAME: &str = "sigkill_at_random_points";
const ENV_DB: &str = "QCS_CRASH_WORKER_DB";
const ENV_SEED: &str = "QCS_CRASH_WORKER_SEED";
const TRIALS: usize = 120;
const PATHS: [&str; 4] = [
    ".gitconfig",
    ".config/git/ignore",
    ".config/git/attributes",
    ".gitmessage",
];

use qcs_protocol::literal::{pid, rp, vm};
/// xorshift64*, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64Star as Rng;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "QCS {line}").unwrap();
    out.flush().unwrap();
}

/// The child: loops over real store transactions until it is killed.
fn worker(db: &Path, seed: u64) -> ! {
    let mut rng = Rng(seed | 1);
    let mut store = Store::open(db).expect("worker: open");
    // Load the shipped rules (the never-sync list) now, so the kills land in the loop and
    // not in this one-time setup.
    let _ = qcs_core::risk::is_never_sync(".gitconfig");
    say("ready");
    let mut iteration: u64 = 0;
    loop {
        iteration += 1;
        let path = PATHS[rng.below_u64(PATHS.len() as u64) as usize];
        // Sizes vary so that some transactions write many pages.
        let content = format!("{seed} {iteration}\n").repeat(1 + rng.below_u64(1000) as usize);
        let id = store
            .submit_proposal(&NewProposal {
                source_qube: vm("work"),
                profile: pid("git"),
                path: rp(path),
                content: content.as_bytes(),
                mode: Some(0o644),
                base_sha256: None,
                note: "crash test",
            })
            .expect("worker: submit");
        say(&format!("P {id}"));
        if rng.below_u64(3) == 0 {
            store.reject_proposal(id, "no").expect("worker: reject");
            say(&format!("R {id}"));
        } else {
            let version = store
                .accept_proposal(id, Acceptance::default())
                .expect("worker: accept");
            say(&format!("A {id} {}", version.id));
        }
        if rng.below_u64(4) == 0 {
            let generation = store
                .put_file(
                    &pid("git"),
                    &rp(".gitconfig"),
                    format!("local {iteration}\n").as_bytes(),
                    0o644,
                )
                .expect("worker: edit");
            say(&format!("E {generation}"));
        }
        let generation = store
            .profile(&pid("git"))
            .expect("worker: profile")
            .expect("git")
            .generation;
        let files: Vec<PushedFile> = store
            .current_files(&pid("git"))
            .expect("worker: files")
            .into_iter()
            .map(|f| PushedFile {
                profile: qcs_protocol::profile::validate_profile_id("git").unwrap(),
                path: f.path,
                sha256: f.sha256,
                mode: f.mode,
                generation,
            })
            .collect();
        store
            .record_push(
                &vm("work"),
                &files,
                serde_json::json!({ "iteration": iteration }),
            )
            .expect("worker: push");
        say(&format!("S {generation} {}", files.len()));
    }
}

/// What the parent knows was committed.
#[derive(Default)]
struct Expected {
    proposals: BTreeMap<i64, (ProposalStatus, Option<i64>)>,
    min_generation: u64,
    min_pushed_generation: u64,
    min_audit_entries: usize,
}

fn apply_line(expected: &mut Expected, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |i: usize| -> i64 { words[i].parse().unwrap() };
    match words.first().copied() {
        Some("P") => {
            expected
                .proposals
                .insert(number(1), (ProposalStatus::Pending, None));
        }
        Some("A") => {
            expected
                .proposals
                .insert(number(1), (ProposalStatus::Accepted, Some(number(2))));
        }
        Some("R") => {
            expected
                .proposals
                .insert(number(1), (ProposalStatus::Rejected, None));
        }
        Some("E") => {
            expected.min_generation = expected.min_generation.max(number(1) as u64);
        }
        Some("S") => {
            let generation = number(1) as u64;
            expected.min_generation = expected.min_generation.max(generation);
            expected.min_pushed_generation = expected.min_pushed_generation.max(generation);
        }
        Some("ready") => {}
        other => panic!("unexpected worker line {other:?}"),
    }
}

fn check(db: &Path, expected: &mut Expected, trial: usize) {
    let store = Store::open(db).unwrap_or_else(|e| panic!("trial {trial}: reopen: {e}"));
    let problems = store.verify().unwrap();
    assert!(problems.is_empty(), "trial {trial}: {problems:?}");

    let actual: BTreeMap<i64, ProposalStatus> = store
        .proposals(None)
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.status))
        .collect();
    for (id, (status, version)) in &expected.proposals {
        let found = actual.get(id);
        match status {
            // Reported pending: it may have been decided just before the kill.
            ProposalStatus::Pending => {
                assert!(found.is_some(), "trial {trial}: proposal #{id} lost")
            }
            _ => assert_eq!(found, Some(status), "trial {trial}: proposal #{id}"),
        }
        if let Some(version) = version {
            let proposal = store.proposal(*id).unwrap().unwrap();
            assert_eq!(
                proposal.accepted_version,
                Some(*version),
                "trial {trial}: #{id}"
            );
        }
    }
    let profile = store.profile(&pid("git")).unwrap().unwrap();
    assert!(
        profile.generation >= expected.min_generation,
        "trial {trial}: generation went back to {} from {}",
        profile.generation,
        expected.min_generation
    );
    for state in store.qube_file_states(&vm("work")).unwrap() {
        if let Some(pushed) = state.pushed {
            assert!(
                pushed.generation >= expected.min_pushed_generation,
                "trial {trial}: pushed state of {} went back",
                state.path
            );
        }
    }
    let audit = store.audit_log(0, usize::MAX).unwrap();
    assert!(
        audit.len() >= expected.min_audit_entries,
        "trial {trial}: audit log shrank"
    );
    // Everything the log says was accepted is in the history.
    for entry in audit
        .iter()
        .filter(|e| e.action == action::PROPOSAL_ACCEPTED)
    {
        let id = entry.proposal_id.unwrap();
        assert_eq!(actual.get(&id), Some(&ProposalStatus::Accepted), "#{id}");
    }
    expected.min_audit_entries = audit.len();
    // Mark what is now known to be durable: a pending one that was decided stays decided.
    for (id, status) in &actual {
        if let Some(entry) = expected.proposals.get_mut(id)
            && entry.0 == ProposalStatus::Pending
            && *status != ProposalStatus::Pending
        {
            let version = store.proposal(*id).unwrap().unwrap().accepted_version;
            *entry = (*status, version);
        }
    }
}

#[test]
fn sigkill_at_random_points() {
    if let Ok(db) = std::env::var(ENV_DB) {
        let seed = std::env::var(ENV_SEED).unwrap().parse().unwrap();
        worker(Path::new(&db), seed);
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    {
        let mut store = Store::open(&db).unwrap();
        store.create_profile(&pid("git"), "crash test").unwrap();
        store.allow_proposals(&vm("work"), &pid("git")).unwrap();
        // Every path the workers propose may be new to the profile.
        store.allow_new_paths(&pid("git"), &PATHS, true).unwrap();
        store.assign(&vm("work"), &pid("git")).unwrap();
    }
    let base_seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash test seed {base_seed}");
    let mut rng = Rng(base_seed | 1);
    let mut expected = Expected::default();
    let exe = std::env::current_exe().unwrap();
    // The workers' stderr, shown if the test fails.
    let worker_log = dir.path().join("worker-stderr.log");
    let worker_errors = || {
        let text = std::fs::read_to_string(&worker_log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("panicked") || l.contains("worker:"))
            .take(10)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut killed_mid_loop = 0;
    let mut committed_lines = 0;
    for trial in 0..TRIALS {
        let mut child = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(ENV_DB, &db)
            .env(ENV_SEED, rng.next().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&worker_log)
                    .unwrap(),
            ))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest's "test NAME ... " may precede the first line without a newline.
                if let Some(rest) = line.find("QCS ").map(|at| &line[at + 4..]) {
                    if rest == "ready" {
                        let _ = ready_tx.send(());
                    }
                    lines.push(rest.to_owned());
                }
            }
            lines
        });
        // One trial in ten dies anywhere, even while opening; the rest inside the loop.
        if trial % 10 != 0 {
            ready_rx
                .recv_timeout(Duration::from_secs(60))
                .expect("worker did not start");
            killed_mid_loop += 1;
        }
        std::thread::sleep(Duration::from_micros(rng.below_u64(40_000)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "worker exited on its own: {status}");
        let lines = reader.join().unwrap();
        for line in &lines {
            apply_line(&mut expected, line);
        }
        committed_lines += lines.iter().filter(|l| *l != "ready").count();
        check(&db, &mut expected, trial);
    }
    let store = Store::open(&db).unwrap();
    let proposals = store.proposals(None).unwrap().len();
    println!(
        "crash test: {TRIALS} SIGKILLs ({killed_mid_loop} inside the transaction loop), \
         {committed_lines} committed steps observed, {proposals} proposals stored, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The test must have exercised real work, not only killed idle processes.
    assert!(
        committed_lines > TRIALS,
        "too few committed steps: {committed_lines}; worker errors:\n{}",
        worker_errors()
    );
    assert!(proposals > TRIALS / 2);
}
