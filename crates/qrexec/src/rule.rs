//! One policy rule: its columns, its action and parameters, and their validation.

use crate::error::{PolicyError, py_repr, py_repr_seq};
use crate::names::validate_service_and_argument;
use crate::token::{Column, Token};

/// Where a rule came from and what it says, for "denied by …" and for the checker's table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// The file (as the loader names it).
    pub file: String,
    /// 1-based line; `0` for the deny rules `!compat-4.0` adds implicitly.
    pub line: u32,
    /// The rule as written (a 3-column line from an `!include-service` file is shown with its
    /// service and argument in front).
    pub text: String,
}

impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.text)
    }
}

/// The action of a rule with its parameters (defaults already applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Allow {
        target: Option<Token>,
        user: Option<String>,
        notify: bool,
        autostart: bool,
    },
    Deny {
        notify: bool,
    },
    Ask {
        target: Option<Token>,
        default_target: Option<Token>,
        user: Option<String>,
        notify: bool,
        autostart: bool,
    },
}

impl Action {
    /// The `target=` redirect, if any.
    pub fn redirect(&self) -> Option<&Token> {
        match self {
            Action::Allow { target, .. } | Action::Ask { target, .. } => target.as_ref(),
            Action::Deny { .. } => None,
        }
    }

    /// `allow`, `deny` or `ask`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Allow { .. } => "allow",
            Action::Deny { .. } => "deny",
            Action::Ask { .. } => "ask",
        }
    }
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `None` = `*` (any service).
    pub service: Option<String>,
    /// `None` = `*` (any argument); otherwise starts with `+`.
    pub argument: Option<String>,
    pub source: Token,
    pub target: Token,
    pub action: Action,
    pub origin: RuleRef,
}

impl Rule {
    /// Parses a 5-column line (`SERVICE ARG SOURCE TARGET ACTION [PARAMS]`).
    pub(crate) fn from_line(line: &str, file: &str, lineno: u32) -> Result<Rule, PolicyError> {
        let fields = py_split(line);
        if fields.len() < 5 {
            return Err(PolicyError::syntax(file, lineno, "wrong number of fields"));
        }
        Rule::build(
            fields[0],
            fields[1],
            fields[2],
            fields[3],
            fields[4],
            &fields[5..],
            RuleRef {
                file: file.to_owned(),
                line: lineno,
                text: line.to_owned(),
            },
        )
    }

    /// Parses a 3-column line of an `!include-service` file (`SOURCE TARGET ACTION[,PARAMS]`)
    /// for the given service and argument.
    pub(crate) fn from_service_line(
        service: &str,
        argument: &str,
        line: &str,
        file: &str,
        lineno: u32,
    ) -> Result<Rule, PolicyError> {
        let fields = py_split(line);
        if fields.len() < 2 {
            return Err(PolicyError::syntax(file, lineno, "wrong number of fields"));
        }
        let rest: Vec<&str> = fields[2..].iter().flat_map(|p| p.split(',')).collect();
        let Some((action, params)) = rest.split_first() else {
            return Err(PolicyError::syntax(file, lineno, "wrong number of fields"));
        };
        Rule::build(
            service,
            argument,
            fields[0],
            fields[1],
            action,
            params,
            RuleRef {
                file: file.to_owned(),
                line: lineno,
                text: format!("{service} {argument} {line}"),
            },
        )
    }

    fn build(
        service: &str,
        argument: &str,
        source: &str,
        target: &str,
        action: &str,
        params: &[&str],
        origin: RuleRef,
    ) -> Result<Rule, PolicyError> {
        let file = origin.file.clone();
        let line = origin.line;
        let err = |m: String| PolicyError::syntax(&file, line, m);

        let (service, argument) = validate_service_and_argument(service, argument).map_err(err)?;
        let source = Token::parse_in(source, Column::Source).map_err(err)?;
        let target = Token::parse_in(target, Column::Target).map_err(err)?;
        if !matches!(action, "allow" | "deny" | "ask") {
            return Err(err(format!("invalid action: {action}")));
        }

        // key=value pairs, in order, refusing malformed and repeated ones first
        let mut kwds: Vec<(&str, &str)> = Vec::new();
        for param in params {
            let Some((key, value)) = param.split_once('=') else {
                return Err(err(format!(
                    "invalid action parameter syntax: {}",
                    py_repr(param)
                )));
            };
            if kwds.iter().any(|(k, _)| *k == key) {
                return Err(err(format!("parameter given twice: {}", py_repr(key))));
            }
            kwds.push((key, value));
        }
        let get = |key: &str| kwds.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let mut bools = [None, None];
        for (slot, key) in bools.iter_mut().zip(["notify", "autostart"]) {
            if let Some(v) = get(key) {
                *slot = Some(match v {
                    "yes" => true,
                    "no" => false,
                    other => {
                        return Err(err(format!(
                            "{} is {}, but can be only 'yes' or 'no'",
                            py_repr(key),
                            py_repr(other)
                        )));
                    }
                });
            }
        }
        let [notify, autostart] = bools;

        let (class, allowed): (&str, &[&str]) = match action {
            "allow" => ("Allow", &["target", "user", "notify", "autostart"]),
            "deny" => ("Deny", &["notify"]),
            _ => (
                "Ask",
                &["target", "default_target", "user", "notify", "autostart"],
            ),
        };
        if kwds.iter().any(|(k, _)| !allowed.contains(k)) {
            return Err(err(format!(
                "invalid parameters for action {class}: {}",
                py_repr_seq(params.iter().copied(), false)
            )));
        }
        let redirect = |key: &str| -> Result<Option<Token>, PolicyError> {
            get(key)
                .map(|v| Token::parse_in(v, Column::Redirect).map_err(err))
                .transpose()
        };
        let user = get("user").map(str::to_owned);
        let action = match action {
            "allow" => Action::Allow {
                target: redirect("target")?,
                user,
                notify: notify.unwrap_or(false),
                autostart: autostart.unwrap_or(true),
            },
            "deny" => Action::Deny {
                notify: notify.unwrap_or(true),
            },
            _ => {
                let target = redirect("target")?;
                Action::Ask {
                    target,
                    default_target: redirect("default_target")?,
                    user,
                    notify: notify.unwrap_or(false),
                    autostart: autostart.unwrap_or(true),
                }
            }
        };
        if target == Token::Default && matches!(action, Action::Allow { target: None, .. }) {
            return Err(err(
                "allow action for @default rule must specify target= option".to_owned(),
            ));
        }
        Ok(Rule {
            service,
            argument,
            source,
            target,
            action,
            origin,
        })
    }
}

/// Python's `str.isspace()`: Unicode whitespace plus the ASCII separators 0x1c–0x1f.
pub(crate) fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.split()` without arguments.
pub(crate) fn py_split(s: &str) -> Vec<&str> {
    s.split(py_is_space).filter(|p| !p.is_empty()).collect()
}

/// Python's `str.strip()` without arguments.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_is_space)
}
