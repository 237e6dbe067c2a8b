//! Conditions on where a request comes from: source workload labels and namespace, and the
//! destination port. Istio applies these when it builds each proxy's config; meshroute reads
//! them from the request, which gives the same answer for the proxy that sent it.

use std::ops::ControlFlow;

use crate::request::{Request, addressed_port};

/// The condition of a [`SourceMatch`] that a request fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceMiss {
    /// `port`: the request was addressed to another port (or to none known).
    Port,
    /// `sourceNamespace`.
    Namespace,
    /// `sourceLabels`: the label at this index of [`SourceMatch::labels`].
    Label(usize),
}

/// Compiled `sourceLabels`, `sourceNamespace` and `port`.
#[derive(Clone, Debug, Default)]
pub struct SourceMatch {
    /// Labels the source workload must carry (all of them).
    pub labels: Box<[(Box<str>, Box<str>)]>,
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
        self.each_miss(req, ControlFlow::Break).is_continue()
    }

    /// Offers each condition that fails for `req` to `on_miss` until it breaks: `port`, then
    /// `sourceNamespace`, then each of `sourceLabels` in order.
    #[inline]
    pub fn each_miss<R: Request + ?Sized, B>(
        &self,
        req: &R,
        mut on_miss: impl FnMut(SourceMiss) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        if let Some(p) = self.port
            && addressed_port(req) != p
        {
            on_miss(SourceMiss::Port)?;
        }
        if let Some(ns) = &self.namespace
            && req.source_namespace() != &**ns
        {
            on_miss(SourceMiss::Namespace)?;
        }
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if req.source_label(k) != Some(&**v) {
                on_miss(SourceMiss::Label(i))?;
            }
        }
        ControlFlow::Continue(())
    }
}
