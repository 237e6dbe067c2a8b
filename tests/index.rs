//! The route index never changes an answer: tables compiled with and without it
//! (`CompileOptions::route_index`) decide every generated request alike, for generated Istio
//! and Gateway API configurations whose path conditions share, nest and collide.

use meshroute::{CompileOptions, Config, OwnedRequest, Table, compile};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Path pieces, chosen to nest (`/a`, `/a/b`), to differ only in case, and to hold regex
/// metacharacters.
const PIECES: &[&str] = &[
    "/a", "/b", "/A", "/a.b", "/ab", "/", "/svc1", "/svc10", "/x-y",
];
const TENANTS: &[&str] = &["t0", "t1", "T0"];

#[derive(Clone, Debug)]
enum Uri {
    None,
    Exact(String, bool),
    Prefix(String, bool),
    Regex(String),
}

#[derive(Clone, Debug)]
struct Rule {
    /// Match blocks (empty: the rule matches everything).
    blocks: Vec<(Uri, Option<&'static str>)>,
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..4).prop_map(|v| v.concat())
}

fn uri() -> impl Strategy<Value = Uri> {
    prop_oneof![
        1 => Just(Uri::None),
        3 => (path(), any::<bool>()).prop_map(|(p, c)| Uri::Exact(p, c)),
        4 => (path(), any::<bool>()).prop_map(|(p, c)| Uri::Prefix(p, c)),
        2 => (path(), prop::sample::select(&["", ".*", "/[a-z]+", "(/.*)?", "[0-9]"][..]))
            .prop_map(|(p, tail)| match format!("{}{tail}", regex_escape(&p)) {
                r if r.is_empty() => Uri::Regex(".*".into()),
                r => Uri::Regex(r),
            }),
        1 => prop::sample::select(&["(?i)/A.*", "/a|/b", ".*", "[/]a.*"][..])
            .prop_map(|r| Uri::Regex(r.into())),
    ]
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let esc = !c.is_ascii_alphanumeric() && c != '/';
            esc.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

fn rules() -> impl Strategy<Value = Vec<Rule>> {
    let block = (uri(), prop::option::of(prop::sample::select(TENANTS)));
    let rule = prop::collection::vec(block, 0..3).prop_map(|blocks| Rule { blocks });
    prop::collection::vec(rule, 1..24)
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn istio_yaml(rules: &[Rule]) -> String {
    let mut y = String::from(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {name: web, namespace: default}\nspec:\n  hosts: [web.example.com]\n  http:\n",
    );
    for (i, r) in rules.iter().enumerate() {
        y.push_str(&format!("  - name: r{i}\n"));
        if !r.blocks.is_empty() {
            y.push_str("    match:\n");
        }
        for (uri, tenant) in &r.blocks {
            let mut conds = Vec::new();
            match uri {
                Uri::None => {}
                Uri::Exact(p, c) => {
                    conds.push(format!("uri: {{exact: {}}}, ignoreUriCase: {c}", quote(p)))
                }
                Uri::Prefix(p, c) => {
                    conds.push(format!("uri: {{prefix: {}}}, ignoreUriCase: {c}", quote(p)))
                }
                Uri::Regex(p) => conds.push(format!("uri: {{regex: {}}}", quote(p))),
            }
            if let Some(t) = tenant {
                conds.push(format!("headers: {{x-tenant: {{exact: {t}}}}}"));
            }
            y.push_str(&format!("    - {{{}}}\n", conds.join(", ")));
        }
        y.push_str("    route: [{destination: {host: web.example.com}}]\n");
    }
    y
}

/// The same rules as HTTPRoute rules (16 per route), attached to one Gateway listener.
fn gateway_api_yaml(rules: &[Rule]) -> String {
    let mut y = String::from(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n\
         metadata: {name: gw, namespace: default}\nspec:\n  gatewayClassName: c\n  listeners:\n  \
         - {name: http, port: 80, protocol: HTTP}\n",
    );
    for (n, chunk) in rules.chunks(16).enumerate() {
        y.push_str(&format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
             metadata: {{name: r{n}, namespace: default}}\nspec:\n  parentRefs: [{{name: gw}}]\n  \
             hostnames: [web.example.com]\n  rules:\n"
        ));
        for r in chunk {
            y.push_str("  - backendRefs: [{name: web, port: 80}]\n");
            let blocks: Vec<String> =
                r.blocks
                    .iter()
                    .filter_map(|(uri, tenant)| {
                        let mut conds = Vec::new();
                        match uri {
                            Uri::None => {}
                            Uri::Exact(p, _) if p.starts_with('/') && !p.contains("//") => {
                                conds.push(format!("path: {{type: Exact, value: {}}}", quote(p)))
                            }
                            Uri::Prefix(p, _) if p.starts_with('/') && !p.contains("//") => conds
                                .push(format!("path: {{type: PathPrefix, value: {}}}", quote(p))),
                            Uri::Regex(p) => conds.push(format!(
                                "path: {{type: RegularExpression, value: {}}}",
                                quote(p)
                            )),
                            _ => return None,
                        }
                        if let Some(t) = tenant {
                            conds.push(format!("headers: [{{name: x-tenant, value: {t}}}]"));
                        }
                        Some(format!("{{{}}}", conds.join(", ")))
                    })
                    .collect();
            if !blocks.is_empty() {
                y.push_str(&format!("    matches: [{}]\n", blocks.join(", ")));
            }
        }
    }
    y
}

fn tables(yaml: &str) -> Option<(Table, Table)> {
    let config = Config::from_str(yaml, "generated.yaml").ok()?;
    let build = |route_index| {
        let mut options = CompileOptions::default();
        options.route_index = route_index;
        compile(&config, &options)
            .ok()
            .filter(|c| c.rejected.is_empty())
    };
    Some((build(true)?.table, build(false)?.table))
}

/// (rule source, rule index, block) of the decision, or its status when nothing matched.
fn answer(t: &Table, req: &OwnedRequest) -> (Option<(String, u32, Option<u16>)>, u16) {
    let d = t.decide_with_draw(req, 0);
    let m = d
        .matched()
        .map(|m| (t.source_of(m.rule).name.to_string(), m.rule.index, m.block));
    (m, d.status())
}

fn requests() -> impl Strategy<Value = Vec<(String, Option<&'static str>)>> {
    let req = (
        path(),
        prop::sample::select(&["", "/", "?q=1", "/c", "x"][..]),
        prop::option::of(prop::sample::select(TENANTS)),
    )
        .prop_map(|(p, tail, t)| (format!("{p}{tail}"), t));
    prop::collection::vec(req, 16)
}

fn check(yaml: &str, gateway: bool, reqs: &[(String, Option<&'static str>)]) -> bool {
    let Some((indexed, linear)) = tables(yaml) else {
        return false;
    };
    for (path, tenant) in reqs {
        let path = if path.starts_with('/') {
            path.clone()
        } else {
            format!("/{path}")
        };
        let mut req = OwnedRequest::new("GET", &format!("http://web.example.com{path}"))
            .from_namespace("default");
        if let Some(t) = tenant {
            req = req.header("x-tenant", t);
        }
        if gateway {
            req.gateway = Some(("default".into(), "gw".into()));
            req.port = Some(80);
        }
        assert_eq!(
            answer(&indexed, &req),
            answer(&linear, &req),
            "{path} {tenant:?}\n{yaml}"
        );
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn istio_index_agrees_with_the_scan(rules in rules(), reqs in requests()) {
        prop_assert!(check(&istio_yaml(&rules), false, &reqs), "{}", istio_yaml(&rules));
    }

    #[test]
    fn gateway_api_index_agrees_with_the_scan(rules in rules(), reqs in requests()) {
        // Gateway API validation refuses some generated paths; those configs are skipped.
        let yaml = gateway_api_yaml(&rules);
        let _ = check(&yaml, true, &reqs);
    }
}

#[test]
fn gateway_api_generated_configs_mostly_compile() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut ok, total) = (0, 200);
    for _ in 0..total {
        let rules = rules().new_tree(&mut runner).unwrap().current();
        ok += tables(&gateway_api_yaml(&rules)).is_some() as u32;
    }
    assert!(ok * 10 >= total * 8, "{ok} of {total} compiled");
}
