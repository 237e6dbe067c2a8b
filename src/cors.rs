//! CORS as Envoy's CORS filter (`envoy.filters.http.cors`) applies a route's policy: which
//! requests are cross-origin, which preflights the filter answers itself, and which headers it
//! writes.
//!
//! The policy is compiled once ([`Cors`], origin regexes included); [`Cors::evaluate`] (or
//! [`crate::Decision::cors`]) reads the request's `Origin`, `Access-Control-Request-Method`
//! and `Access-Control-Request-Headers` and returns a [`CorsAnswer`] that borrows from the
//! policy and the request: it allocates nothing.
//!
//! What the filter does (envoy `source/extensions/filters/http/cors/cors_filter.cc`):
//! - A request without an `Origin`, or with an empty one, is not a CORS request: nothing is
//!   added.
//! - The origin is allowed when one of the policy's matchers matches it, or matches the
//!   literal `*` (so `exact: "*"` or `regex: ".*"` allows every origin).
//! - A preflight is `OPTIONS` with an `Origin` and a non-empty `Access-Control-Request-Method`.
//!   Its origin allowed, the filter answers it itself with 200 and `Access-Control-Allow-*`
//!   headers; the route's action (the upstream, mirrors, retries) never runs. Its origin not
//!   allowed, the preflight is forwarded like any request when `unmatchedPreflights` is
//!   `FORWARD` (Istio's default), and answered with 200 without `Access-Control-Allow-Origin`
//!   when it is `IGNORE` (which istiod sets for every Gateway API CORS filter).
//! - Any other request with an allowed origin (an actual request) gets
//!   `Access-Control-Allow-Origin` (the request's origin, never `*`),
//!   `Access-Control-Allow-Credentials: true` when credentials are allowed and
//!   `Access-Control-Expose-Headers`, set on whatever response comes back.

use std::time::Duration;

use crate::predicate::regex::FullMatch;
use crate::request::Request;

/// `access-control-allow-origin`.
pub const ALLOW_ORIGIN: &str = "access-control-allow-origin";
/// `access-control-allow-credentials`.
pub const ALLOW_CREDENTIALS: &str = "access-control-allow-credentials";
/// `access-control-allow-methods`.
pub const ALLOW_METHODS: &str = "access-control-allow-methods";
/// `access-control-allow-headers`.
pub const ALLOW_HEADERS: &str = "access-control-allow-headers";
/// `access-control-max-age`.
pub const MAX_AGE: &str = "access-control-max-age";
/// `access-control-expose-headers`.
pub const EXPOSE_HEADERS: &str = "access-control-expose-headers";

/// One allowed origin: an entry of Envoy's `allow_origin_string_match`, compared
/// case-sensitively with the whole `Origin` value (istiod's `ConvertToEnvoyMatch` sets no
/// `ignore_case`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum OriginMatch {
    /// The origin equals this.
    Exact(Box<str>),
    /// The origin starts with this.
    Prefix(Box<str>),
    /// The origin matches this regex in full (RE2 dialect, compiled with the table).
    Regex(FullMatch),
}

impl OriginMatch {
    /// Whether `value` matches.
    #[inline]
    pub fn is_match(&self, value: &[u8]) -> bool {
        match self {
            OriginMatch::Exact(e) => value == e.as_bytes(),
            OriginMatch::Prefix(p) => value.starts_with(p.as_bytes()),
            OriginMatch::Regex(r) => r.is_match(value),
        }
    }

    /// `exact`, `prefix` or `regex`, as the Istio `StringMatch` field is named.
    pub fn kind(&self) -> &'static str {
        match self {
            OriginMatch::Exact(_) => "exact",
            OriginMatch::Prefix(_) => "prefix",
            OriginMatch::Regex(_) => "regex",
        }
    }

    /// The value or pattern.
    pub fn pattern(&self) -> &str {
        match self {
            OriginMatch::Exact(s) | OriginMatch::Prefix(s) => s,
            OriginMatch::Regex(r) => r.as_str(),
        }
    }
}

/// What happens to a preflight whose origin is not allowed (Istio `unmatchedPreflights`,
/// Envoy `forward_not_matching_preflights`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnmatchedPreflights {
    /// Forwarded to the route's destination like any request (Istio's default, and Envoy's
    /// when the field is unset).
    Forward,
    /// Answered by the filter with 200 and no `Access-Control-Allow-Origin`.
    Ignore,
}

impl UnmatchedPreflights {
    /// `FORWARD` or `IGNORE`.
    pub fn as_str(self) -> &'static str {
        match self {
            UnmatchedPreflights::Forward => "FORWARD",
            UnmatchedPreflights::Ignore => "IGNORE",
        }
    }
}

/// A route's CORS policy, as istiod hands it to Envoy (`TranslateCORSPolicy`): lists joined
/// with `,`, the max age in whole seconds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Cors {
    /// Allowed origins; none allows none.
    pub allow_origins: Box<[OriginMatch]>,
    /// `Access-Control-Allow-Methods` as written to a preflight answer (the list joined by
    /// `,`); `*` echoes the preflight's `Access-Control-Request-Method`; empty sends none.
    pub allow_methods: Box<str>,
    /// `Access-Control-Allow-Headers`; `*` echoes `Access-Control-Request-Headers`; empty
    /// sends none.
    pub allow_headers: Box<str>,
    /// `Access-Control-Expose-Headers`; empty sends none.
    pub expose_headers: Box<str>,
    /// `Access-Control-Max-Age` (whole seconds); `None` sends none.
    pub max_age: Option<Duration>,
    /// Whether `Access-Control-Allow-Credentials: true` is sent (Envoy: unset is false).
    pub allow_credentials: bool,
    /// What happens to a preflight whose origin is not allowed.
    pub unmatched_preflights: UnmatchedPreflights,
    /// `max_age` in seconds, as the header's value.
    max_age_value: Box<str>,
}

/// Whether and how a request is cross-origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorsKind {
    /// No `Origin` (or an empty one): the filter does nothing.
    NotCors,
    /// `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
    Preflight,
    /// Any other request with an `Origin` (an actual, or "simple", request).
    Simple,
}

impl CorsKind {
    /// `none`, `preflight` or `simple`.
    pub fn as_str(self) -> &'static str {
        match self {
            CorsKind::NotCors => "none",
            CorsKind::Preflight => "preflight",
            CorsKind::Simple => "simple",
        }
    }
}

/// Most headers one answer writes.
const MAX_HEADERS: usize = 6;

/// What the CORS filter does with one request ([`Cors::evaluate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorsAnswer<'a> {
    /// Whether and how the request is cross-origin.
    pub kind: CorsKind,
    /// Whether the request's origin is allowed (false when there is none).
    pub origin_allowed: bool,
    /// Whether the filter answers the request itself, with status 200 and
    /// [`CorsAnswer::response_headers`]: a preflight whose origin is allowed, or whose origin
    /// is not allowed under [`UnmatchedPreflights::Ignore`]. The request goes no further.
    pub answered: bool,
    headers: [Option<(&'static str, &'a [u8])>; MAX_HEADERS],
}

impl<'a> CorsAnswer<'a> {
    /// The status of the filter's own answer: `Some(200)` when [`CorsAnswer::answered`].
    pub fn status(&self) -> Option<u16> {
        self.answered.then_some(200)
    }

    /// The headers, lowercase names with their values in the order Envoy writes them. When
    /// [`CorsAnswer::answered`], they are the whole header set of the 200 answer; otherwise
    /// they are set (replacing any of the same name) on the response the request gets,
    /// whoever writes it. Values borrow from the policy and the request (the allowed origin is
    /// echoed, never `*`).
    pub fn response_headers(&self) -> impl Iterator<Item = (&'static str, &'a [u8])> + use<'a> {
        let headers = self.headers;
        headers.into_iter().flatten()
    }
}

/// The first value of header `name` when it is not empty. Envoy joins repeated values of
/// these headers with `,`; browsers send each at most once, and meshroute reads the first.
fn first<'a, R: Request + ?Sized>(req: &'a R, name: &'static str) -> Option<&'a [u8]> {
    req.header_values(name).next().filter(|v| !v.is_empty())
}

impl Cors {
    /// A policy; `max_age` is sent in whole seconds.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        allow_origins: Vec<OriginMatch>,
        allow_methods: &[String],
        allow_headers: &[String],
        expose_headers: &[String],
        max_age: Option<Duration>,
        allow_credentials: bool,
        unmatched_preflights: UnmatchedPreflights,
    ) -> Cors {
        Cors {
            allow_origins: allow_origins.into(),
            allow_methods: allow_methods.join(",").into(),
            allow_headers: allow_headers.join(",").into(),
            expose_headers: expose_headers.join(",").into(),
            max_age,
            allow_credentials,
            unmatched_preflights,
            max_age_value: max_age
                .map(|d| d.as_secs().to_string())
                .unwrap_or_default()
                .into(),
        }
    }

    /// Whether `origin` is allowed: a matcher matches it, or matches the literal `*` (Envoy's
    /// `isOriginAllowed`).
    pub fn allows_origin(&self, origin: &[u8]) -> bool {
        self.allow_origins
            .iter()
            .any(|m| m.is_match(b"*") || m.is_match(origin))
    }

    /// What Envoy's CORS filter does with `req` under this policy: see the [module
    /// documentation](crate::cors). Allocates nothing.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: api, namespace: default}
    /// spec:
    ///   hosts: [api]
    ///   http:
    ///   - corsPolicy:
    ///       allowOrigins: [{regex: "https://.*\\.example\\.com"}]
    ///       allowMethods: [GET, POST]
    ///       maxAge: 24h
    ///     route: [{destination: {host: api}}]
    /// "#)?;
    /// let req = OwnedRequest::new("OPTIONS", "http://api/items")
    ///     .header("origin", "https://app.example.com")
    ///     .header("access-control-request-method", "POST");
    /// let d = table.decide_with_draw(&req, 0);
    /// let cors = d.forward().and_then(|f| f.cors.as_deref()).unwrap().evaluate(&req);
    /// assert!(cors.answered);
    /// assert_eq!(cors.status(), Some(200));
    /// let headers: Vec<_> = cors.response_headers().collect();
    /// assert_eq!(headers, [
    ///     ("access-control-allow-origin", &b"https://app.example.com"[..]),
    ///     ("access-control-allow-methods", b"GET,POST"),
    ///     ("access-control-max-age", b"86400"),
    /// ]);
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn evaluate<'a, R: Request + ?Sized>(&'a self, req: &'a R) -> CorsAnswer<'a> {
        let mut answer = CorsAnswer {
            kind: CorsKind::NotCors,
            origin_allowed: false,
            answered: false,
            headers: [None; MAX_HEADERS],
        };
        let Some(origin) = first(req, "origin") else {
            return answer;
        };
        answer.origin_allowed = self.allows_origin(origin);
        let request_method = first(req, "access-control-request-method");
        let mut headers = [None; MAX_HEADERS];
        let mut written = 0;
        let mut put = |name: &'static str, value: &'a [u8]| {
            // At most MAX_HEADERS puts happen on any path below.
            if let Some(slot) = headers.get_mut(written) {
                *slot = Some((name, value));
                written += 1;
            }
        };
        let non_empty = |s: &'a str| (!s.is_empty()).then_some(s.as_bytes());
        match request_method {
            Some(request_method) if req.method() == "OPTIONS" => {
                answer.kind = CorsKind::Preflight;
                if !answer.origin_allowed
                    && self.unmatched_preflights == UnmatchedPreflights::Forward
                {
                    return answer;
                }
                answer.answered = true;
                // The answer's headers (`decodeHeaders`), then what the filter's own encoder
                // adds to that answer when the origin matched (`encodeHeaders`: the expose
                // list; origin and credentials are set again to the same values).
                if answer.origin_allowed {
                    put(ALLOW_ORIGIN, origin);
                }
                if self.allow_credentials {
                    put(ALLOW_CREDENTIALS, b"true");
                }
                match &*self.allow_methods {
                    "" => {}
                    "*" => put(ALLOW_METHODS, request_method),
                    m => put(ALLOW_METHODS, m.as_bytes()),
                }
                match &*self.allow_headers {
                    "" => {}
                    // Envoy sets the header to the request's value even when that is absent
                    // (an empty value).
                    "*" => put(
                        ALLOW_HEADERS,
                        req.header_values("access-control-request-headers")
                            .next()
                            .unwrap_or(b""),
                    ),
                    h => put(ALLOW_HEADERS, h.as_bytes()),
                }
                if let Some(v) = non_empty(&self.max_age_value) {
                    put(MAX_AGE, v);
                }
                if answer.origin_allowed
                    && let Some(v) = non_empty(&self.expose_headers)
                {
                    put(EXPOSE_HEADERS, v);
                }
            }
            _ => {
                answer.kind = CorsKind::Simple;
                if answer.origin_allowed {
                    put(ALLOW_ORIGIN, origin);
                    if self.allow_credentials {
                        put(ALLOW_CREDENTIALS, b"true");
                    }
                    if let Some(v) = non_empty(&self.expose_headers) {
                        put(EXPOSE_HEADERS, v);
                    }
                }
            }
        }
        answer.headers = headers;
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OwnedRequest;

    /// The fixture of Envoy's `cors_filter_test.cc` (`CorsFilterTest`): origin `*`, methods
    /// `GET`, headers and exposed headers `content-type`, no credentials, max age `0`.
    fn envoy_fixture() -> Cors {
        let mut c = Cors::new(
            vec![OriginMatch::Exact("*".into())],
            &["GET".into()],
            &["content-type".into()],
            &["content-type".into()],
            Some(Duration::ZERO),
            false,
            UnmatchedPreflights::Forward,
        );
        c.max_age_value = "0".into();
        c
    }

    fn headers(a: &CorsAnswer<'_>) -> Vec<(String, String)> {
        a.response_headers()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// Envoy `RequestWithoutOrigin`, `OptionsRequestWithoutOrigin`: no origin, no CORS.
    #[test]
    fn without_origin_nothing_happens() {
        let c = envoy_fixture();
        for method in ["GET", "OPTIONS"] {
            let req = OwnedRequest::new(method, "http://a/").header("origin", "");
            let a = c.evaluate(&req);
            assert_eq!(a.kind, CorsKind::NotCors);
            assert!(!a.answered);
            assert_eq!(a.response_headers().count(), 0);
        }
    }

    /// Envoy `OptionsRequestWithoutAccessRequestMethod`: OPTIONS with an origin but no
    /// `Access-Control-Request-Method` is not a preflight; the response gets the origin.
    #[test]
    fn options_without_request_method_is_an_actual_request() {
        let c = envoy_fixture();
        let req = OwnedRequest::new("OPTIONS", "http://a/").header("origin", "localhost");
        let a = c.evaluate(&req);
        assert_eq!(a.kind, CorsKind::Simple);
        assert!(!a.answered);
        assert_eq!(
            headers(&a),
            pairs(&[
                (ALLOW_ORIGIN, "localhost"),
                (EXPOSE_HEADERS, "content-type")
            ])
        );
    }

    /// Envoy `OptionsRequestMatchingOriginByWildcard`: the policy's `*` allows any origin and
    /// the answer echoes the origin.
    #[test]
    fn wildcard_preflight_is_answered() {
        let c = envoy_fixture();
        let req = OwnedRequest::new("OPTIONS", "http://a/")
            .header("origin", "test-host")
            .header("access-control-request-method", "GET");
        let a = c.evaluate(&req);
        assert!(a.answered && a.origin_allowed);
        assert_eq!(a.status(), Some(200));
        assert_eq!(
            headers(&a),
            pairs(&[
                (ALLOW_ORIGIN, "test-host"),
                (ALLOW_METHODS, "GET"),
                (ALLOW_HEADERS, "content-type"),
                (MAX_AGE, "0"),
                (EXPOSE_HEADERS, "content-type"),
            ])
        );
    }

    /// Envoy `OptionsRequestNotMatchingOrigin` (forwarded by default) and the
    /// `forward_not_matching_preflights: false` branch of `decodeHeaders`.
    #[test]
    fn unmatched_preflight_is_forwarded_or_answered_without_origin() {
        let mut c = envoy_fixture();
        c.allow_origins = vec![OriginMatch::Exact("localhost".into())].into();
        let req = OwnedRequest::new("OPTIONS", "http://a/")
            .header("origin", "test-host")
            .header("access-control-request-method", "GET");
        let a = c.evaluate(&req);
        assert_eq!(
            (a.kind, a.origin_allowed, a.answered),
            (CorsKind::Preflight, false, false)
        );
        assert_eq!(a.response_headers().count(), 0);
        c.unmatched_preflights = UnmatchedPreflights::Ignore;
        c.allow_credentials = true;
        let a = c.evaluate(&req);
        assert!(a.answered && !a.origin_allowed);
        assert_eq!(
            headers(&a),
            pairs(&[
                (ALLOW_CREDENTIALS, "true"),
                (ALLOW_METHODS, "GET"),
                (ALLOW_HEADERS, "content-type"),
                (MAX_AGE, "0"),
            ])
        );
    }

    /// Envoy `OptionsRequestMatchingOriginByRegex` / `OptionsRequestNotMatchingOriginByRegex`.
    #[test]
    fn regex_origins_match_in_full() {
        let mut c = envoy_fixture();
        c.allow_origins = vec![OriginMatch::Regex(
            FullMatch::new(".*.envoyproxy.io").unwrap(),
        )]
        .into();
        let pre = |o: &str| {
            OwnedRequest::new("OPTIONS", "http://a/")
                .header("origin", o)
                .header("access-control-request-method", "GET")
        };
        assert!(c.evaluate(&pre("www.envoyproxy.io")).answered);
        let other = pre("www.envoyproxy.com");
        let a = c.evaluate(&other);
        assert!(!a.answered && !a.origin_allowed);
    }

    /// Envoy `EncodeWithAllowCredentialsTrue`, `EncodeWithNonMatchingOrigin`: an actual
    /// request gets origin and credentials only when its origin is allowed.
    #[test]
    fn actual_request_headers() {
        let mut c = envoy_fixture();
        c.allow_credentials = true;
        c.expose_headers = "".into();
        let req = OwnedRequest::new("GET", "http://a/").header("origin", "localhost");
        assert_eq!(
            headers(&c.evaluate(&req)),
            pairs(&[(ALLOW_ORIGIN, "localhost"), (ALLOW_CREDENTIALS, "true")])
        );
        c.allow_origins = vec![OriginMatch::Prefix("https://".into())].into();
        let a = c.evaluate(&req);
        assert_eq!((a.kind, a.origin_allowed), (CorsKind::Simple, false));
        assert_eq!(a.response_headers().count(), 0);
    }

    /// `decodeHeaders`: `*` in allow methods/headers echoes the preflight's request headers,
    /// an absent `Access-Control-Request-Headers` as an empty value.
    #[test]
    fn star_methods_and_headers_echo_the_request() {
        let mut c = envoy_fixture();
        c.allow_methods = "*".into();
        c.allow_headers = "*".into();
        c.max_age_value = "".into();
        c.expose_headers = "".into();
        let req = OwnedRequest::new("OPTIONS", "http://a/")
            .header("origin", "o")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "x-a, x-b");
        assert_eq!(
            headers(&c.evaluate(&req)),
            pairs(&[
                (ALLOW_ORIGIN, "o"),
                (ALLOW_METHODS, "PUT"),
                (ALLOW_HEADERS, "x-a, x-b")
            ])
        );
        let req = OwnedRequest::new("OPTIONS", "http://a/")
            .header("origin", "o")
            .header("access-control-request-method", "PUT");
        assert_eq!(
            headers(&c.evaluate(&req)),
            pairs(&[
                (ALLOW_ORIGIN, "o"),
                (ALLOW_METHODS, "PUT"),
                (ALLOW_HEADERS, "")
            ])
        );
    }

    /// Envoy `OptionsRequestEmptyOriginList`: no origins allow none (a matcher must match).
    #[test]
    fn no_origins_allow_none() {
        let mut c = envoy_fixture();
        c.allow_origins = Vec::new().into();
        assert!(!c.allows_origin(b"test-host"));
        // A prefix matcher that matches the literal `*` allows everything, as in Envoy.
        c.allow_origins = vec![OriginMatch::Prefix("*".into())].into();
        assert!(c.allows_origin(b"test-host"));
    }
}
