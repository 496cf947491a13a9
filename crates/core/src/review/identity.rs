//! Identities: of a finding (what an acknowledgement names), of a rule set, and the
//! digest of a review (what an accept binds to).
//!
//! Every hash input is length-prefixed, so no two different inputs share a preimage.
//! Nothing here reads a store or a qube.

use sha2::{Digest, Sha256};

use crate::diff::split_lines;
use crate::risk::{Engine, Finding, Side};

/// Length of a finding id's hash part, in hex digits.
const FINDING_HASH_HEX: usize = 8;
/// Length of a review digest, in hex digits (128 bits).
const DIGEST_HEX: usize = 32;

fn hex(bytes: &[u8], digits: usize) -> String {
    bytes
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(digits)
        .map(|n| char::from_digit(u32::from(n), 16).unwrap_or('0'))
        .collect()
}

/// A hasher whose every field is length-prefixed.
pub(super) struct Fields(Sha256);

impl Fields {
    pub(super) fn new(domain: &str) -> Fields {
        let mut f = Fields(Sha256::new());
        f.put(domain.as_bytes());
        f
    }

    pub(super) fn put(&mut self, bytes: &[u8]) -> &mut Fields {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub(super) fn hex(self, digits: usize) -> String {
        hex(&self.0.finalize(), digits)
    }
}

fn side_letter(side: Side) -> char {
    match side {
        Side::Proposed => 'p',
        Side::Base => 'b',
    }
}

/// The bytes a finding points at in `content`: its line (terminator included), or the
/// whole content for a file-level finding; empty when the line is past the end.
pub(super) fn located_bytes(content: &[u8], line: Option<u32>) -> &[u8] {
    match line {
        None => content,
        Some(n) => split_lines(content)
            .get((n as usize).wrapping_sub(1))
            .copied()
            .unwrap_or_default(),
    }
}

/// The identity of a finding: `{rule}@{path}:{p|b}{line|-}#{h8}`, where `h8` is the
/// first 8 hex digits of sha256 over rule, path, side, line and the bytes of that line
/// in `content` (the side's content of the finding's file; the whole file for a
/// file-level finding). Stable while nothing it names changes.
pub fn finding_id(finding: &Finding, content: &[u8]) -> String {
    finding_id_of(finding, located_bytes(content, finding.line))
}

/// [`finding_id`] with the bytes the finding points at already found (`located`:
/// [`located_bytes`] of its content), so a review of thousands of findings splits
/// each content into lines once.
pub(super) fn finding_id_of(finding: &Finding, located: &[u8]) -> String {
    let side = side_letter(finding.side);
    let line = finding
        .line
        .map_or_else(|| "-".to_owned(), |l| l.to_string());
    let mut h = Fields::new("qcs-finding/1");
    h.put(finding.rule.as_bytes())
        .put(finding.path.as_bytes())
        .put(&[side as u8])
        .put(line.as_bytes())
        .put(located);
    format!(
        "{}@{}:{side}{line}#{}",
        finding.rule,
        finding.path,
        h.hex(FINDING_HASH_HEX)
    )
}

/// A fingerprint of the engine's rule set (ids, severities, file types, catalog rows),
/// so a review made under other rules is stale.
pub fn rules_fingerprint(engine: &Engine) -> String {
    let mut h = Fields::new("qcs-rules/1");
    for rule in engine.rules() {
        h.put(rule.id.as_bytes())
            .put(rule.severity.as_str().as_bytes());
        for ft in rule.filetypes.unwrap_or_default() {
            h.put(ft.as_bytes());
        }
        for row in rule.rows {
            h.put(row.as_bytes());
        }
    }
    h.hex(DIGEST_HEX)
}

/// Finishes a digest.
pub(super) fn digest_hex(fields: Fields) -> String {
    fields.hex(DIGEST_HEX)
}
