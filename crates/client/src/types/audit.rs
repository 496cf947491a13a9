//! Audit log wire types, as `GetAuditLog` returns them.
//!
//! It must not interpret the detail object beyond showing it.

use serde::{Deserialize, Serialize};

/// Result of `AuditLog`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub version: u32,
    pub entries: Vec<AuditEntryView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntryView {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub qube: Option<String>,
    pub profile: Option<String>,
    pub path: Option<String>,
    pub proposal_id: Option<i64>,
    pub generation: Option<u64>,
    pub sha256: Option<String>,
    pub detail: serde_json::Value,
}
