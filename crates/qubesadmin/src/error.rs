//! The one error type of the crate and its parts.

use crate::validate::ValidationError;

/// Everything an Admin API call can end in, other than success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The call was refused: an empty reply from qubesd, a `PermissionDenied`
    /// exception, or qrexec policy (exit code 126). These look different on
    /// the wire but mean the same to a caller.
    #[error("access denied: {0}")]
    AccessDenied(DenyReason),

    /// qubesd raised an exception (`2\0<type>\0…`).
    #[error(transparent)]
    Qubes(#[from] QubesError),

    /// The reply did not follow the wire format or a method's output format.
    #[error("malformed reply from qubesd: {0}")]
    Protocol(#[from] ProtocolError),

    /// The channel to qubesd failed (socket, qrexec-client-vm process).
    #[error(transparent)]
    Transport(#[from] TransportError),

    /// A name or value was refused before anything was sent.
    #[error("invalid request: {0}")]
    Validation(#[from] ValidationError),
}

impl Error {
    /// The qubesd exception kind, when this is a qubesd exception.
    pub fn kind(&self) -> Option<&ExceptionKind> {
        match self {
            Error::Qubes(e) => Some(&e.kind),
            _ => None,
        }
    }

    /// True for "access denied" in any of its forms.
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Error::AccessDenied(_))
    }

    /// True when qubesd said the object (VM, feature, tag, label, property)
    /// does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.kind(),
            Some(
                ExceptionKind::VmNotFound
                    | ExceptionKind::FeatureNotFound
                    | ExceptionKind::TagNotFound
                    | ExceptionKind::LabelNotFound
                    | ExceptionKind::NoSuchProperty
            )
        )
    }
}

/// Which form the refusal took.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// qubesd closed the connection without a reply (R4.2/R4.3 denial, but
    /// also framing errors and internal errors of qubesd).
    #[error("got empty response from qubesd")]
    EmptyReply,
    /// qubesd ≥ 4.4 sends `PermissionDenied` with a message.
    #[error("{0}")]
    PermissionDenied(String),
    /// qrexec policy refused the call (`qrexec-client-vm` exit code 126).
    #[error("refused by qrexec policy: {0}")]
    QrexecPolicy(String),
}

/// An exception reported by qubesd.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class}: {message}")]
pub struct QubesError {
    /// The exception class exactly as sent, e.g. `QubesFeatureNotFoundError`.
    pub class: String,
    /// The class mapped to a kind the code can match on.
    pub kind: ExceptionKind,
    /// The message (decoded lossily: it is shown, never parsed).
    pub message: String,
    /// The traceback field; empty unless qubesd runs in debug mode.
    pub traceback: String,
    /// Further `\0`-terminated fields after the message, if any.
    pub extra: Vec<String>,
}

/// qubesd exception classes the client tells apart (`qubes/exc.py`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExceptionKind {
    VmNotFound,
    FeatureNotFound,
    TagNotFound,
    LabelNotFound,
    NoSuchProperty,
    Value,
    PropertyValue,
    InvalidTag,
    InvalidLabel,
    InvalidLabelValue,
    Protocol,
    VmNotRunning,
    VmNotHalted,
    VmNotStarted,
    VmError,
    VmInvalidUuid,
    VmAlreadyExists,
    VmInUse,
    NoTemplate,
    NotImplemented,
    Memory,
    /// The base class `QubesException`.
    Generic,
    /// Any other class; its name is in [`QubesError::class`].
    Other,
}

impl ExceptionKind {
    /// Map an exception class name as qubesd sends it.
    pub fn from_class(class: &str) -> Self {
        match class {
            "QubesVMNotFoundError" => Self::VmNotFound,
            "QubesFeatureNotFoundError" => Self::FeatureNotFound,
            "QubesTagNotFoundError" => Self::TagNotFound,
            "QubesLabelNotFoundError" => Self::LabelNotFound,
            "QubesNoSuchPropertyError" => Self::NoSuchProperty,
            "QubesValueError" => Self::Value,
            "QubesPropertyValueError" => Self::PropertyValue,
            "QubesInvalidTagError" => Self::InvalidTag,
            "QubesInvalidLabelError" => Self::InvalidLabel,
            "QubesInvalidLabelValueError" => Self::InvalidLabelValue,
            "ProtocolError" => Self::Protocol,
            "QubesVMNotRunningError" => Self::VmNotRunning,
            "QubesVMNotHaltedError" => Self::VmNotHalted,
            "QubesVMNotStartedError" => Self::VmNotStarted,
            "QubesVMError" => Self::VmError,
            "QubesVMInvalidUUIDError" => Self::VmInvalidUuid,
            "QubesVMAlreadyExistsError" => Self::VmAlreadyExists,
            "QubesVMInUseError" => Self::VmInUse,
            "QubesNoTemplateError" => Self::NoTemplate,
            "QubesNotImplementedError" => Self::NotImplemented,
            "QubesMemoryError" => Self::Memory,
            "QubesException" => Self::Generic,
            _ => Self::Other,
        }
    }
}

/// A reply that breaks the wire format or a method's output format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("unknown reply type {0:?} (expected '0', '1' or '2' followed by NUL)")]
    UnknownReplyType(Vec<u8>),
    #[error("reply ends inside its header")]
    TruncatedHeader,
    #[error("exception reply is truncated: missing {0}")]
    TruncatedException(&'static str),
    #[error("event stream ended inside an event ({0} bytes pending)")]
    UnterminatedEvent(usize),
    #[error("reply exceeds the limit of {limit} bytes")]
    ReplyTooLarge { limit: usize },
    #[error("event frame exceeds the limit of {limit} bytes")]
    EventTooLarge { limit: usize },
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },
    #[error("{field} is empty")]
    EmptyField { field: &'static str },
    #[error("exception class is not an identifier: {0:?}")]
    BadExceptionClass(String),
    #[error("method returned data where an event stream was expected")]
    UnexpectedSuccess,
    #[error("method returned an event where a single reply was expected")]
    UnexpectedEvent,
    #[error("event stream already failed; reconnect")]
    StreamFailed,
    #[error("unexpected output of {method}: {detail}")]
    BadOutput { method: String, detail: String },
}

impl ProtocolError {
    pub(crate) fn bad_output(method: &str, detail: impl Into<String>) -> Self {
        ProtocolError::BadOutput {
            method: method.to_owned(),
            detail: detail.into(),
        }
    }
}

/// A failure of the channel to qubesd.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("I/O error talking to qubesd: {0}")]
    Io(#[from] std::io::Error),
    /// qubesd (or qrexec) closed an event stream.
    #[error("event stream closed by qubesd")]
    StreamClosed,
    /// `qrexec-client-vm` failed for a reason other than policy (e.g. 125
    /// qrexec problem, 127 service not found, or a signal).
    #[error("service call error (exit {code:?}): {stderr}")]
    ServiceCall { code: Option<i32>, stderr: String },
}
