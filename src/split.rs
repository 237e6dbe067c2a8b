//! T(x): the traffic distributor. Destinations with integer weights, relative to their sum;
//! one draw `u` picks the destination whose half-open interval `[Σ_{k<j} v_k, Σ_{k≤j} v_k)`
//! holds `u % total`, in declaration order (Envoy: `random % total_weight`).

use smallvec::{SmallVec, smallvec};

/// Cumulative weights of a rule's destinations, precomputed at compile time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// `ends[j]` = Σ_{k≤j} weight_k; up to three destinations (a canary and its stable
    /// versions) are held inline, so a pick reads no other memory.
    ends: SmallVec<[u64; 3]>,
}

impl Split {
    /// A split over `weights`. A single destination gets everything whatever its weight
    /// (Istio ignores it); several need a positive sum (checked by validation, which also
    /// bounds each weight).
    pub fn new(weights: &[u32]) -> Split {
        if weights.len() == 1 {
            return Split { ends: smallvec![1] };
        }
        Split::exact(weights)
    }

    /// A split over `weights` taken as they are, also for a single destination (the Gateway
    /// API: a lone backend of weight 0 gets nothing).
    pub fn exact(weights: &[u32]) -> Split {
        let mut sum = 0u64;
        let ends = weights
            .iter()
            .map(|&w| {
                sum += u64::from(w);
                sum
            })
            .collect();
        Split { ends }
    }

    /// The cumulative weights: entry `j` is Σ_{k≤j} weight_k.
    pub fn cumulative(&self) -> &[u64] {
        &self.ends
    }

    /// The index picked by a request key's hash: stable for one key, and under a weight ramp
    /// only keys that must move do, toward the growing destination ([`crate::hash::sticky_pick`]).
    pub fn pick_sticky(&self, key_hash: u64) -> Option<usize> {
        crate::hash::sticky_pick(key_hash, &self.ends)
    }

    /// Σ weights (1 for a single destination).
    pub fn total(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The effective weight of destination `j`.
    pub fn weight(&self, j: usize) -> u64 {
        let start = if j == 0 { 0 } else { self.ends[j - 1] };
        self.ends[j] - start
    }

    /// Number of destinations.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no destinations.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The index picked by `draw`: the interval that holds `draw % total`. Zero-weight
    /// destinations have empty intervals and are never picked. `None` only when empty or the
    /// total is 0.
    pub fn pick(&self, draw: u64) -> Option<usize> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let u = draw % total;
        Some(self.ends.partition_point(|&end| end <= u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_in_declaration_order() {
        let s = Split::new(&[1, 2]);
        assert_eq!(s.pick(0), Some(0));
        assert_eq!(s.pick(1), Some(1));
        assert_eq!(s.pick(2), Some(1));
        assert_eq!(s.pick(3), Some(0));
    }

    #[test]
    fn zero_weights_never_picked_and_single_gets_all() {
        let s = Split::new(&[0, 5, 0]);
        assert!((0..50).all(|u| s.pick(u) == Some(1)));
        let s = Split::new(&[0]);
        assert_eq!(s.pick(12345), Some(0));
        assert_eq!(Split::new(&[0, 0]).pick(1), None);
    }
}
