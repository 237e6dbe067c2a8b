//! Conditions of a match block, one kind per file. Each is compiled once and evaluated with
//! `&self` against a borrowed request, without allocating.

pub mod header;
pub mod host;
pub mod normalize;
pub mod path;
pub mod query;
pub mod regex;
pub mod source;

pub use self::regex::FullMatch;

/// A compiled string condition: Istio's StringMatch (exact, prefix, regex full match).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StrMatch {
    /// Equal bytes.
    Exact(Box<str>),
    /// Starts with.
    Prefix(Box<str>),
    /// RE2 full match.
    Regex(FullMatch),
}

impl StrMatch {
    /// Whether one value matches.
    pub fn is_match(&self, value: &[u8]) -> bool {
        match self {
            StrMatch::Exact(e) => crate::request::bytes_eq(value, e.as_bytes()),
            StrMatch::Prefix(p) => {
                let p = p.as_bytes();
                value.len() >= p.len() && crate::request::bytes_eq(&value[..p.len()], p)
            }
            StrMatch::Regex(r) => r.is_match(value),
        }
    }

    /// Whether the values joined by `,` match, read without building the joined string.
    /// `values` is called again for each pass over the values.
    pub fn is_match_joined<'a, I, F>(&self, values: F) -> bool
    where
        I: Iterator<Item = &'a [u8]>,
        F: Fn() -> I,
    {
        let mut probe = values();
        let first = probe.next().unwrap_or(b"");
        if probe.next().is_none() {
            return self.is_match(first);
        }
        match self {
            StrMatch::Exact(e) => joined_starts_with(values(), e.as_bytes(), true),
            StrMatch::Prefix(p) => joined_starts_with(values(), p.as_bytes(), false),
            StrMatch::Regex(r) => r.is_match_pieces(Joined::new(values())),
        }
    }

    /// Whether the concatenation of `pieces` matches, read without building the string.
    pub fn is_match_concat(&self, pieces: &[&[u8]]) -> bool {
        match self {
            StrMatch::Exact(e) => pieces_start_with(pieces.iter().copied(), e.as_bytes(), true),
            StrMatch::Prefix(p) => pieces_start_with(pieces.iter().copied(), p.as_bytes(), false),
            StrMatch::Regex(r) => r.is_match_pieces(pieces.iter().copied()),
        }
    }

    /// The kind and operand, for messages and explain output.
    pub fn describe(&self) -> (&'static str, &str) {
        match self {
            StrMatch::Exact(e) => ("exact", e),
            StrMatch::Prefix(p) => ("prefix", p),
            StrMatch::Regex(r) => ("regex", r.as_str()),
        }
    }
}

/// The pieces of values joined by `,`: `v1`, `,`, `v2`, ... (borrowed, never copied).
#[derive(Clone, Debug)]
pub(crate) struct Joined<'a, I> {
    values: I,
    held: Option<&'a [u8]>,
    started: bool,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Joined<'a, I> {
    pub(crate) fn new(values: I) -> Self {
        Joined {
            values,
            held: None,
            started: false,
        }
    }
}

impl<'a, I: Iterator<Item = &'a [u8]>> Iterator for Joined<'a, I> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if let Some(v) = self.held.take() {
            return Some(v);
        }
        let v = self.values.next()?;
        if self.started {
            self.held = Some(v);
            Some(b",")
        } else {
            self.started = true;
            Some(v)
        }
    }
}

/// Whether the comma-joined values start with `want` (and, if `whole`, equal it).
fn joined_starts_with<'a>(
    values: impl Iterator<Item = &'a [u8]>,
    want: &[u8],
    whole: bool,
) -> bool {
    pieces_start_with(Joined::new(values), want, whole)
}

/// Whether the concatenated `pieces` start with `want` (and, if `whole`, equal it).
fn pieces_start_with<'a>(pieces: impl Iterator<Item = &'a [u8]>, want: &[u8], whole: bool) -> bool {
    let mut rest = want;
    for piece in pieces {
        if piece.len() > rest.len() {
            return !whole && piece.starts_with(rest);
        }
        if !rest.starts_with(piece) {
            return false;
        }
        rest = &rest[piece.len()..];
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> StrMatch {
        StrMatch::Exact(s.into())
    }

    #[test]
    fn joined_values_are_one_string() {
        let vals = [&b"a"[..], b"b"];
        let v = || vals.iter().copied();
        assert!(exact("a,b").is_match_joined(v));
        assert!(!exact("a").is_match_joined(v));
        assert!(!exact("a,b,").is_match_joined(v));
        assert!(StrMatch::Prefix("a,".into()).is_match_joined(v));
        assert!(StrMatch::Prefix("a,b".into()).is_match_joined(v));
        assert!(!StrMatch::Prefix("a,bc".into()).is_match_joined(v));
        let r = StrMatch::Regex(FullMatch::new("a,b").unwrap());
        assert!(r.is_match_joined(v));
    }

    #[test]
    fn concatenated_pieces_are_one_string() {
        let pieces = [&b"/p"[..], b"?y=1"];
        assert!(exact("/p?y=1").is_match_concat(&pieces));
        assert!(!exact("/p").is_match_concat(&pieces));
        assert!(!exact("/p?y=1&").is_match_concat(&pieces));
        assert!(StrMatch::Prefix("/p?".into()).is_match_concat(&pieces));
        assert!(StrMatch::Prefix("/".into()).is_match_concat(&pieces));
        assert!(!StrMatch::Prefix("/p?z".into()).is_match_concat(&pieces));
        let r = StrMatch::Regex(FullMatch::new("/p\\?y=[0-9]").unwrap());
        assert!(r.is_match_concat(&pieces));
        assert!(exact("").is_match_concat(&[]));
    }
}
