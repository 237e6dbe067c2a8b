//! Embedding meshroute as a proxy does: a table compiled once, a `Router` bound to the
//! endpoints the proxy knows, one decision and endpoint pick per request, the outcome of each
//! request reported back for per-version golden signals, and the table's counters scraped as
//! Prometheus text. It runs Istio's Bookinfo traffic-shifting scenario (examples/bookinfo.yaml:
//! reviews v1/v2/v3, `end-user: jason` to v2, everyone else split 80/20 across v1 and v3)
//! through a million requests, then a sticky canary ramp: how many of 10,000 users move at each
//! weight step.
//!
//! ```text
//! cargo run --release --example embed [-- --requests N --seed S --metrics CONFIG...]
//! ```
//!
//! `--metrics` ends with the table's counters in Prometheus text format. For the same job on
//! your own configuration, without writing code, see `meshroute simulate`.

use std::collections::BTreeMap;
use std::time::Instant;

use meshroute::registry::{Pick, Registry, RegistryOptions, Router};
use meshroute::{CompileOptions, Config, Outcome, OwnedRequest, Table};
use rand_core::Rng;

const BOOKINFO: &str = include_str!("bookinfo.yaml");
const ENDPOINTS: &str = include_str!("bookinfo-endpoints.yaml");

fn main() {
    if let Err(e) = run() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut requests: u64 = 1_000_000;
    let mut seed: u64 = 42;
    let mut metrics = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--requests" => {
                requests = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--requests N")?
            }
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).ok_or("--seed S")?,
            "--metrics" => metrics = true,
            _ => files.push(a),
        }
    }
    let config = if files.is_empty() {
        let mut c =
            Config::from_str(BOOKINFO, "examples/bookinfo.yaml").map_err(|e| e.to_string())?;
        c.add_str(ENDPOINTS, "examples/bookinfo-endpoints.yaml")
            .map_err(|e| e.to_string())?;
        c
    } else {
        let mut c = Config::new();
        for f in &files {
            c.add_file(f).map_err(|e| e.to_string())?;
        }
        c
    };
    // One table that counts (for the report), one that does not (for the timing).
    let mut options = CompileOptions::strict();
    options.counters = true;
    let table = meshroute::compile(&config, &options)
        .map_err(|e| e.to_string())?
        .table;
    let plain = meshroute::compile(&config, &CompileOptions::strict())
        .map_err(|e| e.to_string())?
        .table;
    let (registry, _) = Registry::from_config(&config, &RegistryOptions::default());
    let router = Router::new(&table, &registry)?;

    // The traffic: 10% of users are jason, the rest anonymous; all call reviews from productpage.
    let jason = OwnedRequest::new("GET", "http://reviews:9080/reviews/0")
        .header("end-user", "jason")
        .from_namespace("default")
        .source_label("app", "productpage");
    let anonymous = OwnedRequest::new("GET", "http://reviews:9080/reviews/0")
        .from_namespace("default")
        .source_label("app", "productpage");
    let mut rng = rand_pcg::Pcg64::new(u128::from(seed), 0x0a02_bdbf_7bb3_c0a7_ac28_fa16_a64a_bf96);
    let users: Vec<bool> = (0..requests)
        .map(|_| rng.next_u32().is_multiple_of(10))
        .collect();

    // Time the decisions alone, then decide again with the same seed to count.
    let mut timing_rng = rand_pcg::Pcg64::new(u128::from(seed), 1);
    let start = Instant::now();
    let mut checksum = 0u64;
    for &is_jason in &users {
        let req = if is_jason { &jason } else { &anonymous };
        let d = plain.decide(std::hint::black_box(req), &mut timing_rng);
        checksum = checksum.wrapping_add(u64::from(d.status()));
    }
    let elapsed = start.elapsed();
    std::hint::black_box(checksum);

    let mut per_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_version: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_endpoint: BTreeMap<String, u64> = BTreeMap::new();
    for &is_jason in &users {
        let req = if is_jason { &jason } else { &anonymous };
        let routed = router.decide(req, &mut rng);
        let d = routed.decision;
        let endpoint = match routed.pick {
            Pick::Endpoint(p) => format!(
                "{}:{} ({}, {})",
                p.endpoint.address,
                p.endpoint.port,
                p.endpoint.labels.get("version").map_or("-", String::as_str),
                p.policy.name()
            ),
            Pick::NoHealthyEndpoint => "(no healthy endpoint: 503)".into(),
            Pick::NoEndpoints => "(no endpoint known: 503)".into(),
            _ => "(not forwarded)".into(),
        };
        *per_endpoint.entry(endpoint).or_default() += 1;
        // Simulated outcomes reported back: v3 is slower, v2 fails 5% of its requests.
        if let Some(h) = d.report_handle() {
            let subset = d
                .destination()
                .and_then(|x| x.subset.as_deref())
                .unwrap_or("");
            let jitter = rng.next_u32() % 100;
            let (status, ms) = match subset {
                "v2" => (
                    if jitter < 5 { 503 } else { 200 },
                    8 + u64::from(jitter % 10),
                ),
                "v3" => (200, 40 + u64::from(jitter * 3)),
                _ => (200, 4 + u64::from(jitter % 8)),
            };
            table.report(h, status, std::time::Duration::from_millis(ms));
        }
        let (rule, version) = match &d.outcome {
            Outcome::Matched(m) => {
                let src = table.source_of(m.rule);
                let name = if m.route_name().is_empty() {
                    format!("#{}", m.rule.index)
                } else {
                    m.route_name().to_string()
                };
                let dest = d.destination().map_or("-".to_string(), |x| {
                    format!("{} {}", x.host, x.subset.as_deref().unwrap_or("(all)"))
                });
                (format!("{}/{} {}", src.namespace, src.name, name), dest)
            }
            Outcome::NoRoute { .. } => ("(no rule matched: 404)".into(), "-".into()),
            _ => ("(no VirtualService: passthrough)".into(), "-".into()),
        };
        *per_rule.entry(rule).or_default() += 1;
        *per_version.entry(version).or_default() += 1;
    }

    println!(
        "meshroute simulate: {requests} requests to reviews (10% with end-user: jason), seed {seed}\n"
    );
    print_table("rule", &per_rule, requests);
    println!();
    print_table("destination (host subset)", &per_version, requests);
    println!();
    print_table("endpoint (version, policy)", &per_endpoint, requests);
    if let Some(m) = table.metrics() {
        println!("\ngolden signals per version (simulated outcomes: v3 slower, v2 failing 5%):");
        println!(
            "{:<40}  {:>9}  {:>7}  {:>10}  {:>8}  {:>8}",
            "destination version", "requests", "share", "error rate", "p50 ms", "p99 ms"
        );
        let total: u64 = m.versions.iter().map(|v| v.requests()).sum();
        for v in &m.versions {
            println!(
                "{:<40}  {:>9}  {:>6.2}%  {:>9.2}%  {:>8}  {:>8}",
                format!("{} {}", v.host, v.subset.as_deref().unwrap_or("-")),
                v.requests(),
                v.requests() as f64 * 100.0 / total.max(1) as f64,
                v.errors() as f64 * 100.0 / v.requests().max(1) as f64,
                format!("≤{}", v.latency_quantile_ms(0.5)),
                format!("≤{}", v.latency_quantile_ms(0.99)),
            );
        }
    }
    let per_decision = elapsed.as_nanos() as f64 / requests.max(1) as f64;
    println!(
        "\nmean time per decision: {per_decision:.1} ns, {:.2} million decisions per second ({} decisions in {:.3} s, one thread, release build)",
        1e3 / per_decision.max(1e-9),
        requests,
        elapsed.as_secs_f64()
    );
    sticky_ramp()?;
    if metrics && let Some(m) = table.metrics() {
        println!("\n{}", m.prometheus());
    }
    Ok(())
}

/// A sticky canary ramp: 10,000 users keyed by `x-user`, v2's weight raised step by step.
/// Prints, at each step, v2's share and how many users moved (and in which direction).
fn sticky_ramp() -> Result<(), String> {
    println!("\nsticky canary ramp (meshroute.io/sticky-split: header:x-user), 10,000 users:");
    println!(
        "{:>9}  {:>9}  {:>12}  {:>12}",
        "v1/v2", "v2 share", "moved to v2", "moved to v1"
    );
    let users: Vec<OwnedRequest> = (0..10_000)
        .map(|u| {
            OwnedRequest::new("GET", "http://reviews:9080/reviews/0")
                .header("x-user", &format!("user-{u}"))
                .from_namespace("default")
        })
        .collect();
    let mut before: Option<Vec<bool>> = None;
    for (v1, v2) in [(100, 0), (90, 10), (80, 20), (50, 50), (0, 100)] {
        let table = Table::from_yaml(&format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: reviews, namespace: default, annotations: {{meshroute.io/sticky-split: \"header:x-user\"}}}}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - {{destination: {{host: reviews, subset: v1}}, weight: {v1}}}\n    - {{destination: {{host: reviews, subset: v2}}, weight: {v2}}}\n---\n{}",
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: default}\nspec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}\n"
        ))
        .map_err(|e| e.to_string())?;
        let on_v2: Vec<bool> = users
            .iter()
            .map(|u| {
                table
                    .decide_with_draw(u, 0)
                    .destination()
                    .and_then(|d| d.subset.as_deref())
                    == Some("v2")
            })
            .collect();
        let share = on_v2.iter().filter(|&&x| x).count() as f64 / users.len() as f64 * 100.0;
        let (up, down) = match &before {
            None => (0, 0),
            Some(b) => b
                .iter()
                .zip(&on_v2)
                .fold((0, 0), |(u, d), (was, is)| match (was, is) {
                    (false, true) => (u + 1, d),
                    (true, false) => (u, d + 1),
                    _ => (u, d),
                }),
        };
        println!(
            "{:>9}  {share:>8.2}%  {up:>12}  {down:>12}",
            format!("{v1}/{v2}")
        );
        before = Some(on_v2);
    }
    Ok(())
}

fn print_table(title: &str, rows: &BTreeMap<String, u64>, total: u64) {
    let width = rows
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(title.len());
    println!("{title:<width$}  {:>9}  {:>7}", "requests", "share");
    for (k, n) in rows {
        println!(
            "{k:<width$}  {n:>9}  {:>6.2}%",
            *n as f64 * 100.0 / total.max(1) as f64
        );
    }
}
