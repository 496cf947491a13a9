//! A plain-cargo stand-in for the fuzz targets: thousands of generated and mutated
//! inputs, from a deterministic PRNG, fed to every parser. Nothing may panic, every
//! accepted message must satisfy the limits, and re-serializing it must parse again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES};
use qcs_protocol::*;

/// xorshift64*, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64Star as Rng;

const INTERESTING: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b",",
    b":",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"\"../x\"",
    b"\"/etc/passwd\"",
    b"\"4755\"",
    b"\"\\u202e\"",
    b"\"\\u0000\"",
    b"\xff",
    b"\xc3",
    b"\"base64\"",
    b"\"utf-8\"",
    b"2",
    b"18446744073709551616",
    b"\"a\\nb\"",
];

fn seeds() -> Vec<Vec<u8>> {
    let content = Content::new(b"[user]\n\tname = x\n".to_vec()).unwrap();
    let sha = content.sha256();
    let path = path::validate_relative_path(".config/git/config").unwrap();
    let profile = profile::validate_profile_id("git").unwrap();
    let apply = ApplyRequest {
        version: Version,
        profile: profile.clone(),
        files: vec![ApplyFile {
            path: path.clone(),
            mode: mode::validate_mode(0o644).unwrap(),
            content: content.clone(),
            sha256: sha.clone(),
            base_sha256: Some(sha.clone()),
            write_policy: WritePolicy::Overwrite,
        }],
        removals: vec![ApplyRemoval {
            path: path::validate_relative_path(".vimrc").unwrap(),
            base_sha256: sha.clone(),
        }],
    };
    let binary = Content::new(vec![0, 0xff, 7]).unwrap();
    let propose = ProposeRequest {
        version: Version,
        profile: profile.clone(),
        files: vec![ProposedFile {
            path: path.clone(),
            mode: ObservedMode::new(0o600),
            sha256: binary.sha256(),
            content: binary,
            base_sha256: None,
        }],
        note: Some(Note::new("hi".into()).unwrap()),
    };
    let snapshot = SnapshotRequest {
        version: Version,
        profile: profile.clone(),
        paths: vec![path.clone()],
    };
    let rollback = RollbackRequest {
        version: Version,
        profile,
        backup_ids: vec![BackupId::parse("1-2-3").unwrap()],
        write_policy: WritePolicy::IfUnchanged,
        dry_run: true,
    };
    let reply = ServiceReply::Ok(ApplyReply {
        version: Version,
        backup_id: None,
        files: vec![FileResult {
            path,
            outcome: FileOutcome::Conflict {
                current_sha256: Some(sha),
            },
        }],
    });
    vec![
        to_json(&apply),
        to_json(&propose),
        to_json(&snapshot),
        to_json(&rollback),
        to_json(&reply),
    ]
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.truncate(at),
            2 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, piece.iter().copied());
            }
            3 if at < out.len() => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            4 => {
                let b = (rng.next() & 0xff) as u8;
                out.insert(at.min(out.len()), b);
            }
            _ => {
                let depth = rng.below(40);
                let nest: Vec<u8> = std::iter::repeat_n(b'[', depth).collect();
                out.splice(at..at, nest);
            }
        }
    }
    out
}

fn check<T>(bytes: &[u8], accepted: &mut usize)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(message) = parse_message::<T>(bytes) {
        *accepted += 1;
        let again: T = parse_message(&to_json(&message)).expect("re-serialized message parses");
        assert_eq!(again, message);
    }
}

#[test]
fn thousands_of_mutations_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0usize;
    let trials = 4000;
    for trial in 0..trials {
        let seed = &seeds[trial % seeds.len()];
        let input = mutate(&mut rng, seed);
        check::<ApplyRequest>(&input, &mut accepted);
        check::<SnapshotRequest>(&input, &mut accepted);
        check::<RollbackRequest>(&input, &mut accepted);
        check::<ProposeRequest>(&input, &mut accepted);
        check::<ServiceReply<ApplyReply>>(&input, &mut accepted);
        check::<ServiceReply<SnapshotReply>>(&input, &mut accepted);
        check::<ServiceReply<ProposeAccepted>>(&input, &mut accepted);
        if let Ok(request) = parse_message::<ApplyRequest>(&input) {
            assert!(request.files.len() <= MAX_FILES);
            for file in &request.files {
                assert!(file.content.len() <= MAX_FILE_BYTES);
                assert!(path::validate_relative_path(file.path.as_str()).is_ok());
                assert!(mode::ALLOWED.contains(&file.mode.bits()));
            }
        }
    }
    // Some mutations must survive (e.g. flips inside string data), or the test
    // exercised only the error paths.
    assert!(accepted > 0, "no mutated input was accepted");
    println!("{trials} mutated inputs, {accepted} accepted parses");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        let _ = parse_message::<ApplyRequest>(&bytes);
        let _ = parse_message::<ProposeRequest>(&bytes);
        let _ = path::validate_relative_path_bytes(&bytes);
    }
}
