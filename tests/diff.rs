//! Change impact between two configurations: a weight change, a rule inserted above others,
//! and configurations written differently with the same meaning.

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
    assert!(!c.witness.path.starts_with("/api"));
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
    assert!(c.witness.path.starts_with("/api/v2"), "{:?}", c.witness);
    assert!(!c.witness.headers.iter().any(|(_, v)| v == "jason"));
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
