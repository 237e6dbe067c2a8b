//! Every resource limit in one place: what is bounded, by how much, and what happens when the
//! bound is passed. Limits that belong to one layer are defined there and re-exported here
//! (the YAML budget in [`crate::config::limits`], regex budgets in
//! [`crate::predicate::regex`], request-side buffers in [`crate::predicate`], hash tables in
//! [`crate::hash`]); the validation limits are defined here.
//!
//! All of them are checked once, while loading or compiling, never while routing. A loading
//! limit fails the whole input ([`ErrorKind::Syntax`](crate::ErrorKind::Syntax), or
//! [`ErrorKind::Limit`](crate::ErrorKind::Limit) for the input size); a validation limit
//! rejects the resource with an [`ErrorKind::Invalid`](crate::ErrorKind::Invalid) error at the
//! field that is too long or has too many entries. The message states the value, the limit and
//! the constant's name, for example
//! `VirtualService default/web: spec.http[3].match[0].headers: 70 header matches exceed the
//! limit of 64 (limits::MAX_HEADER_MATCHES)`.
//!
//! # Loading (every YAML or JSON input)
//!
//! A *resource* is a document, or one element of a document's top-level `items` list (a `kind:
//! List`, which is what `kubectl get -o yaml` writes) or of a top-level JSON array. Each
//! resource and each YAML document has fixed budgets, so one object costs a bounded amount
//! however large the input; the input as a whole has totals, whose defaults admit a dump of
//! 100,000 resources and which [`LoadOptions`](crate::LoadOptions) changes per call.
//!
//! | Limit | Value | When exceeded | Basis |
//! |---|---|---|---|
//! | [`MAX_INPUT_BYTES`] | 256 MiB per input (default of [`LoadOptions::max_input_bytes`](crate::LoadOptions::max_input_bytes)) | `Limit` error before parsing; for a file, before it is read (its size is checked first) | 100,000 one-rule VirtualServices as `kubectl get -o yaml` prints them take 46 MB, or about 100 MB with `last-applied-configuration` annotations |
//! | [`MAX_TOTAL_NODES`] | 20,000,000 per input (default of [`LoadOptions::max_total_nodes`](crate::LoadOptions::max_total_nodes)) | `Syntax` error | 200 nodes for each of 100,000 resources; a dumped one-rule VirtualService has about 50 |
//! | [`MAX_DOCUMENTS`] | 1,000,000 per input (default of [`LoadOptions::max_documents`](crate::LoadOptions::max_documents)) | `Syntax` error | document-separator storms |
//! | scalar bytes, aliases expanded | at most [`LoadOptions::max_input_bytes`](crate::LoadOptions::max_input_bytes) per input | `Syntax` error | aliases must not amplify the input |
//! | [`MAX_NODES`] | 1,000,000 per resource | `Syntax` error naming the document (and item) | billion-laughs budget; a VirtualService of 16,384 rules fits |
//! | [`MAX_SCALAR_BYTES`] | 4 MiB per resource | `Syntax` error naming the document (and item) | etcd's 1.5 MiB object cap |
//! | [`MAX_DEPTH`] | 32 levels per YAML document | `Syntax` error | CRDs need 10–15 levels; saphyr 64, serde_yaml 128 |
//! | [`MAX_ALIASES`] / [`MAX_ANCHORS`] | 100 / 100 per YAML document | `Syntax` error | billion-laughs budget |
//! | [`MAX_ALIAS_REPLAY`] | 100,000 events replayed by aliases per input | `Syntax` error | billion-laughs budget: stops an expansion before it builds values (Kubernetes dumps use no aliases) |
//!
//! Nodes are mapping keys, values and list elements, counted as the values are built, so a
//! YAML alias counts the nodes it stands for. Each document is checked as it is read and handed
//! on, so a refused input costs at most what its totals allow. JSON input is metered the same
//! way (it has no aliases); its nesting is bounded by the JSON parser's limit of 128.
//!
//! # Regular expressions (every `regex` field of every resource)
//!
//! | Limit | Value | When exceeded | Basis |
//! |---|---|---|---|
//! | [`MAX_PATTERN_LEN`] | 1024 bytes | error at the `regex` field | Istio validation |
//! | [`MAX_REPEAT`] | 1000, alone and as a product of nested repeats | error at the `regex` field | RE2 |
//! | [`MAX_NFA_BYTES`] | 1 MiB per pattern | error at the `regex` field | regex default 10 MiB; `\w{100}` needs more than 1 MiB |
//! | [`MAX_DFA_BYTES`] | 4 MiB per pattern | error at the `regex` field | ahead-of-time DFA, no lazy cache |
//! | [`MAX_TABLE_REGEX_BYTES`] | 64 MiB of NFAs and DFAs built per table | error at the `regex` field that would pass it, rejecting its resource | a compile's regex work about two seconds at most; 16,000 simple patterns fit |
//!
//! Nesting is bounded by the parser's default of 250 levels. `uriRegexRewrite` patterns are
//! read in the same RE2 dialect, held to [`MAX_PATTERN_LEN`] and [`MAX_NFA_BYTES`] as well,
//! and charged to the same table budget (their DFAs are built lazily, outside decisions).
//!
//! The table's budget counts each distinct pattern once however often it is written (its
//! automaton is shared), counts a pattern refused for size with the bytes built before it
//! stopped, and is spent in the order resources are compiled (VirtualServices by creation
//! time, then Gateway API routes). A resource already rejected builds none of its later
//! patterns. About 7,200 distinct patterns like `/svc1/api/v[0-9]+/.*` (9 KiB each: the
//! Unicode `.` has many byte classes) or 19,000 like `/v1/users/[0-9]+` fit.
//!
//! # Istio VirtualService
//!
//! | Limit | Value | When exceeded (field path) | Basis |
//! |---|---|---|---|
//! | [`MAX_HOSTS`] | 1024 | `spec.hosts` | RELIABILITY hard max; Istio has none |
//! | [`MAX_VS_RULES`] | 16,384 each of `http`, `tls`, `tcp` | `spec.http` / `spec.tls` / `spec.tcp` | generated per-tenant services; see the constant |
//! | [`MAX_MATCHES_PER_RULE`] | 64 | `spec.http[i].match`, `spec.tls[i].match`, `spec.tcp[i].match` | Gateway API `matches` maxItems |
//! | [`MAX_HEADER_MATCHES`] | 64 each of `headers`, `withoutHeaders` | `spec.http[i].match[j].headers` | Gateway API hard max |
//! | [`MAX_QUERY_MATCHES`] | 64 | `spec.http[i].match[j].queryParams` | Gateway API hard max |
//! | [`MAX_DESTINATIONS`] | 64 | `spec.http[i].route`, `spec.tls[i].route`, `spec.tcp[i].route` | Gateway API hard max |
//! | [`MAX_MIRRORS`] | 64 | `spec.http[i].mirrors` | bits of [`Matched::mirrored`](crate::Matched::mirrored) |
//! | [`MAX_WEIGHT`] | 0..=2,147,483,647 | `spec.http[i].route[k].weight` | Istio (int32) |
//! | [`MAX_WEIGHT_SUM`] | 4,294,967,295 | `spec.http[i].route` | Envoy weighted clusters (uint32 total) |
//! | [`MAX_HEADER_NAME_LEN`] | 256 bytes | `…headers[NAME]`, `…withoutHeaders[NAME]`, `…queryParams[NAME]`, `headers.request.set[NAME]`, … | Gateway API |
//! | [`MAX_HEADER_VALUE_LEN`] | 4096 bytes | the `exact` / `prefix` of header, query, scheme, method and authority matches; header `set` / `add` values | Gateway API |
//! | [`MAX_URI_LITERAL_LEN`] | 8192 bytes | `spec.http[i].match[j].uri.exact` / `.prefix` | longer never matches: request paths are refused past [`MAX_PATH_LEN`] |
//! | host name | 255 bytes | `spec.hosts[i]`, destination hosts | Istio |
//!
//! # Istio DestinationRule and Gateway
//!
//! | Limit | Value | When exceeded (field path) | Basis |
//! |---|---|---|---|
//! | [`MAGLEV_TABLE_SIZE_LIMIT`] | table size a prime below 5,000,011 | `…consistentHash.maglev.tableSize` | Istio validation; Envoy accepts 5,000,011 itself |
//! | [`MAX_RING_SIZE`] | `minimumRingSize` ≤ 8,388,608 | `…consistentHash.ringHash.minimumRingSize` (and the deprecated `…consistentHash.minimumRingSize`) | Envoy `maximum_ring_size` bound; Istio leaves the maximum at that default, so the minimum must not pass it |
//! | [`MAX_HEADER_NAME_LEN`] | 256 bytes | `…consistentHash.httpHeaderName` | Gateway API |
//! | [`MAX_HOSTS`] | 1024 hosts per server | Gateway `spec.servers[i].hosts` | as for VirtualService |
//!
//! # Gateway API (the CRDs' schema, as the apiserver enforces it)
//!
//! | Limit | Value | When exceeded (field path) |
//! |---|---|---|
//! | [`MAX_ROUTE_HOSTNAMES`] | 16 | `spec.hostnames` |
//! | [`MAX_PARENT_REFS`] | 32 | `spec.parentRefs` |
//! | [`MAX_ROUTE_RULES`] | 16 | `spec.rules` |
//! | [`MAX_MATCHES_PER_RULE`] | 64 | `spec.rules[i].matches` |
//! | [`MAX_ROUTE_MATCHES`] | 128 across all rules | `spec.rules` |
//! | [`MAX_ROUTE_HEADER_MATCHES`] / [`MAX_ROUTE_QUERY_MATCHES`] | 16 / 16 | `spec.rules[i].matches[j].headers` / `.queryParams` |
//! | [`MAX_BACKEND_REFS`] | 16 | `spec.rules[i].backendRefs` |
//! | [`MAX_ROUTE_WEIGHT`] | 0..=1,000,000 (so a sum of at most 16,000,000, well inside [`MAX_WEIGHT_SUM`]) | `spec.rules[i].backendRefs[k].weight` |
//! | [`MAX_ROUTE_FILTERS`] | 16 | `…filters` |
//! | [`MAX_HEADER_MODIFIER_OPS`] | 16 each of `set`, `add`, `remove` | `…requestHeaderModifier.set` |
//! | [`MAX_HEADER_NAME_LEN`] / [`MAX_HEADER_VALUE_LEN`] | 256 / 4096 bytes | header match and modifier names and values |
//! | [`MAX_ROUTE_PATH_LEN`] | 1024 bytes | path matches, query values, rewrites, redirects |
//! | [`MAX_CORS_ITEMS`] / [`MAX_CORS_METHODS`] / [`MAX_AUTH_HEADERS`] | 64 / 9 / 64 | CORS lists, ExternalAuth header lists |
//! | [`MAX_LISTENERS`] / [`MAX_ADDRESSES`] | 64 / 16 | Gateway `spec.listeners` / `spec.addresses` |
//! | [`MAX_CERTIFICATE_REFS`] / [`MAX_TLS_OPTIONS`] / [`MAX_ROUTE_KINDS`] | 64 / 16 / 8 | listener TLS and `allowedRoutes.kinds` |
//! | [`MAX_NAME_LEN`] / [`MAX_LABEL_LEN`] / [`MAX_PROTOCOL_LEN`] | 253 / 63 / 255 bytes | names, hostnames, groups / namespaces, kinds / listener protocols |
//!
//! # Requests (enforced while routing, without allocating)
//!
//! | Limit | Value | When exceeded | Basis |
//! |---|---|---|---|
//! | [`MAX_PATH_LEN`] | 8192 bytes | the request is refused like one the path policy rejects | stack buffer for normalization |
//! | [`MAX_HOST_LEN`] | 255 bytes | the host can only match `*` | DNS |
//!
//! Request header counts and sizes are the caller's to enforce before routing (Envoy's defaults:
//! 60 KiB of headers, 100 headers).
//!
//! # Not enforced
//! - A total of rules per host (RELIABILITY.md suggests 1024): one VirtualService with 10,000
//!   rules for one host is a supported and benchmarked shape. [`MAX_VS_RULES`] bounds one
//!   resource instead.

pub use crate::config::limits::{
    MAX_ALIAS_REPLAY, MAX_ALIASES, MAX_ANCHORS, MAX_DEPTH, MAX_DOCUMENTS, MAX_INPUT_BYTES,
    MAX_LABEL_LEN, MAX_NAME_LEN, MAX_NODES, MAX_SCALAR_BYTES, MAX_TOTAL_NODES,
};
pub use crate::decision::MAX_MIRRORS;
pub use crate::predicate::host::MAX_HOST_LEN;
pub use crate::predicate::normalize::MAX_PATH_LEN;
pub use crate::predicate::regex::{
    MAX_DFA_BYTES, MAX_NFA_BYTES, MAX_PATTERN_LEN, MAX_REPEAT, MAX_TABLE_REGEX_BYTES,
};

// ---------------------------------------------------------------------------------------------
// Istio
// ---------------------------------------------------------------------------------------------

/// Most `hosts` of one VirtualService, and of one Istio Gateway server.
pub const MAX_HOSTS: usize = 1024;

/// Most rules in each of a VirtualService's `http`, `tls` and `tcp` lists.
///
/// Istio sets no limit; the etcd object cap (1.5 MiB) allows about 30,000 minimal rules.
/// 16,384 leaves room for generated services with one rule per tenant or per path (10,000
/// rules for one host compile in the benchmarks) while bounding the quadratic
/// unreachable-rule analysis of one resource.
pub const MAX_VS_RULES: usize = 16_384;

/// Most match blocks of one rule: Istio `match` lists and Gateway API `matches` (its schema's
/// `maxItems`).
pub const MAX_MATCHES_PER_RULE: usize = 64;

/// Most header conditions in each of an Istio match block's `headers` and `withoutHeaders`.
pub const MAX_HEADER_MATCHES: usize = 64;

/// Most `queryParams` conditions of one Istio match block.
pub const MAX_QUERY_MATCHES: usize = 64;

/// Most destinations of one Istio `route` (http, tls or tcp rule).
pub const MAX_DESTINATIONS: usize = 64;

/// Largest Istio destination weight (the field is an int32).
pub const MAX_WEIGHT: i64 = i32::MAX as i64;

/// Largest total of one route's weights (Envoy adds weighted clusters in a uint32).
pub const MAX_WEIGHT_SUM: u64 = u32::MAX as u64;

/// Longest header (or query parameter) name in configuration, in bytes.
pub const MAX_HEADER_NAME_LEN: usize = 256;

/// Longest header value (or header and query match literal) in configuration, in bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 4096;

/// Longest Istio `uri` exact or prefix literal, in bytes: a longer one could never match,
/// since request paths longer than [`MAX_PATH_LEN`] are refused.
pub const MAX_URI_LITERAL_LEN: usize = MAX_PATH_LEN;

/// Maglev table sizes must be below this (Istio's validation; Envoy itself accepts this prime,
/// [`Maglev::MAX_TABLE_SIZE`](crate::hash::Maglev::MAX_TABLE_SIZE)).
pub const MAGLEV_TABLE_SIZE_LIMIT: u64 = crate::hash::Maglev::MAX_TABLE_SIZE;

/// Largest ring-hash ring ([`RingHash::MAX_RING_SIZE`](crate::hash::RingHash::MAX_RING_SIZE)):
/// a `minimumRingSize` above it cannot be built.
pub const MAX_RING_SIZE: u64 = crate::hash::RingHash::MAX_RING_SIZE;

// ---------------------------------------------------------------------------------------------
// Gateway API (CRD schema maxItems / maxLength / maximum)
// ---------------------------------------------------------------------------------------------

/// Most `hostnames` of an HTTPRoute or GRPCRoute.
pub const MAX_ROUTE_HOSTNAMES: usize = 16;
/// Most `parentRefs` of a route.
pub const MAX_PARENT_REFS: usize = 32;
/// Most `rules` of a route.
pub const MAX_ROUTE_RULES: usize = 16;
/// Most matches across all rules of a route (a CEL rule of the CRD).
pub const MAX_ROUTE_MATCHES: usize = 128;
/// Most header matches of one route match.
pub const MAX_ROUTE_HEADER_MATCHES: usize = 16;
/// Most query parameter matches of one HTTPRoute match.
pub const MAX_ROUTE_QUERY_MATCHES: usize = 16;
/// Most `backendRefs` of one rule.
pub const MAX_BACKEND_REFS: usize = 16;
/// Largest backendRef weight.
pub const MAX_ROUTE_WEIGHT: i64 = 1_000_000;
/// Most filters of one rule or backendRef.
pub const MAX_ROUTE_FILTERS: usize = 16;
/// Most entries in each of a header modifier's `set`, `add` and `remove`.
pub const MAX_HEADER_MODIFIER_OPS: usize = 16;
/// Longest path, path rewrite, query parameter value and gRPC service or method name, in bytes.
pub const MAX_ROUTE_PATH_LEN: usize = 1024;
/// Most entries of a CORS origin or header list.
pub const MAX_CORS_ITEMS: usize = 64;
/// Most CORS methods.
pub const MAX_CORS_METHODS: usize = 9;
/// Most header names in an ExternalAuth filter's lists.
pub const MAX_AUTH_HEADERS: usize = 64;
/// Most listeners of a Gateway.
pub const MAX_LISTENERS: usize = 64;
/// Most addresses of a Gateway.
pub const MAX_ADDRESSES: usize = 16;
/// Most certificate references of a listener.
pub const MAX_CERTIFICATE_REFS: usize = 64;
/// Most route kinds a listener allows.
pub const MAX_ROUTE_KINDS: usize = 8;
/// Most TLS options of a listener.
pub const MAX_TLS_OPTIONS: usize = 16;
/// Longest listener protocol, in bytes.
pub const MAX_PROTOCOL_LEN: usize = 255;
