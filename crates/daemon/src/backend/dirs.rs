//! Directory entries of a profile: a tree such as `.config/nvim/` stored as its files,
//! each a `RelativePath` of its own — pushed, snapshotted, drift-checked and reviewed file
//! by file like any other file, within the protocol's limits (at most `MAX_FILES` per
//! profile, `MAX_FILE_BYTES` each).
//!
//! Setting a directory entry replaces it as a whole in one generation: the files given
//! are stored, and files of the profile under the directory that are not given any more
//! are removed (history keeps them). The client reads the local tree (without following
//! symlinks; see `qcs_core::dirtree`) and sends the files; every path must be inside the
//! directory.
//!
//! Snapshots ask a qube only for the files the profile has: a new file in the qube's
//! directory is never picked up by reading it — it can only arrive as a proposal under
//! the profile's allowlist of new paths. So the protocol has no directory listing.
//!
//! It must not read local files itself nor talk to qubes.

use qcs_core::store::FileEdit;
use qcs_protocol::limits::MAX_FILES;
use qcs_protocol::{ProfileId, RelativePath};

use super::{Backend, BackendError, Result};
use crate::client::{Code, Reason};

impl Backend {
    /// Replaces the directory entry `dir` of `profile` with `files` (see the module doc);
    /// returns the new generation and how many files were removed.
    pub fn put_directory(
        &self,
        profile: &ProfileId,
        dir: &RelativePath,
        files: &[(RelativePath, Vec<u8>, u32)],
    ) -> Result<(u64, u32)> {
        if files.is_empty() {
            return Err(BackendError::Refused(Reason::new(Code::DirEmpty)));
        }
        if files.len() > MAX_FILES {
            return Err(BackendError::Refused(
                Reason::new(Code::DirTooMany).arg("limit", MAX_FILES),
            ));
        }
        let prefix = format!("{}/", dir.as_str());
        if let Some((outside, _, _)) = files
            .iter()
            .find(|(path, _, _)| !path.as_str().starts_with(&prefix))
        {
            return Err(BackendError::InvalidArgument(
                Reason::new(Code::DirOutside)
                    .arg("path", outside)
                    .arg("dir", dir),
            ));
        }
        let generation_and_removed = {
            let mut store = self.store();
            let gone: Vec<RelativePath> = store
                .current_files(profile)?
                .into_iter()
                .map(|f| f.path)
                .filter(|p| p.as_str().starts_with(&prefix))
                .filter(|p| !files.iter().any(|(path, _, _)| path == p))
                .collect();
            let mut edits: Vec<FileEdit<'_>> = files
                .iter()
                .map(|(path, content, mode)| FileEdit {
                    path,
                    content: Some(content),
                    mode: *mode,
                })
                .collect();
            edits.extend(gone.iter().map(|path| FileEdit {
                path,
                content: None,
                mode: 0,
            }));
            let generation = store.put_files(profile, &edits)?;
            (generation, u32::try_from(gone.len()).unwrap_or(u32::MAX))
        };
        self.profile_changed();
        Ok(generation_and_removed)
    }
}
