//! Assignment rules: a profile assigned to every qube with a tag, on a template, or of a
//! class (DESIGN §5 "Targeting rules"), next to the single assignments of `assignments`.
//!
//! Its one job: keep the rules (validated, bounded, audited) and say which rules match a
//! qube's facts ([`matching_rules`]). The facts come from the Admin API and are read live
//! by the backend, so a qube that gains a tag is covered at the next evaluation; the store
//! keeps no list of covered qubes.
//!
//! It must not decide which qubes may be targets at all (dom0, the config qube, unknown
//! qubes): the backend's `check_target` does, for rules as for single assignments.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, StoreError, action, audit, now, profile_from_db, require_profile};
use qcs_protocol::profile::ProfileId;

/// Most rules in a store: each is evaluated against every qube on every view.
pub const MAX_ASSIGNMENT_RULES: usize = 256;
/// Longest rule value (tag, template name or class), in bytes.
pub const MAX_RULE_VALUE_BYTES: usize = 64;

/// The qube classes a class rule may name. `AdminVM` (dom0) is not one: a rule never
/// covers dom0.
pub const RULE_CLASSES: [&str; 4] = ["AppVM", "DispVM", "StandaloneVM", "TemplateVM"];

/// What a rule matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleKind {
    /// Qubes carrying the tag (`admin.vm.tag.List`).
    Tag,
    /// Qubes whose `template` property names the value (AppVMs on a TemplateVM, DispVMs
    /// on a disposable template).
    Template,
    /// Qubes of the class (`AppVM`, `DispVM`, `StandaloneVM`, `TemplateVM`).
    Class,
}

impl RuleKind {
    pub const ALL: [RuleKind; 3] = [RuleKind::Tag, RuleKind::Template, RuleKind::Class];

    /// As stored and on the wire: `tag`, `template`, `class`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Tag => "tag",
            RuleKind::Template => "template",
            RuleKind::Class => "class",
        }
    }

    /// Parses the stored or wire name.
    pub fn parse(text: &str) -> Option<RuleKind> {
        RuleKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for RuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule: every qube matching `kind` = `value` gets `profile`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssignmentRule {
    pub kind: RuleKind,
    pub value: String,
    pub profile: ProfileId,
}

/// What the Admin API says about a qube, as rules read it.
#[derive(Debug, Clone, Copy)]
pub struct QubeFacts<'a> {
    pub class: &'a str,
    pub template: Option<&'a str>,
    /// `None` when the tags could not be read: no tag rule matches then (fail closed).
    pub tags: Option<&'a [String]>,
}

/// Checks a rule's value for its kind: a tag as qubesd accepts it, a qube name, or one of
/// [`RULE_CLASSES`]; bounded. Returns why not, for the user.
pub fn validate_rule_value(kind: RuleKind, value: &str) -> Result<()> {
    let invalid = |why: String| StoreError::InvalidRule {
        kind: kind.as_str(),
        value: value.chars().take(MAX_RULE_VALUE_BYTES).collect(),
        why,
    };
    if value.is_empty() || value.len() > MAX_RULE_VALUE_BYTES {
        return Err(invalid(format!(
            "must be 1 to {MAX_RULE_VALUE_BYTES} bytes"
        )));
    }
    match kind {
        RuleKind::Tag => qubesadmin::validate::tag(value).map_err(|e| invalid(e.to_string())),
        RuleKind::Template => qcs_protocol::vm_name::validate_vm_name(value)
            .map(drop)
            .map_err(|e| invalid(e.to_string())),
        RuleKind::Class if RULE_CLASSES.contains(&value) => Ok(()),
        RuleKind::Class => Err(invalid(format!("not one of {}", RULE_CLASSES.join(", ")))),
    }
}

/// Whether `rule` covers a qube with `facts`. Exact, case-sensitive comparison, as
/// qubesd compares tags and names.
pub fn rule_matches(rule: &AssignmentRule, facts: &QubeFacts<'_>) -> bool {
    match rule.kind {
        RuleKind::Tag => facts.tags.is_some_and(|tags| tags.contains(&rule.value)),
        RuleKind::Template => facts.template == Some(rule.value.as_str()),
        RuleKind::Class => facts.class == rule.value && facts.class != "AdminVM",
    }
}

/// The rules of `rules` that cover a qube with `facts`, in their order.
pub fn matching_rules<'r>(
    rules: &'r [AssignmentRule],
    facts: &QubeFacts<'_>,
) -> Vec<&'r AssignmentRule> {
    rules.iter().filter(|r| rule_matches(r, facts)).collect()
}

impl Store {
    /// Every assignment rule, by kind, value and profile.
    pub fn assignment_rules(&self) -> Result<Vec<AssignmentRule>> {
        rules_in(&self.conn)
    }

    /// Adds a rule (audited). Refused: an invalid value, an unknown profile, a rule that
    /// exists already, more than [`MAX_ASSIGNMENT_RULES`].
    pub fn add_assignment_rule(&mut self, rule: &AssignmentRule) -> Result<()> {
        validate_rule_value(rule.kind, &rule.value)?;
        let tx = self.write_tx()?;
        require_profile(&tx, &rule.profile)?;
        if !add_rule_in(&tx, rule)? {
            return Err(StoreError::RuleExists(rule_text(rule)));
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a rule (audited). Refused when there is no such rule.
    pub fn remove_assignment_rule(&mut self, rule: &AssignmentRule) -> Result<()> {
        let tx = self.write_tx()?;
        if !rule_exists(&tx, rule)? {
            return Err(StoreError::RuleNotFound(rule_text(rule)));
        }
        tx.execute(
            "DELETE FROM assignment_rules WHERE kind = ?1 AND value = ?2 AND profile = ?3",
            params![rule.kind.as_str(), rule.value, rule.profile.as_str()],
        )?;
        audit_rule(&tx, rule, false)?;
        tx.commit()?;
        Ok(())
    }
}

/// `tag dev → git`, for messages.
pub fn rule_text(rule: &AssignmentRule) -> String {
    format!(
        "{} {} → {}",
        rule.kind,
        rule.value
            .chars()
            .take(MAX_RULE_VALUE_BYTES)
            .collect::<String>(),
        rule.profile
    )
}

/// Every assignment rule on `conn` (a transaction's snapshot for the export).
pub(super) fn rules_in(conn: &rusqlite::Connection) -> Result<Vec<AssignmentRule>> {
    let mut stmt = conn.prepare(
        "SELECT kind, value, profile FROM assignment_rules ORDER BY kind, value, profile",
    )?;
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(kind, value, profile)| {
            let kind = RuleKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("rule kind {kind:?}")))?;
            validate_rule_value(kind, &value)
                .map_err(|_| StoreError::Corrupt(format!("rule value {value:?}")))?;
            Ok(AssignmentRule {
                kind,
                value,
                profile: profile_from_db(&profile)?,
            })
        })
        .collect()
}

/// Adds `rule` inside `tx` unless it exists (its profile must exist), audited; refuses
/// more than [`MAX_ASSIGNMENT_RULES`]. Returns whether it was added.
pub(super) fn add_rule_in(tx: &rusqlite::Transaction<'_>, rule: &AssignmentRule) -> Result<bool> {
    validate_rule_value(rule.kind, &rule.value)?;
    require_profile(tx, &rule.profile)?;
    if rule_exists(tx, rule)? {
        return Ok(false);
    }
    let count: i64 = tx.query_row("SELECT count(*) FROM assignment_rules", [], |r| r.get(0))?;
    if count >= MAX_ASSIGNMENT_RULES as i64 {
        return Err(StoreError::TooManyRules(MAX_ASSIGNMENT_RULES));
    }
    tx.execute(
        "INSERT INTO assignment_rules (kind, value, profile, created_at) \
         VALUES (?1, ?2, ?3, ?4)",
        params![rule.kind.as_str(), rule.value, rule.profile.as_str(), now()],
    )?;
    audit_rule(tx, rule, true)?;
    Ok(true)
}

fn rule_exists(tx: &rusqlite::Connection, rule: &AssignmentRule) -> Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM assignment_rules WHERE kind = ?1 AND value = ?2 AND profile = ?3",
            params![rule.kind.as_str(), rule.value, rule.profile.as_str()],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .is_some())
}

fn audit_rule(tx: &rusqlite::Transaction<'_>, rule: &AssignmentRule, added: bool) -> Result<()> {
    audit(
        tx,
        action::ASSIGNMENT_RULE,
        None,
        Some(rule.profile.as_str()),
        None,
        None,
        None,
        None,
        serde_json::json!({
            "kind": rule.kind.as_str(),
            "value": rule.value,
            "added": added,
        }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcs_protocol::literal::pid;

    fn rule(kind: RuleKind, value: &str) -> AssignmentRule {
        AssignmentRule {
            kind,
            value: value.to_owned(),
            profile: pid("git"),
        }
    }

    #[test]
    fn rules_match_tags_templates_and_classes_exactly() {
        let tags = vec!["dev".to_owned(), "work".to_owned()];
        let facts = QubeFacts {
            class: "AppVM",
            template: Some("fedora-40"),
            tags: Some(&tags),
        };
        assert!(rule_matches(&rule(RuleKind::Tag, "dev"), &facts));
        assert!(!rule_matches(&rule(RuleKind::Tag, "De"), &facts));
        assert!(!rule_matches(&rule(RuleKind::Tag, "Dev"), &facts));
        assert!(rule_matches(&rule(RuleKind::Template, "fedora-40"), &facts));
        assert!(!rule_matches(&rule(RuleKind::Template, "fedora"), &facts));
        assert!(rule_matches(&rule(RuleKind::Class, "AppVM"), &facts));
        assert!(!rule_matches(&rule(RuleKind::Class, "DispVM"), &facts));
        // Tags unreadable: no tag rule matches (fail closed), the others still do.
        let unknown = QubeFacts {
            tags: None,
            ..facts
        };
        assert!(!rule_matches(&rule(RuleKind::Tag, "dev"), &unknown));
        assert!(rule_matches(&rule(RuleKind::Class, "AppVM"), &unknown));
        // dom0 is never of a class a rule may name.
        let dom0 = QubeFacts {
            class: "AdminVM",
            template: None,
            tags: Some(&tags),
        };
        assert!(!rule_matches(&rule(RuleKind::Class, "AdminVM"), &dom0));
    }

    #[test]
    fn rule_values_are_validated_per_kind() {
        for (kind, value) in [
            (RuleKind::Tag, "dev"),
            (RuleKind::Tag, "created-by-sys_gui"),
            (RuleKind::Template, "fedora-40-xfce"),
            (RuleKind::Class, "DispVM"),
        ] {
            assert!(validate_rule_value(kind, value).is_ok(), "{kind} {value}");
        }
        for (kind, value) in [
            (RuleKind::Tag, ""),
            (RuleKind::Tag, "a b"),
            (RuleKind::Tag, "x\u{202e}"),
            (RuleKind::Tag, &"a".repeat(65)),
            (RuleKind::Template, "-bad"),
            (RuleKind::Template, "a/b"),
            (RuleKind::Class, "AdminVM"),
            (RuleKind::Class, "appvm"),
        ] {
            let error = validate_rule_value(kind, value).unwrap_err();
            assert!(matches!(error, StoreError::InvalidRule { .. }), "{error}");
        }
    }
}
