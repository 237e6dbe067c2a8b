//! `uri` conditions: exact, prefix and regex on the path with query and fragment removed.

use super::FullMatch;

/// The path part of `:path`: everything before the first `?` or `#`.
pub fn strip_query(path: &str) -> &str {
    match path.find(['?', '#']) {
        Some(i) => &path[..i],
        None => path,
    }
}

/// A compiled `uri` condition.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PathMatch {
    /// Equal path; `ignore_case` compares ASCII case-insensitively.
    Exact {
        /// The path.
        value: Box<str>,
        /// `ignoreUriCase`.
        ignore_case: bool,
    },
    /// Plain starts-with (Istio's `prefix`, not segment-aware).
    Prefix {
        /// The prefix.
        value: Box<str>,
        /// `ignoreUriCase`.
        ignore_case: bool,
    },
    /// RE2 full match; `ignoreUriCase` does not apply (use `(?i)`).
    Regex(FullMatch),
}

impl PathMatch {
    /// Whether `path` (already stripped of query and fragment) matches.
    pub fn is_match(&self, path: &str) -> bool {
        let p = path.as_bytes();
        match self {
            PathMatch::Exact {
                value,
                ignore_case: false,
            } => p == value.as_bytes(),
            PathMatch::Exact {
                value,
                ignore_case: true,
            } => p.eq_ignore_ascii_case(value.as_bytes()),
            PathMatch::Prefix {
                value,
                ignore_case: false,
            } => p.starts_with(value.as_bytes()),
            PathMatch::Prefix {
                value,
                ignore_case: true,
            } => p.len() >= value.len() && p[..value.len()].eq_ignore_ascii_case(value.as_bytes()),
            PathMatch::Regex(r) => r.is_match(p),
        }
    }

    /// Whether this is a prefix match (for `rewrite.uri` and `redirect.prefixRewrite`).
    pub fn prefix(&self) -> Option<&str> {
        match self {
            PathMatch::Prefix { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Whether the condition holds for every path (`prefix: "/"` or `regex: ".*"`), as Istio's
    /// catch-all test reads it.
    pub fn is_catch_all(&self) -> bool {
        match self {
            PathMatch::Prefix { value, .. } => &**value == "/",
            PathMatch::Regex(r) => r.as_str() == ".*",
            PathMatch::Exact { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_fragment_are_not_part_of_the_path() {
        assert_eq!(strip_query("/a?b=c"), "/a");
        assert_eq!(strip_query("/a#x"), "/a");
        assert_eq!(strip_query("/a"), "/a");
        let exact = PathMatch::Exact {
            value: "/p".into(),
            ignore_case: false,
        };
        for p in ["/p?", "/p#", "/p?x=1"] {
            assert!(exact.is_match(strip_query(p)), "{p}");
        }
    }

    #[test]
    fn prefix_is_plain_and_case_option_applies() {
        let p = PathMatch::Prefix {
            value: "/usrv".into(),
            ignore_case: false,
        };
        assert!(p.is_match("/usrv-expand"));
        assert!(!p.is_match("/USRV"));
        let p = PathMatch::Prefix {
            value: "/usrv".into(),
            ignore_case: true,
        };
        assert!(p.is_match("/USRV/x"));
        assert!(!p.is_match("/us"));
    }
}
