//! Shared helpers of the agent's integration tests: a temp world (a home and an
//! "outside" directory next to it), running the real binary, request builders and a
//! whole-tree snapshot to prove nothing else changed.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

pub const AGENT: &str = env!("CARGO_BIN_EXE_qubes-config-agent");
pub const PROPOSE: &str = env!("CARGO_BIN_EXE_qubes-config-propose");

pub struct World {
    pub root: tempfile::TempDir,
    pub home: PathBuf,
    pub outside: PathBuf,
    pub spool: PathBuf,
}

impl World {
    pub fn new() -> World {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let outside = root.path().join("outside");
        let spool = root.path().join("spool");
        std::fs::create_dir(&home).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"outside secret\n").unwrap();
        World {
            root,
            home,
            outside,
            spool,
        }
    }

    pub fn run(&self, service: &str, profile: &str, stdin: &[u8], env: &[(&str, &str)]) -> Outcome {
        let mut command = Command::new(AGENT);
        command
            .arg(service)
            .env_clear()
            .env("HOME", &self.home)
            .env("QREXEC_SERVICE_ARGUMENT", profile)
            .env("QREXEC_REMOTE_DOMAIN", "work")
            .env("QUBES_CONFIG_SYNC_SPOOL", &self.spool);
        for (k, v) in env {
            command.env(k, v);
        }
        run_command(command, stdin)
    }

    pub fn apply(&self, request: &Value) -> Outcome {
        self.run("apply", "git", request.to_string().as_bytes(), &[])
    }

    pub fn tree(&self) -> Tree {
        tree(self.root.path())
    }
}

pub struct Outcome {
    pub code: i32,
    pub reply: Value,
    pub stderr: String,
}

impl Outcome {
    /// The refusal code of a whole-request refusal.
    pub fn refusal(&self) -> Option<&str> {
        self.reply["refused"]["code"].as_str()
    }
    /// The per-file results of an `ok` apply/rollback reply.
    pub fn files(&self) -> &Vec<Value> {
        self.reply["ok"]["files"]
            .as_array()
            .expect("ok reply with files")
    }
    pub fn status(&self, i: usize) -> &str {
        self.files()[i]["outcome"]["status"].as_str().unwrap()
    }
    pub fn reason(&self, i: usize) -> &str {
        self.files()[i]["outcome"]["reason"].as_str().unwrap_or("")
    }
}

pub fn run_command(command: Command, stdin: &[u8]) -> Outcome {
    let output = qcs_test_support::run_with_stdin(command, stdin);
    let reply = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    Outcome {
        code: output.status.code().unwrap_or(-1),
        reply,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn sha(bytes: &[u8]) -> String {
    qcs_protocol::sha256_hex(bytes)
}

/// One file entry of an apply request (UTF-8 content, mode 0644, no base).
pub fn file(path: &str, content: &[u8]) -> Value {
    json!({
        "path": path,
        "mode": "0644",
        "content": {"encoding": "utf-8", "data": String::from_utf8_lossy(content)},
        "sha256": sha(content),
    })
}

pub fn apply_request(files: Vec<Value>) -> Value {
    json!({"version": 1, "profile": "git", "files": files})
}

/// What a path is, for before/after comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { mode: u32, nlink: u64, sha: String },
    Dir { mode: u32 },
    Symlink { target: PathBuf },
    Other { kind: String, mode: u32 },
}

pub type Tree = BTreeMap<PathBuf, Node>;

/// Every entry below `root`, without following symlinks.
pub fn tree(root: &Path) -> Tree {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Tree) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        let ft = meta.file_type();
        let node = if ft.is_symlink() {
            Node::Symlink {
                target: std::fs::read_link(&path).unwrap(),
            }
        } else if ft.is_dir() {
            walk(root, &path, out);
            Node::Dir {
                mode: meta.mode() & 0o7777,
            }
        } else if ft.is_file() {
            Node::File {
                mode: meta.mode() & 0o7777,
                nlink: meta.nlink(),
                sha: sha(&std::fs::read(&path).unwrap()),
            }
        } else {
            let kind = if ft.is_fifo() {
                "fifo"
            } else if ft.is_socket() {
                "socket"
            } else {
                "device"
            };
            Node::Other {
                kind: kind.into(),
                mode: meta.mode() & 0o7777,
            }
        };
        out.insert(rel, node);
    }
}

/// The differences between two trees, for assertion messages.
pub fn diff(before: &Tree, after: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, node) in before {
        match after.get(path) {
            None => out.push(format!("removed {}", path.display())),
            Some(n) if n != node => {
                out.push(format!("changed {}: {node:?} -> {n:?}", path.display()))
            }
            _ => {}
        }
    }
    for path in after.keys() {
        if !before.contains_key(path) {
            out.push(format!("added {}", path.display()));
        }
    }
    out
}
