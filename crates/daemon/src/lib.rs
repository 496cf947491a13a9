//! The D-Bus backend `qubes-config-syncd` (single owner of the store) and the
//! command-line client `qvm-config-sync`.
//!
//! It must not contain review or storage logic of its own: that lives in `qcs-core`.
