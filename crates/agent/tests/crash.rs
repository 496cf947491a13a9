//! SIGKILL the real agent at random points during apply, many times: the target must
//! always be either fully the old or fully the new content.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const TRIALS: usize = 120;
const TARGET: &str = ".config/app/settings";

/// A ~200 KiB content distinct per generation, so a partial write is visible.
fn content(generation: usize) -> Vec<u8> {
    let line = format!("generation {generation:04} {}\n", "x".repeat(60));
    line.repeat(200 * 1024 / line.len()).into_bytes()
}

fn request(generation: usize) -> Vec<u8> {
    let mut f = file(TARGET, &content(generation));
    f["write_policy"] = json!("overwrite");
    apply_request(vec![f]).to_string().into_bytes()
}

fn spawn(world: &World, stdin: Vec<u8>) -> std::process::Child {
    let mut child = Command::new(AGENT)
        .arg("apply")
        .env_clear()
        .env("HOME", &world.home)
        .env("QREXEC_SERVICE_ARGUMENT", "git")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        // The agent may be killed before it reads everything.
        let _ = input.write_all(&stdin);
    });
    child
}

/// xorshift64, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64 as Rng;

#[test]
fn sigkill_during_apply_leaves_old_or_new() {
    let world = World::new();
    let target = world.home.join(TARGET);
    // Generation 0 in place, and the duration of one complete apply (the fastest
    // of three, so a busy moment does not stretch the kill window).
    let mut full_run = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let status = spawn(&world, request(0)).wait().unwrap();
        full_run = full_run.min(started.elapsed());
        assert!(status.success());
    }
    assert_eq!(std::fs::read(&target).unwrap(), content(0));

    let mut rng = Rng(0xC0FF_EE12_3456_789B);
    let mut current = 0usize;
    let (mut saw_old, mut saw_new, mut finished) = (0, 0, 0);
    let window = full_run.as_micros() as u64 * 3 / 2 + 1;
    for trial in 1..=TRIALS {
        let requests = request(trial);
        let mut child = spawn(&world, requests);
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            finished += 1;
        }
        let now = std::fs::read(&target).unwrap();
        if now == content(current) {
            saw_old += 1;
        } else if now == content(trial) {
            saw_new += 1;
            current = trial;
        } else {
            panic!(
                "trial {trial}: target is neither generation {current} nor {trial} ({} bytes)",
                now.len()
            );
        }
    }
    let leftovers = std::fs::read_dir(target.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".qcs-")
        })
        .count();
    println!(
        "crash test: {TRIALS} SIGKILL trials over a {window} µs window (one apply: {} µs): \
         {saw_old} old, {saw_new} new, {finished} ran to completion, never torn; \
         {leftovers} temporary files left by killed runs",
        full_run.as_micros()
    );
    assert_eq!(saw_old + saw_new, TRIALS);
}
