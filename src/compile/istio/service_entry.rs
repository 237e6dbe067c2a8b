//! Validation of an Istio `ServiceEntry` and `WorkloadEntry`, rule for rule as Istio's admission
//! webhook (istio/istio `pkg/config/validation/validation.go`: `ValidateServiceEntry`,
//! `ValidateWorkloadEntry` and `validateWorkloadEntry`, `validateExportTo` with service-entry
//! rules, `ValidateAlphaWorkloadSelector`), every problem at its field path.
//!
//! Left out: the webhook's warning that TCP ports need `addresses` when IP auto-allocation is
//! off (it depends on istiod's settings): `analyze` reports it as istioctl does (IST0134,
//! [`analyze_service_entries`], with the mesh config's proxy metadata), beside IST0177; and
//! `unix://` endpoint socket checks beyond the prefix.

use std::collections::HashMap;
use std::fmt::Display;

use super::gateway::Protocol;
use super::place::visibility;
use crate::compile::names::{
    LABEL_RULE, check_labels, is_dns1123_label, is_ip_literal, is_ip_or_cidr, is_valid_fqdn,
    is_valid_wildcard_domain,
};
use crate::compile::report::Report;
use crate::compile::values::{check_count, check_enum, limit};
use crate::config::service_entry::{ServiceEntrySpec, WorkloadEntry, WorkloadSelector};
use crate::config::{Object, Resource};
use crate::known::{Definition, KnownHosts};
use crate::table::Visibility;

/// `ServiceEntry.Location` values.
pub(crate) const LOCATIONS: [&str; 2] = ["MESH_EXTERNAL", "MESH_INTERNAL"];

/// `ServiceEntry.Resolution` values.
pub(crate) const RESOLUTIONS: [&str; 5] =
    ["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"];

const UNIX_PREFIX: &str = "unix://";

/// Istio's `protocol.Instance.IsTCP`: the protocols carried over a plain TCP connection.
fn is_tcp(p: Protocol) -> bool {
    matches!(
        p,
        Protocol::Tcp
            | Protocol::Https
            | Protocol::Tls
            | Protocol::Mongo
            | Protocol::Redis
            | Protocol::MySql
    )
}

/// Validates the `spec` of a ServiceEntry, recording every problem in `report` with its field
/// path (`spec.…`).
pub(crate) fn validate_service_entry(spec: &ServiceEntrySpec, report: &mut Report) {
    if let Some(selector) = &spec.workload_selector {
        workload_selector(selector, report);
        if spec.endpoints.is_some() {
            report.error(
                "spec.workloadSelector",
                "only one of workloadSelector or endpoints is allowed; remove one",
            );
        }
    }
    let resolution = check_enum(
        report,
        &"spec.resolution",
        spec.resolution.as_deref(),
        "resolution",
        &RESOLUTIONS,
    )
    .or(spec.resolution.is_none().then_some("NONE"));
    check_enum(
        report,
        &"spec.location",
        spec.location.as_deref(),
        "location",
        &LOCATIONS,
    );
    hosts(spec, resolution, report);
    addresses(spec, resolution, report);
    let names = ports(spec, report);
    match resolution {
        Some("NONE") => {
            if spec.endpoints.as_ref().is_some_and(|e| !e.is_empty()) {
                report.error(
                    "spec.endpoints",
                    "endpoints are not allowed with resolution NONE (traffic goes to the \
                     address the client asked for); use STATIC or DNS",
                );
            }
            if spec.workload_selector.is_some() {
                report.warn(
                    "ineffective-field",
                    "spec.workloadSelector",
                    "workloadSelector has no effect with resolution NONE",
                );
            }
        }
        Some("STATIC") => {
            null_endpoints(spec, report);
            for (i, e) in endpoints(spec) {
                workload_entry(
                    e,
                    Some(&names),
                    false,
                    &format_args!("spec.endpoints[{i}]"),
                    report,
                );
            }
        }
        Some(r @ ("DNS" | "DNS_ROUND_ROBIN")) => dns(spec, r, &names, report),
        Some(r @ "DYNAMIC_DNS") => dynamic_dns(spec, r, report),
        _ => {}
    }
    // With several hosts, only HTTP (by authority) and TLS (by SNI) tell them apart; NONE
    // ignores the hosts.
    if resolution != Some("NONE") && spec.hosts.len() > 1 {
        let plain = spec.ports.iter().enumerate().find_map(|(j, p)| {
            let protocol = Protocol::parse(p.as_ref()?.protocol.as_deref().unwrap_or(""));
            (!protocol.is_http() && !protocol.is_tls()).then_some(j)
        });
        if let Some(j) = plain {
            report.error(
                format!("spec.ports[{j}].protocol"),
                format!(
                    "{} hosts with a non-HTTP, non-TLS port: plain TCP cannot tell the hosts \
                     apart; use one host per entry, an HTTP or TLS protocol, or resolution NONE",
                    spec.hosts.len()
                ),
            );
        }
    }
    export_to(&spec.export_to, report);
}

fn endpoints(spec: &ServiceEntrySpec) -> impl Iterator<Item = (usize, &WorkloadEntry)> {
    spec.endpoints
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, e)| Some((i, e.as_ref()?)))
}

fn null_endpoints(spec: &ServiceEntrySpec, report: &mut Report) {
    for (i, e) in spec.endpoints.iter().flatten().enumerate() {
        if e.is_none() {
            report.error(format!("spec.endpoints[{i}]"), "endpoint cannot be null");
        }
    }
}

fn workload_selector(selector: &WorkloadSelector, report: &mut Report) {
    let path = "spec.workloadSelector.labels";
    if selector.labels.is_empty() {
        report.warn(
            "empty-selector",
            path,
            "workloadSelector has no labels; every workload in the namespace is an endpoint",
        );
    }
    for (key, value) in &selector.labels {
        let lp = format!("{path}[{key}]");
        if key.is_empty() {
            report.error(&lp, "empty key is not supported in a selector");
        }
        if key.contains('*') || value.contains('*') {
            report.error(
                &lp,
                format!("selector label {key}={value} contains '*'; wildcards are not supported"),
            );
        }
    }
}

fn hosts(spec: &ServiceEntrySpec, resolution: Option<&str>, report: &mut Report) {
    if spec.hosts.is_empty() {
        report.error("spec.hosts", "a service entry must have at least one host");
    }
    check_count(
        spec.hosts.len(),
        limit!(MAX_HOSTS),
        "hosts",
        &"spec.hosts",
        report,
    );
    for (i, host) in spec.hosts.iter().enumerate() {
        let path = format_args!("spec.hosts[{i}]");
        if host == "*" {
            report.error(
                path,
                "host \"*\" is not allowed in a service entry; name the hosts or a \
                 \"*.domain\" wildcard",
            );
            continue;
        }
        if let Err(message) = is_valid_wildcard_domain(host) {
            report.error(path, message);
        } else if resolution != Some("DYNAMIC_DNS") && host.contains('*') && !host.starts_with("*.")
        {
            report.warn(
                "partial-wildcard",
                path,
                format!("partial wildcard {host:?} is not allowed; write \"*.domain\""),
            );
        }
    }
}

fn addresses(spec: &ServiceEntrySpec, resolution: Option<&str>, report: &mut Report) {
    for (i, address) in spec.addresses.iter().enumerate() {
        let path = format_args!("spec.addresses[{i}]");
        if !is_ip_or_cidr(address) {
            report.error(
                path,
                format!("{address:?} is not an IP address or a CIDR block"),
            );
        } else if address.contains('/') && !matches!(resolution, Some("NONE" | "STATIC") | None) {
            report.error(
                path,
                format!(
                    "CIDR address {address:?} is allowed only with resolution NONE or STATIC, \
                     not {}",
                    resolution.unwrap_or_default()
                ),
            );
        }
    }
}

/// Checks `spec.ports`; returns the port names.
fn ports<'s>(spec: &'s ServiceEntrySpec, report: &mut Report) -> HashMap<&'s str, usize> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut numbers: HashMap<i64, usize> = HashMap::new();
    for (j, port) in spec.ports.iter().enumerate() {
        let path = format_args!("spec.ports[{j}]");
        let Some(port) = port else {
            report.error(path, "port cannot be null");
            continue;
        };
        let name = port.name.as_deref().unwrap_or("");
        if !is_dns1123_label(name) {
            report.error(
                format!("{path}.name"),
                format!("invalid port name {name:?}: it must be a DNS-1123 label ({LABEL_RULE})"),
            );
        }
        if let Some(first) = names.get(name) {
            report.error(
                format!("{path}.name"),
                format!("port name {name:?} is already defined by spec.ports[{first}]"),
            );
        } else {
            names.insert(name, j);
        }
        let number = port.number.unwrap_or(0);
        if !(1..=65535).contains(&number) {
            report.error(
                format!("{path}.number"),
                format!("port number {number} must be in the range 1..65535"),
            );
        } else if let Some(first) = numbers.get(&number) {
            report.error(
                format!("{path}.number"),
                format!("port {number} is already defined by spec.ports[{first}]"),
            );
        } else {
            numbers.insert(number, j);
        }
        if let Some(t) = port.target_port
            && t != 0
            && !(1..=65535).contains(&t)
        {
            report.error(
                format!("{path}.targetPort"),
                format!("port number {t} must be in the range 1..65535"),
            );
        }
        if let Some(p) = port.protocol.as_deref()
            && !p.is_empty()
            && Protocol::parse(p) == Protocol::Unsupported
        {
            report.error(
                format!("{path}.protocol"),
                format!(
                    "unsupported protocol {p:?}; use one of HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, \
                     TCP, TLS, UDP, MONGO, REDIS, MYSQL (or leave it empty to sniff)"
                ),
            );
        }
    }
    names
}

/// Validates the `spec` of a WorkloadEntry resource, as the webhook's `ValidateWorkloadEntry`:
/// the address is required unless a `network` is set (then a warning), and is an IP address, a
/// host name or a `unix://` socket; port names are DNS-1123 labels and port numbers in
/// 1..=65535 (which service ports they name is not known without a ServiceEntry, so not
/// checked); labels are valid; the weight fits in 32 bits.
pub(crate) fn validate_workload_entry(spec: &WorkloadEntry, report: &mut Report) {
    workload_entry(spec, None, true, &"spec", report);
}

/// `validateWorkloadEntry` for one inline endpoint (`service_ports`: the entry's port names)
/// or a WorkloadEntry resource (`None`): `fqdn` allows a host name address (DNS resolution).
fn workload_entry(
    e: &WorkloadEntry,
    service_ports: Option<&HashMap<&str, usize>>,
    fqdn: bool,
    path: &dyn Display,
    report: &mut Report,
) {
    let address = e.address.as_deref().unwrap_or("");
    if address.is_empty() {
        match e.network.as_deref().filter(|n| !n.is_empty()) {
            None => {
                // The webhook stops here: nothing else is checked.
                report.error(format!("{path}.address"), "address is required");
                return;
            }
            Some(n) => report.warn(
                "unset-address",
                format!("{path}.address"),
                format!("address is unset with network {n:?}"),
            ),
        }
    } else if let Some(socket) = address.strip_prefix(UNIX_PREFIX) {
        if socket.is_empty() {
            report.error(
                format!("{path}.address"),
                "unix domain socket address is empty",
            );
        }
        if !e.ports.is_empty() {
            report.error(
                format!("{path}.ports"),
                format!("unix endpoint {address} must not include ports"),
            );
        }
        if let Some(service_ports) = service_ports
            && service_ports.len() != 1
        {
            report.error(
                format!("{path}.address"),
                format!(
                    "a unix endpoint needs exactly 1 service port; the entry has {}",
                    service_ports.len()
                ),
            );
        }
    } else if !is_ip_literal(address) {
        if !fqdn {
            report.error(
                format!("{path}.address"),
                format!(
                    "endpoint address {address:?} is not a valid IP address (resolution \
                     STATIC); use DNS resolution for host names"
                ),
            );
        } else if is_valid_fqdn(address).is_err() {
            report.error(
                format!("{path}.address"),
                format!("endpoint address {address:?} is not a valid FQDN or an IP address"),
            );
        }
    }
    endpoint_ports(e, service_ports, path, report);
    check_labels(&e.labels, &format_args!("{path}.labels"), report);
    if let Some(w) = e.weight
        && !(0..=i64::from(u32::MAX)).contains(&w)
    {
        report.error(
            format!("{path}.weight"),
            format!("weight {w} must be in the range 0..{}", u32::MAX),
        );
    }
}

fn endpoint_ports(
    e: &WorkloadEntry,
    service_ports: Option<&HashMap<&str, usize>>,
    path: &dyn Display,
    report: &mut Report,
) {
    for (name, &port) in &e.ports {
        let pp = format!("{path}.ports[{name}]");
        if service_ports.is_some_and(|s| !s.contains_key(name.as_str())) {
            report.error(
                &pp,
                format!(
                    "endpoint port {port} ({name:?}) is not defined by the service entry's ports"
                ),
            );
        }
        if !is_dns1123_label(name) {
            report.error(
                &pp,
                format!("invalid port name {name:?}: it must be a DNS-1123 label ({LABEL_RULE})"),
            );
        }
        if !(1..=65535).contains(&port) {
            report.error(
                &pp,
                format!("port number {port} must be in the range 1..65535"),
            );
        }
    }
}

fn dns(
    spec: &ServiceEntrySpec,
    resolution: &str,
    names: &HashMap<&str, usize>,
    report: &mut Report,
) {
    let no_endpoints = spec.endpoints.as_ref().is_none_or(Vec::is_empty);
    if no_endpoints
        && let Some((i, host)) = spec
            .hosts
            .iter()
            .enumerate()
            .find(|(_, h)| h.as_str() != "*" && is_valid_fqdn(h).is_err())
    {
        report.error(
            format!("spec.hosts[{i}]"),
            format!(
                "host {host:?} is not a fully qualified name: without endpoints, resolution \
                 {resolution} resolves the hosts themselves, so they cannot be wildcards"
            ),
        );
    }
    let count = spec.endpoints.as_ref().map_or(0, Vec::len);
    if resolution == "DNS_ROUND_ROBIN" && count > 1 {
        report.error(
            "spec.endpoints",
            format!("resolution DNS_ROUND_ROBIN allows 0 or 1 endpoint, not {count}"),
        );
    }
    null_endpoints(spec, report);
    for (i, e) in endpoints(spec) {
        let path = format_args!("spec.endpoints[{i}]");
        let address = e.address.as_deref().unwrap_or("");
        if !is_ip_literal(address) && is_valid_fqdn(address).is_err() {
            report.error(
                format!("{path}.address"),
                format!("endpoint address {address:?} is not a valid FQDN or an IP address"),
            );
        }
        check_labels(&e.labels, &format_args!("{path}.labels"), report);
        endpoint_ports(e, Some(names), &path, report);
    }
    if !spec.addresses.is_empty() && spec.hosts.len() > 1 {
        let tcp = spec
            .ports
            .iter()
            .flatten()
            .any(|p| is_tcp(Protocol::parse(p.protocol.as_deref().unwrap_or(""))));
        if tcp {
            report.warn(
                "ambiguous-hosts",
                "spec.hosts",
                "a service entry cannot have more than one host together with addresses and a \
                 TCP port",
            );
        }
    }
}

fn dynamic_dns(spec: &ServiceEntrySpec, resolution: &str, report: &mut Report) {
    for (i, host) in spec.hosts.iter().enumerate() {
        if !host.starts_with('*') {
            report.error(
                format!("spec.hosts[{i}]"),
                format!("host {host:?} must be a wildcard for resolution {resolution}"),
            );
        }
    }
    if !spec.addresses.is_empty() {
        report.error(
            "spec.addresses",
            format!(
                "addresses cannot be set for resolution {resolution}: the destination comes \
                 from the hosts"
            ),
        );
    }
    if spec.endpoints.as_ref().is_some_and(|e| !e.is_empty()) {
        report.error(
            "spec.endpoints",
            format!(
                "endpoints cannot be set for resolution {resolution}: the destination comes \
                 from the hosts"
            ),
        );
    }
    for (j, port) in spec.ports.iter().enumerate() {
        let Some(port) = port else { continue };
        let protocol = Protocol::parse(port.protocol.as_deref().unwrap_or(""));
        if !matches!(
            protocol,
            Protocol::Http | Protocol::Tls | Protocol::Grpc | Protocol::Http2
        ) {
            report.error(
                format!("spec.ports[{j}].protocol"),
                format!("only HTTP, TLS, GRPC and HTTP2 are supported for resolution {resolution}"),
            );
        }
    }
}

/// `exportTo` of a service entry: as for other kinds, and `~` (visible to no one but the
/// service's own proxies) allowed, alone.
fn export_to(export_to: &[String], report: &mut Report) {
    let path = "spec.exportTo";
    for (k, entry) in export_to.iter().enumerate() {
        let p = format_args!("{path}[{k}]");
        if export_to[..k].contains(entry) {
            report.error(p, format!("{entry:?} is listed twice"));
        } else if !matches!(entry.as_str(), "." | "*" | "~") && !is_dns1123_label(entry) {
            report.error(
                p,
                format!(
                    "{entry:?} is not \".\", \"*\", \"~\" or a namespace name (a DNS-1123 \
                     label: {LABEL_RULE})"
                ),
            );
        }
    }
    if export_to.len() > 1 {
        if export_to.iter().any(|e| e == "*") {
            report.error(path, "\"*\" (all namespaces) must be the only entry");
        }
        if export_to.iter().any(|e| e == "~") {
            report.error(
                path,
                "\"~\" (visible to no one) must be the only entry: a service entry cannot be \
                 exported to no one and someone",
            );
        }
    }
}

/// The port numbers of a valid entry.
fn port_numbers(spec: &ServiceEntrySpec) -> impl Iterator<Item = u16> + '_ {
    spec.ports
        .iter()
        .flatten()
        .filter_map(|p| u16::try_from(p.number?).ok())
}

/// Adds the exact hosts of every valid ServiceEntry with exactly one port to `only_ports`
/// (hosts a Service already names keep the Service's): a destination naming such a host
/// without a port goes to that port, as to a one-port Service.
pub(crate) fn single_port_hosts(valid: &[&Resource], only_ports: &mut HashMap<String, u16>) {
    for r in valid {
        let Resource::ServiceEntry(o) = r else {
            continue;
        };
        let mut ports = port_numbers(&o.spec);
        let (Some(port), None) = (ports.next(), ports.next()) else {
            continue;
        };
        for host in o.spec.hosts.iter().filter(|h| !h.contains('*')) {
            only_ports.entry(host.to_ascii_lowercase()).or_insert(port);
        }
    }
}

/// Adds the hosts of a valid ServiceEntry to the registry's known hosts, with its `exportTo`
/// (`~`: visible to no client) and its ports.
pub(crate) fn define_hosts(
    o: &Object<ServiceEntrySpec>,
    ns_default: &str,
    mesh_default: &[String],
    known: &mut KnownHosts,
) {
    let ns = o.namespace(ns_default);
    let visibility = service_visibility(&o.spec.export_to, ns, mesh_default);
    let ports: Box<[u16]> = port_numbers(&o.spec).collect();
    let tls_ports: Box<[(u16, &'static str)]> = o
        .spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            let number = u16::try_from(p.number?).ok()?;
            Some((number, tls_protocol(p.protocol.as_deref()?)?))
        })
        .collect();
    for host in &o.spec.hosts {
        known.insert(
            &host.to_ascii_lowercase(),
            Definition {
                visibility: visibility.clone(),
                ports: ports.clone(),
                any_port: false,
                by: format!("ServiceEntry {ns}/{}", o.metadata.name).into(),
                namespace: ns.into(),
                tls_ports: tls_ports.clone(),
            },
        );
    }
}

/// Which namespaces see a service (a ServiceEntry, or a Kubernetes Service by its
/// `networking.istio.io/exportTo` annotation) of namespace `ns` that is exported to
/// `export_to`: when that is empty, the mesh's `defaultServiceExportTo` (`mesh_default`; every
/// namespace when that is empty too), as push_context.go `initServiceRegistry` reads it; `~`
/// hides it from every namespace.
pub(crate) fn service_visibility(
    export_to: &[String],
    ns: &str,
    mesh_default: &[String],
) -> Visibility {
    let export_to = if export_to.is_empty() {
        mesh_default
    } else {
        export_to
    };
    // `*` wins over anything else listed; `~` alone hides it (push_context.go
    // `initServiceRegistry` checks for public first).
    match visibility(export_to, ns) {
        Visibility::Only(_) if export_to.iter().any(|e| e == "~") => Visibility::Only(Vec::new()),
        v => v,
    }
}

/// `HTTPS` or `TLS` when a port's protocol (as a ServiceEntry writes it, or as Istio reads a
/// Kubernetes port's `appProtocol` or name prefix) is one of them, case-insensitively (istio
/// pkg/config/protocol `Parse`, `IsTLS`).
pub(crate) fn tls_protocol(protocol: &str) -> Option<&'static str> {
    if protocol.eq_ignore_ascii_case("https") {
        Some("HTTPS")
    } else if protocol.eq_ignore_ascii_case("tls") {
        Some("TLS")
    } else {
        None
    }
}

/// istioctl's ServiceEntry analyzers (istio/istio pkg/config/analysis/analyzers/serviceentry)
/// over the valid entries, as warnings for `analyze`:
/// - `service-entry-addresses-required` (IST0134, `ProtocolAddressesAnalyzer`): an entry
///   without `addresses` has a port whose protocol is unset or `TCP` (any case), and the mesh
///   config does not have the proxies allocate addresses (`dns_auto_allocate`); one finding
///   per such port, at `spec.ports[j]`. The entry's `status.addresses` (istiod's own
///   allocation) is not read.
/// - `conflicting-service-entry-protocol` (IST0177, `ConflictingServiceEntryProtocolAnalyzer`):
///   two entries whose `exportTo` scopes meet (`*` or none meets every scope, `.` is the
///   entry's namespace) define the same host (as written) and port number with protocols that
///   differ (compared upper-cased; unset is a protocol of its own). Reported once, on the
///   younger entry (Istio's creation order), at the first such port, naming the older one;
///   entries exported to `~` (no one) conflict with nothing.
pub(crate) fn analyze_service_entries(
    valid: &[&Resource],
    dns_auto_allocate: bool,
    ns_default: &str,
) -> Vec<crate::error::Diagnostic> {
    use crate::error::{Diagnostic, ResourceId};
    let entries = super::in_creation_order(
        valid,
        |r| match r {
            Resource::ServiceEntry(o) => Some(&**o),
            _ => None,
        },
        ns_default,
    );
    let id = |o: &Object<ServiceEntrySpec>| {
        ResourceId::new("ServiceEntry", o.namespace(ns_default), &o.metadata.name)
    };
    let mut out = Vec::new();
    for o in &entries {
        if !o.spec.addresses.is_empty() || dns_auto_allocate {
            continue;
        }
        for (j, p) in o.spec.ports.iter().enumerate() {
            let Some(p) = p else { continue };
            let protocol = p.protocol.as_deref().unwrap_or("");
            if !(protocol.is_empty() || protocol.eq_ignore_ascii_case("TCP")) {
                continue;
            }
            let what = if protocol.is_empty() {
                "no protocol (sniffed, TCP until proven HTTP)".to_string()
            } else {
                format!("protocol {protocol}")
            };
            out.push(Diagnostic::warning(
                &id(o),
                "service-entry-addresses-required",
                format!("spec.ports[{j}]"),
                format!(
                    "port {} ({:?}) has {what}, and the entry has no addresses: a TCP \
                     connection carries no host name, so without an address the proxies cannot \
                     tell this service from others on the port; set addresses, or have the \
                     proxies allocate them (proxyMetadata ISTIO_META_DNS_CAPTURE and \
                     ISTIO_META_DNS_AUTO_ALLOCATE in the mesh config's defaultConfig)",
                    p.number.unwrap_or(0),
                    p.name.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    // The scopes an entry is visible in: None for every namespace.
    let scopes = |o: &Object<ServiceEntrySpec>| -> Option<Vec<String>> {
        let e = &o.spec.export_to;
        if e.is_empty() || e.iter().any(|x| x == "*") {
            return None;
        }
        Some(
            e.iter()
                .filter(|x| x.as_str() != "~")
                .map(|x| {
                    if x == "." {
                        o.namespace(ns_default).to_string()
                    } else {
                        x.clone()
                    }
                })
                .collect(),
        )
    };
    let meet = |a: &Option<Vec<String>>, b: &Option<Vec<String>>| match (a, b) {
        (Some(a), Some(b)) => a.iter().any(|x| b.contains(x)),
        (Some(a), None) | (None, Some(a)) => !a.is_empty(),
        (None, None) => true,
    };
    let visible: Vec<_> = entries.iter().map(|o| scopes(o)).collect();
    for (k, o) in entries.iter().enumerate() {
        'ports: for (j, p) in o.spec.ports.iter().enumerate() {
            let Some(p) = p else { continue };
            let protocol = p.protocol.as_deref().unwrap_or("").to_ascii_uppercase();
            for (i, older) in entries[..k].iter().enumerate() {
                if !meet(&visible[i], &visible[k]) {
                    continue;
                }
                let clash = older.spec.ports.iter().flatten().find(|q| {
                    q.number == p.number
                        && q.protocol.as_deref().unwrap_or("").to_ascii_uppercase() != protocol
                });
                let Some(q) = clash else { continue };
                let Some(host) = o.spec.hosts.iter().find(|h| older.spec.hosts.contains(h)) else {
                    continue;
                };
                let shown = |x: &str| {
                    if x.is_empty() {
                        "unset".to_string()
                    } else {
                        x.to_string()
                    }
                };
                out.push(Diagnostic::warning(
                    &id(o),
                    "conflicting-service-entry-protocol",
                    format!("spec.ports[{j}].protocol"),
                    format!(
                        "host {host:?} port {} is {} here and {} in {} (older), and both are \
                         visible to the same namespaces: a client cannot tell which protocol \
                         its proxy uses for the port",
                        p.number.unwrap_or(0),
                        shown(&protocol),
                        shown(&q.protocol.as_deref().unwrap_or("").to_ascii_uppercase()),
                        id(older),
                    ),
                ));
                break 'ports;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::report::validate_yaml;

    fn validate(spec: &str) -> Report {
        validate_yaml(spec, validate_service_entry)
    }

    fn errors(spec: &str) -> Vec<(String, String)> {
        validate(spec).errors
    }

    fn pair(path: &str, message: &str) -> Vec<(String, String)> {
        vec![(path.to_string(), message.to_string())]
    }

    /// Istio's egress task (istio.io tasks/traffic-management/egress/egress-control,
    /// "Access an external HTTP service"): the httpbin.org entry is valid.
    #[test]
    fn the_egress_task_entry_is_valid() {
        let report = validate(
            "{hosts: [httpbin.org], ports: [{number: 80, name: http-port, protocol: HTTP}], \
             resolution: DNS, location: MESH_EXTERNAL}",
        );
        assert_eq!(report.errors, vec![]);
        assert_eq!(report.warnings, vec![]);
    }

    /// validation_test.go `TestValidateServiceEntries`: "discovery type DNS, label tlsMode:
    /// istio" and "static resolution with endpoints" are valid.
    #[test]
    fn static_and_dns_endpoints_are_valid() {
        let ok = [
            "{hosts: [google.com], ports: [{number: 80, protocol: http, name: http-valid1}], \
             endpoints: [{address: lon.google.com, ports: {http-valid1: 8080}, \
             labels: {security.istio.io/tlsMode: istio}}], resolution: DNS}",
            "{hosts: [google.com], addresses: [10.0.0.1/24], \
             ports: [{number: 80, protocol: http, name: http-valid1}], \
             endpoints: [{address: 1.1.1.1, ports: {http-valid1: 8080}, labels: {version: v1}}], \
             resolution: STATIC}",
            "{hosts: [reviews.bookinfo.com], workloadSelector: {labels: {app: reviews}}, \
             ports: [{number: 80, protocol: http, name: http}], resolution: STATIC, \
             location: MESH_INTERNAL, exportTo: ['~']}",
        ];
        for spec in ok {
            assert_eq!(errors(spec), vec![], "{spec}");
        }
    }

    /// validation_test.go `TestValidateServiceEntries`: "discovery type none, endpoints
    /// provided", "discovery type DNS, non-FQDN host", "discovery type static, FQDN in
    /// endpoints", "undefined endpoint port", "workload selector and endpoints", "multiple
    /// hosts with TCP port", "CIDR with DNS", "round robin with 2 endpoints".
    #[test]
    fn each_istio_rule_names_its_field() {
        assert_eq!(
            errors(
                "{hosts: [google.com], ports: [{number: 80, protocol: http, name: h}], \
                 endpoints: [{address: 1.1.1.1}], resolution: NONE}"
            ),
            pair(
                "spec.endpoints",
                "endpoints are not allowed with resolution NONE (traffic goes to the address \
                 the client asked for); use STATIC or DNS"
            )
        );
        assert_eq!(
            errors(
                "{hosts: ['*.google.com'], ports: [{number: 80, protocol: http, name: h}], resolution: DNS}"
            ),
            pair(
                "spec.hosts[0]",
                "host \"*.google.com\" is not a fully qualified name: without endpoints, \
                 resolution DNS resolves the hosts themselves, so they cannot be wildcards"
            )
        );
        assert_eq!(
            errors(
                "{hosts: [google.com], ports: [{number: 80, protocol: http, name: h}], \
                 endpoints: [{address: in.google.com}], resolution: STATIC}"
            ),
            pair(
                "spec.endpoints[0].address",
                "endpoint address \"in.google.com\" is not a valid IP address (resolution \
                 STATIC); use DNS resolution for host names"
            )
        );
        assert_eq!(
            errors(
                "{hosts: [google.com], ports: [{number: 80, protocol: http, name: h}], \
                 endpoints: [{address: 1.1.1.1, ports: {x: 8080}}], resolution: STATIC}"
            ),
            pair(
                "spec.endpoints[0].ports[x]",
                "endpoint port 8080 (\"x\") is not defined by the service entry's ports"
            )
        );
        assert_eq!(
            errors(
                "{hosts: [a.com], workloadSelector: {labels: {app: a}}, endpoints: [], \
                 ports: [{number: 80, protocol: http, name: h}], resolution: STATIC}"
            ),
            pair(
                "spec.workloadSelector",
                "only one of workloadSelector or endpoints is allowed; remove one"
            )
        );
        assert_eq!(
            errors(
                "{hosts: [a.com, b.com], addresses: [10.0.0.1], \
                 ports: [{number: 3306, protocol: tcp, name: t}], resolution: DNS}"
            ),
            pair(
                "spec.ports[0].protocol",
                "2 hosts with a non-HTTP, non-TLS port: plain TCP cannot tell the hosts apart; \
                 use one host per entry, an HTTP or TLS protocol, or resolution NONE"
            )
        );
        assert_eq!(
            errors(
                "{hosts: [a.com], addresses: [10.0.0.0/8], \
                 ports: [{number: 80, protocol: http, name: h}], resolution: DNS}"
            ),
            pair(
                "spec.addresses[0]",
                "CIDR address \"10.0.0.0/8\" is allowed only with resolution NONE or STATIC, \
                 not DNS"
            )
        );
        assert_eq!(
            errors(
                "{hosts: [a.com], ports: [{number: 80, protocol: http, name: h}], \
                 endpoints: [{address: 1.1.1.1}, {address: 1.1.1.2}], resolution: DNS_ROUND_ROBIN}"
            ),
            pair(
                "spec.endpoints",
                "resolution DNS_ROUND_ROBIN allows 0 or 1 endpoint, not 2"
            )
        );
    }

    /// validation_test.go `TestValidateServiceEntries`: "duplicate port names", "duplicate
    /// port numbers", "invalid protocol", "invalid port", "wildcard host", "no hosts",
    /// "exportTo ~ with others".
    #[test]
    fn ports_hosts_and_export_to() {
        assert_eq!(
            errors(
                "{hosts: [a.com], ports: [{number: 80, protocol: http, name: h}, \
                 {number: 80, protocol: http, name: h}], resolution: DNS}"
            ),
            vec![
                (
                    "spec.ports[1].name".to_string(),
                    "port name \"h\" is already defined by spec.ports[0]".to_string()
                ),
                (
                    "spec.ports[1].number".to_string(),
                    "port 80 is already defined by spec.ports[0]".to_string()
                ),
            ]
        );
        assert_eq!(
            errors("{hosts: [a.com], ports: [{number: 0, protocol: http, name: h}]}"),
            pair(
                "spec.ports[0].number",
                "port number 0 must be in the range 1..65535"
            )
        );
        assert_eq!(
            errors("{hosts: [a.com], ports: [{number: 80, protocol: ftp, name: h}]}")[0].0,
            "spec.ports[0].protocol"
        );
        assert_eq!(errors("{hosts: ['*']}")[0].0, "spec.hosts[0]");
        assert_eq!(
            errors("{hosts: []}"),
            pair("spec.hosts", "a service entry must have at least one host")
        );
        assert_eq!(
            errors("{hosts: [a.com], exportTo: ['~', '.']}"),
            pair(
                "spec.exportTo",
                "\"~\" (visible to no one) must be the only entry: a service entry cannot be \
                 exported to no one and someone"
            )
        );
        assert_eq!(
            errors("{hosts: [a.com], resolution: dns}"),
            pair(
                "spec.resolution",
                "\"dns\" is not a known resolution; expected one of NONE, STATIC, DNS, \
                 DNS_ROUND_ROBIN, DYNAMIC_DNS"
            )
        );
        let partial = validate("{hosts: ['*-dev.a.com']}");
        assert_eq!(partial.errors, vec![]);
        assert_eq!(partial.warnings[0].0, "partial-wildcard");
    }

    /// validation_test.go `TestValidateWorkloadEntry`, case for case: "valid", "missing
    /// address", "missing address with network" (a warning), "valid unix endpoint", "invalid
    /// unix endpoint" (ports on a socket), "valid FQDN", "invalid FQDN" (a port in the
    /// address), "valid IP"; and what the typed model adds: labels and weight at their paths.
    #[test]
    fn workload_entry_resource() {
        let check = |spec: &str| validate_yaml(spec, validate_workload_entry);
        for ok in [
            "{address: 1.2.3.4}",
            "{address: 'unix:///lon/google/com'}",
            "{address: validdns.com, ports: {'7777': 7777}}",
            "{address: 172.16.1.1, ports: {'7777': 7777}, weight: 4, labels: {version: v2}}",
        ] {
            let r = check(ok);
            assert_eq!((r.errors, r.warnings), (vec![], vec![]), "{ok}");
        }
        assert_eq!(
            check("{}").errors,
            pair("spec.address", "address is required")
        );
        let r = check("{network: network-2}");
        assert_eq!(r.errors, vec![]);
        assert_eq!(
            r.warnings,
            vec![(
                "unset-address",
                "spec.address".to_string(),
                "address is unset with network \"network-2\"".to_string()
            )]
        );
        assert_eq!(
            check("{address: 'unix:///lon/google/com', ports: {'7777': 7777}}").errors,
            pair(
                "spec.ports",
                "unix endpoint unix:///lon/google/com must not include ports"
            )
        );
        assert_eq!(
            check("{address: 'invaliddns.com:9443', ports: {'7777': 7777}}").errors,
            pair(
                "spec.address",
                "endpoint address \"invaliddns.com:9443\" is not a valid FQDN or an IP address"
            )
        );
        let r = check(
            "{address: 1.2.3.4, ports: {http: 0, Bad_Name: 80}, weight: -1, labels: {'a b': c}}",
        );
        let paths: Vec<&str> = r.errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.ports[Bad_Name]",
                "spec.ports[http]",
                "spec.labels[a b]",
                "spec.weight"
            ],
            "{:?}",
            r.errors
        );
    }
}
