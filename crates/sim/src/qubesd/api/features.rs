//! Features: List/Get/CheckWith*/Set/Remove, with the checks of qubesd's
//! extensions (prohibited features, services, custom-persist, vm-config) and
//! of its qube classes (preloaded disposables, in `preload`).

use super::*;

pub(super) fn feature_permission(call: &Call) -> Res<()> {
    if PROHIBITED_FEATURES.contains(&call.arg.as_str()) {
        return qerr(
            "PermissionDenied",
            "changing this feature is prohibited by qubes.ext.admin.AdminExtension",
        );
    }
    Ok(())
}

pub(super) fn feature_check(state: &State, call: &Call) -> Res<Outcome> {
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

pub(super) fn feature_remove(state: &mut State, call: &Call) -> Res<Outcome> {
    feature_permission(call)?;
    let key = call.arg.as_str();
    // Features.__delitem__ announces the deletion before dict.__delitem__
    // finds the key missing: listeners get the pre-delete of a feature that
    // is not there, then the call fails.
    state.fire(Event::vm(
        &call.dest,
        format!("domain-feature-pre-delete:{key}"),
        &[("feature", key)],
    ));
    if qube_mut(state, &call.dest)?
        .features
        .shift_remove(key)
        .is_none()
    {
        return feature_not_found(&call.dest, key);
    }
    state.fire(Event::vm(
        &call.dest,
        format!("domain-feature-delete:{key}"),
        &[("feature", key)],
    ));
    state.save();
    done()
}

pub(super) fn feature_set(state: &mut State, call: &Call) -> Res<Outcome> {
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
    // refuse it: the qube's class first (preloaded disposables), then the
    // extensions (qubes.ext.services checks service names here).
    state.fire(Event::vm(
        vm,
        format!("domain-feature-pre-set:{key}"),
        &kwargs,
    ));
    preload::pre_set_checks(state, vm, key, &value, old.as_deref())?;
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
pub(super) fn check_service_name(service: &str) -> Res<()> {
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
pub(super) fn feature_set_handlers(
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

/// `vm.features[key] = value` from inside qubesd (no validation handlers
/// that could fail apply to the features qubesd sets itself).
pub(super) fn set_feature_with_events(state: &mut State, vm: &str, key: &str, value: &str) {
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

pub(super) fn remove_feature_with_events(state: &mut State, vm: &str, key: &str) {
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
