//! The path normalizer (`PathNormalization::apply`, what `Table` runs before matching) on
//! arbitrary paths, under every combination of its options (dot segments, merged slashes,
//! escaped slashes kept/rejected/decoded, fragments stripped/rejected).
//!
//! Checked for every input (read as lossy UTF-8) and every combination:
//! - it never panics; `%00` in the path is always refused;
//! - a normalized path is no longer than the path it came from (the part before `?`/`#`) and
//!   than `MAX_PATH_LEN`, and carries no `?` or `#`;
//! - when the path starts with `/`: no `.`/`..` segment is left when dot segments are removed,
//!   no `//` when slashes are merged, and no `%2F`/`%5C` when escaped slashes are decoded;
//! - it is idempotent: normalizing the normalized path gives it back unchanged;
//! - a path `is_clean` calls clean (and short enough) normalizes to itself without its query,
//!   which is what `Table` uses for it without normalizing.
//!
//! The checks live in `tests/fuzz_regressions.rs` too, which replays
//! `tests/data/fuzz-regressions/normalize/` under `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshroute::predicate::normalize::{EscapedSlashes, Fragment, MAX_PATH_LEN, PathNormalization};

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn options() -> Vec<PathNormalization> {
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

fn check(raw: &str) {
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

fuzz_target!(|data: &[u8]| {
    check(&String::from_utf8_lossy(data));
});
