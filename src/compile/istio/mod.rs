//! The Istio half of the compiler: the `networking.istio.io` resources, validated rule for rule
//! as Istio's admission webhook does, then lowered into compiled rules.
//!
//! One file per resource, then the steps that only VirtualServices have:
//! * [`virtual_service`]: `VirtualService` validation (`ValidateVirtualService`), with
//!   [`reachability`] for the webhook's IST0130/IST0131 warnings;
//! * [`destination_rule`]: `DestinationRule` validation (`ValidateDestinationRule`);
//! * [`gateway`]: Istio `Gateway` validation (`ValidateGateway`);
//! * [`delegate`]: delegation, a root VirtualService merged with its delegates;
//! * [`lower`]: a valid VirtualService into compiled rules, with its DestinationRule subsets;
//! * [`place`]: the lowered VirtualServices into the table's hosts, in Istio's precedence;
//! * [`policy`]: DestinationRule load balancing, merged per host.
//!
//! Shared vocabulary lives one floor up: DNS names and hosts in `compile/names.rs`, durations,
//! header values, enums and counts in `compile/values.rs`, the report in `compile/report.rs`.
//! The Gateway API's resources are in `compile/gateway_api/`.

pub(crate) mod delegate;
pub(crate) mod destination_rule;
pub(crate) mod gateway;
pub(crate) mod lower;
pub(crate) mod place;
pub(crate) mod policy;
pub(crate) mod reachability;
pub(crate) mod virtual_service;
