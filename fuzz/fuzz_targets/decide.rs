//! Compile-and-route with structured input: a small VirtualService generated from arbitrary
//! rules (uri prefix/exact/regex, exact headers, weighted destinations) and an arbitrary
//! request and draw.
//!
//! Checked on every input that compiles:
//! - deciding does not panic;
//! - a matched rule is one of the generated rules, and its destination is one of that rule's
//!   destinations;
//! - a rejected VirtualService or an authority for another host gives `Passthrough`;
//! - when every resource compiles, the authority and regexes come from the dictionaries, and
//!   the request is within the scope of the naive evaluator in `tests/oracle/mod.rs`, the
//!   decision (outcome, rule and match block, destination for the draw, status) equals that
//!   evaluator's answer.

#![no_main]

use std::fmt::Write as _;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use meshroute::{CompileOptions, Config, Outcome, OwnedRequest, compile};

#[path = "../../tests/oracle/mod.rs"]
mod oracle;

const HOST: &str = "web.example.com";
const MAX_RULES: usize = 6;
const MAX_CONDS: usize = 3;
const MAX_DESTS: usize = 4;
const MAX_TEXT: usize = 48;

/// Header names the reference evaluation understands (ordinary, lowercase).
const NAMES: &[&str] = &["x-tenant", "end-user", "x-a", "cookie"];
/// Header values, likely to meet each other.
const VALUES: &[&str] = &["t0", "t1", "jason", "", "a,b", "T0", "t0 "];
/// uri operands.
const URIS: &[&str] = &[
    "/",
    "/svc0",
    "/svc",
    "/svc0/api/v1/items",
    "/api",
    "",
    "svc0",
];
/// Regex operands, some invalid or expensive.
const REGEXES: &[&str] = &[
    "/svc0/api/v[0-9]+/.*",
    ".*",
    "/svc[0-9]+",
    "(",
    "(?i)/SVC0.*",
    "a{1000}{1000}",
    "\\C",
    "^/svc0$",
];
const PATHS: &[&str] = &[
    "/svc0/api/v1/items?limit=10",
    "/svc0",
    "/svc1/api/v2/x#frag",
    "/api",
    "/",
    "",
    "/svc0?/svc1",
];
const AUTHORITIES: &[&str] = &[
    "web.example.com",
    "Web.Example.COM:8080",
    "web.example.com:80",
    "other.example.com",
    "web",
    "",
];
const WEIGHTS: &[i64] = &[0, 1, 5, 15, 80, 100, -1, 2_147_483_648];

/// A string from a small dictionary, or any short string.
#[derive(Debug)]
enum Text<const D: usize> {
    Known(&'static str),
    Raw(String),
}

fn dictionary(d: usize) -> &'static [&'static str] {
    match d {
        0 => NAMES,
        1 => VALUES,
        2 => URIS,
        3 => REGEXES,
        4 => PATHS,
        _ => AUTHORITIES,
    }
}

impl<'a, const D: usize> Arbitrary<'a> for Text<D> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        if u.ratio(3, 4)? {
            Ok(Text::Known(u.choose(dictionary(D))?))
        } else {
            let s: String = u.arbitrary()?;
            Ok(Text::Raw(s.chars().take(MAX_TEXT).collect()))
        }
    }
}

impl<const D: usize> Text<D> {
    fn as_str(&self) -> &str {
        match self {
            Text::Known(s) => s,
            Text::Raw(s) => s,
        }
    }
}

type Name = Text<0>;
type Value = Text<1>;
type UriText = Text<2>;
type RegexText = Text<3>;
type PathText = Text<4>;
type AuthorityText = Text<5>;

#[derive(Arbitrary, Debug)]
enum Uri {
    Prefix(UriText),
    Exact(UriText),
    Regex(RegexText),
}

#[derive(Debug)]
struct Weight(Option<i64>);

impl<'a> Arbitrary<'a> for Weight {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Weight(match u.int_in_range(0..=3)? {
            0 => None,
            1 => Some(i64::from(u.arbitrary::<u32>()?)),
            _ => Some(*u.choose(WEIGHTS)?),
        }))
    }
}

#[derive(Arbitrary, Debug)]
struct Dest {
    /// Subsets v0 and v1 are defined by the DestinationRule, v2 and v3 are not.
    subset: Option<u8>,
    weight: Weight,
}

#[derive(Arbitrary, Debug)]
struct RuleIn {
    uri: Option<Uri>,
    headers: Vec<(Name, Value)>,
    dests: Vec<Dest>,
}

#[derive(Arbitrary, Debug)]
struct RequestIn {
    method: Text<1>,
    authority: AuthorityText,
    path: PathText,
    headers: Vec<(Name, Value)>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    rules: Vec<RuleIn>,
    request: RequestIn,
    draw: u64,
}

/// A YAML double-quoted scalar: printable ASCII as is, everything else escaped.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            ' '..='~' => q.push(c),
            c if (c as u32) <= 0xFFFF => write!(q, "\\u{:04X}", c as u32).unwrap(),
            c => write!(q, "\\U{:08X}", c as u32).unwrap(),
        }
    }
    q.push('"');
    q
}

/// The rules as they are written into the YAML (lists bounded, duplicate header keys
/// dropped so the document loads).
struct Rule<'a> {
    uri: Option<&'a Uri>,
    headers: Vec<(&'a str, &'a str)>,
    dests: Vec<(Option<u8>, Option<i64>)>,
}

fn rules(input: &Input) -> Vec<Rule<'_>> {
    input
        .rules
        .iter()
        .take(MAX_RULES)
        .map(|r| {
            let mut headers: Vec<(&str, &str)> = Vec::new();
            for (n, v) in r.headers.iter().take(MAX_CONDS) {
                if !headers.iter().any(|(h, _)| *h == n.as_str()) {
                    headers.push((n.as_str(), v.as_str()));
                }
            }
            let mut dests: Vec<_> = r
                .dests
                .iter()
                .take(MAX_DESTS)
                .map(|d| (d.subset.map(|s| s % 4), d.weight.0))
                .collect();
            if dests.is_empty() {
                dests.push((None, None));
            }
            Rule {
                uri: r.uri.as_ref(),
                headers,
                dests,
            }
        })
        .collect()
}

fn yaml(rules: &[Rule<'_>]) -> String {
    let mut y = String::from(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
         metadata: {name: web, namespace: default}\n\
         spec:\n  host: web.example.com\n  subsets:\n  \
         - {name: v0, labels: {version: v0}}\n  - {name: v1, labels: {version: v1}}\n---\n\
         apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {name: web, namespace: default}\n\
         spec:\n  hosts: [web.example.com]\n  http:\n",
    );
    if rules.is_empty() {
        y.push_str("  []\n");
    }
    for (k, r) in rules.iter().enumerate() {
        writeln!(y, "  - name: r{k}").unwrap();
        let mut conds = Vec::new();
        match r.uri {
            Some(Uri::Prefix(p)) => conds.push(format!("uri: {{prefix: {}}}", quote(p.as_str()))),
            Some(Uri::Exact(p)) => conds.push(format!("uri: {{exact: {}}}", quote(p.as_str()))),
            Some(Uri::Regex(p)) => conds.push(format!("uri: {{regex: {}}}", quote(p.as_str()))),
            None => {}
        }
        if !r.headers.is_empty() {
            let hs: Vec<String> = r
                .headers
                .iter()
                .map(|(n, v)| format!("{}: {{exact: {}}}", quote(n), quote(v)))
                .collect();
            conds.push(format!("headers: {{{}}}", hs.join(", ")));
        }
        if !conds.is_empty() {
            writeln!(y, "    match: [{{{}}}]", conds.join(", ")).unwrap();
        }
        writeln!(y, "    route:").unwrap();
        for (subset, weight) in &r.dests {
            write!(y, "    - destination: {{host: {HOST}").unwrap();
            if let Some(s) = subset {
                write!(y, ", subset: v{s}").unwrap();
            }
            y.push('}');
            if let Some(w) = weight {
                write!(y, "\n      weight: {w}").unwrap();
            }
            y.push('\n');
        }
    }
    y
}

/// Whether the naive evaluator's answer can be compared: the authority and every regex come
/// from the dictionaries (an arbitrary pattern may mean one thing to RE2 and another to the
/// `regex` crate the evaluator uses).
fn oracle_applies(rules: &[Rule<'_>], authority: &AuthorityText) -> bool {
    matches!(authority, Text::Known(_))
        && rules
            .iter()
            .all(|r| !matches!(r.uri, Some(Uri::Regex(Text::Raw(_)))))
}

/// Whether the authority names [`HOST`] (`None` when it is not from the dictionary).
fn addresses_host(authority: &AuthorityText) -> Option<bool> {
    let Text::Known(a) = authority else {
        return None;
    };
    let host = a.split(':').next().unwrap_or("");
    Some(host.eq_ignore_ascii_case(HOST))
}

fuzz_target!(|input: Input| {
    let rules = rules(&input);
    let text = yaml(&rules);
    let Ok(config) = Config::from_str(&text, "fuzz") else {
        return;
    };
    let Ok(compiled) = compile(&config, &CompileOptions::default()) else {
        panic!("a lenient compile does not fail");
    };
    let vs_rejected = compiled
        .rejected
        .iter()
        .any(|r| r.resource.kind == "VirtualService");

    let r = &input.request;
    let mut req = OwnedRequest::new(r.method.as_str(), "/");
    req.authority = r.authority.as_str().to_string();
    req.path = r.path.as_str().to_string();
    req.source_namespace = Some("default".to_string());
    for (n, v) in r.headers.iter().take(2 * MAX_CONDS) {
        req.headers.push(n.as_str(), v.as_str());
    }

    let decision = compiled.table.decide_with_draw(&req, input.draw);
    let _ = decision.status();
    let _ = decision.mirrors().count();

    if vs_rejected || addresses_host(&r.authority) == Some(false) {
        assert!(
            matches!(decision.outcome, Outcome::Passthrough),
            "expected passthrough, got {decision:?}\n{text}"
        );
        return;
    }

    if let Some(m) = decision.matched() {
        let k = m.rule.index as usize;
        assert!(k < rules.len(), "rule index {k} out of {}", rules.len());
        assert_eq!(m.route_name(), format!("r{k}"));
        let forward = decision.forward().expect("generated rules forward");
        assert_eq!(forward.destinations.len(), rules[k].dests.len());
        let picked = m
            .destination
            .expect("a valid rule always picks a destination");
        let j = forward
            .destinations
            .iter()
            .position(|d| std::ptr::eq(d, picked))
            .expect("the picked destination belongs to the matched rule");
        let (subset, _) = rules[k].dests[j];
        assert_eq!(
            picked.destination.subset.as_deref(),
            subset.map(|s| format!("v{s}")).as_deref()
        );
        assert_eq!(&*picked.destination.host, HOST);
    }

    if compiled.rejected.is_empty() && oracle_applies(&rules, &r.authority) {
        // Outside the evaluator's scope (percent-encoded paths, pseudo-header names,
        // patterns the `regex` crate refuses) there is nothing to compare.
        if let Ok(expected) = oracle::decide(&config, &req, input.draw) {
            let got = oracle::observe(&compiled.table, &decision);
            assert_eq!(
                got, expected,
                "request {req:?}\ndraw {}\n{text}",
                input.draw
            );
        }
    }
});
