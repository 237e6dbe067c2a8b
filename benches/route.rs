//! `Table::decide_with_draw` by table size, for Istio (first match) and the Gateway API (most
//! specific match): one host with N rules (path prefix or regex, plus an exact header), hit
//! on rule 0, on rule N-1, a miss, and 1,024 requests scattered over the rules; the same table
//! scanned without its route index, for comparison; and host lookup among 1,000 hosts.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{
    Mode, Uri, VARYING, many_hosts_yaml, miss_request, one_host_yaml, request, rule_number,
    svc_request, table, table_with, varying_requests,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use meshroute::{OwnedRequest, Table};

const SIZES: [usize; 4] = [10, 100, 1000, 10_000];
const REGEX_SIZES: [usize; 3] = [10, 100, 1000];
const SCAN_SIZES: [usize; 3] = [10, 100, 1000];

fn decide(t: &Table, req: &OwnedRequest, draw: u64) -> Option<u32> {
    t.decide_with_draw(black_box(req), black_box(draw))
        .matched()
        .map(|m| m.rule.index)
}

/// Hit rule 0, hit rule N-1, miss, and varying requests, on one table per size.
fn bench_one_host(
    c: &mut Criterion,
    name: &str,
    mode: Mode,
    uri: Uri,
    sizes: &[usize],
    index: bool,
) {
    let mut g = c.benchmark_group(name);
    for &n in sizes {
        // The requests first, as a proxy holds them: in memory of their own, not in the holes
        // a compile leaves in the heap.
        let first = svc_request(mode, 0);
        let last = svc_request(mode, n - 1);
        let miss = miss_request(mode);
        let varying = varying_requests(mode, n);
        let t = table_with(&one_host_yaml(mode, n, uri), index);
        assert_eq!(t.rules().len(), n);

        assert_eq!(rule_number(&t, &first), Some(0));
        assert_eq!(rule_number(&t, &last), Some(n - 1));
        assert_eq!(rule_number(&t, &miss), None);
        assert_eq!(t.decide_with_draw(&miss, 0).status(), 404);
        for (k, r) in varying.iter().enumerate() {
            assert_eq!(rule_number(&t, r), Some((k * 7919) % n));
        }

        for (case, req) in [("hit_first", &first), ("hit_last", &last), ("miss", &miss)] {
            g.bench_with_input(BenchmarkId::new(case, n), req, |b, req| {
                b.iter(|| decide(&t, req, 0))
            });
        }
        g.bench_with_input(BenchmarkId::new("varying", n), &varying, |b, reqs| {
            let mut k = 0usize;
            b.iter(|| {
                let req = &reqs[k % VARYING];
                k = k.wrapping_add(1);
                decide(&t, req, k as u64)
            })
        });
    }
    g.finish();
}

fn istio(c: &mut Criterion) {
    bench_one_host(c, "route_prefix", Mode::Istio, Uri::Prefix, &SIZES, true);
    bench_one_host(
        c,
        "route_regex",
        Mode::Istio,
        Uri::Regex,
        &REGEX_SIZES,
        true,
    );
    bench_one_host(
        c,
        "route_prefix_scan",
        Mode::Istio,
        Uri::Prefix,
        &SCAN_SIZES,
        false,
    );
}

fn gateway_api(c: &mut Criterion) {
    bench_one_host(
        c,
        "gwapi_prefix",
        Mode::GatewayApi,
        Uri::Prefix,
        &SIZES,
        true,
    );
    bench_one_host(
        c,
        "gwapi_regex",
        Mode::GatewayApi,
        Uri::Regex,
        &REGEX_SIZES,
        true,
    );
}

fn hosts(c: &mut Criterion) {
    const HOSTS: usize = 1000;
    let path = "/svc999/api/v1/items?limit=10";
    let last = request(Mode::Istio, "h999.example.com", path, "t999");
    let unknown = request(Mode::Istio, "nowhere.example.com", path, "t999");
    let varying: Vec<OwnedRequest> = (0..VARYING)
        .map(|k| {
            let i = (k * 7919) % HOSTS;
            let host = format!("h{i}.example.com");
            request(
                Mode::Istio,
                &host,
                "/svc/api/v1/items?limit=10",
                &format!("t{i}"),
            )
        })
        .collect();
    // The table after the requests, as in `bench_one_host`.
    let t = table(&many_hosts_yaml(HOSTS));
    assert_eq!(t.rules().len(), HOSTS);
    assert_eq!(
        t.decide_with_draw(&last, 0).destination().map(|d| &*d.host),
        Some("h999.example.com")
    );
    assert!(matches!(
        t.decide_with_draw(&unknown, 0).outcome,
        meshroute::Outcome::Passthrough
    ));
    for (k, r) in varying.iter().enumerate() {
        let d = t.decide_with_draw(r, 0);
        let want = format!("h{}.example.com", (k * 7919) % HOSTS);
        assert_eq!(d.destination().map(|d| &*d.host), Some(&*want));
    }

    let mut g = c.benchmark_group("route_hosts");
    for (case, req) in [("hit", &last), ("unknown_host", &unknown)] {
        g.bench_with_input(BenchmarkId::new(case, HOSTS), req, |b, req| {
            b.iter(|| decide(&t, req, 0))
        });
    }
    g.bench_with_input(BenchmarkId::new("varying", HOSTS), &varying, |b, reqs| {
        let mut k = 0usize;
        b.iter(|| {
            let req = &reqs[k % VARYING];
            k = k.wrapping_add(1);
            decide(&t, req, k as u64)
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
    targets = istio, gateway_api, hosts
}
criterion_main!(benches);
