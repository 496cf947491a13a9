//! The real git as an oracle for the git config parser (tests only: the product
//! never runs git). Generated and mutated config files — random ones from git's
//! grammar pieces and mutations of the seed corpus in `tests/corpus/git/` — are read
//! by `git config --file F --list -z` and by `risk::parse_git_config`. Where git
//! accepts a file, any difference in keys or values is a bug; where git refuses it,
//! the parser must refuse it too (`parse.failed`). The parser's deliberate refusals
//! (a NUL byte, an include path without a value — which git's `--list` without
//! `--includes` prints but every other git command dies on) are counted as
//! explained, never as agreement.
//!
//! git only lists here: `--file` without `--includes` follows no include, nothing is
//! executed, HOME and the global/system files point into an empty temp dir.
//!
//! Bounded run: `cargo test -p qcs-core --test oracle_git`.
//! Long run (≥ 100 000 files, README figure):
//! `ORACLE_GIT_FILES=100000 cargo test --release -p qcs-core --test oracle_git -- --ignored --nocapture`

use std::path::Path;
use std::process::Command;

use qcs_core::risk::parse_git_config;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

const HEADERS: &[&[u8]] = &[
    b"[core]",
    b"[Core]",
    b"[alias]",
    b"[color \"diff\"]",
    b"[Color \"Diff\"]",
    b"[a.B]",
    b"[a.b.c]",
    b"[a.B \"c\"]",
    b"[ \"sub\"]",
    b"[url \"https://x.example/\"]",
    b"[x \"a\\\"b\\\\c\\td\"]",
    b"[a \t \"s\"]",
    b"[includeIf \"gitdir:~/w/\"]",
    b"[include]",
    b"[a_b]",
    b"[]",
    b"[ core]",
    b"[core ]",
    b"[a \"s\" ]",
    b"[a \"b\" \"c\"]",
    b"[a.\"b\"]",
    b"[a \"x\ny\"]",
    b"[sec-1.x2]",
    b"[a \"\"]",
    b"[a\"b\"]",
    b"[a \"s\\\ny\"]",
    b"[ab",
    b"[a \"b",
    b"[a]x = 1",
    b"[a \"b\"] # c",
];
const KEYS: &[&[u8]] = &[
    b"key",
    b"Key",
    b"name",
    b"a-b",
    b"x1",
    b"path",
    b"k_ey",
    b"1key",
    b"-k",
    b"k\xc3\xa9y",
    b"pager",
    b"ui",
    b"st",
    b"editor",
    b"K",
    b"textconv",
];
const SEPS: &[&[u8]] = &[
    b" = ", b"=", b" =", b"\t=\t", b"", b" ", b" # c", b" ; c", b"  =  ",
];
const VALUES: &[&[u8]] = &[
    b"v",
    b"foo   bar",
    b"\"  q # ; \"",
    b"a\"b c\"d",
    b"x\\n\\t\\b\\\"\\\\y",
    b"foo\\\n   bar",
    b"\"foo\\\n  bar\"",
    b"v ; c",
    b"v # c",
    b"v\\",
    b"\\a",
    b"\"open",
    b"v\x0b\x0c",
    b"v\rw",
    b"",
    b" ",
    b"!sh -c id",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"v\\\r\n w",
    b"\"\" x",
    b"a \\\n",
    b"#",
    b";x",
    b"foo # c \\\nbar",
    b"true",
    b"\"\\x41\"",
    b"%(prefix)/x",
    b"~/y",
];
const EOLS: &[&[u8]] = &[
    b"\n", b"\n", b"\n", b"\r\n", b"\r", b" \n", b"\t\n", b"\n\n",
];
const NOISE: &[&[u8]] = &[
    b"[",
    b"]",
    b"\"",
    b"\\",
    b"#",
    b";",
    b"=",
    b"\n",
    b"\r",
    b"\r\n",
    b"\t",
    b" ",
    b".",
    b"-",
    b"a",
    b"Z",
    b"0",
    b"\x00",
    b"\xef",
    b"\xbb",
    b"\xbf",
    b"\xef\xbb\xbf",
    b"\x0b",
    b"\xc3\xa9",
    b"_",
];

fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.below(20) == 0 {
        out.extend_from_slice(b"\xef\xbb\xbf");
    }
    let lines = 1 + rng.below(12);
    for _ in 0..lines {
        match rng.below(10) {
            0 => out.extend_from_slice(rng.pick(HEADERS)),
            1 => out.extend_from_slice(b"# comment \\"),
            2 => out.extend_from_slice(b"  ; note"),
            _ => {
                if rng.below(3) == 0 {
                    out.push(b'\t');
                }
                out.extend_from_slice(rng.pick(KEYS));
                out.extend_from_slice(rng.pick(SEPS));
                out.extend_from_slice(rng.pick(VALUES));
            }
        }
        out.extend_from_slice(rng.pick(EOLS));
    }
    if rng.below(10) == 0 {
        out.pop();
    }
    out
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = if out.is_empty() {
            0
        } else {
            rng.below(out.len() + 1)
        };
        match rng.below(3) {
            0 => {
                let piece = rng.pick(NOISE);
                out.splice(at..at, piece.iter().copied());
            }
            1 if at < out.len() => {
                out.remove(at);
            }
            _ if at < out.len() => {
                out[at] = rng.pick(NOISE)[0];
            }
            _ => {}
        }
    }
    out
}

/// `git config --file F --list -z`, as (key, value) pairs; `None` when git refuses.
fn git_list(dir: &Path, file: &Path) -> Option<Vec<(String, Option<String>)>> {
    let out = Command::new("git")
        .args(["config", "--file"])
        .arg(file)
        .args(["--list", "-z"])
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CEILING_DIRECTORIES", dir)
        .output()
        .expect("git runs (a test dependency)");
    if !out.status.success() {
        return None;
    }
    let mut entries = Vec::new();
    for rec in out.stdout.split(|b| *b == 0) {
        if rec.is_empty() {
            continue;
        }
        match rec.iter().position(|b| *b == b'\n') {
            Some(nl) => entries.push((
                String::from_utf8_lossy(&rec[..nl]).into_owned(),
                Some(String::from_utf8_lossy(&rec[nl + 1..]).into_owned()),
            )),
            None => entries.push((String::from_utf8_lossy(rec).into_owned(), None)),
        }
    }
    Some(entries)
}

fn ours(content: &[u8]) -> Result<Vec<(String, Option<String>)>, String> {
    parse_git_config(content)
        .map(|e| e.into_iter().map(|e| (e.full_key(), e.value)).collect())
        .map_err(|e| e.to_string())
}

/// A refusal of ours that git does not share, by design (module doc).
fn explained(content: &[u8], git: &[(String, Option<String>)]) -> bool {
    content.contains(&0)
        || git.iter().any(|(k, v)| {
            v.is_none()
                && k.ends_with(".path")
                && (k == "include.path" || k.starts_with("includeif."))
        })
}

#[derive(Default, Debug)]
struct Tally {
    files: usize,
    agree_accept: usize,
    agree_refuse: usize,
    explained: usize,
    bugs: Vec<String>,
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/git");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("seed corpus")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read(p).expect("seed"))
        .collect()
}

fn run(count: usize, seed: u64) -> Tally {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config");
    let seeds = seeds();
    let mut rng = Rng(seed | 1);
    let mut t = Tally::default();
    for i in 0..count {
        let content = if i < seeds.len() {
            seeds[i].clone()
        } else if rng.below(2) == 0 {
            generate(&mut rng)
        } else {
            let s = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, &s)
        };
        std::fs::write(&file, &content).expect("write");
        t.files += 1;
        let git = git_list(dir.path(), &file);
        let mine = ours(&content);
        match (git, mine) {
            (Some(g), Ok(m)) if g == m => t.agree_accept += 1,
            (None, Err(_)) => t.agree_refuse += 1,
            (Some(g), Err(e)) if explained(&content, &g) => {
                let _ = e;
                t.explained += 1;
            }
            (g, m) => {
                if t.bugs.len() < 20 {
                    t.bugs.push(format!(
                        "{:?}\n  git:  {g:?}\n  ours: {m:?}",
                        String::from_utf8_lossy(&content)
                    ));
                } else {
                    t.bugs.push(String::new());
                }
            }
        }
    }
    t
}

fn report(t: &Tally) {
    eprintln!(
        "oracle_git: {} files, {} accepted by both with equal settings, {} refused by both, {} explained (deliberate refusals), {} differences",
        t.files,
        t.agree_accept,
        t.agree_refuse,
        t.explained,
        t.bugs.len()
    );
}

#[test]
fn git_agrees_on_a_bounded_sample() {
    let t = run(400, 0x5eed_0001);
    report(&t);
    assert!(t.agree_accept > 50 && t.agree_refuse > 50, "{t:?}");
    assert!(t.bugs.is_empty(), "{}", t.bugs.join("\n"));
}

#[test]
#[ignore = "long run: ORACLE_GIT_FILES=100000 cargo test --release -p qcs-core --test oracle_git -- --ignored --nocapture"]
fn git_agrees_on_the_long_run() {
    let count: usize = std::env::var("ORACLE_GIT_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let t = run(count, 0x1234_5678_9abc_def1);
    report(&t);
    assert!(t.bugs.is_empty(), "{}", t.bugs.join("\n"));
}

/// Includes, checked separately: git with `--includes` and include targets inside a
/// temp dir inlines the target at the include; the parser reads each file on its
/// own, and the same inlining over its entries must give git's list.
#[test]
fn includes_inline_like_git() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("main");
    let inc = dir.path().join("inc");
    let main_text = b"[a]\n\tx = 1\n[include]\n\tpath = inc\n[a]\n\ty = 2\n[includeIf \"GitDir:/nowhere\"]\n\tpath = inc\n";
    let inc_text = b"[b \"Q\"]\n\tz = 3 # c\n";
    std::fs::write(&main, main_text).expect("write");
    std::fs::write(&inc, inc_text).expect("write");
    let out = Command::new("git")
        .args(["config", "--includes", "--file"])
        .arg(&main)
        .args(["--list", "-z"])
        .current_dir(dir.path())
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(out.status.success());
    let git: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .map(|r| String::from_utf8_lossy(r).replace('\n', "="))
        .collect();
    let m = ours(main_text).expect("main parses");
    let i = ours(inc_text).expect("inc parses");
    let mut inlined = Vec::new();
    for (k, v) in m {
        let include = k == "include.path";
        inlined.push(format!("{k}={}", v.unwrap_or_default()));
        // `includeIf` with an unknown (case-sensitive) condition is never followed.
        if include {
            inlined.extend(
                i.iter()
                    .map(|(k, v)| format!("{k}={}", v.clone().unwrap_or_default())),
            );
        }
    }
    assert_eq!(git, inlined);
}
