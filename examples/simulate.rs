//! Runs Istio's Bookinfo traffic-shifting scenario (examples/bookinfo.yaml: reviews v1/v2/v3,
//! `end-user: jason` to v2, everyone else split 80/20 across v1 and v3) through a million
//! requests and prints, per rule and per version, the count and share, and the mean time per
//! decision.
//!
//! ```text
//! cargo run --release --example simulate [-- --requests N --seed S CONFIG...]
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use meshroute::{CompileOptions, Config, Outcome, OwnedRequest};
use rand_core::Rng;

const BOOKINFO: &str = include_str!("bookinfo.yaml");

fn main() {
    if let Err(e) = run() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut requests: u64 = 1_000_000;
    let mut seed: u64 = 42;
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
            _ => files.push(a),
        }
    }
    let config = if files.is_empty() {
        Config::from_str(BOOKINFO, "examples/bookinfo.yaml").map_err(|e| e.to_string())?
    } else {
        let mut c = Config::new();
        for f in &files {
            c.add_file(f).map_err(|e| e.to_string())?;
        }
        c
    };
    let table = meshroute::compile(&config, &CompileOptions::strict())
        .map_err(|e| e.to_string())?
        .table;

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
        let d = table.decide(std::hint::black_box(req), &mut timing_rng);
        checksum = checksum.wrapping_add(u64::from(d.status()));
    }
    let elapsed = start.elapsed();
    std::hint::black_box(checksum);

    let mut per_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_version: BTreeMap<String, u64> = BTreeMap::new();
    for &is_jason in &users {
        let req = if is_jason { &jason } else { &anonymous };
        let d = table.decide(req, &mut rng);
        let (rule, version) = match &d.outcome {
            Outcome::Matched(m) => {
                let src = table.source_of(m.rule);
                let name = if m.route_name.is_empty() {
                    format!("#{}", m.rule.index)
                } else {
                    m.route_name.to_string()
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
    println!(
        "\nmean time per decision: {:.1} ns ({} decisions in {:.3} s, one thread, release build)",
        elapsed.as_nanos() as f64 / requests.max(1) as f64,
        requests,
        elapsed.as_secs_f64()
    );
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
