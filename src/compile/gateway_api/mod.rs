//! The Gateway API resources: validation of `Gateway`, `HTTPRoute` and `GRPCRoute` specs as the
//! kube-apiserver enforces it, and the lowering of valid routes into the table.
//!
//! # Validation
//!
//! The CRDs' OpenAPI schema (enums, bounds, patterns, list sizes, list-map keys and sets) and
//! their CEL `x-kubernetes-validations` rules (kubernetes-sigs/gateway-api `apis/v1`
//! `httproute_types.go`, `grpcroute_types.go`, `shared_types.go`, `gateway_types.go`, and the
//! generated CRDs under `config/crd`). The experimental channel is followed where it differs from
//! the standard one: it is a superset (ExternalAuth, CORS, retries, session persistence, `port`
//! in parentRefs, the header value pattern), and the corpus was checked against it.
//!
//! Schema defaults are applied where a rule depends on them, as the apiserver defaults before it
//! validates: a path match without `type` is `PathPrefix`, a rule without `matches` matches
//! `PathPrefix /`, a backendRef without `group`/`kind` is a core `Service`, a parentRef without
//! them a `Gateway`, a listener's `tls.mode` is `Terminate`, a session persistence `type` is
//! `Cookie`. Every error is reported at the field that breaks the rule; list-level CEL rules
//! (uniqueness, repetition) point at the later entry and name the earlier one.
//!
//! Deliberate differences from the apiserver:
//! * Regular expressions (path, header, query parameter, gRPC service and method) must parse in
//!   meshroute's engine; the apiserver does not look at them.
//! * Header names repeated under another case (`foo`, `Foo`) are accepted with a warning: the
//!   apiserver compares list-map keys exactly, and the spec says the later entry is ignored.
//! * An `HTTPS` listener without `tls` gets a warning: the spec calls `tls` required there, but
//!   only controllers check it, per listener.
//! * An explicit empty `rules: []` or `matches: []` is read as absent (the model does not tell
//!   them apart), so the schema default applies instead of `minItems`.
//!
//! Fields kept as raw JSON by the model (`extensionRef`, `externalAuth`, `certificateRefs`, Gateway `allowedListeners`, `infrastructure` and `tls`) are checked here
//! field by field, unknown fields included. Model fields that the v1 schema no longer has
//! (Gateway `backendTLS`, listener `tls.frontendValidation`) are rejected by name.
//!
//! Entry points: [`validate_gateway`], [`validate_http_route`], [`validate_grpc_route`]. Where
//! each check lives:
//!
//! | file | checks |
//! |---|---|
//! | `gateway.rs` | Gateway: class, listeners, listener TLS, allowedRoutes, addresses, raw `allowedListeners`, `infrastructure`, `tls` |
//! | `http_route.rs` | HTTPRoute only (`RouteMatch` for its matches): path, method and query matches; redirect vs backendRefs; `replacePrefixMatch` |
//! | `grpc_route.rs` | GRPCRoute only (`RouteMatch` for its matches): method matches |
//! | `route.rs` | both route kinds: parentRefs, hostnames, rule list, header matches, backendRefs and weights, timeouts, retries, session persistence |
//! | `filters.rs` | filters: type and field, repeats, header modifiers, mirrors, redirects, rewrites, CORS, `extensionRef`, `externalAuth` |
//! | `fields.rs` | list sizes, ports, object references, header names and values, sets |
//! | `raw.rs` | reading raw-JSON fields: known keys, typed values, references, string sets |
//! | `super::names` | DNS names and hostnames, groups, kinds, namespaces, label keys and values |
//!
//! # Lowering
//!
//! [`lower::place_routes`] (with [`lower::World`] and [`lower::Route`]) lowers the valid routes
//! and places them by precedence; `attach.rs` attaches a route to its parents, `lower_rules.rs`
//! lowers its rules (the same `RuleParts` view, one match lowering per kind), and
//! `reference_grant.rs` answers cross-namespace backend references.

mod attach;
mod fields;
mod filters;
mod gateway;
mod grpc_route;
mod http_route;
pub(crate) mod l4;
pub(crate) mod lower;
mod lower_rules;
mod raw;
mod reference_grant;
mod route;
#[cfg(test)]
mod tests;

pub(crate) use self::gateway::validate_gateway;
pub(crate) use self::grpc_route::validate_grpc_route;
pub(crate) use self::http_route::validate_http_route;
