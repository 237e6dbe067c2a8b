//! What a compiled table is made of, as callers see it: the rules, the resources they come
//! from, and the (host, subset) clusters and subsets their destinations name. The table
//! ([`crate::Table`]) holds them; decisions, counters and tools read them. No evaluation here.

use crate::action::{Action, HeaderOps};
use crate::block::Block;

/// The resource a rule comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Source {
    /// Kind, e.g. `VirtualService`.
    pub kind: Box<str>,
    /// Namespace.
    pub namespace: Box<str>,
    /// Name.
    pub name: Box<str>,
}

/// A compiled HTTP rule.
// Laid out in declaration order, on a cache line of its own: what a decision reads (the
// source, whether the rule is plain, the action's tag, the forward's destinations and split)
// fills the first line; the rarely set parts of a forward, the blocks (read only when a
// match's quick check cannot decide), names and header operations come after.
#[derive(Clone, Debug)]
#[non_exhaustive]
#[repr(C, align(64))]
pub struct Rule {
    /// Index of the resource in [`Table::sources`](crate::Table::sources).
    pub source: u32,
    /// Position of the rule in the resource (`spec.http[index]`).
    pub index: u32,
    /// A forward to one destination that always gets the request, with nothing else to
    /// decide (no session, sticky key, fault or mirror): a decision reads the first line of
    /// the rule only. Set with the table's hot parts; `false` is always correct.
    pub(crate) plain: bool,
    /// What the rule does.
    pub action: Action,
    /// Match blocks (OR); empty means the rule matches everything.
    pub blocks: Box<[Block]>,
    /// The rule's name (`spec.http[].name`), empty when unnamed.
    pub name: Box<str>,
    /// Route-level header operations.
    pub headers: HeaderOps,
}

impl Rule {
    /// The route name as Envoy logs it for a request that matched `block` (`None`: a rule
    /// without blocks): the block's name where it has one of its own (a Gateway API match),
    /// else the rule's.
    pub fn route_name(&self, block: Option<u16>) -> &str {
        match block.and_then(|b| self.blocks.get(usize::from(b))) {
            Some(b) => &b.route_name,
            None => &self.name,
        }
    }
}

/// A (host, subset) pair destinations name: the unit endpoints are grouped and balanced in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ClusterKey {
    /// Fully qualified host.
    pub host: Box<str>,
    /// Subset, if any.
    pub subset: Option<Box<str>>,
    /// Service port the destination names, if any (selects DestinationRule port-level
    /// settings; endpoints are not filtered by it).
    pub port: Option<u16>,
}

/// A subset defined by a DestinationRule.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubsetInfo {
    /// Host of the DestinationRule (fully qualified).
    pub host: Box<str>,
    /// Subset name.
    pub name: Box<str>,
    /// Labels an endpoint must carry.
    pub labels: Vec<(Box<str>, Box<str>)>,
}
