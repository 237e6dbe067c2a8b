//! Change impact between two configurations: a weight change, a rule inserted above others,
//! and configurations written differently with the same meaning; for requests and for
//! connections (VirtualService `tls` and `tcp` rules, Gateway API TLSRoute).

use meshroute::Table;
use meshroute::diff::diff;

const BASE: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: api
    match: [{uri: {prefix: /api}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: shift
    route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v3}, weight: 20}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings]
  http:
  - route: [{destination: {host: ratings}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
"#;

fn table(yaml: &str) -> Table {
    Table::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn identical_configs_have_no_diff() {
    let d = diff(&table(BASE), &table(BASE));
    assert!(d.is_empty(), "{d}");
    assert!(d.checked > 10, "{}", d.checked);
}

#[test]
fn a_weight_change_is_one_class() {
    let new = BASE
        .replace("weight: 80", "weight: 50")
        .replace("weight: 20", "weight: 50");
    let d = diff(&table(BASE), &table(&new));
    assert_eq!(d.changes.len(), 1, "{d}");
    let c = &d.changes[0];
    assert_eq!(c.before.destinations.len(), 2);
    assert_eq!(c.before.destinations[0].share, (4, 5));
    assert_eq!(c.after.destinations[0].share, (1, 2));
    // The witness is a request of the shifted rule: no jason header, not under /api.
    let text = d.to_string();
    assert!(
        text.contains("reviews.default.svc.cluster.local subset v1 80% → 50%"),
        "{text}"
    );
    let witness = c.witness.request().expect("a request");
    assert!(!witness.path.starts_with("/api"));
    assert_eq!(
        d.to_json()["changes"][0]["after"]["destinations"][0]["share"],
        serde_json::json!([1, 2])
    );
}

#[test]
fn scaling_weights_is_no_change() {
    let new = BASE
        .replace("weight: 80", "weight: 40")
        .replace("weight: 20", "weight: 10");
    assert!(diff(&table(BASE), &table(&new)).is_empty());
}

#[test]
fn a_rule_inserted_above_others_changes_only_what_it_takes() {
    let new = BASE.replacen(
        "  http:\n  - name: jason",
        "  http:\n  - name: canary\n    match: [{uri: {prefix: /api/v2}}]\n    route: [{destination: {host: reviews, subset: v2}}]\n  - name: jason",
        1,
    );
    let t_new = table(&new);
    let d = diff(&table(BASE), &t_new);
    assert_eq!(d.changes.len(), 1, "{d}");
    let c = &d.changes[0];
    let witness = c.witness.request().expect("a request");
    assert!(witness.path.starts_with("/api/v2"), "{witness:?}");
    assert!(!witness.headers.iter().any(|(_, v)| v == "jason"));
    assert_eq!(c.before.destinations[0].subset.as_deref(), Some("v3"));
    assert_eq!(c.after.destinations[0].subset.as_deref(), Some("v2"));
    assert!(c.after_rule.as_deref().unwrap().contains("(\"canary\")"));
}

#[test]
fn reordered_keys_and_resources_are_equivalent() {
    let reordered = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {namespace: default, name: reviews}
spec:
  subsets:
  - {labels: {version: v3}, name: v3}
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  host: reviews
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: default}
spec:
  http:
  - route: [{destination: {host: ratings}}]
  hosts: [ratings]
---
kind: VirtualService
apiVersion: networking.istio.io/v1
metadata: {namespace: default, name: reviews}
spec:
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    name: jason
    route: [{destination: {subset: v2, host: reviews}}]
  - route: [{destination: {host: reviews, subset: v3}}]
    name: api
    match: [{uri: {prefix: /api}}]
  - route:
    - {weight: 80, destination: {host: reviews, subset: v1}}
    - {destination: {host: reviews, subset: v3}, weight: 20}
    name: shift
  - name: never
    match: [{uri: {prefix: /old}}]
    route: [{destination: {host: reviews, subset: v1}}]
  hosts: [reviews]
"#;
    let d = diff(&table(BASE), &table(reordered));
    assert!(d.is_empty(), "{d}");
}

#[test]
fn short_and_fully_qualified_hosts_are_equivalent() {
    let fqdn = BASE
        .replace(
            "hosts: [reviews]",
            "hosts: [reviews.default.svc.cluster.local]",
        )
        .replace("host: reviews,", "host: reviews.default.svc.cluster.local,")
        .replace("host: reviews}", "host: reviews.default.svc.cluster.local}");
    assert_ne!(fqdn, BASE);
    let d = diff(&table(BASE), &table(&fqdn));
    assert!(d.is_empty(), "{d}");
}

/// Istio's TCP traffic shifting task (istio/istio samples/tcp-echo/tcp-echo-all-v1.yaml and
/// tcp-echo-20-v2.yaml): the `tcp-echo-gateway` takes TCP on 31400 and the VirtualService bound
/// to it sends 80% of the connections to v1 and 20% to v2.
const TCP_ECHO: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tcp-echo-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo-destination, namespace: default}
spec:
  host: tcp-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo, namespace: default}
spec:
  hosts: ["*"]
  gateways: [tcp-echo-gateway]
  tcp:
  - match:
    - port: 31400
    route:
    - destination: {host: tcp-echo, port: {number: 9000}, subset: v1}
      weight: 80
    - destination: {host: tcp-echo, port: {number: 9000}, subset: v2}
      weight: 20
"#;

/// The split of an effect as (subset, share) pairs.
fn split(e: &meshroute::diff::Effect) -> Vec<(Option<&str>, (u64, u64))> {
    e.destinations
        .iter()
        .map(|s| (s.subset.as_deref(), s.share))
        .collect()
}

#[test]
fn identical_connection_configs_have_no_diff() {
    let d = diff(&table(TCP_ECHO), &table(TCP_ECHO));
    assert!(d.is_empty(), "{d}");
    assert!(d.checked_connections > 0, "{}", d.checked_connections);
}

/// Istio's TCP traffic shifting task, the weights moved from 80/20 to 50/50: one class of
/// connections, those the gateway takes on 31400.
#[test]
fn a_tcp_weight_change_is_one_class_of_connections() {
    let new = TCP_ECHO
        .replace("weight: 80", "weight: 50")
        .replace("weight: 20", "weight: 50");
    let d = diff(&table(TCP_ECHO), &table(&new));
    assert_eq!(d.changes.len(), 1, "{d}");
    let c = &d.changes[0];
    assert_eq!((c.before.outcome, c.after.outcome), ("forward", "forward"));
    assert_eq!(
        split(&c.before),
        [(Some("v1"), (4, 5)), (Some("v2"), (1, 5))]
    );
    assert_eq!(
        split(&c.after),
        [(Some("v1"), (1, 2)), (Some("v2"), (1, 2))]
    );
    assert!(c.before.actions.is_empty() && c.after.actions.is_empty());
    assert_eq!(c.before.destinations[0].port, Some(9000));
    let rule = "VirtualService default/tcp-echo spec.tcp[0].match[0]";
    assert_eq!(c.before_rule.as_deref(), Some(rule));
    assert_eq!(c.after_rule.as_deref(), Some(rule));
    let conn = c.witness.connection().expect("a connection");
    assert_eq!(
        *conn,
        meshroute::OwnedConnection::tcp(31400).at_gateway("default", "tcp-echo-gateway")
    );
    let text = d.to_string();
    assert!(text.contains("change 1: 1 connection\n"), "{text}");
    assert!(
        text.contains("tcp-echo.default.svc.cluster.local subset v1 port 9000 80% → 50%"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"e.g.     {"protocol": "tcp", "port": 31400, "gateway": "default/tcp-echo-gateway"}"#
        ),
        "{text}"
    );
    assert_eq!(
        d.to_json()["changes"][0]["witness"],
        serde_json::json!({"protocol": "tcp", "port": 31400, "gateway": "default/tcp-echo-gateway"})
    );
}

/// Istio's ingress SNI passthrough task (istio.io docs tasks/traffic-management/ingress/
/// ingress-sni-passthrough): a PASSTHROUGH server on 443 and a VirtualService whose `tls` rule
/// routes the SNI `nginx.example.com` to `my-nginx`; here the server takes `*.example.com`
/// and the rule's sniHosts move to `web.example.com`.
#[test]
fn a_tls_sni_hosts_change_moves_the_names() {
    let old = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mygateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: PASSTHROUGH}
    hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx, namespace: default}
spec:
  hosts: ["*.example.com"]
  gateways: [mygateway]
  tls:
  - match:
    - port: 443
      sniHosts: [nginx.example.com]
    route:
    - destination: {host: my-nginx, port: {number: 443}}
"#;
    let new = old.replace(
        "sniHosts: [nginx.example.com]",
        "sniHosts: [web.example.com]",
    );
    let d = diff(&table(old), &table(&new));
    assert_eq!(d.changes.len(), 2, "{d}");
    let sni = |c: &meshroute::diff::Change| {
        let conn = c.witness.connection().expect("a connection");
        assert_eq!(conn.port, 443);
        assert_eq!(conn.gateway, Some(("default".into(), "mygateway".into())));
        conn.sni.clone()
    };
    // The name the rule no longer routes is closed (no filter chain matches it).
    let (gone, came) = (&d.changes[0], &d.changes[1]);
    assert_eq!(
        (gone.before.outcome, gone.after.outcome),
        ("forward", "no-route")
    );
    assert_eq!(
        gone.before.destinations[0].host,
        "my-nginx.default.svc.cluster.local"
    );
    assert_eq!(gone.before.destinations[0].share, (1, 1));
    assert_eq!(sni(gone).as_deref(), Some("nginx.example.com"));
    assert_eq!(gone.requests, 1, "{d}");
    assert_eq!(
        gone.before_rule.as_deref(),
        Some("VirtualService default/nginx spec.tls[0].match[0]")
    );
    assert_eq!(gone.after_rule, None);
    // The name it now routes was closed.
    assert_eq!(
        (came.before.outcome, came.after.outcome),
        ("no-route", "forward")
    );
    assert_eq!(sni(came).as_deref(), Some("web.example.com"));
    assert_eq!(came.after.destinations, gone.before.destinations);
    let text = d.to_string();
    assert!(
        text.contains(r#"e.g.     {"protocol": "tls", "sni": "nginx.example.com", "port": 443"#),
        "{text}"
    );
}

/// Gateway API conformance tlsroute-simple-same-namespace (kubernetes-sigs/gateway-api
/// conformance/tests/tlsroute-simple-same-namespace.yaml): the TLSRoute for `abc.example.com`
/// on the Passthrough listener, its backend replaced.
#[test]
fn a_tlsroute_backend_change_is_one_class() {
    let old = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gateway-tlsroute, namespace: gateway-conformance-infra}
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    port: 443
    protocol: TLS
    hostname: "*.example.com"
    allowedRoutes:
      namespaces: {from: Same}
      kinds: [{kind: TLSRoute}]
    tls: {mode: Passthrough}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: gateway-conformance-infra-test, namespace: gateway-conformance-infra}
spec:
  parentRefs:
  - {name: gateway-tlsroute, namespace: gateway-conformance-infra}
  hostnames: [abc.example.com]
  rules:
  - backendRefs: [{name: tls-backend, port: 443}]
"#;
    let new = old.replace("name: tls-backend,", "name: tls-backend-v2,");
    let d = diff(&table(old), &table(&new));
    assert_eq!(d.changes.len(), 1, "{d}");
    let c = &d.changes[0];
    assert_eq!((c.before.outcome, c.after.outcome), ("forward", "forward"));
    let hosts = |e: &meshroute::diff::Effect| {
        e.destinations
            .iter()
            .map(|s| (s.host.clone(), s.port, s.share))
            .collect::<Vec<_>>()
    };
    let ns = "gateway-conformance-infra.svc.cluster.local";
    assert_eq!(
        hosts(&c.before),
        [(format!("tls-backend.{ns}"), Some(443), (1, 1))]
    );
    assert_eq!(
        hosts(&c.after),
        [(format!("tls-backend-v2.{ns}"), Some(443), (1, 1))]
    );
    let conn = c.witness.connection().expect("a connection");
    assert_eq!(
        *conn,
        meshroute::OwnedConnection::tls("abc.example.com", 443)
            .at_gateway("gateway-conformance-infra", "gateway-tlsroute")
    );
    assert_eq!(c.requests, 1, "{d}");
    let rule = "TLSRoute gateway-conformance-infra/gateway-conformance-infra-test spec.rules[0]";
    assert_eq!(c.before_rule.as_deref(), Some(rule));
    assert_eq!(c.after_rule.as_deref(), Some(rule));
}

#[test]
fn reordered_connection_resources_are_equivalent() {
    let docs: Vec<&str> = TCP_ECHO.split("\n---\n").collect();
    let reordered: Vec<&str> = docs.iter().rev().copied().collect();
    let reordered = reordered.join("\n---\n").replace(
        "hosts: [\"*\"]\n  gateways: [tcp-echo-gateway]",
        "gateways: [tcp-echo-gateway]\n  hosts: [\"*\"]",
    );
    assert_ne!(reordered, TCP_ECHO);
    let d = diff(&table(TCP_ECHO), &table(&reordered));
    assert!(d.is_empty(), "{d}");
}

/// A mesh `tcp` rule's `destinationSubnets` moved (istio/istio
/// pilot/pkg/networking/core/tcp_route.go: a match with subnets is a filter chain of its own,
/// taken by the destination address): the connections to the old block now fall to the rule
/// without a match, those to the new block leave it.
#[test]
fn a_destination_subnets_change_moves_the_addresses() {
    let old = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mongo, namespace: default}
spec:
  hosts: [mongo]
  tcp:
  - match:
    - port: 27017
      destinationSubnets: [10.1.0.0/16]
    route: [{destination: {host: mongo-a}}]
  - route: [{destination: {host: mongo-b}}]
"#;
    let new = old.replace("10.1.0.0/16", "10.9.0.0/16");
    let d = diff(&table(old), &table(&new));
    assert_eq!(d.changes.len(), 2, "{d}");
    let host = |e: &meshroute::diff::Effect| e.destinations[0].host.clone();
    let ip = |c: &meshroute::diff::Change| {
        let conn = c.witness.connection().expect("a connection");
        assert_eq!(conn.port, 27017);
        assert_eq!(
            conn.host.as_deref(),
            Some("mongo.default.svc.cluster.local")
        );
        conn.destination_ip.map(|ip| ip.to_string())
    };
    let (left, joined) = (&d.changes[0], &d.changes[1]);
    assert_eq!(host(&left.before), "mongo-a.default.svc.cluster.local");
    assert_eq!(host(&left.after), "mongo-b.default.svc.cluster.local");
    assert_eq!(ip(left).as_deref(), Some("10.1.0.1"));
    assert_eq!(
        left.after_rule.as_deref(),
        Some("VirtualService default/mongo spec.tcp[1]")
    );
    assert_eq!(host(&joined.before), "mongo-b.default.svc.cluster.local");
    assert_eq!(host(&joined.after), "mongo-a.default.svc.cluster.local");
    assert_eq!(ip(joined).as_deref(), Some("10.9.0.1"));
}
