//! What the config qube parses from managed qubes (proposals, agent replies) and
//! from its own spool: nothing may panic; accepted proposals respect the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES};
use qcs_protocol::{
    ApplyReply, ProposeAccepted, ProposeRequest, RollbackReply, ServiceReply, SnapshotReply,
    SpooledProposal, parse_message,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_message::<ProposeRequest>(data) {
        assert!(request.files.len() <= MAX_FILES);
        assert!(request.files.iter().all(|f| f.content.len() <= MAX_FILE_BYTES));
    }
    let _ = parse_message::<SpooledProposal>(data);
    let _ = parse_message::<ServiceReply<ApplyReply>>(data);
    let _ = parse_message::<ServiceReply<SnapshotReply>>(data);
    let _ = parse_message::<ServiceReply<RollbackReply>>(data);
    let _ = parse_message::<ServiceReply<ProposeAccepted>>(data);
});
