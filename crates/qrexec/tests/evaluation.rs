//! Evaluation tables: what qrexec decides for each kind of rule and request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;
use common::*;
use qrexec::Resolution;

fn eval(text: &str, call: &str, source: &str, target: &str) -> String {
    let (service, arg) = qrexec::split_service_call(call);
    policy(text)
        .evaluate(&system(), service, &arg, source, target)
        .summary()
}

#[test]
fn first_match_wins_and_no_match_denies() {
    let p = "test.Svc * work personal deny\n\
             test.Svc * work personal allow\n\
             test.Svc * work vault allow\n";
    assert_eq!(eval(p, "test.Svc", "work", "personal"), "deny");
    assert_eq!(eval(p, "test.Svc", "work", "vault"), "allow target=vault");
    assert_eq!(eval(p, "test.Svc", "work", "untrusted"), "deny");
    assert_eq!(eval(p, "test.Other", "work", "vault"), "deny");
}

#[test]
fn unknown_target_is_treated_as_default() {
    // golden qrexec.md 1d: "target 'nosuchvm' does not exist, using @default instead"
    let p = "test.Dump * config-mgr @default allow target=work\n";
    assert_eq!(
        eval(p, "test.Dump", "config-mgr", "nosuchvm"),
        "allow target=work"
    );
    assert_eq!(eval(p, "test.Dump", "config-mgr", ""), "allow target=work");
    assert_eq!(
        eval(p, "test.Dump", "config-mgr", "@default"),
        "allow target=work"
    );
    assert_eq!(eval(p, "test.Dump", "config-mgr", "work"), "deny");
}

#[test]
fn anyvm_matches_default_and_dispvm_requests_but_not_dom0() {
    let p = "test.Svc * @anyvm @anyvm allow\n";
    assert_eq!(
        eval(p, "test.Svc", "work", "@dispvm"),
        "allow target=@dispvm:default-dvm"
    );
    assert_eq!(
        eval(p, "test.Svc", "work", "@dispvm:default-dvm"),
        "allow target=@dispvm:default-dvm"
    );
    // matches, but allow without a target fails
    assert_eq!(eval(p, "test.Svc", "work", "@default"), "deny");
    assert_eq!(eval(p, "test.Svc", "work", "dom0"), "deny");
    assert_eq!(eval(p, "test.Svc", "work", "@adminvm"), "deny");
    assert_eq!(eval(p, "test.Svc", "dom0", "work"), "deny");
    // vault has no default_dispvm
    assert_eq!(eval(p, "test.Svc", "vault", "@dispvm"), "deny");
}

#[test]
fn arguments_match_exactly() {
    let p = "test.Svc +git work config-mgr allow\n\
             test.Svc + work config-mgr ask\n";
    assert_eq!(
        eval(p, "test.Svc+git", "work", "config-mgr"),
        "allow target=config-mgr"
    );
    assert_eq!(eval(p, "test.Svc+gitx", "work", "config-mgr"), "deny");
    assert_eq!(
        eval(p, "test.Svc", "work", "config-mgr"),
        "ask targets=config-mgr"
    );
    assert_eq!(
        eval(p, "test.Svc+", "work", "config-mgr"),
        "ask targets=config-mgr"
    );
}

#[test]
fn tags_types_and_adminvm() {
    let p = "admin.vm.List * @tag:qubes-config-sync-manager @adminvm allow target=dom0\n\
             admin.vm.List * @tag:qubes-config-sync-manager @tag:qubes-config-sync-managed allow target=dom0\n\
             test.T * @type:AppVM @type:TemplateVM allow\n";
    assert_eq!(
        eval(p, "admin.vm.List", "config-mgr", "dom0"),
        "allow target=dom0"
    );
    assert_eq!(
        eval(p, "admin.vm.List", "config-mgr", "@adminvm"),
        "allow target=dom0"
    );
    assert_eq!(
        eval(p, "admin.vm.List", "config-mgr", "work"),
        "allow target=dom0"
    );
    assert_eq!(eval(p, "admin.vm.List", "config-mgr", "untrusted"), "deny");
    assert_eq!(eval(p, "admin.vm.List", "work", "dom0"), "deny");
    assert_eq!(
        eval(p, "test.T", "work", "fedora-42"),
        "allow target=fedora-42"
    );
    assert_eq!(eval(p, "test.T", "work", "untrusted"), "deny");
}

#[test]
fn ask_collects_targets_and_default() {
    let p = "test.P * @anyvm config-mgr deny\n\
             test.P * @tag:qubes-config-sync-managed @anyvm ask default_target=config-mgr\n";
    // config-mgr removed by the deny rule above the ask rule... but it's evaluated in reverse,
    // so the deny (earlier) removes it from the final set
    let r = eval(p, "test.P", "work", "@default");
    assert!(r.starts_with("ask targets="), "{r}");
    assert!(!r.contains("config-mgr"), "{r}");
    assert!(!r.contains("dom0"), "{r}");
    assert!(
        !r.contains("work,") && !r.ends_with("=work"),
        "the caller is never offered: {r}"
    );
    assert!(r.contains("@dispvm:default-dvm"), "{r}");
}

#[test]
fn ask_with_target_offers_only_that_target() {
    let p = "test.P +git @tag:qubes-config-sync-managed @default ask target=config-mgr default_target=config-mgr\n";
    assert_eq!(
        eval(p, "test.P+git", "work", "@default"),
        "ask targets=config-mgr default_target=config-mgr"
    );
    assert_eq!(
        eval(p, "test.P+git", "work", "nosuchvm"),
        "ask targets=config-mgr default_target=config-mgr"
    );
}

#[test]
fn autostart_no_requires_running_target() {
    let p = "test.S * config-mgr @anyvm allow autostart=no\n";
    assert_eq!(eval(p, "test.S", "config-mgr", "work"), "allow target=work");
    assert_eq!(eval(p, "test.S", "config-mgr", "personal"), "deny");
    assert_eq!(eval(p, "test.S", "config-mgr", "@dispvm"), "deny");
}

#[test]
fn deny_carries_rule_and_notify() {
    let pol = policy("test.S * work vault deny notify=no\n");
    match pol.evaluate(&system(), "test.S", "+", "work", "vault") {
        Resolution::Deny {
            notify,
            rule: Some(rule),
        } => {
            assert!(!notify);
            assert_eq!(rule.file, "30-test.policy");
            assert_eq!(rule.line, 1);
            assert_eq!(rule.text, "test.S * work vault deny notify=no");
        }
        other => panic!("{other:?}"),
    }
    match pol.evaluate(&system(), "test.X", "", "work", "vault") {
        Resolution::Deny { notify, rule: None } => assert!(notify),
        other => panic!("{other:?}"),
    }
}
