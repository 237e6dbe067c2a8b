//! The simple rules of `benches/compile.rs` and `examples/table_memory.rs`: a prefix `uri`
//! and an exact header each, one destination with a subset.

use std::fmt::Write as _;

/// Rules per VirtualService (and per YAML text); larger configs come as several.
pub const CHUNK: usize = 1000;

/// `n` rules as YAML texts of at most [`CHUNK`] rules: text `c` holds a DestinationRule
/// (subsets v1, v2) and a VirtualService for `web{c}.example.com`.
pub fn yaml_texts(n: usize) -> Vec<String> {
    (0..n.div_ceil(CHUNK))
        .map(|c| {
            let rules = CHUNK.min(n - c * CHUNK);
            let mut y = String::with_capacity(600 + rules * 160);
            write!(
                y,
                "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
                 metadata: {{name: web{c}, namespace: default}}\n\
                 spec:\n  host: web{c}.example.com\n  subsets:\n  \
                 - {{name: v1, labels: {{version: v1}}}}\n  - {{name: v2, labels: {{version: v2}}}}\n---\n\
                 apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
                 metadata: {{name: web{c}, namespace: default}}\n\
                 spec:\n  hosts: [web{c}.example.com]\n  http:\n"
            )
            .unwrap();
            for i in c * CHUNK..c * CHUNK + rules {
                let subset = if i % 2 == 0 { "v1" } else { "v2" };
                writeln!(
                    y,
                    "  - name: r{i}\n    match: [{{uri: {{prefix: /svc{i}}}, headers: {{x-tenant: {{exact: t{i}}}}}}}]\n    \
                     route: [{{destination: {{host: web{c}.example.com, subset: {subset}}}}}]"
                )
                .unwrap();
            }
            y
        })
        .collect()
}
