//! Requests a managed qube's agent parses: nothing may panic, and anything accepted
//! must satisfy the protocol's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES};
use qcs_protocol::{ApplyRequest, RollbackRequest, SnapshotRequest, parse_message};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_message::<ApplyRequest>(data) {
        assert!(request.files.len() <= MAX_FILES);
        for file in &request.files {
            assert!(file.content.len() <= MAX_FILE_BYTES);
            assert!(qcs_protocol::mode::ALLOWED.contains(&file.mode.bits()));
            assert!(qcs_protocol::path::validate_relative_path(file.path.as_str()).is_ok());
        }
    }
    if let Ok(request) = parse_message::<SnapshotRequest>(data) {
        assert!(request.paths.len() <= MAX_FILES);
    }
    if let Ok(request) = parse_message::<RollbackRequest>(data) {
        assert!(request.backup_ids.len() <= MAX_FILES);
    }
});
