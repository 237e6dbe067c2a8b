//! Virtual-host selection as Envoy does it: exact name, then the longest wildcard suffix, then
//! `*`. Names are stored lowercase; lookups lowercase the request's host into a stack buffer.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Longest host name looked up (longer names can only match `*`).
pub const MAX_HOST_LEN: usize = 255;

/// A fast, unkeyed hash for names the configuration chose (FxHash's mixing step, a word at a
/// time). Keys come from the configuration, never from requests, so a request cannot make the
/// probe sequences longer than the configuration made them.
#[derive(Clone, Copy, Debug, Default)]
pub struct NameHasher(u64);

impl NameHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type NameMap = HashMap<Box<str>, u32, BuildHasherDefault<NameHasher>>;

/// Maps host names to virtual-host ids.
#[derive(Clone, Debug, Default)]
pub struct HostIndex {
    exact: NameMap,
    /// `(suffix, id)` for `*suffix`, longest suffix first.
    wildcards: Vec<(Box<str>, u32)>,
    /// The same wildcards by suffix, when every suffix starts with `.` (`*.example.com`): a
    /// lookup then tries the host's own suffixes, one per label, instead of every wildcard.
    dotted: Option<NameMap>,
    any: Option<u32>,
}

impl HostIndex {
    /// Adds `name` (lowercase, `*`-prefixed for wildcards); the first id for a name is kept.
    /// Returns whether the name was new.
    pub fn insert(&mut self, name: &str, id: u32) -> bool {
        if name == "*" {
            if self.any.is_some() {
                return false;
            }
            self.any = Some(id);
            return true;
        }
        if let Some(suffix) = name.strip_prefix('*') {
            if self.wildcards.iter().any(|(s, _)| &**s == suffix) {
                return false;
            }
            self.wildcards.push((suffix.into(), id));
            self.wildcards.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
            self.dotted = self
                .wildcards
                .iter()
                .all(|(s, _)| s.starts_with('.'))
                .then(|| self.wildcards.iter().cloned().collect());
            return true;
        }
        if self.exact.contains_key(name) {
            return false;
        }
        self.exact.insert(name.into(), id);
        true
    }

    /// The id stored under `name` exactly as inserted (`*`, `*suffix` or a plain name).
    pub fn get_key(&self, name: &str) -> Option<u32> {
        if name == "*" {
            return self.any;
        }
        match name.strip_prefix('*') {
            Some(suffix) => self
                .wildcards
                .iter()
                .find(|(s, _)| &**s == suffix)
                .map(|(_, id)| *id),
            None => self.get_exact(name),
        }
    }

    /// The id for an exact name only.
    pub fn get_exact(&self, host: &str) -> Option<u32> {
        self.exact.get(host).copied()
    }

    /// The id of the best wildcard for `host` (lowercase): the longest suffix that leaves at
    /// least one character, then `*`.
    pub fn get_wildcard(&self, host: &str) -> Option<u32> {
        self.wildcards_for(host).next()
    }

    /// Every wildcard id that covers `host` (lowercase), best first: longest suffix leaving at
    /// least one character, then `*`.
    pub fn wildcards_for<'a>(&'a self, host: &'a str) -> impl Iterator<Item = u32> + 'a {
        // With every suffix starting at a `.`, the covering ones are among the host's suffixes
        // that start at one of its dots (after the first byte), longest first.
        let by_label = self.dotted.iter().flat_map(move |dotted| {
            host.bytes()
                .enumerate()
                .skip(1)
                .filter(|&(_, b)| b == b'.')
                .filter_map(move |(i, _)| dotted.get(&host[i..]).copied())
        });
        let scan = self
            .wildcards
            .iter()
            .filter(move |_| self.dotted.is_none())
            .filter(move |(suffix, _)| host.len() > suffix.len() && host.ends_with(&**suffix))
            .map(|(_, id)| *id);
        by_label.chain(scan).chain(self.any)
    }

    /// Exact, then wildcard.
    pub fn get(&self, host: &str) -> Option<u32> {
        self.get_exact(host).or_else(|| self.get_wildcard(host))
    }

    /// Whether the index holds nothing.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcards.is_empty() && self.any.is_none()
    }
}

/// Lowercases `host` into `buf`, returning the lowercase text, or `None` when it does not fit.
pub fn lowercase_into<'b>(host: &str, buf: &'b mut [u8; MAX_HOST_LEN]) -> Option<&'b str> {
    let bytes = host.as_bytes();
    if bytes.len() > buf.len() {
        return None;
    }
    let out = &mut buf[..bytes.len()];
    out.copy_from_slice(bytes);
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_longest_wildcard_then_any() {
        let mut ix = HostIndex::default();
        ix.insert("a.foo.com", 1);
        ix.insert("*.foo.com", 2);
        ix.insert("*.b.foo.com", 3);
        ix.insert("*", 4);
        assert_eq!(ix.get("a.foo.com"), Some(1));
        assert_eq!(ix.get("x.foo.com"), Some(2));
        assert_eq!(ix.get("x.b.foo.com"), Some(3));
        assert_eq!(
            ix.get("foo.com"),
            Some(4),
            "*.foo.com does not cover foo.com"
        );
        assert_eq!(
            ix.get(".foo.com"),
            Some(4),
            "a wildcard never matches the empty string"
        );
    }

    #[test]
    fn wildcards_by_label_and_by_scan_agree() {
        let names = ["*.foo.com", "*.b.foo.com", "*.com", "*"];
        let mut dotted = HostIndex::default();
        let mut mixed = HostIndex::default();
        for (id, n) in names.iter().enumerate() {
            dotted.insert(n, id as u32);
            mixed.insert(n, id as u32);
        }
        mixed.insert("*oo.com", 9);
        assert!(dotted.dotted.is_some() && mixed.dotted.is_none());
        let all = |ix: &HostIndex, h: &str| ix.wildcards_for(h).collect::<Vec<_>>();
        assert_eq!(all(&dotted, "x.b.foo.com"), vec![1, 0, 2, 3]);
        assert_eq!(all(&mixed, "x.b.foo.com"), vec![1, 0, 9, 2, 3]);
        for h in [
            "foo.com",
            ".foo.com",
            "a.foo.com",
            "com",
            "",
            "..com",
            "a.b.c.foo.com",
        ] {
            let scan: Vec<u32> = all(&mixed, h).into_iter().filter(|&i| i != 9).collect();
            assert_eq!(all(&dotted, h), scan, "{h}");
        }
    }

    #[test]
    fn lowercase_without_allocation() {
        let mut buf = [0u8; MAX_HOST_LEN];
        assert_eq!(lowercase_into("Httpbin.Foo", &mut buf), Some("httpbin.foo"));
        assert_eq!(lowercase_into(&"a".repeat(300), &mut buf), None);
    }
}
