//! The review of proposals: the one type through which the backend (and so the app, the
//! CLI and the Python module) shows a proposal and decides whether it may be accepted.
//!
//! A [`Review`] is built for the state after accept (DESIGN §6): the proposed files with
//! the store's current version as their base, together with every other current file of
//! the profile, so a finding that depends on a combination of files (attributes and the
//! driver they select, an include of another file) is raised whichever part arrived
//! first. Each finding has a stable identity, the hunks it lies in and whether it gates;
//! the review has a digest of exactly what it shows. [`Review::check`] is the gate: an
//! accept binds to that digest, and every gated finding in the accepted part must be
//! acknowledged by its identity.
//!
//! This module must not write to the store, talk to qubes, or judge by rule id alone.

mod build;
mod gate;
mod identity;
#[cfg(feature = "store")]
mod load;

use crate::diff::{FileDiff, HunkId, ThreeWay};
use crate::risk::{Engine, Finding};

pub use build::{BuildError, GATE_SEVERITY};
pub use gate::{Accepted, AcceptedFile, Decision, GateError};
pub use identity::{finding_id, rules_fingerprint};
#[cfg(feature = "store")]
pub use load::{Inputs, LoadError, load, load_inputs};

/// The content a proposal would replace: the store's current version of its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The bytes in the store.
    pub bytes: Vec<u8>,
    /// Their sha256 (hex).
    pub sha256: String,
}

/// One proposed file, as [`Review::build`] takes it.
#[derive(Debug, Clone)]
pub struct ProposedFile {
    /// The proposal's id in the store.
    pub proposal: i64,
    /// False once the proposal was accepted or rejected (the review is then only shown).
    pub pending: bool,
    /// Path relative to home.
    pub path: String,
    /// The proposed bytes (untrusted).
    pub proposed: Vec<u8>,
    /// Their sha256 (hex).
    pub proposed_sha256: String,
    /// The mode the file has in the qube, if it said.
    pub mode: Option<u32>,
    /// The store's current version of the path; `None` for a new file.
    pub base: Option<Base>,
    /// The older version the qube based its change on, when the store has moved on
    /// since (it makes the three-way view); `None` otherwise.
    pub qube_base: Option<Vec<u8>>,
}

/// A current file of the profile that the review does not change: it takes part in
/// the analysis of combinations only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Path relative to home.
    pub path: String,
    /// The bytes in the store.
    pub bytes: Vec<u8>,
    /// Their sha256 (hex).
    pub sha256: String,
    /// The stored mode.
    pub mode: Option<u32>,
}

/// One file of a review.
#[derive(Debug, Clone)]
pub struct ReviewFile {
    /// The proposal's id in the store.
    pub proposal: i64,
    /// False once the proposal was decided; such a review cannot be accepted.
    pub pending: bool,
    /// Path relative to home.
    pub path: String,
    /// The store's current version, `None` for a new file.
    pub base: Option<Base>,
    /// The proposed bytes (untrusted).
    pub proposed: Vec<u8>,
    /// Their sha256 (hex).
    pub proposed_sha256: String,
    /// The mode the file has in the qube, if it said.
    pub mode: Option<u32>,
    /// Base (or empty) → proposed; its hunk ids are what a partial accept names.
    pub diff: FileDiff,
    /// Base = the version the qube started from, ours = the store, theirs = the
    /// proposal; present when the store moved on since the qube's base.
    pub three_way: Option<ThreeWay>,
}

impl ReviewFile {
    /// The base bytes, empty for a new file.
    pub fn base_bytes(&self) -> &[u8] {
        self.base.as_ref().map_or(&[], |b| b.bytes.as_slice())
    }
}

/// A finding of the review with its identity and the hunks it lies in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFinding {
    /// Stable identity (see [`finding_id`]); what an acknowledgement names.
    pub id: String,
    /// The finding as the engine reported it.
    pub finding: Finding,
    /// The hunks (of any file of the review) whose acceptance brings this finding into
    /// the store: its own line's hunk, or every hunk of its file for a file-level
    /// finding or an unchanged line, plus those of its `related` parts. Empty when no
    /// hunk of the review touches it (then only accepting everything brings it in).
    pub hunks: Vec<(i64, HunkId)>,
    /// True when it must be acknowledged before it may be accepted (severity ≥ high).
    pub gated: bool,
}

/// Everything shown for a set of proposals of one profile, and the gate for accepting.
#[derive(Debug, Clone)]
pub struct Review<'e> {
    /// The proposed files, in the order given.
    pub files: Vec<ReviewFile>,
    /// Findings for the state after accept, worst first.
    pub findings: Vec<ReviewFinding>,
    /// Digest of exactly what is shown (see [`Review::digest`]); an accept must carry it.
    pub digest: String,
    /// The profile's other current files (they take part in the analysis).
    context: Vec<ContextFile>,
    engine: &'e Engine,
}

impl<'e> Review<'e> {
    /// The profile's other current files the review analysed together with the proposals.
    pub fn context(&self) -> &[ContextFile] {
        &self.context
    }

    /// The engine the findings come from.
    pub fn engine(&self) -> &'e Engine {
        self.engine
    }

    /// The file of proposal `id`.
    pub fn file(&self, proposal: i64) -> Option<&ReviewFile> {
        self.files.iter().find(|f| f.proposal == proposal)
    }

    /// Findings that lie in (or relate to) the file of proposal `id`.
    pub fn findings_of(&self, proposal: i64) -> impl Iterator<Item = &ReviewFinding> {
        let path = self.file(proposal).map(|f| f.path.clone());
        self.findings.iter().filter(move |f| {
            path.as_deref() == Some(f.finding.path.as_str())
                || f.hunks.iter().any(|(p, _)| *p == proposal)
        })
    }

    /// Ids of the gated findings, in review order.
    pub fn gated_ids(&self) -> Vec<String> {
        self.findings
            .iter()
            .filter(|f| f.gated)
            .map(|f| f.id.clone())
            .collect()
    }
}
