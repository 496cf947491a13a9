//! OpenSSH as the oracle for `risk::parse::ssh`: generated and mutated ssh_configs
//! (random lines plus the seed corpus in tests/corpus/ssh) are read by
//! `/usr/bin/ssh -G -F FILE HOST` (HOME and every path inside a scratch directory) and
//! by the project's parser, whose lines are evaluated for that host with OpenSSH's
//! rules (first match wins, Host/Match, Include, the two passes, IgnoreUnknown). Where
//! ssh accepts the file any difference is a bug; where ssh refuses, the parser must
//! refuse. The generator never writes `Match exec` (ssh -G runs it), never enables
//! hostname canonicalisation (DNS), and files containing "exec" after mutation are
//! skipped; ProxyCommand/LocalCommand/KnownHostsCommand are never run by `ssh -G`.
//!
//! Bounded run: `cargo test -p qcs-core --test oracle_ssh`.
//! Long run (≥ 100 000 files):
//! `QCS_SSH_ORACLE_FILES=100000 cargo test --release -p qcs-core --test oracle_ssh -- --ignored --nocapture`

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

use qcs_core::risk::parse::ssh::{self, Refusal};

const SSH: &str = "/usr/bin/ssh";
pub(crate) const HOSTS: &[&str] = &["h1", "H1", "h2", "web.example.com", "x"];

mod eval;
mod generator;

use eval::{Eval, expected};
use generator::{Rng, generate, mutate};

fn ssh_g(config: &Path, home: &Path, host: &str) -> Option<HashMap<String, Vec<String>>> {
    let out = Command::new(SSH)
        .arg("-G")
        .arg("-F")
        .arg(config)
        .arg(host)
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
        .expect("run ssh -G");
    if !out.status.success() {
        return None;
    }
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    // Split on LF only: `str::lines` would also drop a CR that ends a value ssh prints
    // (`User 'default\r'` is read by ssh as `default\r`, and so by the parser).
    for line in String::from_utf8_lossy(&out.stdout).split_terminator('\n') {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        map.entry(k.to_string()).or_default().push(v.to_string());
    }
    Some(map)
}

#[derive(Default, Debug)]
struct Tally {
    files: usize,
    comparisons: usize,
    both_accept: usize,
    both_refuse: usize,
    /// ssh refuses to run with the effective options (ssh.c checks after parsing,
    /// e.g. ConnectionAttempts 0, a ProxyJump loop); the evaluator agrees.
    runtime_refuse: usize,
    /// A keyword of a newer OpenSSH: 9.2 refuses, the parser keeps it (unknown).
    explained_newer_keyword: usize,
    /// ssh's verdict depends on the host; the parser refuses (the safe side).
    explained_host_dependent: usize,
    skipped_exec: usize,
    differences: Vec<String>,
}

fn local_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/ssh");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("corpus file"))
        .collect()
}

fn run_oracle(files: usize, hosts_per_file: usize, seed: u64) -> Tally {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
    let abs_inc = tmp.path().join("abs_inc.conf");
    let includes = vec![
        "inc_a.conf".to_string(),
        abs_inc.display().to_string(),
        "missing.conf".to_string(),
        "~/.ssh/inc_a.conf".to_string(),
    ];
    let main = tmp.path().join("config");
    let user = local_user();
    let seeds = corpus();
    let mut r = Rng(seed | 1);
    let mut baselines: HashMap<&str, HashMap<String, Vec<String>>> = HashMap::new();
    let empty = tmp.path().join("empty");
    std::fs::write(&empty, "").expect("write");
    for h in HOSTS {
        baselines.insert(h, ssh_g(&empty, &home, h).expect("baseline"));
    }
    let mut t = Tally::default();
    for n in 0..files {
        if n > 0 && n % 5000 == 0 {
            eprintln!(
                "ssh oracle progress (seed {seed:#x}): {n} files, {} differences",
                t.differences.len()
            );
        }
        let text = if n < seeds.len() {
            seeds[n].clone()
        } else if r.chance(35) {
            let i = r.below(seeds.len());
            mutate(&mut r, &seeds[i])
        } else if r.chance(50) {
            let g = generate(&mut r, &includes, false);
            mutate(&mut r, &g)
        } else {
            generate(&mut r, &includes, false)
        };
        let inc_a = generate(&mut r, &includes[1..2], true);
        let inc_b = generate(&mut r, &[], true);
        if [&text, &inc_a, &inc_b]
            .iter()
            .any(|s| s.to_ascii_lowercase().contains("exec"))
        {
            t.skipped_exec += 1;
            continue;
        }
        std::fs::write(&main, &text).expect("write");
        std::fs::write(home.join(".ssh/inc_a.conf"), &inc_a).expect("write");
        std::fs::write(&abs_inc, &inc_b).expect("write");
        t.files += 1;
        let parsed = ssh::parse_lines(text.as_bytes());
        let hosts: Vec<&str> = if hosts_per_file >= HOSTS.len() {
            HOSTS.to_vec()
        } else {
            (0..hosts_per_file)
                .map(|_| HOSTS[r.below(HOSTS.len())])
                .collect()
        };
        for host in hosts {
            t.comparisons += 1;
            let oracle = ssh_g(&main, &home, host);
            let report = |what: &str| {
                if std::env::var_os("QCS_SSH_ORACLE_VERBOSE").is_some() {
                    eprintln!(
                        "DIFF {what} for host {host}:\n{text}\n--- inc_a:\n{inc_a}\n--- abs_inc:\n{inc_b}\n====="
                    );
                }
                format!(
                    "{what} for host {host}:\n{text}\n--- inc_a:\n{inc_a}\n--- abs_inc:\n{inc_b}"
                )
            };
            match (&parsed, &oracle) {
                (Err(e), None) => {
                    let _ = e;
                    t.both_refuse += 1;
                }
                (Err(e), Some(_)) if e.refusal == Refusal::DependsOnHost => {
                    t.explained_host_dependent += 1
                }
                (Err(e), Some(_)) => t.differences.push(report(&format!(
                    "parser refuses ({}), ssh accepts",
                    e.failed
                ))),
                (Ok(_), got) => {
                    let ev = Eval {
                        host_arg: host,
                        local_user: &user,
                        home: &home,
                    };
                    match (ev.run(&main), got) {
                        (Err(e), None) if e.starts_with("runtime:") => t.runtime_refuse += 1,
                        (Err(e), None) if e.starts_with("newer:") => t.explained_newer_keyword += 1,
                        (Err(_), None) => t.both_refuse += 1,
                        (Err(e), Some(_)) => t
                            .differences
                            .push(report(&format!("evaluator refuses ({e}), ssh accepts"))),
                        (Ok(_), None) => t.differences.push(report("ssh refuses, parser accepts")),
                        (Ok(o), Some(got)) => {
                            t.both_accept += 1;
                            let exp = expected(&o, &baselines[host]);
                            for (k, v) in exp {
                                let Some(v) = v else { continue };
                                let g = got.get(k).cloned().unwrap_or_default();
                                if g != v {
                                    t.differences
                                        .push(report(&format!("{k}: ssh {g:?}, parser {v:?}")));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    t
}

fn ssh_available() -> bool {
    Path::new(SSH).exists()
}

#[test]
fn bounded_oracle_run_agrees_with_openssh() {
    assert!(
        ssh_available(),
        "openssh-client is a test dependency (README test command)"
    );
    let t = run_oracle(400, 2, 0x005e_ed55);
    eprintln!("ssh oracle (bounded): {t:?}");
    assert!(t.files >= 300, "{t:?}");
    assert!(
        t.both_accept > 100 && t.both_refuse > 20,
        "the generator must exercise both verdicts: {t:?}"
    );
    assert!(
        t.differences.is_empty(),
        "{} differences, first:\n{}",
        t.differences.len(),
        t.differences[0]
    );
}

#[test]
fn seed_corpus_is_read_like_openssh_for_every_host() {
    assert!(ssh_available());
    let t = run_oracle(corpus().len(), HOSTS.len(), 7);
    assert_eq!(t.both_accept, corpus().len() * HOSTS.len(), "{t:?}");
    assert!(t.differences.is_empty(), "{}", t.differences.join("\n\n"));
}

#[test]
#[ignore = "long run: QCS_SSH_ORACLE_FILES=100000 cargo test --release -p qcs-core --test oracle_ssh -- --ignored --nocapture"]
fn long_oracle_run() {
    let files: usize = std::env::var("QCS_SSH_ORACLE_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let threads = 2;
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            std::thread::spawn(move || run_oracle(files / threads, 1, 0xabcdef + i as u64 * 7919))
        })
        .collect();
    let mut total = Tally::default();
    for h in handles {
        let t = h.join().expect("thread");
        total.files += t.files;
        total.comparisons += t.comparisons;
        total.both_accept += t.both_accept;
        total.both_refuse += t.both_refuse;
        total.explained_host_dependent += t.explained_host_dependent;
        total.runtime_refuse += t.runtime_refuse;
        total.explained_newer_keyword += t.explained_newer_keyword;
        total.skipped_exec += t.skipped_exec;
        total.differences.extend(t.differences);
    }
    eprintln!(
        "ssh oracle (long): files {} comparisons {} both-accept {} both-refuse {} runtime-refuse(both) {} explained(newer keyword, parser keeps it as unknown) {} explained(host-dependent, parser refuses) {} skipped(exec) {} differences {}",
        total.files,
        total.comparisons,
        total.both_accept,
        total.both_refuse,
        total.runtime_refuse,
        total.explained_newer_keyword,
        total.explained_host_dependent,
        total.skipped_exec,
        total.differences.len()
    );
    for d in total.differences.iter().take(5) {
        eprintln!("---\n{d}");
    }
    assert!(total.differences.is_empty());
}
