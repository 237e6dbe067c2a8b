//! `http::Request<B>` as a meshroute request (cargo feature `http`).
#![cfg(feature = "http")]

use meshroute::{SourceInfo, Table};

const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: prod}
spec:
  hosts: [api.example.com]
  gateways: [prod/edge, mesh]
  http:
  - match:
    - headers: {x-canary: {exact: "on,yes"}}
      queryParams: {v: {exact: "2"}}
      sourceNamespace: web
    route: [{destination: {host: api, subset: canary}}]
  - route: [{destination: {host: api, subset: stable}}]
"#;

#[test]
fn http_requests_decide_like_owned_ones() {
    let table = Table::from_yaml(CONFIG).unwrap();
    let mut req = http::Request::builder()
        .method("GET")
        .uri("http://api.example.com:8080/items?v=2")
        .header("X-Canary", "on")
        .header("x-canary", "yes")
        .body(())
        .unwrap();
    req.extensions_mut().insert(SourceInfo {
        namespace: Some("web".into()),
        ..SourceInfo::default()
    });
    let d = table.decide_with_draw(&req, 0);
    assert_eq!(d.destination().unwrap().subset.as_deref(), Some("canary"));

    // The same request at the edge gateway, without the source namespace: the stable rule.
    let mut at_edge = http::Request::builder()
        .uri("/items?v=2")
        .header("host", "API.example.com")
        .body(())
        .unwrap();
    at_edge.extensions_mut().insert(SourceInfo {
        gateway: Some(("prod".into(), "edge".into())),
        ..SourceInfo::default()
    });
    let d = table.decide_with_draw(&at_edge, 0);
    assert_eq!(d.destination().unwrap().subset.as_deref(), Some("stable"));
}
