//! The D-Bus errors of `org.qubes.ConfigSync1` are the client contract's
//! (`qcs_client::Error`: `org.qubes.ConfigSync1.Error.<Kind>` with a JSON reason as the
//! message); the backend builds them from its `BackendError`.

pub use qcs_client::{Error, ErrorKind};
