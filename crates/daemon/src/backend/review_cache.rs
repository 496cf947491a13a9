//! A bounded cache of built reviews: the `GetProposal` reply (its JSON) and the
//! inbox's risk marker of each proposal, keyed by everything the review depends on —
//! the proposal and its status, the profile's generation, the store's current files
//! of the profile (path, hash, mode), the rule set. A changed store gives a new key,
//! so a stale entry is never served; the oldest entries are dropped past the bound.
//!
//! It must not build reviews (proposals.rs does) nor decide an accept: the gate
//! always rebuilds the review under the store (`AcceptProposal`).

use std::collections::VecDeque;
use std::sync::Arc;

use qcs_core::store::{ProposalStatus, Store};
use qcs_protocol::ProfileId;

use super::Result;
use crate::client::types::ProposalRisk;

/// Most reviews kept (a 10 000-hunk review is ~15 MB of JSON).
pub const MAX_REVIEWS: usize = 16;
/// Most bytes of JSON kept over all entries.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Most risk markers kept (small: they outlive the reviews they came from).
pub const MAX_RISKS: usize = 4096;

/// Everything a review depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewKey {
    pub proposal: i64,
    pub status: ProposalStatus,
    pub profile: ProfileId,
    pub generation: u64,
    pub created_at: i64,
    /// The profile's current files: path, sha256, mode.
    pub files: Vec<(String, String, u32)>,
    pub rules: Arc<str>,
}

impl ReviewKey {
    /// The key of proposal `id` (of `profile`, in `status`) against the store now.
    pub fn of(
        store: &Store,
        proposal: i64,
        status: ProposalStatus,
        profile: &ProfileId,
        rules: &Arc<str>,
    ) -> Result<ReviewKey> {
        let (generation, created_at) = store
            .profile(profile)?
            .map_or((0, 0), |p| (p.generation, p.created_at));
        let files = store
            .current_files(profile)?
            .into_iter()
            .map(|c| (c.path.as_str().to_owned(), c.sha256, c.mode.bits()))
            .collect();
        Ok(ReviewKey {
            proposal,
            status,
            profile: profile.clone(),
            generation,
            created_at,
            files,
            rules: Arc::clone(rules),
        })
    }
}

/// One built review.
#[derive(Debug)]
pub struct CachedReview {
    pub json: Arc<str>,
    pub risk: ProposalRisk,
    /// The proposal is for a templated file: `json`'s base is redrawn on every call.
    pub templated: bool,
}

/// The cache (held under its own lock, never while building).
#[derive(Debug, Default)]
pub struct ReviewCache {
    entries: VecDeque<(ReviewKey, Arc<CachedReview>)>,
    risks: VecDeque<(ReviewKey, ProposalRisk)>,
}

impl ReviewCache {
    pub fn get(&self, key: &ReviewKey) -> Option<Arc<CachedReview>> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| Arc::clone(v))
    }

    /// The risk of `proposal` if its review for `key` is here.
    pub fn risk(&self, key: &ReviewKey) -> Option<ProposalRisk> {
        self.risks.iter().find(|(k, _)| k == key).map(|(_, r)| *r)
    }

    /// Keeps `review` for `key`, replacing any older review of the same proposal and
    /// dropping the oldest entries past the bounds.
    pub fn put(&mut self, key: ReviewKey, review: Arc<CachedReview>) {
        self.risks.retain(|(k, _)| k.proposal != key.proposal);
        self.risks.push_back((key.clone(), review.risk));
        while self.risks.len() > MAX_RISKS {
            self.risks.pop_front();
        }
        self.entries.retain(|(k, _)| k.proposal != key.proposal);
        self.entries.push_back((key, review));
        while self.entries.len() > MAX_REVIEWS
            || (self.entries.len() > 1 && self.bytes() > MAX_BYTES)
        {
            self.entries.pop_front();
        }
    }

    fn bytes(&self) -> usize {
        self.entries.iter().map(|(_, r)| r.json.len()).sum()
    }
}
