//! `uri` conditions: exact, prefix and regex on the path with query and fragment removed.

use super::FullMatch;

/// The path part of `:path`: everything before the first `?` or `#`.
pub fn strip_query(path: &str) -> &str {
    match path.bytes().position(|b| b == b'?' || b == b'#') {
        Some(i) => &path[..i],
        None => path,
    }
}

/// The query of `:path` with its `?`, without a `#fragment`; empty when there is none (a `?`
/// inside a fragment starts no query, RFC 3986 §3.5).
pub fn query_of(path: &str) -> &str {
    match path.bytes().position(|b| b == b'?' || b == b'#') {
        Some(i) if path.as_bytes()[i] == b'?' => {
            let q = &path[i..];
            q.split_once('#').map_or(q, |(q, _)| q)
        }
        _ => "",
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
    /// Gateway API `PathPrefix`: element-wise, so `/abc` matches `/abc`, `/abc/` and `/abc/x`
    /// but never `/abcd`. Stored without a trailing `/` (`/` itself is kept and matches all).
    SegmentPrefix(Box<str>),
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
            } => crate::request::bytes_eq(p, value.as_bytes()),
            PathMatch::Exact {
                value,
                ignore_case: true,
            } => p.eq_ignore_ascii_case(value.as_bytes()),
            PathMatch::Prefix {
                value,
                ignore_case: false,
            } => {
                let v = value.as_bytes();
                p.len() >= v.len() && crate::request::bytes_eq(&p[..v.len()], v)
            }
            PathMatch::Prefix {
                value,
                ignore_case: true,
            } => p.len() >= value.len() && p[..value.len()].eq_ignore_ascii_case(value.as_bytes()),
            PathMatch::SegmentPrefix(v) => {
                let v = v.as_bytes();
                v == b"/" || (p.starts_with(v) && (p.len() == v.len() || p[v.len()] == b'/'))
            }
            PathMatch::Regex(r) => r.is_match(p),
        }
    }

    /// A Gateway API `PathPrefix` condition for `value` (a trailing `/` is ignored).
    pub fn segment_prefix(value: &str) -> PathMatch {
        let v = value.trim_end_matches('/');
        PathMatch::SegmentPrefix(if v.is_empty() { "/".into() } else { v.into() })
    }

    /// Whether this is a prefix match (for `rewrite.uri` and `redirect.prefixRewrite`).
    pub fn prefix(&self) -> Option<&str> {
        match self {
            PathMatch::Prefix { value, .. } | PathMatch::SegmentPrefix(value) => Some(value),
            _ => None,
        }
    }

    /// Whether the condition holds for every path (`prefix: "/"` or `regex: ".*"`), as Istio's
    /// catch-all test reads it.
    pub fn is_catch_all(&self) -> bool {
        match self {
            PathMatch::Prefix { value, .. } | PathMatch::SegmentPrefix(value) => &**value == "/",
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
    fn segment_prefix_is_element_wise() {
        let p = PathMatch::segment_prefix("/abc/");
        for ok in ["/abc", "/abc/", "/abc/x"] {
            assert!(p.is_match(ok), "{ok}");
        }
        assert!(!p.is_match("/abcd"));
        assert!(!p.is_match("/ab"));
        assert!(PathMatch::segment_prefix("/").is_match("/anything"));
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
