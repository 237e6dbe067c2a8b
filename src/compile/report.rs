//! Collects errors and warnings for one resource while it is validated and lowered.

use std::cell::RefCell;
use std::fmt::Display;
use std::rc::Rc;

use super::regexes::Regexes;
use crate::predicate::FullMatch;

/// Errors and warnings found in one resource, each with its field path.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) errors: Vec<(String, String)>,
    pub(crate) warnings: Vec<(&'static str, String, String)>,
    /// The compile's regexes, shared by the reports of every resource it lowers.
    regexes: Rc<RefCell<Regexes>>,
    /// Whether the resource read the compile's regexes: what it reports then depends on the
    /// other resources (the budget they share), so that its report is not kept across
    /// compiles ([`Incremental`](super::Incremental)).
    pub(crate) read_regexes: bool,
}

impl Report {
    /// A report whose regexes come from (and are charged to) the compile's `regexes`.
    pub(crate) fn with_regexes(regexes: &Rc<RefCell<Regexes>>) -> Report {
        Report {
            regexes: Rc::clone(regexes),
            ..Report::default()
        }
    }

    /// `pattern` compiled, or `None` with an error at `path`. The compile's regexes build each
    /// distinct pattern once; once this resource is rejected, a pattern not built yet is not
    /// built for it (nor reported: validation checked its syntax).
    pub(crate) fn regex(&mut self, pattern: &str, path: impl Display) -> Option<FullMatch> {
        self.read_regexes = true;
        let result = {
            let mut regexes = self.regexes.borrow_mut();
            if self.has_errors() && !regexes.contains(pattern, false) {
                return None;
            }
            regexes.get(pattern)
        };
        self.ok_or_error(result, path)
    }

    /// Checks `pattern`'s length and syntax in the RE2 dialect (validation); the compile's
    /// regexes read each distinct pattern once, for this check and its build.
    pub(crate) fn check_regex(&mut self, pattern: &str) -> Result<(), String> {
        self.read_regexes = true;
        self.regexes.borrow_mut().check(pattern)
    }

    /// As [`Report::regex`], for a `uriRegexRewrite` pattern.
    pub(crate) fn rewrite_regex(
        &mut self,
        pattern: &str,
        path: impl Display,
    ) -> Option<regex::Regex> {
        self.read_regexes = true;
        let result = {
            let mut regexes = self.regexes.borrow_mut();
            if self.has_errors() && !regexes.contains(pattern, true) {
                return None;
            }
            regexes.rewrite(pattern)
        };
        self.ok_or_error(result, path)
    }

    fn ok_or_error<T>(&mut self, result: Result<T, String>, path: impl Display) -> Option<T> {
        match result {
            Ok(r) => Some(r),
            Err(e) => {
                self.error(path, e);
                None
            }
        }
    }

    /// Records an error at `path` (e.g. `spec.http[2].route[1].weight`).
    pub(crate) fn error(&mut self, path: impl Display, message: impl Into<String>) {
        self.errors.push((path.to_string(), message.into()));
    }

    /// Records a warning with a stable code.
    pub(crate) fn warn(
        &mut self,
        code: &'static str,
        path: impl Display,
        message: impl Into<String>,
    ) {
        self.warnings.push((code, path.to_string(), message.into()));
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// Loads a spec the way the loader does (YAML → JSON value → typed spec) and runs `validate` on
/// it, for the validators' tests.
#[cfg(test)]
pub(crate) fn validate_yaml<T: serde::de::DeserializeOwned>(
    yaml: &str,
    validate: impl Fn(&T, &mut Report),
) -> Report {
    let value: serde_json::Value = serde_saphyr::from_str(yaml).expect("test YAML parses");
    let spec: T = serde_json::from_value(value).expect("test spec fits the schema");
    let mut report = Report::default();
    validate(&spec, &mut report);
    report
}
