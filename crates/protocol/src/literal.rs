//! The validated types from literals a test or benchmark knows to be valid: one place
//! instead of a copy of these helpers in every test file.
//!
//! Behind the `test-literals` feature, which only `[dev-dependencies]` enable: these
//! constructors panic on invalid input, so they must never see data from a qube.

use crate::{ProfileId, RelativePath, VmName};

/// A profile id from a literal; panics if it is not one.
pub fn pid(id: &str) -> ProfileId {
    crate::profile::validate_profile_id(id).expect("a valid profile id")
}

/// A home-relative path from a literal; panics if it is not one.
pub fn rp(path: &str) -> RelativePath {
    crate::path::validate_relative_path(path).expect("a valid path")
}

/// A qube name from a literal; panics if it is not one.
pub fn vm(name: &str) -> VmName {
    crate::validate_vm_name(name).expect("a valid qube name")
}
