//! Monitoring of versions: decision counters and per-version golden signals, kept with atomics
//! (lock-free, allocation-free on the decision path), exported as a snapshot or as Prometheus
//! text with Istio's standard metric names where they overlap.
//!
//! Counting is optional per table (`CompileOptions::counters`): a table without counters pays
//! nothing on the decision path.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `meshroute_decisions_total` | `outcome` | decisions by outcome: `matched`, `no_route`, `no_virtual_host`, `passthrough`, `bad_request` |
//! | `meshroute_decision_status_total` | `status_code` | decisions by the status routing answers with (404 no match, 500/503 refused, redirects, direct responses, aborts) |
//! | `meshroute_rule_matches_total` | `kind`, `namespace`, `name`, `rule`, `match`, `route_name` | decisions per rule and match block |
//! | `meshroute_destination_decisions_total` | `destination_service`, `destination_subset`, `destination_port` | decisions sent to each destination |
//! | `istio_requests_total` | `reporter`, `destination_service`, `destination_service_name`, `destination_service_namespace`, `destination_version`, `response_code` | outcomes reported back, per version and status code (Istio's name and labels) |
//! | `istio_request_duration_milliseconds` | same, without `response_code` | histogram of reported latencies, Istio's default buckets |
//!
//! `destination_version` is the subset name (Istio reads the workload's `version` label; a
//! subset usually selects exactly that). `reporter` is always `source`: meshroute decides on the
//! client side of a request.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::decision::{Decision, Outcome};
use crate::rule::{ClusterKey, Rule, Source};

/// Upper bounds (milliseconds) of the latency histogram: Istio's default buckets for
/// `istio_request_duration_milliseconds`; a last, implicit bucket holds the rest.
pub const LATENCY_BUCKETS_MS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Status codes counted one by one (100..=599); others count as 599's neighbour `0`.
const CODES: usize = 500;

/// The counters of one table.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Offset of each rule's first block counter in `blocks`.
    rule_base: Vec<u32>,
    blocks: Vec<AtomicU64>,
    destinations: Vec<AtomicU64>,
    outcomes: [AtomicU64; Outcome::LABELS.len()],
    /// Decisions by the status routing answers with (index code − 100; 0 for other codes):
    /// 404 for no match, 500/503 for refused destinations, redirects, direct responses, aborts.
    statuses: Box<[AtomicU64]>,
    /// Golden signals per cluster (version); the last one is for passthrough traffic.
    signals: Vec<Signals>,
}

#[derive(Debug)]
struct Signals {
    /// Requests by status code 100..=599 (index code − 100); index 0 also takes codes outside.
    codes: Box<[AtomicU64]>,
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    sum_micros: AtomicU64,
}

impl Signals {
    fn new() -> Signals {
        Signals {
            codes: (0..CODES).map(|_| AtomicU64::new(0)).collect(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Counters {
    /// Zeroed counters for a table of `rules` and `clusters` destinations.
    pub(crate) fn new(rules: &[Rule], clusters: usize) -> Counters {
        let mut rule_base = Vec::with_capacity(rules.len());
        let mut n = 0u32;
        for r in rules {
            rule_base.push(n);
            n += r.blocks.len().max(1) as u32;
        }
        Counters {
            rule_base,
            blocks: (0..n).map(|_| AtomicU64::new(0)).collect(),
            destinations: (0..clusters).map(|_| AtomicU64::new(0)).collect(),
            outcomes: std::array::from_fn(|_| AtomicU64::new(0)),
            statuses: (0..CODES).map(|_| AtomicU64::new(0)).collect(),
            signals: (0..=clusters).map(|_| Signals::new()).collect(),
        }
    }

    /// Counts one decision; `entry` is the (rule, block) that matched, if any.
    pub(crate) fn record(&self, decision: &Decision<'_>, entry: Option<(u32, Option<u16>)>) {
        self.outcomes[decision.outcome.index()].fetch_add(1, Ordering::Relaxed);
        let status = decision.status();
        let code = if (100..600).contains(&status) {
            usize::from(status) - 100
        } else {
            0
        };
        self.statuses[code].fetch_add(1, Ordering::Relaxed);
        if let Some((rule, block)) = entry
            && let Some(base) = self.rule_base.get(rule as usize)
            && let Some(c) = self
                .blocks
                .get((*base + u32::from(block.unwrap_or(0))) as usize)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(d) = decision.destination()
            && let Some(c) = self.destinations.get(d.cluster as usize)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a reported outcome; the passthrough handle counts in the last bucket.
    pub(crate) fn report(&self, handle: Handle, status: u16, latency: Duration) {
        let signals = if handle.signals == u32::MAX {
            self.signals.len() - 1
        } else {
            handle.signals as usize
        };
        let Some(s) = self.signals.get(signals) else {
            return;
        };
        let code = if (100..600).contains(&status) {
            usize::from(status) - 100
        } else {
            0
        };
        s.codes[code].fetch_add(1, Ordering::Relaxed);
        let ms = latency.as_secs_f64() * 1000.0;
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|&b| ms <= b)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        s.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        s.sum_micros.fetch_add(
            latency.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }
}

/// What the embedder reports an outcome through: taken from a decision, `Copy`, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    signals: u32,
}

impl Decision<'_> {
    /// The handle to report this request's outcome with ([`Table::report`](crate::Table::report)): the version it was
    /// sent to, or the passthrough bucket. `None` when the request was not forwarded.
    pub fn report_handle(&self) -> Option<Handle> {
        match self.outcome {
            Outcome::Matched(_) => self.destination().map(|d| Handle { signals: d.cluster }),
            Outcome::Passthrough => Some(Handle { signals: u32::MAX }),
            _ => None,
        }
    }
}

impl Counters {
    /// A snapshot of every counter, labelled by the table's `rules`, their `sources` and its
    /// `clusters`.
    pub(crate) fn snapshot(
        &self,
        rules: &[Rule],
        sources: &[Source],
        clusters: &[ClusterKey],
    ) -> Metrics {
        let c = self;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut rule_counts = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let src = &sources[r.source as usize];
            let n = r.blocks.len().max(1);
            for b in 0..n {
                let count = load(&c.blocks[c.rule_base[i] as usize + b]);
                let route_name = r.route_name((!r.blocks.is_empty()).then_some(b as u16));
                rule_counts.push(RuleCount {
                    kind: src.kind.to_string(),
                    namespace: src.namespace.to_string(),
                    name: src.name.to_string(),
                    rule: r.index,
                    block: (!r.blocks.is_empty()).then_some(b as u32),
                    route_name: route_name.to_string(),
                    count,
                });
            }
        }
        let destinations = clusters
            .iter()
            .zip(&c.destinations)
            .map(|(k, n)| DestinationCount {
                host: k.host.to_string(),
                subset: k.subset.as_deref().map(String::from),
                port: k.port,
                count: load(n),
            })
            .collect();
        let mut versions = Vec::new();
        for (i, s) in c.signals.iter().enumerate() {
            let key = clusters.get(i);
            let codes: Vec<(u16, u64)> = s
                .codes
                .iter()
                .enumerate()
                .map(|(j, n)| ((j + 100) as u16, load(n)))
                .filter(|(_, n)| *n > 0)
                .collect();
            if codes.is_empty() {
                continue;
            }
            versions.push(VersionSignals {
                host: key.map_or("(passthrough)".to_string(), |k| k.host.to_string()),
                subset: key.and_then(|k| k.subset.as_deref().map(String::from)),
                codes,
                buckets: s.buckets.iter().map(load).collect(),
                sum: Duration::from_micros(load(&s.sum_micros)),
            });
        }
        Metrics {
            outcomes: Outcome::LABELS
                .iter()
                .zip(&c.outcomes)
                .map(|(o, n)| (*o, load(n)))
                .collect(),
            statuses: c
                .statuses
                .iter()
                .enumerate()
                .map(|(j, n)| ((j + 100) as u16, load(n)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            rules: rule_counts,
            destinations,
            versions,
        }
    }
}

/// A snapshot of a table's counters.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// Decisions by outcome.
    pub outcomes: Vec<(&'static str, u64)>,
    /// Decisions by the status routing answers with (non-zero only): 200 when forwarded, 404
    /// for no match, 500/503 for refused destinations, redirect and direct-response codes,
    /// injected aborts.
    pub statuses: Vec<(u16, u64)>,
    /// Decisions per rule and match block.
    pub rules: Vec<RuleCount>,
    /// Decisions per destination.
    pub destinations: Vec<DestinationCount>,
    /// Reported outcomes per version (only versions with reports).
    pub versions: Vec<VersionSignals>,
}

/// Decisions of one rule's match block.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleCount {
    /// Resource kind.
    pub kind: String,
    /// Resource namespace.
    pub namespace: String,
    /// Resource name.
    pub name: String,
    /// Rule index in the resource.
    pub rule: u32,
    /// Match block index (`None` for a rule without blocks).
    pub block: Option<u32>,
    /// Route name as Envoy logs it.
    pub route_name: String,
    /// Decisions.
    pub count: u64,
}

/// Decisions sent to one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationCount {
    /// Host.
    pub host: String,
    /// Subset.
    pub subset: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Decisions.
    pub count: u64,
}

/// Golden signals of one version, from reported outcomes.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct VersionSignals {
    /// Host.
    pub host: String,
    /// Subset (the version).
    pub subset: Option<String>,
    /// Requests by status code (non-zero only).
    pub codes: Vec<(u16, u64)>,
    /// Latency histogram counts per [`LATENCY_BUCKETS_MS`] bucket, then the overflow bucket.
    pub buckets: Vec<u64>,
    /// Sum of reported latencies.
    pub sum: Duration,
}

impl VersionSignals {
    /// Reported requests.
    pub fn requests(&self) -> u64 {
        self.codes.iter().map(|(_, n)| n).sum()
    }

    /// Reported requests with a 5xx status.
    pub fn errors(&self) -> u64 {
        self.codes
            .iter()
            .filter(|(c, _)| *c >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    /// An estimate of the `q` quantile (0..=1) of latency: the upper bound of the bucket that
    /// holds it, in milliseconds (`f64::INFINITY` for the overflow bucket).
    pub fn latency_quantile_ms(&self, q: f64) -> f64 {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return LATENCY_BUCKETS_MS.get(i).copied().unwrap_or(f64::INFINITY);
            }
        }
        f64::INFINITY
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// The snapshot in Prometheus text exposition format (version 0.0.4): the decision
    /// counters ([`Metrics::decisions_prometheus`]) and the reported outcomes per version.
    pub fn prometheus(&self) -> String {
        let mut out = self.decisions_prometheus();
        self.write_versions(&mut out);
        out
    }

    /// The decision counters alone (`meshroute_decisions_total`,
    /// `meshroute_rule_matches_total`, `meshroute_destination_decisions_total`), for an
    /// embedder that reports `istio_requests_total` itself.
    pub fn decisions_prometheus(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP meshroute_decisions_total Routing decisions by outcome."
        );
        let _ = writeln!(out, "# TYPE meshroute_decisions_total counter");
        for (o, n) in &self.outcomes {
            let _ = writeln!(out, "meshroute_decisions_total{{outcome=\"{o}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP meshroute_rule_matches_total Decisions per rule and match block."
        );
        let _ = writeln!(out, "# TYPE meshroute_rule_matches_total counter");
        for r in &self.rules {
            let _ = writeln!(
                out,
                "meshroute_rule_matches_total{{kind=\"{}\",namespace=\"{}\",name=\"{}\",rule=\"{}\",match=\"{}\",route_name=\"{}\"}} {}",
                escape(&r.kind),
                escape(&r.namespace),
                escape(&r.name),
                r.rule,
                r.block.map_or(String::new(), |b| b.to_string()),
                escape(&r.route_name),
                r.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP meshroute_destination_decisions_total Decisions sent to each destination."
        );
        let _ = writeln!(out, "# TYPE meshroute_destination_decisions_total counter");
        for d in &self.destinations {
            let _ = writeln!(
                out,
                "meshroute_destination_decisions_total{{destination_service=\"{}\",destination_subset=\"{}\",destination_port=\"{}\"}} {}",
                escape(&d.host),
                escape(d.subset.as_deref().unwrap_or("")),
                d.port.map_or(String::new(), |p| p.to_string()),
                d.count
            );
        }
        out
    }

    /// `istio_requests_total` and `istio_request_duration_milliseconds` of the reported outcomes.
    fn write_versions(&self, out: &mut String) {
        let labels = |v: &VersionSignals| {
            let mut parts = v.host.splitn(3, '.');
            let name = parts.next().unwrap_or("");
            let ns = parts.next().unwrap_or("");
            format!(
                "reporter=\"source\",destination_service=\"{}\",destination_service_name=\"{}\",destination_service_namespace=\"{}\",destination_version=\"{}\"",
                escape(&v.host),
                escape(name),
                escape(ns),
                escape(v.subset.as_deref().unwrap_or("unknown"))
            )
        };
        let _ = writeln!(
            out,
            "# HELP istio_requests_total Requests reported back, per version and response code."
        );
        let _ = writeln!(out, "# TYPE istio_requests_total counter");
        for v in &self.versions {
            for (code, n) in &v.codes {
                let _ = writeln!(
                    out,
                    "istio_requests_total{{{},response_code=\"{code}\"}} {n}",
                    labels(v)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP istio_request_duration_milliseconds Reported request latency."
        );
        let _ = writeln!(out, "# TYPE istio_request_duration_milliseconds histogram");
        for v in &self.versions {
            let l = labels(v);
            let mut cumulative = 0;
            for (i, n) in v.buckets.iter().enumerate() {
                cumulative += n;
                let le = LATENCY_BUCKETS_MS
                    .get(i)
                    .map_or("+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "istio_request_duration_milliseconds_bucket{{{l},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_sum{{{l}}} {}",
                v.sum.as_secs_f64() * 1000.0
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_count{{{l}}} {cumulative}"
            );
        }
    }
}
