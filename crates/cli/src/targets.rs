//! Targeting and adopting on the command line: `assign` to one qube or by rule
//! (`--tag`, `--template`, `--class`), `rules` (every rule with the qubes it covers now),
//! `adopt QUBE PATH --profile PROFILE`, and the "assigned by" lines of `status`.
//!
//! It must not evaluate rules itself: the backend does, live from the Admin API.

use std::io::Write;

use clap::Args;
use qcs_client::Code;
use qcs_client::rules::{RuleList, SourceKind};
use qcs_client::types::{QubeList, SnapshotResult};
use qcs_core::render::terminal;

use super::args::{Common, JsonOpt};
use super::output::{colour, safe, sentence};
use super::remote::{RemoteError, Session, decode, print_json};
use super::{EXIT_CLEAN, EXIT_FINDINGS};

/// `assign`'s rule options: at most one of them.
#[derive(Debug, Args, Clone, Default)]
#[group(multiple = false)]
pub struct RuleTarget {
    /// Assign to every qube carrying this tag (now and later; evaluated live). Then the
    /// only positional argument is the profile.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Assign to every qube based on this template (its `template` property).
    #[arg(long, value_name = "NAME", value_parser = crate::names::qube)]
    pub template: Option<String>,
    /// Assign to every qube of this class (AppVM, DispVM, StandaloneVM, TemplateVM).
    #[arg(long, value_name = "CLASS", value_parser = ["AppVM", "DispVM", "StandaloneVM", "TemplateVM"])]
    pub class: Option<String>,
}

impl RuleTarget {
    /// (kind, value) of the rule, when one was given.
    fn rule(&self) -> Option<(&'static str, &str)> {
        self.tag
            .as_deref()
            .map(|t| ("tag", t))
            .or_else(|| self.template.as_deref().map(|t| ("template", t)))
            .or_else(|| self.class.as_deref().map(|c| ("class", c)))
    }
}

fn usage(text: &str) -> RemoteError {
    RemoteError::Usage(text.to_owned())
}

/// `assign QUBE PROFILE`, or `assign --tag|--template|--class VALUE PROFILE`; with
/// `--unassign` the assignment or the rule is taken away.
pub(crate) async fn assign(
    out: &mut impl Write,
    s: &Session,
    first: &str,
    second: Option<&str>,
    rule: &RuleTarget,
    unassign: bool,
) -> Result<u8, RemoteError> {
    let check = |text: &str, parser: fn(&str) -> Result<String, String>| {
        parser(text).map_err(|e| RemoteError::Usage(format!("{text:?}: {e}")))
    };
    match (rule.rule(), second) {
        (Some((kind, value)), None) => {
            let profile = check(first, crate::names::profile)?;
            s.proxy
                .set_assignment_rule(kind, value, &profile, !unassign)
                .await?;
            let rules: RuleList = decode(&s.proxy.list_assignment_rules().await?)?;
            if unassign {
                writeln!(out, "rule {kind} {value} → {profile} removed")?;
            } else if let Some(r) = rules
                .rules
                .iter()
                .find(|r| r.kind.as_str() == kind && r.value == value && r.profile == profile)
            {
                let covers = if r.covers.is_empty() {
                    "no qube yet".to_owned()
                } else {
                    r.covers.join(", ")
                };
                writeln!(
                    out,
                    "rule {kind} {value} → {profile} added; covers now: {covers}"
                )?;
            }
            Ok(EXIT_CLEAN)
        }
        (Some(_), Some(_)) => Err(usage(
            "with --tag, --template or --class give only the profile (the rule names the qubes)",
        )),
        (None, Some(profile)) => {
            let qube = check(first, crate::names::qube)?;
            let profile = check(profile, crate::names::profile)?;
            s.proxy.assign(&qube, &profile, !unassign).await?;
            Ok(EXIT_CLEAN)
        }
        (None, None) => Err(usage(
            "give QUBE PROFILE, or PROFILE with --tag, --template or --class",
        )),
    }
}

/// `rules [--json]`: every assignment rule and the qubes it covers now.
pub(crate) async fn rules(
    out: &mut impl Write,
    s: &Session,
    json: JsonOpt,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let list: RuleList = decode(&s.proxy.list_assignment_rules().await?)?;
    if json.json {
        return print_json(out, &list);
    }
    if let Some(e) = &list.admin_error {
        writeln!(out, "warning: {}", sentence(e, opts))?;
    }
    if list.rules.is_empty() {
        writeln!(
            out,
            "no assignment rules (add one with `assign --tag TAG PROFILE`)"
        )?;
        return Ok(EXIT_CLEAN);
    }
    for rule in &list.rules {
        let covers = if rule.covers.is_empty() {
            "(no qube now)".to_owned()
        } else {
            rule.covers
                .iter()
                .map(|q| safe(q, opts))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            out,
            "{:<9} {:<20} → {:<16} {covers}",
            rule.kind.as_str(),
            safe(&rule.value, opts),
            safe(&rule.profile, opts)
        )?;
    }
    Ok(EXIT_CLEAN)
}

/// The "assigned by" lines under `status`: each profile a rule brought to a qube.
pub(crate) fn write_rule_sources(
    out: &mut impl Write,
    list: &QubeList,
    opts: terminal::Options,
) -> std::io::Result<()> {
    let mut lines = Vec::new();
    for qube in &list.qubes {
        for p in &qube.profiles {
            let by: Vec<String> = p
                .sources
                .iter()
                .filter(|s| s.kind != SourceKind::Single)
                .map(|s| safe(&s.english(), opts))
                .collect();
            if !by.is_empty() {
                lines.push(format!(
                    "  {} {}: {}",
                    safe(&qube.name, opts),
                    safe(&p.profile, opts),
                    by.join(", ")
                ));
            }
        }
    }
    if !lines.is_empty() {
        writeln!(out, "assigned by rules:")?;
        for line in lines {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// `adopt QUBE PATH --profile PROFILE`: one snapshot of that path, into the inbox.
pub(crate) async fn adopt(
    out: &mut impl Write,
    s: &Session,
    qube: &str,
    path: &str,
    profile: &str,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let existed = s.proxy.get_profile(profile).await.is_ok();
    let result: SnapshotResult = decode(&s.proxy.adopt(qube, path, profile, true).await?)?;
    if !existed {
        writeln!(out, "profile {} created", safe(profile, opts))?;
    }
    for (path, status) in &result.paths {
        writeln!(out, "  {:<40} {}", safe(path, opts), sentence(status, opts))?;
    }
    for id in &result.proposal_ids {
        writeln!(
            out,
            "proposal #{id} created: review it with `qvm-config-sync proposals show {id}`"
        )?;
    }
    let imported = result.paths.iter().all(|(_, r)| {
        matches!(
            r.code,
            Code::SnapshotImported | Code::SnapshotSame | Code::SnapshotPending
        )
    });
    Ok(if imported { EXIT_CLEAN } else { EXIT_FINDINGS })
}
