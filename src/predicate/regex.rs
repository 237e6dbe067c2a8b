//! RE2-style full-match regexes, compiled ahead of time into dense DFAs so that matching never
//! allocates: no per-thread cache, no lazily built states. Input may arrive in pieces (the
//! values of a repeated header joined by `,`), which a DFA consumes byte by byte.

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::util::syntax;
use regex_automata::{Anchored, MatchKind};

/// Longest pattern accepted, in bytes (Istio's validation limit).
pub const MAX_PATTERN_LEN: usize = 1024;
/// Largest compiled automaton per pattern, in bytes.
pub const MAX_DFA_BYTES: usize = 4 << 20;
/// Largest intermediate NFA per pattern, in bytes.
pub const MAX_NFA_BYTES: usize = 1 << 20;

/// Checks a pattern's length and syntax, as validation does before compiling.
///
/// # Errors
/// A message naming the length limit or the syntax error.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "regex of {} bytes is too long; the limit is {MAX_PATTERN_LEN} bytes",
            pattern.len()
        ));
    }
    syntax::parse(pattern).map(|_| ()).map_err(|e| {
        format!(
            "regex {pattern:?} does not parse: {}",
            first_line(&e.to_string())
        )
    })
}

fn first_line(s: &str) -> String {
    // regex-syntax errors span several lines with a caret diagram; keep the gist on one line.
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.last() {
        Some(l) if lines.len() > 1 => l.trim().trim_start_matches("error: ").to_string(),
        _ => s.trim().to_string(),
    }
}

/// A regex that must match a whole input (RE2 full match, as Envoy's `safe_regex`).
#[derive(Clone, Debug)]
pub struct FullMatch {
    pattern: Box<str>,
    dfa: Box<dense::DFA<Vec<u32>>>,
    start: StateID,
}

impl FullMatch {
    /// Compiles `pattern` for full matching.
    ///
    /// # Errors
    /// When the pattern is too long, does not parse, or its automaton exceeds [`MAX_DFA_BYTES`].
    pub fn new(pattern: &str) -> Result<FullMatch, String> {
        check_pattern(pattern)?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(MAX_DFA_BYTES))
                    .determinize_size_limit(Some(MAX_DFA_BYTES)),
            )
            .syntax(syntax::Config::new().utf8(true))
            .thompson(thompson::Config::new().nfa_size_limit(Some(MAX_NFA_BYTES)).shrink(true))
            .build(pattern)
            .map_err(|e| {
                format!(
                    "regex {pattern:?} cannot be compiled within the limit of {MAX_DFA_BYTES} bytes per pattern: {}",
                    first_line(&e.to_string())
                )
            })?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| format!("regex {pattern:?}: {e}"))?;
        Ok(FullMatch {
            pattern: pattern.into(),
            dfa: Box::new(dfa),
            start,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern matches the whole of `input`.
    pub fn is_match(&self, input: &[u8]) -> bool {
        self.is_match_pieces(std::iter::once(input))
    }

    /// Whether the pattern matches the concatenation of `pieces`, read without copying.
    pub fn is_match_pieces<'a>(&self, pieces: impl IntoIterator<Item = &'a [u8]>) -> bool {
        let mut s = self.start;
        for piece in pieces {
            for &b in piece {
                s = self.dfa.next_state(s, b);
                if self.dfa.is_dead_state(s) || self.dfa.is_quit_state(s) {
                    return false;
                }
            }
        }
        s = self.dfa.next_eoi_state(s);
        self.dfa.is_match_state(s)
    }

    /// Bytes of memory held by the automaton.
    pub fn memory_usage(&self) -> usize {
        self.dfa.memory_usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_match_not_search() {
        let r = FullMatch::new(r"\d+").unwrap();
        assert!(r.is_match(b"123"));
        assert!(!r.is_match(b"a123"));
        assert!(!r.is_match(b"123a"));
        assert!(!r.is_match(b""));
        let r = FullMatch::new("a|ab").unwrap();
        assert!(
            r.is_match(b"ab"),
            "alternation must not stop at the first branch"
        );
        let r = FullMatch::new("/api/v[0-9]+/.*").unwrap();
        assert!(r.is_match(b"/api/v2/items"));
        assert!(!r.is_match(b"/api/vx/items"));
    }

    #[test]
    fn pieces_are_read_as_one_input() {
        let r = FullMatch::new("a,b").unwrap();
        assert!(r.is_match_pieces([&b"a"[..], b",", b"b"]));
        assert!(!r.is_match_pieces([&b"a"[..], b","]));
    }

    #[test]
    fn limits_are_errors() {
        let long = "a".repeat(1025);
        assert_eq!(
            FullMatch::new(&long).unwrap_err(),
            "regex of 1025 bytes is too long; the limit is 1024 bytes"
        );
        assert!(
            FullMatch::new("(")
                .unwrap_err()
                .starts_with("regex \"(\" does not parse")
        );
        assert!(FullMatch::new("(a|b|c|d|e|f)*a(a|b|c|d|e|f){20}").is_err());
        assert!(check_pattern("x{2}").is_ok());
    }
}
