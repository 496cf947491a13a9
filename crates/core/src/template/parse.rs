//! The template parser: text → tokens (with the escapes and the standalone-line rule
//! applied) → the tree of nodes. Every error carries the line and column of its tag.
//! It must not evaluate anything.

use super::{
    Condition, Node, ParseError, Position, QubeField, SyntaxError, Template, Value,
    validate_tag_name, validate_variable_name,
};

/// Deepest nesting of blocks.
pub const MAX_NESTING: usize = 16;
/// Longest tag between `{{` and `}}`, in bytes.
pub const MAX_TAG_BYTES: usize = 256;

/// What a tag is, before the tree is built.
#[derive(Debug)]
enum TagKind {
    Value(Value),
    Open { negated: bool, condition: Condition },
    Else,
    Close(&'static str),
    Comment,
}

impl TagKind {
    /// Block tags and comments may stand alone on a line (their line is removed).
    fn may_stand_alone(&self) -> bool {
        !matches!(self, TagKind::Value(_))
    }
}

#[derive(Debug)]
enum Token {
    Text(String),
    Tag {
        kind: TagKind,
        /// Byte range of `{{ … }}` in the source.
        start: usize,
        end: usize,
    },
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
pub(super) fn position_of(text: &str, offset: usize) -> Position {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

pub(super) fn parse(text: &str) -> Result<Template, ParseError> {
    let mut tokens = lex(text)?;
    strip_standalone_lines(text, &mut tokens);
    build(text, tokens)
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let err = |offset: usize, kind: SyntaxError| ParseError {
        at: position_of(text, offset),
        kind,
    };
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut rest_start = 0;
    let bytes = text.as_bytes();
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find("{{") {
        let open = search_from + found;
        // Backslashes right before the braces: `\{{` is a literal `{{`, `\\{{` is a
        // backslash and then a tag.
        let escaped = open > rest_start && bytes[open - 1] == b'\\';
        let double = escaped && open > rest_start + 1 && bytes[open - 2] == b'\\';
        if escaped && !double {
            literal.push_str(&text[rest_start..open - 1]);
            literal.push_str("{{");
            rest_start = open + 2;
            search_from = rest_start;
            continue;
        }
        let text_end = if double { open - 1 } else { open };
        literal.push_str(&text[rest_start..text_end]);
        let inner_start = open + 2;
        let line_end = text[inner_start..]
            .find('\n')
            .map_or(text.len(), |i| inner_start + i);
        let Some(close) = text[inner_start..line_end].find("}}") else {
            return Err(err(open, SyntaxError::UnclosedTag));
        };
        let inner_end = inner_start + close;
        let end = inner_end + 2;
        if inner_end - inner_start > MAX_TAG_BYTES {
            return Err(err(open, SyntaxError::TagTooLong));
        }
        let kind = tag_kind(&text[inner_start..inner_end]).map_err(|kind| err(open, kind))?;
        if !literal.is_empty() {
            tokens.push(Token::Text(std::mem::take(&mut literal)));
        }
        tokens.push(Token::Tag {
            kind,
            start: open,
            end,
        });
        rest_start = end;
        search_from = end;
    }
    literal.push_str(&text[rest_start..]);
    if !literal.is_empty() {
        tokens.push(Token::Text(literal));
    }
    Ok(tokens)
}

fn tag_kind(inner: &str) -> Result<TagKind, SyntaxError> {
    if inner.starts_with('{') {
        return Err(SyntaxError::TripleBrace);
    }
    if let Some(_comment) = inner.strip_prefix('!') {
        return Ok(TagKind::Comment);
    }
    let body = inner.trim_matches([' ', '\t']);
    if body.is_empty() {
        return Err(SyntaxError::EmptyTag);
    }
    if let Some(block) = body.strip_prefix('#') {
        let (keyword, argument) = match block.split_once([' ', '\t']) {
            Some((k, a)) => (k, a.trim_matches([' ', '\t'])),
            None => (block, ""),
        };
        let negated = match keyword {
            "if" => false,
            "unless" => true,
            other => return Err(SyntaxError::UnknownBlock(super::shown(other))),
        };
        return Ok(TagKind::Open {
            negated,
            condition: condition(argument)?,
        });
    }
    if let Some(close) = body.strip_prefix('/') {
        return match close.trim_matches([' ', '\t']) {
            "if" => Ok(TagKind::Close("if")),
            "unless" => Ok(TagKind::Close("unless")),
            other => Err(SyntaxError::UnknownBlock(super::shown(other))),
        };
    }
    if body == "else" {
        return Ok(TagKind::Else);
    }
    Ok(TagKind::Value(value(body)?))
}

fn value(body: &str) -> Result<Value, SyntaxError> {
    let field = match body {
        "qube.name" => QubeField::Name,
        "qube.label" => QubeField::Label,
        "qube.class" => QubeField::Class,
        "qube.template" => QubeField::Template,
        other => {
            return match other.strip_prefix("var.") {
                Some(name) => {
                    validate_variable_name(name)?;
                    Ok(Value::Var(name.to_owned()))
                }
                None => Err(SyntaxError::UnknownValue(super::shown(other))),
            };
        }
    };
    Ok(Value::Qube(field))
}

fn condition(argument: &str) -> Result<Condition, SyntaxError> {
    if let Some(tag) = argument.strip_prefix("tag:") {
        validate_tag_name(tag)?;
        return Ok(Condition::Tag(tag.to_owned()));
    }
    if let Some(name) = argument.strip_prefix("var.") {
        validate_variable_name(name)?;
        return Ok(Condition::Var(name.to_owned()));
    }
    Err(SyntaxError::UnknownCondition(super::shown(argument)))
}

/// Whether `s` is only spaces and tabs.
fn blank(s: &str) -> bool {
    s.bytes().all(|b| b == b' ' || b == b'\t')
}

/// Removes the lines of block tags and comments that stand alone on their line: the
/// blanks before the tag on its line and the blanks and line break after it. Decided on
/// the source text, so an escape next to a tag never counts as blank.
fn strip_standalone_lines(text: &str, tokens: &mut [Token]) {
    for i in 0..tokens.len() {
        let (start, end) = match &tokens[i] {
            Token::Tag { kind, start, end } if kind.may_stand_alone() => (*start, *end),
            _ => continue,
        };
        let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
        let line_end = text[end..].find('\n').map_or(text.len(), |p| end + p);
        let after = &text[end..line_end];
        let after = after.strip_suffix('\r').unwrap_or(after);
        if !blank(&text[line_start..start]) || !blank(after) {
            continue;
        }
        // The text before the tag on its line is all in the previous token (a tag there
        // would not be blank), and so is the rest of the line after it.
        if i > 0
            && let Token::Text(before) = &mut tokens[i - 1]
        {
            let keep = before.trim_end_matches([' ', '\t']).len();
            before.truncate(keep);
        }
        if let Some(Token::Text(after)) = tokens.get_mut(i + 1) {
            let skip = after.len() - after.trim_start_matches([' ', '\t']).len();
            let rest = &after[skip..];
            let skip = skip
                + if rest.starts_with("\r\n") {
                    2
                } else if rest.starts_with('\n') {
                    1
                } else {
                    0
                };
            after.drain(..skip);
        }
    }
}

/// An open block while the tree is built.
struct Frame {
    keyword: &'static str,
    negated: bool,
    condition: Condition,
    then: Vec<Node>,
    otherwise: Option<Vec<Node>>,
    at: Position,
}

fn build(text: &str, tokens: Vec<Token>) -> Result<Template, ParseError> {
    let mut root: Vec<Node> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    fn current<'a>(root: &'a mut Vec<Node>, stack: &'a mut [Frame]) -> &'a mut Vec<Node> {
        match stack.last_mut() {
            None => root,
            Some(frame) => match &mut frame.otherwise {
                Some(otherwise) => otherwise,
                None => &mut frame.then,
            },
        }
    }
    for token in tokens {
        match token {
            Token::Text(text) if text.is_empty() => {}
            Token::Text(text) => current(&mut root, &mut stack).push(Node::Text(text)),
            Token::Tag { kind, start, .. } => {
                let at = position_of(text, start);
                let err = |kind| ParseError { at, kind };
                match kind {
                    TagKind::Comment => {}
                    TagKind::Value(value) => {
                        current(&mut root, &mut stack).push(Node::Value { value, at });
                    }
                    TagKind::Open { negated, condition } => {
                        if stack.len() >= MAX_NESTING {
                            return Err(err(SyntaxError::TooDeep));
                        }
                        stack.push(Frame {
                            keyword: if negated { "unless" } else { "if" },
                            negated,
                            condition,
                            then: Vec::new(),
                            otherwise: None,
                            at,
                        });
                    }
                    TagKind::Else => {
                        let frame = stack
                            .last_mut()
                            .ok_or_else(|| err(SyntaxError::ElseOutsideBlock))?;
                        if frame.otherwise.is_some() {
                            return Err(err(SyntaxError::SecondElse));
                        }
                        frame.otherwise = Some(Vec::new());
                    }
                    TagKind::Close(keyword) => {
                        let frame = stack.pop().ok_or_else(|| {
                            err(SyntaxError::CloseWithoutOpen(keyword.to_owned()))
                        })?;
                        if frame.keyword != keyword {
                            return Err(err(SyntaxError::MismatchedClose {
                                found: keyword.to_owned(),
                                open: frame.keyword.to_owned(),
                                at: frame.at,
                            }));
                        }
                        let node = Node::Block {
                            condition: frame.condition,
                            negated: frame.negated,
                            then: frame.then,
                            otherwise: frame.otherwise.unwrap_or_default(),
                            at: frame.at,
                        };
                        current(&mut root, &mut stack).push(node);
                    }
                }
            }
        }
    }
    if let Some(frame) = stack.pop() {
        return Err(ParseError {
            at: frame.at,
            kind: SyntaxError::Unclosed {
                open: frame.keyword.to_owned(),
            },
        });
    }
    Ok(Template { nodes: root })
}
