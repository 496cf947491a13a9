//! `qvm-config-sync scan` as a process: exit codes, JSON shape, hostile inputs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qvm-config-sync"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run qvm-config-sync")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

#[test]
fn clean_file_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "g", b"[user]\n\tname = Alice\n");
    // git.identity is info: a finding too. A clean gitconfig has no identity keys.
    let f2 = write(dir.path(), "g2", b"[color]\n\tui = auto\n");
    let out = run(&["scan", &f2, "--as", ".gitconfig"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no findings"));
    let out = run(&["scan", &f2, "--as", ".gitconfig", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["findings"], serde_json::json!([]));
    let out = run(&["scan", &f, "--as", ".gitconfig", "--json"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn findings_exit_1_with_the_stable_json_shape() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "cfg",
        "[core]\n\tfsmonitor = /tmp/x\n[user]\n\tname = A\u{202e}B\n".as_bytes(),
    );
    let out = run(&["scan", &f, "--as", ".gitconfig", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    let items = v["findings"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        assert!(item["rule"].is_string());
        assert!(item["message"].is_string());
        // The message also as its template and named arguments (for translation).
        assert!(item["text"]["template"].is_string(), "{item}");
        for arg in item["text"]["args"].as_array().unwrap() {
            assert!(arg["name"].is_string() && arg["value"].is_string());
            assert!(arg["translate"].is_boolean());
        }
        assert!(item["line"].is_u64() || item["line"].is_null());
        let sev = item["severity"].as_str().unwrap();
        assert!(
            ["critical", "high", "medium", "info"].contains(&sev),
            "{sev}"
        );
    }
    let fsmonitor = items
        .iter()
        .find(|i| i["rule"] == "git.core.fsmonitor")
        .unwrap();
    assert_eq!(fsmonitor["severity"], "critical");
    assert_eq!(fsmonitor["line"], 2);
    assert!(
        items
            .iter()
            .any(|i| i["rule"] == "content.bidi" && i["line"] == 4)
    );

    let human = run(&["scan", &f, "--as", ".gitconfig"]);
    assert_eq!(human.status.code(), Some(1));
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(
        text.contains("CRITICAL git.core.fsmonitor (line 2)"),
        "{text}"
    );
    assert!(text.contains("⟦U+202E RLO⟧"), "{text}");
}

#[test]
fn base_reports_removed_protections() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "old", b"[commit]\n\tgpgsign = true\n");
    let new = write(dir.path(), "new", b"[commit]\n\tgpgsign = false\n");
    let out = run(&[
        "scan",
        &new,
        "--as",
        ".gitconfig",
        "--base",
        &base,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    let removed = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["rule"] == "git.signing.removed")
        .cloned()
        .unwrap();
    assert_eq!(removed["side"], "base");
    assert_eq!(removed["line"], 2);
    // Unchanged content against its base: nothing new to review.
    let out = run(&["scan", &base, "--as", ".gitconfig", "--base", &base]);
    assert_eq!(out.status.code(), Some(0));
    // The rendered diff is printed on request.
    let out = run(&[
        "scan",
        &new,
        "--as",
        ".gitconfig",
        "--base",
        &base,
        "--diff",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("@@ -2,1 +2,1 @@"), "{text}");
    assert!(text.contains("gpgsign = false"), "{text}");
}

#[test]
fn errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "f", b"x\n");
    let missing = dir.path().join("missing");
    let cases: Vec<Vec<String>> = vec![
        vec![
            "scan".into(),
            missing.to_str().unwrap().into(),
            "--as".into(),
            ".gitconfig".into(),
        ],
        vec![
            "scan".into(),
            dir.path().to_str().unwrap().into(),
            "--as".into(),
            ".x".into(),
        ],
        vec!["scan".into(), f.clone(), "--as".into(), "../.bashrc".into()],
        vec![
            "scan".into(),
            f.clone(),
            "--as".into(),
            "/etc/passwd".into(),
        ],
        vec!["scan".into(), f.clone(), "--as".into(), "".into()],
        vec!["scan".into(), f.clone(), "--as".into(), "a//b".into()],
        vec![
            "scan".into(),
            f.clone(),
            "--as".into(),
            "~/.gitconfig".into(),
        ],
        vec!["scan".into(), f.clone(), "--as".into(), "a\nb".into()],
        vec!["scan".into(), f.clone()],
        vec![
            "scan".into(),
            f.clone(),
            "--as".into(),
            ".x".into(),
            "--base".into(),
            missing.to_str().unwrap().into(),
        ],
        vec!["frobnicate".into()],
    ];
    for args in cases {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&refs);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} printed no error");
    }
}

#[test]
fn file_over_the_limit_is_refused_and_one_at_the_limit_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 1024 * 1024;
    let mut big = b"[core]\n\tpager = less\n".to_vec();
    big.resize(limit, b'#');
    let at = write(dir.path(), "at", &big);
    let out = run(&["scan", &at, "--as", ".gitconfig", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    big.push(b'\n');
    let over = write(dir.path(), "over", &big);
    let out = run(&["scan", &over, "--as", ".gitconfig"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("over the limit"));
}

#[test]
fn fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let out = run(&["scan", fifo.to_str().unwrap(), "--as", ".x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn symlink_is_reported_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(
        dir.path(),
        "secret",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n",
    );
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let out = run(&["scan", link.to_str().unwrap(), "--as", "notes/x", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    let rules: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["rule"].as_str())
        .collect();
    assert!(rules.contains(&"meta.link"), "{rules:?}");
    assert!(
        !rules.contains(&"content.private-key"),
        "followed the link: {rules:?}"
    );
}

#[test]
fn hostile_content_never_reaches_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    let mut hostile = b"[user]\n\tname = \x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m\r".to_vec();
    hostile.extend_from_slice("\u{202e}\u{2066}\u{200b}\u{e0041}\u{fe0f}\u{a0}\n".as_bytes());
    hostile.extend_from_slice(b"\tpager = x\xff\xfe\x00\x08\n");
    let f = write(dir.path(), "h", &hostile);
    let name = format!("{}\u{202e}", dir.path().join("h").display());
    std::fs::rename(&f, &name).unwrap();
    for colour in ["never", "always"] {
        let out = run(&["scan", &name, "--as", ".gitconfig", "--color", colour]);
        assert_eq!(out.status.code(), Some(1));
        let mut text = String::from_utf8(out.stdout).expect("output is UTF-8");
        for sgr in qcs_core::render::terminal::SGR {
            text = text.replace(sgr, "");
        }
        for c in text.chars() {
            let u = c as u32;
            assert!(
                !((u < 0x20 && c != '\n') || (0x7f..=0x9f).contains(&u)),
                "control U+{u:04X} in output"
            );
            assert!(
                !matches!(u, 0x202a..=0x202e | 0x2066..=0x2069 | 0x200b..=0x200f | 0xa0 | 0xfe0f)
                    && !(0xe0000..=0xe007f).contains(&u),
                "hidden U+{u:04X} in output"
            );
        }
    }
    // The error path escapes the file name too.
    let missing = format!("{}/nope\u{1b}[2J", dir.path().display());
    let out = run(&["scan", &missing, "--as", ".x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.contains(&0x1b));
}
