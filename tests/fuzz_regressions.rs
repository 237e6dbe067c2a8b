//! Replays every input under `tests/data/fuzz-regressions/<target>/` through the checks of the
//! fuzz target of that name (`fuzz/fuzz_targets/<target>.rs`), on stable Rust and without
//! libFuzzer. A crash found by `fuzz/run.sh` is saved there (named after what it exercises) so
//! that `cargo test` keeps it fixed. The checks are the fuzz targets' own
//! (`tests/fuzz_checks/mod.rs`, which the targets include).

use std::path::Path;

use meshroute::predicate::normalize::MAX_PATH_LEN;

mod fuzz_checks;
use fuzz_checks::{check_literal, check_path, normalize_target, regex_target};

/// The inputs saved for `target`, by file name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz-regressions")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

/// Runs `check` on every input of `target`, naming the file of each failure.
fn replay(target: &str, check: fn(&[u8])) {
    let mut failures = Vec::new();
    for (name, data) in inputs(target) {
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{target}/{name}: {message}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// regex (fuzz/fuzz_targets/regex.rs)
// ---------------------------------------------------------------------------------------------

#[test]
fn regex_regressions() {
    replay("regex", regex_target);
}

/// The literal check on the names of the CVE-2026-39350 class and on every ASCII character.
#[test]
fn regex_escaped_literals() {
    for literal in [
        "cert-manager.io",
        "a.b|c[d]*",
        "x<y>z",
        "\\Q\\E",
        "{1001}",
        "\0\t\r\n\u{7f}",
        "é.ü",
        "",
    ] {
        check_literal(literal);
    }
    let ascii: String = (0u8..128).map(char::from).collect();
    check_literal(&ascii);
    for c in ascii.chars() {
        check_literal(&format!("a{c}b"));
    }
}

// ---------------------------------------------------------------------------------------------
// normalize (fuzz/fuzz_targets/normalize.rs)
// ---------------------------------------------------------------------------------------------

#[test]
fn normalize_regressions() {
    replay("normalize", normalize_target);
}

/// The normalizer's own vectors (path-normalization.yaml and its unit tests) through the same
/// checks, plus paths at the buffer's edge.
#[test]
fn normalize_vectors() {
    for raw in [
        "/info/../private",
        "/info/%2e%2e/private",
        "/a/%2E./b",
        "//admin///x",
        "/%2Fadmin",
        "/a/b%2F..%2Fc",
        "/user/profile#x",
        "/user/profile?q=#x",
        "/p%00",
        "/..",
        "/.",
        "",
        "%2F..%2Fx",
        "relative/../x",
    ] {
        check_path(raw);
    }
    check_path(&format!("/{}", "a".repeat(MAX_PATH_LEN - 1)));
    check_path(&format!("/{}", "a".repeat(MAX_PATH_LEN)));
    check_path(&format!("/{}/..", "a".repeat(MAX_PATH_LEN - 4)));
    check_path(&"/%2F".repeat(MAX_PATH_LEN / 4 + 1));
}
