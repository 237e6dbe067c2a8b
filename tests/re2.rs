//! Differential table: meshroute's regexes against RE2's full-match verdicts.
//!
//! The verdicts in `tests/data/re2-cases.txt` come from the real RE2 (google-re2 on PyPI):
//! re-run `python3 tests/re2-oracle.py` to check them and `--write` to regenerate them.
//! A fourth column `reject: ...` marks a pattern RE2 accepts but meshroute rejects on purpose
//! (RE2 reads it literally where Rust has another meaning, or it cannot be matched on UTF-8).

use meshroute::predicate::FullMatch;

struct Case {
    line: usize,
    re2: String,
    pattern: String,
    input: String,
    deviation: Option<String>,
}

fn cases() -> Vec<Case> {
    let text = include_str!("data/re2-cases.txt");
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 3, "line {}: too few columns", n + 1);
        out.push(Case {
            line: n + 1,
            re2: cols[0].to_string(),
            pattern: serde_json::from_str(cols[1]).expect("pattern is a JSON string"),
            input: serde_json::from_str(cols[2]).expect("input is a JSON string"),
            deviation: cols.get(3).map(|s| s.to_string()),
        });
    }
    out
}

fn meshroute_verdict(pattern: &str, input: &str) -> String {
    match FullMatch::new(pattern) {
        Err(_) => "error".to_string(),
        Ok(r) if r.is_match(input.as_bytes()) => "match".to_string(),
        Ok(_) => "nomatch".to_string(),
    }
}

#[test]
fn agrees_with_re2() {
    let cases = cases();
    assert!(cases.len() > 150, "case table is shorter than expected");
    let mut failures = Vec::new();
    for c in &cases {
        assert!(
            matches!(c.re2.as_str(), "match" | "nomatch" | "error"),
            "line {}: verdict {:?}",
            c.line,
            c.re2
        );
        let got = meshroute_verdict(&c.pattern, &c.input);
        let want = if c.deviation.is_some() {
            assert_ne!(
                c.re2, "error",
                "line {}: a deviation must be RE2-valid",
                c.line
            );
            "error"
        } else {
            c.re2.as_str()
        };
        if got != want {
            failures.push(format!(
                "line {}: {:?} on {:?}: RE2 {}, meshroute {got} (want {want})",
                c.line, c.pattern, c.input, c.re2
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_name_the_construct_and_pattern() {
    let err = |p: &str| FullMatch::new(p).unwrap_err();
    assert_eq!(
        err("[a&&b]"),
        "regex \"[a&&b]\" uses a class set operation (&&), which RE2 reads as literal characters; escape the '&' characters"
    );
    assert!(err("[a[bc]]").contains("nests a class inside a class"));
    assert!(err("\\<a").contains("\\<"));
    assert!(err("\\b{start}a").contains("\\b{...}"));
    assert!(err("a{1001}").contains("more than 1000"));
    assert!(err("(a{100}){11}").contains("product exceeds 1000"));
    assert!(err("a++").contains("repeats a repetition"));
    assert!(err("(?x)a").contains("flag x"));
    assert!(err("\\u0041").contains("\\x{41}"));
    assert!(err("\\p{Emoji}").contains("\\p{Emoji}"));
    assert!(err("\\C").contains("\\C"));
    assert!(err("\\1").contains("backreference"));
    for e in [err("[a&&b]"), err("a++"), err("\\C"), err("\\p{Emoji}")] {
        assert!(e.starts_with("regex \""), "{e}");
    }
}

#[test]
fn every_re2_script_compiles() {
    for name in ["Greek", "Latin", "Han", "Old_Italic", "SignWriting", "Nko"] {
        let p = format!("\\p{{{name}}}");
        assert!(FullMatch::new(&p).is_ok(), "{p}");
    }
}
