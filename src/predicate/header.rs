//! `headers` and `withoutHeaders` conditions, with Envoy's HeaderMatcher semantics: repeated
//! values are joined with `,`; a missing header fails every matcher except an inverted
//! presence match, unless it is treated as empty (Istio's `withoutHeaders`).

use super::StrMatch;
use super::path::{query_of, strip_query};
use crate::request::Request;

/// Where a header condition reads its value.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum HeaderSource {
    /// A regular header, lowercase name.
    Header(Box<str>),
    /// `:method`.
    Method,
    /// `:scheme`.
    Scheme,
    /// `:authority` (also `host`).
    Authority,
    /// `:path`.
    Path,
    /// `@request.auth.claims.<path>`: a verified JWT claim.
    Claim(Box<str>),
}

impl HeaderSource {
    /// The source for a header name as written in configuration.
    pub fn from_name(name: &str) -> HeaderSource {
        let lower = name.to_ascii_lowercase();
        if let Some(claim) = name.strip_prefix("@request.auth.claims.") {
            return HeaderSource::Claim(claim.into());
        }
        match lower.as_str() {
            ":method" => HeaderSource::Method,
            ":scheme" => HeaderSource::Scheme,
            ":authority" | "host" => HeaderSource::Authority,
            ":path" => HeaderSource::Path,
            _ => HeaderSource::Header(lower.into()),
        }
    }

    /// The name, for messages.
    pub fn name(&self) -> &str {
        match self {
            HeaderSource::Header(n) => n,
            HeaderSource::Method => ":method",
            HeaderSource::Scheme => ":scheme",
            HeaderSource::Authority => ":authority",
            HeaderSource::Path => ":path",
            HeaderSource::Claim(c) => c,
        }
    }
}

/// A compiled header condition.
#[derive(Clone, Debug)]
pub struct HeaderMatch {
    /// Where the value comes from.
    pub source: HeaderSource,
    /// `None` = presence; otherwise the value condition.
    pub value: Option<StrMatch>,
    /// `withoutHeaders`: the result is inverted.
    pub invert: bool,
    /// A missing header is read as `""` (Istio sets this for `withoutHeaders` value matches).
    pub missing_as_empty: bool,
}

impl HeaderMatch {
    /// Whether the condition holds for `req`, reading `:path` as sent (without its
    /// `#fragment`); see [`HeaderMatch::is_match_at`] for the normalized path.
    pub fn is_match<R: Request + ?Sized>(&self, req: &R) -> bool {
        self.is_match_at(req, strip_query(req.path()))
    }

    /// Whether the condition holds for `req` whose path, normalized and without query and
    /// fragment, is `path`. A `:path` condition reads `path` followed by the request's query:
    /// Envoy normalizes the `:path` header in place (fragment stripped, escaped slashes
    /// decoded, canonical path, slashes merged, as configured) before any route matcher
    /// reads it (envoyproxy/envoy `ConnectionManagerUtility::maybeNormalizePath`), so
    /// `/x/../admin` is `/admin` to a `:path` header match as it is to `uri`.
    pub fn is_match_at<R: Request + ?Sized>(&self, req: &R, path: &str) -> bool {
        let single = match &self.source {
            HeaderSource::Header(name) => {
                // One pass over the headers for the usual single value; a repeated header is
                // read again, as its values joined by `,`.
                let mut values = req.header_values(name);
                let Some(first) = values.next() else {
                    return self.missing(req);
                };
                let hit = match &self.value {
                    None => true,
                    Some(m) if values.next().is_none() => m.is_match(first),
                    Some(m) => m.is_match_joined(|| req.header_values(name)),
                };
                return hit != self.invert;
            }
            HeaderSource::Method => Some(req.method()),
            HeaderSource::Scheme => Some(req.scheme()),
            HeaderSource::Authority => Some(req.authority()),
            HeaderSource::Path => {
                let query = query_of(req.path());
                let hit = self.value.as_ref().is_none_or(|m| {
                    if query.is_empty() {
                        m.is_match(path.as_bytes())
                    } else {
                        m.is_match_concat(&[path.as_bytes(), query.as_bytes()])
                    }
                });
                return hit != self.invert;
            }
            HeaderSource::Claim(c) => req.jwt_claim(c),
        };
        match single {
            None => self.missing(req),
            Some(v) => {
                let hit = self.value.as_ref().is_none_or(|m| m.is_match(v.as_bytes()));
                hit != self.invert
            }
        }
    }

    fn missing<R: Request + ?Sized>(&self, _req: &R) -> bool {
        match &self.value {
            // Presence: absent means "not present", inverted means "absent" holds.
            None => self.invert,
            Some(m) if self.missing_as_empty => m.is_match(b"") != self.invert,
            Some(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OwnedRequest;

    fn hm(value: Option<StrMatch>, invert: bool) -> HeaderMatch {
        HeaderMatch {
            source: HeaderSource::from_name("X-User"),
            missing_as_empty: invert && value.is_some(),
            value,
            invert,
        }
    }

    #[test]
    fn absent_header_semantics_of_semantics_6_9() {
        let none = OwnedRequest::new("GET", "/");
        let exact_v = || Some(StrMatch::Exact("v".into()));
        assert!(!hm(exact_v(), false).is_match(&none));
        assert!(hm(exact_v(), true).is_match(&none));
        assert!(hm(None, true).is_match(&none));
        assert!(!hm(Some(StrMatch::Exact("".into())), true).is_match(&none));
        assert!(!hm(None, false).is_match(&none));
    }

    #[test]
    fn repeated_values_are_joined() {
        let r = OwnedRequest::new("GET", "/")
            .header("x-user", "a")
            .header("X-User", "b");
        assert!(!hm(Some(StrMatch::Exact("a".into())), false).is_match(&r));
        assert!(hm(Some(StrMatch::Exact("a,b".into())), false).is_match(&r));
        assert!(hm(None, false).is_match(&r));
    }

    #[test]
    fn pseudo_headers_read_the_request_line() {
        let r = OwnedRequest::new("POST", "http://a.b:81/x");
        let m = HeaderMatch {
            source: HeaderSource::from_name(":authority"),
            value: Some(StrMatch::Exact("a.b:81".into())),
            invert: false,
            missing_as_empty: false,
        };
        assert!(m.is_match(&r));
    }

    #[test]
    fn path_reads_the_normalized_path_and_the_query() {
        let r = OwnedRequest::new("GET", "/x/../admin?q=1#frag");
        let m = |value| HeaderMatch {
            source: HeaderSource::from_name(":path"),
            value: Some(value),
            invert: false,
            missing_as_empty: false,
        };
        let exact = m(StrMatch::Exact("/admin?q=1".into()));
        assert!(exact.is_match_at(&r, "/admin"));
        assert!(
            !exact.is_match(&r),
            "as sent, the path still has its dot segment"
        );
        assert!(m(StrMatch::Exact("/x/../admin?q=1".into())).is_match(&r));
        let bare = OwnedRequest::new("GET", "/%61dmin");
        assert!(m(StrMatch::Exact("/admin".into())).is_match_at(&bare, "/admin"));
    }
}
