//! meshroute decides, for one request, which routing rule applies and which version of a
//! service gets it: Istio's VirtualService and DestinationRule, and the Kubernetes Gateway
//! API's HTTPRoute and GRPCRoute, as Envoy's router runs them, compiled once into an
//! immutable table and evaluated without allocating.
//!
//! # Overview
//! - [`Config`]: the real Kubernetes resources, loaded from YAML or JSON: Istio
//!   `VirtualService`, `DestinationRule` and `Gateway` (`networking.istio.io`), Gateway API
//!   `Gateway`, `HTTPRoute`, `GRPCRoute`, `TLSRoute`, `TCPRoute` and `ReferenceGrant`
//!   (`gateway.networking.k8s.io`), and the core `Service`, `Namespace`, `EndpointSlice` and
//!   `Pod` resources routing reads. Other kinds are skipped with a note.
//! - [`compile()`] turns a [`Config`] into a [`Table`], validating every resource with Istio's
//!   rules or the Gateway API's schema; each error names the resource and the field path, and
//!   warnings come back as [`Diagnostic`]s in [`Compiled`]. [`Table::from_yaml`] and
//!   [`Compiled::from_yaml`] do both steps in one call.
//! - [`Table::decide`] answers a [`Request`] with a [`Decision`] borrowed from the table: the
//!   rule, the destination picked by the weighted split, and the rule's actions. Each API keeps
//!   its own semantics in one table: first match for Istio, the Gateway API's specificity
//!   order for its routes; a request reaches a gateway's routes with
//!   [`OwnedRequest::at_gateway`].
//! - [`Table::decide_connection`] answers a TLS or TCP [`Connection`] with the same
//!   [`Decision`], decided by VirtualService `tls` and `tcp` rules and Gateway API `TLSRoute`s
//!   and `TCPRoute`s ([`l4`]): the weighted destination, no HTTP actions.
//! - [`registry`]: endpoints per service ([`registry::Registry`], fed by you or read from
//!   `EndpointSlice`s) and the [`registry::Router`], which binds a table to them and picks an
//!   endpoint with the DestinationRule's load-balancing policy (round robin, random, least
//!   request, ring hash, Maglev).
//! - [`Shared`] ([`reload`]): the table or router in use, loaded by readers without a lock and
//!   replaced whole on a reload; a configuration that does not compile leaves the old one
//!   serving.
//! - [`observe`]: per-rule and per-destination counters and per-version golden signals
//!   ([`Table::metrics`], Prometheus text), kept with atomics when
//!   [`CompileOptions::counters`] is set.
//! - Tools on the same table: [`Table::explain`] (why a request went where it went),
//!   [`witness`], [`analyze`], [`diff`].
//!
//! # Errors
//! Loading fails with one [`Error`]; compiling fails with [`Errors`], every error of every
//! resource. `Errors` converts from `Error`, so one function returning
//! `Result<_, meshroute::Errors>` loads and compiles with `?`. Both print their message for
//! `Debug` as well as `Display`: `?` in `main` prints one error per line, each naming the
//! input, the resource and the field path.
//!
//! # Example: route a request
//! ```
//! use meshroute::{OwnedRequest, Table};
//!
//! let table = Table::from_yaml(r#"
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: reviews, namespace: default}
//! spec:
//!   hosts: [reviews]
//!   http:
//!   - name: jason
//!     match: [{headers: {end-user: {exact: jason}}}]
//!     route: [{destination: {host: reviews, subset: v2}}]
//!   - route:
//!     - {destination: {host: reviews, subset: v1}, weight: 90}
//!     - {destination: {host: reviews, subset: v3}, weight: 10}
//! "#)?;
//! let req = OwnedRequest::new("GET", "http://reviews/r/1")
//!     .header("end-user", "jason")
//!     .from_namespace("default");
//! let decision = table.decide_with_draw(&req, 0);
//! assert_eq!(decision.matched().unwrap().route_name(), "jason");
//! assert_eq!(decision.destination().unwrap().subset.as_deref(), Some("v2"));
//!
//! // The draw decides the split: 95 % 100 falls in v3's interval [90, 100).
//! let other = OwnedRequest::new("GET", "http://reviews/r/1").from_namespace("default");
//! assert_eq!(table.decide_with_draw(&other, 95).destination().unwrap().subset.as_deref(), Some("v3"));
//! # Ok::<(), meshroute::Errors>(())
//! ```
//!
//! [`Table::decide_with_draw`] takes the request's one random value; [`Table::decide`] draws
//! it from any [`rand_core::Rng`] you pass (rand_core 0.10, e.g. `rand_pcg::Pcg64`), so
//! meshroute neither owns nor seeds a generator.
//!
//! # Example: load, compile and read the warnings, with one error type
//! ```
//! use meshroute::{CompileOptions, Config, Errors, OwnedRequest, compile};
//!
//! fn main() -> Result<(), Errors> {
//!     let mut config = Config::new();
//!     config.add_str(r#"
//! apiVersion: gateway.networking.k8s.io/v1
//! kind: Gateway
//! metadata: {name: gw, namespace: infra}
//! spec:
//!   gatewayClassName: example
//!   listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]
//! ---
//! apiVersion: gateway.networking.k8s.io/v1
//! kind: HTTPRoute
//! metadata: {name: shop, namespace: app}
//! spec:
//!   parentRefs: [{name: gw, namespace: infra}]
//!   hostnames: [shop.example.com]
//!   rules:
//!   - matches: [{path: {type: PathPrefix, value: /api}}]
//!     backendRefs: [{name: api-v1, port: 8080, weight: 90}, {name: api-v2, port: 8080, weight: 10}]
//! "#, "routes.yaml")?; // an `Error`, converted to `Errors` by `?`
//!     let compiled = compile(&config, &CompileOptions::strict())?;
//!     for warning in &compiled.diagnostics {
//!         eprintln!("{warning}");
//!     }
//!     let req = OwnedRequest::new("GET", "http://shop.example.com/api/cart").at_gateway("infra", "gw");
//!     let decision = compiled.table.decide_with_draw(&req, 95);
//!     assert_eq!(&*decision.destination().unwrap().host, "api-v2.app.svc.cluster.local");
//!     Ok(())
//! }
//! ```
//!
//! # Crate features
//! - `http`: [`Request`] for `http::Request<B>`, with source facts from a `SourceInfo`
//!   extension.
//! - `tracing`: one `tracing` event per decision (target `meshroute`, level `DEBUG`) with the
//!   fields of [`SpanFields`].
//! - `proptest`: `testing`, proptest strategies that generate requests reaching a rule or a
//!   host, and policy assertions checked over them.
//! - `tower`: `tower::RouteLayer`, tower middleware that decides each `http::Request` over a
//!   hot-swappable table and answers redirects, direct responses, 404s and faults itself
//!   (`examples/proxy` is a reverse proxy built on it).
//! - `kube`: `cluster::ClusterSource`, which follows a Kubernetes cluster with kube-rs
//!   watchers and keeps a `Shared<Table>` current. k8s-openapi wants one Kubernetes version
//!   feature in the final program: pick it there, or add `k8s-v1_33`.
//! - `k8s-v1_33`: `kube`, with k8s-openapi built for Kubernetes 1.33.
//! - `cli`: the `meshroute` command; library users do not need it.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![warn(missing_debug_implementations)]

pub mod action;
mod balance;
mod block;
#[cfg(feature = "kube")]
#[cfg_attr(docsrs, doc(cfg(feature = "kube")))]
pub mod cluster;
pub mod compile;
pub mod config;
mod connection;
pub mod cors;
mod decision;
mod error;
pub mod hash;
mod hot;
mod index;
mod known;
pub mod l4;
pub mod limits;
pub mod mesh;
pub mod observe;
pub mod predicate;
pub mod registry;
pub mod reload;
mod request;
pub mod retry;
mod rule;
pub mod session;
mod sidecar;
mod span;
pub mod split;
mod table;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod testing;
mod tools;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use block::{Block, Miss};
pub use compile::{CompileOptions, Compiled, compile};
pub use config::{Config, LoadOptions, Rejected};
pub use connection::{Connection, OwnedConnection, Protocol};
pub use decision::{Decision, MAX_MIRRORS, Matched, Outcome};
pub use error::{Diagnostic, Error, ErrorKind, Errors, ResourceId, Severity};
pub use reload::Shared;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use request::SourceInfo;
pub use request::{
    DEFAULT_NAMESPACE, HeaderIter, Headers, OwnedRequest, OwnedValues, Request, addressed_port,
};
pub use rule::{ClusterKey, Rule, Source, SubsetInfo};
pub use span::SpanFields;
pub use table::{DestinationRuleRef, Table};
pub use tools::explain::Explain;
pub use tools::{analyze, diff, explain, witness};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
