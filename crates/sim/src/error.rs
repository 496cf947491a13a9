//! Errors of the simulator's own machinery (world files, sockets, replay).
//!
//! These are *not* the errors qubesd sends to clients: those are Qubes
//! exceptions encoded on the wire, see [`crate::qubesd`].

use std::path::PathBuf;

/// Something went wrong loading, saving or serving a world.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("world file {path} is not valid: {source}")]
    WorldFormat {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("world is inconsistent: {0}")]
    WorldInvalid(String),
    #[error("socket {path}: {source}")]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("golden data {path}: {message}")]
    Golden { path: PathBuf, message: String },
}

impl SimError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        SimError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
