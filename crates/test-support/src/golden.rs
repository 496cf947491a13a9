//! Where the golden qubesd recordings are: `crates/sim/tests/golden` in this repository
//! (recordings of a real qubesd; see its README.md), or the directory named by
//! `QCS_GOLDEN_DIR` to replay another recording set. Nothing here reads outside the
//! repository unless that variable says so.

use std::path::PathBuf;

/// The golden recordings directory (`QCS_GOLDEN_DIR` when set).
pub fn golden_dir() -> PathBuf {
    std::env::var_os("QCS_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sim/tests/golden"))
}

/// One file of the recordings (`world.json`, `transcripts.jsonl`, `events.jsonl`, …).
///
/// # Panics
/// When the file is missing: a test that needs the recordings must not pass without them.
pub fn golden_file(name: &str) -> PathBuf {
    let path = golden_dir().join(name);
    assert!(
        path.is_file(),
        "golden recording missing at {}",
        path.display()
    );
    path
}

/// The dom0 policy file the qrexec recordings were made with, as `qrexec.md` records it
/// (the fenced block after "Policy file used:"), so the tests evaluate exactly that policy.
///
/// # Panics
/// When `qrexec.md` is missing or no longer records the policy that way.
pub fn recorded_qrexec_policy() -> String {
    let path = golden_file("qrexec.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let after = text
        .split_once("Policy file used:")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("{} names no policy file", path.display()));
    let block = after
        .split_once("```\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("{}: the policy is not a fenced block", path.display()));
    block.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recordings_are_in_the_repository() {
        if std::env::var_os("QCS_GOLDEN_DIR").is_some() {
            return; // another set was chosen on purpose
        }
        let dir = golden_dir().canonicalize().expect("golden dir");
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .expect("repository");
        assert!(
            dir.starts_with(&repo),
            "{} outside {}",
            dir.display(),
            repo.display()
        );
        for name in ["world.json", "transcripts.jsonl", "events.jsonl"] {
            assert!(golden_file(name).starts_with(golden_dir()));
        }
    }

    #[test]
    fn the_recorded_policy_is_read_whole() {
        let policy = recorded_qrexec_policy();
        let lines: Vec<&str> = policy.lines().collect();
        assert!(lines.len() > 10, "{policy}");
        assert!(lines[0].starts_with("test.Dump "), "{policy}");
        assert!(policy.ends_with('\n'));
        assert!(!policy.contains("```"));
        // The recording's catch-all deny is part of it.
        assert!(
            lines
                .last()
                .is_some_and(|l| l.ends_with("deny") && l.starts_with('*'))
        );
    }
}
