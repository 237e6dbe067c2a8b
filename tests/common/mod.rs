//! Shared by the test binaries that read `tests/data/*.yaml` fixtures.

use meshroute::OwnedRequest;
use serde_json::Value;

/// A fixture request (`{method, scheme, authority, path, headers: {k: v or [v...]}, port,
/// source_labels, source_namespace, gateway: ns/name}`) as an [`OwnedRequest`].
pub fn request(r: &Value) -> OwnedRequest {
    let s = |k: &str, d: &str| r[k].as_str().unwrap_or(d).to_string();
    let mut req = OwnedRequest {
        method: s("method", "GET"),
        scheme: s("scheme", "http"),
        authority: s("authority", ""),
        path: s("path", "/"),
        port: r["port"].as_u64().map(|p| p as u16),
        source_namespace: r["source_namespace"].as_str().map(String::from),
        ..OwnedRequest::default()
    };
    for (k, v) in r["headers"].as_object().into_iter().flatten() {
        match v {
            Value::Array(vs) => vs
                .iter()
                .for_each(|v| req.headers.push((k.clone(), v.as_str().unwrap().into()))),
            v => req.headers.push((
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), String::from),
            )),
        }
    }
    for (k, v) in r["source_labels"].as_object().into_iter().flatten() {
        req.source_labels
            .insert(k.clone(), v.as_str().unwrap().into());
    }
    if let Some(g) = r["gateway"].as_str() {
        let (ns, name) = g.split_once('/').expect("gateway as ns/name");
        req.gateway = Some((ns.into(), name.into()));
    }
    req
}
