//! The parser and the validation rules against recordings of the real qubesd
//! (`crates/sim/tests/golden`, path overridable with `QCS_GOLDEN_DIR`).

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qubesadmin::wire::{EventParser, parse_event_stream, parse_reply};
use qubesadmin::{DenyReason, Error, validate};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    std::env::var_os("QCS_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sim/tests/golden"))
}

fn records(file: &str) -> Vec<Value> {
    let path = golden_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("golden file {} missing: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("golden line is JSON"))
        .collect()
}

fn b64(record: &Value, field: &str) -> Vec<u8> {
    STANDARD
        .decode(record[field].as_str().unwrap_or(""))
        .expect("base64 field")
}

fn text<'a>(record: &'a Value, field: &str) -> &'a str {
    record[field].as_str().unwrap_or("")
}

/// The qubesd message of an error reply (`2\0<cls>\0<tb>\0<msg>\0`).
fn recorded_error(response: &[u8]) -> Option<(String, String)> {
    let body = response.strip_prefix(b"2\0")?;
    let fields: Vec<&[u8]> = body.split(|b| *b == 0).collect();
    Some((
        String::from_utf8_lossy(fields[0]).into_owned(),
        String::from_utf8_lossy(fields[2]).into_owned(),
    ))
}

#[test]
fn every_recorded_reply_parses_to_its_outcome() {
    let records = records("transcripts.jsonl");
    assert!(records.len() >= 100, "expected the full golden set");
    for record in &records {
        let response = b64(record, "response_b64");
        let outcome = text(record, "outcome");
        let seq = &record["seq"];
        match (outcome, parse_reply(&response)) {
            ("ok", Ok(data)) => assert_eq!(data, &response[2..], "seq {seq}"),
            ("empty", Err(Error::AccessDenied(DenyReason::EmptyReply))) => {}
            (
                "error:PermissionDenied",
                Err(Error::AccessDenied(DenyReason::PermissionDenied(m))),
            ) => {
                assert!(!m.is_empty(), "seq {seq}");
            }
            (outcome, Err(Error::Qubes(e))) if outcome.strip_prefix("error:") == Some(&e.class) => {
                let (_, message) = recorded_error(&response).expect("error reply");
                assert_eq!(e.message, message, "seq {seq}");
            }
            (outcome, other) => panic!("seq {seq}: outcome {outcome} parsed as {other:?}"),
        }
    }
}

/// Every validation error qubesd recorded is reproduced by `validate` with
/// the same class and message, and every accepted request passes it.
#[test]
fn validation_matches_qubesd_on_recorded_requests() {
    let mut compared = 0;
    for record in records("transcripts.jsonl") {
        if record["raw_request"].as_bool() == Some(true) {
            continue;
        }
        let method = text(&record, "method");
        let arg = text(&record, "arg");
        let dest = text(&record, "dest");
        let payload = b64(&record, "payload_b64");
        let request = b64(&record, "request_b64");
        let response = b64(&record, "response_b64");
        let outcome = text(&record, "outcome");
        let seq = &record["seq"];

        let check: Result<(), validate::ValidationError> = (|| {
            if text(&record, "dest_type") == "name" {
                validate::vm_designator(dest)?;
            }
            validate::request_size(request.len())?;
            match method {
                "admin.vm.feature.Set" => validate::feature_assignment(arg, &payload),
                "admin.vm.tag.Get" | "admin.vm.tag.Set" | "admin.vm.tag.Remove"
                    if !arg.is_empty() =>
                {
                    validate::tag(arg)
                }
                "admin.label.Get" | "admin.label.Index" if !arg.is_empty() => {
                    validate::label_name(arg)
                }
                _ => Ok(()),
            }
        })();

        match (outcome, recorded_error(&response), check) {
            ("ok", _, Ok(())) => {}
            ("ok", _, Err(e)) => panic!("seq {seq}: qubesd accepted, client refuses: {e}"),
            (_, Some((class, message)), Err(e)) => {
                assert_eq!(e.to_string(), message, "seq {seq}");
                assert_eq!(e.qubesd_exception(), class, "seq {seq}");
                compared += 1;
            }
            // qubesd dropped the request (oversized, non-ASCII header); the
            // client refuses it before sending.
            ("empty", None, Err(_)) => {}
            // Errors that are not about syntax (missing objects, prohibited
            // features, unknown methods, missing arguments…).
            (_, Some((class, message)), Ok(())) => assert!(
                !matches!(
                    class.as_str(),
                    "QubesInvalidTagError" | "QubesInvalidLabelError"
                ) && !message.contains("illegal characters")
                    && !message.starts_with("invalid ")
                    && !message.starts_with("custom-persist key")
                    && !message.starts_with("VM name"),
                "seq {seq}: qubesd refused ({class}: {message}) but the client accepts"
            ),
            (_, None, _) => {}
        }
    }
    assert!(
        compared >= 19,
        "only {compared} recorded validation errors compared"
    );
}

#[test]
fn recorded_event_streams_parse_to_their_messages() {
    for record in records("events.jsonl") {
        let stream = b64(&record, "stream_b64");
        let events = parse_event_stream(&stream).expect("recorded stream parses");
        let messages = record["messages"].as_array().expect("messages");
        assert_eq!(events.len(), messages.len(), "{}", text(&record, "stream"));
        assert!(events[0].is_connection_established());
        for (event, message) in events.iter().zip(messages) {
            assert_eq!(
                event.subject.as_deref().unwrap_or(""),
                text(message, "subject")
            );
            assert_eq!(event.name, text(message, "event"));
            let kwargs: Vec<(String, String)> = message["kwargs"]
                .as_array()
                .expect("kwargs")
                .iter()
                .map(|kv| {
                    (
                        kv[0].as_str().unwrap_or("").to_owned(),
                        kv[1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            assert_eq!(event.kwargs, kwargs);
            // Each message alone is a valid one-event stream.
            let alone = parse_event_stream(&b64(message, "raw_b64")).expect("raw message parses");
            assert_eq!(&alone[..], std::slice::from_ref(event));
        }

        // Fed in the slices that arrived between actions, the parser yields
        // exactly the messages listed for each slice.
        let mut parser = EventParser::new();
        for step in record["bytes_per_step"].as_array().expect("steps") {
            let mut got = Vec::new();
            parser
                .feed(&b64(step, "bytes_b64"), &mut got)
                .expect("slice parses");
            let expected: Vec<(String, String)> = step["messages"]
                .as_array()
                .expect("step messages")
                .iter()
                .map(|m| {
                    (
                        m[0].as_str().unwrap_or("").to_owned(),
                        m[1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            let got: Vec<(String, String)> = got
                .into_iter()
                .map(|e| (e.subject.unwrap_or_default(), e.name))
                .collect();
            assert_eq!(got, expected);
        }
        parser.finish().expect("stream ends between events");
    }
}
