//! Proof that deciding allocates nothing: a counting global allocator, a table with every
//! matcher kind, the weighted split and every action, and requests decided on a fresh thread
//! with no warm-up (a regex engine that built a cache on first use per thread would count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

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
    joined.headers.retain(|(k, _)| k != "x-group");
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
    // response, the passthrough and the unknown gateway.
    assert_eq!(
        &outcomes.1[..9],
        &[200, 200, 200, 200, 308, 308, 418, 200, 404]
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
