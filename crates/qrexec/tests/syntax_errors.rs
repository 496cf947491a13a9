//! Every class of syntax error, each refused with the precise `file:line: message` qrexec's own
//! parser gives (the expected texts were produced by QubesOS/qubes-core-qrexec b2822df's
//! `StringPolicy` on the same input, with its `NAME[in-memory]` labels shown as `NAME`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;
use common::files;
use qrexec::{Policy, PolicyErrorKind};

type Case = (
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

/// (files, expected error or None when the policy is valid)
const CASES: &[Case] = &[
    (
        &[("30-test.policy", "svc * a b")],
        Some("30-test.policy:1: wrong number of fields"),
    ),
    (
        &[("30-test.policy", "svc * a b alow")],
        Some("30-test.policy:1: invalid action: alow"),
    ),
    (
        &[("30-test.policy", "svc * a b allow target")],
        Some("30-test.policy:1: invalid action parameter syntax: 'target'"),
    ),
    (
        &[("30-test.policy", "svc * a b allow user=x user=y")],
        Some("30-test.policy:1: parameter given twice: 'user'"),
    ),
    (
        &[("30-test.policy", "svc * a b allow notify=maybe")],
        Some("30-test.policy:1: 'notify' is 'maybe', but can be only 'yes' or 'no'"),
    ),
    (
        &[("30-test.policy", "svc * a b allow autostart=1")],
        Some("30-test.policy:1: 'autostart' is '1', but can be only 'yes' or 'no'"),
    ),
    (
        &[("30-test.policy", "svc * a b deny notify=yes autostart=no")],
        Some(
            "30-test.policy:1: invalid parameters for action Deny: ['notify=yes', 'autostart=no']",
        ),
    ),
    (
        &[("30-test.policy", "svc * a b deny target=work")],
        Some("30-test.policy:1: invalid parameters for action Deny: ['target=work']"),
    ),
    (
        &[("30-test.policy", "svc * a b allow default_target=work")],
        Some("30-test.policy:1: invalid parameters for action Allow: ['default_target=work']"),
    ),
    (
        &[("30-test.policy", "svc * a b ask foo=bar target=x")],
        Some("30-test.policy:1: invalid parameters for action Ask: ['foo=bar', 'target=x']"),
    ),
    (
        &[("30-test.policy", "svc * a @default allow")],
        Some("30-test.policy:1: allow action for @default rule must specify target= option"),
    ),
    (
        &[("30-test.policy", "svc * a @default allow user=root")],
        Some("30-test.policy:1: allow action for @default rule must specify target= option"),
    ),
    (
        &[("30-test.policy", "svc * a b allow target=")],
        Some("30-test.policy:1: invalid empty redirect token"),
    ),
    (
        &[("30-test.policy", "svc * a b allow target=@tag:x")],
        Some("30-test.policy:1: invalid redirect token: '@tag:x'"),
    ),
    (
        &[("30-test.policy", "svc * a b allow target=@anyvm")],
        Some("30-test.policy:1: invalid redirect token: '@anyvm'"),
    ),
    (
        &[("30-test.policy", "svc * a b allow target=*")],
        Some("30-test.policy:1: invalid redirect token: '*'"),
    ),
    (
        &[("30-test.policy", "svc * a b allow target=@default")],
        Some("30-test.policy:1: invalid redirect token: '@default'"),
    ),
    (
        &[(
            "30-test.policy",
            "svc * a b ask default_target=@dispvm:@tag:x",
        )],
        Some("30-test.policy:1: invalid redirect token: '@dispvm:@tag:x'"),
    ),
    (
        &[("30-test.policy", "svc * @default b allow")],
        Some("30-test.policy:1: invalid source token: '@default'"),
    ),
    (
        &[("30-test.policy", "svc * @dispvm b allow")],
        Some("30-test.policy:1: invalid source token: '@dispvm'"),
    ),
    (
        &[("30-test.policy", "svc * a @tag: allow")],
        Some("30-test.policy:1: invalid empty @tag: token: '@tag:'"),
    ),
    (
        &[("30-test.policy", "svc * a @type: allow")],
        Some("30-test.policy:1: invalid empty @type: token: '@type:'"),
    ),
    (
        &[("30-test.policy", "svc * a @dispvm: allow")],
        Some("30-test.policy:1: invalid empty @dispvm: token: '@dispvm:'"),
    ),
    (
        &[("30-test.policy", "svc * a @dispvm:@tag: allow")],
        Some("30-test.policy:1: invalid empty @dispvm:@tag: token: '@dispvm:@tag:'"),
    ),
    (
        &[("30-test.policy", "svc * a @dispvm:@foo allow")],
        Some("30-test.policy:1: invalid target token: '@dispvm:@foo'"),
    ),
    (
        &[("30-test.policy", "svc * a @foo allow")],
        Some("30-test.policy:1: invalid target token: '@foo'"),
    ),
    (
        &[("30-test.policy", "svc * @foo b allow")],
        Some("30-test.policy:1: invalid source token: '@foo'"),
    ),
    (
        &[("30-test.policy", "svc/x * a b allow")],
        Some("30-test.policy:1: service 'svc/x' contains invalid characters: ('/',)"),
    ),
    (
        &[("30-test.policy", "svc+x * a b allow")],
        Some("30-test.policy:1: service 'svc+x' contains invalid characters: ('+',)"),
    ),
    (
        &[("30-test.policy", "s@v c * a b allow")],
        Some("30-test.policy:1: service 's@v' contains invalid characters: ('@',)"),
    ),
    (
        &[("30-test.policy", "svc a a b allow")],
        Some("30-test.policy:1: argument 'a' does not start with +"),
    ),
    (
        &[("30-test.policy", "svc +a/b a b allow")],
        Some("30-test.policy:1: argument '+a/b' contains invalid characters: ('/',)"),
    ),
    (
        &[("30-test.policy", "svc +a*b a b allow")],
        Some("30-test.policy:1: argument '+a*b' contains invalid characters: ('*',)"),
    ),
    (
        &[("30-test.policy", "* +a a b allow")],
        Some("30-test.policy:1: only * argument allowed for * service"),
    ),
    (
        &[("30-test.policy", "* + a b allow")],
        Some("30-test.policy:1: only * argument allowed for * service"),
    ),
    (
        &[("30-test.policy", "svc * a b allow # comment")],
        Some("30-test.policy:1: invalid action parameter syntax: '#'"),
    ),
    (
        &[("30-test.policy", "!include")],
        Some("30-test.policy:1: invalid number of params"),
    ),
    (
        &[("30-test.policy", "!include a b")],
        Some("30-test.policy:1: invalid number of params"),
    ),
    (
        &[("30-test.policy", "!include nosuch")],
        Some("30-test.policy:1: no such policy file: 'nosuch'"),
    ),
    (
        &[("30-test.policy", "!include-dir")],
        Some("30-test.policy:1: invalid number of params"),
    ),
    (
        &[("30-test.policy", "!include-service svc *")],
        Some("30-test.policy:1: invalid number of params"),
    ),
    (
        &[("30-test.policy", "!include-service svc/x * inc")],
        Some("30-test.policy:1: service 'svc/x' contains invalid characters: ('/',)"),
    ),
    (
        &[("30-test.policy", "!include-service * +a inc")],
        Some("30-test.policy:1: only * argument allowed for * service"),
    ),
    (
        &[("30-test.policy", "!compat-4.0 x")],
        Some("30-test.policy:1: invalid number of params"),
    ),
    (
        &[("30-test.policy", "!bogus")],
        Some("30-test.policy:1: invalid directive"),
    ),
    (
        &[("30-test.policy", "svc * a b allow notify=yes notify=no")],
        Some("30-test.policy:1: parameter given twice: 'notify'"),
    ),
    (
        &[("30-test.policy", "svc * a b allow x")],
        Some("30-test.policy:1: invalid action parameter syntax: 'x'"),
    ),
    (
        &[("30-test.policy", "svc * a b allow =x")],
        Some("30-test.policy:1: invalid parameters for action Allow: ['=x']"),
    ),
    (
        &[(
            "30-test.policy",
            "svc * a b ask target=work default_target=",
        )],
        Some("30-test.policy:1: invalid empty redirect token"),
    ),
    (&[("30-test.policy", "svc * 'a b allow")], None),
    (&[("30-test.policy", "svc * a\"' b allow")], None),
    (
        &[(
            "30-test.policy",
            "svc * a b ask target=@adminvm default_target=@dispvm user=root notify=yes autostart=no",
        )],
        None,
    ),
    (
        &[
            ("30-test.policy", "!include-service svc +a inc"),
            ("inc", "a b"),
        ],
        Some("inc:1: wrong number of fields"),
    ),
    (
        &[
            ("30-test.policy", "!include-service svc +a inc"),
            ("inc", "a"),
        ],
        Some("inc:1: wrong number of fields"),
    ),
    (
        &[
            ("30-test.policy", "!include-service svc +a inc"),
            ("inc", "a b alow"),
        ],
        Some("inc:1: invalid action: alow"),
    ),
    (
        &[
            ("30-test.policy", "!include-service svc +a inc"),
            ("inc", "a b allow,target=@tag:x"),
        ],
        Some("inc:1: invalid redirect token: '@tag:x'"),
    ),
    (
        &[
            ("30-test.policy", "!include-service svc +a inc"),
            ("inc", "!include-dir x"),
        ],
        Some("inc:1: invalid directive"),
    ),
    (
        &[
            ("30-test.policy", "!include-service svc +a inc"),
            ("inc", "!include"),
        ],
        Some("inc:1: invalid number of params"),
    ),
    (
        &[
            ("30-test.policy", "!include-service svc +a inc"),
            ("inc", "$anyvm $default allow"),
        ],
        Some("inc:1: allow action for @default rule must specify target= option"),
    ),
    (
        &[
            ("30-test.policy", "!include-service svc +a inc"),
            ("inc", "$include:inc2"),
            ("inc2", "a b deny notify=x"),
        ],
        Some("inc2:1: 'notify' is 'x', but can be only 'yes' or 'no'"),
    ),
    (
        &[
            ("30-test.policy", "!include-service svc +a inc"),
            ("inc", "a b allow,,target=x"),
        ],
        None,
    ),
    (
        &[
            ("30-test.policy", "!include inc"),
            ("inc", "\n\nsvc * a b bogus"),
        ],
        Some("inc:3: invalid action: bogus"),
    ),
];

#[test]
fn every_syntax_error_class_has_qrexecs_message() {
    let mut failures = Vec::new();
    for (list, expected) in CASES {
        let result = Policy::from_files(&files(list));
        let got = result.as_ref().err().map(ToString::to_string);
        if got.as_deref() != *expected {
            failures.push(format!(
                "{list:?}\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
        if let Err(e) = &result {
            assert_eq!(e.kind, PolicyErrorKind::Syntax, "{e}");
            assert!(e.is_malformed_policy());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_error_in_any_file_refuses_the_whole_policy() {
    let result = Policy::from_files(&files(&[
        ("10-good.policy", "svc * a b allow\n"),
        ("20-good.policy", "svc * a c allow\n"),
        (
            "99-bad.policy",
            "# fine\n\nsvc * a c allow\nsvc * a b allow autostart=maybe\n",
        ),
    ]));
    assert_eq!(
        result.unwrap_err().to_string(),
        "99-bad.policy:4: 'autostart' is 'maybe', but can be only 'yes' or 'no'"
    );
}

#[test]
fn the_line_number_counts_comments_blank_lines_and_directives() {
    let err = Policy::from_files(&files(&[
        (
            "30-a.policy",
            "# c\n\n   \n!include inc\nsvc * a b allow\n\t# indented comment\nsvc * a b nope\n",
        ),
        ("inc", "svc * a b deny\n"),
    ]))
    .unwrap_err();
    assert_eq!(err.to_string(), "30-a.policy:7: invalid action: nope");
    assert_eq!((err.file.as_str(), err.line), ("30-a.policy", 7));
}

#[test]
fn include_dir_errors() {
    assert_eq!(
        Policy::from_files(&files(&[("30-a.policy", "!include-dir include\n")]))
            .unwrap_err()
            .to_string(),
        "30-a.policy:1: not a directory: include"
    );
}

#[test]
fn include_loops_are_refused_not_followed_forever() {
    let err = Policy::from_files(&files(&[
        ("30-a.policy", "!include include/a\n"),
        ("include/a", "!include include/b\n"),
        ("include/b", "!include include/a\n"),
    ]))
    .unwrap_err();
    assert!(err.message.contains("nested deeper than"), "{err}");
    assert_eq!(err.kind, PolicyErrorKind::Io);
}

#[test]
fn cr_alone_is_not_a_line_break_in_memory() {
    // in-memory text is split at \n only (as qrexec's StringIO); a trailing \r is whitespace
    let p = Policy::from_files(&files(&[(
        "30-a.policy",
        "svc * a b allow\r\nsvc * a c deny\r\n",
    )]))
    .unwrap();
    assert_eq!(p.rules().len(), 2);
    let err = Policy::from_files(&files(&[(
        "30-a.policy",
        "svc * a b allow\rsvc * a c deny\n",
    )]))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "30-a.policy:1: invalid action parameter syntax: 'svc'"
    );
}
