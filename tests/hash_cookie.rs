//! DestinationRule `consistentHash.httpCookie` with a `ttl`: when the request lacks the cookie,
//! Envoy's router generates one, places the request by its hash, and sends `Set-Cookie` so the
//! next request sticks ([`Router::set_cookies`]). Without a `ttl` nothing is generated and the
//! request is hashed without the key (a random point picks).
//!
//! Upstream: istio pilot/pkg/networking/core/route/route.go `ConsistentHashToHashPolicy`
//! (name, ttl, path, attributes passed to Envoy's cookie hash policy); envoy
//! source/common/http/hash_policy.cc `CookieHashMethod`, source/common/router/router.h
//! `Filter::addDownstreamSetCookie`, source/common/http/utility.cc `makeSetCookieValue`.

use std::collections::BTreeSet;

use meshroute::hash::{cookie_value_hash, generated_cookie_value, xxhash64};
use meshroute::registry::{Endpoint, EndpointPick, Pick, Policy, Registry, Router};
use meshroute::retry::UpstreamResult;
use meshroute::{OwnedRequest, Table};

const SHOP: &str = "shop.default.svc.cluster.local";

/// A DestinationRule for `shop` with `load_balancer`, and a VirtualService sending every
/// request to its only subset.
fn shop_table(load_balancer: &str) -> Table {
    Table::from_yaml(&format!(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: shop, namespace: default}}
spec:
  host: shop
  trafficPolicy: {{loadBalancer: {load_balancer}}}
  subsets: [{{name: all, labels: {{app: shop}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: default}}
spec:
  hosts: [shop]
  http: [{{route: [{{destination: {{host: shop, subset: all}}}}]}}]
"
    ))
    .unwrap()
}

/// Five endpoints of `shop`, labelled `app: shop`.
fn shop_registry() -> Registry {
    let mut reg = Registry::new();
    for i in 1..=5 {
        reg.add(
            SHOP,
            Endpoint::new(&format!("10.0.0.{i}"), 8080).label("app", "shop"),
        );
    }
    reg
}

fn req(path: &str) -> OwnedRequest {
    OwnedRequest::new("GET", &format!("http://shop{path}")).from_namespace("default")
}

fn picked<'r>(pick: &Pick<'r>) -> EndpointPick<'r> {
    match pick {
        Pick::Endpoint(p) => *p,
        other => panic!("expected an endpoint, got {other:?}"),
    }
}

/// The value of a `Set-Cookie` line `name="value"; ...`, without the quotes.
fn cookie_value(set_cookie: &str, name: &str) -> String {
    let first = set_cookie.split(';').next().unwrap();
    let value = first
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix('='))
        .unwrap();
    value.trim_matches('"').to_string()
}

/// Envoy hash_policy_test.cc `CookieHashForAbsentCookieWithTTL` (an absent cookie with a ttl is
/// generated and its value hashed) and router_test.cc `AddCookie` (`Set-Cookie:
/// foo="<value>"; Max-Age=1337; HttpOnly`), `AddMultipleCookies` (`; Path=/path` after
/// `Max-Age`): the request is placed by the hash of the value the cookie carries, so the next
/// request that sends it back lands on the same endpoint, whatever its draw, and needs no new
/// cookie. Under ring hash and Maglev.
#[test]
fn a_generated_cookie_pins_the_next_request() {
    let registry = shop_registry();
    for (algorithm, policy) in [
        ("", Policy::RingHash),
        (", maglev: {tableSize: 65537}", Policy::Maglev),
    ] {
        let table = shop_table(&format!(
            "{{consistentHash: {{httpCookie: {{name: session, ttl: 3600s, path: /cart, \
             attributes: [{{name: SameSite, value: Strict}}, {{name: Secure}}]}}{algorithm}}}}}"
        ));
        let router = Router::new(&table, &registry).unwrap();
        let mut reached = BTreeSet::new();
        let mut values = BTreeSet::new();
        for draw in (0..200u64).map(|d| d.wrapping_mul(0x9E37_79B9_7F4A_7C15)) {
            let first = req("/cart");
            let routed = router.decide_with_draw(&first, draw);
            let p = picked(&routed.pick);
            assert_eq!(p.policy, policy);
            let generated = generated_cookie_value(draw);
            assert_eq!(p.hash, cookie_value_hash(&generated), "{algorithm}");
            let cookies = router.set_cookies(&routed, &first);
            let expected = format!(
                "session=\"{}\"; Max-Age=3600; Path=/cart; SameSite=Strict; Secure; HttpOnly",
                std::str::from_utf8(&generated).unwrap()
            );
            assert_eq!(cookies, [expected]);
            let value = cookie_value(&cookies[0], "session");
            values.insert(value.clone());
            reached.insert(p.endpoint.address.clone());
            // Sent back (quoted as set, or unquoted): the same endpoint, hashed on the value.
            for cookie in [
                format!("session=\"{value}\""),
                format!("a=b; session={value}"),
            ] {
                let next = req("/cart").header("cookie", &cookie);
                for again in [draw, draw ^ 1, 7, u64::MAX] {
                    let routed = router.decide_with_draw(&next, again);
                    let q = picked(&routed.pick);
                    assert_eq!(q.endpoint, p.endpoint, "{cookie} draw {again}");
                    assert_eq!(q.hash, Some(xxhash64(value.as_bytes(), 0)));
                    assert!(router.set_cookies(&routed, &next).is_empty());
                }
            }
        }
        // Each draw gets its own cookie, and new cookies spread over the endpoints.
        assert_eq!(values.len(), 200);
        assert_eq!(reached.len(), 5, "{algorithm}");
    }
}

/// A `ttl` of 0 makes a session cookie: Envoy's `makeSetCookieValue` leaves `Max-Age` out when
/// it is zero (utility_test.cc `MakeSetCookieValue`). Envoy keeps the ttl's whole seconds
/// (hash_policy.cc reads `ttl().seconds()`), so 0.5s is a session cookie too and 90.9s is
/// `Max-Age=90`. Without `path` there is no `Path`.
#[test]
fn ttl_zero_is_a_session_cookie() {
    let registry = shop_registry();
    for (ttl, tail) in [
        ("0s", "; HttpOnly"),
        ("0.5s", "; HttpOnly"),
        ("90.9s", "; Max-Age=90; HttpOnly"),
        ("1h", "; Max-Age=3600; HttpOnly"),
    ] {
        let table = shop_table(&format!(
            "{{consistentHash: {{httpCookie: {{name: lb, ttl: {ttl}}}}}}}"
        ));
        let router = Router::new(&table, &registry).unwrap();
        let first = req("/");
        let routed = router.decide_with_draw(&first, 42);
        let cookies = router.set_cookies(&routed, &first);
        let value = std::str::from_utf8(&generated_cookie_value(42))
            .unwrap()
            .to_string();
        assert_eq!(cookies, [format!("lb=\"{value}\"{tail}")], "ttl {ttl}");
        assert!(picked(&routed.pick).hash.is_some());
    }
}

/// Envoy hash_policy_test.cc `CookieHashForAbsentCookieWithoutTTL`: without a `ttl` an absent
/// cookie yields no hash and no cookie is set; a random point picks (SEMANTICS §2.3, "cookie
/// without ttl never generates a cookie"). A present cookie is hashed either way
/// (`CookieHashForPresentCookie`).
#[test]
fn without_ttl_no_cookie_is_generated() {
    let table = shop_table("{consistentHash: {httpCookie: {name: session, path: /}}}");
    let router = Router::new(&table, &shop_registry()).unwrap();
    let bare = req("/");
    let mut reached = BTreeSet::new();
    for draw in 0..64u64 {
        let routed = router.decide_with_draw(&bare, draw);
        assert_eq!(picked(&routed.pick).hash, None);
        assert!(router.set_cookies(&routed, &bare).is_empty());
        reached.insert(picked(&routed.pick).endpoint.address.clone());
    }
    assert!(reached.len() > 1, "no key, no stickiness");
    let with = req("/").header("cookie", "session=cookie-value");
    let routed = router.decide_with_draw(&with, 0);
    assert_eq!(
        picked(&routed.pick).hash,
        Some(xxhash64(b"cookie-value", 0))
    );
    assert!(router.set_cookies(&routed, &with).is_empty());
}

/// Envoy's `CookieHashMethod` treats an empty cookie value as absent: with a `ttl` a cookie is
/// generated for `session=` (and for `session=""`, whose quotes `parseCookieValue` removes).
#[test]
fn an_empty_cookie_is_absent() {
    let table = shop_table("{consistentHash: {httpCookie: {name: session, ttl: 60s}}}");
    let router = Router::new(&table, &shop_registry()).unwrap();
    for cookie in ["session=", "session=\"\"", "other=1"] {
        let r = req("/").header("cookie", cookie);
        let routed = router.decide_with_draw(&r, 5);
        assert_eq!(
            picked(&routed.pick).hash,
            cookie_value_hash(&generated_cookie_value(5)),
            "{cookie}"
        );
        assert_eq!(router.set_cookies(&routed, &r).len(), 1, "{cookie}");
    }
}

/// Istio puts one hash policy per weighted destination on the route, and Envoy evaluates them
/// all, so with one DestinationRule for both destinations the generated cookie is set once per
/// policy (router.h `addDownstreamSetCookie` appends each; router.cc appends them all to the
/// response), with one value per request, and the hash combines the two
/// (`rotl(h, 1) ^ h`). A destination whose cluster does not hash computes no hash key, so it
/// generates no cookie.
#[test]
fn a_split_sets_the_cookie_of_each_policy() {
    let table = Table::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: shop
  trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: lb, ttl: 10s}}}}
  subsets:
  - {name: a, labels: {track: a}}
  - {name: b, labels: {track: b}}
  - {name: c, labels: {track: c}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop]
  http:
  - match: [{uri: {prefix: /ab}}]
    route:
    - {destination: {host: shop, subset: a}, weight: 50}
    - {destination: {host: shop, subset: b}, weight: 50}
  - match: [{uri: {prefix: /ac}}]
    route:
    - {destination: {host: shop, subset: a}, weight: 50}
    - {destination: {host: shop, subset: c}, weight: 50}
",
    )
    .unwrap();
    let mut reg = Registry::new();
    for (i, track) in ["a", "a", "b", "b", "c"].iter().enumerate() {
        reg.add(
            SHOP,
            Endpoint::new(&format!("10.0.1.{i}"), 80).label("track", track),
        );
    }
    let router = Router::new(&table, &reg).unwrap();
    let mut clusters = BTreeSet::new();
    for draw in (0..100u64).step_by(7) {
        let h = cookie_value_hash(&generated_cookie_value(draw)).unwrap();
        let value = String::from_utf8(generated_cookie_value(draw).to_vec()).unwrap();
        let one = format!("lb=\"{value}\"; Max-Age=10; HttpOnly");
        let r = req("/ab");
        let routed = router.decide_with_draw(&r, draw);
        assert_eq!(picked(&routed.pick).hash, Some(h.rotate_left(1) ^ h));
        assert_eq!(router.set_cookies(&routed, &r), [one.clone(), one.clone()]);

        let r = req("/ac");
        let routed = router.decide_with_draw(&r, draw);
        let p = picked(&routed.pick);
        clusters.insert(p.cluster.to_string());
        if p.cluster.ends_with("/a") {
            assert_eq!(p.hash, Some(h));
            assert_eq!(router.set_cookies(&routed, &r), [one]);
        } else {
            assert_eq!((p.policy, p.hash), (Policy::RoundRobin, None));
            assert!(router.set_cookies(&routed, &r).is_empty());
        }
    }
    assert_eq!(clusters.len(), 2);
}

/// A retry is placed by the same generated cookie as the first try (Envoy generates it from
/// the connection, so every try of a stream hashes the same value): the ring steps on from
/// the same point. No endpoint, no cookie: Envoy adds the cookies to an upstream response only.
#[test]
fn retries_keep_the_cookie_and_no_endpoint_sets_none() {
    let table = shop_table("{consistentHash: {httpCookie: {name: lb, ttl: 10s}}}");
    let router = Router::new(&table, &shop_registry()).unwrap();
    let r = req("/");
    for draw in [0u64, 3, 99] {
        let routed = router.decide_with_draw(&r, draw);
        let first = picked(&routed.pick);
        let verdict = routed
            .decision
            .retry_after(&UpstreamResult::ConnectFailure, 1, Default::default(), 1)
            .unwrap();
        let next = picked(&router.pick_retry(&routed.decision, &r, draw ^ 77, &verdict, &[]));
        assert_eq!(next.hash, first.hash);
    }
    let empty = Router::new(&table, &Registry::new()).unwrap();
    let routed = empty.decide_with_draw(&r, 0);
    assert!(matches!(routed.pick, Pick::NoEndpoints));
    assert!(empty.set_cookies(&routed, &r).is_empty());
}
