//! `meshroute simulate`: many requests through a configuration, with the share each rule,
//! destination and endpoint gets.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use meshroute::diff::rule_label;
use meshroute::registry::Pick;
use meshroute::witness::{Witness, witnesses};
use meshroute::{CompileOptions, Decision, Outcome, OwnedRequest};
use rand_core::Rng;
use serde_json::json;

use crate::style::{self, BOLD, paint};
use crate::{Exit, Format, Paths};

/// Send many requests through a configuration; print the share each rule, version and endpoint
/// gets
///
/// The traffic is generated from the configuration's own rules: one request class per rule and
/// match block that a request can reach (a witness request for it), all classes equally likely.
/// Each request's split draw comes from a seeded random generator, so a run is reproducible.
#[derive(Args)]
#[command(after_help = "Examples:
  meshroute simulate examples/bookinfo.yaml
  meshroute simulate --requests 1000000 --seed 7 --endpoints examples/bookinfo-endpoints.yaml examples/bookinfo.yaml
  meshroute simulate -o json manifests/")]
pub struct SimulateArgs {
    #[command(flatten)]
    paths: Paths,
    /// How many requests (1 or more)
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    requests: u64,
    /// Seed of the random generator (the traffic mix and the split draws)
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// EndpointSlice, Pod and Service resources: also count the endpoint each request reaches
    /// (such resources among PATH count too)
    #[arg(long, value_name = "PATH")]
    endpoints: Vec<PathBuf>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Counts by label. The label is made once per key (the first time a key is seen), so counting
/// does not format a string per request.
#[derive(Default)]
struct Tally(HashMap<(usize, u32), (String, u64)>);

impl Tally {
    fn add(&mut self, key: (usize, u32), label: impl FnOnce() -> String) {
        self.0.entry(key).or_insert_with(|| (label(), 0)).1 += 1;
    }

    /// By label (keys with the same label merged).
    fn by_label(&self) -> BTreeMap<&str, u64> {
        let mut out = BTreeMap::new();
        for (label, n) in self.0.values() {
            *out.entry(label.as_str()).or_default() += n;
        }
        out
    }
}

/// A key for what `d` did: the rule and block, or the outcome.
fn rule_key(d: &Decision<'_>) -> (usize, u32) {
    match d.matched() {
        Some(m) => (
            std::ptr::from_ref(m.rule) as usize,
            m.block.map_or(0, |b| u32::from(b) + 1),
        ),
        None => (0, d.outcome.index() as u32),
    }
}

fn destination_key(d: &Decision<'_>) -> (usize, u32) {
    match (d.matched(), d.destination()) {
        (Some(_), Some(dst)) => (std::ptr::from_ref(dst) as usize, 0),
        _ => (0, u32::from(d.status()) + 1000 * d.outcome.index() as u32),
    }
}

pub fn run(args: &SimulateArgs) -> Exit {
    let (_, table, router) = match crate::report::load_routed(
        &args.paths,
        &CompileOptions::default(),
        &args.endpoints,
    ) {
        Ok(x) => x,
        Err(exit) => return exit,
    };
    let traffic: Vec<OwnedRequest> = witnesses(&table)
        .into_iter()
        .filter_map(|w| match w.result {
            Witness::Reaches(r) => Some(r),
            _ => None,
        })
        .collect();
    if traffic.is_empty() {
        return Exit::Usage(
            "no rule of this configuration can take a request, so there is no traffic to simulate"
                .into(),
        );
    }
    let mut rng = rand_pcg::Pcg64::new(
        u128::from(args.seed),
        0x0a02_bdbf_7bb3_c0a7_ac28_fa16_a64a_bf96,
    );
    let progress = if args.requests >= 2_000_000 {
        let bar = ProgressBar::new(args.requests);
        if let Ok(s) = ProgressStyle::with_template("{bar:40} {pos}/{len} requests, {eta} left") {
            bar.set_style(s);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let (mut rules, mut destinations, mut endpoints) =
        (Tally::default(), Tally::default(), Tally::default());
    // Endpoints with a locality: requests per locality and priority level.
    let mut localities = Tally::default();
    let start = Instant::now();
    for i in 0..args.requests {
        let req = &traffic[(rng.next_u64() % traffic.len() as u64) as usize];
        let draw = rng.next_u64();
        let d = table.decide_with_draw(req, draw);
        rules.add(rule_key(&d), || {
            rule_label(&table, &d).unwrap_or_else(|| outcome_label(&d))
        });
        destinations.add(destination_key(&d), || destination_label(&d));
        if let Some(router) = &router {
            let pick = router.pick(&d, req, draw);
            let key = match &pick {
                Pick::Endpoint(p) => (std::ptr::from_ref(p.endpoint) as usize, 0),
                Pick::NoHealthyEndpoint => (0, 1),
                Pick::NoEndpoints => (0, 2),
                _ => (0, 3),
            };
            if let Pick::Endpoint(p) = &pick
                && let Some(loc) = p.endpoint.locality.as_deref()
            {
                localities.add(
                    (std::ptr::from_ref(p.endpoint) as usize, p.priority),
                    || format!("{loc} (priority {})", p.priority),
                );
            }
            endpoints.add(key, || match pick {
                Pick::Endpoint(p) => {
                    format!("{}:{} ({})", p.endpoint.address, p.endpoint.port, p.cluster)
                }
                Pick::NoHealthyEndpoint => "no healthy endpoint (503)".into(),
                Pick::NoEndpoints => "no endpoint known (503)".into(),
                Pick::Overflow => "connection pool overflow (503 UO)".into(),
                _ => "not forwarded".into(),
            });
        }
        if i % 65_536 == 0 {
            progress.set_position(i);
        }
    }
    progress.finish_and_clear();
    let elapsed = start.elapsed();
    let n = args.requests;
    if args.output == Format::Json {
        let table_json = |t: &Tally| {
            t.by_label()
                .iter()
                .map(|(k, v)| json!({"label": k, "requests": v, "share": *v as f64 / n.max(1) as f64}))
                .collect::<Vec<_>>()
        };
        let mut out = json!({
            "requests": n,
            "seed": args.seed,
            "request_classes": traffic.len(),
            "rules": table_json(&rules),
            "destinations": table_json(&destinations),
            "nanoseconds_per_decision": elapsed.as_nanos() as f64 / n.max(1) as f64,
        });
        if router.is_some() {
            out["endpoints"] = json!(table_json(&endpoints));
        }
        if !localities.0.is_empty() {
            out["localities"] = json!(table_json(&localities));
        }
        style::out(&format!("{out:#}\n"));
        return Exit::Clean;
    }
    let mut text = format!(
        "{}, seed {}, from {} (one per reachable rule and match block)\n\n",
        crate::check::plural(n as usize, "request"),
        args.seed,
        match traffic.len() {
            1 => "1 request class".to_string(),
            k => format!("{k} request classes"),
        }
    );
    text.push_str(&render("destination", &destinations, n));
    text.push('\n');
    text.push_str(&render("rule", &rules, n));
    if router.is_some() {
        text.push('\n');
        text.push_str(&render("endpoint", &endpoints, n));
    }
    if !localities.0.is_empty() {
        text.push('\n');
        text.push_str(&render("locality", &localities, n));
    }
    let per = elapsed.as_nanos() as f64 / n.max(1) as f64;
    text.push_str(&format!(
        "\n{per:.0} ns per decision ({:.2} million a second, one thread)\n",
        1e3 / per.max(1e-9)
    ));
    style::out(&text);
    Exit::Clean
}

fn outcome_label(d: &Decision<'_>) -> String {
    match &d.outcome {
        Outcome::Passthrough => "no route: passthrough to the addressed service".into(),
        Outcome::PassthroughCluster => "unknown host: PassthroughCluster (ALLOW_ANY)".into(),
        Outcome::BlackHole => "unknown host: BlackHoleCluster (REGISTRY_ONLY, 502)".into(),
        Outcome::NoRoute { .. } => "no rule matched (404)".into(),
        Outcome::BadRequest { .. } => "refused path (400)".into(),
        _ => "no virtual host (404)".into(),
    }
}

fn destination_label(d: &Decision<'_>) -> String {
    match (&d.outcome, d.destination()) {
        (Outcome::Matched(_), Some(dst)) => match &dst.subset {
            Some(s) => format!("{} subset {s}", dst.host),
            None => dst.host.to_string(),
        },
        (Outcome::Matched(_), None) => format!("answered by the rule ({})", d.status()),
        _ => outcome_label(d),
    }
}

/// An aligned table: label, count, share and a bar, largest first.
fn render(title: &str, t: &Tally, total: u64) -> String {
    let labels = t.by_label();
    let mut rows: Vec<(&&str, &u64)> = labels.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(title.len());
    let count_width = total.to_string().len().max("requests".len());
    let mut out = format!(
        "{}\n",
        paint(
            BOLD,
            format!(
                "{title:<width$}  {:>count_width$}  {:>7}",
                "requests", "share"
            )
        )
    );
    for (label, &count) in rows {
        let share = count as f64 * 100.0 / total.max(1) as f64;
        let bar = "█".repeat(((share / 100.0) * 30.0).round() as usize);
        out.push_str(&format!(
            "{label:<width$}  {count:>count_width$}  {share:>6.2}%  {bar}\n"
        ));
    }
    out
}
