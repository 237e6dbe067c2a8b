//! With the cargo feature `tracing`, every decision emits exactly one event (target
//! `meshroute`, level `DEBUG`) with the fields of `Decision::span_fields`. A small subscriber,
//! written here against `tracing`'s own trait, captures the events.
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use meshroute::registry::{Endpoint, Registry, Router};
use meshroute::{OwnedRequest, Table};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One captured event: target, level and fields as text.
#[derive(Debug)]
struct Captured {
    target: String,
    level: Level,
    fields: BTreeMap<String, String>,
}

/// Records every event of target `meshroute`.
#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "meshroute"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(Captured {
            target: event.metadata().target().into(),
            level: *event.metadata().level(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The events `f` emits, captured by a subscriber scoped to this thread.
fn capture(f: impl FnOnce()) -> Vec<Captured> {
    let sub = Capture::default();
    let events = sub.events.clone();
    tracing::subscriber::with_default(sub, f);
    std::mem::take(&mut *events.lock().unwrap())
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const BOOKINFO: &str = include_str!("../examples/bookinfo.yaml");

#[test]
fn a_matched_decision_emits_one_debug_event_with_its_fields() {
    let table = Table::from_yaml(BOOKINFO).unwrap();
    let req = OwnedRequest::new("GET", "http://reviews/r")
        .header("end-user", "jason")
        .from_namespace("default");
    let events = capture(|| {
        table.decide_with_draw(&req, 0);
    });
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!((e.target.as_str(), e.level), ("meshroute", Level::DEBUG));
    assert_eq!(
        e.fields,
        fields(&[
            ("message", "decision"),
            ("outcome", "matched"),
            ("route_name", "jason"),
            ("rule_index", "0"),
            ("resource_kind", "VirtualService"),
            ("resource_namespace", "default"),
            ("resource_name", "reviews"),
            ("destination_host", "reviews.default.svc.cluster.local"),
            ("destination_subset", "v2"),
            ("status", "200"),
        ])
    );
}

#[test]
fn fields_that_do_not_apply_are_not_recorded() {
    let table = Table::from_yaml(BOOKINFO).unwrap();
    let passthrough = OwnedRequest::new("GET", "http://unknown/").from_namespace("default");
    let gateway = OwnedRequest::new("GET", "http://reviews/").at_gateway("x", "nowhere");
    let events = capture(|| {
        table.decide_with_draw(&passthrough, 0);
        table.decide(&gateway, &mut rand_pcg::Pcg64::new(1, 1));
    });
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0].fields,
        fields(&[
            ("message", "decision"),
            ("outcome", "passthrough"),
            ("status", "200")
        ])
    );
    assert_eq!(
        events[1].fields,
        fields(&[
            ("message", "decision"),
            ("outcome", "no_virtual_host"),
            ("status", "404")
        ])
    );
}

#[test]
fn a_router_decision_emits_one_event_and_its_span_fields_name_the_endpoint() {
    let table = Table::from_yaml(BOOKINFO).unwrap();
    let mut reg = Registry::new();
    let host = "reviews.default.svc.cluster.local";
    reg.add(host, Endpoint::new("10.0.0.3", 9080).label("version", "v3"));
    let router = Router::new(&table, &reg).unwrap();
    // 95 % 100 falls in v3's interval [80, 100).
    let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    let mut fields_seen = None;
    let events = capture(|| {
        let routed = router.decide_with_draw(&req, 95);
        let f = routed.span_fields();
        fields_seen = Some((
            f.route_name.map(str::to_string),
            f.destination_subset.map(str::to_string),
            f.endpoint_address.map(str::to_string),
            f.endpoint_port,
            f.status,
        ));
    });
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].fields["destination_subset"], "v3");
    assert_eq!(events[0].fields["route_name"], "shift");
    assert_eq!(
        fields_seen,
        Some((
            Some("shift".into()),
            Some("v3".into()),
            Some("10.0.0.3".into()),
            Some(9080),
            200
        ))
    );
}

#[test]
fn no_event_without_a_subscriber_that_wants_it() {
    let table = Table::from_yaml(BOOKINFO).unwrap();
    let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    // A subscriber for another target only: the decision's event is filtered out.
    #[derive(Clone, Default)]
    struct Other(Capture);
    impl Subscriber for Other {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.target() == "someone-else"
        }
        fn new_span(&self, a: &Attributes<'_>) -> Id {
            self.0.new_span(a)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            self.0.event(event)
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    let other = Other::default();
    let events = other.0.events.clone();
    tracing::subscriber::with_default(other, || {
        table.decide_with_draw(&req, 0);
    });
    assert!(events.lock().unwrap().is_empty());
}
