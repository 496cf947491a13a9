//! Differential test against qrexec's own policy engine (QubesOS/qubes-core-qrexec), run on
//! demand: random policies (valid and broken, several files, includes) and random requests are
//! decided by both, and every answer and every syntax error must be identical.
//!
//! ```text
//! QREXEC_REFERENCE=/path/to/qubes-core-qrexec cargo test -p qrexec --test differential -- --ignored
//! ```
//! needs `python3` and a checkout of qubes-core-qrexec (only its `qrexec/` package is imported;
//! nothing of it is copied here). `QREXEC_DIFF_ROUNDS` sets the number of policies (default 200).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use qrexec::{Policy, SystemInfo, split_service_call};
use std::fmt::Write as _;
use std::process::Command;

/// Loads a policy directory with qrexec's FilePolicy and answers requests (one per line:
/// CALL\tSOURCE\tTARGET) in qubes-policy-eval's output format.
const REFERENCE_DRIVER: &str = r#"
import sys, json, pathlib, logging
sys.path.insert(0, sys.argv[1]); logging.disable(logging.CRITICAL)
from qrexec.policy.parser import FilePolicy, Request, AskResolution
from qrexec.exc import AccessDenied, PolicySyntaxError
si = json.load(open(sys.argv[3]))
for name, d in list(si["domains"].items()):
    d["name"] = name
    if d.get("uuid"): si["domains"]["uuid:" + d["uuid"]] = d
try:
    pol = FilePolicy(policy_path=pathlib.Path(sys.argv[2]))
except AccessDenied as e:
    print("ERROR " + str(e)); sys.exit(0)
for line in open(sys.argv[4]):
    call, src, tgt = line.rstrip("\n").split("\t")
    svc, arg = (call.split("+", 1)[0], "+" + call.split("+", 1)[1]) if "+" in call else (call, "+")
    try:
        res = pol.evaluate(Request(svc, arg, src, tgt, system_info=si))
        if isinstance(res, AskResolution):
            out = "ask targets=" + ",".join(sorted(res.targets_for_ask))
            if res.default_target: out += " default_target=" + res.default_target
        else:
            out = "allow target=" + str(res.target)
    except Exception:
        out = "deny"
    print(out)
"#;

const SYSTEM: &str = r#"{"domains": {
 "dom0": {"type": "AdminVM", "tags": [], "template_for_dispvms": false, "default_dispvm": "dvm", "power_state": "Running", "uuid": "00000000-0000-0000-0000-000000000000"},
 "mgr": {"type": "AppVM", "tags": ["m"], "template_for_dispvms": false, "default_dispvm": "dvm", "power_state": "Running", "uuid": "11111111-1111-1111-1111-111111111111"},
 "work": {"type": "AppVM", "tags": ["t", "x"], "template_for_dispvms": false, "default_dispvm": "dvm", "power_state": "Running", "uuid": "22222222-2222-2222-2222-222222222222"},
 "vault": {"type": "AppVM", "tags": ["t"], "template_for_dispvms": false, "default_dispvm": null, "power_state": "Halted", "uuid": "33333333-3333-3333-3333-333333333333"},
 "dvm": {"type": "AppVM", "tags": ["d"], "template_for_dispvms": true, "default_dispvm": "dvm", "power_state": "Halted", "uuid": "44444444-4444-4444-4444-444444444444"},
 "dvm2": {"type": "AppVM", "tags": [], "template_for_dispvms": true, "default_dispvm": "dvm", "power_state": "Running", "uuid": "55555555-5555-5555-5555-555555555555"},
 "tpl": {"type": "TemplateVM", "tags": ["t"], "template_for_dispvms": false, "default_dispvm": null, "power_state": "Halted", "uuid": "66666666-6666-6666-6666-666666666666"}
}}"#;

/// xorshift64*, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64Star as Rng;

const NAMES: &[&str] = &[
    "dom0",
    "mgr",
    "work",
    "vault",
    "dvm",
    "dvm2",
    "tpl",
    "nosuch",
    "uuid:22222222-2222-2222-2222-222222222222",
    "uuid:00000000-0000-0000-0000-000000000000",
];
const KEYWORDS: &[&str] = &[
    "*",
    "@adminvm",
    "@anyvm",
    "@default",
    "@dispvm",
    "@dispvm:dvm",
    "@dispvm:work",
    "@dispvm:@tag:d",
    "@tag:t",
    "@tag:x",
    "@type:AppVM",
    "@type:TemplateVM",
    "@type:AdminVM",
];
const BROKEN_TOKENS: &[&str] = &["@tag:", "@bogus", "@dispvm:", "@dispvm:@x", ""];

fn token(rng: &mut Rng, broken: bool) -> String {
    if broken && rng.chance(15) {
        return rng.pick(BROKEN_TOKENS).to_owned();
    }
    if rng.chance(50) {
        rng.pick(NAMES).to_owned()
    } else {
        rng.pick(KEYWORDS).to_owned()
    }
}

fn rule(rng: &mut Rng, broken: bool, columns: usize) -> String {
    let action = if broken && rng.chance(5) {
        "alow"
    } else {
        rng.pick(&["allow", "deny", "ask"])
    };
    let mut params = Vec::new();
    for _ in 0..rng.below(4) {
        let keys: &[&str] = match action {
            "allow" => &["target", "user", "notify", "autostart"],
            "ask" => &["target", "default_target", "user", "notify", "autostart"],
            _ => &["notify"],
        };
        let key = if broken && rng.chance(5) {
            "bogus"
        } else {
            rng.pick(keys)
        };
        let value = match key {
            "notify" | "autostart" => rng
                .pick(if broken {
                    &["yes", "no", "1"]
                } else {
                    &["yes", "no"]
                })
                .to_owned(),
            "user" => rng.pick(&["root", "user"]).to_owned(),
            _ => token(rng, broken),
        };
        params.push(format!("{key}={value}"));
    }
    // sources biased towards the callers the requests use, so rules match often
    let source = if rng.chance(50) {
        rng.pick(&["mgr", "work", "vault", "dvm", "tpl", "@anyvm", "@tag:t"])
            .to_owned()
    } else {
        token(rng, broken)
    };
    let mut fields = vec![source, token(rng, broken), action.to_owned()];
    if !broken {
        // keep most valid: redirects must be redirect tokens, no duplicate keys
        let mut seen = Vec::new();
        params.retain(|p| {
            let (k, v) = p.split_once('=').unwrap();
            let ok = !seen.contains(&k.to_owned())
                && (!k.contains("target")
                    || (!v.is_empty()
                        && !["*", "@anyvm", "@default"].contains(&v)
                        && !v.starts_with("@t")
                        && !v.starts_with("@dispvm:@")));
            seen.push(k.to_owned());
            ok
        });
        if fields[0].is_empty()
            || fields[0] == "@default"
            || fields[0] == "@dispvm"
            || fields[0].starts_with("@dispvm:@t") && rng.chance(50)
        {
            fields[0] = "work".into();
        }
        if fields[1] == "@default"
            && action == "allow"
            && !params.iter().any(|p| p.starts_with("target="))
        {
            params.push("target=vault".into());
        }
    }
    fields.retain(|f| !f.is_empty() || broken);
    fields.extend(params);
    if columns == 5 {
        let service = rng.pick(if broken {
            &["t.A", "t.B", "*", "t/x"]
        } else {
            &["t.A", "t.B", "*"]
        });
        let arg = if service == "*" && !broken {
            "*"
        } else {
            rng.pick(&["*", "+", "+a", "+b", "a"][..if broken { 5 } else { 4 }])
        };
        let mut line = vec![service.to_owned(), arg.to_owned()];
        line.extend(fields);
        line.join(" ")
    } else {
        fields.join(" ")
    }
}

fn write_policy(rng: &mut Rng, dir: &std::path::Path) {
    let broken = rng.chance(25);
    std::fs::create_dir_all(dir.join("include")).unwrap();
    for name in ["10-a.policy", "20-b.policy", "30-c.policy"] {
        let mut text = String::new();
        for _ in 0..rng.below(5) {
            let bad = broken && rng.chance(20);
            let _ = writeln!(text, "{}", rule(rng, bad, 5));
        }
        if rng.chance(30) {
            text.push_str("!include include/inc\n");
        }
        if rng.chance(30) {
            let _ = writeln!(
                text,
                "!include-service {} include/svc",
                rng.pick(&["t.A +a", "t.B *", "t.A *"])
            );
        }
        std::fs::write(dir.join(name), text).unwrap();
    }
    let inc: String = (0..rng.below(3))
        .map(|_| {
            let bad = broken && rng.chance(20);
            rule(rng, bad, 5) + "\n"
        })
        .collect();
    std::fs::write(dir.join("include/inc"), inc).unwrap();
    let svc: String = (0..rng.below(3))
        .map(|_| {
            let bad = broken && rng.chance(20);
            rule(rng, bad, 3).replace('@', "$") + "\n"
        })
        .collect();
    std::fs::write(dir.join("include/svc"), svc).unwrap();
    if broken && rng.chance(10) {
        std::fs::write(dir.join("40-Bad.policy"), "").unwrap();
    }
}

#[test]
#[ignore = "needs python3 and QREXEC_REFERENCE=<qubes-core-qrexec checkout>"]
fn decisions_and_errors_match_qrexecs_own_engine() {
    let reference = std::env::var("QREXEC_REFERENCE").expect("set QREXEC_REFERENCE");
    let rounds: usize = std::env::var("QREXEC_DIFF_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let work = tempfile::tempdir().unwrap();
    let driver = work.path().join("driver.py");
    std::fs::write(&driver, REFERENCE_DRIVER).unwrap();
    let si_path = work.path().join("si.json");
    std::fs::write(&si_path, SYSTEM).unwrap();
    let system: SystemInfo = SystemInfo::from_json(SYSTEM).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut decisions, mut errors) = (0, 0);
    let mut mismatches = Vec::new();
    for round in 0..rounds {
        let dir = work.path().join(format!("p{round}"));
        write_policy(&mut rng, &dir);
        let requests: Vec<(String, String, String)> = (0..60)
            .map(|_| {
                let call = format!(
                    "{}{}",
                    rng.pick(&["t.A", "t.B", "t.C"]),
                    rng.pick(&["", "+", "+a", "+b"])
                );
                let source = rng
                    .pick(&[
                        "mgr",
                        "work",
                        "vault",
                        "dvm",
                        "tpl",
                        "uuid:22222222-2222-2222-2222-222222222222",
                    ])
                    .to_owned();
                let target = rng
                    .pick(&[
                        "dom0",
                        "mgr",
                        "work",
                        "vault",
                        "dvm",
                        "tpl",
                        "nosuch",
                        "@default",
                        "@dispvm",
                        "@dispvm:dvm",
                        "@dispvm:dvm2",
                        "@dispvm:work",
                        "@adminvm",
                        "",
                        "*",
                    ])
                    .to_owned();
                (call, source, target)
            })
            .collect();
        let req_path = work.path().join(format!("p{round}.req"));
        let req_text: String = requests
            .iter()
            .map(|(c, s, t)| format!("{c}\t{s}\t{t}\n"))
            .collect();
        std::fs::write(&req_path, req_text).unwrap();
        let out = Command::new("python3")
            .args([
                driver.as_os_str(),
                reference.as_ref(),
                dir.as_os_str(),
                si_path.as_os_str(),
                req_path.as_os_str(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = String::from_utf8(out.stdout).unwrap();
        match Policy::load_dir(&dir) {
            Err(e) => {
                errors += 1;
                let want = expected
                    .lines()
                    .next()
                    .unwrap_or("")
                    .strip_prefix("ERROR ")
                    .map(str::to_owned);
                if want.as_deref() != Some(e.to_string().as_str()) {
                    mismatches.push(format!("round {round}: error {e} vs reference {expected}"));
                }
            }
            Ok(policy) => {
                for ((call, source, target), want) in requests.iter().zip(expected.lines()) {
                    decisions += 1;
                    let (service, arg) = split_service_call(call);
                    let got = policy
                        .evaluate(&system, service, &arg, source, target)
                        .summary();
                    if got != want {
                        mismatches.push(format!("round {round}: {call} {source} -> {target:?}: {got} vs reference {want}"));
                    }
                }
            }
        }
    }
    println!(
        "{rounds} policies, {decisions} decisions, {errors} refused policies, {} mismatches",
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
