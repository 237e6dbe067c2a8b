//! The connections that probe two tables' connection rules (VirtualService `tls` and `tcp`
//! rules, Gateway API `TLSRoute` and `TCPRoute`), and how a diff writes one.
//!
//! For every rule entry of both tables, in every context it is placed in (the mesh, or each
//! gateway), and for each of its matches (or the rule, when it has none): a connection inside
//! every condition (a TLS connection for each SNI name, a wildcard `*.example.com` probed as
//! `probe.example.com`; at the match's port, else at each port the listener, the gateway's
//! servers, the context's rules or the rule's destinations name, and 443 for TLS; to an
//! address inside each destination subnet, its network address + 1; from the match's source
//! namespace and labels, else from the resource's own namespace in the mesh), then the
//! boundary connections beside it: the SNI with its first label changed (and a wildcard's bare
//! suffix), another port, an address just outside each subnet, and the source without its
//! namespace and labels.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use serde_json::{Value, json};

use crate::action::Action;
use crate::connection::{OwnedConnection, Protocol};
use crate::l4::{Cidr, L4Context, L4Match, L4Rule, L4Service, L4Table, ServerKind, host_matches};
use crate::table::{Table, Visibility};

/// The port a TCP connection is probed at when nothing in the configuration names one (a rule
/// without a port condition takes every port).
const DEFAULT_TCP_PORT: u16 = 9000;

/// Most values of one dimension (ports, names, hosts) probed per match, so that a large
/// configuration gives a bounded number of probes.
const MAX_PER_DIM: usize = 8;

/// The connections that probe `tables`: per placed rule and match, one inside every condition
/// and the boundary ones beside it (see the module docs), each once.
pub(super) fn probes(tables: [&Table; 2]) -> Vec<OwnedConnection> {
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for t in tables {
        let l4 = &t.inner.l4;
        for (ctx, service, rule, m) in l4.placements() {
            for c in rule_probes(t, l4, ctx, service, rule, m) {
                if seen.insert(format!("{c:?}")) {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The probes of one rule entry placed in `ctx` for `service`.
fn rule_probes(
    t: &Table,
    l4: &L4Table,
    ctx: &L4Context,
    service: &L4Service,
    rule: &L4Rule,
    m: Option<&L4Match>,
) -> Vec<OwnedConnection> {
    let mesh = ctx.gateway.is_none();
    // A TCPRoute on a listener that terminates TLS takes TLS connections by SNI.
    let mut protocols = vec![rule.protocol];
    if service.terminates_tls && rule.protocol == Protocol::Tcp {
        protocols.push(Protocol::Tls);
    }
    let subnets: &[Cidr] = m.map_or(&[], |m| &m.destination_subnets);
    let ips: Vec<Option<IpAddr>> = if subnets.is_empty() {
        vec![None]
    } else {
        subnets
            .iter()
            .take(MAX_PER_DIM)
            .map(|c| Some(inside(c)))
            .collect()
    };
    let namespace = m.and_then(|m| m.source_namespace.as_deref()).or_else(|| {
        let own = &*t.source_of(&rule.rule).namespace;
        mesh.then(|| match &service.visibility {
            Visibility::Only(list) if !list.iter().any(|n| **n == *own) => {
                list.first().map_or(own, |n| &**n)
            }
            _ => own,
        })
    });
    let labels: &[(Box<str>, Box<str>)] = m.map_or(&[], |m| &m.source_labels);
    let mut out = Vec::new();
    for &protocol in &protocols {
        let names: Vec<Option<String>> = match protocol {
            Protocol::Tls => {
                let patterns: &[Box<str>] = match m {
                    Some(m) if !m.sni_hosts.is_empty() => &m.sni_hosts,
                    _ => &service.hosts,
                };
                let names: Vec<Option<String>> = patterns
                    .iter()
                    .take(MAX_PER_DIM)
                    .map(|p| Some(probe_name(p)))
                    .collect();
                if names.is_empty() { vec![None] } else { names }
            }
            _ => vec![None],
        };
        let ports = ports(l4, ctx, service, rule, m, protocol);
        for sni in &names {
            // In the mesh the connection is addressed to a service the rule's resource names:
            // TLS by its SNI, else (and TCP always) by one of the resource's hosts.
            let hosts: Vec<Option<String>> = if !mesh {
                vec![None]
            } else {
                let by_sni = sni
                    .as_deref()
                    .is_some_and(|n| service.hosts.iter().any(|h| host_matches(h, n)));
                let mut hosts: Vec<Option<String>> = if by_sni { vec![None] } else { vec![] };
                if !by_sni || protocol == Protocol::Tcp {
                    hosts.extend(
                        service
                            .hosts
                            .iter()
                            .take(MAX_PER_DIM)
                            .map(|h| Some(probe_name(h))),
                    );
                }
                hosts
            };
            for &port in &ports {
                for &ip in &ips {
                    for host in &hosts {
                        let mut c = match (protocol, sni) {
                            (Protocol::Tls, Some(n)) => OwnedConnection::tls(n, port),
                            (Protocol::Tls, None) => OwnedConnection::tls("", port),
                            _ => OwnedConnection::tcp(port),
                        };
                        if c.sni.as_deref() == Some("") {
                            c.sni = None;
                        }
                        c.host.clone_from(host);
                        c.destination_ip = ip;
                        c.source_namespace = namespace.map(str::to_string);
                        for (k, v) in labels {
                            c = c.source_label(k, v);
                        }
                        if let Some((ns, name)) = &ctx.gateway {
                            c = c.at_gateway(ns, name);
                        }
                        out.push(c.clone());
                        boundary(&c, subnets, &ports, &mut out);
                    }
                }
            }
        }
    }
    out
}

/// The connections just beside `c`: its SNI with the first label changed (and, for a probed
/// wildcard, the wildcard's bare suffix), another port, an address just outside each subnet,
/// and the source without namespace and labels.
fn boundary(c: &OwnedConnection, subnets: &[Cidr], ports: &[u16], out: &mut Vec<OwnedConnection>) {
    if let Some(sni) = &c.sni {
        let mut v = c.clone();
        v.sni = Some(other_first_label(sni));
        out.push(v);
        if let Some(suffix) = sni.strip_prefix("probe.") {
            let mut v = c.clone();
            v.sni = Some(suffix.to_string());
            out.push(v);
        }
    }
    let mut v = c.clone();
    v.port = other_port(c.port, ports);
    out.push(v);
    for outside in subnets.iter().take(MAX_PER_DIM).filter_map(outside) {
        let mut v = c.clone();
        v.destination_ip = Some(outside);
        out.push(v);
    }
    if c.source_namespace.is_some() || !c.source_labels.is_empty() {
        let mut v = c.clone();
        v.source_namespace = None;
        v.source_labels.clear();
        out.push(v);
    }
}

/// The ports to probe an entry at: its match's port; else the listener's; else 443 (TLS), the
/// gateway's servers that carry connections, the ports the context's rules match on and the
/// rule's destination ports; else [`DEFAULT_TCP_PORT`].
fn ports(
    l4: &L4Table,
    ctx: &L4Context,
    service: &L4Service,
    rule: &L4Rule,
    m: Option<&L4Match>,
    protocol: Protocol,
) -> Vec<u16> {
    if let Some(p) = m.and_then(|m| m.port) {
        return vec![p];
    }
    if !service.ports.is_empty() {
        return service.ports.iter().copied().take(MAX_PER_DIM).collect();
    }
    let mut set = BTreeSet::new();
    if protocol == Protocol::Tls {
        set.insert(443);
    }
    for s in ctx.servers.iter().flatten() {
        if s.kind != ServerKind::Http {
            set.insert(s.port);
        }
    }
    for s in &ctx.services {
        for e in &*s.entries {
            if let Some(r) = l4.rules.get(e.rule as usize) {
                set.extend(r.matches.iter().filter_map(|m| m.port));
            }
        }
    }
    if let Action::Forward(f) = &rule.rule.action {
        set.extend(f.destinations.iter().filter_map(|w| w.destination.port));
    }
    if set.is_empty() {
        set.insert(DEFAULT_TCP_PORT);
    }
    set.into_iter().take(MAX_PER_DIM).collect()
}

/// A name a host or SNI pattern names: itself, `probe.example.com` for `*.example.com`,
/// `probe.example` for `*`.
fn probe_name(pattern: &str) -> String {
    match pattern.strip_prefix('*') {
        Some("") => "probe.example".to_string(),
        Some(suffix) if suffix.starts_with('.') => format!("probe{suffix}"),
        Some(suffix) => format!("probe.{suffix}"),
        None => pattern.to_string(),
    }
}

/// `name` with its first label changed: `www.example.com` → `other.example.com`.
fn other_first_label(name: &str) -> String {
    let (first, rest) = name.split_once('.').unwrap_or((name, ""));
    let other = if first == "other" { "another" } else { "other" };
    if rest.is_empty() {
        other.to_string()
    } else {
        format!("{other}.{rest}")
    }
}

/// A port near `port` that none of `ports` is.
fn other_port(port: u16, ports: &[u16]) -> u16 {
    (1..=u16::MAX)
        .map(|d| port.wrapping_add(d))
        .find(|p| *p != 0 && !ports.contains(p))
        .unwrap_or(port)
}

/// (network address, last address) of `c`, as integers of its family's width.
fn bounds(c: &Cidr) -> (u128, u128, bool) {
    let (bits, width, v4) = match c.addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32, true),
        IpAddr::V6(a) => (u128::from(a), 128u32, false),
    };
    let host_bits = width - u32::from(c.prefix);
    let host_mask = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let network = bits & !host_mask;
    (network, network | host_mask, v4)
}

fn to_ip(bits: u128, v4: bool) -> Option<IpAddr> {
    if v4 {
        u32::try_from(bits)
            .ok()
            .map(|b| IpAddr::from(b.to_be_bytes()))
    } else {
        Some(IpAddr::from(bits.to_be_bytes()))
    }
}

/// An address inside `c`: its network address + 1 (the address itself for a single-address
/// block).
pub(super) fn inside(c: &Cidr) -> IpAddr {
    let (network, last, v4) = bounds(c);
    let bits = if last > network { network + 1 } else { network };
    to_ip(bits, v4).unwrap_or(c.addr)
}

/// An address just outside `c`: the one after its last address, else the one before its
/// network address; `None` for a block holding every address.
pub(super) fn outside(c: &Cidr) -> Option<IpAddr> {
    let (network, last, v4) = bounds(c);
    let max = if v4 { u128::from(u32::MAX) } else { u128::MAX };
    let bits = if last < max {
        last + 1
    } else {
        network.checked_sub(1)?
    };
    to_ip(bits, v4)
}

/// A connection's fields in the decide contract's connection form, in the order a person
/// reads them: `protocol`, `sni`, `host`, `destination_ip`, `port`, `source_namespace`,
/// `source_labels`, `source_ip`, `gateway` (fields the connection does not carry left out).
fn fields(c: &OwnedConnection) -> Vec<(&'static str, Value)> {
    let mut out = vec![("protocol", json!(c.protocol.label()))];
    if let Some(sni) = &c.sni {
        out.push(("sni", json!(sni)));
    }
    if let Some(host) = &c.host {
        out.push(("host", json!(host)));
    }
    if let Some(ip) = c.destination_ip {
        out.push(("destination_ip", json!(ip.to_string())));
    }
    out.push(("port", json!(c.port)));
    if let Some(ns) = &c.source_namespace {
        out.push(("source_namespace", json!(ns)));
    }
    if !c.source_labels.is_empty() {
        out.push(("source_labels", json!(c.source_labels)));
    }
    if let Some(ip) = c.source_ip {
        out.push(("source_ip", json!(ip.to_string())));
    }
    if let Some((ns, name)) = &c.gateway {
        out.push(("gateway", json!(format!("{ns}/{name}"))));
    }
    out
}

/// A connection as JSON, in the connection form of the decide contract (`meshroute decide`):
/// `{"protocol": "tls", "sni", "host", "destination_ip", "port", "source_namespace",
/// "source_labels", "source_ip", "gateway"}`, fields it does not carry left out.
pub fn connection_json(c: &OwnedConnection) -> Value {
    Value::Object(
        fields(c)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// A connection on one line, as the decide tool reads it: `{"protocol": "tls", "sni":
/// "www.example.com", "port": 443}`, fields in a fixed order.
pub fn connection_line(c: &OwnedConnection) -> String {
    let pairs = fields(c).into_iter().map(|(k, v)| (k.to_string(), v));
    spaced_object(pairs)
}

/// A JSON object on one line with a space after each `:` and `,`, as a person writes it.
fn spaced_object(pairs: impl Iterator<Item = (String, Value)>) -> String {
    let parts: Vec<String> = pairs
        .map(|(k, v)| {
            let v = match v {
                Value::Object(o) => spaced_object(o.into_iter()),
                v => v.to_string(),
            };
            format!("{}: {v}", Value::String(k))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).expect("a valid block")
    }

    #[test]
    fn addresses_inside_and_outside_a_block() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        assert_eq!(inside(&cidr("10.1.0.0/16")), ip("10.1.0.1"));
        assert_eq!(outside(&cidr("10.1.0.0/16")), Some(ip("10.2.0.0")));
        assert_eq!(inside(&cidr("10.1.2.3/32")), ip("10.1.2.3"));
        assert_eq!(outside(&cidr("10.1.2.3/32")), Some(ip("10.1.2.4")));
        assert_eq!(
            outside(&cidr("255.255.255.0/24")),
            Some(ip("255.255.254.255"))
        );
        assert_eq!(outside(&cidr("0.0.0.0/0")), None);
        assert_eq!(inside(&cidr("2001:db8::/32")), ip("2001:db8::1"));
        assert_eq!(outside(&cidr("2001:db8::/32")), Some(ip("2001:db9::")));
        for c in [
            "10.1.0.0/16",
            "10.1.2.3/32",
            "192.168.7.9/20",
            "2001:db8::/32",
        ] {
            let c = cidr(c);
            assert!(c.contains(inside(&c)), "{c}");
            assert!(outside(&c).is_none_or(|o| !c.contains(o)), "{c}");
        }
    }

    #[test]
    fn names_beside_a_name() {
        assert_eq!(probe_name("*.example.com"), "probe.example.com");
        assert_eq!(probe_name("*"), "probe.example");
        assert_eq!(probe_name("www.example.com"), "www.example.com");
        assert_eq!(other_first_label("www.example.com"), "other.example.com");
        assert_eq!(
            other_first_label("other.example.com"),
            "another.example.com"
        );
        assert_eq!(other_first_label("localhost"), "other");
        assert_eq!(other_port(443, &[443, 444]), 445);
        assert_eq!(other_port(u16::MAX, &[u16::MAX]), 1);
    }

    #[test]
    fn a_connection_reads_as_the_decide_tool_takes_it() {
        let c = OwnedConnection::tls("www.example.com", 443)
            .from_namespace("shop")
            .source_label("app", "reviews")
            .at_gateway("istio-system", "ingress");
        assert_eq!(
            connection_line(&c),
            r#"{"protocol": "tls", "sni": "www.example.com", "port": 443, "source_namespace": "shop", "source_labels": {"app": "reviews"}, "gateway": "istio-system/ingress"}"#
        );
        assert_eq!(
            connection_json(&c),
            json!({"protocol": "tls", "sni": "www.example.com", "port": 443,
                   "source_namespace": "shop", "source_labels": {"app": "reviews"},
                   "gateway": "istio-system/ingress"})
        );
    }
}
