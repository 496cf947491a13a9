//! The store's intake: proposals entering quarantine — spooled submissions from a qube and
//! imports of a qube's files that the user started — behind the whitelist at both levels
//! of DESIGN §2.2: the qube may propose the profile, and the path is a file the profile
//! already has or matches the profile's allowlist of globs for new paths (imports: only
//! the profile's files). Then the quota and every limit. Refusals are aggregated per qube,
//! reason and time window, so a flood grows the store by a bounded amount.
//!
//! It must not judge content (the review engine does) and must not append one audit row
//! per refused file.

use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, Transaction, params};

use super::{
    NewProposal, ProposalStatus, Result, Store, StoreError, action, audit, check_hash, check_size,
    check_syncable_path, now, qube_from_db, require_profile, truncated,
};
use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_NOTE_BYTES};
use qcs_protocol::path::{RelativePath, validate_relative_path};
use qcs_protocol::profile::ProfileId;
use qcs_protocol::sha256_hex;
use qcs_protocol::vm_name::VmName;

/// Most globs in one profile's allowlist of new paths.
pub const MAX_NEW_PATH_GLOBS: usize = 64;
/// Longest glob, in bytes.
pub const MAX_GLOB_BYTES: usize = 256;
/// Length of the window refusals are counted in, in seconds: the audit log gets the
/// first refusal of each qube × reason × window, the rest only count.
pub const REFUSAL_WINDOW_SECS: i64 = 3600;
/// Longest refusal message kept, in characters.
const MAX_REASON_CHARS: usize = 512;

/// Reason codes of intake refusals (stable: the audit log and its readers use them).
pub mod refusal {
    /// The qube may not propose this profile.
    pub const NOT_ALLOWED: &str = "not-allowed";
    /// A path the profile does not have, not matched by its allowlist of new paths.
    pub const NEW_PATH: &str = "new-path";
    /// An import of a path the profile does not have.
    pub const NOT_IN_PROFILE: &str = "not-in-profile";
    /// A path on the never-sync list.
    pub const NEVER_SYNC: &str = "never-sync";
    /// An invalid path, profile id, qube name, hash or mode.
    pub const INVALID: &str = "invalid";
    /// Over a size limit.
    pub const TOO_LARGE: &str = "too-large";
    /// The qube's quota of pending proposals is used up.
    pub const QUOTA: &str = "quota";
    /// The profile does not exist.
    pub const NO_PROFILE: &str = "no-profile";
    /// A spool entry that is not a readable, valid submission.
    pub const SPOOL_UNREADABLE: &str = "spool-unreadable";
    /// A spool entry in one qube's directory naming another sender.
    pub const SENDER_MISMATCH: &str = "sender-mismatch";
    /// Anything else.
    pub const OTHER: &str = "other";

    /// Every code, so the set stays closed.
    pub const ALL: [&str; 11] = [
        NOT_ALLOWED,
        NEW_PATH,
        NOT_IN_PROFILE,
        NEVER_SYNC,
        INVALID,
        TOO_LARGE,
        QUOTA,
        NO_PROFILE,
        SPOOL_UNREADABLE,
        SENDER_MISMATCH,
        OTHER,
    ];
}

impl StoreError {
    /// The intake reason code of a refusal.
    pub fn refusal_code(&self) -> &'static str {
        match self {
            StoreError::NotAllowedToPropose { .. } => refusal::NOT_ALLOWED,
            StoreError::NewPathNotAllowed { .. } => refusal::NEW_PATH,
            StoreError::NotInProfile { .. } => refusal::NOT_IN_PROFILE,
            StoreError::NeverSync(_) => refusal::NEVER_SYNC,
            StoreError::InvalidPath { .. }
            | StoreError::InvalidProfileId { .. }
            | StoreError::InvalidHash(_)
            | StoreError::ModeNotAllowed(_) => refusal::INVALID,
            StoreError::TooLarge { .. } => refusal::TOO_LARGE,
            StoreError::ProposalQuotaExceeded { .. } => refusal::QUOTA,
            StoreError::ProfileNotFound(_) => refusal::NO_PROFILE,
            _ => refusal::OTHER,
        }
    }
}

/// What became of one submitted batch.
#[derive(Debug)]
pub struct BatchOutcome {
    /// The batch the accepted files share; `None` when every file was refused.
    pub batch: Option<i64>,
    /// Per submitted file, in order: its proposal id, or why it was refused (audited).
    pub results: Vec<Result<i64>>,
}

/// Refusals of one qube for one reason within one window.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeRefusal {
    pub qube: VmName,
    pub reason: String,
    pub window_start: i64,
    pub count: u64,
    pub first_at: i64,
    pub last_at: i64,
    /// What the last one was (bounded).
    pub last_detail: serde_json::Value,
}

/// Checks a glob for new paths: the shape of a relative path (with `*`, `?` inside a
/// component and `**` as a whole component), bounded; returns it as stored.
pub fn validate_new_path_glob(glob: &str) -> Result<String> {
    let invalid = |why: &str| StoreError::InvalidGlob {
        glob: truncated(glob),
        why: why.to_owned(),
    };
    if glob.len() > MAX_GLOB_BYTES {
        return Err(invalid(&format!("longer than {MAX_GLOB_BYTES} bytes")));
    }
    for component in glob.split('/') {
        if component.contains("**") && component != "**" {
            return Err(invalid("`**` must be a whole path component"));
        }
    }
    if glob.split('/').all(|c| c == "**") {
        return Err(invalid("matches every path; name the directory or file"));
    }
    // With the wildcards replaced, it must be a valid relative path (no `..`, no leading
    // `/`, no control characters, no empty component).
    let shape: String = glob
        .chars()
        .map(|c| if c == '*' || c == '?' { 'x' } else { c })
        .collect();
    validate_relative_path(&shape).map_err(|e| invalid(&e.to_string()))?;
    Ok(glob.to_owned())
}

/// Where a batch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Submitted by the qube (`qubes.ConfigPropose`): may-propose and path whitelist.
    Spool,
    /// Imported from the qube by the user (a snapshot or a push conflict): only the
    /// profile's files.
    Import,
    /// Adopted from the qube by the user: the user's request names the one path, which
    /// the profile need not have yet (stored as an import batch).
    Adopt,
}

impl Origin {
    /// As the audit detail names it.
    fn name(self) -> &'static str {
        match self {
            Origin::Adopt => "adopt",
            other => other.kind(),
        }
    }

    /// The batch kind it is stored as.
    fn kind(self) -> &'static str {
        match self {
            Origin::Spool => "spool",
            Origin::Import | Origin::Adopt => "import",
        }
    }
}

impl Store {
    /// The profile's allowlist of globs for new paths, sorted (empty: a qube may propose
    /// only files the profile has).
    pub fn new_path_globs(&self, profile: &ProfileId) -> Result<Vec<String>> {
        require_profile(&self.conn, profile)?;
        globs_in(&self.conn, profile)
    }

    /// Adds (`allowed`) or removes globs of the profile's allowlist of new paths; returns
    /// the list after the change. Audited when it changes.
    pub fn allow_new_paths(
        &mut self,
        profile: &ProfileId,
        globs: &[&str],
        allowed: bool,
    ) -> Result<Vec<String>> {
        let globs: Vec<String> = globs
            .iter()
            .map(|g| {
                if allowed {
                    validate_new_path_glob(g)
                } else {
                    Ok((*g).to_owned())
                }
            })
            .collect::<Result<_>>()?;
        let tx = self.write_tx()?;
        require_profile(&tx, profile)?;
        let before = globs_in(&tx, profile)?;
        let mut after: BTreeSet<String> = before.iter().cloned().collect();
        for glob in globs {
            if allowed {
                after.insert(glob);
            } else {
                after.remove(&glob);
            }
        }
        if after.len() > MAX_NEW_PATH_GLOBS {
            return Err(StoreError::TooManyGlobs {
                profile: profile.to_string(),
                limit: MAX_NEW_PATH_GLOBS,
            });
        }
        let after: Vec<String> = after.into_iter().collect();
        if after != before {
            tx.execute(
                "DELETE FROM new_path_globs WHERE profile = ?1",
                [profile.as_str()],
            )?;
            for glob in &after {
                tx.execute(
                    "INSERT INTO new_path_globs (profile, glob) VALUES (?1, ?2)",
                    params![profile.as_str(), glob],
                )?;
            }
            audit(
                &tx,
                action::NEW_PATH_GLOBS,
                None,
                Some(profile.as_str()),
                None,
                None,
                None,
                None,
                serde_json::json!({ "before": before, "after": after }),
            )?;
        }
        tx.commit()?;
        Ok(after)
    }

    /// Puts one proposal into quarantine (a batch of one); see [`Store::submit_batch`].
    pub fn submit_proposal(&mut self, proposal: &NewProposal<'_>) -> Result<i64> {
        first(self.submit_batch(std::slice::from_ref(proposal))?)
    }

    /// Puts the files of one submission from a qube into quarantine, sharing one batch.
    /// Each file is checked on its own: the qube may propose the profile (may-propose),
    /// the path is a file of the profile or matches its allowlist of new paths, it is not
    /// never-sync, the quota and every limit. A refused file is audited (aggregated, see
    /// [`Store::intake_refusals`]) and reported in the outcome; the others still enter.
    /// `Err` only when the database fails (then nothing changed).
    pub fn submit_batch(&mut self, files: &[NewProposal<'_>]) -> Result<BatchOutcome> {
        self.intake(files, Origin::Spool)
    }

    /// Puts a file the user chose to import from a qube (a snapshot or a push conflict
    /// started in the config qube, not by the qube) into quarantine as a proposal from
    /// that qube; see [`Store::import_batch`].
    pub fn import_from_qube(&mut self, proposal: &NewProposal<'_>) -> Result<i64> {
        first(self.import_batch(std::slice::from_ref(proposal))?)
    }

    /// Imports files of a qube as one batch: same limits, quota and audit as
    /// [`Store::submit_batch`], no may-propose check (the user asked, not the qube), and
    /// only paths the profile has. The bytes are still untrusted and still need an accept.
    pub fn import_batch(&mut self, files: &[NewProposal<'_>]) -> Result<BatchOutcome> {
        self.intake(files, Origin::Import)
    }

    /// Puts a file the user adopts from a qube into quarantine: like
    /// [`Store::import_from_qube`], but the path need not be a file of the profile yet —
    /// the user's adopt request authorises this one path, this once (never-sync, limits
    /// and the quota still apply; the bytes still need a review and an accept).
    pub fn adopt_from_qube(&mut self, proposal: &NewProposal<'_>) -> Result<i64> {
        first(self.intake(std::slice::from_ref(proposal), Origin::Adopt)?)
    }

    /// Audits a submission refused before it could be read as one (e.g. a damaged spool
    /// file), aggregated like every intake refusal.
    pub fn record_refused_proposal(&mut self, source_qube: &VmName, reason: &str) -> Result<()> {
        self.record_intake_refusal(
            source_qube,
            refusal::SPOOL_UNREADABLE,
            serde_json::json!({ "reason": bounded(reason) }),
        )
    }

    /// Audits an intake refusal with one of the [`refusal`] codes, aggregated per qube,
    /// code and window. `detail` should be small; it is kept as the window's last example.
    pub fn record_intake_refusal(
        &mut self,
        source_qube: &VmName,
        code: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let code = refusal::ALL
            .iter()
            .find(|c| **c == code)
            .copied()
            .unwrap_or(refusal::OTHER);
        let tx = self.write_tx()?;
        refuse_in(&tx, source_qube, code, None, None, detail, now())?;
        tx.commit()?;
        Ok(())
    }

    /// Audits a reply from a qube that broke the request it answered (refused whole,
    /// nothing of it recorded): the service, the reason code, and `sent`, a bounded and
    /// escaped excerpt of what the qube sent, chosen by the caller.
    pub fn record_refused_reply(
        &mut self,
        qube: &VmName,
        service: &str,
        profile: &ProfileId,
        code: &str,
        message: &str,
        sent: &str,
    ) -> Result<()> {
        let tx = self.write_tx()?;
        audit(
            &tx,
            action::REPLY_REFUSED,
            Some(qube.as_str()),
            Some(profile.as_str()),
            None,
            None,
            None,
            None,
            serde_json::json!({
                "service": bounded(service),
                "code": bounded(code),
                "message": bounded(message),
                "sent": bounded(sent),
            }),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Aggregated intake refusals (all qubes when `qube` is `None`), newest window first.
    pub fn intake_refusals(&self, qube: Option<&VmName>) -> Result<Vec<IntakeRefusal>> {
        let mut stmt = self.conn.prepare(
            "SELECT qube, reason, window_start, count, first_at, last_at, last_detail \
             FROM intake_refusals WHERE ?1 IS NULL OR qube = ?1 \
             ORDER BY window_start DESC, qube, reason",
        )?;
        let rows = stmt.query_map([qube.map(VmName::as_str)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (qube, reason, window_start, count, first_at, last_at, detail) = row?;
            out.push(IntakeRefusal {
                qube: qube_from_db(&qube)?,
                reason,
                window_start,
                count: super::to_u64(count, "refusal count")?,
                first_at,
                last_at,
                last_detail: serde_json::from_str(&detail)
                    .map_err(|e| StoreError::Corrupt(format!("refusal detail: {e}")))?,
            });
        }
        Ok(out)
    }

    fn intake(&mut self, files: &[NewProposal<'_>], origin: Origin) -> Result<BatchOutcome> {
        if let Some(first) = files.first()
            && files.iter().any(|f| f.source_qube != first.source_qube)
        {
            return Err(StoreError::MixedBatch);
        }
        let tx = self.write_tx()?;
        let at = now();
        let mut batch = None;
        let mut results = Vec::with_capacity(files.len());
        for file in files {
            match admit(&tx, file, origin, &mut batch, at) {
                Ok(id) => results.push(Ok(id)),
                Err(StoreError::Sqlite(e)) => return Err(StoreError::Sqlite(e)),
                Err(error) => {
                    refuse_in(
                        &tx,
                        &file.source_qube,
                        error.refusal_code(),
                        Some(&file.profile),
                        Some(&file.path),
                        serde_json::json!({
                            "reason": bounded(&error.to_string()),
                            "size": file.content.len(),
                            "origin": origin.name(),
                        }),
                        at,
                    )?;
                    results.push(Err(error));
                }
            }
        }
        tx.commit()?;
        Ok(BatchOutcome { batch, results })
    }
}

fn first(outcome: BatchOutcome) -> Result<i64> {
    outcome
        .results
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(StoreError::Corrupt("an empty batch".to_owned())))
}

fn bounded(text: &str) -> String {
    text.chars().take(MAX_REASON_CHARS).collect()
}

fn globs_in(conn: &rusqlite::Connection, profile: &ProfileId) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT glob FROM new_path_globs WHERE profile = ?1 ORDER BY glob")?;
    let globs = stmt
        .query_map([profile.as_str()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(globs)
}

/// True when the profile has `path` now (a removed file is not there).
fn has_file(tx: &Transaction<'_>, profile: &ProfileId, path: &RelativePath) -> Result<bool> {
    let deleted: Option<i64> = tx
        .query_row(
            "SELECT deleted FROM file_versions WHERE profile = ?1 AND path = ?2 \
             ORDER BY generation DESC LIMIT 1",
            params![profile.as_str(), path.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(deleted == Some(0))
}

/// Checks one file and enters it into quarantine inside `tx`; `Err` (other than SQLite)
/// is a refusal and changes nothing.
fn admit(
    tx: &Transaction<'_>,
    proposal: &NewProposal<'_>,
    origin: Origin,
    batch: &mut Option<i64>,
    at: i64,
) -> Result<i64> {
    let (qube, profile, path) = (&proposal.source_qube, &proposal.profile, &proposal.path);
    check_syncable_path(path)?;
    check_size("proposed file", proposal.content.len(), MAX_FILE_BYTES)?;
    check_size("note", proposal.note.len(), MAX_NOTE_BYTES)?;
    let base = proposal.base_sha256.map(check_hash).transpose()?;
    let mode = proposal.mode.map(|m| m & 0o7777);
    require_profile(tx, profile)?;
    if origin == Origin::Spool {
        let allowed: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM propose_permissions WHERE qube = ?1 AND profile = ?2)",
            params![qube.as_str(), profile.as_str()],
            |r| r.get(0),
        )?;
        if !allowed {
            return Err(StoreError::NotAllowedToPropose {
                qube: qube.to_string(),
                profile: profile.to_string(),
            });
        }
    }
    if origin != Origin::Adopt && !has_file(tx, profile, path)? {
        let admitted = origin == Origin::Spool
            && globs_in(tx, profile)?
                .iter()
                .any(|glob| crate::risk::glob_matches(glob, path.as_str()));
        if !admitted {
            let (profile, path) = (profile.to_string(), path.to_string());
            return Err(match origin {
                Origin::Spool => StoreError::NewPathNotAllowed { profile, path },
                Origin::Import | Origin::Adopt => StoreError::NotInProfile { profile, path },
            });
        }
    }
    let pending: i64 = tx.query_row(
        "SELECT count(*) FROM proposals WHERE source_qube = ?1 AND status = ?2",
        params![qube.as_str(), ProposalStatus::Pending.as_str()],
        |r| r.get(0),
    )?;
    if pending >= super::MAX_PENDING_PROPOSALS_PER_QUBE as i64 {
        return Err(StoreError::ProposalQuotaExceeded {
            qube: qube.to_string(),
            limit: super::MAX_PENDING_PROPOSALS_PER_QUBE,
        });
    }
    let batch_id = match *batch {
        Some(id) => id,
        None => {
            tx.execute(
                "INSERT INTO proposal_batches (source_qube, kind, created_at) VALUES (?1, ?2, ?3)",
                params![qube.as_str(), origin.kind(), at],
            )?;
            let id = tx.last_insert_rowid();
            *batch = Some(id);
            id
        }
    };
    let sha256 = sha256_hex(proposal.content);
    tx.execute(
        "INSERT INTO proposals (source_qube, profile, path, content, sha256, mode, \
             base_sha256, note, received_at, batch) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            qube.as_str(),
            profile.as_str(),
            path.as_str(),
            proposal.content,
            sha256,
            mode,
            base,
            proposal.note,
            at,
            batch_id
        ],
    )?;
    let id = tx.last_insert_rowid();
    audit(
        tx,
        action::PROPOSAL_RECEIVED,
        Some(qube.as_str()),
        Some(profile.as_str()),
        Some(path.as_str()),
        Some(id),
        None,
        Some(&sha256),
        serde_json::json!({
            "size": proposal.content.len(),
            "batch": batch_id,
            "origin": origin.name(),
        }),
    )?;
    Ok(id)
}

/// Counts a refusal in its window; the first of a qube × reason × window is also
/// appended to the audit log (with what was refused), later ones only count.
fn refuse_in(
    tx: &Transaction<'_>,
    qube: &VmName,
    code: &str,
    profile: Option<&ProfileId>,
    path: Option<&RelativePath>,
    detail: serde_json::Value,
    at: i64,
) -> Result<()> {
    let window = at - at.rem_euclid(REFUSAL_WINDOW_SECS);
    let mut example = detail;
    if let serde_json::Value::Object(map) = &mut example {
        if let Some(profile) = profile {
            map.insert("profile".into(), profile.as_str().into());
        }
        if let Some(path) = path {
            map.insert("path".into(), path.as_str().into());
        }
    }
    let text = example.to_string();
    let updated = tx.execute(
        "UPDATE intake_refusals SET count = count + 1, last_at = max(last_at, ?4), \
             last_detail = ?5 \
         WHERE qube = ?1 AND reason = ?2 AND window_start = ?3",
        params![qube.as_str(), code, window, at, text],
    )?;
    if updated == 0 {
        tx.execute(
            "INSERT INTO intake_refusals (qube, reason, window_start, count, first_at, last_at, \
                 last_detail) VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5)",
            params![qube.as_str(), code, window, at, text],
        )?;
        let mut entry = serde_json::json!({
            "code": code,
            "window_start": window,
            "window_secs": REFUSAL_WINDOW_SECS,
        });
        if let (serde_json::Value::Object(entry), serde_json::Value::Object(example)) =
            (&mut entry, example)
        {
            entry.extend(example);
        }
        audit(
            tx,
            action::PROPOSAL_REFUSED,
            Some(qube.as_str()),
            profile.map(ProfileId::as_str),
            path.map(RelativePath::as_str),
            None,
            None,
            None,
            entry,
        )?;
    }
    Ok(())
}
