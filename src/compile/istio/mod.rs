//! The Istio half of the compiler: the `networking.istio.io` resources, validated rule for rule
//! as Istio's admission webhook does, then lowered into compiled rules.
//!
//! One file per resource, then the steps that only VirtualServices have:
//! * [`virtual_service`]: `VirtualService` validation (`ValidateVirtualService`), with
//!   [`reachability`] for the webhook's IST0130/IST0131 warnings;
//! * [`destination_rule`]: `DestinationRule` validation (`ValidateDestinationRule`);
//! * [`gateway`]: Istio `Gateway` validation (`ValidateGateway`);
//! * [`service_entry`]: `ServiceEntry` and `WorkloadEntry` validation (`ValidateServiceEntry`,
//!   `ValidateWorkloadEntry`), and istioctl's ServiceEntry analyzers;
//! * [`delegate`]: delegation, a root VirtualService merged with its delegates;
//! * [`lower`]: a valid VirtualService into compiled rules, with its DestinationRule subsets;
//! * [`place`]: the lowered VirtualServices into the table's hosts, in Istio's precedence;
//! * [`policy`]: DestinationRule load balancing, merged per host;
//! * [`sidecar`]: `Sidecar` validation (`ValidateSidecar`) and its lowering into client views.
//!
//! Shared vocabulary lives one floor up: DNS names and hosts in `compile/names.rs`, durations,
//! header values, enums and counts in `compile/values.rs`, the report in `compile/report.rs`.
//! The Gateway API's resources are in `compile/gateway_api/`.

pub(crate) mod delegate;
pub(crate) mod destination_rule;
pub(crate) mod gateway;
pub(crate) mod l4;
pub(crate) mod lower;
pub(crate) mod place;
pub(crate) mod policy;
pub(crate) mod reachability;
pub(crate) mod service_entry;
pub(crate) mod sidecar;
pub(crate) mod virtual_service;

/// The resources `pick` takes from `valid`, in Istio's order for configuration of one kind
/// (`sortConfigByCreationTime` for VirtualServices, `sortConfigBySelectorAndCreationTime` for
/// DestinationRules in istio/istio pilot/pkg/model/push_context.go): oldest first, then by
/// name, then by namespace, then load order.
pub(crate) fn in_creation_order<'c, S>(
    valid: &[&'c crate::config::Resource],
    pick: impl Fn(&'c crate::config::Resource) -> Option<&'c crate::config::Object<S>>,
    ns_default: &str,
) -> Vec<&'c crate::config::Object<S>> {
    let mut out: Vec<_> = valid.iter().filter_map(|r| pick(r)).collect();
    out.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_deref().unwrap_or("");
        let tb = b.metadata.creation_timestamp.as_deref().unwrap_or("");
        ta.cmp(tb)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
            .then_with(|| a.namespace(ns_default).cmp(b.namespace(ns_default)))
            .then(a.order.cmp(&b.order))
    });
    out
}
