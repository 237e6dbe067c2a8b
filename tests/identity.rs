//! Resource identity, as the API server and kubectl check it before anything is stored: every
//! object has `apiVersion`, `kind` and a `metadata.name`; names and namespaces are DNS names;
//! a kind or version that does not exist in a group meshroute reads is an error with a
//! did-you-mean, not a skipped note. Real kinds meshroute does not route with are still skipped.

mod common;
use common::errors;

use meshroute::{CompileOptions, Config, Severity, compile};

/// The warnings and notes of loading `yaml`, as displayed.
fn load_notes(yaml: &str, severity: Severity) -> Vec<String> {
    Config::from_str(yaml, "test.yaml")
        .unwrap()
        .notes
        .iter()
        .filter(|d| d.severity == severity)
        .map(ToString::to_string)
        .collect()
}

const SPEC: &str = "spec: {hosts: [r], http: [{route: [{destination: {host: r}}]}]}\n";

fn vs(api_version: &str, kind: &str, metadata: &str) -> String {
    format!("apiVersion: {api_version}\nkind: {kind}\nmetadata: {metadata}\n{SPEC}")
}

// ---------------------------------------------------------------------------------------------
// apiVersion and kind
// ---------------------------------------------------------------------------------------------

/// apimachinery `pkg/runtime/error.go`, `NewMissingVersionErr` and `NewMissingKindErr`: the
/// decoder refuses an object without apiVersion or kind ("Object 'Kind' is missing").
#[test]
fn an_object_without_api_version_or_kind_is_rejected() {
    assert_eq!(
        errors(&format!(
            "kind: VirtualService\nmetadata: {{name: r}}\n{SPEC}"
        )),
        ["test.yaml: VirtualService default/r: apiVersion: apiVersion is required"]
    );
    assert_eq!(
        errors(&format!(
            "apiVersion: networking.istio.io/v1\nmetadata: {{name: r, namespace: ns}}\n{SPEC}"
        )),
        ["test.yaml: (no kind) ns/r: kind: kind is required"]
    );
    assert_eq!(
        errors(&vs("networking.istio.io/v1", "''", "{name: r}")),
        ["test.yaml: (no kind) default/r: kind: kind is empty"]
    );
    assert_eq!(
        errors(&vs("1", "VirtualService", "{name: r}")),
        ["test.yaml: VirtualService default/r: apiVersion: apiVersion must be a string, not 1"]
    );
    // A document that is not an object at all (a Helm values file) has neither.
    assert_eq!(
        errors("replicas: 3\n"),
        ["test.yaml: (no kind) default/: apiVersion: apiVersion is required"]
    );
}

/// apimachinery `pkg/api/meta/errors.go`, `NoKindMatchError.Error`: "no matches for kind %q in
/// version %q" — kubectl's answer for a kind the group does not define. The real kinds are
/// those of istio/api `networking/v1alpha3/*.proto` and kubernetes-sigs/gateway-api `apis/`.
#[test]
fn a_kind_unknown_in_a_group_meshroute_reads_is_an_error_with_a_suggestion() {
    assert_eq!(
        errors(&vs("networking.istio.io/v1", "VirtualSevice", "{name: r}")),
        [
            "test.yaml: VirtualSevice default/r: kind: no matches for kind \"VirtualSevice\" in \
             version \"networking.istio.io/v1\"; did you mean VirtualService?"
        ]
    );
    // Equal but for case.
    assert_eq!(
        errors(&vs(
            "gateway.networking.k8s.io/v1",
            "HttpRoute",
            "{name: r}"
        )),
        [
            "test.yaml: HttpRoute default/r: kind: no matches for kind \"HttpRoute\" in version \
             \"gateway.networking.k8s.io/v1\"; did you mean HTTPRoute?"
        ]
    );
    assert_eq!(
        errors(&vs("discovery.k8s.io/v1", "EndpointSlices", "{name: r}")),
        [
            "test.yaml: EndpointSlices default/r: kind: no matches for kind \"EndpointSlices\" in \
             version \"discovery.k8s.io/v1\"; did you mean EndpointSlice?"
        ]
    );
    // Nothing close: the group's kinds are listed.
    assert_eq!(
        errors(&vs("networking.istio.io/v1", "Route", "{name: r}")),
        [
            "test.yaml: Route default/r: kind: no matches for kind \"Route\" in version \
             \"networking.istio.io/v1\"; the kinds of networking.istio.io are VirtualService, \
             DestinationRule, Gateway, ServiceEntry, Sidecar, WorkloadEntry, WorkloadGroup, \
             EnvoyFilter, ProxyConfig"
        ]
    );
    // A strict compile (a CI check) fails on it.
    let config = Config::from_str(
        &vs("networking.istio.io/v1", "VirtualSevice", "{name: r}"),
        "t",
    )
    .unwrap();
    assert!(compile(&config, &CompileOptions::strict()).is_err());
}

/// apimachinery `pkg/api/meta/errors.go`, `NoKindMatchError.Error`: a version the group does not
/// serve (istio/api `networking/` has v1alpha3, v1beta1 and v1) matches no kind either.
#[test]
fn a_version_unknown_in_a_group_meshroute_reads_is_an_error() {
    assert_eq!(
        errors(&vs("networking.istio.io/v2", "VirtualService", "{name: r}")),
        [
            "test.yaml: VirtualService default/r: apiVersion: no matches for kind \
             \"VirtualService\" in version \"networking.istio.io/v2\"; networking.istio.io serves \
             versions v1, v1beta1, v1alpha3"
        ]
    );
}

/// Real kinds of the groups meshroute reads, and kinds of other groups, are skipped with a
/// note, as before: istio/api `networking/v1/*_alias.gen.go` (WorkloadGroup, EnvoyFilter, ...),
/// kubernetes-sigs/gateway-api `config/crd/experimental` (UDPRoute, BackendTLSPolicy, ...).
#[test]
fn real_kinds_meshroute_does_not_route_with_are_skipped_with_a_note() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata: {name: a}\n---\n\
                apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: b}\n---\n\
                apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: UDPRoute\nmetadata: {name: c}\n---\n\
                apiVersion: gateway.networking.k8s.io/v1alpha3\nkind: BackendTLSPolicy\nmetadata: {name: d}\n---\n\
                apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: HTTPRoute\nmetadata: {name: e}\n---\n\
                apiVersion: gateway.networking.x-k8s.io/v1alpha1\nkind: XListenerSet\nmetadata: {name: f}\n---\n\
                apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: g}\n---\n\
                apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: h}\n";
    assert_eq!(errors(yaml), Vec::<String>::new());
    assert_eq!(
        load_notes(yaml, Severity::Note),
        [
            "note[skipped]: test.yaml: document 0: skipped networking.istio.io/v1 WorkloadGroup: \
             not a kind meshroute routes with",
            "note[skipped]: test.yaml: document 1: skipped networking.istio.io/v1alpha3 \
             EnvoyFilter: not a kind meshroute routes with",
            "note[skipped]: test.yaml: document 2: skipped gateway.networking.k8s.io/v1alpha2 \
             UDPRoute: not a kind meshroute routes with",
            "note[skipped]: test.yaml: document 3: skipped gateway.networking.k8s.io/v1alpha3 \
             BackendTLSPolicy: not a kind meshroute routes with",
            "note[skipped]: test.yaml: document 4: skipped gateway.networking.k8s.io/v1alpha2 \
             HTTPRoute: not a kind meshroute routes with",
            "note[skipped]: test.yaml: document 5: skipped gateway.networking.x-k8s.io/v1alpha1 \
             XListenerSet: not a kind meshroute routes with",
            "note[skipped]: test.yaml: document 6: skipped discovery.k8s.io/v1beta1 \
             EndpointSlice: not a kind meshroute routes with",
            "note[skipped]: test.yaml: document 7: skipped apps/v1 Deploymnet: not a kind \
             meshroute routes with",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// metadata.name and metadata.namespace
// ---------------------------------------------------------------------------------------------

/// apimachinery `pkg/api/validation/objectmeta.go`, `ValidateObjectMetaAccessor`: "name or
/// generateName is required". A file holding only generateName names nothing meshroute (or a
/// `delegate`, `parentRef` or `backendRef`) could refer to, so the name is required here.
#[test]
fn an_object_without_a_name_is_rejected() {
    assert_eq!(
        errors(&vs(
            "networking.istio.io/v1",
            "VirtualService",
            "{namespace: ns}"
        )),
        ["test.yaml: VirtualService ns/: metadata.name: name is required"]
    );
    assert_eq!(
        errors(&format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n{SPEC}"
        )),
        ["test.yaml: VirtualService default/: metadata.name: name is required"]
    );
    assert_eq!(
        errors(&vs(
            "networking.istio.io/v1",
            "VirtualService",
            "{generateName: reviews-}"
        )),
        [
            "test.yaml: VirtualService default/: metadata.name: name is required; generateName \
             \"reviews-\" names the object only when the API server creates it, so nothing can \
             refer to it"
        ]
    );
}

/// apimachinery `pkg/util/validation/validation.go`, `IsDNS1123Subdomain` (custom resources
/// use `NameIsDNSSubdomain`): lower-case alphanumerics, '-' and '.', at most 253 bytes.
#[test]
fn a_name_that_is_not_a_dns_subdomain_is_rejected() {
    assert_eq!(
        errors(&vs(
            "networking.istio.io/v1",
            "VirtualService",
            "{name: my_route}"
        )),
        [
            "test.yaml: VirtualService default/my_route: metadata.name: name \"my_route\" is not \
             a valid DNS-1123 subdomain; use at most 253 lower-case letters, digits, '-' or '.', \
             starting and ending with a letter or digit"
        ]
    );
    let long = "a".repeat(254);
    assert_eq!(
        errors(&vs(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            &format!("{{name: {long}}}")
        )),
        [format!(
            "test.yaml: HTTPRoute default/{long}: metadata.name: name \"{long}\" is not a valid \
             DNS-1123 subdomain; use at most 253 lower-case letters, digits, '-' or '.', \
             starting and ending with a letter or digit"
        )]
    );
    // Dots are allowed in a subdomain.
    assert_eq!(
        errors(&vs(
            "networking.istio.io/v1",
            "VirtualService",
            "{name: reviews.v2}"
        )),
        Vec::<String>::new()
    );
}

/// apimachinery `pkg/api/validation/objectmeta.go`, `ValidateNamespaceName` (`IsDNS1123Label`):
/// a namespace is one label of at most 63 bytes. An empty namespace is the default one, as
/// kubectl reads it.
#[test]
fn a_namespace_that_is_not_a_dns_label_is_rejected() {
    assert_eq!(
        errors(&vs(
            "networking.istio.io/v1",
            "VirtualService",
            "{name: r, namespace: team.a}"
        )),
        [
            "test.yaml: VirtualService team.a/r: metadata.namespace: namespace \"team.a\" is not \
             a valid DNS-1123 label; use at most 63 lower-case letters, digits or '-', starting \
             and ending with a letter or digit"
        ]
    );
    let config = Config::from_str(
        &vs(
            "networking.istio.io/v1",
            "VirtualService",
            "{name: r, namespace: ''}",
        ),
        "t",
    )
    .unwrap();
    assert_eq!(
        config.resources[0].id("default").to_string(),
        "VirtualService default/r"
    );
}

/// kubernetes `pkg/apis/core/validation/validation.go`: `ValidateServiceName` is
/// `NameIsDNS1035Label` (a label starting with a letter), `ValidateNamespaceName` is
/// `NameIsDNS1123Label`.
#[test]
fn core_names_follow_their_kinds_rules() {
    assert_eq!(
        errors(
            "apiVersion: v1\nkind: Service\nmetadata: {name: 1reviews}\nspec: {ports: [{port: 80}]}\n"
        ),
        [
            "test.yaml: Service default/1reviews: metadata.name: name \"1reviews\" is not a valid \
             DNS-1035 label; use at most 63 lower-case letters, digits or '-', starting with a \
             letter and ending with a letter or digit"
        ]
    );
    assert_eq!(
        errors("apiVersion: v1\nkind: Namespace\nmetadata: {name: team.a}\n"),
        [
            "test.yaml: Namespace default/team.a: metadata.name: name \"team.a\" is not a valid \
             DNS-1123 label; use at most 63 lower-case letters, digits or '-', starting and \
             ending with a letter or digit"
        ]
    );
}

/// apimachinery `IsDNS1123Label` is lower case only, but Istio's own examples (istio/api
/// `networking/v1alpha3/virtual_service.proto`, delegate example: `namespace: nsA`) and Istio's
/// `labels.IsDNS1123Label` accept upper case: such a name or namespace loads, with a warning.
#[test]
fn upper_case_names_load_with_a_warning() {
    let yaml = vs(
        "networking.istio.io/v1",
        "VirtualService",
        "{name: Reviews, namespace: nsA}",
    );
    assert_eq!(errors(&yaml), Vec::<String>::new());
    assert_eq!(
        load_notes(&yaml, Severity::Warning),
        [
            "warning[name-case]: VirtualService nsA/Reviews: test.yaml: metadata.name: name \
             \"Reviews\" has upper-case letters; the API server refuses it (a DNS-1123 subdomain \
             is lower case), meshroute reads it as written",
            "warning[name-case]: VirtualService nsA/Reviews: test.yaml: metadata.namespace: \
             namespace \"nsA\" has upper-case letters; the API server refuses it (a DNS-1123 \
             label is lower case), meshroute reads it as written",
        ]
    );
}

/// apiextensions-apiserver `pkg/apis/apiextensions/types.go`, `CustomResourceDefinitionNames`:
/// `listKind` defaults to `<kind>List`, the kind the API server answers a list request with; it
/// is read as a List, like kubectl's `kind: List`.
#[test]
fn typed_lists_of_a_known_group_are_read_as_lists() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualServiceList\nitems:\n\
                - apiVersion: networking.istio.io/v1\n  kind: VirtualService\n  metadata: {name: r}\n  \
                spec: {hosts: [r], http: [{route: [{destination: {host: r}}]}]}\n";
    let config = Config::from_str(yaml, "test.yaml").unwrap();
    assert_eq!(config.resources.len(), 1);
    assert_eq!(errors(yaml), Vec::<String>::new());
}
