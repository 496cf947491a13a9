//! `qubes-policy-eval`: output format and exit codes of the stable interface.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_qubes-policy-eval");

/// System info as qubesd's internal.GetSystemInfo returns it (with keys we ignore).
const SYSTEM_INFO: &str = r#"{"domains": {
  "dom0": {"tags": [], "type": "AdminVM", "template_for_dispvms": false, "default_dispvm": "default-dvm",
           "icon": "adminvm-black", "label": "black", "guivm": null, "relayvm": null, "transport_rpc": null,
           "power_state": "Running", "uuid": "00000000-0000-0000-0000-000000000000", "internal": null},
  "mgmt": {"tags": ["qubes-config-sync-manager"], "type": "AppVM", "template_for_dispvms": false,
           "default_dispvm": "default-dvm", "icon": "appvm-red", "label": "red", "guivm": "dom0",
           "power_state": "Running", "uuid": "5c0e1b3a-0000-4000-8000-000000000001"},
  "work": {"tags": ["qubes-config-sync-managed"], "type": "AppVM", "template_for_dispvms": false,
           "default_dispvm": "default-dvm", "icon": "appvm-blue", "label": "blue", "guivm": "dom0",
           "power_state": "Halted", "uuid": "5c0e1b3a-0000-4000-8000-000000000002"},
  "vault": {"tags": ["qubes-config-sync-managed"], "type": "AppVM", "template_for_dispvms": false,
           "default_dispvm": null, "icon": "appvm-black", "label": "black", "guivm": "dom0",
           "power_state": "Halted", "uuid": "5c0e1b3a-0000-4000-8000-000000000003"},
  "default-dvm": {"tags": [], "type": "AppVM", "template_for_dispvms": true, "default_dispvm": "default-dvm",
           "icon": "dispvm-red", "label": "red", "guivm": "dom0", "power_state": "Halted",
           "uuid": "5c0e1b3a-0000-4000-8000-000000000004"}
}}"#;

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(policy: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policy.d")).unwrap();
        std::fs::write(dir.path().join("policy.d/30-test.policy"), policy).unwrap();
        std::fs::write(dir.path().join("si.json"), SYSTEM_INFO).unwrap();
        Setup { dir }
    }
    fn policy_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("policy.d")
    }
    fn eval(&self, call: &str, source: &str, target: &str) -> Output {
        run(&[
            "--policy-dir",
            self.policy_dir().to_str().unwrap(),
            "--system-info",
            self.dir.path().join("si.json").to_str().unwrap(),
            call,
            source,
            target,
        ])
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

fn assert_decision(out: &Output, line: &str) {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{line}\n"));
}

#[test]
fn prints_allow_ask_or_deny_on_one_line() {
    let s = Setup::new(
        "test.A * mgmt work allow\n\
         test.A * mgmt @default allow target=work\n\
         test.B +x mgmt @default ask default_target=vault\n\
         test.B +x mgmt @tag:qubes-config-sync-managed ask\n\
         test.C * mgmt @anyvm ask\n\
         test.D * mgmt vault deny\n",
    );
    assert_decision(&s.eval("test.A", "mgmt", "work"), "allow target=work");
    assert_decision(
        &s.eval("test.A+anything", "mgmt", "nosuchvm"),
        "allow target=work",
    );
    assert_decision(
        &s.eval("test.B+x", "mgmt", "@default"),
        "ask targets=vault,work default_target=vault",
    );
    // no default_target: the field is left out
    assert_decision(
        &s.eval("test.C", "mgmt", "work"),
        "ask targets=@dispvm:default-dvm,default-dvm,vault,work",
    );
    assert_decision(&s.eval("test.D", "mgmt", "vault"), "deny");
    assert_decision(&s.eval("test.Undefined", "mgmt", "work"), "deny");
    assert_decision(&s.eval("test.B+y", "mgmt", "@default"), "deny");
    // empty target is @default
    assert_decision(&s.eval("test.A", "mgmt", ""), "allow target=work");
    assert_decision(&s.eval("test.A", "mgmt", "@dispvm"), "deny");
}

#[test]
fn a_syntax_error_prints_file_line_message_and_exits_2() {
    let s = Setup::new("test.A * mgmt work allow\n\ntest.A * mgmt work allow target=@anyvm\n");
    let out = s.eval("test.A", "mgmt", "work");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    let file = s.policy_dir().join("30-test.policy").display().to_string();
    assert_eq!(
        text(&out.stderr),
        format!("{file}:3: invalid redirect token: '@anyvm'\n")
    );
}

#[test]
fn an_invalid_policy_file_name_exits_2() {
    let s = Setup::new("test.A * mgmt work allow\n");
    std::fs::write(s.policy_dir().join("40-Bad.policy"), "").unwrap();
    let out = s.eval("test.A", "mgmt", "work");
    assert_eq!(out.status.code(), Some(2));
    let bad = s.policy_dir().join("40-Bad.policy").display().to_string();
    assert_eq!(text(&out.stderr), format!("invalid filename: {bad}\n"));
}

#[test]
fn other_errors_exit_1_with_a_message() {
    let s = Setup::new("test.A * mgmt work allow\n");
    let dir = s.policy_dir();
    let dir = dir.to_str().unwrap();
    let missing = run(&[
        "--policy-dir",
        dir,
        "--system-info",
        "/nonexistent/si.json",
        "test.A",
        "mgmt",
        "work",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("cannot read system info /nonexistent/si.json"),
        "{}",
        text(&missing.stderr)
    );
    assert_eq!(text(&missing.stdout), "");

    for bad_json in ["{", "{\"domains\": {\"x\": {\"tags\": []}}}", "[]"] {
        let path = s.dir.path().join("bad.json");
        std::fs::write(&path, bad_json).unwrap();
        let out = run(&[
            "--policy-dir",
            dir,
            "--system-info",
            path.to_str().unwrap(),
            "test.A",
            "mgmt",
            "work",
        ]);
        assert_eq!(out.status.code(), Some(1), "{bad_json}");
        assert!(
            text(&out.stderr).contains("invalid system info JSON"),
            "{}",
            text(&out.stderr)
        );
    }

    let si = s.dir.path().join("si.json");
    let out = run(&[
        "--policy-dir",
        "/nonexistent/policy.d",
        "--system-info",
        si.to_str().unwrap(),
        "test.A",
        "mgmt",
        "work",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/policy.d"));

    std::fs::write(Path::new(dir).join("50-bin.policy"), b"\xff\n").unwrap();
    let out = s.eval("test.A", "mgmt", "work");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not valid UTF-8"));
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    let out = run(&["--policy-dir", "/tmp", "test.A", "mgmt"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    let out = run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(64));
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--system-info"));
}

#[test]
fn check_exits_0_when_clean_and_3_on_over_grants() {
    let s = Setup::new("");
    common::copy_tree(&common::shipped_policy_dir(), &s.policy_dir());
    let si = s.dir.path().join("si.json");
    // Our services carry autostart=no: only a running target is reachable (a halted
    // one is refused and so not in the table), so work runs here.
    let running_work = SYSTEM_INFO.replacen(
        r#""power_state": "Halted", "uuid": "5c0e1b3a-0000-4000-8000-000000000002""#,
        r#""power_state": "Running", "uuid": "5c0e1b3a-0000-4000-8000-000000000002""#,
        1,
    );
    assert_ne!(running_work, SYSTEM_INFO);
    std::fs::write(&si, running_work).unwrap();
    let args = |with_si: bool| {
        let mut v = vec![
            "check".to_owned(),
            "--policy-dir".into(),
            s.policy_dir().display().to_string(),
        ];
        if with_si {
            v.extend(["--system-info".to_owned(), si.display().to_string()]);
        }
        v
    };
    for with_si in [true, false] {
        let a = args(with_si);
        let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("No grant exceeds the qubes-config-sync trust model."),
            "{stdout}"
        );
        if with_si {
            assert!(
                stdout.lines().any(|l| l.starts_with("mgmt ")
                    && l.contains("qubes.ConfigApply+*")
                    && l.contains("allow target=work")),
                "{stdout}"
            );
        }
    }
    std::fs::write(
        s.policy_dir().join("30-test.policy"),
        "qubes.ConfigApply * @tag:qubes-config-sync-managed @anyvm allow\n",
    )
    .unwrap();
    let a = args(true);
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stdout).contains("OVER-GRANT: work is not the config qube"),
        "{}",
        text(&out.stdout)
    );

    std::fs::write(s.policy_dir().join("30-test.policy"), "nonsense\n").unwrap();
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).ends_with("30-test.policy:1: wrong number of fields\n"));
}
