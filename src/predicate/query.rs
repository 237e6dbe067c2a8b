//! `queryParams` conditions: the first raw (not percent-decoded) value of a key.

use super::StrMatch;

/// The first value of `key` in the query string of `path`: `?k=v` gives `v`, `?k` gives `""`,
/// an absent key gives `None`. Keys compare exactly; nothing is decoded. The query runs from
/// the first `?` to the first `#` after it; a `?` inside a `#fragment` starts no query
/// (RFC 3986 §3.5: `/#frag?q=1` has none).
pub fn first_value<'p>(path: &'p str, key: &str) -> Option<&'p str> {
    let start = path.bytes().position(|b| b == b'?' || b == b'#')?;
    if path.as_bytes()[start] == b'#' {
        return None;
    }
    let q = &path[start + 1..];
    let q = q.split_once('#').map_or(q, |(q, _)| q);
    q.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

/// A compiled query parameter condition.
#[derive(Clone, Debug)]
pub struct QueryMatch {
    /// Parameter name.
    pub key: Box<str>,
    /// `None` = present; otherwise the value condition.
    pub value: Option<StrMatch>,
}

impl QueryMatch {
    /// Whether the condition holds for `path` (with its query string).
    pub fn is_match(&self, path: &str) -> bool {
        match (first_value(path, &self.key), &self.value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(v), Some(m)) => m.is_match(v.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_fragment_hides_what_follows_it() {
        assert_eq!(super::first_value("/#frag?q=1", "q"), None);
        assert_eq!(super::first_value("/?q=1#x?q=2", "q"), Some("1"));
        assert_eq!(super::first_value("/p?q", "q"), Some(""));
    }

    use super::*;

    #[test]
    fn first_raw_value() {
        assert_eq!(first_value("/p?a=1&a=2", "a"), Some("1"));
        assert_eq!(first_value("/p?k", "k"), Some(""));
        assert_eq!(first_value("/p?x=%41", "x"), Some("%41"));
        assert_eq!(first_value("/p?x=1#f", "x"), Some("1"));
        assert_eq!(first_value("/p", "x"), None);
        assert_eq!(first_value("/p?X=1", "x"), None);
    }
}
