//! The D-Bus backend `qubes-config-syncd` (single owner of the store) and the
//! command-line client `qvm-config-sync`.
//!
//! It must not contain review or storage logic of its own: that lives in `qcs-core`.
//! Today it holds the command-line client's commands that work without a backend
//! (`scan`); the commands that talk to the backend over D-Bus join [`cli`] later.

pub mod cli;
