//! Validation tests through the entry points, one resource after the other: HTTPRoute
//! (with the parts and filters it shares with GRPCRoute), GRPCRoute, Gateway.

use super::filters::is_cors_origin;
use super::gateway::{is_address_type, is_protocol};
use super::route::parse_duration;
use super::{validate_gateway, validate_grpc_route, validate_http_route};
use crate::compile::report::Report;
use crate::compile::report::validate_yaml;

fn http(yaml: &str) -> Report {
    validate_yaml(yaml, validate_http_route)
}

fn grpc(yaml: &str) -> Report {
    validate_yaml(yaml, validate_grpc_route)
}

fn gateway(yaml: &str) -> Report {
    validate_yaml(yaml, validate_gateway)
}

fn pair(path: &str, message: &str) -> (String, String) {
    (path.to_string(), message.to_string())
}

/// The errors of an HTTPRoute whose single rule is `rule` (flow-style YAML).
fn rule_errors(rule: &str) -> Vec<(String, String)> {
    http(&format!("{{rules: [{rule}]}}")).errors
}

/// The single error of an HTTPRoute whose single rule is `rule`.
fn rule_error(rule: &str) -> (String, String) {
    let errors = rule_errors(rule);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    errors.into_iter().next().expect("one error")
}

/// The single error of an HTTPRoute whose single rule has the single `filter`.
fn filter_error(filter: &str) -> (String, String) {
    rule_error(&format!("{{filters: [{filter}]}}"))
}

/// The single error of a Gateway with the given listeners (flow-style YAML).
fn listener_errors(listeners: &str) -> Vec<(String, String)> {
    gateway(&format!("{{gatewayClassName: c, listeners: {listeners}}}")).errors
}

const FULL_HTTP_ROUTE: &str = r#"
parentRefs:
- name: gw
  sectionName: http
- name: gw
  sectionName: https
- group: ""
  kind: Service
  name: reviews
  port: 9080
hostnames: [example.com, "*.example.com"]
rules:
- name: api
  matches:
  - path: {type: PathPrefix, value: /api}
    method: GET
    headers:
    - {name: x-user, value: "jason smith"}
    - {name: x-tier, type: RegularExpression, value: "gold|silver"}
    queryParams:
    - {name: debug, value: "1"}
  filters:
  - type: RequestHeaderModifier
    requestHeaderModifier:
      set: [{name: x-a, value: "1"}]
      add: [{name: x-b, value: "two words"}]
      remove: [x-c]
  - type: URLRewrite
    urlRewrite:
      hostname: internal.example.com
      path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}
  - type: RequestMirror
    requestMirror:
      backendRef: {name: shadow, port: 8080}
      fraction: {numerator: 1, denominator: 10}
  - type: CORS
    cors:
      allowOrigins: ["https://*.example.com", "http://localhost:8080"]
      allowMethods: [GET, POST]
      allowHeaders: [x-user]
      exposeHeaders: [x-request-id]
      allowCredentials: true
      maxAge: 600
  - type: ExtensionRef
    extensionRef: {group: example.com, kind: Policy, name: p}
  - type: ExternalAuth
    externalAuth:
      protocol: HTTP
      backendRef: {name: auth, port: 9000}
      http: {path: /check, allowedHeaders: [authorization]}
  backendRefs:
  - name: api-v1
    port: 8080
    weight: 90
  - name: api-v2
    port: 8080
    weight: 10
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-version, value: v2}]}
  - group: networking.istio.io
    kind: Hostname
    name: api.example.com
    weight: 0
  timeouts: {request: 10s, backendRequest: 2s}
  retry: {attempts: 3, backoff: 100ms, codes: [502, 503]}
  sessionPersistence:
    type: Cookie
    absoluteTimeout: 1h
    cookie: {name: session, lifetimeType: Permanent}
- matches:
  - path: {type: Exact, value: /old}
  filters:
  - type: RequestRedirect
    requestRedirect:
      scheme: https
      hostname: new.example.com
      port: 443
      statusCode: 301
      path: {type: ReplaceFullPath, replaceFullPath: /new}
- matches:
  - path: {type: RegularExpression, value: "/items/[0-9]+"}
  backendRefs: [{name: items, port: 80}]
- backendRefs: [{name: default, port: 80}]
"#;

#[test]
fn an_http_route_with_every_feature_is_valid() {
    let report = http(FULL_HTTP_ROUTE);
    assert_eq!(report.errors, vec![]);
    assert_eq!(report.warnings, vec![]);
}

#[test]
fn exact_and_prefix_paths_follow_the_cel_rules() {
    let cases = [
        ("foo", "path \"foo\" of type PathPrefix must start with '/'"),
        (
            "/a//b",
            "path \"/a//b\" of type PathPrefix must not contain \"//\"",
        ),
        (
            "/a/./b",
            "path \"/a/./b\" of type PathPrefix must not contain \"/./\"",
        ),
        (
            "/a/../b",
            "path \"/a/../b\" of type PathPrefix must not contain \"/../\"",
        ),
        (
            "/a%2fb",
            "path \"/a%2fb\" of type PathPrefix must not contain \"%2f\"",
        ),
        (
            "/a%2Fb",
            "path \"/a%2Fb\" of type PathPrefix must not contain \"%2F\"",
        ),
        (
            "/a#b",
            "path \"/a#b\" of type PathPrefix must not contain \"#\"",
        ),
        (
            "/a/..",
            "path \"/a/..\" of type PathPrefix must not end with \"/..\"",
        ),
        (
            "/a/.",
            "path \"/a/.\" of type PathPrefix must not end with \"/.\"",
        ),
        (
            "/a b",
            "path \"/a b\" of type PathPrefix has the invalid character ' '; use letters, \
                 digits, -._~!$&'()*+,;=:@/ and %XX escapes",
        ),
        (
            "/a%zz",
            "path \"/a%zz\" of type PathPrefix has the invalid character '%'; use letters, \
                 digits, -._~!$&'()*+,;=:@/ and %XX escapes",
        ),
        (
            "/caf\u{e9}",
            "path \"/caf\u{e9}\" of type PathPrefix has the invalid character '\u{e9}'; use \
                 letters, digits, -._~!$&'()*+,;=:@/ and %XX escapes",
        ),
    ];
    for (value, message) in cases {
        let rule = format!("{{matches: [{{path: {{value: {value:?}}}}}]}}");
        assert_eq!(
            rule_error(&rule),
            pair("spec.rules[0].matches[0].path.value", message),
            "{value}"
        );
    }
    for ok in ["/", "/a.b/c~d", "/%20x", "/a/..b", "/.well-known", "/a:b@c"] {
        let rule = format!("{{matches: [{{path: {{type: Exact, value: {ok:?}}}}}]}}");
        assert_eq!(rule_errors(&rule), vec![], "{ok}");
    }
    // An empty value breaks two rules.
    assert_eq!(
        rule_errors("{matches: [{path: {type: Exact, value: ''}}]}"),
        vec![
            pair(
                "spec.rules[0].matches[0].path.value",
                "path \"\" of type Exact must start with '/'"
            ),
            pair(
                "spec.rules[0].matches[0].path.value",
                "path \"\" of type Exact is empty; use letters, digits, -._~!$&'()*+,;=:@/ \
                     and %XX escapes"
            ),
        ]
    );
}

#[test]
fn regex_paths_must_compile_and_types_are_an_enum() {
    // No path rules for regexes, but the pattern must parse.
    assert_eq!(
        rule_errors("{matches: [{path: {type: RegularExpression, value: '//a#(b|c)'}}]}"),
        vec![]
    );
    let (path, message) =
        rule_error("{matches: [{path: {type: RegularExpression, value: '/a['}}]}");
    assert_eq!(path, "spec.rules[0].matches[0].path.value");
    assert!(
        message.starts_with("regex \"/a[\" does not parse: "),
        "{message}"
    );
    assert_eq!(
        rule_error("{matches: [{path: {type: Prefix, value: /a}}]}"),
        pair(
            "spec.rules[0].matches[0].path.type",
            "path match type \"Prefix\" is not Exact, PathPrefix or RegularExpression"
        )
    );
    let long = format!("/{}", "a".repeat(1024));
    assert_eq!(
        rule_error(&format!("{{matches: [{{path: {{value: {long}}}}}]}}")),
        pair(
            "spec.rules[0].matches[0].path.value",
            "path of 1025 bytes is longer than the limit of 1024 (limits::MAX_ROUTE_PATH_LEN)"
        )
    );
}

#[test]
fn header_and_query_param_matches() {
    let errors = rule_errors(
        r#"{matches: [{
                headers: [
                  {name: x-a, value: "1"},
                  {name: x-a, value: "2"},
                  {name: "magic/", value: "3"},
                  {name: x-b, type: Prefix, value: "4"},
                  {name: x-c, value: "two  spaces"},
                  {name: x-d, value: ""},
                  {name: x-e, type: RegularExpression, value: "(a"}
                ],
                queryParams: [
                  {name: q, value: "1"},
                  {name: q, value: "2"},
                  {name: Q, value: "3"},
                  {name: r, value: "has  spaces are fine here"}
                ],
                method: FETCH}]}"#,
    );
    let m = "spec.rules[0].matches[0]";
    assert_eq!(errors.len(), 8, "{errors:#?}");
    assert_eq!(
        errors[..6],
        [
            pair(
                &format!("{m}.headers[1].name"),
                "header \"x-a\" is already matched by headers[0]; names must be unique within \
                     a match"
            ),
            pair(
                &format!("{m}.headers[2].name"),
                "header name \"magic/\" is not valid; use letters, digits and !#$%&'*+-.^_`|~"
            ),
            pair(
                &format!("{m}.headers[3].type"),
                "header match type \"Prefix\" is not Exact or RegularExpression"
            ),
            pair(
                &format!("{m}.headers[4].value"),
                "header value \"two  spaces\" is not valid; use visible ASCII characters, \
                     separated by single spaces or tabs, none at either end"
            ),
            pair(
                &format!("{m}.headers[5].value"),
                "header match value is required"
            ),
            (errors[5].0.clone(), errors[5].1.clone()),
        ]
    );
    assert_eq!(errors[5].0, format!("{m}.headers[6].value"));
    assert!(
        errors[5].1.starts_with("regex \"(a\" does not parse"),
        "{}",
        errors[5].1
    );
    // Query parameter names are case-sensitive: `Q` is not a repeat of `q`.
    assert_eq!(
        errors[6..],
        [
            pair(
                &format!("{m}.queryParams[1].name"),
                "query parameter \"q\" is already matched by queryParams[0]; names must be \
                     unique within a match"
            ),
            pair(
                &format!("{m}.method"),
                "method \"FETCH\" is not one of GET, HEAD, POST, PUT, DELETE, CONNECT, \
                     OPTIONS, TRACE, PATCH"
            ),
        ]
    );
}

#[test]
fn header_names_repeated_in_another_case_are_ignored_with_a_warning() {
    let report = http(
        "{rules: [{matches: [{headers: [{name: X-User, value: a}, {name: x-user, value: b}]}]}]}",
    );
    assert_eq!(report.errors, vec![]);
    assert_eq!(
        report.warnings,
        vec![(
            "duplicate-header",
            "spec.rules[0].matches[0].headers[1].name".to_string(),
            "header \"x-user\" is already matched by headers[0] as \"X-User\"; header names \
                 are case-insensitive, so this entry is ignored"
                .to_string()
        )]
    );
}

#[test]
fn list_sizes_have_limits() {
    let many =
        |n: usize, item: &dyn Fn(usize) -> String| (0..n).map(item).collect::<Vec<_>>().join(", ");
    let hostnames = many(17, &|i| format!("h{i}.example.com"));
    assert_eq!(
        http(&format!("{{hostnames: [{hostnames}]}}")).errors,
        vec![pair(
            "spec.hostnames",
            "17 hostnames exceed the limit of 16 (limits::MAX_ROUTE_HOSTNAMES)"
        )]
    );
    let rules = many(17, &|_| "{}".to_string());
    assert_eq!(
        http(&format!("{{rules: [{rules}]}}")).errors,
        vec![pair(
            "spec.rules",
            "17 rules exceed the limit of 16 (limits::MAX_ROUTE_RULES)"
        )]
    );
    let matches = many(65, &|_| "{}".to_string());
    assert_eq!(
        rule_errors(&format!("{{matches: [{matches}]}}")),
        vec![pair(
            "spec.rules[0].matches",
            "65 matches exceed the limit of 64 (limits::MAX_MATCHES_PER_RULE)"
        )]
    );
    // 3 rules of 43 matches: within the per-rule limit, over the per-route one.
    let rule = format!("{{matches: [{}]}}", many(43, &|_| "{}".to_string()));
    assert_eq!(
        http(&format!("{{rules: [{rule}, {rule}, {rule}]}}")).errors,
        vec![pair(
            "spec.rules",
            "129 matches across all rules exceed the limit of 128 per route \
                 (limits::MAX_ROUTE_MATCHES)"
        )]
    );
    let headers = many(17, &|i| format!("{{name: h{i}, value: v}}"));
    assert_eq!(
        rule_errors(&format!("{{matches: [{{headers: [{headers}]}}]}}")),
        vec![pair(
            "spec.rules[0].matches[0].headers",
            "17 header matches exceed the limit of 16 (limits::MAX_ROUTE_HEADER_MATCHES)"
        )]
    );
    let backends = many(17, &|i| format!("{{name: b{i}, port: 80}}"));
    assert_eq!(
        rule_errors(&format!("{{backendRefs: [{backends}]}}")),
        vec![pair(
            "spec.rules[0].backendRefs",
            "17 backendRefs exceed the limit of 16 (limits::MAX_BACKEND_REFS)"
        )]
    );
    let filters = many(17, &|i| {
        format!("{{type: ExtensionRef, extensionRef: {{group: '', kind: K, name: e{i}}}}}")
    });
    assert_eq!(
        rule_errors(&format!("{{filters: [{filters}]}}")),
        vec![pair(
            "spec.rules[0].filters",
            "17 filters exceed the limit of 16 (limits::MAX_ROUTE_FILTERS)"
        )]
    );
    let sets = many(17, &|i| format!("{{name: h{i}, value: v}}"));
    assert_eq!(
        filter_error(&format!(
            "{{type: RequestHeaderModifier, requestHeaderModifier: {{set: [{sets}]}}}}"
        )),
        pair(
            "spec.rules[0].filters[0].requestHeaderModifier.set",
            "17 headers to set exceed the limit of 16 (limits::MAX_HEADER_MODIFIER_OPS)"
        )
    );
}

#[test]
fn backend_refs() {
    let b = "spec.rules[0].backendRefs";
    assert_eq!(
        rule_errors(
            "{backendRefs: [
                    {name: a, port: 80, weight: -1},
                    {name: b, port: 80, weight: 1000001},
                    {name: c, port: 0},
                    {name: d, port: 65536},
                    {name: e},
                    {name: f, kind: Service, group: ''},
                    {name: '', port: 80},
                    {name: g, port: 80, group: '*', kind: '*', namespace: Prod}
                ]}"
        ),
        vec![
            pair(
                &format!("{b}[0].weight"),
                "weight -1 is negative; weights are relative and must be 0 or more"
            ),
            pair(
                &format!("{b}[1].weight"),
                "weight 1000001 exceeds the limit of 1000000 (limits::MAX_ROUTE_WEIGHT)"
            ),
            pair(
                &format!("{b}[2].port"),
                "port 0 is out of range; use 1-65535"
            ),
            pair(
                &format!("{b}[3].port"),
                "port 65536 is out of range; use 1-65535"
            ),
            pair(
                &format!("{b}[4].port"),
                "port is required for a Service backend (\"e\")"
            ),
            pair(
                &format!("{b}[5].port"),
                "port is required for a Service backend (\"f\")"
            ),
            pair(&format!("{b}[6].name"), "name is required"),
            pair(
                &format!("{b}[7].group"),
                "group \"*\" is not valid; use \"\" for the core group, or use lower-case DNS \
                     labels (letters, digits and '-', starting and ending with a letter or digit) \
                     separated by '.'"
            ),
            pair(
                &format!("{b}[7].kind"),
                "kind \"*\" is not valid; use 1-63 letters, digits or '-', starting with a \
                     letter and ending with a letter or digit"
            ),
            pair(
                &format!("{b}[7].namespace"),
                "namespace \"Prod\" is not valid; use 1-63 lower-case letters, digits or '-', \
                     starting and ending with a letter or digit"
            ),
        ]
    );
    // Only core Services need a port; zero weights are fine.
    assert_eq!(
            rule_errors(
                "{backendRefs: [
                    {group: inference.networking.k8s.io, kind: InferencePool, name: pool, weight: 0},
                    {group: gateway.envoyproxy.io, kind: Backend, name: be}
                ]}"
            ),
            vec![]
        );
}

#[test]
fn a_filter_sets_exactly_the_field_of_its_type() {
    let f = "spec.rules[0].filters[0]";
    assert_eq!(
        filter_error("{type: RequestHeaderModifier}"),
        pair(
            &format!("{f}.requestHeaderModifier"),
            "filter type RequestHeaderModifier needs requestHeaderModifier, which is missing"
        )
    );
    assert_eq!(
        rule_errors(
            "{filters: [{type: RequestHeaderModifier, requestHeaderModifier: {}, \
                 requestRedirect: {port: 443}}]}"
        ),
        vec![pair(
            &format!("{f}.requestRedirect"),
            "requestRedirect is set but the filter type is RequestHeaderModifier; set only \
                 the field of the type"
        )]
    );
    assert_eq!(
        filter_error("{requestHeaderModifier: {}}"),
        pair(
            &format!("{f}.type"),
            "filter type is required; one of RequestHeaderModifier, ResponseHeaderModifier, \
                 RequestMirror, RequestRedirect, URLRewrite, ExtensionRef, CORS, ExternalAuth"
        )
    );
    assert_eq!(
        filter_error("{type: Lua, extensionRef: {group: '', kind: K, name: ext}}"),
        pair(
            &format!("{f}.type"),
            "filter type \"Lua\" is not one of RequestHeaderModifier, ResponseHeaderModifier, \
                 RequestMirror, RequestRedirect, URLRewrite, ExtensionRef, CORS, ExternalAuth \
                 (HTTPRoute)"
        )
    );
}

#[test]
fn filters_that_may_appear_once() {
    let errors = rule_errors(
        "{filters: [
                {type: RequestHeaderModifier, requestHeaderModifier: {}},
                {type: RequestRedirect, requestRedirect: {scheme: https}},
                {type: RequestHeaderModifier, requestHeaderModifier: {}},
                {type: URLRewrite, urlRewrite: {hostname: a.com}},
                {type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}}},
                {type: RequestMirror, requestMirror: {backendRef: {name: mirror2, port: 80}}}
            ]}",
    );
    assert_eq!(
        errors,
        vec![
            pair(
                "spec.rules[0].filters[2].type",
                "filter type RequestHeaderModifier is repeated (first at filters[0]); it may \
                     appear at most once per filter list"
            ),
            pair(
                "spec.rules[0].filters[3].type",
                "a URLRewrite filter cannot be combined with the RequestRedirect filter \
                     filters[1]; a redirect answers the request, a rewrite forwards it"
            ),
        ]
    );
}

#[test]
fn redirects() {
    let r = "spec.rules[0].filters[0].requestRedirect";
    assert_eq!(
        rule_errors(
            "{filters: [{type: RequestRedirect, requestRedirect: {scheme: ftp, \
                 hostname: '*.example.com', port: 0, statusCode: 304}}]}"
        ),
        vec![
            pair(
                &format!("{r}.scheme"),
                "scheme \"ftp\" is not http or https"
            ),
            pair(
                &format!("{r}.hostname"),
                "redirect hostname \"*.example.com\" is not valid; use lower-case DNS labels \
                     (letters, digits and '-', starting and ending with a letter or digit) \
                     separated by '.'"
            ),
            pair(&format!("{r}.port"), "port 0 is out of range; use 1-65535"),
            pair(
                &format!("{r}.statusCode"),
                "redirect status code 304 is not one of 301, 302, 303, 307, 308"
            ),
        ]
    );
    assert_eq!(
        rule_error(
            "{filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}], \
                 backendRefs: [{name: a, port: 80}, {name: b, port: 80}]}"
        ),
        pair(
            r,
            "a RequestRedirect filter answers the request itself and cannot be combined with \
                 backendRefs (the rule has 2); remove one or the other"
        )
    );
}

#[test]
fn replace_prefix_match_needs_one_prefix_match() {
    let redirect = "{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, \
                        replacePrefixMatch: /new}}}";
    // Defaults: no matches, or a match without a path, mean `PathPrefix /`.
    for matches in [
        "[]",
        "[{}]",
        "[{path: {value: /old}}]",
        "[{headers: [{name: a, value: b}]}]",
    ] {
        assert_eq!(
            rule_errors(&format!("{{matches: {matches}, filters: [{redirect}]}}")),
            vec![],
            "{matches}"
        );
    }
    assert_eq!(
        rule_error(&format!(
            "{{matches: [{{path: {{value: /a}}}}, {{path: {{value: /b}}}}], filters: [{redirect}]}}"
        )),
        pair(
            "spec.rules[0].filters[0].requestRedirect.path",
            "replacePrefixMatch needs the rule to have exactly one match, with a PathPrefix \
                 path; it has 2 matches"
        )
    );
    let rewrite = "{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, \
                       replacePrefixMatch: /new}}}";
    assert_eq!(
        rule_error(&format!(
            "{{matches: [{{path: {{type: Exact, value: /a}}}}], \
                 backendRefs: [{{name: a, port: 80, filters: [{rewrite}]}}]}}"
        )),
        pair(
            "spec.rules[0].backendRefs[0].filters[0].urlRewrite.path",
            "replacePrefixMatch needs the rule to have exactly one match, with a PathPrefix \
                 path; its path match is of type Exact"
        )
    );
}

#[test]
fn path_modifier_type_matches_its_field() {
    let p = "spec.rules[0].filters[0].urlRewrite.path";
    assert_eq!(
        rule_errors(
            "{filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, \
                 replacePrefixMatch: /x}}}]}"
        ),
        vec![
            pair(
                &format!("{p}.type"),
                "type ReplaceFullPath needs replaceFullPath, which is missing"
            ),
            pair(
                &format!("{p}.type"),
                "type is ReplaceFullPath but replacePrefixMatch is set; replacePrefixMatch \
                     needs type ReplacePrefixMatch"
            ),
        ]
    );
    assert_eq!(
        filter_error("{type: URLRewrite, urlRewrite: {path: {replaceFullPath: /x}}}"),
        pair(
            &format!("{p}.type"),
            "path modifier type is required; ReplaceFullPath or ReplacePrefixMatch"
        )
    );
}

#[test]
fn header_modifiers() {
    let m = "spec.rules[0].filters[0].responseHeaderModifier";
    let report = http(
        "{rules: [{filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {
                set: [{name: x-a, value: '1'}, {name: x-a, value: '2'}, {name: X-A, value: '3'}],
                add: [{name: 'bad name', value: ok}, {name: x-b, value: ''},
                      {name: x-c, value: \"line\\nbreak\"}],
                remove: [x-d, x-d, X-D]}}]}]}",
    );
    assert_eq!(
        report.errors,
        vec![
            pair(
                &format!("{m}.set[1].name"),
                "header \"x-a\" is already listed at set[0]; names must be unique"
            ),
            pair(
                &format!("{m}.add[0].name"),
                "header name \"bad name\" is not valid; use letters, digits and \
                     !#$%&'*+-.^_`|~"
            ),
            pair(&format!("{m}.add[1].value"), "header value is required"),
            pair(
                &format!("{m}.add[2].value"),
                "header value \"line\\nbreak\" is not valid; use visible ASCII characters, \
                     separated by single spaces or tabs, none at either end"
            ),
            pair(
                &format!("{m}.remove[1]"),
                "header \"x-d\" is already listed at remove[0]; entries must be unique"
            ),
        ]
    );
    let warned: Vec<&str> = report.warnings.iter().map(|w| w.1.as_str()).collect();
    assert_eq!(
        warned,
        [format!("{m}.set[2].name"), format!("{m}.remove[2]")]
    );
}

#[test]
fn request_mirrors() {
    let m = "spec.rules[0].filters[0].requestMirror";
    assert_eq!(
        rule_errors(
            "{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}, \
                 percent: 50, fraction: {numerator: 1}}}]}"
        ),
        vec![pair(
            m,
            "percent and fraction are both set; give the share of mirrored requests one way"
        )]
    );
    assert_eq!(
        rule_errors(
            "{filters: [{type: RequestMirror, requestMirror: {percent: 101}}, \
                 {type: RequestMirror, requestMirror: {backendRef: {name: m}, \
                 fraction: {numerator: 3, denominator: 2}}}, \
                 {type: RequestMirror, requestMirror: {backendRef: {name: m, port: 1}, \
                 fraction: {numerator: -1, denominator: 0}}}]}"
        ),
        vec![
            pair(
                &format!("{m}.backendRef"),
                "backendRef is required: it names where the copies go"
            ),
            pair(
                &format!("{m}.percent"),
                "percent 101 is out of range; use 0-100"
            ),
            pair(
                "spec.rules[0].filters[1].requestMirror.backendRef.port",
                "port is required for a Service backend (\"m\")"
            ),
            pair(
                "spec.rules[0].filters[1].requestMirror.fraction",
                "numerator 3 is greater than denominator 2; a fraction may be at most 1"
            ),
            pair(
                "spec.rules[0].filters[2].requestMirror.fraction.denominator",
                "denominator 0 must be 1 or more"
            ),
            pair(
                "spec.rules[0].filters[2].requestMirror.fraction.numerator",
                "numerator -1 is negative; it must be 0 or more"
            ),
        ]
    );
}

#[test]
fn timeouts_and_retries() {
    let t = "spec.rules[0].timeouts";
    for bad in [
        "1.5s",
        "500us",
        "1d",
        "100000s",
        "1h1m1s1ms1h",
        "s",
        "",
        "1 s",
    ] {
        assert_eq!(
            rule_error(&format!("{{timeouts: {{request: {bad:?}}}}}")),
            pair(
                &format!("{t}.request"),
                &format!(
                    "duration {bad:?} is not valid; use 1 to 4 parts of 1-5 digits followed \
                         by h, m, s or ms, such as 1h30m or 500ms"
                )
            ),
            "{bad}"
        );
    }
    assert_eq!(
        rule_error("{timeouts: {request: 1s, backendRequest: 1001ms}}"),
        pair(
            &format!("{t}.backendRequest"),
            "backendRequest timeout \"1001ms\" is longer than the request timeout \"1s\""
        )
    );
    // A zero request timeout disables it: any backend timeout fits.
    assert_eq!(
        rule_errors("{timeouts: {request: 0s, backendRequest: 1h}}"),
        vec![]
    );
    assert_eq!(
        rule_errors("{retry: {attempts: 0, backoff: 1.5s, codes: [500, 500, 200]}}"),
        vec![
            pair(
                "spec.rules[0].retry.attempts",
                "attempts 0 must be 1 or more"
            ),
            pair(
                "spec.rules[0].retry.backoff",
                "duration \"1.5s\" is not valid; use 1 to 4 parts of 1-5 digits followed by \
                     h, m, s or ms, such as 1h30m or 500ms"
            ),
            pair(
                "spec.rules[0].retry.codes[1]",
                "status code 500 is already listed at codes[0]; entries must be unique"
            ),
            pair(
                "spec.rules[0].retry.codes[2]",
                "status code 200 is out of range; use 400-599"
            ),
        ]
    );
}

#[test]
fn gateway_api_durations() {
    assert_eq!(parse_duration("1h30m"), Some(5_400_000));
    assert_eq!(parse_duration("1m"), Some(60_000));
    assert_eq!(parse_duration("1ms"), Some(1));
    assert_eq!(parse_duration("1m1ms"), Some(60_001));
    assert_eq!(parse_duration("99999h"), Some(99_999 * 3_600_000));
    assert_eq!(parse_duration("1s2s3s4s"), Some(10_000));
    assert_eq!(parse_duration("1s2s3s4s5s"), None);
    assert_eq!(parse_duration("0"), None);
    assert_eq!(parse_duration("+1s"), None);
}

#[test]
fn cors() {
    let c = "spec.rules[0].filters[0].cors";
    assert_eq!(
        rule_errors(
            "{filters: [{type: CORS, cors: {
                    allowOrigins: ['*', 'https://a.com', 'http://bar.*.com', 'spiffe://x',
                                   'http://a.com:123456', 'https://a.com'],
                    allowMethods: ['*', GET, FETCH],
                    allowHeaders: ['*', x-a],
                    exposeHeaders: ['x b'],
                    maxAge: 0}}]}"
        ),
        vec![
            pair(
                &format!("{c}.allowOrigins[5]"),
                "\"https://a.com\" is already listed at [1]; entries must be unique"
            ),
            pair(
                &format!("{c}.allowOrigins"),
                "\"*\" must be the only entry of allowOrigins, which has 6 entries"
            ),
            pair(
                &format!("{c}.allowOrigins[2]"),
                "origin \"http://bar.*.com\" is not valid; use \"*\" or http(s)://host[:port], \
                     where the host may start with \"*.\" or be \"*\""
            ),
            pair(
                &format!("{c}.allowOrigins[3]"),
                "origin \"spiffe://x\" is not valid; use \"*\" or http(s)://host[:port], \
                     where the host may start with \"*.\" or be \"*\""
            ),
            pair(
                &format!("{c}.allowOrigins[4]"),
                "origin \"http://a.com:123456\" is not valid; use \"*\" or \
                     http(s)://host[:port], where the host may start with \"*.\" or be \"*\""
            ),
            pair(
                &format!("{c}.allowMethods"),
                "\"*\" must be the only entry of allowMethods, which has 3 entries"
            ),
            pair(
                &format!("{c}.allowMethods[2]"),
                "method \"FETCH\" is not one of GET, HEAD, POST, PUT, DELETE, CONNECT, \
                     OPTIONS, TRACE, PATCH or \"*\""
            ),
            pair(
                &format!("{c}.allowHeaders"),
                "\"*\" must be the only entry of allowHeaders, which has 2 entries"
            ),
            pair(
                &format!("{c}.exposeHeaders[0]"),
                "header name \"x b\" is not valid; use letters, digits and !#$%&'*+-.^_`|~"
            ),
            pair(
                &format!("{c}.maxAge"),
                "maxAge 0 must be at least 1 (seconds)"
            ),
        ]
    );
    for ok in [
        "*",
        "http://*",
        "https://*.a.com:8443",
        "http://localhost",
        "https://A-b.C",
    ] {
        assert!(is_cors_origin(ok), "{ok}");
    }
}

#[test]
fn parent_refs_to_one_parent_differ_in_section_name_or_port() {
    let cases: [(&str, Option<&str>); 9] = [
        ("[{name: gw}, {name: gw}]", Some("repeats")),
        ("[{name: gw}, {name: gw, port: 80}]", Some("same ones")),
        (
            "[{name: gw}, {name: gw, sectionName: a, port: 80}]",
            Some("same ones"),
        ),
        (
            "[{name: gw, port: 80}, {name: gw, port: 80}]",
            Some("repeats"),
        ),
        (
            "[{name: gw, sectionName: a}, {name: gw, port: 443}]",
            Some("same ones"),
        ),
        ("[{name: gw, port: 80}, {name: gw, port: 443}]", None),
        (
            "[{name: gw, port: 443, sectionName: a}, {name: gw, port: 443, sectionName: b}]",
            None,
        ),
        ("[{name: gw, namespace: test}, {name: gw}]", None),
        // `group: ""` differs from the default group.
        ("[{name: gw, group: ''}, {name: gw}]", None),
    ];
    for (refs, want) in cases {
        let errors = http(&format!("{{parentRefs: {refs}}}")).errors;
        match want {
            None => assert_eq!(errors, vec![], "{refs}"),
            Some(word) => {
                assert_eq!(errors.len(), 1, "{refs}: {errors:#?}");
                assert_eq!(errors[0].0, "spec.parentRefs[1]", "{refs}");
                assert!(errors[0].1.contains(word), "{refs}: {}", errors[0].1);
            }
        }
    }
    assert_eq!(
        http("{parentRefs: [{name: gw}, {name: gw, sectionName: https}]}").errors,
        vec![pair(
            "spec.parentRefs[1]",
            "parentRefs[0] (no sectionName or port) and parentRefs[1] (sectionName \
                 \"https\") both name Gateway gw; references to one parent must each set \
                 sectionName, port or both, and the same ones"
        )]
    );
    assert_eq!(
            http("{parentRefs: [{name: gw, namespace: infra, port: 80}, {name: gw, namespace: infra, port: 80}]}")
                .errors,
            vec![pair(
                "spec.parentRefs[1]",
                "parentRefs[1] repeats parentRefs[0] (Gateway infra/gw, same sectionName and \
                 port); references to one parent must differ in sectionName or port"
            )]
        );
    assert_eq!(
        http("{parentRefs: [{name: '', sectionName: 'Bad_Name', port: 70000}]}").errors,
        vec![
            pair("spec.parentRefs[0].name", "name is required"),
            pair(
                "spec.parentRefs[0].port",
                "port 70000 is out of range; use 1-65535"
            ),
            pair(
                "spec.parentRefs[0].sectionName",
                "sectionName \"Bad_Name\" is not valid; use lower-case DNS labels (letters, \
                     digits and '-', starting and ending with a letter or digit) separated by '.'"
            ),
        ]
    );
}

#[test]
fn hostnames_and_rule_names() {
    assert_eq!(
            http("{hostnames: [a.example.com, '*.example.com', Example.com, '*', 'foo.*.com', 'a.com:80']}")
                .errors
                .iter()
                .map(|e| e.0.as_str())
                .collect::<Vec<_>>(),
            [
                "spec.hostnames[2]",
                "spec.hostnames[3]",
                "spec.hostnames[4]",
                "spec.hostnames[5]"
            ]
        );
    assert_eq!(
        http("{hostnames: ['http://a<']}").errors,
        vec![pair(
            "spec.hostnames[0]",
            "hostname \"http://a<\" is not valid; use lower-case DNS labels (letters, digits \
                 and '-', starting and ending with a letter or digit) separated by '.', \
                 optionally after a leading \"*.\"; no IP addresses, ports or schemes"
        )]
    );
    let long = format!("{}.com", "a".repeat(250));
    assert_eq!(
        http(&format!("{{hostnames: [{long}]}}")).errors,
        vec![pair(
            "spec.hostnames[0]",
            "hostname of 254 bytes is longer than the limit of 253 (limits::MAX_NAME_LEN)"
        )]
    );
    assert_eq!(
        http("{rules: [{name: a}, {name: B}, {name: a}]}").errors,
        vec![
            pair(
                "spec.rules[1].name",
                "rule name \"B\" is not valid; use lower-case DNS labels (letters, digits and \
                     '-', starting and ending with a letter or digit) separated by '.'"
            ),
            pair(
                "spec.rules[2].name",
                "rule name \"a\" is already used by rules[0]; names must be unique within the \
                     route"
            ),
        ]
    );
}

#[test]
fn external_auth_and_extension_ref() {
    let a = "spec.rules[0].filters[0].externalAuth";
    assert_eq!(
        rule_errors("{filters: [{type: ExternalAuth, externalAuth: {}}]}"),
        vec![
            pair(
                &format!("{a}.protocol"),
                "protocol is required; HTTP or GRPC"
            ),
            pair(
                &format!("{a}.backendRef"),
                "backendRef is required: it names the authorization service"
            ),
        ]
    );
    assert_eq!(
        rule_errors(
            "{filters: [{type: ExternalAuth, externalAuth: {protocol: HTTP, \
                 backendRef: {name: auth}, grpc: {}, http: {path: '/[]'}, forwardBody: {maxSize: -1}, \
                 timeout: 1s}}]}"
        ),
        vec![
            pair(
                &format!("{a}.timeout"),
                "unknown field \"timeout\"; expected one of protocol, backendRef, grpc, http, \
                     forwardBody"
            ),
            pair(
                &format!("{a}.backendRef.port"),
                "port is required for a Service backend (\"auth\")"
            ),
            pair(
                &format!("{a}.http.path"),
                "path \"/[]\" has the invalid character '['; use letters, digits, \
                     -._~!$&'()*+,;=:@/ and %XX escapes"
            ),
            pair(
                &format!("{a}.forwardBody.maxSize"),
                "maxSize -1 is negative; it must be 0 or more"
            ),
            pair(
                &format!("{a}.grpc"),
                "grpc is set but the protocol is HTTP; grpc needs protocol GRPC"
            ),
        ]
    );
    assert_eq!(
        filter_error(
            "{type: ExternalAuth, externalAuth: {protocol: GRPC, backendRef: {name: a, port: 1}}}"
        ),
        pair(
            &format!("{a}.grpc"),
            "protocol GRPC needs grpc, which is missing"
        )
    );
    let e = "spec.rules[0].filters[0].extensionRef";
    assert_eq!(
        rule_errors(
            "{filters: [{type: ExtensionRef, extensionRef: {kind: '1x', name: ext, namespace: x}}]}"
        ),
        vec![
            pair(
                &format!("{e}.namespace"),
                "unknown field \"namespace\"; expected one of group, kind, name"
            ),
            pair(&format!("{e}.group"), "group is required"),
            pair(
                &format!("{e}.kind"),
                "kind \"1x\" is not valid; use 1-63 letters, digits or '-', starting with a \
                     letter and ending with a letter or digit"
            ),
        ]
    );
    assert_eq!(
        filter_error("{type: ExtensionRef, extensionRef: [a]}"),
        pair(e, "must be an object, not a list")
    );
}

/// `sessionPersistence` in the main branch's union form (`cookie`, `header`): its CEL rules
/// (kubernetes-sigs/gateway-api `apis/v1/shared_types.go` after #4873: "cookie must be
/// specified for Cookie type", "cookie must be nil if type is not Cookie", ...).
#[test]
fn session_persistence() {
    let s = "spec.rules[0].sessionPersistence";
    assert_eq!(
        rule_errors("{sessionPersistence: {type: Cookie, header: {name: x-session}}}"),
        vec![
            pair(
                &format!("{s}.cookie"),
                "session persistence type Cookie needs cookie, which is missing"
            ),
            pair(
                &format!("{s}.header"),
                "header is set but the session persistence type is Cookie; header needs type \
                     Header"
            ),
        ]
    );
    assert_eq!(
        rule_errors(
            "{sessionPersistence: {type: Header, cookie: {lifetimeType: Permanent}, \
                 header: {name: x-session}}}"
        ),
        vec![
            pair(
                &format!("{s}.cookie.lifetimeType"),
                "a Permanent cookie needs absoluteTimeout, which is missing"
            ),
            pair(
                &format!("{s}.cookie"),
                "cookie is set but the session persistence type is Header; cookie needs type \
                     Cookie"
            ),
        ]
    );
    assert_eq!(
        grpc("{rules: [{sessionPersistence: {type: Sticky, header: {}}}]}").errors,
        vec![
            pair(
                &format!("{s}.type"),
                "session persistence type \"Sticky\" is not Cookie or Header"
            ),
            pair(&format!("{s}.header.name"), "header name is required"),
        ]
    );
    assert_eq!(
        rule_error("{sessionPersistence: {cookie: {name: s, path: cart}}}"),
        pair(
            &format!("{s}.cookie.path"),
            "cookie path \"cart\" is not valid; it starts with / and holds visible ASCII \
                 without ;"
        )
    );
}

/// `sessionPersistence` in the released form (gateway-api v1.1 to v1.6 `SessionPersistence`:
/// `sessionName` maxLength 128, GEP-2257 durations, the `type` and `lifetimeType` enums, and
/// the CEL rules "AbsoluteTimeout must be specified when cookie lifetimeType is Permanent" and
/// "cookieConfig can only be set with type Cookie").
#[test]
fn session_persistence_released_form() {
    let s = "spec.rules[0].sessionPersistence";
    // The GEP-1619 / Gateway API documentation example, and the other valid shapes.
    for ok in [
        "{sessionName: Session-A, type: Cookie, absoluteTimeout: 1h, \
          cookieConfig: {lifetimeType: Permanent}}",
        "{}",
        "{absoluteTimeout: 1h}",
        "{type: Header, sessionName: x-session, idleTimeout: 30m}",
        "{cookieConfig: {lifetimeType: Session}}",
    ] {
        assert_eq!(
            rule_errors(&format!("{{sessionPersistence: {ok}}}")),
            vec![],
            "{ok}"
        );
        assert_eq!(
            grpc(&format!("{{rules: [{{sessionPersistence: {ok}}}]}}")).errors,
            vec![],
            "{ok}"
        );
    }
    assert_eq!(
        rule_error("{sessionPersistence: {cookieConfig: {lifetimeType: Permanent}}}"),
        pair(
            &format!("{s}.cookieConfig.lifetimeType"),
            "a Permanent cookie needs absoluteTimeout, which is missing"
        )
    );
    assert_eq!(
        rule_error("{sessionPersistence: {type: Header, cookieConfig: {}}}"),
        pair(
            &format!("{s}.cookieConfig"),
            "cookieConfig is set but the session persistence type is Header; cookieConfig \
                 needs type Cookie"
        )
    );
    assert_eq!(
        rule_error("{sessionPersistence: {cookieConfig: {lifetimeType: Forever}}}"),
        pair(
            &format!("{s}.cookieConfig.lifetimeType"),
            "cookie lifetimeType \"Forever\" is not Permanent or Session"
        )
    );
    assert_eq!(
        rule_error(&format!(
            "{{sessionPersistence: {{sessionName: {}}}}}",
            "a".repeat(129)
        )),
        pair(
            &format!("{s}.sessionName"),
            "sessionName of 129 characters is longer than the limit of 128"
        )
    );
    assert_eq!(
        rule_error("{sessionPersistence: {sessionName: \"my session\"}}").0,
        format!("{s}.sessionName")
    );
    assert_eq!(
        rule_errors("{sessionPersistence: {absoluteTimeout: 1d, idleTimeout: \"90\"}}"),
        vec![
            pair(
                &format!("{s}.absoluteTimeout"),
                "duration \"1d\" is not valid; use 1 to 4 parts of 1-5 digits followed by h, \
                     m, s or ms, such as 1h30m or 500ms"
            ),
            pair(
                &format!("{s}.idleTimeout"),
                "duration \"90\" is not valid; use 1 to 4 parts of 1-5 digits followed by h, \
                     m, s or ms, such as 1h30m or 500ms"
            ),
        ]
    );
    // The two forms do not mix.
    assert_eq!(
        rule_error("{sessionPersistence: {sessionName: a, cookie: {name: b}}}"),
        pair(
            &format!("{s}.sessionName"),
            "sessionName belongs to the released form of sessionPersistence (gateway-api v1.1 \
                 to v1.6) and cannot be mixed with cookie (the newer form); write cookie.name or \
                 header.name"
        )
    );
}

const FULL_GRPC_ROUTE: &str = r#"
parentRefs: [{name: gw}]
hostnames: [grpc.example.com]
rules:
- name: echo
  matches:
  - method: {service: foo.bar.Echo, method: Ping}
    headers: [{name: x-user, value: "  spaces are fine in gRPC header matches"}]
  - method: {type: RegularExpression, service: "foo\\..*", method: "Get.*"}
  - method: {service: .foo.Bar}
  filters:
  - type: RequestHeaderModifier
    requestHeaderModifier: {add: [{name: x-a, value: b}]}
  - type: RequestMirror
    requestMirror: {backendRef: {name: shadow, port: 50051}, percent: 10}
  backendRefs:
  - name: echo
    port: 50051
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier: {remove: [x-b]}
- backendRefs: [{name: default, port: 50051}]
"#;

#[test]
fn a_grpc_route_with_every_feature_is_valid() {
    let report = grpc(FULL_GRPC_ROUTE);
    assert_eq!(report.errors, vec![]);
    assert_eq!(report.warnings, vec![]);
}

#[test]
fn grpc_method_matches() {
    let m = "spec.rules[0].matches";
    assert_eq!(
        grpc(
            "{rules: [{matches: [
                    {method: {type: Exact}},
                    {method: {service: com.example/User, method: 2fa}},
                    {method: {type: RegularExpression, service: '(a'}},
                    {method: {type: Prefix, method: Get}}
                ]}]}"
        )
        .errors
        .into_iter()
        .map(|(p, m)| if m.starts_with("regex") {
            (p, "regex".into())
        } else {
            (p, m)
        })
        .collect::<Vec<_>>(),
        vec![
            pair(
                &format!("{m}[0].method"),
                "a method match needs service, method or both; remove it to match every call"
            ),
            pair(
                &format!("{m}[1].method.service"),
                "service \"com.example/User\" is not valid; use identifiers (letters, digits \
                     and '_', not starting with a digit) separated by '.', such as foo.bar.Echo"
            ),
            pair(
                &format!("{m}[1].method.method"),
                "method \"2fa\" is not valid; use letters, digits and '_', not starting with \
                     a digit, such as Ping"
            ),
            pair(&format!("{m}[2].method.service"), "regex"),
            pair(
                &format!("{m}[3].method.type"),
                "method match type \"Prefix\" is not Exact or RegularExpression"
            ),
        ]
    );
}

#[test]
fn grpc_filters_are_a_smaller_set() {
    let f = "spec.rules[0].filters";
    assert_eq!(
        grpc(
            "{rules: [{filters: [
                    {type: RequestRedirect, requestRedirect: {scheme: https}},
                    {type: RequestHeaderModifier, requestHeaderModifier: {}},
                    {type: RequestHeaderModifier, requestHeaderModifier: {}},
                    {type: CORS, cors: {}}
                ]}]}"
        )
        .errors,
        vec![
            pair(
                &format!("{f}[0].type"),
                "filter type \"RequestRedirect\" is not one of RequestHeaderModifier, \
                     ResponseHeaderModifier, RequestMirror, ExtensionRef (GRPCRoute)"
            ),
            pair(
                &format!("{f}[0].requestRedirect"),
                "requestRedirect is not a GRPCRoute filter field; use one of \
                     RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef"
            ),
            pair(
                &format!("{f}[3].type"),
                "filter type \"CORS\" is not one of RequestHeaderModifier, \
                     ResponseHeaderModifier, RequestMirror, ExtensionRef (GRPCRoute)"
            ),
            pair(
                &format!("{f}[3].cors"),
                "cors is not a GRPCRoute filter field; use one of RequestHeaderModifier, \
                     ResponseHeaderModifier, RequestMirror, ExtensionRef"
            ),
            pair(
                &format!("{f}[2].type"),
                "filter type RequestHeaderModifier is repeated (first at filters[1]); it may \
                     appear at most once per filter list"
            ),
        ]
    );
}

const FULL_GATEWAY: &str = r#"
gatewayClassName: istio
addresses:
- value: 10.0.0.1
- type: IPAddress
  value: "2001:db8::1"
- type: Hostname
  value: lb.example.com
- type: example.com/custom
  value: anything goes
- type: NamedAddress
  value: my-address
listeners:
- name: http
  port: 80
  protocol: HTTP
  allowedRoutes:
    namespaces: {from: All}
    kinds: [{kind: HTTPRoute}, {group: gateway.networking.k8s.io, kind: GRPCRoute}]
- name: https
  port: 443
  protocol: HTTPS
  hostname: "*.example.com"
  tls:
    certificateRefs: [{name: cert}, {group: "", kind: Secret, name: other, namespace: certs}]
- name: https-options
  port: 443
  protocol: HTTPS
  hostname: api.example.com
  tls: {mode: Terminate, options: {example.com/cert: from-vault}}
- name: passthrough
  port: 8443
  protocol: TLS
  hostname: db.example.com
  tls: {mode: Passthrough}
- name: tcp
  port: 5432
  protocol: TCP
- name: custom
  port: 9000
  protocol: example.com/proto
infrastructure:
  labels: {app.kubernetes.io/name: gw, tier: ""}
  annotations: {example.com/note: "anything at all"}
  parametersRef: {group: "", kind: ConfigMap, name: gw-options}
tls:
  backend:
    clientCertificateRef: {name: client}
  frontend:
    default:
      validation:
        caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]
    perPort:
    - port: 443
      tls:
        validation:
          mode: AllowInsecureFallback
          caCertificateRefs: [{group: "", kind: ConfigMap, name: ca-443}]
"#;

#[test]
fn a_gateway_with_every_feature_is_valid() {
    let report = gateway(FULL_GATEWAY);
    assert_eq!(report.errors, vec![]);
    assert_eq!(report.warnings, vec![]);
}

#[test]
fn gateways_need_a_class_and_listeners() {
    assert_eq!(
        gateway("{}").errors,
        vec![
            pair(
                "spec.gatewayClassName",
                "gatewayClassName is required: it names the GatewayClass that implements the \
                     Gateway"
            ),
            pair("spec.listeners", "a Gateway needs at least one listener"),
        ]
    );
}

#[test]
fn listener_fields() {
    let l = "spec.listeners[0]";
    assert_eq!(
        listener_errors("[{name: 'bad>', port: 123456789, protocol: 'HTTP 2', hostname: '*'}]"),
        vec![
            pair(
                &format!("{l}.name"),
                "listener name \"bad>\" is not valid; use lower-case DNS labels (letters, \
                     digits and '-', starting and ending with a letter or digit) separated by '.'"
            ),
            pair(
                &format!("{l}.port"),
                "port 123456789 is out of range; use 1-65535"
            ),
            pair(
                &format!("{l}.protocol"),
                "protocol \"HTTP 2\" is not valid; use letters, digits and '-' (such as HTTP \
                     or HTTPS), or a domain-prefixed name such as example.com/proto"
            ),
            pair(
                &format!("{l}.hostname"),
                "hostname \"*\" is not valid; use lower-case DNS labels (letters, digits and \
                     '-', starting and ending with a letter or digit) separated by '.', \
                     optionally after a leading \"*.\"; no IP addresses, ports or schemes"
            ),
        ]
    );
    assert_eq!(
        listener_errors("[{}]"),
        vec![
            pair(
                &format!("{l}.name"),
                "listener name is required: routes attach to it by sectionName"
            ),
            pair(&format!("{l}.port"), "port is required"),
            pair(
                &format!("{l}.protocol"),
                "protocol is required; HTTP, HTTPS, TLS, TCP, UDP or a domain-prefixed \
                     protocol"
            ),
        ]
    );
    assert_eq!(
        listener_errors(
            "[{name: a, port: 80, protocol: TCP, hostname: example.com}, \
                 {name: b, port: 81, protocol: UDP, tls: {certificateRefs: [{name: c}]}}]"
        ),
        vec![
            pair(
                &format!("{l}.hostname"),
                "protocol TCP has no host names to match; remove hostname \"example.com\""
            ),
            pair(
                "spec.listeners[1].tls",
                "protocol UDP does not use TLS; remove tls, or use HTTPS or TLS"
            ),
        ]
    );
}

#[test]
fn the_crd_protocol_and_address_type_patterns_are_followed_as_written() {
    for ok in ["HTTP", "h2c", "example.com/proto", "x y/z", "a/b"] {
        assert!(is_protocol(ok), "{ok}");
    }
    for bad in ["", "-HTTP", "HTTP-", "HTTP/2", "a/", "a/b-c"] {
        assert!(!is_protocol(bad), "{bad}");
    }
    for ok in [
        "IPAddress",
        "Hostname",
        "NamedAddress",
        "example.com/custom",
        "HostnameX",
        "a/b/c",
    ] {
        assert!(is_address_type(ok), "{ok}");
    }
    for bad in ["hostname", "custom", "EXAMPLE/x", "a/", "a/b c"] {
        assert!(!is_address_type(bad), "{bad}");
    }
}

#[test]
fn listener_tls() {
    let l = "spec.listeners[0]";
    assert_eq!(
        listener_errors("[{name: a, port: 443, protocol: HTTPS, tls: {mode: Terminate}}]"),
        vec![pair(
            &format!("{l}.tls"),
            "tls mode Terminate needs certificateRefs or options to find a certificate"
        )]
    );
    assert_eq!(
        listener_errors("[{name: a, port: 443, protocol: HTTPS, tls: {mode: Passthrough}}]"),
        vec![pair(
            &format!("{l}.tls.mode"),
            "tls mode Passthrough is not allowed for protocol HTTPS, which terminates TLS; use \
                 Terminate, or protocol TLS to pass connections through"
        )]
    );
    assert_eq!(
        listener_errors("[{name: a, port: 443, protocol: TLS}]"),
        vec![pair(
            &format!("{l}.tls"),
            "protocol TLS needs tls with a mode (Terminate or Passthrough)"
        )]
    );
    assert_eq!(
        listener_errors(
            "[{name: a, port: 443, protocol: TLS, tls: {mode: Mutual, \
                 certificateRefs: [{kind: '', name: ''}]}}]"
        ),
        vec![
            pair(
                &format!("{l}.tls.mode"),
                "tls mode \"Mutual\" is not Terminate or Passthrough"
            ),
            pair(
                &format!("{l}.tls.certificateRefs[0].kind"),
                "kind \"\" is not valid; use 1-63 letters, digits or '-', starting with a \
                     letter and ending with a letter or digit"
            ),
            pair(
                &format!("{l}.tls.certificateRefs[0].name"),
                "name is required"
            ),
        ]
    );
    assert_eq!(
        listener_errors(
            "[{name: a, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: c}], \
                 frontendValidation: {}}}]"
        ),
        vec![pair(
            &format!("{l}.tls.frontendValidation"),
            "frontendValidation is not a listener tls field in Gateway API v1; client \
                 certificate validation is configured in spec.tls.frontend"
        )]
    );
    let report =
        gateway("{gatewayClassName: c, listeners: [{name: a, port: 443, protocol: HTTPS}]}");
    assert_eq!(report.errors, vec![]);
    assert_eq!(
        report.warnings,
        vec![(
            "missing-tls",
            format!("{l}.tls"),
            "protocol HTTPS needs tls with certificateRefs to terminate connections; \
                 implementations do not program this listener"
                .to_string()
        )]
    );
}

#[test]
fn listeners_are_unique() {
    assert_eq!(
        listener_errors(
            "[{name: a, port: 80, protocol: HTTP, hostname: a.com},
                  {name: a, port: 81, protocol: HTTP},
                  {name: b, port: 80, protocol: HTTP, hostname: a.com},
                  {name: c, port: 80, protocol: HTTP},
                  {name: d, port: 80, protocol: HTTP},
                  {name: e, port: 80, protocol: HTTPS, hostname: a.com, tls: {options: {k: v}}}]"
        ),
        vec![
            pair(
                "spec.listeners[1].name",
                "listener name \"a\" is already used by listeners[0]; names must be unique \
                     within the Gateway"
            ),
            pair(
                "spec.listeners[2]",
                "listeners[0] already has port 80, protocol HTTP and hostname \"a.com\"; each \
                     listener needs its own combination of the three"
            ),
            pair(
                "spec.listeners[4]",
                "listeners[3] already has port 80, protocol HTTP and no hostname; each \
                     listener needs its own combination of the three"
            ),
        ]
    );
}

#[test]
fn addresses() {
    assert_eq!(
        gateway(
            "{gatewayClassName: c, listeners: [{name: a, port: 80, protocol: HTTP}],
                  addresses: [
                    {value: 1.1.1},
                    {type: IPAddress, value: 1.2.3.4},
                    {value: 1.2.3.4},
                    {type: Hostname, value: 'a.com:80'},
                    {type: Hostname, value: ''},
                    {type: custom, value: x},
                    {type: IPAddress}
                  ]}"
        )
        .errors,
        vec![
            pair(
                "spec.addresses[0].value",
                "address \"1.1.1\" is not an IPv4 or IPv6 address (type IPAddress)"
            ),
            pair(
                "spec.addresses[2].value",
                "address \"1.2.3.4\" is already listed at addresses[1]; IPAddress values must \
                     be unique"
            ),
            pair(
                "spec.addresses[3].value",
                "address \"a.com:80\" is not a valid host name (type Hostname); use lower-case \
                     DNS labels (letters, digits and '-', starting and ending with a letter or \
                     digit) separated by '.', optionally after a leading \"*.\"; no IP addresses, \
                     ports or schemes"
            ),
            pair(
                "spec.addresses[5].type",
                "address type \"custom\" is not IPAddress, Hostname, NamedAddress or a \
                     domain-prefixed type such as example.com/custom"
            ),
        ]
    );
}

#[test]
fn gateway_infrastructure_and_tls() {
    let errors = gateway(
            "{gatewayClassName: c, listeners: [{name: a, port: 80, protocol: HTTP}],
              allowedListeners: {namespaces: {from: Some}},
              defaultScope: Most,
              backendTLS: {},
              infrastructure: {labels: {'-bad': v, ok: 'no spaces'}, parametersRef: {name: p}},
              tls: {frontend: {perPort: [{port: 443}, {port: 443, tls: {validation: {caCertificateRefs: []}}}]}}}",
        )
        .errors;
    let paths: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.allowedListeners.namespaces.from",
            "spec.infrastructure.labels[-bad]",
            "spec.infrastructure.labels[ok]",
            "spec.infrastructure.parametersRef.group",
            "spec.infrastructure.parametersRef.kind",
            "spec.tls.frontend.default",
            "spec.tls.frontend.perPort[0].tls",
            "spec.tls.frontend.perPort[1].port",
            "spec.tls.frontend.perPort[1].tls.validation.caCertificateRefs",
            "spec.backendTLS",
            "spec.defaultScope",
        ],
        "{errors:#?}"
    );
    assert_eq!(
        errors[2].1,
        "label value \"no spaces\" is not valid; use letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit"
    );
    assert_eq!(
        errors[7].1,
        "port 443 is already configured by perPort[0]; ports must be unique"
    );
}
