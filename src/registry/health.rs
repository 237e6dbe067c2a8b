//! Locality and health of one cluster's endpoints, as istiod assigns Envoy priorities and as
//! Envoy spreads load over them:
//!
//! - Localities (`region/zone/subzone`) of the client and of each endpoint, and istiod's
//!   priority of an endpoint for a client (pilot/pkg/networking/core/loadbalancer/
//!   loadbalancer.go `applyLocalityFailover`, `applyFailoverPriorities`) or its locality
//!   weight (`applyLocalityWeights`).
//! - Envoy's load per priority from each level's health (healthy / total × 1.4, capped at
//!   100 %) and panic below the healthy panic threshold (envoy
//!   source/common/upstream/load_balancer_impl.cc `recalculatePerPriorityState`,
//!   `recalculatePerPriorityPanic`, `recalculateLoadInTotalPanic`).
//! - Outlier ejection fed by reported results (envoy
//!   source/common/upstream/outlier_detection_impl.cc `putHttpResponseCode`, `ejectHost`,
//!   `checkHostForUneject`).
//!
//! Nothing here allocates on the pick path: levels are counted in a fixed array.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::balance::{LocalityLb, Outlier};
use crate::request::Request;

/// Envoy's default overprovisioning factor, in percent.
pub(super) const OVERPROVISIONING: u64 = 140;

/// At most this many priority levels are told apart; lower ones merge into the last (a
/// `failoverPriority` list of more than 11 labels).
pub(super) const MAX_LEVELS: usize = 64;

/// The label a Pod's locality can be written in (`region.zone.subzone`, Istio's
/// `istio-locality`).
pub const LOCALITY_LABEL: &str = "istio-locality";
/// Kubernetes' region label.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Kubernetes' zone label.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Istio's subzone label.
pub const SUBZONE_LABEL: &str = "topology.istio.io/subzone";

/// A locality: region, zone and subzone, each possibly empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Locality<'a> {
    pub(super) region: &'a str,
    pub(super) zone: &'a str,
    pub(super) subzone: &'a str,
}

impl<'a> Locality<'a> {
    /// Reads `region/zone/subzone` (fewer parts leave the rest empty); an `istio-locality`
    /// label value without `/` is split at `.`, as istiod reads it.
    pub(super) fn parse(text: &'a str) -> Locality<'a> {
        let sep = if text.contains('/') { '/' } else { '.' };
        let mut parts = text.splitn(3, sep);
        Locality {
            region: parts.next().unwrap_or(""),
            zone: parts.next().unwrap_or(""),
            subzone: parts.next().unwrap_or(""),
        }
    }

    /// The client's locality from its labels: `istio-locality`, else the topology labels.
    pub(super) fn of_client<R: Request + ?Sized>(req: &'a R) -> Locality<'a> {
        if let Some(l) = req.source_label(LOCALITY_LABEL).filter(|l| !l.is_empty()) {
            return Locality::parse(l);
        }
        Locality {
            region: req.source_label(REGION_LABEL).unwrap_or(""),
            zone: req.source_label(ZONE_LABEL).unwrap_or(""),
            subzone: req.source_label(SUBZONE_LABEL).unwrap_or(""),
        }
    }

    /// Whether a `distribute` pattern (`region/zone/subzone`, `*` or an empty part matching
    /// any, the region excepted) covers this locality (istio pilot/pkg/networking/util
    /// `LocalityMatch`).
    pub(super) fn matches(&self, pattern: &str) -> bool {
        let rule = Locality::parse_pattern(pattern);
        (rule.region == "*" || rule.region == self.region)
            && (rule.zone == "*" || rule.zone.is_empty() || rule.zone == self.zone)
            && (rule.subzone == "*" || rule.subzone.is_empty() || rule.subzone == self.subzone)
    }

    fn parse_pattern(pattern: &str) -> Locality<'_> {
        let mut parts = pattern.splitn(3, '/');
        Locality {
            region: parts.next().unwrap_or(""),
            zone: parts.next().unwrap_or(""),
            subzone: parts.next().unwrap_or(""),
        }
    }

    /// istiod's priority of an endpoint in `other` for a client here (util `LbPriority`): 0 the
    /// same subzone, 1 the same zone, 2 the same region, 3 another region.
    pub(super) fn priority_to(&self, other: &Locality<'_>) -> u32 {
        if self.region != other.region {
            3
        } else if self.zone != other.zone {
            2
        } else if self.subzone != other.subzone {
            1
        } else {
            0
        }
    }

    /// The value of a topology label this locality implies, for `failoverPriority` (istiod
    /// adds them to endpoint and proxy labels).
    pub(super) fn label(&self, key: &str) -> Option<&'a str> {
        match key {
            REGION_LABEL => Some(self.region),
            ZONE_LABEL => Some(self.zone),
            SUBZONE_LABEL => Some(self.subzone),
            _ => None,
        }
        .filter(|v| !v.is_empty())
    }
}

/// istiod's raw priority of an endpoint (labels `labels`, locality `ep`) for a client: the
/// `failoverPriority` part (0 when every label matches, else `len - j` for the first label `j`
/// that differs) times 5 plus the locality part (`applyLocalityFailover`: 0..=3 by
/// [`Locality::priority_to`], 4 for a region `failover` does not name), each part only when it
/// applies.
pub(super) fn raw_priority<R: Request + ?Sized>(
    lb: &LocalityLb,
    client: &Locality<'_>,
    req: &R,
    ep: &Locality<'_>,
    labels: &std::collections::BTreeMap<String, String>,
) -> u32 {
    let mut fp = 0u32;
    let by_priority = !lb.failover_priority.is_empty();
    if by_priority {
        let n = lb.failover_priority.len() as u32;
        for (j, (key, value)) in lb.failover_priority.iter().enumerate() {
            let theirs = value
                .as_deref()
                .or_else(|| client.label(key))
                .or_else(|| req.source_label(key))
                .unwrap_or("");
            let ours = ep
                .label(key)
                .or_else(|| labels.get(&**key).map(String::as_str))
                .unwrap_or("");
            if theirs != ours {
                fp = n - j as u32;
                break;
            }
        }
        if lb.failover.is_empty() {
            return fp;
        }
    }
    let mut p = client.priority_to(ep);
    if p == 3
        && let Some((_, to)) = lb
            .failover
            .iter()
            .find(|(from, _)| **from == *client.region)
        && **to != *ep.region
    {
        p = 4;
    }
    fp * 5 + p
}

/// One priority level: hosts and healthy hosts.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Level {
    pub(super) total: u32,
    pub(super) healthy: u32,
}

impl Level {
    /// Envoy's health of the level: healthy / total × 1.4, capped at 100 (percent).
    pub(super) fn health(&self) -> u32 {
        if self.total == 0 {
            return 0;
        }
        (OVERPROVISIONING * u64::from(self.healthy) / u64::from(self.total)).min(100) as u32
    }

    /// Whether the level is in panic: fewer healthy hosts than `threshold` percent.
    fn panics(&self, threshold: u32) -> bool {
        self.total > 0
            && 100 * u64::from(self.healthy) < u64::from(threshold) * u64::from(self.total)
    }
}

/// The load (percent) each level gets and whether it is in panic, from Envoy's
/// `recalculatePerPriorityState` and `recalculatePerPriorityPanic`; `levels` are the
/// non-empty levels in priority order. `None` when no host can take the request (every host
/// unhealthy and panic disabled).
pub(super) fn priority_load(
    levels: &[Level],
    threshold: u32,
    load: &mut [u32; MAX_LEVELS],
    panic: &mut [bool; MAX_LEVELS],
) -> Option<()> {
    let n = levels.len();
    let total_health: u32 = levels.iter().map(Level::health).sum::<u32>().min(100);
    for i in 0..n {
        load[i] = 0;
        panic[i] = false;
    }
    if total_health == 0 && threshold == 0 {
        return None;
    }
    #[allow(clippy::manual_checked_ops)]
    if total_health > 0 {
        let mut remaining = 100u32;
        let mut first = None;
        for (i, l) in levels.iter().enumerate() {
            let h = l.health();
            if first.is_none() && h > 0 {
                first = Some(i);
            }
            load[i] = remaining.min(h * 100 / total_health);
            remaining -= load[i];
        }
        if let Some(f) = first {
            load[f] += remaining;
        }
    }
    let mut total_panic = true;
    for (i, l) in levels.iter().enumerate() {
        panic[i] = total_health < 100 && l.panics(threshold);
        total_panic &= panic[i];
    }
    if total_panic {
        // recalculateLoadInTotalPanic: by host count, health ignored.
        let hosts: u32 = levels.iter().map(|l| l.total).sum();
        let mut remaining = 100u32;
        let mut first = None;
        for (i, l) in levels.iter().enumerate() {
            if first.is_none() && l.total > 0 {
                first = Some(i);
            }
            load[i] = remaining.min(l.total * 100 / hosts.max(1));
            remaining -= load[i];
        }
        load[first.unwrap_or(0)] += remaining;
    }
    Some(())
}

/// What a reported result did to an endpoint under outlier detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ejection {
    /// Nothing: no outlier detection on the cluster, or no threshold reached.
    None,
    /// The endpoint is ejected for `for_ms` milliseconds (`baseEjectionTime` × times ejected,
    /// at most 300 s or the base), by `consecutive5xxErrors` (`gateway` false) or
    /// `consecutiveGatewayErrors` (`gateway` true).
    Ejected {
        /// Ejection time, ms.
        for_ms: u64,
        /// Whether the gateway-error threshold ejected it.
        gateway: bool,
    },
    /// A threshold was reached but `maxEjectionPercent` allows no further ejection (Envoy's
    /// `ejections_overflow`).
    Capped,
}

/// One endpoint's outlier-detection state.
#[derive(Debug, Default)]
pub(super) struct HostState {
    consecutive_5xx: AtomicU32,
    consecutive_gateway: AtomicU32,
    /// Ejection start + 1 in ms (0: not ejected).
    ejected_at: AtomicU64,
    /// Length of the current ejection, ms.
    eject_for: AtomicU64,
    /// Envoy's `ejectTimeBackoff`.
    backoff: AtomicU32,
    /// When the last ejection ended, ms.
    unejected_at: AtomicU64,
}

impl HostState {
    /// Whether the endpoint is ejected at `now` (ms).
    pub(super) fn ejected(&self, now: u64) -> bool {
        let at = self.ejected_at.load(Ordering::Relaxed);
        at != 0 && now < (at - 1).saturating_add(self.eject_for.load(Ordering::Relaxed))
    }

    /// Until when (ms) the endpoint is ejected, if it is at `now`.
    pub(super) fn ejected_until(&self, now: u64) -> Option<u64> {
        self.ejected(now).then(|| {
            (self.ejected_at.load(Ordering::Relaxed) - 1)
                .saturating_add(self.eject_for.load(Ordering::Relaxed))
        })
    }

    /// Brings the endpoint back when its ejection has run out (`unejectHost`: counters reset).
    fn sweep(&self, now: u64) {
        let at = self.ejected_at.load(Ordering::Relaxed);
        if at != 0 && !self.ejected(now) {
            let end = (at - 1).saturating_add(self.eject_for.load(Ordering::Relaxed));
            self.ejected_at.store(0, Ordering::Relaxed);
            self.unejected_at.store(end, Ordering::Relaxed);
            self.consecutive_5xx.store(0, Ordering::Relaxed);
            self.consecutive_gateway.store(0, Ordering::Relaxed);
        }
    }
}

/// Feeds one result (`status`; a connect failure is 503 and a timeout 504, as Envoy maps
/// them) of endpoint `index` into outlier detection at `now` (ms). `hosts` are every endpoint
/// of the cluster; the caller holds the cluster's lock.
pub(super) fn report(
    outlier: &Outlier,
    hosts: &[HostState],
    index: usize,
    status: u16,
    now: u64,
) -> Ejection {
    for h in hosts {
        h.sweep(now);
    }
    let Some(host) = hosts.get(index) else {
        return Ejection::None;
    };
    if !(500..600).contains(&status) {
        host.consecutive_5xx.store(0, Ordering::Relaxed);
        host.consecutive_gateway.store(0, Ordering::Relaxed);
        return Ejection::None;
    }
    let mut out = Ejection::None;
    if matches!(status, 502..=504) {
        let n = host.consecutive_gateway.fetch_add(1, Ordering::Relaxed) + 1;
        if outlier.consecutive_gateway > 0 && n == outlier.consecutive_gateway {
            out = eject(outlier, hosts, host, now, true);
            host.consecutive_gateway.store(0, Ordering::Relaxed);
        }
    } else {
        host.consecutive_gateway.store(0, Ordering::Relaxed);
    }
    let n = host.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1;
    if outlier.consecutive_5xx > 0 && n == outlier.consecutive_5xx {
        let e = eject(outlier, hosts, host, now, false);
        host.consecutive_5xx.store(0, Ordering::Relaxed);
        if out == Ejection::None {
            out = e;
        }
    }
    out
}

/// `ejectHost`: ejects `host` unless it is ejected already or one more ejection would pass
/// `maxEjectionPercent` of every host of the cluster.
fn eject(
    outlier: &Outlier,
    hosts: &[HostState],
    host: &HostState,
    now: u64,
    gateway: bool,
) -> Ejection {
    if host.ejected(now) {
        return Ejection::None;
    }
    let active = hosts.iter().filter(|h| h.ejected(now)).count() as u64;
    if 100 * (active + 1) > u64::from(outlier.max_ejection_percent) * hosts.len() as u64 {
        return Ejection::Capped;
    }
    // The backoff falls by one for each interval the host spent back in service.
    let mut backoff = host.backoff.load(Ordering::Relaxed);
    if backoff > 0 {
        let back = now.saturating_sub(host.unejected_at.load(Ordering::Relaxed));
        let spent = u32::try_from(back / outlier.interval_ms.max(1)).unwrap_or(u32::MAX);
        backoff = backoff.saturating_sub(spent);
    }
    if u64::from(backoff).saturating_mul(outlier.base_ejection_ms)
        < outlier
            .max_ejection_ms
            .saturating_add(outlier.base_ejection_ms)
    {
        backoff += 1;
    }
    host.backoff.store(backoff, Ordering::Relaxed);
    let for_ms =
        (outlier.base_ejection_ms.saturating_mul(u64::from(backoff))).min(outlier.max_ejection_ms);
    host.eject_for.store(for_ms, Ordering::Relaxed);
    host.ejected_at
        .store(now.saturating_add(1), Ordering::Relaxed);
    Ejection::Ejected { for_ms, gateway }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlier() -> Outlier {
        Outlier {
            consecutive_5xx: 5,
            consecutive_gateway: 0,
            interval_ms: 10_000,
            base_ejection_ms: 30_000,
            max_ejection_ms: 300_000,
            max_ejection_percent: 100,
            min_health_percent: 0,
        }
    }

    /// Envoy load_balancer_impl_test.cc `PrioritySelection` / `OverProvisioningFactor`-style
    /// cases: P0 with 2 of 5 healthy has health 2/5 × 1.4 = 56 %, P1 takes the other 44 %.
    #[test]
    fn load_spills_by_overprovisioned_health() {
        let (mut load, mut panic) = ([0; MAX_LEVELS], [false; MAX_LEVELS]);
        let levels = [
            Level {
                total: 5,
                healthy: 2,
            },
            Level {
                total: 5,
                healthy: 5,
            },
        ];
        priority_load(&levels, 0, &mut load, &mut panic).unwrap();
        assert_eq!(&load[..2], &[56, 44]);
        // 4 of 5 healthy: 112 % capped at 100, nothing spills.
        let levels = [
            Level {
                total: 5,
                healthy: 4,
            },
            Level {
                total: 5,
                healthy: 5,
            },
        ];
        priority_load(&levels, 0, &mut load, &mut panic).unwrap();
        assert_eq!(&load[..2], &[100, 0]);
    }

    /// Envoy load_balancer_impl_test.cc `PriorityAndPanicMode`: below the panic threshold a
    /// level with total health under 100 % panics; every level in panic spreads by host count.
    #[test]
    fn total_panic_spreads_by_host_count() {
        let (mut load, mut panic) = ([0; MAX_LEVELS], [false; MAX_LEVELS]);
        let levels = [
            Level {
                total: 2,
                healthy: 0,
            },
            Level {
                total: 2,
                healthy: 0,
            },
        ];
        priority_load(&levels, 50, &mut load, &mut panic).unwrap();
        assert_eq!(
            (&load[..2], &panic[..2]),
            (&[50, 50][..], &[true, true][..])
        );
        // Panic disabled (Istio's minHealthPercent 0): nothing can take the request.
        assert!(priority_load(&levels, 0, &mut load, &mut panic).is_none());
    }

    /// Envoy outlier_detection_impl_test.cc `BasicFlow5xxViaHttpCodes`: the fifth consecutive
    /// 5xx ejects; a success in between starts the count again.
    #[test]
    fn fifth_consecutive_5xx_ejects() {
        let hosts: Vec<HostState> = (0..2).map(|_| HostState::default()).collect();
        let o = outlier();
        for _ in 0..4 {
            assert_eq!(report(&o, &hosts, 0, 500, 0), Ejection::None);
        }
        assert_eq!(report(&o, &hosts, 0, 200, 0), Ejection::None);
        for _ in 0..4 {
            assert_eq!(report(&o, &hosts, 0, 503, 0), Ejection::None);
        }
        assert_eq!(
            report(&o, &hosts, 0, 500, 0),
            Ejection::Ejected {
                for_ms: 30_000,
                gateway: false
            }
        );
        assert!(hosts[0].ejected(29_999));
        assert!(!hosts[0].ejected(30_000));
        // Ejected again right after: twice the base time.
        for _ in 0..4 {
            report(&o, &hosts, 0, 500, 30_000);
        }
        assert_eq!(
            report(&o, &hosts, 0, 500, 30_000),
            Ejection::Ejected {
                for_ms: 60_000,
                gateway: false
            }
        );
    }

    /// Envoy outlier_detection_impl_test.cc `MaxEjectionPercentage`-style: with 10 % of two
    /// hosts, no host can be ejected (1 of 2 is 50 %).
    #[test]
    fn max_ejection_percent_caps() {
        let hosts: Vec<HostState> = (0..2).map(|_| HostState::default()).collect();
        let o = Outlier {
            max_ejection_percent: 10,
            ..outlier()
        };
        for _ in 0..4 {
            report(&o, &hosts, 0, 500, 0);
        }
        assert_eq!(report(&o, &hosts, 0, 500, 0), Ejection::Capped);
        assert!(!hosts[0].ejected(0));
    }

    /// Envoy outlier_detection_impl_test.cc `BasicFlowGatewayFailure`: gateway errors count
    /// on their own; a 500 resets that count but adds to the 5xx one.
    #[test]
    fn gateway_errors_count_apart() {
        let hosts: Vec<HostState> = (0..1).map(|_| HostState::default()).collect();
        let o = Outlier {
            consecutive_5xx: 0,
            consecutive_gateway: 3,
            ..outlier()
        };
        report(&o, &hosts, 0, 502, 0);
        report(&o, &hosts, 0, 503, 0);
        report(&o, &hosts, 0, 500, 0);
        report(&o, &hosts, 0, 504, 0);
        assert!(!hosts[0].ejected(0));
        report(&o, &hosts, 0, 502, 0);
        assert_eq!(
            report(&o, &hosts, 0, 503, 0),
            Ejection::Ejected {
                for_ms: 30_000,
                gateway: true
            }
        );
    }

    /// istio util `LocalityMatch` and `LbPriority`.
    #[test]
    fn locality_match_and_priority() {
        let l = Locality::parse("us-west/zone1/sub1");
        assert!(l.matches("us-west/*") && l.matches("us-west") && l.matches("*"));
        assert!(!l.matches("us-east/*") && !l.matches("us-west/zone2/*"));
        assert_eq!(Locality::parse("us-west.zone1.sub1"), l);
        let p = |s| l.priority_to(&Locality::parse(s));
        assert_eq!(
            [
                p("us-west/zone1/sub1"),
                p("us-west/zone1/sub2"),
                p("us-west/zone2"),
                p("eu/z")
            ],
            [0, 1, 2, 3]
        );
    }
}
