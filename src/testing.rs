//! Property tests of a routing policy (cargo feature `proptest`): strategies that generate
//! requests reaching a given rule or addressed to a given host, and a check that every
//! generated request's decision satisfies a policy.
//!
//! The strategies start from [witnesses](crate::witness) and vary what the rule or host does
//! not pin: extra headers, path suffixes where a prefix allows, query strings, the path's case
//! where `ignoreUriCase` is set, the method, and (for a host) the headers, query parameters
//! and path literals the configuration tests elsewhere. Checks decide each request with a
//! generated draw, so weighted splits and fault shares are exercised too, and a failure is
//! shrunk to a small request.
//!
//! # Example: every request with `end-user: jason` reaches reviews v2
//! ```
//! use meshroute::Table;
//! use meshroute::testing::{assert_all, requests_for_host, with_header};
//! use proptest::strategy::Strategy;
//!
//! let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml"))?;
//! let jason = requests_for_host(&table, "reviews").prop_map(|r| with_header(r, "end-user", "jason"));
//! assert_all(&table, jason, |_req, d| match d.destination() {
//!     Some(dst) if &*dst.host == "reviews.default.svc.cluster.local"
//!         && dst.subset.as_deref() == Some("v2") => Ok(()),
//!     other => Err(format!("went to {other:?}")),
//! });
//! # Ok::<(), meshroute::Errors>(())
//! ```

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::block::Block;
use crate::decision::Decision;
use crate::diff::request_line;
use crate::predicate::header::HeaderSource;
use crate::predicate::path::{PathMatch, strip_query};
use crate::request::OwnedRequest;
use crate::table::Table;
use crate::witness::{
    EntryRef, Witness, decided_entry, path_values, str_values, witness_for, witnesses,
};

/// Cases [`assert_all`] runs.
pub const DEFAULT_CASES: u32 = 256;

/// `req` with every value of header `name` replaced by `value`.
pub fn with_header(mut req: OwnedRequest, name: &str, value: &str) -> OwnedRequest {
    req.headers.set(name, value);
    req
}

fn add_query(path: &str, key: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{key}={value}")
}

/// Requests that reach rule `rule` (index in [`Table::rules`]) through match block `block`
/// (`None` for a rule without blocks): its witness, varied where the block allows, each
/// checked to decide to that rule and block.
///
/// # Panics
/// When the rule or block does not exist, or no witness reaches it (see
/// [`crate::witness::witness_for`]).
///
/// # Example
/// ```
/// use meshroute::Table;
/// use meshroute::testing::{assert_all, requests_reaching};
///
/// let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml"))?;
/// let shift = table.rules().iter().position(|r| &*r.name == "shift").unwrap();
/// assert_all(&table, requests_reaching(&table, shift, None), |_, d| {
///     let subset = d.destination().and_then(|d| d.subset.as_deref());
///     if matches!(subset, Some("v1" | "v3")) { Ok(()) } else { Err(format!("{subset:?}")) }
/// });
/// # Ok::<(), meshroute::Errors>(())
/// ```
pub fn requests_reaching(
    table: &Table,
    rule: usize,
    block: Option<u16>,
) -> BoxedStrategy<OwnedRequest> {
    let w = witness_for(table, rule, block);
    let Witness::Reaches(base) = w.result else {
        panic!(
            "no request reaches rule {rule} block {block:?}: {:?}",
            w.result
        )
    };
    let b: Block = block
        .map(|b| table.rules()[rule].blocks[b as usize].clone())
        .unwrap_or_default();
    let (suffix_ok, fold) = match &b.uri {
        None => (true, false),
        Some(PathMatch::Prefix { ignore_case, .. }) => (true, *ignore_case),
        Some(PathMatch::SegmentPrefix(_)) => (true, false),
        Some(PathMatch::Exact { ignore_case, .. }) => (false, *ignore_case),
        Some(PathMatch::Regex(_)) => (false, false),
    };
    let method_free = b.method.is_none()
        && !b
            .headers
            .iter()
            .any(|h| matches!(h.source, HeaderSource::Method));
    let t = table.clone();
    let target = EntryRef::new(rule, block);
    (
        proptest::option::of("[a-z0-9]{1,8}"),
        proptest::collection::vec(("x-gen-[a-z]{1,6}", "[a-zA-Z0-9]{0,8}"), 0..3),
        proptest::option::of(("qgen[a-z]{0,4}", "[a-z0-9]{0,6}")),
        any::<u64>(),
        proptest::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
    )
        .prop_map(move |(suffix, headers, query, case, method)| {
            let mut r = base.clone();
            let (path, q) = match r.path.find(['?', '#']) {
                Some(i) => (r.path[..i].to_string(), r.path[i..].to_string()),
                None => (r.path.clone(), String::new()),
            };
            let mut path = path;
            if suffix_ok && let Some(s) = suffix {
                path = format!("{}/{s}", path.trim_end_matches('/'));
            }
            if fold {
                path = path
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if case >> (i % 64) & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    })
                    .collect();
            }
            r.path = format!("{path}{q}");
            if let Some((k, v)) = query {
                r.path = add_query(&r.path, &k, &v);
            }
            for (n, v) in headers {
                r.headers.push(&n, &v);
            }
            if method_free {
                r.method = method.to_string();
            }
            r
        })
        .prop_filter("the request reaches the rule", move |r| {
            decided_entry(&t, &t.decide_with_draw(r, 0)) == Some(target)
        })
        .boxed()
}

/// Requests addressed to `host` (the authority as a client sends it: `reviews`,
/// `reviews.default.svc.cluster.local`, `bookinfo.example.com`), from the witnesses of every
/// rule, with the authority replaced by `host` where the host still has routes for the
/// witness's context and namespace, varied by the headers, query parameters, path literals and
/// methods the configuration tests.
///
/// # Example
/// ```
/// use meshroute::Table;
/// use meshroute::testing::{assert_all, requests_for_host};
///
/// let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml"))?;
/// assert_all(&table, requests_for_host(&table, "reviews"), |_, d| {
///     if d.status() == 200 { Ok(()) } else { Err(format!("status {}", d.status())) }
/// });
/// # Ok::<(), meshroute::Errors>(())
/// ```
pub fn requests_for_host(table: &Table, host: &str) -> BoxedStrategy<OwnedRequest> {
    let mut pool: Vec<OwnedRequest> = Vec::new();
    for w in witnesses(table) {
        let Witness::Reaches(mut r) = w.result else {
            continue;
        };
        r.authority = host.to_string();
        let d = table.decide_with_draw(&r, 0);
        let routed = d.matched().is_some() || matches!(d.outcome, crate::Outcome::NoRoute { .. });
        if routed && !pool.contains(&r) {
            pool.push(r);
        }
    }
    if pool.is_empty() {
        pool.push(OwnedRequest::new("GET", &format!("http://{host}/")));
    }
    // What the configuration tests: (is a query parameter, name, values).
    let mut fields: Vec<(bool, String, Vec<String>)> = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    for b in table.rules().iter().flat_map(|r| r.blocks.iter()) {
        for h in &b.headers {
            if let HeaderSource::Header(n) = &h.source {
                let values = h.value.iter().flat_map(str_values).collect();
                fields.push((false, n.to_string(), values));
            }
        }
        for q in &b.query {
            let values = q.value.iter().flat_map(str_values).collect();
            fields.push((true, q.key.to_string(), values));
        }
        if let Some(u) = &b.uri {
            paths.extend(path_values(u).into_iter().take(2));
        }
    }
    fields.push((false, "x-gen".into(), Vec::new()));
    paths.push("/".into());
    paths.sort();
    paths.dedup();
    (
        proptest::sample::select(pool),
        proptest::collection::vec(
            (
                proptest::sample::select(fields),
                any::<prop::sample::Index>(),
                "[a-z0-9]{0,6}",
            ),
            0..3,
        ),
        proptest::option::of((proptest::sample::select(paths), "(/[a-z0-9]{1,6})?")),
        proptest::option::of(proptest::sample::select(vec![
            "GET", "POST", "PUT", "DELETE", "PATCH",
        ])),
    )
        .prop_map(|(mut r, edits, path, method)| {
            for ((query, name, values), pick, random) in edits {
                let value = if values.is_empty() || pick.index(values.len() + 1) == values.len() {
                    random
                } else {
                    values[pick.index(values.len())].clone()
                };
                if query {
                    r.path = add_query(&r.path, &name, &value);
                } else {
                    r = with_header(r, &name, &value);
                }
            }
            if let Some((p, suffix)) = path {
                let q = r.path[strip_query(&r.path).len()..].to_string();
                r.path = format!("{p}{suffix}{q}");
            }
            if let Some(m) = method {
                r.method = m.to_string();
            }
            r
        })
        .boxed()
}

/// Decides every request `strategy` generates (with a generated draw) and checks the decision
/// with `check`, over `cases` cases from a fixed seed.
///
/// # Errors
/// The first failure after shrinking: the check's message, the request (as one line) and the
/// draw; or the reason the strategy gave up (too many requests rejected).
pub fn check_all<S, F>(table: &Table, strategy: S, cases: u32, check: F) -> Result<(), String>
where
    S: Strategy<Value = OwnedRequest>,
    F: Fn(&OwnedRequest, &Decision<'_>) -> Result<(), String>,
{
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&(strategy, any::<u64>()), |(req, draw)| {
        let d = table.decide_with_draw(&req, draw);
        check(&req, &d).map_err(|m| {
            TestCaseError::fail(format!(
                "{m}\n  request: {}\n  draw: {draw}",
                request_line(&req)
            ))
        })
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, _)) => Err(reason.message().to_string()),
        Err(TestError::Abort(reason)) => Err(format!("gave up: {}", reason.message())),
    }
}

/// [`check_all`] over [`DEFAULT_CASES`] cases.
///
/// # Panics
/// When a request fails the check, with the check's message, the (shrunk) request and draw.
pub fn assert_all<S, F>(table: &Table, strategy: S, check: F)
where
    S: Strategy<Value = OwnedRequest>,
    F: Fn(&OwnedRequest, &Decision<'_>) -> Result<(), String>,
{
    if let Err(e) = check_all(table, strategy, DEFAULT_CASES, check) {
        panic!("policy check failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_policy_is_reported_with_its_request() {
        let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml")).unwrap();
        let err = check_all(
            &table,
            requests_for_host(&table, "reviews"),
            64,
            |_, d| match d.destination().and_then(|d| d.subset.as_deref()) {
                Some("v2") => Err("v2 is off limits".into()),
                _ => Ok(()),
            },
        )
        .unwrap_err();
        assert!(err.starts_with("v2 is off limits\n  request: "), "{err}");
        assert!(err.contains("-H 'end-user: jason'"), "{err}");
    }

    #[test]
    fn every_reachable_rule_has_a_strategy() {
        let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml")).unwrap();
        for (i, r) in table.rules().iter().enumerate() {
            let block = if r.blocks.is_empty() { None } else { Some(0) };
            let want = EntryRef::new(i, block);
            check_all(&table, requests_reaching(&table, i, block), 32, |_, d| {
                (decided_entry(&table, d) == Some(want))
                    .then_some(())
                    .ok_or_else(|| "elsewhere".into())
            })
            .unwrap();
        }
    }
}
