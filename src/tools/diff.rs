//! Change impact: the classes of requests and connections whose decision differs between two
//! tables.
//!
//! The requests checked are the [witnesses](crate::witness) of every rule and match block of
//! both tables, and, per host, boundary requests around every literal the configurations
//! test: each path literal itself, the literal + `/x`, the literal with its last character
//! changed, each witness without each of its headers or its query, and the host's base request
//! with each tested header or query parameter present. Each request is decided against both
//! tables and its decisions are compared by meaning, as an [`Effect`]: the outcome, the
//! destination split as a set of (fully qualified host, subset, port, share of the weights),
//! and a summary of the actions (rewritten path and authority, redirect, direct response,
//! fault, timeout, retries, mirrors, header edits, CORS, sticky key). Which rule decided is
//! reported but not compared: the same behaviour moved to another rule is no change.
//!
//! Connections are checked too, against the connection rules (VirtualService `tls` and `tcp`
//! rules, Gateway API `TLSRoute` and `TCPRoute`): for every rule and match of both tables, in
//! every context it is placed in (the mesh or a gateway), a connection inside all its
//! conditions (each SNI name, a wildcard `*.example.com` as `probe.example.com`; the match's
//! port, else the ports the listener, the gateway's servers and the rules name, and 443 for
//! TLS; an address inside each destination subnet; the match's source namespace and labels),
//! and the connections beside it (the SNI with its first label changed, another port, an
//! address outside each subnet, the source without namespace or labels). Each is decided by
//! [`Table::decide_connection_with_draw`] and compared by its [`Effect`]: the outcome and the
//! split (a connection rule has no actions).
//!
//! Probes whose effects differ are grouped into [`Change`]s keyed by the (before, after)
//! pair, requests and connections apart, each with one witness ([`Probe`]) and the number of
//! probes found in the class.
//! Configurations written differently with the same meaning (keys or resources reordered,
//! short or fully qualified host names, a rule nothing reaches) give an empty diff.
//!
//! # Example
//! ```
//! use meshroute::Table;
//! use meshroute::diff::diff;
//!
//! let old = Table::from_yaml(include_str!("../../examples/bookinfo.yaml"))?;
//! let new = Table::from_yaml(&include_str!("../../examples/bookinfo.yaml")
//!     .replace("weight: 80", "weight: 50").replace("weight: 20", "weight: 50"))?;
//! let d = diff(&old, &new);
//! assert_eq!(d.changes.len(), 1);
//! assert!(d.to_string().contains("reviews.default.svc.cluster.local subset v3 20% → 50%"));
//! assert!(diff(&old, &old).is_empty());
//! # Ok::<(), meshroute::Errors>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde_json::{Value, json};

use crate::action::{Abort, Action, Forward, HeaderOps, RedirectPort};
use crate::connection::OwnedConnection;
use crate::decision::{Decision, Outcome};
use crate::predicate::path::{PathMatch, strip_query};
use crate::request::OwnedRequest;
use crate::table::Table;
use crate::witness::{Witness, host_name, path_values, placements, str_values, witnesses};

mod connection;

pub use connection::{connection_json, connection_line};

/// One destination of a split, by meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Share {
    /// Fully qualified host.
    pub host: String,
    /// Subset.
    pub subset: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Share of the requests, as a reduced fraction `(numerator, denominator)`
    /// ([`Share::percent`] says it as a person configured it).
    pub share: (u64, u64),
    /// Why the destination cannot serve, if it cannot.
    pub unavailable: Option<&'static str>,
}

impl Share {
    /// The share as a percentage of the requests, as a person configured it: `80%`, `33.33%`.
    pub fn percent(&self) -> String {
        percent_of(self.share.0, self.share.1)
    }
}

/// `part` of `total` as a percentage with at most two decimals, trailing zeros dropped (`80%`,
/// `33.33%`, `0.01%`); a share too small for that is `<0.01%`, never `0%`.
pub fn percent_of(part: u64, total: u64) -> String {
    if total == 0 {
        return "0%".to_string();
    }
    let hundredths = (u128::from(part) * 10_000 + u128::from(total) / 2) / u128::from(total);
    if hundredths == 0 && part > 0 {
        return "<0.01%".to_string();
    }
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    match frac {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

/// What a decision does to a request, compared by meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Effect {
    /// `forward`, `redirect`, `direct-response`, `no-route`, `passthrough`,
    /// `passthrough-cluster`, `black-hole`, `no-virtual-host` or `bad-request`.
    pub outcome: &'static str,
    /// The split (forwarding only), sorted; destinations of weight 0 are left out.
    pub destinations: Vec<Share>,
    /// The actions, one line each, sorted.
    pub actions: Vec<String>,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.outcome)?;
        for s in &self.destinations {
            write!(f, " {}", s.host)?;
            if let Some(sub) = &s.subset {
                write!(f, " subset {sub}")?;
            }
            if let Some(p) = s.port {
                write!(f, " port {p}")?;
            }
            write!(f, " {}", s.percent())?;
            if let Some(u) = s.unavailable {
                write!(f, " ({u})")?;
            }
            f.write_str(";")?;
        }
        for a in &self.actions {
            write!(f, " [{a}]")?;
        }
        Ok(())
    }
}

/// What a diff decided against both tables: a request, or a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// An HTTP request, decided by [`Table::decide_with_draw`].
    Request(OwnedRequest),
    /// A TLS or TCP connection, decided by [`Table::decide_connection_with_draw`].
    Connection(OwnedConnection),
}

impl Probe {
    /// The request, when the probe is one.
    pub fn request(&self) -> Option<&OwnedRequest> {
        match self {
            Probe::Request(r) => Some(r),
            Probe::Connection(_) => None,
        }
    }

    /// The connection, when the probe is one.
    pub fn connection(&self) -> Option<&OwnedConnection> {
        match self {
            Probe::Connection(c) => Some(c),
            Probe::Request(_) => None,
        }
    }

    /// The probe in the decide contract's request form: [`request_json`] for a request,
    /// [`connection_json`] (with `"protocol"`) for a connection.
    pub fn to_json(&self) -> Value {
        match self {
            Probe::Request(r) => request_json(r),
            Probe::Connection(c) => connection_json(c),
        }
    }

    /// What the probe is called, counted: `3 requests`, `1 connection`.
    fn counted(&self, n: usize) -> String {
        match self {
            Probe::Request(_) => plural(n, "request"),
            Probe::Connection(_) => plural(n, "connection"),
        }
    }
}

/// The probe on one line: a request as the `meshroute route` command line takes it
/// ([`request_line`]), a connection as a decide tool input line ([`connection_line`]).
impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Request(r) => f.write_str(&request_line(r)),
            Probe::Connection(c) => f.write_str(&connection_line(c)),
        }
    }
}

/// A class of requests, or of connections, whose decision changes the same way.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Change {
    /// The effect in the old table.
    pub before: Effect,
    /// The effect in the new table.
    pub after: Effect,
    /// The rule that decided the witness in the old table (`Kind ns/name rule N (name)`).
    pub before_rule: Option<String>,
    /// The rule that decided the witness in the new table.
    pub after_rule: Option<String>,
    /// One request or connection of the class.
    pub witness: Probe,
    /// How many of the requests (or connections) checked fall in the class.
    pub requests: usize,
}

/// The changes between two tables.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Diff {
    /// The classes of requests and connections whose decision changes: the requests' ordered
    /// by (before, after), then the connections'.
    pub changes: Vec<Change>,
    /// How many distinct requests were decided against both tables.
    pub checked: usize,
    /// How many distinct connections were decided against both tables.
    pub checked_connections: usize,
}

impl Diff {
    /// Whether no request or connection checked changes its decision.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The diff as JSON: `{"checked", "checked_connections", "changes": [{"requests",
    /// "before", "after", "before_rule", "after_rule", "witness"}]}`, effects as `{"outcome",
    /// "destinations": [{"host", "subset", "port", "share": [n, d], "percent": "80%",
    /// "unavailable"}], "actions"}`, the witness in the decide contract's form
    /// ([`Probe::to_json`]; a connection's has `"protocol"`) and `"requests"` counting the
    /// class's requests or connections.
    pub fn to_json(&self) -> Value {
        let effect = |e: &Effect| {
            json!({
                "outcome": e.outcome,
                "destinations": e.destinations.iter().map(|s| json!({
                    "host": s.host, "subset": s.subset, "port": s.port,
                    "share": [s.share.0, s.share.1], "percent": s.percent(),
                    "unavailable": s.unavailable,
                })).collect::<Vec<_>>(),
                "actions": e.actions,
            })
        };
        json!({
            "checked": self.checked,
            "checked_connections": self.checked_connections,
            "changes": self.changes.iter().map(|c| json!({
                "requests": c.requests,
                "before": effect(&c.before),
                "after": effect(&c.after),
                "before_rule": c.before_rule,
                "after_rule": c.after_rule,
                "witness": c.witness.to_json(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// A request as JSON, in the request format of the decide contract (`meshroute decide`),
/// plus `jwt_claims` when the request carries claims.
pub fn request_json(r: &OwnedRequest) -> Value {
    let mut headers = serde_json::Map::new();
    for (k, v) in &r.headers {
        match headers.get_mut(k) {
            Some(Value::Array(vs)) => vs.push(v.into()),
            Some(old) => *old = json!([old.clone(), v]),
            None => {
                headers.insert(k.to_string(), v.into());
            }
        }
    }
    let mut out = json!({
        "method": r.method, "scheme": r.scheme, "authority": r.authority, "path": r.path,
        "headers": headers, "port": r.port, "source_namespace": r.source_namespace,
    });
    if !r.source_labels.is_empty() {
        out["source_labels"] = json!(r.source_labels);
    }
    if !r.jwt_claims.is_empty() {
        out["jwt_claims"] = json!(r.jwt_claims);
    }
    if let Some((ns, name)) = &r.gateway {
        out["gateway"] = format!("{ns}/{name}").into();
    }
    out
}

/// One request as the `meshroute route` command line takes it: `METHOD URL`, then `-H 'name:
/// value'`, `--from NS,label=value` and `--gateway NS/NAME` where it carries them.
pub fn request_line(r: &OwnedRequest) -> String {
    let mut s = format!("{} {}://{}{}", r.method, r.scheme, r.authority, r.path);
    let default_port = if r.scheme == "https" { 443 } else { 80 };
    if let Some(p) = r.port
        && p != default_port
        && !r.authority.ends_with(&format!(":{p}"))
    {
        s.push_str(&format!(" (port {p})"));
    }
    for (k, v) in &r.headers {
        s.push_str(&format!(" -H '{k}: {v}'"));
    }
    if r.source_namespace.is_some() || !r.source_labels.is_empty() {
        s.push_str(" --from ");
        s.push_str(
            r.source_namespace
                .as_deref()
                .unwrap_or(crate::DEFAULT_NAMESPACE),
        );
        for (k, v) in &r.source_labels {
            s.push_str(&format!(",{k}={v}"));
        }
    }
    for (k, v) in &r.jwt_claims {
        s.push_str(&format!(" (claim {k}={v})"));
    }
    if let Some((ns, name)) = &r.gateway {
        s.push_str(&format!(" --gateway {ns}/{name}"));
    }
    s
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut checked = plural(self.checked, "request");
        if self.checked_connections > 0 {
            checked.push_str(&format!(
                ", {}",
                plural(self.checked_connections, "connection")
            ));
        }
        if self.changes.is_empty() {
            return writeln!(f, "no change ({checked} checked)");
        }
        let n = self.changes.len();
        writeln!(f, "{} ({checked} checked)", plural(n, "change"))?;
        for (i, c) in self.changes.iter().enumerate() {
            writeln!(f, "\nchange {}: {}", i + 1, c.witness.counted(c.requests))?;
            let rule = |r: &Option<String>| r.clone().unwrap_or_else(|| "no rule".into());
            if c.before_rule == c.after_rule {
                writeln!(f, "  rule:    {}", rule(&c.before_rule))?;
            } else {
                writeln!(
                    f,
                    "  rule:    {} → {}",
                    rule(&c.before_rule),
                    rule(&c.after_rule)
                )?;
            }
            c.fmt_effects(f)?;
            writeln!(f, "  e.g.     {}", c.witness)?;
        }
        Ok(())
    }
}

impl Change {
    /// What changes: the outcome, then each destination's share (`80% → 90%`), then the actions
    /// that go (`-`) and come (`+`).
    fn fmt_effects(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (b, a) = (&self.before, &self.after);
        if b.outcome != a.outcome {
            writeln!(f, "  outcome: {} → {}", b.outcome, a.outcome)?;
        }
        let key = |s: &Share| {
            let mut k = s.host.clone();
            if let Some(sub) = &s.subset {
                k.push_str(&format!(" subset {sub}"));
            }
            if let Some(p) = s.port {
                k.push_str(&format!(" port {p}"));
            }
            if let Some(u) = s.unavailable {
                k.push_str(&format!(" ({u})"));
            }
            k
        };
        let mut shares: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        for s in &b.destinations {
            shares.entry(key(s)).or_default().0 = Some(s.percent());
        }
        for s in &a.destinations {
            shares.entry(key(s)).or_default().1 = Some(s.percent());
        }
        for (dest, (before, after)) in &shares {
            let before = before.as_deref().unwrap_or("0%");
            let after = after.as_deref().unwrap_or("0%");
            if before == after {
                writeln!(f, "  route:   {dest} {after}")?;
            } else {
                writeln!(f, "  route:   {dest} {before} → {after}")?;
            }
        }
        for x in &b.actions {
            if !a.actions.contains(x) {
                writeln!(f, "  - {x}")?;
            }
        }
        for x in &a.actions {
            if !b.actions.contains(x) {
                writeln!(f, "  + {x}")?;
            }
        }
        Ok(())
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The rule that decided, by resource and field path as configured:
/// `VirtualService default/reviews spec.http[1].match[0] ("shift")`.
pub fn rule_label(table: &Table, d: &Decision<'_>) -> Option<String> {
    use crate::tools::explain::{Dialect, block_at, rule_at};
    let m = d.matched()?;
    let src = table.source_of(m.rule);
    let dialect = Dialect::of(&src.kind);
    let field = match (m.connection, m.block) {
        (Some(c), _) => c.path().to_string(),
        (None, Some(b)) => block_at(&m.rule.blocks[usize::from(b)], dialect, m.rule.index, b),
        (None, None) => rule_at(dialect, m.rule.index),
    };
    let mut s = format!("{} {}/{} {field}", src.kind, src.namespace, src.name);
    if !m.rule.name.is_empty() {
        s.push_str(&format!(" ({:?})", m.rule.name));
    }
    Some(s)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn header_ops(ops: &HeaderOps, who: &str, out: &mut Vec<String>) {
    if ops.is_empty() {
        return;
    }
    for (side, e) in [("request", &ops.request), ("response", &ops.response)] {
        if !e.is_empty() {
            let mut parts = Vec::new();
            let pairs = |list: &[(Box<str>, Box<str>)]| {
                list.iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !e.set.is_empty() {
                parts.push(format!("set {}", pairs(&e.set)));
            }
            if !e.add.is_empty() {
                parts.push(format!("add {}", pairs(&e.add)));
            }
            if !e.remove.is_empty() {
                let names: Vec<&str> = e.remove.iter().map(|k| &**k).collect();
                parts.push(format!("remove {}", names.join(", ")));
            }
            out.push(format!("{who}{side} headers: {}", parts.join("; ")));
        }
    }
}

fn ms(d: std::time::Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn percent(per_million: u32) -> String {
    format!("{}%", f64::from(per_million) / 10_000.0)
}

/// (host, subset, port, why unavailable): destinations that count as one in a split.
type ShareKey = (String, Option<String>, Option<u16>, Option<&'static str>);

/// How [`Effect::outcome`] names the outcome of `d`.
fn outcome(d: &Decision<'_>) -> &'static str {
    match d.outcome {
        Outcome::Matched(_) => "forward",
        Outcome::NoRoute { .. } => "no-route",
        Outcome::Passthrough => "passthrough",
        Outcome::PassthroughCluster => "passthrough-cluster",
        Outcome::BlackHole => "black-hole",
        Outcome::NoVirtualHost => "no-virtual-host",
        Outcome::BadRequest { .. } => "bad-request",
    }
}

/// The meaning of `d`, a table's decision for a connection
/// ([`Table::decide_connection_with_draw`]): the outcome and the split. A connection rule has
/// no actions, so [`Effect::actions`] is empty.
///
/// # Example
/// ```
/// use meshroute::{OwnedConnection, Table};
/// use meshroute::diff::connection_effect;
///
/// let table = Table::from_yaml(r#"
/// apiVersion: networking.istio.io/v1
/// kind: VirtualService
/// metadata: {name: tcp-echo}
/// spec:
///   hosts: [tcp-echo]
///   tcp:
///   - route:
///     - {destination: {host: tcp-echo, subset: v1}, weight: 80}
///     - {destination: {host: tcp-echo, subset: v2}, weight: 20}
/// "#)?;
/// let conn = OwnedConnection::tcp(9000).to_host("tcp-echo");
/// let e = connection_effect(&table.decide_connection_with_draw(&conn, 0));
/// assert_eq!(e.outcome, "forward");
/// assert_eq!(e.destinations[0].percent(), "80%");
/// # Ok::<(), meshroute::Errors>(())
/// ```
pub fn connection_effect(d: &Decision<'_>) -> Effect {
    let mut e = Effect {
        outcome: outcome(d),
        destinations: Vec::new(),
        actions: Vec::new(),
    };
    if let Some(m) = d.matched()
        && let Action::Forward(f) = &m.rule.action
    {
        e.destinations = shares(f, &mut Vec::new());
    }
    e
}

/// The meaning of `d`, the decision of `table` for `req`.
pub fn effect(d: &Decision<'_>, req: &OwnedRequest) -> Effect {
    let mut e = Effect {
        outcome: outcome(d),
        destinations: Vec::new(),
        actions: Vec::new(),
    };
    let Some(m) = d.matched() else {
        return e;
    };
    header_ops(&m.rule.headers, "", &mut e.actions);
    match &m.rule.action {
        Action::Redirect(r) => {
            e.outcome = "redirect";
            let mut parts = vec![format!("redirect {}", r.code)];
            let mut part = |what: &str, v: &Option<Box<str>>| {
                if let Some(v) = v {
                    parts.push(format!("{what} {v}"));
                }
            };
            part("scheme", &r.scheme);
            part("authority", &r.authority);
            part("path", &r.uri);
            part("prefix", &r.prefix_rewrite);
            match r.port {
                RedirectPort::Port(p) => parts.push(format!("port {p}")),
                RedirectPort::FromRequest => parts.push("port from the request".into()),
                RedirectPort::FromProtocolDefault => {
                    parts.push("port the scheme's default".into());
                }
                _ => {}
            }
            e.actions.push(parts.join(", "));
        }
        Action::DirectResponse(r) => {
            e.outcome = "direct-response";
            e.actions.push(match r.body.as_deref() {
                Some(body) => format!(
                    "respond {} with body {:?}",
                    r.status,
                    String::from_utf8_lossy(body)
                ),
                None => format!("respond {} without a body", r.status),
            });
        }
        Action::Forward(f) => {
            e.destinations = shares(f, &mut e.actions);
            if e.destinations.iter().any(|s| s.unavailable.is_some()) {
                e.actions
                    .push(format!("unavailable {}", f.unavailable_status));
            }
            forward_actions(f, d, req, &mut e.actions);
        }
    }
    e.actions.sort();
    e.actions.dedup();
    e
}

fn cors(c: &crate::action::Cors) -> String {
    let origins: Vec<String> = c
        .allow_origins
        .iter()
        .map(|o| format!("{} {}", o.kind(), o.pattern()))
        .collect();
    let mut text = format!("cors origins {}", origins.join(", "));
    for (what, value) in [
        ("methods", &c.allow_methods),
        ("headers", &c.allow_headers),
        ("exposed headers", &c.expose_headers),
    ] {
        if !value.is_empty() {
            text.push_str(&format!(", {what} {value}"));
        }
    }
    if let Some(m) = c.max_age {
        text.push_str(&format!(", max age {}s", m.as_secs()));
    }
    if c.allow_credentials {
        text.push_str(", credentials allowed");
    }
    text.push_str(&format!(
        ", unmatched preflights {}",
        c.unmatched_preflights.as_str()
    ));
    text
}

/// The split of `f` as reduced shares, destinations that count as one merged; adds each
/// destination's header operations to `actions`, and `unavailable` when every weight is 0.
fn shares(f: &Forward, actions: &mut Vec<String>) -> Vec<Share> {
    let ends = f.split.cumulative();
    let mut weights: BTreeMap<ShareKey, u64> = BTreeMap::new();
    let mut prev = 0;
    for (w, &end) in f.destinations.iter().zip(ends) {
        let weight = end - prev;
        prev = end;
        let dst = &w.destination;
        header_ops(&dst.headers, &format!("{} ", dst.host), actions);
        if weight == 0 {
            continue;
        }
        let key = (
            dst.host.to_string(),
            dst.subset.as_deref().map(String::from),
            dst.port,
            dst.unavailable.map(|u| u.reason()),
        );
        *weights.entry(key).or_default() += weight;
    }
    let total: u64 = weights.values().sum();
    if total == 0 {
        actions.push(format!("unavailable {}", f.unavailable_status));
    }
    weights
        .into_iter()
        .map(|((host, subset, port, unavailable), w)| {
            let g = gcd(w, total).max(1);
            Share {
                host,
                subset,
                port,
                share: (w / g, total / g),
                unavailable,
            }
        })
        .collect()
}

/// What forwarding by `f` does besides the split: rewrites, timeouts, retries, faults,
/// mirrors, CORS and stickiness.
fn forward_actions(f: &Forward, d: &Decision<'_>, req: &OwnedRequest, actions: &mut Vec<String>) {
    if let Some(rw) = &f.rewrite {
        if rw.path.is_some()
            && let Some(p) = d.rewritten_path(strip_query(&req.path))
        {
            actions.push(format!("rewrite path {p}"));
        }
        if let Some(a) = &rw.authority {
            actions.push(format!("rewrite authority {a}"));
        }
    }
    if let Some(t) = f.timeout {
        actions.push(format!("timeout {}", ms(t)));
    }
    if let Some(t) = f.backend_timeout {
        actions.push(format!("backend timeout {}", ms(t)));
    }
    if let Some(r) = &f.retries {
        actions.push(retries(r));
    }
    if let Some(fault) = &f.fault {
        if let Some((d, share)) = &fault.delay {
            actions.push(format!("fault delay {} {}", ms(*d), percent(*share)));
        }
        if let Some((a, share)) = &fault.abort {
            let what = match a {
                Abort::Http(c) => c.to_string(),
                Abort::Grpc(s) => format!("grpc {s}"),
            };
            actions.push(format!("fault abort {what} {}", percent(*share)));
        }
    }
    for mirror in &f.mirrors {
        let dst = &mirror.destination;
        let mut text = format!("mirror {} to {}", percent(mirror.per_million), dst.host);
        if let Some(s) = &dst.subset {
            text.push_str(&format!(" subset {s}"));
        }
        if let Some(p) = dst.port {
            text.push_str(&format!(" port {p}"));
        }
        actions.push(text);
    }
    if let Some(c) = &f.cors {
        actions.push(cors(c));
    }
    if let Some(k) = &f.sticky {
        actions.push(format!("sticky split by {k}"));
    }
}

fn retries(r: &crate::action::Retries) -> String {
    let mut text = format!("retries {} on {}", r.attempts, r.retry_on);
    if !r.retriable_status_codes.is_empty() {
        let codes: Vec<String> = r
            .retriable_status_codes
            .iter()
            .map(u16::to_string)
            .collect();
        text.push_str(&format!(" (status {})", codes.join(", ")));
    }
    if let Some(t) = r.per_try_timeout {
        text.push_str(&format!(", {} per try", ms(t)));
    }
    if let Some(b) = r.backoff {
        text.push_str(&format!(", backoff {}", ms(b)));
    }
    match r.retry_remote_localities {
        Some(true) => text.push_str(", to remote localities"),
        Some(false) => text.push_str(", not to remote localities"),
        None => {}
    }
    if r.avoids_previous_hosts() {
        text.push_str(", to other hosts than the ones tried");
    }
    if r.is_default {
        text.push_str(" (the mesh default)");
    }
    text
}

/// Requests that probe both tables: the witnesses and boundary requests around every literal.
fn probes(tables: [&Table; 2]) -> Vec<OwnedRequest> {
    let mut out: Vec<OwnedRequest> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut add = |r: OwnedRequest, out: &mut Vec<OwnedRequest>| {
        if seen.insert(format!("{r:?}")) {
            out.push(r);
        }
    };
    // Per (gateway, host): a base request, the path literals, the header and query names
    // with values the conditions test.
    type HostKey = (Option<(String, String)>, String);
    let mut bases: BTreeMap<HostKey, OwnedRequest> = BTreeMap::new();
    let mut literals: BTreeMap<HostKey, BTreeSet<String>> = BTreeMap::new();
    let mut fields: BTreeMap<HostKey, BTreeSet<(bool, String, Option<String>)>> = BTreeMap::new();
    for t in tables {
        let places = placements(t);
        for w in witnesses(t) {
            let Witness::Reaches(r) = &w.result else {
                continue;
            };
            let key = (w.gateway.clone(), w.host.clone().unwrap_or_default());
            bases.entry(key).or_insert_with(|| r.clone());
            add(r.clone(), &mut out);
            for i in 0..r.headers.len() {
                let mut v = r.clone();
                v.headers.remove(i);
                add(v, &mut out);
            }
            let path = strip_query(&r.path).to_string();
            if path.len() < r.path.len() {
                let mut v = r.clone();
                v.path = path.clone();
                add(v, &mut out);
            }
            for p in boundary(&path) {
                let mut v = r.clone();
                v.path = p;
                add(v, &mut out);
            }
        }
        for ((rule, block), at) in &places {
            let Some(b) = block.map(|b| &t.rules()[*rule as usize].blocks[b as usize]) else {
                continue;
            };
            for p in at {
                let key = (
                    p.ctx
                        .gateway
                        .as_ref()
                        .map(|(n, g)| (n.to_string(), g.to_string())),
                    host_name(p.vhost).to_string(),
                );
                let lits = literals.entry(key.clone()).or_default();
                match &b.uri {
                    Some(
                        PathMatch::Exact { value, .. }
                        | PathMatch::Prefix { value, .. }
                        | PathMatch::SegmentPrefix(value),
                    ) => {
                        lits.insert(value.to_string());
                    }
                    Some(u @ PathMatch::Regex(_)) => {
                        lits.extend(path_values(u).into_iter().take(2));
                    }
                    None => {}
                }
                let f = fields.entry(key).or_default();
                for h in &b.headers {
                    if let crate::predicate::header::HeaderSource::Header(n) = &h.source {
                        f.insert((false, n.to_string(), None));
                        for v in h.value.iter().flat_map(str_values).take(2) {
                            f.insert((false, n.to_string(), Some(v)));
                        }
                    }
                }
                for q in &b.query {
                    f.insert((true, q.key.to_string(), None));
                    for v in q.value.iter().flat_map(str_values).take(2) {
                        f.insert((true, q.key.to_string(), Some(v)));
                    }
                }
            }
        }
    }
    for (key, base) in &bases {
        for lit in literals.get(key).into_iter().flatten() {
            for p in std::iter::once(lit.clone()).chain(boundary(lit)) {
                let mut v = base.clone();
                v.path = p;
                add(v, &mut out);
            }
        }
        for (query, name, value) in fields.get(key).into_iter().flatten() {
            let value = value.clone().unwrap_or_else(|| "witness".into());
            let mut v = base.clone();
            if *query {
                let sep = if v.path.contains('?') { '&' } else { '?' };
                v.path = format!("{}{sep}{name}={value}", v.path);
            } else {
                v.headers.set(name, &value);
            }
            add(v, &mut out);
        }
    }
    out
}

/// Paths just beside `path`: `path/x`, its last character changed, and `/`.
fn boundary(path: &str) -> Vec<String> {
    let mut out = vec![format!("{}/x", path.trim_end_matches('/')), "/".to_string()];
    if let Some(last) = path.chars().last() {
        let other = if last == 'z' { 'y' } else { 'z' };
        out.push(format!("{}{other}", &path[..path.len() - last.len_utf8()]));
    }
    out
}

/// The changes found so far, keyed by (is a connection, before, after): the requests' classes
/// first, the connections' apart from them.
type Classes = BTreeMap<(bool, Effect, Effect), Change>;

/// Counts one probe whose effect changes in its class, the first of a class its witness.
fn add(
    classes: &mut Classes,
    key: (bool, Effect, Effect),
    [before_rule, after_rule]: [Option<String>; 2],
    probe: impl FnOnce() -> Probe,
) {
    match classes.entry(key) {
        std::collections::btree_map::Entry::Occupied(mut c) => c.get_mut().requests += 1,
        std::collections::btree_map::Entry::Vacant(v) => {
            let (_, before, after) = v.key().clone();
            v.insert(Change {
                before,
                after,
                before_rule,
                after_rule,
                witness: probe(),
                requests: 1,
            });
        }
    }
}

/// The classes of requests and connections whose decision differs between `old` and `new`.
///
/// # Example
/// ```
/// use meshroute::Table;
/// use meshroute::diff::diff;
///
/// let old = Table::from_yaml(include_str!("../../examples/bookinfo.yaml"))?;
/// assert!(diff(&old, &old.clone()).is_empty());
/// # Ok::<(), meshroute::Errors>(())
/// ```
pub fn diff(old: &Table, new: &Table) -> Diff {
    let requests = probes([old, new]);
    let connections = connection::probes([old, new]);
    let mut classes = Classes::new();
    for r in &requests {
        let (db, da) = (old.decide_with_draw(r, 0), new.decide_with_draw(r, 0));
        let (before, after) = (effect(&db, r), effect(&da, r));
        if before != after {
            let rules = [rule_label(old, &db), rule_label(new, &da)];
            add(&mut classes, (false, before, after), rules, || {
                Probe::Request(r.clone())
            });
        }
    }
    for c in &connections {
        let (db, da) = (
            old.decide_connection_with_draw(c, 0),
            new.decide_connection_with_draw(c, 0),
        );
        let (before, after) = (connection_effect(&db), connection_effect(&da));
        if before != after {
            let rules = [rule_label(old, &db), rule_label(new, &da)];
            add(&mut classes, (true, before, after), rules, || {
                Probe::Connection(c.clone())
            });
        }
    }
    Diff {
        changes: classes.into_values().collect(),
        checked: requests.len(),
        checked_connections: connections.len(),
    }
}
