//! The names the loader checks on every object before any validator runs: `metadata.name` and
//! `metadata.namespace` by the API server's rules for the object's kind, and the did-you-mean
//! suggestions for a misspelt kind or field. The validators' richer vocabulary (hosts,
//! wildcards, gateway references, the Gateway API's spellings) is in `compile/names.rs`.

use super::limits::MAX_LABEL_LEN;

// ---------------------------------------------------------------------------------------------

/// The rule the API server applies to an object's name or namespace (apimachinery
/// `pkg/util/validation/validation.go`: `IsDNS1123Subdomain`, `IsDNS1123Label`, `IsDNS1035Label`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjectName {
    /// Custom resources, Pods, EndpointSlices: at most 253 bytes of dot-separated labels.
    Subdomain,
    /// Namespaces (and the names of Namespace objects): one label of at most 63 bytes.
    Label,
    /// Service names: a label that starts with a letter.
    Dns1035Label,
}

/// Why an object name breaks its [`ObjectName`] rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NameProblem {
    /// Valid once lower-cased: the API server refuses it, Istio reads it as written.
    UpperCase(String),
    /// Invalid in any case.
    Invalid(String),
}

impl ObjectName {
    fn describe(self) -> (&'static str, &'static str) {
        match self {
            ObjectName::Subdomain => (
                "DNS-1123 subdomain",
                "at most 253 lower-case letters, digits, '-' or '.', starting and ending with a \
                 letter or digit",
            ),
            ObjectName::Label => (
                "DNS-1123 label",
                "at most 63 lower-case letters, digits or '-', starting and ending with a letter \
                 or digit",
            ),
            ObjectName::Dns1035Label => (
                "DNS-1035 label",
                "at most 63 lower-case letters, digits or '-', starting with a letter and ending \
                 with a letter or digit",
            ),
        }
    }

    fn accepts(self, s: &str) -> bool {
        let label = |l: &str| l.len() <= MAX_LABEL_LEN && is_lower_dns_label_chars(l);
        match self {
            ObjectName::Subdomain => s.len() <= 253 && s.split('.').all(label),
            ObjectName::Label => label(s),
            ObjectName::Dns1035Label => label(s) && s.as_bytes()[0].is_ascii_lowercase(),
        }
    }

    /// Checks `value` of `field` (`name` or `namespace`) against the rule.
    pub(crate) fn check(self, field: &str, value: &str) -> Result<(), NameProblem> {
        if self.accepts(value) {
            return Ok(());
        }
        let (what, rule) = self.describe();
        if self.accepts(&value.to_ascii_lowercase()) {
            return Err(NameProblem::UpperCase(format!(
                "{field} {value:?} has upper-case letters; the API server refuses it (a {what} is \
                 lower case), meshroute reads it as written"
            )));
        }
        Err(NameProblem::Invalid(format!(
            "{field} {value:?} is not a valid {what}; use {rule}"
        )))
    }
}

/// The number of single-character insertions, deletions and substitutions that turn `a` into
/// `b` (Levenshtein distance), for did-you-mean suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The candidate closest to `word`: equal but for case, or within two edits.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(c) = candidates.iter().find(|c| c.eq_ignore_ascii_case(word)) {
        return Some(c);
    }
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
pub(crate) fn is_lower_dns_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && edge(b[0]) && edge(b[b.len() - 1]) && b.iter().all(|&c| edge(c) || c == b'-')
}
