//! The rule self-test: every rule carries cases (content that must and must not
//! fire it); this turns a case into the bytes to scan. `cargo test` runs them all.

use super::schema::RuleCase;

impl RuleCase {
    /// The proposed bytes of this case.
    pub fn content_bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.content, &self.content_hex) {
            (Some(text), None) => Ok(text.repeat(self.repeat.unwrap_or(1)).into_bytes()),
            (None, Some(hex)) => {
                let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                if !digits.len().is_multiple_of(2) {
                    return Err("odd number of hex digits".into());
                }
                digits
                    .chunks(2)
                    .map(|p| {
                        std::str::from_utf8(p)
                            .ok()
                            .and_then(|s| u8::from_str_radix(s, 16).ok())
                            .ok_or_else(|| format!("bad hex {:?}", String::from_utf8_lossy(p)))
                    })
                    .collect()
            }
            (None, None) => Ok(Vec::new()),
            (Some(_), Some(_)) => Err("both content and content_hex".into()),
        }
    }
}
