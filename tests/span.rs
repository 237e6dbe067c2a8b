//! `Decision::span_fields` and `Routed::span_fields`: a decision's tracing attributes, borrowed
//! from the table and the router (allocation-free: checked in `tests/alloc_free.rs`).

use meshroute::registry::{Endpoint, Registry, Router};
use meshroute::{OwnedRequest, SpanFields, Table};

const BOOKINFO: &str = include_str!("../examples/bookinfo.yaml");

#[test]
fn matched_decisions_name_rule_resource_and_version() {
    let table = Table::from_yaml(BOOKINFO).unwrap();
    let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    let f = table.decide_with_draw(&req, 85).span_fields();
    assert_eq!(
        (f.outcome, f.route_name, f.rule_index, f.status),
        ("matched", Some("shift"), Some(1), 200)
    );
    assert_eq!(
        (f.resource_kind, f.resource_namespace, f.resource_name),
        (Some("VirtualService"), Some("default"), Some("reviews"))
    );
    assert_eq!(
        (f.destination_host, f.destination_subset),
        (Some("reviews.default.svc.cluster.local"), Some("v3"))
    );
    assert_eq!((f.endpoint_address, f.endpoint_port), (None, None));
}

#[test]
fn other_outcomes_leave_the_rule_fields_empty() {
    let table = Table::from_yaml(BOOKINFO).unwrap();
    let req = OwnedRequest::new("GET", "http://unknown/").from_namespace("default");
    let f = table.decide_with_draw(&req, 0).span_fields();
    let mut want = SpanFields::default();
    want.outcome = "passthrough";
    want.status = 200;
    assert_eq!(f, want);
    let req = OwnedRequest::new("GET", "http://reviews/").at_gateway("x", "y");
    let f = table.decide_with_draw(&req, 0).span_fields();
    assert_eq!(
        (f.outcome, f.status, f.route_name),
        ("no_virtual_host", 404, None)
    );
}

#[test]
fn routed_adds_the_endpoint_and_the_status_after_the_pick() {
    let table = Table::from_yaml(BOOKINFO).unwrap();
    let mut reg = Registry::new();
    let host = "reviews.default.svc.cluster.local";
    reg.add(host, Endpoint::new("10.0.0.1", 9080).label("version", "v1"));
    let router = Router::new(&table, &reg).unwrap();
    let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    // 0 % 100 falls in v1's interval: its endpoint serves.
    let f = router.decide_with_draw(&req, 0).span_fields();
    assert_eq!(
        (
            f.destination_subset,
            f.endpoint_address,
            f.endpoint_port,
            f.status
        ),
        (Some("v1"), Some("10.0.0.1"), Some(9080), 200)
    );
    // 85 % 100 picks v3, which has no endpoint: 503, no endpoint.
    let f = router.decide_with_draw(&req, 85).span_fields();
    assert_eq!(
        (f.destination_subset, f.endpoint_address, f.status),
        (Some("v3"), None, 503)
    );
}
