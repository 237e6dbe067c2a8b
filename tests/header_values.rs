//! Header names, header values and hostnames that cannot go on the wire are compile errors
//! naming the field: a CR LF in a header operation is header injection, and a match literal
//! holding a control character could never match.

mod common;
use common::errors;

/// A VirtualService whose one http rule is `rule` (a YAML flow mapping).
fn vs(rule: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: r}}\n\
         spec:\n  hosts: [r]\n  http:\n  - {rule}\n"
    )
}

fn httproute(spec: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: h}}\n\
         spec: {spec}\n"
    )
}

/// Envoy `api/envoy/config/core/v3/base.proto` `HeaderValue.key` (`HTTP_HEADER_NAME`) and the
/// `http` crate's `HeaderName::from_bytes`: a header name is a token. Istio's
/// `ValidateHTTPHeaderOperationName` checks only ':' and `host`, so a CR LF reached Envoy.
#[test]
fn header_operation_names_are_tokens() {
    assert_eq!(
        errors(&vs(
            "{headers: {request: {set: {\"x-a\\r\\nx-b\": v}, remove: [\"x c\"]}, response: {add: {\"x\\u0000\": v}}}, route: [{destination: {host: r}}]}"
        )),
        [
            "test.yaml: VirtualService default/r: spec.http[0].headers.request.set[x-a\r\nx-b]: \
             header name \"x-a\\r\\nx-b\" is not valid; use letters, digits and !#$%&'*+-.^_`|~",
            "test.yaml: VirtualService default/r: spec.http[0].headers.request.remove[0]: header \
             name \"x c\" is not valid; use letters, digits and !#$%&'*+-.^_`|~",
            "test.yaml: VirtualService default/r: spec.http[0].headers.response.add[x\0]: header \
             name \"x\\0\" is not valid; use letters, digits and !#$%&'*+-.^_`|~",
        ]
    );
}

/// Istio `pkg/config/validation/validation.go` `ValidateHTTPHeaderValue`
/// (`httpHeaderValueRegexp`): no control characters but tab, in header operation values.
#[test]
fn header_operation_values_hold_no_control_characters() {
    assert_eq!(
        errors(&vs(
            "{headers: {request: {set: {x-a: \"v\\r\\nx-b: 1\"}}}, route: [{destination: {host: r}}]}"
        )),
        [
            "test.yaml: VirtualService default/r: spec.http[0].headers.request.set[x-a]: header \
             value \"v\\r\\nx-b: 1\" contains control character U+000D; only tab is allowed"
        ]
    );
}

/// The `http` crate's `HeaderValue::from_bytes` refuses control characters but tab: no request
/// carries one, so a header match literal holding one never matches (Envoy
/// `source/common/http/header_utility.cc`, `HeaderUtility::headerValueIsValid`).
#[test]
fn header_match_literals_hold_no_control_characters() {
    assert_eq!(
        errors(&vs(
            "{match: [{headers: {x-a: {exact: \"a\\nb\"}}, withoutHeaders: {x-b: {prefix: \"\\u0000\"}}, authority: {exact: \"a\\rb\"}}], route: [{destination: {host: r}}]}"
        )),
        [
            "test.yaml: VirtualService default/r: spec.http[0].match[0].headers[x-a].exact: exact \
             literal \"a\\nb\" contains control character U+000A; only tab is allowed",
            "test.yaml: VirtualService default/r: spec.http[0].match[0].withoutHeaders[x-b].prefix: \
             prefix literal \"\\0\" contains control character U+0000; only tab is allowed",
            "test.yaml: VirtualService default/r: spec.http[0].match[0].authority.exact: exact \
             literal \"a\\rb\" contains control character U+000D; only tab is allowed",
        ]
    );
}

/// Envoy matches query parameters on the raw (still percent-encoded) query of `:path`, which,
/// as a header, holds no NUL, CR or LF: a query match literal holding a control character never
/// matches (`%00` is how a client sends a NUL, and it is three bytes there).
#[test]
fn query_match_literals_hold_no_control_characters() {
    assert_eq!(
        errors(&vs(
            "{match: [{queryParams: {q: {exact: \"a\\u0000b\"}, r: {prefix: \"\\r\\n\"}, s: {exact: \"a\\u007f\"}, t: {exact: \"a\\tb\"}, u: {exact: \"%00\"}}}], route: [{destination: {host: r}}]}"
        )),
        [
            "test.yaml: VirtualService default/r: spec.http[0].match[0].queryParams[q].exact: exact \
             literal \"a\\0b\" contains control character U+0000; only tab is allowed",
            "test.yaml: VirtualService default/r: spec.http[0].match[0].queryParams[r].prefix: \
             prefix literal \"\\r\\n\" contains control character U+000D; only tab is allowed",
            "test.yaml: VirtualService default/r: spec.http[0].match[0].queryParams[s].exact: exact \
             literal \"a\\u{7f}\" contains control character U+007F; only tab is allowed",
        ]
    );
    assert_eq!(
        errors(&httproute(
            "{rules: [{matches: [{queryParams: [{name: q, value: \"a\\nb\"}, {name: r, type: RegularExpression, value: \"a\\\\nb\"}]}]}]}"
        )),
        [
            "test.yaml: HTTPRoute default/h: spec.rules[0].matches[0].queryParams[0].value: query \
             parameter match value \"a\\nb\" contains control character U+000A; only tab is allowed"
        ]
    );
}

/// Envoy `api/envoy/config/route/v3/route_components.proto`: `host_rewrite_literal` and
/// `host_redirect` are `HTTP_HEADER_VALUE`s (no NUL, CR or LF).
#[test]
fn rewritten_and_redirected_authorities_hold_no_control_characters() {
    assert_eq!(
        errors(&vs(
            "{rewrite: {authority: \"a\\r\\nb\"}, route: [{destination: {host: r}}]}"
        )),
        [
            "test.yaml: VirtualService default/r: spec.http[0].rewrite.authority: authority \
             \"a\\r\\nb\" contains control character U+000D; only tab is allowed"
        ]
    );
    assert_eq!(
        errors(&vs("{redirect: {authority: \"a\\nb\"}}")),
        [
            "test.yaml: VirtualService default/r: spec.http[0].redirect.authority: authority \
             \"a\\nb\" contains control character U+000A; only tab is allowed"
        ]
    );
}

/// kubernetes-sigs/gateway-api `apis/v1/shared_types.go`, `Hostname` and `PreciseHostname`:
/// "IP addresses are not allowed", though the CRD pattern lets a dotted quad through.
#[test]
fn gateway_api_hostnames_are_not_ip_addresses() {
    assert_eq!(
        errors(&httproute(
            "{hostnames: [10.0.0.1], rules: [{filters: [{type: RequestRedirect, requestRedirect: {hostname: 192.168.0.1}}]}]}"
        )),
        [
            "test.yaml: HTTPRoute default/h: spec.hostnames[0]: hostname \"10.0.0.1\" is an IP \
             address; the Gateway API allows only DNS names here",
            "test.yaml: HTTPRoute default/h: spec.rules[0].filters[0].requestRedirect.hostname: \
             redirect hostname \"192.168.0.1\" is an IP address; the Gateway API allows only DNS \
             names here",
        ]
    );
    let gateway = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n\
                   spec: {gatewayClassName: c, listeners: [{name: l, port: 80, protocol: HTTP, hostname: 10.1.2.3}]}\n";
    assert_eq!(
        errors(gateway),
        [
            "test.yaml: Gateway default/g: spec.listeners[0].hostname: hostname \"10.1.2.3\" is an \
             IP address; the Gateway API allows only DNS names here"
        ]
    );
}
