//! Flood benchmark of issue 12 item 4 (DESIGN §2.2: a flood grows the store by a bounded
//! amount): 10 000 spooled submissions × 64 files from one qube, ingested by the real
//! backend (`Backend::ingest_spool`, a real SQLite store on disk), in three cases:
//!
//! * **refused, new paths** — the qube may propose the profile, but all 64 paths are new
//!   to it and not on its allowlist;
//! * **refused, not allowed** — the qube may not propose the profile at all;
//! * **allowed** — 64 files the profile has: the quota takes 256, the rest is refused.
//!
//! For each it reports the store's size on disk after the backend closed it (and the
//! WAL's size while it was open: SQLite's auto-checkpoint keeps it at about 1000 pages
//! and reuses it), the audit rows, the
//! proposals and the aggregated refusal rows it left, and the ingest time. Prints a
//! markdown table. `cargo bench -p qcs-daemon --bench flood` (`FLOOD_SUBMISSIONS=N` for
//! a smaller run).

use std::path::Path;
use std::time::Instant;

use qcs_daemon::backend::{Backend, BackendConfig};
use qcs_protocol::literal::{pid, rp, vm};
use qcs_protocol::{
    Content, ObservedMode, ProposalId, ProposeRequest, ProposedFile, SpooledProposal, Version,
};

const FILES: usize = 64;
const QUBE: &str = "flood";

#[derive(Clone, Copy)]
enum Case {
    NewPaths,
    NotAllowed,
    Allowed,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::NewPaths => "refused: new paths (may propose, no allowlist)",
            Case::NotAllowed => "refused: may not propose the profile",
            Case::Allowed => "allowed paths (quota 256 pending, rest refused)",
        }
    }
}

fn backend(dir: &Path) -> Backend {
    let config = BackendConfig {
        store_path: dir.join("store.sqlite"),
        spool_dir: Some(dir.join("spool")),
        qrexec_program: "/nonexistent/qrexec-client-vm".into(),
        max_parallel: 2,
        config_qube: "cfg".to_owned(),
        call_timeout: std::time::Duration::from_secs(5),
    };
    // The ingest needs no Admin API.
    let admin = qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(dir.join("no.sock")));
    Backend::open(config, admin).expect("open the backend")
}

fn spool(dir: &Path, paths: &[String], submissions: usize) {
    let spool = dir.join("spool").join(QUBE);
    std::fs::create_dir_all(&spool).expect("spool");
    let profile = qcs_protocol::profile::validate_profile_id("dots").expect("profile");
    for n in 0..submissions {
        let files = paths
            .iter()
            .map(|p| {
                let content =
                    Content::new(format!("# flood {n}\nset x={p}\n").into_bytes()).expect("c");
                ProposedFile {
                    path: qcs_protocol::path::validate_relative_path(p).expect("path"),
                    mode: ObservedMode::new(0o644),
                    sha256: content.sha256(),
                    content,
                    base_sha256: None,
                }
            })
            .collect();
        let id = format!("{n:020}-1");
        let record = SpooledProposal {
            version: Version,
            proposal_id: ProposalId::parse(&id).expect("id"),
            source_qube: qcs_protocol::validate_vm_name(QUBE).expect("qube"),
            profile: profile.clone(),
            received_unix: 1,
            request: ProposeRequest {
                version: Version,
                profile: profile.clone(),
                files,
                note: None,
            },
        };
        std::fs::write(
            spool.join(format!("{id}.json")),
            qcs_protocol::to_json(&record),
        )
        .expect("write the spool");
    }
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

struct Figures {
    before_bytes: u64,
    after_bytes: u64,
    wal_bytes: u64,
    audit_rows: usize,
    proposals: usize,
    refusal_rows: usize,
    refused_files: u64,
    seconds: f64,
}

fn run(case: Case, submissions: usize) -> Figures {
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    let dir = tmp.path();
    let backend = backend(dir);
    let known: Vec<String> = (0..FILES)
        .map(|i| format!(".config/dots/f{i:02}"))
        .collect();
    let planted: Vec<String> = (0..FILES).map(|i| format!(".planted/f{i:02}")).collect();
    backend
        .with_store(|s| {
            s.create_profile(&pid("dots"), "")?;
            for path in &known {
                s.put_file(&pid("dots"), &rp(path), b"set x=1\n", 0o644)?;
            }
            if !matches!(case, Case::NotAllowed) {
                s.allow_proposals(&vm(QUBE), &pid("dots"))?;
            }
            Ok(())
        })
        .expect("setup");
    let before_audit = backend
        .with_store(|s| Ok(s.audit_log(0, 100_000_000)?.len()))
        .expect("audit");
    // Closing the last connection checkpoints the WAL into the database file.
    drop(backend);
    let before_bytes = size_of(&dir.join("store.sqlite")) + size_of(&dir.join("store.sqlite-wal"));
    let backend = self::backend(dir);
    let paths = match case {
        Case::Allowed => &known,
        _ => &planted,
    };
    spool(dir, paths, submissions);
    let started = Instant::now();
    backend.ingest_spool().expect("ingest");
    let seconds = started.elapsed().as_secs_f64();
    let (audit_rows, proposals, refusals) = backend
        .with_store(|s| {
            Ok((
                s.audit_log(0, 100_000_000)?.len() - before_audit,
                s.proposals(None)?.len(),
                s.intake_refusals(None)?,
            ))
        })
        .expect("figures");
    let wal_bytes = size_of(&dir.join("store.sqlite-wal"));
    drop(backend);
    Figures {
        before_bytes,
        after_bytes: size_of(&dir.join("store.sqlite")) + size_of(&dir.join("store.sqlite-wal")),
        wal_bytes,
        audit_rows,
        proposals,
        refusal_rows: refusals.len(),
        refused_files: refusals.iter().map(|r| r.count).sum(),
        seconds,
    }
}

fn main() {
    let submissions: usize = std::env::var("FLOOD_SUBMISSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    println!(
        "\nFlood: {submissions} submissions × {FILES} files ({} files) from one qube\n",
        submissions * FILES
    );
    println!(
        "| case | store before → after | WAL while open | audit rows added | proposals | refusal rows (files counted) | ingest |"
    );
    println!("|---|---|---:|---:|---:|---|---:|");
    for case in [Case::NewPaths, Case::NotAllowed, Case::Allowed] {
        let f = run(case, submissions);
        println!(
            "| {} | {:.2} MB → {:.2} MB | {:.2} MB | {} | {} | {} ({}) | {:.1} s |",
            case.label(),
            f.before_bytes as f64 / 1e6,
            f.after_bytes as f64 / 1e6,
            f.wal_bytes as f64 / 1e6,
            f.audit_rows,
            f.proposals,
            f.refusal_rows,
            f.refused_files,
            f.seconds
        );
    }
}
