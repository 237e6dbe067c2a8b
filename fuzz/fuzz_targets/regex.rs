//! The RE2 front end (`FullMatch::new`) on arbitrary patterns, and escaped literals against
//! plain comparison.
//!
//! Input layout: the first byte selects the mode, the rest is the pattern or the literal.
//! - mode even: the rest, as lossy UTF-8, is a pattern. Compiling never panics; a compiled
//!   pattern is no longer than `MAX_PATTERN_LEN` and its automaton fits `MAX_DFA_BYTES`;
//!   matching it on a few inputs (the pattern itself, its halves, the empty string) never panics
//!   and gives the same verdict for a haystack read whole or in two pieces.
//! - mode odd: the rest, as lossy UTF-8, is a literal L (cut to fit the length limit once
//!   escaped). The pattern made by escaping L RE2's way compiles and full-matches exactly L:
//!   not L with one byte changed, appended or removed (CVE-2026-39350 class).
//!
//! The checks live in `tests/fuzz_regressions.rs` too, which replays
//! `tests/data/fuzz-regressions/regex/` under `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshroute::predicate::FullMatch;
use meshroute::predicate::regex::{MAX_DFA_BYTES, MAX_PATTERN_LEN};

/// RE2's escaping (`RE2::QuoteMeta`): a backslash before every ASCII character that is not a
/// letter, a digit or `_`, except `<` and `>`, left bare: the front end reads `\<` and `\>` as
/// the word boundaries Rust gives them and rejects them (RELIABILITY.md §3.2), while bare `<`
/// and `>` are literals in both dialects. NUL becomes `\x00`; non-ASCII stays as it is.
fn escape(literal: &str) -> String {
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

fn check_pattern(pattern: &str) {
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

fn check_literal(literal: &str) {
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

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        check_pattern(&text);
    } else {
        check_literal(&text);
    }
});
