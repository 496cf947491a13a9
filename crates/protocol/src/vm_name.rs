//! Qube names as qubesd accepts them (`validate_name` in qubes-core-admin):
//! `[A-Za-z][A-Za-z0-9_.-]{0,30}`, and never `Domain-0`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmNameError {
    #[error("qube name is empty")]
    Empty,
    #[error("qube name is longer than 31 characters")]
    TooLong,
    #[error("qube name must start with a letter")]
    BadFirst,
    #[error("qube name may contain only letters, digits, '_', '.' and '-'")]
    BadChar,
    #[error("'Domain-0' is not a valid qube name")]
    Reserved,
}

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
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(VmNameError::Empty);
    };
    if bytes.len() > 31 {
        return Err(VmNameError::TooLong);
    }
    if !first.is_ascii_alphabetic() {
        return Err(VmNameError::BadFirst);
    }
    if !bytes
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(VmNameError::BadChar);
    }
    if name == "Domain-0" {
        return Err(VmNameError::Reserved);
    }
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
        assert_eq!(validate_vm_name(""), Err(VmNameError::Empty));
        assert_eq!(validate_vm_name(&"a".repeat(32)), Err(VmNameError::TooLong));
        for bad in ["1vm", "-vm", ".vm", "..", "_x"] {
            assert_eq!(validate_vm_name(bad), Err(VmNameError::BadFirst), "{bad}");
        }
        for bad in ["a/b", "a b", "aé", "a\n"] {
            assert_eq!(validate_vm_name(bad), Err(VmNameError::BadChar), "{bad}");
        }
        assert_eq!(validate_vm_name("Domain-0"), Err(VmNameError::Reserved));
    }
}
