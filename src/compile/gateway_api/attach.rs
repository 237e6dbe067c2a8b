//! Attachment of a route to its parents: Gateway listeners (sectionName, port, protocol,
//! allowedRoutes, hostname intersection) or Services (GAMMA).

use std::collections::BTreeMap;
use std::fmt::Display;

use crate::config::Object;
use crate::config::gateway_api::{GatewaySpec, LabelSelector, Listener, ParentRef};

use crate::compile::report::Report;

use super::lower::{Route, World};

/// Where one route's entries go: a context, a listener port (gateways), a host, and who sees it.
pub(super) struct Attachment {
    pub(super) context: Option<(String, String)>,
    /// The listener port (gateways), or the Service port a GAMMA `parentRef.port` limits to.
    pub(super) port: Option<u16>,
    /// The listener's hostname (`*` when it has none, and for the mesh).
    pub(super) listener: String,
    pub(super) hosts: Vec<String>,
    /// GAMMA consumer route: only clients of this namespace see it.
    pub(super) consumer: Option<String>,
    /// A TCPRoute on a `TLS` listener of mode `Terminate`: the gateway ends TLS and forwards
    /// the stream.
    pub(super) tls_terminate: bool,
}

/// Attachment of a route to its parents.
pub(super) fn attach(
    route: &Route<'_>,
    ns: &str,
    world: &World<'_>,
    report: &mut Report,
) -> Vec<Attachment> {
    let mut out = Vec::new();
    // Per route hostname: whether a listener of a Gateway the route attached to takes it.
    let mut taken = vec![false; route.hostnames().len()];
    let mut attached_to: Vec<String> = Vec::new();
    for (i, p) in route.parent_refs().iter().enumerate() {
        let path = format_args!("spec.parentRefs[{i}]");
        let group = p.group.as_deref().unwrap_or("gateway.networking.k8s.io");
        let kind = p.kind.as_deref().unwrap_or("Gateway");
        let pns = p.namespace.as_deref().unwrap_or(ns);
        if kind == "Service" && (group.is_empty() || group == "core") {
            out.push(attach_to_service(p, ns, pns, &path, world, report));
            continue;
        }
        if kind != "Gateway" || group != "gateway.networking.k8s.io" {
            report.warn(
                "not-attached",
                path,
                format!("parent kind {group}/{kind} is not supported (NoMatchingParent)"),
            );
            continue;
        }
        let Some(gw) = world
            .gateways
            .iter()
            .find(|g| g.metadata.name == p.name && g.namespace(world.default_ns) == pns)
        else {
            report.warn(
                "not-attached",
                path,
                format!("Gateway {pns}/{} is not in the configuration; the route is not attached to it (NoMatchingParent)", p.name),
            );
            continue;
        };
        match attach_to_gateway(route, p, gw, ns, pns, world, &mut taken) {
            Ok(attachments) => {
                out.extend(attachments);
                attached_to.push(format!("{pns}/{}", p.name));
            }
            Err(reason) => report.warn(
                "not-attached",
                path,
                format!("not attached to Gateway {pns}/{}: {reason}", p.name),
            ),
        }
    }
    if !attached_to.is_empty() {
        warn_hostnames_not_taken(route, &taken, &attached_to, report);
    }
    out
}

/// A GAMMA attachment to the Service `p` names: its host, limited to the port `p` names (by
/// number, or by name when the Service is loaded); a consumer route when `p` is in another
/// namespace than the route.
fn attach_to_service(
    p: &ParentRef,
    ns: &str,
    pns: &str,
    path: &dyn Display,
    world: &World<'_>,
    report: &mut Report,
) -> Attachment {
    let host = format!("{}.{pns}.svc.{}", p.name.to_ascii_lowercase(), world.domain);
    let mut service_port = p.port.map(|x| x as u16);
    if let (Some(section), Some(services)) = (&p.section_name, &world.services) {
        let port = services
            .iter()
            .find(|s| s.metadata.name == p.name && s.namespace(world.default_ns) == pns)
            .and_then(|s| {
                s.spec
                    .ports
                    .iter()
                    .find(|sp| sp.name.as_deref() == Some(section))
            })
            .and_then(|sp| sp.port);
        match port {
            Some(port) => service_port = Some(port as u16),
            None => report.warn(
                "not-attached",
                path,
                format!(
                    "Service {pns}/{} has no port named {section:?} (NoMatchingParent)",
                    p.name
                ),
            ),
        }
    }
    let consumer = (pns != ns).then(|| ns.to_string());
    Attachment {
        context: None,
        port: service_port,
        listener: "*".into(),
        hosts: vec![host],
        consumer,
        tls_terminate: false,
    }
}

/// Attaches the route to each listener of `gw` that `p` selects, that admits the route and
/// whose hostname intersects the route's, marking the route hostnames each one takes; when
/// none does, the reason (with the condition the Gateway API names).
fn attach_to_gateway(
    route: &Route<'_>,
    p: &ParentRef,
    gw: &Object<GatewaySpec>,
    ns: &str,
    pns: &str,
    world: &World<'_>,
    taken: &mut [bool],
) -> Result<Vec<Attachment>, &'static str> {
    let mut out = Vec::new();
    let mut matched_listener = false;
    let mut allowed = false;
    let mut attached = false;
    for l in &gw.spec.listeners {
        if p.section_name
            .as_deref()
            .is_some_and(|s| l.name.as_deref() != Some(s))
        {
            continue;
        }
        if p.port.is_some_and(|port| l.port != Some(port)) {
            continue;
        }
        // HTTPRoute and GRPCRoute attach to HTTP and HTTPS listeners, TLSRoute to TLS
        // listeners (Passthrough or Terminate), TCPRoute to TCP listeners.
        let protocol_fits = match route {
            Route::Http(_) | Route::Grpc(_) => {
                matches!(l.protocol.as_deref(), Some("HTTP" | "HTTPS"))
            }
            Route::Tls(_) => l.protocol.as_deref() == Some("TLS"),
            // Also a TLS listener that terminates (tlsroute_types.go: "you could choose to
            // use a TCPRoute with a TLS listener"); `mode` defaults to Terminate.
            Route::Tcp(_) => l.protocol.as_deref() == Some("TCP") || terminates(l),
        };
        if !protocol_fits {
            continue;
        }
        matched_listener = true;
        if !admits(l, route.kind(), ns, pns, world) {
            continue;
        }
        allowed = true;
        let hosts = intersect(l.hostname.as_deref(), route.hostnames());
        if hosts.is_empty() {
            continue;
        }
        attached = true;
        for (k, h) in route.hostnames().iter().enumerate() {
            taken[k] |= !intersect(l.hostname.as_deref(), std::slice::from_ref(h)).is_empty();
        }
        out.push(Attachment {
            context: Some((pns.to_string(), p.name.clone())),
            port: Some(l.port.unwrap_or(0) as u16),
            listener: l.hostname.as_deref().unwrap_or("*").to_ascii_lowercase(),
            hosts,
            consumer: None,
            tls_terminate: matches!(route, Route::Tcp(_)) && terminates(l),
        });
    }
    if !matched_listener {
        Err(match route {
            Route::Tls(_) => "no TLS listener matches the sectionName and port (NoMatchingParent)",
            Route::Tcp(_) => {
                "no TCP listener, nor TLS listener that terminates, matches the sectionName and port (NoMatchingParent)"
            }
            _ => "no HTTP or HTTPS listener matches the sectionName and port (NoMatchingParent)",
        })
    } else if !allowed {
        Err(
            "the listeners do not allow routes of this kind from this namespace (NotAllowedByListeners)",
        )
    } else if !attached {
        Err("no route hostname intersects a listener hostname (NoMatchingListenerHostname)")
    } else {
        Ok(out)
    }
}

/// Warns of each route hostname no listener of the Gateways the route attached to takes.
fn warn_hostnames_not_taken(
    route: &Route<'_>,
    taken: &[bool],
    attached_to: &[String],
    report: &mut Report,
) {
    for (k, h) in route.hostnames().iter().enumerate() {
        if !taken[k] {
            report.warn(
                "hostname-no-listener",
                format!("spec.hostnames[{k}]"),
                format!(
                    "hostname {h:?} intersects no listener hostname of Gateway{} {}; the route does not serve it there (NoMatchingListenerHostname for this hostname)",
                    if attached_to.len() == 1 { "" } else { "s" },
                    attached_to.join(", ")
                ),
            );
        }
    }
}

/// Whether `l` is a `TLS` listener that terminates TLS (`tls.mode`, default `Terminate`).
fn terminates(l: &Listener) -> bool {
    l.protocol.as_deref() == Some("TLS")
        && l.tls
            .as_ref()
            .and_then(|t| t.mode.as_deref())
            .unwrap_or("Terminate")
            == "Terminate"
}

/// Whether listener `l` of a Gateway in `gw_ns` admits a route of `kind` from `route_ns`.
fn admits(l: &Listener, kind: &str, route_ns: &str, gw_ns: &str, world: &World<'_>) -> bool {
    let allowed = l.allowed_routes.as_ref();
    let kinds = allowed.map(|a| a.kinds.as_slice()).unwrap_or(&[]);
    if !kinds.is_empty()
        && !kinds.iter().any(|k| {
            k.kind.as_deref() == Some(kind)
                && k.group.as_deref().unwrap_or("gateway.networking.k8s.io")
                    == "gateway.networking.k8s.io"
        })
    {
        return false;
    }
    let from = allowed.and_then(|a| a.namespaces.as_ref());
    match from.and_then(|n| n.from.as_deref()).unwrap_or("Same") {
        "All" => true,
        "Same" => route_ns == gw_ns,
        "Selector" => {
            let labels = world.namespaces.get(route_ns);
            match (from.and_then(|n| n.selector.as_ref()), labels) {
                (Some(sel), Some(labels)) => selects(sel, labels),
                _ => false,
            }
        }
        _ => false,
    }
}

fn selects(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    sel.match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && sel.match_expressions.iter().all(|e| {
            let v = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => v.is_some_and(|v| e.values.contains(v)),
                "NotIn" => v.is_none_or(|v| !e.values.contains(v)),
                "Exists" => v.is_some(),
                "DoesNotExist" => v.is_none(),
                _ => false,
            }
        })
}

/// Whether `host` (exact or `*.` wildcard) is covered by wildcard `pattern` (`*.suffix`, or `*`
/// for every host): at least one more label.
pub(super) fn covered(host: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return host != "*";
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            host.len() > suffix.len()
                && host.ends_with(suffix)
                && !host[..host.len() - suffix.len()].is_empty()
        }
        None => false,
    }
}

/// Route hostnames intersected with a listener hostname: the narrower name of each pair that
/// overlaps; no route hostnames means the listener's (or `*`).
pub(crate) fn intersect(listener: Option<&str>, route: &[String]) -> Vec<String> {
    let l = listener.unwrap_or("*").to_ascii_lowercase();
    if route.is_empty() {
        return vec![l];
    }
    let mut out: Vec<String> = Vec::new();
    for r in route {
        let r = r.to_ascii_lowercase();
        let pick = if l == "*" || r == l || covered(&r, &l) {
            Some(r)
        } else if covered(&l, &r) {
            Some(l.clone())
        } else {
            None
        };
        if let Some(h) = pick
            && !out.contains(&h)
        {
            out.push(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_intersect_to_the_narrower_name() {
        let v = |l: Option<&str>, r: &[&str]| {
            intersect(l, &r.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(v(None, &[]), vec!["*"]);
        assert_eq!(v(Some("*.example.com"), &[]), vec!["*.example.com"]);
        assert_eq!(
            v(
                Some("*.example.com"),
                &["foo.example.com", "example.com", "a.b.example.com"]
            ),
            vec!["foo.example.com", "a.b.example.com"]
        );
        assert_eq!(
            v(Some("foo.example.com"), &["*.example.com"]),
            vec!["foo.example.com"]
        );
        assert_eq!(
            v(Some("foo.example.com"), &["bar.example.com"]),
            Vec::<String>::new()
        );
        assert_eq!(
            v(Some("*.example.com"), &["*.foo.example.com"]),
            vec!["*.foo.example.com"]
        );
        assert_eq!(v(None, &["Foo.Example.com"]), vec!["foo.example.com"]);
    }
}
