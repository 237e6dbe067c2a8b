//! Decides requests read as JSON lines from stdin against configuration files, writing one JSON
//! line per request: how a user tests a routing policy without a cluster.
//!
//! ```text
//! cargo run --release --example decide -- [--gateway NS/NAME] [--seed N] [--endpoints FILE]... [--explain] CONFIG...
//! ```
//!
//! With `--explain`, each answer also carries `"explain"`: how the decision was reached
//! ([`meshroute::Explain::to_json`]): the host lookup, every candidate rule with the first
//! condition that failed, and the split's draw.
//!
//! With endpoints (`--endpoints FILE`: EndpointSlice and Pod resources; such resources in the
//! CONFIG files count too), each answer also names the endpoint picked and why
//! (`"endpoint": {"address", "port", "labels", "cluster", "policy", "hash"}`), and a cluster
//! without a healthy endpoint answers 503.
//!
//! Input line: `{"id": ..., "request": {"method", "scheme", "authority", "path", "headers":
//! {name: value or [values]}, "port", "source_labels", "source_namespace", "source_ip",
//! "gateway"}, "random_value": optional u64}`. A bad line gets `{"id", "error"}` and the stream
//! goes on. A configuration that does not compile prints every error to stderr and exits 1.

use std::io::{BufRead, Write};

use meshroute::action::{Abort, Action, Destination, RedirectPort};
use meshroute::registry::{Pick, Registry, Router};
use meshroute::{CompileOptions, Config, Decision, Outcome, OwnedRequest, Table, addressed_port};
use rand_core::Rng;
use serde_json::{Value, json};

fn main() {
    std::process::exit(match run() {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("{msg}");
            1
        }
    });
}

fn usage() -> String {
    "usage: decide [--gateway NS/NAME] [--seed N] [--endpoints FILE]... [--explain] CONFIG...  (requests as JSON lines on stdin)"
        .to_string()
}

fn run() -> Result<(), String> {
    let mut gateway: Option<(String, String)> = None;
    let mut seed: u64 = 0;
    let mut files = Vec::new();
    let mut endpoint_files = Vec::new();
    let mut explain = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--gateway" => {
                let g = args.next().ok_or_else(usage)?;
                let (ns, name) = g
                    .split_once('/')
                    .ok_or_else(|| format!("--gateway {g:?}: write it as NAMESPACE/NAME"))?;
                gateway = Some((ns.to_string(), name.to_string()));
            }
            "--seed" => {
                let s = args.next().ok_or_else(usage)?;
                seed = s
                    .parse()
                    .map_err(|_| format!("--seed {s:?} is not an unsigned integer"))?;
            }
            "--endpoints" => endpoint_files.push(args.next().ok_or_else(usage)?),
            "--explain" => explain = true,
            "-h" | "--help" => return Err(usage()),
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        return Err(usage());
    }
    let mut config = Config::new();
    for f in &files {
        config.add_file(f).map_err(|e| e.to_string())?;
    }
    let compiled =
        meshroute::compile(&config, &CompileOptions::strict()).map_err(|e| e.to_string())?;
    for d in &compiled.diagnostics {
        if d.severity >= meshroute::Severity::Warning {
            eprintln!("{d}");
        }
    }
    let table = compiled.table;
    let mut endpoint_config = config.clone();
    for f in &endpoint_files {
        endpoint_config.add_file(f).map_err(|e| e.to_string())?;
    }
    let (registry, notes) = Registry::from_config(&endpoint_config, &CompileOptions::default());
    for d in notes
        .iter()
        .filter(|d| d.severity >= meshroute::Severity::Warning)
    {
        eprintln!("{d}");
    }
    let router = if registry.hosts().next().is_some() {
        Some(Router::new(&table, &registry)?)
    } else {
        None
    };
    let mut rng = rand_pcg::Pcg64::new(u128::from(seed), 0x0a02_bdbf_7bb3_c0a7_ac28_fa16_a64a_bf96);
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let draw_default = rng.next_u64();
        let answer = match answer(
            &table,
            router.as_ref(),
            &line,
            gateway.as_ref(),
            draw_default,
            explain,
        ) {
            Ok(v) => v,
            Err((id, msg)) => json!({"id": id, "error": msg}),
        };
        writeln!(out, "{answer}").map_err(|e| format!("writing stdout: {e}"))?;
    }
    Ok(())
}

fn answer(
    table: &Table,
    router: Option<&Router>,
    line: &str,
    gateway: Option<&(String, String)>,
    draw: u64,
    explain: bool,
) -> Result<Value, (Value, String)> {
    let input: Value =
        serde_json::from_str(line).map_err(|e| (Value::Null, format!("not a JSON object: {e}")))?;
    let id = input.get("id").cloned().unwrap_or(Value::Null);
    let fail = |msg: String| (id.clone(), msg);
    let r = input
        .get("request")
        .ok_or_else(|| fail("missing \"request\"".into()))?;
    let req = parse_request(r, gateway).map_err(fail)?;
    let draw = match input.get("random_value") {
        None | Some(Value::Null) => draw,
        Some(v) => v.as_u64().ok_or_else(|| {
            fail(format!(
                "random_value {v} is not an unsigned 64-bit integer"
            ))
        })?,
    };
    let d = table.decide_with_draw(&req, draw);
    let mut out = render(table, &d, &req, id);
    if explain {
        out["explain"] = table.explain(&req, draw).to_json();
    }
    if let Some(router) = router {
        let pick = router.pick(&d, &req, draw);
        out["endpoint"] = match pick {
            Pick::Endpoint(p) => json!({
                "address": &*p.endpoint.address,
                "port": p.endpoint.port,
                "labels": p.endpoint.labels,
                "cluster": p.cluster,
                "policy": p.policy.name(),
                "hash": p.hash,
            }),
            _ => Value::Null,
        };
        if matches!(pick, Pick::NoHealthyEndpoint | Pick::NoEndpoints) {
            out["status"] = json!(503);
            out["reason"] = json!(if matches!(pick, Pick::NoHealthyEndpoint) {
                "no healthy endpoint in the cluster (503 UH)"
            } else {
                "no endpoint known for the cluster (503)"
            });
        }
    }
    Ok(out)
}

fn parse_request(r: &Value, gateway: Option<&(String, String)>) -> Result<OwnedRequest, String> {
    let s = |k: &str, default: &str| -> Result<String, String> {
        match r.get(k) {
            None | Some(Value::Null) => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(format!("request.{k}: {v} is not a string")),
        }
    };
    let mut req = OwnedRequest {
        method: s("method", "GET")?,
        scheme: s("scheme", "http")?,
        authority: s("authority", "")?,
        path: s("path", "/")?,
        ..OwnedRequest::default()
    };
    if let Some(h) = r.get("headers").filter(|v| !v.is_null()) {
        let h = h.as_object().ok_or("request.headers: not an object")?;
        for (name, v) in h {
            match v {
                Value::String(s) => req.headers.push((name.clone(), s.clone())),
                Value::Array(vs) => {
                    for (i, v) in vs.iter().enumerate() {
                        let s = v
                            .as_str()
                            .ok_or_else(|| format!("request.headers.{name}[{i}]: not a string"))?;
                        req.headers.push((name.clone(), s.to_string()));
                    }
                }
                other => {
                    return Err(format!(
                        "request.headers.{name}: {other} is not a string or a list of strings"
                    ));
                }
            }
        }
    }
    req.port = match r.get("port") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("request.port: {v} is not a port"))?,
        ),
    };
    if let Some(l) = r.get("source_labels").filter(|v| !v.is_null()) {
        for (k, v) in l
            .as_object()
            .ok_or("request.source_labels: not an object")?
        {
            let v = v
                .as_str()
                .ok_or_else(|| format!("request.source_labels.{k}: not a string"))?;
            req.source_labels.insert(k.clone(), v.to_string());
        }
    }
    let ns = s("source_namespace", "")?;
    req.source_namespace = (!ns.is_empty()).then_some(ns);
    let ip = s("source_ip", "")?;
    if !ip.is_empty() {
        req.source_ip = Some(
            ip.parse()
                .map_err(|_| format!("request.source_ip: {ip:?} is not an IP address"))?,
        );
    }
    let gw = s("gateway", "")?;
    req.gateway = if gw.is_empty() || gw == "mesh" {
        gateway.cloned()
    } else {
        let (ns, name) = gw
            .split_once('/')
            .ok_or_else(|| format!("request.gateway: {gw:?} is not NAMESPACE/NAME"))?;
        Some((ns.to_string(), name.to_string()))
    };
    Ok(req)
}

/// A destination with the port Envoy sends to: its own, else the request's.
fn dest(d: &Destination, req: &OwnedRequest) -> Value {
    let port = d.port.unwrap_or_else(|| addressed_port(req));
    json!({"host": &*d.host, "subset": d.subset.as_deref(), "port": port})
}

fn render(table: &Table, d: &Decision<'_>, req: &OwnedRequest, id: Value) -> Value {
    let mut out = json!({"id": id, "status": d.status(), "draw": d.draw});
    match &d.outcome {
        Outcome::Matched(m) => {
            let src = table.source_of(m.rule);
            out["route"] = json!(format!("{}/{}", src.name, m.rule.index));
            out["route_name"] = json!(m.route_name);
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
                        "per_try_timeout_ms": r.per_try_timeout.map(|t| t.as_millis() as u64),
                        "default": r.is_default,
                    })));
                    let mirrors: Vec<Value> =
                        d.mirrors().map(|mi| dest(&mi.destination, req)).collect();
                    if !f.mirrors.is_empty() {
                        actions.insert("mirrors".into(), json!(mirrors));
                    }
                    if let Some(c) = &f.cors {
                        actions.insert("cors".into(), json!({
                            "allow_origins": c.allow_origins.iter().map(|(k, v)| json!({*k: &**v})).collect::<Vec<_>>(),
                            "allow_methods": c.allow_methods.iter().map(|s| &**s).collect::<Vec<_>>(),
                            "max_age_s": c.max_age.map(|t| t.as_secs()),
                        }));
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
            let h = &m.rule.headers;
            if !h.is_empty() {
                let edits = |e: &meshroute::action::HeaderEdits| {
                    json!({
                        "set": e.set.iter().map(|(k, v)| json!([&**k, &**v])).collect::<Vec<_>>(),
                        "add": e.add.iter().map(|(k, v)| json!([&**k, &**v])).collect::<Vec<_>>(),
                        "remove": e.remove.iter().map(|k| &**k).collect::<Vec<_>>(),
                    })
                };
                actions.insert(
                    "headers".into(),
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
            out["destination"] = match other {
                Outcome::Passthrough => {
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
                Outcome::NoRoute { .. } => "no rule matched (404 NR)".to_string(),
                Outcome::BadRequest { reason } =>
                    format!("refused by path normalization: {reason}"),
                _ => "no virtual host at this gateway (404)".to_string(),
            });
        }
    }
    out
}
