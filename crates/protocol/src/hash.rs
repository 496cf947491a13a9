//! SHA-256 of file contents, as 64 lowercase hex digits on the wire.

use std::fmt;

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256Hex::of(bytes).0
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a sha256 must be 64 lowercase hex digits")]
pub struct HashError;

/// A well-formed SHA-256 hex digest (64 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut text = String::with_capacity(64);
        for byte in digest {
            use std::fmt::Write;
            // Writing to a String cannot fail.
            let _ = write!(text, "{byte:02x}");
        }
        Sha256Hex(text)
    }

    /// Accepts exactly 64 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, HashError> {
        if text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Sha256Hex(text.to_owned()))
        } else {
            Err(HashError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sha256Hex {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Sha256Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Sha256Hex::parse(&raw).map_err(|_| crate::violation(crate::Violation::Hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(Sha256Hex::parse(&sha256_hex(b"x")).is_ok());
        assert!(Sha256Hex::parse(&sha256_hex(b"x").to_uppercase()).is_err());
        assert!(Sha256Hex::parse("abc").is_err());
    }
}
