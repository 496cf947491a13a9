//! Properties of qubes and of the system: Get/GetAll/GetDefault/Set/Reset,
//! with qubesd's sanitising, setters, defaults and the events they fire.

use super::*;

#[derive(Clone, Copy)]
pub(super) enum PropHolder<'a> {
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

pub(super) fn no_such_property<T>(holder: PropHolder<'_>, prop: &str) -> Res<T> {
    qerr(
        "QubesNoSuchPropertyError",
        format!("Invalid property {} of {}", py_repr(prop), holder.display()),
    )
}

pub(super) fn serialize_property(p: &world::Property) -> String {
    format!(
        "default={} type={} {}",
        if p.default { "True" } else { "False" },
        p.kind,
        p.value
    )
}

/// Properties are kept in qubesd's `sorted(properties)` order — by load
/// stage, then name — which is the order of the recorded `GetAll`.
pub(super) fn property_list(holder: PropHolder<'_>, state: &State) -> Res<Outcome> {
    let names = holder.props(state)?.keys();
    text(names.map(|n| format!("{n}\n")).collect::<String>())
}

pub(super) fn property_get(holder: PropHolder<'_>, state: &State, prop: &str) -> Res<Outcome> {
    match holder.props(state)?.get(prop) {
        Some(p) => text(serialize_property(p)),
        None => no_such_property(holder, prop),
    }
}

pub(super) fn property_get_all(holder: PropHolder<'_>, state: &State) -> Res<Outcome> {
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

pub(super) fn property_get_default(
    holder: PropHolder<'_>,
    state: &State,
    prop: &str,
) -> Res<Outcome> {
    let Some(p) = holder.props(state)?.get(prop) else {
        return no_such_property(holder, prop);
    };
    match holder.default_of(state, prop)? {
        Some(value) => text(format!("type={} {}", p.kind, value)),
        None => done(),
    }
}

/// `str(value)` of a property value in event arguments: `None` for no VM.
pub(super) fn event_value(kind: &str, value: &str) -> String {
    if value.is_empty() && matches!(kind, "vm" | "int") {
        "None".to_owned()
    } else {
        value.to_owned()
    }
}

/// `property.sanitize` then the type's own checks; returns the value as
/// qubesd prints it afterwards.
pub(super) fn sanitize_property(
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
                // validate_name with a property holder names the property in
                // its first three rules; the others keep the plain error.
                let msg = match e {
                    ValidationError::VmNameTooLong => {
                        format!("{prop} value must be shorter than 32 characters")
                    }
                    ValidationError::VmNameBadStart => {
                        format!("{prop} cannot start with hyphen, underscore, dot or numbers")
                    }
                    ValidationError::VmNameIllegalCharacters => {
                        format!("{prop} value contains illegal characters")
                    }
                    other => return Err(other.into()),
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
pub(super) fn check_vm_setter(state: &State, vm: &str, prop: &str, value: &str) -> Res<()> {
    match prop {
        // qubes.vm.mix.net._setter_netvm
        "netvm" if !value.is_empty() => {
            // `value.provides_network` on a qube without that property
            // (dom0) is an AttributeError in qubesd: no reply.
            let provides = state
                .world
                .qube(value)
                .and_then(|q| q.properties_all.get("provides_network"))
                .ok_or(Fail::Drop)?
                .value
                == "True";
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
        // qubes.vm.dispvm._setter_template
        "template" if qube(state, vm)?.class == "DispVM" && !is_dvm_template(state, value) => {
            return qerr(
                "QubesPropertyValueError",
                "template for disposable must have template_for_dispvms=True",
            );
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
pub(super) fn check_vm_pre_set(state: &State, vm: &str, prop: &str, value: &str) -> Res<()> {
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
pub(super) fn vm_property_changed(
    state: &mut State,
    vm: &str,
    prop: &str,
    newvalue: &str,
) -> Res<()> {
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
pub(super) fn sync_vm_tag(state: &mut State, vm: &str, prop: &str, newvalue: &str) -> Res<()> {
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
pub(super) fn set_vm_property_internal(
    state: &mut State,
    vm: &str,
    prop: &str,
    value: &str,
) -> Res<()> {
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

/// Whether `name` is a disposable template (`template_for_dispvms=True`).
pub(super) fn is_dvm_template(state: &State, name: &str) -> bool {
    state
        .world
        .qube(name)
        .and_then(|q| q.properties_all.get("template_for_dispvms"))
        .is_some_and(|p| p.value == "True")
}

/// The class a VM-valued property must point to, where qubesd restricts it.
pub(super) fn required_vm_class(
    state: &State,
    holder: PropHolder<'_>,
    prop: &str,
) -> Option<&'static str> {
    let PropHolder::Vm(name) = holder else {
        return match prop {
            "default_template" => Some("TemplateVM"),
            _ => None,
        };
    };
    let class = state.world.qube(name)?.class.as_str();
    match (class, prop) {
        ("AppVM", "template") => Some("TemplateVM"),
        _ => None,
    }
}

/// Python's `int(str)`: surrounding whitespace, a sign, digits with single
/// underscores between them.
pub(super) fn parse_python_int(text: &str) -> Option<i128> {
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

pub(super) fn property_set(holder: PropHolder<'_>, state: &mut State, call: &Call) -> Res<Outcome> {
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
pub(super) fn heirs_of(state: &State, vm_prop: Option<&str>) -> Vec<String> {
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
pub(super) fn fire_heir_resets(state: &mut State, global: &str, oldvalue: &str, heirs: &[String]) {
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

pub(super) fn assign_global_property(state: &mut State, prop: &str, value: &str) {
    let data = &mut state.world.data;
    if let Some(p) = data.global_properties.get_mut(prop) {
        p.default = false;
        p.value = value.to_owned();
    }
    data.global_properties_explicit
        .insert(prop.to_owned(), value.to_owned());
    propagate_global(state);
}

pub(super) fn propagate_global(state: &mut State) {
    state.world.refresh_inherited();
}

/// Store an explicit value and keep the mirrored fields in step.
pub(super) fn assign_vm_property(q: &mut Qube, prop: &str, value: &str) {
    if let Some(p) = q.properties_all.get_mut(prop) {
        p.default = false;
        p.value = value.to_owned();
    }
    q.properties_explicit
        .insert(prop.to_owned(), value.to_owned());
    sync_mirrors(q, prop);
}

pub(super) fn sync_mirrors(q: &mut Qube, prop: &str) {
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

pub(super) fn property_reset(
    holder: PropHolder<'_>,
    state: &mut State,
    prop: &str,
) -> Res<Outcome> {
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
