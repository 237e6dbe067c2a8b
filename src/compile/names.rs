//! Names shared by the validators: DNS-1123 labels and domain names (a wildcard allowed in the
//! first label), IP literals and CIDR blocks, host overlap (Istio `host.Name`), Kubernetes labels,
//! gateway references and `exportTo` (Istio's rules, which accept upper case); and the Gateway
//! API's stricter spellings of the same names (the CRD patterns: lower case, no IP addresses):
//! route and listener hostnames, subdomains, groups, kinds, namespaces, label keys and values.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::IpAddr;

use super::report::Report;
use crate::config::names::is_lower_dns_label_chars;
use crate::limits::{MAX_LABEL_LEN, MAX_NAME_LEN};

/// How a DNS-1123 label is spelled, for messages.
pub(crate) const LABEL_RULE: &str =
    "1-63 letters, digits or '-', starting and ending with a letter or digit";

// ---------------------------------------------------------------------------------------------
// Gateway references, labels, exportTo
// ---------------------------------------------------------------------------------------------

/// A gateway reference: `<namespace>/<name>` (both DNS-1123 labels) or a bare name (checked as a
/// domain name; the legacy `name.namespace` form is accepted with a warning). `mesh` is a bare name.
pub(crate) fn check_gateway_name(gateway: &str, path: &dyn Display, report: &mut Report) {
    match gateway.split_once('/') {
        None => {
            if let Some((name, rest)) = gateway.split_once('.') {
                let ns = rest.split('.').next().unwrap_or_default();
                report.warn(
                    "deprecated-field",
                    path,
                    format!("gateway {gateway:?} uses the legacy name.namespace form; write \"{ns}/{name}\""),
                );
            }
            if let Err(message) = is_valid_fqdn(gateway) {
                report.error(path, format!("gateway {message}"));
            }
        }
        Some((ns, name)) => {
            if ns.is_empty() || name.is_empty() {
                report.error(
                    path,
                    format!(
                        "gateway {gateway:?} must be <namespace>/<name> with both parts non-empty"
                    ),
                );
                return;
            }
            if !is_dns1123_label(ns) {
                report.error(
                    path,
                    format!("gateway {gateway:?}: namespace {ns:?} is not a valid DNS-1123 label ({LABEL_RULE})"),
                );
            }
            if !is_dns1123_label(name) {
                report.error(
                    path,
                    format!("gateway {gateway:?}: name {name:?} is not a valid DNS-1123 label ({LABEL_RULE})"),
                );
            }
        }
    }
}

/// Kubernetes label keys (`[prefix/]name`) and values, as for `sourceLabels`.
pub(crate) fn check_labels(
    labels: &BTreeMap<String, String>,
    path: &dyn Display,
    report: &mut Report,
) {
    for (key, value) in labels {
        if let Err(message) = check_label_key(key) {
            report.error(format!("{path}[{key}]"), message);
        }
        if !is_label_value(value) {
            report.error(
                format!("{path}[{key}]"),
                format!(
                    "label value {value:?} is not valid; use letters, digits, '-', '_' or '.', starting and \
                     ending with a letter or digit"
                ),
            );
        }
    }
}

fn check_label_key(key: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "label key {key:?} is not valid; use an optional DNS prefix and '/', then 1-63 letters, digits, \
             '-', '_' or '.', starting and ending with a letter or digit"
        )
    };
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && (prefix.len() > 253 || !prefix.split('.').all(is_dns1123_label_chars))
    {
        return Err(bad());
    }
    if !is_label_name(name) {
        return Err(bad());
    }
    Ok(())
}

/// The name part of a label key: a qualified name of at most 63 bytes.
fn is_label_name(name: &str) -> bool {
    name.len() <= MAX_LABEL_LEN && is_qualified_name(name)
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`
fn is_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `exportTo`: `.`, `*` or namespace names, no duplicates, `*` alone, never `~`.
pub(crate) fn check_export_to(export_to: &[String], path: &dyn Display, report: &mut Report) {
    for (k, entry) in export_to.iter().enumerate() {
        let p = format_args!("{path}[{k}]");
        if export_to[..k].contains(entry) {
            report.error(p, format!("{entry:?} is listed twice"));
        } else if entry == "~" {
            report.error(
                p,
                "\"~\" (visible to no one) is only allowed for service entries",
            );
        } else if entry != "." && entry != "*" && !is_dns1123_label(entry) {
            report.error(
                p,
                format!("{entry:?} is not \".\", \"*\" or a namespace name (a DNS-1123 label: {LABEL_RULE})"),
            );
        }
    }
    if export_to.len() > 1 && export_to.iter().any(|e| e == "*") {
        report.error(path, "\"*\" (all namespaces) must be the only entry");
    }
}

// ---------------------------------------------------------------------------------------------
// Host syntax and overlap
// ---------------------------------------------------------------------------------------------

/// A DNS-1123 label: 1-63 ASCII letters, digits or `-`, starting and ending with a letter or
/// digit (Istio accepts upper case).
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_dns1123_label_chars(s)
}

/// The label pattern without the length limit.
fn is_dns1123_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
}

/// A first label that may carry a wildcard: `*`, `*label`, `*-label` or a plain label.
fn is_wildcard_dns1123_label(s: &str) -> bool {
    if s.len() > 63 {
        return false;
    }
    s == "*"
        || is_dns1123_label_chars(s)
        || s.strip_prefix("*-").is_some_and(is_dns1123_label_chars)
        || s.strip_prefix('*').is_some_and(is_dns1123_label_chars)
}

fn check_domain_length(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("domain name is empty".into())
    } else if name.len() > 255 {
        Err(format!(
            "domain name of {} bytes is longer than the limit of 255",
            name.len()
        ))
    } else {
        Ok(())
    }
}

/// Every label a DNS-1123 label (the last may be empty: `istio.io.`), top-level label not all digits.
fn check_dns1123_labels(domain: &str, full: &str) -> Result<(), String> {
    let tld = domain.rsplit('.').next().unwrap_or_default();
    if tld.parse::<i64>().is_ok() {
        return Err(format!(
            "{full:?} is not a valid domain name: top-level label {tld:?} is all digits"
        ));
    }
    let mut labels = domain.split('.').peekable();
    while let Some(label) = labels.next() {
        if label.is_empty() && labels.peek().is_none() {
            break;
        }
        if !is_dns1123_label(label) {
            let hint = if label.contains('*') {
                "; \"*\" is allowed only at the start of the first label"
            } else {
                ""
            };
            return Err(format!(
                "{full:?} is not a valid domain name: label {label:?} must be {LABEL_RULE}{hint}"
            ));
        }
    }
    Ok(())
}

/// A fully qualified or short domain name without wildcards.
pub(crate) fn is_valid_fqdn(name: &str) -> Result<(), String> {
    check_domain_length(name)?;
    check_dns1123_labels(name, name)
}

/// A domain name whose first label may be a wildcard (`*`, `*.example.com`, `*-dev.example.com`);
/// the other labels are DNS-1123 labels and the top-level label is not all digits.
pub(crate) fn is_valid_wildcard_domain(host: &str) -> Result<(), String> {
    check_domain_length(host)?;
    let (first, rest) = match host.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (host, None),
    };
    if !is_wildcard_dns1123_label(first) {
        let wildcard = if first.contains('*') {
            ", optionally after a leading \"*\" or \"*-\", or be \"*\""
        } else {
            ""
        };
        return Err(format!(
            "{host:?} is not a valid domain name: label {first:?} must be {LABEL_RULE}{wildcard}"
        ));
    }
    match rest {
        Some(rest) => check_dns1123_labels(rest, host),
        None => Ok(()),
    }
}

/// Hosts of a VirtualService bound to gateways: like [`is_valid_wildcard_domain`], and for SNI
/// routing also the auto-generated `outbound_.<port>_._.<host>` names of AUTO_PASSTHROUGH.
pub(crate) fn check_gateway_bound_domain(host: &str, sni: bool) -> Result<(), String> {
    check_domain_length(host)?;
    if sni && host.starts_with("outbound_") {
        let parts: Vec<&str> = host.split('_').collect();
        if parts.len() < 4 {
            return Err(format!(
                "{host:?} is not a valid domain name: write it as outbound_.<PORT>_._.<HOSTNAME>"
            ));
        }
        let port = parts[1].trim_matches('.');
        let hostname = parts[3].trim_matches('.');
        if !port.bytes().any(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{host:?} is not a valid domain name: port part {port:?} has no digits (outbound_.<PORT>_._.<HOSTNAME>)"
            ));
        }
        if !hostname.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "{host:?} is not a valid domain name: host part {hostname:?} has no letters (outbound_.<PORT>_._.<HOSTNAME>)"
            ));
        }
        return Ok(());
    }
    is_valid_wildcard_domain(host)
}

/// An IPv4 or IPv6 literal (IPv6 may carry a `%zone`).
pub(crate) fn is_ip_literal(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    match s.split_once('%') {
        Some((addr, zone)) if !zone.is_empty() && addr.contains(':') => {
            addr.parse::<std::net::Ipv6Addr>().is_ok()
        }
        _ => false,
    }
}

/// An IP address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`).
pub(crate) fn is_ip_or_cidr(s: &str) -> bool {
    if s.matches('/').count() != 1 {
        return is_ip_literal(s);
    }
    let (addr, bits) = s.split_once('/').unwrap_or_default();
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return false;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    !bits.is_empty()
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|b| b <= max)
}

/// Whether two host names overlap (Istio `host.Name.Matches`): names starting with `*` match by
/// the suffix after the `*`; two wildcards overlap when one suffix ends with the other; plain
/// names compare exactly. `*.foo.com` overlaps `a.foo.com` and `*.com`, not `foo.com`.
pub(crate) fn hosts_overlap(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => {
            if sa.len() < sb.len() {
                sb.ends_with(sa)
            } else {
                sa.ends_with(sb)
            }
        }
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// Whether every name `a` matches is also matched by `b` (Istio `host.Name.SubsetOf`).
pub(crate) fn host_subset_of(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => a.len() >= b.len() && sa.ends_with(sb),
        (Some(_), None) => false,
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Gateway API names (the CRD patterns: lower case, no IP addresses)
// ---------------------------------------------------------------------------------------------

const SUBDOMAIN_RULE: &str = "use lower-case DNS labels (letters, digits and '-', starting and \
                              ending with a letter or digit) separated by '.'";
pub(crate) const HOSTNAME_RULE: &str = "use lower-case DNS labels (letters, digits and '-', starting and \
                             ending with a letter or digit) separated by '.', optionally after a \
                             leading \"*.\"; no IP addresses, ports or schemes";
const LOWER_LABEL_RULE: &str =
    "use 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit";
const KIND_RULE: &str =
    "use 1-63 letters, digits or '-', starting with a letter and ending with a letter or digit";

/// `^(<lower-case DNS subdomain>/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$`, with a prefix
/// shorter than 253 bytes.
pub(crate) fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(|p| p.len() < MAX_NAME_LEN && is_lower_dns_subdomain(p))
        && is_label_name(name)
}

/// `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`: a label value, empty or a qualified name.
pub(crate) fn is_label_value(v: &str) -> bool {
    v.is_empty() || is_qualified_name(v)
}

/// A route or listener hostname: `^(\*\.)?<lower-case DNS subdomain>$`, at most 253 bytes.
pub(crate) fn check_hostname(h: &str, path: &dyn Display, report: &mut Report) {
    if h.len() > MAX_NAME_LEN {
        report.error(
            path,
            format!(
                "hostname of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                h.len()
            ),
        );
    } else if !is_route_hostname(h) {
        report.error(
            path,
            format!("hostname {h:?} is not valid; {HOSTNAME_RULE}"),
        );
    } else if is_ip_literal(h) {
        report.error(path, ip_hostname(h, "hostname"));
    }
}

/// A redirect or rewrite hostname (`PreciseHostname`): a lower-case DNS subdomain, no wildcard,
/// not an IP address.
pub(crate) fn check_precise_hostname(h: &str, what: &str, path: &dyn Display, report: &mut Report) {
    if is_ip_literal(h) {
        report.error(path, ip_hostname(h, what));
    } else {
        check_subdomain(h, what, path, report);
    }
}

/// The Gateway API `Hostname` and `PreciseHostname` types allow no IP addresses, though the
/// CRD pattern lets a dotted quad through.
fn ip_hostname(h: &str, what: &str) -> String {
    format!("{what} {h:?} is an IP address; the Gateway API allows only DNS names here")
}

pub(crate) fn is_route_hostname(h: &str) -> bool {
    is_lower_dns_subdomain(h.strip_prefix("*.").unwrap_or(h))
}

/// A lower-case DNS subdomain of at most 253 bytes (listener, rule and section names, redirect
/// hostnames).
pub(crate) fn check_subdomain(s: &str, what: &str, path: &dyn Display, report: &mut Report) {
    if s.len() > MAX_NAME_LEN {
        report.error(
            path,
            format!(
                "{what} of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                s.len()
            ),
        );
    } else if !is_lower_dns_subdomain(s) {
        report.error(path, format!("{what} {s:?} is not valid; {SUBDOMAIN_RULE}"));
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$` (no per-label limit).
fn is_lower_dns_subdomain(s: &str) -> bool {
    s.split('.').all(is_lower_dns_label_chars)
}

/// An API group: empty (core) or a lower-case DNS subdomain of at most 253 bytes.
pub(crate) fn check_group(g: &str, path: &dyn Display, report: &mut Report) {
    if g.len() > MAX_NAME_LEN {
        report.error(
            path,
            format!(
                "group of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                g.len()
            ),
        );
    } else if !g.is_empty() && !is_lower_dns_subdomain(g) {
        report.error(
            path,
            format!("group {g:?} is not valid; use \"\" for the core group, or {SUBDOMAIN_RULE}"),
        );
    }
}

/// `^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`, 1-63 bytes.
pub(crate) fn check_kind(k: &str, path: &dyn Display, report: &mut Report) {
    let b = k.as_bytes();
    let valid = !b.is_empty()
        && b.len() <= MAX_LABEL_LEN
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-');
    if !valid {
        report.error(path, format!("kind {k:?} is not valid; {KIND_RULE}"));
    }
}

/// An object name: required, at most 253 bytes.
pub(crate) fn check_object_name(name: &str, path: &dyn Display, report: &mut Report) {
    if name.is_empty() {
        report.error(path, "name is required");
    } else if name.len() > MAX_NAME_LEN {
        report.error(
            path,
            format!(
                "name of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                name.len()
            ),
        );
    }
}

/// A namespace: a lower-case DNS label of at most 63 bytes.
pub(crate) fn check_namespace(ns: &str, path: &dyn Display, report: &mut Report) {
    if ns.len() > MAX_LABEL_LEN || !is_lower_dns_label_chars(ns) {
        report.error(
            path,
            format!("namespace {ns:?} is not valid; {LOWER_LABEL_RULE}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_domain_syntax() {
        for ok in [
            "*",
            "*.foo.com",
            "*foo.com",
            "*-dev.foo.com",
            "foo.com.",
            "reviews",
            "Foo.COM",
        ] {
            assert_eq!(is_valid_wildcard_domain(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "foo.*",
            "foo.*.com",
            "*..",
            "a..b",
            "-a.com",
            "a.123",
            "**.a",
            "a_b.com",
        ] {
            assert!(is_valid_wildcard_domain(bad).is_err(), "{bad}");
        }
        let long_label = "a".repeat(64);
        assert_eq!(
            is_valid_wildcard_domain(&format!("{long_label}.com")),
            Err(format!(
                "\"{long_label}.com\" is not a valid domain name: label \"{long_label}\" must be \
                 1-63 letters, digits or '-', starting and ending with a letter or digit"
            ))
        );
        assert_eq!(
            is_valid_wildcard_domain(&"a.".repeat(128)),
            Err("domain name of 256 bytes is longer than the limit of 255".to_string())
        );
        assert_eq!(is_valid_fqdn("*.foo.com").map_err(|_| ()), Err(()));
    }

    #[test]
    fn host_overlap_follows_istio_matches() {
        let cases = [
            ("foo.com", "foo.com", true),
            ("foo.com", "bar.com", false),
            ("*.com", "foo.com", true),
            ("bar.com", "*.com", true),
            ("*.foo.com", "foo.com", false),
            ("*", "foo.com", true),
            ("*", "*.com", true),
            ("*.foo.bar", "*.bar", true),
            ("*.a.com", "*.b.com", false),
            ("*foo.com", "foo.com", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(hosts_overlap(a, b), want, "{a} / {b}");
            assert_eq!(hosts_overlap(b, a), want, "{b} / {a}");
        }
        assert!(host_subset_of("a.foo.com", "*.foo.com"));
        assert!(host_subset_of("*.a.foo.com", "*.foo.com"));
        assert!(!host_subset_of("*.foo.com", "*.a.foo.com"));
        assert!(!host_subset_of("*.foo.com", "a.foo.com"));
        assert!(host_subset_of("x.com", "*"));
    }

    #[test]
    fn ip_literals_and_subnets() {
        for ip in ["10.0.0.1", "::1", "fe80::1%eth0", "::ffff:1.2.3.4"] {
            assert!(is_ip_literal(ip), "{ip}");
        }
        for not in ["10.0.0", "01.2.3.4", "fe80::1%", "host"] {
            assert!(!is_ip_literal(not), "{not}");
        }
        for ok in ["10.0.0.0/8", "2001:db8::/32", "1.2.3.4"] {
            assert!(is_ip_or_cidr(ok), "{ok}");
        }
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/+8", "a/b/c"] {
            assert!(!is_ip_or_cidr(bad), "{bad}");
        }
    }
}
