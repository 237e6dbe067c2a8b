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
//! The checks are in `tests/fuzz_checks/mod.rs`, shared with `tests/fuzz_regressions.rs`,
//! which replays `tests/data/fuzz-regressions/regex/` under `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::regex_target(data);
});
