//! Diff engine: hunks, stable ids, applying subsets, three-way view, hostile inputs.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

use qcs_core::diff::{self, DiffError, HunkId, Region};

fn all_subsets_roundtrip(old: &[u8], new: &[u8]) {
    let d = diff::diff(old, new);
    let ids = d.hunk_ids();
    assert_eq!(diff::apply_hunks(old, new, &d, &ids).unwrap(), new);
    assert_eq!(diff::apply_hunks(old, new, &d, &[]).unwrap(), old);
}

#[test]
fn identical_inputs_have_no_hunks() {
    let d = diff::diff(b"a\nb\n", b"a\nb\n");
    assert!(d.is_unchanged());
    assert!(d.minimal);
}

#[test]
fn all_hunks_give_new_and_none_give_old() {
    let old = b"one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";
    let new = b"one\n2\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n";
    let d = diff::diff(old, new);
    assert_eq!(d.hunks.len(), 2);
    all_subsets_roundtrip(old, new);
}

#[test]
fn subsets_apply_only_the_chosen_hunks() {
    let old = b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
    let new = b"A\nb\nc\nd\ne\nF\ng\nh\ni\nj\nK\n";
    let d = diff::diff(old, new);
    assert_eq!(d.hunks.len(), 3);
    let first = vec![d.hunks[0].id.clone()];
    assert_eq!(
        diff::apply_hunks(old, new, &d, &first).unwrap(),
        b"A\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
    );
    let outer = vec![d.hunks[0].id.clone(), d.hunks[2].id.clone()];
    assert_eq!(
        diff::apply_hunks(old, new, &d, &outer).unwrap(),
        b"A\nb\nc\nd\ne\nf\ng\nh\ni\nj\nK\n"
    );
}

#[test]
fn hunk_ids_are_stable_and_distinct() {
    let old = b"x\ny\nz\n1\n2\n3\n4\n5\n6\n7\n";
    let new = b"X\ny\nz\n1\n2\n3\n4\n5\n6\n8\n";
    let a = diff::diff(old, new);
    let b = diff::diff(old, new);
    assert_eq!(a.hunk_ids(), b.hunk_ids());
    assert_ne!(a.hunks[0].id, a.hunks[1].id);
    // A different change at the same place gets a different id.
    let c = diff::diff(old, b"Y\ny\nz\n1\n2\n3\n4\n5\n6\n8\n");
    assert_ne!(a.hunks[0].id, c.hunks[0].id);
}

#[test]
fn crlf_change_is_a_hunk_and_roundtrips() {
    let old = b"a\r\nb\r\nc\r\n";
    let new = b"a\r\nb\nc\r\n";
    let d = diff::diff(old, new);
    assert_eq!(d.hunks.len(), 1);
    assert!(d.hunks[0].is_whitespace_only());
    all_subsets_roundtrip(old, new);
}

#[test]
fn missing_final_newline_is_a_change() {
    let old = b"a\nb\n";
    let new = b"a\nb";
    let d = diff::diff(old, new);
    assert_eq!(d.hunks.len(), 1);
    assert_eq!(d.hunks[0].added[0].bytes, b"b");
    all_subsets_roundtrip(old, new);
    all_subsets_roundtrip(new, old);
    all_subsets_roundtrip(b"", b"x");
    all_subsets_roundtrip(b"x", b"");
}

#[test]
fn whitespace_changes_are_not_hidden() {
    let d = diff::diff(b"key = value\n", b"key = value \n");
    assert_eq!(d.hunks.len(), 1);
    assert!(d.hunks[0].is_whitespace_only());
    let d = diff::diff(b"a\tb\n", b"a b\n");
    assert_eq!(d.hunks.len(), 1);
}

#[test]
fn word_level_changes_mark_only_the_changed_word() {
    let d = diff::diff(b"\tname = Alice Smith\n", b"\tname = Alice Smyth\n");
    let h = &d.hunks[0];
    let removed = &h.removed[0];
    let added = &h.added[0];
    assert_eq!(removed.changed.len(), 1);
    let span = removed.changed[0];
    assert_eq!(&removed.bytes[span.start..span.end], b"Smith");
    let span = added.changed[0];
    assert_eq!(&added.bytes[span.start..span.end], b"Smyth");
}

#[test]
fn invalid_utf8_is_kept_byte_for_byte() {
    let old = b"ok\n\xff\xfe bad\n\xc0\xaf\n";
    let new = b"ok\n\xff\xfd bad\n\xc0\xaf\x00\n";
    let d = diff::diff(old, new);
    assert!(!d.is_unchanged());
    all_subsets_roundtrip(old, new);
}

#[test]
fn context_is_bounded_and_does_not_cross_hunks() {
    let old: Vec<u8> = (0..40)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let mut new = old.clone();
    new.extend_from_slice(b"added\n");
    let d = diff::diff(&old, &new);
    assert_eq!(d.hunks.len(), 1);
    assert_eq!(d.hunks[0].context_before.len(), diff::CONTEXT_LINES);
    assert!(d.hunks[0].context_after.is_empty());
    assert_eq!(d.hunks[0].context_before[2].number, 40);
}

#[test]
fn context_of_neighbouring_hunks_does_not_repeat_lines() {
    let old: Vec<u8> = (0..12)
        .flat_map(|i| format!("l{i}\n").into_bytes())
        .collect();
    let new = String::from_utf8(old.clone())
        .unwrap()
        .replace("l2\n", "L2\n")
        .replace("l7\n", "L7\n");
    let d = diff::diff(&old, new.as_bytes());
    assert_eq!(d.hunks.len(), 2);
    let numbers = |h: &diff::Hunk| -> Vec<usize> {
        h.context_before
            .iter()
            .chain(&h.removed)
            .chain(&h.context_after)
            .map(|l| l.number)
            .collect()
    };
    let mut all = numbers(&d.hunks[0]);
    all.extend(numbers(&d.hunks[1]));
    let mut dedup = all.clone();
    dedup.dedup();
    assert_eq!(all, dedup, "a line is shown twice");
    assert_eq!(all, (1..=11).collect::<Vec<_>>());
}

#[test]
fn foreign_diff_or_unknown_hunk_is_refused() {
    let d = diff::diff(b"a\nb\n", b"a\nc\n");
    let other = diff::diff(b"a\nx\n", b"a\ny\n");
    assert!(matches!(
        diff::apply_hunks(b"a\nb\n", b"a\nc\n", &d, &[HunkId("nope".into())]),
        Err(DiffError::UnknownHunk(_))
    ));
    assert!(matches!(
        diff::apply_hunks(b"a\nb\n", b"a\nc\n", &other, &[]),
        Err(DiffError::Mismatch { .. })
    ));
    assert!(matches!(
        diff::apply_hunks(b"a\n", b"a\nc\n", &d, &[]),
        Err(DiffError::Mismatch { .. })
    ));
}

/// xorshift64, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64 as Rng;

#[test]
fn random_edits_roundtrip_every_subset_pattern() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let alphabet: &[&[u8]] = &[
        b"a\n",
        b"b\n",
        b"\n",
        b"c\r\n",
        b"\xff\n",
        b"x",
        b"[core]\n",
        b"\t k = v\n",
    ];
    for _ in 0..300 {
        let mk = |rng: &mut Rng| -> Vec<u8> {
            let n = rng.below_u64(12);
            let mut v = Vec::new();
            for _ in 0..n {
                v.extend_from_slice(alphabet[rng.below_u64(alphabet.len() as u64) as usize]);
            }
            v
        };
        let old = mk(&mut rng);
        let new = mk(&mut rng);
        let d = diff::diff(&old, &new);
        let ids = d.hunk_ids();
        assert_eq!(diff::apply_hunks(&old, &new, &d, &ids).unwrap(), new);
        assert_eq!(diff::apply_hunks(&old, &new, &d, &[]).unwrap(), old);
        // Any subset gives a result made only of old and new lines, and
        // accepting the complement afterwards converges to new.
        let subset: Vec<HunkId> = ids
            .iter()
            .filter(|_| rng.below_u64(2) == 0)
            .cloned()
            .collect();
        let mid = diff::apply_hunks(&old, &new, &d, &subset).unwrap();
        let d2 = diff::diff(&mid, &new);
        assert_eq!(
            diff::apply_hunks(&mid, &new, &d2, &d2.hunk_ids()).unwrap(),
            new
        );
    }
}

#[test]
fn hostile_alternating_input_completes() {
    let mut old = Vec::new();
    let mut new = Vec::new();
    for i in 0..20_000 {
        let line = format!("key{i} = {}\u{202e}\u{200b}\n", "v".repeat(i % 300));
        old.extend_from_slice(line.as_bytes());
        if i % 2 == 0 {
            new.extend_from_slice(format!("changed {i}\n").as_bytes());
        } else {
            new.extend_from_slice(line.as_bytes());
        }
    }
    let d = diff::diff(&old, &new);
    assert_eq!(
        diff::apply_hunks(&old, &new, &d, &d.hunk_ids()).unwrap(),
        new
    );
}

#[test]
fn huge_single_line_falls_back_to_whole_line_change() {
    let old = vec![b'a'; 100_000];
    let mut new = old.clone();
    new[50_000] = b'b';
    let d = diff::diff(&old, &new);
    assert_eq!(d.hunks.len(), 1);
    // No word-level detail for a line this long: the whole line is the change.
    assert!(d.hunks[0].added[0].changed.is_empty());
    assert!(d.hunks[0].removed[0].changed.is_empty());
}

#[test]
fn three_way_classifies_regions() {
    let base = b"a\nb\nc\nd\ne\n";
    let ours = b"A\nb\nc\nd\ne\n"; // store changed line 1
    let theirs = b"a\nb\nc\nd\nE\n"; // qube changed line 5
    let tw = diff::three_way(base, ours, theirs);
    assert!(!tw.has_conflicts());
    assert_eq!(tw.merged().unwrap(), b"A\nb\nc\nd\nE\n");
    assert!(tw.regions.iter().any(|r| matches!(r, Region::Ours { .. })));
    assert!(
        tw.regions
            .iter()
            .any(|r| matches!(r, Region::Theirs { .. }))
    );

    let tw = diff::three_way(b"a\nb\nc\n", b"a\nX\nc\n", b"a\nY\nc\n");
    assert!(tw.has_conflicts());
    assert!(tw.merged().is_none());
    let conflict = tw
        .regions
        .iter()
        .find(|r| matches!(r, Region::Conflict { .. }))
        .unwrap();
    assert_eq!(
        conflict,
        &Region::Conflict {
            base: vec![b"b\n".to_vec()],
            ours: vec![b"X\n".to_vec()],
            theirs: vec![b"Y\n".to_vec()],
        }
    );

    let tw = diff::three_way(b"a\n", b"a\nz\n", b"a\nz\n");
    assert!(matches!(tw.regions[1], Region::Both { .. }));
    assert_eq!(tw.merged().unwrap(), b"a\nz\n");
}

#[test]
fn three_way_random_inputs_keep_each_side() {
    let mut rng = Rng(0xdead_beef_0042);
    let alphabet: &[&[u8]] = &[b"a\n", b"b\n", b"c\n", b"\n", b"d"];
    for _ in 0..300 {
        let mk = |rng: &mut Rng| -> Vec<u8> {
            let n = rng.below_u64(8);
            let mut v = Vec::new();
            for _ in 0..n {
                v.extend_from_slice(alphabet[rng.below_u64(alphabet.len() as u64) as usize]);
            }
            v
        };
        let (base, ours, theirs) = (mk(&mut rng), mk(&mut rng), mk(&mut rng));
        let tw = diff::three_way(&base, &ours, &theirs);
        // Reassembling each side from the regions gives that side back.
        let mut rb = Vec::new();
        let mut ro = Vec::new();
        let mut rt = Vec::new();
        for r in &tw.regions {
            let (b, o, t) = match r {
                Region::Unchanged(l) => (l, l, l),
                Region::Ours { base, ours } => (base, ours, base),
                Region::Theirs { base, theirs } => (base, base, theirs),
                Region::Both { base, result } => (base, result, result),
                Region::Conflict { base, ours, theirs } => (base, ours, theirs),
            };
            b.iter().for_each(|l| rb.extend_from_slice(l));
            o.iter().for_each(|l| ro.extend_from_slice(l));
            t.iter().for_each(|l| rt.extend_from_slice(l));
        }
        assert_eq!((rb, ro, rt), (base, ours, theirs));
    }
}
