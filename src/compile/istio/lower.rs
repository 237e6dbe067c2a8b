//! Lowering of validated resources into compiled rules. Validation has run: anything it
//! guarantees is relied on here; anything only compiling can find (an automaton over budget)
//! is reported with its path.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::sync::Arc;

use crate::action::{
    Abort, Action, Cors, Destination, DirectResponse, Fault, Forward, HeaderEdits, HeaderOps,
    Mirror, PathRewrite, PortFrom, Redirect, RedirectPort, RegexRewrite, Retries, Rewrite,
    Unavailable, WeightedDestination,
};
use crate::block::Block;
use crate::config::Object;
use crate::config::common::{Percent, StringMatch};
use crate::config::virtual_service::{
    self as vs, HttpMatchRequest, HttpRouteRule, VirtualServiceSpec,
};
use crate::cors::{OriginMatch, UnmatchedPreflights};
use crate::decision::MAX_MIRRORS;
use crate::predicate::header::{HeaderMatch, HeaderSource};
use crate::predicate::host::service_fqdn;
use crate::predicate::path::PathMatch;
use crate::predicate::query::QueryMatch;
use crate::predicate::source::SourceMatch;
use crate::predicate::{FullMatch, StrMatch};
use crate::split::Split;
use crate::table::{Entry, Rule, Source, SubsetInfo};

use crate::compile::report::Report;
use crate::compile::{CompileOptions, Placements};

/// A context key: `None` = mesh, `Some((namespace, name))` = gateway.
pub(crate) type ContextKey = Option<(String, String)>;

/// One VirtualService, lowered.
#[derive(Clone)]
pub(crate) struct Lowered {
    pub(crate) source: Source,
    /// Rules with indices local to this service.
    pub(crate) rules: Vec<Rule>,
    /// Entries in order, each with the contexts its block is limited to (`None` = all).
    pub(crate) entries: Vec<(Entry, Option<Vec<ContextKey>>)>,
    pub(crate) placements: Placements,
}

impl Lowered {
    /// The rules renumbered as the resource of index `source` of the table.
    pub(crate) fn renumber(&mut self, source: u32) {
        for r in &mut self.rules {
            r.source = source;
        }
    }
}

/// Expands a host written in a resource of namespace `ns`: a short name (no dot) becomes the
/// Service's full name ([`service_fqdn`]); `*` and names with a dot are kept as they are,
/// lowercase. This is Istio's rule for configuration (it does not expand `reviews.prod`),
/// not the client's DNS search path a request's host is read with
/// ([`crate::predicate::host::lookup_names`]), which does.
pub(crate) fn expand_host(host: &str, ns: &str, domain: &str) -> String {
    if host.contains(['.', '*', ':']) || host.is_empty() {
        host.to_ascii_lowercase()
    } else {
        service_fqdn(host, ns, domain)
    }
}

/// `mesh` → `None`; `ns/name` → that; `name.ns` (legacy) → `(ns, name)`; `name` → `(vs ns, name)`.
pub(crate) fn resolve_gateway(name: &str, ns: &str) -> ContextKey {
    if name == "mesh" {
        return None;
    }
    if let Some((n, g)) = name.split_once('/') {
        let n = if n == "." { ns } else { n };
        return Some((n.to_string(), g.to_string()));
    }
    if let Some((g, n)) = name.split_once('.') {
        let n = n.split('.').next().unwrap_or(n);
        return Some((n.to_string(), g.to_string()));
    }
    Some((ns.to_string(), name.to_string()))
}

pub(crate) fn lower_virtual_service(
    o: &Object<VirtualServiceSpec>,
    ns: &str,
    options: &CompileOptions,
    source_index: u32,
    subsets: &DefinedSubsets,
    default_retries: Option<&Arc<Retries>>,
    report: &mut Report,
) -> Option<Lowered> {
    let spec = &o.spec;
    let domain = options.cluster_domain.as_str();
    let mut placements = Placements::new();
    let contexts: Vec<ContextKey> = if spec.gateways.is_empty() {
        vec![None]
    } else {
        spec.gateways
            .iter()
            .map(|g| resolve_gateway(g, ns))
            .collect()
    };
    for c in &contexts {
        let hosts = placements.entry(c.clone()).or_default();
        for h in &spec.hosts {
            hosts.insert(expand_host(h, ns, domain));
        }
    }
    let sticky = crate::compile::sticky_key(&o.metadata.annotations, options, report);
    let mut rules = Vec::new();
    let mut entries = Vec::new();
    for (i, rule) in spec.http.iter().enumerate() {
        let Some(rule) = rule else { continue };
        let path = format_args!("spec.http[{i}]");
        if rule.websocket_upgrade.is_some() {
            report.warn(
                "deprecated-field",
                format!("{path}.websocketUpgrade"),
                "websocketUpgrade was removed from the API and is ignored; upgrades are always allowed",
            );
        }
        let local = rules.len() as u32;
        let Some(compiled) = lower_rule(
            rule,
            i as u32,
            source_index,
            &path,
            ns,
            domain,
            subsets,
            &sticky,
            default_retries,
            report,
        ) else {
            continue;
        };
        if compiled.blocks.is_empty() {
            entries.push((Entry::new(local, None), None));
        }
        for (b, m) in rule.matches.iter().enumerate() {
            let Some(m) = m else { continue };
            let ctxs = (!m.gateways.is_empty())
                .then(|| m.gateways.iter().map(|g| resolve_gateway(g, ns)).collect());
            entries.push((Entry::new(local, Some(b as u16)), ctxs));
        }
        rules.push(compiled);
    }
    if report.has_errors() {
        return None;
    }
    Some(Lowered {
        source: Source {
            kind: "VirtualService".into(),
            namespace: ns.into(),
            name: o.metadata.name.as_str().into(),
        },
        rules,
        entries,
        placements,
    })
}

#[allow(clippy::too_many_arguments)]
fn lower_rule(
    rule: &HttpRouteRule,
    index: u32,
    source: u32,
    path: &dyn Display,
    ns: &str,
    domain: &str,
    subsets: &DefinedSubsets,
    sticky: &Option<crate::hash::KeySource>,
    default_retries: Option<&Arc<Retries>>,
    report: &mut Report,
) -> Option<Rule> {
    let name = rule.name.clone().unwrap_or_default();
    let mut blocks = Vec::new();
    for (b, m) in rule.matches.iter().enumerate() {
        let Some(m) = m else { continue };
        blocks.push(lower_block(
            m,
            &name,
            &format_args!("{path}.match[{b}]"),
            report,
        ));
    }
    let mut headers = header_ops(rule.headers.as_deref());
    let action = if let Some(r) = &rule.redirect {
        Action::Redirect(lower_redirect(r))
    } else if let Some(d) = &rule.direct_response {
        Action::DirectResponse(lower_direct_response(d, path, report))
    } else {
        let destinations = lower_route(rule, path, ns, domain, subsets, report);
        let weights: Vec<u32> = destinations.iter().map(|d| d.weight).collect();
        let mut rewrite = lower_rewrite(rule, path, report);
        move_authority_to_rewrite(&mut headers, &mut rewrite);
        let mirrors = lower_mirrors(rule, path, ns, domain, report);
        Action::Forward(Forward {
            split: Split::new(&weights),
            destinations: destinations.into(),
            rewrite: rewrite.map(Box::new),
            timeout: rule.timeout.map(|t| t.to_std()),
            backend_timeout: None,
            retries: retries(rule.retries.as_deref(), default_retries),
            fault: rule.fault.as_ref().map(|f| Box::new(fault(f))),
            mirrors: mirrors.into(),
            cors: rule
                .cors_policy
                .as_ref()
                .map(|c| Box::new(cors(c, &format_args!("{path}.corsPolicy"), report))),
            unavailable_status: 503,
            sticky: sticky.clone().map(Box::new),
            session: None,
        })
    };
    Some(Rule {
        source,
        index,
        plain: false,
        name: name.into(),
        blocks: blocks.into(),
        action,
        headers,
    })
}

fn lower_redirect(r: &vs::HttpRedirect) -> Redirect {
    Redirect {
        uri: r.uri.as_deref().map(Into::into),
        prefix_rewrite: r.prefix_rewrite.as_deref().map(Into::into),
        authority: r.authority.as_deref().map(Into::into),
        scheme: r.scheme.as_deref().map(Into::into),
        port: match (r.port, r.derive_port.as_deref()) {
            (Some(p), _) => RedirectPort::Port(p as u16),
            (None, Some("FROM_REQUEST_PORT")) => RedirectPort::FromRequest,
            (None, Some("FROM_PROTOCOL_DEFAULT")) => RedirectPort::FromProtocolDefault,
            _ => RedirectPort::Unchanged,
        },
        code: match r.redirect_code {
            None | Some(0) => 301,
            Some(c) => c as u16,
        },
    }
}

/// A direct response; a body whose base64 does not decode is reported and left out.
fn lower_direct_response(
    d: &vs::HttpDirectResponse,
    path: &dyn Display,
    report: &mut Report,
) -> DirectResponse {
    let body = match &d.body {
        Some(b) => match (&b.string, &b.bytes) {
            (Some(s), _) => Some(s.as_bytes().to_vec()),
            (None, Some(b64)) => match decode_base64(b64) {
                Some(bytes) => Some(bytes),
                None => {
                    report.error(
                        format!("{path}.directResponse.body.bytes"),
                        "body bytes are not valid base64",
                    );
                    None
                }
            },
            (None, None) => None,
        },
        None => None,
    };
    DirectResponse {
        status: d.status.unwrap_or(200) as u16,
        body,
    }
}

/// The rule's weighted destinations; one naming a subset no DestinationRule defines is
/// reported and marked unavailable.
fn lower_route(
    rule: &HttpRouteRule,
    path: &dyn Display,
    ns: &str,
    domain: &str,
    subsets: &DefinedSubsets,
    report: &mut Report,
) -> Vec<WeightedDestination> {
    let mut destinations = Vec::new();
    for (j, d) in rule.route.iter().flatten().enumerate() {
        let Some(d) = d else { continue };
        let Some(dest) = &d.destination else { continue };
        let dpath = format_args!("{path}.route[{j}].destination");
        let mut destination = lower_destination(dest, d.headers.as_deref(), ns, domain);
        if !check_subset(&destination, &dpath, subsets, report) {
            destination.unavailable = Some(Unavailable::UndefinedSubset);
        }
        destinations.push(WeightedDestination {
            destination,
            weight: d.weight.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        });
    }
    // A lone destination takes every request whatever its weight (istiod routes to its cluster,
    // not a weighted set): its weight is 100, as Istio's docs say of a route with one
    // destination, so what callers read is the share it gets.
    if let [only] = destinations.as_mut_slice() {
        only.weight = 100;
    }
    destinations
}

/// The rule's path and authority rewrite; a regex rewrite that does not compile is reported
/// and left out.
fn lower_rewrite(rule: &HttpRouteRule, path: &dyn Display, report: &mut Report) -> Option<Rewrite> {
    rule.rewrite.as_ref().map(|r| {
        let regex = r.uri_regex_rewrite.as_ref().and_then(|rr| {
            let pattern = rr.pattern.as_deref().unwrap_or("");
            report
                .rewrite_regex(
                    pattern,
                    format_args!("{path}.rewrite.uriRegexRewrite.match"),
                )
                .map(|re| {
                    PathRewrite::Regex(RegexRewrite {
                        pattern: re,
                        rewrite: rr.rewrite.as_deref().unwrap_or("").into(),
                    })
                })
        });
        Rewrite {
            path: r
                .uri
                .as_deref()
                .map(|u| PathRewrite::MatchedPrefix(u.into()))
                .or(regex),
            authority: r.authority.as_deref().map(Into::into),
        }
    })
}

/// Removes the header operation at `p`, returning its value.
fn take_at(list: &mut Box<[(Box<str>, Box<str>)]>, p: usize) -> Box<str> {
    let mut ops = std::mem::take(list).into_vec();
    let (_, value) = ops.remove(p);
    *list = ops.into_boxed_slice();
    value
}

/// Setting `host`/`:authority` on the request is an authority rewrite (Istio): the first
/// such `set` (else `add`) leaves the header edits and becomes the rewrite's authority,
/// unless the rewrite names one already.
fn move_authority_to_rewrite(headers: &mut HeaderOps, rewrite: &mut Option<Rewrite>) {
    let auth_pos = headers
        .request
        .set
        .iter()
        .position(|(k, _)| is_authority(k));
    let auth = auth_pos
        .map(|p| take_at(&mut headers.request.set, p))
        .or_else(|| {
            let p = headers
                .request
                .add
                .iter()
                .position(|(k, _)| is_authority(k))?;
            Some(take_at(&mut headers.request.add, p))
        });
    if let Some(a) = auth {
        let rw = rewrite.get_or_insert(Rewrite {
            path: None,
            authority: None,
        });
        rw.authority.get_or_insert(a);
    }
}

/// The rule's mirrors (`mirror` first, then `mirrors`); more than [`MAX_MIRRORS`] is
/// reported.
fn lower_mirrors(
    rule: &HttpRouteRule,
    path: &dyn Display,
    ns: &str,
    domain: &str,
    report: &mut Report,
) -> Vec<Mirror> {
    let mut mirrors = Vec::new();
    if let Some(m) = &rule.mirror {
        let share = match (&rule.mirror_percentage, rule.mirror_percent) {
            (Some(p), _) => per_million(p),
            (None, Some(p)) => (p.clamp(0, 100) * 10_000) as u32,
            (None, None) => 1_000_000,
        };
        mirrors.push(Mirror {
            destination: lower_destination(m, None, ns, domain),
            per_million: share,
        });
    }
    for m in rule.mirrors.iter().flatten().flatten() {
        if let Some(d) = &m.destination {
            let share = m.percentage.as_ref().map_or(1_000_000, per_million);
            mirrors.push(Mirror {
                destination: lower_destination(d, None, ns, domain),
                per_million: share,
            });
        }
    }
    if mirrors.len() > MAX_MIRRORS {
        report.error(
            format!("{path}.mirrors"),
            format!(
                "{} mirrors exceed the limit of {MAX_MIRRORS}",
                mirrors.len()
            ),
        );
    }
    mirrors
}

fn is_authority(name: &str) -> bool {
    name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case(":authority")
}

fn per_million(p: &Percent) -> u32 {
    (p.value.clamp(0.0, 100.0) * 10_000.0).round() as u32
}

pub(super) fn lower_destination(
    d: &vs::Destination,
    headers: Option<&vs::Headers>,
    ns: &str,
    domain: &str,
) -> Destination {
    let port = d.port.as_ref().and_then(|p| p.number).map(|n| n as u16);
    Destination {
        host: expand_host(&d.host, ns, domain).into(),
        subset: d.subset.as_deref().map(Into::into),
        port,
        port_from: if port.is_some() {
            PortFrom::Configured
        } else {
            PortFrom::Request
        },
        headers: header_ops(headers),
        unavailable: None,
        cluster: 0,
    }
}

/// Questions [`DefinedSubsets::defines`] answered: host, subset, whether defined.
pub(crate) type SubsetQuestions = Vec<(Box<str>, Box<str>, bool)>;

/// The subsets the DestinationRules define (the first definition of a (host, name) pair in
/// Istio's merge order), indexed by host: a destination's subset is looked up among its own
/// host's and the wildcard hosts', not among every subset of the table (a scan of every
/// subset per destination made a compile quadratic in the number of DestinationRules).
pub(crate) struct DefinedSubsets {
    /// Every subset, in definition order (the table's [`Table::subsets`](crate::Table::subsets)).
    pub(crate) list: Vec<SubsetInfo>,
    /// While a lowering is kept across compiles: each question [`DefinedSubsets::defines`]
    /// answered for it (host, subset, whether defined), the lowering's dependence on the
    /// DestinationRules.
    read: std::cell::RefCell<Option<SubsetQuestions>>,
    /// Positions in `list` by exact host.
    by_host: HashMap<Box<str>, Vec<usize>>,
    /// Positions in `list` of the subsets of wildcard hosts (`*.example.com`).
    wildcards: Vec<usize>,
}

impl DefinedSubsets {
    /// Indexes `list`.
    pub(crate) fn new(list: Vec<SubsetInfo>) -> DefinedSubsets {
        let mut by_host: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        let mut wildcards = Vec::new();
        for (i, s) in list.iter().enumerate() {
            by_host.entry(s.host.clone()).or_default().push(i);
            if s.host.starts_with('*') {
                wildcards.push(i);
            }
        }
        DefinedSubsets {
            list,
            by_host,
            wildcards,
            read: Default::default(),
        }
    }

    /// From now on, records each question [`DefinedSubsets::defines`] answers.
    pub(crate) fn record(&self) {
        *self.read.borrow_mut() = Some(Vec::new());
    }

    /// The questions answered since [`DefinedSubsets::record`], which stops recording.
    pub(crate) fn recorded(&self) -> SubsetQuestions {
        self.read.borrow_mut().take().unwrap_or_default()
    }

    /// Whether every question of `read` ([`DefinedSubsets::recorded`]) gets the same answer
    /// here.
    pub(crate) fn answers_alike(&self, read: &[(Box<str>, Box<str>, bool)]) -> bool {
        read.iter()
            .all(|(host, name, defined)| self.answer(host, name) == *defined)
    }

    /// Whether a subset `name` is defined for `host`: by a DestinationRule of that host, or
    /// of a wildcard host that covers it.
    fn defines(&self, host: &str, name: &str) -> bool {
        let defined = self.answer(host, name);
        if let Some(read) = self.read.borrow_mut().as_mut() {
            read.push((host.into(), name.into(), defined));
        }
        defined
    }

    /// [`DefinedSubsets::defines`], unrecorded.
    fn answer(&self, host: &str, name: &str) -> bool {
        let named = |i: &usize| *self.list[*i].name == *name;
        self.by_host
            .get(host)
            .is_some_and(|at| at.iter().any(named))
            || self.wildcards.iter().any(|i| {
                named(i)
                    && self.list[*i]
                        .host
                        .strip_prefix('*')
                        .is_some_and(|suffix| host.len() > suffix.len() && host.ends_with(suffix))
            })
    }
}

/// Whether the destination's subset is defined; warns when it is not.
pub(super) fn check_subset(
    d: &Destination,
    path: &dyn Display,
    subsets: &DefinedSubsets,
    report: &mut Report,
) -> bool {
    let Some(subset) = &d.subset else { return true };
    let defined = subsets.defines(&d.host, subset);
    if !defined {
        report.warn(
            "undefined-subset",
            format!("{path}.subset"),
            format!(
                "subset {subset:?} of host {:?} is not defined by any DestinationRule here; requests routed to it get 503 until one defines it (IST0101)",
                d.host
            ),
        );
    }
    defined
}

fn header_ops(h: Option<&vs::Headers>) -> HeaderOps {
    let edits = |o: Option<&vs::HeaderOperations>| match o {
        None => HeaderEdits::default(),
        Some(o) => HeaderEdits {
            set: o
                .set
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
            add: o
                .add
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
            remove: o.remove.iter().map(|k| k.as_str().into()).collect(),
        },
    };
    match h {
        None => HeaderOps::default(),
        Some(h) => HeaderOps {
            request: edits(h.request.as_ref()),
            response: edits(h.response.as_ref()),
        },
    }
}

/// A rule's retry policy as istiod sets it (route.go `applyHTTPRouteDestination`): the
/// rule's `retries` when written, else the table's default (`mesh`, the mesh config's
/// `defaultHttpRetryPolicy` or Istio's built-in default, one allocation shared by every rule
/// that writes none). A written `retries` replaces the default whole: the fields it leaves
/// unset take Istio's built-in values, never the mesh default's.
fn retries(r: Option<&vs::HttpRetry>, mesh: Option<&Arc<Retries>>) -> Option<Arc<Retries>> {
    match r {
        None => mesh.cloned(),
        Some(r) => convert_retries(r, false),
    }
}

/// An `HTTPRetry` as istiod converts it (retry.go `ConvertPolicy`): none for `attempts` 0 or
/// less; unset `retryOn` is Istio's default conditions; status codes in `retryOn` become
/// retriable status codes. `is_default`: the policy is the mesh default.
pub(crate) fn convert_retries(r: &vs::HttpRetry, is_default: bool) -> Option<Arc<Retries>> {
    let attempts = r.attempts.unwrap_or(0);
    if attempts <= 0 {
        return None;
    }
    let (retry_on, retriable_status_codes) = match r.retry_on.as_deref() {
        Some(written) if !written.is_empty() => split_retry_on(written),
        _ => (crate::action::DEFAULT_RETRY_ON.into(), Vec::new()),
    };
    Some(Arc::new(Retries {
        attempts: attempts.min(i64::from(u32::MAX)) as u32,
        per_try_timeout: r.per_try_timeout.map(|d| d.to_std()),
        on: crate::retry::RetryOn::parse(&retry_on),
        retry_on: retry_on.into(),
        retriable_status_codes,
        retry_remote_localities: r.retry_remote_localities,
        retry_ignore_previous_hosts: r.retry_ignore_previous_hosts,
        host_selection_attempts: crate::retry::HOST_SELECTION_ATTEMPTS,
        backoff: r.backoff.map(|d| d.to_std()),
        is_default,
    }))
}

/// A written `retryOn` as istiod lowers it (pilot/pkg/networking/core/route/retry/retry.go
/// `ConvertPolicy`, `parseRetryOn`): tokens trimmed, empty ones dropped, integers with an HTTP
/// status text become Envoy's `retriable_status_codes`, the rest stay `retry_on`, which gains
/// `retriable-status-codes` when codes were listed without it.
fn split_retry_on(written: &str) -> (String, Vec<u16>) {
    let mut codes = Vec::new();
    let mut kept: Vec<&str> = Vec::new();
    for token in written.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match token.parse::<u16>() {
            Ok(code) if super::virtual_service::is_known_http_status(i64::from(code)) => {
                codes.push(code);
            }
            _ => kept.push(token),
        }
    }
    let mut retry_on = kept.join(",");
    if !codes.is_empty() && !retry_on.contains("retriable-status-codes") {
        if !retry_on.is_empty() {
            retry_on.push(',');
        }
        retry_on.push_str("retriable-status-codes");
    }
    (retry_on, codes)
}

fn fault(f: &vs::HttpFaultInjection) -> Fault {
    let share = |p: &Option<Percent>, legacy: Option<i64>| match (p, legacy) {
        (Some(p), _) => per_million(p),
        (None, Some(l)) => (l.clamp(0, 100) * 10_000) as u32,
        (None, None) => 0,
    };
    Fault {
        delay: f
            .delay
            .as_ref()
            .and_then(|d| Some((d.fixed_delay?.to_std(), share(&d.percentage, d.percent)))),
        abort: f.abort.as_ref().and_then(|a| {
            let kind = match (&a.http_status, &a.grpc_status) {
                (Some(code), _) => Abort::Http(*code as u16),
                (None, Some(g)) => Abort::Grpc(g.as_str().into()),
                _ => return None,
            };
            Some((kind, share(&a.percentage, None)))
        }),
    }
}

/// `corsPolicy` as istiod's `TranslateCORSPolicy` hands it to Envoy: `allowOrigins` when set,
/// else the deprecated `allowOrigin` as exact matches; lists joined by `,`; `maxAge` in whole
/// seconds; `unmatchedPreflights: IGNORE` stops forwarding unmatched preflights.
fn cors(c: &vs::CorsPolicy, path: &dyn Display, report: &mut Report) -> Cors {
    let mut origins = Vec::new();
    if c.allow_origins.is_empty() {
        origins.extend(
            c.allow_origin
                .iter()
                .map(|o| OriginMatch::Exact(o.as_str().into())),
        );
    }
    for (k, o) in c.allow_origins.iter().enumerate() {
        let Some(o) = o else { continue };
        if let Some(v) = &o.exact {
            origins.push(OriginMatch::Exact(v.as_str().into()));
        } else if let Some(v) = &o.prefix {
            origins.push(OriginMatch::Prefix(v.as_str().into()));
        } else if let Some(v) = &o.regex
            && let Some(r) =
                compile_regex(v, &format_args!("{path}.allowOrigins[{k}].regex"), report)
        {
            origins.push(OriginMatch::Regex(r));
        }
    }
    let unmatched = match c.unmatched_preflights.as_deref() {
        Some("IGNORE") => UnmatchedPreflights::Ignore,
        _ => UnmatchedPreflights::Forward,
    };
    Cors::new(
        origins,
        &c.allow_methods,
        &c.allow_headers,
        &c.expose_headers,
        // istiod writes `maxAge.seconds`: the fraction is dropped.
        c.max_age
            .map(|d| std::time::Duration::from_secs(d.to_std().as_secs())),
        c.allow_credentials.unwrap_or(false),
        unmatched,
    )
}

fn lower_block(
    m: &HttpMatchRequest,
    rule_name: &str,
    path: &dyn Display,
    report: &mut Report,
) -> Block {
    let name = m.name.clone().unwrap_or_default();
    let route_name = if name.is_empty() {
        rule_name.to_string()
    } else {
        format!("{rule_name}.{name}")
    };
    let ignore_case = m.ignore_uri_case.unwrap_or(false);
    let uri = m.uri.as_ref().and_then(|u| {
        if let Some(e) = &u.exact {
            Some(PathMatch::Exact {
                value: e.as_str().into(),
                ignore_case,
            })
        } else if let Some(p) = &u.prefix {
            Some(PathMatch::Prefix {
                value: p.as_str().into(),
                ignore_case,
            })
        } else if let Some(r) = &u.regex {
            compile_regex(r, &format_args!("{path}.uri.regex"), report).map(PathMatch::Regex)
        } else {
            None
        }
    });
    // Each condition with where it is written (`headers[End-User]`), for explanations.
    let mut headers: Vec<(HeaderMatch, Box<str>)> = Vec::new();
    let mut add_headers =
        |map: &Option<BTreeMap<String, Option<StringMatch>>>, field: &str, invert: bool| {
            for (k, v) in map.iter().flatten() {
                let Some(v) = v else { continue };
                let value = if is_presence(v) {
                    None
                } else {
                    str_match(v, &format_args!("{path}.{field}[{k}]"), report)
                };
                let h = HeaderMatch {
                    source: HeaderSource::from_name(k),
                    missing_as_empty: invert && value.is_some(),
                    value,
                    invert,
                };
                headers.push((h, format!("{field}[{k}]").into()));
            }
        };
    add_headers(&m.headers, "headers", false);
    add_headers(&m.without_headers, "withoutHeaders", true);
    headers.sort_by(|a, b| a.0.source.name().cmp(b.0.source.name()));
    let (headers, header_fields): (Vec<HeaderMatch>, Vec<Box<str>>) = headers.into_iter().unzip();
    let query: Box<[QueryMatch]> = m
        .query_params
        .iter()
        .flatten()
        .filter_map(|(k, v)| {
            let v = v.as_ref()?;
            let value = if is_presence(v) {
                None
            } else {
                str_match(v, &format_args!("{path}.queryParams[{k}]"), report)
            };
            Some(QueryMatch {
                key: k.as_str().into(),
                value,
            })
        })
        .collect();
    // Istio ignores sourceLabels and sourceNamespace on a block that names gateways.
    let gateway_block = !m.gateways.is_empty();
    let source = SourceMatch {
        labels: if gateway_block {
            Box::default()
        } else {
            m.source_labels
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect()
        },
        namespace: if gateway_block {
            None
        } else {
            m.source_namespace.as_deref().map(Into::into)
        },
        port: m.port.filter(|&p| p > 0).map(|p| p as u16),
    };
    // istiod makes these header matchers on pseudo-headers, which are always present: a
    // presence match holds for every request, yet it is a header matcher, so the block is no
    // catch-all (route.go `IsCatchAllRoute`). `prefix ""` is that condition.
    let sm = |f: Option<&StringMatch>, field: &str, report: &mut Report| {
        let v = f?;
        if is_presence(v) {
            return Some(StrMatch::Prefix("".into()));
        }
        str_match(v, &format_args!("{path}.{field}"), report)
    };
    Block {
        scheme: sm(m.scheme.as_deref(), "scheme", report),
        method: sm(m.method.as_deref(), "method", report),
        authority: sm(m.authority.as_deref(), "authority", report),
        name: name.into(),
        route_name: route_name.into(),
        uri,
        headers: headers.into(),
        query,
        source,
        path: path.to_string().into(),
        header_fields: header_fields.into(),
    }
}

/// `{}` and `regex: "*"` are presence matches (istio/istio
/// `pilot/pkg/networking/core/route/route.go`, `canBeConvertedToPresentMatch`).
pub(crate) fn is_presence(m: &StringMatch) -> bool {
    m.exact.is_none() && m.prefix.is_none() && m.regex.as_deref().is_none_or(|r| r == "*")
}

fn str_match(m: &StringMatch, path: &dyn Display, report: &mut Report) -> Option<StrMatch> {
    if let Some(e) = &m.exact {
        Some(StrMatch::Exact(e.as_str().into()))
    } else if let Some(p) = &m.prefix {
        Some(StrMatch::Prefix(p.as_str().into()))
    } else if let Some(r) = &m.regex {
        compile_regex(r, &format_args!("{path}.regex"), report).map(StrMatch::Regex)
    } else {
        None
    }
}

/// `pattern` compiled through the compile's shared regexes, or `None` with an error at `path`.
fn compile_regex(pattern: &str, path: &dyn Display, report: &mut Report) -> Option<FullMatch> {
    report.regex(pattern, path)
}

/// Standard base64 (with or without padding), as protobuf JSON writes `bytes`.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_gateways_resolve_like_istio() {
        assert_eq!(
            expand_host("Reviews", "foo", "cluster.local"),
            "reviews.foo.svc.cluster.local"
        );
        assert_eq!(
            expand_host("reviews.bar", "foo", "cluster.local"),
            "reviews.bar"
        );
        assert_eq!(expand_host("*", "foo", "cluster.local"), "*");
        assert_eq!(resolve_gateway("mesh", "ns"), None);
        assert_eq!(
            resolve_gateway("gw", "ns"),
            Some(("ns".into(), "gw".into()))
        );
        assert_eq!(
            resolve_gateway("other/gw", "ns"),
            Some(("other".into(), "gw".into()))
        );
        assert_eq!(
            resolve_gateway("gw.other", "ns"),
            Some(("other".into(), "gw".into()))
        );
    }

    #[test]
    fn base64_bodies() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("a!"), None);
    }
}
