//! Rendering a parsed template for one qube: substitutions and conditions, bounded
//! output. It never parses a substituted value again and touches nothing outside its
//! arguments.

use super::{Condition, Facts, Node, QubeField, RenderError, Resolved, Value, Variables};

/// Largest rendered file: what one push may carry per file.
pub const MAX_OUTPUT_BYTES: usize = qcs_protocol::limits::MAX_FILE_BYTES;

struct Renderer<'a> {
    facts: &'a Facts,
    vars: &'a Variables,
    limit: usize,
    out: String,
}

pub(super) fn render(
    nodes: &[Node],
    facts: &Facts,
    vars: &Variables,
    limit: usize,
) -> Result<String, RenderError> {
    let mut renderer = Renderer {
        facts,
        vars,
        limit,
        out: String::new(),
    };
    renderer.nodes(nodes)?;
    Ok(renderer.out)
}

impl Renderer<'_> {
    fn push(&mut self, text: &str) -> Result<(), RenderError> {
        if self.out.len().saturating_add(text.len()) > self.limit {
            return Err(RenderError::TooLarge { limit: self.limit });
        }
        self.out.push_str(text);
        Ok(())
    }

    fn nodes(&mut self, nodes: &[Node]) -> Result<(), RenderError> {
        for node in nodes {
            match node {
                Node::Text(text) => self.push(text)?,
                Node::Value { value, at } => {
                    let text: &str = match value {
                        Value::Qube(field) => match field {
                            QubeField::Name => &self.facts.name,
                            QubeField::Label => &self.facts.label,
                            QubeField::Class => &self.facts.class,
                            QubeField::Template => {
                                self.facts.template.as_deref().ok_or_else(|| {
                                    RenderError::MissingVariable {
                                        name: field.as_str().to_owned(),
                                        at: *at,
                                    }
                                })?
                            }
                        },
                        Value::Var(name) => match self.vars.resolve(name, &self.facts.tags) {
                            Resolved::Found { value, .. } => value,
                            Resolved::Missing => {
                                return Err(RenderError::MissingVariable {
                                    name: format!("var.{name}"),
                                    at: *at,
                                });
                            }
                            Resolved::Ambiguous { tags } => {
                                return Err(RenderError::AmbiguousVariable {
                                    name: name.clone(),
                                    tags,
                                    at: *at,
                                });
                            }
                        },
                    };
                    self.push(text)?;
                }
                Node::Block {
                    condition,
                    negated,
                    then,
                    otherwise,
                    at,
                } => {
                    let holds = match condition {
                        Condition::Tag(tag) => self.facts.tags.contains(tag),
                        Condition::Var(name) => match self.vars.resolve(name, &self.facts.tags) {
                            Resolved::Found { value, .. } => !value.is_empty(),
                            Resolved::Missing => false,
                            Resolved::Ambiguous { tags } => {
                                return Err(RenderError::AmbiguousVariable {
                                    name: name.clone(),
                                    tags,
                                    at: *at,
                                });
                            }
                        },
                    };
                    if holds != *negated {
                        self.nodes(then)?;
                    } else {
                        self.nodes(otherwise)?;
                    }
                }
            }
        }
        Ok(())
    }
}
