//! Hostile policy text never panics the parser or the evaluator: it is refused with an error
//! or parsed, and every parsed policy evaluates every request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;
use common::system;
use qrexec::Policy;

/// xorshift64, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64 as Rng;

/// Pieces of policy syntax, near-syntax and junk (control characters, bidi, NUL, NBSP, CR).
const PIECES: &[&str] = &[
    "qubes.ConfigApply",
    "*",
    "+",
    "+git",
    "@anyvm",
    "@adminvm",
    "@default",
    "@dispvm",
    "@dispvm:",
    "@dispvm:@tag:",
    "@dispvm:@tag:x",
    "@tag:",
    "@tag:qubes-config-sync-managed",
    "@type:AppVM",
    "work",
    "dom0",
    "uuid:",
    "uuid:00000000-0000-0000-0000-000000000000",
    "allow",
    "deny",
    "ask",
    "target=",
    "target=work",
    "target=@dispvm",
    "default_target=@adminvm",
    "user=root",
    "notify=yes",
    "autostart=no",
    "notify=",
    "=",
    "==",
    ",",
    "$",
    "$include:",
    "!include",
    "!include-dir",
    "!include-service",
    "!compat-4.0",
    "!",
    "#",
    " ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\u{a0}",
    "\u{1c}",
    "\u{85}",
    "\u{202e}",
    "\u{200b}",
    "\0",
    "é",
    "🙂",
    "include/inc",
    "include",
    "..",
    "/",
    "/etc/qubes/policy.d/include/inc",
    "'",
    "\"",
    "\\",
];

fn junk(rng: &mut Rng, pieces: usize) -> String {
    (0..pieces)
        .map(|_| {
            let p = PIECES[rng.below(PIECES.len())];
            if rng.below(3) == 0 {
                format!("{p} ")
            } else {
                p.to_owned()
            }
        })
        .collect()
}

#[test]
fn hostile_policies_are_refused_or_parsed_never_a_panic() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let s = system();
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..3000 {
        let n = rng.below(40) + 1;
        let main = junk(&mut rng, n);
        let n = rng.below(20);
        let inc = junk(&mut rng, n);
        let files = vec![
            ("30-fuzz.policy".to_owned(), main),
            ("include/inc".to_owned(), inc),
        ];
        match Policy::from_files(&files) {
            Ok(p) => {
                parsed += 1;
                for (svc, arg, src, tgt) in [
                    ("qubes.ConfigApply", "+git", "config-mgr", "work"),
                    ("qubes.ConfigApply", "", "work", "@default"),
                    ("x", "+", "work", "@dispvm"),
                    ("qubes.ConfigApply", "+", "nosuch", "uuid:"),
                    ("qubes.ConfigApply", "+", "work", "@dispvm:@tag:x"),
                ] {
                    let _ = p.decide(&s, svc, arg, src, tgt);
                }
            }
            Err(e) => {
                refused += 1;
                // every refusal names a file and reads as one line
                assert!(!e.file.is_empty());
                assert!(!e.to_string().contains('\n'), "{e:?}");
            }
        }
    }
    assert!(
        parsed > 50 && refused > 50,
        "parsed {parsed}, refused {refused}"
    );
}

#[test]
fn hostile_requests_never_panic() {
    let p = Policy::from_files(&[(
        "30-a.policy".to_owned(),
        "* * @anyvm @anyvm ask\n* * @anyvm @dispvm:@tag:dvm-tag allow\n* * @anyvm @dispvm:default-dvm allow\n".to_owned(),
    )])
    .unwrap();
    let s = system();
    let mut rng = Rng(7);
    for _ in 0..2000 {
        let parts: Vec<String> = (0..4)
            .map(|_| {
                let n = rng.below(4);
                junk(&mut rng, n)
            })
            .collect();
        let _ = p.decide(&s, &parts[0], &parts[1], &parts[2], &parts[3]);
        let _ = qrexec::sanitize_service_call(parts[0].as_bytes());
    }
}
