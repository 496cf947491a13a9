//! Facts recorded with the real qrexec and qubesd (`crates/sim/tests/golden/qrexec.md` and the
//! `qubesd_policy` of `world.json`), reproduced by the evaluator on the same policies and worlds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;
use common::domain;
use qrexec::{Policy, SystemInfo, sanitize_service_call, split_service_call};

/// The policy file of the qrexec.md recordings.
const RECORDED_POLICY: &str = "\
test.Dump      *   mgmt     work       allow
test.Dump      *   mgmt     @default   allow target=work
test.Dump      *   mgmt     @dispvm    allow target=@dispvm:default-dvm
test.Dump      *   mgmt     vault      deny
test.Dump      *   mgmt     @adminvm   allow target=dom0
test.SockDump  *   mgmt     @adminvm   allow target=dom0
test.SockDump  *   mgmt     work       allow
test.Fail      *   mgmt     work       allow
test.Stderr    *   mgmt     work       allow
test.Cat       *   mgmt     work       allow
test.Big       *   mgmt     work       allow
test.EarlyExit *   mgmt     work       allow
test.Missing   *   mgmt     work       allow
test.NoExec    *   mgmt     work       allow
*              *   @anyvm   @anyvm     deny
";

fn recorded_system() -> SystemInfo {
    let mut s = SystemInfo::default();
    s.domains
        .insert("dom0".into(), domain("AdminVM", &[], false, None, true));
    s.domains.insert(
        "mgmt".into(),
        domain("AppVM", &[], false, Some("default-dvm"), true),
    );
    s.domains.insert(
        "work".into(),
        domain("AppVM", &[], false, Some("default-dvm"), true),
    );
    s.domains.insert(
        "vault".into(),
        domain("AppVM", &[], false, Some("default-dvm"), true),
    );
    s.domains.insert(
        "default-dvm".into(),
        domain("AppVM", &[], true, Some("default-dvm"), false),
    );
    s
}

/// What `qrexec-client-vm TARGET SERVICE[+ARG]` in mgmt got, as a policy decision.
fn call(target: &str, raw_call: &[u8]) -> String {
    let p = Policy::from_files(&[("30-recorded.policy".into(), RECORDED_POLICY.into())]).unwrap();
    let sanitized = sanitize_service_call(raw_call);
    let (service, arg) = split_service_call(&sanitized);
    p.evaluate(&recorded_system(), service, &arg, "mgmt", target)
        .summary()
}

#[test]
fn recorded_qrexec_calls() {
    // 1a/1b/1c: a named target, with and without argument, service files per argument
    assert_eq!(call("work", b"test.Dump+myarg"), "allow target=work");
    assert_eq!(call("work", b"test.Dump"), "allow target=work");
    assert_eq!(call("work", b"test.Dump+"), "allow target=work");
    assert_eq!(call("work", b"test.Dump+special"), "allow target=work");
    // 1d: @default, an unknown target and the empty target all run in work
    assert_eq!(
        call("@default", b"test.Dump+viadefault"),
        "allow target=work"
    );
    assert_eq!(call("nosuchvm", b"test.Dump"), "allow target=work");
    assert_eq!(call("", b"test.Dump"), "allow target=work");
    // 1e: @dispvm is allowed by policy (the start failing afterwards is not policy)
    assert_eq!(
        call("@dispvm", b"test.Dump+viadispvm"),
        "allow target=@dispvm:default-dvm"
    );
    // 1f: dom0 and @adminvm
    assert_eq!(call("dom0", b"test.Dump+todom0"), "allow target=dom0");
    assert_eq!(
        call("@adminvm", b"test.Dump+toadminvm"),
        "allow target=dom0"
    );
    assert_eq!(call("dom0", b"test.SockDump+abc"), "allow target=dom0");
    assert_eq!(call("work", b"test.SockDump"), "allow target=work");
    // 2: refusals
    assert_eq!(call("vault", b"test.Dump+x"), "deny");
    assert_eq!(call("work", b"test.Undefined"), "deny");
    assert_eq!(call("work", b"test/Dump"), "deny");
    assert_eq!(sanitize_service_call(b"test/Dump"), "test_Dump");
    // allowed services whose executables are missing or broken are still allowed by policy
    assert_eq!(call("work", b"test.Missing"), "allow target=work");
    assert_eq!(call("work", b"test.NoExec"), "allow target=work");
}

#[test]
fn recorded_argument_sanitising() {
    for sent in ["a/b", "a b", "a@b", "a:b", "a*b", "a=b", "a;b"] {
        assert_eq!(
            sanitize_service_call(format!("test.Dump+{sent}").as_bytes()),
            "test.Dump+a_b"
        );
    }
    assert_eq!(
        sanitize_service_call("test.Dump+é".as_bytes()),
        "test.Dump+__"
    );
    assert_eq!(sanitize_service_call(b"test.Dump+.."), "test.Dump+..");
    assert_eq!(
        sanitize_service_call(b"test.Dump+a.b-c_d"),
        "test.Dump+a.b-c_d"
    );
    assert_eq!(sanitize_service_call(b"test.Dump+x+y"), "test.Dump+x+y");
    let (service, arg) = split_service_call("test.Dump+x+y");
    assert_eq!((service, arg.as_str()), ("test.Dump", "+x+y"));
    let long = "a".repeat(1000);
    assert_eq!(
        sanitize_service_call(format!("s+{long}").as_bytes()),
        format!("s+{long}")
    );
}

/// `world.json`: qubesd filters `admin.vm.List` for config-mgr through this policy; the
/// recorded replies show dom0, personal and work-email, and nothing for personal as caller.
#[test]
fn recorded_admin_vm_list_filtering() {
    let policy = "\
# consulted by qubesd itself to filter admin.vm.List / admin.Events
# results for non-dom0 callers
admin.vm.List   *   config-mgr   @adminvm               allow target=dom0
admin.vm.List   *   config-mgr   @tag:config-managed    allow target=dom0
admin.Events    *   config-mgr   @adminvm               allow target=dom0
admin.Events    *   config-mgr   @tag:config-managed    allow target=dom0
";
    let p = Policy::from_files(&[("30-admin-filter.policy".into(), policy.into())]).unwrap();
    let mut s = SystemInfo::default();
    let common = ["audiovm-dom0", "created-by-dom0", "guivm-dom0"];
    let vms: &[(&str, &str, &[&str], bool)] = &[
        ("dom0", "AdminVM", &[], false),
        ("banking", "AppVM", &["secret"], false),
        ("config-mgr", "AppVM", &["config-admin"], false),
        ("debian-12-minimal", "TemplateVM", &[], false),
        ("dev-box", "StandaloneVM", &[], false),
        ("disp4242", "DispVM", &[], false),
        ("dvm-web", "AppVM", &[], true),
        ("fedora-42-xfce", "TemplateVM", &[], false),
        ("personal", "AppVM", &["config-managed"], false),
        ("work-email", "AppVM", &["config-managed", "mail"], false),
    ];
    for (name, class, tags, dvm) in vms {
        let mut all: Vec<&str> = if *name == "dom0" {
            vec![]
        } else {
            common.to_vec()
        };
        all.extend(tags.iter());
        s.domains.insert(
            (*name).into(),
            domain(class, &all, *dvm, Some("dvm-web"), *name == "dom0"),
        );
    }
    // qubesd keeps a qube in the list only for "allow" (not for "ask")
    let visible = |caller: &str| -> Vec<String> {
        s.domains
            .keys()
            .filter(|vm| p.evaluate(&s, "admin.vm.List", "+", caller, vm).is_allow())
            .cloned()
            .collect()
    };
    assert_eq!(visible("config-mgr"), ["dom0", "personal", "work-email"]);
    assert!(visible("personal").is_empty());
    // events about the application (subject dom0) and a managed qube pass, others do not
    let event = |subject: &str| {
        p.evaluate(
            &s,
            "admin.Events",
            "+domain-feature-set_custom-persist.x",
            "config-mgr",
            subject,
        )
        .is_allow()
    };
    assert!(event("dom0") && event("work-email") && !event("banking"));
}
