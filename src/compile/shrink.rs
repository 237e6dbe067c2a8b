//! The compiled table at its final size: every list the compiler grew by pushing gives back
//! its spare capacity before the table is shared. A `Vec` grown one push at a time holds room
//! for four elements at its first push and doubles from there, so a table of one-block,
//! one-destination rules held about three times what it uses. (A rule's blocks, a block's
//! conditions, destinations, mirrors and header operations are boxed slices, built at their
//! size.)

use crate::table::{Hosts, Inner};

/// Gives back the spare capacity of the table's lists.
pub(crate) fn shrink(inner: &mut Inner) {
    inner.rules.shrink_to_fit();
    inner.sources.shrink_to_fit();
    inner.subsets.shrink_to_fit();
    inner.clusters.shrink_to_fit();
    inner.policies.shrink_to_fit();
    for ctx in &mut inner.contexts {
        shrink_hosts(&mut ctx.hosts);
        for (_, hosts) in ctx.listeners.iter_mut().chain(&mut ctx.server_ports) {
            shrink_hosts(hosts);
        }
        ctx.listeners.shrink_to_fit();
        ctx.server_ports.shrink_to_fit();
    }
    inner.contexts.shrink_to_fit();
}

fn shrink_hosts(hosts: &mut Hosts) {
    for vh in &mut hosts.vhosts {
        for claim in &mut vh.claims {
            claim.entries.shrink_to_fit();
        }
        vh.claims.shrink_to_fit();
    }
    hosts.vhosts.shrink_to_fit();
}
