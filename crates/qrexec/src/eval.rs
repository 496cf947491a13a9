//! Evaluating a request against the rules: first match wins, no match denies, with qrexec's
//! target handling (unknown target → `@default`, `@anyvm` also matching `@dispvm`, redirects,
//! disposables, autostart).

use std::collections::BTreeSet;

use crate::rule::{Action, Rule, RuleRef};
use crate::system::SystemInfo;
use crate::token::{Column, Token, is_dom0};

/// The outcome of a policy evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The call goes through to `target` (a qube name, `dom0`, or `@dispvm:TEMPLATE` for a new
    /// disposable).
    Allow {
        target: String,
        user: Option<String>,
        autostart: bool,
        notify: bool,
        rule: RuleRef,
    },
    /// The user is asked to pick one of `targets` (sorted), with `default_target` preselected.
    Ask {
        targets: Vec<String>,
        default_target: Option<String>,
        user: Option<String>,
        autostart: bool,
        notify: bool,
        rule: RuleRef,
    },
    /// Refused; `rule` is the rule that matched (a `deny` rule, or an `allow`/`ask` rule that
    /// could not be carried out), `None` when no rule matched.
    Deny { notify: bool, rule: Option<RuleRef> },
}

impl Resolution {
    /// The one-line form `qubes-policy-eval` prints: `allow target=T`,
    /// `ask targets=A,B default_target=T` or `deny`.
    pub fn summary(&self) -> String {
        match self {
            Resolution::Allow { target, .. } => format!("allow target={target}"),
            Resolution::Ask {
                targets,
                default_target,
                ..
            } => {
                let mut s = format!("ask targets={}", targets.join(","));
                if let Some(d) = default_target {
                    s.push_str(&format!(" default_target={d}"));
                }
                s
            }
            Resolution::Deny { .. } => "deny".to_owned(),
        }
    }

    /// The outcome after the user answered an `ask` prompt (qrexec's `handle_user_response`):
    /// `None` (refused) or a choice outside the offered targets denies; a valid choice allows
    /// that target with the rule's user, autostart and notify. Other resolutions are returned
    /// unchanged.
    pub fn answer(&self, choice: Option<&str>) -> Resolution {
        match self {
            Resolution::Ask {
                targets,
                user,
                autostart,
                notify,
                rule,
                ..
            } => match choice {
                Some(target) if targets.iter().any(|t| t == target) => Resolution::Allow {
                    target: target.to_owned(),
                    user: user.clone(),
                    autostart: *autostart,
                    notify: *notify,
                    rule: rule.clone(),
                },
                _ => Resolution::Deny {
                    notify: *notify,
                    rule: Some(rule.clone()),
                },
            },
            other => other.clone(),
        }
    }

    /// True when an allowed call would connect a qube to itself. qrexec's evaluator allows
    /// this, and qrexec then refuses it when executing ("loopback qrexec connection not
    /// supported"); whoever runs the call must refuse it too.
    pub fn is_loopback(&self, source: &str) -> bool {
        matches!(self, Resolution::Allow { target, .. } if target == source)
    }

    pub fn is_allow(&self) -> bool {
        matches!(self, Resolution::Allow { .. })
    }

    pub fn is_deny(&self) -> bool {
        matches!(self, Resolution::Deny { .. })
    }
}

/// A [`Resolution`] with the reason in qrexec's words (`denied by policy FILE:LINE`, `no matching
/// rule found`, …), for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub resolution: Resolution,
    pub reason: String,
}

/// The requested target after qrexec's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Intended {
    Name(String),
    AdminVm,
    Default,
    DispVm,
    DispVmTemplate(String),
}

impl Intended {
    fn text(&self) -> String {
        match self {
            Intended::Name(n) => n.clone(),
            Intended::AdminVm => "@adminvm".into(),
            Intended::Default => "@default".into(),
            Intended::DispVm => "@dispvm".into(),
            Intended::DispVmTemplate(t) => format!("@dispvm:{t}"),
        }
    }
}

/// An evaluation that cannot continue: qrexec would refuse the call (some of these are crashes
/// of qrexec's evaluator, which refuse the call as well).
struct Refused {
    reason: String,
    notify: bool,
}

fn refused(reason: impl Into<String>) -> Refused {
    Refused {
        reason: reason.into(),
        notify: true,
    }
}

/// qrexec's uuid-aware name comparison.
fn match_strings(info: &SystemInfo, a: &str, b: &str) -> bool {
    if let Some(ua) = a.strip_prefix("uuid:") {
        if b.starts_with("uuid:") {
            return a == b;
        }
        return info.domains.get(b).and_then(|d| d.uuid.as_deref()) == Some(ua);
    }
    if let Some(ub) = b.strip_prefix("uuid:") {
        return info.domains.get(a).and_then(|d| d.uuid.as_deref()) == Some(ub);
    }
    a == b
}

/// The disposable template qrexec uses for `@dispvm` requested by `source`.
fn dispvm_template_of(info: &SystemInfo, source: &str) -> Option<String> {
    info.get(source).and_then(|d| d.default_dispvm.clone())
}

/// Does a source column token match the calling qube?
fn source_matches(token: &Token, source: &str, info: &SystemInfo) -> bool {
    match token {
        Token::Name(n) if is_dom0(n) => is_dom0(source),
        Token::Name(n) => match_strings(info, n, source),
        Token::Wildcard => true,
        Token::AdminVm => is_dom0(source),
        Token::AnyVm => !is_dom0(source),
        Token::Type(t) => info.get(source).is_some_and(|d| d.r#type == *t),
        Token::Tag(t) => info.get(source).is_some_and(|d| d.tags.contains(t)),
        // qrexec compares these with a disposable designator, never with a plain qube name:
        // in the source column they match nothing.
        Token::DispVmTemplate(_) | Token::DispVmTag(_) => false,
        Token::Default | Token::DispVm => false,
    }
}

/// Does a destination column token match the (verified) requested target?
fn target_matches(
    token: &Token,
    target: &Intended,
    source: &str,
    info: &SystemInfo,
) -> Result<bool, Refused> {
    let text = target.text();
    Ok(match token {
        Token::Name(n) if is_dom0(n) => is_dom0(&text),
        Token::Name(n) => match_strings(info, n, &text),
        Token::Wildcard => true,
        Token::AdminVm => is_dom0(&text),
        Token::AnyVm => !is_dom0(&text),
        Token::Default => text == "@default",
        Token::Type(t) => info.get(&text).is_some_and(|d| d.r#type == *t),
        Token::Tag(t) => info.get(&text).is_some_and(|d| d.tags.contains(t)),
        Token::DispVm => *target == Intended::DispVm,
        Token::DispVmTemplate(name) => match target {
            Intended::DispVm => match dispvm_template_of(info, source) {
                // qrexec compares the whole `@dispvm:…` strings here: no uuid resolution
                Some(template) => *name == template,
                // qrexec's evaluator crashes here (no default_dispvm to compare with)
                None => {
                    return Err(refused(format!(
                        "cannot match @dispvm:{name} against @dispvm: {source} has no default_dispvm"
                    )));
                }
            },
            Intended::DispVmTemplate(other) => match_strings(info, name, other),
            _ => false,
        },
        Token::DispVmTag(tag) => {
            let template = match target {
                Intended::DispVm => dispvm_template_of(info, source),
                Intended::DispVmTemplate(t) => Some(t.clone()),
                _ => None,
            };
            match template {
                None => false,
                Some(t) => match info.get(&t) {
                    Some(d) => d.template_for_dispvms && d.tags.contains(tag),
                    None => {
                        return Err(refused(format!("unknown disposable template {t}")));
                    }
                },
            }
        }
    })
}

fn rule_matches_but_target(
    rule: &Rule,
    service: &str,
    argument: &str,
    source: &str,
    info: &SystemInfo,
) -> bool {
    rule.service.as_deref().is_none_or(|s| s == service)
        && rule.argument.as_deref().is_none_or(|a| a == argument)
        && source_matches(&rule.source, source, info)
}

/// qrexec's `IntendedTarget(...).verify()`: parse what the caller asked for; an unknown qube
/// becomes `@default`.
fn verify_intended(text: &str, info: &SystemInfo) -> Result<Intended, Refused> {
    let text = if text.is_empty() { "@default" } else { text };
    let token = Token::parse_in(text, Column::IntendedTarget).map_err(refused)?;
    Ok(match token {
        Token::AdminVm => Intended::AdminVm,
        Token::Default => Intended::Default,
        Token::DispVm => Intended::DispVm,
        Token::DispVmTemplate(t) => {
            if !info.get(&t).is_some_and(|d| d.template_for_dispvms) {
                return Err(refused(format!("not a template for dispvm: {t}")));
            }
            Intended::DispVmTemplate(t)
        }
        Token::Name(n) => {
            if info.contains(&n) {
                Intended::Name(n)
            } else {
                Intended::Default
            }
        }
        // parse_in only yields the tokens above for IntendedTarget
        _ => return Err(refused(format!("invalid intendedtarget token: {text}"))),
    })
}

/// qrexec's `allow_no_autostart`: may this target be used without starting anything?
fn running_or_dom0(target: &str, info: &SystemInfo) -> Result<bool, Refused> {
    if is_dom0(target) {
        return Ok(true);
    }
    if target.starts_with("@dispvm") {
        return Ok(false);
    }
    info.get(target)
        .map(|d| d.power_state == "Running")
        .ok_or_else(|| refused(format!("unknown target {target}")))
}

/// Expands a destination token into concrete choices for an `ask` prompt.
fn expand(token: &Token, info: &SystemInfo) -> Result<Vec<String>, Refused> {
    let mut out = Vec::new();
    match token {
        Token::Name(n) => {
            if let Some((name, _)) = info.lookup(n) {
                out.push(if n.starts_with("uuid:") {
                    name.to_owned()
                } else {
                    n.clone()
                });
            }
        }
        Token::Wildcard | Token::AnyVm => {
            for (name, d) in &info.domains {
                if *token == Token::Wildcard || !is_dom0(name) {
                    out.push(name.clone());
                }
                if d.template_for_dispvms {
                    out.push(format!("@dispvm:{name}"));
                }
            }
            out.push("@dispvm".into());
        }
        Token::AdminVm => out.push("@adminvm".into()),
        Token::Default => {}
        Token::Type(t) => out.extend(
            info.domains
                .iter()
                .filter(|(_, d)| d.r#type == *t)
                .map(|(n, _)| n.clone()),
        ),
        Token::Tag(t) => out.extend(
            info.domains
                .iter()
                .filter(|(_, d)| d.tags.contains(t))
                .map(|(n, _)| n.clone()),
        ),
        Token::DispVm => out.push("@dispvm".into()),
        Token::DispVmTemplate(t) => match info.lookup(t) {
            Some((name, d)) => {
                if d.template_for_dispvms {
                    out.push(format!("@dispvm:{name}"));
                }
            }
            None => return Err(refused(format!("unknown disposable template {t}"))),
        },
        Token::DispVmTag(tag) => out.extend(
            info.domains
                .iter()
                .filter(|(_, d)| d.template_for_dispvms && d.tags.contains(tag))
                .map(|(n, _)| format!("@dispvm:{n}")),
        ),
    }
    Ok(out)
}

/// False when no allow/ask rule matches this service, argument and source: every target is then
/// denied, so callers probing many targets can skip them.
pub(crate) fn may_grant(
    rules: &[Rule],
    info: &SystemInfo,
    service: &str,
    argument: &str,
    source: &str,
) -> bool {
    rules.iter().any(|r| {
        !matches!(r.action, Action::Deny { .. })
            && rule_matches_but_target(r, service, argument, source, info)
    })
}

pub(crate) struct Request<'r> {
    pub service: &'r str,
    pub argument: &'r str,
    pub source: &'r str,
    pub target: &'r str,
}

pub(crate) fn evaluate(rules: &[Rule], info: &SystemInfo, req: &Request<'_>) -> Decision {
    match evaluate_inner(rules, info, req) {
        Ok(decision) => decision,
        Err((rule, r)) => Decision {
            resolution: Resolution::Deny {
                notify: r.notify,
                rule,
            },
            reason: r.reason,
        },
    }
}

type Failed = (Option<RuleRef>, Refused);

fn evaluate_inner(
    rules: &[Rule],
    info: &SystemInfo,
    req: &Request<'_>,
) -> Result<Decision, Failed> {
    let target = verify_intended(req.target, info).map_err(|r| (None, r))?;
    let mut matched = None;
    for rule in rules {
        if rule_matches_but_target(rule, req.service, req.argument, req.source, info)
            && target_matches(&rule.target, &target, req.source, info).map_err(|r| (None, r))?
        {
            matched = Some(rule);
            break;
        }
    }
    let Some(rule) = matched else {
        return Err((None, refused("no matching rule found")));
    };
    let origin = rule.origin.clone();
    let at = format!("{}:{}", origin.file, origin.line);
    let fail = |r: Refused| (Some(origin.clone()), r);
    match &rule.action {
        Action::Deny { notify } => Err(fail(Refused {
            reason: format!("denied by policy {at}"),
            notify: *notify,
        })),
        Action::Allow {
            target: redirect,
            user,
            notify,
            autostart,
        } => {
            let wanted = match redirect {
                Some(t) => verify_intended(&t.to_string(), info),
                None => verify_intended(&target.text(), info),
            }
            .map_err(fail)?;
            let resolved = match wanted {
                Intended::Default => {
                    return Err(fail(refused(format!(
                        "policy define 'allow' action at {at} but no target is specified by \
                         caller or policy"
                    ))));
                }
                Intended::DispVm => match dispvm_template_of(info, req.source) {
                    Some(t) => format!("@dispvm:{t}"),
                    None => {
                        return Err(fail(refused(format!(
                            "policy define 'allow' action to @dispvm at {at} but no DispVM base \
                             is set for this VM"
                        ))));
                    }
                },
                Intended::AdminVm => "dom0".to_owned(),
                other => other.text(),
            };
            if !*autostart && !running_or_dom0(&resolved, info).map_err(fail)? {
                return Err(fail(Refused {
                    reason: format!(
                        "target {resolved} is denied because it would require autostart"
                    ),
                    notify: *notify,
                }));
            }
            Ok(Decision {
                reason: format!("allowed by policy {at}"),
                resolution: Resolution::Allow {
                    target: resolved,
                    user: user.clone(),
                    autostart: *autostart,
                    notify: *notify,
                    rule: origin.clone(),
                },
            })
        }
        Action::Ask {
            target: redirect,
            default_target,
            user,
            notify,
            autostart,
        } => {
            let mut targets: Vec<String> = match redirect {
                Some(t) if is_dom0(&t.to_string()) => vec!["dom0".to_owned()],
                Some(t) => vec![t.to_string()],
                None => collect_targets_for_ask(rules, info, req).map_err(fail)?,
            };
            if !*autostart {
                let mut kept = Vec::new();
                for t in targets {
                    if running_or_dom0(&t, info).map_err(fail)? {
                        kept.push(t);
                    }
                }
                targets = kept;
            }
            if targets.is_empty() {
                return Err(fail(refused(format!(
                    "policy define 'ask' action at {at} but no target is available to choose from"
                ))));
            }
            let default = default_target.as_ref().and_then(|d| match d {
                Token::DispVm => {
                    dispvm_template_of(info, req.source).map(|t| format!("@dispvm:{t}"))
                }
                d if is_dom0(&d.to_string()) => Some("dom0".to_owned()),
                d => Some(d.to_string()),
            });
            let default = default.filter(|d| targets.contains(d));
            Ok(Decision {
                reason: format!("ask by policy {at}"),
                resolution: Resolution::Ask {
                    targets,
                    default_target: default,
                    user: user.clone(),
                    autostart: *autostart,
                    notify: *notify,
                    rule: origin.clone(),
                },
            })
        }
    }
}

/// The qubes the user may pick in an `ask` prompt: every target that a rule for this service,
/// argument and source would allow or ask for, minus those a deny rule before it removes,
/// without the caller itself. Sorted (qrexec returns a set).
fn collect_targets_for_ask(
    rules: &[Rule],
    info: &SystemInfo,
    req: &Request<'_>,
) -> Result<Vec<String>, Refused> {
    let mut targets: BTreeSet<String> = BTreeSet::new();
    for rule in rules.iter().rev() {
        if !rule_matches_but_target(rule, req.service, req.argument, req.source, info) {
            continue;
        }
        let token = rule.action.redirect().unwrap_or(&rule.target);
        let expansion = expand(token, info)?;
        if matches!(rule.action, Action::Deny { .. }) {
            for t in expansion {
                targets.remove(&t);
            }
        } else {
            targets.extend(expansion);
        }
    }
    if targets.remove("@dispvm")
        && let Some(t) = dispvm_template_of(info, req.source)
    {
        targets.insert(format!("@dispvm:{t}"));
    }
    if targets.remove("@adminvm") {
        targets.insert("dom0".to_owned());
    }
    // qrexec needs the caller in the system info here (it fails, and so refuses, otherwise).
    // A caller without a uuid (R4.2's system info has none) simply has no uuid to remove;
    // qrexec b2822df would fail on it, R4.2's qrexec has no uuid handling at all.
    let Some((name, d)) = info.lookup(req.source) else {
        return Err(refused(format!("unknown source qube {}", req.source)));
    };
    targets.remove(name);
    if let Some(uuid) = &d.uuid {
        targets.remove(&format!("uuid:{uuid}"));
    }
    targets.remove(req.source);
    Ok(targets.into_iter().collect())
}
