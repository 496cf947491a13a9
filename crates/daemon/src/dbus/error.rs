//! The D-Bus errors of `org.qubes.ConfigSync1`: `org.qubes.ConfigSync1.Error.<Variant>`,
//! each with a message for the user.

/// Errors returned by the backend's methods (and decoded by the client proxy).
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.qubes.ConfigSync1.Error")]
pub enum Error {
    /// A D-Bus level failure (connection lost, bad arguments, …).
    #[zbus(error)]
    ZBus(zbus::Error),
    /// A qube, profile, file, proposal, plan or job does not exist.
    NotFound(String),
    /// An argument is invalid (name, path, mode, hunk id, status, …).
    InvalidArgument(String),
    /// Refused by a rule of the store or the review (never-sync path, whitelist, quota,
    /// already decided, too large, …).
    Refused(String),
    /// The review gate refused an accept; the message is a JSON
    /// `client::types::ReviewRefusal` (reason code and the ids concerned).
    ReviewRefused(String),
    /// The Admin API failed or denied the call.
    AdminApi(String),
    /// A qrexec service call into a qube failed.
    Qrexec(String),
    /// The store failed (database error).
    Store(String),
    /// Anything else.
    Failed(String),
}
