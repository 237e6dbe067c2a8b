//! ReferenceGrant: which cross-namespace backend references a namespace admits.

use super::lower::World;

/// Whether a ReferenceGrant in `to_ns` lets routes of `kind` in `from_ns` refer to Service `name`.
pub(super) fn granted(
    world: &World<'_>,
    kind: &str,
    from_ns: &str,
    to_ns: &str,
    name: &str,
) -> bool {
    world.grants.iter().any(|g| {
        g.namespace(world.default_ns) == to_ns
            && g.spec.from.iter().any(|f| {
                f.group == "gateway.networking.k8s.io" && f.kind == kind && f.namespace == from_ns
            })
            && g.spec.to.iter().any(|t| {
                (t.group.is_empty() || t.group == "core")
                    && t.kind == "Service"
                    && t.name.as_deref().is_none_or(|n| n == name)
            })
    })
}
