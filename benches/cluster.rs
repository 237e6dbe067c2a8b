//! Following a cluster at the scale of issue 20: 10,000 VirtualServices and 50,000 endpoints
//! (`common/cluster_shape.rs`: 100 namespaces of 100 Services, each with a VirtualService, a
//! DestinationRule, an EndpointSlice of 5 endpoints and the 5 Pods behind them; 90,100
//! objects).
//!
//! `cargo bench --features k8s-v1_33 --bench cluster` prints, before criterion's groups:
//! - `from_scratch`: a build from every object as the source built before it kept decoded
//!   objects: each object serialized to JSON (`to_json`), read by `Config::add_json_value`,
//!   and the whole compiled; with the bytes the raw objects, the configuration and the table
//!   hold (a counting allocator).
//! - `following`: a `ClusterSource` (default options: 100 ms debounce) against a fake API
//!   server (`common/fake_api.rs`, kube's mock service): the first table after the lists; the
//!   bytes the source holds once it follows; then the time from one `MODIFIED` event to the
//!   new table in its `Shared<Table>` (a VirtualService's weights, 10 times after a quiet
//!   period), to the status of an EndpointSlice change (no compile), and from a burst of 200
//!   VirtualService changes to the table holding the last one.
//!
//! Criterion's groups then time `cluster/compile` (the whole configuration) and
//! `cluster/read_one` (one VirtualService through `Config::add_json_value`). Under `cargo
//! test` the cluster is 2 namespaces of 5 Services, each step once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use kube::api::DynamicObject;
use meshroute::cluster::{ClusterOptions, ClusterSource, KINDS};
use meshroute::{CompileOptions, Config, OwnedRequest, Table, compile};
use serde_json::Value;

#[path = "common/cluster_shape.rs"]
mod cluster_shape;
#[path = "common/fake_api.rs"]
mod fake_api;

/// The system allocator, keeping the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn mb(bytes: isize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The process's resident and peak resident memory.
fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or("?".to_string(), |v| v.trim().to_string())
    };
    format!("RSS {}, peak RSS {}", field("VmRSS:"), field("VmHWM:"))
}

fn kind_index(object: &Value) -> usize {
    KINDS
        .iter()
        .position(|k| k.api_version() == object["apiVersion"] && k.kind == object["kind"])
        .expect("a watched kind")
}

/// `rebuild`'s step before the source kept decoded objects: the object back to JSON, with
/// its `apiVersion` and `kind`.
fn to_json(i: usize, object: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).expect("a deserialized object serializes");
    if let Value::Object(map) = &mut value {
        map.insert("apiVersion".into(), Value::String(KINDS[i].api_version()));
        map.insert("kind".into(), Value::String(KINDS[i].kind.to_string()));
    }
    value
}

fn from_scratch(values: &[Value]) -> Config {
    let base = live();
    let t = Instant::now();
    let mut objects: Vec<(usize, DynamicObject)> = values
        .iter()
        .map(|v| {
            let o = serde_json::from_value(v.clone()).expect("a DynamicObject");
            (kind_index(v), o)
        })
        .collect();
    objects
        .sort_by_cached_key(|(i, o)| (*i, o.metadata.namespace.clone(), o.metadata.name.clone()));
    println!(
        "from_scratch: {} objects read as DynamicObjects in {:.2?}: they hold {}",
        objects.len(),
        t.elapsed(),
        mb(live() - base)
    );
    // The JSON values are consumed by `add_json_value`: what the configuration holds is
    // counted from before they were made.
    let before = live();
    let t = Instant::now();
    let json: Vec<Value> = objects.iter().map(|(i, o)| to_json(*i, o)).collect();
    let t_json = t.elapsed();
    let t = Instant::now();
    let mut config = Config::new();
    for v in json {
        config.add_json_value(v, "cluster");
    }
    let t_read = t.elapsed();
    let config_bytes = live() - before;
    let before = live();
    let t = Instant::now();
    let compiled = compile(&config, &CompileOptions::default()).expect("a lenient compile");
    let t_compile = t.elapsed();
    let table_bytes = live() - before;
    assert!(compiled.rejected.is_empty(), "{:?}", compiled.rejected);
    println!(
        "from_scratch: to_json {t_json:.2?}, add_json_value {t_read:.2?} (the configuration \
         holds {}), compile {t_compile:.2?} (the result holds {}); {} rules; {}",
        mb(config_bytes),
        mb(table_bytes),
        compiled.table.rules().len(),
        rss()
    );
    config
}

/// The subset `GET http://<service>.<ns>.svc.cluster.local/` from `ns` goes to at `draw`.
fn subset(table: &Table, ns: &str, service: &str, draw: u64) -> Option<String> {
    let req = OwnedRequest::new("GET", &format!("http://{service}.{ns}.svc.cluster.local/"))
        .from_namespace(ns);
    table
        .decide_with_draw(&req, draw)
        .destination()
        .and_then(|d| d.subset.as_deref().map(str::to_string))
}

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    format!(
        "min {:.1?}, median {:.1?}, max {:.1?}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    )
}

async fn following(values: Vec<Value>, full: bool) {
    let namespaces = cluster_shape::namespace;
    let services = cluster_shape::service_name;
    let fake = fake_api::FakeApi::new(values);
    let base = live();
    let source = ClusterSource::new(fake.client(), ClusterOptions::default());
    let tables = source.tables();
    let mut status = source.status();
    let t = Instant::now();
    tokio::spawn(source.run());
    status
        .wait_for(|s| s.builds >= 1)
        .await
        .expect("a first table");
    println!(
        "following: the first table {:.2?} after the start",
        t.elapsed()
    );
    while fake.open_watches() < KINDS.len() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!(
        "following: the source holds {} (decoded objects, table, status); {}",
        mb(live() - base),
        rss()
    );

    let (ns0, rounds) = (namespaces(0), if full { 10 } else { 1 });
    let mut times = Vec::new();
    for k in 0..rounds {
        let svc = services(k);
        assert_eq!(subset(&tables.load(), &ns0, &svc, 0).as_deref(), Some("v1"));
        let builds = status.borrow().builds;
        let t = Instant::now();
        fake.modify(cluster_shape::virtual_service(&ns0, &svc, 1, 1, 0));
        status
            .wait_for(|s| s.builds > builds)
            .await
            .expect("a table");
        times.push(t.elapsed());
        assert_eq!(subset(&tables.load(), &ns0, &svc, 0).as_deref(), Some("v2"));
        // Quiet again: the next change is built at once.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!(
        "following: one VirtualService changed -> new table: {}",
        summary(&mut times)
    );

    let mut times = Vec::new();
    for k in 0..rounds {
        let mut slice = serde_json::json!({"apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": format!("{}-abcde", services(k)), "namespace": ns0,
                         "labels": {"kubernetes.io/service-name": services(k)}},
            "endpoints": [{"addresses": ["10.200.0.1"], "conditions": {"ready": true}}]});
        slice["metadata"]["uid"] = Value::String(format!("slice-{k}"));
        let (builds, skipped) = {
            let s = status.borrow();
            (s.builds, s.compiles_skipped)
        };
        let t = Instant::now();
        fake.modify(slice);
        status
            .wait_for(|s| s.compiles_skipped > skipped)
            .await
            .expect("a status");
        times.push(t.elapsed());
        assert_eq!(status.borrow().builds, builds, "no compile");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!(
        "following: one EndpointSlice changed -> status (no compile): {}",
        summary(&mut times)
    );

    let burst = if full { 200 } else { 5 };
    let (ns1, builds) = (namespaces(1), status.borrow().builds);
    let t = Instant::now();
    for k in 0..burst {
        fake.modify(cluster_shape::virtual_service(&ns1, &services(k), 1, 1, 0));
    }
    let last = services(burst - 1);
    status
        .wait_for(|_| subset(&tables.load(), &ns1, &last, 0).as_deref() == Some("v2"))
        .await
        .expect("the burst's table");
    println!(
        "following: a burst of {burst} VirtualService changes -> the table with the last: \
         {:.1?}, in {} builds; {}",
        t.elapsed(),
        status.borrow().builds - builds,
        rss()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (namespaces, services, endpoints) = if full { (100, 100, 5) } else { (2, 5, 5) };
    let values: Vec<Value> = cluster_shape::cluster(namespaces, services, endpoints)
        .into_iter()
        .map(|o| o.value)
        .collect();
    let config = from_scratch(&values);

    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(following(values, full));

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut g = c.benchmark_group("cluster");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    let options = CompileOptions::default();
    g.bench_function("compile", |b| {
        b.iter(|| {
            compile(black_box(&config), &options)
                .expect("compiles")
                .table
                .rules()
                .len()
        })
    });
    let one = cluster_shape::virtual_service("team-000", "svc-000", 1, 1, 50);
    g.bench_function("read_one", |b| {
        b.iter(|| {
            let mut c = Config::new();
            c.add_json_value(black_box(one.clone()), "cluster");
            c.resources.len()
        })
    });
    g.finish();
    c.final_summary();
}
