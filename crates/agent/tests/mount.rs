//! The in-place path for real: the target is a bind-mounted file (as custom-persist
//! `file:` entries are), in a private mount namespace made with `unshare -m`; and a
//! bind-mounted directory (a `dir:` entry), which is written through.
//! Skipped, with the reason printed, where a mount namespace cannot be created.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

fn can_unshare() -> Result<(), String> {
    match Command::new("unshare").args(["-m", "true"]).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "unshare -m failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run unshare: {e}")),
    }
}

fn apply_through_bind_mount(chain: bool) {
    let world = World::new();
    let backing = world.root.path().join("rw-known_hosts");
    std::fs::write(&backing, b"old host key\n").unwrap();
    let target = world.home.join(".ssh/known_hosts");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, b"").unwrap(); // the placeholder bind-dirs creates

    let mut f = file(".ssh/known_hosts", b"new host key\n");
    f["base_sha256"] = json!(sha(b"old host key\n"));
    f["mode"] = json!("0600");
    let request = apply_request(vec![f]).to_string();
    let mut command = Command::new("unshare");
    command
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$2" && exec "$3" apply"#)
        .arg("sh")
        .arg(&backing)
        .arg(&target)
        .arg(AGENT)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", &world.home)
        .env("QREXEC_SERVICE_ARGUMENT", "git");
    if chain {
        command.env("QUBES_CONFIG_AGENT_FORCE_OPENAT_CHAIN", "1");
    }
    let out = run_command(command, request.as_bytes());
    assert_eq!(out.code, 0, "{} {}", out.reply, out.stderr);
    let outcome = &out.files()[0]["outcome"];
    assert_eq!(outcome["status"], "written", "{}", out.reply);
    assert_eq!(outcome["in_place"], true, "{}", out.reply);
    assert_eq!(outcome["backed_up"], true);
    // Written through the mount into the backing file, not renamed over it.
    assert_eq!(std::fs::read(&backing).unwrap(), b"new host key\n");
    assert_eq!(std::fs::read(&target).unwrap(), b"");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backing).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    // The previous content is in the backup.
    let id = out.reply["ok"]["backup_id"].as_str().unwrap();
    let blob = world
        .home
        .join(".local/state/qubes-config-sync/backups")
        .join(id)
        .join("0");
    assert_eq!(std::fs::read(blob).unwrap(), b"old host key\n");
}

#[test]
fn bind_mounted_file_is_written_in_place() {
    if let Err(reason) = can_unshare() {
        println!("SKIPPED bind_mounted_file_is_written_in_place: {reason}");
        return;
    }
    apply_through_bind_mount(false);
    apply_through_bind_mount(true);
    println!("mount test ran: bind-mounted file written in place (openat2 and openat chain)");
}

/// A directory bind-mounted below home (a custom-persist `dir:` entry, or any other
/// mount) is written through: the files land in the mount's source, by the ordinary
/// atomic replacement (both names are in the same mount). This documents the
/// behaviour SECURITY.md describes; the never-sync list still applies inside it.
#[test]
fn bind_mounted_directory_is_written_through() {
    if let Err(reason) = can_unshare() {
        println!("SKIPPED bind_mounted_directory_is_written_through: {reason}");
        return;
    }
    let world = World::new();
    let source = world.root.path().join("rw-bind-dirs-app");
    std::fs::create_dir(&source).unwrap();
    std::fs::write(source.join("settings"), b"persisted v1\n").unwrap();
    let mount_point = world.home.join(".config/app");
    std::fs::create_dir_all(&mount_point).unwrap();

    let mut f = file(".config/app/settings", b"pushed v2\n");
    f["base_sha256"] = json!(sha(b"persisted v1\n"));
    let mut key = file(".config/app/.git/config", b"[core]\n");
    key["write_policy"] = json!("overwrite");
    let request = apply_request(vec![f, key]).to_string();
    let mut command = Command::new("unshare");
    command
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$2" && exec "$3" apply"#)
        .arg("sh")
        .arg(&source)
        .arg(&mount_point)
        .arg(AGENT)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", &world.home)
        .env("QREXEC_SERVICE_ARGUMENT", "git");
    let out = run_command(command, request.as_bytes());
    assert_eq!(out.code, 0, "{} {}", out.reply, out.stderr);
    let outcome = &out.files()[0]["outcome"];
    assert_eq!(outcome["status"], "written", "{}", out.reply);
    assert_eq!(outcome["in_place"], false, "{}", out.reply);
    assert_eq!((out.status(1), out.reason(1)), ("refused", "never-sync"));
    // The new content is in the mount's source; the placeholder directory under
    // the mount stayed empty.
    assert_eq!(
        std::fs::read(source.join("settings")).unwrap(),
        b"pushed v2\n"
    );
    assert!(!source.join(".git").exists());
    assert_eq!(std::fs::read_dir(&mount_point).unwrap().count(), 0);
}
