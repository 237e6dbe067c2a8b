//! The request as meshroute sees it: a borrowed view a proxy implements over its own types.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// The namespace a request comes from when nobody says otherwise: `default`, as in kubectl.
pub const DEFAULT_NAMESPACE: &str = "default";

/// What a decision needs to know about a request.
///
/// A proxy implements this over its own header map without copying; [`OwnedRequest`] is a
/// small owned implementation for tests and tools, and `http::Request<B>` implements it with
/// the cargo feature `http`. Every method is called on the evaluation path, so implementations
/// must not allocate if the decision is to stay allocation-free.
pub trait Request {
    /// Iterator over the values of one header, in arrival order.
    type HeaderValues<'a>: Iterator<Item = &'a [u8]>
    where
        Self: 'a;

    /// `:method`, e.g. `GET` (compared case-sensitively, as Envoy does).
    fn method(&self) -> &str;
    /// `:scheme`, e.g. `http`.
    fn scheme(&self) -> &str;
    /// `:authority` (the Host header), possibly with a port.
    fn authority(&self) -> &str;
    /// `:path`, with query string (and fragment, if the proxy kept one).
    fn path(&self) -> &str;
    /// All values of header `name` (given in lowercase); none when the header is absent.
    fn header_values<'a>(&'a self, name: &'a str) -> Self::HeaderValues<'a>;
    /// The destination (listener) port, when known. When it is not, the port the request is
    /// addressed to stands for it ([`addressed_port`]: the authority's, else 80 or 443 by
    /// scheme), for `port` conditions, listener ports and the forwarded port alike.
    fn port(&self) -> Option<u16> {
        None
    }
    /// A label of the source workload.
    fn source_label(&self, _key: &str) -> Option<&str> {
        None
    }
    /// The namespace of the source workload: [`DEFAULT_NAMESPACE`] unless the embedder knows
    /// better, as a workload with no namespace given runs in `default` (kubectl, every Istio
    /// example). It decides which short host names reach a service (`reviews` is
    /// `reviews.<ns>.svc.<domain>`), which VirtualServices a client sees (`exportTo`) and
    /// `sourceNamespace` matches.
    fn source_namespace(&self) -> &str {
        DEFAULT_NAMESPACE
    }
    /// The downstream IP address.
    fn source_ip(&self) -> Option<IpAddr> {
        None
    }
    /// The gateway the request arrives at as `(namespace, name)`; `None` for a sidecar (`mesh`).
    fn gateway(&self) -> Option<(&str, &str)> {
        None
    }
    /// A verified JWT claim (dot path after `@request.auth.claims.`), for gateway rules that
    /// match on claims. `None` when the embedder does not verify tokens.
    fn jwt_claim(&self, _path: &str) -> Option<&str> {
        None
    }
}

/// An owned request, for tests, tools and examples.
///
/// # Example
/// ```
/// use meshroute::OwnedRequest;
/// let r = OwnedRequest::new("GET", "http://reviews:9080/reviews/1?x=1").header("end-user", "jason");
/// assert_eq!(r.authority, "reviews:9080");
/// assert_eq!(r.path, "/reviews/1?x=1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
// Laid out in declaration order: what every decision reads (path, authority, headers, port)
// on the first two cache lines.
#[repr(C)]
pub struct OwnedRequest {
    /// Path with query.
    pub path: String,
    /// Authority.
    pub authority: String,
    /// Destination port.
    pub port: Option<u16>,
    /// Headers in order, names as given (looked up case-insensitively).
    pub headers: Headers,
    /// Method.
    pub method: String,
    /// Scheme.
    pub scheme: String,
    /// Source workload labels.
    pub source_labels: BTreeMap<String, String>,
    /// Source namespace; `None` is [`DEFAULT_NAMESPACE`].
    pub source_namespace: Option<String>,
    /// Source IP.
    pub source_ip: Option<IpAddr>,
    /// Gateway `(namespace, name)`, `None` for the mesh.
    pub gateway: Option<(String, String)>,
    /// JWT claims, by dot path.
    pub jwt_claims: BTreeMap<String, String>,
}

impl OwnedRequest {
    /// A request from a method and a URL (`http://host[:port]/path?query`) or a bare path.
    /// The port of the URL (or the scheme's default) becomes the destination port.
    pub fn new(method: &str, url: &str) -> OwnedRequest {
        let mut r = OwnedRequest {
            method: method.to_string(),
            scheme: "http".to_string(),
            ..Default::default()
        };
        let rest = if let Some((scheme, rest)) = url.split_once("://") {
            r.scheme = scheme.to_ascii_lowercase();
            let (auth, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, "/"),
            };
            r.authority = auth.to_string();
            path
        } else {
            url
        };
        r.path = rest.to_string();
        r.port = authority_port(&r.authority).or(match r.scheme.as_str() {
            "https" => Some(443),
            _ => Some(80),
        });
        r
    }

    /// Adds a header value (a repeated name adds another value).
    pub fn header(mut self, name: &str, value: &str) -> OwnedRequest {
        self.headers.push(name, value);
        self
    }

    /// Sets the destination port.
    pub fn with_port(mut self, port: u16) -> OwnedRequest {
        self.port = Some(port);
        self
    }

    /// Sets the gateway the request arrives at.
    pub fn at_gateway(mut self, namespace: &str, name: &str) -> OwnedRequest {
        self.gateway = Some((namespace.to_string(), name.to_string()));
        self
    }

    /// Sets the source workload's namespace.
    pub fn from_namespace(mut self, namespace: &str) -> OwnedRequest {
        self.source_namespace = Some(namespace.to_string());
        self
    }

    /// Adds a source workload label.
    pub fn source_label(mut self, key: &str, value: &str) -> OwnedRequest {
        self.source_labels
            .insert(key.to_string(), value.to_string());
        self
    }
}

/// The port a request was addressed to: [`Request::port`] when the embedder knows the
/// listener's port, else the authority's port, else the scheme's (443 for `https`, 80
/// otherwise). A destination without a port of its own goes to this port (Envoy's cluster
/// `outbound|PORT|subset|host`).
///
/// # Example
/// ```
/// use meshroute::{OwnedRequest, addressed_port};
/// assert_eq!(addressed_port(&OwnedRequest::new("GET", "http://reviews:9080/")), 9080);
/// let mut r = OwnedRequest::new("GET", "/");
/// r.authority = "reviews".into();
/// r.port = None;
/// assert_eq!(addressed_port(&r), 80);
/// ```
pub fn addressed_port<R: Request + ?Sized>(req: &R) -> u16 {
    req.port()
        .or_else(|| authority_port(req.authority()))
        .unwrap_or_else(|| {
            if req.scheme().eq_ignore_ascii_case("https") {
                443
            } else {
                80
            }
        })
}

/// The port of an authority (`host:port`, `[v6]:port`), if it has one.
pub(crate) fn authority_port(authority: &str) -> Option<u16> {
    let (_, port) = split_port(authority);
    port
}

/// Splits `host:port` (also `[v6]:port`); the host keeps IPv6 brackets.
pub(crate) fn split_port(authority: &str) -> (&str, Option<u16>) {
    // From the end: digits, then `:`. Most authorities end in a letter and stop here at once.
    let b = authority.as_bytes();
    let mut i = b.len();
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i == 0 || b[i - 1] != b':' {
        return (authority, None);
    }
    let (host, port) = (&authority[..i - 1], &authority[i..]);
    // A bare IPv6 address (`::1`) has no port; a bracketed one (`[::1]:80`) may.
    if !host.ends_with(']') && host.bytes().any(|c| c == b':') {
        return (authority, None);
    }
    if port.is_empty() {
        return (host, None);
    }
    match port.parse::<u16>() {
        Ok(p) => (host, Some(p)),
        Err(_) => (authority, None),
    }
}

/// The headers of an [`OwnedRequest`], in arrival order, names as given.
///
/// Names and values sit in one buffer, as in a proxy's read buffer, and each header's place in
/// a small array beside it: looking a name up reads the array and the names of its length, not
/// one allocation per header.
///
/// # Example
/// ```
/// use meshroute::Headers;
/// let mut h = Headers::new();
/// h.push("End-User", "jason");
/// h.push("x-b", "1");
/// h.set("end-user", "mia");
/// assert_eq!(h.iter().collect::<Vec<_>>(), [("x-b", "1"), ("end-user", "mia")]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Each header's name and value, one after the other.
    text: String,
    /// Where each header is in `text`.
    spans: Vec<HeaderSpan>,
}

/// One header's place in [`Headers::text`]: the name at `start`, its value right after it,
/// up to where the next header starts (or the end). Two words: a lookup reads four headers'
/// places per cache line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HeaderSpan {
    start: usize,
    name_len: usize,
}

/// The header first in `spans` as `(name, value)`, and the rest; `end` is where the text of
/// the last of `spans` ends.
#[inline]
fn split_first_header<'a>(
    spans: &'a [HeaderSpan],
    text: &'a str,
    end: usize,
) -> Option<((&'a str, &'a str), &'a [HeaderSpan])> {
    let (s, rest) = spans.split_first()?;
    let value_end = rest.first().map_or(end, |n| n.start);
    let v = s.start + s.name_len;
    Some(((text.get(s.start..v)?, text.get(v..value_end)?), rest))
}

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Adds a header at the end (a repeated name adds another value).
    pub fn push(&mut self, name: &str, value: &str) {
        self.spans.push(HeaderSpan {
            start: self.text.len(),
            name_len: name.len(),
        });
        self.text.push_str(name);
        self.text.push_str(value);
    }

    /// Replaces every value of `name` (compared without case) by `value`, added at the end.
    pub fn set(&mut self, name: &str, value: &str) {
        self.retain(|n, _| !n.eq_ignore_ascii_case(name));
        self.push(name, value);
    }

    /// Keeps only the headers for which `keep(name, value)` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let old = std::mem::take(self);
        for (n, v) in old.iter() {
            if keep(n, v) {
                self.push(n, v);
            }
        }
    }

    /// Removes the header at position `index` (in arrival order); nothing when there is none.
    pub fn remove(&mut self, index: usize) {
        let mut i = 0;
        self.retain(|_, _| {
            i += 1;
            i - 1 != index
        });
    }

    /// The headers as `(name, value)`, in arrival order.
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter {
            spans: &self.spans,
            text: &self.text,
        }
    }

    /// How many headers (a name given twice counts twice).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// No header at all.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// The headers of [`Headers::iter`]: `(name, value)` in arrival order.
#[derive(Clone, Debug)]
pub struct HeaderIter<'a> {
    spans: &'a [HeaderSpan],
    text: &'a str,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let (header, rest) = split_first_header(self.spans, self.text, self.text.len())?;
        self.spans = rest;
        Some(header)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.spans.len(), Some(self.spans.len()))
    }
}

impl ExactSizeIterator for HeaderIter<'_> {}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Headers {
        let mut h = Headers::new();
        h.extend(iter);
        h
    }
}

impl<N: AsRef<str>, V: AsRef<str>> Extend<(N, V)> for Headers {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        for (n, v) in iter {
            self.push(n.as_ref(), v.as_ref());
        }
    }
}

/// Values of one header of an [`OwnedRequest`].
#[derive(Clone, Debug)]
pub struct OwnedValues<'a> {
    /// The headers not yet looked at.
    spans: &'a [HeaderSpan],
    text: &'a [u8],
    name: &'a str,
}

impl<'a> Iterator for OwnedValues<'a> {
    type Item = &'a [u8];
    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        let name = self.name.as_bytes();
        // Lengths first, from the array, then the bytes as sent, then without case: most names
        // differ in length, and most that are equal are sent in the case asked for.
        let mut spans = self.spans;
        while let [s, rest @ ..] = spans {
            spans = rest;
            if s.name_len != name.len() {
                continue;
            }
            let v = s.start + s.name_len;
            let Some(n) = self.text.get(s.start..v) else {
                continue;
            };
            if bytes_eq(n, name) || eq_ignore_case(n, name) {
                self.spans = spans;
                let end = spans.first().map_or(self.text.len(), |n| n.start);
                return Some(self.text.get(v..end).unwrap_or_default());
            }
        }
        self.spans = &[];
        None
    }
}

/// The rare case-insensitive comparison, out of the scanning loop.
#[inline(never)]
fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `a == b`, compared inline for the short strings of routing (header names, host names, trie
/// labels): a few word compares instead of a call to `memcmp`.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    #[inline(always)]
    fn w4(s: &[u8], i: usize) -> u32 {
        u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes"))
    }
    #[inline(always)]
    fn w8(s: &[u8], i: usize) -> u64 {
        u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"))
    }
    match n {
        0 => true,
        // Positions 0, n/2 and n-1 cover every byte of 1 to 3.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        // Two overlapping words cover the rest.
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        8..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
        _ => a == b,
    }
}

impl Request for OwnedRequest {
    type HeaderValues<'a> = OwnedValues<'a>;

    fn method(&self) -> &str {
        &self.method
    }
    fn scheme(&self) -> &str {
        &self.scheme
    }
    fn authority(&self) -> &str {
        &self.authority
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn header_values<'a>(&'a self, name: &'a str) -> OwnedValues<'a> {
        OwnedValues {
            spans: &self.headers.spans,
            text: self.headers.text.as_bytes(),
            name,
        }
    }
    fn port(&self) -> Option<u16> {
        self.port
    }
    fn source_label(&self, key: &str) -> Option<&str> {
        self.source_labels.get(key).map(String::as_str)
    }
    fn source_namespace(&self) -> &str {
        self.source_namespace
            .as_deref()
            .unwrap_or(DEFAULT_NAMESPACE)
    }
    fn source_ip(&self) -> Option<IpAddr> {
        self.source_ip
    }
    fn gateway(&self) -> Option<(&str, &str)> {
        self.gateway.as_ref().map(|(n, g)| (n.as_str(), g.as_str()))
    }
    fn jwt_claim(&self, path: &str) -> Option<&str> {
        self.jwt_claims.get(path).map(String::as_str)
    }
}

#[cfg(feature = "http")]
mod http_impl {
    use super::Request;

    /// Values of one header of an `http::Request`.
    pub type HttpValues<'a> = std::iter::Map<
        http::header::ValueIter<'a, http::HeaderValue>,
        fn(&'a http::HeaderValue) -> &'a [u8],
    >;

    fn bytes(v: &http::HeaderValue) -> &[u8] {
        v.as_bytes()
    }

    /// `http::Request` as a meshroute request. The scheme defaults to `http` and the authority
    /// comes from the URI or, failing that, the `host` header. Source information (labels,
    /// namespace, IP, gateway) is read from request extensions of type
    /// [`crate::request::SourceInfo`] when present.
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    impl<B> Request for http::Request<B> {
        type HeaderValues<'a>
            = HttpValues<'a>
        where
            Self: 'a;

        fn method(&self) -> &str {
            self.method().as_str()
        }
        fn scheme(&self) -> &str {
            self.uri().scheme_str().unwrap_or("http")
        }
        fn authority(&self) -> &str {
            match self.uri().authority() {
                Some(a) => a.as_str(),
                None => self
                    .headers()
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            }
        }
        fn path(&self) -> &str {
            self.uri().path_and_query().map_or("/", |p| p.as_str())
        }
        fn header_values<'a>(&'a self, name: &'a str) -> HttpValues<'a> {
            self.headers()
                .get_all(name)
                .iter()
                .map(bytes as fn(&'a http::HeaderValue) -> &'a [u8])
        }
        fn port(&self) -> Option<u16> {
            self.extensions()
                .get::<super::SourceInfo>()
                .and_then(|s| s.port)
                .or_else(|| self.uri().port_u16())
        }
        fn source_label(&self, key: &str) -> Option<&str> {
            self.extensions()
                .get::<super::SourceInfo>()
                .and_then(|s| s.labels.get(key))
                .map(String::as_str)
        }
        fn source_namespace(&self) -> &str {
            self.extensions()
                .get::<super::SourceInfo>()
                .and_then(|s| s.namespace.as_deref())
                .unwrap_or(super::DEFAULT_NAMESPACE)
        }
        fn source_ip(&self) -> Option<std::net::IpAddr> {
            self.extensions()
                .get::<super::SourceInfo>()
                .and_then(|s| s.ip)
        }
        fn gateway(&self) -> Option<(&str, &str)> {
            self.extensions()
                .get::<super::SourceInfo>()
                .and_then(|s| s.gateway.as_ref())
                .map(|(n, g)| (n.as_str(), g.as_str()))
        }
    }
}

/// Facts about where a request comes from, attached to an `http::Request` as an extension
/// (feature `http`).
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
#[derive(Clone, Debug, Default)]
pub struct SourceInfo {
    /// Destination (listener) port, overriding the URI's port.
    pub port: Option<u16>,
    /// Source workload labels.
    pub labels: BTreeMap<String, String>,
    /// Source namespace; `None` is [`crate::request::DEFAULT_NAMESPACE`].
    pub namespace: Option<String>,
    /// Source IP.
    pub ip: Option<IpAddr>,
    /// Gateway `(namespace, name)`; `None` for the mesh.
    pub gateway: Option<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_port_handles_v6_and_names() {
        assert_eq!(split_port("a.b:80"), ("a.b", Some(80)));
        assert_eq!(split_port("a.b"), ("a.b", None));
        assert_eq!(split_port("[::1]:8080"), ("[::1]", Some(8080)));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
        assert_eq!(split_port("::1"), ("::1", None));
        assert_eq!(split_port("a.b:"), ("a.b", None));
        assert_eq!(split_port("a.b:99999"), ("a.b:99999", None));
        assert_eq!(split_port("a.b:x1"), ("a.b:x1", None));
        assert_eq!(
            split_port("a.b:+80"),
            ("a.b:+80", None),
            "a port is digits only"
        );
        assert_eq!(split_port(":80"), ("", Some(80)));
        assert_eq!(split_port(""), ("", None));
    }

    #[test]
    fn bytes_eq_is_slice_equality() {
        let words: Vec<Vec<u8>> = (0..40)
            .flat_map(|n| {
                let base: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
                let mut variants = vec![base.clone()];
                for i in 0..n {
                    let mut v = base.clone();
                    v[i] ^= 0x20;
                    variants.push(v);
                }
                variants
            })
            .collect();
        for a in &words {
            for b in &words {
                assert_eq!(bytes_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    proptest::proptest! {
        /// `Headers` behaves as the list of pairs it stands for: pushes, removes, retains,
        /// sets, and lookups by name (empty names and values included).
        #[test]
        fn headers_behave_as_a_list_of_pairs(
            ops in proptest::collection::vec(
                (0u8..4, "[aAb]{0,2}", "[xy]{0,3}", 0usize..6), 0..24),
        ) {
            let mut h = Headers::new();
            let mut model: Vec<(String, String)> = Vec::new();
            for (op, n, v, i) in ops {
                match op {
                    0 => {
                        h.push(&n, &v);
                        model.push((n.clone(), v.clone()));
                    }
                    1 => {
                        h.remove(i);
                        if i < model.len() {
                            model.remove(i);
                        }
                    }
                    2 => {
                        h.retain(|name, value| name != n && value != v);
                        model.retain(|(name, value)| *name != n && *value != v);
                    }
                    _ => {
                        h.set(&n, &v);
                        model.retain(|(name, _)| !name.eq_ignore_ascii_case(&n));
                        model.push((n.clone(), v.clone()));
                    }
                }
                let pairs: Vec<(&str, &str)> =
                    model.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                proptest::prop_assert_eq!(h.iter().collect::<Vec<_>>(), pairs);
                proptest::prop_assert_eq!(h.len(), model.len());
                let r = OwnedRequest { headers: h.clone(), ..OwnedRequest::default() };
                for name in ["", "a", "A", "ab", "b"] {
                    let got: Vec<&[u8]> = r.header_values(name).collect();
                    let want: Vec<&[u8]> = model
                        .iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.as_bytes())
                        .collect();
                    proptest::prop_assert_eq!(got, want);
                }
            }
        }
    }

    #[test]
    fn owned_header_lookup_is_case_insensitive_and_multi_valued() {
        let r = OwnedRequest::new("GET", "/")
            .header("X-A", "1")
            .header("x-a", "2");
        let v: Vec<&[u8]> = r.header_values("x-a").collect();
        assert_eq!(v, vec![&b"1"[..], b"2"]);
    }
}
