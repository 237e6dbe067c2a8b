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
    /// The hosts of each rule source (indexed by [`crate::Rule::source`]), for egress imports.
    sources: Vec<SourceHosts>,
}

/// What an egress import reads of one rule source (a VirtualService or a route).
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceHosts {
    /// The resource's namespace.
    pub(crate) namespace: Box<str>,
    /// Its hosts (a VirtualService's, expanded; a route's Service parents).
    pub(crate) hosts: Box<[Box<str>]>,
    /// Whether it is a Gateway API route (its hosts must lie inside an imported name).
    pub(crate) gateway_semantics: bool,
}

/// [`Listener::verdicts`] bits: the source is imported by an import of namespace `*`.
const BY_ANY: u8 = 1;
/// By an import of namespace `.`, when the source is in the workload's namespace.
const BY_OWN: u8 = 2;
/// By an import naming the source's namespace.
const BY_NAMED: u8 = 4;

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
    /// Per rule source, which kinds of import take one of its hosts ([`BY_ANY`], [`BY_OWN`],
    /// [`BY_NAMED`]): what [`View::admits_source`] reads, decided when the table is built
    /// ([`Sidecars::new`]). Only `.` depends on the workload, through its namespace alone.
    verdicts: Box<[u8]>,
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

    /// Whether one of the hosts of `source` is imported, whatever the namespace.
    fn covers_source(&self, source: &SourceHosts) -> bool {
        source
            .hosts
            .iter()
            .any(|h| self.covers_route_host(h, source.gateway_semantics))
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
            verdicts: Box::default(),
        }
    }

    /// Which kinds of import take a host of `source` ([`Listener::verdicts`]).
    fn verdict(&self, source: &SourceHosts) -> u8 {
        let mut v = 0;
        for i in &self.imports {
            let bit = match &i.namespace {
                Namespaces::Any => BY_ANY,
                Namespaces::Own => BY_OWN,
                Namespaces::Named(n) if *n == source.namespace => BY_NAMED,
                Namespaces::Named(_) | Namespaces::Nothing => continue,
            };
            if v & bit == 0 && i.covers_source(source) {
                v |= bit;
            }
        }
        v
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
    /// Whether the rules of `source` are in the view: an import covers the source's namespace
    /// (that of the resource, as istiod's `SelectVirtualServices` reads a VirtualService's,
    /// also for a Gateway API route whose claim is a consumer's or every namespace's) and one
    /// of its hosts. Reads the listener's verdicts ([`Listener::verdicts`]); allocates
    /// nothing.
    #[inline]
    pub(crate) fn admits_source(&self, source: u32) -> bool {
        let Some(listener) = self.listener else {
            return false;
        };
        let Some(&v) = listener.verdicts.get(source as usize) else {
            return false;
        };
        let source_ns = &*self.sidecars.sources[source as usize].namespace;
        v & BY_ANY != 0 || v & BY_NAMED != 0 || (v & BY_OWN != 0 && source_ns == self.workload_ns)
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
    /// The Sidecars `scopes` in selection order, the mesh default among them, and every rule
    /// source's hosts (indexed by [`crate::Rule::source`]); decides each egress listener's
    /// verdict on each source.
    pub(crate) fn new(
        mut scopes: Vec<Scope>,
        root_default: Option<usize>,
        sources: Vec<SourceHosts>,
    ) -> Sidecars {
        for listener in scopes.iter_mut().flat_map(|s| s.listeners.iter_mut()) {
            listener.verdicts = sources.iter().map(|s| listener.verdict(s)).collect();
        }
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
            sources,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan a decision made before verdicts: an import covers the namespace (`.` read as
    /// the workload's) and one of the source's hosts.
    fn scanned(l: &Listener, s: &SourceHosts, source_ns: &str, workload_ns: &str) -> bool {
        l.imports.iter().any(|i| {
            i.covers_namespace(source_ns, workload_ns)
                && s.hosts
                    .iter()
                    .any(|h| i.covers_route_host(h, s.gateway_semantics))
        })
    }

    /// The verdicts decided when the table is built give the answer of scanning the imports,
    /// for every workload namespace (`.`), each source read in its own namespace.
    #[test]
    fn verdicts_agree_with_scanning_the_imports() {
        let import_sets: &[&[&str]] = &[
            &["./*"],
            &["./*", "istio-system/*"],
            &["*/*.example.com"],
            &["a/reviews.a.svc.cluster.local", "./*.b.svc.cluster.local"],
            &["~/*"],
            &["b/*", "./x.com", "*/api.example.com"],
            &["*/*.svc.cluster.local", "a/*"],
            &["./*.example.com", "c/*.com"],
        ];
        let source = |ns: &str, hosts: &[&str], gw: bool| SourceHosts {
            namespace: ns.into(),
            hosts: hosts.iter().map(|&h| h.into()).collect(),
            gateway_semantics: gw,
        };
        let sources = vec![
            source("a", &["reviews.a.svc.cluster.local"], false),
            source("b", &["ratings.b.svc.cluster.local", "x.com"], false),
            source("c", &["*.example.com"], false),
            source("c", &["*.example.com"], true),
            source("a", &["api.example.com"], true),
            source("istio-system", &["*"], false),
            source("b", &[], false),
        ];
        let namespaces = ["a", "b", "c", "istio-system", ""];
        for imports in import_sets {
            let listener = Listener::new(
                None,
                imports.iter().filter_map(|i| Import::parse(i)).collect(),
            );
            let scope = Scope::new("istio-system", "default", None, vec![listener], None);
            let sidecars = Sidecars::new(vec![scope], Some(0), sources.clone());
            let scope = &sidecars.scopes[0];
            let listener = scope.listener(80).expect("the catch-all listener");
            for workload_ns in namespaces {
                let view = View {
                    scope,
                    listener: Some(listener),
                    sidecars: &sidecars,
                    workload_ns,
                };
                for (id, s) in sources.iter().enumerate() {
                    assert_eq!(
                        view.admits_source(id as u32),
                        scanned(listener, s, &s.namespace, workload_ns),
                        "imports {imports:?}, source {s:?}, workload in {workload_ns:?}"
                    );
                }
                assert!(!view.admits_source(sources.len() as u32));
            }
        }
    }

    /// A workload's Sidecar: the oldest selecting one of its namespace, else its namespace's
    /// default, else the root namespace's default.
    #[test]
    fn selection_by_namespace() {
        let catch_all = || vec![Listener::new(None, vec![])];
        let labels = |v: &str| Some(vec![("app".into(), v.into())]);
        let scopes = vec![
            Scope::new("a", "sel-old", labels("x"), catch_all(), None),
            Scope::new("a", "sel-new", labels("x"), catch_all(), None),
            Scope::new("a", "default", None, catch_all(), None),
            Scope::new("a", "default-newer", None, catch_all(), None),
            Scope::new("istio-system", "root", None, catch_all(), None),
        ];
        let sidecars = Sidecars::new(scopes, Some(4), vec![]);
        struct W(&'static str, Option<&'static str>);
        impl Client for W {
            fn namespace(&self) -> &str {
                self.0
            }
            fn label(&self, key: &str) -> Option<&str> {
                self.1.filter(|_| key == "app")
            }
        }
        let name = |w: W| sidecars.select(&w).map(|s| &*s.name);
        assert_eq!(name(W("a", Some("x"))), Some("sel-old"));
        assert_eq!(name(W("a", Some("y"))), Some("default"));
        assert_eq!(name(W("a", None)), Some("default"));
        assert_eq!(name(W("b", Some("x"))), Some("root"));
        assert_eq!(
            Sidecars::default().select(&W("a", None)).map(|s| &*s.name),
            None
        );
    }
}
