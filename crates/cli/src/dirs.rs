//! `profile add-dir PROFILE PATH --from DIR`: a local directory tree as a directory entry
//! of a profile (its files, each stored, pushed, snapshotted and reviewed on its own).
//! The tree is read with `qcs_core::dirtree` (no symlink inside is followed; symlinks,
//! devices, FIFOs and sockets are refused with a reason); the backend replaces the entry
//! in one generation.
//!
//! It must not follow or copy a symlink, nor send anything when the tree is refused.

use std::io::Write;
use std::path::Path;

use qcs_client::{Code, Reason};
use qcs_core::dirtree::{self, TreeError};
use qcs_protocol::path::validate_relative_path;

use super::output::{safe, sentence};
use super::remote::{RemoteError, Session};

/// The reason of a refused tree, with its arguments.
pub(crate) fn tree_reason(error: &TreeError) -> Reason {
    let first = Reason::new(Code::from_wire(error.code()));
    error
        .args()
        .into_iter()
        .fold(first, |reason, (name, value)| reason.arg(name, value))
}

/// Reads `from` and stores it as the directory entry `path` of `profile`.
pub(crate) async fn add_dir(
    out: &mut impl Write,
    s: &Session,
    profile: &str,
    path: &str,
    from: &Path,
    opts: qcs_core::render::terminal::Options,
) -> Result<u8, RemoteError> {
    let entry = validate_relative_path(path.trim_end_matches('/')).map_err(|e| {
        RemoteError::Reason(
            Reason::new(Code::PathInvalid)
                .arg("path", path)
                .arg("detail", e),
        )
    })?;
    let tree =
        dirtree::read_tree(from, &entry).map_err(|e| RemoteError::Reason(tree_reason(&e)))?;
    let files: Vec<(&str, &[u8], u32)> = tree
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.content.as_slice(), f.mode))
        .collect();
    let (generation, removed) = s
        .proxy
        .put_directory(profile, entry.as_str(), &files)
        .await?;
    for file in &tree.files {
        writeln!(
            out,
            "  {:04o} {}",
            file.mode,
            safe(file.path.as_str(), opts)
        )?;
    }
    for skipped in &tree.never_sync {
        let reason = Reason::new(Code::PathNeverSync).arg("path", skipped);
        writeln!(out, "  left out: {}", sentence(&reason, opts))?;
    }
    if removed > 0 {
        writeln!(out, "{removed} file(s) no longer in the directory removed")?;
    }
    writeln!(
        out,
        "{}: {} file(s) in {}, generation {generation}",
        safe(profile, opts),
        tree.files.len(),
        safe(entry.as_str(), opts)
    )?;
    Ok(super::EXIT_CLEAN)
}
