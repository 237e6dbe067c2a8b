//! Route indexes: which of a host's entries can match a path, found without evaluating them all.
//!
//! Every entry's path condition is read at compile time as a literal the path must start with
//! (Istio `prefix`, Gateway API `PathPrefix`, the literal prefix of a regex) or be equal to
//! (`exact`), or as nothing (no `uri`, a catch-all, a regex that starts with no literal). The
//! literals go into a byte trie, one for case-sensitive literals and one, lowercased, for
//! `ignoreUriCase`; each trie node holds the positions of its entries, ascending. A request
//! walks each trie along its path once; the entries on the nodes it passes (and, at the end of
//! the path, the exact ones) are its candidates, together with the entries that have no literal.
//! Each posting carries a copy of its entry (`T`), so a candidate is checked from the posting
//! list the walk reads anyway, not from wherever its entry lives: at 10,000 rules the
//! candidates of one path are scattered over the table, and each read elsewhere is a cache miss.
//!
//! The winner is still the first entry, in precedence order, whose conditions all hold: every
//! candidate list is ascending, so a list is read only while its entries precede the best match
//! found so far. An entry outside every candidate list cannot match, so the answer equals the
//! one of a scan of every entry in order; `tests/index.rs` and the oracle test check that.
//! The walk uses no memory beyond the stack.

use crate::predicate::path::PathMatch;

/// Below this many entries a plain scan in order is as fast as the index.
pub(crate) const MIN_INDEXED_ENTRIES: usize = 4;

/// Where one entry's path condition places it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// The path starts with these bytes.
    Prefix(Vec<u8>),
    /// The path is these bytes.
    Exact(Vec<u8>),
}

/// An entry's place in the index: a key, in the case-folded trie when `folded`, or nowhere
/// (`None`: a candidate for every path).
pub(crate) type Placement = Option<(Key, bool)>;

/// Where a path condition places its entry (`None` for an entry without one).
pub(crate) fn placement(uri: Option<&PathMatch>) -> Placement {
    match uri? {
        PathMatch::Exact { value, ignore_case } => {
            Some((Key::Exact(fold(value, *ignore_case)), *ignore_case))
        }
        PathMatch::Prefix { value, ignore_case } => {
            Some((Key::Prefix(fold(value, *ignore_case)), *ignore_case))
        }
        // `/` matches every path, also one that does not start with `/`.
        PathMatch::SegmentPrefix(v) if &**v == "/" => None,
        PathMatch::SegmentPrefix(v) => Some((Key::Prefix(v.as_bytes().to_vec()), false)),
        PathMatch::Regex(r) => {
            let lit = r.literal_prefix();
            (!lit.is_empty()).then(|| (Key::Prefix(lit.to_vec()), false))
        }
    }
}

/// Whether reaching an entry's key decides its path condition: a plain `prefix` or `exact`
/// (with or without `ignoreUriCase`) holds exactly for the paths whose walk offers the entry,
/// so the entry's check can skip it. A segment prefix also needs the segment's end, and a
/// regex its whole pattern.
pub(crate) fn decides(uri: Option<&PathMatch>) -> bool {
    matches!(
        uri,
        Some(PathMatch::Exact { .. } | PathMatch::Prefix { .. })
    )
}

/// The bit of a posting that says the key decides the entry's path condition; the other bits
/// are the entry's position.
const DECIDED: u32 = 1 << 31;

fn fold(value: &str, ignore_case: bool) -> Vec<u8> {
    let mut v = value.as_bytes().to_vec();
    if ignore_case {
        v.make_ascii_lowercase();
    }
    v
}

/// One trie node: its first entry, its children, its other entries, and the bytes that must
/// follow the edge byte that leads to it (a chain of nodes without entries and with one child
/// each, compressed into one).
///
/// The children are laid out breadth-first, so a node's children are the consecutive nodes
/// `first_child..`, in the order of their edge bytes (`Trie::bytes[edges..edges + n_edges]`,
/// sorted). When those bytes are consecutive values (`dense`: `/svc0` .. `/svc9`, or one
/// child), the child for a byte is found by subtraction, without reading the bytes.
///
/// The node's first prefix entry (`head`; most nodes have one entry or none) is kept in the
/// node, which is aligned to a cache line: a walk checks it from the line it reads the node
/// from.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Node<T> {
    /// The first prefix entry; its `pos` is [`NO_POSTING`] when the node has none.
    head: Posting<T>,
    edges: u32,
    n_edges: u16,
    /// The first edge byte.
    lo: u8,
    dense: bool,
    first_child: u32,
    /// The smallest entry position at this node or below it (`u32::MAX`: none), so a walk
    /// stops where nothing can precede the best match found so far.
    min: u32,
    /// The node's other entries: prefix entries after `head`, then exact entries, from
    /// `postings[lists..]`.
    lists: u32,
    n_prefix: u32,
    n_exact: u32,
    label: u32,
    label_len: u32,
}

/// The `pos` of an empty [`Node::head`].
//
// With the table's entries (28-byte postings) a node fills one cache line exactly.
const NO_POSTING: u32 = u32::MAX;

impl<T: Default> Default for Node<T> {
    fn default() -> Node<T> {
        Node {
            head: Posting {
                pos: NO_POSTING,
                item: T::default(),
            },
            edges: 0,
            n_edges: 0,
            lo: 0,
            dense: false,
            first_child: 0,
            min: u32::MAX,
            lists: 0,
            n_prefix: 0,
            n_exact: 0,
            label: 0,
            label_len: 0,
        }
    }
}

/// One entry on a node's list: its position (with [`DECIDED`]) and a copy of the entry.
#[derive(Clone, Copy, Debug)]
struct Posting<T> {
    pos: u32,
    item: T,
}

/// A byte trie with ascending entry lists on its nodes, laid out flat.
#[derive(Clone, Debug)]
struct Trie<T> {
    nodes: Vec<Node<T>>,
    bytes: Vec<u8>,
    postings: Vec<Posting<T>>,
    labels: Vec<u8>,
}

impl<T> Default for Trie<T> {
    fn default() -> Trie<T> {
        Trie {
            nodes: Vec::new(),
            bytes: Vec::new(),
            postings: Vec::new(),
            labels: Vec::new(),
        }
    }
}

/// A trie being built: nested maps, flattened once complete.
#[derive(Default)]
struct Builder {
    children: std::collections::BTreeMap<u8, Builder>,
    prefix: Vec<u32>,
    exact: Vec<u32>,
    /// The smallest position at this node or below it, kept as entries are inserted.
    min: Option<u32>,
}

impl Builder {
    fn insert(&mut self, key: &Key, pos: u32) {
        let (bytes, exact) = match key {
            Key::Prefix(b) => (b, false),
            Key::Exact(b) => (b, true),
        };
        let at = pos & !DECIDED;
        let mut node = self;
        for &b in bytes {
            node.min = Some(node.min.map_or(at, |m| m.min(at)));
            node = node.children.entry(b).or_default();
        }
        node.min = Some(node.min.map_or(at, |m| m.min(at)));
        if exact {
            node.exact.push(pos);
        } else {
            node.prefix.push(pos);
        }
    }

    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.prefix.is_empty() && self.exact.is_empty()
    }

    /// The smallest position at this node or below it.
    fn min(&self) -> u32 {
        self.min.unwrap_or(u32::MAX)
    }

    /// Flattens breadth-first, so each node's children are contiguous in `nodes`, compressing
    /// chains of nodes that hold no entries and have one child.
    fn flatten<T: Copy + Default>(self, item: &impl Fn(u32) -> T) -> Trie<T> {
        let mut trie = Trie::default();
        let posting = |&pos: &u32| Posting {
            pos,
            item: item(pos & !DECIDED),
        };
        let mut queue = std::collections::VecDeque::from([(self, Vec::new())]);
        trie.nodes.push(Node::default());
        let mut next_id = 1u32;
        let mut id = 0usize;
        while let Some((b, label)) = queue.pop_front() {
            let min = b.min();
            let head = b.prefix.first().map(posting);
            let rest = b.prefix.get(1..).unwrap_or_default();
            let lists = trie.postings.len() as u32;
            trie.postings.extend(rest.iter().map(posting));
            trie.postings.extend(b.exact.iter().map(posting));
            let label_start = trie.labels.len() as u32;
            trie.labels.extend_from_slice(&label);
            let start = trie.bytes.len() as u32;
            let first_child = next_id;
            for (byte, mut child) in b.children {
                let mut chain = Vec::new();
                while child.prefix.is_empty() && child.exact.is_empty() && child.children.len() == 1
                {
                    let (b2, next) = child.children.pop_first().expect("one child");
                    chain.push(b2);
                    child = next;
                }
                trie.bytes.push(byte);
                trie.nodes.push(Node::default());
                next_id += 1;
                queue.push_back((child, chain));
            }
            let edges = &trie.bytes[start as usize..];
            let lo = edges.first().copied().unwrap_or(0);
            let dense = edges
                .iter()
                .enumerate()
                .all(|(k, &e)| usize::from(e) == usize::from(lo) + k);
            let node = &mut trie.nodes[id];
            if let Some(head) = head {
                node.head = head;
            }
            node.edges = start;
            // At most 256 edge bytes.
            node.n_edges = edges.len() as u16;
            node.lo = lo;
            node.dense = dense;
            node.first_child = first_child;
            node.min = min;
            node.lists = lists;
            node.n_prefix = rest.len() as u32;
            node.n_exact = b.exact.len() as u32;
            node.label = label_start;
            node.label_len = label.len() as u32;
            id += 1;
        }
        trie.nodes.shrink_to_fit();
        trie.bytes.shrink_to_fit();
        trie.postings.shrink_to_fit();
        trie.labels.shrink_to_fit();
        trie
    }
}

impl<T> Trie<T> {
    #[inline]
    fn child(&self, node: &Node<T>, byte: u8) -> Option<&Node<T>> {
        let n = u32::from(node.n_edges);
        let k = if node.dense {
            let k = u32::from(byte.wrapping_sub(node.lo));
            if k >= n {
                return None;
            }
            k as usize
        } else {
            let a = node.edges as usize;
            let edges = &self.bytes[a..a + n as usize];
            if edges.len() <= 8 {
                edges.iter().position(|&e| e == byte)?
            } else {
                edges.binary_search(&byte).ok()?
            }
        };
        self.nodes.get(node.first_child as usize + k)
    }

    /// Offers every entry on the walk along `path` (lowercased on the fly when `folded`).
    fn walk(
        &self,
        path: &[u8],
        folded: bool,
        best: &mut u32,
        check: &mut impl FnMut(u32, bool, &T) -> bool,
    ) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        let mut depth = 0;
        loop {
            // Nothing here or below precedes the best match so far: `offer` would check none.
            if node.min >= *best {
                return;
            }
            let p0 = node.lists as usize;
            let p1 = p0 + node.n_prefix as usize;
            if node.head.pos != NO_POSTING {
                offer(std::slice::from_ref(&node.head), best, check);
                if p0 != p1 {
                    offer(&self.postings[p0..p1], best, check);
                }
            }
            let Some(&c) = path.get(depth) else {
                if node.n_exact != 0 {
                    offer(&self.postings[p1..p1 + node.n_exact as usize], best, check);
                }
                return;
            };
            let b = if folded { c.to_ascii_lowercase() } else { c };
            match self.child(node, b) {
                Some(n) => node = n,
                None => return,
            }
            depth += 1;
            if node.label_len != 0 {
                let l0 = node.label as usize;
                let label = &self.labels[l0..l0 + node.label_len as usize];
                let Some(rest) = path.get(depth..depth + label.len()) else {
                    return;
                };
                let same = if folded {
                    rest.eq_ignore_ascii_case(label)
                } else {
                    crate::request::bytes_eq(rest, label)
                };
                if !same {
                    return;
                }
                depth += label.len();
            }
        }
    }
}

/// Checks the entries of an ascending list that precede `best`, stopping at the first match;
/// `check` hears whether the entry's path condition is decided already ([`decides`]).
#[inline]
fn offer<T>(list: &[Posting<T>], best: &mut u32, check: &mut impl FnMut(u32, bool, &T) -> bool) {
    for posting in list {
        let pos = posting.pos & !DECIDED;
        if pos >= *best {
            return;
        }
        if check(pos, posting.pos & DECIDED != 0, &posting.item) {
            *best = pos;
            return;
        }
    }
}

/// The index of one claim's entries, each posting carrying a copy of its entry (`T`).
#[derive(Clone, Debug)]
pub(crate) struct PathIndex<T> {
    /// Entries that are candidates for every path, ascending.
    always: Vec<Posting<T>>,
    exact: Trie<T>,
    folded: Trie<T>,
}

impl<T: Copy + Default> PathIndex<T> {
    /// Builds the index of entries placed as `placements` says (one per entry, in order), each
    /// with whether its key decides its path condition ([`decides`]); `item` gives the copy of
    /// the entry at a position that its postings carry.
    pub(crate) fn new(
        placements: impl IntoIterator<Item = (Placement, bool)>,
        item: impl Fn(u32) -> T,
    ) -> PathIndex<T> {
        let mut always = Vec::new();
        let (mut exact, mut folded) = (Builder::default(), Builder::default());
        for (pos, (p, decided)) in placements.into_iter().enumerate() {
            let pos = pos as u32;
            assert!(pos < DECIDED, "a claim holds fewer than 2^31 entries");
            let posting = if decided { pos | DECIDED } else { pos };
            match p {
                None => always.push(Posting {
                    pos,
                    item: item(pos),
                }),
                Some((key, false)) => exact.insert(&key, posting),
                Some((key, true)) => folded.insert(&key, posting),
            }
        }
        let flat = |b: Builder| {
            if b.is_empty() {
                Trie::default()
            } else {
                b.flatten(&item)
            }
        };
        PathIndex {
            always,
            exact: flat(exact),
            folded: flat(folded),
        }
    }

    /// The first position, in order, for which `check` holds, among the candidates for `path`.
    /// `check` is called only for candidates, in ascending order within each candidate list,
    /// with whether the walk decided the candidate's path condition (it holds for `path`) and
    /// the posting's copy of the entry.
    #[inline]
    pub(crate) fn first(
        &self,
        path: &[u8],
        mut check: impl FnMut(u32, bool, &T) -> bool,
    ) -> Option<u32> {
        let mut best = u32::MAX;
        self.exact.walk(path, false, &mut best, &mut check);
        offer(&self.always, &mut best, &mut check);
        self.folded.walk(path, true, &mut best, &mut check);
        (best != u32::MAX).then_some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predicate::FullMatch;

    fn prefix(v: &str) -> Placement {
        placement(Some(&PathMatch::Prefix {
            value: v.into(),
            ignore_case: false,
        }))
    }

    #[test]
    fn regex_literal_prefixes() {
        let p = |s: &str| {
            String::from_utf8(FullMatch::new(s).unwrap().literal_prefix().to_vec()).unwrap()
        };
        assert_eq!(p("/svc7/api/v[0-9]+/.*"), "/svc7/api/v");
        assert_eq!(p("(/a)(/b)c*"), "/a/b");
        assert_eq!(p("^/x"), "/x");
        assert_eq!(p("(?i)/x"), "/");
        assert_eq!(p("/a|/b"), "");
        assert_eq!(p("/a\\.b.*"), "/a.b");
        assert_eq!(p("\\Q/a.b\\E.*"), "/a.b");
        assert_eq!(p("/a?"), "/");
        let r = FullMatch::new("/p[0-9]").unwrap();
        assert_eq!(
            placement(Some(&PathMatch::Regex(r))),
            Some((Key::Prefix(b"/p".to_vec()), false))
        );
    }

    #[test]
    fn first_is_the_first_candidate_that_holds() {
        // 0: prefix /a   1: exact /a/b   2: always   3: prefix /a/b   4: folded exact /X
        let ix = PathIndex::new(
            [
                (prefix("/a"), true),
                (Some((Key::Exact(b"/a/b".to_vec()), false)), true),
                (None, false),
                (prefix("/a/b"), false),
                (Some((Key::Exact(b"/x".to_vec()), true)), true),
            ],
            |pos| pos * 10,
        );
        let seen = |path: &str, holds: &[u32]| {
            let mut offered = Vec::new();
            let r = ix.first(path.as_bytes(), |p, decided, &item| {
                // Each posting carries the copy of its own entry.
                assert_eq!(item, p * 10);
                // The flag comes through as given, whichever list offers the entry.
                assert_eq!(decided, [0, 1, 4].contains(&p), "entry {p}");
                offered.push(p);
                holds.contains(&p)
            });
            (r, offered)
        };
        assert_eq!(seen("/a/b", &[0, 1, 2, 3]).0, Some(0));
        assert_eq!(seen("/a/b", &[1, 2, 3]).0, Some(1));
        assert_eq!(seen("/a/b", &[3]), (Some(3), vec![0, 3, 1, 2]));
        assert_eq!(seen("/q", &[0, 1, 2, 3, 4]), (Some(2), vec![2]));
        assert_eq!(seen("/X", &[4]), (Some(4), vec![2, 4]));
        assert_eq!(seen("/x", &[]), (None, vec![2, 4]));
        assert_eq!(seen("", &[]), (None, vec![2]));
    }

    /// A node holding a table entry fills one cache line, not two.
    #[test]
    fn a_node_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Node<crate::table::Entry>>(), 64);
    }
}
