//! The hot part of a match block, kept inline in a claim's entry list: which conditions the
//! block has and its first plain header condition (an interned name, the value's length and
//! its first 8 bytes). A candidate that fails on that header is rejected from the entry alone,
//! without reading its rule, its block or the condition's strings; a block whose conditions
//! are all decided inline (its path by the route index, a header value of at most 8 bytes) is
//! accepted the same way. Anything else is left to [`crate::block::Block`]'s full check.
//!
//! The inline header conditions look the request's headers up once per decision and name, for
//! the first four names a decision meets ([`HeaderCache`]), not once per candidate; the full
//! check reads the headers itself.

use crate::block::Block;
use crate::predicate::StrMatch;
use crate::predicate::header::{HeaderMatch, HeaderSource};
use crate::request::Request;

/// No inline header condition.
const NONE: u8 = 0;
/// The header is present.
const PRESENT: u8 = 1;
/// The header's one value equals the value.
const EXACT: u8 = 2;
/// The header's one value starts with the value.
const PREFIX: u8 = 3;

/// The block has a path condition.
const URI: u8 = 1;
/// The block has a condition other than its path and the inline header.
const OTHER: u8 = 2;

/// What the inline part says about a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quick {
    /// The block fails.
    Fails,
    /// The block holds.
    Holds,
    /// The block holds if its path condition does (every other condition holds).
    Uri,
    /// The block's full check decides.
    Check,
}

/// The hot part of one entry's block (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hot {
    /// The value's first 8 bytes, zero-padded (as bytes, so that a `Hot` and the entry and
    /// posting holding it align to 4 and a route index node stays in one cache line).
    word: [u8; 8],
    /// The header's interned name ([`HeaderNames`]).
    name: u16,
    /// The value's length.
    len: u16,
    /// [`NONE`], [`PRESENT`], [`EXACT`] or [`PREFIX`].
    kind: u8,
    /// [`URI`] and [`OTHER`].
    flags: u8,
}

/// Until [`Hot::new`] sets it, the hot part decides nothing: the full check runs.
impl Default for Hot {
    fn default() -> Hot {
        Hot {
            word: [0; 8],
            name: 0,
            len: 0,
            kind: NONE,
            flags: OTHER,
        }
    }
}

impl Hot {
    /// The hot part of `block` (`None`: a rule without blocks, which matches everything),
    /// interning its header name in `names`.
    pub(crate) fn new(block: Option<&Block>, names: &mut HeaderNames) -> Hot {
        let mut hot = Hot {
            flags: 0,
            ..Hot::default()
        };
        let Some(block) = block else {
            return hot;
        };
        let mut inline = None;
        for (i, h) in block.headers.iter().enumerate() {
            if let Some(found) = Hot::header(h, names) {
                hot = found;
                inline = Some(i);
                break;
            }
        }
        let other = !block.source.is_empty()
            || block.method.is_some()
            || block.scheme.is_some()
            || block.authority.is_some()
            || !block.query.is_empty()
            || block.headers.len() > usize::from(inline.is_some());
        hot.flags = if block.uri.is_some() { URI } else { 0 } | if other { OTHER } else { 0 };
        hot
    }

    /// The inline form of a header condition, when it has one: a regular header, not
    /// inverted, present or with an exact or prefix value.
    fn header(h: &HeaderMatch, names: &mut HeaderNames) -> Option<Hot> {
        let HeaderSource::Header(name) = &h.source else {
            return None;
        };
        if h.invert || h.missing_as_empty {
            return None;
        }
        let (kind, value) = match &h.value {
            None => (PRESENT, &[][..]),
            Some(StrMatch::Exact(v)) => (EXACT, v.as_bytes()),
            Some(StrMatch::Prefix(v)) => (PREFIX, v.as_bytes()),
            Some(StrMatch::Regex(_)) => return None,
        };
        Some(Hot {
            word: head(value).to_le_bytes(),
            name: names.intern(name)?,
            len: u16::try_from(value.len()).ok()?,
            kind,
            flags: 0,
        })
    }

    /// What the inline part decides for `req`, when the route index has (`uri_known`) or has
    /// not decided the path condition.
    #[inline]
    pub(crate) fn quick<R: Request + ?Sized>(
        &self,
        uri_known: bool,
        headers: &mut HeaderCache,
        names: &HeaderNames,
        req: &R,
    ) -> Quick {
        let decided = match self.kind {
            NONE => true,
            kind => {
                let seen = headers.get(self.name, names, req);
                match (kind, seen.len) {
                    (_, ABSENT) => return Quick::Fails,
                    (PRESENT, _) => true,
                    (_, MANY) => return Quick::Check,
                    (EXACT, len) => {
                        if len != u32::from(self.len) || seen.word != u64::from_le_bytes(self.word)
                        {
                            return Quick::Fails;
                        }
                        self.len <= 8
                    }
                    (_, len) => {
                        if len < u32::from(self.len)
                            || seen.word & mask(self.len) != u64::from_le_bytes(self.word)
                        {
                            return Quick::Fails;
                        }
                        self.len <= 8
                    }
                }
            }
        };
        if !decided || self.flags & OTHER != 0 {
            Quick::Check
        } else if self.flags & URI != 0 && !uri_known {
            Quick::Uri
        } else {
            Quick::Holds
        }
    }
}

/// The low `len` bytes of a word (all of them from 8 on).
#[inline]
fn mask(len: u16) -> u64 {
    if len >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * len)) - 1
    }
}

/// The first 8 bytes of `v` (fewer when it is shorter), little-endian, zero-padded: read with
/// overlapping loads, without a copy.
#[inline]
fn head(v: &[u8]) -> u64 {
    let n = v.len();
    let w4 = |i: usize| u64::from(u32::from_le_bytes(v[i..i + 4].try_into().expect("4 bytes")));
    if n >= 8 {
        u64::from_le_bytes(v[..8].try_into().expect("8 bytes"))
    } else if n >= 4 {
        w4(0) | (w4(n - 4) << (8 * (n - 4)))
    } else if n > 0 {
        u64::from(v[0])
            | u64::from(v[n / 2]) << (8 * (n / 2))
            | u64::from(v[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

/// The header names of a table's inline conditions, each with a small id.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeaderNames {
    names: Vec<Box<str>>,
    ids: std::collections::HashMap<Box<str>, u16>,
}

impl HeaderNames {
    /// The id of `name`, added if new; `None` once ids run out.
    fn intern(&mut self, name: &str) -> Option<u16> {
        if let Some(&id) = self.ids.get(name) {
            return Some(id);
        }
        let id = u16::try_from(self.names.len()).ok()?;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        Some(id)
    }

    /// Drops the lookup map once every name is interned; ids stay valid.
    pub(crate) fn finish(&mut self) {
        self.ids = Default::default();
        self.names.shrink_to_fit();
    }

    #[inline]
    fn name(&self, id: u16) -> &str {
        &self.names[usize::from(id)]
    }
}

/// `Seen::len` of an absent header.
const ABSENT: u32 = u32::MAX;
/// `Seen::len` of a repeated header.
const MANY: u32 = u32::MAX - 1;

/// A header of the request as the inline conditions read it: its one value's length and first
/// bytes ([`head`]), or [`ABSENT`] or [`MANY`].
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    word: u64,
    len: u32,
}

/// Slots of a [`HeaderCache`]: a decision reads few header names.
const SLOTS: usize = 4;

/// The request's headers looked up so far in one decision, by interned name. On the stack;
/// past [`SLOTS`] names a lookup is not kept.
#[derive(Debug, Default)]
pub(crate) struct HeaderCache {
    ids: [u16; SLOTS],
    seen: [Seen; SLOTS],
    n: usize,
}

impl HeaderCache {
    #[inline]
    fn get<R: Request + ?Sized>(&mut self, id: u16, names: &HeaderNames, req: &R) -> Seen {
        for k in 0..self.n {
            if self.ids[k] == id {
                return self.seen[k];
            }
        }
        let seen = look_up(req, names.name(id));
        if self.n < SLOTS {
            self.ids[self.n] = id;
            self.seen[self.n] = seen;
            self.n += 1;
        }
        seen
    }
}

#[inline(never)]
fn look_up<R: Request + ?Sized>(req: &R, name: &str) -> Seen {
    let mut values = req.header_values(name);
    match (values.next(), values.next()) {
        (None, _) => Seen {
            word: 0,
            len: ABSENT,
        },
        (Some(_), Some(_)) => Seen { word: 0, len: MANY },
        (Some(v), None) => Seen {
            word: head(v),
            // A value too long to count is read by the full check.
            len: u32::try_from(v.len()).map_or(MANY, |n| n.min(MANY - 1)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OwnedRequest;

    #[test]
    fn head_reads_the_first_bytes() {
        for n in 0..12 {
            let v: Vec<u8> = (1..=n as u8).collect();
            let mut w = [0u8; 8];
            let k = n.min(8);
            w[..k].copy_from_slice(&v[..k]);
            assert_eq!(head(&v), u64::from_le_bytes(w), "{n}");
        }
    }

    #[test]
    fn quick_agrees_with_the_full_check() {
        let values = [
            "",
            "t",
            "t1",
            "t12",
            "t1234567",
            "t12345678",
            "t123456789",
            "u1",
        ];
        let mut names = HeaderNames::default();
        let mut blocks = Vec::new();
        for v in values {
            for m in [
                None,
                Some(StrMatch::Exact(v.into())),
                Some(StrMatch::Prefix(v.into())),
            ] {
                for uri in [false, true] {
                    blocks.push(Block {
                        headers: Box::new([HeaderMatch {
                            source: HeaderSource::from_name("X-Tenant"),
                            value: m.clone(),
                            invert: false,
                            missing_as_empty: false,
                        }]),
                        uri: uri.then(|| crate::predicate::path::PathMatch::Prefix {
                            value: "/a".into(),
                            ignore_case: false,
                        }),
                        ..Block::default()
                    });
                }
            }
        }
        let hots: Vec<Hot> = blocks
            .iter()
            .map(|b| Hot::new(Some(b), &mut names))
            .collect();
        let mut reqs = vec![OwnedRequest::new("GET", "/a")];
        for v in values {
            reqs.push(OwnedRequest::new("GET", "/a").header("x-tenant", v));
            reqs.push(OwnedRequest::new("GET", "/b").header("X-TENANT", v));
            reqs.push(
                OwnedRequest::new("GET", "/a")
                    .header("x-tenant", v)
                    .header("x-tenant", "t1"),
            );
        }
        for req in &reqs {
            let mut cache = HeaderCache::default();
            for (b, h) in blocks.iter().zip(&hots) {
                for known in [false, true] {
                    let path = crate::predicate::path::strip_query(&req.path);
                    if known && !b.uri.as_ref().is_none_or(|u| u.is_match(path)) {
                        continue;
                    }
                    let full = b.holds(req, path, known);
                    match h.quick(known, &mut cache, &names, req) {
                        Quick::Fails => assert!(!full, "{b:?} {req:?}"),
                        Quick::Holds => assert!(full, "{b:?} {req:?}"),
                        Quick::Uri => assert_eq!(
                            full,
                            b.uri.as_ref().is_none_or(|u| u.is_match(path)),
                            "{b:?} {req:?}"
                        ),
                        Quick::Check => {}
                    }
                }
            }
        }
    }
}
