//! The checks of the `regex` and `normalize` fuzz targets, shared by the targets themselves
//! (`fuzz/fuzz_targets/{regex,normalize}.rs` include this file) and by
//! `tests/fuzz_regressions.rs`, which replays saved inputs through them under `cargo test`.

#![allow(dead_code)]

use meshroute::predicate::FullMatch;
use meshroute::predicate::normalize::{EscapedSlashes, Fragment, MAX_PATH_LEN, PathNormalization};
use meshroute::predicate::regex::{MAX_DFA_BYTES, MAX_PATTERN_LEN};

// ---------------------------------------------------------------------------------------------
// regex
// ---------------------------------------------------------------------------------------------

/// RE2's escaping (`RE2::QuoteMeta`): a backslash before every ASCII character that is not a
/// letter, a digit or `_`, except `<` and `>`, left bare: the front end reads `\<` and `\>` as
/// the word boundaries Rust gives them and rejects them (RELIABILITY.md §3.2), while bare `<`
/// and `>` are literals in both dialects. NUL becomes `\x00`; non-ASCII stays as it is.
pub fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() * 2);
    for c in literal.chars() {
        match c {
            '\0' => out.push_str("\\x00"),
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '<' | '>' => out.push(c),
            c if c.is_ascii() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

pub fn check_pattern(pattern: &str) {
    let Ok(re) = FullMatch::new(pattern) else {
        return;
    };
    assert!(
        pattern.len() <= MAX_PATTERN_LEN,
        "accepted {} bytes",
        pattern.len()
    );
    assert!(
        re.memory_usage() <= MAX_DFA_BYTES,
        "automaton of {} bytes",
        re.memory_usage()
    );
    let b = pattern.as_bytes();
    let mid = b.len() / 2;
    for hay in [b, &b[..mid], &b[mid..], b""] {
        let whole = re.is_match(hay);
        let k = hay.len() / 3;
        assert_eq!(whole, re.is_match_pieces([&hay[..k], &hay[k..]]));
    }
}

pub fn check_literal(literal: &str) {
    // Cut L (at a character boundary) so that its escaped form fits the length limit.
    let mut lit = literal;
    while escape(lit).len() > MAX_PATTERN_LEN {
        let mut cut = lit.len() / 2;
        while !lit.is_char_boundary(cut) {
            cut -= 1;
        }
        lit = &lit[..cut];
    }
    let pattern = escape(lit);
    let re = FullMatch::new(&pattern)
        .unwrap_or_else(|e| panic!("escaped literal {lit:?} as {pattern:?} rejected: {e}"));
    let l = lit.as_bytes();
    assert!(re.is_match(l), "{pattern:?} does not match {lit:?}");
    let mut changed = l.to_vec();
    for i in 0..l.len().min(64) {
        for delta in [1u8, 0x20, 0x80] {
            changed[i] = l[i].wrapping_add(delta);
            assert!(!re.is_match(&changed), "{pattern:?} matches {changed:?}");
        }
        changed[i] = l[i];
    }
    for extra in [0u8, b'a', b'\n', 0xff, l.first().copied().unwrap_or(b'x')] {
        let mut longer = l.to_vec();
        longer.push(extra);
        assert!(!re.is_match(&longer), "{pattern:?} matches {longer:?}");
    }
    if !l.is_empty() {
        assert!(
            !re.is_match(&l[..l.len() - 1]),
            "{pattern:?} matches a prefix"
        );
        assert!(!re.is_match(&l[1..]), "{pattern:?} matches a suffix");
    }
}

/// The `regex` fuzz target: the first byte selects pattern (even) or literal (odd).
pub fn regex_target(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        check_pattern(&text);
    } else {
        check_literal(&text);
    }
}

// ---------------------------------------------------------------------------------------------
// normalize
// ---------------------------------------------------------------------------------------------

pub fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

pub fn options() -> Vec<PathNormalization> {
    let mut all = Vec::new();
    for dot_segments in [false, true] {
        for merge_slashes in [false, true] {
            for escaped_slashes in [
                EscapedSlashes::Keep,
                EscapedSlashes::Reject,
                EscapedSlashes::Unescape,
            ] {
                for fragment in [Fragment::Strip, Fragment::Reject] {
                    let mut n = PathNormalization::none();
                    n.dot_segments = dot_segments;
                    n.merge_slashes = merge_slashes;
                    n.escaped_slashes = escaped_slashes;
                    n.fragment = fragment;
                    all.push(n);
                }
            }
        }
    }
    all
}

pub fn check_path(raw: &str) {
    let path = &raw[..raw.find(['?', '#']).unwrap_or(raw.len())];
    let mut buf = [0u8; MAX_PATH_LEN];
    let mut again = [0u8; MAX_PATH_LEN];
    for n in options() {
        let result = n.apply(raw, &mut buf);
        if contains_ci(path, "%00") {
            assert!(result.is_err(), "{n:?}: {raw:?} has %00");
        }
        let Ok(out) = result else {
            continue;
        };
        assert!(
            out.len() <= path.len().max(1),
            "{n:?}: {raw:?} grew to {out:?}"
        );
        assert!(out.len() <= MAX_PATH_LEN);
        assert!(!out.contains(['?', '#']), "{n:?}: {raw:?} gave {out:?}");
        if out.starts_with('/') {
            if n.dot_segments {
                assert!(
                    !out.split('/').any(|s| {
                        let s = s.replace("%2e", ".").replace("%2E", ".");
                        s == "." || s == ".."
                    }),
                    "{n:?}: {raw:?} left a dot segment in {out:?}"
                );
            }
            if n.merge_slashes {
                assert!(!out.contains("//"), "{n:?}: {raw:?} left // in {out:?}");
            }
        }
        if n.escaped_slashes == EscapedSlashes::Unescape {
            assert!(
                !contains_ci(out, "%2f") && !contains_ci(out, "%5c"),
                "{n:?}: {raw:?} left an escaped slash in {out:?}"
            );
        }
        assert_eq!(
            n.apply(out, &mut again),
            Ok(out),
            "{n:?}: not idempotent on {raw:?}"
        );
        if n.is_clean(raw) && path.len() <= MAX_PATH_LEN {
            assert_eq!(out, path, "{n:?}: {raw:?} is clean but normalizes");
        }
    }
}

/// The `normalize` fuzz target.
pub fn normalize_target(data: &[u8]) {
    check_path(&String::from_utf8_lossy(data));
}
