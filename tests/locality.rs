//! Locality-aware endpoint choice, outlier ejection and connection-pool overflow through the
//! `Router`: Istio's priorities (pilot/pkg/networking/core/loadbalancer/loadbalancer_test.go),
//! Envoy's spill-over (load_balancer_impl_test.cc) and the Istio docs tasks "Locality failover"
//! and "Locality weighted distribution".

use std::collections::BTreeMap;
use std::time::Duration;

use meshroute::registry::{Ejection, Endpoint, Pick, Registry, Router};
use meshroute::{OwnedRequest, Table};

const HOST: &str = "helloworld.sample.svc.cluster.local";

fn table(traffic_policy: &str) -> Table {
    Table::from_yaml(&format!(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: helloworld, namespace: sample}}
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy: {traffic_policy}
"
    ))
    .unwrap()
}

/// One endpoint in each of the Istio docs' localities.
fn registry() -> Registry {
    let mut reg = Registry::new();
    for (ip, loc) in [
        ("10.0.1.1", "region1/zone1/subzone1"),
        ("10.0.1.2", "region1/zone1/subzone2"),
        ("10.0.2.1", "region1/zone2/subzone1"),
        ("10.0.3.1", "region2/zone3/subzone1"),
        ("10.0.4.1", "region3/zone4/subzone1"),
    ] {
        reg.add(HOST, Endpoint::new(ip, 5000).locality(loc));
    }
    reg
}

fn client(locality: &str) -> OwnedRequest {
    OwnedRequest::new("GET", "http://helloworld.sample:5000/hello")
        .from_namespace("sample")
        .source_label("istio-locality", &locality.replace('/', "."))
}

/// Requests per endpoint address over `n` draws.
fn shares(router: &Router, req: &OwnedRequest, n: u64) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for d in 0..n {
        let routed = router.decide_with_draw(req, d.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let key = match routed.pick {
            Pick::Endpoint(p) => p.endpoint.address.to_string(),
            other => format!("{other:?}"),
        };
        *out.entry(key).or_default() += 1;
    }
    out
}

const OUTLIER: &str =
    "{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 100}";

/// Istio docs task "Locality failover": with outlier detection, a client in
/// region1/zone1/subzone1 stays in its subzone; when that endpoint is ejected, the next
/// priority (same zone, other subzone) takes everything (its health is 100 %).
#[test]
fn failover_prefers_the_clients_subzone_then_spills() {
    let t = table(&format!(
        "{{outlierDetection: {OUTLIER}, loadBalancer: {{simple: ROUND_ROBIN, localityLbSetting: {{enabled: true, failover: [{{from: region1, to: region3}}]}}}}}}"
    ));
    let router = Router::new(&t, &registry()).unwrap();
    let req = client("region1/zone1/subzone1");
    assert_eq!(
        shares(&router, &req, 200),
        BTreeMap::from([("10.0.1.1".into(), 200)])
    );
    let pick = router.decide_with_draw(&req, 0).pick.endpoint().unwrap();
    assert_eq!(pick.priority, 0);
    let now = Duration::from_secs(1);
    assert!(matches!(
        router.report_status(&pick, 503, now),
        Ejection::Ejected { .. }
    ));
    let after = router.decide_with_draw(&req, 0).pick.endpoint().unwrap();
    assert_eq!((&*after.endpoint.address, after.priority), ("10.0.1.2", 1));
    assert_eq!(
        after.endpoint.locality.as_deref(),
        Some("region1/zone1/subzone2")
    );
    // After the ejection time the subzone's endpoint is back.
    router.advance_to(now + Duration::from_secs(60));
    assert_eq!(
        shares(&router, &req, 50),
        BTreeMap::from([("10.0.1.1".into(), 50)])
    );
}

/// istio loadbalancer_test.go `TestApplyLocalityLBSetting` ("failover"): for a client in
/// region1, `failover: region1 -> region3` puts region3 (priority 3) before region2 (4).
#[test]
fn failover_names_the_next_region() {
    let t = table(&format!(
        "{{outlierDetection: {OUTLIER}, loadBalancer: {{localityLbSetting: {{failover: [{{from: region1, to: region3}}]}}}}}}"
    ));
    let router = Router::new(&t, &registry()).unwrap();
    let req = client("region1/zone1/subzone1");
    let now = Duration::from_secs(5);
    // Eject every region1 endpoint.
    for addr in ["10.0.1.1", "10.0.1.2", "10.0.2.1"] {
        let p = (0..1000)
            .filter_map(|d| router.decide_with_draw(&req, d).pick.endpoint())
            .find(|p| &*p.endpoint.address == addr)
            .unwrap();
        assert!(
            matches!(router.report_status(&p, 500, now), Ejection::Ejected { .. }),
            "{addr}"
        );
    }
    let s = shares(&router, &req, 200);
    assert_eq!(s, BTreeMap::from([("10.0.4.1".into(), 200)]));
    let p = router.decide_with_draw(&req, 0).pick.endpoint().unwrap();
    assert_eq!(
        p.priority, 3,
        "levels: subzone, zone, region, region3, region2"
    );
}

/// istiod applies locality failover only with outlier detection (loadbalancer.go
/// `ApplyLocalityLoadBalancer`, `enableFailover`): without it every endpoint is priority 0.
#[test]
fn no_outlier_detection_no_failover() {
    let t = table(
        "{loadBalancer: {simple: ROUND_ROBIN, localityLbSetting: {failover: [{from: region1, to: region3}]}}}",
    );
    let router = Router::new(&t, &registry()).unwrap();
    let s = shares(&router, &client("region1/zone1/subzone1"), 500);
    assert_eq!(s.len(), 5, "{s:?}");
    assert!(s.values().all(|&n| n == 100), "{s:?}");
}

/// `enabled: false` turns locality load balancing off even with outlier detection (istio
/// `GetLocalityLbSetting`).
#[test]
fn disabled_locality_spreads_everywhere() {
    let t = table(&format!(
        "{{outlierDetection: {OUTLIER}, loadBalancer: {{simple: ROUND_ROBIN, localityLbSetting: {{enabled: false}}}}}}"
    ));
    let router = Router::new(&t, &registry()).unwrap();
    assert_eq!(
        shares(&router, &client("region1/zone1/subzone1"), 500).len(),
        5
    );
}

/// Istio docs task "Locality weighted distribution": 70 % to region1/zone1, 20 % to
/// region1/zone2, 10 % to region3/zone4, region2 none (istio `applyLocalityWeights`; the two
/// region1/zone1 subzones share their 70 in proportion to their weight, rounded up: 35 each).
#[test]
fn distribute_weights_localities() {
    let t = table(
        "{loadBalancer: {simple: RANDOM, localityLbSetting: {enabled: true, distribute: [{from: region1/zone1/*, to: {\"region1/zone1/*\": 70, \"region1/zone2/*\": 20, \"region3/zone4/*\": 10}}]}}}",
    );
    let router = Router::new(&t, &registry()).unwrap();
    let n = 20_000;
    let s = shares(&router, &client("region1/zone1/subzone1"), n);
    let pct = |a: &str| s.get(a).copied().unwrap_or(0) as f64 * 100.0 / n as f64;
    assert!((pct("10.0.1.1") - 35.0).abs() < 2.0, "{s:?}");
    assert!((pct("10.0.1.2") - 35.0).abs() < 2.0, "{s:?}");
    assert!((pct("10.0.2.1") - 20.0).abs() < 2.0, "{s:?}");
    assert!((pct("10.0.4.1") - 10.0).abs() < 1.5, "{s:?}");
    assert_eq!(pct("10.0.3.1"), 0.0);
    // A client `from` does not cover keeps the plain spread.
    assert_eq!(
        shares(&router, &client("region2/zone3/subzone1"), 2000).len(),
        5
    );
}

/// istio loadbalancer_test.go `TestApplyFailoverPriorities`-style: endpoints whose
/// `failoverPriority` labels match the client's come first; the `key=value` form fixes the
/// value compared.
#[test]
fn failover_priority_by_labels() {
    let mut reg = Registry::new();
    reg.add(HOST, Endpoint::new("10.0.0.1", 5000).label("network", "a"));
    reg.add(HOST, Endpoint::new("10.0.0.2", 5000).label("network", "b"));
    let t = table(&format!(
        "{{outlierDetection: {OUTLIER}, loadBalancer: {{localityLbSetting: {{failoverPriority: [network]}}}}}}"
    ));
    let router = Router::new(&t, &reg).unwrap();
    let req = OwnedRequest::new("GET", "http://helloworld.sample:5000/")
        .from_namespace("sample")
        .source_label("network", "b");
    assert_eq!(
        shares(&router, &req, 100),
        BTreeMap::from([("10.0.0.2".into(), 100)])
    );
    let t = table(&format!(
        "{{outlierDetection: {OUTLIER}, loadBalancer: {{localityLbSetting: {{failoverPriority: [network=a]}}}}}}"
    ));
    let router = Router::new(&t, &reg).unwrap();
    assert_eq!(
        shares(&router, &req, 100),
        BTreeMap::from([("10.0.0.1".into(), 100)])
    );
}

/// Envoy load_balancer_impl_test.cc (priority spill-over with the overprovisioning factor):
/// two of five endpoints of P0 healthy give P0 2/5 × 1.4 = 56 % of the load, P1 the rest.
#[test]
fn partial_health_spills_by_the_overprovisioning_factor() {
    let mut reg = Registry::new();
    for i in 0..5 {
        reg.add(
            HOST,
            Endpoint::new(&format!("10.0.0.{i}"), 5000).locality("r/z/near"),
        );
        reg.add(
            HOST,
            Endpoint::new(&format!("10.0.1.{i}"), 5000).locality("r/z/far"),
        );
    }
    let t = table(&format!(
        "{{outlierDetection: {OUTLIER}, loadBalancer: {{simple: RANDOM}}}}"
    ));
    let router = Router::new(&t, &reg).unwrap();
    let req = client("r/z/near");
    let now = Duration::from_secs(1);
    for i in 0..3 {
        let addr = format!("10.0.0.{i}");
        let p = (0..2000)
            .filter_map(|d: u64| {
                router
                    .decide_with_draw(&req, d.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    .pick
                    .endpoint()
            })
            .find(|p| *p.endpoint.address == *addr)
            .unwrap();
        router.report_status(&p, 500, now);
    }
    let n = 20_000;
    let s = shares(&router, &req, n);
    let near: u64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("10.0.0."))
        .map(|(_, v)| v)
        .sum();
    let pct = near as f64 * 100.0 / n as f64;
    assert!((pct - 56.0).abs() < 2.0, "{pct} {s:?}");
}

/// Istio `minHealthPercent` is Envoy's healthy panic threshold: when fewer endpoints are
/// healthy, the level panics and picks among all of them, ejected ones included; with 0 (the
/// default) an all-ejected cluster answers 503 UH.
#[test]
fn panic_at_min_health_percent() {
    let mut reg = Registry::new();
    reg.add(HOST, Endpoint::new("10.0.0.1", 5000));
    reg.add(HOST, Endpoint::new("10.0.0.2", 5000));
    let req = OwnedRequest::new("GET", "http://helloworld.sample:5000/").from_namespace("sample");
    let eject_all = |router: &Router| {
        for addr in ["10.0.0.1", "10.0.0.2"] {
            let p = (0..100)
                .filter_map(|d| router.decide_with_draw(&req, d).pick.endpoint())
                .find(|p| &*p.endpoint.address == addr)
                .unwrap();
            router.report_status(&p, 500, Duration::from_secs(1));
        }
    };
    let t = table(&format!("{{outlierDetection: {OUTLIER}}}"));
    let router = Router::new(&t, &reg).unwrap();
    eject_all(&router);
    let routed = router.decide_with_draw(&req, 3);
    assert!(
        matches!(routed.pick, Pick::NoHealthyEndpoint),
        "{:?}",
        routed.pick
    );
    assert_eq!(
        (routed.status(), routed.pick.response_flag()),
        (503, Some("UH"))
    );
    let t = table(
        "{outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent: 50}}",
    );
    let router = Router::new(&t, &reg).unwrap();
    eject_all(&router);
    let p = router.decide_with_draw(&req, 3).pick.endpoint().unwrap();
    assert!(p.panic);
}

/// Istio docs task "Circuit breaking": `maxConnections: 1`, `http1MaxPendingRequests: 1`:
/// one request in flight and one waiting, the third overflows with 503 `UO`.
#[test]
fn connection_pool_overflows_with_uo() {
    let t = table(
        "{connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}}}",
    );
    let mut reg = Registry::new();
    reg.add(HOST, Endpoint::new("10.0.0.1", 5000));
    let router = Router::new(&t, &reg).unwrap();
    let req = OwnedRequest::new("GET", "http://helloworld.sample:5000/").from_namespace("sample");
    let first = router.decide_with_draw(&req, 1).pick.endpoint().unwrap();
    router.started(&first);
    let second = router.decide_with_draw(&req, 2).pick.endpoint().unwrap();
    router.started(&second);
    let third = router.decide_with_draw(&req, 3);
    assert!(matches!(third.pick, Pick::Overflow));
    assert_eq!(
        (third.status(), third.pick.response_flag()),
        (503, Some("UO"))
    );
    router.finished(&first);
    assert!(router.decide_with_draw(&req, 4).pick.endpoint().is_some());
    // http2MaxRequests alone.
    let t = table("{connectionPool: {http: {http2MaxRequests: 1}}}");
    let router = Router::new(&t, &reg).unwrap();
    let p = router.decide_with_draw(&req, 1).pick.endpoint().unwrap();
    router.started(&p);
    assert!(matches!(
        router.decide_with_draw(&req, 2).pick,
        Pick::Overflow
    ));
}

/// `retryRemoteLocalities: true`: istiod adds Envoy's `previous_priorities` retry priority with
/// `update_frequency: 2` (route.go / retry.go `ConvertPolicy`): the first retry keeps the
/// priority load, so it stays in the client's subzone; the third try leaves out the priority
/// levels the first two went to, so it reaches the next locality. Without the setting every
/// try stays in the healthy subzone (Envoy chooses the priority by load on each try).
#[test]
fn retry_remote_localities_skips_the_tried_priority_from_the_third_try() {
    let vs = |remote: bool| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: helloworld, namespace: sample}}
spec:
  hosts: [helloworld]
  http:
  - route: [{{destination: {{host: helloworld}}}}]
    retries: {{attempts: 3, retryOn: 5xx, retryRemoteLocalities: {remote}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: helloworld, namespace: sample}}
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy: {{outlierDetection: {OUTLIER}, loadBalancer: {{simple: ROUND_ROBIN, localityLbSetting: {{enabled: true}}}}}}
"
        )
    };
    let req = client("region1/zone1/subzone1");
    for remote in [true, false] {
        let t = Table::from_yaml(&vs(remote)).unwrap();
        let reg = registry();
        let router = Router::new(&t, &reg).unwrap();
        let routed = router.decide_with_draw(&req, 5);
        let first = routed.pick.endpoint().unwrap().endpoint;
        assert_eq!(&*first.address, "10.0.1.1");
        let result = meshroute::retry::UpstreamResult::status(503);
        let v = routed
            .decision
            .retry_after(&result, 1, Duration::ZERO, 5)
            .unwrap();
        assert!(v.retry);
        assert_eq!(v.remote_localities, remote);
        // The first retry: the subzone's only endpoint again (the previous-hosts predicate
        // re-picks within the level the load chose, and the last pick stands).
        let second = router.pick_retry(&routed.decision, &req, 6, &v, &[first]);
        let second = second.endpoint().unwrap().endpoint;
        assert_eq!(&*second.address, "10.0.1.1");
        let third = router.pick_retry(&routed.decision, &req, 7, &v, &[first, second]);
        let third = third.endpoint().unwrap();
        if remote {
            assert_eq!(
                &*third.endpoint.address, "10.0.1.2",
                "the next priority: same zone"
            );
        } else {
            assert_eq!(&*third.endpoint.address, "10.0.1.1");
        }
    }
}
