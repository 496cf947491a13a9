//! Why a store operation failed: the one error type of the store, whose variants name
//! what was refused and why. Nothing is changed when an operation fails.
//!
//! It must not carry unbounded text from a qube or a file: untrusted names and paths are
//! truncated (`check::truncated`) before they land in a variant.

use std::path::PathBuf;

use qcs_protocol::limits::MAX_FILES;
use qcs_protocol::mode::ModeError;
use qcs_protocol::path::PathError;
use qcs_protocol::profile::ProfileIdError;

use super::{ProposalStatus, TemplateRefusal};

/// Why a store operation failed. Nothing is changed when an operation fails.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database has schema version {found}, newer than the {supported} this program \
         knows; refusing to open it (use a newer qubes-config-sync)"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("not a qubes-config-sync database (application id {application_id:#x})")]
    NotOurDatabase { application_id: i64 },
    #[error("invalid path {path:?}: {source}")]
    InvalidPath { path: String, source: PathError },
    #[error("invalid profile id {id:?}: {source}")]
    InvalidProfileId { id: String, source: ProfileIdError },
    #[error("{0}")]
    ModeNotAllowed(#[from] ModeError),
    #[error("{what} of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("profile {0} would have more than {MAX_FILES} files (one push carries at most that)")]
    TooManyFiles(String),
    #[error("{0} is on the never-sync list (secrets, histories, .git): refused")]
    NeverSync(String),
    #[error("path {0} appears twice in one change")]
    DuplicatePath(String),
    #[error("sha256 {0:?} is not 64 lowercase hex digits")]
    InvalidHash(String),
    #[error("profile {0} does not exist")]
    ProfileNotFound(String),
    #[error("profile {0} already exists")]
    ProfileExists(String),
    #[error("profile {profile} has no file {path}")]
    FileNotFound { profile: String, path: String },
    #[error("profile {profile} already has the content of generation {generation}")]
    SameContent { profile: String, generation: u64 },
    #[error("profile {profile} has no generation {generation} (current: {current})")]
    NoSuchGeneration {
        profile: String,
        generation: u64,
        current: u64,
    },
    #[error("proposal #{0} does not exist")]
    ProposalNotFound(i64),
    #[error("proposal #{id} is already {status}")]
    ProposalNotPending { id: i64, status: ProposalStatus },
    #[error("qube {qube} may not propose profile {profile}")]
    NotAllowedToPropose { qube: String, profile: String },
    #[error("qube {qube} already has {limit} pending proposals; refusing more")]
    ProposalQuotaExceeded { qube: String, limit: usize },
    #[error(
        "profile {profile} has no file {path:?} and its allowlist of new paths does not match \
         it: refused"
    )]
    NewPathNotAllowed { profile: String, path: String },
    #[error("profile {profile} has no file {path:?}: only the profile's files are imported")]
    NotInProfile { profile: String, path: String },
    #[error("the files of one batch come from one qube")]
    MixedBatch,
    #[error("invalid glob for new paths {glob:?}: {why}")]
    InvalidGlob { glob: String, why: String },
    #[error("profile {profile} would have more than {limit} globs for new paths")]
    TooManyGlobs { profile: String, limit: usize },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("import refused: {0}")]
    ImportRefused(String),
    #[error("export refused: {0}")]
    ExportRefused(String),
    #[error("the database holds an invalid value: {0}")]
    Corrupt(String),
    #[error("invalid {kind} for an assignment rule {value:?}: {why}")]
    InvalidRule {
        kind: &'static str,
        value: String,
        why: String,
    },
    #[error("the assignment rule {0} exists already")]
    RuleExists(String),
    #[error("there is no assignment rule {0}")]
    RuleNotFound(String),
    #[error("the store holds at most {0} assignment rules")]
    TooManyRules(usize),
    #[error("{0}")]
    Template(#[from] TemplateRefusal),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
