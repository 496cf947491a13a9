//! The shipped dom0 policy (`policy/policy.d`), installed beside a stand-in for Qubes' own
//! defaults, proven rule by rule: the config qube can, nobody else can; proposals reach only the
//! config qube and ask; a managed qube reaches no Admin API call and none of our other services.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;
use common::*;
use qrexec::trust::*;
use qrexec::{Policy, Resolution, RuleRef, SystemInfo, Whitelist, generate_profile_policy};
use std::collections::BTreeSet;
use std::path::Path;

const MANAGED: [&str; 3] = ["work", "personal", "vault"];
const NOT_MANAGED: [&str; 4] = ["untrusted", "default-dvm", "fedora-42", "config-mgr"];

fn whitelist() -> Whitelist {
    let pairs = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(q, p)| ((*q).to_owned(), (*p).to_owned()))
            .collect::<BTreeSet<_>>()
    };
    Whitelist {
        config_qube: "config-mgr".into(),
        assigned: pairs(&[("work", "git"), ("work", "ssh"), ("personal", "git")]),
        may_propose: pairs(&[("work", "git"), ("vault", "vim")]),
    }
}

/// A dom0 policy directory: Qubes' defaults, our shipped files, optionally the generated file.
struct Dom0 {
    dir: tempfile::TempDir,
}

impl Dom0 {
    fn new(generated: bool) -> Dom0 {
        let dir = tempfile::tempdir().unwrap();
        install_qubes_defaults(dir.path());
        copy_tree(&shipped_policy_dir(), dir.path());
        if generated {
            let text = generate_profile_policy(&whitelist()).unwrap();
            std::fs::write(dir.path().join(GENERATED_POLICY_FILE), text).unwrap();
        }
        Dom0 { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn policy(&self) -> Policy {
        Policy::load_dir(self.path()).unwrap_or_else(|e| panic!("shipped policy refused: {e}"))
    }
}

fn decide(p: &Policy, service: &str, arg: &str, source: &str, target: &str) -> String {
    p.evaluate(&system(), service, arg, source, target)
        .summary()
}

/// Every target a caller can ask for in the test system.
fn all_targets() -> Vec<String> {
    let mut t: Vec<String> = system().domains.keys().cloned().collect();
    t.extend(
        [
            "@default",
            "@dispvm",
            "@dispvm:default-dvm",
            "@adminvm",
            "nosuchvm",
            "",
        ]
        .map(String::from),
    );
    t
}

fn all_sources() -> Vec<String> {
    system()
        .domains
        .keys()
        .filter(|n| *n != "dom0")
        .cloned()
        .collect()
}

const ARGS: [&str; 5] = ["+git", "+ssh", "+vim", "+", "+never-assigned"];

#[test]
fn the_shipped_files_parse_and_are_named_per_qubes_convention() {
    let dir = shipped_policy_dir();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, [STATIC_POLICY_FILE, DEFAULT_POLICY_FILE]);
    assert!(dir.join(ADMIN_WRITE_INCLUDE).is_file());
    let p = Policy::load_dir(&dir).unwrap();
    assert!(!p.rules().is_empty());
    // the opt-in include ships with no active rule
    let opt_in = std::fs::read_to_string(dir.join(ADMIN_WRITE_INCLUDE)).unwrap();
    assert!(
        opt_in
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    );
}

#[test]
fn config_qube_may_push_snapshot_and_roll_back_managed_qubes() {
    let p = Dom0::new(false).policy();
    for service in MANAGER_SERVICES {
        for qube in MANAGED {
            for arg in ARGS {
                // autostart=no: a halted qube is refused, never started by the call.
                let expected = if running(qube) {
                    format!("allow target={qube}")
                } else {
                    "deny".to_owned()
                };
                assert_eq!(
                    decide(&p, service, arg, "config-mgr", qube),
                    expected,
                    "{service}{arg} config-mgr -> {qube}"
                );
            }
        }
    }
}

fn running(qube: &str) -> bool {
    system()
        .domains
        .get(qube)
        .is_some_and(|d| d.power_state == "Running")
}

/// Planning must never start a qube: every service of ours is allowed with autostart=no
/// (a halted target is refused by the rule that would allow it), and the config qube
/// starts a qube only through admin.vm.Start, granted for managed qubes alone.
#[test]
fn our_services_never_autostart_and_only_managed_qubes_can_be_started() {
    let p = Dom0::new(true).policy();
    assert!(
        MANAGED.iter().any(|q| running(q)) && MANAGED.iter().any(|q| !running(q)),
        "the test system has running and halted managed qubes"
    );
    for service in MANAGER_SERVICES {
        for qube in MANAGED {
            match p.evaluate(&system(), service, "+git", "config-mgr", qube) {
                Resolution::Allow { autostart, .. } => {
                    assert!(running(qube), "{service} -> halted {qube} allowed");
                    assert!(!autostart, "{service} -> {qube} may autostart");
                }
                Resolution::Deny {
                    rule: Some(rule), ..
                } => {
                    assert!(!running(qube), "{service} -> running {qube} denied");
                    // Refused by our allow rule (autostart=no), not by a deny line.
                    assert!(!rule.file.ends_with(DEFAULT_POLICY_FILE), "{rule}");
                }
                other => panic!("{service} -> {qube}: {other:?}"),
            }
        }
    }
    for method in ADMIN_START_CALLS {
        for qube in MANAGED {
            assert_eq!(
                decide(&p, method, "+", "config-mgr", qube),
                "allow target=dom0",
                "{method} -> {qube}"
            );
        }
        for target in NOT_MANAGED
            .iter()
            .map(|q| (*q).to_owned())
            .chain(["dom0", "@adminvm", "config-mgr", "nosuchvm"].map(String::from))
        {
            assert_eq!(
                decide(&p, method, "+", "config-mgr", &target),
                "deny",
                "{method} -> {target}"
            );
        }
        for source in MANAGED.iter().chain(["untrusted"].iter()) {
            for target in all_targets() {
                assert_eq!(decide(&p, method, "+", source, &target), "deny");
            }
        }
    }
}

#[test]
fn config_qube_reaches_no_unmanaged_qube_with_our_services() {
    for generated in [false, true] {
        let p = Dom0::new(generated).policy();
        for service in ALL_SERVICES {
            for target in all_targets() {
                if MANAGED.contains(&target.as_str()) && service != SERVICE_PROPOSE {
                    continue;
                }
                for arg in ARGS {
                    assert_eq!(
                        decide(&p, service, arg, "config-mgr", &target),
                        "deny",
                        "{service}{arg} config-mgr -> {target:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn no_other_qube_may_push_snapshot_or_roll_back() {
    for generated in [false, true] {
        let p = Dom0::new(generated).policy();
        for source in all_sources().iter().filter(|s| *s != "config-mgr") {
            for service in MANAGER_SERVICES {
                for target in all_targets() {
                    for arg in ARGS {
                        assert_eq!(
                            decide(&p, service, arg, source, &target),
                            "deny",
                            "{service}{arg} {source} -> {target:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn without_the_generated_file_nobody_may_propose() {
    let p = Dom0::new(false).policy();
    for source in all_sources() {
        for target in all_targets() {
            for arg in ARGS {
                assert_eq!(
                    decide(&p, SERVICE_PROPOSE, arg, &source, &target),
                    "deny",
                    "{arg} {source} -> {target:?}"
                );
            }
        }
    }
}

#[test]
fn proposals_reach_only_the_config_qube_and_ask_per_whitelisted_profile() {
    let p = Dom0::new(true).policy();
    let ask = "ask targets=config-mgr default_target=config-mgr";
    let whitelisted = [("work", "+git"), ("vault", "+vim")];
    for source in all_sources() {
        for arg in ARGS {
            for target in all_targets() {
                let got = decide(&p, SERVICE_PROPOSE, arg, &source, &target);
                let allowed_pair = whitelisted.contains(&(source.as_str(), arg));
                // the agent may call @default or name the config qube; an unknown name is
                // @default in qrexec
                let to_config =
                    matches!(target.as_str(), "@default" | "config-mgr" | "nosuchvm" | "");
                let expected = if allowed_pair && to_config {
                    ask
                } else {
                    "deny"
                };
                assert_eq!(
                    got, expected,
                    "{SERVICE_PROPOSE}{arg} {source} -> {target:?}"
                );
            }
        }
    }
    // and the decision comes from the generated file, not from something broader
    match p.evaluate(&system(), SERVICE_PROPOSE, "+git", "work", "@default") {
        Resolution::Ask { rule, user, .. } => {
            assert!(rule.file.ends_with(GENERATED_POLICY_FILE), "{rule}");
            assert_eq!(user, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_generated_file_narrows_apply_to_assigned_profiles() {
    let p = Dom0::new(true).policy();
    let cases = [
        ("work", "+git", true),
        ("work", "+ssh", true),
        ("work", "+vim", false),
        ("work", "+", false),
        ("personal", "+git", true),
        ("personal", "+ssh", false),
        // vault has nothing assigned: the static rule still applies
        ("vault", "+vim", true),
    ];
    for (qube, arg, allowed) in cases {
        let expected = if allowed && running(qube) {
            format!("allow target={qube}")
        } else {
            "deny".to_owned()
        };
        assert_eq!(
            decide(&p, SERVICE_APPLY, arg, "config-mgr", qube),
            expected,
            "{qube}{arg}"
        );
    }
    // snapshots and rollbacks stay open for every profile of managed qubes
    for service in [SERVICE_SNAPSHOT, SERVICE_ROLLBACK] {
        assert_eq!(
            decide(&p, service, "+vim", "config-mgr", "work"),
            "allow target=work"
        );
    }
}

#[test]
fn config_qube_gets_exactly_the_read_only_admin_api() {
    let p = Dom0::new(true).policy();
    for method in ADMIN_READ_CALLS {
        for qube in MANAGED {
            assert_eq!(
                decide(&p, method, "+", "config-mgr", qube),
                "allow target=dom0",
                "{method} -> {qube}"
            );
        }
        for qube in NOT_MANAGED {
            assert_eq!(
                decide(&p, method, "+", "config-mgr", qube),
                "deny",
                "{method} -> {qube}"
            );
        }
    }
    // global calls about dom0 itself: the list and the event stream
    for method in ["admin.vm.List", "admin.Events"] {
        for dom0 in ["dom0", "@adminvm"] {
            assert_eq!(
                decide(&p, method, "+", "config-mgr", dom0),
                "allow target=dom0"
            );
        }
    }
    assert_eq!(
        decide(&p, "admin.vm.feature.Get", "+x", "config-mgr", "dom0"),
        "deny"
    );
    // writes are not granted by default
    let writes = ADMIN_OPT_IN_WRITE_CALLS
        .iter()
        .chain(PROBED_OTHER_CALLS.iter())
        .filter(|m| m.starts_with("admin.") || m.starts_with("policy."));
    for method in writes {
        if *method == "admin.property.Get" {
            continue; // a read, but not one we need: not granted either
        }
        for target in all_targets() {
            assert_eq!(
                decide(&p, method, "+custom-persist.x", "config-mgr", &target),
                "deny",
                "{method} -> {target:?}"
            );
        }
    }
}

#[test]
fn the_opt_in_include_grants_feature_writes_on_managed_qubes_only() {
    let dom0 = Dom0::new(true);
    let include = dom0.path().join(ADMIN_WRITE_INCLUDE);
    let text = std::fs::read_to_string(&include).unwrap();
    let enabled = text.replace(
        "#@tag:qubes-config-sync-manager",
        "@tag:qubes-config-sync-manager",
    );
    assert_ne!(text, enabled, "the opt-in line is in the include file");
    std::fs::write(&include, enabled).unwrap();
    let p = dom0.policy();
    for method in ADMIN_OPT_IN_WRITE_CALLS {
        for qube in MANAGED {
            assert_eq!(
                decide(&p, method, "+custom-persist.git", "config-mgr", qube),
                "allow target=dom0"
            );
        }
        for target in ["untrusted", "config-mgr", "dom0", "@adminvm", "fedora-42"] {
            assert_eq!(
                decide(&p, method, "+x", "config-mgr", target),
                "deny",
                "{target}"
            );
        }
        for source in ["work", "untrusted"] {
            assert_eq!(decide(&p, method, "+x", source, "work"), "deny");
        }
    }
    // still nothing else
    assert_eq!(
        decide(&p, "admin.vm.tag.Set", "+x", "config-mgr", "work"),
        "deny"
    );
    assert_eq!(
        decide(&p, "admin.vm.property.Set", "+x", "config-mgr", "work"),
        "deny"
    );
    let report = qrexec::check(&p, Some(&system()));
    assert!(!report.has_over_grants(), "{}", qrexec::render(&report));
}

#[test]
fn a_managed_qube_reaches_no_admin_api_call_and_none_of_our_other_services() {
    let p = Dom0::new(true).policy();
    let admin: Vec<&str> = ADMIN_READ_CALLS
        .iter()
        .chain(ADMIN_OPT_IN_WRITE_CALLS.iter())
        .chain(PROBED_OTHER_CALLS.iter())
        .copied()
        .filter(|m| m.starts_with("admin.") || m.starts_with("policy."))
        .collect();
    for source in MANAGED.iter().chain(["untrusted"].iter()) {
        for method in &admin {
            for target in all_targets() {
                assert_eq!(
                    decide(&p, method, "+", source, &target),
                    "deny",
                    "{method} {source} -> {target:?}"
                );
            }
        }
        for service in MANAGER_SERVICES {
            for target in all_targets() {
                for arg in ARGS {
                    assert_eq!(decide(&p, service, arg, source, &target), "deny");
                }
            }
        }
    }
}

/// Every rule in the shipped files decides at least one call above: none is dead or shadowed.
#[test]
fn every_shipped_rule_is_live() {
    let dom0 = Dom0::new(true);
    let include = dom0.path().join(ADMIN_WRITE_INCLUDE);
    let text = std::fs::read_to_string(&include).unwrap();
    std::fs::write(&include, text.replace("#@tag:", "@tag:")).unwrap();
    let p = dom0.policy();
    let system: SystemInfo = system();
    let mut used: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut services: Vec<&str> = ALL_SERVICES.to_vec();
    services.extend(ADMIN_READ_CALLS);
    services.extend(ADMIN_START_CALLS);
    services.extend(ADMIN_OPT_IN_WRITE_CALLS);
    let mut sources = all_sources();
    sources.push("dom0".into());
    for source in &sources {
        for service in &services {
            for arg in ARGS {
                for target in all_targets() {
                    let rule: Option<RuleRef> = match p
                        .evaluate(&system, service, arg, source, &target)
                    {
                        Resolution::Allow { rule, .. } | Resolution::Ask { rule, .. } => Some(rule),
                        Resolution::Deny { rule, .. } => rule,
                    };
                    if let Some(r) = rule {
                        used.insert((r.file, r.line));
                    }
                }
            }
        }
    }
    let mut dead = Vec::new();
    for rule in p.rules() {
        let ours = [
            STATIC_POLICY_FILE,
            DEFAULT_POLICY_FILE,
            GENERATED_POLICY_FILE,
            ADMIN_WRITE_INCLUDE,
        ]
        .iter()
        .any(|f| rule.origin.file.ends_with(f));
        if ours && !used.contains(&(rule.origin.file.clone(), rule.origin.line)) {
            dead.push(rule.origin.to_string());
        }
    }
    assert!(
        dead.is_empty(),
        "rules never deciding anything:\n{}",
        dead.join("\n")
    );
}

#[test]
fn the_checker_finds_nothing_wrong_with_the_shipped_policy() {
    for generated in [false, true] {
        let p = Dom0::new(generated).policy();
        for system in [Some(system()), None] {
            let report = qrexec::check(&p, system.as_ref());
            assert!(report.findings.is_empty(), "{}", qrexec::render(&report));
            assert!(!report.grants.is_empty());
        }
    }
}

/// Requests crafted to slip past the rules: other spellings of targets, services and
/// arguments. Each reaches at most the config qube, and only for a whitelisted profile.
#[test]
fn crafted_requests_do_not_slip_through() {
    let p = Dom0::new(true).policy();
    let config_uuid = "uuid:11111111-2222-3333-4444-555555555555";
    let ask = "ask targets=config-mgr default_target=config-mgr";
    // the config qube named by uuid is still the config qube
    assert_eq!(
        decide(&p, SERVICE_PROPOSE, "+git", "work", config_uuid),
        ask
    );
    let crafted: &[(&str, &str, &str, &str)] = &[
        (SERVICE_PROPOSE, "+git+x", "work", "@default"),
        (SERVICE_PROPOSE, "+git_", "work", "@default"),
        (SERVICE_PROPOSE, "+GIT", "work", "@default"),
        (SERVICE_PROPOSE, "+git", "work", "@adminvm"),
        (SERVICE_PROPOSE, "+git", "work", "@dispvm:config-mgr"),
        (SERVICE_PROPOSE, "+git", "work", "@dispvm"),
        (SERVICE_PROPOSE, "+git", "work", "@anyvm"),
        (
            SERVICE_PROPOSE,
            "+git",
            "work",
            "@tag:qubes-config-sync-manager",
        ),
        (SERVICE_PROPOSE, "+git", "work", "*"),
        ("qubes.configpropose", "+git", "work", "@default"),
        ("qubes.ConfigPropose.", "+git", "work", "@default"),
        (SERVICE_APPLY, "+git", "work", "personal"),
        (SERVICE_APPLY, "+git", "work", config_uuid),
        (
            SERVICE_APPLY,
            "+git",
            "uuid:00000000-0000-0000-0000-000000000000",
            "work",
        ),
        (SERVICE_APPLY, "+git", "config-mgr", "@dispvm:default-dvm"),
        (
            SERVICE_APPLY,
            "+git",
            "config-mgr",
            "uuid:00000000-0000-0000-0000-000000000000",
        ),
        ("admin.vm.feature.Set", "+custom-persist.x", "work", "work"),
        ("admin.vm.feature.Get", "+x", "work", "@adminvm"),
        ("qubes.VMShell", "+", "work", "config-mgr"),
        ("qubes.VMRootShell", "+", "config-mgr", "work"),
    ];
    for (service, arg, source, target) in crafted {
        let got = decide(&p, service, arg, source, target);
        assert_eq!(got, "deny", "{service}{arg} {source} -> {target}");
    }
}
