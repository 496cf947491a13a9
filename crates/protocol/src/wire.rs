//! Building blocks of the messages that enforce limits while deserializing:
//! the version tag, bounded lists, file content with explicit encoding, ids.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::limits::{MAX_FILE_BYTES, MAX_FILES, MAX_NOTE_BYTES};
use crate::{PROTOCOL_VERSION, Sha256Hex, Violation, violation};

/// The `version` field: serializes as [`PROTOCOL_VERSION`], accepts nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Version;

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(PROTOCOL_VERSION)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let got = u64::deserialize(d)?;
        if got == u64::from(PROTOCOL_VERSION) {
            Ok(Version)
        } else {
            Err(violation(Violation::UnsupportedVersion { got }))
        }
    }
}

/// Deserializes a list of at most [`MAX_FILES`] entries, failing at the first extra
/// entry instead of after collecting them all.
pub(crate) fn bounded_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Bounded<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a list of at most {MAX_FILES} entries")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element()? {
                if out.len() == MAX_FILES {
                    return Err(violation(Violation::TooManyFiles { limit: MAX_FILES }));
                }
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Bounded(PhantomData))
}

/// The bytes of one file, at most [`MAX_FILE_BYTES`]. On the wire:
/// `{"encoding": "utf-8", "data": "..."}` or `{"encoding": "base64", "data": "..."}`.
/// Serializing picks UTF-8 when the bytes are valid UTF-8, base64 otherwise.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Content(Vec<u8>);

impl Content {
    /// Wraps `bytes`, refusing more than [`MAX_FILE_BYTES`].
    pub fn new(bytes: Vec<u8>) -> Result<Self, Violation> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(Violation::FileTooLarge {
                size: bytes.len(),
                limit: MAX_FILE_BYTES,
            });
        }
        Ok(Content(bytes))
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn sha256(&self) -> Sha256Hex {
        Sha256Hex::of(&self.0)
    }
}

impl fmt::Debug for Content {
    // Never dump untrusted bytes into logs; length and hash identify the content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Content({} bytes, sha256 {})",
            self.0.len(),
            self.sha256()
        )
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    Base64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentWire<'a> {
    encoding: Encoding,
    #[serde(borrow)]
    data: std::borrow::Cow<'a, str>,
}

/// Length of `text` as a JSON string body (serde_json's escaping).
fn escaped_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

impl Serialize for Content {
    /// UTF-8 text when it is valid UTF-8 and no longer escaped than base64 would be
    /// (so a message's size stays predictable: at most 4/3 of the content), base64
    /// otherwise.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let as_text = std::str::from_utf8(&self.0)
            .ok()
            .filter(|text| escaped_len(text) <= self.0.len().div_ceil(3) * 4);
        let wire = match as_text {
            Some(text) => ContentWire {
                encoding: Encoding::Utf8,
                data: text.into(),
            },
            None => ContentWire {
                encoding: Encoding::Base64,
                data: base64::engine::general_purpose::STANDARD
                    .encode(&self.0)
                    .into(),
            },
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = ContentWire::deserialize(d)?;
        let too_large = |size| {
            violation(Violation::FileTooLarge {
                size,
                limit: MAX_FILE_BYTES,
            })
        };
        match wire.encoding {
            Encoding::Utf8 => {
                if wire.data.len() > MAX_FILE_BYTES {
                    return Err(too_large(wire.data.len()));
                }
                Ok(Content(wire.data.into_owned().into_bytes()))
            }
            Encoding::Base64 => {
                // Checked on the encoded length first so no oversize buffer is decoded.
                let max_encoded = MAX_FILE_BYTES.div_ceil(3) * 4;
                if wire.data.len() > max_encoded {
                    return Err(too_large(wire.data.len() / 4 * 3));
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(wire.data.as_bytes())
                    .map_err(|_| violation(Violation::BadBase64))?;
                if bytes.len() > MAX_FILE_BYTES {
                    return Err(too_large(bytes.len()));
                }
                Ok(Content(bytes))
            }
        }
    }
}

/// An optional free-text note of a proposal, at most [`MAX_NOTE_BYTES`]. Untrusted
/// text: the review pane renders it with the same care as file contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note(String);

impl Note {
    pub fn new(text: String) -> Result<Self, Violation> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(Violation::NoteTooLong {
                size: text.len(),
                limit: MAX_NOTE_BYTES,
            });
        }
        Ok(Note(text))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Note {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Note::new(String::deserialize(d)?).map_err(violation)
    }
}

macro_rules! token_id {
    ($(#[$doc:meta])* $name:ident, $violation:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub struct $name(String);

        impl $name {
            /// Accepts 1–64 of `[0-9A-Za-z-]`, starting with an alphanumeric: safe as a
            /// file name.
            pub fn parse(text: &str) -> Result<Self, Violation> {
                let ok = !text.is_empty()
                    && text.len() <= 64
                    && text.as_bytes()[0].is_ascii_alphanumeric()
                    && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if ok { Ok($name(text.to_owned())) } else { Err($violation) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(&raw).map_err(violation)
            }
        }
    };
}

token_id!(
    /// Names one agent-side backup (the previous versions of the files one apply or
    /// rollback replaced).
    BackupId,
    Violation::BackupId
);
token_id!(
    /// Names one proposal in the spool; chosen by the receiver, never by the sender.
    ProposalId,
    Violation::ProposalId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_roundtrip_both_encodings() {
        for bytes in [b"hello\n".to_vec(), vec![0xff, 0, 1, 2], Vec::new()] {
            let c = Content::new(bytes.clone()).unwrap();
            let json = serde_json::to_string(&c).unwrap();
            let back: Content = serde_json::from_str(&json).unwrap();
            assert_eq!(back.as_bytes(), &bytes[..]);
        }
        let c = Content::new(vec![0xff]).unwrap();
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"encoding":"base64","data":"/w=="}"#
        );
    }

    #[test]
    fn heavily_escaped_text_goes_as_base64() {
        let controls = Content::new(vec![1u8; 3000]).unwrap();
        let json = serde_json::to_string(&controls).unwrap();
        assert!(json.contains("base64"), "{}", &json[..40]);
        assert!(json.len() <= 3000 / 3 * 4 + 40);
        let text = Content::new(b"[user]\n\tname = \"A\"\n".to_vec()).unwrap();
        assert!(serde_json::to_string(&text).unwrap().contains("utf-8"));
    }

    #[test]
    fn ids() {
        assert!(BackupId::parse("b-123-abc").is_ok());
        for bad in ["", "-a", "a/b", "a.b", &"a".repeat(65), "a b"] {
            assert!(BackupId::parse(bad).is_err(), "{bad}");
        }
    }
}
