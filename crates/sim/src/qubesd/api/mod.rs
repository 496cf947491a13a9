//! The Admin API methods: qubesd's semantics over a [`World`].
//!
//! Each request is handled under the server's state lock, in the order of
//! qubesd (`qubes/api/__init__.py`, `qubes/api/admin.py`): decode source and
//! destination, look the method up, check payload / argument / destination,
//! run the handler with its permission checks (`qubes/ext/admin.py`), fire the
//! events the change causes, save the world.

use qubesadmin::validate::{self, ValidationError};

use super::events::{Event, Listener};
use super::filter::{self, PolicyFilter};
use super::wire::{self, RawRequest, error_reply, ok_reply, py_repr};
use crate::world::{self, NewQube, Qube, World};

mod features;
mod lifecycle;
mod preload;
mod properties;
mod tags;

use features::*;
use lifecycle::*;
use properties::*;
use tags::*;

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

    /// Dispatch one event to every listener that should see it, with
    /// qubesd's system-info cache invalidation before or after the dispatch
    /// (see `PolicyFilter`), and the handler bookkeeping of added and removed
    /// qubes.
    pub fn fire(&mut self, event: Event) {
        let object = event
            .subject
            .clone()
            .unwrap_or_else(|| filter::APP.to_owned());
        let invalidates = event.invalidates_system_info();
        let early = invalidates && self.filter.invalidates_first(&object);
        if early {
            self.filter.invalidate();
        }
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
        if invalidates && !early {
            self.filter.invalidate();
        }
        if event.subject.is_none() {
            let vm = event.policy_target();
            match event.name.as_str() {
                "domain-add" => {
                    let for_all = self.listeners.iter().any(|l| l.dest_is_admin);
                    self.filter.on_domain_add(&vm, for_all);
                }
                "domain-delete" => self.filter.on_domain_delete(&vm),
                _ => {}
            }
        }
    }

    /// A new `admin.Events` listener: its dispatcher is registered on the
    /// application object and every qube (or on its one qube).
    pub fn add_listener(&mut self, listener: Listener) {
        if listener.dest_is_admin {
            self.filter.register_dispatcher(filter::APP);
            for q in &self.world.data.vms {
                self.filter.register_dispatcher(&q.name);
            }
        } else {
            self.filter.register_dispatcher(&listener.dest);
        }
        self.listeners.push(listener);
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
