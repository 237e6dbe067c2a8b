//! The hosts the service registry defines, as a sidecar's outbound route configuration knows
//! them: every loaded Kubernetes `Service` (as `<name>.<ns>.svc.<domain>`) and every
//! ServiceEntry host (wildcards included), each with the namespaces it is exported to and its
//! ports. A mesh request for a host that no VirtualService claims goes to the service's default
//! route when the registry defines the host; otherwise it meets the route configuration's
//! catch-all virtual host, which the mesh's `outboundTrafficPolicy` builds (istio/istio
//! `pilot/pkg/networking/core/httproute.go`, `buildCatchAllVirtualHost`): `allow_any` to
//! `PassthroughCluster` under `ALLOW_ANY`, `block_all`, a direct 502, under `REGISTRY_ONLY`.
//!
//! A table compiled from input with no Service and no ServiceEntry has no registry: it cannot
//! tell known hosts from unknown ones, and every such request keeps the default route
//! ([`crate::Outcome::Passthrough`]).

use crate::predicate::host::{HostIndex, Via, lookup_names};
use crate::sidecar::View;
use crate::table::Visibility;

/// One resource's definition of a host.
#[derive(Clone, Debug)]
pub(crate) struct Definition {
    /// Which namespaces see it (`exportTo`; a Kubernetes Service is public).
    pub(crate) visibility: Visibility,
    /// The ports it lists; when empty, every port counts.
    pub(crate) ports: Box<[u16]>,
    /// Whether requests at any port count, whatever `ports` lists (a Kubernetes Service).
    pub(crate) any_port: bool,
    /// The resource, as `Kind ns/name`, for explanations.
    pub(crate) by: Box<str>,
    /// The resource's namespace, which a Sidecar's egress imports name.
    pub(crate) namespace: Box<str>,
    /// The ports whose protocol is TLS (`HTTPS` or `TLS`), with that protocol's name: a
    /// sidecar's listener there routes connections by SNI, not HTTP requests.
    pub(crate) tls_ports: Box<[(u16, &'static str)]>,
}

impl Definition {
    /// The protocol name when `port` is one of the definition's TLS ports.
    pub(crate) fn tls_at(&self, port: u16) -> Option<&'static str> {
        self.tls_ports
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, name)| *name)
    }

    /// Whether a client in namespace `ns` sees this definition at `port`.
    #[inline]
    fn serves(&self, ns: &str, port: u16) -> bool {
        self.visibility.admits(ns)
            && (self.any_port || self.ports.is_empty() || self.ports.contains(&port))
    }
}

/// The registry's hosts: an index of names (`*suffix` for wildcards) to their definitions.
#[derive(Clone, Debug, Default)]
pub(crate) struct KnownHosts {
    index: HostIndex,
    /// The definitions of each indexed name, with the name as written.
    hosts: Vec<(Box<str>, Vec<Definition>)>,
}

/// How a request's host was found in the registry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Known<'k> {
    /// The registry's name for the host (a wildcard when one covered it).
    pub(crate) name: &'k str,
    /// The definition that applies to the request.
    pub(crate) definition: &'k Definition,
}

impl KnownHosts {
    /// Adds a definition of `host` (lowercase; `*.suffix` for a wildcard).
    pub(crate) fn insert(&mut self, host: &str, definition: Definition) {
        let id = match self.index.get_key(host) {
            Some(id) => id,
            None => {
                let id = self.hosts.len() as u32;
                self.index.insert(host, id);
                self.hosts.push((host.into(), Vec::new()));
                id
            }
        };
        self.hosts[id as usize].1.push(definition);
    }

    /// Every definition, with the host it defines, in load order per host.
    pub(crate) fn definitions(&self) -> impl Iterator<Item = (&str, &Definition)> {
        self.hosts
            .iter()
            .flat_map(|(name, defs)| defs.iter().map(move |d| (&**name, d)))
    }

    /// Whether nothing is defined.
    pub(crate) fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The definition a client in namespace `ns` sees for the lowercase `host` at `port`:
    /// the host itself, its Kubernetes short form expanded with `domain` in `ns` (as a
    /// sidecar's DNS search path would), then the wildcards that cover it, best first.
    /// Allocates nothing.
    /// With a Sidecar `view`, only the definitions its egress listener imports count.
    #[inline]
    pub(crate) fn find(
        &self,
        host: &str,
        ns: &str,
        domain: &str,
        port: u16,
        view: Option<&View<'_>>,
    ) -> Option<Known<'_>> {
        let offer = |id: u32| {
            let (name, defs) = &self.hosts[id as usize];
            // The nearest definition the client sees, as istiod orders a namespace's services
            // (push_context.go `servicesExportedToNamespace`): its own namespace's, then those
            // exported to it by name, then the public ones; the first of equals.
            let mut best: Option<(u8, &Definition)> = None;
            for d in defs {
                let Some(tier) = d.visibility.tier(&d.namespace, ns) else {
                    continue;
                };
                if best.is_none_or(|(b, _)| tier < b)
                    && d.serves(ns, port)
                    && view.is_none_or(|v| v.admits_service(name, &d.namespace))
                {
                    best = Some((tier, d));
                }
            }
            best.map(|(_, definition)| Known { name, definition })
        };
        lookup_names(host, ns, Some(domain), |name, _: Via<'_>| {
            offer(self.index.get_exact(name)?)
        })
        .or_else(|| self.index.wildcards_for(host).find_map(offer))
    }

    /// The definition of a host as configuration names it (lowercase, already qualified: no
    /// short-name expansion) that a resource of namespace `ns` sees, at any port: the exact
    /// name, then the wildcards covering it. For analysis, not for requests.
    pub(crate) fn defined_for(&self, host: &str, ns: &str) -> Option<Known<'_>> {
        let offer = |id: u32| {
            let (name, defs) = &self.hosts[id as usize];
            defs.iter()
                .find(|d| d.visibility.admits(ns))
                .map(|definition| Known { name, definition })
        };
        self.index
            .get_exact(host)
            .and_then(offer)
            .or_else(|| self.index.wildcards_for(host).find_map(offer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(visibility: Visibility, ports: &[u16]) -> Definition {
        Definition {
            visibility,
            ports: ports.into(),
            any_port: false,
            by: "ServiceEntry default/x".into(),
            namespace: "default".into(),
            tls_ports: Box::new([]),
        }
    }

    /// Short names expand in the client's namespace; wildcards cover subdomains; exportTo and
    /// ports limit what a client sees.
    #[test]
    fn lookup_by_name_namespace_and_port() {
        let mut k = KnownHosts::default();
        k.insert(
            "reviews.default.svc.cluster.local",
            def(Visibility::Public, &[9080]),
        );
        k.insert("*.wikipedia.org", def(Visibility::Public, &[]));
        k.insert(
            "httpbin.org",
            def(Visibility::Only(vec!["egress".into()]), &[80]),
        );
        let d = "cluster.local";
        assert!(k.find("reviews", "default", d, 9080, None).is_some());
        assert!(k.find("reviews", "other", d, 9080, None).is_none());
        assert!(k.find("reviews", "default", d, 80, None).is_none());
        assert_eq!(
            k.find("en.wikipedia.org", "x", d, 443, None)
                .map(|f| f.name),
            Some("*.wikipedia.org")
        );
        assert!(k.find("wikipedia.org", "x", d, 443, None).is_none());
        assert!(k.find("httpbin.org", "egress", d, 80, None).is_some());
        assert!(k.find("httpbin.org", "default", d, 80, None).is_none());
    }

    /// A host two entries define: a client sees its own namespace's first, then one exported
    /// to it by name, then the public one (istiod's `servicesExportedToNamespace` order),
    /// whatever the load order.
    #[test]
    fn the_nearest_definition_wins() {
        let entry = |ns: &str, visibility: Visibility| Definition {
            by: format!("ServiceEntry {ns}/api").into(),
            namespace: ns.into(),
            ..def(visibility, &[80])
        };
        let mut k = KnownHosts::default();
        k.insert("api.example.com", entry("shared", Visibility::Public));
        k.insert(
            "api.example.com",
            entry("partner", Visibility::Only(vec!["team".into()])),
        );
        k.insert(
            "api.example.com",
            entry("team", Visibility::Only(vec!["team".into()])),
        );
        let by = |k: &KnownHosts, ns: &str| {
            k.find("api.example.com", ns, "cluster.local", 80, None)
                .map(|f| f.definition.by.to_string())
        };
        assert_eq!(by(&k, "team").as_deref(), Some("ServiceEntry team/api"));
        assert_eq!(by(&k, "other").as_deref(), Some("ServiceEntry shared/api"));
        k.insert(
            "api.example.com",
            entry("late", Visibility::Only(vec!["ops".into()])),
        );
        // Exported to ops by name beats public, though loaded last.
        assert_eq!(by(&k, "ops").as_deref(), Some("ServiceEntry late/api"));
    }
}
