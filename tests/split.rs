//! T(x), the weighted split: exact over every draw in [0, total), and statistical with a real
//! RNG, a fixed seed and a chi-squared bound; weight-0 destinations never chosen.

use meshroute::{OwnedRequest, Table};

fn table(weights: &[u32]) -> Table {
    let mut yaml = String::from(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: s, namespace: default}\nspec:\n  hosts: [s]\n  http:\n  - route:\n",
    );
    for (i, w) in weights.iter().enumerate() {
        yaml.push_str(&format!(
            "    - {{destination: {{host: s, subset: v{i}}}, weight: {w}}}\n"
        ));
    }
    Table::from_yaml(&yaml).unwrap()
}

fn subset_index(t: &Table, req: &OwnedRequest, draw: u64) -> usize {
    let d = t.decide_with_draw(req, draw);
    let s = d
        .destination()
        .expect("forwarded")
        .subset
        .as_deref()
        .expect("subset");
    s[1..].parse().unwrap()
}

fn req() -> OwnedRequest {
    OwnedRequest::new("GET", "http://s/x").from_namespace("default")
}

#[test]
fn every_draw_in_the_total_lands_exactly_by_weight() {
    for weights in [
        &[1u32, 2][..],
        &[80, 15, 5],
        &[0, 5],
        &[3, 0, 7, 0],
        &[1, 1, 1, 1, 1, 1, 1],
        &[999_999, 1],
    ] {
        let t = table(weights);
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut hits = vec![0u64; weights.len()];
        for u in 0..total {
            hits[subset_index(&t, &req(), u)] += 1;
        }
        let expected: Vec<u64> = weights.iter().map(|&w| u64::from(w)).collect();
        assert_eq!(hits, expected, "weights {weights:?}");
        // The draw is taken modulo the total: the next period repeats the first.
        assert_eq!(subset_index(&t, &req(), total), subset_index(&t, &req(), 0));
    }
}

#[test]
fn intervals_follow_declaration_order() {
    let t = table(&[1, 2]);
    assert_eq!([0, 1, 2].map(|u| subset_index(&t, &req(), u)), [0, 1, 1]);
}

#[test]
fn one_destination_takes_everything_whatever_its_weight() {
    let t = table(&[0]);
    for u in [0, 1, 17, u64::MAX] {
        assert_eq!(subset_index(&t, &req(), u), 0);
    }
}

#[test]
fn all_zero_weights_are_rejected() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: s, namespace: default}\nspec:\n  hosts: [s]\n  http:\n  - route:\n    - {destination: {host: s, subset: a}, weight: 0}\n    - {destination: {host: s, subset: b}, weight: 0}\n";
    let err = Table::from_yaml(yaml).unwrap_err().to_string();
    assert!(
        err.starts_with("VirtualService default/s: spec.http[0].route: "),
        "{err}"
    );
}

#[test]
fn random_draws_match_the_weights_chi_squared() {
    // Pearson chi-squared, df = 2 (three non-zero buckets), alpha = 1e-3: critical value 13.82.
    let weights = [70u32, 20, 10, 0];
    let t = table(&weights);
    let mut rng = rand_pcg::Pcg64::new(0x5eed, 0xda7a);
    let n = 100_000u64;
    let mut hits = [0u64; 4];
    let r = req();
    for _ in 0..n {
        let d = t.decide(&r, &mut rng);
        let s = d.destination().unwrap().subset.as_deref().unwrap();
        hits[s[1..].parse::<usize>().unwrap()] += 1;
    }
    assert_eq!(hits[3], 0, "a weight-0 destination was chosen");
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let chi2: f64 = weights[..3]
        .iter()
        .zip(&hits[..3])
        .map(|(&w, &h)| {
            let e = n as f64 * f64::from(w) / total;
            (h as f64 - e).powi(2) / e
        })
        .sum();
    assert!(
        chi2 < 13.82,
        "chi-squared {chi2:.2} over the 1e-3 critical value; hits {hits:?}"
    );
}
