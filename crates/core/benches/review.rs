//! Review-engine benchmark (DESIGN §10, issue 5 item 8): diff + risk scan of a
//! hostile 20 000-line file (every other line changed, long lines, many hidden
//! characters), and a 1 MiB file at and over the scan limit, with peak RSS.
//!
//! Run: `cargo bench -p qcs-core --bench review`. Prints a markdown table.

use std::hint::black_box;
use std::time::{Duration, Instant};

use qcs_core::diff;
use qcs_core::risk::{Engine, FileKind, ScanInput};

const HIDDEN: [&str; 8] = [
    "\u{202e}",
    "\u{2066}",
    "\u{200b}",
    "\u{a0}",
    "\u{1b}[2J",
    "\u{e0041}",
    "\u{fe0f}",
    "\r",
];

/// xorshift64, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64 as Rng;

/// A git config of `lines` lines; `variant` changes every other line.
fn hostile(lines: usize, variant: u64) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = String::new();
    for i in 0..lines {
        let r = rng.next();
        if i % 50 == 0 {
            out.push_str(if i % 100 == 0 {
                "[core]\n"
            } else {
                "[credential \"https://x/\"]\n"
            });
            continue;
        }
        let changed = i % 2 == 1 && variant == 1;
        let hidden = HIDDEN[(r % HIDDEN.len() as u64) as usize];
        let key = match r % 7 {
            0 => "pager",
            1 => "fsmonitor",
            2 => "sshCommand",
            3 => "editor",
            _ => "name",
        };
        if i % 100 == 7 {
            // A long line: payload pushed off-screen.
            out.push_str(&format!(
                "\t{key} = x{}{hidden}tail{changed}\n",
                " ".repeat(1800)
            ));
        } else if changed {
            out.push_str(&format!("\t{key} = v{i}{hidden}!\n"));
        } else {
            out.push_str(&format!("\t{key} = v{i}{hidden}\n"));
        }
    }
    out.into_bytes()
}

/// Median wall-clock and on-CPU time of `n` runs. CPU time (this thread only)
/// is what the code costs; wall time also counts waiting for a core on a
/// shared machine.
#[derive(Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Duration,
    /// Median minor page faults of one run (memory the allocator handed back to the
    /// kernel and faulted in again).
    faults: u64,
}

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// This thread's minor page faults so far (`/proc/thread-self/stat`, field 10); read
/// outside the timed window.
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .nth(7)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> Timing {
    let mut wall = Vec::with_capacity(n);
    let mut cpu = Vec::with_capacity(n);
    let mut faults = Vec::with_capacity(n);
    for _ in 0..n {
        let m = minor_faults();
        let (w, c) = (Instant::now(), thread_cpu());
        black_box(f());
        cpu.push(thread_cpu() - c);
        wall.push(w.elapsed());
        faults.push(minor_faults() - m);
    }
    wall.sort();
    cpu.sort();
    faults.sort();
    Timing {
        wall: wall[n / 2],
        cpu: cpu[n / 2],
        faults: faults[n / 2],
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(t: Timing) -> String {
    format!(
        "{:.1} | {:.1} | {}",
        t.wall.as_secs_f64() * 1000.0,
        t.cpu.as_secs_f64() * 1000.0,
        t.faults
    )
}

fn main() {
    let engine = Engine::load_default();
    let old = hostile(20_000, 0);
    let new = hostile(20_000, 1);
    let runs = 11;
    let scan = |content: &[u8], base: Option<&[u8]>, path: &str| {
        engine.scan(&ScanInput {
            path,
            content,
            base,
            mode: Some(0o644),
            kind: FileKind::Regular,
        })
    };

    // Sanity: the input is really parsed and scanned, not refused.
    let findings = scan(&new, Some(&old), ".gitconfig");
    let rules: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| f.rule.as_str()).collect();
    assert!(rules.contains("git.core.fsmonitor"), "{rules:?}");
    assert!(!rules.contains("content.too-large"));
    let d = diff::diff(&old, &new);
    // Load-independent figure: `QCS_BENCH_ONLY=scan|diff+scan` runs just that step
    // three times and exits, for `valgrind --tool=callgrind` (instruction counts do not
    // depend on what else the machine is doing).
    match std::env::var("QCS_BENCH_ONLY").as_deref() {
        Ok("scan") => {
            for _ in 0..3 {
                black_box(scan(&new, Some(&old), ".gitconfig"));
            }
            return;
        }
        Ok("diff+scan") => {
            for _ in 0..3 {
                black_box((diff::diff(&old, &new), scan(&new, Some(&old), ".gitconfig")));
            }
            return;
        }
        _ => {}
    }

    let t_diff = time(runs, || diff::diff(&old, &new));
    let t_scan = time(runs, || scan(&new, Some(&old), ".gitconfig"));
    let t_both = time(runs, || {
        (diff::diff(&old, &new), scan(&new, Some(&old), ".gitconfig"))
    });
    let t_shell = time(runs, || {
        (diff::diff(&old, &new), scan(&new, Some(&old), ".bashrc"))
    });
    let t_render = time(runs, || qcs_core::render::render_diff(&d, &findings));

    // 1 MiB: exactly at the scan limit (scanned) and one byte over (refused).
    let limit = engine.limits().max_scan_bytes;
    let mut mib = hostile(40_000, 1);
    mib.resize(limit, b'x');
    let mib_findings = scan(&mib, None, ".gitconfig");
    assert!(mib_findings.iter().all(|f| f.rule != "content.too-large"));
    let t_mib = time(5, || scan(&mib, None, ".gitconfig"));
    let mut over = mib.clone();
    over.push(b'\n');
    let over_findings = scan(&over, None, ".gitconfig");
    assert!(over_findings.iter().any(|f| f.rule == "content.too-large"));
    let t_over = time(5, || scan(&over, None, ".gitconfig"));
    let t_mib_diff = time(5, || diff::diff(&old, &mib));
    // Worst case for the line count: 1 MiB of one-byte lines against other ones.
    let many_a = b"a\n".repeat(limit / 2);
    let many_b = b"b\n".repeat(limit / 2);
    let t_many = time(3, || diff::diff(&many_a, &many_b));
    let t_many_scan = time(3, || scan(&many_b, Some(&many_a), ".gitconfig"));
    let rss = peak_rss_kib();

    println!("| case | input | median wall ms | median CPU ms | minor faults |");
    println!("|---|---|---|---|---|");
    let row = |case: &str, input: String, t: Timing| println!("| {case} | {input} | {} |", ms(t));
    row(
        "diff, hostile 20 000 lines (every other line changed)",
        format!("{} KiB, {} hunks", new.len() / 1024, d.hunks.len()),
        t_diff,
    );
    row(
        "scan with base, .gitconfig",
        format!("{} findings", findings.len()),
        t_scan,
    );
    row(
        "**diff + scan, .gitconfig** (budget 100 ms)",
        String::new(),
        t_both,
    );
    row("diff + scan, same bytes as .bashrc", String::new(), t_shell);
    row("render_diff of that diff", String::new(), t_render);
    row(
        "scan 1 MiB at the limit, no base",
        format!("{} findings", mib_findings.len()),
        t_mib,
    );
    row("diff 20 000 lines against 1 MiB", String::new(), t_mib_diff);
    row(
        "scan 1 MiB + 1 byte (refused: content.too-large)",
        String::new(),
        t_over,
    );
    row(
        "diff 524 288 one-byte lines against 524 288 others",
        "1 MiB each".into(),
        t_many,
    );
    row("scan of that with base", String::new(), t_many_scan);
    println!(
        "| peak RSS of this whole run (VmHWM) | | {} MiB | | |",
        rss.map_or("n/a".to_string(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
    if t_both.cpu > Duration::from_millis(100) {
        println!(
            "\nOVER BUDGET: diff + scan used {:.1} ms of CPU (> 100 ms)",
            t_both.cpu.as_secs_f64() * 1000.0
        );
    }
}
