//! Conditions on where a request comes from: source workload labels and namespace, and the
//! destination port. Istio applies these when it builds each proxy's config; meshroute reads
//! them from the request, which gives the same answer for the proxy that sent it.

use crate::request::Request;

/// Compiled `sourceLabels`, `sourceNamespace` and `port`.
#[derive(Clone, Debug, Default)]
pub struct SourceMatch {
    /// Labels the source workload must carry (all of them).
    pub labels: Vec<(Box<str>, Box<str>)>,
    /// Namespace the source workload must be in.
    pub namespace: Option<Box<str>>,
    /// Destination port the request must be addressed to.
    pub port: Option<u16>,
}

impl SourceMatch {
    /// Whether there is no condition at all.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.namespace.is_none() && self.port.is_none()
    }

    /// Whether the request's source and port satisfy every condition.
    pub fn is_match<R: Request + ?Sized>(&self, req: &R) -> bool {
        if let Some(p) = self.port
            && req.port() != Some(p)
        {
            return false;
        }
        if let Some(ns) = &self.namespace
            && req.source_namespace() != &**ns
        {
            return false;
        }
        self.labels
            .iter()
            .all(|(k, v)| req.source_label(k) == Some(&**v))
    }
}
