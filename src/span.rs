//! Tracing: a decision's attributes for a span or a log line, borrowed from the table (and the
//! router's endpoints), so recording them copies and allocates nothing.
//!
//! With the cargo feature `tracing`, [`Table::decide_with_draw`](crate::Table::decide_with_draw)
//! emits one `tracing` event per decision (target `meshroute`, level `DEBUG`, message
//! `decision`) carrying these fields; without it nothing is compiled in.

use crate::decision::{Decision, Outcome};

/// A decision's attributes, for a tracing span or a log line. Every string is borrowed from
/// the table (or, for the endpoint, from the router); fields that do not apply are `None`.
///
/// Field names as recorded in the `tracing` event: `outcome`, `route_name`, `rule_index`,
/// `resource_kind`, `resource_namespace`, `resource_name`, `destination_host`,
/// `destination_subset`, `status` (and, from a router, `endpoint_address`, `endpoint_port`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanFields<'t> {
    /// `matched`, `no_route`, `passthrough` or `no_virtual_host`.
    pub outcome: &'static str,
    /// The route name as Envoy logs it (empty for an unnamed rule).
    pub route_name: Option<&'t str>,
    /// Position of the matched rule in its resource.
    pub rule_index: Option<u32>,
    /// Kind of the resource the rule comes from, e.g. `VirtualService`.
    pub resource_kind: Option<&'t str>,
    /// Its namespace.
    pub resource_namespace: Option<&'t str>,
    /// Its name.
    pub resource_name: Option<&'t str>,
    /// Host of the picked destination.
    pub destination_host: Option<&'t str>,
    /// Subset of the picked destination (the version).
    pub destination_subset: Option<&'t str>,
    /// The HTTP status from routing ([`Decision::status`], or [`Routed::status`](crate::registry::Routed::status)).
    pub status: u16,
    /// Address of the endpoint picked (only from [`Routed::span_fields`](crate::registry::Routed::span_fields)).
    pub endpoint_address: Option<&'t str>,
    /// Port of the endpoint picked (only from [`Routed::span_fields`](crate::registry::Routed::span_fields)).
    pub endpoint_port: Option<u16>,
}

impl<'t> Decision<'t> {
    /// The decision's attributes for a tracing span, borrowed from the table. Allocates
    /// nothing.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml"))?;
    /// let req = OwnedRequest::new("GET", "http://reviews/").header("end-user", "jason")
    ///     .from_namespace("default");
    /// let f = table.decide_with_draw(&req, 0).span_fields();
    /// assert_eq!(f.route_name, Some("jason"));
    /// assert_eq!(f.resource_name, Some("reviews"));
    /// assert_eq!(f.destination_subset, Some("v2"));
    /// assert_eq!(f.status, 200);
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn span_fields(&self) -> SpanFields<'t> {
        let mut f = SpanFields {
            outcome: self.outcome.label(),
            status: self.status(),
            ..SpanFields::default()
        };
        if let Outcome::Matched(m) = &self.outcome {
            f.route_name = Some(m.route_name());
            f.rule_index = Some(m.rule.index);
            f.resource_kind = Some(&m.source.kind);
            f.resource_namespace = Some(&m.source.namespace);
            f.resource_name = Some(&m.source.name);
            if let Some(w) = m.destination {
                f.destination_host = Some(&w.destination.host);
                f.destination_subset = w.destination.subset.as_deref();
            }
        }
        f
    }
}

/// Emits the decision's event: target `meshroute`, level `DEBUG`, one field per
/// [`SpanFields`] field (absent ones not recorded). Allocates nothing when no subscriber
/// wants it.
#[cfg(feature = "tracing")]
#[inline]
pub(crate) fn emit(d: &Decision<'_>) {
    if tracing::enabled!(target: "meshroute", tracing::Level::DEBUG) {
        let f = d.span_fields();
        tracing::event!(
            target: "meshroute",
            tracing::Level::DEBUG,
            outcome = f.outcome,
            route_name = f.route_name,
            rule_index = f.rule_index,
            resource_kind = f.resource_kind,
            resource_namespace = f.resource_namespace,
            resource_name = f.resource_name,
            destination_host = f.destination_host,
            destination_subset = f.destination_subset,
            status = f.status,
            "decision"
        );
    }
}
