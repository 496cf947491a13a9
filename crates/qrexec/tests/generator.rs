//! The generator: whitelist in, per-profile policy out; the output round-trips through the
//! parser and evaluates as intended; names that could smuggle policy syntax are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;
use common::*;
use qrexec::trust::{GENERATED_POLICY_FILE, SERVICE_APPLY, SERVICE_PROPOSE};
use qrexec::{
    GeneratorError, Policy, ProposeAction, Severity, Whitelist, generate_profile_policy,
    generate_profile_policy_with,
};

fn wl(config: &str, assigned: &[(&str, &str)], propose: &[(&str, &str)]) -> Whitelist {
    let set = |l: &[(&str, &str)]| l.iter().map(|(q, p)| ((*q).into(), (*p).into())).collect();
    Whitelist {
        config_qube: config.into(),
        assigned: set(assigned),
        may_propose: set(propose),
    }
}

fn parse(text: &str) -> Policy {
    Policy::from_files(&[(GENERATED_POLICY_FILE.to_owned(), text.to_owned())])
        .unwrap_or_else(|e| panic!("generated policy refused: {e}\n{text}"))
}

#[test]
fn output_is_exact_and_deterministic() {
    let w = wl(
        "config-mgr",
        &[("work", "ssh"), ("work", "git")],
        &[("vault", "vim"), ("work", "git")],
    );
    let text = generate_profile_policy(&w).unwrap();
    let rules: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        rules,
        [
            "qubes.ConfigPropose\t+vim\tvault\t@default\task target=config-mgr default_target=config-mgr",
            "qubes.ConfigPropose\t+vim\tvault\tconfig-mgr\task target=config-mgr default_target=config-mgr",
            "qubes.ConfigApply\t+git\t@tag:qubes-config-sync-manager\twork\tallow autostart=no",
            "qubes.ConfigApply\t+ssh\t@tag:qubes-config-sync-manager\twork\tallow autostart=no",
            "qubes.ConfigApply\t*\t@tag:qubes-config-sync-manager\twork\tdeny",
            "qubes.ConfigPropose\t+git\twork\t@default\task target=config-mgr default_target=config-mgr",
            "qubes.ConfigPropose\t+git\twork\tconfig-mgr\task target=config-mgr default_target=config-mgr",
        ]
    );
    assert_eq!(generate_profile_policy(&w).unwrap(), text);
    assert!(text.starts_with(&format!("# {GENERATED_POLICY_FILE}: GENERATED")));
}

#[test]
fn output_round_trips_and_evaluates_as_intended() {
    let w = wl(
        "config-mgr",
        &[("work", "git"), ("personal", "git")],
        &[("work", "git"), ("work", "ssh"), ("vault", "vim")],
    );
    let p = parse(&generate_profile_policy(&w).unwrap());
    assert_eq!(p.rules().len(), 2 + 2 + 3 * 2);
    let s = system();
    let eval =
        |svc: &str, arg: &str, src: &str, tgt: &str| p.evaluate(&s, svc, arg, src, tgt).summary();
    let ask = "ask targets=config-mgr default_target=config-mgr";
    for (src, arg) in [("work", "+git"), ("work", "+ssh"), ("vault", "+vim")] {
        for tgt in ["@default", "config-mgr", "nosuchvm", ""] {
            assert_eq!(
                eval(SERVICE_PROPOSE, arg, src, tgt),
                ask,
                "{src}{arg}->{tgt}"
            );
        }
        for tgt in ["personal", "untrusted", "dom0", "@dispvm", "@adminvm"] {
            assert_eq!(
                eval(SERVICE_PROPOSE, arg, src, tgt),
                "deny",
                "{src}{arg}->{tgt}"
            );
        }
    }
    for (src, arg) in [
        ("work", "+vim"),
        ("vault", "+git"),
        ("personal", "+git"),
        ("untrusted", "+git"),
    ] {
        assert_eq!(
            eval(SERVICE_PROPOSE, arg, src, "@default"),
            "deny",
            "{src}{arg}"
        );
    }
    assert_eq!(
        eval(SERVICE_APPLY, "+git", "config-mgr", "work"),
        "allow target=work"
    );
    assert_eq!(eval(SERVICE_APPLY, "+ssh", "config-mgr", "work"), "deny");
    assert_eq!(eval(SERVICE_APPLY, "+git", "work", "personal"), "deny");
    // alone (without the static file) the generated rules grant nothing else
    let report = qrexec::check(&p, Some(&s));
    assert!(report.findings.is_empty(), "{}", qrexec::render(&report));
}

#[test]
fn an_empty_whitelist_grants_nothing() {
    let text = generate_profile_policy(&wl("config-mgr", &[], &[])).unwrap();
    assert!(parse(&text).rules().is_empty());
}

#[test]
fn allow_mode_skips_the_prompt_but_still_reaches_only_the_config_qube() {
    let w = wl("config-mgr", &[], &[("work", "git")]);
    let p = parse(&generate_profile_policy_with(&w, ProposeAction::Allow).unwrap());
    let s = system();
    assert_eq!(
        p.evaluate(&s, SERVICE_PROPOSE, "+git", "work", "@default")
            .summary(),
        "allow target=config-mgr"
    );
    assert_eq!(
        p.evaluate(&s, SERVICE_PROPOSE, "+git", "work", "personal")
            .summary(),
        "deny"
    );
    let report = qrexec::check(&p, Some(&s));
    assert!(!report.has_over_grants(), "{}", qrexec::render(&report));
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.message.contains("without a prompt"))
    );
}

#[test]
fn names_that_could_inject_policy_are_refused() {
    let injections = [
        "work\tdeny\n* * @anyvm @anyvm allow",
        "work allow",
        "@anyvm",
        "*",
        "work#",
        "1work",
        "dom0",
        "",
        "averyveryveryveryverylongqubename",
    ];
    for bad in injections {
        assert_eq!(
            generate_profile_policy(&wl("config-mgr", &[(bad, "git")], &[])),
            Err(GeneratorError::InvalidQubeName(bad.into())),
            "{bad:?}"
        );
        assert_eq!(
            generate_profile_policy(&wl("config-mgr", &[], &[(bad, "git")])),
            Err(GeneratorError::InvalidQubeName(bad.into())),
        );
        assert_eq!(
            generate_profile_policy(&wl(bad, &[], &[("work", "git")])),
            Err(GeneratorError::InvalidQubeName(bad.into())),
        );
    }
    for bad in [
        "git\n* * @anyvm @anyvm allow",
        "git *",
        "Git",
        "-git",
        "../git",
        "git+x",
        "",
    ] {
        assert_eq!(
            generate_profile_policy(&wl("config-mgr", &[], &[("work", bad)])),
            Err(GeneratorError::InvalidProfileId(bad.into())),
            "{bad:?}"
        );
    }
    assert_eq!(
        generate_profile_policy(&wl("config-mgr", &[], &[("config-mgr", "git")])),
        Err(GeneratorError::ConfigQubeInWhitelist("config-mgr".into()))
    );
}

#[test]
fn a_large_whitelist_parses() {
    let qubes: Vec<String> = (0..150).map(|i| format!("qube-{i:03}")).collect();
    let profiles: Vec<String> = (0..20).map(|i| format!("profile-{i}")).collect();
    let mut w = wl("config-mgr", &[], &[]);
    for q in &qubes {
        for p in &profiles {
            w.assigned.insert((q.clone(), p.clone()));
            w.may_propose.insert((q.clone(), p.clone()));
        }
    }
    let p = parse(&generate_profile_policy(&w).unwrap());
    assert_eq!(p.rules().len(), 150 * (20 + 1 + 20 * 2));
}
