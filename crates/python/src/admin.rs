//! The Admin API client in the shape of Python `qubesadmin`: `Qubes` (the app),
//! `app.domains`, `QubesVM` with dict-like `features` and set-like `tags`,
//! properties and labels.
//!
//! Every method asks qubesd (nothing is cached, as the Rust client) and releases
//! the GIL while it waits, so other Python threads run during the call.
//!
//! Where it has `qubesadmin`'s shape it behaves like `qubesadmin`: features and
//! tags are sent to qubesd as given and qubesd's answer decides (no check of
//! the client's own turns a call qubesd accepts into an error; only the qrexec
//! argument charset and the request size are checked first, as the transport
//! must), exceptions are the ones `qubesadmin` raises for the same answer
//! (`errors.rs`), `app.domains[name]` looks the name up in the caller's full
//! list, and an empty `bool`/`int` property is an `AttributeError`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyIterator, PyList, PyString};

use qubesadmin::transport::{DEFAULT_QREXEC_CLIENT, DEFAULT_SOCKET_PATH};
use qubesadmin::{
    Error as AdminError, PowerState, Property, QrexecTransport, Qubes, SocketTransport, Vm, VmInfo,
};

use crate::errors::{admin_error, is_no_response_or_vm_not_found, new_err, property_error};

/// `PowerState` as `qubesadmin` spells it (`get_power_state()`).
pub fn power_state_name(state: &PowerState) -> String {
    match state {
        PowerState::Halted => "Halted".into(),
        PowerState::Transient => "Transient".into(),
        PowerState::Running => "Running".into(),
        PowerState::Paused => "Paused".into(),
        PowerState::Suspended => "Suspended".into(),
        PowerState::Halting => "Halting".into(),
        PowerState::Dying => "Dying".into(),
        PowerState::Crashed => "Crashed".into(),
        PowerState::NotAvailable => "NA".into(),
        PowerState::Unknown => "Unknown".into(),
        PowerState::Other(other) => other.clone(),
    }
}

fn iterate<'py>(list: Bound<'py, PyList>) -> PyResult<Bound<'py, PyIterator>> {
    list.as_any().try_iter()
}

/// The Qubes application: entry point of every Admin API call.
///
/// `Qubes()` chooses the transport like `qubesadmin.Qubes()`: qubesd's socket in
/// dom0 (when `/etc/qubes-release` exists), `qrexec-client-vm` in a qube.
/// `Qubes.socket()` and `Qubes.qrexec()` choose explicitly.
#[pyclass(module = "qubes_config_sync", name = "Qubes", frozen)]
pub struct PyQubes {
    pub app: Qubes,
    transport: String,
}

impl PyQubes {
    fn wrap(app: Qubes, transport: String, max_workers: Option<usize>) -> Self {
        let app = match max_workers {
            Some(n) => app.with_max_workers(n),
            None => app,
        };
        PyQubes { app, transport }
    }
}

#[pymethods]
impl PyQubes {
    /// The app for this environment: the socket in dom0, qrexec in a qube.
    #[new]
    #[pyo3(signature = (*, max_workers = None))]
    fn new(max_workers: Option<usize>) -> Self {
        let transport = if std::path::Path::new(qubesadmin::app::QUBES_RELEASE_FILE).exists() {
            format!("socket {DEFAULT_SOCKET_PATH}")
        } else {
            format!("qrexec {DEFAULT_QREXEC_CLIENT}")
        };
        Self::wrap(Qubes::from_environment(), transport, max_workers)
    }

    /// An app on qubesd's unix socket (dom0, or a simulator). `source` is the
    /// calling qube written into each request header (`dom0` in dom0).
    #[staticmethod]
    #[pyo3(signature = (path = DEFAULT_SOCKET_PATH.to_owned(), *, source = "dom0".to_owned(), max_workers = None))]
    fn socket(path: String, source: String, max_workers: Option<usize>) -> Self {
        let transport = format!("socket {path}");
        let app = Qubes::new(SocketTransport::new(path).with_source(source));
        Self::wrap(app, transport, max_workers)
    }

    /// An app calling qubesd through `qrexec-client-vm` (or a compatible
    /// `program`), as from inside a qube.
    #[staticmethod]
    #[pyo3(signature = (program = DEFAULT_QREXEC_CLIENT.to_owned(), *, max_workers = None))]
    fn qrexec(program: String, max_workers: Option<usize>) -> Self {
        let transport = format!("qrexec {program}");
        Self::wrap(
            Qubes::new(QrexecTransport::new(program)),
            transport,
            max_workers,
        )
    }

    /// All qubes: iterable, `name in app.domains`, `app.domains[name]`.
    #[getter]
    fn domains(&self) -> Domains {
        Domains {
            app: self.app.clone(),
        }
    }

    /// All labels: iterable, `name in app.labels`, `app.labels[name]`.
    #[getter]
    fn labels(&self) -> Labels {
        Labels {
            app: self.app.clone(),
        }
    }

    /// Listens to `admin.Events` (every visible qube for `dest="dom0"`, else one
    /// qube's events). With `reconnect` (the default) a lost connection is
    /// retried after 1 s and announced by a new `connection-established` event.
    #[pyo3(signature = (dest = "dom0".to_owned(), *, reconnect = true))]
    fn events(&self, dest: String, reconnect: bool) -> crate::events::EventStream {
        crate::events::EventStream::open(&self.app, dest, reconnect)
    }

    /// One raw Admin API call (as `qubesadmin`'s `qubesd_call`): the reply data.
    #[pyo3(signature = (dest, method, arg = None, payload = None))]
    fn qubesd_call<'py>(
        &self,
        py: Python<'py>,
        dest: String,
        method: String,
        arg: Option<String>,
        payload: Option<Vec<u8>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let arg = arg.unwrap_or_default();
        let payload = payload.unwrap_or_default();
        let data = py
            .detach(|| self.app.qubesd_call(&dest, &method, &arg, &payload))
            .map_err(admin_error)?;
        Ok(PyBytes::new(py, &data))
    }

    /// A global property as qubesd reports it.
    fn property(&self, py: Python<'_>, name: String) -> PyResult<PyProperty> {
        let property = py
            .detach(|| self.app.property(&name))
            .map_err(|e| property_error(e, &name))?;
        Ok(PyProperty::from(property))
    }

    /// Every global property, by name.
    fn properties(&self, py: Python<'_>) -> PyResult<BTreeMap<String, PyProperty>> {
        let all = py.detach(|| self.app.properties()).map_err(admin_error)?;
        Ok(all.into_iter().map(|(k, v)| (k, v.into())).collect())
    }

    /// Global properties as attributes (`app.default_template`), converted like
    /// `qubesadmin`: `vm` → `QubesVM`, `label` → `Label`, `bool`, `int`, `str`;
    /// an empty `vm`/`label` value is `None`.
    fn __getattr__(&self, py: Python<'_>, name: String) -> PyResult<Py<PyAny>> {
        if name.starts_with('_') {
            return Err(PyAttributeError::new_err(name));
        }
        let property = py
            .detach(|| self.app.property(&name))
            .map_err(|e| property_error(e, &name))?;
        property_value(py, &self.app, &property, &name)
    }

    fn __repr__(&self) -> String {
        format!("<qubes_config_sync.Qubes {}>", self.transport)
    }
}

/// Converts a property value like `qubesadmin`'s `_parse_type_value`: `str`
/// as is; `bool` is `value == "True"`; `int` through Python's `int()`; an
/// empty `bool` or `int` raises `AttributeError(name)` (e.g.
/// `backup_timestamp` before the first backup); an empty `vm`/`label` is
/// `None`; any other type is a `QubesDaemonCommunicationError`.
pub fn property_value(
    py: Python<'_>,
    app: &Qubes,
    property: &Property,
    name: &str,
) -> PyResult<Py<PyAny>> {
    let value = match property.prop_type.as_str() {
        "str" => PyString::new(py, &property.value).into_any().unbind(),
        "bool" | "int" if property.value.is_empty() => {
            return Err(PyAttributeError::new_err(name.to_owned()));
        }
        "bool" => PyBool::new(py, property.value == "True")
            .to_owned()
            .into_any()
            .unbind(),
        "int" => py
            .get_type::<PyInt>()
            .call1((property.value.as_str(),))?
            .unbind(),
        "vm" => match property.as_name() {
            Some(name) => Py::new(py, PyVm::new(app.vm_blind(name)))?.into_any(),
            None => py.None(),
        },
        "label" => match property.as_name() {
            Some(name) => Py::new(
                py,
                Label {
                    app: app.clone(),
                    name: name.to_owned(),
                },
            )?
            .into_any(),
            None => py.None(),
        },
        other => {
            return Err(new_err(
                "QubesDaemonCommunicationError",
                format!("Received invalid value type: {other}"),
            ));
        }
    };
    Ok(value)
}

/// A property value exactly as qubesd reports it.
#[pyclass(module = "qubes_config_sync", name = "Property", frozen, get_all)]
#[derive(Clone)]
pub struct PyProperty {
    /// True when the value is the default (not set explicitly).
    is_default: bool,
    /// `str`, `int`, `bool`, `vm`, `label`, …
    #[pyo3(name = "type")]
    prop_type: String,
    /// The value as text; empty for "no value".
    value: String,
}

impl From<Property> for PyProperty {
    fn from(p: Property) -> Self {
        PyProperty {
            is_default: p.is_default,
            prop_type: p.prop_type,
            value: p.value,
        }
    }
}

#[pymethods]
impl PyProperty {
    fn __repr__(&self) -> String {
        format!(
            "Property(is_default={}, type={:?}, value={:?})",
            if self.is_default { "True" } else { "False" },
            self.prop_type,
            self.value
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyProperty>().is_ok_and(|o| {
            let o = o.get();
            o.is_default == self.is_default
                && o.prop_type == self.prop_type
                && o.value == self.value
        })
    }
}

/// `app.domains`: the qubes visible to the caller.
#[pyclass(module = "qubes_config_sync", name = "VMCollection", frozen)]
pub struct Domains {
    app: Qubes,
}

/// A name given as `str` or as a `QubesVM`.
fn vm_name_of(item: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(vm) = item.cast::<PyVm>() {
        return Ok(vm.get().vm.name().to_owned());
    }
    item.extract::<String>()
}

/// One qube's listing, looked up in the caller's full list (`admin.vm.List`
/// addressed to dom0), as `qubesadmin`'s `VMCollection` does: a qube the
/// caller may not see is simply not there (no per-qube call that the policy
/// would refuse).
fn find_domain(app: &Qubes, name: &str) -> Result<Option<Vm>, AdminError> {
    Ok(app.domains()?.into_iter().find(|vm| vm.name() == name))
}

/// `KeyError(name)`, what `qubesadmin` raises for a qube not in the list.
fn vm_key_error(name: &str) -> PyErr {
    pyo3::exceptions::PyKeyError::new_err(name.to_owned())
}

impl Domains {
    /// The listing of one qube, or `None` when it is not in the caller's list.
    fn lookup(&self, py: Python<'_>, name: &str) -> PyResult<Option<Vm>> {
        py.detach(|| find_domain(&self.app, name))
            .map_err(admin_error)
    }

    fn list(&self, py: Python<'_>) -> PyResult<Vec<Vm>> {
        py.detach(|| self.app.domains()).map_err(admin_error)
    }
}

#[pymethods]
impl Domains {
    /// Every qube (one `admin.vm.List`), sorted by name.
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        let vms = self.list(py)?;
        let list = PyList::empty(py);
        for vm in vms {
            list.append(Py::new(py, PyVm::new(vm))?)?;
        }
        iterate(list)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.list(py)?.len())
    }

    /// `name in app.domains` (a name or a `QubesVM`).
    fn __contains__(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(name) = vm_name_of(item) else {
            return Ok(false);
        };
        Ok(self.lookup(py, &name)?.is_some())
    }

    /// `app.domains[name]`; `KeyError(name)` when the name is not in the
    /// caller's list (absent, or not visible to it), as `qubesadmin`.
    fn __getitem__(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<PyVm> {
        let name = vm_name_of(item)?;
        match self.lookup(py, &name)? {
            Some(vm) => Ok(PyVm::new(vm)),
            None => Err(vm_key_error(&name)),
        }
    }

    /// Like `[name]`, `default` when there is no such qube.
    #[pyo3(signature = (name, default = None))]
    fn get(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let name = vm_name_of(name)?;
        match self.lookup(py, &name)? {
            Some(vm) => Ok(Py::new(py, PyVm::new(vm))?.into_any()),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// Names of every qube.
    fn keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(self
            .list(py)?
            .iter()
            .map(|vm| vm.name().to_owned())
            .collect())
    }

    /// A handle for `name` without asking qubesd whether it exists
    /// (`qubesadmin`'s `get_blind`); class and state are fetched when read.
    fn get_blind(&self, name: String) -> PyVm {
        PyVm::new(self.app.vm_blind(&name))
    }
}

/// A qube (`qubesadmin.vm.QubesVM`).
#[pyclass(module = "qubes_config_sync", name = "QubesVM", frozen)]
pub struct PyVm {
    pub vm: Vm,
    /// For a blind handle: the listing, fetched once when class or state is read.
    listed: OnceLock<VmInfo>,
}

impl PyVm {
    pub fn new(vm: Vm) -> Self {
        PyVm {
            vm,
            listed: OnceLock::new(),
        }
    }

    /// The listing of this qube: the one it was created from, or (blind handle)
    /// one `admin.vm.List` call.
    fn info(&self, py: Python<'_>) -> PyResult<&VmInfo> {
        if !self.vm.class().is_empty() {
            return Ok(self.vm.info());
        }
        if let Some(info) = self.listed.get() {
            return Ok(info);
        }
        let name = self.vm.name().to_owned();
        // As `qubesadmin`'s `klass`: `admin.vm.List` addressed to the qube
        // (qubesd answers QubesVMNotFoundError for one that does not exist).
        let listed = py
            .detach(|| self.vm.app().domain(&name))
            .map_err(admin_error)?
            .ok_or_else(|| new_err("QubesVMNotFoundError", format!("No such domain: '{name}'")))?;
        Ok(self.listed.get_or_init(|| listed.info().clone()))
    }
}

#[pymethods]
impl PyVm {
    /// The qube's name.
    #[getter]
    fn name(&self) -> &str {
        self.vm.name()
    }

    /// Its class: `AppVM`, `TemplateVM`, `DispVM`, `StandaloneVM`, `AdminVM`, …
    #[getter]
    fn klass(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.info(py)?.class.clone())
    }

    /// The power state from the listing (`Running`, `Halted`, …); see
    /// `get_power_state()` for a fresh one.
    #[getter(power_state)]
    fn listed_power_state(&self, py: Python<'_>) -> PyResult<String> {
        Ok(power_state_name(&self.info(py)?.power_state))
    }

    /// The qube's UUID (Qubes R4.3+), `None` on R4.2.
    #[getter]
    fn uuid(&self, py: Python<'_>) -> PyResult<Option<String>> {
        Ok(self.info(py)?.uuid.clone())
    }

    /// The current power state (`admin.vm.CurrentState`); `'NA'` when qubesd
    /// gives no answer or the call is refused (e.g. by qrexec policy in a
    /// qube) or the qube is not found, as `qubesadmin`.
    fn get_power_state(&self, py: Python<'_>) -> PyResult<String> {
        match py.detach(|| self.vm.current_power_state()) {
            Ok(state) => Ok(power_state_name(&state)),
            Err(e) if is_no_response_or_vm_not_found(&e) => Ok("NA".to_owned()),
            Err(e) => Err(admin_error(e)),
        }
    }

    /// `get_power_state()` is neither `Halted` nor `NA` (as `qubesadmin`).
    fn is_running(&self, py: Python<'_>) -> PyResult<bool> {
        let state = self.get_power_state(py)?;
        Ok(state != "Halted" && state != "NA")
    }

    /// `get_power_state() == 'Halted'`.
    fn is_halted(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.get_power_state(py)? == "Halted")
    }

    /// `admin.vm.CurrentState` as a dict (`mem`, `cputime`, `power_state`, …).
    fn current_state(&self, py: Python<'_>) -> PyResult<BTreeMap<String, String>> {
        py.detach(|| self.vm.current_state()).map_err(admin_error)
    }

    /// Dict-like features of the qube.
    #[getter]
    fn features(&self) -> Features {
        Features {
            vm: self.vm.clone(),
        }
    }

    /// Set-like tags of the qube.
    #[getter]
    fn tags(&self) -> Tags {
        Tags {
            vm: self.vm.clone(),
        }
    }

    /// A property as qubesd reports it.
    fn property(&self, py: Python<'_>, name: String) -> PyResult<PyProperty> {
        let property = py
            .detach(|| self.vm.property(&name))
            .map_err(|e| property_error(e, &name))?;
        Ok(property.into())
    }

    /// Every property, by name (`GetAll`, or `List` + `Get` when that is denied).
    fn properties(&self, py: Python<'_>) -> PyResult<BTreeMap<String, PyProperty>> {
        let all = py.detach(|| self.vm.properties()).map_err(admin_error)?;
        Ok(all.into_iter().map(|(k, v)| (k, v.into())).collect())
    }

    /// True when the property has its default value.
    fn property_is_default(&self, py: Python<'_>, name: String) -> PyResult<bool> {
        Ok(self.property(py, name)?.is_default)
    }

    /// The value the property would have if reset, converted like attributes;
    /// `AttributeError` ("NAME has no default") when it has none, as
    /// `qubesadmin`. (An empty `bool`/`int` default raises `AttributeError`
    /// too, where `qubesadmin` returns the `AttributeError` class itself.)
    fn property_get_default(&self, py: Python<'_>, name: String) -> PyResult<Py<PyAny>> {
        let default = py
            .detach(|| self.vm.property_default(&name))
            .map_err(|e| property_error(e, &name))?;
        match default {
            None => Err(PyAttributeError::new_err(format!("{name} has no default"))),
            Some((prop_type, value)) => property_value(
                py,
                self.vm.app(),
                &Property {
                    is_default: true,
                    prop_type,
                    value,
                },
                &name,
            ),
        }
    }

    /// Properties as attributes (`vm.template`, `vm.label`, `vm.netvm`),
    /// converted like `qubesadmin`; `QubesNoSuchPropertyError` (an
    /// `AttributeError`) when there is no such property.
    fn __getattr__(&self, py: Python<'_>, name: String) -> PyResult<Py<PyAny>> {
        if name.starts_with('_') {
            return Err(PyAttributeError::new_err(name));
        }
        let property = py
            .detach(|| self.vm.property(&name))
            .map_err(|e| property_error(e, &name))?;
        property_value(py, self.vm.app(), &property, &name)
    }

    /// Whether a file at `path` (relative to `/home/user`) survives a restart
    /// of this qube: `analyse_persistence()` with the qube's class and its
    /// custom-persist features read through the Admin API.
    #[pyo3(signature = (path, *, release = "4.3", mode = 0o644))]
    fn persistence(
        &self,
        py: Python<'_>,
        path: &str,
        release: &str,
        mode: u32,
    ) -> PyResult<crate::review::PyAnalysis> {
        let klass = self.klass(py)?;
        crate::review::vm_persistence(py, &self.vm, &klass, path, release, mode)
    }

    fn __str__(&self) -> &str {
        self.vm.name()
    }

    fn __repr__(&self) -> String {
        format!("<QubesVM {}>", self.vm.name())
    }

    /// Equal to another handle of the same qube, or to its name.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        vm_name_of(other).is_ok_and(|name| name == self.vm.name())
    }

    fn __lt__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.vm.name() < vm_name_of(other)?.as_str())
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        PyString::new(py, self.vm.name()).hash()
    }
}

/// Converts a feature value like `qubesadmin`: `True` → `"1"`, `False` → `""`,
/// anything else → `str(value)`.
fn feature_value_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(if b.is_true() { "1" } else { "" }.to_owned());
    }
    Ok(value.str()?.to_string())
}

/// One call about `vm` as `qubesadmin` makes it (`vm.qubesd_call`): the
/// request as given, the reply data or the exception `qubesadmin` raises.
fn vm_call(py: Python<'_>, vm: &Vm, method: &str, arg: &str, payload: &[u8]) -> PyResult<Vec<u8>> {
    py.detach(|| vm.app().qubesd_call(vm.name(), method, arg, payload))
        .map_err(admin_error)
}

/// `data.decode('utf-8')`, with Python's own error for bad UTF-8.
fn decode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyString>> {
    Ok(PyBytes::new(py, data)
        .call_method1("decode", ("utf-8",))?
        .cast_into::<PyString>()?)
}

/// `data.decode('utf-8').splitlines()`.
fn decode_lines(py: Python<'_>, data: &[u8]) -> PyResult<Vec<String>> {
    decode(py, data)?.call_method0("splitlines")?.extract()
}

/// `default` when `result` is a `KeyError` (of any kind), as `qubesadmin`'s
/// `get()` methods.
fn or_default_on_key_error(
    py: Python<'_>,
    result: PyResult<Py<PyAny>>,
    default: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    match result {
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyError>(py) => {
            Ok(default.unwrap_or_else(|| py.None()))
        }
        other => other,
    }
}

/// `vm.features`: a mutable mapping of feature name → value (str). An empty
/// value means "false", as in Qubes. Names and values go to qubesd as given.
#[pyclass(module = "qubes_config_sync", name = "Features", frozen)]
pub struct Features {
    vm: Vm,
}

impl Features {
    fn names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let data = vm_call(py, &self.vm, "admin.vm.feature.List", "", b"")?;
        decode_lines(py, &data)
    }

    fn value_of(&self, py: Python<'_>, method: &str, name: &str) -> PyResult<Py<PyAny>> {
        let data = vm_call(py, &self.vm, method, name, b"")?;
        Ok(decode(py, &data)?.into_any().unbind())
    }
}

#[pymethods]
impl Features {
    /// The value; `QubesFeatureNotFoundError` (a `KeyError`) when not set.
    fn __getitem__(&self, py: Python<'_>, name: String) -> PyResult<Py<PyAny>> {
        self.value_of(py, "admin.vm.feature.Get", &name)
    }

    /// Sets a feature (`True` → `"1"`, `False` → `""`, else `str(value)`).
    /// qubesd decides; a `custom-persist.*` value it refuses stays set there,
    /// and its `QubesValueError` is raised.
    fn __setitem__(&self, py: Python<'_>, name: String, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let text = feature_value_text(value)?;
        vm_call(py, &self.vm, "admin.vm.feature.Set", &name, text.as_bytes())?;
        Ok(())
    }

    /// Removes a feature; `QubesFeatureNotFoundError` when not set.
    fn __delitem__(&self, py: Python<'_>, name: String) -> PyResult<()> {
        vm_call(py, &self.vm, "admin.vm.feature.Remove", &name, b"")?;
        Ok(())
    }

    /// `name in features`: one `admin.vm.feature.List`.
    fn __contains__(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(name) = name.extract::<String>() else {
            return Ok(false);
        };
        Ok(self.names(py)?.contains(&name))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        iterate(PyList::new(py, self.names(py)?)?)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.names(py)?.len())
    }

    /// Feature names, in qubesd's order.
    fn keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.names(py)
    }

    /// Feature values, in the order of `keys()`.
    fn values(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(self.items(py)?.into_iter().map(|(_, v)| v).collect())
    }

    /// `(name, value)` pairs: one `List`, then the `Get`s in parallel.
    fn items(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        py.detach(|| self.vm.features().items())
            .map_err(admin_error)
    }

    /// The value, or `default` when not set (any `KeyError`).
    #[pyo3(signature = (name, default = None))]
    fn get(&self, py: Python<'_>, name: String, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        or_default_on_key_error(
            py,
            self.value_of(py, "admin.vm.feature.Get", &name),
            default,
        )
    }

    /// The value on the qube or, if not set there, on its template
    /// (`admin.vm.feature.CheckWithTemplate`); `default` when neither has it.
    #[pyo3(signature = (name, default = None))]
    fn check_with_template(
        &self,
        py: Python<'_>,
        name: String,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let value = self.value_of(py, "admin.vm.feature.CheckWithTemplate", &name);
        or_default_on_key_error(py, value, default)
    }

    fn __repr__(&self) -> String {
        format!("<Features of {}>", self.vm.name())
    }
}

/// `vm.tags`: a mutable set of tag names; tags go to qubesd as given.
#[pyclass(module = "qubes_config_sync", name = "Tags", frozen)]
pub struct Tags {
    vm: Vm,
}

impl Tags {
    fn names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let data = vm_call(py, &self.vm, "admin.vm.tag.List", "", b"")?;
        decode_lines(py, &data)
    }
}

#[pymethods]
impl Tags {
    /// `admin.vm.tag.Get` answered `1` (qubesd's errors, e.g. for a name a
    /// tag cannot have, are raised).
    fn __contains__(&self, py: Python<'_>, tag: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(tag) = tag.extract::<String>() else {
            return Ok(false);
        };
        Ok(vm_call(py, &self.vm, "admin.vm.tag.Get", &tag, b"")? == b"1")
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        iterate(PyList::new(py, self.names(py)?)?)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.names(py)?.len())
    }

    /// Adds a tag; adding a present tag is no error.
    fn add(&self, py: Python<'_>, tag: String) -> PyResult<()> {
        vm_call(py, &self.vm, "admin.vm.tag.Set", &tag, b"")?;
        Ok(())
    }

    /// Removes a tag; `QubesTagNotFoundError` (a `KeyError`) when absent.
    fn remove(&self, py: Python<'_>, tag: String) -> PyResult<()> {
        vm_call(py, &self.vm, "admin.vm.tag.Remove", &tag, b"")?;
        Ok(())
    }

    /// Removes a tag if present (any `KeyError` is ignored, as `qubesadmin`).
    fn discard(&self, py: Python<'_>, tag: String) -> PyResult<()> {
        match self.remove(py, tag) {
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyError>(py) => Ok(()),
            other => other,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<Tags of {}: {:?}>",
            self.vm.name(),
            self.names(py)?
        ))
    }
}

/// `app.labels`: the labels qubesd knows.
#[pyclass(module = "qubes_config_sync", name = "LabelsCollection", frozen)]
pub struct Labels {
    app: Qubes,
}

impl Labels {
    fn names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.app.labels()).map_err(admin_error)
    }
}

fn label_name_of(item: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(label) = item.cast::<Label>() {
        return Ok(label.get().name.clone());
    }
    item.extract::<String>()
}

#[pymethods]
impl Labels {
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        let list = PyList::empty(py);
        for name in self.names(py)? {
            list.append(Label {
                app: self.app.clone(),
                name,
            })?;
        }
        iterate(list)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.names(py)?.len())
    }

    fn __contains__(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(name) = label_name_of(item) else {
            return Ok(false);
        };
        Ok(self.names(py)?.contains(&name))
    }

    /// `app.labels[name]`; `QubesLabelNotFoundError` (a `KeyError`) if none.
    fn __getitem__(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<Label> {
        let name = label_name_of(item)?;
        if self.names(py)?.contains(&name) {
            Ok(Label {
                app: self.app.clone(),
                name,
            })
        } else {
            Err(new_err(
                "QubesLabelNotFoundError",
                format!("Label does not exist: {name}"),
            ))
        }
    }

    /// Label names, in qubesd's order.
    fn keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.names(py)
    }
}

/// A label (`qubesadmin.label.Label`): a name, a colour and an index.
#[pyclass(module = "qubes_config_sync", name = "Label", frozen)]
pub struct Label {
    app: Qubes,
    name: String,
}

#[pymethods]
impl Label {
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The colour as qubesd gives it, e.g. `0xcc0000` (`admin.label.Get`).
    #[getter]
    fn color(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.app.label_color(&self.name))
            .map_err(admin_error)
    }

    /// The label's index (`admin.label.Index`).
    #[getter]
    fn index(&self, py: Python<'_>) -> PyResult<u32> {
        py.detach(|| self.app.label_index(&self.name))
            .map_err(admin_error)
    }

    /// The icon name, as `qubesadmin`: `appvm-<name>`.
    #[getter]
    fn icon(&self) -> String {
        format!("appvm-{}", self.name)
    }

    fn __str__(&self) -> &str {
        &self.name
    }

    fn __repr__(&self) -> String {
        format!("<Label {}>", self.name)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        label_name_of(other).is_ok_and(|name| name == self.name)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        PyString::new(py, &self.name).hash()
    }
}

/// Registers the classes of this module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyQubes>()?;
    module.add_class::<Domains>()?;
    module.add_class::<PyVm>()?;
    module.add_class::<Features>()?;
    module.add_class::<Tags>()?;
    module.add_class::<Labels>()?;
    module.add_class::<Label>()?;
    module.add_class::<PyProperty>()?;
    Ok(())
}
