//! Monitoring: decision counters under concurrency, per-version golden signals from reported
//! outcomes, and the Prometheus text export read back by a Prometheus text parser.

use std::sync::Arc;
use std::time::Duration;

use meshroute::{CompileOptions, Config, OwnedRequest, Table, compile};

fn bookinfo(counters: bool) -> Table {
    let config =
        Config::from_str(include_str!("../examples/bookinfo.yaml"), "bookinfo.yaml").unwrap();
    let mut options = CompileOptions::strict();
    options.counters = counters;
    compile(&config, &options).unwrap().table
}

fn jason() -> OwnedRequest {
    OwnedRequest::new("GET", "http://reviews/r")
        .header("end-user", "jason")
        .from_namespace("default")
}

fn anyone() -> OwnedRequest {
    OwnedRequest::new("GET", "http://reviews/r").from_namespace("default")
}

#[test]
fn a_table_without_counters_reports_none() {
    let t = bookinfo(false);
    t.decide_with_draw(&jason(), 0);
    assert!(t.metrics().is_none());
}

#[test]
fn counters_are_exact_under_concurrency() {
    let t = Arc::new(bookinfo(true));
    let threads: Vec<_> = (0..4u64)
        .map(|k| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                let (j, a) = (jason(), anyone());
                for i in 0..10_000u64 {
                    // draw i % 100: v1 for [0, 80), v3 for [80, 100).
                    t.decide_with_draw(if i % 4 == 0 { &j } else { &a }, i + k);
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let m = t.metrics().unwrap();
    assert_eq!(m.outcomes[0], ("matched", 40_000));
    let rule = |name: &str| m.rules.iter().find(|r| r.route_name == name).unwrap().count;
    assert_eq!(rule("jason"), 10_000);
    assert_eq!(rule("shift"), 30_000);
    let dest = |subset: &str| {
        m.destinations
            .iter()
            .filter(|d| d.host.starts_with("reviews.") && d.subset.as_deref() == Some(subset))
            .map(|d| d.count)
            .sum::<u64>()
    };
    assert_eq!(dest("v2"), 10_000);
    assert_eq!(dest("v1") + dest("v3"), 30_000);
    // Exact split: per thread k, draws i + k for the non-jason i; count them the same way.
    let mut v3 = 0;
    for k in 0..4u64 {
        v3 += (0..10_000u64)
            .filter(|i| i % 4 != 0 && (i + k) % 100 >= 80)
            .count() as u64;
    }
    assert_eq!(dest("v3"), v3);
}

#[test]
fn golden_signals_come_from_reported_outcomes() {
    let t = bookinfo(true);
    for i in 0..1000u64 {
        let d = t.decide_with_draw(&anyone(), i);
        let h = d.report_handle().expect("forwarded");
        let v3 = d.destination().unwrap().subset.as_deref() == Some("v3");
        // v3 is slower and fails 5% of its requests.
        let (status, ms) = if v3 {
            (if i % 20 == 0 { 503 } else { 200 }, 300)
        } else {
            (200, 20)
        };
        t.report(h, status, Duration::from_millis(ms));
    }
    let m = t.metrics().unwrap();
    let v = |s: &str| {
        m.versions
            .iter()
            .find(|v| v.subset.as_deref() == Some(s))
            .unwrap()
            .clone()
    };
    assert_eq!(v("v1").requests(), 800);
    assert_eq!(v("v1").errors(), 0);
    assert_eq!(v("v3").requests(), 200);
    assert_eq!(
        v("v3").errors(),
        (0..1000u64)
            .filter(|i| i % 100 >= 80 && i % 20 == 0)
            .count() as u64
    );
    assert_eq!(v("v1").latency_quantile_ms(0.99), 25.0);
    assert_eq!(v("v3").latency_quantile_ms(0.5), 500.0);
    assert_eq!(v("v3").sum, Duration::from_millis(300 * 200));
}

#[test]
fn prometheus_text_parses_and_uses_istio_names() {
    let t = bookinfo(true);
    let (j, a) = (jason(), anyone());
    for i in 0..100u64 {
        let d = t.decide_with_draw(if i < 10 { &j } else { &a }, i);
        t.report(
            d.report_handle().unwrap(),
            if i == 5 { 500 } else { 200 },
            Duration::from_millis(i),
        );
    }
    t.decide_with_draw(
        &OwnedRequest::new("GET", "http://reviews/").at_gateway("x", "y"),
        0,
    );
    let text = t.metrics().unwrap().prometheus();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v)
                | prometheus_parse::Value::Gauge(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(
        value("meshroute_decisions_total", &[("outcome", "matched")]),
        100.0
    );
    assert_eq!(
        value(
            "meshroute_decisions_total",
            &[("outcome", "no_virtual_host")]
        ),
        1.0
    );
    assert_eq!(
        value("meshroute_rule_matches_total", &[("route_name", "jason")]),
        10.0
    );
    let v2 = [
        ("destination_service", "reviews.default.svc.cluster.local"),
        ("destination_version", "v2"),
    ];
    assert_eq!(value("istio_requests_total", &v2), 10.0);
    assert_eq!(
        value(
            "istio_requests_total",
            &[("destination_version", "v2"), ("response_code", "500")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "istio_requests_total",
            &[
                ("destination_service_name", "reviews"),
                ("destination_service_namespace", "default")
            ]
        ),
        100.0
    );
    let histogram = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "istio_request_duration_milliseconds"
                && s.labels.get("destination_version") == Some("v2")
        })
        .expect("v2's histogram");
    match &histogram.value {
        prometheus_parse::Value::Histogram(buckets) => {
            assert_eq!(
                buckets.last().unwrap().count,
                10.0,
                "the +Inf bucket counts every v2 report"
            );
        }
        other => panic!("not a histogram: {other:?}"),
    }
}
