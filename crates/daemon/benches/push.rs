//! Benchmark of issue 6 item 5 (DESIGN §10), through the real backend, a private
//! dbus-daemon and the simulator's qrexec with 20 ms latency per call:
//!
//! * push of a 20-file profile to 50 qubes: wall time of `ExecutePlan` until
//!   `JobFinished` (budget ≤ 2 s) and qrexec service calls per qube (must be 1);
//! * a flood of 10 000 proposals from one qube, spooled while the backend was down:
//!   the backend's peak RSS (`VmHWM` of its process, budget ≤ 100 MB) and ingest time.
//!
//! Prints a markdown table. `cargo bench -p qcs-daemon --bench push`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use qcs_daemon::client::types::PushPlan;
use qcs_sim::world::QubeSpec;
use support::{Env, EnvOptions, managed, wait_job};

const QUBES: usize = 50;
const FILES: usize = 20;
const LATENCY_MS: u64 = 20;
const FLOOD: usize = 10_000;

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() -> std::process::ExitCode {
    support::dispatch();
    let names: Vec<String> = (0..QUBES).map(|i| format!("app{i:02}")).collect();
    let shm = std::path::Path::new("/dev/shm");
    let mut env = Env::start(
        names
            .iter()
            .map(|n| managed(QubeSpec::app(n, "fedora").running()))
            .collect(),
        EnvOptions {
            latency_ms: LATENCY_MS,
            max_parallel: 16,
            tmp_in: shm.is_dir().then(|| shm.to_path_buf()),
            ..Default::default()
        },
    );
    let (_conn, proxy) = env.client();
    use zbus::block_on as block;
    block(proxy.create_profile("dotfiles", "20 files")).expect("create");
    for i in 0..FILES {
        let content = format!("# file {i}\n").repeat(40);
        block(proxy.put_file(
            "dotfiles",
            &format!(".config/bench/f{i:02}.conf"),
            content.as_bytes(),
            0o644,
        ))
        .expect("put");
    }
    for n in &names {
        block(proxy.assign(n, "dotfiles", true)).expect("assign");
    }
    block(proxy.allow_proposals("app00", "dotfiles", true)).expect("allow");

    let started = Instant::now();
    let plan: PushPlan =
        serde_json::from_str(&block(proxy.plan_push(&[], &[], &[])).expect("plan")).expect("json");
    let plan_wall = started.elapsed();
    env.clear_calls();
    let mut finished = block(proxy.receive_job_finished()).expect("subscribe");
    let started = Instant::now();
    let job = block(proxy.execute_plan(&plan.plan_id)).expect("execute");
    let (success, summary) = wait_job(&mut finished, job);
    let push_wall = started.elapsed();
    let calls = env.calls_per_qube();
    let per_qube: Vec<usize> = names
        .iter()
        .map(|n| calls.get(n).map_or(0, Vec::len))
        .collect();
    let max_calls = per_qube.iter().copied().max().unwrap_or(0);
    let min_calls = per_qube.iter().copied().min().unwrap_or(0);
    let written: usize = summary
        .qubes
        .iter()
        .flat_map(|q| &q.files)
        .filter(|f| f.outcome.as_str() == "written")
        .count();

    // The flood: spooled while the backend is down, ingested when it starts.
    let hwm_idle = env.daemon_pid().and_then(vm_hwm_kib);
    drop(proxy);
    env.kill_daemon();
    support::spool_flood_profile(
        &env.spool,
        "app00",
        "dotfiles",
        ".config/bench/f00.conf",
        FLOOD,
    );
    let started = Instant::now();
    env.start_daemon();
    let ingest_wall = started.elapsed();
    let pid = env.daemon_pid().expect("pid");
    let hwm_flood = vm_hwm_kib(pid);
    let (_c3, proxy3) = env.client();
    let pending = block(proxy3.pending_proposals()).expect("pending");

    let ok_push = success && push_wall.as_secs_f64() <= 2.0 && max_calls == 1 && min_calls == 1;
    let ok_rss = hwm_flood.is_some_and(|k| k <= 100 * 1024);
    println!();
    println!("| measurement | value | budget |");
    println!("|---|---|---|");
    println!(
        "| plan: snapshot + plan, {QUBES} qubes × {FILES} files, {LATENCY_MS} ms/call | {:.2} s | — |",
        plan_wall.as_secs_f64()
    );
    println!(
        "| push: {FILES}-file profile to {QUBES} qubes, {LATENCY_MS} ms/call | {:.2} s ({written} files written{}) | ≤ 2 s |",
        push_wall.as_secs_f64(),
        if success { "" } else { ", NOT all clean" }
    );
    println!(
        "| qrexec service calls per qube during the push | min {min_calls}, max {max_calls} | 1 |"
    );
    println!(
        "| backend RSS after the push (VmHWM) | {} | — |",
        hwm_idle.map_or("n/a".to_owned(), |k| format!("{:.1} MB", k as f64 / 1024.0))
    );
    println!(
        "| backend RSS, flood of {FLOOD} proposals from one qube (VmHWM) | {} | ≤ 100 MB |",
        hwm_flood.map_or("n/a".to_owned(), |k| format!("{:.1} MB", k as f64 / 1024.0))
    );
    println!(
        "| flood ingest at start ({FLOOD} spool files), until the bus name is taken | {:.2} s ({pending} kept pending) | — |",
        ingest_wall.as_secs_f64()
    );
    println!();
    if ok_push && ok_rss {
        std::process::ExitCode::SUCCESS
    } else {
        println!("over budget");
        std::process::ExitCode::FAILURE
    }
}
