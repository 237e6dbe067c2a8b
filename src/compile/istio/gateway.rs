//! Validation of an Istio `Gateway` (networking.istio.io), rule for rule as Istio's admission
//! webhook (`ValidateGateway`, `validateServer`, `validateServerPort`, `validateServerBind`,
//! `validateTLSOptions`) plus the CRD schema's required fields.
//!
//! The resource name (a DNS-1123 label for Istio Gateways) is metadata and is checked by the
//! loader, not here.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;

use crate::compile::names::{is_dns1123_label, is_ip_literal, is_valid_wildcard_domain};
use crate::compile::report::Report;
use crate::compile::values::{check_count, check_enum, is_set, limit};
use crate::config::gateway::{IstioGatewaySpec, Server, ServerPort, ServerTlsSettings};

/// Cipher suites Istio accepts on gateway servers (BoringSSL names, without PSK suites).
const CIPHER_SUITES: [&str; 15] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

const TLS_MODES: [&str; 6] = [
    "PASSTHROUGH",
    "SIMPLE",
    "MUTUAL",
    "AUTO_PASSTHROUGH",
    "ISTIO_MUTUAL",
    "OPTIONAL_MUTUAL",
];

const TLS_VERSIONS: [&str; 5] = ["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"];

const UNIX_PREFIX: &str = "unix://";

/// A server port protocol, parsed case-insensitively as Istio's `protocol.Parse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Tcp,
    Udp,
    Grpc,
    GrpcWeb,
    Http,
    HttpProxy,
    Http2,
    Https,
    Tls,
    Mongo,
    Redis,
    MySql,
    Unsupported,
}

impl Protocol {
    pub(crate) fn parse(s: &str) -> Protocol {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "grpc" => Protocol::Grpc,
            "grpc-web" => Protocol::GrpcWeb,
            "http" => Protocol::Http,
            "http_proxy" => Protocol::HttpProxy,
            "http2" => Protocol::Http2,
            "https" => Protocol::Https,
            "tls" => Protocol::Tls,
            "mongo" => Protocol::Mongo,
            "redis" => Protocol::Redis,
            "mysql" => Protocol::MySql,
            _ => Protocol::Unsupported,
        }
    }

    pub(crate) fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http
                | Protocol::Http2
                | Protocol::HttpProxy
                | Protocol::Grpc
                | Protocol::GrpcWeb
        )
    }

    pub(crate) fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }
}

/// Validates the `spec` of an Istio Gateway, recording every problem in `report` with its
/// field path (`spec.…`).
pub(crate) fn validate_istio_gateway(spec: &IstioGatewaySpec, report: &mut Report) {
    if spec.servers.is_empty() {
        report.error(
            "spec.servers",
            "gateway has no servers; at least one is required",
        );
        return;
    }
    let mut port_names: HashMap<&str, usize> = HashMap::new();
    for (i, server) in spec.servers.iter().enumerate() {
        let path = format_args!("spec.servers[{i}]");
        let Some(server) = server else {
            report.error(path, "server is null; remove the entry or fill it in");
            continue;
        };
        validate_server(server, &path, report);
        let Some(port) = &server.port else { continue };
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            if let Some(first) = port_names.get(name) {
                report.error(
                    format!("{path}.port.name"),
                    format!(
                        "duplicate port name {name:?} (also used by spec.servers[{first}]); port \
                         names must be unique within a gateway"
                    ),
                );
            } else {
                port_names.insert(name, i);
            }
        }
        let protocol = Protocol::parse(port.protocol.as_deref().unwrap_or(""));
        if !protocol.is_http() && server.tls.as_ref().and_then(|t| t.https_redirect) == Some(true) {
            report.warn(
                "ineffective-field",
                format!("{path}.tls.httpsRedirect"),
                "httpsRedirect only has an effect on HTTP servers",
            );
        }
    }
}

fn validate_server(server: &Server, path: &dyn Display, report: &mut Report) {
    if server.hosts.is_empty() {
        report.error(
            format!("{path}.hosts"),
            "server has no hosts; at least one is required",
        );
    }
    check_count(
        server.hosts.len(),
        limit!(MAX_HOSTS),
        "hosts",
        &format_args!("{path}.hosts"),
        report,
    );
    for (j, host) in server.hosts.iter().enumerate() {
        for message in check_gateway_host(host) {
            report.error(format!("{path}.hosts[{j}]"), message);
        }
    }
    let bind = server.bind.as_deref().unwrap_or("");
    let errors_before = report.errors.len();
    server_port(
        server.port.as_ref(),
        bind,
        &format_args!("{path}.port"),
        report,
    );
    let port_ok = report.errors.len() == errors_before;
    server_bind(server.port.as_ref(), bind, path, report);
    if let Some(tls) = &server.tls {
        tls_options(tls, &format_args!("{path}.tls"), report);
    }

    // The protocol decides whether TLS settings are required, allowed or refused.
    let Some(port) = server.port.as_ref().filter(|_| port_ok) else {
        return;
    };
    let protocol_name = port.protocol.as_deref().unwrap_or("");
    let protocol = Protocol::parse(protocol_name);
    match &server.tls {
        None if protocol.is_tls() => report.error(
            format!("{path}.tls"),
            format!(
                "server with protocol {protocol_name} needs tls settings (HTTPS and TLS ports \
                 terminate or pass through TLS)"
            ),
        ),
        Some(tls) if !protocol.is_tls() => {
            if protocol.is_http() {
                let passthrough = matches!(
                    tls.mode.as_deref(),
                    None | Some("PASSTHROUGH" | "AUTO_PASSTHROUGH")
                );
                if !passthrough
                    || is_set(&tls.ca_certificates)
                    || is_set(&tls.private_key)
                    || is_set(&tls.server_certificate)
                {
                    report.error(
                        format!("{path}.tls"),
                        format!(
                            "server with plain-text protocol {protocol_name} cannot have TLS \
                             settings (only httpsRedirect); use HTTPS to terminate TLS"
                        ),
                    );
                }
            } else {
                report.error(
                    format!("{path}.tls"),
                    format!(
                        "server with protocol {protocol_name} cannot have TLS settings; only \
                         HTTPS and TLS ports can"
                    ),
                );
            }
        }
        _ => {}
    }
}

fn server_port(port: Option<&ServerPort>, bind: &str, path: &dyn Display, report: &mut Report) {
    let Some(port) = port else {
        report.error(path, "port is required");
        return;
    };
    match port.protocol.as_deref() {
        None => report.error(format!("{path}.protocol"), "port protocol is required"),
        Some(p) => {
            if Protocol::parse(p) == Protocol::Unsupported {
                report.error(
                    format!("{path}.protocol"),
                    format!(
                        "protocol {p:?} is not supported; use one of HTTP, HTTPS, HTTP2, GRPC, \
                         GRPC-WEB, TCP, TLS, MONGO, REDIS, MYSQL"
                    ),
                );
            }
        }
    }
    match port.number {
        None => report.error(format!("{path}.number"), "port number is required"),
        Some(n) => {
            if (n > 0 || !bind.starts_with(UNIX_PREFIX)) && !(1..=65535).contains(&n) {
                report.error(
                    format!("{path}.number"),
                    format!("port number {n} must be in the range 1..65535"),
                );
            }
        }
    }
    if let Some(t) = port.target_port
        && t != 0
    {
        report.error(
            format!("{path}.targetPort"),
            format!("targetPort {t} has no effect on gateways; remove it"),
        );
    }
    if port.name.as_deref().unwrap_or("").is_empty() {
        report.error(format!("{path}.name"), "port name is required");
    }
}

fn server_bind(port: Option<&ServerPort>, bind: &str, path: &dyn Display, report: &mut Report) {
    if let Some(socket) = bind.strip_prefix(UNIX_PREFIX) {
        if socket.is_empty() {
            report.error(
                format!("{path}.bind"),
                "unix domain socket address is empty",
            );
        } else if !socket.starts_with('@') && (!socket.starts_with('/') || socket.ends_with('/')) {
            report.error(
                format!("{path}.bind"),
                format!(
                    "unix domain socket {socket:?} is not an absolute path to a file (or an \
                     @abstract name)"
                ),
            );
        }
        if let Some(n) = port.and_then(|p| p.number)
            && n != 0
        {
            report.error(
                format!("{path}.port.number"),
                format!("port number {n} must be 0 when binding to a unix domain socket"),
            );
        }
    } else if !bind.is_empty() && !is_ip_literal(bind) {
        report.error(
            format!("{path}.bind"),
            format!("bind address {bind:?} is not an IP address"),
        );
    }
}

fn tls_options(tls: &ServerTlsSettings, path: &dyn Display, report: &mut Report) {
    let mode = tls_versions_and_mode(tls, path, report);
    cipher_suites(tls, path, report);
    certificate_counts(tls, path, report);
    let mode = mode.unwrap_or(if tls.mode.is_none() {
        "PASSTHROUGH"
    } else {
        ""
    });
    if mode == "ISTIO_MUTUAL" {
        istio_mutual_certificates(tls, path, report);
        return;
    }
    certificate_sources(tls, mode, path, report);
    let terminates = matches!(mode, "SIMPLE" | "MUTUAL" | "OPTIONAL_MUTUAL");
    if terminates && (is_set(&tls.credential_name) || !tls.credential_names.is_empty()) {
        // Certificates (and the CA) come from the secret.
        return;
    }
    if terminates {
        terminating_certificates(tls, mode, path, report);
    }
    if is_set(&tls.ca_crl) {
        if is_set(&tls.credential_name) {
            report.error(
                format!("{path}.caCrl"),
                "caCrl cannot be used with credentialName; put the CRL in the credential",
            );
        }
        if mode == "SIMPLE" {
            report.error(
                format!("{path}.caCrl"),
                "caCrl cannot be used with mode SIMPLE",
            );
        }
    }
}

/// Checks the mode and protocol versions against their enums (and old versions without
/// cipher suites); returns the mode when it is a known one.
fn tls_versions_and_mode<'t>(
    tls: &'t ServerTlsSettings,
    path: &dyn Display,
    report: &mut Report,
) -> Option<&'t str> {
    let mode = check_enum(
        report,
        &format_args!("{path}.mode"),
        tls.mode.as_deref(),
        "TLS mode",
        &TLS_MODES,
    );
    let min_version = check_enum(
        report,
        &format_args!("{path}.minProtocolVersion"),
        tls.min_protocol_version.as_deref(),
        "TLS protocol version",
        &TLS_VERSIONS,
    );
    check_enum(
        report,
        &format_args!("{path}.maxProtocolVersion"),
        tls.max_protocol_version.as_deref(),
        "TLS protocol version",
        &TLS_VERSIONS,
    );
    if matches!(min_version, Some("TLSV1_0" | "TLSV1_1")) && tls.cipher_suites.is_empty() {
        report.warn(
            "tls-version-without-ciphers",
            format!("{path}.cipherSuites"),
            "TLS versions below 1.2 need cipherSuites set: the default suites no longer \
             include compatible ones",
        );
    }
    mode
}

/// Unknown and repeated cipher suites are ignored, with a warning.
fn cipher_suites(tls: &ServerTlsSettings, path: &dyn Display, report: &mut Report) {
    let mut valid: HashSet<&str> = HashSet::new();
    for (i, suite) in tls.cipher_suites.iter().enumerate() {
        let sp = format!("{path}.cipherSuites[{i}]");
        if !is_valid_cipher_suite(suite) {
            report.warn(
                "invalid-cipher-suite",
                sp,
                format!("unknown cipher suite {suite:?} is ignored"),
            );
        } else if !valid.insert(suite) {
            report.warn(
                "duplicate-cipher-suite",
                sp,
                format!("duplicate cipher suite {suite:?} is ignored"),
            );
        }
    }
}

/// At most two credentialNames and two tlsCertificates.
fn certificate_counts(tls: &ServerTlsSettings, path: &dyn Display, report: &mut Report) {
    if tls.credential_names.len() > 2 {
        report.error(
            format!("{path}.credentialNames"),
            format!(
                "{} credentialNames are set; at most 2 are allowed",
                tls.credential_names.len()
            ),
        );
    }
    if tls.tls_certificates.len() > 2 {
        report.error(
            format!("{path}.tlsCertificates"),
            format!(
                "{} tlsCertificates are set; at most 2 are allowed",
                tls.tls_certificates.len()
            ),
        );
    }
}

/// Mode ISTIO_MUTUAL uses the mesh's certificates: no certificate field may be set.
fn istio_mutual_certificates(tls: &ServerTlsSettings, path: &dyn Display, report: &mut Report) {
    for (field, set) in [
        ("serverCertificate", is_set(&tls.server_certificate)),
        ("privateKey", is_set(&tls.private_key)),
        ("caCertificates", is_set(&tls.ca_certificates)),
        ("tlsCertificates", !tls.tls_certificates.is_empty()),
        ("credentialName", is_set(&tls.credential_name)),
        ("credentialNames", !tls.credential_names.is_empty()),
    ] {
        if set {
            report.error(
                format!("{path}.{field}"),
                format!(
                    "mode ISTIO_MUTUAL uses the mesh's own certificates; {field} cannot be set"
                ),
            );
        }
    }
}

/// Certificates set in a passthrough mode are ignored (a warning); at most one certificate
/// source may be set.
fn certificate_sources(
    tls: &ServerTlsSettings,
    mode: &str,
    path: &dyn Display,
    report: &mut Report,
) {
    let files = is_set(&tls.ca_crl)
        || is_set(&tls.server_certificate)
        || is_set(&tls.private_key)
        || is_set(&tls.ca_certificates)
        || !tls.tls_certificates.is_empty()
        || is_set(&tls.credential_name)
        || !tls.credential_names.is_empty();
    if matches!(mode, "PASSTHROUGH" | "AUTO_PASSTHROUGH") && files {
        report.warn(
            "ineffective-field",
            path,
            format!("mode {mode} does not use certificates; they are ignored"),
        );
    }

    let sources = [
        ("credentialName", is_set(&tls.credential_name)),
        ("credentialNames", !tls.credential_names.is_empty()),
        (
            "serverCertificate/privateKey",
            is_set(&tls.server_certificate) && is_set(&tls.private_key),
        ),
        ("tlsCertificates", !tls.tls_certificates.is_empty()),
    ];
    let found: Vec<&str> = sources
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect();
    if found.len() > 1 {
        report.error(
            path,
            format!(
                "only one certificate source can be set; found {}",
                found.join(" and ")
            ),
        );
    }
}

/// A terminating mode without a credential: the files it needs (the client CA for mutual
/// modes, and each certificate and key).
fn terminating_certificates(
    tls: &ServerTlsSettings,
    mode: &str,
    path: &dyn Display,
    report: &mut Report,
) {
    if mode != "SIMPLE" && !is_set(&tls.ca_certificates) {
        report.error(
            format!("{path}.caCertificates"),
            format!("mode {mode} needs caCertificates (a client CA bundle) or credentialName"),
        );
    }
    if tls.tls_certificates.is_empty() {
        certificate_pair(
            mode,
            &tls.server_certificate,
            &tls.private_key,
            path,
            report,
        );
    } else {
        for (i, cert) in tls.tls_certificates.iter().enumerate() {
            certificate_pair(
                mode,
                &cert.server_certificate,
                &cert.private_key,
                &format_args!("{path}.tlsCertificates[{i}]"),
                report,
            );
        }
    }
}

fn certificate_pair(
    mode: &str,
    certificate: &Option<String>,
    key: &Option<String>,
    path: &dyn Display,
    report: &mut Report,
) {
    if !is_set(certificate) {
        report.error(
            format!("{path}.serverCertificate"),
            format!("mode {mode} needs a server certificate (serverCertificate or credentialName)"),
        );
    }
    if !is_set(key) {
        report.error(
            format!("{path}.privateKey"),
            format!("mode {mode} needs a private key (privateKey or credentialName)"),
        );
    }
}

/// Istio's `ValidateNamespaceSlashWildcardHostname` for gateways: `[namespace/]dnsName`.
fn check_gateway_host(host: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let name = match host.split_once('/') {
        None => host,
        Some((namespace, name)) => {
            if namespace.is_empty() || name.is_empty() {
                errors.push(format!(
                    "host {host:?} has an empty namespace or name around '/'"
                ));
            }
            if namespace != "*" && namespace != "." && !is_dns1123_label(namespace) {
                errors.push(format!(
                    "host {host:?} has an invalid namespace {namespace:?}; use \"*\", \".\" or a \
                     namespace name"
                ));
            }
            name
        }
    };
    if name != "*" && !name.contains('.') {
        errors.push(format!(
            "host {name:?} is a short name; gateway hosts must be fully qualified (contain a \
             '.') or \"*\""
        ));
    }
    if let Err(message) = is_valid_wildcard_domain(name)
        && !is_ip_literal(name)
    {
        errors.push(message);
    }
    if name.contains('*') && name.len() != 1 && !name.starts_with("*.") {
        errors.push(format!(
            "partial wildcard {name:?} is not allowed; a wildcard must be the whole first label \
             (\"*.example.com\")"
        ));
    }
    errors
}

/// Istio's `IsValidCipherSuite`: a known suite, `ALL`, empty, or an expression starting with an
/// operator such as `-` or `+` (not parsed).
fn is_valid_cipher_suite(suite: &str) -> bool {
    match suite.chars().next() {
        None => true,
        Some(c) if !c.is_alphanumeric() => true,
        Some(_) => suite == "ALL" || CIPHER_SUITES.contains(&suite),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::report::validate_yaml;

    fn validate(yaml: &str) -> Report {
        validate_yaml(yaml, validate_istio_gateway)
    }

    fn errors(yaml: &str) -> Vec<(String, String)> {
        validate(yaml).errors
    }

    /// A gateway with one server (flow-style YAML fields of the server).
    fn server(fields: &str) -> Vec<(String, String)> {
        errors(&format!("{{servers: [{{{fields}}}]}}"))
    }

    fn pair(path: &str, message: &str) -> (String, String) {
        (path.to_string(), message.to_string())
    }

    #[test]
    fn bookinfo_gateway_is_valid() {
        let report = validate(
            r#"
selector:
  istio: ingressgateway
servers:
- port: {number: 80, name: http, protocol: HTTP}
  hosts: ["*"]
  tls: {httpsRedirect: true}
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: [bookinfo/bookinfo.example.com, "./*.example.com", "*/10.0.0.1"]
  tls: {mode: SIMPLE, credentialName: bookinfo-cert, minProtocolVersion: TLSV1_2}
- port: {number: 15443, name: tls, protocol: TLS}
  hosts: ["*.local"]
  tls: {mode: AUTO_PASSTHROUGH}
- port: {number: 0, name: uds, protocol: grpc}
  bind: unix://@gateway
  hosts: [example.com]
"#,
        );
        assert_eq!(report.errors, vec![]);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }

    #[test]
    fn gateway_needs_servers() {
        assert_eq!(
            errors("selector: {istio: ingressgateway}"),
            vec![pair(
                "spec.servers",
                "gateway has no servers; at least one is required"
            )]
        );
        assert_eq!(
            errors("servers: [null]"),
            vec![pair(
                "spec.servers[0]",
                "server is null; remove the entry or fill it in"
            )]
        );
    }

    #[test]
    fn port_rules() {
        assert_eq!(
            server("port: {number: 66000, name: p, protocol: HTTP}, hosts: [a.com]"),
            vec![pair(
                "spec.servers[0].port.number",
                "port number 66000 must be in the range 1..65535"
            )]
        );
        assert_eq!(
            server("port: {number: 80, protocol: HTTP}, hosts: [a.com]"),
            vec![pair("spec.servers[0].port.name", "port name is required")]
        );
        assert_eq!(
            server("port: {number: 1, name: p, protocol: kafka}, hosts: [a.com]"),
            vec![pair(
                "spec.servers[0].port.protocol",
                "protocol \"kafka\" is not supported; use one of HTTP, HTTPS, HTTP2, GRPC, \
                 GRPC-WEB, TCP, TLS, MONGO, REDIS, MYSQL"
            )]
        );
        assert_eq!(
            server("port: {number: 80, name: p, protocol: http, targetPort: 8080}, hosts: [a.com]"),
            vec![pair(
                "spec.servers[0].port.targetPort",
                "targetPort 8080 has no effect on gateways; remove it"
            )]
        );
        assert_eq!(
            server("hosts: [a.com]"),
            vec![pair("spec.servers[0].port", "port is required")]
        );
    }

    #[test]
    fn port_names_are_unique() {
        assert_eq!(
            errors(
                "servers: [{port: {number: 80, name: foo, protocol: HTTP}, hosts: [a.com]}, \
                 {port: {number: 81, name: foo, protocol: HTTP}, hosts: [b.com]}]"
            ),
            vec![pair(
                "spec.servers[1].port.name",
                "duplicate port name \"foo\" (also used by spec.servers[0]); port names must be \
                 unique within a gateway"
            )]
        );
    }

    #[test]
    fn host_rules() {
        let host = |h: &str| {
            server(&format!(
                "port: {{number: 80, name: p, protocol: HTTP}}, hosts: ['{h}']"
            ))
        };
        for ok in [
            "*",
            "*.example.com",
            "example.com",
            "ns/example.com",
            "*/*",
            "./a.b",
            "10.1.2.3",
        ] {
            assert_eq!(host(ok), vec![], "{ok}");
        }
        let path = "spec.servers[0].hosts[0]";
        assert_eq!(
            host("foo"),
            vec![pair(
                path,
                "host \"foo\" is a short name; gateway hosts must be fully qualified (contain a \
                 '.') or \"*\""
            )]
        );
        assert_eq!(
            host("*bar.com"),
            vec![pair(
                path,
                "partial wildcard \"*bar.com\" is not allowed; a wildcard must be the whole first \
                 label (\"*.example.com\")"
            )]
        );
        assert_eq!(
            host("~/foo.bar.com"),
            vec![pair(
                path,
                "host \"~/foo.bar.com\" has an invalid namespace \"~\"; use \"*\", \".\" or a \
                 namespace name"
            )]
        );
        // The first message comes from the domain check shared with the VirtualService validator.
        let errors = host("foo.*.bar.com");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].0, path);
        assert!(errors[0].1.contains("\"foo.*.bar.com\""), "{errors:?}");
        assert_eq!(
            errors[1],
            pair(
                path,
                "partial wildcard \"foo.*.bar.com\" is not allowed; a wildcard must be the whole \
                 first label (\"*.example.com\")"
            )
        );
        assert_eq!(
            server("port: {number: 80, name: p, protocol: HTTP}"),
            vec![pair(
                "spec.servers[0].hosts",
                "server has no hosts; at least one is required"
            )]
        );
    }

    #[test]
    fn protocol_decides_tls() {
        assert_eq!(
            server("port: {number: 443, name: p, protocol: https}, hosts: [a.com]"),
            vec![pair(
                "spec.servers[0].tls",
                "server with protocol https needs tls settings (HTTPS and TLS ports terminate or \
                 pass through TLS)"
            )]
        );
        assert_eq!(
            server(
                "port: {number: 80, name: p, protocol: HTTP}, hosts: [a.com], \
                 tls: {mode: SIMPLE, credentialName: c}"
            ),
            vec![pair(
                "spec.servers[0].tls",
                "server with plain-text protocol HTTP cannot have TLS settings (only \
                 httpsRedirect); use HTTPS to terminate TLS"
            )]
        );
        assert_eq!(
            server("port: {number: 9000, name: p, protocol: TCP}, hosts: [a.com], tls: {}"),
            vec![pair(
                "spec.servers[0].tls",
                "server with protocol TCP cannot have TLS settings; only HTTPS and TLS ports can"
            )]
        );
        // No protocol check when the port itself is wrong.
        assert_eq!(
            server("port: {number: 443, protocol: HTTPS}, hosts: [a.com]"),
            vec![pair("spec.servers[0].port.name", "port name is required")]
        );
    }

    #[test]
    fn bind_rules() {
        let bind = |b: &str, n: u32| {
            server(&format!(
                "port: {{number: {n}, name: p, protocol: HTTP}}, hosts: [a.com], bind: '{b}'"
            ))
        };
        assert_eq!(bind("10.0.0.1", 80), vec![]);
        assert_eq!(bind("fe80::1%eth0", 80), vec![]);
        assert_eq!(bind("unix:///var/run/gw.sock", 0), vec![]);
        assert_eq!(
            bind("unix://@foobar", 7),
            vec![pair(
                "spec.servers[0].port.number",
                "port number 7 must be 0 when binding to a unix domain socket"
            )]
        );
        assert_eq!(
            bind("foo.bar", 80),
            vec![pair(
                "spec.servers[0].bind",
                "bind address \"foo.bar\" is not an IP address"
            )]
        );
        assert_eq!(
            bind("unix://var/gw.sock", 0),
            vec![pair(
                "spec.servers[0].bind",
                "unix domain socket \"var/gw.sock\" is not an absolute path to a file (or an \
                 @abstract name)"
            )]
        );
        assert_eq!(
            bind("10.0.0.1", 0),
            vec![pair(
                "spec.servers[0].port.number",
                "port number 0 must be in the range 1..65535"
            )]
        );
    }

    /// Errors of an HTTPS server with the given `tls` block.
    fn tls(block: &str) -> Vec<(String, String)> {
        server(&format!(
            "port: {{number: 443, name: p, protocol: HTTPS}}, hosts: [a.com], tls: {block}"
        ))
    }

    #[test]
    fn tls_certificate_sources() {
        let path = "spec.servers[0].tls";
        assert_eq!(
            tls("{mode: SIMPLE, serverCertificate: c, privateKey: k}"),
            vec![]
        );
        assert_eq!(tls("{mode: MUTUAL, credentialName: c}"), vec![]);
        assert_eq!(
            tls("{mode: SIMPLE, privateKey: k}"),
            vec![pair(
                &format!("{path}.serverCertificate"),
                "mode SIMPLE needs a server certificate (serverCertificate or credentialName)"
            )]
        );
        assert_eq!(
            tls("{mode: MUTUAL, serverCertificate: c, privateKey: k}"),
            vec![pair(
                &format!("{path}.caCertificates"),
                "mode MUTUAL needs caCertificates (a client CA bundle) or credentialName"
            )]
        );
        assert_eq!(
            tls("{mode: SIMPLE, serverCertificate: c, privateKey: k, credentialName: s}"),
            vec![pair(
                path,
                "only one certificate source can be set; found credentialName and \
                 serverCertificate/privateKey"
            )]
        );
        assert_eq!(
            tls("{mode: SIMPLE, tlsCertificates: [{serverCertificate: c}]}"),
            vec![pair(
                &format!("{path}.tlsCertificates[0].privateKey"),
                "mode SIMPLE needs a private key (privateKey or credentialName)"
            )]
        );
        assert_eq!(
            tls("{mode: ISTIO_MUTUAL, serverCertificate: c}"),
            vec![pair(
                &format!("{path}.serverCertificate"),
                "mode ISTIO_MUTUAL uses the mesh's own certificates; serverCertificate cannot be \
                 set"
            )]
        );
        assert_eq!(
            tls("{mode: SIMPLE, serverCertificate: c, privateKey: k, caCrl: crl}"),
            vec![pair(
                &format!("{path}.caCrl"),
                "caCrl cannot be used with mode SIMPLE"
            )]
        );
        assert_eq!(
            tls("{mode: simple}"),
            vec![pair(
                &format!("{path}.mode"),
                "\"simple\" is not a known TLS mode; expected one of PASSTHROUGH, SIMPLE, MUTUAL, \
                 AUTO_PASSTHROUGH, ISTIO_MUTUAL, OPTIONAL_MUTUAL"
            )]
        );
    }

    #[test]
    fn tls_warnings() {
        let report = validate(
            "servers: [{port: {number: 443, name: p, protocol: HTTPS}, hosts: [a.com], \
             tls: {mode: SIMPLE, credentialName: c, httpsRedirect: true, \
             minProtocolVersion: TLSV1_0, \
             cipherSuites: [ECDHE-RSA-AES128-SHA, NOPE, ECDHE-RSA-AES128-SHA, '-ALL']}}]",
        );
        assert_eq!(report.errors, vec![]);
        let codes: Vec<(&str, &str)> = report
            .warnings
            .iter()
            .map(|(code, path, _)| (*code, path.as_str()))
            .collect();
        assert_eq!(
            codes,
            vec![
                (
                    "invalid-cipher-suite",
                    "spec.servers[0].tls.cipherSuites[1]"
                ),
                (
                    "duplicate-cipher-suite",
                    "spec.servers[0].tls.cipherSuites[2]"
                ),
                ("ineffective-field", "spec.servers[0].tls.httpsRedirect"),
            ]
        );
        let report = validate(
            "servers: [{port: {number: 443, name: p, protocol: TLS}, hosts: [a.com], \
             tls: {mode: PASSTHROUGH, minProtocolVersion: TLSV1_1, serverCertificate: c}}]",
        );
        assert_eq!(report.errors, vec![]);
        let codes: Vec<&str> = report.warnings.iter().map(|(code, _, _)| *code).collect();
        assert_eq!(
            codes,
            vec!["tls-version-without-ciphers", "ineffective-field"]
        );
    }
}
