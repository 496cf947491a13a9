//! Shared fixtures: a small system like the golden world, and helpers.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use qrexec::{DomainInfo, Policy, SystemInfo};

pub fn domain(
    ty: &str,
    tags: &[&str],
    dvm_template: bool,
    default_dispvm: Option<&str>,
    running: bool,
) -> DomainInfo {
    DomainInfo {
        r#type: ty.to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        template_for_dispvms: dvm_template,
        default_dispvm: default_dispvm.map(str::to_owned),
        power_state: if running { "Running" } else { "Halted" }.to_owned(),
        uuid: None,
        icon: None,
    }
}

/// dom0, a config qube, three managed qubes, an unmanaged qube, a disposable template and a
/// template.
pub fn system() -> SystemInfo {
    let mut s = SystemInfo::default();
    let mut add = |name: &str, d: DomainInfo| {
        s.domains.insert(name.to_owned(), d);
    };
    add("dom0", {
        let mut d = domain("AdminVM", &[], false, Some("default-dvm"), true);
        d.uuid = Some("00000000-0000-0000-0000-000000000000".into());
        d
    });
    add("config-mgr", {
        let mut d = domain(
            "AppVM",
            &["qubes-config-sync-manager"],
            false,
            Some("default-dvm"),
            true,
        );
        d.uuid = Some("11111111-2222-3333-4444-555555555555".into());
        d
    });
    add(
        "work",
        domain(
            "AppVM",
            &["qubes-config-sync-managed"],
            false,
            Some("default-dvm"),
            true,
        ),
    );
    add(
        "personal",
        domain(
            "AppVM",
            &["qubes-config-sync-managed"],
            false,
            Some("default-dvm"),
            false,
        ),
    );
    add(
        "vault",
        domain("AppVM", &["qubes-config-sync-managed"], false, None, false),
    );
    add(
        "untrusted",
        domain("AppVM", &[], false, Some("default-dvm"), true),
    );
    add(
        "default-dvm",
        domain("AppVM", &["dvm-tag"], true, Some("default-dvm"), false),
    );
    add(
        "fedora-42",
        domain("TemplateVM", &[], false, Some("default-dvm"), false),
    );
    s
}

pub fn policy(text: &str) -> Policy {
    Policy::from_files(&[("30-test.policy".to_owned(), text.to_owned())])
        .unwrap_or_else(|e| panic!("policy should parse: {e}"))
}

pub fn policy_err(text: &str) -> String {
    match Policy::from_files(&[("30-test.policy".to_owned(), text.to_owned())]) {
        Ok(_) => panic!("policy should be refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

pub fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect()
}
