//! Tags: List/Get/Set/Remove, the `created-by-*` protection and the tags
//! extensions add.

use super::*;

pub(super) fn tag_permission(call: &Call) -> Res<()> {
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
pub(super) fn add_tag(state: &mut State, vm: &str, tag: &str) -> Res<()> {
    let q = qube_mut(state, vm)?;
    if q.tags.iter().any(|t| t == tag) {
        return Ok(());
    }
    q.tags.push(tag.to_owned());
    q.tags.sort();
    // Class handlers (AdminExtension.on_tag_add, gui.set_guivm_on_created_by)
    // run before listeners see the tag, so the tags they add are announced
    // first. Both look the creator up with `app.domains[NAME]`: a name that
    // is no qube raises KeyError, not a Qubes exception, so qubesd drops the
    // connection without a reply — the tag stays set (in memory, saved with
    // the next change) and no listener hears of it.
    if let Some(creator) = tag.strip_prefix("created-by-") {
        let Some(creator_qube) = state.world.qube(creator) else {
            return Err(Fail::Drop);
        };
        let extra: Vec<String> = creator_qube
            .features
            .get("tag-created-vm-with")
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let guivm = creator_qube.features.get("set-created-guivm").cloned();
        for t in extra {
            // Tags.add raises ValueError on a bad character: dropped too.
            if !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(Fail::Drop);
            }
            add_tag(state, vm, &t)?;
        }
        // qubes.ext.gui.set_guivm_on_created_by
        if let Some(guivm) = guivm.filter(|g| !g.is_empty()) {
            if state.world.qube(&guivm).is_none() {
                return Err(Fail::Drop);
            }
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

pub(super) fn tag_set(state: &mut State, call: &Call) -> Res<Outcome> {
    validate::tag(&call.arg)?;
    tag_permission(call)?;
    add_tag(state, &call.dest, &call.arg)?;
    state.save();
    done()
}

pub(super) fn tag_remove(state: &mut State, call: &Call) -> Res<Outcome> {
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

pub(super) fn remove_tag_with_event(state: &mut State, vm: &str, tag: &str) -> Res<()> {
    qube_mut(state, vm)?.tags.retain(|t| t != tag);
    state.fire(Event::vm(
        vm,
        format!("domain-tag-delete:{tag}"),
        &[("tag", tag)],
    ));
    Ok(())
}
