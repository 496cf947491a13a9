//! The `domain-feature-pre-set` checks of qubesd's qube classes for the
//! preloaded-disposable features (qubes.vm.mix.dvmtemplate.DVMTemplateMixin on
//! AppVM and StandaloneVM, qubes.vm.adminvm.AdminVM on dom0).
//!
//! Only the checks are modelled: a value they accept is stored, but nothing
//! is preloaded (no `domain-preload-dispvm-*` events, no disposables).

use super::*;

/// The classes with `DVMTemplateMixin`.
fn has_dvm_mixin(class: &str) -> bool {
    matches!(class, "AppVM" | "StandaloneVM")
}

/// `features.check_with_template(key, None)`: the value on the qube or the
/// first one up its template chain.
pub(super) fn check_with_template(state: &State, vm: &str, key: &str) -> Option<String> {
    let mut current = Some(vm.to_owned());
    // Bounded walk: a template chain cannot be longer than the world.
    for _ in 0..=state.world.data.vms.len() {
        let q = state.world.qube(current.as_deref()?)?;
        if let Some(v) = q.features.get(key) {
            return Some(v.clone());
        }
        current = q
            .properties_all
            .get("template")
            .map(|p| p.value.clone())
            .filter(|v| !v.is_empty());
    }
    None
}

/// Python's `str.isdigit()` on an ASCII value.
fn is_digits(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
}

/// Whether Python's `float(value)` accepts an ASCII value: surrounding
/// whitespace, a sign, `inf`/`infinity`/`nan`, exponents, and single
/// underscores between digits.
pub(super) fn python_float_accepts(value: &str) -> bool {
    let text = value.trim_matches(|c: char| c.is_ascii_whitespace());
    let bytes = text.as_bytes();
    let mut plain = String::with_capacity(text.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let around = i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !around {
                return false;
            }
            continue;
        }
        plain.push(char::from(b));
    }
    !plain.is_empty() && plain.parse::<f64>().is_ok()
}

/// The class handlers of `domain-feature-pre-set:KEY` that may refuse the
/// value (they run after listeners got the pre-event).
pub(super) fn pre_set_checks(
    state: &mut State,
    vm: &str,
    key: &str,
    value: &str,
    old: Option<&str>,
) -> Res<()> {
    let class = qube(state, vm)?.class.clone();
    let admin = class == "AdminVM";
    match key {
        "preload-dispvm-max" if has_dvm_mixin(&class) => mixin_max_check(state, vm, value),
        "preload-dispvm-max" if admin => {
            // AdminVM.on_feature_pre_set_preload_dispvm_max: the global
            // maximum is checked as a pre-set on the default disposable
            // template (listeners see that event too).
            if Some(value) == old {
                return Ok(());
            }
            let Some(default_dispvm) = state
                .world
                .data
                .global_properties
                .get("default_dispvm")
                .map(|p| p.value.clone())
                .filter(|v| state.world.qube(v).is_some())
            else {
                return Ok(());
            };
            let old_text = old.unwrap_or("None");
            state.fire(Event::vm(
                &default_dispvm,
                format!("domain-feature-pre-set:{key}"),
                &[("feature", key), ("value", value), ("oldvalue", old_text)],
            ));
            let target_class = qube(state, &default_dispvm)?.class.clone();
            if has_dvm_mixin(&target_class) {
                mixin_max_check(state, &default_dispvm, value)?;
            }
            Ok(())
        }
        "preload-dispvm-threshold" if admin => {
            let value = if value.is_empty() { "0" } else { value };
            if !is_digits(value) {
                return qerr(
                    "QubesValueError",
                    "Invalid preload-dispvm-threshold value: not a digit",
                );
            }
            Ok(())
        }
        "preload-dispvm-delay" if admin || has_dvm_mixin(&class) => {
            if Some(value) == old {
                return Ok(());
            }
            let value = if value.is_empty() { "0" } else { value };
            if !python_float_accepts(value) {
                return qerr(
                    "QubesValueError",
                    "Invalid preload-dispvm-delay value: not an integer or float",
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// DVMTemplateMixin.on_feature_pre_set_preload_dispvm_max.
fn mixin_max_check(state: &State, vm: &str, value: &str) -> Res<()> {
    let truthy = |v: Option<String>| v.is_some_and(|v| !v.is_empty());
    if !truthy(check_with_template(state, vm, "qrexec")) {
        return qerr("QubesValueError", "Qube does not support qrexec");
    }
    let missing: Vec<&str> = ["qubes.WaitForRunningSystem", "qubes.WaitForSession"]
        .into_iter()
        .filter(|s| {
            !truthy(check_with_template(
                state,
                vm,
                &format!("supported-rpc.{s}"),
            ))
        })
        .collect();
    if !missing.is_empty() {
        return qerr(
            "QubesValueError",
            format!("Qube does not support the RPC(s) '{}'", missing.join(", ")),
        );
    }
    let value = if value.is_empty() { "0" } else { value };
    if !is_digits(value) {
        return qerr(
            "QubesValueError",
            "Invalid preload-dispvm-max value: not a digit",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_grammar() {
        for ok in [
            "1",
            " 2.5 ",
            "-3",
            "+4e2",
            ".5",
            "5.",
            "inf",
            "-Infinity",
            "nan",
            "1_000.5",
            "1E-3",
        ] {
            assert!(python_float_accepts(ok), "{ok:?}");
        }
        for bad in [
            "", " ", "abc", "1_", "_1", "1__0", "1_e5", "0x10", "1,5", ".", "e5", "1e", "--1",
        ] {
            assert!(!python_float_accepts(bad), "{bad:?}");
        }
    }

    #[test]
    fn isdigit_is_ascii_digits_only() {
        assert!(is_digits("0042"));
        for bad in ["", "-1", "1.0", " 1", "+1", "1e3"] {
            assert!(!is_digits(bad), "{bad:?}");
        }
    }
}
