//! Explanations of connection decisions ([`Table::explain_connection`]): which service the
//! connection was bound to and how, every `tls` or `tcp` rule (or route) that could take it
//! with why it did or did not, and the one that decided it. It allocates; for tools, tests and
//! debugging, not the connection path.

use std::fmt;

use serde_json::{Value, json};

use crate::connection::{Connection, Protocol};
use crate::decision::Outcome;
use crate::l4::{L4Context, L4Entry, L4Service, cidr_rank, sni_rank};
use crate::predicate::host::expand_short;
use crate::request::split_port;
use crate::table::Table;

/// How one connection was decided ([`Table::explain_connection`]). Everything is owned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionExplain {
    /// `tls` or `tcp`.
    pub protocol: &'static str,
    /// Where the connection arrived: `None` for the mesh, else the gateway.
    pub gateway: Option<(String, String)>,
    /// The source workload's namespace.
    pub source_namespace: String,
    /// The destination port.
    pub port: u16,
    /// The SNI (TLS).
    pub sni: Option<String>,
    /// In the mesh, the service host the rules were looked up for, and how it was known
    /// (`host`, `sni` or `destination address`); `None` when nothing names one or at a gateway.
    pub bound: Option<(String, &'static str)>,
    /// At an Istio gateway whose `Gateway` is loaded: the server that took the connection and
    /// what it does with it, or why none did.
    pub server: Option<String>,
    /// Every rule (or match) of the services that apply, in order, with its verdict.
    pub candidates: Vec<ConnectionCandidate>,
    /// The resource and field path of the rule that decided, when one did.
    pub decided_by: Option<String>,
    /// The destination picked (`host`, subset, port), when one was.
    pub destination: Option<String>,
    /// `matched`, `no_route`, `passthrough` or `no_virtual_host`.
    pub outcome: &'static str,
    /// Why the outcome, in words.
    pub reason: String,
}

/// One connection rule (or match) considered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionCandidate {
    /// The resource, e.g. `VirtualService shop/tcp-echo`.
    pub resource: String,
    /// The rule's or match's field path.
    pub path: String,
    /// `decided`, or why it did not decide.
    pub verdict: String,
}

impl Table {
    /// Explains how [`Table::decide_connection_with_draw`] decides `conn` with `draw`.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedConnection, Table};
    /// let table = Table::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: db, namespace: default}
    /// spec:
    ///   hosts: [db]
    ///   tcp:
    ///   - match: [{port: 5432}]
    ///     route: [{destination: {host: db, subset: v2}}]
    /// "#)?;
    /// let e = table.explain_connection(&OwnedConnection::tcp(5433).to_host("db"), 0);
    /// assert_eq!(e.outcome, "passthrough");
    /// assert!(e.candidates[0].verdict.contains("port 5433"), "{e}");
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn explain_connection<C: Connection + ?Sized>(
        &self,
        conn: &C,
        draw: u64,
    ) -> ConnectionExplain {
        let inner = &*self.inner;
        let d = self.decide_connection_with_draw(conn, draw);
        let protocol = conn.protocol();
        let ns = conn.source_namespace();
        let mut out = ConnectionExplain {
            protocol: protocol.label(),
            gateway: conn.gateway().map(|(n, g)| (n.to_string(), g.to_string())),
            source_namespace: ns.to_string(),
            port: conn.port(),
            sni: conn.sni().map(str::to_string),
            bound: None,
            server: None,
            candidates: Vec::new(),
            decided_by: None,
            destination: None,
            outcome: d.outcome.label(),
            reason: String::new(),
        };
        let winner = d.matched().and_then(|m| {
            let c = m.connection?;
            let src = self.source_of(m.rule);
            Some((
                format!("{} {}/{}", src.kind, src.namespace, src.name),
                c.path().to_string(),
            ))
        });
        if let Some(w) = d.destination() {
            let subset = w
                .subset
                .as_deref()
                .map_or(String::new(), |s| format!(" subset {s}"));
            out.destination = Some(format!("{}{subset} port {}", w.host, d.port.unwrap_or(0)));
        }
        out.decided_by = winner.as_ref().map(|(r, p)| format!("{r} {p}"));
        let ctx = inner.l4.context(conn.gateway());
        let mesh = conn.gateway().is_none();
        let mut host = None;
        // At an Istio gateway, the server on the port decides which rules may apply.
        let mut rules_of = Some(protocol);
        let server = ctx.and_then(|c| c.server_for(conn));
        if let (Some(server), Some((gns, gname))) = (server, conn.gateway()) {
            out.server = Some(match server {
                Some(s) => format!("{}: {}", s.label, s.kind.describe()),
                None => format!(
                    "no server of Gateway {gns}/{gname} on port {} takes this connection",
                    conn.port()
                ),
            });
            rules_of = server.and_then(|s| s.kind.rules_for(protocol));
        }
        if let (Some(ctx), Some(protocol)) = (ctx, rules_of) {
            if mesh {
                host = bound_host(ctx, conn, &inner.cluster_domain, &inner.l4);
                out.bound = host.clone();
            }
            // In the mesh, a connection no service is named for binds no rules.
            let unbound = mesh && host.is_none();
            let services = ctx.services.iter().filter(|s| {
                !unbound
                    && s.applies(
                        mesh,
                        ns,
                        conn.port(),
                        host.as_ref().map(|(h, _)| h.as_str()),
                    )
            });
            for s in services {
                for e in s.entries.iter() {
                    if let Some(c) = candidate(self, s, e, conn, protocol) {
                        out.candidates.push(c);
                    }
                }
            }
        }
        for c in &mut out.candidates {
            if winner
                .as_ref()
                .is_some_and(|(r, p)| *r == c.resource && *p == c.path)
            {
                c.verdict = "decided".into();
            }
        }
        out.reason = match &d.outcome {
            Outcome::Matched(_) => "the rule decided; its split picked the destination".into(),
            Outcome::Passthrough if ctx.is_none() || out.bound.is_none() && mesh => {
                "no tls or tcp rule binds the service: the default route to the addressed service"
                    .into()
            }
            Outcome::Passthrough => {
                "no rule takes the connection: the default route to the addressed service".into()
            }
            Outcome::NoRoute { host } => format!(
                "rules bind {host} but no filter chain matches the connection: it is closed"
            ),
            _ if matches!(server, Some(None)) => {
                "no server of the gateway takes it on this port: the connection is closed".into()
            }
            _ if rules_of.is_none() => {
                "the server on this port terminates TLS and carries HTTP: its requests are \
                 decided by http rules (decide, explain)"
                    .into()
            }
            _ => "no tls or tcp rule at this gateway takes it: the connection is closed".into(),
        };
        out
    }
}

/// The service host the mesh binds `conn` to, as [`Table::decide_connection_with_draw`]
/// finds it: the host (or SNI, or the Service of the destination address), exact, then its
/// Kubernetes short form, whichever a service's rules name first.
fn bound_host<C: Connection + ?Sized>(
    ctx: &L4Context,
    conn: &C,
    domain: &str,
    l4: &crate::l4::L4Table,
) -> Option<(String, &'static str)> {
    let sni = conn.sni().filter(|_| conn.protocol() == Protocol::Tls);
    let (raw, how) = match (conn.host(), sni) {
        (Some(h), _) => (h.to_string(), "host"),
        (None, Some(s)) => (s.to_string(), "sni"),
        (None, None) => {
            let ip = conn.destination_ip()?;
            (l4.service_at(ip)?.to_string(), "destination address")
        }
    };
    let name = split_port(&raw).0.to_ascii_lowercase();
    let ns = conn.source_namespace();
    let fits = |h: &str| {
        ctx.services
            .iter()
            .any(|s| s.applies(true, ns, conn.port(), Some(h)))
    };
    if fits(&name) {
        return Some((name, how));
    }
    let mut buf = [0u8; 2 * crate::predicate::host::MAX_HOST_LEN + 64];
    let expanded = expand_short(&name, ns, domain, &mut buf)?;
    fits(expanded).then(|| (expanded.to_string(), how))
}

/// One entry of `s` for `conn`, with its verdict before the winner is known; `None` for an
/// entry of the other protocol.
fn candidate<C: Connection + ?Sized>(
    table: &Table,
    s: &L4Service,
    e: &L4Entry,
    conn: &C,
    protocol: Protocol,
) -> Option<ConnectionCandidate> {
    let rule = &table.inner.l4.rules[e.rule as usize];
    if rule.protocol != protocol && !(protocol == Protocol::Tls && s.terminates_tls) {
        return None;
    }
    let src = table.source_of(&rule.rule);
    let resource = format!("{} {}/{}", src.kind, src.namespace, src.name);
    let (path, snis, subnets, verdict) = match e.block {
        Some(b) => {
            let m = &rule.matches[b as usize];
            let miss = if let Some(p) = m.port.filter(|&p| p != conn.port()) {
                Some(format!("port {} is not {p}", conn.port()))
            } else if let Some(n) = m
                .source_namespace
                .as_deref()
                .filter(|&n| n != conn.source_namespace())
            {
                Some(format!(
                    "source namespace {} is not {n}",
                    conn.source_namespace()
                ))
            } else {
                m.source_labels
                    .iter()
                    .find(|(k, v)| conn.source_label(k) != Some(&**v))
                    .map(|(k, v)| format!("source label {k}={v} is not on the client"))
            };
            (
                m.path.to_string(),
                &m.sni_hosts[..],
                &m.destination_subnets[..],
                miss,
            )
        }
        None => (rule.path.to_string(), &s.hosts[..], &[][..], None),
    };
    let verdict = verdict.unwrap_or_else(|| {
        let ip = conn.destination_ip();
        if cidr_rank(subnets, ip).is_none() {
            let list: Vec<String> = subnets.iter().map(ToString::to_string).collect();
            return match ip {
                Some(ip) => format!("destination {ip} is outside {}", list.join(", ")),
                None => format!(
                    "the destination address is unknown; the match needs {}",
                    list.join(", ")
                ),
            };
        }
        if protocol == Protocol::Tls {
            let sni = conn.sni().unwrap_or("");
            if !snis.iter().any(|p| sni_rank(p, sni).is_some()) {
                let names: Vec<&str> = snis.iter().map(|n| &**n).collect();
                return format!("SNI {sni:?} is not one of {}", names.join(", "));
            }
        }
        "holds, but another chain is chosen (a longer subnet prefix, a more specific SNI, an \
         earlier rule, or a more specific chain that does not match)"
            .into()
    });
    Some(ConnectionCandidate {
        resource,
        path,
        verdict,
    })
}

impl ConnectionExplain {
    /// The explanation as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "protocol": self.protocol,
            "gateway": self.gateway.as_ref().map(|(n, g)| format!("{n}/{g}")),
            "source_namespace": self.source_namespace,
            "port": self.port,
            "sni": self.sni,
            "bound": self.bound.as_ref().map(|(h, how)| json!({"host": h, "by": how})),
            "server": self.server,
            "candidates": self.candidates.iter().map(|c| json!({
                "resource": c.resource, "path": c.path, "verdict": c.verdict,
            })).collect::<Vec<_>>(),
            "decided_by": self.decided_by,
            "destination": self.destination,
            "outcome": self.outcome,
            "reason": self.reason,
        })
    }
}

impl fmt::Display for ConnectionExplain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match &self.gateway {
            Some((n, g)) => format!("gateway {n}/{g}"),
            None => format!("the mesh (client namespace {})", self.source_namespace),
        };
        let sni = self
            .sni
            .as_ref()
            .map_or(String::new(), |s| format!(", SNI {s}"));
        writeln!(
            f,
            "{} connection to port {}{sni} at {at}",
            self.protocol, self.port
        )?;
        if let Some(s) = &self.server {
            writeln!(f, "server: {s}")?;
        }
        match &self.bound {
            Some((h, how)) => writeln!(f, "service: {h} (by its {how})")?,
            None if self.gateway.is_none() => writeln!(f, "service: no tls or tcp rule names it")?,
            None => {}
        }
        for c in &self.candidates {
            writeln!(f, "  {} {}: {}", c.resource, c.path, c.verdict)?;
        }
        writeln!(f, "outcome: {} ({})", self.outcome, self.reason)?;
        if let Some(by) = &self.decided_by {
            writeln!(f, "decided by: {by}")?;
        }
        if let Some(d) = &self.destination {
            writeln!(f, "destination: {d}")?;
        }
        Ok(())
    }
}
