//! Istio `Sidecar`: validation as istio/istio pkg/config/validation/validation.go
//! `ValidateSidecar` (with `ValidateNamespaceSlashWildcardHostname` for egress hosts), and
//! lowering into the table's [`crate::sidecar::Sidecars`].

use std::collections::HashMap;
use std::fmt::Display;

use crate::config::sidecar::{EgressListener, SidecarPort, SidecarSpec};
use crate::config::{Object, Resource};
use crate::error::{Diagnostic, ResourceId};
use crate::mesh::OutboundPolicy;
use crate::predicate::host::service_fqdn;
use crate::sidecar::{Import, Listener, Scope, Sidecars, SourceHosts};
use crate::table::Inner;

use super::super::names::{is_dns1123_label, is_ip_literal, is_valid_wildcard_domain};
use super::super::report::Report;
use super::lower::expand_host;

/// Istio's protocol names (`protocol.Parse`), case-insensitive.
const PROTOCOLS: &[&str] = &[
    "http",
    "https",
    "grpc",
    "grpc-web",
    "http2",
    "http_proxy",
    "tcp",
    "tls",
    "udp",
    "mongo",
    "redis",
    "mysql",
    "thrift",
];

/// Validates the `spec` of a Sidecar, recording every problem in `report`.
pub(crate) fn validate_sidecar(spec: &SidecarSpec, report: &mut Report) {
    if let Some(selector) = &spec.workload_selector {
        for (k, v) in &selector.labels {
            let path = format_args!("spec.workloadSelector.labels[{k}]");
            if k.is_empty() {
                report.error(
                    path,
                    format!("empty key is not supported in selector: \"={v}\""),
                );
            }
            if k.contains('*') || v.contains('*') {
                report.error(
                    path,
                    format!("wildcard is not supported in selector: \"{k}={v}\""),
                );
            }
        }
        if selector.labels.is_empty() {
            report.warn(
                "empty-selector",
                "spec.workloadSelector",
                "workload selector specified without labels; the Sidecar applies to every \
                 workload in the namespace",
            );
        }
    }
    if spec.egress.is_empty()
        && spec.ingress.is_empty()
        && spec.outbound_traffic_policy.is_none()
        && spec.inbound_connection_pool.is_none()
    {
        report.error("spec", "sidecar: empty configuration provided");
        return;
    }
    for (i, ingress) in spec.ingress.iter().enumerate() {
        if ingress.is_none() {
            report.error(format!("spec.ingress[{i}]"), "ingress may not be null");
        }
    }
    let mut ports = Vec::new();
    let mut catch_all = false;
    let last = spec.egress.len().saturating_sub(1);
    for (i, egress) in spec.egress.iter().enumerate() {
        let path = format_args!("spec.egress[{i}]");
        let Some(egress) = egress else {
            report.error(path, "egress listener may not be null");
            continue;
        };
        match &egress.port {
            None if catch_all => {
                report.error(path, "egress can have only one listener with empty port");
                continue;
            }
            None if i != last => report.error(
                path,
                "the egress listener with empty port should be the last listener in the list",
            ),
            None => catch_all = true,
            Some(port) => {
                check_port(port, egress, &format_args!("{path}.port"), report);
                if let Some(n) = port.number.filter(|n| *n != 0) {
                    if ports.contains(&n) {
                        report.error(
                            format!("{path}.port.number"),
                            "ports on IP bound listeners must be unique",
                        );
                    }
                    ports.push(n);
                }
            }
        }
        check_hosts(&egress.hosts, &path, report);
    }
    if let Some(policy) = &spec.outbound_traffic_policy {
        let path = "spec.outboundTrafficPolicy.mode";
        let mode = outbound_mode(policy.mode.as_deref());
        if mode.is_none() {
            report.error(
                path,
                format!(
                    "{:?} is not an outbound traffic policy mode; use ALLOW_ANY or REGISTRY_ONLY",
                    policy.mode.as_deref().unwrap_or("")
                ),
            );
        }
        if policy.egress_proxy.is_some() && mode != Some(OutboundPolicy::AllowAny) {
            report.error(
                "spec.outboundTrafficPolicy.egressProxy",
                "egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
            );
        }
    }
}

/// `ALLOW_ANY` / `REGISTRY_ONLY`; absent is the proto's zero value, `REGISTRY_ONLY`.
fn outbound_mode(mode: Option<&str>) -> Option<OutboundPolicy> {
    match mode {
        None | Some("REGISTRY_ONLY") => Some(OutboundPolicy::RegistryOnly),
        Some("ALLOW_ANY") => Some(OutboundPolicy::AllowAny),
        Some(_) => None,
    }
}

/// `validateSidecarEgressPortBindAndCaptureMode`.
fn check_port(
    port: &SidecarPort,
    egress: &EgressListener,
    path: &dyn Display,
    report: &mut Report,
) {
    if port.target_port.is_some_and(|t| t > 0) {
        report.error(
            format!("{path}.targetPort"),
            "targetPort has no impact on Sidecars",
        );
    }
    if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty())
        && !is_dns1123_label(name)
    {
        report.error(
            format!("{path}.name"),
            format!("port name {name:?} is not a valid DNS-1123 label"),
        );
    }
    let protocol = port.protocol.as_deref().unwrap_or("");
    if !PROTOCOLS.iter().any(|p| p.eq_ignore_ascii_case(protocol)) {
        report.error(
            format!("{path}.protocol"),
            format!("unrecognized protocol {protocol:?}"),
        );
    }
    let bind = egress.bind.as_deref().unwrap_or("");
    match port.number.unwrap_or(0) {
        0 => {
            if !bind.starts_with("unix://") {
                report.error(
                    format!("{path}.number"),
                    "ports with 0 value must have a unix domain socket bind address",
                );
            }
            if !matches!(
                egress.capture_mode.as_deref(),
                None | Some("DEFAULT") | Some("NONE")
            ) {
                report.error(
                    format!("{path}").replace(".port", ".captureMode"),
                    "captureMode must be DEFAULT/NONE for unix domain socket listeners",
                );
            }
        }
        n if !(1..=65535).contains(&n) => report.error(
            format!("{path}.number"),
            format!("port number {n} must be in the range 1..65535"),
        ),
        _ => {
            if !bind.is_empty() && !is_ip_literal(bind) {
                report.error(
                    format!("{path}").replace(".port", ".bind"),
                    format!("{bind:?} is not a valid IP address"),
                );
            }
        }
    }
}

/// Egress hosts: at least one, each `namespace/dnsName` (`ValidateNamespaceSlashWildcardHostname`
/// for sidecars), duplicates and `*/*` beside others as warnings.
fn check_hosts(hosts: &[String], path: &dyn Display, report: &mut Report) {
    if hosts.is_empty() {
        report.error(
            format!("{path}.hosts"),
            "egress listener must contain at least one host",
        );
        return;
    }
    let mut seen: HashMap<&str, Vec<&str>> = HashMap::new();
    for (j, host) in hosts.iter().enumerate() {
        let hp = format!("{path}.hosts[{j}]");
        let Some((ns, name)) = host.split_once('/') else {
            report.error(
                &hp,
                format!("host {host:?} must be of form namespace/dnsName"),
            );
            continue;
        };
        if ns.is_empty() || name.is_empty() {
            report.error(
                &hp,
                "config namespace and dnsName in host entry cannot be empty",
            );
            continue;
        }
        if !matches!(ns, "*" | "." | "~") && !is_dns1123_label(ns) {
            report.error(&hp, format!("invalid namespace value {ns:?} in sidecar"));
        }
        if name != "*" && !name.contains('.') {
            report.error(&hp, "short names (non FQDN) are not allowed");
        }
        if name != "*"
            && let Err(e) = is_valid_wildcard_domain(name)
        {
            report.error(&hp, e);
        }
        let names = seen.entry(ns).or_default();
        if (name != "*" && (names.contains(&name) || names.contains(&"*")))
            || (name == "*" && !names.is_empty())
        {
            report.warn(
                "duplicate-egress-host",
                &hp,
                format!("duplicated egress host: {host}"),
            );
        }
        names.push(name);
    }
    if seen.get("*").is_some_and(|n| n.contains(&"*")) && seen.len() != 1 {
        report.warn(
            "egress-host-all",
            format!("{path}.hosts"),
            "`*/*` host select all resources, no other hosts can be added",
        );
    }
}

/// The valid Sidecars in selection order, and the hosts of every rule source already in
/// `inner` (VirtualServices: their hosts expanded; Gateway API routes: their Service parents).
pub(crate) fn lower_sidecars(
    valid: &[&Resource],
    ns_default: &str,
    inner: &mut Inner,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let root_namespace = inner.mesh.root_namespace.clone();
    let sidecars = super::in_creation_order(
        valid,
        |r| match r {
            Resource::Sidecar(s) => Some(&**s),
            _ => None,
        },
        ns_default,
    );
    if sidecars.is_empty() {
        return;
    }
    check_selection(&sidecars, valid, ns_default, diagnostics);
    // Selector ones first within a namespace, each group oldest first.
    let (mut scopes, defaults): (Vec<&Object<SidecarSpec>>, Vec<_>) = sidecars
        .iter()
        .partition(|s| s.spec.workload_selector.is_some());
    scopes.extend(defaults);
    let mut root_default = None;
    let lowered: Vec<Scope> = scopes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ns = s.namespace(ns_default);
            if *ns == *root_namespace
                && s.spec.workload_selector.is_none()
                && root_default.is_none()
            {
                root_default = Some(i);
            }
            lower_one(s, ns)
        })
        .collect();
    let source_hosts = source_hosts(valid, ns_default, &inner.cluster_domain, inner);
    inner.sidecars = Sidecars::new(lowered, root_default, source_hosts);
}

fn lower_one(s: &Object<SidecarSpec>, ns: &str) -> Scope {
    let selector = s.spec.workload_selector.as_ref().map(|sel| {
        sel.labels
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect()
    });
    let mut listeners: Vec<Listener> = s
        .spec
        .egress
        .iter()
        .flatten()
        .map(|e| {
            let port = e
                .port
                .as_ref()
                .and_then(|p| p.number)
                .and_then(|n| u16::try_from(n).ok());
            Listener::new(
                port,
                e.hosts.iter().filter_map(|h| Import::parse(h)).collect(),
            )
        })
        .collect();
    // No egress: the default listener, which imports everything (`*/*`).
    if s.spec.egress.is_empty() {
        listeners.push(Listener::new(
            None,
            Import::parse("*/*").into_iter().collect(),
        ));
    }
    let outbound = s
        .spec
        .outbound_traffic_policy
        .as_ref()
        .and_then(|p| outbound_mode(p.mode.as_deref()));
    Scope::new(ns, &s.metadata.name, selector, listeners, outbound)
}

/// istioctl's Sidecar analyzers (pkg/config/analysis/analyzers/sidecar): more than one Sidecar
/// without a selector in a namespace (IST0110: only the oldest applies), and, with Pods given,
/// several Sidecars whose selectors select the same Pod (IST0111: only the oldest applies).
fn check_selection(
    sidecars: &[&Object<SidecarSpec>],
    valid: &[&Resource],
    ns_default: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let id = |s: &Object<SidecarSpec>| {
        ResourceId::new("Sidecar", s.namespace(ns_default), &s.metadata.name)
    };
    let mut defaults: HashMap<&str, &Object<SidecarSpec>> = HashMap::new();
    for s in sidecars
        .iter()
        .filter(|s| s.spec.workload_selector.is_none())
    {
        let ns = s.namespace(ns_default);
        match defaults.get(ns) {
            None => {
                defaults.insert(ns, s);
            }
            Some(first) => diagnostics.push(Diagnostic::warning(
                &id(s),
                "multiple-sidecars-without-selector",
                "spec",
                format!(
                    "namespace {ns} has more than one Sidecar without a workloadSelector; {} \
                     (the oldest) applies and this one does not (IST0110)",
                    first.metadata.name
                ),
            )),
        }
    }
    for r in valid {
        let Resource::Pod(pod) = r else { continue };
        let ns = pod.namespace(ns_default);
        let mut selecting = sidecars.iter().filter(|s| {
            s.namespace(ns_default) == ns
                && s.spec.workload_selector.as_ref().is_some_and(|sel| {
                    sel.labels
                        .iter()
                        .all(|(k, v)| pod.metadata.labels.get(k) == Some(v))
                })
        });
        let Some(first) = selecting.next() else {
            continue;
        };
        for s in selecting {
            diagnostics.push(Diagnostic::warning(
                &id(s),
                "conflicting-sidecar-selectors",
                "spec.workloadSelector",
                format!(
                    "Pod {ns}/{} is selected by this Sidecar and by {}; the oldest, {}, applies \
                     to it (IST0111)",
                    pod.metadata.name, first.metadata.name, first.metadata.name
                ),
            ));
        }
    }
}

/// Every source's hosts, by source id.
fn source_hosts(
    valid: &[&Resource],
    ns_default: &str,
    domain: &str,
    inner: &Inner,
) -> Vec<SourceHosts> {
    let ids: HashMap<(&str, &str, &str), usize> = inner
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| ((&*s.kind, &*s.namespace, &*s.name), i))
        .collect();
    let mut out: Vec<SourceHosts> = inner
        .sources
        .iter()
        .map(|s| SourceHosts {
            namespace: s.namespace.clone(),
            ..SourceHosts::default()
        })
        .collect();
    for r in valid {
        let (kind, ns, name, hosts, gw): (_, _, _, Vec<Box<str>>, _) = match r {
            Resource::VirtualService(o) => {
                let ns = o.namespace(ns_default);
                let hosts = o
                    .spec
                    .hosts
                    .iter()
                    .map(|h| expand_host(h, ns, domain).into())
                    .collect();
                ("VirtualService", ns, &o.metadata.name, hosts, false)
            }
            Resource::HttpRoute(o) => {
                let ns = o.namespace(ns_default);
                let hosts = service_parents(&o.spec.parent_refs, ns, domain);
                ("HTTPRoute", ns, &o.metadata.name, hosts, true)
            }
            Resource::GrpcRoute(o) => {
                let ns = o.namespace(ns_default);
                let hosts = service_parents(&o.spec.parent_refs, ns, domain);
                ("GRPCRoute", ns, &o.metadata.name, hosts, true)
            }
            Resource::TlsRoute(o) => {
                let ns = o.namespace(ns_default);
                let hosts = service_parents(&o.spec.parent_refs, ns, domain);
                ("TLSRoute", ns, &o.metadata.name, hosts, true)
            }
            Resource::TcpRoute(o) => {
                let ns = o.namespace(ns_default);
                let hosts = service_parents(&o.spec.parent_refs, ns, domain);
                ("TCPRoute", ns, &o.metadata.name, hosts, true)
            }
            _ => continue,
        };
        if let Some(&i) = ids.get(&(kind, ns, name.as_str())) {
            out[i].hosts = hosts.into();
            out[i].gateway_semantics = gw;
        }
    }
    out
}

/// The Service parents of a Gateway API route (GAMMA), as full names.
fn service_parents(
    parents: &[crate::config::gateway_api::ParentRef],
    ns: &str,
    domain: &str,
) -> Vec<Box<str>> {
    parents
        .iter()
        .filter(|p| p.kind.as_deref() == Some("Service"))
        .map(|p| service_fqdn(&p.name, p.namespace.as_deref().unwrap_or(ns), domain).into())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::report::validate_yaml;

    fn errors(yaml: &str) -> Vec<(String, String)> {
        validate_yaml(yaml, validate_sidecar).errors
    }

    /// istio/istio pkg/config/validation/validation_test.go `TestValidateSidecar`, the cases
    /// routing depends on.
    #[test]
    fn istio_validation_cases() {
        assert_eq!(errors("{egress: [{hosts: ['*/*']}]}"), vec![]);
        assert_eq!(
            errors("{egress: [{hosts: ['./*', 'bookinfo/*.example.com', '~/*']}]}"),
            vec![]
        );
        assert_eq!(errors("{}")[0].1, "sidecar: empty configuration provided");
        assert_eq!(
            errors("{egress: [{hosts: []}]}"),
            vec![(
                "spec.egress[0].hosts".into(),
                "egress listener must contain at least one host".into()
            )]
        );
        assert_eq!(
            errors("{egress: [{hosts: [foo.bar.com]}]}")[0].0,
            "spec.egress[0].hosts[0]"
        );
        assert_eq!(
            errors("{egress: [{hosts: ['ns1/foo']}]}")[0].1,
            "short names (non FQDN) are not allowed"
        );
        assert_eq!(
            errors(
                "{egress: [{hosts: ['*/*']}, {port: {number: 8080, protocol: http, name: h}, hosts: ['*/*']}]}"
            )[0],
            (
                "spec.egress[0]".into(),
                "the egress listener with empty port should be the last listener in the list"
                    .into()
            )
        );
        assert_eq!(
            errors(
                "{egress: [{port: {number: 80, protocol: HTTP, name: a}, hosts: ['*/*']}, {port: {number: 80, protocol: HTTP, name: b}, hosts: ['*/*']}]}"
            )[0],
            (
                "spec.egress[1].port.number".into(),
                "ports on IP bound listeners must be unique".into()
            )
        );
        assert_eq!(
            errors("{egress: [{port: {number: 0, protocol: HTTP, name: u}, bind: '1.1.1.1', hosts: ['*/*']}]}")[0].1,
            "ports with 0 value must have a unix domain socket bind address"
        );
        assert_eq!(
            errors("{egress: [{port: {number: 80, protocol: bogus, name: a}, hosts: ['*/*']}]}")[0]
                .0,
            "spec.egress[0].port.protocol"
        );
        assert_eq!(
            errors("{outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: foo.bar, port: {number: 80}}}}")[0].0,
            "spec.outboundTrafficPolicy.egressProxy"
        );
        assert_eq!(errors("{outboundTrafficPolicy: {mode: ALLOW_ANY}}"), vec![]);
        assert_eq!(
            errors("{workloadSelector: {labels: {app: 'a*'}}, egress: [{hosts: ['*/*']}]}")[0].0,
            "spec.workloadSelector.labels[app]"
        );
        let report = validate_yaml(
            "{egress: [{hosts: ['*/*', 'ns/a.b.com']}]}",
            validate_sidecar,
        );
        assert!(report.errors.is_empty());
        assert_eq!(report.warnings[0].0, "egress-host-all");
    }
}
