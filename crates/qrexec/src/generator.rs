//! The generator: the store's whitelist (qube × profile assigned, qube × profile may-propose)
//! turned into the per-profile dom0 policy file [`GENERATED_POLICY_FILE`].
//!
//! What the generated file says, per managed qube Q and config qube C:
//! * `qubes.ConfigApply +P @tag:qubes-config-sync-manager Q allow` for each profile P assigned
//!   to Q, then `qubes.ConfigApply * @tag:qubes-config-sync-manager Q deny`: the config qube
//!   writes into Q only the profiles assigned to it (snapshot and rollback stay open to the
//!   static rule, so a profile can be imported before it is assigned and rolled back after).
//! * for each profile P that Q may propose, two `ask` rules that reach C only:
//!   `qubes.ConfigPropose +P Q @default ask target=C default_target=C` (the agent calls
//!   `@default`; an unknown target name is `@default` too) and
//!   `qubes.ConfigPropose +P Q C ask target=C default_target=C` (the agent names C).
//!   `target=` pins the prompt to C whatever other rules say; every other proposal from Q falls
//!   through to the static default, which denies it.
//!
//! Names are validated before they are written: a qube or profile name that could smuggle
//! policy syntax (spaces, newlines, `@`, `*`) is refused, never escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::trust::{GENERATED_POLICY_FILE, MANAGER_TAG, SERVICE_APPLY, SERVICE_PROPOSE};

/// The store's whitelist, as the backend holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Whitelist {
    /// The config qube's name (the only target a proposal may reach).
    pub config_qube: String,
    /// (qube, profile): the profile is assigned to the qube (the config qube may apply it).
    pub assigned: BTreeSet<(String, String)>,
    /// (qube, profile): the qube may propose changes to the profile.
    pub may_propose: BTreeSet<(String, String)>,
}

/// What a whitelisted proposal does in dom0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProposeAction {
    /// dom0 asks the user on every proposal (the default; the review pane still gates it).
    #[default]
    Ask,
    /// dom0 lets it through to the config qube without a prompt (the proposal still lands in
    /// quarantine and needs an accept in the review pane).
    Allow,
}

/// Why the whitelist cannot be turned into policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeneratorError {
    #[error("invalid qube name {0:?}: must match [A-Za-z][A-Za-z0-9_.-]{{0,30}} and not be dom0")]
    InvalidQubeName(String),
    #[error("invalid profile id {0:?}: must match [a-z0-9][a-z0-9-]{{0,30}}")]
    InvalidProfileId(String),
    #[error("the config qube {0:?} cannot also be a managed qube in the whitelist")]
    ConfigQubeInWhitelist(String),
}

/// A qube name as qubesd accepts it (`validate_name`), minus dom0 which is never managed.
pub fn is_valid_qube_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 31
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name != "dom0"
        && name != "Domain-0"
}

/// A profile id (DESIGN §4): `[a-z0-9][a-z0-9-]{0,30}`.
pub fn is_valid_profile_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 31
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn check_pair(config_qube: &str, qube: &str, profile: &str) -> Result<(), GeneratorError> {
    if !is_valid_qube_name(qube) {
        return Err(GeneratorError::InvalidQubeName(qube.to_owned()));
    }
    if qube == config_qube {
        return Err(GeneratorError::ConfigQubeInWhitelist(qube.to_owned()));
    }
    if !is_valid_profile_id(profile) {
        return Err(GeneratorError::InvalidProfileId(profile.to_owned()));
    }
    Ok(())
}

/// Generates the text of [`GENERATED_POLICY_FILE`] with the default `ask` for proposals.
pub fn generate_profile_policy(whitelist: &Whitelist) -> Result<String, GeneratorError> {
    generate_profile_policy_with(whitelist, ProposeAction::Ask)
}

/// Generates the text of [`GENERATED_POLICY_FILE`]. The output is deterministic: qubes in
/// C-locale order, profiles in C-locale order within each qube.
pub fn generate_profile_policy_with(
    whitelist: &Whitelist,
    propose: ProposeAction,
) -> Result<String, GeneratorError> {
    let config = &whitelist.config_qube;
    if !is_valid_qube_name(config) {
        return Err(GeneratorError::InvalidQubeName(config.clone()));
    }
    // qube -> (assigned profiles, proposable profiles)
    let mut per_qube: BTreeMap<&str, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for (qube, profile) in &whitelist.assigned {
        check_pair(config, qube, profile)?;
        per_qube.entry(qube).or_default().0.push(profile);
    }
    for (qube, profile) in &whitelist.may_propose {
        check_pair(config, qube, profile)?;
        per_qube.entry(qube).or_default().1.push(profile);
    }

    let action = match propose {
        ProposeAction::Ask => "ask",
        ProposeAction::Allow => "allow",
    };
    let mut out = String::new();
    // writing into a String cannot fail
    let _ = writeln!(
        out,
        "# {GENERATED_POLICY_FILE}: GENERATED by qubes-config-sync from its store's whitelist.\n\
         # Do not edit: the next export overwrites it. Change assignments and \"may propose\"\n\
         # in the app (or with qvm-config-sync), then install the new file in dom0.\n\
         #\n\
         # Config qube: {config}\n\
         # Per qube: {SERVICE_APPLY} only for the profiles assigned to it (never starting\n\
         # a halted qube: autostart=no); {SERVICE_PROPOSE}\n\
         # only for the profiles it may propose, and only to {config} ({action}).\n\
         # Everything not listed here falls through to 70-config-sync.policy and\n\
         # 80-config-sync-default.policy."
    );
    for (qube, (assigned, proposable)) in &per_qube {
        let _ = writeln!(out, "\n# {qube}");
        if !assigned.is_empty() {
            for profile in assigned {
                let _ = writeln!(
                    out,
                    "{SERVICE_APPLY}\t+{profile}\t@tag:{MANAGER_TAG}\t{qube}\tallow autostart=no"
                );
            }
            let _ = writeln!(out, "{SERVICE_APPLY}\t*\t@tag:{MANAGER_TAG}\t{qube}\tdeny");
        }
        for profile in proposable {
            let params = match propose {
                ProposeAction::Ask => format!("target={config} default_target={config}"),
                ProposeAction::Allow => format!("target={config}"),
            };
            let _ = writeln!(
                out,
                "{SERVICE_PROPOSE}\t+{profile}\t{qube}\t@default\t{action} {params}"
            );
            let _ = writeln!(
                out,
                "{SERVICE_PROPOSE}\t+{profile}\t{qube}\t{config}\t{action} {params}"
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_qube_name("work"));
        assert!(is_valid_qube_name("a.b_c-1"));
        assert!(!is_valid_qube_name("1work"));
        assert!(!is_valid_qube_name("@anyvm"));
        assert!(!is_valid_qube_name("work allow"));
        assert!(!is_valid_qube_name("dom0"));
        assert!(!is_valid_qube_name(&"a".repeat(32)));
        assert!(is_valid_profile_id("git"));
        assert!(is_valid_profile_id("0-ssh"));
        assert!(!is_valid_profile_id("-git"));
        assert!(!is_valid_profile_id("Git"));
        assert!(!is_valid_profile_id("git\n* * @anyvm @anyvm allow"));
        assert!(!is_valid_profile_id(&"a".repeat(32)));
    }
}
