//! The typed API, in the shape of Python `qubesadmin`: [`Qubes`] (the app),
//! [`Vm`], [`Features`], [`Tags`], properties and labels.
//!
//! Nothing is cached: every method is one Admin API call (or a documented,
//! bounded number of calls), so the caller decides what to keep and when to
//! refresh it (e.g. on events).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, ExceptionKind, ProtocolError};
use crate::parallel;
use crate::transport::{QrexecTransport, SocketTransport, Transport};
use crate::validate;

/// File whose presence means "this is dom0" (as in Python `qubesadmin`).
pub const QUBES_RELEASE_FILE: &str = "/etc/qubes-release";

/// Default bound on concurrent Admin API calls (see [`Qubes::map_parallel`]).
pub const DEFAULT_MAX_WORKERS: usize = 16;

/// The Qubes application: the entry point of every call.
#[derive(Clone)]
pub struct Qubes {
    transport: Arc<dyn Transport>,
    max_workers: usize,
}

impl std::fmt::Debug for Qubes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qubes")
            .field("max_workers", &self.max_workers)
            .finish_non_exhaustive()
    }
}

impl Default for Qubes {
    /// Like `qubesadmin.Qubes()`: the socket in dom0, qrexec in a qube.
    fn default() -> Self {
        Self::from_environment()
    }
}

impl Qubes {
    /// An app on the given transport.
    pub fn new(transport: impl Transport + 'static) -> Self {
        Self::from_arc(Arc::new(transport))
    }

    /// An app on a shared transport (e.g. a [`crate::CountingTransport`] the
    /// caller keeps a handle to).
    pub fn from_arc(transport: Arc<dyn Transport>) -> Self {
        Qubes {
            transport,
            max_workers: DEFAULT_MAX_WORKERS,
        }
    }

    /// dom0: qubesd's socket at its default path.
    pub fn local() -> Self {
        Self::new(SocketTransport::default())
    }

    /// A qube: `qrexec-client-vm` from `PATH`.
    pub fn remote() -> Self {
        Self::new(QrexecTransport::default())
    }

    /// [`Qubes::local`] if `/etc/qubes-release` exists, else [`Qubes::remote`].
    pub fn from_environment() -> Self {
        Self::for_release_file(Path::new(QUBES_RELEASE_FILE))
    }

    /// The selection of [`Qubes::from_environment`] with another marker file.
    pub fn for_release_file(release_file: &Path) -> Self {
        if release_file.exists() {
            Self::local()
        } else {
            Self::remote()
        }
    }

    /// Bound the number of concurrent calls of the parallel helpers (≥ 1).
    pub fn with_max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = max_workers.max(1);
        self
    }

    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// One raw Admin API call; returns the reply data.
    pub fn qubesd_call(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.transport.qubesd_call(dest, method, arg, payload)
    }

    /// A call whose reply is text.
    fn call_text(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<String, Error> {
        let data = self.qubesd_call(dest, method, arg, payload)?;
        String::from_utf8(data).map_err(|_| {
            ProtocolError::InvalidUtf8 {
                field: "reply data",
            }
            .into()
        })
    }

    /// Run `f` on every item with at most [`Qubes::max_workers`] running at
    /// once; results come back in input order.
    pub fn map_parallel<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&T) -> R + Sync,
    ) -> Vec<R> {
        parallel::map_bounded(items, self.max_workers, f)
    }

    /// Run `f` on every item, bounded like [`Qubes::map_parallel`].
    pub fn for_each_parallel<T: Sync>(&self, items: &[T], f: impl Fn(&T) + Sync) {
        parallel::map_bounded(items, self.max_workers, f);
    }

    /// All qubes visible to the caller: one `admin.vm.List` call, in the
    /// order qubesd sends them (sorted by name).
    pub fn domains(&self) -> Result<Vec<Vm>, Error> {
        let text = self.call_text("dom0", "admin.vm.List", "", b"")?;
        parse_vm_list(&text)?
            .into_iter()
            .map(|info| Ok(self.vm_from(info)))
            .collect()
    }

    /// One qube by name (or `uuid:…`): `admin.vm.List` with it as the
    /// destination. `None` when qubesd filtered it out for this caller.
    /// (With `dom0` as the destination qubesd lists every visible qube; the
    /// entry of dom0 is picked from that list.)
    pub fn domain(&self, name: &str) -> Result<Option<Vm>, Error> {
        let text = self.call_text(name, "admin.vm.List", "", b"")?;
        let list = parse_vm_list(&text)?;
        if list.is_empty() {
            return Ok(None);
        }
        let is_wanted = |info: &VmInfo| match name.strip_prefix("uuid:") {
            Some(uuid) => info.uuid.as_deref() == Some(uuid),
            None => info.name == name,
        };
        match list.into_iter().find(is_wanted) {
            Some(info) => Ok(Some(self.vm_from(info))),
            None => Err(ProtocolError::bad_output(
                "admin.vm.List",
                format!("the reply does not list {name}"),
            )
            .into()),
        }
    }

    /// A handle for calls about `name` without listing it first (Python's
    /// `get_blind`): class and power state are unknown.
    pub fn vm_blind(&self, name: &str) -> Vm {
        self.vm_from(VmInfo {
            name: name.to_owned(),
            class: String::new(),
            power_state: PowerState::Unknown,
            uuid: None,
            attributes: BTreeMap::new(),
        })
    }

    fn vm_from(&self, info: VmInfo) -> Vm {
        Vm {
            app: self.clone(),
            info,
        }
    }

    /// Label names, in qubesd's order (`admin.label.List`).
    pub fn labels(&self) -> Result<Vec<String>, Error> {
        Ok(lines(&self.call_text(
            "dom0",
            "admin.label.List",
            "",
            b"",
        )?))
    }

    /// A label's colour as qubesd gives it, e.g. `0xcc0000` (`admin.label.Get`).
    pub fn label_color(&self, label: &str) -> Result<String, Error> {
        validate::label_name(label)?;
        self.call_text("dom0", "admin.label.Get", label, b"")
    }

    /// A label's index (`admin.label.Index`).
    pub fn label_index(&self, label: &str) -> Result<u32, Error> {
        validate::label_name(label)?;
        let text = self.call_text("dom0", "admin.label.Index", label, b"")?;
        text.parse().map_err(|_| {
            ProtocolError::bad_output("admin.label.Index", format!("not a number: {text:?}")).into()
        })
    }

    /// A global property (`admin.property.Get`).
    pub fn property(&self, name: &str) -> Result<Property, Error> {
        property_get(self, "dom0", "admin.property.", name)
    }

    /// All global properties: `admin.property.GetAll`, or, when that is
    /// denied, `admin.property.List` and one `Get` per property.
    pub fn properties(&self) -> Result<BTreeMap<String, Property>, Error> {
        property_get_all(self, "dom0", "admin.property.")
    }
}

/// What `admin.vm.List` says about a qube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    pub name: String,
    /// `AppVM`, `TemplateVM`, `DispVM`, `StandaloneVM`, `AdminVM`, `RemoteVM`…
    pub class: String,
    pub power_state: PowerState,
    /// Present from R4.3 on.
    pub uuid: Option<String>,
    /// Every `key=value` pair of the line (including `class`, `state`, `uuid`).
    pub attributes: BTreeMap<String, String>,
}

/// Power state of a qube, as `admin.vm.List`/`CurrentState` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerState {
    Halted,
    Transient,
    Running,
    Paused,
    Suspended,
    Halting,
    Dying,
    Crashed,
    /// `NA`: qubesd could not tell.
    NotAvailable,
    /// Not fetched (a [`Qubes::vm_blind`] handle).
    Unknown,
    /// A state this client does not know.
    Other(String),
}

impl PowerState {
    pub fn parse(text: &str) -> Self {
        match text {
            "Halted" => Self::Halted,
            "Transient" => Self::Transient,
            "Running" => Self::Running,
            "Paused" => Self::Paused,
            "Suspended" => Self::Suspended,
            "Halting" => Self::Halting,
            "Dying" => Self::Dying,
            "Crashed" => Self::Crashed,
            "NA" => Self::NotAvailable,
            other => Self::Other(other.to_owned()),
        }
    }

    /// True while the qube runs in any form (Python `is_running`).
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            Self::Running | Self::Transient | Self::Paused | Self::Suspended | Self::Halting
        )
    }
}

/// Parse `admin.vm.List` output: `<name> key=value key=value…\n` per qube.
/// Keys are taken generically (R4.2 has no `uuid=`).
pub fn parse_vm_list(text: &str) -> Result<Vec<VmInfo>, Error> {
    let bad = |detail: String| Error::from(ProtocolError::bad_output("admin.vm.List", detail));
    let mut vms = Vec::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let mut parts = line.split(' ');
        let name = parts.next().unwrap_or_default();
        validate::vm_name(name).map_err(|e| bad(format!("qube name {name:?}: {e}")))?;
        let mut attributes = BTreeMap::new();
        for pair in parts {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("not key=value: {pair:?}")))?;
            attributes.insert(key.to_owned(), value.to_owned());
        }
        let class = attributes
            .get("class")
            .cloned()
            .ok_or_else(|| bad(format!("no class for {name}")))?;
        let power_state = attributes
            .get("state")
            .map(|s| PowerState::parse(s))
            .ok_or_else(|| bad(format!("no state for {name}")))?;
        vms.push(VmInfo {
            name: name.to_owned(),
            class,
            power_state,
            uuid: attributes.get("uuid").cloned(),
            attributes,
        });
    }
    Ok(vms)
}

/// Non-empty lines of a list reply.
fn lines(text: &str) -> Vec<String> {
    text.split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A qube and the app it belongs to.
#[derive(Clone)]
pub struct Vm {
    app: Qubes,
    info: VmInfo,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.info.fmt(f)
    }
}

impl PartialEq for Vm {
    fn eq(&self, other: &Self) -> bool {
        self.info == other.info
    }
}

impl Vm {
    pub fn name(&self) -> &str {
        &self.info.name
    }
    pub fn class(&self) -> &str {
        &self.info.class
    }
    /// The power state from the listing (not refreshed).
    pub fn power_state(&self) -> &PowerState {
        &self.info.power_state
    }
    pub fn uuid(&self) -> Option<&str> {
        self.info.uuid.as_deref()
    }
    /// Running in any form, per the listing (see [`PowerState::is_running`]).
    pub fn is_running(&self) -> bool {
        self.info.power_state.is_running()
    }
    pub fn info(&self) -> &VmInfo {
        &self.info
    }
    pub fn app(&self) -> &Qubes {
        &self.app
    }

    pub fn features(&self) -> Features<'_> {
        Features { vm: self }
    }

    pub fn tags(&self) -> Tags<'_> {
        Tags { vm: self }
    }

    fn call_text(&self, method: &str, arg: &str, payload: &[u8]) -> Result<String, Error> {
        self.app.call_text(&self.info.name, method, arg, payload)
    }

    /// A property (`admin.vm.property.Get`).
    pub fn property(&self, name: &str) -> Result<Property, Error> {
        property_get(&self.app, &self.info.name, "admin.vm.property.", name)
    }

    /// All properties: `admin.vm.property.GetAll`, or — when that is denied,
    /// as the default policy does — `admin.vm.property.List` and one `Get`
    /// per property, in parallel.
    pub fn properties(&self) -> Result<BTreeMap<String, Property>, Error> {
        property_get_all(&self.app, &self.info.name, "admin.vm.property.")
    }

    /// The value a property would have if reset (`admin.vm.property.GetDefault`):
    /// `None` when the property has no default.
    pub fn property_default(&self, name: &str) -> Result<Option<(String, String)>, Error> {
        validate::qrexec_argument(name)?;
        let text = self.call_text("admin.vm.property.GetDefault", name, b"")?;
        if text.is_empty() {
            return Ok(None);
        }
        let (prop_type, value) = text.split_once(' ').ok_or_else(|| {
            ProtocolError::bad_output("admin.vm.property.GetDefault", format!("{text:?}"))
        })?;
        let prop_type = prop_type.strip_prefix("type=").ok_or_else(|| {
            ProtocolError::bad_output("admin.vm.property.GetDefault", format!("{text:?}"))
        })?;
        Ok(Some((prop_type.to_owned(), value.to_owned())))
    }

    /// `admin.vm.CurrentState`: `mem`, `mem_static_max`, `cputime`,
    /// `power_state`… as a map.
    pub fn current_state(&self) -> Result<BTreeMap<String, String>, Error> {
        let text = self.call_text("admin.vm.CurrentState", "", b"")?;
        text.split(' ')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| {
                        ProtocolError::bad_output(
                            "admin.vm.CurrentState",
                            format!("not key=value: {pair:?}"),
                        )
                        .into()
                    })
            })
            .collect()
    }

    /// The current power state (`admin.vm.CurrentState`).
    pub fn current_power_state(&self) -> Result<PowerState, Error> {
        let state = self.current_state()?;
        state
            .get("power_state")
            .map(|s| PowerState::parse(s))
            .ok_or_else(|| {
                ProtocolError::bad_output("admin.vm.CurrentState", "no power_state").into()
            })
    }
}

/// A qube's features. No cache: every call asks qubesd.
///
/// A feature has three states: absent, empty (= false) and non-empty (= true).
pub struct Features<'a> {
    vm: &'a Vm,
}

impl Features<'_> {
    /// Feature names in qubesd's order (`admin.vm.feature.List`).
    pub fn list(&self) -> Result<Vec<String>, Error> {
        Ok(lines(&self.vm.call_text(
            "admin.vm.feature.List",
            "",
            b"",
        )?))
    }

    /// A feature's value, `None` if not set (`admin.vm.feature.Get`).
    pub fn get(&self, name: &str) -> Result<Option<String>, Error> {
        validate::feature_name(name)?;
        not_found_as_none(self.vm.call_text("admin.vm.feature.Get", name, b""))
    }

    /// The value on the qube or, if absent there, on its template
    /// (`admin.vm.feature.CheckWithTemplate`); `None` if neither has it.
    pub fn check_with_template(&self, name: &str) -> Result<Option<String>, Error> {
        validate::feature_name(name)?;
        not_found_as_none(
            self.vm
                .call_text("admin.vm.feature.CheckWithTemplate", name, b""),
        )
    }

    /// Set a feature (`admin.vm.feature.Set`). The name and value are checked
    /// first, including custom-persist rules: qubesd checks those only after
    /// storing the value, so a bad value would otherwise stay set.
    pub fn set(&self, name: &str, value: &str) -> Result<(), Error> {
        validate::feature_assignment(name, value.as_bytes())?;
        self.vm
            .call_text("admin.vm.feature.Set", name, value.as_bytes())?;
        Ok(())
    }

    /// Set a boolean feature: `"1"` for true, `""` for false (as qubesadmin).
    pub fn set_bool(&self, name: &str, value: bool) -> Result<(), Error> {
        self.set(name, if value { "1" } else { "" })
    }

    /// Remove a feature (`admin.vm.feature.Remove`); a missing feature is a
    /// `FeatureNotFound` error.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        validate::feature_name(name)?;
        self.vm.call_text("admin.vm.feature.Remove", name, b"")?;
        Ok(())
    }

    /// Every feature with its value: one `List`, then the `Get`s in parallel.
    /// A feature removed in between is left out.
    pub fn items(&self) -> Result<Vec<(String, String)>, Error> {
        let names = self.list()?;
        let values = self.vm.app.map_parallel(&names, |name| self.get(name));
        let mut items = Vec::with_capacity(names.len());
        for (name, value) in names.into_iter().zip(values) {
            if let Some(value) = value? {
                items.push((name, value));
            }
        }
        Ok(items)
    }
}

fn not_found_as_none(result: Result<String, Error>) -> Result<Option<String>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == Some(&ExceptionKind::FeatureNotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A qube's tags. No cache.
pub struct Tags<'a> {
    vm: &'a Vm,
}

impl Tags<'_> {
    /// Tags, sorted by qubesd (`admin.vm.tag.List`).
    pub fn list(&self) -> Result<Vec<String>, Error> {
        Ok(lines(&self.vm.call_text("admin.vm.tag.List", "", b"")?))
    }

    /// Whether the qube has the tag (`admin.vm.tag.Get`: `1` or `0`).
    pub fn has(&self, tag: &str) -> Result<bool, Error> {
        validate::tag(tag)?;
        match self.vm.call_text("admin.vm.tag.Get", tag, b"")?.as_str() {
            "1" => Ok(true),
            "0" => Ok(false),
            other => {
                Err(ProtocolError::bad_output("admin.vm.tag.Get", format!("{other:?}")).into())
            }
        }
    }

    /// Add a tag (`admin.vm.tag.Set`); adding a present tag is no error.
    pub fn add(&self, tag: &str) -> Result<(), Error> {
        validate::tag(tag)?;
        self.vm.call_text("admin.vm.tag.Set", tag, b"")?;
        Ok(())
    }

    /// Remove a tag (`admin.vm.tag.Remove`); a missing tag is a
    /// `TagNotFound` error.
    pub fn remove(&self, tag: &str) -> Result<(), Error> {
        validate::tag(tag)?;
        self.vm.call_text("admin.vm.tag.Remove", tag, b"")?;
        Ok(())
    }
}

/// A property value as qubesd reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// True when the value is the default (not set explicitly).
    pub is_default: bool,
    /// `str`, `int`, `bool`, `vm`, `label` (or another type qubesd names).
    pub prop_type: String,
    /// The value as text; empty for "no value" / `None`.
    pub value: String,
}

impl Property {
    /// Parse `default={True|False} type=<t> <value>`.
    pub fn parse(text: &str) -> Option<Property> {
        let mut parts = text.splitn(3, ' ');
        let is_default = match parts.next()? {
            "default=True" => true,
            "default=False" => false,
            _ => return None,
        };
        let prop_type = parts.next()?.strip_prefix("type=")?;
        let value = parts.next()?;
        if prop_type.is_empty() {
            return None;
        }
        Some(Property {
            is_default,
            prop_type: prop_type.to_owned(),
            value: value.to_owned(),
        })
    }

    /// For `vm` and `label` properties: `None` when the value is empty.
    pub fn as_name(&self) -> Option<&str> {
        (!self.value.is_empty()).then_some(self.value.as_str())
    }

    /// For `bool` properties.
    pub fn as_bool(&self) -> Option<bool> {
        match self.value.as_str() {
            "True" => Some(true),
            "False" => Some(false),
            _ => None,
        }
    }

    /// For `int` properties.
    pub fn as_int(&self) -> Option<i64> {
        self.value.parse().ok()
    }
}

fn property_get(app: &Qubes, dest: &str, prefix: &str, name: &str) -> Result<Property, Error> {
    validate::qrexec_argument(name)?;
    if name.is_empty() {
        return Err(validate::ValidationError::ExpectedArgument.into());
    }
    let method = format!("{prefix}Get");
    let text = app.call_text(dest, &method, name, b"")?;
    Property::parse(&text)
        .ok_or_else(|| ProtocolError::bad_output(&method, format!("{text:?}")).into())
}

fn property_get_all(
    app: &Qubes,
    dest: &str,
    prefix: &str,
) -> Result<BTreeMap<String, Property>, Error> {
    let method = format!("{prefix}GetAll");
    match app.call_text(dest, &method, "", b"") {
        Ok(text) => parse_property_get_all(&method, &text),
        Err(e) if e.is_access_denied() => {
            let names = lines(&app.call_text(dest, &format!("{prefix}List"), "", b"")?);
            let values = app.map_parallel(&names, |name| property_get(app, dest, prefix, name));
            names
                .into_iter()
                .zip(values)
                .map(|(name, value)| Ok((name, value?)))
                .collect()
        }
        Err(e) => Err(e),
    }
}

/// Parse `GetAll` output: `<name> <Get output, with \ and newline escaped>\n`.
pub fn parse_property_get_all(
    method: &str,
    text: &str,
) -> Result<BTreeMap<String, Property>, Error> {
    let mut properties = BTreeMap::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let bad = || Error::from(ProtocolError::bad_output(method, format!("{line:?}")));
        let (name, rest) = line.split_once(' ').ok_or_else(bad)?;
        let property = Property::parse(&unescape_property_line(rest)).ok_or_else(bad)?;
        properties.insert(name.to_owned(), property);
    }
    Ok(properties)
}

/// Undo qubesd's GetAll escaping: `\\` → `\`, `\n` → newline; any other
/// backslash is kept as it is.
fn unescape_property_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_list_r43_and_r42() {
        let r43 = "dom0 class=AdminVM state=Running uuid=00000000-0000-0000-0000-000000000000\n\
                   work class=AppVM state=Halted uuid=fd018d5f-9f43-4df4-9b3f-322c0dc912cc\n";
        let vms = parse_vm_list(r43).unwrap();
        assert_eq!(vms.len(), 2);
        assert_eq!(vms[0].class, "AdminVM");
        assert_eq!(vms[0].power_state, PowerState::Running);
        assert_eq!(
            vms[1].uuid.as_deref(),
            Some("fd018d5f-9f43-4df4-9b3f-322c0dc912cc")
        );
        assert!(vms[0].power_state.is_running());
        assert!(!vms[1].power_state.is_running());
        assert_eq!(PowerState::parse("NA"), PowerState::NotAvailable);
        assert_eq!(
            PowerState::parse("Weird"),
            PowerState::Other("Weird".into())
        );
        let r42 = "work class=AppVM state=Paused\n";
        let vms = parse_vm_list(r42).unwrap();
        assert_eq!(vms[0].uuid, None);
        assert_eq!(vms[0].power_state, PowerState::Paused);
        assert_eq!(parse_vm_list("").unwrap(), vec![]);
        for bad in [
            "work\n",
            "work class=AppVM\n",
            "work state=Running\n",
            "0bad class=A state=B\n",
            "w class\n",
        ] {
            assert!(parse_vm_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn property_lines() {
        let p = Property::parse("default=True type=vm ").unwrap();
        assert!(p.is_default);
        assert_eq!(p.as_name(), None);
        let p = Property::parse("default=False type=str a b c").unwrap();
        assert_eq!(p.value, "a b c");
        assert_eq!(
            Property::parse("default=False type=int -1")
                .unwrap()
                .as_int(),
            Some(-1)
        );
        assert_eq!(
            Property::parse("default=True type=bool False")
                .unwrap()
                .as_bool(),
            Some(false)
        );
        for bad in [
            "",
            "default=True",
            "default=True type=int",
            "default=yes type=int 1",
            "default=True kind=int 1",
        ] {
            assert_eq!(Property::parse(bad), None, "{bad:?}");
        }
        let all = parse_property_get_all(
            "admin.vm.property.GetAll",
            "kernelopts default=False type=str a\\\\b\\nc\\x\nvcpus default=True type=int 2\n",
        )
        .unwrap();
        assert_eq!(all["kernelopts"].value, "a\\b\nc\\x");
        assert_eq!(all["vcpus"].as_int(), Some(2));
    }
}
