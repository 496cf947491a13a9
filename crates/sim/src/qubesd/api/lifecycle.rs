//! Power state (Start/Shutdown/CurrentState) and creating and removing qubes.

use super::*;

/// `admin.vm.CurrentState`. The recording's offline qubesd has no libvirt
/// and drops the connection for dom0; a real dom0 answers like any qube,
/// which is what the simulator does (the replay marks that record as an
/// offline artefact and does not compare it).
pub(super) fn current_state(q: &Qube) -> String {
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

pub(super) fn set_power(state: &mut State, vm: &str, power: &str) -> Res<()> {
    qube_mut(state, vm)?.power_state = power.to_owned();
    Ok(())
}

pub(super) fn vm_start(state: &mut State, call: &Call) -> Res<Outcome> {
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
    // Saved before the events: a subscriber reacting to domain-start (a qrexec call
    // into the qube, whose policy reads world.json) sees it running, as with qubesd.
    state.save();
    state.fire(Event::vm(vm, "domain-spawn", &[("start_guid", "True")]));
    state.fire(Event::vm(vm, "domain-start", &[("start_guid", "True")]));
    state.save();
    done()
}

pub(super) fn vm_shutdown(state: &mut State, call: &Call) -> Res<Outcome> {
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

pub(super) fn vm_create(state: &mut State, call: &Call) -> Res<Outcome> {
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
        let actual = qube(state, t)?.class.clone();
        if class == "DispVM" {
            // qubes.vm.dispvm._setter_template
            if !is_dvm_template(state, t) {
                return qerr(
                    "QubesPropertyValueError",
                    "template for disposable must have template_for_dispvms=True",
                );
            }
        } else if actual != "TemplateVM" {
            return qerr(
                "QubesPropertyValueError",
                format!(
                    "wrong VM class: domains[{}] is of type {actual} and not TemplateVM",
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

pub(super) fn vm_remove(state: &mut State, call: &Call) -> Res<Outcome> {
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
