//! Stable, specified hashes and the consistent-hash load balancers Envoy runs for Istio's
//! `consistentHash`: XXH64, the route hash policy (header, cookie, query parameter, source
//! IP, combined as Envoy combines them), the Maglev table, the ketama ring, and a sticky
//! weighted split for T(x).
//!
//! Everything here is pinned to a published algorithm and to Envoy's code
//! (`source/common/http/hash_policy.cc`, `source/common/common/hash.{h,cc}`,
//! `source/extensions/load_balancing_policies/{maglev,ring_hash,common}/`), never to std's
//! `DefaultHasher` or a random seed, so a key picks the same endpoint on every platform, in
//! every process and across rebuilds of a table with the same endpoints.
//!
//! Tables ([`Maglev`], [`RingHash`]) are built once (allocating is fine there) and then only
//! read: [`Maglev::pick`], [`RingHash::pick`], [`sticky_pick`], [`xxhash64`] and the request
//! hash helpers never allocate.
//!
//! # Example: a request hashed on a header, picked on a Maglev table
//! ```
//! use meshroute::OwnedRequest;
//! use meshroute::hash::{HashKey, Maglev, header_hash};
//!
//! let endpoints = [("10.0.0.1:9080", 1), ("10.0.0.2:9080", 1), ("10.0.0.3:9080", 2)];
//! let maglev = Maglev::new(&endpoints)?;
//! let req = OwnedRequest::new("GET", "http://reviews/r/1").header("x-user", "jason");
//! let mut key = HashKey::new();
//! key.add(header_hash(&req, "x-user"));
//! let hash = key.hash().expect("the header is present");
//! let endpoint = maglev.pick(hash);
//! assert!(endpoint < endpoints.len());
//! assert_eq!(maglev.pick(hash), endpoint, "the same key always lands on the same endpoint");
//! # Ok::<(), meshroute::hash::BuildError>(())
//! ```

use std::fmt;
use std::net::IpAddr;

use crate::predicate::query::first_value;
use crate::request::Request;

// ---------------------------------------------------------------------------------------------
// XXH64
// ---------------------------------------------------------------------------------------------

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

#[inline]
fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

#[inline]
fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// One lane step: `rotl(acc + lane·P2, 31)·P1`.
#[inline]
fn xxh_round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

/// Folds one of the four accumulators into the final value.
#[inline]
fn xxh_merge(acc: u64, lane_acc: u64) -> u64 {
    (acc ^ xxh_round(0, lane_acc))
        .wrapping_mul(P1)
        .wrapping_add(P4)
}

/// XXH64 of `input` with `seed`: the published xxHash 64-bit algorithm (Yann Collet, xxHash
/// specification `doc/xxhash_spec.md`), written from the specification. Envoy's
/// `HashUtil::xxHash64(input, seed = 0)` calls the reference `XXH64`, so this returns the
/// same value for the same bytes and seed on every platform (input is read little-endian).
///
/// # Example
/// ```
/// use meshroute::hash::xxhash64;
/// assert_eq!(xxhash64(b"", 0), 0xEF46_DB37_51D8_E999);
/// assert_eq!(xxhash64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
/// ```
pub fn xxhash64(input: &[u8], seed: u64) -> u64 {
    let mut acc;
    let mut tail = input;
    if input.len() >= 32 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        let mut stripes = input.chunks_exact(32);
        for stripe in &mut stripes {
            for (lane, v) in stripe.chunks_exact(8).zip(v.iter_mut()) {
                *v = xxh_round(*v, le64(lane));
            }
        }
        tail = stripes.remainder();
        acc = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for v in v {
            acc = xxh_merge(acc, v);
        }
    } else {
        acc = seed.wrapping_add(P5);
    }
    acc = acc.wrapping_add(input.len() as u64);

    let mut words = tail.chunks_exact(8);
    for word in &mut words {
        acc ^= xxh_round(0, le64(word));
        acc = acc.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
    }
    let mut tail = words.remainder();
    if tail.len() >= 4 {
        acc ^= u64::from(le32(tail)).wrapping_mul(P1);
        acc = acc.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        tail = &tail[4..];
    }
    for &byte in tail {
        acc ^= u64::from(byte).wrapping_mul(P5);
        acc = acc.rotate_left(11).wrapping_mul(P1);
    }

    acc ^= acc >> 33;
    acc = acc.wrapping_mul(P2);
    acc ^= acc >> 29;
    acc = acc.wrapping_mul(P3);
    acc ^ (acc >> 32)
}

/// Envoy's hash of a list of strings (`HashUtil::xxHash64(absl::Span<absl::string_view>)`):
/// the values are chained through the seed, `seed = XXH64(value, seed)` for each value in
/// order, starting from seed 0; the result is the last seed. One value therefore hashes like
/// that value alone, and the order matters (callers sort first, see [`values_hash`]).
///
/// Older Envoy releases (the `std::vector<std::string>` overload) fed the values into one
/// streaming XXH64 state instead, i.e. hashed their concatenation; the chained form is the
/// one in current Envoy.
///
/// # Example
/// ```
/// use meshroute::hash::{xxhash64, xxhash64_chain};
/// assert_eq!(xxhash64_chain([&b"a"[..]]), xxhash64(b"a", 0));
/// assert_eq!(xxhash64_chain([&b"a"[..], b"b"]), xxhash64(b"b", xxhash64(b"a", 0)));
/// ```
pub fn xxhash64_chain<'a, I>(values: I) -> u64
where
    I: IntoIterator<Item = &'a [u8]>,
{
    values
        .into_iter()
        .fold(0, |seed, value| xxhash64(value, seed))
}

// ---------------------------------------------------------------------------------------------
// Hash policy
// ---------------------------------------------------------------------------------------------

/// The route hash key, built as Envoy's `HashPolicyImpl::generateHash` builds it from the
/// route's hash policies: each policy yields a hash or nothing; a new hash is combined as
/// `h = rotl(h_prev, 1) XOR h_new` (the first one as `0 XOR h_new`), so two identical
/// policies do not cancel out; policies that yield nothing leave the key unchanged. A
/// `terminal` policy stops the evaluation once a hash exists (from it or from an earlier
/// policy). No hash at all means the load balancer picks at random.
///
/// # Example
/// ```
/// use meshroute::hash::HashKey;
///
/// let mut key = HashKey::new();
/// key.add(None);
/// assert_eq!(key.hash(), None);
/// key.add(Some(5));
/// key.add(Some(5));
/// assert_eq!(key.hash(), Some((5u64.rotate_left(1)) ^ 5));
///
/// // Policies as (hash, terminal), evaluated lazily and in order.
/// assert_eq!(HashKey::combine([(Some(1), true), (Some(2), false)]), Some(1));
/// assert_eq!(HashKey::combine([(None, true), (Some(2), false)]), Some(2));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashKey {
    hash: Option<u64>,
}

impl HashKey {
    /// An empty key: no policy has produced a hash yet.
    pub const fn new() -> HashKey {
        HashKey { hash: None }
    }

    /// Combines the result of one more policy: `None` leaves the key unchanged.
    pub fn add(&mut self, new: Option<u64>) {
        if let Some(new) = new {
            let old = self.hash.map_or(0, |h| h.rotate_left(1));
            self.hash = Some(old ^ new);
        }
    }

    /// The hash so far; `None` when no policy produced one.
    pub const fn hash(&self) -> Option<u64> {
        self.hash
    }

    /// Evaluates `(hash, terminal)` results in order, as Envoy does: combine each hash, and
    /// stop after a terminal policy once a hash exists. The iterator is consumed lazily, so
    /// policies after the stop are not evaluated when it is a lazy `map` over the policies.
    pub fn combine<I>(policies: I) -> Option<u64>
    where
        I: IntoIterator<Item = (Option<u64>, bool)>,
    {
        let mut key = HashKey::new();
        for (hash, terminal) in policies {
            key.add(hash);
            if terminal && key.hash.is_some() {
                break;
            }
        }
        key.hash
    }
}

/// Values sorted on the stack up to this count; more are ordered by repeated minimum search.
pub const SORT_ON_STACK: usize = 16;

/// Envoy's header hash over one header's values (`HeaderHashMethod`): all values, sorted
/// byte-wise (so arrival order does not matter), hashed with [`xxhash64_chain`]. `None` when
/// there are no values; a present but empty value still hashes (as `XXH64("", 0)`).
///
/// Sorting without allocating: up to [`SORT_ON_STACK`] values are copied (as slices) into a
/// stack array and sorted in place. Beyond that the values are not stored at all: the
/// iterator is cloned and scanned once per distinct value to find the next smallest value
/// and its multiplicity, which costs `O(n · distinct)` comparisons (10,000 for Envoy's
/// default limit of 100 headers) but gives exactly the sorted order, so the hash never
/// depends on the count. Envoy's optional `regex_rewrite` of the values is not modelled
/// (Istio never sets it).
///
/// # Example
/// ```
/// use meshroute::hash::values_hash;
/// let ab = values_hash([&b"a"[..], b"b"]);
/// assert_eq!(ab, values_hash([&b"b"[..], b"a"]));
/// assert_eq!(values_hash(std::iter::empty::<&[u8]>()), None);
/// ```
pub fn values_hash<'a, I>(values: I) -> Option<u64>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    let values = values.into_iter();
    sorted_chain(|| values.clone())
}

/// [`values_hash`] over the values of header `name` (lowercase, as [`Request::header_values`]
/// expects): Istio's `httpHeaderName`. `None` when the header is absent.
pub fn header_hash<R: Request + ?Sized>(req: &R, name: &str) -> Option<u64> {
    sorted_chain(|| req.header_values(name))
}

/// The chained hash of the values `fresh()` yields, in sorted order; `fresh` returns a new
/// iterator over the same values each time it is called.
fn sorted_chain<'a, I, F>(mut fresh: F) -> Option<u64>
where
    F: FnMut() -> I,
    I: Iterator<Item = &'a [u8]>,
{
    let mut inline: [&[u8]; SORT_ON_STACK] = [&[]; SORT_ON_STACK];
    let mut n = 0;
    let mut overflow = false;
    for value in fresh() {
        if n == SORT_ON_STACK {
            overflow = true;
            break;
        }
        inline[n] = value;
        n += 1;
    }
    if n == 0 {
        return None;
    }
    if !overflow {
        let values = &mut inline[..n];
        values.sort_unstable();
        return Some(xxhash64_chain(values.iter().copied()));
    }
    // More values than the stack array holds: emit them in sorted order by finding, on each
    // pass, the smallest value greater than the previous one and how often it occurs.
    let mut seed = 0u64;
    let mut previous: Option<&[u8]> = None;
    loop {
        let mut next: Option<&[u8]> = None;
        let mut count = 0usize;
        for value in fresh() {
            if previous.is_some_and(|p| value <= p) {
                continue;
            }
            match next {
                Some(m) if value > m => {}
                Some(m) if value == m => count += 1,
                _ => {
                    next = Some(value);
                    count = 1;
                }
            }
        }
        let Some(value) = next else { break };
        for _ in 0..count {
            seed = xxhash64(value, seed);
        }
        previous = Some(value);
    }
    Some(seed)
}

/// The value of cookie `name` as Envoy's `Http::Utility::parseCookieValue` finds it: every
/// `cookie` header value in order, split on `;` (empty pieces skipped), a piece without `=`
/// skipped, the name taken from the first non-space byte up to the first `=` (compared
/// exactly), the value everything after that `=` (not trimmed), with one pair of surrounding
/// double quotes removed. The first piece whose name matches wins, even when its value is
/// empty.
pub fn cookie_value<'r, R: Request + ?Sized>(req: &'r R, name: &str) -> Option<&'r [u8]> {
    for header in req.header_values("cookie") {
        for piece in header.split(|&b| b == b';') {
            if piece.is_empty() {
                continue;
            }
            let Some(eq) = piece.iter().position(|&b| b == b'=') else {
                continue;
            };
            // `=` is not a space, so the first non-space byte is at or before it.
            let start = piece.iter().position(|&b| b != b' ').unwrap_or(eq);
            if &piece[start..eq] != name.as_bytes() {
                continue;
            }
            let mut value = &piece[eq + 1..];
            if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
                value = &value[1..value.len() - 1];
            }
            return Some(value);
        }
    }
    None
}

/// Envoy's cookie hash of a cookie value: `XXH64(value, 0)`; `None` for an empty value,
/// which Envoy treats as an absent cookie.
pub fn cookie_value_hash(value: &[u8]) -> Option<u64> {
    (!value.is_empty()).then(|| xxhash64(value, 0))
}

/// Istio's `httpCookie` for a request that carries the cookie: [`cookie_value_hash`] of
/// [`cookie_value`]. `None` when the cookie is absent or empty. (When the policy has a
/// `ttl`, Envoy then generates a cookie and hashes its value; [`generated_cookie_value`] is
/// meshroute's, and the router hashes it in place of the absent cookie.)
pub fn cookie_hash<R: Request + ?Sized>(req: &R, name: &str) -> Option<u64> {
    cookie_value(req, name).and_then(cookie_value_hash)
}

/// The value of the cookie generated for a request that lacks an `httpCookie` with a `ttl`:
/// 16 lowercase hex digits of an XXH64, the form Envoy's router writes
/// (`Filter::addDownstreamSetCookie`: `Hex::uint64ToHex(xxHash64(remote + local address))`).
///
/// Envoy hashes the downstream connection's remote and local addresses, so that the streams
/// of one connection get one cookie. meshroute never sees a connection: it hashes the
/// request's draw instead, `XXH64(draw as 8 little-endian bytes, seed 0)`, so the value is
/// reproducible for a given draw and independent of the other uses of the draw (the split's
/// `draw % total`, the random balancers' mixes). Two requests with different draws get
/// different cookies where Envoy would give one per connection; the next request that
/// carries the cookie lands on the same endpoint either way. The pick hashes the value with
/// [`cookie_value_hash`], as Envoy does. Never allocates.
///
/// # Example
/// ```
/// use meshroute::hash::{cookie_value_hash, generated_cookie_value, xxhash64};
/// let value = generated_cookie_value(7);
/// assert_eq!(value.len(), 16);
/// assert!(value.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)));
/// let expected = format!("{:016x}", xxhash64(&7u64.to_le_bytes(), 0));
/// assert_eq!(&value[..], expected.as_bytes());
/// assert_eq!(cookie_value_hash(&value), Some(xxhash64(expected.as_bytes(), 0)));
/// ```
pub fn generated_cookie_value(draw: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = xxhash64(&draw.to_le_bytes(), 0);
    let mut out = [0u8; 16];
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = HEX[(n >> (60 - 4 * i) & 0xF) as usize];
    }
    out
}

/// Istio's `httpQueryParameterName`: `XXH64(first value, 0)` of parameter `name` in the
/// query string of `:path`, raw (not percent-decoded), `?k` giving `""`; `None` when the
/// parameter is absent. Parsing is the crate's query matcher's
/// ([`crate::predicate::query::first_value`]), which also cuts a `#fragment` (Envoy does
/// not, but a fragment never reaches `:path` from a conforming client).
pub fn query_hash<R: Request + ?Sized>(req: &R, name: &str) -> Option<u64> {
    first_value(req.path(), name).map(|v| xxhash64(v.as_bytes(), 0))
}

/// Istio's `useSourceIp`: [`ip_hash`] of the downstream address; `None` when unknown.
pub fn source_ip_hash<R: Request + ?Sized>(req: &R) -> Option<u64> {
    req.source_ip().map(ip_hash)
}

/// Envoy's source IP hash: `XXH64(address text, 0)` with no port. The text is what Envoy's
/// `addressAsString()` gives: dotted quad for IPv4; for IPv6 glibc's `inet_ntop` form
/// (lowercase hex, the longest run of two or more zero groups shortened to `::`, an
/// IPv4-mapped `::ffff:a.b.c.d` and an IPv4-compatible `::a.b.c.d` written with a dotted
/// quad). Formatted into a stack buffer, without allocating.
///
/// Pass the address as Envoy sees it: on a dual-stack listener Envoy turns an IPv4-mapped
/// peer into plain IPv4. A link-local peer with a scope id is hashed by Envoy with a `%id`
/// suffix, which [`IpAddr`] cannot carry.
///
/// # Example
/// ```
/// use meshroute::hash::{ip_hash, xxhash64};
/// assert_eq!(ip_hash("10.1.2.3".parse().unwrap()), xxhash64(b"10.1.2.3", 0));
/// assert_eq!(ip_hash("2001:db8::1".parse().unwrap()), xxhash64(b"2001:db8::1", 0));
/// ```
pub fn ip_hash(ip: IpAddr) -> u64 {
    use std::fmt::Write as _;
    let mut text = StackText::default();
    // At most 45 bytes ("ffff:…:255.255.255.255"); the buffer holds 64, so this cannot fail.
    let _ = match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if s[..6] == [0; 6] && s[6] != 0 {
                // glibc prints the deprecated IPv4-compatible form with a dotted quad; Rust
                // prints it as hex.
                let o = v6.octets();
                write!(text, "::{}.{}.{}.{}", o[12], o[13], o[14], o[15])
            } else {
                write!(text, "{v6}")
            }
        }
        IpAddr::V4(v4) => write!(text, "{v4}"),
    };
    xxhash64(text.as_bytes(), 0)
}

/// A fixed-size text buffer for formatting addresses without allocating.
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> StackText {
        StackText {
            buf: [0; 64],
            len: 0,
        }
    }
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Build errors and weights
// ---------------------------------------------------------------------------------------------

/// Why a [`Maglev`] table or a [`RingHash`] could not be built. The message states the value
/// and the limit it broke.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// No endpoints were given.
    NoEndpoints,
    /// An endpoint's hash key is empty (Envoy asserts it never is).
    EmptyKey {
        /// The endpoint's index in the input.
        index: usize,
    },
    /// An endpoint has weight 0 (Envoy's endpoint weights are 1 or more).
    ZeroWeight {
        /// The endpoint's index in the input.
        index: usize,
        /// The endpoint's hash key.
        key: String,
    },
    /// The weights add up to more than `u32::MAX` (Envoy rejects such endpoint sets).
    WeightSum {
        /// The sum.
        sum: u64,
    },
    /// The Maglev table size is not a prime.
    TableSizeNotPrime {
        /// The size asked for.
        size: u64,
    },
    /// The Maglev table size is over [`Maglev::MAX_TABLE_SIZE`].
    TableSizeTooLarge {
        /// The size asked for.
        size: u64,
    },
    /// The minimum ring size is 0.
    RingSizeZero,
    /// A ring size is over [`RingHash::MAX_RING_SIZE`].
    RingSizeTooLarge {
        /// `"minimum"` or `"maximum"`.
        which: &'static str,
        /// The size asked for.
        size: u64,
    },
    /// The minimum ring size is greater than the maximum.
    RingSizeOrder {
        /// The minimum ring size.
        min: u64,
        /// The maximum ring size.
        max: u64,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoEndpoints => {
                f.write_str("no endpoints: a consistent-hash table needs at least one")
            }
            BuildError::EmptyKey { index } => {
                write!(f, "endpoint {index} has an empty hash key")
            }
            BuildError::ZeroWeight { index, key } => write!(
                f,
                "endpoint {index} ({key}) has weight 0; endpoint weights must be 1 or more"
            ),
            BuildError::WeightSum { sum } => write!(
                f,
                "endpoint weights sum to {sum}, over the maximum of {}",
                u32::MAX
            ),
            BuildError::TableSizeNotPrime { size } => write!(
                f,
                "maglev table size {size} is not a prime; the table size must be a prime (default {})",
                Maglev::DEFAULT_TABLE_SIZE
            ),
            BuildError::TableSizeTooLarge { size } => write!(
                f,
                "maglev table size {size} exceeds the maximum of {}",
                Maglev::MAX_TABLE_SIZE
            ),
            BuildError::RingSizeZero => {
                f.write_str("minimum ring size 0 would build an empty ring; it must be 1 or more")
            }
            BuildError::RingSizeTooLarge { which, size } => write!(
                f,
                "{which} ring size {size} exceeds the limit of {}",
                RingHash::MAX_RING_SIZE
            ),
            BuildError::RingSizeOrder { min, max } => write!(
                f,
                "minimum ring size {min} is greater than maximum ring size {max}"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// Envoy's normalized weights (`normalizeHostWeights`, no locality weighting): `w / Σw` as
/// doubles, with their minimum (starting from 1.0) and maximum (starting from 0.0).
struct Normalized {
    weights: Vec<f64>,
    min: f64,
    max: f64,
}

fn normalize(hosts: &[(&str, u32)]) -> Result<Normalized, BuildError> {
    if hosts.is_empty() {
        return Err(BuildError::NoEndpoints);
    }
    let mut sum = 0u64;
    for (index, &(key, weight)) in hosts.iter().enumerate() {
        if key.is_empty() {
            return Err(BuildError::EmptyKey { index });
        }
        if weight == 0 {
            return Err(BuildError::ZeroWeight {
                index,
                key: key.to_string(),
            });
        }
        sum += u64::from(weight);
    }
    if sum > u64::from(u32::MAX) {
        return Err(BuildError::WeightSum { sum });
    }
    let total = sum as f64;
    let mut min = 1.0f64;
    let mut max = 0.0f64;
    let weights = hosts
        .iter()
        .map(|&(_, w)| {
            // Envoy: `host->weight() * normalized_locality_weight / sum` with locality 1.0.
            let w = f64::from(w) * 1.0 / total;
            if w < min {
                min = w;
            }
            if w > max {
                max = w;
            }
            w
        })
        .collect();
    Ok(Normalized { weights, min, max })
}

// ---------------------------------------------------------------------------------------------
// Maglev
// ---------------------------------------------------------------------------------------------

const EMPTY_SLOT: u32 = u32::MAX;

/// A Maglev lookup table as Envoy builds it (`MaglevTable`, the paper's "pseudocode listing
/// 1" with weights): each slot holds the index (in the caller's input) of the endpoint that
/// owns it.
///
/// Build:
/// - endpoints sorted by hash key (byte-wise; equal keys keep their input order, where Envoy
///   breaks ties by pointer value, i.e. unspecified);
/// - per endpoint `offset = XXH64(key, 0) % M`, `skip = XXH64(key, 1) % (M − 1) + 1`, and the
///   permutation `(offset + skip · next) % M`;
/// - rounds `r = 1, 2, …`; in each round every endpoint, in sorted order, claims the next free
///   slot of its permutation if `r · weight ≥ target`, after which its `target` grows by the
///   largest weight. Weights are Envoy's normalized doubles (`w / Σw`) and the comparison is
///   done in `f64` exactly as Envoy does it, so ties land the same way. An endpoint with the
///   largest weight claims every round, one with a third of it every third round. The fill
///   stops as soon as all `M` slots are owned (possibly mid-round).
///
/// Lookup is `table[hash % M]`. The build costs `O(M log M)` probes for equal weights; with
/// very unequal weights up to `M` rounds of `N` checks.
///
/// # Example
/// ```
/// use meshroute::hash::Maglev;
/// let maglev = Maglev::with_table_size(&[("a", 1), ("b", 1)], 7)?;
/// assert_eq!(maglev.table().len(), 7);
/// assert!(maglev.pick(12345) < 2);
/// assert_eq!(Maglev::with_table_size(&[("a", 1)], 8).unwrap_err().to_string(),
///     "maglev table size 8 is not a prime; the table size must be a prime (default 65537)");
/// # Ok::<(), meshroute::hash::BuildError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Maglev {
    table: Vec<u32>,
    endpoints: usize,
}

impl Maglev {
    /// Envoy's and Istio's default table size (a prime; the paper's recommendation).
    pub const DEFAULT_TABLE_SIZE: u64 = 65_537;
    /// The largest table size Envoy accepts (`table_size` is validated `lte: 5000011`; 5000011
    /// is itself a prime and accepted).
    pub const MAX_TABLE_SIZE: u64 = 5_000_011;

    /// A table of [`Maglev::DEFAULT_TABLE_SIZE`] over `(hash key, weight)` endpoints.
    ///
    /// # Errors
    /// As [`Maglev::with_table_size`].
    pub fn new(endpoints: &[(&str, u32)]) -> Result<Maglev, BuildError> {
        Maglev::with_table_size(endpoints, Maglev::DEFAULT_TABLE_SIZE)
    }

    /// A table of `table_size` slots over `(hash key, weight)` endpoints. The hash key is
    /// what Envoy hashes: the endpoint's `envoy.lb` `hash_key` metadata if set, else its
    /// `ip:port` (or hostname with `use_hostname_for_hashing`).
    ///
    /// # Errors
    /// `table_size` over [`Maglev::MAX_TABLE_SIZE`] or not a prime (Envoy's own primality
    /// check lets 1 through, after which it would divide by zero computing `skip`; 1 is
    /// rejected here); no endpoints; an empty key; a weight of 0; weights summing over
    /// `u32::MAX`.
    pub fn with_table_size(
        endpoints: &[(&str, u32)],
        table_size: u64,
    ) -> Result<Maglev, BuildError> {
        if table_size > Maglev::MAX_TABLE_SIZE {
            return Err(BuildError::TableSizeTooLarge { size: table_size });
        }
        if !is_prime(table_size) {
            return Err(BuildError::TableSizeNotPrime { size: table_size });
        }
        let normalized = normalize(endpoints)?;
        let m = table_size;

        struct Entry {
            endpoint: u32,
            offset: u64,
            skip: u64,
            weight: f64,
            target: f64,
            next: u64,
        }

        let mut order: Vec<usize> = (0..endpoints.len()).collect();
        order.sort_by(|&a, &b| endpoints[a].0.as_bytes().cmp(endpoints[b].0.as_bytes()));
        let mut entries: Vec<Entry> = order
            .iter()
            .map(|&i| {
                let key = endpoints[i].0.as_bytes();
                Entry {
                    endpoint: i as u32,
                    offset: xxhash64(key, 0) % m,
                    skip: xxhash64(key, 1) % (m - 1) + 1,
                    weight: normalized.weights[i],
                    target: 0.0,
                    next: 0,
                }
            })
            .collect();

        let size = m as usize;
        let mut table = vec![EMPTY_SLOT; size];
        let mut filled = 0usize;
        let mut round: u32 = 1;
        while filled < size {
            for e in entries.iter_mut() {
                if filled == size {
                    break;
                }
                if f64::from(round) * e.weight < e.target {
                    continue;
                }
                e.target += normalized.max;
                let mut slot = ((e.offset + e.skip * e.next) % m) as usize;
                while table[slot] != EMPTY_SLOT {
                    e.next += 1;
                    slot = ((e.offset + e.skip * e.next) % m) as usize;
                }
                table[slot] = e.endpoint;
                e.next += 1;
                filled += 1;
            }
            round += 1;
        }
        Ok(Maglev {
            table,
            endpoints: endpoints.len(),
        })
    }

    /// The endpoint (index into the input) for `hash`: `table[hash % M]`. Never allocates.
    pub fn pick(&self, hash: u64) -> usize {
        self.table[(hash % self.table.len() as u64) as usize] as usize
    }

    /// The endpoint for retry attempt `attempt` (0 = the first try, same as [`Maglev::pick`]):
    /// Envoy mutates the hash as `hash ^= ~0 − attempt + 1` before the lookup.
    pub fn pick_attempt(&self, hash: u64, attempt: u32) -> usize {
        let mut hash = hash;
        if attempt > 0 {
            hash ^= (!0u64).wrapping_sub(u64::from(attempt)).wrapping_add(1);
        }
        self.pick(hash)
    }

    /// The table: slot → endpoint index.
    pub fn table(&self) -> &[u32] {
        &self.table
    }

    /// The number of endpoints the table was built over.
    pub fn endpoints(&self) -> usize {
        self.endpoints
    }
}

impl fmt::Debug for Maglev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Maglev")
            .field("table_size", &self.table.len())
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Trial division; enough for table sizes up to [`Maglev::MAX_TABLE_SIZE`].
fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Ring hash
// ---------------------------------------------------------------------------------------------

/// A ketama hash ring as Envoy builds it (`RingHashLoadBalancer::Ring`, xxHash64).
///
/// Build: with normalized weights `w / Σw` (doubles) and their minimum `min_w`,
/// `scale = min(ceil(min_w · min_ring) / min_w, max_ring)`; walking the endpoints in input
/// order, `target += scale · w` and the endpoint gets ring entries `XXH64(key + "_" + i, 0)`
/// for `i = 0, 1, …` while the running count `current < target` (both running sums across
/// all endpoints, in `f64` as Envoy keeps them); then the entries are sorted by hash (equal
/// hashes keep their build order; Envoy's unstable sort leaves it unspecified).
///
/// Lookup: the first entry whose hash is `≥ hash`, wrapping to entry 0 past the end, the
/// result of Envoy's ketama binary search. Adding or removing an endpoint only moves the
/// keys that land on that endpoint's entries (as long as the scale stays the same, i.e. the
/// smallest normalized weight times `min_ring` still rounds to the same whole number).
///
/// # Example
/// ```
/// use meshroute::hash::RingHash;
/// let ring = RingHash::new(&[("a", 1), ("b", 1), ("c", 2)])?;
/// // The lightest weight is 1/4: ceil(1024 / 4) = 256 entries for it, 256 · 4 = 1024 in all.
/// assert_eq!(ring.len(), 1024);
/// assert!(ring.pick(42) < 3);
/// # Ok::<(), meshroute::hash::BuildError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RingHash {
    hashes: Vec<u64>,
    owners: Vec<u32>,
    endpoints: usize,
}

impl RingHash {
    /// Envoy's default minimum ring size (Istio's too, for `ringHash: {}`).
    pub const DEFAULT_MIN_RING_SIZE: u64 = 1024;
    /// Envoy's default maximum ring size, also the largest it accepts (8M).
    pub const MAX_RING_SIZE: u64 = 8_388_608;

    /// A ring with the default sizes (minimum 1024, maximum 8,388,608) over `(hash key,
    /// weight)` endpoints.
    ///
    /// # Errors
    /// As [`RingHash::with_ring_size`].
    pub fn new(endpoints: &[(&str, u32)]) -> Result<RingHash, BuildError> {
        RingHash::with_ring_size(
            endpoints,
            RingHash::DEFAULT_MIN_RING_SIZE,
            RingHash::MAX_RING_SIZE,
        )
    }

    /// A ring with `min_ring` / `max_ring` (Envoy's `minimum_ring_size` /
    /// `maximum_ring_size`).
    ///
    /// # Errors
    /// `min_ring` 0 (Envoy would build an empty ring that picks nothing; Istio maps 0 to 1024
    /// before it gets here); a size over [`RingHash::MAX_RING_SIZE`]; `min_ring > max_ring`;
    /// no endpoints; an empty key; a weight of 0; weights summing over `u32::MAX`.
    pub fn with_ring_size(
        endpoints: &[(&str, u32)],
        min_ring: u64,
        max_ring: u64,
    ) -> Result<RingHash, BuildError> {
        if min_ring > RingHash::MAX_RING_SIZE {
            return Err(BuildError::RingSizeTooLarge {
                which: "minimum",
                size: min_ring,
            });
        }
        if max_ring > RingHash::MAX_RING_SIZE {
            return Err(BuildError::RingSizeTooLarge {
                which: "maximum",
                size: max_ring,
            });
        }
        if min_ring > max_ring {
            return Err(BuildError::RingSizeOrder {
                min: min_ring,
                max: max_ring,
            });
        }
        if min_ring == 0 {
            return Err(BuildError::RingSizeZero);
        }
        let normalized = normalize(endpoints)?;
        let min_w = normalized.min;
        let scale = f64::min((min_w * min_ring as f64).ceil() / min_w, max_ring as f64);

        let mut entries: Vec<(u64, u32)> = Vec::with_capacity(scale.ceil() as usize + 1);
        let mut key_buf: Vec<u8> = Vec::new();
        let mut current = 0.0f64;
        let mut target = 0.0f64;
        for (index, (&(key, _), &w)) in endpoints.iter().zip(&normalized.weights).enumerate() {
            target += scale * w;
            key_buf.clear();
            key_buf.extend_from_slice(key.as_bytes());
            key_buf.push(b'_');
            let prefix = key_buf.len();
            let mut i = 0u64;
            while current < target {
                key_buf.truncate(prefix);
                push_decimal(&mut key_buf, i);
                entries.push((xxhash64(&key_buf, 0), index as u32));
                i += 1;
                current += 1.0;
            }
        }
        entries.sort_by_key(|&(hash, _)| hash);
        let (hashes, owners) = entries.into_iter().unzip();
        Ok(RingHash {
            hashes,
            owners,
            endpoints: endpoints.len(),
        })
    }

    /// The endpoint (index into the input) for `hash`: the owner of the first entry whose
    /// hash is `≥ hash`, wrapping around. Never allocates.
    pub fn pick(&self, hash: u64) -> usize {
        self.owners[self.entry(hash)] as usize
    }

    /// The endpoint for retry attempt `attempt` (0 = the first try): Envoy steps `attempt`
    /// entries further along the ring.
    pub fn pick_attempt(&self, hash: u64, attempt: u32) -> usize {
        let i = (self.entry(hash) + attempt as usize) % self.hashes.len();
        self.owners[i] as usize
    }

    fn entry(&self, hash: u64) -> usize {
        let i = self.hashes.partition_point(|&h| h < hash);
        if i == self.hashes.len() { 0 } else { i }
    }

    /// The number of entries on the ring.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Always false: a ring is built over at least one endpoint and has at least one entry.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The ring in order: `(entry hash, endpoint index)`.
    pub fn entries(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        self.hashes
            .iter()
            .zip(&self.owners)
            .map(|(&h, &o)| (h, o as usize))
    }

    /// The number of endpoints the ring was built over.
    pub fn endpoints(&self) -> usize {
        self.endpoints
    }
}

/// Appends `n` in decimal (as `absl::StrCat` writes it).
fn push_decimal(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[start..]);
}

impl fmt::Debug for RingHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingHash")
            .field("len", &self.hashes.len())
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Sticky weighted split
// ---------------------------------------------------------------------------------------------

/// MurmurHash3's 64-bit finalizer (`fmix64`): a bijection that spreads every input bit over
/// the output, so structured key hashes (small integers, hashes also used for `% M` endpoint
/// picks) give independent split points.
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    k ^= k >> 33;
    k = k.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    k ^ (k >> 33)
}

/// A sticky weighted pick for T(x): the destination for a request whose hash key is
/// `key_hash`, over destinations with `cumulative` weights (`cumulative[j] = Σ_{k≤j} w_k`,
/// non-decreasing; the form [`crate::split::Split`] keeps internally). `None` when there are
/// no destinations or the total is 0. Never allocates.
///
/// The key is mapped to a fixed point `u = p / 2^53` with `p = fmix64(key_hash) >> 11`,
/// which does not depend on the weights; destination `j` owns `[cum_{j−1} / T, cum_j / T)`
/// of the unit interval (`T` the total). The comparison is exact in integers:
/// `p · T < cum_j · 2^53` in `u128`. Zero-weight destinations own empty intervals. This is
/// unlike `hash % T`, which reshuffles almost every key whenever `T` changes.
///
/// Why a ramp moves only the keys it must, for two destinations: the only boundary is
/// `b = w_1 / T`. A key changes destination exactly when `b` crosses its fixed `u`; when the
/// second destination's share grows (90/10 → 80/20), `b` falls from 0.9 to 0.8 and exactly
/// the keys with `u ∈ [0.8, 0.9)` move, all from the first to the second; none moves back,
/// and the fraction moved equals the change in share (up to the 2^−53 resolution). Only the
/// ratio matters: 9/1 and 900/100 are the same split.
///
/// With three or more destinations a key moves when any boundary `b_j = cum_j / T` crosses
/// it. Moving weight between adjacent destinations with the total unchanged moves one
/// boundary, so again only the minimum moves. Otherwise the boundaries in between shift too:
/// 50/30/20 → 40/30/30 moves `[0.4, 0.5)` from the first to the second and `[0.7, 0.8)` from
/// the second to the third, 20 % of keys where 10 % is the minimum, and the second keeps its
/// share with different keys. Keep the destinations being ramped next to each other (e.g. the
/// canary last, next to the version it replaces) to keep churn minimal.
///
/// # Example
/// ```
/// use meshroute::hash::{sticky_pick, xxhash64};
/// let key = xxhash64(b"user-42", 0);
/// let before = sticky_pick(key, &[90, 100]).unwrap();
/// let after = sticky_pick(key, &[80, 100]).unwrap();
/// assert!(after >= before, "a ramp towards the second destination never moves a key back");
/// assert_eq!(sticky_pick(key, &[0, 0]), None);
/// ```
pub fn sticky_pick(key_hash: u64, cumulative: &[u64]) -> Option<usize> {
    let total = *cumulative.last()?;
    if total == 0 {
        return None;
    }
    let point = u128::from(fmix64(key_hash) >> 11) * u128::from(total);
    let i = cumulative.partition_point(|&c| u128::from(c) << 53 <= point);
    Some(i.min(cumulative.len() - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let small: Vec<u64> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(small, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(65_537));
        assert!(is_prime(5_000_011));
        assert!(!is_prime(65_535));
        assert!(!is_prime(5_000_009)); // 7 × 714287
    }

    #[test]
    fn sorted_chain_overflow_path_matches_sort() {
        // 40 values with duplicates: the selection path must give the sorted order.
        let owned: Vec<Vec<u8>> = (0..40u32)
            .map(|i| format!("v{}", (i * 7919) % 23).into_bytes())
            .collect();
        let values: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let mut sorted = values.clone();
        sorted.sort();
        assert_eq!(
            values_hash(values.iter().copied()),
            Some(xxhash64_chain(sorted.iter().copied()))
        );
    }
}

/// Where a request key comes from: a header, a cookie, a query parameter or the source IP.
/// Used by consistent-hash load balancing and by the sticky split.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// All values of a header (lowercase name), as Envoy hashes them.
    Header(Box<str>),
    /// A cookie's value.
    Cookie(Box<str>),
    /// The first raw value of a query parameter.
    Query(Box<str>),
    /// The downstream IP address.
    SourceIp,
}

impl std::fmt::Display for KeySource {
    /// The form [`KeySource::parse`] reads: `header:NAME`, `cookie:NAME`, `query:NAME` or
    /// `source-ip`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Header(n) => write!(f, "header:{n}"),
            KeySource::Cookie(n) => write!(f, "cookie:{n}"),
            KeySource::Query(n) => write!(f, "query:{n}"),
            KeySource::SourceIp => f.write_str("source-ip"),
        }
    }
}

impl KeySource {
    /// Parses `header:NAME`, `cookie:NAME`, `query:NAME` or `source-ip`.
    ///
    /// # Errors
    /// A message naming the accepted forms.
    pub fn parse(text: &str) -> Result<KeySource, String> {
        let (kind, name) = text
            .split_once(':')
            .map_or((text, ""), |(k, n)| (k, n.trim()));
        match (kind.trim(), name) {
            ("header", n) if !n.is_empty() => Ok(KeySource::Header(n.to_ascii_lowercase().into())),
            ("cookie", n) if !n.is_empty() => Ok(KeySource::Cookie(n.into())),
            ("query", n) if !n.is_empty() => Ok(KeySource::Query(n.into())),
            ("source-ip", "") => Ok(KeySource::SourceIp),
            _ => Err(format!(
                "{text:?} is not a request key; write header:NAME, cookie:NAME, query:NAME or source-ip"
            )),
        }
    }

    /// The key's hash for `req`, or `None` when the request does not carry it.
    pub fn hash<R: Request + ?Sized>(&self, req: &R) -> Option<u64> {
        match self {
            KeySource::Header(n) => header_hash(req, n),
            KeySource::Cookie(n) => cookie_hash(req, n),
            KeySource::Query(n) => query_hash(req, n),
            KeySource::SourceIp => source_ip_hash(req),
        }
    }
}
