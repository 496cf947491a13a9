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
}
