//! Loading a review from the store: the proposals, the base of each (the store's
//! current version of its path), the version the qube started from when the store
//! moved on since (for the three-way view), and the profile's other current files.
//!
//! It only reads the store; the caller keeps holding it until the accept is stored,
//! so what was checked is what is written. [`load_inputs`] takes what a review is
//! built from (a consistent snapshot, read under one hold of the store) so that a
//! caller that only shows the review can build it after letting the store go.

use super::build::BuildError;
use super::{Base, ContextFile, ProposedFile, Review};
use crate::risk::Engine;
use crate::store::{Proposal, ProposalStatus, Store, StoreError};

/// Why a review could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A proposal does not exist.
    #[error("proposal #{0} does not exist")]
    NotFound(i64),
    /// The proposals are of different profiles.
    #[error("proposals #{0} and #{1} are of different profiles")]
    MixedProfiles(i64, i64),
    /// The set cannot be reviewed together.
    #[error("{0}")]
    Build(#[from] BuildError),
}

/// Loads the review of proposals `ids` (of one profile) from `store`.
pub fn load<'e>(store: &Store, engine: &'e Engine, ids: &[i64]) -> Result<Review<'e>, LoadError> {
    load_inputs(store, ids)?.build(engine)
}

/// What a review is built from, read from the store: the proposed files and the
/// profile's current files. Owns its bytes, so it outlives the hold of the store.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub files: Vec<ProposedFile>,
    pub context: Vec<ContextFile>,
}

impl Inputs {
    /// Builds the review (the diffs, the scan, the findings' places and the digest):
    /// the expensive part, which needs no store.
    pub fn build(self, engine: &Engine) -> Result<Review<'_>, LoadError> {
        Ok(Review::build(engine, self.files, self.context)?)
    }
}

/// Reads what the review of proposals `ids` (of one profile) is built from.
pub fn load_inputs(store: &Store, ids: &[i64]) -> Result<Inputs, LoadError> {
    let mut proposals: Vec<Proposal> = Vec::with_capacity(ids.len());
    for &id in ids {
        let p = store.proposal(id)?.ok_or(LoadError::NotFound(id))?;
        if let Some(first) = proposals.first()
            && first.profile != p.profile
        {
            return Err(LoadError::MixedProfiles(first.id, p.id));
        }
        proposals.push(p);
    }
    let Some(profile) = proposals.first().map(|p| p.profile.clone()) else {
        return Err(BuildError::Empty.into());
    };
    let mut files = Vec::with_capacity(proposals.len());
    for p in proposals {
        let base = store.current_file(&profile, &p.path)?.map(|c| Base {
            bytes: c.bytes,
            sha256: c.sha256,
        });
        let qube_base = match &p.base_sha256 {
            Some(hash) if base.as_ref().map(|b| &b.sha256) != Some(hash) => {
                older_version(store, &p, hash)?
            }
            _ => None,
        };
        files.push(ProposedFile {
            proposal: p.id,
            pending: p.status == ProposalStatus::Pending,
            path: p.path.as_str().to_owned(),
            proposed_sha256: p.sha256,
            proposed: p.content,
            mode: p.mode,
            base,
            qube_base,
        });
    }
    let context = store
        .current_files(&profile)?
        .into_iter()
        .map(|c| ContextFile {
            path: c.path.as_str().to_owned(),
            bytes: c.bytes,
            sha256: c.sha256,
            mode: Some(c.mode.bits()),
        })
        .collect();
    Ok(Inputs { files, context })
}

/// The content of the newest version of the proposal's file whose hash is `hash` (the
/// version the qube based its change on), if the store still has it.
fn older_version(
    store: &Store,
    proposal: &Proposal,
    hash: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let history = store.file_history(&proposal.profile, &proposal.path)?;
    Ok(history
        .into_iter()
        .rev()
        .filter_map(|v| v.content)
        .find(|c| c.sha256 == hash)
        .map(|c| c.bytes))
}
