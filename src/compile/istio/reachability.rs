//! The webhook's reachability warnings for a VirtualService: rules that can never take a request
//! (IST0130 unreachable rule) and match blocks that never match because an earlier one takes all
//! their requests (IST0131 ineffective match).
//!
//! # Coverage, said twice on purpose
//!
//! Whether one match block takes every request another matches is also decided by
//! [`crate::witness`] (`block_covers`, on compiled blocks). The two stay apart because they
//! answer different questions on different inputs:
//!
//! - This check reads one resource as written, before lowering, as the admission webhook does:
//!   its warnings name `spec.http[i].match[j]` of that resource, and it compares only blocks of
//!   the same VirtualService, in the order they are written.
//! - It reads the fields as the webhook does, not as the compiled table answers: a regex covers
//!   only the same regex text (`regex: "*"` is a catch-all, as in Istio), `ignoreUriCase`,
//!   `gateways`, `port`, `sourceLabels` and `sourceNamespace` compare as written (gateway names
//!   are not resolved), `withoutHeaders` only by identical entries, and a rule with `delegate`
//!   shadows nothing. A check on compiled blocks would warn where the webhook does not.
//! - [`crate::witness`] works on the compiled table: regexes are compiled (a regex can cover
//!   an exact value by running it), paths are the compiled path matches (segment prefixes of
//!   the Gateway API), gateways are routing contexts, and the entries before a block come from
//!   every resource of its virtual host. Its answer is a proof about the table as served, for
//!   any route kind, and is only as strict as the table.
//!
//! Both are sound under-approximations (`false` when in doubt); neither is a copy of the other.

use std::collections::{BTreeMap, HashMap};

use crate::compile::report::Report;
use crate::config::common::StringMatch;
use crate::config::virtual_service::{
    HttpMatchRequest, HttpRouteRule, L4MatchAttributes, TlsMatchAttributes,
};

/// A condition on one value, normalised for the coverage check.
#[derive(Clone, Copy, PartialEq)]
enum Cond<'a> {
    /// `{}` or `regex: "*"`: the value is present.
    Present,
    Exact(&'a str),
    Prefix(&'a str),
    Regex(&'a str),
}

fn cond(sm: Option<&StringMatch>) -> Cond<'_> {
    match sm {
        None => Cond::Present,
        Some(sm) => match (&sm.exact, &sm.prefix, &sm.regex) {
            (Some(e), _, _) => Cond::Exact(e),
            (None, Some(p), _) => Cond::Prefix(p),
            (None, None, Some(r)) if r == "*" => Cond::Present,
            (None, None, Some(r)) => Cond::Regex(r),
            (None, None, None) => Cond::Present,
        },
    }
}

/// Every value `b` accepts, `a` accepts too (both requiring the value to be present).
fn cond_covers(a: Cond<'_>, b: Cond<'_>) -> bool {
    match (a, b) {
        (Cond::Present, _) => true,
        (Cond::Regex(".*"), _) => true,
        (Cond::Exact(x), Cond::Exact(y)) => x == y,
        (Cond::Prefix(p), Cond::Exact(y) | Cond::Prefix(y)) => y.starts_with(p),
        (Cond::Regex(x), Cond::Regex(y)) => x == y,
        _ => false,
    }
}

/// A condition on a header that is always present (`:method`, `:scheme`, `:authority`); absent
/// means "any".
fn pseudo_covers(a: Option<&StringMatch>, b: Option<&StringMatch>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(a), b) => match cond(Some(a)) {
            Cond::Present => true,
            ca => b.is_some() && cond_covers(ca, cond(b)),
        },
    }
}

fn uri_covers(a: &HttpMatchRequest, b: &HttpMatchRequest) -> bool {
    if any_uri(a) {
        return true;
    }
    if any_uri(b) {
        return false;
    }
    let (ca, cb) = (cond(a.uri.as_ref()), cond(b.uri.as_ref()));
    let (ica, icb) = (
        a.ignore_uri_case == Some(true),
        b.ignore_uri_case == Some(true),
    );
    match (ca, cb) {
        (Cond::Regex(x), Cond::Regex(y)) => x == y,
        (Cond::Exact(x), Cond::Exact(y)) => {
            if ica {
                x.eq_ignore_ascii_case(y)
            } else {
                !icb && x == y
            }
        }
        (Cond::Prefix(p), Cond::Exact(y) | Cond::Prefix(y)) => {
            if ica {
                y.len() >= p.len() && y.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            } else {
                !icb && y.starts_with(p)
            }
        }
        _ => false,
    }
}

fn map_covers(
    a: Option<&BTreeMap<String, Option<StringMatch>>>,
    b: Option<&BTreeMap<String, Option<StringMatch>>>,
    case_insensitive_keys: bool,
) -> bool {
    a.into_iter().flatten().all(|(ka, va)| {
        b.into_iter().flatten().any(|(kb, vb)| {
            let same_key = if case_insensitive_keys {
                ka.eq_ignore_ascii_case(kb)
            } else {
                ka == kb
            };
            same_key && cond_covers(cond(va.as_ref()), cond(vb.as_ref()))
        })
    })
}

/// Config-time predicates of `a` (port, gateways, source labels / namespace) select at least the
/// proxies and ports `b`'s select.
fn config_covers(a: &HttpMatchRequest, b: &HttpMatchRequest) -> bool {
    let port_a = a.port.unwrap_or(0);
    if port_a != 0 && Some(port_a) != b.port {
        return false;
    }
    if !a.gateways.is_empty() {
        return !b.gateways.is_empty() && b.gateways.iter().all(|g| a.gateways.contains(g));
    }
    let a_source =
        !a.source_labels.is_empty() || a.source_namespace.as_deref().is_some_and(|n| !n.is_empty());
    if a_source {
        return b.gateways.is_empty()
            && a.source_labels
                .iter()
                .all(|(k, v)| b.source_labels.get(k) == Some(v))
            && a.source_namespace
                .as_deref()
                .is_none_or(|n| n.is_empty() || b.source_namespace.as_deref() == Some(n));
    }
    true
}

/// Every request block `b` matches is also matched by block `a` (a sound under-approximation).
fn match_covers(a: &HttpMatchRequest, b: &HttpMatchRequest) -> bool {
    let without_covers = a.without_headers.iter().flatten().all(|(ka, va)| {
        b.without_headers
            .iter()
            .flatten()
            .any(|(kb, vb)| ka.eq_ignore_ascii_case(kb) && cond(va.as_ref()) == cond(vb.as_ref()))
    });
    config_covers(a, b)
        && uri_covers(a, b)
        && pseudo_covers(a.method.as_deref(), b.method.as_deref())
        && pseudo_covers(a.scheme.as_deref(), b.scheme.as_deref())
        && pseudo_covers(a.authority.as_deref(), b.authority.as_deref())
        && map_covers(a.headers.as_ref(), b.headers.as_ref(), true)
        && map_covers(a.query_params.as_ref(), b.query_params.as_ref(), false)
        && without_covers
}

/// A block that takes every request: any path, nothing else.
fn is_catch_all(m: &HttpMatchRequest) -> bool {
    let empty = |o: &Option<BTreeMap<String, Option<StringMatch>>>| {
        o.as_ref().is_none_or(BTreeMap::is_empty)
    };
    let probe = HttpMatchRequest::default();
    uri_covers(m, &probe)
        && m.method.is_none()
        && m.scheme.is_none()
        && m.authority.is_none()
        && empty(&m.headers)
        && empty(&m.query_params)
        && empty(&m.without_headers)
        && m.port.unwrap_or(0) == 0
        && m.source_labels.is_empty()
        && m.source_namespace.as_deref().is_none_or(str::is_empty)
        && m.gateways.is_empty()
}

/// Two blocks that are the same apart from their name.
fn match_eq(a: &HttpMatchRequest, b: &HttpMatchRequest) -> bool {
    a.uri == b.uri
        && a.scheme == b.scheme
        && a.method == b.method
        && a.authority == b.authority
        && a.headers == b.headers
        && a.port == b.port
        && a.source_labels == b.source_labels
        && a.gateways == b.gateways
        && a.query_params == b.query_params
        && a.ignore_uri_case == b.ignore_uri_case
        && a.without_headers == b.without_headers
        && a.source_namespace == b.source_namespace
        && a.stat_prefix == b.stat_prefix
}

/// The earlier blocks that may shadow later ones, bucketed by their `uri` condition so that a
/// block is compared only with those whose `uri` can cover its own (`uri_covers`): keeps the
/// analysis near-linear for VirtualServices of thousands of rules with distinct paths.
#[derive(Default)]
struct Earlier<'a> {
    /// (rule, block) index and the block, in order.
    all: Vec<(usize, usize, &'a HttpMatchRequest)>,
    /// Blocks whose `uri` accepts every path (absent, `prefix: /`, `regex: .*`).
    any: Vec<u32>,
    exact: HashMap<&'a str, Vec<u32>>,
    prefix: HashMap<&'a str, Vec<u32>>,
    /// `ignoreUriCase` literals, lowercased.
    exact_folded: HashMap<String, Vec<u32>>,
    prefix_folded: HashMap<String, Vec<u32>>,
    regex: HashMap<&'a str, Vec<u32>>,
}

/// Whether a block's `uri` accepts every path.
fn any_uri(m: &HttpMatchRequest) -> bool {
    match m.uri.as_ref().map(|u| cond(Some(u))) {
        None | Some(Cond::Present) => true,
        Some(Cond::Prefix(p)) => p.is_empty() || p == "/",
        Some(Cond::Regex(r)) => r == ".*",
        Some(_) => false,
    }
}

impl<'a> Earlier<'a> {
    fn push(&mut self, rule: usize, block: usize, m: &'a HttpMatchRequest) {
        let id = self.all.len() as u32;
        self.all.push((rule, block, m));
        let folded = m.ignore_uri_case == Some(true);
        let list = match cond(m.uri.as_ref()) {
            _ if any_uri(m) => &mut self.any,
            Cond::Exact(x) if folded => {
                self.exact_folded.entry(x.to_ascii_lowercase()).or_default()
            }
            Cond::Exact(x) => self.exact.entry(x).or_default(),
            Cond::Prefix(x) if folded => self
                .prefix_folded
                .entry(x.to_ascii_lowercase())
                .or_default(),
            Cond::Prefix(x) => self.prefix.entry(x).or_default(),
            Cond::Regex(x) => self.regex.entry(x).or_default(),
            Cond::Present => &mut self.any,
        };
        list.push(id);
    }

    /// The first earlier block for which `test` holds, among those whose `uri` may cover `b`'s.
    fn first(
        &self,
        b: &HttpMatchRequest,
        test: impl Fn(&HttpMatchRequest) -> bool,
    ) -> Option<(usize, usize, &'a HttpMatchRequest)> {
        let mut best = u32::MAX;
        let mut offer = |list: Option<&Vec<u32>>| {
            for &id in list.into_iter().flatten() {
                if id >= best {
                    return;
                }
                if test(self.all[id as usize].2) {
                    best = id;
                    return;
                }
            }
        };
        offer(Some(&self.any));
        if !any_uri(b) {
            let uri = cond(b.uri.as_ref());
            match uri {
                Cond::Exact(y) | Cond::Prefix(y) => {
                    let lower = y.to_ascii_lowercase();
                    if matches!(uri, Cond::Exact(_)) {
                        offer(self.exact.get(y));
                        offer(self.exact_folded.get(&lower));
                    }
                    for (i, _) in y.char_indices().chain([(y.len(), ' ')]) {
                        offer(self.prefix.get(&y[..i]));
                        offer(self.prefix_folded.get(&lower[..i]));
                    }
                }
                Cond::Regex(y) => offer(self.regex.get(y)),
                Cond::Present => {}
            }
        }
        (best != u32::MAX).then(|| self.all[best as usize])
    }
}

/// Warns about rules and match blocks that can never take a request because an earlier rule
/// without matches, or an earlier block that matches a superset of requests, comes first.
/// Rules with `delegate` never shadow later ones (requests their delegate does not match fall through).
pub(crate) fn analyze_http_reachability(rules: &[Option<HttpRouteRule>], report: &mut Report) {
    let null_block = HttpMatchRequest::default();
    // Earlier blocks that can shadow later ones.
    let mut earlier = Earlier::default();
    // The first earlier rule without match blocks (which takes every request).
    let mut matchless: Option<usize> = None;
    for (i, rule) in rules.iter().enumerate() {
        let Some(rule) = rule else { continue };
        let path = format_args!("spec.http[{i}]");
        let shadows = rule.delegate.is_none();
        if let Some(k) = matchless {
            report.warn(
                "unreachable-rule",
                path,
                format!("rule is unreachable: http[{k}] before it has no match and takes every request (IST0130)"),
            );
            continue;
        }
        if rule.matches.is_empty() {
            if let Some((k, m, _)) = earlier.first(&null_block, is_catch_all) {
                report.warn(
                    "unreachable-rule",
                    path,
                    format!("rule is unreachable: http[{k}].match[{m}] before it matches every request (IST0130)"),
                );
            } else if shadows {
                matchless = Some(i);
            }
            continue;
        }
        let mut shadowed = 0;
        let mut block_warnings = Vec::new();
        for (j, block) in rule.matches.iter().enumerate() {
            let block = block.as_ref().unwrap_or(&null_block);
            let coverer = earlier.first(block, |a| match_covers(a, block));
            if let Some((k, m, a)) = coverer {
                shadowed += 1;
                let p = format!("{path}.match[{j}]");
                let other = if k == i {
                    format!("match[{m}]")
                } else {
                    format!("http[{k}].match[{m}]")
                };
                if match_eq(a, block) {
                    block_warnings.push((
                        "duplicate-match",
                        p,
                        format!("match block is identical to {other} before it and never matches (IST0131)"),
                    ));
                } else if is_catch_all(a) {
                    block_warnings.push((
                        "unreachable-rule",
                        p,
                        format!("match block is unreachable: {other} before it matches every request (IST0130)"),
                    ));
                } else {
                    block_warnings.push((
                        "shadowed-match",
                        p,
                        format!(
                            "match block never matches: every request it matches is taken by {other} before it (IST0131)"
                        ),
                    ));
                }
            } else if shadows {
                earlier.push(i, j, block);
            }
        }
        if shadowed == rule.matches.len() {
            report.warn(
                "unreachable-rule",
                path,
                "rule is unreachable: every match block is taken by an earlier one (IST0130)",
            );
        }
        for (code, p, message) in block_warnings {
            report.warn(code, p, message);
        }
    }
}

pub(crate) fn tls_match_eq(a: &TlsMatchAttributes, b: &TlsMatchAttributes) -> bool {
    a.sni_hosts == b.sni_hosts
        && a.destination_subnets == b.destination_subnets
        && a.port == b.port
        && a.source_labels == b.source_labels
        && a.gateways == b.gateways
        && a.source_namespace == b.source_namespace
}

pub(crate) fn l4_match_eq(a: &L4MatchAttributes, b: &L4MatchAttributes) -> bool {
    a.destination_subnets == b.destination_subnets
        && a.port == b.port
        && a.source_subnet == b.source_subnet
        && a.source_labels == b.source_labels
        && a.gateways == b.gateways
        && a.source_namespace == b.source_namespace
}

/// The TLS / TCP form of the analysis: rules after a rule without matches, and identical matches.
pub(crate) fn analyze_l4_reachability<R, M>(
    field: &str,
    rules: &[Option<R>],
    matches_of: impl Fn(&R) -> &Vec<Option<M>>,
    eq: impl Fn(&M, &M) -> bool,
    report: &mut Report,
) {
    let mut seen: Vec<(usize, usize, &M)> = Vec::new();
    let mut matchless: Option<usize> = None;
    for (i, rule) in rules.iter().enumerate() {
        let Some(rule) = rule else { continue };
        let path = format_args!("{field}[{i}]");
        if let Some(k) = matchless {
            report.warn(
                "unreachable-rule",
                path,
                format!("rule is unreachable: {}[{k}] before it has no match and takes every connection (IST0130)", &field[5..]),
            );
            continue;
        }
        let matches = matches_of(rule);
        if matches.is_empty() {
            matchless = Some(i);
            continue;
        }
        let mut duplicates = 0;
        for (j, m) in matches.iter().enumerate() {
            let Some(m) = m else { continue };
            if let Some(&(k, n, _)) = seen.iter().find(|(_, _, a)| eq(a, m)) {
                duplicates += 1;
                report.warn(
                    "duplicate-match",
                    format!("{path}.match[{j}]"),
                    format!("match is identical to {}[{k}].match[{n}] before it and never matches (IST0131)", &field[5..]),
                );
            } else {
                seen.push((i, j, m));
            }
        }
        if duplicates == matches.len() {
            report.warn(
                "unreachable-rule",
                path,
                "rule is unreachable: every match duplicates an earlier one (IST0130)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::istio::virtual_service::validate_virtual_service;
    use crate::compile::report::validate_yaml;

    fn warnings(yaml: &str) -> Vec<(&'static str, String, String)> {
        let report = validate_yaml(yaml, validate_virtual_service);
        assert_eq!(report.errors, vec![], "the test spec is valid");
        report.warnings
    }

    /// `(code, path)` of each warning.
    fn warned(yaml: &str) -> Vec<(&'static str, String)> {
        warnings(yaml).into_iter().map(|(c, p, _)| (c, p)).collect()
    }

    #[test]
    fn rules_after_a_rule_without_match_are_unreachable() {
        let yaml = "{hosts: [r], http: [{route: [{destination: {host: a}}]}, \
                    {match: [{uri: {prefix: /x}}], route: [{destination: {host: b}}]}]}";
        assert_eq!(
            warnings(yaml),
            vec![(
                "unreachable-rule",
                "spec.http[1]".to_string(),
                "rule is unreachable: http[0] before it has no match and takes every request (IST0130)".to_string()
            )]
        );
    }

    #[test]
    fn match_blocks_after_a_catch_all_block_are_unreachable() {
        let yaml = "{hosts: [r], http: [{match: [{uri: {prefix: /}}], route: [{destination: {host: a}}]}, \
                    {match: [{uri: {prefix: /x}}, {method: {exact: GET}}], route: [{destination: {host: b}}]}, \
                    {route: [{destination: {host: c}}]}]}";
        let w = warnings(yaml);
        assert_eq!(
            w.iter()
                .map(|(c, p, _)| (*c, p.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("unreachable-rule", "spec.http[1]"),
                ("unreachable-rule", "spec.http[1].match[0]"),
                ("unreachable-rule", "spec.http[1].match[1]"),
                ("unreachable-rule", "spec.http[2]"),
            ]
        );
        assert_eq!(
            w[1].2,
            "match block is unreachable: http[0].match[0] before it matches every request (IST0130)"
        );
        // A method-only block is not a catch-all.
        let method = "{hosts: [r], http: [{match: [{method: {exact: GET}}], route: [{destination: {host: a}}]}, \
                      {route: [{destination: {host: b}}]}]}";
        assert_eq!(warned(method), vec![]);
    }

    #[test]
    fn identical_and_shadowed_match_blocks() {
        let yaml = "{hosts: [r], http: [\
                    {match: [{name: a, uri: {prefix: /api}, headers: {x-user: {exact: jason}}}], route: [{destination: {host: a}}]}, \
                    {match: [{name: b, uri: {prefix: /api}, headers: {x-user: {exact: jason}}}, \
                             {uri: {prefix: /api/v1}, headers: {X-User: {exact: jason}, x-more: {}}}, \
                             {uri: {prefix: /api/v1}, headers: {x-user: {prefix: jas}}}, \
                             {uri: {exact: /API}, ignoreUriCase: true, headers: {x-user: {exact: jason}}}], \
                     route: [{destination: {host: b}}]}]}";
        let w = warnings(yaml);
        assert_eq!(
            w.iter()
                .map(|(c, p, _)| (*c, p.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("duplicate-match", "spec.http[1].match[0]"),
                ("shadowed-match", "spec.http[1].match[1]")
            ]
        );
        assert_eq!(
            w[0].2,
            "match block is identical to http[0].match[0] before it and never matches (IST0131)"
        );
        assert_eq!(
            w[1].2,
            "match block never matches: every request it matches is taken by http[0].match[0] before it (IST0131)"
        );
    }

    #[test]
    fn delegating_and_config_time_blocks_do_not_shadow() {
        // Requests the delegate does not match fall through to later rules.
        let delegate =
            "{hosts: [r], http: [{delegate: {name: d}}, {route: [{destination: {host: b}}]}]}";
        assert_eq!(warned(delegate), vec![]);
        // A block limited to some source workloads does not take the traffic of others.
        let labels = "{hosts: [r], http: [{match: [{sourceLabels: {app: x}}], route: [{destination: {host: a}}]}, \
                      {match: [{uri: {prefix: /x}}], route: [{destination: {host: b}}]}]}";
        assert_eq!(warned(labels), vec![]);
        let port = "{hosts: [r], http: [{match: [{port: 80, uri: {prefix: /}}], route: [{destination: {host: a}}]}, \
                    {match: [{port: 80, uri: {prefix: /x}}, {port: 81}], route: [{destination: {host: b}}]}]}";
        assert_eq!(
            warned(port),
            vec![("shadowed-match", "spec.http[1].match[0]".to_string())]
        );
    }

    #[test]
    fn tcp_rule_analysis() {
        let yaml = "{hosts: [r], tcp: [{match: [{port: 27017}], route: [{destination: {host: a}}]}, \
                    {match: [{port: 27017}], route: [{destination: {host: b}}]}, \
                    {route: [{destination: {host: c}}]}, {route: [{destination: {host: d}}]}]}";
        assert_eq!(
            warned(yaml),
            vec![
                ("duplicate-match", "spec.tcp[1].match[0]".to_string()),
                ("unreachable-rule", "spec.tcp[1]".to_string()),
                ("unreachable-rule", "spec.tcp[3]".to_string()),
            ]
        );
    }
}
