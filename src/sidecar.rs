//! Istio `Sidecar` scoping: which VirtualServices (and services) a client workload's proxy
//! sees, and what it does with a host outside its view.
//!
//! Selection follows istio/istio pilot/pkg/model/push_context.go `getSidecarScope`: in the
//! workload's namespace, the Sidecars with a `workloadSelector` that selects the workload's
//! labels, oldest first; then the namespace's Sidecar without a selector; then the root
//! namespace's Sidecar without a selector (the mesh default, read with the workload's
//! namespace for `.`); else no Sidecar, and the workload sees everything exported to it.
//!
//! A Sidecar's egress listener for the request's port (the one bound to that port, else the
//! catch-all listener without a port) imports `namespace/dnsName` hosts. A VirtualService is
//! in the view when, for its own namespace (or `*`), one of its hosts matches an imported
//! name (pilot/pkg/model/virtualservice.go `SelectVirtualServices`, sidecar.go
//! `hostClassification::VSMatches`: exact names compare equal; with a wildcard on either side
//! the names overlap, and Gateway API routes need their host inside the imported one).

use crate::balance::{Client, NameMap};
use crate::compile::names::{host_subset_of, hosts_overlap};
use crate::mesh::OutboundPolicy;

/// Every Sidecar of a table, in selection order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sidecars {
    /// Per namespace: those with a selector (oldest first), then those without.
    scopes: Vec<Scope>,
    /// Where each namespace's Sidecars are in `scopes`, for selection.
    by_namespace: NameMap<InNamespace>,
    /// The root namespace's Sidecar without a selector, the mesh default.
    root_default: Option<usize>,
    /// The hosts of each rule source (indexed by [`crate::Rule::source`]) and whether it is a
    /// Gateway API route, for egress imports.
    source_hosts: Vec<(Box<[Box<str>]>, bool)>,
}

/// One namespace's Sidecars, as indexes into [`Sidecars::scopes`].
#[derive(Clone, Debug, Default)]
struct InNamespace {
    /// Those with a selector, oldest first.
    selecting: Vec<u32>,
    /// The oldest without a selector.
    default: Option<u32>,
}

/// A workload selector's labels.
type Labels = Box<[(Box<str>, Box<str>)]>;

/// One Sidecar, lowered.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub(crate) namespace: Box<str>,
    pub(crate) name: Box<str>,
    selector: Option<Labels>,
    listeners: Box<[Listener]>,
    /// The Sidecar's own `outboundTrafficPolicy`, over the mesh's.
    pub(crate) outbound: Option<OutboundPolicy>,
}

/// One egress listener: the port it is bound to (`None`: the catch-all) and what it imports.
#[derive(Clone, Debug)]
pub(crate) struct Listener {
    pub(crate) port: Option<u16>,
    imports: Box<[Import]>,
}

/// One `namespace/dnsName` entry of an egress listener.
#[derive(Clone, Debug)]
pub(crate) struct Import {
    namespace: Namespaces,
    /// Lowercase; `*` imports every name.
    host: Box<str>,
}

/// The namespace part of an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Namespaces {
    /// `*`.
    Any,
    /// `.`: the workload's own namespace.
    Own,
    /// `~`: none.
    Nothing,
    /// A namespace by name.
    Named(Box<str>),
}

impl Import {
    /// `ns/host` as written (validated): the namespace part and the lowercase name.
    pub(crate) fn parse(entry: &str) -> Option<Import> {
        let (ns, host) = entry.split_once('/')?;
        let namespace = match ns {
            "*" => Namespaces::Any,
            "." => Namespaces::Own,
            "~" => Namespaces::Nothing,
            n => Namespaces::Named(n.into()),
        };
        Some(Import {
            namespace,
            host: host.to_ascii_lowercase().into(),
        })
    }

    fn covers_namespace(&self, ns: &str, workload_ns: &str) -> bool {
        match &self.namespace {
            Namespaces::Any => true,
            Namespaces::Own => ns == workload_ns,
            Namespaces::Nothing => false,
            Namespaces::Named(n) => **n == *ns,
        }
    }

    /// Whether a route host is imported (`VSMatches`).
    fn covers_route_host(&self, host: &str, gateway_semantics: bool) -> bool {
        let (mine, theirs) = (&*self.host, host);
        if mine == "*" || mine == theirs {
            return true;
        }
        if !mine.starts_with('*') && !theirs.starts_with('*') {
            return false;
        }
        if gateway_semantics {
            host_subset_of(theirs, mine)
        } else {
            hosts_overlap(theirs, mine)
        }
    }

    /// Whether a service host is imported (`hostClassification::Matches`: the service's name
    /// inside the imported one).
    fn covers_service_host(&self, host: &str) -> bool {
        &*self.host == "*" || *self.host == *host || host_subset_of(host, &self.host)
    }
}

impl Listener {
    pub(crate) fn new(port: Option<u16>, imports: Vec<Import>) -> Listener {
        Listener {
            port,
            imports: imports.into(),
        }
    }
}

impl Scope {
    pub(crate) fn new(
        namespace: &str,
        name: &str,
        selector: Option<Vec<(Box<str>, Box<str>)>>,
        listeners: Vec<Listener>,
        outbound: Option<OutboundPolicy>,
    ) -> Scope {
        Scope {
            namespace: namespace.into(),
            name: name.into(),
            selector: selector.map(Into::into),
            listeners: listeners.into(),
            outbound,
        }
    }

    /// Whether the Sidecar selects workloads by labels.
    pub(crate) fn has_selector(&self) -> bool {
        self.selector.is_some()
    }

    fn selects<W: Client + ?Sized>(&self, workload: &W) -> bool {
        self.selector
            .as_ref()
            .is_none_or(|labels| labels.iter().all(|(k, v)| workload.label(k) == Some(&**v)))
    }

    /// The egress listener for `port`: the one bound to it, else the catch-all.
    pub(crate) fn listener(&self, port: u16) -> Option<&Listener> {
        self.listeners
            .iter()
            .find(|l| l.port == Some(port))
            .or_else(|| self.listeners.iter().find(|l| l.port.is_none()))
    }
}

/// The Sidecar that applies to one request and its listener for the request's port.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    pub(crate) scope: &'a Scope,
    /// `None` when the Sidecar has no listener for the port: nothing is imported.
    pub(crate) listener: Option<&'a Listener>,
    sidecars: &'a Sidecars,
    workload_ns: &'a str,
}

impl View<'_> {
    /// Whether the rules of `source` (its namespace `source_ns`) are in the view.
    #[inline]
    pub(crate) fn admits_source(&self, source: u32, source_ns: &str) -> bool {
        let Some(listener) = self.listener else {
            return false;
        };
        let Some((hosts, gateway_semantics)) = self.sidecars.source_hosts.get(source as usize)
        else {
            return false;
        };
        listener.imports.iter().any(|i| {
            i.covers_namespace(source_ns, self.workload_ns)
                && hosts
                    .iter()
                    .any(|h| i.covers_route_host(h, *gateway_semantics))
        })
    }

    /// Whether a service (`host` defined in namespace `service_ns`) is in the view.
    pub(crate) fn admits_service(&self, host: &str, service_ns: &str) -> bool {
        self.listener.is_some_and(|l| {
            l.imports.iter().any(|i| {
                i.covers_namespace(service_ns, self.workload_ns) && i.covers_service_host(host)
            })
        })
    }
}

impl Sidecars {
    pub(crate) fn new(
        scopes: Vec<Scope>,
        root_default: Option<usize>,
        source_hosts: Vec<(Box<[Box<str>]>, bool)>,
    ) -> Sidecars {
        let mut by_namespace = NameMap::<InNamespace>::default();
        for (i, s) in scopes.iter().enumerate() {
            let entry = by_namespace.entry(s.namespace.clone()).or_default();
            match s.selector {
                Some(_) => entry.selecting.push(i as u32),
                None => {
                    entry.default.get_or_insert(i as u32);
                }
            }
        }
        Sidecars {
            scopes,
            by_namespace,
            root_default,
            source_hosts,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// The Sidecar that applies to `workload` (a request's or a connection's client), if any.
    #[inline]
    pub(crate) fn select<W: Client + ?Sized>(&self, workload: &W) -> Option<&Scope> {
        if self.scopes.is_empty() {
            return None;
        }
        let own = self.by_namespace.get(workload.namespace()).and_then(|n| {
            n.selecting
                .iter()
                .map(|&i| &self.scopes[i as usize])
                .find(|s| s.selects(workload))
                .or_else(|| n.default.map(|i| &self.scopes[i as usize]))
        });
        own.or_else(|| self.root_default.map(|i| &self.scopes[i]))
    }

    /// The view of `workload` (a request's or a connection's client), on `port`.
    #[inline]
    pub(crate) fn view<'a, W: Client + ?Sized>(
        &'a self,
        workload: &'a W,
        port: u16,
    ) -> Option<View<'a>> {
        let scope = self.select(workload)?;
        Some(View {
            scope,
            listener: scope.listener(port),
            sidecars: self,
            workload_ns: workload.namespace(),
        })
    }
}
