//! The checker flags planted over-grants, each with the rule responsible, and renders a table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;
use common::*;
use qrexec::trust::{ADMIN_WRITE_INCLUDE, GENERATED_POLICY_FILE};
use qrexec::{Policy, Report, Severity, Whitelist, check, generate_profile_policy, render};

/// Shipped policy + Qubes defaults + generated file + `extra` as 30-user.policy.
fn dom0_with_user_policy(extra: &str) -> (tempfile::TempDir, Policy) {
    let dir = tempfile::tempdir().unwrap();
    install_qubes_defaults(dir.path());
    copy_tree(&shipped_policy_dir(), dir.path());
    let w = Whitelist {
        config_qube: "config-mgr".into(),
        assigned: [("work".into(), "git".into())].into(),
        may_propose: [("work".into(), "git".into())].into(),
    };
    std::fs::write(
        dir.path().join(GENERATED_POLICY_FILE),
        generate_profile_policy(&w).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join("30-user.policy"), extra).unwrap();
    let p = Policy::load_dir(dir.path()).unwrap();
    (dir, p)
}

fn over_grants(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::OverGrant)
        .map(|f| {
            format!(
                "{} [{}]",
                f.message,
                f.rule
                    .as_ref()
                    .map(|r| r.file.rsplit('/').next().unwrap().to_owned()
                        + ":"
                        + &r.line.to_string())
                    .unwrap_or_default()
            )
        })
        .collect()
}

fn assert_flags(extra: &str, expected: &[&str]) {
    let (_dir, p) = dom0_with_user_policy(extra);
    let report = check(&p, Some(&system()));
    let found = over_grants(&report);
    for e in expected {
        assert!(
            found.iter().any(|f| f.contains(e)),
            "expected a finding containing {e:?} for\n{extra}\nfound:\n{}",
            found.join("\n")
        );
    }
    assert!(report.has_over_grants());
    // every over-grant points at the planted rule
    for f in &report.findings {
        if f.severity == Severity::OverGrant {
            let rule = f.rule.as_ref().expect("over-grants name their rule");
            assert!(
                rule.file.ends_with("30-user.policy"),
                "{} {rule}",
                f.message
            );
        }
    }
}

#[test]
fn the_clean_policy_has_no_findings() {
    let (_dir, p) = dom0_with_user_policy("");
    let report = check(&p, Some(&system()));
    assert!(report.findings.is_empty(), "{}", render(&report));
}

#[test]
fn a_managed_qube_allowed_config_apply_is_flagged() {
    assert_flags(
        "qubes.ConfigApply * @tag:qubes-config-sync-managed @tag:qubes-config-sync-managed allow\n",
        &[
            "work is not the config qube (no tag qubes-config-sync-manager) but may call qubes.ConfigApply+* (allow target=personal) [30-user.policy:1]",
        ],
    );
}

#[test]
fn the_config_qube_writing_into_an_unmanaged_qube_is_flagged() {
    assert_flags(
        "qubes.ConfigApply * config-mgr untrusted allow\n",
        &["config-mgr may call qubes.ConfigApply+* on untrusted, which is not a managed qube"],
    );
}

#[test]
fn a_proposal_reaching_another_qube_is_flagged() {
    assert_flags(
        "qubes.ConfigPropose +git work personal allow\n",
        &[
            "work may send qubes.ConfigPropose+git to personal, which is not the config qube (allow target=personal)",
        ],
    );
    // an ask offering a non-config qube is just as bad
    assert_flags(
        "qubes.ConfigPropose +git work @anyvm ask\n",
        &["work may send qubes.ConfigPropose+git to untrusted, which is not the config qube"],
    );
}

#[test]
fn anyvm_rules_for_our_services_are_flagged_even_if_unreachable() {
    assert_flags(
        "qubes.ConfigSnapshot * @anyvm @tag:nobody-has-this allow\n",
        &["allow qubes.ConfigSnapshot for @tag:nobody-has-this from @anyvm: any qube may call it"],
    );
    assert_flags(
        "* * @anyvm @anyvm ask\n",
        &["ask every service (*) for @anyvm from @anyvm: any qube may call it"],
    );
}

#[test]
fn admin_writes_outside_the_opt_in_are_flagged() {
    assert_flags(
        "admin.vm.feature.Set * @tag:qubes-config-sync-manager @tag:qubes-config-sync-managed allow target=dom0\n",
        &[
            "config qube config-mgr may call admin.vm.feature.Set+* on work, which is not a read-only call of ours and is not granted through the opt-in include",
        ],
    );
    assert_flags(
        "admin.vm.tag.Set * config-mgr @anyvm allow target=dom0\n",
        &[
            "config qube config-mgr may call admin.vm.tag.Set+* on untrusted, which is not a read-only call of ours",
        ],
    );
}

#[test]
fn the_opt_in_include_is_not_flagged() {
    let (dir, _) = dom0_with_user_policy("");
    let include = dir.path().join(ADMIN_WRITE_INCLUDE);
    let text = std::fs::read_to_string(&include).unwrap();
    std::fs::write(&include, text.replace("#@tag:", "@tag:")).unwrap();
    let p = Policy::load_dir(dir.path()).unwrap();
    let report = check(&p, Some(&system()));
    assert!(report.findings.is_empty(), "{}", render(&report));
    assert!(
        report
            .grants
            .iter()
            .any(|g| g.call == "admin.vm.feature.Set+*")
    );
}

#[test]
fn admin_api_for_a_managed_qube_is_flagged() {
    assert_flags(
        "admin.vm.List * @tag:qubes-config-sync-managed @adminvm allow target=dom0\n",
        &[
            "managed qube personal may call the Admin API admin.vm.List+* on dom0 (allow target=dom0)",
        ],
    );
}

#[test]
fn a_shell_into_the_config_qube_is_flagged() {
    assert_flags(
        "qubes.VMShell * work config-mgr allow\n",
        &["work may call qubes.VMShell+* on the config qube config-mgr (allow target=config-mgr)"],
    );
}

#[test]
fn the_table_lists_each_grant_with_its_rule() {
    let (_dir, p) = dom0_with_user_policy("");
    let text = render(&check(&p, Some(&system())));
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("SOURCE"), "{text}");
    for column in ["CALL", "TARGET", "DECISION", "RULE"] {
        assert!(header.contains(column));
    }
    let row = text
        .lines()
        .find(|l| {
            l.starts_with("work ")
                && l.contains("qubes.ConfigPropose+git")
                && l.contains("@default")
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("ask targets=config-mgr default_target=config-mgr"),
        "{row}"
    );
    assert!(row.contains(&format!("{GENERATED_POLICY_FILE}:")), "{row}");
    assert!(text.contains("No grant exceeds the qubes-config-sync trust model."));
    // nobody but the config qube and the whitelisted proposal appears
    assert!(text.contains("(SERVICE+* = with any argument no rule names, including none)"));
    for l in text
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty() && !l.starts_with('('))
    {
        assert!(
            l.starts_with("config-mgr ") || l.starts_with("work "),
            "{l}"
        );
    }
}

#[test]
fn without_system_info_sample_qubes_are_used() {
    let (_dir, p) = dom0_with_user_policy("qubes.ConfigApply * @anyvm @anyvm allow\n");
    let report = check(&p, None);
    assert!(report.synthetic_system);
    let text = render(&report);
    assert!(text.starts_with("(no system info given"), "{text}");
    assert!(text.contains("sample-config-qube"), "{text}");
    // the named qubes from the generated file are known (work as managed, config-mgr as config)
    assert!(text.contains("work "), "{text}");
    assert!(report.has_over_grants());
}

#[test]
fn an_ask_whose_choices_are_only_the_config_qube_is_not_flagged() {
    // without target=, qrexec offers what the other rules for this call would allow or ask:
    // here only the generated rule's config-mgr (the deny rules of 80-… remove the rest)
    let (_dir, p) = dom0_with_user_policy("qubes.ConfigPropose +git work @default ask\n");
    let report = check(&p, Some(&system()));
    assert!(!report.has_over_grants(), "{}", render(&report));
    assert_eq!(
        p.evaluate(&system(), "qubes.ConfigPropose", "+git", "work", "@default")
            .summary(),
        "ask targets=config-mgr"
    );
}

#[test]
fn reads_about_unmanaged_qubes_are_a_warning_once_per_rule() {
    let (_dir, p) = dom0_with_user_policy(
        "admin.vm.List * @tag:qubes-config-sync-manager @anyvm allow target=dom0\n",
    );
    let report = check(&p, Some(&system()));
    assert!(!report.has_over_grants(), "{}", render(&report));
    let warnings: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 1, "{}", render(&report));
    assert_eq!(
        warnings[0].message,
        "config qube config-mgr may call admin.vm.List+* about qubes that are not managed (more than the shipped policy grants)"
    );
    assert!(
        warnings[0]
            .rule
            .as_ref()
            .unwrap()
            .file
            .ends_with("30-user.policy")
    );
}

#[test]
fn disposables_of_a_named_template_are_probed() {
    let (_dir, p) =
        dom0_with_user_policy("qubes.ConfigApply * config-mgr @dispvm:default-dvm allow\n");
    let report = check(&p, Some(&system()));
    let found = over_grants(&report);
    assert!(
        found.iter().any(|f| f.contains("config-mgr may call qubes.ConfigApply+* on @dispvm:default-dvm, which is not a managed qube")),
        "{}",
        found.join("\n")
    );
    assert!(
        report
            .grants
            .iter()
            .any(|g| g.requested_target == "@dispvm:default-dvm")
    );
}

#[test]
fn tags_on_the_wrong_qubes_are_warned_about() {
    let (_dir, p) = dom0_with_user_policy("");
    let mut s = system();
    s.domains
        .get_mut("untrusted")
        .unwrap()
        .tags
        .push("qubes-config-sync-manager".into());
    s.domains
        .get_mut("config-mgr")
        .unwrap()
        .tags
        .push("qubes-config-sync-managed".into());
    let report = check(&p, Some(&s));
    let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(messages.contains(&"2 qubes carry the tag qubes-config-sync-manager (config-mgr, untrusted): each of them may write into every managed qube"), "{messages:#?}");
    assert!(messages.contains(&"config-mgr carries both qubes-config-sync-manager and qubes-config-sync-managed: the config qube should not be managed"), "{messages:#?}");
}

#[test]
fn our_services_running_as_root_are_flagged() {
    assert_flags(
        "qubes.ConfigApply * @tag:qubes-config-sync-manager @tag:qubes-config-sync-managed allow user=root\n",
        &[
            "qubes.ConfigApply+* from config-mgr runs as user=root instead of the qube's default user",
        ],
    );
    let (_dir, p) = dom0_with_user_policy(
        "qubes.ConfigSnapshot * @tag:qubes-config-sync-manager @tag:qubes-config-sync-managed allow user=alice\n",
    );
    let report = check(&p, Some(&system()));
    assert!(!report.has_over_grants(), "{}", render(&report));
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.message.contains("user=alice"))
    );
}
