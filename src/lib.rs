//! meshroute decides, for one request, which routing rule applies and which version of a
//! service gets it: Istio's VirtualService and DestinationRule as Envoy's router runs them,
//! compiled once into an immutable table and evaluated without allocating.
//!
//! # Overview
//! - [`Config`]: the real Kubernetes resources, loaded from YAML or JSON.
//! - [`compile()`] turns a [`Config`] into a [`Table`], validating every resource with Istio's
//!   rules; each error names the resource and the field path.
//! - [`Table::decide`] answers a [`Request`] with a [`Decision`] borrowed from the table: the
//!   rule, the destination picked by the weighted split, and the rule's actions.
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
//! assert_eq!(decision.matched().unwrap().route_name, "jason");
//! assert_eq!(decision.destination().unwrap().subset.as_deref(), Some("v2"));
//!
//! // The draw decides the split: 95 % 100 falls in v3's interval [90, 100).
//! let other = OwnedRequest::new("GET", "http://reviews/r/1").from_namespace("default");
//! assert_eq!(table.decide_with_draw(&other, 95).destination().unwrap().subset.as_deref(), Some("v3"));
//! # Ok::<(), meshroute::Errors>(())
//! ```
//!
//! # Crate features
//! - `http`: [`Request`] for `http::Request<B>`.
//! - `tracing`: one `tracing` event per decision (target `meshroute`, level `DEBUG`) with the
//!   fields of [`SpanFields`].
//! - `proptest`: `testing`, proptest strategies that generate requests reaching a rule or a
//!   host, and policy assertions checked over them.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![warn(missing_debug_implementations)]

pub mod action;
mod balance;
mod block;
pub mod compile;
pub mod config;
mod decision;
mod error;
pub mod hash;
mod index;
pub mod limits;
pub mod observe;
pub mod predicate;
pub mod registry;
pub mod reload;
mod request;
mod rule;
mod span;
pub mod split;
mod table;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod testing;
mod tools;

pub use block::{Block, Miss};
pub use compile::{CompileOptions, Compiled, compile};
pub use config::{Config, Rejected};
pub use decision::{Decision, MAX_MIRRORS, Matched, Outcome};
pub use error::{Diagnostic, Error, ErrorKind, Errors, ResourceId, Severity};
pub use reload::Shared;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use request::SourceInfo;
pub use request::{DEFAULT_NAMESPACE, OwnedRequest, OwnedValues, Request, addressed_port};
pub use rule::{ClusterKey, Rule, Source, SubsetInfo};
pub use span::SpanFields;
pub use table::Table;
pub use tools::explain::Explain;
pub use tools::{analyze, diff, explain, witness};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
