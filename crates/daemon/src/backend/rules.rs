//! Targeting: a qube's effective assignment = its single assignments ∪ the profiles of
//! the assignment rules (tag, template, class) that cover it, evaluated on every call
//! from the live Admin API view (kept current by events), so a qube that gains a tag is
//! covered at the next evaluation and one that loses it is not.
//!
//! A rule never covers dom0 (not in the live view, and no rule may name `AdminVM`), the
//! config qube, or a name that is not a valid qube name; a qube whose tags could not be
//! read is covered by no tag rule (fail closed). When the qubes cannot be listed at all,
//! rules cover nothing and only single assignments remain.
//!
//! It must not write anything into qubes nor keep a list of covered qubes in the store.

use std::collections::BTreeMap;

use qcs_core::store::{AssignmentRule, QubeFacts, RuleKind, matching_rules};
use qcs_protocol::{ProfileId, VmName, validate_vm_name};

use super::qubes::{LiveQube, LiveView};
use super::{Backend, BackendError, Result};
use crate::client::rules::{AssignmentSource, RuleList, RuleView, SourceKind};
use crate::client::types::API_VERSION;
use crate::client::{Code, Reason};

/// One profile of a qube's effective assignment and what brought it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub profile: ProfileId,
    /// Assigned to the qube by name.
    pub single: bool,
    /// The rules that cover the qube with this profile.
    pub rules: Vec<AssignmentRule>,
}

impl Effective {
    /// What brought the profile, for the views: `single` first, then the rules.
    pub fn sources(&self) -> Vec<AssignmentSource> {
        let mut sources = Vec::new();
        if self.single {
            sources.push(AssignmentSource {
                kind: SourceKind::Single,
                value: String::new(),
            });
        }
        sources.extend(self.rules.iter().map(|r| AssignmentSource {
            kind: wire_kind(r.kind),
            value: r.value.clone(),
        }));
        sources
    }
}

fn wire_kind(kind: RuleKind) -> SourceKind {
    match kind {
        RuleKind::Tag => SourceKind::Tag,
        RuleKind::Template => SourceKind::Template,
        RuleKind::Class => SourceKind::Class,
    }
}

/// Parses a rule from the wire (kind `tag`, `template` or `class`; the value is checked
/// for its kind by the store).
pub fn assignment_rule(kind: &str, value: String, profile: &str) -> Result<AssignmentRule> {
    let kind = RuleKind::parse(kind).ok_or_else(|| {
        BackendError::InvalidArgument(
            Reason::new(Code::RuleInvalid)
                .arg("kind", kind.chars().take(32).collect::<String>())
                .arg("value", value.chars().take(64).collect::<String>())
                .arg("detail", "the kind of a rule is tag, template or class"),
        )
    })?;
    Ok(AssignmentRule {
        kind,
        value,
        profile: super::views::profile_id(profile)?,
    })
}

fn facts(live: &LiveQube) -> QubeFacts<'_> {
    QubeFacts {
        class: &live.class,
        template: live.template.as_deref(),
        tags: live.tags.as_deref(),
    }
}

impl Backend {
    /// Whether rules may cover `name`: a valid qube name, not dom0, not the config qube.
    fn rule_eligible(&self, name: &str) -> Option<VmName> {
        if name == "dom0" || name == self.config.config_qube {
            return None;
        }
        validate_vm_name(name).ok()
    }

    /// The rules that cover `live` (none for a qube rules may not cover).
    fn covering<'r>(
        &self,
        rules: &'r [AssignmentRule],
        live: &LiveQube,
    ) -> Vec<&'r AssignmentRule> {
        if self.rule_eligible(&live.name).is_none() || live.class == "AdminVM" {
            return Vec::new();
        }
        matching_rules(rules, &facts(live))
    }

    /// Joins single assignments and covering rules, profiles in the order singles
    /// first (as stored), then rule profiles by name.
    fn join(singles: &[ProfileId], covering: &[&AssignmentRule]) -> Vec<Effective> {
        let mut out: Vec<Effective> = singles
            .iter()
            .map(|p| Effective {
                profile: p.clone(),
                single: true,
                rules: Vec::new(),
            })
            .collect();
        let mut extra: BTreeMap<ProfileId, Vec<AssignmentRule>> = BTreeMap::new();
        for rule in covering {
            match out.iter_mut().find(|e| e.profile == rule.profile) {
                Some(e) => e.rules.push((*rule).clone()),
                None => extra
                    .entry(rule.profile.clone())
                    .or_default()
                    .push((*rule).clone()),
            }
        }
        out.extend(extra.into_iter().map(|(profile, rules)| Effective {
            profile,
            single: false,
            rules,
        }));
        out
    }

    /// The effective assignment of one qube, evaluated now.
    pub fn effective_assignment(&self, qube: &VmName) -> Result<Vec<Effective>> {
        let singles = self.store().qube_settings(qube)?.assigned;
        let rules = self.store().assignment_rules()?;
        if rules.is_empty() {
            return Ok(Self::join(&singles, &[]));
        }
        let live = self.live_view().ok();
        let covering = live
            .as_ref()
            .and_then(|view| view.qubes.iter().find(|q| q.name == qube.as_str()))
            .map(|q| self.covering(&rules, q))
            .unwrap_or_default();
        Ok(Self::join(&singles, &covering))
    }

    /// The profiles of [`Backend::effective_assignment`].
    pub fn effective_profiles(&self, qube: &VmName) -> Result<Vec<ProfileId>> {
        Ok(self
            .effective_assignment(qube)?
            .into_iter()
            .map(|e| e.profile)
            .collect())
    }

    /// The effective assignment of every qube that has one: configured qubes with single
    /// assignments and qubes of `live` that rules cover.
    pub(crate) fn effective_all(
        &self,
        live: &LiveView,
    ) -> Result<BTreeMap<VmName, Vec<Effective>>> {
        let (settings, rules) = {
            let store = self.store();
            (store.qubes()?, store.assignment_rules()?)
        };
        let mut out = BTreeMap::new();
        for s in settings {
            let covering = live
                .qubes
                .iter()
                .find(|q| q.name == s.qube.as_str())
                .map(|q| self.covering(&rules, q))
                .unwrap_or_default();
            let joined = Self::join(&s.assigned, &covering);
            if !joined.is_empty() {
                out.insert(s.qube, joined);
            }
        }
        for q in &live.qubes {
            let Some(name) = self.rule_eligible(&q.name) else {
                continue;
            };
            if out.contains_key(&name) {
                continue;
            }
            let covering = self.covering(&rules, q);
            if !covering.is_empty() {
                out.insert(name, Self::join(&[], &covering));
            }
        }
        Ok(out)
    }

    /// Every rule with the qubes it covers now (`ListAssignmentRules`).
    pub fn rules_view(&self) -> Result<RuleList> {
        let rules = self.store().assignment_rules()?;
        let (live, admin_error) = match self.live_view() {
            Ok(view) => (Some(view), None),
            Err(e) => (None, Some(e.reason())),
        };
        let views = rules
            .iter()
            .map(|rule| {
                let covers = live
                    .iter()
                    .flat_map(|view| view.qubes.iter())
                    .filter(|q| !self.covering(std::slice::from_ref(rule), q).is_empty())
                    .map(|q| q.name.clone())
                    .collect();
                RuleView {
                    kind: wire_kind(rule.kind),
                    value: rule.value.clone(),
                    profile: rule.profile.to_string(),
                    covers,
                }
            })
            .collect();
        Ok(RuleList {
            version: API_VERSION,
            rules: views,
            admin_error,
        })
    }

    /// Adds (`add`) or removes an assignment rule. The qubes it covers change at once
    /// (`QubeChanged("")`).
    pub fn set_assignment_rule(&self, rule: &AssignmentRule, add: bool) -> Result<()> {
        if add {
            self.store().add_assignment_rule(rule)?;
        } else {
            self.store().remove_assignment_rule(rule)?;
        }
        self.notifier().qube_changed("");
        Ok(())
    }
}
