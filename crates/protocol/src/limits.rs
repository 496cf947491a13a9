//! Hard limits of the wire protocol (DESIGN §4), enforced on both ends.
//!
//! The request cap is checked before any parsing; every other limit is checked while
//! parsing, so an oversize or hostile message is refused before it can use memory
//! or time beyond these bounds.

/// Largest request or reply, in bytes, read from a qrexec stream.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Largest content of a single file, in bytes (after decoding).
pub const MAX_FILE_BYTES: usize = 256 * 1024;
/// Most files (or paths, or backup ids) in one message.
pub const MAX_FILES: usize = 64;
/// Longest relative path, in bytes of UTF-8.
pub const MAX_PATH_BYTES: usize = 4096;
/// Deepest nesting of JSON arrays and objects in a message. Our messages need 7.
pub const MAX_DEPTH: usize = 16;
/// Longest free-text note attached to a proposal, in bytes.
pub const MAX_NOTE_BYTES: usize = 4096;
/// Total raw file content the agent puts into one snapshot reply, so that the reply,
/// base64-encoded, stays under [`MAX_REQUEST_BYTES`]. Files beyond it are reported
/// with their hash but without content.
pub const MAX_SNAPSHOT_CONTENT_BYTES: usize = 5 * 1024 * 1024;
