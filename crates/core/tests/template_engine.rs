//! The template language of `qcs_core::template`: substitutions, conditions, escapes,
//! standalone lines, variable precedence, typed errors with positions, and the bounds
//! (a sweep of random templates never panics and never exceeds the output limit).

use std::collections::{BTreeMap, BTreeSet};

use qcs_core::template::{
    Facts, MAX_NESTING, MAX_OUTPUT_BYTES, ParseError, Position, RenderError, Resolved, Source,
    SyntaxError, Template, Variables, render_file, validate_variable_value,
};
use qcs_test_support::XorShift64Star;

fn facts(name: &str, tags: &[&str]) -> Facts {
    Facts {
        name: name.to_owned(),
        label: "red".to_owned(),
        class: "AppVM".to_owned(),
        template: Some("fedora-42".to_owned()),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn render(text: &str, facts: &Facts, vars: &Variables) -> Result<String, RenderError> {
    Template::parse(text)?.render(facts, vars)
}

fn syntax(text: &str) -> ParseError {
    Template::parse(text).expect_err("a syntax error")
}

fn at(line: u32, column: u32) -> Position {
    Position { line, column }
}

#[test]
fn substitutes_qube_facts_and_variables() {
    let vars = Variables {
        qube: map(&[("email", "me@work.example")]),
        ..Default::default()
    };
    let out = render(
        "[user]\n\temail = {{ var.email }}\n# {{qube.name}} {{ qube.label }} {{qube.class}} \
         {{ qube.template }}\n",
        &facts("work", &[]),
        &vars,
    )
    .unwrap();
    assert_eq!(
        out,
        "[user]\n\temail = me@work.example\n# work red AppVM fedora-42\n"
    );
}

#[test]
fn a_missing_variable_is_an_error_naming_it_never_an_empty_string() {
    let err = render(
        "a\n  x = {{ var.email }}\n",
        &facts("work", &[]),
        &Variables::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        RenderError::MissingVariable {
            name: "var.email".into(),
            at: at(2, 7)
        }
    );
    assert_eq!(err.name(), Some("var.email"));
    // A qube without a template has no qube.template.
    let mut standalone = facts("sa", &[]);
    standalone.template = None;
    let err = render("{{qube.template}}", &standalone, &Variables::default()).unwrap_err();
    assert_eq!(err.name(), Some("qube.template"));
}

#[test]
fn precedence_is_qube_then_tag_then_profile_default() {
    let mut vars = Variables {
        qube: map(&[("a", "qube")]),
        tags: BTreeMap::from([("dev".to_owned(), map(&[("a", "tag"), ("b", "tag")]))]),
        defaults: map(&[("a", "default"), ("b", "default"), ("c", "default")]),
    };
    let f = facts("q", &["dev"]);
    assert_eq!(
        render("{{var.a}} {{var.b}} {{var.c}}", &f, &vars).unwrap(),
        "qube tag default"
    );
    // A tag the qube does not have does not count.
    let other = facts("q", &["other"]);
    assert_eq!(
        render("{{var.b}}", &other, &vars).unwrap(),
        "default",
        "only the qube's own tags count"
    );
    assert_eq!(
        vars.resolve("b", &f.tags),
        Resolved::Found {
            value: "tag",
            source: Source::Tag("dev".into())
        }
    );
    assert_eq!(
        vars.resolve("c", &f.tags),
        Resolved::Found {
            value: "default",
            source: Source::ProfileDefault
        }
    );
    vars.qube.clear();
    assert_eq!(render("{{var.a}}", &f, &vars).unwrap(), "tag");
}

#[test]
fn two_tags_with_different_values_are_ambiguous_equal_values_are_not() {
    let vars = Variables {
        tags: BTreeMap::from([
            ("dev".to_owned(), map(&[("email", "dev@x"), ("same", "1")])),
            (
                "work".to_owned(),
                map(&[("email", "work@x"), ("same", "1")]),
            ),
        ]),
        ..Default::default()
    };
    let f = facts("q", &["dev", "work"]);
    let err = render("x {{ var.email }}", &f, &vars).unwrap_err();
    assert_eq!(
        err,
        RenderError::AmbiguousVariable {
            name: "email".into(),
            tags: vec!["dev".into(), "work".into()],
            at: at(1, 3)
        }
    );
    // In a condition too.
    assert!(matches!(
        render("{{#if var.email}}x{{/if}}", &f, &vars),
        Err(RenderError::AmbiguousVariable { .. })
    ));
    assert_eq!(render("{{var.same}}", &f, &vars).unwrap(), "1");
    // A qube value settles it.
    let mut settled = vars.clone();
    settled.qube.insert("email".into(), "mine@x".into());
    assert_eq!(render("{{var.email}}", &f, &settled).unwrap(), "mine@x");
    // With one of the tags only, no ambiguity.
    assert_eq!(
        render("{{var.email}}", &facts("q", &["work"]), &vars).unwrap(),
        "work@x"
    );
}

#[test]
fn conditions_on_tags_and_variables() {
    let vars = Variables {
        qube: map(&[("signing", "ABC"), ("empty", "")]),
        ..Default::default()
    };
    let t = "{{#if tag:dev}}dev{{else}}not-dev{{/if}}|{{#unless tag:dev}}u{{/unless}}|\
             {{#if var.signing}}key={{var.signing}}{{/if}}|{{#if var.empty}}E{{else}}e{{/if}}|\
             {{#if var.nope}}N{{else}}n{{/if}}";
    assert_eq!(
        render(t, &facts("q", &["dev"]), &vars).unwrap(),
        "dev||key=ABC|e|n"
    );
    assert_eq!(
        render(t, &facts("q", &[]), &vars).unwrap(),
        "not-dev|u|key=ABC|e|n"
    );
    // A missing variable in the branch not taken is no error.
    assert_eq!(
        render(
            "{{#if tag:dev}}{{var.missing}}{{/if}}ok",
            &facts("q", &[]),
            &vars
        )
        .unwrap(),
        "ok"
    );
}

#[test]
fn block_tags_alone_on_a_line_leave_no_blank_lines() {
    let t = "[user]\n{{#if tag:work}}\n\temail = w@x\n{{else}}\n\temail = p@x\n  {{/if}}  \n\
             {{! a comment }}\nend\n";
    assert_eq!(
        render(t, &facts("q", &["work"]), &Variables::default()).unwrap(),
        "[user]\n\temail = w@x\nend\n"
    );
    assert_eq!(
        render(t, &facts("q", &[]), &Variables::default()).unwrap(),
        "[user]\n\temail = p@x\nend\n"
    );
    // CRLF lines too; an inline block keeps its line.
    assert_eq!(
        render(
            "a\r\n{{#if tag:x}}\r\nb\r\n{{/if}}\r\nc {{#if tag:x}}d{{/if}}\r\n",
            &facts("q", &["x"]),
            &Variables::default()
        )
        .unwrap(),
        "a\r\nb\r\nc d\r\n"
    );
    // A value tag alone on its line keeps the line.
    assert_eq!(
        render("{{qube.name}}\nx", &facts("q", &[]), &Variables::default()).unwrap(),
        "q\nx"
    );
}

#[test]
fn escapes_write_literal_braces_and_values_are_never_parsed_again() {
    let vars = Variables {
        qube: map(&[("v", "{{ var.secret }}")]),
        defaults: map(&[("secret", "s3cret")]),
        ..Default::default()
    };
    let f = facts("q", &[]);
    assert_eq!(
        render(r"\{{ var.v }} and }} alone", &f, &vars).unwrap(),
        "{{ var.v }} and }} alone"
    );
    assert_eq!(
        render(r"\\{{ var.v }}", &f, &vars).unwrap(),
        r"\{{ var.secret }}"
    );
    // The value's braces stay literal: no second pass.
    assert_eq!(render("{{var.v}}", &f, &vars).unwrap(), "{{ var.secret }}");
}

#[test]
fn syntax_errors_are_typed_with_line_and_column() {
    let cases: Vec<(&str, SyntaxError, Position)> = vec![
        ("ab\n  {{ var.x", SyntaxError::UnclosedTag, at(2, 3)),
        ("{{ var.x\n}}", SyntaxError::UnclosedTag, at(1, 1)),
        ("x{{}}", SyntaxError::EmptyTag, at(1, 2)),
        ("{{{ x }}}", SyntaxError::TripleBrace, at(1, 1)),
        (
            "{{ env.HOME }}",
            SyntaxError::UnknownValue("env.HOME".into()),
            at(1, 1),
        ),
        (
            "{{#each tags}}{{/each}}",
            SyntaxError::UnknownBlock("each".into()),
            at(1, 1),
        ),
        (
            "{{#if qube.name}}{{/if}}",
            SyntaxError::UnknownCondition("qube.name".into()),
            at(1, 1),
        ),
        (
            "{{ var.a b }}",
            SyntaxError::InvalidVariableName("a b".into()),
            at(1, 1),
        ),
        (
            "{{#if tag:a/b}}{{/if}}",
            SyntaxError::InvalidTagName("a/b".into()),
            at(1, 1),
        ),
        ("x {{else}}", SyntaxError::ElseOutsideBlock, at(1, 3)),
        (
            "{{#if tag:a}}{{else}}{{else}}{{/if}}",
            SyntaxError::SecondElse,
            at(1, 22),
        ),
        (
            "{{/if}}",
            SyntaxError::CloseWithoutOpen("if".into()),
            at(1, 1),
        ),
        (
            "{{#if tag:a}}\n{{/unless}}",
            SyntaxError::MismatchedClose {
                found: "unless".into(),
                open: "if".into(),
                at: at(1, 1),
            },
            at(2, 1),
        ),
        (
            "é\n é{{#unless var.x}}",
            SyntaxError::Unclosed {
                open: "unless".into(),
            },
            at(2, 3),
        ),
    ];
    for (text, kind, position) in cases {
        let err = syntax(text);
        assert_eq!(err.kind, kind, "{text:?}");
        assert_eq!(err.at, position, "{text:?}");
        // The message names the place.
        assert!(err.to_string().starts_with(&format!("{position}")), "{err}");
    }
    let long = format!("{{{{ var.{} }}}}", "a".repeat(300));
    assert_eq!(syntax(&long).kind, SyntaxError::TagTooLong);
    let err = Template::parse_bytes(b"ok\n\xff").unwrap_err();
    assert_eq!((err.kind, err.at), (SyntaxError::NotText, at(2, 1)));
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| "{{#if tag:a}}".repeat(n) + &"{{/if}}".repeat(n);
    assert!(Template::parse(&deep(MAX_NESTING)).is_ok());
    assert_eq!(syntax(&deep(MAX_NESTING + 1)).kind, SyntaxError::TooDeep);
}

#[test]
fn output_is_bounded_by_the_file_limit() {
    let value = "x".repeat(4096);
    validate_variable_value(&value).unwrap();
    let vars = Variables {
        qube: map(&[("big", &value)]),
        ..Default::default()
    };
    // 100 substitutions of 4 KiB: over 256 KiB.
    let text = "{{var.big}}".repeat(100);
    assert_eq!(
        render(&text, &facts("q", &[]), &vars).unwrap_err(),
        RenderError::TooLarge {
            limit: MAX_OUTPUT_BYTES
        }
    );
    let ok = "{{var.big}}".repeat(10);
    assert_eq!(render(&ok, &facts("q", &[]), &vars).unwrap().len(), 40960);
}

#[test]
fn values_are_checked() {
    assert!(validate_variable_value("a\tb\nc").is_ok());
    assert!(validate_variable_value("a\u{1b}[31m").is_err());
    assert!(validate_variable_value("a\rb").is_err());
    assert!(validate_variable_value(&"x".repeat(4097)).is_err());
}

#[test]
fn reports_the_variables_a_template_uses() {
    let t = Template::parse(
        "{{var.email}} {{#if var.signing}}{{var.key}}{{else}}{{#unless tag:x}}{{var.z}}\
         {{/unless}}{{/if}}{{qube.name}}",
    )
    .unwrap();
    let names: BTreeSet<String> = ["email", "signing", "key", "z"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(t.variables(), names);
}

#[test]
fn render_file_refuses_bytes_that_are_not_text() {
    let err = render_file(
        b"\xfe{{qube.name}}",
        &facts("q", &[]),
        &Variables::default(),
    );
    assert!(matches!(err, Err(RenderError::Syntax(_))));
    assert_eq!(
        render_file(b"{{qube.name}}\n", &facts("q", &[]), &Variables::default()).unwrap(),
        b"q\n"
    );
}

/// Random templates built from the language's pieces and from junk: parsing and rendering
/// never panic, errors carry positions inside the text, and output never exceeds the
/// limit given.
#[test]
fn random_templates_never_panic_and_stay_bounded() {
    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "\\",
        "{{ var.a }}",
        "{{var.big}}",
        "{{ var.missing }}",
        "{{qube.name}}",
        "{{ qube.template }}",
        "{{#if tag:dev}}",
        "{{#unless var.a}}",
        "{{#if var.big}}",
        "{{else}}",
        "{{/if}}",
        "{{/unless}}",
        "{{! c }}",
        "\n",
        "\r\n",
        "  ",
        "text",
        "é",
        "{",
        "}",
        "#",
        "{{#",
        "{{/",
        "\\{{",
        "\\\\{{",
        "{{{",
    ];
    let vars = Variables {
        qube: map(&[("a", "A{{var.big}}")]),
        tags: BTreeMap::from([("dev".to_owned(), map(&[("big", &"b".repeat(1000))]))]),
        defaults: BTreeMap::new(),
    };
    let mut rng = XorShift64Star(0x5eed_7e3b_1a7e);
    let mut rendered = 0usize;
    for round in 0..20_000 {
        let len = rng.below(40);
        let text: String = (0..len).map(|_| rng.pick(PIECES)).collect();
        let limit = 1 + rng.below(4096);
        let tags: &[&str] = if round % 2 == 0 { &["dev"] } else { &[] };
        match Template::parse(&text) {
            Err(e) => {
                let lines = text.split('\n').count() as u32;
                assert!(e.at.line >= 1 && e.at.line <= lines, "{text:?}: {e}");
                assert!(e.at.column >= 1, "{text:?}: {e}");
            }
            Ok(t) => match t.render_bounded(&facts("q", tags), &vars, limit) {
                Ok(out) => {
                    rendered += 1;
                    assert!(out.len() <= limit, "{text:?}");
                }
                Err(RenderError::TooLarge { limit: l }) => assert_eq!(l, limit),
                Err(_) => {}
            },
        }
    }
    // The sweep reaches the renderer, not only the parser's errors.
    assert!(rendered > 1000, "only {rendered} rendered");
}
