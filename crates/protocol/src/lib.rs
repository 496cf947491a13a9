//! The JSON messages between the config qube and the in-VM agent
//! (`qubes.ConfigApply`, `qubes.ConfigSnapshot`, `qubes.ConfigRollback`,
//! `qubes.ConfigPropose`), with their limits and validation.
//!
//! It must not touch the file system or the network: both ends parse with it, so it
//! stays small enough for the agent.
//!
//! Every message read from a peer goes through [`read_request`] / [`read_reply`]
//! (or [`parse_message`]): the size cap is enforced before parsing, the JSON nesting
//! depth by a byte scan before serde sees the bytes, and file count, per-file size,
//! path, mode, hash and profile-id rules while deserializing. Unknown fields are
//! rejected everywhere.

pub mod limits;
#[cfg(feature = "test-literals")]
pub mod literal;
pub mod messages;
pub mod mode;
pub mod path;
pub mod profile;
pub mod vm_name;

mod hash;
mod wire;

use std::cell::RefCell;
use std::io::Read;

pub use hash::{HashError, Sha256Hex, sha256_hex};
pub use messages::*;
pub use mode::{FileMode, ModeError, ObservedMode};
pub use path::{PathError, RelativePath};
pub use profile::{ProfileId, ProfileIdError};
pub use vm_name::{VmName, VmNameError, validate_vm_name};

use limits::{MAX_DEPTH, MAX_REQUEST_BYTES};

/// The protocol version this crate speaks; every message carries it.
pub const PROTOCOL_VERSION: u32 = 1;

/// A rule of the protocol broken by a field of a message (as opposed to a JSON
/// syntax or shape error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("invalid path: {0}")]
    Path(PathError),
    #[error("invalid mode: {0}")]
    Mode(ModeError),
    #[error("invalid profile id: {0}")]
    ProfileId(ProfileIdError),
    #[error("invalid sha256")]
    Hash,
    #[error("more than {limit} entries")]
    TooManyFiles { limit: usize },
    #[error("file content of {size} bytes or more exceeds the limit of {limit}")]
    FileTooLarge { size: usize, limit: usize },
    #[error("content is not valid base64")]
    BadBase64,
    #[error("note of {size} bytes exceeds the limit of {limit}")]
    NoteTooLong { size: usize, limit: usize },
    #[error("invalid backup id")]
    BackupId,
    #[error("invalid proposal id")]
    ProposalId,
    #[error("invalid qube name: {0}")]
    VmName(VmNameError),
    #[error("unsupported protocol version {got} (this side speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion { got: u64 },
}

thread_local! {
    // The deserializers of validated types record the violation here before turning it
    // into an opaque serde error, so the reader can report the exact rule that failed.
    static LAST_VIOLATION: RefCell<Option<Violation>> = const { RefCell::new(None) };
}

/// Records `v` for the reader and returns it as a serde error.
pub(crate) fn violation<E: serde::de::Error>(v: Violation) -> E {
    let message = v.to_string();
    LAST_VIOLATION.with(|slot| *slot.borrow_mut() = Some(v));
    E::custom(message)
}

/// Why a message was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("message exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("message nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("message is not valid UTF-8")]
    InvalidUtf8,
    #[error("message is truncated: {0}")]
    Truncated(String),
    #[error("message is not valid JSON: {0}")]
    Syntax(String),
    #[error("message does not match the schema: {0}")]
    Schema(String),
    #[error("{0}")]
    Violation(Violation),
    #[error("reading the message failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ProtocolError {
    /// The refusal code sent back to the peer for this error.
    pub fn refusal_code(&self) -> RefusalCode {
        match self {
            ProtocolError::TooLarge { .. } => RefusalCode::TooLarge,
            ProtocolError::TooDeep { .. } => RefusalCode::TooDeep,
            ProtocolError::InvalidUtf8 => RefusalCode::InvalidUtf8,
            ProtocolError::Truncated(_) => RefusalCode::Truncated,
            ProtocolError::Syntax(_) => RefusalCode::InvalidJson,
            ProtocolError::Schema(_) => RefusalCode::Schema,
            ProtocolError::Io(_) => RefusalCode::Io,
            ProtocolError::Violation(v) => match v {
                Violation::Path(_) => RefusalCode::InvalidPath,
                Violation::Mode(_) => RefusalCode::ModeNotAllowed,
                Violation::ProfileId(_) => RefusalCode::InvalidProfile,
                Violation::Hash => RefusalCode::Schema,
                Violation::TooManyFiles { .. } => RefusalCode::TooManyFiles,
                Violation::FileTooLarge { .. } => RefusalCode::FileTooLarge,
                Violation::BadBase64 => RefusalCode::Schema,
                Violation::NoteTooLong { .. } => RefusalCode::TooLarge,
                Violation::BackupId | Violation::ProposalId | Violation::VmName(_) => {
                    RefusalCode::Schema
                }
                Violation::UnsupportedVersion { .. } => RefusalCode::UnsupportedVersion,
            },
        }
    }

    /// A refusal message for the peer, carrying the code and this error's text.
    pub fn to_refusal(&self) -> Refusal {
        Refusal::new(self.refusal_code(), self.to_string())
    }
}

/// Fails if JSON arrays/objects in `bytes` nest deeper than `max_depth`. A cheap
/// byte scan that skips string contents, run before serde so a hostile message
/// cannot make any parser recurse deeply.
pub fn check_depth(bytes: &[u8], max_depth: usize) -> Result<(), ProtocolError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(ProtocolError::TooDeep { limit: max_depth });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses one complete message held in memory, applying every limit.
pub fn parse_message<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(ProtocolError::TooLarge {
            limit: MAX_REQUEST_BYTES,
        });
    }
    check_depth(bytes, MAX_DEPTH)?;
    if std::str::from_utf8(bytes).is_err() {
        return Err(ProtocolError::InvalidUtf8);
    }
    LAST_VIOLATION.with(|slot| slot.borrow_mut().take());
    serde_json::from_slice(bytes).map_err(|error| {
        if let Some(v) = LAST_VIOLATION.with(|slot| slot.borrow_mut().take()) {
            return ProtocolError::Violation(v);
        }
        match error.classify() {
            serde_json::error::Category::Eof => ProtocolError::Truncated(error.to_string()),
            serde_json::error::Category::Syntax => ProtocolError::Syntax(error.to_string()),
            serde_json::error::Category::Io => ProtocolError::Syntax(error.to_string()),
            serde_json::error::Category::Data => ProtocolError::Schema(error.to_string()),
        }
    })
}

/// Reads everything up to EOF from `reader`, but never more than
/// [`MAX_REQUEST_BYTES`] (a longer stream is refused without being read further).
pub fn read_capped(reader: impl Read) -> Result<Vec<u8>, ProtocolError> {
    let mut buffer = Vec::new();
    reader
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut buffer)?;
    if buffer.len() > MAX_REQUEST_BYTES {
        return Err(ProtocolError::TooLarge {
            limit: MAX_REQUEST_BYTES,
        });
    }
    Ok(buffer)
}

/// Reads and parses a request (the agent side, or the config qube for proposals)
/// from a qrexec stream, up to EOF, with every limit applied.
pub fn read_request<T: serde::de::DeserializeOwned>(reader: impl Read) -> Result<T, ProtocolError> {
    parse_message(&read_capped(reader)?)
}

/// Reads and parses a reply (the calling side) with the same limits as a request:
/// a reply comes from the other qube and is just as untrusted.
pub fn read_reply<T: serde::de::DeserializeOwned>(reader: impl Read) -> Result<T, ProtocolError> {
    parse_message(&read_capped(reader)?)
}

/// Serializes a message. Our own types always serialize.
pub fn to_json(message: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_else(|e| {
        // Unreachable for the types of this crate (no maps with non-string keys).
        format!("{{\"refused\":{{\"version\":1,\"code\":\"internal\",\"message\":\"{e}\"}}}}")
            .into_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_ignores_strings() {
        assert!(check_depth(br#"{"a":[[["x"]]]}"#, 4).is_ok());
        assert!(matches!(
            check_depth(br#"{"a":[[[["x"]]]]}"#, 4),
            Err(ProtocolError::TooDeep { limit: 4 })
        ));
        assert!(check_depth(br#"{"a":"[[[[[[[[\"[[[["}"#, 1).is_ok());
        assert!(check_depth(&b"[".repeat(1_000_000), MAX_DEPTH).is_err());
    }

    #[test]
    fn read_cap_refuses_without_reading_everything() {
        let endless = std::io::repeat(b' ');
        assert!(matches!(
            read_request::<serde_json::Value>(endless),
            Err(ProtocolError::TooLarge { .. })
        ));
    }
}
