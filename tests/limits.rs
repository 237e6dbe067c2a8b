//! Every limit of `meshroute::limits`, pinned from both sides: a real configuration exactly at
//! the limit compiles, and one just over it is rejected with an error at the field, naming the
//! value, the limit and the constant. Large configurations are generated as text.

use std::fmt::Write as _;

use meshroute::{CompileOptions, Config, ErrorKind, LoadOptions, compile, limits};

/// Loads and compiles `text`; the loading error, or every compile error as (path, message).
fn errors(text: &str) -> Result<Vec<(String, String)>, meshroute::Error> {
    let config = Config::from_str(text, "limits.yaml")?;
    let compiled = compile(&config, &CompileOptions::default()).expect("lenient compile");
    Ok(compiled
        .errors()
        .map(|e| (e.path().to_string(), e.message().to_string()))
        .collect())
}

#[track_caller]
fn assert_compiles(text: &str) {
    assert_eq!(errors(text).expect("config loads"), vec![]);
}

#[track_caller]
fn assert_rejected(text: &str, path: &str, message: &str) {
    assert_eq!(
        errors(text).expect("config loads"),
        vec![(path.to_string(), message.to_string())]
    );
}

/// A VirtualService for host `web` with `http` rules written in flow style.
fn vs_with_rules(rules: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {{name: web, namespace: default}}\n\
         spec:\n  hosts: [web]\n  http: [{rules}]\n"
    )
}

/// A VirtualService with one http rule.
fn vs_with_rule(rule: &str) -> String {
    vs_with_rules(rule)
}

/// `n` items made by `item`, joined with ", ".
fn list(n: usize, item: impl Fn(usize) -> String) -> String {
    (0..n).map(item).collect::<Vec<_>>().join(", ")
}

const ROUTE: &str = "route: [{destination: {host: web}}]";

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

#[test]
fn input_size() {
    let vs = vs_with_rule(&format!("{{{ROUTE}}}"));
    let pad = |total: usize| {
        let mut t = vs.clone();
        t.push('#');
        t.push_str(&"x".repeat(total - t.len() - 1));
        t.push('\n');
        t
    };
    // The default limit of 256 MiB, checked by length before parsing, like a lower one.
    let over = pad(limits::MAX_INPUT_BYTES + 1);
    let e = errors(&over).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert_eq!(
        e.message(),
        "input of 268435457 bytes exceeds the limit of 268435456 bytes \
         (LoadOptions::max_input_bytes)"
    );
    drop(over);
    let options = LoadOptions::new().max_input_bytes(1 << 20);
    let at = pad(1 << 20);
    Config::new()
        .add_str_with(&at, "limits.yaml", &options)
        .expect("at the limit");
    let e = Config::new()
        .add_str_with(&pad((1 << 20) + 1), "limits.yaml", &options)
        .unwrap_err();
    assert_eq!(
        e.message(),
        "input of 1048577 bytes exceeds the limit of 1048576 bytes (LoadOptions::max_input_bytes)"
    );
}

/// A VirtualService whose document nests `depth` levels: the document's mapping is level 1 and
/// `status` holds nested lists for the rest.
fn nested(depth: usize) -> String {
    with_status(&format!(
        "{}x{}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    ))
}

#[test]
fn yaml_depth() {
    assert_compiles(&nested(limits::MAX_DEPTH));
    let e = errors(&nested(limits::MAX_DEPTH + 1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert!(e.message().contains("depth"), "{}", e.message());
}

#[test]
fn yaml_aliases_and_anchors() {
    // `anchors` labels each define an anchor; `aliases` more labels refer to them in turn.
    let with = |anchors: usize, aliases: usize| {
        let mut labels = list(anchors, |i| format!("l{i}: &a{i} v"));
        for i in 0..aliases {
            write!(labels, ", m{i}: *a{}", i % anchors).unwrap();
        }
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: web, namespace: default, labels: {{{labels}}}}}\n\
             spec:\n  hosts: [web]\n  http: [{{{ROUTE}}}]\n"
        )
    };
    let (anchors, aliases) = (limits::MAX_ANCHORS, limits::MAX_ALIASES);
    assert_compiles(&with(anchors, aliases));
    for (what, text) in [
        ("anchor", with(anchors + 1, aliases)),
        ("alias", with(anchors, aliases + 1)),
    ] {
        let e = errors(&text).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax);
        assert!(e.message().to_lowercase().contains(what), "{}", e.message());
    }
}

/// A VirtualService followed by `status` (which routing ignores) holding `filler`.
fn with_status(filler: &str) -> String {
    format!(
        "{}status: {filler}\n",
        vs_with_rule(&format!("{{{ROUTE}}}"))
    )
}

#[test]
fn yaml_nodes() {
    // `n` scalars in a list; the rest of the document is under 100 nodes.
    let with = |n: usize| with_status(&format!("[{}]", vec!["x"; n].join(",")));
    assert_compiles(&with(limits::MAX_NODES - 100));
    let e = errors(&with(limits::MAX_NODES)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert!(e.message().contains("node"), "{}", e.message());
}

#[test]
fn yaml_scalar_bytes() {
    // One scalar of `n` bytes; the rest of the document is under 1 KiB of scalars.
    let with = |n: usize| with_status(&"x".repeat(n));
    assert_compiles(&with(limits::MAX_SCALAR_BYTES - 1024));
    let e = errors(&with(limits::MAX_SCALAR_BYTES + 1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert!(e.message().contains("scalar"), "{}", e.message());
}

// ---------------------------------------------------------------------------------------------
// Regular expressions
// ---------------------------------------------------------------------------------------------

#[test]
fn regex_length_and_repetition() {
    let with =
        |re: &str| vs_with_rule(&format!("{{match: [{{uri: {{regex: '{re}'}}}}], {ROUTE}}}"));
    let path = "spec.http[0].match[0].uri.regex";
    assert_compiles(&with(&"a".repeat(limits::MAX_PATTERN_LEN)));
    assert_rejected(
        &with(&"a".repeat(limits::MAX_PATTERN_LEN + 1)),
        path,
        "regex of 1025 bytes is too long; the limit is 1024 bytes",
    );
    assert_compiles(&with("/a{1000}"));
    let e = errors(&with("/a{1001}")).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, path);
    assert!(e[0].1.contains("1000"), "{}", e[0].1);
}

/// A VirtualService `name` for host `name` with one rule per pattern, each rule written by
/// `rule(i, pattern)` (the YAML of one `http` entry, without its leading `- `).
fn vs_per_pattern(name: &str, patterns: &[String], rule: impl Fn(usize, &str) -> String) -> String {
    let mut t = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {{name: {name}, namespace: default}}\n\
         spec:\n  hosts: [{name}]\n  http:\n"
    );
    for (i, p) in patterns.iter().enumerate() {
        writeln!(t, "  - {}", rule(i, p)).unwrap();
    }
    t
}

/// A VirtualService `name` for host `name` whose rules match `uri: {regex: P}`, one per pattern.
fn vs_with_uri_regexes(name: &str, patterns: &[String]) -> String {
    vs_per_pattern(name, patterns, |i, p| {
        format!("match: [{{uri: {{regex: '{p}'}}}}]\n    route: [{{destination: {{host: b{i}}}}}]")
    })
}

/// Every error of a lenient compile as displayed, with the resource (`VirtualService
/// default/x: spec...: message`).
fn displayed_errors(text: &str) -> Vec<String> {
    let config = Config::from_str(text, "").expect("config loads");
    let compiled = compile(&config, &CompileOptions::default()).expect("lenient compile");
    compiled.errors().map(|e| e.to_string()).collect()
}

/// The two files of issue 13: 300 copies of the classic exponential-DFA pattern compile (one
/// automaton, built once), and so do the 1,024 distinct ones (`/p{i}` then that pattern: one
/// automaton for what follows the literal prefix, shared). With a longer tail,
/// `[a-z]*a[a-z]{18}`, the first distinct pattern is refused, its automaton passing
/// [`limits::MAX_DFA_BYTES`]; the resource is rejected and builds none of the others.
/// Per-pattern bound upstream: Envoy's `CompiledGoogleReMatcher::CompiledGoogleReMatcher`
/// (`source/common/common/regex.cc`) refuses a pattern whose RE2 program passes
/// `re2.max_program_size.error_level`, which Istio's `extractRuntimeFlags`
/// (`pkg/bootstrap/config.go`) sets to 32768; both compile every pattern on its own and set no
/// total. The total is ours: RE2 builds its DFA lazily, meshroute ahead of time.
#[test]
fn regex_patterns_repeated_or_distinct() {
    let same = vec!["/[a-z]*a[a-z]{14}".to_string(); 300];
    assert_eq!(
        displayed_errors(&vs_with_uri_regexes("same", &same)),
        Vec::<String>::new()
    );
    let distinct: Vec<String> = (0..1024)
        .map(|i| format!("/p{i}[a-z]*a[a-z]{{14}}"))
        .collect();
    assert_eq!(
        displayed_errors(&vs_with_uri_regexes("distinct", &distinct)),
        Vec::<String>::new()
    );
    let longer: Vec<String> = (0..1024)
        .map(|i| format!("/p{i}[a-z]*a[a-z]{{18}}"))
        .collect();
    assert_eq!(
        displayed_errors(&vs_with_uri_regexes("distinct", &longer)),
        vec![
            "VirtualService default/distinct: spec.http[0].match[0].uri.regex: regex \"/p0[a-z]*a[a-z]{18}\" cannot be compiled within the limit of 4194304 bytes per pattern (limits::MAX_DFA_BYTES): determinization exceeded size limit of 4194304"
        ]
    );
}

/// A pattern whose NFA passes [`limits::MAX_NFA_BYTES`]: refused after building that much,
/// which the table's budget counts.
fn nfa_too_big(i: usize) -> String {
    format!("/b{i}\\pL{{1000}}")
}

/// [`limits::MAX_TABLE_REGEX_BYTES`] bounds all the regexes of one table, refused ones
/// included (their build is the cost): with `n` patterns refused at the per-pattern NFA limit
/// the budget is spent, and the next resource's regex is refused, naming the resource, the
/// value and the limit; resources before it and resources without regexes still serve. One
/// refusal fewer leaves room for it. The budget spans Istio and Gateway API resources.
#[test]
fn regex_budget_per_table() {
    let n = limits::MAX_TABLE_REGEX_BYTES / limits::MAX_NFA_BYTES;
    let config = |refused: usize, last: &str| {
        let mut docs: Vec<String> = (0..refused)
            .map(|i| vs_with_uri_regexes(&format!("big{i:03}"), &[nfa_too_big(i)]))
            .collect();
        docs.push(last.to_string());
        docs.push(vs_with_uri_regexes("small", &["/s/[0-9]+".to_string()]));
        docs.push(vs_with_rule(&format!("{{{ROUTE}}}")));
        docs.join("---\n")
    };
    let nfa_error = |i: usize| {
        format!(
            "VirtualService default/big{i:03}: spec.http[0].match[0].uri.regex: regex {:?} cannot be compiled within the limit of 1048576 bytes per pattern (limits::MAX_NFA_BYTES): heap usage during NFA compilation exceeded limit of 1048576",
            nfa_too_big(i)
        )
    };
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
                 metadata: {name: r, namespace: default}\n\
                 spec:\n  parentRefs: [{group: \"\", kind: Service, name: web}]\n  rules:\n  \
                 - matches: [{path: {type: RegularExpression, value: \"/r/[0-9]+\"}}]\n    \
                   backendRefs: [{name: web, port: 80}]\n";

    // One refusal short of the budget: every other regex compiles.
    let text = config(n - 1, route);
    let want: Vec<String> = (0..n - 1).map(nfa_error).collect();
    assert_eq!(displayed_errors(&text), want);

    // The budget spent: the VirtualService (and the HTTPRoute) that come next are rejected,
    // the VirtualService `web` without regexes serves.
    let text = config(n, route);
    let mut want: Vec<String> = (0..n).map(nfa_error).collect();
    want.push(format!(
        "VirtualService default/small: spec.http[0].match[0].uri.regex: regex \"/s/[0-9]+\" needs more than the 0 bytes of automaton left in the table's regex budget: earlier regexes used {0} of its {0} bytes (limits::MAX_TABLE_REGEX_BYTES)",
        limits::MAX_TABLE_REGEX_BYTES
    ));
    want.push(format!(
        "HTTPRoute default/r: spec.rules[0].matches[0].path.value: regex \"/r/[0-9]+\" needs more than the 0 bytes of automaton left in the table's regex budget: earlier regexes used {0} of its {0} bytes (limits::MAX_TABLE_REGEX_BYTES)",
        limits::MAX_TABLE_REGEX_BYTES
    ));
    assert_eq!(displayed_errors(&text), want);
    let compiled = compile(
        &Config::from_str(&text, "").unwrap(),
        &CompileOptions::default(),
    )
    .unwrap();
    let served: Vec<String> = compiled
        .table
        .sources()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(served, ["web"]);
}

/// `uriRegexRewrite` patterns are held to the per-pattern NFA limit (the `regex` crate's
/// default would allow 10 MiB, some 50 ms each to refuse) and counted in the table's budget;
/// one written many times is compiled once.
#[test]
fn regex_rewrite_limits() {
    let rewrite = |name: &str, patterns: &[String]| {
        vs_per_pattern(name, patterns, |i, p| {
            format!(
                "match: [{{uri: {{prefix: /x{i}}}}}]\n    rewrite: {{uriRegexRewrite: {{match: '{p}', rewrite: /}}}}\n    route: [{{destination: {{host: b}}}}]"
            )
        })
    };
    let same = vec!["^/x([0-9]+)/(.*)$".to_string(); 1000];
    assert_eq!(
        displayed_errors(&rewrite("same", &same)),
        Vec::<String>::new()
    );
    let big: Vec<String> = (0..1024).map(nfa_too_big).collect();
    assert_eq!(
        displayed_errors(&rewrite("big", &big)),
        vec![
            "VirtualService default/big: spec.http[0].rewrite.uriRegexRewrite.match: regex \"/b0\\\\pL{1000}\" cannot be compiled within the limit of 1048576 bytes per pattern (limits::MAX_NFA_BYTES)"
        ]
    );
    // A rewrite refused for size counts twice (forward and reverse NFA): half as many spend
    // the budget.
    let n = limits::MAX_TABLE_REGEX_BYTES / limits::MAX_NFA_BYTES / 2;
    let mut docs: Vec<String> = (0..n)
        .map(|i| rewrite(&format!("big{i:03}"), &[nfa_too_big(i)]))
        .collect();
    docs.push(vs_with_uri_regexes("small", &["/s/[0-9]+".to_string()]));
    let errors = displayed_errors(&docs.join("---\n"));
    assert_eq!(errors.len(), n + 1, "{errors:#?}");
    assert!(
        errors[n].starts_with("VirtualService default/small: spec.http[0].match[0].uri.regex: regex \"/s/[0-9]+\" needs more than the 0 bytes"),
        "{}",
        errors[n]
    );
}

// ---------------------------------------------------------------------------------------------
// Istio VirtualService
// ---------------------------------------------------------------------------------------------

#[test]
fn hosts_per_virtual_service() {
    let with = |n: usize| {
        let hosts = list(n, |i| format!("h{i}.example.com"));
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: web, namespace: default}}\n\
             spec:\n  hosts: [{hosts}]\n  http: [{{route: [{{destination: {{host: h0.example.com}}}}]}}]\n"
        )
    };
    assert_compiles(&with(limits::MAX_HOSTS));
    assert_rejected(
        &with(limits::MAX_HOSTS + 1),
        "spec.hosts",
        "1025 hosts exceed the limit of 1024 (limits::MAX_HOSTS)",
    );
}

/// A VirtualService with `n` http rules for one host, as JSON (no YAML node budget). The first
/// rule takes every request, so the others are unreachable (a warning): that keeps the
/// unreachable-rule analysis, quadratic in distinct matches, fast in a debug build.
fn vs_json_with_rules(n: usize) -> String {
    let mut t = String::from(
        r#"{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"web","namespace":"default"},"spec":{"hosts":["web"],"http":["#,
    );
    for i in 0..n {
        if i > 0 {
            t.push(',');
        }
        write!(
            t,
            r#"{{"name":"r{i}","route":[{{"destination":{{"host":"web"}}}}]}}"#
        )
        .unwrap();
    }
    t.push_str("]}}");
    t
}

#[test]
fn http_rules_per_virtual_service() {
    assert_compiles(&vs_json_with_rules(limits::MAX_VS_RULES));
    assert_rejected(
        &vs_json_with_rules(limits::MAX_VS_RULES + 1),
        "spec.http",
        "16385 http rules exceed the limit of 16384 (limits::MAX_VS_RULES)",
    );
}

#[test]
fn tcp_rules_per_virtual_service() {
    let with = |n: usize| {
        // As for http rules: the first rule takes every connection, the rest are unreachable.
        let rules = vec!["{route: [{destination: {host: web}}]}"; n].join(", ");
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: web, namespace: default}}\n\
             spec:\n  hosts: [web]\n  tcp: [{rules}]\n"
        )
    };
    assert_compiles(&with(limits::MAX_VS_RULES));
    assert_rejected(
        &with(limits::MAX_VS_RULES + 1),
        "spec.tcp",
        "16385 tcp rules exceed the limit of 16384 (limits::MAX_VS_RULES)",
    );
}

#[test]
fn match_blocks_per_rule() {
    let with = |n: usize| {
        let blocks = list(n, |i| format!("{{uri: {{exact: /m{i}}}}}"));
        vs_with_rule(&format!("{{match: [{blocks}], {ROUTE}}}"))
    };
    assert_compiles(&with(limits::MAX_MATCHES_PER_RULE));
    assert_rejected(
        &with(limits::MAX_MATCHES_PER_RULE + 1),
        "spec.http[0].match",
        "65 match blocks exceed the limit of 64 (limits::MAX_MATCHES_PER_RULE)",
    );
}

#[test]
fn header_and_query_matches_per_match_block() {
    for (field, what, limit, name) in [
        (
            "headers",
            "header matches",
            limits::MAX_HEADER_MATCHES,
            "MAX_HEADER_MATCHES",
        ),
        (
            "withoutHeaders",
            "withoutHeaders matches",
            limits::MAX_HEADER_MATCHES,
            "MAX_HEADER_MATCHES",
        ),
        (
            "queryParams",
            "query parameter matches",
            limits::MAX_QUERY_MATCHES,
            "MAX_QUERY_MATCHES",
        ),
    ] {
        let with = |n: usize| {
            let conditions = list(n, |i| format!("x-h{i}: {{exact: v{i}}}"));
            vs_with_rule(&format!(
                "{{match: [{{{field}: {{{conditions}}}}}], {ROUTE}}}"
            ))
        };
        assert_compiles(&with(limit));
        assert_rejected(
            &with(limit + 1),
            &format!("spec.http[0].match[0].{field}"),
            &format!(
                "{} {what} exceed the limit of {limit} (limits::{name})",
                limit + 1
            ),
        );
    }
}

#[test]
fn destinations_per_route() {
    let with = |n: usize| {
        let route = list(n, |i| format!("{{destination: {{host: d{i}}}, weight: 1}}"));
        vs_with_rule(&format!("{{route: [{route}]}}"))
    };
    assert_compiles(&with(limits::MAX_DESTINATIONS));
    assert_rejected(
        &with(limits::MAX_DESTINATIONS + 1),
        "spec.http[0].route",
        "65 destinations exceed the limit of 64 (limits::MAX_DESTINATIONS)",
    );
    let tcp = |n: usize| {
        let route = list(n, |i| format!("{{destination: {{host: d{i}}}, weight: 1}}"));
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: web, namespace: default}}\n\
             spec:\n  hosts: [web]\n  tcp: [{{route: [{route}]}}]\n"
        )
    };
    assert_compiles(&tcp(limits::MAX_DESTINATIONS));
    assert_rejected(
        &tcp(limits::MAX_DESTINATIONS + 1),
        "spec.tcp[0].route",
        "65 destinations exceed the limit of 64 (limits::MAX_DESTINATIONS)",
    );
}

#[test]
fn mirrors_per_rule() {
    let with = |n: usize| {
        let mirrors = list(n, |i| format!("{{destination: {{host: m{i}}}}}"));
        vs_with_rule(&format!("{{mirrors: [{mirrors}], {ROUTE}}}"))
    };
    assert_compiles(&with(limits::MAX_MIRRORS));
    assert_rejected(
        &with(limits::MAX_MIRRORS + 1),
        "spec.http[0].mirrors",
        // Checked while lowering the rule (mirrors are bits of `Matched::mirrored`).
        "65 mirrors exceed the limit of 64",
    );
}

#[test]
fn weights_and_their_sum() {
    let with = |weights: &[i64]| {
        let route = weights
            .iter()
            .enumerate()
            .map(|(i, w)| format!("{{destination: {{host: d{i}}}, weight: {w}}}"))
            .collect::<Vec<_>>()
            .join(", ");
        vs_with_rule(&format!("{{route: [{route}]}}"))
    };
    let max = limits::MAX_WEIGHT;
    assert_compiles(&with(&[max, 1]));
    assert_rejected(
        &with(&[max + 1, 1]),
        "spec.http[0].route[0].weight",
        "weight 2147483648 exceeds the limit of 2147483647 (limits::MAX_WEIGHT)",
    );
    // 2 × (2³¹ − 1) + 1 = 2³² − 1, the largest total.
    assert_eq!((2 * max + 1) as u64, limits::MAX_WEIGHT_SUM);
    assert_compiles(&with(&[max, max, 1]));
    assert_rejected(
        &with(&[max, max, 2]),
        "spec.http[0].route",
        "total weight 4294967296 exceeds the limit of 4294967295 (limits::MAX_WEIGHT_SUM)",
    );
}

#[test]
fn header_name_length() {
    let at = "x".repeat(limits::MAX_HEADER_NAME_LEN);
    let over = "x".repeat(limits::MAX_HEADER_NAME_LEN + 1);
    let message = "header name of 257 bytes is longer than the limit of 256 \
                   (limits::MAX_HEADER_NAME_LEN)";
    let matching = |name: &str| {
        vs_with_rule(&format!(
            "{{match: [{{headers: {{{name}: {{exact: v}}}}}}], {ROUTE}}}"
        ))
    };
    assert_compiles(&matching(&at));
    assert_rejected(
        &matching(&over),
        &format!("spec.http[0].match[0].headers[{over}]"),
        message,
    );
    let setting = |name: &str| {
        vs_with_rule(&format!(
            "{{headers: {{request: {{set: {{{name}: v}}}}}}, {ROUTE}}}"
        ))
    };
    assert_compiles(&setting(&at));
    assert_rejected(
        &setting(&over),
        &format!("spec.http[0].headers.request.set[{over}]"),
        message,
    );
    let removing = |name: &str| {
        vs_with_rule(&format!(
            "{{headers: {{response: {{remove: [{name}]}}}}, {ROUTE}}}"
        ))
    };
    assert_compiles(&removing(&at));
    assert_rejected(
        &removing(&over),
        "spec.http[0].headers.response.remove[0]",
        message,
    );
}

#[test]
fn header_value_length() {
    let at = "v".repeat(limits::MAX_HEADER_VALUE_LEN);
    let over = "v".repeat(limits::MAX_HEADER_VALUE_LEN + 1);
    let matching = |value: &str| {
        vs_with_rule(&format!(
            "{{match: [{{headers: {{x-v: {{prefix: {value}}}}}}}], {ROUTE}}}"
        ))
    };
    assert_compiles(&matching(&at));
    assert_rejected(
        &matching(&over),
        "spec.http[0].match[0].headers[x-v].prefix",
        "prefix literal of 4097 bytes is longer than the limit of 4096 \
         (limits::MAX_HEADER_VALUE_LEN)",
    );
    let setting = |value: &str| {
        vs_with_rule(&format!(
            "{{route: [{{destination: {{host: web}}, headers: {{response: {{add: {{x-v: {value}}}}}}}}}]}}"
        ))
    };
    assert_compiles(&setting(&at));
    assert_rejected(
        &setting(&over),
        "spec.http[0].route[0].headers.response.add[x-v]",
        "header value of 4097 bytes is longer than the limit of 4096 \
         (limits::MAX_HEADER_VALUE_LEN)",
    );
}

#[test]
fn uri_literal_length() {
    for kind in ["exact", "prefix"] {
        let with = |len: usize| {
            let literal = format!("/{}", "p".repeat(len - 1));
            vs_with_rule(&format!(
                "{{match: [{{uri: {{{kind}: {literal}}}}}], {ROUTE}}}"
            ))
        };
        assert_compiles(&with(limits::MAX_URI_LITERAL_LEN));
        assert_rejected(
            &with(limits::MAX_URI_LITERAL_LEN + 1),
            &format!("spec.http[0].match[0].uri.{kind}"),
            &format!(
                "{kind} literal of 8193 bytes is longer than the limit of 8192 \
                 (limits::MAX_URI_LITERAL_LEN)"
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Istio DestinationRule and Gateway
// ---------------------------------------------------------------------------------------------

fn dr_with_hash(hash: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
         metadata: {{name: web, namespace: default}}\n\
         spec:\n  host: web\n  trafficPolicy: {{loadBalancer: {{consistentHash: {hash}}}}}\n"
    )
}

#[test]
fn maglev_table_size() {
    let with = |size: u64| {
        dr_with_hash(&format!(
            "{{httpHeaderName: x, maglev: {{tableSize: {size}}}}}"
        ))
    };
    // The largest prime below the limit.
    assert_compiles(&with(4_999_999));
    assert_rejected(
        &with(limits::MAGLEV_TABLE_SIZE_LIMIT),
        "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
        "table size 5000011 is too large; maglev table sizes must be less than 5000011 \
         (limits::MAGLEV_TABLE_SIZE_LIMIT)",
    );
}

#[test]
fn ring_size() {
    let with = |size: u64| {
        dr_with_hash(&format!(
            "{{httpHeaderName: x, ringHash: {{minimumRingSize: {size}}}}}"
        ))
    };
    assert_compiles(&with(limits::MAX_RING_SIZE));
    assert_rejected(
        &with(limits::MAX_RING_SIZE + 1),
        "spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize",
        "minimum ring size 8388609 exceeds the limit of 8388608 (limits::MAX_RING_SIZE), the \
         largest ring Envoy builds",
    );
}

#[test]
fn hash_header_name_length() {
    let with = |len: usize| dr_with_hash(&format!("{{httpHeaderName: {}}}", "h".repeat(len)));
    assert_compiles(&with(limits::MAX_HEADER_NAME_LEN));
    assert_rejected(
        &with(limits::MAX_HEADER_NAME_LEN + 1),
        "spec.trafficPolicy.loadBalancer.consistentHash.httpHeaderName",
        "header name of 257 bytes is longer than the limit of 256 (limits::MAX_HEADER_NAME_LEN)",
    );
}

#[test]
fn hosts_per_gateway_server() {
    let with = |n: usize| {
        let hosts = list(n, |i| format!("h{i}.example.com"));
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\n\
             metadata: {{name: gw, namespace: default}}\n\
             spec:\n  servers: [{{port: {{number: 80, name: http, protocol: HTTP}}, hosts: [{hosts}]}}]\n"
        )
    };
    assert_compiles(&with(limits::MAX_HOSTS));
    assert_rejected(
        &with(limits::MAX_HOSTS + 1),
        "spec.servers[0].hosts",
        "1025 hosts exceed the limit of 1024 (limits::MAX_HOSTS)",
    );
}

// ---------------------------------------------------------------------------------------------
// Gateway API
// ---------------------------------------------------------------------------------------------

/// A Gateway and an HTTPRoute attached to it with `spec` (after `parentRefs`) in flow style.
fn http_route(spec: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n\
         metadata: {{name: gw, namespace: default}}\n\
         spec:\n  gatewayClassName: example\n  listeners: [{{name: http, port: 80, protocol: HTTP}}]\n\
         ---\n\
         apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
         metadata: {{name: web, namespace: default}}\n\
         spec: {{parentRefs: [{{name: gw}}], {spec}}}\n"
    )
}

/// An HTTPRoute rule with the given matches.
fn rule_with_matches(matches: &str) -> String {
    format!("{{matches: [{matches}], backendRefs: [{{name: web, port: 80}}]}}")
}

#[test]
fn route_hostnames_and_rules() {
    let hostnames = |n: usize| {
        http_route(&format!(
            "hostnames: [{}], rules: [{{backendRefs: [{{name: web, port: 80}}]}}]",
            list(n, |i| format!("h{i}.example.com"))
        ))
    };
    assert_compiles(&hostnames(limits::MAX_ROUTE_HOSTNAMES));
    assert_rejected(
        &hostnames(limits::MAX_ROUTE_HOSTNAMES + 1),
        "spec.hostnames",
        "17 hostnames exceed the limit of 16 (limits::MAX_ROUTE_HOSTNAMES)",
    );
    let rules = |n: usize| {
        http_route(&format!(
            "rules: [{}]",
            list(n, |i| rule_with_matches(&format!(
                "{{path: {{value: /r{i}}}}}"
            )))
        ))
    };
    assert_compiles(&rules(limits::MAX_ROUTE_RULES));
    assert_rejected(
        &rules(limits::MAX_ROUTE_RULES + 1),
        "spec.rules",
        "17 rules exceed the limit of 16 (limits::MAX_ROUTE_RULES)",
    );
}

#[test]
fn route_matches() {
    let per_rule = |n: usize| {
        http_route(&format!(
            "rules: [{}]",
            rule_with_matches(&list(n, |i| format!("{{path: {{value: /m{i}}}}}")))
        ))
    };
    assert_compiles(&per_rule(limits::MAX_MATCHES_PER_RULE));
    assert_rejected(
        &per_rule(limits::MAX_MATCHES_PER_RULE + 1),
        "spec.rules[0].matches",
        "65 matches exceed the limit of 64 (limits::MAX_MATCHES_PER_RULE)",
    );
    // Across rules: 64 + 64 is the limit; one more is over.
    let total = |last: usize| {
        http_route(&format!(
            "rules: [{}, {}, {}]",
            rule_with_matches(&list(64, |i| format!("{{path: {{value: /a{i}}}}}"))),
            rule_with_matches(&list(63, |i| format!("{{path: {{value: /b{i}}}}}"))),
            rule_with_matches(&list(last, |i| format!("{{path: {{value: /c{i}}}}}"))),
        ))
    };
    assert_compiles(&total(1));
    assert_rejected(
        &total(2),
        "spec.rules",
        "129 matches across all rules exceed the limit of 128 per route \
         (limits::MAX_ROUTE_MATCHES)",
    );
}

#[test]
fn route_header_and_query_matches() {
    for (field, what, limit, name) in [
        (
            "headers",
            "header matches",
            limits::MAX_ROUTE_HEADER_MATCHES,
            "MAX_ROUTE_HEADER_MATCHES",
        ),
        (
            "queryParams",
            "query parameter matches",
            limits::MAX_ROUTE_QUERY_MATCHES,
            "MAX_ROUTE_QUERY_MATCHES",
        ),
    ] {
        let with = |n: usize| {
            let conditions = list(n, |i| format!("{{name: x-h{i}, value: v}}"));
            http_route(&format!(
                "rules: [{}]",
                rule_with_matches(&format!("{{{field}: [{conditions}]}}"))
            ))
        };
        assert_compiles(&with(limit));
        assert_rejected(
            &with(limit + 1),
            &format!("spec.rules[0].matches[0].{field}"),
            &format!(
                "{} {what} exceed the limit of {limit} (limits::{name})",
                limit + 1
            ),
        );
    }
}

#[test]
fn route_backends_and_weights() {
    let backends = |n: usize| {
        http_route(&format!(
            "rules: [{{backendRefs: [{}]}}]",
            list(n, |i| format!("{{name: b{i}, port: 80}}"))
        ))
    };
    assert_compiles(&backends(limits::MAX_BACKEND_REFS));
    assert_rejected(
        &backends(limits::MAX_BACKEND_REFS + 1),
        "spec.rules[0].backendRefs",
        "17 backendRefs exceed the limit of 16 (limits::MAX_BACKEND_REFS)",
    );
    let weight = |w: i64| {
        http_route(&format!(
            "rules: [{{backendRefs: [{{name: a, port: 80, weight: {w}}}, {{name: b, port: 80}}]}}]"
        ))
    };
    assert_compiles(&weight(limits::MAX_ROUTE_WEIGHT));
    assert_rejected(
        &weight(limits::MAX_ROUTE_WEIGHT + 1),
        "spec.rules[0].backendRefs[0].weight",
        "weight 1000001 exceeds the limit of 1000000 (limits::MAX_ROUTE_WEIGHT)",
    );
}

#[test]
fn route_literal_lengths() {
    let path = |len: usize| {
        http_route(&format!(
            "rules: [{}]",
            rule_with_matches(&format!("{{path: {{value: /{}}}}}", "p".repeat(len - 1)))
        ))
    };
    assert_compiles(&path(limits::MAX_ROUTE_PATH_LEN));
    assert_rejected(
        &path(limits::MAX_ROUTE_PATH_LEN + 1),
        "spec.rules[0].matches[0].path.value",
        "path of 1025 bytes is longer than the limit of 1024 (limits::MAX_ROUTE_PATH_LEN)",
    );
    let header = |name_len: usize, value_len: usize| {
        http_route(&format!(
            "rules: [{}]",
            rule_with_matches(&format!(
                "{{headers: [{{name: {}, value: {}}}]}}",
                "h".repeat(name_len),
                "v".repeat(value_len)
            ))
        ))
    };
    let (name, value) = (limits::MAX_HEADER_NAME_LEN, limits::MAX_HEADER_VALUE_LEN);
    assert_compiles(&header(name, value));
    assert_rejected(
        &header(name + 1, 1),
        "spec.rules[0].matches[0].headers[0].name",
        "header name of 257 bytes is longer than the limit of 256 (limits::MAX_HEADER_NAME_LEN)",
    );
    assert_rejected(
        &header(1, value + 1),
        "spec.rules[0].matches[0].headers[0].value",
        "header match value of 4097 bytes is longer than the limit of 4096 \
         (limits::MAX_HEADER_VALUE_LEN)",
    );
}
