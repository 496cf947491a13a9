//! Wall time of one `qubes.ConfigApply` call of the real binary (process start, parse,
//! checks, backup, fsynced writes) for a 20-file profile: create, unchanged, update.
//! Run: `cargo bench -p qcs-agent`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const AGENT: &str = env!("CARGO_BIN_EXE_qubes-config-agent");
const FILES: usize = 20;
const ROUNDS: usize = 20;

fn sha(bytes: &[u8]) -> String {
    qcs_protocol::sha256_hex(bytes)
}

fn request(generation: usize, base: Option<usize>) -> Vec<u8> {
    let files: Vec<_> = (0..FILES)
        .map(|i| {
            let content = format!("# file {i} generation {generation}\n").repeat(100);
            let mut f = json!({
                "path": format!(".config/bench/file{i}"),
                "mode": "0644",
                "content": {"encoding": "utf-8", "data": content},
                "sha256": sha(content.as_bytes()),
            });
            if let Some(b) = base {
                let old = format!("# file {i} generation {b}\n").repeat(100);
                f["base_sha256"] = json!(sha(old.as_bytes()));
            }
            f
        })
        .collect();
    json!({"version": 1, "profile": "bench", "files": files})
        .to_string()
        .into_bytes()
}

fn run(home: &std::path::Path, stdin: &[u8]) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(AGENT)
        .arg("apply")
        .env_clear()
        .env("HOME", home)
        .env("QREXEC_SERVICE_ARGUMENT", "bench")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"refused\""));
    elapsed
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let (mut create, mut unchanged, mut update) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let home = tempfile::tempdir().unwrap();
        create.push(run(home.path(), &request(0, None)));
        unchanged.push(run(home.path(), &request(0, None)));
        update.push(run(home.path(), &request(1, Some(0))));
    }
    println!(
        "apply of a {FILES}-file profile (~3 KiB each), median of {ROUNDS}: \
         create {:.1} ms, unchanged {:.1} ms, update with backup {:.1} ms",
        median(create).as_secs_f64() * 1e3,
        median(unchanged).as_secs_f64() * 1e3,
        median(update).as_secs_f64() * 1e3,
    );
}
