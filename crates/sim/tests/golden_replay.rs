//! The golden recordings of the real qubesd, replayed byte for byte, through
//! the library and through the stable `qubes-sim replay` command.

use std::path::PathBuf;
use std::process::Command;

/// The copy of the golden recordings in this crate (`tests/golden/`).
fn golden_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    assert!(
        dir.join("world.json").is_file(),
        "golden recordings not found at {} (tests/golden/{{world.json,transcripts.jsonl,events.jsonl}})",
        dir.display()
    );
    dir
}

#[test]
fn golden_set_replays_without_difference() {
    let dir = golden_dir();
    let report = qcs_sim::replay::replay(
        &dir.join("world.json"),
        &dir.join("transcripts.jsonl"),
        Some(&dir.join("events.jsonl")),
    )
    .expect("replay runs");
    assert!(
        report.failed == 0,
        "{}\n{}",
        report.differences.join("\n"),
        report.summary()
    );
    // Every transcript record and every event step was compared.
    let transcripts = std::fs::read_to_string(dir.join("transcripts.jsonl")).expect("read");
    assert!(report.passed > transcripts.lines().count());
}

#[test]
fn replay_command_prints_summary_and_exit_code() {
    let dir = golden_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_qubes-sim"))
        .arg("replay")
        .arg("--world")
        .arg(dir.join("world.json"))
        .arg("--transcripts")
        .arg(dir.join("transcripts.jsonl"))
        .arg("--events")
        .arg(dir.join("events.jsonl"))
        .output()
        .expect("run qubes-sim");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" passed, 0 failed"),
        "last line: {last:?}\n{stdout}"
    );
    assert!(out.status.success());
}

#[test]
fn replay_command_reports_a_tampered_reply() {
    let dir = golden_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    // Change the expected body of the first record that has one.
    let text = std::fs::read_to_string(dir.join("transcripts.jsonl")).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut record: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut response = b64
        .decode(record["response_b64"].as_str().expect("field"))
        .expect("base64");
    response.extend_from_slice(b"tampered");
    record["response_b64"] = serde_json::Value::String(b64.encode(&response));
    lines[0] = record.to_string();
    let tampered = tmp.path().join("t.jsonl");
    std::fs::write(&tampered, lines.join("\n")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_qubes-sim"))
        .arg("replay")
        .arg("--world")
        .arg(dir.join("world.json"))
        .arg("--transcripts")
        .arg(&tampered)
        .output()
        .expect("run qubes-sim");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        lines[0].starts_with("seq 1 admin.vm.List: expected"),
        "{stdout}"
    );
    assert_eq!(
        lines.len(),
        2,
        "one difference line and the summary: {stdout}"
    );
    assert!(lines[1].ends_with(" passed, 1 failed"), "{stdout}");
}

#[test]
fn replay_command_refuses_missing_files() {
    let out = Command::new(env!("CARGO_BIN_EXE_qubes-sim"))
        .args([
            "replay",
            "--world",
            "/nonexistent/world.json",
            "--transcripts",
            "/nonexistent/t.jsonl",
        ])
        .output()
        .expect("run qubes-sim");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/world.json"));
}

/// The golden set with every qube renamed and every uuid changed (keeping
/// the order of names), rewritten consistently in the world, the requests and
/// the expected bytes. The simulator must still reproduce it exactly: proof
/// that nothing is tuned to the names or uuids of set A.
#[test]
fn renamed_golden_set_still_replays() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = golden_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let world_text = std::fs::read_to_string(dir.join("world.json")).expect("world");
    let world: serde_json::Value = serde_json::from_str(&world_text).expect("json");
    let mut map: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for vm in world["vms"].as_array().expect("vms") {
        let name = vm["name"].as_str().expect("name");
        if vm["class"] == "AdminVM" {
            continue;
        }
        // A suffix keeps every comparison with other names and tags as it was.
        map.push((name.as_bytes().to_vec(), format!("{name}x").into_bytes()));
        if let Some(uuid) = vm["uuid"].as_str() {
            // Rotate every hex digit: a different, still canonical uuid.
            let rotated: String = uuid
                .chars()
                .map(|c| match c.to_digit(16) {
                    Some(d) => std::char::from_digit((d + 1) % 16, 16).unwrap_or(c),
                    None => c,
                })
                .collect();
            map.push((uuid.as_bytes().to_vec(), rotated.into_bytes()));
        }
    }
    // Longest first, so no name is rewritten inside another.
    map.sort_by_key(|(old, _)| std::cmp::Reverse(old.len()));
    let rewrite = |bytes: &[u8]| -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let mut i = 0;
        'outer: while i < bytes.len() {
            for (old, new) in &map {
                if bytes[i..].starts_with(old) {
                    out.extend_from_slice(new);
                    i += old.len();
                    continue 'outer;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        out
    };
    let rewrite_value = |v: &mut serde_json::Value| {
        fn walk(
            v: &mut serde_json::Value,
            f: &dyn Fn(&[u8]) -> Vec<u8>,
            b64: &base64::engine::GeneralPurpose,
        ) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, val) in m.iter_mut() {
                        if k.ends_with("_b64")
                            && let Some(s) = val.as_str()
                        {
                            let raw = b64.decode(s).expect("base64");
                            *val = serde_json::Value::String(b64.encode(f(&raw)));
                        } else {
                            walk(val, f, b64);
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f, b64)),
                serde_json::Value::String(s) => {
                    *s = String::from_utf8(f(s.as_bytes())).expect("utf8");
                }
                _ => {}
            }
        }
        walk(v, &rewrite, &b64);
    };
    let rewrite_file = |name: &str| -> std::path::PathBuf {
        let text = std::fs::read_to_string(dir.join(name)).expect("read");
        let out: Vec<String> = if name.ends_with(".jsonl") {
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
                    rewrite_value(&mut v);
                    v.to_string()
                })
                .collect()
        } else {
            // Textual, so the order of features and properties is kept.
            vec![String::from_utf8(rewrite(text.as_bytes())).expect("utf8")]
        };
        let path = tmp.path().join(name);
        std::fs::write(&path, out.join("\n")).expect("write");
        path
    };
    let world_b = rewrite_file("world.json");
    let transcripts_b = rewrite_file("transcripts.jsonl");
    let events_b = rewrite_file("events.jsonl");
    assert!(
        !std::fs::read_to_string(&world_b)
            .expect("read")
            .contains("\"personal\"")
    );
    let report =
        qcs_sim::replay::replay(&world_b, &transcripts_b, Some(&events_b)).expect("replay");
    assert!(
        report.failed == 0,
        "{}\n{}",
        report.differences.join("\n"),
        report.summary()
    );
}
