//! The trusted store of the config qube (DESIGN §5), in SQLite with WAL.
//!
//! Its one job: keep profiles, their file history, per-qube settings, the per qube × file
//! push state, the proposal quarantine and the audit log — durably and consistently.
//! Every mutation is one transaction, so a crash leaves either the old or the new state
//! (invariant 6), and the audit log and file history are append-only, enforced by SQLite
//! triggers, not only by this API.
//!
//! Its boundary is typed: profiles, paths and qubes come in as the protocol's validated
//! `ProfileId`, `RelativePath` and `VmName` (parsed once, where a string enters the
//! program) and come back out as them; a row that does not parse as its type is
//! [`StoreError::Corrupt`], never a panic and never an unchecked string.
//!
//! It must not talk to qubes, run anything, or use data from a qube as a file name here,
//! and proposal bytes stay inside the database.

mod exchange;
mod intake;
mod rules;
mod schema;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES, MAX_NOTE_BYTES};
use qcs_protocol::mode::{FileMode, ModeError, validate_mode};
use qcs_protocol::path::{PathError, RelativePath, validate_relative_path};
use qcs_protocol::profile::{ProfileId, ProfileIdError, validate_profile_id};
use qcs_protocol::sha256_hex;
use qcs_protocol::vm_name::{VmName, validate_vm_name};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

pub use exchange::{ExportSummary, ImportSummary, MANIFEST_FILE_NAME};
pub use intake::{
    BatchOutcome, IntakeRefusal, MAX_GLOB_BYTES, MAX_NEW_PATH_GLOBS, REFUSAL_WINDOW_SECS, refusal,
    validate_new_path_glob,
};
pub use rules::{
    AssignmentRule, MAX_ASSIGNMENT_RULES, MAX_RULE_VALUE_BYTES, QubeFacts, RULE_CLASSES, RuleKind,
    matching_rules, rule_matches, rule_text, validate_rule_value,
};
pub use schema::{APPLICATION_ID, MIGRATIONS, latest_version as latest_schema_version};

/// Most pending proposals one qube may have in quarantine; more are refused at intake, so a
/// flood from one qube cannot grow the store without bound.
pub const MAX_PENDING_PROPOSALS_PER_QUBE: usize = 256;
/// Longest profile description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;

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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A profile: a named set of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: ProfileId,
    pub description: String,
    /// Bumped by every change of the profile's files; 0 for a profile without any.
    pub generation: u64,
    pub created_at: i64,
}

/// Where a file version came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Edited (or imported) by the user in the config qube.
    LocalEdit,
    /// Accepted from proposal `proposal_id`, sent by `qube`.
    AcceptedProposal { qube: VmName, proposal_id: i64 },
}

/// One version of one file of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    pub id: i64,
    pub profile: ProfileId,
    pub path: RelativePath,
    /// The profile generation this version was created in.
    pub generation: u64,
    /// `None` for a removal (tombstone).
    pub content: Option<FileContent>,
    pub provenance: Provenance,
    pub created_at: i64,
}

/// Content, hash and mode of a present file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub mode: FileMode,
}

/// A current (present) file of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentFile {
    pub version_id: i64,
    pub path: RelativePath,
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub mode: FileMode,
    /// The generation the file last changed in.
    pub generation: u64,
    pub provenance: Provenance,
}

/// One file to write with [`Store::put_files`].
#[derive(Debug, Clone, Copy)]
pub struct FileEdit<'a> {
    pub path: &'a RelativePath,
    /// `None` removes the file.
    pub content: Option<&'a [u8]>,
    pub mode: u32,
}

/// The per-qube settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QubeSettings {
    pub qube: VmName,
    pub assigned: Vec<ProfileId>,
    pub may_propose: Vec<ProfileId>,
    pub auto_apply: bool,
}

/// What we last wrote to a qube × path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedState {
    pub profile: ProfileId,
    pub sha256: String,
    pub mode: FileMode,
    /// The profile generation that was pushed.
    pub generation: u64,
    pub at: i64,
}

/// What we last saw at a qube × path (from a snapshot or an apply reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeenState {
    Absent,
    Regular {
        sha256: String,
        mode: u32,
    },
    /// A directory, symlink, device, … or a path the agent refused to inspect.
    Other {
        kind: String,
    },
}

/// The three states of chezmoi's model, minus the desired one (that is the profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QubeFileState {
    pub qube: VmName,
    pub path: RelativePath,
    pub pushed: Option<PushedState>,
    pub seen: Option<(SeenState, i64)>,
}

/// One file of a completed push, for [`Store::record_push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedFile {
    pub profile: ProfileId,
    pub path: RelativePath,
    pub sha256: String,
    pub mode: FileMode,
    pub generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalStatus {
    Pending,
    Accepted,
    Rejected,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Accepted => "accepted",
            ProposalStatus::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(ProposalStatus::Pending),
            "accepted" => Ok(ProposalStatus::Accepted),
            "rejected" => Ok(ProposalStatus::Rejected),
            other => Err(StoreError::Corrupt(format!("proposal status {other:?}"))),
        }
    }
}

impl std::fmt::Display for ProposalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proposal as it arrives from a qube: names and path already parsed by the protocol
/// crate (the types carry that); the store still checks never-sync, sizes, the hash and
/// the whitelist, which are its own invariants.
#[derive(Debug, Clone)]
pub struct NewProposal<'a> {
    /// The calling qube, as dom0 named it (`QREXEC_REMOTE_DOMAIN`).
    pub source_qube: VmName,
    pub profile: ProfileId,
    pub path: RelativePath,
    pub content: &'a [u8],
    /// The mode the file has in the qube, any value (the review decides).
    pub mode: Option<u32>,
    pub base_sha256: Option<&'a str>,
    pub note: &'a str,
}

/// A proposal in quarantine.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub id: i64,
    pub source_qube: VmName,
    pub profile: ProfileId,
    pub path: RelativePath,
    pub content: Vec<u8>,
    pub sha256: String,
    pub mode: Option<u32>,
    pub base_sha256: Option<String>,
    pub note: String,
    pub received_at: i64,
    pub status: ProposalStatus,
    /// The submission this file came with (all files of one spooled request share it;
    /// each import from a snapshot is its own).
    pub batch: i64,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
    pub accepted_version: Option<i64>,
}

/// A proposal without its content, for lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalSummary {
    pub id: i64,
    pub source_qube: VmName,
    pub profile: ProfileId,
    pub path: RelativePath,
    pub size: usize,
    pub sha256: String,
    pub received_at: i64,
    pub status: ProposalStatus,
    /// See [`Proposal::batch`].
    pub batch: i64,
}

/// How a proposal is accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Acceptance<'a> {
    /// The content to store, when the reviewer accepted only some hunks; `None` stores the
    /// proposed bytes.
    pub content: Option<&'a [u8]>,
    /// The mode to store; `None` keeps the current file's mode, or takes the proposed mode
    /// if it is on the allowlist, else 0644.
    pub mode: Option<u32>,
    pub note: Option<&'a str>,
    /// What the reviewer was shown and confirmed, for the audit entry of the accept.
    pub review: ReviewRecord<'a>,
}

/// The review an accept was decided on, as the audit log keeps it: the digest of the
/// review shown, the ids of the findings acknowledged, and who decided through which
/// interface. Bounded when stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReviewRecord<'a> {
    /// The digest of the review the decision was made on.
    pub digest: &'a str,
    /// Finding ids the reviewer acknowledged.
    pub acknowledged: &'a [String],
    /// Who decided and through which interface (e.g. the D-Bus method and the caller's
    /// bus name, uid and program), as the backend saw it.
    pub by: &'a str,
}

/// Most acknowledged finding ids kept in one audit entry (the gate refuses unknown
/// ids, so a real review never has more than its findings).
pub const MAX_RECORDED_ACKNOWLEDGEMENTS: usize = 1024;
/// Longest digest or `by` text kept in an audit entry, in characters.
const MAX_RECORD_CHARS: usize = 512;

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub qube: Option<String>,
    pub profile: Option<String>,
    pub path: Option<String>,
    pub proposal_id: Option<i64>,
    pub generation: Option<u64>,
    pub sha256: Option<String>,
    pub detail: serde_json::Value,
}

/// Audit actions written by the store.
pub mod action {
    pub const PROFILE_CREATE: &str = "profile-create";
    pub const PROFILE_DESCRIBE: &str = "profile-describe";
    pub const FILE_EDIT: &str = "file-edit";
    pub const FILE_REMOVE: &str = "file-remove";
    pub const IMPORT: &str = "import";
    pub const EXPORT: &str = "export";
    pub const SETTINGS: &str = "qube-settings";
    pub const PROPOSAL_RECEIVED: &str = "proposal-received";
    pub const PROPOSAL_REFUSED: &str = "proposal-refused";
    pub const PROPOSAL_ACCEPTED: &str = "proposal-accepted";
    pub const PROPOSAL_REJECTED: &str = "proposal-rejected";
    pub const REVERT: &str = "revert";
    pub const PUSH: &str = "push";
    pub const ROLLBACK: &str = "rollback";
    /// A profile's allowlist of globs for new paths changed.
    pub const NEW_PATH_GLOBS: &str = "new-path-globs";
    /// A qube's reply to a service call broke its request; nothing of it was recorded.
    pub const REPLY_REFUSED: &str = "reply-refused";
    /// An assignment rule (tag, template or class → profile) was added or removed.
    pub const ASSIGNMENT_RULE: &str = "assignment-rule";
}

/// The store. Mutations take `&mut self`: the backend is the single writer.
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses an untrusted profile id read from a file (the import's manifest).
fn check_profile(id: &str) -> Result<ProfileId> {
    validate_profile_id(id).map_err(|source| StoreError::InvalidProfileId {
        id: truncated(id),
        source,
    })
}

/// Parses an untrusted path read from a file (the import's manifest).
fn check_path(path: &str) -> Result<RelativePath> {
    validate_relative_path(path).map_err(|source| StoreError::InvalidPath {
        path: truncated(path),
        source,
    })
}

/// A path that may enter a profile: not on the never-sync list of the shipped rules
/// (private keys, credentials, histories, `.git/`: blocked in both directions).
fn check_syncable_path(path: &RelativePath) -> Result<()> {
    if crate::risk::is_never_sync(path.as_str()) {
        return Err(StoreError::NeverSync(path.to_string()));
    }
    Ok(())
}

fn check_hash(hash: &str) -> Result<String> {
    qcs_protocol::Sha256Hex::parse(hash)
        .map(|h| h.as_str().to_owned())
        .map_err(|_| StoreError::InvalidHash(truncated(hash)))
}

fn check_size(what: &'static str, size: usize, limit: usize) -> Result<()> {
    if size > limit {
        Err(StoreError::TooLarge { what, size, limit })
    } else {
        Ok(())
    }
}

/// Untrusted text in an error message: bounded, and `{:?}` escapes the rest.
fn truncated(text: &str) -> String {
    text.chars().take(128).collect()
}

/// A text of a [`ReviewRecord`] as the audit entry keeps it.
fn bounded_record(text: &str) -> String {
    text.chars().take(MAX_RECORD_CHARS).collect()
}

fn to_u64(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value}")))
}

fn to_i64(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("number {value} too large")))
}

fn mode_from_db(mode: i64) -> Result<FileMode> {
    u32::try_from(mode)
        .ok()
        .and_then(|m| validate_mode(m).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("mode {mode:o}")))
}

fn profile_from_db(id: &str) -> Result<ProfileId> {
    validate_profile_id(id)
        .map_err(|_| StoreError::Corrupt(format!("profile id {:?}", truncated(id))))
}

fn path_from_db(path: &str) -> Result<RelativePath> {
    validate_relative_path(path)
        .map_err(|_| StoreError::Corrupt(format!("path {:?}", truncated(path))))
}

fn qube_from_db(name: &str) -> Result<VmName> {
    validate_vm_name(name)
        .map_err(|_| StoreError::Corrupt(format!("qube name {:?}", truncated(name))))
}

/// Appends one audit entry inside `tx`.
#[allow(clippy::too_many_arguments)]
fn audit(
    tx: &Transaction<'_>,
    action: &str,
    qube: Option<&str>,
    profile: Option<&str>,
    path: Option<&str>,
    proposal_id: Option<i64>,
    generation: Option<u64>,
    sha256: Option<&str>,
    detail: serde_json::Value,
) -> Result<i64> {
    let generation = generation.map(to_i64).transpose()?;
    tx.execute(
        "INSERT INTO audit_log (at, action, qube, profile, path, proposal_id, generation, \
         sha256, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            now(),
            action,
            qube,
            profile,
            path,
            proposal_id,
            generation,
            sha256,
            detail.to_string()
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

const FILE_VERSION_COLUMNS: &str = "id, profile, path, generation, deleted, content, sha256, \
                                    mode, provenance, proposal_id, source_qube, created_at";

fn file_version_from_row(row: &Row<'_>) -> rusqlite::Result<RawVersion> {
    Ok(RawVersion {
        id: row.get(0)?,
        profile: row.get(1)?,
        path: row.get(2)?,
        generation: row.get(3)?,
        deleted: row.get(4)?,
        content: row.get(5)?,
        sha256: row.get(6)?,
        mode: row.get(7)?,
        provenance: row.get(8)?,
        proposal_id: row.get(9)?,
        source_qube: row.get(10)?,
        created_at: row.get(11)?,
    })
}

struct RawVersion {
    id: i64,
    profile: String,
    path: String,
    generation: i64,
    deleted: bool,
    content: Option<Vec<u8>>,
    sha256: Option<String>,
    mode: Option<i64>,
    provenance: String,
    proposal_id: Option<i64>,
    source_qube: Option<String>,
    created_at: i64,
}

impl RawVersion {
    fn into_version(self) -> Result<FileVersion> {
        let provenance = match (self.provenance.as_str(), self.proposal_id, self.source_qube) {
            ("local", _, _) => Provenance::LocalEdit,
            ("proposal", Some(proposal_id), Some(qube)) => Provenance::AcceptedProposal {
                qube: qube_from_db(&qube)?,
                proposal_id,
            },
            (other, _, _) => return Err(StoreError::Corrupt(format!("provenance {other:?}"))),
        };
        let content = match (self.deleted, self.content, self.sha256, self.mode) {
            (true, _, _, _) => None,
            (false, Some(bytes), Some(sha256), Some(mode)) => Some(FileContent {
                bytes,
                sha256,
                mode: mode_from_db(mode)?,
            }),
            _ => return Err(StoreError::Corrupt(format!("file version {}", self.id))),
        };
        Ok(FileVersion {
            id: self.id,
            profile: profile_from_db(&self.profile)?,
            path: path_from_db(&self.path)?,
            generation: to_u64(self.generation, "generation")?,
            content,
            provenance,
            created_at: self.created_at,
        })
    }
}

impl FileVersion {
    fn into_current(self) -> Option<CurrentFile> {
        let content = self.content?;
        Some(CurrentFile {
            version_id: self.id,
            path: self.path,
            bytes: content.bytes,
            sha256: content.sha256,
            mode: content.mode,
            generation: self.generation,
            provenance: self.provenance,
        })
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path`, in WAL mode, migrating the schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        create_private_file(path)?;
        let conn = Connection::open(path)?;
        Store::setup(conn, Some(path.to_owned()))
    }

    /// Where the backend keeps the store: `$XDG_DATA_HOME/qubes-config-sync/store.sqlite`,
    /// falling back to `~/.local/share/...`. `None` without either variable.
    pub fn default_path() -> Option<PathBuf> {
        let data_home = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .map(|home| home.join(".local/share"))
            })?;
        Some(data_home.join("qubes-config-sync").join("store.sqlite"))
    }

    /// A private in-memory store, for tests and previews.
    pub fn open_in_memory() -> Result<Store> {
        Store::setup(Connection::open_in_memory()?, None)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // FULL: a proposal must be on disk before it is acknowledged, even across a power
        // loss (NORMAL in WAL mode survives a process crash only).
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")?;
        if path.is_some() {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Corrupt(format!(
                    "could not switch to WAL mode (journal mode is {mode})"
                )));
            }
        }
        schema::migrate(&mut conn)?;
        Ok(Store { conn, path })
    }

    /// The file this store lives in (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))?)
    }

    /// The journal mode (`wal` for a file store).
    pub fn journal_mode(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))?)
    }

    fn write_tx(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    // ----- profiles -----

    /// Creates an empty profile.
    pub fn create_profile(&mut self, id: &ProfileId, description: &str) -> Result<Profile> {
        check_size("description", description.len(), MAX_DESCRIPTION_BYTES)?;
        let tx = self.write_tx()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM profiles WHERE id = ?1)",
            [id.as_str()],
            |r| r.get(0),
        )?;
        if exists {
            return Err(StoreError::ProfileExists(id.to_string()));
        }
        tx.execute(
            "INSERT INTO profiles (id, description, created_at) VALUES (?1, ?2, ?3)",
            params![id.as_str(), description, now()],
        )?;
        audit(
            &tx,
            action::PROFILE_CREATE,
            None,
            Some(id.as_str()),
            None,
            None,
            Some(0),
            None,
            serde_json::json!({ "description": description }),
        )?;
        tx.commit()?;
        self.profile(id)?
            .ok_or_else(|| StoreError::ProfileNotFound(id.to_string()))
    }

    /// Changes a profile's description.
    pub fn set_profile_description(&mut self, id: &ProfileId, description: &str) -> Result<()> {
        check_size("description", description.len(), MAX_DESCRIPTION_BYTES)?;
        let tx = self.write_tx()?;
        let changed = tx.execute(
            "UPDATE profiles SET description = ?2 WHERE id = ?1",
            params![id.as_str(), description],
        )?;
        if changed == 0 {
            return Err(StoreError::ProfileNotFound(id.to_string()));
        }
        audit(
            &tx,
            action::PROFILE_DESCRIBE,
            None,
            Some(id.as_str()),
            None,
            None,
            None,
            None,
            serde_json::json!({ "description": description }),
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn profile(&self, id: &ProfileId) -> Result<Option<Profile>> {
        self.conn
            .query_row(
                "SELECT id, description, generation, created_at FROM profiles WHERE id = ?1",
                [id.as_str()],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()?
            .map(|(id, description, generation, created_at)| {
                Ok(Profile {
                    id: profile_from_db(&id)?,
                    description,
                    generation: to_u64(generation, "generation")?,
                    created_at,
                })
            })
            .transpose()
    }

    /// All profiles, by id.
    pub fn profiles(&self) -> Result<Vec<Profile>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, description, generation, created_at FROM profiles ORDER BY id")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, description, generation, created_at) = row?;
            out.push(Profile {
                id: profile_from_db(&id)?,
                description,
                generation: to_u64(generation, "generation")?,
                created_at,
            });
        }
        Ok(out)
    }

    // ----- files -----

    /// Writes one file of a profile as a local edit. Returns the new generation, or the
    /// current one if the file already had this content and mode (no new version then).
    pub fn put_file(
        &mut self,
        profile: &ProfileId,
        path: &RelativePath,
        content: &[u8],
        mode: u32,
    ) -> Result<u64> {
        self.put_files(
            profile,
            &[FileEdit {
                path,
                content: Some(content),
                mode,
            }],
        )
    }

    /// Removes a file from a profile (a tombstone in the history; older versions stay).
    pub fn remove_file(&mut self, profile: &ProfileId, path: &RelativePath) -> Result<u64> {
        if self.current_file(profile, path)?.is_none() {
            return Err(StoreError::FileNotFound {
                profile: profile.to_string(),
                path: path.to_string(),
            });
        }
        self.put_files(
            profile,
            &[FileEdit {
                path,
                content: None,
                mode: 0o644,
            }],
        )
    }

    /// Applies several local edits to one profile as one generation, atomically.
    pub fn put_files(&mut self, profile: &ProfileId, edits: &[FileEdit<'_>]) -> Result<u64> {
        let tx = self.write_tx()?;
        let generation = apply_edits(&tx, profile, edits, None, action::FILE_EDIT)?;
        tx.commit()?;
        Ok(generation)
    }

    /// The current (present) files of a profile, by path.
    pub fn current_files(&self, profile: &ProfileId) -> Result<Vec<CurrentFile>> {
        current_files_in(&self.conn, profile)
    }

    pub fn current_file(
        &self,
        profile: &ProfileId,
        path: &RelativePath,
    ) -> Result<Option<CurrentFile>> {
        Ok(latest_version(&self.conn, profile, path)?.and_then(FileVersion::into_current))
    }

    /// Every version of one file, oldest first (tombstones included).
    pub fn file_history(
        &self,
        profile: &ProfileId,
        path: &RelativePath,
    ) -> Result<Vec<FileVersion>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FILE_VERSION_COLUMNS} FROM file_versions \
             WHERE profile = ?1 AND path = ?2 ORDER BY generation"
        ))?;
        let rows = stmt.query_map(
            params![profile.as_str(), path.as_str()],
            file_version_from_row,
        )?;
        rows.map(|r| r?.into_version()).collect()
    }

    /// The files of a profile as they were at `generation` (for store-side rollback).
    pub fn files_at_generation(
        &self,
        profile: &ProfileId,
        generation: u64,
    ) -> Result<Vec<CurrentFile>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FILE_VERSION_COLUMNS} FROM file_versions AS fv \
             WHERE profile = ?1 AND generation = (SELECT max(generation) FROM file_versions \
                 WHERE profile = fv.profile AND path = fv.path AND generation <= ?2) \
             ORDER BY path"
        ))?;
        let rows = stmt.query_map(
            params![profile.as_str(), to_i64(generation)?],
            file_version_from_row,
        )?;
        let mut out = Vec::new();
        for row in rows {
            if let Some(file) = row?.into_version()?.into_current() {
                out.push(file);
            }
        }
        Ok(out)
    }

    /// Store-side rollback: makes the profile's files what they were at `generation`, as a
    /// new generation (history is kept, so the revert itself can be reverted). Returns the
    /// new generation, or the current one if nothing differs.
    pub fn revert_to_generation(&mut self, profile: &ProfileId, generation: u64) -> Result<u64> {
        let target = self.files_at_generation(profile, generation)?;
        let tx = self.write_tx()?;
        let current_generation = {
            let g: i64 = tx
                .query_row(
                    "SELECT generation FROM profiles WHERE id = ?1",
                    [profile.as_str()],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::ProfileNotFound(profile.to_string()))?;
            to_u64(g, "generation")?
        };
        if generation > current_generation {
            return Err(StoreError::NoSuchGeneration {
                profile: profile.to_string(),
                generation,
                current: current_generation,
            });
        }
        let current = current_meta_in(&tx, profile)?;
        let wanted: std::collections::BTreeSet<&RelativePath> =
            target.iter().map(|f| &f.path).collect();
        let removed: Vec<&RelativePath> = current.keys().filter(|p| !wanted.contains(p)).collect();
        let mut edits: Vec<FileEdit<'_>> = target
            .iter()
            .map(|f| FileEdit {
                path: &f.path,
                content: Some(&f.bytes),
                mode: f.mode.bits(),
            })
            .collect();
        edits.extend(removed.into_iter().map(|path| FileEdit {
            path,
            content: None,
            mode: 0o644,
        }));
        let new_generation = apply_edits(&tx, profile, &edits, None, action::REVERT)?;
        audit(
            &tx,
            action::REVERT,
            None,
            Some(profile.as_str()),
            None,
            None,
            Some(new_generation),
            None,
            serde_json::json!({ "to_generation": generation }),
        )?;
        tx.commit()?;
        Ok(new_generation)
    }

    // ----- qubes -----

    /// The settings of a qube (defaults if it was never configured).
    pub fn qube_settings(&self, qube: &VmName) -> Result<QubeSettings> {
        qube_settings_in(&self.conn, qube)
    }

    /// Every configured qube, by name.
    pub fn qubes(&self) -> Result<Vec<QubeSettings>> {
        let names: Vec<String> = self
            .conn
            .prepare("SELECT name FROM qubes ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        names
            .iter()
            .map(|name| qube_settings_in(&self.conn, &qube_from_db(name)?))
            .collect()
    }

    /// Replaces a qube's settings as a whole.
    pub fn set_qube_settings(&mut self, settings: &QubeSettings) -> Result<()> {
        let qube = settings.qube.as_str();
        let tx = self.write_tx()?;
        for profile in settings.assigned.iter().chain(&settings.may_propose) {
            require_profile(&tx, profile)?;
        }
        ensure_qube(&tx, qube)?;
        tx.execute(
            "UPDATE qubes SET auto_apply = ?2 WHERE name = ?1",
            params![qube, settings.auto_apply],
        )?;
        tx.execute("DELETE FROM assignments WHERE qube = ?1", [qube])?;
        tx.execute("DELETE FROM propose_permissions WHERE qube = ?1", [qube])?;
        for profile in &settings.assigned {
            tx.execute(
                "INSERT OR IGNORE INTO assignments (qube, profile) VALUES (?1, ?2)",
                params![qube, profile.as_str()],
            )?;
        }
        for profile in &settings.may_propose {
            tx.execute(
                "INSERT OR IGNORE INTO propose_permissions (qube, profile) VALUES (?1, ?2)",
                params![qube, profile.as_str()],
            )?;
        }
        let ids =
            |list: &[ProfileId]| -> Vec<String> { list.iter().map(|p| p.to_string()).collect() };
        audit(
            &tx,
            action::SETTINGS,
            Some(qube),
            None,
            None,
            None,
            None,
            None,
            serde_json::json!({
                "assigned": ids(&settings.assigned),
                "may_propose": ids(&settings.may_propose),
                "auto_apply": settings.auto_apply,
            }),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Assigns a profile to a qube (keeps the other settings).
    pub fn assign(&mut self, qube: &VmName, profile: &ProfileId) -> Result<()> {
        let mut settings = self.qube_settings(qube)?;
        if !settings.assigned.contains(profile) {
            settings.assigned.push(profile.clone());
        }
        self.set_qube_settings(&settings)
    }

    /// Lets a qube propose changes to a profile (keeps the other settings).
    pub fn allow_proposals(&mut self, qube: &VmName, profile: &ProfileId) -> Result<()> {
        let mut settings = self.qube_settings(qube)?;
        if !settings.may_propose.contains(profile) {
            settings.may_propose.push(profile.clone());
        }
        self.set_qube_settings(&settings)
    }

    // ----- per qube × file state -----

    /// The pushed and seen state of every path we know in a qube.
    pub fn qube_file_states(&self, qube: &VmName) -> Result<Vec<QubeFileState>> {
        qube_file_states_in(&self.conn, qube)
    }

    /// Records what a snapshot saw in a qube.
    pub fn record_snapshot(
        &mut self,
        qube: &VmName,
        seen: &[(RelativePath, SeenState)],
    ) -> Result<()> {
        let tx = self.write_tx()?;
        ensure_qube(&tx, qube.as_str())?;
        let at = now();
        for (path, state) in seen {
            upsert_seen(&tx, qube.as_str(), path, state, at)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a completed push into `qube`: per file the pushed state (and, since we just
    /// wrote it, the seen state), plus one audit entry per file, atomically.
    pub fn record_push(
        &mut self,
        qube: &VmName,
        files: &[PushedFile],
        detail: serde_json::Value,
    ) -> Result<()> {
        self.record_written(qube, files, action::PUSH, detail)
    }

    /// Records a rollback into `qube` that restored `files` (same bookkeeping as a push).
    pub fn record_rollback(
        &mut self,
        qube: &VmName,
        files: &[PushedFile],
        detail: serde_json::Value,
    ) -> Result<()> {
        self.record_written(qube, files, action::ROLLBACK, detail)
    }

    fn record_written(
        &mut self,
        qube: &VmName,
        files: &[PushedFile],
        action_name: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let qube = qube.as_str();
        let tx = self.write_tx()?;
        ensure_qube(&tx, qube)?;
        let at = now();
        for file in files {
            let sha256 = check_hash(&file.sha256)?;
            require_profile(&tx, &file.profile)?;
            tx.execute(
                "INSERT INTO qube_files (qube, path, pushed_profile, pushed_sha256, pushed_mode, \
                     pushed_generation, pushed_at, seen_kind, seen_sha256, seen_mode, seen_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'file', ?4, ?5, ?7) \
                 ON CONFLICT (qube, path) DO UPDATE SET pushed_profile = ?3, pushed_sha256 = ?4, \
                     pushed_mode = ?5, pushed_generation = ?6, pushed_at = ?7, \
                     seen_kind = 'file', seen_sha256 = ?4, seen_mode = ?5, seen_detail = NULL, \
                     seen_at = ?7",
                params![
                    qube,
                    file.path.as_str(),
                    file.profile.as_str(),
                    sha256,
                    file.mode.bits(),
                    to_i64(file.generation)?,
                    at
                ],
            )?;
            audit(
                &tx,
                action_name,
                Some(qube),
                Some(file.profile.as_str()),
                Some(file.path.as_str()),
                None,
                Some(file.generation),
                Some(&sha256),
                serde_json::json!({ "mode": file.mode.to_string(), "job": detail }),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The planner's input for one qube: the current files of its assigned profiles, what
    /// we last pushed to each path (with that content, while the history has it), and the
    /// snapshot the backend just took.
    pub fn plan_input(
        &self,
        qube: &VmName,
        snapshot: std::collections::BTreeMap<RelativePath, crate::plan::Actual>,
    ) -> Result<crate::plan::QubeInput> {
        let settings = qube_settings_in(&self.conn, qube)?;
        self.plan_input_for(qube, &settings.assigned, snapshot)
    }

    /// [`Store::plan_input`] for the given profiles (the backend's effective assignment:
    /// single assignments and the assignment rules that cover the qube).
    pub fn plan_input_for(
        &self,
        qube: &VmName,
        profiles: &[ProfileId],
        snapshot: std::collections::BTreeMap<RelativePath, crate::plan::Actual>,
    ) -> Result<crate::plan::QubeInput> {
        let mut desired = Vec::new();
        for profile in profiles {
            let generation: i64 = self.conn.query_row(
                "SELECT generation FROM profiles WHERE id = ?1",
                [profile.as_str()],
                |r| r.get(0),
            )?;
            let generation = to_u64(generation, "generation")?;
            for file in current_files_in(&self.conn, profile)? {
                desired.push(crate::plan::DesiredFile {
                    profile: profile.clone(),
                    path: file.path,
                    content: file.bytes,
                    sha256: file.sha256,
                    mode: file.mode,
                    generation,
                });
            }
        }
        let mut last_pushed = std::collections::BTreeMap::new();
        for state in qube_file_states_in(&self.conn, qube)? {
            let Some(pushed) = state.pushed else {
                continue;
            };
            let content: Option<Vec<u8>> = self
                .conn
                .query_row(
                    "SELECT content FROM file_versions WHERE profile = ?1 AND path = ?2 \
                     AND sha256 = ?3 AND deleted = 0 ORDER BY generation DESC LIMIT 1",
                    params![pushed.profile.as_str(), state.path.as_str(), pushed.sha256],
                    |r| r.get(0),
                )
                .optional()?;
            last_pushed.insert(
                state.path,
                crate::plan::LastPushed {
                    sha256: pushed.sha256,
                    mode: pushed.mode,
                    generation: pushed.generation,
                    content,
                },
            );
        }
        Ok(crate::plan::QubeInput {
            qube: qube.clone(),
            desired,
            last_pushed,
            snapshot,
        })
    }

    // ----- proposals (intake: see `intake.rs`) -----

    pub fn proposal(&self, id: i64) -> Result<Option<Proposal>> {
        self.conn
            .query_row(
                "SELECT id, source_qube, profile, path, content, sha256, mode, base_sha256, note, \
                     received_at, status, decided_at, decision_note, accepted_version, batch \
                 FROM proposals WHERE id = ?1",
                [id],
                |row| {
                    Ok((
                        (
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, Vec<u8>>(4)?,
                            row.get::<_, String>(5)?,
                            row.get::<_, Option<i64>>(6)?,
                            row.get::<_, Option<String>>(7)?,
                        ),
                        (
                            row.get::<_, String>(8)?,
                            row.get::<_, i64>(9)?,
                            row.get::<_, String>(10)?,
                            row.get::<_, Option<i64>>(11)?,
                            row.get::<_, Option<String>>(12)?,
                            row.get::<_, Option<i64>>(13)?,
                            row.get::<_, i64>(14)?,
                        ),
                    ))
                },
            )
            .optional()?
            .map(
                |((id, qube, profile, path, content, sha256, mode, base), rest)| {
                    let (note, received_at, status, decided_at, decision_note, accepted, batch) =
                        rest;
                    Ok(Proposal {
                        id,
                        source_qube: qube_from_db(&qube)?,
                        profile: profile_from_db(&profile)?,
                        path: path_from_db(&path)?,
                        content,
                        sha256,
                        mode: mode.and_then(|m| u32::try_from(m).ok()),
                        base_sha256: base,
                        note,
                        received_at,
                        status: ProposalStatus::parse(&status)?,
                        batch,
                        decided_at,
                        decision_note,
                        accepted_version: accepted,
                    })
                },
            )
            .transpose()
    }

    /// Proposals (without content), newest first; `status` filters.
    pub fn proposals(&self, status: Option<ProposalStatus>) -> Result<Vec<ProposalSummary>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, source_qube, profile, path, length(content), sha256, received_at, status, \
                 batch FROM proposals WHERE ?1 IS NULL OR status = ?1 ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([status.map(ProposalStatus::as_str)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, i64>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, source_qube, profile, path, size, sha256, received_at, status, batch) = row?;
            out.push(ProposalSummary {
                id,
                source_qube: qube_from_db(&source_qube)?,
                profile: profile_from_db(&profile)?,
                path: path_from_db(&path)?,
                size: usize::try_from(size).unwrap_or(usize::MAX),
                sha256,
                received_at,
                status: ProposalStatus::parse(&status)?,
                batch,
            });
        }
        Ok(out)
    }

    /// Number of pending proposals.
    pub fn pending_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM proposals WHERE status = 'pending'",
            [],
            |r| r.get(0),
        )?;
        to_u64(n, "count")
    }

    /// Accepts a pending proposal: the new file version (provenance: this proposal), the
    /// proposal's status and the audit entry are written in one transaction. Returns the
    /// new file version.
    pub fn accept_proposal(&mut self, id: i64, acceptance: Acceptance<'_>) -> Result<FileVersion> {
        if let Some(content) = acceptance.content {
            check_size("accepted content", content.len(), MAX_FILE_BYTES)?;
        }
        check_size(
            "acknowledged findings",
            acceptance.review.acknowledged.len(),
            MAX_RECORDED_ACKNOWLEDGEMENTS,
        )?;
        if let Some(note) = acceptance.note {
            check_size("note", note.len(), MAX_NOTE_BYTES)?;
        }
        let tx = self.write_tx()?;
        require_pending(&tx, id)?;
        let (qube, profile, path, proposed, proposed_mode): (
            String,
            String,
            String,
            Vec<u8>,
            Option<i64>,
        ) = tx.query_row(
            "SELECT source_qube, profile, path, content, mode FROM proposals WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let qube = qube_from_db(&qube)?;
        let profile = profile_from_db(&profile)?;
        let path = path_from_db(&path)?;
        let current = latest_version(&tx, &profile, &path)?.and_then(FileVersion::into_current);
        let mode = match acceptance.mode {
            Some(mode) => validate_mode(mode)?,
            None => match current {
                Some(ref file) => file.mode,
                None => proposed_mode
                    .and_then(|m| u32::try_from(m).ok())
                    .and_then(|m| validate_mode(m).ok())
                    .unwrap_or(validate_mode(0o644)?),
            },
        };
        let content = acceptance.content.unwrap_or(&proposed);
        let edit = FileEdit {
            path: &path,
            content: Some(content),
            mode: mode.bits(),
        };
        let generation = apply_edits(
            &tx,
            &profile,
            &[edit],
            Some((qube.as_str(), id)),
            action::PROPOSAL_ACCEPTED,
        )?;
        let version = latest_version(&tx, &profile, &path)?
            .ok_or_else(|| StoreError::Corrupt(format!("accepted version of #{id} missing")))?;
        tx.execute(
            "UPDATE proposals SET status = 'accepted', decided_at = ?2, decision_note = ?3, \
                 accepted_version = ?4 WHERE id = ?1",
            params![id, now(), acceptance.note, version.id],
        )?;
        let sha = version.content.as_ref().map(|c| c.sha256.clone());
        let record = acceptance.review;
        audit(
            &tx,
            action::PROPOSAL_ACCEPTED,
            Some(qube.as_str()),
            Some(profile.as_str()),
            Some(path.as_str()),
            Some(id),
            Some(generation),
            sha.as_deref(),
            serde_json::json!({
                "version": version.id,
                "partial": acceptance.content.is_some(),
                "note": acceptance.note,
                "digest": bounded_record(record.digest),
                "acknowledged": record
                    .acknowledged
                    .iter()
                    .map(|id| bounded_record(id))
                    .collect::<Vec<_>>(),
                "by": bounded_record(record.by),
            }),
        )?;
        tx.commit()?;
        Ok(version)
    }

    /// Rejects a pending proposal (kept for the record), with the audit entry.
    pub fn reject_proposal(&mut self, id: i64, note: &str) -> Result<()> {
        check_size("note", note.len(), MAX_NOTE_BYTES)?;
        let tx = self.write_tx()?;
        require_pending(&tx, id)?;
        let (qube, profile, path): (String, String, String) = tx.query_row(
            "SELECT source_qube, profile, path FROM proposals WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let (qube, profile, path) = (
            qube_from_db(&qube)?,
            profile_from_db(&profile)?,
            path_from_db(&path)?,
        );
        tx.execute(
            "UPDATE proposals SET status = 'rejected', decided_at = ?2, decision_note = ?3 \
             WHERE id = ?1",
            params![id, now(), note],
        )?;
        audit(
            &tx,
            action::PROPOSAL_REJECTED,
            Some(qube.as_str()),
            Some(profile.as_str()),
            Some(path.as_str()),
            Some(id),
            None,
            None,
            serde_json::json!({ "note": note }),
        )?;
        tx.commit()?;
        Ok(())
    }

    // ----- audit -----

    /// Audit entries with id > `after`, oldest first, at most `limit`.
    pub fn audit_log(&self, after: i64, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, action, qube, profile, path, proposal_id, generation, sha256, detail \
             FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![after, limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<i64>>(6)?,
                row.get::<_, Option<i64>>(7)?,
                row.get::<_, Option<String>>(8)?,
                row.get::<_, String>(9)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, action, qube, profile, path, proposal_id, generation, sha256, detail) =
                row?;
            out.push(AuditEntry {
                id,
                at,
                action,
                qube,
                profile,
                path,
                proposal_id,
                generation: generation.map(|g| to_u64(g, "generation")).transpose()?,
                sha256,
                detail: serde_json::from_str(&detail)
                    .map_err(|e| StoreError::Corrupt(format!("audit detail of {id}: {e}")))?,
            });
        }
        Ok(out)
    }

    // ----- consistency -----

    /// Checks the database and the store's cross-table invariants. Returns the problems
    /// found (empty when all is well). Used after a crash and by tests.
    pub fn verify(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let integrity: Vec<String> = self
            .conn
            .prepare("PRAGMA integrity_check")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if integrity != ["ok"] {
            problems.extend(integrity.into_iter().map(|m| format!("integrity: {m}")));
        }
        let fk: i64 =
            self.conn
                .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
        if fk != 0 {
            problems.push(format!("{fk} foreign key violations"));
        }
        let checks: &[(&str, &str)] = &[
            (
                "accepted proposal without exactly its own file version",
                "SELECT p.id FROM proposals p WHERE p.status = 'accepted' AND \
                 (SELECT count(*) FROM file_versions v WHERE v.proposal_id = p.id) != 1 \
                 OR (p.status = 'accepted' AND NOT EXISTS (SELECT 1 FROM file_versions v \
                     WHERE v.id = p.accepted_version AND v.proposal_id = p.id))",
            ),
            (
                "undecided proposal with a file version",
                "SELECT p.id FROM proposals p WHERE p.status != 'accepted' AND \
                 EXISTS (SELECT 1 FROM file_versions v WHERE v.proposal_id = p.id)",
            ),
            (
                "accepted proposal without exactly one audit entry",
                "SELECT p.id FROM proposals p WHERE p.status = 'accepted' AND \
                 (SELECT count(*) FROM audit_log a WHERE a.action = 'proposal-accepted' \
                  AND a.proposal_id = p.id) != 1",
            ),
            (
                "rejected proposal without exactly one audit entry",
                "SELECT p.id FROM proposals p WHERE p.status = 'rejected' AND \
                 (SELECT count(*) FROM audit_log a WHERE a.action = 'proposal-rejected' \
                  AND a.proposal_id = p.id) != 1",
            ),
            (
                "proposal without its intake audit entry",
                "SELECT p.id FROM proposals p WHERE NOT EXISTS (SELECT 1 FROM audit_log a \
                 WHERE a.action = 'proposal-received' AND a.proposal_id = p.id)",
            ),
            (
                "pushed state that disagrees with the last push audit entry",
                "SELECT rowid FROM qube_files q WHERE q.pushed_sha256 IS NOT NULL AND \
                 coalesce((SELECT a.sha256 || ':' || a.generation FROM audit_log a \
                  WHERE a.qube = q.qube AND a.path = q.path AND a.action IN ('push', 'rollback') \
                  ORDER BY a.id DESC LIMIT 1), '') != q.pushed_sha256 || ':' || q.pushed_generation",
            ),
            (
                "profile generation behind its file versions",
                "SELECT rowid FROM profiles p WHERE p.generation < \
                 coalesce((SELECT max(generation) FROM file_versions v WHERE v.profile = p.id), 0)",
            ),
        ];
        for (what, sql) in checks {
            let ids: Vec<i64> = self
                .conn
                .prepare(sql)?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if !ids.is_empty() {
                problems.push(format!("{what}: {ids:?}"));
            }
        }
        // Hashes are checked in Rust (SQLite has no sha256).
        let mut stmt = self
            .conn
            .prepare("SELECT id, content, sha256 FROM file_versions WHERE deleted = 0")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (id, content, sha) = row?;
            if sha256_hex(&content) != sha {
                problems.push(format!("file version {id}: sha256 does not match content"));
            }
        }
        Ok(problems)
    }

    /// Exports profiles (all when `profiles` is empty) as `<dir>/<profile>/<path>` plus
    /// `<dir>/manifest.toml`. `dir` must not exist or be empty.
    pub fn export_profiles(&mut self, dir: &Path, profiles: &[ProfileId]) -> Result<ExportSummary> {
        exchange::export(self, dir, profiles)
    }

    /// Imports a directory written by [`Store::export_profiles`]: every path and mode is
    /// validated, symlinks and special files are refused, hashes are checked, and files not
    /// in the manifest are refused. Each imported profile is set to exactly the imported
    /// files (as a new generation; history is kept). All or nothing.
    pub fn import_profiles(&mut self, dir: &Path) -> Result<ImportSummary> {
        exchange::import(self, dir)
    }
}

/// Creates the database file readable by its owner only (SQLite gives the `-wal` and `-shm`
/// files the same mode). An existing file is left as it is.
fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn require_profile(tx: &Connection, profile: &ProfileId) -> Result<()> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM profiles WHERE id = ?1)",
        [profile.as_str()],
        |r| r.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::ProfileNotFound(profile.to_string()))
    }
}

fn require_pending(tx: &Connection, id: i64) -> Result<()> {
    let status: Option<String> = tx
        .query_row("SELECT status FROM proposals WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    match status {
        None => Err(StoreError::ProposalNotFound(id)),
        Some(status) => match ProposalStatus::parse(&status)? {
            ProposalStatus::Pending => Ok(()),
            status => Err(StoreError::ProposalNotPending { id, status }),
        },
    }
}

fn ensure_qube(tx: &Connection, qube: &str) -> Result<()> {
    tx.execute("INSERT OR IGNORE INTO qubes (name) VALUES (?1)", [qube])?;
    Ok(())
}

fn latest_version(
    conn: &Connection,
    profile: &ProfileId,
    path: &RelativePath,
) -> Result<Option<FileVersion>> {
    conn.query_row(
        &format!(
            "SELECT {FILE_VERSION_COLUMNS} FROM file_versions WHERE profile = ?1 AND path = ?2 \
             ORDER BY generation DESC LIMIT 1"
        ),
        params![profile.as_str(), path.as_str()],
        file_version_from_row,
    )
    .optional()?
    .map(RawVersion::into_version)
    .transpose()
}

fn current_files_in(conn: &Connection, profile: &ProfileId) -> Result<Vec<CurrentFile>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {FILE_VERSION_COLUMNS} FROM file_versions AS fv \
         WHERE profile = ?1 AND deleted = 0 AND generation = (SELECT max(generation) \
             FROM file_versions WHERE profile = fv.profile AND path = fv.path) \
         ORDER BY path"
    ))?;
    let rows = stmt.query_map([profile.as_str()], file_version_from_row)?;
    let mut out = Vec::new();
    for row in rows {
        if let Some(file) = row?.into_version()?.into_current() {
            out.push(file);
        }
    }
    Ok(out)
}

/// Path → (sha256, mode) of the current files of a profile, without their contents.
fn current_meta_in(
    conn: &Connection,
    profile: &ProfileId,
) -> Result<std::collections::BTreeMap<RelativePath, (String, FileMode)>> {
    let mut stmt = conn.prepare(
        "SELECT path, sha256, mode FROM file_versions AS fv \
         WHERE profile = ?1 AND deleted = 0 AND generation = (SELECT max(generation) \
             FROM file_versions WHERE profile = fv.profile AND path = fv.path)",
    )?;
    let rows = stmt.query_map([profile.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = std::collections::BTreeMap::new();
    for row in rows {
        let (path, sha256, mode) = row?;
        out.insert(path_from_db(&path)?, (sha256, mode_from_db(mode)?));
    }
    Ok(out)
}

fn qube_settings_in(conn: &Connection, qube: &VmName) -> Result<QubeSettings> {
    let auto_apply: bool = conn
        .query_row(
            "SELECT auto_apply FROM qubes WHERE name = ?1",
            [qube.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    let list = |table: &str| -> Result<Vec<ProfileId>> {
        let ids: Vec<String> = conn
            .prepare(&format!(
                "SELECT profile FROM {table} WHERE qube = ?1 ORDER BY profile"
            ))?
            .query_map([qube.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.iter().map(|id| profile_from_db(id)).collect()
    };
    Ok(QubeSettings {
        qube: qube.clone(),
        assigned: list("assignments")?,
        may_propose: list("propose_permissions")?,
        auto_apply,
    })
}

fn qube_file_states_in(conn: &Connection, qube: &VmName) -> Result<Vec<QubeFileState>> {
    let mut stmt = conn.prepare(
        "SELECT path, pushed_profile, pushed_sha256, pushed_mode, pushed_generation, pushed_at, \
             seen_kind, seen_sha256, seen_mode, seen_detail, seen_at \
         FROM qube_files WHERE qube = ?1 ORDER BY path",
    )?;
    let rows = stmt.query_map([qube.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, Option<i64>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, Option<String>>(7)?,
            r.get::<_, Option<i64>>(8)?,
            r.get::<_, Option<String>>(9)?,
            r.get::<_, Option<i64>>(10)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (path, p_profile, p_sha, p_mode, p_gen, p_at, s_kind, s_sha, s_mode, s_detail, s_at) =
            row?;
        let pushed = match (p_profile, p_sha, p_mode, p_gen, p_at) {
            (Some(profile), Some(sha256), Some(mode), Some(generation), Some(at)) => {
                Some(PushedState {
                    profile: profile_from_db(&profile)?,
                    sha256,
                    mode: mode_from_db(mode)?,
                    generation: to_u64(generation, "generation")?,
                    at,
                })
            }
            _ => None,
        };
        let seen = match (s_kind.as_deref(), s_at) {
            (Some("absent"), Some(at)) => Some((SeenState::Absent, at)),
            (Some("file"), Some(at)) => Some((
                SeenState::Regular {
                    sha256: s_sha.unwrap_or_default(),
                    mode: s_mode.and_then(|m| u32::try_from(m).ok()).unwrap_or(0),
                },
                at,
            )),
            (Some("other"), Some(at)) => Some((
                SeenState::Other {
                    kind: s_detail.unwrap_or_default(),
                },
                at,
            )),
            _ => None,
        };
        out.push(QubeFileState {
            qube: qube.clone(),
            path: path_from_db(&path)?,
            pushed,
            seen,
        });
    }
    Ok(out)
}

fn upsert_seen(
    tx: &Connection,
    qube: &str,
    path: &RelativePath,
    state: &SeenState,
    at: i64,
) -> Result<()> {
    let (kind, sha, mode, detail): (&str, Option<String>, Option<u32>, Option<&str>) = match state {
        SeenState::Absent => ("absent", None, None, None),
        SeenState::Regular { sha256, mode } => {
            ("file", Some(check_hash(sha256)?), Some(mode & 0o7777), None)
        }
        SeenState::Other { kind } => ("other", None, None, Some(kind.as_str())),
    };
    let detail = detail.map(truncated);
    tx.execute(
        "INSERT INTO qube_files (qube, path, seen_kind, seen_sha256, seen_mode, seen_detail, seen_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (qube, path) DO UPDATE SET seen_kind = ?3, seen_sha256 = ?4, seen_mode = ?5, \
             seen_detail = ?6, seen_at = ?7",
        params![qube, path.as_str(), kind, sha, mode, detail, at],
    )?;
    Ok(())
}

/// Writes `edits` to `profile` as one new generation inside `tx`, with one audit entry per
/// changed file (unless `accepted_from` is set: the caller audits the acceptance). Edits
/// that change nothing are skipped; if none changes anything the generation stays.
fn apply_edits(
    tx: &Transaction<'_>,
    profile: &ProfileId,
    edits: &[FileEdit<'_>],
    accepted_from: Option<(&str, i64)>,
    action_name: &str,
) -> Result<u64> {
    require_profile(tx, profile)?;
    let current_generation: i64 = tx.query_row(
        "SELECT generation FROM profiles WHERE id = ?1",
        [profile.as_str()],
        |r| r.get(0),
    )?;
    let mut current = current_meta_in(tx, profile)?;
    // Validate everything first, so a bad edit changes nothing.
    let mut checked = Vec::with_capacity(edits.len());
    let mut seen_paths = std::collections::BTreeSet::new();
    for edit in edits {
        // Removing a never-sync file that got in somehow must stay possible.
        let path = edit.path;
        if edit.content.is_some() {
            check_syncable_path(path)?;
        }
        if !seen_paths.insert(path) {
            return Err(StoreError::DuplicatePath(path.to_string()));
        }
        let content = match edit.content {
            Some(bytes) => {
                check_size("file", bytes.len(), MAX_FILE_BYTES)?;
                Some((bytes, validate_mode(edit.mode)?))
            }
            None => None,
        };
        checked.push((path, content));
    }
    let generation = current_generation + 1;
    let mut changed = false;
    let at = now();
    for (path, content) in checked {
        let before = current.get(path);
        let (sha, mode) = match content {
            Some((bytes, mode)) => {
                let sha = sha256_hex(bytes);
                if accepted_from.is_none() && before.is_some_and(|(s, m)| *s == sha && *m == mode) {
                    continue;
                }
                (Some(sha), Some(mode))
            }
            None => {
                if before.is_none() {
                    continue;
                }
                (None, None)
            }
        };
        let (provenance, proposal_id, source_qube) = match accepted_from {
            Some((qube, id)) => ("proposal", Some(id), Some(qube)),
            None => ("local", None, None),
        };
        tx.execute(
            "INSERT INTO file_versions (profile, path, generation, deleted, content, sha256, mode, \
                 provenance, proposal_id, source_qube, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                profile.as_str(),
                path.as_str(),
                generation,
                content.is_none(),
                content.map(|(bytes, _)| bytes),
                sha,
                mode.map(FileMode::bits),
                provenance,
                proposal_id,
                source_qube,
                at
            ],
        )?;
        changed = true;
        if accepted_from.is_none() {
            let name = if content.is_some() {
                action_name
            } else {
                action::FILE_REMOVE
            };
            audit(
                tx,
                name,
                None,
                Some(profile.as_str()),
                Some(path.as_str()),
                None,
                Some(to_u64(generation, "generation")?),
                sha.as_deref(),
                serde_json::json!({ "mode": mode.map(|m| m.to_string()) }),
            )?;
        }
        match content {
            Some((bytes, mode)) => {
                current.insert(path.clone(), (sha256_hex(bytes), mode));
            }
            None => {
                current.remove(path);
            }
        }
    }
    if current.len() > MAX_FILES {
        return Err(StoreError::TooManyFiles(profile.to_string()));
    }
    if !changed {
        return to_u64(current_generation, "generation");
    }
    tx.execute(
        "UPDATE profiles SET generation = ?2 WHERE id = ?1",
        params![profile.as_str(), generation],
    )?;
    to_u64(generation, "generation")
}
