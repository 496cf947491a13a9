//! The attack matrix: hostile requests and hostile home directories. Each case
//! asserts the exact refusal and that nothing in the whole temp world (home, the
//! directory next to it, the spool) changed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::os::unix::fs::symlink;

use common::*;
use serde_json::json;

/// What a case must produce.
enum Expect {
    /// The whole request refused with this code (exit 1).
    Refused(&'static str),
    /// The request answered, file 0 refused with this reason.
    FileRefused(&'static str),
    /// The request answered, file 0 a conflict.
    Conflict,
    /// A snapshot answered, path 0 reported as refused for this reason.
    SnapshotRefused(&'static str),
}

struct Case {
    name: &'static str,
    service: &'static str,
    /// Prepares the world (symlinks, special files, ...).
    setup: fn(&World),
    /// The raw request bytes.
    request: fn(&World) -> Vec<u8>,
    env: &'static [(&'static str, &'static str)],
    expect: Expect,
}

fn nothing(_: &World) {}

fn one(path: &str) -> Vec<u8> {
    apply_request(vec![file(path, b"evil\n")])
        .to_string()
        .into_bytes()
}

fn with_mode(mode: &str) -> Vec<u8> {
    let mut f = file(".gitconfig", b"x\n");
    f["mode"] = json!(mode);
    apply_request(vec![f]).to_string().into_bytes()
}

fn propose_request(tag: &str) -> Vec<u8> {
    let content = format!("proposal {tag}\n");
    json!({
        "version": 1, "profile": "git",
        "files": [{
            "path": ".gitconfig", "mode": "0644",
            "content": {"encoding": "utf-8", "data": content},
            "sha256": sha(content.as_bytes()),
        }],
    })
    .to_string()
    .into_bytes()
}

const CHAIN: &[(&str, &str)] = &[("QUBES_CONFIG_AGENT_FORCE_OPENAT_CHAIN", "1")];
const QUOTA_2: &[(&str, &str)] = &[("QUBES_CONFIG_SYNC_SPOOL_MAX_COUNT", "2")];
const QUOTA_BYTES: &[(&str, &str)] = &[("QUBES_CONFIG_SYNC_SPOOL_MAX_BYTES", "600")];

fn fill_spool(w: &World) {
    // Two accepted proposals use up a quota of 2.
    for tag in ["a", "b"] {
        let out = w.run("propose-receive", "git", &propose_request(tag), QUOTA_2);
        assert_eq!(out.code, 0, "{}", out.reply);
    }
}

fn fill_spool_bytes(w: &World) {
    let out = w.run("propose-receive", "git", &propose_request("a"), QUOTA_BYTES);
    assert_eq!(out.code, 0, "{}", out.reply);
}

fn symlink_to_outside(w: &World, at: &str) {
    let link = w.home.join(at);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    symlink(&w.outside, &link).unwrap();
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        Case {
            name: "traversal ../",
            service: "apply",
            setup: nothing,
            request: |_| one("../outside/secret"),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "traversal in the middle",
            service: "apply",
            setup: nothing,
            request: |_| one(".config/../../outside/secret"),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "absolute path",
            service: "apply",
            setup: nothing,
            request: |_| one("/etc/passwd"),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "absolute path into the neighbour directory",
            service: "apply",
            setup: nothing,
            request: |w| one(&w.outside.join("secret").to_string_lossy()),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "symlink at the target (to a file outside)",
            service: "apply",
            setup: |w| symlink(w.outside.join("secret"), w.home.join(".gitconfig")).unwrap(),
            request: |_| one(".gitconfig"),
            env: &[],
            expect: Expect::FileRefused("symlink"),
        },
        Case {
            name: "dangling symlink at the target",
            service: "apply",
            setup: |w| symlink(w.outside.join("new"), w.home.join(".gitconfig")).unwrap(),
            request: |_| one(".gitconfig"),
            env: &[],
            expect: Expect::FileRefused("symlink"),
        },
        Case {
            name: "symlinked HOME",
            service: "apply",
            setup: |w| {
                std::fs::remove_dir(&w.home).unwrap();
                symlink(&w.outside, &w.home).unwrap();
            },
            request: |_| one("secret"),
            env: &[],
            expect: Expect::Refused("bad-environment"),
        },
        Case {
            name: "FIFO at the target",
            service: "apply",
            setup: |w| {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    w.home.join(".gitconfig"),
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o644),
                    0,
                )
                .unwrap()
            },
            request: |_| one(".gitconfig"),
            env: &[],
            expect: Expect::FileRefused("fifo"),
        },
        Case {
            name: "unix socket at the target",
            service: "apply",
            setup: |w| {
                let listener = std::os::unix::net::UnixListener::bind(w.home.join(".gitconfig"));
                std::mem::forget(listener.unwrap());
            },
            request: |_| one(".gitconfig"),
            env: &[],
            expect: Expect::FileRefused("socket"),
        },
        Case {
            name: "hardlinked target (second link outside home)",
            service: "apply",
            setup: |w| {
                std::fs::hard_link(w.outside.join("secret"), w.home.join(".gitconfig")).unwrap()
            },
            request: |_| one(".gitconfig"),
            env: &[],
            expect: Expect::FileRefused("hardlink"),
        },
        Case {
            name: "directory in place of the file",
            service: "apply",
            setup: |w| std::fs::create_dir(w.home.join(".gitconfig")).unwrap(),
            request: |_| one(".gitconfig"),
            env: &[],
            expect: Expect::FileRefused("directory"),
        },
        Case {
            name: "file in place of a parent directory",
            service: "apply",
            setup: |w| std::fs::write(w.home.join(".config"), b"plain file\n").unwrap(),
            request: |_| one(".config/git/config"),
            env: &[],
            expect: Expect::FileRefused("not-a-directory"),
        },
        Case {
            name: "pre-existing file the tool never wrote",
            service: "apply",
            setup: |w| std::fs::write(w.home.join(".gitconfig"), b"mine\n").unwrap(),
            request: |_| one(".gitconfig"),
            env: &[],
            expect: Expect::Conflict,
        },
        Case {
            name: "setuid mode requested",
            service: "apply",
            setup: nothing,
            request: |_| with_mode("4755"),
            env: &[],
            expect: Expect::Refused("mode-not-allowed"),
        },
        Case {
            name: "setgid mode requested",
            service: "apply",
            setup: nothing,
            request: |_| with_mode("2755"),
            env: &[],
            expect: Expect::Refused("mode-not-allowed"),
        },
        Case {
            name: "sticky mode requested",
            service: "apply",
            setup: nothing,
            request: |_| with_mode("1644"),
            env: &[],
            expect: Expect::Refused("mode-not-allowed"),
        },
        Case {
            name: "world-writable mode requested",
            service: "apply",
            setup: nothing,
            request: |_| with_mode("0777"),
            env: &[],
            expect: Expect::Refused("mode-not-allowed"),
        },
        Case {
            name: "oversize file",
            service: "apply",
            setup: nothing,
            request: |_| {
                let big = vec![b'a'; 256 * 1024 + 1];
                apply_request(vec![file(".gitconfig", &big)])
                    .to_string()
                    .into_bytes()
            },
            env: &[],
            expect: Expect::Refused("file-too-large"),
        },
        Case {
            name: "too many files",
            service: "apply",
            setup: nothing,
            request: |_| {
                let files = (0..65).map(|i| file(&format!("f{i}"), b"x")).collect();
                apply_request(files).to_string().into_bytes()
            },
            env: &[],
            expect: Expect::Refused("too-many-files"),
        },
        Case {
            name: "request over 8 MiB",
            service: "apply",
            setup: nothing,
            request: |_| vec![b' '; 8 * 1024 * 1024 + 1],
            env: &[],
            expect: Expect::Refused("too-large"),
        },
        Case {
            name: "truncated JSON",
            service: "apply",
            setup: nothing,
            request: |_| {
                let full = one(".gitconfig");
                full[..full.len() - 7].to_vec()
            },
            env: &[],
            expect: Expect::Refused("truncated"),
        },
        Case {
            name: "invalid JSON",
            service: "apply",
            setup: nothing,
            request: |_| b"{\"version\": 1, \"files\": [,]}".to_vec(),
            env: &[],
            expect: Expect::Refused("invalid-json"),
        },
        Case {
            name: "deep nesting",
            service: "apply",
            setup: nothing,
            request: |_| {
                let mut v = "[".repeat(100_000);
                v.push_str(&"]".repeat(100_000));
                v.into_bytes()
            },
            env: &[],
            expect: Expect::Refused("too-deep"),
        },
        Case {
            name: "invalid UTF-8 in a path",
            service: "apply",
            setup: nothing,
            request: |_| {
                let text = String::from_utf8(one(".gitconfig")).unwrap();
                text.replacen(".gitconfig", ".git\u{1}config", 1)
                    .into_bytes()
                    .into_iter()
                    .map(|b| if b == 1 { 0xff } else { b })
                    .collect()
            },
            env: &[],
            expect: Expect::Refused("invalid-utf8"),
        },
        Case {
            name: "bidi override in a path",
            service: "apply",
            setup: nothing,
            request: |_| one(".config/autostart/x\u{202E}pmt.desktop"),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "zero-width space in a path",
            service: "apply",
            setup: nothing,
            request: |_| one(".bash\u{200B}rc"),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "NUL in a path",
            service: "apply",
            setup: nothing,
            request: |_| one(".bashrc\u{0}.txt"),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "newline in a path",
            service: "apply",
            setup: nothing,
            request: |_| one(".bashrc\n.txt"),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "leading dash in a component",
            service: "apply",
            setup: nothing,
            request: |_| one(".config/-rf"),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "content does not match its sha256",
            service: "apply",
            setup: nothing,
            request: |_| {
                let mut f = file(".gitconfig", b"x\n");
                f["sha256"] = json!(sha(b"other"));
                apply_request(vec![f]).to_string().into_bytes()
            },
            env: &[],
            expect: Expect::FileRefused("hash-mismatch"),
        },
        Case {
            name: "body profile differs from the qrexec argument",
            service: "apply",
            setup: nothing,
            request: |_| {
                let mut r = apply_request(vec![file(".ssh/config", b"x\n")]);
                r["profile"] = json!("ssh");
                r.to_string().into_bytes()
            },
            env: &[],
            expect: Expect::Refused("profile-mismatch"),
        },
        Case {
            name: "unknown field",
            service: "apply",
            setup: nothing,
            request: |_| {
                let mut f = file(".gitconfig", b"x\n");
                f["owner"] = json!("root");
                apply_request(vec![f]).to_string().into_bytes()
            },
            env: &[],
            expect: Expect::Refused("schema"),
        },
        Case {
            name: "the same path twice",
            service: "apply",
            setup: nothing,
            request: |_| {
                apply_request(vec![file(".gitconfig", b"a\n"), file(".gitconfig", b"b\n")])
                    .to_string()
                    .into_bytes()
            },
            env: &[],
            expect: Expect::Refused("duplicate-path"),
        },
        Case {
            name: "spool quota exhausted (count)",
            service: "propose-receive",
            setup: fill_spool,
            request: |_| propose_request("c"),
            env: QUOTA_2,
            expect: Expect::Refused("quota-exceeded"),
        },
        Case {
            name: "spool quota exhausted (bytes)",
            service: "propose-receive",
            setup: fill_spool_bytes,
            request: |_| propose_request("b"),
            env: QUOTA_BYTES,
            expect: Expect::Refused("quota-exceeded"),
        },
        Case {
            name: "proposal with a traversal path",
            service: "propose-receive",
            setup: nothing,
            request: |_| {
                String::from_utf8(propose_request("a"))
                    .unwrap()
                    .replace(".gitconfig", "../../etc/shadow")
                    .into_bytes()
            },
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "proposal from an invalid source qube name",
            service: "propose-receive",
            setup: nothing,
            request: |_| propose_request("a"),
            env: &[("QREXEC_REMOTE_DOMAIN", "../work")],
            expect: Expect::Refused("bad-environment"),
        },
        Case {
            name: "snapshot through a symlinked parent (reads nothing outside)",
            service: "snapshot",
            setup: |w| symlink_to_outside(w, ".config"),
            request: |_| {
                json!({"version": 1, "profile": "git", "paths": [".config/secret"]})
                    .to_string()
                    .into_bytes()
            },
            env: &[],
            expect: Expect::SnapshotRefused("symlink"),
        },
        Case {
            name: "snapshot of a traversal path",
            service: "snapshot",
            setup: nothing,
            request: |_| {
                json!({"version": 1, "profile": "git", "paths": ["../outside/secret"]})
                    .to_string()
                    .into_bytes()
            },
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "rollback with a traversal backup id",
            service: "rollback",
            setup: nothing,
            request: |_| {
                json!({"version": 1, "profile": "git", "backup_ids": ["../../outside"]})
                    .to_string()
                    .into_bytes()
            },
            env: &[],
            expect: Expect::Refused("schema"),
        },
        Case {
            name: "invalid profile argument",
            service: "apply",
            setup: nothing,
            request: |_| one(".gitconfig"),
            env: &[("QREXEC_SERVICE_ARGUMENT", "../git")],
            expect: Expect::Refused("invalid-profile"),
        },
    ];
    // A symlink at each component of `.config/git/config`, with both resolvers.
    type Setup = fn(&World);
    let per_component: [(&str, Setup); 3] = [
        ("first", |w| symlink_to_outside(w, ".config")),
        ("middle", |w| symlink_to_outside(w, ".config/git")),
        ("last", |w| {
            std::fs::create_dir_all(w.home.join(".config/git")).unwrap();
            symlink(w.outside.join("secret"), w.home.join(".config/git/config")).unwrap();
        }),
    ];
    for (which, setup) in per_component {
        for (resolver, env) in [("openat2", &[][..]), ("openat chain", CHAIN)] {
            cases.push(Case {
                name: Box::leak(
                    format!("symlink at the {which} component ({resolver})").into_boxed_str(),
                ),
                service: "apply",
                setup,
                request: |_| one(".config/git/config"),
                env,
                expect: Expect::FileRefused("symlink"),
            });
        }
    }
    cases
}

fn check_case(case: &Case) -> Result<(), String> {
    let world = World::new();
    (case.setup)(&world);
    let before = world.tree();
    let profile = "git";
    let out = world.run(case.service, profile, &(case.request)(&world), case.env);
    let after = world.tree();
    let changes = diff(&before, &after);
    if !changes.is_empty() {
        return Err(format!("the world changed: {changes:?}"));
    }
    match case.expect {
        Expect::Refused(code) => {
            if out.code != 1 || out.refusal() != Some(code) {
                return Err(format!(
                    "expected refusal {code}, got exit {} {}",
                    out.code, out.reply
                ));
            }
        }
        Expect::FileRefused(reason) => {
            if out.code != 0 || out.status(0) != "refused" || out.reason(0) != reason {
                return Err(format!("expected file refusal {reason}, got {}", out.reply));
            }
            if !out.reply["ok"]["backup_id"].is_null() {
                return Err("a backup was made for a refused file".into());
            }
        }
        Expect::SnapshotRefused(reason) => {
            let state = &out.reply["ok"]["entries"][0]["state"];
            if out.code != 0 || state["type"] != "refused" || state["reason"] != reason {
                return Err(format!(
                    "expected snapshot refusal {reason}, got {}",
                    out.reply
                ));
            }
        }
        Expect::Conflict => {
            if out.code != 0 || out.status(0) != "conflict" {
                return Err(format!("expected a conflict, got {}", out.reply));
            }
        }
    }
    Ok(())
}

#[test]
fn attack_matrix() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = check_case(case) {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    println!(
        "attack matrix: {} cases, {} refused exactly as expected with the world unchanged",
        cases.len(),
        cases.len() - failures.len()
    );
    assert!(cases.len() >= 25);
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
}

#[test]
fn device_at_the_target() {
    let world = World::new();
    let target = world.home.join(".gitconfig");
    let made = rustix::fs::mknodat(
        rustix::fs::CWD,
        &target,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o644),
        rustix::fs::makedev(1, 3),
    );
    if let Err(e) = made {
        println!("SKIPPED device_at_the_target: mknod is not permitted here ({e})");
        return;
    }
    let before = world.tree();
    let out = world.apply(&apply_request(vec![file(".gitconfig", b"x\n")]));
    assert_eq!(diff(&before, &world.tree()), Vec::<String>::new());
    assert_eq!(
        (out.status(0), out.reason(0)),
        ("refused", "device"),
        "{}",
        out.reply
    );
}

/// A symlink swapped in between the check and the write, for real: the agent
/// pauses after checking (test hook), the test replaces the checked file with a
/// symlink to a file outside home, then lets the agent go on.
#[test]
fn symlink_swapped_in_between_check_and_write() {
    if !cfg!(debug_assertions) {
        println!(
            "SKIPPED symlink_swapped_in_between_check_and_write: the pause hook exists in debug builds only"
        );
        return;
    }
    for (resolver, env) in [("openat2", None), ("openat chain", Some("1"))] {
        let world = World::new();
        std::fs::write(world.home.join(".gitconfig"), b"old\n").unwrap();
        let pause = world.root.path().join("pause");
        std::fs::create_dir(&pause).unwrap();
        let mut f = file(".gitconfig", b"new\n");
        f["base_sha256"] = json!(sha(b"old\n"));
        let request = apply_request(vec![f]).to_string();
        let mut command = std::process::Command::new(AGENT);
        command
            .arg("apply")
            .env_clear()
            .env("HOME", &world.home)
            .env("QREXEC_SERVICE_ARGUMENT", "git")
            .env("QUBES_CONFIG_AGENT_TEST_PAUSE_DIR", &pause);
        if let Some(v) = env {
            command.env("QUBES_CONFIG_AGENT_FORCE_OPENAT_CHAIN", v);
        }
        let home = world.home.clone();
        let outside = world.outside.clone();
        let racer = std::thread::spawn(move || {
            while !pause.join("checked").exists() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let target = home.join(".gitconfig");
            std::fs::remove_file(&target).unwrap();
            symlink(outside.join("secret"), &target).unwrap();
            std::fs::write(pause.join("go"), b"").unwrap();
        });
        let out = run_command(command, request.as_bytes());
        racer.join().unwrap();
        assert_eq!(
            (out.status(0), out.reason(0)),
            ("refused", "raced"),
            "{resolver}: {}",
            out.reply
        );
        assert_eq!(
            std::fs::read(world.outside.join("secret")).unwrap(),
            b"outside secret\n",
            "{resolver}: wrote through the symlink"
        );
        let link = std::fs::symlink_metadata(world.home.join(".gitconfig")).unwrap();
        assert!(
            link.file_type().is_symlink(),
            "{resolver}: the swapped-in symlink was replaced"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&world.home)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".qcs-"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{resolver}: temporary files left: {leftovers:?}"
        );
    }
}

/// A racing thread keeps flipping a parent directory between a real directory and a
/// symlink to outside while applies run; nothing outside home may ever be written.
#[test]
fn racing_parent_symlink_never_writes_outside() {
    let world = World::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (home, outside) = (world.home.clone(), world.outside.clone());
    let flag = stop.clone();
    let racer = std::thread::spawn(move || {
        let real = home.join(".config-real");
        std::fs::create_dir(&real).unwrap();
        let mut flips = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = std::fs::rename(&real, home.join(".config"));
            let _ = std::fs::rename(home.join(".config"), &real);
            let _ = symlink(&outside, home.join(".config"));
            let _ = std::fs::remove_file(home.join(".config"));
            flips += 1;
        }
        flips
    });
    let mut outcomes = std::collections::BTreeMap::new();
    for i in 0..40 {
        let mut f = file(".config/secret", format!("attempt {i}\n").as_bytes());
        f["write_policy"] = json!("overwrite");
        let out = world.apply(&apply_request(vec![f]));
        let key = format!("{} {}", out.status(0), out.reason(0));
        *outcomes.entry(key).or_insert(0) += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = racer.join().unwrap();
    println!("racing parent symlink: {flips} flips, outcomes {outcomes:?}");
    let outside: Vec<_> = std::fs::read_dir(&world.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("secret")]);
    assert_eq!(
        std::fs::read(world.outside.join("secret")).unwrap(),
        b"outside secret\n"
    );
}

#[test]
fn parallel_proposals_cannot_exceed_the_quota() {
    let world = World::new();
    let quota = 5;
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let spool = world.spool.clone();
            let home = world.home.clone();
            std::thread::spawn(move || {
                let mut command = std::process::Command::new(AGENT);
                command
                    .arg("propose-receive")
                    .env_clear()
                    .env("HOME", &home)
                    .env("QREXEC_SERVICE_ARGUMENT", "git")
                    .env("QREXEC_REMOTE_DOMAIN", "work")
                    .env("QUBES_CONFIG_SYNC_SPOOL", &spool)
                    .env("QUBES_CONFIG_SYNC_SPOOL_MAX_COUNT", quota.to_string());
                run_command(command, &propose_request(&i.to_string()))
            })
        })
        .collect();
    let outcomes: Vec<Outcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let accepted = outcomes.iter().filter(|o| o.code == 0).count();
    let refused = outcomes
        .iter()
        .filter(|o| o.refusal() == Some("quota-exceeded"))
        .count();
    assert_eq!((accepted, refused), (quota, 16 - quota));
    let spooled = std::fs::read_dir(world.spool.join("work"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    assert_eq!(spooled, quota);
}

#[test]
fn rollback_of_another_profiles_backup_is_refused() {
    let world = World::new();
    let out = world.apply(&apply_request(vec![file(".gitconfig", b"v1\n")]));
    let id = out.reply["ok"]["backup_id"].as_str().unwrap().to_owned();
    let before = world.tree();
    let request = json!({"version": 1, "profile": "ssh", "backup_ids": [id]});
    let out = world.run("rollback", "ssh", request.to_string().as_bytes(), &[]);
    assert_eq!(diff(&before, &world.tree()), Vec::<String>::new());
    assert_eq!(
        out.reply["ok"]["files"][0]["outcome"]["reason"],
        "unknown-backup"
    );
}
