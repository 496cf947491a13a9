//! Templates of profile files (DESIGN §5, per-qube variation): one logic-less template
//! language, parsed once into an AST and rendered per target qube from Admin API facts
//! and user variables.
//!
//! Its one job: turn the text of a file the user marked as a template (trusted, authored
//! in the config qube) plus one qube's [`Facts`] and [`Variables`] into that qube's bytes,
//! or into a typed error with a line and column. It never renders content that came from
//! a qube: a proposal, a snapshot or an agent reply is data, never a template — callers
//! pass only the store's current version of a file marked as a template. The output of a
//! substitution is never parsed again, so a value containing `{{` stays literal text.
//! There are no loops, no includes, no file, environment or clock access, output is
//! bounded ([`MAX_OUTPUT_BYTES`], the protocol's file limit) and blocks nest at most
//! [`MAX_NESTING`] deep.
//!
//! # Syntax (a subset of Mustache/Handlebars)
//!
//! | write | means |
//! |---|---|
//! | `{{ qube.name }}` | the qube's name (also `qube.label`, `qube.class`, `qube.template`) |
//! | `{{ var.NAME }}` | the variable `NAME` (see precedence below); missing = error |
//! | `{{#if tag:dev}}…{{else}}…{{/if}}` | the first part when the qube has tag `dev` |
//! | `{{#if var.NAME}}…{{/if}}` | when `NAME` is set to a non-empty value for the qube |
//! | `{{#unless COND}}…{{else}}…{{/unless}}` | the negation of `#if` |
//! | `{{! a comment }}` | nothing |
//! | `\{{` | a literal `{{` (the backslash is dropped); `\\{{ x }}` is `\` and then `x` |
//!
//! Spaces inside the braces are optional. `}}` outside a tag is plain text. A tag does not
//! span lines. A block tag (`#if`, `#unless`, `else`, `/if`, `/unless`) or a comment
//! alone on its line (only spaces or tabs around it) removes that whole line, as in
//! Mustache, so a conditional section of a config file leaves no blank lines behind.
//! `qube.template` of a qube without one (a template or standalone qube) is a missing
//! value like an unset variable.
//!
//! # Variable precedence
//!
//! Most specific wins: a value set for the qube, else a value set for one of the qube's
//! tags, else the profile's default. When two of the qube's tags set the same variable to
//! different values, the variable is [`RenderError::AmbiguousVariable`] (a plan error
//! naming the tags) rather than an arbitrary pick; tags that agree on the value are fine.
//! A variable that is missing everywhere is [`RenderError::MissingVariable`] when it is
//! substituted (never an empty string); in a condition it is simply false.

mod parse;
mod render;

use std::collections::{BTreeMap, BTreeSet};

pub use parse::{MAX_NESTING, MAX_TAG_BYTES};
pub use render::MAX_OUTPUT_BYTES;

/// Longest variable name, in bytes.
pub const MAX_VARIABLE_NAME_BYTES: usize = 64;
/// Longest variable value, in bytes.
pub const MAX_VARIABLE_VALUE_BYTES: usize = 4096;
/// Longest tag name accepted in a condition or for a tag variable, in bytes.
pub const MAX_TAG_NAME_BYTES: usize = 64;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
}

/// A place in the template text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A fact about the qube, from the Admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QubeField {
    Name,
    Label,
    Class,
    Template,
}

impl QubeField {
    pub fn as_str(self) -> &'static str {
        match self {
            QubeField::Name => "qube.name",
            QubeField::Label => "qube.label",
            QubeField::Class => "qube.class",
            QubeField::Template => "qube.template",
        }
    }
}

/// What a `{{ … }}` substitutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Qube(QubeField),
    Var(String),
}

/// What a block tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The qube has this tag.
    Tag(String),
    /// The variable resolves to a non-empty value.
    Var(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Value {
        value: Value,
        at: Position,
    },
    Block {
        condition: Condition,
        negated: bool,
        then: Vec<Node>,
        otherwise: Vec<Node>,
        at: Position,
    },
}

/// What is wrong with a template's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("the template is not UTF-8 text")]
    NotText,
    #[error("`{{{{` without `}}}}` on the same line (write `\\{{{{` for a literal `{{{{`)")]
    UnclosedTag,
    #[error("an empty tag `{{{{}}}}`")]
    EmptyTag,
    #[error("a tag longer than {MAX_TAG_BYTES} bytes")]
    TagTooLong,
    #[error("triple braces are not supported (write `\\{{{{` for a literal `{{{{`)")]
    TripleBrace,
    #[error(
        "unknown value {0:?}: use qube.name, qube.label, qube.class, qube.template or var.NAME"
    )]
    UnknownValue(String),
    #[error("unknown block {0:?}: use #if or #unless")]
    UnknownBlock(String),
    #[error("unknown condition {0:?}: use tag:NAME or var.NAME")]
    UnknownCondition(String),
    #[error(
        "invalid variable name {0:?}: letters, digits, `_` and `-`, starting with a letter or `_`, at most {MAX_VARIABLE_NAME_BYTES} bytes"
    )]
    InvalidVariableName(String),
    #[error(
        "invalid tag name {0:?}: letters, digits, `_`, `-` and `.`, at most {MAX_TAG_NAME_BYTES} bytes"
    )]
    InvalidTagName(String),
    #[error("{{{{else}}}} outside a block")]
    ElseOutsideBlock,
    #[error("a second {{{{else}}}} in one block")]
    SecondElse,
    #[error("{{{{/{0}}}}} without an open block")]
    CloseWithoutOpen(String),
    #[error("{{{{/{found}}}}} closes {{{{#{open}}}}} (opened at {at})")]
    MismatchedClose {
        found: String,
        open: String,
        at: Position,
    },
    #[error("{{{{#{open}}}}} is never closed")]
    Unclosed { open: String },
    #[error("blocks nested deeper than {MAX_NESTING}")]
    TooDeep,
}

/// Why a template cannot be parsed: what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct ParseError {
    pub at: Position,
    pub kind: SyntaxError,
}

/// Why a template cannot be rendered for one qube.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Syntax(#[from] ParseError),
    #[error("{at}: {name} is not set for this qube")]
    MissingVariable { name: String, at: Position },
    #[error(
        "{at}: var.{name} is set differently by the qube's tags {}: set it for the qube to \
         choose", tags.join(", ")
    )]
    AmbiguousVariable {
        name: String,
        tags: Vec<String>,
        at: Position,
    },
    #[error("the rendered file would exceed {limit} bytes")]
    TooLarge { limit: usize },
}

impl RenderError {
    /// The variable or fact this error names, if any (`var.NAME`, `qube.template`).
    pub fn name(&self) -> Option<&str> {
        match self {
            RenderError::MissingVariable { name, .. } => Some(name),
            RenderError::AmbiguousVariable { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// What the Admin API says about the target qube.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub name: String,
    pub label: String,
    pub class: String,
    /// `None` for a qube without a template (TemplateVM, StandaloneVM, dom0).
    pub template: Option<String>,
    pub tags: BTreeSet<String>,
}

/// The variables a qube sees for one profile, by scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    /// Set for this qube.
    pub qube: BTreeMap<String, String>,
    /// Set per tag (tag → name → value); only the qube's own tags count.
    pub tags: BTreeMap<String, BTreeMap<String, String>>,
    /// The profile's defaults.
    pub defaults: BTreeMap<String, String>,
}

/// Where a variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Qube,
    Tag(String),
    ProfileDefault,
}

/// A variable looked up for one qube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<'a> {
    Found {
        value: &'a str,
        source: Source,
    },
    Missing,
    /// Two or more of the qube's tags set it to different values (the tags, sorted).
    Ambiguous {
        tags: Vec<String>,
    },
}

impl Variables {
    /// Looks `name` up for a qube with `tags`, most specific first (see the module doc).
    pub fn resolve<'a>(&'a self, name: &str, tags: &BTreeSet<String>) -> Resolved<'a> {
        if let Some(value) = self.qube.get(name) {
            return Resolved::Found {
                value,
                source: Source::Qube,
            };
        }
        let mut found: Vec<(&'a str, &'a str)> = Vec::new();
        for (tag, vars) in &self.tags {
            if !tags.contains(tag) {
                continue;
            }
            if let Some(value) = vars.get(name) {
                found.push((tag, value));
            }
        }
        if let Some(&(tag, value)) = found.first() {
            if found.iter().any(|(_, v)| *v != value) {
                return Resolved::Ambiguous {
                    tags: found.iter().map(|(t, _)| (*t).to_owned()).collect(),
                };
            }
            return Resolved::Found {
                value,
                source: Source::Tag(tag.to_owned()),
            };
        }
        match self.defaults.get(name) {
            Some(value) => Resolved::Found {
                value,
                source: Source::ProfileDefault,
            },
            None => Resolved::Missing,
        }
    }
}

/// Checks a variable name: `[A-Za-z_][A-Za-z0-9_-]*`, at most
/// [`MAX_VARIABLE_NAME_BYTES`].
pub fn validate_variable_name(name: &str) -> Result<(), SyntaxError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || name.len() > MAX_VARIABLE_NAME_BYTES
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(SyntaxError::InvalidVariableName(shown(name)));
    }
    Ok(())
}

/// Checks a tag name as qubesd allows them (letters, digits, `_`, `-`), at most
/// [`MAX_TAG_NAME_BYTES`].
pub fn validate_tag_name(name: &str) -> Result<(), SyntaxError> {
    if name.is_empty()
        || name.len() > MAX_TAG_NAME_BYTES
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err(SyntaxError::InvalidTagName(shown(name)));
    }
    Ok(())
}

/// Why a variable's value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("a value of {size} bytes exceeds the limit of {MAX_VARIABLE_VALUE_BYTES}")]
    TooLong { size: usize },
    #[error("a value may not contain control characters other than tab and newline")]
    Control,
}

/// Checks a variable value: at most [`MAX_VARIABLE_VALUE_BYTES`], no control characters
/// but tab and newline (a value is written into files the user reviews as text).
pub fn validate_variable_value(value: &str) -> Result<(), ValueError> {
    if value.len() > MAX_VARIABLE_VALUE_BYTES {
        return Err(ValueError::TooLong { size: value.len() });
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\t' && c != '\n')
    {
        return Err(ValueError::Control);
    }
    Ok(())
}

/// A name from the template text in an error: bounded and printable.
fn shown(text: &str) -> String {
    text.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl Template {
    /// Parses a template's text.
    pub fn parse(text: &str) -> Result<Template, ParseError> {
        parse::parse(text)
    }

    /// Parses a file's bytes: they must be UTF-8 text.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Template, ParseError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Template::parse(text),
            Err(e) => Err(ParseError {
                at: parse::position_of(
                    // The valid prefix, to count lines and columns in.
                    std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
                    e.valid_up_to(),
                ),
                kind: SyntaxError::NotText,
            }),
        }
    }

    /// Renders for one qube; output at most [`MAX_OUTPUT_BYTES`].
    pub fn render(&self, facts: &Facts, vars: &Variables) -> Result<String, RenderError> {
        render::render(&self.nodes, facts, vars, MAX_OUTPUT_BYTES)
    }

    /// Renders with a smaller output limit (tests, previews).
    pub fn render_bounded(
        &self,
        facts: &Facts,
        vars: &Variables,
        limit: usize,
    ) -> Result<String, RenderError> {
        render::render(&self.nodes, facts, vars, limit.min(MAX_OUTPUT_BYTES))
    }

    /// The variable names the template uses (substituted or tested), sorted.
    pub fn variables(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        collect_variables(&self.nodes, &mut out);
        out
    }
}

fn collect_variables(nodes: &[Node], out: &mut BTreeSet<String>) {
    for node in nodes {
        match node {
            Node::Text(_) => {}
            Node::Value { value, .. } => {
                if let Value::Var(name) = value {
                    out.insert(name.clone());
                }
            }
            Node::Block {
                condition,
                then,
                otherwise,
                ..
            } => {
                if let Condition::Var(name) = condition {
                    out.insert(name.clone());
                }
                collect_variables(then, out);
                collect_variables(otherwise, out);
            }
        }
    }
}

/// Parses and renders in one step: `bytes` must be a file the user marked as a template.
pub fn render_file(bytes: &[u8], facts: &Facts, vars: &Variables) -> Result<Vec<u8>, RenderError> {
    let template = Template::parse_bytes(bytes)?;
    Ok(template.render(facts, vars)?.into_bytes())
}
