//! Fixtures shared by the side-by-side bench (`benches/peers.rs`) and the allocation counter
//! (`src/bin/allocs.rs`): the same rules, requests and keys, built once per peer, and one
//! small `#[inline]` function per peer and scenario that does what a proxy does per request.
//!
//! Every peer sees the same `OwnedRequest` (authority, path with query, headers in order), so
//! the rows differ only in the library doing the work.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use meshroute::{OwnedRequest, Table};
use sozu_command_lib::proto::command::{
    HeaderMatchKind, HeaderPredicate, LoadBalancingParams, PathRule, PathRuleKind, RulePosition,
};
use sozu_command_lib::response::HttpFrontend;
use sozu_lib::backends::Backend;
use sozu_lib::load_balancing::{Candidates, LoadBalancingAlgorithm};
use sozu_lib::protocol::kawa_h1::parser::Method;
use sozu_lib::router::{RequestHeaders, RouteResult, Router};

/// The host of the one-host scenarios.
pub const HOST: &str = "web.example.com";
/// Table sizes of the prefix scenario.
pub const SIZES: [usize; 3] = [10, 100, 1000];
/// Rules in the regex scenario, hosts in the host-lookup scenario.
pub const LARGE: usize = 1000;
/// Requests (or keys, or draws) a varying case cycles over.
pub const VARYING: usize = 1024;

/// The rule index the `k`-th varying request targets: a permutation of `0..n` for every size
/// used here (7919 is a prime), so consecutive requests hit rules far apart.
pub fn spread(k: usize, n: usize) -> usize {
    (k * 7919) % n
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// `GET http://<host><path>` with 7 ordinary headers and `x-tenant: <tenant>` last (the shape
/// of the main crate's `benches/route.rs`).
pub fn request(host: &str, path: &str, tenant: &str) -> OwnedRequest {
    OwnedRequest::new("GET", &format!("http://{host}{path}"))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) meshroute-bench/1.0",
        )
        .header("accept", "application/json, text/plain, */*")
        .header("accept-encoding", "gzip, deflate, br")
        .header("accept-language", "en-US,en;q=0.9")
        .header("x-request-id", "3f8e2a1c-5b7d-4e9f-a0c2-1d6b8e4f7a93")
        .header("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7")
        .header("cookie", "session=abc123; theme=dark")
        .header("x-tenant", tenant)
        .from_namespace("default")
}

/// The request rule `i` of a one-host table matches.
pub fn svc_request(i: usize) -> OwnedRequest {
    request(
        HOST,
        &format!("/svc{i}/api/v1/items?limit=10"),
        &format!("t{i}"),
    )
}

/// The request the rule of host `h{i}.example.com` matches.
pub fn host_request(i: usize) -> OwnedRequest {
    request(
        &format!("h{i}.example.com"),
        "/svc/api/v1/items?limit=10",
        &format!("t{i}"),
    )
}

/// [`svc_request`] for `spread(k, n)`, `k` in `0..VARYING`.
pub fn varying_svc(n: usize) -> Vec<OwnedRequest> {
    (0..VARYING).map(|k| svc_request(spread(k, n))).collect()
}

/// [`host_request`] for `spread(k, n)`, `k` in `0..VARYING`.
pub fn varying_hosts(n: usize) -> Vec<OwnedRequest> {
    (0..VARYING).map(|k| host_request(spread(k, n))).collect()
}

// ---------------------------------------------------------------------------------------------
// meshroute
// ---------------------------------------------------------------------------------------------

/// How the path condition of a one-host rule is written.
#[derive(Clone, Copy, Debug)]
pub enum Uri {
    /// Istio `uri: {prefix: /svc{i}}`, sozu `PathRule::Prefix`.
    Prefix,
    /// Istio `uri: {regex: "/svc{i}/api/v[0-9]+/.*"}` (a full match), sozu `PathRule::Regex`.
    Regex,
}

impl Uri {
    fn pattern(self, i: usize) -> String {
        match self {
            Uri::Prefix => format!("/svc{i}"),
            Uri::Regex => format!("/svc{i}/api/v[0-9]+/.*"),
        }
    }
}

/// A DestinationRule with subsets v1, v2 and one VirtualService of `n` rules for [`HOST`],
/// rule `i` matching the path condition and `x-tenant: t{i}` (as `benches/route.rs`).
pub fn one_host_yaml(n: usize, uri: Uri) -> String {
    let mut y = String::with_capacity(200 + n * 160);
    y.push_str(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
         metadata: {name: web, namespace: default}\n\
         spec:\n  host: web.example.com\n  subsets:\n  \
         - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n\
         apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {name: web, namespace: default}\n\
         spec:\n  hosts: [web.example.com]\n  http:\n",
    );
    for i in 0..n {
        let cond = match uri {
            Uri::Prefix => format!("{{prefix: {}}}", uri.pattern(i)),
            Uri::Regex => format!("{{regex: \"{}\"}}", uri.pattern(i)),
        };
        let subset = if i % 2 == 0 { "v1" } else { "v2" };
        writeln!(
            y,
            "  - name: r{i}\n    match: [{{uri: {cond}, headers: {{x-tenant: {{exact: t{i}}}}}}}]\n    \
             route: [{{destination: {{host: web.example.com, subset: {subset}}}}}]"
        )
        .expect("writing to a String cannot fail");
    }
    y
}

/// `hosts` VirtualServices, each with one rule for `h{i}.example.com` matching
/// `x-tenant: t{i}`.
pub fn many_hosts_yaml(hosts: usize) -> String {
    let mut y = String::with_capacity(hosts * 300);
    for i in 0..hosts {
        writeln!(
            y,
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: h{i}, namespace: default}}\n\
             spec:\n  hosts: [h{i}.example.com]\n  http:\n  \
             - name: r{i}\n    match: [{{headers: {{x-tenant: {{exact: t{i}}}}}}}]\n    \
             route: [{{destination: {{host: h{i}.example.com}}}}]"
        )
        .expect("writing to a String cannot fail");
    }
    y
}

/// A compiled meshroute table.
pub fn meshroute_table(yaml: &str) -> Table {
    Table::from_yaml(yaml).expect("bench config compiles")
}

/// One meshroute decision: the index of the matched rule in its VirtualService.
#[inline]
pub fn meshroute_route(table: &Table, req: &OwnedRequest, draw: u64) -> Option<u32> {
    table
        .decide_with_draw(req, draw)
        .matched()
        .map(|m| m.rule.index)
}

/// One meshroute decision in the host table: the destination host's length (something that
/// depends on which host matched, without allocating).
#[inline]
pub fn meshroute_route_host(table: &Table, req: &OwnedRequest, draw: u64) -> Option<usize> {
    table
        .decide_with_draw(req, draw)
        .destination()
        .map(|d| d.host.len())
}

// ---------------------------------------------------------------------------------------------
// sozu-lib: router
// ---------------------------------------------------------------------------------------------

/// The request headers as sozu's router reads them: first occurrence, name compared
/// ASCII-case-insensitively, raw value; no copy (what sozu's own `FrontRequestHeaders` does
/// over its parse buffer).
#[derive(Debug)]
pub struct SozuHeaders<'a>(pub &'a meshroute::Headers);

impl RequestHeaders for SozuHeaders<'_> {
    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

fn sozu_frontend(
    hostname: &str,
    kind: PathRuleKind,
    path: String,
    tenant: &str,
    cluster: String,
) -> HttpFrontend {
    HttpFrontend {
        cluster_id: Some(cluster.into()),
        address: "127.0.0.1:8080".parse().expect("a socket address"),
        hostname: hostname.to_owned(),
        path: PathRule {
            kind: kind as i32,
            value: path,
        },
        method: None,
        position: RulePosition::Tree,
        tags: None,
        redirect: None,
        redirect_scheme: None,
        redirect_template: None,
        rewrite_host: None,
        rewrite_path: None,
        rewrite_port: None,
        required_auth: None,
        headers: Vec::new(),
        hsts: None,
        header_predicates: vec![HeaderPredicate {
            name: "x-tenant".to_owned(),
            kind: HeaderMatchKind::Exact as i32,
            value: Some(tenant.to_owned()),
        }],
    }
}

/// A sozu `Router` with the rules of [`one_host_yaml`]: `n` tree frontends on [`HOST`], rule
/// `i` with the path rule and the header predicate `x-tenant: t{i}`, forwarding to cluster
/// `c{i}`. Added through `add_http_front`, as sozu's worker does.
pub fn sozu_one_host(n: usize, uri: Uri) -> Router {
    let kind = match uri {
        Uri::Prefix => PathRuleKind::Prefix,
        Uri::Regex => PathRuleKind::Regex,
    };
    let mut router = Router::new();
    for i in 0..n {
        let front = sozu_frontend(
            HOST,
            kind,
            uri.pattern(i),
            &format!("t{i}"),
            format!("c{i}"),
        );
        router
            .add_http_front(&front)
            .expect("sozu accepts the frontend");
    }
    router
}

/// A sozu `Router` with the rules of [`many_hosts_yaml`]: one tree frontend per host
/// `h{i}.example.com`, path prefix `/`, header predicate `x-tenant: t{i}`.
pub fn sozu_many_hosts(hosts: usize) -> Router {
    let mut router = Router::new();
    for i in 0..hosts {
        let front = sozu_frontend(
            &format!("h{i}.example.com"),
            PathRuleKind::Prefix,
            "/".to_owned(),
            &format!("t{i}"),
            format!("c{i}"),
        );
        router
            .add_http_front(&front)
            .expect("sozu accepts the frontend");
    }
    router
}

/// One sozu lookup, as its HTTP listener does it: host, path with query, method, headers. The
/// `RouteResult` (an owned cluster id and two `Rc` slices) is what the caller gets back.
#[inline]
pub fn sozu_route(router: &Router, req: &OwnedRequest) -> Option<RouteResult> {
    router
        .lookup_with_headers(
            &req.authority,
            &req.path,
            &Method::Get,
            &SozuHeaders(&req.headers),
        )
        .ok()
}

/// The cluster sozu routed `req` to.
pub fn sozu_cluster(router: &Router, req: &OwnedRequest) -> Option<String> {
    sozu_route(router, req).and_then(|r| r.cluster_id.map(|c| c.to_string()))
}

// ---------------------------------------------------------------------------------------------
// matchit: the path-only floor
// ---------------------------------------------------------------------------------------------

/// A matchit router with `/svc{i}/{*rest}` → `i` for `i` in `0..n`.
pub fn matchit_router(n: usize) -> matchit::Router<usize> {
    let mut router = matchit::Router::new();
    for i in 0..n {
        router
            .insert(format!("/svc{i}/{{*rest}}"), i)
            .expect("matchit accepts the route");
    }
    router
}

/// One matchit lookup on the path without its query (matchit matches paths only, and no
/// header): the floor for any router that must find the rule by path.
#[inline]
pub fn matchit_route(router: &matchit::Router<usize>, req: &OwnedRequest) -> Option<usize> {
    let path = req.path.split_once('?').map_or(&*req.path, |(p, _)| p);
    router.at(path).ok().map(|m| *m.value)
}

// ---------------------------------------------------------------------------------------------
// Weighted pick among 3 destinations, 80/15/5
// ---------------------------------------------------------------------------------------------

/// The weights of the weighted scenario.
pub const WEIGHTS: [u32; 3] = [80, 15, 5];

/// The fast RNG every weighted row that takes a caller's RNG uses.
pub fn pcg() -> rand_pcg::Pcg64Mcg {
    rand_pcg::Pcg64Mcg::new(0xcafe_f00d_d15e_a5e5)
}

/// Backends of a sozu cluster: `n` addresses `10.0.0.{i+1}:8080`, with `weights[i]` when given.
pub fn sozu_backends(n: usize, weights: Option<&[u32]>) -> Vec<Rc<RefCell<Backend>>> {
    (0..n)
        .map(|i| {
            let addr: SocketAddr = endpoint(i).parse().expect("a socket address");
            let params = weights.map(|w| LoadBalancingParams {
                weight: i32::try_from(w[i]).expect("weight fits i32"),
            });
            Rc::new(RefCell::new(Backend::new(
                &format!("b{i}"),
                addr,
                None,
                params,
                None,
            )))
        })
        .collect()
}

/// One pick by a sozu load-balancing policy among all of `backends`, as its cluster's
/// backend list does it: the picked backend's `Rc`. `now` is read once by the caller (sozu's
/// `Candidates` carries the selection's instant).
#[inline]
pub fn sozu_pick(
    policy: &mut dyn LoadBalancingAlgorithm,
    key: Option<u64>,
    backends: &[Rc<RefCell<Backend>>],
    indices: &[usize],
    now: Instant,
) -> Option<Rc<RefCell<Backend>>> {
    policy.next_available_backend(key, Candidates::new(backends, indices, now))
}

/// The position in `backends` of the backend [`sozu_pick`] picked.
pub fn sozu_index(backends: &[Rc<RefCell<Backend>>], picked: &Rc<RefCell<Backend>>) -> usize {
    backends
        .iter()
        .position(|b| Rc::ptr_eq(b, picked))
        .expect("a policy picks one of the candidates")
}

// ---------------------------------------------------------------------------------------------
// Consistent hashing by a string key
// ---------------------------------------------------------------------------------------------

/// Endpoints of the consistent-hash scenario.
pub const ENDPOINTS: usize = 10;

/// The `i`-th endpoint's address, `10.0.0.{i+1}:8080`.
pub fn endpoint(i: usize) -> String {
    format!("10.0.0.{}:8080", i + 1)
}

/// `VARYING` session-like keys, `user-<k>-<hex>`.
pub fn hash_keys() -> Vec<String> {
    (0..VARYING)
        .map(|k| {
            format!(
                "user-{k}-{:016x}",
                (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            )
        })
        .collect()
}

/// meshroute's Maglev over [`ENDPOINTS`] endpoints of weight 1, table size 65,537 (Envoy's).
pub fn meshroute_maglev() -> meshroute::hash::Maglev {
    let names: Vec<String> = (0..ENDPOINTS).map(endpoint).collect();
    let eps: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    meshroute::hash::Maglev::new(&eps).expect("a valid maglev table")
}

/// One meshroute pick by key: XXH64 of the key (seed 0, as Envoy hashes a header value), then
/// the table lookup.
#[inline]
pub fn meshroute_maglev_pick(maglev: &meshroute::hash::Maglev, key: &str) -> usize {
    maglev.pick(meshroute::hash::xxhash64(key.as_bytes(), 0))
}

/// pingora-ketama's continuum over the same endpoints, weight 1 (160 points each).
pub fn ketama() -> pingora_ketama::Continuum {
    let buckets: Vec<pingora_ketama::Bucket> = (0..ENDPOINTS)
        .map(|i| pingora_ketama::Bucket::new(endpoint(i).parse().expect("a socket address"), 1))
        .collect();
    pingora_ketama::Continuum::new(&buckets)
}

/// The `maglev` crate (flier/rust-maglev) over the same endpoints, table size 65,537, its
/// default hasher (std's SipHash `DefaultHasher`).
pub fn maglev_crate() -> maglev::Maglev<String> {
    maglev::Maglev::with_capacity((0..ENDPOINTS).map(endpoint), 65_537)
}
