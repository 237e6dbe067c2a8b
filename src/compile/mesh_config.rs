//! The mesh config read from the `istio` ConfigMap of the root namespace, where istiod reads
//! it (`data.mesh`, a `MeshConfig` as YAML): the fields it sets override
//! [`CompileOptions::mesh`](super::CompileOptions::mesh) and the path normalization.

use crate::config::mesh::MeshConfig;
use crate::config::{Object, Resource, mesh::ConfigMapData, read_mesh_config};
use crate::error::{Diagnostic, Severity};
use crate::mesh::{MeshSettings, OutboundPolicy};
use crate::predicate::normalize::{IstioPathNormalization, PathNormalization};
use crate::retry::DefaultRetries;

use super::report::Report;
use super::{CompileOptions, Ledger};

/// The options with the mesh config of the root namespace's `istio` ConfigMap applied, when
/// one is loaded and reads (`None`: the options stand). A ConfigMap that does not read is
/// rejected with its errors at `data.mesh`; one in another namespace is noted and ignored; the
/// one read is named in a note.
pub(crate) fn apply(
    valid: &[&Resource],
    options: &CompileOptions,
    ledger: &mut Ledger,
) -> Option<CompileOptions> {
    let root = &options.mesh.root_namespace;
    let mut out: Option<CompileOptions> = None;
    for r in valid {
        let Resource::ConfigMap(o) = r else { continue };
        let id = r.id(&options.default_namespace);
        let ns = o.namespace(&options.default_namespace);
        if ns != root {
            ledger.diagnostics.push(note(
                &id,
                format!("skipped: the mesh config is read from the root namespace {root:?} only"),
            ));
            continue;
        }
        if out.is_some() {
            ledger.diagnostics.push(note(
                &id,
                "skipped: another istio ConfigMap of the root namespace was read first".into(),
            ));
            continue;
        }
        let mut report = Report::default();
        let read = read(o, options, &mut report);
        if ledger.file(&id, r.source(), report)
            && let Some(read) = read
        {
            ledger.diagnostics.push(note(
                &id,
                "the mesh config (data.mesh) read from this ConfigMap applies".into(),
            ));
            out = Some(read);
        }
    }
    out
}

/// The table's default retry policy: the mesh's `defaultHttpRetryPolicy` as istiod converts
/// it (retry.go `ConvertPolicy`: none for `attempts` 0, which `{}` is), else Istio's built-in
/// default (`DefaultPolicy`).
pub(crate) fn default_retries(mesh: &MeshSettings) -> DefaultRetries {
    match &mesh.default_http_retry_policy {
        None => DefaultRetries::default(),
        Some(r) => DefaultRetries(crate::compile::istio::lower::convert_retries(r, true)),
    }
}

fn note(id: &crate::error::ResourceId, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Note,
        code: "mesh-config",
        resource: Some(id.clone()),
        path: String::new(),
        message,
    }
}

/// The options with `o`'s mesh config applied; errors at `data.mesh` name the field inside.
fn read(
    o: &Object<ConfigMapData>,
    options: &CompileOptions,
    report: &mut Report,
) -> Option<CompileOptions> {
    let text = o.spec.mesh.as_deref().unwrap_or("");
    let mesh: MeshConfig = match read_mesh_config(text) {
        Ok(m) => m,
        Err((path, message)) => {
            let at = if path.is_empty() {
                message
            } else {
                format!("{path}: {message}")
            };
            report.error("data.mesh", at);
            return None;
        }
    };
    let mut out = options.clone();
    let m = &mut out.mesh;
    if let Some(mode) = mesh.outbound_traffic_policy.and_then(|p| p.mode) {
        match mode.as_str() {
            "ALLOW_ANY" => m.outbound_traffic_policy = OutboundPolicy::AllowAny,
            "REGISTRY_ONLY" => m.outbound_traffic_policy = OutboundPolicy::RegistryOnly,
            other => report.error(
                "data.mesh",
                format!(
                    "outboundTrafficPolicy.mode: {other:?} is not a mode; expected ALLOW_ANY or \
                     REGISTRY_ONLY"
                ),
            ),
        }
    }
    if let Some(ns) = mesh.root_namespace.filter(|n| !n.is_empty()) {
        m.root_namespace = ns;
    }
    let lists = [
        (
            mesh.default_destination_rule_export_to,
            &mut m.default_destination_rule_export_to,
            "defaultDestinationRuleExportTo",
        ),
        (
            mesh.default_virtual_service_export_to,
            &mut m.default_virtual_service_export_to,
            "defaultVirtualServiceExportTo",
        ),
        (
            mesh.default_service_export_to,
            &mut m.default_service_export_to,
            "defaultServiceExportTo",
        ),
    ];
    for (written, into, field) in lists {
        if let Some(list) = written {
            let mut inner = Report::default();
            crate::compile::names::check_export_to(&list, &field, &mut inner);
            for (path, message) in inner.errors {
                report.error("data.mesh", format!("{path}: {message}"));
            }
            *into = list;
        }
    }
    if let Some(retry) = mesh.default_http_retry_policy {
        // istiod's ValidateMeshConfig does not check this policy and pushes it as written, so
        // what its webhook refuses in a VirtualService's `retries` is a warning here.
        let mut inner = Report::default();
        crate::compile::istio::virtual_service::check_retries(
            &retry,
            &"defaultHttpRetryPolicy",
            &mut inner,
        );
        for (path, message) in inner.errors {
            report.warn(
                "mesh-config",
                "data.mesh",
                format!("{path}: {message} (istiod applies it as written)"),
            );
        }
        m.default_http_retry_policy = Some(retry);
    }
    if let Some(proxy) = &mesh.default_config {
        // istioctl's ProtocolAddressesAnalyzer: DNS capture on, and one of the allocation
        // switches, each the string "true".
        let on = |k: &str| proxy.proxy_metadata.get(k).and_then(|v| v.as_str()) == Some("true");
        m.dns_auto_allocate = on("ISTIO_META_DNS_CAPTURE")
            && (on("ISTIO_META_DNS_AUTO_ALLOCATE") || on("PILOT_ENABLE_IP_AUTOALLOCATE"));
    }
    if let Some(name) = mesh.path_normalization.and_then(|p| p.normalization) {
        match IstioPathNormalization::from_name(&name) {
            Some(level) => out.path_normalization = PathNormalization::istio(level),
            None => report.error(
                "data.mesh",
                format!(
                    "pathNormalization.normalization: {name:?} is not a level; expected DEFAULT, \
                     NONE, BASE, MERGE_SLASHES or DECODE_AND_MERGE_SLASHES"
                ),
            ),
        }
    }
    (!report.has_errors()).then_some(out)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::mesh::OutboundPolicy;
    use crate::{CompileOptions, compile};

    fn compiled(yaml: &str) -> crate::Compiled {
        let config = Config::from_str(yaml, "mesh.yaml").expect("loads");
        compile(&config, &CompileOptions::default()).expect("not strict")
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: NS}\n";

    /// `kubectl get cm istio -n istio-system -o yaml`: the root namespace's mesh config sets
    /// the table's settings, and a note names the ConfigMap read.
    #[test]
    fn the_root_namespace_config_map_sets_the_mesh() {
        let yaml = format!(
            "{}data:\n  mesh: |-\n    rootNamespace: mesh-root\n    outboundTrafficPolicy: {{mode: REGISTRY_ONLY}}\n    pathNormalization: {{normalization: MERGE_SLASHES}}\n    defaultHttpRetryPolicy: {{attempts: 5}}\n    enableTracing: true\n",
            CM.replace("NS", "istio-system")
        );
        let c = compiled(&yaml);
        assert!(c.rejected.is_empty(), "{:?}", c.rejected);
        let mesh = &c.table.inner.mesh;
        assert_eq!(mesh.outbound_traffic_policy, OutboundPolicy::RegistryOnly);
        assert_eq!(mesh.root_namespace, "mesh-root");
        assert_eq!(
            mesh.default_http_retry_policy
                .as_ref()
                .and_then(|r| r.attempts),
            Some(5)
        );
        assert!(c.table.inner.normalization.merge_slashes);
        let notes: Vec<String> = c.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("ConfigMap istio-system/istio")
                    && n.contains("mesh config (data.mesh) read from this ConfigMap")),
            "{notes:?}"
        );
    }

    /// An unknown mode is an error naming the field inside `data.mesh`, and the options stand.
    #[test]
    fn a_bad_field_is_named() {
        let yaml = format!(
            "{}data:\n  mesh: |-\n    outboundTrafficPolicy:\n      mode: DENY\n",
            CM.replace("NS", "istio-system")
        );
        let c = compiled(&yaml);
        let errors: Vec<String> = c.errors().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].ends_with(
                "data.mesh: outboundTrafficPolicy.mode: \"DENY\" is not a mode; expected ALLOW_ANY or REGISTRY_ONLY"
            ),
            "{}",
            errors[0]
        );
        assert_eq!(
            c.table.inner.mesh.outbound_traffic_policy,
            OutboundPolicy::AllowAny
        );
        // A field of the wrong type, and a string that is not YAML.
        let yaml = format!(
            "{}data:\n  mesh: 'rootNamespace: [a]'\n",
            CM.replace("NS", "istio-system")
        );
        let errors: Vec<String> = compiled(&yaml).errors().map(|e| e.to_string()).collect();
        assert!(
            errors[0].contains("data.mesh: rootNamespace: "),
            "{errors:?}"
        );
        let yaml = format!(
            "{}data:\n  mesh: '{{a: ['\n",
            CM.replace("NS", "istio-system")
        );
        let errors: Vec<String> = compiled(&yaml).errors().map(|e| e.to_string()).collect();
        assert!(errors[0].contains("data.mesh: "), "{errors:?}");
    }

    /// istiod's ValidateMeshConfig (pkg/config/validation/agent/validation.go) checks the
    /// inbound default retry policy only, and route.go pushes `defaultHttpRetryPolicy` as
    /// written: what `ValidateHTTPRetry` refuses in a VirtualService is a warning naming the
    /// field, and the policy still applies (an unknown `retryOn` token is one Envoy ignores).
    #[test]
    fn a_default_retry_policy_the_webhook_would_refuse_is_a_warning() {
        let yaml = format!(
            "{}data:\n  mesh: |-\n    defaultHttpRetryPolicy: {{attempts: 3, retryOn: 'gateway-error,bogus'}}\n",
            CM.replace("NS", "istio-system")
        );
        let c = compiled(&yaml);
        assert!(c.rejected.is_empty(), "{:?}", c.rejected);
        let warnings: Vec<String> = c
            .diagnostics
            .iter()
            .filter(|d| d.code == "mesh-config" && d.severity == crate::error::Severity::Warning)
            .map(|d| d.to_string())
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains(
                "data.mesh: defaultHttpRetryPolicy.retryOn: \"bogus\" is not a retry condition"
            ) && warnings[0].ends_with("(istiod applies it as written)"),
            "{}",
            warnings[0]
        );
        let r = c.table.inner.default_retries().expect("3 attempts");
        assert_eq!((r.attempts, &*r.retry_on), (3, "gateway-error,bogus"));
        assert!(r.is_default);
    }

    /// Only the root namespace's `istio` ConfigMap is the mesh config; other ConfigMaps are
    /// skipped at load.
    #[test]
    fn other_namespaces_and_names_are_skipped() {
        let yaml = format!(
            "{}data:\n  mesh: 'outboundTrafficPolicy: {{mode: REGISTRY_ONLY}}'\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: other, namespace: istio-system}}\ndata: {{mesh: x}}\n",
            CM.replace("NS", "default")
        );
        let c = compiled(&yaml);
        assert_eq!(
            c.table.inner.mesh.outbound_traffic_policy,
            OutboundPolicy::AllowAny
        );
        let notes: Vec<String> = c.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            notes.iter().any(|n| n.contains("ConfigMap default/istio")
                && n.contains("root namespace \"istio-system\" only")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.contains("skipped v1 ConfigMap")),
            "{notes:?}"
        );
    }
}
