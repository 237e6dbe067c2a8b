//! Instruction counts per operation, for valgrind's callgrind (repeatable on a noisy machine,
//! unlike time). Run `benches/callgrind.sh`; it builds this bench and runs each scenario under
//! callgrind twice, with 1 and with 1 + CALLS operations, and reports the difference divided by
//! CALLS: the instructions of one operation, with setup and the first-call effects removed.
//!
//! `cargo bench --bench instructions` without valgrind runs every scenario once, as a check.
//! With arguments `SCENARIO CALLS` it runs one scenario `CALLS` times inside [`measured`],
//! the one function callgrind counts (`--toggle-collect`).

mod common;

use std::hint::black_box;

use common::{
    Mode, Uri, many_hosts_yaml, miss_request, one_host_yaml, request, router_registry,
    router_requests, router_yaml, rule_number, sidecar_connections, sidecar_mesh_yaml,
    sidecar_requests, svc_request, table, tls_connections, tls_hosts_yaml, varying_requests,
};
use meshroute::Outcome;
use meshroute::hash::{Maglev, xxhash64};
use meshroute::registry::Router;
use meshroute::split::Split;

/// Runs `op` `calls` times. Callgrind counts what runs inside this function.
#[inline(never)]
fn measured(calls: usize, op: &mut dyn FnMut(usize) -> usize) -> usize {
    let mut acc = 0usize;
    for k in 0..calls {
        acc = acc.wrapping_add(op(k));
    }
    acc
}

/// The scenarios, by name: each builds its state and returns the operation.
const SCENARIOS: &[&str] = &[
    "istio_prefix_10_hit_last",
    "istio_prefix_1000_hit_last",
    "istio_prefix_1000_varying",
    "istio_prefix_10000_varying",
    "istio_prefix_1000_miss",
    "istio_regex_1000_varying",
    "gwapi_prefix_1000_varying",
    "gwapi_regex_1000_varying",
    "hosts_1000_hit",
    "hosts_1000_varying",
    "sidecar_50ns_hit",
    "sidecar_50ns_unclaimed",
    "sidecar_50ns_tcp",
    "l4_tls_200_sni",
    "router_hash_split",
    "split_80_15_5",
    "maglev_string_key",
];

fn run(name: &str, calls: usize) -> usize {
    let parts: Vec<&str> = name.splitn(4, '_').collect();
    match parts[..] {
        [api, uri, n, case] if api == "istio" || api == "gwapi" => {
            let mode = if api == "istio" {
                Mode::Istio
            } else {
                Mode::GatewayApi
            };
            let uri = if uri == "prefix" {
                Uri::Prefix
            } else {
                Uri::Regex
            };
            let n: usize = n.parse().unwrap();
            // The requests before the table, as in benches/route.rs.
            let reqs = match case {
                "hit_last" => vec![svc_request(mode, n - 1)],
                "miss" => vec![miss_request(mode)],
                _ => varying_requests(mode, n),
            };
            let t = table(&one_host_yaml(mode, n, uri));
            for r in &reqs {
                let want = if case == "miss" {
                    None
                } else {
                    rule_number(&t, r)
                };
                assert_eq!(rule_number(&t, r), want);
                assert!(case == "miss" || want.is_some());
            }
            measured(calls, &mut |k| {
                let req = &reqs[k % reqs.len()];
                let d = t.decide_with_draw(black_box(req), black_box(k as u64));
                d.matched().map_or(0, |m| m.rule.index as usize)
            })
        }
        ["hosts", "1000", "varying"] => {
            // The requests before the table, as in benches/route.rs.
            let reqs: Vec<_> = (0..common::VARYING)
                .map(|k| {
                    let i = (k * 7919) % 1000;
                    request(
                        Mode::Istio,
                        &format!("h{i}.example.com"),
                        "/svc/api/v1/items?limit=10",
                        &format!("t{i}"),
                    )
                })
                .collect();
            let t = table(&many_hosts_yaml(1000));
            for r in &reqs {
                assert!(t.decide_with_draw(r, 0).matched().is_some());
            }
            measured(calls, &mut |k| {
                let req = &reqs[k % reqs.len()];
                let d = t.decide_with_draw(black_box(req), black_box(k as u64));
                d.matched().map_or(0, |m| m.rule.index as usize)
            })
        }
        ["hosts", "1000", "hit"] => {
            let t = table(&many_hosts_yaml(1000));
            let req = request(
                Mode::Istio,
                "h999.example.com",
                "/svc999/api/v1/items?limit=10",
                "t999",
            );
            assert!(t.decide_with_draw(&req, 0).matched().is_some());
            measured(calls, &mut |k| {
                let d = t.decide_with_draw(black_box(&req), black_box(k as u64));
                d.matched().map_or(0, |m| m.rule.index as usize)
            })
        }
        ["sidecar", "50ns", case] => {
            let t = table(&sidecar_mesh_yaml());
            if case == "tcp" {
                let conns = sidecar_connections();
                for c in &conns {
                    let d = t.decide_connection_with_draw(c, 0);
                    assert!(d.matched().is_some(), "{c:?}: {:?}", d.outcome);
                }
                return measured(calls, &mut |k| {
                    let c = &conns[k % conns.len()];
                    let d = t.decide_connection_with_draw(black_box(c), black_box(k as u64));
                    d.matched().map_or(0, |m| m.rule.index as usize)
                });
            }
            let hit = case == "hit";
            let reqs = sidecar_requests(if hit { "svc" } else { "other" });
            for r in &reqs {
                let d = t.decide_with_draw(r, 0);
                if hit {
                    assert!(d.matched().is_some(), "{r:?}: {:?}", d.outcome);
                } else {
                    assert!(matches!(d.outcome, Outcome::Passthrough), "{:?}", d.outcome);
                }
            }
            measured(calls, &mut |k| {
                let req = &reqs[k % reqs.len()];
                let d = t.decide_with_draw(black_box(req), black_box(k as u64));
                d.matched().map_or(0, |m| m.rule.index as usize)
            })
        }
        ["l4", "tls", n, "sni"] => {
            let n: usize = n.parse().unwrap();
            let t = table(&tls_hosts_yaml(n));
            let conns = tls_connections(n);
            for c in &conns {
                let d = t.decide_connection_with_draw(c, 0);
                assert!(d.matched().is_some(), "{c:?}: {:?}", d.outcome);
            }
            measured(calls, &mut |k| {
                let c = &conns[k % conns.len()];
                let d = t.decide_connection_with_draw(black_box(c), black_box(k as u64));
                d.matched().map_or(0, |m| m.rule.index as usize)
            })
        }
        ["router", ..] => {
            let t = table(&router_yaml());
            let router = Router::new(&t, &router_registry()).expect("router builds");
            let reqs = router_requests();
            for r in &reqs {
                let routed = router.decide_with_draw(r, 0);
                assert!(routed.pick.endpoint().is_some(), "{:?}", routed.pick);
            }
            measured(calls, &mut |k| {
                let req = &reqs[k % reqs.len()];
                let routed = router.decide_with_draw(black_box(req), black_box(k as u64));
                routed
                    .pick
                    .endpoint()
                    .map_or(0, |p| p.endpoint.port as usize)
            })
        }
        ["split", ..] => {
            let split = Split::new(&[80, 15, 5]);
            let mut x = 0x853c_49e6_748f_ea9bu64;
            measured(calls, &mut |_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                split.pick(black_box(x)).unwrap_or(0)
            })
        }
        ["maglev", ..] => {
            let names: Vec<String> = (0..16).map(|i| format!("10.0.0.{i}:8080")).collect();
            let endpoints: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
            let maglev = Maglev::new(&endpoints).unwrap();
            let keys: Vec<String> = (0..1024).map(|i| format!("user-{i}@example.com")).collect();
            measured(calls, &mut |k| {
                let key = black_box(keys[k % keys.len()].as_bytes());
                maglev.pick(xxhash64(key, 0))
            })
        }
        _ => panic!("unknown scenario {name}; known: {SCENARIOS:?}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match &args[..] {
        [name, calls] => {
            black_box(run(name, calls.parse().expect("CALLS is a number")));
        }
        [name] if SCENARIOS.contains(&name.as_str()) => {
            black_box(run(name, 1));
        }
        _ => {
            for name in SCENARIOS {
                black_box(run(name, 1));
            }
            println!(
                "instructions: {} scenarios run once; benches/callgrind.sh counts them",
                SCENARIOS.len()
            );
        }
    }
}
