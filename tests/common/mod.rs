//! Shared by the test binaries that read `tests/data/*.yaml` fixtures.

use meshroute::{CompileOptions, Config, OwnedRequest, compile};
use serde_json::Value;

/// A fixture request (`{method, scheme, authority, path, headers: {k: v or [v...]}, port,
/// source_labels, source_namespace, gateway: ns/name}`) as an [`OwnedRequest`].
#[allow(dead_code)] // not every test binary that includes this module uses it
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
                .for_each(|v| req.headers.push(k, v.as_str().unwrap())),
            v => req
                .headers
                .push(k, &v.as_str().map_or_else(|| v.to_string(), String::from)),
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

/// Every error of `yaml` (loaded as `test.yaml`, compiled leniently), as displayed.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn errors(yaml: &str) -> Vec<String> {
    let config = Config::from_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    compile(&config, &CompileOptions::default())
        .expect("a lenient compile does not fail")
        .errors()
        .map(ToString::to_string)
        .collect()
}
