//! Reading a local directory tree (in the config qube) as the files of a profile's
//! directory entry, e.g. `~/.config/nvim/` → `.config/nvim/init.lua`, `.config/nvim/lua/…`.
//!
//! Its one job: walk the source directory without following any symlink inside it
//! (`openat(O_NOFOLLOW | O_DIRECTORY)` per directory, `fstatat(AT_SYMLINK_NOFOLLOW)` per
//! entry, files opened `O_NOFOLLOW` and checked to be the inode inspected), within the
//! protocol's limits, and say why not as a [`TreeError`] with a stable code — a symlink, a
//! device, a FIFO or a socket inside is refused, never copied, never followed.
//!
//! Paths on the never-sync list (e.g. a plugin's `.git/`) are left out and reported, as
//! the store would refuse them anyway; empty directories carry nothing and are skipped.
//!
//! It must not write anything, and must not read beyond the limits.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES, MAX_PATH_BYTES};
use qcs_protocol::path::{RelativePath, validate_relative_path};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// Deepest nesting below the source directory.
pub const MAX_TREE_DEPTH: usize = 32;
/// Most directory entries looked at in one walk (files, directories, skipped ones), so a
/// huge tree is refused quickly instead of being read.
pub const MAX_TREE_ENTRIES: usize = 4096;

/// One file of the tree, as it will be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// `under/relative/path`.
    pub path: RelativePath,
    pub content: Vec<u8>,
    /// 0644, 0600, 0755 or 0700, from the source file's permission bits (executable by
    /// its owner → 07x5/0700; not readable by others → 0600/0700).
    pub mode: u32,
}

/// What a walk found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    pub files: Vec<TreeFile>,
    /// Paths left out because they are on the never-sync list.
    pub never_sync: Vec<RelativePath>,
}

/// Why a directory cannot be a profile entry. Each has a stable [`TreeError::code`] and
/// names the offending path as the user gave it (relative to the source directory).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("{path} is a symbolic link: a directory entry holds regular files only")]
    Symlink { path: String },
    #[error("{path} is a {kind}: a directory entry holds regular files only")]
    Special { path: String, kind: &'static str },
    #[error("the source is not a directory")]
    NotADirectory,
    #[error("the directory holds no file to store")]
    Empty,
    #[error("the directory holds more than {limit} files (one profile carries at most that)")]
    TooMany { limit: usize },
    #[error("{path} has {size} bytes, over the limit of {limit} for one file")]
    TooLarge {
        path: String,
        size: u64,
        limit: usize,
    },
    #[error("{path} is nested deeper than {limit} directories")]
    TooDeep { path: String, limit: usize },
    #[error("{path} cannot be a path in a qube: {detail}")]
    BadName { path: String, detail: String },
    #[error("{path} cannot be read ({detail})")]
    Unreadable { path: String, detail: String },
    #[error("{path} changed while it was read")]
    Changed { path: String },
}

impl TreeError {
    /// The named arguments of its reason (`path`, `kind`, `size`, `limit`, `detail`), for
    /// the clients that translate the code: the one table of them, used by the CLI and
    /// the app alike.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        match self {
            TreeError::Symlink { path } | TreeError::Changed { path } => {
                vec![("path", path.clone())]
            }
            TreeError::Special { path, kind } => {
                vec![("path", path.clone()), ("kind", (*kind).to_owned())]
            }
            TreeError::NotADirectory | TreeError::Empty => Vec::new(),
            TreeError::TooMany { limit } => vec![("limit", limit.to_string())],
            TreeError::TooLarge { path, size, limit } => vec![
                ("path", path.clone()),
                ("size", size.to_string()),
                ("limit", limit.to_string()),
            ],
            TreeError::TooDeep { path, limit } => {
                vec![("path", path.clone()), ("limit", limit.to_string())]
            }
            TreeError::BadName { path, detail } | TreeError::Unreadable { path, detail } => {
                vec![("path", path.clone()), ("detail", detail.clone())]
            }
        }
    }

    /// The reason code (`dir.*`) the clients translate.
    pub fn code(&self) -> &'static str {
        match self {
            TreeError::Symlink { .. } => "dir.symlink",
            TreeError::Special { .. } => "dir.special",
            TreeError::NotADirectory => "dir.not-a-directory",
            TreeError::Empty => "dir.empty",
            TreeError::TooMany { .. } => "dir.too-many",
            TreeError::TooLarge { .. } => "dir.too-large",
            TreeError::TooDeep { .. } => "dir.too-deep",
            TreeError::BadName { .. } => "dir.bad-name",
            TreeError::Unreadable { .. } => "dir.unreadable",
            TreeError::Changed { .. } => "dir.changed",
        }
    }
}

/// A short, stable description of an OS error (its kind, not the raw message).
fn io_detail(errno: rustix::io::Errno) -> String {
    std::io::Error::from(errno).kind().to_string()
}

fn kind_name(ft: FileType) -> &'static str {
    match ft {
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "special file",
    }
}

/// The mode a source file is stored with (one of the four the protocol allows).
pub fn stored_mode(source_mode: u32) -> u32 {
    let exec = source_mode & 0o100 != 0;
    let private = source_mode & 0o044 == 0;
    match (exec, private) {
        (true, true) => 0o700,
        (true, false) => 0o755,
        (false, true) => 0o600,
        (false, false) => 0o644,
    }
}

struct Walk {
    tree: Tree,
    entries: usize,
}

/// Reads the tree under `source` as files below `under` (sorted by path).
pub fn read_tree(source: &Path, under: &RelativePath) -> Result<Tree, TreeError> {
    // The source itself is the user's choice and may be reached through a symlink;
    // nothing below it is followed.
    let root = rustix::fs::open(
        source,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::NOTDIR => TreeError::NotADirectory,
        e => TreeError::Unreadable {
            path: source.display().to_string(),
            detail: io_detail(e),
        },
    })?;
    let mut walk = Walk {
        tree: Tree::default(),
        entries: 0,
    };
    walk_dir(&root, "", under, 0, &mut walk)?;
    if walk.tree.files.is_empty() {
        return Err(TreeError::Empty);
    }
    walk.tree.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(walk.tree)
}

fn walk_dir(
    dir: &OwnedFd,
    relative: &str,
    under: &RelativePath,
    depth: usize,
    walk: &mut Walk,
) -> Result<(), TreeError> {
    let shown = |name: &str| {
        if relative.is_empty() {
            name.to_owned()
        } else {
            format!("{relative}/{name}")
        }
    };
    if depth > MAX_TREE_DEPTH {
        return Err(TreeError::TooDeep {
            path: relative.to_owned(),
            limit: MAX_TREE_DEPTH,
        });
    }
    let mut names = Vec::new();
    let listing = rustix::fs::Dir::read_from(dir).map_err(|e| TreeError::Unreadable {
        path: relative.to_owned(),
        detail: io_detail(e),
    })?;
    for entry in listing {
        let entry = entry.map_err(|e| TreeError::Unreadable {
            path: relative.to_owned(),
            detail: io_detail(e),
        })?;
        let raw = entry.file_name().to_bytes();
        if raw == b"." || raw == b".." {
            continue;
        }
        walk.entries += 1;
        if walk.entries > MAX_TREE_ENTRIES {
            return Err(TreeError::TooMany { limit: MAX_FILES });
        }
        let name = std::str::from_utf8(raw).map_err(|_| TreeError::BadName {
            path: shown(&String::from_utf8_lossy(raw)),
            detail: "the name is not UTF-8".to_owned(),
        })?;
        names.push(name.to_owned());
    }
    names.sort();
    for name in names {
        let path_text = format!("{}/{}", under.as_str(), shown(&name));
        if path_text.len() > MAX_PATH_BYTES {
            return Err(TreeError::BadName {
                path: shown(&name),
                detail: format!("longer than {MAX_PATH_BYTES} bytes"),
            });
        }
        let path = validate_relative_path(&path_text).map_err(|e| TreeError::BadName {
            path: shown(&name),
            detail: e.to_string(),
        })?;
        let st =
            rustix::fs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(|e| {
                TreeError::Unreadable {
                    path: shown(&name),
                    detail: io_detail(e),
                }
            })?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                if crate::risk::is_never_sync(&format!("{path_text}/x")) {
                    walk.tree.never_sync.push(path);
                    continue;
                }
                let sub = rustix::fs::openat(
                    dir,
                    name.as_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| match e {
                    // Replaced by a symlink since the stat.
                    rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
                        TreeError::Changed { path: shown(&name) }
                    }
                    e => TreeError::Unreadable {
                        path: shown(&name),
                        detail: io_detail(e),
                    },
                })?;
                walk_dir(&sub, &shown(&name), under, depth + 1, walk)?;
            }
            FileType::RegularFile => {
                if crate::risk::is_never_sync(path.as_str()) {
                    walk.tree.never_sync.push(path);
                    continue;
                }
                if walk.tree.files.len() >= MAX_FILES {
                    return Err(TreeError::TooMany { limit: MAX_FILES });
                }
                let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
                if size > MAX_FILE_BYTES as u64 {
                    return Err(TreeError::TooLarge {
                        path: shown(&name),
                        size,
                        limit: MAX_FILE_BYTES,
                    });
                }
                let content = read_file(dir, &name, &st, &shown(&name))?;
                walk.tree.files.push(TreeFile {
                    path,
                    content,
                    mode: stored_mode(st.st_mode),
                });
            }
            FileType::Symlink => return Err(TreeError::Symlink { path: shown(&name) }),
            other => {
                return Err(TreeError::Special {
                    path: shown(&name),
                    kind: kind_name(other),
                });
            }
        }
    }
    Ok(())
}

/// Reads a regular file that was inspected as `st`, without following a symlink and
/// refusing another inode or a size over the limit.
fn read_file(
    dir: &OwnedFd,
    name: &str,
    st: &rustix::fs::Stat,
    shown: &str,
) -> Result<Vec<u8>, TreeError> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => TreeError::Changed {
            path: shown.to_owned(),
        },
        e => TreeError::Unreadable {
            path: shown.to_owned(),
            detail: io_detail(e),
        },
    })?;
    let opened = rustix::fs::fstat(&fd).map_err(|e| TreeError::Unreadable {
        path: shown.to_owned(),
        detail: io_detail(e),
    })?;
    if opened.st_dev != st.st_dev
        || opened.st_ino != st.st_ino
        || FileType::from_raw_mode(opened.st_mode) != FileType::RegularFile
    {
        return Err(TreeError::Changed {
            path: shown.to_owned(),
        });
    }
    let mut content = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut content)
        .map_err(|e| TreeError::Unreadable {
            path: shown.to_owned(),
            detail: e.kind().to_string(),
        })?;
    if content.len() > MAX_FILE_BYTES {
        return Err(TreeError::TooLarge {
            path: shown.to_owned(),
            size: content.len() as u64,
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcs_protocol::literal::rp;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, path: &str, content: &str, mode: u32) {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, content).unwrap();
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_tree_becomes_sorted_files_below_the_entry_with_allowed_modes() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "init.lua", "vim.o.number = true\n", 0o644);
        write(dir.path(), "lua/plugins.lua", "return {}\n", 0o600);
        write(dir.path(), "bin/helper", "#!/bin/sh\n", 0o755);
        write(dir.path(), "pack/x/.git/config", "[core]\n", 0o644);
        std::fs::create_dir_all(dir.path().join("empty")).unwrap();
        let tree = read_tree(dir.path(), &rp(".config/nvim")).unwrap();
        let got: Vec<(&str, u32)> = tree
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.mode))
            .collect();
        assert_eq!(
            got,
            [
                (".config/nvim/bin/helper", 0o755),
                (".config/nvim/init.lua", 0o644),
                (".config/nvim/lua/plugins.lua", 0o600),
            ]
        );
        assert_eq!(tree.never_sync, [rp(".config/nvim/pack/x/.git")]);
    }

    #[test]
    fn symlinks_and_special_files_inside_are_refused_with_a_code() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "init.lua", "x\n", 0o644);
        std::os::unix::fs::symlink("/etc/shadow", dir.path().join("lua")).unwrap();
        let error = read_tree(dir.path(), &rp(".config/nvim")).unwrap_err();
        assert_eq!(error.code(), "dir.symlink");
        assert!(
            error.to_string().contains("lua is a symbolic link"),
            "{error}"
        );

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a", "x\n", 0o644);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("pipe"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let error = read_tree(dir.path(), &rp(".config/x")).unwrap_err();
        assert_eq!(
            error,
            TreeError::Special {
                path: "pipe".to_owned(),
                kind: "FIFO"
            }
        );
    }

    #[test]
    fn limits_hold() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..=MAX_FILES {
            write(dir.path(), &format!("f{i:03}"), "x", 0o644);
        }
        let error = read_tree(dir.path(), &rp(".config/x")).unwrap_err();
        assert_eq!(error.code(), "dir.too-many");

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "big", &"x".repeat(MAX_FILE_BYTES + 1), 0o644);
        assert_eq!(
            read_tree(dir.path(), &rp(".config/x")).unwrap_err().code(),
            "dir.too-large"
        );

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_tree(dir.path(), &rp(".config/x")).unwrap_err(),
            TreeError::Empty
        );
        write(dir.path(), "file", "x", 0o644);
        assert_eq!(
            read_tree(&dir.path().join("file"), &rp(".config/x")).unwrap_err(),
            TreeError::NotADirectory
        );
        let bad = dir.path().join("bad\nname");
        std::fs::write(&bad, "x").unwrap();
        assert_eq!(
            read_tree(dir.path(), &rp(".config/x")).unwrap_err().code(),
            "dir.bad-name"
        );
    }
}
