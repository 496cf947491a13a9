//! Backups under failure, for real: a write that fails in the middle of an apply
//! (a file-size limit, `prlimit --fsize`, with SIGXFSZ ignored so the write returns
//! EFBIG) must leave no partial backup behind; a home on a full file system (a tiny
//! tmpfs in a private mount namespace, `unshare -m`) must keep working because old
//! backups are pruned before, and dropped for, a new one; a killed agent's leftovers
//! are removed by the next call. Tests that need `prlimit` or a mount namespace are
//! skipped with the reason printed where those are not available.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::json;

const BACKUPS: &str = ".local/state/qubes-config-sync/backups";
const TARGET: &str = ".config/app/settings";

/// Names in the backups directory, the lock file left out.
fn backup_names(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.join(BACKUPS))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.retain(|n| n != ".lock");
    names.sort();
    names
}

fn update(path: &str, content: &[u8], base: &[u8]) -> serde_json::Value {
    let mut f = file(path, content);
    f["base_sha256"] = json!(sha(base));
    f
}

fn prlimit_works() -> Result<(), String> {
    match Command::new("prlimit")
        .args(["--fsize=1024", "true"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Err(format!("cannot run prlimit: {e}")),
    }
}

/// Runs `apply` with every file write limited to `limit` bytes.
fn apply_with_file_size_limit(world: &World, request: &serde_json::Value, limit: u64) -> Outcome {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"trap '' XFSZ; exec prlimit --fsize="$1" "$2" apply"#)
        .arg("sh")
        .arg(limit.to_string())
        .arg(AGENT)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", &world.home)
        .env("QREXEC_SERVICE_ARGUMENT", "git");
    run_command(command, request.to_string().as_bytes())
}

#[test]
fn a_write_failing_mid_apply_leaves_no_partial_backup() {
    if let Err(why) = prlimit_works() {
        println!("SKIPPED a_write_failing_mid_apply_leaves_no_partial_backup: {why}");
        return;
    }
    let world = World::new();
    // One good backup exists already.
    let small = b"small\n".to_vec();
    std::fs::create_dir_all(world.home.join(".config/app")).unwrap();
    std::fs::write(world.home.join(TARGET), b"v0\n").unwrap();
    let out = world.apply(&apply_request(vec![update(TARGET, &small, b"v0\n")]));
    assert_eq!(out.status(0), "written", "{}", out.reply);
    let first = backup_names(&world.home);
    assert_eq!(first.len(), 1, "{first:?}");

    // 1. The backup copy fails half way: the previous version (200 KiB) is larger
    //    than the 64 KiB any write may reach.
    let big = vec![b'o'; 200 * 1024];
    std::fs::write(world.home.join(TARGET), &big).unwrap();
    let before = world.tree();
    let request = apply_request(vec![update(TARGET, b"new\n", &big)]);
    let out = apply_with_file_size_limit(&world, &request, 64 * 1024);
    assert_eq!(out.code, 0, "{} {}", out.reply, out.stderr);
    assert_eq!(
        (out.status(0), out.reason(0)),
        ("refused", "io"),
        "{}",
        out.reply
    );
    let detail = out.files()[0]["outcome"]["detail"].as_str().unwrap();
    assert!(detail.contains("previous version"), "{detail}");
    assert!(out.reply["ok"]["backup_id"].is_null());
    assert_eq!(
        backup_names(&world.home),
        first,
        "a partial backup was left"
    );
    assert_eq!(diff(&before, &world.tree()), Vec::<String>::new());

    // 2. The backup is complete but the new file cannot be written (100 KiB): the
    //    backup of a call that changed nothing is removed again.
    std::fs::write(world.home.join(TARGET), &small).unwrap();
    let before = world.tree();
    let request = apply_request(vec![update(TARGET, &vec![b'n'; 100 * 1024], &small)]);
    let out = apply_with_file_size_limit(&world, &request, 64 * 1024);
    assert_eq!(
        (out.status(0), out.reason(0)),
        ("refused", "io"),
        "{}",
        out.reply
    );
    assert!(out.reply["ok"]["backup_id"].is_null(), "{}", out.reply);
    assert_eq!(
        backup_names(&world.home),
        first,
        "a useless backup was left"
    );
    assert_eq!(diff(&before, &world.tree()), Vec::<String>::new());

    // Without the limit the same apply goes through and is backed up.
    let out = world.apply(&request);
    assert_eq!(out.status(0), "written", "{}", out.reply);
    assert_eq!(backup_names(&world.home).len(), 2);
}

#[test]
fn a_killed_agents_leftovers_are_removed_by_the_next_apply() {
    let world = World::new();
    let backups = world.home.join(BACKUPS);
    // A partial backup (killed while copying) and an id-named directory without a
    // manifest (an older agent killed before its manifest).
    std::fs::create_dir_all(backups.join(".partial-00000000000000000001-1-0")).unwrap();
    std::fs::write(
        backups.join(".partial-00000000000000000001-1-0/0"),
        vec![b'x'; 4096],
    )
    .unwrap();
    std::fs::create_dir_all(backups.join("00000000000000000002-1-0")).unwrap();
    std::fs::write(backups.join("00000000000000000002-1-0/0"), b"half").unwrap();
    // Never usable for a rollback.
    let request =
        json!({"version": 1, "profile": "git", "backup_ids": ["00000000000000000002-1-0"]});
    let out = world.run("rollback", "git", request.to_string().as_bytes(), &[]);
    assert_eq!(out.reason(0), "unknown-backup", "{}", out.reply);

    std::fs::write(world.home.join(".gitconfig"), b"a\n").unwrap();
    let out = world.apply(&apply_request(vec![update(".gitconfig", b"b\n", b"a\n")]));
    assert_eq!(out.status(0), "written", "{}", out.reply);
    let id = out.reply["ok"]["backup_id"].as_str().unwrap().to_owned();
    assert_eq!(backup_names(&world.home), vec![id]);
}

fn can_mount_tmpfs() -> Result<(), String> {
    let probe = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "mount", "-t", "tmpfs"])
        .args(["-o", "size=64k", "tmpfs"])
        .arg(probe.path())
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Generation `g` of a 150 KiB file: seven of them fill the 1 MiB home.
fn generation(g: usize) -> Vec<u8> {
    let line = format!("generation {g:03} {}\n", "y".repeat(40));
    line.repeat(150 * 1024 / line.len()).into_bytes()
}

/// A home on a 1 MiB tmpfs: 20 applies of a 150 KiB file (each backing up the
/// previous 150 KiB) fill it after a few; every apply must still succeed, leave no
/// partial backup, and the newest backup must roll back to the previous generation.
#[test]
fn a_full_disk_recovers() {
    if let Err(why) = can_mount_tmpfs() {
        println!("SKIPPED a_full_disk_recovers: no private mount namespace with a tmpfs ({why})");
        return;
    }
    const APPLIES: usize = 20;
    let world = World::new();
    let work = world.root.path().join("work");
    std::fs::create_dir(&work).unwrap();
    for g in 1..=APPLIES {
        let mut f = file(TARGET, &generation(g));
        if g > 1 {
            f["base_sha256"] = json!(sha(&generation(g - 1)));
        }
        let request = apply_request(vec![f]).to_string();
        std::fs::write(work.join(format!("req{g}")), request).unwrap();
    }
    // Everything happens inside the namespace; results are written next to the
    // world (outside the tmpfs) for the assertions below.
    let script = r#"
        set -e
        home="$1" agent="$2" work="$3" n="$4"
        mount -t tmpfs -o size=1m,mode=0700 tmpfs "$home"
        i=1
        while [ "$i" -le "$n" ]; do
            "$agent" apply < "$work/req$i" > "$work/reply$i" || true
            i=$((i + 1))
        done
        df -k "$home" | tail -n 1 > "$work/df"
        ls -A "$home/.local/state/qubes-config-sync/backups" > "$work/backups"
        for b in "$home"/.local/state/qubes-config-sync/backups/*; do
            [ -f "$b/manifest.json" ] || echo "$b" >> "$work/incomplete"
        done
        id=$(sed -n 's/.*"backup_id":"\([^"]*\)".*/\1/p' "$work/reply$n")
        printf '{"version":1,"profile":"git","backup_ids":["%s"]}' "$id" > "$work/rollback-req"
        "$agent" rollback < "$work/rollback-req" > "$work/rollback" || true
        cat "$home/.config/app/settings" > "$work/after-rollback"
    "#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&world.home)
        .arg(AGENT)
        .arg(&work)
        .arg(APPLIES.to_string())
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", &world.home)
        .env("QREXEC_SERVICE_ARGUMENT", "git")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut written = 0;
    for g in 1..=APPLIES {
        let reply: serde_json::Value =
            serde_json::from_slice(&std::fs::read(work.join(format!("reply{g}"))).unwrap())
                .unwrap_or_default();
        let status = &reply["ok"]["files"][0]["outcome"]["status"];
        assert_eq!(status, "written", "apply {g}: {reply}");
        written += 1;
    }
    let backups = std::fs::read_to_string(work.join("backups")).unwrap();
    let names: Vec<&str> = backups.lines().filter(|n| *n != ".lock").collect();
    println!(
        "full disk: {written}/{APPLIES} applies written on a 1 MiB home, {} backups kept, df: {}",
        names.len(),
        std::fs::read_to_string(work.join("df")).unwrap().trim()
    );
    assert!(!names.is_empty());
    assert!(
        names.len() < qcs_agent::backup::RETAINED_BACKUPS,
        "the disk was never full: the test proves nothing ({names:?})"
    );
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    assert!(
        !work.join("incomplete").exists(),
        "backups without a manifest: {}",
        std::fs::read_to_string(work.join("incomplete")).unwrap_or_default()
    );
    let rollback: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("rollback")).unwrap()).unwrap_or_default();
    assert_eq!(
        rollback["ok"]["files"][0]["outcome"]["status"], "written",
        "{rollback}"
    );
    assert_eq!(
        std::fs::read(work.join("after-rollback")).unwrap(),
        generation(APPLIES - 1)
    );
}
