//! RE2-style full-match regexes, compiled ahead of time into dense DFAs so that matching never
//! allocates: no per-thread cache, no lazily built states. Input may arrive in pieces (the
//! values of a repeated header joined by `,`), which a DFA consumes byte by byte.

use std::sync::Arc;

use regex_automata::dfa::{Automaton, StartKind, dense, sparse};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::util::syntax;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

/// Longest pattern accepted, in bytes (Istio's validation limit).
pub const MAX_PATTERN_LEN: usize = 1024;
/// Largest compiled automaton per pattern, in bytes.
pub const MAX_DFA_BYTES: usize = 4 << 20;
/// Largest intermediate NFA per pattern, in bytes.
pub const MAX_NFA_BYTES: usize = 1 << 20;
/// Most bytes of automaton (NFAs and dense DFAs) one compile builds for all its regexes.
///
/// Each distinct pattern is built once however often it is written, and a pattern refused
/// for size counts the bytes built before it stopped, so this bounds the time a compile spends
/// on regexes (refused ones build at about 35 MB a second: about two seconds in all; 16,000
/// simple patterns such as `/v1/users/[0-9]+` fit, in under a second) as well as the memory
/// they hold.
/// The pattern that would pass it is refused, rejecting its resource; a resource already
/// rejected builds none of its later patterns.
pub const MAX_TABLE_REGEX_BYTES: usize = 64 << 20;

/// Checks `pattern` and returns its Rust-syntax translation (see [`translate_re2`]): the one
/// RE2 front end of every regex the crate compiles, matches and `uriRegexRewrite` alike.
pub(crate) fn prepare(pattern: &str) -> Result<String, String> {
    prepare_parsed(pattern).map(|(rust, _)| rust)
}

/// Checks `pattern` and returns the syntax tree the matcher is compiled from.
pub(crate) fn prepare_hir(pattern: &str) -> Result<Hir, String> {
    prepare_parsed(pattern).map(|(_, hir)| hir)
}

fn prepare_parsed(pattern: &str) -> Result<(String, Hir), String> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "regex of {} bytes is too long; the limit is {MAX_PATTERN_LEN} bytes",
            pattern.len()
        ));
    }
    let rust = translate_re2(pattern)?;
    let hir = syntax::parse(&rust).map_err(|e| {
        format!(
            "regex {pattern:?} does not parse: {}",
            first_line(&e.to_string())
        )
    })?;
    Ok((rust, hir))
}

fn first_line(s: &str) -> String {
    // regex-syntax errors span several lines with a caret diagram; keep the gist on one line.
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.last() {
        Some(l) if lines.len() > 1 => l.trim().trim_start_matches("error: ").to_string(),
        _ => s.trim().to_string(),
    }
}

/// Dense automata up to this size are kept dense (one table lookup per byte); larger ones are
/// stored sparse, about a tenth of the size, so that a table of many regexes stays in cache.
const MAX_DENSE_BYTES: usize = 4 << 10;

/// A regex that must match a whole input (RE2 full match, as Envoy's `safe_regex`).
///
/// Cloning is cheap: the clones share one automaton, which is how a table holds a pattern
/// written many times.
#[derive(Clone, Debug)]
pub struct FullMatch(Arc<Compiled>);

/// A pattern and its automaton.
#[derive(Debug)]
struct Compiled {
    pattern: Box<str>,
    /// The bytes every match starts with (for the path index).
    prefix: Box<[u8]>,
    /// Whether the pattern is `prefix` followed by `tail`, so that `tail` matches what follows
    /// the prefix; else `tail` is the automaton of the whole pattern.
    after_prefix: bool,
    tail: Arc<Tail>,
}

/// An automaton and its anchored start state. Patterns that differ only in their literal
/// prefix (`/svc1/api/v[0-9]+/.*`, `/svc2/api/v[0-9]+/.*`) share the automaton of what follows
/// it ([`Tails`]): a table of many such rules holds, and a decision reads, one small automaton
/// instead of one per rule.
#[derive(Debug)]
pub(crate) struct Tail {
    dfa: Dfa,
    start: StateID,
}

/// The automata built so far, for sharing: by the syntax tree they were built from, looked up
/// through its printed form. The print is only a bucket: two trees can print alike and match
/// differently (`(?:[0-9]+)?` and `[0-9]+?` both print `[0-9]+?`), so a hit compares the trees.
pub(crate) type Tails = std::collections::HashMap<Box<str>, Vec<(Hir, Arc<Tail>)>>;

/// The compiled automaton, in the representation its size calls for.
#[derive(Debug)]
enum Dfa {
    Dense(dense::DFA<Vec<u32>>),
    Sparse(sparse::DFA<Vec<u8>>),
}

/// Why a pattern was not compiled, and the bytes of automaton built before it stopped.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Too long, does not parse, or uses a construct RE2 reads otherwise: nothing was built.
    Invalid(String),
    /// Its NFA grew past `limit` bytes ([`MAX_NFA_BYTES`], or less when a budget was nearly
    /// spent).
    Nfa { limit: usize, detail: String },
    /// Its DFA (or the determinizer's working memory) grew past `limit` bytes
    /// ([`MAX_DFA_BYTES`], or less when a budget was nearly spent), after an NFA of `nfa`
    /// bytes.
    Dfa {
        nfa: usize,
        limit: usize,
        detail: String,
    },
}

impl Refused {
    /// Bytes of automaton built before the pattern was refused, as charged to a budget.
    pub(crate) fn cost(&self) -> usize {
        match self {
            Refused::Invalid(_) => 0,
            Refused::Nfa { limit, .. } => *limit,
            Refused::Dfa { nfa, limit, .. } => nfa + limit,
        }
    }

    /// Whether a limit smaller than the per-pattern one, left by a budget, stopped the build.
    pub(crate) fn by_budget(&self) -> bool {
        match self {
            Refused::Invalid(_) => false,
            Refused::Nfa { limit, .. } => *limit < MAX_NFA_BYTES,
            Refused::Dfa { limit, .. } => *limit < MAX_DFA_BYTES,
        }
    }

    /// The message for a pattern refused at the per-pattern limits ([`MAX_NFA_BYTES`],
    /// [`MAX_DFA_BYTES`]).
    pub(crate) fn message(&self, pattern: &str) -> String {
        match self {
            Refused::Invalid(m) => m.clone(),
            Refused::Nfa { limit, detail } => format!(
                "regex {pattern:?} cannot be compiled within the limit of {limit} bytes per pattern (limits::MAX_NFA_BYTES): {detail}"
            ),
            Refused::Dfa { limit, detail, .. } => format!(
                "regex {pattern:?} cannot be compiled within the limit of {limit} bytes per pattern (limits::MAX_DFA_BYTES): {detail}"
            ),
        }
    }
}

/// Runs `dfa` from `start` over `pieces`, then end of input.
#[inline]
fn full_match<'a, A: Automaton>(
    dfa: &A,
    start: StateID,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> bool {
    let mut s = start;
    for piece in pieces {
        for &b in piece {
            s = dfa.next_state(s, b);
            if dfa.is_dead_state(s) || dfa.is_quit_state(s) {
                return false;
            }
        }
    }
    s = dfa.next_eoi_state(s);
    dfa.is_match_state(s)
}

impl FullMatch {
    /// Compiles `pattern` for full matching.
    ///
    /// # Errors
    /// When the pattern is too long, does not parse, or its automaton exceeds [`MAX_NFA_BYTES`]
    /// or [`MAX_DFA_BYTES`].
    pub fn new(pattern: &str) -> Result<FullMatch, String> {
        FullMatch::within(pattern, usize::MAX)
            .map(|(r, _)| r)
            .map_err(|e| e.message(pattern))
    }

    /// Compiles `pattern` within the per-pattern limits and within `budget` bytes of automaton
    /// in all (NFA and dense DFA); returns it with the bytes built. Building stops as soon as
    /// a limit is passed, so the work done is bounded by the limits whether the pattern
    /// compiles or not, and a refusal says how much was built ([`Refused::cost`]).
    pub(crate) fn within(pattern: &str, budget: usize) -> Result<(FullMatch, usize), Refused> {
        let hir = prepare_hir(pattern).map_err(Refused::Invalid)?;
        FullMatch::within_hir(pattern, &hir, budget)
    }

    /// As [`FullMatch::within`], from the syntax tree [`prepare_hir`] gave for `pattern`.
    pub(crate) fn within_hir(
        pattern: &str,
        hir: &Hir,
        budget: usize,
    ) -> Result<(FullMatch, usize), Refused> {
        FullMatch::within_hir_shared(pattern, hir, budget, &mut Tails::new())
    }

    /// As [`FullMatch::within_hir`], sharing the automaton of the part after the literal
    /// prefix with the patterns built before through `tails` (a shared one costs nothing).
    pub(crate) fn within_hir_shared(
        pattern: &str,
        hir: &Hir,
        budget: usize,
        tails: &mut Tails,
    ) -> Result<(FullMatch, usize), Refused> {
        let prefix = literal_prefix(hir);
        let split = split_tail(hir).filter(|(p, _)| *p == prefix);
        let after_prefix = split.is_some();
        let tail_hir = split.map_or_else(|| hir.clone(), |(_, t)| t);
        let bucket = tails.entry(tail_hir.to_string().into()).or_default();
        let (tail, cost) = match bucket.iter().find(|(h, _)| *h == tail_hir) {
            Some((_, t)) => (Arc::clone(t), 0),
            None => {
                let (t, cost) = Tail::build(pattern, &tail_hir, budget)?;
                let t = Arc::new(t);
                bucket.push((tail_hir, Arc::clone(&t)));
                (t, cost)
            }
        };
        let compiled = Compiled {
            pattern: pattern.into(),
            prefix: prefix.into(),
            after_prefix,
            tail,
        };
        Ok((FullMatch(Arc::new(compiled)), cost))
    }
}

impl Tail {
    /// The automaton of `hir` (from `pattern`) within the per-pattern limits and `budget`;
    /// with the bytes built.
    fn build(pattern: &str, hir: &Hir, budget: usize) -> Result<(Tail, usize), Refused> {
        let nfa_limit = MAX_NFA_BYTES.min(budget);
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .nfa_size_limit(Some(nfa_limit))
                    .shrink(true),
            )
            .build_from_hir(hir)
            .map_err(|e| match e.size_limit() {
                Some(_) => Refused::Nfa {
                    limit: nfa_limit,
                    detail: first_line(&e.to_string()),
                },
                None => Refused::Invalid(format!(
                    "regex {pattern:?} cannot be compiled: {}",
                    first_line(&e.to_string())
                )),
            })?;
        let nfa_bytes = nfa.memory_usage();
        let dfa_limit = MAX_DFA_BYTES.min(budget.saturating_sub(nfa_bytes));
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(dfa_limit))
                    .determinize_size_limit(Some(dfa_limit)),
            )
            .build_from_nfa(&nfa)
            .map_err(|e| {
                let detail = first_line(&e.to_string());
                if e.is_size_limit_exceeded() {
                    Refused::Dfa {
                        nfa: nfa_bytes,
                        limit: dfa_limit,
                        detail,
                    }
                } else {
                    Refused::Invalid(format!("regex {pattern:?} cannot be compiled: {detail}"))
                }
            })?;
        let cost = nfa_bytes + dfa.memory_usage();
        let internal =
            |e: &dyn std::fmt::Display| Refused::Invalid(format!("regex {pattern:?}: {e}"));
        let anchored = start::Config::new().anchored(Anchored::Yes);
        let (dfa, start) = if dfa.memory_usage() <= MAX_DENSE_BYTES {
            let start = dfa.start_state(&anchored);
            (Dfa::Dense(dfa), start)
        } else {
            let sparse = dfa.to_sparse().map_err(|e| internal(&e))?;
            let start = sparse.start_state(&anchored);
            (Dfa::Sparse(sparse), start)
        };
        let start = start.map_err(|e| internal(&e))?;
        Ok((Tail { dfa, start }, cost))
    }

    /// Runs the automaton over `pieces`: whether it accepts them all.
    #[inline]
    fn accepts<'a>(&self, pieces: impl IntoIterator<Item = &'a [u8]>) -> bool {
        match &self.dfa {
            Dfa::Dense(d) => full_match(d, self.start, pieces),
            Dfa::Sparse(d) => full_match(d, self.start, pieces),
        }
    }
}

impl FullMatch {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0.pattern
    }

    /// The bytes every match starts with; empty when there are none or they are not known
    /// (a case-insensitive or alternated start).
    pub(crate) fn literal_prefix(&self) -> &[u8] {
        &self.0.prefix
    }

    /// Whether the pattern matches the whole of `input`.
    pub fn is_match(&self, input: &[u8]) -> bool {
        self.is_match_pieces(std::iter::once(input))
    }

    /// Whether the pattern matches the concatenation of `pieces`, read without copying.
    pub fn is_match_pieces<'a>(&self, pieces: impl IntoIterator<Item = &'a [u8]>) -> bool {
        let c = &*self.0;
        let mut pieces = pieces.into_iter();
        if !c.after_prefix {
            return c.tail.accepts(pieces);
        }
        // The prefix, compared; then what follows it, through the tail's automaton.
        let mut want: &[u8] = &c.prefix;
        let mut rest: &[u8] = &[];
        while !want.is_empty() {
            let Some(piece) = pieces.next() else {
                return false;
            };
            let n = want.len().min(piece.len());
            if piece[..n] != want[..n] {
                return false;
            }
            want = &want[n..];
            rest = &piece[n..];
        }
        c.tail.accepts(std::iter::once(rest).chain(pieces))
    }

    /// Bytes of memory held by the automaton (shared by every clone, and by the patterns
    /// that share its tail).
    pub fn memory_usage(&self) -> usize {
        match &self.0.tail.dfa {
            Dfa::Dense(d) => d.memory_usage(),
            Dfa::Sparse(d) => d.memory_usage(),
        }
    }

    /// Whether `self` and `other` share one automaton.
    #[cfg(test)]
    pub(crate) fn shares_automaton(&self, other: &FullMatch) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

// ---------------------------------------------------------------------------------------------
// RE2 dialect front end. Istio and the Gateway API hand patterns to Envoy, which compiles them
// with RE2; this rewrites a pattern into the Rust syntax with the same meaning, or rejects the
// constructs the two engines read differently (see RELIABILITY.md §3.2).
// ---------------------------------------------------------------------------------------------

use regex_syntax::ast::{
    self, AssertionKind, Ast, ClassPerlKind, ClassSet, ClassSetBinaryOpKind, ClassSetItem,
    ClassUnicodeKind, Flag, Flags, FlagsItemKind, GroupKind, HexLiteralKind, LiteralKind,
    RepetitionKind, RepetitionRange,
};

/// Largest counted repetition RE2 accepts, alone and as a product of nested repetitions.
pub const MAX_REPEAT: u32 = 1000;

/// RE2's Unicode general categories (`\p{Lu}`); RE2 knows no long names such as `Letter`.
const RE2_CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs",
];

/// Scripts known to both RE2 (google-re2 2025-11) and regex-syntax, spelled exactly as RE2
/// requires; the Unicode 16 scripts (Garay, Todhri, ...) are missing from RE2 and so rejected.
const RE2_SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cypro_Minoan",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nag_Mundari",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Old_Uyghur",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
];

/// The leading literal bytes of every match of `hir`.
fn literal_prefix(hir: &Hir) -> Vec<u8> {
    use regex_syntax::hir::HirKind;

    /// Appends `hir`'s leading literal bytes; true when `hir` is wholly literal (so what
    /// follows it may extend the prefix).
    fn walk(hir: &Hir, out: &mut Vec<u8>) -> bool {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => true,
            HirKind::Literal(lit) => {
                out.extend_from_slice(&lit.0);
                true
            }
            HirKind::Capture(c) => walk(&c.sub, out),
            HirKind::Concat(parts) => parts.iter().all(|p| walk(p, out)),
            _ => false,
        }
    }

    let mut out = Vec::new();
    walk(hir, &mut out);
    out
}

/// The pattern as its literal prefix and the rest (`/svc1/api/v[0-9]+` is `/svc1/api/v` then
/// `[0-9]+`), when matching the rest after the prefix is matching the whole: the prefix is the
/// leading literals of the pattern's concatenation (capture groups do not change what
/// matches, and a `^` at the very start always holds), and the rest asserts nothing but the
/// end of the input, which reads the same from the prefix's end as from the input's start.
fn split_tail(hir: &Hir) -> Option<(Vec<u8>, Hir)> {
    use regex_syntax::hir::{HirKind, Look};

    fn flatten<'h>(hir: &'h Hir, out: &mut Vec<&'h Hir>) {
        match hir.kind() {
            HirKind::Concat(parts) => parts.iter().for_each(|p| flatten(p, out)),
            HirKind::Capture(c) => flatten(&c.sub, out),
            _ => out.push(hir),
        }
    }

    let mut items = Vec::new();
    flatten(hir, &mut items);
    let mut prefix = Vec::new();
    let mut k = 0;
    while let Some(item) = items.get(k) {
        match item.kind() {
            HirKind::Literal(lit) => prefix.extend_from_slice(&lit.0),
            HirKind::Empty => {}
            HirKind::Look(Look::Start) if prefix.is_empty() => {}
            _ => break,
        }
        k += 1;
    }
    if prefix.is_empty() {
        return None;
    }
    let tail = Hir::concat(items[k..].iter().map(|h| (*h).clone()).collect());
    let looks = tail.properties().look_set();
    looks
        .iter()
        .all(|l| matches!(l, Look::End | Look::EndLF))
        .then_some((prefix, tail))
}

/// The syntax tree of an RE2 pattern, as the crate's tools read it (samples for witnesses);
/// `None` when the pattern does not translate or parse.
pub(crate) fn parse_re2(pattern: &str) -> Option<regex_syntax::hir::Hir> {
    let rust = translate_re2(pattern).ok()?;
    regex_syntax::ParserBuilder::new()
        .utf8(true)
        .build()
        .parse(&rust)
        .ok()
}

/// Rewrites an RE2 pattern into Rust regex syntax with the same meaning.
///
/// Translated: `\Q..\E` (escaped literals), octal escapes (`\101` → `\x{41}`), braces that do not
/// form a repetition (`a{`, `a{,5}` → literal `{`), and the ASCII Perl classes and word
/// boundaries (`\d \w \s \b` and their negations → explicit ASCII classes, `(?-u:\b)`).
/// Rejected: every construct that Rust accepts with another meaning or that RE2 rejects.
///
/// # Errors
/// A message naming the construct and the pattern.
pub(crate) fn translate_re2(pattern: &str) -> Result<String, String> {
    let lexed = lex_re2(pattern)?;
    let parsed = ast::parse::Parser::new().parse(&lexed).map_err(|e| {
        format!(
            "regex {pattern:?} does not parse: {}",
            first_line(&e.to_string())
        )
    })?;
    let mut walker = Walker {
        pattern,
        edits: Vec::new(),
    };
    walker.ast(&parsed, MAX_REPEAT)?;
    let mut edits = walker.edits;
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(lexed.len() + 16 * edits.len());
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(&lexed[at..start]);
        out.push_str(text);
        at = end;
    }
    out.push_str(&lexed[at..]);
    Ok(out)
}

/// First pass, over characters: the RE2 constructs that regex-syntax cannot parse.
fn lex_re2(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    while i < n {
        let c = chars[i];
        let first_in_class = std::mem::replace(&mut class_start, false);
        if c == '\\' && i + 1 < n {
            let d = chars[i + 1];
            match d {
                'Q' if !in_class => {
                    i += 2;
                    while i < n && !(chars[i] == '\\' && i + 1 < n && chars[i + 1] == 'E') {
                        let mut buf = [0u8; 4];
                        regex_syntax::escape_into(chars[i].encode_utf8(&mut buf), &mut out);
                        i += 1;
                    }
                    i += 2;
                    continue;
                }
                'C' => {
                    return Err(format!(
                        "regex {pattern:?} uses \\C (any single byte), which cannot match within UTF-8 text; use . instead"
                    ));
                }
                '0'..='7' => {
                    let octal = |k: usize| k < n && ('0'..='7').contains(&chars[k]);
                    if d != '0' && !octal(i + 2) {
                        return Err(format!(
                            "regex {pattern:?} uses a backreference (\\{d}), which RE2 does not support"
                        ));
                    }
                    // RE2 reads at most three octal digits.
                    let mut code = 0u32;
                    let mut k = i + 1;
                    while k < i + 4 && octal(k) {
                        code = code * 8 + chars[k].to_digit(8).unwrap_or(0);
                        k += 1;
                    }
                    out.push_str(&format!("\\x{{{code:X}}}"));
                    i = k;
                    continue;
                }
                'b' | 'B' if !in_class && i + 2 < n && chars[i + 2] == '{' => {
                    return Err(format!(
                        "regex {pattern:?} uses \\{d}{{...}}, which RE2 reads as \\{d} followed by literal braces; escape the '{{' or remove the braces"
                    ));
                }
                'p' | 'P' | 'x' | 'u' | 'U' if i + 2 < n && chars[i + 2] == '{' => {
                    let end = chars[i + 2..]
                        .iter()
                        .position(|&ch| ch == '}')
                        .map_or(n, |p| i + 2 + p + 1);
                    out.extend(&chars[i..end]);
                    i = end;
                    continue;
                }
                _ => {
                    out.push(c);
                    out.push(d);
                    i += 2;
                    continue;
                }
            }
        }
        if in_class {
            if c == '[' && i + 1 < n && chars[i + 1] == ':' {
                if let Some(p) =
                    (i + 2..n.saturating_sub(1)).find(|&k| chars[k] == ':' && chars[k + 1] == ']')
                {
                    out.extend(&chars[i..p + 2]);
                    i = p + 2;
                    continue;
                }
            } else if c == ']' && !first_in_class {
                in_class = false;
            }
            out.push(c);
            i += 1;
        } else if c == '[' {
            in_class = true;
            class_start = true;
            out.push(c);
            i += 1;
            if i < n && chars[i] == '^' {
                out.push('^');
                i += 1;
            }
        } else if c == '{' {
            if let Some(len) = repeat_len(&chars[i..]) {
                out.extend(&chars[i..i + len]);
                i += len;
            } else {
                // RE2 reads a brace that does not start `{n}`, `{n,}` or `{n,m}` literally.
                out.push_str("\\{");
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// Length of an RE2 counted repetition `{n}`, `{n,}` or `{n,m}` at the start of `s`.
fn repeat_len(s: &[char]) -> Option<usize> {
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut k = 1;
    let d = digits(k);
    if d == 0 {
        return None;
    }
    k += d;
    if s.get(k) == Some(&',') {
        k += 1;
        k += digits(k);
    }
    (s.get(k) == Some(&'}')).then_some(k + 1)
}

struct Walker<'p> {
    pattern: &'p str,
    edits: Vec<(usize, usize, &'static str)>,
}

impl Walker<'_> {
    fn err(&self, what: &str) -> String {
        format!("regex {:?} {what}", self.pattern)
    }

    /// `budget` is RE2's repetition budget: 1000 divided by the counts of the enclosing
    /// counted repetitions (RE2 rejects a pattern when it reaches zero).
    fn ast(&mut self, node: &Ast, budget: u32) -> Result<(), String> {
        match node {
            Ast::Empty(_) | Ast::Dot(_) => Ok(()),
            Ast::Flags(f) => self.flags(&f.flags),
            Ast::Literal(l) => self.literal(l),
            Ast::Assertion(a) => {
                let (text, name) = match a.kind {
                    AssertionKind::StartLine
                    | AssertionKind::EndLine
                    | AssertionKind::StartText
                    | AssertionKind::EndText => return Ok(()),
                    AssertionKind::WordBoundary => ("(?-u:\\b)", ""),
                    AssertionKind::NotWordBoundary => ("(?-u:\\B)", ""),
                    AssertionKind::WordBoundaryStartAngle => ("", "\\<"),
                    AssertionKind::WordBoundaryEndAngle => ("", "\\>"),
                    AssertionKind::WordBoundaryStart => ("", "\\b{start}"),
                    AssertionKind::WordBoundaryEnd => ("", "\\b{end}"),
                    AssertionKind::WordBoundaryStartHalf => ("", "\\b{start-half}"),
                    AssertionKind::WordBoundaryEndHalf => ("", "\\b{end-half}"),
                };
                if name.is_empty() {
                    self.edits
                        .push((a.span.start.offset, a.span.end.offset, text));
                    Ok(())
                } else {
                    Err(self.err(&format!(
                        "uses the word-boundary assertion {name}, which RE2 does not support (RE2 reads it as literal characters); escape it"
                    )))
                }
            }
            Ast::ClassUnicode(u) => self.unicode(u),
            Ast::ClassPerl(p) => {
                let text = match (&p.kind, p.negated) {
                    (ClassPerlKind::Digit, false) => "[0-9]",
                    (ClassPerlKind::Digit, true) => "[^0-9]",
                    (ClassPerlKind::Word, false) => "[0-9A-Za-z_]",
                    (ClassPerlKind::Word, true) => "[^0-9A-Za-z_]",
                    (ClassPerlKind::Space, false) => "[\\t\\n\\f\\r ]",
                    (ClassPerlKind::Space, true) => "[^\\t\\n\\f\\r ]",
                };
                self.edits
                    .push((p.span.start.offset, p.span.end.offset, text));
                Ok(())
            }
            Ast::ClassBracketed(b) => self.class_set(&b.kind),
            Ast::Repetition(r) => {
                if matches!(*r.ast, Ast::Repetition(_)) {
                    return Err(self.err(
                        "repeats a repetition (as in a**, a++ or a{2}{3}), which RE2 rejects; group the inner repetition with (?:...)",
                    ));
                }
                let mut inner = budget;
                if let RepetitionKind::Range(range) = &r.op.kind {
                    let (min, max) = match *range {
                        RepetitionRange::Exactly(m) => (m, Some(m)),
                        RepetitionRange::AtLeast(m) => (m, None),
                        RepetitionRange::Bounded(m, n) => (m, Some(n)),
                    };
                    if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
                        return Err(self.err(&format!(
                            "repeats more than {MAX_REPEAT} times, which RE2 rejects"
                        )));
                    }
                    let count = max.unwrap_or(min);
                    // RE2 skips `{0}`, which repeats nothing.
                    inner = budget.checked_div(count).unwrap_or(budget);
                    if inner == 0 {
                        return Err(self.err(&format!(
                            "nests counted repetitions whose product exceeds {MAX_REPEAT}, which RE2 rejects"
                        )));
                    }
                }
                self.ast(&r.ast, inner)
            }
            Ast::Group(g) => {
                match &g.kind {
                    GroupKind::CaptureIndex(_) => {}
                    GroupKind::CaptureName { name, .. } => {
                        if name.name.contains(['.', '[', ']']) {
                            return Err(self.err(&format!(
                                "names a group {:?}, which RE2 rejects; use letters, digits and '_'",
                                name.name
                            )));
                        }
                    }
                    GroupKind::NonCapturing(flags) => self.flags(flags)?,
                }
                self.ast(&g.ast, budget)
            }
            Ast::Alternation(a) => a.asts.iter().try_for_each(|x| self.ast(x, budget)),
            Ast::Concat(c) => c.asts.iter().try_for_each(|x| self.ast(x, budget)),
        }
    }

    fn flags(&self, flags: &Flags) -> Result<(), String> {
        for item in &flags.items {
            let name = match item.kind {
                FlagsItemKind::Flag(Flag::Unicode) => "u",
                FlagsItemKind::Flag(Flag::CRLF) => "R",
                FlagsItemKind::Flag(Flag::IgnoreWhitespace) => "x",
                _ => continue,
            };
            return Err(self.err(&format!(
                "uses the flag {name}, which RE2 does not support; RE2 knows only the flags i, m, s and U"
            )));
        }
        Ok(())
    }

    fn literal(&self, lit: &ast::Literal) -> Result<(), String> {
        match lit.kind {
            LiteralKind::HexFixed(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong)
            | LiteralKind::HexBrace(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong) => {
                Err(self.err(&format!(
                    "uses a \\u or \\U escape, which RE2 rejects; write \\x{{{:X}}} instead",
                    u32::from(lit.c)
                )))
            }
            _ => Ok(()),
        }
    }

    fn unicode(&self, class: &ast::ClassUnicode) -> Result<(), String> {
        let ok = match &class.kind {
            ClassUnicodeKind::OneLetter(c) => "CLMNPSZ".contains(*c),
            ClassUnicodeKind::Named(name) => {
                name == "Any"
                    || RE2_CATEGORIES.contains(&name.as_str())
                    || RE2_SCRIPTS.contains(&name.as_str())
            }
            ClassUnicodeKind::NamedValue { .. } => false,
        };
        if ok {
            Ok(())
        } else {
            let name = match &class.kind {
                ClassUnicodeKind::OneLetter(c) => c.to_string(),
                ClassUnicodeKind::Named(name) => name.clone(),
                ClassUnicodeKind::NamedValue { name, value, .. } => format!("{name}={value}"),
            };
            Err(self.err(&format!(
                "uses the Unicode class \\p{{{name}}}, which RE2 rejects; RE2 knows only general categories (such as Lu) and scripts (such as Greek), spelled exactly"
            )))
        }
    }

    fn class_set(&mut self, set: &ClassSet) -> Result<(), String> {
        match set {
            ClassSet::BinaryOp(op) => {
                let (sym, ch) = match op.kind {
                    ClassSetBinaryOpKind::Intersection => ("&&", '&'),
                    ClassSetBinaryOpKind::Difference => ("--", '-'),
                    ClassSetBinaryOpKind::SymmetricDifference => ("~~", '~'),
                };
                Err(self.err(&format!(
                    "uses a class set operation ({sym}), which RE2 reads as literal characters; escape the '{ch}' characters"
                )))
            }
            ClassSet::Item(item) => self.class_item(item),
        }
    }

    fn class_item(&mut self, item: &ClassSetItem) -> Result<(), String> {
        match item {
            ClassSetItem::Empty(_) | ClassSetItem::Ascii(_) => Ok(()),
            ClassSetItem::Literal(l) => self.literal(l),
            ClassSetItem::Range(r) => {
                self.literal(&r.start)?;
                self.literal(&r.end)
            }
            ClassSetItem::Unicode(u) => self.unicode(u),
            ClassSetItem::Perl(p) => {
                let text = match (&p.kind, p.negated) {
                    (ClassPerlKind::Digit, false) => "0-9",
                    (ClassPerlKind::Digit, true) => "[^0-9]",
                    (ClassPerlKind::Word, false) => "0-9A-Za-z_",
                    (ClassPerlKind::Word, true) => "[^0-9A-Za-z_]",
                    (ClassPerlKind::Space, false) => "\\t\\n\\f\\r ",
                    (ClassPerlKind::Space, true) => "[^\\t\\n\\f\\r ]",
                };
                self.edits.push((p.span.start.offset, p.span.end.offset, text));
                Ok(())
            }
            ClassSetItem::Bracketed(_) => Err(self.err(
                "nests a class inside a class ([...[...]...]), which RE2 reads as a literal '['; escape the inner '['",
            )),
            ClassSetItem::Union(u) => u.items.iter().try_for_each(|i| self.class_item(i)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pattern matched as its literal prefix then the rest (`split_tail`) accepts exactly
    /// what the whole pattern does, read by the regex crate, also when the input comes in
    /// pieces that cut through the prefix; and patterns that are not a prefix then a rest
    /// reading the same from any start (a `\b` or `^` after the prefix) are matched whole.
    #[test]
    fn a_pattern_split_at_its_literal_prefix_matches_as_the_whole() {
        let patterns = [
            "/svc1/api/v[0-9]+/.*",
            "/svc1/api/(v[0-9]+)/.*",
            "(/svc1)(/api)[a-z]*",
            "^/svc1/.*$",
            "/a(?m:$)",
            "/a\\b[a-z]*",
            "/a(?i)b[a-z]*",
            "/ab|/ac",
            "/a(b|c)d",
            "/a",
            "/a.*\\b",
            "(?i)/abc",
            "/a\\Bb",
            "/x[0-9]*(?m:^)y",
            "/a(?:[0-9]+)?",
            "/a[0-9]+?",
            "/a(?:b{2,3})?",
            "/ab{2,3}?",
            "(?:[0-9]+)?",
            "[0-9]+?",
        ];
        let inputs = [
            "",
            "/",
            "/a",
            "/ab",
            "/abd",
            "/acd",
            "/a b",
            "/aB",
            "/abc",
            "/ABC",
            "/x1y",
            "/xy",
            "/a\n",
            "/svc1/",
            "/svc1/x",
            "/svc1/api/v1/",
            "/svc1/api/v12/items",
            "/svc1/api/vx/",
            "/svc1/apiabc",
            "/svc2/api/v1/",
            "/a1",
            "/a12",
            "/abb",
            "/abbb",
            "1",
            "12",
        ];
        // Built through one set of shared automata, in both orders, so that a pattern that
        // prints like another (`(?:[0-9]+)?`, `[0-9]+?`) but matches otherwise is caught.
        let mut tails = Tails::new();
        for &p in patterns.iter().chain(patterns.iter().rev()) {
            let hir = prepare_hir(p).unwrap();
            let (ours, _) = FullMatch::within_hir_shared(p, &hir, usize::MAX, &mut tails).unwrap();
            let theirs =
                regex::bytes::Regex::new(&format!("^(?:{})$", prepare(p).unwrap())).unwrap();
            for input in inputs {
                let want = theirs.is_match(input.as_bytes());
                assert_eq!(ours.is_match(input.as_bytes()), want, "{p:?} on {input:?}");
                for cut in 0..=input.len() {
                    let (a, b) = input.as_bytes().split_at(cut);
                    assert_eq!(ours.is_match_pieces([a, b]), want, "{p:?} on {a:?} + {b:?}");
                }
            }
        }
        let split = |p: &str| FullMatch::new(p).unwrap().0.after_prefix;
        assert!(split("/svc1/api/v[0-9]+/.*"));
        assert!(split("^/svc1/.*$"));
        assert!(
            !split("/a\\b[a-z]*"),
            "a word boundary reads the byte before it"
        );
        assert!(!split("(?i)abc"), "no literal prefix");
    }

    /// Patterns that differ only in their literal prefix share one automaton, built once.
    #[test]
    fn patterns_alike_after_their_prefix_share_one_automaton() {
        let mut tails = Tails::new();
        let mut build = |p: &str| {
            let hir = prepare_hir(p).unwrap();
            FullMatch::within_hir_shared(p, &hir, usize::MAX, &mut tails).unwrap()
        };
        let (a, cost_a) = build("/svc1/api/v[0-9]+/.*");
        let (b, cost_b) = build("/svc22/api/v[0-9]+/.*");
        let (c, _) = build("/svc3/api/v[a-z]+/.*");
        assert!(cost_a > 0);
        assert_eq!(cost_b, 0, "the second one builds nothing");
        assert!(Arc::ptr_eq(&a.0.tail, &b.0.tail));
        assert!(!Arc::ptr_eq(&a.0.tail, &c.0.tail));
        assert!(a.is_match(b"/svc1/api/v2/x") && !a.is_match(b"/svc22/api/v2/x"));
        assert!(b.is_match(b"/svc22/api/v2/x") && !b.is_match(b"/svc1/api/v2/x"));
        assert_eq!(a.literal_prefix(), b"/svc1/api/v");
    }

    #[test]
    fn full_match_not_search() {
        let r = FullMatch::new(r"\d+").unwrap();
        assert!(r.is_match(b"123"));
        assert!(!r.is_match(b"a123"));
        assert!(!r.is_match(b"123a"));
        assert!(!r.is_match(b""));
        let r = FullMatch::new("a|ab").unwrap();
        assert!(
            r.is_match(b"ab"),
            "alternation must not stop at the first branch"
        );
        let r = FullMatch::new("/api/v[0-9]+/.*").unwrap();
        assert!(r.is_match(b"/api/v2/items"));
        assert!(!r.is_match(b"/api/vx/items"));
    }

    #[test]
    fn pieces_are_read_as_one_input() {
        let r = FullMatch::new("a,b").unwrap();
        assert!(r.is_match_pieces([&b"a"[..], b",", b"b"]));
        assert!(!r.is_match_pieces([&b"a"[..], b","]));
    }

    #[test]
    fn limits_are_errors() {
        let long = "a".repeat(1025);
        assert_eq!(
            FullMatch::new(&long).unwrap_err(),
            "regex of 1025 bytes is too long; the limit is 1024 bytes"
        );
        assert!(
            FullMatch::new("(")
                .unwrap_err()
                .starts_with("regex \"(\" does not parse")
        );
        assert!(FullMatch::new("(a|b|c|d|e|f)*a(a|b|c|d|e|f){20}").is_err());
        assert!(prepare("x{2}").is_ok());
    }
}
