//! The D-Bus backend `qubes-config-syncd` (single owner of the store) and the
//! command-line client `qvm-config-sync`.
//!
//! It must not contain review or storage logic of its own: that lives in `qcs-core`.
//! [`client`] is the D-Bus proxy and the shared serde types (used by the CLI, the GTK
//! app and the backend); [`dbus`] is the backend's interface; [`cli`] the command line,
//! whose `scan` works without a backend.

pub mod backend;
pub mod cli;
pub mod client;
pub mod daemon;
pub mod dbus;
