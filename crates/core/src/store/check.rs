//! The store's checks at its boundary: parsing untrusted names, paths, hashes and sizes
//! that come in from a file (the import), and re-parsing what comes back out of the
//! database (a row that does not parse is `StoreError::Corrupt`, never a panic).
//!
//! It must not touch the database or decide policy: it only converts and bounds values.

use std::time::{SystemTime, UNIX_EPOCH};

use qcs_protocol::mode::{FileMode, validate_mode};
use qcs_protocol::path::{RelativePath, validate_relative_path};
use qcs_protocol::profile::{ProfileId, validate_profile_id};
use qcs_protocol::vm_name::{VmName, validate_vm_name};

use super::{Result, StoreError};

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses an untrusted profile id read from a file (the import's manifest).
pub(super) fn check_profile(id: &str) -> Result<ProfileId> {
    validate_profile_id(id).map_err(|source| StoreError::InvalidProfileId {
        id: truncated(id),
        source,
    })
}

/// Parses an untrusted path read from a file (the import's manifest).
pub(super) fn check_path(path: &str) -> Result<RelativePath> {
    validate_relative_path(path).map_err(|source| StoreError::InvalidPath {
        path: truncated(path),
        source,
    })
}

/// A path that may enter a profile: not on the never-sync list of the shipped rules
/// (private keys, credentials, histories, `.git/`: blocked in both directions).
pub(super) fn check_syncable_path(path: &RelativePath) -> Result<()> {
    if crate::risk::is_never_sync(path.as_str()) {
        return Err(StoreError::NeverSync(path.to_string()));
    }
    Ok(())
}

pub(super) fn check_hash(hash: &str) -> Result<String> {
    qcs_protocol::Sha256Hex::parse(hash)
        .map(|h| h.as_str().to_owned())
        .map_err(|_| StoreError::InvalidHash(truncated(hash)))
}

pub(super) fn check_size(what: &'static str, size: usize, limit: usize) -> Result<()> {
    if size > limit {
        Err(StoreError::TooLarge { what, size, limit })
    } else {
        Ok(())
    }
}

/// Untrusted text in an error message: bounded, and `{:?}` escapes the rest.
pub(super) fn truncated(text: &str) -> String {
    text.chars().take(128).collect()
}

pub(super) fn to_u64(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value}")))
}

pub(super) fn to_i64(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("number {value} too large")))
}

pub(super) fn mode_from_db(mode: i64) -> Result<FileMode> {
    u32::try_from(mode)
        .ok()
        .and_then(|m| validate_mode(m).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("mode {mode:o}")))
}

pub(super) fn profile_from_db(id: &str) -> Result<ProfileId> {
    validate_profile_id(id)
        .map_err(|_| StoreError::Corrupt(format!("profile id {:?}", truncated(id))))
}

pub(super) fn path_from_db(path: &str) -> Result<RelativePath> {
    validate_relative_path(path)
        .map_err(|_| StoreError::Corrupt(format!("path {:?}", truncated(path))))
}

pub(super) fn qube_from_db(name: &str) -> Result<VmName> {
    validate_vm_name(name)
        .map_err(|_| StoreError::Corrupt(format!("qube name {:?}", truncated(name))))
}
