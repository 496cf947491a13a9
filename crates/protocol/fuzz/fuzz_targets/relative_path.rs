//! Path validation on raw bytes: an accepted path has no forbidden component or
//! character.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = qcs_protocol::path::validate_relative_path_bytes(data) {
        for component in path.components() {
            assert!(!component.is_empty() && component != "." && component != "..");
            assert!(!component.starts_with('-'));
        }
        assert!(!path.as_str().chars().any(qcs_protocol::path::is_forbidden_char));
    }
});
