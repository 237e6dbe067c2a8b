//! Collects errors and warnings for one resource while it is validated and lowered.

use std::fmt::Display;

/// Errors and warnings found in one resource, each with its field path.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) errors: Vec<(String, String)>,
    pub(crate) warnings: Vec<(&'static str, String, String)>,
}

impl Report {
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
