//! Errors and diagnostics: every one names the resource and the field path.

use std::fmt;

/// The resource a diagnostic is about: kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    /// The resource kind, e.g. `VirtualService`.
    pub kind: String,
    /// The namespace (`default` when the resource names none).
    pub namespace: String,
    /// The resource name.
    pub name: String,
}

impl ResourceId {
    /// Makes a resource id.
    pub fn new(kind: &str, namespace: &str, name: &str) -> ResourceId {
        ResourceId {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// What went wrong, broadly.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is not well-formed YAML or JSON, or a budget of the parser was exceeded.
    Syntax,
    /// A field has the wrong type or an unknown name.
    Schema,
    /// A field's value breaks a validation rule.
    Invalid,
    /// A documented limit was exceeded.
    Limit,
    /// The input could not be read.
    Io,
}

/// One error: the resource (when known), the field path, and a message that states the value
/// and the rule it broke.
///
/// `Debug` prints the same text as `Display`, so that `?` in a `main` returning
/// `Result<(), meshroute::Error>` (or `Box<dyn std::error::Error>`) prints the message, not
/// the struct; `{:#?}` prints the fields.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    resource: Option<ResourceId>,
    source_name: Option<String>,
    path: String,
    message: String,
}

impl Error {
    pub(crate) fn new(
        kind: ErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Error {
        Error(Box::new(Inner {
            kind,
            resource: None,
            source_name: None,
            path: path.into(),
            message: message.into(),
        }))
    }

    pub(crate) fn with_resource(mut self, resource: &ResourceId) -> Error {
        self.0.resource = Some(resource.clone());
        self
    }

    pub(crate) fn with_source(mut self, source: &str) -> Error {
        if !source.is_empty() {
            self.0.source_name = Some(source.to_string());
        }
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The resource the error is about, when it is known.
    pub fn resource(&self) -> Option<&ResourceId> {
        self.0.resource.as_ref()
    }

    /// The input the error was found in (a file name, or the name given to
    /// [`Config::add_str`](crate::Config::add_str)), when it is known.
    pub fn source_name(&self) -> Option<&str> {
        self.0.source_name.as_deref()
    }

    /// The field path inside the resource, e.g. `spec.http[2].route[1].weight`
    /// (for syntax errors: the document and position).
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// The message, without resource and path.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        if let Some(s) = &e.source_name {
            write!(f, "{s}: ")?;
        }
        if let Some(r) = &e.resource {
            write!(f, "{r}: ")?;
        }
        if !e.path.is_empty() {
            write!(f, "{}: ", e.path)?;
        }
        f.write_str(&e.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return fmt::Display::fmt(self, f);
        }
        let e = &self.0;
        f.debug_struct("Error")
            .field("kind", &e.kind)
            .field("source_name", &e.source_name)
            .field("resource", &e.resource)
            .field("path", &e.path)
            .field("message", &e.message)
            .finish()
    }
}

impl std::error::Error for Error {}

/// A list of errors, reported together (one per line when displayed).
///
/// Loading returns one [`Error`] and compiling returns `Errors`; `From<Error>` lets one
/// function returning `Result<_, Errors>` do both with `?`. `Debug` prints the same text as
/// `Display`, every error on its own line, so `?` in `main` prints the messages; `{:#?}`
/// prints the fields of each error.
///
/// # Example
/// ```
/// use meshroute::{CompileOptions, Config, Errors, Table, compile};
///
/// fn load(yaml: &str) -> Result<Table, Errors> {
///     let config = Config::from_str(yaml, "routes.yaml")?; // Error, converted
///     Ok(compile(&config, &CompileOptions::strict())?.table)
/// }
///
/// let err = load("kind: [").unwrap_err();
/// assert_eq!(format!("{err:?}"), err.to_string());
/// assert!(err.to_string().starts_with("routes.yaml: "));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Errors(pub Vec<Error>);

impl From<Error> for Errors {
    fn from(e: Error) -> Errors {
        Errors(vec![e])
    }
}

impl fmt::Debug for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f.debug_list().entries(&self.0).finish();
        }
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Informational: e.g. a resource of a kind meshroute does not handle was skipped.
    Note,
    /// The configuration works but probably not as meant (a shadowed rule, an undefined subset).
    Warning,
}

/// A note or warning about configuration that compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// A stable code, e.g. `unreachable-rule`; Istio's analyzer code where one exists is in the message.
    pub code: &'static str,
    /// The resource, when the diagnostic is about one.
    pub resource: Option<ResourceId>,
    /// The field path.
    pub path: String,
    /// The message.
    pub message: String,
}

impl Diagnostic {
    /// A warning about resource `id` at `path`.
    pub(crate) fn warning(
        id: &ResourceId,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            code,
            resource: Some(id.clone()),
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Note => "note",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}[{}]: ", self.code)?;
        if let Some(r) = &self.resource {
            write!(f, "{r}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight_error() -> Error {
        Error::new(
            ErrorKind::Invalid,
            "spec.http[2].route[1].weight",
            "-5 is negative; weights are relative and must be 0 or more",
        )
        .with_resource(&ResourceId::new("VirtualService", "default", "reviews"))
        .with_source("vs.yaml")
    }

    #[test]
    fn debug_is_the_message() {
        let e = weight_error();
        let text = "vs.yaml: VirtualService default/reviews: spec.http[2].route[1].weight: \
                    -5 is negative; weights are relative and must be 0 or more";
        assert_eq!(format!("{e:?}"), text);
        assert_eq!(e.to_string(), text);
        let syntax = Error::new(ErrorKind::Syntax, "", "unexpected end of input");
        let errors = Errors(vec![e, syntax]);
        assert_eq!(
            format!("{errors:?}"),
            format!("{text}\nunexpected end of input")
        );
        assert_eq!(format!("{errors:?}"), errors.to_string());
    }

    #[test]
    fn alternate_debug_shows_the_fields() {
        let e = weight_error();
        let dump = format!("{e:#?}");
        assert!(dump.starts_with("Error {\n    kind: Invalid,\n"), "{dump}");
        assert!(
            dump.contains("path: \"spec.http[2].route[1].weight\""),
            "{dump}"
        );
        let list = format!("{:#?}", Errors::from(e));
        assert!(
            list.starts_with("[\n    Error {\n        kind: Invalid,"),
            "{list}"
        );
    }
}
