//! The D-Bus backend `qubes-config-syncd`, the single owner of the store.
//!
//! It must not contain review or storage logic of its own (that lives in `qcs-core`),
//! nor client code: the wire types, reason codes and proxy are `qcs-client` (re-exported
//! here as [`client`], since the backend serialises the same types); the command line
//! `qvm-config-sync` is `qcs-cli`. [`dbus`] is the backend's interface.

pub mod backend;
pub mod daemon;
pub mod dbus;

pub use qcs_client as client;
