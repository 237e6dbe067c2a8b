//! Findings about a configuration before it ships: rules that can never match, hosts several
//! VirtualServices claim, subsets nothing defines or nothing runs, routes that attach nowhere.
//!
//! [`analyze`] compiles the configuration (never in strict mode) and turns everything the
//! compile reports into [`Finding`]s: the errors of rejected resources (code `invalid`) and
//! every diagnostic. With a [`Registry`] it also checks the DestinationRule subsets against the
//! endpoints. There is one mechanism: each check lives where the compile validates, or here when
//! it needs input the compile does not have (endpoints), so `analyze` and [`crate::compile()`]
//! never disagree.
//!
//! Each finding has a stable code (kebab-case), Istio's analyzer code where Istio has one for
//! the same finding, a [`Level`], the resource, the field path and a message. Findings are
//! sorted by resource, then by path (indexes in numeric order).
//!
//! # Codes
//!
//! The findings the analysis is for:
//!
//! | code | Istio | level | resource, path | finding |
//! |---|---|---|---|---|
//! | `invalid` | | error | any, the field | the resource is rejected and does not serve (e.g. several VirtualService destinations whose weights are all 0) |
//! | `unreachable-rule` | IST0130 | warning | VirtualService, `spec.http[i]` (or a block) | an earlier rule without `match`, or earlier blocks covering all of this rule's blocks, take every request it matches |
//! | `shadowed-match` | IST0131 | warning | VirtualService, `spec.http[i].match[j]` | an earlier block matches a superset of this block's requests, semantically: an earlier prefix `/api` covers `/api/v2` with the same or fewer other conditions |
//! | `duplicate-match` | IST0131 | warning | VirtualService, `spec.http[i].match[j]` | the block is identical to an earlier one |
//! | `conflicting-host` | IST0109 | warning | VirtualService, `spec.hosts` | an older VirtualService claims the same host in the mesh; the message names the winner and why it wins (creation time, then name, then namespace), where both are visible alike |
//! | `duplicate-resource` | — | warning | VirtualService, `metadata.name` | the same VirtualService (kind, namespace and name) is given twice; the copy loaded first serves, and it is not reported as conflicting with itself |
//! | `undefined-subset` | IST0101 | warning | VirtualService, `…destination.subset` | no DestinationRule defines the subset (requests get 503) |
//! | `subset-no-endpoints` | IST0173 | warning | DestinationRule, `spec.subsets[i]` | with endpoints given: the host has endpoints, none carries the subset's labels |
//! | `subset-no-healthy-endpoints` | | warning | DestinationRule, `spec.subsets[i]` | with endpoints given: the subset selects endpoints, none of them healthy |
//! | `zero-weights` | | warning | HTTPRoute / GRPCRoute, `spec.rules[i].backendRefs` | every backend has weight 0: requests get 500 (gRPC 503); for a VirtualService this is `invalid` |
//! | `not-attached` | | warning | HTTPRoute / GRPCRoute, `spec.parentRefs[i]` | the route is not attached to that parent; the message gives the Gateway API reason (`NoMatchingParent`, `NotAllowedByListeners`, `NoMatchingListenerHostname`) |
//! | `hostname-no-listener` | | warning | HTTPRoute / GRPCRoute, `spec.hostnames[i]` | the route is attached, but this hostname intersects no listener hostname of its Gateways |
//! | `host-not-in-gateway` | IST0132 | warning | VirtualService, `spec.hosts` | a host the VirtualService binds to a Gateway is exposed by none of its servers |
//! | `multiple-sidecars-without-selector` | IST0110 | warning | Sidecar, `spec` | another Sidecar without a workloadSelector in the namespace is older; only that one applies |
//! | `conflicting-sidecar-selectors` | IST0111 | warning | Sidecar, `spec.workloadSelector` | with Pods given: an older Sidecar's selector selects the same Pod; only that one applies to it |
//! | `unresolved-backend` | | warning | HTTPRoute / GRPCRoute, `…backendRefs[j]` | the backend cannot be used (`ResolvedRefs` false); its share is refused |
//! | `destination-host-not-found` | IST0101 | warning | VirtualService, `…destination.host` (`…mirror.host`) | no loaded Service or ServiceEntry visible to the VirtualService's namespace (or to a namespace it is exported to) defines the host; checked only when the input holds a Service or a ServiceEntry |
//! | `destination-port-required` | IST0112 | warning | VirtualService, `…destination` | the destination names no port and the Service or ServiceEntry defining its host has several |
//! | `service-entry-addresses-required` | IST0134 | warning | ServiceEntry, `spec.ports[j]` | the entry has no `addresses` and this port's protocol is unset or TCP, and the mesh config (`defaultConfig.proxyMetadata`) does not have the proxies allocate addresses |
//! | `conflicting-service-entry-protocol` | IST0177 | warning | ServiceEntry, `spec.ports[j].protocol` | an older ServiceEntry visible to some of the same namespaces defines the same host and port number with another protocol |
//!
//! Every other compile diagnostic passes through with its code, as a warning unless it is a
//! note: `deprecated-field`, `ineffective-field`, `ineffective-fault`, `unsupported-redirect-code`,
//! `large-direct-response`, `sni-ip-address`, `delegate-not-found`, `delegate-not-exported`,
//! `delegate-conflict`, `delegate-empty`, `empty-selector`, `failover-without-outlier-detection`,
//! `tls-version-without-ciphers`, `invalid-cipher-suite`, `duplicate-cipher-suite`,
//! `duplicate-header`, `missing-tls`, `duplicate-egress-host`, `egress-host-all`, `unsupported-filter`, `regex-star-presence` (Istio's `regex: "*"`
//! read as presence, which its webhook refuses), and the note `skipped` (a resource of
//! a kind meshroute does not handle).
//!
//! Subsets are checked against the endpoints of their DestinationRule's host only when the
//! registry has endpoints for that host (a registry that knows some services says nothing about
//! the others), and not for wildcard hosts.
//!
//! # Example
//! ```
//! use meshroute::analyze::{Level, analyze};
//! use meshroute::{CompileOptions, Config};
//! let config = Config::from_str(r#"
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: reviews, namespace: default}
//! spec:
//!   hosts: [reviews]
//!   http:
//!   - match: [{uri: {prefix: /api}}]
//!     route: [{destination: {host: reviews}}]
//!   - match: [{uri: {prefix: /api/v2}, headers: {end-user: {exact: jason}}}]
//!     route: [{destination: {host: ratings}}]
//!   - route: [{destination: {host: reviews}}]
//! "#, "inline")?;
//! let analysis = analyze(&config, &CompileOptions::default(), None);
//! let f = &analysis.findings()[0];
//! assert_eq!((f.code, f.istio_code, f.severity), ("unreachable-rule", Some("IST0130"), Level::Warning));
//! assert_eq!(f.path, "spec.http[1]");
//! assert!(!analysis.is_clean());
//! # Ok::<(), meshroute::Error>(())
//! ```

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Value, json};

use crate::compile::{CompileOptions, compile};
use crate::config::{Config, Resource};
use crate::error::{Diagnostic, Error, ResourceId, Severity};
use crate::registry::Registry;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Level {
    /// Informational (a skipped resource).
    Note,
    /// The configuration serves, but probably not as meant.
    Warning,
    /// The resource is rejected and does not serve.
    Error,
}

impl Level {
    /// `note`, `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Note => "note",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: a stable code, Istio's code for the same finding when it has one, how serious
/// it is, where, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// Stable kebab-case code (see the [module docs](self) for the list).
    pub code: &'static str,
    /// Istio's analyzer code for the same finding (e.g. `IST0130`), if there is one.
    pub istio_code: Option<&'static str>,
    /// How serious it is.
    pub severity: Level,
    /// The resource, when the finding is about one.
    pub resource: Option<ResourceId>,
    /// The field path inside the resource (e.g. `spec.http[1].match[0]`).
    pub path: String,
    /// What is wrong, without resource, path or Istio code.
    pub message: String,
}

impl Finding {
    fn new(
        code: &'static str,
        severity: Level,
        resource: Option<ResourceId>,
        path: String,
        message: String,
    ) -> Finding {
        let istio_code = istio_code(code);
        // Compile messages end with Istio's code; the finding carries it in its own field.
        let message = match istio_code {
            Some(ist) => message
                .strip_suffix(&format!(" ({ist})"))
                .map(str::to_string)
                .unwrap_or(message),
            None => message,
        };
        Finding {
            code,
            istio_code,
            severity,
            resource,
            path,
            message,
        }
    }

    fn from_diagnostic(d: &Diagnostic) -> Finding {
        let severity = match d.severity {
            Severity::Note => Level::Note,
            Severity::Warning => Level::Warning,
        };
        Finding::new(
            d.code,
            severity,
            d.resource.clone(),
            d.path.clone(),
            d.message.clone(),
        )
    }

    fn from_error(e: &Error, resource: &ResourceId) -> Finding {
        Finding::new(
            "invalid",
            Level::Error,
            Some(e.resource().unwrap_or(resource).clone()),
            e.path().to_string(),
            e.message().to_string(),
        )
    }

    /// The finding as JSON: `{"code", "istio_code", "severity", "resource": {"kind",
    /// "namespace", "name"} or null, "path", "message"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code,
            "istio_code": self.istio_code,
            "severity": self.severity.as_str(),
            "resource": self.resource.as_ref().map(|r| json!({
                "kind": r.kind, "namespace": r.namespace, "name": r.name,
            })),
            "path": self.path,
            "message": self.message,
        })
    }
}

impl fmt::Display for Finding {
    /// `warning[shadowed-match] (IST0131): VirtualService default/reviews: spec.http[1].match[0]: …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.severity, self.code)?;
        if let Some(ist) = self.istio_code {
            write!(f, " ({ist})")?;
        }
        f.write_str(": ")?;
        if let Some(r) = &self.resource {
            write!(f, "{r}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Istio's analyzer code for a finding code.
fn istio_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "undefined-subset" => "IST0101",
        "conflicting-host" => "IST0109",
        "multiple-sidecars-without-selector" => "IST0110",
        "conflicting-sidecar-selectors" => "IST0111",
        "unreachable-rule" => "IST0130",
        "shadowed-match" | "duplicate-match" => "IST0131",
        "host-not-in-gateway" => "IST0132",
        "subset-no-endpoints" => "IST0173",
        "destination-host-not-found" => "IST0101",
        "destination-port-required" => "IST0112",
        "service-entry-addresses-required" => "IST0134",
        "conflicting-service-entry-protocol" => "IST0177",
        _ => return None,
    })
}

/// The findings of one analysis, sorted by resource, then path.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    findings: Vec<Finding>,
}

impl Analysis {
    /// Every finding, sorted by resource (findings without one first), then by path.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The findings with `code`.
    pub fn with_code<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.code == code)
    }

    /// How many findings have `level`.
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.severity == level).count()
    }

    /// The most serious level found, if any finding.
    pub fn worst(&self) -> Option<Level> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// No warning and no error (notes allowed).
    pub fn is_clean(&self) -> bool {
        self.worst().is_none_or(|l| l < Level::Warning)
    }

    /// One line per finding ([`Finding`]'s `Display`), then a summary line
    /// (`2 errors, 1 warning, 0 notes`, or `no findings`).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&f.to_string());
            out.push('\n');
        }
        if self.findings.is_empty() {
            out.push_str("no findings\n");
        } else {
            let plural =
                |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            out.push_str(&format!(
                "{}, {}, {}\n",
                plural(self.count(Level::Error), "error"),
                plural(self.count(Level::Warning), "warning"),
                plural(self.count(Level::Note), "note"),
            ));
        }
        out
    }

    /// `{"findings": [Finding::to_json …], "summary": {"errors", "warnings", "notes"}}`.
    pub fn to_json(&self) -> Value {
        json!({
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
            "summary": {
                "errors": self.count(Level::Error),
                "warnings": self.count(Level::Warning),
                "notes": self.count(Level::Note),
            },
        })
    }
}

/// Analyzes `config`: compiles it with `options` (strict mode off, so every resource is looked
/// at) and reports the errors of rejected resources, every compile diagnostic and, when
/// `endpoints` is given, subsets that select no endpoint or no healthy one.
///
/// # Errors
/// None: problems are findings.
///
/// # Panics
/// Never.
///
/// # Example
/// ```
/// use meshroute::analyze::analyze;
/// use meshroute::registry::Registry;
/// use meshroute::{CompileOptions, Config};
/// let mut config = Config::from_str(include_str!("../../examples/bookinfo.yaml"), "bookinfo.yaml")?;
/// let options = CompileOptions::default();
/// let (registry, _) = Registry::from_config(
///     &Config::from_str(include_str!("../../examples/bookinfo-endpoints.yaml"), "endpoints")?,
///     &(&options).into(),
/// );
/// let analysis = analyze(&config, &options, Some(&registry));
/// assert!(analysis.is_clean(), "{}", analysis.to_text());
/// # Ok::<(), meshroute::Error>(())
/// ```
pub fn analyze(
    config: &Config,
    options: &CompileOptions,
    endpoints: Option<&Registry>,
) -> Analysis {
    let options = CompileOptions {
        strict: false,
        ..options.clone()
    };
    let compiled =
        compile(config, &options).expect("compile without strict mode reports, never fails");
    let mut findings: Vec<Finding> = Vec::new();
    for r in &compiled.rejected {
        findings.extend(r.errors.iter().map(|e| Finding::from_error(e, &r.resource)));
    }
    findings.extend(compiled.diagnostics.iter().map(Finding::from_diagnostic));
    // The resources that serve: not rejected, each id once (the first loaded).
    let mut seen = std::collections::HashSet::new();
    let serving: Vec<&Resource> = config
        .resources
        .iter()
        .filter(|r| {
            let id = r.id(&options.default_namespace);
            !compiled.rejected.iter().any(|x| x.resource == id) && seen.insert(id)
        })
        .collect();
    findings.extend(
        crate::compile::analyze_service_entries(
            &serving,
            compiled.table.mesh().dns_auto_allocate,
            &options.default_namespace,
        )
        .iter()
        .map(Finding::from_diagnostic),
    );
    if let Some(known) = compiled.table.inner.known() {
        let rejected = |id: &ResourceId| compiled.rejected.iter().any(|r| r.resource == *id);
        for res in &config.resources {
            let Resource::VirtualService(o) = res else {
                continue;
            };
            let id = res.id(&options.default_namespace);
            if !rejected(&id) {
                check_destination_hosts(&id, o, known, &options, &mut findings);
            }
        }
    }
    if let Some(registry) = endpoints {
        let rejected = |id: &ResourceId| compiled.rejected.iter().any(|r| r.resource == *id);
        for res in &config.resources {
            let Resource::DestinationRule(o) = res else {
                continue;
            };
            let id = res.id(&options.default_namespace);
            if rejected(&id) {
                continue;
            }
            let ns = o.namespace(&options.default_namespace);
            let host = crate::compile::expand_host(
                o.spec.host.as_deref().unwrap_or(""),
                ns,
                &options.cluster_domain,
            );
            check_subsets(&id, &host, &o.spec.subsets, registry, &mut findings);
        }
    }
    findings.sort_by(|a, b| {
        a.resource
            .cmp(&b.resource)
            .then_with(|| natural_cmp(&a.path, &b.path))
    });
    Analysis { findings }
}

/// `destination-host-not-found` (IST0101) and `destination-port-required` (IST0112) for one
/// VirtualService, as istioctl's `DestinationHostAnalyzer` (istio/istio
/// `pkg/config/analysis/analyzers/virtualservice/destinationhosts.go`): every route and
/// mirror destination's host must be defined by a Service or ServiceEntry the VirtualService
/// sees. Unlike istioctl (`util.GetDestinationHost`), a ServiceEntry exported to the
/// VirtualService's own namespace counts whatever the VirtualService's `exportTo` says, so an
/// entry exported by name to that namespace is no false positive.
fn check_destination_hosts(
    id: &ResourceId,
    o: &crate::config::Object<crate::config::VirtualServiceSpec>,
    known: &crate::known::KnownHosts,
    options: &CompileOptions,
    findings: &mut Vec<Finding>,
) {
    use crate::config::virtual_service::Destination;
    let ns = o.namespace(&options.default_namespace);
    // The namespaces whose view counts: the VirtualService's own and those it is exported to.
    let views: Vec<&str> = std::iter::once(ns)
        .chain(
            o.spec
                .export_to
                .iter()
                .map(String::as_str)
                .filter(|e| !matches!(*e, "." | "*")),
        )
        .collect();
    let mut check = |d: &Destination, path: String, what: &str| {
        if d.host.is_empty() || d.host.contains('*') {
            return;
        }
        let host = crate::compile::expand_host(&d.host, ns, &options.cluster_domain);
        let Some(found) = views.iter().find_map(|v| known.defined_for(&host, v)) else {
            findings.push(Finding::new(
                "destination-host-not-found",
                Level::Warning,
                Some(id.clone()),
                format!("{path}.host"),
                format!(
                    "{what} {:?} ({host}) is defined by no Service or ServiceEntry visible to \
                     namespace {ns}; requests to it fail (503, no cluster)",
                    d.host
                ),
            ));
            return;
        };
        let ports = &found.definition.ports;
        if d.port.as_ref().and_then(|p| p.number).is_none() && ports.len() > 1 {
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            findings.push(Finding::new(
                "destination-port-required",
                Level::Warning,
                Some(id.clone()),
                path,
                format!(
                    "{what} {:?} names no port, and {} defines ports {}; name one",
                    d.host,
                    found.definition.by,
                    list.join(", ")
                ),
            ));
        }
    };
    for (i, rule) in o.spec.http.iter().enumerate() {
        let Some(rule) = rule else { continue };
        for (j, r) in rule.route.iter().flatten().enumerate() {
            if let Some(d) = r.as_ref().and_then(|r| r.destination.as_ref()) {
                check(
                    d,
                    format!("spec.http[{i}].route[{j}].destination"),
                    "destination host",
                );
            }
        }
        if let Some(m) = &rule.mirror {
            check(m, format!("spec.http[{i}].mirror"), "mirror host");
        }
        for (j, m) in rule.mirrors.iter().flatten().enumerate() {
            if let Some(d) = m.as_ref().and_then(|m| m.destination.as_ref()) {
                check(
                    d,
                    format!("spec.http[{i}].mirrors[{j}].destination"),
                    "mirror host",
                );
            }
        }
    }
    for (i, rule) in o.spec.tcp.iter().enumerate() {
        for (j, r) in rule.iter().flat_map(|r| r.route.iter()).enumerate() {
            if let Some(d) = r.as_ref().and_then(|r| r.destination.as_ref()) {
                check(
                    d,
                    format!("spec.tcp[{i}].route[{j}].destination"),
                    "destination host",
                );
            }
        }
    }
    for (i, rule) in o.spec.tls.iter().enumerate() {
        for (j, r) in rule.iter().flat_map(|r| r.route.iter()).enumerate() {
            if let Some(d) = r.as_ref().and_then(|r| r.destination.as_ref()) {
                check(
                    d,
                    format!("spec.tls[{i}].route[{j}].destination"),
                    "destination host",
                );
            }
        }
    }
}

/// `subset-no-endpoints` and `subset-no-healthy-endpoints` for one DestinationRule.
fn check_subsets(
    id: &ResourceId,
    host: &str,
    subsets: &[Option<crate::config::destination_rule::Subset>],
    registry: &Registry,
    findings: &mut Vec<Finding>,
) {
    let all = registry.endpoints(host);
    if host.contains('*') || all.is_empty() {
        return;
    }
    for (i, s) in subsets.iter().enumerate() {
        let Some(s) = s else { continue };
        let name = s.name.as_deref().unwrap_or("");
        // The selection the router makes: the subset's labels are a subset of the endpoint's.
        let selected: Vec<_> = all
            .iter()
            .filter(|e| s.labels.iter().all(|(k, v)| e.labels.get(k) == Some(v)))
            .collect();
        let labels = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let path = format!("spec.subsets[{i}]");
        if selected.is_empty() {
            findings.push(Finding::new(
                "subset-no-endpoints",
                Level::Warning,
                Some(id.clone()),
                path,
                format!(
                    "subset {name:?} (labels {labels}) selects none of the {} of {host:?}; requests routed to it get 503",
                    endpoints(all.len())
                ),
            ));
        } else if !selected.iter().any(|e| e.healthy) {
            findings.push(Finding::new(
                "subset-no-healthy-endpoints",
                Level::Warning,
                Some(id.clone()),
                path,
                format!(
                    "subset {name:?} (labels {labels}) selects {} of {host:?}, none of them healthy; requests routed to it get 503",
                    endpoints(selected.len())
                ),
            ));
        }
    }
}

/// `1 endpoint`, `2 endpoints`.
fn endpoints(n: usize) -> String {
    format!("{n} endpoint{}", if n == 1 { "" } else { "s" })
}

/// Compares paths with runs of digits as numbers, so `http[2]` sorts before `http[10]`.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (trim_zeros(&a[..na]), trim_zeros(&b[..nb]));
                let o = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
                if o != Ordering::Equal {
                    return o;
                }
                (a, b) = (&a[na..], &b[nb..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|c| **c == b'0').count();
    &d[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sort_with_numeric_indexes() {
        let mut p = vec!["spec.http[10]", "spec.http[2].match[1]", "spec.http[2]", ""];
        p.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            p,
            vec!["", "spec.http[2]", "spec.http[2].match[1]", "spec.http[10]"]
        );
    }

    #[test]
    fn istio_code_is_moved_out_of_the_message() {
        let f = Finding::new(
            "unreachable-rule",
            Level::Warning,
            None,
            "spec.http[1]".into(),
            "rule is unreachable: x (IST0130)".into(),
        );
        assert_eq!(f.message, "rule is unreachable: x");
        assert_eq!(
            f.to_string(),
            "warning[unreachable-rule] (IST0130): spec.http[1]: rule is unreachable: x"
        );
    }
}
