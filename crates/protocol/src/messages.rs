//! The request and reply of each service. Replies are a [`ServiceReply`]: either the
//! service's answer or a [`Refusal`] of the whole request.
//!
//! | service | request | answer |
//! |---|---|---|
//! | `qubes.ConfigApply+P` | [`ApplyRequest`] | [`ApplyReply`] |
//! | `qubes.ConfigSnapshot+P` | [`SnapshotRequest`] | [`SnapshotReply`] |
//! | `qubes.ConfigRollback+P` | [`RollbackRequest`] | [`RollbackReply`] |
//! | `qubes.ConfigPropose+P` | [`ProposeRequest`] | [`ProposeAccepted`] |

use serde::{Deserialize, Serialize};

use crate::wire::bounded_list;
pub use crate::wire::{BackupId, Content, Note, ProposalId, Version};
use crate::{FileMode, ObservedMode, ProfileId, RelativePath, Sha256Hex, VmName};

/// The qrexec service names, without the `+PROFILE` argument.
pub mod service {
    pub const APPLY: &str = "qubes.ConfigApply";
    pub const SNAPSHOT: &str = "qubes.ConfigSnapshot";
    pub const ROLLBACK: &str = "qubes.ConfigRollback";
    pub const PROPOSE: &str = "qubes.ConfigPropose";
}

/// What the agent does when the file on disk is not what the config qube last wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WritePolicy {
    /// Report a conflict and leave the file alone (invariant 4).
    #[default]
    IfUnchanged,
    /// The user chose, in the push review, to overwrite local changes.
    Overwrite,
}

// ----- qubes.ConfigApply -----

/// Writes the files of one profile below the service user's home, and removes those
/// that left the profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    pub version: Version,
    /// Must equal the qrexec argument (which dom0 policy checked).
    pub profile: ProfileId,
    #[serde(deserialize_with = "bounded_list")]
    pub files: Vec<ApplyFile>,
    /// Files removed from the profile. Left out of the JSON when empty, so a push without
    /// removals reaches an agent that predates them; an agent that predates them refuses
    /// a request that has some (unknown field), so nothing is half done.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "bounded_list"
    )]
    pub removals: Vec<ApplyRemoval>,
}

/// One file to remove: only if it is a regular file with exactly `base_sha256` (what the
/// config qube last wrote there, or what the user saw and chose to remove anyway); its
/// previous version is kept in the apply's backup. Its reply entry is in
/// [`ApplyReply::files`], like a written file's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRemoval {
    pub path: RelativePath,
    pub base_sha256: Sha256Hex,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyFile {
    pub path: RelativePath,
    pub mode: FileMode,
    pub content: Content,
    /// SHA-256 of `content`; a mismatch refuses the file.
    pub sha256: Sha256Hex,
    /// What the config qube last wrote there; `None`: it never wrote this file, so
    /// any existing file with other content is a conflict.
    #[serde(default)]
    pub base_sha256: Option<Sha256Hex>,
    #[serde(default)]
    pub write_policy: WritePolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyReply {
    pub version: Version,
    /// The backup holding the previous versions of every file this call replaced (and
    /// the list of files it created); `None` if nothing was written.
    pub backup_id: Option<BackupId>,
    #[serde(deserialize_with = "bounded_list")]
    pub files: Vec<FileResult>,
}

/// The outcome for one path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileResult {
    pub path: RelativePath,
    pub outcome: FileOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FileOutcome {
    /// The file now has the requested content and mode.
    Written {
        sha256: Sha256Hex,
        mode: FileMode,
        /// Written in place because the target is a mount point (a custom-persist
        /// `file:` bind mount) that cannot be renamed over.
        in_place: bool,
        /// A previous version existed and is kept in the backup.
        backed_up: bool,
    },
    /// Content and mode were already as requested; nothing was touched.
    Unchanged { sha256: Sha256Hex },
    /// The file was removed (a removal of an apply, or the rollback of a file an apply
    /// had created), or was not there any more.
    Removed,
    /// The file differs from the base; `current_sha256` is `None` if it is missing.
    Conflict { current_sha256: Option<Sha256Hex> },
    /// Not touched, for `reason`.
    Refused { reason: FileRefusal, detail: String },
}

/// Why one file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileRefusal {
    /// A path component or the target is a symlink.
    Symlink,
    Fifo,
    Socket,
    Device,
    /// A directory where a file is wanted.
    Directory,
    /// A non-directory where a parent directory is wanted.
    NotADirectory,
    /// The target has more than one hard link.
    Hardlink,
    /// The path resolved outside the home directory.
    OutsideHome,
    /// The content does not match the given sha256.
    HashMismatch,
    /// The same path appears twice in the request.
    DuplicatePath,
    /// The file changed between the check and the write; nothing was replaced.
    Raced,
    /// A backup id or backup entry is unknown or damaged.
    UnknownBackup,
    /// The file does not exist (snapshot) or could not be read.
    Missing,
    /// The path is on the agent's own never-sync list (private keys, credentials,
    /// VCS internals, the agent's state): never written, read or restored, whatever
    /// the request says.
    NeverSync,
    /// An I/O error; `detail` says which.
    Io,
}

// ----- qubes.ConfigSnapshot -----

/// Reports the current state of the given paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRequest {
    pub version: Version,
    pub profile: ProfileId,
    #[serde(deserialize_with = "bounded_list")]
    pub paths: Vec<RelativePath>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotReply {
    pub version: Version,
    #[serde(deserialize_with = "bounded_list")]
    pub entries: Vec<SnapshotEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotEntry {
    pub path: RelativePath,
    pub state: PathState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PathState {
    Missing,
    File {
        mode: ObservedMode,
        size: u64,
        sha256: Sha256Hex,
        /// More than one hard link: reported, and never written by apply.
        hardlinked: bool,
        /// `None` if the reply's content budget was used up (see
        /// [`crate::limits::MAX_SNAPSHOT_CONTENT_BYTES`]).
        content: Option<Content>,
    },
    Directory {
        mode: ObservedMode,
    },
    Symlink,
    Fifo,
    Socket,
    Device,
    /// Could not be inspected safely (e.g. a symlink in a parent component).
    Refused {
        reason: FileRefusal,
        detail: String,
    },
}

// ----- qubes.ConfigRollback -----

/// Restores the files saved in the given backups, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub version: Version,
    pub profile: ProfileId,
    #[serde(deserialize_with = "bounded_list")]
    pub backup_ids: Vec<BackupId>,
    /// With `IfUnchanged`, a file that changed since the backed-up apply wrote it is a
    /// conflict.
    #[serde(default)]
    pub write_policy: WritePolicy,
    /// Only report what the rollback would do (`written` / `removed` / `unchanged` /
    /// `conflict` / `refused` per file), change nothing and make no backup. Left out of
    /// the JSON when false, so a real rollback reaches an agent that predates it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackReply {
    pub version: Version,
    /// The backups of what this rollback replaced (one per restored backup that
    /// changed anything), so it can be undone in turn.
    #[serde(deserialize_with = "bounded_list")]
    pub backup_ids: Vec<BackupId>,
    #[serde(deserialize_with = "bounded_list")]
    pub files: Vec<RollbackResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackResult {
    pub backup_id: BackupId,
    /// `None` when the backup id itself was refused.
    pub path: Option<RelativePath>,
    pub outcome: FileOutcome,
}

// ----- qubes.ConfigPropose -----

/// Files of one profile proposed by a user inside a managed qube.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    pub version: Version,
    /// Must equal the qrexec argument.
    pub profile: ProfileId,
    #[serde(deserialize_with = "bounded_list")]
    pub files: Vec<ProposedFile>,
    #[serde(default)]
    pub note: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposedFile {
    pub path: RelativePath,
    /// The mode the file has in the qube (any value; the review decides).
    pub mode: ObservedMode,
    pub content: Content,
    pub sha256: Sha256Hex,
    /// The hash of the version the qube last received, if it knows it.
    #[serde(default)]
    pub base_sha256: Option<Sha256Hex>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeAccepted {
    pub version: Version,
    /// Chosen by the receiver.
    pub proposal_id: ProposalId,
}

/// A proposal as the qubes.ConfigPropose service stores it in the spool, one file per
/// proposal: the validated request plus what the receiver knows (never what the
/// sender claims). The backend parses it with [`crate::parse_message`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpooledProposal {
    pub version: Version,
    pub proposal_id: ProposalId,
    /// From `QREXEC_REMOTE_DOMAIN` (set by dom0).
    pub source_qube: VmName,
    /// The qrexec argument, which dom0 policy checked.
    pub profile: ProfileId,
    pub received_unix: u64,
    pub request: ProposeRequest,
}

// ----- replies -----

/// What every service writes to stdout: its answer, or a refusal of the whole
/// request. `{"ok": {...}}` or `{"refused": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum ServiceReply<T> {
    Ok(T),
    Refused(Refusal),
}

/// A request refused as a whole; nothing was changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    pub version: Version,
    pub code: RefusalCode,
    /// Human-readable; for logs and the UI, never parsed.
    pub message: String,
}

impl Refusal {
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        // Bounded so a refusal never grows with hostile input that it quotes.
        let mut message: String = message.into();
        if message.len() > 1024 {
            let mut cut = 1024;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        Refusal {
            version: Version,
            code,
            message,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalCode {
    TooLarge,
    TooDeep,
    InvalidUtf8,
    Truncated,
    InvalidJson,
    Schema,
    UnsupportedVersion,
    InvalidPath,
    ModeNotAllowed,
    InvalidProfile,
    TooManyFiles,
    FileTooLarge,
    /// The body names another profile than the qrexec argument.
    ProfileMismatch,
    /// The qrexec environment (argument, source qube, home) is missing or invalid.
    BadEnvironment,
    /// The same path appears twice.
    DuplicatePath,
    /// A file's content does not match its sha256.
    HashMismatch,
    /// The request carries no file.
    Empty,
    /// The sender's spool quota (count or bytes) is used up.
    QuotaExceeded,
    /// The sender is not allowed to do this.
    NotAllowed,
    /// Storage failed on the receiving side; nothing was kept.
    Io,
    Internal,
}
