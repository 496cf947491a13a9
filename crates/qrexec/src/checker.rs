//! The checker: what each qube may do with our services (and the Admin API calls given to the
//! config qube) under a policy, as a readable table, and the grants that break the trust model.
//!
//! It evaluates the policy exactly as dom0 would ([`Policy::evaluate`]) for every source qube ×
//! call × requested target, so what it prints is what qrexec decides, including rules of other
//! packages and of `30-user.policy`.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use crate::Policy;
use crate::eval::Resolution;
use crate::rule::{Action, RuleRef};
use crate::system::{DomainInfo, SystemInfo};
use crate::token::{Token, is_dom0};
use crate::trust::{
    ADMIN_OPT_IN_WRITE_CALLS, ADMIN_READ_CALLS, ADMIN_START_CALLS, ADMIN_WRITE_INCLUDE,
    ALL_SERVICES, MANAGED_TAG, MANAGER_SERVICES, MANAGER_TAG, PROBED_OTHER_CALLS, SERVICE_PROPOSE,
    is_config_qube, is_managed_qube,
};

/// One thing a qube may do: a call to a requested target and what dom0 decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub source: String,
    /// `SERVICE+ARG`; `+*` stands for any argument not named in a rule.
    pub call: String,
    /// The target as the caller asks for it (a qube, `@default`, `@dispvm`, `dom0`).
    pub requested_target: String,
    pub resolution: Resolution,
}

impl Grant {
    fn rule(&self) -> Option<&RuleRef> {
        match &self.resolution {
            Resolution::Allow { rule, .. } | Resolution::Ask { rule, .. } => Some(rule),
            Resolution::Deny { rule, .. } => rule.as_ref(),
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Allowed by the trust model, but weaker than the shipped default (e.g. a proposal
    /// allowed without a prompt).
    Warning,
    /// Grants more than the trust model allows.
    OverGrant,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "WARNING",
            Severity::OverGrant => "OVER-GRANT",
        })
    }
}

/// A grant or rule that breaks (or weakens) the trust model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
    /// The rule responsible.
    pub rule: Option<RuleRef>,
}

/// The checker's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every allow/ask, per source qube, call and requested target.
    pub grants: Vec<Grant>,
    pub findings: Vec<Finding>,
    /// True when the system description was made up from the policy (no `--system-info`).
    pub synthetic_system: bool,
}

impl Report {
    /// True if any finding is an over-grant.
    pub fn has_over_grants(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::OverGrant)
    }
}

/// A made-up system for checking a policy without dom0's system info: dom0, a config qube, a
/// managed qube, an unrelated qube, a disposable template, and every qube the rules name
/// literally (untagged AppVMs, except that generated proposal targets are config qubes).
pub fn synthetic_system(policy: &Policy) -> SystemInfo {
    let mut system = SystemInfo::default();
    let qube = |ty: &str, tags: &[&str], dvm: bool| DomainInfo {
        r#type: ty.to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        template_for_dispvms: dvm,
        default_dispvm: Some("sample-dvm".to_owned()),
        power_state: "Halted".to_owned(),
        uuid: None,
        icon: None,
    };
    system.domains.insert("dom0".into(), {
        let mut d = qube("AdminVM", &[], false);
        d.power_state = "Running".into();
        d.uuid = Some("00000000-0000-0000-0000-000000000000".into());
        d
    });
    system.domains.insert(
        "sample-config-qube".into(),
        qube("AppVM", &[MANAGER_TAG], false),
    );
    system.domains.insert(
        "sample-managed-qube".into(),
        qube("AppVM", &[MANAGED_TAG], false),
    );
    system
        .domains
        .insert("sample-other-qube".into(), qube("AppVM", &[], false));
    system
        .domains
        .insert("sample-dvm".into(), qube("AppVM", &[], true));
    // proposal targets named by generated rules are config qubes
    let mut config_names = BTreeSet::new();
    for rule in policy.rules() {
        if rule.service.as_deref() == Some(SERVICE_PROPOSE)
            && let Some(Token::Name(n)) = rule.action.redirect()
        {
            config_names.insert(n.clone());
        }
    }
    for rule in policy.rules() {
        let mut names = vec![&rule.source, &rule.target];
        names.extend(rule.action.redirect());
        for token in names {
            if let Token::Name(n) = token
                && !n.starts_with("uuid:")
                && !is_dom0(n)
                && !system.domains.contains_key(n)
            {
                let tags: &[&str] = if config_names.contains(n) {
                    &[MANAGER_TAG]
                } else if rule
                    .service
                    .as_deref()
                    .is_some_and(|s| ALL_SERVICES.contains(&s))
                {
                    &[MANAGED_TAG]
                } else {
                    &[]
                };
                system.domains.insert(n.clone(), qube("AppVM", tags, false));
            }
        }
    }
    system
}

/// Arguments to probe for a service: every argument a rule names, plus one no rule names.
fn probe_arguments(policy: &Policy, service: &str) -> Vec<String> {
    let mut args: BTreeSet<String> = policy
        .rules()
        .iter()
        .filter(|r| r.service.as_deref() == Some(service))
        .filter_map(|r| r.argument.clone())
        .collect();
    args.insert("+".to_owned());
    let mut out: Vec<String> = args.into_iter().collect();
    out.push(UNNAMED_ARGUMENT.to_owned());
    out
}

/// Stands for "any argument no rule names" (not a valid profile id, so no rule can name it).
const UNNAMED_ARGUMENT: &str = "+*";

/// Checks `policy` against the trust model on `system` (or a synthetic system).
pub fn check(policy: &Policy, system: Option<&SystemInfo>) -> Report {
    let synthetic_system_used = system.is_none();
    let synthetic;
    let system = match system {
        Some(s) => s,
        None => {
            synthetic = synthetic_system(policy);
            &synthetic
        }
    };
    let mut targets: Vec<String> = system.domains.keys().cloned().collect();
    targets.extend(["@default".to_owned(), "@dispvm".to_owned()]);
    targets.extend(
        system
            .domains
            .iter()
            .filter(|(_, d)| d.template_for_dispvms)
            .map(|(name, _)| format!("@dispvm:{name}")),
    );

    let mut grants = Vec::new();
    let mut findings = Vec::new();
    let mut seen_findings = BTreeSet::new();
    let mut services: Vec<&str> = ALL_SERVICES.to_vec();
    services.extend(ADMIN_READ_CALLS);
    services.extend(ADMIN_START_CALLS);
    services.extend(ADMIN_OPT_IN_WRITE_CALLS);
    services.extend(PROBED_OTHER_CALLS);
    for (source, info) in &system.domains {
        if is_dom0(source) {
            // calls from dom0 bypass the policy
            continue;
        }
        for service in &services {
            for arg in probe_arguments(policy, service) {
                if !policy.may_grant(system, service, &arg, source) {
                    continue;
                }
                for target in &targets {
                    let resolution = policy.evaluate(system, service, &arg, source, target);
                    if resolution.is_deny() {
                        continue;
                    }
                    // an empty argument decided like "any other argument" is shown once, as +*
                    if arg == "+"
                        && policy.evaluate(system, service, UNNAMED_ARGUMENT, source, target)
                            == resolution
                    {
                        continue;
                    }
                    let grant = Grant {
                        source: source.clone(),
                        call: format!("{service}{arg}"),
                        requested_target: target.clone(),
                        resolution,
                    };
                    let verdict = judge(&grant, service, info, system);
                    // the table shows our services and the Admin API; other probed services
                    // (shells) only when they break the trust model
                    let listed = ALL_SERVICES.contains(service)
                        || service.starts_with("admin.")
                        || service.starts_with("policy.")
                        || !verdict.is_empty();
                    for finding in verdict {
                        let key = (
                            finding.message.clone(),
                            finding.rule.clone().map(|r| (r.file, r.line)),
                        );
                        if seen_findings.insert(key) {
                            findings.push(finding);
                        }
                    }
                    if listed {
                        grants.push(grant);
                    }
                }
            }
        }
    }
    findings.extend(broad_rules(policy));
    if !synthetic_system_used {
        // the sample qubes' tags are made up: nothing to say about them
        findings.extend(tag_warnings(system));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Report {
        grants,
        findings,
        synthetic_system: synthetic_system_used,
    }
}

/// The qubes a resolution leads to (the allowed target, or every choice of an ask).
fn reached(resolution: &Resolution) -> Vec<String> {
    match resolution {
        Resolution::Allow { target, .. } => vec![target.clone()],
        Resolution::Ask { targets, .. } => targets.clone(),
        Resolution::Deny { .. } => Vec::new(),
    }
}

fn tags_of<'a>(system: &'a SystemInfo, name: &str) -> &'a [String] {
    let name = name.strip_prefix("@dispvm:").unwrap_or(name);
    system.get(name).map(|d| d.tags.as_slice()).unwrap_or(&[])
}

/// The trust model's verdict on one grant.
fn judge(grant: &Grant, service: &str, source: &DomainInfo, system: &SystemInfo) -> Vec<Finding> {
    let mut out = Vec::new();
    let rule = grant.rule().cloned();
    let mut flag = |severity, message: String| {
        out.push(Finding {
            severity,
            message,
            rule: rule.clone(),
        })
    };
    let src = &grant.source;
    let verb = grant.resolution.summary();
    let user = match &grant.resolution {
        Resolution::Allow { user, .. } | Resolution::Ask { user, .. } => user.as_deref(),
        Resolution::Deny { .. } => None,
    };
    if let Some(user) = user.filter(|u| !u.is_empty() && *u != "user")
        && ALL_SERVICES.contains(&service)
    {
        // our services run as the qube's default user and write only below its home
        flag(
            if user == "root" {
                Severity::OverGrant
            } else {
                Severity::Warning
            },
            format!(
                "{} from {src} runs as user={user} instead of the qube's default user",
                grant.call
            ),
        );
    }
    if MANAGER_SERVICES.contains(&service) {
        if !is_config_qube(&source.tags) {
            flag(
                Severity::OverGrant,
                format!(
                    "{src} is not the config qube (no tag {MANAGER_TAG}) but may call {} ({verb})",
                    grant.call
                ),
            );
        }
        for target in reached(&grant.resolution) {
            if !is_managed_qube(tags_of(system, &target)) {
                flag(
                    Severity::OverGrant,
                    format!(
                        "{src} may call {} on {target}, which is not a managed qube (no tag \
                         {MANAGED_TAG}) ({verb})",
                        grant.call
                    ),
                );
            }
        }
    } else if service == SERVICE_PROPOSE {
        for target in reached(&grant.resolution) {
            if !is_config_qube(tags_of(system, &target)) {
                flag(
                    Severity::OverGrant,
                    format!(
                        "{src} may send {} to {target}, which is not the config qube ({verb})",
                        grant.call
                    ),
                );
            }
        }
        if matches!(grant.resolution, Resolution::Allow { .. }) {
            flag(
                Severity::Warning,
                format!(
                    "{src} may send {} without a prompt (the default is ask)",
                    grant.call
                ),
            );
        }
    } else if service.starts_with("admin.") || service.starts_with("policy.") {
        if is_managed_qube(&source.tags) && !is_config_qube(&source.tags) {
            flag(
                Severity::OverGrant,
                format!(
                    "managed qube {src} may call the Admin API {} on {} ({verb})",
                    grant.call, grant.requested_target
                ),
            );
        } else if is_config_qube(&source.tags) {
            let opted_in = ADMIN_OPT_IN_WRITE_CALLS.contains(&service)
                && grant
                    .rule()
                    .is_some_and(|r| r.file.ends_with(ADMIN_WRITE_INCLUDE));
            let about = &grant.requested_target;
            let about_ours = is_managed_qube(tags_of(system, about))
                || (is_dom0(about) && matches!(service, "admin.vm.List" | "admin.Events"));
            if ADMIN_READ_CALLS.contains(&service) && !about_ours {
                flag(
                    Severity::Warning,
                    format!(
                        "config qube {src} may call {} about qubes that are not managed (more \
                         than the shipped policy grants)",
                        grant.call
                    ),
                );
            }
            if ADMIN_START_CALLS.contains(&service) && !is_managed_qube(tags_of(system, about)) {
                flag(
                    Severity::OverGrant,
                    format!(
                        "config qube {src} may start {about}, which is not a managed qube ({verb})",
                    ),
                );
            }
            if !ADMIN_READ_CALLS.contains(&service)
                && !ADMIN_START_CALLS.contains(&service)
                && !opted_in
            {
                flag(
                    Severity::OverGrant,
                    format!(
                        "config qube {src} may call {} on {}, which is not a read-only call of \
                         ours{} ({verb})",
                        grant.call,
                        grant.requested_target,
                        if ADMIN_OPT_IN_WRITE_CALLS.contains(&service) {
                            " and is not granted through the opt-in include"
                        } else {
                            ""
                        }
                    ),
                );
            }
        }
    } else {
        // shell services: anything reaching the config qube can take the store over
        for target in reached(&grant.resolution) {
            if is_config_qube(tags_of(system, &target)) {
                flag(
                    Severity::OverGrant,
                    format!(
                        "{src} may call {} on the config qube {target} ({verb})",
                        grant.call
                    ),
                );
            }
        }
    }
    out
}

/// Tags that give the config qube's rights to more than one qube, or to a managed qube.
fn tag_warnings(system: &SystemInfo) -> Vec<Finding> {
    let managers: Vec<&str> = system
        .domains
        .iter()
        .filter(|(_, d)| is_config_qube(&d.tags))
        .map(|(n, _)| n.as_str())
        .collect();
    let mut out = Vec::new();
    if managers.len() > 1 {
        out.push(Finding {
            severity: Severity::Warning,
            message: format!(
                "{} qubes carry the tag {MANAGER_TAG} ({}): each of them may write into every \
                 managed qube",
                managers.len(),
                managers.join(", ")
            ),
            rule: None,
        });
    }
    for name in managers {
        if system.get(name).is_some_and(|d| is_managed_qube(&d.tags)) {
            out.push(Finding {
                severity: Severity::Warning,
                message: format!(
                    "{name} carries both {MANAGER_TAG} and {MANAGED_TAG}: the config qube should \
                     not be managed"
                ),
                rule: None,
            });
        }
    }
    out
}

/// Rules that allow or ask for our services from `@anyvm` or `*`: over-grants even when no
/// qube in the system description happens to reach them.
fn broad_rules(policy: &Policy) -> Vec<Finding> {
    policy
        .rules()
        .iter()
        .filter(|r| match &r.service {
            None => true,
            Some(s) => ALL_SERVICES.contains(&s.as_str()),
        })
        .filter(|r| matches!(r.source, Token::AnyVm | Token::Wildcard))
        .filter(|r| !matches!(r.action, Action::Deny { .. }))
        .map(|r| Finding {
            severity: Severity::OverGrant,
            message: format!(
                "{} {} for {} from {}: any qube may call it",
                r.action.name(),
                r.service.as_deref().unwrap_or("every service (*)"),
                r.target,
                r.source
            ),
            rule: Some(r.origin.clone()),
        })
        .collect()
}

/// The report as text: a table of grants per source qube, then the findings.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    if report.synthetic_system {
        out.push_str(
            "(no system info given: sample qubes stand for the config qube, a managed qube and an \
             unrelated qube; qubes named in rules are included)\n\n",
        );
    }
    let headers = ["SOURCE", "CALL", "TARGET", "DECISION", "RULE"];
    let rows: Vec<[String; 5]> = report
        .grants
        .iter()
        .map(|g| {
            [
                g.source.clone(),
                g.call.clone(),
                g.requested_target.clone(),
                g.resolution.summary(),
                g.rule()
                    .map(|r| format!("{}:{}", r.file, r.line))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                let _ = write!(s, "{cell:<w$}  ");
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&headers);
    if rows.is_empty() {
        line(&["(no qube may call any of these)", "", "", "", ""]);
    }
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    if report
        .grants
        .iter()
        .any(|g| g.call.ends_with(UNNAMED_ARGUMENT))
    {
        out.push_str("(SERVICE+* = with any argument no rule names, including none)\n");
    }
    out.push('\n');
    if report.findings.is_empty() {
        out.push_str("No grant exceeds the qubes-config-sync trust model.\n");
    } else {
        let _ = writeln!(out, "{} finding(s):", report.findings.len());
        for f in &report.findings {
            let _ = write!(out, "{}: {}", f.severity, f.message);
            if let Some(r) = &f.rule {
                let _ = write!(out, "\n    rule {r}");
            }
            out.push('\n');
        }
    }
    out
}
