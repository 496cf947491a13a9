//! The qrexec layer: the Qubes R4.1+ policy format (parser and evaluator),
//! qrexec's argument rules, and the policy generator and checker for our services.
//!
//! It must not talk to qubesd or spawn processes: it is pure logic over policy text
//! and a system description, so dom0 administrators can trust what it prints.
//!
//! * [`Policy`] loads a policy directory ([`Policy::load_dir`]) or in-memory files
//!   ([`Policy::from_files`]) and evaluates calls ([`Policy::evaluate`]) against a
//!   [`SystemInfo`] (the JSON of qubesd's `internal.GetSystemInfo`), giving a [`Resolution`].
//! * [`sanitize_service_call`] is what qrexec-daemon does to `SERVICE+ARG` from a qube.
//! * [`generator`] turns the store's whitelist into the per-profile policy file; [`checker`]
//!   reports what each qube may do with our services and flags over-grants; [`trust`] holds the
//!   names both agree on (tags, services, files).
//! * The binary `qubes-policy-eval` wraps evaluation and the checker for use from outside.
//!
//! The parser and evaluator follow qrexec's own (`qrexec/policy/parser.py` in
//! QubesOS/qubes-core-qrexec b2822df) including its messages and quirks: any syntax error
//! anywhere refuses the whole policy; files are read in C-locale order and only if qrexec would
//! read them; the first matching rule wins; no match denies; an unknown requested target is
//! treated as `@default`; `@anyvm` in the destination column also matches `@default` and
//! `@dispvm` requests; `*` in the source and destination columns includes dom0; disposable
//! tokens in the source column never match a calling qube. Where qrexec's evaluator crashes
//! (which refuses the call), this one denies. Deliberate differences, all about input qrexec
//! never sees in a real dom0:
//! * includes resolve inside the loaded directory (an absolute `/etc/qubes/policy.d/...` path
//!   is read from the loaded directory), so a copy of dom0's policy is self-contained;
//! * a system description without uuids (R4.2's) is accepted everywhere;
//! * `!compat-4.0` without a legacy directory includes nothing (with a warning) where dom0's
//!   qrexec would refuse every call: a copy of `policy.d` usually comes without
//!   `/etc/qubes-rpc/policy`;
//! * include loops are refused after 32 levels instead of recursing until Python gives up;
//! * ask targets are sorted (qrexec returns an unordered set);
//! * `internal` qubes are not removed from ask targets ([`DomainInfo`] does not carry the
//!   `internal` key).

pub mod checker;
mod error;
mod eval;
pub mod generator;
mod loader;
mod names;
mod rule;
mod system;
mod token;
pub mod trust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use checker::{Finding, Report, Severity, check, render};
pub use error::{PolicyError, PolicyErrorKind, py_repr};
pub use eval::{Decision, Resolution};
pub use generator::{
    GeneratorError, ProposeAction, Whitelist, generate_profile_policy, generate_profile_policy_with,
};
pub use loader::{DOM0_POLICY_DIR, is_policy_file_name};
pub use names::{
    ServiceCall, is_policy_filename_char, is_rpcname_char, sanitize_service_call,
    split_service_call, validate_call_name,
};
pub use rule::{Action, Rule, RuleRef};
pub use system::{DomainInfo, SystemInfo};
pub use token::{Column, Token, is_dom0};

use loader::{DirStore, Loader, MemStore};

/// A loaded, fully validated policy: the rules of all files in evaluation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<Rule>,
    warnings: Vec<String>,
}

/// Where `!compat-4.0` reads the R4.0 per-service policy files from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LegacyPolicy {
    /// For a directory laid out as dom0's (`…/qubes/policy.d`), `…/qubes-rpc/policy` if it
    /// exists (dom0's `/etc/qubes-rpc/policy`); otherwise none.
    #[default]
    Beside,
    /// This directory.
    Dir(PathBuf),
    /// No legacy files: `!compat-4.0` includes nothing (a warning is recorded).
    None,
}

impl Policy {
    /// Builds a policy from in-memory files: `(name, text)`, where a name without `/` is a
    /// top-level file of the policy directory (read only if qrexec would read it: ending in
    /// `.policy`, not starting with `.`, taken in C-locale order) and a name with `/` (e.g.
    /// `include/admin-local-rwx`) is reachable only through `!include*` directives
    /// (`!include-dir DIR` reads the names below `DIR/`, as in a directory). The files behave
    /// exactly as the same tree on disk would under [`Policy::load_dir`]; errors name the
    /// files as given. `!compat-4.0` includes nothing here (see
    /// [`Policy::from_files_with_legacy`]).
    pub fn from_files(files: &[(String, String)]) -> Result<Policy, PolicyError> {
        Policy::from_files_with_legacy(files, &[])
    }

    /// As [`Policy::from_files`], with the R4.0 legacy files `!compat-4.0` reads (`(name, text)`,
    /// names like `qubes.Filecopy` or `qubes.Gpg+key`).
    pub fn from_files_with_legacy(
        files: &[(String, String)],
        legacy_files: &[(String, String)],
    ) -> Result<Policy, PolicyError> {
        let store = MemStore {
            files: files.iter().cloned().collect::<BTreeMap<_, _>>(),
        };
        let legacy = MemStore {
            files: legacy_files.iter().cloned().collect(),
        };
        let legacy_ref: Option<&dyn loader::Store> =
            (!legacy_files.is_empty()).then_some(&legacy as &dyn loader::Store);
        let mut loader = Loader::new(&store, legacy_ref);
        loader.load_top()?;
        Ok(Policy {
            rules: loader.rules,
            warnings: loader.warnings,
        })
    }

    /// Loads a policy directory (a `policy.d`, with its `include/` beside the files), as dom0's
    /// qrexec loads `/etc/qubes/policy.d`. Includes are relative to `dir`; absolute includes
    /// under `/etc/qubes/policy.d` are read from `dir` too.
    pub fn load_dir(dir: &Path) -> Result<Policy, PolicyError> {
        Policy::load_dir_with_legacy(dir, &LegacyPolicy::Beside)
    }

    /// As [`Policy::load_dir`], choosing where `!compat-4.0` reads legacy files from.
    pub fn load_dir_with_legacy(dir: &Path, legacy: &LegacyPolicy) -> Result<Policy, PolicyError> {
        let store = DirStore {
            root: dir.to_path_buf(),
        };
        let legacy_dir = match legacy {
            LegacyPolicy::Beside => loader::legacy_dir_for(dir),
            LegacyPolicy::Dir(d) => Some(d.clone()),
            LegacyPolicy::None => None,
        };
        let legacy_store = legacy_dir.map(|root| DirStore { root });
        let legacy_ref = legacy_store.as_ref().map(|s| s as &dyn loader::Store);
        let mut loader = Loader::new(&store, legacy_ref);
        loader.load_top()?;
        Ok(Policy {
            rules: loader.rules,
            warnings: loader.warnings,
        })
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Non-fatal notes from loading (e.g. the `!compat-4.0` deprecation warning qrexec logs).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Evaluates a call: `service` (e.g. `qubes.ConfigPropose`), `argument` (`+ARG`, or `""` for
    /// none — qrexec always passes at least `+`), the calling qube and the target it asked for
    /// (a name, `@default`, `@dispvm`, `@dispvm:NAME`, `@adminvm`, or `""` for `@default`).
    ///
    /// Like qrexec's `evaluate`, this decides by policy only: the caller must still refuse a
    /// call to itself ([`Resolution::is_loopback`]) and turn an `ask` into allow or deny with
    /// the user's answer ([`Resolution::answer`]). Service and argument are taken as given:
    /// sanitise what comes from a qube first ([`sanitize_service_call`]).
    pub fn evaluate(
        &self,
        system: &SystemInfo,
        service: &str,
        argument: &str,
        source: &str,
        target: &str,
    ) -> Resolution {
        self.decide(system, service, argument, source, target)
            .resolution
    }

    /// False when no allow/ask rule matches `service`, `argument` and `source`, i.e. every
    /// target would be denied.
    pub fn may_grant(
        &self,
        system: &SystemInfo,
        service: &str,
        argument: &str,
        source: &str,
    ) -> bool {
        eval::may_grant(
            &self.rules,
            system,
            service,
            &plus_argument(argument),
            source,
        )
    }

    /// As [`Policy::evaluate`], with qrexec's reason for the outcome.
    pub fn decide(
        &self,
        system: &SystemInfo,
        service: &str,
        argument: &str,
        source: &str,
        target: &str,
    ) -> Decision {
        let argument = plus_argument(argument);
        eval::evaluate(
            &self.rules,
            system,
            &eval::Request {
                service,
                argument: &argument,
                source,
                target,
            },
        )
    }
}

/// The argument as the policy matches it: always with its leading `+`.
fn plus_argument(argument: &str) -> String {
    if argument.starts_with('+') {
        argument.to_owned()
    } else {
        format!("+{argument}")
    }
}
