//! Reload: a new table built from changed config never disturbs the one in use, a failed build
//! leaves the old one serving, and concurrent readers see one table or the other, whole.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};

use meshroute::{CompileOptions, Config, OwnedRequest, Shared, Table, compile};

/// Every path prefix in `prefixes` goes to `subset`, everything else to `fallback`.
fn config(prefixes: &[&str], subset: &str, fallback: &str) -> Config {
    let mut text = String::from(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {name: shop, namespace: default}\nspec:\n  hosts: [shop]\n  http:\n",
    );
    for p in prefixes {
        text.push_str(&format!(
            "  - match: [{{uri: {{prefix: {p}}}}}]\n    route: [{{destination: {{host: shop, subset: {subset}}}}}]\n"
        ));
    }
    text.push_str(&format!(
        "  - route: [{{destination: {{host: shop, subset: {fallback}}}}}]\n"
    ));
    Config::from_str(&text, "shop.yaml").unwrap()
}

fn subset(table: &Table, path: &str) -> String {
    let req = OwnedRequest::new("GET", &format!("http://shop{path}")).from_namespace("default");
    let d = table.decide_with_draw(&req, 0);
    d.destination()
        .unwrap()
        .subset
        .as_deref()
        .unwrap()
        .to_string()
}

#[test]
fn a_failed_reload_keeps_the_table_serving() {
    let options = CompileOptions::default();
    let blue = compile(&config(&["/a"], "blue", "v1"), &options).unwrap();
    let tables = Shared::new(blue.table);

    // Rejected resource: a negative weight. The table in use keeps answering as before.
    let text = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
                metadata: {name: shop, namespace: default}\nspec:\n  hosts: [shop]\n  http:\n  \
                - route: [{destination: {host: shop, subset: red}, weight: -5}]\n";
    let bad = Config::from_str(text, "bad.yaml").unwrap();
    let errors = tables.reload(&bad, &options).unwrap_err();
    let shown = errors.to_string();
    assert!(
        shown.contains("spec.http[0].route[0].weight"),
        "the error names the field: {shown}"
    );
    assert_eq!(subset(&tables.load(), "/a/1"), "blue");

    // Strict compile failing as a whole: same.
    assert!(tables.reload(&bad, &CompileOptions::strict()).is_err());
    assert_eq!(subset(&tables.load(), "/a/1"), "blue");

    // A good reload replaces it; a reader holding the old table still sees the old answers.
    let held = tables.load();
    let green = tables
        .reload(&config(&["/a"], "green", "v1"), &options)
        .unwrap();
    assert!(green.rejected.is_empty());
    assert_eq!(subset(&tables.load(), "/a/1"), "green");
    assert_eq!(subset(&held, "/a/1"), "blue");
}

#[test]
fn try_store_keeps_the_value_on_error() {
    let shared = Shared::new(1u32);
    let r: Result<_, &str> = shared.try_store(|_| Err("no"));
    assert_eq!(r.unwrap_err(), "no");
    assert_eq!(*shared.load(), 1);
    let old = shared.try_store(|v| Ok::<_, ()>(v + 1)).unwrap();
    assert_eq!((*old, *shared.load()), (1, 2));
}

#[test]
fn concurrent_readers_see_one_table_whole() {
    // Both tables route 16 prefixes; one sends them all to blue, the other all to green. A
    // reader that saw a mix inside one loaded table would have seen a half-applied update.
    let prefixes: Vec<String> = (0..16).map(|i| format!("/p{i}")).collect();
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let options = CompileOptions::default();
    let blue = compile(&config(&prefixes, "blue", "blue"), &options).unwrap();
    let green_config = config(&prefixes, "green", "green");
    let blue_config = config(&prefixes, "blue", "blue");
    let tables = Shared::new(blue.table);
    let stop = AtomicBool::new(false);
    let (blues, greens) = (AtomicU32::new(0), AtomicU32::new(0));

    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !stop.load(Relaxed) {
                    let table = tables.load();
                    let seen: Vec<String> = prefixes
                        .iter()
                        .map(|p| subset(&table, &format!("{p}/x")))
                        .collect();
                    let first = &seen[0];
                    assert!(seen.iter().all(|s| s == first), "a mix: {seen:?}");
                    match first.as_str() {
                        "blue" => blues.fetch_add(1, Relaxed),
                        _ => greens.fetch_add(1, Relaxed),
                    };
                }
            });
        }
        // Swap until both tables were seen often; bounded, so a stuck reader fails the test.
        for i in 0..20_000u32 {
            let next = if i % 2 == 0 {
                &green_config
            } else {
                &blue_config
            };
            tables.reload(next, &options).unwrap();
            if blues.load(Relaxed) > 50 && greens.load(Relaxed) > 50 {
                break;
            }
        }
        stop.store(true, Relaxed);
    });
    assert!(blues.load(Relaxed) > 0 && greens.load(Relaxed) > 0);
}
