//! Retries as Envoy's router runs them: given what the upstream answered to one try, whether
//! the request is tried again and why, how many retries are left, how long to wait, the
//! timeouts of the next try, and which endpoints it may go to.
//!
//! The rules, read from Envoy's and istiod's sources:
//! - Which results are retried: envoy `source/common/router/retry_state_impl.cc`
//!   (`wouldRetryFromHeaders`, `wouldRetryFromReset`, `shouldRetry`).
//! - The backoff: envoy `source/common/common/backoff_strategy.cc`
//!   (`JitteredExponentialBackOffStrategy`: base interval 25 ms unless the policy sets one,
//!   maximum 10 × base, the interval doubling per retry, full jitter `random % interval`).
//! - Timeouts: envoy `source/common/router/router.cc` (`FilterUtility::finalTimeout`: the
//!   route timeout bounds every try and backoff together; a per-try timeout that is not
//!   shorter than the route timeout is dropped).
//! - The next endpoint: envoy's `envoy.retry_host_predicates.previous_hosts` (hosts already
//!   tried are rejected, the load balancer picks again up to `host_selection_retry_max_attempts`
//!   times, then the last pick stands) and `envoy.retry_priorities.previous_priorities`
//!   (priorities already tried are skipped); istiod
//!   `pilot/pkg/networking/core/route/retry/retry.go` (`DefaultPolicy`, `ConvertPolicy`) sets
//!   the first by default with 5 host selection attempts, and the second for
//!   `retryRemoteLocalities: true`.
//!
//! [`RetryOn`] is parsed once when the table is compiled; [`Retries::after`] reads it and
//! allocates nothing.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::action::Retries;

/// One `retry_on` condition (Envoy's `x-envoy-retry-on` and `x-envoy-retry-grpc-on` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Condition {
    /// `5xx`: any 5xx response, and any reset or connect failure.
    FiveXx,
    /// `gateway-error`: 502, 503 or 504, and any reset or connect failure.
    GatewayError,
    /// `reset`: any reset or connect failure.
    Reset,
    /// `reset-before-request`: a reset before any byte of the request went upstream.
    ResetBeforeRequest,
    /// `connect-failure`: the connection could not be made (or timed out).
    ConnectFailure,
    /// `envoy-ratelimited`: a response with `x-envoy-ratelimited`.
    EnvoyRateLimited,
    /// `retriable-4xx`: 409 only.
    Retriable4xx,
    /// `refused-stream`: the upstream refused the stream (HTTP/2 `REFUSED_STREAM`).
    RefusedStream,
    /// `retriable-status-codes`: a status in the policy's retriable status codes.
    RetriableStatusCodes,
    /// `retriable-headers`: a response header the policy lists (Istio cannot configure any).
    RetriableHeaders,
    /// `http3-post-connect-failure`: a failure after an HTTP/3 connection was made (only
    /// with HTTP/3 upstreams that can fall back to TCP, which meshroute's clusters are not).
    Http3PostConnectFailure,
    /// gRPC `cancelled` (grpc-status 1).
    Cancelled,
    /// gRPC `deadline-exceeded` (grpc-status 4).
    DeadlineExceeded,
    /// gRPC `internal` (grpc-status 13).
    Internal,
    /// gRPC `resource-exhausted` (grpc-status 8).
    ResourceExhausted,
    /// gRPC `unavailable` (grpc-status 14).
    Unavailable,
}

impl Condition {
    /// Every condition, in bit order.
    pub const ALL: [Condition; 16] = [
        Condition::FiveXx,
        Condition::GatewayError,
        Condition::Reset,
        Condition::ResetBeforeRequest,
        Condition::ConnectFailure,
        Condition::EnvoyRateLimited,
        Condition::Retriable4xx,
        Condition::RefusedStream,
        Condition::RetriableStatusCodes,
        Condition::RetriableHeaders,
        Condition::Http3PostConnectFailure,
        Condition::Cancelled,
        Condition::DeadlineExceeded,
        Condition::Internal,
        Condition::ResourceExhausted,
        Condition::Unavailable,
    ];

    /// The name as `retryOn` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Condition::FiveXx => "5xx",
            Condition::GatewayError => "gateway-error",
            Condition::Reset => "reset",
            Condition::ResetBeforeRequest => "reset-before-request",
            Condition::ConnectFailure => "connect-failure",
            Condition::EnvoyRateLimited => "envoy-ratelimited",
            Condition::Retriable4xx => "retriable-4xx",
            Condition::RefusedStream => "refused-stream",
            Condition::RetriableStatusCodes => "retriable-status-codes",
            Condition::RetriableHeaders => "retriable-headers",
            Condition::Http3PostConnectFailure => "http3-post-connect-failure",
            Condition::Cancelled => "cancelled",
            Condition::DeadlineExceeded => "deadline-exceeded",
            Condition::Internal => "internal",
            Condition::ResourceExhausted => "resource-exhausted",
            Condition::Unavailable => "unavailable",
        }
    }

    /// The condition a `retryOn` token names, if any.
    pub fn from_name(name: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.name() == name)
    }

    fn bit(self) -> u32 {
        1 << Condition::ALL
            .iter()
            .position(|c| *c == self)
            .expect("every condition is in ALL")
    }
}

/// A set of `retry_on` conditions, parsed once from the policy's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RetryOn(u32);

impl RetryOn {
    /// The conditions a comma-separated `retry_on` names; tokens are trimmed, and tokens that
    /// name no condition (status codes, which istiod moves to `retriable_status_codes`) are
    /// ignored, as Envoy's `parseRetryOn` ignores them.
    ///
    /// # Example
    /// ```
    /// use meshroute::retry::{Condition, RetryOn};
    /// let on = RetryOn::parse("connect-failure, gateway-error,503");
    /// assert!(on.contains(Condition::GatewayError));
    /// assert!(!on.contains(Condition::FiveXx));
    /// ```
    pub fn parse(text: &str) -> RetryOn {
        let mut on = RetryOn(0);
        for token in text.split(',').map(str::trim) {
            if let Some(c) = Condition::from_name(token) {
                on.0 |= c.bit();
            }
        }
        on
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: Condition) -> bool {
        self.0 & c.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The conditions in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Condition> {
        Condition::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

/// What the upstream did with one try of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamResult {
    /// Response headers arrived.
    Response {
        /// `:status`.
        status: u16,
        /// The `grpc-status` header, when the response carries one (a trailers-only gRPC
        /// response: `:status` 200 with the gRPC status in the headers).
        grpc_status: Option<u32>,
        /// Whether the response carries `x-envoy-ratelimited` (an upstream Envoy rate
        /// limited it).
        rate_limited: bool,
    },
    /// The stream was reset (remote reset, connection closed mid-request, ...).
    Reset {
        /// Whether any byte of the request had been sent upstream, on this try or an earlier
        /// one (Envoy keeps the flag across tries): `reset-before-request` retries only when
        /// none had.
        request_started: bool,
    },
    /// No connection could be made to the endpoint (refused, failed, or timed out).
    ConnectFailure,
    /// The upstream refused the stream (HTTP/2 `REFUSED_STREAM`); the request had been sent.
    RefusedStream,
    /// The try's per-try timeout fired: Envoy resets the try (a local reset after the
    /// request was sent) and answers 504 `UT` unless it retries.
    PerTryTimeout,
    /// The cluster's circuit breaker refused the request (`UO`): never retried.
    Overflow,
}

impl UpstreamResult {
    /// A response with `status` and no gRPC status.
    pub fn status(status: u16) -> UpstreamResult {
        UpstreamResult::Response {
            status,
            grpc_status: None,
            rate_limited: false,
        }
    }

    /// A gRPC response: HTTP `status` (200 for a trailers-only response) with `grpc-status`.
    pub fn grpc(status: u16, grpc_status: u32) -> UpstreamResult {
        UpstreamResult::Response {
            status,
            grpc_status: Some(grpc_status),
            rate_limited: false,
        }
    }

    /// A reset; `request_started` as [`UpstreamResult::Reset`].
    pub fn reset(request_started: bool) -> UpstreamResult {
        UpstreamResult::Reset { request_started }
    }
}

/// Why a result is retried or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryReason {
    /// Retried: a `retry_on` condition matched and retries are left.
    Retry,
    /// The rule has no retry policy (`attempts: 0`, or a Gateway API rule without `retry`).
    NoPolicy,
    /// No `retry_on` condition matches the result (a success, or a failure not listed).
    NotRetriable,
    /// The response carries `x-envoy-ratelimited` and the policy lacks `envoy-ratelimited`:
    /// Envoy never retries it otherwise.
    RateLimited,
    /// A circuit-breaker overflow: never retried.
    Overflow,
    /// A condition matched but every retry is spent: the result goes downstream, flag `URX`.
    RetryLimitExceeded,
    /// The route timeout is spent, or would be before the backoff ends: Envoy's route timer
    /// answers 504 `UT` before the retry starts.
    Timeout,
}

impl RetryReason {
    /// A short name: `retry`, `no-policy`, `not-retriable`, `ratelimited`, `overflow`,
    /// `retry-limit-exceeded`, `timeout`.
    pub fn name(self) -> &'static str {
        match self {
            RetryReason::Retry => "retry",
            RetryReason::NoPolicy => "no-policy",
            RetryReason::NotRetriable => "not-retriable",
            RetryReason::RateLimited => "ratelimited",
            RetryReason::Overflow => "overflow",
            RetryReason::RetryLimitExceeded => "retry-limit-exceeded",
            RetryReason::Timeout => "timeout",
        }
    }
}

/// What Envoy's router does after one try ([`Retries::after`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryVerdict {
    /// Whether the request is tried again.
    pub retry: bool,
    /// Why.
    pub reason: RetryReason,
    /// The `retry_on` condition that matched the result, if one did (also when the retry is
    /// then refused for the limit or the timeout).
    pub condition: Option<Condition>,
    /// Retries still allowed after this verdict (the one it grants counted).
    pub attempts_left: u32,
    /// How long to wait before the retry (zero when there is none, and for a 425 retried by
    /// `retriable-status-codes`, which Envoy retries at once).
    pub backoff: Duration,
    /// The next try's timeout: the policy's per-try timeout, unless it is not shorter than
    /// the route timeout (then Envoy drops it); `None` for none.
    pub per_try_timeout: Option<Duration>,
    /// What is left of the route timeout (the overall budget of every try and backoff): the
    /// route timeout minus the time elapsed; `None` when the route has no timeout.
    pub budget: Option<Duration>,
    /// Whether the next try avoids the endpoints already tried (previous-hosts predicate).
    pub avoid_previous_hosts: bool,
    /// How many times the load balancer may pick again to avoid a tried endpoint before the
    /// last pick stands (Envoy's `host_selection_retry_max_attempts`).
    pub host_selection_attempts: u32,
    /// Whether later tries skip the priority levels (localities) already tried
    /// (`retryRemoteLocalities: true`: Envoy's `previous_priorities` with istiod's
    /// `update_frequency: 2`, so the first retry keeps the priority load and the third try
    /// leaves out the levels of the first two; [`crate::registry::Router::pick_retry`] applies
    /// it); otherwise every try picks among the priorities as the first did.
    pub remote_localities: bool,
}

impl RetryVerdict {
    /// The verdict for a forwarded request without a retry policy.
    pub(crate) fn no_policy(budget: Option<Duration>) -> RetryVerdict {
        RetryVerdict {
            retry: false,
            reason: RetryReason::NoPolicy,
            condition: None,
            attempts_left: 0,
            backoff: Duration::ZERO,
            per_try_timeout: None,
            budget,
            avoid_previous_hosts: false,
            host_selection_attempts: 0,
            remote_localities: false,
        }
    }

    /// The reason as the decide contract writes it: the condition that matched when the
    /// request is retried, else [`RetryReason::name`].
    pub fn reason_name(&self) -> &'static str {
        match (self.retry, self.condition) {
            (true, Some(c)) => c.name(),
            _ => self.reason.name(),
        }
    }

    /// The verdict in words (allocates; for tools).
    pub fn describe(&self) -> String {
        let ms = |d: Duration| d.as_millis();
        if !self.retry {
            let cond = self
                .condition
                .map(|c| format!(" ({} matched)", c.name()))
                .unwrap_or_default();
            return match self.reason {
                RetryReason::NoPolicy => "not retried: the rule has no retry policy".into(),
                RetryReason::NotRetriable => "not retried: no retryOn condition matches".into(),
                RetryReason::RateLimited => {
                    "not retried: x-envoy-ratelimited without envoy-ratelimited".into()
                }
                RetryReason::Overflow => "not retried: circuit-breaker overflow (UO)".into(),
                RetryReason::RetryLimitExceeded => {
                    format!("not retried{cond}: every retry is spent (URX)")
                }
                _ => format!("not retried{cond}: the route timeout is spent (504 UT)"),
            };
        }
        let mut text = format!(
            "retried on {} after {} ms; {} retries left",
            self.reason_name(),
            ms(self.backoff),
            self.attempts_left
        );
        if let Some(t) = self.per_try_timeout {
            text.push_str(&format!(", per-try timeout {} ms", ms(t)));
        }
        if let Some(b) = self.budget {
            text.push_str(&format!(", {} ms of the route timeout left", ms(b)));
        }
        if self.avoid_previous_hosts {
            text.push_str(&format!(
                "; avoiding endpoints already tried (up to {} picks)",
                self.host_selection_attempts
            ));
        }
        if self.remote_localities {
            text.push_str("; skipping localities already tried");
        }
        text
    }
}

/// Envoy's default base backoff interval (`upstream.base_retry_backoff_ms`).
pub const DEFAULT_BASE_BACKOFF: Duration = Duration::from_millis(25);

/// istiod's `HostSelectionRetryMaxAttempts`.
pub const HOST_SELECTION_ATTEMPTS: u32 = 5;

/// Istio's built-in default policy, shared by the tables whose mesh config sets no
/// `defaultHttpRetryPolicy`.
pub(crate) fn mesh_default() -> &'static Arc<Retries> {
    static MESH_DEFAULT: LazyLock<Arc<Retries>> =
        LazyLock::new(|| Arc::new(Retries::mesh_default()));
    &MESH_DEFAULT
}

/// A table's default retry policy: the policy of every route that writes none and of the mesh
/// default route (`None`: no retries, as `defaultHttpRetryPolicy: {attempts: 0}` or `{}` sets).
/// Compiled once from the mesh config; an empty table has Istio's built-in default.
#[derive(Clone, Debug)]
pub(crate) struct DefaultRetries(pub(crate) Option<Arc<Retries>>);

impl Default for DefaultRetries {
    fn default() -> DefaultRetries {
        DefaultRetries(Some(Arc::clone(mesh_default())))
    }
}

/// The interval the backoff of retry `n` (from 1) is drawn from, in milliseconds, as
/// `JitteredExponentialBackOffStrategy` grows it: `base` for the first retry, doubled per
/// retry while under half the maximum (`10 × base`), then the maximum.
pub fn backoff_interval_ms(base: Duration, n: u32) -> u64 {
    let base = (base.as_millis() as u64).max(1);
    let max = base.saturating_mul(10);
    let limit = max / 2;
    let mut interval = base;
    for _ in 1..n {
        if interval >= max {
            break;
        }
        interval = if interval < limit { interval * 2 } else { max };
    }
    interval
}

impl Retries {
    /// Which condition of the policy retries `result`, or why none does (Envoy's
    /// `wouldRetryFromHeaders` and `wouldRetryFromReset`, in their order).
    pub fn would_retry(&self, result: &UpstreamResult) -> Result<Condition, RetryReason> {
        let on = self.on;
        let first = |cs: &[Condition]| cs.iter().copied().find(|c| on.contains(*c));
        let found = match *result {
            UpstreamResult::Response {
                status,
                grpc_status,
                rate_limited,
            } => {
                if rate_limited {
                    return first(&[Condition::EnvoyRateLimited]).ok_or(RetryReason::RateLimited);
                }
                let grpc = match grpc_status {
                    Some(1) => Some(Condition::Cancelled),
                    Some(4) => Some(Condition::DeadlineExceeded),
                    Some(8) => Some(Condition::ResourceExhausted),
                    Some(13) => Some(Condition::Internal),
                    Some(14) => Some(Condition::Unavailable),
                    _ => None,
                };
                if (500..600).contains(&status) && on.contains(Condition::FiveXx) {
                    Some(Condition::FiveXx)
                } else if (502..=504).contains(&status) && on.contains(Condition::GatewayError) {
                    Some(Condition::GatewayError)
                } else if status == 409 && on.contains(Condition::Retriable4xx) {
                    Some(Condition::Retriable4xx)
                } else if on.contains(Condition::RetriableStatusCodes)
                    && self.retriable_status_codes.contains(&status)
                {
                    Some(Condition::RetriableStatusCodes)
                } else {
                    grpc.filter(|c| on.contains(*c))
                }
            }
            UpstreamResult::Overflow => return Err(RetryReason::Overflow),
            UpstreamResult::ConnectFailure => first(&[
                Condition::ConnectFailure,
                Condition::ResetBeforeRequest,
                Condition::Reset,
                Condition::FiveXx,
                Condition::GatewayError,
            ]),
            UpstreamResult::Reset { request_started } => {
                let before = (!request_started).then_some(Condition::ResetBeforeRequest);
                before.filter(|c| on.contains(*c)).or_else(|| {
                    first(&[Condition::Reset, Condition::FiveXx, Condition::GatewayError])
                })
            }
            UpstreamResult::RefusedStream => first(&[
                Condition::Reset,
                Condition::FiveXx,
                Condition::GatewayError,
                Condition::RefusedStream,
            ]),
            UpstreamResult::PerTryTimeout => {
                first(&[Condition::Reset, Condition::FiveXx, Condition::GatewayError])
            }
        };
        found.ok_or(RetryReason::NotRetriable)
    }

    /// What Envoy's router does after try number `attempt` (1 for the first try, 2 for the
    /// first retry, ...) ended with `result`, `elapsed` after the request started, under a
    /// route timeout of `overall` (`None`: none). `draw` is the random value of the backoff:
    /// the wait is `draw % interval` milliseconds with the interval of this retry
    /// ([`backoff_interval_ms`]), Envoy's full jitter. Allocates nothing.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use meshroute::action::Retries;
    /// use meshroute::retry::{RetryReason, UpstreamResult};
    /// // Istio's default: connect-failure, refused-stream, unavailable, cancelled, 2 retries.
    /// let policy = Retries::mesh_default();
    /// let v = policy.after(&UpstreamResult::ConnectFailure, 1, Duration::ZERO, None, 190);
    /// assert!(v.retry);
    /// assert_eq!(v.reason_name(), "connect-failure");
    /// assert_eq!((v.attempts_left, v.backoff), (1, Duration::from_millis(190 % 25)));
    /// // A 503 is not retried by the default any more.
    /// let v = policy.after(&UpstreamResult::status(503), 1, Duration::ZERO, None, 0);
    /// assert_eq!(v.reason, RetryReason::NotRetriable);
    /// ```
    pub fn after(
        &self,
        result: &UpstreamResult,
        attempt: u32,
        elapsed: Duration,
        overall: Option<Duration>,
        draw: u64,
    ) -> RetryVerdict {
        let retries_used = attempt.max(1) - 1;
        let left = self.attempts.saturating_sub(retries_used);
        let per_try_timeout = self
            .per_try_timeout
            .filter(|t| overall.is_none_or(|o| o.is_zero() || t < &o));
        let budget = overall.map(|o| o.saturating_sub(elapsed));
        let mut v = RetryVerdict {
            retry: false,
            reason: RetryReason::NotRetriable,
            condition: None,
            attempts_left: left,
            backoff: Duration::ZERO,
            per_try_timeout,
            budget,
            avoid_previous_hosts: self.avoids_previous_hosts(),
            host_selection_attempts: if self.avoids_previous_hosts() {
                self.host_selection_attempts
            } else {
                0
            },
            remote_localities: self.retry_remote_localities == Some(true),
        };
        let condition = match self.would_retry(result) {
            Ok(c) => c,
            Err(reason) => {
                v.reason = reason;
                return v;
            }
        };
        v.condition = Some(condition);
        if left == 0 {
            v.reason = RetryReason::RetryLimitExceeded;
            return v;
        }
        // A 425 retried by status code goes again at once (`RetryImmediately`).
        let immediate = condition == Condition::RetriableStatusCodes
            && matches!(result, UpstreamResult::Response { status: 425, .. });
        let backoff = if immediate {
            Duration::ZERO
        } else {
            let base = self.backoff.unwrap_or(DEFAULT_BASE_BACKOFF);
            Duration::from_millis(draw % backoff_interval_ms(base, retries_used + 1))
        };
        if let Some(b) = budget
            && (b.is_zero() || backoff >= b)
        {
            v.reason = RetryReason::Timeout;
            return v;
        }
        v.retry = true;
        v.reason = RetryReason::Retry;
        v.attempts_left = left - 1;
        v.backoff = backoff;
        v
    }

    /// The policy in words: attempts, conditions, status codes, backoff, per-try timeout,
    /// host and locality rules (allocates; for tools).
    pub fn describe(&self) -> String {
        let mut text = format!("{} retries on {}", self.attempts, self.retry_on);
        if !self.retriable_status_codes.is_empty() {
            let codes: Vec<String> = self
                .retriable_status_codes
                .iter()
                .map(u16::to_string)
                .collect();
            text.push_str(&format!(" (status codes {})", codes.join(", ")));
        }
        let base = self.backoff.unwrap_or(DEFAULT_BASE_BACKOFF).as_millis();
        text.push_str(&format!(
            ", backoff full jitter from {base} ms doubling to {} ms",
            base * 10
        ));
        if let Some(t) = self.per_try_timeout {
            text.push_str(&format!(", per-try timeout {} ms", t.as_millis()));
        }
        if self.avoids_previous_hosts() {
            text.push_str(", avoiding endpoints already tried");
        }
        if self.retry_remote_localities == Some(true) {
            text.push_str(", skipping localities already tried");
        }
        if self.is_default {
            text.push_str(" (mesh default)");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy with `retry_on`, `attempts` retries and the given retriable status codes, as
    /// a route sets it.
    fn policy(retry_on: &str, attempts: u32, codes: &[u16]) -> Retries {
        let mut r = Retries::mesh_default();
        r.retry_on = retry_on.into();
        r.on = RetryOn::parse(retry_on);
        r.attempts = attempts;
        r.retriable_status_codes = codes.to_vec();
        r.is_default = false;
        r
    }

    /// The condition that retries `result` under `retry_on`, or `None`.
    fn matched(retry_on: &str, codes: &[u16], result: UpstreamResult) -> Option<&'static str> {
        let v = policy(retry_on, 1, codes).after(&result, 1, Duration::ZERO, None, 0);
        v.retry.then(|| v.reason_name())
    }

    /// Envoy retry_state_impl_test.cc `Policy5xxRemote503`, `PolicyGatewayErrorRemote502`,
    /// `...Remote503`, `...Remote504`: 5xx takes every 5xx, gateway-error only 502-504
    /// (`Http::CodeUtility::isGatewayError`).
    #[test]
    fn five_xx_takes_every_5xx_and_gateway_error_only_502_to_504() {
        for status in [500, 501, 502, 503, 504, 599] {
            assert_eq!(
                matched("5xx", &[], UpstreamResult::status(status)),
                Some("5xx")
            );
        }
        for status in [502, 503, 504] {
            assert_eq!(
                matched("gateway-error", &[], UpstreamResult::status(status)),
                Some("gateway-error")
            );
        }
        for status in [200, 404, 500, 501, 505] {
            assert_eq!(
                matched("gateway-error", &[], UpstreamResult::status(status)),
                None
            );
        }
        assert_eq!(matched("5xx", &[], UpstreamResult::status(429)), None);
    }

    /// Envoy `Policy5xxRemoteReset`, `PolicyGatewayErrorRemoteReset`: a reset counts as a
    /// 5xx; `Policy5xxResetOverflow`, `PolicyGatewayErrorResetOverflow`: an overflow never
    /// retries; `PolicyConnectFailureOtherReset`: connect-failure does not take a reset;
    /// `PolicyConnectFailureResetConnectFailure`; `PolicyRefusedStream`;
    /// `PolicyRetriable4xxReset`, `RetriableStatusCodesUpstreamReset`: status policies do not
    /// take resets. `wouldRetryFromReset`: reset-before-request only before any byte went up.
    #[test]
    fn resets_connect_failures_and_refused_streams() {
        let reset = UpstreamResult::reset(true);
        assert_eq!(matched("5xx", &[], reset), Some("5xx"));
        assert_eq!(matched("gateway-error", &[], reset), Some("gateway-error"));
        assert_eq!(matched("reset", &[], reset), Some("reset"));
        assert_eq!(matched("connect-failure", &[], reset), None);
        assert_eq!(matched("retriable-4xx", &[], reset), None);
        assert_eq!(matched("retriable-status-codes", &[409], reset), None);
        assert_eq!(matched("reset-before-request", &[], reset), None);
        assert_eq!(
            matched("reset-before-request", &[], UpstreamResult::reset(false)),
            Some("reset-before-request")
        );
        let overflow = UpstreamResult::Overflow;
        for on in ["5xx", "gateway-error", "reset", "connect-failure"] {
            let v = policy(on, 2, &[]).after(&overflow, 1, Duration::ZERO, None, 0);
            assert_eq!((v.retry, v.reason), (false, RetryReason::Overflow));
        }
        let cf = UpstreamResult::ConnectFailure;
        assert_eq!(matched("connect-failure", &[], cf), Some("connect-failure"));
        assert_eq!(matched("5xx", &[], cf), Some("5xx"));
        assert_eq!(
            matched("reset-before-request", &[], cf),
            Some("reset-before-request")
        );
        assert_eq!(matched("refused-stream", &[], cf), None);
        let refused = UpstreamResult::RefusedStream;
        assert_eq!(
            matched("refused-stream", &[], refused),
            Some("refused-stream")
        );
        assert_eq!(matched("connect-failure", &[], refused), None);
        // A per-try timeout is a local reset after the request went out (router.cc
        // `onPerTryTimeoutCommon` -> `maybeRetryReset`).
        let timeout = UpstreamResult::PerTryTimeout;
        assert_eq!(
            matched("gateway-error", &[], timeout),
            Some("gateway-error")
        );
        assert_eq!(
            matched("connect-failure,refused-stream", &[], timeout),
            None
        );
    }

    /// Envoy `PolicyRetriable4xxRetry` (409), `PolicyRetriable4xxNoRetry` (400),
    /// `RetriableStatusCodes` (409 listed); a listed code needs `retriable-status-codes` in
    /// `retry_on` (istiod adds it when `retryOn` lists codes).
    #[test]
    fn retriable_4xx_is_409_only_and_status_codes_need_their_condition() {
        assert_eq!(
            matched("retriable-4xx", &[], UpstreamResult::status(409)),
            Some("retriable-4xx")
        );
        for status in [400, 404, 429] {
            assert_eq!(
                matched("retriable-4xx", &[], UpstreamResult::status(status)),
                None
            );
        }
        assert_eq!(
            matched(
                "retriable-status-codes",
                &[409],
                UpstreamResult::status(409)
            ),
            Some("retriable-status-codes")
        );
        assert_eq!(
            matched(
                "retriable-status-codes",
                &[409],
                UpstreamResult::status(410)
            ),
            None
        );
        assert_eq!(matched("5xx", &[418], UpstreamResult::status(418)), None);
        // A 425 is retried at once, without backoff.
        let v = policy("retriable-status-codes", 2, &[425]).after(
            &UpstreamResult::status(425),
            1,
            Duration::ZERO,
            None,
            24,
        );
        assert!(v.retry);
        assert_eq!(v.backoff, Duration::ZERO);
    }

    /// Envoy `PolicyGrpcCancelled` (1), `PolicyGrpcDeadlineExceeded` (4),
    /// `PolicyGrpcResourceExhausted` (8), `PolicyGrpcInternal` (13), `PolicyGrpcUnavilable`
    /// (14): read from `grpc-status` whatever `:status`; `PolicyResourceExhaustedRemoteRateLimited`:
    /// `x-envoy-ratelimited` is retried only by `envoy-ratelimited`.
    #[test]
    fn grpc_statuses_come_from_the_grpc_status_header() {
        for (on, code) in [
            ("cancelled", 1),
            ("deadline-exceeded", 4),
            ("resource-exhausted", 8),
            ("internal", 13),
            ("unavailable", 14),
        ] {
            assert_eq!(matched(on, &[], UpstreamResult::grpc(200, code)), Some(on));
            assert_eq!(matched(on, &[], UpstreamResult::grpc(200, 0)), None);
            assert_eq!(matched(on, &[], UpstreamResult::status(503)), None);
        }
        assert_eq!(
            matched("unavailable", &[], UpstreamResult::grpc(200, 4)),
            None
        );
        let limited = UpstreamResult::Response {
            status: 200,
            grpc_status: Some(8),
            rate_limited: true,
        };
        let v = policy("resource-exhausted", 1, &[]).after(&limited, 1, Duration::ZERO, None, 0);
        assert_eq!((v.retry, v.reason), (false, RetryReason::RateLimited));
        assert_eq!(
            matched("envoy-ratelimited", &[], limited),
            Some("envoy-ratelimited")
        );
    }

    /// Envoy `PolicyRefusedStream`, `Policy5xxRemoteReset`: the retry after the last allowed
    /// one is `NoRetryLimitExceeded` (URX); the condition is still named.
    #[test]
    fn the_retry_limit_is_counted_from_the_attempt() {
        let p = policy("5xx", 2, &[]);
        let r = UpstreamResult::status(503);
        let left: Vec<(bool, u32)> = (1..=3)
            .map(|a| {
                let v = p.after(&r, a, Duration::ZERO, None, 0);
                (v.retry, v.attempts_left)
            })
            .collect();
        assert_eq!(left, [(true, 1), (true, 0), (false, 0)]);
        let v = p.after(&r, 3, Duration::ZERO, None, 0);
        assert_eq!(v.reason, RetryReason::RetryLimitExceeded);
        assert_eq!(v.condition, Some(Condition::FiveXx));
        assert_eq!(v.reason_name(), "retry-limit-exceeded");
    }

    /// istiod retry.go `DefaultPolicy` (and its test `TestNilRetryShouldReturnDefault`): 2
    /// retries on connect-failure, refused-stream, unavailable, cancelled and
    /// retriable-status-codes (no code listed since 503 left the default), previous hosts
    /// avoided with 5 host selection attempts.
    #[test]
    fn istios_default_policy() {
        let p = Retries::mesh_default();
        let after = |r: UpstreamResult, attempt| p.after(&r, attempt, Duration::ZERO, None, 0);
        for r in [
            UpstreamResult::ConnectFailure,
            UpstreamResult::RefusedStream,
            UpstreamResult::grpc(200, 14),
            UpstreamResult::grpc(200, 1),
        ] {
            assert!(after(r, 1).retry, "{r:?}");
            assert!(after(r, 2).retry, "{r:?}");
            assert!(!after(r, 3).retry, "{r:?}");
        }
        for r in [
            UpstreamResult::status(503),
            UpstreamResult::status(500),
            UpstreamResult::reset(true),
            UpstreamResult::PerTryTimeout,
            UpstreamResult::grpc(200, 4),
        ] {
            assert_eq!(after(r, 1).reason, RetryReason::NotRetriable, "{r:?}");
        }
        let v = after(UpstreamResult::ConnectFailure, 1);
        assert!(v.avoid_previous_hosts);
        assert_eq!(v.host_selection_attempts, 5);
        assert!(!v.remote_localities);
    }

    /// Envoy retry_state_impl_test.cc `Backoff`: with a random value of 190 and the 25 ms
    /// base, the first three retries wait 15, 40 and 90 ms (intervals 25, 50, 100);
    /// backoff_strategy_test.cc: the interval stops at 10 × base.
    #[test]
    fn backoff_is_envoys_jittered_exponential() {
        let p = policy("connect-failure", 3, &[]);
        let waits: Vec<u128> = (1..=3)
            .map(|a| {
                p.after(
                    &UpstreamResult::ConnectFailure,
                    a,
                    Duration::ZERO,
                    None,
                    190,
                )
                .backoff
                .as_millis()
            })
            .collect();
        assert_eq!(waits, [15, 40, 90]);
        let base = Duration::from_millis(25);
        let intervals: Vec<u64> = (1..=7).map(|n| backoff_interval_ms(base, n)).collect();
        assert_eq!(intervals, [25, 50, 100, 200, 250, 250, 250]);
        // Every draw stays under the interval: full jitter in [0, interval).
        let mut p = policy("5xx", 10, &[]);
        p.backoff = Some(Duration::from_millis(100));
        for attempt in 1..=10 {
            let interval = backoff_interval_ms(Duration::from_millis(100), attempt);
            for draw in [0, 1, 99, 999, u64::MAX] {
                let v = p.after(
                    &UpstreamResult::status(500),
                    attempt,
                    Duration::ZERO,
                    None,
                    draw,
                );
                assert!(v.backoff < Duration::from_millis(interval));
                assert!(v.backoff < Duration::from_millis(1000));
            }
        }
    }

    /// router.cc `FilterUtility::finalTimeout`: a per-try timeout not shorter than the route
    /// timeout is dropped; the route timeout is the budget of every try and backoff, so a
    /// retry that cannot start before it ends is not made (504 UT).
    #[test]
    fn the_route_timeout_is_the_overall_budget() {
        let mut p = policy("5xx", 3, &[]);
        p.per_try_timeout = Some(Duration::from_millis(500));
        let r = UpstreamResult::status(503);
        let second = Duration::from_secs(1);
        let v = p.after(&r, 1, Duration::from_millis(300), Some(second), 10);
        assert!(v.retry);
        assert_eq!(v.per_try_timeout, Some(Duration::from_millis(500)));
        assert_eq!(v.budget, Some(Duration::from_millis(700)));
        // Per-try timeout >= route timeout: dropped.
        let v = p.after(&r, 1, Duration::ZERO, Some(Duration::from_millis(500)), 10);
        assert_eq!(v.per_try_timeout, None);
        // No route timeout: the per-try timeout stands, no budget.
        let v = p.after(&r, 1, Duration::ZERO, None, 10);
        assert_eq!(
            (v.per_try_timeout, v.budget),
            (Some(Duration::from_millis(500)), None)
        );
        // Spent, or spent before the backoff ends (draw 20 -> 20 ms wait, 10 ms left).
        let v = p.after(&r, 1, second, Some(second), 10);
        assert_eq!((v.retry, v.reason), (false, RetryReason::Timeout));
        assert_eq!(v.condition, Some(Condition::FiveXx));
        let v = p.after(&r, 1, Duration::from_millis(990), Some(second), 20);
        assert_eq!((v.retry, v.reason), (false, RetryReason::Timeout));
        let v = p.after(&r, 1, Duration::from_millis(990), Some(second), 5);
        assert!(v.retry);
    }

    #[test]
    fn retry_on_parses_once_into_a_set() {
        let on = RetryOn::parse(" 5xx,,gateway-error ,503,unknown");
        let names: Vec<&str> = on.iter().map(Condition::name).collect();
        assert_eq!(names, ["5xx", "gateway-error"]);
        assert!(RetryOn::parse("").is_empty());
        for c in Condition::ALL {
            assert_eq!(Condition::from_name(c.name()), Some(c));
            assert!(RetryOn::parse(c.name()).contains(c));
        }
    }
}
