//! The services doing their job, through the real binaries: apply (create, update,
//! unchanged, conflict, overwrite, modes, backups and retention), snapshot, rollback,
//! and propose from `qubes-config-propose` through a qrexec-client stand-in into the
//! spool.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::process::Command;

use common::*;
use qcs_protocol::{SpooledProposal, parse_message};
use serde_json::{Value, json};

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn update(path: &str, content: &[u8], base: &[u8]) -> Value {
    let mut f = file(path, content);
    f["base_sha256"] = json!(sha(base));
    f
}

fn backup_id(out: &Outcome) -> String {
    out.reply["ok"]["backup_id"].as_str().unwrap().to_owned()
}

#[test]
fn apply_creates_updates_and_reports() {
    for chain in [false, true] {
        let world = World::new();
        let env: &[(&str, &str)] = if chain {
            &[("QUBES_CONFIG_AGENT_FORCE_OPENAT_CHAIN", "1")]
        } else {
            &[]
        };
        let run = |request: Value| world.run("apply", "git", request.to_string().as_bytes(), env);

        // Create, with missing parents made 0700.
        let out = run(apply_request(vec![file(".config/git/config", b"v1\n")]));
        assert_eq!(out.code, 0, "{}", out.reply);
        assert_eq!(out.status(0), "written");
        assert_eq!(out.files()[0]["outcome"]["backed_up"], false);
        let target = world.home.join(".config/git/config");
        assert_eq!(std::fs::read(&target).unwrap(), b"v1\n");
        assert_eq!(mode_of(&target), 0o644);
        assert_eq!(mode_of(&world.home.join(".config")), 0o700);
        assert_eq!(mode_of(&world.home.join(".config/git")), 0o700);

        // Same again: unchanged, no backup.
        let out = run(apply_request(vec![file(".config/git/config", b"v1\n")]));
        assert_eq!(out.status(0), "unchanged");
        assert!(out.reply["ok"]["backup_id"].is_null());

        // Update with the right base.
        let mut f = update(".config/git/config", b"v2\n", b"v1\n");
        f["mode"] = json!("0600");
        let out = run(apply_request(vec![f]));
        assert_eq!(out.status(0), "written", "{}", out.reply);
        assert_eq!(out.files()[0]["outcome"]["backed_up"], true);
        assert_eq!(std::fs::read(&target).unwrap(), b"v2\n");
        assert_eq!(mode_of(&target), 0o600);

        // A local edit: conflict with the current hash, file untouched.
        std::fs::write(&target, b"local edit\n").unwrap();
        let out = run(apply_request(vec![update(
            ".config/git/config",
            b"v3\n",
            b"v2\n",
        )]));
        assert_eq!(out.status(0), "conflict");
        assert_eq!(
            out.files()[0]["outcome"]["current_sha256"],
            json!(sha(b"local edit\n"))
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"local edit\n");

        // The user chose to overwrite.
        let mut f = update(".config/git/config", b"v3\n", b"v2\n");
        f["write_policy"] = json!("overwrite");
        let out = run(apply_request(vec![f]));
        assert_eq!(out.status(0), "written");
        assert_eq!(std::fs::read(&target).unwrap(), b"v3\n");

        // Deleted locally since the last push: conflict with no current hash.
        std::fs::remove_file(&target).unwrap();
        let out = run(apply_request(vec![update(
            ".config/git/config",
            b"v4\n",
            b"v3\n",
        )]));
        assert_eq!(out.status(0), "conflict");
        assert!(out.files()[0]["outcome"]["current_sha256"].is_null());
        assert!(!target.exists());

        // Binary content through base64.
        let bytes = [0u8, 0xff, 0x10, b'\n'];
        let request = json!({"version": 1, "profile": "git", "files": [{
            "path": ".local/bin/blob", "mode": "0755",
            "content": {"encoding": "base64", "data": "AP8QCg=="},
            "sha256": sha(&bytes),
        }]});
        let out = run(request);
        assert_eq!(out.status(0), "written");
        let blob = world.home.join(".local/bin/blob");
        assert_eq!(std::fs::read(&blob).unwrap(), bytes);
        assert_eq!(mode_of(&blob), 0o755);
    }
}

/// A profile that (wrongly) carries a private key next to ordinary files: the key is
/// refused and stays as it was, the rest is written, and a snapshot of the same
/// paths reports the key as refused without its content, size or hash.
#[test]
fn never_sync_paths_are_refused_next_to_ordinary_files() {
    let world = World::new();
    std::fs::create_dir_all(world.home.join(".ssh")).unwrap();
    std::fs::write(world.home.join(".ssh/id_ed25519"), b"REAL KEY\n").unwrap();
    let mut key = file(".SSH/Id_Ed25519", b"attacker key\n");
    key["write_policy"] = json!("overwrite");
    let out = world.apply(&apply_request(vec![
        key,
        file(".ssh/config", b"Host *\n"),
        file(".ssh/id_ed25519.pub", b"ssh-ed25519 AAAA\n"),
    ]));
    assert_eq!((out.status(0), out.reason(0)), ("refused", "never-sync"));
    let detail = out.files()[0]["outcome"]["detail"].as_str().unwrap();
    assert!(detail.contains("private key"), "{detail}");
    assert_eq!((out.status(1), out.status(2)), ("written", "written"));
    assert_eq!(
        std::fs::read(world.home.join(".ssh/id_ed25519")).unwrap(),
        b"REAL KEY\n"
    );
    assert!(!world.home.join(".SSH").exists());
    let request = json!({"version": 1, "profile": "git",
        "paths": [".ssh/id_ed25519", ".ssh/config"]});
    let out = world.run("snapshot", "git", request.to_string().as_bytes(), &[]);
    let entries = &out.reply["ok"]["entries"];
    assert_eq!(entries[0]["state"]["type"], "refused", "{}", out.reply);
    assert_eq!(entries[0]["state"]["reason"], "never-sync");
    assert!(!out.reply.to_string().contains("REAL KEY"));
    assert!(!out.reply.to_string().contains(&sha(b"REAL KEY\n")));
    assert_eq!(entries[1]["state"]["type"], "file");
}

#[test]
fn one_bad_file_does_not_stop_the_others() {
    let world = World::new();
    symlink(world.outside.join("secret"), world.home.join(".bashrc")).unwrap();
    let out = world.apply(&apply_request(vec![
        file(".bashrc", b"x\n"),
        file(".vimrc", b"set nu\n"),
    ]));
    assert_eq!((out.status(0), out.reason(0)), ("refused", "symlink"));
    assert_eq!(out.status(1), "written");
    assert_eq!(
        std::fs::read(world.home.join(".vimrc")).unwrap(),
        b"set nu\n"
    );
}

#[test]
fn rollback_restores_and_can_itself_be_rolled_back() {
    let world = World::new();
    let target = world.home.join(".gitconfig");
    std::fs::write(&target, b"original\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o664)).unwrap();
    let out = world.apply(&apply_request(vec![update(
        ".gitconfig",
        b"pushed\n",
        b"original\n",
    )]));
    assert_eq!(out.status(0), "written");
    let first = backup_id(&out);
    // A second file created by another push.
    let out = world.apply(&apply_request(vec![file(".config/new", b"created\n")]));
    let second = backup_id(&out);

    let rollback = |ids: Vec<&str>, policy: &str| {
        let request =
            json!({"version": 1, "profile": "git", "backup_ids": ids, "write_policy": policy});
        world.run("rollback", "git", request.to_string().as_bytes(), &[])
    };
    let out = rollback(vec![&second, &first], "if-unchanged");
    assert_eq!(out.code, 0, "{}", out.reply);
    assert_eq!(out.status(0), "removed", "{}", out.reply);
    assert_eq!(out.status(1), "written");
    assert!(!world.home.join(".config/new").exists());
    assert_eq!(std::fs::read(&target).unwrap(), b"original\n");
    // 0664 is not on the allowlist: restored as the nearest allowed mode.
    assert_eq!(mode_of(&target), 0o644);
    let undo: Vec<String> = out.reply["ok"]["backup_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(undo.len(), 2);

    // Undo the rollback (newest first).
    let out = rollback(vec![&undo[1], &undo[0]], "if-unchanged");
    assert_eq!(out.status(0), "written", "{}", out.reply);
    assert_eq!(out.status(1), "written", "{}", out.reply);
    assert_eq!(std::fs::read(&target).unwrap(), b"pushed\n");
    assert_eq!(
        std::fs::read(world.home.join(".config/new")).unwrap(),
        b"created\n"
    );

    // A local change since: rollback reports a conflict unless told to overwrite.
    std::fs::write(&target, b"edited\n").unwrap();
    let out = rollback(vec![&first], "if-unchanged");
    assert_eq!(out.status(0), "conflict");
    assert_eq!(std::fs::read(&target).unwrap(), b"edited\n");
    let out = rollback(vec![&first], "overwrite");
    assert_eq!(out.status(0), "written");
    assert_eq!(std::fs::read(&target).unwrap(), b"original\n");

    // Unknown and malformed ids.
    let out = rollback(vec!["00000000000000000000-1-0"], "if-unchanged");
    assert_eq!(
        out.reply["ok"]["files"][0]["outcome"]["reason"],
        "unknown-backup"
    );
    let out = rollback(vec!["../x"], "if-unchanged");
    assert_eq!(out.refusal(), Some("schema"));
}

#[test]
fn tampered_backup_is_refused() {
    let world = World::new();
    std::fs::write(world.home.join(".gitconfig"), b"original\n").unwrap();
    let out = world.apply(&apply_request(vec![update(
        ".gitconfig",
        b"pushed\n",
        b"original\n",
    )]));
    let id = backup_id(&out);
    let dir = world
        .home
        .join(".local/state/qubes-config-sync/backups")
        .join(&id);
    std::fs::write(dir.join("0"), b"tampered\n").unwrap();
    let request = json!({"version": 1, "profile": "git", "backup_ids": [id]});
    let out = world.run("rollback", "git", request.to_string().as_bytes(), &[]);
    assert_eq!(out.reason(0), "unknown-backup", "{}", out.reply);
    assert_eq!(
        std::fs::read(world.home.join(".gitconfig")).unwrap(),
        b"pushed\n"
    );
    // A manifest pointing outside home is refused at parse time.
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        manifest.replace(".gitconfig", "../outside/secret"),
    )
    .unwrap();
    let request = json!({"version": 1, "profile": "git", "backup_ids": [dir.file_name().unwrap().to_str().unwrap()]});
    let out = world.run("rollback", "git", request.to_string().as_bytes(), &[]);
    assert_eq!(
        out.reply["ok"]["files"][0]["outcome"]["reason"],
        "unknown-backup"
    );
    assert_eq!(
        std::fs::read(world.outside.join("secret")).unwrap(),
        b"outside secret\n"
    );
}

#[test]
fn backups_are_bounded() {
    let world = World::new();
    let mut previous = b"0\n".to_vec();
    std::fs::write(world.home.join(".gitconfig"), &previous).unwrap();
    for i in 1..=25 {
        let next = format!("{i}\n").into_bytes();
        let out = world.apply(&apply_request(vec![update(".gitconfig", &next, &previous)]));
        assert_eq!(out.status(0), "written");
        previous = next;
    }
    let mut names: Vec<String> =
        std::fs::read_dir(world.home.join(".local/state/qubes-config-sync/backups"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
    // Besides the backups only the lock file; no partial backup.
    names.retain(|n| n != ".lock");
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    assert_eq!(names.len(), qcs_agent::backup::RETAINED_BACKUPS);
}

#[test]
fn snapshot_reports_every_kind_without_changing_anything() {
    let world = World::new();
    let h = &world.home;
    std::fs::write(h.join(".gitconfig"), b"[user]\n").unwrap();
    std::fs::set_permissions(h.join(".gitconfig"), std::fs::Permissions::from_mode(0o664)).unwrap();
    std::fs::create_dir(h.join(".vim")).unwrap();
    symlink(world.outside.join("secret"), h.join(".bashrc")).unwrap();
    symlink(&world.outside, h.join(".config")).unwrap();
    std::fs::write(h.join("big"), vec![b'b'; 300 * 1024]).unwrap();
    std::fs::write(h.join("binary"), [0u8, 0xff]).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        h.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let before = world.tree();
    let paths = [
        ".gitconfig",
        ".vim",
        ".bashrc",
        ".config/secret",
        "big",
        "binary",
        "fifo",
        "missing/x",
    ];
    let request = json!({"version": 1, "profile": "git", "paths": paths});
    let out = world.run("snapshot", "git", request.to_string().as_bytes(), &[]);
    assert_eq!(diff(&before, &world.tree()), Vec::<String>::new());
    assert_eq!(out.code, 0, "{}", out.reply);
    let entries = out.reply["ok"]["entries"].as_array().unwrap();
    let state = |i: usize| &entries[i]["state"];
    assert_eq!(state(0)["type"], "file");
    assert_eq!(state(0)["mode"], "0664");
    assert_eq!(state(0)["size"], 7);
    assert_eq!(state(0)["sha256"], json!(sha(b"[user]\n")));
    assert_eq!(state(0)["content"]["data"], "[user]\n");
    assert_eq!(state(1)["type"], "directory");
    assert_eq!(state(2)["type"], "symlink");
    assert_eq!(
        (state(3)["type"].as_str(), state(3)["reason"].as_str()),
        (Some("refused"), Some("symlink"))
    );
    assert_eq!(state(4)["type"], "file");
    assert_eq!(state(4)["size"], 300 * 1024);
    assert!(
        state(4)["content"].is_null(),
        "content over the cap is not sent"
    );
    assert_eq!(state(5)["content"]["encoding"], "base64");
    assert_eq!(state(6)["type"], "fifo");
    assert_eq!(state(7)["type"], "missing");
    // The reply parses with the protocol's own limits.
    let typed: qcs_protocol::ServiceReply<qcs_protocol::SnapshotReply> =
        parse_message(out.reply.to_string().as_bytes()).unwrap();
    assert!(matches!(typed, qcs_protocol::ServiceReply::Ok(_)));
}

fn fake_qrexec_client(world: &World, body: &str) -> std::path::PathBuf {
    let script = world.root.path().join("qrexec-client-vm");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn propose(world: &World, client: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(PROPOSE)
        .args(args)
        .current_dir(&world.home)
        .env_clear()
        .env("HOME", &world.home)
        .env("PATH", "/usr/bin:/bin")
        .env("QUBES_CONFIG_SYNC_QREXEC_CLIENT", client)
        .env("AGENT", AGENT)
        .env("QUBES_CONFIG_SYNC_SPOOL", &world.spool)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn propose_end_to_end_into_the_spool() {
    let world = World::new();
    // Stands in for qrexec: checks the call, then runs the service as the config
    // qube would, with the source qube set by "dom0".
    let client = fake_qrexec_client(
        &world,
        r#"[ "$1" = "@default" ] || exit 125
case "$2" in qubes.ConfigPropose+*) ;; *) exit 127 ;; esac
export QREXEC_SERVICE_ARGUMENT="${2#*+}" QREXEC_REMOTE_DOMAIN=work
exec "$AGENT" propose-receive"#,
    );
    std::fs::create_dir_all(world.home.join(".config/git")).unwrap();
    std::fs::write(world.home.join(".gitconfig"), b"[user]\n\tname = me\n").unwrap();
    std::fs::write(world.home.join(".config/git/ignore"), b"*.o\n").unwrap();
    let absolute = world.home.join(".config/git/ignore");
    let (code, stdout, stderr) = propose(
        &world,
        &client,
        &[
            "--note",
            "new name",
            "git",
            ".gitconfig",
            absolute.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(
        stdout.starts_with("proposal accepted by the config qube: "),
        "{stdout}"
    );
    let id = stdout.trim().rsplit(' ').next().unwrap();
    let spooled = std::fs::read(world.spool.join("work").join(format!("{id}.json"))).unwrap();
    let record: SpooledProposal = parse_message(&spooled).unwrap();
    assert_eq!(record.source_qube.as_str(), "work");
    assert_eq!(record.profile.as_str(), "git");
    assert_eq!(record.proposal_id.as_str(), id);
    assert_eq!(record.request.files.len(), 2);
    assert_eq!(record.request.files[1].path.as_str(), ".config/git/ignore");
    assert_eq!(
        record.request.files[0].content.as_bytes(),
        b"[user]\n\tname = me\n"
    );
    assert_eq!(record.request.note.as_ref().unwrap().as_str(), "new name");
    let mode = std::fs::metadata(world.spool.join("work").join(format!("{id}.json")))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // `..` from a subdirectory means what the user typed.
    let out = Command::new(PROPOSE)
        .args(["git", "../.gitconfig"])
        .current_dir(world.home.join(".config"))
        .env_clear()
        .env("HOME", &world.home)
        .env("QUBES_CONFIG_SYNC_QREXEC_CLIENT", &client)
        .env("AGENT", AGENT)
        .env("QUBES_CONFIG_SYNC_SPOOL", &world.spool)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Files that cannot be proposed: exit 3, nothing sent.
    symlink(world.outside.join("secret"), world.home.join(".bashrc")).unwrap();
    let outside = world.outside.join("secret");
    for bad in [
        ".bashrc",
        outside.to_str().unwrap(),
        "../outside/secret",
        "nope",
    ] {
        let (code, _, stderr) = propose(&world, &client, &["git", bad]);
        assert_eq!(code, 3, "{bad}: {stderr}");
    }
    std::fs::write(world.home.join("huge"), vec![b'h'; 256 * 1024 + 1]).unwrap();
    assert_eq!(propose(&world, &client, &["git", "huge"]).0, 3);
    // A private key never leaves the qube, in any spelling; the public half may.
    std::fs::create_dir_all(world.home.join(".ssh")).unwrap();
    std::fs::write(world.home.join(".ssh/id_ed25519"), b"PRIVATE\n").unwrap();
    std::fs::write(world.home.join(".ssh/ID_RSA"), b"PRIVATE\n").unwrap();
    for key in [".ssh/id_ed25519", ".ssh/../.ssh/id_ed25519", ".ssh/ID_RSA"] {
        let (code, _, stderr) = propose(&world, &client, &["git", ".gitconfig", key]);
        assert_eq!(code, 3, "{key}: {stderr}");
        assert!(stderr.contains("never-sync"), "{key}: {stderr}");
    }
    // Usage errors: exit 2.
    assert_eq!(propose(&world, &client, &["git"]).0, 2);
    assert_eq!(
        propose(&world, &client, &["Bad_Profile", ".gitconfig"]).0,
        2
    );
    let spooled = std::fs::read_dir(world.spool.join("work")).unwrap().count();
    assert_eq!(spooled, 3, "two proposals and the lock file");

    // Refused by the config qube (quota): exit 1 with the reason.
    let full = fake_qrexec_client(
        &world,
        r#"export QREXEC_SERVICE_ARGUMENT="${2#*+}" QREXEC_REMOTE_DOMAIN=work QUBES_CONFIG_SYNC_SPOOL_MAX_COUNT=1
exec "$AGENT" propose-receive"#,
    );
    let (code, _, stderr) = propose(&world, &full, &["git", ".gitconfig"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("quota-exceeded"), "{stderr}");

    // Denied by policy: exit 4.
    let denied = fake_qrexec_client(
        &world,
        "cat >/dev/null; echo 'Request refused' >&2; exit 126",
    );
    let (code, _, stderr) = propose(&world, &denied, &["git", ".gitconfig"]);
    assert_eq!(code, 4);
    assert!(stderr.contains("denied"), "{stderr}");
    // Garbage reply: exit 5.
    let garbage = fake_qrexec_client(&world, "cat >/dev/null; echo '{\"ok\":'");
    assert_eq!(propose(&world, &garbage, &["git", ".gitconfig"]).0, 5);
}

/// The fullest snapshot reply (64 paths, content of control characters that JSON
/// escapes six-fold) still fits the 8 MiB message cap the config qube enforces.
#[test]
fn largest_snapshot_reply_fits_the_message_cap() {
    let world = World::new();
    let mut paths = Vec::new();
    for i in 0..64 {
        let name = format!("f{i:02}");
        std::fs::write(world.home.join(&name), vec![1u8; 256 * 1024]).unwrap();
        paths.push(name);
    }
    let request = json!({"version": 1, "profile": "git", "paths": paths});
    let out = Command::new(AGENT)
        .arg("snapshot")
        .env_clear()
        .env("HOME", &world.home)
        .env("QREXEC_SERVICE_ARGUMENT", "git")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(request.to_string().as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout.len() <= qcs_protocol::limits::MAX_REQUEST_BYTES,
        "{}",
        out.stdout.len()
    );
    let reply: qcs_protocol::ServiceReply<qcs_protocol::SnapshotReply> =
        qcs_protocol::read_reply(&out.stdout[..]).unwrap();
    let qcs_protocol::ServiceReply::Ok(reply) = reply else {
        panic!("refused")
    };
    let with_content = reply
        .entries
        .iter()
        .filter(|e| {
            matches!(
                &e.state,
                qcs_protocol::PathState::File {
                    content: Some(_),
                    ..
                }
            )
        })
        .count();
    // 5 MiB of content budget: 20 whole files, the rest with hash only.
    assert_eq!(with_content, 20);
    println!("largest snapshot reply: {} bytes", out.stdout.len());
}
