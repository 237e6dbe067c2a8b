//! The answer for one request, borrowed from the table.

use std::time::Duration;

use crate::action::{
    Abort, Action, Destination, Forward, Mirror, Unavailable, WeightedDestination,
};
use crate::block::Block;
use crate::predicate::normalize::{MAX_PATH_LEN, PathNormalization};
use crate::request::addressed_port;
use crate::rule::{Rule, Source};
use crate::session::{SessionAnswer, SessionState};

/// The rolls, in parts per million, that decide a forwarding rule's faults and mirrors for
/// one request: each a function of the request's draw alone, so a test that pins the draw
/// pins them too. A fault or mirror with share `s` (per million) hits when its roll is `< s`.
/// Delay and abort mix the draw each with its own salt (SplitMix64's finalizer), so they are
/// independent of each other and of the split (Envoy's fault filter rolls each against its own
/// random number). Every mirror shares one roll, `draw % 10^6`, as Envoy's router rolls every
/// `request_mirror_policies` fraction against the stream's one random value, the same value
/// that picks the weighted cluster (`random % Σweights`): a mirror at 10 % sees a subset of the
/// requests one at 20 % sees, and mirrors correlate with the split (SEMANTICS §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rolls(pub(crate) u64);

impl Rolls {
    /// The delay fault's roll.
    #[inline]
    pub(crate) fn delay(self) -> u64 {
        mix(self.0, 1) % 1_000_000
    }

    /// The abort fault's roll.
    #[inline]
    pub(crate) fn abort(self) -> u64 {
        mix(self.0, 2) % 1_000_000
    }

    /// Every mirror's roll: the draw itself, as Envoy's stream id.
    #[inline]
    pub(crate) fn mirror(self) -> u64 {
        self.0 % 1_000_000
    }
}

/// Mixes the request's draw for a second, independent use (SplitMix64 finalizer).
pub(crate) fn mix(draw: u64, salt: u64) -> u64 {
    let mut z = draw ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The decision for one request.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Decision<'t> {
    /// What happened.
    pub outcome: Outcome<'t>,
    /// The request's draw that drove every random choice.
    pub draw: u64,
    /// The port the request is sent to when it is forwarded (or passed through): Envoy's
    /// cluster `outbound|PORT|subset|host`. The destination's port, else its Service's only
    /// port, else the port the request was addressed to ([`crate::action::PortFrom`]); `None`
    /// when nothing is forwarded.
    pub port: Option<u16>,
    /// The table's path normalization, for [`Decision::forward_path`].
    pub(crate) normalization: &'t PathNormalization,
    /// The table's default retry policy (the mesh config's `defaultHttpRetryPolicy`, else
    /// Istio's built-in default), for [`Decision::retries`] on the mesh default route.
    pub(crate) default_retries: Option<&'t crate::action::Retries>,
}

/// What happened to the request.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Outcome<'t> {
    /// A rule matched.
    Matched(Matched<'t>),
    /// The host has VirtualService rules but none matched: 404 (Envoy flag `NR`).
    NoRoute {
        /// The virtual host.
        host: &'t str,
    },
    /// No VirtualService claims the host and the request comes from a sidecar: the mesh
    /// default route, straight to the addressed service. When the table knows the registry
    /// (the input holds a Service or a ServiceEntry), the host is one it defines; otherwise
    /// every such request is this.
    Passthrough,
    /// No VirtualService claims the host, the request comes from a sidecar, and no loaded
    /// Service or ServiceEntry visible to its namespace defines the host at its port, under
    /// the `ALLOW_ANY` outbound traffic policy: the catch-all route `allow_any` forwards it to
    /// the address the client asked for, Envoy's `PassthroughCluster` (istio/istio
    /// `pilot/pkg/networking/core/httproute.go`, `buildCatchAllVirtualHost`).
    PassthroughCluster,
    /// As [`Outcome::PassthroughCluster`], under the `REGISTRY_ONLY` outbound traffic policy:
    /// the catch-all route `block_all` answers 502, as Istio reports it against
    /// `BlackHoleCluster`.
    BlackHole,
    /// At a gateway, no VirtualService claims the host (or the gateway is unknown): 404.
    NoVirtualHost,
    /// The path is refused by the table's path normalization (`%00`, a rejected escaped slash
    /// or fragment, an over-long path): 400, before any routing.
    BadRequest {
        /// Why.
        reason: &'static str,
    },
}

impl Outcome<'_> {
    /// Every outcome's label, in [`Outcome::index`] order.
    pub const LABELS: [&'static str; 7] = [
        "matched",
        "no_route",
        "no_virtual_host",
        "passthrough",
        "bad_request",
        "passthrough_cluster",
        "black_hole",
    ];

    /// The outcome's name, as metrics, traces and explanations label it (one of
    /// [`Outcome::LABELS`]).
    pub fn label(&self) -> &'static str {
        Self::LABELS[self.index()]
    }

    /// The outcome's position in [`Outcome::LABELS`].
    pub fn index(&self) -> usize {
        match self {
            Outcome::Matched(_) => 0,
            Outcome::NoRoute { .. } => 1,
            Outcome::NoVirtualHost => 2,
            Outcome::Passthrough => 3,
            Outcome::BadRequest { .. } => 4,
            Outcome::PassthroughCluster => 5,
            Outcome::BlackHole => 6,
        }
    }

    /// For the mesh catch-all outcomes, Envoy's names: `(route, cluster)`, that is
    /// `("allow_any", "PassthroughCluster")` for [`Outcome::PassthroughCluster`] and
    /// `("block_all", "BlackHoleCluster")` for [`Outcome::BlackHole`]; `None` otherwise.
    pub fn catch_all(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Outcome::PassthroughCluster => Some(("allow_any", "PassthroughCluster")),
            Outcome::BlackHole => Some(("block_all", "BlackHoleCluster")),
            _ => None,
        }
    }
}

/// A matched rule and what it does to this request.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Matched<'t> {
    /// The resource the rule comes from.
    pub source: &'t Source,
    /// The rule.
    pub rule: &'t Rule,
    /// The index of the match block that matched (`None` for a rule without blocks).
    pub block: Option<u16>,
    /// The destination picked by the split (forwarding rules only).
    pub destination: Option<&'t WeightedDestination>,
    /// Why the picked destination cannot serve this request, when it cannot: its own reason
    /// ([`Destination::unavailable`]), or [`Unavailable::UndefinedSubset`] when the
    /// DestinationRule this request's client sees (its namespace and labels: `exportTo`,
    /// `workloadSelector`) does not define the subset, though another rule does (Envoy has no
    /// such cluster for that client: 503, `NC`).
    pub unavailable: Option<Unavailable>,
    /// Injected delay, when this request is hit.
    pub delay: Option<Duration>,
    /// Injected abort, when this request is hit.
    pub abort: Option<&'t Abort>,
    /// Bit `i` set when mirror `i` receives a copy of this request.
    pub mirrored: u64,
    /// The request key's hash when a sticky split picked the destination.
    pub sticky_hash: Option<u64>,
    /// What the request's session said, when the rule has session persistence
    /// ([`crate::action::Session`]): [`SessionState::Pinned`] when it chose the destination.
    pub session: Option<SessionState>,
    /// For a connection ([`crate::Table::decide_connection`]): the `tls` or `tcp` rule that
    /// decided it and its match; `None` for a request.
    pub connection: Option<crate::l4::ConnectionMatch<'t>>,
}

impl<'t> Matched<'t> {
    /// The route name as Envoy logs it ([`Rule::route_name`]). Read from the table when
    /// asked, not while deciding.
    pub fn route_name(&self) -> &'t str {
        self.rule.route_name(self.block)
    }
}

/// Most mirrors a rule may have (bits of [`Matched::mirrored`]).
pub const MAX_MIRRORS: usize = 64;

impl<'t> Decision<'t> {
    /// The decision for `rule` (from `source`) matching `req` at `block`: the split's pick,
    /// the fault and mirror rolls, and the port it is sent to.
    pub(crate) fn from_match<R: crate::Request + ?Sized>(
        source: &'t Source,
        normalization: &'t PathNormalization,
        default_retries: Option<&'t crate::action::Retries>,
        rule: &'t Rule,
        block: Option<u16>,
        req: &R,
        draw: u64,
    ) -> Decision<'t> {
        let mut m = Matched {
            source,
            rule,
            block,
            destination: None,
            unavailable: None,
            delay: None,
            abort: None,
            mirrored: 0,
            sticky_hash: None,
            session: None,
            connection: None,
        };
        if let Action::Forward(f) = &rule.action
            && rule.plain
        {
            // One destination, which gets every request, and nothing else to decide.
            m.destination = f.destinations.first();
            m.unavailable = m.destination.and_then(|w| w.destination.unavailable);
        } else if let Action::Forward(f) = &rule.action {
            // A session names its backend; without a valid one, the split picks.
            let pinned = f.session.as_ref().and_then(|s| {
                let (state, j) = crate::session::pin(s, &f.destinations, req);
                m.session = Some(state);
                j
            });
            // Sticky: the request key's hash picks the destination; without the key, the draw.
            if pinned.is_none() {
                m.sticky_hash = f.sticky.as_ref().and_then(|k| k.hash(req));
            }
            let pick = match (pinned, m.sticky_hash) {
                (Some(j), _) => Some(j),
                (None, Some(h)) => f.split.pick_sticky(h),
                (None, None) => f.split.pick(draw),
            };
            m.destination = pick.map(|j| &f.destinations[j]);
            m.unavailable = m.destination.and_then(|w| w.destination.unavailable);
            let rolls = Rolls(draw);
            if let Some(fault) = &f.fault {
                if let Some((d, share)) = &fault.delay
                    && rolls.delay() < u64::from(*share)
                {
                    m.delay = Some(*d);
                }
                if let Some((a, share)) = &fault.abort
                    && rolls.abort() < u64::from(*share)
                {
                    m.abort = Some(a);
                }
            }
            for (i, mirror) in f.mirrors.iter().enumerate().take(MAX_MIRRORS) {
                if rolls.mirror() < u64::from(mirror.per_million) {
                    m.mirrored |= 1 << i;
                }
            }
        }
        let port = m
            .destination
            .map(|w| w.destination.port.unwrap_or_else(|| addressed_port(req)));
        Decision {
            outcome: Outcome::Matched(m),
            draw,
            port,
            normalization,
            default_retries,
        }
    }

    /// The decision for the connection rule `l4` (from `source`) matching `conn` at `block`:
    /// the split's pick (by the draw) and the port the connection is sent to. No HTTP actions.
    pub(crate) fn from_connection<C: crate::Connection + ?Sized>(
        source: &'t Source,
        normalization: &'t PathNormalization,
        l4: &'t crate::l4::L4Rule,
        block: Option<u16>,
        conn: &C,
        draw: u64,
    ) -> Decision<'t> {
        let rule = &l4.rule;
        let destination = match &rule.action {
            Action::Forward(f) => f.split.pick(draw).map(|j| &f.destinations[j]),
            _ => None,
        };
        let m = Matched {
            source,
            rule,
            block: None,
            destination,
            delay: None,
            abort: None,
            mirrored: 0,
            sticky_hash: None,
            session: None,
            // What the compile knows; the per-client DestinationRule view is not applied to
            // connections.
            unavailable: destination.and_then(|w| w.destination.unavailable),
            connection: Some(crate::l4::ConnectionMatch { rule: l4, block }),
        };
        let port = destination.map(|w| w.destination.port.unwrap_or_else(|| conn.port()));
        Decision {
            // A connection has no HTTP retry policy.
            default_retries: None,
            outcome: Outcome::Matched(m),
            draw,
            port,
            normalization,
        }
    }

    /// The path to forward: `(path, query)`, the path as the rules saw it (normalized as the
    /// table says: Envoy forwards the normalized path, so the backend reads what routing read)
    /// and the query as sent (with its `?`, or empty). `raw` is the request's `:path`, as given
    /// to `decide`; `None` when the path is refused ([`Outcome::BadRequest`]). Allocates
    /// nothing: the path is the request's own when it needed no work, else written into `buf`.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Table};
    /// use meshroute::predicate::normalize::MAX_PATH_LEN;
    /// let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml"))?;
    /// let raw = "/reviews/../%61pi/v1?x=%2e";
    /// let d = table.decide_with_draw(&OwnedRequest::new("GET", "http://reviews").header("x", "1"), 0);
    /// let mut buf = [0u8; MAX_PATH_LEN];
    /// assert_eq!(d.forward_path(raw, &mut buf), Some(("/api/v1", "?x=%2e")));
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn forward_path<'a>(
        &self,
        raw: &'a str,
        buf: &'a mut [u8; MAX_PATH_LEN],
    ) -> Option<(&'a str, &'a str)> {
        let query = crate::predicate::path::query_of(raw);
        let path = match self.normalization.clean_path(raw) {
            Some(p) => p,
            None => self.normalization.apply(raw, buf).ok()?,
        };
        Some((path, query))
    }

    /// The HTTP status the request gets from routing: 200 when forwarded (or passed through),
    /// 502 for a host the registry does not define under `REGISTRY_ONLY`, 404 when nothing
    /// matched, the redirect or direct-response code, an injected abort's
    /// HTTP status (a gRPC abort answers 200 with a grpc-status), the status of an unavailable
    /// destination (503 for a subset no DestinationRule defines, 500 for a missing or
    /// forbidden Gateway API backend), or 500 when every backend has weight 0.
    pub fn status(&self) -> u16 {
        match &self.outcome {
            Outcome::Matched(m) => match &m.rule.action {
                Action::Redirect(r) => r.code,
                Action::DirectResponse(d) => d.status,
                Action::Forward(f) => match (m.abort, m.destination) {
                    (Some(Abort::Http(code)), _) => *code,
                    (_, Some(_)) if m.unavailable.is_none() => 200,
                    // The picked destination cannot serve, or every weight is 0.
                    _ => f.unavailable_status,
                },
            },
            Outcome::NoRoute { .. } | Outcome::NoVirtualHost => 404,
            Outcome::BadRequest { .. } => 400,
            Outcome::Passthrough | Outcome::PassthroughCluster => 200,
            Outcome::BlackHole => 502,
        }
    }

    /// The matched rule, if any.
    pub fn matched(&self) -> Option<&Matched<'t>> {
        match &self.outcome {
            Outcome::Matched(m) => Some(m),
            _ => None,
        }
    }

    /// The picked destination, if the request is forwarded by a rule.
    pub fn destination(&self) -> Option<&'t Destination> {
        self.matched()
            .and_then(|m| m.destination)
            .map(|w| &w.destination)
    }

    /// The forwarding action of the matched rule, if it forwards.
    pub fn forward(&self) -> Option<&'t Forward> {
        match self.matched()?.rule.action {
            Action::Forward(ref f) => Some(f),
            _ => None,
        }
    }

    /// The retry policy Envoy applies to this request: the matched rule's (`None` when it
    /// has none, e.g. `attempts: 0`), or on the mesh default route the table's default (the
    /// mesh config's `defaultHttpRetryPolicy`, else Istio's built-in default; istiod
    /// route.go `BuildDefaultHTTPOutboundRoute`); `None` when nothing is forwarded, and on the
    /// `allow_any` route to `PassthroughCluster`, which istiod builds without one.
    pub fn retries(&self) -> Option<&'t crate::action::Retries> {
        match &self.outcome {
            Outcome::Passthrough => self.default_retries,
            _ => self.forward()?.retries.as_deref(),
        }
    }

    /// What Envoy's router does after try number `attempt` (from 1) of this request ended
    /// with `result`, `elapsed` after the request started: [`crate::action::Retries::after`]
    /// under the rule's route timeout (none on the mesh default route). A forwarded request
    /// without a retry policy gets [`RetryReason::NoPolicy`](crate::retry::RetryReason);
    /// `None` when nothing is forwarded (a redirect, a direct response, an abort, no route).
    /// `draw` drives the backoff's jitter. Allocates nothing.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use meshroute::retry::UpstreamResult;
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml"))?;
    /// let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    /// let d = table.decide_with_draw(&req, 7);
    /// // Istio's mesh default retries a refused connection.
    /// let v = d.retry_after(&UpstreamResult::ConnectFailure, 1, Duration::ZERO, 7).unwrap();
    /// assert!(v.retry);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry_after(
        &self,
        result: &crate::retry::UpstreamResult,
        attempt: u32,
        elapsed: Duration,
        draw: u64,
    ) -> Option<crate::retry::RetryVerdict> {
        let overall = match &self.outcome {
            Outcome::Passthrough | Outcome::PassthroughCluster => None,
            Outcome::Matched(m) if m.abort.is_none() && self.status() == 200 => {
                self.forward()?.timeout
            }
            _ => return None,
        };
        Some(match self.retries() {
            Some(r) => r.after(result, attempt, elapsed, overall, draw),
            None => {
                crate::retry::RetryVerdict::no_policy(overall.map(|o| o.saturating_sub(elapsed)))
            }
        })
    }

    /// The mirrors that receive a copy of this request.
    pub fn mirrors(&self) -> impl Iterator<Item = &'t Mirror> + use<'t> {
        let (mirrors, bits): (&'t [Mirror], u64) = match (self.forward(), self.matched()) {
            (Some(f), Some(m)) => (&f.mirrors, m.mirrored),
            _ => (&[], 0),
        };
        mirrors
            .iter()
            .enumerate()
            .filter(move |(i, _)| bits & (1 << i) != 0)
            .map(|(_, m)| m)
    }

    /// What Envoy's CORS filter does with `req` under the matched rule's CORS policy
    /// ([`crate::cors`]); `None` when the filter does nothing: no forwarding rule matched, the
    /// rule has no `corsPolicy` (or Gateway API `CORS` filter), or an injected abort answered
    /// first (Istio places the fault filter before the CORS filter).
    ///
    /// A preflight the filter answers ([`crate::cors::CorsAnswer::answered`]) gets 200 with
    /// the answer's headers and goes no further: the route's destination, retries and mirrors
    /// do not apply to it. [`Decision::status`] stays the status routing gives, since it does
    /// not see the request; the `decide` tool and [`crate::Table::explain`] report the 200.
    /// `req` must be the request this decision was made for. Allocates nothing.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Table};
    /// use meshroute::cors::CorsKind;
    /// let table = Table::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: api, namespace: default}
    /// spec:
    ///   hosts: [api]
    ///   http:
    ///   - corsPolicy:
    ///       allowOrigins: [{exact: "https://app.example.com"}]
    ///       allowCredentials: true
    ///       exposeHeaders: [x-request-id]
    ///     route: [{destination: {host: api}}]
    /// "#)?;
    /// let req = OwnedRequest::new("GET", "http://api/items").header("origin", "https://app.example.com");
    /// let d = table.decide_with_draw(&req, 0);
    /// let cors = d.cors(&req).expect("the rule has a CORS policy");
    /// assert_eq!((cors.kind, cors.answered), (CorsKind::Simple, false));
    /// let set: Vec<_> = cors.response_headers().collect();
    /// assert_eq!(set, [
    ///     ("access-control-allow-origin", &b"https://app.example.com"[..]),
    ///     ("access-control-allow-credentials", b"true"),
    ///     ("access-control-expose-headers", b"x-request-id"),
    /// ]);
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn cors<'a, R: crate::Request + ?Sized>(
        &self,
        req: &'a R,
    ) -> Option<crate::cors::CorsAnswer<'a>>
    where
        't: 'a,
    {
        let m = self.matched()?;
        if m.abort.is_some() {
            return None;
        }
        let policy: &'t crate::cors::Cors = self.forward()?.cors.as_deref()?;
        Some(policy.evaluate(req))
    }

    /// The path the request is forwarded with, when the rule rewrites it (`path` without its
    /// query). Allocates; for tools and tests, not for the decision path.
    pub fn rewritten_path(&self, path: &str) -> Option<String> {
        let rw = self.forward()?.rewrite.as_ref()?.path.as_ref()?;
        let block = self.block();
        let uri = block.and_then(|b| b.uri.as_ref());
        let segments = matches!(
            uri,
            Some(crate::predicate::path::PathMatch::SegmentPrefix(_))
        );
        // A rule without blocks matches as prefix `/` in the Gateway API.
        let prefix = uri
            .and_then(|u| u.prefix())
            .or(if block.is_none() && segments {
                Some("/")
            } else {
                None
            });
        Some(rw.apply(path, prefix, segments))
    }

    /// The `Location` of a redirect, composed as Envoy's router composes it from the route
    /// istiod (or the Gateway API) wrote (`Utility::newUri`): the redirect's scheme, else the
    /// request's; its authority, else the request's host, whose port is kept unless a port is
    /// set or the scheme changes away from the port that was the old scheme's default; the
    /// port (`port`, the port the request was addressed to for `FROM_REQUEST_PORT`, the new
    /// scheme's well-known port for `FROM_PROTOCOL_DEFAULT` and for a Gateway API redirect that
    /// sets a scheme and no port), left out when it is the new scheme's default (80 for http,
    /// 443 for https); the path (`uri`,
    /// the matched prefix replaced, or the request's, normalized as routing read it), with the
    /// request's query unless `uri` carries its own. `None` when the decision is not a
    /// redirect. Allocates; for answering a redirect, not for the decision path.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: shop}
    /// spec:
    ///   hosts: [shop.example.com]
    ///   gateways: [mesh]
    ///   http:
    ///   - match: [{uri: {prefix: /old}}]
    ///     redirect: {prefixRewrite: /new, scheme: https}
    /// "#)?;
    /// let req = OwnedRequest::new("GET", "http://shop.example.com:80/old/cart?id=7");
    /// let d = table.decide_with_draw(&req, 0);
    /// assert_eq!(d.status(), 301);
    /// assert_eq!(d.redirect_location(&req).as_deref(), Some("https://shop.example.com/new/cart?id=7"));
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn redirect_location<R: crate::Request + ?Sized>(&self, req: &R) -> Option<String> {
        use crate::action::RedirectPort;
        let Action::Redirect(r) = &self.matched()?.rule.action else {
            return None;
        };
        let mut buf = [0u8; MAX_PATH_LEN];
        let (path, query) = self.forward_path(req.path(), &mut buf)?;
        let old_scheme = req.scheme();
        let scheme = r.scheme.as_deref().unwrap_or(old_scheme);
        let is_default = |scheme: &str, port: u16| {
            (scheme.eq_ignore_ascii_case("http") && port == 80)
                || (scheme.eq_ignore_ascii_case("https") && port == 443)
        };
        // The port of the new URL: istiod writes `port` and FROM_REQUEST_PORT (the listener's
        // port) into Envoy's `port_redirect`; FROM_PROTOCOL_DEFAULT is the new scheme's
        // well-known port (Istio's `derivePort` docs; the Gateway API's rule for a redirect that
        // sets a scheme and no port). A scheme's default port is left out of the URL.
        let set_port = match r.port {
            RedirectPort::Port(p) => Some(p),
            RedirectPort::FromRequest => Some(addressed_port(req)),
            RedirectPort::FromProtocolDefault => well_known_port(scheme),
            _ => None,
        };
        let new_port = set_port.filter(|&p| !is_default(scheme, p));
        let host = match &r.authority {
            Some(a) => a.to_string(),
            None => {
                // Envoy's `processRequestHost`: the request's port goes when a port is set, or
                // when the scheme changes and the port was the old scheme's default.
                let authority = req.authority();
                let (name, port) = crate::request::split_port(authority);
                let drop_port = set_port.is_some()
                    || (!scheme.eq_ignore_ascii_case(old_scheme)
                        && port.is_some_and(|p| is_default(old_scheme, p)));
                if drop_port && port.is_some() {
                    name.to_string()
                } else {
                    authority.to_string()
                }
            }
        };
        let path = match (&r.uri, &r.prefix_rewrite) {
            (Some(uri), _) if uri.contains('?') => uri.to_string(),
            (Some(uri), _) => format!("{uri}{query}"),
            (None, Some(new)) => {
                let block = self.block();
                let uri = block.and_then(|b| b.uri.as_ref());
                let segments = matches!(
                    uri,
                    Some(crate::predicate::path::PathMatch::SegmentPrefix(_))
                );
                let prefix =
                    uri.and_then(|u| u.prefix())
                        .or(if block.is_none() { Some("/") } else { None });
                let rewritten = crate::action::PathRewrite::MatchedPrefix(new.clone())
                    .apply(path, prefix, segments);
                format!("{rewritten}{query}")
            }
            _ => format!("{path}{query}"),
        };
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        let port = new_port.map_or(String::new(), |p| format!(":{p}"));
        Some(format!("{scheme}://{host}{port}{path}"))
    }

    /// The session answer of a rule with session persistence ([`crate::action::Session`]):
    /// whether the request's session pinned it, the backend it goes to, and, for a new
    /// session, the `Set-Cookie` or response header that pins the next request there (the
    /// backend's address, [`crate::action::Session::backend_address`]). `None` when the
    /// decision is not a forwarding rule with session persistence. The pin is the backend's:
    /// with a registry, the router's balancer still picks the endpoint within it. Allocates;
    /// for answering, not for the decision path.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(r#"
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: HTTPRoute
    /// metadata: {name: shop, namespace: app}
    /// spec:
    ///   parentRefs: [{kind: Service, group: "", name: shop}]
    ///   rules:
    ///   - matches: [{path: {type: PathPrefix, value: /cart}}]
    ///     backendRefs: [{name: v1, port: 80, weight: 50}, {name: v2, port: 80, weight: 50}]
    ///     sessionPersistence:
    ///       sessionName: cart
    ///       type: Cookie
    ///       absoluteTimeout: 1h
    ///       cookieConfig: {lifetimeType: Permanent}
    /// "#)?;
    /// let first = OwnedRequest::new("GET", "http://shop/cart/1").from_namespace("app");
    /// let d = table.decide_with_draw(&first, 70);
    /// let answer = d.session().unwrap();
    /// let cookie = answer.set_cookie.unwrap();
    /// assert!(cookie.ends_with("; Max-Age=3600; Path=/cart; HttpOnly"), "{cookie}");
    /// // The next request carries the cookie and sticks, whatever its draw.
    /// let value = answer.value.unwrap();
    /// let next = OwnedRequest::new("GET", "http://shop/cart/2")
    ///     .from_namespace("app")
    ///     .header("cookie", &format!("cart={value}"));
    /// let again = table.decide_with_draw(&next, 10);
    /// assert_eq!(again.destination(), d.destination());
    /// assert!(again.session().unwrap().set_cookie.is_none());
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn session(&self) -> Option<SessionAnswer<'t>> {
        let m = self.matched()?;
        let session = self.forward()?.session.as_deref()?;
        let state = m.session.unwrap_or(SessionState::Absent);
        let destination = m
            .destination
            .map(|w| &w.destination)
            .filter(|d| d.unavailable.is_none());
        let path = match &session.path {
            Some(p) => p,
            None => crate::session::cookie_path(self.block()),
        };
        Some(SessionAnswer::new(
            session,
            state,
            destination,
            destination.map(crate::action::Session::backend_address),
            path,
        ))
    }

    /// The matched block, if any.
    pub fn block(&self) -> Option<&'t Block> {
        let m = self.matched()?;
        m.block.map(|b| &m.rule.blocks[b as usize])
    }
}

/// The well-known port of `scheme` (80 for http, 443 for https), when it has one.
fn well_known_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") {
        Some(443)
    } else {
        None
    }
}

/// A decision without the borrow of its table: what [`Decision`] says, with the rule and the
/// destination as indices into the table that made it. [`Detached::attach`] to that table
/// gives the decision back. For answers that outlive the borrow (an `http` extension).
#[cfg(feature = "tower")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Detached {
    outcome: DetachedOutcome,
    draw: u64,
    port: Option<u16>,
}

#[cfg(feature = "tower")]
#[derive(Clone, Debug, PartialEq, Eq)]
enum DetachedOutcome {
    Matched {
        rule: u32,
        block: Option<u16>,
        destination: Option<u32>,
        delay: Option<Duration>,
        abort: bool,
        mirrored: u64,
        sticky_hash: Option<u64>,
        session: Option<SessionState>,
        unavailable: Option<Unavailable>,
    },
    /// The host of a 404: copied, the one allocation of a detach, for 404s only.
    NoRoute(Box<str>),
    Passthrough,
    PassthroughCluster,
    BlackHole,
    NoVirtualHost,
    BadRequest(&'static str),
}

/// The index of `item` in `items`, when it is one of them (found by its address).
#[cfg(feature = "tower")]
fn index_in<T>(items: &[T], item: &T) -> Option<u32> {
    let size = std::mem::size_of::<T>().max(1);
    let offset = (item as *const T as usize).checked_sub(items.as_ptr() as usize)?;
    let i = offset / size;
    (i < items.len() && std::ptr::eq(&items[i], item))
        .then_some(i)
        .and_then(|i| u32::try_from(i).ok())
}

#[cfg(feature = "tower")]
impl Detached {
    /// Detaches `decision`, made by `table`; `None` when it was made by another table.
    pub(crate) fn new(decision: &Decision<'_>, table: &crate::Table) -> Option<Detached> {
        let outcome = match &decision.outcome {
            Outcome::Matched(m) => {
                let rule = index_in(table.rules(), m.rule)?;
                let destination = match (m.destination, &m.rule.action) {
                    (Some(w), Action::Forward(f)) => Some(index_in(&f.destinations, w)?),
                    _ => None,
                };
                DetachedOutcome::Matched {
                    rule,
                    block: m.block,
                    destination,
                    delay: m.delay,
                    abort: m.abort.is_some(),
                    mirrored: m.mirrored,
                    sticky_hash: m.sticky_hash,
                    session: m.session,
                    unavailable: m.unavailable,
                }
            }
            Outcome::NoRoute { host } => DetachedOutcome::NoRoute((*host).into()),
            Outcome::Passthrough => DetachedOutcome::Passthrough,
            Outcome::PassthroughCluster => DetachedOutcome::PassthroughCluster,
            Outcome::BlackHole => DetachedOutcome::BlackHole,
            Outcome::NoVirtualHost => DetachedOutcome::NoVirtualHost,
            Outcome::BadRequest { reason } => DetachedOutcome::BadRequest(reason),
        };
        Some(Detached {
            outcome,
            draw: decision.draw,
            port: decision.port,
        })
    }

    /// The decision again, borrowed from `table` (the table it was detached from) and, for a
    /// 404's host, from `self`.
    pub(crate) fn attach<'a>(&'a self, table: &'a crate::Table) -> Decision<'a> {
        let inner = &*table.inner;
        let outcome = match &self.outcome {
            DetachedOutcome::Matched {
                rule,
                block,
                destination,
                delay,
                abort,
                mirrored,
                sticky_hash,
                session,
                unavailable,
            } => {
                let rule = &inner.rules()[*rule as usize];
                let forward = match &rule.action {
                    Action::Forward(f) => Some(f),
                    _ => None,
                };
                Outcome::Matched(Matched {
                    source: inner.source_of(rule),
                    rule,
                    block: *block,
                    destination: forward
                        .zip(*destination)
                        .map(|(f, j)| &f.destinations[j as usize]),
                    unavailable: *unavailable,
                    delay: *delay,
                    abort: forward
                        .filter(|_| *abort)
                        .and_then(|f| f.fault.as_ref())
                        .and_then(|fault| fault.abort.as_ref())
                        .map(|(a, _)| a),
                    mirrored: *mirrored,
                    sticky_hash: *sticky_hash,
                    session: *session,
                    connection: None,
                })
            }
            DetachedOutcome::NoRoute(host) => Outcome::NoRoute { host },
            DetachedOutcome::Passthrough => Outcome::Passthrough,
            DetachedOutcome::PassthroughCluster => Outcome::PassthroughCluster,
            DetachedOutcome::BlackHole => Outcome::BlackHole,
            DetachedOutcome::NoVirtualHost => Outcome::NoVirtualHost,
            DetachedOutcome::BadRequest(reason) => Outcome::BadRequest { reason },
        };
        Decision {
            outcome,
            draw: self.draw,
            port: self.port,
            normalization: inner.normalization(),
            default_retries: inner.default_retries(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::action::Action;
    use crate::{OwnedRequest, Table};

    /// A plain rule ([`crate::Rule::plain`]) is decided from its first line only; the full
    /// path must decide it alike, and a rule with anything else to decide is not plain.
    #[test]
    fn a_plain_rule_decides_as_the_full_path() {
        let t = Table::from_yaml(
            r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: default}
spec:
  hosts: [a]
  http:
  - match: [{uri: {prefix: /one}}]
    route: [{destination: {host: a, port: {number: 8080}}}]
  - match: [{uri: {prefix: /split}}]
    route: [{destination: {host: a}, weight: 90}, {destination: {host: b}, weight: 10}]
  - match: [{uri: {prefix: /fault}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 50}}}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /mirror}}]
    mirror: {host: b}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /redirect}}]
    redirect: {uri: /one}
  - route: [{destination: {host: a, subset: v1}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  hostnames: [g.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /zero}}]
    backendRefs: [{name: a, port: 80, weight: 0}]
  - backendRefs: [{name: a, port: 80}]
"#,
        )
        .expect("compiles");
        let plain: Vec<bool> = t.rules().iter().map(|r| r.plain).collect();
        assert_eq!(
            plain,
            [true, false, false, false, false, true, false, true],
            "{:?}",
            t.rules().iter().map(|r| &r.action).collect::<Vec<_>>()
        );
        let inner = &*t.inner;
        let req = OwnedRequest::new("GET", "http://a/x");
        for rule in t.rules() {
            let mut full = rule.clone();
            full.plain = false;
            for draw in [0, 1, 7, 99, u64::MAX] {
                let a = inner.matched(rule, None, &req, draw);
                let b = inner.matched(&full, None, &req, draw);
                let (Some(ma), Some(mb)) = (a.matched(), b.matched()) else {
                    panic!("both match");
                };
                let dest = |m: &super::Matched<'_>| {
                    m.destination
                        .map(|w| (w.destination.host.clone(), w.destination.subset.clone()))
                };
                assert_eq!(dest(ma), dest(mb), "{:?}", rule.action);
                assert_eq!(ma.unavailable, mb.unavailable);
                assert_eq!(ma.delay, mb.delay);
                assert_eq!(ma.abort.is_some(), mb.abort.is_some());
                assert_eq!(ma.mirrored, mb.mirrored);
                assert_eq!(ma.sticky_hash, mb.sticky_hash);
                assert_eq!(a.port, b.port);
                assert_eq!(a.status(), b.status());
            }
            assert!(!matches!(rule.action, Action::Redirect(_)) || !rule.plain);
        }
    }
}
