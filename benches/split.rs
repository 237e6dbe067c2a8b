//! The weighted split: `Split::pick` among three destinations weighted 80/15/5 with varying
//! draws, and a whole decision on a rule with that split.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use meshroute::split::Split;
use meshroute::{OwnedRequest, Table};

const WEIGHTED: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web.example.com
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  http:
  - name: canary
    match: [{uri: {prefix: /svc0}, headers: {x-tenant: {exact: t0}}}]
    route:
    - {destination: {host: web.example.com, subset: v1}, weight: 80}
    - {destination: {host: web.example.com, subset: v2}, weight: 15}
    - {destination: {host: web.example.com, subset: v3}, weight: 5}
"#;

/// 1,024 draws spread over the whole `u64` range (a fixed LCG, so runs are comparable).
fn draws() -> Vec<u64> {
    let mut x = 0x853c_49e6_748f_ea9bu64;
    (0..1024)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x
        })
        .collect()
}

fn expected(draw: u64) -> usize {
    match draw % 100 {
        0..80 => 0,
        80..95 => 1,
        _ => 2,
    }
}

fn pick(c: &mut Criterion) {
    let split = Split::new(&[80, 15, 5]);
    let draws = draws();
    for &d in &draws {
        assert_eq!(split.pick(d), Some(expected(d)));
    }
    let mut g = c.benchmark_group("split");
    g.bench_function("pick_80_15_5", |b| {
        let mut k = 0usize;
        b.iter(|| {
            let d = draws[k % draws.len()];
            k = k.wrapping_add(1);
            black_box(&split).pick(black_box(d))
        })
    });
    g.finish();
}

fn decide(c: &mut Criterion) {
    let table = Table::from_yaml(WEIGHTED).expect("bench config compiles");
    let req = OwnedRequest::new("GET", "http://web.example.com/svc0/api/v1/items?limit=10")
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
        .header("x-tenant", "t0")
        .from_namespace("default");
    let draws = draws();
    let subsets = ["v1", "v2", "v3"];
    for &d in &draws {
        let decision = table.decide_with_draw(&req, d);
        assert_eq!(decision.matched().map(|m| m.route_name()), Some("canary"));
        assert_eq!(
            decision.destination().and_then(|d| d.subset.as_deref()),
            Some(subsets[expected(d)])
        );
    }
    let mut g = c.benchmark_group("split");
    g.bench_function("decide_weighted_rule", |b| {
        let mut k = 0usize;
        b.iter(|| {
            let d = draws[k % draws.len()];
            k = k.wrapping_add(1);
            table
                .decide_with_draw(black_box(&req), black_box(d))
                .destination()
                .map(|d| d.subset.is_some())
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = pick, decide
}
criterion_main!(benches);
