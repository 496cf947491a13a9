//! Qube names as qubesd accepts them (`validate_name` in qubes-core-admin):
//! `[A-Za-z][A-Za-z0-9_.-]{0,30}`, and never `Domain-0` — checked by `qubesadmin::validate`.

use std::fmt;

/// Why a name is not a valid qube name: qubesadmin's validation error, whose text is qubesd's
/// own message — one rule for the whole project.
pub use qubesadmin::validate::ValidationError as VmNameError;

/// A validated qube name; safe as a file name (it cannot be `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VmName(String);

impl VmName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for VmName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn validate_vm_name(name: &str) -> Result<VmName, VmNameError> {
    qubesadmin::validate::vm_name(name)?;
    Ok(VmName(name.to_owned()))
}

impl serde::Serialize for VmName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for VmName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        validate_vm_name(&raw).map_err(|e| crate::violation(crate::Violation::VmName(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        for ok in [
            "work",
            "sys-net",
            "a",
            "disp1234",
            "my_vm.2",
            &"a".repeat(31),
        ] {
            assert!(validate_vm_name(ok).is_ok(), "{ok}");
        }
        // Every refusal is one a spool directory name must never be: empty, too long, a
        // leading digit/dot/dash (so never `.` or `..`), a path separator, a reserved name.
        for bad in [
            "",
            &"a".repeat(32),
            "1vm",
            "-vm",
            ".vm",
            "..",
            "_x",
            "a/b",
            "a b",
            "aé",
            "a\n",
            "Domain-0",
            "none",
            "default",
            "sys-dm",
        ] {
            assert!(validate_vm_name(bad).is_err(), "{bad:?}");
        }
    }
}
