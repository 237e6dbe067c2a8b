//! Witnesses: for a rule's match block, a concrete request that reaches it (matches it and no
//! entry of higher precedence), or a proof that none exists.
//!
//! A witness is built from the block's own conditions: a path from the exact or prefix literal
//! or a string generated from the regex's syntax tree, header and query values from their
//! exact, prefix or regex conditions, presence and absence, the method, scheme and authority,
//! the port and source the block requires, and an authority the virtual host answers. The
//! candidate is then decided by the table itself. When an earlier entry takes it, a bounded
//! search tries variations that keep this block's conditions and break the earlier entry's
//! (another path, a header added or left out, another method), until the table routes the
//! request to the block or the search budget runs out.
//!
//! The answer is honest rather than complete:
//! - [`Witness::Reaches`]: the request, checked with [`Table::decide_with_draw`];
//! - [`Witness::Unreachable`]: only when proven, because an earlier entry's conditions cover
//!   every request the block matches (in every place the block is listed), because no request
//!   namespace sees the block's VirtualService, or because the block is listed nowhere (cut
//!   after a catch-all, or bound to no context);
//! - [`Witness::Unknown`]: the search gave up; the block may or may not be reachable.
//!
//! The proof of coverage (`block_covers`: every request one compiled block matches, an
//! earlier one matches too) works on the compiled table, across every resource that shares the
//! virtual host. The VirtualService webhook's IST0130/IST0131 warnings have a check of their own
//! (`compile::istio::reachability`) on purpose: they are about one resource as written, before
//! lowering, and follow the webhook's rules (regexes compared as text, gateways by name), which
//! would be wrong here; that module's documentation says where the two differ.
//!
//! # Example
//! ```
//! use meshroute::Table;
//! use meshroute::witness::{Witness, witnesses};
//!
//! let table = Table::from_yaml(include_str!("../../examples/bookinfo.yaml"))?;
//! for w in witnesses(&table) {
//!     if let Witness::Reaches(req) = &w.result {
//!         let d = table.decide_with_draw(req, 0);
//!         assert_eq!(meshroute::witness::rule_index(&table, d.matched().unwrap().rule), Some(w.rule));
//!     }
//! }
//! # Ok::<(), meshroute::Errors>(())
//! ```

use std::collections::{HashMap, HashSet};

use regex_syntax::hir::{Class, Hir, HirKind};

use std::ops::ControlFlow;

use crate::block::{Block, Miss};
use crate::decision::Decision;
use crate::predicate::StrMatch;
use crate::predicate::header::{HeaderMatch, HeaderSource};
use crate::predicate::path::PathMatch;
use crate::predicate::source::SourceMatch;
use crate::predicate::source::SourceMiss;
use crate::request::OwnedRequest;
use crate::table::{Claim, Context, Entry, Rule, Table, VirtualHost, Visibility};

/// Most requests decided while searching a witness for one block in one virtual host.
pub const SEARCH_BUDGET: usize = 400;

/// Most strings generated from one regex.
const REGEX_SAMPLES: usize = 8;

/// One entry of a virtual host's route list: a rule (index in [`Table::rules`]) and one of its
/// match blocks (`None` for a rule without blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct EntryRef {
    /// Index of the rule in [`Table::rules`].
    pub rule: usize,
    /// Index of the match block in [`Rule::blocks`], `None` for a rule without blocks.
    pub block: Option<u16>,
}

impl EntryRef {
    /// An entry reference.
    pub fn new(rule: usize, block: Option<u16>) -> EntryRef {
        EntryRef { rule, block }
    }
}

/// Whether a request can reach a rule's match block.
#[allow(clippy::large_enum_variant)] // one per rule, built by tools; boxing only adds a hop
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Witness {
    /// This request reaches the block: [`Table::decide_with_draw`] picks it.
    Reaches(OwnedRequest),
    /// No request reaches the block, proven: `by` is an earlier entry that matches every
    /// request the block matches, or `None` when the block is listed in no virtual host or no
    /// namespace sees it.
    Unreachable {
        /// The covering entry, if one is the reason.
        by: Option<EntryRef>,
    },
    /// The bounded search found no witness and nothing proves that none exists.
    Unknown,
}

/// The witness of one rule and match block.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuleWitness {
    /// Index of the rule in [`Table::rules`].
    pub rule: usize,
    /// The match block, `None` for a rule without blocks.
    pub block: Option<u16>,
    /// The context of the witness: `None` for the mesh, `Some((namespace, name))` for a
    /// gateway (the first place the block is listed when there is no witness).
    pub gateway: Option<(String, String)>,
    /// The virtual host of the witness, as configured (`None` when the block is listed
    /// nowhere).
    pub host: Option<String>,
    /// The result.
    pub result: Witness,
}

/// The index in [`Table::rules`] of a rule borrowed from `table` (e.g. [`crate::Matched::rule`]).
pub fn rule_index(table: &Table, rule: &Rule) -> Option<usize> {
    let rules = table.rules();
    let size = std::mem::size_of::<Rule>().max(1);
    let base = rules.as_ptr() as usize;
    let addr = rule as *const Rule as usize;
    let idx = addr.checked_sub(base)? / size;
    (idx < rules.len() && std::ptr::eq(&rules[idx], rule)).then_some(idx)
}

/// The entry a decision picked, if a rule matched.
pub fn decided_entry(table: &Table, d: &Decision<'_>) -> Option<EntryRef> {
    let m = d.matched()?;
    Some(EntryRef::new(rule_index(table, m.rule)?, m.block))
}

/// A witness for every rule and match block of `table`, in rule order.
///
/// # Example
/// ```
/// use meshroute::Table;
/// use meshroute::witness::{Witness, witnesses};
///
/// let table = Table::from_yaml(include_str!("../../examples/bookinfo.yaml"))?;
/// let all = witnesses(&table);
/// assert!(all.iter().all(|w| matches!(w.result, Witness::Reaches(_))));
/// # Ok::<(), meshroute::Errors>(())
/// ```
pub fn witnesses(table: &Table) -> Vec<RuleWitness> {
    let places = placements(table);
    let mut out = Vec::new();
    for (i, rule) in table.rules().iter().enumerate() {
        let blocks: Vec<Option<u16>> = if rule.blocks.is_empty() {
            vec![None]
        } else {
            (0..rule.blocks.len()).map(|b| Some(b as u16)).collect()
        };
        for b in blocks {
            let at = places.get(&(i as u32, b)).map_or(&[][..], Vec::as_slice);
            out.push(search_rule(table, i, b, at));
        }
    }
    out
}

/// The witness of one rule (index in [`Table::rules`]) and match block (`None` for a rule
/// without blocks).
///
/// # Panics
/// When `rule` is out of range, or `block` names a block the rule does not have.
///
/// # Example
/// ```
/// use meshroute::Table;
/// use meshroute::witness::{Witness, witness_for};
///
/// let table = Table::from_yaml(include_str!("../../examples/bookinfo.yaml"))?;
/// let jason = table.rules().iter().position(|r| &*r.name == "jason").unwrap();
/// let Witness::Reaches(req) = witness_for(&table, jason, Some(0)).result else { panic!() };
/// assert_eq!(table.decide_with_draw(&req, 0).destination().unwrap().subset.as_deref(), Some("v2"));
/// # Ok::<(), meshroute::Errors>(())
/// ```
pub fn witness_for(table: &Table, rule: usize, block: Option<u16>) -> RuleWitness {
    let r = &table.rules()[rule];
    match block {
        Some(b) => assert!(
            (b as usize) < r.blocks.len(),
            "rule {rule} has {} match blocks, not {}",
            r.blocks.len(),
            b + 1
        ),
        None => assert!(
            r.blocks.is_empty(),
            "rule {rule} has match blocks; name one"
        ),
    }
    let places = placements(table);
    let at = places
        .get(&(rule as u32, block))
        .map_or(&[][..], Vec::as_slice);
    search_rule(table, rule, block, at)
}

/// Where an entry is listed: a context, a port's host list (or the port-less one), a virtual
/// host, one of its claims, and the entry's position in the claim.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Placement<'t> {
    pub(crate) ctx: &'t Context,
    pub(crate) listener: Option<u16>,
    pub(crate) vhost: &'t VirtualHost,
    pub(crate) claim: &'t Claim,
    pub(crate) position: usize,
}

impl Placement<'_> {
    /// The virtual host's name as configured (`reviews.default.svc.cluster.local`, `*.example.com`).
    pub(crate) fn host(&self) -> &str {
        host_name(self.vhost)
    }

    /// A name the virtual host answers.
    fn authority(&self) -> String {
        let h = self.host();
        if h == "*" {
            "witness.example".to_string()
        } else if let Some(suffix) = h.strip_prefix('*') {
            format!("witness{suffix}")
        } else {
            h.to_string()
        }
    }
}

/// The host of a virtual host: its label without the resource it comes from.
pub(crate) fn host_name(vhost: &VirtualHost) -> &str {
    vhost.name.split(" (").next().unwrap_or(&vhost.name)
}

/// Every place each (rule, block) entry is listed, in context, host and claim order.
pub(crate) fn placements(table: &Table) -> HashMap<(u32, Option<u16>), Vec<Placement<'_>>> {
    let mut out: HashMap<(u32, Option<u16>), Vec<Placement<'_>>> = HashMap::new();
    for ctx in table.inner.contexts() {
        let lists = std::iter::once((None, &ctx.hosts))
            .chain(ctx.listeners.iter().map(|(p, h)| (Some(*p), h)))
            .chain(ctx.server_ports.iter().map(|(p, h)| (Some(*p), h)));
        for (listener, hosts) in lists {
            for vhost in &hosts.vhosts {
                for claim in &vhost.claims {
                    for (position, e) in claim.entries.iter().enumerate() {
                        out.entry((e.rule, e.block)).or_default().push(Placement {
                            ctx,
                            listener,
                            vhost,
                            claim,
                            position,
                        });
                    }
                }
            }
        }
    }
    out
}

fn search_rule(
    table: &Table,
    rule: usize,
    block: Option<u16>,
    at: &[Placement<'_>],
) -> RuleWitness {
    let mut w = RuleWitness {
        rule,
        block,
        gateway: None,
        host: None,
        result: Witness::Unreachable { by: None },
    };
    let describe = |w: &mut RuleWitness, p: &Placement<'_>| {
        w.gateway = p
            .ctx
            .gateway
            .as_ref()
            .map(|(n, g)| (n.to_string(), g.to_string()));
        w.host = Some(p.host().to_string());
    };
    if let Some(p) = at.first() {
        describe(&mut w, p);
    }
    let target = EntryRef::new(rule, block);
    let mut proven = true;
    let mut first_cover = None;
    for p in at {
        match search(table, target, p) {
            Found::Request(req) => {
                describe(&mut w, p);
                w.result = Witness::Reaches(req);
                return w;
            }
            Found::Covered(by) => {
                if first_cover.is_none() {
                    first_cover = by;
                }
            }
            Found::Nothing => proven = false,
        }
    }
    w.result = if proven {
        Witness::Unreachable { by: first_cover }
    } else {
        Witness::Unknown
    };
    w
}

#[allow(clippy::large_enum_variant)] // one per search
enum Found {
    Request(OwnedRequest),
    /// Provably unreachable here (by this entry, or `None`: no namespace sees the claim).
    Covered(Option<EntryRef>),
    Nothing,
}

/// What one dimension of the request varies.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Dim {
    Path,
    Method,
    Scheme,
    Authority,
    Port,
    Namespace,
    Header(Box<str>),
    Claim(Box<str>),
    Query(Box<str>),
}

/// The request space searched for one block: per dimension, the values that keep the block's
/// conditions on that dimension true.
struct Space {
    gateway: Option<(String, String)>,
    labels: Vec<(Box<str>, Box<str>)>,
    dims: Vec<(Dim, Vec<Option<String>>)>,
}

impl Space {
    fn build(&self, state: &[usize]) -> OwnedRequest {
        let mut r = OwnedRequest {
            method: "GET".into(),
            scheme: "http".into(),
            path: "/".into(),
            gateway: self.gateway.clone(),
            ..OwnedRequest::default()
        };
        for (k, v) in &self.labels {
            r.source_labels.insert(k.to_string(), v.to_string());
        }
        let mut query: Vec<String> = Vec::new();
        for ((dim, options), &i) in self.dims.iter().zip(state) {
            let v = options[i].clone();
            set(&mut r, dim, v, &mut query);
        }
        if !query.is_empty() {
            r.path = format!("{}?{}", r.path, query.join("&"));
        }
        r
    }
}

fn set(r: &mut OwnedRequest, dim: &Dim, v: Option<String>, query: &mut Vec<String>) {
    match dim {
        Dim::Path => r.path = v.unwrap_or_else(|| "/".into()),
        Dim::Method => r.method = v.unwrap_or_else(|| "GET".into()),
        Dim::Scheme => r.scheme = v.unwrap_or_else(|| "http".into()),
        Dim::Authority => r.authority = v.unwrap_or_default(),
        Dim::Port => r.port = v.and_then(|p| p.parse().ok()),
        Dim::Namespace => r.source_namespace = v,
        Dim::Header(n) => {
            if let Some(v) = v {
                r.headers.push(n, &v);
            }
        }
        Dim::Claim(n) => {
            if let Some(v) = v {
                r.jwt_claims.insert(n.to_string(), v);
            }
        }
        Dim::Query(k) => {
            if let Some(v) = v {
                query.push(format!("{k}={v}"));
            }
        }
    }
}

/// Whether `v` on `dim` keeps `block`'s conditions on that dimension true (conditions on
/// other dimensions are not looked at): a probe request carrying `v` fails none of the
/// block's conditions ([`Block::each_miss`]) that are on `dim`.
fn dim_holds(block: &Block, dim: &Dim, v: &Option<String>) -> bool {
    if *dim == Dim::Path && v.is_none() {
        return false;
    }
    let mut probe = OwnedRequest {
        method: "GET".into(),
        scheme: "http".into(),
        path: "/".into(),
        ..OwnedRequest::default()
    };
    let mut query = Vec::new();
    set(&mut probe, dim, v.clone(), &mut query);
    if !query.is_empty() {
        probe.path = format!("/?{}", query.join("&"));
    }
    let path = if *dim == Dim::Path {
        probe.path.as_str()
    } else {
        "/"
    };
    block
        .each_miss(&probe, path, |miss| {
            if miss_dim(block, miss).as_ref() == Some(dim) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .is_continue()
}

/// The dimension of the request a failed condition is on; `None` for `sourceLabels` and
/// header conditions on `:path`, which the search does not vary.
fn miss_dim(block: &Block, miss: Miss) -> Option<Dim> {
    Some(match miss {
        Miss::Uri => Dim::Path,
        Miss::Method => Dim::Method,
        Miss::Scheme => Dim::Scheme,
        Miss::Authority => Dim::Authority,
        Miss::Source(SourceMiss::Port) => Dim::Port,
        Miss::Source(SourceMiss::Namespace) => Dim::Namespace,
        Miss::Source(_) => return None,
        Miss::Header(i) => match &block.headers[i].source {
            HeaderSource::Method => Dim::Method,
            HeaderSource::Scheme => Dim::Scheme,
            HeaderSource::Authority => Dim::Authority,
            HeaderSource::Header(n) => Dim::Header(n.clone()),
            HeaderSource::Claim(n) => Dim::Claim(n.clone()),
            _ => return None,
        },
        Miss::Query(i) => Dim::Query(block.query[i].key.clone()),
    })
}

fn push_unique(out: &mut Vec<Option<String>>, v: Option<String>) {
    if !out.contains(&v) {
        out.push(v);
    }
}

/// Values of a string condition: the literal, a prefix extended, strings of a regex.
pub(crate) fn str_values(m: &StrMatch) -> Vec<String> {
    match m {
        StrMatch::Exact(e) => vec![e.to_string()],
        StrMatch::Prefix(p) => vec![p.to_string(), format!("{p}w"), format!("{p}-x1")],
        StrMatch::Regex(r) => regex_samples(r.as_str(), |s| r.is_match(s.as_bytes())),
    }
}

/// Paths a `uri` condition accepts: the literal, the literal extended where a prefix allows,
/// other cases where the case is ignored, strings of a regex.
pub(crate) fn path_values(m: &PathMatch) -> Vec<String> {
    let mut out: Vec<String> = match m {
        PathMatch::Exact { value, ignore_case } => {
            let mut v = vec![value.to_string()];
            if *ignore_case {
                v.push(value.to_ascii_uppercase());
                v.push(value.to_ascii_lowercase());
            }
            v
        }
        PathMatch::Prefix { value, ignore_case } => {
            let mut v = vec![
                value.to_string(),
                format!("{value}/x"),
                format!("{value}x"),
                format!("{value}/witness/1"),
                format!("{value}-"),
            ];
            if *ignore_case {
                v.push(format!("{}/X", value.to_ascii_uppercase()));
                v.push(value.to_ascii_lowercase());
            }
            v
        }
        PathMatch::SegmentPrefix(v) if &**v == "/" => {
            vec!["/".into(), "/witness".into(), "/x/y".into()]
        }
        PathMatch::SegmentPrefix(v) => vec![
            v.to_string(),
            format!("{v}/"),
            format!("{v}/x"),
            format!("{v}/witness/1"),
        ],
        PathMatch::Regex(r) => regex_samples(r.as_str(), |s| r.is_match(s.as_bytes())),
    };
    out.retain(|p| m.is_match(p) && !p.contains(['?', '#']));
    out.dedup();
    out
}

/// Up to [`REGEX_SAMPLES`] distinct strings generated from the syntax tree of an RE2 pattern,
/// each accepted by `keep`.
pub(crate) fn regex_samples(pattern: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let Some(hir) = crate::predicate::regex::parse_re2(pattern) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for variant in 0..48u64 {
        if out.len() >= REGEX_SAMPLES {
            break;
        }
        let mut g = Gen {
            seed: variant.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66,
            variant,
            out: Vec::new(),
        };
        g.walk(&hir);
        if let Ok(s) = String::from_utf8(g.out)
            && !out.contains(&s)
            && keep(&s)
        {
            out.push(s);
        }
    }
    out
}

/// A string generator over a regex syntax tree: variant 0 takes the first alternative, the
/// least repetitions and the plainest character of each class; others choose at random.
struct Gen {
    seed: u64,
    variant: u64,
    out: Vec<u8>,
}

/// Characters preferred in generated strings, best first: none of them ends a path or needs
/// normalizing.
const PLAIN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_./~:=+,";

impl Gen {
    fn next(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.seed >> 33
    }

    fn walk(&mut self, hir: &Hir) {
        if self.out.len() > 512 {
            return;
        }
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(l) => self.out.extend_from_slice(&l.0),
            HirKind::Class(Class::Unicode(c)) => {
                let ranges: Vec<(u32, u32)> = c
                    .ranges()
                    .iter()
                    .map(|r| (r.start() as u32, r.end() as u32))
                    .collect();
                if let Some(ch) = self.pick(&ranges).and_then(char::from_u32) {
                    let mut buf = [0u8; 4];
                    self.out
                        .extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
            }
            HirKind::Class(Class::Bytes(c)) => {
                let ranges: Vec<(u32, u32)> = c
                    .ranges()
                    .iter()
                    .map(|r| (u32::from(r.start()), u32::from(r.end())))
                    .collect();
                if let Some(b) = self.pick(&ranges) {
                    self.out.push(b as u8);
                }
            }
            HirKind::Repetition(rep) => {
                let max = rep.max.unwrap_or(rep.min.saturating_add(3));
                let n = if self.variant == 0 {
                    rep.min
                } else if self.variant == 1 {
                    rep.min.max(1).min(max)
                } else {
                    let span = u64::from(max.saturating_sub(rep.min).min(3)) + 1;
                    rep.min + (self.next() % span) as u32
                };
                for _ in 0..n.min(64) {
                    self.walk(&rep.sub);
                }
            }
            HirKind::Capture(c) => self.walk(&c.sub),
            HirKind::Concat(parts) => parts.iter().for_each(|p| self.walk(p)),
            HirKind::Alternation(alts) => {
                let i = if self.variant == 0 {
                    0
                } else if self.variant < alts.len() as u64 + 1 {
                    (self.variant - 1) as usize % alts.len()
                } else {
                    (self.next() % alts.len() as u64) as usize
                };
                self.walk(&alts[i]);
            }
        }
    }

    /// A character of the class: a plain one when the class has one, else the first printable.
    fn pick(&mut self, ranges: &[(u32, u32)]) -> Option<u32> {
        let has = |c: u32| ranges.iter().any(|&(a, b)| a <= c && c <= b);
        let plain: Vec<u32> = PLAIN
            .iter()
            .map(|&c| u32::from(c))
            .filter(|&c| has(c))
            .collect();
        if !plain.is_empty() {
            let i = if self.variant == 0 {
                0
            } else {
                (self.next() % plain.len() as u64) as usize
            };
            return Some(plain[i]);
        }
        let printable = ranges
            .iter()
            .flat_map(|&(a, b)| (a..=b.min(a.saturating_add(256))).take(256))
            .find(|&c| c > 0x20 && c != 0x7f && !matches!(c, 0x3f | 0x23 | 0x25));
        printable.or(ranges.first().map(|r| r.0))
    }
}

/// The block an entry matches with (`None` for a rule without blocks, which matches all).
fn entry_block<'t>(table: &'t Table, e: &Entry) -> Option<&'t Block> {
    e.block
        .map(|b| &table.rules()[e.rule as usize].blocks[b as usize])
}

fn search(table: &Table, target: EntryRef, p: &Placement<'_>) -> Found {
    let default_block = Block::default();
    let block = target.block.map_or(&default_block, |b| {
        &table.rules()[target.rule].blocks[b as usize]
    });
    let earlier = &p.claim.entries[..p.position];
    // Proof first: an earlier entry that takes every request this block matches.
    for e in earlier {
        let covers = match entry_block(table, e) {
            None => true,
            Some(a) => block_covers(a, block),
        };
        if covers {
            return Found::Covered(Some(EntryRef::new(e.rule as usize, e.block)));
        }
    }
    let Some(space) = space(table, target, block, p) else {
        return Found::Nothing;
    };
    if space
        .dims
        .iter()
        .any(|(d, o)| *d == Dim::Namespace && o.is_empty())
    {
        // Every namespace sees an earlier VirtualService of the host, or none sees this one.
        return Found::Covered(None);
    }
    if space.dims.iter().any(|(_, o)| o.is_empty()) {
        return Found::Nothing;
    }
    let lookup = |d: &Dim| matches!(d, Dim::Authority | Dim::Namespace | Dim::Port);
    let start = vec![0usize; space.dims.len()];
    let mut seen: HashSet<Vec<usize>> = HashSet::new();
    seen.insert(start.clone());
    let mut stack = vec![start];
    let mut decided = 0;
    while let Some(state) = stack.pop() {
        if decided >= SEARCH_BUDGET {
            break;
        }
        decided += 1;
        let req = space.build(&state);
        let d = table.decide_with_draw(&req, 0);
        let got = decided_entry(table, &d);
        if got == Some(target) {
            return Found::Request(req);
        }
        // Which neighbours to try: those that break the entry that took the request, or that
        // reach another virtual host when the request did not get to this one.
        let in_claim = got.is_some_and(|g| {
            earlier
                .iter()
                .any(|e| e.rule as usize == g.rule && e.block == g.block)
        });
        let blocker: Option<&Block> =
            got.and_then(|g| g.block.map(|b| &table.rules()[g.rule].blocks[b as usize]));
        let mut next = Vec::new();
        for (i, (dim, options)) in space.dims.iter().enumerate() {
            for o in 0..options.len() {
                if o == state[i] {
                    continue;
                }
                let mut s = state.clone();
                s[i] = o;
                if seen.contains(&s) {
                    continue;
                }
                let useful = if got.is_none() {
                    lookup(dim) || *dim == Dim::Path
                } else {
                    (!in_claim && lookup(dim))
                        || blocker.is_some_and(|b| !b.is_match(&space.build(&s)))
                };
                if useful {
                    seen.insert(s.clone());
                    next.push(s);
                }
            }
        }
        stack.extend(next.into_iter().rev());
    }
    Found::Nothing
}

/// The values to search, per dimension, for `block` listed at `p`.
fn space(table: &Table, target: EntryRef, block: &Block, p: &Placement<'_>) -> Option<Space> {
    let inner = &table.inner;
    let earlier: Vec<&Block> = p.claim.entries[..p.position]
        .iter()
        .filter_map(|e| entry_block(table, e))
        .collect();
    let mut dims: Vec<(Dim, Vec<Option<String>>)> = vec![
        (Dim::Path, path_options(block, inner.normalization())),
        (Dim::Method, method_options(block)),
        (Dim::Scheme, scheme_options(block)),
        (
            Dim::Authority,
            authority_options(block, p, inner.cluster_domain()),
        ),
        (Dim::Port, port_options(block, p)),
        (
            Dim::Namespace,
            namespace_options(table, target, block, p, &earlier),
        ),
    ];
    dims.extend(name_dims(block, &earlier));
    for (dim, options) in &mut dims {
        if *dim != Dim::Namespace {
            options.retain(|v| dim_holds(block, dim, v));
        }
    }
    Some(Space {
        gateway: p
            .ctx
            .gateway
            .as_ref()
            .map(|(n, g)| (n.to_string(), g.to_string())),
        labels: block.source.labels.to_vec(),
        dims,
    })
}

/// The values `m` and the block's pseudo-header conditions (those `sources` picks) accept.
fn own_values(
    block: &Block,
    m: Option<&StrMatch>,
    sources: impl Fn(&HeaderSource) -> bool,
) -> Vec<String> {
    let mut v: Vec<String> = m.map(str_values).unwrap_or_default();
    for h in block.headers.iter().filter(|h| sources(&h.source)) {
        if let Some(m) = &h.value {
            v.extend(str_values(m));
        }
    }
    v
}

/// `own`, then each of `defaults` not already there.
fn own_then_defaults(own: Vec<String>, defaults: &[&str]) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    for v in own {
        push_unique(&mut out, Some(v));
    }
    for v in defaults {
        push_unique(&mut out, Some((*v).into()));
    }
    out
}

/// Paths: from the block's URI condition, or a few plain ones; those normalization keeps first.
fn path_options(
    block: &Block,
    norm: &crate::predicate::normalize::PathNormalization,
) -> Vec<Option<String>> {
    let mut paths: Vec<Option<String>> = Vec::new();
    if let Some(u) = &block.uri {
        path_values(u).into_iter().for_each(|v| paths.push(Some(v)));
    } else {
        for v in ["/", "/witness", "/x/y"] {
            paths.push(Some(v.into()));
        }
    }
    paths.sort_by_key(|v| v.as_deref().is_none_or(|p| norm.clean_path(p).is_none()));
    paths
}

/// Methods: the block's, then the common ones.
fn method_options(block: &Block) -> Vec<Option<String>> {
    own_then_defaults(
        own_values(block, block.method.as_ref(), |h| {
            matches!(h, HeaderSource::Method)
        }),
        &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
    )
}

/// Schemes: the block's, then `http` and `https`.
fn scheme_options(block: &Block) -> Vec<Option<String>> {
    own_then_defaults(
        own_values(block, block.scheme.as_ref(), |h| {
            matches!(h, HeaderSource::Scheme)
        }),
        &["http", "https"],
    )
}

/// Authorities: the virtual host's name with and without a port, the other spellings the
/// lookup accepts, and the block's own authority values.
fn authority_options(
    block: &Block,
    p: &Placement<'_>,
    cluster_domain: &str,
) -> Vec<Option<String>> {
    let host = p.authority();
    let mut authorities: Vec<Option<String>> = vec![Some(host.clone())];
    if let Some(port) = p.listener.or(block.source.port) {
        authorities.push(Some(format!("{host}:{port}")));
    }
    authorities.push(Some(format!("{host}:80")));
    // Other spellings the lookup accepts: upper case, and in the mesh the short forms.
    authorities.push(Some(host.to_ascii_uppercase()));
    if p.ctx.gateway.is_none()
        && let Some(stem) = host.strip_suffix(&*format!(".svc.{cluster_domain}"))
    {
        let short = stem.split('.').next().unwrap_or(stem);
        for a in [
            short.to_string(),
            format!("{short}:80"),
            format!("{stem}.svc"),
        ] {
            push_unique(&mut authorities, Some(a));
        }
    }
    for v in own_values(block, block.authority.as_ref(), |h| {
        matches!(h, HeaderSource::Authority)
    }) {
        push_unique(&mut authorities, Some(v));
    }
    authorities
}

/// Ports: the block's, the listener's, and a few others.
fn port_options(block: &Block, p: &Placement<'_>) -> Vec<Option<String>> {
    let mut ports: Vec<Option<String>> = Vec::new();
    for port in [
        block.source.port,
        p.listener,
        Some(80),
        Some(8080),
        Some(65000),
    ]
    .into_iter()
    .flatten()
    {
        push_unique(&mut ports, Some(port.to_string()));
    }
    ports
}

/// Request namespaces: only those that see this claim first.
fn namespace_options(
    table: &Table,
    target: EntryRef,
    block: &Block,
    p: &Placement<'_>,
    earlier: &[&Block],
) -> Vec<Option<String>> {
    let inner = &table.inner;
    let rule = &inner.rules()[target.rule];
    let mut namespaces: Vec<Option<String>> = Vec::new();
    if let Some(ns) = &block.source.namespace {
        namespaces.push(Some(ns.to_string()));
    } else {
        namespaces.push(Some(inner.source_of(rule).namespace.to_string()));
        for c in &p.vhost.claims {
            if let Visibility::Only(list) = &c.visibility {
                list.iter()
                    .for_each(|n| push_unique(&mut namespaces, Some(n.to_string())));
            }
        }
        for b in earlier {
            if let Some(ns) = &b.source.namespace {
                push_unique(&mut namespaces, Some(ns.to_string()));
            }
        }
        push_unique(&mut namespaces, Some("witness-ns".into()));
        push_unique(&mut namespaces, None);
    }
    namespaces.retain(|ns| {
        p.vhost
            .claim_for(ns.as_deref().unwrap_or(crate::DEFAULT_NAMESPACE), |c| {
                c.serves(block.source.port)
            })
            .is_some_and(|c| std::ptr::eq(c, p.claim))
    });
    namespaces
}

/// The dimension a header or JWT-claim condition varies; `None` for pseudo-headers.
fn header_dim(h: &HeaderMatch) -> Option<Dim> {
    match &h.source {
        HeaderSource::Header(n) => Some(Dim::Header(n.clone())),
        HeaderSource::Claim(c) => Some(Dim::Claim(c.clone())),
        _ => None,
    }
}

/// Adds the header, claim and query-parameter names `b` tests to `names`, each once.
fn push_names(names: &mut Vec<Dim>, b: &Block) {
    for h in &b.headers {
        if let Some(d) = header_dim(h)
            && !names.contains(&d)
        {
            names.push(d);
        }
    }
    for q in &b.query {
        let d = Dim::Query(q.key.clone());
        if !names.contains(&d) {
            names.push(d);
        }
    }
}

/// Headers, JWT claims and query parameters: this block's names, then the earlier entries'.
fn name_dims(block: &Block, earlier: &[&Block]) -> Vec<(Dim, Vec<Option<String>>)> {
    let mut names: Vec<Dim> = Vec::new();
    push_names(&mut names, block);
    let own = names.len();
    for b in earlier {
        push_names(&mut names, b);
    }
    names
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let options = if i < own {
                own_name_options(block, &d)
            } else {
                earlier_name_options(earlier, &d)
            };
            (d, options)
        })
        .collect()
}

/// Values for a name the block tests: those its conditions accept, others, empty, and absent.
fn own_name_options(block: &Block, d: &Dim) -> Vec<Option<String>> {
    let mut options: Vec<Option<String>> = Vec::new();
    match d {
        Dim::Query(k) => {
            for q in block.query.iter().filter(|q| &q.key == k) {
                match &q.value {
                    Some(m) => str_values(m)
                        .into_iter()
                        .for_each(|v| push_unique(&mut options, Some(v))),
                    None => push_unique(&mut options, Some("witness".into())),
                }
            }
        }
        _ => {
            for h in &block.headers {
                if header_dim(h).as_ref() != Some(d) {
                    continue;
                }
                match (&h.value, h.invert) {
                    (Some(m), false) => str_values(m)
                        .into_iter()
                        .for_each(|v| push_unique(&mut options, Some(v))),
                    (None, false) => push_unique(&mut options, Some("witness".into())),
                    (_, true) => push_unique(&mut options, None),
                }
            }
        }
    }
    push_unique(&mut options, Some("witness".into()));
    push_unique(&mut options, Some("witness-2".into()));
    push_unique(&mut options, Some(String::new()));
    push_unique(&mut options, None);
    options
}

/// Values for a name only earlier entries test: leave it out, send another value, or send
/// theirs (which breaks an inverted condition).
fn earlier_name_options(earlier: &[&Block], d: &Dim) -> Vec<Option<String>> {
    let mut options = vec![None, Some("witness".into())];
    for b in earlier {
        let values = b
            .headers
            .iter()
            .filter(|h| header_dim(h).as_ref() == Some(d))
            .filter_map(|h| h.value.as_ref())
            .chain(
                b.query
                    .iter()
                    .filter(|q| matches!(d, Dim::Query(k) if *k == q.key))
                    .filter_map(|q| q.value.as_ref()),
            );
        for m in values {
            str_values(m)
                .into_iter()
                .take(2)
                .for_each(|v| push_unique(&mut options, Some(v)));
        }
    }
    push_unique(&mut options, Some(String::new()));
    options
}

/// Every value `b` accepts, `a` accepts too.
fn str_covers(a: &StrMatch, b: &StrMatch) -> bool {
    match (a, b) {
        (StrMatch::Regex(r), _) if r.as_str() == "(?s).*" => true,
        (StrMatch::Exact(x), StrMatch::Exact(y)) => x == y,
        (StrMatch::Prefix(p), StrMatch::Exact(y) | StrMatch::Prefix(y)) => y.starts_with(&**p),
        (StrMatch::Regex(r), StrMatch::Exact(y)) => r.is_match(y.as_bytes()),
        (StrMatch::Regex(x), StrMatch::Regex(y)) => x.as_str() == y.as_str(),
        _ => false,
    }
}

/// A condition on a value every request has (method, scheme, authority): absent means any.
fn opt_covers(a: Option<&StrMatch>, b: Option<&StrMatch>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(a), Some(b)) => str_covers(a, b),
        (Some(StrMatch::Regex(r)), None) => r.as_str() == "(?s).*",
        (Some(_), None) => false,
    }
}

fn uri_covers(a: Option<&PathMatch>, b: Option<&PathMatch>) -> bool {
    use PathMatch as P;
    let Some(a) = a else { return true };
    match (a, b) {
        (P::SegmentPrefix(p), _) if &**p == "/" => true,
        (P::Regex(r), _) if r.as_str() == "(?s).*" => true,
        (_, None) => false,
        (P::Regex(r), Some(P::Regex(y))) => r.as_str() == y.as_str(),
        (
            P::Exact {
                value: x,
                ignore_case: ia,
            },
            Some(P::Exact {
                value: y,
                ignore_case: ib,
            }),
        ) => {
            if *ia {
                x.eq_ignore_ascii_case(y)
            } else {
                !ib && x == y
            }
        }
        (
            P::Prefix {
                value: p,
                ignore_case: ia,
            },
            Some(
                P::Exact {
                    value: y,
                    ignore_case: ib,
                }
                | P::Prefix {
                    value: y,
                    ignore_case: ib,
                },
            ),
        ) => {
            if *ia {
                y.len() >= p.len() && y.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            } else {
                !ib && y.starts_with(&**p)
            }
        }
        (P::Prefix { .. }, Some(P::SegmentPrefix(y))) => a.is_match(y),
        (P::SegmentPrefix(p), Some(P::SegmentPrefix(y))) => {
            y == p
                || y.strip_prefix(&**p)
                    .is_some_and(|rest| rest.starts_with('/'))
        }
        (
            P::SegmentPrefix(_),
            Some(P::Exact {
                value: y,
                ignore_case: false,
            }),
        ) => a.is_match(y),
        (
            P::SegmentPrefix(p),
            Some(P::Prefix {
                value: y,
                ignore_case: false,
            }),
        ) => y
            .strip_prefix(&**p)
            .is_some_and(|rest| rest.starts_with('/')),
        (
            P::Regex(r),
            Some(P::Exact {
                value: y,
                ignore_case: false,
            }),
        ) => r.is_match(y.as_bytes()),
        _ => false,
    }
}

fn header_covers(a: &HeaderMatch, b: &HeaderMatch) -> bool {
    if std::mem::discriminant(&a.source) != std::mem::discriminant(&b.source)
        || a.source.name() != b.source.name()
    {
        return false;
    }
    if a.invert {
        return b.invert
            && a.missing_as_empty == b.missing_as_empty
            && a.value.as_ref().map(StrMatch::describe)
                == b.value.as_ref().map(StrMatch::describe);
    }
    if b.invert || b.missing_as_empty {
        return false;
    }
    match (&a.value, &b.value) {
        (None, _) => true,
        (Some(x), Some(y)) => str_covers(x, y),
        (Some(_), None) => false,
    }
}

fn source_covers(a: &SourceMatch, b: &SourceMatch) -> bool {
    a.port.is_none_or(|p| b.port == Some(p))
        && a.namespace
            .as_deref()
            .is_none_or(|n| b.namespace.as_deref() == Some(n))
        && a.labels.iter().all(|l| b.labels.contains(l))
}

/// Every request `b` matches, `a` matches too (a sound under-approximation: `false` when in
/// doubt).
pub(crate) fn block_covers(a: &Block, b: &Block) -> bool {
    source_covers(&a.source, &b.source)
        && uri_covers(a.uri.as_ref(), b.uri.as_ref())
        && opt_covers(a.method.as_ref(), b.method.as_ref())
        && opt_covers(a.scheme.as_ref(), b.scheme.as_ref())
        && opt_covers(a.authority.as_ref(), b.authority.as_ref())
        && a.headers
            .iter()
            .all(|ha| b.headers.iter().any(|hb| header_covers(ha, hb)))
        && a.query.iter().all(|qa| {
            b.query.iter().any(|qb| {
                qa.key == qb.key
                    && match (&qa.value, &qb.value) {
                        (None, _) => true,
                        (Some(x), Some(y)) => str_covers(x, y),
                        (Some(_), None) => false,
                    }
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_samples_match_their_pattern() {
        for p in [
            "/api/v[0-9]+/.*",
            "(GET|POST)",
            r"\d{3}-[a-f]{2}",
            "(?i)abc",
            "x?",
            "[^a-z]+",
        ] {
            let r = crate::predicate::FullMatch::new(p).unwrap();
            let s = regex_samples(p, |s| r.is_match(s.as_bytes()));
            assert!(!s.is_empty(), "{p}");
        }
    }

    #[test]
    fn coverage_is_conservative() {
        let prefix = |v: &str| PathMatch::Prefix {
            value: v.into(),
            ignore_case: false,
        };
        assert!(uri_covers(Some(&prefix("/a")), Some(&prefix("/a/b"))));
        assert!(!uri_covers(Some(&prefix("/a/b")), Some(&prefix("/a"))));
        assert!(!uri_covers(Some(&prefix("/a")), None));
        assert!(uri_covers(None, Some(&prefix("/a"))));
        let seg = PathMatch::segment_prefix("/a");
        assert!(uri_covers(
            Some(&seg),
            Some(&PathMatch::segment_prefix("/a/b"))
        ));
        assert!(!uri_covers(Some(&seg), Some(&prefix("/ab"))));
        assert!(str_covers(
            &StrMatch::Prefix("ja".into()),
            &StrMatch::Exact("jason".into())
        ));
        assert!(!str_covers(
            &StrMatch::Exact("jason".into()),
            &StrMatch::Prefix("ja".into())
        ));
    }
}
