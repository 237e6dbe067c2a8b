//! The regexes of one compile: each distinct pattern is compiled once and shared by every
//! condition that writes it, and all of them together are held to one budget of automaton
//! bytes, [`MAX_TABLE_REGEX_BYTES`], so that a few kilobytes of configuration cannot stall a
//! compile (issue 13).

use std::collections::HashMap;

use regex_automata::nfa::thompson;

use regex_syntax::hir::Hir;

use crate::predicate::FullMatch;
use crate::predicate::regex::{MAX_NFA_BYTES, MAX_TABLE_REGEX_BYTES, prepare, prepare_hir};

/// Patterns compiled so far (or refused, with the error) and the bytes of automaton built.
#[derive(Debug, Default)]
pub(crate) struct Regexes {
    /// Patterns read through the RE2 front end when validation checked them: the syntax tree
    /// until the pattern is built, while the trees kept stay within [`MAX_KEPT_TREE_BYTES`]
    /// (else `Ok(None)`: the build reads the pattern again), or why it is not a pattern.
    checked: HashMap<Box<str>, Result<Option<Hir>, String>>,
    /// Estimated bytes of the trees `checked` holds.
    kept: usize,
    built: HashMap<Box<str>, Result<FullMatch, String>>,
    /// The automata built, shared by the patterns that match alike after their literal
    /// prefix.
    tails: crate::predicate::regex::Tails,
    /// `uriRegexRewrite` patterns, compiled by the `regex` crate for their capture groups.
    rewrites: HashMap<Box<str>, Result<regex::Regex, String>>,
    used: usize,
}

impl Regexes {
    /// Whether `pattern` was compiled (or refused) already, as a match or as a rewrite.
    pub(crate) fn contains(&self, pattern: &str, rewrite: bool) -> bool {
        if rewrite {
            self.rewrites.contains_key(pattern)
        } else {
            self.built.contains_key(pattern)
        }
    }

    /// Checks `pattern`'s length and syntax in the RE2 dialect, as validation does before
    /// compiling; each distinct pattern is read once, and its build starts from the tree this
    /// read (within [`MAX_KEPT_TREE_BYTES`] of trees kept).
    pub(crate) fn check(&mut self, pattern: &str) -> Result<(), String> {
        if let Some(r) = self.checked.get(pattern) {
            return r.as_ref().map(|_| ()).map_err(String::clone);
        }
        let read = prepare_hir(pattern);
        let result = read.as_ref().map(|_| ()).map_err(String::clone);
        let kept = read.map(|hir| {
            let bytes = tree_bytes(&hir);
            (self.kept + bytes <= MAX_KEPT_TREE_BYTES).then(|| {
                self.kept += bytes;
                hir
            })
        });
        self.checked.insert(pattern.into(), kept);
        result
    }

    /// `pattern` compiled, shared with every earlier use of the same pattern; or why not.
    ///
    /// Every build is charged to the budget, a refused one with the bytes built before it
    /// stopped, so the budget bounds the work of a compile and not only what its table keeps.
    pub(crate) fn get(&mut self, pattern: &str) -> Result<FullMatch, String> {
        if let Some(r) = self.built.get(pattern) {
            return r.clone();
        }
        let left = MAX_TABLE_REGEX_BYTES - self.used;
        let result = if left == 0 {
            Err(self.exhausted(pattern, left))
        } else {
            let hir = match self.checked.get_mut(pattern) {
                Some(Ok(kept)) => match kept.take() {
                    Some(hir) => {
                        self.kept -= tree_bytes(&hir);
                        Ok(hir)
                    }
                    None => prepare_hir(pattern),
                },
                Some(Err(e)) => Err(e.clone()),
                None => prepare_hir(pattern),
            };
            let built = hir
                .map_err(crate::predicate::regex::Refused::Invalid)
                .and_then(|hir| FullMatch::within_hir_shared(pattern, &hir, left, &mut self.tails));
            match built {
                Ok((r, cost)) => {
                    self.charge(cost);
                    Ok(r)
                }
                Err(refused) => {
                    self.charge(refused.cost());
                    if refused.by_budget() {
                        Err(self.exhausted(pattern, left))
                    } else {
                        Err(refused.message(pattern))
                    }
                }
            }
        };
        self.built.insert(pattern.into(), result.clone());
        result
    }

    /// `pattern` compiled for a `uriRegexRewrite` (the `regex` crate, whose DFAs are lazy and
    /// built only when a rewrite runs, outside decisions), shared like [`Regexes::get`]; or
    /// why not. The pattern is read in RE2's dialect through the same front end as every
    /// match ([`prepare`]: Envoy runs `regex_rewrite` with RE2), and its NFA is held to
    /// [`MAX_NFA_BYTES`] and charged to the same budget (twice: the crate builds it forward
    /// and reverse).
    pub(crate) fn rewrite(&mut self, pattern: &str) -> Result<regex::Regex, String> {
        if let Some(r) = self.rewrites.get(pattern) {
            return r.clone();
        }
        let result = match prepare(pattern) {
            Ok(rust) => self.build_rewrite(pattern, &rust),
            Err(e) => Err(e),
        };
        self.rewrites.insert(pattern.into(), result.clone());
        result
    }

    /// Builds `rust` (the Rust-syntax translation of `pattern`) within the budget.
    fn build_rewrite(&mut self, pattern: &str, rust: &str) -> Result<regex::Regex, String> {
        let left = MAX_TABLE_REGEX_BYTES - self.used;
        let limit = MAX_NFA_BYTES.min(left / 2);
        let measured = thompson::Compiler::new()
            .configure(thompson::Config::new().nfa_size_limit(Some(limit)))
            .build(rust);
        match measured {
            Err(e) if e.size_limit().is_some() => {
                self.charge(2 * limit);
                Err(if limit < MAX_NFA_BYTES {
                    self.exhausted(pattern, left)
                } else {
                    format!(
                        "regex {pattern:?} cannot be compiled within the limit of {MAX_NFA_BYTES} bytes per pattern (limits::MAX_NFA_BYTES)"
                    )
                })
            }
            measured => {
                self.charge(2 * measured.map_or(0, |nfa| nfa.memory_usage()));
                regex::RegexBuilder::new(rust)
                    .size_limit(MAX_NFA_BYTES)
                    .build()
                    .map_err(|e| format!("regex {pattern:?}: {e}"))
            }
        }
    }

    fn charge(&mut self, cost: usize) {
        self.used = self.used.saturating_add(cost).min(MAX_TABLE_REGEX_BYTES);
    }

    fn exhausted(&self, pattern: &str, left: usize) -> String {
        let earlier = MAX_TABLE_REGEX_BYTES - left;
        format!(
            "regex {pattern:?} needs more than the {left} bytes of automaton left in the table's regex budget: earlier regexes used {earlier} of its {MAX_TABLE_REGEX_BYTES} bytes (limits::MAX_TABLE_REGEX_BYTES)"
        )
    }

    /// Bytes of automaton built so far.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used
    }
}

/// Most bytes of syntax trees kept between validation and build (a tree can be thousands of
/// times its pattern: `\pL` is a class of hundreds of ranges).
const MAX_KEPT_TREE_BYTES: usize = 8 << 20;

/// An estimate of the heap bytes of `hir`: its nodes, literal bytes and class ranges.
fn tree_bytes(hir: &Hir) -> usize {
    use regex_syntax::hir::{Class, HirKind};
    let own = std::mem::size_of::<Hir>()
        + match hir.kind() {
            HirKind::Literal(lit) => lit.0.len(),
            HirKind::Class(Class::Unicode(c)) => c.ranges().len() * 8,
            HirKind::Class(Class::Bytes(c)) => c.ranges().len() * 2,
            _ => 0,
        };
    own + match hir.kind() {
        HirKind::Repetition(r) => tree_bytes(&r.sub),
        HirKind::Capture(c) => tree_bytes(&c.sub),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => parts.iter().map(tree_bytes).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predicate::regex::MAX_DFA_BYTES;

    #[test]
    fn a_pattern_is_built_once_and_shared() {
        let mut regexes = Regexes::default();
        let a = regexes.get("/api/v[0-9]+/.*").unwrap();
        let used = regexes.used();
        assert!(used > 0);
        let b = regexes.get("/api/v[0-9]+/.*").unwrap();
        assert!(a.shares_automaton(&b));
        assert_eq!(
            regexes.used(),
            used,
            "a repeated pattern is not charged again"
        );
        let c = regexes.get("/api/v[0-9]+/.+").unwrap();
        assert!(!a.shares_automaton(&c));
        assert!(regexes.used() > used);
    }

    #[test]
    fn a_refused_pattern_is_charged_what_it_built_once() {
        let mut regexes = Regexes::default();
        let e = regexes.get("/p[a-z]*a[a-z]{18}").unwrap_err();
        assert!(
            e.contains("(limits::MAX_DFA_BYTES): ") && e.contains("size limit of 4194304"),
            "{e}"
        );
        let used = regexes.used();
        assert!(used > MAX_DFA_BYTES, "{used}");
        assert_eq!(regexes.get("/p[a-z]*a[a-z]{18}").unwrap_err(), e);
        assert_eq!(regexes.used(), used);
    }

    #[test]
    fn trees_kept_between_check_and_build_are_bounded() {
        let mut regexes = Regexes::default();
        // 300 `\pL` classes: a tree of well over a megabyte from a 900-byte pattern.
        let big = |i: usize| format!("/{i}{}", "\\pL".repeat(300));
        let mut i = 0;
        while regexes.kept + tree_bytes(&prepare_hir(&big(i)).unwrap()) <= MAX_KEPT_TREE_BYTES {
            regexes.check(&big(i)).unwrap();
            i += 1;
        }
        let kept = regexes.kept;
        assert!(kept > MAX_KEPT_TREE_BYTES / 2, "{kept}");
        regexes.check(&big(i)).unwrap();
        assert_eq!(regexes.kept, kept);
        assert!(matches!(
            regexes.checked.get(big(i).as_str()),
            Some(Ok(None))
        ));
        // A small pattern still fits, and building it gives its bytes back.
        regexes.check("/a/[0-9]+").unwrap();
        assert!(regexes.kept > kept);
        regexes.get("/a/[0-9]+").unwrap();
        assert_eq!(regexes.kept, kept);
    }

    #[test]
    fn a_spent_budget_refuses_without_building() {
        let mut regexes = Regexes {
            used: MAX_TABLE_REGEX_BYTES - 100,
            ..Regexes::default()
        };
        assert_eq!(
            regexes.get("/api/.*").unwrap_err(),
            format!(
                "regex \"/api/.*\" needs more than the 100 bytes of automaton left in the table's regex budget: earlier regexes used {} of its {MAX_TABLE_REGEX_BYTES} bytes (limits::MAX_TABLE_REGEX_BYTES)",
                MAX_TABLE_REGEX_BYTES - 100
            )
        );
        assert_eq!(regexes.used(), MAX_TABLE_REGEX_BYTES);
        assert!(regexes.get("a").unwrap_err().contains("the 0 bytes"));
        assert!(regexes.rewrite("a").unwrap_err().contains("the 0 bytes"));
    }

    #[test]
    fn rewrite_patterns_are_read_as_re2() {
        // Envoy compiles `regex_rewrite` with RE2 (envoy source/common/common/regex.cc
        // `GoogleReEngine`; api/envoy/type/matcher/v3/regex.proto `RegexMatchAndSubstitute`),
        // where `\d` is ASCII only; Rust's regex reads it as every Unicode digit.
        let mut regexes = Regexes::default();
        let re = regexes.rewrite(r"\d").unwrap();
        let rewrite = crate::action::RegexRewrite {
            pattern: re,
            rewrite: "#".into(),
        };
        assert_eq!(rewrite.apply("/v1/\u{0663}"), "/v#/\u{0663}");
        // RE2 syntax the translation refuses is refused with the same message as a match.
        assert_eq!(
            regexes.rewrite(r"[a&&b]").unwrap_err(),
            regexes.get(r"[a&&b]").unwrap_err()
        );
        // RE2::Rewrite: `\\` is one backslash, `\N` a group.
        let rewrite = crate::action::RegexRewrite {
            pattern: regexes.rewrite("^/(a)$").unwrap(),
            rewrite: r"/\\\1$".into(),
        };
        assert_eq!(rewrite.apply("/a"), r"/\a$");
    }
}
