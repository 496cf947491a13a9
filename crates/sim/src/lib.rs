//! "Qubes in a directory": a qubesd-compatible Admin API server on a unix socket
//! and a `qrexec-client-vm`-compatible client, for the demo and for tests.
//!
//! It must behave like Qubes — same wire format, same errors, same environment for
//! services — so production code runs on it unchanged. It must not be linked into
//! production code paths other than the demo launcher.
