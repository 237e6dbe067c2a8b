//! Proof that deciding allocates nothing: a counting global allocator, a table with every
//! matcher kind, the weighted split and every action, and requests decided on a fresh thread
//! with no warm-up (a regex engine that built a cache on first use per thread would count).
//! The host's five entries are over `index::MIN_INDEXED_ENTRIES`, so the route index is on the
//! path: its trie walks (exact, case-folded, a regex's literal prefix) are counted too.
//! Also the endpoint pick ([`Router::decide_with_draw`] under every load-balancing policy,
//! the in-flight reports, [`Shared::load`] after the thread's first load), the sticky split,
//! and the hash primitives (`meshroute::hash`): request hashes, Maglev, ring hash and sticky
//! picks.
//!
//! This file holds the crate's only `unsafe impl` (STYLE §3): allocation checks of other test
//! binaries belong here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use std::net::IpAddr;

use meshroute::Shared;
use meshroute::hash::{
    HashKey, Maglev, RingHash, cookie_hash, header_hash, ip_hash, query_hash, source_ip_hash,
    sticky_pick, values_hash, xxhash64,
};
use meshroute::registry::{Endpoint, Pick, Registry, Router};
use meshroute::{OwnedRequest, Table};
use proptest::prelude::*;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the thread-local may be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the only addition is a thread-local counter that never allocates itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: prod}
spec:
  host: shop
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}, {name: v4, labels: {version: v4}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: prod}
spec:
  hosts: [shop, "*.shop.example.com"]
  gateways: [mesh, prod/edge]
  http:
  - name: regex-and-headers
    match:
    - name: api
      uri: {regex: "/api/v[0-9]+/items(/[a-z0-9-]+)?"}
      headers:
        x-tenant: {exact: acme}
        x-trace: {}
        x-group: {regex: "(?i)beta|gamma"}
      withoutHeaders:
        x-debug: {exact: "1"}
        x-legacy: {}
      queryParams:
        limit: {regex: "[0-9]+"}
        page: {}
      method: {exact: GET}
      scheme: {prefix: http}
      authority: {regex: "shop(:[0-9]+)?"}
      sourceLabels: {app: web}
      sourceNamespace: prod
      port: 80
    fault:
      delay: {fixedDelay: 1s, percentage: {value: 50}}
      abort: {httpStatus: 503, percentage: {value: 10}}
    mirrors:
    - destination: {host: shadow}
      percentage: {value: 25}
    mirror: null
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,reset"}
    timeout: 5s
    rewrite: {uri: /v2/items, authority: shop-v2}
    corsPolicy: {allowOrigins: [{exact: "https://a.example"}], allowMethods: [GET]}
    headers:
      request: {set: {x-env: prod}, add: {x-hop: "1"}, remove: [x-internal]}
    route:
    - {destination: {host: shop, subset: v1, port: {number: 80}}, weight: 80}
    - {destination: {host: shop, subset: v2}, weight: 15}
    - {destination: {host: shop, subset: v3}, weight: 5}
    - {destination: {host: shop, subset: v4}, weight: 0}
  - name: ignore-case
    match:
    - uri: {prefix: /Static}
      ignoreUriCase: true
    - uri: {exact: /Index.html}
      ignoreUriCase: true
    redirect: {uri: /new, redirectCode: 308}
  - name: teapot
    match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - name: rest
    route: [{destination: {host: shop, subset: v1}}]
"#;

fn requests() -> Vec<OwnedRequest> {
    let full = OwnedRequest::new("GET", "http://shop/api/v2/items/abc-1?limit=10&page")
        .header("x-tenant", "acme")
        .header("x-trace", "t1")
        .header("x-group", "Beta")
        .header("x-group", "x")
        .from_namespace("prod")
        .source_label("app", "web");
    let mut joined = full.clone();
    joined.headers.retain(|k, _| k != "x-group");
    joined = joined.header("X-Group", "gam").header("x-group", "ma");
    vec![
        full.clone(),
        joined,
        full.clone().header("x-debug", "1"),
        {
            let mut at_edge = full.clone().at_gateway("prod", "edge");
            at_edge.authority = "shop.prod.svc.cluster.local".into();
            at_edge
        },
        OwnedRequest::new("GET", "http://a.shop.example.com:8443/static/app.js"),
        OwnedRequest::new("GET", "http://SHOP.prod.svc.cluster.local/index.html"),
        OwnedRequest::new("POST", "http://shop/teapot").from_namespace("prod"),
        OwnedRequest::new("GET", "http://unknown.example.com/x"),
        OwnedRequest::new("GET", "http://shop/static/../static/./app.js%2e").from_namespace("prod"),
        OwnedRequest::new("GET", "http://shop/a%00b").from_namespace("prod"),
        OwnedRequest::new("GET", "http://shop/x").at_gateway("prod", "nowhere"),
    ]
}

#[test]
fn deciding_allocates_nothing_on_a_fresh_thread() {
    let table = Table::from_yaml(CONFIG).unwrap();
    let reqs = requests();
    let outcomes = std::thread::spawn(move || {
        let mut rng = rand_pcg::Pcg64::new(7, 11);
        let before = allocations();
        let mut statuses = [0u16; 64];
        for (i, r) in reqs.iter().enumerate() {
            for draw in [0u64, 1, 79, 80, 94, 95, 99, 999_999, u64::MAX] {
                let d = table.decide_with_draw(r, draw);
                if draw == 1 {
                    statuses[i] = d.status();
                }
                let _ = std::hint::black_box(d.destination());
                let _ = std::hint::black_box(d.mirrors().count());
                let _ = std::hint::black_box(d.span_fields());
            }
            std::hint::black_box(table.decide(r, &mut rng).status());
        }
        let after = allocations();
        (after - before, statuses)
    })
    .join()
    .unwrap();
    assert_eq!(outcomes.0, 0, "deciding allocated {} times", outcomes.0);
    // The requests exercise what they are meant to: the full match, the redirect, the direct
    // response, the passthrough, a path normalized into the redirect rule, a path refused
    // with 400 (%00) and the unknown gateway.
    assert_eq!(
        &outcomes.1[..11],
        &[200, 200, 200, 200, 308, 308, 418, 200, 308, 400, 404]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn generated_requests_allocate_nothing(
        path in "/(api|static|x)/[a-z0-9/]{0,20}(\\?[a-z=&]{0,12})?",
        tenant in "(acme|other|)",
        group in "[a-zA-Z]{0,6}",
        draws in proptest::collection::vec(any::<u64>(), 1..8),
    ) {
        let table = Table::from_yaml(CONFIG).unwrap();
        let req = OwnedRequest::new("GET", &format!("http://shop{path}"))
            .header("x-tenant", &tenant)
            .header("x-group", &group)
            .header("x-trace", "1")
            .from_namespace("prod")
            .source_label("app", "web");
        let n = std::thread::spawn(move || {
            let before = allocations();
            for d in &draws {
                std::hint::black_box(table.decide_with_draw(&req, *d).status());
            }
            allocations() - before
        }).join().unwrap();
        prop_assert_eq!(n, 0);
    }
}

const GATEWAY_API: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: example
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: app}
spec:
  parentRefs: [{name: edge, namespace: infra}]
  hostnames: [shop.example.com]
  rules:
  - matches:
    - path: {type: RegularExpression, value: "/items/[0-9]+"}
      method: GET
      headers: [{name: x-tenant, value: acme}, {type: RegularExpression, name: x-group, value: "beta|gamma"}]
      queryParams: [{name: v, value: "2"}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: shadow, port: 80}, fraction: {numerator: 1, denominator: 4}}
    backendRefs: [{name: v1, port: 80, weight: 3}, {name: v2, port: 80, weight: 1}, {name: gone, namespace: other, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /static/}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /assets}}
    backendRefs: [{name: cdn, port: 80}]
  - matches: [{path: {type: Exact, value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: rpc, namespace: app}
spec:
  parentRefs: [{kind: Service, group: "", name: echo, port: 9000}]
  rules:
  - matches: [{method: {service: echo.v1.Echo, method: Ping}}]
    backendRefs: [{name: echo-v2, port: 9000}]
"#;

#[test]
fn gateway_api_decisions_allocate_nothing() {
    let table = Table::from_yaml(GATEWAY_API).unwrap();
    let item = OwnedRequest::new("GET", "http://shop.example.com/items/42?v=2")
        .header("x-tenant", "acme")
        .header("x-group", "gamma")
        .at_gateway("infra", "edge");
    let reqs = vec![
        item.clone(),
        OwnedRequest::new("GET", "http://SHOP.example.com:80/static/app.js")
            .at_gateway("infra", "edge"),
        OwnedRequest::new("GET", "http://shop.example.com/old").at_gateway("infra", "edge"),
        OwnedRequest::new("POST", "http://echo/echo.v1.Echo/Ping")
            .with_port(9000)
            .from_namespace("app"),
        OwnedRequest::new("GET", "http://other.example.com/").at_gateway("infra", "edge"),
    ];
    let (n, statuses) = std::thread::spawn(move || {
        let mut statuses = Vec::with_capacity(reqs.len() * 8);
        let before = allocations();
        for r in &reqs {
            for draw in [0u64, 2, 3, 4, 250_000, u64::MAX] {
                let d = table.decide_with_draw(r, draw);
                statuses.push(d.status());
                std::hint::black_box(d.mirrors().count());
            }
        }
        (allocations() - before, statuses)
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "deciding allocated {n} times");
    // The regex rule's split 3:1:1 over draws % 5: 0, 2 → v1; 3 → v2; 4 → the forbidden backend (500).
    assert_eq!(&statuses[..4], &[200, 200, 200, 500]);
    assert!(
        statuses[6..12].iter().all(|&s| s == 200),
        "rewrite rule: {statuses:?}"
    );
    assert!(
        statuses[12..18].iter().all(|&s| s == 302),
        "redirect rule: {statuses:?}"
    );
    assert!(
        statuses[18..24].iter().all(|&s| s == 200),
        "GAMMA gRPC rule: {statuses:?}"
    );
    assert!(
        statuses[24..].iter().all(|&s| s == 404),
        "unknown host: {statuses:?}"
    );
}

/// Connection (L4) routing: VirtualService `tls` and `tcp` rules in the mesh and at a gateway,
/// the SNI's wildcard and case-folded comparisons, subnets, the Service address binding and
/// short host names expanded with the source namespace allocate nothing.
const L4: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: db, namespace: prod}
spec: {clusterIP: 10.96.0.10, ports: [{port: 5432}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: prod}
spec:
  hosts: [db]
  tcp:
  - match: [{destinationSubnets: [10.1.0.0/16]}]
    route: [{destination: {host: db, subset: narrow}}]
  - match: [{sourceLabels: {app: canary}, port: 5432}]
    route: [{destination: {host: db, subset: v2}}]
  - route:
    - {destination: {host: db, subset: v1}, weight: 80}
    - {destination: {host: db, subset: v2}, weight: 20}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: egress, namespace: prod}
spec:
  hosts: ["*.example.com"]
  gateways: [mesh, prod/egress]
  tls:
  - match: [{sniHosts: ["*.example.com"], gateways: [mesh]}]
    route: [{destination: {host: egress.prod.svc.cluster.local, port: {number: 443}}}]
  - match: [{sniHosts: [api.example.com], port: 443}]
    route: [{destination: {host: api.example.com, port: {number: 443}}}]
"#;

#[test]
fn connection_decisions_allocate_nothing() {
    use meshroute::OwnedConnection;
    let table = Table::from_yaml(L4).unwrap();
    let conns = vec![
        OwnedConnection::tcp(5432)
            .to_host("db")
            .from_namespace("prod"),
        OwnedConnection::tcp(5432)
            .to_host("db.prod.svc.cluster.local")
            .source_label("app", "canary"),
        OwnedConnection::tcp(5432).to_ip("10.96.0.10".parse().unwrap()),
        OwnedConnection::tcp(5432)
            .to_host("DB")
            .from_namespace("prod")
            .to_ip("10.1.0.7".parse().unwrap()),
        OwnedConnection::tls("API.Example.com", 443),
        OwnedConnection::tls("www.example.com", 443),
        OwnedConnection::tls("api.example.com", 443).at_gateway("prod", "egress"),
        OwnedConnection::tls("www.example.com", 443).at_gateway("prod", "egress"),
        OwnedConnection::tls("other.org", 443),
    ];
    let (n, outcomes) = std::thread::spawn(move || {
        let mut outcomes = Vec::with_capacity(conns.len() * 8);
        let before = allocations();
        for c in &conns {
            for draw in [0u64, 79, 80, u64::MAX] {
                let d = table.decide_connection_with_draw(c, draw);
                outcomes.push((d.outcome.label(), d.port));
            }
        }
        (allocations() - before, outcomes)
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "deciding connections allocated {n} times");
    let labels: Vec<&str> = outcomes.iter().step_by(4).map(|o| o.0).collect();
    assert_eq!(
        labels,
        [
            "matched",
            "matched",
            "matched",
            "matched",
            "matched",
            "matched",
            "matched",
            "no_route",
            "passthrough_cluster"
        ]
    );
}

/// Session persistence on the decision path: reading the cookie or header, decoding the
/// base64 `envoy.Cookie` value and pinning the backend allocate nothing, for a valid, an
/// older-format, a garbled, an over-long and an absent session.
#[test]
fn session_decisions_allocate_nothing() {
    let table = Table::from_yaml(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cart, namespace: shop}
spec:
  parentRefs: [{kind: Service, group: "", name: cart}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /cart}}]
    backendRefs: [{name: v1, port: 80, weight: 50}, {name: v2, port: 80, weight: 50}]
    sessionPersistence: {sessionName: sid, absoluteTimeout: 1h, cookieConfig: {lifetimeType: Permanent}}
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: v1, port: 80, weight: 50}, {name: v2, port: 80, weight: 50}]
    sessionPersistence: {type: Header, sessionName: x-session}
"#,
    )
    .unwrap();
    let base = OwnedRequest::new("GET", "http://cart/cart/1").from_namespace("shop");
    let v2 = meshroute::session::encode_value("v2.shop.svc.cluster.local:80");
    let reqs = [
        base.clone().header("cookie", &format!("a=b; sid=\"{v2}\"")),
        base.clone()
            .header("cookie", "sid=djIuc2hvcC5zdmMuY2x1c3Rlci5sb2NhbDo4MA=="),
        base.clone().header("cookie", "sid=%%%garbled"),
        base.clone()
            .header("cookie", &format!("sid={}", "QUFB".repeat(400))),
        base.clone(),
        OwnedRequest::new("GET", "http://cart/api/x")
            .from_namespace("shop")
            .header("x-session", &v2),
    ];
    let (n, states) = std::thread::spawn(move || {
        let mut states = [None; 6];
        let before = allocations();
        for (i, r) in reqs.iter().enumerate() {
            for draw in [0u64, 1, 99] {
                let d = table.decide_with_draw(r, draw);
                states[i] = d.matched().and_then(|m| m.session);
                std::hint::black_box(d.destination());
            }
        }
        (allocations() - before, states)
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "deciding with sessions allocated {n} times");
    use meshroute::session::SessionState::{Absent, Pinned, Unrecognized};
    assert_eq!(
        states,
        [
            Some(Pinned),
            Some(Pinned),
            Some(Unrecognized),
            Some(Unrecognized),
            Some(Absent),
            Some(Pinned)
        ]
    );
}

/// Sidecar scoping on the decision path: picking the client's Sidecar by namespace and labels,
/// its egress listener by port, and importing a VirtualService by its namespace and hosts
/// allocate nothing, whether the import admits the host or hides it.
#[test]
fn sidecar_scoped_decisions_allocate_nothing() {
    let config = include_str!("data/sidecar-scope.yaml");
    let config: serde_json::Value = serde_saphyr::from_str(config).unwrap();
    let table = Table::from_yaml(config["config"].as_str().unwrap()).unwrap();
    let reqs = [
        OwnedRequest::new("GET", "http://api.prod-apis.svc.cluster.local/")
            .from_namespace("prod-us1"),
        OwnedRequest::new("GET", "http://details.prod-us2.svc.cluster.local:9080/")
            .from_namespace("prod-us1")
            .source_label("app", "ratings"),
        OwnedRequest::new("GET", "http://reviews.team-a.svc.cluster.local/")
            .from_namespace("team-c"),
        OwnedRequest::new("GET", "http://a.shared.svc.cluster.local/").from_namespace("team-b"),
    ];
    let (n, outcomes) = std::thread::spawn(move || {
        let mut outcomes = [""; 4];
        // Warm up once, as the other tests do, before counting.
        for r in &reqs {
            std::hint::black_box(table.decide_with_draw(r, 7));
        }
        let before = allocations();
        for (i, r) in reqs.iter().enumerate() {
            outcomes[i] = table.decide_with_draw(r, 7).outcome.label();
        }
        (allocations() - before, outcomes)
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "deciding with Sidecars allocated {n} times");
    assert_eq!(
        outcomes,
        ["matched", "matched", "passthrough_cluster", "matched"]
    );
}

/// A request on a port its service declares HTTPS or TLS is decided as its connection (the
/// registry lookup, the SNI taken from the authority, the `tls` rules) without allocating.
#[test]
fn requests_on_tls_ports_allocate_nothing() {
    let config = include_str!("data/service-entry-tls-port.yaml");
    let config: serde_json::Value = serde_saphyr::from_str(config).unwrap();
    let table = Table::from_yaml(config["config"].as_str().unwrap()).unwrap();
    let reqs = [
        OwnedRequest::new("GET", "https://edition.cnn.com/politics"),
        OwnedRequest::new("GET", "https://Edition.CNN.com:443/politics"),
        OwnedRequest::new("GET", "https://web.default.svc.cluster.local:8443/"),
        OwnedRequest::new("GET", "http://edition.cnn.com/politics"),
    ];
    let (n, outcomes) = std::thread::spawn(move || {
        let mut outcomes = [("", false); 4];
        for r in &reqs {
            std::hint::black_box(table.decide_with_draw(r, 7));
        }
        let before = allocations();
        for (i, r) in reqs.iter().enumerate() {
            let d = table.decide_with_draw(r, 7);
            let by_connection = d.matched().is_some_and(|m| m.connection.is_some());
            outcomes[i] = (d.outcome.label(), by_connection);
        }
        (allocations() - before, outcomes)
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "deciding requests on TLS ports allocated {n} times");
    assert_eq!(
        outcomes,
        [
            ("matched", true),
            ("matched", true),
            ("passthrough", false),
            ("matched", false)
        ]
    );
}

/// The DestinationRule a client sees (its namespace's, a selected workload's, the host's
/// namespace's exported, the root namespace's) is looked up per decision and per pick without
/// allocating.
#[test]
fn scoped_destination_rules_allocate_nothing() {
    let table = Table::from_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: canary, namespace: default}
spec:
  host: reviews
  workloadSelector: {matchLabels: {app: canary}}
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
  subsets: [{name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  exportTo: [".", shop]
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mesh, namespace: istio-system}
spec:
  host: "*.svc.cluster.local"
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {x-v: {exact: "2"}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
"#,
    )
    .unwrap();
    let mut reg = Registry::new();
    let host = "reviews.default.svc.cluster.local";
    reg.add(host, Endpoint::new("10.0.0.1", 9080).label("version", "v1"));
    reg.add(host, Endpoint::new("10.0.0.2", 9080).label("version", "v2"));
    let router = Router::new(&table, &reg).unwrap();
    let url = "http://reviews.default.svc.cluster.local/";
    let reqs: Vec<OwnedRequest> = ["default", "shop", "other", "istio-system"]
        .iter()
        .flat_map(|ns| {
            let r = OwnedRequest::new("GET", url)
                .from_namespace(ns)
                .header("x-user", "u");
            [
                r.clone(),
                r.clone().header("x-v", "2"),
                r.clone().source_label("app", "canary").header("x-v", "2"),
            ]
        })
        .collect();
    let (n, statuses) = std::thread::spawn(move || {
        let mut statuses = Vec::with_capacity(reqs.len());
        for r in &reqs {
            std::hint::black_box(router.decide_with_draw(r, 0));
        }
        let before = allocations();
        let mut sum = 0u32;
        for r in &reqs {
            let routed = router.decide_with_draw(r, 3);
            sum += u32::from(routed.status());
            std::hint::black_box(routed.pick);
        }
        let n = allocations() - before;
        for r in &reqs {
            statuses.push(router.decide_with_draw(r, 3).status());
        }
        std::hint::black_box(sum);
        (n, statuses)
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "scoped DestinationRule lookups allocated {n} times");
    // v1 everywhere it is defined; v2 only for the canary workload of `default`.
    assert_eq!(
        statuses,
        [200, 503, 200, 200, 503, 503, 200, 503, 503, 200, 503, 503]
    );
}

#[test]
fn the_counter_sees_allocations() {
    let n = std::thread::spawn(|| {
        let before = allocations();
        std::hint::black_box(String::from("x").repeat(3));
        allocations() - before
    })
    .join()
    .unwrap();
    assert!(n >= 1, "the counting allocator missed an allocation");
}

// ---------------------------------------------------------------------------------------------
// Endpoint picks: every load-balancing policy, the sticky split, health outcomes
// ---------------------------------------------------------------------------------------------

const BALANCED: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: prod}
spec:
  host: shop
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: rr, labels: {app: shop}}
  - {name: random, labels: {app: shop}, trafficPolicy: {loadBalancer: {simple: RANDOM}}}
  - {name: least, labels: {app: shop}, trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}}
  - {name: ring-header, labels: {app: shop}, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 1024}}}}}
  - {name: maglev-cookie, labels: {app: shop}, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: session, ttl: 0s}, maglev: {tableSize: 65537}}}}}
  - {name: ring-query, labels: {app: shop}, trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: user}}}}
  - {name: maglev-ip, labels: {app: shop}, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 251}}}}}
  - {name: passthrough, labels: {app: shop}, trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}}
  - {name: sick, labels: {app: sick}}
  - {name: empty, labels: {app: nobody}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop
  namespace: prod
spec:
  hosts: [shop]
  http:
  - {match: [{uri: {prefix: /rr}}], route: [{destination: {host: shop, subset: rr}}]}
  - {match: [{uri: {prefix: /random}}], route: [{destination: {host: shop, subset: random}}]}
  - {match: [{uri: {prefix: /least}}], route: [{destination: {host: shop, subset: least}}]}
  - {match: [{uri: {prefix: /ring}}], route: [{destination: {host: shop, subset: ring-header}}]}
  - {match: [{uri: {prefix: /maglev}}], route: [{destination: {host: shop, subset: maglev-cookie}}]}
  - {match: [{uri: {prefix: /query}}], route: [{destination: {host: shop, subset: ring-query}}]}
  - {match: [{uri: {prefix: /ip}}], route: [{destination: {host: shop, subset: maglev-ip}}]}
  - {match: [{uri: {prefix: /pass}}], route: [{destination: {host: shop, subset: passthrough}}]}
  - {match: [{uri: {prefix: /sick}}], route: [{destination: {host: shop, subset: sick}}]}
  - {match: [{uri: {prefix: /empty}}], route: [{destination: {host: shop, subset: empty}}]}
  - name: hashed-split
    route:
    - {destination: {host: shop, subset: ring-header}, weight: 40}
    - {destination: {host: shop, subset: maglev-cookie}, weight: 30}
    - {destination: {host: shop, subset: least}, weight: 30}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: cart
  namespace: prod
  annotations: {meshroute.io/sticky-split: "header:x-user"}
spec:
  hosts: [cart]
  http:
  - route:
    - {destination: {host: shop, subset: ring-header}, weight: 90}
    - {destination: {host: shop, subset: maglev-cookie}, weight: 10}
"#;

fn balanced_registry() -> Registry {
    let mut reg = Registry::new();
    let shop = "shop.prod.svc.cluster.local";
    for i in 0..6 {
        reg.add(
            shop,
            Endpoint::new(&format!("10.0.0.{i}"), 8080)
                .label("app", "shop")
                .weight(1 + i % 3)
                .healthy(i != 4),
        );
    }
    reg.add(shop, Endpoint::new("fd00::7", 8080).label("app", "shop"));
    reg.add(
        shop,
        Endpoint::new("10.0.9.1", 8080)
            .label("app", "sick")
            .healthy(false),
    );
    reg.add(
        "orders.prod.svc.cluster.local",
        Endpoint::new("10.0.5.1", 9090),
    );
    reg
}

fn balanced_requests() -> Vec<OwnedRequest> {
    let keyed = |path: &str| {
        let mut r = OwnedRequest::new("GET", &format!("http://shop{path}?user=jason&page=2"))
            .header("x-user", "jason")
            .header("x-user", "again")
            .header("cookie", "theme=dark; session=\"s-42\"")
            .from_namespace("prod");
        r.source_ip = Some("2001:db8::1".parse().unwrap());
        r
    };
    let mut out: Vec<OwnedRequest> = [
        "/rr", "/random", "/least", "/ring", "/maglev", "/query", "/ip", "/pass", "/sick",
        "/empty", "/split",
    ]
    .iter()
    .map(|p| keyed(p))
    .collect();
    // Without any key: consistent hashing falls back to a random point (ring), or hashes the
    // cookie it generates (Maglev's `httpCookie` has a `ttl`).
    out.push(OwnedRequest::new("GET", "http://shop/ring").from_namespace("prod"));
    out.push(OwnedRequest::new("GET", "http://shop/maglev").from_namespace("prod"));
    // The sticky split, with and without its key.
    out.push(
        OwnedRequest::new("GET", "http://cart/")
            .header("x-user", "jason")
            .from_namespace("prod"),
    );
    out.push(OwnedRequest::new("GET", "http://cart/").from_namespace("prod"));
    // Passthrough: a service with endpoints, and one without.
    out.push(OwnedRequest::new("GET", "http://orders:9090/o/1").from_namespace("prod"));
    out.push(OwnedRequest::new("GET", "http://unknown.example.com/").from_namespace("prod"));
    out
}

#[test]
fn picking_endpoints_allocates_nothing_under_every_policy() {
    let table = Table::from_yaml(BALANCED).unwrap();
    let router = Router::new(&table, &balanced_registry()).unwrap();
    let reqs = balanced_requests();
    // The requests take the paths they are meant to: hashed picks carry a hash, the keyed
    // sticky request is split by its key.
    for i in [3, 4, 5, 6, 10] {
        let routed = router.decide_with_draw(&reqs[i], 0);
        assert!(
            routed.pick.endpoint().unwrap().hash.is_some(),
            "request {i}"
        );
    }
    // `/maglev` without its cookie: the `ttl` makes the pick hash a generated cookie (formatted
    // on the stack); only `Router::set_cookies`, called after deciding, allocates.
    let routed = router.decide_with_draw(&reqs[12], 0);
    assert!(routed.pick.endpoint().unwrap().hash.is_some());
    assert_eq!(router.set_cookies(&routed, &reqs[12]).len(), 1);
    assert_eq!(
        router
            .decide_with_draw(&reqs[11], 0)
            .pick
            .endpoint()
            .unwrap()
            .hash,
        None
    );
    let sticky = table.decide_with_draw(&reqs[13], 0);
    assert!(sticky.matched().unwrap().sticky_hash.is_some());
    let shared = Shared::new(router);
    let (n, kinds) = std::thread::spawn(move || {
        let mut rng = rand_pcg::Pcg64::new(3, 5);
        let mut kinds = [[0u32; 4]; 32];
        // arc-swap registers a thread on its first load: one node, reused by the next thread
        // once this one ends. Every load after that allocates nothing; deciding is still
        // counted without any warm-up.
        drop(shared.load());
        let before = allocations();
        for (i, r) in reqs.iter().enumerate() {
            let router = shared.load();
            for draw in [0u64, 1, 39, 40, 69, 70, 99, 123_456_789, u64::MAX] {
                let routed = router.decide_with_draw(r, draw);
                let k = match routed.pick {
                    Pick::Endpoint(p) => {
                        router.started(&p);
                        std::hint::black_box((p.endpoint, p.hash, p.policy, p.cluster));
                        router.finished(&p);
                        0
                    }
                    Pick::NoHealthyEndpoint => 1,
                    Pick::NoEndpoints => 2,
                    _ => 3,
                };
                kinds[i][k] += 1;
                std::hint::black_box((routed.status(), routed.pick.response_flag()));
                std::hint::black_box(routed.span_fields());
            }
            std::hint::black_box(router.decide(r, &mut rng).status());
        }
        (allocations() - before, kinds)
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "picking allocated {n} times");
    // Each request reached what it is meant to: an endpoint, except the all-unhealthy
    // subset (NoHealthyEndpoint), the subset without endpoints and the unknown host
    // (NoEndpoints).
    let all = |k: usize| [k == 0, k == 1, k == 2, k == 3].map(|b| if b { 9 } else { 0 });
    for (i, expect) in [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 2]
        .iter()
        .enumerate()
    {
        assert_eq!(kinds[i], all(*expect), "request {i}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn generated_keys_allocate_nothing_when_picking(
        path in "/(rr|random|least|ring|maglev|query|ip|split)[a-z/]{0,8}",
        user in "[a-zA-Z0-9]{0,12}",
        session in "[a-z0-9\"]{0,10}",
        ip in any::<[u8; 4]>(),
        draws in proptest::collection::vec(any::<u64>(), 1..8),
    ) {
        let table = Table::from_yaml(BALANCED).unwrap();
        let router = Router::new(&table, &balanced_registry()).unwrap();
        let mut req = OwnedRequest::new("GET", &format!("http://shop{path}?user={user}"))
            .header("x-user", &user)
            .header("cookie", &format!("session={session}"))
            .from_namespace("prod");
        req.source_ip = Some(IpAddr::from(ip));
        let n = std::thread::spawn(move || {
            let before = allocations();
            for d in &draws {
                let routed = router.decide_with_draw(&req, *d);
                if let Pick::Endpoint(p) = routed.pick {
                    router.started(&p);
                    router.finished(&p);
                }
                std::hint::black_box(routed.status());
            }
            allocations() - before
        }).join().unwrap();
        prop_assert_eq!(n, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Hash primitives (moved from tests/hash.rs)
// ---------------------------------------------------------------------------------------------

#[test]
fn picks_and_request_hashes_allocate_nothing() {
    let five: [(&str, u32); 5] = [
        ("10.0.0.1:9080", 1),
        ("10.0.0.2:9080", 1),
        ("10.0.0.3:9080", 1),
        ("10.0.0.4:9080", 1),
        ("10.0.0.5:9080", 1),
    ];
    let maglev = Maglev::new(&five).unwrap();
    let ring = RingHash::new(&five).unwrap();
    let mut r = OwnedRequest::new("GET", "http://reviews/r?user=jason")
        .header("cookie", "session=abc; theme=dark");
    // More values than the stack array holds: the sorted-without-storing path.
    for i in 0..20 {
        r = r.header("x-many", &format!("value-{}", (i * 7) % 11));
    }
    r = r.header("x-user", "jason");
    r.source_ip = Some("2001:db8::1".parse().unwrap());
    let cumulative = [50u64, 80, 100];
    let ips: [IpAddr; 3] = [
        "10.0.0.1".parse().unwrap(),
        "::1.2.3.4".parse().unwrap(),
        "::ffff:10.1.2.3".parse().unwrap(),
    ];

    let (used, sink) = std::thread::spawn(move || {
        let start = allocations();
        let mut sink = 0usize;
        for i in 0..1000u64 {
            let mut key = HashKey::new();
            key.add(header_hash(&r, "x-user"));
            key.add(header_hash(&r, "x-many"));
            key.add(cookie_hash(&r, "session"));
            key.add(query_hash(&r, "user"));
            key.add(source_ip_hash(&r));
            key.add(Some(ip_hash(ips[(i % 3) as usize])));
            key.add(values_hash([&b"b"[..], b"a"]));
            let h = key.hash().unwrap() ^ i;
            sink += maglev.pick(h) + maglev.pick_attempt(h, 2);
            sink += ring.pick(h) + ring.pick_attempt(h, 1);
            sink += sticky_pick(h, &cumulative).unwrap();
            sink += xxhash64(b"10.0.0.1:9080_17", h) as usize & 1;
        }
        (allocations() - start, sink)
    })
    .join()
    .unwrap();
    assert_eq!(used, 0, "allocations while picking");
    assert!(sink > 0);
}

/// The registry lookup for hosts no VirtualService claims (exact, short-name, wildcard and
/// unknown hosts, upper case included, under REGISTRY_ONLY) allocates nothing.
#[test]
fn registry_lookups_allocate_nothing() {
    let config = meshroute::Config::from_str(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [httpbin.org, "*.wikipedia.org"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE
  exportTo: ["."]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec: {ports: [{name: http, port: 9080}]}
"#,
        "registry.yaml",
    )
    .unwrap();
    let mut options = meshroute::CompileOptions::strict();
    options.mesh.outbound_traffic_policy = meshroute::mesh::OutboundPolicy::RegistryOnly;
    let table = meshroute::compile(&config, &options).unwrap().table;
    let reqs = [
        OwnedRequest::new("GET", "http://httpbin.org/get"),
        OwnedRequest::new("GET", "http://EN.Wikipedia.ORG/wiki"),
        OwnedRequest::new("GET", "http://ratings:9080/"),
        OwnedRequest::new("GET", "http://ratings.default.svc:9080/"),
        OwnedRequest::new("GET", "http://edition.cnn.com/"),
        OwnedRequest::new("GET", "http://httpbin.org/get").from_namespace("other"),
    ];
    let (n, statuses) = std::thread::spawn(move || {
        let mut statuses = [0u16; 6];
        let before = allocations();
        for (i, r) in reqs.iter().enumerate() {
            let d = table.decide_with_draw(r, 0);
            statuses[i] = d.status();
            std::hint::black_box(d.outcome.catch_all());
        }
        (allocations() - before, statuses)
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "registry lookups allocated {n} times");
    assert_eq!(statuses, [200, 200, 200, 200, 502, 502]);
}

#[test]
fn counting_and_outcome_reporting_allocate_nothing() {
    let config = meshroute::Config::from_str(CONFIG, "alloc.yaml").unwrap();
    let mut options = meshroute::CompileOptions::strict();
    options.counters = true;
    let table = meshroute::compile(&config, &options).unwrap().table;
    let reqs = requests();
    let n = std::thread::spawn(move || {
        let before = allocations();
        for (i, r) in reqs.iter().enumerate() {
            for draw in [0u64, 79, 95, u64::MAX] {
                let d = table.decide_with_draw(r, draw);
                if let Some(h) = d.report_handle() {
                    table.report(
                        h,
                        200 + (i as u16 % 3) * 150,
                        std::time::Duration::from_millis(i as u64 * 7),
                    );
                }
            }
        }
        allocations() - before
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "counting or reporting allocated {n} times");
}

const CORS: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api]
  http:
  - match: [{uri: {prefix: /ignore}}]
    corsPolicy:
      allowOrigins: [{prefix: "https://app."}]
      allowMethods: ["*"]
      allowHeaders: ["*"]
      unmatchedPreflights: IGNORE
    route: [{destination: {host: api}}]
  - corsPolicy:
      allowOrigins: [{exact: "https://a.example"}, {regex: "https://.*\\.b\\.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [content-type]
      exposeHeaders: [x-id]
      allowCredentials: true
      maxAge: 60s
    route: [{destination: {host: api}}]
"#;

/// CORS evaluation (`Decision::cors`, the headers it yields) reads the request and the
/// compiled policy only.
#[test]
fn cors_evaluation_allocates_nothing() {
    let table = Table::from_yaml(CORS).unwrap();
    let pre = |path: &str, origin: &str| {
        OwnedRequest::new("OPTIONS", &format!("http://api{path}"))
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "x-a")
    };
    let reqs = [
        pre("/", "https://a.example"),
        pre("/", "https://x.b.example"),
        pre("/", "https://evil.example"),
        pre("/ignore", "https://app.example"),
        pre("/ignore", "https://evil.example"),
        OwnedRequest::new("GET", "http://api/").header("origin", "https://x.b.example"),
        OwnedRequest::new("GET", "http://api/"),
    ];
    let (n, seen) = std::thread::spawn(move || {
        let mut seen = [(false, 0usize); 7];
        let before = allocations();
        for (i, r) in reqs.iter().enumerate() {
            let d = table.decide_with_draw(r, 0);
            if let Some(a) = d.cors(r) {
                let bytes: usize = a.response_headers().map(|(n, v)| n.len() + v.len()).sum();
                seen[i] = (
                    a.answered,
                    std::hint::black_box(bytes).min(1) + a.response_headers().count(),
                );
            }
        }
        (allocations() - before, seen)
    })
    .join()
    .unwrap();
    assert_eq!(n, 0, "CORS evaluation allocated {n} times");
    // answered, 1 + headers written: allowed preflights answer with 6 and 6 headers, the
    // unmatched one is forwarded, IGNORE answers both, the actual request gets 3, no origin 0.
    assert_eq!(
        seen,
        [
            (true, 7),
            (true, 7),
            (false, 0),
            (true, 4),
            (true, 3),
            (false, 4),
            (false, 0)
        ]
    );
}

/// Locality failover, `distribute` weights, ejections and panic levels pick without
/// allocating.
#[test]
fn locality_and_ejection_picks_allocate_nothing() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: prod}
spec:
  host: shop
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent: 30}
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting: {failover: [{from: r1, to: r3}], failoverPriority: [tier]}
  subsets:
  - name: weighted
    labels: {app: shop}
    trafficPolicy:
      loadBalancer:
        consistentHash: {httpHeaderName: x-user}
        localityLbSetting: {distribute: [{from: "r1/*", to: {"r1/z1/*": 80, "r3/*": 20}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: prod}
spec:
  hosts: [shop]
  http:
  - match: [{uri: {prefix: /w}}]
    route: [{destination: {host: shop, subset: weighted}}]
  - route: [{destination: {host: shop}}]
"#;
    let table = Table::from_yaml(yaml).unwrap();
    let mut reg = Registry::new();
    for (i, loc) in ["r1/z1/a", "r1/z1/b", "r1/z2/a", "r2/z1/a", "r3/z1/a"]
        .iter()
        .enumerate()
    {
        reg.add(
            "shop.prod.svc.cluster.local",
            Endpoint::new(&format!("10.0.0.{i}"), 80)
                .label("app", "shop")
                .label("tier", if i % 2 == 0 { "gold" } else { "silver" })
                .locality(loc),
        );
    }
    let router = Router::new(&table, &reg).unwrap();
    let req = |path: &str| {
        OwnedRequest::new("GET", &format!("http://shop{path}"))
            .header("x-user", "jason")
            .from_namespace("prod")
            .source_label("istio-locality", "r1.z1.a")
            .source_label("tier", "gold")
    };
    let reqs = [req("/"), req("/w")];
    // Eject two endpoints so that levels spill and one panics.
    for draw in 0..2u64 {
        if let Some(p) = router.decide_with_draw(&reqs[0], draw).pick.endpoint() {
            router.report_status(&p, 503, std::time::Duration::from_secs(1));
        }
    }
    for r in &reqs {
        std::hint::black_box(router.decide_with_draw(r, 1));
    }
    let before = allocations();
    for draw in 0..200u64 {
        for r in &reqs {
            let routed = router.decide_with_draw(r, draw);
            if let Some(p) = routed.pick.endpoint() {
                std::hint::black_box((p.endpoint, p.priority, p.panic));
            }
        }
    }
    assert_eq!(allocations() - before, 0);
    assert!(
        router
            .decide_with_draw(&reqs[1], 0)
            .pick
            .endpoint()
            .is_some()
    );
}

/// A retry's answer and its endpoint allocate nothing: `Decision::retry_after`,
/// `Router::retry_verdict` and `Router::pick_retry` with endpoints already tried, under round
/// robin, a ring hash and `retryRemoteLocalities`, and on the mesh default route under the
/// mesh config's default policy.
#[test]
fn retry_answers_and_retry_picks_allocate_nothing() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: prod}
spec:
  host: shop
  subsets:
  - {name: rr, labels: {app: shop}}
  - name: ring
    labels: {app: shop}
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: prod}
spec:
  hosts: [shop]
  http:
  - match: [{uri: {prefix: /ring}}]
    route: [{destination: {host: shop, subset: ring}}]
    retries: {attempts: 3, retryOn: "5xx,reset", retryRemoteLocalities: true}
  - route: [{destination: {host: shop, subset: rr}}]
    retries: {attempts: 3, retryOn: 5xx, perTryTimeout: 1s}
    timeout: 5s
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    defaultHttpRetryPolicy: {attempts: 4, retryOn: "gateway-error,503"}
"#;
    let table = Table::from_yaml(yaml).unwrap();
    let mut reg = Registry::new();
    for i in 0..6 {
        reg.add(
            "shop.prod.svc.cluster.local",
            Endpoint::new(&format!("10.0.1.{i}"), 80).label("app", "shop"),
        );
        reg.add(
            "cart.prod.svc.cluster.local",
            Endpoint::new(&format!("10.0.2.{i}"), 80),
        );
    }
    let router = Router::new(&table, &reg).unwrap();
    let mk = |url: &str| {
        OwnedRequest::new("GET", url)
            .header("x-user", "jason")
            .from_namespace("prod")
    };
    // The mesh default route (no VirtualService for cart) retries with the mesh config's
    // `defaultHttpRetryPolicy`, read from the table.
    let reqs = [
        mk("http://shop/"),
        mk("http://shop/ring"),
        mk("http://cart/"),
    ];
    let passthrough = table.decide_with_draw(&reqs[2], 0);
    assert_eq!(passthrough.retries().map(|r| r.attempts), Some(4));
    let results = [
        meshroute::retry::UpstreamResult::status(503),
        meshroute::retry::UpstreamResult::reset(true),
        meshroute::retry::UpstreamResult::ConnectFailure,
    ];
    let run = |draw: u64| {
        for r in &reqs {
            let routed = router.decide_with_draw(r, draw);
            let Some(first) = routed.pick.endpoint() else {
                continue;
            };
            for (k, result) in results.iter().enumerate() {
                let elapsed = std::time::Duration::from_millis(draw % 100);
                let Some(v) = routed
                    .decision
                    .retry_after(result, 1 + k as u32, elapsed, draw)
                else {
                    continue;
                };
                let v = router.retry_verdict(&routed.decision, r, v);
                let tried = [first.endpoint, first.endpoint, first.endpoint];
                let next = router.pick_retry(&routed.decision, r, draw ^ 7, &v, &tried[..=k]);
                std::hint::black_box((v, next.endpoint().map(|p| p.endpoint)));
            }
        }
    };
    run(0);
    let before = allocations();
    for draw in 0..200u64 {
        run(draw);
    }
    assert_eq!(allocations() - before, 0);
}
