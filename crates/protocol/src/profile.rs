//! Profile ids: the qrexec service argument, `[a-z0-9][a-z0-9-]{0,30}`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileIdError {
    #[error("profile id is empty")]
    Empty,
    #[error("profile id is {len} bytes long, the limit is 31")]
    TooLong { len: usize },
    #[error("profile id must start with a-z or 0-9")]
    BadFirst,
    #[error("profile id may contain only a-z, 0-9 and '-'")]
    BadChar,
}

/// A validated profile id; safe to use as a qrexec argument and a file name part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProfileId(String);

impl ProfileId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ProfileId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Accepts `[a-z0-9][a-z0-9-]{0,30}` and nothing else.
pub fn validate_profile_id(id: &str) -> Result<ProfileId, ProfileIdError> {
    let bytes = id.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(ProfileIdError::Empty);
    };
    if bytes.len() > 31 {
        return Err(ProfileIdError::TooLong { len: bytes.len() });
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(ProfileIdError::BadFirst);
    }
    if !bytes
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ProfileIdError::BadChar);
    }
    Ok(ProfileId(id.to_owned()))
}

impl serde::Serialize for ProfileId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ProfileId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        validate_profile_id(&raw).map_err(|e| crate::violation(crate::Violation::ProfileId(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        for ok in ["git", "ssh-2", "0", "a-", &"a".repeat(31)] {
            assert!(validate_profile_id(ok).is_ok(), "{ok}");
        }
        assert_eq!(validate_profile_id(""), Err(ProfileIdError::Empty));
        assert_eq!(
            validate_profile_id(&"a".repeat(32)),
            Err(ProfileIdError::TooLong { len: 32 })
        );
        assert_eq!(validate_profile_id("-a"), Err(ProfileIdError::BadFirst));
        assert_eq!(validate_profile_id("Git"), Err(ProfileIdError::BadFirst));
        for bad in ["a_b", "a.b", "a b", "a/b", "a+b", "aé", "gIt"] {
            assert_eq!(
                validate_profile_id(bad),
                Err(ProfileIdError::BadChar),
                "{bad}"
            );
        }
    }
}
