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

#[test]
fn ask_answers_and_loopback() {
    let pol =
        policy("test.P * work @anyvm ask default_target=vault user=root notify=yes autostart=no\n");
    let ask = pol.evaluate(&system(), "test.P", "+", "work", "@default");
    // autostart=no keeps only running qubes (and dom0, excluded by @anyvm)
    assert_eq!(ask.summary(), "ask targets=config-mgr,untrusted");
    match ask.answer(Some("untrusted")) {
        Resolution::Allow {
            target,
            user,
            autostart,
            notify,
            rule,
        } => {
            assert_eq!(target, "untrusted");
            assert_eq!(user.as_deref(), Some("root"));
            assert!(!autostart && notify);
            assert_eq!(rule.line, 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(ask.answer(Some("vault")).is_deny(), "not offered");
    assert!(ask.answer(Some("nosuch")).is_deny());
    assert!(ask.answer(None).is_deny());
    let allow =
        policy("test.L * work @anyvm allow\n").evaluate(&system(), "test.L", "+", "work", "work");
    assert_eq!(allow.summary(), "allow target=work");
    assert!(allow.is_loopback("work"));
    assert!(!allow.is_loopback("vault"));
    assert_eq!(allow.answer(Some("x")), allow);
}

#[test]
fn wildcard_columns_include_dom0_unlike_anyvm() {
    let p = "test.W * * * allow\n";
    assert_eq!(eval(p, "test.W", "dom0", "work"), "allow target=work");
    assert_eq!(eval(p, "test.W", "work", "dom0"), "allow target=dom0");
    assert_eq!(eval(p, "test.W", "work", "@adminvm"), "allow target=dom0");
    assert_eq!(
        eval(p, "test.W", "work", "@dispvm"),
        "allow target=@dispvm:default-dvm"
    );
}

#[test]
fn uuid_designators() {
    let uuid = "uuid:11111111-2222-3333-4444-555555555555"; // config-mgr
    let p = format!("test.U * {uuid} work allow\ntest.V * work {uuid} allow\n");
    assert_eq!(
        eval(&p, "test.U", "config-mgr", "work"),
        "allow target=work"
    );
    assert_eq!(eval(&p, "test.U", uuid, "work"), "allow target=work");
    assert_eq!(eval(&p, "test.U", "untrusted", "work"), "deny");
    assert_eq!(
        eval(&p, "test.V", "work", "config-mgr"),
        "allow target=config-mgr"
    );
    assert_eq!(
        eval(&p, "test.V", "work", uuid),
        format!("allow target={uuid}")
    );
    // an unknown uuid is an unknown qube: @default
    assert_eq!(
        eval(
            "test.D * work @default allow target=vault\n",
            "test.D",
            "work",
            "uuid:00000000-dead-beef-0000-000000000000"
        ),
        "allow target=vault"
    );
    // the all-zero uuid is dom0
    let z = "uuid:00000000-0000-0000-0000-000000000000";
    assert_eq!(
        eval("test.Z * work @adminvm allow\n", "test.Z", "work", z),
        "allow target=uuid:00000000-0000-0000-0000-000000000000"
    );
    assert_eq!(
        eval("test.Z * work dom0 allow\n", "test.Z", "work", "@adminvm"),
        "allow target=dom0"
    );
}

#[test]
fn disposable_tokens() {
    let p = "test.D * work @dispvm:@tag:dvm-tag allow\n\
             test.E * work @dispvm:default-dvm allow\n\
             test.F * work @default allow target=@dispvm\n\
             test.G * work @default ask target=@dispvm:default-dvm\n\
             test.H * @dispvm:default-dvm work allow\n\
             test.I * @dispvm:@tag:dvm-tag work allow\n";
    assert_eq!(
        eval(p, "test.D", "work", "@dispvm"),
        "allow target=@dispvm:default-dvm"
    );
    assert_eq!(
        eval(p, "test.D", "work", "@dispvm:default-dvm"),
        "allow target=@dispvm:default-dvm"
    );
    assert_eq!(eval(p, "test.D", "work", "default-dvm"), "deny");
    assert_eq!(
        eval(p, "test.E", "work", "@dispvm"),
        "allow target=@dispvm:default-dvm"
    );
    assert_eq!(
        eval(p, "test.E", "work", "@dispvm:default-dvm"),
        "allow target=@dispvm:default-dvm"
    );
    // not a disposable template: refused before any rule
    assert_eq!(eval(p, "test.E", "work", "@dispvm:work"), "deny");
    assert_eq!(
        eval(p, "test.F", "work", "@default"),
        "allow target=@dispvm:default-dvm"
    );
    assert_eq!(
        eval(p, "test.F", "vault", "@default"),
        "deny",
        "vault has no default_dispvm"
    );
    assert_eq!(
        eval(p, "test.G", "work", ""),
        "ask targets=@dispvm:default-dvm"
    );
    // qrexec's quirk: disposable tokens in the source column never match a calling qube
    assert_eq!(eval(p, "test.H", "default-dvm", "work"), "deny");
    assert_eq!(eval(p, "test.I", "default-dvm", "work"), "deny");
}

#[test]
fn defaults_of_notify_and_autostart() {
    let s = system();
    let p = policy("a.A * work vault allow\na.D * work vault deny\na.Q * work vault ask\n");
    match p.evaluate(&s, "a.A", "+", "work", "vault") {
        Resolution::Allow {
            notify,
            autostart,
            user,
            ..
        } => assert!(!notify && autostart && user.is_none()),
        other => panic!("{other:?}"),
    }
    match p.evaluate(&s, "a.D", "+", "work", "vault") {
        Resolution::Deny { notify, .. } => assert!(notify),
        other => panic!("{other:?}"),
    }
    match p.evaluate(&s, "a.Q", "+", "work", "vault") {
        Resolution::Ask {
            notify, autostart, ..
        } => assert!(!notify && autostart),
        other => panic!("{other:?}"),
    }
    let why = p.decide(&s, "a.D", "+", "work", "vault").reason;
    assert_eq!(why, "denied by policy 30-test.policy:2");
    assert_eq!(
        p.decide(&s, "a.X", "+", "work", "vault").reason,
        "no matching rule found"
    );
}

#[test]
fn requests_for_tokens_that_cannot_be_requested_are_refused() {
    let p = "* * @anyvm * allow\n";
    for target in [
        "*",
        "@anyvm",
        "@tag:qubes-config-sync-managed",
        "@type:AppVM",
        "@dispvm:",
        "@dispvm:@tag:dvm-tag",
    ] {
        assert_eq!(eval(p, "test.X", "work", target), "deny", "{target}");
    }
}

#[test]
fn dispvm_uuid_tokens_compare_like_qrexec() {
    let mut s = system();
    s.domains.get_mut("default-dvm").unwrap().uuid =
        Some("99999999-0000-0000-0000-000000000000".into());
    let p = policy("test.D * work @dispvm:uuid:99999999-0000-0000-0000-000000000000 allow\n");
    let eval = |target: &str| p.evaluate(&s, "test.D", "+", "work", target).summary();
    // an explicit @dispvm:NAME request is compared uuid-aware ...
    assert_eq!(
        eval("@dispvm:default-dvm"),
        "allow target=@dispvm:default-dvm"
    );
    // ... a plain @dispvm request is compared as text with @dispvm:default-dvm: no match
    assert_eq!(eval("@dispvm"), "deny");
}

#[test]
fn may_grant_is_false_only_when_every_target_is_denied() {
    let p = policy(
        "test.A * work vault allow\n\
         test.A * @anyvm @anyvm deny\n\
         test.B +x @tag:qubes-config-sync-managed @anyvm ask\n",
    );
    let s = system();
    let targets = [
        "dom0", "work", "vault", "personal", "@default", "@dispvm", "nosuch",
    ];
    for (service, arg, source) in [
        ("test.A", "+", "work"),
        ("test.A", "+", "personal"),
        ("test.B", "+x", "work"),
        ("test.B", "+y", "work"),
        ("test.B", "+x", "untrusted"),
        ("test.C", "+", "work"),
    ] {
        let any_granted = targets
            .iter()
            .any(|t| !p.evaluate(&s, service, arg, source, t).is_deny());
        if !p.may_grant(&s, service, arg, source) {
            assert!(!any_granted, "{service}{arg} {source}");
        }
    }
    assert!(p.may_grant(&s, "test.A", "", "work"));
    assert!(!p.may_grant(&s, "test.A", "", "personal"));
    assert!(!p.may_grant(&s, "test.B", "y", "work"));
}
