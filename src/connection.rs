//! The connection as meshroute sees it: a borrowed view of one TLS or TCP connection, decided
//! by a table's `tls` and `tcp` rules ([`crate::Table::decide_connection`]) as the request view
//! ([`crate::Request`]) is decided by its `http` rules.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::request::DEFAULT_NAMESPACE;

/// The protocol a connection is routed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// TLS, routed by its SNI (VirtualService `tls` rules, Gateway API `TLSRoute`).
    Tls,
    /// Opaque TCP (VirtualService `tcp` rules, Gateway API `TCPRoute`).
    Tcp,
}

impl Protocol {
    /// `tls` or `tcp`, as the decide tool and explain write it.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tls => "tls",
            Protocol::Tcp => "tcp",
        }
    }
}

/// What a decision needs to know about a connection.
///
/// A proxy implements this over its own connection state; [`OwnedConnection`] is a small
/// owned implementation for tests and tools. Every method is called on the evaluation path, so
/// implementations must not allocate if the decision is to stay allocation-free.
pub trait Connection {
    /// How the connection is routed: by its SNI ([`Protocol::Tls`]) or as opaque TCP.
    fn protocol(&self) -> Protocol;
    /// The TLS ClientHello's server name, when it sent one.
    fn sni(&self) -> Option<&str> {
        None
    }
    /// The service the connection is addressed to, when the embedder knows it (the host whose
    /// address the client dialled; short names are read with the source namespace, as a
    /// request's host is). Without it, a TLS connection is bound by its SNI and a TCP
    /// connection by its destination address (a loaded Service's `clusterIP`).
    fn host(&self) -> Option<&str> {
        None
    }
    /// The original destination address.
    fn destination_ip(&self) -> Option<IpAddr> {
        None
    }
    /// The destination (listener) port.
    fn port(&self) -> u16;
    /// A label of the source workload.
    fn source_label(&self, _key: &str) -> Option<&str> {
        None
    }
    /// The namespace of the source workload ([`DEFAULT_NAMESPACE`] unless the embedder knows
    /// better).
    fn source_namespace(&self) -> &str {
        DEFAULT_NAMESPACE
    }
    /// The downstream IP address.
    fn source_ip(&self) -> Option<IpAddr> {
        None
    }
    /// The gateway the connection arrives at as `(namespace, name)`; `None` for a sidecar
    /// (`mesh`).
    fn gateway(&self) -> Option<(&str, &str)> {
        None
    }
}

/// An owned connection, for tests, tools and examples.
///
/// # Example
/// ```
/// use meshroute::{Connection, OwnedConnection, Protocol};
/// let c = OwnedConnection::tls("edition.cnn.com", 443).from_namespace("default");
/// assert_eq!(c.protocol(), Protocol::Tls);
/// assert_eq!(c.sni(), Some("edition.cnn.com"));
/// assert_eq!(c.port(), 443);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedConnection {
    /// Protocol.
    pub protocol: Protocol,
    /// SNI.
    pub sni: Option<String>,
    /// The service addressed.
    pub host: Option<String>,
    /// Destination address.
    pub destination_ip: Option<IpAddr>,
    /// Destination port.
    pub port: u16,
    /// Source workload labels.
    pub source_labels: BTreeMap<String, String>,
    /// Source namespace; `None` is [`DEFAULT_NAMESPACE`].
    pub source_namespace: Option<String>,
    /// Source IP.
    pub source_ip: Option<IpAddr>,
    /// Gateway `(namespace, name)`, `None` for the mesh.
    pub gateway: Option<(String, String)>,
}

impl OwnedConnection {
    /// A TLS connection with server name `sni` to `port`.
    pub fn tls(sni: &str, port: u16) -> OwnedConnection {
        OwnedConnection {
            sni: Some(sni.to_string()),
            ..OwnedConnection::tcp(port)
        }
        .with_protocol(Protocol::Tls)
    }

    /// A TCP connection to `port`.
    pub fn tcp(port: u16) -> OwnedConnection {
        OwnedConnection {
            protocol: Protocol::Tcp,
            sni: None,
            host: None,
            destination_ip: None,
            port,
            source_labels: BTreeMap::new(),
            source_namespace: None,
            source_ip: None,
            gateway: None,
        }
    }

    fn with_protocol(mut self, protocol: Protocol) -> OwnedConnection {
        self.protocol = protocol;
        self
    }

    /// Sets the service the connection is addressed to.
    pub fn to_host(mut self, host: &str) -> OwnedConnection {
        self.host = Some(host.to_string());
        self
    }

    /// Sets the destination address.
    pub fn to_ip(mut self, ip: IpAddr) -> OwnedConnection {
        self.destination_ip = Some(ip);
        self
    }

    /// Sets the gateway the connection arrives at.
    pub fn at_gateway(mut self, namespace: &str, name: &str) -> OwnedConnection {
        self.gateway = Some((namespace.to_string(), name.to_string()));
        self
    }

    /// Sets the source workload's namespace.
    pub fn from_namespace(mut self, namespace: &str) -> OwnedConnection {
        self.source_namespace = Some(namespace.to_string());
        self
    }

    /// Adds a source workload label.
    pub fn source_label(mut self, key: &str, value: &str) -> OwnedConnection {
        self.source_labels
            .insert(key.to_string(), value.to_string());
        self
    }
}

impl Connection for OwnedConnection {
    fn protocol(&self) -> Protocol {
        self.protocol
    }
    fn sni(&self) -> Option<&str> {
        self.sni.as_deref()
    }
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    fn destination_ip(&self) -> Option<IpAddr> {
        self.destination_ip
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn source_label(&self, key: &str) -> Option<&str> {
        self.source_labels.get(key).map(String::as_str)
    }
    fn source_namespace(&self) -> &str {
        self.source_namespace
            .as_deref()
            .unwrap_or(DEFAULT_NAMESPACE)
    }
    fn source_ip(&self) -> Option<IpAddr> {
        self.source_ip
    }
    fn gateway(&self) -> Option<(&str, &str)> {
        self.gateway
            .as_ref()
            .map(|(ns, name)| (ns.as_str(), name.as_str()))
    }
}

/// A request seen as the connection that carries it: for a mesh request on a port its service
/// declares `HTTPS` or `TLS`, where a sidecar's listener routes by SNI and never reads HTTP
/// ([`crate::table::Inner::tls_service`]). An `https` request is a TLS connection whose SNI
/// is the authority's host; any other is opaque TCP. The service is the authority's host, at
/// the request's port.
pub(crate) struct RequestConnection<'r, R: ?Sized>(pub(crate) &'r R);

impl<R: crate::Request + ?Sized> RequestConnection<'_, R> {
    fn authority_host(&self) -> &str {
        crate::request::split_port(self.0.authority()).0
    }
}

impl<R: crate::Request + ?Sized> Connection for RequestConnection<'_, R> {
    fn protocol(&self) -> Protocol {
        if self.0.scheme().eq_ignore_ascii_case("https") {
            Protocol::Tls
        } else {
            Protocol::Tcp
        }
    }
    fn sni(&self) -> Option<&str> {
        (self.protocol() == Protocol::Tls).then(|| self.authority_host())
    }
    fn host(&self) -> Option<&str> {
        Some(self.authority_host())
    }
    fn port(&self) -> u16 {
        crate::request::addressed_port(self.0)
    }
    fn source_label(&self, key: &str) -> Option<&str> {
        self.0.source_label(key)
    }
    fn source_namespace(&self) -> &str {
        self.0.source_namespace()
    }
    fn source_ip(&self) -> Option<IpAddr> {
        self.0.source_ip()
    }
}
