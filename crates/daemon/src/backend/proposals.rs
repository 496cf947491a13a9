//! Proposals: the inbox and the review decisions (how proposals arrive is in
//! `intake.rs`). The decisions go through `qcs_core::review` only: base selection,
//! diff, findings and the gate live there, shared with every client.

use qcs_core::diff::HunkId;
use qcs_core::review;
use qcs_core::risk::Finding;
use std::sync::Arc;

use qcs_core::store::{Acceptance, Proposal, ProposalStatus, ReviewRecord};

use super::review_cache::{CachedReview, ReviewKey};
use super::{Backend, BackendError, Result, lock, views};
use crate::client::types::{API_VERSION, ProposalList, ProposalRisk, ProposalView};
use crate::client::{Code, Reason};

impl Backend {
    pub fn list_proposals(&self, status: &str) -> Result<ProposalList> {
        let status = match status {
            "" => None,
            "pending" => Some(ProposalStatus::Pending),
            "accepted" => Some(ProposalStatus::Accepted),
            "rejected" => Some(ProposalStatus::Rejected),
            other => {
                return Err(BackendError::InvalidArgument(
                    Reason::new(Code::ProposalStatusInvalid)
                        .arg("status", other.chars().take(32).collect::<String>()),
                ));
            }
        };
        let store = self.store();
        let mut keys: std::collections::BTreeMap<String, ReviewKey> = Default::default();
        let mut proposals = Vec::new();
        for p in store.proposals(status)? {
            let mut view = views::proposal_summary(&p);
            // The risk marker, when the review of this state was built (never here).
            let key = match keys.get(p.profile.as_str()) {
                Some(k) => ReviewKey {
                    proposal: p.id,
                    status: p.status,
                    ..k.clone()
                },
                None => {
                    let k = ReviewKey::of(&store, p.id, p.status, &p.profile, &self.rules)?;
                    keys.insert(p.profile.as_str().to_owned(), k.clone());
                    k
                }
            };
            view.risk = lock(&self.reviews).risk(&key);
            proposals.push(view);
        }
        drop(store);
        Ok(ProposalList {
            version: API_VERSION,
            proposals,
        })
    }

    /// The review of proposal `id` (core::review: the state after accept, against
    /// the store's current version), loaded and built while the caller holds the
    /// store (the accept path: what passes the gate is what is written).
    fn review_of<'e>(
        &'e self,
        store: &qcs_core::store::Store,
        id: i64,
    ) -> Result<review::Review<'e>> {
        review::load(store, &self.engine, &[id]).map_err(|e| load_error(e, id))
    }

    /// Everything the review shows, with the review's digest and each finding's id,
    /// as the JSON `GetProposal` returns. Findings are computed for the state after
    /// accept against the store now (it may have changed since the proposal arrived);
    /// a review already built for exactly this state comes from the cache.
    pub fn get_proposal_json(&self, id: i64) -> Result<Arc<str>> {
        Ok(self.cached_review(id)?.json.clone())
    }

    /// The typed `GetProposal` reply (tests and in-process callers).
    pub fn get_proposal(&self, id: i64) -> Result<ProposalView> {
        serde_json::from_str(&self.get_proposal_json(id)?).map_err(BackendError::failed)
    }

    /// The review of proposal `id` for the store's current state: from the cache, or
    /// built (and kept) when the store, the proposal's status or the rules changed.
    pub(super) fn cached_review(&self, id: i64) -> Result<Arc<CachedReview>> {
        let store = self.store();
        let p = store.proposal(id)?.ok_or_else(|| {
            BackendError::NotFound(Reason::new(Code::ProposalUnknown).arg("id", id))
        })?;
        let key = ReviewKey::of(&store, id, p.status, &p.profile, &self.rules)?;
        let hit = lock(&self.reviews).get(&key);
        if let Some(hit) = hit {
            if !hit.templated {
                return Ok(hit);
            }
            // A templated file's base is the qube's rendering now, which depends on
            // variables and Admin API facts the key does not hold: drawn afresh on every
            // call (the findings and the marker do not depend on it).
            drop(store);
            let mut view: ProposalView =
                serde_json::from_str(&hit.json).map_err(BackendError::failed)?;
            self.show_rendered_base(&p, &mut view)?;
            return Ok(Arc::new(CachedReview {
                json: Arc::from(views::to_json(&view)?),
                risk: hit.risk,
                templated: true,
            }));
        }
        // A consistent snapshot under this hold of the store (the key above was taken
        // under it too); the review is built after letting the store go, so a large
        // one never holds up other calls. Only shown: the accept path rebuilds it
        // under the store and never trusts this one.
        let inputs = review::load_inputs(&store, &[id]).map_err(|e| load_error(e, id))?;
        drop(store);
        #[cfg(test)]
        tests::BUILD_PROBE.with(|probe| {
            if let Some(probe) = probe.borrow().as_ref() {
                probe(self);
            }
        });
        let review = inputs.build(&self.engine).map_err(|e| load_error(e, id))?;
        let mut view = proposal_view(&p, &review)?;
        // A templated file: against the qube's rendered version (templates.rs).
        let templated = self.show_rendered_base(&p, &mut view)?;
        let risk = ProposalRisk {
            worst: view
                .findings
                .iter()
                .map(|f| f.severity)
                .max_by_key(|s| s.rank()),
            gated: u32::try_from(view.must_acknowledge.len()).unwrap_or(u32::MAX),
        };
        let built = Arc::new(CachedReview {
            json: Arc::from(views::to_json(&view)?),
            risk,
            templated,
        });
        lock(&self.reviews).put(key, Arc::clone(&built));
        Ok(built)
    }

    /// Builds the reviews of pending proposals whose risk marker is not known for the
    /// store's current state (after intake), then tells clients the inbox changed.
    /// Returns how many were built.
    pub fn warm_reviews(&self) -> Result<u32> {
        let pending = self.store().proposals(Some(ProposalStatus::Pending))?;
        let mut built = 0u32;
        for p in pending {
            let known = {
                let store = self.store();
                let key = ReviewKey::of(&store, p.id, p.status, &p.profile, &self.rules)?;
                lock(&self.reviews).risk(&key).is_some()
            };
            if known {
                continue;
            }
            // A proposal decided or invalid meanwhile is not an error here.
            if self.cached_review(p.id).is_ok() {
                built += 1;
            }
        }
        if built > 0 {
            self.announce_pending();
        }
        Ok(built)
    }

    /// Accepts all hunks (`hunks` empty) or the chosen ones of the review with
    /// `digest`, through the gate of core::review: every gated finding in the accepted
    /// hunks must be acknowledged by its id. The review is built, checked and stored
    /// under one hold of the store, so what passed the gate is what is written. The
    /// audit entry records the digest, the acknowledged finding ids and `by` (who
    /// decided, through which interface).
    pub fn accept_proposal(
        &self,
        id: i64,
        digest: &str,
        hunks: &[String],
        acknowledged: &[String],
        note: &str,
        by: &str,
    ) -> Result<u64> {
        // Never rendered text into a template: the user edits the template (templates.rs).
        self.refuse_templated_accept(id)?;
        let generation = {
            let mut store = self.store();
            let review = self.review_of(&store, id)?;
            let decision = review::Decision {
                digest: digest.to_owned(),
                hunks: (!hunks.is_empty())
                    .then(|| hunks.iter().map(|h| (id, HunkId(h.clone()))).collect()),
                acknowledged: acknowledged.to_vec(),
            };
            let accepted = review.check(&decision)?;
            let file = accepted
                .files
                .iter()
                .find(|f| f.proposal == id)
                .ok_or(review::GateError::NothingAccepted)?;
            let version = store.accept_proposal(
                id,
                Acceptance {
                    content: file.partial.then_some(file.content.as_slice()),
                    mode: None,
                    note: (!note.is_empty()).then_some(note),
                    review: ReviewRecord {
                        digest: &review.digest,
                        acknowledged: &accepted.acknowledged,
                        by,
                    },
                },
            )?;
            version.generation
        };
        self.announce_pending();
        self.notifier().qube_changed("");
        Ok(generation)
    }

    pub fn reject_proposal(&self, id: i64, note: &str) -> Result<()> {
        self.store().reject_proposal(id, note)?;
        self.announce_pending();
        Ok(())
    }
}

/// The backend's error for a review of proposal `id` that could not be loaded.
fn load_error(e: review::LoadError, id: i64) -> BackendError {
    match e {
        review::LoadError::Store(e) => BackendError::Store(e),
        review::LoadError::NotFound(_) => {
            BackendError::NotFound(Reason::new(Code::ProposalUnknown).arg("id", id))
        }
        other => {
            BackendError::InvalidArgument(Reason::new(Code::ProposalInvalid).arg("detail", other))
        }
    }
}

/// The `GetProposal` reply of proposal `p` from its built review.
fn proposal_view(p: &Proposal, review: &review::Review<'_>) -> Result<ProposalView> {
    let id = p.id;
    let file = review
        .file(id)
        .ok_or_else(|| BackendError::failed(format!("review of #{id} lost its file")))?;
    let findings: Vec<&review::ReviewFinding> = review.findings_of(id).collect();
    // Anchors in the diff only for findings on this file's lines.
    let anchored: Vec<Finding> = findings
        .iter()
        .map(|f| {
            let mut f = f.finding.clone();
            if f.path != file.path {
                f.line = None;
            }
            f
        })
        .collect();
    let summary = qcs_core::store::ProposalSummary {
        id: p.id,
        source_qube: p.source_qube.clone(),
        profile: p.profile.clone(),
        path: p.path.clone(),
        size: p.content.len(),
        sha256: p.sha256.clone(),
        received_at: p.received_at,
        status: p.status,
        batch: p.batch,
    };
    Ok(ProposalView {
        version: API_VERSION,
        summary: views::proposal_summary(&summary),
        mode: p.mode.map(views::mode_text),
        note: views::text_segments(p.note.as_bytes()),
        base_b64: file.base.as_ref().map(|b| views::b64(&b.bytes)),
        base_sha256: file.base.as_ref().map(|b| b.sha256.clone()),
        proposed_b64: views::b64(&file.proposed),
        diff: views::diff_view(&file.diff, &anchored),
        findings: findings
            .iter()
            .map(|f| views::review_finding_view(f, id))
            .collect(),
        must_acknowledge: findings
            .iter()
            .filter(|f| f.gated)
            .map(|f| f.id.clone())
            .collect(),
        digest: review.digest.clone(),
        three_way: file
            .three_way
            .as_ref()
            .map(|t| views::three_way_view(t, &views::PROPOSAL_THREE_WAY)),
    })
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use std::time::Instant;

    use qcs_core::risk::Engine;
    use qcs_core::store::{NewProposal, Store};
    use qcs_protocol::literal::{pid, rp, vm};

    use super::*;

    type Probe = Box<dyn Fn(&Backend)>;

    thread_local! {
        /// Run by `cached_review` between letting the store go and building the review.
        pub(super) static BUILD_PROBE: std::cell::RefCell<Option<Probe>> =
            std::cell::RefCell::new(None);
    }

    fn backend(dir: &std::path::Path) -> Backend {
        let config = crate::backend::BackendConfig {
            store_path: dir.join("store.sqlite"),
            spool_dir: None,
            qrexec_program: "/nonexistent/qrexec-client-vm".into(),
            max_parallel: 2,
            config_qube: "cfg".to_owned(),
            call_timeout: std::time::Duration::from_secs(5),
        };
        let admin = qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(dir.join("no.sock")));
        Backend::open(config, admin).unwrap()
    }

    /// The warmer builds a review with the store free: while it builds, another call
    /// takes the store and completes. The accept still rebuilds the review under the
    /// store: a digest the cache handed out before the store moved on is refused.
    #[test]
    fn the_warmer_builds_a_review_without_holding_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let backend = backend(dir.path());
        let id = backend
            .with_store(|s| {
                s.create_profile(&pid("vim"), "")?;
                s.put_file(&pid("vim"), &rp("notes.txt"), b"set nu\n", 0o644)?;
                s.allow_proposals(&vm("personal"), &pid("vim"))?;
                Ok(s.submit_proposal(&NewProposal {
                    source_qube: vm("personal"),
                    profile: pid("vim"),
                    path: rp("notes.txt"),
                    content: b"set nu\nset list\n",
                    mode: Some(0o644),
                    base_sha256: None,
                    note: "",
                })?)
            })
            .unwrap();
        let seen = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let counted = seen.clone();
        BUILD_PROBE.with(|p| {
            *p.borrow_mut() = Some(Box::new(move |backend: &Backend| {
                counted.set(counted.get() + 1);
                let free = backend.store.try_lock();
                assert!(free.is_ok(), "the store is held while the review is built");
                drop(free);
                // Another call takes the store and completes meanwhile.
                assert_eq!(backend.pending_count().unwrap(), 1);
            }));
        });
        assert_eq!(backend.warm_reviews().unwrap(), 1);
        BUILD_PROBE.with(|p| p.borrow_mut().take());
        assert_eq!(
            seen.get(),
            1,
            "the review was built once, through the probe"
        );
        // Served from the cache now; then the store moves on.
        let shown = backend.get_proposal(id).unwrap();
        backend
            .with_store(|s| {
                s.put_file(&pid("vim"), &rp(".exrc"), b"set ai\n", 0o644)?;
                Ok(())
            })
            .unwrap();
        assert!(
            backend
                .accept_proposal(id, &shown.digest, &[], &shown.must_acknowledge, "", "test")
                .is_err(),
            "a digest of the state before the store moved on is refused"
        );
        let current = backend.get_proposal(id).unwrap();
        assert_ne!(current.digest, shown.digest);
        backend
            .accept_proposal(
                id,
                &current.digest,
                &[],
                &current.must_acknowledge,
                "",
                "test",
            )
            .unwrap();
    }

    /// Where `GetProposal`'s time goes for the bench's 10 000-hunk proposal (one changed
    /// line in eight of an 80 000-line file). A figure, not a check:
    /// `cargo test --release -p qcs-daemon --lib -- --ignored --nocapture get_proposal_breakdown`.
    #[test]
    #[ignore = "a measurement; run by hand with --release"]
    fn get_proposal_breakdown() {
        let (base, new) = qcs_test_support::ten_thousand_hunks();
        let mut store = Store::open_in_memory().unwrap();
        store.create_profile(&pid("vim"), "").unwrap();
        store
            .put_file(&pid("vim"), &rp(".bench-hunks"), base.as_bytes(), 0o644)
            .unwrap();
        store.allow_proposals(&vm("personal"), &pid("vim")).unwrap();
        let id = store
            .submit_proposal(&NewProposal {
                source_qube: vm("personal"),
                profile: pid("vim"),
                path: rp(".bench-hunks"),
                content: new.as_bytes(),
                mode: Some(0o644),
                base_sha256: None,
                note: "",
            })
            .unwrap();
        let engine = Engine::load_default();
        let rules: Arc<str> = Arc::from(review::rules_fingerprint(&engine));
        for round in 0..3 {
            let t = Instant::now();
            let p = store.proposal(id).unwrap().unwrap();
            let key = ReviewKey::of(&store, id, p.status, &p.profile, &rules).unwrap();
            let read = t.elapsed();
            let t = Instant::now();
            let d = qcs_core::diff::diff(base.as_bytes(), new.as_bytes());
            let diff = t.elapsed();
            let t = Instant::now();
            let scanned = engine.scan_proposal(&[qcs_core::risk::ScanInput {
                path: ".bench-hunks",
                content: new.as_bytes(),
                base: Some(base.as_bytes()),
                mode: Some(0o644),
                kind: qcs_core::risk::FileKind::Regular,
            }]);
            let scan = t.elapsed();
            let t = Instant::now();
            let review = review::load(&store, &engine, &[id]).unwrap();
            let load = t.elapsed();
            let t = Instant::now();
            let view = proposal_view(&p, &review).unwrap();
            let viewed = t.elapsed();
            let t = Instant::now();
            let json = views::to_json(&view).unwrap();
            let serialized = t.elapsed();
            let diff_json = views::to_json(&view.diff).unwrap().len();
            let files_b64 = view.proposed_b64.len() + view.base_b64.as_ref().map_or(0, String::len);
            let t = Instant::now();
            drop((view, review));
            let dropped = t.elapsed();
            println!(
                "round {round}: proposal+key {read:.1?} ({} files) · diff alone {diff:.1?} \
                 ({} hunks, minimal {}) · scan alone {scan:.1?} ({} findings) · review::load (reads, diff, scan, place, digest) \
                 {load:.1?} · view (rendering) {viewed:.1?} · JSON {serialized:.1?} \
                 ({} bytes: diff {diff_json}, base+proposed b64 {files_b64}) · drop {dropped:.1?}",
                key.files.len(),
                d.hunks.len(),
                d.minimal,
                scanned.len(),
                json.len()
            );
        }
    }
}
