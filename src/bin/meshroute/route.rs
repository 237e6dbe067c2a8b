//! `meshroute route`: one request, curl-like: which rule takes it, which destination gets it,
//! and what is done to it.

use clap::Args;
use meshroute::action::Action;
use meshroute::cors::CorsKind;
use meshroute::diff::{effect, rule_label};
use meshroute::{CompileOptions, Decision, Outcome, OwnedRequest, Table, addressed_port};

use crate::cluster::ClusterArgs;
use crate::decide::{Ctx, decide, gateway_hint, parse_gateway};
use crate::inputs::Loaded;
use crate::report::load_table;
use crate::style::{self, BOLD, DIM, GOOD, WARNING, paint};
use crate::{Exit, Format, Paths};

/// Where one request goes: the rule, the destination (host, subset, port) and the actions
///
/// The request is given curl-like: a URL (http://host[:port]/path?query; a bare host/path is
/// http), a method and headers. Without --gateway it is a sidecar's outbound call from a
/// workload in namespace default (or --from).
#[derive(Args)]
#[command(
    override_usage = "meshroute route [OPTIONS] <PATH>... <URL>\n       meshroute route [OPTIONS] --cluster [PATH]... <URL>",
    after_help = "Examples:
  meshroute route examples/bookinfo.yaml http://reviews/ -H 'end-user: jason'
  meshroute route manifests/ https://shop.example.com/cart -X POST --gateway istio-system/ingress
  meshroute route manifests/ http://ratings:9080/ --from shop,app=reviews,version=v2 --explain
  meshroute route --cluster --context staging http://reviews/ --from shop"
)]
pub struct RouteArgs {
    /// Configuration files, directories or - (one or more, or none with --cluster), then the
    /// request's URL
    #[arg(value_name = "PATH|URL", required = true, num_args = 1..)]
    args: Vec<String>,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Method
    #[arg(short = 'X', long, default_value = "GET")]
    request: String,
    /// A request header, 'name: value' (repeat for more)
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The client: its namespace, then its labels (NS[,label=value...])
    #[arg(long, value_name = "NS[,LABEL=VALUE...]")]
    from: Option<String>,
    /// Decide at this gateway (NAMESPACE/NAME) instead of as a sidecar's outbound call
    #[arg(long, value_name = "NS/NAME", value_parser = parse_gateway)]
    gateway: Option<(String, String)>,
    /// Also say why each earlier rule did not match
    #[arg(long)]
    explain: bool,
    /// The draw of the weighted split and fault percentages (0 to 2^64-1); random when
    /// not given
    #[arg(long)]
    draw: Option<u64>,
    /// Output: text, or the decide contract's JSON answer
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

pub fn run(args: &RouteArgs) -> Exit {
    let Some((url, paths)) = args.args.split_last() else {
        return Exit::Usage("route needs a URL".into());
    };
    if paths.is_empty() && !args.cluster.cluster {
        return Exit::Usage(format!(
            "route needs configuration before the URL: one or more PATHs, or --cluster \
             (meshroute route PATH... {url})"
        ));
    }
    let request = match build_request(args, url) {
        Ok(r) => r,
        Err(msg) => return Exit::Usage(msg),
    };
    let paths = Paths {
        paths: paths.iter().map(Into::into).collect(),
        cluster: args.cluster.clone(),
    };
    let (loaded, compiled) = match load_table(&paths, &CompileOptions::default(), false) {
        Ok(x) => x,
        Err(exit) => return exit,
    };
    let table = &compiled.table;
    let draw = args.draw.unwrap_or_else(random_draw);
    let ctx = Ctx {
        table,
        router: None,
        gateway: None,
        explain: args.explain,
        gateways: gateways(&loaded),
    };
    if args.output == Format::Json {
        let answer = decide(&ctx, &request, draw);
        style::out(&format!("{answer:#}\n"));
        return Exit::Clean;
    }
    // A gateway no Gateway resource defines and no route binds to has no routes at all.
    if let Some((ns, name)) = &args.gateway
        && !table.explain(&request, draw).context_known
    {
        let known: Vec<String> = ctx
            .gateways
            .iter()
            .map(|(n, g)| format!("{n}/{g}"))
            .collect();
        let list = if known.is_empty() {
            "it defines none".to_string()
        } else {
            format!("it defines {}", known.join(", "))
        };
        return Exit::Usage(format!(
            "--gateway {ns}/{name}: no Gateway or route of the configuration names this gateway; {list}"
        ));
    }
    let d = table.decide_with_draw(&request, draw);
    let mut text = describe(table, &d, &request);
    if let Some(hint) = gateway_hint(&ctx, &request, &d) {
        text.push_str(&format!("{} {hint}\n", paint(WARNING, "hint:")));
    }
    if args.explain {
        text.push('\n');
        text.push_str(&table.explain(&request, draw).to_string());
    }
    style::out(&text);
    Exit::Clean
}

/// The gateways the configuration defines, for the hint that a host is served at one of them.
pub fn gateways(loaded: &Loaded) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = loaded
        .config
        .resources
        .iter()
        .filter(|r| r.kind() == "Gateway")
        .map(|r| {
            let id = r.id("default");
            (id.namespace, id.name)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn random_draw() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // A per-process random seed from std, without a dependency for one number.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

fn build_request(args: &RouteArgs, url: &str) -> Result<OwnedRequest, String> {
    let mut full = if url.contains("://") || url.starts_with('/') {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    // `http://host?q=1`, as curl reads it: the path is `/`.
    if let Some(start) = full.find("://").map(|i| i + 3)
        && let Some(end) = full[start..].find(['/', '?', '#']).map(|i| i + start)
        && full.as_bytes()[end] != b'/'
    {
        full.insert(end, '/');
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(&args.request) {
        return Err(format!(
            "-X {:?}: a method is a token such as GET or POST",
            args.request
        ));
    }
    let mut r = OwnedRequest::new(&args.request, &full);
    let bad_url = |why: &str| format!("{url:?}: {why} (write http://HOST[:PORT]/PATH?QUERY)");
    if r.authority.is_empty() {
        return Err(bad_url("the URL names no host"));
    }
    if r.authority.contains(['@', ' ']) {
        return Err(bad_url("the host holds '@' or a space"));
    }
    if let Some((_, port)) = r.authority.rsplit_once(':')
        && !r.authority.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(bad_url("the port is not a number from 0 to 65535"));
    }
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .filter(|(n, _)| !n.trim().is_empty())
            .ok_or_else(|| format!("-H {h:?}: write a header as 'name: value'"))?;
        let (name, value) = (name.trim(), value.trim());
        if !token(name) {
            return Err(format!("-H {h:?}: {name:?} is not a header name"));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(format!(
                "-H {h:?}: a header value holds no control character"
            ));
        }
        // As curl does, a Host header sets the authority the request is addressed to.
        if name.eq_ignore_ascii_case("host") {
            r.authority = value.to_string();
        } else {
            r = r.header(name, value);
        }
    }
    if let Some(from) = &args.from {
        let mut parts = from.split(',');
        let ns = parts.next().unwrap_or_default();
        if !ns.is_empty() {
            r = r.from_namespace(ns);
        }
        for l in parts {
            let (k, v) = l
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("--from {from:?}: write labels as label=value"))?;
            r = r.source_label(k, v);
        }
    }
    if let Some((ns, name)) = &args.gateway {
        r = r.at_gateway(ns, name);
    }
    Ok(r)
}

/// The decision in words: the rule, the destinations with their configured shares (the one
/// this draw picks marked), and the actions.
fn describe(table: &Table, d: &Decision<'_>, req: &OwnedRequest) -> String {
    let mut out = String::new();
    let from = req.source_namespace.as_deref().unwrap_or("default");
    let context = match &req.gateway {
        Some((ns, name)) => format!("at gateway {ns}/{name}"),
        None => format!("from namespace {from}"),
    };
    let row = |label: &str, text: &str| format!("{} {text}\n", paint(BOLD, format!("{label:<12}")));
    out.push_str(&row(
        "request",
        &format!(
            "{} {}://{}{} ({context})",
            req.method, req.scheme, req.authority, req.path
        ),
    ));
    if let Some(t) = table.explain(req, d.draw).tls_port {
        out.push_str(&row(
            "protocol",
            &format!(
                "{}: port {} of {} is {} ({}); the sidecar routes it by SNI, not by http rules",
                if table.request_protocol(req) == Some(meshroute::Protocol::Tls) {
                    "a TLS connection"
                } else {
                    "an opaque TCP connection"
                },
                t.port,
                t.host,
                t.protocol,
                t.defined_by
            ),
        ));
    }
    let Some(m) = d.matched() else {
        let (status, why) = match &d.outcome {
            Outcome::Passthrough => (
                d.status(),
                format!(
                    "no VirtualService or route for the host: the mesh's default route to {}:{}",
                    req.authority
                        .rsplit_once(':')
                        .map_or(req.authority.as_str(), |(h, _)| h),
                    addressed_port(req)
                ),
            ),
            Outcome::PassthroughCluster | Outcome::BlackHole => {
                let (route, cluster) = d.outcome.catch_all().unwrap_or_default();
                let policy = if matches!(d.outcome, Outcome::BlackHole) {
                    "REGISTRY_ONLY blocks it"
                } else {
                    "ALLOW_ANY passes it through to the addressed host"
                };
                (
                    d.status(),
                    format!(
                        "no VirtualService, Service or ServiceEntry for the host: \
                         outboundTrafficPolicy {policy} (route {route}, cluster {cluster})"
                    ),
                )
            }
            Outcome::NoRoute { .. } => (404, "no rule matched (404 NR)".to_string()),
            Outcome::BadRequest { reason } => {
                (400, format!("refused by path normalization: {reason}"))
            }
            _ => (
                404,
                "no virtual host answers this host here (404)".to_string(),
            ),
        };
        out.push_str(&row("outcome", &format!("{status}: {why}")));
        return out;
    };
    let rule = rule_label(table, d).unwrap_or_default();
    out.push_str(&row("rule", &rule));
    let e = effect(d, req);
    match &m.rule.action {
        Action::Forward(f) => {
            let total: u64 = f.split.cumulative().last().copied().unwrap_or(0);
            let mut prev = 0;
            for (w, &end) in f.destinations.iter().zip(f.split.cumulative()) {
                let weight = end - prev;
                prev = end;
                let dst = &w.destination;
                let port = dst.port.unwrap_or_else(|| addressed_port(req));
                let mut text = dst.host.to_string();
                if let Some(s) = &dst.subset {
                    text.push_str(&format!(" subset {s}"));
                }
                text.push_str(&format!(" port {port}"));
                if total > 0 {
                    text.push_str(&format!(" {}", meshroute::diff::percent_of(weight, total)));
                }
                if let Some(u) = dst.unavailable {
                    text.push_str(&format!(" (unavailable: {})", u.reason()));
                }
                let picked = m.destination.is_some_and(|p| std::ptr::eq(p, w));
                let label = if picked { "destination" } else { "" };
                if picked {
                    text = paint(GOOD, text);
                    if f.destinations.len() > 1 {
                        text.push_str(&paint(DIM, format!(" <- draw {}", d.draw)));
                    }
                }
                out.push_str(&row(label, &text));
            }
            if m.destination.is_none() {
                out.push_str(&row(
                    "outcome",
                    &format!("{}: no destination can take the request", d.status()),
                ));
            }
        }
        _ => out.push_str(&row("outcome", &format!("{}", d.status()))),
    }
    for a in &e.actions {
        out.push_str(&row("action", a));
    }
    if let Some(c) = d.cors(req).filter(|c| c.kind != CorsKind::NotCors) {
        let verdict = match (c.kind, c.origin_allowed, c.answered) {
            (CorsKind::Preflight, _, true) => {
                "answered 200 by the CORS filter; the rule's destination is not used"
            }
            (CorsKind::Preflight, _, false) => "origin not allowed: forwarded",
            (_, true, _) => "origin allowed: headers set on the response",
            _ => "origin not allowed: no CORS headers",
        };
        let headers: Vec<String> = c
            .response_headers()
            .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v)))
            .collect();
        let mut text = format!("{} request, {verdict}", c.kind.as_str());
        if !headers.is_empty() {
            text.push_str(&format!(" ({})", headers.join(", ")));
        }
        out.push_str(&row("cors", &text));
    }
    out
}
