//! The exception hierarchy, named and shaped like Python `qubesadmin.exc`, and the
//! mapping of every Rust error of the bindings onto it.
//!
//! `qubesadmin` uses multiple inheritance (`QubesFeatureNotFoundError` is both a
//! `QubesException` and a `KeyError`), which `create_exception!` cannot express, so
//! the classes are built once per process with `type(name, bases, namespace)`.

use pyo3::exceptions::PyNotImplementedError;
use pyo3::exceptions::{
    PyAssertionError, PyAttributeError, PyException, PyKeyError, PyMemoryError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use qubesadmin::{DenyReason, Error as AdminError, ExceptionKind, TransportError};

/// Module the classes claim to live in (for `repr` and pickling).
const MODULE: &str = "qubes_config_sync";

/// One exception class: its name, its parents (names of classes defined earlier
/// in [`CLASSES`], or Python built-ins) and its docstring.
struct ClassSpec {
    name: &'static str,
    bases: &'static [Base],
    doc: &'static str,
}

#[derive(Clone, Copy)]
enum Base {
    Ours(&'static str),
    Exception,
    KeyError,
    ValueError,
    AttributeError,
    NotImplementedError,
    MemoryError,
    AssertionError,
}

/// Every class, parents before children. Names and parents follow
/// `qubesadmin/exc.py` (all of its classes, so that a qubesd exception maps to
/// the class `qubesadmin` picks by name); the last four are this project's own.
const CLASSES: &[ClassSpec] = &[
    ClassSpec {
        name: "QubesException",
        bases: &[Base::Exception],
        doc: "Base exception for all Qubes-related errors.",
    },
    ClassSpec {
        name: "QubesVMNotFoundError",
        bases: &[Base::Ours("QubesException"), Base::KeyError],
        doc: "Domain cannot be found in the system.",
    },
    ClassSpec {
        name: "QubesVMInvalidUUIDError",
        bases: &[Base::Ours("QubesException")],
        doc: "Domain UUID is invalid.",
    },
    ClassSpec {
        name: "QubesVMError",
        bases: &[Base::Ours("QubesException")],
        doc: "Some problem with domain state.",
    },
    ClassSpec {
        name: "QubesVMNotStartedError",
        bases: &[Base::Ours("QubesVMError")],
        doc: "Domain is not started.",
    },
    ClassSpec {
        name: "QubesVMNotRunningError",
        bases: &[Base::Ours("QubesVMNotStartedError")],
        doc: "Domain is not running.",
    },
    ClassSpec {
        name: "QubesVMNotPausedError",
        bases: &[Base::Ours("QubesVMNotStartedError")],
        doc: "Domain is not paused.",
    },
    ClassSpec {
        name: "QubesVMNotSuspendedError",
        bases: &[Base::Ours("QubesVMError")],
        doc: "Domain is not suspended.",
    },
    ClassSpec {
        name: "QubesVMShutdownTimeoutError",
        bases: &[Base::Ours("QubesVMError")],
        doc: "Domain shutdown timed out.",
    },
    ClassSpec {
        name: "QubesVMAlreadyStartedError",
        bases: &[Base::Ours("QubesVMError")],
        doc: "Requested qube to start, but it's already running.",
    },
    ClassSpec {
        name: "QubesPoolInUseError",
        bases: &[Base::Ours("QubesException")],
        doc: "Pool is in use, cannot remove.",
    },
    ClassSpec {
        name: "QubesVMNotHaltedError",
        bases: &[Base::Ours("QubesVMError")],
        doc: "Domain is not halted.",
    },
    ClassSpec {
        name: "QubesNoTemplateError",
        bases: &[Base::Ours("QubesVMError")],
        doc: "Cannot start domain, because there is no template.",
    },
    ClassSpec {
        name: "QubesVMInUseError",
        bases: &[Base::Ours("QubesVMError")],
        doc: "VM is in use, cannot remove.",
    },
    ClassSpec {
        name: "QubesValueError",
        bases: &[Base::Ours("QubesException"), Base::ValueError],
        doc: "Cannot set some value, because it is invalid, out of bounds, etc.",
    },
    ClassSpec {
        name: "QubesPropertyValueError",
        bases: &[Base::Ours("QubesValueError")],
        doc: "Cannot set value of a property, because the value is wrong.",
    },
    ClassSpec {
        name: "QubesNoSuchPropertyError",
        bases: &[Base::Ours("QubesException"), Base::AttributeError],
        doc: "Requested property does not exist.",
    },
    ClassSpec {
        name: "QubesNotImplementedError",
        bases: &[Base::Ours("QubesException"), Base::NotImplementedError],
        doc: "Some feature is not implemented.",
    },
    ClassSpec {
        name: "BackupCancelledError",
        bases: &[Base::Ours("QubesException")],
        doc: "Backup was manually cancelled.",
    },
    ClassSpec {
        name: "BackupAlreadyRunningError",
        bases: &[Base::Ours("QubesException")],
        doc: "The same backup is already running.",
    },
    ClassSpec {
        name: "QubesMemoryError",
        bases: &[Base::Ours("QubesVMError"), Base::MemoryError],
        doc: "Cannot start domain, because not enough memory is available.",
    },
    ClassSpec {
        name: "QubesFeatureNotFoundError",
        bases: &[Base::Ours("QubesException"), Base::KeyError],
        doc: "Feature not set for a given domain.",
    },
    ClassSpec {
        name: "QubesTagNotFoundError",
        bases: &[Base::Ours("QubesException"), Base::KeyError],
        doc: "Tag not set for a given domain.",
    },
    ClassSpec {
        name: "QubesLabelNotFoundError",
        bases: &[Base::Ours("QubesException"), Base::KeyError],
        doc: "Label does not exist.",
    },
    ClassSpec {
        name: "ProtocolError",
        bases: &[Base::AssertionError],
        doc: "Raised when something is wrong with data received (qubesd's ProtocolError).",
    },
    ClassSpec {
        name: "PermissionDenied",
        bases: &[Base::Exception],
        doc: "Raised deliberately by qubesd's handlers when they decide not to cooperate.",
    },
    ClassSpec {
        name: "DeviceNotAssigned",
        bases: &[Base::Ours("QubesException"), Base::KeyError],
        doc: "Trying to unassign not assigned device.",
    },
    ClassSpec {
        name: "DeviceAlreadyAttached",
        bases: &[Base::Ours("QubesException"), Base::KeyError],
        doc: "Trying to attach already attached device.",
    },
    ClassSpec {
        name: "DeviceAlreadyAssigned",
        bases: &[Base::Ours("QubesException"), Base::KeyError],
        doc: "Trying to assign already assigned device.",
    },
    ClassSpec {
        name: "UnrecognizedDevice",
        bases: &[Base::Ours("QubesException"), Base::ValueError],
        doc: "Device identity is not as expected.",
    },
    ClassSpec {
        name: "UnexpectedDeviceProperty",
        bases: &[Base::Ours("QubesException"), Base::ValueError],
        doc: "Device has unexpected property such as backend_domain, devclass etc.",
    },
    ClassSpec {
        name: "StoragePoolException",
        bases: &[Base::Ours("QubesException")],
        doc: "A general storage exception.",
    },
    ClassSpec {
        name: "QubesDaemonCommunicationError",
        bases: &[Base::Ours("QubesException")],
        doc: "Error while communicating with qubesd (or a malformed reply from it).",
    },
    ClassSpec {
        name: "BackupRestoreError",
        bases: &[Base::Ours("QubesException")],
        doc: "Restoring a backup failed.",
    },
    ClassSpec {
        name: "QubesDaemonAccessError",
        bases: &[Base::Ours("QubesDaemonCommunicationError")],
        doc: "Got an empty response from qubesd, or the qrexec call failed (e.g. refused \
              by policy). This can be lack of permission, or some server-side issue.",
    },
    ClassSpec {
        name: "QubesPropertyAccessError",
        bases: &[Base::Ours("QubesDaemonAccessError"), Base::AttributeError],
        doc: "Failed to read a property value (access refused).",
    },
    ClassSpec {
        name: "QubesNotesError",
        bases: &[Base::Ours("QubesException")],
        doc: "Some problem with qube notes.",
    },
    ClassSpec {
        name: "ConfigSyncError",
        bases: &[Base::Ours("QubesException")],
        doc: "An error reported by the qubes-config-sync backend (qubes-config-syncd).",
    },
    ClassSpec {
        name: "ConfigSyncNotFoundError",
        bases: &[Base::Ours("ConfigSyncError"), Base::KeyError],
        doc: "The backend does not know the profile, qube or proposal named.",
    },
    ClassSpec {
        name: "ConfigSyncRefusedError",
        bases: &[Base::Ours("ConfigSyncError")],
        doc: "The backend refused the request (e.g. accepting a proposal whose gated \
              findings were not acknowledged; then `code` is the review's reason code and \
              `ids` the findings concerned).",
    },
    ClassSpec {
        name: "ConfigSyncConnectionError",
        bases: &[Base::Ours("ConfigSyncError")],
        doc: "The backend could not be reached over D-Bus.",
    },
];

/// Classes deriving from `KeyError`: their `str()` must be the message, not the
/// `repr()` of it that `KeyError.__str__` gives (as `qubesadmin` does).
fn derives_key_error(spec: &ClassSpec) -> bool {
    spec.bases.iter().any(|b| match b {
        Base::KeyError => true,
        Base::Ours(parent) => CLASSES
            .iter()
            .find(|c| c.name == *parent)
            .is_some_and(derives_key_error),
        _ => false,
    })
}

/// The classes, built on first use.
static TYPES: PyOnceLock<Vec<(&'static str, Py<PyType>)>> = PyOnceLock::new();

fn types(py: Python<'_>) -> PyResult<&Vec<(&'static str, Py<PyType>)>> {
    TYPES.get_or_try_init(py, || build(py))
}

fn build(py: Python<'_>) -> PyResult<Vec<(&'static str, Py<PyType>)>> {
    let builtins = py.import("builtins")?;
    let type_ = builtins.getattr("type")?;
    let exception_str = py.get_type::<PyException>().getattr("__str__")?;
    let mut built: Vec<(&'static str, Py<PyType>)> = Vec::with_capacity(CLASSES.len());
    for spec in CLASSES {
        let mut bases = Vec::with_capacity(spec.bases.len());
        for base in spec.bases {
            let ty = match base {
                Base::Ours(name) => built
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, t)| t.bind(py).clone())
                    .ok_or_else(|| {
                        pyo3::exceptions::PyRuntimeError::new_err(format!(
                            "exception {name} used before it is defined"
                        ))
                    })?,
                Base::Exception => py.get_type::<PyException>(),
                Base::KeyError => py.get_type::<PyKeyError>(),
                Base::ValueError => py.get_type::<PyValueError>(),
                Base::AttributeError => py.get_type::<PyAttributeError>(),
                Base::NotImplementedError => py.get_type::<PyNotImplementedError>(),
                Base::MemoryError => py.get_type::<PyMemoryError>(),
                Base::AssertionError => py.get_type::<PyAssertionError>(),
            };
            bases.push(ty);
        }
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", MODULE)?;
        namespace.set_item("__doc__", spec.doc)?;
        if derives_key_error(spec) {
            namespace.set_item("__str__", &exception_str)?;
        }
        // Class-level defaults, so the attributes exist on every instance.
        match spec.name {
            "QubesException" => namespace.set_item("qubesd_class", py.None())?,
            "ConfigSyncError" => namespace.set_item("dbus_error", py.None())?,
            _ => {}
        }
        let class = type_.call1((spec.name, PyTuple::new(py, bases)?, namespace))?;
        built.push((spec.name, class.cast_into::<PyType>()?.unbind()));
    }
    Ok(built)
}

/// Adds every class to the module, plus `qubesadmin`'s legacy alias
/// `QubesDaemonNoResponseError`.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    for (name, class) in types(py)? {
        module.add(*name, class.bind(py))?;
    }
    module.add(
        "QubesDaemonNoResponseError",
        class(py, "QubesDaemonAccessError")?,
    )?;
    Ok(())
}

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    types(py)?
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t.bind(py).clone())
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err(format!("no exception {name}")))
}

/// A new exception of the class `name` with `message`.
pub fn new_err(name: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| match class(py, name) {
        Ok(ty) => PyErr::from_type(ty, (message,)),
        Err(e) => e,
    })
}

/// Like [`new_err`], with attributes set on the exception object (e.g. which
/// qubesd class it came from).
fn new_err_with(name: &str, message: String, attributes: &[(&str, &str)]) -> PyErr {
    Python::attach(|py| {
        let err = new_err(name, message);
        let value = err.value(py);
        for (key, attr) in attributes {
            if let Err(e) = value.setattr(*key, *attr) {
                return e;
            }
        }
        err
    })
}

/// The message `qubesadmin` shows for an empty reply from qubesd.
pub const EMPTY_REPLY_MESSAGE: &str =
    "Got empty response from qubesd. See journalctl in dom0 for details.";

/// The exception `qubesadmin._parse_qubesd_response` raises for a qubesd
/// exception `class` with `message` and further fields `args`: the class of
/// that name in `qubesadmin.exc` (all of which are defined here), else a
/// built-in exception of that name if it ends in `Error`, else
/// `QubesException`. `QubesException` and its subclasses format the message
/// with the fields (`message % args`, digits as ints), as `qubesadmin` does;
/// a formatting failure is raised as Python raises it there.
fn qubesd_exception(class_name: &str, message: &str, args: &[String]) -> PyErr {
    Python::attach(|py| {
        let chosen = match class(py, class_name) {
            Ok(ty) if !OWN_CLASSES.contains(&class_name) => Ok(ty),
            _ => builtin_error(py, class_name).map_or_else(|| class(py, "QubesException"), Ok),
        };
        let ty = match chosen {
            Ok(ty) => ty,
            Err(e) => return e,
        };
        let result = (|| -> PyResult<PyErr> {
            let base = class(py, "QubesException")?;
            let err = if ty.is_subclass(&base)? {
                if let Some(reason) = oversized_conversion(message) {
                    return Ok(new_err(
                        "QubesDaemonCommunicationError",
                        format!("malformed exception message from qubesd: {reason}"),
                    ));
                }
                let mut fields = Vec::with_capacity(args.len());
                for a in args {
                    fields.push(format_field(py, a)?);
                }
                let fields = PyTuple::new(py, fields)?;
                let text = pyo3::types::PyString::new(py, message).rem(&fields)?;
                PyErr::from_type(ty.clone(), (text.unbind(),))
            } else {
                let mut all: Vec<Py<PyAny>> =
                    vec![pyo3::types::PyString::new(py, message).into_any().unbind()];
                all.extend(
                    args.iter()
                        .map(|a| pyo3::types::PyString::new(py, a).into_any().unbind()),
                );
                PyErr::from_type(ty.clone(), PyTuple::new(py, all)?.unbind())
            };
            let _ = err.value(py).setattr("qubesd_class", class_name);
            Ok(err)
        })();
        result.unwrap_or_else(|e| e)
    })
}

/// Widest field width or precision a message may ask `%` for: beyond it a reply could
/// make the client allocate without bound (`%2000000000s`). qubesd's own messages
/// never come near it.
const MAX_CONVERSION_WIDTH: u64 = 4096;

/// Why `message % args` must not run: a `*` width or a width/precision over
/// [`MAX_CONVERSION_WIDTH`] in a conversion specification.
fn oversized_conversion(message: &str) -> Option<String> {
    let bytes = message.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'(') {
            // A mapping key: `%` with a tuple fails on it anyway; skip the key.
            while i < bytes.len() && bytes[i] != b')' {
                i += 1;
            }
            i += 1;
        }
        while i < bytes.len() && b"-+ #0".contains(&bytes[i]) {
            i += 1;
        }
        for part in 0..2 {
            if part == 1 {
                if bytes.get(i) != Some(&b'.') {
                    break;
                }
                i += 1;
            }
            if bytes.get(i) == Some(&b'*') {
                return Some("a '*' width".to_owned());
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &message[start..i];
            let too_wide = digits.len() > 4
                || digits
                    .parse::<u64>()
                    .is_ok_and(|w| w > MAX_CONVERSION_WIDTH);
            if too_wide {
                return Some(format!("a field width of {digits}"));
            }
        }
        i += 1;
    }
    None
}

/// One field of a qubesd exception as `qubesadmin` passes it to `%`: an
/// `int` when it is all digits, else the text.
fn format_field(py: Python<'_>, field: &str) -> PyResult<Py<PyAny>> {
    let text = pyo3::types::PyString::new(py, field);
    if !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(py.get_type::<pyo3::types::PyInt>().call1((text,))?.unbind());
    }
    Ok(text.into_any().unbind())
}

/// This project's own classes: never chosen for a qubesd exception name.
const OWN_CLASSES: [&str; 4] = [
    "ConfigSyncError",
    "ConfigSyncNotFoundError",
    "ConfigSyncRefusedError",
    "ConfigSyncConnectionError",
];

/// `__builtins__.get(name)` for a name ending in `Error` that is an exception.
fn builtin_error<'py>(py: Python<'py>, name: &str) -> Option<Bound<'py, PyType>> {
    if !name.ends_with("Error") {
        return None;
    }
    let value = py.import("builtins").ok()?.getattr(name).ok()?;
    let ty = value.cast_into::<PyType>().ok()?;
    ty.is_subclass_of::<pyo3::exceptions::PyBaseException>()
        .unwrap_or(false)
        .then_some(ty)
}

/// Maps an Admin API error onto what `qubesadmin` raises for the same answer:
/// qubesd's exceptions by class name (see [`qubesd_exception`]; the class as
/// sent is kept in the attribute `qubesd_class`), an empty reply and a failed
/// qrexec call as `QubesDaemonAccessError` with `qubesadmin`'s messages.
pub fn admin_error(error: AdminError) -> PyErr {
    match error {
        AdminError::AccessDenied(DenyReason::EmptyReply) => {
            new_err("QubesDaemonAccessError", EMPTY_REPLY_MESSAGE)
        }
        AdminError::AccessDenied(DenyReason::QrexecPolicy(stderr))
        | AdminError::Transport(TransportError::ServiceCall { stderr, .. }) => new_err(
            "QubesDaemonAccessError",
            format!("Service call error: {stderr}"),
        ),
        AdminError::AccessDenied(DenyReason::PermissionDenied(message)) => {
            qubesd_exception("PermissionDenied", &message, &[])
        }
        AdminError::Qubes(e) => qubesd_exception(&e.class, &e.message, &e.extra),
        AdminError::Transport(TransportError::Connect { source, .. })
        | AdminError::Transport(TransportError::Spawn { source, .. }) => new_err(
            "QubesDaemonCommunicationError",
            format!("Failed to connect to qubesd service: {source}"),
        ),
        error @ (AdminError::Protocol(_) | AdminError::Transport(_)) => {
            new_err("QubesDaemonCommunicationError", error.to_string())
        }
        // A rule only this client has (the qrexec argument charset, the
        // request size): a plain value error.
        AdminError::Validation(v) if v.is_client_only() => new_err_with(
            "QubesValueError",
            v.to_string(),
            &[("qubesd_class", v.qubesd_exception())],
        ),
        // One of qubesd's own rules, checked first: what qubesd would answer.
        AdminError::Validation(v) => qubesd_exception(v.qubesd_exception(), &v.to_string(), &[]),
    }
}

/// Whether `qubesadmin` sees this error as `QubesDaemonNoResponseError` (an
/// empty reply, a failed qrexec call) or `QubesVMNotFoundError` — the two it
/// turns into `QubesPropertyAccessError` for properties and into `'NA'` for
/// the power state.
pub fn is_no_response_or_vm_not_found(error: &AdminError) -> bool {
    matches!(
        error,
        AdminError::AccessDenied(DenyReason::EmptyReply | DenyReason::QrexecPolicy(_))
            | AdminError::Transport(TransportError::ServiceCall { .. })
    ) || error.kind() == Some(&ExceptionKind::VmNotFound)
}

/// `qubesadmin` raises `QubesPropertyAccessError` when reading a property
/// gets no response or the qube is not found; every other error maps as usual.
pub fn property_error(error: AdminError, property: &str) -> PyErr {
    if is_no_response_or_vm_not_found(&error) {
        new_err(
            "QubesPropertyAccessError",
            format!("Failed to access '{property}' property"),
        )
    } else {
        admin_error(error)
    }
}

/// The instant `timeout` seconds from now (`None`: wait for ever), for the `next_*`
/// methods of the event and signal iterators; a negative or absurd timeout is a
/// `QubesValueError`.
pub(crate) fn deadline_after(timeout: Option<f64>) -> PyResult<Option<std::time::Instant>> {
    timeout
        .map(|seconds| {
            std::time::Duration::try_from_secs_f64(seconds)
                .map(|duration| std::time::Instant::now() + duration)
                .map_err(|_| new_err("QubesValueError", format!("invalid timeout {seconds}")))
        })
        .transpose()
}
