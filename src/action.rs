//! What a matched rule does, as data borrowed by the decision: forward (to a weighted split),
//! redirect or direct response, with rewrite, timeout, retries, fault, mirrors, header
//! operations and CORS.

use std::time::Duration;

pub use crate::cors::Cors;
use crate::split::Split;

/// A destination service (and subset and port).
// Laid out in declaration order: what a decision reads (subset, port, availability, cluster)
// first, in one cache line with the start of the destination.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[repr(C)]
pub struct Destination {
    /// DestinationRule subset.
    pub subset: Option<Box<str>>,
    /// Service port: as configured, or the destination Service's only port; `None` when the
    /// request's own port is used (see [`PortFrom`] and [`crate::Decision::port`]).
    pub port: Option<u16>,
    /// Where the port comes from.
    pub port_from: PortFrom,
    /// Why requests sent here cannot be served, when they cannot (an undefined subset, a
    /// missing or forbidden backend); `None` for a usable destination.
    pub unavailable: Option<Unavailable>,
    /// The (host, subset) cluster of this destination in [`crate::Table::clusters`].
    pub cluster: u32,
    /// Fully qualified host (short names expanded with the rule's namespace).
    pub host: Box<str>,
    /// Header operations for this destination.
    pub headers: HeaderOps,
}

/// Where the port a destination is sent to comes from, as istiod's `GetDestinationCluster`
/// (istio/istio `pilot/pkg/networking/core/route/route.go`) picks the cluster
/// `outbound|PORT|subset|host`: the destination's `port`, else the Service's port when it has
/// exactly one, else the port the request was addressed to (the listener's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortFrom {
    /// `destination.port` (Istio) or `backendRef.port` (Gateway API).
    Configured,
    /// The destination Service's only port, from a `Service` resource in the configuration.
    ServiceOnlyPort,
    /// The port the request was addressed to: known only per request.
    Request,
}

impl PortFrom {
    /// Where the port comes from, in words.
    pub fn describe(self) -> &'static str {
        match self {
            PortFrom::Configured => "the destination's port",
            PortFrom::ServiceOnlyPort => "the Service's only port",
            PortFrom::Request => "the port the request was addressed to",
        }
    }
}

/// Why a destination cannot take requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// No DestinationRule defines the subset: its cluster does not exist (503, Envoy `NC`).
    UndefinedSubset,
    /// The backend Service is not in the configuration (Gateway API `BackendNotFound`, 500).
    BackendNotFound,
    /// A cross-namespace backend without a ReferenceGrant (`RefNotPermitted`, 500).
    RefNotPermitted,
    /// A backend kind meshroute cannot route to (`InvalidKind`, 500).
    InvalidKind,
    /// The backendRef has a filter meshroute cannot apply (only the header modifiers are
    /// applied per backend): the filter must not be skipped, so its requests get 500.
    UnsupportedFilter,
}

impl Unavailable {
    /// The reason in the words of the API it comes from.
    pub fn reason(self) -> &'static str {
        match self {
            Unavailable::UndefinedSubset => "UndefinedSubset",
            Unavailable::BackendNotFound => "BackendNotFound",
            Unavailable::RefNotPermitted => "RefNotPermitted",
            Unavailable::InvalidKind => "InvalidKind",
            Unavailable::UnsupportedFilter => "UnsupportedFilter",
        }
    }
}

/// A destination with its configured weight.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WeightedDestination {
    /// The destination.
    pub destination: Destination,
    /// Weight as configured (a single destination gets all traffic whatever its weight).
    pub weight: u32,
}

/// What the rule does.
#[allow(clippy::large_enum_variant)] // one per rule, borrowed by decisions; boxing adds a hop
#[derive(Clone, Debug)]
#[non_exhaustive]
// The tag first, on the rule's first line: left to itself the compiler keeps it in a niche of
// a field far down the forward (a timeout), a cache line a decision would not read otherwise.
#[repr(u8)]
pub enum Action {
    /// Forward to one of the destinations.
    Forward(Forward),
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer with a fixed response.
    DirectResponse(DirectResponse),
}

/// Forwarding: the split and everything applied on the way. What most rules leave unset
/// (rewrite, retries, fault, CORS, sticky key) is boxed, so an unset one costs a pointer.
// Laid out in declaration order: the destinations, the split and the parts a decision checks
// (session, sticky key, fault, mirrors) first, next to each other.
#[derive(Clone, Debug)]
#[non_exhaustive]
#[repr(C)]
pub struct Forward {
    /// Destinations in declaration order.
    pub destinations: Box<[WeightedDestination]>,
    /// Cumulative weights over `destinations`.
    pub split: Split,
    /// Session persistence (Gateway API `sessionPersistence`): a request carrying a valid
    /// session goes to the backend its session names, whatever the split says.
    pub session: Option<Box<Session>>,
    /// Sticky split: the destination is picked from this request key's hash instead of the
    /// random draw, when the request carries the key.
    pub sticky: Option<Box<crate::hash::KeySource>>,
    /// Fault injection.
    pub fault: Option<Box<Fault>>,
    /// Mirrors, each with its share.
    pub mirrors: Box<[Mirror]>,
    /// Path and authority rewrite.
    pub rewrite: Option<Box<Rewrite>>,
    /// Request timeout; `None` means disabled (Istio's default).
    pub timeout: Option<Duration>,
    /// Timeout of each request to a backend (Gateway API `timeouts.backendRequest`).
    pub backend_timeout: Option<Duration>,
    /// Retry policy; `None` when retries are disabled (`attempts: 0`). Shared: every Istio
    /// rule without `retries` holds the one mesh default.
    pub retries: Option<std::sync::Arc<Retries>>,
    /// CORS policy, which Envoy's CORS filter applies before the route's action runs (see
    /// [`crate::cors`] and [`crate::Decision::cors`]). Envoy's filter skips redirect and
    /// direct-response routes, so only forwarding rules carry one.
    pub cors: Option<Box<Cors>>,
    /// The status of requests the split cannot serve: every weight 0, or the picked destination
    /// unavailable (Istio 503; Gateway API HTTPRoute 500, GRPCRoute 503 = gRPC UNAVAILABLE).
    pub unavailable_status: u16,
}

/// Session persistence of a rule, lowered from a Gateway API `sessionPersistence`.
///
/// # Semantics
/// The model is Envoy's stateful session filter (`envoy.filters.http.stateful_session`, with
/// the cookie or header session state of `source/extensions/http/stateful_session/{cookie,
/// header}`), which is how Envoy Gateway and Istio realise `sessionPersistence`, over the
/// rule's split as GEP-1619 ("Traffic Splitting") asks:
/// - The session value names where the session lives: the base64 of Envoy's `Cookie` message
///   (field 1 `address`, field 2 `expires`), or, in Envoy's older form, the base64 of the
///   address alone. Envoy writes the upstream endpoint's `ip:port` there; meshroute pins a
///   backend (a rule's destination), so it writes the backend's identity, `host:port`
///   ([`Session::backend_address`]). With a [`Router`](crate::registry::Router) the pinned
///   backend's own balancer still picks the endpoint (endpoint pins are not done).
/// - A request whose value names one of the rule's backends goes there, even one of weight 0
///   (GEP-1619: "the persistence to a single backend MUST be maintained across services, even
///   if the weight is set to 0"), unless that backend cannot serve (then the split picks).
/// - A request without the cookie or header, with an empty or undecodable value, or with a
///   value that names nothing the rule sends to (or a backend that cannot serve) is a new
///   session: the split picks, and the answer says what to send back so the next request
///   sticks: a `Set-Cookie` (`name="value"; Max-Age=N; Path=P; HttpOnly`, Envoy's
///   `Http::Utility::makeSetCookieValue`) or, for a `Header` session, the response header
///   `name: value` (Envoy's header session state). A request already pinned gets nothing to
///   send, as Envoy writes the cookie only when the host differs from the one it was sent.
/// - The cookie's `Path` is `cookie.path` when written, else the path the rule matched by
///   (GEP-1619 "Path", as Envoy Gateway's `routePathToCookiePath`): the prefix or exact
///   value, for a regular expression its longest leading run without regex syntax cut back
///   to a `/` boundary, `/` for a rule without matches.
/// - `Max-Age` is `absoluteTimeout` for a `Permanent` cookie; a `Session` cookie has none.
///   Timeouts the gateway tracks (`absoluteTimeout` of a session cookie, `idleTimeout`) are
///   kept here but not enforced: meshroute has no clock and writes no expiry into the value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// Cookie or header.
    pub kind: SessionKind,
    /// The cookie or header name: `sessionName` (or `cookie.name`, `header.name`), else
    /// [`Session::default_name`] of the rule.
    pub name: Box<str>,
    /// `cookie.path` when written; `None`: the path the rule matched by.
    pub path: Option<Box<str>>,
    /// The cookie's `Max-Age` (a `Permanent` cookie's `absoluteTimeout`).
    pub max_age: Option<Duration>,
    /// `absoluteTimeout` as written.
    pub absolute_timeout: Option<Duration>,
    /// `idleTimeout` as written.
    pub idle_timeout: Option<Duration>,
}

/// How a session travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionKind {
    /// A cookie set by `Set-Cookie`.
    Cookie,
    /// A header the client copies from the response into its next requests.
    Header,
}

impl SessionKind {
    /// `Cookie` or `Header`, as the Gateway API writes it.
    pub fn name(self) -> &'static str {
        match self {
            SessionKind::Cookie => "Cookie",
            SessionKind::Header => "Header",
        }
    }
}

impl Session {
    /// The name meshroute gives a session whose `sessionName` is unset: `session-` and 16 hex
    /// digits of XXH64 over `KIND/namespace/name/index` of the route rule, so two rules never
    /// share a session (GEP-1619: "Route rules referencing the same service MUST NOT share
    /// persistent sessions") and a rebuilt table keeps the name.
    pub fn default_name(kind: &str, namespace: &str, route: &str, rule: usize) -> String {
        let key = format!("{kind}/{namespace}/{route}/{rule}");
        format!("session-{:016x}", crate::hash::xxhash64(key.as_bytes(), 0))
    }

    /// The address a backend-level session value carries for `destination`: `host:port`, or
    /// the host alone when the port comes from the request.
    pub fn backend_address(destination: &Destination) -> String {
        match destination.port {
            Some(p) => format!("{}:{p}", destination.host),
            None => destination.host.to_string(),
        }
    }
}

/// Rewrite applied before forwarding.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Rewrite {
    /// New path.
    pub path: Option<PathRewrite>,
    /// New authority.
    pub authority: Option<Box<str>>,
}

/// How the path is rewritten.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PathRewrite {
    /// Replace the prefix the block matched (Istio `rewrite.uri`, Gateway API
    /// `ReplacePrefixMatch`); when the block did not match by prefix, the whole path.
    MatchedPrefix(Box<str>),
    /// Replace the whole path (Gateway API `ReplaceFullPath`).
    Full(Box<str>),
    /// Replace every match of a regex (Istio `uriRegexRewrite`).
    Regex(RegexRewrite),
}

impl PathRewrite {
    /// The new path for `path` (without query), given the prefix the block matched by, if it
    /// matched by prefix; `segments` says the prefix is Gateway API's segment prefix. Allocates;
    /// for tools, not for the decision path.
    pub fn apply(&self, path: &str, matched_prefix: Option<&str>, segments: bool) -> String {
        match self {
            PathRewrite::Full(p) => p.to_string(),
            PathRewrite::Regex(r) => r.apply(path),
            PathRewrite::MatchedPrefix(new) => match matched_prefix {
                None => new.to_string(),
                Some(prefix) => {
                    let n = prefix.len().min(path.len());
                    let rest = &path[n..];
                    if !segments {
                        return format!("{new}{rest}");
                    }
                    // Segment prefix: `/foo` → `/bar` turns `/foo/x` into `/bar/x`; a `/`
                    // replacement does not double the slash, and the result is never empty.
                    let new = new.trim_end_matches('/');
                    let out = format!("{new}{rest}");
                    if out.is_empty() {
                        "/".to_string()
                    } else if out.starts_with('/') {
                        out
                    } else {
                        format!("/{out}")
                    }
                }
            },
        }
    }
}

/// `uriRegexRewrite`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegexRewrite {
    /// The pattern, read in RE2's dialect (as Envoy's RE2 reads it) and compiled by the
    /// `regex` crate from its translation.
    pub pattern: regex::Regex,
    /// The replacement as written (`\1` style).
    pub rewrite: Box<str>,
}

impl RegexRewrite {
    /// Applies the rewrite to `path` (allocates; not on the decision path).
    pub fn apply(&self, path: &str) -> String {
        // RE2 writes groups as \1 and a backslash as \\ (RE2::Rewrite); the regex crate
        // writes groups as ${1}.
        let mut repl = String::with_capacity(self.rewrite.len());
        let mut chars = self.rewrite.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                    let d = chars.next().unwrap_or('0');
                    repl.push_str("${");
                    repl.push(d);
                    repl.push('}');
                }
                '\\' if chars.peek() == Some(&'\\') => {
                    chars.next();
                    repl.push('\\');
                }
                '$' => repl.push_str("$$"),
                _ => repl.push(c),
            }
        }
        self.pattern.replace_all(path, repl.as_str()).into_owned()
    }
}

/// Retry policy (Istio's mesh default when the rule sets none). [`Retries::after`] says what
/// Envoy's router does with one try's result ([`crate::retry`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retries {
    /// Number of retries.
    pub attempts: u32,
    /// Timeout per try.
    pub per_try_timeout: Option<Duration>,
    /// Retry conditions, comma-separated, as Envoy's `retry_on` (for Istio, HTTP status
    /// codes written in `retryOn` move to [`Retries::retriable_status_codes`]).
    pub retry_on: Box<str>,
    /// [`Retries::retry_on`] parsed once, for [`Retries::after`].
    pub on: crate::retry::RetryOn,
    /// Envoy's `retriable_status_codes`: the status codes Istio's `retryOn` lists.
    pub retriable_status_codes: Vec<u16>,
    /// Whether to retry in other localities.
    pub retry_remote_localities: Option<bool>,
    /// `retryIgnorePreviousHosts` as written: whether to avoid hosts already tried (Envoy's
    /// previous-hosts predicate); unset is Istio's default, true, except for a route to one
    /// consistent-hash destination, where istiod leaves the predicate out
    /// ([`crate::registry::Router::retry_verdict`]). [`Retries::avoids_previous_hosts`] reads it.
    pub retry_ignore_previous_hosts: Option<bool>,
    /// How many times the load balancer picks again to avoid a host already tried (Envoy's
    /// `host_selection_retry_max_attempts`; istiod sets 5).
    pub host_selection_attempts: u32,
    /// Base interval between retries.
    pub backoff: Option<Duration>,
    /// Whether this is the mesh default (the rule had no `retries`).
    pub is_default: bool,
}

impl Retries {
    /// Whether retries avoid the hosts already tried, as the route writes it (unset: true).
    pub fn avoids_previous_hosts(&self) -> bool {
        self.retry_ignore_previous_hosts.unwrap_or(true)
    }

    /// Istio's mesh default (istiod `retry.DefaultPolicy`): 2 attempts on connect-failure,
    /// refused-stream, unavailable, cancelled and retriable status codes, avoiding previous
    /// hosts. istiod lists no retriable status code any more (releases before 2024 listed
    /// 503), so `retriable-status-codes` matches nothing here.
    pub fn mesh_default() -> Retries {
        Retries {
            attempts: 2,
            per_try_timeout: None,
            retry_on: DEFAULT_RETRY_ON.into(),
            on: crate::retry::RetryOn::parse(DEFAULT_RETRY_ON),
            retriable_status_codes: Vec::new(),
            retry_remote_localities: None,
            retry_ignore_previous_hosts: None,
            host_selection_attempts: crate::retry::HOST_SELECTION_ATTEMPTS,
            backoff: None,
            is_default: true,
        }
    }
}

/// Istio's default `retryOn`.
pub const DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

/// gRPC status code names accepted by `fault.abort.grpcStatus`, each at the index of its
/// numeric code (`UNAVAILABLE` is 14).
pub const GRPC_STATUS_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Fault injection of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// Delay and its share of requests (per million).
    pub delay: Option<(Duration, u32)>,
    /// Abort and its share of requests (per million).
    pub abort: Option<(Abort, u32)>,
}

/// How an injected abort answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Abort {
    /// An HTTP status.
    Http(u16),
    /// A gRPC status name, e.g. `UNAVAILABLE`.
    Grpc(Box<str>),
}

/// A mirror destination and its share of requests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mirror {
    /// Where copies go.
    pub destination: Destination,
    /// Share of requests mirrored, per million.
    pub per_million: u32,
}

/// Header operations on the request and the response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderOps {
    /// Request operations.
    pub request: HeaderEdits,
    /// Response operations.
    pub response: HeaderEdits,
}

impl HeaderOps {
    /// Whether there is no operation.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

/// `set`, `add`, `remove`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderEdits {
    /// Overwrite.
    pub set: Box<[(Box<str>, Box<str>)]>,
    /// Append.
    pub add: Box<[(Box<str>, Box<str>)]>,
    /// Remove.
    pub remove: Box<[Box<str>]>,
}

impl HeaderEdits {
    /// Whether there is no operation.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// A redirect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redirect {
    /// New path.
    pub uri: Option<Box<str>>,
    /// Replacement of the matched prefix.
    pub prefix_rewrite: Option<Box<str>>,
    /// New authority.
    pub authority: Option<Box<str>>,
    /// New scheme.
    pub scheme: Option<Box<str>>,
    /// Port of the redirect URL.
    pub port: RedirectPort,
    /// Status code: 301, 302, 303, 307 or 308.
    pub code: u16,
}

/// The port of a redirect URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectPort {
    /// Keep the request's port (Envoy's default).
    Unchanged,
    /// A fixed port.
    Port(u16),
    /// The port the request arrived on.
    FromRequest,
    /// The scheme's default port (dropped from the URL).
    FromProtocolDefault,
}

/// A fixed response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Option<Vec<u8>>,
}
