//! A valid VirtualService's `tls` and `tcp` rules, lowered into connection rules
//! ([`crate::l4`]) and placed in the contexts its `gateways` name.

use crate::action::{Action, Forward, WeightedDestination};
use crate::config::virtual_service::{RouteDestination, VirtualServiceSpec};
use crate::connection::Protocol;
use crate::l4::{Cidr, L4Entry, L4Match, L4Rule, L4Service, L4Table};
use crate::split::Split;
use crate::table::{Rule, Visibility};
use std::fmt::Display;

use super::lower::{
    ContextKey, DefinedSubsets, check_subset, expand_host, lower_destination, resolve_gateway,
};
use crate::compile::report::Report;

/// One VirtualService's connection rules, numbered from 0, each entry with the contexts its
/// match is limited to (`None`: the service's own).
#[derive(Clone)]
pub(crate) struct LoweredL4 {
    rules: Vec<L4Rule>,
    entries: Vec<(L4Entry, Option<Vec<ContextKey>>)>,
}

impl LoweredL4 {
    /// The rules renumbered as the resource of index `source` of the table.
    pub(crate) fn renumber(&mut self, source: u32) {
        for r in &mut self.rules {
            r.rule.source = source;
        }
    }
}

/// Lowers the `tls` and `tcp` rules of `spec` (a valid VirtualService of namespace `ns`,
/// source `source` of the table); undefined subsets are warned about in `report`.
pub(crate) fn lower_l4(
    spec: &VirtualServiceSpec,
    ns: &str,
    domain: &str,
    source: u32,
    subsets: &DefinedSubsets,
    report: &mut Report,
) -> LoweredL4 {
    let mut out = LoweredL4 {
        rules: Vec::new(),
        entries: Vec::new(),
    };
    let rule_kinds = spec
        .tls
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let r = r.as_ref()?;
            let matches: Vec<_> = r
                .matches
                .iter()
                .map(|m| {
                    m.as_ref().map(|m| {
                        let mut l4 = common(
                            &m.destination_subnets,
                            m.port,
                            &m.source_labels,
                            m.source_namespace.as_deref(),
                        );
                        l4.sni_hosts = m
                            .sni_hosts
                            .iter()
                            .map(|h| h.to_ascii_lowercase().into())
                            .collect();
                        (l4, &m.gateways)
                    })
                })
                .collect();
            Some((Protocol::Tls, i, matches, &r.route))
        })
        .chain(spec.tcp.iter().enumerate().filter_map(|(i, r)| {
            let r = r.as_ref()?;
            let matches: Vec<_> = r
                .matches
                .iter()
                .map(|m| {
                    m.as_ref().map(|m| {
                        let l4 = common(
                            &m.destination_subnets,
                            m.port,
                            &m.source_labels,
                            m.source_namespace.as_deref(),
                        );
                        (l4, &m.gateways)
                    })
                })
                .collect();
            Some((Protocol::Tcp, i, matches, &r.route))
        }));
    for (protocol, i, matches, route) in rule_kinds {
        let path = format!("spec.{}[{i}]", protocol.label());
        let local = out.rules.len() as u32;
        let mut kept = Vec::new();
        for (j, m) in matches.into_iter().enumerate() {
            let Some((mut m, gateways)) = m else { continue };
            m.path = format!("{path}.match[{j}]").into();
            let ctxs = (!gateways.is_empty())
                .then(|| gateways.iter().map(|g| resolve_gateway(g, ns)).collect());
            out.entries.push((
                L4Entry {
                    rule: local,
                    block: Some(kept.len() as u16),
                },
                ctxs,
            ));
            kept.push(m);
        }
        if kept.is_empty() {
            out.entries.push((
                L4Entry {
                    rule: local,
                    block: None,
                },
                None,
            ));
        }
        let destinations = lower_l4_route(route, &path, ns, domain, subsets, report);
        out.rules.push(L4Rule {
            protocol,
            rule: forwarding_rule(source, i as u32, "", destinations, 503),
            matches: kept.into(),
            path: path.into(),
        });
    }
    out
}

/// A connection rule's compiled [`Rule`]: `destinations` split by weight; no HTTP actions.
pub(crate) fn forwarding_rule(
    source: u32,
    index: u32,
    name: &str,
    destinations: Vec<WeightedDestination>,
    unavailable_status: u16,
) -> Rule {
    let weights: Vec<u32> = destinations.iter().map(|d| d.weight).collect();
    Rule {
        source,
        index,
        plain: false,
        name: name.into(),
        blocks: Box::default(),
        action: Action::Forward(Forward {
            split: Split::new(&weights),
            destinations: destinations.into(),
            rewrite: None,
            timeout: None,
            backend_timeout: None,
            retries: None,
            fault: None,
            mirrors: Box::default(),
            cors: None,
            unavailable_status,
            sticky: None,
            session: None,
        }),
        headers: crate::action::HeaderOps::default(),
    }
}

/// The conditions tls and tcp matches share (validation checked each value).
fn common(
    subnets: &[String],
    port: Option<i64>,
    labels: &std::collections::BTreeMap<String, String>,
    namespace: Option<&str>,
) -> L4Match {
    L4Match {
        sni_hosts: Box::default(),
        destination_subnets: subnets.iter().filter_map(|s| Cidr::parse(s)).collect(),
        port: port.filter(|&p| p != 0).and_then(|p| u16::try_from(p).ok()),
        source_labels: labels
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect(),
        source_namespace: namespace.filter(|n| !n.is_empty()).map(Into::into),
        path: Box::default(),
    }
}

/// The weighted destinations of a tls or tcp rule's `route`, a lone one at weight 100 as for
/// http rules.
fn lower_l4_route(
    route: &[Option<RouteDestination>],
    path: &dyn Display,
    ns: &str,
    domain: &str,
    subsets: &DefinedSubsets,
    report: &mut Report,
) -> Vec<WeightedDestination> {
    let mut destinations = Vec::new();
    for (j, d) in route.iter().enumerate() {
        let Some(d) = d else { continue };
        let Some(dest) = &d.destination else { continue };
        let mut destination = lower_destination(dest, None, ns, domain);
        if !check_subset(
            &destination,
            &format_args!("{path}.route[{j}].destination"),
            subsets,
            report,
        ) {
            destination.unavailable = Some(crate::action::Unavailable::UndefinedSubset);
        }
        destinations.push(WeightedDestination {
            destination,
            weight: d.weight.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        });
    }
    if let [only] = destinations.as_mut_slice() {
        only.weight = 100;
    }
    destinations
}

/// Places one VirtualService's lowered connection rules in `table`: in each context of its
/// `gateways` (the mesh when empty) it sees, with the entries whose match names that context.
#[allow(clippy::too_many_arguments)]
pub(crate) fn place_l4(
    lowered: LoweredL4,
    spec: &VirtualServiceSpec,
    ns: &str,
    domain: &str,
    label: &str,
    visibility: &Visibility,
    table: &mut L4Table,
) {
    if lowered.rules.is_empty() {
        return;
    }
    let base = table.rules.len() as u32;
    let contexts: Vec<ContextKey> = if spec.gateways.is_empty() {
        vec![None]
    } else {
        spec.gateways
            .iter()
            .map(|g| resolve_gateway(g, ns))
            .collect()
    };
    let hosts: Box<[Box<str>]> = spec
        .hosts
        .iter()
        .map(|h| expand_host(h, ns, domain).into())
        .collect();
    for key in &contexts {
        if let Some((gns, _)) = key
            && !visibility.admits(gns)
        {
            continue;
        }
        let entries: Box<[L4Entry]> = lowered
            .entries
            .iter()
            .filter(|(_, ctxs)| ctxs.as_ref().is_none_or(|c| c.contains(key)))
            .map(|(e, _)| L4Entry {
                rule: e.rule + base,
                block: e.block,
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        table.context_mut(key).services.push(L4Service {
            name: label.into(),
            hosts: hosts.clone(),
            visibility: if key.is_none() {
                visibility.clone()
            } else {
                Visibility::Public
            },
            ports: Box::default(),
            entries,
            terminates_tls: false,
        });
    }
    table.rules.extend(lowered.rules);
}

/// Records every valid Istio `Gateway`'s servers in its connection context
/// ([`crate::l4::L4Context::servers`]), as istiod builds its listeners (istio/istio
/// pilot/pkg/networking/core/gateway.go: `IsHTTPServer` servers carry HTTP;
/// `createGatewayTCPFilterChainOpts`: a server without `tls` is opaque TCP, a passthrough one
/// routes by SNI with `tls` rules, another terminates TLS and routes with `tcp` rules). A `tls`
/// without `mode` is `PASSTHROUGH`, the proto's first value.
pub(crate) fn gateway_servers(
    valid: &[&crate::config::Resource],
    ns_default: &str,
    table: &mut L4Table,
) {
    use super::gateway::Protocol as ServerProtocol;
    use crate::l4::{GatewayServer, ServerKind};
    for r in valid {
        let crate::config::Resource::Gateway(g) = r else {
            continue;
        };
        let ns = g.namespace(ns_default);
        let mut servers = Vec::new();
        for (i, server) in g.spec.servers.iter().enumerate() {
            let Some(server) = server else { continue };
            let Some(port) = server.port.as_ref() else {
                continue;
            };
            let Some(number) = port.number.and_then(|n| u16::try_from(n).ok()) else {
                continue;
            };
            let written = port.protocol.as_deref().unwrap_or("");
            let protocol = ServerProtocol::parse(written);
            let mode = server.tls.as_ref().map(|t| {
                t.mode
                    .as_deref()
                    .unwrap_or("PASSTHROUGH")
                    .to_ascii_uppercase()
            });
            let passthrough = matches!(mode.as_deref(), Some("PASSTHROUGH" | "AUTO_PASSTHROUGH"));
            let kind = if protocol.is_http() || (protocol == ServerProtocol::Https && !passthrough)
            {
                ServerKind::Http
            } else if mode.is_none() {
                ServerKind::Opaque
            } else if passthrough {
                ServerKind::Passthrough
            } else {
                ServerKind::Terminate
            };
            let hosts = server
                .hosts
                .iter()
                .map(|h| {
                    let host = h.split_once('/').map_or(h.as_str(), |(_, host)| host);
                    host.to_ascii_lowercase().into()
                })
                .collect();
            let mode = mode.map_or(String::new(), |m| format!(", tls mode {m}"));
            servers.push(GatewayServer {
                port: number,
                hosts,
                kind,
                label: format!(
                    "Gateway {ns}/{} spec.servers[{i}] (port {number} {written}{mode})",
                    g.metadata.name
                )
                .into(),
            });
        }
        let key = Some((ns.to_string(), g.metadata.name.clone()));
        table.context_mut(&key).servers = Some(servers.into());
    }
}
