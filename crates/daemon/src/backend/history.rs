//! A profile's history for the API (`Generations`) and its rollback (`RevertProfile`):
//! the store's generations as wire types, and a rollback as a new generation that a
//! push then carries to the qubes, planned and confirmed like any push.
//!
//! It must not write into qubes: the rollback changes the store only.

use qcs_core::store::{FileChange, GenerationAuthor};
use qcs_protocol::ProfileId;

use super::{Backend, Result};
use crate::client::history::{
    FileChange as WireChange, GenerationAuthor as WireAuthor, GenerationFile, GenerationList,
    GenerationView,
};
use crate::client::types::API_VERSION;

impl Backend {
    /// Every generation of `profile`, oldest first.
    pub fn generations(&self, profile: &ProfileId) -> Result<GenerationList> {
        let store = self.store();
        let generations = store.generations(profile)?;
        let current = store.profile(profile)?.map_or(0, |p| p.generation);
        Ok(GenerationList {
            version: API_VERSION,
            profile: profile.to_string(),
            current,
            generations: generations
                .into_iter()
                .map(|g| GenerationView {
                    number: g.number,
                    at: g.at,
                    author: match g.author {
                        GenerationAuthor::LocalEdit => WireAuthor::LocalEdit,
                        GenerationAuthor::Import => WireAuthor::Import,
                        GenerationAuthor::AcceptedProposal { qube, proposal_id } => {
                            WireAuthor::Proposal {
                                qube: qube.to_string(),
                                proposal_id,
                            }
                        }
                        GenerationAuthor::Rollback { to } => WireAuthor::Rollback { to },
                    },
                    files: g
                        .files
                        .into_iter()
                        .map(|(path, change)| GenerationFile {
                            path: path.to_string(),
                            change: match change {
                                FileChange::Added => WireChange::Added,
                                FileChange::Changed => WireChange::Changed,
                                FileChange::Removed => WireChange::Removed,
                            },
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    /// Rolls `profile` back to `generation` as a new generation (refused when nothing
    /// would change); the qubes get it with the next push, which the caller plans.
    pub fn rollback_profile(&self, profile: &ProfileId, generation: u64) -> Result<u64> {
        let new = self.store().rollback_profile(profile, generation)?;
        self.profile_changed();
        Ok(new)
    }
}
