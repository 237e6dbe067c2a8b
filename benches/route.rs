//! `Table::decide_with_draw` by table size: one host with N rules (prefix `uri` plus an exact
//! header), hit on the first rule, on the last, a miss, and 1,024 requests cycling over the
//! rules; the same with regex paths; and host lookup among 1,000 hosts of one rule each.
//!
//! Evaluation is a linear scan over a host's rules, so hit-last and miss grow with N.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use meshroute::{OwnedRequest, Table};

const HOST: &str = "web.example.com";
const SIZES: [usize; 3] = [10, 100, 1000];
const REGEX_SIZES: [usize; 2] = [100, 1000];
const VARYING: usize = 1024;

#[derive(Clone, Copy)]
enum Uri {
    Prefix,
    Regex,
}

/// A DestinationRule with subsets v1, v2 and one VirtualService of `n` rules for [`HOST`].
fn one_host_yaml(n: usize, uri: Uri) -> String {
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
            Uri::Prefix => format!("{{prefix: /svc{i}}}"),
            Uri::Regex => format!("{{regex: \"/svc{i}/api/v[0-9]+/.*\"}}"),
        };
        let subset = if i % 2 == 0 { "v1" } else { "v2" };
        writeln!(
            y,
            "  - name: r{i}\n    match: [{{uri: {cond}, headers: {{x-tenant: {{exact: t{i}}}}}}}]\n    \
             route: [{{destination: {{host: web.example.com, subset: {subset}}}}}]"
        )
        .unwrap();
    }
    y
}

/// `hosts` VirtualServices, each with one rule for `h{i}.example.com`.
fn many_hosts_yaml(hosts: usize) -> String {
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
        .unwrap();
    }
    y
}

/// `GET http://<host>/<path>` with 7 ordinary headers and `x-tenant: <tenant>` last.
fn request(host: &str, path: &str, tenant: &str) -> OwnedRequest {
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

fn svc_request(i: usize) -> OwnedRequest {
    request(
        HOST,
        &format!("/svc{i}/api/v1/items?limit=10"),
        &format!("t{i}"),
    )
}

/// The `spec.http` index of the matched rule, `None` when nothing matched.
fn rule_of(table: &Table, req: &OwnedRequest) -> Option<u32> {
    table
        .decide_with_draw(req, 0)
        .matched()
        .map(|m| m.rule.index)
}

fn table(yaml: &str) -> Table {
    Table::from_yaml(yaml).expect("bench config compiles")
}

/// Hit first, hit last, miss and varying requests on one table of `n` rules.
fn bench_one_host(c: &mut Criterion, name: &str, uri: Uri, sizes: &[usize]) {
    let mut g = c.benchmark_group(name);
    for &n in sizes {
        let t = table(&one_host_yaml(n, uri));
        assert_eq!(t.rules().len(), n);
        let first = svc_request(0);
        let last = svc_request(n - 1);
        // The path matches no rule's uri; the tenant no rule's header.
        let miss = request(HOST, "/other/api/v1/items?limit=10", "t-none");
        let varying: Vec<OwnedRequest> = (0..VARYING).map(|k| svc_request(k % n)).collect();

        assert_eq!(rule_of(&t, &first), Some(0));
        assert_eq!(rule_of(&t, &last), Some(n as u32 - 1));
        assert_eq!(rule_of(&t, &miss), None);
        assert_eq!(t.decide_with_draw(&miss, 0).status(), 404);
        for (k, r) in varying.iter().enumerate() {
            assert_eq!(rule_of(&t, r), Some((k % n) as u32));
        }

        for (case, req) in [("hit_first", &first), ("hit_last", &last), ("miss", &miss)] {
            g.bench_with_input(BenchmarkId::new(case, n), req, |b, req| {
                b.iter(|| {
                    t.decide_with_draw(black_box(req), black_box(0))
                        .matched()
                        .map(|m| m.rule.index)
                })
            });
        }
        g.bench_with_input(BenchmarkId::new("varying", n), &varying, |b, reqs| {
            let mut k = 0usize;
            b.iter(|| {
                let req = &reqs[k % VARYING];
                k = k.wrapping_add(1);
                t.decide_with_draw(black_box(req), black_box(k as u64))
                    .matched()
                    .map(|m| m.rule.index)
            })
        });
    }
    g.finish();
}

fn prefix(c: &mut Criterion) {
    bench_one_host(c, "route_prefix", Uri::Prefix, &SIZES);
}

fn regex(c: &mut Criterion) {
    bench_one_host(c, "route_regex", Uri::Regex, &REGEX_SIZES);
}

fn hosts(c: &mut Criterion) {
    const HOSTS: usize = 1000;
    let t = table(&many_hosts_yaml(HOSTS));
    assert_eq!(t.rules().len(), HOSTS);
    let last = request("h999.example.com", "/svc999/api/v1/items?limit=10", "t999");
    let unknown = request(
        "nowhere.example.com",
        "/svc999/api/v1/items?limit=10",
        "t999",
    );
    let varying: Vec<OwnedRequest> = (0..VARYING)
        .map(|k| {
            let i = (k * 7919) % HOSTS;
            request(
                &format!("h{i}.example.com"),
                "/svc/api/v1/items?limit=10",
                &format!("t{i}"),
            )
        })
        .collect();
    assert_eq!(rule_of(&t, &last), Some(0));
    assert_eq!(
        t.decide_with_draw(&last, 0).destination().map(|d| &*d.host),
        Some("h999.example.com")
    );
    assert!(matches!(
        t.decide_with_draw(&unknown, 0).outcome,
        meshroute::Outcome::Passthrough
    ));
    for (k, r) in varying.iter().enumerate() {
        let i = (k * 7919) % HOSTS;
        let d = t.decide_with_draw(r, 0);
        assert_eq!(
            d.destination().map(|d| d.host.to_string()),
            Some(format!("h{i}.example.com"))
        );
    }

    let mut g = c.benchmark_group("route_hosts");
    for (case, req) in [("hit", &last), ("unknown_host", &unknown)] {
        g.bench_with_input(BenchmarkId::new(case, HOSTS), req, |b, req| {
            b.iter(|| {
                t.decide_with_draw(black_box(req), black_box(0))
                    .matched()
                    .map(|m| m.rule.index)
            })
        });
    }
    g.bench_with_input(BenchmarkId::new("varying", HOSTS), &varying, |b, reqs| {
        let mut k = 0usize;
        b.iter(|| {
            let req = &reqs[k % VARYING];
            k = k.wrapping_add(1);
            t.decide_with_draw(black_box(req), black_box(k as u64))
                .matched()
                .map(|m| m.rule.index)
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
    targets = prefix, regex, hosts
}
criterion_main!(benches);
