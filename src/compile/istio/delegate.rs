//! VirtualService delegation: a root rule with `delegate` is replaced by the delegate's rules,
//! each merged with the root rule (Istio `pilot/pkg/config/kube/crdclient` merge of root and
//! delegate routes). A delegate rule whose match blocks conflict with every root block is
//! dropped; the root's route-level fields fill what the delegate leaves unset.

use std::collections::BTreeMap;

use crate::config::Object;
use crate::config::common::StringMatch;
use crate::config::virtual_service::{HttpMatchRequest, HttpRouteRule, VirtualServiceSpec};

use super::lower::{expand_host, resolve_gateway};
use crate::compile::report::Report;

/// Whether the service has a delegating rule.
pub(crate) fn is_root(spec: &VirtualServiceSpec) -> bool {
    spec.http.iter().flatten().any(|r| r.delegate.is_some())
}

/// The root's rules with every delegating rule replaced by the merged delegate rules.
/// `find(namespace, name)` looks a delegate up among the valid VirtualServices. Short names
/// are resolved before merging, each with its own resource's namespace (`domain` is the
/// cluster domain), as istiod does.
pub(crate) fn merge_root<'a>(
    root: &Object<VirtualServiceSpec>,
    ns: &str,
    find: impl Fn(&str, &str) -> Option<&'a Object<VirtualServiceSpec>>,
    (default_ns, domain): (&str, &str),
    report: &mut Report,
) -> VirtualServiceSpec {
    let mut spec = root.spec.clone();
    let mut out = Vec::new();
    for (i, rule) in root.spec.http.iter().enumerate() {
        let Some(rule) = rule else { continue };
        let Some(d) = &rule.delegate else {
            out.push(Some(rule.clone()));
            continue;
        };
        let name = d.name.as_deref().unwrap_or("");
        let dns = d
            .namespace
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(ns);
        let path = format_args!("spec.http[{i}].delegate");
        let Some(delegate) = find(dns, name) else {
            report.warn(
                "delegate-not-found",
                path,
                format!(
                    "delegate VirtualService {dns}/{name} is not loaded; this rule is left out"
                ),
            );
            continue;
        };
        let exported =
            delegate.spec.export_to.is_empty()
                || delegate.spec.export_to.iter().any(|e| {
                    e == "*" || e == ns || (e == "." && delegate.namespace(default_ns) == ns)
                });
        if !exported {
            report.warn(
                "delegate-not-exported",
                path,
                format!("delegate VirtualService {dns}/{name} is not exported to namespace {ns}; this rule is left out"),
            );
            continue;
        }
        let mut kept = 0;
        let mut root_rule = rule.clone();
        resolve_short_names(&mut root_rule, ns, domain);
        for (j, sub) in delegate.spec.http.iter().enumerate() {
            let Some(sub) = sub else { continue };
            let mut sub = sub.clone();
            resolve_short_names(&mut sub, dns, domain);
            match merge_rule(&root_rule, &sub) {
                Some(m) => {
                    kept += 1;
                    out.push(Some(m));
                }
                None => report.warn(
                    "delegate-conflict",
                    path,
                    format!(
                        "rule {j} of delegate {dns}/{name} matches requests outside this rule's match blocks; Istio ignores it, and so does meshroute"
                    ),
                ),
            }
        }
        if kept == 0 {
            report.warn(
                "delegate-empty",
                path,
                format!("delegate {dns}/{name} contributes no rule"),
            );
        }
    }
    spec.http = out;
    spec
}

/// istio/istio pilot/pkg/model/virtualservice.go `ResolveVirtualServiceShortnames`, which
/// pilot/pkg/model/virtualservice_controller.go applies to the root and to each delegate
/// before `MergeHTTPRoutes`: destination, `mirror` and `mirrors` hosts become full names and
/// match `gateways` `namespace/name`, in the namespace of the resource that writes them. A
/// delegate's `reviews` is `reviews.<delegate namespace>.svc...`, not the root's.
fn resolve_short_names(rule: &mut HttpRouteRule, ns: &str, domain: &str) {
    let hosts = rule
        .route
        .iter_mut()
        .flatten()
        .flatten()
        .filter_map(|d| d.destination.as_mut())
        .chain(rule.mirror.as_deref_mut())
        .chain(
            rule.mirrors
                .iter_mut()
                .flatten()
                .flatten()
                .filter_map(|m| m.destination.as_mut()),
        );
    for d in hosts {
        d.host = expand_host(&d.host, ns, domain);
    }
    for m in rule.matches.iter_mut().flatten() {
        for g in &mut m.gateways {
            if let Some((gns, name)) = resolve_gateway(g, ns) {
                *g = format!("{gns}/{name}");
            }
        }
    }
}

fn merge_rule(root: &HttpRouteRule, delegate: &HttpRouteRule) -> Option<HttpRouteRule> {
    let roots: Vec<&HttpMatchRequest> = root.matches.iter().flatten().collect();
    let leaves: Vec<&HttpMatchRequest> = delegate.matches.iter().flatten().collect();
    let matches = if roots.is_empty() {
        delegate.matches.clone()
    } else if leaves.is_empty() {
        root.matches.clone()
    } else {
        let mut out = Vec::new();
        for leaf in &leaves {
            let before = out.len();
            for r in &roots {
                if !has_conflict(r, leaf) {
                    out.push(Some(merge_match(r, leaf)));
                }
            }
            if out.len() == before {
                return None;
            }
        }
        out
    };
    let mut m = delegate.clone();
    m.matches = matches;
    m.name = join_names(root.name.as_deref(), delegate.name.as_deref());
    m.delegate = None;
    macro_rules! inherit {
        ($($f:ident),*) => { $( if m.$f.is_none() { m.$f = root.$f.clone(); } )* };
    }
    inherit!(
        rewrite,
        direct_response,
        timeout,
        retries,
        fault,
        mirror,
        mirror_percent,
        mirror_percentage,
        cors_policy,
        mirrors,
        headers
    );
    Some(m)
}

fn join_names(root: Option<&str>, leaf: Option<&str>) -> Option<String> {
    match (
        root.filter(|s| !s.is_empty()),
        leaf.filter(|s| !s.is_empty()),
    ) {
        (Some(r), Some(l)) => Some(format!("{r}-{l}")),
        (Some(r), None) => Some(r.to_string()),
        (None, l) => l.map(String::from),
    }
}

fn merge_match(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> HttpMatchRequest {
    let mut out = leaf.clone();
    out.name = join_names(root.name.as_deref(), leaf.name.as_deref());
    out.uri = leaf.uri.clone().or_else(|| root.uri.clone());
    out.scheme = leaf.scheme.clone().or_else(|| root.scheme.clone());
    out.method = leaf.method.clone().or_else(|| root.method.clone());
    out.authority = leaf.authority.clone().or_else(|| root.authority.clone());
    out.headers = union(&root.headers, &leaf.headers);
    out.without_headers = union(&root.without_headers, &leaf.without_headers);
    out.query_params = union(&root.query_params, &leaf.query_params);
    if leaf.port.unwrap_or(0) == 0 {
        out.port = root.port;
    }
    let mut labels = root.source_labels.clone();
    labels.extend(
        leaf.source_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out.source_labels = labels;
    if leaf.source_namespace.as_deref().unwrap_or("").is_empty() {
        out.source_namespace = root.source_namespace.clone();
    }
    if leaf.gateways.is_empty() {
        out.gateways = root.gateways.clone();
    }
    if leaf.stat_prefix.as_deref().unwrap_or("").is_empty() {
        out.stat_prefix = root.stat_prefix.clone();
    }
    out
}

type Conditions = Option<BTreeMap<String, Option<StringMatch>>>;

fn union(root: &Conditions, leaf: &Conditions) -> Conditions {
    match (root, leaf) {
        (None, None) => None,
        _ => {
            let mut m = root.clone().unwrap_or_default();
            m.extend(leaf.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
            Some(m)
        }
    }
}

fn has_conflict(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> bool {
    let pairs = [
        (root.uri.as_ref(), leaf.uri.as_ref()),
        (root.scheme.as_deref(), leaf.scheme.as_deref()),
        (root.method.as_deref(), leaf.method.as_deref()),
        (root.authority.as_deref(), leaf.authority.as_deref()),
    ];
    if pairs.iter().any(|&(r, l)| string_match_conflict(r, l)) {
        return true;
    }
    let keyed = |r: &Conditions, l: &Conditions| {
        l.iter().flatten().any(|(k, lv)| {
            let rv = r.as_ref().and_then(|m| m.get(k)).and_then(Option::as_ref);
            string_match_conflict(rv, lv.as_ref())
        })
    };
    if keyed(&root.headers, &leaf.headers)
        || keyed(&root.without_headers, &leaf.without_headers)
        || keyed(&root.query_params, &leaf.query_params)
    {
        return true;
    }
    if root.ignore_uri_case.unwrap_or(false) != leaf.ignore_uri_case.unwrap_or(false) {
        return true;
    }
    let (rp, lp) = (root.port.unwrap_or(0), leaf.port.unwrap_or(0));
    if rp > 0 && lp > 0 && rp != lp {
        return true;
    }
    let rns = root.source_namespace.as_deref().unwrap_or("");
    if !rns.is_empty() && leaf.source_namespace.as_deref().unwrap_or("") != rns {
        return true;
    }
    if leaf
        .source_labels
        .iter()
        .any(|(k, v)| root.source_labels.get(k).is_some_and(|rv| rv != v))
    {
        return true;
    }
    if !root.gateways.is_empty() && !leaf.gateways.is_empty() {
        return leaf.gateways.iter().any(|g| !root.gateways.contains(g));
    }
    false
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Istio's `stringMatchConflict`: whether the leaf condition can match outside the root's.
fn string_match_conflict(root: Option<&StringMatch>, leaf: Option<&StringMatch>) -> bool {
    let (Some(root), Some(leaf)) = (root, leaf) else {
        return false;
    };
    let leaf_any = nonempty(&leaf.regex).is_some()
        || nonempty(&leaf.prefix).is_some()
        || nonempty(&leaf.exact).is_some();
    let root_any = nonempty(&root.regex).is_some()
        || nonempty(&root.prefix).is_some()
        || nonempty(&root.exact).is_some();
    if nonempty(&root.regex).is_some() && leaf_any {
        return true;
    }
    if nonempty(&leaf.regex).is_some() && root_any {
        return true;
    }
    if let Some(exact) = nonempty(&root.exact) {
        return nonempty(&leaf.prefix).is_some() || nonempty(&leaf.exact) != Some(exact);
    }
    if let Some(prefix) = nonempty(&root.prefix) {
        if let Some(lp) = nonempty(&leaf.prefix) {
            return !lp.starts_with(prefix);
        }
        if let Some(le) = nonempty(&leaf.exact) {
            return !le.starts_with(prefix);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm(kind: &str, v: &str) -> StringMatch {
        let mut m = StringMatch::default();
        match kind {
            "exact" => m.exact = Some(v.into()),
            "prefix" => m.prefix = Some(v.into()),
            _ => m.regex = Some(v.into()),
        }
        m
    }

    #[test]
    fn string_match_conflicts_follow_istio() {
        assert!(!string_match_conflict(
            Some(&sm("prefix", "/a")),
            Some(&sm("prefix", "/a/b"))
        ));
        assert!(string_match_conflict(
            Some(&sm("prefix", "/a/b")),
            Some(&sm("prefix", "/a"))
        ));
        assert!(!string_match_conflict(
            Some(&sm("prefix", "/a")),
            Some(&sm("exact", "/a/x"))
        ));
        assert!(string_match_conflict(
            Some(&sm("exact", "/a")),
            Some(&sm("exact", "/b"))
        ));
        assert!(!string_match_conflict(
            Some(&sm("exact", "/a")),
            Some(&sm("exact", "/a"))
        ));
        assert!(string_match_conflict(
            Some(&sm("regex", "/a.*")),
            Some(&sm("prefix", "/a"))
        ));
        assert!(!string_match_conflict(None, Some(&sm("regex", "x"))));
    }
}
