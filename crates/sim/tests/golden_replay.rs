//! The golden recordings of the real qubesd, replayed byte for byte, through
//! the library and through the stable `qubes-sim replay` command.

use std::path::PathBuf;
use std::process::Command;

/// `shared/golden/qubesd/` beside the repository.
fn golden_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden/qubesd");
    assert!(
        dir.join("world.json").is_file(),
        "golden recordings not found at {} — the repository expects shared/ beside it \
         (…/shared/golden/qubesd/{{world.json,transcripts.jsonl,events.jsonl}})",
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
