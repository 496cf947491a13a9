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

/// Builds the raw request bytes of a case.
type RequestFn = Box<dyn Fn(&World) -> Vec<u8>>;
type Setup = fn(&World);

struct Case {
    name: &'static str,
    service: &'static str,
    /// Prepares the world (symlinks, special files, ...).
    setup: fn(&World),
    /// The raw request bytes.
    request: RequestFn,
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

/// What a planted private key holds; no reply may ever contain it.
const KEY: &[u8] = b"-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";
const KEY_MARK: &str = "SECRET-KEY-MATERIAL";
/// The backup id planted by [`plant_backup`].
const PLANTED_BACKUP: &str = "00000000000000000001-1-0";
const BACKUPS: &str = ".local/state/qubes-config-sync/backups";

fn plant(w: &World, path: &str, content: &[u8]) {
    let at = w.home.join(path);
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::fs::write(&at, content).unwrap();
}

/// `~/.ssh/id_ed25519` (the real key), `~/.gnupg/private-keys-v1.d/AB12.key`, a
/// project with a `.git` directory.
fn plant_secrets(w: &World) {
    plant(w, ".ssh/id_ed25519", KEY);
    plant(w, ".ssh/id_ed25519.pub", b"ssh-ed25519 AAAA user@work\n");
    plant(w, ".gnupg/private-keys-v1.d/AB12.key", KEY);
    plant(w, "src/proj/.git/config", b"[core]\n\tbare = false\n");
    plant(w, "src/proj/.git/hooks/README", b"hooks\n");
}

/// A complete backup (as the agent writes them) whose manifest names `path`, with
/// attacker content as its "previous version": what a rollback would restore.
fn plant_backup_naming(w: &World, path: &str) {
    plant_secrets(w);
    let evil = b"evil restored content\n";
    let dir = format!("{BACKUPS}/{PLANTED_BACKUP}");
    plant(w, &format!("{dir}/0"), evil);
    let manifest = json!({
        "version": 1, "profile": "git", "created_unix": 0,
        "entries": [{
            "path": path,
            "previous": {"blob": 0, "mode": "0600", "sha256": sha(evil)},
            "written_sha256": null,
        }],
    });
    plant(
        w,
        &format!("{dir}/manifest.json"),
        manifest.to_string().as_bytes(),
    );
}

fn plant_backup(w: &World) {
    plant_backup_naming(w, ".gitconfig");
}

/// An apply of `path` that overwrites whatever is there (the strongest request).
fn overwrite(path: &str) -> Vec<u8> {
    let mut f = file(path, b"attacker key\n");
    f["write_policy"] = json!("overwrite");
    apply_request(vec![f]).to_string().into_bytes()
}

fn snapshot_of(path: &str) -> Vec<u8> {
    json!({"version": 1, "profile": "git", "paths": [path]})
        .to_string()
        .into_bytes()
}

fn rollback_planted() -> Vec<u8> {
    json!({"version": 1, "profile": "git", "backup_ids": [PLANTED_BACKUP], "write_policy": "overwrite"})
        .to_string()
        .into_bytes()
}

/// Not an environment variable: tells [`check_case`] to run the agent under
/// `prlimit --fsize` (SIGXFSZ ignored), so its writes fail with EFBIG past the limit.
const FSIZE_KEY: &str = "test:prlimit-fsize";
const WRITES_OVER_64K_FAIL: &[(&str, &str)] = &[(FSIZE_KEY, "65536")];
const SETTINGS: &str = ".config/app/settings";

fn run_with_file_size_limit(w: &World, service: &str, limit: &str, stdin: &[u8]) -> Outcome {
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(r#"trap '' XFSZ; exec prlimit --fsize="$1" "$2" "$3""#)
        .args(["sh", limit, AGENT, service])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", &w.home)
        .env("QREXEC_SERVICE_ARGUMENT", "git");
    run_command(command, stdin)
}

/// `content` at [`SETTINGS`], put there by a real apply (so the state directory and
/// one complete backup exist), then replaced by `now` behind the agent's back
/// (the request below names it as its base).
fn applied_settings(w: &World, now: &[u8]) {
    let out = w.apply(&apply_request(vec![file(SETTINGS, b"v1\n")]));
    assert_eq!(out.status(0), "written", "{}", out.reply);
    std::fs::write(w.home.join(SETTINGS), now).unwrap();
}

fn update_settings(content: &[u8], base: &[u8]) -> Vec<u8> {
    let mut f = file(SETTINGS, content);
    f["base_sha256"] = json!(sha(base));
    apply_request(vec![f]).to_string().into_bytes()
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
            request: Box::new(|_| one("../outside/secret")),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "traversal in the middle",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| one(".config/../../outside/secret")),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "absolute path",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| one("/etc/passwd")),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "absolute path into the neighbour directory",
            service: "apply",
            setup: nothing,
            request: Box::new(|w| one(&w.outside.join("secret").to_string_lossy())),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "symlink at the target (to a file outside)",
            service: "apply",
            setup: |w| symlink(w.outside.join("secret"), w.home.join(".gitconfig")).unwrap(),
            request: Box::new(|_| one(".gitconfig")),
            env: &[],
            expect: Expect::FileRefused("symlink"),
        },
        Case {
            name: "dangling symlink at the target",
            service: "apply",
            setup: |w| symlink(w.outside.join("new"), w.home.join(".gitconfig")).unwrap(),
            request: Box::new(|_| one(".gitconfig")),
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
            request: Box::new(|_| one("secret")),
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
            request: Box::new(|_| one(".gitconfig")),
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
            request: Box::new(|_| one(".gitconfig")),
            env: &[],
            expect: Expect::FileRefused("socket"),
        },
        Case {
            name: "hardlinked target (second link outside home)",
            service: "apply",
            setup: |w| {
                std::fs::hard_link(w.outside.join("secret"), w.home.join(".gitconfig")).unwrap()
            },
            request: Box::new(|_| one(".gitconfig")),
            env: &[],
            expect: Expect::FileRefused("hardlink"),
        },
        Case {
            name: "directory in place of the file",
            service: "apply",
            setup: |w| std::fs::create_dir(w.home.join(".gitconfig")).unwrap(),
            request: Box::new(|_| one(".gitconfig")),
            env: &[],
            expect: Expect::FileRefused("directory"),
        },
        Case {
            name: "file in place of a parent directory",
            service: "apply",
            setup: |w| std::fs::write(w.home.join(".config"), b"plain file\n").unwrap(),
            request: Box::new(|_| one(".config/git/config")),
            env: &[],
            expect: Expect::FileRefused("not-a-directory"),
        },
        Case {
            name: "pre-existing file the tool never wrote",
            service: "apply",
            setup: |w| std::fs::write(w.home.join(".gitconfig"), b"mine\n").unwrap(),
            request: Box::new(|_| one(".gitconfig")),
            env: &[],
            expect: Expect::Conflict,
        },
        Case {
            name: "setuid mode requested",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| with_mode("4755")),
            env: &[],
            expect: Expect::Refused("mode-not-allowed"),
        },
        Case {
            name: "setgid mode requested",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| with_mode("2755")),
            env: &[],
            expect: Expect::Refused("mode-not-allowed"),
        },
        Case {
            name: "sticky mode requested",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| with_mode("1644")),
            env: &[],
            expect: Expect::Refused("mode-not-allowed"),
        },
        Case {
            name: "world-writable mode requested",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| with_mode("0777")),
            env: &[],
            expect: Expect::Refused("mode-not-allowed"),
        },
        Case {
            name: "oversize file",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| {
                let big = vec![b'a'; 256 * 1024 + 1];
                apply_request(vec![file(".gitconfig", &big)])
                    .to_string()
                    .into_bytes()
            }),
            env: &[],
            expect: Expect::Refused("file-too-large"),
        },
        Case {
            name: "too many files",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| {
                let files = (0..65).map(|i| file(&format!("f{i}"), b"x")).collect();
                apply_request(files).to_string().into_bytes()
            }),
            env: &[],
            expect: Expect::Refused("too-many-files"),
        },
        Case {
            name: "request over 8 MiB",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| vec![b' '; 8 * 1024 * 1024 + 1]),
            env: &[],
            expect: Expect::Refused("too-large"),
        },
        Case {
            name: "truncated JSON",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| {
                let full = one(".gitconfig");
                full[..full.len() - 7].to_vec()
            }),
            env: &[],
            expect: Expect::Refused("truncated"),
        },
        Case {
            name: "invalid JSON",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| b"{\"version\": 1, \"files\": [,]}".to_vec()),
            env: &[],
            expect: Expect::Refused("invalid-json"),
        },
        Case {
            name: "deep nesting",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| {
                let mut v = "[".repeat(100_000);
                v.push_str(&"]".repeat(100_000));
                v.into_bytes()
            }),
            env: &[],
            expect: Expect::Refused("too-deep"),
        },
        Case {
            name: "invalid UTF-8 in a path",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| {
                let text = String::from_utf8(one(".gitconfig")).unwrap();
                text.replacen(".gitconfig", ".git\u{1}config", 1)
                    .into_bytes()
                    .into_iter()
                    .map(|b| if b == 1 { 0xff } else { b })
                    .collect()
            }),
            env: &[],
            expect: Expect::Refused("invalid-utf8"),
        },
        Case {
            name: "bidi override in a path",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| one(".config/autostart/x\u{202E}pmt.desktop")),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "zero-width space in a path",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| one(".bash\u{200B}rc")),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "NUL in a path",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| one(".bashrc\u{0}.txt")),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "newline in a path",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| one(".bashrc\n.txt")),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "leading dash in a component",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| one(".config/-rf")),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "content does not match its sha256",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| {
                let mut f = file(".gitconfig", b"x\n");
                f["sha256"] = json!(sha(b"other"));
                apply_request(vec![f]).to_string().into_bytes()
            }),
            env: &[],
            expect: Expect::FileRefused("hash-mismatch"),
        },
        Case {
            name: "body profile differs from the qrexec argument",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| {
                let mut r = apply_request(vec![file(".ssh/config", b"x\n")]);
                r["profile"] = json!("ssh");
                r.to_string().into_bytes()
            }),
            env: &[],
            expect: Expect::Refused("profile-mismatch"),
        },
        Case {
            name: "unknown field",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| {
                let mut f = file(".gitconfig", b"x\n");
                f["owner"] = json!("root");
                apply_request(vec![f]).to_string().into_bytes()
            }),
            env: &[],
            expect: Expect::Refused("schema"),
        },
        Case {
            name: "the same path twice",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| {
                apply_request(vec![file(".gitconfig", b"a\n"), file(".gitconfig", b"b\n")])
                    .to_string()
                    .into_bytes()
            }),
            env: &[],
            expect: Expect::Refused("duplicate-path"),
        },
        Case {
            name: "spool quota exhausted (count)",
            service: "propose-receive",
            setup: fill_spool,
            request: Box::new(|_| propose_request("c")),
            env: QUOTA_2,
            expect: Expect::Refused("quota-exceeded"),
        },
        Case {
            name: "spool quota exhausted (bytes)",
            service: "propose-receive",
            setup: fill_spool_bytes,
            request: Box::new(|_| propose_request("b")),
            env: QUOTA_BYTES,
            expect: Expect::Refused("quota-exceeded"),
        },
        Case {
            name: "proposal with a traversal path",
            service: "propose-receive",
            setup: nothing,
            request: Box::new(|_| {
                String::from_utf8(propose_request("a"))
                    .unwrap()
                    .replace(".gitconfig", "../../etc/shadow")
                    .into_bytes()
            }),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "proposal from an invalid source qube name",
            service: "propose-receive",
            setup: nothing,
            request: Box::new(|_| propose_request("a")),
            env: &[("QREXEC_REMOTE_DOMAIN", "../work")],
            expect: Expect::Refused("bad-environment"),
        },
        Case {
            name: "snapshot through a symlinked parent (reads nothing outside)",
            service: "snapshot",
            setup: |w| symlink_to_outside(w, ".config"),
            request: Box::new(|_| {
                json!({"version": 1, "profile": "git", "paths": [".config/secret"]})
                    .to_string()
                    .into_bytes()
            }),
            env: &[],
            expect: Expect::SnapshotRefused("symlink"),
        },
        Case {
            name: "snapshot of a traversal path",
            service: "snapshot",
            setup: nothing,
            request: Box::new(|_| {
                json!({"version": 1, "profile": "git", "paths": ["../outside/secret"]})
                    .to_string()
                    .into_bytes()
            }),
            env: &[],
            expect: Expect::Refused("invalid-path"),
        },
        Case {
            name: "rollback with a traversal backup id",
            service: "rollback",
            setup: nothing,
            request: Box::new(|_| {
                json!({"version": 1, "profile": "git", "backup_ids": ["../../outside"]})
                    .to_string()
                    .into_bytes()
            }),
            env: &[],
            expect: Expect::Refused("schema"),
        },
        Case {
            name: "invalid profile argument",
            service: "apply",
            setup: nothing,
            request: Box::new(|_| one(".gitconfig")),
            env: &[("QREXEC_SERVICE_ARGUMENT", "../git")],
            expect: Expect::Refused("invalid-profile"),
        },
    ];
    // The agent's own never-sync list: refused even when the config qube asks, in
    // any spelling a case-insensitive (casefold ext4, vfat) home would resolve to
    // the protected file.
    let never_sync_applies: &[(&str, &str)] = &[
        ("private key", ".ssh/id_ed25519"),
        ("private key, upper case", ".SSH/ID_ED25519"),
        ("private key, mixed case, new", ".Ssh/Id_Rsa"),
        (
            "private key, long s (casefolds to .ssh)",
            ".\u{17F}sh/id_ed25519",
        ),
        (
            "private key, sharp s (casefolds to ss)",
            ".\u{DF}h/ID_ED25519",
        ),
        ("private key, vfat trailing dot", ".ssh./id_ed25519"),
        ("private key, vfat 8.3 alias", ".ssh/ID_ED2~1"),
        ("private key, other name", ".ssh/github_ed25519"),
        ("private key anywhere (*.key)", "certs/Server.KEY"),
        ("gnupg private key", ".gnupg/private-keys-v1.d/AB12.key"),
        ("gnupg keyring, mixed case", ".GnuPG/pubring.kbx"),
        (
            "gnupg, Kelvin sign (casefolds to k)",
            ".gnupg/private-\u{212A}eys-v1.d/AB12.key",
        ),
        ("gnupg directory itself", ".gnupg"),
        ("keyring", ".local/share/keyrings/login.keyring"),
        ("credentials", ".netrc"),
        ("credentials, upper case, vfat trailing dot", ".NETRC."),
        ("git hook", "src/proj/.git/hooks/post-checkout"),
        ("git config, mixed case", "src/proj/.GIT/config"),
        ("gitdir pointer file", "src/other/.git"),
        (
            "own state: a backup manifest",
            ".local/state/qubes-config-sync/backups/00000000000000000001-1-0/manifest.json",
        ),
        (
            "own state, mixed case",
            ".LOCAL/State/QUBES-CONFIG-SYNC/backups/.lock",
        ),
        ("own state: the directory as a file", ".local/state"),
        (
            "own state: the spool",
            ".local/share/qubes-config-sync/spool/work/x.json",
        ),
    ];
    for (what, path) in never_sync_applies {
        let setup: fn(&World) = if path.starts_with(".local/state") {
            plant_backup
        } else {
            plant_secrets
        };
        cases.push(Case {
            name: Box::leak(format!("never-sync apply: {what} ({path})").into_boxed_str()),
            service: "apply",
            setup,
            request: Box::new(move |_: &World| overwrite(path)),
            env: &[],
            expect: Expect::FileRefused("never-sync"),
        });
    }
    let never_sync_snapshots: &[(&str, &str)] = &[
        ("private key", ".ssh/id_ed25519"),
        ("private key, upper case", ".SSH/ID_ED25519"),
        ("private key, vfat 8.3 alias", ".ssh/ID_ED2~1"),
        ("gnupg private key", ".gnupg/private-keys-v1.d/AB12.key"),
        ("git config", "src/proj/.git/config"),
        (
            "own state: a backup blob",
            ".local/state/qubes-config-sync/backups/00000000000000000001-1-0/0",
        ),
    ];
    for (what, path) in never_sync_snapshots {
        let setup: fn(&World) = if path.starts_with(".local/state") {
            plant_backup
        } else {
            plant_secrets
        };
        cases.push(Case {
            name: Box::leak(format!("never-sync snapshot: {what} ({path})").into_boxed_str()),
            service: "snapshot",
            setup,
            request: Box::new(move |_: &World| snapshot_of(path)),
            env: &[],
            expect: Expect::SnapshotRefused("never-sync"),
        });
    }
    let never_sync_rollbacks: &[(&str, Setup)] = &[
        ("a private key", |w| {
            plant_backup_naming(w, ".ssh/id_ed25519")
        }),
        ("a private key, upper case", |w| {
            plant_backup_naming(w, ".SSH/ID_ED25519")
        }),
        ("a git hook", |w| {
            plant_backup_naming(w, "src/proj/.git/hooks/post-checkout")
        }),
        ("the agent's own state", |w| {
            plant_backup_naming(w, ".local/state/qubes-config-sync/backups/.lock")
        }),
    ];
    for (what, setup) in never_sync_rollbacks {
        cases.push(Case {
            name: Box::leak(format!("never-sync rollback: manifest names {what}").into_boxed_str()),
            service: "rollback",
            setup: *setup,
            request: Box::new(|_| rollback_planted()),
            env: &[],
            expect: Expect::FileRefused("never-sync"),
        });
    }
    // A write that fails in the middle of an apply leaves no partial (or useless)
    // backup: the world, backups included, is as before.
    cases.push(Case {
        name: "write failure while copying the previous version into the backup",
        service: "apply",
        setup: |w| applied_settings(w, &[b'o'; 200 * 1024]),
        request: Box::new(|_| update_settings(b"new\n", &[b'o'; 200 * 1024])),
        env: WRITES_OVER_64K_FAIL,
        expect: Expect::FileRefused("io"),
    });
    cases.push(Case {
        name: "write failure of the new file after the backup was made",
        service: "apply",
        setup: |w| applied_settings(w, b"small\n"),
        request: Box::new(|_| update_settings(&[b'n'; 100 * 1024], b"small\n")),
        env: WRITES_OVER_64K_FAIL,
        expect: Expect::FileRefused("io"),
    });
    // A symlink at each component of `.config/git/config`, with both resolvers.
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
                request: Box::new(|_| one(".config/git/config")),
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
    let request = (case.request)(&world);
    let out = match case.env.iter().find(|(k, _)| *k == FSIZE_KEY) {
        Some((_, limit)) => run_with_file_size_limit(&world, case.service, limit, &request),
        None => world.run(case.service, profile, &request, case.env),
    };
    let after = world.tree();
    let changes = diff(&before, &after);
    if !changes.is_empty() {
        return Err(format!("the world changed: {changes:?}"));
    }
    let reply = out.reply.to_string();
    if reply.contains(KEY_MARK) || reply.contains(&sha(KEY)) {
        return Err(format!("the reply leaks the planted key: {reply}"));
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
            if !out.reply["ok"]["backup_id"].is_null()
                || out.reply["ok"]["backup_ids"]
                    .as_array()
                    .is_some_and(|ids| !ids.is_empty())
            {
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
