//! meshroute against its published peers, one thread, same inputs (see the README's table).
//!
//! Groups: `prefix` (one host, N rules of path prefix + header), `regex` (1,000 full-match
//! regex paths + header), `hosts` (1,000 hosts of one rule), `weighted` (a pick among 80/15/5)
//! and `hash` (a consistent-hash pick by a string key, hashing included). Every answer is
//! checked against the rule, host or share it must be before anything is timed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use maglev::ConsistentHasher as _;
use meshroute::split::Split;
use meshroute_peers::{
    HOST, LARGE, SIZES, Uri, VARYING, WEIGHTS, host_request, ketama, maglev_crate, many_hosts_yaml,
    matchit_route, matchit_router, meshroute_maglev, meshroute_maglev_pick, meshroute_route,
    meshroute_route_host, meshroute_table, one_host_yaml, pcg, sozu_backends, sozu_cluster,
    sozu_index, sozu_many_hosts, sozu_one_host, sozu_pick, sozu_route, spread, svc_request,
    varying_hosts, varying_svc,
};
use rand::Rng as _;
use rand::distr::Distribution as _;
use rand::distr::weighted::WeightedIndex;
use sozu_lib::load_balancing::{
    Maglev as SozuMaglev, Random as SozuRandom, affinity_key_from_value,
};

/// Path prefix + `x-tenant` header, one host, 10/100/1,000 rules: hit the last rule, and
/// 1,024 requests spread over all rules.
fn prefix(c: &mut Criterion) {
    let mut g = c.benchmark_group("prefix");
    for n in SIZES {
        let table = meshroute_table(&one_host_yaml(n, Uri::Prefix));
        let sozu = sozu_one_host(n, Uri::Prefix);
        let matchit = matchit_router(n);
        let last = svc_request(n - 1);
        let varying = varying_svc(n);
        for (k, req) in varying.iter().enumerate().chain([(usize::MAX, &last)]) {
            let i = if k == usize::MAX { n - 1 } else { spread(k, n) };
            assert_eq!(meshroute_route(&table, req, 0), Some(i as u32));
            assert_eq!(sozu_cluster(&sozu, req), Some(format!("c{i}")));
            assert_eq!(matchit_route(&matchit, req), Some(i));
        }

        g.bench_with_input(
            BenchmarkId::new("meshroute/hit_last", n),
            &last,
            |b, req| b.iter(|| meshroute_route(&table, black_box(req), black_box(0))),
        );
        g.bench_with_input(BenchmarkId::new("sozu/hit_last", n), &last, |b, req| {
            b.iter(|| sozu_route(&sozu, black_box(req)))
        });
        g.bench_with_input(BenchmarkId::new("matchit/hit_last", n), &last, |b, req| {
            b.iter(|| matchit_route(&matchit, black_box(req)))
        });
        g.bench_with_input(
            BenchmarkId::new("meshroute/varying", n),
            &varying,
            |b, reqs| {
                let mut k = 0usize;
                b.iter(|| {
                    k = k.wrapping_add(1);
                    meshroute_route(&table, black_box(&reqs[k % VARYING]), black_box(k as u64))
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("sozu/varying", n), &varying, |b, reqs| {
            let mut k = 0usize;
            b.iter(|| {
                k = k.wrapping_add(1);
                sozu_route(&sozu, black_box(&reqs[k % VARYING]))
            })
        });
        g.bench_with_input(
            BenchmarkId::new("matchit/varying", n),
            &varying,
            |b, reqs| {
                let mut k = 0usize;
                b.iter(|| {
                    k = k.wrapping_add(1);
                    matchit_route(&matchit, black_box(&reqs[k % VARYING]))
                })
            },
        );
    }
    g.finish();
}

/// 1,000 rules of full-match regex `/svc{i}/api/v[0-9]+/.*` + header, varying requests.
fn regex(c: &mut Criterion) {
    let n = LARGE;
    let table = meshroute_table(&one_host_yaml(n, Uri::Regex));
    let sozu = sozu_one_host(n, Uri::Regex);
    let varying = varying_svc(n);
    for (k, req) in varying.iter().enumerate() {
        let i = spread(k, n);
        assert_eq!(meshroute_route(&table, req, 0), Some(i as u32));
        assert_eq!(sozu_cluster(&sozu, req), Some(format!("c{i}")));
    }
    // A request whose version segment is not a number matches no rule.
    let miss = meshroute_peers::request(HOST, "/svc7/api/vX/items", "t7");
    assert_eq!(meshroute_route(&table, &miss, 0), None);
    assert_eq!(sozu_cluster(&sozu, &miss), None);

    let mut g = c.benchmark_group("regex");
    g.bench_with_input(
        BenchmarkId::new("meshroute/varying", n),
        &varying,
        |b, reqs| {
            let mut k = 0usize;
            b.iter(|| {
                k = k.wrapping_add(1);
                meshroute_route(&table, black_box(&reqs[k % VARYING]), black_box(k as u64))
            })
        },
    );
    g.bench_with_input(BenchmarkId::new("sozu/varying", n), &varying, |b, reqs| {
        let mut k = 0usize;
        b.iter(|| {
            k = k.wrapping_add(1);
            sozu_route(&sozu, black_box(&reqs[k % VARYING]))
        })
    });
    g.finish();
}

/// 1,000 hosts `h{i}.example.com` of one rule each: the host lookup dominates.
fn hosts(c: &mut Criterion) {
    let n = LARGE;
    let table = meshroute_table(&many_hosts_yaml(n));
    let sozu = sozu_many_hosts(n);
    let last = host_request(n - 1);
    let varying = varying_hosts(n);
    for (k, req) in varying.iter().enumerate().chain([(usize::MAX, &last)]) {
        let i = if k == usize::MAX { n - 1 } else { spread(k, n) };
        let host = format!("h{i}.example.com");
        assert_eq!(
            table
                .decide_with_draw(req, 0)
                .destination()
                .map(|d| d.host.to_string()),
            Some(host)
        );
        assert_eq!(sozu_cluster(&sozu, req), Some(format!("c{i}")));
    }

    let mut g = c.benchmark_group("hosts");
    g.bench_with_input(
        BenchmarkId::new("meshroute/hit_last", n),
        &last,
        |b, req| b.iter(|| meshroute_route_host(&table, black_box(req), black_box(0))),
    );
    g.bench_with_input(BenchmarkId::new("sozu/hit_last", n), &last, |b, req| {
        b.iter(|| sozu_route(&sozu, black_box(req)))
    });
    g.bench_with_input(
        BenchmarkId::new("meshroute/varying", n),
        &varying,
        |b, reqs| {
            let mut k = 0usize;
            b.iter(|| {
                k = k.wrapping_add(1);
                meshroute_route_host(&table, black_box(&reqs[k % VARYING]), black_box(k as u64))
            })
        },
    );
    g.bench_with_input(BenchmarkId::new("sozu/varying", n), &varying, |b, reqs| {
        let mut k = 0usize;
        b.iter(|| {
            k = k.wrapping_add(1);
            sozu_route(&sozu, black_box(&reqs[k % VARYING]))
        })
    });
    g.finish();
}

/// A pick among 3 destinations weighted 80/15/5, the RNG draw included.
fn weighted(c: &mut Criterion) {
    const DRAWS: usize = 100_000;
    let split = Split::new(&WEIGHTS);
    let index = WeightedIndex::new(WEIGHTS).expect("valid weights");
    let backends = sozu_backends(WEIGHTS.len(), Some(&WEIGHTS));
    let indices: Vec<usize> = (0..backends.len()).collect();
    let now = Instant::now();

    // Each pick lands on its share within 1 percentage point over 100,000 draws.
    let mut counts = [[0usize; 3]; 3];
    let mut rng = pcg();
    let mut sozu = SozuRandom::with_seed(7);
    for _ in 0..DRAWS {
        counts[0][split.pick(rng.next_u64()).expect("a positive total")] += 1;
        counts[1][index.sample(&mut rng)] += 1;
        let picked = sozu_pick(&mut sozu, None, &backends, &indices, now).expect("a backend");
        counts[2][sozu_index(&backends, &picked)] += 1;
    }
    for row in counts {
        for (count, weight) in row.iter().zip(WEIGHTS) {
            let share = *count as f64 / DRAWS as f64 * 100.0;
            assert!((share - f64::from(weight)).abs() < 1.0, "{row:?}");
        }
    }

    let mut g = c.benchmark_group("weighted");
    g.bench_function("meshroute/split_pcg64mcg", |b| {
        let mut rng = pcg();
        b.iter(|| black_box(&split).pick(rng.next_u64()))
    });
    g.bench_function("rand/weighted_index_pcg64mcg", |b| {
        let mut rng = pcg();
        b.iter(|| black_box(&index).sample(&mut rng))
    });
    g.bench_function("sozu/random_stdrng", |b| {
        let mut sozu = SozuRandom::with_seed(7);
        b.iter(|| sozu_pick(&mut sozu, None, black_box(&backends), &indices, now))
    });
    g.finish();
}

/// A consistent-hash pick among 10 endpoints by a string key, hashing the key included.
fn hash(c: &mut Criterion) {
    let keys = meshroute_peers::hash_keys();
    let ours = meshroute_maglev();
    let ketama = ketama();
    let flier = maglev_crate();
    let backends = sozu_backends(meshroute_peers::ENDPOINTS, None);
    let indices: Vec<usize> = (0..backends.len()).collect();
    let now = Instant::now();
    let mut sozu = SozuMaglev::new();
    sozu.rebuild(&backends);

    // Each is a function of the key: the same key twice gives the same endpoint.
    for key in &keys {
        assert_eq!(
            meshroute_maglev_pick(&ours, key),
            meshroute_maglev_pick(&ours, key)
        );
        assert_eq!(
            ketama.node_idx(key.as_bytes()),
            ketama.node_idx(key.as_bytes())
        );
        assert_eq!(flier.get(key.as_str()), flier.get(key.as_str()));
        let h = affinity_key_from_value(key.as_bytes());
        let a = sozu_pick(&mut sozu, Some(h), &backends, &indices, now).expect("a backend");
        let b = sozu_pick(&mut sozu, Some(h), &backends, &indices, now).expect("a backend");
        assert!(std::rc::Rc::ptr_eq(&a, &b));
    }

    let mut g = c.benchmark_group("hash");
    g.bench_with_input("meshroute/maglev_xxh64", &keys, |b, keys| {
        let mut k = 0usize;
        b.iter(|| {
            k = k.wrapping_add(1);
            meshroute_maglev_pick(black_box(&ours), black_box(&keys[k % VARYING]))
        })
    });
    g.bench_with_input("pingora_ketama/continuum_crc32", &keys, |b, keys| {
        let mut k = 0usize;
        b.iter(|| {
            k = k.wrapping_add(1);
            black_box(&ketama).node_idx(black_box(keys[k % VARYING].as_bytes()))
        })
    });
    g.bench_with_input("sozu/maglev_fnv", &keys, |b, keys| {
        let mut k = 0usize;
        b.iter(|| {
            k = k.wrapping_add(1);
            let key = affinity_key_from_value(black_box(keys[k % VARYING].as_bytes()));
            sozu_pick(&mut sozu, Some(key), black_box(&backends), &indices, now)
        })
    });
    g.bench_with_input("maglev_crate/maglev_siphash", &keys, |b, keys| {
        let mut k = 0usize;
        b.iter(|| {
            k = k.wrapping_add(1);
            black_box(&flier)
                .get(black_box(keys[k % VARYING].as_str()))
                .map(String::len)
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = prefix, regex, hosts, weighted, hash
}
criterion_main!(benches);
