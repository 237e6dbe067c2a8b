//! Building a table: loading the YAML (`Config::add_str`) and compiling it (`compile`), by
//! number of rules (prefix `uri` plus an exact header per rule), in VirtualServices of up to
//! 1,000 rules each: one for 10 to 1,000 rules, ten for 10,000. `compile_regex/…` compiles the
//! regex files of issue 13: 300 copies of the exponential-DFA pattern `/[a-z]*a[a-z]{14}`
//! (compiled, one automaton), 1,024 distinct ones `/p{i}[a-z]*a[a-z]{14}` in one VirtualService
//! and in 1,024 VirtualServices (compiled: one automaton for what follows the literal prefix,
//! shared); and the same with the longer tail `[a-z]*a[a-z]{18}`, whose automaton passes the
//! per-pattern limit: refused at the first pattern of the one VirtualService, and in the 1,024
//! at the per-pattern limit until the table's budget is spent, then at once.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use meshroute::{CompileOptions, Config, OwnedRequest, compile};

#[path = "common/simple_rules.rs"]
mod simple_rules;
use simple_rules::{CHUNK, yaml_texts};

/// The system allocator, keeping the number of bytes currently allocated, so the bench can
/// report how much memory a table holds.
struct Live;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; only a counter is added.
unsafe impl GlobalAlloc for Live {
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
static ALLOCATOR: Live = Live;

/// Bytes held by the table compiled from `config` (the rest of the result dropped).
fn table_bytes(config: &Config, options: &CompileOptions) -> isize {
    let before = LIVE.load(Ordering::Relaxed);
    let table = compile(config, options).expect("compiles").table;
    let held = LIVE.load(Ordering::Relaxed) - before;
    drop(table);
    held
}

const SIZES: [usize; 4] = [10, 100, 1000, 10_000];

fn load(texts: &[String]) -> Config {
    let mut config = Config::new();
    for t in texts {
        config.add_str(t, "bench.yaml").expect("bench config loads");
    }
    config
}

fn bench(c: &mut Criterion) {
    let options = CompileOptions::strict();
    let mut g = c.benchmark_group("compile");
    for n in SIZES {
        let texts = yaml_texts(n);
        let config = load(&texts);
        let compiled = compile(&config, &options).expect("bench config compiles");
        assert!(compiled.rejected.is_empty());
        assert_eq!(compiled.table.rules().len(), n);
        let (c, i) = ((n - 1) / CHUNK, n - 1);
        let last = OwnedRequest::new(
            "GET",
            &format!("http://web{c}.example.com/svc{i}/api/v1/items?limit=10"),
        )
        .header("x-tenant", &format!("t{i}"));
        let d = compiled.table.decide_with_draw(&last, 0);
        assert_eq!(d.matched().map(|m| &*m.rule.name), Some(&*format!("r{i}")));
        drop(compiled);
        let bytes = table_bytes(&config, &options);
        println!(
            "compile/memory/{n}: the table holds {bytes} bytes, {} bytes per rule",
            bytes / n as isize
        );

        if n >= 1000 {
            g.sample_size(10).sampling_mode(SamplingMode::Flat);
        } else {
            g.sample_size(50).sampling_mode(SamplingMode::Auto);
        }
        g.bench_with_input(BenchmarkId::new("load", n), &texts, |b, texts| {
            b.iter(|| load(black_box(texts)).resources.len())
        });
        g.bench_with_input(BenchmarkId::new("compile", n), &config, |b, config| {
            b.iter(|| {
                compile(black_box(config), &options)
                    .expect("compiles")
                    .table
                    .rules()
                    .len()
            })
        });
        g.bench_with_input(
            BenchmarkId::new("load_and_compile", n),
            &texts,
            |b, texts| {
                b.iter(|| {
                    compile(&load(black_box(texts)), &options)
                        .expect("compiles")
                        .table
                        .rules()
                        .len()
                })
            },
        );
    }
    g.finish();
}

/// One VirtualService `name` whose rules match `uri: {regex: P}`, one per pattern.
fn regex_vs(name: &str, patterns: impl Iterator<Item = String>) -> String {
    let mut y = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {{name: {name}, namespace: default}}\n\
         spec:\n  hosts: [{name}.example.com]\n  http:\n"
    );
    for (i, p) in patterns.enumerate() {
        writeln!(
            y,
            "  - match: [{{uri: {{regex: '{p}'}}}}]\n    route: [{{destination: {{host: b{i}}}}}]"
        )
        .unwrap();
    }
    y
}

fn bench_regex(c: &mut Criterion) {
    let options = CompileOptions::default();
    let exponential = |i: usize| format!("/p{i}[a-z]*a[a-z]{{14}}");
    let longer = |i: usize| format!("/p{i}[a-z]*a[a-z]{{18}}");
    let cases = [
        (
            "same_300",
            regex_vs(
                "same",
                std::iter::repeat_n("/[a-z]*a[a-z]{14}".to_string(), 300),
            ),
            0,
        ),
        (
            "distinct_1024",
            regex_vs("distinct", (0..1024).map(exponential)),
            0,
        ),
        (
            "distinct_1024_resources",
            (0..1024)
                .map(|i| regex_vs(&format!("vs{i}"), std::iter::once(exponential(i))))
                .collect::<Vec<_>>()
                .join("---\n"),
            0,
        ),
        (
            "refused_1024",
            regex_vs("distinct", (0..1024).map(longer)),
            1,
        ),
        (
            "refused_1024_resources",
            (0..1024)
                .map(|i| regex_vs(&format!("vs{i}"), std::iter::once(longer(i))))
                .collect::<Vec<_>>()
                .join("---\n"),
            1024,
        ),
    ];
    let mut g = c.benchmark_group("compile_regex");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for (name, text, rejected) in &cases {
        let config = load(std::slice::from_ref(text));
        let compiled = compile(&config, &options).expect("lenient compile");
        assert_eq!(compiled.rejected.len(), *rejected, "{name}");
        drop(compiled);
        let bytes = table_bytes(&config, &options);
        println!("compile_regex/memory/{name}: the table holds {bytes} bytes");
        g.bench_with_input(BenchmarkId::new("compile", name), &config, |b, config| {
            b.iter(|| {
                compile(black_box(config), &options)
                    .expect("lenient compile")
                    .rejected
                    .len()
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench, bench_regex
}
criterion_main!(benches);
