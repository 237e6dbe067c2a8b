//! `queryParams` conditions: the first raw (not percent-decoded) value of a key.

use super::StrMatch;

/// The first value of `key` in the query string of `path`: `?k=v` gives `v`, `?k` gives `""`,
/// an absent key gives `None`. Keys compare exactly; nothing is decoded.
pub fn first_value<'p>(path: &'p str, key: &str) -> Option<&'p str> {
    let q = path.split_once('?')?.1;
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
