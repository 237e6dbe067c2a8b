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
//! The checks are in `tests/fuzz_checks/mod.rs`, shared with `tests/fuzz_regressions.rs`,
//! which replays `tests/data/fuzz-regressions/normalize/` under `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::normalize_target(data);
});
