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

/// The shipped dom0 policy in this repository.
pub fn shipped_policy_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policy/policy.d")
}

/// Copies a directory tree (regular files and directories only).
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A stand-in for the policy Qubes itself installs around ours: a few of its default rules
/// (including the broad ones for other services) and the Admin API default with its empty
/// include files, written in the same form as dom0's.
pub fn install_qubes_defaults(dir: &std::path::Path) {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "90-default.policy",
        "## stand-in for Qubes' 90-default.policy\n\
         qubes.FeaturesRequest  *  @anyvm  dom0      allow\n\
         qubes.Filecopy         *  @anyvm  @anyvm    ask\n\
         qubes.OpenInVM         *  @anyvm  @dispvm   allow\n\
         qubes.OpenInVM         *  @anyvm  @anyvm    ask\n\
         qubes.VMShell          *  @anyvm  @dispvm   allow\n\
         qubes.VMShell          *  @anyvm  @anyvm    deny\n\
         qubes.VMRootShell      *  @anyvm  @anyvm    deny\n",
    );
    let mut admin = String::from("## stand-in for the generated 90-admin-default.policy\n");
    for (method, scope) in [
        ("admin.vm.List", "admin-global-ro"),
        ("admin.Events", "admin-global-ro"),
        ("admin.property.Get", "admin-global-ro"),
        ("admin.property.Set", "admin-global-rwx"),
        ("admin.vm.feature.List", "admin-local-ro"),
        ("admin.vm.feature.Get", "admin-local-ro"),
        ("admin.vm.feature.CheckWithTemplate", "admin-local-ro"),
        ("admin.vm.feature.Set", "admin-local-rwx"),
        ("admin.vm.feature.Remove", "admin-local-rwx"),
        ("admin.vm.property.Get", "admin-local-ro"),
        ("admin.vm.property.Set", "admin-local-rwx"),
        ("admin.vm.tag.List", "admin-local-ro"),
        ("admin.vm.tag.Set", "admin-local-rwx"),
        ("admin.vm.Start", "admin-local-rwx"),
        ("admin.vm.Kill", "admin-local-rwx"),
    ] {
        admin.push_str(&format!("!include-service {method} * include/{scope}\n"));
    }
    write("90-admin-default.policy", &admin);
    write(
        "91-admin-default-deny.policy",
        "admin.vm.property.GetAll * @anyvm @anyvm deny notify=no\n",
    );
    write(
        "include/admin-local-ro",
        "!include include/admin-local-rwx\n",
    );
    write(
        "include/admin-local-rwx",
        "## add entries here with target=dom0\n",
    );
    write(
        "include/admin-global-ro",
        "!include include/admin-global-rwx\n",
    );
    write("include/admin-global-rwx", "");
}
