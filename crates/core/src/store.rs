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
//!
//! This file holds the type, opening and the write transaction; each concern is one file
//! under `store/`: `profiles` (profiles and file history), `qubes` (settings and the per
//! qube × file state), `intake` and `proposals` (the quarantine), `variables` and `rules`
//! (templates, variables, assignment rules), `history` (generations), `exchange`
//! (export/import), `audit`, `verify`, `schema` (migrations), `check` (boundary parsing)
//! and `error`.

mod audit;
mod check;
mod error;
mod exchange;
mod history;
mod intake;
mod profiles;
mod proposals;
mod qubes;
mod rules;
mod schema;
mod variables;
mod verify;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use audit::{AuditEntry, action};
pub use error::{Result, StoreError};
pub use exchange::{ExportSummary, ImportSet, ImportSummary, MANIFEST_FILE_NAME, read_import};
pub use history::{FileChange, Generation, GenerationAuthor, RemovedInQube};
pub use intake::{
    BatchOutcome, IntakeRefusal, MAX_GLOB_BYTES, MAX_NEW_PATH_GLOBS, REFUSAL_WINDOW_SECS, refusal,
    validate_new_path_glob,
};
pub use profiles::{CurrentFile, FileContent, FileEdit, FileVersion, Profile, Provenance};
pub use proposals::{
    Acceptance, MAX_RECORDED_ACKNOWLEDGEMENTS, NewProposal, Proposal, ProposalStatus,
    ProposalSummary, ReviewRecord,
};
pub use qubes::{PushedFile, PushedState, QubeFileState, QubeSettings, SeenState};
pub use rules::{
    AssignmentRule, MAX_ASSIGNMENT_RULES, MAX_RULE_VALUE_BYTES, QubeFacts, RULE_CLASSES, RuleKind,
    matching_rules, rule_matches, rule_text, validate_rule_value,
};
pub use schema::{APPLICATION_ID, MIGRATIONS, latest_version as latest_schema_version};
pub use variables::{MAX_VARIABLES_PER_SCOPE, TemplateRefusal, VariableEntry, VariableScope};

use audit::{audit, bounded_record};
pub(crate) use check::now;
use check::{
    check_hash, check_path, check_profile, check_size, check_syncable_path, mode_from_db,
    path_from_db, profile_from_db, qube_from_db, to_i64, to_u64, truncated,
};
use profiles::{apply_edits, current_files_in, latest_version, require_profile};
use qubes::{ensure_qube, qube_settings_in};

/// Most pending proposals one qube may have in quarantine; more are refused at intake, so a
/// flood from one qube cannot grow the store without bound.
pub const MAX_PENDING_PROPOSALS_PER_QUBE: usize = 256;
/// Longest profile description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;

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
