//! Removals in `qubes.ConfigApply`, through the real binary: a file removed from its
//! profile is removed only if it is still what the config qube wrote, with a backup a
//! rollback restores; never through a symlink, never outside home, never a never-sync
//! path; a changed file is a conflict and stays. And a rollback's dry run (what an undo
//! would do) changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::os::unix::fs::symlink;

use common::*;
use serde_json::{Value, json};

fn removal(path: &str, base: &[u8]) -> Value {
    json!({ "path": path, "base_sha256": sha(base) })
}

fn request(files: Vec<Value>, removals: Vec<Value>) -> Value {
    let mut r = apply_request(files);
    r["removals"] = json!(removals);
    r
}

#[test]
fn an_unchanged_file_is_removed_with_a_backup_a_rollback_restores() {
    let world = World::new();
    let target = world.home.join(".gitignore");
    std::fs::write(&target, b"*.o\n").unwrap();
    let out = world.apply(&request(
        vec![file(".gitconfig", b"v1\n")],
        vec![removal(".gitignore", b"*.o\n")],
    ));
    assert_eq!(out.code, 0, "{}", out.reply);
    // Files first, then removals, in request order.
    assert_eq!(out.files()[0]["path"], ".gitconfig");
    assert_eq!(out.status(0), "written");
    assert_eq!(out.files()[1]["path"], ".gitignore");
    assert_eq!(out.status(1), "removed", "{}", out.reply);
    assert!(!target.exists());
    let backup = out.reply["ok"]["backup_id"].as_str().unwrap().to_owned();

    let rollback = json!({"version": 1, "profile": "git", "backup_ids": [backup]});
    let out = world.run("rollback", "git", rollback.to_string().as_bytes(), &[]);
    assert_eq!(out.code, 0, "{}", out.reply);
    assert_eq!(std::fs::read(&target).unwrap(), b"*.o\n");
    assert!(!world.home.join(".gitconfig").exists());

    // Already gone: reported removed, nothing backed up.
    std::fs::remove_file(&target).unwrap();
    let out = world.apply(&request(vec![], vec![removal(".gitignore", b"*.o\n")]));
    assert_eq!(out.status(0), "removed", "{}", out.reply);
    assert!(out.reply["ok"]["backup_id"].is_null());
}

#[test]
fn a_changed_file_is_a_conflict_and_stays() {
    let world = World::new();
    let target = world.home.join(".gitignore");
    std::fs::write(&target, b"mine\n").unwrap();
    let before = world.tree();
    let out = world.apply(&request(vec![], vec![removal(".gitignore", b"*.o\n")]));
    assert_eq!(out.status(0), "conflict", "{}", out.reply);
    assert_eq!(
        out.files()[0]["outcome"]["current_sha256"],
        json!(sha(b"mine\n"))
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"mine\n");
    assert!(diff(&before, &world.tree()).is_empty());
}

#[test]
fn a_removal_never_follows_a_symlink_nor_leaves_home() {
    let world = World::new();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"*.o\n").unwrap();
    // The target itself a symlink, and a symlinked parent directory.
    symlink(&victim, world.home.join(".gitignore")).unwrap();
    symlink(outside.path(), world.home.join(".config")).unwrap();
    // A hard link to a file elsewhere.
    std::fs::write(world.home.join("orig"), b"*.o\n").unwrap();
    std::fs::hard_link(world.home.join("orig"), world.home.join(".hard")).unwrap();
    let before = world.tree();
    let out = world.apply(&request(
        vec![],
        vec![
            removal(".gitignore", b"*.o\n"),
            removal(".config/victim", b"*.o\n"),
            removal(".hard", b"*.o\n"),
            removal(".ssh/id_ed25519", b"*.o\n"),
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.reply);
    assert_eq!(out.status(0), "refused");
    assert_eq!(out.reason(0), "symlink");
    assert_eq!(out.status(1), "refused");
    assert_eq!(out.reason(1), "symlink");
    assert_eq!(out.status(2), "refused");
    assert_eq!(out.reason(2), "hardlink");
    assert_eq!(out.status(3), "refused");
    assert_eq!(out.reason(3), "never-sync");
    assert!(victim.exists());
    assert!(world.home.join(".hard").exists());
    assert!(diff(&before, &world.tree()).is_empty());
    assert!(out.reply["ok"]["backup_id"].is_null());

    // Paths that are not home-relative never parse.
    for bad in ["../outside", "/etc/passwd", ".config/../../x"] {
        let out = world.apply(&request(vec![], vec![removal(bad, b"x")]));
        assert!(out.refusal().is_some(), "{bad}: {}", out.reply);
    }
}

#[test]
fn malformed_or_doubled_removals_refuse_the_whole_request() {
    let world = World::new();
    std::fs::write(world.home.join(".gitignore"), b"*.o\n").unwrap();
    let before = world.tree();
    let mut extra = removal(".gitignore", b"*.o\n");
    extra["write_policy"] = json!("overwrite");
    let no_base = json!({ "path": ".gitignore" });
    for (r, code) in [
        (request(vec![], vec![extra]), "schema"),
        (request(vec![], vec![no_base]), "schema"),
        (
            request(
                vec![file(".gitignore", b"x\n")],
                vec![removal(".gitignore", b"*.o\n")],
            ),
            "duplicate-path",
        ),
        (
            request(
                vec![],
                (0..65).map(|i| removal(&format!(".f{i}"), b"x")).collect(),
            ),
            "too-many-files",
        ),
    ] {
        let out = world.apply(&r);
        assert_eq!(out.refusal(), Some(code), "{}", out.reply);
    }
    assert!(diff(&before, &world.tree()).is_empty());
}

#[test]
fn a_dry_run_rollback_reports_and_changes_nothing() {
    let world = World::new();
    let target = world.home.join(".gitconfig");
    std::fs::write(&target, b"before\n").unwrap();
    let mut pushed = file(".gitconfig", b"pushed\n");
    pushed["base_sha256"] = json!(sha(b"before\n"));
    let out = world.apply(&apply_request(vec![pushed, file(".new", b"created\n")]));
    assert_eq!(out.status(0), "written", "{}", out.reply);
    let backup = out.reply["ok"]["backup_id"].as_str().unwrap().to_owned();
    std::fs::write(world.home.join(".new"), b"changed here\n").unwrap();
    let before = world.tree();
    let request = json!({"version": 1, "profile": "git", "backup_ids": [backup], "dry_run": true});
    let out = world.run("rollback", "git", request.to_string().as_bytes(), &[]);
    assert_eq!(out.code, 0, "{}", out.reply);
    assert_eq!(out.status(0), "written", "{}", out.reply);
    assert_eq!(out.files()[0]["outcome"]["sha256"], json!(sha(b"before\n")));
    assert_eq!(out.status(1), "conflict", "{}", out.reply);
    assert_eq!(out.reply["ok"]["backup_ids"], json!([]));
    assert!(
        diff(&before, &world.tree()).is_empty(),
        "a dry run changed the home"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"pushed\n");
}
