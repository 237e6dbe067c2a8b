//! `TLSRoute` and `TCPRoute`: validation as the CRDs enforce it (kubernetes-sigs/gateway-api
//! `apis/v1alpha2/tlsroute_types.go`, `tcproute_types.go`, `shared_types.go`), and their
//! placement as connection rules ([`crate::l4`]).
//!
//! A route attaches as an HTTPRoute does (`attach.rs`: parentRefs, sectionName and port,
//! allowedRoutes, hostname intersection), to listeners of its own protocol: a TLSRoute to `TLS`
//! listeners (Passthrough or Terminate), its hostnames intersected with the listener's and
//! matched against the SNI; a TCPRoute to `TCP` listeners, or (GAMMA) to a Service. Routes are
//! placed oldest first, then by `namespace/name`, so among routes naming the same SNI the most
//! specific hostname wins, then the oldest route (the Gateway API's precedence, Listener
//! `allowedRoutes` docs); a rule has no matches, so the first rule of the winning route serves.

use crate::compile::report::Report;
use crate::config::gateway_api::{HttpBackendRef, L4BackendRef, L4RouteRule, ParentRef};
use crate::connection::Protocol;
use crate::error::ResourceId;
use crate::l4::{L4Entry, L4Rule, L4Service};
use crate::table::{Inner, Source, Visibility};

use super::attach::attach;
use super::lower::{Route, RouteCtx, World, in_precedence_order};
use super::lower_rules::{BackendRef, backend};
use super::route::{
    Route as Kind, check_backend_ref, check_hostnames, check_parent_refs, check_rule_list,
};

/// Most backendRefs a rule may have (the CRDs' `maxItems`).
const MAX_L4_BACKENDS: usize = 16;

/// Validates a `TLSRoute` spec (hostnames given) or a `TCPRoute` spec (none), recording every
/// error in `report` at its path under `spec`.
pub(crate) fn validate_l4_route(
    kind: &str,
    parent_refs: &[ParentRef],
    hostnames: Option<&[String]>,
    rules: &[L4RouteRule],
    report: &mut Report,
) {
    check_parent_refs(parent_refs, report);
    if let Some(h) = hostnames {
        check_hostnames(h, report);
    }
    if rules.is_empty() {
        report.error(
            "spec.rules",
            format!("a {kind} needs at least one rule (minItems 1)"),
        );
    }
    check_rule_list(
        rules.len(),
        rules.iter().map(|r| (r.name.as_deref(), 0)),
        report,
    );
    for (i, rule) in rules.iter().enumerate() {
        let path = format_args!("spec.rules[{i}].backendRefs");
        match rule.backend_refs.len() {
            0 => report.error(path, "a rule needs at least one backendRef (minItems 1)"),
            n if n > MAX_L4_BACKENDS => report.error(
                path,
                format!("{n} backendRefs exceed the limit of {MAX_L4_BACKENDS} (maxItems)"),
            ),
            _ => {}
        }
        for (j, b) in rule.backend_refs.iter().enumerate() {
            check_backend_ref(
                &http_view(b),
                Kind::Http,
                &format_args!("{path}[{j}]"),
                report,
            );
        }
    }
}

/// A connection route's backend as the HTTP backend reference the shared checks read (no
/// filters).
fn http_view(b: &L4BackendRef) -> HttpBackendRef {
    HttpBackendRef {
        group: b.group.clone(),
        kind: b.kind.clone(),
        name: b.name.clone(),
        namespace: b.namespace.clone(),
        port: b.port,
        weight: b.weight,
        ..HttpBackendRef::default()
    }
}

/// Lowers and places every valid `TLSRoute` and `TCPRoute` in `routes` (oldest first, then by
/// `namespace/name`), filing each one's report in `reports`.
pub(crate) fn place_l4_routes(
    routes: &mut [Route<'_>],
    world: &World<'_>,
    inner: &mut Inner,
    reports: &mut Vec<(ResourceId, String, Report)>,
) {
    in_precedence_order(routes, world.default_ns);
    for route in routes.iter() {
        let (protocol, rules) = match route {
            Route::Tls(o) => (Protocol::Tls, &o.spec.rules),
            Route::Tcp(o) => (Protocol::Tcp, &o.spec.rules),
            _ => continue,
        };
        let meta = route.meta();
        let ns = meta.namespace.as_deref().unwrap_or(world.default_ns);
        let id = ResourceId::new(route.kind(), ns, &meta.name);
        let mut report = Report::with_regexes(&world.regexes);
        let mesh_only = !route.parent_refs().is_empty()
            && route
                .parent_refs()
                .iter()
                .all(|p| p.kind.as_deref() == Some("Service"));
        let rc = RouteCtx {
            ns,
            kind: route.kind(),
            mesh_only,
            world,
            sticky: None,
            name: &meta.name,
        };
        let source = inner.sources.len() as u32;
        let lowered: Vec<L4Rule> = rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let mut l4 = lower_rule(rule, i, protocol, source, &rc, &mut report);
                if let Route::Tls(o) = route {
                    l4.matches = Box::new([sni_match(&o.spec.hostnames)]);
                }
                l4
            })
            .collect();
        let attachments = attach(route, ns, world, &mut report);
        let failed = report.has_errors();
        reports.push((id.clone(), route.source().to_string(), report));
        if failed {
            continue;
        }
        inner.sources.push(Source {
            kind: route.kind().into(),
            namespace: ns.into(),
            name: meta.name.as_str().into(),
        });
        let base = inner.l4.rules.len() as u32;
        // At a listener the route's hostnames (intersected) are its SNI names; attached to a
        // Service (GAMMA), the Service's host binds and a TLSRoute's rules match the SNI by
        // their one match (the route's hostnames).
        let entries = |block: Option<u16>| -> Box<[L4Entry]> {
            (0..lowered.len() as u32)
                .map(|k| L4Entry {
                    rule: base + k,
                    block,
                })
                .collect()
        };
        let (at_listener, at_service) = (
            entries(None),
            entries((protocol == Protocol::Tls).then_some(0)),
        );
        inner.l4.rules.extend(lowered);
        for a in attachments {
            let hosts: Box<[Box<str>]> = a.hosts.iter().map(|h| h.as_str().into()).collect();
            let first = hosts.first().map_or("*", |h| &**h);
            inner.l4.context_mut(&a.context).services.push(L4Service {
                name: format!("{first} ({id})").into(),
                hosts,
                visibility: match &a.consumer {
                    Some(consumer) => Visibility::Only(vec![consumer.as_str().into()]),
                    None => Visibility::Public,
                },
                ports: a.port.into_iter().collect(),
                entries: if a.context.is_some() {
                    at_listener.clone()
                } else {
                    at_service.clone()
                },
                terminates_tls: a.tls_terminate,
            });
        }
    }
}

/// A TLSRoute rule's one match where the route is attached to a Service: the route's
/// hostnames as SNI names (any name when it has none).
fn sni_match(hostnames: &[String]) -> crate::l4::L4Match {
    let names: Box<[Box<str>]> = if hostnames.is_empty() {
        Box::new(["*".into()])
    } else {
        hostnames
            .iter()
            .map(|h| h.to_ascii_lowercase().into())
            .collect()
    };
    crate::l4::L4Match {
        sni_hosts: names,
        path: "spec.hostnames".into(),
        ..Default::default()
    }
}

/// One rule: its backends split by weight (default 1; a backend that cannot be used keeps its
/// share, and connections it draws are refused).
fn lower_rule(
    rule: &L4RouteRule,
    i: usize,
    protocol: Protocol,
    source: u32,
    rc: &RouteCtx<'_>,
    report: &mut Report,
) -> L4Rule {
    let path = format!("spec.rules[{i}]");
    let destinations = rule
        .backend_refs
        .iter()
        .enumerate()
        .map(|(j, b)| crate::action::WeightedDestination {
            destination: backend(
                &BackendRef::from(b),
                rc,
                &format_args!("{path}.backendRefs[{j}]"),
                report,
            ),
            weight: b.weight.unwrap_or(1).clamp(0, 1_000_000) as u32,
        })
        .collect();
    L4Rule {
        protocol,
        rule: crate::compile::istio::l4::forwarding_rule(
            source,
            i as u32,
            rule.name.as_deref().unwrap_or(""),
            destinations,
            500,
        ),
        matches: Box::default(),
        path: path.into(),
    }
}

/// The routes of `valid` this module places.
pub(crate) fn l4_routes<'c>(valid: &[&'c crate::config::Resource]) -> Vec<Route<'c>> {
    use crate::config::Resource;
    valid
        .iter()
        .filter_map(|r| match r {
            Resource::TlsRoute(o) => Some(Route::Tls(o)),
            Resource::TcpRoute(o) => Some(Route::Tcp(o)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::report::validate_yaml;
    use crate::config::gateway_api::{TcpRouteSpec, TlsRouteSpec};

    fn tls(yaml: &str) -> Vec<(String, String)> {
        validate_yaml(yaml, |s: &TlsRouteSpec, r: &mut Report| {
            validate_l4_route("TLSRoute", &s.parent_refs, Some(&s.hostnames), &s.rules, r)
        })
        .errors
    }

    fn tcp(yaml: &str) -> Vec<(String, String)> {
        validate_yaml(yaml, |s: &TcpRouteSpec, r: &mut Report| {
            validate_l4_route("TCPRoute", &s.parent_refs, None, &s.rules, r)
        })
        .errors
    }

    fn pair(path: &str, message: &str) -> (String, String) {
        (path.to_string(), message.to_string())
    }

    /// tlsroute_types.go and tcproute_types.go: `rules` and each rule's `backendRefs` have
    /// `minItems: 1`; `backendRefs` `maxItems: 16`.
    #[test]
    fn rules_and_backends_are_required() {
        assert_eq!(
            tcp("{parentRefs: [{name: gw}]}"),
            vec![pair(
                "spec.rules",
                "a TCPRoute needs at least one rule (minItems 1)"
            )]
        );
        assert_eq!(
            tls("{parentRefs: [{name: gw}], rules: [{}]}"),
            vec![pair(
                "spec.rules[0].backendRefs",
                "a rule needs at least one backendRef (minItems 1)"
            )]
        );
        let many = (0..17)
            .map(|i| format!("{{name: b{i}, port: 80}}"))
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            tcp(&format!("{{rules: [{{backendRefs: [{many}]}}]}}")),
            vec![pair(
                "spec.rules[0].backendRefs",
                "17 backendRefs exceed the limit of 16 (maxItems)"
            )]
        );
    }

    /// The shared checks apply at the connection routes' own paths: hostnames, a backend's
    /// port and weight.
    #[test]
    fn shared_checks_name_their_field() {
        let errors =
            tls("{hostnames: [Foo.example.com], rules: [{backendRefs: [{name: b, weight: -1}]}]}");
        let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"spec.hostnames[0]"), "{errors:?}");
        assert!(
            paths.contains(&"spec.rules[0].backendRefs[0].port"),
            "{errors:?}"
        );
        assert!(
            paths.contains(&"spec.rules[0].backendRefs[0].weight"),
            "{errors:?}"
        );
        assert!(
            tcp("{rules: [{backendRefs: [{name: b, port: 80}]}]}").is_empty(),
            "a minimal TCPRoute is valid"
        );
    }
}
