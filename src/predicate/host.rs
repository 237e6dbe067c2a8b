//! Virtual-host selection as Envoy does it: exact name, then the longest wildcard suffix, then
//! `*`. Names are stored lowercase; lookups lowercase the request's host into a stack buffer.
//!
//! The one host lookup order lives here, for every lookup the crate makes (the table's
//! virtual hosts, explain's record of them, the registry's Services): `with_request_host`
//! reads the host a request addresses, `lookup_names` tries it and then its Kubernetes short
//! form (`expand_short`), and [`HostIndex::wildcards_for`] offers the wildcards after them.
//! Names written in configuration are qualified by their resource's namespace instead, at
//! compile time (`service_fqdn`), as Istio does: a dotted config host is already a full name.

use std::hash::Hasher;

use crate::request::split_port;

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

/// A set of names with an id each: open addressing with linear probing over a table at most
/// half full, each slot holding a tag of the name's hash and where its bytes are in one arena,
/// so a lookup hashes the name once and reads one slot and the name's bytes.
#[derive(Clone, Debug, Default)]
struct NameMap {
    /// A power of two long, or empty.
    slots: Vec<Slot>,
    /// The names' bytes, back to back.
    arena: Vec<u8>,
    len: usize,
}

/// A slot of a [`NameMap`]; `tag` 0 is an empty slot (a name's tag is never 0).
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    tag: u32,
    id: u32,
    start: u32,
    len: u32,
}

impl NameMap {
    /// [`NameHasher`]'s mixing over the length and the words of `name`, the last word read
    /// overlapping the one before it (no copy into a padded word).
    #[inline]
    fn hash(name: &[u8]) -> u64 {
        #[inline(always)]
        fn w8(s: &[u8], i: usize) -> u64 {
            u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"))
        }
        #[inline(always)]
        fn w4(s: &[u8], i: usize) -> u64 {
            u64::from(u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes")))
        }
        let n = name.len();
        let mut h = NameHasher(n as u64);
        if n >= 8 {
            let mut i = 0;
            while i + 8 <= n {
                h.add(w8(name, i));
                i += 8;
            }
            if i < n {
                h.add(w8(name, n - 8));
            }
        } else if n >= 4 {
            h.add(w4(name, 0) | (w4(name, n - 4) << 32));
        } else if n > 0 {
            h.add(u64::from(name[0]) | u64::from(name[n / 2]) << 8 | u64::from(name[n - 1]) << 16);
        }
        h.0
    }

    /// The slot to start probing at and the tag, from a hash.
    #[inline]
    fn place(&self, hash: u64) -> (usize, u32) {
        let mask = self.slots.len() - 1;
        (((hash >> 32) as usize) & mask, (hash as u32) | 1)
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn get(&self, name: &str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let name = name.as_bytes();
        let (mut i, tag) = self.place(Self::hash(name));
        let mask = self.slots.len() - 1;
        loop {
            let s = self.slots[i];
            if s.tag == 0 {
                return None;
            }
            if s.tag == tag
                && s.len as usize == name.len()
                && crate::request::bytes_eq(
                    &self.arena[s.start as usize..(s.start + s.len) as usize],
                    name,
                )
            {
                return Some(s.id);
            }
            i = (i + 1) & mask;
        }
    }

    fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Adds `name` (not yet present).
    fn insert(&mut self, name: &str, id: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            let old = std::mem::take(&mut self.slots);
            self.slots = vec![Slot::default(); (old.len() * 2).max(8)];
            for s in old.into_iter().filter(|s| s.tag != 0) {
                self.put(s);
            }
        }
        let start = u32::try_from(self.arena.len()).expect("host names fit in 4 GiB");
        self.arena.extend_from_slice(name.as_bytes());
        self.put(Slot {
            tag: 0,
            id,
            start,
            len: name.len() as u32,
        });
        self.len += 1;
    }

    /// Places `slot` (its tag recomputed) in the first free slot of its probe sequence.
    fn put(&mut self, mut slot: Slot) {
        let bytes = &self.arena[slot.start as usize..(slot.start + slot.len) as usize];
        let (mut i, tag) = self.place(Self::hash(bytes));
        slot.tag = tag;
        let mask = self.slots.len() - 1;
        while self.slots[i].tag != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }
}

/// Maps host names to virtual-host ids.
#[derive(Clone, Debug, Default)]
pub struct HostIndex {
    exact: NameMap,
    /// Every `*suffix` wildcard, by suffix. A suffix that starts with `.` (`*.example.com`,
    /// the usual form) is found by trying the host's own suffixes, one per label.
    suffixes: NameMap,
    /// The wildcards whose suffix does not start with `.`, longest first; scanned.
    undotted: Vec<(Box<str>, u32)>,
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
        let (map, key) = match name.strip_prefix('*') {
            Some(suffix) => (&mut self.suffixes, suffix),
            None => (&mut self.exact, name),
        };
        if map.contains_key(key) {
            return false;
        }
        map.insert(key, id);
        if name.starts_with('*') && !key.starts_with('.') {
            let at = self.undotted.partition_point(|(s, _)| s.len() >= key.len());
            self.undotted.insert(at, (key.into(), id));
        }
        true
    }

    /// The id stored under `name` exactly as inserted (`*`, `*suffix` or a plain name).
    pub fn get_key(&self, name: &str) -> Option<u32> {
        if name == "*" {
            return self.any;
        }
        match name.strip_prefix('*') {
            Some(suffix) => self.suffixes.get(suffix),
            None => self.get_exact(name),
        }
    }

    /// The id of the wildcard `*suffix` (`""`: of `*`), as inserted.
    pub(crate) fn get_suffix(&self, suffix: &str) -> Option<u32> {
        if suffix.is_empty() {
            self.any
        } else {
            self.suffixes.get(suffix)
        }
    }

    /// The id for an exact name only.
    pub fn get_exact(&self, host: &str) -> Option<u32> {
        self.exact.get(host)
    }

    /// The id of the best wildcard for `host` (lowercase): the longest suffix that leaves at
    /// least one character, then `*`.
    pub fn get_wildcard(&self, host: &str) -> Option<u32> {
        self.wildcards_for(host).next()
    }

    /// Every wildcard id that covers `host` (lowercase), best first: longest suffix leaving at
    /// least one character, then `*`. Allocation-free.
    pub fn wildcards_for<'a>(&'a self, host: &'a str) -> impl Iterator<Item = u32> + 'a {
        // The dotted suffixes covering the host start at one of its dots (after the first
        // byte), longest first; the undotted ones are scanned. Two covering suffixes of one
        // host never have the same length, so merging the two by length orders them all.
        let mut by_label = host
            .bytes()
            .enumerate()
            .skip(1)
            .filter(|&(_, b)| b == b'.')
            .filter_map(move |(i, _)| self.suffixes.get(&host[i..]).map(|id| (host.len() - i, id)))
            .peekable();
        let mut scanned = self
            .undotted
            .iter()
            .filter(move |(suffix, _)| host.len() > suffix.len() && host.ends_with(&**suffix))
            .map(|(suffix, id)| (suffix.len(), *id))
            .peekable();
        std::iter::from_fn(move || {
            let next = match (by_label.peek(), scanned.peek()) {
                (Some(a), Some(b)) if b.0 > a.0 => scanned.next(),
                (Some(_), _) => by_label.next(),
                (None, _) => scanned.next(),
            };
            next.map(|(_, id)| id)
        })
        .chain(self.any)
    }

    /// Exact, then wildcard.
    pub fn get(&self, host: &str) -> Option<u32> {
        self.get_exact(host).or_else(|| self.get_wildcard(host))
    }

    /// Whether the index holds nothing.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.suffixes.is_empty() && self.any.is_none()
    }
}

/// How a lookup found a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via<'n> {
    /// The host itself.
    Exact,
    /// The host's Kubernetes short form, expanded to this name.
    ShortName(&'n str),
    /// A wildcard that covers the host.
    Wildcard,
}

/// Calls `f` with the host a request addresses: `authority` without its port, lowercase
/// (copied into a stack buffer only when it has upper case). A name longer than any host
/// reads as `""`, which only `*` matches.
#[inline(always)]
pub(crate) fn with_request_host<T>(authority: &str, f: impl FnOnce(&str) -> T) -> T {
    let (host, _) = split_port(authority);
    if host.len() > MAX_HOST_LEN {
        return f("");
    }
    if !has_upper(host.as_bytes()) {
        return f(host);
    }
    let mut buf = [0u8; MAX_HOST_LEN];
    f(lowercase_into(host, &mut buf).unwrap_or(""))
}

/// Whether `b` has an ASCII upper-case letter, a word at a time.
#[inline(always)]
fn has_upper(b: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    // Per byte (no carries: the low seven bits plus at most 0x3f stay below 0x100): the high
    // bit of `ge_a` is set from `A` up, that of `gt_z` above `Z`; bytes of 0x80 and up are
    // not letters.
    let word = |w: u64| {
        let low = w & !HIGH;
        let ge_a = low + ONES * (0x80 - u64::from(b'A'));
        let gt_z = low + ONES * (0x7f - u64::from(b'Z'));
        ge_a & !gt_z & !w & HIGH != 0
    };
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        if word(u64::from_le_bytes(w)) {
            return true;
        }
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return false;
    }
    // The last eight bytes, read again in part, when there are eight (a fixed-size copy, not
    // a call); else the few there are, a byte at a time.
    let mut w = [0u8; 8];
    match b.len().checked_sub(8).and_then(|at| b.get(at..)) {
        Some(last) => w.copy_from_slice(last),
        None => {
            for (d, s) in w.iter_mut().zip(rest) {
                *d = *s;
            }
        }
    }
    word(u64::from_le_bytes(w))
}

/// Offers the exact names a lowercase `host` may stand for to `find`, in lookup order, until
/// it finds one: the host itself, then, when `expand` gives the cluster domain (a sidecar's
/// lookups, not a gateway's), its Kubernetes short form as the client's DNS search path in
/// namespace `ns` would expand it ([`expand_short`]). Allocates nothing.
#[inline(always)]
pub(crate) fn lookup_names<T>(
    host: &str,
    ns: &str,
    expand: Option<&str>,
    mut find: impl FnMut(&str, Via<'_>) -> Option<T>,
) -> Option<T> {
    if let Some(t) = find(host, Via::Exact) {
        return Some(t);
    }
    let domain = expand?;
    let mut full = [0u8; 2 * MAX_HOST_LEN + 64];
    let fqdn = expand_short(host, ns, domain, &mut full)?;
    find(fqdn, Via::ShortName(fqdn))
}

/// `name` → `name.<ns>.svc.<domain>`, `name.ns` → `name.ns.svc.<domain>`,
/// `name.ns.svc` → `name.ns.svc.<domain>`, written into `buf`; anything else is not a short
/// form. The search path `/etc/resolv.conf` gives a pod in namespace `ns`.
pub(crate) fn expand_short<'b>(
    host: &str,
    ns: &str,
    domain: &str,
    buf: &'b mut [u8],
) -> Option<&'b str> {
    let dots = host.bytes().filter(|&b| b == b'.').count();
    let mut parts: [&str; 5] = [host, "", "", "", ""];
    let n = match dots {
        0 => {
            parts[1] = ns;
            parts[2] = "svc";
            parts[3] = domain;
            4
        }
        1 => {
            parts[1] = "svc";
            parts[2] = domain;
            3
        }
        2 if host.ends_with(".svc") => {
            parts[1] = domain;
            2
        }
        _ => return None,
    };
    let mut len = 0;
    for (i, p) in parts[..n].iter().enumerate() {
        let extra = usize::from(i > 0);
        if len + extra + p.len() > buf.len() {
            return None;
        }
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        buf[len..len + p.len()].copy_from_slice(p.as_bytes());
        len += p.len();
    }
    std::str::from_utf8(&buf[..len]).ok()
}

/// A Service's full name, `name.<ns>.svc.<domain>`, lowercase.
pub(crate) fn service_fqdn(name: &str, ns: &str, domain: &str) -> String {
    format!("{name}.{ns}.svc.{domain}").to_ascii_lowercase()
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
    fn wildcards_come_longest_suffix_first() {
        // A plain scan of every suffix, longest first, is the reference.
        fn reference(names: &[&str], host: &str) -> Vec<u32> {
            let mut covering: Vec<(usize, u32)> = names
                .iter()
                .enumerate()
                .filter_map(|(id, n)| {
                    let s = n.strip_prefix('*')?;
                    (!s.is_empty() && host.len() > s.len() && host.ends_with(s))
                        .then_some((s.len(), id as u32))
                })
                .collect();
            covering.sort_by_key(|c| std::cmp::Reverse(c.0));
            let mut ids: Vec<u32> = covering.into_iter().map(|c| c.1).collect();
            ids.extend(names.iter().position(|n| *n == "*").map(|i| i as u32));
            ids
        }
        let dotted = ["*.foo.com", "*.b.foo.com", "*.com", "*"];
        let mixed = [
            "*.foo.com",
            "*.b.foo.com",
            "*.com",
            "*",
            "*oo.com",
            "*b.foo.com",
            "*m",
        ];
        for names in [&dotted[..], &mixed[..]] {
            let mut ix = HostIndex::default();
            for (id, n) in names.iter().enumerate() {
                assert!(ix.insert(n, id as u32));
                assert!(!ix.insert(n, 99), "a second insert keeps the first id");
            }
            for h in [
                "x.b.foo.com",
                "foo.com",
                ".foo.com",
                "a.foo.com",
                "com",
                "",
                "..com",
                "a.b.c.foo.com",
                "xb.foo.com",
            ] {
                let got: Vec<u32> = ix.wildcards_for(h).collect();
                assert_eq!(got, reference(names, h), "{names:?} {h}");
            }
            assert_eq!(ix.get_key("*.b.foo.com"), Some(1));
        }
    }

    #[test]
    fn short_forms_expand_like_the_dns_search_path() {
        let mut b = [0u8; 600];
        assert_eq!(
            expand_short("cart", "shop", "cluster.local", &mut b),
            Some("cart.shop.svc.cluster.local")
        );
        let mut b = [0u8; 600];
        assert_eq!(
            expand_short("cart.shop", "other", "cluster.local", &mut b),
            Some("cart.shop.svc.cluster.local")
        );
        let mut b = [0u8; 600];
        assert_eq!(
            expand_short("cart.shop.svc", "other", "c.l", &mut b),
            Some("cart.shop.svc.c.l")
        );
        assert_eq!(expand_short("www.example.com", "shop", "c.l", &mut b), None);
    }

    #[test]
    fn the_lookup_tries_the_host_then_its_short_form() {
        let mut tried = Vec::new();
        let found = lookup_names("cart", "shop", Some("c.l"), |name, via| {
            tried.push((name.to_string(), format!("{via:?}")));
            (name == "cart.shop.svc.c.l").then_some(7)
        });
        assert_eq!(found, Some(7));
        assert_eq!(tried[0], ("cart".into(), "Exact".into()));
        assert_eq!(tried[1].0, "cart.shop.svc.c.l");
        let at_gateway = lookup_names("cart", "shop", None, |name, _| {
            (name != "cart").then_some(1)
        });
        assert_eq!(at_gateway, None, "a gateway does not expand short names");
        assert_eq!(
            with_request_host("Cart.Shop:8080", str::to_string),
            "cart.shop"
        );
        assert_eq!(with_request_host(&"a".repeat(300), str::len), 0);
    }

    #[test]
    fn has_upper_finds_every_upper_case_letter() {
        for len in 0..20 {
            for at in 0..len {
                for c in 0..=255u8 {
                    let mut b = vec![b'a'; len];
                    b[at] = c;
                    assert_eq!(has_upper(&b), c.is_ascii_uppercase(), "{b:?}");
                }
            }
            assert!(!has_upper(&vec![0xffu8; len]));
        }
    }

    #[test]
    fn the_name_map_finds_what_was_inserted() {
        let mut m = NameMap::default();
        let names: Vec<String> = (0..500).map(|i| format!("h{i}.example.com")).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!m.contains_key(n));
            m.insert(n, i as u32);
        }
        m.insert("", 999);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(m.get(n), Some(i as u32));
        }
        assert_eq!(m.get(""), Some(999));
        assert_eq!(m.get("h500.example.com"), None);
        assert_eq!(m.get("H1.example.com"), None);
        assert_eq!(NameMap::default().get("x"), None);
    }

    #[test]
    fn lowercase_without_allocation() {
        let mut buf = [0u8; MAX_HOST_LEN];
        assert_eq!(lowercase_into("Httpbin.Foo", &mut buf), Some("httpbin.foo"));
        assert_eq!(lowercase_into(&"a".repeat(300), &mut buf), None);
    }
}
