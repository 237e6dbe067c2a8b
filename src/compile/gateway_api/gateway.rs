//! Gateway: class, listeners (names, ports, protocols, hostnames, TLS, allowedRoutes),
//! addresses, and the raw-JSON `allowedListeners`, `infrastructure` and `tls`.

use serde_json::Value;
use std::fmt::Display;

use super::fields::check_port;
use super::raw::{Namespaced, check_raw_ref, json_type, raw_field, raw_int, raw_object, raw_str};
use crate::compile::names::{
    HOSTNAME_RULE, check_group, check_hostname, check_kind, check_subdomain, is_label_key,
    is_label_value, is_route_hostname,
};
use crate::compile::report::Report;
use crate::compile::values::{check_count, limit};
use crate::config::gateway_api::{
    AllowedRoutes, GatewayAddress, GatewaySpec, Listener, ListenerTls,
};
use crate::limits::{MAX_HEADER_VALUE_LEN, MAX_LABEL_LEN, MAX_NAME_LEN, MAX_PROTOCOL_LEN};

/// Validates a Gateway API `Gateway` spec, recording every error and warning in `report` with
/// paths that start at `spec`.
pub(crate) fn validate_gateway(spec: &GatewaySpec, report: &mut Report) {
    match spec.gateway_class_name.as_deref() {
        None | Some("") => report.error(
            "spec.gatewayClassName",
            "gatewayClassName is required: it names the GatewayClass that implements the Gateway",
        ),
        Some(c) if c.len() > MAX_NAME_LEN => report.error(
            "spec.gatewayClassName",
            format!(
                "gatewayClassName of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                c.len()
            ),
        ),
        Some(_) => {}
    }

    if spec.listeners.is_empty() {
        report.error("spec.listeners", "a Gateway needs at least one listener");
    }
    check_count(
        spec.listeners.len(),
        limit!(MAX_LISTENERS),
        "listeners",
        &"spec.listeners",
        report,
    );
    for (i, l) in spec.listeners.iter().enumerate() {
        check_listener(l, &format_args!("spec.listeners[{i}]"), report);
    }
    for j in 1..spec.listeners.len() {
        let b = &spec.listeners[j];
        if let Some(name) = &b.name
            && let Some(i) = spec.listeners[..j]
                .iter()
                .position(|a| a.name.as_ref() == Some(name))
        {
            report.error(
                format!("spec.listeners[{j}].name"),
                format!(
                    "listener name {name:?} is already used by listeners[{i}]; names must be \
                     unique within the Gateway"
                ),
            );
        }
        let (Some(port), Some(protocol)) = (b.port, b.protocol.as_deref()) else {
            continue;
        };
        if let Some(i) = spec.listeners[..j].iter().position(|a| {
            a.port == Some(port)
                && a.protocol.as_deref() == Some(protocol)
                && a.hostname == b.hostname
        }) {
            let host = match &b.hostname {
                Some(h) => format!("hostname {h:?}"),
                None => "no hostname".to_string(),
            };
            report.error(
                format!("spec.listeners[{j}]"),
                format!(
                    "listeners[{i}] already has port {port}, protocol {protocol} and {host}; each \
                     listener needs its own combination of the three"
                ),
            );
        }
    }

    check_addresses(&spec.addresses, report);

    if let Some(v) = &spec.allowed_listeners {
        check_allowed_listeners(v, &"spec.allowedListeners", report);
    }
    if let Some(v) = &spec.infrastructure {
        check_infrastructure(v, &"spec.infrastructure", report);
    }
    if let Some(v) = &spec.tls {
        check_gateway_tls(v, &"spec.tls", report);
    }
    if spec.backend_tls.is_some() {
        report.error(
            "spec.backendTLS",
            "backendTLS is not a Gateway field in Gateway API v1; the client certificate for \
             backends is spec.tls.backend.clientCertificateRef",
        );
    }
    if let Some(scope) = &spec.default_scope
        && !matches!(scope.as_str(), "All" | "None")
    {
        report.error(
            "spec.defaultScope",
            format!("defaultScope {scope:?} is not All or None"),
        );
    }
}

fn check_listener(l: &Listener, path: &dyn Display, report: &mut Report) {
    match l.name.as_deref() {
        None => report.error(
            format!("{path}.name"),
            "listener name is required: routes attach to it by sectionName",
        ),
        Some(name) => check_subdomain(name, "listener name", &format_args!("{path}.name"), report),
    }
    match l.port {
        None => report.error(format!("{path}.port"), "port is required"),
        Some(port) => check_port(port, &format_args!("{path}.port"), report),
    }
    let protocol = l.protocol.as_deref();
    match protocol {
        None => report.error(
            format!("{path}.protocol"),
            "protocol is required; HTTP, HTTPS, TLS, TCP, UDP or a domain-prefixed protocol",
        ),
        Some(p) if p.len() > MAX_PROTOCOL_LEN || !is_protocol(p) => report.error(
            format!("{path}.protocol"),
            format!(
                "protocol {p:?} is not valid; use letters, digits and '-' (such as HTTP or HTTPS), \
                 or a domain-prefixed name such as example.com/proto"
            ),
        ),
        Some(_) => {}
    }
    let protocol = protocol.unwrap_or_default();
    if let Some(h) = &l.hostname {
        check_hostname(h, &format_args!("{path}.hostname"), report);
        if matches!(protocol, "TCP" | "UDP") && !h.is_empty() {
            report.error(
                format!("{path}.hostname"),
                format!("protocol {protocol} has no host names to match; remove hostname {h:?}"),
            );
        }
    }
    match &l.tls {
        Some(tls) => {
            if matches!(protocol, "HTTP" | "TCP" | "UDP") {
                report.error(
                    format!("{path}.tls"),
                    format!(
                        "protocol {protocol} does not use TLS; remove tls, or use HTTPS or TLS"
                    ),
                );
            }
            check_listener_tls(tls, protocol, &format_args!("{path}.tls"), report);
        }
        None if protocol == "TLS" => report.error(
            format!("{path}.tls"),
            "protocol TLS needs tls with a mode (Terminate or Passthrough)",
        ),
        None if protocol == "HTTPS" => report.warn(
            "missing-tls",
            format!("{path}.tls"),
            "protocol HTTPS needs tls with certificateRefs to terminate connections; \
             implementations do not program this listener",
        ),
        None => {}
    }
    if let Some(ar) = &l.allowed_routes {
        check_allowed_routes(ar, &format_args!("{path}.allowedRoutes"), report);
    }
}

fn check_listener_tls(tls: &ListenerTls, protocol: &str, path: &dyn Display, report: &mut Report) {
    let mode = tls.mode.as_deref().unwrap_or("Terminate");
    let mpath = format_args!("{path}.mode");
    if !matches!(mode, "Terminate" | "Passthrough") {
        report.error(
            mpath,
            format!("tls mode {mode:?} is not Terminate or Passthrough"),
        );
    } else if protocol == "HTTPS" && mode != "Terminate" {
        report.error(
            mpath,
            format!(
                "tls mode {mode} is not allowed for protocol HTTPS, which terminates TLS; use \
                 Terminate, or protocol TLS to pass connections through"
            ),
        );
    }
    if tls.frontend_validation.is_some() {
        report.error(
            format!("{path}.frontendValidation"),
            "frontendValidation is not a listener tls field in Gateway API v1; client certificate \
             validation is configured in spec.tls.frontend",
        );
    }
    if mode == "Terminate" && tls.certificate_refs.is_empty() && tls.options.is_empty() {
        report.error(
            path,
            "tls mode Terminate needs certificateRefs or options to find a certificate",
        );
    }
    let cpath = format_args!("{path}.certificateRefs");
    check_count(
        tls.certificate_refs.len(),
        limit!(MAX_CERTIFICATE_REFS),
        "certificateRefs",
        &cpath,
        report,
    );
    for (i, r) in tls.certificate_refs.iter().enumerate() {
        check_raw_ref(
            r,
            Namespaced::Yes,
            &[],
            &format_args!("{cpath}[{i}]"),
            report,
        );
    }
    check_count(
        tls.options.len(),
        limit!(MAX_TLS_OPTIONS),
        "tls options",
        &format_args!("{path}.options"),
        report,
    );
    for (key, value) in &tls.options {
        if value.len() > MAX_HEADER_VALUE_LEN {
            report.error(
                format!("{path}.options[{key}]"),
                format!(
                    "option value of {} bytes is longer than the limit of {MAX_HEADER_VALUE_LEN} (limits::MAX_HEADER_VALUE_LEN)",
                    value.len()
                ),
            );
        }
    }
}

fn check_allowed_routes(ar: &AllowedRoutes, path: &dyn Display, report: &mut Report) {
    if let Some(from) = ar.namespaces.as_ref().and_then(|n| n.from.as_deref())
        && !matches!(from, "All" | "Selector" | "Same")
    {
        report.error(
            format!("{path}.namespaces.from"),
            format!("namespaces.from {from:?} is not All, Selector or Same"),
        );
    }
    let kpath = format_args!("{path}.kinds");
    check_count(
        ar.kinds.len(),
        limit!(MAX_ROUTE_KINDS),
        "route kinds",
        &kpath,
        report,
    );
    for (i, k) in ar.kinds.iter().enumerate() {
        let p = format_args!("{kpath}[{i}]");
        if let Some(group) = &k.group {
            check_group(group, &format_args!("{p}.group"), report);
        }
        match &k.kind {
            Some(kind) => check_kind(kind, &format_args!("{p}.kind"), report),
            None => report.error(format!("{p}.kind"), "kind is required"),
        }
    }
}

/// `allowedListeners` (experimental): only `namespaces.from` has rules beyond its shape.
fn check_allowed_listeners(v: &Value, path: &dyn Display, report: &mut Report) {
    let Some(map) = raw_object(v, &["namespaces"], path, report) else {
        return;
    };
    let Some(ns) = raw_field(map, "namespaces") else {
        return;
    };
    let npath = format_args!("{path}.namespaces");
    let Some(ns) = raw_object(ns, &["from", "selector"], &npath, report) else {
        return;
    };
    if let Some(from) = raw_str(ns, "from", &npath, report)
        && !matches!(from, "All" | "Selector" | "Same" | "None")
    {
        report.error(
            format!("{npath}.from"),
            format!("namespaces.from {from:?} is not All, Selector, Same or None"),
        );
    }
}

/// `infrastructure`: labels and annotations for generated resources, and a parameters reference.
fn check_infrastructure(v: &Value, path: &dyn Display, report: &mut Report) {
    let Some(map) = raw_object(v, &["labels", "annotations", "parametersRef"], path, report) else {
        return;
    };
    for (field, max_entries, max_value) in [("labels", 8, MAX_LABEL_LEN), ("annotations", 16, 4096)]
    {
        let Some(m) = raw_field(map, field) else {
            continue;
        };
        let fpath = format_args!("{path}.{field}");
        let Some(m) = m.as_object() else {
            report.error(
                fpath,
                format!("{field} must be a map of strings, not {}", json_type(m)),
            );
            continue;
        };
        check_count(
            m.len(),
            (max_entries, "the CRD's maxProperties"),
            field,
            &fpath,
            report,
        );
        for (key, value) in m {
            let kpath = format_args!("{fpath}[{key}]");
            if !is_label_key(key) {
                report.error(
                    kpath,
                    format!(
                        "key {key:?} is not valid; use an optional lower-case DNS prefix (under \
                         253 bytes) and '/', then 1-63 letters, digits, '-', '_' or '.', starting \
                         and ending with a letter or digit"
                    ),
                );
            }
            let Some(value) = value.as_str() else {
                report.error(
                    kpath,
                    format!("value must be a string, not {}", json_type(value)),
                );
                continue;
            };
            if value.len() > max_value {
                report.error(
                    kpath,
                    format!(
                        "value of {} bytes is longer than the limit of {max_value}",
                        value.len()
                    ),
                );
            } else if field == "labels" && !is_label_value(value) {
                report.error(
                    kpath,
                    format!(
                        "label value {value:?} is not valid; use letters, digits, '-', '_' or '.', \
                         starting and ending with a letter or digit"
                    ),
                );
            }
        }
    }
    if let Some(r) = raw_field(map, "parametersRef") {
        check_raw_ref(
            r,
            Namespaced::No,
            &["group", "kind"],
            &format_args!("{path}.parametersRef"),
            report,
        );
    }
}

/// Gateway-level `tls`: client certificate validation (per port or by default) and the client
/// certificate the Gateway presents to backends.
fn check_gateway_tls(v: &Value, path: &dyn Display, report: &mut Report) {
    let Some(map) = raw_object(v, &["frontend", "backend"], path, report) else {
        return;
    };
    if let Some(b) = raw_field(map, "backend") {
        let bpath = format_args!("{path}.backend");
        if let Some(b) = raw_object(b, &["clientCertificateRef"], &bpath, report)
            && let Some(r) = raw_field(b, "clientCertificateRef")
        {
            check_raw_ref(
                r,
                Namespaced::Yes,
                &[],
                &format_args!("{bpath}.clientCertificateRef"),
                report,
            );
        }
    }
    let Some(f) = raw_field(map, "frontend") else {
        return;
    };
    let fpath = format_args!("{path}.frontend");
    let Some(f) = raw_object(f, &["default", "perPort"], &fpath, report) else {
        return;
    };
    match raw_field(f, "default") {
        None => report.error(format!("{fpath}.default"), "default is required"),
        Some(d) => check_tls_validation_holder(d, &format_args!("{fpath}.default"), report),
    }
    let Some(per_port) = raw_field(f, "perPort") else {
        return;
    };
    let ppath = format_args!("{fpath}.perPort");
    let Some(per_port) = per_port.as_array() else {
        report.error(
            ppath,
            format!("perPort must be a list, not {}", json_type(per_port)),
        );
        return;
    };
    check_count(
        per_port.len(),
        limit!(MAX_LISTENERS),
        "perPort entries",
        &ppath,
        report,
    );
    let mut ports: Vec<i64> = Vec::new();
    for (i, entry) in per_port.iter().enumerate() {
        let epath = format_args!("{ppath}[{i}]");
        let Some(entry) = raw_object(entry, &["port", "tls"], &epath, report) else {
            continue;
        };
        match raw_int(entry, "port", &epath, report) {
            None => report.error(format!("{epath}.port"), "port is required"),
            Some(port) => {
                check_port(port, &format_args!("{epath}.port"), report);
                if let Some(j) = ports.iter().position(|&p| p == port) {
                    report.error(
                        format!("{epath}.port"),
                        format!(
                            "port {port} is already configured by perPort[{j}]; ports must be \
                             unique"
                        ),
                    );
                }
                ports.push(port);
            }
        }
        match raw_field(entry, "tls") {
            None => report.error(format!("{epath}.tls"), "tls is required"),
            Some(t) => check_tls_validation_holder(t, &format_args!("{epath}.tls"), report),
        }
    }
}

/// An object holding an optional `validation`: CA certificates (1-16, required) and a mode.
fn check_tls_validation_holder(v: &Value, path: &dyn Display, report: &mut Report) {
    let Some(map) = raw_object(v, &["validation"], path, report) else {
        return;
    };
    let Some(val) = raw_field(map, "validation") else {
        return;
    };
    let vpath = format_args!("{path}.validation");
    let Some(val) = raw_object(val, &["caCertificateRefs", "mode"], &vpath, report) else {
        return;
    };
    if let Some(mode) = raw_str(val, "mode", &vpath, report)
        && !matches!(mode, "AllowValidOnly" | "AllowInsecureFallback")
    {
        report.error(
            format!("{vpath}.mode"),
            format!("validation mode {mode:?} is not AllowValidOnly or AllowInsecureFallback"),
        );
    }
    let cpath = format_args!("{vpath}.caCertificateRefs");
    let refs = raw_field(val, "caCertificateRefs").and_then(Value::as_array);
    match refs {
        None => report.error(
            cpath,
            "caCertificateRefs is required: at least one CA certificate",
        ),
        Some(refs) if refs.is_empty() => report.error(
            cpath,
            "caCertificateRefs is empty; at least one CA certificate is required",
        ),
        Some(refs) => {
            check_count(
                refs.len(),
                (16, "the CRD's maxItems"),
                "caCertificateRefs",
                &cpath,
                report,
            );
            for (i, r) in refs.iter().enumerate() {
                check_raw_ref(
                    r,
                    Namespaced::Yes,
                    &["group", "kind"],
                    &format_args!("{cpath}[{i}]"),
                    report,
                );
            }
        }
    }
}

fn check_addresses(addresses: &[GatewayAddress], report: &mut Report) {
    check_count(
        addresses.len(),
        limit!(MAX_ADDRESSES),
        "addresses",
        &"spec.addresses",
        report,
    );
    for (i, a) in addresses.iter().enumerate() {
        let path = format_args!("spec.addresses[{i}]");
        let kind = a.kind.as_deref().unwrap_or("IPAddress");
        if kind.is_empty() || kind.len() > MAX_NAME_LEN || !is_address_type(kind) {
            report.error(
                format!("{path}.type"),
                format!(
                    "address type {kind:?} is not IPAddress, Hostname, NamedAddress or a \
                     domain-prefixed type such as example.com/custom"
                ),
            );
        }
        let Some(value) = a.value.as_deref() else {
            continue;
        };
        let vpath = format_args!("{path}.value");
        if value.len() > MAX_NAME_LEN {
            report.error(
                vpath,
                format!(
                    "address of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                    value.len()
                ),
            );
            continue;
        }
        match kind {
            "IPAddress" if value.parse::<std::net::IpAddr>().is_err() => report.error(
                vpath,
                format!("address {value:?} is not an IPv4 or IPv6 address (type IPAddress)"),
            ),
            "Hostname" if !value.is_empty() && !is_route_hostname(value) => report.error(
                vpath,
                format!(
                    "address {value:?} is not a valid host name (type Hostname); {HOSTNAME_RULE}"
                ),
            ),
            "IPAddress" | "Hostname" => {
                if let Some(j) = addresses[..i].iter().position(|o| {
                    o.kind.as_deref().unwrap_or("IPAddress") == kind
                        && o.value.as_deref() == Some(value)
                }) {
                    report.error(
                        vpath,
                        format!(
                            "address {value:?} is already listed at addresses[{j}]; {kind} values \
                             must be unique"
                        ),
                    );
                }
            }
            _ => {}
        }
    }
}

/// The CRD's `^Hostname|IPAddress|NamedAddress|<domain>\/<path chars>$` pattern. Its `^` and `$`
/// bind only to the first and last alternatives, so the middle ones match anywhere; this follows
/// the pattern as the apiserver applies it.
pub(super) fn is_address_type(kind: &str) -> bool {
    if kind.starts_with("Hostname") || kind.contains("IPAddress") || kind.contains("NamedAddress") {
        return true;
    }
    let tail_ok = |c: u8| c.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:".contains(&c);
    let b = kind.as_bytes();
    (1..b.len()).any(|k| {
        b[k] == b'/'
            && (b[k - 1].is_ascii_lowercase() || b[k - 1].is_ascii_digit())
            && k + 1 < b.len()
            && b[k + 1..].iter().all(|&c| tail_ok(c))
    })
}

/// The CRD's `^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|<domain>\/[A-Za-z0-9]+$` pattern. The
/// second alternative is not anchored at the start, so only its end is checked: a lower-case
/// letter or digit, `/`, then letters and digits.
pub(super) fn is_protocol(p: &str) -> bool {
    let b = p.as_bytes();
    let plain = !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-');
    let prefixed = p.rsplit_once('/').is_some_and(|(head, tail)| {
        !tail.is_empty()
            && tail.bytes().all(|c| c.is_ascii_alphanumeric())
            && head
                .bytes()
                .last()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    plain || prefixed
}
