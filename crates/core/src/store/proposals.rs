//! The proposal quarantine after intake: reading proposals, accepting one (a new version
//! of the profile's file, with its review recorded in the audit log) or rejecting it.
//!
//! It must not accept without the review record the backend's gate produced, and
//! proposal bytes stay in the database (never written out here).

use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_NOTE_BYTES};
use qcs_protocol::mode::validate_mode;
use qcs_protocol::path::RelativePath;
use qcs_protocol::profile::ProfileId;
use qcs_protocol::vm_name::VmName;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    FileEdit, FileVersion, Result, Store, StoreError, action, apply_edits, audit, bounded_record,
    check_size, latest_version, now, path_from_db, profile_from_db, qube_from_db, to_u64,
    variables,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalStatus {
    Pending,
    Accepted,
    Rejected,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Accepted => "accepted",
            ProposalStatus::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(ProposalStatus::Pending),
            "accepted" => Ok(ProposalStatus::Accepted),
            "rejected" => Ok(ProposalStatus::Rejected),
            other => Err(StoreError::Corrupt(format!("proposal status {other:?}"))),
        }
    }
}

impl std::fmt::Display for ProposalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proposal as it arrives from a qube: names and path already parsed by the protocol
/// crate (the types carry that); the store still checks never-sync, sizes, the hash and
/// the whitelist, which are its own invariants.
#[derive(Debug, Clone)]
pub struct NewProposal<'a> {
    /// The calling qube, as dom0 named it (`QREXEC_REMOTE_DOMAIN`).
    pub source_qube: VmName,
    pub profile: ProfileId,
    pub path: RelativePath,
    pub content: &'a [u8],
    /// The mode the file has in the qube, any value (the review decides).
    pub mode: Option<u32>,
    pub base_sha256: Option<&'a str>,
    pub note: &'a str,
}

/// A proposal in quarantine.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub id: i64,
    pub source_qube: VmName,
    pub profile: ProfileId,
    pub path: RelativePath,
    pub content: Vec<u8>,
    pub sha256: String,
    pub mode: Option<u32>,
    pub base_sha256: Option<String>,
    pub note: String,
    pub received_at: i64,
    pub status: ProposalStatus,
    /// The submission this file came with (all files of one spooled request share it;
    /// each import from a snapshot is its own).
    pub batch: i64,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
    pub accepted_version: Option<i64>,
}

/// A proposal without its content, for lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalSummary {
    pub id: i64,
    pub source_qube: VmName,
    pub profile: ProfileId,
    pub path: RelativePath,
    pub size: usize,
    pub sha256: String,
    pub received_at: i64,
    pub status: ProposalStatus,
    /// See [`Proposal::batch`].
    pub batch: i64,
}

/// How a proposal is accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Acceptance<'a> {
    /// The content to store, when the reviewer accepted only some hunks; `None` stores the
    /// proposed bytes.
    pub content: Option<&'a [u8]>,
    /// The mode to store; `None` keeps the current file's mode, or takes the proposed mode
    /// if it is on the allowlist, else 0644.
    pub mode: Option<u32>,
    pub note: Option<&'a str>,
    /// What the reviewer was shown and confirmed, for the audit entry of the accept.
    pub review: ReviewRecord<'a>,
}

/// The review an accept was decided on, as the audit log keeps it: the digest of the
/// review shown, the ids of the findings acknowledged, and who decided through which
/// interface. Bounded when stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReviewRecord<'a> {
    /// The digest of the review the decision was made on.
    pub digest: &'a str,
    /// Finding ids the reviewer acknowledged.
    pub acknowledged: &'a [String],
    /// Who decided and through which interface (e.g. the D-Bus method and the caller's
    /// bus name, uid and program), as the backend saw it.
    pub by: &'a str,
}

/// Most acknowledged finding ids kept in one audit entry (the gate refuses unknown
/// ids, so a real review never has more than its findings).
pub const MAX_RECORDED_ACKNOWLEDGEMENTS: usize = 1024;

impl Store {
    pub fn proposal(&self, id: i64) -> Result<Option<Proposal>> {
        self.conn
            .query_row(
                "SELECT id, source_qube, profile, path, content, sha256, mode, base_sha256, note, \
                     received_at, status, decided_at, decision_note, accepted_version, batch \
                 FROM proposals WHERE id = ?1",
                [id],
                |row| {
                    Ok((
                        (
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, Vec<u8>>(4)?,
                            row.get::<_, String>(5)?,
                            row.get::<_, Option<i64>>(6)?,
                            row.get::<_, Option<String>>(7)?,
                        ),
                        (
                            row.get::<_, String>(8)?,
                            row.get::<_, i64>(9)?,
                            row.get::<_, String>(10)?,
                            row.get::<_, Option<i64>>(11)?,
                            row.get::<_, Option<String>>(12)?,
                            row.get::<_, Option<i64>>(13)?,
                            row.get::<_, i64>(14)?,
                        ),
                    ))
                },
            )
            .optional()?
            .map(
                |((id, qube, profile, path, content, sha256, mode, base), rest)| {
                    let (note, received_at, status, decided_at, decision_note, accepted, batch) =
                        rest;
                    Ok(Proposal {
                        id,
                        source_qube: qube_from_db(&qube)?,
                        profile: profile_from_db(&profile)?,
                        path: path_from_db(&path)?,
                        content,
                        sha256,
                        mode: mode.and_then(|m| u32::try_from(m).ok()),
                        base_sha256: base,
                        note,
                        received_at,
                        status: ProposalStatus::parse(&status)?,
                        batch,
                        decided_at,
                        decision_note,
                        accepted_version: accepted,
                    })
                },
            )
            .transpose()
    }

    /// Proposals (without content), newest first; `status` filters.
    pub fn proposals(&self, status: Option<ProposalStatus>) -> Result<Vec<ProposalSummary>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, source_qube, profile, path, length(content), sha256, received_at, status, \
                 batch FROM proposals WHERE ?1 IS NULL OR status = ?1 ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([status.map(ProposalStatus::as_str)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, i64>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, source_qube, profile, path, size, sha256, received_at, status, batch) = row?;
            out.push(ProposalSummary {
                id,
                source_qube: qube_from_db(&source_qube)?,
                profile: profile_from_db(&profile)?,
                path: path_from_db(&path)?,
                size: usize::try_from(size).unwrap_or(usize::MAX),
                sha256,
                received_at,
                status: ProposalStatus::parse(&status)?,
                batch,
            });
        }
        Ok(out)
    }

    /// Number of pending proposals.
    pub fn pending_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM proposals WHERE status = 'pending'",
            [],
            |r| r.get(0),
        )?;
        to_u64(n, "count")
    }

    /// Accepts a pending proposal: the new file version (provenance: this proposal), the
    /// proposal's status and the audit entry are written in one transaction. Returns the
    /// new file version.
    pub fn accept_proposal(&mut self, id: i64, acceptance: Acceptance<'_>) -> Result<FileVersion> {
        if let Some(content) = acceptance.content {
            check_size("accepted content", content.len(), MAX_FILE_BYTES)?;
        }
        check_size(
            "acknowledged findings",
            acceptance.review.acknowledged.len(),
            MAX_RECORDED_ACKNOWLEDGEMENTS,
        )?;
        if let Some(note) = acceptance.note {
            check_size("note", note.len(), MAX_NOTE_BYTES)?;
        }
        let tx = self.write_tx()?;
        require_pending(&tx, id)?;
        let (qube, profile, path, proposed, proposed_mode): (
            String,
            String,
            String,
            Vec<u8>,
            Option<i64>,
        ) = tx.query_row(
            "SELECT source_qube, profile, path, content, mode FROM proposals WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let qube = qube_from_db(&qube)?;
        let profile = profile_from_db(&profile)?;
        let path = path_from_db(&path)?;
        // A template is edited in the config qube, never replaced by a qube's text.
        variables::refuse_templated(&tx, &profile, &path)?;
        let current = latest_version(&tx, &profile, &path)?.and_then(FileVersion::into_current);
        let mode = match acceptance.mode {
            Some(mode) => validate_mode(mode)?,
            None => match current {
                Some(ref file) => file.mode,
                None => proposed_mode
                    .and_then(|m| u32::try_from(m).ok())
                    .and_then(|m| validate_mode(m).ok())
                    .unwrap_or(validate_mode(0o644)?),
            },
        };
        let content = acceptance.content.unwrap_or(&proposed);
        let edit = FileEdit {
            path: &path,
            content: Some(content),
            mode: mode.bits(),
        };
        let generation = apply_edits(
            &tx,
            &profile,
            &[edit],
            Some((qube.as_str(), id)),
            action::PROPOSAL_ACCEPTED,
        )?;
        let version = latest_version(&tx, &profile, &path)?
            .ok_or_else(|| StoreError::Corrupt(format!("accepted version of #{id} missing")))?;
        tx.execute(
            "UPDATE proposals SET status = 'accepted', decided_at = ?2, decision_note = ?3, \
                 accepted_version = ?4 WHERE id = ?1",
            params![id, now(), acceptance.note, version.id],
        )?;
        let sha = version.content.as_ref().map(|c| c.sha256.clone());
        let record = acceptance.review;
        audit(
            &tx,
            action::PROPOSAL_ACCEPTED,
            Some(qube.as_str()),
            Some(profile.as_str()),
            Some(path.as_str()),
            Some(id),
            Some(generation),
            sha.as_deref(),
            serde_json::json!({
                "version": version.id,
                "partial": acceptance.content.is_some(),
                "note": acceptance.note,
                "digest": bounded_record(record.digest),
                "acknowledged": record
                    .acknowledged
                    .iter()
                    .map(|id| bounded_record(id))
                    .collect::<Vec<_>>(),
                "by": bounded_record(record.by),
            }),
        )?;
        tx.commit()?;
        Ok(version)
    }

    /// Rejects a pending proposal (kept for the record), with the audit entry.
    pub fn reject_proposal(&mut self, id: i64, note: &str) -> Result<()> {
        check_size("note", note.len(), MAX_NOTE_BYTES)?;
        let tx = self.write_tx()?;
        require_pending(&tx, id)?;
        let (qube, profile, path): (String, String, String) = tx.query_row(
            "SELECT source_qube, profile, path FROM proposals WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let (qube, profile, path) = (
            qube_from_db(&qube)?,
            profile_from_db(&profile)?,
            path_from_db(&path)?,
        );
        tx.execute(
            "UPDATE proposals SET status = 'rejected', decided_at = ?2, decision_note = ?3 \
             WHERE id = ?1",
            params![id, now(), note],
        )?;
        audit(
            &tx,
            action::PROPOSAL_REJECTED,
            Some(qube.as_str()),
            Some(profile.as_str()),
            Some(path.as_str()),
            Some(id),
            None,
            None,
            serde_json::json!({ "note": note }),
        )?;
        tx.commit()?;
        Ok(())
    }
}

pub(super) fn require_pending(tx: &Connection, id: i64) -> Result<()> {
    let status: Option<String> = tx
        .query_row("SELECT status FROM proposals WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    match status {
        None => Err(StoreError::ProposalNotFound(id)),
        Some(status) => match ProposalStatus::parse(&status)? {
            ProposalStatus::Pending => Ok(()),
            status => Err(StoreError::ProposalNotPending { id, status }),
        },
    }
}
