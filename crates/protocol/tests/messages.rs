//! Every message round-trips, and every rule refuses with its exact error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use qcs_protocol::limits::{MAX_DEPTH, MAX_FILE_BYTES, MAX_FILES, MAX_REQUEST_BYTES};
use qcs_protocol::*;
use serde_json::{Value, json};

fn file(path: &str, content: &[u8]) -> Value {
    json!({
        "path": path,
        "mode": "0644",
        "content": {"encoding": "utf-8", "data": String::from_utf8_lossy(content)},
        "sha256": sha256_hex(content),
    })
}

fn apply_request(files: Vec<Value>) -> Value {
    json!({"version": 1, "profile": "git", "files": files})
}

fn parse_apply(value: &Value) -> Result<ApplyRequest, ProtocolError> {
    parse_message(value.to_string().as_bytes())
}

fn violation(result: Result<ApplyRequest, ProtocolError>) -> Violation {
    match result {
        Err(ProtocolError::Violation(v)) => v,
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn apply_request_roundtrips() {
    let value = apply_request(vec![file(".gitconfig", b"[user]\n")]);
    let request = parse_apply(&value).unwrap();
    assert_eq!(request.files[0].path.as_str(), ".gitconfig");
    assert_eq!(request.files[0].mode.bits(), 0o644);
    assert_eq!(request.files[0].write_policy, WritePolicy::IfUnchanged);
    assert_eq!(request.files[0].base_sha256, None);
    let again: ApplyRequest = parse_message(&to_json(&request)).unwrap();
    assert_eq!(again, request);
}

#[test]
fn every_message_roundtrips() {
    let content = Content::new(vec![0, 1, 0xff]).unwrap();
    let sha = content.sha256();
    let path = path::validate_relative_path(".vimrc").unwrap();
    let profile = profile::validate_profile_id("vim").unwrap();
    let backup = BackupId::parse("0001-2-3").unwrap();
    let snapshot = ServiceReply::Ok(SnapshotReply {
        version: Version,
        entries: vec![
            SnapshotEntry {
                path: path.clone(),
                state: PathState::File {
                    mode: ObservedMode::new(0o100664),
                    size: 3,
                    sha256: sha.clone(),
                    hardlinked: false,
                    content: Some(content.clone()),
                },
            },
            SnapshotEntry {
                path: path.clone(),
                state: PathState::Missing,
            },
            SnapshotEntry {
                path: path.clone(),
                state: PathState::Refused {
                    reason: FileRefusal::Symlink,
                    detail: "x".into(),
                },
            },
        ],
    });
    let back: ServiceReply<SnapshotReply> = parse_message(&to_json(&snapshot)).unwrap();
    assert_eq!(back, snapshot);

    let apply = ServiceReply::Ok(ApplyReply {
        version: Version,
        backup_id: Some(backup.clone()),
        files: vec![
            FileResult {
                path: path.clone(),
                outcome: FileOutcome::Written {
                    sha256: sha.clone(),
                    mode: mode::validate_mode(0o600).unwrap(),
                    in_place: true,
                    backed_up: true,
                },
            },
            FileResult {
                path: path.clone(),
                outcome: FileOutcome::Conflict {
                    current_sha256: None,
                },
            },
        ],
    });
    let back: ServiceReply<ApplyReply> = parse_message(&to_json(&apply)).unwrap();
    assert_eq!(back, apply);

    let rollback = RollbackRequest {
        version: Version,
        profile: profile.clone(),
        backup_ids: vec![backup.clone()],
        write_policy: WritePolicy::Overwrite,
        dry_run: false,
    };
    let back: RollbackRequest = parse_message(&to_json(&rollback)).unwrap();
    assert_eq!(back, rollback);

    let propose = ProposeRequest {
        version: Version,
        profile: profile.clone(),
        files: vec![ProposedFile {
            path: path.clone(),
            mode: ObservedMode::new(0o644),
            content: content.clone(),
            sha256: sha.clone(),
            base_sha256: Some(sha.clone()),
        }],
        note: Some(Note::new("from work".into()).unwrap()),
    };
    let spooled = SpooledProposal {
        version: Version,
        proposal_id: ProposalId::parse("0001-1").unwrap(),
        source_qube: validate_vm_name("work").unwrap(),
        profile,
        received_unix: 1,
        request: propose,
    };
    let back: SpooledProposal = parse_message(&to_json(&spooled)).unwrap();
    assert_eq!(back, spooled);

    let refused: ServiceReply<ProposeAccepted> =
        ServiceReply::Refused(Refusal::new(RefusalCode::QuotaExceeded, "full"));
    let text = String::from_utf8(to_json(&refused)).unwrap();
    assert_eq!(
        text,
        r#"{"refused":{"version":1,"code":"quota-exceeded","message":"full"}}"#
    );
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let mut top = apply_request(vec![file("a", b"x")]);
    top["extra"] = json!(1);
    let mut inner = apply_request(vec![file("a", b"x")]);
    inner["files"][0]["owner"] = json!("root");
    let mut content = apply_request(vec![file("a", b"x")]);
    content["files"][0]["content"]["compressed"] = json!(true);
    for value in [top, inner, content] {
        assert!(
            matches!(parse_apply(&value), Err(ProtocolError::Schema(_))),
            "{value}"
        );
    }
}

#[test]
fn version_must_match() {
    let mut value = apply_request(vec![]);
    value["version"] = json!(2);
    assert_eq!(
        violation(parse_apply(&value)),
        Violation::UnsupportedVersion { got: 2 }
    );
    let error = parse_apply(&value).unwrap_err();
    assert_eq!(error.refusal_code(), RefusalCode::UnsupportedVersion);
}

#[test]
fn each_field_rule_is_reported_exactly() {
    let mut bad_mode = apply_request(vec![file("a", b"x")]);
    bad_mode["files"][0]["mode"] = json!("4755");
    assert_eq!(
        violation(parse_apply(&bad_mode)),
        Violation::Mode(ModeError::NotAllowed(0o4755))
    );
    let mut bad_path = apply_request(vec![file("a", b"x")]);
    bad_path["files"][0]["path"] = json!("../.bashrc");
    assert_eq!(
        violation(parse_apply(&bad_path)),
        Violation::Path(PathError::DotDotComponent)
    );
    let mut bad_profile = apply_request(vec![]);
    bad_profile["profile"] = json!("../x");
    assert!(matches!(
        violation(parse_apply(&bad_profile)),
        Violation::ProfileId(_)
    ));
    let mut bad_hash = apply_request(vec![file("a", b"x")]);
    bad_hash["files"][0]["sha256"] = json!("00");
    assert_eq!(violation(parse_apply(&bad_hash)), Violation::Hash);
    let mut bad_b64 = apply_request(vec![file("a", b"x")]);
    bad_b64["files"][0]["content"] = json!({"encoding": "base64", "data": "!!!"});
    assert_eq!(violation(parse_apply(&bad_b64)), Violation::BadBase64);
}

#[test]
fn limits_are_enforced_while_parsing() {
    let too_many: Vec<Value> = (0..=MAX_FILES)
        .map(|i| file(&format!("f{i}"), b"x"))
        .collect();
    assert_eq!(
        violation(parse_apply(&apply_request(too_many))),
        Violation::TooManyFiles { limit: MAX_FILES }
    );
    let exactly: Vec<Value> = (0..MAX_FILES)
        .map(|i| file(&format!("f{i}"), b"x"))
        .collect();
    assert!(parse_apply(&apply_request(exactly)).is_ok());

    let big = vec![b'a'; MAX_FILE_BYTES + 1];
    assert!(matches!(
        violation(parse_apply(&apply_request(vec![file("big", &big)]))),
        Violation::FileTooLarge { .. }
    ));
    let fits = vec![b'a'; MAX_FILE_BYTES];
    assert!(parse_apply(&apply_request(vec![file("fits", &fits)])).is_ok());
    use base64::Engine as _;
    let mut b64 = apply_request(vec![file("big", b"")]);
    b64["files"][0]["content"] = json!({
        "encoding": "base64",
        "data": base64::engine::general_purpose::STANDARD.encode(&big),
    });
    assert!(matches!(
        violation(parse_apply(&b64)),
        Violation::FileTooLarge { .. }
    ));

    let long_path = "a".repeat(limits::MAX_PATH_BYTES + 1);
    assert!(matches!(
        violation(parse_apply(&apply_request(vec![file(&long_path, b"x")]))),
        Violation::Path(PathError::TooLong { .. })
    ));
}

#[test]
fn size_depth_encoding_and_syntax_errors() {
    let huge = vec![b' '; MAX_REQUEST_BYTES + 1];
    assert!(matches!(
        parse_message::<ApplyRequest>(&huge),
        Err(ProtocolError::TooLarge { .. })
    ));
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert!(matches!(
        parse_message::<ApplyRequest>(deep.as_bytes()),
        Err(ProtocolError::TooDeep { .. })
    ));
    let text = apply_request(vec![file("a", b"x")]).to_string();
    let truncated = &text.as_bytes()[..text.len() / 2];
    assert!(matches!(
        parse_message::<ApplyRequest>(truncated),
        Err(ProtocolError::Truncated(_))
    ));
    assert!(matches!(
        parse_message::<ApplyRequest>(b"{\"version\":1,}"),
        Err(ProtocolError::Syntax(_))
    ));
    let mut invalid_utf8 = text.clone().into_bytes();
    let at = text.find("\"a\"").unwrap() + 1;
    invalid_utf8[at] = 0xff;
    assert!(matches!(
        parse_message::<ApplyRequest>(&invalid_utf8),
        Err(ProtocolError::InvalidUtf8)
    ));
    assert!(matches!(
        parse_message::<ApplyRequest>(b"[1,2]"),
        Err(ProtocolError::Schema(_))
    ));
    assert!(matches!(
        parse_message::<ApplyRequest>(b""),
        Err(ProtocolError::Truncated(_))
    ));
}

#[test]
fn note_is_bounded() {
    let request = json!({
        "version": 1, "profile": "git", "files": [],
        "note": "n".repeat(limits::MAX_NOTE_BYTES + 1),
    });
    assert!(matches!(
        parse_message::<ProposeRequest>(request.to_string().as_bytes()),
        Err(ProtocolError::Violation(Violation::NoteTooLong { .. }))
    ));
}

#[test]
fn refusal_message_is_bounded() {
    let refusal = Refusal::new(RefusalCode::Schema, "é".repeat(2000));
    assert!(refusal.message.len() <= 1024);
}

#[test]
fn fuzz_seeds_are_valid_messages() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let parses = parse_message::<ApplyRequest>(&bytes).is_ok()
            || parse_message::<SnapshotRequest>(&bytes).is_ok()
            || parse_message::<RollbackRequest>(&bytes).is_ok()
            || parse_message::<ProposeRequest>(&bytes).is_ok()
            || parse_message::<ServiceReply<ApplyReply>>(&bytes).is_ok()
            || parse_message::<ServiceReply<ProposeAccepted>>(&bytes).is_ok();
        assert!(parses, "{}", String::from_utf8_lossy(&bytes));
        checked += 1;
    }
    assert!(checked >= 6);
}
