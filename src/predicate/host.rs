//! Virtual-host selection as Envoy does it: exact name, then the longest wildcard suffix, then
//! `*`. Names are stored lowercase; lookups lowercase the request's host into a stack buffer.

use std::collections::HashMap;

/// Longest host name looked up (longer names can only match `*`).
pub const MAX_HOST_LEN: usize = 255;

/// Maps host names to virtual-host ids.
#[derive(Clone, Debug, Default)]
pub struct HostIndex {
    exact: HashMap<Box<str>, u32>,
    /// `(suffix, id)` for `*suffix`, longest suffix first.
    wildcards: Vec<(Box<str>, u32)>,
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
        self.wildcards
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(&**suffix))
            .map(|(_, id)| *id)
            .or(self.any)
    }

    /// Every wildcard id that covers `host` (lowercase), best first: longest suffix leaving at
    /// least one character, then `*`.
    pub fn wildcards_for<'a>(&'a self, host: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.wildcards
            .iter()
            .filter(move |(suffix, _)| host.len() > suffix.len() && host.ends_with(&**suffix))
            .map(|(_, id)| *id)
            .chain(self.any)
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
    fn lowercase_without_allocation() {
        let mut buf = [0u8; MAX_HOST_LEN];
        assert_eq!(lowercase_into("Httpbin.Foo", &mut buf), Some("httpbin.foo"));
        assert_eq!(lowercase_into(&"a".repeat(300), &mut buf), None);
    }
}
