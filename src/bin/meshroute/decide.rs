//! `meshroute decide`: decides requests read as JSON lines from stdin against configuration
//! files, writing one JSON line per request: how a user tests a routing policy without a
//! cluster, and how a front end asks where requests go.
//!
//! ```text
//! meshroute decide [--gateway NS/NAME] [--seed N] [--endpoints PATH]... [--explain] [--line-buffered] CONFIG...
//! ```
//!
//! With `--explain`, each answer also carries `"explain"`: how the decision was reached
//! ([`meshroute::Explain::to_json`]): the host lookup, every candidate rule with the first
//! condition that failed, and the split's draw.
//!
//! With endpoints (`--endpoints FILE`: EndpointSlice and Pod resources; such resources in the
//! CONFIG files count too), each answer also names the endpoint picked and why
//! (`"endpoint": {"address", "port", "labels", "cluster", "policy", "hash", "locality",
//! "priority", "set_cookies"}`; `set_cookies` the `Set-Cookie` values of DestinationRule
//! `consistentHash.httpCookie` cookies generated for the request, [`Router::set_cookies`]),
//! and a cluster without a healthy endpoint answers 503.
//!
//! Input line: `{"id": ..., "request": {"method", "scheme", "authority", "path", "headers":
//! {name: value or [values]}, "port", "source_labels", "source_namespace", "source_ip",
//! "gateway"}, "random_value": optional u64, "upstream": optional {"status", "grpc_status",
//! "ratelimited" | "reset" | "reset_before_request" | "connect_failure" | "refused_stream" |
//! "per_try_timeout" | "overflow": true, "attempt", "elapsed_ms"}}`; with `upstream` the answer
//! carries `"retry"`: what Envoy's router does after that try. Every field but `request` may be omitted or null;
//! an omitted or null `source_namespace` is the client namespace `default`. The `id` (any JSON
//! value) comes back exactly as written.
//!
//! A line whose request has `"protocol": "tls"` or `"tcp"` is a connection: `{"protocol",
//! "sni", "host", "destination_ip", "port", "source_labels", "source_namespace", "source_ip",
//! "gateway"}`, decided by the `tls` and `tcp` rules ([`decide_connection`]). A mesh request on
//! a port its service declares `HTTPS` or `TLS` is decided as its connection
//! ([`meshroute::Table::request_protocol`]); its answer carries `"protocol"` and, when a rule took it,
//! `"rule"`, as a connection's does.
//!
//! Lines are read as strictly as configuration files: a field not named above, a key given
//! twice (at any depth), a `port` that is not an integer from 0 to 65535 or a `random_value`
//! that is not one from 0 to 2^64-1 (`1e3`, `1.0`, `-1` are not) make the line bad. A bad line
//! (also: not UTF-8, not JSON, not an object, a lone surrogate, nested too deep) gets
//! `{"id": <as sent, or null when it cannot be recovered>, "error": "line N: <field>: <why>"}` and
//! the stream goes on; blank lines get no answer. A configuration that does not compile prints
//! every error to stderr and exits 1.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;
use input::read_line;
use meshroute::action::{Abort, Action, Destination, RedirectPort};
use meshroute::registry::{Pick, Router};
use meshroute::{
    CompileOptions, Decision, Outcome, OwnedConnection, OwnedRequest, Table, addressed_port,
};
use rand_core::Rng;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::{Exit, Paths};

/// Decide requests read as JSON lines on stdin, one JSON answer per line
///
/// Input line: {"id": ..., "request": {"method", "scheme", "authority", "path", "headers":
/// {name: value or [values]}, "port", "source_labels", "source_namespace", "source_ip",
/// "gateway"}, "random_value": optional u64}; with "protocol": "tls" or "tcp" the request is
/// a connection {"protocol", "sni", "host", "destination_ip", "port", source fields, "gateway"}.
/// Every field but "request" may be omitted or null;
/// an omitted source_namespace is the client namespace "default". A bad line gets {"id",
/// "error"} and the stream goes on. A configuration that does not compile prints every error
/// to stderr and exits 1.
#[derive(Args)]
#[command(after_help = r#"Examples:
  echo '{"id": 1, "request": {"authority": "reviews", "headers": {"end-user": "jason"}}}' \
    | meshroute decide examples/bookinfo.yaml
  meshroute decide --gateway istio-system/ingress --seed 7 --explain gateway.yaml < requests.jsonl"#)]
pub struct DecideArgs {
    /// Where a request without its own "gateway" arrives (NAMESPACE/NAME); without it,
    /// requests are a sidecar's outbound calls
    #[arg(long, value_name = "NS/NAME", value_parser = parse_gateway)]
    gateway: Option<(String, String)>,
    /// Seed of the draws of requests without "random_value"
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// EndpointSlice, Pod and Service resources: each answer also names the endpoint picked
    /// (such resources in CONFIG count too)
    #[arg(long, value_name = "PATH")]
    endpoints: Vec<PathBuf>,
    /// Add "explain" to each answer: the host lookup, every candidate rule with the first
    /// condition that failed, and the split's draw
    #[arg(long)]
    explain: bool,
    /// Write each answer as soon as it is decided (for a program that waits for each answer
    /// before it sends the next request); by default output is buffered
    #[arg(long)]
    line_buffered: bool,
    /// Configuration files or directories (not -: requests come on stdin)
    #[arg(value_name = "CONFIG", required = true)]
    config: Vec<PathBuf>,
}

/// `NAMESPACE/NAME`.
pub fn parse_gateway(g: &str) -> Result<(String, String), String> {
    match g.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("{g:?}: write it as NAMESPACE/NAME")),
    }
}

pub fn run(args: &DecideArgs) -> Exit {
    if args.config.iter().any(|p| p.as_os_str() == "-") {
        return Exit::Usage(
            "decide reads requests on stdin; give the configuration as files or directories".into(),
        );
    }
    // Standard input is the request stream: no PATH may read it.
    crate::inputs::take_stdin();
    let paths = Paths::files(args.config.clone());
    let (loaded, table, router) =
        match crate::report::load_routed(&paths, &CompileOptions::strict(), &args.endpoints) {
            Ok(x) => x,
            Err(exit) => return exit,
        };
    let mut rng = rand_pcg::Pcg64::new(
        u128::from(args.seed),
        0x0a02_bdbf_7bb3_c0a7_ac28_fa16_a64a_bf96,
    );
    let ctx = Ctx {
        table: &table,
        router: router.as_ref(),
        gateway: args.gateway.as_ref(),
        explain: args.explain,
        gateways: crate::route::gateways(&loaded),
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let result = serve(
        &ctx,
        &mut rng,
        &mut stdin.lock(),
        &mut out,
        args.line_buffered,
    )
    .and_then(|()| out.flush().map_err(Stop::Write));
    match result {
        Ok(()) => Exit::Clean,
        // `decide ... | head -1`: the reader is gone, which is no error of the stream.
        Err(Stop::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Clean,
        Err(Stop::Write(e)) => Exit::Usage(format!("writing stdout: {e}")),
        Err(Stop::Read(e)) => Exit::Usage(format!("reading stdin: {e}")),
    }
}

/// Why the stream ended early: stdin or stdout failed.
enum Stop {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Answers every line of `input` on `out`, in order: one line per line that is not blank. A
/// line that cannot be read or decided gets an error line and the stream goes on; only
/// reading stdin or writing stdout failing ends it. Every answered line takes one draw from
/// `rng`, used when it gives no `random_value`.
fn serve<R: Rng>(
    ctx: &Ctx<'_>,
    rng: &mut R,
    input: &mut impl BufRead,
    out: &mut impl Write,
    line_buffered: bool,
) -> Result<(), Stop> {
    let mut line = Vec::new();
    let mut line_no = 0usize;
    loop {
        line.clear();
        // Bytes, not `lines()`: a line that is not UTF-8 gets an error line, it does not end
        // the stream.
        let n = input.read_until(b'\n', &mut line).map_err(Stop::Read)?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if std::str::from_utf8(text).is_ok_and(|t| t.trim().is_empty()) {
            continue;
        }
        let draw_default = rng.next_u64();
        let answer = answer(ctx, text, line_no, draw_default);
        writeln!(out, "{answer}").map_err(Stop::Write)?;
        if line_buffered {
            out.flush().map_err(Stop::Write)?;
        }
    }
}

/// What every line is decided against.
pub struct Ctx<'a> {
    pub table: &'a Table,
    pub router: Option<&'a Router>,
    /// `--gateway`: where a request without its own `gateway` arrives.
    pub gateway: Option<&'a (String, String)>,
    pub explain: bool,
    /// The gateways the configuration defines (namespace, name), for [`gateway_hint`].
    pub gateways: Vec<(String, String)>,
}

/// For a request decided in the mesh that no route takes there: the gateways whose routes take
/// it, and the flag that decides there. A Gateway API configuration tried without `--gateway`
/// otherwise answers only "no VirtualService".
pub fn gateway_hint(ctx: &Ctx<'_>, req: &OwnedRequest, d: &Decision<'_>) -> Option<String> {
    if req.gateway.is_some()
        || !matches!(
            d.outcome,
            Outcome::Passthrough
                | Outcome::NoVirtualHost
                | Outcome::PassthroughCluster
                | Outcome::BlackHole
        )
    {
        return None;
    }
    let serving: Vec<String> = ctx
        .gateways
        .iter()
        .filter(|(ns, name)| {
            let at = req.clone().at_gateway(ns, name);
            ctx.table.decide_with_draw(&at, d.draw).matched().is_some()
        })
        .map(|(ns, name)| format!("{ns}/{name}"))
        .collect();
    let first = serving.first()?;
    let which = if serving.len() == 1 {
        format!("Gateway {first} routes this host")
    } else {
        format!("Gateways {} route this host", serving.join(", "))
    };
    Some(format!("{which}; decide there with --gateway {first}"))
}

/// The answer line (without its newline) to input line `line_no` (from 1): a decision, or
/// `{"id", "error"}` with the id as sent (or null when it cannot be recovered).
fn answer(ctx: &Ctx<'_>, line: &[u8], line_no: usize, draw: u64) -> String {
    let (id, result) = match read_line(line, ctx.gateway) {
        Ok(input) => {
            let draw = input.random_value.unwrap_or(draw);
            if let Some(conn) = &input.connection {
                return finish(
                    Some(input.id),
                    Ok(decide_connection(ctx, conn, draw)),
                    line_no,
                );
            }
            let mut out = decide(ctx, &input.request, draw);
            if let Some(up) = &input.upstream {
                let shown = out.get("endpoint").cloned().unwrap_or(Value::Null);
                out["retry"] = retry(ctx, &input.request, draw, up, &shown);
            }
            (Some(input.id), Ok(out))
        }
        Err(bad) => (bad.id, Err(bad.msg)),
    };
    finish(id, result, line_no)
}

/// The answer line for `id` (null when it cannot be recovered): the decision, or the error.
fn finish(id: Option<Box<RawValue>>, result: Result<Value, String>, line_no: usize) -> String {
    let null = RawValue::NULL;
    let id = id.as_deref().unwrap_or(null);
    let text = match result {
        Ok(rest) => serde_json::to_string(&Answer { id, rest: &rest }),
        Err(msg) => serde_json::to_string(&ErrorLine {
            id,
            error: &format!("line {line_no}: {msg}"),
        }),
    };
    text.unwrap_or_else(|e| format!(r#"{{"id":{id},"error":"line {line_no}: {e}"}}"#))
}

#[derive(serde::Serialize)]
struct Answer<'a> {
    id: &'a RawValue,
    #[serde(flatten)]
    rest: &'a Value,
}

#[derive(serde::Serialize)]
struct ErrorLine<'a> {
    id: &'a RawValue,
    error: &'a str,
}

/// The contract's answer for one request (without its id).
pub fn decide(ctx: &Ctx<'_>, req: &OwnedRequest, draw: u64) -> Value {
    let table = ctx.table;
    let d = table.decide_with_draw(req, draw);
    let mut out = render(table, &d, req);
    // A request on a TLS port is decided as its connection: say so as a connection line does.
    if let Some(protocol) = table.request_protocol(req) {
        out["protocol"] = json!(protocol.label());
        if let Some(c) = d.matched().and_then(|m| m.connection) {
            out["rule"] = json!(c.path());
        }
    }
    if let Some(hint) = gateway_hint(ctx, req, &d)
        && let Some(Value::String(reason)) = out.get_mut("reason")
    {
        reason.push_str("; ");
        reason.push_str(&hint);
        reason.push_str(" (or \"gateway\" in the request)");
    }
    if ctx.explain {
        out["explain"] = table.explain(req, draw).to_json();
    }
    // A request decided as its connection gets no endpoint, as a connection does not.
    let router = ctx.router.filter(|_| table.request_protocol(req).is_none());
    if let Some(router) = router {
        let routed = router.decide_with_draw(req, draw);
        let pick = routed.pick;
        // A preflight the CORS filter answers never reaches an endpoint.
        let answered = out["actions"]["cors"]["answered"] == json!(true);
        out["endpoint"] = match pick {
            Pick::Endpoint(p) => json!({
                "address": &*p.endpoint.address,
                "port": p.endpoint.port,
                "labels": p.endpoint.labels,
                "cluster": p.cluster,
                "policy": p.policy.name(),
                "hash": p.hash,
                "locality": p.endpoint.locality.as_deref(),
                "priority": p.priority,
                "set_cookies": if answered { Vec::new() } else { router.set_cookies(&routed, req) },
            }),
            _ => Value::Null,
        };
        let reason = match pick {
            Pick::NoHealthyEndpoint => Some("no healthy endpoint in the cluster (503 UH)"),
            Pick::NoEndpoints => Some("no endpoint known for the cluster (503)"),
            Pick::Overflow => Some("the cluster's connection pool overflows (503 UO)"),
            _ => None,
        };
        if let Some(reason) = reason.filter(|_| !answered) {
            out["status"] = json!(503);
            out["reason"] = json!(reason);
        }
    }
    out
}

/// The contract's answer for one connection (a line with `"protocol": "tls"` or `"tcp"`): the
/// fields of a request's answer where they apply (`status`, `draw`, `route`, `route_name`,
/// `match`, `resource`, `destination`, `split`; `actions` empty, `fault` null), plus
/// `protocol` and `rule` (the field path of the rule or match that decided it).
pub fn decide_connection(ctx: &Ctx<'_>, conn: &OwnedConnection, draw: u64) -> Value {
    let table = ctx.table;
    let d = table.decide_connection_with_draw(conn, draw);
    let dest = |dst: &Destination| {
        let port = dst.port.unwrap_or(conn.port);
        json!({"host": &*dst.host, "subset": dst.subset.as_deref(), "port": port})
    };
    let mut out = json!({
        "protocol": conn.protocol.label(),
        "status": d.status(),
        "draw": d.draw,
        "fault": null,
        "actions": {},
    });
    match &d.outcome {
        Outcome::Matched(m) => {
            let src = table.source_of(m.rule);
            out["route"] = json!(format!("{}/{}", src.name, m.rule.index));
            out["route_name"] = json!(m.route_name());
            out["match"] = json!(m.connection.and_then(|c| c.block));
            out["rule"] = json!(m.connection.map(|c| c.path()));
            out["resource"] = json!(format!("{}/{}/{}", src.kind, src.namespace, src.name));
            out["destination"] = m.destination.map_or(Value::Null, |w| dest(&w.destination));
            out["split"] = match &m.rule.action {
                Action::Forward(f) => f
                    .destinations
                    .iter()
                    .map(|w| json!({"destination": dest(&w.destination), "weight": w.weight}))
                    .collect(),
                _ => json!([]),
            };
        }
        other => {
            out["route"] = Value::Null;
            out["resource"] = Value::Null;
            out["rule"] = Value::Null;
            out["split"] = json!([]);
            if let Some((route, cluster)) = other.catch_all() {
                out["route_name"] = json!(route);
                out["cluster"] = json!(cluster);
            }
            let forwarded = matches!(other, Outcome::Passthrough | Outcome::PassthroughCluster);
            out["destination"] = if forwarded {
                let host = conn
                    .host
                    .clone()
                    .or_else(|| conn.sni.clone())
                    .or_else(|| conn.destination_ip.map(|ip| ip.to_string()));
                json!({"host": host, "subset": null, "port": d.port})
            } else {
                Value::Null
            };
            // A closed connection has no HTTP status.
            if !forwarded {
                out["status"] = Value::Null;
            }
            out["reason"] = match other {
                Outcome::Passthrough => json!(
                    "no tls or tcp rule takes the connection: the default route to the addressed service"
                ),
                Outcome::PassthroughCluster => json!(
                    "no tls or tcp rule, Service or ServiceEntry for the service: \
                     outboundTrafficPolicy ALLOW_ANY passes it through to the original destination"
                ),
                Outcome::BlackHole => json!(
                    "no tls or tcp rule, Service or ServiceEntry for the service: \
                     outboundTrafficPolicy REGISTRY_ONLY blocks it, the connection is closed"
                ),
                Outcome::NoRoute { .. } => json!(
                    "rules bind the service but none matches the connection: no filter chain, the connection is closed"
                ),
                // At a gateway: no server on the port, an HTTP server, or no rule; explain's
                // reason says which.
                _ => json!(table.explain_connection(conn, d.draw).reason),
            };
        }
    }
    if ctx.explain {
        out["explain"] = table.explain_connection(conn, draw).to_json();
    }
    out
}

/// `"retry"`: what Envoy's router does after the line's `upstream` result
/// ([`Decision::retry_after`]); with endpoints, the next try's endpoint
/// ([`Router::pick_retry`]), avoiding the endpoint this answer picked. Null when the request
/// is not forwarded.
fn retry(
    ctx: &Ctx<'_>,
    req: &OwnedRequest,
    draw: u64,
    up: &input::Upstream,
    shown: &Value,
) -> Value {
    let d = ctx.table.decide_with_draw(req, draw);
    let elapsed = std::time::Duration::from_millis(up.elapsed_ms);
    let Some(mut v) = d.retry_after(&up.result, up.attempt, elapsed, draw) else {
        return Value::Null;
    };
    if let Some(router) = ctx.router {
        v = router.retry_verdict(&d, req, v);
    }
    let ms = |t: std::time::Duration| t.as_millis() as u64;
    let mut out = json!({
        "retry": v.retry,
        "reason": v.reason_name(),
        "condition": v.condition.map(|c| c.name()),
        "attempts_left": v.attempts_left,
        "backoff_ms": ms(v.backoff),
        "per_try_timeout_ms": v.per_try_timeout.map(ms),
        "budget_ms": v.budget.map(ms),
        "avoid_previous_hosts": v.avoid_previous_hosts,
        "host_selection_attempts": v.host_selection_attempts,
        "remote_localities": v.remote_localities,
    });
    if let Some(router) = ctx.router {
        // The endpoint this answer shows (picked once: a round robin moves on each pick).
        let first = shown["address"]
            .as_str()
            .zip(shown["port"].as_u64().and_then(|p| u16::try_from(p).ok()))
            .map(|(a, p)| meshroute::registry::Endpoint::new(a, p));
        let tried: Vec<&meshroute::registry::Endpoint> = first.iter().collect();
        let next = match v.retry {
            true => router.pick_retry(&d, req, retry_draw(draw, up.attempt), &v, &tried),
            false => Pick::NotForwarded,
        };
        out["endpoint"] = next.endpoint().map_or(Value::Null, |p| {
            json!({"address": &*p.endpoint.address, "port": p.endpoint.port, "cluster": p.cluster})
        });
    }
    out
}

/// The draw of the retry after try `attempt`: the line's draw, stirred by the attempt
/// (SplitMix64's finalizer), so each retry picks afresh but reproducibly.
fn retry_draw(draw: u64, attempt: u32) -> u64 {
    let mut z = draw ^ u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `actions.cors`: the policy and what Envoy's CORS filter does with this request (`answer`
/// is `None` when an injected abort answered before the filter ran).
fn cors_json(c: &meshroute::cors::Cors, answer: Option<&meshroute::cors::CorsAnswer<'_>>) -> Value {
    json!({
        "request": answer.map_or("none", |a| a.kind.as_str()),
        "origin_allowed": answer.is_some_and(|a| a.origin_allowed),
        "answered": answer.is_some_and(|a| a.answered),
        "response_headers": answer.map_or_else(Vec::new, |a| a
            .response_headers()
            .map(|(n, v)| json!([n, String::from_utf8_lossy(v)]))
            .collect()),
        "allow_origins": c.allow_origins.iter().map(|o| json!({o.kind(): o.pattern()})).collect::<Vec<_>>(),
        "allow_methods": &*c.allow_methods,
        "allow_headers": &*c.allow_headers,
        "expose_headers": &*c.expose_headers,
        "max_age_s": c.max_age.map(|t| t.as_secs()),
        "allow_credentials": c.allow_credentials,
        "unmatched_preflights": c.unmatched_preflights.as_str(),
    })
}

/// A destination with the port Envoy sends to: its own, else the request's.
fn dest(d: &Destination, req: &OwnedRequest) -> Value {
    let port = d.port.unwrap_or_else(|| addressed_port(req));
    json!({"host": &*d.host, "subset": d.subset.as_deref(), "port": port})
}

fn render(table: &Table, d: &Decision<'_>, req: &OwnedRequest) -> Value {
    let mut out = json!({"status": d.status(), "draw": d.draw});
    match &d.outcome {
        Outcome::Matched(m) => {
            let src = table.source_of(m.rule);
            out["route"] = json!(format!("{}/{}", src.name, m.rule.index));
            out["route_name"] = json!(m.route_name());
            out["match"] = json!(m.block);
            out["resource"] = json!(format!("{}/{}/{}", src.kind, src.namespace, src.name));
            out["destination"] = m
                .destination
                .map_or(Value::Null, |w| dest(&w.destination, req));
            let mut actions = serde_json::Map::new();
            match &m.rule.action {
                Action::Forward(f) => {
                    out["split"] = f
                        .destinations
                        .iter()
                        .map(|w| json!({"destination": dest(&w.destination, req), "weight": w.weight}))
                        .collect();
                    out["fault"] = json!({
                        "delay_ms": m.delay.map(|x| x.as_millis() as u64),
                        "abort": m.abort.map(|a| match a {
                            Abort::Http(c) => json!({"http_status": c}),
                            Abort::Grpc(g) => json!({"grpc_status": &**g}),
                            _ => Value::Null,
                        }),
                    });
                    if let Some(rw) = &f.rewrite {
                        let path = meshroute::predicate::path::strip_query(&req.path);
                        actions.insert(
                            "rewrite".into(),
                            json!({"path": d.rewritten_path(path), "authority": rw.authority.as_deref()}),
                        );
                    }
                    actions.insert(
                        "timeout_ms".into(),
                        json!(f.timeout.map(|t| t.as_millis() as u64)),
                    );
                    actions.insert("retries".into(), f.retries.as_ref().map_or(Value::Null, |r| json!({
                        "attempts": r.attempts,
                        "retry_on": &*r.retry_on,
                        "retriable_status_codes": &r.retriable_status_codes,
                        "per_try_timeout_ms": r.per_try_timeout.map(|t| t.as_millis() as u64),
                        "default": r.is_default,
                    })));
                    let mirrors: Vec<Value> =
                        d.mirrors().map(|mi| dest(&mi.destination, req)).collect();
                    if !f.mirrors.is_empty() {
                        actions.insert("mirrors".into(), json!(mirrors));
                    }
                    if let Some(a) = d.session() {
                        actions.insert(
                            "session".into(),
                            json!({
                                "type": a.session.kind.name(),
                                "name": &*a.session.name,
                                "state": a.state.label(),
                                "pinned": a.state == meshroute::session::SessionState::Pinned,
                                "backend": a.destination.map(|b| dest(b, req)),
                                "address": a.address,
                                "set_cookie": a.set_cookie,
                                "set_header": a.set_header.map(|(n, v)| json!([n, v])),
                            }),
                        );
                    }
                    if let Some(c) = &f.cors {
                        let answer = d.cors(req);
                        if let Some(a) = answer.filter(|a| a.answered) {
                            // The CORS filter answers the preflight itself; the route's action
                            // never runs.
                            out["status"] = json!(a.status());
                        }
                        actions.insert("cors".into(), cors_json(c, answer.as_ref()));
                    }
                }
                Action::Redirect(r) => {
                    out["split"] = json!([]);
                    actions.insert("redirect".into(), json!({
                        "uri": r.uri.as_deref(),
                        "prefix_rewrite": r.prefix_rewrite.as_deref(),
                        "authority": r.authority.as_deref(),
                        "scheme": r.scheme.as_deref(),
                        "port": match r.port { RedirectPort::Port(p) => json!(p), RedirectPort::FromRequest => json!("FROM_REQUEST_PORT"), RedirectPort::FromProtocolDefault => json!("FROM_PROTOCOL_DEFAULT"), _ => Value::Null },
                        "code": r.code,
                        "location": d.redirect_location(req),
                    }));
                }
                Action::DirectResponse(dr) => {
                    out["split"] = json!([]);
                    actions.insert("direct_response".into(), json!({
                        "status": dr.status,
                        "body": dr.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
                    }));
                }
                _ => {}
            }
            let edits = |e: &meshroute::action::HeaderEdits| {
                json!({
                    "set": e.set.iter().map(|(k, v)| json!([&**k, &**v])).collect::<Vec<_>>(),
                    "add": e.add.iter().map(|(k, v)| json!([&**k, &**v])).collect::<Vec<_>>(),
                    "remove": e.remove.iter().map(|k| &**k).collect::<Vec<_>>(),
                })
            };
            let h = &m.rule.headers;
            if !h.is_empty() {
                actions.insert(
                    "headers".into(),
                    json!({"request": edits(&h.request), "response": edits(&h.response)}),
                );
            }
            // The picked destination's own operations (`route[].headers`), which Envoy applies
            // with the route's: for one destination after them, for a split before them.
            if let Some(w) = m.destination
                && !w.destination.headers.is_empty()
            {
                let h = &w.destination.headers;
                actions.insert(
                    "destination_headers".into(),
                    json!({"request": edits(&h.request), "response": edits(&h.response)}),
                );
            }
            out["actions"] = Value::Object(actions);
        }
        other => {
            out["route"] = Value::Null;
            out["resource"] = Value::Null;
            out["split"] = json!([]);
            out["fault"] = Value::Null;
            out["actions"] = json!({});
            if let Some((route, cluster)) = other.catch_all() {
                out["route_name"] = json!(route);
                out["cluster"] = json!(cluster);
            }
            out["destination"] = match other {
                Outcome::Passthrough | Outcome::PassthroughCluster => {
                    let host = match req.authority.rsplit_once(':') {
                        Some((h, p)) if p.parse::<u16>().is_ok() => h,
                        _ => req.authority.as_str(),
                    };
                    json!({"host": host, "subset": null, "port": d.port})
                }
                _ => Value::Null,
            };
            out["reason"] = json!(match other {
                Outcome::Passthrough =>
                    "no VirtualService for the host: mesh default route to the addressed service"
                        .to_string(),
                Outcome::PassthroughCluster =>
                    "no VirtualService, Service or ServiceEntry for the host: \
                     outboundTrafficPolicy ALLOW_ANY passes it through to the addressed host \
                     (PassthroughCluster)"
                        .to_string(),
                Outcome::BlackHole => "no VirtualService, Service or ServiceEntry for the host: \
                     outboundTrafficPolicy REGISTRY_ONLY blocks it (BlackHoleCluster, 502)"
                    .to_string(),
                Outcome::NoRoute { .. } => "no rule matched (404 NR)".to_string(),
                Outcome::BadRequest { reason } =>
                    format!("refused by path normalization: {reason}"),
                _ => "no virtual host at this gateway (404)".to_string(),
            });
        }
    }
    // Present only where a DestinationRule applies, so that other answers keep their shape.
    if let Some(r) = table.destination_rule(d, req) {
        out["destination_rule"] = json!({
            "host": r.host,
            "namespace": r.namespace,
            "names": r.names.iter().map(|n| &**n).collect::<Vec<_>>(),
        });
    }
    out
}

mod input;

#[cfg(test)]
mod tests {
    //! The stream contract: each bad line gets one error line carrying its id when it can be
    //! recovered, and the line after it is still decided. Request lines are held to the config
    //! loader's strictness (`src/config/mod.rs`, `StrictVisitor`: repeated keys are errors).
    use super::*;

    const CONFIG: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec:
  hosts: [cart]
  http:
  - name: split
    route:
    - destination: {host: cart, subset: v1}
      weight: 75
      headers:
        response:
          remove: [foo]
    - destination: {host: cart, subset: v2}
      weight: 25
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart, namespace: shop}
spec:
  host: cart
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
";

    /// A line that is decided: `{"id": "next", ...}` to `cart` with draw 80 (subset v2).
    const NEXT: &[u8] = br#"{"id": "next", "request": {"authority": "cart", "source_namespace": "shop"}, "random_value": 80}"#;

    fn table() -> Table {
        let config = meshroute::Config::from_str(CONFIG, "test").unwrap();
        meshroute::compile(&config, &CompileOptions::strict())
            .unwrap()
            .table
    }

    /// The answer lines to `input`, as text.
    fn stream(input: &[u8]) -> Vec<String> {
        let table = table();
        let ctx = Ctx {
            table: &table,
            router: None,
            gateway: None,
            explain: false,
            gateways: Vec::new(),
        };
        let mut rng = rand_pcg::Pcg64::new(0, 0x0a02_bdbf_7bb3_c0a7_ac28_fa16_a64a_bf96);
        let mut out = Vec::new();
        serve(&ctx, &mut rng, &mut &input[..], &mut out, false)
            .unwrap_or_else(|_| panic!("the stream ends only when stdin or stdout fails"));
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The answer to `bad` on line 1, checked to be an error line, and that `NEXT` on line 2
    /// is still decided.
    fn error_then_next(bad: &[u8]) -> String {
        let mut input = bad.to_vec();
        input.push(b'\n');
        input.extend_from_slice(NEXT);
        input.push(b'\n');
        let out = stream(&input);
        assert_eq!(out.len(), 2, "{out:?}");
        let next: Value = serde_json::from_str(&out[1]).unwrap();
        assert_eq!(next["id"], "next", "{}", out[1]);
        assert_eq!(next["destination"]["subset"], "v2", "{}", out[1]);
        let v: Value = serde_json::from_str(&out[0]).unwrap();
        assert!(v["error"].is_string(), "{}", out[0]);
        assert_eq!(v.as_object().unwrap().len(), 2, "{}", out[0]);
        out[0].clone()
    }

    #[test]
    fn the_picked_destinations_header_operations_are_shown() {
        // istio/api networking/v1alpha3/virtual_service.proto, the `Headers` example: the v1
        // destination removes `foo` from responses; istio/istio
        // pilot/pkg/networking/core/route/route.go `processWeightedDestination` puts them on
        // that weighted cluster only.
        let out = stream(
            br#"{"id": 1, "request": {"authority": "cart", "source_namespace": "shop"}, "random_value": 10}
{"id": 2, "request": {"authority": "cart", "source_namespace": "shop"}, "random_value": 80}
"#,
        );
        let v1: Value = serde_json::from_str(&out[0]).unwrap();
        assert_eq!(v1["destination"]["subset"], "v1", "{}", out[0]);
        assert_eq!(
            v1["actions"]["destination_headers"]["response"]["remove"],
            json!(["foo"]),
            "{}",
            out[0]
        );
        let v2: Value = serde_json::from_str(&out[1]).unwrap();
        assert_eq!(v2["destination"]["subset"], "v2", "{}", out[1]);
        assert!(
            v2["actions"].get("destination_headers").is_none(),
            "{}",
            out[1]
        );
    }

    /// `upstream` asks what Envoy's router does after that try: the mesh default policy here
    /// (istiod retry.go `DefaultPolicy`), Envoy's jittered backoff from the line's draw
    /// (retry_state_impl_test.cc `Backoff`: 190 % 25 = 15 ms for the first retry).
    #[test]
    fn an_upstream_result_gets_the_retry_verdict() {
        let out = stream(
            br#"{"id": 1, "request": {"authority": "cart", "source_namespace": "shop"}, "random_value": 190, "upstream": {"connect_failure": true}}
{"id": 2, "request": {"authority": "cart", "source_namespace": "shop"}, "random_value": 190, "upstream": {"status": 200, "grpc_status": 14, "attempt": 2}}
{"id": 3, "request": {"authority": "cart", "source_namespace": "shop"}, "upstream": {"status": 503}}
{"id": 4, "request": {"authority": "cart", "source_namespace": "shop"}, "upstream": {"refused_stream": true, "attempt": 3}}
{"id": 5, "request": {"authority": "cart", "source_namespace": "shop"}}
"#,
        );
        let v: Vec<Value> = out
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            v[0]["retry"],
            json!({"retry": true, "reason": "connect-failure", "condition": "connect-failure",
                "attempts_left": 1, "backoff_ms": 15, "per_try_timeout_ms": null,
                "budget_ms": null, "avoid_previous_hosts": true, "host_selection_attempts": 5,
                "remote_localities": false}),
            "{}",
            out[0]
        );
        // The second retry draws from an interval twice as long: 190 % 50.
        assert_eq!(
            (
                &v[1]["retry"]["reason"],
                &v[1]["retry"]["backoff_ms"],
                &v[1]["retry"]["attempts_left"]
            ),
            (&json!("unavailable"), &json!(40), &json!(0)),
            "{}",
            out[1]
        );
        assert_eq!(v[2]["retry"]["reason"], "not-retriable", "{}", out[2]);
        assert_eq!(
            v[3]["retry"]["reason"], "retry-limit-exceeded",
            "{}",
            out[3]
        );
        assert_eq!(v[3]["retry"]["condition"], "refused-stream", "{}", out[3]);
        assert!(v[4].get("retry").is_none(), "{}", out[4]);
    }

    #[test]
    fn a_bad_upstream_result_is_an_error_line() {
        for (upstream, why) in [
            (
                "{}",
                "upstream: give one result: status, reset, reset_before_request, connect_failure, refused_stream, per_try_timeout or overflow",
            ),
            (
                r#"{"status": 503, "reset": true}"#,
                "upstream: give one result: status, reset, reset_before_request, connect_failure, refused_stream, per_try_timeout or overflow",
            ),
            (
                r#"{"reset": true, "grpc_status": 14}"#,
                "upstream: grpc_status and ratelimited go with a status",
            ),
            (
                r#"{"status": 42}"#,
                "upstream: status 42 is not an HTTP status (100 to 599)",
            ),
            (
                r#"{"status": 600}"#,
                "upstream.status: 600 is not an HTTP status (100 to 599)",
            ),
            (
                r#"{"status": 503, "attempt": 0}"#,
                "upstream: attempt 0: attempts count from 1 (the first try)",
            ),
            (
                r#"{"statuss": 503}"#,
                "upstream.statuss: unknown field; expected one of status, grpc_status, ratelimited, reset, reset_before_request, connect_failure, refused_stream, per_try_timeout, overflow, attempt, elapsed_ms",
            ),
        ] {
            let line = format!(r#"{{"id": 1, "request": {{}}, "upstream": {upstream}}}"#);
            assert_eq!(
                error_then_next(line.as_bytes()),
                format!(r#"{{"id":1,"error":"line 1: {why}"}}"#)
            );
        }
    }

    #[test]
    fn invalid_utf8_gets_an_error_line_with_the_id_and_the_stream_goes_on() {
        assert_eq!(
            error_then_next(b"{\"id\": 3, \"request\": {\"path\": \"/\xff\"}}"),
            r#"{"id":3,"error":"line 1: not UTF-8: invalid byte at offset 32"}"#
        );
        // The id after the bad byte is found too, by a scan of the bytes.
        assert_eq!(
            error_then_next(b"{\"request\": {\"path\": \"/\xc3\x28\"}, \"id\": \"a\"}"),
            r#"{"id":"a","error":"line 1: not UTF-8: invalid byte at offset 23"}"#
        );
        assert_eq!(
            error_then_next(b"\xff"),
            r#"{"id":null,"error":"line 1: not UTF-8: invalid byte at offset 0"}"#
        );
    }

    #[test]
    fn json_that_is_not_an_object_gets_an_error_line_not_a_decision() {
        for (line, what) in [
            ("null", "null"),
            ("[1, 2]", "sequence"),
            (r#""cart""#, r#"string \"cart\""#),
            ("7", "integer `7`"),
        ] {
            assert_eq!(
                error_then_next(line.as_bytes()),
                format!(
                    r#"{{"id":null,"error":"line 1: invalid type: {what}, expected an object {{\"id\", \"request\", \"random_value\"}}"}}"#
                )
            );
        }
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": null}"#),
            r#"{"id":1,"error":"line 1: request: invalid type: null, expected a request object"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": [1]}"#),
            r#"{"id":1,"error":"line 1: request: invalid type: sequence, expected a request object"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1}"#),
            r#"{"id":1,"error":"line 1: request: missing; a line is {\"id\", \"request\", \"random_value\"}"}"#
        );
        assert_eq!(
            error_then_next(b"this is not json"),
            r#"{"id":null,"error":"line 1: expected ident at column 2"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {}} {}"#),
            r#"{"id":1,"error":"line 1: trailing characters at column 26"}"#
        );
    }

    #[test]
    fn numbers_out_of_range_and_nan_get_an_error_line_naming_the_field() {
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {}, "random_value": 1e400}"#),
            r#"{"id":1,"error":"line 1: random_value: 1e400 is not an unsigned 64-bit integer"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {"path": 1e400}}"#),
            r#"{"id":1,"error":"line 1: request.path: number out of range at column 35"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {}, "random_value": NaN}"#),
            r#"{"id":1,"error":"line 1: random_value: expected value at column 42"}"#
        );
        // An id that is itself out of range cannot be echoed.
        assert_eq!(
            error_then_next(br#"{"id": 1e400, "request": {}}"#),
            r#"{"id":null,"error":"line 1: id: number out of range"}"#
        );
    }

    #[test]
    fn random_value_is_a_u64_and_port_a_u16_as_written() {
        for (value, shown) in [
            ("18446744073709551616", "18446744073709551616"),
            ("-1", "-1"),
            ("1.5", "1.5"),
            ("8e1", "8e1"),
            ("80.0", "80.0"),
            (r#""80""#, r#"\"80\""#),
            ("true", "true"),
            ("[80]", "an array"),
            ("{}", "an object"),
        ] {
            let line = format!(r#"{{"id": 1, "request": {{}}, "random_value": {value}}}"#);
            assert_eq!(
                error_then_next(line.as_bytes()),
                format!(
                    r#"{{"id":1,"error":"line 1: random_value: {shown} is not an unsigned 64-bit integer"}}"#
                )
            );
        }
        for value in ["65536", "-1", "80.0"] {
            let line = format!(r#"{{"id": 1, "request": {{"port": {value}}}}}"#);
            assert_eq!(
                error_then_next(line.as_bytes()),
                format!(
                    r#"{{"id":1,"error":"line 1: request.port: {value} is not a port (0 to 65535)"}}"#
                )
            );
        }
        let out = stream(
            br#"{"id": 1, "request": {"authority": "cart", "port": 65535}, "random_value": 18446744073709551615}"#,
        );
        let v: Value = serde_json::from_str(&out[0]).unwrap();
        assert_eq!(v["draw"], u64::MAX, "{}", out[0]);
    }

    #[test]
    fn a_lone_surrogate_gets_an_error_line() {
        let line = br#"{"id": 1, "request": {"path": "/\ud800"}}"#;
        let out = error_then_next(line);
        assert!(
            out.starts_with(r#"{"id":1,"error":"line 1: request.path: "#),
            "{out}"
        );
        // An id that is a lone surrogate is not echoed: the answer would not be valid Unicode.
        let out = error_then_next(br#"{"id": "\udc00", "request": {}}"#);
        assert!(
            out.starts_with(r#"{"id":null,"error":"line 1: id: "#),
            "{out}"
        );
        // A pair is a character, and the id comes back as written.
        let out = stream(br#"{"id": "\ud83d\ude00", "request": {}}"#);
        assert!(out[0].starts_with(r#"{"id":"\ud83d\ude00","#), "{}", out[0]);
    }

    #[test]
    fn a_field_the_contract_does_not_know_is_an_error() {
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {"methd": "GET"}}"#),
            r#"{"id":1,"error":"line 1: request.methd: unknown field; expected one of method, scheme, authority, path, headers, port, source_labels, source_namespace, source_ip, gateway, protocol, sni, host, destination_ip"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {}, "random": 5}"#),
            r#"{"id":1,"error":"line 1: random: unknown field; expected one of id, request, random_value, upstream"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {"headers": {"a": ["x", 5]}}}"#),
            r#"{"id":1,"error":"line 1: request.headers.a[1]: invalid type: integer `5`, expected a string"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {"source_labels": {"app": 5}}}"#),
            r#"{"id":1,"error":"line 1: request.source_labels.app: invalid type: integer `5`, expected a string"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {"source_ip": "10.0.0"}}"#),
            r#"{"id":1,"error":"line 1: request.source_ip: \"10.0.0\" is not an IP address"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {"gateway": "gw"}}"#),
            r#"{"id":1,"error":"line 1: request.gateway: \"gw\" is not NAMESPACE/NAME"}"#
        );
    }

    #[test]
    fn a_duplicate_key_at_any_depth_is_an_error() {
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {"path": "/a", "path": "/b"}}"#),
            r#"{"id":1,"error":"line 1: request.path: duplicate key; each field may be given once"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {}, "request": {}}"#),
            r#"{"id":1,"error":"line 1: request: duplicate key; each field may be given once"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {"headers": {"a": "x", "a": ["y"]}}}"#),
            r#"{"id":1,"error":"line 1: request.headers.a: duplicate key; each key may be given once"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": 1, "request": {"source_labels": {"v": "1", "v": "2"}}}"#),
            r#"{"id":1,"error":"line 1: request.source_labels.v: duplicate key; each key may be given once"}"#
        );
        // Two ids: neither is echoed, a front end could have read either.
        assert_eq!(
            error_then_next(br#"{"id": 1, "id": 2, "request": {}}"#),
            r#"{"id":null,"error":"line 1: id: duplicate key; each field may be given once"}"#
        );
        assert_eq!(
            error_then_next(br#"{"id": {"k": 1, "k": 2}, "request": {}}"#),
            r#"{"id":null,"error":"line 1: id.k: duplicate key; each key may be given once"}"#
        );
    }

    #[test]
    fn the_id_comes_back_exactly_as_sent() {
        let out = stream(
            br#"{"id": 12345678901234567890123, "request": {}}
{"id": 1.50, "request": {}}
{"id": "a\u0041\/", "request": {}}
{"id": {"run": [1, 2.0]}, "request": {}}
{"request": {}}
{"id": null, "request": {}}
{"id": -0, "request": {}, "random_value": "x"}
"#,
        );
        let ids: Vec<&str> = out
            .iter()
            .map(|l| &l[6..l.find(r#","error""#).or(l.find(r#","actions""#)).unwrap()])
            .collect();
        assert_eq!(
            ids,
            [
                "12345678901234567890123",
                "1.50",
                r#""a\u0041\/""#,
                r#"{"run": [1, 2.0]}"#,
                "null",
                "null",
                "-0",
            ],
            "{out:?}"
        );
    }

    /// serde_json stops at 128 levels of nesting (`src/de.rs`, the `check_recursion` macro) and
    /// skips a raw value without recursing (`Deserializer::ignore_value`); neither a deep
    /// request nor a deep id may crash the stream.
    #[test]
    fn the_id_is_recovered_beside_a_request_too_deep_to_parse() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let line = format!(
            r#"{{"request": {{"headers": {}}}, "id": 9}}"#,
            deep(100_000)
        );
        assert_eq!(
            error_then_next(line.as_bytes()),
            r#"{"id":9,"error":"line 1: request.headers: invalid type: sequence, expected an object {name: value or [values]}"}"#
        );
        let line = format!(r#"{{"id": 9, "request": {}}}"#, deep(100_000));
        assert_eq!(
            error_then_next(line.as_bytes()),
            r#"{"id":9,"error":"line 1: request: invalid type: sequence, expected a request object"}"#
        );
        // Unclosed: the scan stops in the nesting, after the id.
        let line = format!(r#"{{"id": "x", "request": {}"#, "[".repeat(100_000));
        let out = error_then_next(line.as_bytes());
        assert!(
            out.starts_with(r#"{"id":"x","error":"line 1: request: "#),
            "{out}"
        );
        // The id itself too deep: read raw, then refused when checked.
        let line = format!(r#"{{"id": {}, "request": {{}}}}"#, deep(100_000));
        assert_eq!(
            error_then_next(line.as_bytes()),
            r#"{"id":null,"error":"line 1: id: recursion limit exceeded"}"#
        );
    }

    #[test]
    fn blank_lines_get_no_answer_and_take_no_draw() {
        let with = stream(b"\n   \r\n{\"id\": 1, \"request\": {\"authority\": \"cart\"}}\n\n");
        let without = stream(b"{\"id\": 1, \"request\": {\"authority\": \"cart\"}}");
        assert_eq!(with, without);
        // Line numbers count every line, blank ones too.
        let out = stream(b"\n\nnull\r\n");
        assert_eq!(out.len(), 1);
        assert!(
            out[0].contains(r#""line 3: invalid type: null"#),
            "{}",
            out[0]
        );
    }

    #[test]
    fn omitted_or_null_fields_take_their_defaults() {
        let gw = ("istio-system".to_string(), "ingress".to_string());
        let line = br#"{"request": {"method": null, "headers": null, "port": null,
            "source_labels": null, "source_namespace": null, "source_ip": null, "gateway": null},
            "random_value": null}"#;
        let read = read_line(line, Some(&gw)).ok().unwrap();
        let r = read.request;
        assert_eq!(read.id.get(), "null");
        assert_eq!(read.random_value, None);
        assert_eq!(
            (r.method.as_str(), r.scheme.as_str(), r.path.as_str()),
            ("GET", "http", "/")
        );
        assert!(r.headers.is_empty() && r.source_labels.is_empty());
        assert_eq!((r.port, r.source_ip), (None, None));
        // No namespace: the client namespace `default`.
        assert_eq!(r.source_namespace, None);
        assert_eq!(r.gateway.as_ref(), Some(&gw));
        let read = read_line(
            br#"{"request": {"headers": {"x": ["a", "b"], "y": "c"}, "gateway": "ns/gw", "source_namespace": "shop"}}"#,
            Some(&gw),
        )
        .ok()
        .unwrap();
        let r = read.request;
        assert_eq!(
            r.headers.iter().collect::<Vec<_>>(),
            [("x", "a"), ("x", "b"), ("y", "c")]
        );
        assert_eq!(r.gateway, Some(("ns".to_string(), "gw".to_string())));
        assert_eq!(r.source_namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn the_id_scan_skips_nested_values_and_strings() {
        let id = |line: &[u8]| input::recover_id(line).map(|v| v.get().to_string());
        assert_eq!(
            id(br#"{"request": {"id": 1, "s": "}]\"{"}, "id" : "top", x"#).as_deref(),
            Some(r#""top""#)
        );
        assert_eq!(id(br#"{"\u0069d": true, "#).as_deref(), Some("true"));
        assert_eq!(
            id(br#" { "a": [{"id": 1}], "id": -2.5e3 }"#).as_deref(),
            Some("-2.5e3")
        );
        // Not scalars, not finished, not JSON, or given twice: no id.
        assert_eq!(id(br#"{"id": [1]}"#), None);
        assert_eq!(id(br#"{"id": "open"#), None);
        assert_eq!(id(br#"{"id": nul}"#), None);
        assert_eq!(id(br#"{"id": 1, "id": 1}"#), None);
        assert_eq!(id(br#"[{"id": 1}]"#), None);
        assert_eq!(id(b"{\"id\": \"\xff\"}"), None);
    }
}
