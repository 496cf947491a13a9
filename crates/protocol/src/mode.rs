//! File modes: only the four of the allowlist may be written (never setuid, setgid
//! or sticky); modes observed on disk are reported as they are.

use std::fmt;

/// The only modes a request may ask for.
pub const ALLOWED: [u32; 4] = [0o600, 0o644, 0o700, 0o755];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("mode {0:#o} is not one of 0600, 0644, 0700, 0755")]
    NotAllowed(u32),
    #[error("mode {0:?} is not written as four octal digits such as \"0644\"")]
    Malformed(String),
}

/// A mode from [`ALLOWED`]. Serialized as four octal digits, e.g. `"0644"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileMode(u32);

impl FileMode {
    /// 0600, the most private mode of the allowlist.
    pub const PRIVATE: FileMode = FileMode(0o600);

    pub fn bits(self) -> u32 {
        self.0
    }
}

/// Accepts `m` only if it is exactly one of [`ALLOWED`].
pub fn validate_mode(m: u32) -> Result<FileMode, ModeError> {
    if ALLOWED.contains(&m) {
        Ok(FileMode(m))
    } else {
        Err(ModeError::NotAllowed(m))
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// Parses `"0644"`-style text: exactly four octal digits.
pub fn parse_octal_mode(text: &str) -> Result<u32, ModeError> {
    if text.len() != 4 || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(ModeError::Malformed(text.chars().take(16).collect()));
    }
    u32::from_str_radix(text, 8).map_err(|_| ModeError::Malformed(text.to_owned()))
}

impl serde::Serialize for FileMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FileMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        parse_octal_mode(&raw)
            .and_then(validate_mode)
            .map_err(|e| crate::violation(crate::Violation::Mode(e)))
    }
}

/// Permission bits seen on disk (`st_mode & 0o7777`), any value; only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObservedMode(u32);

impl ObservedMode {
    pub fn new(st_mode: u32) -> Self {
        ObservedMode(st_mode & 0o7777)
    }
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ObservedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl serde::Serialize for ObservedMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ObservedMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        parse_octal_mode(&raw)
            .map(ObservedMode)
            .map_err(|e| crate::violation(crate::Violation::Mode(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_only() {
        for m in ALLOWED {
            assert_eq!(validate_mode(m).unwrap().bits(), m);
        }
        for bad in [0o4755, 0o2755, 0o1777, 0o777, 0o666, 0o640, 0, 0o100644] {
            assert_eq!(validate_mode(bad).unwrap_err(), ModeError::NotAllowed(bad));
        }
        assert_eq!(validate_mode(0o644).unwrap().to_string(), "0644");
    }

    #[test]
    fn octal_text() {
        assert_eq!(parse_octal_mode("0755").unwrap(), 0o755);
        assert_eq!(parse_octal_mode("4755").unwrap(), 0o4755);
        for bad in ["755", "0o755", "00755", "0855", "", "+755"] {
            assert!(parse_octal_mode(bad).is_err(), "{bad}");
        }
    }
}
