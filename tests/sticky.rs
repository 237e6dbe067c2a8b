//! Sticky weighted split: T(x) driven by a request key's hash. One user keeps one version on
//! every draw, and a weight ramp moves only the users it must, toward the growing version.

use meshroute::{OwnedRequest, Table};

fn table(v1: u32, v2: u32) -> Table {
    Table::from_yaml(&format!(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: default
  annotations: {{meshroute.io/sticky-split: \"header:x-user\"}}
spec:
  hosts: [reviews]
  http:
  - route:
    - {{destination: {{host: reviews, subset: v1}}, weight: {v1}}}
    - {{destination: {{host: reviews, subset: v2}}, weight: {v2}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews, namespace: default}}
spec:
  host: reviews
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
"
    ))
    .unwrap()
}

fn version(t: &Table, user: Option<&str>, draw: u64) -> String {
    let mut r = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    if let Some(u) = user {
        r = r.header("x-user", u);
    }
    let d = t.decide_with_draw(&r, draw);
    d.destination()
        .unwrap()
        .subset
        .as_deref()
        .unwrap()
        .to_string()
}

#[test]
fn one_user_keeps_one_version_whatever_the_draw() {
    let t = table(50, 50);
    for u in 0..200 {
        let user = format!("user-{u}");
        let first = version(&t, Some(&user), 0);
        for draw in [1, 7, 99, 12345, u64::MAX] {
            assert_eq!(
                version(&t, Some(&user), draw),
                first,
                "{user} moved with the draw"
            );
        }
    }
}

#[test]
fn without_the_key_the_draw_decides() {
    let t = table(50, 50);
    assert_eq!(version(&t, None, 0), "v1");
    assert_eq!(version(&t, None, 50), "v2");
}

#[test]
fn a_ramp_moves_only_the_users_it_must() {
    let users: Vec<String> = (0..20_000).map(|u| format!("user-{u}")).collect();
    let stages = [(90, 10), (80, 20), (50, 50), (0, 100)];
    let mut before: Option<Vec<String>> = None;
    for (v1, v2) in stages {
        let t = table(v1, v2);
        let now: Vec<String> = users.iter().map(|u| version(&t, Some(u), 0)).collect();
        let share_v2 = now.iter().filter(|v| *v == "v2").count() as f64 / users.len() as f64;
        assert!(
            (share_v2 - f64::from(v2) / 100.0).abs() < 0.015,
            "v2 share {share_v2} at {v1}/{v2}"
        );
        if let Some(prev) = &before {
            let back = prev
                .iter()
                .zip(&now)
                .filter(|(a, b)| *a == "v2" && *b == "v1")
                .count();
            assert_eq!(back, 0, "users moved from v2 back to v1 at {v1}/{v2}");
            let moved =
                prev.iter().zip(&now).filter(|(a, b)| a != b).count() as f64 / users.len() as f64;
            let prev_v2 = prev.iter().filter(|v| *v == "v2").count() as f64 / users.len() as f64;
            assert!(
                (moved - (share_v2 - prev_v2)).abs() < 1e-9,
                "more users moved ({moved}) than the ramp needs"
            );
        }
        before = Some(now);
    }
}

#[test]
fn a_bad_sticky_annotation_names_the_field() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n  namespace: default\n  annotations: {meshroute.io/sticky-split: \"header\"}\nspec:\n  hosts: [r]\n  http: [{route: [{destination: {host: r}}]}]\n";
    let e = Table::from_yaml(yaml).unwrap_err().to_string();
    assert_eq!(
        e,
        "VirtualService default/r: metadata.annotations[meshroute.io/sticky-split]: \"header\" is not a request key; write header:NAME, cookie:NAME, query:NAME or source-ip"
    );
}
