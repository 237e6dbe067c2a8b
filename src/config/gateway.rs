//! Istio `Gateway` (networking.istio.io v1, v1beta1, v1alpha3), field for field as in
//! istio/api `networking/v1alpha3/gateway.proto`. The Gateway API resource of the same kind
//! (gateway.networking.k8s.io) is a different type; dispatch on the apiVersion group.
//!
//! Every field is optional or defaulted so that presence is kept (a `tls: {}` block changes
//! what Istio accepts). Enumerations are kept as the strings written and checked by validation.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `spec` of an Istio Gateway: the listeners of a gateway proxy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct IstioGatewaySpec {
    /// The listeners; at least one is required.
    #[serde(default)]
    pub servers: Vec<Option<Server>>,
    /// Labels of the gateway pods the configuration applies to.
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
}

/// A listener (`spec.servers[]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Server {
    /// Port, protocol and name of the listener. Required.
    pub port: Option<ServerPort>,
    /// Address to bind to: an IP, or `unix://path` / `unix://@abstract` (then port 0).
    pub bind: Option<String>,
    /// Hosts exposed by the listener: `[namespace/]dnsName`, `*` wildcards in the first label.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// TLS settings (required for HTTPS and TLS ports).
    pub tls: Option<ServerTlsSettings>,
    /// Where traffic goes when no route matches (`127.0.0.1:PORT` or `unix://...`).
    pub default_endpoint: Option<String>,
    /// Optional listener name (for status and references).
    pub name: Option<String>,
}

/// `servers[].port`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerPort {
    /// Port number, 1..=65535 (0 with a unix-socket bind). Required.
    pub number: Option<i64>,
    /// `HTTP`, `HTTPS`, `GRPC`, `GRPC-WEB`, `HTTP2`, `MONGO`, `MYSQL`, `REDIS`, `TCP` or `TLS`
    /// (case-insensitive). Required.
    pub protocol: Option<String>,
    /// Port name, unique within the gateway. Required.
    pub name: Option<String>,
    /// Deprecated and rejected on gateways.
    pub target_port: Option<i64>,
}

/// `servers[].tls`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerTlsSettings {
    /// Answer plain HTTP requests with a 301 redirect to HTTPS.
    pub https_redirect: Option<bool>,
    /// `PASSTHROUGH` (default), `SIMPLE`, `MUTUAL`, `AUTO_PASSTHROUGH`, `ISTIO_MUTUAL` or
    /// `OPTIONAL_MUTUAL`.
    pub mode: Option<String>,
    /// Server certificate file.
    pub server_certificate: Option<String>,
    /// Private key file.
    pub private_key: Option<String>,
    /// CA bundle used to verify client certificates.
    pub ca_certificates: Option<String>,
    /// Certificate revocation list file.
    pub ca_crl: Option<String>,
    /// Secret holding the server certificate (and optionally the CA).
    pub credential_name: Option<String>,
    /// One or two secrets (e.g. RSA and ECDSA certificates).
    #[serde(default)]
    pub credential_names: Vec<String>,
    /// Secret holding only the CA certificate.
    pub ca_cert_credential_name: Option<String>,
    /// One or two certificate/key file pairs.
    #[serde(default)]
    pub tls_certificates: Vec<ServerTlsCertificate>,
    /// Names a client certificate must carry.
    #[serde(default)]
    pub subject_alt_names: Vec<String>,
    /// Accepted SPKI hashes of client certificates.
    #[serde(default)]
    pub verify_certificate_spki: Vec<String>,
    /// Accepted hashes of client certificates.
    #[serde(default)]
    pub verify_certificate_hash: Vec<String>,
    /// `TLS_AUTO`, `TLSV1_0`, `TLSV1_1`, `TLSV1_2` or `TLSV1_3`.
    pub min_protocol_version: Option<String>,
    /// `TLS_AUTO`, `TLSV1_0`, `TLSV1_1`, `TLSV1_2` or `TLSV1_3`.
    pub max_protocol_version: Option<String>,
    /// Cipher suites (OpenSSL names).
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    /// Skip verification of client certificates.
    pub insecure_skip_verify: Option<bool>,
}

/// An entry of `tls.tlsCertificates`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerTlsCertificate {
    /// Server certificate file.
    pub server_certificate: Option<String>,
    /// Private key file.
    pub private_key: Option<String>,
    /// CA bundle used to verify client certificates.
    pub ca_certificates: Option<String>,
}
