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

/// Deterministic xorshift so every run measures the same input.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

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

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
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
    assert!(findings.iter().all(|f| f.rule != "content.too-large"));
    let d = diff::diff(&old, &new);

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
    let t_mib = time(5, || scan(&mib, None, ".gitconfig"));
    let mut over = mib.clone();
    over.push(b'\n');
    let over_findings = scan(&over, None, ".gitconfig");
    assert!(over_findings.iter().any(|f| f.rule == "content.too-large"));
    let t_over = time(5, || scan(&over, None, ".gitconfig"));
    let t_mib_diff = time(5, || diff::diff(&old, &mib));
    let rss = peak_rss_kib();

    println!("| case | input | median ms |");
    println!("|---|---|---|");
    println!(
        "| diff, hostile 20 000 lines (every other line changed) | {} KiB, {} hunks | {} |",
        new.len() / 1024,
        d.hunks.len(),
        ms(t_diff)
    );
    println!(
        "| scan with base, .gitconfig | {} findings | {} |",
        findings.len(),
        ms(t_scan)
    );
    println!(
        "| **diff + scan, .gitconfig** (budget 100 ms) | | **{}** |",
        ms(t_both)
    );
    println!("| diff + scan, same bytes as .bashrc | | {} |", ms(t_shell));
    println!("| render_diff of that diff | | {} |", ms(t_render));
    println!(
        "| scan 1 MiB at the limit, no base | {} findings | {} |",
        mib_findings.len(),
        ms(t_mib)
    );
    println!("| diff 20 000 lines against 1 MiB | | {} |", ms(t_mib_diff));
    println!(
        "| scan 1 MiB + 1 byte (refused, content.too-large) | | {} |",
        ms(t_over)
    );
    println!(
        "| peak RSS of this whole run (VmHWM) | | {} MiB |",
        rss.map_or("n/a".to_string(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
    if t_both > Duration::from_millis(100) {
        println!(
            "\nOVER BUDGET: diff + scan took {} ms (> 100 ms)",
            ms(t_both)
        );
    }
}
