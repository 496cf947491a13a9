//! The exception hierarchy, named and shaped like Python `qubesadmin.exc`, and the
//! mapping of every Rust error of the bindings onto it.
//!
//! `qubesadmin` uses multiple inheritance (`QubesFeatureNotFoundError` is both a
//! `QubesException` and a `KeyError`), which `create_exception!` cannot express, so
//! the classes are built once per process with `type(name, bases, namespace)`.

use pyo3::exceptions::PyNotImplementedError;
use pyo3::exceptions::{PyAttributeError, PyException, PyKeyError, PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use qubesadmin::{Error as AdminError, ExceptionKind};

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
}

/// Every class, parents before children. Names and parents follow
/// `qubesadmin/exc.py`; the last four are this project's own.
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
        name: "QubesMemoryError",
        bases: &[Base::Ours("QubesException"), Base::MemoryError],
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
        name: "QubesDaemonCommunicationError",
        bases: &[Base::Ours("QubesException")],
        doc: "Error while communicating with qubesd (or a malformed reply from it).",
    },
    ClassSpec {
        name: "QubesDaemonAccessError",
        bases: &[Base::Ours("QubesDaemonCommunicationError")],
        doc: "The call was refused: an empty reply from qubesd, PermissionDenied, or \
              qrexec policy (exit code 126).",
    },
    ClassSpec {
        name: "QubesPropertyAccessError",
        bases: &[Base::Ours("QubesDaemonAccessError"), Base::AttributeError],
        doc: "Failed to read a property value (access refused).",
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

/// The `qubesadmin` class for a qubesd exception kind.
fn class_for_kind(kind: &ExceptionKind) -> &'static str {
    match kind {
        ExceptionKind::VmNotFound => "QubesVMNotFoundError",
        ExceptionKind::FeatureNotFound => "QubesFeatureNotFoundError",
        ExceptionKind::TagNotFound => "QubesTagNotFoundError",
        ExceptionKind::LabelNotFound => "QubesLabelNotFoundError",
        ExceptionKind::NoSuchProperty => "QubesNoSuchPropertyError",
        ExceptionKind::Value
        | ExceptionKind::InvalidTag
        | ExceptionKind::InvalidLabel
        | ExceptionKind::InvalidLabelValue
        | ExceptionKind::VmInvalidUuid => "QubesValueError",
        ExceptionKind::PropertyValue => "QubesPropertyValueError",
        ExceptionKind::VmNotRunning => "QubesVMNotRunningError",
        ExceptionKind::VmNotHalted => "QubesVMNotHaltedError",
        ExceptionKind::VmNotStarted => "QubesVMNotStartedError",
        ExceptionKind::VmError => "QubesVMError",
        ExceptionKind::VmInUse => "QubesVMInUseError",
        ExceptionKind::NoTemplate => "QubesNoTemplateError",
        ExceptionKind::NotImplemented => "QubesNotImplementedError",
        ExceptionKind::Memory => "QubesMemoryError",
        // qubesadmin maps classes it does not define to the base class.
        ExceptionKind::VmAlreadyExists
        | ExceptionKind::Protocol
        | ExceptionKind::Generic
        | ExceptionKind::Other => "QubesException",
    }
}

/// Maps an Admin API error onto the `qubesadmin` hierarchy. qubesd exceptions
/// keep their class name in the attribute `qubesd_class`.
pub fn admin_error(error: AdminError) -> PyErr {
    match &error {
        AdminError::AccessDenied(_) => new_err("QubesDaemonAccessError", error.to_string()),
        AdminError::Qubes(e) => new_err_with(
            class_for_kind(&e.kind),
            e.message.clone(),
            &[("qubesd_class", e.class.as_str())],
        ),
        AdminError::Protocol(_) | AdminError::Transport(_) => {
            new_err("QubesDaemonCommunicationError", error.to_string())
        }
        // Refused before sending: the value is wrong, like qubesd's own checks.
        AdminError::Validation(v) => new_err_with(
            "QubesValueError",
            error.to_string(),
            &[("qubesd_class", v.qubesd_exception())],
        ),
    }
}

/// `qubesadmin` raises `QubesPropertyAccessError` when reading a property is
/// refused; every other error maps as usual.
pub fn property_error(error: AdminError, property: &str) -> PyErr {
    if error.is_access_denied() {
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
