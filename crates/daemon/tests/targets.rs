//! Targeting rules and adopting, end to end: `qvm-config-sync` against the real backend
//! (a private `dbus-daemon`, the simulated dom0 and qubes running the real agent).
//!
//! * a profile assigned by tag to three qubes is pushed to exactly those; a fourth qube
//!   that gains the tag (an Admin API event) is covered at the next push; `status` and
//!   `status --json` say which rule brought the profile; a rule never covers dom0 or the
//!   config qube, even when they carry the tag or run on the template; unassigning the
//!   rule leaves nothing to push;
//! * adopting a file from a qube is one step that ends in a proposal to review (the
//!   profile created, the qube assigned); what cannot be adopted (missing, a symlink,
//!   never-sync, dom0) is refused with a sentence and leaves the store as it was.
//!
//! `harness = false`: the binary is also the agent inside the simulated qubes and the
//! CLI (`support::dispatch`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use qcs_daemon::client::rules::{RuleList, SourceKind};
use qcs_daemon::client::types::{QubeList, SyncState};
use qcs_sim::world::QubeSpec;
use support::{CONFIG_QUBE, Env, EnvOptions, managed};

fn main() -> std::process::ExitCode {
    support::dispatch();
    support::run_all(&[
        (
            "a_tag_rule_covers_tagged_qubes_now_and_later_never_dom0_or_config",
            a_tag_rule_covers_tagged_qubes_now_and_later_never_dom0_or_config,
        ),
        (
            "template_and_class_rules_and_their_refusals",
            template_and_class_rules_and_their_refusals,
        ),
        (
            "adopt_is_one_step_to_a_reviewed_proposal",
            adopt_is_one_step_to_a_reviewed_proposal,
        ),
        (
            "a_directory_entry_is_pushed_checked_and_reviewed_file_by_file",
            a_directory_entry_is_pushed_checked_and_reviewed_file_by_file,
        ),
    ])
}

const GITCONFIG: &str = "[alias]\n\tst = status\n";

fn ok(env: &Env, args: &[&str]) -> String {
    let (code, out, err) = env.cli(args);
    assert_eq!(code, 0, "{args:?}: {out} {err}");
    out
}

fn refused(env: &Env, args: &[&str], sentence: &str) {
    let (code, out, err) = env.cli(args);
    assert_ne!(code, 0, "{args:?} succeeded: {out}");
    assert!(err.contains(sentence), "{args:?}: {err}");
    assert!(!err.contains("org.qubes"), "{args:?}: a D-Bus name: {err}");
}

fn profile_with_file(env: &Env, profile: &str, path: &str, content: &str) {
    let local = env.dir.path().join(format!("{profile}.src"));
    std::fs::write(&local, content).unwrap();
    ok(env, &["profile", "create", profile]);
    ok(
        env,
        &[
            "profile",
            "add-file",
            profile,
            path,
            "--from",
            local.to_str().unwrap(),
        ],
    );
}

fn admin(env: &Env) -> qubesadmin::Qubes {
    qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(env.socket()))
}

fn tag(env: &Env, qube: &str, tag: &str) {
    admin(env)
        .qubesd_call(qube, "admin.vm.tag.Set", tag, b"")
        .expect("admin.vm.tag.Set");
}

fn untag(env: &Env, qube: &str, tag: &str) {
    admin(env)
        .qubesd_call(qube, "admin.vm.tag.Remove", tag, b"")
        .expect("admin.vm.tag.Remove");
}

fn rules(env: &Env) -> RuleList {
    serde_json::from_str(&ok(env, &["rules", "--json"])).unwrap()
}

fn status(env: &Env) -> QubeList {
    serde_json::from_str(&ok(env, &["status", "--json"])).unwrap()
}

/// Waits (bounded) until the backend's view, fed by Admin API events, shows `check`.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has(env: &Env, qube: &str, path: &str) -> Option<String> {
    std::fs::read_to_string(env.home(qube).join(path)).ok()
}

fn a_tag_rule_covers_tagged_qubes_now_and_later_never_dom0_or_config() {
    let env = Env::start(
        vec![
            managed(QubeSpec::app("dev1", "fedora").tag("dev").running()),
            managed(QubeSpec::app("dev2", "fedora").tag("dev").running()),
            managed(QubeSpec::app("dev3", "fedora").tag("dev").running()),
            managed(QubeSpec::app("late", "fedora").running()),
            managed(QubeSpec::app("other", "fedora").running()),
        ],
        EnvOptions::default(),
    );
    profile_with_file(&env, "git", ".gitconfig", GITCONFIG);
    // The config qube and dom0 carry the tag too: no rule may cover them.
    tag(&env, CONFIG_QUBE, "dev");
    tag(&env, "dom0", "dev");
    let out = ok(&env, &["assign", "--tag", "dev", "git"]);
    assert!(out.contains("covers now: dev1, dev2, dev3"), "{out}");
    let covers = |env: &Env| rules(env).rules[0].covers.clone();
    eventually("the config qube's tag is seen", || {
        let list = status(&env);
        list.qubes
            .iter()
            .all(|q| q.name != CONFIG_QUBE || q.profiles.is_empty())
            && covers(&env) == ["dev1", "dev2", "dev3"]
    });

    // status --json says which rule brought the profile; the human table too.
    let list = status(&env);
    for name in ["dev1", "dev2", "dev3"] {
        let q = list.qubes.iter().find(|q| q.name == name).unwrap();
        assert!(
            q.assigned.is_empty(),
            "{name}: a rule is not a single assignment"
        );
        assert_eq!(q.profiles.len(), 1, "{name}");
        assert_eq!(q.profiles[0].profile, "git");
        assert_eq!(q.profiles[0].state, SyncState::NeverPushed);
        let sources = &q.profiles[0].sources;
        assert_eq!(sources.len(), 1, "{name}: {sources:?}");
        assert_eq!(
            (sources[0].kind, sources[0].value.as_str()),
            (SourceKind::Tag, "dev")
        );
    }
    // (The config qube is listed only where dom0 policy shows it to itself.)
    for name in ["late", "other", CONFIG_QUBE] {
        if let Some(q) = list.qubes.iter().find(|q| q.name == name) {
            assert!(q.profiles.is_empty(), "{name} is covered: {:?}", q.profiles);
        }
    }
    assert!(list.qubes.iter().all(|q| q.name != "dom0"));
    let human = ok(&env, &["status"]);
    assert!(human.contains("assigned by rules:"), "{human}");
    assert!(human.contains("dev2 git: tag dev"), "{human}");

    // A push without qubes goes to the covered qubes, and only to them.
    ok(&env, &["push", "-y"]);
    for name in ["dev1", "dev2", "dev3"] {
        assert_eq!(has(&env, name, ".gitconfig").as_deref(), Some(GITCONFIG));
    }
    for name in ["late", "other", CONFIG_QUBE] {
        assert_eq!(has(&env, name, ".gitconfig"), None, "{name} was written");
    }
    let calls = env.calls_per_qube();
    assert!(!calls.contains_key(CONFIG_QUBE), "{calls:?}");
    assert!(!calls.contains_key("dom0"), "{calls:?}");
    // The generated policy names the covered qubes, never the config qube or dom0.
    let policy = ok(&env, &["policy", "print"]);
    assert!(
        policy.contains("+git\t@tag:qubes-config-sync-manager\tdev3"),
        "{policy}"
    );
    assert!(
        !policy.contains(&format!("\t{CONFIG_QUBE}\tallow")),
        "{policy}"
    );
    assert!(!policy.contains("\tdom0\t"), "{policy}");
    // Naming the config qube or dom0 explicitly is refused as before.
    let (code, out, _) = env.cli(&["push", "-y", CONFIG_QUBE]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("config qube itself"), "{out}");

    // A qube that gains the tag is covered at the next push.
    tag(&env, "late", "dev");
    eventually("late is covered", || {
        covers(&env).contains(&"late".to_owned())
    });
    ok(&env, &["push", "-y"]);
    assert_eq!(has(&env, "late", ".gitconfig").as_deref(), Some(GITCONFIG));
    assert_eq!(has(&env, "other", ".gitconfig"), None);
    // One that loses it is not covered any more (its file stays, nothing is removed).
    untag(&env, "dev3", "dev");
    eventually("dev3 is no longer covered", || {
        !covers(&env).contains(&"dev3".to_owned())
    });

    // A single assignment of the same profile: both sources are shown.
    ok(&env, &["assign", "dev1", "git"]);
    let list = status(&env);
    let dev1 = list.qubes.iter().find(|q| q.name == "dev1").unwrap();
    let kinds: Vec<SourceKind> = dev1.profiles[0].sources.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [SourceKind::Single, SourceKind::Tag]);

    // Unassigning the rule: only the single assignment is left.
    let out = ok(&env, &["assign", "--tag", "dev", "git", "--unassign"]);
    assert!(out.contains("removed"), "{out}");
    assert!(rules(&env).rules.is_empty());
    refused(
        &env,
        &["assign", "--tag", "dev", "git", "--unassign"],
        "there is no assignment rule tag dev → git",
    );
    let list = status(&env);
    let covered: Vec<&str> = list
        .qubes
        .iter()
        .filter(|q| !q.profiles.is_empty())
        .map(|q| q.name.as_str())
        .collect();
    assert_eq!(covered, ["dev1"]);
    let audit: qcs_daemon::client::types::AuditView = {
        let (_c, proxy) = env.client();
        serde_json::from_str(&zbus::block_on(proxy.audit_log(0, 1000)).unwrap()).unwrap()
    };
    let rule_entries = audit
        .entries
        .iter()
        .filter(|e| e.action == "assignment-rule")
        .count();
    assert_eq!(rule_entries, 2, "added and removed are audited");
}

fn template_and_class_rules_and_their_refusals() {
    let env = Env::start(
        vec![
            managed(QubeSpec::app("work", "fedora").running()),
            managed(QubeSpec::standalone("solo").running()),
        ],
        EnvOptions::default(),
    );
    profile_with_file(&env, "vim", ".vimrc", "set number\n");
    // The config qube runs on `fedora` as well: the template rule must leave it out.
    let out = ok(&env, &["assign", "--template", "fedora", "vim"]);
    assert!(out.contains("covers now: work"), "{out}");
    assert!(!out.contains(CONFIG_QUBE), "{out}");
    let out = ok(&env, &["assign", "--class", "StandaloneVM", "vim"]);
    assert!(out.contains("covers now: solo"), "{out}");
    let human = ok(&env, &["rules"]);
    assert!(human.contains("template  fedora"), "{human}");
    ok(&env, &["push", "-y"]);
    assert_eq!(has(&env, "work", ".vimrc").as_deref(), Some("set number\n"));
    assert_eq!(has(&env, "solo", ".vimrc").as_deref(), Some("set number\n"));
    assert_eq!(has(&env, CONFIG_QUBE, ".vimrc"), None);

    // Refusals, each a sentence, nothing stored.
    refused(
        &env,
        &["assign", "--tag", "dev", "nosuch"],
        "there is no profile nosuch",
    );
    refused(
        &env,
        &["assign", "--tag", "bad tag", "vim"],
        "is not a valid tag for an assignment rule",
    );
    refused(
        &env,
        &["assign", "--class", "AdminVM", "vim"],
        "invalid value 'AdminVM'",
    );
    refused(
        &env,
        &["assign", "--template", "fedora", "vim"],
        "exists already",
    );
    refused(
        &env,
        &["assign", "--tag", "dev", "work", "vim"],
        "give only the profile",
    );
    refused(
        &env,
        &["assign", "--tag", "dev", "--class", "AppVM", "vim"],
        "cannot be used with",
    );
    refused(&env, &["assign", "work"], "give QUBE PROFILE");
    assert_eq!(rules(&env).rules.len(), 2);
}

fn adopt_is_one_step_to_a_reviewed_proposal() {
    let env = Env::start(
        vec![managed(QubeSpec::app("work", "fedora").running())],
        EnvOptions::default(),
    );
    let home = env.home("work");
    std::fs::write(home.join(".tmux.conf"), "set -g mouse on\n").unwrap();
    let out = ok(&env, &["adopt", "work", ".tmux.conf", "--profile", "tmux"]);
    assert!(out.contains("profile tmux created"), "{out}");
    assert!(out.contains("imported as a proposal"), "{out}");
    let (_c, proxy) = env.client();
    let pending: qcs_daemon::client::types::ProposalList =
        serde_json::from_str(&zbus::block_on(proxy.list_proposals("pending")).unwrap()).unwrap();
    assert_eq!(pending.proposals.len(), 1);
    let id = pending.proposals[0].id;
    assert_eq!(pending.proposals[0].source_qube, "work");
    // Nothing is in the profile until the proposal is accepted.
    let (code, _, _) = env.cli(&["cat", "tmux", ".tmux.conf"]);
    assert_ne!(
        code, 0,
        "the adopted file entered the profile without review"
    );
    // The qube is assigned the profile; adopting again is recognised as pending.
    let (assigned, _, _) = zbus::block_on(proxy.get_qube_settings("work")).unwrap();
    assert_eq!(assigned, ["tmux"]);
    let again = ok(&env, &["adopt", "work", ".tmux.conf", "--profile", "tmux"]);
    assert!(again.contains("already pending"), "{again}");
    assert!(!again.contains("created"), "{again}");
    // Reviewed and accepted like every proposal.
    let shown = ok(&env, &["proposals", "show", &id.to_string()]);
    assert!(shown.contains("mouse"), "{shown}");
    // A path the profile did not have is a finding to acknowledge, as for any new path.
    let (code, out, err) = env.cli(&["proposals", "accept", &id.to_string()]);
    assert_ne!(code, 0, "{out} {err}");
    assert!(
        out.contains("meta.new-path") || err.contains("meta.new-path"),
        "{out} {err}"
    );
    let (code, out, err) = env.cli(&[
        "proposals",
        "accept",
        &id.to_string(),
        "--ack",
        "meta.new-path",
    ]);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(
        ok(&env, &["cat", "tmux", ".tmux.conf"]),
        "set -g mouse on\n"
    );

    // What cannot be adopted is refused with a sentence and changes nothing.
    std::os::unix::fs::symlink("/etc/passwd", home.join(".inputrc")).unwrap();
    std::fs::create_dir_all(home.join(".config/nvim")).unwrap();
    let profiles_before = ok(&env, &["profile", "list"]);
    for (args, sentence) in [
        (
            vec!["adopt", "work", ".inputrc", "--profile", "newp"],
            "is not a regular file (symlink)",
        ),
        (
            vec!["adopt", "work", ".config/nvim", "--profile", "newp"],
            "is not a regular file (directory)",
        ),
        (
            vec!["adopt", "work", ".nothere", "--profile", "newp"],
            "there is no .nothere in work",
        ),
        (
            vec!["adopt", "work", ".ssh/id_ed25519", "--profile", "newp"],
            "never-sync",
        ),
        (
            vec!["adopt", "dom0", ".bashrc", "--profile", "newp"],
            "is dom0",
        ),
        (
            vec!["adopt", CONFIG_QUBE, ".bashrc", "--profile", "newp"],
            "the config qube itself",
        ),
    ] {
        refused(&env, &args, sentence);
    }
    assert_eq!(ok(&env, &["profile", "list"]), profiles_before);
    let (assigned, _, _) = zbus::block_on(proxy.get_qube_settings("work")).unwrap();
    assert_eq!(assigned, ["tmux"]);
}

fn profile_files(env: &Env, profile: &str) -> Vec<String> {
    let (_c, proxy) = env.client();
    let view: qcs_daemon::client::types::ProfileView =
        serde_json::from_str(&zbus::block_on(proxy.get_profile(profile)).unwrap()).unwrap();
    view.files.into_iter().map(|f| f.path).collect()
}

fn a_directory_entry_is_pushed_checked_and_reviewed_file_by_file() {
    let env = Env::start(
        vec![
            managed(QubeSpec::app("work", "fedora").running()),
            managed(QubeSpec::app("linked", "fedora").running()),
        ],
        EnvOptions::default(),
    );
    let src = env.dir.path().join("nvim-src");
    std::fs::create_dir_all(src.join("lua")).unwrap();
    std::fs::create_dir_all(src.join("pack/x/.git")).unwrap();
    std::fs::write(src.join("init.lua"), "vim.o.number = true\n").unwrap();
    std::fs::write(src.join("lua/plugins.lua"), "return {}\n").unwrap();
    std::fs::write(src.join("pack/x/.git/config"), "[core]\n").unwrap();
    let from = src.to_str().unwrap();
    ok(&env, &["profile", "create", "nvim"]);
    let out = ok(
        &env,
        &[
            "profile",
            "add-dir",
            "nvim",
            ".config/nvim/",
            "--from",
            from,
        ],
    );
    assert!(out.contains("2 file(s) in .config/nvim"), "{out}");
    assert!(out.contains("left out"), "{out}");
    assert_eq!(
        profile_files(&env, "nvim"),
        [".config/nvim/init.lua", ".config/nvim/lua/plugins.lua"]
    );
    // add-file with a directory says what to use instead of an OS error.
    refused(
        &env,
        &[
            "profile",
            "add-file",
            "nvim",
            ".config/nvim",
            "--from",
            from,
        ],
        "is a directory: use `profile add-dir",
    );

    // In `linked`, .config/nvim is a symlink to a directory outside the home: the agent
    // never writes through it.
    let outside = env.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(env.home("linked").join(".config")).unwrap();
    std::os::unix::fs::symlink(&outside, env.home("linked").join(".config/nvim")).unwrap();
    ok(&env, &["assign", "work", "nvim"]);
    ok(&env, &["assign", "linked", "nvim"]);
    let (code, out, err) = env.cli(&["push", "-y"]);
    assert_eq!(code, 1, "the symlinked qube is a failure: {out} {err}");
    assert_eq!(
        has(&env, "work", ".config/nvim/lua/plugins.lua").as_deref(),
        Some("return {}\n")
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "written through a symlink"
    );

    // Drift is per file: one file changed in the qube, one new file appears.
    std::fs::write(
        env.home("work").join(".config/nvim/init.lua"),
        "vim.o.number = false\n",
    )
    .unwrap();
    std::fs::write(env.home("work").join(".config/nvim/new.lua"), "evil()\n").unwrap();
    let snapshot = ok(&env, &["snapshot", "work", "--profile", "nvim"]);
    assert!(snapshot.contains(".config/nvim/init.lua"), "{snapshot}");
    assert!(snapshot.contains("imported as a proposal"), "{snapshot}");
    assert!(
        snapshot.contains(".config/nvim/lua/plugins.lua"),
        "{snapshot}"
    );
    assert!(
        !snapshot.contains("new.lua"),
        "a file the profile does not have was read: {snapshot}"
    );
    let list = status(&env);
    let work = list.qubes.iter().find(|q| q.name == "work").unwrap();
    let nvim = work.profiles.iter().find(|p| p.profile == "nvim").unwrap();
    assert_eq!(nvim.state, SyncState::Drifted);
    assert_eq!(nvim.drifted_paths, [".config/nvim/init.lua"]);
    let (_c, proxy) = env.client();
    let pending: qcs_daemon::client::types::ProposalList =
        serde_json::from_str(&zbus::block_on(proxy.list_proposals("pending")).unwrap()).unwrap();
    let paths: Vec<&str> = pending.proposals.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, [".config/nvim/init.lua"], "reviewed file by file");

    // Re-adding the directory replaces the entry: a file gone from the source goes.
    std::fs::remove_file(src.join("lua/plugins.lua")).unwrap();
    std::fs::write(src.join("lua/keys.lua"), "-- keys\n").unwrap();
    let out = ok(
        &env,
        &["profile", "add-dir", "nvim", ".config/nvim", "--from", from],
    );
    assert!(
        out.contains("1 file(s) no longer in the directory removed"),
        "{out}"
    );
    assert_eq!(
        profile_files(&env, "nvim"),
        [".config/nvim/init.lua", ".config/nvim/lua/keys.lua"]
    );

    // A symlink or a FIFO inside the source: refused with a sentence, nothing stored.
    std::os::unix::fs::symlink("/etc/shadow", src.join("lua/shadow.lua")).unwrap();
    refused(
        &env,
        &["profile", "add-dir", "nvim", ".config/nvim", "--from", from],
        "lua/shadow.lua in the source directory is a symbolic link",
    );
    std::fs::remove_file(src.join("lua/shadow.lua")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    refused(
        &env,
        &["profile", "add-dir", "nvim", ".config/nvim", "--from", from],
        "fifo in the source directory is a FIFO",
    );
    assert_eq!(
        profile_files(&env, "nvim"),
        [".config/nvim/init.lua", ".config/nvim/lua/keys.lua"]
    );
    // The backend checks what a client sends as well.
    let error = zbus::block_on(proxy.put_directory(
        "nvim",
        ".config/nvim",
        &[(".bashrc", b"evil\n".as_slice(), 0o644)],
    ))
    .unwrap_err()
    .to_string();
    assert!(error.contains("dir.outside"), "{error}");
}
