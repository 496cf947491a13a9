//! The D-Bus errors of `org.qubes.ConfigSync1`: `org.qubes.ConfigSync1.Error.<Kind>`,
//! whose message is a JSON [`Reason`] (a code with arguments). The error *name* tells a
//! program the kind of failure; a person is shown the reason's sentence, never the name.

use crate::reason::{Code, Reason};
use crate::types::ReviewRefusal;

/// Errors returned by the backend's methods (and decoded by the proxy). Each message is
/// the JSON of a [`Reason`]; read it with [`Error::reason`].
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
    /// already decided, too large, a no-op, dom0 or the config qube as a target, …).
    Refused(String),
    /// The review gate refused an accept; the message is a JSON
    /// [`ReviewRefusal`] (reason code and the ids concerned).
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

impl Error {
    /// Why the call failed, as a reason a client can render. A message that is not a
    /// reason fails closed into [`Code::Unknown`] (with the text as `detail`).
    pub fn reason(&self) -> Reason {
        match self {
            Error::ZBus(e) => bus_reason(e),
            Error::ReviewRefused(message) => ReviewRefusal::parse(message).reason(),
            Error::NotFound(m)
            | Error::InvalidArgument(m)
            | Error::Refused(m)
            | Error::AdminApi(m)
            | Error::Qrexec(m)
            | Error::Store(m)
            | Error::Failed(m) => Reason::from_message(m),
        }
    }

    /// Makes the error of `kind` carrying `reason` (the backend's side).
    pub fn of(kind: ErrorKind, reason: &Reason) -> Error {
        let m = reason.to_message();
        match kind {
            ErrorKind::NotFound => Error::NotFound(m),
            ErrorKind::InvalidArgument => Error::InvalidArgument(m),
            ErrorKind::Refused => Error::Refused(m),
            ErrorKind::AdminApi => Error::AdminApi(m),
            ErrorKind::Qrexec => Error::Qrexec(m),
            ErrorKind::Store => Error::Store(m),
            ErrorKind::Failed => Error::Failed(m),
        }
    }
}

/// A failure of the bus itself as a reason: the backend not on the bus (not running,
/// not activatable, gone) is `bus.unreachable`; the detail is the bus's message without
/// the D-Bus error name.
pub fn bus_reason(e: &zbus::Error) -> Reason {
    match e {
        zbus::Error::MethodError(name, message, _) => {
            let unreachable = [
                "org.freedesktop.DBus.Error.ServiceUnknown",
                "org.freedesktop.DBus.Error.NameHasNoOwner",
                "org.freedesktop.DBus.Error.NoReply",
                "org.freedesktop.DBus.Error.Disconnected",
                "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
            ]
            .contains(&name.as_str());
            let code = if unreachable {
                Code::BusUnreachable
            } else {
                Code::BusFailed
            };
            let detail = message.clone().unwrap_or_default();
            Reason::new(code).arg("detail", detail.chars().take(512).collect::<String>())
        }
        other => Reason::new(Code::BusFailed).arg("detail", other),
    }
}

/// The kinds of [`Error`] that carry a plain reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    Refused,
    AdminApi,
    Qrexec,
    Store,
    Failed,
}
