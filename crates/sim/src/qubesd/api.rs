//! The Admin API methods: qubesd's semantics over a [`World`].
//!
//! Each request is handled under the server's state lock, in the order of
//! qubesd (`qubes/api/__init__.py`, `qubes/api/admin.py`): decode source and
//! destination, look the method up, check payload / argument / destination,
//! run the handler with its permission checks (`qubes/ext/admin.py`), fire the
//! events the change causes, save the world.

use qubesadmin::validate::{self, ValidationError};

use super::events::{Event, Listener};
use super::filter::PolicyFilter;
use super::wire::{self, RawRequest, error_reply, ok_reply, py_repr};
use crate::world::{self, NewQube, Qube, World};

/// Exceptions qubesd reports as a prohibited feature change
/// (`qubes.ext.admin.PROHIBITED_FEATURES`).
const PROHIBITED_FEATURES: [&str; 4] = [
    "deferred-netvm-original",
    "preload-dispvm",
    "preload-dispvm-completed",
    "preload-dispvm-in-progress",
];

/// Write-once properties: changing one that is set raises a non-Qubes
/// exception in qubesd (`AttributeError`), which drops the connection.
const WRITE_ONCE: [&str; 4] = ["name", "qid", "uuid", "dispid"];

/// Computed properties (`qubes.stateless_property`): their setter refuses
/// any value; `Reset` is accepted and changes nothing.
const STATELESS: [&str; 15] = [
    "klass",
    "icon",
    "is_preload",
    "visible_ip",
    "visible_ip6",
    "visible_gateway",
    "visible_gateway6",
    "visible_netmask",
    "gateway",
    "gateway6",
    "dns",
    "xid",
    "stubdom_uuid",
    "stubdom_xid",
    "start_time",
];

/// What the connection does after a request was handled.
#[derive(Debug)]
pub enum Outcome {
    /// Send these bytes, then close.
    Reply(Vec<u8>),
    /// Close without sending anything (framing error, non-Qubes exception).
    Close,
    /// `admin.Events`: the connection becomes a listener.
    Subscribe {
        src: String,
        dest: String,
        dest_is_admin: bool,
    },
}

/// A failed call: a Qubes exception (sent) or anything else (connection dropped).
#[derive(Debug)]
enum Fail {
    Qubes { class: String, message: String },
    Drop,
}

type Res<T> = Result<T, Fail>;

fn qerr<T>(class: &str, message: impl Into<String>) -> Res<T> {
    Err(Fail::Qubes {
        class: class.to_owned(),
        message: message.into(),
    })
}

fn protocol<T>(message: impl Into<String>) -> Res<T> {
    qerr("ProtocolError", message)
}

impl From<ValidationError> for Fail {
    fn from(e: ValidationError) -> Fail {
        Fail::Qubes {
            class: e.qubesd_exception().to_owned(),
            message: e.to_string(),
        }
    }
}

/// The server's shared state.
pub struct State {
    pub world: World,
    pub listeners: Vec<Listener>,
    pub next_listener: u64,
    pub filter: PolicyFilter,
    /// Set when saving the world failed; reported by the server's owner.
    pub last_save_error: Option<String>,
}

impl State {
    pub fn new(world: World) -> State {
        let filter = PolicyFilter::new(world.policy_dir());
        State {
            world,
            listeners: Vec::new(),
            next_listener: 1,
            filter,
            last_save_error: None,
        }
    }

    /// Dispatch one event to every listener that should see it, then apply
    /// qubesd's system-info cache invalidation (which runs after dispatch,
    /// see `PolicyFilter`).
    pub fn fire(&mut self, event: Event) {
        let bytes = event.encode();
        let mut gone = Vec::new();
        let target = event.policy_target();
        let service_arg = format!("+{}", event.name.replace(':', "_"));
        for i in 0..self.listeners.len() {
            let listener = &self.listeners[i];
            if !listener.subscribed(&event) {
                continue;
            }
            if listener.src != "dom0" {
                let src = listener.src.clone();
                if !self
                    .filter
                    .allows(&self.world, "admin.Events", &service_arg, &src, &target)
                {
                    continue;
                }
            }
            if !self.listeners[i].send(&bytes) {
                gone.push(self.listeners[i].id);
            }
        }
        if !gone.is_empty() {
            self.listeners.retain(|l| !gone.contains(&l.id));
        }
        if event.invalidates_system_info() {
            self.filter.invalidate();
        }
    }

    fn save(&mut self) {
        if let Err(e) = self.world.save() {
            self.last_save_error = Some(e.to_string());
        }
    }
}

/// How a method treats its argument, payload and destination
/// (`@qubes.api.method(wants_arg=…, wants_payload=…, dest_adminvm=…)`).
#[derive(Clone, Copy)]
struct Spec {
    wants_arg: Option<bool>,
    wants_payload: Option<bool>,
    dest_adminvm: Option<bool>,
}

const fn spec(
    wants_arg: Option<bool>,
    wants_payload: Option<bool>,
    dest_adminvm: Option<bool>,
) -> Spec {
    Spec {
        wants_arg,
        wants_payload,
        dest_adminvm,
    }
}

const N: Option<bool> = None;
const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);

fn method_spec(method: &str) -> Option<Spec> {
    Some(match method {
        "admin.vmclass.List" => spec(F, F, T),
        "admin.vm.List" => spec(F, F, N),
        "admin.vm.property.List" => spec(F, F, N),
        "admin.property.List" => spec(F, F, T),
        "admin.vm.property.Get" | "admin.vm.property.GetDefault" => spec(T, F, N),
        "admin.property.Get" | "admin.property.GetDefault" => spec(T, F, T),
        "admin.vm.property.GetAll" => spec(F, F, N),
        "admin.property.GetAll" => spec(F, F, T),
        "admin.vm.property.Set" => spec(T, N, N),
        "admin.property.Set" => spec(T, N, T),
        "admin.vm.property.Reset" => spec(T, F, N),
        "admin.property.Reset" => spec(T, F, T),
        "admin.vm.tag.List" => spec(F, F, N),
        "admin.vm.tag.Get" | "admin.vm.tag.Set" | "admin.vm.tag.Remove" => spec(T, F, N),
        "admin.label.List" => spec(F, F, T),
        "admin.label.Get" | "admin.label.Index" => spec(T, F, T),
        "admin.vm.Start" => spec(F, F, N),
        "admin.vm.Shutdown" => spec(N, F, N),
        "admin.Events" => spec(F, F, N),
        "admin.vm.feature.List" => spec(F, F, N),
        "admin.vm.feature.Get"
        | "admin.vm.feature.CheckWithTemplate"
        | "admin.vm.feature.CheckWithNetvm"
        | "admin.vm.feature.CheckWithAdminVM"
        | "admin.vm.feature.CheckWithTemplateAndAdminVM"
        | "admin.vm.feature.Remove" => spec(T, F, N),
        "admin.vm.feature.Set" => spec(T, N, N),
        "admin.vm.Remove" => spec(F, F, N),
        "admin.vm.CurrentState" => spec(F, F, N),
        m if m
            .strip_prefix("admin.vm.Create.")
            .is_some_and(|c| world::QUBE_CLASSES.contains(&c)) =>
        {
            spec(N, N, T)
        }
        _ => return None,
    })
}

/// The validated request a handler works on.
struct Call {
    method: String,
    arg: String,
    /// Source qube name (resolved).
    src: String,
    src_is_admin: bool,
    /// Destination qube name (resolved).
    dest: String,
    dest_is_admin: bool,
    payload: Vec<u8>,
}

/// Handle one request (already read completely; at most [`wire::MAX_REQUEST`] bytes).
pub fn handle(state: &mut State, request: &[u8]) -> Outcome {
    if request.len() > wire::MAX_REQUEST {
        return Outcome::Close;
    }
    let Some(raw) = wire::parse_request(request) else {
        return Outcome::Close;
    };
    match prepare(state, raw).and_then(|call| run(state, call)) {
        Ok(outcome) => outcome,
        Err(Fail::Qubes { class, message }) => Outcome::Reply(error_reply(&class, &message)),
        Err(Fail::Drop) => Outcome::Close,
    }
}

/// `decode_vm`: a name or `uuid:…` to an existing qube's name.
fn decode_vm(world: &World, raw: &[u8]) -> Res<String> {
    // Non-ASCII: UnicodeDecodeError, not a Qubes exception.
    let text = std::str::from_utf8(raw)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or(Fail::Drop)?;
    if let Some(uuid) = text.strip_prefix("uuid:") {
        if !is_uuid_designator(raw) {
            return qerr(
                "QubesVMInvalidUUIDError",
                format!("VM UUID is not valid: {}", py_repr(uuid)),
            );
        }
        return match world.qube_by_uuid(&uuid.to_ascii_lowercase()) {
            Some(q) => Ok(q.name.clone()),
            None => qerr(
                "QubesVMNotFoundError",
                format!("No such domain: {}", py_repr(text)),
            ),
        };
    }
    validate::vm_name(text)?;
    match world.qube(text) {
        Some(q) => Ok(q.name.clone()),
        None => qerr(
            "QubesVMNotFoundError",
            format!("No such domain: {}", py_repr(text)),
        ),
    }
}

/// `len == 41` and `\Auuid:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]*`.
fn is_uuid_designator(raw: &[u8]) -> bool {
    if raw.len() != 41 {
        return false;
    }
    let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let body = &raw[5..];
    body.iter().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => hex(b),
    })
}

fn prepare(state: &State, raw: RawRequest) -> Res<Call> {
    let world = &state.world;
    let src = decode_vm(world, &raw.src)?;
    let dest = decode_vm(world, &raw.dest)?;
    let ascii = |b: &[u8]| -> Res<String> {
        if b.is_ascii() {
            Ok(String::from_utf8_lossy(b).into_owned())
        } else {
            Err(Fail::Drop)
        }
    };
    let arg = ascii(&raw.arg)?;
    let method = ascii(&raw.method)?;
    let Some(spec) = method_spec(&method) else {
        return protocol(format!("no such method: {}", py_repr(&method)));
    };
    let is_admin = |name: &str| world.qube(name).is_some_and(|q| q.class == "AdminVM");
    let call = Call {
        src_is_admin: is_admin(&src),
        dest_is_admin: is_admin(&dest),
        method,
        arg,
        src,
        dest,
        payload: raw.payload,
    };
    match spec.wants_payload {
        Some(true) if call.payload.is_empty() => return protocol("expected payload"),
        Some(false) if !call.payload.is_empty() => return protocol("unexpected payload"),
        _ => {}
    }
    match spec.wants_arg {
        Some(true) if call.arg.is_empty() => return protocol("expected an argument"),
        Some(false) if !call.arg.is_empty() => return protocol("unexpected argument"),
        _ => {}
    }
    match spec.dest_adminvm {
        Some(true) if !call.dest_is_admin => return protocol("expected destination to be AdminVM"),
        Some(false) if call.dest_is_admin => {
            return protocol("expected destination to not be AdminVM");
        }
        _ => {}
    }
    Ok(call)
}

fn text(body: impl Into<String>) -> Res<Outcome> {
    Ok(Outcome::Reply(ok_reply(body.into().as_bytes())))
}

fn done() -> Res<Outcome> {
    Ok(Outcome::Reply(ok_reply(b"")))
}

fn run(state: &mut State, call: Call) -> Res<Outcome> {
    let m = call.method.as_str();
    match m {
        "admin.vmclass.List" => text(
            world::QUBE_CLASSES
                .iter()
                .map(|c| format!("{c}\n"))
                .collect::<String>(),
        ),
        "admin.vm.List" => vm_list(state, &call),
        "admin.vm.property.List" => property_list(PropHolder::Vm(&call.dest), state),
        "admin.property.List" => property_list(PropHolder::Global, state),
        "admin.vm.property.Get" => property_get(PropHolder::Vm(&call.dest), state, &call.arg),
        "admin.property.Get" => property_get(PropHolder::Global, state, &call.arg),
        "admin.vm.property.GetAll" => property_get_all(PropHolder::Vm(&call.dest), state),
        "admin.property.GetAll" => property_get_all(PropHolder::Global, state),
        "admin.vm.property.GetDefault" => {
            property_get_default(PropHolder::Vm(&call.dest), state, &call.arg)
        }
        "admin.property.GetDefault" => property_get_default(PropHolder::Global, state, &call.arg),
        "admin.vm.property.Set" => property_set(PropHolder::Vm(&call.dest), state, &call),
        "admin.property.Set" => property_set(PropHolder::Global, state, &call),
        "admin.vm.property.Reset" => property_reset(PropHolder::Vm(&call.dest), state, &call.arg),
        "admin.property.Reset" => property_reset(PropHolder::Global, state, &call.arg),
        "admin.vm.tag.List" => {
            let q = qube(state, &call.dest)?;
            text(q.tags.iter().map(|t| format!("{t}\n")).collect::<String>())
        }
        "admin.vm.tag.Get" => {
            validate::tag(&call.arg)?;
            let q = qube(state, &call.dest)?;
            text(if q.tags.contains(&call.arg) { "1" } else { "0" })
        }
        "admin.vm.tag.Set" => tag_set(state, &call),
        "admin.vm.tag.Remove" => tag_remove(state, &call),
        "admin.label.List" => text(
            state
                .world
                .data
                .labels
                .iter()
                .map(|l| format!("{}\n", l.name))
                .collect::<String>(),
        ),
        "admin.label.Get" | "admin.label.Index" => {
            validate::label_name(&call.arg)?;
            let label = state
                .world
                .find_label(&call.arg)
                .ok_or_else(|| label_not_found(&call.arg))?;
            if m == "admin.label.Get" {
                text(label.color.clone())
            } else {
                text(label.index.to_string())
            }
        }
        "admin.vm.Start" => vm_start(state, &call),
        "admin.vm.Shutdown" => vm_shutdown(state, &call),
        "admin.Events" => Ok(Outcome::Subscribe {
            src: call.src.clone(),
            dest: call.dest.clone(),
            dest_is_admin: call.dest == "dom0",
        }),
        "admin.vm.feature.List" => {
            let q = qube(state, &call.dest)?;
            text(
                q.features
                    .keys()
                    .map(|k| format!("{k}\n"))
                    .collect::<String>(),
            )
        }
        "admin.vm.feature.Get" => {
            let q = qube(state, &call.dest)?;
            match q.features.get(&call.arg) {
                Some(v) => text(v.clone()),
                None => feature_not_found(&call.dest, &call.arg),
            }
        }
        "admin.vm.feature.CheckWithTemplate"
        | "admin.vm.feature.CheckWithNetvm"
        | "admin.vm.feature.CheckWithAdminVM"
        | "admin.vm.feature.CheckWithTemplateAndAdminVM" => feature_check(state, &call),
        "admin.vm.feature.Remove" => feature_remove(state, &call),
        "admin.vm.feature.Set" => feature_set(state, &call),
        "admin.vm.Remove" => vm_remove(state, &call),
        "admin.vm.CurrentState" => {
            let q = qube(state, &call.dest)?;
            text(current_state(q))
        }
        m if m.starts_with("admin.vm.Create.") => vm_create(state, &call),
        _ => protocol(format!("no such method: {}", py_repr(m))),
    }
}

fn qube<'a>(state: &'a State, name: &str) -> Res<&'a Qube> {
    // Destinations were resolved under the same lock; a miss is a bug-free
    // "qube vanished" case only in theory, reported like qubesd would.
    state.world.qube(name).ok_or_else(|| Fail::Qubes {
        class: "QubesVMNotFoundError".into(),
        message: format!("No such domain: {}", py_repr(name)),
    })
}

fn qube_mut<'a>(state: &'a mut State, name: &str) -> Res<&'a mut Qube> {
    state.world.qube_mut(name).ok_or_else(|| Fail::Qubes {
        class: "QubesVMNotFoundError".into(),
        message: format!("No such domain: {}", py_repr(name)),
    })
}

fn feature_not_found<T>(vm: &str, feature: &str) -> Res<T> {
    qerr(
        "QubesFeatureNotFoundError",
        format!("Feature not set for domain {vm}: {feature}"),
    )
}

fn label_not_found(label: &str) -> Fail {
    Fail::Qubes {
        class: "QubesLabelNotFoundError".into(),
        message: format!("Label does not exist: {label}"),
    }
}

// ---------------------------------------------------------------- vm.List

fn vm_list(state: &mut State, call: &Call) -> Res<Outcome> {
    let names: Vec<String> = if call.dest == "dom0" {
        state.world.sorted_names()
    } else {
        vec![call.dest.clone()]
    };
    let mut body = String::new();
    for name in names {
        if !call.src_is_admin
            && !state
                .filter
                .allows(&state.world, "admin.vm.List", "+", &call.src, &name)
        {
            continue;
        }
        let q = qube(state, &name)?;
        // A world without uuids is an R4.2 world: no `uuid=` field at all.
        body.push_str(&format!(
            "{} class={} state={}",
            q.name, q.class, q.power_state
        ));
        if let Some(uuid) = &q.uuid {
            body.push_str(&format!(" uuid={uuid}"));
        }
        body.push('\n');
    }
    text(body)
}

// ---------------------------------------------------------------- properties

#[derive(Clone, Copy)]
enum PropHolder<'a> {
    Vm(&'a str),
    Global,
}

impl PropHolder<'_> {
    fn props<'s>(&self, state: &'s State) -> Res<&'s indexmap::IndexMap<String, world::Property>> {
        match self {
            PropHolder::Vm(name) => Ok(&qube(state, name)?.properties_all),
            PropHolder::Global => Ok(&state.world.data.global_properties),
        }
    }

    fn default_of(&self, state: &State, prop: &str) -> Res<Option<String>> {
        Ok(match self {
            PropHolder::Vm(name) => {
                qube(state, name)?;
                state.world.default_value(name, prop)
            }
            PropHolder::Global => state
                .world
                .data
                .global_property_defaults
                .get(prop)
                .cloned()
                .flatten(),
        })
    }

    /// `str(holder)` in qubesd messages: the qube's name, or `Qubes`.
    fn display(&self) -> String {
        match self {
            PropHolder::Vm(name) => (*name).to_owned(),
            PropHolder::Global => "Qubes".to_owned(),
        }
    }
}

fn no_such_property<T>(holder: PropHolder<'_>, prop: &str) -> Res<T> {
    qerr(
        "QubesNoSuchPropertyError",
        format!("Invalid property {} of {}", py_repr(prop), holder.display()),
    )
}

fn serialize_property(p: &world::Property) -> String {
    format!(
        "default={} type={} {}",
        if p.default { "True" } else { "False" },
        p.kind,
        p.value
    )
}

/// Properties are kept in qubesd's `sorted(properties)` order — by load
/// stage, then name — which is the order of the recorded `GetAll`.
fn property_list(holder: PropHolder<'_>, state: &State) -> Res<Outcome> {
    let names = holder.props(state)?.keys();
    text(names.map(|n| format!("{n}\n")).collect::<String>())
}

fn property_get(holder: PropHolder<'_>, state: &State, prop: &str) -> Res<Outcome> {
    match holder.props(state)?.get(prop) {
        Some(p) => text(serialize_property(p)),
        None => no_such_property(holder, prop),
    }
}

fn property_get_all(holder: PropHolder<'_>, state: &State) -> Res<Outcome> {
    let props = holder.props(state)?;
    let mut body = String::new();
    for (name, prop) in props {
        let line = serialize_property(prop)
            .replace('\\', "\\\\")
            .replace('\n', "\\n");
        body.push_str(&format!("{name} {line}\n"));
    }
    text(body)
}

fn property_get_default(holder: PropHolder<'_>, state: &State, prop: &str) -> Res<Outcome> {
    let Some(p) = holder.props(state)?.get(prop) else {
        return no_such_property(holder, prop);
    };
    match holder.default_of(state, prop)? {
        Some(value) => text(format!("type={} {}", p.kind, value)),
        None => done(),
    }
}

/// `str(value)` of a property value in event arguments: `None` for no VM.
fn event_value(kind: &str, value: &str) -> String {
    if value.is_empty() && matches!(kind, "vm" | "int") {
        "None".to_owned()
    } else {
        value.to_owned()
    }
}

/// `property.sanitize` then the type's own checks; returns the value as
/// qubesd prints it afterwards.
fn sanitize_property(
    state: &State,
    holder: PropHolder<'_>,
    prop: &str,
    kind: &str,
    payload: &[u8],
) -> Res<String> {
    if !payload.is_ascii() {
        return if kind == "vm" {
            // VMProperty.sanitize raises a bare QubesValueError.
            qerr("QubesValueError", "")
        } else {
            qerr("QubesValueError", "Non-ASCII bytes in property value")
        };
    }
    let value = String::from_utf8_lossy(payload).into_owned();
    match kind {
        "bool" => match value.to_ascii_lowercase().as_str() {
            "0" | "no" | "false" | "off" => Ok("False".into()),
            "1" | "yes" | "true" | "on" => Ok("True".into()),
            _ => qerr(
                "QubesValueError",
                format!("Invalid literal for boolean property: {}", py_repr(&value)),
            ),
        },
        "int" => parse_python_int(&value)
            .map(|i| i.to_string())
            .ok_or_else(|| Fail::Qubes {
                class: "QubesValueError".into(),
                message: "Failed to parse property value as int".into(),
            }),
        "vm" => {
            if value.is_empty() {
                return Ok(value);
            }
            if let Err(e) = validate::vm_name(&value) {
                // validate_name with a property holder names the property.
                let msg = match e {
                    ValidationError::VmNameTooLong => {
                        format!("{prop} value must be shorter than 32 characters")
                    }
                    ValidationError::VmNameBadStart => {
                        format!("{prop} cannot start with hyphen, underscore, dot or numbers")
                    }
                    ValidationError::VmNameIllegalCharacters => {
                        format!("{prop} contains illegal characters")
                    }
                    other => other.to_string(),
                };
                return qerr("QubesPropertyValueError", msg);
            }
            // Existence and class are checked when the value is assigned.
            let target = state.world.qube(&value).ok_or_else(|| Fail::Qubes {
                class: "QubesPropertyValueError".into(),
                message: format!("Can't set {prop} to non-existing qube {value}"),
            })?;
            if let Some(required) = required_vm_class(state, holder, prop)
                && target.class != required
            {
                return qerr(
                    "QubesPropertyValueError",
                    format!(
                        "wrong VM class: domains[{}] is of type {} and not {}",
                        py_repr(&value),
                        target.class,
                        required
                    ),
                );
            }
            Ok(value)
        }
        _ => {
            // string.printable
            if !value
                .chars()
                .all(|c| (' '..='~').contains(&c) || "\t\n\r\x0b\x0c".contains(c))
            {
                return qerr("QubesValueError", "Invalid characters in property value");
            }
            if kind == "label" {
                // The setter stores the label object: its name, also when
                // the value named it by index.
                // setter_label: `label-N` names the label with index N
                // (a non-number there is a ValueError: no reply).
                if let Some(index) = value.strip_prefix("label-") {
                    let index = parse_python_int(index).ok_or(Fail::Drop)?;
                    return match state
                        .world
                        .data
                        .labels
                        .iter()
                        .find(|l| i128::from(l.index) == index)
                    {
                        Some(label) => Ok(label.name.clone()),
                        None => Err(label_not_found(&index.to_string())),
                    };
                }
                return match state.world.find_label(&value) {
                    Some(label) => Ok(label.name.clone()),
                    None => Err(label_not_found(&value)),
                };
            }
            Ok(value)
        }
    }
}

/// Checks qubesd makes in property setters and `property-pre-set` handlers,
/// before any event reaches a listener.
fn check_vm_setter(state: &State, vm: &str, prop: &str, value: &str) -> Res<()> {
    match prop {
        // qubes.vm.mix.net._setter_netvm
        "netvm" if !value.is_empty() => {
            let provides = state
                .world
                .qube(value)
                .and_then(|q| q.properties_all.get("provides_network"))
                .is_some_and(|p| p.value == "True");
            if !provides {
                return qerr(
                    "QubesValueError",
                    format!("The {value} qube does not provide network"),
                );
            }
            if value == vm {
                return qerr("QubesValueError", "Loops in network are unsupported");
            }
        }
        // Setters of qubes/vm/qubesvm.py.
        "memory" | "vcpus" | "qrexec_timeout" | "shutdown_timeout" | "stubdom_mem"
            if value.parse::<i128>().is_ok_and(|v| v <= 0) =>
        {
            return qerr(
                "QubesPropertyValueError",
                format!("{prop} must be positive"),
            );
        }
        "maxmem" if value.parse::<i128>().is_ok_and(|v| v < 0) => {
            return qerr("QubesPropertyValueError", "maxmem must be positive or zero");
        }
        "kernel" if value.contains('/') => {
            return qerr("QubesPropertyValueError", "Kernel name cannot contain '/'");
        }
        "kernelopts" if value.chars().count() > 512 => {
            return qerr(
                "QubesPropertyValueError",
                "Kernelopts value too long (512 chars max)",
            );
        }
        "default_user"
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-+,.".contains(c)) =>
        {
            return qerr(
                "QubesPropertyValueError",
                "Username can contain only those characters: \
                 abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+,.",
            );
        }
        "virt_mode" if !matches!(value, "hvm" | "pv" | "pvh") => {
            return qerr(
                "QubesPropertyValueError",
                "Invalid virtualization mode, supported values: hvm, pv, pvh",
            );
        }
        _ => {}
    }
    Ok(())
}

/// Checks of qubesd's `property-pre-set` handlers. A pre-event reaches the
/// listeners *before* class handlers run (qubes.events: instance handlers
/// first for pre-events), so these fail after the pre-set was announced.
fn check_vm_pre_set(state: &State, vm: &str, prop: &str, value: &str) -> Res<()> {
    match prop {
        // on_property_pre_set_kernel → qubes.app.validate_kernel
        "kernel" if !value.is_empty() && !state.world.kernel_installed(value) => qerr(
            "QubesPropertyValueError",
            format!("Kernel {} not installed", py_repr(value)),
        ),
        // qubes.vm.appvm / dispvm: on_property_pre_set_template
        "template" if qube(state, vm)?.power_state != "Halted" => qerr(
            "QubesVMNotHaltedError",
            "Cannot change template while qube is running",
        ),
        _ => Ok(()),
    }
}

/// Class handlers of `property-set:PROP` / `property-reset:PROP` on a qube,
/// which run before listeners get the event (non-pre events: class handlers
/// first). `newvalue` is the property's value after the change.
fn vm_property_changed(state: &mut State, vm: &str, prop: &str, newvalue: &str) -> Res<()> {
    match prop {
        // on_property_set_label / on_property_set_tmpl_for_dvms
        "label" | "template_for_dispvms" => {
            state.fire(Event::vm(vm, "property-reset:icon", &[("name", "icon")]));
        }
        // qubes.ext.gui / qubes.ext.audio keep the guivm-X / audiovm-X tag.
        "guivm" | "audiovm" => sync_vm_tag(state, vm, prop, newvalue)?,
        // qubes.ext.core_features.set_servicevm_feature
        "provides_network" => {
            let has = qube(state, vm)?.features.contains_key("servicevm");
            if newvalue == "True" {
                set_feature_with_events(state, vm, "servicevm", "1");
                state.fire(Event::vm(vm, "property-reset:icon", &[("name", "icon")]));
            } else if has {
                remove_feature_with_events(state, vm, "servicevm");
                state.fire(Event::vm(vm, "property-reset:icon", &[("name", "icon")]));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The gui/audio extensions: one `guivm-NAME` (`audiovm-NAME`) tag naming
/// the qube's GuiVM (AudioVM). The gui extension keeps a tag that is already
/// right; the audio extension removes and re-adds it.
fn sync_vm_tag(state: &mut State, vm: &str, prop: &str, newvalue: &str) -> Res<()> {
    let prefix = format!("{prop}-");
    let wanted = (!newvalue.is_empty()).then(|| format!("{prefix}{newvalue}"));
    let present: Vec<String> = qube(state, vm)?
        .tags
        .iter()
        .filter(|t| t.starts_with(&prefix))
        .cloned()
        .collect();
    let mut found = false;
    for tag in present {
        if prop == "guivm" && Some(&tag) == wanted.as_ref() {
            found = true;
            continue;
        }
        remove_tag_with_event(state, vm, &tag)?;
    }
    if !found && let Some(tag) = wanted {
        add_tag(state, vm, &tag)?;
    }
    Ok(())
}

/// `vm.PROP = value` from inside qubesd: the property events with the
/// class handlers in between.
fn set_vm_property_internal(state: &mut State, vm: &str, prop: &str, value: &str) -> Res<()> {
    let Some(current) = qube(state, vm)?.properties_all.get(prop).cloned() else {
        return Ok(());
    };
    let newvalue = event_value(&current.kind, value);
    let oldvalue = event_value(&current.kind, &current.value);
    let kwargs = [
        ("name", prop),
        ("newvalue", newvalue.as_str()),
        ("oldvalue", oldvalue.as_str()),
    ];
    state.fire(Event::vm(vm, format!("property-pre-set:{prop}"), &kwargs));
    assign_vm_property(qube_mut(state, vm)?, prop, value);
    state.world.refresh_inherited();
    vm_property_changed(state, vm, prop, value)?;
    state.fire(Event::vm(vm, format!("property-set:{prop}"), &kwargs));
    Ok(())
}

fn remove_tag_with_event(state: &mut State, vm: &str, tag: &str) -> Res<()> {
    qube_mut(state, vm)?.tags.retain(|t| t != tag);
    state.fire(Event::vm(
        vm,
        format!("domain-tag-delete:{tag}"),
        &[("tag", tag)],
    ));
    Ok(())
}

/// `vm.features[key] = value` from inside qubesd (no validation handlers
/// that could fail apply to the features qubesd sets itself).
fn set_feature_with_events(state: &mut State, vm: &str, key: &str, value: &str) {
    let Some(q) = state.world.qube(vm) else {
        return;
    };
    let old = q.features.get(key).cloned();
    let mut kwargs = vec![("feature", key), ("value", value)];
    if let Some(old) = &old {
        kwargs.push(("oldvalue", old.as_str()));
    }
    state.fire(Event::vm(
        vm,
        format!("domain-feature-pre-set:{key}"),
        &kwargs,
    ));
    if let Some(q) = state.world.qube_mut(vm) {
        q.features.insert(key.to_owned(), value.to_owned());
    }
    state.fire(Event::vm(vm, format!("domain-feature-set:{key}"), &kwargs));
}

fn remove_feature_with_events(state: &mut State, vm: &str, key: &str) {
    state.fire(Event::vm(
        vm,
        format!("domain-feature-pre-delete:{key}"),
        &[("feature", key)],
    ));
    if let Some(q) = state.world.qube_mut(vm) {
        q.features.shift_remove(key);
    }
    state.fire(Event::vm(
        vm,
        format!("domain-feature-delete:{key}"),
        &[("feature", key)],
    ));
}

/// The class a VM-valued property must point to, where qubesd restricts it.
fn required_vm_class(state: &State, holder: PropHolder<'_>, prop: &str) -> Option<&'static str> {
    let PropHolder::Vm(name) = holder else {
        return match prop {
            "default_template" => Some("TemplateVM"),
            _ => None,
        };
    };
    let class = state.world.qube(name)?.class.as_str();
    match (class, prop) {
        ("AppVM", "template") => Some("TemplateVM"),
        ("DispVM", "template") => Some("AppVM"),
        _ => None,
    }
}

/// Python's `int(str)`: surrounding whitespace, a sign, digits with single
/// underscores between them.
fn parse_python_int(text: &str) -> Option<i128> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i128 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

fn property_set(holder: PropHolder<'_>, state: &mut State, call: &Call) -> Res<Outcome> {
    let prop = call.arg.as_str();
    let Some(current) = holder.props(state)?.get(prop).cloned() else {
        return no_such_property(holder, prop);
    };
    let value = sanitize_property(state, holder, prop, &current.kind, &call.payload)?;
    if WRITE_ONCE.contains(&prop) && !current.default {
        return Err(Fail::Drop);
    }
    if let PropHolder::Vm(name) = holder
        && STATELESS.contains(&prop)
    {
        let class = qube(state, name)?.class.clone();
        return qerr(
            "QubesPropertyValueError",
            format!(
                "property {} on {class} instance cannot be set",
                py_repr(prop)
            ),
        );
    }
    if matches!(prop, "default_dispvm" | "management_dispvm") && !value.is_empty() {
        // qubes.vm.setter_disposable_template
        let is_dvm_template = state
            .world
            .qube(&value)
            .and_then(|q| q.properties_all.get("template_for_dispvms"))
            .is_some_and(|p| p.value == "True");
        if !is_dvm_template {
            let target = match holder {
                PropHolder::Vm(name) => format!("qube {}", py_repr(name)),
                PropHolder::Global => "system".to_owned(),
            };
            return qerr(
                "QubesPropertyValueError",
                format!(
                    "Cannot set invalid property to {target}, {prop} {} has template_for_dispvms set to False",
                    py_repr(&value)
                ),
            );
        }
    }
    if current.kind == "vm" && value.is_empty() && prop == "template" {
        return qerr(
            "QubesPropertyValueError",
            format!(
                "Invalid value None for property 'template' of {}",
                holder.display()
            ),
        );
    }
    if let PropHolder::Vm(name) = holder {
        check_vm_setter(state, name, prop, &value)?;
    }
    let newvalue = event_value(&current.kind, &value);
    let oldvalue = event_value(&current.kind, &current.value);
    let pre = format!("property-pre-set:{prop}");
    let set = format!("property-set:{prop}");
    let kwargs = [
        ("name", prop),
        ("newvalue", newvalue.as_str()),
        ("oldvalue", oldvalue.as_str()),
    ];
    match holder {
        PropHolder::Vm(name) => {
            state.fire(Event::vm(name, &pre, &kwargs));
            check_vm_pre_set(state, name, prop, &value)?;
            let q = qube_mut(state, name)?;
            assign_vm_property(q, prop, &value);
            state.world.refresh_inherited();
            vm_property_changed(state, name, prop, &value)?;
            state.fire(Event::vm(name, &set, &kwargs));
        }
        PropHolder::Global => {
            let inherited = world::inherited_from_global(prop);
            let heirs = heirs_of(state, inherited);
            state.fire(Event::app(&pre, &kwargs));
            // Class handlers of the app's property-pre-set (after listeners).
            match prop {
                "default_kernel" if !value.is_empty() && !state.world.kernel_installed(&value) => {
                    return qerr(
                        "QubesPropertyValueError",
                        format!("Kernel {} not installed", py_repr(&value)),
                    );
                }
                "default_netvm" => {
                    for vm in &heirs {
                        state.fire(Event::vm(
                            vm,
                            "property-pre-set:netvm",
                            &[
                                ("name", "netvm"),
                                ("newvalue", &newvalue),
                                ("oldvalue", &oldvalue),
                            ],
                        ));
                    }
                }
                "clockvm" if !value.is_empty() => {
                    let has = qube(state, &value)?
                        .features
                        .contains_key("service.clocksync");
                    if !has {
                        set_feature_with_events(state, &value, "service.clocksync", "1");
                    }
                }
                _ => {}
            }
            assign_global_property(state, prop, &value);
            // Class handlers of the app's property-set (before listeners).
            fire_heir_resets(state, prop, &oldvalue, &heirs);
            match prop {
                "default_guivm" | "default_audiovm" => {
                    let vm_prop = &prop["default_".len()..];
                    for vm in heirs_of(state, Some(vm_prop)) {
                        sync_vm_tag(state, &vm, vm_prop, &value)?;
                        state.fire(Event::vm(
                            &vm,
                            format!("property-set:{vm_prop}"),
                            &[
                                ("name", vm_prop),
                                ("newvalue", &newvalue),
                                ("oldvalue", &oldvalue),
                            ],
                        ));
                    }
                }
                "clockvm" if oldvalue != newvalue && !current.value.is_empty() => {
                    let old_vm = current.value.clone();
                    let truthy = state
                        .world
                        .qube(&old_vm)
                        .and_then(|q| q.features.get("service.clocksync"))
                        .is_some_and(|v| !v.is_empty());
                    if truthy {
                        remove_feature_with_events(state, &old_vm, "service.clocksync");
                    }
                }
                _ => {}
            }
            state.fire(Event::app(&set, &kwargs));
        }
    }
    state.save();
    done()
}

/// Qubes (dom0 first, then by name) whose `vm_prop` is at its default and so
/// follows the global property.
fn heirs_of(state: &State, vm_prop: Option<&str>) -> Vec<String> {
    let Some(vm_prop) = vm_prop else {
        return Vec::new();
    };
    state
        .world
        .sorted_names()
        .into_iter()
        .filter(|n| {
            state
                .world
                .qube(n)
                .and_then(|q| q.properties_all.get(vm_prop))
                .is_some_and(|p| p.default)
        })
        .collect()
}

/// qubesd announces the new effective value of `default_dispvm` and `netvm`
/// on each qube that follows the global default (`qubes/app.py`).
fn fire_heir_resets(state: &mut State, global: &str, oldvalue: &str, heirs: &[String]) {
    let vm_prop = match global {
        "default_dispvm" => "default_dispvm",
        "default_netvm" => "netvm",
        _ => return,
    };
    for vm in heirs {
        if vm_prop == "netvm" {
            // NetVMMixin.on_property_reset_netvm announces the new value
            // first (handlers run before listeners get the reset).
            let newvalue = state
                .world
                .qube(vm)
                .and_then(|q| q.properties_all.get("netvm"))
                .map(|p| event_value("vm", &p.value))
                .unwrap_or_else(|| "None".into());
            if newvalue != oldvalue {
                state.fire(Event::vm(
                    vm,
                    "property-set:netvm",
                    &[
                        ("name", "netvm"),
                        ("newvalue", &newvalue),
                        ("oldvalue", oldvalue),
                    ],
                ));
            }
        }
        state.fire(Event::vm(
            vm,
            format!("property-reset:{vm_prop}"),
            &[("name", vm_prop), ("oldvalue", oldvalue)],
        ));
    }
}

fn assign_global_property(state: &mut State, prop: &str, value: &str) {
    let data = &mut state.world.data;
    if let Some(p) = data.global_properties.get_mut(prop) {
        p.default = false;
        p.value = value.to_owned();
    }
    data.global_properties_explicit
        .insert(prop.to_owned(), value.to_owned());
    propagate_global(state);
}

fn propagate_global(state: &mut State) {
    state.world.refresh_inherited();
}

/// Store an explicit value and keep the mirrored fields in step.
fn assign_vm_property(q: &mut Qube, prop: &str, value: &str) {
    if let Some(p) = q.properties_all.get_mut(prop) {
        p.default = false;
        p.value = value.to_owned();
    }
    q.properties_explicit
        .insert(prop.to_owned(), value.to_owned());
    sync_mirrors(q, prop);
}

fn sync_mirrors(q: &mut Qube, prop: &str) {
    match prop {
        "label" | "template_for_dispvms" => {
            if let Some(label) = q.properties_all.get("label").map(|p| p.value.clone())
                && !label.is_empty()
            {
                q.label = label;
            }
            let tfd = q
                .properties_all
                .get("template_for_dispvms")
                .is_some_and(|p| p.value == "True");
            let icon = world::icon_for(&q.class, &q.label, tfd);
            if let Some(p) = q.properties_all.get_mut("icon") {
                p.value = icon.clone();
            }
            q.property_defaults.insert("icon".into(), Some(icon));
        }
        "template" => {
            q.template = q
                .properties_all
                .get("template")
                .map(|p| p.value.clone())
                .filter(|v| !v.is_empty());
        }
        _ => {}
    }
}

fn property_reset(holder: PropHolder<'_>, state: &mut State, prop: &str) -> Res<Outcome> {
    let Some(current) = holder.props(state)?.get(prop).cloned() else {
        return no_such_property(holder, prop);
    };
    if WRITE_ONCE.contains(&prop) && !current.default {
        return Err(Fail::Drop);
    }
    let default = holder.default_of(state, prop)?.unwrap_or_default();
    let oldvalue = event_value(&current.kind, &current.value);
    let kwargs = [("name", prop), ("oldvalue", oldvalue.as_str())];
    let ev = |stage: &str| format!("property-{stage}:{prop}");
    match holder {
        PropHolder::Vm(name) => {
            // NetVMMixin: resetting netvm announces the change as a set too.
            let netvm_change = (prop == "netvm")
                .then(|| event_value("vm", &default))
                .filter(|new| *new != oldvalue);
            state.fire(Event::vm(name, ev("pre-reset"), &kwargs));
            // on_property_pre_reset_netvm runs after listeners got the pre-reset.
            if let Some(new) = &netvm_change {
                state.fire(Event::vm(
                    name,
                    "property-pre-set:netvm",
                    &[
                        ("name", "netvm"),
                        ("newvalue", new),
                        ("oldvalue", &oldvalue),
                    ],
                ));
            }
            state.fire(Event::vm(name, ev("pre-del"), &kwargs));
            let q = qube_mut(state, name)?;
            if let Some(p) = q.properties_all.get_mut(prop) {
                p.default = true;
                p.value = default.clone();
            }
            q.properties_explicit.shift_remove(prop);
            sync_mirrors(q, prop);
            state.world.refresh_inherited();
            if let Some(new) = &netvm_change {
                state.fire(Event::vm(
                    name,
                    "property-set:netvm",
                    &[
                        ("name", "netvm"),
                        ("newvalue", new),
                        ("oldvalue", &oldvalue),
                    ],
                ));
            }
            if matches!(prop, "guivm" | "audiovm") {
                vm_property_changed(state, name, prop, &default)?;
            }
            state.fire(Event::vm(name, ev("reset"), &kwargs));
            state.fire(Event::vm(name, ev("del"), &kwargs));
        }
        PropHolder::Global => {
            let heirs = heirs_of(state, world::inherited_from_global(prop));
            state.fire(Event::app(ev("pre-reset"), &kwargs));
            state.fire(Event::app(ev("pre-del"), &kwargs));
            let data = &mut state.world.data;
            if let Some(p) = data.global_properties.get_mut(prop) {
                p.default = true;
                p.value = default.clone();
            }
            data.global_properties_explicit.shift_remove(prop);
            propagate_global(state);
            // Only default_dispvm has a property-reset handler on the app.
            if prop == "default_dispvm" {
                fire_heir_resets(state, prop, &oldvalue, &heirs);
            }
            state.fire(Event::app(ev("reset"), &kwargs));
            state.fire(Event::app(ev("del"), &kwargs));
        }
    }
    state.save();
    done()
}

// ---------------------------------------------------------------- tags

fn tag_permission(call: &Call) -> Res<()> {
    if call.arg.starts_with("created-by-") && !call.src_is_admin {
        return qerr(
            "PermissionDenied",
            "changing this tag is prohibited by qubes.ext.admin.AdminExtension",
        );
    }
    Ok(())
}

/// Add a tag with its event (and the `tag-created-vm-with` follow-ups of a
/// `created-by-*` tag); adding a present tag is silent.
fn add_tag(state: &mut State, vm: &str, tag: &str) -> Res<()> {
    let q = qube_mut(state, vm)?;
    if q.tags.iter().any(|t| t == tag) {
        return Ok(());
    }
    q.tags.push(tag.to_owned());
    q.tags.sort();
    // Class handlers (AdminExtension.on_tag_add) run before listeners see
    // the tag, so the tags they add are announced first.
    if let Some(creator) = tag.strip_prefix("created-by-") {
        let extra: Vec<String> = state
            .world
            .qube(creator)
            .and_then(|c| c.features.get("tag-created-vm-with"))
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        for t in extra {
            if validate::tag(&t).is_ok() {
                add_tag(state, vm, &t)?;
            }
        }
        // qubes.ext.gui.set_guivm_on_created_by
        let guivm = state
            .world
            .qube(creator)
            .and_then(|c| c.features.get("set-created-guivm"))
            .filter(|g| state.world.qube(g).is_some())
            .cloned();
        if let Some(guivm) = guivm {
            set_vm_property_internal(state, vm, "guivm", &guivm)?;
        }
    }
    state.fire(Event::vm(
        vm,
        format!("domain-tag-add:{tag}"),
        &[("tag", tag)],
    ));
    Ok(())
}

fn tag_set(state: &mut State, call: &Call) -> Res<Outcome> {
    validate::tag(&call.arg)?;
    tag_permission(call)?;
    add_tag(state, &call.dest, &call.arg)?;
    state.save();
    done()
}

fn tag_remove(state: &mut State, call: &Call) -> Res<Outcome> {
    validate::tag(&call.arg)?;
    tag_permission(call)?;
    let q = qube_mut(state, &call.dest)?;
    let Some(pos) = q.tags.iter().position(|t| *t == call.arg) else {
        return qerr(
            "QubesTagNotFoundError",
            format!("Tag not set for domain {}: {}", call.dest, call.arg),
        );
    };
    q.tags.remove(pos);
    state.fire(Event::vm(
        &call.dest,
        format!("domain-tag-delete:{}", call.arg),
        &[("tag", call.arg.as_str())],
    ));
    state.save();
    done()
}

// ---------------------------------------------------------------- features

fn feature_permission(call: &Call) -> Res<()> {
    if PROHIBITED_FEATURES.contains(&call.arg.as_str()) {
        return qerr(
            "PermissionDenied",
            "changing this feature is prohibited by qubes.ext.admin.AdminExtension",
        );
    }
    Ok(())
}

fn feature_check(state: &State, call: &Call) -> Res<Outcome> {
    let via = match call.method.as_str() {
        "admin.vm.feature.CheckWithTemplate" | "admin.vm.feature.CheckWithTemplateAndAdminVM" => {
            Some("template")
        }
        "admin.vm.feature.CheckWithNetvm" => Some("netvm"),
        _ => None,
    };
    let with_admin = call.method.ends_with("AdminVM");
    let mut current = Some(call.dest.clone());
    // Bounded walk: a template chain cannot be longer than the world.
    for _ in 0..=state.world.data.vms.len() {
        let Some(name) = current.take() else { break };
        let Some(q) = state.world.qube(&name) else {
            break;
        };
        if let Some(v) = q.features.get(&call.arg) {
            return text(v.clone());
        }
        current = via
            .and_then(|attr| q.properties_all.get(attr))
            .map(|p| p.value.clone())
            .filter(|v| !v.is_empty());
    }
    if with_admin && !call.dest_is_admin {
        let dom0 = state.world.data.vms.iter().find(|q| q.class == "AdminVM");
        if let Some(v) = dom0.and_then(|q| q.features.get(&call.arg)) {
            return text(v.clone());
        }
    }
    feature_not_found(&call.dest, &call.arg)
}

fn feature_remove(state: &mut State, call: &Call) -> Res<Outcome> {
    feature_permission(call)?;
    let key = call.arg.as_str();
    if !qube(state, &call.dest)?.features.contains_key(key) {
        return feature_not_found(&call.dest, key);
    }
    state.fire(Event::vm(
        &call.dest,
        format!("domain-feature-pre-delete:{key}"),
        &[("feature", key)],
    ));
    qube_mut(state, &call.dest)?.features.shift_remove(key);
    state.fire(Event::vm(
        &call.dest,
        format!("domain-feature-delete:{key}"),
        &[("feature", key)],
    ));
    state.save();
    done()
}

fn feature_set(state: &mut State, call: &Call) -> Res<Outcome> {
    let key = call.arg.as_str();
    if !call.payload.is_ascii() {
        return Err(ValidationError::FeatureValueNonAscii.into());
    }
    validate::feature_name(key)?;
    validate::feature_value(key, &call.payload)?;
    let value = String::from_utf8_lossy(&call.payload).into_owned();
    feature_permission(call)?;
    let vm = call.dest.as_str();
    let old = qube(state, vm)?.features.get(key).cloned();
    let mut kwargs = vec![("feature", key), ("value", value.as_str())];
    if let Some(old) = &old {
        kwargs.push(("oldvalue", old.as_str()));
    }
    // A pre-event reaches listeners before the class handlers that may
    // refuse it (qubes.ext.services checks service names here).
    state.fire(Event::vm(
        vm,
        format!("domain-feature-pre-set:{key}"),
        &kwargs,
    ));
    if let Some(service) = key.strip_prefix("service.") {
        check_service_name(service)?;
    }
    qube_mut(state, vm)?
        .features
        .insert(key.to_owned(), value.clone());
    // Handlers of domain-feature-set run after the value was stored and
    // before listeners get the event: when one refuses (custom-persist,
    // vm-config), the invalid value stays set, the call fails, and the
    // domain-feature-set event is never sent.
    if let Err(e) = feature_set_handlers(state, vm, key, &value, old.as_deref()) {
        state.save();
        return Err(e);
    }
    state.fire(Event::vm(vm, format!("domain-feature-set:{key}"), &kwargs));
    state.save();
    done()
}

/// qubes.ext.services.on_domain_feature_pre_set.
fn check_service_name(service: &str) -> Res<()> {
    if service.is_empty() {
        return qerr("QubesValueError", "Service name cannot be empty");
    }
    if service.contains('/') {
        return qerr("QubesValueError", "Service name cannot contain a slash");
    }
    if service == "." || service == ".." {
        return qerr("QubesValueError", "Service name cannot be \".\" or \"..\"");
    }
    if service.len() > 48 && !service.starts_with("app-dispvm.") {
        return qerr("QubesValueError", "Service name must not exceed 48 bytes");
    }
    Ok(())
}

/// The class handlers of `domain-feature-set:*` that matter without a
/// running qube (custom_persist, vm_config, services, qubesvm).
fn feature_set_handlers(
    state: &mut State,
    vm: &str,
    key: &str,
    value: &str,
    old: Option<&str>,
) -> Res<()> {
    if let Some(persist_key) = key.strip_prefix(validate::CUSTOM_PERSIST_PREFIX) {
        validate::custom_persist_key(persist_key)?;
        validate::custom_persist_value(value)?;
    }
    if let Some(config) = key.strip_prefix("vm-config.") {
        // qubes.ext.vm_config (its message says 46; the limit is 52).
        if config.len() > 52 {
            return qerr("QubesValueError", "VM config name must not exceed 46 bytes");
        }
        if config.is_empty() {
            return qerr("QubesValueError", "Empty config name not allowed");
        }
        if !config.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return qerr(
                "QubesValueError",
                "Config name must start with an ASCII letter",
            );
        }
    }
    if key == "service.meminfo-writer" {
        // Compatibility hack of qubes.ext.services: the feature only resets
        // or zeroes maxmem and then removes itself.
        let current = qube(state, vm)?.properties_all.get("maxmem").cloned();
        if let Some(current) = current {
            let oldvalue = event_value("int", &current.value);
            if !value.is_empty() {
                let kwargs = [("name", "maxmem"), ("oldvalue", oldvalue.as_str())];
                state.fire(Event::vm(vm, "property-pre-reset:maxmem", &kwargs));
                state.fire(Event::vm(vm, "property-pre-del:maxmem", &kwargs));
                let default = state.world.default_value(vm, "maxmem").unwrap_or_default();
                let q = qube_mut(state, vm)?;
                if let Some(p) = q.properties_all.get_mut("maxmem") {
                    p.default = true;
                    p.value = default;
                }
                q.properties_explicit.shift_remove("maxmem");
                state.world.refresh_inherited();
                state.fire(Event::vm(vm, "property-reset:maxmem", &kwargs));
                state.fire(Event::vm(vm, "property-del:maxmem", &kwargs));
            } else {
                let kwargs = [
                    ("name", "maxmem"),
                    ("newvalue", "0"),
                    ("oldvalue", oldvalue.as_str()),
                ];
                state.fire(Event::vm(vm, "property-pre-set:maxmem", &kwargs));
                assign_vm_property(qube_mut(state, vm)?, "maxmem", "0");
                state.world.refresh_inherited();
                state.fire(Event::vm(vm, "property-set:maxmem", &kwargs));
            }
        }
        remove_feature_with_events(state, vm, key);
    }
    if key == "boot-mode.active"
        && old != Some(value)
        && qube(state, vm)?
            .properties_all
            .get("bootmode")
            .is_some_and(|p| p.default)
    {
        // qubesvm.on_feature_bootmode_set
        state.fire(Event::vm(
            vm,
            "property-reset:bootmode",
            &[("name", "bootmode")],
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- power

/// `admin.vm.CurrentState`. The recording's offline qubesd has no libvirt
/// and drops the connection for dom0; a real dom0 answers like any qube,
/// which is what the simulator does (the replay marks that record as an
/// offline artefact and does not compare it).
fn current_state(q: &Qube) -> String {
    let recorded = q.current_state.as_deref().unwrap_or("");
    let field = |key: &str| {
        recorded
            .split(' ')
            .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .unwrap_or("0")
            .to_owned()
    };
    format!(
        "mem={} mem_static_max={} cputime={} power_state={}",
        field("mem"),
        field("mem_static_max"),
        field("cputime"),
        q.power_state
    )
}

fn set_power(state: &mut State, vm: &str, power: &str) -> Res<()> {
    qube_mut(state, vm)?.power_state = power.to_owned();
    Ok(())
}

fn vm_start(state: &mut State, call: &Call) -> Res<Outcome> {
    if call.dest_is_admin {
        return qerr("QubesVMError", "Cannot start Dom0 fake domain!");
    }
    if qube(state, &call.dest)?.power_state != "Halted" {
        // qubesd returns early for a qube that is already up.
        return done();
    }
    let vm = call.dest.as_str();
    let prohibited = qube(state, vm)?
        .features
        .get("prohibit-start")
        .filter(|v| !v.is_empty())
        .cloned();
    if let Some(rationale) = prohibited {
        let reason = format!("Qube start is prohibited. Rationale: {rationale}");
        state.fire(Event::vm(vm, "domain-start-failed", &[("reason", &reason)]));
        return qerr("QubesException", reason);
    }
    state.fire(Event::vm(vm, "domain-pre-start", &[("start_guid", "True")]));
    set_power(state, vm, "Running")?;
    state.fire(Event::vm(vm, "domain-spawn", &[("start_guid", "True")]));
    state.fire(Event::vm(vm, "domain-start", &[("start_guid", "True")]));
    state.save();
    done()
}

fn vm_shutdown(state: &mut State, call: &Call) -> Res<Outcome> {
    let args: Vec<&str> = if call.arg.is_empty() {
        Vec::new()
    } else {
        call.arg.split('+').collect()
    };
    if !args.iter().all(|a| matches!(*a, "force" | "wait")) {
        return protocol("Argument must match: force, wait");
    }
    if call.dest_is_admin {
        return qerr("QubesVMError", "Cannot shutdown Dom0 fake domain!");
    }
    let vm = call.dest.as_str();
    if qube(state, vm)?.power_state == "Halted" {
        return qerr(
            "QubesVMNotStartedError",
            format!("Domain is powered off: {}", py_repr(vm)),
        );
    }
    let force = if args.contains(&"force") {
        "True"
    } else {
        "False"
    };
    state.fire(Event::vm(vm, "domain-pre-shutdown", &[("force", force)]));
    set_power(state, vm, "Halted")?;
    // Fired by qubesd when libvirt reports the domain stopped.
    state.fire(Event::vm(vm, "domain-stopped", &[]));
    state.fire(Event::vm(vm, "domain-shutdown", &[]));
    state.save();
    done()
}

// ---------------------------------------------------------------- create / remove

fn vm_create(state: &mut State, call: &Call) -> Res<Outcome> {
    let class = call
        .method
        .trim_start_matches("admin.vm.Create.")
        .to_owned();
    if class == "AdminVM" {
        // There is exactly one AdminVM; qubesd fails deep inside (no reply).
        return Err(Fail::Drop);
    }
    let has_template = matches!(class.as_str(), "AppVM" | "DispVM");
    let mut template: Option<String> = None;
    let mut invalid_template = false;
    if !call.arg.is_empty() {
        if !has_template {
            return protocol(format!("{class} cannot be based on template"));
        }
        if state.world.qube(&call.arg).is_some() {
            template = Some(call.arg.clone());
        } else {
            invalid_template = true;
        }
    }
    if !call.payload.is_ascii() {
        return protocol("Parameters contains non-ASCII characters");
    }
    let payload = String::from_utf8_lossy(&call.payload).into_owned();
    let mut name: Option<String> = None;
    let mut label: Option<String> = None;
    let mut invalid_label = false;
    for param in payload.split(' ') {
        // `key, value = param.split("=", 1)`: no '=' is a ValueError (no reply).
        let (key, value) = param.split_once('=').ok_or(Fail::Drop)?;
        let seen = match key {
            "name" => name.is_some(),
            "label" => label.is_some() || invalid_label,
            "template" => template.is_some(),
            _ => false,
        };
        if seen {
            return protocol("Options must be unique");
        }
        match key {
            "name" => {
                validate::vm_name(value)?;
                name = Some(value.to_owned());
            }
            "label" => {
                validate::label_name(value)?;
                if value.bytes().all(|b| b.is_ascii_digit()) {
                    return qerr("QubesInvalidLabelError", "Label must not be a digit");
                }
                if state.world.label(value).is_some() {
                    label = Some(value.to_owned());
                } else {
                    invalid_label = true;
                }
            }
            "pool" => return protocol("Pool option specified but 'allow_pool' is False"),
            k if k.starts_with("pool:") => {
                return protocol("Pool option specified but 'allow_pool' is False");
            }
            _ => return protocol("Options does not match: name, label, pool, pool:"),
        }
    }
    let Some(name) = name else {
        return protocol("Creation requested without key: name");
    };
    if label.is_none() && !invalid_label {
        return protocol("Creation requested without key: label");
    }
    if state.world.qube(&name).is_some() {
        return qerr(
            "QubesVMAlreadyExistsError",
            format!("Qube already exists: {name}"),
        );
    }
    if invalid_template {
        return qerr(
            "QubesVMNotFoundError",
            format!("No such domain: {}", py_repr(&call.arg)),
        );
    }
    let Some(label) = label else {
        return Err(label_not_found("untrusted label"));
    };
    if has_template && template.is_none() {
        let global = if class == "DispVM" {
            "default_dispvm"
        } else {
            "default_template"
        };
        template = state
            .world
            .data
            .global_properties
            .get(global)
            .map(|p| p.value.clone())
            .filter(|v| !v.is_empty());
        if template.is_none() {
            return qerr(
                "QubesPropertyValueError",
                format!("Invalid value None for property 'template' of {name}"),
            );
        }
    }
    if let Some(t) = &template {
        let required = if class == "DispVM" {
            "AppVM"
        } else {
            "TemplateVM"
        };
        let actual = qube(state, t)?.class.clone();
        if actual != required {
            return qerr(
                "QubesPropertyValueError",
                format!(
                    "wrong VM class: domains[{}] is of type {actual} and not {required}",
                    py_repr(t)
                ),
            );
        }
    }
    let used: Vec<u32> = state
        .world
        .data
        .vms
        .iter()
        .filter_map(|q| {
            q.properties_all
                .get("qid")
                .and_then(|p| p.value.parse().ok())
        })
        .collect();
    let qid = (1..).find(|i| !used.contains(i)).unwrap_or(1);
    let mut new = world::new_qube(
        &state.world.data,
        NewQube {
            name: &name,
            class: &class,
            label: &label,
            template: template.as_deref(),
            uuid: world::random_uuid(),
            qid,
        },
    );
    new.current_state = Some("mem=0 mem_static_max=0 cputime=0 power_state=Halted".into());
    // Tags added by extensions before the qube is announced (not seen by listeners).
    for (prop, prefix) in [("audiovm", "audiovm-"), ("guivm", "guivm-")] {
        if let Some(v) = new.properties_all.get(prop).map(|p| p.value.clone())
            && !v.is_empty()
        {
            new.tags.push(format!("{prefix}{v}"));
        }
    }
    new.tags.sort();
    state.world.data.vms.push(new);
    state.world.refresh_inherited();
    state.fire(Event::app("domain-add", &[("vm", name.as_str())]));
    add_tag(state, &name, &format!("created-by-{}", call.src))?;
    state.fire(Event::vm(&name, "domain-create-on-disk", &[]));
    state.save();
    done()
}

fn vm_remove(state: &mut State, call: &Call) -> Res<Outcome> {
    if call.dest_is_admin {
        return qerr("QubesVMInUseError", "'dom0' cannot be removed");
    }
    let vm = call.dest.clone();
    let q = qube(state, &vm)?;
    if q.properties_all
        .get("installed_by_rpm")
        .is_some_and(|p| p.value == "True")
    {
        return qerr(
            "QubesVMInUseError",
            format!("VM installed by package manager: {vm}"),
        );
    }
    // VMCollection.__delitem__
    if q.power_state != "Halted" {
        return qerr(
            "QubesVMNotHaltedError",
            format!("Domain is not powered off: {}", py_repr(&vm)),
        );
    }
    // domain-pre-delete is a pre-event: listeners get it before the app's
    // handler refuses to remove a qube that is still in use.
    state.fire(Event::app("domain-pre-delete", &[("vm", vm.as_str())]));
    let used_by_qube = state.world.data.vms.iter().any(|other| {
        other.name != vm
            && other
                .properties_all
                .values()
                .any(|p| p.kind == "vm" && p.value == vm)
    });
    let used_globally = state
        .world
        .data
        .global_properties
        .values()
        .any(|p| p.kind == "vm" && p.value == vm);
    if used_by_qube || used_globally {
        return qerr(
            "QubesVMInUseError",
            format!(
                "Domain is in use: {};  see 'journalctl -u qubesd -e' in dom0 for details",
                py_repr(&vm)
            ),
        );
    }
    state.world.data.vms.retain(|q| q.name != vm);
    state.fire(Event::app("domain-delete", &[("vm", vm.as_str())]));
    if let Some(dir) = state.world.dir() {
        // remove_from_disk: errors are logged by qubesd, not reported.
        let _ = std::fs::remove_dir_all(dir.join(world::QUBES_DIR).join(&vm));
    }
    state.save();
    done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int() {
        assert_eq!(parse_python_int(" 42 "), Some(42));
        assert_eq!(parse_python_int("-7"), Some(-7));
        assert_eq!(parse_python_int("+1_000"), Some(1000));
        assert_eq!(parse_python_int("007"), Some(7));
        for bad in ["", "abc", "1__0", "_1", "1_", "0x10", "1.5", "-"] {
            assert_eq!(parse_python_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn uuid_designator_shape() {
        assert!(is_uuid_designator(
            b"uuid:fd018d5f-9f43-4df4-9b3f-322c0dc912cc"
        ));
        assert!(!is_uuid_designator(
            b"uuid:FD018D5F-9f43-4df4-9b3f-322c0dc912cc"
        ));
        assert!(!is_uuid_designator(
            b"uuid:fd018d5f-9f43-4df4-9b3f-322c0dc912c"
        ));
    }
}
