//! Allocations per operation for meshroute and each peer, on the inputs of `benches/peers.rs`.
//!
//! A counting global allocator wraps `System` and bumps a thread-local counter in `alloc`,
//! `alloc_zeroed` and `realloc`. Each operation runs once over all its inputs to warm up
//! (lazy statics, thread-locals, caches), then `ROUNDS` times over all of them while counting;
//! the table shows allocations per operation (and bytes per operation). Run with
//! `cargo run --release --bin allocs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Instant;

use maglev::ConsistentHasher as _;
use meshroute::split::Split;
use meshroute_peers::{
    ENDPOINTS, LARGE, SIZES, Uri, VARYING, WEIGHTS, hash_keys, ketama, maglev_crate,
    many_hosts_yaml, matchit_route, matchit_router, meshroute_maglev, meshroute_maglev_pick,
    meshroute_route, meshroute_route_host, meshroute_table, one_host_yaml, pcg, sozu_backends,
    sozu_many_hosts, sozu_one_host, sozu_pick, sozu_route, varying_hosts, varying_svc,
};
use rand::Rng as _;
use rand::distr::Distribution as _;
use rand::distr::weighted::WeightedIndex;
use sozu_lib::load_balancing::{
    Maglev as SozuMaglev, Random as SozuRandom, affinity_key_from_value,
};

struct Counting;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn bump(size: usize) {
    // `try_with`: the allocator can be called while thread-locals are torn down.
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|b| b.set(b.get() + size as u64));
}

// SAFETY: every method forwards to `System` with the arguments it was given, so `System`'s
// guarantees hold unchanged; the counters are thread-local `Cell`s of `u64` with a `const`
// initializer, which neither allocate nor call back into the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(layout.size());
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(new_size);
        // SAFETY: as `alloc`; `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROUNDS: usize = 10;

/// Allocations and bytes per call of `op(k)`, `k` over `0..VARYING`, after one warm-up pass.
fn per_op(mut op: impl FnMut(usize)) -> (f64, f64) {
    for k in 0..VARYING {
        op(k);
    }
    let (c0, b0) = (COUNT.with(Cell::get), BYTES.with(Cell::get));
    for _ in 0..ROUNDS {
        for k in 0..VARYING {
            op(k);
        }
    }
    let ops = (ROUNDS * VARYING) as f64;
    let (c1, b1) = (COUNT.with(Cell::get), BYTES.with(Cell::get));
    ((c1 - c0) as f64 / ops, (b1 - b0) as f64 / ops)
}

fn row(scenario: &str, peer: &str, (allocs, bytes): (f64, f64)) {
    println!("| {scenario:<26} | {peer:<34} | {allocs:>6.2} | {bytes:>7.1} |");
}

fn main() {
    println!(
        "| {:<26} | {:<34} | {:>6} | {:>7} |",
        "scenario", "peer", "allocs", "bytes"
    );
    println!("|{:-<28}|{:-<36}|{:->7}:|{:->8}:|", "", "", "", "");

    for n in SIZES {
        let table = meshroute_table(&one_host_yaml(n, Uri::Prefix));
        let sozu = sozu_one_host(n, Uri::Prefix);
        let matchit = matchit_router(n);
        let reqs = varying_svc(n);
        let scenario = format!("prefix+header, {n} rules");
        row(
            &scenario,
            "meshroute",
            per_op(|k| {
                black_box(meshroute_route(&table, &reqs[k], k as u64));
            }),
        );
        row(
            &scenario,
            "sozu-lib Router",
            per_op(|k| {
                black_box(sozu_route(&sozu, &reqs[k]));
            }),
        );
        row(
            &scenario,
            "matchit (path only)",
            per_op(|k| {
                black_box(matchit_route(&matchit, &reqs[k]));
            }),
        );
    }

    {
        let table = meshroute_table(&one_host_yaml(LARGE, Uri::Regex));
        let sozu = sozu_one_host(LARGE, Uri::Regex);
        let reqs = varying_svc(LARGE);
        let scenario = format!("regex+header, {LARGE} rules");
        row(
            &scenario,
            "meshroute",
            per_op(|k| {
                black_box(meshroute_route(&table, &reqs[k], k as u64));
            }),
        );
        row(
            &scenario,
            "sozu-lib Router",
            per_op(|k| {
                black_box(sozu_route(&sozu, &reqs[k]));
            }),
        );
    }

    {
        let table = meshroute_table(&many_hosts_yaml(LARGE));
        let sozu = sozu_many_hosts(LARGE);
        let reqs = varying_hosts(LARGE);
        let scenario = format!("hosts, {LARGE} x 1 rule");
        row(
            &scenario,
            "meshroute",
            per_op(|k| {
                black_box(meshroute_route_host(&table, &reqs[k], k as u64));
            }),
        );
        row(
            &scenario,
            "sozu-lib Router",
            per_op(|k| {
                black_box(sozu_route(&sozu, &reqs[k]));
            }),
        );
    }

    {
        let scenario = "weighted 80/15/5";
        let split = Split::new(&WEIGHTS);
        let index = WeightedIndex::new(WEIGHTS).expect("valid weights");
        let backends = sozu_backends(WEIGHTS.len(), Some(&WEIGHTS));
        let indices: Vec<usize> = (0..backends.len()).collect();
        let now = Instant::now();
        let mut rng = pcg();
        row(
            scenario,
            "meshroute Split + Pcg64Mcg",
            per_op(|_| {
                black_box(split.pick(rng.next_u64()));
            }),
        );
        let mut rng = pcg();
        row(
            scenario,
            "rand WeightedIndex + Pcg64Mcg",
            per_op(|_| {
                black_box(index.sample(&mut rng));
            }),
        );
        let mut sozu = SozuRandom::with_seed(7);
        row(
            scenario,
            "sozu-lib Random (StdRng)",
            per_op(|_| {
                black_box(sozu_pick(&mut sozu, None, &backends, &indices, now));
            }),
        );
    }

    {
        let scenario = format!("hash by key, {ENDPOINTS} endpoints");
        let keys = hash_keys();
        let ours = meshroute_maglev();
        let ketama = ketama();
        let flier = maglev_crate();
        let backends = sozu_backends(ENDPOINTS, None);
        let indices: Vec<usize> = (0..backends.len()).collect();
        let now = Instant::now();
        let mut sozu = SozuMaglev::new();
        sozu.rebuild(&backends);
        row(
            &scenario,
            "meshroute Maglev + XXH64",
            per_op(|k| {
                black_box(meshroute_maglev_pick(&ours, &keys[k]));
            }),
        );
        row(
            &scenario,
            "pingora-ketama Continuum",
            per_op(|k| {
                black_box(ketama.node_idx(keys[k].as_bytes()));
            }),
        );
        row(
            &scenario,
            "sozu-lib Maglev + FNV",
            per_op(|k| {
                let key = affinity_key_from_value(keys[k].as_bytes());
                black_box(sozu_pick(&mut sozu, Some(key), &backends, &indices, now));
            }),
        );
        row(
            &scenario,
            "maglev crate + SipHash",
            per_op(|k| {
                black_box(flier.get(keys[k].as_str()));
            }),
        );
    }
}
