//! The in-place path for real: the target is a bind-mounted file (as custom-persist
//! `file:` entries are), in a private mount namespace made with `unshare -m`.
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
